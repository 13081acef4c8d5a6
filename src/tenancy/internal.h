/*
 * internal.h — what the tenancy/ files share and nothing outside tenancy/
 * may include (tests excepted): the struct tenancy, the read-connection
 * pool, the writer's queue, the in-memory limiters, the audit row and its
 * canonical hash, and a few helpers (time, dates, SQLite status mapping).
 *
 * Must never: hold a secret in clear beyond the call that needs it (keys
 * live here only as derived sub-keys / prepared HMACs).
 *
 * Locking order (never taken the other way round): write_lock, then
 * q_lock; the read pool's lock (common/sqlite_pool.c) and lim_lock are
 * leaves (nothing else taken inside).
 */
#ifndef SHIMING_TENANCY_INTERNAL_H
#define SHIMING_TENANCY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/sqlite_schema.h"
#include "common/sqlite_pool.h"
#include "tenancy/alerts.h"
#include "tenancy/tenancy.h"

#define TN_DEFAULT_BUSY_MS 1000
#define TN_READERS 8
#define TN_IDEM_TTL_S 86400         /* idempotent answers are kept 24 h */
#define TN_CACHE_TTL_MS 50          /* the admission cache (see struct tenancy) */
#define TN_AUTH_CACHE 256
#define TN_QUOTA_CACHE 256

/* Failed-auth limiter: AUTH_FAIL_MAX failures within AUTH_WINDOW_MS from
 * one IP block it until the window ends. AUTH_SLOTS entries in all
 * (AUTH_WAYS-way set-associative; the oldest of a set is evicted). */
#define TN_AUTH_FAIL_MAX 20
#define TN_AUTH_WINDOW_MS 60000
#define TN_AUTH_SETS 512
#define TN_AUTH_WAYS 8

/* Prepared statements of a read connection. */
enum {
    RS_APP_BY_ID = 0,
    RS_APP_BY_NAME,
    RS_AUTH_HASH,     /* kind, secret_hash -> app columns + stored hash */
    RS_AUTH_ID,       /* kind, cred_id -> app columns + ciphertext, nonce, tag */
    RS_DAILY,         /* app_id, day -> calls */
    RS_QUOTA,         /* app_id, product, today -> 1 when a package has units left */
    RS_IDEM,          /* app_id, product, key, min created_at -> status, body */
    RS__COUNT
};

/* A read connection: the per-reader area of the pool (common/sqlite_pool.h). */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *st[RS__COUNT];
    sqlp_reader *pr;            /* its pool reader; set by tn_borrow* */
} tn_reader;

/* Prepared statements of the writer connection (record.c). */
enum {
    WS_PKG_FIND = 0, /* the package a charge goes to */
    WS_PKG_ADD,      /* package id, units: a batch's charges of one package */
    WS_DAILY,        /* app, day, calls, charged: a batch's counts of one day */
    WS_AUDIT,
    WS_IDEM,
    WS_IDEM_PURGE,
    WS_BEGIN,
    WS_COMMIT,
    WS_HEAD,         /* the newest audit row: the chain head */
    WS__COUNT
};

/* One queued record (tenancy_record_async): malloc'ed by the enqueuer,
 * freed by the writer after `done` has run. The record struct is a copy;
 * its strings are the caller's, kept alive until `done`. */
typedef struct tn_pending {
    tn_record rec;
    tn_record_result result;
    tn_record_done done;
    void *arg;
    struct tn_pending *next;
} tn_pending;

/* Per-app in-memory state: the token bucket and the in-flight count of
 * admitted metered calls not yet recorded (for the daily limit). */
typedef struct tn_app_state {
    int64_t app_id;
    double tokens;
    int64_t last_ms;            /* last refill (monotonic) */
    bool bucket_init;
    int64_t inflight;
    struct tn_app_state *next;
} tn_app_state;

typedef struct {
    char ip[48];
    int64_t window_start_ms;    /* monotonic; 0 = empty slot */
    int64_t last_ms;
    uint32_t failures;
} tn_auth_slot;

/* The chain head: the newest audit row (or the anchor). */
typedef struct {
    int64_t last_id;
    int64_t last_time_ms;
    uint8_t hash[SM_HASH_BYTES];
} tn_chain_head;

/* caps.c: the per-identity daily counters. */
typedef struct tn_caps tn_caps;
tn_caps *tn_caps_new(void);
void tn_caps_free(tn_caps *c);

/* nonce.c: the nonces signed requests have used (tenancy_nonce_fresh). */
typedef struct tn_nonces tn_nonces;
tn_nonces *tn_nonces_new(void);
void tn_nonces_free(tn_nonces *n);

struct tenancy {
    char *path;
    unsigned busy_ms;
    char fingerprint[17];
    sm_hmac *cred_mac;          /* sub-key "tenancy/credential" */
    sm_hmac *subject_mac;       /* sub-key "tenancy/subject" */
    sm_key secret_key;          /* sub-key "tenancy/secret" (AES-256-GCM) */

    /* The writer connection: admin writes, the record writer, purge. */
    sqlite3 *wdb;
    sqlite3_stmt *ws[WS__COUNT];
    pthread_mutex_t write_lock;
    tn_chain_head head;         /* under write_lock; re-read at each batch */
    int64_t last_idem_purge_ms; /* under write_lock */

    /* The checkpointer (record.c): WAL checkpoints on their own connection
     * and thread, so that the writer's commits never wait on the fsync of
     * the database file. Started with the writer; when it is not running,
     * SQLite's automatic checkpoints on wdb do the work. */
    sqlite3 *ckdb;
    pthread_t ckpt;
    bool ckpt_running;
    pthread_mutex_t ck_lock;    /* leaf */
    pthread_cond_t ck_cond;
    bool ck_due, ck_stop;       /* under ck_lock */

