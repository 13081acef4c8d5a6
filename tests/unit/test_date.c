/*
 * test_date.c — unit tests for the calendar functions in src/core/date.c:
 * what a user sees as birth dates, ages and card anniversaries.
 *
 * Must never: depend on the machine's time zone or locale, or on the day it
 * runs (except the one test of sm_date_today, which checks against the clock
 * itself).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "shiming/shiming.h"

static sm_date D(int y, int m, int d)
{
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

static void assert_date(sm_date got, int y, int m, int d)
{
    assert_int_equal(got.year, y);
    assert_int_equal(got.month, m);
    assert_int_equal(got.day, d);
}

static void test_is_valid_leap_years(void **state)
{
    (void)state;
    assert_true(sm_date_is_valid(2000, 2, 29));  /* divisible by 400 */
    assert_false(sm_date_is_valid(1900, 2, 29)); /* divisible by 100 only */
    assert_true(sm_date_is_valid(2024, 2, 29));
    assert_false(sm_date_is_valid(2023, 2, 29));
    assert_true(sm_date_is_valid(2023, 2, 28));
}

static void test_is_valid_month_lengths_and_ranges(void **state)
{
    (void)state;
    assert_true(sm_date_is_valid(2023, 1, 31));
    assert_false(sm_date_is_valid(2023, 4, 31));
    assert_false(sm_date_is_valid(2023, 6, 31));
    assert_false(sm_date_is_valid(2023, 9, 31));
    assert_false(sm_date_is_valid(2023, 11, 31));
    assert_true(sm_date_is_valid(2023, 12, 31));
    assert_false(sm_date_is_valid(2023, 12, 32));
    assert_false(sm_date_is_valid(2023, 0, 1));
    assert_false(sm_date_is_valid(2023, 13, 1));
    assert_false(sm_date_is_valid(2023, 1, 0));
    assert_false(sm_date_is_valid(2023, -1, 1));
    assert_false(sm_date_is_valid(0, 1, 1));
    assert_true(sm_date_is_valid(1, 1, 1));
    assert_true(sm_date_is_valid(9999, 12, 31));
    assert_false(sm_date_is_valid(10000, 1, 1));
}

static void test_parse_compact(void **state)
{
    (void)state;
    sm_date d = {0, 0, 0};
    assert_true(sm_date_parse_compact("20240229", 8, &d));
    assert_date(d, 2024, 2, 29);
    assert_true(sm_date_parse_compact("19491231", 8, &d));
    assert_date(d, 1949, 12, 31);
    assert_false(sm_date_parse_compact("20230229", 8, &d)); /* no such day */
    assert_false(sm_date_parse_compact("20231301", 8, &d));
    assert_false(sm_date_parse_compact("00000000", 8, &d)); /* "long-term" is not a date */
    assert_false(sm_date_parse_compact("2024022", 7, &d));
    assert_false(sm_date_parse_compact("202402290", 9, &d));
    assert_false(sm_date_parse_compact("2024-02-29", 10, &d));
    assert_false(sm_date_parse_compact("2024022a", 8, &d));
    assert_false(sm_date_parse_compact(" 2024022", 8, &d));
    assert_false(sm_date_parse_compact("", 0, &d));
    assert_false(sm_date_parse_compact(NULL, 8, &d));
}

static void test_parse_compact_reads_only_len_bytes(void **state)
{
    (void)state;
    /* Not NUL-terminated where the date ends: the trailing bytes are
     * someone else's and must be ignored. */
    char buf[8];
    memcpy(buf, "19800101", 8);
    sm_date d = {0, 0, 0};
    assert_true(sm_date_parse_compact(buf, sizeof buf, &d));
    assert_date(d, 1980, 1, 1);
    assert_true(sm_date_parse_compact("20240229XYZ", 8, &d));
    assert_date(d, 2024, 2, 29);
}

