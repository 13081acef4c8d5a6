/*
 * test_openapi.c — the embedded OpenAPI description (src/api/openapi.json)
 * and the code agree: every route of the table is documented with its
 * method and every documented operation is a route; every $ref resolves;
 * the documented error codes, verdicts and reason codes are exactly those
 * the server and the core produce. Also: the server's JSON writer
 * (http_json_write, used for every answer) writes exactly what jansson
 * writes, on this document and on awkward values.
 *
 * Must never: read the document from disk (it tests what the binary
 * serves), or start a server (tests/blackbox/openapi.test.mjs does that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/routes.h"

static const char *const http_methods[] = {"get", "put", "post", "delete",
                                           "options", "head", "patch", "trace"};

static json_t *load_doc(void)
{
    json_error_t jerr;
    json_t *doc = json_loadb(sm_openapi_json, sm_openapi_json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        fail_msg("openapi.json does not parse: line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
    return doc;
}

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
    out[i] = '\0';
}

/* Follow a local "$ref" ("#/components/schemas/X"); the node itself if none. */
static json_t *deref(json_t *doc, json_t *node)
{
    for (int hops = 0; hops < 8 && json_is_object(node); hops++) {
        json_t *r = json_object_get(node, "$ref");
        if (!json_is_string(r))
            return node;
        const char *s = json_string_value(r);
        if (strncmp(s, "#/", 2) != 0)
            fail_msg("non-local $ref %s", s);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", s + 2);
        json_t *cur = doc;
        for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok != NULL;
             tok = strtok_r(NULL, "/", &save)) {
            cur = json_object_get(cur, tok);
            if (cur == NULL)
                fail_msg("$ref %s does not resolve", s);
        }
        node = cur;
    }
    return node;
}

static json_t *schema(json_t *doc, const char *name)
{
    json_t *s = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                name);
    if (s == NULL)
        fail_msg("components.schemas.%s is missing", name);
    return s;
}

static bool enum_has(json_t *enm, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(enm, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

static size_t enum_strings(json_t *enm)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(enm, i, v) {
        if (json_is_string(v))
            n++;
    }
    return n;
}

/* ------------------------------------------------------------------ tests */

static void test_document_header(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    json_t *info = json_object_get(doc, "info");
    assert_non_null(json_string_value(json_object_get(info, "title")));
    assert_string_equal(json_string_value(json_object_get(info, "version")), SHIMING_VERSION);
    assert_true(json_is_object(json_object_get(doc, "paths")));
    /* The embedded length is the document's, and it is NUL-terminated. */
    assert_int_equal(strlen(sm_openapi_json), sm_openapi_json_len);
    json_decref(doc);
}

static void test_every_route_is_documented(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    size_t n = 0;
    const route *table = routes_table(&n);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (table[i].access == ROUTE_DIALECT)
            continue; /* vendor APIs: docs/dialects.md, not the native description */
        json_t *item = json_object_get(paths, table[i].path);
        if (item == NULL)
            fail_msg("route %s %s is not in the document's paths", table[i].method,
                     table[i].path);
        char m[16];
        lower(table[i].method, m, sizeof m);
        json_t *op = json_object_get(item, m);
        if (!json_is_object(op))
            fail_msg("route %s %s: the document has no '%s' operation", table[i].method,
                     table[i].path, m);
        if (!json_is_object(json_object_get(op, "responses")))
            fail_msg("%s %s: no responses", table[i].method, table[i].path);
    }
    json_decref(doc);
}

static void test_every_documented_operation_is_a_route(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    size_t n = 0;
    const route *table = routes_table(&n);
    const char *path;
    json_t *item;
    size_t ops = 0;
    size_t native = 0;
    for (size_t i = 0; i < n; i++)
        native += table[i].access != ROUTE_DIALECT;
    json_object_foreach(paths, path, item) {
        for (size_t k = 0; k < sizeof http_methods / sizeof *http_methods; k++) {
            if (json_object_get(item, http_methods[k]) == NULL)
                continue;
            ops++;
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) {
                char m[16];
                lower(table[i].method, m, sizeof m);
                found = strcmp(table[i].path, path) == 0 && strcmp(m, http_methods[k]) == 0;
            }
            if (!found)
                fail_msg("documented %s %s is not a route", http_methods[k], path);
        }
    }
    assert_int_equal(ops, native);
    json_decref(doc);
}

