/*
 * metrics.c — lock-free request counters and latency histograms, and their
 * Prometheus text rendering.
 *
 * Counters live in a fixed open-addressing table keyed by (route slot,
 * method, status), claimed with compare-and-swap; histograms are fixed
 * arrays per route slot. Must never: lock or allocate on the hot path, or
 * let a client invent label values.
 */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shiming/shiming.h"

/* ---------------------------------------------------------------- routes */

static _Atomic(const char *) route_names[METRICS_MAX_ROUTES] = {"unmatched"};

size_t metrics_route_slot(const char *route)
{
    if (route == NULL)
        return METRICS_UNMATCHED;
    for (size_t i = 0; i < METRICS_MAX_ROUTES; i++) {
        const char *n = atomic_load_explicit(&route_names[i], memory_order_acquire);
        if (n == NULL) {
            const char *expected = NULL;
            if (atomic_compare_exchange_strong(&route_names[i], &expected, route))
                return i;
            n = expected; /* somebody else claimed it first */
        }
        if (n == route || strcmp(n, route) == 0)
            return i;
    }
    return METRICS_UNMATCHED;
}

/* --------------------------------------------------------------- methods */

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                      "PATCH", "OPTIONS", "OTHER"};
#define N_METHODS (sizeof methods / sizeof methods[0])

static unsigned method_index(const char *m)
{
    for (unsigned i = 0; i + 1 < N_METHODS; i++)
        if (m != NULL && strcmp(m, methods[i]) == 0)
            return i;
    return (unsigned)N_METHODS - 1;
}

/* -------------------------------------------------------------- counters */

#define CTR_SLOTS 4096 /* power of two */

/* key = (slot + 1) << 16 | method << 12 | status; never 0. */
static _Atomic uint32_t ctr_key[CTR_SLOTS];
static atomic_uint_fast64_t ctr_val[CTR_SLOTS];
static atomic_uint_fast64_t ctr_dropped;

