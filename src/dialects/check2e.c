/*
 * check2e.c — dialect A (seed 000): POST /identity/idcard/check-2e, the
 * identity and validity check (docs/dialects.md).
 *
 * Request: JSON {"name", "id_card", "validity_begin", "validity_end",
 * "image_url"?, "encryption"?}, `Authorization: Bearer TOKEN` (credential
 * kind "bearer"). Answer: 200 {"result": "<code>", "description": "<text>"}
 * (codes "0" … "-7" as strings, texts as the seed lists them), or an error
 * {"error": {"code", "message"}} with 400 token_mismatched |
 * api_not_implemented, 401 invalid_token, 429 too_many_requests, 500
 * api_error. `Accept: application/x-ndjson` gets the same one-line answer
 * with that Content-Type.
 *
 * image_url (a face image): one metered call, one audit row, one charge.
 * The identity (number → name → period → registry) is decided first, on
 * the HTTP thread, exactly as without image_url; anything but a match is
 * answered by call_run as today (the face is not looked at). A match goes
 * to the face pipeline (api/face.h, FACE_CALL_VERIFY): the image fetched
 * with the SSRF guard, its largest face compared on a worker with the
 * registry portrait of id_card; score >= VX_FACE_SAME_SCORE → "0", below →
 * "-1" (both charged); no portrait on file → "-5" (the document database
 * has no portrait record of this card; free); an image that cannot be
 * fetched or decoded, or shows no face → 400 api_not_implemented naming
 * image_url (free); face models not loaded → "-6" (free).
 *
 * The choices where the seed is silent (all in docs/dialects.md):
 *   - malformed requests (method, content type, JSON, duplicate keys,
 *     missing or mistyped fields, malformed encryption) → 400
 *     api_not_implemented; what the caller holds that does not fit (an app
 *     frozen, disabled, off its IP allowlist or out of quota; a wrapped key
 *     or field this server's keys cannot open) → 400 token_mismatched;
 *   - an impossible validity period → "-1" (it matches no card), free;
 *   - registry_unavailable → "-6" when the registry is not open at all (the
 *     server started while another process held it, e.g. an import), "-4"
 *     when it is open but a query failed (locked past the busy timeout, I/O);
 *   - the app's daily limit and the per-identity caps → 200 "-7".
 *
 * Field encryption (crypto/envelope.h): "encryption": {"algorithm",
 * "ciphertext_blob", "iv", "encrypt_list", "tag_list"?}; the listed fields
 * are replaced by their plaintext before the call. The answer has no
 * sensitive field, so nothing in it is encrypted.
 *
 * Must never: decide anything (verify/ decides), log or echo a name, an ID
 * number, a token, a key or a plaintext, or free decrypted fields without
 * OPENSSL_cleanse.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/call.h"
#include "api/face.h"
#include "api/render.h"
#include "api/routes.h"
#include "crypto/envelope.h"
#include "dialects/dialects.h"

#define JSON_UTF8 "application/json; charset=utf-8"
#define NDJSON "application/x-ndjson"

/* ---------------------------------------------------------------- codes */

typedef enum {
    R_CONSISTENT = 0, /* "0" */
    R_INCONSISTENT,   /* "-1" */
    R_BAD_ID,         /* "-2" */
    R_BAD_NAME,       /* "-3" */
    R_SERVICE_ERROR,  /* "-4" */
    R_NO_RECORD,      /* "-5" */
    R_MAINTENANCE,    /* "-6" */
    R_DAILY_LIMIT,    /* "-7" */
} result_code;

