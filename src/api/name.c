/*
 * name.c — POST /v1/name/check: is a personal name acceptable, and its
 * normal form.
 *
 * Body: {"name": string}. An unacceptable name is a 200 answer with
 * valid:false; only malformed requests are 4xx. Must never: log or store the
 * raw name (the access log gets the masked form).
 */
#include <string.h>

#include "api/render.h"
#include "api/routes.h"

void api_name_check(http_request *req)
{
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;

    const char *name = NULL;
    size_t len = 0;
    if (request_field_string(req, body, "name", true, &name, &len, NULL) != 0) {
        json_decref(body);
        return;
    }

    sm_name normal;
    memset(&normal, 0, sizeof normal);
    sm_name_status st = sm_name_normalise(name, len, &normal);

    /* Mask the normal form when there is one, so that the log shows the
     * name as the registry would hold it (阿**·***, not 阿****** for 阿卜杜•热合曼). */
    if (st == SM_NAME_OK)
        request_set_subject_name(req, normal.text, normal.len);
    else
        request_set_subject_name(req, name, len);
    request_set_verdict(req,
                        st == SM_NAME_OK ? "valid" : sm_verdict_code(SM_VERDICT_INVALID_NAME));

    json_t *result = render_name_result(name, len, st, &normal);
    explicit_bzero(&normal, sizeof normal);
    json_decref(body);
    reply_result(req, result);
}
