/*
 * face.c — the face engine (see face.h) with the four models of npm
 * faceplugin-face-recognition-js 0.0.1. The conventions follow the
 * package's lib/fr_*.js where measurement agreed with them (docs/face.md has
 * the measurements):
 *
 *   detect    the image (or roi) resized bilinearly to 320×240, planar,
 *             (x − 127) / 128; outputs `scores` [1,4420,2] (class 1 = face)
 *             and `boxes` [1,4420,4], which the exported model already
 *             decodes into corner boxes normalised to 0..1 (the JS scales
 *             the raw output too); score ≥ DET_THRESH, top DET_TOP_K,
 *             greedy IoU NMS at DET_NMS; the largest box is the face.
 *   landmark  the detector box made square (side = its height, centred,
 *             moved inside the image), resized to 64×64 grey, /256 →
 *             68 points normalised to that crop; the five points as
 *             convert68pts5pts (eye centres from four lid points each, the
 *             nose tip, the mouth corners averaged with the inner lip).
 *   feature   least-squares similarity transform (rotation, uniform scale,
 *             translation) of the five points onto the reference points of
 *             the 112×112 crop, bilinear, zero outside the image;
 *             (x − 127) / 128 → 512 values, L2-normalised here.
 *   liveness  the square box widened 2.7 times (moved inside the image,
 *             shrunk if it cannot fit), 128×128, raw 0..255; softmax over
 *             three classes, LIVE_CLASS = the live capture.
 *
 * Must never: keep state between calls (analyse runs on many threads at
 * once; sessions are thread-safe), read outside the image, or leave a
 * crop, a tensor built from the image or an embedding in freed memory
 * (every such buffer is zeroed before it is freed).
 */
#include "vision/face.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ------------------------------------------------------------ parameters */

#define DET_W 320
#define DET_H 240
#define DET_N 4420          /* priors of RFB-320 at 320×240 */
#define DET_THRESH 0.65f    /* fr_detect.js confidence_threshold */
#define DET_NMS 0.4f        /* fr_detect.js nms_threshold (here: IoU) */
#define DET_TOP_K 750       /* fr_detect.js top_k */
#define LMK_S 64
#define LMK_N 68
#define FEAT_S 112
#define LIVE_S 128
#define LIVE_SCALE 2.7f     /* fr_liveness.js alignLivenessImage */
#define LIVE_NCLASS 3

#define DET_PAD 0.25f       /* retry with this much grey margin per side (below) */
#define LIVE_CLASS 0        /* measured: class 0 = live, 1 = the attacks (docs/face.md) */

static const float ref5[5][2] = {   /* fr_feature.js REFERENCE_FACIAL_POINTS */
    {38.29459953f, 51.69630051f},
    {73.53179932f, 51.50139999f},
    {56.02519989f, 71.73660278f},
    {41.54930115f, 92.3655014f},
    {70.72990036f, 92.20410156f},
};

