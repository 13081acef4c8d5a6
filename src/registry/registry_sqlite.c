/*
 * registry_sqlite.c — the registry (registry.h) on SQLite in WAL mode: the
 * schema and its migrations, the read-connection pool for lookups, the one
 * writer connection for imports and erasure, and the key fingerprint check.
 *
 * SQL is kept portable (plain tables of INTEGER/BLOB/TEXT, INSERT …
 * RETURNING, INSERT … ON CONFLICT … DO UPDATE, no SQLite-only functions in
 * queries) so that a PostgreSQL backend can run the same statements; only
 * the PRAGMAs and BEGIN IMMEDIATE are SQLite's own.
 *
 * Must never: store, log or keep an ID number or a name in plaintext (only
 * their keyed hashes reach SQL); wait on a lock longer than the busy
 * timeout; let a reader see part of a batch (every lookup is one SELECT
 * within one snapshot; stats run in one read transaction).
 *
 * Read snapshots are reused: starting and ending a read transaction costs
 * SQLite's process-wide VFS mutex and two fcntl() locks, which under load
 * made the HTTP threads queue on each other (half of id2's throughput). So
 * each pooled read connection keeps its snapshot for up to SQLP_SNAPSHOT_MS and
 * serves every lookup of that time from it. Freshness: a write made through
 * this `registry` (import, demo fill, erasure) ends every snapshot at once
 * (write generation); a write by another process is seen within SQLP_SNAPSHOT_MS.
 * A janitor thread ends idle snapshots, so that no reader holds back a WAL
 * checkpoint for longer than that. The pool itself is common/sqlite_pool.c.
 *
 * Portrait templates (registry.h, "portraits"): table `portraits`, keyed by
 * the id hash, apart from `persons`. Each row holds a random 96-bit nonce
 * and AES-256-GCM(sub-key "registry/portrait", AAD = the id hash) of the
 * 512 floats as little-endian IEEE-754 bytes, followed by the 16-byte tag.
 * A template that does not decrypt under its row's id hash (moved to
 * another person, tampered, another key) is REG_UNAVAILABLE — a corrupt
 * store — never a template.
 */
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "common/fsutil.h"
#include "common/errbuf.h"
#include "common/sqlite_pool.h"
#include "common/sqlite_schema.h"

#define DEFAULT_READERS 4
#define DEFAULT_BUSY_MS 1000
#define MAX_READERS 256

/* ---------------------------------------------------------------- schema */

/* Migration N brings a store from version N-1 to N. Append only: never edit
 * a released step; each runs inside the open's write transaction, so a
 * store is at one version or the next, never in between. */
static const char *const migrations[] = {
    /* 1: persons and their cards. Card dates are YYYYMMDD integers;
     * valid_to 0 means long-term. Issuing authorities are a separate table
     * (a few thousand distinct texts shared by millions of cards). */
    "CREATE TABLE persons ("
    "  id INTEGER PRIMARY KEY,"
    "  id_hash BLOB NOT NULL UNIQUE,"
    "  name_hash BLOB NOT NULL,"
    "  hukou INTEGER NOT NULL"
    ");"
    "CREATE TABLE authorities ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE"
    ");"
    "CREATE TABLE cards ("
    "  person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  valid_from INTEGER NOT NULL,"
    "  valid_to INTEGER NOT NULL,"
    "  authority_id INTEGER NOT NULL REFERENCES authorities(id),"
    "  lost INTEGER NOT NULL,"
    "  PRIMARY KEY (person_id, valid_from)"
    ");",
    /* 2: store metadata (the server key's fingerprint, creation time), and
     * an index of lost cards so that counting them does not scan every card. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE INDEX cards_lost ON cards (person_id) WHERE lost = 1;",
    /* 3: portrait templates, apart from the identity rows (see the top
     * comment): nonce 12 bytes, sealed = ciphertext (2048 bytes) || tag. */
    "CREATE TABLE portraits ("
    "  id_hash BLOB PRIMARY KEY,"
    "  nonce BLOB NOT NULL,"
    "  sealed BLOB NOT NULL"
    ");",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static const char sql_lookup[] =
    "SELECT p.name_hash, p.hukou, c.valid_from, c.valid_to, c.lost, a.name"
    " FROM persons p"
    " LEFT JOIN cards c ON c.person_id = p.id"
    " LEFT JOIN authorities a ON a.id = c.authority_id"
    " WHERE p.id_hash = ?1"
    " ORDER BY c.valid_from DESC";

static const char sql_portrait_get[] =
    "SELECT (SELECT 1 FROM persons WHERE id_hash = ?1),"
    " (SELECT nonce FROM portraits WHERE id_hash = ?1),"
    " (SELECT sealed FROM portraits WHERE id_hash = ?1)";

#define PT_NONCE 12
#define PT_TAG 16
#define PT_PLAIN (REG_PORTRAIT_DIM * 4)
#define PT_SEALED (PT_PLAIN + PT_TAG)

/* ------------------------------------------------------------ structures */

/* The per-reader area of the pool (common/sqlite_pool.h). */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *lookup;
    sqlite3_stmt *portrait; /* NULL until first used */
} reader;

struct registry {
    char *path;
    bool read_only;
    unsigned busy_ms;
    int store_version;
    char fingerprint[17];
    sm_hmac *id_mac;   /* sub-key "registry/id-number" */
    sm_hmac *name_mac; /* sub-key "registry/name" */
    sm_key portrait_key; /* sub-key "registry/portrait" (AES-256-GCM) */

    sqlite3 *wdb;                /* the writer connection; NULL when read_only */
    pthread_mutex_t write_lock;  /* one reg_writer / delete at a time */

    unsigned n_readers;
    sqlp_pool *pool;             /* read connections, snapshot reuse (see top) */
};

/* A tiny open-addressing map: authority text -> authorities.id, so that
 * an import does not query the authorities table for every card. */
#define AUTH_CACHE_MAX 65536
typedef struct {
    char *text; /* owned; NULL = empty slot */
    int64_t id;
} auth_slot;

struct reg_writer {
    registry *r;
    bool in_txn;
    sqlite3_stmt *sel_person, *ins_person, *upd_person;
    sqlite3_stmt *sel_card, *ins_card, *upd_card;
    sqlite3_stmt *sel_auth, *ins_auth;
    sqlite3_stmt *sel_portrait, *ups_portrait;

    /* Try inserting a person before looking it up: right while the
     * persons being put are new (a first import), switched off as soon as
     * one is found (a re-import), on again when one is new. */
    bool insert_first;

