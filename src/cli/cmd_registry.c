/*
 * cmd_registry.c — `shiming registry import|stats|delete`: the operator's
 * tools for the authoritative records. Parses flags, opens the key and the
 * store, calls the registry / import modules and prints; nothing else.
 *
 * Exit status: 0 success (import: every row imported), 1 a negative answer
 * or a failure (import: some rows rejected or a file failed; delete: no
 * such person), 2 a usage error. Must never: print an ID number or a name
 * unmasked, decide anything about a row itself (import.c does), or exit().
 *
 * Portraits: import gives import.c an embedding callback that loads the
 * face engine (vision/face.h, [vision] models_dir or --models-dir) at the
 * first row that has a portrait, so that imports without one never load a
 * model. The image is read, decoded, analysed and wiped; only the
 * embedding goes back. Must never keep or print an image or an embedding.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <shiming/shiming.h>

#include "cli/commands.h"
#include "config/config.h"
#include "crypto/server_key.h"
#include "registry/import.h"
#include "registry/registry.h"
#include "vision/face.h"
#include "vision/image.h"
#include "vision/runtime.h"

#define PROG "shiming registry"

static void usage(FILE *f)
{
    fputs("usage: shiming registry import [OPTIONS] [--rejects FILE] [--batch N] FILE...\n"
          "       shiming registry stats   [OPTIONS] [--json]\n"
          "       shiming registry delete  [OPTIONS] ID_NUMBER\n"
          "\n"
          "The registry holds, per person, keyed hashes of the ID number and the name,\n"
          "the hukou status, and every card (validity period, issuing authority, lost).\n"
          "See docs/registry.md.\n"
          "\n"
          "import   load CSV (header id_number,name,valid_from,valid_to,issuing_authority,\n"
          "         lost,hukou_status; one row per card) or JSON Lines with the same keys;\n"
          "         '-' reads standard input. Re-importing changes nothing. Rows that fail\n"
          "         a check are rejected (file, line, field, reason) and counted.\n"
          "         An optional column (key) 'portrait' names an image of the person's face\n"
          "         (JPEG/PNG/BMP/WebP; relative to the input file's folder, or to the\n"
          "         current directory for stdin): only its face embedding is stored,\n"
          "         encrypted; a portrait that cannot be read or has no face rejects the row.\n"
          "           --rejects FILE   write rejected rows there as CSV (default: stderr)\n"
          "           --batch N        rows per transaction (default 50000)\n"
          "           --format F       csv or jsonl (default: by extension, else sniffed)\n"
          "           --at YYYY-MM-DD  reference date for the checks (default today)\n"
          "           --json           print the summary as JSON\n"
          "           --models-dir DIR the face models (default [vision] models_dir,\n"
          "                            deps/models); loaded only when a row has a portrait\n"
          "stats    counts, size on disk, schema version, key fingerprint (--json)\n"
          "delete   erase one person and all their cards (exit 1 if not found)\n"
          "\n"
          "OPTIONS (the [registry] section of the server's INI file, overridable):\n"
          "  --config FILE          read [registry] db, key_file, busy_timeout_ms from FILE\n"
          "  --db PATH              the registry's SQLite file (default var/registry.db)\n"
          "  --key-file PATH        the server key (default var/server.key; import creates it)\n"
          "  --busy-timeout-ms N    longest wait on a locked registry (default 1000)\n"
          "\n"
          "exit status: 0 success, 1 rows rejected / not found / failure, 2 usage error\n",
          f);
}

enum {
    OPT_CONFIG = 1000,
    OPT_DB,
    OPT_KEY_FILE,
    OPT_BUSY,
    OPT_REJECTS,
    OPT_BATCH,
    OPT_FORMAT,
    OPT_AT,
    OPT_JSON,
    OPT_MODELS_DIR,
    OPT_HELP,
};

typedef struct {
    config cfg;
    const char *rejects;
    size_t batch;
    import_format format;
    sm_date at;
    bool json;
} cli_opts;

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

/* Parse the options after the sub-command; returns 0 ok, 2 usage error,
 * -1 help printed. *first_arg is the index of the first operand. */
