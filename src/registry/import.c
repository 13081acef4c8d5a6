/*
 * import.c — streaming import of registry rows (see import.h): reads the
 * input in fixed-size chunks, parses CSV with libcsv or JSON Lines with
 * jansson, checks each row with the core, hashes the identity, and hands
 * batches of hashed rows to a writer thread that sorts each batch by its ID
 * hash (b-tree locality) and upserts it in one transaction.
 *
 * Pipeline: the calling thread parses, checks and hashes batch N+1 while
 * the writer thread stores batch N; at most three batches exist at once, so
 * memory does not grow with the input.
 *
 * Portraits (optional column): the calling thread resolves the path and
 * asks opt->embed for the embedding; the batch carries it next to its row
 * (at most MAX_BATCH_PORTRAITS per batch, so memory stays flat however
 * many rows have one) and the writer stores it after the row's card, in
 * the same transaction. Rows without a portrait cost one branch.
 *
 * Must never: report a rejected row's values (only file, line, field and a
 * reason code: the values are identities); drop a row silently (every row
 * is stored or rejected, and counted); split a person's consecutive rows
 * across two transactions (unless one person has more than MAX_GROUP
 * consecutive rows); keep plaintext identities after the call (buffers that
 * held them are wiped).
 */
#include "registry/import.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/errbuf.h"

enum { F_ID, F_NAME, F_FROM, F_TO, F_AUTH, F_LOST, F_HUKOU, F_PORTRAIT, N_FIELDS };
#define N_REQUIRED F_PORTRAIT /* the fields before it are required */
static const char *const field_names[N_FIELDS] = {
    "id_number", "name", "valid_from", "valid_to", "issuing_authority", "lost", "hukou_status",
    "portrait",
};

#define READ_CHUNK (1u << 20)      /* input buffer; also the longest JSON line read whole */
#define JSON_LINE_MAX (64u << 10)  /* a longer JSON line is rejected: too_long */
#define FIELD_MAX 1024             /* a longer CSV field is rejected: too_long */
#define CSV_ENTRY_MAX (1u << 20)   /* libcsv's field buffer is never grown past this */
#define MAX_COLUMNS 64             /* columns of a CSV header */
#define MAX_GROUP 4096             /* consecutive rows of one person kept in one batch */
#define MAX_BATCH_PORTRAITS 1024   /* templates per batch (2 KiB each) */

/* ---------------------------------------------------------------- input */

typedef struct {
    int fd;
    bool own_fd;
    char *buf;
    size_t start, end;
    bool eof;
    int error; /* errno of a failed read, 0 if none */
    uint64_t bytes_read;
} input;

static bool input_fill(input *in)
{
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    while (!in->eof && in->end < READ_CHUNK) {
        ssize_t n = read(in->fd, in->buf + in->end, READ_CHUNK - in->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            in->error = errno;
            in->eof = true;
            return false;
        }
        if (n == 0) {
            in->eof = true;
            break;
        }
        in->end += (size_t)n;
        in->bytes_read += (uint64_t)n;
        break; /* one read per call: progress stays current on pipes */
    }
    return true;
}

/* The next piece of input: a whole line with its '\n', the last line
 * without one, or (for a line longer than the buffer) a part of a line,
 * with *whole = false. The piece is valid until the next call. */
static bool input_next(input *in, const char **seg, size_t *len, bool *whole)
{
    for (;;) {
        if (in->start < in->end) {
            char *p = memchr(in->buf + in->start, '\n', in->end - in->start);
            if (p != NULL) {
                *seg = in->buf + in->start;
                *len = (size_t)(p + 1 - *seg);
                in->start += *len;
                *whole = true;
                return true;
            }
            if (in->eof || (in->start == 0 && in->end == READ_CHUNK)) {
                *seg = in->buf + in->start;
                *len = in->end - in->start;
                *whole = in->eof;
                in->start = in->end;
                return true;
            }
        } else if (in->eof) {
            return false;
        }
        if (!input_fill(in))
            return false;
    }
}

/* -------------------------------------------------------------- pipeline */

typedef struct {
    uint64_t key; /* first 8 bytes of the ID hash */
    uint32_t idx; /* position in the batch: keeps a person's rows in order */
} sort_item;

typedef struct {
    uint8_t id_hash[SM_HASH_BYTES];
    float emb[REG_PORTRAIT_DIM];
} portrait_item;

typedef struct {
    reg_hashed_row *rows;
    size_t n, cap;
    /* Portraits: pt_of[i] is row i's index in pts, or -1; pt_of is NULL
     * until the batch's first portrait (then valid for rows 0..n-1). */
    int32_t *pt_of;
    size_t pt_of_cap;
    int32_t *pt_scratch; /* scratch of batch_sort, pt_of_cap entries */
    portrait_item *pts;
    size_t n_pts;
    sort_item *order; /* scratch of batch_sort */
    reg_hashed_row *scratch; /* scratch of batch_sort, cap rows */
    size_t order_cap;
} batch;

