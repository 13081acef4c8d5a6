/*
 * sqlite_pool.h — a pool of read-only SQLite connections with read-snapshot
 * reuse, shared by the registry (registry_sqlite.c) and the tenancy store
 * (tenancy/store.c).
 *
 * Why snapshots are reused: beginning and ending a read transaction takes
 * SQLite's process-wide unix-VFS mutex and fcntl() locks, on which HTTP
 * threads queued. So a borrowed reader may keep its read transaction open
 * (sqlp_snapshot) and the next borrower reuses it, for at most SQLP_SNAPSHOT_MS.
 * Freshness: sqlp_writes_committed() (call it after every commit made through
 * the store's own writer) makes every snapshot stale at once; a write by
 * another connection or process is seen within SQLP_SNAPSHOT_MS. A janitor
 * thread ends idle stale snapshots every SQLP_SNAPSHOT_MS, so that no reader
 * holds back a WAL checkpoint for longer than that.
 *
 * Must never: write to a database; wait for a reader longer than the busy
 * timeout; keep a snapshot past SQLP_SNAPSHOT_MS or past a write generation
 * once the reader is idle in the pool.
 *
 * Ownership: the pool owns its connections and every statement prepared on
 * them (all are finalized by sqlp_close), and the per-reader areas. A
 * borrowed reader belongs to its borrower alone until sqlp_return.
 * Thread-safety: sqlp_borrow, sqlp_return, sqlp_writes_committed and
 * sqlp_release_idle may be called from any thread; sqlp_snapshot,
 * sqlp_end_snapshot, sqlp_db and sqlp_area only by the reader's borrower;
 * sqlp_open and sqlp_close by one thread, with no reader borrowed.
 */
#ifndef SHIMING_COMMON_SQLITE_POOL_H
#define SHIMING_COMMON_SQLITE_POOL_H

#include <stddef.h>

#include <sqlite3.h>

#define SQLP_SNAPSHOT_MS 100 /* longest a read snapshot is reused */
#define SQLP_ERR_NOMEM (-1)  /* sqlp_open: out of memory or no janitor thread */

typedef struct sqlp_pool sqlp_pool;
typedef struct sqlp_reader sqlp_reader;

/* Opens read connection number `index` into *db (left set even on failure,
 * so that the pool closes it) and prepares the store's statements into
 * `area` (area_size bytes, zeroed, owned by the pool; statements on *db are
 * finalized by the pool). Returns 0, or the caller's own nonzero positive
 * status, which sqlp_open returns. Called from sqlp_open's thread. */
typedef int (*sqlp_open_fn)(void *ctx, unsigned index, sqlite3 **db, void *area);

/* Opens n (>= 1) readers through `open_fn` and starts the janitor. Returns 0
 * with *out set, SQLP_ERR_NOMEM, or open_fn's failure status (*out NULL). */
int sqlp_open(unsigned n, size_t area_size, unsigned busy_ms, sqlp_open_fn open_fn, void *ctx,
              sqlp_pool **out);
/* Stops the janitor, ends snapshots, finalizes statements, closes. NULL ok. */
void sqlp_close(sqlp_pool *p);

/* A free reader, waiting up to the busy timeout; NULL when none came. The
 * reader may still hold a snapshot: call sqlp_snapshot before reading, or
 * sqlp_end_snapshot before running a transaction of one's own. */
sqlp_reader *sqlp_borrow(sqlp_pool *p);
/* Gives a borrowed reader back (NULL ok); ends its snapshot if stale. */
void sqlp_return(sqlp_pool *p, sqlp_reader *rd);

/* Makes sure `rd` is inside a fresh enough read transaction (SQLITE_OK or
 * the failing SQLite code). The snapshot is taken by the first read. */
int sqlp_snapshot(sqlp_pool *p, sqlp_reader *rd);
/* Ends `rd`'s snapshot, if any (e.g. after an error, or before a caller's
 * own BEGIN … COMMIT). */
void sqlp_end_snapshot(sqlp_reader *rd);

sqlite3 *sqlp_db(const sqlp_reader *rd);
void *sqlp_area(sqlp_reader *rd);

/* A write through the store's own writer was committed: every snapshot is
 * stale from now on. */
void sqlp_writes_committed(sqlp_pool *p);
/* Ends the stale snapshots of the idle readers now (those borrowed end
 * theirs when returned). */
void sqlp_release_idle(sqlp_pool *p);

#endif
