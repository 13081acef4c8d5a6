/*
 * face.c — face calls (see face.h): the job that downloads, decodes and
 * analyses the images off the HTTP threads, decides, records the call and
 * answers; and the native fronts POST /v1/face/compare, /v1/face/verify
 * and /v1/ekyc (docs/ekyc.md).
 *
 * Native requests: JSON, or multipart/form-data (file parts for the
 * images, text parts for the rest). Images: `<slot>_base64`, `<slot>_url`,
 * or `<slot>` (a URL when it looks like one, else base64); exactly one
 * form per image. Slots: compare image_a, image_b; verify image; eKYC
 * doc_image, face_image.
 *
 * Must never: run decoding or inference on an HTTP thread, answer a
 * charged call before its record is committed, log or put in an error an
 * image, a URL, an embedding or a field read off a document, or free an
 * image (bytes or pixels) or a result without zeroing it.
 */
#include "api/face.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/ocr.h"
#include "api/routes.h"
#include "api/vjob.h"
#include "http/accesslog.h"
#include "net/fetch.h"
#include "vision/docspoof.h"
#include "vision/image.h"

/* ------------------------------------------------------------- outcomes */

static const struct {
    const char *code;
    unsigned status;
    const char *message;
} outcomes[] = {
    [FACE_OK] = {"ok", 200, "decided"},
    [FACE_DISABLED] = {"face_disabled", 503,
                       "faces disabled: the vision pipeline is switched off on this server "
                       "([vision] enabled = false)"},
    [FACE_BUSY] = {"face_busy", 503,
                   "every vision worker is busy and the queue is full; retry later"},
    [FACE_UNAVAILABLE] = {"face_unavailable", 503,
                          "the face (or OCR) models could not be loaded when the server "
                          "started (see its log); faces are unavailable"},
    [FACE_IMAGE_TOO_LARGE] = {"image_too_large", 413,
                              "the image is too large (bytes, or width x height)"},
    [FACE_IMAGE_RESOLUTION] = {"image_resolution", 422,
                               "the image's width or height is outside the accepted range"},
    [FACE_UNSUPPORTED_IMAGE] = {"unsupported_image", 415,
                                "the image is not in an accepted format"},
    [FACE_CORRUPT_IMAGE] = {"corrupt_image", 422, "the image is truncated or cannot be decoded"},
    [FACE_URL_INVALID] = {"invalid_url", 400,
                          "the image URL must be an http or https URL of at most 1024 bytes"},
    [FACE_FETCH_FORBIDDEN] = {"fetch_forbidden", 422,
                              "the image URL points to an address this server may not fetch "
                              "from (loopback, private, link-local, ...)"},
    [FACE_FETCH_TIMEOUT] = {"fetch_timeout", 504, "the image URL did not answer in time"},
    [FACE_FETCH_FAILED] = {"fetch_failed", 502, "the image could not be downloaded from its URL"},
    [FACE_NO_FACE] = {"no_face", 422, "no face was found in the image"},
    [FACE_FAILED] = {"face_failed", 500, "the images could not be analysed (internal error)"},
    [FACE_NOMEM] = {"internal", 500, "out of memory"},
};

const char *face_outcome_code(face_outcome o)
{
    return (unsigned)o <= FACE_NOMEM ? outcomes[o].code : "internal";
}

unsigned face_outcome_status(face_outcome o)
{
    return (unsigned)o <= FACE_NOMEM ? outcomes[o].status : 500;
}

const char *face_outcome_message(face_outcome o)
{
    return (unsigned)o <= FACE_NOMEM ? outcomes[o].message : "internal error";
}

/* ------------------------------------------------------------- the call */

typedef struct {
    vjob_tail tl;               /* first: the call's end (vjob.h) */
    api_context *ctx;
    face_call_spec spec;        /* copy; images taken */
    face_result r;
    char id18[19];              /* the subject (for the record) */
    char name[256];
} face_job;

static size_t n_images(face_call_kind k)
{
    return k == FACE_CALL_VERIFY ? 1 : 2;
}

static void image_in_free(face_image_in *in)
{
    if (in->bytes != NULL) {
        OPENSSL_cleanse(in->bytes, in->len);
        free(in->bytes);
        in->bytes = NULL;
        in->len = 0;
    }
    if (in->url != NULL) {
        OPENSSL_cleanse(in->url, strlen(in->url));
        free(in->url);
        in->url = NULL;
    }
}

static void spec_free_input(face_call_spec *s)
{
    for (size_t i = 0; i < 2; i++)
        image_in_free(&s->images[i]);
}

static void result_clear(face_result *r)
{
    vx_face_result_clear(&r->faces[0]);
    vx_face_result_clear(&r->faces[1]);
    vx_idcard_result_clear(&r->card);
    OPENSSL_cleanse(r, sizeof *r);
}

/* The record's verdict: what the products charge (MATCH, MISMATCH) only
 * for a decision about the person. */
static sm_verdict result_verdict(const face_call_spec *spec, const face_result *r)
{
    switch (r->outcome) {
    case FACE_OK: break;
    case FACE_NO_FACE: return SM_VERDICT_NO_FACE;
    case FACE_DISABLED:
    case FACE_BUSY:
    case FACE_UNAVAILABLE:
    case FACE_FAILED:
    case FACE_NOMEM: return SM_VERDICT_REGISTRY_UNAVAILABLE;
    default: return SM_VERDICT_INVALID_IMAGE;
    }
    switch (spec->kind) {
    case FACE_CALL_COMPARE: return r->same_person ? SM_VERDICT_MATCH : SM_VERDICT_MISMATCH;
    case FACE_CALL_VERIFY:
        if (r->registry_verdict == SM_VERDICT_REGISTRY_UNAVAILABLE)
            return SM_VERDICT_REGISTRY_UNAVAILABLE;
        if (r->registry_verdict == SM_VERDICT_NOT_FOUND || !r->registry_portrait)
            return SM_VERDICT_NOT_FOUND; /* nothing to compare with: free */
        return r->same_person ? SM_VERDICT_MATCH : SM_VERDICT_MISMATCH;
    case FACE_CALL_EKYC:
    default:
        if (r->subcode == 209)
            return SM_VERDICT_REGISTRY_UNAVAILABLE; /* an outage is not a decision */
        return r->passed ? SM_VERDICT_MATCH : SM_VERDICT_MISMATCH;
    }
}

