/*
 * test_pyi_ocr.c — unit tests for dialect E's pure pieces
 * (src/dialects/pyi_ocr.c) and the OCR call's input helpers
 * (src/api/ocr.c): the sign with known-answer vectors (computed
 * independently with Python's hashlib: md5("appid10001formatjsontime
 * 1545829466demo-secret") = 2d210c0b99141a181f051009ebf9171e, …), empty
 * values and sign itself skipped, byte order of names whatever the order
 * given; the code table; the answers in JSON and XML; base64 (standard,
 * URL-safe, unpadded, wrapped, data: URLs, garbage) and the URL test.
 *
 * Must never: be "fixed" by changing an expected byte without the seed
 * or an independent computation saying so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ocr.h"
#include "dialects/pyi_ocr.h"

static void form_of(form *f, const char *urlencoded)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(form_parse_urlencoded(f, urlencoded, strlen(urlencoded)), FORM_OK);
}

static void test_sign_vectors(void **state)
{
    (void)state;
    form f;
    char out[33];
    /* the seed's PHP example with the demo appid and secret: id_card_side
     * and url_image empty, so skipped */
    form_of(&f, "url_image=&time=1545829466&id_card_side=&format=json&appid=10001");
    assert_true(pyi_sign(&f, "demo-secret", 11, out));
    assert_string_equal(out, "2d210c0b99141a181f051009ebf9171e");
    form_clear(&f);
    /* sign itself is not signed; values are signed decoded */
    form_of(&f, "sign=whatever&appid=10001&format=xml&time=1700000000&id_card_side=back"
                "&url_image=https%3A%2F%2Fexample.com%2Fa.jpg%3Fx%3D1%26y%3D2");
    assert_true(pyi_sign(&f, "demo-secret", 11, out));
    assert_string_equal(out, "37f39b32765cbf2dd79a9693d1ac3ea9");
    form_clear(&f);
    /* the seed's own concatenation "appid1formatjsontime1545829466" + an
     * empty secret */
    form_of(&f, "time=1545829466&appid=1&format=json");
    assert_true(pyi_sign(&f, "", 0, out));
    assert_string_equal(out, "e978b4768d13c870e19774beb97d8ef5");
    form_clear(&f);
}

static void test_code_table(void **state)
{
    (void)state;
    static const int listed[] = {10000, 10001, 10002, 10003, 10004, 10005, 10006, 10007,
                                 10008, 10009, 10010, 10011, 10012, 10013, 10014, 10015,
                                 10017, 10018, 10019, 10020, 10021, 10022};
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
        assert_non_null(pyi_code_message(listed[i]));
    assert_null(pyi_code_message(10016)); /* the seed lists none */
    assert_null(pyi_code_message(9999));
    assert_string_equal(pyi_code_message(10000), "返回成功");
    assert_string_equal(pyi_code_message(10004),
                        "时差不能超过10分钟,可以不传递这个参数,注意时间戳单位是秒");
    assert_string_equal(pyi_code_message(10022), "帐户余额不足,请充值!");
}

static void test_render(void **state)
{
    (void)state;
    pyi_answer a;
    memset(&a, 0, sizeof a);
    a.codeid = 10000;
    a.message = "识别成功";
    a.time = 1614930150;
    a.has_retdata = true;
    a.values[0] = "李义";
    a.values[1] = "女";
    a.values[2] = "汉";
    a.values[3] = "19940406";
    a.values[4] = "江西省抚州市广昌县";
    a.values[5] = "362532199404064129";
    a.idcard_number_type = 1;
    a.image_status = "normal";
    size_t len = 0;
    char *j = pyi_render_json(&a, &len);
    assert_non_null(j);
    assert_string_equal(j, "{\"codeid\":10000,\"message\":\"识别成功\",\"time\":\"1614930150\","
                           "\"retdata\":{\"姓名\":\"李义\",\"性别\":\"女\",\"民族\":\"汉\","
                           "\"出生\":\"19940406\",\"住址\":\"江西省抚州市广昌县\","
                           "\"公民身份号码\":\"362532199404064129\"},"
                           "\"idcard_number_type\":1,\"image_status\":\"normal\"}");
    assert_int_equal(len, strlen(j));
    free(j);
    a.back = true;
    a.values[0] = "广昌县公安局";
    a.values[1] = "20170313";
    a.values[2] = "20370313";
    a.idcard_number_type = -1;
    a.image_status = "reversed_side";
    char *x = pyi_render_xml(&a, &len);
    assert_non_null(x);
    assert_string_equal(x, "<?xml version=\"1.0\" encoding=\"utf-8\"?><root><codeid>10000</codeid>"
                           "<message>识别成功</message><time>1614930150</time><retdata>"
                           "<签发机关>广昌县公安局</签发机关><签发日期>20170313</签发日期>"
                           "<失效日期>20370313</失效日期></retdata>"
                           "<idcard_number_type>-1</idcard_number_type>"
                           "<image_status>reversed_side</image_status></root>");
    free(x);
    /* an error: retdata empty, no statuses; XML escapes */
    memset(&a, 0, sizeof a);
    a.codeid = 10019;
    a.message = "a<b&c";
    a.time = 1;
    j = pyi_render_json(&a, &len);
    assert_string_equal(j, "{\"codeid\":10019,\"message\":\"a<b&c\",\"time\":\"1\",\"retdata\":[]}");
    free(j);
    x = pyi_render_xml(&a, &len);
    assert_string_equal(x, "<?xml version=\"1.0\" encoding=\"utf-8\"?><root><codeid>10019</codeid>"
                           "<message>a&lt;b&amp;c</message><time>1</time><retdata/></root>");
    free(x);
}

