/*
 * call.h — one metered verification call, from admission to answer: the
 * pipeline that the native /v1/verify API and every vendor dialect share,
 * so that a dialect is only a translator (parse its request, authenticate
 * with its scheme, then hand over here with two renderers of its own).
 *
 * What call_run does, in order:
 *   1. admission (unless the guard already did it, spec->admitted): the
 *      app's status, IP allowlist, rate limit, daily limit and quota
 *      (tenancy_admit); a refusal goes to spec->refuse;
 *   2. the per-identity daily caps of the product (tenancy_subject_take),
 *      when spec->subject_caps: over a cap → refuse(CALL_SUBJECT_CAP),
 *      the registry not consulted;
 *   3. idempotency (spec->idem_key): a stored answer is replayed
 *      (Idempotent-Replay: true) without a new charge; a repeat arriving
 *      while its first call runs waits for it;
 *   4. the decision (verify_id2 / verify_id4), with no registry when the
 *      quota is used up: an invalid number, name or period is still
 *      answered (free), anything that needs the registry is refused
 *      (CALL_QUOTA_EXHAUSTED);
 *   5. spec->render turns the verdict into the answer's bytes;
 *   6. the record (tenancy_record_async: audit row with the dialect and its
 *      vendor code, the charge, the idempotent answer), and only once it is
 *      committed the answer is sent — the reply is deferred, the HTTP thread
 *      goes on serving. A record refused for want of quota (the last unit
 *      went to another call) or that failed goes to spec->refuse.
 * With tenancy off (no store) steps 1–3 and 6 are skipped: the answer is
 * sent at once, uncharged.
 *
 * Thread-safety: call_run runs on the HTTP thread; render runs on it too;
 * refuse may run on the tenancy writer thread (after a commit). Both must
 * reply exactly once on `req` with the reply_* functions and must not block.
 *
 * Ownership: call_run always ends the call: it replies (or defers) exactly
 * once, and calls spec->release(spec->ctx) exactly once, after the last
 * callback (the verify_request's strings may live in ctx until then).
 */
#ifndef SHIMING_API_CALL_H
#define SHIMING_API_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "tenancy/tenancy.h"
#include "verify/verify.h"

/* Why a call was not answered with its verdict. */
typedef enum {
    CALL_APP_FROZEN = 0,      /* admission refusals (tenancy_admit) */
    CALL_APP_DISABLED,
    CALL_IP_DENIED,
    CALL_RATE_LIMITED,        /* retry_after_s set */
    CALL_DAILY_LIMIT,         /* the app's daily limit; retry_after_s set */
    CALL_SUBJECT_CAP,         /* a per-identity daily cap of the product */
    CALL_QUOTA_EXHAUSTED,     /* no units left ("balance exhausted"), not charged */
    CALL_UNAVAILABLE,         /* the tenancy store cannot admit or record: nothing charged */
    CALL_INTERNAL,            /* out of memory */
} call_refusal;

/* "app_frozen", "app_disabled", "ip_not_allowed", "rate_limited",
 * "daily_limit_exceeded", "subject_daily_cap", "quota_exhausted",
 * "unavailable", "internal": the native error codes. */
const char *call_refusal_code(call_refusal why);

/* An answer to send: body malloc'ed (call_run takes it; it is zeroed and
 * freed after sending), headers borrowed (static strings, or memory of the
 * spec's ctx). */
#define CALL_HEADERS_MAX 4
typedef struct {
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
    const char *vendor_code;  /* for the audit row (e.g. "-1", "0008"); static or ctx */
    bool free;                /* not charged although the product charges the verdict: the
                                 vendor does not charge this code (CheckIdNameDate -5) */
    http_header headers[CALL_HEADERS_MAX];
    size_t n_headers;
} call_answer;

typedef struct {
    const char *product;      /* tenancy product (static) */
    const char *dialect;      /* "native", "check2e", … (static): audit rows */
    bool id4;                 /* verify_id4 (with the validity period), else verify_id2 */
    bool subject_caps;        /* apply the product's per-identity daily caps */
    verify_request vr;        /* borrowed until release */
    const char *idem_key;     /* client business id, or NULL; borrowed until release */

    /* Admission: either the guard did it (routes.c, native API: req->metered
     * and req->free_only are set), or pass the authenticated app. */
    bool admitted;
    const tn_app *app;        /* when !admitted (read during call_run only) */

    /* Fill `out` for the verdict (`charged`: the call uses a unit).
     * Return 0, or -1 when out of memory (the call then ends in
     * refuse(CALL_INTERNAL)). */
    int (*render)(void *ctx, http_request *req, const verify_result *r, bool charged,
                  call_answer *out);
    /* Reply for a refusal, in the front's own format. */
    void (*refuse)(void *ctx, http_request *req, call_refusal why, double retry_after_s);
    void (*release)(void *ctx); /* NULL: nothing to free */
    void *ctx;
} call_spec;

void call_run(http_request *req, const call_spec *spec);

/* A Retry-After value: whole seconds rounded up, at least 1, at most two
 * days, into out[24]. */
void call_retry_after_text(double seconds, char out[24]);

/* Idempotent calls for fronts that run their call elsewhere (api/ocr.h):
 * claim (app, product, key) while the call runs — waiting, at most 10 s,
 * for a call holding the same claim — and release it once the call is
 * recorded or abandoned. The slot to release, or -1 (none taken; the
 * store still keeps only the first answer). Thread-safe. */
int call_idem_claim(int64_t app_id, const char *product, const char *key);
void call_idem_release(int slot);

#endif