    /* The person of the previous put (hashes only, no plaintext), so that
     * consecutive cards of one person cost no person lookup. */
    bool have_last;
    uint8_t last_id_hash[SM_HASH_BYTES];
    uint8_t last_name_hash[SM_HASH_BYTES];
    int64_t last_person_id;
    int last_hukou;
    /* When that person was inserted by this writer: the valid_from dates of
     * its cards so far (so new cards need no lookup); n_new_cards < 0 when
     * unknown (an existing person, or too many to track). */
    int n_new_cards;
    int32_t new_cards[REG_MAX_CARDS * 2];

    auth_slot *auth;
    size_t auth_cap, auth_n;
};

/* --------------------------------------------------------------- helpers */

const char *reg_status_message(reg_status st)
{
    switch (st) {
    case REG_OK: return "ok";
    case REG_NOT_FOUND: return "no such person in the registry";
    case REG_UNAVAILABLE: return "the registry is unavailable (missing, locked, or unreadable)";
    case REG_ERR_KEY: return "the registry was created with another server key";
    case REG_ERR_SCHEMA: return "the registry's schema is newer than this program";
    case REG_ERR_INVALID: return "invalid record";
    case REG_ERR_NOMEM: return "out of memory";
    }
    return "unknown registry status";
}

static reg_status map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return REG_OK;
    case SQLITE_NOMEM:
        return REG_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
        return REG_ERR_INVALID;
    default: /* BUSY, LOCKED, IOERR, CORRUPT, NOTADB, CANTOPEN, FULL, … */
        return REG_UNAVAILABLE;
    }
}

