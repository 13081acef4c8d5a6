/*
 * ocr.c — text lines with PP-OCRv4, as PaddleOCR's tools/infer/predict_system.py
 * does it (see ocr.h; every parameter below comes from PaddleOCR's defaults,
 * docs/vision.md lists them with their source):
 *
 *   det   the image resized (bilinear) so that its longer side is at most
 *         DET_LIMIT_SIDE and both sides are multiples of 32; channels in
 *         PaddleOCR's order (BGR, as cv2 reads them) normalised with the
 *         ImageNet mean/std; DB post-processing on the probability map:
 *         threshold, 8-connected regions, minimum-area rectangle, mean
 *         probability inside it ("fast" box score), unclip by
 *         area × ratio / perimeter, minimum sizes; boxes mapped back.
 *   order sorted_boxes: by top y, then left to right within 10 px.
 *   crop  each box warped (homography, bilinear, area-averaged when
 *         shrinking) straight to a line image 48 px high; a box 1.5 times
 *         taller than wide is read turned 90° counter-clockwise (np.rot90).
 *   cls   48 × 192, (x/255 − 0.5)/0.5, zero padding; label 1 (180°) with
 *         score > 0.9 turns the line image 180°.
 *   rec   48 × W, one line per run, W = the line's own width (PaddleOCR
 *         batches six lines and pads them to the widest, at least 320:
 *         shiming does not, which reads the same text on the fixtures and
 *         saves most of the work on short lines such as the labels of an ID
 *         card), two lines at a time on two threads (recognise),
 *         (x/255 − 0.5)/0.5, zero padding; CTC greedy decoding over [blank] + ppocr_keys_v1.txt +
 *         [" "]; confidence = mean of the kept characters' probabilities;
 *         lines under DROP_SCORE dropped.
 *
 * Must never: keep state between calls (vx_ocr_read runs on many threads at
 * once; the sessions are thread-safe), or read outside the image (every
 * sample is clamped, like cv2's BORDER_REPLICATE).
 */
#include "vision/ocr.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PaddleOCR tools/infer/utility.py defaults. */
#define DET_LIMIT_SIDE 960      /* det_limit_side_len, det_limit_type "max" */
#define DB_THRESH 0.3f          /* det_db_thresh */
#define DB_BOX_THRESH 0.6f      /* det_db_box_thresh */
#define DB_UNCLIP_RATIO 1.5f    /* det_db_unclip_ratio */
#define DB_MAX_CANDIDATES 1000  /* DBPostProcess max_candidates */
#define DB_MIN_SIZE 3           /* DBPostProcess min_size */
#define CLS_H 48                /* cls_image_shape 3,48,192 */
#define CLS_W 192
#define CLS_THRESH 0.9f         /* cls_thresh */
#define REC_H 48                /* rec_image_shape 3,48,320 */
/* rec_batch_num is 6 in PaddleOCR; shiming recognises each line alone: a
 * batch is padded to its widest line, and on CPU the batch brings nothing
 * back (the work is per column either way). Measured on ID cards (3 rounds
 * interleaved, 60 clean and 60 photos, load 2.3–5.4): median per card −15
 * to −21 % clean, −4 to −33 % photos, CPU per card −1 to −21 %, the same
 * text. */
#define REC_BATCH 1
#define REC_SIMILAR 1.5f        /* shiming: a batch's widest line at most 1.5 × its narrowest */
#define REC_MAX_W 3200          /* shiming's cap on one line image (~66 : 1) */
#define DROP_SCORE 0.5f         /* drop_score */
#define CLS_BATCH 24
#define CLS_VOTE 6              /* shiming, one_page: lines the classifier votes with */

struct vx_ocr {
    vx_session *det, *rec, *cls;
    char *keybuf;          /* the dictionary file, NUL-separated */
    const char **keys;     /* [0] = blank, then the file's lines, then " " */
    size_t nkeys;
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

/* ------------------------------------------------------------ open/close */

static bool load_keys(vx_ocr *o, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "dictionary %s: cannot be read (run scripts/setup)", path);
        return false;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = cap < (1u << 24) ? realloc(buf, (cap *= 2) + 1) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        set_err(err, errlen, "dictionary %s: too large or out of memory", path);
        return false;
    }
    buf[len] = '\0';
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    o->keys = calloc(lines + 2, sizeof *o->keys);
    if (!o->keys) {
        free(buf);
        set_err(err, errlen, "out of memory");
        return false;
    }
    o->keybuf = buf;
    o->keys[o->nkeys++] = "";  /* CTC blank */
    char *p = buf;
    while (*p) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        if (end > p && end[-1] == '\r')
            end[-1] = '\0';
        *end = '\0';
        o->keys[o->nkeys++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    o->keys[o->nkeys++] = " ";  /* use_space_char */
    return true;
}

void vx_ocr_close(vx_ocr *o)
{
    if (!o)
        return;
    vx_session_close(o->det);
    vx_session_close(o->rec);
    vx_session_close(o->cls);
    free(o->keys);
    free(o->keybuf);
    free(o);
}

