/*
 * admin.c — the admin API under /admin/v1/ (apps, credentials, packages,
 * usage, the audit log) and its guard: one operator token, compared in
 * constant time, failures counted per client address by tenancy.
 *
 * Every handler checks the token first, then translates JSON to the
 * tenancy calls of tenancy.h and back; the decisions (what a valid CIDR or
 * URL is, how packages top up, how the chain verifies) are tenancy's.
 *
 * Must never: answer before the token is checked, put the admin token or
 * any stored secret in an answer or an error (the one exception: the secret
 * of a credential just created, shown once), or put raw identity data in an
 * answer (audit rows are returned as tenancy exports them: masked).
 */
#include "api/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/routes.h"
#include "common/errbuf.h"
#include "tenancy/alerts.h"
#include "tenancy/tenancy.h"

struct api_admin {
    uint8_t token_hash[32];   /* SHA-256 of the token text */
    sm_key key;               /* server key: webhook secrets */
};

/* ------------------------------------------------------------------ token */

bool admin_token_load(const char *path, bool create, char out[ADMIN_TOKEN_LEN + 1],
                      bool *created, char *err, size_t errlen)
{
    static const char digits[] = "0123456789abcdef";
    memset(out, 0, ADMIN_TOKEN_LEN + 1);
    sm_key k;
    char why[1024] = "";
    sm_key_status st = sm_key_load(path, create, &k, created, why, sizeof why);
    if (st == SM_KEY_ERR_FORMAT) {
        set_err(err, errlen,
                "admin token file '%s' must hold 64 hexadecimal characters and an optional "
                "newline",
                path);
        return false;
    }
    if (st != SM_KEY_OK) {
        set_err(err, errlen, "admin token: %s", why);
        return false;
    }
    for (size_t i = 0; i < SM_KEY_BYTES; i++) {
        out[2 * i] = digits[k.bytes[i] >> 4];
        out[2 * i + 1] = digits[k.bytes[i] & 15];
    }
    out[ADMIN_TOKEN_LEN] = '\0';
    sm_key_clear(&k);
    return true;
}

static bool sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

api_admin *admin_new(const char *token, const sm_key *key)
{
    if (token == NULL || key == NULL)
        return NULL;
    api_admin *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    if (!sha256(token, strlen(token), a->token_hash)) {
        free(a);
        return NULL;
    }
    a->key = *key;
    return a;
}

void admin_free(api_admin *a)
{
    if (a == NULL)
        return;
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

/* ------------------------------------------------------------------ guard */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static void retry_after_text(double seconds, char out[24])
{
    double s = seconds > 1.0 ? ceil(seconds) : 1.0;
    if (s > 172800.0)
        s = 172800.0;
    snprintf(out, 24, "%.0f", s);
}

/* Check the token. Returns the tenancy store, or NULL after having replied
 * (404 admin off, 429 blocked, 401 wrong or missing token). */
static tenancy *guard(http_request *req, const api_admin **admin_out)
{
    api_context *ctx = req->ctx;
    tenancy *t = api_context_tenancy(ctx);
    const api_admin *admin = ctx != NULL ? ctx->admin : NULL;
    if (t == NULL || admin == NULL) {
        reply_error(req, 404, "not_found", "the admin API is off (tenancy is not enabled)");
        return NULL;
    }
    double retry_s = 0;
    if (tenancy_auth_blocked(t, req->remote, &retry_s)) {
        char retry[24];
        retry_after_text(retry_s, retry);
        reply_error_with_header(req, 429, "too_many_requests",
                                "too many failed authentications from this address; retry later",
                                "Retry-After", retry);
        return NULL;
    }
    const char *auth = request_header(req, "Authorization");
    const char *tok = NULL;
    size_t len = 0;
    if (auth != NULL) {
        while (is_space(*auth))
            auth++;
        if (strncasecmp(auth, "Bearer", 6) == 0 && is_space(auth[6])) {
            tok = auth + 6;
            while (is_space(*tok))
                tok++;
            len = strlen(tok);
            while (len > 0 && is_space(tok[len - 1]))
                len--;
        }
    }
    uint8_t h[32];
    bool ok = tok != NULL && len > 0 && sha256(tok, len, h) &&
              CRYPTO_memcmp(h, admin->token_hash, sizeof h) == 0;
    OPENSSL_cleanse(h, sizeof h);
    if (!ok) {
        tenancy_auth_failed(t, req->remote);
        reply_error_with_header(req, 401, "unauthorized",
                                tok == NULL ? "the admin API needs 'Authorization: Bearer TOKEN' "
                                              "(the token is in the admin_token_file)"
                                            : "the admin token is not valid",
                                "WWW-Authenticate", "Bearer realm=\"shiming-admin\"");
        return NULL;
    }
    if (admin_out != NULL)
        *admin_out = admin;
    return t;
}

/* ------------------------------------------------------------ rendering */

static json_t *date_or_null(sm_date d)
{
    if (d.year == 0)
        return json_null();
    char buf[11];
    sm_date_format_iso(d, buf);
    return json_string(buf);
}

static json_t *time_iso(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

static json_t *app_json(const tn_app *a)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:I,s:f,s:I,s:s,s:o}", "id", (json_int_t)a->id, "name",
                     a->name, "status", tn_app_status_code(a->status), "ip_allow", a->ip_allow,
                     "daily_limit", (json_int_t)a->daily_limit, "rate_per_s", a->rate_per_s,
                     "burst", (json_int_t)a->burst, "webhook_url", a->webhook_url, "created_at",
                     time_iso(a->created_at));
}

