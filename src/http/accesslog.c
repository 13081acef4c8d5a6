/*
 * accesslog.c — JSON lines on stderr: the access log and server events.
 *
 * The access-log line is on every request's path, so it is written by a
 * small writer of its own into a stack buffer: fixed keys in a fixed order,
 * integers by hand, latency from integer nanoseconds, the timestamp's
 * second-resolution prefix cached per thread, and every string value through
 * http_json_string (request.h: the escaping jansson applies — '"', '\\' and
 * control characters escaped, UTF-8 kept — with invalid UTF-8 replaced by
 * U+FFFD, so that the line is always valid JSON). Events are rare and go
 * through jansson.
 *
 * Must never: write raw identity data (only the masked subject fields the
 * handler recorded; unmatched paths are scrubbed), write a line in more than
 * one write(2) unless the kernel forces a partial write, emit a line that is
 * not valid JSON, or allocate on the request path.
 */
#include "http/accesslog.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_FD 2
#define SCRUBBED_PATH_MAX 128

static void write_all(const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(LOG_FD, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* stderr gone: nothing sensible to do */
        }
        off += (size_t)w;
    }
}

/* ------------------------------------------------------------- timestamp */

/* "YYYY-MM-DDTHH:MM:SS" of the last second this thread formatted. */
static _Thread_local struct {
    time_t sec;
    bool valid;
    char prefix[20];
} ts_cache;

static void put2(char *p, int v)
{
    p[0] = (char)('0' + (v / 10) % 10);
    p[1] = (char)('0' + v % 10);
}

/* Writes the 24 characters "2024-05-01T12:34:56.789Z" (no NUL). */
static void timestamp24(char out[24])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!ts_cache.valid || ts_cache.sec != ts.tv_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int y = tm.tm_year + 1900;
        if (y < 0)
            y = 0;
        char *p = ts_cache.prefix;
        put2(p, (y / 100) % 100);
        put2(p + 2, y % 100);
        p[4] = '-';
        put2(p + 5, tm.tm_mon + 1);
        p[7] = '-';
        put2(p + 8, tm.tm_mday);
        p[10] = 'T';
        put2(p + 11, tm.tm_hour);
        p[13] = ':';
        put2(p + 14, tm.tm_min);
        p[16] = ':';
        put2(p + 17, tm.tm_sec);
        ts_cache.sec = ts.tv_sec;
        ts_cache.valid = true;
    }
    memcpy(out, ts_cache.prefix, 19);
    int ms = (int)(ts.tv_nsec / 1000000);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    put2(out + 21, ms % 100);
    out[23] = 'Z';
}

void accesslog_timestamp(char out[ACCESSLOG_TS_MAX])
{
    timestamp24(out);
    out[24] = '\0';
}

/* ----------------------------------------------------------------- events */

static void write_json(json_t *obj)
{
    size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (n == 0)
        return;
    char stackbuf[2048];
    char *buf = n + 1 <= sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (buf == NULL)
        return;
    if (json_dumpb(obj, buf, n, JSON_COMPACT | JSON_REAL_PRECISION(6)) == n) {
        buf[n] = '\n';
        write_all(buf, n + 1);
    }
    if (buf != stackbuf)
        free(buf);
}

void accesslog_event(json_t *event)
{
    if (event == NULL)
        return;
    if (json_object_get(event, "ts") == NULL) {
        char ts[ACCESSLOG_TS_MAX];
        accesslog_timestamp(ts);
        json_t *line = json_pack("{s:s}", "ts", ts);
        if (line != NULL) {
            json_object_update(line, event);
            json_decref(event);
            event = line;
        }
    }
    write_json(event);
    json_decref(event);
}

/* ------------------------------------------------------ the line writer */

/* A bounded writer: once full it stops writing and remembers that it
 * overflowed (the line is then dropped, never cut). */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} line_writer;

static void put(line_writer *w, const char *s, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_uint(line_writer *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, tmp + i, sizeof tmp - i);
}

/* A JSON string with jansson's escaping (request.c's http_json_string). */
static void put_string(line_writer *w, const char *s)
{
    if (w->overflow)
        return;
    size_t need = http_json_string(s, strlen(s), w->buf + w->len, w->cap - w->len);
    if (need > w->cap - w->len)
        w->overflow = true;
    else
        w->len += need;
}

/* Milliseconds from seconds, as a JSON number with up to six decimals
 * (nanosecond resolution) and at least one: 0.123456, 12.5, 3.0. */
