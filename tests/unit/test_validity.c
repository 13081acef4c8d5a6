/*
 * test_validity.c — unit tests for sm_period_check and friends: the lawful
 * periods by age at issue (Resident Identity Card Law, art. 5), long-term
 * cards, 29 February, expiry at a reference date, and every refusal reason.
 * Must never depend on today's date except where a test says it does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shiming/shiming.h"

#define LONG_TERM_ZH "\xe9\x95\xbf\xe6\x9c\x9f" /* 长期 */

static sm_date D(int y, int m, int d)
{
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

static const sm_date AT = {2024, 6, 1};

static void assert_date(sm_date got, int y, int m, int d)
{
    if (got.year != y || got.month != m || got.day != d)
        fail_msg("date %04d-%02d-%02d, expected %04d-%02d-%02d", got.year,
                 got.month, got.day, y, m, d);
}

static sm_period_status check(const char *b, const char *e, const sm_date *birth,
                              const sm_date *at, sm_period *out)
{
    return sm_period_check(b, strlen(b), e, strlen(e), birth, at, out);
}

static void assert_status(const char *b, const char *e, const sm_date *birth,
                          const sm_date *at, sm_period_status want)
{
    sm_period p;
    sm_period_status st = check(b, e, birth, at, &p);
    if (st != want)
        fail_msg("%s..%s: expected %s, got %s", b, e,
                 want == SM_PERIOD_OK ? "ok" : sm_period_status_code(want),
                 st == SM_PERIOD_OK ? "ok" : sm_period_status_code(st));
}

/* ------------------------------------------------------ periods by age */

static void test_under_16_five_years(void **state)
{
    (void)state;
    sm_date birth = D(2010, 3, 15);
    sm_period p;
    assert_int_equal(check("20200101", "20250101", &birth, &AT, &p), SM_PERIOD_OK);
    assert_date(p.begin, 2020, 1, 1);
    assert_date(p.end, 2025, 1, 1);
    assert_false(p.long_term);
    assert_int_equal(p.years, 5);
    assert_true(p.age_known);
    assert_int_equal(p.age_at_issue, 9);
    assert_int_equal(p.expected_years, 5);
    assert_true(p.consistent_with_age);
    assert_false(p.expired);
}

static void test_16_to_25_ten_years(void **state)
{
    (void)state;
    sm_date birth = D(2000, 1, 1);
    sm_period p;
    assert_int_equal(check("20180101", "20280101", &birth, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 10);
    assert_int_equal(p.age_at_issue, 18);
    assert_int_equal(p.expected_years, 10);
    assert_true(p.consistent_with_age);
}

static void test_26_to_45_twenty_years(void **state)
{
    (void)state;
    sm_date birth = D(1985, 9, 30);
    sm_period p;
    assert_int_equal(check("20150720", "20350720", &birth, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 20);
    assert_int_equal(p.age_at_issue, 29);
    assert_int_equal(p.expected_years, 20);
    assert_true(p.consistent_with_age);
    assert_false(p.expired);
}

static void test_46_and_over_long_term(void **state)
{
    (void)state;
    sm_date birth = D(1960, 1, 1);
    const char *ends[] = {"00000000", LONG_TERM_ZH};
    for (size_t i = 0; i < 2; i++) {
        sm_period p;
        memset(&p, 0x5a, sizeof p);
        assert_int_equal(check("20150101", ends[i], &birth, &AT, &p), SM_PERIOD_OK);
        assert_true(p.long_term);
        assert_int_equal(p.years, 0);
        assert_date(p.end, 0, 0, 0);
        assert_int_equal(p.age_at_issue, 55);
        assert_int_equal(p.expected_years, 0);
        assert_true(p.consistent_with_age);
        assert_false(p.expired);
    }
    /* A long-term card never expires. */
    sm_date far = D(9999, 12, 31);
    sm_period p;
    assert_int_equal(check("20150101", LONG_TERM_ZH, NULL, &far, &p), SM_PERIOD_OK);
    assert_false(p.expired);
}

static void test_period_inconsistent_with_age(void **state)
{
    (void)state;
    /* A lawful length for someone else: accepted, but flagged. */
    sm_date birth = D(1990, 5, 5);
    sm_period p;
    assert_int_equal(check("20200101", "20300101", &birth, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 10);
    assert_int_equal(p.age_at_issue, 29);
    assert_int_equal(p.expected_years, 20);
    assert_false(p.consistent_with_age);

    /* Long-term at 30 is not what the law gives. */
    assert_int_equal(check("20200601", "00000000", &birth, &AT, &p), SM_PERIOD_OK);
    assert_false(p.consistent_with_age);

    /* Five years at 50 neither. */
    sm_date old = D(1970, 1, 1);
    assert_int_equal(check("20200101", "20250101", &old, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.expected_years, 0);
    assert_false(p.consistent_with_age);
}

static void test_without_birth_no_age_rules(void **state)
{
    (void)state;
    sm_period p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(check("20200101", "20300101", NULL, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 10);
    assert_false(p.age_known);
    assert_int_equal(p.age_at_issue, 0);
    assert_int_equal(p.expected_years, 0);
    assert_false(p.consistent_with_age);

    /* {0,0,0} means "none" for a date. */
    sm_date none = {0, 0, 0};
    assert_int_equal(check("20200101", "20300101", &none, &AT, &p), SM_PERIOD_OK);
    assert_false(p.age_known);
}

/* ------------------------------------------------------ boundary ages */

static void test_exactly_16_on_issue_day(void **state)
{
    (void)state;
    sm_date birth = D(2004, 5, 10);
    sm_period p;
    assert_int_equal(check("20200510", "20300510", &birth, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 16);
    assert_int_equal(p.expected_years, 10);
    assert_true(p.consistent_with_age);

    /* The day before the 16th birthday: still five years. */
    assert_int_equal(check("20200509", "20250509", &birth, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 15);
    assert_int_equal(p.expected_years, 5);
    assert_true(p.consistent_with_age);
}

static void test_exactly_26_and_46(void **state)
{
    (void)state;
    sm_date b26 = D(1994, 2, 1);
    sm_period p;
    assert_int_equal(check("20200201", "20400201", &b26, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 26);
    assert_int_equal(p.expected_years, 20);
    assert_int_equal(check("20200131", "20300131", &b26, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 25);
    assert_int_equal(p.expected_years, 10);
    assert_true(p.consistent_with_age);

    sm_date b46 = D(1970, 7, 1);
    assert_int_equal(check("20160701", LONG_TERM_ZH, &b46, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 46);
    assert_int_equal(p.expected_years, 0);
    assert_true(p.consistent_with_age);
    assert_int_equal(check("20160630", "20360630", &b46, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.age_at_issue, 45);
    assert_int_equal(p.expected_years, 20);
    assert_true(p.consistent_with_age);
}

static void test_years_for_age_table(void **state)
{
    (void)state;
    assert_int_equal(sm_period_years_for_age(0), 5);
    assert_int_equal(sm_period_years_for_age(15), 5);
    assert_int_equal(sm_period_years_for_age(16), 10);
    assert_int_equal(sm_period_years_for_age(25), 10);
    assert_int_equal(sm_period_years_for_age(26), 20);
    assert_int_equal(sm_period_years_for_age(45), 20);
    assert_int_equal(sm_period_years_for_age(46), 0);
    assert_int_equal(sm_period_years_for_age(120), 0);
}

/* ------------------------------------------------------ 29 February */

static void test_29_february_begin(void **state)
{
    (void)state;
    sm_period p;
    /* To a common year: the card ends on 28 February. */
    assert_int_equal(check("20200229", "20250228", NULL, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 5);
    assert_date(p.end, 2025, 2, 28);
    assert_status("20200229", "20250301", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200229", "20300228", NULL, &AT, SM_PERIOD_OK);
    /* To a leap year: 29 February again, and 28 February is wrong. */
    assert_status("20200229", "20400229", NULL, &AT, SM_PERIOD_OK);
    assert_status("20200229", "20400228", NULL, &AT, SM_PERIOD_ERR_DURATION);
    /* 29 February in a common year is no date at all. */
    assert_status("20190229", "20240229", NULL, &AT, SM_PERIOD_ERR_FORMAT);
    assert_status("20190228", "20240229", NULL, &AT, SM_PERIOD_ERR_DURATION);
}

/* ------------------------------------------------------ expiry */

static void test_expired_at_reference_date(void **state)
{
    (void)state;
    sm_period p;
    sm_date on_end = D(2025, 1, 1), after_end = D(2025, 1, 2);
    assert_int_equal(check("20200101", "20250101", NULL, &on_end, &p), SM_PERIOD_OK);
    assert_false(p.expired); /* valid through its last day */
    assert_int_equal(check("20200101", "20250101", NULL, &after_end, &p), SM_PERIOD_OK);
    assert_true(p.expired);
    /* Expired cards are still lawful periods. */
    sm_date late = D(2031, 1, 1);
    assert_int_equal(check("20100101", "20200101", NULL, &late, &p), SM_PERIOD_OK);
    assert_true(p.expired);
}

static void test_today_is_default_reference(void **state)
{
    (void)state;
    /* Depends on the clock only in the obvious way: after 2020, before 2099. */
    sm_period p;
    assert_int_equal(check("20200101", "20400101", NULL, NULL, &p), SM_PERIOD_OK);
    assert_int_equal(check("20000101", "20100101", NULL, NULL, &p), SM_PERIOD_OK);
    assert_true(p.expired);
    assert_status("20990101", "21090101", NULL, NULL, SM_PERIOD_ERR_BEGIN_IN_FUTURE);
    sm_date none = {0, 0, 0};
    assert_status("20990101", "21090101", NULL, &none, SM_PERIOD_ERR_BEGIN_IN_FUTURE);
}

/* ------------------------------------------------------ refusals */

static void test_format(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "2020010", "202001011", "2020-01-01", "20200230", "20201301",
        "20200100", "2020013a", " 20200101", "20200101 ", "00001231",
        "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x90\xef\xbc\x90\xef\xbc\x91\xef\xbc\x90\xef\xbc\x91",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_status(bad[i], "20300101", NULL, &AT, SM_PERIOD_ERR_FORMAT);
        assert_status("20200101", bad[i], NULL, &AT, SM_PERIOD_ERR_FORMAT);
    }
    /* Variants of the long-term spellings are not accepted. */
    assert_status("20200101", LONG_TERM_ZH "\xe6\x9c\x89\xe6\x95\x88", NULL, &AT,
                  SM_PERIOD_ERR_FORMAT); /* 长期有效 */
    assert_status("20200101", "0000000", NULL, &AT, SM_PERIOD_ERR_FORMAT);
    assert_status("20200101", "long-term", NULL, &AT, SM_PERIOD_ERR_FORMAT);

    sm_period p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(sm_period_check(NULL, 0, NULL, 0, NULL, &AT, &p), SM_PERIOD_ERR_FORMAT);
    /* Nothing is known on a format error. */
    assert_date(p.begin, 0, 0, 0);
    assert_date(p.end, 0, 0, 0);
    assert_false(p.long_term);
    assert_int_equal(p.years, 0);
    assert_false(p.age_known);
    assert_false(p.expired);

    /* Even when the begin date alone was good. */
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(check("20200101", "2030", &(sm_date){1990, 1, 1}, &AT, &p),
                     SM_PERIOD_ERR_FORMAT);
    assert_date(p.begin, 0, 0, 0);
    assert_false(p.age_known);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char buf[] = "2020010120300101";
    sm_period p;
    assert_int_equal(sm_period_check(buf, 8, buf + 8, 8, NULL, &AT, &p), SM_PERIOD_OK);
    assert_int_equal(p.years, 10);
    assert_int_equal(sm_period_check(buf, 9, buf + 8, 8, NULL, &AT, &p), SM_PERIOD_ERR_FORMAT);
}

static void test_begin_long_term(void **state)
{
    (void)state;
    assert_status("00000000", "20300101", NULL, &AT, SM_PERIOD_ERR_BEGIN_LONG_TERM);
    assert_status(LONG_TERM_ZH, "00000000", NULL, &AT, SM_PERIOD_ERR_BEGIN_LONG_TERM);
    assert_status(LONG_TERM_ZH, "garbage", NULL, &AT, SM_PERIOD_ERR_BEGIN_LONG_TERM);
}

static void test_begin_before_birth(void **state)
{
    (void)state;
    sm_date birth = D(2010, 1, 1);
    assert_status("20091231", "20141231", &birth, &AT, SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH);
    /* A card issued on the day of birth is possible. */
    assert_status("20100101", "20150101", &birth, &AT, SM_PERIOD_OK);
    /* Without the birth date the same period is fine. */
    assert_status("20091231", "20141231", NULL, &AT, SM_PERIOD_OK);
    /* It comes before the later checks. */
    sm_date unborn = D(2030, 1, 1);
    assert_status("20250101", "20200101", &unborn, &AT, SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH);
}

static void test_begin_in_future(void **state)
{
    (void)state;
    assert_status("20240602", "20290602", NULL, &AT, SM_PERIOD_ERR_BEGIN_IN_FUTURE);
    assert_status("20240601", "20290601", NULL, &AT, SM_PERIOD_OK); /* issued today */
    assert_status("20240602", "20200101", NULL, &AT, SM_PERIOD_ERR_BEGIN_IN_FUTURE);
}

static void test_end_before_begin(void **state)
{
    (void)state;
    assert_status("20200101", "20150101", NULL, &AT, SM_PERIOD_ERR_END_BEFORE_BEGIN);
    assert_status("20200101", "20191231", NULL, &AT, SM_PERIOD_ERR_END_BEFORE_BEGIN);
    /* Ending on the day it begins is no lawful length, not "before". */
    assert_status("20200101", "20200101", NULL, &AT, SM_PERIOD_ERR_DURATION);
}

static void test_duration(void **state)
{
    (void)state;
    assert_status("20200101", "20260101", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200101", "20250102", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200101", "20241231", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200101", "20500101", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200101", "20210101", NULL, &AT, SM_PERIOD_ERR_DURATION);
    assert_status("20200315", "20400315", NULL, &AT, SM_PERIOD_OK);
}

static void test_partial_fill_on_failure(void **state)
{
    (void)state;
    sm_date birth = D(1990, 5, 5);
    sm_period p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(check("20200101", "20260101", &birth, &AT, &p), SM_PERIOD_ERR_DURATION);
    assert_date(p.begin, 2020, 1, 1);
    assert_date(p.end, 2026, 1, 1);
    assert_false(p.long_term);
    assert_int_equal(p.years, 0);
    assert_true(p.age_known);
    assert_int_equal(p.age_at_issue, 29);
    assert_int_equal(p.expected_years, 20);
    assert_false(p.consistent_with_age);
    assert_false(p.expired);

    memset(&p, 0x5a, sizeof p);
    sm_date late = D(2030, 1, 1);
    assert_int_equal(check("20200101", "20150101", NULL, &late, &p),
                     SM_PERIOD_ERR_END_BEFORE_BEGIN);
    assert_date(p.end, 2015, 1, 1);
    assert_true(p.expired);
    assert_false(p.age_known);

    memset(&p, 0x5a, sizeof p);
    assert_int_equal(check("20091231", "20141231", &(sm_date){2010, 1, 1}, &AT, &p),
                     SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH);
    assert_date(p.begin, 2009, 12, 31);
    assert_false(p.age_known);
    assert_true(p.expired);

    /* out may be NULL. */
    assert_int_equal(sm_period_check("20200101", 8, "20300101", 8, NULL, &AT, NULL),
                     SM_PERIOD_OK);
}

static void test_codes_and_messages(void **state)
{
    (void)state;
    assert_null(sm_period_status_code(SM_PERIOD_OK));
    static const struct {
        sm_period_status st;
        const char *code;
    } want[] = {
        {SM_PERIOD_ERR_FORMAT, "format"},
        {SM_PERIOD_ERR_BEGIN_LONG_TERM, "begin_long_term"},
        {SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH, "begin_before_birth"},
        {SM_PERIOD_ERR_BEGIN_IN_FUTURE, "begin_in_future"},
        {SM_PERIOD_ERR_END_BEFORE_BEGIN, "end_before_begin"},
        {SM_PERIOD_ERR_DURATION, "duration"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(sm_period_status_code(want[i].st), want[i].code);
        const char *msg = sm_period_status_message(want[i].st);
        assert_non_null(msg);
        assert_true(strlen(msg) > 10);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(msg, sm_period_status_message(want[j].st));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_under_16_five_years),
        cmocka_unit_test(test_16_to_25_ten_years),
        cmocka_unit_test(test_26_to_45_twenty_years),
        cmocka_unit_test(test_46_and_over_long_term),
        cmocka_unit_test(test_period_inconsistent_with_age),
        cmocka_unit_test(test_without_birth_no_age_rules),
        cmocka_unit_test(test_exactly_16_on_issue_day),
        cmocka_unit_test(test_exactly_26_and_46),
        cmocka_unit_test(test_years_for_age_table),
        cmocka_unit_test(test_29_february_begin),
        cmocka_unit_test(test_expired_at_reference_date),
        cmocka_unit_test(test_today_is_default_reference),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_begin_long_term),
        cmocka_unit_test(test_begin_before_birth),
        cmocka_unit_test(test_begin_in_future),
        cmocka_unit_test(test_end_before_begin),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_partial_fill_on_failure),
        cmocka_unit_test(test_codes_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
