/*
 * test_idnum.c — unit tests for ID-number validation and decoding
 * (src/core/idnum.c): the verdicts, reasons and decoded fields a user sees.
 *
 * Must never: depend on the day the tests run (every check that involves
 * "now" passes an explicit reference date, except the one that tests the
 * default), or use real people's numbers (these are made-up test numbers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shiming/shiming.h"

static const sm_id_options LENIENT = {{2024, 6, 1}, false};
static const sm_id_options STRICT = {{2024, 6, 1}, true};

static sm_id_status parse_opt(const char *s, const sm_id_options *opt, sm_id_info *out)
{
    /* Copy into an exact-size heap buffer so that ASan catches any read
     * past the given length. */
    size_t n = strlen(s);
    char *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    memcpy(buf, s, n);
    memset(out, 0x5A, sizeof *out);
    sm_id_status st = sm_id_parse(buf, n, opt, out);
    free(buf);
    return st;
}

static sm_id_status parse(const char *s, sm_id_info *out)
{
    return parse_opt(s, &LENIENT, out);
}

static void assert_status(const char *s, sm_id_status want)
{
    sm_id_info info;
    sm_id_status got = parse(s, &info);
    if (got != want)
        fail_msg("%s: expected %s, got %s", s, sm_id_status_code(want) ? sm_id_status_code(want) : "ok",
                 sm_id_status_code(got) ? sm_id_status_code(got) : "ok");
}

static void test_valid_beijing_woman(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("11010519491231002X", &info), SM_ID_OK);
    assert_string_equal(info.id18, "11010519491231002X");
    assert_false(info.from_15);
    assert_int_equal(info.kind, SM_ID_KIND_RESIDENT);
    assert_int_equal(info.sex, 'F');
    assert_int_equal(info.birth.year, 1949);
    assert_int_equal(info.birth.month, 12);
    assert_int_equal(info.birth.day, 31);
    assert_int_equal(info.age, 74); /* at 2024-06-01 */
    assert_true(info.region.known);
    assert_false(info.region.historical);
    assert_int_equal(info.region.code, 110105);
    assert_string_equal(info.region.province, "北京市");
    assert_string_equal(info.region.city, "北京市");
    assert_string_equal(info.region.county, "朝阳区");
}

static void test_valid_historical_region(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("110103198001010013", &info), SM_ID_OK);
    assert_int_equal(info.sex, 'M');
    assert_true(info.region.known);
    assert_true(info.region.historical);
    assert_string_equal(info.region.county, "崇文区");
    assert_int_equal(info.region.first_year, 1980);
    assert_int_equal(info.region.last_year, 2009);
    /* The same number is valid in strict mode: historical is not unknown. */
    assert_int_equal(parse_opt("110103198001010013", &STRICT, &info), SM_ID_OK);
}

static void test_fifteen_digits_upgraded(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("610104620927690", &info), SM_ID_OK);
    assert_true(info.from_15);
    assert_string_equal(info.id18, "610104196209276908");
    assert_int_equal(info.birth.year, 1962);
    assert_int_equal(info.birth.month, 9);
    assert_int_equal(info.birth.day, 27);
    assert_int_equal(info.sex, 'F'); /* sequence 690: even */
    assert_int_equal(info.age, 61);
    assert_string_equal(info.region.province, "陕西省");
    /* The upgraded number is itself valid and decodes the same way. */
    sm_id_info again;
    assert_int_equal(parse(info.id18, &again), SM_ID_OK);
    assert_false(again.from_15);
    assert_string_equal(again.id18, info.id18);
    assert_int_equal(again.sex, info.sex);

    /* The input may live in the output: parse a struct's own id18 buffer. */
    memcpy(info.id18, "610104620927690", 16);
    assert_int_equal(sm_id_parse(info.id18, 15, &LENIENT, &info), SM_ID_OK);
    assert_string_equal(info.id18, "610104196209276908");
}

