/*
 * form.h — request parameters as name/value pairs: an
 * application/x-www-form-urlencoded body and the query string, for the
 * vendor dialects that take forms (seeds 001, 002, 004) and for signature
 * schemes that sign the decoded parameters.
 *
 * Decoding: '+' is a space and %HH a byte (libmicrohttpd's MHD_http_unescape
 * does the percent part); a '%' not followed by two hex digits makes the
 * whole form malformed. Values are kept as decoded bytes (they may contain
 * NUL); names and values are NUL-terminated for convenience. Every
 * occurrence is kept, in order, so that a caller can refuse duplicated
 * fields.
 *
 * Ownership: a form owns its copies; form_clear zeroes them (they hold
 * identity data) and frees them. Not thread-safe; one form per request.
 *
 * Must never: read past `len`, or accept a malformed escape silently.
 */
#ifndef SHIMING_HTTP_FORM_H
#define SHIMING_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"

typedef struct {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
} form_field;

typedef struct {
    form_field *fields;
    size_t n;
    size_t cap;
} form;

typedef enum {
    FORM_OK = 0,
    FORM_MALFORMED,   /* a bad %-escape, or an empty name ("=x") */
    FORM_NOMEM,
} form_status;

/* Append the fields of a urlencoded string (a body, or a raw query string
 * without the '?') to `f`. Empty pieces ("a=1&&b=2") are skipped; "a" alone
 * is the field a with an empty value. */
form_status form_parse_urlencoded(form *f, const char *data, size_t len);

/* Append the request's query parameters (already decoded by the server). */
form_status form_add_query(form *f, const http_request *req);

/* The first field called `name`, or NULL. */
const form_field *form_get(const form *f, const char *name);

/* The value of the first field called `name` (its length in *len), or ""
 * (length 0) when there is none. Borrowed from `f`. */
const char *form_value(const form *f, const char *name, size_t *len);

/* Is Content-Type value `ct` a urlencoded form in UTF-8 (no charset, or a
 * UTF-8 one)? NULL is false. */
bool form_content_type_ok(const char *ct);

/* How many fields are called `name`. */
size_t form_count(const form *f, const char *name);

/* Zero and free everything; `f` is then empty and reusable. */
void form_clear(form *f);

#endif
