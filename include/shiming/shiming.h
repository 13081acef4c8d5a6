/*
 * shiming.h — the public contract of libshiming, the identity core.
 *
 * Pure functions over caller-supplied memory: no I/O, no allocation, no global
 * mutable state, no locale dependence. Every function here is thread-safe and
 * reentrant. Inputs are (pointer, length) pairs and need not be NUL-terminated;
 * outputs are caller-owned structs. Static strings returned (names, reason
 * codes) live for the life of the program and must not be freed.
 *
 * What it decides: whether an ID number (GB 11643-1999) is well-formed and what
 * it says (region per GB/T 2260, birth date, sex, age); whether a personal
 * name is acceptable and its normal form; whether a card's validity period is
 * lawful; how to mask identities for logs; the verdict vocabulary shared by
 * every API dialect. It never consults a registry: "valid" here means
 * "could have been issued", not "was issued to this person".
 */
#ifndef SHIMING_H
#define SHIMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHIMING_VERSION "0.1.0"

/* ------------------------------------------------------------------ dates */

/* A calendar date (proleptic Gregorian). {0,0,0} means "none". */
typedef struct {
    int16_t year;
    int8_t month; /* 1..12 */
    int8_t day;   /* 1..31 */
} sm_date;

/* True if y-m-d is a real calendar date with 1 <= year <= 9999. */
bool sm_date_is_valid(int year, int month, int day);

/* Parse exactly "YYYYMMDD" (8 ASCII digits) into a real date. */
bool sm_date_parse_compact(const char *s, size_t len, sm_date *out);

/* Parse exactly "YYYY-MM-DD" into a real date. */
bool sm_date_parse_iso(const char *s, size_t len, sm_date *out);

/* -1, 0, 1 as a is before, equal to, after b. */
int sm_date_cmp(sm_date a, sm_date b);

/* Whole years from `birth` to `at` (birthday counts on the day itself; a
 * 29 February birthday is reached on 1 March in common years). Negative if
 * `at` is before `birth`. */
int sm_age_at(sm_date birth, sm_date at);

/* Same month/day `years` later; 29 February becomes 28 February in a common
 * year (the rule the card law's validity periods use). */
sm_date sm_date_add_years(sm_date d, int years);

/* Today's date in UTC+8 (China Standard Time), from the system clock: the
 * default reference date. The only function here that reads the clock. */
sm_date sm_date_today(void);

/* Writes "YYYYMMDD\0" (9 bytes) or "YYYY-MM-DD\0" (11 bytes). */
void sm_date_format_compact(sm_date d, char out[9]);
void sm_date_format_iso(sm_date d, char out[11]);

/* ------------------------------------------------------------ region codes */

/* A GB/T 2260 administrative division, as of the last year its code was
 * published. Names are NULL where a level does not apply (a province-level
 * code has no city or county; a county directly under a province has no
 * city). For a municipality (北京, 天津, 上海, 重庆) the city is the
 * municipality itself. */
typedef struct {
    uint32_t code;          /* six digits, e.g. 110105 */
    const char *province;   /* "北京市" */
    const char *city;       /* "北京市", "淮南市", or NULL */
    const char *county;     /* "朝阳区", or NULL */
    uint16_t first_year;    /* first year the code was published */
    uint16_t last_year;     /* last year it was published; 0 while current */
    bool known;             /* the code itself is in some published list */
    bool historical;        /* known, but not in the current list */
} sm_region;

/* Look up a six-digit code. Returns true if the code is known (published in
 * some year, 1980..current). Returns false otherwise, still filling what can
 * be told: `province` (and `city`) when those levels are known, known=false. */
bool sm_region_lookup(uint32_t code, sm_region *out);

/* True if the two-digit province of `code` was ever published. */
bool sm_region_province_exists(uint32_t code);

/* Number of distinct codes in the compiled-in table (for diagnostics). */
size_t sm_region_count(void);

/* The year of the current list (e.g. 2022) the table was generated from. */
int sm_region_current_year(void);

/* ------------------------------------------------------------- ID numbers */

typedef enum {
    SM_ID_OK = 0,
    SM_ID_ERR_LENGTH,     /* not 15 or 18 characters (after trimming spaces) */
    SM_ID_ERR_CHARACTERS, /* non-digit, or X anywhere but the 18th place */
    SM_ID_ERR_REGION,     /* unknown province, or unknown code under --strict */
    SM_ID_ERR_BIRTH_DATE, /* not a real date, before 1900-01-01, after `at` */
    SM_ID_ERR_CHECKSUM,   /* ISO 7064 MOD 11-2 check character is wrong */
} sm_id_status;

