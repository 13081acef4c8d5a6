/*
 * record.c — tenancy_record(): the one writer that commits calls. Every
 * queued record is taken by a single writer thread and committed with all
 * others waiting at that moment in one transaction (group commit): the
 * package charge, the daily usage, the chained audit row, the idempotent
 * answer and any package alert. tenancy_record_async() callers are told
 * through their callback, on the writer thread, once the batch is
 * committed (or failed), so an HTTP thread need not wait and any number of
 * records can join a batch; tenancy_record() waits for that callback.
 * Without threads (CLI, tests), the caller commits its own record the same
 * way.
 *
 * Must never: acknowledge a record before its transaction is committed;
 * leave part of a batch written (a failure rolls the whole batch back and
 * fails each of its records); store a plaintext ID number or name (only
 * masks and the keyed subject hash); advance the in-memory chain head
 * unless the commit succeeded.
 */
#include "tenancy/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define IDEM_PURGE_EVERY_MS 60000

static const char *const writer_sql[WS__COUNT] = {
    /* The package to charge: the earliest-expiring usable one (never-
     * expiring last), oldest first among equals. */
    [WS_CHARGE] = "UPDATE packages SET used = used + 1 WHERE id = ("
                  " SELECT id FROM packages WHERE app_id = ?1 AND product = ?2"
                  " AND used < total AND (expires = 0 OR expires >= ?3)"
                  " ORDER BY expires = 0, expires, id LIMIT 1)"
                  " RETURNING id, total, used, expires",
    [WS_DAILY] = "INSERT INTO daily_usage (app_id, day, calls, charged) VALUES (?1, ?2, 1, ?3)"
                 " ON CONFLICT (app_id, day) DO UPDATE SET calls = daily_usage.calls + 1,"
                 " charged = daily_usage.charged + excluded.charged",
    [WS_AUDIT] = "INSERT INTO audit (id, time, request_id, app_id, product, dialect, verdict,"
                 " vendor_code, charged, outcome, subject_id_masked, subject_name_masked,"
                 " subject_hash, client_ip, latency_ms, prev_hash, hash)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                 " ?16, ?17)",
    [WS_IDEM] = "INSERT INTO idempotency (app_id, product, idem_key, http_status, body,"
                " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                " ON CONFLICT (app_id, product, idem_key) DO NOTHING",
    [WS_IDEM_PURGE] = "DELETE FROM idempotency WHERE created_at < ?1",
};

bool tn_writer_prepare(tenancy *t)
{
    for (int i = 0; i < WS__COUNT; i++)
        if (sqlite3_prepare_v3(t->wdb, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &t->ws[i],
                               NULL) != SQLITE_OK)
            return false;
    return true;
}

void tn_writer_finalize(tenancy *t)
{
    for (int i = 0; i < WS__COUNT; i++) {
        sqlite3_finalize(t->ws[i]);
        t->ws[i] = NULL;
    }
}

int tn_chain_load(tenancy *t)
{
    memset(&t->head, 0, sizeof t->head);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->wdb, "SELECT id, time, hash FROM audit ORDER BY id DESC LIMIT 1",
                                -1, &st, NULL);
    bool found = false;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        t->head.last_id = sqlite3_column_int64(st, 0);
        t->head.last_time_ms = sqlite3_column_int64(st, 1);
        const void *h = sqlite3_column_blob(st, 2);
        if (h != NULL && sqlite3_column_bytes(st, 2) == SM_HASH_BYTES)
            memcpy(t->head.hash, h, SM_HASH_BYTES);
        found = true;
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || found)
        return rc;
    /* No rows: the chain continues from the anchor (all purged), or from
     * 32 zero bytes (a new log). */
    st = NULL;
    rc = sqlite3_prepare_v2(t->wdb, "SELECT last_id, hash FROM audit_anchor WHERE id = 1", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        t->head.last_id = sqlite3_column_int64(st, 0);
        const void *h = sqlite3_column_blob(st, 1);
        if (h != NULL && sqlite3_column_bytes(st, 1) == SM_HASH_BYTES)
            memcpy(t->head.hash, h, SM_HASH_BYTES);
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

void tenancy_debug_counters(tenancy *t, uint64_t *batches, uint64_t *records)
{
    if (batches != NULL)
        *batches = atomic_load(&t->n_batches);
    if (records != NULL)
        *records = atomic_load(&t->n_records);
}

/* ------------------------------------------------------------ one record */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int rc2 = sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return rc2 == SQLITE_OK ? SQLITE_OK : rc2;
    return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Raise the package alerts a charge crossed, in the open transaction. */
static bool raise_alerts(tenancy *t, int64_t app_id, const char *product, int64_t pkg_id,
                         int64_t total, int64_t used, int64_t expires, bool *raised)
{
    int64_t remaining = total - used;
    const char *type = NULL;
    if (remaining == 0)
        type = "package_exhausted";
    else if (remaining * 5 <= total && (remaining + 1) * 5 > total)
        type = "package_low";
    if (type == NULL)
        return true;
    char exp[16] = "null";
    sm_date d;
    if (expires != 0 && sqs_int_to_date(expires, &d)) {
        char iso[11];
        sm_date_format_iso(d, iso);
        snprintf(exp, sizeof exp, "\"%s\"", iso);
    }
    /* product is a name from the products table (known, plain ASCII). */
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"app_id\":%" PRId64 ",\"product\":\"%s\",\"package_id\":%" PRId64
             ",\"total\":%" PRId64 ",\"used\":%" PRId64 ",\"remaining\":%" PRId64
             ",\"expires\":%s}",
             app_id, product, pkg_id, total, used, remaining, exp);
    if (!alerts_enqueue(t->wdb, app_id, type, product, payload))
        return false;
    *raised = true;
    return true;
}

