/*
 * metrics.h — process-wide HTTP metrics, rendered as Prometheus text (0.0.4)
 * at GET /metrics.
 *
 *   shiming_http_requests_total{route,method,status}       counter
 *   shiming_http_request_duration_seconds{route}           histogram, 50 µs .. 10 s
 *   shiming_http_in_flight                                 gauge
 *   shiming_build_info{version}                            gauge (1)
 *   process_start_time_seconds                             gauge (Unix time)
 *
 * Thread-safety: every function may be called from any thread at any time
 * after metrics_init(); the hot path (metrics_route_slot, metrics_observe,
 * in-flight) is lock-free (C11 atomics, no allocation). State is global: one
 * set of metrics per process.
 *
 * Must never: allocate or lock on the hot path, or take label values from
 * the client (routes are the server's names; unknown methods are "OTHER").
 */
#ifndef SHIMING_HTTP_METRICS_H
#define SHIMING_HTTP_METRICS_H

#include <stddef.h>

#include "http/request.h"

/* Route slots. Slot 0 is "unmatched"; names are registered on first sight. */
#define METRICS_MAX_ROUTES 64
#define METRICS_UNMATCHED 0

/* Record the process start time. Call once, before any thread starts. */
void metrics_init(void);

/* The slot for a route name (a static string: the pointer is kept). Names
 * beyond METRICS_MAX_ROUTES share the "unmatched" slot. */
size_t metrics_route_slot(const char *route);

/* Count one finished request. */
void metrics_observe(size_t slot, const char *method, unsigned status, double seconds);

void metrics_in_flight_add(int delta);
long metrics_in_flight(void);

/* Seconds since metrics_init() (monotonic). */
double metrics_uptime_seconds(void);

/* The Prometheus text (malloc'd, NUL-terminated; free it), length in *len.
 * NULL on allocation failure. */
char *metrics_render(size_t *len);

/* Route handler for GET /metrics. */
void metrics_handle(http_request *req);

#endif