/* The seed's codes and texts, verbatim. */
static const struct {
    const char *code;
    const char *description;
} RESULTS[] = {
    [R_CONSISTENT] = {"0", "Name and ID card number are consistent"},
    [R_INCONSISTENT] = {"-1", "Name and ID card number are inconsistent"},
    [R_BAD_ID] = {"-2", "Illegal ID card number (length, check digit, etc. are incorrect)"},
    [R_BAD_NAME] = {"-3", "Illegal name (length, format, etc. are incorrect)"},
    [R_SERVICE_ERROR] = {"-4", "Document database service exception"},
    [R_NO_RECORD] = {"-5", "No record of this ID card in the document database"},
    [R_MAINTENANCE] = {"-6",
                       "The authoritative comparison system is being upgraded, please try again "
                       "later"},
    [R_DAILY_LIMIT] = {"-7", "The number of authentications has exceeded the daily limit."},
};

/* verdict → result; REGISTRY_UNAVAILABLE is refined by the registry's
 * state (-4 / -6, see the top comment). The face verdicts cannot come
 * from verify_id4; they would be a service error. */
static const result_code VERDICT_RESULT[SM_VERDICT__COUNT] = {
    [SM_VERDICT_MATCH] = R_CONSISTENT,
    [SM_VERDICT_MISMATCH] = R_INCONSISTENT,
    [SM_VERDICT_NOT_FOUND] = R_NO_RECORD,
    [SM_VERDICT_INVALID_ID] = R_BAD_ID,
    [SM_VERDICT_INVALID_NAME] = R_BAD_NAME,
    [SM_VERDICT_INVALID_PERIOD] = R_INCONSISTENT,
    [SM_VERDICT_REGISTRY_UNAVAILABLE] = R_SERVICE_ERROR,
    [SM_VERDICT_INVALID_IMAGE] = R_SERVICE_ERROR,
    [SM_VERDICT_NO_FACE] = R_SERVICE_ERROR,
    [SM_VERDICT_NOT_LIVE] = R_SERVICE_ERROR,
};

/* ---------------------------------------------------------------- errors */

/* {"error":{"code","message"}} with X-Request-Id (and one extra header). */
static void reply_vendor_error(http_request *req, unsigned status, const char *code,
                               const char *message, const char *header, const char *value)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    size_t len = 0;
    char *body = o != NULL ? render_json_bytes(o, &len) : NULL;
    if (body == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"api_error\",\"message\":\"out of memory\"}}\n";
        reply_bytes(req, 500, JSON_UTF8, oom, sizeof oom - 1);
        return;
    }
    http_header h = {header, value};
    reply_bytes_headers(req, status, JSON_UTF8, body, len, &h, header != NULL ? 1 : 0);
    free(body);
}

static int bad_request(http_request *req, const char *message)
{
    reply_vendor_error(req, 400, "api_not_implemented", message, NULL, NULL);
    return -1;
}

/* "field 'FIELD' WHAT" */
static int bad_field(http_request *req, const char *field, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "field '%s' %s", field, what);
    return bad_request(req, msg);
}

static int mismatched(http_request *req, const char *message)
{
    reply_vendor_error(req, 400, "token_mismatched", message, NULL, NULL);
    return -1;
}

/* ------------------------------------------------------------- the call */

enum { F_NAME = 0, F_ID, F_BEGIN, F_END, N_FIELDS };
static const char *const FIELDS[N_FIELDS] = {"name", "id_card", "validity_begin",
                                             "validity_end"};

typedef struct {
    json_t *body;
    bool ndjson;
    char message[192];        /* an error message of the face path */
    char retry[24];           /* Retry-After of the face path */
    uint8_t *plain[N_FIELDS]; /* decrypted fields (owned) */
    size_t plain_len[N_FIELDS];
} c2e_call;

static void call_free(c2e_call *c)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (c->plain[i] != NULL) {
            OPENSSL_cleanse(c->plain[i], c->plain_len[i]);
            free(c->plain[i]);
        }
    json_decref(c->body);
    free(c);
}

static void release(void *ctx)
{
    call_free(ctx);
}

static char *result_bytes(result_code rc, size_t *len)
{
    return render_json_bytes(json_pack("{s:s,s:s}", "result", RESULTS[rc].code, "description",
                                       RESULTS[rc].description),
                             len);
}

