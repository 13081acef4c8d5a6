/*
 * test_vision.c — unit tests of the vision runtime: image decoding with
 * libvips (formats, EXIF orientation, alpha, truncated and non-image data,
 * decompression bombs refused from the header), ONNX Runtime sessions
 * (errors are clear messages) and the OCR engine on the fixture images in
 * tests/fixtures/ocr/ (the exact text read, upside-down and tilted lines,
 * several threads at once). Prints the median / p95 time of one OCR read.
 *
 * The models are installed by scripts/setup into deps/models: when they are
 * missing the OCR tests FAIL and say so, they are never skipped.
 *
 * Must never: depend on the working directory (paths come from
 * SHIMING_SOURCE, set by tests/meson.build), or fail on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vision/image.h"
#include "vision/ocr.h"
#include "vision/runtime.h"

static const char *source_dir(void)
{
    const char *s = getenv("SHIMING_SOURCE");
    return s && *s ? s : ".";
}

static unsigned char *load(const char *rel, size_t *len)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", source_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("fixture %s is missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static vx_img_status decode_file(const char *rel, const vx_image_limits *lim, vx_image *img)
{
    size_t len;
    unsigned char *d = load(rel, &len);
    vx_img_status st = vx_image_decode(d, len, lim, img);
    free(d);
    return st;
}

static const uint8_t *px(const vx_image *img, int x, int y)
{
    return img->px + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

static void assert_red(const uint8_t *p)
{
    assert_true(p[0] > 200 && p[1] < 60 && p[2] < 60);
}

static void assert_blue(const uint8_t *p)
{
    assert_true(p[0] < 60 && p[1] < 60 && p[2] > 200);
}

/* ------------------------------------------------------------- images */

static void test_png_text(void **state)
{
    (void)state;
    vx_image img;
    assert_int_equal(decode_file("tests/fixtures/ocr/lines.png", NULL, &img), VX_IMG_OK);
    assert_int_equal(img.width, 560);
    assert_int_equal(img.height, 200);
    assert_int_equal(px(&img, 0, 0)[0], 255);
    vx_image_free(&img);
    assert_null(img.px);
}

static void test_webp_bmp(void **state)
{
    (void)state;
    const char *files[] = {"tests/fixtures/ocr/small.webp", "tests/fixtures/ocr/small.bmp"};
    for (size_t i = 0; i < 2; i++) {
        vx_image img;
        assert_int_equal(decode_file(files[i], NULL, &img), VX_IMG_OK);
        assert_int_equal(img.width, 40);
        assert_int_equal(img.height, 24);
        assert_red(px(&img, 5, 12));
        assert_blue(px(&img, 35, 12));
        vx_image_free(&img);
    }
}

static void test_exif_orientation(void **state)
{
    (void)state;
    /* Stored 60 × 30, left red / right blue, orientation 6 (turn 90° clockwise
     * to show): shown 30 × 60, red on top. */
    vx_image img;
    assert_int_equal(decode_file("tests/fixtures/ocr/exif6.jpg", NULL, &img), VX_IMG_OK);
    assert_int_equal(img.width, 30);
    assert_int_equal(img.height, 60);
    assert_red(px(&img, 15, 10));
    assert_blue(px(&img, 15, 50));
    vx_image_free(&img);
}

static void test_alpha_flattened_on_white(void **state)
{
    (void)state;
    vx_image img;
    assert_int_equal(decode_file("tests/fixtures/ocr/alpha.png", NULL, &img), VX_IMG_OK);
    const uint8_t *p = px(&img, 5, 12);
    assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
    assert_blue(px(&img, 35, 12));
    vx_image_free(&img);
}

static void test_truncated_jpeg(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = load("tests/fixtures/ocr/tilted.jpg", &len);
    vx_image img;
    assert_int_equal(vx_image_decode(d, len, NULL, &img), VX_IMG_OK);
    vx_image_free(&img);
    assert_int_equal(vx_image_decode(d, len / 2, NULL, &img), VX_IMG_CORRUPT);
    assert_null(img.px);
    assert_int_equal(vx_image_decode(d, 200, NULL, &img), VX_IMG_CORRUPT);
    free(d);
    assert_string_equal(vx_img_status_code(VX_IMG_CORRUPT), "corrupt");
}

static void test_truncated_png(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = load("tests/fixtures/ocr/lines.png", &len);
    vx_image img;
    assert_int_equal(vx_image_decode(d, len - 200, NULL, &img), VX_IMG_CORRUPT);
    free(d);
}

