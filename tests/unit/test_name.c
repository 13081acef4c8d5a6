/*
 * test_name.c — unit tests for sm_name_normalise and its status/kind names:
 * what a user sees when a name is accepted (its normal form) or refused (the
 * reason code). Must never depend on the locale or on other modules' state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shiming/shiming.h"

/* Code points used below, spelled out so that an editor cannot normalise
 * them away. */
#define ZHANG "\xe5\xbc\xa0"      /* 张 */
#define SAN "\xe4\xb8\x89"        /* 三 */
#define A_ "\xe9\x98\xbf"         /* 阿 */
#define BU "\xe5\x8d\x9c"         /* 卜 */
#define DU "\xe6\x9d\x9c"         /* 杜 */
#define RE "\xe7\x83\xad"         /* 热 */
#define HE "\xe5\x90\x88"         /* 合 */
#define MAN "\xe6\x9b\xbc"        /* 曼 */
#define WANG "\xe7\x8e\x8b"       /* 王 */
#define MIDDOT "\xc2\xb7"         /* · U+00B7 */
#define IDSP "\xe3\x80\x80"       /* U+3000 ideographic space */
#define LING "\xe3\x80\x87"       /* 〇 U+3007 */
#define EXT_A "\xe3\x90\x80"      /* 㐀 U+3400 */
#define EXT_B "\xf0\xa0\x80\x80"  /* 𠀀 U+20000 */
#define EXT_B2 "\xf0\xa4\xad\xa2" /* 𤭢 U+24B62 */
#define EXT_G "\xf0\xb0\x80\x80"  /* U+30000 */
#define EXT_H "\xf0\xb1\x8d\x90"  /* U+31350 */
#define EXT_I "\xf0\xae\xaf\xb0"  /* U+2EBF0 */

static void assert_ok(const char *in, const char *want, sm_name_kind kind,
                      size_t chars)
{
    sm_name n;
    memset(&n, 0x5a, sizeof n);
    sm_name_status st = sm_name_normalise(in, strlen(in), &n);
    if (st != SM_NAME_OK)
        fail_msg("\"%s\": expected OK, got %s", in, sm_name_status_code(st));
    assert_string_equal(n.text, want);
    assert_int_equal(n.len, strlen(want));
    assert_int_equal(n.chars, chars);
    assert_int_equal(n.kind, kind);

    /* The normal form is a fixed point. */
    sm_name again;
    assert_int_equal(sm_name_normalise(n.text, n.len, &again), SM_NAME_OK);
    assert_string_equal(again.text, n.text);
    assert_int_equal(again.chars, n.chars);
    assert_int_equal(again.kind, n.kind);
}

static void assert_status_len(const char *in, size_t len, sm_name_status want)
{
    sm_name n;
    sm_name_status st = sm_name_normalise(in, len, &n);
    if (st != want)
        fail_msg("expected %s, got %s", sm_name_status_code(want),
                 st == SM_NAME_OK ? "ok" : sm_name_status_code(st));
}

static void assert_status(const char *in, sm_name_status want)
{
    assert_status_len(in, strlen(in), want);
}

/* ---------------------------------------------------------------- Han */

static void test_han_plain(void **state)
{
    (void)state;
    assert_ok(ZHANG SAN, ZHANG SAN, SM_NAME_KIND_HAN, 2);
    assert_ok(A_ BU DU MIDDOT RE HE MAN, A_ BU DU MIDDOT RE HE MAN,
              SM_NAME_KIND_HAN, 7);
}

static void test_han_trim(void **state)
{
    (void)state;
    assert_ok("  " ZHANG SAN "   ", ZHANG SAN, SM_NAME_KIND_HAN, 2);
    assert_ok(IDSP ZHANG SAN IDSP, ZHANG SAN, SM_NAME_KIND_HAN, 2);
    assert_ok(" " IDSP " " ZHANG SAN IDSP " ", ZHANG SAN, SM_NAME_KIND_HAN, 2);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char buf[] = ZHANG SAN WANG;
    sm_name n;
    assert_int_equal(sm_name_normalise(buf, 6, &n), SM_NAME_OK);
    assert_string_equal(n.text, ZHANG SAN);
    /* Cutting a character in half is an encoding error, not a silent drop. */
    assert_status_len(buf, 7, SM_NAME_ERR_ENCODING);
}