typedef enum {
    SM_ID_KIND_RESIDENT = 0,     /* mainland resident identity card */
    SM_ID_KIND_HK_PERMIT,        /* 810000…: Hong Kong residents' residence permit */
    SM_ID_KIND_MACAO_PERMIT,     /* 820000…: Macao residents' residence permit */
    SM_ID_KIND_TAIWAN_PERMIT,    /* 830000…: Taiwan residents' residence permit */
} sm_id_kind;

typedef struct {
    sm_date at;  /* reference date for "not in the future" and age; {0} = today */
    bool strict; /* unknown region codes are invalid (reason region) */
} sm_id_options;

typedef struct {
    char id18[19];         /* normalised 18-character number, 'X' upper-case */
    bool from_15;          /* the input was a first-generation 15-digit number */
    sm_id_kind kind;
    sm_region region;
    sm_date birth;
    char sex;              /* 'M' (odd sequence) or 'F' (even) */
    int age;               /* whole years at the reference date */
} sm_id_info;

/* Validate and decode an ID number. `s` may carry leading/trailing ASCII
 * spaces; a lower-case 'x' check character is accepted and normalised.
 * Checks, in order: length, characters, birth date, region, checksum (the
 * first failure is reported). `opt` may be NULL (today, lenient). On
 * SM_ID_OK `out` is fully filled; otherwise its contents are unspecified.
 *
 * Hot path: no allocation, no locale, no clock read when opt->at is set. */
sm_id_status sm_id_parse(const char *s, size_t len, const sm_id_options *opt,
                         sm_id_info *out);

/* Stable reason code: NULL for SM_ID_OK, else "length", "characters",
 * "region", "birth_date", "checksum". */
const char *sm_id_status_code(sm_id_status st);

/* One-sentence English explanation of a status, for people. */
const char *sm_id_status_message(sm_id_status st);

/* "resident", "hk_resident_permit", "macao_resident_permit",
 * "taiwan_resident_permit". */
const char *sm_id_kind_code(sm_id_kind k);

/* The ISO 7064 MOD 11-2 check character ('0'..'9' or 'X') of 17 digits. */
char sm_id_check_char(const char digits17[17]);

/* ------------------------------------------------------------------ UTF-8 */

/* Decode one code point from s[0..len). Strict: overlong forms, surrogates,
 * values above U+10FFFF and truncated sequences are invalid. Returns the
 * bytes consumed (1..4) and stores the code point, or 0 if the bytes at s do
 * not start a valid sequence (or len is 0). */
size_t sm_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* ------------------------------------------------------------------ names */

/* Longest accepted names, in characters (code points) after normalisation.
 * Han: the resident card's chip stores the name in 30 bytes of UCS-2, i.e.
 * 15 characters (the middle dot counts). Latin (foreign permanent residents):
 * the permanent residence card's English-name field holds 120 characters. */
#define SM_NAME_MAX_HAN 15
#define SM_NAME_MAX_LATIN 120
/* Enough for any accepted name in UTF-8, plus the NUL. */
#define SM_NAME_BUF (SM_NAME_MAX_LATIN * 4 + 1)

typedef enum {
    SM_NAME_OK = 0,
    SM_NAME_ERR_EMPTY,      /* nothing left after trimming */
    SM_NAME_ERR_ENCODING,   /* not valid UTF-8 (overlong, surrogate, truncated…) */
    SM_NAME_ERR_CONTROL,    /* a control or format character (C0, C1, DEL, ZW…) */
    SM_NAME_ERR_CHARACTERS, /* a character no name of either kind may hold */
    SM_NAME_ERR_MIXED,      /* Han and Latin letters in one name */
    SM_NAME_ERR_DOT,        /* middle dot leading, trailing or doubled */
    SM_NAME_ERR_TOO_SHORT,  /* fewer than 2 Han characters */
    SM_NAME_ERR_TOO_LONG,   /* over SM_NAME_MAX_HAN / SM_NAME_MAX_LATIN */
} sm_name_status;

typedef enum {
    SM_NAME_KIND_HAN = 0,   /* Han characters, optionally with middle dots */
    SM_NAME_KIND_LATIN,     /* A-Z, spaces and commas */
} sm_name_kind;

typedef struct {
    char text[SM_NAME_BUF]; /* the normalised name, UTF-8, NUL-terminated */
    size_t len;             /* bytes in text, without the NUL */
    size_t chars;           /* code points in text */
    sm_name_kind kind;
} sm_name;

/* Validate and normalise a personal name: strict UTF-8; trims ASCII and
 * ideographic (U+3000) spaces at both ends; look-alike dots become U+00B7;
 * Latin names are upper-cased with runs of spaces collapsed. On SM_NAME_OK
 * `out` is filled; otherwise its contents are unspecified. */
sm_name_status sm_name_normalise(const char *s, size_t len, sm_name *out);

/* NULL for SM_NAME_OK, else "empty", "encoding", "control", "characters",
 * "mixed_script", "dot", "too_short", "too_long". */
