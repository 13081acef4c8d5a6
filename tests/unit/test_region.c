/*
 * test_region.c — unit tests for GB/T 2260 region lookups (src/core/region.c
 * over the table tools/gen_regions.py generates): the names and years a user
 * is shown for the first six digits of an ID number.
 *
 * Must never: read the CSV files at run time (the table is compiled in) or
 * depend on the order tests run in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shiming/shiming.h"

/* NULL-aware string check: expected NULL means "this level does not apply". */
static void assert_name(const char *got, const char *want)
{
    if (want == NULL) {
        if (got != NULL)
            fail_msg("expected NULL, got \"%s\"", got);
        return;
    }
    if (got == NULL)
        fail_msg("expected \"%s\", got NULL", want);
    assert_string_equal(got, want);
}

static sm_region look(uint32_t code, bool want_known)
{
    sm_region r;
    memset(&r, 0x5A, sizeof r); /* stale garbage must be overwritten */
    assert_int_equal(sm_region_lookup(code, &r), want_known);
    assert_int_equal(r.known, want_known);
    assert_int_equal(r.code, code);
    return r;
}

static void expect(uint32_t code, const char *prov, const char *city, const char *county,
                   int first, int last)
{
    sm_region r = look(code, true);
    assert_name(r.province, prov);
    assert_name(r.city, city);
    assert_name(r.county, county);
    assert_int_equal(r.first_year, first);
    assert_int_equal(r.last_year, last);
    assert_int_equal(r.historical, last != 0);
}

static void test_current_year_and_count(void **state)
{
    (void)state;
    assert_int_equal(sm_region_current_year(), 2022);
    /* Over 3,600 current codes plus thousands abolished since 1980. */
    assert_true(sm_region_count() > 7000);
    assert_true(sm_region_count() < 10000);
}

static void test_current_county_in_municipality(void **state)
{
    (void)state;
    expect(110105, "北京市", "北京市", "朝阳区", 1980, 0);
    expect(120101, "天津市", "天津市", "和平区", 1980, 0);
    expect(310115, "上海市", "上海市", "浦东新区", 1992, 0);
    /* Chongqing's codes start when it became a municipality in 1997. */
    expect(500101, "重庆市", "重庆市", "万州区", 1997, 0);
}

static void test_historical_county(void **state)
{
    (void)state;
    /* 崇文区 merged into 东城区 in 2010. */
    expect(110103, "北京市", "北京市", "崇文区", 1980, 2009);
    /* 武安市 was briefly a county-level city directly under Hebei. */
    expect(139001, "河北省", NULL, "武安市", 1988, 1994);
}

static void test_names_as_of_last_year(void **state)
{
    (void)state;
    /* 安阳市's code was last listed in 1983, when its prefecture code 412100
     * was already gone; the prefecture is named as last listed (1982). */
    expect(412101, "河南省", "安阳地区", "安阳市", 1980, 1983);
    /* The 1982 list has this code twice; the second row is a misplaced
     * Foshan county, the first (韶关地区's 始兴县) is kept. */
    expect(442621, "广东省", "韶关地区", "始兴县", 1980, 1982);
}

static void test_province_and_city_levels(void **state)
{
    (void)state;
    expect(110000, "北京市", NULL, NULL, 1980, 0);
    expect(500000, "重庆市", NULL, NULL, 1997, 0);
    expect(510000, "四川省", NULL, NULL, 1980, 0);
    expect(130100, "河北省", "石家庄市", NULL, 1980, 0);
}

static void test_counties_directly_under_province(void **state)
{
    (void)state;
    expect(419001, "河南省", NULL, "济源市", 1986, 0);
    expect(429004, "湖北省", NULL, "仙桃市", 1994, 0);
    expect(659001, "新疆维吾尔自治区", NULL, "石河子市", 1985, 0);
    /* Hainan's counties under the province in the 1990s (middle digits 00). */
    expect(460001, "海南省", NULL, "五指山市", 1988, 2002);
    /* The grouping entry itself names no city. */
    expect(419000, "河南省", NULL, NULL, 2022, 0);
}

