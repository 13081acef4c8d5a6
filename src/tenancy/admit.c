/*
 * admit.c — the request path before the decision: finding the app behind a
 * credential (keyed-hash lookup, or decrypting a signature scheme's
 * secret), the failed-authentication limiter per client IP, and admission
 * (status, IP allowlist, token-bucket rate limit, daily limit, quota), plus
 * the idempotent-answer lookup.
 *
 * The admission cache (struct tenancy in internal.h says when an entry
 * may be used) spares a call its SQL reads: authentication and the quota
 * check read the store only on a miss. It only ever admits what the store
 * admitted at most TN_CACHE_TTL_MS ago; the exact charge stays the
 * writer's (record.c), which refuses a charge with no unit left.
 *
 * Must never: write to the store (reads only, through the pool); put a
 * secret or a credential id into a log line or error; compare secrets in
 * variable time; let the limiters' or the cache's memory grow without
 * bound; keep a secret in the cache (only its keyed hash).
 */
#include "tenancy/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "net/cidr.h"

#define APP_BUCKETS 256

/* ----------------------------------------------------------- init, free */

/* The admission cache's entries (see internal.h). */
struct tn_auth_entry {
    bool used;
    tn_cred_kind kind;
    uint8_t hash[SM_HASH_BYTES];  /* the credential's keyed hash */
    uint64_t gen;                 /* cache_gen when read */
    int64_t read_ms;              /* monotonic */
    tn_app app;
};

#define PRODUCT_MAX 32

struct tn_quota_entry {
    bool used;
    int64_t app_id;
    char product[PRODUCT_MAX];
    bool has_quota;
    uint64_t gen;
    int64_t read_ms;
};

bool tn_limits_init(tenancy *t)
{
    t->n_app_buckets = APP_BUCKETS;
    t->apps = calloc(APP_BUCKETS, sizeof *t->apps);
    t->auth = calloc((size_t)TN_AUTH_SETS * TN_AUTH_WAYS, sizeof *t->auth);
    t->auth_cache = calloc(TN_AUTH_CACHE, sizeof *t->auth_cache);
    t->quota_cache = calloc(TN_QUOTA_CACHE, sizeof *t->quota_cache);
    return t->apps != NULL && t->auth != NULL && t->auth_cache != NULL &&
           t->quota_cache != NULL;
}

void tn_cache_changed(tenancy *t)
{
    sqlp_writes_committed(t->pool);
    atomic_fetch_add_explicit(&t->cache_gen, 1, memory_order_release);
}

static bool cache_fresh(uint64_t gen, int64_t read_ms, uint64_t gen_now, int64_t now_ms)
{
    return gen == gen_now && now_ms - read_ms < TN_CACHE_TTL_MS && now_ms >= read_ms;
}

/* The app a credential's keyed hash names, from the cache. */
static bool auth_cached(tenancy *t, tn_cred_kind kind, const uint8_t h[SM_HASH_BYTES],
                        uint64_t gen, int64_t now, tn_app *app)
{
    struct tn_auth_entry *e = &t->auth_cache[(h[0] | (size_t)h[1] << 8) % TN_AUTH_CACHE];
    pthread_mutex_lock(&t->cache_lock);
    bool hit = e->used && e->kind == kind && cache_fresh(e->gen, e->read_ms, gen, now) &&
               sm_hash_equal(e->hash, h);
    if (hit)
        *app = e->app;
    pthread_mutex_unlock(&t->cache_lock);
    return hit;
}

static void auth_cache_put(tenancy *t, tn_cred_kind kind, const uint8_t h[SM_HASH_BYTES],
                           uint64_t gen, int64_t now, const tn_app *app)
{
    struct tn_auth_entry *e = &t->auth_cache[(h[0] | (size_t)h[1] << 8) % TN_AUTH_CACHE];
    pthread_mutex_lock(&t->cache_lock);
    e->used = true;
    e->kind = kind;
    memcpy(e->hash, h, SM_HASH_BYTES);
    e->gen = gen;
    e->read_ms = now;
    e->app = *app;
    pthread_mutex_unlock(&t->cache_lock);
}

