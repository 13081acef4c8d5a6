/*
 * idcard.c — the fields of a mainland resident ID card from a photo or a
 * scan (contract: idcard.h).
 *
 * How (docs/vision.md, "The ID-card reader"):
 *  1. OCR the image (vision/ocr.h).
 *  2. Localise the card by its printed labels: every line that is (or
 *     begins with) a label of the card's template (姓名 … 公民身份号码,
 *     签发机关, 有效期限, 中华人民共和国, 居民身份证) gives anchor points
 *     (the left and right ends of the label) whose places on the template
 *     card (85.6 × 54 mm at 10 px/mm) are known; a least-squares similarity
 *     transform (rotation, scale, translation; outliers dropped) maps the
 *     template card onto the image. The card's quadrilateral is the
 *     template's corners mapped. A card on its side or turned by more than
 *     a few degrees is rectified (warped upright to 856 × 540 plus a
 *     margin) and read again; an upright or upside-down card is read
 *     through the template mapping directly (the classifier has already
 *     turned its lines).
 *  3. Fields: each line is mapped into template coordinates and assigned
 *     to the row of the label found nearest (or the template's row);
 *     labels merged with their values ("姓名王伟") are stripped.
 *  4. Image status from luma statistics of the rectified card region
 *     (mean, share of clipped pixels) and the variance of its Laplacian.
 *  5. The core's checks: the number (sm_id_parse), the number against the
 *     printed sex and birth date (number_type), the period (sm_period_check).
 *
 * Must never: change a character that was read into another (a number is
 * reported as read, never "repaired"), keep identity data in memory
 * unzeroed, or keep state between calls (many threads read at once).
 */
#include "vision/idcard.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

const char *vx_side_code(vx_side s)
{
    return s == VX_SIDE_FRONT ? "front" : s == VX_SIDE_BACK ? "back" : "unknown";
}
const char *vx_image_status_code(vx_image_status s)
{
    static const char *const codes[] = {"normal", "reversed_side", "non_idcard", "blurred",
                                        "over_exposure", "over_dark", "other_type_card",
                                        "unknown"};
    return (unsigned)s < sizeof codes / sizeof codes[0] ? codes[s] : "unknown";
}
const char *vx_field_code(vx_field_id f)
{
    static const char *const codes[VX_F__COUNT] = {"name", "sex", "ethnicity", "birth", "address",
                                                   "id_number", "authority", "valid_from",
                                                   "valid_to"};
    return (unsigned)f < VX_F__COUNT ? codes[f] : "unknown";
}
void vx_idcard_result_clear(vx_idcard_result *r) { OPENSSL_cleanse(r, sizeof *r); }

/* ------------------------------------------------------------ thresholds */

/* Template card: 85.6 × 54 mm at 10 px/mm (the generator's default scale,
 * docs/cardgen.md; positions measured on its clean cards). */
#define CARD_W 856.0
#define CARD_H 540.0
/* Rectified card for the second reading: the card plus this margin. */
#define RECT_MARGIN 24
/* Quality statistics are taken on the card sampled at half scale. */
#define STAT_W 428
#define STAT_H 270
/* Measured on the generator's sets (docs/vision.md, "Thresholds"). */
#define BLUR_MIN 60.0          /* variance of the Laplacian below: blurred */
#define CLIP_HIGH 250          /* a luma at or above is clipped white */
#define OVER_EXPOSED_SHARE 0.45 /* share of clipped pixels above: over_exposure */
#define OVER_EXPOSED_MEAN 225.0 /* or a mean luma above */
#define DARK_MEAN 45.0         /* mean luma below: over_dark */
/* No card placed: an image with some contrast but nothing sharp anywhere
 * is a blurred card (blank images and sharp photos are not). */
#define BLUR_WHOLE_MAX 40.0
#define BLUR_WHOLE_MIN_STD 12.0
/* A card turned by more than this from upright or upside down is "on its
 * side": when it is read again (a field missing), the upright reading wins. */
#define REREAD_DEG 20.0
/* Detector input (longer side) for the image as given and for the
 * rectified card. The card's text is 25–40 px high at 10 px/mm, and the DB
 * detector finds text down to ~10 px, so the card need not be detected near
 * full scale: a scan (the card fills the image: longer side up to
 * DET_PHOTO_FROM) at 576 (text ≥ 17 px), a photo, where the card fills
 * 60–90 % of the frame, at 704, the rectified card at 576. The detector's
 * cost is proportional to its input's area: 576 × 384 is 0.54 of the
 * 800 × 512 used before, 704 × 544 0.57 of 960 × 736. Measured on the
 * generator's sets (seeds 11 and 23, 140 images each): fields exact as at
 * 800/960/960 (one miss in ~700 fields either way), CPU per card −30 %
 * (clean) and −31 % (photos). 512/640 also read the sets but missed a
 * birth date; 448 missed more. */
#define DET_SCAN 576
#define DET_PHOTO 704
#define DET_PHOTO_FROM 1000
#define DET_RECT 576
/* Line images narrowed before recognition (vx_ocr_opts): the card's
 * characters are wide (CJK, a wide-spaced number), and 0.7 of the columns
 * read the generator's sets as well as all of them, ~20 % faster. */
#define REC_SQUEEZE 0.7f
/* A row: a line's centre within this of the row's y (template px). */
#define ROW_TOL 32.0

