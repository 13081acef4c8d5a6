/*
 * test_tenancy.c — unit tests of tenancy/: apps (create, get, list, status,
 * update and their validation), credentials of every kind (generated and
 * given, right/wrong/other-kind authentication, encrypted round trip, no
 * secret bytes in the store's files, wrong server key refused), admission
 * (status, IPv4/IPv6 allowlists and v4-mapped clients, token bucket, daily
 * limit, quota, expired packages), the failed-auth limiter, and recording
 * (charged vs free, usage against audit rows under concurrency, the
 * exhaustion race, idempotent answers, group commit, package alerts).
 *
 * Must never: depend on the working directory or leave files behind (each
 * test has its own mkdtemp directory, removed afterwards).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tenancy/internal.h"
#include "tenancy/tenancy.h"

/* ---------------------------------------------------------------- fixture */

typedef struct {
    char dir[64];
    char db[128];
    sm_key key;
    tenancy *t;
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
    strcpy(f->dir, "/tmp/shiming-test-tn-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tenancy.db", f->dir);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        f->key.bytes[i] = (uint8_t)(i * 7 + 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tenancy_close(f->t);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static tenancy *open_store(fixture *f, bool threads)
{
    tn_options o = {.path = f->db, .key = &f->key, .create = true, .busy_timeout_ms = 5000,
                    .start_threads = threads};
    char err[512] = "";
    tenancy *t = NULL;
    tn_status st = tenancy_open(&o, &t, err, sizeof err);
    if (st != TN_OK)
        fail_msg("tenancy_open: %d: %s", (int)st, err);
    f->t = t;
    return t;
}

static void reopen(fixture *f, bool threads)
{
    tenancy_close(f->t);
    f->t = NULL;
    open_store(f, threads);
}

static tn_app make_app(tenancy *t, const char *name)
{
    tn_app a;
    char err[256];
    tn_status st = tenancy_app_create(t, name, &a, err, sizeof err);
    if (st != TN_OK)
        fail_msg("app_create %s: %s", name, err);
    return a;
}

static void add_package(tenancy *t, int64_t app, const char *product, int64_t total,
                        sm_date expires)
{
    char err[256];
    tn_status st = tenancy_package_add(t, app, product, total, expires, err, sizeof err);
    if (st != TN_OK)
        fail_msg("package_add: %s", err);
}

static const sm_date never = {0, 0, 0};

static tn_record rec_of(int64_t app, const char *product, sm_verdict v)
{
    tn_record r = {
        .app_id = app,
        .product = product,
        .dialect = "native",
        .request_id = "req-1",
        .verdict = v,
        .id18 = "110105198503150035",
        .name = "王伟",
        .client_ip = "127.0.0.1",
        .latency_ms = 1.25,
        .http_status = 200,
    };
    return r;
}

static int64_t query_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void exec_raw(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
    /* Another connection's write is seen by the store's readers within
     * SQLP_SNAPSHOT_MS (store.c's top comment). */
    usleep((SQLP_SNAPSHOT_MS + 20) * 1000);
}

/* ------------------------------------------------------------------- apps */

static void test_apps(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    char err[256] = "";
    tn_app a, b, got;
    assert_int_equal(tenancy_app_create(t, "acme-games", &a, err, sizeof err), TN_OK);
    assert_true(a.id > 0);
    assert_int_equal(a.status, TN_APP_ACTIVE);
    assert_int_equal(tenancy_app_create(t, "acme-games", &b, err, sizeof err), TN_ERR_EXISTS);
    assert_non_null(strstr(err, "acme-games"));
    assert_int_equal(tenancy_app_create(t, "bad name", &b, err, sizeof err), TN_ERR_INVALID);
    assert_int_equal(tenancy_app_create(t, "", &b, err, sizeof err), TN_ERR_INVALID);
    char longname[80];
    memset(longname, 'x', 70);
    longname[70] = '\0';
    assert_int_equal(tenancy_app_create(t, longname, &b, err, sizeof err), TN_ERR_INVALID);
    assert_int_equal(tenancy_app_create(t, "beta.app_2", &b, err, sizeof err), TN_OK);

    assert_int_equal(tenancy_app_get(t, "acme-games", &got), TN_OK);
    assert_int_equal(got.id, a.id);
    char idtxt[24];
    snprintf(idtxt, sizeof idtxt, "%lld", (long long)b.id);
    assert_int_equal(tenancy_app_get(t, idtxt, &got), TN_OK);
    assert_string_equal(got.name, "beta.app_2");
    assert_int_equal(tenancy_app_get(t, "nobody", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tenancy_app_get(t, "9999", &got), TN_ERR_NOT_FOUND);

    tn_app *list = NULL;
    size_t n = 0;
    assert_int_equal(tenancy_app_list(t, &list, &n), TN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "acme-games");
    assert_string_equal(list[1].name, "beta.app_2");
    free(list);

    assert_int_equal(tenancy_app_set_status(t, a.id, TN_APP_FROZEN), TN_OK);
    assert_int_equal(tenancy_app_get(t, "acme-games", &got), TN_OK);
    assert_int_equal(got.status, TN_APP_FROZEN);
    assert_int_equal(tenancy_app_set_status(t, 9999, TN_APP_FROZEN), TN_ERR_NOT_FOUND);

    tn_app u = got;
    snprintf(u.ip_allow, sizeof u.ip_allow, "10.0.0.0/8, 2001:db8::/32,192.168.1.7");
    u.daily_limit = 100;
    u.rate_per_s = 5.5;
    u.burst = 10;
    snprintf(u.webhook_url, sizeof u.webhook_url, "https://hooks.example.com/x");
    assert_int_equal(tenancy_app_update(t, &u, err, sizeof err), TN_OK);
    assert_int_equal(tenancy_app_get(t, "acme-games", &got), TN_OK);
    assert_string_equal(got.ip_allow, u.ip_allow);
    assert_int_equal(got.daily_limit, 100);
    assert_true(got.rate_per_s == 5.5);
    assert_int_equal(got.burst, 10);
    assert_string_equal(got.webhook_url, "https://hooks.example.com/x");
    assert_int_equal(got.status, TN_APP_FROZEN);

    tn_app bad = u;
    snprintf(bad.ip_allow, sizeof bad.ip_allow, "10.0.0.0/33");
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_INVALID);
    snprintf(bad.ip_allow, sizeof bad.ip_allow, "not-an-ip");
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_INVALID);
    assert_non_null(strstr(err, "not-an-ip"));
    bad = u;
    snprintf(bad.webhook_url, sizeof bad.webhook_url, "ftp://x");
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_INVALID);
    bad = u;
    bad.rate_per_s = -1;
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_INVALID);
    bad = u;
    bad.burst = 0;
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_INVALID);
    bad = u;
    bad.id = 9999;
    assert_int_equal(tenancy_app_update(t, &bad, err, sizeof err), TN_ERR_NOT_FOUND);

    /* Persisted across a reopen. */
    reopen(f, false);
    assert_int_equal(tenancy_app_get(f->t, "acme-games", &got), TN_OK);
    assert_int_equal(got.daily_limit, 100);

    tn_app_status s;
    assert_true(tn_app_status_from_code("disabled", &s));
    assert_int_equal(s, TN_APP_DISABLED);
    assert_false(tn_app_status_from_code("gone", &s));
    assert_string_equal(tn_app_status_code(TN_APP_FROZEN), "frozen");
}

