/*
 * docspoof.c — document anti-spoofing signals (see docspoof.h): colour
 * share for photocopies, a spectral periodicity test for screen
 * recaptures, and glare.
 *
 * Must never: keep, log or write the image or anything derived from it
 * beyond the three numbers of the result.
 */
#include "vision/docspoof.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIN 256      /* the spectral window: WIN x WIN pixels, centred */
#define CHROMA_MIN 8
#define GLARE_MIN 250

/* In-place radix-2 FFT of n (a power of two) complex values. */
static void fft(double *re, double *im, int n)
{
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double ang = -2.0 * M_PI / len;
        double wr = cos(ang), wi = sin(ang);
        for (int i = 0; i < n; i += len) {
            double cr = 1.0, ci = 0.0;
            for (int k = 0; k < len / 2; k++) {
                double ur = re[i + k], ui = im[i + k];
                double vr = re[i + k + len / 2] * cr - im[i + k + len / 2] * ci;
                double vi = re[i + k + len / 2] * ci + im[i + k + len / 2] * cr;
                re[i + k] = ur + vr;
                im[i + k] = ui + vi;
                re[i + k + len / 2] = ur - vr;
                im[i + k + len / 2] = ui - vi;
                double nr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = nr;
            }
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The highest peak of the mean power spectrum of the rows (cols = false)
 * or columns of `win` (n x n, high-passed), over the median of its
 * neighbourhood, in the band n/12 .. n/2. */
static double peak_ratio(const double *win, int n, bool cols, double *re, double *im,
                         double *power)
{
    memset(power, 0, sizeof(double) * (size_t)(n / 2 + 1));
    for (int r = 0; r < n; r++) {
        for (int k = 0; k < n; k++) {
            /* a Hann window against the edges' leakage */
            double w = 0.5 - 0.5 * cos(2.0 * M_PI * k / (n - 1));
            re[k] = (cols ? win[(size_t)k * n + r] : win[(size_t)r * n + k]) * w;
            im[k] = 0.0;
        }
        fft(re, im, n);
        for (int f = 0; f <= n / 2; f++)
            power[f] += re[f] * re[f] + im[f] * im[f];
    }
    double best = 1.0, nb[32];
    for (int f = n / 12; f <= n / 2; f++) {
        int m = 0;
        for (int d = -12; d <= 12; d++) {
            int g = f + d;
            if (d >= -2 && d <= 2)
                continue; /* the peak's own width */
            if (g < n / 16 || g > n / 2)
                continue;
            nb[m++] = power[g];
        }
        if (m < 6)
            continue;
        qsort(nb, (size_t)m, sizeof nb[0], cmp_double);
        double med = nb[m / 2];
        if (med <= 1e-9)
            continue;
        double ratio = power[f] / med;
        if (ratio > best)
            best = ratio;
    }
    return best;
}

/* Fill `win` with channel expression `which` (0 luma, 1 red − blue) of the
 * centred WIN x WIN window (the image scaled down by `step` first), minus
 * its 5 x 5 local mean. */
static void window_of(const vx_image *img, int which, int step, double *win, double *tmp)
{
    int cx = img->width / 2, cy = img->height / 2;
    for (int y = 0; y < WIN; y++)
        for (int x = 0; x < WIN; x++) {
            int sx = cx + (x - WIN / 2) * step, sy = cy + (y - WIN / 2) * step;
            if (sx < 0)
                sx = 0;
            if (sy < 0)
                sy = 0;
            if (sx >= img->width)
                sx = img->width - 1;
            if (sy >= img->height)
                sy = img->height - 1;
            const uint8_t *p = img->px + ((size_t)sy * (size_t)img->width + (size_t)sx) * 3;
            tmp[(size_t)y * WIN + x] = which == 0 ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
                                                  : (double)p[0] - (double)p[2];
        }
    for (int y = 0; y < WIN; y++)
        for (int x = 0; x < WIN; x++) {
            double s = 0;
            int c = 0;
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || xx < 0 || yy >= WIN || xx >= WIN)
                        continue;
                    s += tmp[(size_t)yy * WIN + xx];
                    c++;
                }
            win[(size_t)y * WIN + x] = tmp[(size_t)y * WIN + x] - s / c;
        }
}

bool vx_docspoof_check(const vx_image *img, vx_docspoof_result *out)
{
    memset(out, 0, sizeof *out);
    out->periodicity = 1.0;
    if (img == NULL || img->px == NULL || img->width < 16 || img->height < 16)
        return true;

    /* Colour over the whole image (a card's blue labels sit near its
     * edge), glare over the central 70 % x 70 %. */
    int x0 = img->width * 15 / 100, x1 = img->width * 85 / 100;
    int y0 = img->height * 15 / 100, y1 = img->height * 85 / 100;
    size_t total = 0, colour = 0, central = 0, glare = 0;
    for (int y = 0; y < img->height; y += 2)
        for (int x = 0; x < img->width; x += 2) {
            const uint8_t *p = img->px + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
            int mx = p[0] > p[1] ? p[0] : p[1], mn = p[0] < p[1] ? p[0] : p[1];
            mx = p[2] > mx ? p[2] : mx;
            mn = p[2] < mn ? p[2] : mn;
            total++;
            /* colourful: saturation (chroma / max) at least 1/4 and a
             * chroma of a few levels above JPEG's noise, so that a dark
             * photo of a colour card still counts */
            if (mx - mn >= CHROMA_MIN && (mx - mn) * 4 >= mx)
                colour++;
            if (x >= x0 && x < x1 && y >= y0 && y < y1) {
                central++;
                if (mn >= GLARE_MIN)
                    glare++;
            }
        }
    out->colour_share = total ? (double)colour / (double)total : 0.0;
    out->glare = central ? (double)glare / (double)central : 0.0;

    /* Periodicity: at full resolution (the screen grid is finest there). */
    double *win = malloc(sizeof(double) * WIN * WIN);
    double *tmp = malloc(sizeof(double) * WIN * WIN);
    double *re = malloc(sizeof(double) * WIN);
    double *imv = malloc(sizeof(double) * WIN);
    double *power = malloc(sizeof(double) * (WIN / 2 + 1));
    bool ok = win && tmp && re && imv && power;
    if (ok) {
        double best = 1.0;
        for (int which = 0; which < 2; which++) {
            window_of(img, which, 1, win, tmp);
            for (int cols = 0; cols < 2; cols++) {
                double pr = peak_ratio(win, WIN, cols != 0, re, imv, power);
                if (pr > best)
                    best = pr;
            }
        }
        out->periodicity = best;
    }
    free(win);
    free(tmp);
    free(re);
    free(imv);
    free(power);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return false;
    }
    out->photocopy = out->colour_share < VX_DOCSPOOF_COLOUR_MIN;
    out->screen = out->periodicity >= VX_DOCSPOOF_PERIODIC_MAX;
    out->type = out->screen ? "screen_recapture" : out->photocopy ? "photocopy" : NULL;
    return true;
}
