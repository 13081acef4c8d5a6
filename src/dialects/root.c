/*
 * root.c — the dispatcher of `/`, where two vendors' RPC APIs arrive
 * (docs/dialects.md): Tencent Cloud API 3.0 (dialect A's upstream,
 * tc3.c) and Alibaba Cloud OpenAPI RPC (dialect D, ekyc_verify.c).
 *
 * Alibaba when the request carries the cloud's marks: an x-acs-action /
 * x-acs-version / x-acs-date / x-acs-signature-nonce header, an ACS3-*
 * Authorization, or an AccessKeyId / SignatureNonce / SignatureVersion
 * parameter in the query or the form body (Tencent's v1 form says SecretId
 * and Nonce). Tencent when it carries Tencent's (X-TC-* headers, a TC3-*
 * Authorization, SecretId), and for anything else: tc3.c then answers in
 * Tencent's format what is missing, as it did before `/` was shared.
 *
 * Bodies: the route takes image uploads ([vision] max_upload) for
 * EkycVerify; a Tencent request keeps the server's [server] max_body
 * (dialect_root_set_tc3_limit) and is answered RequestSizeLimitExceeded
 * above it.
 *
 * Must never: read a parameter's value (names only), or decode the body.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "dialects/dialects.h"
#include "http/form.h"

static size_t tc3_max_body = 1024 * 1024;

void dialect_root_set_tc3_limit(size_t max_body)
{
    if (max_body > 0)
        tc3_max_body = max_body;
}

/* Does the urlencoded text s[0..n) hold a parameter called `name`? */
static bool raw_has_param(const char *s, size_t n, const char *name)
{
    size_t k = strlen(name);
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '&')
            end++;
        if (end - i > k && memcmp(s + i, name, k) == 0 && s[i + k] == '=')
            return true;
        i = end + 1;
    }
    return false;
}

static bool has_param(const http_request *req, const form *query, const char *name)
{
    if (form_get(query, name) != NULL)
        return true;
    const char *ct = request_header(req, "Content-Type");
    return req->body != NULL && !req->body_too_large && ct != NULL &&
           http_media_type_is(ct, "application/x-www-form-urlencoded", NULL) &&
           raw_has_param(req->body, req->body_len, name);
}

static bool is_alibaba(const http_request *req)
{
    const char *auth = request_header(req, "Authorization");
    if (auth != NULL)
        return strncmp(auth, "ACS3-", 5) == 0;
    if (request_header(req, "X-TC-Action") != NULL || request_header(req, "X-TC-Timestamp") != NULL)
        return false;
    static const char *const headers[] = {"x-acs-action", "x-acs-version", "x-acs-date",
                                          "x-acs-signature-nonce"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        if (request_header(req, headers[i]) != NULL)
            return true;
    form q = {0};
    bool ali = false;
    if (form_add_query(&q, req) == FORM_OK) {
        if (!has_param(req, &q, "SecretId"))
            ali = has_param(req, &q, "AccessKeyId") || has_param(req, &q, "SignatureNonce") ||
                  has_param(req, &q, "SignatureVersion");
    }
    form_clear(&q);
    return ali;
}

void dialect_root(http_request *req)
{
    if (is_alibaba(req)) {
        dialect_ekyc_verify(req);
        return;
    }
    req->dialect = "tc3";
    if (!req->body_too_large && req->bytes_in > tc3_max_body)
        req->body_too_large = true; /* Tencent's own limit: its own error */
    dialect_tc3(req);
}