static const char *verdict_log(const face_call_spec *spec, const face_result *r)
{
    if (r->outcome != FACE_OK)
        return face_outcome_code(r->outcome);
    if (spec->kind == FACE_CALL_EKYC)
        return r->passed ? "passed" : "not_passed";
    return r->same_person ? "same_person" : "not_same_person";
}

/* Render and send an answer that is not recorded (steps 1 and 3). */
static void answer_now(http_request *req, const face_call_spec *spec, face_result *r)
{
    call_answer ans;
    memset(&ans, 0, sizeof ans);
    r->timing_ms = vjob_ms_since(&req->start);
    request_set_verdict(req, face_outcome_code(r->outcome));
    if (spec->render(spec->ctx, req, r, false, &ans) != 0 || ans.body == NULL) {
        vjob_answer_free(&ans);
        spec->refuse(spec->ctx, req, CALL_INTERNAL, 0);
        return;
    }
    reply_bytes_headers(req, ans.status, ans.content_type, ans.body, ans.len, ans.headers,
                        ans.n_headers);
    vjob_answer_free(&ans);
}

static void job_free(vjob_tail *tl)
{
    face_job *j = (face_job *)tl;
    spec_free_input(&j->spec);
    result_clear(&j->r);
    if (j->spec.release != NULL)
        j->spec.release(j->spec.ctx);
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
}

static face_outcome fetch_outcome(fetch_status st)
{
    switch (st) {
    case FETCH_OK: return FACE_OK;
    case FETCH_BAD_URL: return FACE_URL_INVALID;
    case FETCH_FORBIDDEN: return FACE_FETCH_FORBIDDEN;
    case FETCH_TIMEOUT: return FACE_FETCH_TIMEOUT;
    case FETCH_TOO_LARGE: return FACE_IMAGE_TOO_LARGE;
    case FETCH_NOMEM: return FACE_NOMEM;
    case FETCH_HTTP_STATUS:
    case FETCH_FAILED:
    default: return FACE_FETCH_FAILED;
    }
}

static face_outcome image_outcome(vx_img_status st)
{
    switch (st) {
    case VX_IMG_OK: return FACE_OK;
    case VX_IMG_TOO_LARGE: return FACE_IMAGE_TOO_LARGE;
    case VX_IMG_TOO_SMALL: return FACE_IMAGE_RESOLUTION;
    case VX_IMG_UNSUPPORTED: return FACE_UNSUPPORTED_IMAGE;
    case VX_IMG_NOMEM: return FACE_NOMEM;
    case VX_IMG_CORRUPT:
    default: return FACE_CORRUPT_IMAGE;
    }
}

/* JPEG (FF D8 FF) or PNG (89 'P' 'N' 'G' 0D 0A 1A 0A), by the bytes. */
static bool is_jpeg_png(const unsigned char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    return (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) ||
           (n >= 8 && memcmp(b, png, 8) == 0);
}

/* Fetch (a URL), check the rules, decode: *img. The input's bytes are
 * zeroed and freed in any case. */
static face_outcome load_image(api_context *ctx, face_image_in *in, const face_image_rules *ru,
                               vx_image *img)
{
    if (in->url != NULL) {
        char *body = NULL;
        size_t len = 0;
        fetch_options fo = ctx != NULL ? ctx->fetch : (fetch_options){0};
        if (ru->max_bytes > 0 && (fo.max_bytes == 0 || fo.max_bytes > ru->max_bytes))
            fo.max_bytes = ru->max_bytes;
        fetch_status fs = fetch_url(in->url, &fo, &body, &len);
        if (fs != FETCH_OK) {
            image_in_free(in);
            return fetch_outcome(fs);
        }
        OPENSSL_cleanse(in->url, strlen(in->url));
        free(in->url);
        in->url = NULL;
        in->bytes = (unsigned char *)body;
        in->len = len;
    }
    face_outcome o = FACE_OK;
    if (in->bytes == NULL || in->len == 0)
        o = FACE_CORRUPT_IMAGE;
    else if (ru->max_bytes > 0 && in->len > ru->max_bytes)
        o = FACE_IMAGE_TOO_LARGE;
    else if (ru->jpeg_png_only && !is_jpeg_png(in->bytes, in->len))
        o = FACE_UNSUPPORTED_IMAGE;
    if (o == FACE_OK) {
        vx_image_limits lim;
        memset(&lim, 0, sizeof lim);
        if (ru->max_bytes > 0)
            lim.max_bytes = ru->max_bytes;
        o = image_outcome(vx_image_decode(in->bytes, in->len, &lim, img));
    }
    image_in_free(in);
    if (o != FACE_OK)
        return o;
    int s = img->width < img->height ? img->width : img->height;
    int l = img->width < img->height ? img->height : img->width;
    if (s < ru->min_short || l < ru->min_long || (ru->max_short > 0 && s > ru->max_short) ||
        (ru->max_long > 0 && l > ru->max_long))
        return FACE_IMAGE_RESOLUTION;
    return FACE_OK;
}

static void image_clear(vx_image *img)
{
    if (img->px != NULL)
        OPENSSL_cleanse(img->px, (size_t)img->width * (size_t)img->height * 3);
    vx_image_free(img);
    memset(img, 0, sizeof *img);
}

static void add_reason(face_result *r, const char *code)
{
    for (size_t i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i], code) == 0)
            return;
    if (r->n_reasons < FACE_REASONS_MAX)
        r->reasons[r->n_reasons++] = code;
}

static bool analyse(vx_face *f, const vx_image *img, unsigned what, vx_face_result *out,
                    const char *request_id)
{
    char err[256] = "";
    if (vx_face_analyse(f, img, NULL, what, out, err, sizeof err))
        return true;
    vx_face_result_clear(out);
    accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "face_failed", "request_id",
                              request_id != NULL ? request_id : "", "message", err));
    return false;
}

