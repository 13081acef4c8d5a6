/*
 * verify.c — POST /v1/verify/id2 and /v1/verify/id4: does this name (and
 * card) belong to this ID number, according to the registry.
 *
 * id2 body: {"name", "id_number", "at": "YYYY-MM-DD"?, "strict": bool?}
 * id4 body: the same plus "valid_from": "YYYYMMDD" and "valid_to":
 *           "YYYYMMDD" | "00000000" | "长期".
 * Answer: {"verdict", "reason", ["card", "hukou_status",] "id_info",
 * "charged", "request_id"}; 200 for every verdict except
 * registry_unavailable, which is 503 with the same body and Retry-After: 1.
 * An invalid number, name or period is a verdict (200), not a malformed
 * request; only missing or mistyped fields are 4xx.
 *
 * Metering (the guard in routes.c has authenticated and admitted the app):
 * an `Idempotency-Key` header (1–128 printable ASCII) whose answer is
 * stored is answered again from the store (Idempotent-Replay: true), with
 * no new charge (a repeat that arrives while the first call runs waits for
 * it); otherwise the answer is rendered, then recorded
 * (tenancy_record_async: audit row, charge, idempotent answer — committed
 * by the writer thread, which then calls back), and only then sent: the
 * reply is deferred (request_defer), so the HTTP thread serves other
 * connections while the record waits for its group commit, and the
 * writer's callback answers and resumes the request. "charged" says
 * whether the call used a unit.
 *
 * Must never: decide anything (verify/ decides), log or store the raw name
 * or number (the access log gets the masked normal forms; the audit row is
 * masked and hashed by tenancy/), say more about a person than the verdict
 * allows (card facts only for the card the caller named and matched), or
 * answer a charged verdict before its record is committed.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/render.h"
#include "api/routes.h"
#include "verify/verify.h"

/* Read the body's fields into `vr` (borrowed from `body`). 0, or -1 after
 * having replied 4xx. */
static int read_request(http_request *req, json_t *body, bool id4, verify_request *vr)
{
    memset(vr, 0, sizeof *vr);
    if (request_field_string(req, body, "name", true, &vr->name, &vr->name_len, NULL) != 0 ||
        request_field_string(req, body, "id_number", true, &vr->id_number, &vr->id_len, NULL) !=
            0)
        return -1;
    if (id4 && (request_field_string(req, body, "valid_from", true, &vr->valid_from,
                                     &vr->valid_from_len, NULL) != 0 ||
                request_field_string(req, body, "valid_to", true, &vr->valid_to,
                                     &vr->valid_to_len, NULL) != 0))
        return -1;
    if (request_field_date_iso(req, body, "at", false, &vr->at, NULL) != 0 ||
        request_field_bool(req, body, "strict", false, &vr->strict, NULL) != 0)
        return -1;
    return 0;
}

/* The parse result of the (valid) ID number, as /v1/idcard/parse says it. */
static json_t *id_info_of(const verify_result *r)
{
    return r->id_status == SM_ID_OK ? render_id_info(&r->id) : json_null();
}

static json_t *reason_of(const verify_result *r)
{
    const char *code = NULL;
    switch (r->verdict) {
    case SM_VERDICT_INVALID_ID: code = sm_id_status_code(r->id_status); break;
    case SM_VERDICT_INVALID_NAME: code = sm_name_status_code(r->name_status); break;
    case SM_VERDICT_INVALID_PERIOD: code = sm_period_status_code(r->period_status); break;
    default: break;
    }
    return code != NULL ? json_string(code) : json_null();
}

static json_t *date_json(sm_date d)
{
    char buf[9];
    sm_date_format_compact(d, buf);
    return json_string(buf);
}

static json_t *render_card(const verify_result *r)
{
    if (!r->card_matched)
        return json_null();
    const reg_card *c = &r->card;
    return json_pack("{s:b,s:b,s:b,s:b,s:o,s:o}", "lost", c->lost, "newest", r->card_newest,
                     "expired", r->card_expired, "long_term", c->long_term, "valid_from",
                     date_json(c->valid_from), "valid_to",
                     c->long_term ? json_string("00000000") : date_json(c->valid_to));
}