static void test_not_an_image(void **state)
{
    (void)state;
    unsigned char junk[4096];
    srand(7);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(rand() >> 7);
    junk[0] = 'x';
    vx_image img;
    assert_int_equal(vx_image_decode(junk, sizeof junk, NULL, &img), VX_IMG_UNSUPPORTED);
    assert_int_equal(vx_image_decode("", 0, NULL, &img), VX_IMG_UNSUPPORTED);
    assert_int_equal(vx_image_decode(NULL, 0, NULL, &img), VX_IMG_UNSUPPORTED);
    /* The magic bytes of a JPEG, then noise: corrupt, not a crash. */
    junk[0] = 0xFF, junk[1] = 0xD8, junk[2] = 0xFF;
    assert_int_equal(vx_image_decode(junk, sizeof junk, NULL, &img), VX_IMG_CORRUPT);
    /* GIF and TIFF are readable by libvips but not accepted. */
    assert_int_equal(vx_image_decode("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, NULL, &img),
                     VX_IMG_UNSUPPORTED);
    assert_string_equal(vx_img_status_code(VX_IMG_UNSUPPORTED), "unsupported");
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_bomb_refused_from_header(void **state)
{
    (void)state;
    /* A PNG that claims 100000 × 100000 RGB (30 GB decoded): signature,
     * IHDR with a correct CRC, an IDAT holding one stored zlib byte, IEND. */
    unsigned char png[96] = "\x89PNG\r\n\x1a\n";
    size_t n = 8;
    put32(png + n, 13);
    memcpy(png + n + 4, "IHDR", 4);
    put32(png + n + 8, 100000);
    put32(png + n + 12, 100000);
    png[n + 16] = 8, png[n + 17] = 2, png[n + 18] = 0, png[n + 19] = 0, png[n + 20] = 0;
    put32(png + n + 21, crc32_png(png + n + 4, 17));
    n += 25;
    static const unsigned char z[12] = {0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00,
                                        0x00, 0x01, 0x00, 0x01};
    put32(png + n, sizeof z);
    memcpy(png + n + 4, "IDAT", 4);
    memcpy(png + n + 8, z, sizeof z);
    put32(png + n + 8 + sizeof z, crc32_png(png + n + 4, 4 + sizeof z));
    n += 12 + sizeof z;
    put32(png + n, 0);
    memcpy(png + n + 4, "IEND", 4);
    put32(png + n + 8, crc32_png(png + n + 4, 4));
    n += 12;
    vx_image img;
    double t0 = now_ms();
    assert_int_equal(vx_image_decode(png, n, NULL, &img), VX_IMG_TOO_LARGE);
    assert_true(now_ms() - t0 < 1000); /* refused before any decoding */
    assert_null(img.px);

    /* The same image within a tighter limit, and the byte limit. */
    vx_image_limits lim = {.max_pixels = 500};
    assert_int_equal(decode_file("tests/fixtures/ocr/small.webp", &lim, &img), VX_IMG_TOO_LARGE);
    lim = (vx_image_limits){.max_bytes = 1000};
    assert_int_equal(decode_file("tests/fixtures/ocr/lines.png", &lim, &img), VX_IMG_TOO_LARGE);
    lim = (vx_image_limits){.min_side = 30};
    assert_int_equal(decode_file("tests/fixtures/ocr/small.webp", &lim, &img), VX_IMG_TOO_SMALL);
    assert_string_equal(vx_img_status_code(VX_IMG_TOO_LARGE), "too_large");
}

/* ---------------------------------------------------------------- OCR */

static vx_runtime *rt;
static vx_ocr *ocr;
static char models[2048];

static int ocr_setup(void **state)
{
    (void)state;
    char err[512];
    const char *env = getenv("SHIMING_MODELS");
    snprintf(models, sizeof models, "%s", env && *env ? env : "");
    if (!models[0])
        snprintf(models, sizeof models, "%s/deps/models", source_dir());
    vx_runtime_options ro = {.intra_threads = 0};
    rt = vx_runtime_open(&ro, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "ONNX Runtime did not start: %s\n", err);
        return -1;
    }
    char det[2200], rec[2200], cls[2200], keys[2200];
    snprintf(det, sizeof det, "%s/ch_PP-OCRv4_det_infer.onnx", models);
    snprintf(rec, sizeof rec, "%s/ch_PP-OCRv4_rec_infer.onnx", models);
    snprintf(cls, sizeof cls, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", models);
    snprintf(keys, sizeof keys, "%s/ppocr_keys_v1.txt", models);
    vx_ocr_models m = {det, rec, cls, keys};
    ocr = vx_ocr_open(rt, &m, err, sizeof err);
    if (!ocr) {
        fprintf(stderr, "the OCR models are missing or broken (%s): %s\n"
                        "scripts/setup installs them into deps/models.\n", models, err);
        vx_runtime_close(rt);
        rt = NULL;
        return -1;
    }
    return 0;
}

static int ocr_teardown(void **state)
{
    (void)state;
    vx_ocr_close(ocr);
    vx_runtime_close(rt);
    ocr = NULL;
    rt = NULL;
    return 0;
}

static const char *const TEXT[] = {"实名核验测试样张", "北京市朝阳区建国路八十八号", "11010519491231002X"};

static void read_file_lines(const char *rel, vx_ocr_result *r)
{
    vx_image img;
    assert_int_equal(decode_file(rel, NULL, &img), VX_IMG_OK);
    char err[512] = "";
    bool ok = vx_ocr_read(ocr, &img, r, err, sizeof err);
    vx_image_free(&img);
    if (!ok)
        fail_msg("vx_ocr_read(%s): %s", rel, err);
}

static void test_ocr_lines(void **state)
{
    (void)state;
    vx_ocr_result r;
    read_file_lines("tests/fixtures/ocr/lines.png", &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.lines[i].text, TEXT[i]);
        assert_true(r.lines[i].confidence > 0.9f && r.lines[i].confidence <= 1.0f);
        assert_false(r.lines[i].rotated);
        /* tl tr br bl around the text drawn at x = 30, y = 20 + 58 i */
        assert_true(r.lines[i].quad[0].x < r.lines[i].quad[1].x);
        assert_true(r.lines[i].quad[0].y < r.lines[i].quad[3].y);
        assert_true(r.lines[i].quad[0].x >= 20 && r.lines[i].quad[0].x <= 40);
        float mid = (r.lines[i].quad[0].y + r.lines[i].quad[3].y) / 2;
        assert_true(mid > 20 + 58 * (float)i && mid < 20 + 58 * (float)i + 45);
    }
    vx_ocr_result_free(&r);
    assert_int_equal(r.n, 0);
}

static void test_ocr_upside_down(void **state)
{
    (void)state;
    /* The whole picture turned 180°: every line is turned back by the
     * classifier; reading order is the image's (top to bottom). */
    vx_ocr_result r;
    read_file_lines("tests/fixtures/ocr/upside.png", &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.lines[i].text, TEXT[2 - i]);
        assert_true(r.lines[i].rotated);
        /* as read: the top-left corner is at the image's bottom right */
        assert_true(r.lines[i].quad[0].x > r.lines[i].quad[1].x);
        assert_true(r.lines[i].quad[0].y > r.lines[i].quad[3].y);
    }
    vx_ocr_result_free(&r);
}