/* ---------------------------------------------------------------- labels */

typedef enum {
    L_NAME, L_SEX, L_ETHNICITY, L_BIRTH, L_ADDRESS, L_NUMBER, /* front */
    L_AUTHORITY, L_PERIOD, L_TITLE1, L_TITLE2,                /* back */
    L__COUNT
} label_id;

typedef struct {
    const char *full;       /* the label as printed */
    const char *alt[2];     /* shorter prefixes accepted when OCR misses a character */
    vx_side side;
    double lx, rx, y;       /* template: left and right ends, centre line */
    bool title;             /* matched anywhere in a line, only as a whole line */
} label_def;

static const label_def LABELS[L__COUNT] = {
    [L_NAME] = {"姓名", {NULL, NULL}, VX_SIDE_FRONT, 62, 124, 95, false},
    [L_SEX] = {"性别", {NULL, NULL}, VX_SIDE_FRONT, 63, 127, 163, false},
    [L_ETHNICITY] = {"民族", {NULL, NULL}, VX_SIDE_FRONT, 267, 334, 162, false},
    [L_BIRTH] = {"出生", {NULL, NULL}, VX_SIDE_FRONT, 63, 126, 230, false},
    [L_ADDRESS] = {"住址", {NULL, NULL}, VX_SIDE_FRONT, 63, 126, 298, false},
    [L_NUMBER] = {"公民身份号码", {"公民身份", "身份号码"}, VX_SIDE_FRONT, 66, 220, 466, false},
    [L_AUTHORITY] = {"签发机关", {"签发机", "发机关"}, VX_SIDE_BACK, 149, 264, 419, false},
    [L_PERIOD] = {"有效期限", {"有效期", NULL}, VX_SIDE_BACK, 150, 264, 486, false},
    [L_TITLE1] = {"中华人民共和国", {NULL, NULL}, VX_SIDE_BACK, 300, 726, 111, true},
    [L_TITLE2] = {"居民身份证", {NULL, NULL}, VX_SIDE_BACK, 278, 791, 230, true},
};

/* Text of other documents: a card that shows one of these and no ID-card
 * title or number label is another kind of card. */
static const char *const OTHER_CARD_WORDS[] = {
    "驾驶证", "机动车", "驾驶", "Driving", "License", "Licence", "准驾", "行驶证", "银行", "银联",
    "UnionPay", "BANK", "Bank", "信用卡", "借记卡", "护照", "PASSPORT", "社会保障", "通行证",
    "居住证", "VALID THRU", "Card", "CARD",
};

typedef struct {
    double x, y;
} P;

/* A line of text, its place in template coordinates and what it is. */
typedef struct {
    char text[256];     /* spaces removed */
    float conf;
    P c;                /* centre, template coordinates */
    double lx, rx;      /* left end (start of text) and right end, template x */
    int label;          /* label_id it is or begins with and used as an anchor, -1 none */
    int label_text;     /* label_id it begins with (anchor or not), -1 none */
    size_t label_len;   /* bytes of the label at the start of text */
} tline;

/* Copy `s` without ASCII spaces and ideographic spaces. */
static void copy_nospace(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 1 < cap;) {
        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }
        if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) { /* U+3000 */
            p += 3;
            continue;
        }
        /* whole UTF-8 sequences only */
        size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : 4;
        if (n + len >= cap)
            break;
        for (size_t k = 0; k < len && p[k]; k++)
            dst[n++] = (char)p[k];
        p += len;
    }
    dst[n] = '\0';
}

static bool starts(const char *s, const char *pfx) { return strncmp(s, pfx, strlen(pfx)) == 0; }

/* Which label the text is or begins with; *len = bytes of it. */
static int match_label(const char *t, size_t *len)
{
    for (int l = 0; l < L__COUNT; l++) {
        const label_def *d = &LABELS[l];
        if (d->title) {
            if (strcmp(t, d->full) == 0) {
                *len = strlen(t);
                return l;
            }
            continue;
        }
        if (starts(t, d->full)) {
            *len = strlen(d->full);
            return l;
        }
        for (int k = 0; k < 2; k++)
            if (d->alt[k] != NULL && starts(t, d->alt[k])) {
                *len = strlen(d->alt[k]);
                return l;
            }
    }
    return -1;
}

/* ------------------------------------------------------ the similarity fit */

/* image = a · card + b, complex numbers. */
typedef struct {
    double ar, ai, br, bi;
} sim;

static P sim_fwd(const sim *s, P z)
{
    return (P){s->ar * z.x - s->ai * z.y + s->br, s->ai * z.x + s->ar * z.y + s->bi};
}
static P sim_inv(const sim *s, P w)
{
    double dx = w.x - s->br, dy = w.y - s->bi, d = s->ar * s->ar + s->ai * s->ai;
    return (P){(s->ar * dx + s->ai * dy) / d, (s->ar * dy - s->ai * dx) / d};
}

typedef struct {
    P card, img;
    int label;
    bool used;
} anchor;

