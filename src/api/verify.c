/*
 * verify.c — POST /v1/verify/id2 and /v1/verify/id4: does this name (and
 * card) belong to this ID number, according to the registry.
 *
 * id2 body: {"name", "id_number", "at": "YYYY-MM-DD"?, "strict": bool?}
 * id4 body: the same plus "valid_from": "YYYYMMDD" and "valid_to":
 *           "YYYYMMDD" | "00000000" | "长期".
 * Answer: {"verdict", "reason", ["card", "hukou_status",] "id_info",
 * "charged", "request_id"}; 200 for every verdict except
 * registry_unavailable, which is 503 with the same body and Retry-After: 1.
 * An invalid number, name or period is a verdict (200), not a malformed
 * request; only missing or mistyped fields are 4xx.
 *
 * Metering (the guard in routes.c has authenticated and admitted the app):
 * the call runs through api/call.h — an `Idempotency-Key` header (1–128
 * printable ASCII) whose answer is stored is answered again from the store
 * (Idempotent-Replay: true) with no new charge; otherwise the answer is
 * rendered here, recorded, and sent once the record is committed.
 * "charged" says whether the call used a unit.
 *
 * Must never: decide anything (verify/ decides), log or store the raw name
 * or number (the access log gets the masked normal forms; the audit row is
 * masked and hashed by tenancy/), say more about a person than the verdict
 * allows (card facts only for the card the caller named and matched), or
 * answer a charged verdict before its record is committed.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "api/call.h"
#include "api/render.h"
#include "api/routes.h"
#include "verify/verify.h"

/* Read the body's fields into `vr` (borrowed from `body`). 0, or -1 after
 * having replied 4xx. */
static int read_request(http_request *req, json_t *body, bool id4, verify_request *vr)
{
    memset(vr, 0, sizeof *vr);
    if (request_field_string(req, body, "name", true, &vr->name, &vr->name_len, NULL) != 0 ||
        request_field_string(req, body, "id_number", true, &vr->id_number, &vr->id_len, NULL) !=
            0)
        return -1;
    if (id4 && (request_field_string(req, body, "valid_from", true, &vr->valid_from,
                                     &vr->valid_from_len, NULL) != 0 ||
                request_field_string(req, body, "valid_to", true, &vr->valid_to,
                                     &vr->valid_to_len, NULL) != 0))
        return -1;
    if (request_field_date_iso(req, body, "at", false, &vr->at, NULL) != 0 ||
        request_field_bool(req, body, "strict", false, &vr->strict, NULL) != 0)
        return -1;
    return 0;
}

/* The parse result of the (valid) ID number, as /v1/idcard/parse says it. */
static json_t *id_info_of(const verify_result *r)
{
    return r->id_status == SM_ID_OK ? render_id_info(&r->id) : json_null();
}

static json_t *reason_of(const verify_result *r)
{
    const char *code = NULL;
    switch (r->verdict) {
    case SM_VERDICT_INVALID_ID: code = sm_id_status_code(r->id_status); break;
    case SM_VERDICT_INVALID_NAME: code = sm_name_status_code(r->name_status); break;
    case SM_VERDICT_INVALID_PERIOD: code = sm_period_status_code(r->period_status); break;
    default: break;
    }
    return code != NULL ? json_string(code) : json_null();
}

static json_t *date_json(sm_date d)
{
    char buf[9];
    sm_date_format_compact(d, buf);
    return json_string(buf);
}

static json_t *render_card(const verify_result *r)
{
    if (!r->card_matched)
        return json_null();
    const reg_card *c = &r->card;
    return json_pack("{s:b,s:b,s:b,s:b,s:o,s:o}", "lost", c->lost, "newest", r->card_newest,
                     "expired", r->card_expired, "long_term", c->long_term, "valid_from",
                     date_json(c->valid_from), "valid_to",
                     c->long_term ? json_string("00000000") : date_json(c->valid_to));
}

static json_t *render_verify(const verify_result *r, bool id4)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    const char *verdict = sm_verdict_code(r->verdict);
    bool ok = json_object_set_new(o, "verdict", json_string(verdict)) == 0 &&
              json_object_set_new(o, "reason", reason_of(r)) == 0;
    if (ok && id4)
        ok = json_object_set_new(o, "card", render_card(r)) == 0 &&
             json_object_set_new(o, "hukou_status",
                                 r->found ? json_integer((json_int_t)r->hukou) : json_null()) ==
                 0;
    if (ok)
        ok = json_object_set_new(o, "id_info", id_info_of(r)) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------- the call */

#define IDEM_KEY_MAX 128

/* The Idempotency-Key header into *out (borrowed; NULL when absent).
 * 0, or -1 after having replied 400 invalid_field. */
static int idempotency_key(http_request *req, const char **out)
{
    *out = NULL;
    const char *k = request_header(req, "Idempotency-Key");
    if (k == NULL)
        return 0;
    size_t n = strlen(k);
    bool ok = n >= 1 && n <= IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] >= 0x20 && k[i] <= 0x7e;
    if (!ok) {
        reply_error(req, 400, "invalid_field",
                    "header 'Idempotency-Key' must be 1 to 128 printable ASCII characters");
        return -1;
    }
    *out = k;
    return 0;
}

typedef struct {
    json_t *body; /* the parsed request: the verify_request's strings */
    bool id4;
} native_call;

