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
    [WS_PKG_FIND] = "SELECT id, total, used, expires FROM packages WHERE app_id = ?1"
                    " AND product = ?2 AND used < total AND (expires = 0 OR expires >= ?3)"
                    " ORDER BY expires = 0, expires, id LIMIT 1",
    [WS_PKG_ADD] = "UPDATE packages SET used = used + ?2 WHERE id = ?1",
    [WS_DAILY] = "INSERT INTO daily_usage (app_id, day, calls, charged) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (app_id, day) DO UPDATE SET calls = daily_usage.calls +"
                 " excluded.calls, charged = daily_usage.charged + excluded.charged",
    [WS_AUDIT] = "INSERT INTO audit (id, time, request_id, app_id, product, dialect, verdict,"
                 " vendor_code, charged, outcome, subject_id_masked, subject_name_masked,"
                 " subject_hash, client_ip, latency_ms, prev_hash, hash)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                 " ?16, ?17)",
    [WS_IDEM] = "INSERT INTO idempotency (app_id, product, idem_key, http_status, body,"
                " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                " ON CONFLICT (app_id, product, idem_key) DO NOTHING",
    [WS_IDEM_PURGE] = "DELETE FROM idempotency WHERE created_at < ?1",
    [WS_BEGIN] = "BEGIN IMMEDIATE",
    [WS_COMMIT] = "COMMIT",
    [WS_HEAD] = "SELECT id, time, hash FROM audit ORDER BY id DESC LIMIT 1",
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
    /* Prepared once (it runs at every batch), except at open, before the
     * writer's statements are. */
    sqlite3_stmt *st = t->ws[WS_HEAD];
    bool own = st == NULL;
    int rc = own ? sqlite3_prepare_v2(t->wdb, writer_sql[WS_HEAD], -1, &st, NULL) : SQLITE_OK;
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
    if (own)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
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

/* What a batch charges and counts, written once per package and per
 * (app, day) at the end of the batch rather than once per record: the
 * charges of a batch go to the package WS_PKG_FIND chose, counted here
 * against the units it had left (read inside the write transaction, which
 * no one else can change meanwhile), so that no package ever gives more
 * than its total; once it has none left, its count is written and the next
 * package found. The alerts are raised per charge, as each unit goes. */
#define BATCH_SLOTS 16

typedef struct {
    int64_t app_id;
    const char *product;
    bool found;                 /* a package with units left was found */
    bool none;                  /* none left: every later charge is refused */
    int64_t pkg, total, used, expires; /* `used` counts this batch's charges */
    int64_t pending;            /* charged here, not yet written */
} charge_slot;

typedef struct {
    int64_t app_id, day, calls, charged;
} daily_slot;

typedef struct {
    charge_slot charge[BATCH_SLOTS];
    size_t n_charge;
    daily_slot daily[BATCH_SLOTS];
    size_t n_daily;
    bool quota_gone;            /* a package ran out, or a charge found none */
} batch_state;

static bool charge_flush(tenancy *t, charge_slot *c)
{
    if (c->pending == 0)
        return true;
    sqlite3_stmt *st = t->ws[WS_PKG_ADD];
    sqlite3_bind_int64(st, 1, c->pkg);
    sqlite3_bind_int64(st, 2, c->pending);
    if (step_done(st) != SQLITE_OK || sqlite3_changes(t->wdb) != 1)
        return false;
    c->pending = 0;
    return true;
}

static bool daily_flush(tenancy *t, const daily_slot *d)
{
    sqlite3_stmt *st = t->ws[WS_DAILY];
    sqlite3_bind_int64(st, 1, d->app_id);
    sqlite3_bind_int64(st, 2, d->day);
    sqlite3_bind_int64(st, 3, d->calls);
    sqlite3_bind_int64(st, 4, d->charged);
    return step_done(st) == SQLITE_OK;
}

/* Writes what the batch still holds; the batch starts empty again. */
static bool batch_flush(tenancy *t, batch_state *b)
{
    bool ok = true;
    for (size_t i = 0; ok && i < b->n_charge; i++)
        ok = charge_flush(t, &b->charge[i]);
    for (size_t i = 0; ok && i < b->n_daily; i++)
        ok = daily_flush(t, &b->daily[i]);
    b->n_charge = 0;
    b->n_daily = 0;
    return ok;
}

/* One unit of (app, product): 1 charged (*pkg … filled: the package and
 * its counts after the charge), 0 no unit left, -1 failed. */
