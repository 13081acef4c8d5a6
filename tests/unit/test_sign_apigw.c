/*
 * test_sign_apigw.c — the API gateway's AppKey/AppSecret signature
 * (tenancy/sign_apigw.h) against the known answers of the official SDK's
 * captures (../shared/fixtures/sdk-captures/apigw-appkey-*.json, AppSecret
 * "testAppSecret"), and the nonce cache (tenancy_nonce_fresh): replays
 * refused, schemes apart, entries expiring, growth, empty nonces refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy/sign_apigw.h"
#include "tenancy/tenancy.h"

#define SECRET "testAppSecret"

/* The capture apigw-appkey-ok: the SDK's headers and form fields. */
static bool capture_sts(const char *nonce, const char *ts, const char *extra_header,
                        char **sts, size_t *len)
{
    /* Given out of order: the function sorts. */
    apigw_header h[5] = {
        {"x-ca-timestamp", ts},
        {"x-ca-nonce", nonce},
        {"x-ca-key", "testAppKey"},
        {"x-ca-stage", "RELEASE"},
        {"x-ca-signature-method", "HmacSHA1"},
    };
    apigw_param p[2] = {
        {"name", 4, "张三", strlen("张三")},
        {"idNo", 4, "340421190210182345", 18},
    };
    return apigw_string_to_sign("POST", "application/json", NULL,
                                "application/x-www-form-urlencoded; charset=UTF-8", NULL, h,
                                extra_header != NULL ? 5 : 4, "/idenAuthentication", p, 2, sts,
                                len);
}

static void test_capture_ok(void **state)
{
    (void)state;
    char *sts = NULL;
    size_t len = 0;
    assert_true(capture_sts("8e36e09f-5b29-4ebc-afaf-f56933535d4c", "1795335722536", NULL, &sts,
                            &len));
    assert_string_equal(sts, "POST\napplication/json\n\napplication/x-www-form-urlencoded; "
                             "charset=UTF-8\n\nx-ca-key:testAppKey\n"
                             "x-ca-nonce:8e36e09f-5b29-4ebc-afaf-f56933535d4c\n"
                             "x-ca-stage:RELEASE\nx-ca-timestamp:1795335722536\n"
                             "/idenAuthentication?idNo=340421190210182345&name=张三");
    assert_int_equal(len, strlen(sts));
    char sig[APIGW_SIG_MAX];
    assert_true(apigw_sign(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len, sig));
    assert_string_equal(sig, "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVM=");
    assert_true(apigw_verify(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len,
                             "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVM="));
    /* one character off, truncated, another key, another algorithm */
    assert_false(apigw_verify(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len,
                              "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVN="));
    assert_false(apigw_verify(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len,
                              "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVM"));
    assert_false(apigw_verify(APIGW_HMAC_SHA256, "testAppSecreT", 13, sts, len,
                              "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVM="));
    assert_false(apigw_verify(APIGW_HMAC_SHA1, SECRET, strlen(SECRET), sts, len,
                              "JFUzNMsK0fVgRbh24OJ8dxrH33m08BJ7IIUkxUnMGVM="));
    assert_false(apigw_verify(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len, NULL));
    free(sts);
}

static void test_capture_err400(void **state)
{
    (void)state;
    char *sts = NULL;
    size_t len = 0;
    assert_true(capture_sts("16dc621a-62f2-4aa7-b2f2-42384d3fcc46", "1795335722670", NULL, &sts,
                            &len));
    char sig[APIGW_SIG_MAX];
    assert_true(apigw_sign(APIGW_HMAC_SHA256, SECRET, strlen(SECRET), sts, len, sig));
    assert_string_equal(sig, "hwQ6kiDeGM3Q41uVbssrgM46tPKyB6Mf817JhV2egwk=");
    free(sts);
}

/* HmacSHA1, with X-Ca-Signature-Method signed; the answer computed with
 * `openssl dgst -sha1 -hmac testAppSecret -binary | base64`. */
static void test_hmac_sha1(void **state)
{
    (void)state;
    char *sts = NULL;
    size_t len = 0;
    assert_true(capture_sts("8e36e09f-5b29-4ebc-afaf-f56933535d4c", "1795335722536", "sha1", &sts,
                            &len));
    assert_non_null(strstr(sts, "\nx-ca-signature-method:HmacSHA1\nx-ca-stage:RELEASE\n"));
    char sig[APIGW_SIG_MAX];
    assert_true(apigw_sign(APIGW_HMAC_SHA1, SECRET, strlen(SECRET), sts, len, sig));
    assert_string_equal(sig, "18JLG7j+b+0j7xi4+Pb6ML1ICaQ=");
    free(sts);
}

