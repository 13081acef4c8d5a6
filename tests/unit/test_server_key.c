/*
 * test_server_key.c — unit tests of the server key and keyed hashes: the
 * HMAC against known vectors, sub-key separation (HKDF), fingerprints, and
 * the key file: creation (mode 0600, format), reloading, refusal of loose
 * permissions and malformed files, and concurrent first starts.
 *
 * Must never: depend on the working directory or leave files behind (every
 * test works in its own mkdtemp directory and removes it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/server_key.h"

/* ---------------------------------------------------------------- helpers */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/shiming-test-key-XXXXXX");
    if (dir == NULL || mkdtemp(dir) == NULL)
        return -1;
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    rm_rf(*state);
    free(*state);
    return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static sm_key key_0_to_31(void)
{
    sm_key k;
    for (int i = 0; i < SM_KEY_BYTES; i++)
        k.bytes[i] = (uint8_t)i;
    return k;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------------ HMAC */

/* Vectors computed independently with Python's hmac module and
 * `openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f`. */
static void test_hmac_known_vectors(void **state)
{
    (void)state;
    sm_key k = key_0_to_31();
    sm_hmac *h = sm_hmac_new(&k);
    assert_non_null(h);
    uint8_t out[SM_HASH_BYTES];
    char text[2 * SM_HASH_BYTES + 1];
    const char *msg = "The quick brown fox jumps over the lazy dog";

    assert_true(sm_hmac_compute(h, msg, strlen(msg), NULL, 0, out));
    hex(out, sizeof out, text);
    assert_string_equal(text, "f87ad256151fc7b4c5dffa4adb3ebe911a8eeb8a8ebdee3c2a4a8e5f5ec02c32");

    /* Two parts hash as their concatenation. */
    assert_true(sm_hmac_compute(h, msg, 10, msg + 10, strlen(msg) - 10, out));
    hex(out, sizeof out, text);
    assert_string_equal(text, "f87ad256151fc7b4c5dffa4adb3ebe911a8eeb8a8ebdee3c2a4a8e5f5ec02c32");

    assert_true(sm_hmac_compute(h, "", 0, NULL, 0, out));
    hex(out, sizeof out, text);
    assert_string_equal(text, "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");

    /* The prepared state is reusable: the same input again, same output. */
    uint8_t again[SM_HASH_BYTES];
    assert_true(sm_hmac_compute(h, msg, strlen(msg), NULL, 0, again));
    assert_true(sm_hmac_compute(h, msg, strlen(msg), NULL, 0, out));
    assert_memory_equal(out, again, SM_HASH_BYTES);
    sm_hmac_free(h);
}

static void test_hmac_matches_openssl(void **state)
{
    (void)state;
    /* Against OpenSSL's own one-shot HMAC for a range of lengths, across
     * the 64-byte block boundary. */
    sm_key k;
    for (int i = 0; i < SM_KEY_BYTES; i++)
        k.bytes[i] = (uint8_t)(0xa5 ^ (i * 7));
    sm_hmac *h = sm_hmac_new(&k);
    assert_non_null(h);
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 31 + 3);
    for (size_t len = 0; len <= sizeof msg; len += 13) {
        uint8_t a[SM_HASH_BYTES], b[EVP_MAX_MD_SIZE];
        size_t blen = 0;
        assert_true(sm_hmac_compute(h, msg, len, NULL, 0, a));
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k.bytes, SM_KEY_BYTES, msg,
                                  len, b, sizeof b, &blen));
        assert_int_equal(blen, SM_HASH_BYTES);
        assert_memory_equal(a, b, SM_HASH_BYTES);
    }
    sm_hmac_free(h);
}

static void test_hash_equal(void **state)
{
    (void)state;
    uint8_t a[SM_HASH_BYTES], b[SM_HASH_BYTES];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(sm_hash_equal(a, b));
    b[31] ^= 1;
    assert_false(sm_hash_equal(a, b));
    b[31] ^= 1;
    b[0] ^= 0x80;
    assert_false(sm_hash_equal(a, b));
}

typedef struct {
    const sm_hmac *h;
    uint8_t expect[SM_HASH_BYTES];
    int mismatches;
} hmac_job;

static void *hmac_worker(void *arg)
{
    hmac_job *j = arg;
    for (int i = 0; i < 2000; i++) {
        uint8_t out[SM_HASH_BYTES];
        if (!sm_hmac_compute(j->h, "110105194912310021", 18, "x", 1, out) ||
            !sm_hash_equal(out, j->expect))
            j->mismatches++;
    }
    return NULL;
}