static struct timespec realtime_deadline_after_ms(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* --------------------------------------------------------------- hashing */

reg_status registry_hash_id(const registry *r, const char id18[18], uint8_t out[SM_HASH_BYTES])
{
    return sm_hmac_compute(r->id_mac, id18, 18, NULL, 0, out) ? REG_OK : REG_ERR_NOMEM;
}

reg_status registry_hash_name(const registry *r, const char id18[18], const char *name,
                              size_t name_len, uint8_t out[SM_HASH_BYTES])
{
    char prefix[19];
    memcpy(prefix, id18, 18);
    prefix[18] = '\0'; /* binds the name to the number: id18 || 0x00 || name */
    bool ok = sm_hmac_compute(r->name_mac, prefix, sizeof prefix, name, name_len, out);
    OPENSSL_cleanse(prefix, sizeof prefix);
    return ok ? REG_OK : REG_ERR_NOMEM;
}

/* ------------------------------------------------------------ connections */

/* PRAGMAs (see docs/registry.md). Every connection: a busy timeout (a
 * locked store is an answer after busy_ms, never a hang) and in-memory temp
 * tables. Readers: the file memory-mapped (up to SQLite's 2 GiB limit), so
 * a lookup reads pages without copying them, plus a small page cache for
 * the rest. The writer: synchronous=NORMAL (in WAL mode a crash never
 * corrupts the store; a power loss may undo the last commits, which a
 * re-import redoes), secure_delete (erased rows leave zeros), a large page
 * cache for imports, no mmap (heap use stays flat however large the store),
 * and a WAL checkpointed every 64 MiB and truncated back to 64 MiB. WAL mode
 * itself is set once, when the store is opened read-write. */
static bool set_common_pragmas(sqlite3 *db, unsigned busy_ms, bool writer)
{
    if (sqlite3_busy_timeout(db, (int)busy_ms) != SQLITE_OK)
        return false;
    if (!sqs_exec(db, "PRAGMA temp_store = MEMORY;", NULL))
        return false;
    if (writer)
        return sqs_exec(db,
                        "PRAGMA synchronous = NORMAL;"
                        "PRAGMA secure_delete = ON;"
                        "PRAGMA mmap_size = 0;"
                        "PRAGMA cache_size = -131072;" /* 128 MiB, allocated as used */
                        "PRAGMA journal_size_limit = 67108864;"
                        "PRAGMA wal_autocheckpoint = 65536;",
                        NULL);
    return sqs_exec(db,
                    "PRAGMA mmap_size = 2147418112;"
                    "PRAGMA cache_size = -8192;", /* 8 MiB per reader */
                    NULL);
}

static void close_db(sqlite3 *db)
{
    if (db != NULL)
        sqlite3_close_v2(db);
}

/* Read the applied version (0 for an empty store). */

/* Fill `err` for an SQLite failure while opening. */
static reg_status open_failure(sqlite3 *db, int rc, const char *path, const char *what, char *err,
                               size_t errlen)
{
    reg_status st = map_sqlite(rc);
    if (st == REG_OK)
        st = REG_UNAVAILABLE;
    sqs_schema s = {.what = "registry", .path = path};
    sqs_describe(db, rc, &s, what, err, errlen);
    return st;
}

/* Bring the store to SCHEMA_VERSION and check/record the key fingerprint,
 * all in one write transaction on the writer connection. */
static reg_status migrate_and_check_key(registry *r, char *err, size_t errlen)
{
    sqs_schema s = {"registry", r->path, migrations, SCHEMA_VERSION, r->fingerprint};
    int rc;
    switch (sqs_migrate(r->wdb, &s, &rc, err, errlen)) {
    case SQS_OK:
        r->store_version = SCHEMA_VERSION;
        return REG_OK;
    case SQS_NEWER_SCHEMA:
        return REG_ERR_SCHEMA;
    case SQS_WRONG_KEY:
        return REG_ERR_KEY;
    case SQS_SQLITE:
    default: {
        reg_status st = map_sqlite(rc);
        return st == REG_OK ? REG_UNAVAILABLE : st;
    }
    }
}

/* Read-only open: the store must be current and belong to this key. */
static reg_status check_read_only(registry *r, sqlite3 *db, char *err, size_t errlen)
{
    int rc;
    if (!sqs_exec(db, "BEGIN", &rc))
        return open_failure(db, rc, r->path, "starting the schema check", err, errlen);
    reg_status st = REG_OK;
    int v = sqs_version(db, &rc);
    if ((rc & 0xff) == SQLITE_ERROR) { /* no schema_migrations: an empty file */
        v = 0;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        st = open_failure(db, rc, r->path, "reading the schema version", err, errlen);
        goto done;
    }
    if (v != SCHEMA_VERSION) {
        if (v > SCHEMA_VERSION)
            set_err(err, errlen,
                    "registry '%s' has schema version %d; this program knows up to %d",
                    r->path, v, SCHEMA_VERSION);
        else
            set_err(err, errlen,
                    "registry '%s' is at schema version %d and needs upgrading to %d: open it "
                    "once read-write (e.g. `shiming registry stats`)",
                    r->path, v, SCHEMA_VERSION);
        st = REG_ERR_SCHEMA;
        goto done;
    }
    char stored[64];
    if (!sqs_meta_get(db, "key_fingerprint", stored, sizeof stored, &rc)) {
        if (rc != SQLITE_OK)
            st = open_failure(db, rc, r->path, "reading the key fingerprint", err, errlen);
        else {
            set_err(err, errlen, "registry '%s' records no key fingerprint", r->path);
            st = REG_ERR_KEY;
        }
        goto done;
    }
    if (strcmp(stored, r->fingerprint) != 0) {
        set_err(err, errlen,
                "registry '%s' was created with another server key (its fingerprint is %s, "
                "this key's is %s): use the key file it was created with",
                r->path, stored, r->fingerprint);
        st = REG_ERR_KEY;
        goto done;
    }
    r->store_version = v;
done:
    sqs_exec(db, "COMMIT", NULL);
    return st;
}

/* sqlp_open's callback: context of the registry being opened. */
typedef struct {
    registry *r;
    char *err;
    size_t errlen;
} reader_ctx;

static int open_reader(void *ctx, unsigned index, sqlite3 **db, void *area)
{
    reader_ctx *c = ctx;
    registry *r = c->r;
    reader *rd = area;
    int rc = sqlite3_open_v2(r->path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    rd->db = *db;
    if (rc != SQLITE_OK)
        return (int)open_failure(rd->db, rc, r->path, "opening a read connection", c->err,
                                 c->errlen);
    if (!set_common_pragmas(rd->db, r->busy_ms, false))
        return (int)open_failure(rd->db, sqlite3_errcode(rd->db), r->path,
                                 "configuring a read connection", c->err, c->errlen);
    rc = sqlite3_prepare_v3(rd->db, sql_lookup, -1, SQLITE_PREPARE_PERSISTENT, &rd->lookup, NULL);
    if (rc != SQLITE_OK)
        return (int)open_failure(rd->db, rc, r->path, "preparing the lookup", c->err, c->errlen);
    if (index == 0 && r->read_only)
        return (int)check_read_only(r, rd->db, c->err, c->errlen);
    return REG_OK;
}

void registry_close(registry *r)
{
    if (r == NULL)
        return;
    sqlp_close(r->pool);
    close_db(r->wdb);
    sm_hmac_free(r->id_mac);
    sm_hmac_free(r->name_mac);
    sm_key_clear(&r->portrait_key);
    pthread_mutex_destroy(&r->write_lock);
    free(r->path);
    free(r);
}

reg_status registry_open(const reg_options *opt, registry **out, char *err, size_t errlen)
{
    sqs_init_process();
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (opt == NULL || opt->path == NULL || opt->path[0] == '\0' || opt->key == NULL) {
        set_err(err, errlen, "registry_open: no path or no key");
        return REG_ERR_INVALID;
    }
    registry *r = calloc(1, sizeof *r);
    if (r == NULL)
        return REG_ERR_NOMEM;
    pthread_mutex_init(&r->write_lock, NULL);

    r->read_only = opt->read_only;
    r->busy_ms = opt->busy_timeout_ms ? opt->busy_timeout_ms : DEFAULT_BUSY_MS;
    r->n_readers = opt->readers ? opt->readers : DEFAULT_READERS;
    if (r->n_readers > MAX_READERS)
        r->n_readers = MAX_READERS;
    r->path = strdup(opt->path);
    sm_key_fingerprint(opt->key, r->fingerprint);

    sm_key id_key, name_key;
    bool keys_ok = sm_key_derive(opt->key, "registry/id-number", &id_key) &&
                   sm_key_derive(opt->key, "registry/name", &name_key) &&
                   sm_key_derive(opt->key, "registry/portrait", &r->portrait_key);
    if (keys_ok) {
        r->id_mac = sm_hmac_new(&id_key);
        r->name_mac = sm_hmac_new(&name_key);
    }
    sm_key_clear(&id_key);
    sm_key_clear(&name_key);
    if (r->path == NULL || r->id_mac == NULL || r->name_mac == NULL) {
        registry_close(r);
        set_err(err, errlen, keys_ok ? "out of memory" : "cannot derive the registry keys");
        return REG_ERR_NOMEM;
    }

    reg_status st;
    if (!r->read_only) {
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
        if (opt->create) {
            flags |= SQLITE_OPEN_CREATE;
            if (access(r->path, F_OK) != 0) {
                /* Create the file ourselves with mode 0600: SQLite gives the
                 * -wal and -shm files the database file's permissions. */
                if (!make_parent_dirs(r->path)) {
                    set_err(err, errlen, "cannot create the directory of registry '%s': %s",
                            r->path, strerror(errno));
                    registry_close(r);
                    return REG_UNAVAILABLE;
                }
                int fd = open(r->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                if (fd >= 0)
                    close(fd);
            }
        } else if (access(r->path, F_OK) != 0) {
            set_err(err, errlen, "registry '%s' does not exist (create it with `shiming registry import`)",
                    r->path);
            registry_close(r);
            return REG_UNAVAILABLE;
        }
        int rc = sqlite3_open_v2(r->path, &r->wdb, flags, NULL);
        if (rc != SQLITE_OK) {
            st = open_failure(r->wdb, rc, r->path, "opening", err, errlen);
            registry_close(r);
            return st;
        }
        sqlite3_extended_result_codes(r->wdb, 1);
        if (sqlite3_busy_timeout(r->wdb, (int)r->busy_ms) != SQLITE_OK) {
            registry_close(r);
            return REG_ERR_NOMEM;
        }
        /* journal_mode=WAL is persistent: set once, read back to make sure. */
        sqlite3_stmt *jm = NULL;
        rc = sqlite3_prepare_v2(r->wdb, "PRAGMA journal_mode = WAL", -1, &jm, NULL);
        bool wal = false;
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(jm);
            if (rc == SQLITE_ROW) {
                const unsigned char *mode = sqlite3_column_text(jm, 0);
                wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
                rc = SQLITE_OK;
            }
        }
        sqlite3_finalize(jm);
        if (rc != SQLITE_OK) {
            st = open_failure(r->wdb, rc, r->path, "switching to WAL mode", err, errlen);
            registry_close(r);
            return st;
        }
        if (!wal) {
            set_err(err, errlen, "registry '%s': cannot use WAL mode on this file system", r->path);
            registry_close(r);
            return REG_UNAVAILABLE;
        }
        if (!set_common_pragmas(r->wdb, r->busy_ms, true)) {
            st = open_failure(r->wdb, sqlite3_errcode(r->wdb), r->path, "configuring", err, errlen);
            registry_close(r);
            return st;
        }
        st = migrate_and_check_key(r, err, errlen);
        if (st != REG_OK) {
            registry_close(r);
            return st;
        }
    } else if (access(r->path, F_OK) != 0) {
        set_err(err, errlen, "registry '%s' does not exist", r->path);
        registry_close(r);
        return REG_UNAVAILABLE;
    }

    reader_ctx ctx = {r, err, errlen};
    int ps = sqlp_open(r->n_readers, sizeof(reader), r->busy_ms, open_reader, &ctx, &r->pool);
    if (ps != 0) {
        if (ps == SQLP_ERR_NOMEM)
            set_err(err, errlen, "cannot open the registry's read pool: out of memory or no thread");
        registry_close(r);
        return ps == SQLP_ERR_NOMEM ? REG_ERR_NOMEM : (reg_status)ps;
    }
    *out = r;
    return REG_OK;
}

int registry_schema_version(void)
{
    return SCHEMA_VERSION;
}

int registry_store_version(const registry *r)
{
    return r ? r->store_version : 0;
}

/* ---------------------------------------------------------------- lookup */

reg_status registry_lookup(registry *r, const char id18[18], const char *name, size_t name_len,
                           reg_person *out)
{
    memset(out, 0, sizeof *out);
    uint8_t id_hash[SM_HASH_BYTES], name_hash[SM_HASH_BYTES];
    if (registry_hash_id(r, id18, id_hash) != REG_OK)
        return REG_ERR_NOMEM;
    if (name != NULL && registry_hash_name(r, id18, name, name_len, name_hash) != REG_OK)
        return REG_ERR_NOMEM;

    sqlp_reader *pr = sqlp_borrow(r->pool);
    if (pr == NULL)
        return REG_UNAVAILABLE;
    reader *rd = sqlp_area(pr);
    sqlite3_stmt *st = rd->lookup;
    reg_status result = REG_NOT_FOUND;
    int rc = sqlp_snapshot(r->pool, pr);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        result = map_sqlite(rc);
        goto done;
    }
    bool first = true;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (first) {
            first = false;
            result = REG_OK;
            const void *stored = sqlite3_column_blob(st, 0);
            if (name != NULL && stored != NULL && sqlite3_column_bytes(st, 0) == SM_HASH_BYTES)
                out->name_matches = sm_hash_equal(stored, name_hash);
            int h = sqlite3_column_int(st, 1);
            out->hukou = (h >= 0 && h <= 2) ? (reg_hukou)h : REG_HUKOU_INVALID;
        }
        if (sqlite3_column_type(st, 2) == SQLITE_NULL || out->n_cards >= REG_MAX_CARDS)
            continue; /* no cards (LEFT JOIN), or more than kept */
        reg_card *c = &out->cards[out->n_cards];
        int64_t from = sqlite3_column_int64(st, 2);
        if (from == 0 || !sqs_int_to_date(from, &c->valid_from))
            continue;
        int64_t to = sqlite3_column_int64(st, 3);
        if (to == 0)
            c->long_term = true;
        else if (!sqs_int_to_date(to, &c->valid_to))
            continue;
        c->lost = sqlite3_column_int(st, 4) != 0;
        const unsigned char *a = sqlite3_column_text(st, 5);
        snprintf(c->authority, sizeof c->authority, "%s", a ? (const char *)a : "");
        out->n_cards++;
    }
    if (rc != SQLITE_DONE) {
        result = map_sqlite(rc);
        if (result == REG_OK)
            result = REG_UNAVAILABLE;
        memset(out, 0, sizeof *out);
    }
done:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (result == REG_UNAVAILABLE || result == REG_ERR_NOMEM)
        sqlp_end_snapshot(pr); /* start afresh next time */
    sqlp_return(r->pool, pr);
    OPENSSL_cleanse(name_hash, sizeof name_hash);
    return result;
}

