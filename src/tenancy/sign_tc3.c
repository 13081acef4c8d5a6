/*
 * sign_tc3.c — TC3-HMAC-SHA256 and the API 3.0 v1 signatures as pure
 * functions (see sign_tc3.h).
 *
 * Must never: log, read a clock or a store, keep key material past the
 * call (derived keys are cleansed), or leave identity data in freed memory.
 */
#include "tenancy/sign_tc3.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/secbuf.h"
#include "crypto/server_key.h"

/* ---------------------------------------------------------- parsing */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

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

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Copy s[0..n) into out (cap bytes) as a string; false if it does not fit
 * or is empty. */
static bool copy_part(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static bool parse_credential(const char *v, size_t n, tc3_auth *out)
{
    const char *end = v + n;
    const char *s1 = memchr(v, '/', n);
    if (s1 == NULL)
        return false;
    const char *s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
    if (s2 == NULL)
        return false;
    const char *s3 = memchr(s2 + 1, '/', (size_t)(end - s2 - 1));
    if (s3 == NULL)
        return false;
    if (!copy_part(v, (size_t)(s1 - v), out->secret_id, sizeof out->secret_id))
        return false;
    for (const char *c = v; c < s1; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return false;
    /* the date: YYYY-MM-DD */
    const char *d = s1 + 1;
    if (s2 - d != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? d[i] != '-' : !is_digit(d[i]))
            return false;
    memcpy(out->date, d, 10);
    out->date[10] = '\0';
    /* the service */
    const char *sv = s2 + 1;
    size_t svn = (size_t)(s3 - sv);
    if (!copy_part(sv, svn, out->service, sizeof out->service))
        return false;
    for (size_t i = 0; i < svn; i++)
        if ((unsigned char)sv[i] <= 0x20 || (unsigned char)sv[i] >= 0x7f || sv[i] == ',')
            return false;
    /* the terminator */
    size_t rest = (size_t)(end - s3 - 1);
    return rest == 11 && memcmp(s3 + 1, "tc3_request", 11) == 0;
}

static tc3_auth_status parse_signed_headers(const char *v, size_t n, tc3_auth *out)
{
    out->n_signed = 0;
    bool has_ct = false;
    bool has_host = false;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ';')
            j++;
        size_t len = j - i;
        if (len == 0 || len >= TC3_HEADER_NAME_MAX || out->n_signed == TC3_SIGNED_MAX)
            return TC3_AUTH_SIGNED_HEADERS;
        for (size_t k = i; k < j; k++) {
            char c = v[k];
            if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
                return TC3_AUTH_SIGNED_HEADERS;
        }
        char *name = out->signed_headers[out->n_signed];
        memcpy(name, v + i, len);
        name[len] = '\0';
        if (out->n_signed > 0 && strcmp(out->signed_headers[out->n_signed - 1], name) >= 0)
            return TC3_AUTH_SIGNED_HEADERS; /* sorted, each once */
        has_ct |= strcmp(name, "content-type") == 0;
        has_host |= strcmp(name, "host") == 0;
        out->n_signed++;
        i = j + 1;
    }
    return has_ct && has_host ? TC3_AUTH_OK : TC3_AUTH_SIGNED_HEADERS;
}

