/*
 * iden_auth.c — dialect B (seed 001): the API marketplace's two-element
 * check, `POST /idenAuthentication`, behind the marketplace's API gateway
 * (docs/dialects.md).
 *
 * Request: parameters `idNo` and `name` from an
 * application/x-www-form-urlencoded body (a body with no Content-Type is
 * read as a form too: the official SDK's AppCode client drops the header)
 * and from the query string, merged as the gateway does; a parameter given
 * twice (anywhere) is refused.
 * Credentials, as the gateway takes them:
 *   - `Authorization: APPCODE <code>` → tenancy kind appcode (hashed);
 *   - the signed mode: X-Ca-Key (tenancy kind appkey) + X-Ca-Signature over
 *     the string to sign of tenancy/sign_apigw.h, with X-Ca-Timestamp (ms,
 *     within 15 minutes) and X-Ca-Nonce (never twice: tenancy_nonce_fresh),
 *     both of which must be signed.
 * Answer: 200 JSON {name, idNo, respMessage, respCode, province, city,
 * county, birthday, sex, age}, all strings, in that order, whatever the
 * verdict (0000 … 0010); the fields derived from the number are "" when the
 * number is not well-formed. Gateway-level failures (credentials, limits,
 * quota, malformed requests) carry no body: the SDK reads only the
 * X-Ca-Request-Id, X-Ca-Error-Code and X-Ca-Error-Message headers (ASCII).
 *
 * Must never: decide anything (verify/ decides, tenancy/ admits), put a
 * secret, a name or a raw ID number in an error header or a log line, send
 * a non-ASCII header value, or answer before call_run's record is
 * committed.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/call.h"
#include "api/render.h"
#include "api/routes.h"
#include "dialects/dialects.h"
#include "http/form.h"
#include "tenancy/sign_apigw.h"

#define PRODUCT "iden_auth"
#define DIALECT "iden_auth"
#define JSON_TYPE "application/json;charset=utf-8"
#define TEXT_TYPE "text/plain;charset=utf-8"
#define FORM_TYPE "application/x-www-form-urlencoded"

#define TIMESTAMP_WINDOW_MS (15 * 60 * 1000LL) /* the gateway's 15 minutes */
#define APPCODE_MAX 128
#define NONCE_MAX 128
#define SIGNED_HEADERS_MAX 32
#define HEADER_NAME_MAX 64
#define ERR_MESSAGE_MAX 1024

/* ------------------------------------------------------- gateway errors */

/* `s` as a header value: printable ASCII only (anything else becomes '?',
 * a line break '#'), at most cap - 1 bytes. */
static void ascii_value(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; s != NULL && s[i] != '\0' && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c == '\n' ? '#' : (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
    }
    out[o] = '\0';
}

/* A gateway-level failure: no body; X-Ca-Request-Id, X-Ca-Error-Code,
 * X-Ca-Error-Message, and one optional extra header (Retry-After, Allow). */
static void gw_error(http_request *req, unsigned status, const char *code, const char *message,
                     const char *extra_name, const char *extra_value)
{
    char msg[ERR_MESSAGE_MAX];
    ascii_value(message, msg, sizeof msg);
    http_header h[4] = {
        {"X-Ca-Request-Id", req->id},
        {"X-Ca-Error-Code", code},
        {"X-Ca-Error-Message", msg},
        {extra_name, extra_value},
    };
    reply_bytes_headers(req, status, TEXT_TYPE, "", 0, h, extra_name != NULL ? 4 : 3);
}

static void gw_retry(http_request *req, unsigned status, const char *code, const char *message,
                     double retry_after_s)
{
    char retry[24];
    call_retry_after_text(retry_after_s, retry);
    gw_error(req, status, code, message, "Retry-After", retry);
}

/* ------------------------------------------------------------- the call */

typedef struct {
    form f;            /* query + body parameters: the strings below */
    const char *name;  /* borrowed from f, or "" */
    size_t name_len;
    const char *id;
    size_t id_len;
} iden_call;

