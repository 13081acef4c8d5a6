/*
 * audit.c — the tamper-evident audit log: the canonical form of a row and
 * its chained hash, verification of the chain, export (JSONL, CSV) and
 * purge behind an anchor.
 *
 * Chain: hash = SHA-256(prev_hash || canonical(row)); the first row's
 * prev_hash is the anchor (32 zero bytes until a purge, then the hash of the
 * last purged row). canonical(row) is, byte for byte:
 *
 *   "shiming-audit-v1\n", then one line per column in this order:
 *   id, time, request_id, app_id, product, dialect, verdict, vendor_code,
 *   charged, outcome, subject_id_masked, subject_name_masked, subject_hash,
 *   client_ip, latency_ms, prev_hash — each "name=value\n" where
 *     integers are decimal ASCII (time in unix ms; charged 0 or 1),
 *     latency_ms is the integer llround(latency_ms * 1000) (microseconds:
 *       the stored value is rounded to 3 decimals, so this is exact),
 *     text is "<byte length>:<bytes>" (so no value can fake a line end),
 *     SQL NULL is "-" (distinct from the empty text "0:"),
 *     hashes are 64 lower-case hex digits (subject_hash NULL is "-").
 *
 * Must never: modify or delete rows except in purge (which moves the
 * anchor in the same transaction); export anything the row does not hold
 * (rows carry only masked identities and keyed hashes).
 */
#include "tenancy/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#define AUDIT_COLUMNS                                                                          \
    "id, time, request_id, app_id, product, dialect, verdict, vendor_code, charged, outcome," \
    " subject_id_masked, subject_name_masked, subject_hash, client_ip, latency_ms,"           \
    " prev_hash, hash"

static const char *const column_names[] = {
    "id", "time", "request_id", "app_id", "product", "dialect", "verdict", "vendor_code",
    "charged", "outcome", "subject_id_masked", "subject_name_masked", "subject_hash",
    "client_ip", "latency_ms", "prev_hash", "hash",
};
#define N_COLUMNS 17

/* ------------------------------------------------------------ canonical */

/* The canonical form goes through a buffer on the stack and, when it fits
 * (always, for the rows the server writes), into one SHA-256 call with a
 * digest fetched once; a longer one streams. Same bytes either way. */
#define SINK_BUF 2048

typedef struct {
    EVP_MD_CTX *c;              /* NULL until the buffer first overflows */
    size_t n;
    bool ok;
    unsigned char buf[SINK_BUF];
} sink;

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;       /* fetched once; never freed (process lifetime) */

static void sha_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha_once, sha_init);
    return sha256_md != NULL ? sha256_md : EVP_sha256();
}

static void put(sink *k, const void *p, size_t n)
{
    if (!k->ok)
        return;
    if (k->n + n > SINK_BUF) {
        if (k->c == NULL) {
            k->c = EVP_MD_CTX_new();
            k->ok = k->c != NULL && EVP_DigestInit_ex(k->c, sha256(), NULL) == 1;
        }
        k->ok = k->ok && EVP_DigestUpdate(k->c, k->buf, k->n) == 1 &&
                EVP_DigestUpdate(k->c, p, n) == 1;
        k->n = 0;
        return;
    }
    memcpy(k->buf + k->n, p, n);
    k->n += n;
}

static void put_str(sink *k, const char *s)
{
    put(k, s, strlen(s));
}

static void put_dec(sink *k, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    if (v < 0)
        tmp[--i] = '-';
    put(k, tmp + i, sizeof tmp - i);
}

static void put_int(sink *k, const char *name, int64_t v)
{
    put_str(k, name);
    put(k, "=", 1);
    put_dec(k, v);
    put(k, "\n", 1);
}

static void put_text(sink *k, const char *name, const char *v)
{
    put_str(k, name);
    if (v == NULL) {
        put(k, "=-\n", 3);
        return;
    }
    size_t n = strlen(v);
    put(k, "=", 1);
    put_dec(k, (int64_t)n);
    put(k, ":", 1);
    put(k, v, n);
    put(k, "\n", 1);
}

static void put_hash(sink *k, const char *name, const uint8_t *h)
{
    if (h == NULL) {
        put_text(k, name, NULL);
        return;
    }
    char hex[2 * SM_HASH_BYTES + 1];
    sm_hex_encode(h, SM_HASH_BYTES, hex);
    put_str(k, name);
    put(k, "=", 1);
    put(k, hex, 2 * SM_HASH_BYTES);
    put(k, "\n", 1);
}

