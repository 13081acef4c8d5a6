/*
 * server.c — the libmicrohttpd daemon: listen socket, TLS, body
 * accumulation, dispatch through the resolver, per-request bookkeeping
 * (metrics, access log, in-flight count) and graceful shutdown.
 *
 * Must never: exit, keep more than max_body of a body, run a handler before
 * the whole body has arrived, or leave a request context unfreed (every one
 * is released in the completion callback, which MHD also calls for requests
 * cut off by MHD_stop_daemon).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "http/accesslog.h"
#include "http/metrics.h"

#define PEM_MAX (1024 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    int listen_fd;          /* ours until quiesced or handed to MHD_stop_daemon */
    config cfg;
    http_resolver resolve;
    void *ctx;              /* the application's, borrowed: req->ctx */
    char *tls_cert_pem;     /* kept until stop: MHD may refer to them */
    char *tls_key_pem;
    size_t tls_key_len;
    unsigned port;
    atomic_bool draining;
    atomic_long in_flight;
    atomic_long parked;     /* connections suspended for a deferred reply */
    atomic_bool stopping;   /* about to MHD_stop_daemon: park nothing more */
    atomic_bool starting;   /* capture MHD's messages for the start error */
    char start_msg[512];
};


static double elapsed_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------ MHD logging */

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *srv = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (size_t i = 0; i < n; i++) /* ASCII only: never echo client bytes */
        if ((unsigned char)msg[i] >= 0x80 || (unsigned char)msg[i] < 0x20)
            msg[i] = '?';
    if (atomic_load(&srv->starting) && srv->start_msg[0] == '\0') /* the first is the cause */
        snprintf(srv->start_msg, sizeof srv->start_msg, "%s", msg);
    accesslog_event(json_pack("{s:s,s:s}", "event", "mhd", "message", msg));
}

/* ------------------------------------------------------- request handling */

/*
 * Bodies over max_body. Nothing past the limit is ever kept, and the 413 goes
 * out at the earliest moment a client can reliably read it:
 *  - announced (Content-Length) beyond discard_limit, or with "Expect:
 *    100-continue": at once, before reading the body; MHD then closes the
 *    connection;
 *  - otherwise (a modest excess, or a chunked body crossing the limit): the
 *    rest is read and discarded, then 413 on the same connection. Answering
 *    while the client is still sending would make the kernel reset the
 *    connection on close (unread data), and the client would often lose the
 *    answer; MHD also refuses a response while it delivers upload data.
 *  - a body that keeps coming past discard_limit: the connection is dropped.
 */
static size_t discard_limit(size_t max_body)
{
    return max_body * 2 + 64 * 1024;
}