static double percent_left(const tn_package *p)
{
    if (p->total <= 0)
        return 0.0;
    int64_t left = p->total - p->used;
    if (left < 0)
        left = 0;
    return floor((double)left * 1000.0 / (double)p->total) / 10.0; /* one decimal, down */
}

static json_t *package_json(const tn_package *p)
{
    char text[48];
    snprintf(text, sizeof text, "%" PRId64 "/%" PRId64, p->used, p->total);
    int64_t left = p->total - p->used;
    if (left < 0)
        left = 0;
    sm_date today = sm_date_today();
    bool expired = p->expires.year != 0 && sm_date_cmp(p->expires, today) < 0;
    return json_pack("{s:s,s:I,s:I,s:I,s:f,s:s,s:o,s:b}", "product", p->product, "total",
                     (json_int_t)p->total, "used", (json_int_t)p->used, "remaining",
                     (json_int_t)left, "remaining_percent", percent_left(p), "text", text,
                     "expires", date_or_null(p->expires), "expired", expired);
}

/* Reply with an error for a tenancy status other than TN_OK. */
static void reply_status(http_request *req, tn_status st, const char *err)
{
    const char *msg = err != NULL && err[0] != '\0' ? err : tn_status_message(st);
    switch (st) {
    case TN_ERR_NOT_FOUND:
        reply_error(req, 404, "not_found", msg);
        break;
    case TN_ERR_EXISTS:
        reply_error(req, 409, "conflict", msg);
        break;
    case TN_ERR_INVALID:
        reply_error(req, 400, "invalid_field", msg);
        break;
    case TN_ERR_UNAVAILABLE:
        reply_error_with_header(req, 503, "unavailable",
                                "the tenancy store is unavailable right now; retry later",
                                "Retry-After", "1");
        break;
    default:
        reply_error(req, 500, "internal", "the tenancy store failed");
        break;
    }
}

/* ---------------------------------------------------------- body fields */

static int field_invalid(http_request *req, const char *field, const char *must)
{
    char msg[200];
    snprintf(msg, sizeof msg, "field '%s' must be %s", field, must);
    reply_error(req, 400, "invalid_field", msg);
    return -1;
}

/* An optional integer in [0, max]. 0 ok (absent leaves *out), -1 replied. */
static int field_uint(http_request *req, json_t *obj, const char *field, int64_t max,
                      int64_t *out, bool *present)
{
    *present = false;
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
        char must[80];
        snprintf(must, sizeof must, "an integer from 0 to %" PRId64, max);
        return field_invalid(req, field, must);
    }
    *out = json_integer_value(v);
    *present = true;
    return 0;
}

