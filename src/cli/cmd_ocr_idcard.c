/*
 * cmd_ocr_idcard.c — `shiming ocr idcard [--json] [--side front|back]
 * [--models-dir DIR] FILE...`: read the printed fields off photos or scans
 * of ID cards with the same pipeline as POST /v1/ocr/idcard, and print
 * them (text: one block per file; --json: one JSON object per line, the
 * native answer's shape without request_id and charged).
 *
 * Exit status: 0 every file was read, 1 a file could not be read (missing,
 * not an image, …) or the models could not be loaded, 2 a usage error.
 *
 * Must never: write anything but to stdout/stderr (the fields are the
 * operator's own files, printed on the operator's terminal), or keep an
 * image or a result in memory unzeroed after use.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fsutil.h"
#include "cli/commands.h"
#include "vision/idcard.h"
#include "vision/image.h"
#include "vision/ocr.h"
#include "vision/runtime.h"

#define FILE_MAX (64u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: shiming ocr idcard [--json] [--side front|back] [--models-dir DIR] "
               "FILE...\n"
               "\n"
               "Read the fields of mainland resident ID cards (front or back) from images\n"
               "(JPEG, PNG, BMP, WebP). --side says which side is expected (default: auto);\n"
               "--models-dir where the OCR models are (default: deps/models).\n");
}

static json_t *field_json(const vx_field *f)
{
    if (!f->present)
        return json_null();
    return json_pack("{s:s,s:f}", "text", f->text, "confidence",
                     (double)(long)((double)f->confidence * 10000.0 + 0.5) / 10000.0);
}

static void print_json(const char *path, const vx_idcard_result *r, double ms)
{
    json_t *fields = json_object();
    for (int i = 0; i < VX_F__COUNT; i++)
        json_object_set_new(fields, vx_field_code((vx_field_id)i), field_json(&r->fields[i]));
    const char *id = r->fields[VX_F_ID_NUMBER].present ? sm_id_status_code(r->id_status) : NULL;
    bool has_period = r->fields[VX_F_VALID_FROM].present || r->fields[VX_F_VALID_TO].present;
    const char *period = has_period ? sm_period_status_code(r->period_status) : NULL;
    json_t *o = json_pack(
        "{s:s,s:s,s:o,s:i,s:s,s:{s:o,s:o},s:f}", "file", path, "side", vx_side_code(r->side),
        "fields", fields, "idcard_number_type", r->number_type, "image_status",
        vx_image_status_code(r->status), "checks", "id_number",
        r->fields[VX_F_ID_NUMBER].present ? json_string(id != NULL ? id : "ok") : json_null(),
        "period", has_period ? json_string(period != NULL ? period : "ok") : json_null(),
        "timing_ms", (double)(long)(ms * 10.0 + 0.5) / 10.0);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    json_decref(o);
}

static void print_text(const char *path, const vx_idcard_result *r, double ms)
{
    printf("%s: %s side, image_status %s, idcard_number_type %d (%.0f ms)\n", path,
           vx_side_code(r->side), vx_image_status_code(r->status), r->number_type, ms);
    for (int i = 0; i < VX_F__COUNT; i++) {
        const vx_field *f = &r->fields[i];
        if (f->present)
            printf("  %-10s %s  (%.2f)\n", vx_field_code((vx_field_id)i), f->text,
                   (double)f->confidence);
    }
    if (r->fields[VX_F_ID_NUMBER].present && r->id_status != SM_ID_OK)
        printf("  the number is not valid: %s\n", sm_id_status_message(r->id_status));
}

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Read one file. true when read. */
static bool read_one(vx_ocr *ocr, const char *path, vx_side want, bool as_json)
{
    size_t len = 0;
    unsigned char *data = read_whole_file(path, FILE_MAX, &len);
    if (data == NULL) {
        fprintf(stderr, "shiming ocr idcard: %s: %s\n", path, strerror(errno));
        return false;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vx_image img;
    memset(&img, 0, sizeof img);
    vx_image_limits lim;
    memset(&lim, 0, sizeof lim);
    vx_img_status st = vx_image_decode(data, len, &lim, &img);
    OPENSSL_cleanse(data, len);
    free(data);
    if (st != VX_IMG_OK) {
        fprintf(stderr, "shiming ocr idcard: %s: %s (%s)\n", path, vx_img_status_message(st),
                vx_img_status_code(st));
        return false;
    }
    vx_idcard_result r;
    char err[256] = "";
    bool ok = vx_idcard_read(ocr, &img, want, &r, err, sizeof err);
    if (img.px != NULL)
        OPENSSL_cleanse(img.px, (size_t)img.width * (size_t)img.height * 3);
    vx_image_free(&img);
    if (!ok) {
        fprintf(stderr, "shiming ocr idcard: %s: %s\n", path, err);
        vx_idcard_result_clear(&r);
        return false;
    }
    double ms = ms_since(&t0);
    if (as_json)
        print_json(path, &r, ms);
    else
        print_text(path, &r, ms);
    vx_idcard_result_clear(&r);
    return true;
}

int cmd_ocr_idcard(int argc, char **argv)
{
    bool as_json = false;
    vx_side want = VX_SIDE_UNKNOWN;
    const char *dir = "deps/models";
    int first = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            first = i + 1;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            as_json = true;
        } else if (strcmp(a, "--side") == 0 || strcmp(a, "--models-dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "shiming ocr idcard: %s needs a value\n", a);
                usage(stderr);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--models-dir") == 0) {
                dir = v;
            } else if (strcmp(v, "front") == 0) {
                want = VX_SIDE_FRONT;
            } else if (strcmp(v, "back") == 0) {
                want = VX_SIDE_BACK;
            } else {
                fprintf(stderr, "shiming ocr idcard: --side must be front or back\n");
                return 2;
            }
        } else if (strncmp(a, "--", 2) == 0) {
            fprintf(stderr, "shiming ocr idcard: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "shiming ocr idcard: no image file given\n");
        usage(stderr);
        return 2;
    }

    char err[1024] = "";
    if (!vx_image_init(err, sizeof err)) {
        fprintf(stderr, "shiming ocr idcard: cannot decode images: %s\n", err);
        return 1;
    }
    vx_runtime_options ro = {0};
    vx_runtime *rt = vx_runtime_open(&ro, err, sizeof err);
    if (rt == NULL) {
        fprintf(stderr, "shiming ocr idcard: %s\n", err);
        return 1;
    }
    char det[4096], rec[4096], cls[4096], keys[4096];
    snprintf(det, sizeof det, "%s/ch_PP-OCRv4_det_infer.onnx", dir);
    snprintf(rec, sizeof rec, "%s/ch_PP-OCRv4_rec_infer.onnx", dir);
    snprintf(cls, sizeof cls, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", dir);
    snprintf(keys, sizeof keys, "%s/ppocr_keys_v1.txt", dir);
    vx_ocr_models m = {det, rec, cls, keys};
    vx_ocr *ocr = vx_ocr_open(rt, &m, err, sizeof err);
    if (ocr == NULL) {
        fprintf(stderr, "shiming ocr idcard: cannot load the OCR models from %s: %s\n", dir,
                err);
        vx_runtime_close(rt);
        return 1;
    }
    int rc = 0;
    for (int i = first; i < argc; i++)
        if (!read_one(ocr, argv[i], want, as_json))
            rc = 1;
    vx_ocr_close(ocr);
    vx_runtime_close(rt);
    return rc;
}