/* ---------------------------------------------------------------- writer */

static bool lock_writer(registry *r)
{
    struct timespec dl = realtime_deadline_after_ms(r->busy_ms);
    return pthread_mutex_timedlock(&r->write_lock, &dl) == 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void auth_cache_clear(reg_writer *w)
{
    for (size_t i = 0; i < w->auth_cap; i++) {
        free(w->auth[i].text);
        w->auth[i].text = NULL;
    }
    w->auth_n = 0;
}

static void auth_cache_put(reg_writer *w, const char *text, int64_t id)
{
    if (w->auth_n >= AUTH_CACHE_MAX)
        return;
    if ((w->auth_n + 1) * 2 > w->auth_cap) {
        size_t cap = w->auth_cap ? w->auth_cap * 2 : 256;
        auth_slot *slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return; /* the cache is an optimisation only */
        for (size_t i = 0; i < w->auth_cap; i++) {
            if (w->auth[i].text == NULL)
                continue;
            size_t j = fnv1a(w->auth[i].text) & (cap - 1);
            while (slots[j].text != NULL)
                j = (j + 1) & (cap - 1);
            slots[j] = w->auth[i];
        }
        free(w->auth);
        w->auth = slots;
        w->auth_cap = cap;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return;
    size_t j = fnv1a(text) & (w->auth_cap - 1);
    while (w->auth[j].text != NULL)
        j = (j + 1) & (w->auth_cap - 1);
    w->auth[j].text = copy;
    w->auth[j].id = id;
    w->auth_n++;
}

static bool auth_cache_get(const reg_writer *w, const char *text, int64_t *id)
{
    if (w->auth_cap == 0)
        return false;
    size_t j = fnv1a(text) & (w->auth_cap - 1);
    while (w->auth[j].text != NULL) {
        if (strcmp(w->auth[j].text, text) == 0) {
            *id = w->auth[j].id;
            return true;
        }
        j = (j + 1) & (w->auth_cap - 1);
    }
    return false;
}

static void writer_forget(reg_writer *w)
{
    w->have_last = false;
    auth_cache_clear(w); /* ids of rolled-back authorities must not be reused */
}

static void writer_free(reg_writer *w)
{
    sqlite3_stmt *all[] = {w->sel_person, w->ins_person, w->upd_person,   w->sel_card,
                           w->ins_card,   w->upd_card,   w->sel_auth,     w->ins_auth,
                           w->sel_portrait, w->ups_portrait};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    auth_cache_clear(w);
    free(w->auth);
    OPENSSL_cleanse(w, sizeof *w);
    free(w);
}

static reg_status writer_begin_txn(reg_writer *w)
{
    if (w->in_txn) {
        if (!sqlite3_get_autocommit(w->r->wdb))
            return REG_OK;
        /* SQLite rolled the batch back after an error: do not go on as if
         * the earlier rows of the batch were stored. */
        w->in_txn = false;
        writer_forget(w);
        return REG_UNAVAILABLE;
    }
    int rc;
    if (!sqs_exec(w->r->wdb, "BEGIN IMMEDIATE", &rc))
        return map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
    w->in_txn = true;
    return REG_OK;
}

reg_status registry_writer_begin(registry *r, reg_writer **out)
{
    *out = NULL;
    if (r->read_only || r->wdb == NULL)
        return REG_ERR_INVALID;
    if (!lock_writer(r))
        return REG_UNAVAILABLE;
    reg_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        pthread_mutex_unlock(&r->write_lock);
        return REG_ERR_NOMEM;
    }
    w->r = r;
    w->insert_first = true;
    static const struct {
        size_t offset;
        const char *sql;
    } stmts[] = {
        {offsetof(reg_writer, sel_person),
         "SELECT id, name_hash, hukou FROM persons WHERE id_hash = ?1"},
        {offsetof(reg_writer, ins_person),
         "INSERT INTO persons (id_hash, name_hash, hukou) VALUES (?1, ?2, ?3)"
         " ON CONFLICT (id_hash) DO NOTHING"},
        {offsetof(reg_writer, upd_person),
         "UPDATE persons SET name_hash = ?2, hukou = ?3 WHERE id = ?1"},
        {offsetof(reg_writer, sel_card),
         "SELECT valid_to, authority_id, lost FROM cards WHERE person_id = ?1 AND valid_from = ?2"},
        {offsetof(reg_writer, ins_card),
         "INSERT INTO cards (person_id, valid_from, valid_to, authority_id, lost)"
         " VALUES (?1, ?2, ?3, ?4, ?5)"},
        {offsetof(reg_writer, upd_card),
         "UPDATE cards SET valid_to = ?3, authority_id = ?4, lost = ?5"
         " WHERE person_id = ?1 AND valid_from = ?2"},
        {offsetof(reg_writer, sel_auth), "SELECT id FROM authorities WHERE name = ?1"},
        {offsetof(reg_writer, ins_auth),
         "INSERT INTO authorities (name) VALUES (?1) RETURNING id"},
        {offsetof(reg_writer, sel_portrait),
         "SELECT nonce, sealed FROM portraits WHERE id_hash = ?1"},
        {offsetof(reg_writer, ups_portrait),
         "INSERT INTO portraits (id_hash, nonce, sealed) VALUES (?1, ?2, ?3)"
         " ON CONFLICT (id_hash) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed"},
    };
    reg_status st = REG_OK;
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)(void *)((char *)w + stmts[i].offset);
        int rc = sqlite3_prepare_v3(r->wdb, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK) {
            st = map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
            if (st == REG_ERR_INVALID)
                st = REG_UNAVAILABLE;
            break;
        }
    }
    if (st == REG_OK)
        st = writer_begin_txn(w); /* takes the write lock now, as promised */
    if (st != REG_OK) {
        writer_free(w);
        pthread_mutex_unlock(&r->write_lock);
        return st;
    }
    *out = w;
    return REG_OK;
}