static int render(void *ctx, http_request *req, const verify_result *r, bool charged,
                  call_answer *out)
{
    (void)charged; /* the seed's answer does not say; the codes do */
    c2e_call *c = ctx;
    result_code rc = (unsigned)r->verdict < SM_VERDICT__COUNT ? VERDICT_RESULT[r->verdict]
                                                              : R_SERVICE_ERROR;
    if (r->verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
        api_context *actx = req->ctx;
        if (actx == NULL || atomic_load(&actx->reg) == NULL)
            rc = R_MAINTENANCE;
    }
    out->body = result_bytes(rc, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->content_type = c->ndjson ? NDJSON : JSON_UTF8;
    out->vendor_code = RESULTS[rc].code;
    return 0;
}

static void refuse(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    c2e_call *c = ctx;
    char retry[24];
    call_retry_after_text(retry_after_s, retry);
    switch (why) {
    case CALL_DAILY_LIMIT:
    case CALL_SUBJECT_CAP: {
        size_t len = 0;
        char *body = result_bytes(R_DAILY_LIMIT, &len);
        if (body == NULL) {
            reply_vendor_error(req, 500, "api_error", "out of memory", NULL, NULL);
            return;
        }
        http_header h = {"Retry-After", retry};
        reply_bytes_headers(req, 200, c->ndjson ? NDJSON : JSON_UTF8, body, len, &h,
                            why == CALL_DAILY_LIMIT ? 1 : 0);
        free(body);
        return;
    }
    case CALL_RATE_LIMITED:
        reply_vendor_error(req, 429, "too_many_requests",
                           "too many requests: the app's rate limit is exceeded", "Retry-After",
                           retry);
        return;
    case CALL_APP_FROZEN:
        mismatched(req, "the token's app is frozen");
        return;
    case CALL_APP_DISABLED:
        mismatched(req, "the token's app is disabled");
        return;
    case CALL_IP_DENIED:
        mismatched(req, "the token's app may not call from this IP address");
        return;
    case CALL_QUOTA_EXHAUSTED:
        mismatched(req, "balance exhausted: the token's app has no units left for this API");
        return;
    case CALL_UNAVAILABLE:
        reply_vendor_error(req, 500, "api_error",
                           "the call could not be recorded; nothing was charged, retry later",
                           "Retry-After", "1");
        return;
    case CALL_INTERNAL:
    default:
        reply_vendor_error(req, 500, "api_error", "internal error", NULL, NULL);
        return;
    }
}

/* ----------------------------------------------------------- image_url */

/* The face call's answer (api/face.h): see the top comment. */
static int render_face(void *ctx, http_request *req, const face_result *r, bool charged,
                       call_answer *out)
{
    (void)charged;
    c2e_call *c = ctx;
    result_code rc;
    const char *err_code = NULL, *err_msg = NULL;
    unsigned err_status = 400;
    switch (r->outcome) {
    case FACE_OK:
        if (r->registry_verdict == SM_VERDICT_NOT_FOUND)
            rc = R_NO_RECORD; /* erased since the identity check */
        else if (r->registry_verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
            api_context *actx = req->ctx;
            rc = (actx == NULL || atomic_load(&actx->reg) == NULL) ? R_MAINTENANCE
                                                                   : R_SERVICE_ERROR;
        } else if (!r->registry_portrait)
            rc = R_NO_RECORD; /* no portrait record of this card */
        else
            rc = r->same_person ? R_CONSISTENT : R_INCONSISTENT;
        break;
    case FACE_UNAVAILABLE:
        rc = R_MAINTENANCE;
        break;
    case FACE_DISABLED:
        err_code = "api_not_implemented";
        err_msg = "face comparison (image_url) is disabled on this server ([vision] enabled = "
                  "false); send the request without image_url";
        break;
    case FACE_NO_FACE:
        err_code = "api_not_implemented";
        err_msg = "field 'image_url': no face found in the image";
        break;
    case FACE_IMAGE_TOO_LARGE:
    case FACE_IMAGE_RESOLUTION:
    case FACE_UNSUPPORTED_IMAGE:
    case FACE_CORRUPT_IMAGE:
    case FACE_URL_INVALID:
    case FACE_FETCH_FORBIDDEN:
    case FACE_FETCH_TIMEOUT:
    case FACE_FETCH_FAILED:
        err_code = "api_not_implemented";
        snprintf(c->message, sizeof c->message, "field 'image_url': %s%s",
                 face_outcome_message(r->outcome),
                 r->outcome == FACE_FETCH_FAILED && r->fetch_http_status > 0 ? " (HTTP " : "");
        if (r->outcome == FACE_FETCH_FAILED && r->fetch_http_status > 0) {
            size_t n = strlen(c->message);
            snprintf(c->message + n, sizeof c->message - n, "%d)", r->fetch_http_status);
        }
        err_msg = c->message;
        break;
    case FACE_BUSY:
        call_retry_after_text(r->retry_after_s, c->retry);
        err_status = 429;
        err_code = "too_many_requests";
        err_msg = "the face comparison queue is full; retry later";
        break;
    case FACE_FAILED:
    case FACE_NOMEM:
    default:
        err_status = 500;
        err_code = "api_error";
        err_msg = "internal error in the face comparison";
        break;
    }
    out->content_type = c->ndjson ? NDJSON : JSON_UTF8;
    if (err_code != NULL) {
        json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", err_code, "message", err_msg);
        out->body = o != NULL ? render_json_bytes(o, &out->len) : NULL;
        if (out->body == NULL)
            return -1;
        out->status = err_status;
        out->content_type = JSON_UTF8;
        out->vendor_code = err_code;
        if (err_status == 429) {
            out->headers[0] = (http_header){"Retry-After", c->retry};
            out->n_headers = 1;
        }
        return 0;
    }
    out->body = result_bytes(rc, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->vendor_code = RESULTS[rc].code;
    /* Only "0" and "-1" are charged codes (the seed); the face pipeline
     * charges a decided comparison only, which these are. */
    out->free = rc != R_CONSISTENT && rc != R_INCONSISTENT;
    return 0;
}

/* Admission for the image_url path (call_run admits the others itself).
 * 0: go on (req->metered or req->free_only set); -1: refused, answered. */
static int admit(http_request *req, tenancy *t, const tn_app *app, c2e_call *c)
{
    req->app_id = app->id;
    snprintf(req->app, sizeof req->app, "%s", app->name);
    double retry = 0;
    tn_admit a = tenancy_admit(t, app, "check2e", req->remote, &retry);
    call_refusal why;
    switch (a) {
    case TN_ADMIT_OK: req->metered = true; return 0;
    case TN_ADMIT_NO_QUOTA: req->free_only = true; return 0;
    case TN_ADMIT_FROZEN: why = CALL_APP_FROZEN; break;
    case TN_ADMIT_DISABLED: why = CALL_APP_DISABLED; break;
    case TN_ADMIT_IP_DENIED: why = CALL_IP_DENIED; break;
    case TN_ADMIT_RATE_LIMITED: why = CALL_RATE_LIMITED; break;
    case TN_ADMIT_DAILY_LIMIT: why = CALL_DAILY_LIMIT; break;
    case TN_ADMIT_UNAVAILABLE: default: why = CALL_UNAVAILABLE; break;
    }
    refuse(c, req, why, retry);
    return -1;
}

/* The call with image_url: see the top comment. Takes c. */
static void run_with_image(http_request *req, tenancy *t, const tn_app *app, call_spec *spec,
                           const char *url, size_t url_len)
{
    c2e_call *c = spec->ctx;
    if (t != NULL && admit(req, t, app, c) != 0) {
        call_free(c);
        return;
    }
    spec->admitted = true;
    spec->app = NULL;

    /* The identity first: well-formed, within the caps, and in the
     * registry with this name and card? */
    verify_result r;
    verify_id4(NULL, &spec->vr, &r);
    bool well_formed = r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE;
    if (well_formed && t != NULL &&
        !tenancy_subject_take(t, "check2e", r.id.id18, r.name.text, r.name.len)) {
        verify_result_clear(&r);
        refuse(c, req, CALL_SUBJECT_CAP, 0);
        call_free(c);
        goto done;
    }
    spec->subject_caps = false; /* taken (or not applicable) */
    if (well_formed && !req->free_only) {
        verify_result_clear(&r);
        verify_id4(api_context_registry(req->ctx), &spec->vr, &r);
    }
    if (!well_formed || req->free_only || r.verdict != SM_VERDICT_MATCH) {
        /* Not a match (or nothing to charge with): answered as without
         * image_url; call_run decides again, records and answers. */
        verify_result_clear(&r);
        call_run(req, spec);
        goto done;
    }

    request_set_subject_id(req, r.id.id18, strlen(r.id.id18));
    request_set_subject_name(req, r.name.text, r.name.len);
    face_call_spec fs = {
        .kind = FACE_CALL_VERIFY,
        .product = "check2e",
        .dialect = "check2e",
        .render = render_face,
        .refuse = refuse,
        .release = release,
        .ctx = c,
    };
    memcpy(fs.id18, r.id.id18, 18);
    fs.id18[18] = '\0';
    verify_result_clear(&r);
    fs.images[0].url = strndup(url, url_len);
    if (fs.images[0].url == NULL) {
        reply_vendor_error(req, 500, "api_error", "out of memory", NULL, NULL);
        call_free(c);
        goto done;
    }
    face_call_run(req, &fs);
done:
    /* Not deferred: answered here, no longer in flight for the daily
     * limit (a deferred call's completion releases it). */
    if (t != NULL && !req->deferred && req->metered)
        tenancy_admit_done(t, req->app_id);
}

/* ------------------------------------------------------------- request */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* `Authorization: Bearer TOKEN` → the app. 0, or -1 after having replied. */
static int authenticate(http_request *req, tenancy *t, tn_app *app)
{
    double retry_s = 0;
    if (tenancy_auth_blocked(t, req->remote, &retry_s)) {
        char retry[24];
        call_retry_after_text(retry_s, retry);
        reply_vendor_error(req, 429, "too_many_requests",
                           "too many failed authentications from this address; retry later",
                           "Retry-After", retry);
        return -1;
    }
    const char *auth = request_header(req, "Authorization");
    const char *tok = NULL;
    size_t len = 0;
    if (auth != NULL) {
        while (is_space(*auth))
            auth++;
        if (strncasecmp(auth, "Bearer", 6) == 0 && is_space(auth[6])) {
            tok = auth + 6;
            while (is_space(*tok))
                tok++;
            len = strlen(tok);
            while (len > 0 && is_space(tok[len - 1]))
                len--;
        }
    }
    if (tok == NULL || len == 0) {
        reply_vendor_error(req, 401, "invalid_token",
                           "missing authorization: send 'Authorization: Bearer TOKEN'",
                           "WWW-Authenticate", "Bearer");
        return -1;
    }
    tn_status st = tenancy_authenticate(t, TN_CRED_BEARER, tok, len, app);
    if (st == TN_OK)
        return 0;
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        tenancy_auth_failed(t, req->remote);
        reply_vendor_error(req, 401, "invalid_token", "the token is not valid", "WWW-Authenticate",
                           "Bearer");
        return -1;
    }
    reply_vendor_error(req, 500, "api_error", "the credential store is unavailable; retry later",
                       "Retry-After", "1");
    return -1;
}

/* Strict standard base64 (padding required, no whitespace) into a new
 * buffer. NULL when not base64 (or out of memory: *nomem). */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_len, bool *nomem)
{
    *nomem = false;
    if (n == 0 || n % 4 != 0 || n > 1 << 20)
        return NULL;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
        if (ch == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=')) {
            pad++;
            continue;
        }
        if (!ok || pad > 0)
            return NULL;
    }
    uint8_t *out = malloc(n / 4 * 3 + 1);
    if (out == NULL) {
        *nomem = true;
        return NULL;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0 || (size_t)got < pad) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)got - pad;
    return out;
}

