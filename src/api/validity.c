/*
 * validity.c — POST /v1/validity/check: is an ID card's validity period
 * lawful, and does it fit the holder's age at issue.
 *
 * Body: {"valid_from": "YYYYMMDD", "valid_to": "YYYYMMDD"|"00000000"|"长期",
 *        "birth": "YYYYMMDD"? | "id_number": string?, "at": "YYYY-MM-DD"?}.
 * The birth date comes from `birth` or from the parsed `id_number` (not both);
 * an ID number that does not parse is a malformed request (400
 * invalid_field). An unlawful period is a 200 answer with valid:false.
 * Must never: log or store the raw ID number (the access log gets the masked
 * form).
 */
#include <stdio.h>
#include <string.h>

#include "api/render.h"
#include "api/routes.h"

void api_validity_check(http_request *req)
{
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;

    const char *from = NULL, *to = NULL, *id = NULL;
    size_t from_len = 0, to_len = 0, id_len = 0;
    sm_date birth = {0}, at = {0};
    bool has_birth = false, has_id = false, has_at = false;

    if (request_field_string(req, body, "valid_from", true, &from, &from_len, NULL) != 0 ||
        request_field_string(req, body, "valid_to", true, &to, &to_len, NULL) != 0 ||
        request_field_date_compact(req, body, "birth", false, &birth, &has_birth) != 0 ||
        request_field_string(req, body, "id_number", false, &id, &id_len, &has_id) != 0 ||
        request_field_date_iso(req, body, "at", false, &at, &has_at) != 0)
        goto done;

    if (has_birth && has_id) {
        reply_error(req, 400, "invalid_field",
                    "field 'id_number' cannot be combined with 'birth': give one of them");
        goto done;
    }
    if (has_id) {
        sm_id_options opt;
        memset(&opt, 0, sizeof opt);
        if (has_at)
            opt.at = at;
        sm_id_info info;
        memset(&info, 0, sizeof info);
        sm_id_status st = sm_id_parse(id, id_len, &opt, &info);
        request_set_subject_id(req, id, id_len);
        if (st != SM_ID_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "field 'id_number' must be a valid ID number (%s)",
                     sm_id_status_code(st));
            explicit_bzero(&info, sizeof info);
            reply_error(req, 400, "invalid_field", msg);
            goto done;
        }
        birth = info.birth;
        has_birth = true;
        explicit_bzero(&info, sizeof info);
    }

    sm_period period;
    memset(&period, 0, sizeof period);
    sm_period_status st = sm_period_check(from, from_len, to, to_len, has_birth ? &birth : NULL,
                                          has_at ? &at : NULL, &period);
    request_set_verdict(
        req, st == SM_PERIOD_OK ? "valid" : sm_verdict_code(SM_VERDICT_INVALID_PERIOD));

    reply_result(req, render_period_result(st, &period));
done:
    json_decref(body);
}
