/*
 * ocr.c — ID-card OCR calls (see ocr.h): the job that downloads, decodes
 * and reads an image off the HTTP threads, records the call and answers;
 * and the native front, POST /v1/ocr/idcard (docs/ocr.md).
 *
 * Native request: either multipart/form-data with an `image` file part
 * (and an optional `side` part), parsed by libmicrohttpd's post processor
 * over the buffered body; or JSON {"image_base64" | "image_url", "side"}.
 * Exactly one image. `side`: "front", "back", or absent/"" (auto).
 *
 * Answer (200): {side, fields{name, sex, ethnicity, birth, address,
 * id_number, authority, valid_from, valid_to: {text, confidence} | null},
 * idcard_number_type, image_status, checks{id_number, period}, charged,
 * request_id, timing_ms}. Errors: the native error shape with the codes of
 * ocr_outcome_code and the request errors of request.h.
 *
 * Must never: run decoding or inference on an HTTP thread, answer a
 * charged read before its record is committed, log or put in an error an
 * image, a URL or a field read off a card, or free an image (bytes or
 * pixels) or a result without zeroing it.
 */
#include "api/ocr.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/routes.h"
#include "api/vjob.h"
#include "http/accesslog.h"
#include "net/fetch.h"
#include "vision/image.h"

#define JSON_UTF8 VJOB_JSON_UTF8
#define NATIVE_PRODUCT "ocr_idcard"

/* ------------------------------------------------------------- outcomes */

static const struct {
    const char *code;
    unsigned status;
    const char *message;
} outcomes[] = {
    [OCR_OK] = {"ok", 200, "the card was read"},
    [OCR_DISABLED] = {"ocr_disabled", 503, "ocr disabled: ID-card OCR is switched off on this "
                                           "server ([vision] enabled = false)"},
    [OCR_BUSY] = {"ocr_busy", 503, "every OCR worker is busy and the queue is full; retry later"},
    [OCR_UNAVAILABLE] = {"ocr_unavailable", 503,
                         "the OCR models could not be loaded when the server started (see its "
                         "log); OCR is unavailable"},
    [OCR_IMAGE_TOO_LARGE] = {"image_too_large", 413,
                             "the image is too large (bytes, or width x height)"},
    [OCR_IMAGE_TOO_SMALL] = {"image_too_small", 422,
                             "the image is too small (its shorter side is under 15 pixels)"},
    [OCR_UNSUPPORTED_IMAGE] = {"unsupported_image", 415,
                               "the image is not JPEG, PNG, BMP or WebP"},
    [OCR_CORRUPT_IMAGE] = {"corrupt_image", 422, "the image is truncated or cannot be decoded"},
    [OCR_URL_INVALID] = {"invalid_url", 400,
                         "the image URL must be an http or https URL of at most 1024 bytes"},
    [OCR_FETCH_FORBIDDEN] = {"fetch_forbidden", 422,
                             "the image URL points to an address this server may not fetch from "
                             "(loopback, private, link-local, ...)"},
    [OCR_FETCH_TIMEOUT] = {"fetch_timeout", 504, "the image URL did not answer in time"},
    [OCR_FETCH_FAILED] = {"fetch_failed", 502, "the image could not be downloaded from its URL"},
    [OCR_FAILED] = {"ocr_failed", 500, "the card could not be read (internal error)"},
    [OCR_NOMEM] = {"internal", 500, "out of memory"},
};

const char *ocr_outcome_code(ocr_outcome o)
{
    return (unsigned)o <= OCR_NOMEM ? outcomes[o].code : "internal";
}

unsigned ocr_outcome_status(ocr_outcome o)
{
    return (unsigned)o <= OCR_NOMEM ? outcomes[o].status : 500;
}

const char *ocr_outcome_message(ocr_outcome o)
{
    return (unsigned)o <= OCR_NOMEM ? outcomes[o].message : "internal error";
}

/* --------------------------------------------------------------- base64 */

static bool b64_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

