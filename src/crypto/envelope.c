/*
 * envelope.c — dialect A's field encryption (see envelope.h): the key pair
 * files, key unwrapping (RSA-OAEP-SHA256, SM2), AES-256-CBC and an SM4-GCM
 * made of OpenSSL's SM4 block cipher and a GHASH of its own.
 *
 * Must never: log or print key material or plaintext, replace an existing
 * key file, write one readable by anyone but its owner, or free a buffer
 * that held a key or plaintext without OPENSSL_cleanse.
 */
#include "crypto/envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/errbuf.h"
#include "common/fsutil.h"
#include "crypto/server_key.h"

#define RSA_BITS 2048
#define KEY_FILE_MAX (64 * 1024)

struct envelope_keys {
    EVP_PKEY *pkey[ENVELOPE__COUNT];
    char *pem[ENVELOPE__COUNT];
    char fingerprint[ENVELOPE__COUNT][65];
};

const char *envelope_alg_name(envelope_alg a)
{
    return a == ENVELOPE_SM4_GCM ? "SM4-GCM" : "AES-256-CBC";
}

bool envelope_alg_from_name(const char *name, envelope_alg *out)
{
    if (name == NULL)
        return false;
    if (strcmp(name, "AES-256-CBC") == 0)
        *out = ENVELOPE_AES_256_CBC;
    else if (strcmp(name, "SM4-GCM") == 0)
        *out = ENVELOPE_SM4_GCM;
    else
        return false;
    return true;
}

const char *envelope_wrap_name(envelope_alg a)
{
    return a == ENVELOPE_SM4_GCM ? "SM2" : "RSA-OAEP-SHA256";
}

size_t envelope_key_len(envelope_alg a)
{
    return a == ENVELOPE_SM4_GCM ? 16 : 32;
}

size_t envelope_iv_len(envelope_alg a)
{
    return a == ENVELOPE_SM4_GCM ? ENVELOPE_GCM_IV_BYTES : ENVELOPE_CBC_IV_BYTES;
}

bool envelope_default_path(const char *key_file, const char *name, char *out, size_t cap)
{
    const char *slash = strrchr(key_file, '/');
    int n = slash == NULL ? snprintf(out, cap, "%s", name)
                          : snprintf(out, cap, "%.*s/%s", (int)(slash - key_file), key_file, name);
    return n >= 0 && (size_t)n < cap;
}

/* ------------------------------------------------------------ key files */

