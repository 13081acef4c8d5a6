/*
 * ekyc_verify.c — dialect D (seed 003): the cloud's RPC API `EkycVerify`
 * (version 2022-08-09) at `/`, so that the official Alibaba Cloud SDKs work
 * with only their endpoint changed (docs/dialects.md, section D). The "/"
 * dispatcher (root.c) sends a request here when it carries the cloud's
 * marks (x-acs-* headers, an ACS3 Authorization, AccessKeyId / Signature
 * parameters).
 *
 * Request: every parameter from the query or the form body (RPC style:
 * either; a name given twice is refused), signed with ACS3-HMAC-SHA256 or
 * the RPC signature V1 (tenancy/sign_acs.h) with an AccessKey pair
 * (tenancy, TN_CRED_ACCESSKEY); the timestamp within 15 minutes of the
 * server clock and the nonce not seen in that window (tenancy/nonce.c).
 * Answer: 200 {RequestId, Code "Success", Message "success", Result
 * {Passed, SubCode, TransactionId, ExtIdInfo, ExtFaceInfo}} — every Result
 * value a string, Ext* JSON text — or 4xx/5xx {RequestId, Code, Message}
 * (Message ASCII), which every official SDK turns into an exception.
 *
 * Order: method, body size, content type, parameters (escapes,
 * duplicates), the failed-authentication limiter, the signature's shape,
 * the timestamp's shape, the AccessKey, the signature, the window, the
 * nonce, Action / Version, the business parameters, admission, then the
 * face pipeline (api/face.h), which runs, meters and audits the call.
 *
 * Translator only. Must never: decide anything (api/face.c and vision/
 * decide), answer before the signature is checked (except refusing the
 * request's shape), log or echo a secret, an image, a URL, a name or a
 * number, or leave them in freed memory.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/call.h"
#include "api/face.h"
#include "api/ocr.h"
#include "api/render.h"
#include "api/routes.h"
#include "dialects/dialects.h"
#include "http/form.h"
#include "tenancy/sign_acs.h"

#define PRODUCT "ekyc_verify"
#define DIALECT "ekyc_verify"
#define ACTION "EkycVerify"
#define VERSION "2022-08-09"
#define WINDOW_S (15 * 60) /* the cloud's: x-acs-date / Timestamp within 15 minutes */
#define CT_JSON "application/json;charset=utf-8"
#define IMAGE_MAX_BYTES (1024 * 1024)
#define URL_MAX 1024
#define MERCHANT_BIZ_ID_MAX 32

/* ------------------------------------------------------------- replies */

/* {"RequestId","Code","Message"} with `status` and an optional header. */
static void acs_error_with(http_request *req, unsigned status, const char *code,
                           const char *message, const char *hname, const char *hvalue)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "RequestId", req->id, "Code", code, "Message", message);
    size_t len = 0;
    char *body = render_json_bytes(o, &len);
    if (body == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    http_header h = {hname, hvalue};
    reply_bytes_headers(req, status, CT_JSON, body, len, &h, hname != NULL ? 1 : 0);
    free(body);
}

static void acs_error(http_request *req, unsigned status, const char *code, const char *message)
{
    acs_error_with(req, status, code, message, NULL, NULL);
}

/* fmt with its one "%s" replaced by `name` (no other conversion). */
static void format_name(char *out, size_t cap, const char *fmt, const char *name)
{
    const char *at = strstr(fmt, "%s");
    if (at == NULL)
        snprintf(out, cap, "%s", fmt);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(at - fmt), fmt, name, at + 2);
}

/* A message naming a parameter (a static name, never a value). */
static void param_error(http_request *req, unsigned status, const char *code, const char *fmt,
                        const char *name)
{
    char msg[256];
    format_name(msg, sizeof msg, fmt, name);
    acs_error(req, status, code, msg);
}

static void missing(http_request *req, const char *name)
{
    param_error(req, 400, "MissingParameter", "%s is mandatory for this action.", name);
}

static void invalid(http_request *req, const char *name)
{
    param_error(req, 400, "InvalidParameter", "The specified parameter %s is not valid.", name);
}

static void auth_failed(http_request *req, tenancy *t, unsigned status, const char *code,
                        const char *message)
{
    if (t != NULL)
        tenancy_auth_failed(t, req->remote);
    acs_error(req, status, code, message);
}