typedef struct {
    reg_writer *w;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch *ready;  /* handed over, not yet taken */
    batch *spare;  /* returned for reuse */
    bool closing;
    reg_status error;
    uint64_t inserted, updated, unchanged, portraits, batches;
} pipeline;

static void batch_free(batch *b)
{
    if (b == NULL)
        return;
    if (b->rows != NULL)
        OPENSSL_cleanse(b->rows, b->cap * sizeof *b->rows);
    free(b->rows);
    free(b->pt_of);
    free(b->pt_scratch);
    if (b->pts != NULL)
        OPENSSL_cleanse(b->pts, MAX_BATCH_PORTRAITS * sizeof *b->pts);
    free(b->pts);
    free(b->order);
    if (b->scratch != NULL)
        OPENSSL_cleanse(b->scratch, b->order_cap * sizeof *b->scratch);
    free(b->scratch);
    free(b);
}

static int sort_cmp(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Order the batch's rows by ID hash (the writer then walks the persons
 * index in order) keeping each person's rows in file order. Runs on the
 * parsing thread, which has time to spare while the writer writes; the
 * rows are moved, so that the writer reads them sequentially. */
static bool batch_sort(batch *b)
{
    if (b->order_cap < b->cap) {
        sort_item *order = malloc(b->cap * sizeof *order);
        reg_hashed_row *scratch = malloc(b->cap * sizeof *scratch);
        if (order == NULL || scratch == NULL) {
            free(order);
            free(scratch);
            return false;
        }
        free(b->order);
        if (b->scratch != NULL)
            OPENSSL_cleanse(b->scratch, b->order_cap * sizeof *b->scratch);
        free(b->scratch);
        b->order = order;
        b->scratch = scratch;
        b->order_cap = b->cap;
    }
    for (size_t i = 0; i < b->n; i++) {
        const uint8_t *h = b->rows[i].id_hash;
        uint64_t k = 0;
        for (int j = 0; j < 8; j++)
            k = k << 8 | h[j];
        b->order[i].key = k;
        b->order[i].idx = (uint32_t)i;
    }
    qsort(b->order, b->n, sizeof *b->order, sort_cmp);
    for (size_t i = 0; i < b->n; i++)
        b->scratch[i] = b->rows[b->order[i].idx];
    reg_hashed_row *sorted = b->scratch;
    b->scratch = b->rows;
    b->rows = sorted;
    if (b->pt_of != NULL && b->n_pts > 0) {
        if (b->pt_scratch == NULL && (b->pt_scratch = malloc(b->pt_of_cap * sizeof(int32_t))) == NULL)
            return false;
        for (size_t i = 0; i < b->n; i++)
            b->pt_scratch[i] = b->pt_of[b->order[i].idx];
        int32_t *t = b->pt_scratch;
        b->pt_scratch = b->pt_of;
        b->pt_of = t;
    }
    return true;
}

static void *writer_main(void *arg)
{
    pipeline *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->ready == NULL && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        batch *b = p->ready;
        p->ready = NULL;
        reg_status st = p->error;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (b == NULL)
            break;

        uint64_t counts[3] = {0, 0, 0}, portraits = 0;
        const int32_t *pt_of = b->n_pts > 0 ? b->pt_of : NULL;
        if (st == REG_OK) {
            for (size_t i = 0; i < b->n && st == REG_OK; i++) {
                reg_put_result res = REG_PUT_UNCHANGED;
                st = registry_writer_put_hashed(p->w, &b->rows[i], &res);
                if (pt_of != NULL && pt_of[i] >= 0 && st == REG_OK) {
                    /* The row's result: the more of its card's and its
                     * template's (inserted > updated > unchanged). */
                    const portrait_item *pi = &b->pts[pt_of[i]];
                    reg_put_result pres = REG_PUT_UNCHANGED;
                    st = registry_writer_put_portrait(p->w, pi->id_hash, pi->emb, &pres);
                    if (pres < res)
                        res = pres;
                    portraits++;
                }
                counts[res]++;
            }
            if (st == REG_OK)
                st = registry_writer_commit(p->w);
        }

        pthread_mutex_lock(&p->mu);
        if (st == REG_OK) {
            p->inserted += counts[REG_PUT_INSERTED];
            p->updated += counts[REG_PUT_UPDATED];
            p->unchanged += counts[REG_PUT_UNCHANGED];
            p->portraits += portraits;
            p->batches++;
        } else if (p->error == REG_OK) {
            p->error = st;
        }
        b->n = 0;
        if (b->n_pts > 0)
            OPENSSL_cleanse(b->pts, b->n_pts * sizeof *b->pts);
        b->n_pts = 0;
        if (p->spare == NULL) {
            p->spare = b;
            b = NULL;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        batch_free(b);
    }
    return NULL;
}