vx_ocr *vx_ocr_open(vx_runtime *rt, const vx_ocr_models *m, char *err, size_t errlen)
{
    vx_ocr *o = calloc(1, sizeof *o);
    if (!o) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (!load_keys(o, m->keys, err, errlen) ||
        !(o->det = vx_session_load(rt, m->det_model, err, errlen)) ||
        !(o->cls = vx_session_load(rt, m->cls_model, err, errlen)) ||
        !(o->rec = vx_session_load(rt, m->rec_model, err, errlen))) {
        vx_ocr_close(o);
        return NULL;
    }
    return o;
}

void vx_ocr_result_free(vx_ocr_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i].text);
    free(r->lines);
    r->lines = NULL;
    r->n = 0;
}

/* ------------------------------------------------------------ detection */

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Bilinear resize (cv2 INTER_LINEAR pixel centres) of the RGB image into a
 * planar BGR float tensor normalised as PaddleOCR's NormalizeImage
 * (scale 1/255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225, applied in
 * channel order to cv2's BGR planes). */
static void det_input(const vx_image *img, int dw, int dh, float *t)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    float mul[3], add[3];
    for (int c = 0; c < 3; c++) {
        mul[c] = 1.0f / (255.0f * stdv[c]);
        add[c] = -mean[c] / stdv[c];
    }
    int sw = img->width, sh = img->height;
    float sx = (float)sw / (float)dw, sy = (float)sh / (float)dh;
    size_t plane = (size_t)dw * (size_t)dh;
    int *x0 = malloc(sizeof(int) * (size_t)dw * 2);
    float *fx = malloc(sizeof(float) * (size_t)dw);
    if (!x0 || !fx) {
        free(x0);
        free(fx);
        memset(t, 0, plane * 3 * sizeof(float));
        return;
    }
    for (int x = 0; x < dw; x++) {
        float s = ((float)x + 0.5f) * sx - 0.5f;
        s = clampf(s, 0, (float)(sw - 1));
        int i = (int)s;
        x0[2 * x] = i;
        x0[2 * x + 1] = i + 1 < sw ? i + 1 : i;
        fx[x] = s - (float)i;
    }
    for (int y = 0; y < dh; y++) {
        float s = clampf(((float)y + 0.5f) * sy - 0.5f, 0, (float)(sh - 1));
        int j = (int)s, j1 = j + 1 < sh ? j + 1 : j;
        float fy = s - (float)j;
        const uint8_t *r0 = img->px + (size_t)j * (size_t)sw * 3;
        const uint8_t *r1 = img->px + (size_t)j1 * (size_t)sw * 3;
        float *ob = t + (size_t)y * (size_t)dw, *og = ob + plane, *orr = og + plane;
        for (int x = 0; x < dw; x++) {
            const uint8_t *a = r0 + x0[2 * x] * 3, *b = r0 + x0[2 * x + 1] * 3;
            const uint8_t *c = r1 + x0[2 * x] * 3, *d = r1 + x0[2 * x + 1] * 3;
            float wx = fx[x];
            float v[3];
            for (int k = 0; k < 3; k++) {
                float top = a[k] + (b[k] - a[k]) * wx, bot = c[k] + (d[k] - c[k]) * wx;
                v[k] = top + (bot - top) * fy;
            }
            /* v is R,G,B; the planes are B,G,R with mean/std in that order. */
            ob[x] = v[2] * mul[0] + add[0];
            og[x] = v[1] * mul[1] + add[1];
            orr[x] = v[0] * mul[2] + add[2];
        }
    }
    free(x0);
    free(fx);
}

typedef struct {
    float x, y;
} pt;