static void wipe_free(uint8_t *p, size_t n)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static int bad_field_enc(http_request *req, const char *field, const char *what)
{
    char name[48];
    snprintf(name, sizeof name, "encryption.%s", field);
    return bad_field(req, name, what);
}

/* encryption.<field> as a base64 string, decoded. 0, or -1 after having
 * replied. */
static int enc_b64(http_request *req, json_t *enc, const char *field, uint8_t **out,
                   size_t *len)
{
    json_t *v = json_object_get(enc, field);
    if (v == NULL || json_is_null(v))
        return bad_field_enc(req, field, "is required");
    if (!json_is_string(v))
        return bad_field_enc(req, field, "must be a base64 string");
    bool nomem = false;
    *out = b64_decode(json_string_value(v), json_string_length(v), len, &nomem);
    if (*out == NULL) {
        if (nomem) {
            reply_vendor_error(req, 500, "api_error", "out of memory", NULL, NULL);
            return -1;
        }
        return bad_field_enc(req, field, "is not valid base64");
    }
    return 0;
}

static int field_index(const char *name)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (strcmp(name, FIELDS[i]) == 0)
            return i;
    return -1;
}

/* Open the encrypted fields into c->plain. 0, or -1 after having replied. */
static int decrypt_fields(http_request *req, const envelope_keys *keys, json_t *enc, c2e_call *c)
{
    if (!json_is_object(enc))
        return bad_request(req, "field 'encryption' must be an object");
    json_t *alg_v = json_object_get(enc, "algorithm");
    envelope_alg alg;
    if (alg_v == NULL || json_is_null(alg_v))
        return bad_request(req, "field 'encryption.algorithm' is required");
    if (!envelope_alg_from_name(json_string_value(alg_v), &alg))
        return bad_request(req,
                           "field 'encryption.algorithm' must be \"AES-256-CBC\" or "
                           "\"SM4-GCM\"");
    json_t *list = json_object_get(enc, "encrypt_list");
    if (list == NULL || json_is_null(list))
        return bad_request(req, "field 'encryption.encrypt_list' is required");
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if (n == 0 || n > N_FIELDS)
        return bad_request(req, "field 'encryption.encrypt_list' must be an array of 1 to 4 of "
                           "name, id_card, validity_begin, validity_end");
    int idx[N_FIELDS];
    for (size_t i = 0; i < n; i++) {
        const char *f = json_string_value(json_array_get(list, i));
        idx[i] = f != NULL ? field_index(f) : -1;
        for (size_t j = 0; idx[i] >= 0 && j < i; j++)
            if (idx[j] == idx[i])
                idx[i] = -1;
        if (idx[i] < 0)
            return bad_request(req, "field 'encryption.encrypt_list' must list distinct fields among "
                               "name, id_card, validity_begin, validity_end");
    }
    json_t *tags = json_object_get(enc, "tag_list");
    bool gcm = alg == ENVELOPE_SM4_GCM;
    if (gcm && (tags == NULL || json_is_null(tags)))
        return bad_request(req, "field 'encryption.tag_list' is required with SM4-GCM");
    if (gcm && (!json_is_array(tags) || json_array_size(tags) != n))
        return bad_request(req, "field 'encryption.tag_list' must be an array of one base64 tag "
                           "per entry of encrypt_list");
    if (!gcm && tags != NULL && !json_is_null(tags) &&
        !(json_is_array(tags) && json_array_size(tags) == 0))
        return bad_request(req, "field 'encryption.tag_list' is for SM4-GCM only");
    /* Every listed field must be there, as a string, before any work. */
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(c->body, FIELDS[idx[i]]);
        if (v == NULL || json_is_null(v))
            return bad_field(req, FIELDS[idx[i]], "is required");
        if (!json_is_string(v))
            return bad_field(req, FIELDS[idx[i]], "must be a base64 string (it is in encrypt_list)");
    }

    uint8_t *iv = NULL, *blob = NULL;
    size_t iv_len = 0, blob_len = 0;
    if (enc_b64(req, enc, "iv", &iv, &iv_len) != 0)
        return -1;
    if (iv_len != envelope_iv_len(alg)) {
        wipe_free(iv, iv_len);
        return bad_request(req, gcm ? "field 'encryption.iv' must be 12 bytes for SM4-GCM"
                               : "field 'encryption.iv' must be 16 bytes for AES-256-CBC");
    }
    if (enc_b64(req, enc, "ciphertext_blob", &blob, &blob_len) != 0) {
        wipe_free(iv, iv_len);
        return -1;
    }
    if (keys == NULL) {
        wipe_free(iv, iv_len);
        wipe_free(blob, blob_len);
        return bad_request(req, "field encryption is not available on this server");
    }
    uint8_t key[ENVELOPE_KEY_MAX];
    bool unwrapped = envelope_unwrap(keys, alg, blob, blob_len, key);
    wipe_free(blob, blob_len);
    if (!unwrapped) {
        wipe_free(iv, iv_len);
        return mismatched(req, gcm ? "encryption.ciphertext_blob cannot be opened with this "
                                     "server's SM2 key (GET /admin/v1/keys)"
                                   : "encryption.ciphertext_blob cannot be opened with this "
                                     "server's RSA key (RSA-OAEP with SHA-256; GET "
                                     "/admin/v1/keys)");
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int f = idx[i];
        json_t *v = json_object_get(c->body, FIELDS[f]);
        uint8_t *ct = NULL, *tag = NULL;
        size_t ct_len = 0, tag_len = 0;
        bool nomem = false;
        ct = b64_decode(json_string_value(v), json_string_length(v), &ct_len, &nomem);
        if (ct == NULL && !nomem) {
            rc = bad_field(req, FIELDS[f], "is not valid base64 (it is in encrypt_list)");
            break;
        }
        if (ct != NULL && gcm) {
            json_t *tv = json_array_get(tags, i);
            tag = json_is_string(tv) ? b64_decode(json_string_value(tv), json_string_length(tv),
                                                  &tag_len, &nomem)
                                     : NULL;
            if (tag == NULL && !nomem) {
                wipe_free(ct, ct_len);
                rc = bad_field(req, "encryption.tag_list", "must hold base64 tags");
                break;
            }
            if (tag != NULL && tag_len != ENVELOPE_TAG_BYTES) {
                wipe_free(ct, ct_len);
                wipe_free(tag, tag_len);
                rc = bad_field(req, "encryption.tag_list", "must hold 16-byte tags");
                break;
            }
        }
        envelope_open_status os = ENVELOPE_OPEN_NOMEM;
        if (ct != NULL && (!gcm || tag != NULL))
            os = envelope_open_field(alg, key, iv, i, ct, ct_len, tag, &c->plain[f],
                                     &c->plain_len[f]);
        wipe_free(ct, ct_len);
        wipe_free(tag, tag_len);
        if (os == ENVELOPE_OPEN_NOMEM) {
            reply_vendor_error(req, 500, "api_error", "out of memory", NULL, NULL);
            rc = -1;
        } else if (os == ENVELOPE_OPEN_BAD) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "field '%s' cannot be decrypted: wrong key or iv, or a tampered %s",
                     FIELDS[f], gcm ? "ciphertext or tag" : "ciphertext (bad padding)");
            rc = mismatched(req, msg);
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    wipe_free(iv, iv_len);
    return rc;
}