/* Step a statement that returns no row or one integer (its first row's
 * first column, e.g. RETURNING id); reset it. SQLITE_OK on success. */
static int step_reset(sqlite3_stmt *st, int64_t *value, bool *row)
{
    int rc = sqlite3_step(st);
    if (row != NULL)
        *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW && value != NULL)
        *value = sqlite3_column_int64(st, 0);
    int rc2 = sqlite3_reset(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? rc2 : rc;
}

static reg_status authority_id(reg_writer *w, const char *text, int64_t *id)
{
    if (auth_cache_get(w, text, id))
        return REG_OK;
    bool row = false;
    sqlite3_bind_text(w->sel_auth, 1, text, -1, SQLITE_STATIC);
    int rc = step_reset(w->sel_auth, id, &row);
    if (rc != SQLITE_OK)
        return map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
    if (!row) {
        sqlite3_bind_text(w->ins_auth, 1, text, -1, SQLITE_STATIC);
        rc = step_reset(w->ins_auth, id, &row);
        if (rc != SQLITE_OK || !row)
            return map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
    }
    auth_cache_put(w, text, *id);
    return REG_OK;
}

static bool row_is_valid(const reg_hashed_row *row)
{
    if ((int)row->hukou < 0 || (int)row->hukou > 2)
        return false;
    const reg_card *c = &row->card;
    if (!sm_date_is_valid(c->valid_from.year, c->valid_from.month, c->valid_from.day))
        return false;
    if (!c->long_term && !sm_date_is_valid(c->valid_to.year, c->valid_to.month, c->valid_to.day))
        return false;
    return memchr(c->authority, '\0', sizeof c->authority) != NULL;
}

static reg_status fail(reg_writer *w, int rc)
{
    writer_forget(w);
    reg_status st = map_sqlite(rc);
    return st == REG_OK ? REG_UNAVAILABLE : st;
}

/* INSERT … ON CONFLICT DO NOTHING: *inserted false when the person
 * already exists. The new id comes from the C API rather than RETURNING,
 * which SQLite implements with a temporary table per statement (a
 * PostgreSQL backend uses RETURNING id). */
