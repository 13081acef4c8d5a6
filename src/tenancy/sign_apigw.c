/*
 * sign_apigw.c — the API gateway's AppKey/AppSecret signature (see
 * sign_apigw.h).
 *
 * Must never: compare signatures in variable time, keep a MAC or a key
 * after returning, or read a parameter past its length.
 */
#include "tenancy/sign_apigw.h"

#include "common/secbuf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

bool apigw_alg_from_name(const char *name, apigw_alg *out)
{
    if (name == NULL || strcmp(name, "HmacSHA256") == 0) {
        *out = APIGW_HMAC_SHA256;
        return true;
    }
    if (strcmp(name, "HmacSHA1") == 0) {
        *out = APIGW_HMAC_SHA1;
        return true;
    }
    return false;
}

/* Byte order of two (pointer, length) strings; a prefix sorts first. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int header_cmp(const void *x, const void *y)
{
    const apigw_header *a = x, *b = y;
    return strcmp(a->name, b->name);
}

static int param_cmp(const void *x, const void *y)
{
    const apigw_param *a = x, *b = y;
    return bytes_cmp(a->name, a->name_len, b->name, b->name_len);
}

bool apigw_string_to_sign(const char *method, const char *accept, const char *content_md5,
                          const char *content_type, const char *date,
                          const apigw_header *headers, size_t n_headers, const char *path,
                          const apigw_param *params, size_t n_params, char **out,
                          size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    apigw_header *hs = NULL;
    apigw_param *ps = NULL;
    if (n_headers > 0) {
        hs = malloc(n_headers * sizeof *hs);
        if (hs == NULL)
            return false;
        memcpy(hs, headers, n_headers * sizeof *hs);
        qsort(hs, n_headers, sizeof *hs, header_cmp);
    }
    if (n_params > 0) {
        ps = malloc(n_params * sizeof *ps);
        if (ps == NULL) {
            free(hs);
            return false;
        }
        memcpy(ps, params, n_params * sizeof *ps);
        qsort(ps, n_params, sizeof *ps, param_cmp);
    }

    secbuf b = {0};
    const char *lines[5] = {method, accept, content_md5, content_type, date};
    for (size_t i = 0; i < 5; i++) {
        secbuf_str(&b, lines[i]);
        secbuf_add(&b, "\n", 1);
    }
    for (size_t i = 0; i < n_headers; i++) {
        secbuf_str(&b, hs[i].name);
        secbuf_add(&b, ":", 1);
        secbuf_str(&b, hs[i].value);
        secbuf_add(&b, "\n", 1);
    }
    secbuf_str(&b, path);
    for (size_t i = 0; i < n_params; i++) {
        secbuf_add(&b, i == 0 ? "?" : "&", 1);
        secbuf_add(&b, ps[i].name, ps[i].name_len);
        if (ps[i].value_len > 0) {
            secbuf_add(&b, "=", 1);
            secbuf_add(&b, ps[i].value, ps[i].value_len);
        }
    }
    free(hs);
    free(ps);
    *out = secbuf_take(&b, out_len);
    return *out != NULL;
}

bool apigw_sign(apigw_alg alg, const char *secret, size_t secret_len, const char *sts,
                size_t sts_len, char out[APIGW_SIG_MAX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    out[0] = '\0';
    const EVP_MD *md = alg == APIGW_HMAC_SHA1 ? EVP_sha1() : EVP_sha256();
    if (secret_len > (size_t)INT32_MAX ||
        HMAC(md, secret, (int)secret_len, (const unsigned char *)sts, sts_len, mac, &mac_len) ==
            NULL) {
        OPENSSL_cleanse(mac, sizeof mac);
        return false;
    }
    /* 32 bytes → 44 base64 characters + NUL. */
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    OPENSSL_cleanse(mac, sizeof mac);
    return true;
}

bool apigw_verify(apigw_alg alg, const char *secret, size_t secret_len, const char *sts,
                  size_t sts_len, const char *given)
{
    char want[APIGW_SIG_MAX];
    if (given == NULL || !apigw_sign(alg, secret, secret_len, sts, sts_len, want))
        return false;
    size_t n = strlen(want);
    bool ok = strlen(given) == n && CRYPTO_memcmp(want, given, n) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}
