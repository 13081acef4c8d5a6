/*
 * sqlite_schema.h — what every SQLite store of shiming does the same way
 * when it opens: apply its versioned migrations and bind itself to the
 * server key (the key's fingerprint in the store's `meta` table), plus the
 * small helpers around that and the one wording of open failures.
 *
 * Used by the registry (registry_sqlite.c) and the tenancy store
 * (tenancy/store.c); each maps the result onto its own status codes.
 * Must never: leave a migration half applied (all of it is one
 * BEGIN IMMEDIATE transaction, rolled back on any failure).
 * Thread-safety: the functions touch only the connection they are given.
 */
#ifndef SHIMING_COMMON_SQLITE_SCHEMA_H
#define SHIMING_COMMON_SQLITE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include <shiming/shiming.h>
#include <sqlite3.h>

typedef struct {
    const char *what;                /* the store, for messages: "registry", "tenancy store" */
    const char *path;                /* its file, for messages */
    const char *const *migrations;   /* SQL of version 1, 2, …; one of them creates
                                        meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) */
    int n_migrations;                /* = the current schema version */
    const char *fingerprint;         /* sm_key_fingerprint of the server key */
} sqs_schema;

typedef enum {
    SQS_OK = 0,
    SQS_SQLITE,           /* an SQLite error: *rc_out holds its code */
    SQS_NEWER_SCHEMA,     /* the store is newer than this program */
    SQS_WRONG_KEY,        /* the store belongs to another server key */
} sqs_result;

/* In one write transaction on `db`: create the migrations table if needed,
 * apply every migration after the stored version, then check the key
 * fingerprint, or record it (with created_at) if the store has none yet.
 * On failure everything is rolled back and `err` says why. */
sqs_result sqs_migrate(sqlite3 *db, const sqs_schema *s, int *rc_out, char *err, size_t errlen);

/* The stored schema version (0 for a new store) or -1 with *rc_out set. */
int sqs_version(sqlite3 *db, int *rc_out);

/* One sentence on an SQLite failure while `doing` something to store `s`:
 * locked, not a store of this kind / damaged, or SQLite's own message. */
void sqs_describe(sqlite3 *db, int rc, const sqs_schema *s, const char *doing, char *err,
                  size_t errlen);

/* Process-wide SQLite settings, applied once before any store opens: no
 * memory statistics (they take a global mutex on every allocation, a tenth
 * of an import's time). Harmless if SQLite was initialised already. */
void sqs_init_process(void);

/* Dates are stored as YYYYMMDD integers in every store; {0} <-> 0 ("none").
 * sqs_int_to_date is false for an integer that is no real date. */
int64_t sqs_date_to_int(sm_date d);
bool sqs_int_to_date(int64_t v, sm_date *out);

bool sqs_exec(sqlite3 *db, const char *sql, int *rc_out);
bool sqs_meta_get(sqlite3 *db, const char *key, char *out, size_t cap, int *rc_out);
int sqs_meta_put(sqlite3 *db, const char *key, const char *value);

#endif