static void test_hmac_shared_between_threads(void **state)
{
    (void)state;
    sm_key k = key_0_to_31();
    sm_hmac *h = sm_hmac_new(&k);
    assert_non_null(h);
    hmac_job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].h = h;
        jobs[i].mismatches = 0;
        assert_true(sm_hmac_compute(h, "110105194912310021", 18, "x", 1, jobs[i].expect));
        assert_int_equal(pthread_create(&t[i], NULL, hmac_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].mismatches, 0);
    }
    sm_hmac_free(h);
}

/* ------------------------------------------------------------ derivation */

static void test_derive_separates_purposes(void **state)
{
    (void)state;
    sm_key k = key_0_to_31();
    sm_key a, b, a2;
    assert_true(sm_key_derive(&k, "registry/id-number", &a));
    assert_true(sm_key_derive(&k, "registry/name", &b));
    assert_true(sm_key_derive(&k, "registry/id-number", &a2));
    char text[65];
    /* HKDF-SHA256(ikm = 00..1f, salt = "shiming", info = label), computed
     * independently (RFC 5869 in Python). */
    hex(a.bytes, SM_KEY_BYTES, text);
    assert_string_equal(text, "ca63cef52895923b7aa1635a901d3b1003a87b2b8503c34acaa460567e15b5bb");
    assert_memory_equal(a.bytes, a2.bytes, SM_KEY_BYTES);
    assert_memory_not_equal(a.bytes, b.bytes, SM_KEY_BYTES);
    assert_memory_not_equal(a.bytes, k.bytes, SM_KEY_BYTES);

    /* The same message hashed under the two sub-keys differs. */
    sm_hmac *ha = sm_hmac_new(&a), *hb = sm_hmac_new(&b);
    uint8_t x[SM_HASH_BYTES], y[SM_HASH_BYTES];
    assert_true(sm_hmac_compute(ha, "11010519491231002X", 18, NULL, 0, x));
    assert_true(sm_hmac_compute(hb, "11010519491231002X", 18, NULL, 0, y));
    assert_false(sm_hash_equal(x, y));
    sm_hmac_free(ha);
    sm_hmac_free(hb);

    /* Another server key gives other sub-keys. */
    sm_key k2 = k;
    k2.bytes[0] ^= 1;
    sm_key c;
    assert_true(sm_key_derive(&k2, "registry/id-number", &c));
    assert_memory_not_equal(a.bytes, c.bytes, SM_KEY_BYTES);

    sm_key_clear(&a);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        assert_int_equal(a.bytes[i], 0);
}

static void test_fingerprint(void **state)
{
    (void)state;
    sm_key k = key_0_to_31();
    char fp[17], fp2[17];
    sm_key_fingerprint(&k, fp);
    /* first 8 bytes of HMAC(key, "fingerprint"), computed with Python */
    assert_string_equal(fp, "5ab8c392c2c54035");
    k.bytes[5] ^= 0x10;
    sm_key_fingerprint(&k, fp2);
    assert_int_equal(strlen(fp2), 16);
    assert_string_not_equal(fp, fp2);
}

/* -------------------------------------------------------------- key file */

static void test_key_file_created_0600(void **state)
{
    const char *dir = *state;
    const char *path = path_in(dir, "sub/dir/server.key"); /* parents created */
    sm_key k1, k2;
    bool created = false;
    char err[512];
    assert_int_equal(sm_key_load(path, true, &k1, &created, err, sizeof err), SM_KEY_OK);
    assert_true(created);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
    assert_int_equal(stat(path_in(dir, "sub/dir"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* The file is the key in hex plus a newline. */
    char text[80] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(text, 1, sizeof text - 1, f), 65);
    fclose(f);
    char expect[66];
    hex(k1.bytes, SM_KEY_BYTES, expect);
    expect[64] = '\n';
    expect[65] = '\0';
    assert_string_equal(text, expect);

    /* Loading again gives the same key and creates nothing. */
    assert_int_equal(sm_key_load(path, true, &k2, &created, err, sizeof err), SM_KEY_OK);
    assert_false(created);
    assert_memory_equal(k1.bytes, k2.bytes, SM_KEY_BYTES);

    /* No temp file left next to it. */
    int entries = 0;
    DIR *d = opendir(path_in(dir, "sub/dir"));
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);

    /* Two installations get different keys. */
    sm_key k3;
    assert_int_equal(sm_key_load(path_in(dir, "other.key"), true, &k3, &created, err, sizeof err),
                     SM_KEY_OK);
    assert_true(created);
    assert_memory_not_equal(k1.bytes, k3.bytes, SM_KEY_BYTES);
}

static void test_key_file_missing_without_create(void **state)
{
    const char *dir = *state;
    const char *path = path_in(dir, "none.key");
    sm_key k;
    bool created = true;
    char err[512] = "";
    assert_int_equal(sm_key_load(path, false, &k, &created, err, sizeof err), SM_KEY_ERR_IO);
    assert_false(created);
    assert_non_null(strstr(err, "does not exist"));
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0); /* and nothing was created */
}

