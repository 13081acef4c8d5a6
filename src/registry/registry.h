/*
 * registry.h — the authoritative records: which name belongs to which ID
 * number, the cards each person holds, and their household-registration
 * (hukou) status. Every verification consults it through this interface.
 *
 * Backends: SQLite in WAL mode (the embedded default, registry_sqlite.c);
 * PostgreSQL later, behind the same functions and the same tests. Callers
 * never see SQL or a backend type.
 *
 * Privacy: ID numbers and names are stored only as keyed hashes (HMAC-SHA256
 * with sub-keys of the server key, see crypto/server_key.h); the name's hash
 * is bound to the ID number, so equal names of different people hash
 * differently. A dump of the store reveals no ID number and no name. The
 * plaintext the caller passes in is never stored, logged or kept beyond the
 * call.
 *
 * Concurrency: one `registry` is shared by every thread. Lookups may run
 * from any number of threads at once (each borrows a read connection from a
 * pool); each lookup reads one consistent snapshot, so a reader never sees a
 * half-written batch. Writes go through one reg_writer at a time per
 * process; SQLite serialises writers across processes.
 *
 * Errors: a store that is missing, locked beyond the busy timeout, corrupt or
 * otherwise unreadable gives REG_UNAVAILABLE after at most busy_timeout_ms,
 * never a hang.
 */
#ifndef SHIMING_REGISTRY_H
#define SHIMING_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shiming/shiming.h>

#include "crypto/server_key.h"

typedef enum {
    REG_OK = 0,
    REG_NOT_FOUND,     /* no such person (lookup, delete) */
    REG_UNAVAILABLE,   /* store unreachable, locked past the timeout, or I/O error */
    REG_ERR_KEY,       /* the store was created with another server key */
    REG_ERR_SCHEMA,    /* the store's schema is newer than this program knows */
    REG_ERR_INVALID,   /* a row the writer refuses (bad hukou status, …) */
    REG_ERR_NOMEM,
} reg_status;

const char *reg_status_message(reg_status st);

/* Household-registration status, as the vendors report it. */
typedef enum {
    REG_HUKOU_VALID = 0,      /* 正常 */
    REG_HUKOU_MOVED_OUT = 1,  /* moved out, not yet registered elsewhere */
    REG_HUKOU_INVALID = 2,    /* deceased, missing, emigrated, … */
} reg_hukou;

#define REG_AUTHORITY_MAX 96   /* bytes of UTF-8, NUL included */

typedef struct {
    sm_date valid_from;
    sm_date valid_to;          /* {0} when long_term */
    bool long_term;
    bool lost;                 /* reported lost (a lost card stays on record) */
    char authority[REG_AUTHORITY_MAX]; /* issuing authority, e.g. 北京市公安局朝阳分局 */
} reg_card;

#define REG_MAX_CARDS 16       /* a person's cards kept per lookup; the newest first */

typedef struct {
    bool name_matches;         /* the given name is the registered one */
    reg_hukou hukou;
    size_t n_cards;
    reg_card cards[REG_MAX_CARDS]; /* newest first: latest valid_from */
} reg_person;

typedef struct {
    const char *path;          /* SQLite file (created with `create`) */
    const sm_key *key;         /* server key (borrowed during open only) */
    bool create;               /* create the store if missing */
    bool read_only;            /* open for lookups only */
    unsigned readers;          /* read-connection pool size (0 = 4) */
    unsigned busy_timeout_ms;  /* wait at most this long on locks (0 = 1000) */
} reg_options;

typedef struct registry registry;

/* Open (and migrate to the current schema) a store. On failure *out is NULL
 * and err says why. A store created with another key is REG_ERR_KEY. */
reg_status registry_open(const reg_options *opt, registry **out, char *err, size_t errlen);
void registry_close(registry *r);

/* The current schema version this program writes, and the store's. */
int registry_schema_version(void);
int registry_store_version(const registry *r);

/* Look up a person by normalised 18-character ID number and tell whether
 * `name` (normalised, see sm_name_normalise) is theirs. `name` may be NULL
 * to skip the name check (name_matches is then false). REG_NOT_FOUND when
 * the number is not in the registry. Thread-safe. */
reg_status registry_lookup(registry *r, const char id18[18], const char *name, size_t name_len,
                           reg_person *out);

