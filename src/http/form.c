/*
 * form.c — urlencoded bodies and query strings as name/value lists (see
 * form.h).
 *
 * Must never: accept a malformed %-escape, or leave identity data in freed
 * memory.
 */
#include "http/form.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A NUL-terminated decoded copy of s[0..len): '+' → ' ', %HH → byte. */
static form_status decode(const char *s, size_t len, char **out, size_t *out_len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '%' && (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
            return FORM_MALFORMED;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return FORM_NOMEM;
    for (size_t i = 0; i < len; i++)
        copy[i] = s[i] == '+' ? ' ' : s[i];
    copy[len] = '\0';
    /* MHD_http_unescape stops at the first NUL; an escaped NUL (%00) is
     * decoded by it too, so the length it returns is the truth. */
    *out_len = MHD_http_unescape(copy);
    *out = copy;
    return FORM_OK;
}

static form_status push(form *f, const char *name, size_t name_len, const char *value,
                        size_t value_len, bool encoded)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        form_field *grown = realloc(f->fields, cap * sizeof *grown);
        if (grown == NULL)
            return FORM_NOMEM;
        f->fields = grown;
        f->cap = cap;
    }
    form_field *fld = &f->fields[f->n];
    memset(fld, 0, sizeof *fld);
    form_status st;
    if (encoded) {
        st = decode(name, name_len, &fld->name, &fld->name_len);
        if (st == FORM_OK)
            st = decode(value, value_len, &fld->value, &fld->value_len);
    } else {
        fld->name = strndup(name, name_len);
        fld->value = malloc(value_len + 1);
        st = fld->name != NULL && fld->value != NULL ? FORM_OK : FORM_NOMEM;
        if (st == FORM_OK) {
            memcpy(fld->value, value, value_len);
            fld->value[value_len] = '\0';
            fld->name_len = name_len;
            fld->value_len = value_len;
        }
    }
    if (st == FORM_OK && fld->name_len == 0)
        st = FORM_MALFORMED;
    if (st != FORM_OK) {
        if (fld->value != NULL)
            OPENSSL_cleanse(fld->value, fld->value_len);
        free(fld->name);
        free(fld->value);
        return st;
    }
    f->n++;
    return FORM_OK;
}

form_status form_parse_urlencoded(form *f, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *piece = data + i;
        const char *amp = memchr(piece, '&', len - i);
        size_t plen = amp != NULL ? (size_t)(amp - piece) : len - i;
        i += plen + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(piece, '=', plen);
        size_t nlen = eq != NULL ? (size_t)(eq - piece) : plen;
        const char *value = eq != NULL ? eq + 1 : piece + plen;
        size_t vlen = eq != NULL ? plen - nlen - 1 : 0;
        form_status st = push(f, piece, nlen, value, vlen, true);
        if (st != FORM_OK)
            return st;
    }
    return FORM_OK;
}

typedef struct {
    form *f;
    form_status st;
} query_walk;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    query_walk *w = cls;
    if (key == NULL)
        return MHD_YES;
    w->st = push(w->f, key, key_size, value != NULL ? value : "", value != NULL ? value_size : 0,
                 false);
    return w->st == FORM_OK ? MHD_YES : MHD_NO;
}

form_status form_add_query(form *f, const http_request *req)
{
    query_walk w = {f, FORM_OK};
    if (req->conn != NULL)
        MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, add_arg, &w);
    return w.st;
}

const form_field *form_get(const form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            return &f->fields[i];
    return NULL;
}

const char *form_value(const form *f, const char *name, size_t *len)
{
    const form_field *fld = form_get(f, name);
    *len = fld != NULL ? fld->value_len : 0;
    return fld != NULL ? fld->value : "";
}

bool form_content_type_ok(const char *ct)
{
    bool utf8;
    return http_media_type_is(ct, "application/x-www-form-urlencoded", &utf8) && utf8;
}

size_t form_count(const form *f, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += strcmp(f->fields[i].name, name) == 0;
    return n;
}

void form_clear(form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        OPENSSL_cleanse(f->fields[i].name, f->fields[i].name_len);
        OPENSSL_cleanse(f->fields[i].value, f->fields[i].value_len);
        free(f->fields[i].name);
        free(f->fields[i].value);
    }
    free(f->fields);
    f->fields = NULL;
    f->n = 0;
    f->cap = 0;
}