static int insert_person(reg_writer *w, const reg_hashed_row *row, int64_t *pid, bool *inserted)
{
    sqlite3_bind_blob(w->ins_person, 1, row->id_hash, SM_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(w->ins_person, 2, row->name_hash, SM_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(w->ins_person, 3, (int)row->hukou);
    int rc = step_reset(w->ins_person, NULL, NULL);
    *inserted = rc == SQLITE_OK && sqlite3_changes(w->r->wdb) == 1;
    if (*inserted)
        *pid = sqlite3_last_insert_rowid(w->r->wdb);
    return rc;
}

reg_status registry_writer_put_hashed(reg_writer *w, const reg_hashed_row *row,
                                      reg_put_result *result)
{
    if (!row_is_valid(row))
        return REG_ERR_INVALID;
    reg_status st = writer_begin_txn(w);
    if (st != REG_OK)
        return st;

    int rc;
    bool person_inserted = false, person_updated = false;
    int64_t pid;
    if (w->have_last && memcmp(w->last_id_hash, row->id_hash, SM_HASH_BYTES) == 0) {
        pid = w->last_person_id;
    } else {
        w->have_last = false;
        pid = -1;
        bool found = false;
        if (w->insert_first) {
            rc = insert_person(w, row, &pid, &person_inserted);
            if (rc != SQLITE_OK)
                return fail(w, rc);
            w->insert_first = person_inserted;
        }
        if (!person_inserted) {
            sqlite3_bind_blob(w->sel_person, 1, row->id_hash, SM_HASH_BYTES, SQLITE_STATIC);
            rc = sqlite3_step(w->sel_person);
            if (rc == SQLITE_ROW) {
                found = true;
                pid = sqlite3_column_int64(w->sel_person, 0);
                const void *nh = sqlite3_column_blob(w->sel_person, 1);
                if (nh != NULL && sqlite3_column_bytes(w->sel_person, 1) == SM_HASH_BYTES)
                    memcpy(w->last_name_hash, nh, SM_HASH_BYTES);
                else
                    memset(w->last_name_hash, 0, SM_HASH_BYTES);
                w->last_hukou = sqlite3_column_int(w->sel_person, 2);
                w->n_new_cards = -1;
                rc = SQLITE_DONE;
            }
            int rc2 = sqlite3_reset(w->sel_person);
            if (rc != SQLITE_DONE || rc2 != SQLITE_OK)
                return fail(w, rc != SQLITE_DONE ? rc : rc2);
        }
        if (!person_inserted && !found) {
            rc = insert_person(w, row, &pid, &person_inserted);
            if (rc != SQLITE_OK || !person_inserted)
                return fail(w, rc);
            w->insert_first = true;
        }
        if (person_inserted) {
            memcpy(w->last_name_hash, row->name_hash, SM_HASH_BYTES);
            w->last_hukou = (int)row->hukou;
            w->n_new_cards = 0;
        }
        memcpy(w->last_id_hash, row->id_hash, SM_HASH_BYTES);
        w->last_person_id = pid;
        w->have_last = true;
    }
    if (!person_inserted && (memcmp(w->last_name_hash, row->name_hash, SM_HASH_BYTES) != 0 ||
                             w->last_hukou != (int)row->hukou)) {
        sqlite3_bind_int64(w->upd_person, 1, pid);
        sqlite3_bind_blob(w->upd_person, 2, row->name_hash, SM_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_int(w->upd_person, 3, (int)row->hukou);
        rc = step_reset(w->upd_person, NULL, NULL);
        if (rc != SQLITE_OK)
            return fail(w, rc);
        memcpy(w->last_name_hash, row->name_hash, SM_HASH_BYTES);
        w->last_hukou = (int)row->hukou;
        person_updated = true;
    }

    /* The card, keyed by (person, valid_from). */
    const reg_card *c = &row->card;
    int64_t from = sqs_date_to_int(c->valid_from);
    int64_t to = c->long_term ? 0 : sqs_date_to_int(c->valid_to);
    int64_t aid;
    st = authority_id(w, c->authority, &aid);
    if (st != REG_OK) {
        writer_forget(w);
        return st;
    }
    bool card_exists = false, card_inserted = false, card_updated = false;
    bool known_new = false;
    if (w->n_new_cards >= 0) {
        /* A person this writer inserted: its only cards are those it put. */
        known_new = true;
        for (int i = 0; i < w->n_new_cards; i++)
            if (w->new_cards[i] == (int32_t)from)
                known_new = false;
    }
    if (!known_new) {
        sqlite3_bind_int64(w->sel_card, 1, pid);
        sqlite3_bind_int64(w->sel_card, 2, from);
        rc = sqlite3_step(w->sel_card);
        bool same = false;
        if (rc == SQLITE_ROW) {
            card_exists = true;
            same = sqlite3_column_int64(w->sel_card, 0) == to &&
                   sqlite3_column_int64(w->sel_card, 1) == aid &&
                   (sqlite3_column_int64(w->sel_card, 2) != 0) == c->lost;
            rc = SQLITE_DONE;
        }
        int rc2 = sqlite3_reset(w->sel_card);
        if (rc != SQLITE_DONE || rc2 != SQLITE_OK)
            return fail(w, rc != SQLITE_DONE ? rc : rc2);
        if (card_exists && !same) {
            sqlite3_stmt *u = w->upd_card;
            sqlite3_bind_int64(u, 1, pid);
            sqlite3_bind_int64(u, 2, from);
            sqlite3_bind_int64(u, 3, to);
            sqlite3_bind_int64(u, 4, aid);
            sqlite3_bind_int(u, 5, c->lost ? 1 : 0);
            rc = step_reset(u, NULL, NULL);
            if (rc != SQLITE_OK)
                return fail(w, rc);
            card_updated = true;
        }
    }
    if (!card_exists) {
        sqlite3_stmt *ins = w->ins_card;
        sqlite3_bind_int64(ins, 1, pid);
        sqlite3_bind_int64(ins, 2, from);
        sqlite3_bind_int64(ins, 3, to);
        sqlite3_bind_int64(ins, 4, aid);
        sqlite3_bind_int(ins, 5, c->lost ? 1 : 0);
        rc = step_reset(ins, NULL, NULL);
        if (rc != SQLITE_OK)
            return fail(w, rc);
        card_inserted = true;
        if (w->n_new_cards >= 0) {
            if (w->n_new_cards < (int)(sizeof w->new_cards / sizeof w->new_cards[0]))
                w->new_cards[w->n_new_cards++] = (int32_t)from;
            else
                w->n_new_cards = -1; /* stop tracking: look cards up */
        }
    }

    if (result != NULL)
        *result = (person_inserted || card_inserted)  ? REG_PUT_INSERTED
                  : (person_updated || card_updated) ? REG_PUT_UPDATED
                                                     : REG_PUT_UNCHANGED;
    return REG_OK;
}

reg_status registry_writer_put(reg_writer *w, const reg_row *row, reg_put_result *result)
{
    reg_hashed_row h;
    memset(&h, 0, sizeof h);
    reg_status st = registry_hash_id(w->r, row->id18, h.id_hash);
    if (st == REG_OK)
        st = registry_hash_name(w->r, row->id18, row->name, row->name_len, h.name_hash);
    if (st == REG_OK) {
        h.hukou = row->hukou;
        h.card = row->card;
        st = registry_writer_put_hashed(w, &h, result);
    }
    OPENSSL_cleanse(&h, sizeof h);
    return st;
}

/* ------------------------------------------------------------- portraits */

/* The template's plaintext: each float's IEEE-754 bits, little-endian. */
static void portrait_pack(const float emb[REG_PORTRAIT_DIM], uint8_t out[PT_PLAIN])
{
    for (size_t i = 0; i < REG_PORTRAIT_DIM; i++) {
        uint32_t u;
        memcpy(&u, &emb[i], 4);
        out[4 * i] = (uint8_t)u;
        out[4 * i + 1] = (uint8_t)(u >> 8);
        out[4 * i + 2] = (uint8_t)(u >> 16);
        out[4 * i + 3] = (uint8_t)(u >> 24);
    }
}

static void portrait_unpack(const uint8_t in[PT_PLAIN], float emb[REG_PORTRAIT_DIM])
{
    for (size_t i = 0; i < REG_PORTRAIT_DIM; i++) {
        uint32_t u = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
                     (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
        memcpy(&emb[i], &u, 4);
    }
}

/* sealed = AES-256-GCM(plain) || tag, under a fresh random nonce. */
static bool portrait_seal(const registry *r, const uint8_t id_hash[SM_HASH_BYTES],
                          const uint8_t plain[PT_PLAIN], uint8_t nonce[PT_NONCE],
                          uint8_t sealed[PT_SEALED])
{
    if (RAND_bytes(nonce, PT_NONCE) != 1)
        return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    bool ok = ctx != NULL &&
              EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PT_NONCE, NULL) == 1 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, r->portrait_key.bytes, nonce) == 1 &&
              EVP_EncryptUpdate(ctx, NULL, &outl, id_hash, SM_HASH_BYTES) == 1 &&
              EVP_EncryptUpdate(ctx, sealed, &outl, plain, PT_PLAIN) == 1 &&
              EVP_EncryptFinal_ex(ctx, sealed + outl, &fl) == 1 && outl + fl == PT_PLAIN &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, PT_TAG, sealed + PT_PLAIN) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* false when the row is malformed or does not authenticate under this id
 * hash (plain is then zeroed). */
static bool portrait_open(const registry *r, const uint8_t id_hash[SM_HASH_BYTES],
                          const void *nonce, int nonce_len, const void *sealed, int sealed_len,
                          uint8_t plain[PT_PLAIN])
{
    if (nonce == NULL || sealed == NULL || nonce_len != PT_NONCE || sealed_len != PT_SEALED)
        return false;
    uint8_t tag[PT_TAG];
    memcpy(tag, (const uint8_t *)sealed + PT_PLAIN, PT_TAG);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    bool ok = ctx != NULL &&
              EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PT_NONCE, NULL) == 1 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, r->portrait_key.bytes, nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &outl, id_hash, SM_HASH_BYTES) == 1 &&
              EVP_DecryptUpdate(ctx, plain, &outl, sealed, PT_PLAIN) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PT_TAG, tag) == 1 &&
              EVP_DecryptFinal_ex(ctx, plain + outl, &fl) == 1 && outl + fl == PT_PLAIN;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        OPENSSL_cleanse(plain, PT_PLAIN);
    return ok;
}

