/*
 * sign_acs.c — the Alibaba Cloud OpenAPI request signatures of seed 003
 * (tenancy/sign_acs.h): ACS3-HMAC-SHA256 (Authorization header) and the RPC
 * signature V1 (HMAC-SHA1, Signature parameter), verified exactly as the
 * official SDKs compute them (../shared/fixtures/sdk-captures/README.md,
 * section 1; tests/unit/test_sign_acs.c replays every capture).
 *
 * Both schemes sign the *decoded* parameters re-encoded per RFC 3986
 * (A-Z a-z 0-9 - _ . ~ kept, every other byte %XX upper-case), never the
 * query as it came on the wire: Node's querystring leaves * ( ) ! raw.
 *
 * Must never: log, keep or return a secret or a signature (the string to
 * sign goes only to the caller's buffer); compare signatures other than
 * with CRYPTO_memcmp; accept an ACS3 request whose SignedHeaders leave out
 * host, x-acs-date or x-acs-signature-nonce (a replay could otherwise pick
 * a fresh nonce or time).
 */
#include "tenancy/sign_acs.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/secbuf.h"

#define ACS3_ALGO "ACS3-HMAC-SHA256"
#define ACS3_SIG_HEX 64
#define SIGNED_MAX 32
#define SIGNED_NAME_MAX 64

/* --------------------------------------------------------------- helpers */

static const char *hdr(const acs_request *req, const char *lower)
{
    return req->header != NULL ? req->header(req->hctx, lower) : NULL;
}

/* The first field `name` of the query, then of the form body; NULL. */
static const form_field *param(const acs_request *req, const char *name)
{
    const form_field *f = req->query != NULL ? form_get(req->query, name) : NULL;
    if (f == NULL && req->form_body != NULL)
        f = form_get(req->form_body, name);
    return f;
}

/* Copy a value of at most cap-1 bytes without NUL inside; false otherwise. */
static bool copy_value(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap || memchr(s, '\0', n) != NULL)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

static bool copy_param(const acs_request *req, const char *name, char *dst, size_t cap)
{
    const form_field *f = param(req, name);
    if (f == NULL) {
        dst[0] = '\0';
        return true;
    }
    return copy_value(dst, cap, f->value, f->value_len);
}

static bool copy_header(const acs_request *req, const char *name, char *dst, size_t cap)
{
    const char *v = hdr(req, name);
    if (v == NULL) {
        dst[0] = '\0';
        return true;
    }
    return copy_value(dst, cap, v, strlen(v));
}

/* "YYYY-MM-DDTHH:MM:SSZ" (an optional ".fff" before the Z) → Unix seconds;
 * -1 when malformed. */
static long long parse_iso8601(const char *s)
{
    size_t n = strlen(s);
    if (n < 20)
        return -1;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return -1;
    }
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        size_t d = i;
        while (isdigit((unsigned char)s[i]))
            i++;
        if (i == d || i - d > 9)
            return -1;
    }
    if (!(s[i] == 'Z' && s[i + 1] == '\0'))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
    tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (long long)t;
}

/* RFC 3986 percent-encoding of s[0..n) appended to b. */
static void add_encoded(secbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char chunk[192];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            chunk[o++] = (char)c;
        } else {
            chunk[o++] = '%';
            chunk[o++] = hex[c >> 4];
            chunk[o++] = hex[c & 15];
        }
        if (o > sizeof chunk - 4) {
            secbuf_add(b, chunk, o);
            o = 0;
        }
    }
    secbuf_add(b, chunk, o);
    OPENSSL_cleanse(chunk, sizeof chunk);
}

static int field_cmp(const form_field *x, const form_field *y)
{
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(x->value, y->value, n);
    if (c != 0)
        return c;
    return x->value_len < y->value_len ? -1 : x->value_len > y->value_len;
}

static int by_name(const void *a, const void *b)
{
    return field_cmp(*(const form_field *const *)a, *(const form_field *const *)b);
}

/* The fields of `a` and `b` (either NULL), all but `skip` (NULL: none),
 * sorted by name then value, written as name=value joined by '&' into out:
 * names raw (encode_names false, as the ACS3 SDKs) or encoded. */
static bool canonical_params(const form *a, const form *b, const char *skip, bool encode_names,
                             secbuf *out)
{
    size_t total = (a != NULL ? a->n : 0) + (b != NULL ? b->n : 0);
    const form_field **v = calloc(total ? total : 1, sizeof *v);
    if (v == NULL)
        return false;
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        const form *f = k == 0 ? a : b;
        for (size_t i = 0; f != NULL && i < f->n; i++)
            if (skip == NULL || strcmp(f->fields[i].name, skip) != 0)
                v[n++] = &f->fields[i];
    }
    qsort(v, n, sizeof *v, by_name);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            secbuf_add(out, "&", 1);
        if (encode_names)
            add_encoded(out, v[i]->name, v[i]->name_len);
        else
            secbuf_add(out, v[i]->name, v[i]->name_len);
        secbuf_add(out, "=", 1);
        add_encoded(out, v[i]->value, v[i]->value_len);
    }
    free(v);
    return !out->failed;
}