static int parse_opts(int argc, char **argv, const char *sub, cli_opts *o, int *first_arg)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"db", required_argument, NULL, OPT_DB},
        {"key-file", required_argument, NULL, OPT_KEY_FILE},
        {"busy-timeout-ms", required_argument, NULL, OPT_BUSY},
        {"rejects", required_argument, NULL, OPT_REJECTS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"at", required_argument, NULL, OPT_AT},
        {"json", no_argument, NULL, OPT_JSON},
        {"models-dir", required_argument, NULL, OPT_MODELS_DIR},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    bool is_import = strcmp(sub, "import") == 0, is_stats = strcmp(sub, "stats") == 0;
    const char *config_file = NULL, *db = NULL, *key_file = NULL, *busy = NULL;
    const char *models_dir = NULL;
    memset(o, 0, sizeof *o);
    config_defaults(&o->cfg);

    optind = 0; /* GNU: a full re-initialisation */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        unsigned long long v;
        switch (c) {
        case OPT_CONFIG: config_file = optarg; break;
        case OPT_DB: db = optarg; break;
        case OPT_KEY_FILE: key_file = optarg; break;
        case OPT_BUSY: busy = optarg; break;
        case OPT_HELP:
        case 'h':
            usage(stdout);
            return -1;
        case OPT_REJECTS:
            if (!is_import)
                goto not_here;
            o->rejects = optarg;
            break;
        case OPT_BATCH:
            if (!is_import)
                goto not_here;
            if (!parse_uint(optarg, IMPORT_MAX_BATCH, &v) || v == 0) {
                fprintf(stderr, PROG " %s: --batch: '%s' is not a number of rows (1..%d)\n", sub,
                        optarg, IMPORT_MAX_BATCH);
                return 2;
            }
            o->batch = (size_t)v;
            break;
        case OPT_FORMAT:
            if (!is_import)
                goto not_here;
            if (strcmp(optarg, "csv") == 0)
                o->format = IMPORT_FORMAT_CSV;
            else if (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "ndjson") == 0)
                o->format = IMPORT_FORMAT_JSONL;
            else {
                fprintf(stderr, PROG " %s: --format: '%s' is not csv or jsonl\n", sub, optarg);
                return 2;
            }
            break;
        case OPT_AT:
            if (!is_import)
                goto not_here;
            if (!sm_date_parse_iso(optarg, strlen(optarg), &o->at)) {
                fprintf(stderr, PROG " %s: --at: '%s' is not a date YYYY-MM-DD\n", sub, optarg);
                return 2;
            }
            break;
        case OPT_JSON:
            if (!is_import && !is_stats)
                goto not_here;
            o->json = true;
            break;
        case OPT_MODELS_DIR:
            if (!is_import)
                goto not_here;
            models_dir = optarg;
            break;
        default:
            if (optopt >= OPT_CONFIG)
                fprintf(stderr, PROG " %s: option '%s' needs a value\n", sub, argv[optind - 1]);
            else
                fprintf(stderr, PROG " %s: unknown option '%s'\n", sub, argv[optind - 1]);
            fprintf(stderr, "Try 'shiming registry --help'.\n");
            return 2;
        }
        continue;
    not_here:
        fprintf(stderr, PROG " %s: option '%s' does not apply to %s\n", sub, argv[optind - 1], sub);
        return 2;
    }
    char err[1536];
    if (config_file != NULL && !config_load_file(&o->cfg, config_file, err, sizeof err)) {
        fprintf(stderr, PROG " %s: %s\n", sub, err);
        return 2;
    }
    if (db != NULL)
        snprintf(o->cfg.db, sizeof o->cfg.db, "%s", db);
    if (key_file != NULL)
        snprintf(o->cfg.key_file, sizeof o->cfg.key_file, "%s", key_file);
    if (models_dir != NULL)
        snprintf(o->cfg.vision_models_dir, sizeof o->cfg.vision_models_dir, "%s", models_dir);
    if (busy != NULL) {
        unsigned long long v;
        if (!parse_uint(busy, 60000, &v) || v == 0) {
            fprintf(stderr, PROG " %s: --busy-timeout-ms: '%s' is not 1..60000\n", sub, busy);
            return 2;
        }
        o->cfg.busy_timeout_ms = (unsigned)v;
    }
    if (o->cfg.db[0] == '\0' || o->cfg.key_file[0] == '\0') {
        fprintf(stderr, PROG " %s: the registry's db and key_file must be set\n", sub);
        return 2;
    }
    *first_arg = optind;
    return 0;
}

