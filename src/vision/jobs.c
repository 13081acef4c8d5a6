/*
 * jobs.c — the bounded worker pool of jobs.h: `workers` pthreads take jobs
 * from a ring of `queue_max` slots, first in, first out.
 *
 * Must never: grow the queue past queue_max (submit refuses instead), run
 * a job twice or drop one it accepted (vx_jobs_stop runs every job queued
 * before it returns), or hold the lock while a job runs.
 */
#include "vision/jobs.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    vx_job_fn fn;
    void *arg;
} job;

struct vx_jobs {
    pthread_mutex_t lock;
    pthread_cond_t ready;   /* a job was queued, or the pool is stopping */
    job *ring;
    size_t cap, head, count;
    bool stopping;
    pthread_t *threads;
    unsigned n_threads;     /* started */
};

static void *worker(void *arg)
{
    vx_jobs *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        while (j->count == 0 && !j->stopping)
            pthread_cond_wait(&j->ready, &j->lock);
        if (j->count == 0) { /* stopping, and nothing left to run */
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
        job w = j->ring[j->head];
        j->head = (j->head + 1) % j->cap;
        j->count--;
        pthread_mutex_unlock(&j->lock);
        w.fn(w.arg);
    }
}

vx_jobs *vx_jobs_start(unsigned workers, size_t queue_max)
{
    if (workers == 0 || queue_max == 0)
        return NULL;
    vx_jobs *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->ring = calloc(queue_max, sizeof *j->ring);
    j->threads = calloc(workers, sizeof *j->threads);
    if (j->ring == NULL || j->threads == NULL || pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j->ring);
        free(j->threads);
        free(j);
        return NULL;
    }
    if (pthread_cond_init(&j->ready, NULL) != 0) {
        pthread_mutex_destroy(&j->lock);
        free(j->ring);
        free(j->threads);
        free(j);
        return NULL;
    }
    j->cap = queue_max;
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&j->threads[i], NULL, worker, j) != 0)
            break;
        j->n_threads++;
    }
    if (j->n_threads == 0) {
        vx_jobs_stop(j);
        return NULL;
    }
    return j;
}

bool vx_jobs_submit(vx_jobs *j, vx_job_fn fn, void *arg)
{
    if (j == NULL || fn == NULL)
        return false;
    pthread_mutex_lock(&j->lock);
    bool ok = !j->stopping && j->count < j->cap;
    if (ok) {
        j->ring[(j->head + j->count) % j->cap] = (job){fn, arg};
        j->count++;
        pthread_cond_signal(&j->ready);
    }
    pthread_mutex_unlock(&j->lock);
    return ok;
}

size_t vx_jobs_waiting(vx_jobs *j)
{
    if (j == NULL)
        return 0;
    pthread_mutex_lock(&j->lock);
    size_t n = j->count;
    pthread_mutex_unlock(&j->lock);
    return n;
}

void vx_jobs_stop(vx_jobs *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->ready);
    pthread_mutex_unlock(&j->lock);
    /* The workers drain the queue before they return. */
    for (unsigned i = 0; i < j->n_threads; i++)
        pthread_join(j->threads[i], NULL);
    pthread_cond_destroy(&j->ready);
    pthread_mutex_destroy(&j->lock);
    free(j->threads);
    free(j->ring);
    free(j);
}