static void call_free(void *ctx)
{
    iden_call *c = ctx;
    if (c == NULL)
        return;
    form_clear(&c->f);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

/* The verdict → respCode table (seed 001's error-code table). */
typedef struct {
    const char *code;
    const char *message;
} resp;

static const resp RESP_MATCH = {"0000", "身份证信息匹配"};
static const resp RESP_NAME_EMPTY = {"0001", "开户名不能为空"};
static const resp RESP_NAME_CHARS = {"0002", "开户名不能包含特殊字符"};
static const resp RESP_ID_EMPTY = {"0003", "身份证号不能为空"};
static const resp RESP_ID_FORMAT = {"0004", "身份证号格式错误"};
static const resp RESP_NOT_FOUND = {"0007", "无此身份证号码"};
static const resp RESP_MISMATCH = {"0008", "身份证信息不匹配"};
static const resp RESP_MAINTENANCE = {"0010", "系统维护，请稍后再试"};

/* Only ASCII spaces (what sm_id_parse trims) in s[0..len)? */
static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ')
            return false;
    return true;
}

static const resp *resp_of(const verify_result *r, const iden_call *c)
{
    switch (r->verdict) {
    case SM_VERDICT_MATCH: return &RESP_MATCH;
    case SM_VERDICT_MISMATCH: return &RESP_MISMATCH;
    case SM_VERDICT_NOT_FOUND: return &RESP_NOT_FOUND;
    case SM_VERDICT_INVALID_ID: return blank(c->id, c->id_len) ? &RESP_ID_EMPTY : &RESP_ID_FORMAT;
    case SM_VERDICT_INVALID_NAME:
        return r->name_status == SM_NAME_ERR_EMPTY ? &RESP_NAME_EMPTY : &RESP_NAME_CHARS;
    case SM_VERDICT_REGISTRY_UNAVAILABLE:
    default: return &RESP_MAINTENANCE;
    }
}

static int set_str(json_t *o, const char *key, const char *s, size_t len)
{
    /* The echoed input may hold invalid UTF-8: the writer replaces it. */
    return json_object_set_new(o, key, json_stringn_nocheck(s != NULL ? s : "", s != NULL ? len : 0));
}

static int set_cstr(json_t *o, const char *key, const char *s)
{
    return set_str(o, key, s, s != NULL ? strlen(s) : 0);
}