/* Load (or, for import, create) the key and open the store. 0 ok, 1 failure. */
static int open_store(const cli_opts *o, const char *sub, bool create, registry **out)
{
    sm_key key;
    bool created = false;
    char err[1536];
    sm_key_status ks = sm_key_load(o->cfg.key_file, create, &key, &created, err, sizeof err);
    if (ks != SM_KEY_OK) {
        fprintf(stderr, PROG " %s: %s\n", sub, err);
        return 1;
    }
    if (created)
        fprintf(stderr,
                PROG " %s: created a new server key in %s (mode 0600). Back it up apart from "
                "the database: without it the registry cannot be used (docs/registry.md).\n",
                sub, o->cfg.key_file);
    reg_options ro = {
        .path = o->cfg.db,
        .key = &key,
        .create = create,
        .read_only = false,
        .readers = 1,
        .busy_timeout_ms = o->cfg.busy_timeout_ms,
    };
    reg_status st = registry_open(&ro, out, err, sizeof err);
    sm_key_clear(&key);
    if (st != REG_OK) {
        fprintf(stderr, PROG " %s: %s\n", sub, err[0] ? err : reg_status_message(st));
        return 1;
    }
    return 0;
}

/* --------------------------------------------------------------- import */

typedef struct {
    FILE *rejects;     /* CSV reject file, or NULL: stderr lines */
    bool tty;
    const char *file;
    bool progress_shown;
} import_ctx;

static bool needs_quoting(const char *s)
{
    return strpbrk(s, ",\"\r\n") != NULL;
}

static void on_reject(void *user, const import_reject *rj)
{
    import_ctx *c = user;
    if (c->rejects != NULL) {
        if (needs_quoting(rj->file)) {
            import_reject_csv_write(c->rejects, rj);
        } else {
            fprintf(c->rejects, "%s,%" PRIu64 ",%s,%s\n", rj->file, rj->line, rj->field,
                    rj->reason);
        }
        return;
    }
    if (c->tty && c->progress_shown)
        fputs("\r\033[K", stderr);
    fprintf(stderr, PROG " import: rejected %s:%" PRIu64 ": %s: %s\n", rj->file, rj->line,
            rj->field, rj->reason);
}

static void format_eta(double s, char *out, size_t cap)
{
    if (s < 0 || s > 1e7) {
        snprintf(out, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, cap, "%lu:%02lu", t / 60, t % 60);
}

static void on_progress(void *user, const import_stats *s)
{
    import_ctx *c = user;
    double rate = s->seconds > 0 ? (double)s->rows / s->seconds : 0;
    double frac = s->bytes_total ? (double)s->bytes_read / (double)s->bytes_total : -1;
    if (frac > 1)
        frac = 1;
    char eta[32] = "?";
    if (frac > 0 && s->seconds > 0)
        format_eta(s->seconds * (1 - frac) / frac, eta, sizeof eta);
    if (c->tty) {
        char bar[31];
        int fill = frac >= 0 ? (int)(frac * 30) : 0;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        if (frac >= 0)
            fprintf(stderr, "\r%s [%s] %3d%%  %" PRIu64 " rows  %.0f rows/s  ETA %s\033[K",
                    c->file, bar, (int)(frac * 100), s->rows, rate, eta);
        else
            fprintf(stderr, "\r%s  %" PRIu64 " rows  %.0f rows/s\033[K", c->file, s->rows, rate);
        c->progress_shown = true;
    } else if (frac >= 0) {
        fprintf(stderr,
                PROG " import: %s: %" PRIu64 " rows, %d%% read, %.0f rows/s, ETA %s\n", c->file,
                s->rows, (int)(frac * 100), rate, eta);
    } else {
        fprintf(stderr, PROG " import: %s: %" PRIu64 " rows, %.0f rows/s\n", c->file, s->rows,
                rate);
    }
    fflush(stderr);
}

static void add_stats(import_stats *t, const import_stats *s)
{
    t->rows += s->rows;
    t->inserted += s->inserted;
    t->updated += s->updated;
    t->unchanged += s->unchanged;
    t->rejected += s->rejected;
    t->portraits += s->portraits;
    t->batches += s->batches;
    t->bytes_read += s->bytes_read;
    t->bytes_total += s->bytes_total;
    t->seconds += s->seconds;
}

static json_t *stats_json(const char *file, const import_stats *s, const char *error)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", file ? json_string(file) : json_null());
    json_object_set_new(o, "rows", json_integer((json_int_t)s->rows));
    json_object_set_new(o, "inserted", json_integer((json_int_t)s->inserted));
    json_object_set_new(o, "updated", json_integer((json_int_t)s->updated));
    json_object_set_new(o, "unchanged", json_integer((json_int_t)s->unchanged));
    json_object_set_new(o, "rejected", json_integer((json_int_t)s->rejected));
    json_object_set_new(o, "portraits", json_integer((json_int_t)s->portraits));
    json_object_set_new(o, "batches", json_integer((json_int_t)s->batches));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes_read));
    json_object_set_new(o, "seconds", json_real(s->seconds));
    json_object_set_new(o, "rows_per_s",
                        json_real(s->seconds > 0 ? (double)s->rows / s->seconds : 0));
    json_object_set_new(o, "error", error ? json_string(error) : json_null());
    return o;
}

