/*
 * render.c — core results as JSON, one shape for the CLI and the HTTP API.
 *
 * Must never: decide anything (the core decides; this only spells it out),
 * or include anything beyond the caller's own input and the core's answer.
 */
#include "api/render.h"

#include <openssl/crypto.h>

#include "http/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The caller's input echoed back. HTTP input is already valid UTF-8 (the JSON
 * parser checked it) but CLI input may be any bytes: each invalid byte becomes
 * U+FFFD so that the output is always valid JSON. */
static json_t *input_string(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return json_null();
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t seq = sm_utf8_decode(s + i, len - i, &cp);
        if (seq) {
            memcpy(buf + n, s + i, seq);
            n += seq;
            i += seq;
        } else {
            memcpy(buf + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        }
    }
    j = json_stringn(buf, n);
    free(buf);
    return j ? j : json_null();
}

static json_t *date_compact_or_null(sm_date d)
{
    if (d.year == 0)
        return json_null();
    char buf[9];
    sm_date_format_compact(d, buf);
    return json_string(buf);
}

json_t *render_region(const sm_region *r)
{
    char code[7];
    snprintf(code, sizeof code, "%06u", (unsigned)(r->code % 1000000u));
    return json_pack("{s:s, s:o, s:o, s:o, s:b, s:b, s:o, s:o}",
                     "code", code,
                     "province", str_or_null(r->province),
                     "city", str_or_null(r->city),
                     "county", str_or_null(r->county),
                     "known", r->known,
                     "historical", r->historical,
                     "first_year", r->first_year ? json_integer(r->first_year) : json_null(),
                     "last_year", r->last_year ? json_integer(r->last_year) : json_null());
}

json_t *render_id_info(const sm_id_info *info)
{
    char sex[2] = {info->sex, '\0'};
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:b}",
                     "id_number", info->id18,
                     "kind", sm_id_kind_code(info->kind),
                     "region", render_region(&info->region),
                     "birth", date_compact_or_null(info->birth),
                     "sex", sex,
                     "age", info->age,
                     "upgraded_from_15", info->from_15);
}

/* ------------------------------------------- the same, without a tree */

