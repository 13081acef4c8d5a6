/*
 * validity.c — checks a resident identity card's validity period
 * (sm_period_*) against the Resident Identity Card Law, art. 5.
 *
 * A period is lawful when it begins on a real date no later than the
 * reference date (and not before the holder's birth, when known), and ends
 * exactly 5, 10 or 20 years later on the same month and day, or is
 * long-term. Given a birth date it also says whether the length matches
 * what the law grants at the age of issue: a mismatch is reported, not
 * rejected, because cards issued early or replaced keep their original
 * period and the registry, not this function, is the authority.
 *
 * Must never: allocate, do I/O, consult the locale, read past the given
 * lengths, or read the clock except through sm_date_today() when `at` is not
 * given.
 *
 * What `out` holds on failure (it is always fully written; fields not known
 * are zero / false):
 *  - format, begin_long_term: nothing but zeros.
 *  - every later reason: begin, end and long_term as parsed, and expired.
 *  - begin_in_future, end_before_begin, duration: when a birth date was
 *    given, also age_known, age_at_issue and expected_years.
 *  - years and consistent_with_age: only on SM_PERIOD_OK.
 * A birth date (or `at`) of {0,0,0}, or one that is not a real date, counts
 * as not given.
 */
#include "shiming/shiming.h"

#include <string.h>

/* "长期" (long-term) in UTF-8. */
static const char long_term_zh[] = "\xe9\x95\xbf\xe6\x9c\x9f";

static bool is_long_term(const char *s, size_t len)
{
    if (s == NULL)
        return false;
    if (len == 8 && memcmp(s, "00000000", 8) == 0)
        return true;
    return len == sizeof long_term_zh - 1 &&
           memcmp(s, long_term_zh, sizeof long_term_zh - 1) == 0;
}

static bool date_given(const sm_date *d)
{
    return d != NULL && sm_date_is_valid(d->year, d->month, d->day);
}

sm_period_status sm_period_check(const char *begin, size_t begin_len,
                                 const char *end, size_t end_len,
                                 const sm_date *birth, const sm_date *at,
                                 sm_period *out)
{
    sm_period r;
    memset(&r, 0, sizeof r);
    sm_period_status st = SM_PERIOD_OK;

    if (is_long_term(begin, begin_len)) {
        st = SM_PERIOD_ERR_BEGIN_LONG_TERM;
        goto done;
    }
    if (begin == NULL || !sm_date_parse_compact(begin, begin_len, &r.begin)) {
        memset(&r, 0, sizeof r);
        st = SM_PERIOD_ERR_FORMAT;
        goto done;
    }
    if (is_long_term(end, end_len)) {
        r.long_term = true;
    } else if (end == NULL || !sm_date_parse_compact(end, end_len, &r.end)) {
        memset(&r, 0, sizeof r);
        st = SM_PERIOD_ERR_FORMAT;
        goto done;
    }

    sm_date ref = date_given(at) ? *at : sm_date_today();
    r.expired = !r.long_term && sm_date_cmp(r.end, ref) < 0;

    if (date_given(birth)) {
        if (sm_date_cmp(r.begin, *birth) < 0) {
            st = SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH;
            goto done;
        }
        r.age_known = true;
        r.age_at_issue = sm_age_at(*birth, r.begin);
        r.expected_years = sm_period_years_for_age(r.age_at_issue);
    }

    if (sm_date_cmp(r.begin, ref) > 0) {
        st = SM_PERIOD_ERR_BEGIN_IN_FUTURE;
        goto done;
    }
    if (!r.long_term && sm_date_cmp(r.end, r.begin) < 0) {
        st = SM_PERIOD_ERR_END_BEFORE_BEGIN;
        goto done;
    }
    if (!r.long_term) {
        static const int lawful[] = {5, 10, 20};
        for (size_t i = 0; i < sizeof lawful / sizeof lawful[0]; i++) {
            if (sm_date_cmp(sm_date_add_years(r.begin, lawful[i]), r.end) == 0) {
                r.years = lawful[i];
                break;
            }
        }
        if (r.years == 0) {
            st = SM_PERIOD_ERR_DURATION;
            goto done;
        }
    }
    if (r.age_known)
        r.consistent_with_age = r.years == r.expected_years;

done:
    if (out)
        memcpy(out, &r, sizeof r); /* padding too: no stale caller bytes */
    return st;
}

int sm_period_years_for_age(int age_at_issue)
{
    if (age_at_issue < 16)
        return 5;
    if (age_at_issue <= 25)
        return 10;
    if (age_at_issue <= 45)
        return 20;
    return 0;
}

const char *sm_period_status_code(sm_period_status st)
{
    switch (st) {
    case SM_PERIOD_OK: return NULL;
    case SM_PERIOD_ERR_FORMAT: return "format";
    case SM_PERIOD_ERR_BEGIN_LONG_TERM: return "begin_long_term";
    case SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH: return "begin_before_birth";
    case SM_PERIOD_ERR_BEGIN_IN_FUTURE: return "begin_in_future";
    case SM_PERIOD_ERR_END_BEFORE_BEGIN: return "end_before_begin";
    case SM_PERIOD_ERR_DURATION: return "duration";
    }
    return NULL;
}

const char *sm_period_status_message(sm_period_status st)
{
    switch (st) {
    case SM_PERIOD_OK:
        return "The validity period is lawful.";
    case SM_PERIOD_ERR_FORMAT:
        return "Dates must be YYYYMMDD real dates; the end may also be "
               "00000000 or 长期 (long-term).";
    case SM_PERIOD_ERR_BEGIN_LONG_TERM:
        return "The start of a validity period must be a date, not long-term.";
    case SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH:
        return "The validity period starts before the holder was born.";
    case SM_PERIOD_ERR_BEGIN_IN_FUTURE:
        return "The validity period starts after the reference date.";
    case SM_PERIOD_ERR_END_BEFORE_BEGIN:
        return "The validity period ends before it starts.";
    case SM_PERIOD_ERR_DURATION:
        return "A card is valid for 5, 10 or 20 years to the same month and "
               "day, or long-term.";
    }
    return "Unknown validity-period status.";
}