static void print_summary(const char *label, const import_stats *s)
{
    printf("%s: %" PRIu64 " rows: %" PRIu64 " inserted, %" PRIu64 " updated, %" PRIu64
           " unchanged, %" PRIu64 " rejected; %" PRIu64 " batches, %.2f s, %.0f rows/s\n",
           label, s->rows, s->inserted, s->updated, s->unchanged, s->rejected, s->batches,
           s->seconds, s->seconds > 0 ? (double)s->rows / s->seconds : 0.0);
    if (s->portraits > 0)
        printf("%s: %" PRIu64 " rows with a portrait (templates stored or unchanged)\n", label,
               s->portraits);
}

/* The face engine of an import, loaded at the first portrait. */
typedef struct {
    const config *cfg;
    bool tried;
    vx_runtime *rt;
    vx_face *face;
} face_ctx;

#define PORTRAIT_MAX_BYTES (20u << 20)

/* The whole file into a new buffer (NULL: unreadable; *too_large set when
 * over the limit). */
static unsigned char *read_image_file(const char *path, size_t *len, bool *too_large)
{
    *too_large = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat sb;
    unsigned char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    if ((uint64_t)sb.st_size > PORTRAIT_MAX_BYTES) {
        *too_large = true;
        goto out;
    }
    size_t cap = (size_t)sb.st_size, n = 0;
    buf = malloc(cap + 1);
    if (buf == NULL)
        goto out;
    while (n < cap) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    if (n != cap) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = n;
out:
    close(fd);
    return buf;
}

static import_embed_status embed_portrait(void *user, const char *path,
                                          float emb[REG_PORTRAIT_DIM])
{
    face_ctx *fc = user;
    if (!fc->tried) {
        fc->tried = true;
        char err[1024] = "";
        vx_runtime_options ro = {fc->cfg->vision_intra_threads};
        if (vx_image_init(err, sizeof err) && (fc->rt = vx_runtime_open(&ro, err, sizeof err)))
            fc->face = vx_face_open_dir(fc->rt, fc->cfg->vision_models_dir, err, sizeof err);
        if (fc->face == NULL)
            fprintf(stderr,
                    PROG " import: the face models cannot be loaded from '%s': %s; rows with a "
                    "portrait are rejected (models_missing)\n",
                    fc->cfg->vision_models_dir, err[0] ? err : "unknown error");
    }
    if (fc->face == NULL)
        return IMPORT_EMBED_UNAVAILABLE;
    size_t len = 0;
    bool too_large = false;
    unsigned char *data = read_image_file(path, &len, &too_large);
    if (data == NULL)
        return too_large ? IMPORT_EMBED_TOO_LARGE : IMPORT_EMBED_UNREADABLE;
    vx_image img = {0};
    vx_image_limits lim = {.max_bytes = PORTRAIT_MAX_BYTES};
    vx_img_status is = vx_image_decode(data, len, &lim, &img);
    OPENSSL_cleanse(data, len);
    free(data);
    switch (is) {
    case VX_IMG_OK: break;
    case VX_IMG_TOO_LARGE: return IMPORT_EMBED_TOO_LARGE;
    case VX_IMG_UNSUPPORTED: return IMPORT_EMBED_UNSUPPORTED;
    case VX_IMG_TOO_SMALL: return IMPORT_EMBED_NO_FACE; /* under 15 px: no face in it */
    case VX_IMG_NOMEM: return IMPORT_EMBED_FAILED;
    case VX_IMG_CORRUPT:
    default: return IMPORT_EMBED_CORRUPT;
    }
    vx_face_result *res = calloc(1, sizeof *res);
    import_embed_status st = IMPORT_EMBED_FAILED;
    char err[512];
    if (res != NULL && vx_face_analyse(fc->face, &img, NULL, VX_FACE_EMBED, res, err, sizeof err)) {
        if (!res->found)
            st = IMPORT_EMBED_NO_FACE;
        else if (res->embedded) {
            memcpy(emb, res->embedding, sizeof(float) * REG_PORTRAIT_DIM);
            st = IMPORT_EMBED_OK;
        }
    }
    if (res != NULL) {
        vx_face_result_clear(res);
        OPENSSL_cleanse(res, sizeof *res);
        free(res);
    }
    if (img.px != NULL)
        OPENSSL_cleanse(img.px, (size_t)img.width * (size_t)img.height * 3);
    vx_image_free(&img);
    return st;
}

