/*
 * idcardstatus.c — dialect C (seed 002): the four-element check
 * GET/POST /idcard/idcardstatus/Submit.json and /Submit.xml
 * (docs/dialects.md, section C).
 *
 * Request: parameters from the query string and/or an
 * application/x-www-form-urlencoded body (both read; a parameter given
 * twice, wherever, is refused): account (API ID), password (the API key,
 * or the dynamic password md5(account + apikey + "idcardstatus" + name +
 * id_card_no + time) with a 10-digit time within ±10 minutes), name,
 * id_card_no, begin_date, end_date (00000000 long-term), time.
 *
 * Answer: {code, msg[, idcardid, result{status, info{desc, isLosted,
 * isNewest, isExpired, hjzt}}]} in JSON or the same as XML elements, HTTP
 * 200 for every code; only protocol errors differ (405 wrong method, 413
 * body too large, 415 content type), still in the vendor's format. Code 2
 * ("submitted") is given exactly when the registry answered (match,
 * mismatch, not found) and is exactly what is charged; every other code is
 * free. A diagnostic in English (never a value of the request) goes in the
 * X-Error-Detail header where the vendor's code alone is vague.
 *
 * Order: method, body, content type, parameters (escapes, duplicates), the
 * failed-authentication limiter (400), empty fields (401, 402, 404, 406),
 * the account (403) and password (405, 40502, 40501), the name's 2–10
 * Han characters (4041), admission (4050, 4052, 4086, 40505 / 4051), then
 * the decision (api/call.h: 4061, 4041, 1, 2, 4010).
 *
 * Must never: decide anything (verify/ decides: the dialect only adds the
 * vendor's narrower name rule on input), log or answer a secret or a
 * request value, compare a secret in variable time, or charge a code other
 * than 2.
 */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/call.h"
#include "api/routes.h"
#include "dialects/dialects.h"
#include "dialects/idcardstatus_wire.h"
#include "http/form.h"

#define PRODUCT "idcardstatus"
#define DIALECT "idcardstatus"
#define DYN_WINDOW_S 600 /* a dynamic password is good for ±10 minutes around its time */
#define NAME_HAN_MIN 2
#define NAME_HAN_MAX 10

#define CT_JSON "application/json; charset=utf-8"
#define CT_XML "text/xml; charset=utf-8"

/* The parameters this dialect reads; each may be given once. */
static const char *const fields[] = {
    "account", "password", "name", "id_card_no", "begin_date", "end_date", "time", NULL,
};

/* -------------------------------------------------------------- replies */

static const char *content_type(bool xml)
{
    return xml ? CT_XML : CT_JSON;
}

/* Render `a` into `body`/`len` (malloc'ed). false when out of memory. */
static bool render(const idcs_answer *a, bool xml, char **body, size_t *len)
{
    *body = xml ? idcs_render_xml(a, len) : idcs_render_json(a, len);
    return *body != NULL;
}

/* Reply with `code` alone (no serial, no result), with an optional extra
 * header (`hname` NULL: none) and the X-Error-Detail diagnostic (`detail`
 * NULL: none; ASCII, never a request value). */
static void reply_code_with(http_request *req, bool xml, unsigned status, idcs_code code,
                            const char *detail, const char *hname, const char *hvalue)
{
    idcs_answer a;
    memset(&a, 0, sizeof a);
    a.code = code;
    char *body = NULL;
    size_t len = 0;
    if (!render(&a, xml, &body, &len)) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    http_header h[2];
    size_t n = 0;
    if (hname != NULL)
        h[n++] = (http_header){hname, hvalue};
    if (detail != NULL)
        h[n++] = (http_header){"X-Error-Detail", detail};
    reply_bytes_headers(req, status, content_type(xml), body, len, h, n);
    free(body);
}

static void reply_code(http_request *req, bool xml, idcs_code code, const char *detail)
{
    reply_code_with(req, xml, 200, code, detail, NULL, NULL);
}

/* ------------------------------------------------------------ the call */

/* What the call keeps until call_run releases it: the parameters (the
 * verify_request borrows their strings) and the answer's format. */
typedef struct {
    form f;
    bool xml;
} idcs_call;

