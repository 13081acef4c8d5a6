/*
 * routes.c — the routing table of the native API, the 404 / 405 answers,
 * and the handlers' shared context (the registry, opened late if it was
 * unavailable at start).
 *
 * Must never: match loosely (paths are exact; no trailing-slash or case
 * folding), echo the request path in an error (it may hold identity data
 * a client typed into a URL), or let more than one thread at a time try to
 * open the registry.
 */
#include "api/routes.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/accesslog.h"
#include "http/metrics.h"

static const route table[] = {
    /* method  path                   handler             name */
    {"GET",  "/healthz",            api_health,         "healthz"},
    {"GET",  "/metrics",            metrics_handle,     "metrics"},
    {"GET",  "/openapi.json",       api_openapi,        "openapi"},
    {"POST", "/v1/idcard/parse",    api_idcard_parse,   "idcard_parse"},
    {"POST", "/v1/name/check",      api_name_check,     "name_check"},
    {"POST", "/v1/validity/check",  api_validity_check, "validity_check"},
    {"POST", "/v1/verify/id2",      api_verify_id2,     "verify_id2"},
    {"POST", "/v1/verify/id4",      api_verify_id4,     "verify_id4"},
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
