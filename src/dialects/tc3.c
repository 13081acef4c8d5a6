/*
 * tc3.c — seed 000's upstream cloud API 3.0 (Tencent Cloud FaceID,
 * version 2018-03-01) at `/`, so that the official SDKs work unchanged
 * with only their endpoint changed (docs/dialects.md):
 *
 *   IdCardVerification {IdCard, Name}                  → Result "0".."-7"
 *   CheckIdNameDate {Name, IdCard, ValidityBegin, ValidityEnd} → "0".."-8"
 *
 * Two ways to carry and sign a call:
 *   - TC3-HMAC-SHA256: `Authorization` header, X-TC-Action / X-TC-Version /
 *     X-TC-Timestamp headers, parameters in a JSON body (POST) or in the
 *     query (GET);
 *   - the older v1 form: no Authorization; Action, Version, Timestamp,
 *     Nonce, SecretId, SignatureMethod, Signature with the parameters in an
 *     application/x-www-form-urlencoded body (POST) or the query (GET).
 * Answers: HTTP 200, {"Response": {"Result", "Description", "RequestId"}};
 * every error is HTTP 200 too, {"Response": {"Error": {"Code", "Message"},
 * "RequestId"}}, as Tencent answers.
 *
 * Translator only: the signature rules are tenancy/sign_tc3.c's, the
 * decision verify/'s, admission, caps, metering and the audit row
 * api/call.c's. Here: parse, authenticate, map verdicts and refusals to
 * Tencent's codes through the tables below.
 *
 * Must never: decide anything, answer before the signature is checked
 * (except refusing the request's shape), compare signatures in variable
 * time, put a secret or the identity in an error message or a log line,
 * or leave the parameters or the secret in freed memory.
 */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
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
#include "tenancy/sign_tc3.h"

#define TC_VERSION "2018-03-01"
#define TC_WINDOW_S 300            /* Tencent: five minutes either way */
#define TC_CONTENT_TYPE "application/json"

/* ------------------------------------------------------------ errors */

/* Whether a client-supplied token may be echoed in a message: short and
 * plain (never identity data, never an escape sequence). */
static bool echoable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static void reply_response(http_request *req, json_t *inner)
{
    json_t *root = json_pack("{s:o}", "Response", inner);
    size_t len = 0;
    char *body = render_json_bytes(root, &len);
    if (body == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_bytes(req, 200, TC_CONTENT_TYPE, body, len);
    OPENSSL_cleanse(body, len);
    free(body);
}

/* {"Response": {"Error": {"Code", "Message"}, "RequestId"}} with HTTP 200. */
static void tc_error(http_request *req, const char *code, const char *message)
{
    json_t *inner = json_pack("{s:{s:s,s:s},s:s}", "Error", "Code", code, "Message", message,
                              "RequestId", req->id);
    if (inner == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_response(req, inner);
}

/* A message naming a parameter: fmt holds one "%s" where it goes. */
static void tc_param_error(http_request *req, const char *code, const char *fmt,
                           const char *param)
{
    char msg[256];
    const char *at = strstr(fmt, "%s");
    if (at == NULL) {
        tc_error(req, code, fmt);
        return;
    }
    snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - fmt), fmt, param, at + 2);
    tc_error(req, code, msg);
}

static void missing(http_request *req, const char *param)
{
    tc_param_error(req, "MissingParameter", "The request is missing a required parameter `%s`.",
                   param);
}

static void auth_failed(http_request *req, tenancy *t, const char *code, const char *message)
{
    if (t != NULL)
        tenancy_auth_failed(t, req->remote);
    tc_error(req, code, message);
}

#define MSG_SIGNATURE                                                                        \
    "The provided credentials could not be validated. Please check your signature is correct."
#define MSG_EXPIRED                                                                          \
    "Signature expired. Timestamp and server time cannot differ by more than five minutes. " \
    "Please ensure your current local time matches the standard time."
#define MSG_SECRET_ID                                                                        \
    "The SecretId is not found, please ensure that your SecretId is correct."

/* ----------------------------------------------------- result codes */

