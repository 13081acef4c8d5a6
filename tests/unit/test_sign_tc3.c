/*
 * test_sign_tc3.c — unit tests for the Tencent Cloud API 3.0 signatures
 * (tenancy/sign_tc3.h) with the known answers of the official SDK's
 * captured requests (fixtures/sdk-captures/tencent-*: SecretId
 * testSecretId, SecretKey testSecretKey): the Authorization header parses,
 * the canonical request and the string to sign are the captured ones, and
 * the signature recomputed from them is the one the SDK sent. Plus the v1
 * HmacSHA256 capture, and the parser's refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/server_key.h"
#include "tenancy/sign_tc3.h"

#define SECRET "testSecretKey"

static const char body2[] = "{\"IdCard\":\"110101199003074514\",\"Name\":\"张三\"}";
static const char body4[] = "{\"Name\":\"张三\",\"IdCard\":\"110101199003074514\","
                            "\"ValidityBegin\":\"20150101\",\"ValidityEnd\":\"20350101\"}";

/* Every TC3 capture: the Host header as sent, X-TC-Timestamp, the body, the
 * Authorization header, and (for two) the captured canonical request and
 * string to sign. */
static const struct {
    const char *name;
    const char *host;
    const char *timestamp;
    const char *body;
    const char *authorization;
    const char *canonical;   /* NULL: not checked text for text */
    const char *sts;
} captures[] = {
    {"tencent-idcardverification-ip-ok", "127.0.0.1:44865", "1795335720", body2,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/127/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=6d54fa4713a0d5d2b278e5a066472678ff353329f3464673df8a1ff7117b5ffa",
     "POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1\n\ncontent-type;host\n"
     "c10157a8d42c50fb990970cc27588c457ddbc305180471280ac4b813fb8c9b9b",
     "TC3-HMAC-SHA256\n1795335720\n2026-11-22/127/tc3_request\n"
     "2d7bb707bd5cbac4a6e9cf20b6a24b640818337bc18506efd4c3190cbe468343"},
    {"tencent-checkidnamedate-ip-ok", "127.0.0.1:42053", "1795335720", body4,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/127/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=8357bc221fb91a23f9bfac5656cd0d8bf817f17c746de94abdd1e5261c0245ae",
     "POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1\n\ncontent-type;host\n"
     "954d8f63dddbdf6e6c29d60e5d9f385bb146b1e335e5a1f46737760a58f13f97",
     "TC3-HMAC-SHA256\n1795335720\n2026-11-22/127/tc3_request\n"
     "4d0368b9221f4b2f8d8f692e8c9cd88b8987c5aee4eb4d2f098b9028bbb3c5de"},
    {"tencent-checkidnamedate-svchost-ok", "faceid.tencentcloudapi.com:34743", "1795335721",
     body4,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/faceid/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=c34f3fd56d266231e4c3ea9bfaf175a160e0c26c7345d3ed8ccf2130a9e41100",
     NULL, NULL},
    {"tencent-idcardverification-err200", "faceid.tencentcloudapi.com:35895", "1795335722",
     body2,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/faceid/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=9794d2b08c83151e7b7fa34ae2b1836f0ad9d573009e821bd0f97d9154066233",
     "POST\n/\n\ncontent-type:application/json\nhost:faceid.tencentcloudapi.com\n\n"
     "content-type;host\nc10157a8d42c50fb990970cc27588c457ddbc305180471280ac4b813fb8c9b9b",
     "TC3-HMAC-SHA256\n1795335722\n2026-11-22/faceid/tc3_request\n"
     "ff50179b18bcaef82017c3b9ea7074b28fecb7ec9b2114e21898941f630e973e"},
    {"tencent-idcardverification-noregion-ok", "faceid.tencentcloudapi.com:34497",
     "1795335721", body2,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/faceid/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=87b4a151822f214401b6c39283528c15c3ff753d58d20b6079867db6d2663f1e",
     NULL, NULL},
    {"tencent-idcardverification-svchost-ok", "faceid.tencentcloudapi.com:35621",
     "1795335720", body2,
     "TC3-HMAC-SHA256 Credential=testSecretId/2026-11-22/faceid/tc3_request, "
     "SignedHeaders=content-type;host, "
     "Signature=fd8c4e38eb3c7c340432008a93ea183daf3fbd5f1553883147041b33994b0369",
     NULL, NULL},
};
#define N_CAPTURES (sizeof captures / sizeof captures[0])

