/*
 * sqlite_schema.c — migrations, key binding and open-failure wording shared
 * by every SQLite store (see sqlite_schema.h).
 */
#include "common/sqlite_schema.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/errbuf.h"

static const char sql_bootstrap[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "  version INTEGER PRIMARY KEY,"
    "  applied_at INTEGER NOT NULL"
    ")";

static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void configure_process(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void sqs_init_process(void)
{
    pthread_once(&process_once, configure_process);
}

int64_t sqs_date_to_int(sm_date d)
{
    if (d.year == 0)
        return 0;
    return (int64_t)d.year * 10000 + d.month * 100 + d.day;
}

bool sqs_int_to_date(int64_t v, sm_date *out)
{
    memset(out, 0, sizeof *out);
    if (v == 0)
        return true;
    if (v < 10101 || v > 99991231)
        return false;
    int y = (int)(v / 10000), m = (int)(v / 100 % 100), d = (int)(v % 100);
    if (!sm_date_is_valid(y, m, d))
        return false;
    out->year = (int16_t)y;
    out->month = (int8_t)m;
    out->day = (int8_t)d;
    return true;
}

bool sqs_exec(sqlite3 *db, const char *sql, int *rc_out)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc_out != NULL)
        *rc_out = rc;
    return rc == SQLITE_OK;
}

int sqs_version(sqlite3 *db, int *rc_out)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    int rc = sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_migrations", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0); /* NULL (no rows) reads as 0 */
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    *rc_out = rc;
    return rc == SQLITE_OK ? v : -1;
}

bool sqs_meta_get(sqlite3 *db, const char *key, char *out, size_t cap, int *rc_out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    bool found = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *v = sqlite3_column_text(st, 0);
            snprintf(out, cap, "%s", v != NULL ? (const char *)v : "");
            found = true;
        }
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    *rc_out = rc;
    return found;
}

int sqs_meta_put(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

void sqs_describe(sqlite3 *db, int rc, const sqs_schema *s, const char *doing, char *err,
                  size_t errlen)
{
    int code = rc & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        set_err(err, errlen, "%s '%s' is locked by another process (%s)", s->what, s->path, doing);
    else if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        set_err(err, errlen, "'%s' is not a %s database or is damaged (%s)", s->path, s->what,
                doing);
    else
        set_err(err, errlen, "%s '%s': %s: %s", s->what, s->path, doing,
                db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Records the new store as this key's, with its creation time. */
static int bind_to_key(sqlite3 *db, const char *fingerprint)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = sqs_meta_put(db, "key_fingerprint", fingerprint);
    if (rc == SQLITE_OK)
        rc = sqs_meta_put(db, "created_at", now);
    return rc;
}

static int record_migration(sqlite3 *db, int version)
{
    sqlite3_stmt *ins = NULL;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", -1, &ins, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(ins, 1, version);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(ins);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(ins);
    return rc;
}

sqs_result sqs_migrate(sqlite3 *db, const sqs_schema *s, int *rc_out, char *err, size_t errlen)
{
    int rc = SQLITE_OK;
    const char *doing = "starting the schema check";
    sqs_result res = SQS_SQLITE;
    char what[64];
    *rc_out = SQLITE_OK;
    if (!sqs_exec(db, "BEGIN IMMEDIATE", &rc)) {
        sqs_describe(db, rc, s, doing, err, errlen);
        *rc_out = rc;
        return SQS_SQLITE;
    }
    doing = "creating the schema table";
    if (!sqs_exec(db, sql_bootstrap, &rc))
        goto fail;
    doing = "reading the schema version";
    int v = sqs_version(db, &rc);
    if (rc != SQLITE_OK)
        goto fail;
    if (v > s->n_migrations) {
        set_err(err, errlen,
                "%s '%s' has schema version %d; this program knows up to %d (upgrade shiming)",
                s->what, s->path, v, s->n_migrations);
        res = SQS_NEWER_SCHEMA;
        goto rollback;
    }
    for (int next = v + 1; next <= s->n_migrations; next++) {
        snprintf(what, sizeof what, "applying schema migration %d", next);
        doing = what;
        if (!sqs_exec(db, s->migrations[next - 1], &rc))
            goto fail;
        doing = "recording a schema migration";
        if ((rc = record_migration(db, next)) != SQLITE_OK)
            goto fail;
    }
    char stored[64];
    doing = "reading the key fingerprint";
    if (sqs_meta_get(db, "key_fingerprint", stored, sizeof stored, &rc)) {
        if (strcmp(stored, s->fingerprint) != 0) {
            set_err(err, errlen,
                    "%s '%s' was created with another server key (its fingerprint is %s, this "
                    "key's is %s): use the key file it was created with",
                    s->what, s->path, stored, s->fingerprint);
            res = SQS_WRONG_KEY;
            goto rollback;
        }
    } else if (rc != SQLITE_OK) {
        goto fail;
    } else {
        /* A new store, or one from before fingerprints were recorded: it
         * belongs to this key from now on. */
        doing = "recording the key fingerprint";
        if ((rc = bind_to_key(db, s->fingerprint)) != SQLITE_OK)
            goto fail;
    }
    doing = "committing the schema";
    if (sqs_exec(db, "COMMIT", &rc))
        return SQS_OK;
fail:
    sqs_describe(db, rc, s, doing, err, errlen);
    *rc_out = rc;
    res = SQS_SQLITE;
rollback:
    sqs_exec(db, "ROLLBACK", NULL);
    return res;
}