static void test_shapes(void **state)
{
    (void)state;
    char *sts = NULL;
    size_t len = 0;
    /* no headers, no parameters: five lines then the path */
    assert_true(apigw_string_to_sign("POST", NULL, NULL, NULL, NULL, NULL, 0, "/p", NULL, 0, &sts,
                                     &len));
    assert_string_equal(sts, "POST\n\n\n\n\n/p");
    free(sts);
    /* an empty value is the bare name; byte order of names; a NUL kept */
    apigw_param p[3] = {{"b", 1, "", 0}, {"a", 1, "x\0y", 3}, {"B", 1, "1", 1}};
    assert_true(apigw_string_to_sign("GET", "*/*", "md5==", "text/plain", "Sun", NULL, 0, "/p", p,
                                     3, &sts, &len));
    const char want[] = "GET\n*/*\nmd5==\ntext/plain\nSun\n/p?B=1&a=x\0y&b";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(sts, want, len);
    free(sts);

    apigw_alg a;
    assert_true(apigw_alg_from_name(NULL, &a));
    assert_int_equal(a, APIGW_HMAC_SHA256);
    assert_true(apigw_alg_from_name("HmacSHA256", &a));
    assert_int_equal(a, APIGW_HMAC_SHA256);
    assert_true(apigw_alg_from_name("HmacSHA1", &a));
    assert_int_equal(a, APIGW_HMAC_SHA1);
    assert_false(apigw_alg_from_name("hmacsha1", &a));
    assert_false(apigw_alg_from_name("HmacMD5", &a));
}

/* ------------------------------------------------------------- nonces */

typedef struct {
    char dir[64];
    char db[128];
    tenancy *t;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/shiming-test-nonce-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tenancy.db", f->dir);
    sm_key key;
    for (int i = 0; i < SM_KEY_BYTES; i++)
        key.bytes[i] = (uint8_t)(i * 5 + 1);
    tn_options o = {.path = f->db, .key = &key, .create = true};
    char err[256];
    if (tenancy_open(&o, &f->t, err, sizeof err) != TN_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tenancy_close(f->t);
    char path[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", f->db, suffix[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

#define W 900000 /* 15 minutes */

static void test_nonce_replay(void **state)
{
    fixture *f = *state;
    int64_t now = 1795335722536;
    assert_true(tenancy_nonce_fresh(f->t, "apigw:k", "n-1", now, W));
    assert_false(tenancy_nonce_fresh(f->t, "apigw:k", "n-1", now + 1, W));
    assert_false(tenancy_nonce_fresh(f->t, "apigw:k", "n-1", now + 2 * W - 1, W));
    /* another scheme or key, another nonce: fresh */
    assert_true(tenancy_nonce_fresh(f->t, "apigw:other", "n-1", now, W));
    assert_true(tenancy_nonce_fresh(f->t, "apigw:k", "n-2", now, W));
    /* the scheme and the nonce do not run together */
    assert_true(tenancy_nonce_fresh(f->t, "apigw:", "kn-1", now, W));
    /* once two windows have passed no request can carry it: fresh again */
    assert_true(tenancy_nonce_fresh(f->t, "apigw:k", "n-1", now + 2 * W, W));
    assert_false(tenancy_nonce_fresh(f->t, "apigw:k", "n-1", now + 2 * W, W));
    /* nothing to remember: refused */
    assert_false(tenancy_nonce_fresh(f->t, "apigw:k", "", now, W));
    assert_false(tenancy_nonce_fresh(f->t, "apigw:k", NULL, now, W));
    assert_false(tenancy_nonce_fresh(NULL, "apigw:k", "x", now, W));
}

static void test_nonce_many(void **state)
{
    fixture *f = *state;
    int64_t now = 1795335722536;
    char n[32];
    /* past several growths */
    for (int i = 0; i < 20000; i++) {
        snprintf(n, sizeof n, "nonce-%d", i);
        assert_true(tenancy_nonce_fresh(f->t, "s", n, now + i, W));
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(n, sizeof n, "nonce-%d", i);
        assert_false(tenancy_nonce_fresh(f->t, "s", n, now + 20000, W));
    }
    /* much later every one has expired: the table is rebuilt, not grown */
    int64_t later = now + 3 * W;
    for (int i = 0; i < 20000; i++) {
        snprintf(n, sizeof n, "other-%d", i);
        assert_true(tenancy_nonce_fresh(f->t, "s", n, later + i, W));
    }
    snprintf(n, sizeof n, "nonce-%d", 7);
    assert_true(tenancy_nonce_fresh(f->t, "s", n, later, W));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_ok),
        cmocka_unit_test(test_capture_err400),
        cmocka_unit_test(test_hmac_sha1),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test_setup_teardown(test_nonce_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_many, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
