/*
 * jobs.h — the bounded worker pool that runs inference off the HTTP
 * threads. A handler defers its reply (request_defer), submits a job, and
 * the job's function answers and resumes the request from a worker.
 *
 * Bounded: at most `queue_max` jobs wait; vx_jobs_submit refuses more
 * (the handler answers 503 with Retry-After), never an unbounded backlog.
 * Thread-safe. vx_jobs_stop runs every queued job before it returns.
 */
#ifndef SHIMING_VISION_JOBS_H
#define SHIMING_VISION_JOBS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vx_jobs vx_jobs;
typedef void (*vx_job_fn)(void *arg);

vx_jobs *vx_jobs_start(unsigned workers, size_t queue_max);
/* false when the queue is full or the pool is stopping: fn is not run. */
bool vx_jobs_submit(vx_jobs *j, vx_job_fn fn, void *arg);
/* Jobs waiting now (for a Retry-After estimate, metrics). */
size_t vx_jobs_waiting(vx_jobs *j);
void vx_jobs_stop(vx_jobs *j);

#endif
