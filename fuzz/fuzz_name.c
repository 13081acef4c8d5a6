/*
 * fuzz_name.c — libFuzzer target for sm_name_normalise and the maskers.
 *
 * Checks invariants, not just the absence of crashes: an accepted name is
 * valid UTF-8 of the advertised length and kind, within the limits, and its
 * own normal form; a mask never writes past its capacity, is always
 * NUL-terminated valid UTF-8, and echoes nothing of the input but the first
 * character. Must never hide a violation: every broken invariant aborts.
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

/* Counts code points, or returns SIZE_MAX if `s` is not strict UTF-8. */
static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = sm_utf8_decode(s + i, len - i, &cp);
        if (k == 0)
            return SIZE_MAX;
        i += k;
        n++;
    }
    return n;
}

static void check_name(const char *s, size_t len)
{
    sm_name n;
    sm_name_status st = sm_name_normalise(s, len, &n);
    CHECK(st >= SM_NAME_OK && st <= SM_NAME_ERR_TOO_LONG);
    if (st != SM_NAME_OK) {
        CHECK(sm_name_status_code(st) != NULL);
        CHECK(sm_name_status_message(st) != NULL);
        return;
    }
    CHECK(n.len < sizeof n.text);
    CHECK(n.text[n.len] == '\0');
    CHECK(strlen(n.text) == n.len);
    CHECK(utf8_count(n.text, n.len) == n.chars);
    CHECK(n.chars >= 1);
    if (n.kind == SM_NAME_KIND_HAN) {
        CHECK(n.chars >= 2 && n.chars <= SM_NAME_MAX_HAN);
    } else {
        CHECK(n.kind == SM_NAME_KIND_LATIN);
        CHECK(n.chars <= SM_NAME_MAX_LATIN);
        for (size_t i = 0; i < n.len; i++) {
            char c = n.text[i];
            CHECK((c >= 'A' && c <= 'Z') || c == ' ' || c == ',');
            CHECK(!(c == ' ' && i + 1 < n.len && n.text[i + 1] == ' '));
        }
        CHECK(n.text[0] != ' ' && n.text[n.len - 1] != ' ');
    }
    CHECK(sm_name_kind_code(n.kind) != NULL);

    /* The normal form is a fixed point. */
    sm_name again;
    CHECK(sm_name_normalise(n.text, n.len, &again) == SM_NAME_OK);
    CHECK(again.len == n.len && again.chars == n.chars && again.kind == n.kind);
    CHECK(memcmp(again.text, n.text, n.len + 1) == 0);

    /* The mask of an accepted name has one unit per character. */
    char m[SM_NAME_BUF];
    size_t ml = sm_mask_name(n.text, n.len, m, sizeof m);
    CHECK(utf8_count(m, ml) == n.chars);
}

/* The first code point of the input after the trimming the masker does, or
 * an empty span. */
static void first_char(const char *s, size_t len, const char **p, size_t *n)
{
    size_t i = 0;
    for (;;) {
        if (i < len && s[i] == ' ') {
            i++;
        } else if (len - i >= 3 && memcmp(s + i, "\xe3\x80\x80", 3) == 0) {
            i += 3;
        } else {
            break;
        }
    }
    uint32_t cp;
    *p = s + i;
    *n = i < len ? sm_utf8_decode(s + i, len - i, &cp) : 0;
}

static void check_mask_name(const char *s, size_t len, size_t cap)
{
    /* Exactly `cap` bytes on the heap: ASan catches any write past it. */
    char *out = malloc(cap ? cap : 1);
    CHECK(out != NULL);
    size_t w = sm_mask_name(s, len, out, cap);
    if (cap == 0) {
        CHECK(w == 0);
        free(out);
        return;
    }
    CHECK(w < cap);
    CHECK(out[w] == '\0');
    CHECK(strlen(out) == w);
    CHECK(utf8_count(out, w) != SIZE_MAX); /* never a split character */

    const char *fp;
    size_t fn;
    first_char(s, len, &fp, &fn);
    size_t i = 0;
    if (fn > 0 && w >= fn && memcmp(out, fp, fn) == 0)
        i = fn; /* the first character, kept */
    while (i < w) {
        if (out[i] == '*' || out[i] == ' ' || out[i] == ',') {
            i++;
        } else {
            CHECK(i + 1 < w && (unsigned char)out[i] == 0xC2 &&
                  (unsigned char)out[i + 1] == 0xB7);
            i += 2;
        }
    }
    free(out);
}

static void check_mask_id(const char *s, size_t len, size_t cap)
{
    char *out = malloc(cap ? cap : 1);
    CHECK(out != NULL);
    size_t w = sm_mask_id(s, len, out, cap);
    if (cap == 0) {
        CHECK(w == 0);
        free(out);
        return;
    }
    CHECK(w < cap && out[w] == '\0' && w <= len);
    for (size_t i = 0; i < w; i++)
        CHECK((out[i] >= '0' && out[i] <= '9') || out[i] == 'X' || out[i] == '*');
    size_t stars = 0;
    for (size_t i = 0; i < w; i++)
        stars += out[i] == '*';
    CHECK(w - stars <= 7); /* never more than 3 + 4 characters revealed */
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so that a read past `size` is an ASan error, not a lucky read of
     * libFuzzer's buffer. */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    if (size)
        memcpy(s, data, size);

    check_name(s, size);
    size_t cap = size ? data[0] % 64 : 0;
    check_mask_name(s, size, cap);
    check_mask_name(s, size, SM_NAME_BUF);
    check_mask_id(s, size, cap % 24);
    check_mask_id(s, size, 64);

    free(s);
    return 0;
}