static double face_pair_score(const vx_face_result *a, const vx_face_result *b)
{
    if (!a->embedded || !b->embedded)
        return -1;
    return vx_face_score(vx_face_similarity(a->embedding, b->embedding));
}

/* The registry's portrait of id18 against `probe`: registry fields of r. */
static void registry_portrait_compare(registry *reg, const char id18[18],
                                      const vx_face_result *probe, face_result *r)
{
    r->authority_score = -1;
    if (reg == NULL) {
        r->registry_verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
        return;
    }
    float emb[REG_PORTRAIT_DIM];
    bool has_person = false;
    reg_status st = registry_portrait_get(reg, id18, emb, &has_person);
    if (st == REG_OK) {
        r->registry_portrait = true;
        if (probe->embedded)
            r->authority_score = vx_face_score(vx_face_similarity(probe->embedding, emb));
    } else if (st == REG_NOT_FOUND) {
        r->registry_portrait = false;
        if (!has_person)
            r->registry_verdict = SM_VERDICT_NOT_FOUND;
    } else {
        r->registry_verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
    }
    OPENSSL_cleanse(emb, sizeof emb);
}

/* EKYC, after the images were decoded: imgs[0] the document, [1] the selfie. */
static void decide_ekyc(api_context *ctx, face_call_spec *spec, const vx_image imgs[2],
                        face_result *r, const char *request_id)
{
    vx_face *f = ctx->face;
    r->score = -1;
    r->authority_score = -1;
    if (!analyse(f, &imgs[1], VX_FACE_EMBED | VX_FACE_LIVENESS, &r->faces[1], request_id)) {
        r->outcome = FACE_FAILED;
        return;
    }
    if (!r->faces[1].found) {
        r->outcome = FACE_NO_FACE;
        r->bad_image = 1;
        return;
    }
    /* The document: read (mainland ID), spoof signals, its portrait. */
    if (spec->doc_mainland_id) {
        char err[256] = "";
        if (!vx_idcard_read(ctx->ocr, &imgs[0], VX_SIDE_FRONT, &r->card, err, sizeof err)) {
            vx_idcard_result_clear(&r->card);
            r->outcome = FACE_FAILED;
            accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "ocr_failed", "request_id",
                                      request_id != NULL ? request_id : "", "message", err));
            return;
        }
        r->doc_supported = true;
        r->id_passed = r->card.side == VX_SIDE_FRONT && r->card.status == VX_STATUS_NORMAL &&
                       r->card.fields[VX_F_ID_NUMBER].present && r->card.id_status == SM_ID_OK;
    }
    vx_docspoof_result sp;
    if (vx_docspoof_check(&imgs[0], &sp)) {
        r->doc_spoof = sp.type != NULL;
        r->doc_spoof_type = sp.type;
    }
    /* The card's portrait: the largest face on the document image (the
     * only face a card photo shows). */
    if (!analyse(f, &imgs[0], VX_FACE_EMBED, &r->faces[0], request_id)) {
        r->outcome = FACE_FAILED;
        return;
    }
    r->score = face_pair_score(&r->faces[1], &r->faces[0]);
    r->live = r->faces[1].liveness >= vx_face_live_threshold;

    /* The registry (authorize, mainland ID only). */
    if (spec->authorize && spec->doc_mainland_id) {
        r->registry_checked = true;
        char id18[19] = "";
        sm_name nm;
        memset(&nm, 0, sizeof nm);
        bool have_name = false;
        if (spec->id18[0] != '\0') {
            memcpy(id18, spec->id18, 19);
        } else if (r->card.fields[VX_F_ID_NUMBER].present) {
            const char *t = r->card.fields[VX_F_ID_NUMBER].text;
            sm_id_info info;
            if (sm_id_parse(t, strlen(t), NULL, &info) == SM_ID_OK)
                memcpy(id18, info.id18, 19);
            OPENSSL_cleanse(&info, sizeof info);
        }
        if (spec->name[0] != '\0') {
            have_name = sm_name_normalise(spec->name, strlen(spec->name), &nm) == SM_NAME_OK;
        } else if (r->card.fields[VX_F_NAME].present) {
            const char *t = r->card.fields[VX_F_NAME].text;
            have_name = sm_name_normalise(t, strlen(t), &nm) == SM_NAME_OK;
        }
        registry *reg = id18[0] != '\0' ? api_context_registry(ctx) : NULL;
        if (id18[0] == '\0') {
            r->registry_verdict = SM_VERDICT_NOT_FOUND;
            add_reason(r, "document_unreadable");
        } else if (reg == NULL) {
            r->registry_verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
        } else {
            reg_person p;
            reg_status st = registry_lookup(reg, id18, have_name ? nm.text : NULL,
                                            have_name ? nm.len : 0, &p);
            if (st == REG_OK)
                r->registry_verdict = p.name_matches ? SM_VERDICT_MATCH : SM_VERDICT_MISMATCH;
            else if (st == REG_NOT_FOUND)
                r->registry_verdict = SM_VERDICT_NOT_FOUND;
            else
                r->registry_verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
            OPENSSL_cleanse(&p, sizeof p);
            if (r->registry_verdict == SM_VERDICT_MATCH)
                registry_portrait_compare(reg, id18, &r->faces[1], r);
        }
        OPENSSL_cleanse(id18, sizeof id18);
        OPENSSL_cleanse(&nm, sizeof nm);
    }

    /* The decision: every failed check a reason, the first the subcode. */
    int sub = 0;
#define FAIL(code, reason)                                                                      \
    do {                                                                                        \
        if (sub == 0)                                                                           \
            sub = (code);                                                                       \
        add_reason(r, (reason));                                                                \
    } while (0)
    if (r->doc_spoof)
        FAIL(212, "document_spoof");
    if (!r->live)
        FAIL(205, "liveness_risk");
    if (!r->faces[0].found)
        FAIL(204, "no_document_face");
    else if (r->score < VX_FACE_SAME_SCORE)
        FAIL(204, "face_mismatch");
    if (r->registry_checked) {
        switch (r->registry_verdict) {
        case SM_VERDICT_NOT_FOUND: FAIL(202, "registry_not_found"); break;
        case SM_VERDICT_MISMATCH: FAIL(201, "registry_mismatch"); break;
        case SM_VERDICT_REGISTRY_UNAVAILABLE: FAIL(209, "registry_unavailable"); break;
        case SM_VERDICT_MATCH:
        default:
            if (!r->registry_portrait)
                FAIL(203, "no_registry_portrait");
            else if (r->authority_score < VX_FACE_SAME_SCORE)
                FAIL(207, "registry_face_mismatch");
            break;
        }
    }