static float cross3(pt o, pt a, pt b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

static int cmp_pt(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->y < q->y ? -1 : p->y > q->y;
}

/* Convex hull (Andrew's monotone chain) in place; returns its size. */
static size_t convex_hull(pt *p, size_t n, pt *h)
{
    if (n < 3) {
        memcpy(h, p, n * sizeof *p);
        return n;
    }
    qsort(p, n, sizeof *p, cmp_pt);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        while (k >= 2 && cross3(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    for (size_t i = n - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross3(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    return k - 1;
}

/* Minimum-area rectangle of a convex hull (rotating calipers, every edge
 * direction tried): corners in r, sides in *w (along the edge) and *h. */
static void min_area_rect(const pt *h, size_t n, pt r[4], float *rw, float *rh)
{
    *rw = *rh = 0;
    for (int i = 0; i < 4; i++)
        r[i] = h[0];
    if (n == 1)
        return;
    float best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        pt a = h[i], b = h[(i + 1) % n];
        float ex = b.x - a.x, ey = b.y - a.y, len = sqrtf(ex * ex + ey * ey);
        if (len <= 0)
            continue;
        float ux = ex / len, uy = ey / len;
        float mu = INFINITY, Mu = -INFINITY, mv = INFINITY, Mv = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            float pu = h[j].x * ux + h[j].y * uy, pv = -h[j].x * uy + h[j].y * ux;
            mu = fminf(mu, pu);
            Mu = fmaxf(Mu, pu);
            mv = fminf(mv, pv);
            Mv = fmaxf(Mv, pv);
        }
        float area = (Mu - mu) * (Mv - mv);
        if (area < best) {
            best = area;
            *rw = Mu - mu;
            *rh = Mv - mv;
            float us[4] = {mu, Mu, Mu, mu}, vs[4] = {mv, mv, Mv, Mv};
            for (int k = 0; k < 4; k++) {
                r[k].x = us[k] * ux - vs[k] * uy;
                r[k].y = us[k] * uy + vs[k] * ux;
            }
        }
    }
}

/* PaddleOCR's get_mini_boxes ordering: sorted by x; of the two left points
 * the upper is first (top-left) and the lower last; of the two right points
 * the upper is second, the lower third. */
static void mini_box_order(pt r[4])
{
    pt p[4];
    memcpy(p, r, sizeof p);
    qsort(p, 4, sizeof *p, cmp_pt);
    int i1, i2, i3, i4;
    if (p[1].y > p[0].y) {
        i1 = 0;
        i4 = 1;
    } else {
        i1 = 1;
        i4 = 0;
    }
    if (p[3].y > p[2].y) {
        i2 = 2;
        i3 = 3;
    } else {
        i2 = 3;
        i3 = 2;
    }
    r[0] = p[i1];
    r[1] = p[i2];
    r[2] = p[i3];
    r[3] = p[i4];
}

/* Mean probability inside the quad (PaddleOCR's box_score_fast: the mask
 * of the polygon within its bounding box). */
static float box_score(const float *prob, int w, int h, const pt q[4])
{
    float fx0 = q[0].x, fx1 = q[0].x, fy0 = q[0].y, fy1 = q[0].y;
    for (int i = 1; i < 4; i++) {
        fx0 = fminf(fx0, q[i].x);
        fx1 = fmaxf(fx1, q[i].x);
        fy0 = fminf(fy0, q[i].y);
        fy1 = fmaxf(fy1, q[i].y);
    }
    int x0 = (int)clampf(floorf(fx0), 0, (float)(w - 1)), x1 = (int)clampf(ceilf(fx1), 0, (float)(w - 1));
    int y0 = (int)clampf(floorf(fy0), 0, (float)(h - 1)), y1 = (int)clampf(ceilf(fy1), 0, (float)(h - 1));
    /* Orientation of the quad, so that "inside" is the same side of each edge. */
    float sgn = cross3(q[0], q[1], q[2]) >= 0 ? 1.0f : -1.0f;
    double sum = 0;
    size_t cnt = 0;
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            pt c = {(float)x, (float)y};
            bool in = true;
            for (int i = 0; i < 4 && in; i++) {
                pt a = q[i], b = q[(i + 1) % 4];
                float len = hypotf(b.x - a.x, b.y - a.y);
                /* within half a pixel of the edge counts, as fillPoly's
                 * boundary pixels do */
                if (sgn * cross3(a, b, c) < -0.5f * (len > 0 ? len : 1))
                    in = false;
            }
            if (in) {
                sum += prob[(size_t)y * (size_t)w + (size_t)x];
                cnt++;
            }
        }
    }
    return cnt ? (float)(sum / (double)cnt) : 0;
}

typedef struct {
    pt q[4];      /* in the input image, tl tr br bl */
} det_box;

/* PaddleOCR's order_points_clockwise: tl = min x+y, br = max x+y, tr/bl
 * from y−x of the remaining two. */
static void order_clockwise(pt q[4])
{
    int imin = 0, imax = 0;
    for (int i = 1; i < 4; i++) {
        if (q[i].x + q[i].y < q[imin].x + q[imin].y)
            imin = i;
        if (q[i].x + q[i].y > q[imax].x + q[imax].y)
            imax = i;
    }
    if (imin == imax)
        return;
    pt rest[2];
    int k = 0;
    for (int i = 0; i < 4; i++)
        if (i != imin && i != imax)
            rest[k++] = q[i];
    pt o[4] = {q[imin], rest[0], q[imax], rest[1]};
    if (rest[0].y - rest[0].x > rest[1].y - rest[1].x) {
        o[1] = rest[1];
        o[3] = rest[0];
    }
    memcpy(q, o, sizeof o);
}

static float dist(pt a, pt b) { return hypotf(a.x - b.x, a.y - b.y); }

/* DB post-processing of the probability map (w × h) into boxes in the
 * image (iw × ih). Returns the number of boxes (in *out, malloc'ed), or
 * -1 when out of memory. */
static long db_boxes(const float *prob, int w, int h, int iw, int ih, det_box **out)
{
    size_t n = (size_t)w * (size_t)h;
    int32_t *label = malloc(n * sizeof *label);
    int32_t *stack = malloc(n * sizeof *stack);
    /* per component: leftmost and rightmost pixel of each of its rows */
    pt *pts = malloc(sizeof(pt) * 2 * (size_t)h * 2);
    pt *hull = malloc(sizeof(pt) * 2 * (size_t)h * 2 + sizeof(pt));
    int *rowmin = malloc(sizeof(int) * (size_t)h), *rowmax = malloc(sizeof(int) * (size_t)h);
    det_box *boxes = NULL;
    size_t nb = 0, capb = 0;
    long ret = -1;
    if (!label || !stack || !pts || !hull || !rowmin || !rowmax)
        goto done;
    for (size_t i = 0; i < n; i++)
        label[i] = prob[i] > DB_THRESH ? 0 : -1;
    for (int y = 0; y < h; y++)
        rowmin[y] = INT32_MAX, rowmax[y] = -1;
    int32_t comp = 0;
    for (size_t seed = 0; seed < n && comp < DB_MAX_CANDIDATES; seed++) {
        if (label[seed] != 0)
            continue;
        comp++;
        size_t sp = 0;
        stack[sp++] = (int32_t)seed;
        label[seed] = comp;
        int ymin = h, ymax = -1;
        while (sp) {
            int32_t idx = stack[--sp];
            int x = idx % w, y = idx / w;
            if (x < rowmin[y])
                rowmin[y] = x;
            if (x > rowmax[y])
                rowmax[y] = x;
            if (y < ymin)
                ymin = y;
            if (y > ymax)
                ymax = y;
            for (int dy = -1; dy <= 1; dy++) {
                int yy = y + dy;
                if (yy < 0 || yy >= h)
                    continue;
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx;
                    if (xx < 0 || xx >= w)
                        continue;
                    size_t j = (size_t)yy * (size_t)w + (size_t)xx;
                    if (label[j] == 0) {
                        label[j] = comp;
                        stack[sp++] = (int32_t)j;
                    }
                }
            }
        }
        size_t np = 0;
        for (int y = ymin; y <= ymax; y++) {
            if (rowmax[y] < 0)
                continue;
            pts[np++] = (pt){(float)rowmin[y], (float)y};
            if (rowmax[y] != rowmin[y])
                pts[np++] = (pt){(float)rowmax[y], (float)y};
            rowmin[y] = INT32_MAX;
            rowmax[y] = -1;
        }
        size_t nh = convex_hull(pts, np, hull);
        pt r[4];
        float rw, rh;
        min_area_rect(hull, nh, r, &rw, &rh);
        if (fminf(rw, rh) < DB_MIN_SIZE)
            continue;
        mini_box_order(r);
        if (box_score(prob, w, h, r) < DB_BOX_THRESH)
            continue;
        /* unclip: offset the rectangle by area × ratio / perimeter; the
         * minimum-area rectangle of the (round-cornered) offset polygon is
         * the rectangle grown by that distance on every side. */
        float d = rw * rh * DB_UNCLIP_RATIO / (2 * (rw + rh));
        pt orig[4];
        memcpy(orig, r, sizeof orig);
        for (int k = 0; k < 4; k++) {
            /* each corner moves d along both of its sides' normals */
            pt p = orig[k], e1 = orig[(k + 1) % 4], e3 = orig[(k + 3) % 4];
            float l1 = dist(p, e1), l3 = dist(p, e3);
            float ax = l1 > 0 ? (p.x - e1.x) / l1 : 0, ay = l1 > 0 ? (p.y - e1.y) / l1 : 0;
            float bx = l3 > 0 ? (p.x - e3.x) / l3 : 0, by = l3 > 0 ? (p.y - e3.y) / l3 : 0;
            r[k].x += d * (ax + bx);
            r[k].y += d * (ay + by);
        }
        if (fminf(rw, rh) + 2 * d < DB_MIN_SIZE + 2)
            continue;
        mini_box_order(r);
        det_box b;
        for (int k = 0; k < 4; k++) {
            b.q[k].x = clampf(roundf(r[k].x / (float)w * (float)iw), 0, (float)iw);
            b.q[k].y = clampf(roundf(r[k].y / (float)h * (float)ih), 0, (float)ih);
        }
        /* filter_tag_det_res */
        order_clockwise(b.q);
        for (int k = 0; k < 4; k++) {
            b.q[k].x = clampf(b.q[k].x, 0, (float)(iw - 1));
            b.q[k].y = clampf(b.q[k].y, 0, (float)(ih - 1));
        }
        if ((int)dist(b.q[0], b.q[1]) <= 3 || (int)dist(b.q[0], b.q[3]) <= 3)
            continue;
        if (nb == capb) {
            size_t nc = capb ? capb * 2 : 32;
            det_box *nbx = realloc(boxes, nc * sizeof *nbx);
            if (!nbx)
                goto done;
            boxes = nbx;
            capb = nc;
        }
        boxes[nb++] = b;
    }
    ret = (long)nb;
    *out = boxes;
    boxes = NULL;
done:
    free(boxes);
    free(label);
    free(stack);
    free(pts);
    free(hull);
    free(rowmin);
    free(rowmax);
    return ret;
}