/* Hand the full batch *cur to the writer and get an empty one back. */
static reg_status pipeline_submit(pipeline *p, batch **cur)
{
    if (!batch_sort(*cur))
        return REG_ERR_NOMEM;
    pthread_mutex_lock(&p->mu);
    while (p->ready != NULL && p->error == REG_OK)
        pthread_cond_wait(&p->cv, &p->mu);
    reg_status st = p->error;
    if (st != REG_OK) {
        pthread_mutex_unlock(&p->mu);
        (*cur)->n = 0;
        (*cur)->n_pts = 0;
        return st;
    }
    p->ready = *cur;
    batch *next = p->spare;
    p->spare = NULL;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (next == NULL)
        next = calloc(1, sizeof *next);
    *cur = next;
    return next != NULL ? REG_OK : REG_ERR_NOMEM;
}

/* ------------------------------------------------------------- importer */

typedef struct {
    const char *s;
    size_t len;
} field;

typedef struct {
    registry *reg;
    const import_options *opt;
    const char *file;
    char dir[4096];         /* folder of relative portrait paths ("" = current directory) */
    sm_id_options idopt;
    import_stats *stats;
    size_t batch_rows;
    pipeline *pl;
    batch *cur;
    import_status fail; /* first fatal error; IMPORT_OK while going on */
    char *err;
    size_t errlen;

    /* The previous accepted row's identity, to reuse its hashes and to
     * keep a person's consecutive rows in one batch. Wiped at the end. */
    bool have_last;
    char last_id18[18];
    uint8_t last_id_hash[SM_HASH_BYTES];
    char last_name[SM_NAME_BUF];
    size_t last_name_len;
    uint8_t last_name_hash[SM_HASH_BYTES];

    struct timespec t0, next_progress;
    unsigned progress_ms;
    input in;

    /* CSV state */
    struct csv_parser csv;
    bool csv_ready;
    bool header_done;
    size_t header_cols;
    int col_map[MAX_COLUMNS]; /* column -> F_* or -1 */
    char header_names[MAX_COLUMNS][64];
    size_t ncol;              /* fields seen in the current record */
    char fbuf[N_FIELDS][FIELD_MAX];
    size_t flen[N_FIELDS];
    bool ftoolong[N_FIELDS];
    uint64_t line;            /* line of the piece being parsed */
    uint64_t rec_line;        /* line where the current record began; 0 = none yet */

    /* Per-row scratch (holds identities: wiped at the end). */
    sm_id_info id;
    sm_name name;
    float emb[REG_PORTRAIT_DIM];
    char pt_path[4096];
} importer;

static double elapsed(const importer *im)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - im->t0.tv_sec) + (double)(now.tv_nsec - im->t0.tv_nsec) / 1e9;
}

static void fill_progress(importer *im)
{
    pipeline *p = im->pl;
    pthread_mutex_lock(&p->mu);
    im->stats->portraits = p->portraits;
    im->stats->inserted = p->inserted;
    im->stats->updated = p->updated;
    im->stats->unchanged = p->unchanged;
    im->stats->batches = p->batches;
    pthread_mutex_unlock(&p->mu);
    im->stats->bytes_read = im->in.bytes_read;
    im->stats->seconds = elapsed(im);
}

static void maybe_progress(importer *im)
{
    if (im->opt->on_progress == NULL)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < im->next_progress.tv_sec ||
        (now.tv_sec == im->next_progress.tv_sec && now.tv_nsec < im->next_progress.tv_nsec))
        return;
    im->next_progress = now;
    im->next_progress.tv_sec += im->progress_ms / 1000;
    im->next_progress.tv_nsec += (long)(im->progress_ms % 1000) * 1000000L;
    if (im->next_progress.tv_nsec >= 1000000000L) {
        im->next_progress.tv_sec++;
        im->next_progress.tv_nsec -= 1000000000L;
    }
    fill_progress(im);
    im->opt->on_progress(im->opt->progress_user, im->stats);
}

static void reject(importer *im, uint64_t line, const char *fieldname, const char *reason)
{
    im->stats->rejected++;
    if (im->opt->on_reject != NULL) {
        import_reject rj = {im->file, line, fieldname, reason};
        im->opt->on_reject(im->opt->reject_user, &rj);
    }
}

static void fatal(importer *im, import_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fatal(importer *im, import_status st, const char *fmt, ...)
{
    if (im->fail != IMPORT_OK)
        return;
    im->fail = st;
    if (im->err != NULL && im->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(im->err, im->errlen, fmt, ap);
        va_end(ap);
    }
}

static bool registry_failed(importer *im, reg_status st)
{
    if (st == REG_OK)
        return false;
    if (im->fail == IMPORT_OK) {
        im->fail = st == REG_ERR_NOMEM ? IMPORT_ERR_NOMEM : IMPORT_ERR_REGISTRY;
        set_err(im->err, im->errlen, "%s: writing to the registry failed: %s", im->file,
                reg_status_message(st));
    }
    return true;
}

static void trim(field *f)
{
    while (f->len > 0 && (f->s[0] == ' ' || f->s[0] == '\t')) {
        f->s++;
        f->len--;
    }
    while (f->len > 0 && (f->s[f->len - 1] == ' ' || f->s[f->len - 1] == '\t' ||
                          f->s[f->len - 1] == '\r' || f->s[f->len - 1] == '\n'))
        f->len--;
}

static bool field_is(const field *f, const char *word)
{
    size_t n = strlen(word);
    return f->len == n && strncasecmp(f->s, word, n) == 0;
}

/* Issuing authority: UTF-8 text without control characters, under
 * REG_AUTHORITY_MAX bytes. NULL if fine, else the reason. */
static const char *check_authority(const field *f)
{
    if (f->len >= REG_AUTHORITY_MAX)
        return "too_long";
    for (size_t i = 0; i < f->len;) {
        uint32_t cp;
        size_t n = sm_utf8_decode(f->s + i, f->len - i, &cp);
        if (n == 0)
            return "encoding";
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0xfeff)
            return "control";
        i += n;
    }
    return NULL;
}

