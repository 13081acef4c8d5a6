/*
 * image.c — images from memory with libvips (see image.h): the format is
 * told by its magic bytes (JPEG, PNG, WebP, BMP only), the header is read
 * without decoding and the limits checked on it, then the pixels are
 * decoded with "fail on truncated" so that a cut-off file is an error and
 * not a half-grey picture, turned upright by EXIF orientation, flattened
 * onto white, converted to 8-bit sRGB and written straight into the
 * caller's buffer (one pass, sequential access).
 *
 * libvips is set up once: no operation cache (every image is seen once, and
 * the cache would only hold memory) and one worker thread per call (the
 * vision worker pool is the parallelism).
 *
 * Must never: decode a single pixel before the size limits passed, accept
 * a format other than the four, or leave a libvips error in its global
 * buffer.
 */
#include "vision/image.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#define DEFAULT_MAX_BYTES ((size_t)8 << 20)
#define DEFAULT_MAX_PIXELS 40000000ULL
#define DEFAULT_MIN_SIDE 15

const char *vx_img_status_code(vx_img_status st)
{
    switch (st) {
    case VX_IMG_OK: return "ok";
    case VX_IMG_TOO_LARGE: return "too_large";
    case VX_IMG_TOO_SMALL: return "too_small";
    case VX_IMG_UNSUPPORTED: return "unsupported";
    case VX_IMG_CORRUPT: return "corrupt";
    case VX_IMG_NOMEM: return "nomem";
    }
    return "unknown";
}