/* A bounded writer: bytes past `cap` are counted, not written. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
} jw;

static void jw_put(jw *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

#define JW_LIT(w, lit) jw_put((w), (lit), sizeof(lit) - 1)

static void jw_str(jw *w, const char *s)
{
    if (s == NULL) {
        JW_LIT(w, "null");
        return;
    }
    size_t room = w->len < w->cap ? w->cap - w->len : 0;
    w->len += http_json_string(s, strlen(s), room ? w->buf + w->len : w->buf, room);
}

static void jw_int(jw *w, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    jw_put(w, tmp, (size_t)n);
}

static void jw_bool(jw *w, bool b)
{
    if (b)
        JW_LIT(w, "true");
    else
        JW_LIT(w, "false");
}

size_t render_id_info_write(const sm_id_info *info, char *buf, size_t cap)
{
    jw w = {buf, cap, 0};
    const sm_region *r = &info->region;
    char code[7];
    snprintf(code, sizeof code, "%06u", (unsigned)(r->code % 1000000u));
    char sex[2] = {info->sex, '\0'};
    JW_LIT(&w, "{\"id_number\":");
    jw_str(&w, info->id18);
    JW_LIT(&w, ",\"kind\":");
    jw_str(&w, sm_id_kind_code(info->kind));
    JW_LIT(&w, ",\"region\":{\"code\":");
    jw_str(&w, code);
    JW_LIT(&w, ",\"province\":");
    jw_str(&w, r->province);
    JW_LIT(&w, ",\"city\":");
    jw_str(&w, r->city);
    JW_LIT(&w, ",\"county\":");
    jw_str(&w, r->county);
    JW_LIT(&w, ",\"known\":");
    jw_bool(&w, r->known);
    JW_LIT(&w, ",\"historical\":");
    jw_bool(&w, r->historical);
    JW_LIT(&w, ",\"first_year\":");
    if (r->first_year)
        jw_int(&w, r->first_year);
    else
        JW_LIT(&w, "null");
    JW_LIT(&w, ",\"last_year\":");
    if (r->last_year)
        jw_int(&w, r->last_year);
    else
        JW_LIT(&w, "null");
    JW_LIT(&w, "},\"birth\":");
    if (info->birth.year == 0) {
        JW_LIT(&w, "null");
    } else {
        char d[9];
        sm_date_format_compact(info->birth, d);
        jw_str(&w, d);
    }
    JW_LIT(&w, ",\"sex\":");
    jw_str(&w, sex);
    JW_LIT(&w, ",\"age\":");
    jw_int(&w, info->age);
    JW_LIT(&w, ",\"upgraded_from_15\":");
    jw_bool(&w, info->from_15);
    JW_LIT(&w, "}");
    return w.len;
}

json_t *render_id_result(const char *input, size_t input_len, sm_id_status st,
                         const sm_id_info *info)
{
    json_t *o = json_object();
    json_object_set_new(o, "input", input_string(input, input_len));
    json_object_set_new(o, "valid", json_boolean(st == SM_ID_OK));
    json_object_set_new(o, "reason", str_or_null(sm_id_status_code(st)));
    json_object_set_new(o, "message", st == SM_ID_OK ? json_null()
                                                     : json_string(sm_id_status_message(st)));
    static const char *const derived[] = {"id_number", "kind", "region", "birth",
                                          "sex", "age", "upgraded_from_15"};
    json_t *id = st == SM_ID_OK ? render_id_info(info) : NULL;
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++) {
        json_t *v = id ? json_object_get(id, derived[i]) : NULL;
        json_object_set(o, derived[i], v ? v : json_null());
    }
    json_decref(id);
    return o;
}

json_t *render_name_result(const char *input, size_t input_len, sm_name_status st,
                           const sm_name *name)
{
    json_t *o = json_object();
    json_object_set_new(o, "input", input_string(input, input_len));
    json_object_set_new(o, "valid", json_boolean(st == SM_NAME_OK));
    json_object_set_new(o, "reason", str_or_null(sm_name_status_code(st)));
    json_object_set_new(o, "message", st == SM_NAME_OK ? json_null()
                                                       : json_string(sm_name_status_message(st)));
    if (st == SM_NAME_OK) {
        char masked[SM_NAME_BUF];
        sm_mask_name(name->text, name->len, masked, sizeof masked);
        json_object_set_new(o, "name", json_stringn(name->text, name->len));
        json_object_set_new(o, "kind", json_string(sm_name_kind_code(name->kind)));
        json_object_set_new(o, "chars", json_integer((json_int_t)name->chars));
        json_object_set_new(o, "masked", json_string(masked));
    } else {
        json_object_set_new(o, "name", json_null());
        json_object_set_new(o, "kind", json_null());
        json_object_set_new(o, "chars", json_null());
        json_object_set_new(o, "masked", json_null());
    }
    return o;
}

json_t *render_period_result(sm_period_status st, const sm_period *p)
{
    json_t *o = json_object();
    bool ok = st == SM_PERIOD_OK;
    json_object_set_new(o, "valid", json_boolean(ok));
    json_object_set_new(o, "reason", str_or_null(sm_period_status_code(st)));
    json_object_set_new(o, "message", ok ? json_null() : json_string(sm_period_status_message(st)));
    json_object_set_new(o, "valid_from", date_compact_or_null(p->begin));
    json_object_set_new(o, "valid_to", p->long_term ? json_string("00000000")
                                                    : date_compact_or_null(p->end));
    json_object_set_new(o, "long_term", json_boolean(p->long_term));
    json_object_set_new(o, "years", ok ? json_integer(p->years) : json_null());
    json_object_set_new(o, "expired", ok ? json_boolean(p->expired) : json_null());
    if (ok && p->age_known) {
        json_object_set_new(o, "age_at_issue", json_integer(p->age_at_issue));
        json_object_set_new(o, "expected_years", json_integer(p->expected_years));
        json_object_set_new(o, "consistent_with_age", json_boolean(p->consistent_with_age));
    } else {
        json_object_set_new(o, "age_at_issue", json_null());
        json_object_set_new(o, "expected_years", json_null());
        json_object_set_new(o, "consistent_with_age", json_null());
    }
    return o;
}

char *render_json_bytes(json_t *v, size_t *len)
{
    if (v == NULL)
        return NULL;
    char stackbuf[4096];
    size_t n = http_json_write(v, stackbuf, sizeof stackbuf);
    char *buf = n > 0 ? malloc(n + 1) : NULL;
    if (buf != NULL && n <= sizeof stackbuf) {
        memcpy(buf, stackbuf, n);
    } else if (buf != NULL && http_json_write(v, buf, n) != n) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        buf = NULL;
    }
    OPENSSL_cleanse(stackbuf, n < sizeof stackbuf ? n : sizeof stackbuf);
    json_decref(v);
    if (buf == NULL)
        return NULL;
    buf[n] = '\n';
    *len = n + 1;
    return buf;
}