/* ------------------------------------------------------------ credentials */

static void test_hashed_credentials(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a"), b = make_app(t, "b");
    char err[256];
    tn_cred_kind kinds[] = {TN_CRED_NATIVE, TN_CRED_BEARER, TN_CRED_APPCODE};
    for (size_t i = 0; i < 3; i++) {
        tn_cred_kind k = kinds[i];
        assert_false(tn_cred_kind_has_id(k));
        tn_new_cred c;
        assert_int_equal(tenancy_cred_add(t, a.id, k, NULL, NULL, &c, err, sizeof err), TN_OK);
        assert_int_equal(c.kind, k);
        assert_string_equal(c.id, "");
        assert_true(strlen(c.secret) >= 40);
        if (k == TN_CRED_NATIVE)
            assert_memory_equal(c.secret, "sk_", 3);
        tn_app got;
        assert_int_equal(tenancy_authenticate(t, k, c.secret, strlen(c.secret), &got), TN_OK);
        assert_int_equal(got.id, a.id);
        assert_string_equal(got.name, "a");
        /* Wrong secret, truncated secret, another kind. */
        char wrong[TN_SECRET_MAX];
        snprintf(wrong, sizeof wrong, "%s", c.secret);
        wrong[5] ^= 1;
        assert_int_equal(tenancy_authenticate(t, k, wrong, strlen(wrong), &got), TN_ERR_NOT_FOUND);
        assert_int_equal(tenancy_authenticate(t, k, c.secret, strlen(c.secret) - 1, &got),
                         TN_ERR_NOT_FOUND);
        tn_cred_kind other = kinds[(i + 1) % 3];
        assert_int_equal(tenancy_authenticate(t, other, c.secret, strlen(c.secret), &got),
                         TN_ERR_NOT_FOUND);
        assert_int_equal(tenancy_authenticate(t, k, "", 0, &got), TN_ERR_NOT_FOUND);
    }
    /* Given secrets: accepted when well-formed, unique per kind. */
    tn_new_cred c;
    assert_int_equal(tenancy_cred_add(t, b.id, TN_CRED_BEARER, NULL, "demo-bearer-token-1", &c,
                                      err, sizeof err),
                     TN_OK);
    assert_string_equal(c.secret, "demo-bearer-token-1");
    tn_app got;
    assert_int_equal(tenancy_authenticate(t, TN_CRED_BEARER, "demo-bearer-token-1", 19, &got),
                     TN_OK);
    assert_int_equal(got.id, b.id);
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_BEARER, NULL, "demo-bearer-token-1", &c,
                                      err, sizeof err),
                     TN_ERR_EXISTS);
    /* The same secret under another kind is another credential. */
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_NATIVE, NULL, "demo-bearer-token-1", &c,
                                      err, sizeof err),
                     TN_OK);
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_NATIVE, NULL, "short", &c, err, sizeof err),
                     TN_ERR_INVALID);
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_NATIVE, NULL, "has space inside", &c, err,
                                      sizeof err),
                     TN_ERR_INVALID);
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_NATIVE, "someid", NULL, &c, err, sizeof err),
                     TN_ERR_INVALID);
    assert_int_equal(tenancy_cred_add(t, 9999, TN_CRED_NATIVE, NULL, NULL, &c, err, sizeof err),
                     TN_ERR_NOT_FOUND);
    /* A secret given for one kind does not leak into the error. */
    assert_null(strstr(err, "demo-bearer"));
}