const char *vx_img_status_message(vx_img_status st)
{
    switch (st) {
    case VX_IMG_OK: return "the image was decoded";
    case VX_IMG_TOO_LARGE: return "the image is too large (bytes or width x height)";
    case VX_IMG_TOO_SMALL: return "the image is too small to be read";
    case VX_IMG_UNSUPPORTED: return "not a JPEG, PNG, BMP or WebP image";
    case VX_IMG_CORRUPT: return "the image is truncated or corrupt";
    case VX_IMG_NOMEM: return "out of memory while decoding the image";
    }
    return "unknown image status";
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;
static char init_err[256];

/* libvips (and its loaders) report through GLib's log: a truncated file
 * would print "VIPS-WARNING" lines on stderr, which carries the server's
 * JSON access log. Our statuses say what went wrong instead. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
    (void)domain;
    (void)level;
    (void)msg;
    (void)data;
}

static void init_vips(void)
{
    GLogLevelFlags noisy = G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                           G_LOG_LEVEL_DEBUG;
    g_log_set_handler("VIPS", noisy, quiet_log, NULL);
    g_log_set_handler("GLib-GObject", G_LOG_LEVEL_WARNING, quiet_log, NULL);
    if (VIPS_INIT("shiming") != 0) {
        snprintf(init_err, sizeof init_err, "libvips: %s", vips_error_buffer());
        vips_error_clear();
        return;
    }
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(1);
    init_ok = true;
}

bool vx_image_init(char *err, size_t errlen)
{
    pthread_once(&init_once, init_vips);
    if (!init_ok && err && errlen)
        snprintf(err, errlen, "%s", init_err[0] ? init_err : "libvips failed to start");
    return init_ok;
}

typedef enum { FMT_NONE, FMT_JPEG, FMT_PNG, FMT_WEBP, FMT_BMP } img_format;

static img_format sniff(const unsigned char *p, size_t len)
{
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return FMT_JPEG;
    if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return FMT_PNG;
    if (len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
        return FMT_WEBP;
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return FMT_BMP;
    return FMT_NONE;
}

/* The header only (sequential access: the pixels are read later, once),
 * by the loader of the sniffed format: libvips never probes other loaders
 * (ImageMagick's would otherwise be asked about every buffer). */
static VipsImage *open_header(img_format f, const void *data, size_t len)
{
    VipsImage *im = NULL;
    void *buf = (void *)data; /* the loaders take void * but do not write */
    int rc = -1;
    switch (f) {
    case FMT_JPEG:
        rc = vips_jpegload_buffer(buf, len, &im, "access", VIPS_ACCESS_SEQUENTIAL,
                                  "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
        break;
    case FMT_PNG:
        rc = vips_pngload_buffer(buf, len, &im, "access", VIPS_ACCESS_SEQUENTIAL,
                                 "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
        break;
    case FMT_WEBP:
        rc = vips_webpload_buffer(buf, len, &im, "access", VIPS_ACCESS_SEQUENTIAL,
                                  "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
        break;
    case FMT_BMP: /* libvips reads BMP through its ImageMagick module */
        rc = vips_magickload_buffer(buf, len, &im, "access", VIPS_ACCESS_SEQUENTIAL,
                                    "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
        break;
    case FMT_NONE:
        break;
    }
    if (rc != 0 && im) {
        g_object_unref(im);
        im = NULL;
    }
    return im;
}

typedef struct {
    uint8_t *px;
    size_t stride;
} sink_target;

/* vips_sink_disc callback: the strips come in order; copy each into place. */
static int write_strip(VipsRegion *region, VipsRect *area, void *a)
{
    sink_target *t = a;
    size_t row = (size_t)area->width * 3;
    for (int y = 0; y < area->height; y++)
        memcpy(t->px + (size_t)(area->top + y) * t->stride + (size_t)area->left * 3,
               VIPS_REGION_ADDR(region, area->left, area->top + y), row);
    return 0;
}

static void unref(VipsImage **im)
{
    if (*im)
        g_object_unref(*im);
    *im = NULL;
}

/* Replace *im by the result of an operation (which took its own reference). */
static bool step(VipsImage **im, int rc, VipsImage *out)
{
    unref(im);
    if (rc != 0) {
        if (out)
            g_object_unref(out);
        return false;
    }
    *im = out;
    return true;
}

vx_img_status vx_image_decode(const void *data, size_t len, const vx_image_limits *lim,
                              vx_image *out)
{
    memset(out, 0, sizeof *out);
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEFAULT_MAX_BYTES;
    uint64_t max_pixels = lim && lim->max_pixels ? lim->max_pixels : DEFAULT_MAX_PIXELS;
    int min_side = lim && lim->min_side ? lim->min_side : DEFAULT_MIN_SIDE;

    if (len > max_bytes)
        return VX_IMG_TOO_LARGE;
    img_format fmt = data ? sniff(data, len) : FMT_NONE;
    if (fmt == FMT_NONE)
        return VX_IMG_UNSUPPORTED;
    if (!vx_image_init(NULL, 0))
        return VX_IMG_UNSUPPORTED;

    vx_img_status st = VX_IMG_CORRUPT;
    VipsImage *im = open_header(fmt, data, len);
    if (!im)
        goto done;
    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    if (w <= 0 || h <= 0)
        goto done;
    if ((uint64_t)w * (uint64_t)h > max_pixels) {
        st = VX_IMG_TOO_LARGE;
        goto done;
    }
    if (w < min_side || h < min_side) {
        st = VX_IMG_TOO_SMALL;
        goto done;
    }

    /* EXIF orientation: turning needs the whole picture, so an image that
     * must be turned is decoded into memory first (within the limits). */
    int orientation = 1;
    if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) &&
        vips_image_get_int(im, VIPS_META_ORIENTATION, &orientation) != 0)
        orientation = 1;
    VipsImage *t = NULL;
    if (orientation > 1 && orientation <= 8) {
        t = vips_image_copy_memory(im);
        if (!step(&im, t ? 0 : -1, t))
            goto done;
        t = NULL;
        int rc = vips_autorot(im, &t, NULL);
        if (!step(&im, rc, t))
            goto done;
    }
    t = NULL;
    if (vips_image_hasalpha(im)) {
        /* White in the image's own range (16-bit PNGs are 0..65535). */
        bool wide = im->Type == VIPS_INTERPRETATION_RGB16 || im->Type == VIPS_INTERPRETATION_GREY16;
        double wv[1] = {wide ? 65535.0 : 255.0};
        VipsArrayDouble *bg = vips_array_double_new(wv, 1);
        int rc = vips_flatten(im, &t, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (!step(&im, rc, t))
            goto done;
    }
    t = NULL;
    int rc = vips_colourspace(im, &t, VIPS_INTERPRETATION_sRGB, NULL);
    if (!step(&im, rc, t))
        goto done;
    if (im->BandFmt != VIPS_FORMAT_UCHAR) {
        t = NULL;
        rc = vips_cast_uchar(im, &t, NULL);
        if (!step(&im, rc, t))
            goto done;
    }
    if (im->Bands > 3) {
        t = NULL;
        rc = vips_extract_band(im, &t, 0, "n", 3, NULL);
        if (!step(&im, rc, t))
            goto done;
    }
    if (im->Bands != 3 || im->BandFmt != VIPS_FORMAT_UCHAR)
        goto done;

    w = vips_image_get_width(im);
    h = vips_image_get_height(im);
    size_t bytes = (size_t)w * (size_t)h * 3;
    uint8_t *px = malloc(bytes);
    if (!px) {
        st = VX_IMG_NOMEM;
        goto done;
    }
    sink_target target = {px, (size_t)w * 3};
    if (vips_sink_disc(im, write_strip, &target) != 0) {
        free(px);
        goto done;
    }
    out->width = w;
    out->height = h;
    out->px = px;
    st = VX_IMG_OK;
done:
    unref(&im);
    if (st != VX_IMG_OK)
        vips_error_clear();
    return st;
}

void vx_image_free(vx_image *img)
{
    if (!img)
        return;
    free(img->px);
    img->px = NULL;
    img->width = img->height = 0;
}
