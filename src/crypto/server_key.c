/*
 * server_key.c — the server key file, HKDF sub-keys, fingerprints and the
 * prepared HMAC-SHA256 used for every keyed hash (see server_key.h).
 *
 * OpenSSL 3 EVP interfaces only (EVP_MD, EVP_KDF); random bytes from
 * RAND_bytes; comparisons with CRYPTO_memcmp; every secret intermediate is
 * wiped with OPENSSL_cleanse.
 *
 * Must never: print, log or put key material in an error message; write a
 * key file readable by anyone but its owner; replace an existing key file
 * (a second process racing to create one loads the winner's key instead).
 */
#include "common/fsutil.h"
#include "crypto/server_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/errbuf.h"

#define HMAC_BLOCK 64 /* SHA-256 block size */

struct sm_hmac {
    EVP_MD *md;           /* fetched once: no implicit fetch per call */
    EVP_MD_CTX *inner;    /* SHA-256 state after (key ^ ipad) */
    EVP_MD_CTX *outer;    /* SHA-256 state after (key ^ opad) */
};

/* ------------------------------------------------------------ key file */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 64 hex characters, optionally followed by one "\n". */
static bool parse_key_text(const char *buf, size_t len, sm_key *out)
{
    if (len == SM_KEY_BYTES * 2 + 1 && buf[len - 1] == '\n')
        len--;
    if (len != SM_KEY_BYTES * 2)
        return false;
    for (size_t i = 0; i < SM_KEY_BYTES; i++) {
        int hi = hex_value(buf[2 * i]), lo = hex_value(buf[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, sizeof *out);
            return false;
        }
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

typedef enum { READ_OK, READ_MISSING, READ_FAILED } read_result;

static read_result read_key_file(const char *path, sm_key *out, sm_key_status *st, char *err,
                                 size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return READ_MISSING;
        *st = SM_KEY_ERR_IO;
        set_err(err, errlen, "cannot read key file '%s': %s", path, strerror(errno));
        return READ_FAILED;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        *st = SM_KEY_ERR_IO;
        set_err(err, errlen, "key file '%s' is not a regular file", path);
        return READ_FAILED;
    }
    if ((sb.st_mode & 077) != 0) {
        close(fd);
        *st = SM_KEY_ERR_PERMISSIONS;
        set_err(err, errlen,
                "key file '%s' is accessible by group or others (mode %03o); "
                "run: chmod 600 '%s'",
                path, (unsigned)(sb.st_mode & 0777), path);
        return READ_FAILED;
    }
    char buf[SM_KEY_BYTES * 2 + 8];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, sizeof buf);
            *st = SM_KEY_ERR_IO;
            set_err(err, errlen, "cannot read key file '%s': %s", path, strerror(e));
            return READ_FAILED;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have == sizeof buf)
            break; /* too long: a format error below */
    }
    close(fd);
    bool ok = parse_key_text(buf, have, out);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!ok) {
        *st = SM_KEY_ERR_FORMAT;
        set_err(err, errlen,
                "key file '%s' is not a server key (expected 64 hexadecimal characters and "
                "an optional newline)",
                path);
        return READ_FAILED;
    }
    return READ_OK;
}

/* Write a new random key to a temp file and publish it at `path` without
 * ever replacing an existing file. *raced: someone else published first. */
static sm_key_status create_key_file(const char *path, sm_key *out, bool *raced, char *err,
                                     size_t errlen)
{
    *raced = false;
    if (RAND_bytes(out->bytes, SM_KEY_BYTES) != 1) {
        set_err(err, errlen, "the random number generator failed; no key was created");
        return SM_KEY_ERR_RANDOM;
    }
    char text[SM_KEY_BYTES * 2 + 1];
    sm_hex_encode(out->bytes, SM_KEY_BYTES, text);
    text[SM_KEY_BYTES * 2] = '\n'; /* the file: 64 hex characters and a newline */
    int rc = create_private_file(path, text, sizeof text, err, errlen);
    OPENSSL_cleanse(text, sizeof text);
    if (rc == 1)
        return SM_KEY_OK;
    OPENSSL_cleanse(out, sizeof *out);
    if (rc == 0) { /* another process created the key meanwhile: load that one */
        *raced = true;
        return SM_KEY_OK;
    }
    return SM_KEY_ERR_IO;
}