static void test_encrypted_credentials(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    char err[256];
    tn_cred_kind kinds[] = {TN_CRED_APIKEY, TN_CRED_ACCESSKEY, TN_CRED_APPSECRET};
    for (size_t i = 0; i < 3; i++) {
        tn_cred_kind k = kinds[i];
        assert_true(tn_cred_kind_has_id(k));
        tn_new_cred c;
        assert_int_equal(tenancy_cred_add(t, a.id, k, NULL, NULL, &c, err, sizeof err), TN_OK);
        assert_true(strlen(c.id) > 0);
        assert_true(strlen(c.secret) >= 30);
        if (k == TN_CRED_APPSECRET) {
            assert_int_equal(strlen(c.id), 10);
            for (int j = 0; j < 10; j++)
                assert_true(c.id[j] >= '0' && c.id[j] <= '9');
        }
        char secret[TN_SECRET_MAX];
        tn_app got;
        assert_int_equal(tenancy_credential_secret(t, k, c.id, secret, &got), TN_OK);
        assert_string_equal(secret, c.secret);
        assert_int_equal(got.id, a.id);
        assert_int_equal(tenancy_credential_secret(t, k, "nope", secret, &got), TN_ERR_NOT_FOUND);
        tn_cred_kind other = kinds[(i + 1) % 3];
        assert_int_equal(tenancy_credential_secret(t, other, c.id, secret, &got),
                         TN_ERR_NOT_FOUND);
        /* Encrypted kinds do not authenticate by hash. */
        assert_int_equal(tenancy_authenticate(t, k, c.secret, strlen(c.secret), &got),
                         TN_ERR_NOT_FOUND);
    }
    /* Given id and secret. */
    tn_new_cred c;
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_APPSECRET, "1234567890",
                                      "given-app-secret-000", &c, err, sizeof err),
                     TN_OK);
    char secret[TN_SECRET_MAX];
    tn_app got;
    assert_int_equal(tenancy_credential_secret(t, TN_CRED_APPSECRET, "1234567890", secret, &got),
                     TN_OK);
    assert_string_equal(secret, "given-app-secret-000");
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_APPSECRET, "1234567890", NULL, &c, err,
                                      sizeof err),
                     TN_ERR_EXISTS);
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_APIKEY, "bad id!", NULL, &c, err,
                                      sizeof err),
                     TN_ERR_INVALID);
    /* A ciphertext moved to another id does not decrypt (id is AAD). */
    assert_int_equal(tenancy_cred_add(t, a.id, TN_CRED_APPSECRET, "1111111111",
                                      "other-app-secret-00", &c, err, sizeof err),
                     TN_OK);
    exec_raw(f->db, "UPDATE credentials SET secret_ciphertext = (SELECT secret_ciphertext FROM"
                    " credentials WHERE cred_id = '1234567890'), nonce = (SELECT nonce FROM"
                    " credentials WHERE cred_id = '1234567890'), tag = (SELECT tag FROM"
                    " credentials WHERE cred_id = '1234567890') WHERE cred_id = '1111111111'");
    assert_int_equal(tenancy_credential_secret(t, TN_CRED_APPSECRET, "1111111111", secret, &got),
                     TN_ERR_NOT_FOUND);
    /* Survives a reopen (same key). */
    reopen(f, false);
    assert_int_equal(
        tenancy_credential_secret(f->t, TN_CRED_APPSECRET, "1234567890", secret, &got), TN_OK);
    assert_string_equal(secret, "given-app-secret-000");
}