static void counter_inc(uint32_t key)
{
    uint32_t h = key * 2654435761u;
    for (uint32_t i = 0; i < CTR_SLOTS; i++) {
        uint32_t idx = (h + i) & (CTR_SLOTS - 1);
        uint32_t k = atomic_load_explicit(&ctr_key[idx], memory_order_acquire);
        if (k == 0) {
            uint32_t expected = 0;
            if (atomic_compare_exchange_strong(&ctr_key[idx], &expected, key))
                k = key;
            else
                k = expected;
        }
        if (k == key) {
            atomic_fetch_add_explicit(&ctr_val[idx], 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&ctr_dropped, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ histograms */

static const double bucket_le[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                   0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                   0.5,     1,      2.5,     5,      10};
static const char *const bucket_text[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001",
                                          "0.0025", "0.005", "0.01", "0.025", "0.05",
                                          "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};
#define N_BUCKETS (sizeof bucket_le / sizeof bucket_le[0])

typedef struct {
    atomic_uint_fast64_t bucket[N_BUCKETS + 1]; /* non-cumulative; last = +Inf */
    atomic_uint_fast64_t sum_ns;
} histogram;

static histogram hist[METRICS_MAX_ROUTES];

/* ----------------------------------------------------------------- gauges */

static atomic_long in_flight;
static struct timespec started_mono;
static struct timespec started_real;

void metrics_init(void)
{
    clock_gettime(CLOCK_MONOTONIC, &started_mono);
    clock_gettime(CLOCK_REALTIME, &started_real);
}

void metrics_in_flight_add(int delta)
{
    atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

long metrics_in_flight(void)
{
    return atomic_load_explicit(&in_flight, memory_order_relaxed);
}

double metrics_uptime_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started_mono.tv_sec) +
           (double)(now.tv_nsec - started_mono.tv_nsec) / 1e9;
}

void metrics_observe(size_t slot, const char *method, unsigned status, double seconds)
{
    if (slot >= METRICS_MAX_ROUTES)
        slot = METRICS_UNMATCHED;
    if (status > 999)
        status = 999;
    uint32_t key = (uint32_t)(slot + 1) << 16 | method_index(method) << 12 | status;
    counter_inc(key);

    if (seconds < 0)
        seconds = 0;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > bucket_le[b])
        b++;
    histogram *h = &hist[slot];
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    double ns = seconds * 1e9;
    atomic_fetch_add_explicit(&h->sum_ns, ns > 1e18 ? (uint_fast64_t)1e18 : (uint_fast64_t)ns,
                              memory_order_relaxed);
}

/* ---------------------------------------------------------------- render */

typedef struct {
    uint32_t key;
    uint64_t val;
} ctr_snap;

static int cmp_snap(const void *a, const void *b)
{
    uint32_t x = ((const ctr_snap *)a)->key, y = ((const ctr_snap *)b)->key;
    return x < y ? -1 : x > y;
}

char *metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (out == NULL)
        return NULL;

    ctr_snap *snap = malloc(sizeof *snap * CTR_SLOTS);
    size_t n = 0;
    if (snap != NULL) {
        for (size_t i = 0; i < CTR_SLOTS; i++) {
            uint32_t k = atomic_load_explicit(&ctr_key[i], memory_order_acquire);
            if (k != 0) {
                snap[n].key = k;
                snap[n].val = atomic_load_explicit(&ctr_val[i], memory_order_relaxed);
                n++;
            }
        }
        qsort(snap, n, sizeof *snap, cmp_snap);
    }

    fputs("# HELP shiming_http_requests_total HTTP requests answered, by route, method and "
          "status.\n# TYPE shiming_http_requests_total counter\n",
          out);
    for (size_t i = 0; i < n; i++) {
        size_t slot = (snap[i].key >> 16) - 1;
        unsigned m = (snap[i].key >> 12) & 0xf;
        unsigned status = snap[i].key & 0xfff;
        const char *route = atomic_load(&route_names[slot]);
        fprintf(out, "shiming_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
                route ? route : "unmatched", m < N_METHODS ? methods[m] : "OTHER", status,
                (unsigned long long)snap[i].val);
    }
    free(snap);

    fputs("# HELP shiming_http_request_duration_seconds Time from request headers received to "
          "response sent, by route.\n"
          "# TYPE shiming_http_request_duration_seconds histogram\n",
          out);
    for (size_t s = 0; s < METRICS_MAX_ROUTES; s++) {
        const char *route = atomic_load(&route_names[s]);
        if (route == NULL)
            break;
        histogram *h = &hist[s];
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
            fprintf(out, "shiming_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                    route, b < N_BUCKETS ? bucket_text[b] : "+Inf", (unsigned long long)cum);
        }
        double sum = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
        fprintf(out, "shiming_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", route, sum);
        fprintf(out, "shiming_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route,
                (unsigned long long)cum);
    }

    fprintf(out,
            "# HELP shiming_http_in_flight Requests received and not yet answered.\n"
            "# TYPE shiming_http_in_flight gauge\n"
            "shiming_http_in_flight %ld\n",
            metrics_in_flight());
    fprintf(out,
            "# HELP shiming_http_requests_uncounted_total Requests not counted by label "
            "(label table full).\n"
            "# TYPE shiming_http_requests_uncounted_total counter\n"
            "shiming_http_requests_uncounted_total %llu\n",
            (unsigned long long)atomic_load(&ctr_dropped));
    fprintf(out,
            "# HELP shiming_build_info The running shiming version.\n"
            "# TYPE shiming_build_info gauge\n"
            "shiming_build_info{version=\"%s\"} 1\n",
            SHIMING_VERSION);
    fprintf(out,
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch "
            "in seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds %lld.%03ld\n",
            (long long)started_real.tv_sec, started_real.tv_nsec / 1000000);

    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    if (len != NULL)
        *len = size;
    return buf;
}

void metrics_handle(http_request *req)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL) {
        reply_error(req, 500, "internal", "could not render the metrics");
        return;
    }
    reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