/* Least squares over the used anchors; false when degenerate. */
static bool sim_fit(const anchor *a, size_t n, sim *s)
{
    double zx = 0, zy = 0, wx = 0, wy = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].used) {
            zx += a[i].card.x, zy += a[i].card.y, wx += a[i].img.x, wy += a[i].img.y;
            m++;
        }
    if (m < 2)
        return false;
    zx /= (double)m, zy /= (double)m, wx /= (double)m, wy /= (double)m;
    double nr = 0, ni = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!a[i].used)
            continue;
        double ux = a[i].card.x - zx, uy = a[i].card.y - zy;
        double vx = a[i].img.x - wx, vy = a[i].img.y - wy;
        /* (v)·conj(u) */
        nr += vx * ux + vy * uy;
        ni += vy * ux - vx * uy;
        den += ux * ux + uy * uy;
    }
    if (den < 100.0)
        return false;
    s->ar = nr / den;
    s->ai = ni / den;
    double sc = hypot(s->ar, s->ai);
    if (!(sc > 0.05 && sc < 20.0))
        return false;
    s->br = wx - (s->ar * zx - s->ai * zy);
    s->bi = wy - (s->ai * zx + s->ar * zy);
    return true;
}

/* Fit, then drop the worst anchor while it is off by more than 30 template
 * px and at least three labels remain. Returns the number of labels used. */
static int robust_fit(anchor *a, size_t n, sim *s)
{
    for (;;) {
        if (!sim_fit(a, n, s))
            return 0;
        double worst = 0;
        size_t wi = 0;
        for (size_t i = 0; i < n; i++) {
            if (!a[i].used)
                continue;
            P z = sim_inv(s, a[i].img);
            double e = hypot(z.x - a[i].card.x, z.y - a[i].card.y);
            if (e > worst)
                worst = e, wi = i;
        }
        unsigned labels = 0;
        for (size_t i = 0; i < n; i++)
            if (a[i].used)
                labels |= 1u << a[i].label;
        int nlab = __builtin_popcount(labels);
        if (worst <= 30.0 || nlab <= 2)
            return worst <= 60.0 ? nlab : 0;
        int bad = a[wi].label; /* drop that label's anchors */
        for (size_t i = 0; i < n; i++)
            if (a[i].label == bad)
                a[i].used = false;
    }
}

/* ---------------------------------------------------------------- pixels */

static inline double luma_at(const vx_image *img, int x, int y)
{
    const uint8_t *p = img->px + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* Bilinear sample of RGB at (x, y); outside the image: mid grey. */
static void sample_rgb(const vx_image *img, double x, double y, uint8_t out[3])
{
    if (!(x >= 0 && y >= 0 && x <= img->width - 1 && y <= img->height - 1)) {
        out[0] = out[1] = out[2] = 128;
        return;
    }
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < img->width ? x0 + 1 : x0, y1 = y0 + 1 < img->height ? y0 + 1 : y0;
    double fx = x - x0, fy = y - y0;
    const uint8_t *p00 = img->px + ((size_t)y0 * (size_t)img->width + (size_t)x0) * 3;
    const uint8_t *p01 = img->px + ((size_t)y0 * (size_t)img->width + (size_t)x1) * 3;
    const uint8_t *p10 = img->px + ((size_t)y1 * (size_t)img->width + (size_t)x0) * 3;
    const uint8_t *p11 = img->px + ((size_t)y1 * (size_t)img->width + (size_t)x1) * 3;
    for (int c = 0; c < 3; c++) {
        double v = (p00[c] * (1 - fx) + p01[c] * fx) * (1 - fy) +
                   (p10[c] * (1 - fx) + p11[c] * fx) * fy;
        out[c] = (uint8_t)(v + 0.5);
    }
}

typedef struct {
    double mean, stddev, clipped, lapvar;
} qstats;

/* Luma statistics of a region sampled on a STAT_W × STAT_H grid: grid
 * point (gx, gy) is template point ((gx + ½)·scale, (gy + ½)·scale), mapped
 * into the image by `s`; points outside the image are left out. */
static void region_stats(const vx_image *img, const sim *s, double scale, qstats *q)
{
    float *g = malloc((size_t)STAT_W * STAT_H * sizeof *g);
    memset(q, 0, sizeof *q);
    if (g == NULL)
        return;
    double sum = 0, sum2 = 0;
    size_t clipped = 0, n = 0;
    for (int y = 0; y < STAT_H; y++)
        for (int x = 0; x < STAT_W; x++) {
            P w = sim_fwd(s, (P){(x + 0.5) * scale, (y + 0.5) * scale});
            double v;
            if (w.x >= 0 && w.y >= 0 && w.x <= img->width - 1 && w.y <= img->height - 1) {
                int x0 = (int)w.x, y0 = (int)w.y;
                int x1 = x0 + 1 < img->width ? x0 + 1 : x0;
                int y1 = y0 + 1 < img->height ? y0 + 1 : y0;
                double fx = w.x - x0, fy = w.y - y0;
                v = (luma_at(img, x0, y0) * (1 - fx) + luma_at(img, x1, y0) * fx) * (1 - fy) +
                    (luma_at(img, x0, y1) * (1 - fx) + luma_at(img, x1, y1) * fx) * fy;
                sum += v;
                sum2 += v * v;
                n++;
                if (v >= CLIP_HIGH)
                    clipped++;
            } else {
                v = -1;
            }
            g[(size_t)y * STAT_W + (size_t)x] = (float)v;
        }
    double ls = 0, ls2 = 0;
    size_t ln = 0;
    for (int y = 1; y < STAT_H - 1; y++)
        for (int x = 1; x < STAT_W - 1; x++) {
            const float *c = &g[(size_t)y * STAT_W + (size_t)x];
            if (c[0] < 0 || c[-1] < 0 || c[1] < 0 || c[-STAT_W] < 0 || c[STAT_W] < 0)
                continue;
            double l = (double)c[-1] + c[1] + c[-STAT_W] + c[STAT_W] - 4.0 * c[0];
            ls += l;
            ls2 += l * l;
            ln++;
        }
    free(g);
    q->mean = n ? sum / (double)n : 0;
    q->clipped = n ? (double)clipped / (double)n : 0;
    q->stddev = n ? sqrt(fmax(0.0, sum2 / (double)n - q->mean * q->mean)) : 0;
    if (ln) {
        double m = ls / (double)ln;
        q->lapvar = ls2 / (double)ln - m * m;
    }
}

/* The card (plus margin) warped upright at 10 px/mm. */
static bool rectify(const vx_image *img, const sim *s, vx_image *out)
{
    int w = (int)CARD_W + 2 * RECT_MARGIN, h = (int)CARD_H + 2 * RECT_MARGIN;
    out->px = malloc((size_t)w * (size_t)h * 3);
    if (out->px == NULL)
        return false;
    out->width = w;
    out->height = h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            P p = sim_fwd(s, (P){x - RECT_MARGIN + 0.5, y - RECT_MARGIN + 0.5});
            sample_rgb(img, p.x - 0.5, p.y - 0.5, out->px + ((size_t)y * (size_t)w + (size_t)x) * 3);
        }
    return true;
}