static void test_parse_iso(void **state)
{
    (void)state;
    sm_date d = {0, 0, 0};
    assert_true(sm_date_parse_iso("2024-02-29", 10, &d));
    assert_date(d, 2024, 2, 29);
    assert_true(sm_date_parse_iso("2024-02-29T00:00", 10, &d));
    assert_date(d, 2024, 2, 29);
    assert_false(sm_date_parse_iso("2023-02-29", 10, &d));
    assert_false(sm_date_parse_iso("2024/02/29", 10, &d));
    assert_false(sm_date_parse_iso("2024/02-29", 10, &d));
    assert_false(sm_date_parse_iso("2024-02/29", 10, &d));
    assert_false(sm_date_parse_iso("2024002-29", 10, &d));
    assert_false(sm_date_parse_iso("2024-2-29", 9, &d));
    assert_false(sm_date_parse_iso("2024-02-9 ", 10, &d));
    assert_false(sm_date_parse_iso("20240229", 8, &d));
    assert_false(sm_date_parse_iso("+024-02-29", 10, &d));
    assert_false(sm_date_parse_iso("2024-02-29", 9, &d));
    assert_false(sm_date_parse_iso(NULL, 10, &d));
}

static void test_cmp(void **state)
{
    (void)state;
    assert_int_equal(sm_date_cmp(D(2024, 2, 29), D(2024, 2, 29)), 0);
    assert_int_equal(sm_date_cmp(D(2024, 2, 28), D(2024, 2, 29)), -1);
    assert_int_equal(sm_date_cmp(D(2024, 3, 1), D(2024, 2, 29)), 1);
    assert_int_equal(sm_date_cmp(D(2000, 12, 31), D(2001, 1, 1)), -1);
    assert_int_equal(sm_date_cmp(D(2001, 1, 1), D(2000, 12, 31)), 1);
    assert_int_equal(sm_date_cmp(D(2001, 1, 31), D(2001, 2, 1)), -1);
    assert_int_equal(sm_date_cmp(D(0, 0, 0), D(1, 1, 1)), -1);
}

static void test_age_on_birthday_and_day_before(void **state)
{
    (void)state;
    sm_date birth = D(1949, 12, 31);
    assert_int_equal(sm_age_at(birth, D(2024, 12, 30)), 74);
    assert_int_equal(sm_age_at(birth, D(2024, 12, 31)), 75);
    assert_int_equal(sm_age_at(birth, D(2025, 1, 1)), 75);
    assert_int_equal(sm_age_at(birth, birth), 0);
    assert_int_equal(sm_age_at(D(2000, 6, 15), D(2018, 6, 14)), 17);
    assert_int_equal(sm_age_at(D(2000, 6, 15), D(2018, 6, 15)), 18);
}

static void test_age_29_february(void **state)
{
    (void)state;
    sm_date birth = D(2000, 2, 29);
    /* In common years the birthday is reached on 1 March, not 28 Feb. */
    assert_int_equal(sm_age_at(birth, D(2018, 2, 28)), 17);
    assert_int_equal(sm_age_at(birth, D(2018, 3, 1)), 18);
    /* In leap years on the day itself. */
    assert_int_equal(sm_age_at(birth, D(2024, 2, 28)), 23);
    assert_int_equal(sm_age_at(birth, D(2024, 2, 29)), 24);
}

static void test_age_before_birth_is_negative(void **state)
{
    (void)state;
    assert_true(sm_age_at(D(2000, 5, 10), D(2000, 5, 9)) < 0);
    assert_true(sm_age_at(D(2000, 5, 10), D(1990, 1, 1)) < 0);
}

static void test_add_years(void **state)
{
    (void)state;
    assert_date(sm_date_add_years(D(2020, 6, 15), 10), 2030, 6, 15);
    assert_date(sm_date_add_years(D(2020, 6, 15), 0), 2020, 6, 15);
    assert_date(sm_date_add_years(D(2020, 6, 15), -5), 2015, 6, 15);
    assert_date(sm_date_add_years(D(2020, 12, 31), 20), 2040, 12, 31);
}

