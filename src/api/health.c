/*
 * health.c — GET /healthz: liveness for load balancers and orchestrators.
 *
 * Must never: do I/O or anything that can block or fail slowly; a health
 * check answers from memory.
 */
#include "api/routes.h"
#include "http/metrics.h"

void api_health(http_request *req)
{
    json_t *body = json_pack("{s:s,s:s,s:I}", "status", "ok", "version", SHIMING_VERSION,
                             "uptime_s", (json_int_t)metrics_uptime_seconds());
    if (body == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_json(req, 200, body);
}
