/*
 * store.c — the tenancy store (tenancy.h) on SQLite in WAL mode: open and
 * close, the schema and its migrations, the key fingerprint check, the
 * read-connection pool, the admin functions (apps, credentials, packages,
 * usage), and the keeping of credentials (keyed hashes for the kinds that
 * are only compared, AES-256-GCM for those a signature scheme needs).
 *
 * SQL is kept portable (INTEGER/REAL/TEXT/BLOB tables, INSERT … ON
 * CONFLICT, UPDATE … RETURNING, no SQLite-only functions in queries) so
 * that a PostgreSQL backend can run the same statements; only the PRAGMAs
 * and BEGIN IMMEDIATE are SQLite's own.
 *
 * Must never: store, log or return a secret in clear (only tn_new_cred
 * carries one, once, to the operator); put a secret into an error message;
 * wait on a lock longer than the busy timeout.
 *
 * Freshness of reads: the read connections (common/sqlite_pool.c) reuse a
 * read snapshot for up to SQLP_SNAPSHOT_MS (100 ms), because beginning and
 * ending a read transaction takes SQLite's process-wide VFS mutex and fcntl
 * locks, on which the HTTP threads queued. Every commit through this handle
 * (the record writer's batches in record.c, the admin functions here, audit
 * purge) calls sqlp_writes_committed, so this process sees its own writes
 * at once; a write by another process (e.g. `shiming app freeze` from the
 * CLI while the server runs) is seen within SQLP_SNAPSHOT_MS. The per-call
 * reads of authentication and the quota check go through the admission
 * cache (admit.c; internal.h says when an entry may be used): the admin
 * functions here bump its generation (tn_cache_changed), its misses read
 * outside any snapshot, and its entries live TN_CACHE_TTL_MS (50 ms). Audit
 * verify and export run their own, fresh read transaction (tn_borrow_own).
 */
#include "tenancy/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/fsutil.h"
#include "common/errbuf.h"
#include "common/sqlite_schema.h"

#define GCM_NONCE 12
#define GCM_TAG 16

/* ---------------------------------------------------------------- schema */

/* Migration N brings a store from version N-1 to N. Append only: never
 * edit a released step; each runs inside the open's write transaction.
 *
 * Dates (packages.expires, daily_usage.day) are YYYYMMDD integers in China
 * time, 0 = never; times are unix seconds, audit.time unix milliseconds. */