/* --------------------------------------------------------------- state */

typedef struct {
    form query;
    form body;               /* the form body's parameters (empty when none) */
    char biz_id[MERCHANT_BIZ_ID_MAX + 1];
    char retry[24];
    char transaction_id[80];
} ekyc_call;

static void release_call(void *ctx)
{
    ekyc_call *c = ctx;
    if (c == NULL)
        return;
    form_clear(&c->query);
    form_clear(&c->body);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

/* The parameter `name` from the query, else the form body; NULL. */
static const form_field *param(const ekyc_call *c, const char *name)
{
    const form_field *f = form_get(&c->query, name);
    return f != NULL ? f : form_get(&c->body, name);
}

/* A present, non-empty parameter. */
static const form_field *given(const ekyc_call *c, const char *name)
{
    const form_field *f = param(c, name);
    return f != NULL && f->value_len > 0 ? f : NULL;
}

/* ------------------------------------------------------------ rendering */

static const char *image_name(int bad_image)
{
    return bad_image == 0 ? "IdOcrPicture" : "FacePicture";
}

/* An outcome other than FACE_OK: status, code, message (static). */
typedef struct {
    face_outcome outcome;
    unsigned status;
    const char *code;
    const char *message; /* "%s": the image's name */
} outcome_row;

static const outcome_row outcome_rows[] = {
    {FACE_DISABLED, 503, "ServiceUnavailable", "Face verification is disabled on this server."},
    {FACE_BUSY, 503, "ServiceUnavailable", "The service is busy; retry later."},
    {FACE_UNAVAILABLE, 503, "ServiceUnavailable", "The face or OCR models are not loaded."},
    {FACE_IMAGE_TOO_LARGE, 401, "ToolargeImage", "%s is larger than 1 MB."},
    {FACE_IMAGE_RESOLUTION, 401, "UnqualifiedPhoto",
     "%s must be between 640x480 and 1920x1080 pixels."},
    {FACE_UNSUPPORTED_IMAGE, 401, "UnqualifiedPhoto", "%s must be a JPG or PNG image."},
    {FACE_CORRUPT_IMAGE, 401, "UnqualifiedPhoto", "%s cannot be decoded."},
    {FACE_URL_INVALID, 400, "InvalidParameter", "%sUrl is not a valid http(s) URL."},
    {FACE_FETCH_FORBIDDEN, 400, "InvalidParameter", "%sUrl points to an address that is not allowed."},
    {FACE_FETCH_TIMEOUT, 401, "DownloadTimeout", "%sUrl could not be downloaded in time."},
    {FACE_FETCH_FAILED, 401, "UnqualifiedPhoto", "%sUrl could not be downloaded."},
    {FACE_NO_FACE, 401, "NoFaceDetected", "No face was detected in %s."},
    {FACE_FAILED, 500, "InternalError", "Internal error."},
    {FACE_NOMEM, 500, "InternalError", "Internal error."},
};

static const outcome_row *row_of(face_outcome o)
{
    for (size_t i = 0; i < sizeof outcome_rows / sizeof outcome_rows[0]; i++)
        if (outcome_rows[i].outcome == o)
            return &outcome_rows[i];
    return &outcome_rows[sizeof outcome_rows / sizeof outcome_rows[0] - 1];
}

static const char *const subcode_texts[] = {"200", "201", "202", "203", "204", "205",
                                            "206", "207", "208", "209", "210", "211", "212"};

/* A score as the cloud writes it (two decimals); NULL when none. */
static json_t *score_json(double s)
{
    if (s < 0)
        return json_null();
    return json_real((double)(long long)(s * 100.0 + 0.5) / 100.0);
}

/* The OCR fields of a mainland ID card (docs/dialects.md names them). */
static const struct {
    vx_field_id id;
    const char *key;
} ocr_keys[] = {
    {VX_F_NAME, "certName"},        {VX_F_ID_NUMBER, "certNo"},  {VX_F_SEX, "sex"},
    {VX_F_ETHNICITY, "ethnicity"},  {VX_F_BIRTH, "birthDate"},   {VX_F_ADDRESS, "address"},
    {VX_F_AUTHORITY, "authority"},  {VX_F_VALID_FROM, "startDate"}, {VX_F_VALID_TO, "endDate"},
};

/* The Ext* texts: JSON encoded into a string (the SDK models type them so). */
static char *ext_text(json_t *o)
{
    if (o == NULL)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void free_text(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int render_ok(ekyc_call *c, http_request *req, const face_result *r, call_answer *out)
{
    int sub = r->subcode >= 200 && r->subcode <= 212 ? r->subcode : 204;
    const char *subcode = subcode_texts[sub - 200];
    bool face_ok = r->live && r->score >= 0 && vx_face_same(r->score);

    json_t *face = json_pack("{s:s,s:o,s:s,s:o}", "facePassed", face_ok ? "Y" : "N",
                             "faceComparisonScore", score_json(r->score), "faceAttack",
                             r->live ? "N" : "Y", "authorityComparisonScore",
                             score_json(r->registry_checked ? r->authority_score : -1));
    json_t *ocr = json_object();
    if (ocr != NULL && r->doc_supported) {
        for (size_t i = 0; i < sizeof ocr_keys / sizeof ocr_keys[0]; i++) {
            const vx_field *f = &r->card.fields[ocr_keys[i].id];
            if (f->present)
                json_object_set_new(ocr, ocr_keys[i].key, json_string(f->text));
        }
    }
    json_t *spoof_types = json_array();
    if (spoof_types != NULL && r->doc_spoof && r->doc_spoof_type != NULL)
        json_array_append_new(spoof_types, json_string(r->doc_spoof_type));
    json_t *id = json_pack("{s:s,s:o,s:{s:s,s:o},s:b}", "idPassed", r->id_passed ? "Y" : "N",
                           "ocrIdInfo", ocr != NULL ? ocr : json_null(), "spoofInfo",
                           "spoofResult", r->doc_spoof ? "Y" : "N", "spoofType",
                           spoof_types != NULL ? spoof_types : json_array(), "ocrSupported",
                           r->doc_supported);
    char *ext_face = ext_text(face);
    char *ext_id = ext_text(id);
    if (ext_face == NULL || ext_id == NULL) {
        free_text(ext_face);
        free_text(ext_id);
        return -1;
    }
    snprintf(c->transaction_id, sizeof c->transaction_id, "%s", req->id);
    json_t *root = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s}}", "RequestId", req->id,
                             "Code", "Success", "Message", "success", "Result", "Passed",
                             r->passed && sub == 200 ? "Y" : "N", "SubCode", subcode,
                             "TransactionId", c->transaction_id, "ExtIdInfo", ext_id,
                             "ExtFaceInfo", ext_face);
    free_text(ext_face);
    free_text(ext_id);
    out->body = render_json_bytes(root, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->content_type = CT_JSON;
    out->vendor_code = subcode;
    return 0;
}

static int render_call(void *ctx, http_request *req, const face_result *r, bool charged,
                       call_answer *out)
{
    (void)charged;
    ekyc_call *c = ctx;
    if (r->outcome == FACE_OK)
        return render_ok(c, req, r, out);
    const outcome_row *row = row_of(r->outcome);
    char msg[160];
    format_name(msg, sizeof msg, row->message, image_name(r->bad_image));
    json_t *o = json_pack("{s:s,s:s,s:s}", "RequestId", req->id, "Code", row->code, "Message",
                          msg);
    out->body = render_json_bytes(o, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = row->status;
    out->content_type = CT_JSON;
    out->vendor_code = row->code;
    if (r->outcome == FACE_BUSY) {
        call_retry_after_text(r->retry_after_s, c->retry);
        out->headers[out->n_headers++] = (http_header){"Retry-After", c->retry};
    }
    return 0;
}

static void refuse_call(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    ekyc_call *c = ctx;
    switch (why) {
    case CALL_QUOTA_EXHAUSTED:
        acs_error(req, 403, "Forbidden.AccountAccessDenied",
                  "The account has no eKYC units left (balance exhausted).");
        break;
    case CALL_APP_FROZEN:
    case CALL_APP_DISABLED:
        acs_error(req, 403, "Forbidden.AccountAccessDenied",
                  "The account is frozen or disabled for this service.");
        break;
    case CALL_IP_DENIED:
        acs_error(req, 403, "Forbidden.AccountAccessDenied",
                  "The account may not call from this address.");
        break;
    case CALL_RATE_LIMITED:
    case CALL_DAILY_LIMIT:
    case CALL_SUBJECT_CAP:
        call_retry_after_text(retry_after_s, c->retry);
        acs_error_with(req, 403, "Throttling.Api", "Request was denied due to api flow control.",
                       "Retry-After", c->retry);
        break;
    case CALL_UNAVAILABLE:
        acs_error_with(req, 503, "ServiceUnavailable",
                       "The call could not be recorded; nothing was charged. Retry later.",
                       "Retry-After", "1");
        break;
    case CALL_INTERNAL:
    default:
        acs_error(req, 500, "InternalError", "Internal error.");
        break;
    }
}

/* --------------------------------------------------------- the request */

/* Query and form body into c; refuse duplicates. 0, or -1 after replying. */
static int read_parameters(http_request *req, ekyc_call *c)
{
    if (req->body_len > 0) {
        const char *ct = request_header(req, "Content-Type");
        if (ct == NULL || !form_content_type_ok(ct)) {
            acs_error(req, 400, "InvalidParameter",
                      "The body must be application/x-www-form-urlencoded (UTF-8).");
            return -1;
        }
    }
    form_status st = form_add_query(&c->query, req);
    if (st == FORM_OK && req->body_len > 0)
        st = form_parse_urlencoded(&c->body, req->body, req->body_len);
    if (st != FORM_OK) {
        if (st == FORM_NOMEM)
            acs_error(req, 500, "InternalError", "Internal error.");
        else
            acs_error(req, 400, "InvalidParameter",
                      "The parameters are not validly URL-encoded.");
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        const form *f = k == 0 ? &c->query : &c->body;
        for (size_t i = 0; i < f->n; i++) {
            const char *name = f->fields[i].name;
            if (form_count(&c->query, name) + form_count(&c->body, name) > 1) {
                acs_error(req, 400, "InvalidParameter", "A parameter is given more than once.");
                return -1;
            }
        }
    }
    return 0;
}

static const char *header_of(void *hctx, const char *lower_name)
{
    return request_header(hctx, lower_name);
}

static bool ascii_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("-_.", s[i]) != NULL))
            return false;
    return true;
}

