/*
 * errbuf.c — see errbuf.h. Must never allocate: it runs on error paths,
 * out-of-memory ones included.
 */
#include "common/errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