static bool parse_signature(const char *v, size_t n, tc3_auth *out)
{
    if (n != 2 * TC3_SIG_BYTES)
        return false;
    for (size_t i = 0; i < TC3_SIG_BYTES; i++) {
        int hi = hex_value(v[2 * i]);
        int lo = hex_value(v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out->signature[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

tc3_auth_status tc3_parse_authorization(const char *value, tc3_auth *out)
{
    memset(out, 0, sizeof *out);
    if (value == NULL)
        return TC3_AUTH_NOT_TC3;
    const char *p = value;
    while (is_space(*p))
        p++;
    size_t alen = strlen(TC3_ALGORITHM);
    if (strncmp(p, TC3_ALGORITHM, alen) != 0 || !is_space(p[alen]))
        return TC3_AUTH_NOT_TC3;
    p += alen;

    bool seen_cred = false;
    bool seen_sh = false;
    bool seen_sig = false;
    tc3_auth_status sh_status = TC3_AUTH_OK;
    for (;;) {
        while (is_space(*p))
            p++;
        const char *part = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *part_end = p;
        while (part_end > part && is_space(part_end[-1]))
            part_end--;
        const char *eq = memchr(part, '=', (size_t)(part_end - part));
        if (eq == NULL)
            return TC3_AUTH_MALFORMED;
        size_t klen = (size_t)(eq - part);
        const char *v = eq + 1;
        size_t vlen = (size_t)(part_end - v);
        if (klen == 10 && memcmp(part, "Credential", 10) == 0) {
            if (seen_cred || !parse_credential(v, vlen, out))
                return TC3_AUTH_MALFORMED;
            seen_cred = true;
        } else if (klen == 13 && memcmp(part, "SignedHeaders", 13) == 0) {
            if (seen_sh)
                return TC3_AUTH_MALFORMED;
            seen_sh = true;
            sh_status = parse_signed_headers(v, vlen, out);
        } else if (klen == 9 && memcmp(part, "Signature", 9) == 0) {
            if (seen_sig || !parse_signature(v, vlen, out))
                return TC3_AUTH_MALFORMED;
            seen_sig = true;
        } else {
            return TC3_AUTH_MALFORMED;
        }
        if (*p == '\0')
            break;
        p++; /* the comma */
    }
    if (!seen_cred || !seen_sh || !seen_sig)
        return TC3_AUTH_MALFORMED;
    return sh_status;
}

/* ---------------------------------------------------------- pieces */

bool tc3_utc_date(int64_t ts, char out[11])
{
    if (ts < 0 || ts > 253402300799LL) /* 9999-12-31T23:59:59Z */
        return false;
    time_t t = (time_t)ts;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return false;
    return strftime(out, 11, "%Y-%m-%d", &tm) == 10;
}

void tc3_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof md); /* cannot happen with a working libcrypto */
    sm_hex_encode(md, 32, out);
}

size_t tc3_host_without_port(const char *host, size_t len)
{
    if (len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        return close != NULL ? (size_t)(close - host) + 1 : len;
    }
    const char *colon = memchr(host, ':', len);
    if (colon == NULL)
        return len;
    if (memchr(colon + 1, ':', len - (size_t)(colon - host) - 1) != NULL)
        return len; /* a bare IPv6 address */
    for (const char *c = colon + 1; c < host + len; c++)
        if (!is_digit(*c))
            return len;
    return (size_t)(colon - host);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

char *tc3_canonical_request(const char *method, const char *uri, const char *query,
                            size_t query_len, const tc3_header *headers, size_t n_headers,
                            const char payload_hash[65], size_t *len)
{
    secbuf b = {0};
    secbuf_str(&b, method);
    secbuf_add(&b, "\n", 1);
    secbuf_str(&b, uri);
    secbuf_add(&b, "\n", 1);
    secbuf_add(&b, query, query_len);
    secbuf_add(&b, "\n", 1);
    for (size_t i = 0; i < n_headers; i++) {
        secbuf_str(&b, headers[i].name);
        secbuf_add(&b, ":", 1);
        const char *v = headers[i].value;
        size_t vn = headers[i].value_len;
        while (vn > 0 && is_space(*v)) {
            v++;
            vn--;
        }
        while (vn > 0 && is_space(v[vn - 1]))
            vn--;
        for (size_t k = 0; k < vn; k++) {
            char c = lower(v[k]);
            secbuf_add(&b, &c, 1);
        }
        secbuf_add(&b, "\n", 1);
    }
    secbuf_add(&b, "\n", 1);
    for (size_t i = 0; i < n_headers; i++) {
        if (i > 0)
            secbuf_add(&b, ";", 1);
        secbuf_str(&b, headers[i].name);
    }
    secbuf_add(&b, "\n", 1);
    secbuf_add(&b, payload_hash, 64);
    return secbuf_take(&b, len);
}

char *tc3_string_to_sign(const char *timestamp, const char *date, const char *service,
                         const char *canonical, size_t canonical_len, size_t *len)
{
    char hash[65];
    tc3_sha256_hex(canonical, canonical_len, hash);
    secbuf b = {0};
    secbuf_str(&b, TC3_ALGORITHM "\n");
    secbuf_str(&b, timestamp);
    secbuf_add(&b, "\n", 1);
    secbuf_str(&b, date);
    secbuf_add(&b, "/", 1);
    secbuf_str(&b, service);
    secbuf_str(&b, "/tc3_request\n");
    secbuf_add(&b, hash, 64);
    return secbuf_take(&b, len);
}

static bool hmac256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[32])
{
    unsigned int n = 0;
    return key_len <= (size_t)INT32_MAX &&
           HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) != NULL && n == 32;
}

bool tc3_sign(const char *secret_key, size_t key_len, const char *date, const char *service,
              const char *string_to_sign, size_t sts_len, uint8_t out[TC3_SIG_BYTES])
{
    if (key_len > 1024)
        return false;
    uint8_t k0[3 + 1024];
    memcpy(k0, "TC3", 3);
    memcpy(k0 + 3, secret_key, key_len);
    uint8_t k_date[32], k_service[32], k_signing[32];
    bool ok = hmac256(k0, 3 + key_len, date, strlen(date), k_date) &&
              hmac256(k_date, 32, service, strlen(service), k_service) &&
              hmac256(k_service, 32, "tc3_request", 11, k_signing) &&
              hmac256(k_signing, 32, string_to_sign, sts_len, out);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_service, sizeof k_service);
    OPENSSL_cleanse(k_signing, sizeof k_signing);
    return ok;
}

