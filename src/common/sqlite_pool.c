/*
 * sqlite_pool.c — the read-connection pool with read-snapshot reuse
 * (sqlite_pool.h): borrow/return under a mutex and condition variable with
 * the busy timeout, a write generation that makes every snapshot stale at
 * once, and the janitor thread that ends idle snapshots.
 *
 * Must never: write to a database; touch a borrowed reader's connection
 * from any thread but its borrower's (the janitor touches only readers in
 * the free stack, under pool_lock); wait longer than the busy timeout.
 */
#include "common/sqlite_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct sqlp_reader {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit;
    bool in_txn;          /* holds a read snapshot */
    uint64_t gen;         /* the write generation it was taken at */
    uint64_t started_ms;  /* when (CLOCK_MONOTONIC) */
    void *area;           /* the caller's per-reader area */
};

struct sqlp_pool {
    unsigned busy_ms;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;    /* a reader was returned */
    sqlp_reader *readers;
    unsigned n_readers;
    unsigned *free_idx;          /* stack of free reader indexes */
    unsigned n_free;
    unsigned char *areas;

    _Atomic uint64_t write_gen;  /* bumped after every commit through the owner */
    pthread_t janitor;
    bool janitor_running;
    bool stopping;               /* under pool_lock: janitor must exit */
    pthread_cond_t janitor_cond;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec deadline_after_ms(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void sqlp_end_snapshot(sqlp_reader *rd)
{
    if (rd == NULL || !rd->in_txn)
        return;
    rd->in_txn = false;
    if (sqlite3_get_autocommit(rd->db))
        return; /* already ended (an error rolled it back, or the caller's COMMIT) */
    /* COMMIT of a read-only transaction cannot fail in a way that matters;
     * if it does, the connection is rolled back. */
    if (sqlite3_step(rd->commit) != SQLITE_DONE) {
        sqlite3_reset(rd->commit);
        sqlite3_exec(rd->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_reset(rd->commit);
}

static bool snapshot_stale(const sqlp_pool *p, const sqlp_reader *rd, uint64_t now)
{
    return rd->gen != atomic_load_explicit(&p->write_gen, memory_order_acquire) ||
           now - rd->started_ms >= SQLP_SNAPSHOT_MS;
}

int sqlp_snapshot(sqlp_pool *p, sqlp_reader *rd)
{
    uint64_t now = now_ms();
    if (rd->in_txn && (snapshot_stale(p, rd, now) || sqlite3_get_autocommit(rd->db)))
        sqlp_end_snapshot(rd);
    if (rd->in_txn)
        return SQLITE_OK;
    uint64_t gen = atomic_load_explicit(&p->write_gen, memory_order_acquire);
    int rc = sqlite3_step(rd->begin);
    sqlite3_reset(rd->begin);
    if (rc != SQLITE_DONE)
        return rc;
    rd->in_txn = true;
    rd->gen = gen;
    rd->started_ms = now;
    return SQLITE_OK;
}

void sqlp_writes_committed(sqlp_pool *p)
{
    atomic_fetch_add_explicit(&p->write_gen, 1, memory_order_release);
}

/* Called with pool_lock held. */
static void release_idle_locked(sqlp_pool *p)
{
    uint64_t now = now_ms();
    for (unsigned i = 0; i < p->n_free; i++) {
        sqlp_reader *rd = &p->readers[p->free_idx[i]];
        if (rd->in_txn && snapshot_stale(p, rd, now))
            sqlp_end_snapshot(rd);
    }
}

void sqlp_release_idle(sqlp_pool *p)
{
    pthread_mutex_lock(&p->pool_lock);
    release_idle_locked(p);
    pthread_mutex_unlock(&p->pool_lock);
}

static void *janitor_main(void *arg)
{
    sqlp_pool *p = arg;
    pthread_mutex_lock(&p->pool_lock);
    while (!p->stopping) {
        struct timespec dl = deadline_after_ms(SQLP_SNAPSHOT_MS);
        pthread_cond_timedwait(&p->janitor_cond, &p->pool_lock, &dl);
        release_idle_locked(p);
    }
    pthread_mutex_unlock(&p->pool_lock);
    return NULL;
}

sqlp_reader *sqlp_borrow(sqlp_pool *p)
{
    pthread_mutex_lock(&p->pool_lock);
    if (p->n_free == 0) {
        struct timespec dl = deadline_after_ms(p->busy_ms);
        while (p->n_free == 0) {
            if (pthread_cond_timedwait(&p->pool_cond, &p->pool_lock, &dl) == ETIMEDOUT &&
                p->n_free == 0) {
                pthread_mutex_unlock(&p->pool_lock);
                return NULL;
            }
        }
    }
    sqlp_reader *rd = &p->readers[p->free_idx[--p->n_free]];
    pthread_mutex_unlock(&p->pool_lock);
    return rd;
}

void sqlp_return(sqlp_pool *p, sqlp_reader *rd)
{
    if (rd == NULL)
        return;
    if (rd->in_txn && (snapshot_stale(p, rd, now_ms()) || sqlite3_get_autocommit(rd->db)))
        sqlp_end_snapshot(rd);
    pthread_mutex_lock(&p->pool_lock);
    p->free_idx[p->n_free++] = (unsigned)(rd - p->readers);
    pthread_cond_signal(&p->pool_cond);
    pthread_mutex_unlock(&p->pool_lock);
}

sqlite3 *sqlp_db(const sqlp_reader *rd)
{
    return rd->db;
}

void *sqlp_area(sqlp_reader *rd)
{
    return rd->area;
}

void sqlp_close(sqlp_pool *p)
{
    if (p == NULL)
        return;
    if (p->janitor_running) {
        pthread_mutex_lock(&p->pool_lock);
        p->stopping = true;
        pthread_cond_signal(&p->janitor_cond);
        pthread_mutex_unlock(&p->pool_lock);
        pthread_join(p->janitor, NULL);
    }
    for (unsigned i = 0; p->readers != NULL && i < p->n_readers; i++) {
        sqlp_reader *rd = &p->readers[i];
        if (rd->db == NULL)
            continue;
        sqlp_end_snapshot(rd);
        sqlite3_stmt *st;
        while ((st = sqlite3_next_stmt(rd->db, NULL)) != NULL)
            sqlite3_finalize(st);
        sqlite3_close_v2(rd->db);
    }
    free(p->readers);
    free(p->free_idx);
    free(p->areas);
    pthread_mutex_destroy(&p->pool_lock);
    pthread_cond_destroy(&p->pool_cond);
    pthread_cond_destroy(&p->janitor_cond);
    free(p);
}

int sqlp_open(unsigned n, size_t area_size, unsigned busy_ms, sqlp_open_fn open_fn, void *ctx,
              sqlp_pool **out)
{
    *out = NULL;
    if (n == 0)
        n = 1;
    sqlp_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SQLP_ERR_NOMEM;
    p->busy_ms = busy_ms;
    pthread_mutex_init(&p->pool_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->pool_cond, &ca);
    pthread_cond_init(&p->janitor_cond, &ca);
    pthread_condattr_destroy(&ca);
    p->n_readers = n;
    p->readers = calloc(n, sizeof *p->readers);
    p->free_idx = calloc(n, sizeof *p->free_idx);
    p->areas = area_size ? calloc(n, area_size) : NULL;
    if (p->readers == NULL || p->free_idx == NULL || (area_size && p->areas == NULL)) {
        sqlp_close(p);
        return SQLP_ERR_NOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        sqlp_reader *rd = &p->readers[i];
        rd->area = area_size ? p->areas + (size_t)i * area_size : NULL;
        int st = open_fn(ctx, i, &rd->db, rd->area);
        if (st == 0 && (sqlite3_prepare_v3(rd->db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT,
                                           &rd->begin, NULL) != SQLITE_OK ||
                        sqlite3_prepare_v3(rd->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT,
                                           &rd->commit, NULL) != SQLITE_OK))
            st = SQLP_ERR_NOMEM;
        if (st != 0) {
            sqlp_close(p);
            return st;
        }
        p->free_idx[p->n_free++] = i;
    }
    if (pthread_create(&p->janitor, NULL, janitor_main, p) != 0) {
        sqlp_close(p);
        return SQLP_ERR_NOMEM;
    }
    p->janitor_running = true;
    *out = p;
    return 0;
}