/* An optional number >= 0 (and finite). */
static int field_rate(http_request *req, json_t *obj, const char *field, double *out,
                      bool *present)
{
    *present = false;
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
        json_number_value(v) > 1e6)
        return field_invalid(req, field, "a number from 0 to 1000000");
    *out = json_number_value(v);
    *present = true;
    return 0;
}

/* Refuse fields the endpoint does not know (a typo would otherwise be
 * silently ignored). `known` is NULL-terminated. */
static int only_fields(http_request *req, json_t *obj, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool found = false;
        for (const char *const *q = known; *q != NULL && !found; q++)
            found = strcmp(*q, k) == 0;
        if (!found) {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown field '%.100s'", k);
            reply_error(req, 400, "invalid_field", msg);
            return -1;
        }
    }
    return 0;
}

static int copy_string(http_request *req, json_t *obj, const char *field, char *dst, size_t cap,
                       bool *present)
{
    const char *s = NULL;
    size_t len = 0;
    if (request_field_string(req, obj, field, false, &s, &len, present) != 0)
        return -1;
    if (!*present)
        return 0;
    if (len >= cap || memchr(s, '\0', len) != NULL) {
        char must[64];
        snprintf(must, sizeof must, "a string of at most %zu bytes", cap - 1);
        return field_invalid(req, field, must);
    }
    memcpy(dst, s, len + 1);
    return 0;
}

/* Apply the settable fields of `body` to `app`. *status_set / *status tell
 * whether a status was given. 0 ok, -1 replied. *any: a field was there. */
static int apply_settings(http_request *req, json_t *body, tn_app *app, bool *status_set,
                          tn_app_status *status, bool *any)
{
    bool p = false;
    int64_t v = 0;
    double r = 0;
    *any = false;
    *status_set = false;
    const char *code = NULL;
    if (request_field_string(req, body, "status", false, &code, NULL, &p) != 0)
        return -1;
    if (p) {
        if (!tn_app_status_from_code(code, status))
            return field_invalid(req, "status", "one of \"active\", \"frozen\", \"disabled\"");
        *status_set = true;
        *any = true;
    }
    if (copy_string(req, body, "ip_allow", app->ip_allow, sizeof app->ip_allow, &p) != 0)
        return -1;
    *any |= p;
    if (copy_string(req, body, "webhook_url", app->webhook_url, sizeof app->webhook_url, &p) != 0)
        return -1;
    *any |= p;
    if (field_uint(req, body, "daily_limit", UINT32_MAX, &v, &p) != 0)
        return -1;
    if (p)
        app->daily_limit = (uint32_t)v;
    *any |= p;
    if (field_rate(req, body, "rate_per_s", &r, &p) != 0)
        return -1;
    if (p)
        app->rate_per_s = r;
    *any |= p;
    if (field_uint(req, body, "burst", UINT32_MAX, &v, &p) != 0)
        return -1;
    if (p)
        app->burst = (uint32_t)v;
    *any |= p;
    return 0;
}

/* The {name} of /admin/v1/apps/{name}[/...], or false after a 404. */
static bool path_app(http_request *req, char out[TN_NAME_MAX])
{
    static const char prefix[] = "/admin/v1/apps/";
    const char *p = req->path;
    if (p == NULL || strncmp(p, prefix, sizeof prefix - 1) != 0) {
        reply_error(req, 404, "not_found", "there is no endpoint at this path");
        return false;
    }
    p += sizeof prefix - 1;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= TN_NAME_MAX) {
        reply_error(req, 404, "not_found", "there is no app of that name");
        return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Look up the app of the path. false after having replied. */
static bool load_app(http_request *req, tenancy *t, tn_app *app)
{
    char name[TN_NAME_MAX];
    if (!path_app(req, name))
        return false;
    /* By name only: a decimal path segment must not reach another app by id. */
    for (const char *c = name; *c; c++) {
        bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!ok) {
            reply_error(req, 404, "not_found", "there is no app of that name");
            return false;
        }
    }
    tn_status st = tenancy_app_get(t, name, app);
    if (st == TN_OK && strcmp(app->name, name) != 0)
        st = TN_ERR_NOT_FOUND; /* matched as an id */
    if (st == TN_ERR_NOT_FOUND) {
        reply_error(req, 404, "not_found", "there is no app of that name");
        return false;
    }
    if (st != TN_OK) {
        reply_status(req, st, NULL);
        return false;
    }
    return true;
}