/* ---------------------------------------------------------------- fields */

typedef struct {
    tline *l;
    size_t n;
    sim s;          /* template → image */
    int nlabels;    /* labels the fit used */
    vx_side side;
    double rowy[L__COUNT]; /* each label's row y in template px (found or template) */
    bool found[L__COUNT];
} reading;

/* Map the OCR lines into template coordinates; anchors from the labels. */
static bool read_layout(const vx_ocr_result *r, reading *rd)
{
    memset(rd, 0, sizeof *rd);
    rd->l = calloc(r->n ? r->n : 1, sizeof *rd->l);
    anchor *a = calloc(r->n ? 2 * r->n : 1, sizeof *a);
    if (rd->l == NULL || a == NULL) {
        free(rd->l);
        free(a);
        rd->l = NULL;
        return false;
    }
    size_t na = 0;
    int front = 0, back = 0;
    bool seen[L__COUNT] = {false};
    for (size_t i = 0; i < r->n; i++) {
        tline *t = &rd->l[rd->n++];
        copy_nospace(t->text, sizeof t->text, r->lines[i].text);
        t->conf = r->lines[i].confidence;
        t->label = match_label(t->text, &t->label_len);
        t->label_text = t->label;
        const vx_point *q = r->lines[i].quad;
        if (t->label >= 0 && !seen[t->label]) {
            seen[t->label] = true;
            const label_def *d = &LABELS[t->label];
            if (d->side == VX_SIDE_FRONT)
                front++;
            else
                back++;
            a[na++] = (anchor){{d->lx, d->y}, {(q[0].x + q[3].x) / 2.0, (q[0].y + q[3].y) / 2.0},
                               t->label, true};
            if (t->label_len == strlen(t->text) && t->label_len == strlen(d->full))
                a[na++] = (anchor){{d->rx, d->y},
                                   {(q[1].x + q[2].x) / 2.0, (q[1].y + q[2].y) / 2.0},
                                   t->label, true};
        }
    }
    /* Keep the anchors of the side with more labels. */
    rd->side = front == 0 && back == 0 ? VX_SIDE_UNKNOWN : front >= back ? VX_SIDE_FRONT : VX_SIDE_BACK;
    for (size_t i = 0; i < na; i++)
        if (LABELS[a[i].label].side != rd->side)
            a[i].used = false;
    rd->nlabels = rd->side == VX_SIDE_UNKNOWN ? 0 : robust_fit(a, na, &rd->s);
    if (rd->nlabels < 2) {
        rd->nlabels = 0;
        free(a);
        return true;
    }
    for (int l = 0; l < L__COUNT; l++)
        rd->rowy[l] = LABELS[l].y;
    for (size_t i = 0; i < r->n; i++) {
        tline *t = &rd->l[i];
        const vx_point *q = r->lines[i].quad;
        P c = {0, 0};
        for (int k = 0; k < 4; k++)
            c.x += q[k].x / 4.0, c.y += q[k].y / 4.0;
        t->c = sim_inv(&rd->s, c);
        t->lx = sim_inv(&rd->s, (P){(q[0].x + q[3].x) / 2.0, (q[0].y + q[3].y) / 2.0}).x;
        t->rx = sim_inv(&rd->s, (P){(q[1].x + q[2].x) / 2.0, (q[1].y + q[2].y) / 2.0}).x;
        if (t->label >= 0) {
            bool used = false;
            for (size_t k = 0; k < na; k++)
                if (a[k].label == t->label && a[k].used)
                    used = true;
            if (used && !rd->found[t->label]) {
                rd->found[t->label] = true;
                rd->rowy[t->label] = t->c.y;
            } else if (!used) {
                t->label = -1; /* an outlier: read it as text */
            }
        }
    }
    free(a);
    return true;
}