/* The four fields into vr (borrowed from c). 0, or -1 after having replied. */
static int read_fields(http_request *req, c2e_call *c, verify_request *vr)
{
    const char *s[N_FIELDS];
    size_t len[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) {
        if (c->plain[i] != NULL) {
            s[i] = (const char *)c->plain[i];
            len[i] = c->plain_len[i];
            continue;
        }
        json_t *v = json_object_get(c->body, FIELDS[i]);
        if (v == NULL || json_is_null(v))
            return bad_field(req, FIELDS[i], "is required");
        if (!json_is_string(v))
            return bad_field(req, FIELDS[i], "must be a string");
        s[i] = json_string_value(v);
        len[i] = json_string_length(v);
    }
    memset(vr, 0, sizeof *vr);
    vr->name = s[F_NAME];
    vr->name_len = len[F_NAME];
    vr->id_number = s[F_ID];
    vr->id_len = len[F_ID];
    vr->valid_from = s[F_BEGIN];
    vr->valid_from_len = len[F_BEGIN];
    vr->valid_to = s[F_END];
    vr->valid_to_len = len[F_END];
    return 0;
}

/* Accept: application/x-ndjson (and not application/json) → ndjson. */
static bool wants_ndjson(http_request *req)
{
    const char *a = request_header(req, "Accept");
    return a != NULL && strcasestr(a, "application/x-ndjson") != NULL &&
           strcasestr(a, "application/json") == NULL;
}