reg_status registry_writer_put_portrait(reg_writer *w, const uint8_t id_hash[SM_HASH_BYTES],
                                        const float emb[REG_PORTRAIT_DIM],
                                        reg_put_result *result)
{
    for (size_t i = 0; i < REG_PORTRAIT_DIM; i++)
        if (!(emb[i] >= -1e6f && emb[i] <= 1e6f)) /* NaN, infinities, nonsense */
            return REG_ERR_INVALID;
    reg_status st = writer_begin_txn(w);
    if (st != REG_OK)
        return st;
    uint8_t plain[PT_PLAIN], old[PT_PLAIN], nonce[PT_NONCE], sealed[PT_SEALED];
    portrait_pack(emb, plain);

    bool exists = false, same = false;
    sqlite3_bind_blob(w->sel_portrait, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(w->sel_portrait);
    if (rc == SQLITE_ROW) {
        exists = true;
        /* Compare the decrypted values: every write has a new nonce, so
         * equal templates never have equal ciphertexts. A row that does not
         * decrypt is replaced. */
        if (portrait_open(w->r, id_hash, sqlite3_column_blob(w->sel_portrait, 0),
                          sqlite3_column_bytes(w->sel_portrait, 0),
                          sqlite3_column_blob(w->sel_portrait, 1),
                          sqlite3_column_bytes(w->sel_portrait, 1), old))
            same = CRYPTO_memcmp(old, plain, PT_PLAIN) == 0;
        rc = SQLITE_DONE;
    }
    int rc2 = sqlite3_reset(w->sel_portrait);
    OPENSSL_cleanse(old, sizeof old);
    if (rc != SQLITE_DONE || rc2 != SQLITE_OK) {
        OPENSSL_cleanse(plain, sizeof plain);
        return fail(w, rc != SQLITE_DONE ? rc : rc2);
    }
    if (!same) {
        bool sealed_ok = portrait_seal(w->r, id_hash, plain, nonce, sealed);
        OPENSSL_cleanse(plain, sizeof plain);
        if (!sealed_ok)
            return REG_ERR_NOMEM;
        sqlite3_stmt *u = w->ups_portrait;
        sqlite3_bind_blob(u, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_blob(u, 2, nonce, PT_NONCE, SQLITE_STATIC);
        sqlite3_bind_blob(u, 3, sealed, PT_SEALED, SQLITE_STATIC);
        rc = step_reset(u, NULL, NULL);
        sqlite3_clear_bindings(u);
        if (rc != SQLITE_OK)
            return fail(w, rc);
    }
    OPENSSL_cleanse(plain, sizeof plain);
    if (result != NULL)
        *result = same ? REG_PUT_UNCHANGED : exists ? REG_PUT_UPDATED : REG_PUT_INSERTED;
    return REG_OK;
}

reg_status registry_portrait_get(registry *r, const char id18[18], float emb[REG_PORTRAIT_DIM],
                                 bool *has_person)
{
    if (has_person != NULL)
        *has_person = false;
    memset(emb, 0, sizeof(float) * REG_PORTRAIT_DIM);
    uint8_t id_hash[SM_HASH_BYTES];
    if (registry_hash_id(r, id18, id_hash) != REG_OK)
        return REG_ERR_NOMEM;
    sqlp_reader *pr = sqlp_borrow(r->pool);
    if (pr == NULL)
        return REG_UNAVAILABLE;
    reader *rd = sqlp_area(pr);
    reg_status result = REG_NOT_FOUND;
    int rc = SQLITE_OK;
    if (rd->portrait == NULL)
        rc = sqlite3_prepare_v3(rd->db, sql_portrait_get, -1, SQLITE_PREPARE_PERSISTENT,
                                &rd->portrait, NULL);
    if (rc == SQLITE_OK)
        rc = sqlp_snapshot(r->pool, pr);
    sqlite3_stmt *st = rd->portrait;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            rc = SQLITE_OK;
            bool person = sqlite3_column_type(st, 0) != SQLITE_NULL;
            if (has_person != NULL)
                *has_person = person;
            if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
                uint8_t plain[PT_PLAIN];
                if (portrait_open(r, id_hash, sqlite3_column_blob(st, 1),
                                  sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 2),
                                  sqlite3_column_bytes(st, 2), plain)) {
                    portrait_unpack(plain, emb);
                    result = REG_OK;
                } else {
                    result = REG_UNAVAILABLE; /* corrupt or moved: never a template */
                }
                OPENSSL_cleanse(plain, sizeof plain);
            }
        }
    }
    if (rc != SQLITE_OK) {
        result = map_sqlite(rc);
        if (result == REG_OK || result == REG_ERR_INVALID)
            result = REG_UNAVAILABLE;
    }
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (result == REG_UNAVAILABLE || result == REG_ERR_NOMEM)
        sqlp_end_snapshot(pr);
    sqlp_return(r->pool, pr);
    return result;
}

