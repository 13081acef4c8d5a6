/*
 * unicode.c — the core's one strict UTF-8 decoder and its one definition of
 * a Han character.
 *
 * Names, masks and every echo of client input go through here, so that one
 * definition of "valid UTF-8" and of "Han" holds everywhere. Must never accept overlong
 * forms, surrogates or code points above U+10FFFF: each is a known way to
 * smuggle look-alike or hidden characters past a validator.
 */
#include <shiming/shiming.h>

#include "core/unicode.h"

size_t sm_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    unsigned char b0 = u[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2, c = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3, c = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

typedef struct {
    uint32_t lo, hi;
} cp_range;

/* Every CJK Unified Ideographs block, by block range (unassigned tails
 * included, so that a newer Unicode's characters are not rejected). */
static const cp_range han_ranges[] = {
    {0x3400, 0x4DBF},   /* Extension A */
    {0x4E00, 0x9FFF},   /* URO */
    {0x20000, 0x2A6DF}, /* Extension B */
    {0x2A700, 0x2B73F}, /* Extension C */
    {0x2B740, 0x2B81F}, /* Extension D */
    {0x2B820, 0x2CEAF}, /* Extension E */
    {0x2CEB0, 0x2EBEF}, /* Extension F */
    {0x2EBF0, 0x2EE5F}, /* Extension I */
    {0x30000, 0x3134F}, /* Extension G */
    {0x31350, 0x323AF}, /* Extension H */
    {0x323B0, 0x3347F}, /* Extension J */
};

bool sm_char_is_han(uint32_t c)
{
    if (c == 0x3007) /* 〇, found in some registered names */
        return true;
    for (size_t i = 0; i < sizeof han_ranges / sizeof han_ranges[0]; i++)
        if (c >= han_ranges[i].lo && c <= han_ranges[i].hi)
            return true;
    /* The twelve unified ideographs that sit among the compatibility
     * ideographs; their look-alike duplicates (U+F900…) stay rejected so
     * that one name cannot have two spellings. */
    switch (c) {
    case 0xFA0E: case 0xFA0F: case 0xFA11: case 0xFA13: case 0xFA14:
    case 0xFA1F: case 0xFA21: case 0xFA23: case 0xFA24: case 0xFA27:
    case 0xFA28: case 0xFA29:
        return true;
    default:
        return false;
    }
}