bool ocr_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len,
                       bool *nomem)
{
    *out = NULL;
    *out_len = 0;
    *nomem = false;
    /* "data:image/png;base64,…" */
    if (len >= 5 && strncasecmp(s, "data:", 5) == 0) {
        const char *comma = memchr(s, ',', len);
        if (comma == NULL || comma - s < 12 || strncasecmp(comma - 7, ";base64", 7) != 0)
            return false;
        len -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    /* Normalise into the standard alphabet without whitespace, padded. */
    char *norm = malloc(len + 4);
    if (norm == NULL) {
        *nomem = true;
        return false;
    }
    size_t n = 0, pad = 0;
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (b64_space(ch))
            continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad > 0) /* data after padding */
            ok = false;
        else if (ch == '-')
            norm[n++] = '+';
        else if (ch == '_')
            norm[n++] = '/';
        else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                 (ch >= '0' && ch <= '9') || ch == '+' || ch == '/')
            norm[n++] = (char)ch;
        else
            ok = false;
    }
    if (ok && (n == 0 || n % 4 == 1 || pad > 2 || (pad > 0 && (n + pad) % 4 != 0)))
        ok = false;
    if (!ok) {
        OPENSSL_cleanse(norm, len + 4);
        free(norm);
        return false;
    }
    size_t rem = n % 4;
    while (n % 4 != 0)
        norm[n++] = '=';
    size_t cap = n / 4 * 3;
    unsigned char *bytes = malloc(cap + 1);
    if (bytes == NULL) {
        OPENSSL_cleanse(norm, len + 4);
        free(norm);
        *nomem = true;
        return false;
    }
    /* EVP_DecodeBlock over whole quanta: it counts padding as zero bytes. */
    int got = EVP_DecodeBlock(bytes, (const unsigned char *)norm, (int)n);
    OPENSSL_cleanse(norm, len + 4);
    free(norm);
    if (got < 0 || (size_t)got != cap) {
        OPENSSL_cleanse(bytes, cap + 1);
        free(bytes);
        return false;
    }
    size_t drop = rem == 2 ? 2 : rem == 3 ? 1 : 0;
    if (rem == 0 && pad > 0) /* padded input: the '=' were kept as given */
        drop = pad;
    *out = bytes;
    *out_len = cap - drop;
    return true;
}

bool ocr_looks_like_url(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    while (i < len && i < 32 &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
            (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '.' || s[i] == '-'))
        i++;
    return i + 3 <= len && memcmp(s + i, "://", 3) == 0;
}

/* ------------------------------------------------------------- the call */

typedef struct {
    vjob_tail tl;               /* first: the call's end (vjob.h) */
    api_context *ctx;
    ocr_call_spec spec;         /* copy; image and url taken */
    ocr_result r;
    char id18[19];              /* the number read, normalised (for the record) */
    char name[256];             /* the name read (for the record) */
} ocr_job;

static void spec_free_input(ocr_call_spec *s)
{
    if (s->image != NULL) {
        OPENSSL_cleanse(s->image, s->image_len);
        free(s->image);
        s->image = NULL;
    }
    if (s->url != NULL) {
        OPENSSL_cleanse(s->url, strlen(s->url));
        free(s->url);
        s->url = NULL;
    }
}

/* Render and send an answer that is not recorded (steps 1 and 3). */
static void answer_now(http_request *req, const ocr_call_spec *spec, ocr_result *r)
{
    call_answer ans;
    memset(&ans, 0, sizeof ans);
    r->timing_ms = vjob_ms_since(&req->start);
    request_set_verdict(req, ocr_outcome_code(r->outcome));
    if (spec->render(spec->ctx, req, r, false, &ans) != 0 || ans.body == NULL) {
        vjob_answer_free(&ans);
        spec->refuse(spec->ctx, req, CALL_INTERNAL, 0);
        return;
    }
    reply_bytes_headers(req, ans.status, ans.content_type, ans.body, ans.len, ans.headers,
                        ans.n_headers);
    vjob_answer_free(&ans);
}

