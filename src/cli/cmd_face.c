/*
 * cmd_face.c — `shiming face compare A B`: are the largest faces in two
 * images the same person? Prints the documented 0–100 score, the decision
 * at VX_FACE_SAME_SCORE, and per image the face box, quality and liveness
 * (vision/face.h; docs/face.md says how the score and thresholds were
 * measured). Readable, or one JSON object with --json.
 *
 * The models and thread count come from the [vision] settings
 * (config.h): --config FILE, --models-dir DIR.
 *
 * Exit status: 0 the same person, 1 not the same person, 2 usage error or
 * the engine could not start (models missing), 3 an image could not be
 * read or decoded, or holds no face. Must never: print or write image data
 * or an embedding.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/fsutil.h"
#include "cli/commands.h"
#include "config/config.h"
#include "vision/face.h"
#include "vision/image.h"
#include "vision/runtime.h"

enum { EXIT_SAME = 0, EXIT_DIFFERENT = 1, EXIT_USAGE = 2, EXIT_INPUT = 3 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shiming face compare [--json] [--config FILE] [--models-dir DIR] A B\n"
            "\n"
            "Compares the largest face in image A with the largest face in image B\n"
            "(JPEG, PNG, BMP, WebP): the similarity of their embeddings mapped onto a\n"
            "score of 0..100; the same person at a score of %.0f or more (chosen at a\n"
            "measured false-accept rate of 0.1 %%, docs/face.md). Also per image: the\n"
            "face box, the number of faces, quality (0..1) and liveness (0..1; live at\n"
            "%.2f or more).\n"
            "\n"
            "  --json              one JSON object: score, same_person, similarity,\n"
            "                      threshold, faces[2]; or error, message, file\n"
            "  --config FILE       read the [vision] settings from FILE\n"
            "  --models-dir DIR    the models (default deps/models, from scripts/setup)\n"
            "\n"
            "exit status: 0 the same person, 1 not the same person, 2 usage error or\n"
            "models missing, 3 an image unreadable, not an image, or without a face\n",
            VX_FACE_SAME_SCORE, (double)vx_face_live_threshold);
}

static int fail(const char *file, const char *code, const char *msg, bool json, int status)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
        if (o && file)
            json_object_set_new(o, "file", json_string(file));
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    }
    fprintf(stderr, "shiming face: %s%s%s (%s)\n", file ? file : "", file ? ": " : "", msg, code);
    return status;
}

/* Decode and analyse one image; on failure prints why and returns the exit
 * status, else 0. */
static int analyse_file(vx_face *face, const char *path, vx_face_result *r, bool json)
{
    size_t len = 0;
    unsigned char *data = read_whole_file(path, (size_t)64 << 20, &len);
    if (!data)
        return fail(path, "unreadable", "cannot read the file", json, EXIT_INPUT);
    vx_image img;
    vx_image_limits lim = {0};
    vx_img_status st = vx_image_decode(data, len, &lim, &img);
    OPENSSL_cleanse(data, len);
    free(data);
    if (st != VX_IMG_OK)
        return fail(path, vx_img_status_code(st), vx_img_status_message(st), json, EXIT_INPUT);
    char err[512] = "";
    bool ok = vx_face_analyse(face, &img, NULL, VX_FACE_EMBED | VX_FACE_LIVENESS, r, err,
                              sizeof err);
    OPENSSL_cleanse(img.px, (size_t)img.width * (size_t)img.height * 3);
    vx_image_free(&img);
    if (!ok)
        return fail(path, "face_failed", err, json, EXIT_USAGE);
    if (!r->found)
        return fail(path, "no_face", "no face found in the image", json, EXIT_INPUT);
    return 0;
}

static json_t *face_json(const char *path, const vx_face_result *r)
{
    return json_pack("{s:s, s:i, s:[f,f,f,f], s:f, s:f, s:f, s:b}", "file", path, "n_faces",
                     r->n_faces, "box", (double)r->box.x1, (double)r->box.y1, (double)r->box.x2,
                     (double)r->box.y2, "detector_score", (double)r->box.score, "quality",
                     (double)r->quality, "liveness", (double)r->liveness, "live",
                     r->liveness >= vx_face_live_threshold);
}

int cmd_face(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "compare") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    argc--;
    argv++;
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"models-dir", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    const char *config_file = NULL, *models_dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'c': config_file = optarg; break;
        case 'm': models_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *a = argv[optind], *b = argv[optind + 1];

    char err[512];
    config cfg;
    config_defaults(&cfg);
    if (config_file && !config_load_file(&cfg, config_file, err, sizeof err))
        return fail(NULL, "config", err, json, EXIT_USAGE);
    if (models_dir)
        snprintf(cfg.vision_models_dir, sizeof cfg.vision_models_dir, "%s", models_dir);
    if (!vx_image_init(err, sizeof err))
        return fail(NULL, "engine", err, json, EXIT_USAGE);
    vx_runtime_options ro = {.intra_threads = cfg.vision_intra_threads};
    vx_runtime *rt = vx_runtime_open(&ro, err, sizeof err);
    if (!rt)
        return fail(NULL, "engine", err, json, EXIT_USAGE);
    vx_face *face = vx_face_open_dir(rt, cfg.vision_models_dir, err, sizeof err);
    if (!face) {
        vx_runtime_close(rt);
        return fail(NULL, "models_missing", err, json, EXIT_USAGE);
    }

    vx_face_result ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    int status = analyse_file(face, a, &ra, json);
    if (!status)
        status = analyse_file(face, b, &rb, json);
    if (!status) {
        float sim = vx_face_similarity(ra.embedding, rb.embedding);
        double score = vx_face_score(sim);
        bool same = vx_face_same(score);
        status = same ? EXIT_SAME : EXIT_DIFFERENT;
        if (json) {
            json_t *o = json_pack("{s:f, s:b, s:f, s:f, s:[o,o]}", "score", score, "same_person",
                                  same, "similarity", (double)sim, "threshold",
                                  VX_FACE_SAME_SCORE, "faces", face_json(a, &ra),
                                  face_json(b, &rb));
            char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4))
                        : NULL;
            if (s)
                puts(s);
            free(s);
            json_decref(o);
        } else {
            printf("score %.1f: %s (the same person at %.0f or more; similarity %.4f)\n", score,
                   same ? "the same person" : "not the same person", VX_FACE_SAME_SCORE, sim);
            const char *paths[2] = {a, b};
            const vx_face_result *rs[2] = {&ra, &rb};
            for (int i = 0; i < 2; i++)
                printf("%s: face %.0f,%.0f-%.0f,%.0f (%d found), quality %.2f, liveness %.2f (%s)\n",
                       paths[i], rs[i]->box.x1, rs[i]->box.y1, rs[i]->box.x2, rs[i]->box.y2,
                       rs[i]->n_faces, rs[i]->quality, rs[i]->liveness,
                       rs[i]->liveness >= vx_face_live_threshold ? "live" : "not live");
        }
    }
    vx_face_result_clear(&ra);
    vx_face_result_clear(&rb);
    vx_face_close(face);
    vx_runtime_close(rt);
    return status;
}
