/*
 * alerts.c — package alerts: storing them with the charge that raised them,
 * and delivering them to each app's webhook from one background thread
 * (signed POST, retries with exponential backoff, a periodic check for
 * packages about to expire).
 *
 * Must never: deliver on a request thread or hold a SQLite transaction open
 * across a network call, follow a redirect, drop an undelivered event
 * (failures are retried until delivered; events of an app without a webhook
 * wait for one), or put a secret (webhook secret, server key, signature)
 * into a stored error or a log line.
 */
#include "tenancy/alerts.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shiming/shiming.h>

#include "common/errbuf.h"
#include "tenancy/internal.h"

#define BACKOFF_FIRST_S 1
#define BACKOFF_MAX_S 600           /* 10 minutes */
#define EXPIRY_CHECK_INTERVAL_S 60
#define EXPIRY_WINDOW_DAYS 7
#define IDLE_WAKE_S 60              /* look again at least this often (a URL set elsewhere) */
#define BATCH 32
#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 5000L
#define BUSY_TIMEOUT_MS 5000

struct alerts {
    sqlite3 *db;
    sm_key webhook_key;             /* sub-key "tenancy/webhook" */
    CURL *curl;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;               /* written under mu; read anywhere */
    bool kicked;
    int64_t next_expiry_check;      /* unix seconds */
};

/* ---------------------------------------------------------------- enqueue */

bool alerts_enqueue(sqlite3 *db, int64_t app_id, const char *type, const char *product,
                    const char *payload)
{
    if (db == NULL || type == NULL || type[0] == '\0' || payload == NULL)
        return false;
    json_error_t jerr;
    json_t *check = json_loads(payload, JSON_REJECT_DUPLICATES, &jerr);
    bool is_object = json_is_object(check);
    json_decref(check);
    if (!is_object)
        return false;

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO alerts(app_id, type, product, payload, created_at, "
                           "attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    int64_t now = (int64_t)time(NULL);
    sqlite3_bind_int64(st, 1, app_id);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
    if (product != NULL)
        sqlite3_bind_text(st, 3, product, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, payload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* ------------------------------------------------------------------ secret */

/* HMAC(sub, decimal app id) as hex; `sub` is the "tenancy/webhook" sub-key. */
static void secret_from_subkey(const sm_key *sub, int64_t app_id, char out[65])
{
    char msg[32];
    int n = snprintf(msg, sizeof msg, "%" PRId64, app_id);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (n <= 0 ||
        HMAC(EVP_sha256(), sub->bytes, SM_KEY_BYTES, (const unsigned char *)msg, (size_t)n, mac,
             &mac_len) == NULL ||
        mac_len != SM_HASH_BYTES) {
        out[0] = '\0';
        return;
    }
    sm_hex_encode(mac, SM_HASH_BYTES, out);
    OPENSSL_cleanse(mac, sizeof mac);
}

void alerts_webhook_secret(const sm_key *key, int64_t app_id, char out[65])
{
    sm_key sub;
    out[0] = '\0';
    if (key == NULL || !sm_key_derive(key, "tenancy/webhook", &sub))
        return;
    secret_from_subkey(&sub, app_id, out);
    sm_key_clear(&sub);
}

/* "sha256=" + hex HMAC(secret text, body). */
static bool sign_body(const char secret[65], const char *body, size_t len, char out[72])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (secret[0] == '\0' ||
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
             &mac_len) == NULL ||
        mac_len != SM_HASH_BYTES)
        return false;
    memcpy(out, "sha256=", 7);
    sm_hex_encode(mac, SM_HASH_BYTES, out + 7);
    return true;
}

/* --------------------------------------------------------------- delivery */

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Abort a transfer in progress when the thread is asked to stop. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const alerts *a = user;
    return atomic_load(&a->stop) ? 1 : 0;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    (void)ptr;
    (void)user;
    return size * nmemb;
}

typedef struct {
    int64_t id;
    int64_t app_id;
    int64_t created_at;
    int64_t attempts;
    char type[64];
    char app[64];
    char *payload;                  /* malloc'ed */
    char *url;                      /* malloc'ed */
} pending;

static void pending_free(pending *p)
{
    free(p->payload);
    free(p->url);
    p->payload = p->url = NULL;
}

static void iso_utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%" PRId64, t);
}

