/*
 * alerts.h — package alerts and their delivery to the app's webhook
 * (internal to tenancy/).
 *
 * Events: "package_low" (a charge left 20 % or less of a package),
 * "package_exhausted" (a charge used the last unit), "package_expiring"
 * (a package with units left expires within 7 days; checked periodically).
 * Each is stored in the tenancy store's `alerts` table in the same
 * transaction as the charge that raised it, so nothing is lost, and is
 * delivered later by one background thread: POST of a JSON body signed with
 * HMAC-SHA256 (header X-Shiming-Signature: sha256=<hex>, over the exact
 * body, keyed with the app's webhook secret derived from the server key),
 * with retries and exponential backoff, until delivered. Delivery never
 * runs on a request thread and never blocks one.
 *
 * The `alerts` table (created by the tenancy store's migrations):
 *   alerts(id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL, type TEXT NOT NULL,
 *          product TEXT, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
 *          attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
 *          delivered_at INTEGER, last_error TEXT)
 *
 * Thread-safety: alerts_enqueue runs on the tenancy writer thread inside its
 * transaction; alerts_kick from any thread.
 */
#ifndef SHIMING_TENANCY_ALERTS_H
#define SHIMING_TENANCY_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "crypto/server_key.h"

/* Store one event inside the caller's open transaction on `db`. `payload`
 * is a JSON object text (the event's details: app, product, total, used,
 * remaining, expires); the delivered body wraps it with id, type, time. */
bool alerts_enqueue(sqlite3 *db, int64_t app_id, const char *type, const char *product,
                    const char *payload);

typedef struct alerts alerts;

/* Start the delivery thread on the store at `path` (its own connection).
 * `key` is the server key (copied: webhook secrets derive from it). */
alerts *alerts_start(const char *path, const sm_key *key, char *err, size_t errlen);

/* Wake the delivery thread (new events were committed). */
void alerts_kick(alerts *a);

/* Stop the thread (undelivered events stay stored) and free. */
void alerts_stop(alerts *a);

/* The secret an app's webhook receiver verifies signatures with (hex, 64
 * chars + NUL): HMAC(sub-key "tenancy/webhook", app id). */
void alerts_webhook_secret(const sm_key *key, int64_t app_id, char out[65]);

#endif