/* Recompute one capture's signature the way the dialect does. */
static void recompute(size_t i, uint8_t sig[TC3_SIG_BYTES], char **canonical, char **sts)
{
    tc3_auth a;
    assert_int_equal(tc3_parse_authorization(captures[i].authorization, &a), TC3_AUTH_OK);
    assert_string_equal(a.secret_id, "testSecretId");
    assert_string_equal(a.date, "2026-11-22");
    assert_int_equal(a.n_signed, 2);
    assert_string_equal(a.signed_headers[0], "content-type");
    assert_string_equal(a.signed_headers[1], "host");

    char date[11];
    assert_true(tc3_utc_date(strtoll(captures[i].timestamp, NULL, 10), date));
    assert_string_equal(date, a.date);

    const char *host = captures[i].host;
    size_t host_len = tc3_host_without_port(host, strlen(host));
    tc3_header h[2] = {{"content-type", "application/json", 16}, {"host", host, host_len}};
    char hash[65];
    tc3_sha256_hex(captures[i].body, strlen(captures[i].body), hash);
    size_t clen = 0;
    *canonical = tc3_canonical_request("POST", "/", "", 0, h, 2, hash, &clen);
    assert_non_null(*canonical);
    assert_int_equal(clen, strlen(*canonical));
    size_t slen = 0;
    *sts = tc3_string_to_sign(captures[i].timestamp, a.date, a.service, *canonical, clen, &slen);
    assert_non_null(*sts);
    assert_true(tc3_sign(SECRET, strlen(SECRET), a.date, a.service, *sts, slen, sig));
    assert_memory_equal(sig, a.signature, TC3_SIG_BYTES);
}

static void test_captures_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        print_message("%s\n", captures[i].name);
        uint8_t sig[TC3_SIG_BYTES];
        char *canonical = NULL;
        char *sts = NULL;
        recompute(i, sig, &canonical, &sts);
        if (captures[i].canonical != NULL) {
            assert_string_equal(canonical, captures[i].canonical);
            assert_string_equal(sts, captures[i].sts);
        }
        free(canonical);
        free(sts);
    }
}

/* A wrong secret, another timestamp, another service, the port in the host
 * or another body: the signature differs (the checks can fail). */
static void test_any_change_breaks_the_signature(void **state)
{
    (void)state;
    tc3_auth a;
    assert_int_equal(tc3_parse_authorization(captures[0].authorization, &a), TC3_AUTH_OK);
    const char *hosts[] = {"127.0.0.1", "127.0.0.1:44865", "127.0.0.1", "127.0.0.1"};
    const char *bodies[] = {body2, body2, body4, body2};
    const char *services[] = {"127", "127", "127", "faceid"};
    const char *secrets[] = {"testSecretKeY", SECRET, SECRET, SECRET};
    for (size_t k = 0; k < 4; k++) {
        tc3_header h[2] = {{"content-type", "application/json", 16},
                           {"host", hosts[k], strlen(hosts[k])}};
        char hash[65];
        tc3_sha256_hex(bodies[k], strlen(bodies[k]), hash);
        size_t clen = 0, slen = 0;
        char *c = tc3_canonical_request("POST", "/", "", 0, h, 2, hash, &clen);
        char *s = tc3_string_to_sign("1795335720", "2026-11-22", services[k], c, clen, &slen);
        uint8_t sig[TC3_SIG_BYTES];
        assert_true(tc3_sign(secrets[k], strlen(secrets[k]), "2026-11-22", services[k], s, slen,
                             sig));
        assert_memory_not_equal(sig, a.signature, TC3_SIG_BYTES);
        free(c);
        free(s);
    }
}

/* Canonical header values are trimmed and lower-cased (Tencent's rule);
 * extra signed headers come in the order given. */
