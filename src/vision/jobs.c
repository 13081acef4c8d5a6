/* jobs.c — placeholder until the worker pool lands (see jobs.h). */
#include "vision/jobs.h"

#include <stdlib.h>

vx_jobs *vx_jobs_start(unsigned workers, size_t queue_max) { (void)workers; (void)queue_max; return NULL; }
bool vx_jobs_submit(vx_jobs *j, vx_job_fn fn, void *arg) { (void)j; (void)fn; (void)arg; return false; }
size_t vx_jobs_waiting(vx_jobs *j) { (void)j; return 0; }
void vx_jobs_stop(vx_jobs *j) { (void)j; }
