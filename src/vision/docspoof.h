/*
 * docspoof.h — document anti-spoofing signals on a photo of an identity
 * document: measurable image statistics, not a trained model.
 *
 *   - photocopy: a grey copy has next to no colour. Measured over the
 *     whole image: the share of pixels whose chroma (max − min of R, G, B)
 *     is at least 8 levels and at least a quarter of max (saturation
 *     0.25: a dark photo of a colour card still counts).
 *     A printed card has blue labels, a tinted background and a portrait.
 *   - screen recapture: a photo of a screen carries the screen's pixel
 *     grid (RGB sub-pixels and the black matrix between them) and the
 *     moiré it beats into with the camera's sensor: periodic
 *     high-frequency energy. Measured as the highest peak of the mean
 *     power spectrum of the high-passed luma rows and columns (and of the
 *     red − blue difference, where sub-pixels show) over its local
 *     median, in the band 1/12 … 1/2 cycles per pixel. Specular glare
 *     (the share of clipped near-white pixels) is reported, not decisive.
 *
 * The thresholds and the rates measured on tools/cardgen's spoof set are
 * in docs/ekyc.md, with what is not detected (tampered text, a good
 * colour print or colour copy, a screen photographed out of focus, …).
 *
 * Thread-safety: pure function of the image. Ownership: no allocation
 * survives a call; nothing of the image is kept.
 */
#ifndef SHIMING_VISION_DOCSPOOF_H
#define SHIMING_VISION_DOCSPOOF_H

#include <stdbool.h>

#include "vision/image.h"

typedef struct {
    double colour_share;   /* 0..1: colourful pixels (the whole image) */
    double periodicity;    /* spectral peak over its local median (1 = none) */
    double glare;          /* 0..1: near-white clipped pixels in the central region */
    bool photocopy;        /* colour_share < VX_DOCSPOOF_COLOUR_MIN */
    bool screen;           /* periodicity >= VX_DOCSPOOF_PERIODIC_MAX */
    const char *type;      /* "screen_recapture", "photocopy" (static) or NULL */
} vx_docspoof_result;

/* The thresholds (docs/ekyc.md: how they were chosen, measured rates). */
#define VX_DOCSPOOF_COLOUR_MIN 0.004
#define VX_DOCSPOOF_PERIODIC_MAX 20.0

/* Measure `img`. false only when out of memory (out zeroed). */
bool vx_docspoof_check(const vx_image *img, vx_docspoof_result *out);

#endif
