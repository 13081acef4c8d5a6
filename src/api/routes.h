/*
 * routes.h — the native API's routing table and its handlers.
 *
 * The table (routes.c) is the single place that maps (method, path) to a
 * handler and a route name; adding an endpoint is one table line plus its
 * handler. Unknown paths get 404 not_found; a known path with another method
 * gets 405 method_not_allowed with an Allow header. HEAD is served by a GET
 * route (libmicrohttpd drops the body).
 *
 * Thread-safety: the table is constant; routes_resolve and every handler may
 * run on many threads at once. Must never: allocate or fail in
 * routes_resolve, or let a handler reply with anything but the stable error
 * codes of request.h's helpers (missing_field, invalid_field, bad_json, …).
 */
#ifndef SHIMING_API_ROUTES_H
#define SHIMING_API_ROUTES_H

#include <stddef.h>

#include "http/request.h"
#include "http/server.h"

typedef struct {
    const char *method; /* "GET", "POST", … */
    const char *path;   /* exact path */
    http_handler handler;
    const char *name;   /* route label for logs and metrics, snake_case */
} route;

/* The resolver for http_server_start(). */
void routes_resolve(const char *method, const char *path, http_route *out);

/* The table, for listing (e.g. pre-registering metric labels). */
const route *routes_table(size_t *count);

/* Handlers (one file each under src/api/, except metrics in src/http/). */
void api_health(http_request *req);          /* GET  /healthz */
void api_idcard_parse(http_request *req);    /* POST /v1/idcard/parse */
void api_name_check(http_request *req);      /* POST /v1/name/check */
void api_validity_check(http_request *req);  /* POST /v1/validity/check */

#endif