struct vx_face {
    vx_session *det, *lmk, *feat, *live;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Zero, then free, a buffer derived from the image or the face. */
static void wipe_free(void *p, size_t n)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

static void tensor_wipe(vx_tensor *t)
{
    if (t->data)
        OPENSSL_cleanse(t->data, vx_tensor_count(t) * sizeof(float));
    vx_tensor_free(t);
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ----------------------------------------------------------------- view */

/* The part of the image analysed (the roi, or all of it). */
typedef struct {
    const uint8_t *px;   /* top-left pixel of the view */
    size_t stride;       /* bytes per image row */
    int w, h;
} view;

/* Bilinear sample at (x, y) (pixel-centre coordinates), clamped to the
 * view's edge (cv2 BORDER_REPLICATE). */
static inline void sample_clamp(const view *v, float x, float y, float rgb[3])
{
    x = clampf(x, 0, (float)(v->w - 1));
    y = clampf(y, 0, (float)(v->h - 1));
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < v->w ? x0 + 1 : x0, y1 = y0 + 1 < v->h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *a = v->px + (size_t)y0 * v->stride + (size_t)x0 * 3;
    const uint8_t *b = v->px + (size_t)y0 * v->stride + (size_t)x1 * 3;
    const uint8_t *c = v->px + (size_t)y1 * v->stride + (size_t)x0 * 3;
    const uint8_t *d = v->px + (size_t)y1 * v->stride + (size_t)x1 * 3;
    for (int k = 0; k < 3; k++) {
        float top = (float)a[k] + (float)(b[k] - a[k]) * fx;
        float bot = (float)c[k] + (float)(d[k] - c[k]) * fx;
        rgb[k] = top + (bot - top) * fy;
    }
}

/* Bilinear sample with zero outside the view (cv2 warpAffine's default
 * BORDER_CONSTANT 0): each of the four neighbours outside counts as 0. */
static inline void sample_zero(const view *v, float x, float y, float rgb[3])
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    float wgt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
    int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
    rgb[0] = rgb[1] = rgb[2] = 0;
    for (int i = 0; i < 4; i++) {
        if (xs[i] < 0 || ys[i] < 0 || xs[i] >= v->w || ys[i] >= v->h)
            continue;
        const uint8_t *p = v->px + (size_t)ys[i] * v->stride + (size_t)xs[i] * 3;
        for (int k = 0; k < 3; k++)
            rgb[k] += wgt[i] * (float)p[k];
    }
}

/* Resize the rectangle (rx, ry, rw, rh) of the view to dw×dh (cv2 resize
 * INTER_LINEAR: pixel centres) into a planar [3, dh, dw] tensor:
 * value = (channel − sub) × mul, channels B,G,R (bgr) or R,G,B. Samples
 * inside the view are clamped to its edge (BORDER_REPLICATE); with `grey`,
 * samples whose centre lies outside the view are mid-grey (a margin). */
static void crop_planar(const view *v, float rx, float ry, float rw, float rh, int dw, int dh,
                        bool bgr, bool grey, float sub, float mul, float *t)
{
    size_t plane = (size_t)dw * (size_t)dh;
    float sx = rw / (float)dw, sy = rh / (float)dh;
    for (int y = 0; y < dh; y++) {
        float syy = ry + ((float)y + 0.5f) * sy - 0.5f;
        bool out_y = syy < -0.5f || syy > (float)v->h - 0.5f;
        for (int x = 0; x < dw; x++) {
            float sxx = rx + ((float)x + 0.5f) * sx - 0.5f, rgb[3];
            if (grey && (out_y || sxx < -0.5f || sxx > (float)v->w - 0.5f))
                rgb[0] = rgb[1] = rgb[2] = 128.0f;
            else
                sample_clamp(v, sxx, syy, rgb);
            size_t o = (size_t)y * (size_t)dw + (size_t)x;
            for (int k = 0; k < 3; k++)
                t[(size_t)k * plane + o] = (rgb[bgr ? 2 - k : k] - sub) * mul;
        }
    }
}

/* ------------------------------------------------------------ open/close */

static bool check_shape(const vx_tensor *t, size_t count, const char *model, const char *what,
                        char *err, size_t errlen)
{
    if (vx_tensor_count(t) != count) {
        set_err(err, errlen, "model %s: %s has %zu values, expected %zu", model, what,
                vx_tensor_count(t), count);
        return false;
    }
    return true;
}

/* Run a model once on zeros: it loads, takes the expected input and gives
 * outputs of the expected sizes (and the first real call is not slower). */
static bool probe(vx_session *s, const char *model, int c, int h, int w, const char *const *names,
                  const size_t *counts, size_t nout, char *err, size_t errlen)
{
    size_t n = (size_t)c * (size_t)h * (size_t)w;
    float *in = calloc(n, sizeof(float));
    if (!in) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    vx_tensor t = {.data = in, .shape = {1, c, h, w}, .ndim = 4};
    vx_tensor out[2] = {{0}};
    char why[256] = "";
    bool ok = names ? vx_run_outputs(s, &t, names, nout, out, why, sizeof why)
                    : vx_run(s, &t, &out[0], why, sizeof why);
    free(in);
    if (!ok) {
        set_err(err, errlen, "model %s: does not take a [1,%d,%d,%d] input: %s", model, c, h, w, why);
        return false;
    }
    for (size_t i = 0; ok && i < nout; i++)
        ok = check_shape(&out[i], counts[i], model, names ? names[i] : "the output", err, errlen);
    for (size_t i = 0; i < nout; i++)
        vx_tensor_free(&out[i]);
    return ok;
}

static const char *const det_outputs[] = {"scores", "boxes"};

vx_face *vx_face_open(vx_runtime *rt, const vx_face_models *m, char *err, size_t errlen)
{
    if (!rt || !m || !m->detect || !m->landmark || !m->feature || !m->liveness) {
        set_err(err, errlen, "face models: the four model paths are required");
        return NULL;
    }
    vx_face *f = calloc(1, sizeof *f);
    if (!f) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (!(f->det = vx_session_load(rt, m->detect, err, errlen)) ||
        !(f->lmk = vx_session_load(rt, m->landmark, err, errlen)) ||
        !(f->feat = vx_session_load(rt, m->feature, err, errlen)) ||
        !(f->live = vx_session_load(rt, m->liveness, err, errlen)))
        goto fail;
    static const size_t det_counts[] = {DET_N * 2, DET_N * 4};
    static const size_t lmk_count = LMK_N * 2, feat_count = VX_FACE_DIM, live_count = LIVE_NCLASS;
    if (!probe(f->det, "fr_detect.onnx", 3, DET_H, DET_W, det_outputs, det_counts, 2, err, errlen) ||
        !probe(f->lmk, "fr_landmark.onnx", 1, LMK_S, LMK_S, NULL, &lmk_count, 1, err, errlen) ||
        !probe(f->feat, "fr_feature.onnx", 3, FEAT_S, FEAT_S, NULL, &feat_count, 1, err, errlen) ||
        !probe(f->live, "fr_liveness.onnx", 3, LIVE_S, LIVE_S, NULL, &live_count, 1, err, errlen))
        goto fail;
    return f;
fail:
    vx_face_close(f);
    return NULL;
}

vx_face *vx_face_open_dir(vx_runtime *rt, const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        set_err(err, errlen, "face models: no models directory");
        return NULL;
    }
    char p[4][4096];
    static const char *const names[4] = {"fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx",
                                         "fr_liveness.onnx"};
    for (int i = 0; i < 4; i++)
        if ((size_t)snprintf(p[i], sizeof p[i], "%s/%s", dir, names[i]) >= sizeof p[i]) {
            set_err(err, errlen, "face models: directory path too long");
            return NULL;
        }
    vx_face_models m = {p[0], p[1], p[2], p[3]};
    return vx_face_open(rt, &m, err, errlen);
}