#undef FAIL
    /* Notes that do not decide (without authorize). */
    if (!spec->doc_mainland_id)
        add_reason(r, "document_unsupported");
    else if (!r->id_passed)
        add_reason(r, "document_unreadable");
    r->subcode = sub != 0 ? sub : 200;
    r->passed = sub == 0;
}

void face_call_decide(api_context *ctx, face_call_spec *spec, face_result *r,
                      const char *request_id)
{
    size_t n = n_images(spec->kind);
    vx_image imgs[2];
    memset(imgs, 0, sizeof imgs);
    r->outcome = FACE_OK;
    r->score = -1;
    r->authority_score = -1;
    for (size_t i = 0; i < n; i++) {
        face_outcome o = load_image(ctx, &spec->images[i], &spec->rules, &imgs[i]);
        if (o != FACE_OK) {
            r->outcome = o;
            r->bad_image = (int)i;
            goto out;
        }
    }
    if (ctx->face == NULL || (spec->kind == FACE_CALL_EKYC && spec->doc_mainland_id &&
                              ctx->ocr == NULL)) {
        r->outcome = FACE_UNAVAILABLE;
        goto out;
    }
    switch (spec->kind) {
    case FACE_CALL_COMPARE:
        for (int i = 0; i < 2; i++) {
            if (!analyse(ctx->face, &imgs[i], VX_FACE_EMBED | VX_FACE_LIVENESS, &r->faces[i],
                         request_id)) {
                r->outcome = FACE_FAILED;
                goto out;
            }
            if (!r->faces[i].found) {
                r->outcome = FACE_NO_FACE;
                r->bad_image = i;
                goto out;
            }
        }
        r->score = face_pair_score(&r->faces[0], &r->faces[1]);
        r->same_person = r->score >= 0 && vx_face_same(r->score);
        break;
    case FACE_CALL_VERIFY:
        if (!analyse(ctx->face, &imgs[0], VX_FACE_EMBED | VX_FACE_LIVENESS, &r->faces[0],
                     request_id)) {
            r->outcome = FACE_FAILED;
            goto out;
        }
        if (!r->faces[0].found) {
            r->outcome = FACE_NO_FACE;
            r->bad_image = 0;
            goto out;
        }
        r->registry_checked = true;
        r->registry_verdict = SM_VERDICT_MATCH;
        registry_portrait_compare(api_context_registry(ctx), spec->id18, &r->faces[0], r);
        r->same_person = r->registry_verdict == SM_VERDICT_MATCH && r->registry_portrait &&
                         r->authority_score >= 0 && vx_face_same(r->authority_score);
        break;
    case FACE_CALL_EKYC:
    default:
        decide_ekyc(ctx, spec, imgs, r, request_id);
        break;
    }
out:
    for (size_t i = 0; i < 2; i++)
        image_clear(&imgs[i]);
    spec_free_input(spec);
}

/* The subject for the record and the access log: the given number, else
 * the one read off the document; the given name, else the one read. */
static void job_subject(face_job *j, tn_record *rec)
{
    http_request *req = j->tl.req;
    const char *num = j->spec.id18[0] != '\0' ? j->spec.id18 : NULL;
    const char *name = j->spec.name[0] != '\0' ? j->spec.name : NULL;
    if (j->r.doc_supported) {
        if (num == NULL && j->r.card.fields[VX_F_ID_NUMBER].present)
            num = j->r.card.fields[VX_F_ID_NUMBER].text;
        if (name == NULL && j->r.card.fields[VX_F_NAME].present)
            name = j->r.card.fields[VX_F_NAME].text;
    }
    if (num != NULL && num[0] != '\0') {
        sm_id_info info;
        if (sm_id_parse(num, strlen(num), NULL, &info) == SM_ID_OK) {
            snprintf(j->id18, sizeof j->id18, "%s", info.id18);
            rec->id18 = j->id18;
        } else {
            rec->id_raw = num;
        }
        OPENSSL_cleanse(&info, sizeof info);
        request_set_subject_id(req, num, strlen(num));
    }
    if (name != NULL && name[0] != '\0') {
        snprintf(j->name, sizeof j->name, "%s", name);
        rec->name = j->name;
        request_set_subject_name(req, name, strlen(name));
    }
}

static void job_run(void *arg)
{
    face_job *j = arg;
    http_request *req = j->tl.req;
    face_call_decide(j->ctx, &j->spec, &j->r, req->id);

    sm_verdict verdict = result_verdict(&j->spec, &j->r);
    bool decided = j->r.outcome == FACE_OK &&
                   (verdict == SM_VERDICT_MATCH || verdict == SM_VERDICT_MISMATCH);
    bool charged = j->tl.t != NULL && decided && tn_product_charges(j->spec.product, verdict);
    j->r.timing_ms = vjob_ms_since(&req->start);
    request_set_verdict(req, verdict_log(&j->spec, &j->r));
    if (j->spec.render(j->spec.ctx, req, &j->r, charged, &j->tl.ans) != 0 ||
        j->tl.ans.body == NULL) {
        vjob_answer_free(&j->tl.ans);
        j->spec.refuse(j->spec.ctx, req, CALL_INTERNAL, 0);
        vjob_end(&j->tl);
        return;
    }
    tn_record rec;
    memset(&rec, 0, sizeof rec);
    rec.app_id = req->app_id;
    rec.product = j->spec.product;
    rec.dialect = j->spec.dialect;
    rec.request_id = req->id;
    rec.verdict = verdict;
    rec.vendor_code = j->tl.ans.vendor_code;
    rec.never_charge = j->tl.ans.free || !decided;
    if (j->tl.t != NULL)
        job_subject(j, &rec);
    rec.client_ip = req->remote;
    rec.latency_ms = vjob_ms_since(&req->start);
    vjob_send(&j->tl, &rec, j->spec.idem_key);
}