/* vjob_tail.free_job: the input, the result, the front's ctx, the job. */
static void job_free(vjob_tail *tl)
{
    ocr_job *j = (ocr_job *)tl;
    spec_free_input(&j->spec);
    vx_idcard_result_clear(&j->r.card);
    if (j->spec.release != NULL)
        j->spec.release(j->spec.ctx);
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
}

static ocr_outcome fetch_outcome(fetch_status st)
{
    switch (st) {
    case FETCH_OK: return OCR_OK;
    case FETCH_BAD_URL: return OCR_URL_INVALID;
    case FETCH_FORBIDDEN: return OCR_FETCH_FORBIDDEN;
    case FETCH_TIMEOUT: return OCR_FETCH_TIMEOUT;
    case FETCH_TOO_LARGE: return OCR_IMAGE_TOO_LARGE;
    case FETCH_NOMEM: return OCR_NOMEM;
    case FETCH_HTTP_STATUS:
    case FETCH_FAILED:
    default: return OCR_FETCH_FAILED;
    }
}

static ocr_outcome image_outcome(vx_img_status st)
{
    switch (st) {
    case VX_IMG_OK: return OCR_OK;
    case VX_IMG_TOO_LARGE: return OCR_IMAGE_TOO_LARGE;
    case VX_IMG_TOO_SMALL: return OCR_IMAGE_TOO_SMALL;
    case VX_IMG_UNSUPPORTED: return OCR_UNSUPPORTED_IMAGE;
    case VX_IMG_NOMEM: return OCR_NOMEM;
    case VX_IMG_CORRUPT:
    default: return OCR_CORRUPT_IMAGE;
    }
}

/* Download, decode, read: j->r. */
static void job_read(ocr_job *j)
{
    ocr_result *r = &j->r;
    if (j->spec.url != NULL) {
        char *body = NULL;
        size_t len = 0;
        fetch_status fs = fetch_url(j->spec.url, &j->ctx->fetch, &body, &len);
        r->outcome = fetch_outcome(fs);
        if (fs != FETCH_OK)
            return;
        j->spec.image = (unsigned char *)body;
        j->spec.image_len = len;
    }
    vx_image img;
    memset(&img, 0, sizeof img);
    vx_image_limits lim;
    memset(&lim, 0, sizeof lim); /* the contract's defaults */
    r->outcome = image_outcome(vx_image_decode(j->spec.image, j->spec.image_len, &lim, &img));
    /* The encoded image is no longer needed. */
    OPENSSL_cleanse(j->spec.image, j->spec.image_len);
    free(j->spec.image);
    j->spec.image = NULL;
    if (r->outcome != OCR_OK)
        return;
    if (j->ctx->ocr == NULL) {
        r->outcome = OCR_UNAVAILABLE;
    } else {
        char err[256] = "";
        if (!vx_idcard_read(j->ctx->ocr, &img, j->spec.want, &r->card, err, sizeof err)) {
            r->outcome = OCR_FAILED;
            vx_idcard_result_clear(&r->card);
            accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "ocr_failed", "request_id",
                                      j->tl.req->id, "message", err));
        }
    }
    if (img.px != NULL)
        OPENSSL_cleanse(img.px, (size_t)img.width * (size_t)img.height * 3);
    vx_image_free(&img);
}

/* What the record and the access log show of the card: the number read
 * (normalised when valid) and the name read. */
static void job_subject(ocr_job *j, tn_record *rec)
{
    const vx_idcard_result *c = &j->r.card;
    http_request *req = j->tl.req;
    const vx_field *num = &c->fields[VX_F_ID_NUMBER];
    const vx_field *name = &c->fields[VX_F_NAME];
    if (num->present && num->text[0] != '\0') {
        sm_id_info info;
        if (sm_id_parse(num->text, strlen(num->text), NULL, &info) == SM_ID_OK) {
            snprintf(j->id18, sizeof j->id18, "%s", info.id18);
            rec->id18 = j->id18;
        } else {
            rec->id_raw = num->text;
        }
        OPENSSL_cleanse(&info, sizeof info);
        request_set_subject_id(req, num->text, strlen(num->text));
    }
    if (name->present && name->text[0] != '\0') {
        snprintf(j->name, sizeof j->name, "%s", name->text);
        rec->name = j->name;
        request_set_subject_name(req, name->text, strlen(name->text));
    }
}