static void face_ctx_close(face_ctx *fc)
{
    vx_face_close(fc->face);
    if (fc->rt != NULL)
        vx_runtime_close(fc->rt);
}

static int do_import(cli_opts *o, int argc, char **argv, int first)
{
    if (first >= argc) {
        fprintf(stderr, PROG " import: no input file (give FILE... or '-' for stdin)\n");
        return 2;
    }
    int stdin_uses = 0;
    for (int i = first; i < argc; i++)
        stdin_uses += strcmp(argv[i], "-") == 0;
    if (stdin_uses > 1) {
        fprintf(stderr, PROG " import: '-' (stdin) may be given once\n");
        return 2;
    }
    import_ctx ctx = {0};
    ctx.tty = isatty(STDERR_FILENO) == 1;
    if (o->rejects != NULL) {
        ctx.rejects = fopen(o->rejects, "w");
        if (ctx.rejects == NULL) {
            fprintf(stderr, PROG " import: cannot write rejects file '%s': %s\n", o->rejects,
                    strerror(errno));
            return 1;
        }
        import_reject_csv_header(ctx.rejects);
    }
    face_ctx fctx = {.cfg = &o->cfg};
    registry *reg = NULL;
    if (open_store(o, "import", true, &reg) != 0) {
        if (ctx.rejects)
            fclose(ctx.rejects);
        return 1;
    }

    import_options io = {
        .format = o->format,
        .batch_rows = o->batch,
        .at = o->at,
        .on_reject = on_reject,
        .reject_user = &ctx,
        .on_progress = on_progress,
        .progress_user = &ctx,
        .progress_ms = ctx.tty ? 200 : 2000,
        .embed = embed_portrait,
        .embed_user = &fctx,
    };
    import_stats total = {0};
    int failures = 0, nfiles = 0;
    json_t *files = o->json ? json_array() : NULL;
    for (int i = first; i < argc; i++) {
        import_stats s;
        char err[1536];
        ctx.file = argv[i];
        ctx.progress_shown = false;
        import_status st = import_file(reg, argv[i], &io, &s, err, sizeof err);
        if (ctx.tty && ctx.progress_shown)
            fputs("\r\033[K", stderr);
        nfiles++;
        add_stats(&total, &s);
        if (st != IMPORT_OK) {
            failures++;
            fprintf(stderr, PROG " import: %s\n", err);
        }
        if (files != NULL)
            json_array_append_new(files, stats_json(argv[i], &s, st != IMPORT_OK ? err : NULL));
        else
            print_summary(argv[i], &s);
        if (st == IMPORT_ERR_REGISTRY || st == IMPORT_ERR_NOMEM)
            break; /* the store itself failed: the other files would too */
    }
    if (files != NULL) {
        json_t *out = stats_json(NULL, &total, NULL);
        json_object_del(out, "file");
        json_object_del(out, "error");
        json_object_set_new(out, "failed_files", json_integer(failures));
        json_object_set_new(out, "files", files);
        char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL)
            puts(text);
        free(text);
        json_decref(out);
    } else if (nfiles > 1) {
        print_summary("total", &total);
    }
    if (ctx.rejects != NULL) {
        if (fclose(ctx.rejects) != 0) {
            fprintf(stderr, PROG " import: cannot write rejects file '%s'\n", o->rejects);
            failures++;
        }
        if (total.rejected > 0)
            fprintf(stderr, PROG " import: %" PRIu64 " rejected rows listed in %s\n",
                    total.rejected, o->rejects);
    }
    registry_close(reg);
    face_ctx_close(&fctx);
    return (failures == 0 && total.rejected == 0) ? 0 : 1;
}

/* ---------------------------------------------------------------- stats */