static int render_iden(void *ctx, http_request *req, const verify_result *r, bool charged,
                       call_answer *out)
{
    (void)charged;
    iden_call *c = ctx;
    const resp *rc = resp_of(r, c);
    bool id_ok = r->id_status == SM_ID_OK;
    char birthday[9] = "";
    char sex[2] = "";
    char age[16] = "";
    if (id_ok) {
        sm_date_format_compact(r->id.birth, birthday);
        sex[0] = r->id.sex;
        snprintf(age, sizeof age, "%d", r->id.age);
    }
    json_t *o = json_object();
    if (o == NULL)
        return -1;
    bool ok = set_str(o, "name", c->name, c->name_len) == 0 &&
              set_str(o, "idNo", c->id, c->id_len) == 0 &&
              set_cstr(o, "respMessage", rc->message) == 0 &&
              set_cstr(o, "respCode", rc->code) == 0 &&
              set_cstr(o, "province", id_ok ? r->id.region.province : NULL) == 0 &&
              set_cstr(o, "city", id_ok ? r->id.region.city : NULL) == 0 &&
              set_cstr(o, "county", id_ok ? r->id.region.county : NULL) == 0 &&
              set_cstr(o, "birthday", birthday) == 0 && set_cstr(o, "sex", sex) == 0 &&
              set_cstr(o, "age", age) == 0;
    if (!ok) {
        json_decref(o);
        return -1;
    }
    out->body = render_json_bytes(o, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->content_type = JSON_TYPE;
    out->vendor_code = rc->code;
    out->headers[0] = (http_header){"X-Ca-Request-Id", req->id};
    out->n_headers = 1;
    return 0;
}

static void refuse_iden(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    (void)ctx;
    switch (why) {
    case CALL_APP_FROZEN:
        gw_error(req, 403, "A403UA", "User Arrears", NULL, NULL);
        break;
    case CALL_APP_DISABLED:
        gw_error(req, 403, "A403PR", "Unauthorized", NULL, NULL);
        break;
    case CALL_IP_DENIED:
        gw_error(req, 403, "A403IP", "Access Denied by IP Control Policy", NULL, NULL);
        break;
    case CALL_RATE_LIMITED:
        gw_retry(req, 429, "A429AF", "Throttled by APP Flow Control", retry_after_s);
        break;
    case CALL_DAILY_LIMIT:
        gw_retry(req, 429, "A429AD", "Throttled by APP Flow Control, daily limit reached",
                 retry_after_s);
        break;
    case CALL_SUBJECT_CAP:
        gw_retry(req, 429, "A429SC", "Throttled by API Flow Control", retry_after_s);
        break;
    case CALL_QUOTA_EXHAUSTED:
        gw_error(req, 403, "A403QE", "Quota Exhausted", NULL, NULL);
        break;
    case CALL_UNAVAILABLE:
        gw_error(req, 503, "X503SU", "Service Unavailable", "Retry-After", "1");
        break;
    case CALL_INTERNAL:
    default:
        gw_error(req, 500, "X500ER", "Internal Error", NULL, NULL);
        break;
    }
}

/* --------------------------------------------------------------- parsing */

/* Read the parameters into c->f. 0, or -1 after having replied. */
static int read_params(http_request *req, iden_call *c, bool *form_body)
{
    const char *ct = request_header(req, "Content-Type");
    bool charset_ok = true;
    *form_body = false;
    if (req->body_len > 0) {
        if (ct == NULL) {
            *form_body = true; /* the SDK's AppCode client sends no Content-Type */
        } else if (http_media_type_is(ct, FORM_TYPE, &charset_ok)) {
            if (!charset_ok) {
                gw_error(req, 400, "I400CT", "Invalid Content-Type: `charset must be UTF-8`",
                         NULL, NULL);
                return -1;
            }
            *form_body = true;
        } else {
            char msg[256];
            char shown[128];
            ascii_value(ct, shown, sizeof shown);
            snprintf(msg, sizeof msg, "Invalid Content-Type: `%s`", shown);
            gw_error(req, 400, "I400CT", msg, NULL, NULL);
            return -1;
        }
    }
    form_status st = form_add_query(&c->f, req);
    if (st == FORM_MALFORMED) {
        gw_error(req, 400, "I400RU", "Invalid Request Uri `malformed query parameter`", NULL,
                 NULL);
        return -1;
    }
    if (st == FORM_OK && *form_body)
        st = form_parse_urlencoded(&c->f, req->body, req->body_len);
    if (st == FORM_MALFORMED) {
        gw_error(req, 400, "I400BD", "Invalid Body: malformed urlencoded form", NULL, NULL);
        return -1;
    }
    if (st != FORM_OK) {
        gw_error(req, 500, "X500ER", "Internal Error", NULL, NULL);
        return -1;
    }
    for (size_t i = 0; i < c->f.n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->f.fields[i].name, c->f.fields[j].name) != 0)
                continue;
            char shown[65], msg[160];
            ascii_value(c->f.fields[i].name, shown, sizeof shown);
            snprintf(msg, sizeof msg, "Invalid Body: duplicated parameter `%s`", shown);
            gw_error(req, 400, "I400BD", msg, NULL, NULL);
            return -1;
        }
    }
    const form_field *name = form_get(&c->f, "name");
    const form_field *id = form_get(&c->f, "idNo");
    c->name = name != NULL ? name->value : "";
    c->name_len = name != NULL ? name->value_len : 0;
    c->id = id != NULL ? id->value : "";
    c->id_len = id != NULL ? id->value_len : 0;
    return 0;
}

/* ------------------------------------------------------- authentication */

/* An authentication failure: counted for the client's IP, then answered. */
static void auth_failure(http_request *req, tenancy *t, unsigned status, const char *code,
                         const char *message)
{
    tenancy_auth_failed(t, req->remote);
    gw_error(req, status, code, message, NULL, NULL);
}

static bool printable_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* APPCODE mode. 0 with *app set, or -1 after having replied. */
static int auth_appcode(http_request *req, tenancy *t, const char *code, tn_app *app)
{
    if (!printable_token(code, APPCODE_MAX)) {
        auth_failure(req, t, 401, "A401AC", "Invalid AppCode `malformed`");
        return -1;
    }
    tn_status st = tenancy_authenticate(t, TN_CRED_APPCODE, code, strlen(code), app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        auth_failure(req, t, 403, "A403IA", "Invalid AppCode `not exists`");
        return -1;
    }
    if (st != TN_OK) {
        gw_error(req, 503, "X503SU", "Service Unavailable", "Retry-After", "1");
        return -1;
    }
    return 0;
}

