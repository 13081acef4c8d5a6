/*
 * test_mask.c — unit tests for sm_mask_id and sm_mask_name: what appears in
 * logs and audit rows. Checks the documented shapes, that nothing but the
 * permitted characters of the input is ever echoed, and that truncation
 * never overruns the buffer or splits a character. Must never depend on the
 * locale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shiming/shiming.h"

#define ZHANG "\xe5\xbc\xa0" /* 张 */
#define SAN "\xe4\xb8\x89"   /* 三 */
#define OU "\xe6\xac\xa7"    /* 欧 */
#define YANG "\xe9\x98\xb3"  /* 阳 */
#define NA "\xe5\xa8\x9c"    /* 娜 */
#define A_ "\xe9\x98\xbf"    /* 阿 */
#define BU "\xe5\x8d\x9c"    /* 卜 */
#define DU "\xe6\x9d\x9c"    /* 杜 */
#define RE "\xe7\x83\xad"    /* 热 */
#define HE "\xe5\x90\x88"    /* 合 */
#define MAN "\xe6\x9b\xbc"   /* 曼 */
#define MIDDOT "\xc2\xb7"
#define EXT_B "\xf0\xa0\x80\x80"

static void assert_id_mask(const char *in, const char *want)
{
    char out[64];
    size_t n = sm_mask_id(in, strlen(in), out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void assert_name_mask(const char *in, const char *want)
{
    char out[128];
    size_t n = sm_mask_name(in, strlen(in), out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

/* ---------------------------------------------------------------- IDs */

static void test_id_18(void **state)
{
    (void)state;
    assert_id_mask("11010519491231002X", "110***********002X");
    assert_id_mask("11010519491231002x", "110***********002X");
    assert_id_mask("440308199001011234", "440***********1234");
}

static void test_id_15(void **state)
{
    (void)state;
    assert_id_mask("110105491231002", "110********1002");
}

static void test_id_trimmed(void **state)
{
    (void)state;
    assert_id_mask("  11010519491231002X ", "110***********002X");
    assert_id_mask("   ", "");
    assert_id_mask("", "");
}

static void test_id_short_all_masked(void **state)
{
    (void)state;
    assert_id_mask("1234567", "*******");
    assert_id_mask("1", "*");
    /* Short of an ID number's length, 7 kept characters would give away
     * most of whatever was typed: nothing is kept below 15. */
    assert_id_mask("12345678", "********");
    assert_id_mask("11010519491231", "**************");
    assert_id_mask("110105491231002", "110********1002");
}

static void test_id_never_echoes_other_bytes(void **state)
{
    (void)state;
    /* Letters, controls and UTF-8 in the kept places become '*'. */
    assert_id_mask("ABCDEFGHIJKLMNOPQR", "******************");
    assert_id_mask("\x1b[31m0519491231002\n", "**3************002*");
    assert_id_mask("1\r0519491231002\"}", "1*0**********02**");
    assert_id_mask(ZHANG SAN "519491231002X", "***************002X");
    char out[64];
    const char nul[] = "110\0" "05194912310023";
    sm_mask_id(nul, sizeof nul - 1, out, sizeof out);
    assert_string_equal(out, "110***********0023");
    for (const char *p = out; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || *p == 'X' || *p == '*');
}

static void test_id_truncation(void **state)
{
    (void)state;
    char out[32];
    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_id("11010519491231002X", 18, out, 10), 9);
    assert_string_equal(out, "110******");
    assert_int_equal(out[10], '#'); /* nothing past cap */

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_id("11010519491231002X", 18, out, 1), 0);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], '#');

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_id("11010519491231002X", 18, out, 0), 0);
    assert_int_equal(out[0], '#'); /* cap 0: untouched */

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_id("11010519491231002X", 18, out, 19), 18);
    assert_string_equal(out, "110***********002X");
    assert_int_equal(out[19], '#');

    assert_int_equal(sm_mask_id(NULL, 5, out, sizeof out), 0);
    assert_string_equal(out, "");
}

/* -------------------------------------------------------------- names */

