/* image.c — placeholder until libvips is wired in (see image.h). */
#include "vision/image.h"

#include <stdio.h>
#include <stdlib.h>

const char *vx_img_status_code(vx_img_status st) { (void)st; return "unsupported"; }
const char *vx_img_status_message(vx_img_status st) { (void)st; return "images are not supported in this build"; }
bool vx_image_init(char *err, size_t errlen) { snprintf(err, errlen, "no libvips"); return false; }
vx_img_status vx_image_decode(const void *data, size_t len, const vx_image_limits *lim, vx_image *out)
{
    (void)data; (void)len; (void)lim; (void)out;
    return VX_IMG_UNSUPPORTED;
}
void vx_image_free(vx_image *img) { free(img->px); img->px = NULL; }