void vx_face_close(vx_face *f)
{
    if (!f)
        return;
    vx_session_close(f->det);
    vx_session_close(f->lmk);
    vx_session_close(f->feat);
    vx_session_close(f->live);
    free(f);
}

/* ------------------------------------------------------------- detection */

typedef struct {
    float x1, y1, x2, y2, score;
} box;

static float area(const box *b) { return fmaxf(0, b->x2 - b->x1) * fmaxf(0, b->y2 - b->y1); }

static float iou(const box *a, const box *b)
{
    box i = {fmaxf(a->x1, b->x1), fmaxf(a->y1, b->y1), fminf(a->x2, b->x2), fminf(a->y2, b->y2), 0};
    float in = area(&i), un = area(a) + area(b) - in;
    return un > 0 ? in / un : 0;
}

static int cmp_score(const void *a, const void *b)
{
    float x = ((const box *)a)->score, y = ((const box *)b)->score;
    return x > y ? -1 : x < y;
}

/* Faces in the view, after NMS, sorted by score: *faces (malloc'ed, NULL
 * when none) and *n their count. The detector sees the view with a grey
 * margin of `pad` × its size on every side (0 = none). false + err on
 * failure. */
static bool detect_pass(vx_face *f, const view *v, float pad, box **faces, int *n, char *err,
                        size_t errlen)
{
    float px = -pad * (float)v->w, py = -pad * (float)v->h;
    float pw = (float)v->w * (1 + 2 * pad), ph = (float)v->h * (1 + 2 * pad);
    *n = 0;
    *faces = NULL;
    size_t cnt = (size_t)3 * DET_W * DET_H;
    float *in = malloc(cnt * sizeof(float));
    if (!in) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    crop_planar(v, px, py, pw, ph, DET_W, DET_H, true, pad > 0, 127.0f, 1.0f / 128.0f, in);
    vx_tensor t = {.data = in, .shape = {1, 3, DET_H, DET_W}, .ndim = 4};
    vx_tensor out[2];
    bool ok = vx_run_outputs(f->det, &t, det_outputs, 2, out, err, errlen);
    wipe_free(in, cnt * sizeof(float));
    if (!ok)
        return false;
    box *b = NULL;
    ok = false;
    if (vx_tensor_count(&out[0]) != DET_N * 2 || vx_tensor_count(&out[1]) != DET_N * 4) {
        set_err(err, errlen, "fr_detect.onnx: unexpected output sizes");
        goto done;
    }
    b = malloc(sizeof *b * DET_N);
    if (!b) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    int k = 0;
    for (int i = 0; i < DET_N; i++) {
        float s = out[0].data[2 * i + 1];
        if (!(s >= DET_THRESH))
            continue;
        /* already decoded corner boxes, normalised to the (padded) input */
        const float *c = out[1].data + 4 * i;
        box x = {clampf(px + c[0] * pw, 0, (float)v->w), clampf(py + c[1] * ph, 0, (float)v->h),
                 clampf(px + c[2] * pw, 0, (float)v->w), clampf(py + c[3] * ph, 0, (float)v->h), s};
        if (x.x2 - x.x1 >= 1 && x.y2 - x.y1 >= 1)
            b[k++] = x;
    }
    qsort(b, (size_t)k, sizeof *b, cmp_score);
    if (k > DET_TOP_K)
        k = DET_TOP_K;
    int kept = 0;
    for (int i = 0; i < k; i++) {
        bool keep = true;
        for (int j = 0; j < kept && keep; j++)
            keep = iou(&b[i], &b[j]) <= DET_NMS;
        if (keep)
            b[kept++] = b[i];
    }
    *n = kept;
    if (kept)
        *faces = b;
    else
        free(b);
    ok = true;
done:
    vx_tensor_free(&out[0]);
    vx_tensor_free(&out[1]);
    return ok;
}

