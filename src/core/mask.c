/*
 * mask.c — masks ID numbers and names for logs and audit rows (sm_mask_*).
 *
 * The output is what ends up in log files and audit tables, so it must reveal
 * no more than the documented characters, whatever the input: a mask is
 * built only from '*', ' ', ',', '·', ASCII digits and 'X' in the kept
 * places of an ID number, and the first character of a name when that is a
 * Han character or an ASCII letter. Anything else — invalid UTF-8, control
 * characters (log injection), bidi overrides — is masked, never echoed.
 *
 * Must never: allocate, do I/O, write past `cap`, leave `out` without a NUL
 * when cap > 0, or split a UTF-8 sequence when truncating.
 *
 * Decisions where the contract is silent:
 *  - Leading and trailing ASCII spaces (and, for names, U+3000) are trimmed
 *    first, as sm_id_parse and sm_name_normalise do, so the kept characters
 *    are the real first/last ones.
 *  - ID numbers: one '*' per input byte; a lower-case 'x' in a kept place is
 *    written 'X'; fewer than 15 bytes (shorter than any ID number) are
 *    masked entirely.
 *  - Names: one '*' per code point and one per invalid byte; only U+00B7 is
 *    kept as a dot (look-alike dots are masked like any other character);
 *    ASCII spaces and commas are kept; the first character is kept only if
 *    it is a Han character or an ASCII letter (as typed, not upper-cased).
 */
#include "shiming/shiming.h"
#include "core/unicode.h"

#include <string.h>

/* Appends whole pieces only; once one does not fit (room for the NUL is
 * always kept) nothing more is written, so truncation never splits a
 * character and never resumes with a later, shorter one. */
typedef struct {
    char *out;
    size_t cap;
    size_t len;
    bool full;
} sink;

static void emit(sink *k, const void *b, size_t n)
{
    if (k->full || k->cap == 0 || k->out == NULL)
        return;
    if (k->len + n + 1 > k->cap) {
        k->full = true;
        return;
    }
    memcpy(k->out + k->len, b, n);
    k->len += n;
}

static size_t finish(sink *k)
{
    if (k->cap > 0 && k->out != NULL)
        k->out[k->len] = '\0';
    return k->len;
}

size_t sm_mask_id(const char *s, size_t len, char *out, size_t cap)
{
    sink k = {out, cap, 0, false};
    if (s == NULL)
        len = 0;
    size_t b = 0, e = len;
    while (b < e && s[b] == ' ')
        b++;
    while (e > b && s[e - 1] == ' ')
        e--;
    size_t n = e - b;
    bool keep_ends = n >= 15; /* an ID number's length: 15 or 18 (or a typo near it) */
    for (size_t i = 0; i < n; i++) {
        char c = s[b + i];
        char o = '*';
        if (keep_ends && (i < 3 || i >= n - 4)) {
            if (c >= '0' && c <= '9')
                o = c;
            else if (c == 'X' || c == 'x')
                o = 'X';
        }
        emit(&k, &o, 1);
    }
    return finish(&k);
}

size_t sm_mask_name(const char *s, size_t len, char *out, size_t cap)
{
    sink k = {out, cap, 0, false};
    if (s == NULL)
        len = 0;
    const unsigned char *p = (const unsigned char *)s;

    /* Trim U+0020 and U+3000 (E3 80 80) at both ends. */
    size_t b = 0, e = len;
    for (;;) {
        if (b < e && p[b] == ' ')
            b++;
        else if (e - b >= 3 && p[b] == 0xE3 && p[b + 1] == 0x80 && p[b + 2] == 0x80)
            b += 3;
        else
            break;
    }
    for (;;) {
        if (e > b && p[e - 1] == ' ')
            e--;
        else if (e - b >= 3 && p[e - 3] == 0xE3 && p[e - 2] == 0x80 && p[e - 1] == 0x80)
            e -= 3;
        else
            break;
    }

    static const char dot[2] = {(char)0xC2, (char)0xB7};
    bool first = true;
    for (size_t i = b; i < e;) {
        uint32_t c;
        size_t n = sm_utf8_decode((const char *)p + i, e - i, &c);
        if (n == 0) {
            emit(&k, "*", 1); /* each invalid byte */
            i++;
            first = false;
            continue;
        }
        if (first && (sm_char_is_han(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            emit(&k, p + i, n);
        else if (c == 0xB7)
            emit(&k, dot, sizeof dot);
        else if (c == ' ' || c == ',')
            emit(&k, p + i, 1);
        else
            emit(&k, "*", 1);
        first = false;
        i += n;
    }
    return finish(&k);
}