bool tn_audit_hash(const tn_audit_row *r, uint8_t out[SM_HASH_BYTES])
{
    static const char magic[] = "shiming-audit-v1\n";
    sink k;
    k.c = NULL;
    k.n = 0;
    k.ok = true;
    put(&k, r->prev_hash, SM_HASH_BYTES);
    put(&k, magic, sizeof magic - 1);
    put_int(&k, "id", r->id);
    put_int(&k, "time", r->time_ms);
    put_text(&k, "request_id", r->request_id);
    put_int(&k, "app_id", r->app_id);
    put_text(&k, "product", r->product);
    put_text(&k, "dialect", r->dialect);
    put_text(&k, "verdict", r->verdict);
    put_text(&k, "vendor_code", r->vendor_code);
    put_int(&k, "charged", r->charged);
    put_text(&k, "outcome", r->outcome);
    put_text(&k, "subject_id_masked", r->subject_id_masked);
    put_text(&k, "subject_name_masked", r->subject_name_masked);
    put_hash(&k, "subject_hash", r->subject_hash);
    put_text(&k, "client_ip", r->client_ip);
    put_int(&k, "latency_ms", (int64_t)llround(r->latency_ms * 1000.0));
    put_hash(&k, "prev_hash", r->prev_hash);
    unsigned len = 0;
    bool ok = k.ok;
    if (ok && k.c == NULL)
        ok = EVP_Digest(k.buf, k.n, out, &len, sha256(), NULL) == 1;
    else if (ok)
        ok = EVP_DigestUpdate(k.c, k.buf, k.n) == 1 && EVP_DigestFinal_ex(k.c, out, &len) == 1;
    EVP_MD_CTX_free(k.c);
    OPENSSL_cleanse(k.buf, k.n < SINK_BUF ? k.n : SINK_BUF);
    return ok && len == SM_HASH_BYTES;
}

/* --------------------------------------------------------- reading rows */

static const char *opt_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* Fills `r` from a row of AUDIT_COLUMNS; *hash is the stored hash. False
 * when a hash column has the wrong size (a damaged row). */
static bool row_from_stmt(sqlite3_stmt *st, tn_audit_row *r, const uint8_t **hash)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->time_ms = sqlite3_column_int64(st, 1);
    r->request_id = opt_text(st, 2);
    r->app_id = sqlite3_column_int64(st, 3);
    r->product = opt_text(st, 4);
    r->dialect = opt_text(st, 5);
    r->verdict = opt_text(st, 6);
    r->vendor_code = opt_text(st, 7);
    r->charged = sqlite3_column_int(st, 8);
    r->outcome = opt_text(st, 9);
    r->subject_id_masked = opt_text(st, 10);
    r->subject_name_masked = opt_text(st, 11);
    bool ok = true;
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        r->subject_hash = sqlite3_column_blob(st, 12);
        ok = ok && sqlite3_column_bytes(st, 12) == SM_HASH_BYTES;
    }
    r->client_ip = opt_text(st, 13);
    r->latency_ms = sqlite3_column_double(st, 14);
    r->prev_hash = sqlite3_column_blob(st, 15);
    ok = ok && r->prev_hash != NULL && sqlite3_column_bytes(st, 15) == SM_HASH_BYTES;
    *hash = sqlite3_column_blob(st, 16);
    ok = ok && *hash != NULL && sqlite3_column_bytes(st, 16) == SM_HASH_BYTES;
    return ok;
}

static tn_status failed(int rc)
{
    tn_status s = tn_map_sqlite(rc);
    return s == TN_OK ? TN_ERR_UNAVAILABLE : s;
}

/* ---------------------------------------------------------------- verify */

tn_status tenancy_audit_verify(tenancy *t, int64_t *rows, int64_t *first_broken)
{
    *rows = 0;
    *first_broken = 0;
    tn_reader *rd = tn_borrow_own(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    sqlite3 *db = rd->db;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot for the walk */
    uint8_t running[SM_HASH_BYTES] = {0};
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT hash FROM audit_anchor WHERE id = 1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const void *h = sqlite3_column_blob(st, 0);
            if (h != NULL && sqlite3_column_bytes(st, 0) == SM_HASH_BYTES)
                memcpy(running, h, SM_HASH_BYTES);
            rc = SQLITE_DONE;
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY id", -1, &st,
                                NULL);
    int64_t n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        tn_audit_row r;
        const uint8_t *stored;
        n++;
        bool good = row_from_stmt(st, &r, &stored) &&
                    memcmp(r.prev_hash, running, SM_HASH_BYTES) == 0;
        uint8_t h[SM_HASH_BYTES];
        if (good) {
            good = tn_audit_hash(&r, h) && memcmp(h, stored, SM_HASH_BYTES) == 0;
        }
        if (!good) {
            *first_broken = r.id;
            rc = SQLITE_DONE;
            break;
        }
        memcpy(running, h, SM_HASH_BYTES);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    tn_return(t, rd);
    *rows = n;
    if (rc != SQLITE_DONE) {
        *first_broken = 0;
        return failed(rc);
    }
    return TN_OK;
}