reg_status registry_writer_commit(reg_writer *w)
{
    if (!w->in_txn)
        return REG_OK;
    int rc;
    if (sqlite3_get_autocommit(w->r->wdb)) {
        /* SQLite rolled the batch back after an error (I/O, disk full):
         * committing now would report rows that were never stored. */
        w->in_txn = false;
        writer_forget(w);
        return REG_UNAVAILABLE;
    }
    if (!sqs_exec(w->r->wdb, "COMMIT", &rc)) {
        /* A failed COMMIT (e.g. disk full) leaves the transaction open:
         * roll it back so the store stays at the last good batch. */
        sqs_exec(w->r->wdb, "ROLLBACK", NULL);
        w->in_txn = false;
        return fail(w, rc);
    }
    w->in_txn = false;
    sqlp_writes_committed(w->r->pool);
    return REG_OK;
}

reg_status registry_writer_end(reg_writer *w, bool commit)
{
    if (w == NULL)
        return REG_OK;
    registry *r = w->r;
    reg_status st = REG_OK;
    if (w->in_txn) {
        if (commit) {
            st = registry_writer_commit(w);
        } else {
            sqs_exec(r->wdb, "ROLLBACK", NULL);
            w->in_txn = false;
        }
    }
    writer_free(w);
    pthread_mutex_unlock(&r->write_lock);
    return st;
}

/* ---------------------------------------------------------------- delete */

reg_status registry_delete(registry *r, const char id18[18])
{
    if (r->read_only || r->wdb == NULL)
        return REG_ERR_INVALID;
    uint8_t id_hash[SM_HASH_BYTES];
    if (registry_hash_id(r, id18, id_hash) != REG_OK)
        return REG_ERR_NOMEM;
    if (!lock_writer(r))
        return REG_UNAVAILABLE;
    sqlite3 *db = r->wdb;
    sqlite3_stmt *sel = NULL, *del_cards = NULL, *del_person = NULL, *del_portrait = NULL;
    reg_status st = REG_OK;
    int rc;
    if (!sqs_exec(db, "BEGIN IMMEDIATE", &rc)) {
        st = map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
        goto out;
    }
    rc = sqlite3_prepare_v2(db, "SELECT id FROM persons WHERE id_hash = ?1", -1, &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM cards WHERE person_id = ?1", -1, &del_cards, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM persons WHERE id = ?1", -1, &del_person, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM portraits WHERE id_hash = ?1", -1, &del_portrait,
                                NULL);
    int64_t pid = 0;
    bool found = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob(sel, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
        rc = step_reset(sel, &pid, &found);
    }
    if (rc == SQLITE_OK) {
        /* The template goes with the person (and a template without a
         * person, which an interrupted import may leave, goes too). */
        sqlite3_bind_blob(del_portrait, 1, id_hash, SM_HASH_BYTES, SQLITE_STATIC);
        rc = step_reset(del_portrait, NULL, NULL);
        if (rc == SQLITE_OK && sqlite3_changes(db) > 0)
            found = true;
    }
    if (rc == SQLITE_OK && found && pid > 0) {
        sqlite3_bind_int64(del_cards, 1, pid);
        rc = step_reset(del_cards, NULL, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(del_person, 1, pid);
            rc = step_reset(del_person, NULL, NULL);
        }
    }
    if (rc == SQLITE_OK && found && sqs_exec(db, "COMMIT", &rc)) {
        /* The erased person must not outlive the commit in any snapshot. */
        sqlp_writes_committed(r->pool);
        sqlp_release_idle(r->pool);
        /* Erasure: secure_delete zeroed the freed cells in the pages just
         * written to the WAL; checkpointing them into the database and
         * truncating the WAL leaves no older copy of the person's rows. */
        (void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        st = REG_OK;
    } else {
        sqs_exec(db, "ROLLBACK", NULL);
        st = rc != SQLITE_OK ? (map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc))
                             : REG_NOT_FOUND;
    }
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(del_cards);
    sqlite3_finalize(del_person);
    sqlite3_finalize(del_portrait);
    pthread_mutex_unlock(&r->write_lock);
    return st;
}

/* ----------------------------------------------------------------- stats */

static int count_query(sqlite3 *db, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = (uint64_t)sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static uint64_t file_size(const char *path, const char *suffix)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s%s", path, suffix) >= sizeof buf)
        return 0;
    struct stat sb;
    return stat(buf, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

reg_status registry_stats(registry *r, reg_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlp_reader *pr = sqlp_borrow(r->pool);
    if (pr == NULL)
        return REG_UNAVAILABLE;
    sqlp_end_snapshot(pr); /* stats take their own, fresh read transaction */
    sqlite3 *db = sqlp_db(pr);
    int rc;
    /* One read transaction: every count from the same snapshot. */
    if (!sqs_exec(db, "BEGIN", &rc)) {
        sqlp_return(r->pool, pr);
        return map_sqlite(rc) == REG_OK ? REG_UNAVAILABLE : map_sqlite(rc);
    }
    rc = count_query(db, "SELECT COUNT(*) FROM persons", &out->persons);
    if (rc == SQLITE_OK)
        rc = count_query(db, "SELECT COUNT(*) FROM cards", &out->cards);
    if (rc == SQLITE_OK)
        rc = count_query(db, "SELECT COUNT(*) FROM cards WHERE lost = 1", &out->lost_cards);
    if (rc == SQLITE_OK)
        rc = count_query(db, "SELECT COUNT(*) FROM portraits", &out->portraits);
    if (rc == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, "SELECT hukou, COUNT(*) FROM persons GROUP BY hukou", -1, &st,
                                NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int h = sqlite3_column_int(st, 0);
            if (h >= 0 && h <= 2)
                out->hukou[h] = (uint64_t)sqlite3_column_int64(st, 1);
            rc = SQLITE_OK;
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
    char fp[sizeof out->key_fingerprint] = "";
    if (rc == SQLITE_OK)
        (void)sqs_meta_get(db, "key_fingerprint", fp, sizeof fp, &rc);
    sqs_exec(db, "COMMIT", NULL);
    sqlp_return(r->pool, pr);
    if (rc != SQLITE_OK) {
        reg_status st = map_sqlite(rc);
        memset(out, 0, sizeof *out);
        return st == REG_OK ? REG_UNAVAILABLE : st;
    }
    memcpy(out->key_fingerprint, fp, sizeof fp);
    out->schema_version = r->store_version;
    out->store_bytes = file_size(r->path, "") + file_size(r->path, "-wal");
    return REG_OK;
}
