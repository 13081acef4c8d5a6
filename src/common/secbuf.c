/*
 * secbuf.c — the zeroing byte buffer (see secbuf.h).
 *
 * Must never: free or abandon a byte of content without zeroing it.
 */
#include "common/secbuf.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void secbuf_add(secbuf *b, const void *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = malloc(cap);
        if (grown == NULL) {
            secbuf_clear(b);
            b->failed = true;
            return;
        }
        if (b->p != NULL) {
            memcpy(grown, b->p, b->len);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = grown;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void secbuf_str(secbuf *b, const char *s)
{
    if (s != NULL)
        secbuf_add(b, s, strlen(s));
}

char *secbuf_take(secbuf *b, size_t *len)
{
    if (!b->failed && b->p == NULL)
        secbuf_add(b, "", 0);
    if (b->failed) {
        secbuf_clear(b);
        return NULL;
    }
    char *p = b->p;
    if (len != NULL)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void secbuf_clear(secbuf *b)
{
    if (b->p != NULL) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
