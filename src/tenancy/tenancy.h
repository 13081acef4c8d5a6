/*
 * tenancy.h — who may call, how much, and what they did: apps, their
 * credentials, quota packages, daily and rate limits, idempotent repeats,
 * usage and the tamper-evident audit log. Built once for the native API and
 * every vendor dialect: a dialect authenticates with its own scheme through
 * these functions, asks for admission, runs the decision (verify/), then
 * records the outcome here before it answers.
 *
 * Store: its own SQLite file (WAL), apart from the registry (config
 * [tenancy] db, default var/tenancy.db), schema versioned like the registry.
 * Secrets: those that only need comparing (native key, bearer token,
 * APPCODE) are stored as keyed hashes (sub-key "tenancy/credential");
 * those a signature scheme needs in clear (API key, AccessKey secret,
 * appid secret) are stored encrypted (AES-256-GCM, sub-key
 * "tenancy/secret"). Comparisons are constant-time. No secret ever
 * appears in a log line, an error message or an audit row.
 *
 * Durability: tenancy_record() returns, and tenancy_record_async() calls
 * back, only after the audit row, the usage increment and the idempotency
 * entry of the call are committed (group commit by one writer thread;
 * synchronous=NORMAL in WAL: a process killed with SIGKILL loses nothing
 * that was acknowledged). Callers answer the client only after that.
 *
 * Thread-safety: one `tenancy` is shared by every HTTP thread; every
 * function is thread-safe. Ownership: structs are plain values owned by the
 * caller; functions that return arrays say who frees them.
 */
#ifndef SHIMING_TENANCY_H
#define SHIMING_TENANCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <shiming/shiming.h>

#include "crypto/server_key.h"

typedef enum {
    TN_OK = 0,
    TN_ERR_NOT_FOUND,     /* no such app / credential / package / entry */
    TN_ERR_EXISTS,        /* an app of that name, a credential id already taken */
    TN_ERR_INVALID,       /* a value the model refuses (message in err) */
    TN_ERR_UNAVAILABLE,   /* the store is locked past its timeout, or I/O failed */
    TN_ERR_KEY,           /* the store was created with another server key */
    TN_ERR_SCHEMA,        /* the store's schema is newer than this program */
    TN_ERR_NOMEM,
} tn_status;

const char *tn_status_message(tn_status st);

/* ------------------------------------------------------------------ model */

typedef enum {
    TN_APP_ACTIVE = 0,
    TN_APP_FROZEN,        /* temporarily refused (e.g. unpaid); reversible */
    TN_APP_DISABLED,      /* switched off */
} tn_app_status;

const char *tn_app_status_code(tn_app_status s); /* "active", "frozen", "disabled" */
bool tn_app_status_from_code(const char *code, tn_app_status *out);

#define TN_NAME_MAX 64
#define TN_ALLOW_MAX 1024
#define TN_URL_MAX 512

typedef struct {
    int64_t id;
    char name[TN_NAME_MAX];       /* unique, [A-Za-z0-9._-], 1..63 chars */
    tn_app_status status;
    char ip_allow[TN_ALLOW_MAX];  /* comma-separated CIDRs, IPv4 and IPv6; "" = any */
    uint32_t daily_limit;         /* metered calls per day (China time); 0 = none */
    double rate_per_s;            /* token bucket refill; 0 = no rate limit */
    uint32_t burst;               /* bucket size (>= 1 when rate_per_s > 0) */
    char webhook_url[TN_URL_MAX]; /* alerts go here; "" = none */
    int64_t created_at;           /* unix seconds */
} tn_app;

/* One credential kind per vendor scheme, plus the native key. */
typedef enum {
    TN_CRED_NATIVE = 0,   /* native /v1 API key: "Authorization: Bearer" or X-Api-Key; hashed */
    TN_CRED_BEARER,       /* seed 000 bearer token; hashed */
    TN_CRED_APPCODE,      /* seed 001 APPCODE; hashed */
    TN_CRED_APIKEY,       /* seed 002 account (id) + API key (secret); encrypted */
    TN_CRED_ACCESSKEY,    /* seed 003 AccessKey ID (id) + secret; encrypted */
    TN_CRED_APPSECRET,    /* seed 004 appid (id) + secret; encrypted */
    TN_CRED_SECRETID,     /* seed 000's upstream cloud API 3.0: SecretId (id) + SecretKey
                             (TC3-HMAC-SHA256); encrypted */
    TN_CRED_APPKEY,       /* seed 001's API gateway, signed mode: AppKey (id) + AppSecret;
                             encrypted */
    TN_CRED__COUNT
} tn_cred_kind;