static const char *reason_code(const verify_result *r)
{
    switch (r->verdict) {
    case SM_VERDICT_INVALID_ID: return sm_id_status_code(r->id_status);
    case SM_VERDICT_INVALID_NAME: return sm_name_status_code(r->name_status);
    case SM_VERDICT_INVALID_PERIOD: return sm_period_status_code(r->period_status);
    default: return NULL;
    }
}

/* The id2 answer's bytes, as render_verify's tree would be written (the
 * same keys in the same order, the same escaping), plus "\n", without
 * building the tree: the per-call answer of the hottest route. malloc'ed
 * into *len bytes; NULL when out of memory. */
static char *id2_answer_bytes(const http_request *req, const verify_result *r, bool charged,
                              size_t *len)
{
    char stackbuf[2048];
    size_t cap = sizeof stackbuf, n = 0;
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        char *b = pass == 0 ? stackbuf : out;
        size_t o = 0;
#define PUT(s, k)                                                                               \
    do {                                                                                        \
        if (o + (k) <= cap)                                                                     \
            memcpy(b + o, (s), (k));                                                            \
        o += (k);                                                                               \
    } while (0)
#define PUTLIT(lit) PUT(lit, sizeof(lit) - 1)
#define PUTSTR(s)                                                                               \
    o += http_json_string((s), strlen(s), o < cap ? b + o : b, o < cap ? cap - o : 0)
        PUTLIT("{\"verdict\":");
        PUTSTR(sm_verdict_code(r->verdict));
        PUTLIT(",\"reason\":");
        const char *reason = reason_code(r);
        if (reason != NULL)
            PUTSTR(reason);
        else
            PUTLIT("null");
        PUTLIT(",\"id_info\":");
        if (r->id_status == SM_ID_OK)
            o += render_id_info_write(&r->id, o < cap ? b + o : b, o < cap ? cap - o : 0);
        else
            PUTLIT("null");
        if (charged)
            PUTLIT(",\"charged\":true,\"request_id\":");
        else
            PUTLIT(",\"charged\":false,\"request_id\":");
        PUTSTR(req->id);
        PUTLIT("}\n");
#undef PUTSTR
#undef PUTLIT
#undef PUT
        n = o;
        if (pass == 0) {
            out = malloc(n);
            if (out == NULL)
                break;
            if (n <= cap) {
                memcpy(out, stackbuf, n);
                break;
            }
            cap = n; /* larger than the stack: write it again, into the heap */
        }
    }
    OPENSSL_cleanse(stackbuf, n < sizeof stackbuf ? n : sizeof stackbuf);
    *len = n;
    return out;
}

static int render_native(void *ctx, http_request *req, const verify_result *r, bool charged,
                         call_answer *out)
{
    native_call *nc = ctx;
    if (!nc->id4) {
        out->body = id2_answer_bytes(req, r, charged, &out->len);
        if (out->body == NULL)
            return -1;
        goto status;
    }
    json_t *result = render_verify(r, nc->id4);
    if (result == NULL ||
        json_object_set_new(result, "charged", json_boolean(charged)) != 0 ||
        json_object_set_new(result, "request_id", json_string(req->id)) != 0) {
        json_decref(result);
        return -1;
    }
    out->body = render_json_bytes(result, &out->len);
    if (out->body == NULL)
        return -1;
status:;
    bool unavailable = r->verdict == SM_VERDICT_REGISTRY_UNAVAILABLE;
    out->status = unavailable ? 503 : 200;
    out->content_type = "application/json; charset=utf-8";
    if (unavailable) {
        out->headers[0] = (http_header){"Retry-After", "1"};
        out->n_headers = 1;
    }
    return 0;
}

static void refuse_native(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    (void)ctx;
    char retry[24];
    call_retry_after_text(retry_after_s, retry);
    switch (why) {
    case CALL_QUOTA_EXHAUSTED:
        reply_error(req, 403, "quota_exhausted", "balance exhausted: the app has no units left");
        break;
    case CALL_UNAVAILABLE:
        reply_error_with_header(req, 503, "unavailable",
                                "the call could not be recorded; nothing was charged, retry later",
                                "Retry-After", "1");
        break;
    case CALL_INTERNAL:
        reply_error(req, 500, "internal", "out of memory");
        break;
    default: /* admission was the guard's (routes.c) */
        reply_error_with_header(req, 429, call_refusal_code(why), "this call is refused for now",
                                "Retry-After", retry);
        break;
    }
}

static void release_native_owned(void *ctx)
{
    native_call *nc = ctx;
    json_decref(nc->body);
    free(nc);
}

static void handle(http_request *req, bool id4)
{
    const char *idem = NULL;
    if (idempotency_key(req, &idem) != 0)
        return;
    native_call nc = {request_json_object(req), id4};
    if (nc.body == NULL)
        return;
    call_spec spec = {
        .product = id4 ? "id4" : "id2",
        .dialect = "native",
        .id4 = id4,
        .idem_key = idem,
        .admitted = true,
        .render = render_native,
        .refuse = refuse_native,
        .release = NULL,
        .ctx = NULL,
    };
    if (read_request(req, nc.body, id4, &spec.vr) != 0) {
        json_decref(nc.body);
        return;
    }
    /* The call outlives this frame when its reply is deferred. */
    native_call *owned = malloc(sizeof *owned);
    if (owned == NULL) {
        json_decref(nc.body);
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *owned = nc;
    spec.ctx = owned;
    spec.release = release_native_owned;
    call_run(req, &spec);
}

void api_verify_id2(http_request *req)
{
    handle(req, false);
}

void api_verify_id4(http_request *req)
{
    handle(req, true);
}
