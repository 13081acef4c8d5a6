/*
 * errbuf.h — the caller-supplied error buffer convention used across the
 * server: functions that can fail take (char *err, size_t errlen) and write
 * one human-readable sentence there.
 */
#ifndef SHIMING_COMMON_ERRBUF_H
#define SHIMING_COMMON_ERRBUF_H

#include <stddef.h>

/* printf into err (always NUL-terminated when errlen > 0; truncated if
 * long). A NULL err or zero errlen is allowed and ignored. */
void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
