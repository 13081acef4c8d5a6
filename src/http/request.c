/*
 * request.c — per-request context, request ids, JSON body reading and the
 * reply helpers (JSON, errors, raw bytes) on top of libmicrohttpd.
 *
 * Must never: keep a raw ID number or name (subjects are masked on the way
 * in), queue two responses, or write JSON other than what jansson would
 * (http_json_write serialises jansson values with jansson's exact output,
 * faster; tests compare the two).
 */
#include "http/request.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ request id */

static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static uint64_t id_prefix;
static atomic_uint_fast64_t id_counter;

static void id_init(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    id_prefix = r & 0xffffffffffffULL; /* 48 bits: 12 hex digits */
}

static bool client_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok || n >= HTTP_REQUEST_ID_MAX)
            return false;
    }
    return n >= 1;
}

void request_id_assign(const char *client_value, char out[HTTP_REQUEST_ID_MAX + 1])
{
    if (client_value != NULL && client_id_ok(client_value)) {
        strcpy(out, client_value);
        return;
    }
    pthread_once(&id_once, id_init);
    uint64_t n = atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed) + 1;
    /* "%012llx-%012llx" of (prefix, n mod 2^48), without printf's cost. */
    static const char hex[] = "0123456789abcdef";
    uint64_t a = id_prefix, b = n & 0xffffffffffffULL;
    for (int i = 11; i >= 0; i--) {
        out[i] = hex[a & 0xf];
        out[13 + i] = hex[b & 0xf];
        a >>= 4;
        b >>= 4;
    }
    out[12] = '-';
    out[25] = '\0';
}

/* -------------------------------------------------------------- lifecycle */

static void remote_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
    }
}

http_request *request_new(struct MHD_Connection *conn, const char *method, const char *url,
                          size_t max_body)
{
    http_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->path = strdup(url != NULL ? url : "");
    if (req->path == NULL) {
        free(req);
        return NULL;
    }
    req->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &req->start);
    if (method != NULL && strlen(method) < sizeof req->method)
        strcpy(req->method, method);
    req->max_body = max_body;
    req->route = "unmatched";
    request_id_assign(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"),
                      req->id);
    remote_address(conn, req->remote, sizeof req->remote);
    return req;
}

bool request_body_append(http_request *req, const char *data, size_t len)
{
    req->bytes_in += len;
    if (req->body_too_large)
        return false;
    if (req->bytes_in > req->max_body) {
        req->body_too_large = true;
        if (req->body != NULL)
            explicit_bzero(req->body, req->body_cap);
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return false;
    }
    if (!req->buffer_body)
        return true;
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        if (cap > req->max_body + 1)
            cap = req->max_body + 1;
        /* Not realloc: the old block may hold identity data to be zeroed. */
        char *nb = malloc(cap);
        if (nb == NULL)
            return false;
        if (req->body != NULL) {
            memcpy(nb, req->body, req->body_len);
            explicit_bzero(req->body, req->body_cap);
            free(req->body);
        }
        req->body = nb;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return true;
}

void request_free(http_request *req)
{
    if (req == NULL)
        return;
    if (req->body != NULL) {
        explicit_bzero(req->body, req->body_cap);
        free(req->body);
    }
    free(req->path);
    if (req->held != NULL) /* a deferred reply never sent (connection lost) */
        MHD_destroy_response(req->held);
    explicit_bzero(req, sizeof *req);
    free(req);
}

/* ----------------------------------------------------------------- access */

