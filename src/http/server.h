/*
 * server.h — the HTTP server: a libmicrohttpd daemon (epoll, internal thread
 * pool, HTTP/1.1 keep-alive, optional TLS) on a listen socket it binds
 * itself, with body accumulation up to max_body, routing through a
 * caller-supplied resolver, metrics and the access log.
 *
 * Lifecycle: http_server_start() → (serve) → http_server_shutdown(), which
 * stops accepting, lets requests in flight finish (up to drain_timeout),
 * stops the daemon and frees everything.
 *
 * Thread-safety: start and shutdown are called from one (the main) thread;
 * the resolver and the handlers it returns run on MHD's threads,
 * concurrently. Signals: the caller should block SIGTERM/SIGINT before
 * start so that MHD's threads inherit the mask.
 *
 * Must never: exit, buffer more than max_body of a request body, or answer
 * a request twice.
 */
#ifndef SHIMING_HTTP_SERVER_H
#define SHIMING_HTTP_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "config/config.h"
#include "http/request.h"

typedef enum {
    HTTP_SERVER_OK = 0,
    HTTP_SERVER_ERR_ADDRESS, /* cannot create / bind / listen on bind:port */
    HTTP_SERVER_ERR_TLS,     /* TLS files unreadable or rejected, or no TLS support */
    HTTP_SERVER_ERR_DAEMON,  /* libmicrohttpd refused to start */
    HTTP_SERVER_ERR_NOMEM,
} http_server_status;

/* Routing decision for one request, made when its headers have arrived. */
typedef struct {
    http_handler handler;   /* required: replies (404/405 handlers included) */
    const char *route;      /* static route name for logs and metrics */
    bool buffer_body;       /* keep the body (false: count and discard it) */
    const char *dialect;    /* static: the API's dialect for the access log; NULL = native */
    size_t max_body;        /* this route's body limit; 0 = the server's max_body */
    bool own_errors;        /* the handler answers a body over max_body itself (it runs
                               with req->body_too_large set and must not read the body):
                               the vendor dialects, whose errors have their own format */
} http_route;

/* Fills `out` for (method, path). Called on MHD threads; must be thread-safe. */
typedef void (*http_resolver)(const char *method, const char *path, http_route *out);

typedef struct http_server http_server;

/* Bind, listen, start the daemon, and print the "listening" event line.
 * `cfg` is copied. `ctx` (borrowed, may be NULL) is handed to every request
 * as req->ctx: the application's shared state; it must outlive the server.
 * On failure `err` says why and *out is NULL. */
http_server_status http_server_start(const config *cfg, http_resolver resolve, void *ctx,
                                     http_server **out, char *err, size_t errlen);

/* The bound port (the real one when the configured port was 0). */
unsigned http_server_port(const http_server *srv);

/* Stop accepting, wait for requests in flight (up to cfg.drain_timeout;
 * a signal in `interrupt`, if non-NULL and blocked, cuts the wait short),
 * stop the daemon and free `srv`. Returns the number of requests that were
 * still in flight when the daemon was stopped (0 = clean drain). */
long http_server_shutdown(http_server *srv, const sigset_t *interrupt);

#endif