static void test_ocr_tilted_jpeg(void **state)
{
    (void)state;
    vx_ocr_result r;
    read_file_lines("tests/fixtures/ocr/tilted.jpg", &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.lines[i].text, TEXT[i]);
        /* turned 7° counter-clockwise: the right end is higher */
        assert_true(r.lines[i].quad[1].y < r.lines[i].quad[0].y - 10);
    }
    vx_ocr_result_free(&r);
}

static void test_ocr_card_layout(void **state)
{
    (void)state;
    /* Twelve lines of an ID card's front layout, labels and values, two
     * on one row (民族 汉: read as one line, with or without the gap). */
    static const char *const want[] = {"姓名", "测试样", "性别", "女", "民族汉", "出生",
                                       "1949年12月31日", "住址", "北京市朝阳区建国路八十八号",
                                       "院内三号楼二单元", "公民身份号码", "11010519491231002X"};
    vx_ocr_result r;
    read_file_lines("tests/fixtures/ocr/card.jpg", &r);
    assert_int_equal(r.n, 12);
    for (size_t i = 0; i < 12; i++) {
        char got[256];
        size_t k = 0;
        for (const char *p = r.lines[i].text; *p && k + 1 < sizeof got; p++)
            if (*p != ' ')
                got[k++] = *p;
        got[k] = '\0';
        assert_string_equal(got, want[i]);
        assert_true(r.lines[i].confidence > 0.9f);
    }
    vx_ocr_result_free(&r);
}

static void test_ocr_blank_and_tiny(void **state)
{
    (void)state;
    vx_image img = {.width = 300, .height = 100};
    img.px = malloc(300 * 100 * 3);
    assert_non_null(img.px);
    memset(img.px, 255, 300 * 100 * 3);
    vx_ocr_result r;
    char err[256];
    assert_true(vx_ocr_read(ocr, &img, &r, err, sizeof err));
    assert_int_equal(r.n, 0);
    vx_ocr_result_free(&r);
    img.width = 3;
    img.height = 2; /* smaller than one detector cell */
    assert_true(vx_ocr_read(ocr, &img, &r, err, sizeof err));
    assert_int_equal(r.n, 0);
    vx_image_free(&img);
    vx_image none = {0};
    assert_false(vx_ocr_read(ocr, &none, &r, err, sizeof err));
    assert_string_equal(err, "no image");
}

