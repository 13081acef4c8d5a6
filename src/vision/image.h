/*
 * image.h — decoded images for the vision pipeline (libvips): JPEG, PNG,
 * BMP and WebP from memory, EXIF orientation applied, limits enforced
 * before decoding (bytes; width × height from the header, so that a
 * decompression bomb is refused before it is expanded).
 *
 * Pixels are 8-bit sRGB, 3 channels, row-major, no padding. Ownership: a
 * vx_image owns its pixels (free with vx_image_free). Thread-safe
 * (libvips is initialised once, vx_image_init).
 */
#ifndef SHIMING_VISION_IMAGE_H
#define SHIMING_VISION_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    uint8_t *px; /* width * height * 3 bytes, RGB */
} vx_image;

typedef enum {
    VX_IMG_OK = 0,
    VX_IMG_TOO_LARGE,      /* over max_bytes, or width × height over max_pixels */
    VX_IMG_TOO_SMALL,      /* shorter side under min_side */
    VX_IMG_UNSUPPORTED,    /* not JPEG/PNG/BMP/WebP */
    VX_IMG_CORRUPT,        /* truncated or undecodable */
    VX_IMG_NOMEM,
} vx_img_status;

const char *vx_img_status_code(vx_img_status st);    /* "too_large", … */
const char *vx_img_status_message(vx_img_status st);

typedef struct {
    size_t max_bytes;       /* 0 = 8 MiB */
    uint64_t max_pixels;    /* 0 = 40 megapixels */
    int min_side;           /* 0 = 15 */
} vx_image_limits;

/* Once per process, before any other call (libvips init). false + err. */
bool vx_image_init(char *err, size_t errlen);

vx_img_status vx_image_decode(const void *data, size_t len, const vx_image_limits *lim,
                              vx_image *out);
void vx_image_free(vx_image *img);

#endif
