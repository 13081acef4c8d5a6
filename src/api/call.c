/*
 * call.c — the metered verification call shared by the native API and the
 * vendor dialects (see call.h): admission, per-identity caps, idempotency,
 * decision, rendering, record, answer.
 *
 * Must never: decide anything (verify/ decides), answer a charged verdict
 * before its record is committed, log or store the raw name or number (the
 * access log gets masked normal forms; tenancy/ masks and hashes the audit
 * row), or leave the daily limit's in-flight count owed.
 */
#include "api/call.h"

#include <math.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/routes.h"

#define JSON_UTF8 "application/json; charset=utf-8"

const char *call_refusal_code(call_refusal why)
{
    switch (why) {
    case CALL_APP_FROZEN: return "app_frozen";
    case CALL_APP_DISABLED: return "app_disabled";
    case CALL_IP_DENIED: return "ip_not_allowed";
    case CALL_RATE_LIMITED: return "rate_limited";
    case CALL_DAILY_LIMIT: return "daily_limit_exceeded";
    case CALL_SUBJECT_CAP: return "subject_daily_cap";
    case CALL_QUOTA_EXHAUSTED: return "quota_exhausted";
    case CALL_UNAVAILABLE: return "unavailable";
    case CALL_INTERNAL: default: return "internal";
    }
}

void call_retry_after_text(double seconds, char out[24])
{
    double s = seconds > 1.0 ? ceil(seconds) : 1.0; /* also NaN → 1 */
    if (s > 172800.0)
        s = 172800.0;
    snprintf(out, 24, "%.0f", s);
}

/* ------------------------------------------- idempotent calls in flight */

/* A retry that arrives while its first call is still running must not run
 * (and charge) a second time: calls holding an idempotency key claim
 * (app, product, key) here while they run; a second call with the same
 * claim waits (at most IDEM_WAIT_MS) for the first to be recorded, then
 * finds its stored answer. Within one server process. */
#define IDEM_SLOTS 128
#define IDEM_WAIT_MS 10000
#define IDEM_KEY_MAX 128

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

int call_idem_claim(int64_t app_id, const char *product, const char *key)
{
    return idem_claim(app_id, product, key);
}

void call_idem_release(int slot)
{
    idem_release(slot);
}

/* Answer a stored idempotent answer, if (app, product, key) has one.
 * true when the request has been answered (replayed, or refused). */
static bool replayed(http_request *req, tenancy *t, const call_spec *spec)
{
    int status = 0;
    char *stored = NULL;
    size_t len = 0;
    tn_status st =
        tenancy_idem_get(t, req->app_id, spec->product, spec->idem_key, &status, &stored, &len);
    if (st == TN_ERR_NOT_FOUND)
        return false;
    if (st != TN_OK || stored == NULL || status < 100 || status > 599) {
        free(stored);
        spec->refuse(spec->ctx, req, CALL_UNAVAILABLE, 1.0);
        return true;
    }
    reply_bytes_with(req, (unsigned)status, JSON_UTF8, stored, len, "Idempotent-Replay", "true");
    OPENSSL_cleanse(stored, len);
    free(stored);
    return true;
}

/* ------------------------------------------------------------ the call */

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static void answer_free(call_answer *a)
{
    if (a->body != NULL) {
        OPENSSL_cleanse(a->body, a->len);
        free(a->body);
    }
    a->body = NULL;
}

static void send_answer(http_request *req, const call_answer *a)
{
    reply_bytes_headers(req, a->status, a->content_type, a->body, a->len, a->headers,
                        a->n_headers);
}

/* A call whose record is queued: owns what the record borrows until the
 * writer calls back (call_recorded). */
typedef struct {
    http_request *req;
    tenancy *t;
    call_spec spec;     /* copy: ctx, callbacks */
    verify_result r;    /* the normal forms (id18, name) the record borrows */
    call_answer ans;
    int idem_slot;
    char idem[IDEM_KEY_MAX + 1];
} pending_call;

static void end_call(const call_spec *spec)
{
    if (spec->release != NULL)
        spec->release(spec->ctx);
}