/* Make room for a portrait entry of row b->n: pt_of covers every row (the
 * rows before the batch's first portrait get -1) and pts is allocated. */
static bool batch_portrait_room(batch *b)
{
    if (b->pts == NULL && (b->pts = malloc(MAX_BATCH_PORTRAITS * sizeof *b->pts)) == NULL)
        return false;
    if (b->pt_of_cap < b->cap) {
        int32_t *grown = realloc(b->pt_of, b->cap * sizeof *grown);
        if (grown == NULL)
            return false;
        b->pt_of = grown;
        b->pt_of_cap = b->cap;
        free(b->pt_scratch); /* regrown by batch_sort */
        b->pt_scratch = NULL;
    }
    if (b->n_pts == 0)
        for (size_t i = 0; i < b->n; i++)
            b->pt_of[i] = -1;
    return true;
}

/* The reject reason of each embedding failure. */
static const char *embed_reason(import_embed_status st)
{
    switch (st) {
    case IMPORT_EMBED_OK: return NULL;
    case IMPORT_EMBED_UNREADABLE: return "unreadable";
    case IMPORT_EMBED_TOO_LARGE: return "image_too_large";
    case IMPORT_EMBED_UNSUPPORTED: return "unsupported_image";
    case IMPORT_EMBED_CORRUPT: return "corrupt_image";
    case IMPORT_EMBED_NO_FACE: return "no_face";
    case IMPORT_EMBED_UNAVAILABLE: return "models_missing";
    case IMPORT_EMBED_FAILED: break;
    }
    return "face_failed";
}

/* Resolve the portrait path and compute its embedding into im->emb. NULL,
 * or the reject reason. */
static const char *portrait_embed(importer *im, const field *pt)
{
    if (memchr(pt->s, '\0', pt->len) != NULL)
        return "encoding";
    if (im->opt->embed == NULL)
        return "models_missing";
    int n;
    if (pt->s[0] == '/' || im->dir[0] == '\0')
        n = snprintf(im->pt_path, sizeof im->pt_path, "%.*s", (int)pt->len, pt->s);
    else
        n = snprintf(im->pt_path, sizeof im->pt_path, "%s/%.*s", im->dir, (int)pt->len, pt->s);
    if (n < 0 || (size_t)n >= sizeof im->pt_path)
        return "too_long";
    import_embed_status st = im->opt->embed(im->opt->embed_user, im->pt_path, im->emb);
    if (st != IMPORT_EMBED_OK)
        OPENSSL_cleanse(im->emb, sizeof im->emb);
    maybe_progress(im);
    return embed_reason(st);
}