static void test_canonical_headers(void **state)
{
    (void)state;
    tc3_header h[3] = {{"content-type", "  Application/JSON; charset=UTF-8 ", 34},
                       {"host", "Example.COM", 11},
                       {"x-tc-action", "IdCardVerification", 18}};
    char hash[65];
    tc3_sha256_hex("", 0, hash);
    assert_string_equal(hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    size_t len = 0;
    char *c = tc3_canonical_request("GET", "/", "Name=x&IdCard=y", 15, h, 3, hash, &len);
    assert_string_equal(c, "GET\n/\nName=x&IdCard=y\n"
                           "content-type:application/json; charset=utf-8\n"
                           "host:example.com\nx-tc-action:idcardverification\n\n"
                           "content-type;host;x-tc-action\n"
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(c);
}

/* The key chain recomputed by hand with OpenSSL's HMAC, step by step:
 * kDate = HMAC("TC3"+key, date), kService, kSigning, then the signature. */
static void hmac_step(const void *key, size_t key_len, const char *msg, uint8_t out[32])
{
    unsigned int n = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
                         strlen(msg), out, &n));
    assert_int_equal(n, 32);
}

static void test_key_chain_by_hand(void **state)
{
    (void)state;
    uint8_t k_date[32], k_service[32], k_signing[32], want[32], got[TC3_SIG_BYTES];
    hmac_step("TC3" SECRET, 3 + strlen(SECRET), "2026-11-22", k_date);
    hmac_step(k_date, 32, "faceid", k_service);
    hmac_step(k_service, 32, "tc3_request", k_signing);
    hmac_step(k_signing, 32, "string to sign", want);
    assert_true(tc3_sign(SECRET, strlen(SECRET), "2026-11-22", "faceid", "string to sign", 14,
                         got));
    assert_memory_equal(got, want, 32);
    assert_true(tc3_sign(SECRET, strlen(SECRET), "2026-11-23", "faceid", "string to sign", 14,
                         got));
    assert_memory_not_equal(got, want, 32); /* the date is part of the key */
}

static void test_parse_refusals(void **state)
{
    (void)state;
    tc3_auth a;
    const char *sig = "Signature=6d54fa4713a0d5d2b278e5a066472678ff353329f3464673df8a1ff7117b5ffa";
    char buf[512];
    static const struct {
        const char *cred;
        const char *signed_headers;
        tc3_auth_status want;
    } cases[] = {
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_OK},
        {"Credential=id/2026-11-22/faceid/tc3_request",
         "SignedHeaders=content-type;host;x-tc-action", TC3_AUTH_OK},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=host;content-type",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=host",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;Host",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;host;",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;host;host",
         TC3_AUTH_SIGNED_HEADERS},
        {"Credential=id/2026-11-22/faceid/tc3_requesT", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=id/2026-11-2/faceid/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=id/20261122/faceid/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=id/2026-11-22//tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=id/2026-11-22/faceid", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credential=id/2026-11-22/a/b/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
        {"Credentials=id/2026-11-22/faceid/tc3_request", "SignedHeaders=content-type;host",
         TC3_AUTH_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf, "TC3-HMAC-SHA256 %s, %s, %s", cases[i].cred,
                 cases[i].signed_headers, sig);
        print_message("%s\n", buf);
        assert_int_equal(tc3_parse_authorization(buf, &a), cases[i].want);
    }
    /* any order, no spaces */
    snprintf(buf, sizeof buf,
             "TC3-HMAC-SHA256 %s,SignedHeaders=content-type;host,"
             "Credential=id/2026-11-22/127/tc3_request",
             sig);
    assert_int_equal(tc3_parse_authorization(buf, &a), TC3_AUTH_OK);
    assert_string_equal(a.service, "127");
    /* missing, repeated parts; bad signatures; other schemes */
    const char *bad[] = {
        "TC3-HMAC-SHA256 Credential=id/2026-11-22/faceid/tc3_request, "
        "SignedHeaders=content-type;host",
        "TC3-HMAC-SHA256 Credential=id/2026-11-22/faceid/tc3_request, "
        "Credential=id/2026-11-22/faceid/tc3_request, SignedHeaders=content-type;host, "
        "Signature=6d54fa4713a0d5d2b278e5a066472678ff353329f3464673df8a1ff7117b5ffa",
        "TC3-HMAC-SHA256 Credential=id/2026-11-22/faceid/tc3_request, "
        "SignedHeaders=content-type;host, Signature=6d54fa47",
        "TC3-HMAC-SHA256 Credential=id/2026-11-22/faceid/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=zd54fa4713a0d5d2b278e5a066472678ff353329f3464673df8a1ff7117b5ffa",
        "TC3-HMAC-SHA256 ",
        "TC3-HMAC-SHA256 garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tc3_parse_authorization(bad[i], &a), TC3_AUTH_MALFORMED);
    assert_int_equal(tc3_parse_authorization("Bearer x", &a), TC3_AUTH_NOT_TC3);
    assert_int_equal(tc3_parse_authorization("TC3-HMAC-SHA256", &a), TC3_AUTH_NOT_TC3);
    assert_int_equal(tc3_parse_authorization("tc3-hmac-sha256 Credential=x", &a),
                     TC3_AUTH_NOT_TC3);
    assert_int_equal(tc3_parse_authorization(NULL, &a), TC3_AUTH_NOT_TC3);
}

