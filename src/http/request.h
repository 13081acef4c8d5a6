/*
 * request.h — the per-request context handed to route handlers, and the
 * helpers they use to read a JSON body and to reply.
 *
 * Lifetime and ownership: the server (server.c) creates an http_request when
 * a request's headers have arrived and frees it once the response has been
 * sent (or the connection dropped). Handlers borrow it for the duration of
 * their call and must not keep pointers into it. Everything a getter returns
 * (header values, body bytes, JSON fields) is borrowed and valid until the
 * handler returns (JSON: until the caller json_decref()s the body object).
 *
 * Thread-safety: one request is touched by one thread at a time: the MHD
 * thread serving its connection, or, for a deferred reply, the thread that
 * completes it (between request_defer and request_resume the handler's
 * thread no longer touches it; see request_defer). The request-id
 * generator is thread-safe.
 *
 * Must never: store or log raw identity data — request_set_subject_* mask
 * before storing; reply twice (the second reply is refused and reported).
 */
#ifndef SHIMING_HTTP_REQUEST_H
#define SHIMING_HTTP_REQUEST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "shiming/shiming.h"

struct MHD_Connection;

#define HTTP_REQUEST_ID_MAX 64
#define HTTP_METHOD_MAX 16

typedef struct http_request http_request;

/* A route handler: must reply exactly once (reply_json / reply_error /
 * reply_bytes), or defer its reply (request_defer). If it returns without
 * doing either the server answers 500. */
typedef void (*http_handler)(http_request *req);

struct http_request {
    /* ---- set by the server; read-only for handlers ---- */
    struct MHD_Connection *conn;
    char method[HTTP_METHOD_MAX];   /* as sent; "" if longer than that */
    char *path;                     /* percent-decoded path, no query; owned */
    char id[HTTP_REQUEST_ID_MAX + 1];
    char remote[64];                /* client IP address, no port */
    struct timespec start;          /* CLOCK_MONOTONIC, headers received */
    const char *route;              /* route name (static); "unmatched" if none */
    http_handler handler;           /* chosen by the router */
    bool buffer_body;               /* router: keep the body (else count only) */
    bool own_errors;                /* router: the handler answers body_too_large itself */
    const char *dialect;            /* router: static dialect name, NULL = "native" */
    size_t route_slot;              /* metrics slot of `route` */
    const atomic_bool *draining;    /* server stopping: replies close the connection */
    void *ctx;                      /* the application's shared context (borrowed) */

    char *body;                     /* owned; NUL-terminated for convenience */
    size_t body_len;
    size_t body_cap;
    size_t bytes_in;                /* body bytes received (kept or not) */
    size_t max_body;
    bool body_too_large;

    /* ---- deferred replies (request_defer / request_resume; server.c) ---- */
    bool deferred;                  /* request_defer was called: replies are held */
    atomic_int defer_state;         /* HTTP_DEFER_*: who resumes the connection */
    bool parked;                    /* server: counted among the suspended */
    struct MHD_Response *held;      /* the reply prepared while deferred; owned */

    /* ---- set by the reply helpers ---- */
    bool replied;
    unsigned status;                /* 0 until replied */
    size_t bytes_out;               /* response body bytes */

    /* ---- set by the application's guard before the handler runs ---- */
    int64_t app_id;                 /* the authenticated app; 0 = none (public route, tenancy off) */
    bool metered;                   /* admitted as a metered call: tenancy_admit_done is owed */
    char app[64];                   /* its name, for the access log; "" = none */
    bool free_only;                 /* the app's quota is used up: the handler may answer
                                       only what is not charged (invalid input) */

    /* ---- set by handlers for the access log (never raw values) ---- */
    const char *verdict;            /* static string or NULL */
    char subject_id[48];            /* masked ID number, "" = none */
    char subject_name[64];          /* masked name, "" = none */
};

/* ------------------------------------------------------------ lifecycle */

