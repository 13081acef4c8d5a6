/*
 * render.h — JSON renderings of core results, shared by the CLI (`--json`)
 * and the HTTP API, so both speak exactly one shape.
 *
 * Ownership: every function returns a new reference (json_decref it); never
 * NULL except on allocation failure. Inputs are borrowed. Thread-safe.
 * Must never: put anything but the caller's own input in `input` fields, or
 * log; masking is the access log's job, not this file's.
 */
#ifndef SHIMING_API_RENDER_H
#define SHIMING_API_RENDER_H

#include <jansson.h>
#include <shiming/shiming.h>

/* {code, province, city, county, known, historical, first_year, last_year}.
 * code is a 6-character string; absent names and last_year (while current)
 * are null. */
json_t *render_region(const sm_region *r);

/* What a valid ID number says: {id_number, kind, region, birth (YYYYMMDD),
 * sex, age, upgraded_from_15}. */
json_t *render_id_info(const sm_id_info *info);

/* The same object's bytes, exactly as http_json_write writes
 * render_id_info's tree, into buf[0..cap) without building the tree (the
 * per-call answers of /v1/verify). Returns the length it needs; the bytes
 * are complete only when that is <= cap. */
size_t render_id_info_write(const sm_id_info *info, char *buf, size_t cap);

/* The idcard check object: input, valid, reason, message, id_number, kind,
 * region, birth (YYYYMMDD), sex, age. On failure every derived field is null. */
json_t *render_id_result(const char *input, size_t input_len, sm_id_status st,
                         const sm_id_info *info);

/* {input, valid, reason, message, name, kind, chars, masked}. */
json_t *render_name_result(const char *input, size_t input_len, sm_name_status st,
                           const sm_name *name);

/* {valid, reason, message, valid_from, valid_to, long_term, years, expired,
 *  age_at_issue, expected_years, consistent_with_age} (the age fields null
 *  when no birth date was known). */
json_t *render_period_result(sm_period_status st, const sm_period *p);

/* `v` (stolen, even on failure) as the bytes of an answer: compact JSON as
 * the HTTP replies write it, plus "\n"; malloc'ed (zero and free it: it
 * may hold identity data). NULL on allocation failure. */
char *render_json_bytes(json_t *v, size_t *len);

#endif