static void job_run(void *arg)
{
    ocr_job *j = arg;
    http_request *req = j->tl.req;
    job_read(j);

    bool read = j->r.outcome == OCR_OK;
    sm_verdict verdict = read ? SM_VERDICT_READ : SM_VERDICT_INVALID_IMAGE;
    bool charged = j->tl.t != NULL && read && tn_product_charges(j->spec.product, verdict);
    j->r.timing_ms = vjob_ms_since(&req->start);
    request_set_verdict(req, read ? "read" : ocr_outcome_code(j->r.outcome));
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
    rec.never_charge = j->tl.ans.free || !read;
    if (read && j->tl.t != NULL)
        job_subject(j, &rec);
    rec.client_ip = req->remote;
    rec.latency_ms = vjob_ms_since(&req->start);
    vjob_send(&j->tl, &rec, j->spec.idem_key);
}

void ocr_call_run(http_request *req, const ocr_call_spec *spec_in)
{
    ocr_call_spec spec = *spec_in;
    api_context *ctx = req->ctx;
    ocr_result r;
    memset(&r, 0, sizeof r);

    if (ctx == NULL || !ctx->ocr_enabled || ctx->jobs == NULL) {
        r.outcome = OCR_DISABLED;
        answer_now(req, &spec, &r);
        goto done;
    }
    ocr_job *j = calloc(1, sizeof *j);
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
        r.outcome = OCR_BUSY;
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

/* ------------------------------------------------------ the native front */

typedef struct {
    bool side_given;
    vx_side side;
    char retry[24];
} native_ocr;

static json_t *field_json(const vx_field *f)
{
    if (!f->present)
        return json_null();
    double conf = f->confidence < 0 ? 0 : f->confidence > 1 ? 1 : (double)f->confidence;
    return json_pack("{s:s,s:f}", "text", f->text, "confidence",
                     (double)(long)(conf * 10000.0 + 0.5) / 10000.0);
}

/* The core's checks on what was read: the number (its reason code, "ok"
 * when valid, null when none was read) and, on a back, the period. */
static json_t *checks_json(const vx_idcard_result *c)
{
    json_t *id = json_null();
    if (c->fields[VX_F_ID_NUMBER].present) {
        const char *code = sm_id_status_code(c->id_status);
        id = json_string(code != NULL ? code : "ok");
    }
    json_t *period = json_null();
    if (c->fields[VX_F_VALID_FROM].present || c->fields[VX_F_VALID_TO].present) {
        const char *code = sm_period_status_code(c->period_status);
        period = json_string(code != NULL ? code : "ok");
    }
    return json_pack("{s:o,s:o}", "id_number", id, "period", period);
}

static int render_native(void *vctx, http_request *req, const ocr_result *r, bool charged,
                         call_answer *out)
{
    native_ocr *n = vctx;
    json_t *body;
    if (r->outcome == OCR_OK) {
        const vx_idcard_result *c = &r->card;
        json_t *fields = json_object();
        for (int f = 0; f < VX_F__COUNT && fields != NULL; f++)
            if (json_object_set_new(fields, vx_field_code((vx_field_id)f),
                                    field_json(&c->fields[f])) != 0) {
                json_decref(fields);
                fields = NULL;
            }
        if (fields == NULL)
            return -1;
        body = json_pack("{s:s,s:o,s:i,s:s,s:o,s:b,s:s,s:f}", "side", vx_side_code(c->side),
                         "fields", fields, "idcard_number_type", c->number_type, "image_status",
                         vx_image_status_code(c->status), "checks", checks_json(c), "charged",
                         charged, "request_id", req->id, "timing_ms",
                         (double)(long)(r->timing_ms * 10.0 + 0.5) / 10.0);
        out->status = 200;
        out->vendor_code = "read";
    } else {
        body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", ocr_outcome_code(r->outcome),
                         "message", ocr_outcome_message(r->outcome), "request_id", req->id);
        out->status = ocr_outcome_status(r->outcome);
        out->vendor_code = ocr_outcome_code(r->outcome);
        if (r->outcome == OCR_BUSY) {
            call_retry_after_text(r->retry_after_s, n->retry);
            out->headers[out->n_headers++] = (http_header){"Retry-After", n->retry};
        }
    }
    if (body == NULL)
        return -1;
    out->body = vjob_json_bytes(body, &out->len);
    out->content_type = JSON_UTF8;
    return out->body != NULL ? 0 : -1;
}

