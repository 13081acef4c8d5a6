/*
 * face_bench.c — the C half of bench/face: runs the face engine
 * (vision/face.h) with the models in MODELS_DIR and prints what bench/face
 * turns into figures.
 *
 *   face_bench embed MODELS_DIR FILE...
 *       one JSON line per file: found, n_faces, box, quality, liveness and
 *       the embedding (for the ROC, computed by bench/face).
 *   face_bench latency MODELS_DIR A B N
 *       N compares of A with B (two detections, landmarks, embeddings) with
 *       one inference thread: median and p95 ms.
 *   face_bench throughput MODELS_DIR A B SECONDS THREADS
 *       THREADS workers compare A with B for SECONDS: compares per second.
 *   Every mode ends with the process's peak RSS (VmHWM) on stderr.
 *
 * Must never: write an image or an embedding anywhere but stdout (the
 * bench's own pipe), or be linked into the server.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vision/face.h"
#include "vision/image.h"
#include "vision/runtime.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool load_image(const char *path, vx_image *img)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    bool ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    ok = ok && vx_image_decode(buf, (size_t)n, NULL, img) == VX_IMG_OK;
    free(buf);
    return ok;
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    vx_face *face;
    const vx_image *a, *b;
    double until;
    long done;
} worker;

static bool compare(vx_face *face, const vx_image *a, const vx_image *b, float *sim)
{
    vx_face_result ra, rb;
    char err[256];
    bool ok = vx_face_analyse(face, a, NULL, VX_FACE_EMBED, &ra, err, sizeof err) &&
              vx_face_analyse(face, b, NULL, VX_FACE_EMBED, &rb, err, sizeof err) &&
              ra.embedded && rb.embedded;
    if (ok)
        *sim = vx_face_similarity(ra.embedding, rb.embedding);
    vx_face_result_clear(&ra);
    vx_face_result_clear(&rb);
    return ok;
}

static void *work(void *arg)
{
    worker *w = arg;
    float s;
    while (now_ms() < w->until && compare(w->face, w->a, w->b, &s))
        w->done++;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs("usage: face_bench embed|latency|throughput MODELS_DIR ...\n", stderr);
        return 2;
    }
    const char *mode = argv[1];
    char err[512];
    if (!vx_image_init(err, sizeof err)) {
        fprintf(stderr, "face_bench: %s\n", err);
        return 1;
    }
    bool single = strcmp(mode, "latency") == 0;
    unsigned threads = strcmp(mode, "throughput") == 0 && argc > 6 ? (unsigned)atoi(argv[6]) : 0;
    vx_runtime_options ro = {.intra_threads = single ? 1 : threads ? 1 : 0};
    vx_runtime *rt = vx_runtime_open(&ro, err, sizeof err);
    vx_face *face = rt ? vx_face_open_dir(rt, argv[2], err, sizeof err) : NULL;
    if (!face) {
        fprintf(stderr, "face_bench: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (strcmp(mode, "embed") == 0) {
        for (int i = 3; i < argc; i++) {
            vx_image img;
            if (!load_image(argv[i], &img)) {
                printf("{\"file\":\"%s\",\"error\":\"unreadable\"}\n", argv[i]);
                continue;
            }
            vx_face_result r;
            if (!vx_face_analyse(face, &img, NULL, VX_FACE_EMBED | VX_FACE_LIVENESS, &r, err,
                                 sizeof err)) {
                printf("{\"file\":\"%s\",\"error\":\"%s\"}\n", argv[i], err);
                vx_image_free(&img);
                continue;
            }
            printf("{\"file\":\"%s\",\"w\":%d,\"h\":%d,\"found\":%s,\"n_faces\":%d", argv[i],
                   img.width, img.height, r.found ? "true" : "false", r.n_faces);
            if (r.found) {
                printf(",\"box\":[%.1f,%.1f,%.1f,%.1f],\"score\":%.4f,\"quality\":%.4f,"
                       "\"liveness\":%.5f,\"landmarks\":[",
                       r.box.x1, r.box.y1, r.box.x2, r.box.y2, r.box.score, r.quality, r.liveness);
                for (int k = 0; k < 5; k++)
                    printf("%s%.1f,%.1f", k ? "," : "", r.landmarks[k][0], r.landmarks[k][1]);
                printf("],\"embedding\":[");
                for (int k = 0; k < VX_FACE_DIM; k++)
                    printf("%s%.6f", k ? "," : "", r.embedding[k]);
                printf("]");
            }
            printf("}\n");
            vx_face_result_clear(&r);
            vx_image_free(&img);
        }
    } else if (argc >= 6 && (single || threads)) {
        vx_image a, b;
        if (!load_image(argv[3], &a) || !load_image(argv[4], &b)) {
            fprintf(stderr, "face_bench: cannot read %s or %s\n", argv[3], argv[4]);
            return 1;
        }
        float sim = 0;
        if (!compare(face, &a, &b, &sim)) { /* warm-up, and both must hold a face */
            fprintf(stderr, "face_bench: no face in %s or %s\n", argv[3], argv[4]);
            return 1;
        }
        if (single) {
            int n = atoi(argv[5]);
            if (n < 1)
                n = 1;
            double *t = malloc(sizeof(double) * (size_t)n);
            for (int i = 0; i < n; i++) {
                double t0 = now_ms();
                compare(face, &a, &b, &sim);
                t[i] = now_ms() - t0;
            }
            qsort(t, (size_t)n, sizeof *t, cmp_double);
            printf("latency n=%d median_ms=%.1f p95_ms=%.1f similarity=%.4f\n", n, t[n / 2],
                   t[(size_t)ceil(0.95 * n) - 1], sim);
            free(t);
        } else {
            double secs = atof(argv[5]);
            worker *w = calloc(threads, sizeof *w);
            pthread_t *th = calloc(threads, sizeof *th);
            double t0 = now_ms();
            for (unsigned i = 0; i < threads; i++) {
                w[i] = (worker){face, &a, &b, t0 + secs * 1e3, 0};
                pthread_create(&th[i], NULL, work, &w[i]);
            }
            long total = 0;
            for (unsigned i = 0; i < threads; i++) {
                pthread_join(th[i], NULL);
                total += w[i].done;
            }
            double el = (now_ms() - t0) / 1e3;
            printf("throughput threads=%u compares=%ld seconds=%.1f per_second=%.1f\n", threads,
                   total, el, (double)total / el);
            free(w);
            free(th);
        }
        vx_image_free(&a);
        vx_image_free(&b);
    } else {
        fputs("face_bench: bad arguments\n", stderr);
        rc = 2;
    }
    fprintf(stderr, "peak_rss_kb=%ld\n", peak_rss_kb());
    vx_face_close(face);
    vx_runtime_close(rt);
    return rc;
}