const char *sm_name_status_code(sm_name_status st);
const char *sm_name_status_message(sm_name_status st);
const char *sm_name_kind_code(sm_name_kind k); /* "han", "latin" */

/* ------------------------------------------------------- validity periods */

typedef enum {
    SM_PERIOD_OK = 0,
    SM_PERIOD_ERR_FORMAT,            /* not YYYYMMDD / 00000000 / 长期, or no such date */
    SM_PERIOD_ERR_BEGIN_LONG_TERM,   /* the begin date cannot be long-term */
    SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH,
    SM_PERIOD_ERR_BEGIN_IN_FUTURE,   /* begins after the reference date */
    SM_PERIOD_ERR_END_BEFORE_BEGIN,
    SM_PERIOD_ERR_DURATION,          /* not begin + 5, 10 or 20 years, nor long-term */
} sm_period_status;

typedef struct {
    sm_date begin;
    sm_date end;            /* {0} when long_term */
    bool long_term;
    int years;              /* 5, 10, 20, or 0 for long-term (when OK) */
    /* These four only when a birth date was given: */
    bool age_known;
    int age_at_issue;       /* whole years at `begin` */
    int expected_years;     /* what the law gives at that age; 0 = long-term */
    bool consistent_with_age;
    bool expired;           /* end is before the reference date (always) */
} sm_period;

/* Check a card's validity period. `begin`/`end` are "YYYYMMDD", and `end`
 * may also be "00000000" or "长期" (long-term). `birth` may be NULL (age rules
 * then not applied); `at` may be NULL (today).
 *
 * Law (Resident Identity Card Law, art. 5): age at issue under 16 → 5 years;
 * 16–25 → 10; 26–45 → 20; 46 and over → long-term. end = begin + N years on
 * the same month and day (29 Feb → 28 Feb). Checks, in order: the begin
 * date (begin_long_term or format), the end date (format),
 * begin_before_birth, begin_in_future, end_before_begin, duration. `out` (may be NULL) is always written: on failure it holds what
 * was established before the failing check, other fields zero (validity.c
 * lists which); years and consistent_with_age are set only on SM_PERIOD_OK. */
sm_period_status sm_period_check(const char *begin, size_t begin_len,
                                 const char *end, size_t end_len,
                                 const sm_date *birth, const sm_date *at,
                                 sm_period *out);

/* The law's period in years for an age at issue; 0 = long-term. */
int sm_period_years_for_age(int age_at_issue);

/* NULL for SM_PERIOD_OK, else "format", "begin_long_term",
 * "begin_before_birth", "begin_in_future", "end_before_begin", "duration". */
const char *sm_period_status_code(sm_period_status st);
const char *sm_period_status_message(sm_period_status st);

/* ---------------------------------------------------------------- masking */

/* Masks for logs and audit rows. Each writes a NUL-terminated string into
 * `out` (capacity `cap`, truncated safely if too small) and returns the
 * bytes written without the NUL.
 *   ID number: first 3 and last 4 kept:   110***********002X
 *   Han name:  first character kept, every other character but the dot
 *              masked: 张*, 欧***, 阿**·***
 *   Latin name: first letter kept, other letters masked: Z*** ***
 * Input need not be valid; invalid bytes are masked, never echoed. */
size_t sm_mask_id(const char *s, size_t len, char *out, size_t cap);
size_t sm_mask_name(const char *s, size_t len, char *out, size_t cap);

/* --------------------------------------------------------------- verdicts */

/* The one outcome vocabulary every API dialect maps from. Numbering is
 * stable (stored in audit rows); add new values at the end only. */
typedef enum {
    SM_VERDICT_MATCH = 0,         /* the registry holds exactly this identity */
    SM_VERDICT_MISMATCH,          /* the number exists, the rest does not match */
    SM_VERDICT_NOT_FOUND,         /* no such number in the registry */
    SM_VERDICT_INVALID_ID,        /* the number cannot exist (see sm_id_status) */
    SM_VERDICT_INVALID_NAME,      /* the name cannot exist (see sm_name_status) */
    SM_VERDICT_INVALID_PERIOD,    /* the validity period cannot exist */
    SM_VERDICT_REGISTRY_UNAVAILABLE,
    SM_VERDICT_INVALID_IMAGE,     /* image unreadable or unusable */
    SM_VERDICT_NO_FACE,           /* no face found where one was needed */
    SM_VERDICT_NOT_LIVE,          /* liveness check failed */
    SM_VERDICT_READ,              /* a document image was read (OCR); no registry involved */
    SM_VERDICT__COUNT
} sm_verdict;

/* Stable snake_case name ("match", "invalid_id", …); NULL if out of range. */
const char *sm_verdict_code(sm_verdict v);

/* Inverse of sm_verdict_code; false if unknown. */
bool sm_verdict_from_code(const char *code, sm_verdict *out);

#ifdef __cplusplus
}
#endif

#endif /* SHIMING_H */