static void reading_free(reading *rd)
{
    if (rd->l != NULL)
        OPENSSL_cleanse(rd->l, rd->n * sizeof *rd->l);
    free(rd->l);
    rd->l = NULL;
}

typedef struct {
    size_t idx;
    double key;
} ord;
static int cmp_ord(const void *a, const void *b)
{
    double x = ((const ord *)a)->key, y = ((const ord *)b)->key;
    return x < y ? -1 : x > y;
}

/* The lines of a row (centre within tol of y, in [xmin, xmax)), joined in
 * reading order with the row's label removed; min confidence. Lines inside
 * the front's portrait are never part of a field. Returns lines used. */
static int row_text(const reading *rd, double y0, double y1, double xmin, int label, char *out,
                    size_t cap, float *conf)
{
    ord o[64];
    size_t no = 0;
    for (size_t i = 0; i < rd->n && no < 64; i++) {
        const tline *t = &rd->l[i];
        if (t->c.y < y0 || t->c.y >= y1 || t->c.x < xmin)
            continue;
        if (t->label >= 0 && t->label != label && !(label == L_SEX && t->label == L_ETHNICITY))
            continue;
        if (rd->side == VX_SIDE_FRONT && t->c.x > 530 && t->c.y < 400 && t->lx > 500)
            continue; /* the portrait */
        o[no++] = (ord){i, t->c.x};
    }
    /* Within a row by x; rows of a multi-line field (address) by y first. */
    if (y1 - y0 > 2.5 * ROW_TOL)
        for (size_t k = 0; k < no; k++) {
            const tline *t = &rd->l[o[k].idx];
            o[k].key = floor((t->c.y - y0) / 30.0) * 10000.0 + t->c.x;
        }
    qsort(o, no, sizeof *o, cmp_ord);
    size_t n = 0;
    float c = 1.0f;
    char tail[16] = "";
    out[0] = '\0';
    for (size_t k = 0; k < no; k++) {
        const tline *t = &rd->l[o[k].idx];
        const char *s = t->text;
        if (label >= 0 && t->label_text == label) {
            s += t->label_len;
            /* A label cut short by the detector ("签发机" alone): its missing
             * end may start the next line ("关天柱县…"); only that is dropped. */
            const char *full = LABELS[label].full;
            if (s[0] == '\0' && t->label_len < strlen(full) && strncmp(t->text, full, t->label_len) == 0)
                snprintf(tail, sizeof tail, "%s", full + t->label_len);
        } else if (tail[0] != '\0' && starts(s, tail)) {
            s += strlen(tail);
            tail[0] = '\0';
        } else {
            tail[0] = '\0';
        }
        size_t len = strlen(s);
        if (len == 0)
            continue;
        if (n + len >= cap)
            break;
        memcpy(out + n, s, len + 1);
        n += len;
        if (t->conf < c)
            c = t->conf;
    }
    *conf = no ? c : 0.0f;
    return (int)no;
}

static void set_field(vx_field *f, const char *text, float conf)
{
    if (text[0] == '\0')
        return;
    f->present = true;
    snprintf(f->text, sizeof f->text, "%s", text);
    f->confidence = conf;
}

/* Digit runs of s (up to 8): values and lengths. */
static int digit_runs(const char *s, long *val, int *len, int max)
{
    int n = 0;
    for (const char *p = s; *p && n < max;) {
        if (*p >= '0' && *p <= '9') {
            long v = 0;
            int l = 0;
            while (*p >= '0' && *p <= '9') {
                if (l < 9)
                    v = v * 10 + (*p - '0');
                l++;
                p++;
            }
            val[n] = v;
            len[n] = l;
            n++;
        } else {
            p++;
        }
    }
    return n;
}

/* "1985年3月15日" → "19850315" when a real date. */
static bool parse_birth(const char *s, char out[9])
{
    long v[8];
    int l[8];
    int n = digit_runs(s, v, l, 8);
    int y, m, d;
    if (n >= 3 && l[0] == 4 && l[1] <= 2 && l[2] <= 2) {
        y = (int)v[0], m = (int)v[1], d = (int)v[2];
    } else if (n >= 1 && l[0] == 8) {
        y = (int)(v[0] / 10000), m = (int)(v[0] / 100 % 100), d = (int)(v[0] % 100);
    } else {
        return false;
    }
    if (!sm_date_is_valid(y, m, d))
        return false;
    snprintf(out, 9, "%04d%02d%02d", y, m, d);
    return true;
}

/* The eight digits of a date YYYY.MM.DD starting at the k-th run. */
static bool date_at(const long *v, const int *l, int n, int k, char out[9])
{
    if (k + 2 < n && l[k] == 4 && l[k + 1] == 2 && l[k + 2] == 2) {
        snprintf(out, 9, "%04ld%02ld%02ld", v[k], v[k + 1], v[k + 2]);
        return true;
    }
    if (k < n && l[k] == 8) {
        snprintf(out, 9, "%08ld", v[k]);
        return true;
    }
    return false;
}