static bool file_contains(const char *path, const void *needle, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return false;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    bool found = memmem(buf, got, needle, n) != NULL;
    free(buf);
    return found;
}

static void test_no_secrets_in_file(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 10, never);
    char err[256];
    tn_new_cred creds[TN_CRED__COUNT];
    for (int k = 0; k < TN_CRED__COUNT; k++)
        assert_int_equal(
            tenancy_cred_add(t, a.id, (tn_cred_kind)k, NULL, NULL, &creds[k], err, sizeof err),
            TN_OK);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < TN_CRED__COUNT; k++) {
            const char *s = creds[k].secret;
            assert_false(file_contains(f->db, s, strlen(s)));
            assert_false(file_contains(wal, s, strlen(s)));
            /* Not even a long piece of it. */
            assert_false(file_contains(f->db, s + 4, 16));
            assert_false(file_contains(wal, s + 4, 16));
        }
        assert_false(file_contains(f->db, "110105198503150035", 18));
        assert_false(file_contains(wal, "110105198503150035", 18));
        assert_false(file_contains(f->db, "王伟", strlen("王伟")));
        assert_false(file_contains(wal, "王伟", strlen("王伟")));
        reopen(f, false); /* second pass: after a checkpoint on close */
        t = f->t;
    }
    /* The masked forms are there (the audit row). */
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE subject_id_masked ="
                                      " '110***********0035' AND subject_name_masked = '王*'"),
                     1);
}

