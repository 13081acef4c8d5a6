/*
 * name.c — personal-name validation and normal form (sm_name_*).
 *
 * Decides whether a string could be the name printed on a resident identity
 * card (Han characters, optionally with the ethnic-minority middle dot) or on
 * a foreign permanent resident card (A-Z, spaces, commas), and produces the
 * one normal form the registry is keyed on, so that look-alike inputs from
 * different IMEs and SDKs hash to the same record.
 *
 * Must never: allocate, do I/O, consult the locale, read past `len`, write
 * past `out->text`, or accept a string that is not strict UTF-8 (overlongs
 * and surrogates are how filters get bypassed).
 *
 * Decisions where the card law is silent:
 *  - U+3007 〇 counts as a Han character: it is a digit in Unicode, but it is
 *    registered in real given names (e.g. 王〇) and the card prints it.
 *  - The twelve code points in the CJK Compatibility Ideographs block that
 *    are *unified* ideographs (U+FA0E, FA0F, FA11, FA13, FA14, FA1F, FA21,
 *    FA23, FA24, FA27, FA28, FA29; no decomposition) count as Han. The other
 *    compatibility ideographs are canonically equivalent to a unified one;
 *    accepting them would give one name two spellings, so they are rejected.
 *  - Extension J (U+323B0–U+3347F, Unicode 17) is accepted with the others.
 *  - Invisible "default ignorable" code points (variation selectors, Hangul
 *    fillers, tag characters…) are reported as `control`, like the format
 *    characters: they make two names that look identical differ.
 *  - Latin names: a comma may not lead, trail or be doubled (spaces between
 *    two commas do not separate them); the reason is `characters`.
 *  - In a Latin name an interior U+3000 is a space like U+0020 (collapsed to
 *    one U+0020); in a Han name any interior space is `characters`.
 *  - A string with neither a Han character nor a Latin letter (only dots,
 *    commas, digits…) is `characters`.
 *  - When several rules are broken, the reason reported is the first in enum
 *    order (encoding, control, characters, mixed_script, dot, too_short /
 *    too_long), wherever in the string the offending characters are.
 *  - On failure `out` (if not NULL) is left as an empty name; `out` may be
 *    NULL to validate only.
 */
#include "shiming/shiming.h"
#include "core/unicode.h"

#include <string.h>

typedef struct {
    uint32_t lo, hi;
} cp_range;