/* The delivered body: {"id","type","app","time","data"}. malloc'ed text. */
static char *build_body(const pending *p)
{
    json_error_t jerr;
    json_t *data = json_loads(p->payload, 0, &jerr);
    if (data == NULL)
        data = json_object();
    char when[32];
    iso_utc(p->created_at, when);
    json_t *body = json_pack("{s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)p->id, "type", p->type,
                             "app", p->app, "time", when, "data", data);
    if (body == NULL)
        return NULL;
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    return text;
}

/* POST one event. true = delivered (2xx); else `err` says why. */
static bool post_event(alerts *a, const pending *p, char *err, size_t errlen)
{
    char *body = build_body(p);
    if (body == NULL) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    char secret[65];
    char sig_header[128];
    char signature[72];
    secret_from_subkey(&a->webhook_key, p->app_id, secret);
    bool signed_ok = sign_body(secret, body, strlen(body), signature);
    OPENSSL_cleanse(secret, sizeof secret);
    if (!signed_ok) {
        free(body);
        set_err(err, errlen, "cannot sign the event");
        return false;
    }
    snprintf(sig_header, sizeof sig_header, "X-Shiming-Signature: %s", signature);
    char event_header[128];
    snprintf(event_header, sizeof event_header, "X-Shiming-Event: %s", p->type);

    struct curl_slist *headers = NULL;
    struct curl_slist *h1 = curl_slist_append(headers, "Content-Type: application/json");
    struct curl_slist *h2 = h1 ? curl_slist_append(h1, sig_header) : NULL;
    struct curl_slist *h3 = h2 ? curl_slist_append(h2, event_header) : NULL;
    struct curl_slist *h4 = h3 ? curl_slist_append(h3, "Expect:") : NULL;
    headers = h4 ? h4 : (h3 ? h3 : (h2 ? h2 : h1));
    if (h4 == NULL) {
        curl_slist_free_all(headers);
        free(body);
        set_err(err, errlen, "out of memory");
        return false;
    }

    CURL *c = a->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "shiming-webhook/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    OPENSSL_cleanse(sig_header, sizeof sig_header);
    OPENSSL_cleanse(signature, sizeof signature);
    free(body);

    if (rc != CURLE_OK) {
        /* curl_easy_strerror names the failure, never the URL or a header. */
        set_err(err, errlen, "%s", curl_easy_strerror(rc));
        return false;
    }
    if (status < 200 || status > 299) {
        set_err(err, errlen, "HTTP status %ld", status);
        return false;
    }
    return true;
}