/* "native", "bearer", "appcode", "apikey", "accesskey", "appsecret",
 * "secretid", "appkey". */
const char *tn_cred_kind_code(tn_cred_kind k);
bool tn_cred_kind_from_code(const char *code, tn_cred_kind *out);
/* True for the kinds whose secret is kept encrypted (it has an id). */
bool tn_cred_kind_has_id(tn_cred_kind k);

#define TN_CRED_ID_MAX 64
#define TN_SECRET_MAX 128

/* A new credential, as shown once to the operator. Zero it after use. */
typedef struct {
    tn_cred_kind kind;
    char id[TN_CRED_ID_MAX];       /* "" for the hashed kinds */
    char secret[TN_SECRET_MAX];
} tn_new_cred;

typedef struct {
    char product[32];
    int64_t total;
    int64_t used;
    sm_date expires;               /* {0} = never */
} tn_package;

/* ---------------------------------------------------------------- products */

/* A metered product: the verdicts that are charged. Native products are
 * "id2" and "id4" (charged: match, mismatch); dialects add theirs. Unknown
 * product names are TN_ERR_INVALID in package_add. */
bool tn_product_known(const char *product);
bool tn_product_charges(const char *product, sm_verdict v);
/* A product's per-identity daily caps: calls a day (China time, across
 * all apps) one ID number / one name may be the subject of; 0 = no cap. */
void tn_product_subject_caps(const char *product, uint32_t *per_id, uint32_t *per_name);

/* The i-th known product (static string), or NULL past the last: for
 * listing them all (`serve --demo` gives its app a package of each). */
const char *tn_product_at(size_t i);

/* ------------------------------------------------------------ open, close */

typedef struct {
    const char *path;            /* SQLite file */
    const sm_key *key;           /* server key (borrowed during open only) */
    bool create;
    unsigned busy_timeout_ms;    /* 0 = 1000 */
    bool start_threads;          /* the writer and alert-delivery threads (serve: true; CLI: false) */
    bool no_subject_caps;        /* tenancy_subject_take always admits (load tests) */
} tn_options;

typedef struct tenancy tenancy;

tn_status tenancy_open(const tn_options *opt, tenancy **out, char *err, size_t errlen);
/* Flushes pending records and alerts state, stops the threads, closes. */
void tenancy_close(tenancy *t);

/* ------------------------------------------------------------------ admin */

tn_status tenancy_app_create(tenancy *t, const char *name, tn_app *out, char *err, size_t errlen);
/* By name, or by decimal id. */
tn_status tenancy_app_get(tenancy *t, const char *name_or_id, tn_app *out);
/* *out is malloc'ed (free it); ordered by id. */
tn_status tenancy_app_list(tenancy *t, tn_app **out, size_t *n);
tn_status tenancy_app_set_status(tenancy *t, int64_t app_id, tn_app_status s);
/* Updates ip_allow, daily_limit, rate_per_s, burst, webhook_url of app->id
 * (validated: CIDRs parse, URL is http(s)). */
tn_status tenancy_app_update(tenancy *t, const tn_app *app, char *err, size_t errlen);

/* Add a credential. `id`/`secret` NULL = generate with the CSPRNG (what
 * operators do); given values are for fixed demo credentials and tests. */
tn_status tenancy_cred_add(tenancy *t, int64_t app_id, tn_cred_kind kind, const char *id,
                           const char *secret, tn_new_cred *out, char *err, size_t errlen);

/* Add `total` units of `product` (a new package, or topping up one with the
 * same expiry). */