static void put_latency_ms(line_writer *w, double seconds)
{
    if (!(seconds > 0)) /* also NaN */
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    uint64_t ns = (uint64_t)(seconds * 1e9 + 0.5);
    put_uint(w, ns / 1000000);
    char frac[7];
    uint64_t f = ns % 1000000;
    for (int i = 5; i >= 0; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    size_t keep = 6;
    while (keep > 1 && frac[keep - 1] == '0')
        keep--;
    PUT_LIT(w, ".");
    put(w, frac, keep);
}

/* For paths no route knows: keep ASCII letters and / . _ - ; every digit
 * and every non-ASCII character (a code point, however many bytes) becomes
 * '*', so an ID number or a name typed into a URL never reaches the log. */
static void scrub_path(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && o + 4 < cap; p++) {
        unsigned char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '/' || ch == '.' ||
            ch == '_' || ch == '-') {
            out[o++] = (char)ch;
        } else if (ch >= 0x80 && (ch & 0xC0) == 0x80) {
            continue; /* UTF-8 continuation byte: already starred */
        } else {
            out[o++] = '*';
        }
    }
    if (in[0] != '\0' && o + 4 >= cap && strlen(in) > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/*
 * {"ts","request_id","remote","method","path","route","status","latency_ms",
 *  "bytes_in","bytes_out","app" (the authenticated app's name, or null),
 *  "dialect" ("native" or the vendor dialect's name),"verdict",
 *  "subject"?:{"id_number"?,"name"?}} — the keys and order the line has
 * always had (it used to be built with json_pack).
 */
void accesslog_request(const http_request *req, double latency_s)
{
    /* Worst case, every value escaped six-fold, is far below this. */
    char buf[4096];
    line_writer w = {buf, sizeof buf - 1, 0, false}; /* room for the '\n' */

    char ts[24];
    timestamp24(ts);

    /* A path the server knows (a table entry: short, ASCII) is logged as it
     * is; anything else is scrubbed. */
    const char *path = req->path;
    char scrubbed[SCRUBBED_PATH_MAX + 4];
    if (req->handler == NULL || strcmp(req->route, "unmatched") == 0 ||
        strlen(req->path) >= sizeof scrubbed) {
        scrub_path(req->path, scrubbed, sizeof scrubbed);
        path = scrubbed;
    }

    PUT_LIT(&w, "{\"ts\":\"");
    put(&w, ts, sizeof ts);
    PUT_LIT(&w, "\",\"request_id\":");
    put_string(&w, req->id);
    PUT_LIT(&w, ",\"remote\":");
    put_string(&w, req->remote);
    PUT_LIT(&w, ",\"method\":");
    put_string(&w, req->method[0] ? req->method : "OTHER");
    PUT_LIT(&w, ",\"path\":");
    put_string(&w, path);
    PUT_LIT(&w, ",\"route\":");
    put_string(&w, req->route);
    PUT_LIT(&w, ",\"status\":");
    put_uint(&w, req->status);
    PUT_LIT(&w, ",\"latency_ms\":");
    put_latency_ms(&w, latency_s);
    PUT_LIT(&w, ",\"bytes_in\":");
    put_uint(&w, req->bytes_in);
    PUT_LIT(&w, ",\"bytes_out\":");
    put_uint(&w, req->bytes_out);
    PUT_LIT(&w, ",\"app\":");
    if (req->app[0] != '\0')
        put_string(&w, req->app);
    else
        PUT_LIT(&w, "null");
    PUT_LIT(&w, ",\"dialect\":");
    put_string(&w, req->dialect != NULL ? req->dialect : "native");
    PUT_LIT(&w, ",\"verdict\":");
    if (req->verdict != NULL)
        put_string(&w, req->verdict);
    else
        PUT_LIT(&w, "null");
    if (req->subject_id[0] != '\0' || req->subject_name[0] != '\0') {
        PUT_LIT(&w, ",\"subject\":{");
        if (req->subject_id[0] != '\0') {
            PUT_LIT(&w, "\"id_number\":");
            put_string(&w, req->subject_id);
        }
        if (req->subject_name[0] != '\0') {
            if (req->subject_id[0] != '\0')
                PUT_LIT(&w, ",");
            PUT_LIT(&w, "\"name\":");
            put_string(&w, req->subject_name);
        }
        PUT_LIT(&w, "}");
    }
    PUT_LIT(&w, "}");
    if (w.overflow)
        return; /* cannot happen with bounded fields; never write half a line */
    buf[w.len++] = '\n';
    write_all(buf, w.len);
}