static json_t *render_verify(const verify_result *r, bool id4)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    const char *verdict = sm_verdict_code(r->verdict);
    bool ok = json_object_set_new(o, "verdict", json_string(verdict)) == 0 &&
              json_object_set_new(o, "reason", reason_of(r)) == 0;
    if (ok && id4)
        ok = json_object_set_new(o, "card", render_card(r)) == 0 &&
             json_object_set_new(o, "hukou_status",
                                 r->found ? json_integer((json_int_t)r->hukou) : json_null()) ==
                 0;
    if (ok)
        ok = json_object_set_new(o, "id_info", id_info_of(r)) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------- metering */

#define IDEM_KEY_MAX 128
#define JSON_UTF8 "application/json; charset=utf-8"

/* The Idempotency-Key header into *out (borrowed; NULL when absent).
 * 0, or -1 after having replied 400 invalid_field. */
static int idempotency_key(http_request *req, const char **out)
{
    *out = NULL;
    const char *k = request_header(req, "Idempotency-Key");
    if (k == NULL)
        return 0;
    size_t n = strlen(k);
    bool ok = n >= 1 && n <= IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] >= 0x20 && k[i] <= 0x7e;
    if (!ok) {
        reply_error(req, 400, "invalid_field",
                    "header 'Idempotency-Key' must be 1 to 128 printable ASCII characters");
        return -1;
    }
    *out = k;
    return 0;
}

/* Answer a stored idempotent answer, if (app, product, key) has one.
 * true when the request has been answered (replayed, or 503). */
static bool replayed(http_request *req, tenancy *t, const char *product, const char *key)
{
    int status = 0;
    char *stored = NULL;
    size_t len = 0;
    tn_status st = tenancy_idem_get(t, req->app_id, product, key, &status, &stored, &len);
    if (st == TN_ERR_NOT_FOUND)
        return false;
    if (st != TN_OK || stored == NULL || status < 100 || status > 599) {
        free(stored);
        reply_error_with_header(req, 503, "unavailable",
                                "the server cannot look up idempotent answers right now",
                                "Retry-After", "1");
        return true;
    }
    reply_bytes_with(req, (unsigned)status, JSON_UTF8, stored, len, "Idempotent-Replay", "true");
    OPENSSL_cleanse(stored, len);
    free(stored);
    return true;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The answer as bytes (malloc'ed, "\n"-terminated JSON), stealing
 * `result`; NULL on allocation failure. */
static char *answer_bytes(json_t *result, size_t *len)
{
    if (result == NULL)
        return NULL;
    char stackbuf[4096];
    size_t n = http_json_write(result, stackbuf, sizeof stackbuf);
    char *buf = n > 0 ? malloc(n + 1) : NULL;
    if (buf != NULL && n <= sizeof stackbuf) {
        memcpy(buf, stackbuf, n);
    } else if (buf != NULL && http_json_write(result, buf, n) != n) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        buf = NULL;
    }
    OPENSSL_cleanse(stackbuf, n < sizeof stackbuf ? n : sizeof stackbuf);
    json_decref(result);
    if (buf == NULL)
        return NULL;
    buf[n] = '\n';
    *len = n + 1;
    return buf;
}

/* ------------------------------------------- idempotent calls in flight */

/* A retry that arrives while its first call is still running must not run
 * (and charge) a second time: calls holding an Idempotency-Key claim
 * (app, product, key) here while they run; a second call with the same
 * claim waits (at most IDEM_WAIT_MS) for the first to be recorded, then
 * finds its stored answer. Within one server process. */
#define IDEM_SLOTS 128
#define IDEM_WAIT_MS 10000

typedef struct {
    bool used;
    int64_t app_id;
    const char *product; /* static */
    char key[IDEM_KEY_MAX + 1];
} idem_slot;

static pthread_mutex_t idem_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idem_done = PTHREAD_COND_INITIALIZER;
static idem_slot idem_slots[IDEM_SLOTS];

static bool idem_busy(int64_t app_id, const char *product, const char *key)
{
    for (size_t i = 0; i < IDEM_SLOTS; i++)
        if (idem_slots[i].used && idem_slots[i].app_id == app_id &&
            strcmp(idem_slots[i].product, product) == 0 && strcmp(idem_slots[i].key, key) == 0)
            return true;
    return false;
}

/* Claim (app, product, key), waiting while another call holds it. The
 * slot to release, or -1 (waited too long, or every slot is taken: the
 * call goes on unclaimed; the store still keeps only the first answer). */
static int idem_claim(int64_t app_id, const char *product, const char *key)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += IDEM_WAIT_MS / 1000;
    int slot = -1;
    pthread_mutex_lock(&idem_lock);
    while (idem_busy(app_id, product, key))
        if (pthread_cond_timedwait(&idem_done, &idem_lock, &deadline) != 0)
            break;
    if (!idem_busy(app_id, product, key)) {
        for (int i = 0; i < IDEM_SLOTS && slot < 0; i++) {
            if (idem_slots[i].used)
                continue;
            idem_slots[i].used = true;
            idem_slots[i].app_id = app_id;
            idem_slots[i].product = product;
            snprintf(idem_slots[i].key, sizeof idem_slots[i].key, "%s", key);
            slot = i;
        }
    }
    pthread_mutex_unlock(&idem_lock);
    return slot;
}

