/*
 * ocr.h — text lines from an image with PP-OCRv4 (det + cls + rec, ONNX):
 * DB detection (probability map → threshold → contours → minimum-area
 * boxes → unclip), direction classification (a line upside down is turned),
 * recognition (one line per run, no padding) with CTC greedy decoding over
 * ppocr_keys_v1.txt.
 *
 * Thread-safety: one vx_ocr is shared by all workers; vx_ocr_read may run
 * on many threads at once (each read recognises on one helper thread of
 * its own besides the caller's, joined before it returns). Ownership: vx_ocr_result is owned by the
 * caller (vx_ocr_result_free).
 */
#ifndef SHIMING_VISION_OCR_H
#define SHIMING_VISION_OCR_H

#include <stdbool.h>
#include <stddef.h>

#include "vision/image.h"
#include "vision/runtime.h"

typedef struct vx_ocr vx_ocr;

typedef struct {
    const char *det_model;     /* ch_PP-OCRv4_det_infer.onnx */
    const char *rec_model;     /* ch_PP-OCRv4_rec_infer.onnx */
    const char *cls_model;     /* ch_ppocr_mobile_v2.0_cls_infer.onnx */
    const char *keys;          /* ppocr_keys_v1.txt */
} vx_ocr_models;

vx_ocr *vx_ocr_open(vx_runtime *rt, const vx_ocr_models *m, char *err, size_t errlen);
void vx_ocr_close(vx_ocr *o);

typedef struct {
    float x, y;
} vx_point;

typedef struct {
    char *text;          /* UTF-8, malloc'ed */
    float confidence;    /* mean of the characters' probabilities, 0..1 */
    vx_point quad[4];    /* in the input image: top-left, top-right, bottom-right, bottom-left
                            as read (after the direction fix) */
    bool rotated;        /* the classifier turned it 180° */
} vx_line;

typedef struct {
    vx_line *lines;      /* reading order: top to bottom, then left to right */
    size_t n;
} vx_ocr_result;

bool vx_ocr_read(vx_ocr *o, const vx_image *img, vx_ocr_result *out, char *err, size_t errlen);
void vx_ocr_result_free(vx_ocr_result *r);

/* Options for callers that know their text (e.g. the ID-card reader);
 * zero fields mean PaddleOCR's defaults, which vx_ocr_read uses. */
typedef struct {
    int det_limit;      /* detector input, longer side at most (0: 960); smaller is
                           faster, text under ~10 px high at that scale is missed */
    float rec_squeeze;  /* line images narrowed to this fraction of their aspect
                           before recognition (0 or 1: none; 0.2 < f <= 1): fewer
                           columns, faster; for text of known, wide glyphs */
    bool one_page;      /* every line has the page's orientation (a card, a form):
                           when most boxes are taller than wide (the page is on
                           its side) every box is read turned 90°, the near-square
                           ones too ("男", "汉", which PaddleOCR's per-box rule
                           reads sideways); and the 180° decision is taken once,
                           by the classifier's majority over the widest lines, for
                           every line (single characters are where it errs) */
} vx_ocr_opts;

bool vx_ocr_read_opts(vx_ocr *o, const vx_image *img, const vx_ocr_opts *opts,
                      vx_ocr_result *out, char *err, size_t errlen);

#endif
