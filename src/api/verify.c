/*
 * verify.c — POST /v1/verify/id2 and /v1/verify/id4: does this name (and
 * card) belong to this ID number, according to the registry.
 *
 * id2 body: {"name", "id_number", "at": "YYYY-MM-DD"?, "strict": bool?}
 * id4 body: the same plus "valid_from": "YYYYMMDD" and "valid_to":
 *           "YYYYMMDD" | "00000000" | "长期".
 * Answer: {"verdict", "reason", ["card", "hukou_status",] "id_info",
 * "request_id"}; 200 for every verdict except registry_unavailable, which is
 * 503 with the same body and Retry-After: 1. An invalid number, name or
 * period is a verdict (200), not a malformed request; only missing or
 * mistyped fields are 4xx.
 *
 * Must never: decide anything (verify/ decides), log or store the raw name
 * or number (the access log gets the masked normal forms), or say more
 * about a person than the verdict allows (card facts only for the card the
 * caller named and matched).
 */
#include <string.h>

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

static void handle(http_request *req, bool id4)
{
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;
    verify_request vr;
    if (read_request(req, body, id4, &vr) != 0) {
        json_decref(body);
        return;
    }

    registry *reg = api_context_registry(req->ctx);
    verify_result r;
    if (id4)
        verify_id4(reg, &vr, &r);
    else
        verify_id2(reg, &vr, &r);

    /* The log shows the forms the registry compares (阿**·***, 110…002X). */
    if (r.id_status == SM_ID_OK)
        request_set_subject_id(req, r.id.id18, strlen(r.id.id18));
    else
        request_set_subject_id(req, vr.id_number, vr.id_len);
    if (r.name_status == SM_NAME_OK && r.name.len > 0)
        request_set_subject_name(req, r.name.text, r.name.len);
    else
        request_set_subject_name(req, vr.name, vr.name_len);
    request_set_verdict(req, sm_verdict_code(r.verdict));

    json_t *result = render_verify(&r, id4);
    bool unavailable = r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE;
    verify_result_clear(&r);
    json_decref(body);
    if (unavailable)
        reply_result_with(req, 503, result, "Retry-After", "1");
    else
        reply_result(req, result);
}

void api_verify_id2(http_request *req)
{
    handle(req, false);
}

void api_verify_id4(http_request *req)
{
    handle(req, true);
}