/* A face that fills the whole frame (a tight crop, a document's portrait)
 * is often missed by the detector, which learnt faces with some context: when
 * the view alone shows none, it is tried again with a grey margin
 * (docs/face.md). */
static bool detect(vx_face *f, const view *v, box **faces, int *n, char *err, size_t errlen)
{
    if (!detect_pass(f, v, 0, faces, n, err, errlen))
        return false;
    if (*n == 0 && !detect_pass(f, v, DET_PAD, faces, n, err, errlen))
        return false;
    return true;
}

/* The detector box made square (side = its height, centred) and moved
 * inside the view, scaled by `scale` (shrunk when it cannot fit), as
 * alignLandmarkImage / alignLivenessImage do. x, y, side out. */
static void square_crop(const view *v, const box *b, float scale, float *x, float *y, float *sw,
                        float *sh)
{
    float side = b->y2 - b->y1;
    float cx = (b->x1 + b->x2) / 2, cy = (b->y1 + b->y2) / 2;
    float s = fminf(scale, fminf((float)(v->w - 1) / side, (float)(v->h - 1) / side));
    float w = side * s, h = side * s;
    float lx = cx - w / 2, ty = cy - h / 2;
    if (lx < 0)
        lx = 0;
    if (ty < 0)
        ty = 0;
    if (lx + w > (float)(v->w - 1))
        lx = (float)(v->w - 1) - w;
    if (ty + h > (float)(v->h - 1))
        ty = (float)(v->h - 1) - h;
    *x = fmaxf(lx, 0);
    *y = fmaxf(ty, 0);
    *sw = fmaxf(w, 1);
    *sh = fmaxf(h, 1);
}

/* ------------------------------------------------------------- landmarks */