static void test_key_file_accepted_forms(void **state)
{
    const char *dir = *state;
    sm_key k;
    char err[512];
    const char *lower = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const char *upper = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
    sm_key expect = key_0_to_31();

    write_file(path_in(dir, "a.key"), lower, 64, 0600); /* no newline */
    assert_int_equal(sm_key_load(path_in(dir, "a.key"), false, &k, NULL, err, sizeof err),
                     SM_KEY_OK);
    assert_memory_equal(k.bytes, expect.bytes, SM_KEY_BYTES);

    char buf[80];
    snprintf(buf, sizeof buf, "%s\n", upper);
    write_file(path_in(dir, "b.key"), buf, 65, 0400); /* read-only is fine */
    assert_int_equal(sm_key_load(path_in(dir, "b.key"), false, &k, NULL, err, sizeof err),
                     SM_KEY_OK);
    assert_memory_equal(k.bytes, expect.bytes, SM_KEY_BYTES);
}

static void test_key_file_format_errors(void **state)
{
    const char *dir = *state;
    const char *good = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    struct {
        const char *text;
        size_t len;
    } bad[] = {
        {"", 0},
        {"0001", 4},
        {good, 63},                                                            /* short */
        {"g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64}, /* not hex */
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", 66},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\r\n", 66},
        {" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 65},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", 66},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = path_in(dir, "bad.key");
        write_file(path, bad[i].text, bad[i].len, 0600);
        sm_key k;
        char err[512] = "";
        sm_key_status st = sm_key_load(path, true, &k, NULL, err, sizeof err);
        if (st != SM_KEY_ERR_FORMAT)
            fail_msg("case %zu: status %d, expected SM_KEY_ERR_FORMAT", i, (int)st);
        assert_non_null(strstr(err, "64 hexadecimal"));
        /* the message never echoes key material */
        assert_null(strstr(err, "0001020304"));
        /* and a malformed file is not replaced by a new key */
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal((size_t)sb.st_size, bad[i].len);
    }
}

static void test_key_file_permissions(void **state)
{
    const char *dir = *state;
    const char *good = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0606, 0777};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *path = path_in(dir, "loose.key");
        write_file(path, good, 65, modes[i]);
        sm_key k;
        char err[512] = "";
        assert_int_equal(sm_key_load(path, true, &k, NULL, err, sizeof err),
                         SM_KEY_ERR_PERMISSIONS);
        assert_non_null(strstr(err, "chmod 600"));
    }
    /* A directory where the key should be is an I/O error. */
    assert_int_equal(mkdir(path_in(dir, "adir.key"), 0700), 0);
    sm_key k;
    char err[512];
    assert_int_equal(sm_key_load(path_in(dir, "adir.key"), true, &k, NULL, err, sizeof err),
                     SM_KEY_ERR_IO);
}

typedef struct {
    const char *path;
    sm_key key;
    bool created;
    sm_key_status st;
} load_job;

static void *load_worker(void *arg)
{
    load_job *j = arg;
    char err[512];
    j->st = sm_key_load(j->path, true, &j->key, &j->created, err, sizeof err);
    return NULL;
}

static void test_key_file_concurrent_first_start(void **state)
{
    const char *dir = *state;
    /* Several starters race to create the key: exactly one creates it, and
     * all end up with the same key (none overwrites another's). */
    for (int round = 0; round < 5; round++) {
        char name[32];
        snprintf(name, sizeof name, "race%d.key", round);
        const char *path = path_in(dir, name);
        load_job jobs[8];
        pthread_t t[8];
        for (int i = 0; i < 8; i++) {
            jobs[i].path = path;
            assert_int_equal(pthread_create(&t[i], NULL, load_worker, &jobs[i]), 0);
        }
        int creators = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(jobs[i].st, SM_KEY_OK);
            creators += jobs[i].created;
        }
        assert_int_equal(creators, 1);
        sm_key onfile;
        char err[512];
        assert_int_equal(sm_key_load(path, false, &onfile, NULL, err, sizeof err), SM_KEY_OK);
        for (int i = 0; i < 8; i++)
            assert_memory_equal(jobs[i].key.bytes, onfile.bytes, SM_KEY_BYTES);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_known_vectors),
        cmocka_unit_test(test_hmac_matches_openssl),
        cmocka_unit_test(test_hash_equal),
        cmocka_unit_test(test_hmac_shared_between_threads),
        cmocka_unit_test(test_derive_separates_purposes),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test_setup_teardown(test_key_file_created_0600, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_file_missing_without_create, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_file_accepted_forms, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_file_format_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_file_permissions, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_file_concurrent_first_start, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