static void test_dot_variants(void **state)
{
    (void)state;
    static const char *const dots[] = {
        "\xc2\xb7",     /* U+00B7 itself */
        ".",            /* ASCII full stop */
        "\xe2\x80\xa2", /* U+2022 • */
        "\xe3\x83\xbb", /* U+30FB ・ */
        "\xef\xbc\x8e", /* U+FF0E ． */
        "\xe2\x80\xa7", /* U+2027 ‧ */
        "\xef\xbd\xa5", /* U+FF65 ･ */
        "\xce\x87",     /* U+0387 */
        "\xe2\x88\x99", /* U+2219 ∙ */
        "\xe2\x8b\x85", /* U+22C5 ⋅ */
        "\xe1\x9b\xab", /* U+16EB */
        "\xe2\xb8\xb1", /* U+2E31 */
        "\xe2\xb8\xb3", /* U+2E33 */
        "\xea\x9e\x8f", /* U+A78F */
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        char in[64];
        snprintf(in, sizeof in, "%s%s%s%s%s%s%s", A_, BU, DU, dots[i], RE, HE, MAN);
        assert_ok(in, A_ BU DU MIDDOT RE HE MAN, SM_NAME_KIND_HAN, 7);
    }
    /* Several dots in one name, of different kinds. */
    assert_ok(A_ "." BU "\xe2\x80\xa2" DU, A_ MIDDOT BU MIDDOT DU,
              SM_NAME_KIND_HAN, 5);
}

static void test_dot_placement(void **state)
{
    (void)state;
    assert_status(MIDDOT ZHANG SAN, SM_NAME_ERR_DOT);
    assert_status(ZHANG SAN MIDDOT, SM_NAME_ERR_DOT);
    assert_status(ZHANG MIDDOT MIDDOT SAN, SM_NAME_ERR_DOT);
    assert_status(ZHANG MIDDOT "." SAN, SM_NAME_ERR_DOT);
    assert_status("." ZHANG SAN, SM_NAME_ERR_DOT);
    assert_status(ZHANG SAN ".", SM_NAME_ERR_DOT);
    /* Trimming happens before the dot rule: a space does not shield it. */
    assert_status(" " MIDDOT ZHANG SAN, SM_NAME_ERR_DOT);
    /* A dot must stand between Han characters, not spaces. */
    assert_status(ZHANG " " MIDDOT SAN, SM_NAME_ERR_CHARACTERS);
    /* Dots alone are no name at all. */
    assert_status(MIDDOT, SM_NAME_ERR_CHARACTERS);
    assert_status("..", SM_NAME_ERR_CHARACTERS);
}

static void test_han_extensions(void **state)
{
    (void)state;
    assert_ok(WANG EXT_B, WANG EXT_B, SM_NAME_KIND_HAN, 2);
    assert_ok(EXT_B2 SAN, EXT_B2 SAN, SM_NAME_KIND_HAN, 2);
    assert_ok(WANG EXT_G, WANG EXT_G, SM_NAME_KIND_HAN, 2);
    assert_ok(WANG EXT_H, WANG EXT_H, SM_NAME_KIND_HAN, 2);
    assert_ok(WANG EXT_I, WANG EXT_I, SM_NAME_KIND_HAN, 2);
    assert_ok(EXT_A SAN, EXT_A SAN, SM_NAME_KIND_HAN, 2);
    assert_ok(WANG LING, WANG LING, SM_NAME_KIND_HAN, 2);
    /* Ext-C, D, E, F starts. */
    assert_ok(WANG "\xf0\xaa\x9c\x80" "\xf0\xab\x9d\x80" "\xf0\xab\xa0\xa0"
                   "\xf0\xac\xba\xb0",
              WANG "\xf0\xaa\x9c\x80" "\xf0\xab\x9d\x80" "\xf0\xab\xa0\xa0"
                   "\xf0\xac\xba\xb0",
              SM_NAME_KIND_HAN, 5);
    /* Last of the URO. */
    assert_ok(WANG "\xe9\xbf\xbf", WANG "\xe9\xbf\xbf", SM_NAME_KIND_HAN, 2);
    /* U+FA0E is a unified ideograph in the compatibility block: accepted.
     * U+F900 is a compatibility duplicate of 豈: refused. */
    assert_ok(WANG "\xef\xa8\x8e", WANG "\xef\xa8\x8e", SM_NAME_KIND_HAN, 2);
    assert_status(WANG "\xef\xa4\x80", SM_NAME_ERR_CHARACTERS);
    /* Kangxi radical 一 (U+2F00) looks like 一 but is not one. */
    assert_status(WANG "\xe2\xbc\x80", SM_NAME_ERR_CHARACTERS);
}