/* tn_record_done, on the writer thread after the commit (or in call_run
 * when the record could not be queued). */
static void call_recorded(void *arg, tn_record_result rr)
{
    pending_call *c = arg;
    http_request *req = c->req;
    switch (rr) {
    case TN_RECORDED_NO_QUOTA:
        c->spec.refuse(c->spec.ctx, req, CALL_QUOTA_EXHAUSTED, 0);
        break;
    case TN_RECORD_FAILED:
        c->spec.refuse(c->spec.ctx, req, CALL_UNAVAILABLE, 1.0);
        break;
    case TN_RECORDED_CHARGED:
    case TN_RECORDED_FREE:
    default:
        send_answer(req, &c->ans);
        break;
    }
    /* Recorded or failed: no longer in flight for the daily limit, and a
     * repeat of the key may go on (it finds the committed answer). */
    if (req->metered)
        tenancy_admit_done(c->t, req->app_id);
    idem_release(c->idem_slot);
    answer_free(&c->ans);
    verify_result_clear(&c->r);
    end_call(&c->spec);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
    request_resume(req); /* last: req may be gone as soon as it returns */
}

/* Admission for a front that authenticated the app itself. 0: go on;
 * -1: refused (answered). */
static int admit(http_request *req, tenancy *t, const call_spec *spec)
{
    const tn_app *app = spec->app;
    req->app_id = app->id;
    snprintf(req->app, sizeof req->app, "%s", app->name);
    double retry = 0;
    tn_admit a = tenancy_admit(t, app, spec->product, req->remote, &retry);
    call_refusal why;
    switch (a) {
    case TN_ADMIT_OK:
        req->metered = true;
        return 0;
    case TN_ADMIT_NO_QUOTA:
        req->free_only = true;
        return 0;
    case TN_ADMIT_FROZEN: why = CALL_APP_FROZEN; break;
    case TN_ADMIT_DISABLED: why = CALL_APP_DISABLED; break;
    case TN_ADMIT_IP_DENIED: why = CALL_IP_DENIED; break;
    case TN_ADMIT_RATE_LIMITED: why = CALL_RATE_LIMITED; break;
    case TN_ADMIT_DAILY_LIMIT: why = CALL_DAILY_LIMIT; break;
    case TN_ADMIT_UNAVAILABLE: default: why = CALL_UNAVAILABLE; break;
    }
    spec->refuse(spec->ctx, req, why, retry);
    return -1;
}

static bool run(http_request *req, const call_spec *spec, tenancy *t, int slot);

void call_run(http_request *req, const call_spec *spec)
{
    tenancy *t = api_context_tenancy(req->ctx);
    if (t != NULL && !spec->admitted && admit(req, t, spec) != 0) {
        end_call(spec);
        return;
    }
    /* Admitted here: the in-flight count is ours to release, unless the
     * reply is deferred (the completion releases it). With the guard
     * (spec->admitted) the guard releases it. */
    bool own_admission = t != NULL && !spec->admitted;
    int slot = -1;
    bool deferred = false;
    if (t != NULL && spec->idem_key != NULL) {
        /* A repeat waiting here for its first call blocks this HTTP thread
         * (at most IDEM_WAIT_MS): rare, and the first call's completion
         * runs on the writer thread, so the wait cannot hold it up. */
        slot = idem_claim(req->app_id, spec->product, spec->idem_key);
        if (!replayed(req, t, spec))
            deferred = run(req, spec, t, slot);
    } else {
        deferred = run(req, spec, t, slot);
    }
    if (!deferred) {
        idem_release(slot);
        end_call(spec);
        if (own_admission && req->metered)
            tenancy_admit_done(t, req->app_id);
    }
}

static void decide(registry *reg, const call_spec *spec, verify_result *r)
{
    if (spec->id4)
        verify_id4(reg, &spec->vr, r);
    else
        verify_id2(reg, &spec->vr, r);
}

/* Decide, render, record, answer. True when the reply was deferred to the
 * record's completion, which then owns `slot` and the spec's ctx. */