static void test_host_and_date(void **state)
{
    (void)state;
    static const struct {
        const char *host;
        size_t want;
    } hosts[] = {
        {"127.0.0.1:44865", 9}, {"faceid.tencentcloudapi.com:1", 26},
        {"faceid.tencentcloudapi.com", 26}, {"[::1]:8080", 5}, {"[::1]", 5},
        {"::1", 3}, {"host:abc", 8}, {"", 0},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        assert_int_equal(tc3_host_without_port(hosts[i].host, strlen(hosts[i].host)),
                         hosts[i].want);
    char d[11];
    assert_true(tc3_utc_date(1795335720, d));
    assert_string_equal(d, "2026-11-22");
    assert_true(tc3_utc_date(0, d));
    assert_string_equal(d, "1970-01-01");
    assert_true(tc3_utc_date(1795305599, d)); /* 2026-11-21T23:59:59Z */
    assert_string_equal(d, "2026-11-21");
    assert_false(tc3_utc_date(-1, d));
    assert_false(tc3_utc_date(253402300800LL, d));
}

/* The captured v1 HmacSHA256 form (tencent-idcardverification-hmacsha256-ok). */
static void test_v1_capture(void **state)
{
    (void)state;
    const tc1_param params[] = {
        {"IdCard", "110101199003074514", 18},
        {"Name", "张三", 6},
        {"Action", "IdCardVerification", 18},
        {"RequestClient", "SDK_NODEJS_4.1.313", 18},
        {"Nonce", "33678", 5},
        {"Timestamp", "1795335722", 10},
        {"Version", "2018-03-01", 10},
        {"SecretId", "testSecretId", 12},
        {"Region", "ap-guangzhou", 12},
        {"SignatureMethod", "HmacSHA256", 10},
        {"Signature", "cYVdMF9ZkTZ6wjGYWs+tr/6jBqpzUj/5dDWJDlr4HQQ=", 44},
    };
    size_t len = 0;
    char *sts = tc1_string_to_sign("POST", "faceid.tencentcloudapi.com:42015", "/", params,
                                   sizeof params / sizeof params[0], &len);
    assert_string_equal(sts, "POSTfaceid.tencentcloudapi.com:42015/?Action=IdCardVerification&"
                             "IdCard=110101199003074514&Name=张三&Nonce=33678&"
                             "Region=ap-guangzhou&RequestClient=SDK_NODEJS_4.1.313&"
                             "SecretId=testSecretId&SignatureMethod=HmacSHA256&"
                             "Timestamp=1795335722&Version=2018-03-01");
    tc1_method m;
    assert_true(tc1_method_from("HmacSHA256", &m));
    assert_int_equal(m, TC1_HMAC_SHA256);
    char sig[64];
    assert_true(tc1_sign_base64(m, SECRET, strlen(SECRET), sts, len, sig));
    assert_string_equal(sig, "cYVdMF9ZkTZ6wjGYWs+tr/6jBqpzUj/5dDWJDlr4HQQ=");
    /* SHA1 over the same string: another, shorter signature */
    assert_true(tc1_method_from("HmacSHA1", &m));
    assert_true(tc1_sign_base64(m, SECRET, strlen(SECRET), sts, len, sig));
    assert_int_equal(strlen(sig), 28);
    assert_string_not_equal(sig, "cYVdMF9ZkTZ6wjGYWs+tr/6jBqpzUj/5dDWJDlr4HQQ=");
    assert_false(tc1_method_from("hmacsha256", &m));
    assert_false(tc1_method_from("TC3-HMAC-SHA256", &m));
    free(sts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captures_verify),
        cmocka_unit_test(test_any_change_breaks_the_signature),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_key_chain_by_hand),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_host_and_date),
        cmocka_unit_test(test_v1_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