static const char *const migrations[] = {
    /* 1: the whole model. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE apps ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL DEFAULT 'active',"
    "  ip_allow TEXT NOT NULL DEFAULT '',"
    "  daily_limit INTEGER NOT NULL DEFAULT 0,"
    "  rate_per_s REAL NOT NULL DEFAULT 0,"
    "  burst INTEGER NOT NULL DEFAULT 0,"
    "  webhook_url TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");"
    /* cred_id is NULL for the hashed kinds; secret_hash NULL for the
     * encrypted ones (NULLs never collide in UNIQUE). */
    "CREATE TABLE credentials ("
    "  id INTEGER PRIMARY KEY,"
    "  app_id INTEGER NOT NULL REFERENCES apps(id),"
    "  kind TEXT NOT NULL,"
    "  cred_id TEXT,"
    "  secret_hash BLOB,"
    "  secret_ciphertext BLOB,"
    "  nonce BLOB,"
    "  tag BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (kind, cred_id),"
    "  UNIQUE (kind, secret_hash)"
    ");"
    "CREATE INDEX credentials_app ON credentials (app_id);"
    "CREATE TABLE packages ("
    "  id INTEGER PRIMARY KEY,"
    "  app_id INTEGER NOT NULL REFERENCES apps(id),"
    "  product TEXT NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  used INTEGER NOT NULL DEFAULT 0,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (app_id, product, expires),"
    "  CHECK (used >= 0 AND used <= total)"
    ");"
    "CREATE TABLE daily_usage ("
    "  app_id INTEGER NOT NULL,"
    "  day INTEGER NOT NULL,"
    "  calls INTEGER NOT NULL DEFAULT 0,"
    "  charged INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (app_id, day)"
    ");"
    "CREATE TABLE idempotency ("
    "  app_id INTEGER NOT NULL,"
    "  product TEXT NOT NULL,"
    "  idem_key TEXT NOT NULL,"
    "  http_status INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (app_id, product, idem_key)"
    ");"
    "CREATE INDEX idempotency_created ON idempotency (created_at);"
    /* id is assigned by the writer (the chain needs it before the insert). */
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  request_id TEXT,"
    "  app_id INTEGER NOT NULL,"
    "  product TEXT,"
    "  dialect TEXT,"
    "  verdict TEXT,"
    "  vendor_code TEXT,"
    "  charged INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  subject_id_masked TEXT,"
    "  subject_name_masked TEXT,"
    "  subject_hash BLOB,"
    "  client_ip TEXT,"
    "  latency_ms REAL NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL"
    ");"
    "CREATE INDEX audit_time ON audit (time);"
    "CREATE INDEX audit_app ON audit (app_id, time);"
    /* One row (id 1) once anything was purged: the last purged row. */
    "CREATE TABLE audit_anchor ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  last_id INTEGER NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  purged_at INTEGER NOT NULL"
    ");"
    /* As alerts.h documents. */
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  app_id INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  product TEXT,"
    "  payload TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  last_error TEXT"
    ");"
    "CREATE INDEX alerts_pending ON alerts (next_attempt_at) WHERE delivered_at IS NULL;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The read connections' statements, by RS_* index. */
static const char *const reader_sql[RS__COUNT] = {
    [RS_APP_BY_ID] = "SELECT " TN_APP_COLUMNS " FROM apps a WHERE a.id = ?1",
    [RS_APP_BY_NAME] = "SELECT " TN_APP_COLUMNS " FROM apps a WHERE a.name = ?1",
    [RS_AUTH_HASH] = "SELECT " TN_APP_COLUMNS ", c.secret_hash"
                     " FROM credentials c JOIN apps a ON a.id = c.app_id"
                     " WHERE c.kind = ?1 AND c.secret_hash = ?2",
    [RS_AUTH_ID] = "SELECT " TN_APP_COLUMNS ", c.secret_ciphertext, c.nonce, c.tag"
                   " FROM credentials c JOIN apps a ON a.id = c.app_id"
                   " WHERE c.kind = ?1 AND c.cred_id = ?2",
    [RS_DAILY] = "SELECT calls FROM daily_usage WHERE app_id = ?1 AND day = ?2",
    [RS_QUOTA] = "SELECT 1 FROM packages WHERE app_id = ?1 AND product = ?2 AND used < total"
                 " AND (expires = 0 OR expires >= ?3) LIMIT 1",
    [RS_IDEM] = "SELECT http_status, body FROM idempotency"
                " WHERE app_id = ?1 AND product = ?2 AND idem_key = ?3 AND created_at >= ?4",
};

/* --------------------------------------------------------- vocabularies */

const char *tn_status_message(tn_status st)
{
    switch (st) {
    case TN_OK: return "ok";
    case TN_ERR_NOT_FOUND: return "not found";
    case TN_ERR_EXISTS: return "already exists";
    case TN_ERR_INVALID: return "invalid value";
    case TN_ERR_UNAVAILABLE: return "the tenancy store is unavailable (locked or unreadable)";
    case TN_ERR_KEY: return "the tenancy store was created with another server key";
    case TN_ERR_SCHEMA: return "the tenancy store's schema is newer than this program";
    case TN_ERR_NOMEM: return "out of memory";
    }
    return "unknown tenancy status";
}

static const char *const app_status_codes[] = {"active", "frozen", "disabled"};

const char *tn_app_status_code(tn_app_status s)
{
    return (unsigned)s < 3 ? app_status_codes[s] : "unknown";
}

bool tn_app_status_from_code(const char *code, tn_app_status *out)
{
    for (unsigned i = 0; code != NULL && i < 3; i++)
        if (strcmp(code, app_status_codes[i]) == 0) {
            *out = (tn_app_status)i;
            return true;
        }
    return false;
}

static const char *const cred_kind_codes[TN_CRED__COUNT] = {
    "native", "bearer", "appcode", "apikey", "accesskey", "appsecret", "secretid", "appkey",
};

const char *tn_cred_kind_code(tn_cred_kind k)
{
    return (unsigned)k < TN_CRED__COUNT ? cred_kind_codes[k] : "unknown";
}

bool tn_cred_kind_from_code(const char *code, tn_cred_kind *out)
{
    for (unsigned i = 0; code != NULL && i < TN_CRED__COUNT; i++)
        if (strcmp(code, cred_kind_codes[i]) == 0) {
            *out = (tn_cred_kind)i;
            return true;
        }
    return false;
}

bool tn_cred_kind_has_id(tn_cred_kind k)
{
    return k == TN_CRED_APIKEY || k == TN_CRED_ACCESSKEY || k == TN_CRED_APPSECRET ||
           k == TN_CRED_SECRETID || k == TN_CRED_APPKEY;
}

/* --------------------------------------------------------------- helpers */

tn_status tn_map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return TN_OK;
    case SQLITE_NOMEM:
        return TN_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
        return TN_ERR_EXISTS;
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
        return TN_ERR_INVALID;
    default:
        return TN_ERR_UNAVAILABLE;
    }
}

static tn_status failed(int rc)
{
    tn_status st = tn_map_sqlite(rc);
    return st == TN_OK ? TN_ERR_UNAVAILABLE : st;
}