static void test_wrong_key(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    make_app(t, "a");
    tenancy_close(t);
    f->t = NULL;
    sm_key other = f->key;
    other.bytes[0] ^= 0xff;
    tn_options o = {.path = f->db, .key = &other, .create = true};
    char err[512] = "";
    tenancy *t2 = NULL;
    assert_int_equal(tenancy_open(&o, &t2, err, sizeof err), TN_ERR_KEY);
    assert_null(t2);
    assert_non_null(strstr(err, "another server key"));
    /* Missing store without create. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.db", f->dir);
    tn_options o2 = {.path = missing, .key = &f->key, .create = false};
    assert_int_equal(tenancy_open(&o2, &t2, err, sizeof err), TN_ERR_UNAVAILABLE);
    /* A newer schema is refused. */
    exec_raw(f->db, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
    tn_options o3 = {.path = f->db, .key = &f->key, .create = false};
    assert_int_equal(tenancy_open(&o3, &t2, err, sizeof err), TN_ERR_SCHEMA);
}

/* -------------------------------------------------------------- admission */

static void test_admit_status_and_ip(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    double ra;
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.2.3.4", &ra), TN_ADMIT_OK);
    assert_string_equal(tn_admit_code(TN_ADMIT_NO_QUOTA), "quota_exhausted");

    tenancy_app_set_status(t, a.id, TN_APP_FROZEN);
    tenancy_app_get(t, "a", &a);
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.2.3.4", &ra), TN_ADMIT_FROZEN);
    tenancy_app_set_status(t, a.id, TN_APP_DISABLED);
    tenancy_app_get(t, "a", &a);
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.2.3.4", &ra), TN_ADMIT_DISABLED);
    tenancy_app_set_status(t, a.id, TN_APP_ACTIVE);
    tenancy_app_get(t, "a", &a);

    char err[256];
    snprintf(a.ip_allow, sizeof a.ip_allow, "10.1.0.0/16, 2001:db8:abcd::/48, 192.0.2.9");
    assert_int_equal(tenancy_app_update(t, &a, err, sizeof err), TN_OK);
    tenancy_app_get(t, "a", &a);
    struct {
        const char *ip;
        tn_admit want;
    } cases[] = {
        {"10.1.2.3", TN_ADMIT_OK},
        {"10.2.0.1", TN_ADMIT_IP_DENIED},
        {"::ffff:10.1.200.1", TN_ADMIT_OK},      /* v4-mapped */
        {"::ffff:10.3.0.1", TN_ADMIT_IP_DENIED},
        {"2001:db8:abcd:12::1", TN_ADMIT_OK},
        {"2001:db8:abce::1", TN_ADMIT_IP_DENIED},
        {"192.0.2.9", TN_ADMIT_OK},              /* plain address */
        {"192.0.2.10", TN_ADMIT_IP_DENIED},
        {"garbage", TN_ADMIT_IP_DENIED},
        {NULL, TN_ADMIT_IP_DENIED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tn_admit got = tenancy_admit(t, &a, NULL, cases[i].ip, &ra);
        if (got != cases[i].want)
            fail_msg("ip %s: got %s, want %s", cases[i].ip ? cases[i].ip : "(null)",
                     tn_admit_code(got), tn_admit_code(cases[i].want));
    }
    /* A /0 admits everything of its family. */
    snprintf(a.ip_allow, sizeof a.ip_allow, "::/0");
    assert_int_equal(tenancy_admit(t, &a, NULL, "2001:db8::5", &ra), TN_ADMIT_OK);
}

static void test_token_bucket(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    a.rate_per_s = 20;
    a.burst = 3;
    double ra = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tenancy_admit(t, &a, NULL, "1.1.1.1", &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.1.1.1", &ra), TN_ADMIT_RATE_LIMITED);
    assert_true(ra > 0 && ra <= 0.05 + 1e-9);
    /* Another app has its own bucket. */
    tn_app b = make_app(t, "b");
    b.rate_per_s = 20;
    b.burst = 1;
    assert_int_equal(tenancy_admit(t, &b, NULL, "1.1.1.1", &ra), TN_ADMIT_OK);
    /* After the retry time a token is back. */
    usleep((useconds_t)(0.06 * 1e6));
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.1.1.1", &ra), TN_ADMIT_OK);
    /* Never more than the burst, however long the pause was. */
    int ok = 1;
    while (tenancy_admit(t, &a, NULL, "1.1.1.1", &ra) == TN_ADMIT_OK)
        assert_true(++ok <= 3);
}

static void test_daily_limit(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 100, never);
    a.daily_limit = 3;
    double ra;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tenancy_admit(t, &a, "id2", "1.1.1.1", &ra), TN_ADMIT_OK);
        tn_record r = rec_of(a.id, "id2", i == 0 ? SM_VERDICT_NOT_FOUND : SM_VERDICT_MATCH);
        assert_true(tenancy_record(t, &r) != TN_RECORD_FAILED);
        tenancy_admit_done(t, a.id);
    }
    assert_int_equal(tenancy_admit(t, &a, "id2", "1.1.1.1", &ra), TN_ADMIT_DAILY_LIMIT);
    assert_true(ra > 0 && ra <= 86400);
    /* Unmetered calls are not limited by it. */
    assert_int_equal(tenancy_admit(t, &a, NULL, "1.1.1.1", &ra), TN_ADMIT_OK);

    /* In-flight calls count: admitted but not yet recorded. */
    tn_app b = make_app(t, "b");
    add_package(t, b.id, "id2", 100, never);
    b.daily_limit = 2;
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_DAILY_LIMIT);
    /* An admitted call abandoned without a record (a malformed request, an
     * idempotent replay) gives its place back, however steady the traffic. */
    tenancy_admit_done(t, b.id);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_DAILY_LIMIT);
    tenancy_admit_done(t, b.id);
    tenancy_admit_done(t, b.id);
    /* Two released, none recorded: two free places again. */
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_OK);
    assert_int_equal(tenancy_admit(t, &b, "id2", NULL, &ra), TN_ADMIT_DAILY_LIMIT);
}

static void test_quota(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    double ra;
    assert_int_equal(tenancy_admit(t, &a, "id2", NULL, &ra), TN_ADMIT_NO_QUOTA);
    sm_date past = {2020, 1, 1};
    add_package(t, a.id, "id2", 5, past);
    assert_int_equal(tenancy_admit(t, &a, "id2", NULL, &ra), TN_ADMIT_NO_QUOTA);
    /* A package of another product does not help. */
    add_package(t, a.id, "id4", 5, never);
    assert_int_equal(tenancy_admit(t, &a, "id2", NULL, &ra), TN_ADMIT_NO_QUOTA);
    assert_int_equal(tenancy_admit(t, &a, "id4", NULL, &ra), TN_ADMIT_OK);

    sm_date future = {9999, 12, 31};
    add_package(t, a.id, "id2", 1, future);
    assert_int_equal(tenancy_admit(t, &a, "id2", NULL, &ra), TN_ADMIT_OK);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MISMATCH);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(tenancy_admit(t, &a, "id2", NULL, &ra), TN_ADMIT_NO_QUOTA);
    /* A charged record with nothing left is refused, not charged. */
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_NO_QUOTA);

    /* Validation of package_add. */
    char err[256];
    assert_int_equal(tenancy_package_add(t, a.id, "nope", 5, never, err, sizeof err),
                     TN_ERR_INVALID);
    assert_int_equal(tenancy_package_add(t, a.id, "id2", 0, never, err, sizeof err),
                     TN_ERR_INVALID);
    sm_date bad = {2023, 2, 30};
    assert_int_equal(tenancy_package_add(t, a.id, "id2", 5, bad, err, sizeof err), TN_ERR_INVALID);
    assert_int_equal(tenancy_package_add(t, 9999, "id2", 5, never, err, sizeof err),
                     TN_ERR_NOT_FOUND);
    /* Topping up a package of the same expiry. */
    add_package(t, a.id, "id2", 4, future);
    tn_package *p = NULL;
    size_t n = 0;
    assert_int_equal(tenancy_usage(t, a.id, &p, &n), TN_OK);
    int64_t id2_future_total = -1, id2_future_used = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].product, "id2") == 0 && p[i].expires.year == 9999) {
            id2_future_total = p[i].total;
            id2_future_used = p[i].used;
        }
    free(p);
    assert_int_equal(n, 3);
    assert_int_equal(id2_future_total, 5);
    assert_int_equal(id2_future_used, 1);
    assert_int_equal(tenancy_usage(t, 9999, &p, &n), TN_ERR_NOT_FOUND);
}