const char *request_header(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void request_set_subject_id(http_request *req, const char *id, size_t len)
{
    sm_mask_id(id, len, req->subject_id, sizeof req->subject_id);
}

void request_set_subject_name(http_request *req, const char *name, size_t len)
{
    sm_mask_name(name, len, req->subject_name, sizeof req->subject_name);
}

void request_set_verdict(http_request *req, const char *verdict)
{
    req->verdict = verdict;
}

/* --------------------------------------------------------------- JSON out */

typedef struct {
    char *buf;
    size_t cap;
    size_t len; /* bytes needed so far; written only while within cap */
} json_out;

static void out_put(json_out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

#define OUT_LIT(o, lit) out_put((o), (lit), sizeof(lit) - 1)

/* Length of the valid UTF-8 sequence at s (2..4), or 0 if invalid (strict:
 * no overlongs, no surrogates, nothing above U+10FFFF). s[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static void out_string(json_out *o, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u%04X */
    const unsigned char *p = (const unsigned char *)str;
    size_t run = 0; /* p[0..run) is copied as it is */
    OUT_LIT(o, "\"");
    while (run < n) {
        unsigned char c = p[run];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p + run, n - run);
            if (k != 0) {
                run += k;
                continue;
            }
        }
        out_put(o, (const char *)p, run);
        p += run;
        n -= run;
        run = 0;
        switch (c) {
        case '"': OUT_LIT(o, "\\\""); break;
        case '\\': OUT_LIT(o, "\\\\"); break;
        case '\b': OUT_LIT(o, "\\b"); break;
        case '\f': OUT_LIT(o, "\\f"); break;
        case '\n': OUT_LIT(o, "\\n"); break;
        case '\r': OUT_LIT(o, "\\r"); break;
        case '\t': OUT_LIT(o, "\\t"); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                out_put(o, esc, sizeof esc);
            } else {
                OUT_LIT(o, "\xEF\xBF\xBD"); /* an invalid UTF-8 byte */
            }
            break;
        }
        p++;
        n--;
    }
    out_put(o, (const char *)p, run);
    OUT_LIT(o, "\"");
}

static void out_integer(json_out *o, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    if (v < 0)
        tmp[--i] = '-';
    out_put(o, tmp + i, sizeof tmp - i);
}

static bool out_value(json_out *o, const json_t *v, int depth)
{
    if (v == NULL || depth > 64)
        return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        OUT_LIT(o, "{");
        /* json_object_foreach wants a non-const object; it does not modify it. */
        json_t *obj = (json_t *)(uintptr_t)v;
        json_object_foreach(obj, key, val) {
            if (!first)
                OUT_LIT(o, ",");
            first = false;
            out_string(o, key, strlen(key));
            OUT_LIT(o, ":");
            if (!out_value(o, val, depth + 1))
                return false;
        }
        OUT_LIT(o, "}");
        return true;
    }
    case JSON_ARRAY: {
        OUT_LIT(o, "[");
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i > 0)
                OUT_LIT(o, ",");
            if (!out_value(o, json_array_get(v, i), depth + 1))
                return false;
        }
        OUT_LIT(o, "]");
        return true;
    }
    case JSON_STRING:
        out_string(o, json_string_value(v), json_string_length(v));
        return true;
    case JSON_INTEGER:
        out_integer(o, json_integer_value(v));
        return true;
    case JSON_REAL: { /* rare here: jansson's own formatting */
        char tmp[64];
        size_t k = json_dumpb(v, tmp, sizeof tmp, JSON_COMPACT | JSON_ENCODE_ANY);
        if (k == 0 || k > sizeof tmp)
            return false;
        out_put(o, tmp, k);
        return true;
    }
    case JSON_TRUE: OUT_LIT(o, "true"); return true;
    case JSON_FALSE: OUT_LIT(o, "false"); return true;
    case JSON_NULL: OUT_LIT(o, "null"); return true;
    }
    return false;
}

size_t http_json_write(const json_t *v, char *buf, size_t cap)
{
    json_out o = {buf, cap, 0};
    return out_value(&o, v, 0) ? o.len : 0;
}

size_t http_json_string(const char *s, size_t len, char *buf, size_t cap)
{
    json_out o = {buf, cap, 0};
    out_string(&o, s, len);
    return o.len;
}

/* ------------------------------------------------------------------ reply */

/* Queue `buf` (malloc'd, ownership passes to MHD even on failure) with
 * the extra headers `extra[0..n)`. */
static int queue(http_request *req, unsigned status, const char *content_type, char *buf,
                 size_t len, const http_header *extra, size_t n_extra)
{
    if (req->replied) {
        free(buf);
        return -1;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(buf);
        return -1;
    }
    bool ok = (content_type == NULL ||
               MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) ==
                   MHD_YES) &&
              MHD_add_response_header(resp, "X-Request-Id", req->id) == MHD_YES;
    for (size_t i = 0; ok && i < n_extra; i++)
        if (extra[i].name != NULL && extra[i].value != NULL)
            ok = MHD_add_response_header(resp, extra[i].name, extra[i].value) == MHD_YES;
    if (ok && req->draining != NULL && atomic_load(req->draining))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (ok && req->deferred) {
        /* Possibly on another thread, the connection suspended (or about to
         * be): MHD must not be touched; the server queues it on resumption. */
        req->held = resp;
    } else {
        if (ok)
            ok = MHD_queue_response(req->conn, status, resp) == MHD_YES;
        MHD_destroy_response(resp);
    }
    if (!ok)
        return -1;
    req->replied = true;
    req->status = status;
    req->bytes_out = len;
    return 0;
}