static void test_too_short(void **state)
{
    (void)state;
    assert_status(ZHANG, SM_NAME_ERR_TOO_SHORT);
    assert_status("  " ZHANG IDSP, SM_NAME_ERR_TOO_SHORT);
    assert_status(EXT_B, SM_NAME_ERR_TOO_SHORT);
}

static void test_han_length_limit(void **state)
{
    (void)state;
    char in[256] = "";
    for (int i = 0; i < 15; i++)
        strcat(in, WANG);
    assert_ok(in, in, SM_NAME_KIND_HAN, 15);
    strcat(in, WANG);
    assert_status(in, SM_NAME_ERR_TOO_LONG);

    /* The dot counts: 14 characters + 1 dot fit, 15 + 1 do not. */
    strcpy(in, A_ MIDDOT);
    for (int i = 0; i < 13; i++)
        strcat(in, WANG);
    assert_ok(in, in, SM_NAME_KIND_HAN, 15);
    strcat(in, WANG);
    assert_status(in, SM_NAME_ERR_TOO_LONG);

    /* Limits are in characters, not bytes: 15 four-byte characters fit. */
    in[0] = '\0';
    for (int i = 0; i < 15; i++)
        strcat(in, EXT_B);
    assert_ok(in, in, SM_NAME_KIND_HAN, 15);
    strcat(in, EXT_G);
    assert_status(in, SM_NAME_ERR_TOO_LONG);

    /* Surrounding spaces are not counted. */
    strcpy(in, "   ");
    for (int i = 0; i < 15; i++)
        strcat(in, WANG);
    strcat(in, IDSP IDSP);
    sm_name n;
    assert_int_equal(sm_name_normalise(in, strlen(in), &n), SM_NAME_OK);
    assert_int_equal(n.chars, 15);
}

static void test_han_interior_space(void **state)
{
    (void)state;
    assert_status(ZHANG " " SAN, SM_NAME_ERR_CHARACTERS);
    assert_status(ZHANG IDSP SAN, SM_NAME_ERR_CHARACTERS);
    assert_status(ZHANG "," SAN, SM_NAME_ERR_CHARACTERS);
}

/* -------------------------------------------------------------- Latin */

static void test_latin_normalised(void **state)
{
    (void)state;
    assert_ok("ZHANG SAN", "ZHANG SAN", SM_NAME_KIND_LATIN, 9);
    assert_ok("zhang san", "ZHANG SAN", SM_NAME_KIND_LATIN, 9);
    assert_ok("  Smith,   John  Paul ", "SMITH, JOHN PAUL", SM_NAME_KIND_LATIN, 16);
    assert_ok("SMITH,JOHN", "SMITH,JOHN", SM_NAME_KIND_LATIN, 10);
    assert_ok("O", "O", SM_NAME_KIND_LATIN, 1);
    /* An ideographic space inside a Latin name is a space. */
    assert_ok("JOHN" IDSP " SMITH", "JOHN SMITH", SM_NAME_KIND_LATIN, 10);
}

static void test_latin_commas(void **state)
{
    (void)state;
    assert_status(",SMITH", SM_NAME_ERR_CHARACTERS);
    assert_status(" , SMITH", SM_NAME_ERR_CHARACTERS);
    assert_status("SMITH,", SM_NAME_ERR_CHARACTERS);
    assert_status("SMITH,,JOHN", SM_NAME_ERR_CHARACTERS);
    assert_status("SMITH, , JOHN", SM_NAME_ERR_CHARACTERS);
    assert_status(",", SM_NAME_ERR_CHARACTERS);
    assert_status(" , , ", SM_NAME_ERR_CHARACTERS);
}