typedef struct {
    const char *code;
    const char *description;
} tc_result;

/* IdCardVerification (Tencent's documented Result codes and texts). */
enum { R2_MATCH, R2_MISMATCH, R2_BAD_ID, R2_BAD_NAME, R2_REGISTRY_ERROR, R2_NO_RECORD,
       R2_MAINTENANCE, R2_DAILY_LIMIT };
static const tc_result id2_results[] = {
    [R2_MATCH] = {"0", "姓名和身份证号一致"},
    [R2_MISMATCH] = {"-1", "姓名和身份证号不一致"},
    [R2_BAD_ID] = {"-2", "非法身份证号（长度、校验位等不正确）"},
    [R2_BAD_NAME] = {"-3", "非法姓名（长度、格式等不正确）"},
    [R2_REGISTRY_ERROR] = {"-4", "证件库服务异常"},
    [R2_NO_RECORD] = {"-5", "证件库中无此身份证记录"},
    [R2_MAINTENANCE] = {"-6", "权威比对系统升级中，请稍后再试"},
    [R2_DAILY_LIMIT] = {"-7", "认证次数超过当日限制"},
};

/* CheckIdNameDate. */
enum { R4_MATCH, R4_MISMATCH, R4_BAD_ID, R4_BAD_NAME, R4_BAD_PERIOD, R4_INVALID_IDENTITY,
       R4_REGISTRY_ERROR, R4_NO_RECORD, R4_DAILY_LIMIT };
static const tc_result id4_results[] = {
    [R4_MATCH] = {"0", "一致"},
    [R4_MISMATCH] = {"-1", "不一致"},
    [R4_BAD_ID] = {"-2", "非法身份证号（长度、校验位等不正确）"},
    [R4_BAD_NAME] = {"-3", "非法姓名（长度、格式等不正确）"},
    [R4_BAD_PERIOD] = {"-4", "非法有效期（长度、格式等不正确）"},
    [R4_INVALID_IDENTITY] = {"-5", "身份信息无效"},
    [R4_REGISTRY_ERROR] = {"-6", "证件库服务异常"},
    [R4_NO_RECORD] = {"-7", "证件库中无此身份证记录"},
    [R4_DAILY_LIMIT] = {"-8", "认证次数超过当日限制，请次日重试"},
};

/* Verdict → row, per action (-1: not a verdict these products give). */
static const int id2_by_verdict[SM_VERDICT__COUNT] = {
    [SM_VERDICT_MATCH] = R2_MATCH,
    [SM_VERDICT_MISMATCH] = R2_MISMATCH,
    [SM_VERDICT_NOT_FOUND] = R2_NO_RECORD,
    [SM_VERDICT_INVALID_ID] = R2_BAD_ID,
    [SM_VERDICT_INVALID_NAME] = R2_BAD_NAME,
    [SM_VERDICT_INVALID_PERIOD] = -1,
    [SM_VERDICT_REGISTRY_UNAVAILABLE] = R2_REGISTRY_ERROR, /* -6 when not open: see below */
    [SM_VERDICT_INVALID_IMAGE] = -1,
    [SM_VERDICT_NO_FACE] = -1,
    [SM_VERDICT_NOT_LIVE] = -1,
};
static const int id4_by_verdict[SM_VERDICT__COUNT] = {
    [SM_VERDICT_MATCH] = R4_MATCH, /* -5 when the household status is invalid: see below */
    [SM_VERDICT_MISMATCH] = R4_MISMATCH,
    [SM_VERDICT_NOT_FOUND] = R4_NO_RECORD,
    [SM_VERDICT_INVALID_ID] = R4_BAD_ID,
    [SM_VERDICT_INVALID_NAME] = R4_BAD_NAME,
    [SM_VERDICT_INVALID_PERIOD] = R4_BAD_PERIOD,
    [SM_VERDICT_REGISTRY_UNAVAILABLE] = R4_REGISTRY_ERROR,
    [SM_VERDICT_INVALID_IMAGE] = -1,
    [SM_VERDICT_NO_FACE] = -1,
    [SM_VERDICT_NOT_LIVE] = -1,
};