static void test_auth_limiter(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    double ra = -1;
    assert_false(tenancy_auth_blocked(t, "203.0.113.5", &ra));
    for (int i = 0; i < TN_AUTH_FAIL_MAX - 1; i++)
        tenancy_auth_failed(t, "203.0.113.5");
    assert_false(tenancy_auth_blocked(t, "203.0.113.5", &ra));
    tenancy_auth_failed(t, "203.0.113.5");
    assert_true(tenancy_auth_blocked(t, "203.0.113.5", &ra));
    assert_true(ra > 0 && ra <= 60);
    assert_false(tenancy_auth_blocked(t, "203.0.113.6", &ra));
    /* Many other IPs: bounded memory, no crash; the table still works. */
    char ip[48];
    for (int i = 0; i < 20000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        tenancy_auth_failed(t, ip);
    }
    for (int i = 0; i < TN_AUTH_FAIL_MAX; i++)
        tenancy_auth_failed(t, "198.51.100.1");
    assert_true(tenancy_auth_blocked(t, "198.51.100.1", &ra));
}

/* ---------------------------------------------------------------- record */

static void test_record_charged_vs_free(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 100, never);
    assert_true(tn_product_known("id2"));
    assert_true(tn_product_known("id4"));
    assert_false(tn_product_known("ocr"));
    assert_true(tn_product_charges("id4", SM_VERDICT_MISMATCH));
    assert_false(tn_product_charges("id4", SM_VERDICT_NOT_FOUND));
    struct {
        sm_verdict v;
        tn_record_result want;
    } cases[] = {
        {SM_VERDICT_MATCH, TN_RECORDED_CHARGED},
        {SM_VERDICT_MISMATCH, TN_RECORDED_CHARGED},
        {SM_VERDICT_NOT_FOUND, TN_RECORDED_FREE},
        {SM_VERDICT_INVALID_ID, TN_RECORDED_FREE},
        {SM_VERDICT_INVALID_NAME, TN_RECORDED_FREE},
        {SM_VERDICT_REGISTRY_UNAVAILABLE, TN_RECORDED_FREE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tn_record r = rec_of(a.id, "id2", cases[i].v);
        if (cases[i].v == SM_VERDICT_INVALID_ID) {
            r.id18 = NULL;
            r.id_raw = "12345";
        }
        assert_int_equal(tenancy_record(t, &r), cases[i].want);
    }
    tn_package *p = NULL;
    size_t n = 0;
    assert_int_equal(tenancy_usage(t, a.id, &p, &n), TN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].used, 2);
    free(p);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE charged = 1"), 2);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit"), 6);
    /* The invalid ID has no subject hash; the others do, all equal. */
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE subject_hash IS NULL"), 1);
    assert_int_equal(
        query_int(f->db, "SELECT COUNT(DISTINCT subject_hash) FROM audit WHERE subject_hash"
                         " IS NOT NULL"),
        1);
    assert_int_equal(query_int(f->db, "SELECT SUM(calls) FROM daily_usage"), 6);
    assert_int_equal(query_int(f->db, "SELECT SUM(charged) FROM daily_usage"), 2);
}

static void test_earliest_expiring_first(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    sm_date later = {9999, 1, 1}, sooner = {9000, 1, 1};
    add_package(t, a.id, "id2", 10, never);
    add_package(t, a.id, "id2", 10, later);
    add_package(t, a.id, "id2", 1, sooner);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(query_int(f->db, "SELECT used FROM packages WHERE expires = 90000101"), 1);
    assert_int_equal(query_int(f->db, "SELECT used FROM packages WHERE expires = 99990101"), 1);
    assert_int_equal(query_int(f->db, "SELECT used FROM packages WHERE expires = 0"), 0);
}

