/*
 * health.c — GET /healthz: liveness for load balancers and orchestrators,
 * and whether the registry answers.
 *
 * "status" is "ok" whenever the process answers (liveness); "registry" is
 * "ok" when one indexed lookup of a number nobody holds succeeds, else
 * "unavailable" (verification then answers 503 registry_unavailable).
 * Must never: do anything slower than that one lookup (bounded by the
 * registry's busy timeout), or fail the liveness answer because of the
 * registry.
 */
#include <string.h>

#include "api/routes.h"
#include "http/metrics.h"

/* Not a valid ID number (no region 000000): no person can hold it. */
static const char probe_id[18] = {'0', '0', '0', '0', '0', '0', '0', '0', '0',
                                  '0', '0', '0', '0', '0', '0', '0', '0', '0'};

static const char *registry_state(http_request *req)
{
    registry *reg = api_context_registry(req->ctx);
    if (reg == NULL)
        return "unavailable";
    reg_person person;
    memset(&person, 0, sizeof person);
    reg_status st = registry_lookup(reg, probe_id, NULL, 0, &person);
    return st == REG_OK || st == REG_NOT_FOUND ? "ok" : "unavailable";
}

void api_health(http_request *req)
{
    json_t *body = json_pack("{s:s,s:s,s:I,s:s}", "status", "ok", "version", SHIMING_VERSION,
                             "uptime_s", (json_int_t)metrics_uptime_seconds(), "registry",
                             registry_state(req));
    if (body == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_json(req, 200, body);
}