static void idem_release(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&idem_lock);
    idem_slots[slot].used = false;
    pthread_cond_broadcast(&idem_done);
    pthread_mutex_unlock(&idem_lock);
}

/* ------------------------------------------------------------ the call */

/* The answer once the record's fate is known: the rendered answer, or
 * what a record refused or failed calls for. */
static void answer_recorded(http_request *req, tn_record_result rr, unsigned status,
                            bool unavailable, const char *answer, size_t len)
{
    switch (rr) {
    case TN_RECORDED_NO_QUOTA:
        reply_error(req, 403, "quota_exhausted", "balance exhausted: the app has no units left");
        break;
    case TN_RECORD_FAILED:
        reply_error_with_header(req, 503, "unavailable",
                                "the call could not be recorded; nothing was charged, retry later",
                                "Retry-After", "1");
        break;
    case TN_RECORDED_CHARGED:
    case TN_RECORDED_FREE:
    default:
        reply_bytes_with(req, status, JSON_UTF8, answer, len, unavailable ? "Retry-After" : NULL,
                         unavailable ? "1" : NULL);
        break;
    }
}

/* A call whose record is queued: owns everything the record borrows
 * (tn_record's strings) until the writer calls back (call_recorded). The
 * request's own strings (id, remote) live as long as the deferred request. */
typedef struct {
    http_request *req;
    tenancy *t;
    json_t *body;       /* the parsed request: vr's strings (raw number, name) */
    verify_result r;    /* the normal forms (id18, name) */
    char *answer;       /* the rendered answer, stored with an idempotency key */
    size_t len;
    unsigned status;
    bool unavailable;
    int idem_slot;      /* the claim on the key, released once recorded */
    char idem[IDEM_KEY_MAX + 1];
} pending_call;

/* tn_record_done, on the writer thread after the commit (or in the
 * handler when the record could not be queued). */
static void call_recorded(void *arg, tn_record_result rr)
{
    pending_call *c = arg;
    http_request *req = c->req;
    answer_recorded(req, rr, c->status, c->unavailable, c->answer, c->len);
    /* Recorded or failed: no longer in flight for the daily limit (the
     * guard leaves this to us for a deferred reply), and a repeat of the
     * key may go on (it finds the committed answer). */
    if (req->metered)
        tenancy_admit_done(c->t, req->app_id);
    idem_release(c->idem_slot);
    OPENSSL_cleanse(c->answer, c->len);
    free(c->answer);
    verify_result_clear(&c->r);
    json_decref(c->body);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
    request_resume(req); /* last: req may be gone as soon as it returns */
}

static bool run_call(http_request *req, bool id4, tenancy *t, const char *idem, int slot);

static void handle(http_request *req, bool id4)
{
    const char *product = id4 ? "id4" : "id2";
    tenancy *t = api_context_tenancy(req->ctx);
    const char *idem = NULL;
    if (idempotency_key(req, &idem) != 0)
        return;
    if (t == NULL || idem == NULL) {
        run_call(req, id4, t, NULL, -1);
        return;
    }
    /* A repeat waiting here for its first call blocks this HTTP thread (at
     * most IDEM_WAIT_MS): rare, and the first call's completion runs on the
     * writer thread, so it cannot be held up by the wait. */
    int slot = idem_claim(req->app_id, product, idem);
    if (replayed(req, t, product, idem) || !run_call(req, id4, t, idem, slot))
        idem_release(slot);
}

/* Verify, render, record (when tenancy is on), then answer. True when the
 * reply was deferred to the record's completion, which then owns `slot`
 * (and must not be touched: req may already be answered). */