/* ---------------------------------------------------------------- v1 */

bool tc1_method_from(const char *name, tc1_method *out)
{
    if (name == NULL)
        return false;
    if (strcmp(name, "HmacSHA1") == 0) {
        *out = TC1_HMAC_SHA1;
        return true;
    }
    if (strcmp(name, "HmacSHA256") == 0) {
        *out = TC1_HMAC_SHA256;
        return true;
    }
    return false;
}

static int by_name(const void *a, const void *b)
{
    const tc1_param *x = *(const tc1_param *const *)a;
    const tc1_param *y = *(const tc1_param *const *)b;
    return strcmp(x->name, y->name);
}

char *tc1_string_to_sign(const char *method, const char *host, const char *path,
                         const tc1_param *params, size_t n, size_t *len)
{
    const tc1_param **order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].name, "Signature") != 0)
            order[m++] = &params[i];
    qsort(order, m, sizeof *order, by_name);
    secbuf b = {0};
    secbuf_str(&b, method);
    secbuf_str(&b, host);
    secbuf_str(&b, path);
    secbuf_add(&b, "?", 1);
    for (size_t i = 0; i < m; i++) {
        if (i > 0)
            secbuf_add(&b, "&", 1);
        secbuf_str(&b, order[i]->name);
        secbuf_add(&b, "=", 1);
        secbuf_add(&b, order[i]->value, order[i]->value_len);
    }
    free(order);
    return secbuf_take(&b, len);
}

bool tc1_sign_base64(tc1_method m, const char *secret_key, size_t key_len,
                     const char *string_to_sign, size_t sts_len, char out[64])
{
    uint8_t mac[32];
    unsigned int n = 0;
    const EVP_MD *md = m == TC1_HMAC_SHA256 ? EVP_sha256() : EVP_sha1();
    bool ok = key_len <= 1024 &&
              HMAC(md, secret_key, (int)key_len, (const unsigned char *)string_to_sign,
                   sts_len, mac, &n) != NULL;
    if (ok)
        ok = EVP_EncodeBlock((unsigned char *)out, mac, (int)n) > 0;
    OPENSSL_cleanse(mac, sizeof mac);
    if (!ok)
        out[0] = '\0';
    return ok;
}