static void test_fifteen_digit_errors(void **state)
{
    (void)state;
    assert_status("61010462092769X", SM_ID_ERR_CHARACTERS);
    assert_status("610104620230690", SM_ID_ERR_BIRTH_DATE); /* 30 Feb */
    assert_status("990101620927690", SM_ID_ERR_REGION);
    /* No checksum in a 15-digit number: every sequence is acceptable. */
    assert_status("610104620927691", SM_ID_OK);
}

static void test_residence_permits(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("810000199408230021", &info), SM_ID_OK);
    assert_int_equal(info.kind, SM_ID_KIND_HK_PERMIT);
    assert_string_equal(sm_id_kind_code(info.kind), "hk_resident_permit");
    assert_string_equal(info.region.province, "香港特别行政区");
    assert_null(info.region.city);
    assert_null(info.region.county);
    assert_true(info.region.known);
    assert_false(info.region.historical);
    assert_int_equal(info.sex, 'F');

    assert_int_equal(parse("820000199001010029", &info), SM_ID_OK);
    assert_int_equal(info.kind, SM_ID_KIND_MACAO_PERMIT);
    assert_string_equal(info.region.province, "澳门特别行政区");
    assert_int_equal(info.sex, 'F');

    assert_int_equal(parse("830000199001010012", &info), SM_ID_OK);
    assert_int_equal(info.kind, SM_ID_KIND_TAIWAN_PERMIT);
    assert_string_equal(info.region.province, "台湾省");
    assert_false(info.region.historical);
    assert_int_equal(info.sex, 'M');
    assert_int_equal(parse_opt("830000199001010012", &STRICT, &info), SM_ID_OK);

    /* Permits keep the checksum and birth-date rules. */
    assert_status("810000199408230022", SM_ID_ERR_CHECKSUM);
    assert_status("810000199402300021", SM_ID_ERR_BIRTH_DATE);
}

static void test_sar_and_taiwan_codes_other_than_permits(void **state)
{
    (void)state;
    /* Correct checksums throughout: only the region is wrong. */
    const char *numbers[] = {
        "710000199001010015", /* Taiwan's GB/T 2260 code: no ID uses it */
        "710101199001010017",
        "810001199001010015", /* a Hong Kong district */
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        sm_id_info info;
        assert_int_equal(parse_opt(numbers[i], &LENIENT, &info), SM_ID_ERR_REGION);
        assert_int_equal(parse_opt(numbers[i], &STRICT, &info), SM_ID_ERR_REGION);
    }
    /* First-generation numbers predate the permits. */
    assert_status("810000940823002", SM_ID_ERR_REGION);
    assert_status("820000900101002", SM_ID_ERR_REGION);
    assert_status("830000900101001", SM_ID_ERR_REGION);
    assert_status("710000900101001", SM_ID_ERR_REGION);
}

static void test_birth_before_1900(void **state)
{
    (void)state;
    assert_status("110105189901010017", SM_ID_ERR_BIRTH_DATE);
    assert_status("11010519000101001X", SM_ID_OK);
}

static void test_characters(void **state)
{
    (void)state;
    assert_status("11010519491231002Y", SM_ID_ERR_CHARACTERS);
    assert_status("1101051949123100X2", SM_ID_ERR_CHARACTERS); /* X not last */
    assert_status("X10105194912310021", SM_ID_ERR_CHARACTERS);
    assert_status("110105 94912310021", SM_ID_ERR_CHARACTERS); /* inner space */
    assert_status("１10105194912310021", SM_ID_ERR_LENGTH);     /* full-width 1: 20 bytes */
    assert_status("11010519491231002\xff", SM_ID_ERR_CHARACTERS);
}

static void test_checksum(void **state)
{
    (void)state;
    assert_status("110105194912310021", SM_ID_ERR_CHECKSUM);
    /* Swapping two digits is what MOD 11-2 is there to catch. */
    assert_status("11010519491213002X", SM_ID_ERR_CHECKSUM);
    assert_status("110105199001010011", SM_ID_ERR_CHECKSUM);
}

static void test_lower_case_x(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("11010519491231002x", &info), SM_ID_OK);
    assert_string_equal(info.id18, "11010519491231002X");
    assert_int_equal(parse("42900419900101001x", &info), SM_ID_OK);
    assert_string_equal(info.id18, "42900419900101001X");
    assert_null(info.region.city); /* 仙桃市 is directly under Hubei */
    assert_string_equal(info.region.county, "仙桃市");
}

