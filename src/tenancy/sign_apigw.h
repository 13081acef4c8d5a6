/*
 * sign_apigw.h — the API gateway's AppKey/AppSecret request signature
 * (seed 001's marketplace gateway; the `aliyun-api-gateway` SDK's Client):
 * the string to sign and its base64 HMAC-SHA256 (or HmacSHA1).
 *
 * String to sign (docs/dialects.md), each of the first five parts
 * followed by "\n" (a missing value gives an empty line):
 *   METHOD, Accept, Content-MD5, Content-Type (the whole value, charset
 *   included), Date;
 *   then, when X-Ca-Signature-Headers names any, "name:value" for each
 *   (lower-case names, sorted by name, byte order) joined with "\n" and
 *   followed by one "\n";
 *   then the path, and when there are parameters "?" and the parameters
 *   (query parameters plus, for form bodies, the form fields) sorted by
 *   name, each "name=value" with the raw decoded value, or just "name"
 *   when the value is empty, joined with "&".
 * Signature: base64(HMAC(AppSecret, string to sign)).
 *
 * Pure: no I/O, no clock, no global state; thread-safe. Inputs are
 * borrowed; apigw_string_to_sign sorts copies of the caller's arrays.
 * Must never: compare signatures in variable time, or leave a key or a
 * MAC in freed memory.
 */
#ifndef SHIMING_TENANCY_SIGN_APIGW_H
#define SHIMING_TENANCY_SIGN_APIGW_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    APIGW_HMAC_SHA256 = 0, /* "HmacSHA256", the default */
    APIGW_HMAC_SHA1,       /* "HmacSHA1" */
} apigw_alg;

/* The X-Ca-Signature-Method value (NULL or absent: HmacSHA256) into *out.
 * False for any other value. */
bool apigw_alg_from_name(const char *name, apigw_alg *out);

/* A signed header: name lower-case, value as sent. */
typedef struct {
    const char *name;
    const char *value;
} apigw_header;

/* A parameter: decoded bytes (the value may hold NUL bytes). */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} apigw_param;

/* The string to sign, malloc'ed and NUL-terminated into *out (*out_len
 * without the NUL); any of accept, content_md5, content_type, date may be
 * NULL. Returns false when out of memory. */
bool apigw_string_to_sign(const char *method, const char *accept, const char *content_md5,
                          const char *content_type, const char *date,
                          const apigw_header *headers, size_t n_headers, const char *path,
                          const apigw_param *params, size_t n_params, char **out,
                          size_t *out_len);

/* Base64 of a 32-byte MAC is 44 characters; room for the NUL. */
#define APIGW_SIG_MAX 48

/* base64(HMAC(secret, sts)) into out (NUL-terminated). False on failure. */
bool apigw_sign(apigw_alg alg, const char *secret, size_t secret_len, const char *sts,
                size_t sts_len, char out[APIGW_SIG_MAX]);

/* Does `given` (the X-Ca-Signature value) equal the signature of `sts`?
 * Constant-time in the signature's bytes. */
bool apigw_verify(apigw_alg alg, const char *secret, size_t secret_len, const char *sts,
                  size_t sts_len, const char *given);

#endif