static struct tn_quota_entry *quota_slot(tenancy *t, int64_t app_id, const char *product)
{
    uint64_t h = (uint64_t)app_id * 0x9E3779B97F4A7C15ull;
    for (const char *p = product; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return &t->quota_cache[(h >> 32) % TN_QUOTA_CACHE];
}

static bool quota_cached(tenancy *t, int64_t app_id, const char *product, uint64_t gen,
                         int64_t now, bool *has_quota)
{
    struct tn_quota_entry *e = quota_slot(t, app_id, product);
    pthread_mutex_lock(&t->cache_lock);
    bool hit = e->used && e->app_id == app_id && strcmp(e->product, product) == 0 &&
               cache_fresh(e->gen, e->read_ms, gen, now);
    if (hit)
        *has_quota = e->has_quota;
    pthread_mutex_unlock(&t->cache_lock);
    return hit;
}

static void quota_cache_put(tenancy *t, int64_t app_id, const char *product, uint64_t gen,
                            int64_t now, bool has_quota)
{
    if (strlen(product) >= PRODUCT_MAX)
        return;
    struct tn_quota_entry *e = quota_slot(t, app_id, product);
    pthread_mutex_lock(&t->cache_lock);
    e->used = true;
    e->app_id = app_id;
    strcpy(e->product, product);
    e->has_quota = has_quota;
    e->gen = gen;
    e->read_ms = now;
    pthread_mutex_unlock(&t->cache_lock);
}

void tn_limits_free(tenancy *t)
{
    for (size_t i = 0; t->apps != NULL && i < t->n_app_buckets; i++) {
        tn_app_state *s = t->apps[i];
        while (s != NULL) {
            tn_app_state *next = s->next;
            free(s);
            s = next;
        }
    }
    free(t->apps);
    free(t->auth);
    free(t->auth_cache);
    free(t->quota_cache);
    t->apps = NULL;
    t->auth = NULL;
    t->auth_cache = NULL;
    t->quota_cache = NULL;
}

/* The app's state, created on first use. Called with lim_lock held. */
static tn_app_state *app_state(tenancy *t, int64_t app_id, bool create)
{
    size_t b = (size_t)((uint64_t)app_id * 0x9E3779B97F4A7C15ull >> 56) % t->n_app_buckets;
    for (tn_app_state *s = t->apps[b]; s != NULL; s = s->next)
        if (s->app_id == app_id)
            return s;
    if (!create)
        return NULL;
    tn_app_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->app_id = app_id;
    s->next = t->apps[b];
    t->apps[b] = s;
    return s;
}

void tenancy_admit_done(tenancy *t, int64_t app_id)
{
    pthread_mutex_lock(&t->lim_lock);
    tn_app_state *s = app_state(t, app_id, false);
    if (s != NULL && s->inflight > 0)
        s->inflight--;
    pthread_mutex_unlock(&t->lim_lock);
}

/* ----------------------------------------------------------- allowlists */

bool tn_ip_allow_valid(const char *list, char *err, size_t errlen)
{
    return net_cidr_list_valid(list, err, errlen);
}

/* An empty list allows any address; an IPv4-mapped IPv6 client is the same
 * 16 bytes as its IPv4 form (net/cidr.h). */
static bool ip_allowed(const char *allow, const char *client_ip)
{
    const char *p = allow;
    while (*p == ' ' || *p == ',' || *p == '\t')
        p++;
    if (*p == '\0')
        return true;
    if (client_ip == NULL)
        return false;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", client_ip);
    char *zone = strchr(buf, '%'); /* fe80::1%eth0 */
    if (zone != NULL)
        *zone = '\0';
    uint8_t a[16];
    return net_addr_parse(buf, a) && net_cidr_list_contains(allow, a);
}

/* ------------------------------------------------------ authentication */

tn_status tenancy_authenticate(tenancy *t, tn_cred_kind kind, const char *secret,
                               size_t secret_len, tn_app *app)
{
    if ((unsigned)kind >= TN_CRED__COUNT || tn_cred_kind_has_id(kind) || secret == NULL ||
        secret_len == 0 || secret_len >= TN_SECRET_MAX)
        return TN_ERR_NOT_FOUND;
    uint8_t h[SM_HASH_BYTES];
    if (!tn_cred_hash(t, kind, secret, secret_len, h))
        return TN_ERR_NOMEM;
    /* The generation before the read: a change during it makes the entry
     * stale at once. */
    uint64_t gen = atomic_load_explicit(&t->cache_gen, memory_order_acquire);
    int64_t now = tn_mono_ms();
    if (auth_cached(t, kind, h, gen, now, app)) {
        OPENSSL_cleanse(h, sizeof h);
        return TN_OK;
    }
    /* A miss reads outside any snapshot: what it caches is current. */
    tn_reader *rd = tn_borrow_own(t);
    if (rd == NULL) {
        OPENSSL_cleanse(h, sizeof h);
        return TN_ERR_UNAVAILABLE;
    }
    sqlite3_stmt *st = rd->st[RS_AUTH_HASH];
    sqlite3_bind_text(st, 1, tn_cred_kind_code(kind), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, h, SM_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    tn_status s;
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, TN_APP_NCOLS);
        if (stored != NULL && sqlite3_column_bytes(st, TN_APP_NCOLS) == SM_HASH_BYTES &&
            sm_hash_equal(stored, h)) {
            tn_app_from_row(st, 0, app);
            auth_cache_put(t, kind, h, gen, now, app);
            s = TN_OK;
        } else {
            s = TN_ERR_NOT_FOUND;
        }
    } else {
        s = rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : TN_ERR_UNAVAILABLE;
    }
    tn_return(t, rd);
    OPENSSL_cleanse(h, sizeof h);
    return s;
}

