/*
 * fetch.h — download an image (or any small resource) from a URL given by a
 * client, with libcurl: http and https only, connect and total timeouts, a
 * size cap, at most 3 redirects, and an SSRF guard: the resolved address
 * of every connection (redirects included) must not be loopback, private
 * (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10, which holds the
 * cloud metadata address), unspecified, multicast or broadcast, unless it
 * is in the operator's allowlist (CIDRs; tests allowlist loopback).
 *
 * Thread-safe (one easy handle per call; curl_global_init once).
 */
#ifndef SHIMING_NET_FETCH_H
#define SHIMING_NET_FETCH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FETCH_OK = 0,
    FETCH_BAD_URL,        /* not http(s), too long, unparsable */
    FETCH_FORBIDDEN,      /* the SSRF guard refused the address */
    FETCH_TIMEOUT,
    FETCH_TOO_LARGE,      /* over max_bytes */
    FETCH_HTTP_STATUS,    /* a status other than 200 */
    FETCH_FAILED,         /* DNS, connection, TLS, … */
    FETCH_NOMEM,
} fetch_status;

const char *fetch_status_code(fetch_status st);

typedef struct {
    size_t max_bytes;          /* 0 = 4 MiB */
    unsigned connect_ms;       /* 0 = 3000 */
    unsigned total_ms;         /* 0 = 10000 */
    const char *allow_cidrs;   /* comma-separated CIDRs allowed despite the guard; NULL = none */
} fetch_options;

/* *body malloc'ed (free it) and *len on FETCH_OK. */
fetch_status fetch_url(const char *url, const fetch_options *opt, char **body, size_t *len);

#endif