/* ---------------------------------------------------------------- export */

/* A JSON string of arbitrary bytes: invalid UTF-8 bytes become U+FFFD. */
static json_t *json_text(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    size_t n = strlen(s);
    char *buf = malloc(n * 3 + 1);
    if (buf == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = sm_utf8_decode(s + i, n - i, &cp);
        if (k == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    buf[o] = '\0';
    j = json_string(buf);
    free(buf);
    return j;
}

static json_t *json_hash(const uint8_t *h)
{
    if (h == NULL)
        return json_null();
    char hex[2 * SM_HASH_BYTES + 1];
    sm_hex_encode(h, SM_HASH_BYTES, hex);
    return json_string(hex);
}

static bool export_jsonl(const tn_audit_row *r, const uint8_t *hash, FILE *out)
{
    json_t *o = json_object();
    if (o == NULL)
        return false;
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "time", json_integer(r->time_ms));
    json_object_set_new(o, "request_id", json_text(r->request_id));
    json_object_set_new(o, "app_id", json_integer(r->app_id));
    json_object_set_new(o, "product", json_text(r->product));
    json_object_set_new(o, "dialect", json_text(r->dialect));
    json_object_set_new(o, "verdict", json_text(r->verdict));
    json_object_set_new(o, "vendor_code", json_text(r->vendor_code));
    json_object_set_new(o, "charged", json_boolean(r->charged != 0));
    json_object_set_new(o, "outcome", json_text(r->outcome));
    json_object_set_new(o, "subject_id_masked", json_text(r->subject_id_masked));
    json_object_set_new(o, "subject_name_masked", json_text(r->subject_name_masked));
    json_object_set_new(o, "subject_hash", json_hash(r->subject_hash));
    json_object_set_new(o, "client_ip", json_text(r->client_ip));
    json_object_set_new(o, "latency_ms", json_real(r->latency_ms));
    json_object_set_new(o, "prev_hash", json_hash(r->prev_hash));
    json_object_set_new(o, "hash", json_hash(hash));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (s == NULL)
        return false;
    bool ok = fputs(s, out) >= 0 && fputc('\n', out) != EOF;
    free(s);
    return ok;
}

/* RFC 4180 field: quoted when it holds a comma, quote, CR or LF. */
static bool csv_field(FILE *out, const char *s, bool first)
{
    if (!first && fputc(',', out) == EOF)
        return false;
    if (s == NULL)
        return true;
    if (strpbrk(s, ",\"\r\n") == NULL)
        return fputs(s, out) >= 0;
    if (fputc('"', out) == EOF)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '"' && fputc('"', out) == EOF)
            return false;
        if (fputc(*p, out) == EOF)
            return false;
    }
    return fputc('"', out) != EOF;
}

static bool export_csv(const tn_audit_row *r, const uint8_t *hash, FILE *out)
{
    char id[24], time_s[24], app[24], charged[4], lat[32];
    char sh[2 * SM_HASH_BYTES + 1], ph[2 * SM_HASH_BYTES + 1], hh[2 * SM_HASH_BYTES + 1];
    snprintf(id, sizeof id, "%" PRId64, r->id);
    snprintf(time_s, sizeof time_s, "%" PRId64, r->time_ms);
    snprintf(app, sizeof app, "%" PRId64, r->app_id);
    snprintf(charged, sizeof charged, "%d", r->charged ? 1 : 0);
    /* Locale-free fixed 3 decimals. */
    int64_t us = (int64_t)llround(r->latency_ms * 1000.0);
    snprintf(lat, sizeof lat, "%s%" PRId64 ".%03" PRId64, us < 0 ? "-" : "",
             (us < 0 ? -us : us) / 1000, (us < 0 ? -us : us) % 1000);
    if (r->subject_hash != NULL)
        sm_hex_encode(r->subject_hash, SM_HASH_BYTES, sh);
    sm_hex_encode(r->prev_hash, SM_HASH_BYTES, ph);
    sm_hex_encode(hash, SM_HASH_BYTES, hh);
    const char *f[N_COLUMNS] = {
        id, time_s, r->request_id, app, r->product, r->dialect, r->verdict, r->vendor_code,
        charged, r->outcome, r->subject_id_masked, r->subject_name_masked,
        r->subject_hash != NULL ? sh : NULL, r->client_ip, lat, ph, hh,
    };
    for (int i = 0; i < N_COLUMNS; i++)
        if (!csv_field(out, f[i], i == 0))
            return false;
    return fputs("\r\n", out) >= 0;
}

