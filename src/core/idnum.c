/*
 * idnum.c — validation and decoding of resident ID numbers (GB 11643-1999)
 * and of the Hong Kong / Macao / Taiwan residents' residence permits that
 * share their format.
 *
 * Must never: read past `len`, allocate, touch the locale, read the clock
 * when the caller gave a reference date, or say "valid" for a number that
 * could not have been issued. This is the hottest path in the server (tens of
 * millions of calls a second in batch checks), so it is table lookups and
 * integer arithmetic only.
 */
#include "shiming/shiming.h"

#include <string.h>

/* ISO 7064 MOD 11-2 weights (2^(17-i) mod 11) and the check character for
 * each remainder. */
static const uint8_t WEIGHTS[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char CHECK_CHARS[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};

char sm_id_check_char(const char digits17[17])
{
    unsigned sum = 0;
    for (int i = 0; i < 17; i++)
        sum += ((unsigned)(unsigned char)digits17[i] - '0') * WEIGHTS[i];
    return CHECK_CHARS[sum % 11u];
}

static inline bool is_digit(char c)
{
    return (unsigned)(unsigned char)c - '0' <= 9u;
}

static inline int dig(char c)
{
    return (unsigned char)c - '0';
}

/* Orders dates like sm_date_cmp, without the call. */
static inline int32_t date_key(sm_date d)
{
    return (int32_t)d.year * 512 + d.month * 32 + d.day;
}

static inline bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Provinces whose codes appear in GB/T 2260 but never in a mainland resident
 * ID number. Hong Kong (81), Macao (82) and Taiwan (71, and 83 as some lists
 * spell it) residents get no resident card; since 2018 their residence
 * permits carry exactly 810000 / 820000 / 830000 and nothing else. So a
 * district code such as 810001 or any 71xxxx code in an ID number is a
 * fabrication: reason "region", in lenient and strict mode alike. And a
 * 15-digit (pre-2004) number cannot be a permit at all. */
static bool is_sar_or_taiwan(int prov)
{
    return prov == 71 || prov == 81 || prov == 82 || prov == 83;
}

static const char *const PERMIT_PROVINCE[] = {
    [SM_ID_KIND_HK_PERMIT] = "香港特别行政区",
    [SM_ID_KIND_MACAO_PERMIT] = "澳门特别行政区",
    [SM_ID_KIND_TAIWAN_PERMIT] = "台湾省",
};

static void fill_permit_region(uint32_t code, sm_id_kind kind, sm_region *r)
{
    /* The table may know the code under other spellings or years (the
     * 2013-2020 lists carry 830000 台湾省, the current one 710000); a permit
     * prefix is in use today whatever the lists say, hence the overrides. */
    sm_region_lookup(code, r);
    r->code = code;
    r->province = PERMIT_PROVINCE[kind];
    r->city = NULL;
    r->county = NULL;
    r->last_year = 0;
    r->known = true;
    r->historical = false;
}

sm_id_status sm_id_parse(const char *s, size_t len, const sm_id_options *opt,
                         sm_id_info *out)
{
    sm_id_info scratch;
    sm_id_info *o = out ? out : &scratch;

    if (!s)
        len = 0;
    while (len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len != 18 && len != 15)
        return SM_ID_ERR_LENGTH;

    /* Characters, building the 18-character form and the check sum as we
     * go. One branch for all 17 digits: the hot path is mispredictions. */
    char *id = o->id18;
    unsigned sum = 0;
    if (len == 18) {
        unsigned bad = 0;
        for (int i = 0; i < 17; i++) {
            unsigned d = (unsigned)(unsigned char)s[i] - '0';
            bad |= d > 9u;
            sum += d * WEIGHTS[i];
            id[i] = s[i];
        }
        if (bad)
            return SM_ID_ERR_CHARACTERS;
        char c = s[17];
        if (c == 'x')
            c = 'X';
        if (!is_digit(c) && c != 'X')
            return SM_ID_ERR_CHARACTERS;
        id[17] = c;
    } else {
        unsigned bad = 0;
        for (int i = 0; i < 15; i++)
            bad |= !is_digit(s[i]);
        if (bad)
            return SM_ID_ERR_CHARACTERS;
        /* First-generation numbers carry a two-digit year: all were issued
         * to people born in the 1900s (the cards date from 1984). */
        /* memmove, in this order: the input may be out->id18 itself. */
        memmove(id + 8, s + 6, 9);
        memmove(id, s, 6);
        id[6] = '1';
        id[7] = '9';
        for (int i = 0; i < 17; i++)
            sum += (unsigned)dig(id[i]) * WEIGHTS[i];
    }
    id[18] = '\0';

    /* Birth date. */
    int year = dig(id[6]) * 1000 + dig(id[7]) * 100 + dig(id[8]) * 10 + dig(id[9]);
    int month = dig(id[10]) * 10 + dig(id[11]);
    int day = dig(id[12]) * 10 + dig(id[13]);
    static const int8_t DIM[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1900 || month < 1 || month > 12 || day < 1 ||
        (day > DIM[month] && !(month == 2 && day == 29 && is_leap(year))))
        return SM_ID_ERR_BIRTH_DATE;
    sm_date birth = {(int16_t)year, (int8_t)month, (int8_t)day};
    sm_date at;
    if (opt && (opt->at.year | opt->at.month | opt->at.day) != 0)
        at = opt->at;
    else
        at = sm_date_today();
    if (date_key(birth) > date_key(at))
        return SM_ID_ERR_BIRTH_DATE;

    /* Region. */
    uint32_t code = (uint32_t)(dig(id[0]) * 100000 + dig(id[1]) * 10000 + dig(id[2]) * 1000 +
                               dig(id[3]) * 100 + dig(id[4]) * 10 + dig(id[5]));
    int prov = (int)(code / 10000u);
    sm_id_kind kind = SM_ID_KIND_RESIDENT;
    if (is_sar_or_taiwan(prov)) {
        if (len != 18 || code % 10000u != 0 || prov == 71)
            return SM_ID_ERR_REGION;
        kind = prov == 81 ? SM_ID_KIND_HK_PERMIT
             : prov == 82 ? SM_ID_KIND_MACAO_PERMIT
                          : SM_ID_KIND_TAIWAN_PERMIT;
        fill_permit_region(code, kind, &o->region);
    } else if (!sm_region_lookup(code, &o->region)) {
        /* Lenient by default: the lists have gaps (codes used locally before
         * publication), and refusing a live number costs more than accepting
         * a forged region the checksum did not catch. */
        if (!sm_region_province_exists(code) || (opt && opt->strict))
            return SM_ID_ERR_REGION;
    }

    /* Checksum (for a 15-digit number: compute the upgraded one). */
    char check = CHECK_CHARS[sum % 11u];
    if (len == 18) {
        if (check != id[17])
            return SM_ID_ERR_CHECKSUM;
    } else {
        id[17] = check;
    }

    o->from_15 = len == 15;
    o->kind = kind;
    o->birth = birth;
    o->sex = (dig(id[16]) & 1) ? 'M' : 'F';
    /* sm_age_at's rule, inlined: the birthday counts on the day itself, and
     * a 29 February birthday is reached on 1 March of a common year. */
    o->age = at.year - year - ((at.month * 32 + at.day) < (month * 32 + day));
    return SM_ID_OK;
}

const char *sm_id_status_code(sm_id_status st)
{
    switch (st) {
    case SM_ID_OK: return NULL;
    case SM_ID_ERR_LENGTH: return "length";
    case SM_ID_ERR_CHARACTERS: return "characters";
    case SM_ID_ERR_REGION: return "region";
    case SM_ID_ERR_BIRTH_DATE: return "birth_date";
    case SM_ID_ERR_CHECKSUM: return "checksum";
    }
    return NULL;
}

const char *sm_id_status_message(sm_id_status st)
{
    switch (st) {
    case SM_ID_OK:
        return "The ID number is well-formed.";
    case SM_ID_ERR_LENGTH:
        return "An ID number has 18 characters (or 15 digits for a first-generation card).";
    case SM_ID_ERR_CHARACTERS:
        return "An ID number holds only digits, with an X allowed as the last of 18 characters.";
    case SM_ID_ERR_REGION:
        return "The first six digits are not a region code any ID number was issued under.";
    case SM_ID_ERR_BIRTH_DATE:
        return "The birth date in the ID number is not a real date between 1900-01-01 and today.";
    case SM_ID_ERR_CHECKSUM:
        return "The check character does not match the other 17 digits; a digit is probably mistyped.";
    }
    return "Unknown ID number status.";
}

const char *sm_id_kind_code(sm_id_kind k)
{
    switch (k) {
    case SM_ID_KIND_RESIDENT: return "resident";
    case SM_ID_KIND_HK_PERMIT: return "hk_resident_permit";
    case SM_ID_KIND_MACAO_PERMIT: return "macao_resident_permit";
    case SM_ID_KIND_TAIWAN_PERMIT: return "taiwan_resident_permit";
    }
    return NULL;
}
