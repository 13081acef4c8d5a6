/*
 * face.h — faces in an image: detection (RFB-320 detector, NMS, the
 * largest face kept), 68-point landmarks, alignment to the feature model's
 * 112×112 crop by a similarity transform, a 512-d L2-normalised embedding,
 * and a passive liveness score; plus the documented 0–100 similarity score
 * and its decision threshold (docs/face.md: how they were chosen from
 * measured false-accept rates on ../shared/data/faces).
 *
 * Models (npm faceplugin-face-recognition-js, pinned in scripts/deps, in
 * [vision] models_dir): fr_detect.onnx, fr_landmark.onnx, fr_feature.onnx,
 * fr_liveness.onnx. Their pre- and post-processing follow the package's own
 * lib/fr_*.js, checked against measurements (docs/face.md).
 *
 * Thread-safety: one vx_face is shared by every worker; vx_face_analyse may
 * run on many threads at once. Ownership: results are plain data; an
 * embedding is biometric data: zero results when done (vx_face_result_clear).
 * Must never: keep, log or write an image, a crop or an embedding.
 */
#ifndef SHIMING_VISION_FACE_H
#define SHIMING_VISION_FACE_H

#include <stdbool.h>
#include <stddef.h>

#include "vision/image.h"
#include "vision/runtime.h"

typedef struct vx_face vx_face;

typedef struct {
    const char *detect;    /* fr_detect.onnx */
    const char *landmark;  /* fr_landmark.onnx */
    const char *feature;   /* fr_feature.onnx */
    const char *liveness;  /* fr_liveness.onnx */
} vx_face_models;

/* NULL with a message when a model cannot be loaded or has unexpected
 * input/output shapes. */
vx_face *vx_face_open(vx_runtime *rt, const vx_face_models *m, char *err, size_t errlen);
/* The same, with the four models' standard file names in `models_dir`
 * ([vision] models_dir): what serve, the CLI and the import use. */
vx_face *vx_face_open_dir(vx_runtime *rt, const char *models_dir, char *err, size_t errlen);
void vx_face_close(vx_face *f);

#define VX_FACE_DIM 512

typedef struct {
    float x1, y1, x2, y2;  /* in the image's pixels */
    float score;           /* detector confidence, 0..1 */
} vx_face_box;

/* What vx_face_analyse computes beyond detection. */
enum {
    VX_FACE_EMBED = 1u << 0,     /* landmarks, alignment, embedding */
    VX_FACE_LIVENESS = 1u << 1,  /* the passive liveness score */
};

typedef struct {
    int n_faces;           /* faces found (after NMS) */
    bool found;            /* n_faces > 0: the fields below are about the largest one */
    vx_face_box box;
    float landmarks[5][2]; /* left eye, right eye, nose tip, mouth left, mouth right (pixels);
                              with VX_FACE_EMBED */
    float quality;         /* 0..1: face size, sharpness and detector confidence
                              (docs/face.md gives the formula) */
    float liveness;        /* 0..1, the probability of a live capture; -1 when not asked */
    bool embedded;         /* embedding is set */
    float embedding[VX_FACE_DIM]; /* L2-normalised */
} vx_face_result;

/* Analyse `img` (or only the region `roi` of it: x, y, w, h in pixels; NULL =
 * whole image, e.g. a document's portrait area). An image without a face is
 * a result with found = false, not an error; false + err only on internal
 * failure (inference, memory). */
bool vx_face_analyse(vx_face *f, const vx_image *img, const int roi[4], unsigned what,
                     vx_face_result *out, char *err, size_t errlen);
void vx_face_result_clear(vx_face_result *r);

/* Cosine similarity of two L2-normalised embeddings, -1..1. */
float vx_face_similarity(const float a[VX_FACE_DIM], const float b[VX_FACE_DIM]);

/* The documented score: a monotone map of the similarity onto 0..100. */
double vx_face_score(float similarity);

/* The decision threshold on that score: the same person iff score >=
 * VX_FACE_SAME_SCORE (docs/face.md: the false-accept rate it was chosen for,
 * as measured). */
#define VX_FACE_SAME_SCORE 70.0
bool vx_face_same(double score);

/* A live capture iff liveness >= this (docs/face.md, measured). */
extern const float vx_face_live_threshold;

#endif