static void test_sar_and_taiwan_codes(void **state)
{
    (void)state;
    expect(810000, "香港特别行政区", NULL, NULL, 2013, 0);
    expect(820000, "澳门特别行政区", NULL, NULL, 2013, 0);
    expect(810001, "香港特别行政区", NULL, "中西区", 2022, 0);
    expect(710000, "台湾省", NULL, NULL, 2022, 0);
}

static void test_unknown_code_in_known_province(void **state)
{
    (void)state;
    sm_region r = look(130199, false);
    assert_name(r.province, "河北省");
    assert_name(r.city, "石家庄市");
    assert_name(r.county, NULL);
    assert_int_equal(r.first_year, 0);
    assert_int_equal(r.last_year, 0);
    assert_false(r.historical);

    r = look(110199, false);
    assert_name(r.province, "北京市");
    assert_name(r.city, "北京市"); /* a municipality is its own city */
    assert_name(r.county, NULL);

    r = look(139999, false); /* unknown city code too */
    assert_name(r.province, "河北省");
    assert_name(r.city, NULL);

    r = look(419099, false); /* under the province-direct grouping */
    assert_name(r.province, "河南省");
    assert_name(r.city, NULL);
}

static void test_unknown_province(void **state)
{
    (void)state;
    const uint32_t codes[] = {990101, 100000, 0, 200101, 900000, 1000000, 4294967295u};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        sm_region r = look(codes[i], false);
        assert_name(r.province, NULL);
        assert_name(r.city, NULL);
        assert_name(r.county, NULL);
    }
}

static void test_province_exists(void **state)
{
    (void)state;
    assert_true(sm_region_province_exists(110105));
    assert_true(sm_region_province_exists(110000));
    assert_true(sm_region_province_exists(650000));
    assert_true(sm_region_province_exists(710000));
    assert_true(sm_region_province_exists(810000));
    assert_true(sm_region_province_exists(820000));
    assert_false(sm_region_province_exists(990101));
    assert_false(sm_region_province_exists(100000));
    assert_false(sm_region_province_exists(200000));
    assert_false(sm_region_province_exists(0));
    assert_false(sm_region_province_exists(1100000)); /* seven digits */
}

static void test_null_out_is_allowed(void **state)
{
    (void)state;
    assert_true(sm_region_lookup(110105, NULL));
    assert_false(sm_region_lookup(110199, NULL));
}

/* Every six-digit code: the count of known ones matches the table size, and
 * each known one is shaped the way the contract promises. */
static void test_whole_table_is_consistent(void **state)
{
    (void)state;
    size_t known = 0, historical = 0;
    for (uint32_t code = 0; code <= 999999u; code++) {
        sm_region r;
        if (!sm_region_lookup(code, &r)) {
            assert_false(r.historical);
            if (!sm_region_province_exists(code))
                assert_null(r.province);
            continue;
        }
        known++;
        assert_true(sm_region_province_exists(code));
        assert_non_null(r.province);
        assert_true(r.first_year >= 1980 && r.first_year <= 2022);
        assert_true(r.last_year == 0 || (r.last_year >= r.first_year && r.last_year <= 2020));
        assert_int_equal(r.historical, r.last_year != 0);
        if (code % 10000 == 0) {
            assert_null(r.city);
            assert_null(r.county);
        } else if (code % 100 == 0) {
            assert_null(r.county);
        } else {
            assert_non_null(r.county);
        }
        uint32_t prov = code / 10000;
        if ((prov == 11 || prov == 12 || prov == 31 || prov == 50) && code % 10000 != 0)
            assert_string_equal(r.city, r.province);
        if (r.historical)
            historical++;
    }
    assert_int_equal(known, sm_region_count());
    assert_true(historical > 3000);
    assert_true(known - historical > 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_year_and_count),
        cmocka_unit_test(test_current_county_in_municipality),
        cmocka_unit_test(test_historical_county),
        cmocka_unit_test(test_names_as_of_last_year),
        cmocka_unit_test(test_province_and_city_levels),
        cmocka_unit_test(test_counties_directly_under_province),
        cmocka_unit_test(test_sar_and_taiwan_codes),
        cmocka_unit_test(test_unknown_code_in_known_province),
        cmocka_unit_test(test_unknown_province),
        cmocka_unit_test(test_province_exists),
        cmocka_unit_test(test_null_out_is_allowed),
        cmocka_unit_test(test_whole_table_is_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
