/*
 * accesslog.h — structured lines on stderr: one JSON object per request
 * (the access log) and one per server event ("listening", "shutdown", …).
 *
 * Each line is written with a single write(2) so that lines from different
 * threads never interleave (lines are far below PIPE_BUF in practice; a
 * partial write is completed, never mixed within this process's own lock-free
 * writes).
 *
 * Thread-safety: all functions may be called from any thread.
 * Must never: write a raw ID number or name (requests carry only masked
 * subjects; paths of unmatched routes are scrubbed of digits and non-ASCII),
 * or write a line that is not valid JSON. Events are built with jansson; the
 * access-log line, on every request's path, by a small writer in
 * accesslog.c with jansson's exact string escaping (no allocation, the
 * timestamp's seconds cached per thread).
 */
#ifndef SHIMING_HTTP_ACCESSLOG_H
#define SHIMING_HTTP_ACCESSLOG_H

#include <jansson.h>

#include "http/request.h"

/* Write one access-log line for a finished request; `latency_s` is the time
 * from headers received to response sent. */
void accesslog_request(const http_request *req, double latency_s);

/* Write `event` (stolen) as one line, adding "ts" first if absent. */
void accesslog_event(json_t *event);

/* RFC 3339 UTC timestamp with milliseconds: "2024-05-01T12:34:56.789Z". */
#define ACCESSLOG_TS_MAX 64
void accesslog_timestamp(char out[ACCESSLOG_TS_MAX]);

#endif
