/*
 * import.h — loading registry rows from files: CSV (libcsv) or JSON Lines
 * (jansson), one row per card, streamed and written in batched
 * transactions through a reg_writer.
 *
 * Columns / keys (CSV header, any order, extra columns ignored):
 *   id_number, name, valid_from, valid_to, issuing_authority, lost,
 *   hukou_status, and optionally portrait: the path of an image of the
 *   person's face (JPEG/PNG/BMP/WebP), relative to the input file's folder
 *   (to the current directory for standard input) or absolute; empty (or
 *   JSON null) = none. The image is handed to opt->embed, which returns the
 *   face embedding; only that is stored (registry_writer_put_portrait), in
 *   the batch of the row's card, never the image or its path. A row whose
 *   portrait fails (unreadable, not an image, no face, no face engine) is
 *   rejected as a whole, like any invalid row: neither its card nor the
 *   template is stored (field "portrait", reasons below).
 * Each row is checked with the core (sm_id_parse, sm_name_normalise,
 * sm_period_check with the birth date from the ID number) and the rules for
 * the other fields; a row that fails is *rejected*: reported through
 * on_reject with its file, line, field and a stable reason code (never its
 * values: they are identities) and counted; it never stops the import.
 *
 * Guarantees: memory stays flat whatever the input size (a bounded number
 * of batches in flight); a batch commits atomically, and a person's
 * consecutive rows are never split across batches, so readers never see
 * half a person; re-importing the same input changes nothing (every row
 * counts as unchanged); killing the process at any point leaves the store
 * at the last committed batch, and running the import again completes it.
 *
 * Must never: pass a row's values (identities) to a callback or an error
 * message, or stop at a bad row.
 *
 * Threads: import_file runs a writer thread of its own for the duration of
 * the call and joins it before returning; the callbacks are called on the
 * calling thread only. It takes the registry's writer (one at a time).
 * Ownership: everything is borrowed for the call; nothing is kept.
 */
#ifndef SHIMING_REGISTRY_IMPORT_H
#define SHIMING_REGISTRY_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <shiming/shiming.h>

#include "registry/registry.h"

#define IMPORT_DEFAULT_BATCH 50000
#define IMPORT_MAX_BATCH 1000000

typedef enum {
    IMPORT_OK = 0,       /* the input was read to its end (rows may have been rejected) */
    IMPORT_ERR_IO,       /* cannot open or read the input */
    IMPORT_ERR_FORMAT,   /* not an import file (no/incomplete CSV header, field over 1 MiB) */
    IMPORT_ERR_REGISTRY, /* the store failed (locked, disk full, …): the batch in
                          * progress was rolled back; committed batches stay */
    IMPORT_ERR_NOMEM,
} import_status;

typedef enum {
    IMPORT_FORMAT_AUTO = 0, /* by extension (.csv, .jsonl/.ndjson), else sniffed */
    IMPORT_FORMAT_CSV,
    IMPORT_FORMAT_JSONL,
} import_format;

/* One rejected row. `field` is a column name or "row" (the row as a whole);
 * `reason` a stable code (docs/registry.md lists them): the core's codes for
 * id_number ("checksum"…), name ("characters"…) and the period
 * ("duration"…), and "column_count", "csv_syntax", "bad_json",
 * "not_an_object", "too_long", "missing", "wrong_type", "empty",
 * "not_boolean", "not_hukou_status", "encoding", "control"; for field
 * "portrait": "unreadable", "image_too_large", "unsupported_image",
 * "corrupt_image", "no_face", "models_missing", "face_failed", "too_long",
 * "encoding". All strings are valid during the callback only. */
typedef struct {
    const char *file;    /* the path as given ("-" for standard input) */
    uint64_t line;       /* 1-based line where the row starts */
    const char *field;
    const char *reason;
} import_reject;

typedef struct {
    uint64_t rows;          /* data rows read (header and blank lines excluded) */
    uint64_t inserted;      /* rows that added a person or a card */
    uint64_t updated;       /* rows that changed a stored person or card */
    uint64_t unchanged;     /* rows identical to what was stored */
    uint64_t rejected;
    uint64_t portraits;     /* accepted rows that carried a portrait (its template stored
                               or found unchanged) */
    uint64_t batches;       /* transactions committed */
    uint64_t bytes_read;
    uint64_t bytes_total;   /* the input's size when known (a regular file), else 0 */
    double seconds;
} import_stats;

typedef void (*import_reject_fn)(void *user, const import_reject *rj);
/* Progress so far: rows and bytes read, rows committed (inserted + updated +
 * unchanged) and the elapsed seconds. */
typedef void (*import_progress_fn)(void *user, const import_stats *so_far);

/* The face embedding of one portrait image (the person's largest face).
 * Called on the calling thread, one image at a time; `path` is the
 * resolved file path. Fill emb (L2-normalised) and return IMPORT_EMBED_OK,
 * or say why not. The callback must not keep the image or the embedding. */
typedef enum {
    IMPORT_EMBED_OK = 0,
    IMPORT_EMBED_UNREADABLE,   /* cannot open or read the file */
    IMPORT_EMBED_TOO_LARGE,    /* over the size or pixel limits */
    IMPORT_EMBED_UNSUPPORTED,  /* not JPEG/PNG/BMP/WebP */
    IMPORT_EMBED_CORRUPT,      /* truncated or undecodable */
    IMPORT_EMBED_NO_FACE,      /* no face found */
    IMPORT_EMBED_UNAVAILABLE,  /* the face models could not be loaded */
    IMPORT_EMBED_FAILED,       /* inference or memory failure */
} import_embed_status;
typedef import_embed_status (*import_embed_fn)(void *user, const char *path,
                                               float emb[REG_PORTRAIT_DIM]);

typedef struct {
    import_format format;
    size_t batch_rows;          /* rows per transaction; 0 = IMPORT_DEFAULT_BATCH */
    sm_date at;                 /* reference date for the checks; {0} = today */
    import_reject_fn on_reject; /* NULL: rejects are only counted */
    void *reject_user;
    import_progress_fn on_progress; /* NULL: none */
    void *progress_user;
    unsigned progress_ms;       /* interval between on_progress calls; 0 = 2000 */
    import_embed_fn embed;      /* NULL: rows with a portrait are rejected (models_missing) */
    void *embed_user;
} import_options;

/* Import one file ("-" = standard input) into `reg`. `stats` is zeroed and
 * filled (also on failure: what was done). On failure `err` says why. */
import_status import_file(registry *reg, const char *path, const import_options *opt,
                          import_stats *stats, char *err, size_t errlen);

/* The format a path implies by its extension (AUTO when none applies). */
import_format import_format_for_path(const char *path);

/* The reject file, CSV: a header line, then one line per reject:
 * file,line,field,reason. Fields are quoted as CSV requires. */
void import_reject_csv_header(FILE *f);
void import_reject_csv_write(FILE *f, const import_reject *rj);

#endif
