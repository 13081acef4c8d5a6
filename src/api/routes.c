/*
 * routes.c — the routing table of the native API, the 404 / 405 answers,
 * the guard that authenticates and admits every /v1 call (tenancy), and the
 * handlers' shared context (the registry, opened late if it was unavailable
 * at start; the tenancy store).
 *
 * Must never: match loosely (paths are exact — a "{param}" segment of the
 * table matches exactly one non-empty segment — no trailing-slash or case
 * folding), echo the request path in an error (it may hold identity data
 * a client typed into a URL), let more than one thread at a time try to
 * open the registry, run a /v1 handler for a caller the guard refused, or
 * put a presented key in an answer or a log line.
 */
#include "api/routes.h"

#include "api/call.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dialects/dialects.h"
#include "http/accesslog.h"
#include "http/metrics.h"

/* The body limit of the routes that take images (routes_set_upload_limit);
 * 0 = the server's own. */
static size_t upload_max_body;

void routes_set_upload_limit(size_t max_body)
{
    upload_max_body = max_body;
}

/* Dialect E's configurable path (routes_set_dialect_e_path). */
static char dialect_e_path[CONFIG_URLPATH_MAX] = "/pyi/76/194";

static const route table[] = {
    /* method  path                   handler             name              access      product  dialect  images */
    {"GET",  "/healthz",            api_health,         "healthz",        ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",  "/metrics",            metrics_handle,     "metrics",        ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",  "/openapi.json",       api_openapi,        "openapi",        ROUTE_PUBLIC, NULL, NULL, false},
    {"POST", "/v1/idcard/parse",    api_idcard_parse,   "idcard_parse",   ROUTE_APP,    NULL, NULL, false},
    {"POST", "/v1/name/check",      api_name_check,     "name_check",     ROUTE_APP,    NULL, NULL, false},
    {"POST", "/v1/validity/check",  api_validity_check, "validity_check", ROUTE_APP,    NULL, NULL, false},
    {"POST", "/v1/verify/id2",      api_verify_id2,     "verify_id2",     ROUTE_APP,    "id2", NULL, false},
    {"POST", "/v1/verify/id4",      api_verify_id4,     "verify_id4",     ROUTE_APP,    "id4", NULL, false},
    {"POST", "/v1/ocr/idcard",      api_ocr_idcard,     "ocr_idcard",     ROUTE_APP,    "ocr_idcard", NULL, true},
    {"POST", "/v1/face/compare",    api_face_compare,   "face_compare",   ROUTE_APP,    "face_compare", NULL, true},
    {"POST", "/v1/face/verify",     api_face_verify,    "face_verify",    ROUTE_APP,    "face_verify", NULL, true},
    {"POST", "/v1/ekyc",            api_ekyc,           "ekyc",           ROUTE_APP,    "ekyc", NULL, true},
    /* Vendor dialects (dialects/dialects.h): every method reaches the
     * handler, which answers in the vendor's format. */
    {"*", "/identity/idcard/check-2e",          dialect_check2e,           "check2e",           ROUTE_DIALECT, "check2e", "check2e", false},
    {"*", "/",                                  dialect_root,              "tc3",               ROUTE_DIALECT, NULL, "tc3", true},
    {"*", "/idenAuthentication",                dialect_iden_auth,         "iden_auth",         ROUTE_DIALECT, "iden_auth", "iden_auth", false},
    {"*", "/idcard/idcardstatus/Submit.json",   dialect_idcardstatus_json, "idcardstatus_json", ROUTE_DIALECT, "idcardstatus", "idcardstatus", false},
    {"*", "/idcard/idcardstatus/Submit.xml",    dialect_idcardstatus_xml,  "idcardstatus_xml",  ROUTE_DIALECT, "idcardstatus", "idcardstatus", false},
    /* E: the path is the operator's ([dialect_e] path). */
    {"*", dialect_e_path,                       dialect_pyi_ocr,           "pyi_ocr",           ROUTE_DIALECT, "pyi_ocr", "pyi_ocr", true},
    /* The admin API checks its own token (api/admin.c), not an app's key. */
    {"GET",   "/admin/v1/apps",                    api_admin_apps_list,    "admin_apps_list",   ROUTE_PUBLIC, NULL, NULL, false},
    {"POST",  "/admin/v1/apps",                    api_admin_app_create,   "admin_app_create",  ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",   "/admin/v1/apps/{name}",             api_admin_app_get,      "admin_app_get",     ROUTE_PUBLIC, NULL, NULL, false},
    {"PATCH", "/admin/v1/apps/{name}",             api_admin_app_update,   "admin_app_update",  ROUTE_PUBLIC, NULL, NULL, false},
    {"POST",  "/admin/v1/apps/{name}/credentials", api_admin_cred_add,     "admin_cred_add",    ROUTE_PUBLIC, NULL, NULL, false},
    {"POST",  "/admin/v1/apps/{name}/packages",    api_admin_package_add,  "admin_package_add", ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",   "/admin/v1/apps/{name}/usage",       api_admin_usage,        "admin_usage",       ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",   "/admin/v1/audit",                   api_admin_audit_list,   "admin_audit_list",  ROUTE_PUBLIC, NULL, NULL, false},
    {"POST",  "/admin/v1/audit/verify",            api_admin_audit_verify, "admin_audit_verify", ROUTE_PUBLIC, NULL, NULL, false},
    {"GET",   "/admin/v1/keys",                    api_admin_keys,         "admin_keys",        ROUTE_PUBLIC, NULL, NULL, false},
};

#define N_ROUTES (sizeof table / sizeof table[0])

const route *routes_table(size_t *count)
{
    *count = N_ROUTES;
    return table;
}

static bool path_matches(const char *pattern, const char *path);

bool routes_set_dialect_e_path(const char *path, char *err, size_t errlen)
{
    size_t len = path != NULL ? strlen(path) : 0;
    if (len < 2 || len >= sizeof dialect_e_path || path[0] != '/' ||
        strchr(path, '{') != NULL) {
        snprintf(err, errlen, "[dialect_e] path must be an absolute path such as /pyi/76/194");
        return false;
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (table[i].path == dialect_e_path)
            continue;
        if (path_matches(table[i].path, path)) {
            snprintf(err, errlen, "[dialect_e] path %s is already the route %s", path,
                     table[i].name);
            return false;
        }
    }
    memcpy(dialect_e_path, path, len + 1);
    return true;
}

/* `pattern` is a table path: literal bytes, except that a "{param}"
 * segment matches one non-empty path segment (no '/'). */
static bool path_matches(const char *pattern, const char *path)
{
    while (*pattern != '\0') {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            if (close == NULL || *path == '\0' || *path == '/')
                return false;
            pattern = close + 1;
            path += strcspn(path, "/");
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *path == '\0';
}

static bool method_matches(const char *want, const char *got)
{
    return strcmp(want, "*") == 0 || strcmp(want, got) == 0 || (strcmp(got, "HEAD") == 0 && strcmp(want, "GET") == 0);
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
        if (!path_matches(table[i].path, path))
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

/* ------------------------------------------------------------------ guard */

/* The table entry the router chose for `req` (req->route is its name). */
static const route *route_of(const http_request *req)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (table[i].name == req->route)
            return &table[i];
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The native key the request presents: `Authorization: Bearer KEY` (scheme
 * case-insensitive), else `X-Api-Key: KEY`. Borrowed; NULL when neither. */
static const char *presented_key(const http_request *req, size_t *len)
{
    const char *key = NULL;
    const char *auth = request_header(req, "Authorization");
    if (auth != NULL) {
        while (is_space(*auth))
            auth++;
        if (strncasecmp(auth, "Bearer", 6) == 0 && is_space(auth[6])) {
            key = auth + 6;
            while (is_space(*key))
                key++;
        }
    }
    if (key == NULL || *key == '\0')
        key = request_header(req, "X-Api-Key");
    if (key == NULL)
        return NULL;
    size_t n = strlen(key);
    while (n > 0 && is_space(key[n - 1]))
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return key;
}

static void reply_unauthorized(http_request *req, tenancy *t, const char *message)
{
    tenancy_auth_failed(t, req->remote);
    reply_error_with_header(req, 401, "unauthorized", message, "WWW-Authenticate",
                            "Bearer realm=\"shiming\"");
}

/* Authenticate and admit `req` for route `r`. 0: go on to the handler;
 * -1: already answered. */
static int authorise(http_request *req, tenancy *t, const route *r)
{
    char retry[24];
    double retry_s = 0;
    if (tenancy_auth_blocked(t, req->remote, &retry_s)) {
        call_retry_after_text(retry_s, retry);
        reply_error_with_header(req, 429, "too_many_requests",
                                "too many failed authentications from this address; retry later",
                                "Retry-After", retry);
        return -1;
    }

    size_t key_len = 0;
    const char *key = presented_key(req, &key_len);
    if (key == NULL) {
        reply_unauthorized(req, t,
                           "this endpoint needs an API key: send 'Authorization: Bearer KEY' "
                           "or 'X-Api-Key: KEY'");
        return -1;
    }
    tn_app app;
    memset(&app, 0, sizeof app);
    tn_status st = tenancy_authenticate(t, TN_CRED_NATIVE, key, key_len, &app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        reply_unauthorized(req, t, "the API key is not valid");
        return -1;
    }
    if (st != TN_OK) {
        reply_error_with_header(req, 503, "unavailable",
                                "the server cannot check credentials right now; retry later",
                                "Retry-After", "1");
        return -1;
    }
    req->app_id = app.id;
    snprintf(req->app, sizeof req->app, "%s", app.name);

    retry_s = 0;
    tn_admit a = tenancy_admit(t, &app, r->product, req->remote, &retry_s);
    switch (a) {
    case TN_ADMIT_OK:
        req->metered = r->product != NULL;
        return 0;
    case TN_ADMIT_NO_QUOTA:
        if (r->product != NULL) {
            req->free_only = true; /* the handler answers only what is free */
            return 0;
        }
        reply_error(req, 403, "quota_exhausted", "balance exhausted: the app has no units left");
        return -1;
    case TN_ADMIT_FROZEN:
        reply_error(req, 403, "app_frozen", "this app is frozen");
        return -1;
    case TN_ADMIT_DISABLED:
        reply_error(req, 403, "app_disabled", "this app is disabled");
        return -1;
    case TN_ADMIT_IP_DENIED:
        reply_error(req, 403, "ip_not_allowed", "this app may not call from this address");
        return -1;
    case TN_ADMIT_RATE_LIMITED:
        call_retry_after_text(retry_s, retry);
        reply_error_with_header(req, 429, "rate_limited",
                                "too many requests for this app; slow down", "Retry-After", retry);
        return -1;
    case TN_ADMIT_DAILY_LIMIT:
        call_retry_after_text(retry_s, retry);
        reply_error_with_header(req, 429, "daily_limit_exceeded",
                                "this app has reached its daily limit", "Retry-After", retry);
        return -1;
    case TN_ADMIT_UNAVAILABLE:
    default:
        reply_error_with_header(req, 503, "unavailable",
                                "the server cannot admit requests right now; retry later",
                                "Retry-After", "1");
        return -1;
    }
}

/* The handler of every ROUTE_APP route: the guard, then the route's own. */
static void guarded(http_request *req)
{
    const route *r = route_of(req);
    if (r == NULL) {
        reply_error(req, 500, "internal", "the server could not route this request");
        return;
    }
    tenancy *t = api_context_tenancy(req->ctx);
    if (t != NULL && authorise(req, t, r) != 0)
        return;
    r->handler(req);
    /* Recorded (the daily count in the store now holds it) or abandoned:
     * either way no longer in flight. A deferred reply is not there yet:
     * its completion calls tenancy_admit_done (and req is not ours to read
     * past `deferred`, which only this thread writes). */
    if (req->metered && !req->deferred)
        tenancy_admit_done(t, req->app_id);
}

/* ---------------------------------------------------------------- routing */

void routes_resolve(const char *method, const char *path, http_route *out)
{
    const route *same_path = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!path_matches(table[i].path, path))
            continue;
        if (method_matches(table[i].method, method)) {
            out->handler = table[i].access == ROUTE_APP ? guarded : table[i].handler;
            out->route = table[i].name;
            out->buffer_body = true;
            out->own_errors = table[i].access == ROUTE_DIALECT;
            out->dialect = table[i].dialect;
            out->max_body = table[i].images ? upload_max_body : 0;
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

/* ---------------------------------------------------------------- context */

#define REOPEN_INTERVAL_NS 250000000LL

static long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void api_context_init(api_context *ctx, registry *reg, const reg_options *opt)
{
    memset(ctx, 0, sizeof *ctx);
    atomic_init(&ctx->reg, reg);
    atomic_flag_clear(&ctx->opening);
    atomic_init(&ctx->next_try_ns, 0);
    if (reg == NULL && opt != NULL && opt->key != NULL && opt->path != NULL) {
        ctx->reopen_opt = *opt;
        snprintf(ctx->db, sizeof ctx->db, "%s", opt->path);
        ctx->key = *opt->key;
        ctx->reopen_opt.path = ctx->db;
        ctx->reopen_opt.key = &ctx->key;
        ctx->can_reopen = true;
    }
}

registry *api_context_registry(api_context *ctx)
{
    if (ctx == NULL)
        return NULL;
    registry *reg = atomic_load_explicit(&ctx->reg, memory_order_acquire);
    if (reg != NULL || !ctx->can_reopen)
        return reg;
    if (monotonic_ns() < atomic_load_explicit(&ctx->next_try_ns, memory_order_relaxed))
        return NULL;
    if (atomic_flag_test_and_set_explicit(&ctx->opening, memory_order_acquire))
        return NULL; /* another thread is trying right now */
    reg = atomic_load_explicit(&ctx->reg, memory_order_acquire);
    if (reg == NULL) {
        char err[512] = "";
        registry *opened = NULL;
        reg_status st = registry_open(&ctx->reopen_opt, &opened, err, sizeof err);
        if (st == REG_OK && opened != NULL) {
            atomic_store_explicit(&ctx->reg, opened, memory_order_release);
            reg = opened;
            accesslog_event(json_pack("{s:s,s:s,s:b}", "event", "registry_opened", "db",
                                      ctx->db, "late", true));
        } else {
            atomic_store_explicit(&ctx->next_try_ns, monotonic_ns() + REOPEN_INTERVAL_NS,
                                  memory_order_relaxed);
        }
    }
    atomic_flag_clear_explicit(&ctx->opening, memory_order_release);
    return reg;
}

void api_context_set_tenancy(api_context *ctx, tenancy *t)
{
    ctx->tenancy = t;
}

tenancy *api_context_tenancy(const void *ctx)
{
    return ctx != NULL ? ((const api_context *)ctx)->tenancy : NULL;
}

void api_context_destroy(api_context *ctx)
{
    if (ctx == NULL)
        return;
    registry *reg = atomic_exchange(&ctx->reg, NULL);
    if (reg != NULL)
        registry_close(reg);
    sm_key_clear(&ctx->key);
    OPENSSL_cleanse(&ctx->reopen_opt, sizeof ctx->reopen_opt);
    ctx->can_reopen = false;
}