void face_call_run(http_request *req, face_call_spec *spec_in)
{
    face_call_spec spec = *spec_in;
    /* The images are the call's now. */
    memset(spec_in->images, 0, sizeof spec_in->images);
    api_context *ctx = req->ctx;
    face_result r;
    memset(&r, 0, sizeof r);
    r.score = -1;
    r.authority_score = -1;

    if (ctx == NULL || !ctx->ocr_enabled || ctx->jobs == NULL) {
        r.outcome = FACE_DISABLED;
        answer_now(req, &spec, &r);
        goto done;
    }
    face_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        spec.refuse(spec.ctx, req, CALL_INTERNAL, 0);
        goto done;
    }
    j->tl.refuse = spec.refuse;
    j->tl.refuse_ctx = spec.ctx;
    j->tl.free_job = job_free;
    j->ctx = ctx;
    j->spec = spec;
    switch (vjob_start(req, &j->tl, spec.product, spec.idem_key, job_run, j)) {
    case VJOB_QUEUED:
        return;
    case VJOB_BUSY: /* answer busy, and end the deferred call here */
        r.outcome = FACE_BUSY;
        r.retry_after_s = vjob_busy_retry_s(ctx);
        answer_now(req, &spec, &r);
        vjob_end(&j->tl); /* frees the input, releases the ctx, resumes */
        return;
    case VJOB_ANSWERED:
        free(j); /* the shell only: the input and ctx are released below */
        break;
    }
done:
    spec_free_input(&spec);
    if (spec.release != NULL)
        spec.release(spec.ctx);
}

/* ----------------------------------------------------- the native fronts */

#define FRONT_PRODUCT_COMPARE "face_compare"
#define FRONT_PRODUCT_VERIFY "face_verify"
#define FRONT_PRODUCT_EKYC "ekyc"

typedef struct {
    face_call_kind kind;
    const char *slots[2];       /* the image fields' base names */
    char retry[24];
} native_face;

static double round_to(double v, double unit)
{
    return (double)(long long)(v / unit + (v >= 0 ? 0.5 : -0.5)) * unit;
}

static json_t *score_json(double s)
{
    return s < 0 ? json_null() : json_real(round_to(s, 0.01));
}

static json_t *box_json(const vx_face_result *f)
{
    if (!f->found)
        return json_null();
    return json_pack("{s:f,s:f,s:f,s:f}", "x1", round_to(f->box.x1, 0.1), "y1",
                     round_to(f->box.y1, 0.1), "x2", round_to(f->box.x2, 0.1), "y2",
                     round_to(f->box.y2, 0.1));
}

/* One image's face: {box, quality, liveness, live, face_count}. */
static json_t *face_json(const vx_face_result *f)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:i}", "box", box_json(f), "quality",
                     f->found ? json_real(round_to(f->quality, 0.0001)) : json_null(),
                     "liveness",
                     f->found && f->liveness >= 0 ? json_real(round_to(f->liveness, 0.0001))
                                                  : json_null(),
                     "live",
                     f->found && f->liveness >= 0 ? json_boolean(f->liveness >=
                                                                 vx_face_live_threshold)
                                                  : json_null(),
                     "face_count", f->n_faces);
}

static json_t *field_json(const vx_field *f)
{
    if (!f->present)
        return json_null();
    double conf = f->confidence < 0 ? 0 : f->confidence > 1 ? 1 : (double)f->confidence;
    return json_pack("{s:s,s:f}", "text", f->text, "confidence", round_to(conf, 0.0001));
}

static json_t *document_json(const face_call_spec *spec, const face_result *r)
{
    json_t *fields = json_null(), *side = json_null(), *status = json_null();
    if (r->doc_supported) {
        fields = json_object();
        for (int f = 0; f < VX_F__COUNT && fields != NULL; f++)
            if (json_object_set_new(fields, vx_field_code((vx_field_id)f),
                                    field_json(&r->card.fields[f])) != 0) {
                json_decref(fields);
                fields = NULL;
            }
        if (fields == NULL)
            return NULL;
        side = json_string(vx_side_code(r->card.side));
        status = json_string(vx_image_status_code(r->card.status));
    }
    (void)spec;
    return json_pack("{s:b,s:o,s:o,s:o,s:b,s:{s:b,s:o},s:{s:b,s:o}}", "supported",
                     r->doc_supported, "side", side, "fields", fields, "image_status", status,
                     "id_passed", r->id_passed, "spoof", "risk", r->doc_spoof, "type",
                     r->doc_spoof_type != NULL ? json_string(r->doc_spoof_type) : json_null(),
                     "face", "found", r->faces[0].found, "box", box_json(&r->faces[0]));
}

static const char *registry_verdict_code(sm_verdict v)
{
    switch (v) {
    case SM_VERDICT_MATCH: return "match";
    case SM_VERDICT_MISMATCH: return "mismatch";
    case SM_VERDICT_NOT_FOUND: return "not_found";
    case SM_VERDICT_REGISTRY_UNAVAILABLE:
    default: return "unavailable";
    }
}

