/*
 * dialects.h — the vendor APIs shiming speaks, one file each under
 * src/dialects/, each a thin translator (docs/dialects.md):
 *   1. parse the vendor's request (its paths, methods, content types,
 *      field names), answering malformed requests in the vendor's own
 *      error format;
 *   2. authenticate with the vendor's credential scheme through tenancy
 *      (tenancy_authenticate for hashed secrets, tenancy_credential_secret
 *      + the scheme's signature check for signed requests; every failure
 *      calls tenancy_auth_failed, and tenancy_auth_blocked is honoured);
 *   3. hand the call to api/call.h (call_run) with two renderers: the
 *      verdict → vendor code table, and the refusals (quota, limits, store
 *      unavailable) in the vendor's format.
 * No dialect decides anything: verify/ decides, tenancy/ admits, meters
 * and audits. With tenancy off (api_context_tenancy() NULL) credentials
 * are not checked, as for the native API.
 *
 * Routes: each handler is one line of the table in api/routes.c with
 * access ROUTE_DIALECT and method "*": the handler answers every method
 * itself (wrong methods in the vendor's format). A body over [server]
 * max_body also reaches the handler (own_errors), possibly before the body
 * has arrived: a handler must first check req->body_too_large and, when
 * set, answer its vendor's "too large" error at once without reading the
 * body or starting a call.
 *
 * Thread-safety: handlers run on many HTTP threads at once; they keep no
 * state of their own outside the request.
 */
#ifndef SHIMING_DIALECTS_H
#define SHIMING_DIALECTS_H

#include "http/request.h"

/* A — seed 000: POST /identity/idcard/check-2e (check2e.c). */
void dialect_check2e(http_request *req);

/* A — seed 000's upstream cloud API 3.0: POST / with X-TC-Action
 * IdCardVerification | CheckIdNameDate, TC3-HMAC-SHA256 (tc3.c). */
void dialect_tc3(http_request *req);

/* B — seed 001: POST /idenAuthentication, APPCODE or AppKey signature
 * (iden_auth.c). */
void dialect_iden_auth(http_request *req);

/* C — seed 002: GET/POST /idcard/idcardstatus/Submit.json and .xml
 * (idcardstatus.c). */
void dialect_idcardstatus_json(http_request *req);
void dialect_idcardstatus_xml(http_request *req);

/* E — seed 004: ID-card OCR, GET/POST at the configurable [dialect_e] path
 * (default /pyi/76/194), appid + MD5 sign (pyi_ocr.c). */
void dialect_pyi_ocr(http_request *req);

/* D — seed 003: Alibaba Cloud OpenAPI RPC `EkycVerify` (2022-08-09) at `/`,
 * ACS3-HMAC-SHA256 or RPC signature V1 (ekyc_verify.c). */
void dialect_ekyc_verify(http_request *req);

/* `/`: dispatches to dialect_tc3 (Tencent) or dialect_ekyc_verify
 * (Alibaba) by the request's marks, and sets req->dialect (root.c). */
void dialect_root(http_request *req);

/* The body limit of Tencent requests at `/` ([server] max_body; the route
 * itself takes [vision] max_upload for EkycVerify's images). Call before
 * serving. */
void dialect_root_set_tc3_limit(size_t max_body);

#endif
