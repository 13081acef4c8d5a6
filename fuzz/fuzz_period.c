/*
 * fuzz_period.c — libFuzzer target for sm_period_check.
 *
 * Input: "BEGIN|END[|BIRTH[|AT]]" split at '|' bytes (BIRTH and AT as
 * YYYYMMDD; a fixed reference date when AT is absent, so runs are
 * reproducible). Each input is checked without and with a birth date, and
 * the answers must agree with each other and with the law: an accepted
 * period is 5, 10 or 20 years to the day (29 Feb → 28 Feb) or long-term,
 * begins no later than the reference date, and the age fields follow
 * sm_period_years_for_age. Must never hide a violation: every broken
 * invariant aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shiming/shiming.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void check_ok(const sm_period *p, const sm_date *at)
{
    CHECK(sm_date_is_valid(p->begin.year, p->begin.month, p->begin.day));
    CHECK(sm_date_cmp(p->begin, *at) <= 0);
    if (p->long_term) {
        CHECK(p->years == 0);
        CHECK(p->end.year == 0 && p->end.month == 0 && p->end.day == 0);
        CHECK(!p->expired);
    } else {
        CHECK(p->years == 5 || p->years == 10 || p->years == 20);
        CHECK(sm_date_cmp(sm_date_add_years(p->begin, p->years), p->end) == 0);
        CHECK(p->expired == (sm_date_cmp(p->end, *at) < 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Heap copy, so that a read past a field's length is an ASan error. */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    if (size)
        memcpy(s, data, size);

    const char *field[4] = {s, NULL, NULL, NULL};
    size_t flen[4] = {size, 0, 0, 0};
    size_t nf = 1;
    for (size_t i = 0; i < size && nf < 4; i++) {
        if (s[i] == '|') {
            flen[nf - 1] = (size_t)(s + i - field[nf - 1]);
            field[nf] = s + i + 1;
            flen[nf] = size - i - 1;
            nf++;
        }
    }

    sm_date at = {2024, 6, 1};
    if (nf >= 4)
        sm_date_parse_compact(field[3], flen[3], &at); /* else keep the fixed one */
    sm_date birth = {1990, 2, 28};
    if (nf >= 3)
        sm_date_parse_compact(field[2], flen[2], &birth); /* else the fixed one */

    sm_period a, b;
    sm_period_status sa = sm_period_check(field[0], flen[0], field[1], flen[1],
                                          NULL, &at, &a);
    sm_period_status sb = sm_period_check(field[0], flen[0], field[1], flen[1],
                                          &birth, &at, &b);
    CHECK(sa >= SM_PERIOD_OK && sa <= SM_PERIOD_ERR_DURATION);
    CHECK(sb >= SM_PERIOD_OK && sb <= SM_PERIOD_ERR_DURATION);
    CHECK((sa == SM_PERIOD_OK) == (sm_period_status_code(sa) == NULL));
    CHECK(sm_period_status_message(sa) != NULL);
    CHECK(sm_period_status_message(sb) != NULL);

    /* The birth date can only add the begin_before_birth refusal. */
    if (sb != SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH)
        CHECK(sa == sb);
    else
        CHECK(sa != SM_PERIOD_ERR_FORMAT && sa != SM_PERIOD_ERR_BEGIN_LONG_TERM &&
              sm_date_cmp(a.begin, birth) < 0);

    CHECK(!a.age_known);
    if (sa == SM_PERIOD_OK)
        check_ok(&a, &at);
    if (sb == SM_PERIOD_OK) {
        check_ok(&b, &at);
        CHECK(memcmp(&a.begin, &b.begin, sizeof a.begin) == 0);
        CHECK(a.years == b.years && a.long_term == b.long_term);
        CHECK(b.age_known);
        CHECK(b.age_at_issue == sm_age_at(birth, b.begin));
        CHECK(b.age_at_issue >= 0);
        CHECK(b.expected_years == sm_period_years_for_age(b.age_at_issue));
        CHECK(b.consistent_with_age == (b.years == b.expected_years));
    }
    if (sa == SM_PERIOD_ERR_FORMAT || sa == SM_PERIOD_ERR_BEGIN_LONG_TERM)
        CHECK(a.begin.year == 0 && !a.long_term && !a.expired);

    /* Also with today's date, for the clock path (no invariant on it but
     * that it is one of the statuses). */
    sm_period c;
    sm_period_status sc = sm_period_check(field[0], flen[0], field[1], flen[1],
                                          NULL, NULL, &c);
    CHECK(sc >= SM_PERIOD_OK && sc <= SM_PERIOD_ERR_DURATION);

    free(s);
    return 0;
}