static int charge_take(tenancy *t, batch_state *b, int64_t app_id, const char *product,
                       int64_t today, int64_t out[4])
{
    charge_slot *c = NULL;
    for (size_t i = 0; i < b->n_charge && c == NULL; i++)
        if (b->charge[i].app_id == app_id && strcmp(b->charge[i].product, product) == 0)
            c = &b->charge[i];
    if (c == NULL) {
        if (b->n_charge == BATCH_SLOTS && !batch_flush(t, b))
            return -1;
        c = &b->charge[b->n_charge++];
        memset(c, 0, sizeof *c);
        c->app_id = app_id;
        c->product = product;
    }
    if (c->none)
        return 0;
    if (!c->found || c->used >= c->total) {
        /* The next package: what this one took is written first, so that
         * the query sees it as used up. */
        if (!charge_flush(t, c))
            return -1;
        sqlite3_stmt *st = t->ws[WS_PKG_FIND];
        sqlite3_bind_int64(st, 1, app_id);
        sqlite3_bind_text(st, 2, product, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, today);
        int rc = sqlite3_step(st);
        c->found = rc == SQLITE_ROW;
        if (c->found) {
            c->pkg = sqlite3_column_int64(st, 0);
            c->total = sqlite3_column_int64(st, 1);
            c->used = sqlite3_column_int64(st, 2);
            c->expires = sqlite3_column_int64(st, 3);
        }
        int rc2 = sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if ((rc != SQLITE_ROW && rc != SQLITE_DONE) || rc2 != SQLITE_OK)
            return -1;
        if (!c->found || c->used >= c->total) {
            c->found = false;
            c->none = true;
            b->quota_gone = true;
            return 0;
        }
    }
    c->used++;
    c->pending++;
    if (c->used >= c->total)
        b->quota_gone = true;
    out[0] = c->pkg;
    out[1] = c->total;
    out[2] = c->used;
    out[3] = c->expires;
    return 1;
}

static bool daily_count(tenancy *t, batch_state *b, int64_t app_id, int64_t day, bool charged)
{
    daily_slot *d = NULL;
    for (size_t i = 0; i < b->n_daily && d == NULL; i++)
        if (b->daily[i].app_id == app_id && b->daily[i].day == day)
            d = &b->daily[i];
    if (d == NULL) {
        if (b->n_daily == BATCH_SLOTS && !batch_flush(t, b))
            return false;
        d = &b->daily[b->n_daily++];
        *d = (daily_slot){.app_id = app_id, .day = day};
    }
    d->calls++;
    d->charged += charged ? 1 : 0;
    return true;
}

/* Writes one record inside the open transaction; advances *head. The
 * charge and the day's count are held in *b (batch_flush writes them). */
