/*
 * routes.h — the native API's routing table, its handlers, the guard that
 * puts /v1 behind tenancy, and the context they share (the registry, the
 * tenancy store).
 *
 * The table (routes.c) is the single place that maps (method, path) to a
 * handler and a route name; adding an endpoint is one table line plus its
 * handler (and its description in src/api/openapi.json: tests/unit/
 * test_openapi.c fails when the two differ). Unknown paths get 404
 * not_found; a known path with another method gets 405 method_not_allowed
 * with an Allow header. HEAD is served by a GET route (libmicrohttpd drops
 * the body).
 *
 * Thread-safety: the table is constant; routes_resolve and every handler may
 * run on many threads at once. The api_context is set up once by `serve`
 * before the server starts and torn down after it has stopped; in between
 * its only mutable part is the registry pointer, published once (atomically)
 * when a registry that was unavailable at start could be opened.
 *
 * Must never: allocate or fail in routes_resolve, or let a handler reply
 * with anything but the stable error codes of request.h's helpers
 * (missing_field, invalid_field, bad_json, …).
 */
#ifndef SHIMING_API_ROUTES_H
#define SHIMING_API_ROUTES_H

#include <stdatomic.h>
#include <stddef.h>

#include "api/admin.h"
#include "config/config.h"
#include "crypto/server_key.h"
#include "http/request.h"
#include "http/server.h"
#include "net/fetch.h"
#include "registry/registry.h"
#include "tenancy/tenancy.h"
#include "vision/jobs.h"
#include "vision/face.h"
#include "vision/ocr.h"

/* Who may call a route. */
typedef enum {
    ROUTE_PUBLIC = 0,   /* anyone: health, metrics, the API description */
    ROUTE_APP,          /* an app's native key (tenancy): authenticated and admitted */
    ROUTE_DIALECT,      /* a vendor dialect: the handler authenticates with the vendor's
                           scheme and admits through api/call.h (dialects/dialects.h) */
} route_access;

typedef struct {
    const char *method; /* "GET", "POST", …; "*" = every method (the handler
                           answers wrong ones itself, in its own format) */
    const char *path;   /* exact path; a "{param}" segment matches any one
                           non-empty segment (/admin/v1/apps/{name}) */
    http_handler handler;
    const char *name;   /* route label for logs and metrics, snake_case */
    route_access access;
    const char *product; /* ROUTE_APP: the metered product ("id2"), NULL = unmetered */
    const char *dialect; /* ROUTE_DIALECT: the dialect's name for logs and audit rows
                            ("check2e"); NULL = "native" */
    bool images;         /* takes image uploads: its body limit is [vision] max_upload
                            rather than [server] max_body */
} route;

/*
 * Every ROUTE_APP route runs behind one guard (routes.c), before its
 * handler: the failed-authentication limiter (429 too_many_requests), the
 * native key (`Authorization: Bearer KEY` or `X-Api-Key: KEY`; 401
 * unauthorized), then tenancy_admit for the route's product (403
 * app_frozen / app_disabled / ip_not_allowed, 429 rate_limited /
 * daily_limit_exceeded with Retry-After, 403 quota_exhausted, 503
 * unavailable). A metered route whose app has no quota left still reaches
 * its handler with req->free_only set: an answer that is not charged
 * (invalid input) is still given. The guard sets req->app / req->app_id.
 * With tenancy off (api_context_tenancy() NULL) every route is open.
 */

/* The resolver for http_server_start(). */
void routes_resolve(const char *method, const char *path, http_route *out);

/* The table (constant, static storage), for listing: metric labels, the
 * OpenAPI consistency test. */
const route *routes_table(size_t *count);

/* Dialect E's path is the operator's ([dialect_e] path, default
 * /pyi/76/194): its table entry reads it from here. Set it once, before
 * the server starts (not thread-safe with routing). false, the path kept,
 * when it is not an absolute path of at most CONFIG_URLPATH_MAX - 1 bytes
 * or when another route already answers at it (err says which). */
bool routes_set_dialect_e_path(const char *path, char *err, size_t errlen);

/* The body limit of the routes that take images ([vision] max_upload), set
 * once by `serve` before the server starts; 0 = the server's max_body. */
void routes_set_upload_limit(size_t max_body);

/* ------------------------------------------------------------ context */