/* Every "$ref" anywhere resolves. */
static void check_refs(json_t *doc, json_t *node, int depth)
{
    assert_true(depth < 64);
    if (json_is_object(node)) {
        json_t *r = json_object_get(node, "$ref");
        if (r != NULL) {
            assert_true(json_is_string(r));
            (void)deref(doc, node);
        }
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) check_refs(doc, v, depth + 1);
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) check_refs(doc, v, depth + 1);
    }
}

static void test_refs_resolve(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    check_refs(doc, doc, 0);
    json_decref(doc);
}

/* POST operations: a required JSON body whose schema lists its required
 * fields among its properties (admin actions may take none); the usual
 * error answers; every operation answers 200 (creations: 201). */
static void test_operations_shape(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op) {
            json_t *responses = json_object_get(op, "responses");
            if (json_object_get(responses, "200") == NULL &&
                json_object_get(responses, "201") == NULL)
                fail_msg("%s %s: no 200 (or 201 Created) answer", m, path);
            if (json_object_get(responses, "500") == NULL)
                fail_msg("%s %s: no 500 answer", m, path);
            /* A POST that takes no body (POST /admin/v1/audit/verify, an
             * action) documents no requestBody; every other one must. */
            if (strcmp(m, "post") != 0 ||
                (json_object_get(op, "requestBody") == NULL && strstr(path, "/admin/") == path))
                continue;
            for (const char *const *code = (const char *const[]){"400", "413", "415", NULL};
                 *code != NULL; code++)
                if (json_object_get(responses, *code) == NULL)
                    fail_msg("post %s: no %s answer", path, *code);
            json_t *body = json_object_get(op, "requestBody");
            if (!json_is_true(json_object_get(body, "required")))
                fail_msg("post %s: requestBody not required", path);
            json_t *s = deref(doc, json_object_get(
                                       json_object_get(json_object_get(body, "content"),
                                                       "application/json"),
                                       "schema"));
            if (!json_is_object(s))
                fail_msg("post %s: no application/json schema", path);
            json_t *props = json_object_get(s, "properties");
            json_t *req = json_object_get(s, "required");
            /* One of several alternatives (POST /v1/ocr/idcard: image_base64 or
             * image_url): the first alternative's required fields. */
            json_t *alts = json_object_get(s, "oneOf");
            if (req == NULL && json_is_array(alts))
                req = json_object_get(json_array_get(alts, 0), "required");
            if (!json_is_array(req) || json_array_size(req) == 0)
                fail_msg("post %s: the body schema lists no required fields", path);
            size_t i;
            json_t *f;
            json_array_foreach(req, i, f) {
                if (!json_is_string(f) || json_object_get(props, json_string_value(f)) == NULL)
                    fail_msg("post %s: required field not among the properties", path);
            }
            if (!json_is_object(json_object_get(s, "example")))
                fail_msg("post %s: the body schema has no example", path);
        }
    }
    json_decref(doc);
}