static void release_native(void *vctx)
{
    free(vctx);
}

/* "front", "back", "" (auto). false for anything else. */
static bool parse_side(const char *s, size_t len, vx_side *out)
{
    if (len == 0) {
        *out = VX_SIDE_UNKNOWN;
        return true;
    }
    if (len == 5 && memcmp(s, "front", 5) == 0) {
        *out = VX_SIDE_FRONT;
        return true;
    }
    if (len == 4 && memcmp(s, "back", 4) == 0) {
        *out = VX_SIDE_BACK;
        return true;
    }
    return false;
}

/* ---- multipart/form-data, through libmicrohttpd's post processor */

#define PART_SIDE_MAX 16

typedef struct {
    unsigned char *image;
    size_t image_len, image_cap;
    unsigned image_parts;       /* parts named "image" */
    char side[PART_SIDE_MAX + 1];
    size_t side_len;
    unsigned side_parts;
    bool side_too_long;
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
    if (strcmp(key, "image") == 0) {
        if (off == 0)
            m->image_parts++;
        if (m->image_parts > 1 || size == 0)
            return MHD_YES;
        if (m->image_len + size > m->image_cap) {
            size_t cap = m->image_cap ? m->image_cap * 2 : 65536;
            while (cap < m->image_len + size)
                cap *= 2;
            unsigned char *nb = malloc(cap);
            if (nb == NULL) {
                m->nomem = true;
                return MHD_NO;
            }
            if (m->image != NULL) {
                memcpy(nb, m->image, m->image_len);
                OPENSSL_cleanse(m->image, m->image_cap);
                free(m->image);
            }
            m->image = nb;
            m->image_cap = cap;
        }
        memcpy(m->image + m->image_len, data, size);
        m->image_len += size;
    } else if (strcmp(key, "side") == 0) {
        if (off == 0)
            m->side_parts++;
        if (m->side_len + size > PART_SIDE_MAX) {
            m->side_too_long = true;
            return MHD_YES;
        }
        memcpy(m->side + m->side_len, data, size);
        m->side_len += size;
        m->side[m->side_len] = '\0';
    }
    return MHD_YES; /* other parts are ignored */
}

static void multipart_clear(multipart *m)
{
    if (m->image != NULL) {
        OPENSSL_cleanse(m->image, m->image_cap);
        free(m->image);
    }
    memset(m, 0, sizeof *m);
}

/* Parse the multipart body into the spec. 0, or -1 after having replied. */
static int read_multipart(http_request *req, ocr_call_spec *spec)
{
    multipart m;
    memset(&m, 0, sizeof m);
    struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 65536, on_part, &m);
    if (pp == NULL) {
        reply_error(req, 400, "bad_multipart",
                    "the multipart/form-data body has no usable boundary parameter");
        return -1;
    }
    enum MHD_Result ok = req->body_len > 0 ? MHD_post_process(pp, req->body, req->body_len)
                                           : MHD_YES;
    enum MHD_Result done = MHD_destroy_post_processor(pp);
    if (m.nomem) {
        multipart_clear(&m);
        reply_error(req, 500, "internal", "out of memory");
        return -1;
    }
    if (ok != MHD_YES || done != MHD_YES) {
        multipart_clear(&m);
        reply_error(req, 400, "bad_multipart", "the multipart/form-data body is malformed");
        return -1;
    }
    if (m.image_parts > 1 || m.side_parts > 1) {
        const char *which = m.image_parts > 1 ? "image" : "side";
        multipart_clear(&m);
        char msg[96];
        snprintf(msg, sizeof msg, "part '%s' is given more than once", which);
        reply_error(req, 400, "invalid_field", msg);
        return -1;
    }
    if (m.image_parts == 0 || m.image_len == 0) {
        multipart_clear(&m);
        reply_error(req, 400, "missing_field",
                    m.image_parts == 0 ? "part 'image' is required (the card's image file)"
                                       : "part 'image' is empty");
        return -1;
    }
    if (m.side_too_long || !parse_side(m.side, m.side_len, &spec->want)) {
        multipart_clear(&m);
        reply_error(req, 400, "invalid_field", "part 'side' must be \"front\" or \"back\"");
        return -1;
    }
    spec->image = m.image;
    spec->image_len = m.image_len;
    return 0;
}