tn_status tenancy_package_add(tenancy *t, int64_t app_id, const char *product, int64_t total,
                              sm_date expires, char *err, size_t errlen);

/* The app's packages with used/total; *out malloc'ed (free it). */
tn_status tenancy_usage(tenancy *t, int64_t app_id, tn_package **out, size_t *n);

/* ---------------------------------------------------------- request path */

/* Hashed kinds (native, bearer, appcode): find the app holding `secret`.
 * Served from the admission cache (admit.c) when it holds the credential's
 * keyed hash: the app as the store had it at most 50 ms ago, and after
 * every admin write of this process. Thread-safe. */
tn_status tenancy_authenticate(tenancy *t, tn_cred_kind kind, const char *secret,
                               size_t secret_len, tn_app *app);

/* Encrypted kinds (apikey, accesskey, appsecret): the app holding
 * credential `id` and its secret in clear, for verifying a signature.
 * OPENSSL_cleanse `secret` when done. */
tn_status tenancy_credential_secret(tenancy *t, tn_cred_kind kind, const char *id,
                                    char secret[TN_SECRET_MAX], tn_app *app);

/* Replay protection for signed requests: true, and `nonce` remembered,
 * when no request of `scheme` (a namespace, e.g. "apigw:" + the AppKey)
 * has used `nonce` recently; false when one has (a replay), or when it
 * cannot be remembered (empty, out of memory, the table full: fail
 * closed). `window_ms` is the scheme's timestamp window (a request is
 * accepted while |timestamp - now| <= window_ms); a nonce is remembered
 * for 2 * window_ms after `now_ms` (wall clock, ms). In memory only:
 * forgotten at a restart. Bounded memory; thread-safe. */
bool tenancy_nonce_fresh(tenancy *t, const char *scheme, const char *nonce, int64_t now_ms,
                         int64_t window_ms);

/* Failed authentications are limited per client IP: call on every failure;
 * tenancy_auth_blocked says whether an IP must be refused (429) for now. */
void tenancy_auth_failed(tenancy *t, const char *client_ip);
bool tenancy_auth_blocked(tenancy *t, const char *client_ip, double *retry_after_s);

typedef enum {
    TN_ADMIT_OK = 0,
    TN_ADMIT_FROZEN,          /* 403 */
    TN_ADMIT_DISABLED,        /* 403 */
    TN_ADMIT_IP_DENIED,       /* 403 */
    TN_ADMIT_RATE_LIMITED,    /* 429 + Retry-After */
    TN_ADMIT_DAILY_LIMIT,     /* 429 (vendors: their "daily limit" code) */
    TN_ADMIT_NO_QUOTA,        /* no package with units left, or all expired: "balance exhausted" */
    TN_ADMIT_UNAVAILABLE,     /* store unreachable: 503 */
} tn_admit;

/* "ok", "frozen", "disabled", "ip_denied", "rate_limited", "daily_limit",
 * "quota_exhausted", "unavailable". */
const char *tn_admit_code(tn_admit a);

/* May `app` call metered `product` now from `client_ip`? Checks, in order:
 * status, IP allowlist, rate limit (takes a token), daily limit, quota.
 * `product` NULL = an unmetered call (status, IP and rate only).
 * *retry_after_s is set for RATE_LIMITED / DAILY_LIMIT. The quota check
 * may come from the admission cache (at most 50 ms old, forgotten when a
 * package runs out): an OK is not a promise of a unit — the record
 * (tenancy_record) charges exactly, and answers NO_QUOTA when none is
 * left. Thread-safe. */
tn_admit tenancy_admit(tenancy *t, const tn_app *app, const char *product,
                       const char *client_ip, double *retry_after_s);

/* Count one call about the identity (id18, name: normal forms) against
 * `product`'s per-identity daily caps. False, and nothing counted, when
 * the number or the name has reached its cap today. Counts are kept in
 * memory (keyed hashes only) and start again at China midnight and at a
 * restart. True when the product has no caps. */
bool tenancy_subject_take(tenancy *t, const char *product, const char *id18, const char *name,
                          size_t name_len);