static int render_native(void *vctx, http_request *req, const face_result *r, bool charged,
                         call_answer *out)
{
    native_face *n = vctx;
    json_t *body = NULL;
    double timing = round_to(r->timing_ms, 0.1);
    if (r->outcome == FACE_OK && n->kind == FACE_CALL_VERIFY &&
        r->registry_verdict == SM_VERDICT_REGISTRY_UNAVAILABLE) {
        body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "registry_unavailable",
                         "message", "the registry is unavailable; nothing was charged, retry later",
                         "request_id", req->id);
        out->status = 503;
        out->vendor_code = "registry_unavailable";
        out->headers[out->n_headers++] = (http_header){"Retry-After", "1"};
    } else if (r->outcome == FACE_OK) {
        json_t *common = json_pack("{s:b,s:s,s:f}", "charged", charged, "request_id", req->id,
                                   "timing_ms", timing);
        if (common == NULL)
            return -1;
        if (n->kind == FACE_CALL_COMPARE) {
            body = json_pack("{s:o,s:b,s:f,s:[oo]}", "score", score_json(r->score),
                             "same_person", r->same_person, "threshold", VX_FACE_SAME_SCORE,
                             "faces", face_json(&r->faces[0]), face_json(&r->faces[1]));
            out->vendor_code = r->same_person ? "same_person" : "not_same_person";
        } else if (n->kind == FACE_CALL_VERIFY) {
            bool found = r->registry_verdict != SM_VERDICT_NOT_FOUND;
            body = json_pack("{s:o,s:b,s:f,s:{s:b,s:b},s:o}", "score",
                             score_json(r->authority_score), "same_person", r->same_person,
                             "threshold", VX_FACE_SAME_SCORE, "registry", "found", found,
                             "portrait", r->registry_portrait, "face", face_json(&r->faces[0]));
            out->vendor_code = !found                 ? "registry_not_found"
                               : !r->registry_portrait ? "no_registry_portrait"
                               : r->same_person        ? "same_person"
                                                       : "not_same_person";
        } else {
            json_t *reasons = json_array();
            for (size_t i = 0; reasons != NULL && i < r->n_reasons; i++)
                json_array_append_new(reasons, json_string(r->reasons[i]));
            const vx_face_result *sf = &r->faces[1];
            json_t *doc = document_json(NULL, r);
            json_t *reg = r->registry_checked
                              ? json_pack("{s:b,s:s,s:b,s:o}", "checked", true, "verdict",
                                          registry_verdict_code(r->registry_verdict),
                                          "portrait", r->registry_portrait, "score",
                                          score_json(r->authority_score))
                              : json_pack("{s:b,s:n,s:b,s:n}", "checked", false, "verdict",
                                          "portrait", false, "score");
            body = json_pack("{s:b,s:i,s:o,s:{s:o,s:f,s:b,s:o,s:o,s:o},s:o,s:o}", "passed",
                             r->passed, "subcode", r->subcode, "reasons", reasons, "face",
                             "score", score_json(r->score), "threshold", VX_FACE_SAME_SCORE,
                             "live", r->live, "liveness",
                             sf->liveness >= 0 ? json_real(round_to(sf->liveness, 0.0001))
                                               : json_null(),
                             "quality", json_real(round_to(sf->quality, 0.0001)), "box",
                             box_json(sf), "document", doc, "registry", reg);
            snprintf(n->retry, sizeof n->retry, "%d", r->subcode);
            out->vendor_code = n->retry;
        }
        if (body == NULL || json_object_update(body, common) != 0) {
            json_decref(common);
            json_decref(body);
            return -1;
        }
        json_decref(common);
        out->status = 200;
    } else {
        body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", face_outcome_code(r->outcome),
                         "message", face_outcome_message(r->outcome), "request_id", req->id);
        out->status = face_outcome_status(r->outcome);
        out->vendor_code = face_outcome_code(r->outcome);
        if (body != NULL && r->outcome != FACE_DISABLED && r->outcome != FACE_BUSY &&
            r->outcome != FACE_UNAVAILABLE && r->outcome != FACE_FAILED &&
            r->outcome != FACE_NOMEM && r->bad_image >= 0 && r->bad_image < 2 &&
            n->slots[r->bad_image] != NULL)
            json_object_set_new(json_object_get(body, "error"), "image",
                                json_string(n->slots[r->bad_image]));
        if (r->outcome == FACE_BUSY) {
            call_retry_after_text(r->retry_after_s, n->retry);
            out->headers[out->n_headers++] = (http_header){"Retry-After", n->retry};
        }
    }
    if (body == NULL)
        return -1;
    out->body = vjob_json_bytes(body, &out->len);
    out->content_type = VJOB_JSON_UTF8;
    return out->body != NULL ? 0 : -1;
}

static void release_native(void *vctx)
{
    free(vctx);
}

/* ---- the request: JSON or multipart into named values */

#define FRONT_TEXT_MAX 256

typedef struct {
    const char *name;
    bool is_image_slot;     /* a multipart file part holds the image's bytes */
    unsigned char *data;
    size_t len, cap;
    unsigned parts;
    bool too_long;
} part;

typedef struct {
    part *parts;
    size_t n;
    bool nomem;
} multipart;

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind;
    (void)filename;
    (void)content_type;
    (void)transfer_encoding;
    multipart *m = cls;
    if (key == NULL)
        return MHD_YES;
    part *p = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->parts[i].name, key) == 0)
            p = &m->parts[i];
    if (p == NULL)
        return MHD_YES; /* other parts are ignored */
    if (off == 0)
        p->parts++;
    if (p->parts > 1 || size == 0)
        return MHD_YES;
    if (!p->is_image_slot && p->len + size > FRONT_TEXT_MAX) {
        p->too_long = true;
        return MHD_YES;
    }
    if (p->len + size + 1 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : (p->is_image_slot ? 65536 : FRONT_TEXT_MAX + 1);
        while (cap < p->len + size + 1)
            cap *= 2;
        unsigned char *nb = malloc(cap);
        if (nb == NULL) {
            m->nomem = true;
            return MHD_NO;
        }
        if (p->data != NULL) {
            memcpy(nb, p->data, p->len);
            OPENSSL_cleanse(p->data, p->cap);
            free(p->data);
        }
        p->data = nb;
        p->cap = cap;
    }
    memcpy(p->data + p->len, data, size);
    p->len += size;
    p->data[p->len] = '\0';
    return MHD_YES;
}

static void multipart_clear(multipart *m)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->parts[i].data != NULL) {
            OPENSSL_cleanse(m->parts[i].data, m->parts[i].cap);
            free(m->parts[i].data);
        }
        m->parts[i].data = NULL;
    }
}

static part *find_part(multipart *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->parts[i].name, name) == 0)
            return &m->parts[i];
    return NULL;
}

/* A value of the request, from JSON (borrowed from the object) or from a
 * multipart text part. */
typedef struct {
    bool present;
    const char *s;
    size_t len;
} value;

typedef struct {
    bool multipart;
    json_t *o;
    multipart m;
    part parts[10];
} request_values;

