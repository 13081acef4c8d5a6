/*
 * vjob.h — what the job-based calls (api/ocr.c, api/face.c) share: the
 * deferred call's end (admission done, idempotency claim released, the
 * job freed, the connection resumed), the record-then-answer step, the
 * idempotent replay, the busy estimate, and the small pieces of their
 * native fronts (the Idempotency-Key header, media types, compact JSON,
 * the refusals in the native error shape, zeroing JSON strings).
 *
 * Internal to api/: the fronts' contracts are api/ocr.h and api/face.h.
 *
 * Thread-safety: every function may run on any thread; a vjob_tail is
 * touched by one thread at a time (the HTTP thread, then a worker, then
 * the tenancy writer), as the call moves on.
 * Must never: answer a recorded call before its record is committed, or
 * free an answer's body without zeroing it.
 */
#ifndef SHIMING_API_VJOB_H
#define SHIMING_API_VJOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/call.h"
#include "api/routes.h"
#include "http/request.h"
#include "tenancy/tenancy.h"

#define VJOB_JSON_UTF8 "application/json; charset=utf-8"

typedef void (*vjob_refuse_fn)(void *ctx, http_request *req, call_refusal why,
                               double retry_after_s);

/* The part of a deferred job that ends it: embedded in the job. */
typedef struct vjob_tail {
    http_request *req;
    tenancy *t;                 /* NULL = tenancy off */
    call_answer ans;            /* the rendered answer (body zeroed and freed at the end) */
    int idem_slot;              /* call_idem_claim's, -1 = none */
    vjob_refuse_fn refuse;
    void *refuse_ctx;
    /* Free the job that embeds this tail (its inputs, results, the front's
     * ctx): called once, by vjob_end, before the connection resumes. */
    void (*free_job)(struct vjob_tail *tail);
} vjob_tail;

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double vjob_ms_since(const struct timespec *t0);

/* Zero and free an answer's body. */
void vjob_answer_free(call_answer *a);

/* The end of a deferred call: tenancy_admit_done (metered), the claim
 * released, free_job, then request_resume (last: req may go at once). */
void vjob_end(vjob_tail *tl);

/* Send tl->ans: at once with tenancy off; else record `rec` (its
 * idempotent answer filled in here from tl->ans when idem_key is set and
 * the status is under 500) and answer once committed (a refusal for want
 * of quota or a failed record goes to tl->refuse). Ends the call. */
void vjob_send(vjob_tail *tl, tn_record *rec, const char *idem_key);

/* The stored idempotent answer of (app, product, key) replayed
 * (Idempotent-Replay: true). true when answered (replayed, or refused as
 * unavailable through `refuse`). */
bool vjob_replayed(http_request *req, tenancy *t, const char *product, const char *key,
                   vjob_refuse_fn refuse, void *refuse_ctx);

/* How vjob_start left the call. */
typedef enum {
    VJOB_QUEUED = 0,   /* deferred and queued: `run` will end it */
    VJOB_ANSWERED,     /* answered here (an idempotent replay, or refused through tl->refuse:
                          no units left); nothing deferred, the job not queued: the caller
                          frees the job shell and its input */
    VJOB_BUSY,         /* deferred but the queue is full: the caller replies busy, then
                          ends the call with vjob_end(tl) */
} vjob_start_result;

/* The start every job-based call shares, on the HTTP thread: the
 * idempotency claim and replay (tenancy on and idem_key set), req->free_only
 * (nothing can be charged: refuse(CALL_QUOTA_EXHAUSTED) before any work),
 * then defer the reply and queue run(job) on the worker pool. `tl` is
 * embedded in `job`; its refuse, refuse_ctx and free_job are set by the
 * caller, the rest here. */
vjob_start_result vjob_start(http_request *req, vjob_tail *tl, const char *product,
                             const char *idem_key, void (*run)(void *job), void *job);

/* A rough wait for Retry-After: the jobs ahead, a second each, over the workers. */
double vjob_busy_retry_s(const api_context *ctx);

/* ---- native fronts */

/* The Idempotency-Key header: 1 to 128 printable ASCII characters, or
 * absent (*out NULL). 0, or -1 after having replied 400 invalid_field. */
int vjob_idempotency_key(http_request *req, const char **out);

/* The media type of Content-Type (parameters ignored) is `want`. */
bool vjob_media_type_is(const char *ct, const char *want);

/* `v` (stolen) as compact JSON plus "\n", reals at 8 significant digits.
 * malloc'ed; NULL when out of memory. */
char *vjob_json_bytes(json_t *v, size_t *len);

/* Zero a JSON string's bytes in place (an image or a URL). NULL-safe. */
void vjob_json_string_cleanse(json_t *v);

/* The refusals in the native error shape (403 quota_exhausted, 503
 * unavailable with Retry-After, 500 internal). */
void vjob_refuse_native(void *ctx, http_request *req, call_refusal why, double retry_after_s);

#endif