/* Control (Cc), format (Cf) and other default-ignorable code points. */
static const cp_range control_ranges[] = {
    {0x0000, 0x001F},   {0x007F, 0x009F},   {0x00AD, 0x00AD},
    {0x034F, 0x034F},   {0x0600, 0x0605},   {0x061C, 0x061C},
    {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},
    {0x08E2, 0x08E2},   {0x115F, 0x1160},   {0x17B4, 0x17B5},
    {0x180B, 0x180F},   {0x200B, 0x200F},   {0x2028, 0x202E},
    {0x2060, 0x206F},   {0x3164, 0x3164},   {0xFE00, 0xFE0F},
    {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},
    {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
    {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
};

static bool is_control(uint32_t c)
{
    for (size_t i = 0; i < sizeof control_ranges / sizeof control_ranges[0]; i++)
        if (c >= control_ranges[i].lo && c <= control_ranges[i].hi)
            return true;
    return false;
}

/* Characters people type, or SDKs produce, for the middle dot in names such
 * as 阿卜杜·热合曼: IME bullets, katakana and full-width dots, Greek ano
 * teleia, operators, and ASCII '.'. All become U+00B7. */
static bool is_dot(uint32_t c)
{
    switch (c) {
    case 0x002E: /* . */
    case 0x00B7: /* · the one the registry uses */
    case 0x0387: /* Greek ano teleia (NFC maps it to U+00B7) */
    case 0x16EB: /* runic single punctuation */
    case 0x2022: /* • */
    case 0x2027: /* ‧ hyphenation point (Big5 IMEs) */
    case 0x2219: /* ∙ bullet operator */
    case 0x22C5: /* ⋅ dot operator */
    case 0x2E31: /* ⸱ word separator middle dot */
    case 0x2E33: /* ⸳ raised dot */
    case 0x30FB: /* ・ katakana middle dot (Japanese IMEs) */
    case 0xA78F: /* ꞏ Latin letter sinological dot */
    case 0xFF0E: /* ． full-width full stop */
    case 0xFF65: /* ･ half-width katakana middle dot */
        return true;
    default:
        return false;
    }
}

typedef enum {
    CL_SPACE,   /* U+0020, U+3000 */
    CL_HAN,
    CL_LETTER,  /* A-Z, a-z */
    CL_COMMA,   /* ',' */
    CL_DOT,
    CL_CONTROL,
    CL_OTHER,
} char_class;

static char_class classify(uint32_t c)
{
    if (c == 0x20 || c == 0x3000)
        return CL_SPACE;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return CL_LETTER;
    if (c == ',')
        return CL_COMMA;
    if (is_dot(c))
        return CL_DOT;
    if (sm_char_is_han(c))
        return CL_HAN;
    if (is_control(c))
        return CL_CONTROL;
    return CL_OTHER;
}

static void clear_name(sm_name *out)
{
    if (out) {
        out->text[0] = '\0';
        out->len = 0;
        out->chars = 0;
        out->kind = SM_NAME_KIND_HAN;
    }
}

static sm_name_status fail(sm_name *out, sm_name_status st)
{
    clear_name(out);
    return st;
}

/* Output writer that stops writing (but keeps counting) once the name is
 * longer than the kind allows, so over-long input cannot overflow text[]. */
typedef struct {
    sm_name *out;
    size_t len;
    size_t chars;
    size_t max_chars;
} writer;

static void put_bytes(writer *w, const unsigned char *b, size_t n)
{
    w->chars++;
    if (w->chars <= w->max_chars && w->out) {
        memcpy(w->out->text + w->len, b, n);
        w->len += n;
    }
}

static sm_name_status finish_han(const unsigned char *p, size_t n,
                                 sm_name *out)
{
    writer w = {out, 0, 0, SM_NAME_MAX_HAN};
    bool bad_char = false, bad_dot = false;
    char_class prev = CL_SPACE; /* "nothing yet" */
    size_t han = 0;
    static const unsigned char middle_dot[2] = {0xC2, 0xB7};

    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = sm_utf8_decode((const char *)p + i, n - i, &c); /* validated already */
        char_class cl = classify(c);
        if (cl == CL_HAN) {
            put_bytes(&w, p + i, k);
            han++;
        } else if (cl == CL_DOT) {
            if (prev != CL_HAN) /* leading, or doubled */
                bad_dot = true;
            put_bytes(&w, middle_dot, sizeof middle_dot);
        } else {
            /* spaces inside a Han name, commas */
            bad_char = true;
        }
        prev = cl;
        i += k;
    }
    if (prev == CL_DOT)
        bad_dot = true; /* trailing */

    if (bad_char)
        return fail(out, SM_NAME_ERR_CHARACTERS);
    if (bad_dot)
        return fail(out, SM_NAME_ERR_DOT);
    if (han < 2)
        return fail(out, SM_NAME_ERR_TOO_SHORT);
    if (w.chars > SM_NAME_MAX_HAN)
        return fail(out, SM_NAME_ERR_TOO_LONG);
    if (out) {
        out->text[w.len] = '\0';
        out->len = w.len;
        out->chars = w.chars;
        out->kind = SM_NAME_KIND_HAN;
    }
    return SM_NAME_OK;
}

static sm_name_status finish_latin(const unsigned char *p, size_t n,
                                   sm_name *out)
{
    writer w = {out, 0, 0, SM_NAME_MAX_LATIN};
    bool bad_char = false, pending_space = false;
    char_class last = CL_SPACE; /* last non-space class; "nothing yet" */

    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = sm_utf8_decode((const char *)p + i, n - i, &c);
        char_class cl = classify(c);
        i += k;
        if (cl == CL_SPACE) {
            pending_space = true;
            continue;
        }
        if (cl == CL_COMMA) {
            if (last != CL_LETTER) /* leading, or doubled */
                bad_char = true;
        } else if (cl != CL_LETTER) {
            bad_char = true; /* dots */
            continue;
        }
        if (pending_space) {
            static const unsigned char sp = ' ';
            put_bytes(&w, &sp, 1);
            pending_space = false;
        }
        unsigned char b = (unsigned char)c;
        if (b >= 'a' && b <= 'z')
            b = (unsigned char)(b - 'a' + 'A');
        put_bytes(&w, &b, 1);
        last = cl;
    }
    if (last == CL_COMMA)
        bad_char = true; /* trailing */

    if (bad_char)
        return fail(out, SM_NAME_ERR_CHARACTERS);
    if (w.chars > SM_NAME_MAX_LATIN)
        return fail(out, SM_NAME_ERR_TOO_LONG);
    if (out) {
        out->text[w.len] = '\0';
        out->len = w.len;
        out->chars = w.chars;
        out->kind = SM_NAME_KIND_LATIN;
    }
    return SM_NAME_OK;
}

