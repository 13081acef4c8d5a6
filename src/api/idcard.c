/*
 * idcard.c — POST /v1/idcard/parse: is an ID number well-formed, and what
 * does it say (region, birth date, sex, age, kind).
 *
 * Body: {"id_number": string, "at": "YYYY-MM-DD"?, "strict": bool?}.
 * An ill-formed ID number is a 200 answer with valid:false; only malformed
 * requests are 4xx. Must never: log or store the raw number (the access log
 * gets the masked form), or decide anything itself: the core decides, render
 * shapes.
 */
#include <string.h>

#include "api/render.h"
#include "api/routes.h"

void api_idcard_parse(http_request *req)
{
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;

    const char *id = NULL;
    size_t id_len = 0;
    sm_id_options opt;
    memset(&opt, 0, sizeof opt);
    bool has_at = false;

    if (request_field_string(req, body, "id_number", true, &id, &id_len, NULL) != 0 ||
        request_field_date_iso(req, body, "at", false, &opt.at, &has_at) != 0 ||
        request_field_bool(req, body, "strict", false, &opt.strict, NULL) != 0) {
        json_decref(body);
        return;
    }

    sm_id_info info;
    memset(&info, 0, sizeof info);
    sm_id_status st = sm_id_parse(id, id_len, &opt, &info);

    request_set_subject_id(req, id, id_len);
    request_set_verdict(req, st == SM_ID_OK ? "valid" : sm_verdict_code(SM_VERDICT_INVALID_ID));

    json_t *result = render_id_result(id, id_len, st, &info);
    explicit_bzero(&info, sizeof info);
    json_decref(body);
    reply_result(req, result);
}