static void test_error_codes(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *code = json_object_get(
        json_object_get(
            json_object_get(json_object_get(schema(doc, "Error"), "properties"), "error"),
            "properties"),
        "code");
    json_t *enm = json_object_get(code, "enum");
    static const char *const codes[] = {
        "bad_json",          "missing_field",        "invalid_field",  "unsupported_media_type",
        "body_too_large",    "not_found",            "method_not_allowed", "internal",
        /* tenancy: the guard in routes.c and the metered handlers */
        "unauthorized",      "too_many_requests",    "app_frozen",     "app_disabled",
        "ip_not_allowed",    "quota_exhausted",      "rate_limited",   "daily_limit_exceeded",
        "unavailable",
        /* the admin API (api/admin.c) */
        "conflict",
        /* ID-card OCR (api/ocr.c) */
        "bad_multipart", "invalid_url", "image_too_large", "image_too_small",
        "unsupported_image", "corrupt_image", "fetch_forbidden", "fetch_timeout", "fetch_failed",
        "ocr_disabled", "ocr_busy", "ocr_unavailable", "ocr_failed",
        /* faces and eKYC (api/face.c) */
        "image_resolution", "no_face", "face_disabled", "face_busy", "face_unavailable",
        "face_failed", "invalid_id", "invalid_name", "registry_unavailable"};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (!enum_has(enm, codes[i]))
            fail_msg("error code %s is not documented", codes[i]);
    assert_int_equal(enum_strings(enm), sizeof codes / sizeof *codes);
    json_decref(doc);
}

/* Routes behind the tenancy guard document the key schemes and the
 * guard's answers (401, 403, 429, 503), metered ones the Idempotency-Key
 * header; the others never claim an app's key. */
static void test_security(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
    if (json_object_get(schemes, "bearerAuth") == NULL ||
        json_object_get(schemes, "apiKeyHeader") == NULL)
        fail_msg("components.securitySchemes lacks bearerAuth / apiKeyHeader");
    size_t n = 0;
    const route *table = routes_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (table[i].access == ROUTE_DIALECT)
            continue;
        char m[16];
        lower(table[i].method, m, sizeof m);
        json_t *op = json_object_get(json_object_get(json_object_get(doc, "paths"),
                                                     table[i].path),
                                     m);
        if (op == NULL)
            fail_msg("%s %s is not documented", m, table[i].path);
        json_t *sec = json_object_get(op, "security");
        if (!json_is_array(sec))
            fail_msg("%s %s: no security list", m, table[i].path);
        if (table[i].access == ROUTE_PUBLIC) {
            /* Open to all, or guarded by something else (the admin token):
             * never by an app's key. */
            size_t k;
            json_t *alt;
            json_array_foreach(sec, k, alt) {
                if (json_object_get(alt, "bearerAuth") != NULL ||
                    json_object_get(alt, "apiKeyHeader") != NULL)
                    fail_msg("%s %s is not behind an app's key but documents one", m,
                             table[i].path);
            }
            continue;
        }
        if (json_array_size(sec) != 2)
            fail_msg("%s %s: needs bearerAuth or apiKeyHeader", m, table[i].path);
        json_t *responses = json_object_get(op, "responses");
        for (const char *const *code = (const char *const[]){"401", "403", "429", "503", NULL};
             *code != NULL; code++)
            if (json_object_get(responses, *code) == NULL)
                fail_msg("%s %s: no %s answer", m, table[i].path, *code);
        bool metered = table[i].product != NULL;
        json_t *params = json_object_get(op, "parameters");
        if (metered != (json_array_size(params) == 1))
            fail_msg("%s %s: the Idempotency-Key parameter is %s", m, table[i].path,
                     metered ? "missing" : "documented on an unmetered route");
    }
    json_decref(doc);
}

static json_t *prop_enum(json_t *doc, const char *schema_name, const char *prop)
{
    json_t *p = json_object_get(json_object_get(schema(doc, schema_name), "properties"), prop);
    p = deref(doc, p);
    json_t *enm = json_object_get(p, "enum");
    if (!json_is_array(enm))
        fail_msg("%s.%s has no enum", schema_name, prop);
    return enm;
}

