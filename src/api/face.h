/*
 * face.h — one face call (compare, verify against the registry portrait,
 * or eKYC), shared by the native POST /v1/face/compare, /v1/face/verify and
 * /v1/ekyc (api/face.c), dialect D's EkycVerify (dialects/ekyc_verify.c)
 * and dialect A's image_url (dialects/check2e.c): the job-based sibling of
 * api/ocr.h, with the same shape. A front parses its request, authenticates
 * and admits the app (the native guard, or the dialect itself: req->metered
 * / req->free_only set), checks what it can see itself (missing or
 * duplicated fields, bad base64, an invalid ID number: answered by the
 * front, uncharged), then hands the images here with renderers of its own.
 *
 * What face_call_run does, in order:
 *   1. [vision] enabled = false → render(FACE_DISABLED) at once;
 *   2. idempotency (spec->idem_key, tenancy on), as api/ocr.h; then
 *      req->free_only → refuse(CALL_QUOTA_EXHAUSTED);
 *   3. defer, queue a job (vision/jobs.h); a full queue → render(FACE_BUSY);
 *   4. on a worker: download (net/fetch.h) and decode each image, applying
 *      spec->rules (bytes, formats, resolution) → the image outcomes with
 *      result->bad_image; models not loaded → FACE_UNAVAILABLE; then:
 *        COMPARE: faces of images[0] and [1] (liveness of both); a missing
 *          face → FACE_NO_FACE (bad_image); score, same_person;
 *        VERIFY: face of images[0] (→ FACE_NO_FACE); registry portrait of
 *          spec->id18 (registry_portrait_get): person absent → registry
 *          NOT_FOUND, no template → registry_portrait false, unreachable →
 *          REGISTRY_UNAVAILABLE; else authority_score, same_person;
 *        EKYC: images[0] is the document, images[1] the face (selfie).
 *          The face image must have a face (→ FACE_NO_FACE, bad_image 1).
 *          The document: mainland ID (spec->doc_mainland_id) read by the OCR
 *          pipeline (vision/idcard.h); other types are reported
 *          doc_supported = false (no OCR) but their portrait is still
 *          compared. Document anti-spoofing signals (docs/ekyc.md says which
 *          are measured). The selfie's liveness; selfie vs the document's
 *          portrait (score); with spec->authorize (mainland ID only): the
 *          registry check of name + number (spec->name / spec->id18 when
 *          given, else what the OCR read) and the selfie vs the registry
 *          portrait (authority_score). One decision (ekyc_*), below;
 *   5. with tenancy on, the call is recorded (audit row with the dialect and
 *      spec->render's vendor_code; one unit charged iff outcome FACE_OK and
 *      a decision was made — the products charge SM_VERDICT_MATCH (passed /
 *      same person) and SM_VERDICT_MISMATCH (not passed / another person);
 *      every other outcome is free) and the answer is sent once the record
 *      is committed; refusals go to spec->refuse.
 *
 * eKYC decision (result->subcode, the seed 003 codes; first that applies):
 *   212 document anti-spoofing risk; 205 selfie liveness risk; 204 selfie vs
 *   document portrait below the threshold, or no face on the document;
 *   with authorize: 202 not in the registry, 201 name/number mismatch,
 *   209 registry unavailable, 203 no registry portrait, 207 selfie vs
 *   registry portrait below the threshold; else 200 (passed).
 *
 * Thread-safety and ownership: as api/ocr.h (render on a worker or the
 * HTTP thread, refuse on any; each replies exactly once and never blocks;
 * face_call_run takes the images (zeroed and freed) and calls
 * spec->release(spec->ctx) exactly once, last).
 * Must never: run decoding or inference on an HTTP thread, answer a
 * charged call before its record is committed, log an image, a URL, an
 * embedding or a field read off a document.
 */
#ifndef SHIMING_API_FACE_H
#define SHIMING_API_FACE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/call.h"
#include "api/routes.h"
#include "http/request.h"
#include "vision/face.h"
#include "vision/idcard.h"

typedef enum { FACE_CALL_COMPARE = 0, FACE_CALL_VERIFY, FACE_CALL_EKYC } face_call_kind;

typedef enum {
    FACE_OK = 0,             /* decided: see the result */
    FACE_DISABLED,           /* [vision] enabled = false */
    FACE_BUSY,               /* queue full: retry_after_s */
    FACE_UNAVAILABLE,        /* the face (or OCR, for eKYC) models are not loaded */
    FACE_IMAGE_TOO_LARGE,    /* over rules.max_bytes or the pixel limit (a download too) */
    FACE_IMAGE_RESOLUTION,   /* outside rules' width/height bounds (or under 15 px) */
    FACE_UNSUPPORTED_IMAGE,  /* a format the rules or the decoder do not take */
    FACE_CORRUPT_IMAGE,
    FACE_URL_INVALID,
    FACE_FETCH_FORBIDDEN,
    FACE_FETCH_TIMEOUT,
    FACE_FETCH_FAILED,
    FACE_NO_FACE,            /* no face where one is needed (bad_image) */
    FACE_FAILED,             /* internal */
    FACE_NOMEM,
} face_outcome;