/* ------------------------------------------------------------- writing */

/* One card row of an import: the person's current name and hukou status
 * (later rows for the same person overwrite them) plus one card. */
typedef struct {
    char id18[19];
    const char *name;
    size_t name_len;
    reg_hukou hukou;
    reg_card card;
} reg_row;

typedef enum {
    REG_PUT_INSERTED = 0,      /* a new person or a new card */
    REG_PUT_UPDATED,           /* something about the person or card changed */
    REG_PUT_UNCHANGED,         /* identical to what was stored */
} reg_put_result;

typedef struct reg_writer reg_writer;

/* Start writing: takes the store's write lock for the first batch. Only one
 * writer per registry at a time. */
reg_status registry_writer_begin(registry *r, reg_writer **out);

/* Upsert a row within the current batch. Idempotent: putting the same row
 * twice changes nothing the second time (REG_PUT_UNCHANGED). */
reg_status registry_writer_put(reg_writer *w, const reg_row *row, reg_put_result *result);

/* Commit the current batch atomically and start the next one. Readers see a
 * batch whole or not at all. */
reg_status registry_writer_commit(reg_writer *w);

/* Commit what is pending (if `commit`) or roll it back, and free the writer. */
reg_status registry_writer_end(reg_writer *w, bool commit);

/* The keyed hashes the store is keyed on (HMAC-SHA256 with the sub-keys
 * "registry/id-number" and "registry/name"): id = HMAC(id18); name =
 * HMAC(id18 || 0x00 || normalised name). Thread-safe; the plaintext is not
 * kept. For callers that hash on another thread than the writer's (the
 * import) and for tests. */
reg_status registry_hash_id(const registry *r, const char id18[18], uint8_t out[SM_HASH_BYTES]);
reg_status registry_hash_name(const registry *r, const char id18[18], const char *name,
                              size_t name_len, uint8_t out[SM_HASH_BYTES]);

/* A row whose identity is already hashed (registry_hash_id/_name): carries
 * no ID number and no name. */
typedef struct {
    uint8_t id_hash[SM_HASH_BYTES];
    uint8_t name_hash[SM_HASH_BYTES];
    reg_hukou hukou;
    reg_card card;
} reg_hashed_row;

/* registry_writer_put for a pre-hashed row: the same upsert and result. */
reg_status registry_writer_put_hashed(reg_writer *w, const reg_hashed_row *row,
                                      reg_put_result *result);

/* Erase one person and all their cards (secure delete: freed pages are
 * zeroed). REG_NOT_FOUND if absent. */
reg_status registry_delete(registry *r, const char id18[18]);

/* ----------------------------------------------------------- portraits */

/*
 * Portrait templates: at most one face embedding per person (what the
 * registry compares a selfie with; vision/face.h makes it). Stored apart
 * from the identity rows (a table of its own, keyed by the person's id
 * hash), encrypted with AES-256-GCM under the server sub-key
 * "registry/portrait" with the id hash as associated data, so that a
 * template moved to another person does not decrypt. Never an image: the
 * import computes the embedding and drops the picture. Erased with the
 * person (registry_delete).
 */
#define REG_PORTRAIT_DIM 512

/* Within the writer's batch: set (or replace) the person's template. The
 * person need not have cards yet in this batch. Idempotent in effect (the
 * same embedding again: REG_PUT_UNCHANGED). */
reg_status registry_writer_put_portrait(reg_writer *w, const uint8_t id_hash[SM_HASH_BYTES],
                                        const float emb[REG_PORTRAIT_DIM],
                                        reg_put_result *result);

/* The person's template into emb. REG_NOT_FOUND when the person has none
 * (or is absent: *has_person tells which; may be NULL). Thread-safe. */
reg_status registry_portrait_get(registry *r, const char id18[18], float emb[REG_PORTRAIT_DIM],
                                 bool *has_person);

typedef struct {
    uint64_t persons;
    uint64_t cards;
    uint64_t lost_cards;
    uint64_t portraits;        /* persons with a portrait template */
    uint64_t hukou[3];         /* persons by reg_hukou */
    uint64_t store_bytes;      /* file size, WAL included */
    int schema_version;
    char key_fingerprint[17];
} reg_stats;

reg_status registry_stats(registry *r, reg_stats *out);

#endif