/* Fill a fresh request id into `out` (HTTP_REQUEST_ID_MAX + 1 bytes): the
 * client's X-Request-Id if it is 1..64 chars of [A-Za-z0-9._-], else a new
 * unique one (per-process random prefix + counter, hex). Thread-safe. */
void request_id_assign(const char *client_value, char out[HTTP_REQUEST_ID_MAX + 1]);

/* Allocate a request for `conn` (method and url are copied). NULL on
 * allocation failure. Free with request_free(). */
http_request *request_new(struct MHD_Connection *conn, const char *method, const char *url,
                          size_t max_body);

/* Count body bytes in bytes_in, and keep them if buffer_body. Returns false,
 * with body_too_large set (and anything kept zeroed and dropped), once the
 * total exceeds max_body; from then on bytes are only counted. False with
 * body_too_large unset means out of memory. */
bool request_body_append(http_request *req, const char *data, size_t len);

/* Zeroes the body (it may hold identity data) and frees everything. */
void request_free(http_request *req);

/* --------------------------------------------------------------- access */

/* A request header (case-insensitive name), or NULL. */
const char *request_header(const http_request *req, const char *name);

/* Mask and remember the subject for the access log (sm_mask_id /
 * sm_mask_name); the raw value is not stored. */
void request_set_subject_id(http_request *req, const char *id, size_t len);
void request_set_subject_name(http_request *req, const char *name, size_t len);

/* `verdict` must be a static string (e.g. "valid", sm_verdict_code(...)). */
void request_set_verdict(http_request *req, const char *verdict);

/* ------------------------------------------------------- deferred reply */

/* Where a deferred reply stands (req->defer_state). */
enum {
    HTTP_DEFER_NONE = 0,
    HTTP_DEFER_WAITING,   /* deferred; the server has not suspended the connection yet */
    HTTP_DEFER_SUSPENDED, /* the connection is suspended; request_resume resumes it */
    HTTP_DEFER_READY,     /* replied before the suspension: the server sends it at once */
    HTTP_DEFER_RESUMED,   /* request_resume has resumed the connection */
};

/* Called by a handler that will reply later, from another thread (e.g. once
 * a record is committed), so that the MHD thread can serve other
 * connections meanwhile. The handler then returns without replying; the
 * server suspends the connection (MHD_suspend_connection). The request, and
 * every string in it (id, remote, headers, body), stays valid until the
 * reply is sent: a suspended connection is neither timed out nor closed by
 * MHD, and the server does not stop while one is suspended. Call it before
 * handing the request to the other thread; after that the handler must not
 * touch the request again (it may already be answered). */
void request_defer(http_request *req);

/* Completes a deferred request, from any thread, once its reply has been
 * prepared with the usual reply_* functions (which, for a deferred
 * request, only hold the response). Resumes the connection; the server
 * then sends the held reply (a 500 if none). After this call the caller
 * must not touch the request: it may be freed at any moment. */
void request_resume(http_request *req);

/* ---------------------------------------------------------------- reply */

/* Reply with `body` (a json_t reference, stolen even on failure) as compact
 * UTF-8 JSON plus "\n"; Content-Type application/json; charset=utf-8 and
 * X-Request-Id. Returns 0, or -1 if it could not (already replied, out of
 * memory, connection gone). For a deferred request the response is only
 * held (req->held) for the server to send after request_resume. */
int reply_json(http_request *req, unsigned status, json_t *body);

/* {"error":{"code":code,"message":message,"request_id":id}}. `code` is a
 * stable snake_case code; `message` is for people (invalid UTF-8 in it is
 * replaced). Returns as reply_json. */
int reply_error(http_request *req, unsigned status, const char *code, const char *message);

/* Same, with an extra response header (e.g. "Allow", "Retry-After"). */
int reply_error_with_header(http_request *req, unsigned status, const char *code,
                            const char *message, const char *header, const char *value);

/* Raw bytes (copied) with the given Content-Type. */
int reply_bytes(http_request *req, unsigned status, const char *content_type, const void *data,
                size_t len);

