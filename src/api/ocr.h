/*
 * ocr.h — one ID-card OCR call, shared by the native POST /v1/ocr/idcard
 * (api/ocr.c) and dialect E (dialects/pyi_ocr.c): the job-based sibling of
 * api/call.h's verification call. A front parses its request and
 * authenticates and admits the app (the native guard, or the dialect
 * itself: req->metered / req->free_only set), then hands the image (bytes
 * or a URL) here with a renderer of its own.
 *
 * What ocr_call_run does, in order:
 *   1. [vision] enabled = false → render(OCR_DISABLED), answered at once;
 *   2. idempotency (spec->idem_key, tenancy on): a stored answer of (app,
 *      product, key) is replayed (Idempotent-Replay: true) without a new
 *      charge; a repeat arriving while its first call runs waits for it;
 *      then req->free_only (no units left) → refuse(CALL_QUOTA_EXHAUSTED):
 *      a read is the only charged answer, so nothing is run;
 *   3. the reply is deferred and a job is queued on the worker pool
 *      (vision/jobs.h); a full queue → render(OCR_BUSY) with
 *      result->retry_after_s, at once;
 *   4. on a worker: download (net/fetch.h, when a URL was given), decode
 *      (vision/image.h), then — the models being loaded, else
 *      OCR_UNAVAILABLE — read the card (vision/idcard.h); the outcome is
 *      rendered by spec->render on the worker;
 *   5. with tenancy on, the call is recorded (audit row with the dialect
 *      and spec->render's vendor_code; one unit charged iff the outcome is
 *      OCR_OK, the product charging SM_VERDICT_MATCH, which stands for "a
 *      card was read" in the OCR products) and the answer is sent once the
 *      record is committed; a record refused for want of quota or that
 *      failed goes to spec->refuse. Answers under 500 are kept with the
 *      record for the idempotency key.
 * Input errors the front can see itself (bad base64, missing fields) are
 * answered by the front before this, uncharged and unrecorded.
 *
 * Thread-safety: ocr_call_run runs on the HTTP thread; render runs on a
 * worker or on the HTTP thread (steps 1 and 3); refuse on the HTTP thread,
 * a worker or the tenancy writer. Both reply exactly once and never block.
 * Ownership: ocr_call_run always ends the call: it answers (or defers and
 * answers later) exactly once, takes spec->image / spec->url (zeroed and
 * freed), and calls spec->release(spec->ctx) exactly once, last.
 * After it returns, when req->deferred is set, the front must not touch
 * req (the admission's tenancy_admit_done is then the completion's job).
 */
#ifndef SHIMING_API_OCR_H
#define SHIMING_API_OCR_H

#include <stdbool.h>
#include <stddef.h>

#include "api/call.h"
#include "http/request.h"
#include "vision/idcard.h"

typedef enum {
    OCR_OK = 0,             /* read: card is set (its status may be non_idcard, …) */
    OCR_DISABLED,           /* [vision] enabled = false */
    OCR_BUSY,               /* the job queue is full: retry_after_s */
    OCR_UNAVAILABLE,        /* the models could not be loaded at start */
    OCR_IMAGE_TOO_LARGE,    /* over the byte or pixel limits (a download too) */
    OCR_IMAGE_TOO_SMALL,    /* shorter side under 15 px */
    OCR_UNSUPPORTED_IMAGE,  /* not JPEG / PNG / BMP / WebP */
    OCR_CORRUPT_IMAGE,      /* truncated or undecodable */
    OCR_URL_INVALID,        /* not an http(s) URL of at most 1024 bytes */
    OCR_FETCH_FORBIDDEN,    /* the SSRF guard refused the address */
    OCR_FETCH_TIMEOUT,
    OCR_FETCH_FAILED,       /* DNS, connection, TLS, or a status other than 200 */
    OCR_FAILED,             /* the reader failed (internal) */
    OCR_NOMEM,
} ocr_outcome;

/* The native error code of an outcome ("ocr_disabled", "image_too_large",
 * "fetch_forbidden", …; "ok" for OCR_OK), its HTTP status, and a message
 * for people (never a request value). */
const char *ocr_outcome_code(ocr_outcome o);
unsigned ocr_outcome_status(ocr_outcome o);
const char *ocr_outcome_message(ocr_outcome o);

typedef struct {
    ocr_outcome outcome;
    vx_idcard_result card;      /* OCR_OK only (else zero) */
    int fetch_http_status;      /* OCR_FETCH_FAILED after an answer other than 200; else 0 */
    double retry_after_s;       /* OCR_BUSY */
    double timing_ms;           /* since the request arrived, when rendered */
} ocr_result;

typedef struct {
    const char *product;        /* tenancy product (static) */
    const char *dialect;        /* "native", "pyi_ocr" (static): audit rows */
    vx_side want;               /* VX_SIDE_UNKNOWN = auto */
    unsigned char *image;       /* the image's bytes (malloc'ed, taken), or NULL … */
    size_t image_len;
    char *url;                  /* … its URL (malloc'ed, taken) */
    const char *idem_key;       /* client's Idempotency-Key, or NULL; borrowed (a header of
                                   req: valid until the reply is sent) */
    /* Fill `out` for the result (`charged`: the call uses a unit). 0, or
     * -1 when out of memory (the call then ends in refuse(CALL_INTERNAL)). */
    int (*render)(void *ctx, http_request *req, const ocr_result *r, bool charged,
                  call_answer *out);
    /* Reply for CALL_QUOTA_EXHAUSTED, CALL_UNAVAILABLE, CALL_INTERNAL. */
    void (*refuse)(void *ctx, http_request *req, call_refusal why, double retry_after_s);
    void (*release)(void *ctx); /* NULL: nothing to free */
    void *ctx;
} ocr_call_spec;

void ocr_call_run(http_request *req, const ocr_call_spec *spec);

/* Decode base64 (standard or URL-safe alphabet, padding optional, ASCII
 * whitespace ignored, an optional "data:…;base64," prefix skipped) into a
 * new buffer. false on bad input (nothing allocated) or out of memory
 * (*nomem set). Thread-safe. */
bool ocr_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len,
                       bool *nomem);

/* An "image_url" / "url_image" value that is meant as a URL rather than
 * base64 data: it starts with a scheme followed by "://". */
bool ocr_looks_like_url(const char *s, size_t len);

#endif