static void release_call(void *ctx)
{
    idcs_call *c = ctx;
    form_clear(&c->f);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

/* The serial number of a submitted call: the Unix time (10 digits) and a
 * per-process sequence (4 digits), the shape of the seed's
 * "16236437872836". Not a secret, not an identity. */
static void serial_number(char out[IDCS_SERIAL_MAX])
{
    static atomic_uint seq;
    unsigned n = atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed) % 10000u;
    snprintf(out, IDCS_SERIAL_MAX, "%010lld%04u", (long long)time(NULL), n);
}

/* The verdict → vendor table. Code 2 exactly for the verdicts the product
 * charges (tenancy/products.c: match, mismatch, not_found). */
static const struct {
    sm_verdict verdict;
    idcs_code code;
    const char *status; /* code 2: result.status */
    const char *desc;   /* code 2: result.info.desc */
} verdicts[] = {
    {SM_VERDICT_MATCH, IDCS_SUBMITTED, "2", "查询成功"},
    {SM_VERDICT_MISMATCH, IDCS_SUBMITTED, "1", "身份四要素信息不一致"},
    {SM_VERDICT_NOT_FOUND, IDCS_SUBMITTED, "1", "库中无此号"},
    {SM_VERDICT_INVALID_ID, IDCS_ID_FORMAT, NULL, NULL},
    {SM_VERDICT_INVALID_NAME, IDCS_NAME_FORMAT, NULL, NULL},
    {SM_VERDICT_INVALID_PERIOD, IDCS_FAILED, NULL, NULL},
    {SM_VERDICT_REGISTRY_UNAVAILABLE, IDCS_CHANNEL_ERROR, NULL, NULL},
};

static int render_call(void *ctx, http_request *req, const verify_result *r, bool charged,
                       call_answer *out)
{
    (void)req;
    (void)charged;
    idcs_call *c = ctx;
    idcs_answer a;
    memset(&a, 0, sizeof a);
    a.code = IDCS_UNKNOWN; /* a verdict the table does not know */
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
        if (verdicts[i].verdict != r->verdict)
            continue;
        a.code = verdicts[i].code;
        a.status = verdicts[i].status;
        a.desc = verdicts[i].desc;
        break;
    }
    if (a.code == IDCS_SUBMITTED) {
        serial_number(a.idcardid);
        a.has_result = true;
        /* The card's facts only for the card the caller named and matched. */
        a.has_flags = r->verdict == SM_VERDICT_MATCH && r->card_matched;
        if (a.has_flags) {
            a.lost = r->card.lost;
            a.newest = r->card_newest;
            a.expired = r->card_expired;
            a.hjzt = (int)r->hukou;
        }
    }
    if (!render(&a, c->xml, &out->body, &out->len))
        return -1;
    out->status = 200;
    out->content_type = content_type(c->xml);
    out->vendor_code = idcs_code_text(a.code);
    if (r->verdict == SM_VERDICT_INVALID_PERIOD) {
        out->headers[0] = (http_header){"X-Error-Detail", "the validity period is not lawful"};
        out->n_headers = 1;
    } else if (r->verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
        out->headers[0] = (http_header){"Retry-After", "1"};
        out->n_headers = 1;
    }
    return 0;
}

static void refuse_call(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    idcs_call *c = ctx;
    char retry[24];
    call_retry_after_text(retry_after_s, retry);
    switch (why) {
    case CALL_APP_FROZEN: reply_code(req, c->xml, IDCS_FROZEN, "the app is frozen"); break;
    case CALL_APP_DISABLED: reply_code(req, c->xml, IDCS_FROZEN, "the app is disabled"); break;
    case CALL_IP_DENIED: reply_code(req, c->xml, IDCS_IP_NOT_ALLOWED, NULL); break;
    case CALL_RATE_LIMITED:
        reply_code_with(req, c->xml, 200, IDCS_CHANNEL_INVALID, "rate limited", "Retry-After",
                        retry);
        break;
    case CALL_DAILY_LIMIT:
        reply_code_with(req, c->xml, 200, IDCS_CHANNEL_INVALID, "daily limit reached",
                        "Retry-After", retry);
        break;
    case CALL_SUBJECT_CAP:
        reply_code(req, c->xml, IDCS_CHANNEL_INVALID, "daily cap for this identity reached");
        break;
    case CALL_QUOTA_EXHAUSTED: reply_code(req, c->xml, IDCS_NO_BALANCE, NULL); break;
    case CALL_UNAVAILABLE:
        reply_code_with(req, c->xml, 200, IDCS_UNKNOWN,
                        "the call could not be recorded; nothing was charged", "Retry-After", "1");
        break;
    case CALL_INTERNAL:
    default: reply_code(req, c->xml, IDCS_UNKNOWN, "out of memory"); break;
    }
}