static bool landmarks5(vx_face *f, const view *v, const box *b, float pts[5][2], char *err,
                       size_t errlen)
{
    float x, y, w, h;
    square_crop(v, b, 1.0f, &x, &y, &w, &h);
    float rgb[3 * LMK_S * LMK_S], in[LMK_S * LMK_S];
    crop_planar(v, x, y, w, h, LMK_S, LMK_S, false, false, 0, 1, rgb);
    const size_t plane = LMK_S * LMK_S;
    for (size_t i = 0; i < plane; i++) {
        /* cv2 BGR2GRAY weights on R, G, B; rounded to 8 bits like a grey Mat */
        float g = 0.299f * rgb[i] + 0.587f * rgb[plane + i] + 0.114f * rgb[2 * plane + i];
        in[i] = floorf(g + 0.5f) / 256.0f;
    }
    OPENSSL_cleanse(rgb, sizeof rgb);
    vx_tensor t = {.data = in, .shape = {1, 1, LMK_S, LMK_S}, .ndim = 4}, out;
    bool ok = vx_run(f->lmk, &t, &out, err, errlen);
    OPENSSL_cleanse(in, sizeof in);
    if (!ok)
        return false;
    if (vx_tensor_count(&out) != LMK_N * 2) {
        set_err(err, errlen, "fr_landmark.onnx: unexpected output size");
        tensor_wipe(&out);
        return false;
    }
    float p[LMK_N][2];
    for (int i = 0; i < LMK_N; i++) {
        p[i][0] = x + out.data[2 * i] * w;
        p[i][1] = y + out.data[2 * i + 1] * h;
    }
    tensor_wipe(&out);
    /* fr_feature.js convert68pts5pts */
    for (int k = 0; k < 2; k++) {
        pts[0][k] = (p[37][k] + p[38][k] + p[40][k] + p[41][k]) / 4;
        pts[1][k] = (p[43][k] + p[44][k] + p[46][k] + p[47][k]) / 4;
        pts[2][k] = p[30][k];
        pts[3][k] = (p[48][k] + p[60][k]) / 2;
        pts[4][k] = (p[54][k] + p[64][k]) / 2;
    }
    OPENSSL_cleanse(p, sizeof p);
    return true;
}

/* ------------------------------------------------------------- alignment */

/* Least-squares similarity transform mapping src onto dst:
 * dst ≈ [a −b; b a] src + (tx, ty) (Umeyama without reflection). */
static void similarity(const float src[5][2], const float dst[5][2], float m[6])
{
    float ms[2] = {0}, md[2] = {0};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            ms[k] += src[i][k] / 5;
            md[k] += dst[i][k] / 5;
        }
    float num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        float px = src[i][0] - ms[0], py = src[i][1] - ms[1];
        float qx = dst[i][0] - md[0], qy = dst[i][1] - md[1];
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    float a = den > 0 ? num_a / den : 1, b = den > 0 ? num_b / den : 0;
    m[0] = a, m[1] = -b, m[2] = md[0] - (a * ms[0] - b * ms[1]);
    m[3] = b, m[4] = a, m[5] = md[1] - (b * ms[0] + a * ms[1]);
}

/* The aligned 112×112 crop as planar floats (x − 127) / 128, and the
 * variance of the Laplacian of its grey image (sharpness). */
static void align(const view *v, const float pts[5][2], float *t, double *lap_var)
{
    float m[6];
    similarity(pts, ref5, m);
    /* inverse: src = R⁻¹ (dst − t), R = [a −b; b a], R⁻¹ = [a b; −b a] / (a² + b²) */
    float a = m[0], b = m[3], d = a * a + b * b;
    if (!(d > 1e-12f))
        d = 1e-12f;
    float ia = a / d, ib = b / d;
    const size_t plane = FEAT_S * FEAT_S;
    static const float lum[3] = {0.299f, 0.587f, 0.114f};
    float grey[FEAT_S * FEAT_S];
    for (int y = 0; y < FEAT_S; y++)
        for (int x = 0; x < FEAT_S; x++) {
            float dx = (float)x - m[2], dy = (float)y - m[5];
            float sx = ia * dx + ib * dy, sy = -ib * dx + ia * dy;
            float rgb[3];
            sample_zero(v, sx, sy, rgb);
            size_t o = (size_t)y * FEAT_S + (size_t)x;
            grey[o] = lum[0] * rgb[0] + lum[1] * rgb[1] + lum[2] * rgb[2];
            for (int k = 0; k < 3; k++)
                t[(size_t)k * plane + o] = (rgb[2 - k] - 127.0f) / 128.0f;
        }
    double s = 0, s2 = 0;
    int n = 0;
    for (int y = 1; y < FEAT_S - 1; y++)
        for (int x = 1; x < FEAT_S - 1; x++) {
            size_t o = (size_t)y * FEAT_S + (size_t)x;
            double l = (double)grey[o - 1] + grey[o + 1] + grey[o - FEAT_S] + grey[o + FEAT_S] -
                       4.0 * grey[o];
            s += l;
            s2 += l * l;
            n++;
        }
    double mean = s / n;
    *lap_var = s2 / n - mean * mean;
    OPENSSL_cleanse(grey, sizeof grey);
}