static void read_front(const reading *rd, vx_idcard_result *out)
{
    char buf[256];
    float c;
    const double *ry = rd->rowy;
    /* Rows between labels: half-way to the next row. */
    if (row_text(rd, ry[L_NAME] - ROW_TOL, ry[L_NAME] + ROW_TOL, 100, L_NAME, buf, sizeof buf, &c)) {
        /* the middle dot of minority names, as printed (U+00B7) */
        char nm[256];
        size_t n = 0;
        for (const char *p = buf; *p && n + 3 < sizeof nm;) {
            if (starts(p, "\xE2\x80\xA2") || starts(p, "\xE3\x83\xBB") || starts(p, "\xEF\xBD\xA5")) {
                nm[n++] = '\xC2', nm[n++] = '\xB7', p += 3;
            } else if (*p == '.') {
                nm[n++] = '\xC2', nm[n++] = '\xB7', p++;
            } else {
                nm[n++] = *p++;
            }
        }
        nm[n] = '\0';
        set_field(&out->fields[VX_F_NAME], nm, c);
        OPENSSL_cleanse(nm, sizeof nm);
    }
    double sy = rd->found[L_SEX] ? ry[L_SEX] : rd->found[L_ETHNICITY] ? ry[L_ETHNICITY] : ry[L_SEX];
    if (row_text(rd, sy - ROW_TOL, sy + ROW_TOL, 100, L_SEX, buf, sizeof buf, &c)) {
        char *eth = strstr(buf, "民族");
        const char *sexs = buf;
        if (eth != NULL) {
            *eth = '\0';
            eth += strlen("民族");
        }
        /* the first 男 or 女 of the sex part */
        const char *m = strstr(sexs, "男"), *f = strstr(sexs, "女");
        const char *sx = m && (!f || m < f) ? "男" : f ? "女" : NULL;
        if (sx != NULL)
            set_field(&out->fields[VX_F_SEX], sx, c);
        if (eth != NULL)
            set_field(&out->fields[VX_F_ETHNICITY], eth, c);
    }
    if (row_text(rd, ry[L_BIRTH] - ROW_TOL, ry[L_BIRTH] + ROW_TOL, 100, L_BIRTH, buf, sizeof buf,
                 &c)) {
        char d[9];
        if (parse_birth(buf, d))
            set_field(&out->fields[VX_F_BIRTH], d, c);
    }
    double a0 = ry[L_ADDRESS] - ROW_TOL, a1 = ry[L_NUMBER] - 40;
    if (a1 - a0 < 2.6 * ROW_TOL)
        a1 = a0 + 2.6 * ROW_TOL;
    if (row_text(rd, a0, a1, 100, L_ADDRESS, buf, sizeof buf, &c))
        set_field(&out->fields[VX_F_ADDRESS], buf, c);
    if (row_text(rd, ry[L_NUMBER] - ROW_TOL, ry[L_NUMBER] + ROW_TOL, 100, L_NUMBER, buf,
                 sizeof buf, &c)) {
        char num[32];
        size_t n = 0;
        for (const char *p = buf; *p && n + 1 < sizeof num; p++)
            if ((*p >= '0' && *p <= '9') || *p == 'X' || *p == 'x')
                num[n++] = *p == 'x' ? 'X' : *p;
        num[n] = '\0';
        set_field(&out->fields[VX_F_ID_NUMBER], num, c);
        OPENSSL_cleanse(num, sizeof num);
    }
    OPENSSL_cleanse(buf, sizeof buf);
}

static void read_back(const reading *rd, vx_idcard_result *out)
{
    char buf[256];
    float c;
    const double *ry = rd->rowy;
    if (row_text(rd, ry[L_AUTHORITY] - ROW_TOL, ry[L_AUTHORITY] + ROW_TOL, 100, L_AUTHORITY, buf,
                 sizeof buf, &c))
        set_field(&out->fields[VX_F_AUTHORITY], buf, c);
    if (row_text(rd, ry[L_PERIOD] - ROW_TOL, ry[L_PERIOD] + ROW_TOL, 100, L_PERIOD, buf,
                 sizeof buf, &c)) {
        long v[8];
        int l[8];
        int n = digit_runs(buf, v, l, 8);
        char d[9];
        int next = -1;
        if (date_at(v, l, n, 0, d)) {
            set_field(&out->fields[VX_F_VALID_FROM], d, c);
            next = l[0] == 8 ? 1 : 3;
        }
        if (strstr(buf, "长期") != NULL)
            set_field(&out->fields[VX_F_VALID_TO], "长期", c);
        else if (next >= 0 && date_at(v, l, n, next, d))
            set_field(&out->fields[VX_F_VALID_TO], d, c);
    }
    OPENSSL_cleanse(buf, sizeof buf);
}

/* ---------------------------------------------------------------- checks */