static void hex_of(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return false;
    hex_of(md, 32, out);
    return true;
}

static void put_sts(char *sts, size_t sts_len, const char *s, size_t n)
{
    if (sts == NULL || sts_len == 0)
        return;
    size_t k = n < sts_len - 1 ? n : sts_len - 1;
    memcpy(sts, s, k);
    sts[k] = '\0';
}

/* ------------------------------------------------------------------ ACS3 */

typedef struct {
    char algo[32];
    char credential[128];
    char signed_names[SIGNED_MAX][SIGNED_NAME_MAX];
    size_t n_signed;
    char signature[ACS3_SIG_HEX + 1];
} acs3_auth;

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* "ALGO Credential=ID,SignedHeaders=a;b,Signature=hex" (spaces after the
 * commas tolerated). ACS_OK, ACS_UNSUPPORTED (another ACS3 algorithm) or
 * ACS_MALFORMED. */
static acs_status parse_authorization(const char *s, acs3_auth *a)
{
    memset(a, 0, sizeof a[0]);
    while (is_space(*s))
        s++;
    size_t alen = strcspn(s, " \t");
    if (alen == 0 || alen >= sizeof a->algo)
        return ACS_MALFORMED;
    memcpy(a->algo, s, alen);
    if (strcmp(a->algo, ACS3_ALGO) != 0)
        return strncmp(a->algo, "ACS3-", 5) == 0 ? ACS_UNSUPPORTED : ACS_MALFORMED;
    s += alen;
    bool have_cred = false, have_signed = false, have_sig = false;
    while (*s != '\0') {
        while (is_space(*s) || *s == ',')
            s++;
        if (*s == '\0')
            break;
        size_t plen = strcspn(s, ",");
        const char *eq = memchr(s, '=', plen);
        if (eq == NULL)
            return ACS_MALFORMED;
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        size_t vlen = plen - klen - 1;
        while (vlen > 0 && is_space(v[vlen - 1]))
            vlen--;
        if (klen == 10 && memcmp(s, "Credential", 10) == 0 && !have_cred) {
            if (vlen == 0 || !copy_value(a->credential, sizeof a->credential, v, vlen))
                return ACS_MALFORMED;
            have_cred = true;
        } else if (klen == 13 && memcmp(s, "SignedHeaders", 13) == 0 && !have_signed) {
            size_t i = 0;
            while (i < vlen) {
                size_t nlen = 0;
                while (i + nlen < vlen && v[i + nlen] != ';')
                    nlen++;
                if (nlen == 0 || nlen >= SIGNED_NAME_MAX || a->n_signed >= SIGNED_MAX)
                    return ACS_MALFORMED;
                char *dst = a->signed_names[a->n_signed++];
                for (size_t k = 0; k < nlen; k++) {
                    char c = v[i + k];
                    if (c <= ' ' || c == ':' || c >= 127)
                        return ACS_MALFORMED;
                    dst[k] = (char)tolower((unsigned char)c);
                }
                dst[nlen] = '\0';
                i += nlen + 1;
            }
            if (a->n_signed == 0)
                return ACS_MALFORMED;
            have_signed = true;
        } else if (klen == 9 && memcmp(s, "Signature", 9) == 0 && !have_sig) {
            if (vlen != ACS3_SIG_HEX)
                return ACS_MALFORMED;
            for (size_t k = 0; k < vlen; k++) {
                if (!isxdigit((unsigned char)v[k]))
                    return ACS_MALFORMED;
                a->signature[k] = (char)tolower((unsigned char)v[k]);
            }
            a->signature[vlen] = '\0';
            have_sig = true;
        } else {
            return ACS_MALFORMED;
        }
        s += plen;
    }
    return have_cred && have_signed && have_sig ? ACS_OK : ACS_MALFORMED;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp((const char *)x, (const char *)y);
}

static bool signs(const acs3_auth *a, const char *name)
{
    for (size_t i = 0; i < a->n_signed; i++)
        if (strcmp(a->signed_names[i], name) == 0)
            return true;
    return false;
}