typedef struct {
    char names[SIGNED_HEADERS_MAX][HEADER_NAME_MAX + 1];
    apigw_header h[SIGNED_HEADERS_MAX];
    size_t n;
} signed_headers;

static bool header_name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '_';
}

/* X-Ca-Signature-Headers into sh (names lower-cased, values looked up).
 * 0, or -1 after having replied. */
static int read_signed_headers(http_request *req, signed_headers *sh)
{
    const char *list = request_header(req, "X-Ca-Signature-Headers");
    sh->n = 0;
    bool has_ts = false, has_nonce = false;
    for (const char *p = list; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        bool ok = end > 0 && end <= HEADER_NAME_MAX && sh->n < SIGNED_HEADERS_MAX;
        for (size_t i = 0; ok && i < end; i++)
            ok = header_name_char(p[i]);
        if (!ok) {
            gw_error(req, 400, "I400HD",
                     "Invalid Header `X-Ca-Signature-Headers` malformed or too many names",
                     NULL, NULL);
            return -1;
        }
        char *name = sh->names[sh->n];
        for (size_t i = 0; i < end; i++)
            name[i] = (char)tolower((unsigned char)p[i]);
        name[end] = '\0';
        for (size_t j = 0; j < sh->n; j++) {
            if (strcmp(sh->names[j], name) == 0) {
                gw_error(req, 400, "I400HD",
                         "Invalid Header `X-Ca-Signature-Headers` duplicated name", NULL, NULL);
                return -1;
            }
        }
        const char *value = request_header(req, name);
        if (value == NULL) {
            char msg[128];
            snprintf(msg, sizeof msg, "Header `%s` is Required", name);
            gw_error(req, 400, "I400MH", msg, NULL, NULL);
            return -1;
        }
        has_ts |= strcmp(name, "x-ca-timestamp") == 0;
        has_nonce |= strcmp(name, "x-ca-nonce") == 0;
        sh->h[sh->n] = (apigw_header){name, value};
        sh->n++;
        p += len;
    }
    if (!has_ts || !has_nonce) {
        gw_error(req, 400, "I400HD",
                 "Invalid Header `X-Ca-Signature-Headers` must name x-ca-timestamp and x-ca-nonce",
                 NULL, NULL);
        return -1;
    }
    return 0;
}

/* The server's string to sign as the Invalid Signature message shows it:
 * the parameters' values withheld (idNo masked, name and non-ASCII values
 * replaced), so that no identity reaches a header or a log. */
static void shown_string_to_sign(const char *method, const char *accept, const char *md5,
                                 const char *ct, const char *date, const signed_headers *sh,
                                 const char *path, const form *f, char *out, size_t cap)
{
    out[0] = '\0';
    apigw_param *ps = f->n > 0 ? calloc(f->n, sizeof *ps) : NULL;
    char(*masked)[48] = f->n > 0 ? calloc(f->n, sizeof *masked) : NULL;
    if (f->n > 0 && (ps == NULL || masked == NULL)) {
        free(ps);
        free(masked);
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        const form_field *fld = &f->fields[i];
        const char *v = fld->value;
        size_t vlen = fld->value_len;
        if (strcmp(fld->name, "idNo") == 0) {
            vlen = sm_mask_id(fld->value, fld->value_len, masked[i], sizeof masked[i]);
            v = masked[i];
        } else if (strcmp(fld->name, "name") == 0 && vlen > 0) {
            v = "(name)";
            vlen = 6;
        } else {
            bool plain = vlen <= 40;
            for (size_t k = 0; plain && k < vlen; k++)
                plain = fld->value[k] >= 0x20 && fld->value[k] <= 0x7e;
            if (!plain) {
                v = "(value)";
                vlen = 7;
            }
        }
        ps[i] = (apigw_param){fld->name, fld->name_len, v, vlen};
    }
    char *sts = NULL;
    size_t len = 0;
    if (apigw_string_to_sign(method, accept, md5, ct, date, sh->h, sh->n, path, ps, f->n, &sts,
                             &len)) {
        ascii_value(sts, out, cap);
        OPENSSL_cleanse(sts, len);
        free(sts);
    }
    OPENSSL_cleanse(masked, f->n * sizeof *masked);
    free(masked);
    free(ps);
}