static tn_record_result record_one(tenancy *t, batch_state *b, const tn_record *rec,
                                   tn_chain_head *head, int64_t now_ms, bool *alert_raised)
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
        int64_t pkg[4];
        int taken = charge_take(t, b, rec->app_id, rec->product, today, pkg);
        if (taken < 0)
            return TN_RECORD_FAILED;
        charged = taken == 1;
        result = charged ? TN_RECORDED_CHARGED : TN_RECORDED_NO_QUOTA;
        if (charged && !raise_alerts(t, rec->app_id, rec->product, pkg[0], pkg[1], pkg[2],
                                     pkg[3], alert_raised))
            return TN_RECORD_FAILED;
    }

    /* Daily usage: every call of a product counts; charged ones apart. */
    if (rec->product != NULL && !daily_count(t, b, rec->app_id, today, charged))
        return TN_RECORD_FAILED;

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
    bool ok = step_done(t->ws[WS_BEGIN]) == SQLITE_OK;
    /* Re-read the head inside the write transaction: another process (a
     * CLI on the same store) may have appended since (cheap: the last row
     * by primary key). */
    if (ok)
        ok = tn_chain_load(t) == SQLITE_OK;
    tn_chain_head head = t->head;
    batch_state b;
    b.n_charge = b.n_daily = 0;
    b.quota_gone = false;
    for (tn_pending *p = list; ok && p != NULL; p = p->next) {
        p->result = record_one(t, &b, &p->rec, &head, now, &alert);
        ok = p->result != TN_RECORD_FAILED;
        n++;
    }
    if (ok)
        ok = batch_flush(t, &b);
    if (ok && now - t->last_idem_purge_ms >= IDEM_PURGE_EVERY_MS) {
        sqlite3_stmt *st = t->ws[WS_IDEM_PURGE];
        sqlite3_bind_int64(st, 1, now / 1000 - TN_IDEM_TTL_S);
        ok = step_done(st) == SQLITE_OK;
    }
    if (ok)
        ok = step_done(t->ws[WS_COMMIT]) == SQLITE_OK;
    if (ok) {
        /* Readers see the batch at once; the admission cache forgets what
         * it knew of quotas when a package ran out. */
        if (b.quota_gone)
            tn_cache_changed(t);
        else
            sqlp_writes_committed(t->pool);
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

/* -------------------------------------------------------- checkpoints */

/* A checkpoint once the WAL holds this many pages (16 MiB of 4 KiB pages;
 * SQLite's default is 1,000): the audit table's last page and its index
 * pages are rewritten by every batch, and a checkpoint copies each page
 * once however many frames it has, so fewer checkpoints copy less. The
 * WAL stays under journal_size_limit (64 MiB). */
#define CKPT_PAGES 4096
#define AUTO_CKPT_PAGES 1000 /* SQLite's own, when the checkpointer stops */

/* The WAL hook of wdb (in place of the automatic checkpoint): runs on the
 * committing thread, which may hold write_lock; it only takes the leaf
 * ck_lock to tell the checkpointer. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    tenancy *t = arg;
    if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&t->ck_lock);
        if (!t->ck_due) {
            t->ck_due = true;
            pthread_cond_signal(&t->ck_cond);
        }
        pthread_mutex_unlock(&t->ck_lock);
    }
    return SQLITE_OK;
}

/* Copies the WAL back into the database (a PASSIVE checkpoint: it waits
 * for no one and never blocks the writer, which goes on appending; the
 * WAL starts over at the first commit after a complete one). */
static void *ckpt_main(void *arg)
{
    tenancy *t = arg;
    pthread_mutex_lock(&t->ck_lock);
    for (;;) {
        while (!t->ck_due && !t->ck_stop)
            pthread_cond_wait(&t->ck_cond, &t->ck_lock);
        if (t->ck_stop)
            break;
        t->ck_due = false;
        pthread_mutex_unlock(&t->ck_lock);
        (void)sqlite3_wal_checkpoint_v2(t->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&t->ck_lock);
    }
    pthread_mutex_unlock(&t->ck_lock);
    return NULL;
}

/* Best effort: without its own connection or thread, the automatic
 * checkpoints on wdb stay. */
static void ckpt_start(tenancy *t)
{
    if (sqlite3_open_v2(t->path, &t->ckdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(t->ckdb);
        t->ckdb = NULL;
        return;
    }
    sqlite3_busy_timeout(t->ckdb, (int)t->busy_ms);
    /* A connection opens the WAL at its first read; a checkpoint on one
     * that has not is a no-op. */
    if (sqlite3_exec(t->ckdb, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(t->ckdb);
        t->ckdb = NULL;
        return;
    }
    t->ck_due = t->ck_stop = false;
    if (pthread_create(&t->ckpt, NULL, ckpt_main, t) != 0) {
        sqlite3_close_v2(t->ckdb);
        t->ckdb = NULL;
        return;
    }
    t->ckpt_running = true;
    pthread_mutex_lock(&t->write_lock);
    sqlite3_wal_hook(t->wdb, wal_hook, t); /* replaces the automatic checkpoint */
    pthread_mutex_unlock(&t->write_lock);
}

static void ckpt_stop(tenancy *t)
{
    if (!t->ckpt_running)
        return;
    pthread_mutex_lock(&t->write_lock);
    sqlite3_wal_autocheckpoint(t->wdb, AUTO_CKPT_PAGES); /* back to SQLite's own */
    pthread_mutex_unlock(&t->write_lock);
    pthread_mutex_lock(&t->ck_lock);
    t->ck_stop = true;
    pthread_cond_signal(&t->ck_cond);
    pthread_mutex_unlock(&t->ck_lock);
    pthread_join(t->ckpt, NULL);
    t->ckpt_running = false;
    sqlite3_close_v2(t->ckdb);
    t->ckdb = NULL;
}

/* ----------------------------------------------------------- the writer */

bool tn_writer_start(tenancy *t)
{
    t->stopping = false;
    if (pthread_create(&t->writer, NULL, writer_main, t) != 0)
        return false;
    t->writer_running = true;
    ckpt_start(t);
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
    ckpt_stop(t);
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