static void test_latin_characters(void **state)
{
    (void)state;
    assert_status("O'NEIL", SM_NAME_ERR_CHARACTERS);
    assert_status("JOHN-PAUL", SM_NAME_ERR_CHARACTERS);
    assert_status("JOHN.SMITH", SM_NAME_ERR_CHARACTERS);
    assert_status("JOHN" MIDDOT "SMITH", SM_NAME_ERR_CHARACTERS);
    assert_status("JOS\xc3\x89", SM_NAME_ERR_CHARACTERS);       /* É */
    assert_status("\xef\xbc\xa1\xef\xbc\xa2", SM_NAME_ERR_CHARACTERS); /* ＡＢ */
    assert_status("AGENT 007", SM_NAME_ERR_CHARACTERS);
    assert_status("JOHN\xc2\xa0SMITH", SM_NAME_ERR_CHARACTERS); /* NBSP */
}

static void test_latin_length_limit(void **state)
{
    (void)state;
    char in[600];
    memset(in, 'A', 120);
    in[120] = '\0';
    assert_ok(in, in, SM_NAME_KIND_LATIN, 120);
    memset(in, 'A', 121);
    in[121] = '\0';
    assert_status(in, SM_NAME_ERR_TOO_LONG);

    /* Collapsed spaces do not count: 60 + 1 + 59 after collapsing. */
    memset(in, 'B', 60);
    memset(in + 60, ' ', 300);
    memset(in + 360, 'C', 59);
    in[419] = '\0';
    sm_name n;
    assert_int_equal(sm_name_normalise(in, strlen(in), &n), SM_NAME_OK);
    assert_int_equal(n.chars, 120);
    assert_int_equal(n.len, 120);
    assert_int_equal(n.text[60], ' ');
    assert_int_equal(n.text[61], 'C');
}

/* ------------------------------------------------------ other refusals */

static void test_mixed_script(void **state)
{
    (void)state;
    assert_status(ZHANG "A", SM_NAME_ERR_MIXED);
    assert_status(ZHANG SAN " SMITH", SM_NAME_ERR_MIXED);
    assert_status("Li " WANG, SM_NAME_ERR_MIXED);
    /* A character no name may hold is reported before the mixture. */
    assert_status(ZHANG "A1", SM_NAME_ERR_CHARACTERS);
}

static void test_characters(void **state)
{
    (void)state;
    assert_status(ZHANG SAN "1", SM_NAME_ERR_CHARACTERS);
    assert_status("12345", SM_NAME_ERR_CHARACTERS);
    assert_status(ZHANG SAN "\xf0\x9f\x98\x80", SM_NAME_ERR_CHARACTERS); /* emoji */
    assert_status("\xea\xb9\x80\xec\xb2\xa0\xec\x88\x98", SM_NAME_ERR_CHARACTERS); /* 김철수 */
    assert_status("\xe3\x81\x95\xe3\x81\x8f\xe3\x82\x89", SM_NAME_ERR_CHARACTERS); /* さくら */
    assert_status(ZHANG SAN "!", SM_NAME_ERR_CHARACTERS);
    assert_status(ZHANG "-" SAN, SM_NAME_ERR_CHARACTERS);
    assert_status(ZHANG "\xe3\x80\x82" SAN, SM_NAME_ERR_CHARACTERS); /* 。 */
    assert_status(ZHANG "\xee\x80\x80", SM_NAME_ERR_CHARACTERS);     /* private use */
    /* Characters beat dot placement wherever each occurs. */
    assert_status(MIDDOT ZHANG SAN "1", SM_NAME_ERR_CHARACTERS);
}

