/*
 * date.c — calendar dates for the identity core: validity, parsing, ordering,
 * ages, anniversaries, formatting.
 *
 * Must never: touch the locale, allocate, call strftime/mktime/localtime
 * (their results depend on TZ and locale), or read the clock anywhere except
 * sm_date_today().
 */
#include "shiming/shiming.h"

#include <time.h>

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int8_t dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m];
}

bool sm_date_is_valid(int year, int month, int day)
{
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1)
        return false;
    return day <= days_in_month(year, month);
}

/* Callers guarantee `s` holds `n` bytes; returns -1 on any non-digit. */
static int digits_value(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    return v;
}

static bool make_date(int y, int m, int d, sm_date *out)
{
    if (y < 0 || m < 0 || d < 0 || !sm_date_is_valid(y, m, d))
        return false;
    if (out) {
        out->year = (int16_t)y;
        out->month = (int8_t)m;
        out->day = (int8_t)d;
    }
    return true;
}

bool sm_date_parse_compact(const char *s, size_t len, sm_date *out)
{
    if (!s || len != 8)
        return false;
    return make_date(digits_value(s, 4), digits_value(s + 4, 2), digits_value(s + 6, 2), out);
}

bool sm_date_parse_iso(const char *s, size_t len, sm_date *out)
{
    if (!s || len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    return make_date(digits_value(s, 4), digits_value(s + 5, 2), digits_value(s + 8, 2), out);
}

int sm_date_cmp(sm_date a, sm_date b)
{
    int32_t ka = (int32_t)a.year * 512 + a.month * 32 + a.day;
    int32_t kb = (int32_t)b.year * 512 + b.month * 32 + b.day;
    return (ka > kb) - (ka < kb);
}

int sm_age_at(sm_date birth, sm_date at)
{
    /* Comparing (month, day) pairs makes a 29 February birthday count as
     * reached on 1 March of a common year: (2,28) is still before (2,29). */
    int age = at.year - birth.year;
    if (at.month < birth.month || (at.month == birth.month && at.day < birth.day))
        age--;
    return age;
}

sm_date sm_date_add_years(sm_date d, int years)
{
    sm_date none = {0, 0, 0};
    if (!sm_date_is_valid(d.year, d.month, d.day))
        return none;
    if (years > 9999 || years < -9999)
        return none;
    int y = d.year + years;
    if (y < 1 || y > 9999)
        return none; /* no representable anniversary: report "none" */
    sm_date r = {(int16_t)y, d.month, d.day};
    if (r.month == 2 && r.day == 29 && !is_leap(y))
        r.day = 28;
    return r;
}

/* Howard Hinnant's days-to-civil algorithm: exact for any day count, needs no
 * library call, hence no TZ or locale influence. */
static sm_date civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

sm_date sm_date_today(void)
{
    /* The only clock read in the core. China Standard Time is UTC+8 all year
     * (no daylight saving), so a fixed offset is exact. */
    int64_t t = (int64_t)time(NULL) + 8 * 3600;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    return civil_from_days(days);
}

static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Out-of-range fields print as zeros rather than as garbage or a minus sign,
 * so the output is always exactly the promised width. */
static void clamp_fields(sm_date d, int *y, int *m, int *dd)
{
    *y = d.year >= 0 && d.year <= 9999 ? d.year : 0;
    *m = d.month >= 0 && d.month <= 99 ? d.month : 0;
    *dd = d.day >= 0 && d.day <= 99 ? d.day : 0;
}

void sm_date_format_compact(sm_date d, char out[9])
{
    int y, m, dd;
    clamp_fields(d, &y, &m, &dd);
    put_digits(out, y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, dd, 2);
    out[8] = '\0';
}

void sm_date_format_iso(sm_date d, char out[11])
{
    int y, m, dd;
    clamp_fields(d, &y, &m, &dd);
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, dd, 2);
    out[10] = '\0';
}