/* CheckIdNameDate's "-5 身份信息无效" for a matched identity, by the
 * registry's household (hukou) status: 2 = deceased, missing, emigrated… */
static const bool id4_hukou_invalid[] = {
    [REG_HUKOU_VALID] = false,
    [REG_HUKOU_MOVED_OUT] = false,
    [REG_HUKOU_INVALID] = true,
};

static void reply_tc_result(http_request *req, const tc_result *res)
{
    json_t *inner = json_pack("{s:s,s:s,s:s}", "Result", res->code, "Description",
                              res->description, "RequestId", req->id);
    if (inner == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_response(req, inner);
}

/* ------------------------------------------------------------- the call */

typedef struct {
    json_t *json;  /* TC3: the parsed body, owner of the strings in the spec */
    form params;   /* v1 and GET: owner of the strings in the spec */
    bool id4;
} tc_call;

static const tc_result *result_for(const tc_call *c, http_request *req, const verify_result *r)
{
    if ((unsigned)r->verdict >= SM_VERDICT__COUNT)
        return NULL;
    if (!c->id4) {
        int row = id2_by_verdict[r->verdict];
        /* The registry not open at all (starting, being replaced): the
         * "system being upgraded" answer; open but failing: "service error". */
        if (r->verdict == SM_VERDICT_REGISTRY_UNAVAILABLE &&
            api_context_registry(req->ctx) == NULL)
            row = R2_MAINTENANCE;
        return row >= 0 ? &id2_results[row] : NULL;
    }
    int row = id4_by_verdict[r->verdict];
    if (r->verdict == SM_VERDICT_MATCH && r->found &&
        (unsigned)r->hukou < sizeof id4_hukou_invalid / sizeof id4_hukou_invalid[0] &&
        id4_hukou_invalid[r->hukou])
        row = R4_INVALID_IDENTITY;
    return row >= 0 ? &id4_results[row] : NULL;
}

static int render_tc(void *ctx, http_request *req, const verify_result *r, bool charged,
                     call_answer *out)
{
    (void)charged;
    const tc_result *res = result_for(ctx, req, r);
    if (res == NULL)
        return -1;
    json_t *root = json_pack("{s:{s:s,s:s,s:s}}", "Response", "Result", res->code,
                             "Description", res->description, "RequestId", req->id);
    out->body = render_json_bytes(root, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->content_type = TC_CONTENT_TYPE;
    out->vendor_code = res->code;
    /* Tencent charges 0 and -1 only: a match answered -5 (identity
     * invalid) is free although the product charges matches. */
    out->free = strcmp(res->code, "0") != 0 && strcmp(res->code, "-1") != 0;
    return 0;
}

static void refuse_tc(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    (void)retry_after_s;
    const tc_call *c = ctx;
    switch (why) {
    case CALL_DAILY_LIMIT:
    case CALL_SUBJECT_CAP:
        reply_tc_result(req, c->id4 ? &id4_results[R4_DAILY_LIMIT] : &id2_results[R2_DAILY_LIMIT]);
        break;
    case CALL_APP_FROZEN:
        tc_error(req, "UnauthorizedOperation.ChargeStatusException", "计费状态异常。");
        break;
    case CALL_APP_DISABLED:
        tc_error(req, "UnauthorizedOperation.Nonactivated", "未开通服务。");
        break;
    case CALL_IP_DENIED:
        tc_error(req, "IpNotInWhitelist", "IP地址不在白名单中。");
        break;
    case CALL_RATE_LIMITED:
        tc_error(req, "RequestLimitExceeded", "请求的次数超过了频率限制。");
        break;
    case CALL_QUOTA_EXHAUSTED:
        tc_error(req, "UnauthorizedOperation.Arrears", "账号已欠费。");
        break;
    case CALL_UNAVAILABLE:
        tc_error(req, "InternalError",
                 "内部错误。The call could not be recorded; nothing was charged. Retry later.");
        break;
    case CALL_INTERNAL:
    default:
        tc_error(req, "InternalError", "内部错误。");
        break;
    }
}

static void release_tc(void *ctx)
{
    tc_call *c = ctx;
    json_decref(c->json);
    form_clear(&c->params);
    free(c);
}

/* ------------------------------------------------------- parameters */

/* Where the business parameters are: a JSON object (TC3 POST) or a form
 * (v1, and TC3 GET: the query). */
typedef struct {
    json_t *json;
    form *params;
} tc_source;

/* The v1 and GET common parameters: signed, never business fields. */
static const char *const common_params[] = {
    "Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "Signature",
    "SignatureMethod", "Token", "Language", "RequestClient",
};

static bool is_common(const char *name)
{
    for (size_t i = 0; i < sizeof common_params / sizeof common_params[0]; i++)
        if (strcmp(common_params[i], name) == 0)
            return true;
    return false;
}

static const char *const id2_fields[] = {"IdCard", "Name", NULL};
static const char *const id4_fields[] = {"Name", "IdCard", "ValidityBegin", "ValidityEnd",
                                         NULL};

static bool is_field(const char *const *fields, const char *name)
{
    for (size_t i = 0; fields[i] != NULL; i++)
        if (strcmp(fields[i], name) == 0)
            return true;
    return false;
}

/* Refuse what the action does not take: the Encryption envelope (not
 * supported here) and unknown parameters. 0, or -1 after replying. */
static int check_unknown(http_request *req, const tc_source *src, const char *const *fields)
{
    const char *bad = NULL;
    if (src->json != NULL) {
        const char *key;
        json_t *v;
        json_object_foreach(src->json, key, v)
        {
            (void)v;
            if (!is_field(fields, key)) {
                bad = key;
                break;
            }
        }
    } else {
        for (size_t i = 0; i < src->params->n && bad == NULL; i++) {
            const char *name = src->params->fields[i].name;
            if (!is_common(name) && !is_field(fields, name))
                bad = name;
        }
    }
    if (bad == NULL)
        return 0;
    if (strcmp(bad, "Encryption") == 0 || strncmp(bad, "Encryption.", 11) == 0) {
        tc_error(req, "UnsupportedOperation",
                 "Encrypted parameters (Encryption) are not supported by this server: send "
                 "the fields in clear over HTTPS.");
        return -1;
    }
    if (echoable(bad))
        tc_param_error(req, "UnknownParameter", "The parameter `%s` is not recognized.", bad);
    else
        tc_error(req, "UnknownParameter", "The request holds a parameter that is not recognized.");
    return -1;
}

/* A required string parameter. 0, or -1 after replying. */
static int get_field(http_request *req, const tc_source *src, const char *name,
                     const char **out, size_t *len)
{
    if (src->json != NULL) {
        json_t *v = json_object_get(src->json, name);
        if (v == NULL || json_is_null(v)) {
            missing(req, name);
            return -1;
        }
        if (!json_is_string(v)) {
            tc_param_error(req, "InvalidParameter", "The parameter `%s` must be a String.", name);
            return -1;
        }
        *out = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    }
    const form_field *f = form_get(src->params, name);
    if (f == NULL) {
        missing(req, name);
        return -1;
    }
    *out = f->value;
    *len = f->value_len;
    return 0;
}

/* The action, checked and run through the metered call. Takes `owned`
 * (freed here, or by the call). */
static void run_action(http_request *req, const tn_app *app, const char *action,
                       const char *version, tc_call *owned)
{
    tc_source src = {owned->json, owned->json != NULL ? NULL : &owned->params};
    bool id4;
    if (action != NULL && strcmp(action, "IdCardVerification") == 0) {
        id4 = false;
    } else if (action != NULL && strcmp(action, "CheckIdNameDate") == 0) {
        id4 = true;
    } else {
        if (action != NULL && echoable(action))
            tc_param_error(req, "InvalidAction", "The action `%s` is not supported.", action);
        else
            tc_error(req, "InvalidAction", "The requested action is not supported.");
        release_tc(owned);
        return;
    }
    if (version == NULL || strcmp(version, TC_VERSION) != 0) {
        tc_error(req, "NoSuchVersion",
                 "The API version is not supported: this action is version " TC_VERSION ".");
        release_tc(owned);
        return;
    }
    owned->id4 = id4;
    call_spec spec = {
        .product = id4 ? "tc_check_id_name_date" : "tc_idcard_verification",
        .dialect = "tc3",
        .id4 = id4,
        .subject_caps = true,
        .admitted = false,
        .app = app,
        .render = render_tc,
        .refuse = refuse_tc,
        .release = release_tc,
        .ctx = owned,
    };
    const char *const *fields = id4 ? id4_fields : id2_fields;
    if (check_unknown(req, &src, fields) != 0 ||
        get_field(req, &src, "IdCard", &spec.vr.id_number, &spec.vr.id_len) != 0 ||
        get_field(req, &src, "Name", &spec.vr.name, &spec.vr.name_len) != 0 ||
        (id4 && (get_field(req, &src, "ValidityBegin", &spec.vr.valid_from,
                           &spec.vr.valid_from_len) != 0 ||
                 get_field(req, &src, "ValidityEnd", &spec.vr.valid_to,
                           &spec.vr.valid_to_len) != 0))) {
        release_tc(owned);
        return;
    }
    call_run(req, &spec);
}

/* --------------------------------------------------------- helpers */

/* Unix seconds: 1..12 decimal digits. */
static bool parse_timestamp(const char *s, int64_t *out)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 12)
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

static bool within_window(int64_t ts)
{
    int64_t now = (int64_t)time(NULL);
    return ts >= now - TC_WINDOW_S && ts <= now + TC_WINDOW_S;
}

/* A form field called `name` appears more than once: refuse (Tencent
 * parameters are single-valued). 0, or -1 after replying. */
static int refuse_duplicates(http_request *req, const form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (form_count(f, f->fields[i].name) > 1) {
            if (echoable(f->fields[i].name))
                tc_param_error(req, "InvalidParameter", "The parameter `%s` is duplicated.",
                               f->fields[i].name);
            else
                tc_error(req, "InvalidParameter", "A parameter is duplicated.");
            return -1;
        }
    }
    return 0;
}