static void test_encoding(void **state)
{
    (void)state;
    assert_status("\xc0\xaf", SM_NAME_ERR_ENCODING);             /* overlong '/' */
    assert_status("\xc1\xbf" "AB", SM_NAME_ERR_ENCODING);        /* overlong */
    assert_status("\xe0\x80\xaf", SM_NAME_ERR_ENCODING);         /* overlong 3-byte */
    assert_status("\xe0\x9f\xbf", SM_NAME_ERR_ENCODING);         /* overlong U+07FF */
    assert_status("\xf0\x80\x80\xaf", SM_NAME_ERR_ENCODING);     /* overlong 4-byte */
    assert_status("\xf0\x8f\xbf\xbf", SM_NAME_ERR_ENCODING);     /* overlong U+FFFF */
    assert_status(ZHANG "\xed\xa0\x80", SM_NAME_ERR_ENCODING);   /* lone high surrogate */
    assert_status(ZHANG "\xed\xb0\x80", SM_NAME_ERR_ENCODING);   /* lone low surrogate */
    assert_status("\xed\xa0\xbd\xed\xb8\x80", SM_NAME_ERR_ENCODING); /* CESU-8 pair */
    assert_status("\xf4\x90\x80\x80", SM_NAME_ERR_ENCODING);     /* > U+10FFFF */
    assert_status("\xf5\x80\x80\x80", SM_NAME_ERR_ENCODING);
    assert_status("\xff" ZHANG SAN, SM_NAME_ERR_ENCODING);
    assert_status(ZHANG "\x80" SAN, SM_NAME_ERR_ENCODING);       /* stray continuation */
    assert_status(ZHANG "\xe5\xbc", SM_NAME_ERR_ENCODING);       /* truncated at end */
    assert_status(ZHANG "\xe5\xbc" SAN, SM_NAME_ERR_ENCODING);   /* truncated inside */
    assert_status(WANG "\xf0\xa0\x80", SM_NAME_ERR_ENCODING);    /* truncated 4-byte */
    /* Encoding beats every other reason, wherever it is. */
    assert_status("\t" ZHANG "\xc0\x80", SM_NAME_ERR_ENCODING);
    assert_status(" \xc0\x80 ", SM_NAME_ERR_ENCODING);
    /* Highest code points are decoded, then refused as characters. */
    assert_status(WANG "\xf4\x8f\xbf\xbf", SM_NAME_ERR_CHARACTERS);
}

static void test_control(void **state)
{
    (void)state;
    assert_status("\t" ZHANG SAN, SM_NAME_ERR_CONTROL); /* tab is not trimmed */
    assert_status(ZHANG SAN "\n", SM_NAME_ERR_CONTROL);
    assert_status_len(ZHANG "\0" SAN, 7, SM_NAME_ERR_CONTROL);
    assert_status(ZHANG "\x7f" SAN, SM_NAME_ERR_CONTROL);         /* DEL */
    assert_status(ZHANG "\xc2\x85" SAN, SM_NAME_ERR_CONTROL);     /* C1 NEL */
    assert_status(ZHANG "\xc2\x9f" SAN, SM_NAME_ERR_CONTROL);     /* C1 APC */
    assert_status(ZHANG "\xe2\x80\x8b" SAN, SM_NAME_ERR_CONTROL); /* ZWSP */
    assert_status(ZHANG "\xe2\x80\x8d" SAN, SM_NAME_ERR_CONTROL); /* ZWJ */
    assert_status(ZHANG "\xe2\x80\x8f" SAN, SM_NAME_ERR_CONTROL); /* RLM */
    assert_status(ZHANG "\xe2\x80\xa8" SAN, SM_NAME_ERR_CONTROL); /* LINE SEP */
    assert_status(ZHANG "\xe2\x80\xa9" SAN, SM_NAME_ERR_CONTROL); /* PARA SEP */
    assert_status("\xe2\x80\xae" ZHANG SAN, SM_NAME_ERR_CONTROL); /* RLO */
    assert_status(ZHANG "\xe2\x80\xaa" SAN, SM_NAME_ERR_CONTROL); /* LRE */
    assert_status(ZHANG "\xe2\x81\xa0" SAN, SM_NAME_ERR_CONTROL); /* WORD JOINER */
    assert_status(ZHANG "\xe2\x81\xa4" SAN, SM_NAME_ERR_CONTROL); /* INVISIBLE PLUS */
    assert_status(ZHANG "\xe2\x81\xa6" SAN, SM_NAME_ERR_CONTROL); /* LRI */
    assert_status("\xef\xbb\xbf" ZHANG SAN, SM_NAME_ERR_CONTROL); /* BOM */
    assert_status(ZHANG "\xc2\xad" SAN, SM_NAME_ERR_CONTROL);     /* soft hyphen */
    assert_status(ZHANG SAN "\xef\xb8\x8f", SM_NAME_ERR_CONTROL); /* VS16 */
    assert_status(ZHANG SAN "\xf3\xa0\x84\x80", SM_NAME_ERR_CONTROL); /* IVS U+E0100 */
    assert_status("SMITH\rJOHN", SM_NAME_ERR_CONTROL);
    /* Control beats "characters" and "mixed". */
    assert_status(ZHANG "1A\x01", SM_NAME_ERR_CONTROL);
}