int64_t tn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tn_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tn_china_day(int64_t unix_s)
{
    time_t t = (time_t)(unix_s + 8 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (int64_t)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int64_t tn_seconds_to_china_midnight(int64_t unix_s)
{
    int64_t local = unix_s + 8 * 3600;
    int64_t into = ((local % 86400) + 86400) % 86400;
    return 86400 - into;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t tn_china_day_start(sm_date d)
{
    return days_from_civil(d.year, d.month, d.day) * 86400 - 8 * 3600;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s != NULL ? (const char *)s : "";
}

void tn_app_from_row(sqlite3_stmt *st, int col, tn_app *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, col);
    snprintf(out->name, sizeof out->name, "%s", col_text(st, col + 1));
    if (!tn_app_status_from_code(col_text(st, col + 2), &out->status))
        out->status = TN_APP_DISABLED; /* an unknown status refuses, never admits */
    snprintf(out->ip_allow, sizeof out->ip_allow, "%s", col_text(st, col + 3));
    int64_t dl = sqlite3_column_int64(st, col + 4);
    out->daily_limit = dl < 0 ? 0 : dl > UINT32_MAX ? UINT32_MAX : (uint32_t)dl;
    out->rate_per_s = sqlite3_column_double(st, col + 5);
    int64_t b = sqlite3_column_int64(st, col + 6);
    out->burst = b < 0 ? 0 : b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
    snprintf(out->webhook_url, sizeof out->webhook_url, "%s", col_text(st, col + 7));
    out->created_at = sqlite3_column_int64(st, col + 8);
}

/* ------------------------------------------------------------- the pool */

tn_reader *tn_borrow(tenancy *t)
{
    sqlp_reader *pr = sqlp_borrow(t->pool);
    if (pr == NULL)
        return NULL;
    if (sqlp_snapshot(t->pool, pr) != SQLITE_OK) {
        sqlp_end_snapshot(pr);
        sqlp_return(t->pool, pr);
        return NULL;
    }
    tn_reader *rd = sqlp_area(pr);
    rd->pr = pr;
    return rd;
}

tn_reader *tn_borrow_own(tenancy *t)
{
    sqlp_reader *pr = sqlp_borrow(t->pool);
    if (pr == NULL)
        return NULL;
    sqlp_end_snapshot(pr);
    tn_reader *rd = sqlp_area(pr);
    rd->pr = pr;
    return rd;
}

void tn_return(tenancy *t, tn_reader *rd)
{
    if (rd == NULL)
        return;
    for (int i = 0; i < RS__COUNT; i++) {
        sqlite3_reset(rd->st[i]);
        sqlite3_clear_bindings(rd->st[i]);
    }
    sqlp_reader *pr = rd->pr;
    rd->pr = NULL;
    sqlp_return(t->pool, pr);
}

/* ------------------------------------------------------- open and close */

static tn_status open_failure(sqlite3 *db, int rc, const char *path, const char *what, char *err,
                              size_t errlen)
{
    sqs_schema s = {.what = "tenancy store", .path = path};
    sqs_describe(db, rc, &s, what, err, errlen);
    return failed(rc);
}

static tn_status migrate_and_check_key(tenancy *t, char *err, size_t errlen)
{
    sqs_schema s = {"tenancy store", t->path, migrations, SCHEMA_VERSION, t->fingerprint};
    int rc;
    switch (sqs_migrate(t->wdb, &s, &rc, err, errlen)) {
    case SQS_OK:
        return TN_OK;
    case SQS_NEWER_SCHEMA:
        return TN_ERR_SCHEMA;
    case SQS_WRONG_KEY:
        return TN_ERR_KEY;
    case SQS_SQLITE:
    default:
        return failed(rc);
    }
}

/* sqlp_open's callback: context of the store being opened. */
typedef struct {
    tenancy *t;
    char *err;
    size_t errlen;
} reader_ctx;

static int open_reader(void *ctx, unsigned index, sqlite3 **db, void *area)
{
    (void)index;
    reader_ctx *c = ctx;
    tenancy *t = c->t;
    char *err = c->err;
    size_t errlen = c->errlen;
    tn_reader *rd = area;
    int rc = sqlite3_open_v2(t->path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    rd->db = *db;
    if (rc != SQLITE_OK)
        return (int)open_failure(rd->db, rc, t->path, "opening a read connection", err, errlen);
    sqlite3_busy_timeout(rd->db, (int)t->busy_ms);
    sqs_exec(rd->db, "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -2048;", NULL);
    for (int i = 0; i < RS__COUNT; i++) {
        rc = sqlite3_prepare_v3(rd->db, reader_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &rd->st[i],
                                NULL);
        if (rc != SQLITE_OK)
            return (int)open_failure(rd->db, rc, t->path, "preparing the lookups", err, errlen);
    }
    return TN_OK;
}

void tenancy_close(tenancy *t)
{
    if (t == NULL)
        return;
    tn_writer_stop(t);
    if (t->alerts != NULL) {
        alerts_stop(t->alerts);
        t->alerts = NULL;
    }
    sqlp_close(t->pool);
    tn_writer_finalize(t);
    if (t->wdb != NULL)
        sqlite3_close_v2(t->wdb);
    tn_limits_free(t);
    tn_caps_free(t->caps);
    tn_nonces_free(t->nonces);
    sm_hmac_free(t->cred_mac);
    sm_hmac_free(t->subject_mac);
    sm_key_clear(&t->secret_key);
    pthread_mutex_destroy(&t->write_lock);
    pthread_mutex_destroy(&t->q_lock);
    pthread_cond_destroy(&t->q_cond);
    pthread_mutex_destroy(&t->lim_lock);
    pthread_mutex_destroy(&t->ck_lock);
    pthread_mutex_destroy(&t->cache_lock);
    pthread_cond_destroy(&t->ck_cond);
    free(t->path);
    free(t);
}

tn_status tenancy_open(const tn_options *opt, tenancy **out, char *err, size_t errlen)
{
    sqs_init_process();
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (opt == NULL || opt->path == NULL || opt->path[0] == '\0' || opt->key == NULL) {
        set_err(err, errlen, "tenancy_open: no path or no key");
        return TN_ERR_INVALID;
    }
    tenancy *t = calloc(1, sizeof *t);
    if (t == NULL)
        return TN_ERR_NOMEM;
    pthread_mutex_init(&t->write_lock, NULL);
    pthread_mutex_init(&t->q_lock, NULL);
    pthread_mutex_init(&t->lim_lock, NULL);
    pthread_mutex_init(&t->ck_lock, NULL);
    pthread_mutex_init(&t->cache_lock, NULL);
    pthread_cond_init(&t->ck_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->q_cond, &ca);
    pthread_condattr_destroy(&ca);

    t->busy_ms = opt->busy_timeout_ms ? opt->busy_timeout_ms : TN_DEFAULT_BUSY_MS;
    t->n_readers = TN_READERS;
    t->path = strdup(opt->path);
    sm_key_fingerprint(opt->key, t->fingerprint);
    sm_key cred_key, subject_key;
    bool keys_ok = sm_key_derive(opt->key, "tenancy/credential", &cred_key) &&
                   sm_key_derive(opt->key, "tenancy/subject", &subject_key) &&
                   sm_key_derive(opt->key, "tenancy/secret", &t->secret_key);
    if (keys_ok) {
        t->cred_mac = sm_hmac_new(&cred_key);
        t->subject_mac = sm_hmac_new(&subject_key);
    }
    sm_key_clear(&cred_key);
    sm_key_clear(&subject_key);
    t->caps = opt->no_subject_caps ? NULL : tn_caps_new();
    t->nonces = tn_nonces_new();
    if (t->path == NULL || t->cred_mac == NULL || t->subject_mac == NULL ||
        (t->caps == NULL && !opt->no_subject_caps) || t->nonces == NULL ||
        !tn_limits_init(t)) {
        set_err(err, errlen, keys_ok ? "out of memory" : "cannot derive the tenancy keys");
        tenancy_close(t);
        return TN_ERR_NOMEM;
    }

    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (opt->create) {
        flags |= SQLITE_OPEN_CREATE;
        if (access(t->path, F_OK) != 0) {
            /* Created here with mode 0600: -wal and -shm inherit it. */
            if (!make_parent_dirs(t->path)) {
                set_err(err, errlen, "cannot create the directory of tenancy store '%s': %s",
                        t->path, strerror(errno));
                tenancy_close(t);
                return TN_ERR_UNAVAILABLE;
            }
            int fd = open(t->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0)
                close(fd);
        }
    } else if (access(t->path, F_OK) != 0) {
        set_err(err, errlen, "tenancy store '%s' does not exist", t->path);
        tenancy_close(t);
        return TN_ERR_UNAVAILABLE;
    }
    tn_status st;
    int rc = sqlite3_open_v2(t->path, &t->wdb, flags, NULL);
    if (rc != SQLITE_OK) {
        st = open_failure(t->wdb, rc, t->path, "opening", err, errlen);
        tenancy_close(t);
        return st;
    }
    sqlite3_extended_result_codes(t->wdb, 1);
    sqlite3_busy_timeout(t->wdb, (int)t->busy_ms);
    sqlite3_stmt *jm = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v2(t->wdb, "PRAGMA journal_mode = WAL", -1, &jm, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(jm)) == SQLITE_ROW) {
        wal = strcmp(col_text(jm, 0), "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(jm);
    if (rc != SQLITE_OK || !wal) {
        st = open_failure(t->wdb, rc != SQLITE_OK ? rc : SQLITE_CANTOPEN, t->path,
                          "switching to WAL mode", err, errlen);
        tenancy_close(t);
        return st;
    }
    if (!sqs_exec(t->wdb,
                  "PRAGMA synchronous = NORMAL;"
                  "PRAGMA foreign_keys = ON;"
                  "PRAGMA temp_store = MEMORY;"
                  "PRAGMA secure_delete = ON;"
                  "PRAGMA journal_size_limit = 67108864;",
                  &rc)) {
        st = open_failure(t->wdb, rc, t->path, "configuring", err, errlen);
        tenancy_close(t);
        return st;
    }
    st = migrate_and_check_key(t, err, errlen);
    if (st != TN_OK) {
        tenancy_close(t);
        return st;
    }
    rc = tn_chain_load(t);
    if (rc != SQLITE_OK) {
        st = open_failure(t->wdb, rc, t->path, "reading the audit chain head", err, errlen);
        tenancy_close(t);
        return st;
    }
    if (!tn_writer_prepare(t)) {
        st = open_failure(t->wdb, sqlite3_errcode(t->wdb), t->path, "preparing the writer", err,
                          errlen);
        tenancy_close(t);
        return st;
    }
    reader_ctx ctx = {t, err, errlen};
    int ps = sqlp_open(t->n_readers, sizeof(tn_reader), t->busy_ms, open_reader, &ctx, &t->pool);
    if (ps != 0) {
        if (ps == SQLP_ERR_NOMEM)
            set_err(err, errlen, "cannot open the tenancy read pool: out of memory or no thread");
        tenancy_close(t);
        return ps == SQLP_ERR_NOMEM ? TN_ERR_NOMEM : (tn_status)ps;
    }
    if (opt->start_threads) {
        if (!tn_writer_start(t)) {
            set_err(err, errlen, "cannot start the tenancy writer thread");
            tenancy_close(t);
            return TN_ERR_NOMEM;
        }
        t->alerts = alerts_start(t->path, opt->key, err, errlen);
        if (t->alerts == NULL) {
            tenancy_close(t);
            return TN_ERR_UNAVAILABLE;
        }
    }
    *out = t;
    return TN_OK;
}

/* ----------------------------------------------------------------- apps */

static bool name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n >= TN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool url_valid(const char *url)
{
    size_t n = strlen(url);
    if (n == 0)
        return true;
    if (n >= TN_URL_MAX)
        return false;
    size_t host;
    if (strncmp(url, "http://", 7) == 0)
        host = 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = 8;
    else
        return false;
    if (url[host] == '\0' || url[host] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return false;
    return true;
}

tn_status tenancy_app_create(tenancy *t, const char *name, tn_app *out, char *err, size_t errlen)
{
    if (!name_valid(name)) {
        set_err(err, errlen, "an app name is 1 to %d characters of A-Z a-z 0-9 . _ -",
                TN_NAME_MAX - 1);
        return TN_ERR_INVALID;
    }
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&t->write_lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb, "INSERT INTO apps (name, created_at) VALUES (?1, ?2)", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        rc = sqlite3_step(st);
    }
    int64_t id = sqlite3_last_insert_rowid(t->wdb);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        tn_cache_changed(t); /* readers and the admission cache see it at once */
    pthread_mutex_unlock(&t->write_lock);
    if (rc != SQLITE_DONE) {
        tn_status s = failed(rc);
        if (s == TN_ERR_EXISTS)
            set_err(err, errlen, "an app named '%s' exists", name);
        else
            set_err(err, errlen, "cannot create the app: %s", sqlite3_errstr(rc));
        return s;
    }
    if (out != NULL) {
        memset(out, 0, sizeof *out);
        out->id = id;
        snprintf(out->name, sizeof out->name, "%s", name);
        out->status = TN_APP_ACTIVE;
        out->created_at = now;
    }
    return TN_OK;
}

static bool all_digits(const char *s)
{
    if (*s == '\0' || strlen(s) > 18)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static tn_status app_lookup(tn_reader *rd, int which, const char *name, int64_t id, tn_app *out)
{
    sqlite3_stmt *st = rd->st[which];
    if (which == RS_APP_BY_ID)
        sqlite3_bind_int64(st, 1, id);
    else
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    tn_status s;
    if (rc == SQLITE_ROW) {
        tn_app_from_row(st, 0, out);
        s = TN_OK;
    } else {
        s = rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : failed(rc);
    }
    sqlite3_reset(st);
    return s;
}

tn_status tenancy_app_get(tenancy *t, const char *name_or_id, tn_app *out)
{
    if (name_or_id == NULL || *name_or_id == '\0')
        return TN_ERR_NOT_FOUND;
    tn_reader *rd = tn_borrow(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    tn_status s = app_lookup(rd, RS_APP_BY_NAME, name_or_id, 0, out);
    if (s == TN_ERR_NOT_FOUND && all_digits(name_or_id))
        s = app_lookup(rd, RS_APP_BY_ID, NULL, strtoll(name_or_id, NULL, 10), out);
    tn_return(t, rd);
    return s;
}

tn_status tenancy_app_list(tenancy *t, tn_app **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    tn_reader *rd = tn_borrow(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(rd->db, "SELECT " TN_APP_COLUMNS " FROM apps a ORDER BY a.id", -1,
                                &st, NULL);
    tn_app *arr = NULL;
    size_t cnt = 0, cap = 0;
    tn_status s = TN_OK;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            tn_app *na = realloc(arr, nc * sizeof *na);
            if (na == NULL) {
                s = TN_ERR_NOMEM;
                break;
            }
            arr = na;
            cap = nc;
        }
        tn_app_from_row(st, 0, &arr[cnt++]);
        rc = SQLITE_OK;
    }
    if (s == TN_OK && rc != SQLITE_DONE)
        s = failed(rc);
    sqlite3_finalize(st);
    tn_return(t, rd);
    if (s != TN_OK) {
        free(arr);
        return s;
    }
    *out = arr;
    *n = cnt;
    return TN_OK;
}

tn_status tenancy_app_set_status(tenancy *t, int64_t app_id, tn_app_status s)
{
    if ((unsigned)s > TN_APP_DISABLED)
        return TN_ERR_INVALID;
    pthread_mutex_lock(&t->write_lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb, "UPDATE apps SET status = ?2 WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, app_id);
        sqlite3_bind_text(st, 2, tn_app_status_code(s), -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int changed = sqlite3_changes(t->wdb);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        tn_cache_changed(t); /* readers and the admission cache see it at once */
    pthread_mutex_unlock(&t->write_lock);
    if (rc != SQLITE_DONE)
        return failed(rc);
    return changed > 0 ? TN_OK : TN_ERR_NOT_FOUND;
}

tn_status tenancy_app_update(tenancy *t, const tn_app *app, char *err, size_t errlen)
{
    if (memchr(app->ip_allow, '\0', sizeof app->ip_allow) == NULL ||
        !tn_ip_allow_valid(app->ip_allow, err, errlen))
        return TN_ERR_INVALID;
    if (memchr(app->webhook_url, '\0', sizeof app->webhook_url) == NULL ||
        !url_valid(app->webhook_url)) {
        set_err(err, errlen, "webhook_url must be an http:// or https:// URL (or empty)");
        return TN_ERR_INVALID;
    }
    if (!isfinite(app->rate_per_s) || app->rate_per_s < 0 || app->rate_per_s > 1e9) {
        set_err(err, errlen, "rate_per_s must be a number from 0 (no limit) to 1e9");
        return TN_ERR_INVALID;
    }
    if (app->rate_per_s > 0 && app->burst < 1) {
        set_err(err, errlen, "burst must be at least 1 when rate_per_s is set");
        return TN_ERR_INVALID;
    }
    pthread_mutex_lock(&t->write_lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb,
                                "UPDATE apps SET ip_allow = ?2, daily_limit = ?3, rate_per_s = ?4,"
                                " burst = ?5, webhook_url = ?6 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, app->id);
        sqlite3_bind_text(st, 2, app->ip_allow, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, app->daily_limit);
        sqlite3_bind_double(st, 4, app->rate_per_s);
        sqlite3_bind_int64(st, 5, app->burst);
        sqlite3_bind_text(st, 6, app->webhook_url, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int changed = sqlite3_changes(t->wdb);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        tn_cache_changed(t); /* readers and the admission cache see it at once */
    pthread_mutex_unlock(&t->write_lock);
    if (rc != SQLITE_DONE) {
        set_err(err, errlen, "cannot update the app: %s", sqlite3_errstr(rc));
        return failed(rc);
    }
    if (changed == 0) {
        set_err(err, errlen, "no app with id %lld", (long long)app->id);
        return TN_ERR_NOT_FOUND;
    }
    return TN_OK;
}

/* ---------------------------------------------------------- credentials */

bool tn_cred_hash(const tenancy *t, tn_cred_kind kind, const char *secret, size_t len,
                  uint8_t out[SM_HASH_BYTES])
{
    const char *code = tn_cred_kind_code(kind);
    return sm_hmac_compute(t->cred_mac, code, strlen(code) + 1, secret, len, out);
}

/* AAD of an encrypted secret: kind code, NUL, id. */
static size_t make_aad(tn_cred_kind kind, const char *id, char *aad, size_t cap)
{
    int n = snprintf(aad, cap, "%s%c%s", tn_cred_kind_code(kind), 0, id);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static bool encrypt_secret(const tenancy *t, tn_cred_kind kind, const char *id, const char *secret,
                           size_t len, uint8_t *ct, uint8_t nonce[GCM_NONCE], uint8_t tag[GCM_TAG])
{
    char aad[16 + TN_CRED_ID_MAX];
    size_t aad_len = make_aad(kind, id, aad, sizeof aad);
    if (RAND_bytes(nonce, GCM_NONCE) != 1)
        return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    bool ok = ctx != NULL &&
              EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE, NULL) == 1 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, t->secret_key.bytes, nonce) == 1 &&
              EVP_EncryptUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)aad_len) == 1 &&
              EVP_EncryptUpdate(ctx, ct, &outl, (const unsigned char *)secret, (int)len) == 1 &&
              EVP_EncryptFinal_ex(ctx, ct + outl, &fl) == 1 &&
              (size_t)(outl + fl) == len &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

bool tn_cred_decrypt(const tenancy *t, tn_cred_kind kind, const char *id, const uint8_t *ct,
                     size_t ct_len, const uint8_t *nonce, size_t nonce_len, const uint8_t *tag,
                     size_t tag_len, char out[TN_SECRET_MAX])
{
    if (ct == NULL || nonce == NULL || tag == NULL || ct_len == 0 || ct_len >= TN_SECRET_MAX ||
        nonce_len != GCM_NONCE || tag_len != GCM_TAG)
        return false;
    char aad[16 + TN_CRED_ID_MAX];
    size_t aad_len = make_aad(kind, id, aad, sizeof aad);
    uint8_t tagbuf[GCM_TAG];
    memcpy(tagbuf, tag, GCM_TAG);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    bool ok = ctx != NULL &&
              EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE, NULL) == 1 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, t->secret_key.bytes, nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)aad_len) == 1 &&
              EVP_DecryptUpdate(ctx, (unsigned char *)out, &outl, ct, (int)ct_len) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tagbuf) == 1 &&
              EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outl, &fl) == 1 &&
              (size_t)(outl + fl) == ct_len;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, TN_SECRET_MAX);
        return false;
    }
    out[ct_len] = '\0';
    if (memchr(out, '\0', ct_len) != NULL) { /* not a secret we stored */
        OPENSSL_cleanse(out, TN_SECRET_MAX);
        return false;
    }
    return true;
}

