/*
 * vjob.c — the shared end of the job-based calls (see vjob.h): ending a
 * deferred call, recording it and answering once committed, idempotent
 * replays, and the native fronts' small helpers.
 *
 * Must never: answer a recorded call before its record is committed, or
 * free an answer's body without zeroing it.
 */
#include "api/vjob.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double vjob_ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

void vjob_answer_free(call_answer *a)
{
    if (a->body != NULL) {
        OPENSSL_cleanse(a->body, a->len);
        free(a->body);
    }
    a->body = NULL;
}

void vjob_end(vjob_tail *tl)
{
    http_request *req = tl->req;
    if (req->metered && tl->t != NULL)
        tenancy_admit_done(tl->t, req->app_id);
    call_idem_release(tl->idem_slot);
    vjob_answer_free(&tl->ans);
    tl->free_job(tl);
    request_resume(req); /* last: req may be gone as soon as it returns */
}

static void recorded(void *arg, tn_record_result rr)
{
    vjob_tail *tl = arg;
    switch (rr) {
    case TN_RECORDED_NO_QUOTA:
        tl->refuse(tl->refuse_ctx, tl->req, CALL_QUOTA_EXHAUSTED, 0);
        break;
    case TN_RECORD_FAILED:
        tl->refuse(tl->refuse_ctx, tl->req, CALL_UNAVAILABLE, 1.0);
        break;
    case TN_RECORDED_CHARGED:
    case TN_RECORDED_FREE:
    default:
        reply_bytes_headers(tl->req, tl->ans.status, tl->ans.content_type, tl->ans.body,
                            tl->ans.len, tl->ans.headers, tl->ans.n_headers);
        break;
    }
    vjob_end(tl);
}

void vjob_send(vjob_tail *tl, tn_record *rec, const char *idem_key)
{
    if (tl->t == NULL) {
        reply_bytes_headers(tl->req, tl->ans.status, tl->ans.content_type, tl->ans.body,
                            tl->ans.len, tl->ans.headers, tl->ans.n_headers);
        vjob_end(tl);
        return;
    }
    /* A 5xx is not an answer to keep: a retry must be able to succeed. */
    if (idem_key != NULL && tl->ans.status < 500) {
        rec->idem_key = idem_key;
        rec->http_status = (int)tl->ans.status;
        rec->body = tl->ans.body;
        rec->body_len = tl->ans.len;
    }
    if (!tenancy_record_async(tl->t, rec, recorded, tl))
        recorded(tl, TN_RECORD_FAILED); /* not queued: nothing recorded */
}

bool vjob_replayed(http_request *req, tenancy *t, const char *product, const char *key,
                   vjob_refuse_fn refuse, void *refuse_ctx)
{
    int status = 0;
    char *stored = NULL;
    size_t len = 0;
    tn_status st = tenancy_idem_get(t, req->app_id, product, key, &status, &stored, &len);
    if (st == TN_ERR_NOT_FOUND)
        return false;
    if (st != TN_OK || stored == NULL || status < 100 || status > 599) {
        free(stored);
        refuse(refuse_ctx, req, CALL_UNAVAILABLE, 1.0);
        return true;
    }
    request_set_verdict(req, "replayed");
    reply_bytes_with(req, (unsigned)status, VJOB_JSON_UTF8, stored, len, "Idempotent-Replay",
                     "true");
    OPENSSL_cleanse(stored, len);
    free(stored);
    return true;
}

vjob_start_result vjob_start(http_request *req, vjob_tail *tl, const char *product,
                             const char *idem_key, void (*run)(void *job), void *job)
{
    api_context *ctx = req->ctx;
    tl->req = req;
    tl->t = api_context_tenancy(ctx);
    tl->idem_slot = -1;
    if (tl->t != NULL && idem_key != NULL) {
        /* A repeat waiting here for its first call blocks this HTTP thread
         * (at most 10 s), as in api/call.c. */
        tl->idem_slot = call_idem_claim(req->app_id, product, idem_key);
        if (vjob_replayed(req, tl->t, product, idem_key, tl->refuse, tl->refuse_ctx)) {
            call_idem_release(tl->idem_slot);
            tl->idem_slot = -1;
            return VJOB_ANSWERED;
        }
    }
    if (req->free_only) {
        call_idem_release(tl->idem_slot);
        tl->idem_slot = -1;
        tl->refuse(tl->refuse_ctx, req, CALL_QUOTA_EXHAUSTED, 0);
        return VJOB_ANSWERED;
    }
    /* Deferred before it is queued: the job may finish at once. */
    request_defer(req);
    return vx_jobs_submit(ctx->jobs, run, job) ? VJOB_QUEUED : VJOB_BUSY;
}

double vjob_busy_retry_s(const api_context *ctx)
{
    size_t waiting = vx_jobs_waiting(ctx->jobs);
    unsigned workers = ctx->ocr_workers ? ctx->ocr_workers : 1;
    return 1.0 + (double)waiting / (double)workers;
}

int vjob_idempotency_key(http_request *req, const char **out)
{
    *out = NULL;
    const char *k = request_header(req, "Idempotency-Key");
    if (k == NULL)
        return 0;
    size_t n = strlen(k);
    bool ok = n >= 1 && n <= 128;
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

bool vjob_media_type_is(const char *ct, const char *want)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    const char *p = ct + n;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}

char *vjob_json_bytes(json_t *v, size_t *len)
{
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(8);
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *out = n > 0 ? malloc(n + 2) : NULL;
    if (out != NULL && json_dumpb(v, out, n, flags) == n) {
        out[n] = '\n';
        out[n + 1] = '\0';
        *len = n + 1;
    } else {
        free(out);
        out = NULL;
    }
    json_decref(v);
    return out;
}

void vjob_json_string_cleanse(json_t *v)
{
    if (json_is_string(v))
        OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

void vjob_refuse_native(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    (void)ctx;
    (void)retry_after_s;
    switch (why) {
    case CALL_QUOTA_EXHAUSTED:
        reply_error(req, 403, "quota_exhausted", "balance exhausted: the app has no units left");
        break;
    case CALL_UNAVAILABLE:
        reply_error_with_header(req, 503, "unavailable",
                                "the call could not be recorded; nothing was charged, retry later",
                                "Retry-After", "1");
        break;
    case CALL_INTERNAL:
    default:
        reply_error(req, 500, "internal", "out of memory");
        break;
    }
}