/* A new key pair for `a`: RSA 2048 or SM2. */
static EVP_PKEY *generate(envelope_alg a)
{
    if (a == ENVELOPE_AES_256_CBC)
        return EVP_RSA_gen(RSA_BITS);
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static bool right_type(const EVP_PKEY *pkey, envelope_alg a)
{
    if (a == ENVELOPE_AES_256_CBC)
        return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= RSA_BITS;
    return EVP_PKEY_is_a(pkey, "SM2");
}

/* Read the private key at `path`: 1 loaded, 0 missing, -1 error. */
static int read_key(const char *path, envelope_alg a, EVP_PKEY **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        set_err(err, errlen, "cannot read key file '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > KEY_FILE_MAX) {
        close(fd);
        set_err(err, errlen, "key file '%s' is not a regular file of at most 64 KiB", path);
        return -1;
    }
    if ((sb.st_mode & 077) != 0) {
        close(fd);
        set_err(err, errlen,
                "key file '%s' is accessible by group or others (mode %03o); run: chmod 600 '%s'",
                path, (unsigned)(sb.st_mode & 0777), path);
        return -1;
    }
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size + 1);
    size_t have = 0;
    while (buf != NULL && have < size) {
        ssize_t n = read(fd, buf + have, size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    if (buf == NULL || have != size) {
        if (buf != NULL) {
            OPENSSL_cleanse(buf, size);
            free(buf);
        }
        set_err(err, errlen, "cannot read key file '%s'", path);
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)have);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(buf, size);
    free(buf);
    if (pkey == NULL || !right_type(pkey, a)) {
        EVP_PKEY_free(pkey);
        set_err(err, errlen, "key file '%s' is not a PEM %s private key", path,
                a == ENVELOPE_AES_256_CBC ? "RSA (2048 bits or more)" : "SM2");
        return -1;
    }
    *out = pkey;
    return 1;
}

/* Generate a key pair and publish it at `path`; loads the other process's
 * key when one raced us. 1 created, 0 raced (loaded), -1 error. */
static int create_key(const char *path, envelope_alg a, EVP_PKEY **out, char *err,
                      size_t errlen)
{
    EVP_PKEY *pkey = generate(a);
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long len = 0;
    if (pkey == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        set_err(err, errlen, "cannot generate the %s key pair for '%s'",
                a == ENVELOPE_AES_256_CBC ? "RSA" : "SM2", path);
        return -1;
    }
    int rc = create_private_file(path, data, (size_t)len, err, errlen);
    BIO_free(bio); /* secure heap: cleansed on free */
    if (rc == 1) {
        *out = pkey;
        return 1;
    }
    EVP_PKEY_free(pkey);
    if (rc < 0)
        return -1;
    return read_key(path, a, out, err, errlen) == 1 ? 0 : -1;
}

static bool describe(envelope_keys *k, envelope_alg a)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;
    bool ok = bio != NULL && PEM_write_bio_PUBKEY(bio, k->pkey[a]) == 1 &&
              (len = BIO_get_mem_data(bio, &data)) > 0 &&
              (k->pem[a] = malloc((size_t)len + 1)) != NULL;
    if (ok) {
        memcpy(k->pem[a], data, (size_t)len);
        k->pem[a][len] = '\0';
    }
    BIO_free(bio);
    unsigned char *der = NULL;
    int der_len = ok ? i2d_PUBKEY(k->pkey[a], &der) : -1;
    unsigned char md[32];
    unsigned md_len = 0;
    ok = ok && der_len > 0 && EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    if (ok)
        sm_hex_encode(md, sizeof md, k->fingerprint[a]);
    return ok;
}

envelope_keys *envelope_keys_load(const char *rsa_path, const char *sm2_path, bool create,
                                  bool *created, char *err, size_t errlen)
{
    if (created != NULL)
        *created = false;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    envelope_keys *k = calloc(1, sizeof *k);
    if (k == NULL) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    const char *paths[ENVELOPE__COUNT] = {rsa_path, sm2_path};
    for (int i = 0; i < ENVELOPE__COUNT; i++) {
        envelope_alg a = (envelope_alg)i;
        int rc = read_key(paths[i], a, &k->pkey[i], err, errlen);
        if (rc == 0 && !create) {
            set_err(err, errlen, "key file '%s' does not exist (it is created by `serve`)",
                    paths[i]);
            rc = -1;
        } else if (rc == 0) {
            rc = create_key(paths[i], a, &k->pkey[i], err, errlen);
            if (rc == 1 && created != NULL)
                *created = true;
        }
        if (rc < 0 || !describe(k, a)) {
            if (rc >= 0)
                set_err(err, errlen, "cannot export the public key of '%s'", paths[i]);
            envelope_keys_free(k);
            return NULL;
        }
    }
    return k;
}

void envelope_keys_free(envelope_keys *k)
{
    if (k == NULL)
        return;
    for (int i = 0; i < ENVELOPE__COUNT; i++) {
        EVP_PKEY_free(k->pkey[i]);
        free(k->pem[i]);
    }
    free(k);
}

const char *envelope_public_pem(const envelope_keys *k, envelope_alg a)
{
    return k->pem[a];
}

const char *envelope_fingerprint(const envelope_keys *k, envelope_alg a)
{
    return k->fingerprint[a];
}

/* ------------------------------------------------------------ unwrapping */