static void cross_check(vx_idcard_result *out)
{
    const vx_field *f = out->fields;
    out->id_status = SM_ID_ERR_LENGTH;
    out->period_status = SM_PERIOD_OK;
    if (out->side == VX_SIDE_BACK) {
        out->number_type = -1;
        if (f[VX_F_VALID_FROM].present || f[VX_F_VALID_TO].present)
            out->period_status = sm_period_check(
                f[VX_F_VALID_FROM].text, strlen(f[VX_F_VALID_FROM].text), f[VX_F_VALID_TO].text,
                strlen(f[VX_F_VALID_TO].text), NULL, NULL, NULL);
        return;
    }
    bool any = false;
    for (int k = VX_F_NAME; k <= VX_F_ID_NUMBER; k++)
        any |= f[k].present;
    if (!any) {
        out->number_type = -1;
        return;
    }
    sm_id_info info;
    const char *num = f[VX_F_ID_NUMBER].text;
    out->id_status = f[VX_F_ID_NUMBER].present ? sm_id_parse(num, strlen(num), NULL, &info)
                                               : SM_ID_ERR_LENGTH;
    if (out->id_status != SM_ID_OK) {
        out->number_type = 0;
    } else {
        char b[24];
        snprintf(b, sizeof b, "%04d%02d%02d", info.birth.year, info.birth.month, info.birth.day);
        bool birth_ok = f[VX_F_BIRTH].present && strcmp(b, f[VX_F_BIRTH].text) == 0;
        const char *sx = info.sex == 'M' ? "男" : "女";
        bool sex_ok = f[VX_F_SEX].present && strcmp(sx, f[VX_F_SEX].text) == 0;
        out->number_type = birth_ok && sex_ok ? 1 : !birth_ok && !sex_ok ? 2 : !birth_ok ? 3 : 4;
    }
    OPENSSL_cleanse(&info, sizeof info);
}

/* ---------------------------------------------------------------- status */

static bool has_other_card_words(const vx_ocr_result *r)
{
    bool id_title = false, other = false;
    for (size_t i = 0; i < r->n; i++) {
        const char *t = r->lines[i].text;
        if (strstr(t, "居民身份证") != NULL || strstr(t, "公民身份号码") != NULL)
            id_title = true;
        for (size_t k = 0; k < sizeof OTHER_CARD_WORDS / sizeof *OTHER_CARD_WORDS; k++)
            if (strstr(t, OTHER_CARD_WORDS[k]) != NULL)
                other = true;
    }
    return other && !id_title;
}

/* A line that looks like a grouped bank-card number: 16–19 digits with
 * spaces between groups. */
static bool has_card_number(const vx_ocr_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        int digits = 0, spaces = 0, other = 0;
        for (const char *p = r->lines[i].text; *p; p++) {
            if (*p >= '0' && *p <= '9')
                digits++;
            else if (*p == ' ')
                spaces++;
            else
                other++;
        }
        if (digits >= 16 && digits <= 19 && spaces >= 2 && other == 0)
            return true;
    }
    return false;
}

/* Evidence of an ID card without enough labels to place it: one label, or
 * a number of 18 characters. */
static bool some_id_evidence(const vx_ocr_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        char t[256];
        copy_nospace(t, sizeof t, r->lines[i].text);
        size_t ll;
        int lab = match_label(t, &ll);
        size_t n = 0;
        bool only = true;
        for (const char *p = t; *p; p++) {
            if ((*p >= '0' && *p <= '9') || *p == 'X' || *p == 'x')
                n++;
            else
                only = false;
        }
        OPENSSL_cleanse(t, sizeof t);
        if (lab >= 0 || (only && n >= 15 && n <= 18))
            return true;
    }
    return false;
}

static vx_image_status quality_status(const qstats *q)
{
    if (q->clipped > OVER_EXPOSED_SHARE || q->mean > OVER_EXPOSED_MEAN)
        return VX_STATUS_OVER_EXPOSURE;
    if (q->mean < DARK_MEAN)
        return VX_STATUS_OVER_DARK;
    if (q->lapvar < BLUR_MIN)
        return VX_STATUS_BLURRED;
    return VX_STATUS_NORMAL;
}

/* ------------------------------------------------------------- the reader */

static double angle_deg(const sim *s) { return atan2(s->ai, s->ar) * 180.0 / M_PI; }

static bool fields_complete(const vx_idcard_result *r, vx_side side)
{
    if (side == VX_SIDE_FRONT)
        return r->fields[VX_F_NAME].present && r->fields[VX_F_SEX].present &&
               r->fields[VX_F_ETHNICITY].present && r->fields[VX_F_BIRTH].present &&
               r->fields[VX_F_ADDRESS].present && r->fields[VX_F_ID_NUMBER].present &&
               strlen(r->fields[VX_F_ID_NUMBER].text) == 18;
    return r->fields[VX_F_AUTHORITY].present && r->fields[VX_F_VALID_FROM].present &&
           r->fields[VX_F_VALID_TO].present;
}

/* The address's last line read runs to the wrap width (x ≥ 490 of the
 * template's ~520): a short continuation line ("号", "04室") may have been
 * missed by the detector. */
static bool address_maybe_cut(const reading *rd)
{
    if (rd->side != VX_SIDE_FRONT)
        return false;
    double a0 = rd->rowy[L_ADDRESS] - ROW_TOL, a1 = rd->rowy[L_NUMBER] - 40;
    const tline *last = NULL;
    for (size_t i = 0; i < rd->n; i++) {
        const tline *t = &rd->l[i];
        if (t->c.y >= a0 && t->c.y < a1 && t->c.x > 100 && t->c.x < 560 &&
            (last == NULL || t->c.y > last->c.y + 15))
            last = t;
    }
    return last != NULL && last->rx > 490 && last->c.y < a1 - 40;
}