static bool run_call(http_request *req, bool id4, tenancy *t, const char *idem, int slot)
{
    const char *product = id4 ? "id4" : "id2";
    json_t *body = request_json_object(req);
    if (body == NULL)
        return false;
    verify_request vr;
    if (read_request(req, body, id4, &vr) != 0) {
        json_decref(body);
        return false;
    }

    /* With no quota left only the registry-free checks run: an invalid
     * number, name or period is still answered (free); anything that needs
     * the registry needs a unit. */
    registry *reg = req->free_only ? NULL : api_context_registry(req->ctx);
    verify_result r;
    if (id4)
        verify_id4(reg, &vr, &r);
    else
        verify_id2(reg, &vr, &r);

    /* The log shows the forms the registry compares (阿**·***, 110…002X). */
    if (r.id_status == SM_ID_OK)
        request_set_subject_id(req, r.id.id18, strlen(r.id.id18));
    else
        request_set_subject_id(req, vr.id_number, vr.id_len);
    if (r.name_status == SM_NAME_OK && r.name.len > 0)
        request_set_subject_name(req, r.name.text, r.name.len);
    else
        request_set_subject_name(req, vr.name, vr.name_len);

    if (req->free_only && r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
        verify_result_clear(&r);
        json_decref(body);
        reply_error(req, 403, "quota_exhausted", "balance exhausted: the app has no units left");
        return false;
    }
    request_set_verdict(req, sm_verdict_code(r.verdict));

    bool unavailable = r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE;
    unsigned status = unavailable ? 503 : 200;
    /* The same rule the store charges by (tenancy_record). */
    bool charged = t != NULL && tn_product_charges(product, r.verdict);
    json_t *result = render_verify(&r, id4);
    if (result != NULL &&
        (json_object_set_new(result, "charged", json_boolean(charged)) != 0 ||
         json_object_set_new(result, "request_id", json_string(req->id)) != 0)) {
        json_decref(result);
        result = NULL;
    }
    size_t len = 0;
    char *answer = answer_bytes(result, &len);
    pending_call *c = answer != NULL && t != NULL ? calloc(1, sizeof *c) : NULL;
    if (answer == NULL || (t != NULL && c == NULL)) {
        if (answer != NULL) {
            OPENSSL_cleanse(answer, len);
            free(answer);
        }
        verify_result_clear(&r);
        json_decref(body);
        reply_error(req, 500, "internal", "out of memory");
        return false;
    }

    if (t == NULL) { /* nothing to record: answer now */
        verify_result_clear(&r);
        json_decref(body);
        answer_recorded(req, TN_RECORDED_FREE, status, unavailable, answer, len);
        OPENSSL_cleanse(answer, len);
        free(answer);
        return false;
    }

    /* The record borrows from `c`, which lives until call_recorded. */
    c->req = req;
    c->t = t;
    c->body = body;
    c->r = r;
    verify_result_clear(&r);
    c->answer = answer;
    c->len = len;
    c->status = status;
    c->unavailable = unavailable;
    c->idem_slot = slot;

    tn_record rec;
    memset(&rec, 0, sizeof rec);
    rec.app_id = req->app_id;
    rec.product = product;
    rec.dialect = "native";
    rec.request_id = req->id;
    rec.verdict = c->r.verdict;
    if (c->r.id_status == SM_ID_OK)
        rec.id18 = c->r.id.id18;
    else
        rec.id_raw = vr.id_number;
    rec.name = c->r.name_status == SM_NAME_OK && c->r.name.len > 0 ? c->r.name.text : vr.name;
    rec.client_ip = req->remote;
    rec.latency_ms = ms_since(&req->start);
    /* A 503 is not an answer to keep: a retry must be able to succeed. */
    if (idem != NULL && !unavailable) {
        snprintf(c->idem, sizeof c->idem, "%s", idem);
        rec.idem_key = c->idem;
        rec.http_status = (int)status;
        rec.body = c->answer;
        rec.body_len = c->len;
    }
    /* Deferred before it is queued: the callback may run at once. */
    request_defer(req);
    if (!tenancy_record_async(t, &rec, call_recorded, c))
        call_recorded(c, TN_RECORD_FAILED); /* not queued: nothing recorded, 503 */
    return true;
}

void api_verify_id2(http_request *req)
{
    handle(req, false);
}

void api_verify_id4(http_request *req)
{
    handle(req, true);
}