/* --------------------------------------------------------- the request */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Empty, or only spaces. */
static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_space(s[i]))
            return false;
    return true;
}

/* The vendor's name rule, narrower than the core's: 2 to 10 Han
 * characters (middle dots of minority names allowed and not counted).
 * Names the core refuses are left to the core (its verdict, 4041 too). */
static bool name_outside_vendor_rule(const char *name, size_t len)
{
    sm_name n;
    if (sm_name_normalise(name, len, &n) != SM_NAME_OK)
        return false; /* the core decides: invalid_name */
    bool bad = n.kind != SM_NAME_KIND_HAN;
    if (!bad) {
        size_t dots = 0;
        for (size_t i = 0; i + 1 < n.len; i++)
            dots += (unsigned char)n.text[i] == 0xC2 && (unsigned char)n.text[i + 1] == 0xB7;
        size_t han = n.chars - dots;
        bad = han < NAME_HAN_MIN || han > NAME_HAN_MAX;
    }
    OPENSSL_cleanse(&n, sizeof n);
    return bad;
}

static bool ten_digits(const char *s, size_t len)
{
    if (len != 10)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Check the password against the API key `key`: the key itself, or the
 * dynamic password. IDCS_SUBMITTED when good, else the code to answer. */
static idcs_code check_password(const form *f, const char *account, size_t account_len,
                                const char *key)
{
    size_t pw_len, time_len, name_len, id_len;
    const char *pw = form_value(f, "password", &pw_len);
    const char *tm = form_value(f, "time", &time_len);
    const char *name = form_value(f, "name", &name_len);
    const char *id = form_value(f, "id_card_no", &id_len);
    size_t key_len = strlen(key);

    if (pw_len == key_len && CRYPTO_memcmp(pw, key, key_len) == 0)
        return IDCS_SUBMITTED;
    if (time_len == 0)
        return IDCS_BAD_KEY; /* no time: the password was meant as the key */
    if (!ten_digits(tm, time_len) || pw_len != 32)
        return IDCS_DYN_WRONG;

    char want[33];
    char got[33];
    if (!idcs_dynamic_password(account, account_len, key, key_len, name, name_len, id, id_len,
                               tm, time_len, want))
        return IDCS_UNKNOWN;
    for (size_t i = 0; i < 32; i++) /* hex in either case */
        got[i] = (pw[i] >= 'A' && pw[i] <= 'F') ? (char)(pw[i] - 'A' + 'a') : pw[i];
    got[32] = '\0';
    bool same = CRYPTO_memcmp(got, want, 32) == 0;
    OPENSSL_cleanse(want, sizeof want);
    OPENSSL_cleanse(got, sizeof got);
    if (!same)
        return IDCS_DYN_WRONG;

    long long t = 0;
    for (size_t i = 0; i < 10; i++)
        t = t * 10 + (tm[i] - '0');
    long long now = (long long)time(NULL);
    if (t < now - DYN_WINDOW_S || t > now + DYN_WINDOW_S)
        return IDCS_DYN_EXPIRED;
    return IDCS_SUBMITTED;
}

/* Authenticate the account and password. 0 with *app filled, or -1 after
 * having answered (and counted the failure for the limiter). */
static int authenticate(http_request *req, tenancy *t, const form *f, bool xml, tn_app *app)
{
    size_t account_len;
    const char *account = form_value(f, "account", &account_len);
    char key[TN_SECRET_MAX];
    memset(key, 0, sizeof key);
    tn_status st = TN_ERR_NOT_FOUND;
    if (account_len < TN_CRED_ID_MAX && strlen(account) == account_len)
        st = tenancy_credential_secret(t, TN_CRED_APIKEY, account, key, app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        OPENSSL_cleanse(key, sizeof key);
        tenancy_auth_failed(t, req->remote);
        reply_code(req, xml, IDCS_NO_APP, "no API ID of that name");
        return -1;
    }
    if (st != TN_OK) {
        OPENSSL_cleanse(key, sizeof key);
        reply_code_with(req, xml, 200, IDCS_UNKNOWN, "the credential store is unavailable",
                        "Retry-After", "1");
        return -1;
    }
    idcs_code c = check_password(f, account, account_len, key);
    OPENSSL_cleanse(key, sizeof key);
    if (c == IDCS_SUBMITTED)
        return 0;
    if (c != IDCS_UNKNOWN)
        tenancy_auth_failed(t, req->remote);
    reply_code(req, xml, c, c == IDCS_UNKNOWN ? "the password could not be checked" : NULL);
    return -1;
}

/* Did the app ever hold a package of this product? 1 yes, 0 no, -1 the
 * store could not say. */
static int has_contract(tenancy *t, int64_t app_id)
{
    tn_package *pk = NULL;
    size_t n = 0;
    if (tenancy_usage(t, app_id, &pk, &n) != TN_OK)
        return -1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(pk[i].product, PRODUCT) == 0;
    free(pk);
    return found;
}

/* Admission of the authenticated app (as routes.c's guard does for the
 * native API), so that "no contract" can be told from "balance
 * exhausted". 0: admitted (req->metered or req->free_only set); -1:
 * answered. */
static int admit(http_request *req, tenancy *t, const tn_app *app, bool xml)
{
    req->app_id = app->id;
    snprintf(req->app, sizeof req->app, "%s", app->name);
    double retry_s = 0;
    tn_admit a = tenancy_admit(t, app, PRODUCT, req->remote, &retry_s);
    char retry[24];
    call_retry_after_text(retry_s, retry);
    switch (a) {
    case TN_ADMIT_OK: req->metered = true; return 0;
    case TN_ADMIT_NO_QUOTA: {
        int c = has_contract(t, app->id);
        if (c == 1) {
            req->free_only = true; /* the free answers (invalid input) are still given */
            return 0;
        }
        if (c == 0)
            reply_code(req, xml, IDCS_NO_CONTRACT, "the app has no package of this product");
        else
            reply_code_with(req, xml, 200, IDCS_UNKNOWN, "the tenancy store is unavailable",
                            "Retry-After", "1");
        return -1;
    }
    case TN_ADMIT_FROZEN: reply_code(req, xml, IDCS_FROZEN, "the app is frozen"); return -1;
    case TN_ADMIT_DISABLED: reply_code(req, xml, IDCS_FROZEN, "the app is disabled"); return -1;
    case TN_ADMIT_IP_DENIED: reply_code(req, xml, IDCS_IP_NOT_ALLOWED, NULL); return -1;
    case TN_ADMIT_RATE_LIMITED:
        reply_code_with(req, xml, 200, IDCS_CHANNEL_INVALID, "rate limited", "Retry-After",
                        retry);
        return -1;
    case TN_ADMIT_DAILY_LIMIT:
        reply_code_with(req, xml, 200, IDCS_CHANNEL_INVALID, "daily limit reached",
                        "Retry-After", retry);
        return -1;
    case TN_ADMIT_UNAVAILABLE:
    default:
        reply_code_with(req, xml, 200, IDCS_UNKNOWN, "the tenancy store is unavailable",
                        "Retry-After", "1");
        return -1;
    }
}

/* Read the parameters into c->f. 0, or -1 after having answered. */
static int read_parameters(http_request *req, idcs_call *c)
{
    bool xml = c->xml;
    if (req->body_len > 0) {
        const char *ct = request_header(req, "Content-Type");
        if (ct != NULL && !form_content_type_ok(ct)) {
            reply_code_with(req, xml, 415, IDCS_FAILED,
                            "the body must be application/x-www-form-urlencoded (UTF-8)", NULL,
                            NULL);
            return -1;
        }
    }
    form_status st = form_add_query(&c->f, req);
    if (st == FORM_OK && req->body_len > 0)
        st = form_parse_urlencoded(&c->f, req->body, req->body_len);
    if (st != FORM_OK) {
        if (st == FORM_NOMEM)
            reply_code(req, xml, IDCS_UNKNOWN, "out of memory");
        else
            reply_code(req, xml, IDCS_FAILED, "malformed parameters (a bad %-escape or an "
                                              "empty name)");
        return -1;
    }
    for (size_t i = 0; fields[i] != NULL; i++) {
        if (form_count(&c->f, fields[i]) > 1) {
            char detail[96];
            snprintf(detail, sizeof detail, "parameter '%s' is given more than once", fields[i]);
            reply_code(req, xml, IDCS_FAILED, detail);
            return -1;
        }
    }
    return 0;
}

/* The first empty required field's code, or IDCS_SUBMITTED when none. */
static idcs_code empty_field(const form *f)
{
    static const struct {
        const char *name;
        idcs_code code;
    } required[] = {
        {"account", IDCS_ACCOUNT_EMPTY},
        {"password", IDCS_PASSWORD_EMPTY},
        {"name", IDCS_NAME_EMPTY},
        {"id_card_no", IDCS_ID_EMPTY},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        size_t len;
        const char *v = form_value(f, required[i].name, &len);
        if (blank(v, len))
            return required[i].code;
    }
    return IDCS_SUBMITTED;
}

static void handle(http_request *req, bool xml)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
        reply_code_with(req, xml, 405, IDCS_FAILED, "only GET and POST", "Allow", "GET, POST");
        return;
    }
    if (req->body_too_large) { /* perhaps before the body has arrived: never read it */
        reply_code_with(req, xml, 413, IDCS_FAILED, "the body is too large", NULL, NULL);
        return;
    }
    idcs_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        reply_code(req, xml, IDCS_UNKNOWN, "out of memory");
        return;
    }
    c->xml = xml;
    if (read_parameters(req, c) != 0) {
        release_call(c);
        return;
    }

    tenancy *t = api_context_tenancy(req->ctx);
    double retry_s = 0;
    if (t != NULL && tenancy_auth_blocked(t, req->remote, &retry_s)) {
        char retry[24];
        call_retry_after_text(retry_s, retry);
        reply_code_with(req, xml, 200, IDCS_ILLEGAL_IP,
                        "too many failed authentications from this address", "Retry-After",
                        retry);
        release_call(c);
        return;
    }
    idcs_code empty = empty_field(&c->f);
    if (empty != IDCS_SUBMITTED) {
        reply_code(req, xml, empty, NULL);
        release_call(c);
        return;
    }

    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL && authenticate(req, t, &c->f, xml, &app) != 0) {
        release_call(c);
        return;
    }

    call_spec spec = {
        .product = PRODUCT,
        .dialect = DIALECT,
        .id4 = true,
        .admitted = true, /* below, or tenancy is off */
        .render = render_call,
        .refuse = refuse_call,
        .release = release_call,
        .ctx = c,
    };
    spec.vr.name = form_value(&c->f, "name", &spec.vr.name_len);
    spec.vr.id_number = form_value(&c->f, "id_card_no", &spec.vr.id_len);
    spec.vr.valid_from = form_value(&c->f, "begin_date", &spec.vr.valid_from_len);
    spec.vr.valid_to = form_value(&c->f, "end_date", &spec.vr.valid_to_len);

    if (name_outside_vendor_rule(spec.vr.name, spec.vr.name_len)) {
        reply_code(req, xml, IDCS_NAME_FORMAT, NULL);
        release_call(c);
        return;
    }
    if (t != NULL && admit(req, t, &app, xml) != 0) {
        release_call(c);
        return;
    }
    call_run(req, &spec);
    /* Recorded, or abandoned: no longer in flight for the daily limit. A
     * deferred reply's completion (call.c) releases it instead; `deferred`
     * is written by this thread only. */
    if (t != NULL && !req->deferred && req->metered)
        tenancy_admit_done(t, req->app_id);
}

void dialect_idcardstatus_json(http_request *req)
{
    handle(req, false);
}

void dialect_idcardstatus_xml(http_request *req)
{
    handle(req, true);
}