static void test_name_han(void **state)
{
    (void)state;
    assert_name_mask(ZHANG SAN, ZHANG "*");
    assert_name_mask(OU YANG NA NA, OU "***");
    assert_name_mask(A_ BU DU MIDDOT RE HE MAN, A_ "**" MIDDOT "***");
    assert_name_mask(ZHANG, ZHANG);
    assert_name_mask(EXT_B SAN, EXT_B "*");
    assert_name_mask(ZHANG EXT_B EXT_B, ZHANG "**");
}

static void test_name_latin(void **state)
{
    (void)state;
    assert_name_mask("ZHAO SAN", "Z*** ***");
    assert_name_mask("ZHANG SAN", "Z**** ***");
    assert_name_mask("SMITH, JOHN", "S****, ****");
    assert_name_mask("smith", "s****");
}

static void test_name_trimmed(void **state)
{
    (void)state;
    assert_name_mask("  " ZHANG SAN " ", ZHANG "*");
    assert_name_mask("\xe3\x80\x80" ZHANG SAN "\xe3\x80\x80", ZHANG "*");
    assert_name_mask("", "");
    assert_name_mask("   ", "");
}

static void test_name_never_echoes(void **state)
{
    (void)state;
    /* Invalid bytes, one '*' each. */
    assert_name_mask(ZHANG "\xff\xfe", ZHANG "**");
    assert_name_mask(ZHANG "\xed\xa0\x80", ZHANG "***"); /* lone surrogate */
    assert_name_mask(ZHANG "\xe5\xbc", ZHANG "**");       /* truncated */
    /* A first character that is not a letter is masked too. */
    assert_name_mask("\xff" ZHANG, "**");
    assert_name_mask("\n" ZHANG SAN, "***");
    assert_name_mask("\xe2\x80\xae" ZHANG SAN, "***"); /* RLO */
    assert_name_mask("1" ZHANG, "**");
    assert_name_mask("\xf0\x9f\x98\x80" ZHANG, "**"); /* emoji */
    assert_name_mask("<script>", "********");
    /* Only U+00B7 is kept as a dot; look-alikes are masked. */
    assert_name_mask(A_ "\xe2\x80\xa2" RE, A_ "**");
    assert_name_mask(A_ "." RE, A_ "**");
    /* Interior controls. */
    assert_name_mask("JOHN\r\nSMITH", "J**********");
}

static void test_name_truncation(void **state)
{
    (void)state;
    char out[32];
    const char *in = A_ MIDDOT RE; /* -> 阿·* : 3 + 2 + 1 bytes */

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(in, strlen(in), out, 7), 6);
    assert_string_equal(out, A_ MIDDOT "*");

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(in, strlen(in), out, 6), 5);
    assert_string_equal(out, A_ MIDDOT);
    assert_int_equal(out[6], '#');

    /* The dot does not fit whole: stop before it, do not split it. */
    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(in, strlen(in), out, 5), 3);
    assert_string_equal(out, A_);
    assert_int_equal(out[5], '#');

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(in, strlen(in), out, 3), 0);
    assert_string_equal(out, "");
    assert_int_equal(out[3], '#');

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(in, strlen(in), out, 0), 0);
    assert_int_equal(out[0], '#');

    memset(out, '#', sizeof out);
    assert_int_equal(sm_mask_name(EXT_B SAN, 7, out, 5), 4);
    assert_string_equal(out, EXT_B);
}

static void test_name_mask_of_long_name(void **state)
{
    (void)state;
    char in[600], out[SM_NAME_BUF];
    memset(in, 'A', 500);
    in[500] = '\0';
    size_t n = sm_mask_name(in, 500, out, sizeof out);
    assert_int_equal(n, SM_NAME_BUF - 1);
    assert_int_equal(out[0], 'A');
    for (size_t i = 1; i < n; i++)
        assert_int_equal(out[i], '*');
    assert_int_equal(out[n], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_18),
        cmocka_unit_test(test_id_15),
        cmocka_unit_test(test_id_trimmed),
        cmocka_unit_test(test_id_short_all_masked),
        cmocka_unit_test(test_id_never_echoes_other_bytes),
        cmocka_unit_test(test_id_truncation),
        cmocka_unit_test(test_name_han),
        cmocka_unit_test(test_name_latin),
        cmocka_unit_test(test_name_trimmed),
        cmocka_unit_test(test_name_never_echoes),
        cmocka_unit_test(test_name_truncation),
        cmocka_unit_test(test_name_mask_of_long_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