/* Seconds to wait after the `attempts`-th failed attempt (1, 2, 4 … 600). */
static int64_t backoff_s(int64_t attempts)
{
    int64_t d = BACKOFF_FIRST_S;
    for (int64_t i = 1; i < attempts && d < BACKOFF_MAX_S; i++)
        d *= 2;
    return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

static void mark_delivered(alerts *a, int64_t id, int64_t attempts)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "UPDATE alerts SET delivered_at = ?2, attempts = ?3, last_error = NULL "
                           "WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 3, attempts);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

static void mark_failed(alerts *a, int64_t id, int64_t attempts, const char *error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "UPDATE alerts SET attempts = ?2, last_error = ?3, "
                           "next_attempt_at = ?4 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, attempts);
    sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
    /* At least the backoff from now: the next whole second after it. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t next = (int64_t)ts.tv_sec + backoff_s(attempts) + (ts.tv_nsec > 0 ? 1 : 0);
    sqlite3_bind_int64(st, 4, next);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t != NULL ? (const char *)t : "");
}

/* Load up to BATCH due events of apps that have a webhook URL. */
static size_t load_due(alerts *a, int64_t now, pending *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT al.id, al.app_id, al.created_at, al.attempts, al.type, ap.name, "
                           "al.payload, ap.webhook_url FROM alerts al JOIN apps ap ON "
                           "ap.id = al.app_id WHERE al.delivered_at IS NULL AND "
                           "al.next_attempt_at <= ?1 AND ap.webhook_url IS NOT NULL AND "
                           "ap.webhook_url <> '' ORDER BY al.next_attempt_at, al.id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, BATCH);
    size_t n = 0;
    while (n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
        pending *p = &out[n];
        memset(p, 0, sizeof *p);
        p->id = sqlite3_column_int64(st, 0);
        p->app_id = sqlite3_column_int64(st, 1);
        p->created_at = sqlite3_column_int64(st, 2);
        p->attempts = sqlite3_column_int64(st, 3);
        const unsigned char *t = sqlite3_column_text(st, 4);
        snprintf(p->type, sizeof p->type, "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(st, 5);
        snprintf(p->app, sizeof p->app, "%s", t ? (const char *)t : "");
        p->payload = dup_text(st, 6);
        p->url = dup_text(st, 7);
        if (p->payload == NULL || p->url == NULL) {
            pending_free(p);
            break;
        }
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

/* The earliest next_attempt_at of an undelivered, deliverable event, or -1. */
static int64_t next_due(alerts *a)
{
    sqlite3_stmt *st = NULL;
    int64_t when = -1;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT MIN(al.next_attempt_at) FROM alerts al JOIN apps ap ON "
                           "ap.id = al.app_id WHERE al.delivered_at IS NULL AND "
                           "ap.webhook_url IS NOT NULL AND ap.webhook_url <> ''",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        when = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return when;
}

static bool stopping(alerts *a)
{
    return atomic_load(&a->stop);
}

static void deliver_due(alerts *a)
{
    pending batch[BATCH];
    for (int rounds = 0; rounds < 64 && !stopping(a); rounds++) {
        size_t n = load_due(a, (int64_t)time(NULL), batch);
        for (size_t i = 0; i < n; i++) {
            if (!stopping(a)) {
                char err[256] = "";
                int64_t attempts = batch[i].attempts + 1;
                if (post_event(a, &batch[i], err, sizeof err))
                    mark_delivered(a, batch[i].id, attempts);
                else if (!stopping(a)) /* cut off by stop: not an attempt */
                    mark_failed(a, batch[i].id, attempts, err);
            }
            pending_free(&batch[i]);
        }
        if (n < BATCH)
            return;
    }
}

/* ------------------------------------------------------- expiring packages */

typedef struct {
    int64_t id, app_id, total, used, expires;
    char product[32];
} expiring;

/* Enqueue "package_expiring" once per package for packages with units left
 * whose last day (China time) is within EXPIRY_WINDOW_DAYS from today. The
 * package id in the event's payload is what remembers that it was raised
 * (packages are never deleted, and ids never reused). Plain SQL (LIKE on
 * the payload text, which this file and record.c write with "package_id"
 * followed by a comma), as the store keeps its queries portable. */
static void check_expiring(alerts *a)
{
    int64_t now = (int64_t)time(NULL);
    int64_t today = tn_china_day(now);
    int64_t last = tn_china_day(now + (int64_t)EXPIRY_WINDOW_DAYS * 86400);
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return;
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(a->db,
                                 "SELECT p.id, p.app_id, p.product, p.total, p.used, p.expires "
                                 "FROM packages p WHERE p.used < p.total AND p.expires <> 0 "
                                 "AND p.expires >= ?1 AND p.expires <= ?2 AND NOT EXISTS "
                                 "(SELECT 1 FROM alerts x WHERE x.app_id = p.app_id AND "
                                 "x.type = 'package_expiring' AND x.product = p.product AND "
                                 "x.payload LIKE '%\"package_id\":' || p.id || ',%') "
                                 "ORDER BY p.id LIMIT 1000",
                                 -1, &st, NULL) == SQLITE_OK;
    expiring *found = NULL;
    size_t n = 0, cap = 0;
    if (ok) {
        sqlite3_bind_int64(st, 1, today);
        sqlite3_bind_int64(st, 2, last);
        int rc;
        while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                expiring *p = realloc(found, ncap * sizeof *p);
                if (p == NULL) {
                    ok = false;
                    break;
                }
                found = p;
                cap = ncap;
            }
            expiring *e = &found[n++];
            e->id = sqlite3_column_int64(st, 0);
            e->app_id = sqlite3_column_int64(st, 1);
            const unsigned char *prod = sqlite3_column_text(st, 2);
            snprintf(e->product, sizeof e->product, "%s", prod ? (const char *)prod : "");
            e->total = sqlite3_column_int64(st, 3);
            e->used = sqlite3_column_int64(st, 4);
            e->expires = sqlite3_column_int64(st, 5);
        }
        if (ok && rc != SQLITE_DONE)
            ok = false;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; ok && i < n; i++) {
        const expiring *e = &found[i];
        sm_date d;
        char iso[11] = "";
        if (sqs_int_to_date(e->expires, &d))
            sm_date_format_iso(d, iso);
        /* The same keys, in the same order, as record.c's package alerts. */
        json_t *payload = json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:s}", "app_id",
                                    (json_int_t)e->app_id, "product", e->product, "package_id",
                                    (json_int_t)e->id, "total", (json_int_t)e->total, "used",
                                    (json_int_t)e->used, "remaining",
                                    (json_int_t)(e->total - e->used), "expires", iso);
        char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(payload);
        ok = text != NULL &&
             alerts_enqueue(a->db, e->app_id, "package_expiring", e->product, text);
        free(text);
    }
    free(found);
    sqlite3_exec(a->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
}

/* ----------------------------------------------------------------- thread */

static void *run(void *arg)
{
    alerts *a = arg;
    for (;;) {
        int64_t now = (int64_t)time(NULL);
        if (now >= a->next_expiry_check) {
            check_expiring(a);
            a->next_expiry_check = now + EXPIRY_CHECK_INTERVAL_S;
        }
        deliver_due(a);

        now = (int64_t)time(NULL);
        int64_t wake = a->next_expiry_check;
        int64_t due = next_due(a);
        if (due >= 0 && due < wake)
            wake = due;
        if (wake > now + IDLE_WAKE_S)
            wake = now + IDLE_WAKE_S;

        pthread_mutex_lock(&a->mu);
        if (!a->stop && !a->kicked && wake > now) {
            /* Wait until the wall-clock second `wake` begins, measured on
             * the monotonic clock so that clock steps cannot stall us. */
            struct timespec real, mono;
            clock_gettime(CLOCK_REALTIME, &real);
            clock_gettime(CLOCK_MONOTONIC, &mono);
            double delta = (double)(wake - real.tv_sec) - (double)real.tv_nsec / 1e9;
            if (delta < 0)
                delta = 0;
            long long ns = (long long)mono.tv_nsec + (long long)(delta * 1e9);
            struct timespec deadline = {
                .tv_sec = mono.tv_sec + (time_t)(ns / 1000000000LL),
                .tv_nsec = (long)(ns % 1000000000LL),
            };
            while (!a->stop && !a->kicked) {
                int rc = pthread_cond_timedwait(&a->cv, &a->mu, &deadline);
                if (rc == ETIMEDOUT)
                    break;
            }
        }
        bool stop = a->stop;
        a->kicked = false;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
    }
    return NULL;
}

alerts *alerts_start(const char *path, const sm_key *key, char *err, size_t errlen)
{
    if (path == NULL || key == NULL) {
        set_err(err, errlen, "alerts: no store or key");
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    alerts *a = calloc(1, sizeof *a);
    if (a == NULL) {
        set_err(err, errlen, "alerts: out of memory");
        return NULL;
    }
    if (!sm_key_derive(key, "tenancy/webhook", &a->webhook_key)) {
        set_err(err, errlen, "alerts: cannot derive the webhook key");
        free(a);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "alerts: cannot open the tenancy store: %s",
                a->db ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc));
        sqlite3_close(a->db);
        sm_key_clear(&a->webhook_key);
        free(a);
        return NULL;
    }
    sqlite3_busy_timeout(a->db, BUSY_TIMEOUT_MS);
    sqlite3_exec(a->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    a->curl = curl_easy_init();
    pthread_condattr_t ca;
    bool cond_ok = pthread_condattr_init(&ca) == 0;
    if (cond_ok) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        cond_ok = pthread_cond_init(&a->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (a->curl == NULL || !cond_ok || pthread_mutex_init(&a->mu, NULL) != 0) {
        set_err(err, errlen, "alerts: cannot set up the delivery thread");
        if (cond_ok)
            pthread_cond_destroy(&a->cv);
        if (a->curl)
            curl_easy_cleanup(a->curl);
        sqlite3_close(a->db);
        sm_key_clear(&a->webhook_key);
        free(a);
        return NULL;
    }
    a->next_expiry_check = 0; /* at once */
    if (pthread_create(&a->thread, NULL, run, a) != 0) {
        set_err(err, errlen, "alerts: cannot start the delivery thread");
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        curl_easy_cleanup(a->curl);
        sqlite3_close(a->db);
        sm_key_clear(&a->webhook_key);
        free(a);
        return NULL;
    }
    return a;
}

void alerts_kick(alerts *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->kicked = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void alerts_stop(alerts *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->stop, true);
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    curl_easy_cleanup(a->curl);
    sqlite3_close(a->db);
    sm_key_clear(&a->webhook_key);
    free(a);
}