/* Writes one record inside the open transaction; advances *head. */
static tn_record_result record_one(tenancy *t, const tn_record *rec, tn_chain_head *head,
                                   int64_t now_ms, bool *alert_raised)
{
    int64_t now_s = now_ms / 1000;
    int64_t today = tn_china_day(now_s);
    int rc;

    /* The charge. */
    bool charges = rec->product != NULL && !rec->never_charge &&
                   tn_product_charges(rec->product, rec->verdict);
    bool charged = false;
    tn_record_result result = TN_RECORDED_FREE;
    if (charges) {
        sqlite3_stmt *st = t->ws[WS_CHARGE];
        sqlite3_bind_int64(st, 1, rec->app_id);
        sqlite3_bind_text(st, 2, rec->product, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, today);
        rc = sqlite3_step(st);
        int64_t pkg = 0, total = 0, used = 0, expires = 0;
        if (rc == SQLITE_ROW) {
            charged = true;
            pkg = sqlite3_column_int64(st, 0);
            total = sqlite3_column_int64(st, 1);
            used = sqlite3_column_int64(st, 2);
            expires = sqlite3_column_int64(st, 3);
            rc = sqlite3_step(st);
        }
        int rc2 = sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE || rc2 != SQLITE_OK)
            return TN_RECORD_FAILED;
        result = charged ? TN_RECORDED_CHARGED : TN_RECORDED_NO_QUOTA;
        if (charged &&
            !raise_alerts(t, rec->app_id, rec->product, pkg, total, used, expires, alert_raised))
            return TN_RECORD_FAILED;
    }

    /* Daily usage: every call of a product counts; charged ones apart. */
    if (rec->product != NULL) {
        sqlite3_stmt *st = t->ws[WS_DAILY];
        sqlite3_bind_int64(st, 1, rec->app_id);
        sqlite3_bind_int64(st, 2, today);
        sqlite3_bind_int(st, 3, charged ? 1 : 0);
        if (step_done(st) != SQLITE_OK)
            return TN_RECORD_FAILED;
    }

    /* The audit row. */
    char id_mask[128] = "", name_mask[512] = "";
    const char *subject = rec->id18 != NULL ? rec->id18 : rec->id_raw;
    bool have_id = subject != NULL, have_name = rec->name != NULL;
    if (have_id)
        sm_mask_id(subject, strlen(subject), id_mask, sizeof id_mask);
    if (have_name)
        sm_mask_name(rec->name, strlen(rec->name), name_mask, sizeof name_mask);
    uint8_t subject_hash[SM_HASH_BYTES];
    bool have_hash = rec->id18 != NULL && strlen(rec->id18) == 18 &&
                     sm_hmac_compute(t->subject_mac, rec->id18, 18, NULL, 0, subject_hash);
    const char *outcome = result == TN_RECORDED_CHARGED   ? "charged"
                          : result == TN_RECORDED_NO_QUOTA ? "no_quota"
                                                           : "free";
    double lat = isfinite(rec->latency_ms) && rec->latency_ms >= 0 ? rec->latency_ms : 0;
    lat = (double)llround(lat * 1000.0) / 1000.0;

    tn_audit_row row = {
        .id = head->last_id + 1,
        .time_ms = now_ms > head->last_time_ms ? now_ms : head->last_time_ms,
        .request_id = rec->request_id,
        .app_id = rec->app_id,
        .product = rec->product,
        .dialect = rec->dialect,
        .verdict = sm_verdict_code(rec->verdict),
        .vendor_code = rec->vendor_code,
        .charged = charged ? 1 : 0,
        .outcome = outcome,
        .subject_id_masked = have_id ? id_mask : NULL,
        .subject_name_masked = have_name ? name_mask : NULL,
        .subject_hash = have_hash ? subject_hash : NULL,
        .client_ip = rec->client_ip,
        .latency_ms = lat,
        .prev_hash = head->hash,
    };
    uint8_t hash[SM_HASH_BYTES];
    if (!tn_audit_hash(&row, hash))
        return TN_RECORD_FAILED;
    sqlite3_stmt *st = t->ws[WS_AUDIT];
    sqlite3_bind_int64(st, 1, row.id);
    sqlite3_bind_int64(st, 2, row.time_ms);
    bind_text_or_null(st, 3, row.request_id);
    sqlite3_bind_int64(st, 4, row.app_id);
    bind_text_or_null(st, 5, row.product);
    bind_text_or_null(st, 6, row.dialect);
    bind_text_or_null(st, 7, row.verdict);
    bind_text_or_null(st, 8, row.vendor_code);
    sqlite3_bind_int(st, 9, row.charged);
    sqlite3_bind_text(st, 10, row.outcome, -1, SQLITE_STATIC);
    bind_text_or_null(st, 11, row.subject_id_masked);
    bind_text_or_null(st, 12, row.subject_name_masked);
    if (have_hash)
        sqlite3_bind_blob(st, 13, subject_hash, SM_HASH_BYTES, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 13);
    bind_text_or_null(st, 14, row.client_ip);
    sqlite3_bind_double(st, 15, row.latency_ms);
    sqlite3_bind_blob(st, 16, head->hash, SM_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 17, hash, SM_HASH_BYTES, SQLITE_STATIC);
    rc = step_done(st);
    OPENSSL_cleanse(subject_hash, sizeof subject_hash);
    if (rc != SQLITE_OK)
        return TN_RECORD_FAILED;
    head->last_id = row.id;
    head->last_time_ms = row.time_ms;
    memcpy(head->hash, hash, SM_HASH_BYTES);

    /* The idempotent answer (a repeat of the key keeps the first). Not for
     * a call refused for want of quota: its answer was never given, and a
     * retry must not get it free. */
    if (rec->idem_key != NULL && rec->product != NULL && result != TN_RECORDED_NO_QUOTA) {
        st = t->ws[WS_IDEM];
        sqlite3_bind_int64(st, 1, rec->app_id);
        sqlite3_bind_text(st, 2, rec->product, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rec->idem_key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, rec->http_status);
        sqlite3_bind_blob(st, 5, rec->body != NULL ? rec->body : "", (int)rec->body_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now_s);
        if (step_done(st) != SQLITE_OK)
            return TN_RECORD_FAILED;
    }
    return result;
}