typedef struct {
    const char *file;
    int ok;
} thread_arg;

static void *reader(void *a)
{
    thread_arg *t = a;
    size_t len;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", source_dir(), t->file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char buf[65536];
    len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (int k = 0; k < 3; k++) {
        vx_image img;
        if (vx_image_decode(buf, len, NULL, &img) != VX_IMG_OK)
            return NULL;
        vx_ocr_result r;
        char err[256];
        bool ok = vx_ocr_read(ocr, &img, &r, err, sizeof err);
        vx_image_free(&img);
        if (ok && r.n == 3 && !strcmp(r.lines[2].text, TEXT[2]))
            t->ok++;
        vx_ocr_result_free(&r);
    }
    return NULL;
}

static void test_ocr_threads(void **state)
{
    (void)state;
    thread_arg a[3] = {{"tests/fixtures/ocr/lines.png", 0},
                       {"tests/fixtures/ocr/tilted.jpg", 0},
                       {"tests/fixtures/ocr/lines.png", 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &a[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].ok, 3);
}

static void test_runtime_errors(void **state)
{
    (void)state;
    char err[512];
    assert_null(vx_session_load(rt, "/nonexistent/model.onnx", err, sizeof err));
    assert_non_null(strstr(err, "scripts/setup"));
    /* Not an ONNX file: ONNX Runtime's own message comes through. */
    char path[2200];
    snprintf(path, sizeof path, "%s/ppocr_keys_v1.txt", models);
    assert_null(vx_session_load(rt, path, err, sizeof err));
    assert_non_null(strstr(err, "ppocr_keys_v1.txt"));

    snprintf(path, sizeof path, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", models);
    vx_session *s = vx_session_load(rt, path, err, sizeof err);
    assert_non_null(s);
    /* Wrong rank: an error with a message, no crash. */
    float data[12] = {0};
    vx_tensor in = {data, {1, 12}, 2}, out;
    assert_false(vx_run(s, &in, &out, err, sizeof err));
    assert_true(strlen(err) > 10);
    assert_null(out.data);
    /* The right shape: [1, 2] probabilities. */
    float *img = calloc(3 * 48 * 192, sizeof *img);
    assert_non_null(img);
    vx_tensor ok_in = {img, {1, 3, 48, 192}, 4};
    assert_true(vx_run(s, &ok_in, &out, err, sizeof err));
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[1], 2);
    assert_int_equal(vx_tensor_count(&out), 2);
    assert_true(out.data[0] + out.data[1] > 0.99f && out.data[0] + out.data[1] < 1.01f);
    vx_tensor_free(&out);
    free(img);
    vx_session_close(s);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Not a test of speed: prints the figures for docs/vision.md. */
static void test_ocr_timing(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = load("tests/fixtures/ocr/card.jpg", &len);
    enum { N = 15 };
    double t[N];
    for (int i = 0; i < N; i++) {
        double t0 = now_ms();
        vx_image img;
        assert_int_equal(vx_image_decode(d, len, NULL, &img), VX_IMG_OK);
        vx_ocr_result r;
        char err[256];
        assert_true(vx_ocr_read(ocr, &img, &r, err, sizeof err));
        vx_image_free(&img);
        vx_ocr_result_free(&r);
        t[i] = now_ms() - t0;
    }
    free(d);
    qsort(t, N, sizeof *t, cmp_d);
    printf("# card.jpg (856 x 540, 12 lines): decode + OCR median %.1f ms, p95 %.1f ms over %d runs\n",
           t[N / 2], t[(int)((N - 1) * 0.95 + 0.5)], N);
}

int main(void)
{
    const struct CMUnitTest images[] = {
        cmocka_unit_test(test_png_text),
        cmocka_unit_test(test_webp_bmp),
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_alpha_flattened_on_white),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_not_an_image),
        cmocka_unit_test(test_bomb_refused_from_header),
    };
    const struct CMUnitTest engine[] = {
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_ocr_lines),
        cmocka_unit_test(test_ocr_upside_down),
        cmocka_unit_test(test_ocr_tilted_jpeg),
        cmocka_unit_test(test_ocr_card_layout),
        cmocka_unit_test(test_ocr_blank_and_tiny),
        cmocka_unit_test(test_ocr_threads),
        cmocka_unit_test(test_ocr_timing),
    };
    char err[256];
    if (!vx_image_init(err, sizeof err)) {
        fprintf(stderr, "libvips: %s\n", err);
        return 1;
    }
    int failed = cmocka_run_group_tests_name("images", images, NULL, NULL);
    failed += cmocka_run_group_tests_name("ocr", engine, ocr_setup, ocr_teardown);
    return failed ? 1 : 0;
}