static void test_lengths(void **state)
{
    (void)state;
    assert_status("11010519491231002", SM_ID_ERR_LENGTH);   /* 17 */
    assert_status("11010519491231002X0", SM_ID_ERR_LENGTH); /* 19 */
    assert_status("", SM_ID_ERR_LENGTH);
    assert_status("          ", SM_ID_ERR_LENGTH);
    assert_status("1101051949123", SM_ID_ERR_LENGTH);
    assert_status("6101046209276900", SM_ID_ERR_LENGTH); /* 16 */
    sm_id_info info;
    assert_int_equal(sm_id_parse(NULL, 0, &LENIENT, &info), SM_ID_ERR_LENGTH);
    assert_int_equal(sm_id_parse(NULL, 18, &LENIENT, &info), SM_ID_ERR_LENGTH);
}

static void test_spaces_trimmed(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("  11010519491231002X   ", &info), SM_ID_OK);
    assert_string_equal(info.id18, "11010519491231002X");
    assert_int_equal(parse(" 610104620927690 ", &info), SM_ID_OK);
    assert_string_equal(info.id18, "610104196209276908");
    /* Only ASCII spaces are trimmed. */
    assert_status("\t11010519491231002X", SM_ID_ERR_LENGTH);
}

static void test_reads_only_len_bytes(void **state)
{
    (void)state;
    sm_id_info info;
    const char *s = "11010519491231002X123";
    assert_int_equal(sm_id_parse(s, 18, &LENIENT, &info), SM_ID_OK);
    assert_int_equal(sm_id_parse(s, 21, &LENIENT, &info), SM_ID_ERR_LENGTH);
}

static void test_unknown_province(void **state)
{
    (void)state;
    assert_status("990101199001010019", SM_ID_ERR_REGION);
    sm_id_info info;
    assert_int_equal(parse_opt("990101199001010019", &STRICT, &info), SM_ID_ERR_REGION);
}

static void test_unknown_code_lenient_vs_strict(void **state)
{
    (void)state;
    sm_id_info info;
    /* 110199 was never published, but 11 is Beijing. */
    assert_int_equal(parse_opt("110199199001010010", &LENIENT, &info), SM_ID_OK);
    assert_false(info.region.known);
    assert_false(info.region.historical);
    assert_string_equal(info.region.province, "北京市");
    assert_null(info.region.county);
    assert_int_equal(parse_opt("110199199001010010", &STRICT, &info), SM_ID_ERR_REGION);
}

static void test_future_birth_date(void **state)
{
    (void)state;
    sm_id_info info;
    const sm_id_options day_before = {{2024, 5, 31}, false};
    const sm_id_options on_day = {{2024, 6, 1}, false};
    assert_int_equal(parse_opt("110105202406010013", &day_before, &info), SM_ID_ERR_BIRTH_DATE);
    assert_int_equal(parse_opt("110105202406010013", &on_day, &info), SM_ID_OK);
    assert_int_equal(info.age, 0);
}

static void test_29_february(void **state)
{
    (void)state;
    sm_id_info info;
    assert_int_equal(parse("110105200002290013", &info), SM_ID_OK);
    assert_int_equal(info.birth.month, 2);
    assert_int_equal(info.birth.day, 29);
    assert_status("110105190002290017", SM_ID_ERR_BIRTH_DATE); /* 1900: not leap */
    assert_status("110105200102290010", SM_ID_ERR_BIRTH_DATE);
    /* Reached on 1 March of a common year. */
    const sm_id_options feb28 = {{2023, 2, 28}, false};
    const sm_id_options mar1 = {{2023, 3, 1}, false};
    assert_int_equal(parse_opt("110105200002290013", &feb28, &info), SM_ID_OK);
    assert_int_equal(info.age, 22);
    assert_int_equal(parse_opt("110105200002290013", &mar1, &info), SM_ID_OK);
    assert_int_equal(info.age, 23);
}