bool envelope_unwrap(const envelope_keys *k, envelope_alg a, const uint8_t *blob, size_t len,
                     uint8_t key[ENVELOPE_KEY_MAX])
{
    OPENSSL_cleanse(key, ENVELOPE_KEY_MAX);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey[a], NULL);
    bool ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1;
    if (ok && a == ENVELOPE_AES_256_CBC)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1;
    /* Ask for the size first: the SM2 output is bounded by the input. */
    size_t out_len = 0;
    ok = ok && len > 0 && EVP_PKEY_decrypt(ctx, NULL, &out_len, blob, len) == 1 && out_len > 0;
    uint8_t *out = ok ? malloc(out_len) : NULL;
    ok = out != NULL && EVP_PKEY_decrypt(ctx, out, &out_len, blob, len) == 1 &&
         out_len == envelope_key_len(a);
    if (ok)
        memcpy(key, out, out_len);
    if (out != NULL) {
        OPENSSL_cleanse(out, out_len);
        free(out);
    }
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* --------------------------------------------------------------- SM4-GCM */

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* x = x · h in GF(2^128), GCM's bit order (SP 800-38D, algorithm 1), with
 * masks instead of branches on secret bits. */
static void gf_mul(uint8_t x[16], const uint8_t h[16])
{
    uint64_t zh = 0, zl = 0, vh = load_be64(h), vl = load_be64(h + 8);
    for (int i = 0; i < 128; i++) {
        uint64_t m = 0 - (uint64_t)((x[i >> 3] >> (7 - (i & 7))) & 1);
        zh ^= vh & m;
        zl ^= vl & m;
        uint64_t r = 0 - (vl & 1);
        vl = vl >> 1 | vh << 63;
        vh = vh >> 1 ^ (0xe100000000000000ULL & r);
    }
    store_be64(x, zh);
    store_be64(x + 8, zl);
}

/* y = GHASH step over data, zero-padded to whole blocks. */
static void ghash_update(uint8_t y[16], const uint8_t h[16], const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        for (size_t i = 0; i < n; i++)
            y[i] ^= data[i];
        gf_mul(y, h);
        data += n;
        len -= n;
    }
}

static bool sm4_block(EVP_CIPHER_CTX *ctx, const uint8_t in[16], uint8_t out[16])
{
    int n = 0;
    return EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1 && n == 16;
}

/* CTR over in[0..len) from inc32(J0), and the tag over (aad, the
 * ciphertext) — `ct` is the ciphertext side (in for decrypt, out for
 * encrypt, decided by `encrypting`). */
