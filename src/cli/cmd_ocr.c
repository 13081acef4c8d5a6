/*
 * cmd_ocr.c — `shiming ocr lines FILE...`: the text lines that the OCR
 * engine (vision/ocr.h) reads in each image, with confidence and box;
 * readable, or one JSON object per file with --json. --repeat N reads each
 * image N times and prints the median and p95 time on stderr (benchmarks).
 *
 * The models and thread count come from the [vision] settings
 * (config.h): --config FILE, --models-dir DIR, --intra-threads N.
 *
 * Exit status: 0 every file read, 1 any file unreadable or not an image,
 * 2 usage error or the engine could not start. Must never: decide anything
 * about an ID card (that is vision/idcard.c), or print image data.
 */
#include <getopt.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/fsutil.h"
#include "cli/commands.h"
#include "config/config.h"
#include "vision/image.h"
#include "vision/ocr.h"
#include "vision/runtime.h"

static void usage(FILE *f)
{
    fputs("usage: shiming ocr lines [--json] [--config FILE] [--models-dir DIR]\n"
          "                         [--intra-threads N] [--repeat N] FILE...\n"
          "\n"
          "Reads the text lines in each image (JPEG, PNG, BMP, WebP) with PP-OCRv4:\n"
          "one line per text line: confidence, box (x,y of the four corners as read:\n"
          "top-left, top-right, bottom-right, bottom-left) and text, in reading order.\n"
          "\n"
          "  --json              one JSON object per file\n"
          "  --config FILE       read the [vision] settings from FILE\n"
          "  --models-dir DIR    the models (default deps/models, from scripts/setup)\n"
          "  --intra-threads N   inference threads (0 = number of cores)\n"
          "  --repeat N          read each image N times; median and p95 on stderr\n"
          "\n"
          "exit status: 0 all read, 1 a file could not be read, 2 usage error\n",
          f);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_lines(const char *path, const vx_ocr_result *r, double ms, bool json)
{
    if (!json) {
        printf("%s\t%zu lines\t%.0f ms\n", path, r->n, ms);
        for (size_t i = 0; i < r->n; i++) {
            const vx_line *l = &r->lines[i];
            printf("  %.3f\t", l->confidence);
            for (int k = 0; k < 4; k++)
                printf("%s%.0f,%.0f", k ? " " : "", l->quad[k].x, l->quad[k].y);
            printf("%s\t%s\n", l->rotated ? "\t(turned 180°)" : "", l->text);
        }
        return;
    }
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "file", json_string(path));
    for (size_t i = 0; i < r->n; i++) {
        const vx_line *l = &r->lines[i];
        json_t *box = json_array();
        for (int k = 0; k < 4; k++)
            json_array_append_new(box, json_pack("[II]", (json_int_t)lroundf(l->quad[k].x),
                                                 (json_int_t)lroundf(l->quad[k].y)));
        json_array_append_new(arr, json_pack("{s:s, s:f, s:o, s:b}", "text", l->text,
                                             "confidence", (double)l->confidence,
                                             "box", box, "rotated", l->rotated));
    }
    json_object_set_new(o, "lines", arr);
    json_object_set_new(o, "timing_ms", json_integer((json_int_t)(ms + 0.5)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

static void print_failure(const char *path, const char *code, const char *msg, bool json)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "file", path, "error", code, "message", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    }
    fprintf(stderr, "shiming ocr: %s: %s (%s)\n", path, msg, code);
}

int cmd_ocr(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "idcard") == 0)
        return cmd_ocr_idcard(argc - 1, argv + 1); /* cmd_ocr_idcard.c */
    if (argc < 2 || strcmp(argv[1], "lines") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    argc--;
    argv++;
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"models-dir", required_argument, NULL, 'm'},
        {"intra-threads", required_argument, NULL, 't'},
        {"repeat", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    const char *config_file = NULL, *models_dir = NULL;
    long threads = -1, repeat = 1;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'c': config_file = optarg; break;
        case 'm': models_dir = optarg; break;
        case 't':
            threads = strtol(optarg, &end, 10);
            if (*end || end == optarg || threads < 0 || threads > 256) {
                fprintf(stderr, "shiming ocr: --intra-threads wants 0..256\n");
                return 2;
            }
            break;
        case 'r':
            repeat = strtol(optarg, &end, 10);
            if (*end || end == optarg || repeat < 1 || repeat > 100000) {
                fprintf(stderr, "shiming ocr: --repeat wants 1..100000\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }

    char err[512];
    config cfg;
    config_defaults(&cfg);
    if (config_file && !config_load_file(&cfg, config_file, err, sizeof err)) {
        fprintf(stderr, "shiming ocr: %s\n", err);
        return 2;
    }
    if (models_dir)
        snprintf(cfg.vision_models_dir, sizeof cfg.vision_models_dir, "%s", models_dir);
    if (threads >= 0)
        cfg.vision_intra_threads = (unsigned)threads;

    if (!vx_image_init(err, sizeof err)) {
        fprintf(stderr, "shiming ocr: %s\n", err);
        return 2;
    }
    vx_runtime_options ro = {.intra_threads = cfg.vision_intra_threads};
    vx_runtime *rt = vx_runtime_open(&ro, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "shiming ocr: %s\n", err);
        return 2;
    }
    char det[CONFIG_PATH_MAX + 64], rec[CONFIG_PATH_MAX + 64], cls[CONFIG_PATH_MAX + 64],
        keys[CONFIG_PATH_MAX + 64];
    const char *d = cfg.vision_models_dir;
    snprintf(det, sizeof det, "%s/ch_PP-OCRv4_det_infer.onnx", d);
    snprintf(rec, sizeof rec, "%s/ch_PP-OCRv4_rec_infer.onnx", d);
    snprintf(cls, sizeof cls, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", d);
    snprintf(keys, sizeof keys, "%s/ppocr_keys_v1.txt", d);
    vx_ocr_models m = {det, rec, cls, keys};
    vx_ocr *ocr = vx_ocr_open(rt, &m, err, sizeof err);
    if (!ocr) {
        fprintf(stderr, "shiming ocr: %s\n", err);
        vx_runtime_close(rt);
        return 2;
    }

    int status = 0;
    vx_image_limits lim = {0};
    double *times = malloc(sizeof(double) * (size_t)repeat);
    for (int i = optind; i < argc && times; i++) {
        const char *path = argv[i];
        size_t len = 0;
        unsigned char *data = read_whole_file(path, (size_t)64 << 20, &len);
        if (!data) {
            print_failure(path, "unreadable", strerror(errno), json);
            status = 1;
            continue;
        }
        vx_ocr_result r = {0};
        bool ok = true;
        for (long k = 0; ok && k < repeat; k++) {
            vx_ocr_result_free(&r);
            double t0 = now_ms();
            vx_image img;
            vx_img_status st = vx_image_decode(data, len, &lim, &img);
            if (st != VX_IMG_OK) {
                print_failure(path, vx_img_status_code(st), vx_img_status_message(st), json);
                ok = false;
                break;
            }
            ok = vx_ocr_read(ocr, &img, &r, err, sizeof err);
            vx_image_free(&img);
            times[k] = now_ms() - t0;
            if (!ok)
                print_failure(path, "ocr_failed", err, json);
        }
        free(data);
        if (!ok) {
            status = 1;
            continue;
        }
        print_lines(path, &r, times[0], json);
        if (repeat > 1) {
            qsort(times, (size_t)repeat, sizeof *times, cmp_double);
            size_t p95 = (size_t)((double)(repeat - 1) * 0.95 + 0.5);
            fprintf(stderr, "%s: %ld runs, median %.1f ms, p95 %.1f ms\n", path, repeat,
                    times[repeat / 2], times[p95]);
        }
        vx_ocr_result_free(&r);
    }
    free(times);
    vx_ocr_close(ocr);
    vx_runtime_close(rt);
    return status;
}