static acs_status parse_acs3(const acs_request *req, const char *authorization, acs_claim *out)
{
    acs3_auth a;
    acs_status st = parse_authorization(authorization, &a);
    if (st != ACS_OK) {
        OPENSSL_cleanse(&a, sizeof a);
        return st;
    }
    bool ok = signs(&a, "host") && signs(&a, "x-acs-date") && signs(&a, "x-acs-signature-nonce") &&
              copy_value(out->access_key_id, sizeof out->access_key_id, a.credential,
                         strlen(a.credential)) &&
              copy_header(req, "x-acs-signature-nonce", out->nonce, sizeof out->nonce) &&
              copy_header(req, "x-acs-date", out->timestamp, sizeof out->timestamp) &&
              copy_header(req, "x-acs-action", out->action, sizeof out->action) &&
              copy_header(req, "x-acs-version", out->version, sizeof out->version);
    OPENSSL_cleanse(&a, sizeof a);
    if (!ok)
        return ACS_MALFORMED;
    out->scheme = ACS_SCHEME_ACS3;
    out->unix_time = parse_iso8601(out->timestamp);
    return ACS_OK;
}

static acs_status verify_acs3(const acs_request *req, const char *secret, char *sts,
                              size_t sts_len)
{
    const char *authorization = hdr(req, "authorization");
    acs3_auth a;
    acs_status st = authorization != NULL ? parse_authorization(authorization, &a) : ACS_MISSING;
    if (st != ACS_OK) {
        OPENSSL_cleanse(&a, sizeof a);
        return st;
    }
    char body_hash[65];
    if (!sha256_hex(req->body != NULL ? (const void *)req->body : "", req->body_len, body_hash)) {
        OPENSSL_cleanse(&a, sizeof a);
        return ACS_NOMEM;
    }
    const char *claimed = hdr(req, "x-acs-content-sha256");
    if (claimed != NULL && strcasecmp(claimed, body_hash) != 0) {
        OPENSSL_cleanse(&a, sizeof a);
        return ACS_BAD_CONTENT_HASH;
    }

    secbuf c = {0};
    secbuf_str(&c, req->method);
    secbuf_add(&c, "\n", 1);
    secbuf_str(&c, req->path != NULL && req->path[0] != '\0' ? req->path : "/");
    secbuf_add(&c, "\n", 1);
    if (!canonical_params(req->query, NULL, NULL, false, &c)) {
        secbuf_clear(&c);
        OPENSSL_cleanse(&a, sizeof a);
        return ACS_NOMEM;
    }
    secbuf_add(&c, "\n", 1);
    /* The names as listed, sorted (the SDK lists them sorted already). */
    qsort(a.signed_names, a.n_signed, sizeof a.signed_names[0], name_cmp);
    for (size_t i = 0; i < a.n_signed; i++) {
        const char *v = hdr(req, a.signed_names[i]);
        if (v == NULL) {
            secbuf_clear(&c);
            OPENSSL_cleanse(&a, sizeof a);
            return ACS_MISMATCH;
        }
        while (is_space(*v))
            v++;
        size_t vlen = strlen(v);
        while (vlen > 0 && is_space(v[vlen - 1]))
            vlen--;
        secbuf_str(&c, a.signed_names[i]);
        secbuf_add(&c, ":", 1);
        secbuf_add(&c, v, vlen);
        secbuf_add(&c, "\n", 1);
    }
    secbuf_add(&c, "\n", 1);
    for (size_t i = 0; i < a.n_signed; i++) {
        if (i > 0)
            secbuf_add(&c, ";", 1);
        secbuf_str(&c, a.signed_names[i]);
    }
    secbuf_add(&c, "\n", 1);
    secbuf_add(&c, body_hash, 64);
    size_t clen = 0;
    char *canonical = secbuf_take(&c, &clen);
    if (canonical == NULL) {
        OPENSSL_cleanse(&a, sizeof a);
        return ACS_NOMEM;
    }
    char text[sizeof ACS3_ALGO + 1 + 64];
    char chash[65];
    bool ok = sha256_hex(canonical, clen, chash);
    OPENSSL_cleanse(canonical, clen);
    free(canonical);
    if (!ok) {
        OPENSSL_cleanse(&a, sizeof a);
        return ACS_NOMEM;
    }
    int tlen = snprintf(text, sizeof text, "%s\n%s", ACS3_ALGO, chash);
    put_sts(sts, sts_len, text, (size_t)tlen);

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    char want[ACS3_SIG_HEX + 1];
    ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)text,
              (size_t)tlen, mac, &mlen) != NULL &&
         mlen == 32;
    if (ok) {
        hex_of(mac, 32, want);
        ok = CRYPTO_memcmp(want, a.signature, ACS3_SIG_HEX) == 0;
        st = ok ? ACS_OK : ACS_MISMATCH;
    } else {
        st = ACS_NOMEM;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(want, sizeof want);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(&a, sizeof a);
    return st;
}

/* ---------------------------------------------------------------- RPC V1 */