static void test_add_years_29_february(void **state)
{
    (void)state;
    assert_date(sm_date_add_years(D(2024, 2, 29), 1), 2025, 2, 28);
    assert_date(sm_date_add_years(D(2024, 2, 29), 5), 2029, 2, 28);
    assert_date(sm_date_add_years(D(2024, 2, 29), 4), 2028, 2, 29);
    assert_date(sm_date_add_years(D(2000, 2, 29), 100), 2100, 2, 28);
    assert_date(sm_date_add_years(D(2000, 2, 29), 400), 2400, 2, 29);
}

static void test_add_years_out_of_range_is_none(void **state)
{
    (void)state;
    assert_date(sm_date_add_years(D(9995, 1, 1), 10), 0, 0, 0);
    assert_date(sm_date_add_years(D(5, 1, 1), -10), 0, 0, 0);
    assert_date(sm_date_add_years(D(2023, 2, 29), 1), 0, 0, 0); /* not a date */
    assert_date(sm_date_add_years(D(0, 0, 0), 1), 0, 0, 0);
    assert_date(sm_date_add_years(D(2020, 1, 1), 2147483647), 0, 0, 0);
}

static sm_date cst_date_of(time_t t)
{
    time_t shifted = t + 8 * 3600;
    struct tm tm;
    gmtime_r(&shifted, &tm);
    return D(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static void test_today_is_china_standard_time(void **state)
{
    (void)state;
    time_t before = time(NULL);
    sm_date today = sm_date_today();
    time_t after = time(NULL);
    assert_true(sm_date_is_valid(today.year, today.month, today.day));
    assert_true(today.year >= 2024);
    /* Either side of a midnight tick, but never the UTC or local date when
     * those differ from China's (they do from 00:00 to 08:00 CST every day,
     * which is when a missing +8 h offset makes this fail). */
    sm_date a = cst_date_of(before), b = cst_date_of(after);
    assert_true(sm_date_cmp(today, a) == 0 || sm_date_cmp(today, b) == 0);
}

static void test_format(void **state)
{
    (void)state;
    char c[9], iso[11];
    memset(c, '#', sizeof c);
    memset(iso, '#', sizeof iso);
    sm_date_format_compact(D(2024, 2, 29), c);
    sm_date_format_iso(D(2024, 2, 29), iso);
    assert_string_equal(c, "20240229");
    assert_string_equal(iso, "2024-02-29");
    sm_date_format_compact(D(5, 1, 9), c);
    sm_date_format_iso(D(5, 1, 9), iso);
    assert_string_equal(c, "00050109");
    assert_string_equal(iso, "0005-01-09");
    sm_date_format_compact(D(0, 0, 0), c);
    assert_string_equal(c, "00000000");
    sm_date_format_iso(D(-3, -1, 99), iso); /* garbage in, fixed width out */
    assert_int_equal(strlen(iso), 10);
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    int days = 0;
    for (int y = 1896; y <= 2104; y++) {
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= 31; d++) {
                if (!sm_date_is_valid(y, m, d))
                    continue;
                days++;
                char c[9], iso[11];
                sm_date in = D(y, m, d), back1 = {0, 0, 0}, back2 = {0, 0, 0};
                sm_date_format_compact(in, c);
                sm_date_format_iso(in, iso);
                assert_true(sm_date_parse_compact(c, 8, &back1));
                assert_true(sm_date_parse_iso(iso, 10, &back2));
                assert_int_equal(sm_date_cmp(in, back1), 0);
                assert_int_equal(sm_date_cmp(in, back2), 0);
            }
        }
    }
    /* 209 years, 51 of them leap (1900 and 2100 are not). */
    assert_int_equal(days, 209 * 365 + 51);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_valid_leap_years),
        cmocka_unit_test(test_is_valid_month_lengths_and_ranges),
        cmocka_unit_test(test_parse_compact),
        cmocka_unit_test(test_parse_compact_reads_only_len_bytes),
        cmocka_unit_test(test_parse_iso),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_age_on_birthday_and_day_before),
        cmocka_unit_test(test_age_29_february),
        cmocka_unit_test(test_age_before_birth_is_negative),
        cmocka_unit_test(test_add_years),
        cmocka_unit_test(test_add_years_29_february),
        cmocka_unit_test(test_add_years_out_of_range_is_none),
        cmocka_unit_test(test_today_is_china_standard_time),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