/* Commits the records of `list` in one transaction and fills their
 * results (not `done`). */
static void commit_list(tenancy *t, tn_pending *list)
{
    bool alert = false;
    size_t n = 0;
    pthread_mutex_lock(&t->write_lock);
    int64_t now = tn_now_ms();
    bool ok = sqlite3_exec(t->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    /* Re-read the head inside the write transaction: another process (a
     * CLI on the same store) may have appended since (cheap: the last row
     * by primary key). */
    if (ok)
        ok = tn_chain_load(t) == SQLITE_OK;
    tn_chain_head head = t->head;
    for (tn_pending *p = list; ok && p != NULL; p = p->next) {
        p->result = record_one(t, &p->rec, &head, now, &alert);
        ok = p->result != TN_RECORD_FAILED;
        n++;
    }
    if (ok && now - t->last_idem_purge_ms >= IDEM_PURGE_EVERY_MS) {
        sqlite3_stmt *st = t->ws[WS_IDEM_PURGE];
        sqlite3_bind_int64(st, 1, now / 1000 - TN_IDEM_TTL_S);
        ok = step_done(st) == SQLITE_OK;
    }
    if (ok)
        ok = sqlite3_exec(t->wdb, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (ok) {
        sqlp_writes_committed(t->pool); /* readers see the batch at once */
        if (now - t->last_idem_purge_ms >= IDEM_PURGE_EVERY_MS)
            t->last_idem_purge_ms = now;
        t->head = head;
        atomic_fetch_add(&t->n_batches, 1);
        atomic_fetch_add(&t->n_records, n);
    } else {
        if (!sqlite3_get_autocommit(t->wdb))
            sqlite3_exec(t->wdb, "ROLLBACK", NULL, NULL, NULL);
        for (tn_pending *p = list; p != NULL; p = p->next)
            p->result = TN_RECORD_FAILED;
    }
    pthread_mutex_unlock(&t->write_lock);
    if (ok && alert && t->alerts != NULL)
        alerts_kick(t->alerts);
}

/* ----------------------------------------------------------- the writer */

static void *writer_main(void *arg)
{
    tenancy *t = arg;
    pthread_mutex_lock(&t->q_lock);
    for (;;) {
        while (t->q_head == NULL && !t->stopping)
            pthread_cond_wait(&t->q_cond, &t->q_lock);
        if (t->q_head == NULL)
            break; /* stopping, and drained */
        tn_pending *list = t->q_head;
        t->q_head = t->q_tail = NULL;
        pthread_mutex_unlock(&t->q_lock);
        commit_list(t, list);
        /* Committed (or rolled back) before anyone hears of it. Callbacks
         * run without q_lock, so they may take their own locks or enqueue;
         * each item is freed after its callback, `next` read first. */
        for (tn_pending *p = list, *next; p != NULL; p = next) {
            next = p->next;
            p->done(p->arg, p->result);
            free(p);
        }
        pthread_mutex_lock(&t->q_lock);
    }
    pthread_mutex_unlock(&t->q_lock);
    return NULL;
}

bool tn_writer_start(tenancy *t)
{
    t->stopping = false;
    if (pthread_create(&t->writer, NULL, writer_main, t) != 0)
        return false;
    t->writer_running = true;
    return true;
}

void tn_writer_stop(tenancy *t)
{
    if (!t->writer_running)
        return;
    pthread_mutex_lock(&t->q_lock);
    t->stopping = true;
    pthread_cond_signal(&t->q_cond);
    pthread_mutex_unlock(&t->q_lock);
    pthread_join(t->writer, NULL);
    t->writer_running = false;
}

bool tenancy_record_async(tenancy *t, const tn_record *rec, tn_record_done done, void *arg)
{
    if (t == NULL || rec == NULL || done == NULL)
        return false;
    tn_pending *p = malloc(sizeof *p);
    if (p == NULL)
        return false;
    *p = (tn_pending){.rec = *rec, .result = TN_RECORD_FAILED, .done = done, .arg = arg};
    if (!t->writer_running) {
        commit_list(t, p);
        done(arg, p->result);
        free(p);
        return true;
    }
    pthread_mutex_lock(&t->q_lock);
    if (t->stopping) {
        pthread_mutex_unlock(&t->q_lock);
        free(p);
        return false;
    }
    if (t->q_tail != NULL)
        t->q_tail->next = p;
    else
        t->q_head = p;
    t->q_tail = p;
    pthread_cond_signal(&t->q_cond);
    pthread_mutex_unlock(&t->q_lock);
    return true;
}

/* tenancy_record()'s waiter, on its stack. The callback sets `done` and
 * signals under q_lock, so the waiter (which rechecks under q_lock) cannot
 * return, and destroy `cond`, before the callback is finished with it. */
typedef struct {
    tenancy *t;
    pthread_cond_t cond;
    bool done;
    tn_record_result result;
} sync_wait;

static void sync_done(void *arg, tn_record_result result)
{
    sync_wait *w = arg;
    pthread_mutex_lock(&w->t->q_lock);
    w->result = result;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->t->q_lock);
}

tn_record_result tenancy_record(tenancy *t, const tn_record *rec)
{
    if (t == NULL || rec == NULL)
        return TN_RECORD_FAILED;
    sync_wait w = {.t = t, .done = false, .result = TN_RECORD_FAILED};
    pthread_cond_init(&w.cond, NULL);
    if (tenancy_record_async(t, rec, sync_done, &w)) {
        pthread_mutex_lock(&t->q_lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &t->q_lock);
        pthread_mutex_unlock(&t->q_lock);
    }
    pthread_cond_destroy(&w.cond);
    return w.result;
}