/* The query's parameters, re-encoded as an SDK writes them (Node's
 * querystring: every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) as %XX), in
 * the order received: the canonical query of a TC3 GET. */
static char *canonical_query(const form *q, size_t *len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = 1;
    for (size_t i = 0; i < q->n; i++)
        cap += 3 * (q->fields[i].name_len + q->fields[i].value_len) + 2;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (i > 0)
            out[o++] = '&';
        for (int part = 0; part < 2; part++) {
            const char *s = part == 0 ? q->fields[i].name : q->fields[i].value;
            size_t n = part == 0 ? q->fields[i].name_len : q->fields[i].value_len;
            if (part == 1)
                out[o++] = '=';
            for (size_t k = 0; k < n; k++) {
                unsigned char c = (unsigned char)s[k];
                if (isalnum(c) || strchr("-_.!~*'()", c) != NULL) {
                    out[o++] = (char)c;
                } else {
                    out[o++] = '%';
                    out[o++] = hex[c >> 4];
                    out[o++] = hex[c & 15];
                }
            }
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static void free_text(char *s, size_t len)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, len);
        free(s);
    }
}

/* ------------------------------------------------------------- TC3 */

/* Verify the TC3 signature of `req` with `secret`: the canonical request
 * built from the signed headers (host without its port; if that fails and
 * the Host header has a port, with it, as some SDKs sign), the query and
 * the body. */
