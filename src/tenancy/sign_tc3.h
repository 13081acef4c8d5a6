/*
 * sign_tc3.h — the signatures of the Tencent Cloud API 3.0 (the cloud API
 * in front of seed 000's provider), as pure functions: parsing the
 * `Authorization: TC3-HMAC-SHA256 …` header, building the canonical
 * request and the string to sign, deriving the signing key and signing;
 * and the older "v1" form signature (HmacSHA1 / HmacSHA256 over
 * `METHOD host path ? sorted k=v&…`). dialects/tc3.c decides which
 * headers and parameters go in; nothing here reads a request, a clock or
 * a credential store.
 *
 * The rules (fixtures/sdk-captures/README.md §2, Tencent's "签名方法 v3"):
 *   CanonicalRequest = METHOD \n URI \n QUERY \n
 *                      name:value\n … (each signed header, lower-cased
 *                      name and value, trimmed) \n
 *                      signed;headers \n hex(SHA256(body))
 *   StringToSign     = "TC3-HMAC-SHA256" \n TIMESTAMP \n
 *                      DATE/SERVICE/tc3_request \n hex(SHA256(CanonicalRequest))
 *   kDate = HMAC("TC3" + SecretKey, DATE); kService = HMAC(kDate, SERVICE);
 *   kSigning = HMAC(kService, "tc3_request");
 *   Signature = hex(HMAC(kSigning, StringToSign))
 *
 * Ownership: strings returned are malloc'ed, the caller frees them (they
 * may hold identity data from the query or the parameters: zero them
 * first, OPENSSL_cleanse). Inputs are borrowed. Thread-safe (no state).
 * Must never: log, keep a secret beyond the call, or compare signatures
 * in variable time (the caller uses CRYPTO_memcmp on the outputs).
 */
#ifndef SHIMING_TENANCY_SIGN_TC3_H
#define SHIMING_TENANCY_SIGN_TC3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC3_ALGORITHM "TC3-HMAC-SHA256"
#define TC3_SIG_BYTES 32
#define TC3_ID_MAX 128          /* SecretId, NUL included */
#define TC3_SERVICE_MAX 65      /* credential-scope service, NUL included */
#define TC3_SIGNED_MAX 16       /* names in SignedHeaders */
#define TC3_HEADER_NAME_MAX 64  /* one signed header name, NUL included */

/* --------------------------------------------------------------- TC3 */

/* A parsed `Authorization` header. */
typedef struct {
    char secret_id[TC3_ID_MAX];
    char date[11];                        /* "YYYY-MM-DD" as written */
    char service[TC3_SERVICE_MAX];
    size_t n_signed;
    char signed_headers[TC3_SIGNED_MAX][TC3_HEADER_NAME_MAX]; /* lower case, ascending */
    uint8_t signature[TC3_SIG_BYTES];
} tc3_auth;

typedef enum {
    TC3_AUTH_OK = 0,
    TC3_AUTH_NOT_TC3,        /* another scheme (not "TC3-HMAC-SHA256 …") */
    TC3_AUTH_MALFORMED,      /* a part missing, repeated, or badly formed */
    TC3_AUTH_SIGNED_HEADERS, /* SignedHeaders without content-type and host, unsorted,
                                repeated, or with a name that is not [a-z0-9-] */
} tc3_auth_status;

/* Parse `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
 * SignedHeaders=a;b, Signature=HEX`. The three parts may come in any order,
 * separated by commas with optional spaces; each must appear once. The
 * service is 1..64 characters other than '/', ',', ' ' (an SDK pointed at
 * 127.0.0.1:PORT signs "127"); the date must look like YYYY-MM-DD (a real
 * date is the caller's check against the timestamp); the signature is 64
 * hex digits (either case). */
tc3_auth_status tc3_parse_authorization(const char *value, tc3_auth *out);

/* The UTC date of unix time `ts` as "YYYY-MM-DD". False if out of range. */
bool tc3_utc_date(int64_t ts, char out[11]);

/* Lower-case hex SHA-256 of data[0..len). */
void tc3_sha256_hex(const void *data, size_t len, char out[65]);

/* The length of `host` without a trailing ":PORT" (digits), keeping an
 * IPv6 literal in brackets whole ("[::1]:80" → "[::1]"); a bare IPv6
 * address without brackets is kept whole. */
size_t tc3_host_without_port(const char *host, size_t len);

/* One signed header: its lower-case name and its value as received (the
 * canonical form trims and lower-cases it). */
typedef struct {
    const char *name;
    const char *value;
    size_t value_len;
} tc3_header;

/* The canonical request (see the top of this file). `query` is the
 * canonical query string ("" for POST); `payload_hash` the hex SHA-256 of
 * the body. malloc'ed, NUL-terminated, length in *len; NULL when out of
 * memory. */
char *tc3_canonical_request(const char *method, const char *uri, const char *query,
                            size_t query_len, const tc3_header *headers, size_t n_headers,
                            const char payload_hash[65], size_t *len);

/* "TC3-HMAC-SHA256\n" TIMESTAMP "\n" DATE "/" SERVICE "/tc3_request\n"
 * hex(SHA256(canonical)). malloc'ed; NULL when out of memory. */
char *tc3_string_to_sign(const char *timestamp, const char *date, const char *service,
                         const char *canonical, size_t canonical_len, size_t *len);

/* The signature: the derived key chain, then HMAC-SHA256 of the string to
 * sign. False when OpenSSL fails. */
bool tc3_sign(const char *secret_key, size_t key_len, const char *date, const char *service,
              const char *string_to_sign, size_t sts_len, uint8_t out[TC3_SIG_BYTES]);

/* ---------------------------------------------------------- API 3.0 v1 */

typedef enum {
    TC1_HMAC_SHA1 = 0,  /* "HmacSHA1", the default when SignatureMethod is absent */
    TC1_HMAC_SHA256,    /* "HmacSHA256" */
} tc1_method;

/* "HmacSHA1" / "HmacSHA256" (exact case). False for anything else. */
bool tc1_method_from(const char *name, tc1_method *out);

/* One parameter, decoded (values may hold any byte). */
typedef struct {
    const char *name;
    const char *value;
    size_t value_len;
} tc1_param;

/* METHOD HOST PATH "?" name=value&… over every parameter but "Signature",
 * sorted by name (byte order), raw (not re-encoded). malloc'ed; NULL when
 * out of memory. */
char *tc1_string_to_sign(const char *method, const char *host, const char *path,
                         const tc1_param *params, size_t n, size_t *len);

/* base64(HMAC(method, secret_key, string_to_sign)) into out (NUL-terminated;
 * 28 characters for SHA1, 44 for SHA256). False when OpenSSL fails. */
bool tc1_sign_base64(tc1_method m, const char *secret_key, size_t key_len,
                     const char *string_to_sign, size_t sts_len, char out[64]);

#endif