static bool embed(vx_face *f, const view *v, const float pts[5][2], float emb[VX_FACE_DIM],
                  double *lap_var, char *err, size_t errlen)
{
    const size_t cnt = (size_t)3 * FEAT_S * FEAT_S;
    float *in = malloc(cnt * sizeof(float));
    if (!in) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    align(v, pts, in, lap_var);
    vx_tensor t = {.data = in, .shape = {1, 3, FEAT_S, FEAT_S}, .ndim = 4}, out;
    bool ok = vx_run(f->feat, &t, &out, err, errlen);
    wipe_free(in, cnt * sizeof(float));
    if (!ok)
        return false;
    if (vx_tensor_count(&out) != VX_FACE_DIM) {
        set_err(err, errlen, "fr_feature.onnx: unexpected output size");
        tensor_wipe(&out);
        return false;
    }
    double n2 = 0;
    for (int i = 0; i < VX_FACE_DIM; i++)
        n2 += (double)out.data[i] * out.data[i];
    float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0;
    for (int i = 0; i < VX_FACE_DIM; i++)
        emb[i] = out.data[i] * inv;
    tensor_wipe(&out);
    if (!(n2 > 0)) {
        set_err(err, errlen, "fr_feature.onnx: an all-zero embedding");
        return false;
    }
    return true;
}

/* -------------------------------------------------------------- liveness */

static bool liveness(vx_face *f, const view *v, const box *b, float *live, char *err, size_t errlen)
{
    /* the square box of the landmark step, then widened LIVE_SCALE times */
    float x, y, w, h;
    square_crop(v, b, 1.0f, &x, &y, &w, &h);
    box sq = {x, y, x + w, y + h, b->score};
    square_crop(v, &sq, LIVE_SCALE, &x, &y, &w, &h);
    const size_t cnt = (size_t)3 * LIVE_S * LIVE_S;
    float *in = malloc(cnt * sizeof(float));
    if (!in) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    crop_planar(v, x, y, w, h, LIVE_S, LIVE_S, true, false, 0, 1, in);
    vx_tensor t = {.data = in, .shape = {1, 3, LIVE_S, LIVE_S}, .ndim = 4}, out;
    bool ok = vx_run(f->live, &t, &out, err, errlen);
    wipe_free(in, cnt * sizeof(float));
    if (!ok)
        return false;
    if (vx_tensor_count(&out) != LIVE_NCLASS) {
        set_err(err, errlen, "fr_liveness.onnx: unexpected output size");
        vx_tensor_free(&out);
        return false;
    }
    float mx = out.data[0];
    for (int i = 1; i < LIVE_NCLASS; i++)
        mx = fmaxf(mx, out.data[i]);
    float e[LIVE_NCLASS], sum = 0;
    for (int i = 0; i < LIVE_NCLASS; i++)
        sum += e[i] = expf(out.data[i] - mx);
    *live = e[LIVE_CLASS] / sum;
    vx_tensor_free(&out);
    return true;
}

/* --------------------------------------------------------------- analyse */

/* quality = mean of three parts in 0..1 (docs/face.md):
 *   size       the face box's shorter side / 112 (the feature crop), capped at 1
 *   sharpness  v / (v + 200), v = variance of the Laplacian of the aligned grey
 *              112×112 crop (0..255 levels; 200 is a soft photo, the faces set's
 *              median is ~960, its 5th percentile ~80)
 *   detector   the detector's score
 * Without VX_FACE_EMBED there is no aligned crop: sharpness counts 0.5. */
static float quality_of(const box *b, double lap_var, bool have_lap)
{
    float side = fminf(b->x2 - b->x1, b->y2 - b->y1);
    float q_size = clampf(side / (float)FEAT_S, 0, 1);
    double v = lap_var > 0 ? lap_var : 0;
    float q_sharp = have_lap ? (float)(v / (v + 200.0)) : 0.5f;
    return (q_size + q_sharp + clampf(b->score, 0, 1)) / 3.0f;
}