static void test_impossible_dates(void **state)
{
    (void)state;
    /* Check characters fixed up so only the date is wrong. */
    char id[19];
    const char *dates[] = {"19901301", "19900001", "19900100", "19900431", "19901232"};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        memcpy(id, "110105", 6);
        memcpy(id + 6, dates[i], 8);
        memcpy(id + 14, "001", 3);
        id[17] = sm_id_check_char(id);
        id[18] = '\0';
        assert_status(id, SM_ID_ERR_BIRTH_DATE);
    }
}

static void test_age_on_birthday_and_day_before(void **state)
{
    (void)state;
    sm_id_info info;
    const sm_id_options before = {{2024, 12, 30}, false};
    const sm_id_options on = {{2024, 12, 31}, false};
    assert_int_equal(parse_opt("11010519491231002X", &before, &info), SM_ID_OK);
    assert_int_equal(info.age, 74);
    assert_int_equal(parse_opt("11010519491231002X", &on, &info), SM_ID_OK);
    assert_int_equal(info.age, 75);
}

static void test_first_failure_wins(void **state)
{
    (void)state;
    /* Bad characters and bad checksum: characters. */
    assert_status("11010519491231002Y", SM_ID_ERR_CHARACTERS);
    /* Bad date, unknown province, bad checksum: birth date. */
    assert_status("990101199013010011", SM_ID_ERR_BIRTH_DATE);
    /* Unknown province and bad checksum: region. */
    assert_status("990101199001010010", SM_ID_ERR_REGION);
    /* Strict-unknown region and bad checksum: region in strict mode only. */
    sm_id_info info;
    assert_int_equal(parse_opt("110199199001010011", &STRICT, &info), SM_ID_ERR_REGION);
    assert_int_equal(parse_opt("110199199001010011", &LENIENT, &info), SM_ID_ERR_CHECKSUM);
}

static void test_default_options_use_today(void **state)
{
    (void)state;
    sm_id_info info;
    sm_date today = sm_date_today();
    assert_int_equal(sm_id_parse("11010519491231002X", 18, NULL, &info), SM_ID_OK);
    assert_int_equal(info.age, sm_age_at(info.birth, today));
    assert_true(info.age >= 74);
    /* NULL options are lenient. */
    assert_int_equal(sm_id_parse("110199199001010010", 18, NULL, &info), SM_ID_OK);
    /* A zero `at` means today too: a 2024 birth is not in the future now. */
    const sm_id_options zero = {{0, 0, 0}, false};
    assert_int_equal(sm_id_parse("110105202406010013", 18, &zero, &info), SM_ID_OK);
    /* NULL out: validation only. */
    assert_int_equal(sm_id_parse("11010519491231002X", 18, &LENIENT, NULL), SM_ID_OK);
    assert_int_equal(sm_id_parse("110105194912310021", 18, &LENIENT, NULL), SM_ID_ERR_CHECKSUM);
}

static void test_check_char(void **state)
{
    (void)state;
    assert_int_equal(sm_id_check_char("11010519491231002"), 'X');
    assert_int_equal(sm_id_check_char("11010319800101001"), '3');
    assert_int_equal(sm_id_check_char("61010419620927690"), '8');
    /* Every remainder maps to its character. */
    char seen[128] = {0};
    char d[17];
    memcpy(d, "11010519900101000", 17);
    for (int seq = 0; seq < 1000; seq++) {
        d[14] = (char)('0' + seq / 100);
        d[15] = (char)('0' + seq / 10 % 10);
        d[16] = (char)('0' + seq % 10);
        seen[(unsigned char)sm_id_check_char(d)] = 1;
    }
    const char *all = "0123456789X";
    for (const char *p = all; *p; p++)
        assert_true(seen[(unsigned char)*p]);
}