/* Check one row (fields in F_* order) and queue it, or reject it. */
static void handle_row(importer *im, field *f, uint64_t line)
{
    im->stats->rows++;
    if ((im->stats->rows & 255) == 0)
        maybe_progress(im);

    sm_id_status ids = sm_id_parse(f[F_ID].s, f[F_ID].len, &im->idopt, &im->id);
    if (ids != SM_ID_OK) {
        reject(im, line, field_names[F_ID], sm_id_status_code(ids));
        return;
    }
    sm_name_status ns = sm_name_normalise(f[F_NAME].s, f[F_NAME].len, &im->name);
    if (ns != SM_NAME_OK) {
        reject(im, line, field_names[F_NAME], sm_name_status_code(ns));
        return;
    }
    field from = f[F_FROM], to = f[F_TO];
    trim(&from);
    trim(&to);
    sm_period period;
    sm_period_status ps = sm_period_check(from.s, from.len, to.s, to.len, &im->id.birth,
                                          &im->idopt.at, &period);
    if (ps != SM_PERIOD_OK) {
        sm_date d;
        bool on_begin = ps == SM_PERIOD_ERR_BEGIN_LONG_TERM ||
                        ps == SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH ||
                        ps == SM_PERIOD_ERR_BEGIN_IN_FUTURE ||
                        (ps == SM_PERIOD_ERR_FORMAT && !sm_date_parse_compact(from.s, from.len, &d));
        reject(im, line, field_names[on_begin ? F_FROM : F_TO], sm_period_status_code(ps));
        return;
    }
    field auth = f[F_AUTH];
    trim(&auth);
    const char *why = check_authority(&auth);
    if (why != NULL) {
        reject(im, line, field_names[F_AUTH], why);
        return;
    }
    field lost = f[F_LOST];
    trim(&lost);
    bool is_lost;
    if (lost.len == 0) {
        reject(im, line, field_names[F_LOST], "empty");
        return;
    } else if (field_is(&lost, "1") || field_is(&lost, "true")) {
        is_lost = true;
    } else if (field_is(&lost, "0") || field_is(&lost, "false")) {
        is_lost = false;
    } else {
        reject(im, line, field_names[F_LOST], "not_boolean");
        return;
    }
    field hk = f[F_HUKOU];
    trim(&hk);
    if (hk.len == 0) {
        reject(im, line, field_names[F_HUKOU], "empty");
        return;
    }
    if (hk.len != 1 || hk.s[0] < '0' || hk.s[0] > '2') {
        reject(im, line, field_names[F_HUKOU], "not_hukou_status");
        return;
    }
    bool has_portrait = false;
    if (f[F_PORTRAIT].len > 0) {
        field pt = f[F_PORTRAIT];
        trim(&pt);
        if (pt.len > 0) {
            const char *why_pt = portrait_embed(im, &pt);
            if (why_pt != NULL) {
                reject(im, line, field_names[F_PORTRAIT], why_pt);
                return;
            }
            has_portrait = true;
        }
    }

    /* Accepted. Keep a person's consecutive rows in one batch. */
    bool same_person = im->have_last && memcmp(im->last_id18, im->id.id18, 18) == 0;
    bool full = im->cur->n >= im->batch_rows ||
                (has_portrait && im->cur->n_pts >= MAX_BATCH_PORTRAITS);
    if (full && (!same_person || im->cur->n >= im->batch_rows + MAX_GROUP ||
                 im->cur->n_pts >= MAX_BATCH_PORTRAITS)) {
        if (registry_failed(im, pipeline_submit(im->pl, &im->cur)))
            return;
    }
    batch *b = im->cur;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        reg_hashed_row *grown = malloc(cap * sizeof *grown);
        if (grown == NULL) {
            registry_failed(im, REG_ERR_NOMEM);
            return;
        }
        if (b->rows != NULL) {
            memcpy(grown, b->rows, b->n * sizeof *grown);
            OPENSSL_cleanse(b->rows, b->cap * sizeof *b->rows);
            free(b->rows);
        }
        b->rows = grown;
        b->cap = cap;
    }
    if (has_portrait || (b->pt_of != NULL && b->n_pts > 0)) {
        if (!batch_portrait_room(b)) {
            registry_failed(im, REG_ERR_NOMEM);
            return;
        }
        b->pt_of[b->n] = has_portrait ? (int32_t)b->n_pts : -1;
    }
    reg_hashed_row *row = &b->rows[b->n];
    memset(row, 0, sizeof *row);
    reg_status st = REG_OK;
    if (same_person) {
        memcpy(row->id_hash, im->last_id_hash, SM_HASH_BYTES);
    } else {
        st = registry_hash_id(im->reg, im->id.id18, row->id_hash);
        memcpy(im->last_id18, im->id.id18, 18);
        memcpy(im->last_id_hash, row->id_hash, SM_HASH_BYTES);
        im->last_name_len = (size_t)-1;
        im->have_last = st == REG_OK;
    }
    if (st == REG_OK && im->last_name_len == im->name.len &&
        memcmp(im->last_name, im->name.text, im->name.len) == 0) {
        memcpy(row->name_hash, im->last_name_hash, SM_HASH_BYTES);
    } else if (st == REG_OK) {
        st = registry_hash_name(im->reg, im->id.id18, im->name.text, im->name.len,
                                row->name_hash);
        memcpy(im->last_name, im->name.text, im->name.len);
        im->last_name_len = im->name.len;
        memcpy(im->last_name_hash, row->name_hash, SM_HASH_BYTES);
    }
    if (registry_failed(im, st)) {
        im->have_last = false;
        return;
    }
    row->hukou = (reg_hukou)(hk.s[0] - '0');
    row->card.valid_from = period.begin;
    row->card.long_term = period.long_term;
    if (!period.long_term)
        row->card.valid_to = period.end;
    row->card.lost = is_lost;
    memcpy(row->card.authority, auth.s, auth.len);
    row->card.authority[auth.len] = '\0';
    if (has_portrait) {
        portrait_item *pi = &b->pts[b->n_pts++];
        memcpy(pi->id_hash, row->id_hash, SM_HASH_BYTES);
        memcpy(pi->emb, im->emb, sizeof pi->emb);
        OPENSSL_cleanse(im->emb, sizeof im->emb);
    }
    b->n++;
}

/* ------------------------------------------------------------------ CSV */

static void *csv_capped_realloc(void *p, size_t n)
{
    return n > CSV_ENTRY_MAX ? NULL : realloc(p, n);
}

static void csv_reset(importer *im)
{
    if (im->csv_ready) {
        if (im->csv.entry_buf != NULL)
            OPENSSL_cleanse(im->csv.entry_buf, im->csv.entry_size);
        csv_free(&im->csv);
    }
    im->csv_ready = csv_init(&im->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) == 0;
    if (im->csv_ready)
        csv_set_realloc_func(&im->csv, csv_capped_realloc);
    im->ncol = 0;
    memset(im->ftoolong, 0, sizeof im->ftoolong);
    memset(im->flen, 0, sizeof im->flen);
}