static void reply_too_large(http_request *req)
{
    if (req->own_errors && req->handler != NULL) {
        req->handler(req); /* the dialect's own format; it sees body_too_large */
        if (req->replied)
            return;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", req->max_body);
    reply_error(req, 413, "body_too_large", msg);
}

/* ------------------------------------------------------ deferred replies */

/*
 * A handler that called request_defer() returns without a reply; its
 * completion (another thread) holds the reply and calls request_resume().
 * MHD (0.9.75, microhttpd.h) rules this relies on:
 *  - MHD_suspend_connection only from the access handler; resuming from any
 *    thread is safe with an ITC (MHD_ALLOW_SUSPEND_RESUME implies it), but
 *    undefined on a connection not suspended: hence defer_state, so that
 *    exactly one side resumes, and only after the suspension;
 *  - a suspended connection is neither timed out nor closed (not even when
 *    the client goes away): on_completed cannot run, and the request cannot
 *    be freed, while a completion may still write to it;
 *  - after the resumption MHD calls the access handler again (the request
 *    is complete, no response queued): the held reply is queued there;
 *  - MHD_stop_daemon with a connection suspended is an API violation (a
 *    panic): shutdown waits until none is (srv->parked), and a handler that
 *    defers once the stop has begun waits for its reply instead.
 */

static void unpark(http_server *srv, http_request *req)
{
    if (req->parked) {
        req->parked = false;
        atomic_fetch_sub(&srv->parked, 1);
    }
}

/* Queue the reply a completion held (a 500 if it held none). */
static enum MHD_Result send_held(http_request *req)
{
    struct MHD_Response *resp = req->held;
    req->held = NULL;
    req->deferred = false; /* back on the MHD thread: replies are queued again */
    if (resp == NULL) {
        req->replied = false;
        reply_error(req, 500, "internal", "the server could not produce a response");
        return req->replied ? MHD_YES : MHD_NO;
    }
    enum MHD_Result r = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* The handler deferred its reply: suspend the connection, unless the reply
 * is already there. */
static enum MHD_Result park(http_server *srv, http_request *req)
{
    if (atomic_load(&req->defer_state) == HTTP_DEFER_READY)
        return send_held(req);
    /* Counted before the check of `stopping` (both seq_cst): either the
     * shutdown sees this one and waits for it, or this sees the shutdown. */
    atomic_fetch_add(&srv->parked, 1);
    if (atomic_load(&srv->stopping)) {
        /* The daemon is about to stop and must find nothing suspended: wait
         * here for the completion (the record writer outlives the server).
         * Rare: only a request arriving in the last moment of a shutdown. */
        atomic_fetch_sub(&srv->parked, 1);
        while (atomic_load(&req->defer_state) != HTTP_DEFER_READY) {
            struct timespec step = {0, 1000 * 1000};
            nanosleep(&step, NULL);
        }
        return send_held(req);
    }
    req->parked = true;
    MHD_suspend_connection(req->conn);
    int expected = HTTP_DEFER_WAITING;
    if (!atomic_compare_exchange_strong(&req->defer_state, &expected, HTTP_DEFER_SUSPENDED))
        /* READY: the completion came while we were suspending, and left the
         * resuming to us. MHD calls us again, and send_held runs. */
        MHD_resume_connection(req->conn);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *srv = cls;
    http_request *req = *con_cls;
    (void)version;

    if (req == NULL) {
        /* Headers have arrived: set up, route, and check the announced size. */
        req = request_new(conn, method, url, srv->cfg.max_body);
        if (req == NULL)
            return MHD_NO;
        req->draining = &srv->draining;
        req->ctx = srv->ctx;
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        metrics_in_flight_add(1);

        http_route r = {0};
        srv->resolve(req->method, req->path, &r);
        req->handler = r.handler;
        req->route = r.route != NULL ? r.route : "unmatched";
        req->buffer_body = r.buffer_body;
        req->own_errors = r.own_errors;
        req->dialect = r.dialect;
        if (r.max_body > 0)
            req->max_body = r.max_body;
        req->route_slot = metrics_route_slot(req->route);

        const char *cl = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end;
            errno = 0;
            unsigned long long announced = strtoull(cl, &end, 10);
            if (errno == ERANGE || announced > req->max_body) {
                /* Nothing of this body will be kept. */
                req->body_too_large = true;
                const char *expect = request_header(req, MHD_HTTP_HEADER_EXPECT);
                if (announced > discard_limit(req->max_body) ||
                    (expect != NULL && strcasecmp(expect, "100-continue") == 0))
                    reply_too_large(req); /* now, before a byte of it is read */
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->replied)
            return MHD_YES;
        if (!request_body_append(req, upload_data, n) && !req->body_too_large)
            return MHD_NO; /* out of memory: drop the connection */
        if (req->body_too_large && req->bytes_in > discard_limit(req->max_body))
            return MHD_NO; /* still sending far past the limit: hang up */
        return MHD_YES;
    }

    /* Called again after a deferred reply resumed the connection. */
    if (req->deferred) {
        unpark(srv, req);
        return send_held(req);
    }

    /* The whole request has arrived. */
    if (!req->replied) {
        if (req->body_too_large)
            reply_too_large(req);
        else if (req->handler != NULL)
            req->handler(req);
        if (req->deferred)
            return park(srv, req);
        if (!req->replied)
            reply_error(req, 500, "internal", "the server could not produce a response");
    }
    return req->replied ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    http_request *req = *con_cls;
    (void)conn;
    (void)toe;
    if (req == NULL)
        return;
    *con_cls = NULL;
    unpark(srv, req); /* resumed, then lost before it was called again */

    double latency = elapsed_since(&req->start);
    if (!req->replied) /* refused mid-upload, or the client went away */
        req->status = req->body_too_large ? 413 : 499;
    metrics_observe(req->route_slot, req->method, req->status, latency);
    if (srv->cfg.log_requests)
        accesslog_request(req, latency);
    request_free(req);
    metrics_in_flight_add(-1);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---------------------------------------------------------------- startup */

static int open_listener(const config *cfg, unsigned *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
    bool v6 = false;

    if (inet_pton(AF_INET, cfg->bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        sl = sizeof *in4;
    } else if (inet_pton(AF_INET6, cfg->bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        sl = sizeof *in6;
        v6 = true;
    } else {
        set_err(err, errlen, "bind address '%s' is not an IPv4 or IPv6 literal", cfg->bind);
        return -1;
    }

    const char *l = v6 ? "[" : "", *r = v6 ? "]" : "";
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_err(err, errlen, "cannot create a socket for %s%s%s: %s", l, cfg->bind, r,
                strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        set_err(err, errlen, "cannot listen on %s%s%s:%u: %s", l, cfg->bind, r, cfg->port,
                strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0) {
        if (got.ss_family == AF_INET)
            *port = ntohs(((struct sockaddr_in *)(void *)&got)->sin_port);
        else
            *port = ntohs(((struct sockaddr_in6 *)(void *)&got)->sin6_port);
    } else {
        *port = cfg->port;
    }
    return fd;
}

/* Read a whole PEM file (NUL-terminated, malloc'd) or explain why not. */
static char *read_pem(const char *path, const char *what, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > PEM_MAX) {
        set_err(err, errlen, "%s '%s' is not a regular, non-empty file of at most 1 MiB", what,
                path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        set_err(err, errlen, "out of memory reading %s", what);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    if (got != size || strstr(buf, "-----BEGIN ") == NULL) {
        set_err(err, errlen, "%s '%s' is not a PEM file", what, path);
        explicit_bzero(buf, size + 1);
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

static void free_server(http_server *srv)
{
    if (srv->tls_key_pem != NULL) {
        explicit_bzero(srv->tls_key_pem, srv->tls_key_len);
        free(srv->tls_key_pem);
    }
    free(srv->tls_cert_pem);
    free(srv);
}

http_server_status http_server_start(const config *cfg, http_resolver resolve, void *ctx,
                                     http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        set_err(err, errlen, "out of memory");
        return HTTP_SERVER_ERR_NOMEM;
    }
    srv->cfg = *cfg;
    srv->resolve = resolve;
    srv->ctx = ctx;
    srv->listen_fd = -1;
    atomic_init(&srv->draining, false);
    atomic_init(&srv->in_flight, 0);
    atomic_init(&srv->parked, 0);
    atomic_init(&srv->stopping, false);
    atomic_init(&srv->starting, true);

    bool tls = cfg->tls_cert[0] != '\0';
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            set_err(err, errlen, "this libmicrohttpd was built without TLS support");
            free_server(srv);
            return HTTP_SERVER_ERR_TLS;
        }
        size_t cert_len = 0;
        srv->tls_cert_pem = read_pem(cfg->tls_cert, "tls_cert", &cert_len, err, errlen);
        if (srv->tls_cert_pem == NULL) {
            free_server(srv);
            return HTTP_SERVER_ERR_TLS;
        }
        srv->tls_key_pem = read_pem(cfg->tls_key, "tls_key", &srv->tls_key_len, err, errlen);
        if (srv->tls_key_pem == NULL) {
            free_server(srv);
            return HTTP_SERVER_ERR_TLS;
        }
    }

    srv->listen_fd = open_listener(cfg, &srv->port, err, errlen);
    if (srv->listen_fd < 0) {
        free_server(srv);
        return HTTP_SERVER_ERR_ADDRESS;
    }

    struct MHD_OptionItem extra[4];
    size_t ne = 0;
    if (cfg->threads > 1)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads,
                                              NULL};
    if (tls) {
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem};
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem};
    }
    extra[ne] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    /* Suspend/resume: deferred replies (see park()). */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (tls)
        flags |= MHD_USE_TLS;

    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, /* first, to catch every message */
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->listen_fd,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_ARRAY, extra,
        MHD_OPTION_END);
    atomic_store(&srv->starting, false);
    if (srv->daemon == NULL) {
        if (tls)
            set_err(err, errlen,
                    "cannot start HTTPS with tls_cert '%s' and tls_key '%s' (invalid or "
                    "mismatched PEM?): %s",
                    cfg->tls_cert, cfg->tls_key,
                    srv->start_msg[0] ? srv->start_msg : "libmicrohttpd refused them");
        else
            set_err(err, errlen, "cannot start the HTTP server: %s",
                    srv->start_msg[0] ? srv->start_msg : "libmicrohttpd failed to start");
        /* MHD may or may not have closed a socket it was handed. */
        if (fcntl(srv->listen_fd, F_GETFD) != -1)
            close(srv->listen_fd);
        free_server(srv);
        return tls ? HTTP_SERVER_ERR_TLS : HTTP_SERVER_ERR_DAEMON;
    }

    accesslog_event(json_pack("{s:s,s:s,s:i,s:b,s:i,s:s}", "event", "listening", "bind",
                              cfg->bind, "port", (int)srv->port, "tls", tls, "threads",
                              (int)cfg->threads, "version", SHIMING_VERSION));
    *out = srv;
    return HTTP_SERVER_OK;
}

unsigned http_server_port(const http_server *srv)
{
    return srv->port;
}

/* --------------------------------------------------------------- shutdown */

long http_server_shutdown(http_server *srv, const sigset_t *interrupt)
{
    if (srv == NULL)
        return 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    atomic_store(&srv->draining, true);

    /* Stop accepting; connections already open keep being served. */
    MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);

    bool interrupted = false;
    while (atomic_load(&srv->in_flight) > 0 &&
           elapsed_since(&t0) < (double)srv->cfg.drain_timeout) {
        struct timespec step = {0, 10 * 1000 * 1000};
        if (interrupt != NULL) {
            if (sigtimedwait(interrupt, NULL, &step) > 0) {
                interrupted = true;
                break;
            }
        } else {
            nanosleep(&step, NULL);
        }
    }
    long left = atomic_load(&srv->in_flight);

    /* MHD_stop_daemon must find no connection suspended. A suspended one
     * waits only for its record, which the writer (stopped after us)
     * commits or fails soon whatever the drain did: wait for it, as the
     * synchronous path used to wait inside MHD_stop_daemon for the handler
     * blocked on its record. From here on, nothing is suspended anew. */
    atomic_store(&srv->stopping, true);
    while (atomic_load(&srv->parked) > 0) {
        struct timespec step = {0, 1000 * 1000};
        nanosleep(&step, NULL);
    }

    /* Closes every connection; MHD calls on_completed for any request still
     * open, so every context is freed. */
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;

    accesslog_event(json_pack("{s:s,s:b,s:i,s:b,s:f}", "event", "stopped", "drained", left == 0,
                              "abandoned", (int)left, "interrupted", interrupted, "drain_ms",
                              elapsed_since(&t0) * 1000.0));
    free_server(srv);
    return left;
}
