/*
 * test_alerts.c — unit tests of package alerts (tenancy/alerts.c): events
 * are stored only with the transaction that raised them; the delivery
 * thread POSTs them, signed, to a loopback receiver run by the test,
 * retries failures with a growing backoff, keeps undelivered events across
 * a stop and delivers them after a restart, waits for apps without a
 * webhook, stops promptly while a receiver hangs; "package_expiring" is
 * raised once per package.
 *
 * Must never: reach anything but 127.0.0.1, depend on the working
 * directory, or leave files or threads behind (each test has its own
 * mkdtemp directory and receiver, both removed afterwards).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/server_key.h"
#include "tenancy/alerts.h"
#include "tenancy/tenancy.h"

/* ---------------------------------------------------------------- receiver */

#define MAX_REQS 32

typedef struct {
    char head[4096];
    char *body;
    size_t body_len;
    double at;                  /* CLOCK_MONOTONIC seconds */
} received;

typedef struct {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    received reqs[MAX_REQS];
    int n;
    /* behaviour: the first `fail_first` requests get `fail_status`, the
     * others 200; `hang`: accept and never answer */
    atomic_int fail_first;
    atomic_int fail_status;
    atomic_bool hang;
} receiver;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read one request (headers + Content-Length body). false on EOF/error. */
static bool read_request(int c, received *r)
{
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have + 1 >= sizeof r->head)
            return false;
        ssize_t n = recv(c, r->head + have, sizeof r->head - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        r->head[have] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - r->head) + 4;
    size_t clen = 0;
    for (char *line = strstr(r->head, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            clen = (size_t)strtoul(line + 17, NULL, 10);
    }
    r->body = calloc(1, clen + 1);
    if (r->body == NULL)
        return false;
    size_t got = have - head_len;
    memcpy(r->body, r->head + head_len, got);
    while (got < clen) {
        ssize_t n = recv(c, r->body + got, clen - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    r->body_len = clen;
    r->head[head_len] = '\0';
    return true;
}

static void *receiver_run(void *arg)
{
    receiver *rv = arg;
    while (!atomic_load(&rv->stop)) {
        struct pollfd p = {.fd = rv->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            continue;
        received r;
        memset(&r, 0, sizeof r);
        if (!read_request(c, &r)) {
            free(r.body);
            close(c);
            continue;
        }
        r.at = mono_s();
        int index;
        pthread_mutex_lock(&rv->mu);
        index = rv->n;
        if (rv->n < MAX_REQS)
            rv->reqs[rv->n++] = r;
        else
            free(r.body);
        pthread_mutex_unlock(&rv->mu);
        if (atomic_load(&rv->hang)) {
            /* Keep the connection open, unanswered, until the client goes. */
            while (!atomic_load(&rv->stop)) {
                struct pollfd q = {.fd = c, .events = POLLIN};
                char b[64];
                if (poll(&q, 1, 20) > 0 && recv(c, b, sizeof b, 0) <= 0)
                    break;
            }
            close(c);
            continue;
        }
        int status = index < atomic_load(&rv->fail_first) ? atomic_load(&rv->fail_status) : 200;
        char resp[128];
        int len = snprintf(resp, sizeof resp,
                           "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                           status);
        (void)!send(c, resp, (size_t)len, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static receiver *receiver_start(int fail_first, int fail_status)
{
    receiver *rv = calloc(1, sizeof *rv);
    assert_non_null(rv);
    pthread_mutex_init(&rv->mu, NULL);
    atomic_init(&rv->fail_first, fail_first);
    atomic_init(&rv->fail_status, fail_status);
    rv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rv->fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(rv->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(rv->fd, 16), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(rv->fd, (struct sockaddr *)&a, &alen), 0);
    rv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&rv->thread, NULL, receiver_run, rv), 0);
    return rv;
}

static int receiver_count(receiver *rv)
{
    pthread_mutex_lock(&rv->mu);
    int n = rv->n;
    pthread_mutex_unlock(&rv->mu);
    return n;
}

static void receiver_stop(receiver *rv)
{
    if (rv == NULL)
        return;
    atomic_store(&rv->stop, true);
    pthread_join(rv->thread, NULL);
    close(rv->fd);
    for (int i = 0; i < rv->n; i++)
        free(rv->reqs[i].body);
    pthread_mutex_destroy(&rv->mu);
    free(rv);
}

/* ----------------------------------------------------------------- fixture */

typedef struct {
    char dir[64];
    char db[128];
    sm_key key;
    tenancy *t;
    sqlite3 *conn;      /* the test's own connection */
    receiver *rv;
    alerts *al;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/shiming-test-alerts-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tenancy.db", f->dir);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        f->key.bytes[i] = (uint8_t)(i * 7 + 3);
    tn_options o = {.path = f->db, .key = &f->key, .create = true, .start_threads = false};
    char err[512] = "";
    if (tenancy_open(&o, &f->t, err, sizeof err) != TN_OK) {
        fprintf(stderr, "tenancy_open: %s\n", err);
        return -1;
    }
    if (sqlite3_open(f->db, &f->conn) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(f->conn, 5000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    alerts_stop(f->al);
    receiver_stop(f->rv);
    sqlite3_close(f->conn);
    tenancy_close(f->t);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* An app, with a webhook to the fixture's receiver when there is one. */
static int64_t make_app(fixture *f, const char *name, bool webhook)
{
    tn_app app;
    char err[256] = "";
    assert_int_equal(tenancy_app_create(f->t, name, &app, err, sizeof err), TN_OK);
    if (webhook) {
        snprintf(app.webhook_url, sizeof app.webhook_url, "http://127.0.0.1:%u/hook/%s",
                 f->rv->port, name);
        assert_int_equal(tenancy_app_update(f->t, &app, err, sizeof err), TN_OK);
    }
    return app.id;
}

static int64_t query_int(fixture *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->conn, sql, -1, &st, NULL), SQLITE_OK);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_sql(fixture *f, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(f->conn, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static void enqueue_committed(fixture *f, int64_t app_id, const char *type)
{
    exec_sql(f, "BEGIN IMMEDIATE");
    assert_true(alerts_enqueue(f->conn, app_id, type, "id2",
                               "{\"app_id\":1,\"product\":\"id2\",\"total\":100,\"used\":80,"
                               "\"remaining\":20,\"expires\":null}"));
    exec_sql(f, "COMMIT");
}

/* Poll `sql` (an integer) until it equals `want` or `timeout_s` passes. */
static bool wait_for(fixture *f, const char *sql, int64_t want, double timeout_s)
{
    double end = mono_s() + timeout_s;
    while (mono_s() < end) {
        if (query_int(f, sql) == want)
            return true;
        usleep(20000);
    }
    return query_int(f, sql) == want;
}

static bool wait_requests(receiver *rv, int n, double timeout_s)
{
    double end = mono_s() + timeout_s;
    while (mono_s() < end && receiver_count(rv) < n)
        usleep(10000);
    return receiver_count(rv) >= n;
}

static void start_alerts(fixture *f)
{
    char err[256] = "";
    f->al = alerts_start(f->db, &f->key, err, sizeof err);
    if (f->al == NULL)
        fail_msg("alerts_start: %s", err);
}

/* The value of header `name` in a raw request head (copied into out). */
static bool header_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, name, nl) == 0 && line[2 + nl] == ':') {
            const char *v = line + 3 + nl;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= cap)
                return false;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------- tests */

static void test_enqueue_is_transactional(void **state)
{
    fixture *f = *state;
    int64_t app = make_app(f, "shop", false);

    exec_sql(f, "BEGIN IMMEDIATE");
    assert_true(alerts_enqueue(f->conn, app, "package_low", "id2", "{\"remaining\":20}"));
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts"), 1); /* inside: visible */
    exec_sql(f, "ROLLBACK");
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts"), 0);

    exec_sql(f, "BEGIN IMMEDIATE");
    assert_true(alerts_enqueue(f->conn, app, "package_low", "id2", "{\"remaining\":20}"));
    exec_sql(f, "COMMIT");
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts"), 1);
    /* due at once, undelivered, no attempt yet */
    assert_true(query_int(f, "SELECT next_attempt_at - created_at FROM alerts") == 0);
    assert_int_equal(query_int(f, "SELECT attempts FROM alerts"), 0);
    assert_int_equal(query_int(f, "SELECT delivered_at FROM alerts"), -2);

    /* a payload that is not a JSON object is refused */
    assert_false(alerts_enqueue(f->conn, app, "package_low", "id2", "not json"));
    assert_false(alerts_enqueue(f->conn, app, "package_low", "id2", "[1,2]"));
    assert_false(alerts_enqueue(f->conn, app, "", "id2", "{}"));
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts"), 1);
}

static void test_webhook_secret(void **state)
{
    fixture *f = *state;
    char a[65], b[65], c[65];
    alerts_webhook_secret(&f->key, 1, a);
    alerts_webhook_secret(&f->key, 1, b);
    alerts_webhook_secret(&f->key, 2, c);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    sm_key other = f->key;
    other.bytes[0] ^= 1;
    alerts_webhook_secret(&other, 1, b);
    assert_string_not_equal(a, b);
}

static void test_retry_then_delivered_and_signed(void **state)
{
    fixture *f = *state;
    f->rv = receiver_start(1, 500);
    int64_t app = make_app(f, "shop", true);
    enqueue_committed(f, app, "package_low");
    start_alerts(f);

    assert_true(wait_for(f, "SELECT delivered_at IS NOT NULL FROM alerts", 1, 10));
    assert_int_equal(receiver_count(f->rv), 2);
    assert_int_equal(query_int(f, "SELECT attempts FROM alerts"), 2);
    assert_int_equal(query_int(f, "SELECT last_error IS NULL FROM alerts"), 1);
    /* the retry came one backoff step (1 s, up to the next whole second) later */
    double gap = f->rv->reqs[1].at - f->rv->reqs[0].at;
    assert_true(gap > 0.95 && gap < 2.5);

    char secret[65];
    alerts_webhook_secret(&f->key, app, secret);
    for (int i = 0; i < 2; i++) {
        const received *r = &f->rv->reqs[i];
        assert_non_null(strstr(r->head, "POST /hook/shop HTTP/1.1\r\n"));
        char v[160];
        assert_true(header_value(r->head, "Content-Type", v, sizeof v));
        assert_string_equal(v, "application/json");
        assert_true(header_value(r->head, "X-Shiming-Signature", v, sizeof v));
        uint8_t mac[32];
        unsigned mac_len = 0;
        HMAC(EVP_sha256(), secret, 64, (const unsigned char *)r->body, r->body_len, mac,
             &mac_len);
        char want[72] = "sha256=";
        for (int k = 0; k < 32; k++)
            snprintf(want + 7 + 2 * k, 3, "%02x", mac[k]);
        assert_string_equal(v, want);
        /* the secret itself never travels */
        assert_null(strstr(r->head, secret));
        assert_null(strstr(r->body, secret));

        json_error_t jerr;
        json_t *body = json_loadb(r->body, r->body_len, 0, &jerr);
        assert_non_null(body);
        assert_true(json_is_integer(json_object_get(body, "id")));
        assert_string_equal(json_string_value(json_object_get(body, "type")), "package_low");
        assert_string_equal(json_string_value(json_object_get(body, "app")), "shop");
        assert_non_null(json_string_value(json_object_get(body, "time")));
        json_t *data = json_object_get(body, "data");
        assert_int_equal(json_integer_value(json_object_get(data, "remaining")), 20);
        assert_string_equal(json_string_value(json_object_get(data, "product")), "id2");
        json_decref(body);
    }
    /* both attempts carried the same event, byte for byte */
    assert_int_equal(f->rv->reqs[0].body_len, f->rv->reqs[1].body_len);
    assert_memory_equal(f->rv->reqs[0].body, f->rv->reqs[1].body, f->rv->reqs[0].body_len);
}

static void test_backoff_grows(void **state)
{
    fixture *f = *state;
    f->rv = receiver_start(1000, 503);
    int64_t app = make_app(f, "shop", true);
    enqueue_committed(f, app, "package_exhausted");
    start_alerts(f);

    assert_true(wait_requests(f->rv, 3, 15));
    assert_true(wait_for(f, "SELECT attempts FROM alerts", 3, 5));
    int64_t t3 = (int64_t)time(NULL);
    double gap1 = f->rv->reqs[1].at - f->rv->reqs[0].at;
    double gap2 = f->rv->reqs[2].at - f->rv->reqs[1].at;
    /* 1 s, then 2 s (each up to the next whole second of the wall clock) */
    assert_true(gap1 > 0.95 && gap1 < 2.5);
    assert_true(gap2 > 1.95 && gap2 < 3.5);
    /* the third failure set the next attempt 4 s later (rounded up) */
    int64_t next = query_int(f, "SELECT next_attempt_at FROM alerts");
    assert_true(next >= t3 + 4 && next <= t3 + 5);
    assert_int_equal(query_int(f, "SELECT delivered_at FROM alerts"), -2);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->conn, "SELECT last_error FROM alerts", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "HTTP status 503");
    sqlite3_finalize(st);
    /* nothing more within the first second of the 4 s wait */
    usleep(800000);
    assert_int_equal(receiver_count(f->rv), 3);
}

static void test_survives_stop_and_restart(void **state)
{
    fixture *f = *state;
    f->rv = receiver_start(1000, 500);
    int64_t app = make_app(f, "shop", true);
    int64_t quiet = make_app(f, "quiet", false); /* no webhook: waits */
    enqueue_committed(f, app, "package_low");
    enqueue_committed(f, quiet, "package_low");
    start_alerts(f);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT attempts FROM alerts WHERE app_id = %" PRId64, app);
    assert_true(wait_for(f, sql, 1, 5));
    alerts_stop(f->al);
    f->al = NULL;

    /* both still stored, undelivered; the app without a webhook untried */
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts WHERE delivered_at IS NULL"), 2);
    snprintf(sql, sizeof sql, "SELECT attempts FROM alerts WHERE app_id = %" PRId64, quiet);
    assert_int_equal(query_int(f, sql), 0);

    /* the receiver recovers; a restarted thread delivers (due at once) */
    atomic_store(&f->rv->fail_first, 0);
    exec_sql(f, "UPDATE alerts SET next_attempt_at = 0");
    start_alerts(f);
    snprintf(sql, sizeof sql, "SELECT delivered_at IS NOT NULL FROM alerts WHERE app_id = %" PRId64,
             app);
    assert_true(wait_for(f, sql, 1, 5));
    snprintf(sql, sizeof sql, "SELECT delivered_at IS NULL FROM alerts WHERE app_id = %" PRId64,
             quiet);
    assert_int_equal(query_int(f, sql), 1);

    /* once the quiet app has a webhook, a kick delivers its event */
    tn_app qa;
    assert_int_equal(tenancy_app_get(f->t, "quiet", &qa), TN_OK);
    snprintf(qa.webhook_url, sizeof qa.webhook_url, "http://127.0.0.1:%u/hook/quiet", f->rv->port);
    char err[256];
    assert_int_equal(tenancy_app_update(f->t, &qa, err, sizeof err), TN_OK);
    alerts_kick(f->al);
    assert_true(wait_for(f, "SELECT count(*) FROM alerts WHERE delivered_at IS NULL", 0, 5));
}

static void test_stop_while_receiver_hangs(void **state)
{
    fixture *f = *state;
    f->rv = receiver_start(0, 200);
    atomic_store(&f->rv->hang, true);
    int64_t app = make_app(f, "shop", true);
    enqueue_committed(f, app, "package_low");
    start_alerts(f);
    assert_true(wait_requests(f->rv, 1, 5));
    double t0 = mono_s();
    alerts_stop(f->al);
    f->al = NULL;
    assert_true(mono_s() - t0 < 2.0); /* not the 5 s transfer timeout */
    /* cut off by the stop: still pending, not counted as a failed attempt */
    assert_int_equal(query_int(f, "SELECT attempts FROM alerts"), 0);
    assert_int_equal(query_int(f, "SELECT delivered_at FROM alerts"), -2);
}

static void test_expiring_packages_raised_once(void **state)
{
    fixture *f = *state;
    int64_t app = make_app(f, "shop", false);
    char err[256] = "";
    time_t now = time(NULL) + 8 * 3600; /* China time */
    struct tm tm;
    gmtime_r(&now, &tm);
    sm_date today = {(int16_t)(tm.tm_year + 1900), (int8_t)(tm.tm_mon + 1), (int8_t)tm.tm_mday};
    time_t in3 = now + 3 * 86400, in30 = now + 30 * 86400;
    gmtime_r(&in3, &tm);
    sm_date soon = {(int16_t)(tm.tm_year + 1900), (int8_t)(tm.tm_mon + 1), (int8_t)tm.tm_mday};
    gmtime_r(&in30, &tm);
    sm_date later = {(int16_t)(tm.tm_year + 1900), (int8_t)(tm.tm_mon + 1), (int8_t)tm.tm_mday};
    sm_date never = {0, 0, 0};
    assert_int_equal(tenancy_package_add(f->t, app, "id2", 100, soon, err, sizeof err), TN_OK);
    assert_int_equal(tenancy_package_add(f->t, app, "id4", 100, soon, err, sizeof err), TN_OK);
    assert_int_equal(tenancy_package_add(f->t, app, "id2", 100, later, err, sizeof err), TN_OK);
    assert_int_equal(tenancy_package_add(f->t, app, "id4", 100, never, err, sizeof err), TN_OK);
    assert_int_equal(tenancy_package_add(f->t, app, "id4", 50, today, err, sizeof err), TN_OK);
    /* the id4 package expiring soon has no units left: nothing to warn about */
    exec_sql(f, "UPDATE packages SET used = total WHERE product = 'id4' AND expires <> 0 AND "
                "total = 100");

    start_alerts(f); /* checks at once */
    assert_true(wait_for(f, "SELECT count(*) FROM alerts WHERE type = 'package_expiring'", 2, 5));
    alerts_stop(f->al);
    f->al = NULL;
    /* a restart checks again, and raises nothing new */
    start_alerts(f);
    usleep(500000);
    alerts_stop(f->al);
    f->al = NULL;
    assert_int_equal(query_int(f, "SELECT count(*) FROM alerts WHERE type = 'package_expiring'"),
                     2);

    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->conn,
                                        "SELECT product, payload FROM alerts WHERE type = "
                                        "'package_expiring' ORDER BY product",
                                        -1, &st, NULL),
                     SQLITE_OK);
    char soon_iso[11], today_iso[11];
    sm_date_format_iso(soon, soon_iso);
    sm_date_format_iso(today, today_iso);
    const char *want_expires[2] = {soon_iso, today_iso}; /* id2 soon, id4 today */
    const int64_t want_total[2] = {100, 50};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), i == 0 ? "id2" : "id4");
        json_error_t jerr;
        json_t *p = json_loads((const char *)sqlite3_column_text(st, 1), 0, &jerr);
        assert_non_null(p);
        assert_int_equal(json_integer_value(json_object_get(p, "app_id")), app);
        assert_string_equal(json_string_value(json_object_get(p, "expires")), want_expires[i]);
        assert_int_equal(json_integer_value(json_object_get(p, "total")), want_total[i]);
        assert_int_equal(json_integer_value(json_object_get(p, "remaining")), want_total[i]);
        assert_true(json_is_integer(json_object_get(p, "package_id")));
        json_decref(p);
    }
    sqlite3_finalize(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_is_transactional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_delivered_and_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_stop_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_receiver_hangs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiring_packages_raised_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
