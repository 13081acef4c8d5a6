/*
 * admin.h — the operator's HTTP API under /admin/v1/: apps, credentials,
 * quota packages, usage and the audit log, guarded by one admin token
 * (`Authorization: Bearer TOKEN`), plus the loader that creates that token
 * on the server's first start.
 *
 * The token lives in a file (config [tenancy] admin_token_file, default
 * var/admin.token): 64 hex characters (32 random bytes) and a newline,
 * mode 0600, created atomically when missing. Only its SHA-256 is kept in
 * memory; comparisons are constant-time. Failed attempts count against the
 * client address in tenancy_auth_failed (429 too_many_requests once
 * blocked). With no admin state in the context (tenancy off) every admin
 * route answers 404 not_found.
 *
 * Thread-safety: an api_admin is immutable after admin_new and shared by
 * every HTTP thread. Ownership: `serve` creates it, hands it to the
 * api_context (ctx->admin) before the server starts, and frees it after the
 * server has stopped.
 *
 * Must never: log or echo the token (or any credential secret other than
 * the one a POST .../credentials just created), or answer an admin route
 * before the token has been checked.
 */
#ifndef SHIMING_API_ADMIN_H
#define SHIMING_API_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "crypto/envelope.h"
#include "crypto/server_key.h"
#include "http/request.h"

#define ADMIN_TOKEN_LEN 64 /* hex characters, NUL not included */

typedef struct api_admin api_admin;

/* Read the admin token from `path`: 64 hex characters and an optional
 * newline, in a file not accessible by group or others (the key file's
 * format and rules: crypto/server_key.h). When the file does not exist and
 * `create` is true, write a new one (32 bytes from the CSPRNG, mode 0600,
 * atomically, never replacing one another process made meanwhile) and set
 * *created (may be NULL). On false `err` says why (it never contains the
 * token) and `out` is zeroed. */
bool admin_token_load(const char *path, bool create, char out[ADMIN_TOKEN_LEN + 1],
                      bool *created, char *err, size_t errlen);

/* Admin state for the api_context: the token's hash and a copy of the
 * server key (webhook secrets are shown by GET /admin/v1/apps/{name}).
 * NULL on allocation failure. */
api_admin *admin_new(const char *token, const sm_key *key);

/* Zeroes and frees (NULL is fine). */
void admin_free(api_admin *a);

/* ------------------------------------------------------------ handlers */

void api_admin_apps_list(http_request *req);      /* GET   /admin/v1/apps */
void api_admin_app_create(http_request *req);     /* POST  /admin/v1/apps */
void api_admin_app_get(http_request *req);        /* GET   /admin/v1/apps/{name} */
void api_admin_app_update(http_request *req);     /* PATCH /admin/v1/apps/{name} */
void api_admin_cred_add(http_request *req);       /* POST  /admin/v1/apps/{name}/credentials */
void api_admin_package_add(http_request *req);    /* POST  /admin/v1/apps/{name}/packages */
void api_admin_usage(http_request *req);          /* GET   /admin/v1/apps/{name}/usage */
void api_admin_audit_list(http_request *req);     /* GET   /admin/v1/audit */
void api_admin_audit_verify(http_request *req);   /* POST  /admin/v1/audit/verify */
void api_admin_keys(http_request *req);           /* GET   /admin/v1/keys */

/* {"keys": [{"algorithm", "wrap", "public_key_pem", "fingerprint_sha256"}, …]}:
 * dialect A's public envelope keys (also `shiming keys show --json`). New
 * reference, or NULL when out of memory. */
json_t *admin_keys_json(const envelope_keys *k);

#endif