/* Native error code ("face_disabled", "image_too_large", "no_face", …; "ok"),
 * HTTP status and a message for people (never a request value). */
const char *face_outcome_code(face_outcome o);
unsigned face_outcome_status(face_outcome o);
const char *face_outcome_message(face_outcome o);

typedef struct {
    unsigned char *bytes;  /* the image (malloc'ed, taken) … */
    size_t len;
    char *url;             /* … or its URL (malloc'ed, taken) */
} face_image_in;

/* Per-front image rules; zero fields = the native defaults ([vision]
 * max_upload, any decodable format, 15 px minimum). Dialect D: JPEG/PNG,
 * at most 1 MB, 640×480 … 1920×1080 (either orientation). */
typedef struct {
    size_t max_bytes;
    bool jpeg_png_only;
    int min_short, min_long;  /* shorter / longer side at least */
    int max_short, max_long;  /* shorter / longer side at most (0 = no bound) */
} face_image_rules;

#define FACE_REASONS_MAX 8

typedef struct {
    face_outcome outcome;
    int bad_image;               /* the image an image/fetch/no-face outcome is about */
    int fetch_http_status;       /* FACE_FETCH_FAILED after an answer other than 200 */
    double retry_after_s;        /* FACE_BUSY */
    double timing_ms;            /* since the request arrived, when rendered */

    /* COMPARE: [0], [1] the two images. VERIFY: [0] the image. EKYC: [0]
     * the document's portrait, [1] the selfie. */
    vx_face_result faces[2];
    double score;                /* COMPARE: [0] vs [1]; EKYC: selfie vs document; -1 none */
    bool same_person;            /* COMPARE / VERIFY: score (or authority_score) >= threshold */

    /* VERIFY, and EKYC with authorize */
    bool registry_checked;
    sm_verdict registry_verdict; /* MATCH, MISMATCH, NOT_FOUND, REGISTRY_UNAVAILABLE (VERIFY:
                                    MATCH when the person exists) */
    bool registry_portrait;      /* a portrait template was on file */
    double authority_score;      /* vs the registry portrait; -1 none */

    /* EKYC */
    bool doc_supported;          /* a mainland ID: read by OCR */
    vx_idcard_result card;       /* when doc_supported */
    bool id_passed;              /* the document was read as a normal card with a valid number */
    bool doc_spoof;              /* anti-spoofing risk on the document */
    const char *doc_spoof_type;  /* "screen_recapture", "photocopy", … (static) or NULL */
    bool live;                   /* selfie liveness >= vx_face_live_threshold */
    bool passed;
    int subcode;                 /* 200 … 212 (see above) */
    const char *reasons[FACE_REASONS_MAX]; /* stable codes, static: "document_spoof",
                                              "liveness_risk", "face_mismatch", … */
    size_t n_reasons;
} face_result;

typedef struct {
    face_call_kind kind;
    const char *product;         /* tenancy product (static) */
    const char *dialect;         /* "native", "ekyc_verify", "check2e" (static) */
    face_image_in images[2];     /* COMPARE: 2; VERIFY: [0]; EKYC: [0] document, [1] face */
    face_image_rules rules;
    char id18[19];               /* VERIFY: required; EKYC: the given number or "" */
    char name[192];              /* EKYC: the given name (normalised) or "" */
    bool authorize;              /* EKYC: check against the registry */
    bool doc_mainland_id;        /* EKYC: DocType 00000001 */
    const char *idem_key;        /* borrowed: a header or ctx memory, valid until release */
    int (*render)(void *ctx, http_request *req, const face_result *r, bool charged,
                  call_answer *out);
    void (*refuse)(void *ctx, http_request *req, call_refusal why, double retry_after_s);
    void (*release)(void *ctx);
    void *ctx;
} face_call_spec;

void face_call_run(http_request *req, face_call_spec *spec);

/* Step 4 alone, on the calling thread, for callers without HTTP (the CLI,
 * `shiming ekyc`): download, decode and analyse spec's images with the
 * engines of `ctx` (ctx->face, ctx->ocr, ctx->fetch, its registry) and
 * decide into *r (zero it first; vx_face_result_clear / vx_idcard_result_clear
 * its parts when done). Takes the images (zeroed and freed); touches no
 * tenancy, renders nothing. request_id (may be NULL) only for log lines. */
void face_call_decide(api_context *ctx, face_call_spec *spec, face_result *r,
                      const char *request_id);

#endif