static bool secret_well_formed(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n >= TN_SECRET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static bool id_well_formed(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= TN_CRED_ID_MAX)
        return false;
    return name_valid(s);
}

/* n random characters of `alphabet` (rejection sampling: unbiased). */
static bool random_chars(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)k;
    size_t done = 0;
    uint8_t buf[64];
    while (done < n) {
        if (RAND_bytes(buf, sizeof buf) != 1)
            return false;
        for (size_t i = 0; i < sizeof buf && done < n; i++)
            if (buf[i] < limit)
                out[done++] = alphabet[buf[i] % k];
    }
    out[n] = '\0';
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* 32 random bytes, as "<prefix>" + base64url (no padding) or lower hex. */
static bool random_secret(char *out, size_t cap, const char *prefix, bool hex)
{
    uint8_t raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    if (hex) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof raw; i++) {
            out[p + 2 * i] = digits[raw[i] >> 4];
            out[p + 2 * i + 1] = digits[raw[i] & 15];
        }
        out[p + 2 * sizeof raw] = '\0';
    } else {
        unsigned char b64[48];
        int n = EVP_EncodeBlock(b64, raw, (int)sizeof raw);
        size_t j = p;
        for (int i = 0; i < n && j + 1 < cap; i++) {
            char c = (char)b64[i];
            if (c == '=')
                break;
            out[j++] = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        out[j] = '\0';
        OPENSSL_cleanse(b64, sizeof b64);
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return true;
}

static bool generate_secret(tn_cred_kind kind, char out[TN_SECRET_MAX])
{
    switch (kind) {
    case TN_CRED_NATIVE: return random_secret(out, TN_SECRET_MAX, "sk_", false);
    case TN_CRED_BEARER: return random_secret(out, TN_SECRET_MAX, "bt_", false);
    case TN_CRED_APPCODE: return random_secret(out, TN_SECRET_MAX, "", true);
    case TN_CRED_APIKEY: return random_secret(out, TN_SECRET_MAX, "", true);
    case TN_CRED_ACCESSKEY: return random_chars(out, 30, alnum);
    case TN_CRED_APPSECRET: return random_secret(out, TN_SECRET_MAX, "", true);
    case TN_CRED_SECRETID: return random_chars(out, 32, alnum);
    case TN_CRED_APPKEY: return random_chars(out, 32, alnum);
    default: return false;
    }
}

static bool generate_id(tn_cred_kind kind, char out[TN_CRED_ID_MAX])
{
    switch (kind) {
    case TN_CRED_APPSECRET: /* numeric appid: 10 digits, no leading zero */
        if (!random_chars(out, 10, "0123456789"))
            return false;
        if (out[0] == '0')
            out[0] = '1';
        return true;
    case TN_CRED_ACCESSKEY:
        memcpy(out, "LTAI", 4);
        return random_chars(out + 4, 20, alnum);
    case TN_CRED_APIKEY:
        memcpy(out, "ak", 2);
        return random_chars(out + 2, 14, alnum);
    case TN_CRED_SECRETID:
        memcpy(out, "AKID", 4);
        return random_chars(out + 4, 32, alnum);
    case TN_CRED_APPKEY: /* the gateway's AppKeys are 8-digit numbers */
        if (!random_chars(out, 8, "0123456789"))
            return false;
        if (out[0] == '0')
            out[0] = '2';
        return true;
    default:
        return false;
    }
}

tn_status tenancy_cred_add(tenancy *t, int64_t app_id, tn_cred_kind kind, const char *id,
                           const char *secret, tn_new_cred *out, char *err, size_t errlen)
{
    if ((unsigned)kind >= TN_CRED__COUNT) {
        set_err(err, errlen, "unknown credential kind");
        return TN_ERR_INVALID;
    }
    bool has_id = tn_cred_kind_has_id(kind);
    if (!has_id && id != NULL && id[0] != '\0') {
        set_err(err, errlen, "a %s credential has no id", tn_cred_kind_code(kind));
        return TN_ERR_INVALID;
    }
    if (has_id && id != NULL && !id_well_formed(id)) {
        set_err(err, errlen, "a credential id is 1 to %d characters of A-Z a-z 0-9 . _ -",
                TN_CRED_ID_MAX - 1);
        return TN_ERR_INVALID;
    }
    if (secret != NULL && !secret_well_formed(secret)) {
        set_err(err, errlen, "a secret is 8 to %d printable ASCII characters without spaces",
                TN_SECRET_MAX - 1);
        return TN_ERR_INVALID;
    }
    tn_new_cred nc;
    memset(&nc, 0, sizeof nc);
    nc.kind = kind;
    if (has_id) {
        if (id != NULL)
            snprintf(nc.id, sizeof nc.id, "%s", id);
        else if (!generate_id(kind, nc.id)) {
            set_err(err, errlen, "the random generator failed");
            return TN_ERR_NOMEM;
        }
    }
    if (secret != NULL)
        snprintf(nc.secret, sizeof nc.secret, "%s", secret);
    else if (!generate_secret(kind, nc.secret)) {
        set_err(err, errlen, "the random generator failed");
        return TN_ERR_NOMEM;
    }
    size_t slen = strlen(nc.secret);

    uint8_t hash[SM_HASH_BYTES], ct[TN_SECRET_MAX], nonce[GCM_NONCE], tag[GCM_TAG];
    bool ok = has_id ? encrypt_secret(t, kind, nc.id, nc.secret, slen, ct, nonce, tag)
                     : tn_cred_hash(t, kind, nc.secret, slen, hash);
    if (!ok) {
        OPENSSL_cleanse(&nc, sizeof nc);
        set_err(err, errlen, "cannot protect the secret (crypto failure)");
        return TN_ERR_NOMEM;
    }

    pthread_mutex_lock(&t->write_lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb,
                                "INSERT INTO credentials (app_id, kind, cred_id, secret_hash,"
                                " secret_ciphertext, nonce, tag, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, app_id);
        sqlite3_bind_text(st, 2, tn_cred_kind_code(kind), -1, SQLITE_STATIC);
        if (has_id) {
            sqlite3_bind_text(st, 3, nc.id, -1, SQLITE_STATIC);
            sqlite3_bind_null(st, 4);
            sqlite3_bind_blob(st, 5, ct, (int)slen, SQLITE_STATIC);
            sqlite3_bind_blob(st, 6, nonce, GCM_NONCE, SQLITE_STATIC);
            sqlite3_bind_blob(st, 7, tag, GCM_TAG, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 3);
            sqlite3_bind_blob(st, 4, hash, SM_HASH_BYTES, SQLITE_STATIC);
            sqlite3_bind_null(st, 5);
            sqlite3_bind_null(st, 6);
            sqlite3_bind_null(st, 7);
        }
        sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
        rc = sqlite3_step(st);
    }
    int xrc = sqlite3_extended_errcode(t->wdb);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        tn_cache_changed(t); /* readers and the admission cache see it at once */
    pthread_mutex_unlock(&t->write_lock);
    OPENSSL_cleanse(hash, sizeof hash);
    OPENSSL_cleanse(ct, sizeof ct);
    if (rc != SQLITE_DONE) {
        OPENSSL_cleanse(&nc, sizeof nc);
        if (xrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            set_err(err, errlen, "no app with id %lld", (long long)app_id);
            return TN_ERR_NOT_FOUND;
        }
        tn_status s = failed(rc);
        if (s == TN_ERR_EXISTS)
            set_err(err, errlen, has_id ? "a %s credential with that id exists"
                                        : "that %s secret is already in use",
                    tn_cred_kind_code(kind));
        else
            set_err(err, errlen, "cannot store the credential: %s", sqlite3_errstr(rc));
        return s;
    }
    if (out != NULL)
        *out = nc;
    OPENSSL_cleanse(&nc, sizeof nc);
    return TN_OK;
}

/* ------------------------------------------------------------- packages */

tn_status tenancy_package_add(tenancy *t, int64_t app_id, const char *product, int64_t total,
                              sm_date expires, char *err, size_t errlen)
{
    if (!tn_product_known(product)) {
        set_err(err, errlen, "unknown product '%s'", product ? product : "");
        return TN_ERR_INVALID;
    }
    if (total <= 0 || total > INT64_C(1000000000000)) {
        set_err(err, errlen, "a package has 1 to 10^12 units");
        return TN_ERR_INVALID;
    }
    if (expires.year != 0 && !sm_date_is_valid(expires.year, expires.month, expires.day)) {
        set_err(err, errlen, "the expiry is not a real date");
        return TN_ERR_INVALID;
    }
    pthread_mutex_lock(&t->write_lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb,
                                "INSERT INTO packages (app_id, product, total, used, expires,"
                                " created_at) VALUES (?1, ?2, ?3, 0, ?4, ?5)"
                                " ON CONFLICT (app_id, product, expires)"
                                " DO UPDATE SET total = packages.total + excluded.total",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, app_id);
        sqlite3_bind_text(st, 2, product, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, total);
        sqlite3_bind_int64(st, 4, sqs_date_to_int(expires));
        sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
        rc = sqlite3_step(st);
    }
    int xrc = sqlite3_extended_errcode(t->wdb);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        tn_cache_changed(t); /* readers and the admission cache see it at once */
    pthread_mutex_unlock(&t->write_lock);
    if (rc != SQLITE_DONE) {
        if (xrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            set_err(err, errlen, "no app with id %lld", (long long)app_id);
            return TN_ERR_NOT_FOUND;
        }
        set_err(err, errlen, "cannot add the package: %s", sqlite3_errstr(rc));
        tn_status s = failed(rc);
        return s == TN_ERR_EXISTS ? TN_ERR_INVALID : s;
    }
    return TN_OK;
}