static void test_alerts_raised(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 10, never);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
    for (int i = 0; i < 7; i++)
        assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM alerts"), 0);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED); /* 2 left = 20 % */
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM alerts WHERE type = 'package_low'"),
                     1);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED); /* the last unit */
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM alerts WHERE type = 'package_low'"),
                     1);
    assert_int_equal(
        query_int(f->db, "SELECT COUNT(*) FROM alerts WHERE type = 'package_exhausted'"), 1);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_NO_QUOTA);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM alerts"), 2);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM alerts WHERE app_id = 1 AND"
                                      " product = 'id2' AND payload LIKE '%\"remaining\":0%'"),
                     1);
}

static void test_idempotency(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 10, never);
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(tenancy_idem_get(t, a.id, "id2", "k1", &status, &body, &len),
                     TN_ERR_NOT_FOUND);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
    r.idem_key = "k1";
    r.http_status = 200;
    r.body = "{\"verdict\":\"match\"}";
    r.body_len = strlen(r.body);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    assert_int_equal(tenancy_idem_get(t, a.id, "id2", "k1", &status, &body, &len), TN_OK);
    assert_int_equal(status, 200);
    assert_int_equal(len, r.body_len);
    assert_memory_equal(body, r.body, len);
    free(body);
    /* A second answer under the same key keeps the first. */
    tn_record r2 = r;
    r2.http_status = 503;
    r2.body = "other";
    r2.body_len = 5;
    assert_true(tenancy_record(t, &r2) != TN_RECORD_FAILED);
    assert_int_equal(tenancy_idem_get(t, a.id, "id2", "k1", &status, &body, &len), TN_OK);
    assert_int_equal(status, 200);
    free(body);
    /* Keys are per app and product. */
    assert_int_equal(tenancy_idem_get(t, a.id, "id4", "k1", &status, &body, &len),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tenancy_idem_get(t, a.id + 1, "id2", "k1", &status, &body, &len),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tenancy_idem_get(t, a.id, "id2", "k2", &status, &body, &len),
                     TN_ERR_NOT_FOUND);
    /* Entries older than 24 h are not answered. */
    exec_raw(f->db, "UPDATE idempotency SET created_at = created_at - 90000");
    assert_int_equal(tenancy_idem_get(t, a.id, "id2", "k1", &status, &body, &len),
                     TN_ERR_NOT_FOUND);
}

typedef struct {
    tenancy *t;
    int64_t app;
    int n;
    int seed;
    int charged, free_, no_quota, failed;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        sm_verdict v = (i + w->seed) % 3 == 0 ? SM_VERDICT_NOT_FOUND
                       : (i % 2)              ? SM_VERDICT_MATCH
                                              : SM_VERDICT_MISMATCH;
        tn_record r = rec_of(w->app, "id2", v);
        char rid[32];
        snprintf(rid, sizeof rid, "w%d-%d", w->seed, i);
        r.request_id = rid;
        switch (tenancy_record(w->t, &r)) {
        case TN_RECORDED_CHARGED: w->charged++; break;
        case TN_RECORDED_FREE: w->free_++; break;
        case TN_RECORDED_NO_QUOTA: w->no_quota++; break;
        case TN_RECORD_FAILED: w->failed++; break;
        }
    }
    return NULL;
}

static void run_workers(tenancy *t, int64_t app, int threads, int per, worker_arg *args)
{
    pthread_t th[32];
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_arg){.t = t, .app = app, .n = per, .seed = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
}

static void test_concurrent_usage_and_group_commit(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, true);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 1000000, never);
    worker_arg args[8];
    run_workers(t, a.id, 8, 500, args);
    int charged = 0, free_ = 0, failed = 0;
    for (int i = 0; i < 8; i++) {
        charged += args[i].charged;
        free_ += args[i].free_;
        failed += args[i].failed;
    }
    assert_int_equal(failed, 0);
    assert_int_equal(charged + free_, 4000);
    uint64_t batches = 0, records = 0;
    tenancy_debug_counters(t, &batches, &records);
    assert_int_equal(records, 4000);
    assert_true(batches < records); /* group commit batched some */
    print_message("group commit: %llu records in %llu transactions\n",
                  (unsigned long long)records, (unsigned long long)batches);
    tenancy_close(t);
    f->t = NULL;
    assert_int_equal(query_int(f->db, "SELECT used FROM packages"), charged);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE charged = 1"), charged);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit"), 4000);
    assert_int_equal(query_int(f->db, "SELECT SUM(charged) FROM daily_usage"), charged);
    assert_int_equal(query_int(f->db, "SELECT MAX(id) FROM audit"), 4000);
    /* The chain is intact after concurrent writes. */
    open_store(f, false);
    int64_t rows = 0, broken = -1;
    assert_int_equal(tenancy_audit_verify(f->t, &rows, &broken), TN_OK);
    assert_int_equal(rows, 4000);
    assert_int_equal(broken, 0);
}