static int do_stats(cli_opts *o, int argc, int first)
{
    if (first < argc) {
        fprintf(stderr, PROG " stats: takes no operands\n");
        return 2;
    }
    registry *reg = NULL;
    if (open_store(o, "stats", false, &reg) != 0)
        return 1;
    reg_stats s;
    reg_status st = registry_stats(reg, &s);
    registry_close(reg);
    if (st != REG_OK) {
        fprintf(stderr, PROG " stats: %s\n", reg_status_message(st));
        return 1;
    }
    double per = s.persons ? (double)s.store_bytes / (double)s.persons : 0;
    if (o->json) {
        json_t *j = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:f, s:I}",
                              "db", o->cfg.db, "schema_version", s.schema_version,
                              "key_fingerprint", s.key_fingerprint, "persons",
                              (json_int_t)s.persons, "cards", (json_int_t)s.cards, "lost_cards",
                              (json_int_t)s.lost_cards, "hukou", "valid",
                              (json_int_t)s.hukou[REG_HUKOU_VALID], "moved_out",
                              (json_int_t)s.hukou[REG_HUKOU_MOVED_OUT], "invalid",
                              (json_int_t)s.hukou[REG_HUKOU_INVALID], "store_bytes",
                              (json_int_t)s.store_bytes, "bytes_per_person", per, "portraits",
                              (json_int_t)s.portraits);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text == NULL) {
            json_decref(j);
            fprintf(stderr, PROG " stats: out of memory\n");
            return 1;
        }
        puts(text);
        free(text);
        json_decref(j);
        return 0;
    }
    printf("registry:        %s\n", o->cfg.db);
    printf("schema version:  %d\n", s.schema_version);
    printf("key fingerprint: %s\n", s.key_fingerprint);
    printf("persons:         %" PRIu64 "\n", s.persons);
    printf("  hukou valid:     %" PRIu64 "\n", s.hukou[REG_HUKOU_VALID]);
    printf("  hukou moved out: %" PRIu64 "\n", s.hukou[REG_HUKOU_MOVED_OUT]);
    printf("  hukou invalid:   %" PRIu64 "\n", s.hukou[REG_HUKOU_INVALID]);
    printf("cards:           %" PRIu64 "\n", s.cards);
    printf("  lost:            %" PRIu64 "\n", s.lost_cards);
    printf("portraits:       %" PRIu64 "\n", s.portraits);
    printf("bytes on disk:   %" PRIu64 "\n", s.store_bytes);
    printf("bytes/person:    %.1f\n", per);
    return 0;
}

/* --------------------------------------------------------------- delete */

static int do_delete(cli_opts *o, int argc, char **argv, int first)
{
    if (argc - first != 1) {
        fprintf(stderr, PROG " delete: give exactly one ID number\n");
        return 2;
    }
    const char *arg = argv[first];
    sm_id_info info;
    sm_id_status ids = sm_id_parse(arg, strlen(arg), NULL, &info);
    char masked[32];
    if (ids != SM_ID_OK) {
        sm_mask_id(arg, strlen(arg), masked, sizeof masked);
        fprintf(stderr, PROG " delete: %s is not a valid ID number (%s)\n", masked,
                sm_id_status_code(ids));
        return 2;
    }
    sm_mask_id(info.id18, 18, masked, sizeof masked);
    registry *reg = NULL;
    if (open_store(o, "delete", false, &reg) != 0)
        return 1;
    reg_status st = registry_delete(reg, info.id18);
    registry_close(reg);
    memset(&info, 0, sizeof info);
    switch (st) {
    case REG_OK:
        printf("deleted %s and all their cards\n", masked);
        return 0;
    case REG_NOT_FOUND:
        fprintf(stderr, PROG " delete: %s is not in the registry\n", masked);
        return 1;
    default:
        fprintf(stderr, PROG " delete: %s\n", reg_status_message(st));
        return 1;
    }
}

int cmd_registry(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "import") != 0 && strcmp(sub, "stats") != 0 && strcmp(sub, "delete") != 0) {
        fprintf(stderr, PROG ": unknown sub-command '%s' (import, stats, delete)\n", sub);
        return 2;
    }
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc - 1, argv + 1, sub, &o, &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    first += 1; /* index into argv */
    if (!strcmp(sub, "import"))
        return do_import(&o, argc, argv, first);
    if (!strcmp(sub, "stats"))
        return do_stats(&o, argc, first);
    return do_delete(&o, argc, argv, first);
}