static void read_fields(const reading *rd, vx_idcard_result *out)
{
    for (int k = 0; k < VX_F__COUNT; k++)
        memset(&out->fields[k], 0, sizeof out->fields[k]);
    out->side = rd->side;
    if (rd->side == VX_SIDE_FRONT)
        read_front(rd, out);
    else
        read_back(rd, out);
}

bool vx_idcard_read(vx_ocr *o, const vx_image *img, vx_side want, vx_idcard_result *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->number_type = -1;
    out->id_status = SM_ID_ERR_LENGTH;
    if (o == NULL || img == NULL || img->px == NULL || img->width < 1 || img->height < 1) {
        snprintf(err, errlen, "no image");
        return false;
    }
    vx_ocr_result r;
    int longer = img->width > img->height ? img->width : img->height;
    const vx_ocr_opts first = {longer > DET_PHOTO_FROM ? DET_PHOTO : DET_SCAN, REC_SQUEEZE, true};
    const vx_ocr_opts again = {DET_RECT, REC_SQUEEZE, true};
    if (!vx_ocr_read_opts(o, img, &first, &r, err, errlen))
        return false;
    reading rd;
    if (!read_layout(&r, &rd)) {
        vx_ocr_result_free(&r);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = true;
    if (rd.nlabels >= 2 && has_other_card_words(&r)) {
        rd.nlabels = 0; /* a driving licence has 姓名, 住址 … too */
    }
    if (rd.nlabels < 2) {
        /* No card placed: judge the whole image. */
        sim whole = {(double)img->width / STAT_W, 0, 0, 0};
        double sc = 1.0;
        if ((double)img->height / STAT_H > whole.ar)
            whole.ar = (double)img->height / STAT_H;
        qstats q;
        region_stats(img, &whole, sc, &q);
        out->blur_score = q.lapvar;
        out->brightness = q.mean;
        if (has_other_card_words(&r) || has_card_number(&r))
            out->status = VX_STATUS_OTHER_TYPE_CARD;
        else if (some_id_evidence(&r)) {
            vx_image_status st = quality_status(&q);
            out->status = st == VX_STATUS_NORMAL ? VX_STATUS_UNKNOWN : st;
        } else if (q.lapvar < BLUR_WHOLE_MAX && q.stddev > BLUR_WHOLE_MIN_STD)
            out->status = VX_STATUS_BLURRED; /* detail, but nothing sharp: a blurred card */
        else
            out->status = VX_STATUS_NON_IDCARD;
        goto done;
    }
    read_fields(&rd, out);
    double ang = fabs(fmod(fabs(angle_deg(&rd.s)), 180.0));
    bool sideways = ang > REREAD_DEG && ang < 180.0 - REREAD_DEG;
    /* A card on its side is read once: the engine reads every line of a
     * page on its side turned (vx_ocr_opts.one_page), the single characters
     * too, so the upright re-reading it used to need (half of a photo's
     * p95) is kept for a missing field or a cut address, as for any card.
     * Measured on the generator's photo sets (seeds 11, 23): the same
     * fields, CPU per photo −12 to −18 %. */
    if (!fields_complete(out, rd.side) || address_maybe_cut(&rd)) {
        /* Warp the card upright and read it again. */
        vx_image up = {0};
        if (!rectify(img, &rd.s, &up)) {
            snprintf(err, errlen, "out of memory");
            ok = false;
            goto done;
        }
        vx_ocr_result r2;
        bool ok2 = vx_ocr_read_opts(o, &up, &again, &r2, err, errlen);
        OPENSSL_cleanse(up.px, (size_t)up.width * (size_t)up.height * 3);
        if (!ok2) {
            free(up.px);
            ok = false;
            goto done;
        }
        reading rd2;
        if (!read_layout(&r2, &rd2)) {
            vx_ocr_result_free(&r2);
            free(up.px);
            snprintf(err, errlen, "out of memory");
            ok = false;
            goto done;
        }
        if (rd2.nlabels >= 2 && rd2.side == rd.side) {
            /* Field by field: what only one reading has; when both have it,
             * the upright reading for a card that was on its side, else the
             * first unless the second continues it (a line the detector
             * missed the first time). */
            vx_idcard_result second = *out;
            read_fields(&rd2, &second);
            for (int k = 0; k < VX_F__COUNT; k++) {
                vx_field *a = &out->fields[k];
                const vx_field *b = &second.fields[k];
                size_t la = strlen(a->text), lb = strlen(b->text);
                if (b->present && (!a->present || sideways ||
                                   (lb > la && strncmp(b->text, a->text, la) == 0)))
                    *a = *b;
            }
            vx_idcard_result_clear(&second);
        }
        reading_free(&rd2);
        vx_ocr_result_free(&r2);
        free(up.px);
    }
    {
        qstats q;
        region_stats(img, &rd.s, CARD_W / STAT_W, &q);
        out->blur_score = q.lapvar;
        out->brightness = q.mean;
        out->status = quality_status(&q);
    }
    out->side = rd.side;
    cross_check(out);
    if (out->status == VX_STATUS_NORMAL && want != VX_SIDE_UNKNOWN && want != out->side)
        out->status = VX_STATUS_REVERSED_SIDE;
done:
    reading_free(&rd);
    vx_ocr_result_free(&r);
    if (!ok)
        vx_idcard_result_clear(out);
    return ok;
}