static void test_exhaustion_race(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, true);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 2, never);
    worker_arg args[16];
    pthread_t th[16];
    for (int i = 0; i < 16; i++) {
        /* seed 0: every third verdict is not_found (free), the rest charged */
        args[i] = (worker_arg){.t = t, .app = a.id, .n = 10, .seed = 0};
    }
    for (int i = 0; i < 16; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    int charged = 0, no_quota = 0, free_ = 0;
    for (int i = 0; i < 16; i++) {
        charged += args[i].charged;
        no_quota += args[i].no_quota;
        free_ += args[i].free_;
        assert_int_equal(args[i].failed, 0);
    }
    assert_int_equal(charged, 2);
    assert_int_equal(charged + no_quota + free_, 160);
    assert_int_equal(free_, 16 * 4); /* i = 0, 3, 6, 9 of each thread */
    assert_int_equal(no_quota, 160 - 64 - 2);
    assert_int_equal(query_int(f->db, "SELECT used FROM packages"), 2);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE charged = 1"), 2);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit WHERE outcome = 'no_quota'"),
                     no_quota);
}

static void test_record_failure_writes_nothing(void **state)
{
    fixture *f = *state;
    tenancy *t = open_store(f, false);
    tn_app a = make_app(t, "a");
    add_package(t, a.id, "id2", 10, never);
    tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    /* Another process holds the write lock: the record fails, nothing is
     * half-written, and the chain continues correctly afterwards. */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tenancy_close(t);
    f->t = NULL;
    tn_options o = {.path = f->db, .key = &f->key, .create = false, .busy_timeout_ms = 100};
    char err[256];
    /* (open needs the lock too: release it for the open, retake it after) */
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    assert_int_equal(tenancy_open(&o, &f->t, err, sizeof err), TN_OK);
    t = f->t;
    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tenancy_record(t, &r), TN_RECORD_FAILED);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    assert_int_equal(query_int(f->db, "SELECT used FROM packages"), 1);
    assert_int_equal(query_int(f->db, "SELECT COUNT(*) FROM audit"), 1);
    assert_int_equal(tenancy_record(t, &r), TN_RECORDED_CHARGED);
    int64_t rows = 0, broken = -1;
    assert_int_equal(tenancy_audit_verify(t, &rows, &broken), TN_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(broken, 0);
}

/* The asynchronous form: the callback runs once per record, after the
 * commit (usage already counted when it runs), on the writer thread for a
 * running writer, and before the call returns without one. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    tn_record_result last;
    tenancy *t;
    int64_t app;
    int64_t used_at_callback;
} async_probe;

static int64_t used_of(tenancy *t, int64_t app)
{
    tn_package *pk = NULL;
    size_t n = 0;
    assert_int_equal(tenancy_usage(t, app, &pk, &n), TN_OK);
    int64_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += pk[i].used;
    free(pk);
    return used;
}

static void async_done(void *arg, tn_record_result r)
{
    async_probe *p = arg;
    int64_t used = used_of(p->t, p->app); /* committed before we are told */
    pthread_mutex_lock(&p->mu);
    p->calls++;
    p->last = r;
    p->used_at_callback = used;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void test_record_async(void **state)
{
    fixture *f = *state;
    for (int threads = 0; threads <= 1; threads++) {
        tenancy *t = open_store(f, threads == 1);
        char name[16];
        snprintf(name, sizeof name, "async%d", threads);
        tn_app a = make_app(t, name);
        add_package(t, a.id, "id2", 10, never);
        async_probe p = {.t = t, .app = a.id};
        pthread_mutex_init(&p.mu, NULL);
        pthread_cond_init(&p.cv, NULL);
        tn_record r = rec_of(a.id, "id2", SM_VERDICT_MATCH);
        assert_true(tenancy_record_async(t, &r, async_done, &p));
        pthread_mutex_lock(&p.mu);
        while (p.calls == 0)
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        assert_int_equal(p.calls, 1);
        assert_int_equal(p.last, TN_RECORDED_CHARGED);
        assert_int_equal(p.used_at_callback, 1);
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
        tenancy_close(t);
        f->t = NULL;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hashed_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secrets_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_status_and_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daily_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_limiter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_charged_vs_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_earliest_expiring_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_raised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_usage_and_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