sm_name_status sm_name_normalise(const char *s, size_t len, sm_name *out)
{
    if (s == NULL)
        return fail(out, SM_NAME_ERR_EMPTY);
    const unsigned char *p = (const unsigned char *)s;

    /* One pass over everything, so that an encoding error anywhere wins and
     * the reason does not depend on where in the string a fault lies. */
    size_t first = len, last_end = 0;
    bool control = false, other = false, han = false, letter = false;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = sm_utf8_decode((const char *)p + i, len - i, &c);
        if (k == 0)
            return fail(out, SM_NAME_ERR_ENCODING);
        switch (classify(c)) {
        case CL_SPACE:
            break;
        case CL_CONTROL:
            control = true;
            break;
        case CL_OTHER:
            other = true;
            break;
        case CL_HAN:
            han = true;
            break;
        case CL_LETTER:
            letter = true;
            break;
        case CL_COMMA:
        case CL_DOT:
            break;
        }
        if (c != 0x20 && c != 0x3000) {
            if (first == len)
                first = i;
            last_end = i + k;
        }
        i += k;
    }

    if (first == len)
        return fail(out, SM_NAME_ERR_EMPTY);
    if (control)
        return fail(out, SM_NAME_ERR_CONTROL);
    if (other || (!han && !letter))
        return fail(out, SM_NAME_ERR_CHARACTERS);
    if (han && letter)
        return fail(out, SM_NAME_ERR_MIXED);
    if (han)
        return finish_han(p + first, last_end - first, out);
    return finish_latin(p + first, last_end - first, out);
}

const char *sm_name_status_code(sm_name_status st)
{
    switch (st) {
    case SM_NAME_OK: return NULL;
    case SM_NAME_ERR_EMPTY: return "empty";
    case SM_NAME_ERR_ENCODING: return "encoding";
    case SM_NAME_ERR_CONTROL: return "control";
    case SM_NAME_ERR_CHARACTERS: return "characters";
    case SM_NAME_ERR_MIXED: return "mixed_script";
    case SM_NAME_ERR_DOT: return "dot";
    case SM_NAME_ERR_TOO_SHORT: return "too_short";
    case SM_NAME_ERR_TOO_LONG: return "too_long";
    }
    return NULL;
}

const char *sm_name_status_message(sm_name_status st)
{
    switch (st) {
    case SM_NAME_OK:
        return "The name is acceptable.";
    case SM_NAME_ERR_EMPTY:
        return "The name is empty.";
    case SM_NAME_ERR_ENCODING:
        return "The name is not valid UTF-8.";
    case SM_NAME_ERR_CONTROL:
        return "The name contains a control or invisible formatting character.";
    case SM_NAME_ERR_CHARACTERS:
        return "The name contains a character no name on an identity card may "
               "hold (Han names: Han characters and the middle dot; Latin "
               "names: letters A-Z, spaces and commas between words).";
    case SM_NAME_ERR_MIXED:
        return "The name mixes Han characters and Latin letters.";
    case SM_NAME_ERR_DOT:
        return "The middle dot must stand between two Han characters "
               "(not first, last, or doubled).";
    case SM_NAME_ERR_TOO_SHORT:
        return "A Han name has at least two characters.";
    case SM_NAME_ERR_TOO_LONG:
        return "The name is longer than an identity card can hold (15 Han "
               "characters including dots, or 120 Latin characters).";
    }
    return "Unknown name status.";
}

const char *sm_name_kind_code(sm_name_kind k)
{
    switch (k) {
    case SM_NAME_KIND_HAN: return "han";
    case SM_NAME_KIND_LATIN: return "latin";
    }
    return NULL;
}