tn_status tenancy_credential_secret(tenancy *t, tn_cred_kind kind, const char *id,
                                    char secret[TN_SECRET_MAX], tn_app *app)
{
    secret[0] = '\0';
    if (!tn_cred_kind_has_id(kind) || id == NULL || id[0] == '\0' ||
        strlen(id) >= TN_CRED_ID_MAX)
        return TN_ERR_NOT_FOUND;
    tn_reader *rd = tn_borrow(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    sqlite3_stmt *st = rd->st[RS_AUTH_ID];
    sqlite3_bind_text(st, 1, tn_cred_kind_code(kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    tn_status s;
    if (rc == SQLITE_ROW) {
        int c = TN_APP_NCOLS;
        const uint8_t *ct = sqlite3_column_blob(st, c);
        size_t ct_len = (size_t)sqlite3_column_bytes(st, c);
        const uint8_t *nonce = sqlite3_column_blob(st, c + 1);
        size_t nonce_len = (size_t)sqlite3_column_bytes(st, c + 1);
        const uint8_t *tag = sqlite3_column_blob(st, c + 2);
        size_t tag_len = (size_t)sqlite3_column_bytes(st, c + 2);
        if (tn_cred_decrypt(t, kind, id, ct, ct_len, nonce, nonce_len, tag, tag_len, secret)) {
            tn_app_from_row(st, 0, app);
            s = TN_OK;
        } else {
            /* Tampered with, or stored under another key: unusable. */
            s = TN_ERR_NOT_FOUND;
        }
    } else {
        s = rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : TN_ERR_UNAVAILABLE;
    }
    tn_return(t, rd);
    return s;
}

/* ------------------------------------------------- failed-auth limiter */

static size_t ip_set(const char *ip)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = ip; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ull;
    }
    return (size_t)(h % TN_AUTH_SETS);
}

/* The slot of `ip` in its set, or NULL. Called with lim_lock held. */
static tn_auth_slot *auth_find(tenancy *t, const char *ip, int64_t now)
{
    tn_auth_slot *set = &t->auth[ip_set(ip) * TN_AUTH_WAYS];
    for (int i = 0; i < TN_AUTH_WAYS; i++) {
        tn_auth_slot *s = &set[i];
        if (s->window_start_ms != 0 && strcmp(s->ip, ip) == 0) {
            if (now - s->window_start_ms >= TN_AUTH_WINDOW_MS) {
                s->window_start_ms = 0; /* its window is over: forget it */
                return NULL;
            }
            return s;
        }
    }
    return NULL;
}

void tenancy_auth_failed(tenancy *t, const char *client_ip)
{
    if (client_ip == NULL || client_ip[0] == '\0')
        return;
    char ip[sizeof((tn_auth_slot *)0)->ip];
    snprintf(ip, sizeof ip, "%s", client_ip);
    int64_t now = tn_mono_ms();
    if (now == 0)
        now = 1;
    pthread_mutex_lock(&t->lim_lock);
    tn_auth_slot *s = auth_find(t, ip, now);
    if (s == NULL) {
        /* A free slot, an expired one, or else the least recently used. */
        tn_auth_slot *set = &t->auth[ip_set(ip) * TN_AUTH_WAYS];
        s = &set[0];
        for (int i = 0; i < TN_AUTH_WAYS; i++) {
            tn_auth_slot *c = &set[i];
            if (c->window_start_ms == 0 || now - c->window_start_ms >= TN_AUTH_WINDOW_MS) {
                s = c;
                break;
            }
            if (c->last_ms < s->last_ms)
                s = c;
        }
        memset(s, 0, sizeof *s);
        memcpy(s->ip, ip, sizeof s->ip);
        s->window_start_ms = now;
    }
    s->failures++;
    s->last_ms = now;
    pthread_mutex_unlock(&t->lim_lock);
}

bool tenancy_auth_blocked(tenancy *t, const char *client_ip, double *retry_after_s)
{
    if (retry_after_s != NULL)
        *retry_after_s = 0;
    if (client_ip == NULL || client_ip[0] == '\0')
        return false;
    char ip[sizeof((tn_auth_slot *)0)->ip];
    snprintf(ip, sizeof ip, "%s", client_ip);
    int64_t now = tn_mono_ms();
    bool blocked = false;
    pthread_mutex_lock(&t->lim_lock);
    tn_auth_slot *s = auth_find(t, ip, now);
    if (s != NULL && s->failures >= TN_AUTH_FAIL_MAX) {
        blocked = true;
        if (retry_after_s != NULL)
            *retry_after_s = (double)(s->window_start_ms + TN_AUTH_WINDOW_MS - now) / 1000.0;
    }
    pthread_mutex_unlock(&t->lim_lock);
    return blocked;
}

/* ------------------------------------------------------------ admission */

const char *tn_admit_code(tn_admit a)
{
    switch (a) {
    case TN_ADMIT_OK: return "ok";
    case TN_ADMIT_FROZEN: return "frozen";
    case TN_ADMIT_DISABLED: return "disabled";
    case TN_ADMIT_IP_DENIED: return "ip_denied";
    case TN_ADMIT_RATE_LIMITED: return "rate_limited";
    case TN_ADMIT_DAILY_LIMIT: return "daily_limit";
    case TN_ADMIT_NO_QUOTA: return "quota_exhausted";
    case TN_ADMIT_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

/* Token bucket: takes a token or says how long until one. */
static tn_admit take_token(tenancy *t, const tn_app *app, double *retry_after_s)
{
    if (!(app->rate_per_s > 0))
        return TN_ADMIT_OK;
    double burst = app->burst >= 1 ? (double)app->burst : 1.0;
    int64_t now = tn_mono_ms();
    tn_admit res = TN_ADMIT_OK;
    pthread_mutex_lock(&t->lim_lock);
    tn_app_state *s = app_state(t, app->id, true);
    if (s == NULL) {
        pthread_mutex_unlock(&t->lim_lock);
        return TN_ADMIT_UNAVAILABLE;
    }
    if (!s->bucket_init) {
        s->tokens = burst;
        s->last_ms = now;
        s->bucket_init = true;
    } else {
        s->tokens += (double)(now - s->last_ms) / 1000.0 * app->rate_per_s;
        s->last_ms = now;
    }
    if (s->tokens > burst)
        s->tokens = burst;
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
    } else {
        res = TN_ADMIT_RATE_LIMITED;
        double wait = (1.0 - s->tokens) / app->rate_per_s;
        *retry_after_s = wait > 0.001 ? wait : 0.001;
    }
    pthread_mutex_unlock(&t->lim_lock);
    return res;
}

tn_admit tenancy_admit(tenancy *t, const tn_app *app, const char *product, const char *client_ip,
                       double *retry_after_s)
{
    double dummy;
    if (retry_after_s == NULL)
        retry_after_s = &dummy;
    *retry_after_s = 0;
    if (app->status == TN_APP_FROZEN)
        return TN_ADMIT_FROZEN;
    if (app->status != TN_APP_ACTIVE)
        return TN_ADMIT_DISABLED;
    if (!ip_allowed(app->ip_allow, client_ip))
        return TN_ADMIT_IP_DENIED;
    tn_admit a = take_token(t, app, retry_after_s);
    if (a != TN_ADMIT_OK || product == NULL)
        return a;

    int64_t now_s = (int64_t)time(NULL);
    int64_t today = tn_china_day(now_s);
    int64_t calls = 0;
    if (app->daily_limit > 0) {
        tn_reader *rd = tn_borrow(t);
        if (rd == NULL)
            return TN_ADMIT_UNAVAILABLE;
        sqlite3_stmt *st = rd->st[RS_DAILY];
        sqlite3_bind_int64(st, 1, app->id);
        sqlite3_bind_int64(st, 2, today);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            calls = sqlite3_column_int64(st, 0);
        tn_return(t, rd);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return TN_ADMIT_UNAVAILABLE;
    }
    /* Whether a package has units left: from the cache, else read. */
    uint64_t gen = atomic_load_explicit(&t->cache_gen, memory_order_acquire);
    int64_t mono = tn_mono_ms();
    bool has_quota;
    if (!quota_cached(t, app->id, product, gen, mono, &has_quota)) {
        tn_reader *rd = tn_borrow_own(t);
        if (rd == NULL)
            return TN_ADMIT_UNAVAILABLE;
        sqlite3_stmt *q = rd->st[RS_QUOTA];
        sqlite3_bind_int64(q, 1, app->id);
        sqlite3_bind_text(q, 2, product, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, today);
        int rc = sqlite3_step(q);
        tn_return(t, rd);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return TN_ADMIT_UNAVAILABLE;
        has_quota = rc == SQLITE_ROW;
        quota_cache_put(t, app->id, product, gen, mono, has_quota);
    }

    /* The daily limit counts recorded calls plus those admitted and not yet
     * recorded; the in-flight count is taken only when the call is admitted. */
    pthread_mutex_lock(&t->lim_lock);
    tn_app_state *s = app_state(t, app->id, true);
    if (s == NULL) {
        pthread_mutex_unlock(&t->lim_lock);
        return TN_ADMIT_UNAVAILABLE;
    }
    if (app->daily_limit > 0 && calls + s->inflight >= (int64_t)app->daily_limit) {
        pthread_mutex_unlock(&t->lim_lock);
        *retry_after_s = (double)tn_seconds_to_china_midnight(now_s);
        return TN_ADMIT_DAILY_LIMIT;
    }
    if (!has_quota) {
        pthread_mutex_unlock(&t->lim_lock);
        return TN_ADMIT_NO_QUOTA;
    }
    s->inflight++;
    pthread_mutex_unlock(&t->lim_lock);
    return TN_ADMIT_OK;
}

/* ---------------------------------------------------------- idempotency */

tn_status tenancy_idem_get(tenancy *t, int64_t app_id, const char *product, const char *key,
                           int *http_status, char **body, size_t *body_len)
{
    *body = NULL;
    *body_len = 0;
    if (product == NULL || key == NULL)
        return TN_ERR_NOT_FOUND;
    tn_reader *rd = tn_borrow(t);
    if (rd == NULL)
        return TN_ERR_UNAVAILABLE;
    sqlite3_stmt *st = rd->st[RS_IDEM];
    sqlite3_bind_int64(st, 1, app_id);
    sqlite3_bind_text(st, 2, product, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL) - TN_IDEM_TTL_S);
    int rc = sqlite3_step(st);
    tn_status s;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        const void *b = sqlite3_column_blob(st, 1);
        char *copy = malloc(n + 1);
        if (copy == NULL) {
            s = TN_ERR_NOMEM;
        } else {
            if (n > 0 && b != NULL)
                memcpy(copy, b, n);
            copy[n] = '\0';
            *body = copy;
            *body_len = n;
            *http_status = sqlite3_column_int(st, 0);
            s = TN_OK;
        }
    } else {
        s = rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : TN_ERR_UNAVAILABLE;
    }
    tn_return(t, rd);
    return s;
}