static int cmp_box(const void *a, const void *b)
{
    const det_box *p = a, *q = b;
    if (p->q[0].y != q->q[0].y)
        return p->q[0].y < q->q[0].y ? -1 : 1;
    return p->q[0].x < q->q[0].x ? -1 : p->q[0].x > q->q[0].x;
}

/* PaddleOCR's sorted_boxes: by (y, x) of the top-left corner, then one
 * bubbling pass that puts boxes within 10 px of height left to right. */
static void sort_boxes(det_box *b, size_t n)
{
    qsort(b, n, sizeof *b, cmp_box);
    for (size_t i = 0; i + 1 < n; i++) {
        for (size_t j = i + 1; j-- > 0;) {
            if (fabsf(b[j + 1].q[0].y - b[j].q[0].y) < 10 && b[j + 1].q[0].x < b[j].q[0].x) {
                det_box t = b[j];
                b[j] = b[j + 1];
                b[j + 1] = t;
            } else {
                break;
            }
        }
    }
}

/* ------------------------------------------------------------ line crops */

/* A line image: REC_H rows, w columns, RGB. */
typedef struct {
    uint8_t *px;
    int w;
    pt q[4];        /* corners as read: tl tr br bl of the line image */
    bool rotated;   /* turned 180° by the classifier */
    size_t box;     /* index in reading order */
} line_img;