static void test_codes_and_messages(void **state)
{
    (void)state;
    assert_null(sm_id_status_code(SM_ID_OK));
    assert_string_equal(sm_id_status_code(SM_ID_ERR_LENGTH), "length");
    assert_string_equal(sm_id_status_code(SM_ID_ERR_CHARACTERS), "characters");
    assert_string_equal(sm_id_status_code(SM_ID_ERR_REGION), "region");
    assert_string_equal(sm_id_status_code(SM_ID_ERR_BIRTH_DATE), "birth_date");
    assert_string_equal(sm_id_status_code(SM_ID_ERR_CHECKSUM), "checksum");
    assert_string_equal(sm_id_kind_code(SM_ID_KIND_RESIDENT), "resident");
    assert_string_equal(sm_id_kind_code(SM_ID_KIND_HK_PERMIT), "hk_resident_permit");
    assert_string_equal(sm_id_kind_code(SM_ID_KIND_MACAO_PERMIT), "macao_resident_permit");
    assert_string_equal(sm_id_kind_code(SM_ID_KIND_TAIWAN_PERMIT), "taiwan_resident_permit");
    for (int a = SM_ID_OK; a <= SM_ID_ERR_CHECKSUM; a++) {
        const char *ma = sm_id_status_message((sm_id_status)a);
        assert_non_null(ma);
        assert_true(strlen(ma) > 10);
        for (int b = a + 1; b <= SM_ID_ERR_CHECKSUM; b++)
            assert_string_not_equal(ma, sm_id_status_message((sm_id_status)b));
    }
}

/* Every published region code, with a valid date and checksum, must be
 * accepted in strict mode, and every unpublished code under a real province
 * accepted only in lenient mode (SAR/Taiwan codes apart). */
static void test_all_region_codes(void **state)
{
    (void)state;
    char id[19];
    memcpy(id + 6, "19900101001", 11);
    id[18] = '\0';
    size_t known = 0;
    for (uint32_t code = 100000; code <= 999999; code++) {
        uint32_t c = code;
        for (int i = 5; i >= 0; i--, c /= 10)
            id[i] = (char)('0' + c % 10);
        id[17] = sm_id_check_char(id);
        sm_id_info info;
        sm_id_status lenient = sm_id_parse(id, 18, &LENIENT, &info);
        sm_id_status strict = sm_id_parse(id, 18, &STRICT, &info);
        uint32_t prov = code / 10000;
        bool sar = prov == 71 || prov == 81 || prov == 82 || prov == 83;
        bool permit = code == 810000 || code == 820000 || code == 830000;
        if (permit) {
            assert_int_equal(lenient, SM_ID_OK);
            assert_int_equal(strict, SM_ID_OK);
        } else if (sar || !sm_region_province_exists(code)) {
            assert_int_equal(lenient, SM_ID_ERR_REGION);
            assert_int_equal(strict, SM_ID_ERR_REGION);
        } else if (sm_region_lookup(code, NULL)) {
            known++;
            assert_int_equal(lenient, SM_ID_OK);
            assert_int_equal(strict, SM_ID_OK);
        } else {
            assert_int_equal(lenient, SM_ID_OK);
            assert_int_equal(strict, SM_ID_ERR_REGION);
        }
    }
    assert_true(known > 7000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_beijing_woman),
        cmocka_unit_test(test_valid_historical_region),
        cmocka_unit_test(test_fifteen_digits_upgraded),
        cmocka_unit_test(test_fifteen_digit_errors),
        cmocka_unit_test(test_residence_permits),
        cmocka_unit_test(test_sar_and_taiwan_codes_other_than_permits),
        cmocka_unit_test(test_birth_before_1900),
        cmocka_unit_test(test_characters),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_lower_case_x),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_spaces_trimmed),
        cmocka_unit_test(test_reads_only_len_bytes),
        cmocka_unit_test(test_unknown_province),
        cmocka_unit_test(test_unknown_code_lenient_vs_strict),
        cmocka_unit_test(test_future_birth_date),
        cmocka_unit_test(test_29_february),
        cmocka_unit_test(test_impossible_dates),
        cmocka_unit_test(test_age_on_birthday_and_day_before),
        cmocka_unit_test(test_first_failure_wins),
        cmocka_unit_test(test_default_options_use_today),
        cmocka_unit_test(test_check_char),
        cmocka_unit_test(test_codes_and_messages),
        cmocka_unit_test(test_all_region_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
