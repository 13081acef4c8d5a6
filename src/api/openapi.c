/*
 * openapi.c — GET /openapi.json: the OpenAPI 3.0.3 description of the
 * native API, compiled into the binary from src/api/openapi.json.
 *
 * Must never: build or alter the document at run time (it is the checked-in
 * file, byte for byte; tests/unit/test_openapi.c keeps it and the route
 * table in step), or read it from disk.
 */
#include "api/routes.h"

void api_openapi(http_request *req)
{
    reply_bytes(req, 200, "application/json; charset=utf-8", sm_openapi_json,
                sm_openapi_json_len);
}