tn_status tenancy_usage(tenancy *t, int64_t app_id, tn_package **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    tn_reader *rd = tn_borrow(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    tn_app app;
    tn_status s = app_lookup(rd, RS_APP_BY_ID, NULL, app_id, &app);
    if (s != TN_OK) {
        tn_return(t, rd);
        return s;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(rd->db,
                                "SELECT product, total, used, expires FROM packages"
                                " WHERE app_id = ?1 ORDER BY product, expires = 0, expires, id",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(st, 1, app_id);
    tn_package *arr = NULL;
    size_t cnt = 0, cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            tn_package *na = realloc(arr, nc * sizeof *na);
            if (na == NULL) {
                s = TN_ERR_NOMEM;
                break;
            }
            arr = na;
            cap = nc;
        }
        tn_package *p = &arr[cnt++];
        memset(p, 0, sizeof *p);
        snprintf(p->product, sizeof p->product, "%s", col_text(st, 0));
        p->total = sqlite3_column_int64(st, 1);
        p->used = sqlite3_column_int64(st, 2);
        (void)sqs_int_to_date(sqlite3_column_int64(st, 3), &p->expires);
        rc = SQLITE_OK;
    }
    if (s == TN_OK && rc != SQLITE_DONE)
        s = failed(rc);
    sqlite3_finalize(st);
    tn_return(t, rd);
    if (s != TN_OK) {
        free(arr);
        return s;
    }
    *out = arr;
    *n = cnt;
    return TN_OK;
}