static void test_empty(void **state)
{
    (void)state;
    assert_status("", SM_NAME_ERR_EMPTY);
    assert_status("    ", SM_NAME_ERR_EMPTY);
    assert_status(IDSP " " IDSP, SM_NAME_ERR_EMPTY);
    sm_name n;
    assert_int_equal(sm_name_normalise(NULL, 0, &n), SM_NAME_ERR_EMPTY);
    assert_int_equal(sm_name_normalise(ZHANG SAN, 0, &n), SM_NAME_ERR_EMPTY);
}

static void test_failure_leaves_empty_name(void **state)
{
    (void)state;
    sm_name n;
    memset(&n, 0x5a, sizeof n);
    assert_int_equal(sm_name_normalise(ZHANG, strlen(ZHANG), &n), SM_NAME_ERR_TOO_SHORT);
    assert_string_equal(n.text, "");
    assert_int_equal(n.len, 0);
    assert_int_equal(n.chars, 0);
}

static void test_null_out_validates(void **state)
{
    (void)state;
    assert_int_equal(sm_name_normalise(ZHANG SAN, 6, NULL), SM_NAME_OK);
    assert_int_equal(sm_name_normalise("JOHN", 4, NULL), SM_NAME_OK);
    assert_int_equal(sm_name_normalise(ZHANG, 3, NULL), SM_NAME_ERR_TOO_SHORT);
}

static void test_codes_and_messages(void **state)
{
    (void)state;
    assert_null(sm_name_status_code(SM_NAME_OK));
    static const struct {
        sm_name_status st;
        const char *code;
    } want[] = {
        {SM_NAME_ERR_EMPTY, "empty"},
        {SM_NAME_ERR_ENCODING, "encoding"},
        {SM_NAME_ERR_CONTROL, "control"},
        {SM_NAME_ERR_CHARACTERS, "characters"},
        {SM_NAME_ERR_MIXED, "mixed_script"},
        {SM_NAME_ERR_DOT, "dot"},
        {SM_NAME_ERR_TOO_SHORT, "too_short"},
        {SM_NAME_ERR_TOO_LONG, "too_long"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(sm_name_status_code(want[i].st), want[i].code);
        const char *msg = sm_name_status_message(want[i].st);
        assert_non_null(msg);
        assert_true(strlen(msg) > 10);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(msg, sm_name_status_message(want[j].st));
    }
    assert_string_equal(sm_name_kind_code(SM_NAME_KIND_HAN), "han");
    assert_string_equal(sm_name_kind_code(SM_NAME_KIND_LATIN), "latin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_han_plain),
        cmocka_unit_test(test_han_trim),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_dot_variants),
        cmocka_unit_test(test_dot_placement),
        cmocka_unit_test(test_han_extensions),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_han_length_limit),
        cmocka_unit_test(test_han_interior_space),
        cmocka_unit_test(test_latin_normalised),
        cmocka_unit_test(test_latin_commas),
        cmocka_unit_test(test_latin_characters),
        cmocka_unit_test(test_latin_length_limit),
        cmocka_unit_test(test_mixed_script),
        cmocka_unit_test(test_characters),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_failure_leaves_empty_name),
        cmocka_unit_test(test_null_out_validates),
        cmocka_unit_test(test_codes_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