/* Homography mapping (0,0) (W,0) (W,H) (0,H) onto q[0..3]. */
static bool homography(float W, float H, const pt q[4], double m[9])
{
    double src[4][2] = {{0, 0}, {W, 0}, {W, H}, {0, H}};
    double A[8][9];
    for (int i = 0; i < 4; i++) {
        double x = src[i][0], y = src[i][1], u = q[i].x, v = q[i].y;
        double r1[9] = {x, y, 1, 0, 0, 0, -u * x, -u * y, u};
        double r2[9] = {0, 0, 0, x, y, 1, -v * x, -v * y, v};
        memcpy(A[2 * i], r1, sizeof r1);
        memcpy(A[2 * i + 1], r2, sizeof r2);
    }
    for (int c = 0; c < 8; c++) {
        int p = c;
        for (int r = c + 1; r < 8; r++)
            if (fabs(A[r][c]) > fabs(A[p][c]))
                p = r;
        if (fabs(A[p][c]) < 1e-12)
            return false;
        if (p != c)
            for (int k = 0; k < 9; k++) {
                double t = A[c][k];
                A[c][k] = A[p][k];
                A[p][k] = t;
            }
        for (int r = 0; r < 8; r++) {
            if (r == c)
                continue;
            double f = A[r][c] / A[c][c];
            for (int k = c; k < 9; k++)
                A[r][k] -= f * A[c][k];
        }
    }
    for (int i = 0; i < 8; i++)
        m[i] = A[i][8] / A[i][i];
    m[8] = 1;
    return true;
}

/* Warp the quad (tl tr br bl as it should be read) to an REC_H-high line
 * image; crop_w / crop_h are the line's sides in the image. */
static bool warp_line(const vx_image *img, const pt q[4], float crop_w, float crop_h, line_img *li)
{
    int tw = (int)ceilf((float)REC_H * crop_w / crop_h);
    if (tw < 1)
        tw = 1;
    if (tw > REC_MAX_W)
        tw = REC_MAX_W;
    double m[9];
    if (!homography((float)tw, (float)REC_H, q, m))
        return false;
    li->px = malloc((size_t)tw * REC_H * 3);
    if (!li->px)
        return false;
    li->w = tw;
    /* Samples per output pixel along each axis: area-average when shrinking. */
    float scale = crop_h / (float)REC_H;
    int ss = scale > 1.25f ? (int)ceilf(scale) : 1;
    if (ss > 4)
        ss = 4;
    int iw = img->width, ih = img->height;
    for (int y = 0; y < REC_H; y++) {
        for (int x = 0; x < tw; x++) {
            float acc[3] = {0, 0, 0};
            for (int sy = 0; sy < ss; sy++) {
                for (int sx = 0; sx < ss; sx++) {
                    double u = x + (sx + 0.5) / ss, v = y + (sy + 0.5) / ss;
                    double den = m[6] * u + m[7] * v + m[8];
                    float X = (float)((m[0] * u + m[1] * v + m[2]) / den) - 0.5f;
                    float Y = (float)((m[3] * u + m[4] * v + m[5]) / den) - 0.5f;
                    X = clampf(X, 0, (float)(iw - 1));
                    Y = clampf(Y, 0, (float)(ih - 1));
                    int x0 = (int)X, y0 = (int)Y;
                    int x1 = x0 + 1 < iw ? x0 + 1 : x0, y1 = y0 + 1 < ih ? y0 + 1 : y0;
                    float fx = X - (float)x0, fy = Y - (float)y0;
                    const uint8_t *a = img->px + ((size_t)y0 * (size_t)iw + (size_t)x0) * 3;
                    const uint8_t *b = img->px + ((size_t)y0 * (size_t)iw + (size_t)x1) * 3;
                    const uint8_t *c = img->px + ((size_t)y1 * (size_t)iw + (size_t)x0) * 3;
                    const uint8_t *d = img->px + ((size_t)y1 * (size_t)iw + (size_t)x1) * 3;
                    for (int k = 0; k < 3; k++) {
                        float top = a[k] + (b[k] - a[k]) * fx, bot = c[k] + (d[k] - c[k]) * fx;
                        acc[k] += top + (bot - top) * fy;
                    }
                }
            }
            uint8_t *o = li->px + ((size_t)y * (size_t)tw + (size_t)x) * 3;
            for (int k = 0; k < 3; k++)
                o[k] = (uint8_t)clampf(acc[k] / (float)(ss * ss) + 0.5f, 0, 255);
        }
    }
    return true;
}

static void rotate180(line_img *li)
{
    size_t n = (size_t)li->w * REC_H;
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        uint8_t t[3];
        memcpy(t, li->px + i * 3, 3);
        memcpy(li->px + i * 3, li->px + j * 3, 3);
        memcpy(li->px + j * 3, t, 3);
    }
    pt q[4] = {li->q[2], li->q[3], li->q[0], li->q[1]};
    memcpy(li->q, q, sizeof q);
    li->rotated = !li->rotated;
}

/* Fill one [3, REC_H, W] slot with the line (resized horizontally to rw
 * columns), (x/255 − 0.5)/0.5 in B,G,R planes, zero padding to W. */
