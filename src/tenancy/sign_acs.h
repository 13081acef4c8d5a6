/*
 * sign_acs.h — the Alibaba Cloud OpenAPI request signatures that the
 * official SDKs produce for seed 003 (EkycVerify), as recorded in
 * ../shared/fixtures/sdk-captures/README.md:
 *   - ACS3-HMAC-SHA256: Authorization header, x-acs-* headers, canonical
 *     query re-encoded per RFC 3986 from the decoded parameters, canonical
 *     headers as listed in SignedHeaders (host with its port), hex SHA-256
 *     of the exact body bytes;
 *   - RPC signature V1 (HMAC-SHA1, base64, key secret + "&"): every query
 *     parameter but Signature plus every form-body parameter, sorted and
 *     RFC 3986-encoded; GET or POST.
 * Pure functions: the caller looks the secret up (tenancy) and checks the
 * timestamp window and the nonce (tenancy/nonce.c).
 *
 * Thread-safe. Must never: log or keep a secret or a signature; compare
 * signatures other than in constant time.
 */
#ifndef SHIMING_TENANCY_SIGN_ACS_H
#define SHIMING_TENANCY_SIGN_ACS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/form.h"

typedef enum { ACS_SCHEME_NONE = 0, ACS_SCHEME_ACS3, ACS_SCHEME_RPC_V1 } acs_scheme;

/* What a request claims, parsed before the secret is known. */
typedef struct {
    acs_scheme scheme;
    char access_key_id[128];
    char nonce[128];          /* x-acs-signature-nonce / SignatureNonce */
    char timestamp[32];       /* x-acs-date / Timestamp (ISO 8601 UTC, "Z") */
    long long unix_time;      /* the timestamp parsed; -1 when malformed */
    char action[64];          /* x-acs-action / Action */
    char version[32];         /* x-acs-version / Version */
} acs_claim;

typedef enum {
    ACS_OK = 0,
    ACS_MISSING,              /* no signature of either scheme: MissingParameter-like */
    ACS_MALFORMED,            /* an Authorization / parameter that cannot be parsed */
    ACS_UNSUPPORTED,          /* another algorithm (ACS3-HMAC-SM3, ACS3-RSA-SHA256, …) */
    ACS_BAD_CONTENT_HASH,     /* x-acs-content-sha256 differs from the body's */
    ACS_MISMATCH,             /* the signature does not verify */
    ACS_NOMEM,
} acs_status;

/* The request as received. headers: lookup by lower-case name (the caller's
 * function); query: the decoded query parameters (form_add_query); body:
 * the exact bytes after chunked decoding; form_body: the body's parameters
 * when it is application/x-www-form-urlencoded (or NULL). */
typedef struct {
    const char *method;
    const char *path;                            /* "/" for RPC style */
    const form *query;                           /* decoded; never NULL */
    const char *(*header)(void *hctx, const char *lower_name);
    void *hctx;
    const unsigned char *body;
    size_t body_len;
    const form *form_body;                       /* NULL: no form body */
} acs_request;

/* Which scheme, the key id, nonce and time. ACS_MISSING / ACS_MALFORMED /
 * ACS_UNSUPPORTED, or ACS_OK. */
acs_status acs_parse(const acs_request *req, acs_claim *out);

/* Verify with the AccessKey secret. ACS_OK only when it verifies. The
 * string to sign is written to sts (when non-NULL, for tests and
 * diagnostics; never logged). */
acs_status acs_verify(const acs_request *req, const acs_claim *claim, const char *secret,
                      char *sts, size_t sts_len);

#endif