void request_defer(http_request *req)
{
    req->deferred = true;
    atomic_store(&req->defer_state, HTTP_DEFER_WAITING);
}

void request_resume(http_request *req)
{
    /* Still WAITING: the handler's thread has not suspended the connection
     * yet (MHD_resume_connection on a connection not suspended is undefined
     * behaviour); it sees READY and sends the reply itself. */
    int expected = HTTP_DEFER_WAITING;
    if (atomic_compare_exchange_strong(&req->defer_state, &expected, HTTP_DEFER_READY))
        return;
    /* SUSPENDED: ours to resume. The connection stays suspended, and the
     * request alive, until MHD_resume_connection; not a byte of it after. */
    struct MHD_Connection *conn = req->conn;
    atomic_store(&req->defer_state, HTTP_DEFER_RESUMED);
    MHD_resume_connection(conn);
}

static int reply_json_hdr(http_request *req, unsigned status, json_t *body, const char *xname,
                          const char *xvalue)
{
    if (body == NULL)
        return -1;
    if (req->replied) {
        json_decref(body);
        return -1;
    }
    /* One serialisation into the stack for the usual small answer; a second
     * one, straight into the heap, only for a large one. */
    char stackbuf[4096];
    size_t n = http_json_write(body, stackbuf, sizeof stackbuf);
    char *buf = n > 0 ? malloc(n + 1) : NULL;
    bool ok = buf != NULL;
    if (ok && n <= sizeof stackbuf)
        memcpy(buf, stackbuf, n);
    else if (ok)
        ok = http_json_write(body, buf, n) == n;
    explicit_bzero(stackbuf, n < sizeof stackbuf ? n : sizeof stackbuf); /* identity data */
    json_decref(body);
    if (!ok) {
        free(buf);
        return -1;
    }
    buf[n] = '\n';
    http_header x = {xname, xvalue};
    return queue(req, status, "application/json; charset=utf-8", buf, n + 1, &x,
                 xname != NULL ? 1 : 0);
}

int reply_json(http_request *req, unsigned status, json_t *body)
{
    return reply_json_hdr(req, status, body, NULL, NULL);
}

int reply_error_with_header(http_request *req, unsigned status, const char *code,
                            const char *message, const char *header, const char *value)
{
    json_t *msg = json_string(message);
    if (msg == NULL) {
        /* Not valid UTF-8 (it quoted client bytes): keep only ASCII. */
        char *copy = strdup(message);
        if (copy != NULL) {
            for (char *p = copy; *p; p++)
                if ((unsigned char)*p >= 0x80)
                    *p = '?';
            msg = json_string(copy);
            free(copy);
        }
        if (msg == NULL)
            msg = json_string("(message unavailable)");
    }
    json_t *body = json_pack("{s:{s:s,s:o,s:s}}", "error", "code", code, "message", msg,
                             "request_id", req->id);
    return reply_json_hdr(req, status, body, header, value);
}

int reply_error(http_request *req, unsigned status, const char *code, const char *message)
{
    return reply_error_with_header(req, status, code, message, NULL, NULL);
}

int reply_bytes_headers(http_request *req, unsigned status, const char *content_type,
                        const void *data, size_t len, const http_header *headers, size_t n)
{
    char *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return -1;
    if (len)
        memcpy(buf, data, len);
    return queue(req, status, content_type, buf, len, headers, n);
}

int reply_bytes_with(http_request *req, unsigned status, const char *content_type,
                     const void *data, size_t len, const char *header, const char *value)
{
    http_header x = {header, value};
    return reply_bytes_headers(req, status, content_type, data, len, &x, header != NULL ? 1 : 0);
}

int reply_bytes(http_request *req, unsigned status, const char *content_type, const void *data,
                size_t len)
{
    return reply_bytes_with(req, status, content_type, data, len, NULL, NULL);
}

/* -------------------------------------------------------------- JSON body */