static void line_input(const line_img *li, int rw, int W, float *t)
{
    size_t plane = (size_t)REC_H * (size_t)W;
    memset(t, 0, plane * 3 * sizeof *t);
    float sx = (float)li->w / (float)rw;
    for (int y = 0; y < REC_H; y++) {
        const uint8_t *row = li->px + (size_t)y * (size_t)li->w * 3;
        float *ob = t + (size_t)y * (size_t)W, *og = ob + plane, *orr = og + plane;
        for (int x = 0; x < rw; x++) {
            float v[3];
            if (rw == li->w) {
                const uint8_t *p = row + (size_t)x * 3;
                v[0] = p[0];
                v[1] = p[1];
                v[2] = p[2];
            } else {
                float s = clampf(((float)x + 0.5f) * sx - 0.5f, 0, (float)(li->w - 1));
                int i = (int)s, i1 = i + 1 < li->w ? i + 1 : i;
                float f = s - (float)i;
                for (int k = 0; k < 3; k++)
                    v[k] = row[i * 3 + k] + (row[i1 * 3 + k] - row[i * 3 + k]) * f;
            }
            ob[x] = v[2] / 127.5f - 1.0f;
            og[x] = v[1] / 127.5f - 1.0f;
            orr[x] = v[0] / 127.5f - 1.0f;
        }
    }
}

/* ------------------------------------------------------------ cls + rec */

static int cmp_width_desc(const void *a, const void *b, void *ctx);

/* one_page: the CLS_VOTE widest lines are classified (the longest text is
 * where the classifier is surest) and, when most of them say 180°, every
 * line is turned. */
static bool classify_page(vx_ocr *o, line_img *lines, size_t n, char *err, size_t errlen)
{
    size_t *order = malloc(n * sizeof *order);
    size_t b = n < CLS_VOTE ? n : CLS_VOTE, slot = (size_t)3 * CLS_H * CLS_W;
    vx_tensor in = {malloc(b * slot * sizeof(float)), {(int64_t)b, 3, CLS_H, CLS_W}, 4};
    if (!order || !in.data) {
        free(order);
        free(in.data);
        set_err(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_width_desc, lines);
    for (size_t i = 0; i < b; i++) {
        const line_img *li = &lines[order[i]];
        line_input(li, li->w < CLS_W ? li->w : CLS_W, CLS_W, in.data + i * slot);
    }
    free(order);
    vx_tensor out;
    bool ok = vx_run(o->cls, &in, &out, err, errlen);
    free(in.data);
    if (!ok)
        return false;
    if (out.ndim != 2 || out.shape[0] != (int64_t)b || out.shape[1] != 2) {
        vx_tensor_free(&out);
        set_err(err, errlen, "direction classifier: unexpected output shape");
        return false;
    }
    size_t turned = 0;
    for (size_t i = 0; i < b; i++) {
        float p0 = out.data[2 * i], p1 = out.data[2 * i + 1];
        turned += p1 > p0 && p1 > CLS_THRESH;
    }
    vx_tensor_free(&out);
    if (2 * turned > b)
        for (size_t i = 0; i < n; i++)
            rotate180(&lines[i]);
    return true;
}

static bool classify(vx_ocr *o, line_img *lines, size_t n, char *err, size_t errlen)
{
    for (size_t start = 0; start < n; start += CLS_BATCH) {
        size_t b = n - start < CLS_BATCH ? n - start : CLS_BATCH;
        size_t slot = (size_t)3 * CLS_H * CLS_W;
        vx_tensor in = {malloc(b * slot * sizeof(float)), {(int64_t)b, 3, CLS_H, CLS_W}, 4};
        if (!in.data) {
            set_err(err, errlen, "out of memory");
            return false;
        }
        for (size_t i = 0; i < b; i++) {
            const line_img *li = &lines[start + i];
            line_input(li, li->w < CLS_W ? li->w : CLS_W, CLS_W, in.data + i * slot);
        }
        vx_tensor out;
        bool ok = vx_run(o->cls, &in, &out, err, errlen);
        free(in.data);
        if (!ok)
            return false;
        if (out.ndim != 2 || out.shape[0] != (int64_t)b || out.shape[1] != 2) {
            vx_tensor_free(&out);
            set_err(err, errlen, "direction classifier: unexpected output shape");
            return false;
        }
        for (size_t i = 0; i < b; i++) {
            float p0 = out.data[2 * i], p1 = out.data[2 * i + 1];
            if (p1 > p0 && p1 > CLS_THRESH)
                rotate180(&lines[start + i]);
        }
        vx_tensor_free(&out);
    }
    return true;
}

typedef struct {
    char *text;
    float conf;
} rec_out;

static int cmp_width(const void *a, const void *b, void *ctx)
{
    const line_img *l = ctx;
    int wa = l[*(const size_t *)a].w, wb = l[*(const size_t *)b].w;
    return (wa > wb) - (wa < wb);
}

static int cmp_width_desc(const void *a, const void *b, void *ctx) { return cmp_width(b, a, ctx); }

static bool ctc_decode(vx_ocr *o, const float *p, int64_t T, int64_t C, rec_out *r)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s)
        return false;
    double sum = 0;
    size_t cnt = 0;
    int64_t prev = -1;
    for (int64_t t = 0; t < T; t++) {
        const float *row = p + t * C;
        int64_t best = 0;
        float bp = row[0];
        for (int64_t c = 1; c < C; c++)
            if (row[c] > bp) {
                bp = row[c];
                best = c;
            }
        if (best != 0 && best != prev && (size_t)best < o->nkeys) {
            const char *k = o->keys[best];
            size_t kl = strlen(k);
            if (len + kl + 1 > cap) {
                while (len + kl + 1 > cap)
                    cap *= 2;
                char *ns = realloc(s, cap);
                if (!ns) {
                    free(s);
                    return false;
                }
                s = ns;
            }
            memcpy(s + len, k, kl);
            len += kl;
            sum += bp;
            cnt++;
        }
        prev = best;
    }
    s[len] = '\0';
    r->text = s;
    r->conf = cnt ? (float)(sum / (double)cnt) : 0;
    return true;
}

