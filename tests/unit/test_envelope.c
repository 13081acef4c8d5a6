/*
 * test_envelope.c — unit tests of dialect A's field encryption: SM4-GCM
 * against the RFC 8998 (appendix A.1) test vector, tag and ciphertext
 * tampering, AES-256-CBC and SM4-GCM field round trips (per-field nonces),
 * and the key pair files: creation (mode 0600), reloading the same keys,
 * refusal of loose permissions, RSA-OAEP-SHA256 and SM2 unwrapping.
 *
 * Must never: depend on the working directory or leave files behind (each
 * test works in its own mkdtemp directory and removes it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto/envelope.h"

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* RFC 8998, A.1: SM4-GCM. */
static const char *K = "0123456789ABCDEFFEDCBA9876543210";
static const char *IV = "00001234567800000000ABCD";
static const char *AAD = "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2";
static const char *PT = "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA";
static const char *CT = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
                        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D";
static const char *TAG = "83DE3541E4C2B58177E065A9BF7B62EC";

static void test_sm4_gcm_rfc8998(void **state)
{
    (void)state;
    uint8_t key[16], iv[12], aad[20], pt[64], ct[64], tag[16], out[64], got_tag[16];
    unhex(K, key);
    unhex(IV, iv);
    size_t aad_len = unhex(AAD, aad);
    size_t len = unhex(PT, pt);
    unhex(CT, ct);
    unhex(TAG, tag);
    assert_int_equal(len, 64);
    assert_true(sm4_gcm_encrypt(key, iv, aad, aad_len, pt, len, out, got_tag));
    assert_memory_equal(out, ct, 64);
    assert_memory_equal(got_tag, tag, 16);

    assert_true(sm4_gcm_decrypt(key, iv, aad, aad_len, ct, len, out, tag));
    assert_memory_equal(out, pt, 64);

    /* a flipped bit anywhere fails, and leaves nothing behind */
    uint8_t bad[16];
    memcpy(bad, tag, 16);
    bad[15] ^= 1;
    assert_false(sm4_gcm_decrypt(key, iv, aad, aad_len, ct, len, out, bad));
    uint8_t zero[64] = {0};
    assert_memory_equal(out, zero, 64);
    ct[10] ^= 0x80;
    assert_false(sm4_gcm_decrypt(key, iv, aad, aad_len, ct, len, out, tag));
    ct[10] ^= 0x80;
    aad[0] ^= 1;
    assert_false(sm4_gcm_decrypt(key, iv, aad, aad_len, ct, len, out, tag));
    aad[0] ^= 1;
    /* partial blocks: a prefix encrypts to the prefix of the ciphertext */
    assert_true(sm4_gcm_encrypt(key, iv, aad, aad_len, pt, 21, out, got_tag));
    assert_memory_equal(out, ct, 21);
    assert_true(sm4_gcm_decrypt(key, iv, aad, aad_len, out, 21, out, got_tag));
    assert_memory_equal(out, pt, 21);
    /* empty message: the tag alone */
    assert_true(sm4_gcm_encrypt(key, iv, NULL, 0, NULL, 0, out, got_tag));
    assert_true(sm4_gcm_decrypt(key, iv, NULL, 0, NULL, 0, out, got_tag));
}

static void test_field_round_trips(void **state)
{
    (void)state;
    uint8_t key[32], iv[16], tag[16], tag2[16];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof iv; i++)
        iv[i] = (uint8_t)(0xf0 + i);
    const char *name = "阿依古丽·买买提";
    for (int a = 0; a < ENVELOPE__COUNT; a++) {
        uint8_t *ct = NULL, *ct2 = NULL, *pt = NULL;
        size_t ct_len = 0, ct2_len = 0, pt_len = 0;
        assert_true(envelope_seal_field((envelope_alg)a, key, iv, 0, (const uint8_t *)name,
                                        strlen(name), &ct, &ct_len, tag));
        assert_int_equal(envelope_open_field((envelope_alg)a, key, iv, 0, ct, ct_len, tag, &pt,
                                             &pt_len),
                         ENVELOPE_OPEN_OK);
        assert_int_equal(pt_len, strlen(name));
        assert_string_equal((char *)pt, name);
        free(pt);
        pt = NULL;
        /* field 1 under the same iv */
        assert_true(envelope_seal_field((envelope_alg)a, key, iv, 1, (const uint8_t *)name,
                                        strlen(name), &ct2, &ct2_len, tag2));
        if (a == ENVELOPE_SM4_GCM) {
            /* its own nonce: another ciphertext; opening as field 0 fails */
            assert_int_equal(ct2_len, ct_len);
            assert_memory_not_equal(ct, ct2, ct_len);
            assert_int_equal(envelope_open_field((envelope_alg)a, key, iv, 0, ct2, ct2_len, tag2,
                                                 &pt, &pt_len),
                             ENVELOPE_OPEN_BAD);
            ct[0] ^= 1;
            assert_int_equal(envelope_open_field((envelope_alg)a, key, iv, 0, ct, ct_len, tag,
                                                 &pt, &pt_len),
                             ENVELOPE_OPEN_BAD);
        } else {
            assert_int_equal(ct_len % 16, 0);
            /* a wrong key: bad padding (or, rarely, garbage that is not the name) */
            key[0] ^= 1;
            envelope_open_status st = envelope_open_field((envelope_alg)a, key, iv, 0, ct, ct_len,
                                                          NULL, &pt, &pt_len);
            if (st == ENVELOPE_OPEN_OK) {
                assert_true(pt_len != strlen(name) || memcmp(pt, name, pt_len) != 0);
                free(pt);
                pt = NULL;
            }
            key[0] ^= 1;
            /* not whole blocks */
            assert_int_equal(envelope_open_field((envelope_alg)a, key, iv, 0, ct, ct_len - 1,
                                                 NULL, &pt, &pt_len),
                             ENVELOPE_OPEN_BAD);
        }
        assert_null(pt);
        free(ct);
        free(ct2);
    }
}

