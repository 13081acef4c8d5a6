/*
 * routes.c — the routing table of the native API, and the 404 / 405 answers.
 *
 * Must never: match loosely (paths are exact; no trailing-slash or case
 * folding), or echo the request path in an error (it may hold identity data
 * a client typed into a URL).
 */
#include "api/routes.h"

#include <stdio.h>
#include <string.h>

#include "http/metrics.h"

static const route table[] = {
    /* method  path                   handler             name */
    {"GET",  "/healthz",            api_health,         "healthz"},
    {"GET",  "/metrics",            metrics_handle,     "metrics"},
    {"POST", "/v1/idcard/parse",    api_idcard_parse,   "idcard_parse"},
    {"POST", "/v1/name/check",      api_name_check,     "name_check"},
    {"POST", "/v1/validity/check",  api_validity_check, "validity_check"},
};

#define N_ROUTES (sizeof table / sizeof table[0])

const route *routes_table(size_t *count)
{
    *count = N_ROUTES;
    return table;
}

static bool method_matches(const char *want, const char *got)
{
    return strcmp(want, got) == 0 || (strcmp(got, "HEAD") == 0 && strcmp(want, "GET") == 0);
}

static void reply_not_found(http_request *req)
{
    reply_error(req, 404, "not_found", "there is no endpoint at this path");
}

/* The Allow list of the request's path, e.g. "GET, HEAD". */
static void allow_list(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(table[i].path, path) != 0)
            continue;
        int n = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", table[i].method);
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
        if (strcmp(table[i].method, "GET") == 0) {
            n = snprintf(out + o, cap - o, ", HEAD");
            if (n < 0 || (size_t)n >= cap - o)
                break;
            o += (size_t)n;
        }
    }
}

static void reply_method_not_allowed(http_request *req)
{
    char allow[128];
    char msg[192];
    allow_list(req->path, allow, sizeof allow);
    snprintf(msg, sizeof msg, "this endpoint accepts only %s", allow);
    reply_error_with_header(req, 405, "method_not_allowed", msg, "Allow", allow);
}

void routes_resolve(const char *method, const char *path, http_route *out)
{
    const route *same_path = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(table[i].path, path) != 0)
            continue;
        if (method_matches(table[i].method, method)) {
            out->handler = table[i].handler;
            out->route = table[i].name;
            out->buffer_body = true;
            return;
        }
        if (same_path == NULL)
            same_path = &table[i];
    }
    if (same_path != NULL) {
        out->handler = reply_method_not_allowed;
        out->route = same_path->name;
    } else {
        out->handler = reply_not_found;
        out->route = "unmatched";
    }
    out->buffer_body = false; /* counted against max_body, not kept */
}