/* Recognise the lines order[0..n) (sorted by width), REC_BATCH at a time. */
static bool recognise_some(vx_ocr *o, const line_img *lines, const size_t *order, size_t n,
                           rec_out *res, char *err, size_t errlen)
{
    bool ok = true;
    for (size_t start = 0, b; ok && start < n; start += b) {
        /* up to REC_BATCH lines, each at most REC_SIMILAR × the first's width */
        int w0 = lines[order[start]].w;
        for (b = 1; b < REC_BATCH && start + b < n; b++)
            if ((float)lines[order[start + b]].w > REC_SIMILAR * (float)w0)
                break;
        int W = lines[order[start + b - 1]].w;
        size_t slot = (size_t)3 * REC_H * (size_t)W;
        vx_tensor in = {malloc(b * slot * sizeof(float)), {(int64_t)b, 3, REC_H, W}, 4};
        if (!in.data) {
            set_err(err, errlen, "out of memory");
            ok = false;
            break;
        }
        for (size_t i = 0; i < b; i++) {
            const line_img *li = &lines[order[start + i]];
            line_input(li, li->w, W, in.data + i * slot);
        }
        vx_tensor out;
        ok = vx_run(o->rec, &in, &out, err, errlen);
        free(in.data);
        if (!ok)
            break;
        if (out.ndim != 3 || out.shape[0] != (int64_t)b || (size_t)out.shape[2] != o->nkeys) {
            set_err(err, errlen, "recogniser: output has %lld classes, the dictionary %zu",
                    out.ndim == 3 ? (long long)out.shape[2] : -1LL, o->nkeys);
            vx_tensor_free(&out);
            ok = false;
            break;
        }
        int64_t T = out.shape[1], C = out.shape[2];
        for (size_t i = 0; ok && i < b; i++)
            if (!ctc_decode(o, out.data + (size_t)i * (size_t)(T * C), T, C, &res[order[start + i]])) {
                set_err(err, errlen, "out of memory");
                ok = false;
            }
        vx_tensor_free(&out);
    }
    return ok;
}

typedef struct {
    vx_ocr *o;
    const line_img *lines;
    const size_t *order;
    size_t n;
    rec_out *res;
    bool ok;
    char err[256];
} rec_job;

static void *rec_thread(void *arg)
{
    rec_job *j = arg;
    j->ok = recognise_some(j->o, j->lines, j->order, j->n, j->res, j->err, sizeof j->err);
    return NULL;
}

/* The lines are split into two halves of about equal total width, one
 * recognised on a second thread while this one does the other. One line
 * of an ID card is a small input (48 × 50–700): the intra-op pool gains
 * only 1.3 × on 2 cores with it (two threads against one), while two lines
 * at once keep both cores busy: recognition per clean card 107 → 81 ms on
 * a quiet 2-core machine, the same text (docs/vision.md, "Speed"). When
 * the workers are all busy the cores are anyway; the thread costs a
 * create and a join per read. */
static bool recognise(vx_ocr *o, const line_img *lines, size_t n, rec_out *res, char *err, size_t errlen)
{
    size_t *order = malloc(2 * n * sizeof *order);
    if (!order) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_width, (void *)lines);
    /* Two halves of about equal width, widest first into the lighter one. */
    size_t *h0 = order + n, n0 = 0, n1 = 0;
    size_t *h1 = malloc(n * sizeof *h1);
    long w0 = 0, w1 = 0;
    if (!h1) {
        free(order);
        set_err(err, errlen, "out of memory");
        return false;
    }
    for (size_t k = n; k-- > 0;) {
        size_t i = order[k];
        if (w0 <= w1) {
            h0[n0++] = i;
            w0 += lines[i].w;
        } else {
            h1[n1++] = i;
            w1 += lines[i].w;
        }
    }
    bool ok;
    rec_job j = {o, lines, h1, n1, res, true, ""};
    pthread_t th;
    bool threaded = n1 > 0 && pthread_create(&th, NULL, rec_thread, &j) == 0;
    if (!threaded && n1 > 0)
        j.ok = recognise_some(o, lines, h1, n1, res, j.err, sizeof j.err);
    ok = recognise_some(o, lines, h0, n0, res, err, errlen);
    if (threaded)
        pthread_join(th, NULL);
    if (ok && !j.ok) {
        set_err(err, errlen, "%s", j.err);
        ok = false;
    }
    free(h1);
    free(order);
    return ok;
}

/* ------------------------------------------------------------ the pipeline */

