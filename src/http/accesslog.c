/*
 * accesslog.c — JSON lines on stderr: the access log and server events.
 *
 * Must never: write raw identity data (only the masked subject fields the
 * handler recorded; unmatched paths are scrubbed), write a line in more than
 * one write(2) unless the kernel forces a partial write, or build JSON by hand.
 */
#include "http/accesslog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_FD 2
#define SCRUBBED_PATH_MAX 128

void accesslog_timestamp(char out[ACCESSLOG_TS_MAX])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, ACCESSLOG_TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void write_line(json_t *obj)
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
        size_t off = 0;
        while (off < n + 1) {
            ssize_t w = write(LOG_FD, buf + off, n + 1 - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                break; /* stderr gone: nothing sensible to do */
            }
            off += (size_t)w;
        }
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
    write_line(event);
    json_decref(event);
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

void accesslog_request(const http_request *req, double latency_s)
{
    char ts[ACCESSLOG_TS_MAX];
    accesslog_timestamp(ts);

    char path[SCRUBBED_PATH_MAX + 4];
    if (req->handler != NULL && strcmp(req->route, "unmatched") != 0)
        snprintf(path, sizeof path, "%s", req->path); /* a path the server knows */
    else
        scrub_path(req->path, path, sizeof path);
    if (strlen(req->path) >= sizeof path) /* known paths are short; be safe */
        scrub_path(req->path, path, sizeof path);

    json_t *line = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:f,s:I,s:I,s:n,s:s,s:s?}", "ts", ts, "request_id", req->id,
        "remote", req->remote, "method", req->method[0] ? req->method : "OTHER", "path", path,
        "route", req->route, "status", (int)req->status, "latency_ms", latency_s * 1000.0,
        "bytes_in", (json_int_t)req->bytes_in, "bytes_out", (json_int_t)req->bytes_out, "app",
        "dialect", "native", "verdict", req->verdict);
    if (line == NULL)
        return;
    if (req->subject_id[0] != '\0' || req->subject_name[0] != '\0') {
        json_t *subject = json_object();
        if (req->subject_id[0] != '\0')
            json_object_set_new(subject, "id_number", json_string(req->subject_id));
        if (req->subject_name[0] != '\0')
            json_object_set_new(subject, "name", json_string(req->subject_name));
        json_object_set_new(line, "subject", subject);
    }
    write_line(line);
    json_decref(line);
}