/* ----------------------------------------------------------------- apps */

void api_admin_apps_list(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    tn_app *apps = NULL;
    size_t n = 0;
    tn_status st = tenancy_app_list(t, &apps, &n);
    if (st != TN_OK) {
        reply_status(req, st, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, app_json(&apps[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(apps);
    reply_result(req, arr != NULL ? json_pack("{s:o}", "apps", arr) : NULL);
}

static const char *const settings_fields[] = {"status",     "ip_allow", "daily_limit",
                                              "rate_per_s", "burst",    "webhook_url", NULL};

void api_admin_app_create(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;
    static const char *const known[] = {"name",  "status",      "ip_allow", "daily_limit",
                                        "rate_per_s", "burst", "webhook_url", NULL};
    const char *name = NULL;
    if (only_fields(req, body, known) != 0 ||
        request_field_string(req, body, "name", true, &name, NULL, NULL) != 0) {
        json_decref(body);
        return;
    }
    /* Read and type-check every setting before anything is created. */
    tn_app want;
    memset(&want, 0, sizeof want);
    bool status_set = false, any = false;
    tn_app_status status = TN_APP_ACTIVE;
    if (apply_settings(req, body, &want, &status_set, &status, &any) != 0) {
        json_decref(body);
        return;
    }
    char err[512] = "";
    tn_status st;
    if (any) {
        /* Let the model judge the settings before anything is created:
         * tenancy_app_update validates before it looks for the app, so on
         * an app that cannot exist (id 0) it answers either "invalid" or
         * "not found". */
        tn_app probe = want;
        probe.id = 0;
        st = tenancy_app_update(t, &probe, err, sizeof err);
        if (st == TN_ERR_INVALID) {
            json_decref(body);
            reply_status(req, st, err);
            return;
        }
        err[0] = '\0';
    }
    tn_app app;
    st = tenancy_app_create(t, name, &app, err, sizeof err);
    if (st != TN_OK) {
        json_decref(body);
        reply_status(req, st, err);
        return;
    }
    if (any) {
        /* The settings on top of the new app's defaults. */
        bool ignored_status = false, ignored_any = false;
        tn_app_status ignored = TN_APP_ACTIVE;
        memcpy(&want, &app, sizeof app);
        (void)apply_settings(req, body, &want, &ignored_status, &ignored, &ignored_any);
        st = tenancy_app_update(t, &want, err, sizeof err);
        if (st == TN_OK && status_set)
            st = tenancy_app_set_status(t, app.id, status);
        if (st != TN_OK) {
            /* Do not leave a half-configured app switched on. */
            (void)tenancy_app_set_status(t, app.id, TN_APP_DISABLED);
            char msg[700];
            snprintf(msg, sizeof msg,
                     "%s (the app '%s' was created but is disabled until its settings are "
                     "corrected with PATCH)",
                     err[0] ? err : tn_status_message(st), app.name);
            json_decref(body);
            reply_status(req, st, msg);
            return;
        }
        if (tenancy_app_get(t, app.name, &app) != TN_OK) {
            json_decref(body);
            reply_status(req, TN_ERR_UNAVAILABLE, NULL);
            return;
        }
    }
    json_decref(body);
    reply_result_with(req, 201, app_json(&app), NULL, NULL);
}

void api_admin_app_get(http_request *req)
{
    const api_admin *admin = NULL;
    tenancy *t = guard(req, &admin);
    if (t == NULL)
        return;
    tn_app app;
    if (!load_app(req, t, &app))
        return;
    json_t *o = app_json(&app);
    char secret[65];
    alerts_webhook_secret(&admin->key, app.id, secret);
    if (o != NULL && secret[0] != '\0')
        json_object_set_new(o, "webhook_secret", json_string(secret));
    OPENSSL_cleanse(secret, sizeof secret);
    reply_result(req, o);
}

void api_admin_app_update(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    tn_app app;
    if (!load_app(req, t, &app))
        return;
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;
    bool status_set = false, any = false;
    tn_app_status status = app.status;
    if (only_fields(req, body, settings_fields) != 0 ||
        apply_settings(req, body, &app, &status_set, &status, &any) != 0) {
        json_decref(body);
        return;
    }
    json_decref(body);
    if (!any) {
        reply_error(req, 400, "missing_field",
                    "give at least one field to change: status, ip_allow, daily_limit, "
                    "rate_per_s, burst, webhook_url");
        return;
    }
    char err[512] = "";
    tn_status st = tenancy_app_update(t, &app, err, sizeof err);
    if (st == TN_OK && status_set)
        st = tenancy_app_set_status(t, app.id, status);
    if (st != TN_OK) {
        reply_status(req, st, err);
        return;
    }
    char name[TN_NAME_MAX];
    memcpy(name, app.name, sizeof name);
    st = tenancy_app_get(t, name, &app);
    if (st != TN_OK) {
        reply_status(req, st, NULL);
        return;
    }
    reply_result(req, app_json(&app));
}

/* ---------------------------------------------------------- credentials */

void api_admin_cred_add(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    tn_app app;
    if (!load_app(req, t, &app))
        return;
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;
    static const char *const known[] = {"kind", NULL};
    const char *code = NULL;
    if (only_fields(req, body, known) != 0 ||
        request_field_string(req, body, "kind", true, &code, NULL, NULL) != 0) {
        json_decref(body);
        return;
    }
    tn_cred_kind kind;
    if (!tn_cred_kind_from_code(code, &kind)) {
        json_decref(body);
        field_invalid(req, "kind",
                      "one of \"native\", \"bearer\", \"appcode\", \"apikey\", \"accesskey\", "
                      "\"appsecret\"");
        return;
    }
    json_decref(body);
    tn_new_cred nc;
    memset(&nc, 0, sizeof nc);
    char err[512] = "";
    tn_status st = tenancy_cred_add(t, app.id, kind, NULL, NULL, &nc, err, sizeof err);
    if (st != TN_OK) {
        OPENSSL_cleanse(&nc, sizeof nc);
        reply_status(req, st, err);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:s}", "app", app.name, "kind",
                          tn_cred_kind_code(nc.kind), "id",
                          tn_cred_kind_has_id(nc.kind) ? json_string(nc.id) : json_null(),
                          "secret", nc.secret, "warning",
                          "the secret is shown only this once: store it now");
    OPENSSL_cleanse(&nc, sizeof nc);
    reply_result_with(req, 201, o, "Cache-Control", "no-store");
}

/* ------------------------------------------------------------- packages */

static json_t *usage_json(tenancy *t, const tn_app *app, tn_status *st)
{
    tn_package *pk = NULL;
    size_t n = 0;
    *st = tenancy_usage(t, app->id, &pk, &n);
    if (*st != TN_OK)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, package_json(&pk[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(pk);
    return arr != NULL ? json_pack("{s:s,s:o}", "app", app->name, "packages", arr) : NULL;
}

void api_admin_package_add(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    tn_app app;
    if (!load_app(req, t, &app))
        return;
    json_t *body = request_json_object(req);
    if (body == NULL)
        return;
    static const char *const known[] = {"product", "total", "expires", NULL};
    const char *product = NULL;
    int64_t total = 0;
    bool has_total = false;
    sm_date expires = {0, 0, 0};
    if (only_fields(req, body, known) != 0 ||
        request_field_string(req, body, "product", true, &product, NULL, NULL) != 0 ||
        field_uint(req, body, "total", INT64_MAX / 2, &total, &has_total) != 0 ||
        request_field_date_iso(req, body, "expires", false, &expires, NULL) != 0) {
        json_decref(body);
        return;
    }
    if (!has_total) {
        json_decref(body);
        reply_error(req, 400, "missing_field", "field 'total' is required");
        return;
    }
    if (total < 1) {
        json_decref(body);
        field_invalid(req, "total", "a whole number of units, at least 1");
        return;
    }
    char err[512] = "";
    char prod[32];
    snprintf(prod, sizeof prod, "%s", product);
    tn_status st = tenancy_package_add(t, app.id, product, total, expires, err, sizeof err);
    json_decref(body);
    if (st != TN_OK) {
        reply_status(req, st, err);
        return;
    }
    json_t *usage = usage_json(t, &app, &st);
    if (usage == NULL) {
        reply_status(req, st != TN_OK ? st : TN_ERR_NOMEM, NULL);
        return;
    }
    json_t *added = json_pack("{s:s,s:I,s:o}", "product", prod, "total", (json_int_t)total,
                              "expires", date_or_null(expires));
    json_object_set_new(usage, "added", added);
    reply_result_with(req, 201, usage, NULL, NULL);
}

void api_admin_usage(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    tn_app app;
    if (!load_app(req, t, &app))
        return;
    tn_status st = TN_OK;
    json_t *usage = usage_json(t, &app, &st);
    if (usage == NULL && st != TN_OK) {
        reply_status(req, st, NULL);
        return;
    }
    reply_result(req, usage);
}

/* ----------------------------------------------------------------- audit */

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000

/* Unix seconds at the start of `d` in China time (UTC+8). */
static int64_t china_day_start(sm_date d)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = d.year - 1900;
    tm.tm_mon = d.month - 1;
    tm.tm_mday = d.day;
    return (int64_t)timegm(&tm) - 8 * 3600;
}

static const char *query_arg(http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Collects exported JSONL rows through a stdio cookie: one row at a time,
 * kept when it belongs to the wanted app, until `limit` are kept. */
typedef struct {
    json_t *rows;
    size_t limit;
    int64_t app_id;              /* 0 = every app */
    const char *app_name;
    char *line;
    size_t len, cap;
    bool full;                   /* limit reached: one more matching row seen */
    bool failed;
} audit_sink;

static bool row_matches(const audit_sink *s, json_t *row)
{
    if (s->app_id == 0)
        return true;
    json_t *id = json_object_get(row, "app_id");
    if (json_is_integer(id))
        return json_integer_value(id) == s->app_id;
    json_t *app = json_object_get(row, "app");
    if (json_is_integer(app))
        return json_integer_value(app) == s->app_id;
    return json_is_string(app) && strcmp(json_string_value(app), s->app_name) == 0;
}

static void sink_line(audit_sink *s)
{
    json_error_t jerr;
    json_t *row = json_loadb(s->line, s->len, 0, &jerr);
    s->len = 0;
    if (row == NULL) {
        s->failed = true;
        return;
    }
    if (row_matches(s, row)) {
        if (json_array_size(s->rows) >= s->limit) {
            s->full = true;
            json_decref(row);
            return;
        }
        json_array_append(s->rows, row);
    }
    json_decref(row);
}

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    audit_sink *s = cookie;
    if (s->full || s->failed)
        return -1; /* stops the export: enough rows */
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            if (s->len > 0)
                sink_line(s);
            if (s->full || s->failed)
                return -1;
            continue;
        }
        if (s->len + 1 >= s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4096;
            if (cap > (size_t)16 << 20) {
                s->failed = true;
                return -1;
            }
            char *p = realloc(s->line, cap);
            if (p == NULL) {
                s->failed = true;
                return -1;
            }
            s->line = p;
            s->cap = cap;
        }
        s->line[s->len++] = buf[i];
    }
    return (ssize_t)size;
}

/* A date query parameter: absent → *present false; else "YYYY-MM-DD". */
static int query_date(http_request *req, const char *name, sm_date *out, bool *present)
{
    *present = false;
    const char *v = query_arg(req, name);
    if (v == NULL || v[0] == '\0')
        return 0;
    if (!sm_date_parse_iso(v, strlen(v), out)) {
        char msg[120];
        snprintf(msg, sizeof msg, "parameter '%s' must be a date as \"YYYY-MM-DD\"", name);
        reply_error(req, 400, "invalid_field", msg);
        return -1;
    }
    *present = true;
    return 0;
}

void api_admin_audit_list(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    audit_sink s;
    memset(&s, 0, sizeof s);
    s.limit = AUDIT_LIMIT_DEFAULT;
    const char *lim = query_arg(req, "limit");
    if (lim != NULL && lim[0] != '\0') {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(lim, &end, 10);
        if (lim[0] < '0' || lim[0] > '9' || errno != 0 || *end != '\0' || v < 1 ||
            v > AUDIT_LIMIT_MAX) {
            reply_error(req, 400, "invalid_field", "parameter 'limit' must be from 1 to 1000");
            return;
        }
        s.limit = (size_t)v;
    }
    sm_date from_d, to_d;
    bool has_from, has_to;
    if (query_date(req, "from", &from_d, &has_from) != 0 ||
        query_date(req, "to", &to_d, &has_to) != 0)
        return;
    int64_t from = has_from ? china_day_start(from_d) : 0;
    int64_t to = has_to ? china_day_start(to_d) + 86400 : 0; /* `to` is inclusive */
    if (has_from && has_to && to <= from) {
        reply_error(req, 400, "invalid_field", "parameter 'to' is before 'from'");
        return;
    }
    tn_app app;
    const char *app_name = query_arg(req, "app");
    if (app_name != NULL && app_name[0] != '\0') {
        tn_status st = tenancy_app_get(t, app_name, &app);
        if (st == TN_OK && strcmp(app.name, app_name) != 0)
            st = TN_ERR_NOT_FOUND;
        if (st != TN_OK) {
            if (st == TN_ERR_NOT_FOUND)
                reply_error(req, 404, "not_found", "there is no app of that name");
            else
                reply_status(req, st, NULL);
            return;
        }
        s.app_id = app.id;
        s.app_name = app.name;
    }
    s.rows = json_array();
    cookie_io_functions_t io = {.read = NULL, .write = sink_write, .seek = NULL, .close = NULL};
    FILE *f = s.rows != NULL ? fopencookie(&s, "w", io) : NULL;
    if (f == NULL) {
        json_decref(s.rows);
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    int64_t exported = 0;
    tn_status st = tenancy_audit_export(t, from, to, TN_EXPORT_JSONL, f, &exported);
    fclose(f); /* flushes the last rows into the sink */
    if (!s.full && !s.failed && s.len > 0)
        sink_line(&s);
    free(s.line);
    if (s.failed || (st != TN_OK && !s.full)) {
        json_decref(s.rows);
        reply_status(req, st != TN_OK ? st : TN_ERR_UNAVAILABLE, NULL);
        return;
    }
    json_t *o = json_pack("{s:I,s:b,s:o}", "count", (json_int_t)json_array_size(s.rows),
                          "truncated", s.full, "rows", s.rows);
    reply_result(req, o);
}

void api_admin_audit_verify(http_request *req)
{
    tenancy *t = guard(req, NULL);
    if (t == NULL)
        return;
    int64_t rows = 0, first_broken = 0;
    tn_status st = tenancy_audit_verify(t, &rows, &first_broken);
    if (st != TN_OK) {
        reply_status(req, st, NULL);
        return;
    }
    reply_result(req, json_pack("{s:b,s:I,s:o}", "intact", first_broken == 0, "rows",
                                (json_int_t)rows, "first_broken",
                                first_broken != 0 ? json_integer((json_int_t)first_broken)
                                                  : json_null()));
}

/* ------------------------------------------------------------------ keys */

json_t *admin_keys_json(const envelope_keys *k)
{
    json_t *keys = json_array();
    for (int i = 0; keys != NULL && i < ENVELOPE__COUNT; i++) {
        envelope_alg a = (envelope_alg)i;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "algorithm", envelope_alg_name(a), "wrap",
                              envelope_wrap_name(a), "public_key_pem", envelope_public_pem(k, a),
                              "fingerprint_sha256", envelope_fingerprint(k, a));
        if (o == NULL || json_array_append_new(keys, o) != 0) {
            json_decref(keys);
            return NULL;
        }
    }
    return keys != NULL ? json_pack("{s:o}", "keys", keys) : NULL;
}

void api_admin_keys(http_request *req)
{
    if (guard(req, NULL) == NULL)
        return;
    const api_context *ctx = req->ctx;
    if (ctx->envelope == NULL) {
        reply_error(req, 404, "not_found", "the server has no envelope key pairs loaded");
        return;
    }
    reply_result(req, admin_keys_json(ctx->envelope));
}
