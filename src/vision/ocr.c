/* ocr.c — placeholder until the PP-OCR pipeline lands (see ocr.h). */
#include "vision/ocr.h"

#include <stdio.h>
#include <stdlib.h>

vx_ocr *vx_ocr_open(vx_runtime *rt, const vx_ocr_models *m, char *err, size_t errlen)
{
    (void)rt; (void)m;
    snprintf(err, errlen, "OCR is not available in this build");
    return NULL;
}
void vx_ocr_close(vx_ocr *o) { (void)o; }
bool vx_ocr_read(vx_ocr *o, const vx_image *img, vx_ocr_result *out, char *err, size_t errlen)
{
    (void)o; (void)img; (void)out;
    snprintf(err, errlen, "no OCR");
    return false;
}
void vx_ocr_result_free(vx_ocr_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i].text);
    free(r->lines);
    r->lines = NULL;
    r->n = 0;
}