void dialect_check2e(http_request *req)
{
    if (req->body_too_large) { /* perhaps before the body has arrived: never read it */
        char msg[96];
        snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", req->max_body);
        reply_vendor_error(req, 400, "api_not_implemented", msg, NULL, NULL);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        reply_vendor_error(req, 400, "api_not_implemented",
                           "this API is called with POST and a JSON body", "Allow", "POST");
        return;
    }
    api_context *actx = req->ctx;
    tenancy *t = api_context_tenancy(actx);
    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL && authenticate(req, t, &app) != 0)
        return;
    if (!http_media_type_is(request_header(req, "Content-Type"), "application/json", NULL)) {
        bad_request(req, "the request body must be JSON (Content-Type: application/json)");
        return;
    }
    c2e_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        reply_vendor_error(req, 500, "api_error", "out of memory", NULL, NULL);
        return;
    }
    c->ndjson = wants_ndjson(req);
    json_error_t jerr;
    c->body = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                         JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (c->body == NULL || !json_is_object(c->body)) {
        char msg[JSON_ERROR_TEXT_LENGTH + 64];
        if (c->body == NULL)
            snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        else
            snprintf(msg, sizeof msg, "the request body must be a JSON object");
        reply_vendor_error(req, 400, "api_not_implemented", msg, NULL, NULL);
        call_free(c);
        return;
    }
    json_t *image = json_object_get(c->body, "image_url");
    if (image != NULL && !json_is_null(image) && !json_is_string(image)) {
        bad_request(req, "field 'image_url' must be a string");
        call_free(c);
        return;
    }
    bool with_image = image != NULL && json_is_string(image) && json_string_length(image) > 0;
    json_t *enc = json_object_get(c->body, "encryption");
    if (enc != NULL && !json_is_null(enc) &&
        decrypt_fields(req, actx != NULL ? actx->envelope : NULL, enc, c) != 0) {
        call_free(c);
        return;
    }
    call_spec spec = {
        .product = "check2e",
        .dialect = "check2e",
        .id4 = true,
        .subject_caps = true,
        .admitted = false,
        .app = t != NULL ? &app : NULL,
        .render = render,
        .refuse = refuse,
        .release = release,
        .ctx = c,
    };
    if (read_fields(req, c, &spec.vr) != 0) {
        call_free(c);
        return;
    }
    if (with_image)
        run_with_image(req, t, &app, &spec, json_string_value(image), json_string_length(image));
    else
        call_run(req, &spec);
    OPENSSL_cleanse(&app, sizeof app);
}