    /* Read connections, with snapshot reuse (see store.c's top comment). */
    sqlp_pool *pool;
    unsigned n_readers;

    /* The record queue and its writer thread. */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;      /* work for the writer */
    tn_pending *q_head, *q_tail;
    bool writer_running;
    bool stopping;
    pthread_t writer;

    alerts *alerts;             /* delivery thread; NULL when not started */

    /* Limiters. */
    pthread_mutex_t lim_lock;
    tn_app_state **apps;        /* hash buckets */
    size_t n_app_buckets;
    tn_auth_slot *auth;         /* TN_AUTH_SETS * TN_AUTH_WAYS */

    /* The admission cache (admit.c): what a credential's keyed hash names
     * (the app: status, allowlist, limits) and whether an app has units of
     * a product left, so that a call reads nothing from SQL. An entry is
     * used only while cache_gen is the one it was read under and for at
     * most TN_CACHE_TTL_MS: every admin write of this process and every
     * batch that used up a package (or found none) bumps cache_gen, so the
     * server's own changes count at once; another process's changes (the
     * CLI) within TN_CACHE_TTL_MS, the misses reading outside any
     * snapshot. */
    _Atomic uint64_t cache_gen;
    pthread_mutex_t cache_lock; /* leaf */
    struct tn_auth_entry *auth_cache;   /* TN_AUTH_CACHE entries */
    struct tn_quota_entry *quota_cache; /* TN_QUOTA_CACHE entries */

    tn_caps *caps;              /* per-identity daily caps (caps.c) */
    tn_nonces *nonces;          /* nonces of signed requests (nonce.c) */

    /* Counters (tests, metrics). */
    _Atomic uint64_t n_batches;  /* committed record transactions */
    _Atomic uint64_t n_records;  /* records in them */
};

/* ----------------------------------------------------------- store.c */

tn_status tn_map_sqlite(int rc);
/* A reader inside a read snapshot at most SQLP_SNAPSHOT_MS old (and none
 * older than the last write through this handle); NULL when none is free
 * within the busy timeout or the snapshot cannot begin. */
tn_reader *tn_borrow(tenancy *t);
/* A reader outside any transaction, for a caller's own BEGIN … COMMIT. */
tn_reader *tn_borrow_own(tenancy *t);
void tn_return(tenancy *t, tn_reader *rd);
/* Columns id, name, status, ip_allow, daily_limit, rate_per_s, burst,
 * webhook_url, created_at starting at `col`. */
#define TN_APP_COLUMNS "a.id, a.name, a.status, a.ip_allow, a.daily_limit, a.rate_per_s," \
                       " a.burst, a.webhook_url, a.created_at"
#define TN_APP_NCOLS 9
void tn_app_from_row(sqlite3_stmt *st, int col, tn_app *out);
int64_t tn_now_ms(void);        /* CLOCK_REALTIME, ms */
int64_t tn_mono_ms(void);       /* CLOCK_MONOTONIC, ms */
int64_t tn_china_day(int64_t unix_s); /* YYYYMMDD in UTC+8 */
int64_t tn_seconds_to_china_midnight(int64_t unix_s);
/* The unix second at which China-time day `d` begins. */
int64_t tn_china_day_start(sm_date d);
/* Keyed hash of a hashed-kind secret: HMAC(kind code || 0x00 || secret). */
bool tn_cred_hash(const tenancy *t, tn_cred_kind kind, const char *secret, size_t len,
                  uint8_t out[SM_HASH_BYTES]);
/* Decrypt an encrypted-kind secret (AAD: kind code || 0x00 || id) into
 * out (NUL-terminated); false when it does not authenticate. */
bool tn_cred_decrypt(const tenancy *t, tn_cred_kind kind, const char *id, const uint8_t *ct,
                     size_t ct_len, const uint8_t *nonce, size_t nonce_len, const uint8_t *tag,
                     size_t tag_len, char out[TN_SECRET_MAX]);

/* ------------------------------------------------------------ admit.c */

bool tn_limits_init(tenancy *t);
/* Validates a comma-separated allowlist; false with a message on error. */
bool tn_ip_allow_valid(const char *list, char *err, size_t errlen);
void tn_limits_free(tenancy *t);
/* The store changed under the admission cache (an admin write, a package
 * used up): entries read before are not used again. */
void tn_cache_changed(tenancy *t);

/* ----------------------------------------------------------- record.c */

bool tn_writer_prepare(tenancy *t);     /* statements on wdb */
void tn_writer_finalize(tenancy *t);
bool tn_writer_start(tenancy *t);
void tn_writer_stop(tenancy *t);        /* drains the queue first */
/* Load the chain head from the store (writer connection). */
int tn_chain_load(tenancy *t);
/* Test hook: committed record transactions and the records in them. */
void tenancy_debug_counters(tenancy *t, uint64_t *batches, uint64_t *records);

/* ------------------------------------------------------------ audit.c */

/* An audit row as stored. Strings may be NULL (SQL NULL). */
typedef struct {
    int64_t id;
    int64_t time_ms;
    const char *request_id;
    int64_t app_id;
    const char *product;
    const char *dialect;
    const char *verdict;
    const char *vendor_code;
    int charged;
    const char *outcome;
    const char *subject_id_masked;
    const char *subject_name_masked;
    const uint8_t *subject_hash;  /* SM_HASH_BYTES or NULL */
    const char *client_ip;
    double latency_ms;            /* rounded to 3 decimals before storing */
    const uint8_t *prev_hash;     /* SM_HASH_BYTES */
} tn_audit_row;

/* hash = SHA-256(prev_hash || canonical(row)); see audit.c for the format. */
bool tn_audit_hash(const tn_audit_row *row, uint8_t out[SM_HASH_BYTES]);

#endif