static void csv_on_field(void *s, size_t len, void *data)
{
    importer *im = data;
    size_t col = im->ncol++;
    if (im->rec_line == 0)
        im->rec_line = im->line;
    if (!im->header_done) {
        if (col < MAX_COLUMNS)
            snprintf(im->header_names[col], sizeof im->header_names[col], "%.*s",
                     (int)(len < 63 ? len : 63), s ? (const char *)s : "");
        return;
    }
    if (col >= im->header_cols || im->col_map[col] < 0)
        return;
    int fi = im->col_map[col];
    if (len >= FIELD_MAX) {
        im->ftoolong[fi] = true;
        im->flen[fi] = 0;
        return;
    }
    if (len > 0)
        memcpy(im->fbuf[fi], s, len);
    im->fbuf[fi][len] = '\0';
    im->flen[fi] = len;
}

static void csv_header(importer *im)
{
    im->header_done = true;
    if (im->ncol > MAX_COLUMNS) {
        fatal(im, IMPORT_ERR_FORMAT, "%s: the header has more than %d columns", im->file,
              MAX_COLUMNS);
        return;
    }
    im->header_cols = im->ncol;
    bool seen[N_FIELDS] = {false};
    for (size_t c = 0; c < im->ncol; c++) {
        field name = {im->header_names[c], strlen(im->header_names[c])};
        trim(&name);
        im->col_map[c] = -1;
        for (int fi = 0; fi < N_FIELDS; fi++) {
            if (name.len == strlen(field_names[fi]) &&
                memcmp(name.s, field_names[fi], name.len) == 0) {
                if (seen[fi]) {
                    fatal(im, IMPORT_ERR_FORMAT, "%s: the header names column '%s' twice",
                          im->file, field_names[fi]);
                    return;
                }
                seen[fi] = true;
                im->col_map[c] = fi;
            }
        }
    }
    for (int fi = 0; fi < N_REQUIRED; fi++) {
        if (!seen[fi]) {
            fatal(im, IMPORT_ERR_FORMAT,
                  "%s: line 1 must be the header "
                    "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status "
                  "(column '%s' is missing)",
                  im->file, field_names[fi]);
            return;
        }
    }
}

static void csv_on_row(int c, void *data)
{
    (void)c;
    importer *im = data;
    uint64_t line = im->rec_line ? im->rec_line : im->line;
    if (im->fail == IMPORT_OK) {
        if (!im->header_done) {
            csv_header(im);
        } else if (im->ncol != im->header_cols) {
            im->stats->rows++;
            reject(im, line, "row", "column_count");
        } else {
            int bad = -1;
            for (int fi = 0; fi < N_FIELDS && bad < 0; fi++)
                if (im->ftoolong[fi])
                    bad = fi;
            if (bad >= 0) {
                im->stats->rows++;
                reject(im, line, field_names[bad], "too_long");
            } else {
                field f[N_FIELDS];
                for (int fi = 0; fi < N_FIELDS; fi++) {
                    f[fi].s = im->fbuf[fi];
                    f[fi].len = im->flen[fi];
                }
                handle_row(im, f, line);
            }
        }
    }
    im->ncol = 0;
    im->rec_line = 0;
    memset(im->ftoolong, 0, sizeof im->ftoolong);
    memset(im->flen, 0, sizeof im->flen);
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* After a libcsv failure: reject (syntax) or stop (a field too large). */
static void csv_failed(importer *im)
{
    int e = csv_error(&im->csv);
    uint64_t line = im->rec_line ? im->rec_line : im->line;
    if (e == CSV_EPARSE) {
        if (!im->header_done)
            fatal(im, IMPORT_ERR_FORMAT, "%s: line %llu: the header is not valid CSV", im->file,
                  (unsigned long long)line);
        else {
            im->stats->rows++;
            reject(im, line, "row", "csv_syntax");
        }
    } else {
        fatal(im, IMPORT_ERR_FORMAT,
              "%s: line %llu: a field longer than 1 MiB; not a registry file?", im->file,
              (unsigned long long)line);
    }
    im->rec_line = 0;
    csv_reset(im);
}

static void import_csv(importer *im)
{
    csv_reset(im);
    if (!im->csv_ready) {
        registry_failed(im, REG_ERR_NOMEM);
        return;
    }
    const char *seg;
    size_t len;
    bool whole, skipping = false;
    im->line = 1;
    while (im->fail == IMPORT_OK && input_next(&im->in, &seg, &len, &whole)) {
        if (skipping) {
            /* the rest of a line whose record failed */
        } else {
            if (im->rec_line == 0 && !blank(seg, len))
                im->rec_line = im->line;
            if (csv_parse(&im->csv, seg, len, csv_on_field, csv_on_row, im) != len &&
                im->fail == IMPORT_OK) {
                csv_failed(im);
                skipping = !whole;
            }
        }
        if (whole) {
            im->line++;
            skipping = false;
        }
    }
    if (im->fail == IMPORT_OK) {
        im->line--; /* the last line */
        if (csv_fini(&im->csv, csv_on_field, csv_on_row, im) != 0 && im->fail == IMPORT_OK)
            csv_failed(im);
    }
    if (im->csv_ready) {
        if (im->csv.entry_buf != NULL)
            OPENSSL_cleanse(im->csv.entry_buf, im->csv.entry_size);
        csv_free(&im->csv);
        im->csv_ready = false;
    }
}

/* ---------------------------------------------------------- JSON Lines */

static void import_json_row(importer *im, const char *s, size_t len, uint64_t line)
{
    json_error_t jerr;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        im->stats->rows++;
        reject(im, line, "row", "bad_json");
        return;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        im->stats->rows++;
        reject(im, line, "row", "not_an_object");
        return;
    }
    field f[N_FIELDS];
    static const char *const digits[] = {"0", "1", "2"};
    for (int fi = 0; fi < N_FIELDS; fi++) {
        json_t *v = json_object_get(o, field_names[fi]);
        const char *bad = NULL;
        if (fi == F_PORTRAIT && (v == NULL || json_is_null(v))) {
            f[fi].s = "";
            f[fi].len = 0;
        } else if (v == NULL) {
            bad = "missing";
        } else if (json_is_string(v)) {
            f[fi].s = json_string_value(v);
            f[fi].len = json_string_length(v);
        } else if (fi == F_LOST && json_is_boolean(v)) {
            f[fi].s = json_is_true(v) ? "1" : "0";
            f[fi].len = 1;
        } else if ((fi == F_LOST || fi == F_HUKOU) && json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            f[fi].s = (n >= 0 && n <= 2) ? digits[n] : "?";
            f[fi].len = 1;
            if (fi == F_LOST && n == 2)
                f[fi].s = "?";
        } else {
            bad = "wrong_type";
        }
        if (bad != NULL) {
            json_decref(o);
            im->stats->rows++;
            reject(im, line, field_names[fi], bad);
            return;
        }
    }
    handle_row(im, f, line);
    json_decref(o);
}