sm_key_status sm_key_load(const char *path, bool create, sm_key *out, bool *created, char *err,
                          size_t errlen)
{
    if (created != NULL)
        *created = false;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        set_err(err, errlen, "no key file given");
        return SM_KEY_ERR_IO;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        sm_key_status st = SM_KEY_OK;
        switch (read_key_file(path, out, &st, err, errlen)) {
        case READ_OK:
            return SM_KEY_OK;
        case READ_FAILED:
            return st;
        case READ_MISSING:
            break;
        }
        if (!create) {
            set_err(err, errlen, "key file '%s' does not exist", path);
            return SM_KEY_ERR_IO;
        }
        bool raced = false;
        st = create_key_file(path, out, &raced, err, errlen);
        if (st != SM_KEY_OK)
            return st;
        if (!raced) {
            if (created != NULL)
                *created = true;
            return SM_KEY_OK;
        }
        /* Another process created it first: load theirs. */
    }
    set_err(err, errlen, "cannot create or read key file '%s'", path);
    return SM_KEY_ERR_IO;
}

/* ------------------------------------------------------------ derivation */

bool sm_key_derive(const sm_key *key, const char *label, sm_key *out)
{
    static const char salt[] = "shiming";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL)
        return false;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx == NULL)
        return false;
    OSSL_PARAM params[5];
    size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key->bytes,
                                                    SM_KEY_BYTES);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                                    sizeof salt - 1);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label,
                                                    strlen(label));
    params[n] = OSSL_PARAM_construct_end();
    sm_key tmp;
    bool ok = EVP_KDF_derive(ctx, tmp.bytes, SM_KEY_BYTES, params) == 1;
    EVP_KDF_CTX_free(ctx);
    if (ok)
        memcpy(out->bytes, tmp.bytes, SM_KEY_BYTES);
    OPENSSL_cleanse(&tmp, sizeof tmp);
    return ok;
}

void sm_key_fingerprint(const sm_key *key, char out[17])
{
    uint8_t mac[SM_HASH_BYTES];
    sm_hmac *h = sm_hmac_new(key);
    if (h == NULL || !sm_hmac_compute(h, "fingerprint", 11, NULL, 0, mac)) {
        sm_hmac_free(h);
        memset(out, '0', 16); /* never matches a real fingerprint check by luck */
        out[16] = '\0';
        return;
    }
    sm_hmac_free(h);
    sm_hex_encode(mac, 8, out);
}

void sm_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sm_key_clear(sm_key *key)
{
    if (key != NULL)
        OPENSSL_cleanse(key, sizeof *key);
}

/* ------------------------------------------------------------------ HMAC */

sm_hmac *sm_hmac_new(const sm_key *key)
{
    sm_hmac *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    uint8_t pad[HMAC_BLOCK];
    bool ok = (h->md = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL &&
              (h->inner = EVP_MD_CTX_new()) != NULL && (h->outer = EVP_MD_CTX_new()) != NULL;
    if (ok) {
        memset(pad, 0x36, sizeof pad);
        for (size_t i = 0; i < SM_KEY_BYTES; i++)
            pad[i] ^= key->bytes[i];
        ok = EVP_DigestInit_ex2(h->inner, h->md, NULL) == 1 &&
             EVP_DigestUpdate(h->inner, pad, sizeof pad) == 1;
    }
    if (ok) {
        memset(pad, 0x5c, sizeof pad);
        for (size_t i = 0; i < SM_KEY_BYTES; i++)
            pad[i] ^= key->bytes[i];
        ok = EVP_DigestInit_ex2(h->outer, h->md, NULL) == 1 &&
             EVP_DigestUpdate(h->outer, pad, sizeof pad) == 1;
    }
    OPENSSL_cleanse(pad, sizeof pad);
    if (!ok) {
        sm_hmac_free(h);
        return NULL;
    }
    return h;
}

void sm_hmac_free(sm_hmac *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->inner); /* frees (and wipes) the digest state */
    EVP_MD_CTX_free(h->outer);
    EVP_MD_free(h->md);
    free(h);
}

bool sm_hmac_compute(const sm_hmac *h, const void *part1, size_t len1, const void *part2,
                     size_t len2, uint8_t out[SM_HASH_BYTES])
{
    uint8_t inner[SM_HASH_BYTES];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return false;
    bool ok = EVP_MD_CTX_copy_ex(ctx, h->inner) == 1 &&
              (len1 == 0 || EVP_DigestUpdate(ctx, part1, len1) == 1) &&
              (part2 == NULL || len2 == 0 || EVP_DigestUpdate(ctx, part2, len2) == 1) &&
              EVP_DigestFinal_ex(ctx, inner, &n) == 1 && n == SM_HASH_BYTES &&
              EVP_MD_CTX_copy_ex(ctx, h->outer) == 1 &&
              EVP_DigestUpdate(ctx, inner, sizeof inner) == 1 &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == SM_HASH_BYTES;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}

bool sm_hash_equal(const uint8_t a[SM_HASH_BYTES], const uint8_t b[SM_HASH_BYTES])
{
    return CRYPTO_memcmp(a, b, SM_HASH_BYTES) == 0;
}