/* The signature, the window and the nonce. 0 with *app filled (tenancy
 * on), or -1 after replying. */
static int authenticate(http_request *req, tenancy *t, ekyc_call *c, tn_app *app,
                        acs_claim *claim)
{
    acs_request ar = {
        .method = req->method,
        .path = req->path,
        .query = &c->query,
        .header = header_of,
        .hctx = req,
        .body = (const unsigned char *)req->body,
        .body_len = req->body_len,
        .form_body = req->body_len > 0 ? &c->body : NULL,
    };
    switch (acs_parse(&ar, claim)) {
    case ACS_OK: break;
    case ACS_UNSUPPORTED:
        auth_failed(req, t, 400, "InvalidSignatureMethod",
                    "Specified signature method is not supported: use ACS3-HMAC-SHA256 or "
                    "HMAC-SHA1 (signature version 1.0).");
        return -1;
    case ACS_MISSING:
        auth_failed(req, t, 400, "IncompleteSignature",
                    "The request is not signed: send an ACS3-HMAC-SHA256 Authorization header "
                    "or the Signature parameter (RPC signature V1).");
        return -1;
    case ACS_MALFORMED:
    default:
        auth_failed(req, t, 400, "IncompleteSignature",
                    "The request signature does not conform to Aliyun standards.");
        return -1;
    }
    if (claim->timestamp[0] == '\0') {
        missing(req, claim->scheme == ACS_SCHEME_ACS3 ? "x-acs-date" : "Timestamp");
        return -1;
    }
    if (claim->unix_time < 0) {
        acs_error(req, 400, "InvalidTimeStamp.Format",
                  "Specified time stamp or date value is not well formatted: use "
                  "yyyy-MM-ddTHH:mm:ssZ (UTC).");
        return -1;
    }
    if (claim->nonce[0] == '\0') {
        missing(req, claim->scheme == ACS_SCHEME_ACS3 ? "x-acs-signature-nonce"
                                                      : "SignatureNonce");
        return -1;
    }
    if (t == NULL)
        return 0;
    char secret[TN_SECRET_MAX];
    memset(secret, 0, sizeof secret);
    tn_status st = TN_ERR_NOT_FOUND;
    if (strlen(claim->access_key_id) < TN_CRED_ID_MAX)
        st = tenancy_credential_secret(t, TN_CRED_ACCESSKEY, claim->access_key_id, secret, app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        OPENSSL_cleanse(secret, sizeof secret);
        auth_failed(req, t, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
        return -1;
    }
    if (st != TN_OK) {
        OPENSSL_cleanse(secret, sizeof secret);
        acs_error_with(req, 503, "ServiceUnavailable",
                       "The credentials cannot be checked right now; retry later.", "Retry-After",
                       "1");
        return -1;
    }
    acs_status vs = acs_verify(&ar, claim, secret, NULL, 0);
    OPENSSL_cleanse(secret, sizeof secret);
    if (vs == ACS_NOMEM) {
        acs_error(req, 500, "InternalError", "Internal error.");
        return -1;
    }
    if (vs == ACS_BAD_CONTENT_HASH) {
        auth_failed(req, t, 400, "SignatureDoesNotMatch",
                    "x-acs-content-sha256 is not the SHA-256 of the request body.");
        return -1;
    }
    if (vs != ACS_OK) {
        auth_failed(req, t, 400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation.");
        return -1;
    }
    long long now = (long long)time(NULL);
    if (claim->unix_time < now - WINDOW_S || claim->unix_time > now + WINDOW_S) {
        auth_failed(req, t, 400, "InvalidTimeStamp.Expired",
                    "Specified time stamp or date value is expired: it must be within 15 "
                    "minutes of the server time.");
        return -1;
    }
    char scope[sizeof claim->access_key_id + 8];
    snprintf(scope, sizeof scope, "acs:%s", claim->access_key_id);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (!tenancy_nonce_fresh(t, scope, claim->nonce, now_ms, (int64_t)WINDOW_S * 1000)) {
        auth_failed(req, t, 400, "SignatureNonceUsed",
                    "Specified signature nonce was used already.");
        return -1;
    }
    return 0;
}

/* An image parameter pair into *img. 0, or -1 after replying. */
static int read_image(http_request *req, ekyc_call *c, const char *b64_name,
                      const char *url_name, face_image_in *img)
{
    const form_field *b64 = given(c, b64_name);
    const form_field *url = given(c, url_name);
    if (b64 != NULL && url != NULL) {
        param_error(req, 401, "DataDuplication",
                    "Both %s and its Url are given: choose one of them.", b64_name);
        return -1;
    }
    if (b64 == NULL && url == NULL) {
        missing(req, b64_name);
        return -1;
    }
    if (url != NULL) {
        if (url->value_len > URL_MAX || strlen(url->value) != url->value_len ||
            !ocr_looks_like_url(url->value, url->value_len)) {
            invalid(req, url_name);
            return -1;
        }
        img->url = strdup(url->value);
        if (img->url == NULL) {
            acs_error(req, 500, "InternalError", "Internal error.");
            return -1;
        }
        return 0;
    }
    /* A '+' sent unencoded arrives as a space: put it back. */
    for (size_t i = 0; i < b64->value_len; i++)
        if (b64->value[i] == ' ')
            b64->value[i] = '+';
    bool nomem = false;
    if (!ocr_base64_decode(b64->value, b64->value_len, &img->bytes, &img->len, &nomem)) {
        if (nomem)
            acs_error(req, 500, "InternalError", "Internal error.");
        else
            invalid(req, b64_name);
        return -1;
    }
    if (img->len > IMAGE_MAX_BYTES) {
        param_error(req, 401, "ToolargeImage", "%s is larger than 1 MB.", b64_name);
        return -1;
    }
    bool jpeg = img->len >= 3 && img->bytes[0] == 0xFF && img->bytes[1] == 0xD8 &&
                img->bytes[2] == 0xFF;
    bool png = img->len >= 8 && memcmp(img->bytes, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (!jpeg && !png) {
        param_error(req, 401, "UnqualifiedPhoto", "%s must be a JPG or PNG image.", b64_name);
        return -1;
    }
    return 0;
}

static void free_images(face_call_spec *spec)
{
    for (int i = 0; i < 2; i++) {
        if (spec->images[i].bytes != NULL)
            OPENSSL_cleanse(spec->images[i].bytes, spec->images[i].len);
        free(spec->images[i].bytes);
        free(spec->images[i].url);
        spec->images[i] = (face_image_in){0};
    }
}

static bool t_or_f(const form_field *f, bool *out)
{
    if (f == NULL || f->value_len == 0) {
        *out = false;
        return true;
    }
    if (f->value_len == 1 && (f->value[0] == 'T' || f->value[0] == 'F')) {
        *out = f->value[0] == 'T';
        return true;
    }
    return false;
}

/* Known DocTypes (the seed's table). */
static const char *const doc_types[] = {"00000001", "01000000", "00000006", "00000007",
                                        "00000008", "00000009", "000000011", "000000012"};

/* Business parameters into the spec. 0, or -1 after replying. */
static int read_business(http_request *req, ekyc_call *c, face_call_spec *spec)
{
    const form_field *f = given(c, "ProductCode");
    if (f == NULL) {
        missing(req, "ProductCode");
        return -1;
    }
    if (strcmp(f->value, "eKYC_MIN") != 0) {
        invalid(req, "ProductCode");
        return -1;
    }
    if ((f = given(c, "SceneCode")) != NULL && !ascii_token(f->value, 10)) {
        invalid(req, "SceneCode");
        return -1;
    }
    if ((f = given(c, "MerchantBizId")) == NULL) {
        missing(req, "MerchantBizId");
        return -1;
    }
    bool alnum = f->value_len <= MERCHANT_BIZ_ID_MAX;
    for (size_t i = 0; alnum && i < f->value_len; i++)
        alnum = isalnum((unsigned char)f->value[i]) != 0;
    if (!alnum) {
        invalid(req, "MerchantBizId");
        return -1;
    }
    memcpy(c->biz_id, f->value, f->value_len);
    c->biz_id[f->value_len] = '\0';
    if ((f = given(c, "MerchantUserId")) == NULL) {
        missing(req, "MerchantUserId");
        return -1;
    }
    if (f->value_len > 64 || strlen(f->value) != f->value_len) {
        invalid(req, "MerchantUserId");
        return -1;
    }
    if ((f = given(c, "DocType")) == NULL) {
        missing(req, "DocType");
        return -1;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof doc_types / sizeof doc_types[0]; i++)
        known = known || strcmp(f->value, doc_types[i]) == 0;
    if (!known) {
        invalid(req, "DocType");
        return -1;
    }
    spec->doc_mainland_id = strcmp(f->value, "00000001") == 0;
    if (!t_or_f(param(c, "Crop"), &(bool){false})) {
        invalid(req, "Crop");
        return -1;
    }
    if (!t_or_f(param(c, "Authorize"), &spec->authorize)) {
        invalid(req, "Authorize");
        return -1;
    }
    if ((f = given(c, "IdThreshold")) != NULL &&
        !(f->value_len == 1 && f->value[0] >= '0' && f->value[0] <= '2')) {
        invalid(req, "IdThreshold");
        return -1;
    }
    if ((f = given(c, "DocNo")) != NULL) {
        /* A mainland number is checked as one (18 characters, check digit). */
        sm_id_info info;
        if (f->value_len > 32 || strlen(f->value) != f->value_len ||
            (spec->doc_mainland_id &&
             sm_id_parse(f->value, f->value_len, NULL, &info) != SM_ID_OK)) {
            invalid(req, "DocNo");
            return -1;
        }
        if (spec->doc_mainland_id)
            memcpy(spec->id18, info.id18, sizeof spec->id18);
        OPENSSL_cleanse(&info, sizeof info);
    }
    if ((f = given(c, "DocName")) != NULL) {
        if (f->value_len >= sizeof spec->name || strlen(f->value) != f->value_len) {
            invalid(req, "DocName");
            return -1;
        }
        memcpy(spec->name, f->value, f->value_len);
        spec->name[f->value_len] = '\0';
    }
    if (spec->authorize && !spec->doc_mainland_id) {
        acs_error(req, 400, "InvalidParameter",
                  "Authorize=T is available for the mainland resident ID card (DocType "
                  "00000001) only.");
        return -1;
    }
    if (read_image(req, c, "IdOcrPictureBase64", "IdOcrPictureUrl", &spec->images[0]) != 0 ||
        read_image(req, c, "FacePictureBase64", "FacePictureUrl", &spec->images[1]) != 0)
        return -1;
    return 0;
}

/* Admission. 0: admitted or free_only; -1: answered. */
static int admit(http_request *req, tenancy *t, const tn_app *app, ekyc_call *c)
{
    req->app_id = app->id;
    snprintf(req->app, sizeof req->app, "%s", app->name);
    double retry_s = 0;
    tn_admit a = tenancy_admit(t, app, PRODUCT, req->remote, &retry_s);
    switch (a) {
    case TN_ADMIT_OK: req->metered = true; return 0;
    case TN_ADMIT_NO_QUOTA: req->free_only = true; return 0;
    case TN_ADMIT_FROZEN: refuse_call(c, req, CALL_APP_FROZEN, 0); return -1;
    case TN_ADMIT_DISABLED: refuse_call(c, req, CALL_APP_DISABLED, 0); return -1;
    case TN_ADMIT_IP_DENIED: refuse_call(c, req, CALL_IP_DENIED, 0); return -1;
    case TN_ADMIT_RATE_LIMITED: refuse_call(c, req, CALL_RATE_LIMITED, retry_s); return -1;
    case TN_ADMIT_DAILY_LIMIT: refuse_call(c, req, CALL_DAILY_LIMIT, retry_s); return -1;
    case TN_ADMIT_UNAVAILABLE:
    default:
        acs_error_with(req, 503, "ServiceUnavailable",
                       "The service cannot admit requests right now; retry later.", "Retry-After",
                       "1");
        return -1;
    }
}

void dialect_ekyc_verify(http_request *req)
{
    req->dialect = DIALECT;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
        acs_error_with(req, 405, "UnsupportedHTTPMethod",
                       "EkycVerify is called with POST (or GET).", "Allow", "GET, POST");
        return;
    }
    if (req->body_too_large) { /* perhaps before the body has arrived: never read it */
        acs_error(req, 401, "ToolargeImage",
                  "The request body is too large: each image may be at most 1 MB.");
        return;
    }
    ekyc_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        acs_error(req, 500, "InternalError", "Internal error.");
        return;
    }
    if (read_parameters(req, c) != 0) {
        release_call(c);
        return;
    }
    tenancy *t = api_context_tenancy(req->ctx);
    double retry_s = 0;
    if (t != NULL && tenancy_auth_blocked(t, req->remote, &retry_s)) {
        call_retry_after_text(retry_s, c->retry);
        acs_error_with(req, 403, "Throttling.Api",
                       "Too many failed authentications from this address; retry later.",
                       "Retry-After", c->retry);
        release_call(c);
        return;
    }
    tn_app app;
    memset(&app, 0, sizeof app);
    acs_claim claim;
    if (authenticate(req, t, c, &app, &claim) != 0) {
        OPENSSL_cleanse(&claim, sizeof claim);
        release_call(c);
        return;
    }
    bool action_ok = strcmp(claim.action, ACTION) == 0;
    bool version_ok = strcmp(claim.version, VERSION) == 0;
    OPENSSL_cleanse(&claim, sizeof claim);
    if (!action_ok) {
        acs_error(req, 404, "InvalidAction.NotFound",
                  "Specified api is not found: this server answers EkycVerify.");
        release_call(c);
        return;
    }
    if (!version_ok) {
        acs_error(req, 400, "InvalidVersion",
                  "Specified parameter Version is not valid: EkycVerify is 2022-08-09.");
        release_call(c);
        return;
    }
    face_call_spec spec = {
        .kind = FACE_CALL_EKYC,
        .product = PRODUCT,
        .dialect = DIALECT,
        .rules = {.max_bytes = IMAGE_MAX_BYTES,
                  .jpeg_png_only = true,
                  .min_short = 480,
                  .min_long = 640,
                  .max_short = 1080,
                  .max_long = 1920},
        .render = render_call,
        .refuse = refuse_call,
        .release = release_call,
        .ctx = c,
    };
    if (read_business(req, c, &spec) != 0) {
        free_images(&spec);
        OPENSSL_cleanse(&spec, sizeof spec);
        release_call(c);
        return;
    }
    spec.idem_key = c->biz_id;
    if (t != NULL && admit(req, t, &app, c) != 0) {
        free_images(&spec);
        OPENSSL_cleanse(&spec, sizeof spec);
        release_call(c);
        return;
    }
    face_call_run(req, &spec);
    /* Not deferred: answered here, no longer in flight. A deferred call's
     * completion releases it (api/face.c). */
    if (t != NULL && !req->deferred && req->metered)
        tenancy_admit_done(t, req->app_id);
}
