/*
 * unicode.h — character classes shared inside the core (not public API).
 * Pure and thread-safe.
 */
#ifndef SHIMING_CORE_UNICODE_H
#define SHIMING_CORE_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

/* A Han character as names accept it: every CJK Unified Ideographs block
 * (extensions A–J, unassigned tails included), U+3007 〇, and the twelve
 * unified ideographs among the compatibility ideographs (U+FA0E…). */
bool sm_char_is_han(uint32_t c);

#endif
