/*
 * secbuf.h — a growing byte buffer for text that may hold secrets or
 * identity data (strings to sign, canonical requests): every byte it drops
 * on growth or clear is zeroed first.
 *
 * Use: start with `secbuf b = {0};`, append; an allocation failure sets
 * `failed` and makes every later append a no-op, so callers check once at
 * the end (secbuf_take). Not thread-safe (one owner).
 */
#ifndef SHIMING_COMMON_SECBUF_H
#define SHIMING_COMMON_SECBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;      /* NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    bool failed;  /* an allocation failed: the content is incomplete */
} secbuf;

/* Append s[0..n). */
void secbuf_add(secbuf *b, const void *s, size_t n);

/* Append a NUL-terminated string; NULL appends nothing. */
void secbuf_str(secbuf *b, const char *s);

/* The content (malloc'ed, NUL-terminated; the caller zeroes and frees it)
 * and its length, leaving `b` empty; NULL, with `b` cleared, when an append
 * failed. */
char *secbuf_take(secbuf *b, size_t *len);

/* Zero and free the content; `b` is empty and reusable. */
void secbuf_clear(secbuf *b);

#endif