/* Parse the body. 0, or -1 after having replied. */
static int values_read(http_request *req, request_values *v, const char *const *image_slots,
                       size_t n_slots, const char *const *texts, size_t n_texts)
{
    memset(v, 0, sizeof *v);
    const char *ct = request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!vjob_media_type_is(ct, "multipart/form-data")) {
        v->o = request_json_object(req); /* 415 for anything but JSON */
        return v->o != NULL ? 0 : -1;
    }
    v->multipart = true;
    v->m.parts = v->parts;
    for (size_t i = 0; i < n_slots; i++)
        v->parts[v->m.n++] = (part){.name = image_slots[i], .is_image_slot = true};
    for (size_t i = 0; i < n_texts; i++)
        v->parts[v->m.n++] = (part){.name = texts[i]};
    struct MHD_PostProcessor *pp =
        MHD_create_post_processor(req->conn, 65536, on_part, &v->m);
    if (pp == NULL) {
        reply_error(req, 400, "bad_multipart",
                    "the multipart/form-data body has no usable boundary parameter");
        return -1;
    }
    enum MHD_Result ok = req->body_len > 0 ? MHD_post_process(pp, req->body, req->body_len)
                                           : MHD_YES;
    enum MHD_Result done = MHD_destroy_post_processor(pp);
    if (v->m.nomem) {
        multipart_clear(&v->m);
        reply_error(req, 500, "internal", "out of memory");
        return -1;
    }
    if (ok != MHD_YES || done != MHD_YES) {
        multipart_clear(&v->m);
        reply_error(req, 400, "bad_multipart", "the multipart/form-data body is malformed");
        return -1;
    }
    for (size_t i = 0; i < v->m.n; i++) {
        char msg[96];
        if (v->parts[i].parts > 1) {
            snprintf(msg, sizeof msg, "part '%s' is given more than once", v->parts[i].name);
            multipart_clear(&v->m);
            reply_error(req, 400, "invalid_field", msg);
            return -1;
        }
        if (v->parts[i].too_long) {
            snprintf(msg, sizeof msg, "part '%s' is too long", v->parts[i].name);
            multipart_clear(&v->m);
            reply_error(req, 400, "invalid_field", msg);
            return -1;
        }
    }
    return 0;
}

static void values_clear(request_values *v)
{
    if (v->o != NULL) {
        const char *key;
        json_t *val;
        json_object_foreach(v->o, key, val) vjob_json_string_cleanse(val);
        json_decref(v->o);
    }
    multipart_clear(&v->m);
    memset(v, 0, sizeof *v);
}

/* A text value. 0, or -1 after having replied (wrong JSON type). */
static int value_text(http_request *req, request_values *v, const char *name, value *out)
{
    memset(out, 0, sizeof *out);
    if (v->multipart) {
        part *p = find_part(&v->m, name);
        if (p != NULL && p->parts > 0) {
            out->present = true;
            out->s = p->data != NULL ? (const char *)p->data : "";
            out->len = p->len;
        }
        return 0;
    }
    return request_field_string(req, v->o, name, false, &out->s, &out->len, &out->present);
}

/* A boolean: JSON true/false; multipart "true"/"false"/"1"/"0". */
static int value_bool(http_request *req, request_values *v, const char *name, bool *out)
{
    *out = false;
    if (!v->multipart) {
        bool present = false;
        return request_field_bool(req, v->o, name, false, out, &present);
    }
    value t;
    value_text(req, v, name, &t);
    if (!t.present)
        return 0;
    if ((t.len == 4 && memcmp(t.s, "true", 4) == 0) || (t.len == 1 && t.s[0] == '1'))
        *out = true;
    else if (!((t.len == 5 && memcmp(t.s, "false", 5) == 0) || (t.len == 1 && t.s[0] == '0') ||
               t.len == 0)) {
        char msg[96];
        snprintf(msg, sizeof msg, "part '%s' must be \"true\" or \"false\"", name);
        reply_error(req, 400, "invalid_field", msg);
        return -1;
    }
    return 0;
}

/* The image of `slot` into *in: a file part `slot` (multipart), or one of
 * `slot`_base64, `slot`_url, `slot` (JSON; a URL when it looks like one).
 * 0, or -1 after having replied. */
static int value_image(http_request *req, request_values *v, const char *slot,
                       face_image_in *in)
{
    char msg[160];
    if (v->multipart) {
        part *p = find_part(&v->m, slot);
        if (p == NULL || p->parts == 0 || p->len == 0) {
            snprintf(msg, sizeof msg, "part '%s' is %s", slot,
                     p != NULL && p->parts > 0 ? "empty" : "required (an image file)");
            reply_error(req, 400, "missing_field", msg);
            return -1;
        }
        in->bytes = p->data;
        in->len = p->len;
        p->data = NULL; /* taken */
        p->cap = 0;
        return 0;
    }
    char k_b64[64], k_url[64];
    snprintf(k_b64, sizeof k_b64, "%s_base64", slot);
    snprintf(k_url, sizeof k_url, "%s_url", slot);
    value b64, url, any;
    if (value_text(req, v, k_b64, &b64) != 0 || value_text(req, v, k_url, &url) != 0 ||
        value_text(req, v, slot, &any) != 0)
        return -1;
    int given = b64.present + url.present + any.present;
    if (given != 1) {
        snprintf(msg, sizeof msg,
                 given == 0 ? "field '%s_base64' or '%s_url' is required"
                            : "give one of '%s_base64', '%s_url' or '%s', not several",
                 slot, slot, slot);
        reply_error(req, 400, given == 0 ? "missing_field" : "invalid_field", msg);
        return -1;
    }
    if (any.present) {
        if (ocr_looks_like_url(any.s, any.len))
            url = any;
        else
            b64 = any;
    }
    if (url.present) {
        if (url.len == 0 || url.len > 1024 || strlen(url.s) != url.len ||
            !ocr_looks_like_url(url.s, url.len)) {
            reply_error(req, 400, "invalid_url", face_outcome_message(FACE_URL_INVALID));
            return -1;
        }
        in->url = strdup(url.s);
        if (in->url == NULL) {
            reply_error(req, 500, "internal", "out of memory");
            return -1;
        }
        return 0;
    }
    bool nomem = false;
    if (!ocr_base64_decode(b64.s, b64.len, &in->bytes, &in->len, &nomem)) {
        if (nomem) {
            reply_error(req, 500, "internal", "out of memory");
        } else {
            snprintf(msg, sizeof msg, "the image '%s' is not valid base64", slot);
            reply_error(req, 400, "invalid_field", msg);
        }
        return -1;
    }
    return 0;
}