static acs_status parse_rpc(const acs_request *req, acs_claim *out)
{
    const form_field *method = param(req, "SignatureMethod");
    if (method != NULL && strcmp(method->value, "HMAC-SHA1") != 0)
        return ACS_UNSUPPORTED;
    const form_field *version = param(req, "SignatureVersion");
    if (version != NULL && strcmp(version->value, "1.0") != 0)
        return ACS_UNSUPPORTED;
    const form_field *type = param(req, "SignatureType");
    if (type != NULL && type->value_len > 0)
        return ACS_UNSUPPORTED; /* "PRIVATEKEY": RSA, not supported */
    const form_field *id = param(req, "AccessKeyId");
    if (id == NULL || id->value_len == 0)
        return ACS_MALFORMED;
    if (!copy_param(req, "AccessKeyId", out->access_key_id, sizeof out->access_key_id) ||
        !copy_param(req, "SignatureNonce", out->nonce, sizeof out->nonce) ||
        !copy_param(req, "Timestamp", out->timestamp, sizeof out->timestamp) ||
        !copy_param(req, "Action", out->action, sizeof out->action) ||
        !copy_param(req, "Version", out->version, sizeof out->version))
        return ACS_MALFORMED;
    out->scheme = ACS_SCHEME_RPC_V1;
    out->unix_time = parse_iso8601(out->timestamp);
    return ACS_OK;
}

static acs_status verify_rpc(const acs_request *req, const char *secret, char *sts,
                             size_t sts_len)
{
    const form_field *got = param(req, "Signature");
    if (got == NULL || got->value_len == 0 || got->value_len > 64)
        return ACS_MALFORMED;
    secbuf q = {0};
    if (!canonical_params(req->query, req->form_body, "Signature", true, &q)) {
        secbuf_clear(&q);
        return ACS_NOMEM;
    }
    size_t qlen = 0;
    char *query = secbuf_take(&q, &qlen);
    if (query == NULL && qlen == 0)
        query = strdup("");
    if (query == NULL)
        return ACS_NOMEM;
    secbuf s = {0};
    secbuf_str(&s, req->method);
    secbuf_add(&s, "&%2F&", 5);
    add_encoded(&s, query, qlen);
    OPENSSL_cleanse(query, qlen);
    free(query);
    size_t slen = 0;
    char *text = secbuf_take(&s, &slen);
    if (text == NULL)
        return ACS_NOMEM;
    put_sts(sts, sts_len, text, slen);

    size_t klen = strlen(secret);
    char *key = malloc(klen + 2);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    char want[64];
    acs_status st = ACS_NOMEM;
    if (key != NULL) {
        memcpy(key, secret, klen);
        key[klen] = '&';
        key[klen + 1] = '\0';
        if (HMAC(EVP_sha1(), key, (int)klen + 1, (const unsigned char *)text, slen, mac,
                 &mlen) != NULL &&
            mlen == 20) {
            int wn = EVP_EncodeBlock((unsigned char *)want, mac, 20);
            st = (size_t)wn == got->value_len &&
                         CRYPTO_memcmp(want, got->value, (size_t)wn) == 0
                     ? ACS_OK
                     : ACS_MISMATCH;
        }
        OPENSSL_cleanse(key, klen + 2);
        free(key);
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(want, sizeof want);
    OPENSSL_cleanse(text, slen);
    free(text);
    return st;
}

/* ------------------------------------------------------------------ API */

acs_status acs_parse(const acs_request *req, acs_claim *out)
{
    memset(out, 0, sizeof *out);
    out->unix_time = -1;
    const char *authorization = hdr(req, "authorization");
    acs_status st;
    if (authorization != NULL && strncmp(authorization, "ACS3-", 5) == 0)
        st = parse_acs3(req, authorization, out);
    else if (param(req, "Signature") != NULL)
        st = parse_rpc(req, out);
    else
        st = authorization != NULL ? ACS_MALFORMED : ACS_MISSING;
    if (st != ACS_OK) {
        acs_scheme keep = out->scheme;
        memset(out, 0, sizeof *out);
        out->scheme = keep;
        out->unix_time = -1;
    }
    return st;
}

acs_status acs_verify(const acs_request *req, const acs_claim *claim, const char *secret,
                      char *sts, size_t sts_len)
{
    if (sts != NULL && sts_len > 0)
        sts[0] = '\0';
    if (secret == NULL || claim == NULL)
        return ACS_MISMATCH;
    switch (claim->scheme) {
    case ACS_SCHEME_ACS3: return verify_acs3(req, secret, sts, sts_len);
    case ACS_SCHEME_RPC_V1: return verify_rpc(req, secret, sts, sts_len);
    case ACS_SCHEME_NONE:
    default: return ACS_MISSING;
    }
}