static void import_jsonl(importer *im)
{
    const char *seg;
    size_t len;
    bool whole, skipping = false;
    uint64_t line = 1;
    while (im->fail == IMPORT_OK && input_next(&im->in, &seg, &len, &whole)) {
        if (!skipping) {
            if (!whole || len > JSON_LINE_MAX) {
                im->stats->rows++;
                reject(im, line, "row", "too_long");
                skipping = !whole;
            } else if (!blank(seg, len)) {
                import_json_row(im, seg, len, line);
            }
        }
        if (whole) {
            line++;
            skipping = false;
        }
    }
}

/* ---------------------------------------------------------------- driver */

import_format import_format_for_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL || strchr(dot, '/') != NULL)
        return IMPORT_FORMAT_AUTO;
    if (strcasecmp(dot, ".csv") == 0)
        return IMPORT_FORMAT_CSV;
    if (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0)
        return IMPORT_FORMAT_JSONL;
    return IMPORT_FORMAT_AUTO;
}

/* Skip a UTF-8 byte-order mark and tell the format from the first byte. */
static import_format sniff(importer *im, import_format hint)
{
    input *in = &im->in;
    while (!in->eof && in->end - in->start < 4096)
        if (!input_fill(in))
            break;
    if (in->end - in->start >= 3 && memcmp(in->buf + in->start, "\xEF\xBB\xBF", 3) == 0)
        in->start += 3;
    if (hint != IMPORT_FORMAT_AUTO)
        return hint;
    for (size_t i = in->start; i < in->end; i++) {
        char c = in->buf[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' ? IMPORT_FORMAT_JSONL : IMPORT_FORMAT_CSV;
    }
    return IMPORT_FORMAT_CSV;
}

import_status import_file(registry *reg, const char *path, const import_options *opt,
                          import_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    static const import_options defaults = {0};
    if (opt == NULL)
        opt = &defaults;

    importer *im = calloc(1, sizeof *im);
    pipeline *pl = calloc(1, sizeof *pl);
    if (im == NULL || pl == NULL) {
        free(im);
        free(pl);
        set_err(err, errlen, "out of memory");
        return IMPORT_ERR_NOMEM;
    }
    im->reg = reg;
    im->opt = opt;
    im->file = path;
    im->stats = stats;
    im->err = err;
    im->errlen = errlen;
    im->pl = pl;
    im->batch_rows = opt->batch_rows ? opt->batch_rows : IMPORT_DEFAULT_BATCH;
    if (im->batch_rows > IMPORT_MAX_BATCH)
        im->batch_rows = IMPORT_MAX_BATCH;
    im->idopt.at = opt->at.year ? opt->at : sm_date_today();
    im->idopt.strict = false;
    im->progress_ms = opt->progress_ms ? opt->progress_ms : 2000;
    clock_gettime(CLOCK_MONOTONIC, &im->t0);
    /* The first report after one interval, at most a second. */
    unsigned first_ms = im->progress_ms < 1000 ? im->progress_ms : 1000;
    im->next_progress = im->t0;
    im->next_progress.tv_sec += first_ms / 1000;
    im->next_progress.tv_nsec += (long)(first_ms % 1000) * 1000000L;
    if (im->next_progress.tv_nsec >= 1000000000L) {
        im->next_progress.tv_sec++;
        im->next_progress.tv_nsec -= 1000000000L;
    }
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->cv, NULL);

    import_status result = IMPORT_OK;
    bool thread_started = false;
    im->in.fd = -1;
    im->in.buf = malloc(READ_CHUNK);
    im->cur = calloc(1, sizeof *im->cur);
    if (im->in.buf == NULL || im->cur == NULL) {
        set_err(err, errlen, "out of memory");
        result = IMPORT_ERR_NOMEM;
        goto out;
    }
    if (strcmp(path, "-") == 0) {
        im->in.fd = STDIN_FILENO;
    } else {
        const char *slash = strrchr(path, '/');
        if (slash == path)
            snprintf(im->dir, sizeof im->dir, "/");
        else if (slash != NULL)
            snprintf(im->dir, sizeof im->dir, "%.*s", (int)(slash - path), path);
        im->in.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (im->in.fd < 0) {
            set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
            result = IMPORT_ERR_IO;
            goto out;
        }
        im->in.own_fd = true;
    }
    struct stat sb;
    if (fstat(im->in.fd, &sb) == 0 && S_ISREG(sb.st_mode))
        stats->bytes_total = (uint64_t)sb.st_size;
    else if (fstat(im->in.fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        set_err(err, errlen, "'%s' is a directory", path);
        result = IMPORT_ERR_IO;
        goto out;
    }

    import_format fmt = opt->format != IMPORT_FORMAT_AUTO ? opt->format
                                                          : import_format_for_path(path);
    fmt = sniff(im, fmt);

    reg_status rst = registry_writer_begin(reg, &pl->w);
    if (rst != REG_OK) {
        set_err(err, errlen, "cannot write to the registry: %s", reg_status_message(rst));
        result = rst == REG_ERR_NOMEM ? IMPORT_ERR_NOMEM : IMPORT_ERR_REGISTRY;
        goto out;
    }
    if (pthread_create(&pl->thread, NULL, writer_main, pl) != 0) {
        registry_writer_end(pl->w, false);
        pl->w = NULL;
        set_err(err, errlen, "cannot start the writer thread");
        result = IMPORT_ERR_NOMEM;
        goto out;
    }
    thread_started = true;

    if (fmt == IMPORT_FORMAT_JSONL)
        import_jsonl(im);
    else
        import_csv(im);
    if (im->in.error != 0 && im->fail == IMPORT_OK) {
        im->fail = IMPORT_ERR_IO;
        set_err(err, errlen, "cannot read '%s': %s", path, strerror(im->in.error));
    }
    /* What was read and accepted is stored, even after a read error. */
    if ((im->fail == IMPORT_OK || im->fail == IMPORT_ERR_IO || im->fail == IMPORT_ERR_FORMAT) &&
        im->cur != NULL && im->cur->n > 0)
        registry_failed(im, pipeline_submit(pl, &im->cur));
    result = im->fail;

out:
    if (thread_started) {
        pthread_mutex_lock(&pl->mu);
        pl->closing = true;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        pthread_join(pl->thread, NULL);
        reg_status st = pl->error;
        reg_status end = registry_writer_end(pl->w, st == REG_OK);
        if (st == REG_OK)
            st = end;
        if (st != REG_OK && (result == IMPORT_OK || result == IMPORT_ERR_IO ||
                             result == IMPORT_ERR_FORMAT)) {
            result = st == REG_ERR_NOMEM ? IMPORT_ERR_NOMEM : IMPORT_ERR_REGISTRY;
            set_err(err, errlen, "%s: writing to the registry failed: %s", path,
                    reg_status_message(st));
        }
        stats->inserted = pl->inserted;
        stats->updated = pl->updated;
        stats->unchanged = pl->unchanged;
        stats->portraits = pl->portraits;
        stats->batches = pl->batches;
    }
    stats->bytes_read = im->in.bytes_read;
    stats->seconds = elapsed(im);
    if (im->in.own_fd)
        close(im->in.fd);
    if (im->in.buf != NULL)
        OPENSSL_cleanse(im->in.buf, READ_CHUNK);
    free(im->in.buf);
    batch_free(im->cur);
    batch_free(pl->ready);
    batch_free(pl->spare);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->cv);
    free(pl);
    OPENSSL_cleanse(im, sizeof *im);
    free(im);
    return result;
}

/* ---------------------------------------------------------- reject file */

void import_reject_csv_header(FILE *f)
{
    fputs("file,line,field,reason\n", f);
}

void import_reject_csv_write(FILE *f, const import_reject *rj)
{
    csv_fwrite(f, rj->file, strlen(rj->file));
    fprintf(f, ",%llu,%s,%s\n", (unsigned long long)rj->line, rj->field, rj->reason);
}