/* {"image_base64" | "image_url", "side"}. 0, or -1 after having replied. */
static int read_json(http_request *req, ocr_call_spec *spec)
{
    json_t *o = request_json_object(req);
    if (o == NULL)
        return -1;
    const char *b64 = NULL, *url = NULL, *side = NULL;
    size_t b64_len = 0, url_len = 0, side_len = 0;
    bool has_b64 = false, has_url = false, has_side = false;
    int rc = -1;
    if (request_field_string(req, o, "image_base64", false, &b64, &b64_len, &has_b64) != 0 ||
        request_field_string(req, o, "image_url", false, &url, &url_len, &has_url) != 0 ||
        request_field_string(req, o, "side", false, &side, &side_len, &has_side) != 0)
        goto out;
    if (has_b64 == has_url) {
        reply_error(req, 400, has_b64 ? "invalid_field" : "missing_field",
                    has_b64 ? "give either 'image_base64' or 'image_url', not both"
                            : "field 'image_base64' or 'image_url' is required");
        goto out;
    }
    if (has_side && !parse_side(side, side_len, &spec->want)) {
        reply_error(req, 400, "invalid_field", "field 'side' must be \"front\" or \"back\"");
        goto out;
    }
    if (has_url) {
        if (url_len == 0 || url_len > 1024 || strlen(url) != url_len ||
            !ocr_looks_like_url(url, url_len)) {
            reply_error(req, 400, "invalid_url", ocr_outcome_message(OCR_URL_INVALID));
            goto out;
        }
        spec->url = strdup(url);
        if (spec->url == NULL) {
            reply_error(req, 500, "internal", "out of memory");
            goto out;
        }
    } else {
        bool nomem = false;
        if (!ocr_base64_decode(b64, b64_len, &spec->image, &spec->image_len, &nomem)) {
            if (nomem)
                reply_error(req, 500, "internal", "out of memory");
            else
                reply_error(req, 400, "invalid_field", "field 'image_base64' is not valid base64");
            goto out;
        }
    }
    rc = 0;
out:
    vjob_json_string_cleanse(json_object_get(o, "image_base64"));
    vjob_json_string_cleanse(json_object_get(o, "image_url"));
    json_decref(o);
    return rc;
}

void api_ocr_idcard(http_request *req)
{
    const char *idem = NULL;
    if (vjob_idempotency_key(req, &idem) != 0)
        return;
    native_ocr *n = calloc(1, sizeof *n);
    if (n == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    ocr_call_spec spec = {
        .product = NATIVE_PRODUCT,
        .dialect = "native",
        .want = VX_SIDE_UNKNOWN,
        .idem_key = idem,
        .render = render_native,
        .refuse = vjob_refuse_native,
        .release = release_native,
        .ctx = n,
    };
    const char *ct = request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    int rc;
    if (vjob_media_type_is(ct, "multipart/form-data"))
        rc = read_multipart(req, &spec);
    else
        rc = read_json(req, &spec); /* 415 for anything but JSON */
    if (rc != 0) {
        spec_free_input(&spec);
        free(n);
        return;
    }
    ocr_call_run(req, &spec);
}