bool vx_ocr_read(vx_ocr *o, const vx_image *img, vx_ocr_result *out, char *err, size_t errlen)
{
    return vx_ocr_read_opts(o, img, NULL, out, err, errlen);
}

bool vx_ocr_read_opts(vx_ocr *o, const vx_image *img, const vx_ocr_opts *opts,
                      vx_ocr_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int det_limit = opts != NULL && opts->det_limit > 0 ? opts->det_limit : DET_LIMIT_SIDE;
    float squeeze = opts != NULL && opts->rec_squeeze > 0.2f && opts->rec_squeeze <= 1.0f
                        ? opts->rec_squeeze
                        : 1.0f;
    bool one_page = opts != NULL && opts->one_page;
    if (!o || !img || !img->px || img->width < 1 || img->height < 1) {
        set_err(err, errlen, "no image");
        return false;
    }
    int iw = img->width, ih = img->height;
    float ratio = 1.0f;
    int maxside = iw > ih ? iw : ih;
    if (maxside > det_limit)
        ratio = (float)det_limit / (float)maxside;
    int dh = (int)((float)ih * ratio), dw = (int)((float)iw * ratio);
    dh = (int)lroundf((float)dh / 32.0f) * 32;
    dw = (int)lroundf((float)dw / 32.0f) * 32;
    if (dh < 32)
        dh = 32;
    if (dw < 32)
        dw = 32;

    vx_tensor in = {malloc((size_t)dw * (size_t)dh * 3 * sizeof(float)), {1, 3, dh, dw}, 4};
    if (!in.data) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    det_input(img, dw, dh, in.data);
    vx_tensor prob;
    bool ok = vx_run(o->det, &in, &prob, err, errlen);
    free(in.data);
    if (!ok)
        return false;
    if (prob.ndim != 4 || prob.shape[0] != 1 || prob.shape[1] != 1) {
        vx_tensor_free(&prob);
        set_err(err, errlen, "detector: unexpected output shape");
        return false;
    }
    det_box *boxes = NULL;
    long nb = db_boxes(prob.data, (int)prob.shape[3], (int)prob.shape[2], iw, ih, &boxes);
    vx_tensor_free(&prob);
    if (nb < 0) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    if (nb == 0) {
        free(boxes);
        return true;
    }
    size_t n = (size_t)nb;
    sort_boxes(boxes, n);

    /* one_page: the page is on its side when more boxes are tall than wide;
     * then every box is read turned, as PaddleOCR turns a tall one. */
    bool page_sideways = false;
    if (one_page) {
        size_t tall = 0, wide = 0;
        for (size_t i = 0; i < n; i++) {
            const pt *q = boxes[i].q;
            float cw = fmaxf(dist(q[0], q[1]), dist(q[2], q[3]));
            float ch = fmaxf(dist(q[0], q[3]), dist(q[1], q[2]));
            tall += ch >= 1.5f * cw;
            wide += cw >= 1.5f * ch;
        }
        page_sideways = tall > wide;
    }
    line_img *lines = calloc(n, sizeof *lines);
    rec_out *res = calloc(n, sizeof *res);
    size_t nl = 0;
    ok = lines && res;
    if (!ok)
        set_err(err, errlen, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        const pt *q = boxes[i].q;
        float cw = fmaxf(dist(q[0], q[1]), dist(q[2], q[3]));
        float ch = fmaxf(dist(q[0], q[3]), dist(q[1], q[2]));
        cw = floorf(cw);
        ch = floorf(ch);
        if (cw < 1 || ch < 1)
            continue;
        line_img *li = &lines[nl];
        if (page_sideways || ch / cw >= 1.5f) {
            /* np.rot90: read counter-clockwise turned; the crop's top-right
             * becomes the line's top-left. */
            pt r[4] = {q[1], q[2], q[3], q[0]};
            memcpy(li->q, r, sizeof r);
            float t = cw;
            cw = ch;
            ch = t;
        } else {
            memcpy(li->q, q, sizeof li->q);
        }
        li->box = i;
        if (!warp_line(img, li->q, cw * squeeze, ch, li)) {
            set_err(err, errlen, "out of memory");
            ok = false;
            break;
        }
        nl++;
    }
    free(boxes);
    if (ok && nl)
        ok = one_page ? classify_page(o, lines, nl, err, errlen) : classify(o, lines, nl, err, errlen);
    if (ok && nl)
        ok = recognise(o, lines, nl, res, err, errlen);
    if (ok) {
        out->lines = calloc(nl ? nl : 1, sizeof *out->lines);
        if (!out->lines) {
            set_err(err, errlen, "out of memory");
            ok = false;
        }
    }
    for (size_t i = 0; i < nl; i++) {
        if (ok && res[i].text && res[i].conf >= DROP_SCORE) {
            vx_line *l = &out->lines[out->n++];
            l->text = res[i].text;
            res[i].text = NULL;
            l->confidence = res[i].conf;
            l->rotated = lines[i].rotated;
            for (int k = 0; k < 4; k++)
                l->quad[k] = (vx_point){lines[i].q[k].x, lines[i].q[k].y};
        }
        free(res[i].text);
        free(lines[i].px);
    }
    free(lines);
    free(res);
    if (!ok)
        vx_ocr_result_free(out);
    return ok;
}
