/*
 * fetch.c — download a client-named resource with libcurl behind the SSRF
 * guard (see fetch.h).
 *
 * The guard sits in CURLOPT_OPENSOCKETFUNCTION: curl asks it for every
 * socket it opens — the first connection and each redirect's — with the
 * address it resolved, so the check is on the address actually connected
 * to (a DNS answer that changes between a check and the connection cannot
 * slip through). Proxies from the environment are switched off, or the
 * guard would see the proxy's address instead of the target's.
 *
 * Must never: follow a redirect to a scheme other than http/https, connect
 * to an internal address that the operator did not allowlist, keep more
 * than max_bytes of a body, free a body (it may be a card image) unzeroed,
 * install signal handlers (CURLOPT_NOSIGNAL: worker threads), or put the
 * URL in a log line (it may carry a token).
 */
#include "net/fetch.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/cidr.h"

#define DEFAULT_MAX_BYTES (4u << 20)
#define DEFAULT_CONNECT_MS 3000u
#define DEFAULT_TOTAL_MS 10000u
#define MAX_REDIRECTS 3L
#define URL_MAX 1024

const char *fetch_status_code(fetch_status st)
{
    switch (st) {
    case FETCH_OK: return "ok";
    case FETCH_BAD_URL: return "bad_url";
    case FETCH_FORBIDDEN: return "forbidden";
    case FETCH_TIMEOUT: return "timeout";
    case FETCH_TOO_LARGE: return "too_large";
    case FETCH_HTTP_STATUS: return "http_status";
    case FETCH_NOMEM: return "nomem";
    case FETCH_FAILED:
    default: return "failed";
    }
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static bool global_ok;

static void global_init(void)
{
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

typedef struct {
    const char *allow;
    size_t max_bytes;
    char *buf;
    size_t len, cap;
    bool too_large;
    bool forbidden;
    bool nomem;
} fetch_ctx;

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
    fetch_ctx *c = clientp;
    uint8_t a[16];
    if (purpose != CURLSOCKTYPE_IPCXN ||
        !net_addr_from_sockaddr(&address->addr, address->addrlen, a)) {
        c->forbidden = true; /* not an IP connection we can vet */
        return CURL_SOCKET_BAD;
    }
    if (net_addr_is_internal(a, NULL) && !net_cidr_list_contains(c->allow, a)) {
        c->forbidden = true;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    fetch_ctx *c = userp;
    size_t n = size * nmemb;
    if (n > c->max_bytes - c->len) {
        c->too_large = true;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + n + 1)
            cap *= 2;
        if (cap > c->max_bytes + 1)
            cap = c->max_bytes + 1;
        /* Not realloc: the old block may hold a card image, zeroed first. */
        char *nb = malloc(cap);
        if (nb == NULL) {
            c->nomem = true;
            return 0;
        }
        if (c->buf != NULL) {
            memcpy(nb, c->buf, c->len);
            OPENSSL_cleanse(c->buf, c->cap);
            free(c->buf);
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

/* http:// or https://, at most URL_MAX bytes, parsable by curl, a host. */
static bool url_acceptable(const char *url)
{
    size_t n = strnlen(url, URL_MAX + 1);
    if (n == 0 || n > URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] == 0x7f)
            return false; /* no spaces or control characters */
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return false;
    CURLU *u = curl_url();
    if (u == NULL)
        return false;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    char *host = NULL;
    if (ok)
        ok = curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL &&
             host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

fetch_status fetch_url(const char *url, const fetch_options *opt, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (url == NULL || !url_acceptable(url))
        return FETCH_BAD_URL;
    pthread_once(&global_once, global_init);
    if (!global_ok)
        return FETCH_FAILED;

    fetch_ctx c;
    memset(&c, 0, sizeof c);
    c.allow = opt != NULL ? opt->allow_cidrs : NULL;
    c.max_bytes = opt != NULL && opt->max_bytes ? opt->max_bytes : DEFAULT_MAX_BYTES;
    long connect_ms = opt != NULL && opt->connect_ms ? (long)opt->connect_ms : DEFAULT_CONNECT_MS;
    long total_ms = opt != NULL && opt->total_ms ? (long)opt->total_ms : DEFAULT_TOTAL_MS;
    if (connect_ms > total_ms)
        connect_ms = total_ms;

    CURL *h = curl_easy_init();
    if (h == NULL)
        return FETCH_NOMEM;
    bool set = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_PROXY, "") == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c.max_bytes) ==
                   CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &c) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_WRITEDATA, &c) == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_USERAGENT, "shiming-fetch/1") == CURLE_OK &&
               curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
    if (!set) {
        curl_easy_cleanup(h);
        return FETCH_FAILED;
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);

    fetch_status st;
    if (rc == CURLE_OK)
        st = code == 200 ? FETCH_OK : FETCH_HTTP_STATUS;
    else if (c.nomem || rc == CURLE_OUT_OF_MEMORY)
        st = FETCH_NOMEM;
    else if (c.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        st = FETCH_TOO_LARGE;
    else if (c.forbidden || rc == CURLE_UNSUPPORTED_PROTOCOL)
        st = FETCH_FORBIDDEN; /* the guard, or a redirect to another scheme */
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        st = FETCH_TIMEOUT;
    else if (rc == CURLE_URL_MALFORMAT)
        st = FETCH_BAD_URL;
    else
        st = FETCH_FAILED;
    if (st != FETCH_OK) {
        if (c.buf != NULL)
            OPENSSL_cleanse(c.buf, c.cap);
        free(c.buf);
        return st;
    }
    if (c.buf == NULL) { /* an empty body */
        c.buf = malloc(1);
        if (c.buf == NULL)
            return FETCH_NOMEM;
        c.buf[0] = '\0';
    }
    *body = c.buf;
    *len = c.len;
    return FETCH_OK;
}