static void expect_b64(const char *in, const char *want, size_t want_len)
{
    unsigned char *out = NULL;
    size_t n = 0;
    bool nomem = false;
    if (!ocr_base64_decode(in, strlen(in), &out, &n, &nomem))
        fail_msg("'%s' was refused", in);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

static void expect_b64_bad(const char *in)
{
    unsigned char *out = (unsigned char *)1;
    size_t n = 7;
    bool nomem = true;
    if (ocr_base64_decode(in, strlen(in), &out, &n, &nomem))
        fail_msg("'%s' was accepted", in);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_false(nomem);
}

static void test_base64(void **state)
{
    (void)state;
    expect_b64("aGVsbG8=", "hello", 5);
    expect_b64("aGVsbG8", "hello", 5);            /* unpadded */
    expect_b64("aGVsbA==", "hell", 4);
    expect_b64("aGVsbA", "hell", 4);
    expect_b64("aGVs", "hel", 3);
    expect_b64("aGVs\r\nbG8=\n", "hello", 5);     /* wrapped */
    expect_b64("+/+/", "\xfb\xff\xbf", 3);
    expect_b64("-_-_", "\xfb\xff\xbf", 3);        /* URL-safe */
    expect_b64("data:image/png;base64,aGVsbG8=", "hello", 5);
    expect_b64_bad("");
    expect_b64_bad("   ");
    expect_b64_bad("a");                          /* 1 mod 4 */
    expect_b64_bad("aGVsbG8=x");                  /* data after padding */
    expect_b64_bad("aGVs*G8=");
    expect_b64_bad("aGVsbG8===");
    expect_b64_bad("aGVsbA=");                    /* padding that does not complete */
    expect_b64_bad("data:image/png,aGVsbG8=");    /* a data: URL not in base64 */
    expect_b64_bad("http://example.com/a.jpg");
}

static void test_looks_like_url(void **state)
{
    (void)state;
    const char *yes[] = {"http://a", "https://example.com/x.jpg", "HTTP://A", "ftp://x/y",
                         "file:///etc/passwd"};
    const char *no[] = {"", "aGVsbG8=", "/9j/4AAQSkZJRg", "http:/x", "://x", "1http://x",
                        "data:image/png;base64,aGVs"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(ocr_looks_like_url(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(ocr_looks_like_url(no[i], strlen(no[i])));
}

static void test_outcome_codes(void **state)
{
    (void)state;
    assert_string_equal(ocr_outcome_code(OCR_DISABLED), "ocr_disabled");
    assert_int_equal(ocr_outcome_status(OCR_DISABLED), 503);
    assert_non_null(strstr(ocr_outcome_message(OCR_DISABLED), "ocr disabled"));
    assert_string_equal(ocr_outcome_code(OCR_IMAGE_TOO_LARGE), "image_too_large");
    assert_int_equal(ocr_outcome_status(OCR_IMAGE_TOO_LARGE), 413);
    assert_string_equal(ocr_outcome_code(OCR_FETCH_FORBIDDEN), "fetch_forbidden");
    assert_string_equal(ocr_outcome_code(OCR_FETCH_FAILED), "fetch_failed");
    assert_string_equal(ocr_outcome_code(OCR_UNSUPPORTED_IMAGE), "unsupported_image");
    assert_string_equal(ocr_outcome_code(OCR_CORRUPT_IMAGE), "corrupt_image");
    assert_string_equal(ocr_outcome_code((ocr_outcome)99), "internal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vectors),   cmocka_unit_test(test_code_table),
        cmocka_unit_test(test_render),         cmocka_unit_test(test_base64),
        cmocka_unit_test(test_looks_like_url), cmocka_unit_test(test_outcome_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