/*
 * What handlers share, reached through req->ctx (http_server_start's `ctx`).
 * Owned by `serve`: api_context_init before the server starts,
 * api_context_destroy after it has stopped.
 *
 * The registry is normally opened at start and handed over. When it could
 * not be opened at start only because it was unavailable (locked, busy),
 * `serve` hands over the options instead, and the first request that needs
 * the registry opens it (one thread at a time, at most every 250 ms; the
 * others answer registry_unavailable meanwhile).
 */
typedef struct {
    _Atomic(registry *) reg;        /* NULL until open */
    bool can_reopen;                /* reopen_opt/key are set */
    reg_options reopen_opt;         /* path points to db below */
    char db[CONFIG_PATH_MAX];
    sm_key key;                     /* kept only for a later open; zeroed at destroy */
    atomic_flag opening;            /* one open attempt at a time */
    _Atomic long long next_try_ns;  /* CLOCK_MONOTONIC: no attempt before this */
    tenancy *tenancy;               /* borrowed (serve owns it); NULL = tenancy off */
    api_admin *admin;               /* the admin API's token (api/admin.h); borrowed, set by
                                       serve before start; NULL = /admin/v1 answers 404 */
    struct envelope_keys *envelope; /* dialect A's field-encryption key pairs
                                       (crypto/envelope.h); borrowed, set by serve;
                                       NULL = encrypted requests are refused */
    /* ID-card OCR (api/ocr.h), set by serve before start; zero = disabled. */
    bool ocr_enabled;               /* [vision] enabled */
    vx_ocr *ocr;                    /* borrowed; NULL = the models could not be loaded */
    vx_face *face;                  /* faces (api/face.h); borrowed; NULL = not loaded */
    vx_jobs *jobs;                  /* borrowed: the inference worker pool */
    unsigned ocr_workers;           /* its size, for Retry-After estimates */
    fetch_options fetch;            /* image URLs; fetch.allow_cidrs points at fetch_allow */
    char fetch_allow[CONFIG_PATH_MAX];
} api_context;

/* `reg` (may be NULL) becomes the context's; when it is NULL and `opt` is
 * given (with opt->key), later requests try registry_open(opt) themselves
 * (the options, path and key are copied). */
void api_context_init(api_context *ctx, registry *reg, const reg_options *opt);

/* The registry, or NULL when it is (still) unavailable. Thread-safe; may
 * take up to the registry's busy timeout when it tries to open it. */
registry *api_context_registry(api_context *ctx);

/* Hand the context the tenancy store (borrowed: `serve` opens it before
 * the server starts and closes it after api_context_destroy). NULL, the
 * default, means tenancy is off: /v1 is open and unmetered. */
void api_context_set_tenancy(api_context *ctx, tenancy *t);

/* The tenancy store of a context (req->ctx), or NULL when tenancy is off.
 * Thread-safe (set once before the server starts). */
tenancy *api_context_tenancy(const void *ctx);

/* Close the registry (if open) and zero the key. No request may be running. */
void api_context_destroy(api_context *ctx);

/* ------------------------------------------------------------ handlers */

/* One file each under src/api/, except metrics in src/http/. */
void api_health(http_request *req);          /* GET  /healthz */
void api_openapi(http_request *req);         /* GET  /openapi.json */
void api_idcard_parse(http_request *req);    /* POST /v1/idcard/parse */
void api_name_check(http_request *req);      /* POST /v1/name/check */
void api_validity_check(http_request *req);  /* POST /v1/validity/check */
void api_verify_id2(http_request *req);      /* POST /v1/verify/id2 */
void api_verify_id4(http_request *req);      /* POST /v1/verify/id4 */
void api_ocr_idcard(http_request *req);      /* POST /v1/ocr/idcard (api/ocr.h) */
void api_face_compare(http_request *req);    /* POST /v1/face/compare (api/face.h) */
void api_face_verify(http_request *req);     /* POST /v1/face/verify */
void api_ekyc(http_request *req);            /* POST /v1/ekyc */

/* The OpenAPI 3.0.3 description of this API (src/api/openapi.json), embedded
 * at build time by tools/embed.py: UTF-8 JSON, NUL-terminated, `_len` bytes
 * without the NUL. */
extern const char sm_openapi_json[];
extern const size_t sm_openapi_json_len;

#endif