static bool tc3_signature_ok(http_request *req, const tc3_auth *a, const char *timestamp,
                             const char *secret, const form *query)
{
    const char *host = request_header(req, "Host");
    if (host == NULL)
        host = "";
    size_t host_len = strlen(host);
    size_t bare = tc3_host_without_port(host, host_len);

    size_t qlen = 0;
    char *q = canonical_query(query, &qlen);
    if (q == NULL)
        return false;
    char hash[65];
    tc3_sha256_hex(req->body != NULL ? req->body : "", req->body_len, hash);

    bool ok = false;
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        if (attempt == 1 && bare == host_len)
            break;
        tc3_header h[TC3_SIGNED_MAX];
        bool complete = true;
        for (size_t i = 0; i < a->n_signed; i++) {
            h[i].name = a->signed_headers[i];
            if (strcmp(a->signed_headers[i], "host") == 0) {
                h[i].value = host;
                h[i].value_len = attempt == 0 ? bare : host_len;
                continue;
            }
            const char *v = request_header(req, a->signed_headers[i]);
            if (v == NULL) {
                complete = false;
                break;
            }
            h[i].value = v;
            h[i].value_len = strlen(v);
        }
        if (!complete)
            break;
        size_t clen = 0, slen = 0;
        char *canonical =
            tc3_canonical_request(req->method, req->path, q, qlen, h, a->n_signed, hash, &clen);
        char *sts = canonical != NULL ? tc3_string_to_sign(timestamp, a->date, a->service,
                                                           canonical, clen, &slen)
                                      : NULL;
        uint8_t sig[TC3_SIG_BYTES];
        if (sts != NULL && tc3_sign(secret, strlen(secret), a->date, a->service, sts, slen, sig))
            ok = CRYPTO_memcmp(sig, a->signature, TC3_SIG_BYTES) == 0;
        OPENSSL_cleanse(sig, sizeof sig);
        free_text(canonical, clen);
        free_text(sts, slen);
    }
    free_text(q, qlen);
    return ok;
}