/* An extra response header; both strings are copied by the reply. */
typedef struct {
    const char *name;
    const char *value;
} http_header;

/* Raw bytes (copied) with the given Content-Type (NULL: none) and the
 * extra response headers headers[0..n) (entries with a NULL name or value
 * are skipped): the vendor dialects' answers (X-Ca-Error-Message, …). */
int reply_bytes_headers(http_request *req, unsigned status, const char *content_type,
                        const void *data, size_t len, const http_header *headers, size_t n);

/* Raw bytes (copied) with the given Content-Type and an extra response
 * header (`header` NULL for none): an answer rendered before it is sent,
 * e.g. a stored idempotent answer replayed with "Idempotent-Replay". */
int reply_bytes_with(http_request *req, unsigned status, const char *content_type,
                     const void *data, size_t len, const char *header, const char *value);

/* ------------------------------------------------------------ JSON out */

/* Write `v` as compact JSON into buf (capacity cap): byte for byte what
 * json_dumpb(v, JSON_COMPACT | JSON_ENCODE_ANY) writes (keys in insertion
 * order, jansson's string escaping), but in one pass, without allocating
 * or printf. Returns the length the text needs (written in full iff it is
 * <= cap), or 0 when it cannot be written (NULL, or nested deeper than 64).
 * A string holding invalid UTF-8 (jansson's checked constructors never make
 * one) gets U+FFFD for each bad byte, where jansson would fail. Thread-safe. */
size_t http_json_write(const json_t *v, char *buf, size_t cap);

/* Write s[0..len) as a JSON string literal, quotes included, with the same
 * escaping ('"', '\\' and control characters escaped; UTF-8 kept; invalid
 * bytes become U+FFFD, so the result is always valid JSON). Returns the
 * bytes needed, as http_json_write. */
size_t http_json_string(const char *s, size_t len, char *buf, size_t cap);

/* ------------------------------------------------------------ media types */

/* Is the media type of Content-Type value `ct` (its part before ';',
 * trimmed, case-insensitive) `want`? `*utf8` (may be NULL) is false when
 * a charset parameter names anything but UTF-8 ("utf-8", "utf8", quoted
 * or not). NULL `ct` is false. */
bool http_media_type_is(const char *ct, const char *want, bool *utf8);

/* ------------------------------------------------------------ JSON body */

/* The body as a JSON object (new reference: json_decref it), or NULL after
 * having replied 415 unsupported_media_type (Content-Type is not
 * application/json) or 400 bad_json (not JSON, duplicate keys, not an
 * object). */
json_t *request_json_object(http_request *req);

/* Field getters. Each returns 0 on success and -1 after having replied
 * 400 missing_field (a required field absent or null) or 400 invalid_field
 * (wrong type or format), the message naming the field. An optional field
 * that is absent or null leaves *present false (when present is non-NULL)
 * and the output untouched. Strings are borrowed from `obj`. */
int request_field_string(http_request *req, json_t *obj, const char *field, bool required,
                         const char **out, size_t *len, bool *present);
int request_field_bool(http_request *req, json_t *obj, const char *field, bool required,
                       bool *out, bool *present);
/* "YYYY-MM-DD" (a real date). */
int request_field_date_iso(http_request *req, json_t *obj, const char *field, bool required,
                           sm_date *out, bool *present);
/* "YYYYMMDD" (a real date). */
int request_field_date_compact(http_request *req, json_t *obj, const char *field,
                               bool required, sm_date *out, bool *present);

/* The usual 200 answer of a handler: adds "request_id" to `result` and
 * replies with it, stealing the reference; a NULL `result` (allocation
 * failure upstream) becomes a 500 `internal`. Returns as reply_json. */
int reply_result(http_request *req, json_t *result);

/* Same with another status and an optional extra header (`header` NULL for
 * none), e.g. 503 with Retry-After for a result that says the registry is
 * unavailable. */
int reply_result_with(http_request *req, unsigned status, json_t *result, const char *header,
                      const char *value);

#endif