static bool gcm_core(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                     bool encrypting, uint8_t tag[16])
{
    EVP_CIPHER *sm4 = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t h[16] = {0}, j0[16], ctr[16], ks[16], y[16] = {0}, lens[16];
    bool ok = sm4 != NULL && ctx != NULL && EVP_EncryptInit_ex2(ctx, sm4, key, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && sm4_block(ctx, h, h);
    memcpy(j0, iv, 12);
    j0[12] = j0[13] = j0[14] = 0;
    j0[15] = 1;
    memcpy(ctr, j0, 16);
    if (ok)
        ghash_update(y, h, aad, aad_len);
    for (size_t off = 0; ok && off < len; off += 16) {
        uint32_t c = (uint32_t)ctr[12] << 24 | (uint32_t)ctr[13] << 16 | (uint32_t)ctr[14] << 8 |
                     ctr[15];
        c++;
        ctr[12] = (uint8_t)(c >> 24);
        ctr[13] = (uint8_t)(c >> 16);
        ctr[14] = (uint8_t)(c >> 8);
        ctr[15] = (uint8_t)c;
        ok = sm4_block(ctx, ctr, ks);
        size_t n = len - off < 16 ? len - off : 16;
        uint8_t cblock[16];
        for (size_t i = 0; ok && i < n; i++) {
            uint8_t o = in[off + i] ^ ks[i];
            cblock[i] = encrypting ? o : in[off + i];
            out[off + i] = o;
        }
        if (ok)
            ghash_update(y, h, cblock, n);
        OPENSSL_cleanse(cblock, sizeof cblock);
    }
    store_be64(lens, (uint64_t)aad_len * 8);
    store_be64(lens + 8, (uint64_t)len * 8);
    if (ok) {
        ghash_update(y, h, lens, 16);
        ok = sm4_block(ctx, j0, ks);
    }
    for (int i = 0; ok && i < 16; i++)
        tag[i] = ks[i] ^ y[i];
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(ks, sizeof ks);
    OPENSSL_cleanse(y, sizeof y);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(sm4);
    return ok;
}

bool sm4_gcm_encrypt(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    return gcm_core(key, iv, aad, aad_len, in, len, out, true, tag);
}

bool sm4_gcm_decrypt(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                     const uint8_t tag[16])
{
    uint8_t mine[16];
    bool ok = gcm_core(key, iv, aad, aad_len, in, len, out, false, mine) &&
              CRYPTO_memcmp(mine, tag, 16) == 0;
    if (!ok && len > 0)
        OPENSSL_cleanse(out, len);
    OPENSSL_cleanse(mine, sizeof mine);
    return ok;
}

/* ---------------------------------------------------------------- fields */

/* Field i's nonce: iv with its last 32 bits (big-endian) plus i. */
static void field_nonce(const uint8_t iv[12], size_t index, uint8_t out[12])
{
    memcpy(out, iv, 12);
    uint32_t c = (uint32_t)iv[8] << 24 | (uint32_t)iv[9] << 16 | (uint32_t)iv[10] << 8 | iv[11];
    c += (uint32_t)index;
    out[8] = (uint8_t)(c >> 24);
    out[9] = (uint8_t)(c >> 16);
    out[10] = (uint8_t)(c >> 8);
    out[11] = (uint8_t)c;
}

static bool aes_cbc(bool enc, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
                    size_t len, uint8_t *out, size_t *out_len)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    bool ok = ctx != NULL && len <= INT_MAX - 32 &&
              EVP_CipherInit_ex2(ctx, EVP_aes_256_cbc(), key, iv, enc ? 1 : 0, NULL) == 1 &&
              EVP_CipherUpdate(ctx, out, &n1, in, (int)len) == 1 &&
              EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    *out_len = ok ? (size_t)n1 + (size_t)n2 : 0;
    return ok;
}

envelope_open_status envelope_open_field(envelope_alg a, const uint8_t *key, const uint8_t *iv,
                                         size_t index, const uint8_t *ct, size_t ct_len,
                                         const uint8_t *tag, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (a == ENVELOPE_AES_256_CBC && (ct_len == 0 || ct_len % 16 != 0))
        return ENVELOPE_OPEN_BAD;
    uint8_t *buf = malloc(ct_len + 32 + 1);
    if (buf == NULL)
        return ENVELOPE_OPEN_NOMEM;
    size_t n = 0;
    bool ok;
    if (a == ENVELOPE_AES_256_CBC) {
        ok = aes_cbc(false, key, iv, ct, ct_len, buf, &n);
    } else {
        uint8_t nonce[12];
        field_nonce(iv, index, nonce);
        ok = sm4_gcm_decrypt(key, nonce, NULL, 0, ct, ct_len, buf, tag);
        n = ct_len;
    }
    if (!ok) {
        OPENSSL_cleanse(buf, ct_len + 32 + 1);
        free(buf);
        return ENVELOPE_OPEN_BAD;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return ENVELOPE_OPEN_OK;
}

bool envelope_seal_field(envelope_alg a, const uint8_t *key, const uint8_t *iv, size_t index,
                         const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
                         uint8_t tag[ENVELOPE_TAG_BYTES])
{
    *out = NULL;
    *out_len = 0;
    uint8_t *buf = malloc(pt_len + 32);
    if (buf == NULL)
        return false;
    size_t n = 0;
    bool ok;
    if (a == ENVELOPE_AES_256_CBC) {
        ok = aes_cbc(true, key, iv, pt, pt_len, buf, &n);
    } else {
        uint8_t nonce[12];
        field_nonce(iv, index, nonce);
        ok = sm4_gcm_encrypt(key, nonce, NULL, 0, pt, pt_len, buf, tag);
        n = pt_len;
    }
    if (!ok) {
        OPENSSL_cleanse(buf, pt_len + 32);
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = n;
    return true;
}