static void handle_tc3(http_request *req, tenancy *t, const char *authorization, bool get)
{
    /* The shape first: what carries the parameters. */
    const char *ct = request_header(req, "Content-Type");
    if (!get && !http_media_type_is(ct, "application/json", NULL)) {
        tc_error(req, "InvalidParameter",
                 "A TC3-HMAC-SHA256 POST carries its parameters as Content-Type: "
                 "application/json (application/x-www-form-urlencoded goes with the "
                 "HmacSHA1/HmacSHA256 signature, without an Authorization header).");
        return;
    }
    tc3_auth a;
    switch (tc3_parse_authorization(authorization, &a)) {
    case TC3_AUTH_OK: break;
    case TC3_AUTH_SIGNED_HEADERS:
        auth_failed(req, t, "AuthFailure.InvalidAuthorization",
                    "Authorization in the request header is invalid: SignedHeaders must list "
                    "content-type and host, lower-case, sorted, each once.");
        return;
    case TC3_AUTH_NOT_TC3:
    case TC3_AUTH_MALFORMED:
    default:
        auth_failed(req, t, "AuthFailure.InvalidAuthorization",
                    "Authorization in the request header is invalid: expected "
                    "`TC3-HMAC-SHA256 Credential=SecretId/Date/service/tc3_request, "
                    "SignedHeaders=content-type;host, Signature=hex`.");
        return;
    }
    const char *ts_text = request_header(req, "X-TC-Timestamp");
    int64_t ts = 0;
    if (ts_text == NULL) {
        missing(req, "X-TC-Timestamp");
        return;
    }
    if (!parse_timestamp(ts_text, &ts)) {
        tc_error(req, "InvalidParameter",
                 "The header `X-TC-Timestamp` must be the current Unix time in seconds.");
        return;
    }
    if (!within_window(ts)) {
        auth_failed(req, t, "AuthFailure.SignatureExpire", MSG_EXPIRED);
        return;
    }
    char date[11];
    if (!tc3_utc_date(ts, date) || strcmp(date, a.date) != 0) {
        auth_failed(req, t, "AuthFailure.SignatureFailure",
                    "The date of the Credential must be the UTC date of X-TC-Timestamp.");
        return;
    }

    tc_call *owned = calloc(1, sizeof *owned);
    if (owned == NULL) {
        tc_error(req, "InternalError", "内部错误。");
        return;
    }
    /* The query: the parameters of a GET, and always part of the signature. */
    if (form_add_query(&owned->params, req) != FORM_OK) {
        tc_error(req, "InvalidParameter", "The query string is not valid.");
        release_tc(owned);
        return;
    }

    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL) {
        char secret[TN_SECRET_MAX];
        tn_status st = tenancy_credential_secret(t, TN_CRED_SECRETID, a.secret_id, secret, &app);
        if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
            OPENSSL_cleanse(secret, sizeof secret);
            release_tc(owned);
            auth_failed(req, t, "AuthFailure.SecretIdNotFound", MSG_SECRET_ID);
            return;
        }
        if (st != TN_OK) {
            OPENSSL_cleanse(secret, sizeof secret);
            release_tc(owned);
            tc_error(req, "InternalError", "内部错误。The credentials cannot be checked right now.");
            return;
        }
        bool ok = tc3_signature_ok(req, &a, ts_text, secret, &owned->params);
        OPENSSL_cleanse(secret, sizeof secret);
        if (!ok) {
            release_tc(owned);
            auth_failed(req, t, "AuthFailure.SignatureFailure", MSG_SIGNATURE);
            return;
        }
    }
    OPENSSL_cleanse(&a, sizeof a);

    if (!get) {
        /* The parameters: a JSON object, every key once. */
        json_error_t jerr;
        owned->json = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                                 JSON_REJECT_DUPLICATES, &jerr);
        if (owned->json == NULL || !json_is_object(owned->json)) {
            bool dup = owned->json == NULL && strstr(jerr.text, "duplicate") != NULL;
            release_tc(owned);
            tc_error(req, "InvalidParameter",
                     dup ? "The request body holds a parameter more than once."
                         : "The request body is not a valid JSON object.");
            return;
        }
        OPENSSL_cleanse(&jerr, sizeof jerr);
    } else if (refuse_duplicates(req, &owned->params) != 0) {
        release_tc(owned);
        return;
    }
    const char *action = request_header(req, "X-TC-Action");
    const char *version = request_header(req, "X-TC-Version");
    if (action == NULL || version == NULL) {
        release_tc(owned);
        missing(req, action == NULL ? "X-TC-Action" : "X-TC-Version");
        return;
    }
    run_action(req, t != NULL ? &app : NULL, action, version, owned);
}