bool http_media_type_is(const char *ct, const char *want, bool *utf8)
{
    if (utf8 != NULL)
        *utf8 = true;
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    size_t m = n;
    while (m > 0 && (ct[m - 1] == ' ' || ct[m - 1] == '\t'))
        m--;
    if (m != strlen(want) || strncasecmp(ct, want, m) != 0)
        return false;
    for (const char *p = ct + n; *p == ';';) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ";");
        if (utf8 != NULL && strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8;
            size_t vlen = len - 8;
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            *utf8 = (vlen == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
                    (vlen == 4 && strncasecmp(v, "utf8", 4) == 0);
        }
        p += len;
    }
    return true;
}

json_t *request_json_object(http_request *req)
{
    if (!http_media_type_is(request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE), "application/json",
                            NULL)) {
        reply_error(req, 415, "unsupported_media_type",
                    "the request body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        char msg[JSON_ERROR_TEXT_LENGTH + 64];
        snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        reply_error(req, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        reply_error(req, 400, "bad_json", "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

static int field_missing(http_request *req, const char *field)
{
    char msg[160];
    snprintf(msg, sizeof msg, "field '%s' is required", field);
    reply_error(req, 400, "missing_field", msg);
    return -1;
}

static int field_invalid(http_request *req, const char *field, const char *must)
{
    char msg[200];
    snprintf(msg, sizeof msg, "field '%s' must be %s", field, must);
    reply_error(req, 400, "invalid_field", msg);
    return -1;
}

/* Shared head of the getters: 1 = value present in *v, 0 = absent and
 * optional, -1 = replied. */
static int field_lookup(http_request *req, json_t *obj, const char *field, bool required,
                        json_t **v, bool *present)
{
    if (present != NULL)
        *present = false;
    *v = json_object_get(obj, field);
    if (*v == NULL || json_is_null(*v)) {
        if (required)
            return field_missing(req, field);
        return 0;
    }
    return 1;
}

int request_field_string(http_request *req, json_t *obj, const char *field, bool required,
                         const char **out, size_t *len, bool *present)
{
    json_t *v;
    int r = field_lookup(req, obj, field, required, &v, present);
    if (r <= 0)
        return r;
    if (!json_is_string(v))
        return field_invalid(req, field, "a string");
    *out = json_string_value(v);
    if (len != NULL)
        *len = json_string_length(v);
    if (present != NULL)
        *present = true;
    return 0;
}

int request_field_bool(http_request *req, json_t *obj, const char *field, bool required,
                       bool *out, bool *present)
{
    json_t *v;
    int r = field_lookup(req, obj, field, required, &v, present);
    if (r <= 0)
        return r;
    if (!json_is_boolean(v))
        return field_invalid(req, field, "true or false");
    *out = json_is_true(v);
    if (present != NULL)
        *present = true;
    return 0;
}

static int field_date(http_request *req, json_t *obj, const char *field, bool required,
                      sm_date *out, bool *present, bool iso)
{
    json_t *v;
    int r = field_lookup(req, obj, field, required, &v, present);
    if (r <= 0)
        return r;
    const char *must = iso ? "a date as \"YYYY-MM-DD\"" : "a date as \"YYYYMMDD\"";
    if (!json_is_string(v))
        return field_invalid(req, field, must);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    sm_date d;
    bool ok = iso ? sm_date_parse_iso(s, n, &d) : sm_date_parse_compact(s, n, &d);
    if (!ok)
        return field_invalid(req, field, must);
    *out = d;
    if (present != NULL)
        *present = true;
    return 0;
}

int request_field_date_iso(http_request *req, json_t *obj, const char *field, bool required,
                           sm_date *out, bool *present)
{
    return field_date(req, obj, field, required, out, present, true);
}

int request_field_date_compact(http_request *req, json_t *obj, const char *field,
                               bool required, sm_date *out, bool *present)
{
    return field_date(req, obj, field, required, out, present, false);
}

int reply_result_with(http_request *req, unsigned status, json_t *result, const char *header,
                      const char *value)
{
    if (result == NULL)
        return reply_error(req, 500, "internal", "out of memory");
    if (json_object_set_new(result, "request_id", json_string(req->id)) != 0) {
        json_decref(result);
        return reply_error(req, 500, "internal", "out of memory");
    }
    return reply_json_hdr(req, status, result, header, value);
}

int reply_result(http_request *req, json_t *result)
{
    return reply_result_with(req, 200, result, NULL, NULL);
}