/* Every TN_ADMIT_OK for a metered product must be followed by one call of
 * this, once the call has been recorded or abandoned (a malformed request,
 * an idempotent replay, a failure): until then the call counts against the
 * app's daily limit as in flight. */
void tenancy_admit_done(tenancy *t, int64_t app_id);

/* Idempotent repeats: the stored answer of (app, product, key), if any.
 * *body is malloc'ed (free it). TN_ERR_NOT_FOUND when the key is new. */
tn_status tenancy_idem_get(tenancy *t, int64_t app_id, const char *product, const char *key,
                           int *http_status, char **body, size_t *body_len);

/* One call that reached a product. Strings are borrowed: for the call of
 * tenancy_record(), or until the callback of tenancy_record_async(). */
typedef struct {
    int64_t app_id;
    const char *product;
    const char *dialect;          /* "native", later the vendor dialect's name */
    const char *request_id;
    sm_verdict verdict;
    const char *vendor_code;      /* the dialect's own result code, or NULL */
    bool never_charge;            /* free whatever the verdict: the dialect's vendor does not
                                     charge this answer */
    const char *id18;             /* the subject's normalised ID number, or NULL (raw input) */
    const char *id_raw;           /* the ID number as given, when id18 is NULL */
    const char *name;             /* normalised name, or as given */
    const char *client_ip;
    double latency_ms;
    /* Idempotency: when idem_key is set, the answer is stored with the call. */
    const char *idem_key;
    int http_status;
    const char *body;
    size_t body_len;
} tn_record;

typedef enum {
    TN_RECORDED_CHARGED = 0,  /* committed, one unit used */
    TN_RECORDED_FREE,         /* committed, the verdict is not charged */
    TN_RECORDED_NO_QUOTA,     /* committed as refused: the last unit went to another call;
                                 answer "balance exhausted", not charged */
    TN_RECORD_FAILED,         /* could not be committed: answer 503, nothing charged */
} tn_record_result;

/* Writes the audit row (masked subject, keyed hash of the subject, chained
 * hash), charges one unit if the product charges the verdict, stores the
 * idempotent answer, and returns once all of it is committed. Raises the
 * package alerts (20 % left, exhausted) when a charge crosses them. */
tn_record_result tenancy_record(tenancy *t, const tn_record *rec);

/* Told the outcome of a tenancy_record_async() record, once. */
typedef void (*tn_record_done)(void *arg, tn_record_result result);

/* The same record without waiting: queues it for the writer thread and
 * returns. The writer commits it with whatever else is queued (one
 * transaction; a failure fails the whole batch), then calls
 * done(arg, result) for each record of the batch, on the writer thread,
 * after the COMMIT: the callback may answer the client. It runs without
 * tenancy locks held, must not block for long (it delays the next batch)
 * and must not call tenancy_record() (it would wait for itself).
 *
 * `*rec` itself is copied; the strings it points to are not: the caller
 * keeps them valid until `done` has run (e.g. in the request it answers).
 * Without a writer thread (the CLI, tests) the record is committed in the
 * calling thread and `done` has run when this returns. Returns false,
 * without calling `done` and without recording anything, when the record
 * cannot be queued (shutting down, out of memory): answer 503 then. */
bool tenancy_record_async(tenancy *t, const tn_record *rec, tn_record_done done, void *arg);

/* -------------------------------------------------------------- audit log */

/* Walk the hash chain from the anchor. On a break, *first_broken is the id
 * of the first row whose hash does not verify (0 when intact). */
tn_status tenancy_audit_verify(tenancy *t, int64_t *rows, int64_t *first_broken);

typedef enum { TN_EXPORT_JSONL = 0, TN_EXPORT_CSV } tn_export_format;

/* Rows with from <= time < to (unix seconds; 0 = unbounded), oldest first. */
tn_status tenancy_audit_export(tenancy *t, int64_t from, int64_t to, tn_export_format f,
                               FILE *out, int64_t *rows);

/* Delete rows older than `before` (China time, start of day), keeping the
 * chain verifiable: the last purged row's hash becomes the anchor. */
tn_status tenancy_audit_purge(tenancy *t, sm_date before, int64_t *purged);

#endif