/* -------------------------------------------------------------- v1 */

static const char *param(const form *f, const char *name)
{
    const form_field *x = form_get(f, name);
    return x != NULL ? x->value : NULL;
}

static void handle_v1(http_request *req, tenancy *t, bool get)
{
    tc_call *owned = calloc(1, sizeof *owned);
    if (owned == NULL) {
        tc_error(req, "InternalError", "内部错误。");
        return;
    }
    form *f = &owned->params;
    form_status fs;
    if (get) {
        fs = form_add_query(f, req);
    } else {
        const char *ct = request_header(req, "Content-Type");
        if (http_media_type_is(ct, "application/json", NULL)) {
            release_tc(owned);
            auth_failed(req, t, "AuthFailure.InvalidAuthorization",
                        "A request with Content-Type: application/json must be signed with "
                        "TC3-HMAC-SHA256 in the Authorization header.");
            return;
        }
        if (!http_media_type_is(ct, "application/x-www-form-urlencoded", NULL)) {
            release_tc(owned);
            tc_error(req, "InvalidParameter",
                     "Unsupported Content-Type: send application/json (TC3-HMAC-SHA256) or "
                     "application/x-www-form-urlencoded (HmacSHA1/HmacSHA256).");
            return;
        }
        fs = form_parse_urlencoded(f, req->body != NULL ? req->body : "", req->body_len);
    }
    if (fs != FORM_OK) {
        release_tc(owned);
        tc_error(req, fs == FORM_NOMEM ? "InternalError" : "InvalidParameter",
                 fs == FORM_NOMEM ? "内部错误。" : "The parameters are not validly URL-encoded.");
        return;
    }
    if (refuse_duplicates(req, f) != 0) {
        release_tc(owned);
        return;
    }
    static const char *const required[] = {"Action", "SecretId", "Timestamp", "Nonce",
                                           "Signature"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (form_get(f, required[i]) == NULL) {
            release_tc(owned);
            missing(req, required[i]);
            return;
        }
    }
    int64_t ts = 0, nonce = 0;
    if (!parse_timestamp(param(f, "Timestamp"), &ts)) {
        release_tc(owned);
        tc_error(req, "InvalidParameter",
                 "The parameter `Timestamp` must be the current Unix time in seconds.");
        return;
    }
    if (!parse_timestamp(param(f, "Nonce"), &nonce)) {
        release_tc(owned);
        tc_error(req, "InvalidParameter", "The parameter `Nonce` must be a positive integer.");
        return;
    }
    tc1_method m = TC1_HMAC_SHA1;
    const char *method_name = param(f, "SignatureMethod");
    if (method_name != NULL && !tc1_method_from(method_name, &m)) {
        release_tc(owned);
        tc_error(req, "InvalidParameterValue",
                 "The parameter `SignatureMethod` must be HmacSHA1 or HmacSHA256.");
        return;
    }
    if (!within_window(ts)) {
        release_tc(owned);
        auth_failed(req, t, "AuthFailure.SignatureExpire", MSG_EXPIRED);
        return;
    }

    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL) {
        char secret[TN_SECRET_MAX];
        tn_status st =
            tenancy_credential_secret(t, TN_CRED_SECRETID, param(f, "SecretId"), secret, &app);
        if (st != TN_OK) {
            OPENSSL_cleanse(secret, sizeof secret);
            release_tc(owned);
            if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID)
                auth_failed(req, t, "AuthFailure.SecretIdNotFound", MSG_SECRET_ID);
            else
                tc_error(req, "InternalError",
                         "内部错误。The credentials cannot be checked right now.");
            return;
        }
        tc1_param *ps = malloc(f->n * sizeof *ps);
        bool ok = false;
        if (ps != NULL) {
            for (size_t i = 0; i < f->n; i++)
                ps[i] = (tc1_param){f->fields[i].name, f->fields[i].value, f->fields[i].value_len};
            const char *host = request_header(req, "Host");
            size_t slen = 0;
            char *sts = tc1_string_to_sign(req->method, host != NULL ? host : "", req->path, ps,
                                           f->n, &slen);
            char want[64];
            const form_field *got = form_get(f, "Signature");
            if (sts != NULL && tc1_sign_base64(m, secret, strlen(secret), sts, slen, want)) {
                size_t wn = strlen(want);
                ok = got->value_len == wn && CRYPTO_memcmp(got->value, want, wn) == 0;
            }
            OPENSSL_cleanse(want, sizeof want);
            free_text(sts, slen);
            free(ps);
        }
        OPENSSL_cleanse(secret, sizeof secret);
        if (!ok) {
            release_tc(owned);
            if (ps == NULL)
                tc_error(req, "InternalError", "内部错误。");
            else
                auth_failed(req, t, "AuthFailure.SignatureFailure", MSG_SIGNATURE);
            return;
        }
    }
    const char *action = param(f, "Action");
    const char *version = param(f, "Version");
    if (version == NULL) {
        release_tc(owned);
        missing(req, "Version");
        return;
    }
    run_action(req, t != NULL ? &app : NULL, action, version, owned);
}

/* ---------------------------------------------------------- handler */

void dialect_tc3(http_request *req)
{
    if (req->body_too_large) {
        tc_error(req, "RequestSizeLimitExceeded", "请求包超过限制大小。");
        return;
    }
    bool get = strcmp(req->method, "GET") == 0;
    if (!get && strcmp(req->method, "POST") != 0) {
        tc_error(req, "UnsupportedProtocol", "HTTP(S)请求协议错误，只支持GET和POST请求。");
        return;
    }
    tenancy *t = api_context_tenancy(req->ctx);
    double retry = 0;
    if (t != NULL && tenancy_auth_blocked(t, req->remote, &retry)) {
        tc_error(req, "RequestLimitExceeded.IPLimitExceeded",
                 "Too many failed authentications from this address; retry later.");
        return;
    }
    const char *authorization = request_header(req, "Authorization");
    if (authorization != NULL)
        handle_tc3(req, t, authorization, get);
    else
        handle_v1(req, t, get);
}