/* A given ID number, normalised into out[19]. 0 (absent: out ""), or -1
 * after having replied 400 invalid_id. */
static int value_id(http_request *req, request_values *v, bool required, char out[19])
{
    out[0] = '\0';
    value t;
    if (value_text(req, v, "id_number", &t) != 0)
        return -1;
    if (!t.present || t.len == 0) {
        if (!required)
            return 0;
        reply_error(req, 400, "missing_field", "field 'id_number' is required");
        return -1;
    }
    sm_id_info info;
    sm_id_status st = sm_id_parse(t.s, t.len, NULL, &info);
    if (st != SM_ID_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "field 'id_number' is not a valid ID number (%s)",
                 sm_id_status_code(st));
        OPENSSL_cleanse(&info, sizeof info);
        reply_error(req, 400, "invalid_id", msg);
        return -1;
    }
    memcpy(out, info.id18, 19);
    OPENSSL_cleanse(&info, sizeof info);
    request_set_subject_id(req, out, 18);
    return 0;
}

static void front_run(http_request *req, face_call_kind kind)
{
    const char *idem = NULL;
    if (vjob_idempotency_key(req, &idem) != 0)
        return;
    native_face *n = calloc(1, sizeof *n);
    if (n == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    n->kind = kind;
    face_call_spec spec = {
        .kind = kind,
        .dialect = "native",
        .idem_key = idem,
        .render = render_native,
        .refuse = vjob_refuse_native,
        .release = release_native,
        .ctx = n,
    };
    static const char *const compare_slots[] = {"image_a", "image_b"};
    static const char *const verify_slots[] = {"image"};
    static const char *const ekyc_slots[] = {"doc_image", "face_image"};
    static const char *const verify_texts[] = {"id_number"};
    static const char *const ekyc_texts[] = {"doc_type", "name", "id_number", "authorize"};
    const char *const *slots = kind == FACE_CALL_COMPARE  ? compare_slots
                               : kind == FACE_CALL_VERIFY ? verify_slots
                                                          : ekyc_slots;
    size_t n_slots = n_images(kind);
    const char *const *texts = kind == FACE_CALL_VERIFY ? verify_texts
                               : kind == FACE_CALL_EKYC ? ekyc_texts
                                                        : NULL;
    size_t n_texts = kind == FACE_CALL_VERIFY ? 1 : kind == FACE_CALL_EKYC ? 4 : 0;
    spec.product = kind == FACE_CALL_COMPARE  ? FRONT_PRODUCT_COMPARE
                   : kind == FACE_CALL_VERIFY ? FRONT_PRODUCT_VERIFY
                                              : FRONT_PRODUCT_EKYC;
    for (size_t i = 0; i < n_slots; i++)
        n->slots[i] = slots[i];

    request_values v;
    if (values_read(req, &v, slots, n_slots, texts, n_texts) != 0)
        goto fail;
    if (kind == FACE_CALL_VERIFY) {
        if (value_id(req, &v, true, spec.id18) != 0)
            goto fail_values;
    } else if (kind == FACE_CALL_EKYC) {
        value dt, nm;
        if (value_text(req, &v, "doc_type", &dt) != 0 || value_text(req, &v, "name", &nm) != 0 ||
            value_bool(req, &v, "authorize", &spec.authorize) != 0 ||
            value_id(req, &v, false, spec.id18) != 0)
            goto fail_values;
        bool digits = dt.present && dt.len == 8;
        for (size_t i = 0; digits && i < 8; i++)
            digits = dt.s[i] >= '0' && dt.s[i] <= '9';
        if (dt.present && dt.len > 0 && !digits) {
            reply_error(req, 400, "invalid_field",
                        "field 'doc_type' must be 8 digits (00000001: mainland resident ID card)");
            goto fail_values;
        }
        spec.doc_mainland_id = !dt.present || dt.len == 0 || memcmp(dt.s, "00000001", 8) == 0;
        if (spec.authorize && !spec.doc_mainland_id) {
            reply_error(req, 400, "invalid_field",
                        "'authorize' checks the registry of mainland ID cards only "
                        "(doc_type 00000001)");
            goto fail_values;
        }
        if (nm.present && nm.len > 0) {
            sm_name name;
            sm_name_status st = sm_name_normalise(nm.s, nm.len, &name);
            if (st != SM_NAME_OK) {
                char msg[160];
                snprintf(msg, sizeof msg, "field 'name' is not a valid name (%s)",
                         sm_name_status_code(st));
                OPENSSL_cleanse(&name, sizeof name);
                reply_error(req, 400, "invalid_name", msg);
                goto fail_values;
            }
            if (name.len >= sizeof spec.name) {
                OPENSSL_cleanse(&name, sizeof name);
                reply_error(req, 400, "invalid_name", "field 'name' is too long");
                goto fail_values;
            }
            memcpy(spec.name, name.text, name.len + 1);
            request_set_subject_name(req, name.text, name.len);
            OPENSSL_cleanse(&name, sizeof name);
        }
    }
    for (size_t i = 0; i < n_slots; i++)
        if (value_image(req, &v, slots[i], &spec.images[i]) != 0)
            goto fail_values;
    values_clear(&v);
    face_call_run(req, &spec);
    return;
fail_values:
    values_clear(&v);
fail:
    spec_free_input(&spec);
    OPENSSL_cleanse(&spec, sizeof spec);
    free(n);
}

void api_face_compare(http_request *req)
{
    front_run(req, FACE_CALL_COMPARE);
}

void api_face_verify(http_request *req)
{
    front_run(req, FACE_CALL_VERIFY);
}

void api_ekyc(http_request *req)
{
    front_run(req, FACE_CALL_EKYC);
}