static bool run(http_request *req, const call_spec *spec, tenancy *t, int slot)
{
    const verify_request *vr = &spec->vr;
    verify_result r;

    /* The per-identity caps count well-formed identities only, before the
     * registry is asked (so that a capped call learns nothing). */
    if (t != NULL && spec->subject_caps) {
        decide(NULL, spec, &r);
        bool well_formed = r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE;
        bool within = !well_formed ||
                      tenancy_subject_take(t, spec->product, r.id.id18, r.name.text, r.name.len);
        verify_result_clear(&r);
        if (!within) {
            spec->refuse(spec->ctx, req, CALL_SUBJECT_CAP, 0);
            return false;
        }
    }

    /* With no quota left only the registry-free checks run. */
    registry *reg = req->free_only ? NULL : api_context_registry(req->ctx);
    decide(reg, spec, &r);

    /* The log shows the forms the registry compares (阿**·***, 110…002X). */
    if (r.id_status == SM_ID_OK)
        request_set_subject_id(req, r.id.id18, strlen(r.id.id18));
    else
        request_set_subject_id(req, vr->id_number, vr->id_len);
    if (r.name_status == SM_NAME_OK && r.name.len > 0)
        request_set_subject_name(req, r.name.text, r.name.len);
    else
        request_set_subject_name(req, vr->name, vr->name_len);

    if (req->free_only && r.verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
        verify_result_clear(&r);
        spec->refuse(spec->ctx, req, CALL_QUOTA_EXHAUSTED, 0);
        return false;
    }
    request_set_verdict(req, sm_verdict_code(r.verdict));

    /* The same rule the store charges by (tenancy_record). */
    bool charged = t != NULL && tn_product_charges(spec->product, r.verdict);
    call_answer ans;
    memset(&ans, 0, sizeof ans);
    pending_call *c = NULL;
    if (spec->render(spec->ctx, req, &r, charged, &ans) != 0 || ans.body == NULL ||
        (t != NULL && (c = calloc(1, sizeof *c)) == NULL)) {
        answer_free(&ans);
        verify_result_clear(&r);
        spec->refuse(spec->ctx, req, CALL_INTERNAL, 0);
        return false;
    }

    if (t == NULL) { /* nothing to record: answer now */
        verify_result_clear(&r);
        send_answer(req, &ans);
        answer_free(&ans);
        return false;
    }

    /* The record borrows from `c`, which lives until call_recorded. */
    c->req = req;
    c->t = t;
    c->spec = *spec;
    c->r = r;
    verify_result_clear(&r);
    c->ans = ans;
    c->idem_slot = slot;

    tn_record rec;
    memset(&rec, 0, sizeof rec);
    rec.app_id = req->app_id;
    rec.product = spec->product;
    rec.dialect = spec->dialect;
    rec.request_id = req->id;
    rec.verdict = c->r.verdict;
    rec.vendor_code = c->ans.vendor_code;
    rec.never_charge = c->ans.free;
    if (c->r.id_status == SM_ID_OK)
        rec.id18 = c->r.id.id18;
    else
        rec.id_raw = vr->id_number;
    rec.name = c->r.name_status == SM_NAME_OK && c->r.name.len > 0 ? c->r.name.text : vr->name;
    rec.client_ip = req->remote;
    rec.latency_ms = ms_since(&req->start);
    /* A 5xx is not an answer to keep: a retry must be able to succeed. */
    if (spec->idem_key != NULL && c->ans.status < 500) {
        snprintf(c->idem, sizeof c->idem, "%s", spec->idem_key);
        rec.idem_key = c->idem;
        rec.http_status = (int)c->ans.status;
        rec.body = c->ans.body;
        rec.body_len = c->ans.len;
    }
    /* Deferred before it is queued: the callback may run at once. */
    request_defer(req);
    if (!tenancy_record_async(t, &rec, call_recorded, c))
        call_recorded(c, TN_RECORD_FAILED); /* not queued: nothing recorded */
    return true;
}
