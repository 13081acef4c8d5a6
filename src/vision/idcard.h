/*
 * idcard.h — the fields of a mainland resident ID card from a photo or a
 * scan: card localisation (the card's quadrilateral found and rectified to
 * 85.6 × 54 mm before reading), side detection, fields found by their
 * printed labels and positions, image quality status, and the core's
 * cross-checks (checksum, number vs printed sex and birth date, validity
 * period vs birth date). A number is never "repaired" into another valid
 * one: what is read is reported, with its confidence.
 *
 * Thread-safety: vx_idcard_read may run on many threads at once.
 * Ownership: the result is plain data (fixed buffers), zero it when done
 * (vx_idcard_result_clear): it holds identity data.
 */
#ifndef SHIMING_VISION_IDCARD_H
#define SHIMING_VISION_IDCARD_H

#include <stdbool.h>

#include <shiming/shiming.h>

#include "vision/ocr.h"

typedef enum { VX_SIDE_UNKNOWN = 0, VX_SIDE_FRONT, VX_SIDE_BACK } vx_side;
const char *vx_side_code(vx_side s); /* "unknown", "front", "back" */

typedef enum {
    VX_STATUS_NORMAL = 0,
    VX_STATUS_REVERSED_SIDE,   /* the other side than the one asked for */
    VX_STATUS_NON_IDCARD,
    VX_STATUS_BLURRED,
    VX_STATUS_OVER_EXPOSURE,
    VX_STATUS_OVER_DARK,
    VX_STATUS_OTHER_TYPE_CARD,
    VX_STATUS_UNKNOWN,
} vx_image_status;
/* The seed's strings: "normal", "reversed_side", "non_idcard", "blurred",
 * "over_exposure", "over_dark", "other_type_card", "unknown". */
const char *vx_image_status_code(vx_image_status s);

typedef enum {
    VX_F_NAME = 0, VX_F_SEX, VX_F_ETHNICITY, VX_F_BIRTH, VX_F_ADDRESS, VX_F_ID_NUMBER,
    VX_F_AUTHORITY, VX_F_VALID_FROM, VX_F_VALID_TO,
    VX_F__COUNT
} vx_field_id;
/* "name", "sex", "ethnicity", "birth", "address", "id_number", "authority",
 * "valid_from", "valid_to". */
const char *vx_field_code(vx_field_id f);

typedef struct {
    bool present;
    char text[256];        /* UTF-8; birth/valid_* as YYYYMMDD, valid_to "长期" kept as is */
    float confidence;      /* 0..1 */
} vx_field;

typedef struct {
    vx_side side;                  /* what the image shows */
    vx_image_status status;
    vx_field fields[VX_F__COUNT];
    /* The seed's idcard_number_type: -1 every front field empty; 0 illegal
     * number; 1 consistent with printed sex and birth; 2 neither; 3 birth
     * differs; 4 sex differs. Back side: -1. */
    int number_type;
    sm_id_status id_status;        /* the core's verdict on the number read */
    sm_period_status period_status;/* back: the period read (SM_PERIOD_OK when lawful) */
    double blur_score;             /* variance of the Laplacian on the card region */
    double brightness;             /* mean luma 0..255 of the card region */
} vx_idcard_result;

/* `want` VX_SIDE_UNKNOWN = auto. false + err only on internal failure; an
 * image that is not a card is a result with status non_idcard. */
bool vx_idcard_read(vx_ocr *o, const vx_image *img, vx_side want, vx_idcard_result *out,
                    char *err, size_t errlen);
void vx_idcard_result_clear(vx_idcard_result *r);

#endif