static void test_alg_names(void **state)
{
    (void)state;
    envelope_alg a;
    assert_true(envelope_alg_from_name("AES-256-CBC", &a));
    assert_int_equal(a, ENVELOPE_AES_256_CBC);
    assert_true(envelope_alg_from_name("SM4-GCM", &a));
    assert_int_equal(a, ENVELOPE_SM4_GCM);
    assert_false(envelope_alg_from_name("sm4-gcm", &a));
    assert_false(envelope_alg_from_name("AES-128-CBC", &a));
    assert_false(envelope_alg_from_name(NULL, &a));
    assert_int_equal(envelope_key_len(ENVELOPE_SM4_GCM), 16);
    assert_int_equal(envelope_iv_len(ENVELOPE_AES_256_CBC), 16);
    char out[64];
    assert_true(envelope_default_path("/a/b/server.key", "envelope-rsa.pem", out, sizeof out));
    assert_string_equal(out, "/a/b/envelope-rsa.pem");
    assert_true(envelope_default_path("server.key", "x.pem", out, sizeof out));
    assert_string_equal(out, "x.pem");
    assert_false(envelope_default_path("/a/b/server.key", "a-very-long-name-indeed.pem", out, 10));
}

/* Wrap `key` with the public key of `a`, as a client would. */
static size_t wrap(const envelope_keys *k, envelope_alg a, const uint8_t *key, size_t len,
                   uint8_t *out, size_t cap)
{
    const char *pem = envelope_public_pem(k, a);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(pub);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    if (a == ENVELOPE_AES_256_CBC) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
    }
    size_t n = cap;
    assert_int_equal(EVP_PKEY_encrypt(ctx, out, &n, key, len), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return n;
}

static void test_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/shiming-envelope-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rsa[256], sm2[256], err[256];
    snprintf(rsa, sizeof rsa, "%s/sub/envelope-rsa.pem", dir);
    snprintf(sm2, sizeof sm2, "%s/sub/envelope-sm2.pem", dir);

    bool created = false;
    assert_null(envelope_keys_load(rsa, sm2, false, &created, err, sizeof err));
    assert_non_null(strstr(err, "does not exist"));
    envelope_keys *k = envelope_keys_load(rsa, sm2, true, &created, err, sizeof err);
    assert_non_null(k);
    assert_true(created);
    struct stat sb;
    assert_int_equal(stat(rsa, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(sm2, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_non_null(strstr(envelope_public_pem(k, ENVELOPE_SM4_GCM), "BEGIN PUBLIC KEY"));
    assert_int_equal(strlen(envelope_fingerprint(k, ENVELOPE_AES_256_CBC)), 64);

    /* reloaded: the same keys */
    envelope_keys *k2 = envelope_keys_load(rsa, sm2, true, &created, err, sizeof err);
    assert_non_null(k2);
    assert_false(created);
    for (int a = 0; a < ENVELOPE__COUNT; a++)
        assert_string_equal(envelope_fingerprint(k, (envelope_alg)a),
                            envelope_fingerprint(k2, (envelope_alg)a));

    /* unwrap what a client wrapped; another server's keys cannot */
    char rsa3[256], sm23[256];
    snprintf(rsa3, sizeof rsa3, "%s/other-rsa.pem", dir);
    snprintf(sm23, sizeof sm23, "%s/other-sm2.pem", dir);
    envelope_keys *other = envelope_keys_load(rsa3, sm23, true, NULL, err, sizeof err);
    assert_non_null(other);
    for (int i = 0; i < ENVELOPE__COUNT; i++) {
        envelope_alg a = (envelope_alg)i;
        uint8_t key[32], got[ENVELOPE_KEY_MAX], blob[512];
        for (size_t j = 0; j < sizeof key; j++)
            key[j] = (uint8_t)(j + 3);
        size_t n = wrap(k, a, key, envelope_key_len(a), blob, sizeof blob);
        assert_true(envelope_unwrap(k2, a, blob, n, got));
        assert_memory_equal(got, key, envelope_key_len(a));
        assert_false(envelope_unwrap(other, a, blob, n, got));
        blob[n / 2] ^= 1;
        assert_false(envelope_unwrap(k2, a, blob, n, got));
        /* a key of the wrong length */
        n = wrap(k, a, key, envelope_key_len(a) - 1, blob, sizeof blob);
        assert_false(envelope_unwrap(k2, a, blob, n, got));
        assert_false(envelope_unwrap(k2, a, blob, 0, got));
    }
    envelope_keys_free(other);
    envelope_keys_free(k2);
    envelope_keys_free(k);

    /* loose permissions are refused */
    assert_int_equal(chmod(sm2, 0644), 0);
    assert_null(envelope_keys_load(rsa, sm2, true, NULL, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    /* a key of the wrong type is refused */
    assert_int_equal(chmod(sm2, 0600), 0);
    assert_null(envelope_keys_load(sm2, rsa, true, NULL, err, sizeof err));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sm4_gcm_rfc8998),
        cmocka_unit_test(test_field_round_trips),
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