static bool parse_ms(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Content-MD5 (when sent) must be the base64 MD5 of the body. */
static bool content_md5_ok(const http_request *req, const char *given)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char b64[32];
    if (EVP_Digest(req->body != NULL ? req->body : "", req->body_len, md, &mdlen, EVP_md5(),
                   NULL) != 1)
        return false;
    EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
    return strlen(given) == strlen(b64) && CRYPTO_memcmp(given, b64, strlen(b64)) == 0;
}

/* The signed mode. 0 with *app set, or -1 after having replied. */
static int auth_signed(http_request *req, tenancy *t, const char *key, const iden_call *c,
                       bool form_body, tn_app *app)
{
    const char *sig = request_header(req, "X-Ca-Signature");
    if (sig == NULL || sig[0] == '\0') {
        auth_failure(req, t, 401, "A401ES", "Empty Signature");
        return -1;
    }
    apigw_alg alg;
    if (!apigw_alg_from_name(request_header(req, "X-Ca-Signature-Method"), &alg)) {
        gw_error(req, 400, "A400US", "Invalid Signature Method", NULL, NULL);
        return -1;
    }
    const char *ts_text = request_header(req, "X-Ca-Timestamp");
    const char *nonce = request_header(req, "X-Ca-Nonce");
    if (ts_text == NULL) {
        gw_error(req, 400, "I400MH", "Header `X-Ca-Timestamp` is Required", NULL, NULL);
        return -1;
    }
    if (nonce == NULL) {
        gw_error(req, 400, "I400MH", "Header `X-Ca-Nonce` is Required", NULL, NULL);
        return -1;
    }
    int64_t ts = 0;
    if (!parse_ms(ts_text, &ts)) {
        gw_error(req, 400, "A400IT", "Invalid Timestamp", NULL, NULL);
        return -1;
    }
    if (!printable_token(nonce, NONCE_MAX)) {
        gw_error(req, 400, "A400IN", "Invalid Nonce", NULL, NULL);
        return -1;
    }
    if (!printable_token(key, TN_CRED_ID_MAX - 1)) {
        auth_failure(req, t, 400, "A400AK", "Invalid AppKey");
        return -1;
    }
    signed_headers sh;
    if (read_signed_headers(req, &sh) != 0)
        return -1;
    /* The body's fields are signed only as form fields of a declared form
     * (the SDK signs them only then): an undeclared body would go
     * unprotected. */
    const char *ct = request_header(req, "Content-Type");
    if (req->body_len > 0 && (!form_body || ct == NULL)) {
        gw_error(req, 400, "I400CT",
                 "Invalid Content-Type: `a signed body needs application/x-www-form-urlencoded`",
                 NULL, NULL);
        return -1;
    }
    const char *md5 = request_header(req, "Content-MD5");
    if (md5 != NULL && !content_md5_ok(req, md5)) {
        gw_error(req, 400, "A400IM", "Invalid Content-MD5", NULL, NULL);
        return -1;
    }

    char secret[TN_SECRET_MAX];
    tn_status st = tenancy_credential_secret(t, TN_CRED_APPKEY, key, secret, app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        OPENSSL_cleanse(secret, sizeof secret);
        auth_failure(req, t, 400, "A400AK", "Invalid AppKey");
        return -1;
    }
    if (st != TN_OK) {
        OPENSSL_cleanse(secret, sizeof secret);
        gw_error(req, 503, "X503SU", "Service Unavailable", "Retry-After", "1");
        return -1;
    }

    const char *accept = request_header(req, "Accept");
    const char *date = request_header(req, "Date");
    apigw_param *ps = c->f.n > 0 ? calloc(c->f.n, sizeof *ps) : NULL;
    char *sts = NULL;
    size_t sts_len = 0;
    bool built = c->f.n == 0 || ps != NULL;
    for (size_t i = 0; built && i < c->f.n; i++) {
        const form_field *fld = &c->f.fields[i];
        ps[i] = (apigw_param){fld->name, fld->name_len, fld->value, fld->value_len};
    }
    built = built && apigw_string_to_sign(req->method, accept, md5, ct, date, sh.h, sh.n,
                                          req->path, ps, c->f.n, &sts, &sts_len);
    free(ps);
    bool good = built && apigw_verify(alg, secret, strlen(secret), sts, sts_len, sig);
    OPENSSL_cleanse(secret, sizeof secret);
    if (sts != NULL) {
        OPENSSL_cleanse(sts, sts_len);
        free(sts);
    }
    if (!built) {
        gw_error(req, 500, "X500ER", "Internal Error", NULL, NULL);
        return -1;
    }
    if (!good) {
        char shown[768], msg[ERR_MESSAGE_MAX];
        shown_string_to_sign(req->method, accept, md5, ct, date, &sh, req->path, &c->f, shown,
                             sizeof shown);
        snprintf(msg, sizeof msg, "Invalid Signature, Server StringToSign:`%s`", shown);
        auth_failure(req, t, 400, "A400IS", msg);
        return -1;
    }
    int64_t now = now_ms();
    if (ts < now - TIMESTAMP_WINDOW_MS || ts > now + TIMESTAMP_WINDOW_MS) {
        auth_failure(req, t, 400, "A400IT", "Timestamp Expired");
        return -1;
    }
    char scheme[TN_CRED_ID_MAX + 8];
    snprintf(scheme, sizeof scheme, "apigw:%s", key);
    if (!tenancy_nonce_fresh(t, scheme, nonce, now, TIMESTAMP_WINDOW_MS)) {
        auth_failure(req, t, 400, "A400IN", "Nonce Used");
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- handler */

void dialect_iden_auth(http_request *req)
{
    if (strcmp(req->method, "POST") != 0) {
        char shown[HTTP_METHOD_MAX + 1], msg[64];
        ascii_value(req->method, shown, sizeof shown);
        snprintf(msg, sizeof msg, "Unsupported Method `%s`", shown);
        gw_error(req, 405, "I405UM", msg, "Allow", "POST");
        return;
    }
    tenancy *t = api_context_tenancy(req->ctx);
    double retry = 0;
    if (t != NULL && tenancy_auth_blocked(t, req->remote, &retry)) {
        gw_retry(req, 429, "A429AB", "Throttled by IP Flow Control, too many failed authentications",
                 retry);
        return;
    }
    if (req->body_too_large) { /* before the body has arrived, perhaps: never read it */
        gw_error(req, 413, "I413RL", "Request body too Large", NULL, NULL);
        return;
    }
    iden_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        gw_error(req, 500, "X500ER", "Internal Error", NULL, NULL);
        return;
    }
    bool form_body = false;
    if (read_params(req, c, &form_body) != 0) {
        call_free(c);
        return;
    }

    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL) {
        const char *auth = request_header(req, "Authorization");
        const char *key = request_header(req, "X-Ca-Key");
        int rc;
        if (auth != NULL && strncmp(auth, "APPCODE ", 8) == 0)
            rc = auth_appcode(req, t, auth + 8, &app);
        else if (key != NULL)
            rc = auth_signed(req, t, key, c, form_body, &app);
        else if (auth != NULL) {
            auth_failure(req, t, 401, "A401AC", "Invalid AppCode `malformed`");
            rc = -1;
        } else {
            auth_failure(req, t, 401, "A401AC", "Empty AppCode");
            rc = -1;
        }
        if (rc != 0) {
            call_free(c);
            return;
        }
    }

    call_spec spec = {
        .product = PRODUCT,
        .dialect = DIALECT,
        .id4 = false,
        .subject_caps = true, /* the product's caps (none today) */
        .admitted = false,
        .app = &app,
        .render = render_iden,
        .refuse = refuse_iden,
        .release = call_free,
        .ctx = c,
    };
    spec.vr.name = c->name;
    spec.vr.name_len = c->name_len;
    spec.vr.id_number = c->id;
    spec.vr.id_len = c->id_len;
    call_run(req, &spec);
}