static void test_verdicts_and_reasons(void **state)
{
    (void)state;
    json_t *doc = load_doc();

    /* The verdicts verification answers: match .. registry_unavailable. */
    json_t *verdicts = json_object_get(schema(doc, "Verdict"), "enum");
    for (int v = SM_VERDICT_MATCH; v <= SM_VERDICT_REGISTRY_UNAVAILABLE; v++)
        if (!enum_has(verdicts, sm_verdict_code((sm_verdict)v)))
            fail_msg("verdict %s is not documented", sm_verdict_code((sm_verdict)v));
    assert_int_equal(enum_strings(verdicts), SM_VERDICT_REGISTRY_UNAVAILABLE + 1);

    json_t *id_reasons = prop_enum(doc, "IdResult", "reason");
    json_t *name_reasons = prop_enum(doc, "NameResult", "reason");
    json_t *period_reasons = prop_enum(doc, "PeriodResult", "reason");
    json_t *id2_reasons = prop_enum(doc, "VerifyId2Result", "reason");
    json_t *id4_reasons = prop_enum(doc, "VerifyId4Result", "reason");
    size_t n_id = 0, n_name = 0, n_period = 0;
    for (int s = SM_ID_ERR_LENGTH; s <= SM_ID_ERR_CHECKSUM; s++, n_id++) {
        const char *c = sm_id_status_code((sm_id_status)s);
        assert_true(enum_has(id_reasons, c) && enum_has(id2_reasons, c) &&
                    enum_has(id4_reasons, c));
    }
    for (int s = SM_NAME_ERR_EMPTY; s <= SM_NAME_ERR_TOO_LONG; s++, n_name++) {
        const char *c = sm_name_status_code((sm_name_status)s);
        assert_true(enum_has(name_reasons, c) && enum_has(id2_reasons, c) &&
                    enum_has(id4_reasons, c));
    }
    for (int s = SM_PERIOD_ERR_FORMAT; s <= SM_PERIOD_ERR_DURATION; s++, n_period++) {
        const char *c = sm_period_status_code((sm_period_status)s);
        assert_true(enum_has(period_reasons, c) && enum_has(id4_reasons, c));
    }
    assert_int_equal(enum_strings(id_reasons), n_id);
    assert_int_equal(enum_strings(name_reasons), n_name);
    assert_int_equal(enum_strings(period_reasons), n_period);
    json_decref(doc);
}

/* ------------------------------------------------------ the JSON writer */

static void assert_same_as_jansson(const json_t *v)
{
    size_t want_len = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_true(want_len > 0);
    char *want = malloc(want_len);
    char *got = malloc(want_len);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(json_dumpb(v, want, want_len, JSON_COMPACT | JSON_ENCODE_ANY), want_len);
    assert_int_equal(http_json_write(v, got, want_len), want_len);
    assert_memory_equal(got, want, want_len);
    /* too small a buffer: the length needed, nothing written past it */
    char small[8];
    memset(small, '#', sizeof small);
    assert_int_equal(http_json_write(v, small, 4), want_len);
    assert_int_equal(small[4], '#');
    free(want);
    free(got);
}

static void test_json_writer_matches_jansson(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    assert_same_as_jansson(doc);
    json_decref(doc);

    json_t *v = json_pack("{s:s,s:s%,s:I,s:I,s:I,s:b,s:n,s:[i,s,{}],s:{},s:[]}", "quote",
                          "a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f", "nul", "x\0y", (size_t)3, "min",
                          (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "zero",
                          (json_int_t)0, "t", 1, "nothing", "list", -7, "中文·𠀀", "empty_object",
                          "empty_array");
    assert_non_null(v);
    assert_same_as_jansson(v);
    json_object_set_new(v, "real", json_real(0.1));
    json_object_del(v, "zero"); /* order after a deletion */
    json_object_set_new(v, "zero", json_integer(0));
    assert_same_as_jansson(v);
    json_decref(v);

    /* invalid UTF-8 (only _nocheck makes it) becomes U+FFFD, never raw */
    json_t *bad = json_stringn_nocheck("a\xff\xc3", 3);
    char out[32];
    size_t n = http_json_write(bad, out, sizeof out);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"", 9);
    json_decref(bad);
    assert_int_equal(http_json_string("\"\x02", 2, out, sizeof out), 10);
    assert_memory_equal(out, "\"\\\"\\u0002\"", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_header),
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_documented_operation_is_a_route),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_operations_shape),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_verdicts_and_reasons),
        cmocka_unit_test(test_json_writer_matches_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