tn_status tenancy_audit_export(tenancy *t, int64_t from, int64_t to, tn_export_format f,
                               FILE *out, int64_t *rows)
{
    *rows = 0;
    if (f != TN_EXPORT_JSONL && f != TN_EXPORT_CSV)
        return TN_ERR_INVALID;
    int64_t lo = from > 0 ? from * 1000 : INT64_MIN;
    int64_t hi = to > 0 ? to * 1000 : INT64_MAX;
    tn_reader *rd = tn_borrow_own(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(rd->db,
                                "SELECT " AUDIT_COLUMNS
                                " FROM audit WHERE time >= ?1 AND time < ?2 ORDER BY id",
                                -1, &st, NULL);
    tn_status s = TN_OK;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        if (f == TN_EXPORT_CSV) {
            for (int i = 0; i < N_COLUMNS; i++)
                if (!csv_field(out, column_names[i], i == 0))
                    s = TN_ERR_UNAVAILABLE;
            if (fputs("\r\n", out) < 0)
                s = TN_ERR_UNAVAILABLE;
        }
    }
    int64_t n = 0;
    while (s == TN_OK && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        tn_audit_row r;
        const uint8_t *hash;
        if (!row_from_stmt(st, &r, &hash)) {
            /* A damaged row still exports, with its hashes as found. */
            static const uint8_t zero[SM_HASH_BYTES];
            if (r.prev_hash == NULL || sqlite3_column_bytes(st, 15) != SM_HASH_BYTES)
                r.prev_hash = zero;
            if (hash == NULL || sqlite3_column_bytes(st, 16) != SM_HASH_BYTES)
                hash = zero;
            if (r.subject_hash != NULL && sqlite3_column_bytes(st, 12) != SM_HASH_BYTES)
                r.subject_hash = NULL;
        }
        bool ok = f == TN_EXPORT_JSONL ? export_jsonl(&r, hash, out) : export_csv(&r, hash, out);
        if (!ok)
            s = TN_ERR_UNAVAILABLE;
        else
            n++;
    }
    if (s == TN_OK && rc != SQLITE_DONE)
        s = failed(rc);
    sqlite3_finalize(st);
    sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
    tn_return(t, rd);
    if (s == TN_OK && fflush(out) != 0)
        s = TN_ERR_UNAVAILABLE;
    *rows = n;
    return s;
}

/* ----------------------------------------------------------------- purge */

tn_status tenancy_audit_purge(tenancy *t, sm_date before, int64_t *purged)
{
    *purged = 0;
    if (!sm_date_is_valid(before.year, before.month, before.day))
        return TN_ERR_INVALID;
    int64_t cutoff_ms = tn_china_day_start(before) * 1000;
    pthread_mutex_lock(&t->write_lock);
    sqlite3 *db = t->wdb;
    sqlite3_stmt *sel = NULL, *del = NULL, *anc = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    bool began = rc == SQLITE_OK;
    int64_t last = 0, n = 0;
    uint8_t hash[SM_HASH_BYTES];
    bool any = false;
    /* Rows are in time order by id (the writer never lets time go back),
     * so the purged rows are a prefix of the chain. */
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT id, hash FROM audit WHERE time < ?1"
                                " ORDER BY id DESC LIMIT 1",
                                -1, &sel, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(sel, 1, cutoff_ms);
        rc = sqlite3_step(sel);
        if (rc == SQLITE_ROW) {
            last = sqlite3_column_int64(sel, 0);
            const void *h = sqlite3_column_blob(sel, 1);
            if (h != NULL && sqlite3_column_bytes(sel, 1) == SM_HASH_BYTES) {
                memcpy(hash, h, SM_HASH_BYTES);
                any = true;
                rc = SQLITE_DONE;
            } else {
                rc = SQLITE_CORRUPT;
            }
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK && any) {
        rc = sqlite3_prepare_v2(db, "DELETE FROM audit WHERE id <= ?1", -1, &del, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(del, 1, last);
            rc = sqlite3_step(del);
            if (rc == SQLITE_DONE) {
                n = sqlite3_changes(db);
                rc = SQLITE_OK;
            }
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(db,
                                    "INSERT INTO audit_anchor (id, last_id, hash, purged_at)"
                                    " VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET"
                                    " last_id = excluded.last_id, hash = excluded.hash,"
                                    " purged_at = excluded.purged_at",
                                    -1, &anc, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(anc, 1, last);
            sqlite3_bind_blob(anc, 2, hash, SM_HASH_BYTES, SQLITE_STATIC);
            sqlite3_bind_int64(anc, 3, (int64_t)time(NULL));
            rc = sqlite3_step(anc);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_finalize(anc);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK && began)
        sqlp_writes_committed(t->pool);
    if (rc != SQLITE_OK && began && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&t->write_lock);
    if (rc != SQLITE_OK)
        return failed(rc);
    *purged = n;
    return TN_OK;
}
