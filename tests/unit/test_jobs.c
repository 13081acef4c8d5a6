/*
 * test_jobs.c — unit tests for the bounded worker pool (src/vision/jobs.c):
 * every accepted job runs exactly once, the queue refuses past queue_max
 * while the workers are busy, stop drains what is queued, jobs run in
 * parallel on several workers, and a stopping pool refuses new jobs.
 *
 * Must never: depend on timing for a pass (the busy workers are held on a
 * gate the test opens itself; sleeps only give a wrong pool a chance to
 * misbehave).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vision/jobs.h"

/* A gate the test opens: jobs that wait on it keep their worker busy. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int waiting;          /* jobs blocked on the gate now */
    atomic_int ran;       /* jobs that have finished */
    atomic_int order[64]; /* the order counting jobs ran in */
    atomic_int next;
} gate;

static gate g;

static void gate_reset(void)
{
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    g.open = false;
    g.waiting = 0;
    atomic_store(&g.ran, 0);
    atomic_store(&g.next, 0);
}

static void gate_open(void)
{
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

/* Wait until `n` jobs are blocked on the gate. */
static void gate_wait_blocked(int n)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&g.lock);
        int w = g.waiting;
        pthread_mutex_unlock(&g.lock);
        if (w >= n)
            return;
        usleep(1000);
    }
    fail_msg("%d jobs never blocked on the gate", n);
}

static void blocking_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    g.waiting++;
    while (!g.open)
        pthread_cond_wait(&g.cond, &g.lock);
    g.waiting--;
    pthread_mutex_unlock(&g.lock);
    atomic_fetch_add(&g.ran, 1);
}

static void counting_job(void *arg)
{
    int k = (int)(intptr_t)arg;
    int slot = atomic_fetch_add(&g.next, 1);
    if (slot < 64)
        atomic_store(&g.order[slot], k);
    atomic_fetch_add(&g.ran, 1);
}

static void test_start_refuses_zero(void **state)
{
    (void)state;
    assert_null(vx_jobs_start(0, 4));
    assert_null(vx_jobs_start(2, 0));
    /* NULL pool: every call is safe */
    assert_false(vx_jobs_submit(NULL, counting_job, NULL));
    assert_int_equal(vx_jobs_waiting(NULL), 0);
    vx_jobs_stop(NULL);
}

static void test_runs_every_job_once(void **state)
{
    (void)state;
    gate_reset();
    vx_jobs *j = vx_jobs_start(3, 64);
    assert_non_null(j);
    int accepted = 0;
    for (int i = 0; i < 1000; i++) {
        while (!vx_jobs_submit(j, counting_job, (void *)(intptr_t)i))
            usleep(100); /* full: the workers catch up */
        accepted++;
    }
    vx_jobs_stop(j);
    assert_int_equal(atomic_load(&g.ran), accepted);
}

static void test_bounded_queue_and_drain(void **state)
{
    (void)state;
    gate_reset();
    vx_jobs *j = vx_jobs_start(1, 2);
    assert_non_null(j);
    /* The only worker is held; two jobs may wait, the next is refused. */
    assert_true(vx_jobs_submit(j, blocking_job, NULL));
    gate_wait_blocked(1);
    assert_true(vx_jobs_submit(j, counting_job, (void *)(intptr_t)1));
    assert_true(vx_jobs_submit(j, counting_job, (void *)(intptr_t)2));
    assert_int_equal(vx_jobs_waiting(j), 2);
    assert_false(vx_jobs_submit(j, counting_job, (void *)(intptr_t)3));
    assert_int_equal(vx_jobs_waiting(j), 2);
    usleep(20000);
    assert_int_equal(atomic_load(&g.ran), 0); /* nothing overtook the held worker */
    gate_open();
    vx_jobs_stop(j); /* drains: both queued jobs ran, in order */
    assert_int_equal(atomic_load(&g.ran), 3);
    assert_int_equal(atomic_load(&g.order[0]), 1);
    assert_int_equal(atomic_load(&g.order[1]), 2);
}

static void test_workers_run_in_parallel(void **state)
{
    (void)state;
    gate_reset();
    vx_jobs *j = vx_jobs_start(4, 8);
    assert_non_null(j);
    for (int i = 0; i < 4; i++)
        assert_true(vx_jobs_submit(j, blocking_job, NULL));
    gate_wait_blocked(4); /* four jobs at once: four workers */
    assert_int_equal(vx_jobs_waiting(j), 0);
    gate_open();
    vx_jobs_stop(j);
    assert_int_equal(atomic_load(&g.ran), 4);
}

/* Stop from another thread while a job is held: submit must refuse once
 * stopping, and stop must still wait for the held job. */
static vx_jobs *stopping_pool;

static void *stopper(void *arg)
{
    (void)arg;
    vx_jobs_stop(stopping_pool);
    return NULL;
}

static void test_stopping_refuses(void **state)
{
    (void)state;
    gate_reset();
    stopping_pool = vx_jobs_start(1, 10000); /* never full here: a refusal means stopping */
    assert_non_null(stopping_pool);
    assert_true(vx_jobs_submit(stopping_pool, blocking_job, NULL));
    gate_wait_blocked(1);
    assert_true(vx_jobs_submit(stopping_pool, counting_job, (void *)(intptr_t)7));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, NULL), 0);
    /* Until stop has begun, submitting may succeed; once it has, it must
     * not. Probe until refused (the stopper is blocked on the held job). */
    bool refused = false;
    for (int i = 0; i < 5000 && !refused; i++) {
        refused = !vx_jobs_submit(stopping_pool, counting_job, (void *)(intptr_t)8);
        if (!refused)
            usleep(1000);
    }
    assert_true(refused);
    int before = atomic_load(&g.ran);
    assert_int_equal(before, 0); /* stop has not returned: the held job runs on */
    gate_open();
    pthread_join(th, NULL);
    /* the held job, the queued 7, and any 8 accepted before stop began */
    assert_true(atomic_load(&g.ran) >= 2);
    assert_int_equal(atomic_load(&g.order[0]), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_refuses_zero),
        cmocka_unit_test(test_runs_every_job_once),
        cmocka_unit_test(test_bounded_queue_and_drain),
        cmocka_unit_test(test_workers_run_in_parallel),
        cmocka_unit_test(test_stopping_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