bool vx_face_analyse(vx_face *f, const vx_image *img, const int roi[4], unsigned what,
                     vx_face_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->liveness = -1;
    if (!f || !img || !img->px || img->width < 1 || img->height < 1) {
        set_err(err, errlen, "no image");
        return false;
    }
    int rx = 0, ry = 0, rw = img->width, rh = img->height;
    if (roi) {
        long x1 = roi[0] < 0 ? 0 : roi[0], y1 = roi[1] < 0 ? 0 : roi[1];
        long x2 = (long)roi[0] + roi[2], y2 = (long)roi[1] + roi[3];
        if (x2 > img->width)
            x2 = img->width;
        if (y2 > img->height)
            y2 = img->height;
        if (x2 - x1 < 2 || y2 - y1 < 2)
            return true; /* an empty region holds no face */
        rx = (int)x1, ry = (int)y1, rw = (int)(x2 - x1), rh = (int)(y2 - y1);
    }
    view v = {img->px + ((size_t)ry * (size_t)img->width + (size_t)rx) * 3,
              (size_t)img->width * 3, rw, rh};
    int n = 0;
    box *b = NULL;
    if (!detect(f, &v, &b, &n, err, errlen))
        return false;
    if (!b)
        return true; /* no face */
    int best = 0;
    for (int i = 1; i < n; i++)
        if (area(&b[i]) > area(&b[best]))
            best = i;
    box face = b[best];
    free(b);
    out->n_faces = n;
    out->found = true;
    out->box = (vx_face_box){face.x1 + (float)rx, face.y1 + (float)ry, face.x2 + (float)rx,
                             face.y2 + (float)ry, face.score};
    double lap = 0;
    if (what & VX_FACE_EMBED) {
        float pts[5][2];
        if (!landmarks5(f, &v, &face, pts, err, errlen) ||
            !embed(f, &v, pts, out->embedding, &lap, err, errlen)) {
            vx_face_result_clear(out);
            out->liveness = -1;
            return false;
        }
        for (int i = 0; i < 5; i++) {
            out->landmarks[i][0] = pts[i][0] + (float)rx;
            out->landmarks[i][1] = pts[i][1] + (float)ry;
        }
        out->embedded = true;
    }
    if (what & VX_FACE_LIVENESS) {
        if (!liveness(f, &v, &face, &out->liveness, err, errlen)) {
            vx_face_result_clear(out);
            out->liveness = -1;
            return false;
        }
    }
    out->quality = quality_of(&face, lap, (what & VX_FACE_EMBED) != 0);
    return true;
}

void vx_face_result_clear(vx_face_result *r)
{
    if (r)
        OPENSSL_cleanse(r, sizeof *r);
}

/* ----------------------------------------------------------------- score */

float vx_face_similarity(const float a[VX_FACE_DIM], const float b[VX_FACE_DIM])
{
    double s = 0;
    for (int i = 0; i < VX_FACE_DIM; i++)
        s += (double)a[i] * b[i];
    return (float)(s < -1 ? -1 : s > 1 ? 1 : s);
}

/* The map of similarity onto 0..100: piecewise linear through these
 * anchors. The two thresholds were measured on ../shared/data/faces (111
 * images of 28 people: 207 same-person pairs, 5,898 different-person pairs;
 * bench/face, docs/face.md): a similarity of 0.254 is the false-accept rate
 * 1 % point (score 60), 0.339 the 0.1 % point (score 70, VX_FACE_SAME_SCORE). */
static const double anchors[][2] = {
    {-1.0, 0.0},
    {0.0, 20.0},
    {0.254, 60.0},  /* FAR 1 % */
    {0.339, 70.0},  /* FAR 0.1 %: VX_FACE_SAME_SCORE */
    {0.60, 90.0},
    {1.0, 100.0},
};

double vx_face_score(float similarity)
{
    double s = similarity;
    size_t n = sizeof anchors / sizeof anchors[0];
    if (!(s > anchors[0][0]))
        return anchors[0][1];
    for (size_t i = 1; i < n; i++)
        if (s <= anchors[i][0]) {
            double t = (s - anchors[i - 1][0]) / (anchors[i][0] - anchors[i - 1][0]);
            return anchors[i - 1][1] + t * (anchors[i][1] - anchors[i - 1][1]);
        }
    return anchors[n - 1][1];
}

bool vx_face_same(double score) { return score >= VX_FACE_SAME_SCORE; }

/* Measured (docs/face.md): every one of the 111 genuine photos scores at
 * least 0.56; 85 % of the screen and 66 % of the print re-renders score under
 * 0.5. */
const float vx_face_live_threshold = 0.5f;
