/*
 * fuzz_idnum.c — libFuzzer target for sm_id_parse (and the date parsers it
 * leans on): any byte string, lenient and strict, with a fixed reference
 * date, checking the invariants a caller relies on.
 *
 * Must never: read the clock (the reference date is fixed so that a crash
 * reproduces), keep state between inputs, or pad the input (libFuzzer's
 * exact-size buffer is what lets ASan catch a read past `len`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shiming/shiming.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                       \
        }                                                                  \
    } while (0)

static const sm_date AT = {2024, 6, 1};

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void check_ok(const char *s, size_t size, bool strict, const sm_id_info *info)
{
    /* What was parsed: the input without its leading/trailing spaces. */
    size_t lo = 0, hi = size;
    while (lo < hi && s[lo] == ' ')
        lo++;
    while (hi > lo && s[hi - 1] == ' ')
        hi--;
    size_t n = hi - lo;
    CHECK(n == 15 || n == 18);
    CHECK(info->from_15 == (n == 15));

    CHECK(memchr(info->id18, '\0', sizeof info->id18) == info->id18 + 18);
    for (int i = 0; i < 17; i++)
        CHECK(info->id18[i] >= '0' && info->id18[i] <= '9');
    CHECK(info->id18[17] == sm_id_check_char(info->id18));
    if (n == 18) {
        CHECK(memcmp(info->id18, s + lo, 17) == 0);
        CHECK(info->id18[17] == s[lo + 17] || (info->id18[17] == 'X' && s[lo + 17] == 'x'));
    } else {
        CHECK(memcmp(info->id18, s + lo, 6) == 0);
        CHECK(memcmp(info->id18 + 6, "19", 2) == 0);
        CHECK(memcmp(info->id18 + 8, s + lo + 6, 9) == 0);
    }

    sm_date b = info->birth;
    CHECK(sm_date_is_valid(b.year, b.month, b.day));
    CHECK(b.year >= 1900);
    CHECK(sm_date_cmp(b, AT) <= 0);
    sm_date from_digits;
    CHECK(sm_date_parse_compact(info->id18 + 6, 8, &from_digits));
    CHECK(sm_date_cmp(from_digits, b) == 0);
    CHECK(info->age == sm_age_at(b, AT));
    CHECK(info->age >= 0 && info->age <= 124);
    CHECK(info->sex == (((info->id18[16] - '0') & 1) ? 'M' : 'F'));

    uint32_t code = 0;
    for (int i = 0; i < 6; i++)
        code = code * 10 + (uint32_t)(info->id18[i] - '0');
    CHECK(info->region.code == code);
    CHECK(info->region.province != NULL);
    CHECK(sm_region_province_exists(code));
    if (strict)
        CHECK(info->region.known);
    uint32_t prov = code / 10000;
    CHECK(prov != 71);
    switch (info->kind) {
    case SM_ID_KIND_RESIDENT:
        CHECK(prov != 81 && prov != 82 && prov != 83);
        break;
    case SM_ID_KIND_HK_PERMIT: CHECK(code == 810000 && n == 18); break;
    case SM_ID_KIND_MACAO_PERMIT: CHECK(code == 820000 && n == 18); break;
    case SM_ID_KIND_TAIWAN_PERMIT: CHECK(code == 830000 && n == 18); break;
    default: CHECK(!"kind out of range");
    }
    CHECK(sm_id_kind_code(info->kind) != NULL);
}

static void check_reparse(const sm_id_info *info, const sm_id_options *opt)
{
    /* The normalised number must stand on its own: same verdict, same facts. */
    char copy[18];
    memcpy(copy, info->id18, 18);
    sm_id_info again;
    CHECK(sm_id_parse(copy, 18, opt, &again) == SM_ID_OK);
    CHECK(memcmp(again.id18, info->id18, 19) == 0);
    CHECK(!again.from_15);
    CHECK(again.kind == info->kind);
    CHECK(sm_date_cmp(again.birth, info->birth) == 0);
    CHECK(again.sex == info->sex);
    CHECK(again.age == info->age);
    CHECK(again.region.code == info->region.code);
    CHECK(again.region.known == info->region.known);
    CHECK(again.region.historical == info->region.historical);
    CHECK(again.region.first_year == info->region.first_year);
    CHECK(again.region.last_year == info->region.last_year);
    CHECK(same_str(again.region.province, info->region.province));
    CHECK(same_str(again.region.city, info->region.city));
    CHECK(same_str(again.region.county, info->region.county));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const sm_id_options lenient = {AT, false};
    const sm_id_options strict = {AT, true};
    sm_id_info li, si;

    sm_id_status ls = sm_id_parse(s, size, &lenient, &li);
    sm_id_status ss = sm_id_parse(s, size, &strict, &si);
    CHECK(ls >= SM_ID_OK && ls <= SM_ID_ERR_CHECKSUM);
    CHECK(ss >= SM_ID_OK && ss <= SM_ID_ERR_CHECKSUM);
    CHECK((sm_id_status_code(ls) == NULL) == (ls == SM_ID_OK));
    CHECK(sm_id_status_message(ls) != NULL);

    /* Strict only ever adds region failures. */
    if (ls == SM_ID_OK)
        CHECK(ss == SM_ID_OK || ss == SM_ID_ERR_REGION);
    else
        CHECK(ss == ls || (ss == SM_ID_ERR_REGION && ls == SM_ID_ERR_CHECKSUM));
    if (ss == SM_ID_OK)
        CHECK(ls == SM_ID_OK);

    if (ls == SM_ID_OK) {
        check_ok(s, size, false, &li);
        check_reparse(&li, &lenient);
        /* The result does not depend on whether anyone wants it. */
        CHECK(sm_id_parse(s, size, &lenient, NULL) == SM_ID_OK);
    }
    if (ss == SM_ID_OK) {
        check_ok(s, size, true, &si);
        check_reparse(&si, &strict);
        CHECK(memcmp(si.id18, li.id18, sizeof si.id18) == 0);
    }

    /* The date parsers on the same bytes: accept only what they format back. */
    sm_date d;
    if (sm_date_parse_compact(s, size, &d)) {
        char buf[9];
        sm_date_format_compact(d, buf);
        CHECK(size == 8 && memcmp(buf, s, 8) == 0);
    }
    if (sm_date_parse_iso(s, size, &d)) {
        char buf[11];
        sm_date_format_iso(d, buf);
        CHECK(size == 10 && memcmp(buf, s, 10) == 0);
    }
    return 0;
}
