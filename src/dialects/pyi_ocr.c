/*
 * pyi_ocr.c — dialect E (seed 004): ID-card OCR at the operator's
 * [dialect_e] path (default /pyi/76/194), GET or POST
 * (docs/dialects.md, section E).
 *
 * Request: parameters from the query string and/or an
 * application/x-www-form-urlencoded body (both read; any parameter given
 * twice is refused, 10015): appid, format (json | xml, default json),
 * id_card_side (front | back | empty = auto), time (Unix seconds, optional,
 * within ±10 minutes), url_image (an http(s) URL, or base64 data possibly
 * with a data: prefix; a '+' turned into a space by form decoding is put
 * back), sign = md5(concat of name + value over every parameter but sign,
 * sorted by name, empty values skipped, then the secret).
 *
 * Answer: {codeid, message, time, retdata, idcard_number_type,
 * image_status} in JSON or as <root> XML elements, HTTP 200 for every
 * codeid; only protocol errors differ (405 wrong method, 413 body too
 * large, 415 content type), still in the vendor's format. Only 10000 is
 * charged, and 10000 is exactly a card read (whatever its image_status).
 * A diagnostic in English (never a value of the request) goes in the
 * X-Error-Detail header where the code alone is vague.
 *
 * Order: method, body size, content type, parameters (escapes,
 * duplicates, format), the failed-authentication limiter (10019), appid
 * (10001), sign (10002), time (10017, 10004), the appid's secret (10005),
 * the signature (10003), url_image and id_card_side (10019), admission
 * (10007, 10006, 10019, 10012 / 10008 / 10011 / 10018, 10021), then the
 * read (api/ocr.h: 10000, 10019 for image and download errors, 10013,
 * 10021).
 *
 * Must never: read anything itself (vision/ reads, api/ocr.c runs the
 * job), log or answer a secret, an image, a URL or a request value,
 * compare a signature in variable time, or charge a code other than 10000.
 */
#include "dialects/pyi_ocr.h"

#include <libxml/xmlwriter.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/ocr.h"
#include "api/routes.h"
#include "common/secbuf.h"
#include "crypto/server_key.h"
#include "dialects/dialects.h"
#include "dialects/wire.h"
#include "http/form.h"

#define PRODUCT "pyi_ocr"
#define DIALECT "pyi_ocr"
#define TIME_WINDOW_S 600 /* ±10 minutes */
#define URL_MAX 1024

#define CT_JSON "application/json; charset=utf-8"
#define CT_XML "text/xml; charset=utf-8"

/* ------------------------------------------------------------- the codes */

static const struct {
    int code;
    const char *message;
} messages[] = {
    {PYI_OK, "返回成功"},
    {PYI_NO_APPID, "appid必须指定,可以我的应用里面查看"},
    {PYI_NO_SIGN, "sign值必须指定,加密规则请前往帮助中心查看"},
    {PYI_BAD_SIGN, "sign值验证不通过,加密规则请前往帮助中心查看"},
    {PYI_TIME_SKEW, "时差不能超过10分钟,可以不传递这个参数,注意时间戳单位是秒"},
    {PYI_BAD_APPID, "appid错误,请检查appid值,前往会员中心->我的应用查看或添加"},
    {PYI_IP_DENIED, "当前IP地址未授权,请前往用户中心->我的应用添加ip"},
    {PYI_APP_DISABLED, "应用被禁用,请联系客服处理"},
    {PYI_NO_INTERFACE, "应用内没有该接口,请到我的应用里面添加这个接口"},
    {PYI_NO_API, "api接口不存在"},
    {PYI_NOT_ORDERED, "您没有订购该api"},
    {PYI_EXPIRED, "api已经到期"},
    {PYI_NOTHING_ORDERED, "没有订购任何api,请前往购买后再操作"},
    {PYI_PAUSED, "该接口已经暂停使用"},
    {PYI_UNKNOWN, "未知的错误,可以联系客服处理"},
    {PYI_PARAM_COUNT, "参数个数错误"},
    {PYI_TIME_NOT_INT, "time必须是整型"},
    {PYI_NO_UNITS, "次数不足"},
    {PYI_INFO, ""},
    {PYI_NO_SUB_INTERFACE, "子接口不存在,可能已经被关闭"},
    {PYI_SERVER_ERROR, "服务器发生错误"},
    {PYI_NO_BALANCE, "帐户余额不足,请充值!"},
};

const char *pyi_code_message(int code)
{
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (messages[i].code == code)
            return messages[i].message;
    return NULL;
}

/* --------------------------------------------------------------- the sign */

static int by_name(const void *a, const void *b)
{
    const form_field *x = *(const form_field *const *)a;
    const form_field *y = *(const form_field *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

bool pyi_sign(const form *f, const char *secret, size_t secret_len, char out[33])
{
    out[0] = '\0';
    const form_field **sorted = calloc(f->n ? f->n : 1, sizeof *sorted);
    if (sorted == NULL)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->fields[i].value_len > 0 && strcmp(f->fields[i].name, "sign") != 0)
            sorted[n++] = &f->fields[i];
    qsort(sorted, n, sizeof *sorted, by_name);
    secbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        secbuf_add(&b, sorted[i]->name, sorted[i]->name_len);
        secbuf_add(&b, sorted[i]->value, sorted[i]->value_len);
    }
    secbuf_add(&b, secret, secret_len);
    free(sorted);
    size_t len = 0;
    char *text = secbuf_take(&b, &len);
    if (text == NULL && secret_len + n > 0)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    bool ok = EVP_Digest(text != NULL ? text : "", len, md, &md_len, EVP_md5(), NULL) == 1 &&
              md_len == 16;
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    if (ok)
        sm_hex_encode(md, 16, out);
    OPENSSL_cleanse(md, sizeof md);
    return ok;
}

/* -------------------------------------------------------------- rendering */

static const char *const front_keys[6] = {"姓名", "性别", "民族", "出生", "住址", "公民身份号码"};
static const char *const back_keys[3] = {"签发机关", "签发日期", "失效日期"};

static size_t n_keys(const pyi_answer *a)
{
    return a->back ? 3 : 6;
}

static const char *key_at(const pyi_answer *a, size_t i)
{
    return a->back ? back_keys[i] : front_keys[i];
}

char *pyi_render_json(const pyi_answer *a, size_t *len)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", a->time);
    json_t *o = json_object();
    json_t *ret = a->has_retdata ? json_object() : json_array();
    bool ok = o != NULL && ret != NULL;
    for (size_t i = 0; ok && a->has_retdata && i < n_keys(a); i++)
        ok = json_object_set_new(ret, key_at(a, i),
                                 json_string(a->values[i] != NULL ? a->values[i] : "")) == 0;
    ok = ok && json_object_set_new(o, "codeid", json_integer(a->codeid)) == 0 &&
         json_object_set_new(o, "message", json_string(a->message)) == 0 &&
         json_object_set_new(o, "time", json_string(t)) == 0 &&
         json_object_set(o, "retdata", ret) == 0;
    if (ok && a->has_retdata)
        ok = json_object_set_new(o, "idcard_number_type",
                                 json_integer(a->idcard_number_type)) == 0 &&
             json_object_set_new(o, "image_status", json_string(a->image_status)) == 0;
    json_decref(ret);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return wire_json_text(o, len);
}

static bool write_xml(xmlTextWriterPtr w, const void *arg)
{
    const pyi_answer *a = arg;
    char code[16], t[24], type[16];
    snprintf(code, sizeof code, "%d", a->codeid);
    snprintf(t, sizeof t, "%lld", a->time);
    snprintf(type, sizeof type, "%d", a->idcard_number_type);
    bool ok = xmlTextWriterStartElement(w, BAD_CAST "root") >= 0 &&
              wire_xml_element(w, "codeid", code) && wire_xml_element(w, "message", a->message) &&
              wire_xml_element(w, "time", t) &&
              xmlTextWriterStartElement(w, BAD_CAST "retdata") >= 0;
    for (size_t i = 0; ok && a->has_retdata && i < n_keys(a); i++)
        ok = wire_xml_element(w, key_at(a, i), a->values[i] != NULL ? a->values[i] : "");
    ok = ok && xmlTextWriterEndElement(w) >= 0; /* retdata */
    if (ok && a->has_retdata)
        ok = wire_xml_element(w, "idcard_number_type", type) &&
             wire_xml_element(w, "image_status", a->image_status);
    return ok && xmlTextWriterEndElement(w) >= 0;
}

char *pyi_render_xml(const pyi_answer *a, size_t *len)
{
    return wire_xml_render(write_xml, a, len);
}

/* ---------------------------------------------------------------- replies */

typedef struct {
    form f;
    bool xml;
    vx_side want;
    char message[160];      /* 10019 / 10006 texts with their {@info} */
    char retry[24];
} pyi_call;

static const char *content_type(bool xml)
{
    return xml ? CT_XML : CT_JSON;
}

static char *render(const pyi_answer *a, bool xml, size_t *len)
{
    return xml ? pyi_render_xml(a, len) : pyi_render_json(a, len);
}

/* Reply with `code` and no retdata, HTTP `status`, an optional extra
 * header (`hname` NULL: none), the X-Error-Detail diagnostic (`detail`
 * NULL: none), and `message` (NULL: the code's own). */
static void reply_code_full(http_request *req, bool xml, unsigned status, int code,
                            const char *message, const char *detail, const char *hname,
                            const char *hvalue)
{
    pyi_answer a;
    memset(&a, 0, sizeof a);
    a.codeid = code;
    a.message = message != NULL ? message : pyi_code_message(code);
    a.time = (long long)time(NULL);
    size_t len = 0;
    char *body = render(&a, xml, &len);
    if (body == NULL) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    http_header h[2];
    size_t n = 0;
    if (hname != NULL)
        h[n++] = (http_header){hname, hvalue};
    if (detail != NULL)
        h[n++] = (http_header){"X-Error-Detail", detail};
    reply_bytes_headers(req, status, content_type(xml), body, len, h, n);
    free(body);
}

static void reply_code(http_request *req, bool xml, int code, const char *detail)
{
    reply_code_full(req, xml, 200, code, NULL, detail, NULL, NULL);
}

/* 10019 with its {@info}: `info` (Chinese, static) for the client and
 * `detail` (English) for X-Error-Detail. */
static void reply_info_full(http_request *req, bool xml, unsigned status, const char *info,
                            const char *detail, const char *hname, const char *hvalue)
{
    reply_code_full(req, xml, status, PYI_INFO, info, detail, hname, hvalue);
}

static void reply_info(http_request *req, bool xml, const char *info, const char *detail)
{
    reply_info_full(req, xml, 200, info, detail, NULL, NULL);
}

/* ------------------------------------------------------------ the call */

static void release_call(void *ctx)
{
    pyi_call *c = ctx;
    form_clear(&c->f);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

/* The outcomes of the read other than 10000. */
static const struct {
    ocr_outcome outcome;
    int code;
    const char *info;      /* 10019's {@info} */
} failures[] = {
    {OCR_DISABLED, PYI_PAUSED, NULL},
    {OCR_BUSY, PYI_SERVER_ERROR, NULL},
    {OCR_UNAVAILABLE, PYI_SERVER_ERROR, NULL},
    {OCR_IMAGE_TOO_LARGE, PYI_INFO, "图片过大"},
    {OCR_IMAGE_TOO_SMALL, PYI_INFO, "图片尺寸过小,最短边至少15px"},
    {OCR_UNSUPPORTED_IMAGE, PYI_INFO, "图片格式不支持,仅支持jpg/jpeg/png/bmp"},
    {OCR_CORRUPT_IMAGE, PYI_INFO, "图片数据损坏,无法解码"},
    {OCR_URL_INVALID, PYI_INFO, "url_image不是有效的图片URL"},
    {OCR_FETCH_FORBIDDEN, PYI_INFO, "url_image的地址不允许访问"},
    {OCR_FETCH_TIMEOUT, PYI_INFO, "url_image下载超时"},
    {OCR_FETCH_FAILED, PYI_INFO, "url_image下载失败"},
    {OCR_FAILED, PYI_SERVER_ERROR, NULL},
    {OCR_NOMEM, PYI_SERVER_ERROR, NULL},
};

static int render_call(void *ctx, http_request *req, const ocr_result *r, bool charged,
                       call_answer *out)
{
    (void)req;
    (void)charged;
    pyi_call *c = ctx;
    pyi_answer a;
    memset(&a, 0, sizeof a);
    a.time = (long long)time(NULL);
    char vcode[8];
    if (r->outcome == OCR_OK) {
        const vx_idcard_result *card = &r->card;
        a.codeid = PYI_OK;
        a.message = "识别成功";
        a.has_retdata = true;
        vx_side shown = card->side != VX_SIDE_UNKNOWN ? card->side : c->want;
        a.back = shown == VX_SIDE_BACK;
        static const vx_field_id front[6] = {VX_F_NAME, VX_F_SEX, VX_F_ETHNICITY,
                                             VX_F_BIRTH, VX_F_ADDRESS, VX_F_ID_NUMBER};
        static const vx_field_id back[3] = {VX_F_AUTHORITY, VX_F_VALID_FROM, VX_F_VALID_TO};
        for (size_t i = 0; i < n_keys(&a); i++) {
            const vx_field *f = &card->fields[a.back ? back[i] : front[i]];
            a.values[i] = f->present ? f->text : "";
        }
        /* The seed: type 0 (an illegal number) does not return the number. */
        if (!a.back && card->number_type == 0)
            a.values[5] = "";
        a.idcard_number_type = card->number_type;
        a.image_status = vx_image_status_code(card->status);
    } else {
        a.codeid = PYI_SERVER_ERROR;
        for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
            if (failures[i].outcome != r->outcome)
                continue;
            a.codeid = failures[i].code;
            a.message = failures[i].info;
            break;
        }
        if (a.message == NULL)
            a.message = pyi_code_message(a.codeid);
        out->headers[out->n_headers++] =
            (http_header){"X-Error-Detail", ocr_outcome_message(r->outcome)};
        if (r->outcome == OCR_BUSY) {
            call_retry_after_text(r->retry_after_s, c->retry);
            out->headers[out->n_headers++] = (http_header){"Retry-After", c->retry};
        }
    }
    out->body = render(&a, c->xml, &out->len);
    if (out->body == NULL)
        return -1;
    out->status = 200;
    out->content_type = content_type(c->xml);
    snprintf(vcode, sizeof vcode, "%d", a.codeid);
    /* Static text for the audit row: one of the codes' numbers. */
    static const char *const texts[] = {"10000", "10013", "10019", "10021"};
    out->vendor_code = a.codeid == PYI_OK      ? texts[0]
                       : a.codeid == PYI_PAUSED ? texts[1]
                       : a.codeid == PYI_INFO   ? texts[2]
                                                : texts[3];
    return 0;
}

static void refuse_call(void *ctx, http_request *req, call_refusal why, double retry_after_s)
{
    (void)retry_after_s;
    pyi_call *c = ctx;
    switch (why) {
    case CALL_QUOTA_EXHAUSTED:
        reply_code(req, c->xml, PYI_NO_UNITS, "the app has no units left");
        break;
    case CALL_UNAVAILABLE:
        reply_code_full(req, c->xml, 200, PYI_SERVER_ERROR, NULL,
                        "the call could not be recorded; nothing was charged", "Retry-After", "1");
        break;
    case CALL_INTERNAL:
    default:
        reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
        break;
    }
}

/* --------------------------------------------------------- the request */

/* format from the query string alone (for answers before the body is
 * read: wrong method, too large, content type). */
static bool query_wants_xml(http_request *req)
{
    form q = {0};
    bool xml = false;
    if (form_add_query(&q, req) == FORM_OK) {
        size_t n;
        const char *v = form_value(&q, "format", &n);
        xml = n == 3 && strncasecmp(v, "xml", 3) == 0;
    }
    form_clear(&q);
    return xml;
}

/* Read every parameter into c->f and the format into c->xml. 0, or -1
 * after having answered. */
static int read_parameters(http_request *req, pyi_call *c)
{
    if (req->body_len > 0) {
        const char *ct = request_header(req, "Content-Type");
        if (ct != NULL && !form_content_type_ok(ct)) {
            c->xml = query_wants_xml(req);
            reply_info_full(req, c->xml, 415, "请求体必须是application/x-www-form-urlencoded",
                            "the body must be application/x-www-form-urlencoded (UTF-8)", NULL,
                            NULL);
            return -1;
        }
    }
    form_status st = form_add_query(&c->f, req);
    if (st == FORM_OK && req->body_len > 0)
        st = form_parse_urlencoded(&c->f, req->body, req->body_len);
    if (st != FORM_OK) {
        c->xml = query_wants_xml(req);
        if (st == FORM_NOMEM)
            reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
        else
            reply_info(req, c->xml, "参数格式错误",
                       "malformed parameters (a bad %-escape or an empty name)");
        return -1;
    }
    size_t fmt_len;
    const char *fmt = form_value(&c->f, "format", &fmt_len);
    /* The format first, so that every later answer is in it (a duplicated
     * format is answered in JSON). */
    if (form_count(&c->f, "format") == 1 && fmt_len == 3 && strncasecmp(fmt, "xml", 3) == 0)
        c->xml = true;
    for (size_t i = 0; i < c->f.n; i++) {
        if (form_count(&c->f, c->f.fields[i].name) > 1) {
            reply_code(req, c->xml, PYI_PARAM_COUNT, "a parameter is given more than once");
            return -1;
        }
    }
    if (fmt_len > 0 && !c->xml && !(fmt_len == 4 && strncasecmp(fmt, "json", 4) == 0)) {
        reply_info(req, false, "format只支持json,xml", "format must be json or xml");
        return -1;
    }
    return 0;
}

/* time: absent/empty is allowed (the seed); else digits within ±10 min.
 * PYI_OK or the code to answer. */
static int check_time(const form *f)
{
    size_t n;
    const char *t = form_value(f, "time", &n);
    if (n == 0)
        return PYI_OK;
    if (n > 12)
        return PYI_TIME_NOT_INT;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return PYI_TIME_NOT_INT;
        v = v * 10 + (t[i] - '0');
    }
    long long now = (long long)time(NULL);
    if (v < now - TIME_WINDOW_S || v > now + TIME_WINDOW_S)
        return PYI_TIME_SKEW;
    return PYI_OK;
}

/* Authenticate appid + sign. 0 with *app filled, or -1 after having
 * answered (and counted the failure for the limiter). */
static int authenticate(http_request *req, tenancy *t, pyi_call *c, tn_app *app)
{
    size_t appid_len, sign_len;
    const char *appid = form_value(&c->f, "appid", &appid_len);
    const char *sign = form_value(&c->f, "sign", &sign_len);
    char secret[TN_SECRET_MAX];
    memset(secret, 0, sizeof secret);
    tn_status st = TN_ERR_NOT_FOUND;
    if (appid_len < TN_CRED_ID_MAX && strlen(appid) == appid_len)
        st = tenancy_credential_secret(t, TN_CRED_APPSECRET, appid, secret, app);
    if (st == TN_ERR_NOT_FOUND || st == TN_ERR_INVALID) {
        OPENSSL_cleanse(secret, sizeof secret);
        tenancy_auth_failed(t, req->remote);
        reply_code(req, c->xml, PYI_BAD_APPID, "no such appid");
        return -1;
    }
    if (st != TN_OK) {
        OPENSSL_cleanse(secret, sizeof secret);
        reply_code_full(req, c->xml, 200, PYI_SERVER_ERROR, NULL,
                        "the credential store is unavailable", "Retry-After", "1");
        return -1;
    }
    char want[33], got[33];
    bool computed = pyi_sign(&c->f, secret, strlen(secret), want);
    OPENSSL_cleanse(secret, sizeof secret);
    if (!computed) {
        reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
        return -1;
    }
    bool same = false;
    if (sign_len == 32) {
        for (size_t i = 0; i < 32; i++) /* hex in either case */
            got[i] = (sign[i] >= 'A' && sign[i] <= 'F') ? (char)(sign[i] - 'A' + 'a') : sign[i];
        got[32] = '\0';
        same = CRYPTO_memcmp(got, want, 32) == 0;
    }
    OPENSSL_cleanse(want, sizeof want);
    OPENSSL_cleanse(got, sizeof got);
    if (!same) {
        tenancy_auth_failed(t, req->remote);
        reply_code(req, c->xml, PYI_BAD_SIGN, "the sign does not match");
        return -1;
    }
    return 0;
}

/* Why an app without quota for this product has none: 10012 no package of
 * any product, 10008 none of this one, 10011 this one's have all expired,
 * 10018 used up. -1 when the store cannot say. */
static int no_quota_code(tenancy *t, int64_t app_id)
{
    tn_package *pk = NULL;
    size_t n = 0;
    if (tenancy_usage(t, app_id, &pk, &n) != TN_OK)
        return -1;
    bool mine = false, live = false;
    sm_date today = sm_date_today();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(pk[i].product, PRODUCT) != 0)
            continue;
        mine = true;
        bool never = pk[i].expires.year == 0;
        if (never || sm_date_cmp(pk[i].expires, today) >= 0)
            live = true;
    }
    free(pk);
    if (n == 0)
        return PYI_NOTHING_ORDERED;
    if (!mine)
        return PYI_NO_INTERFACE;
    return live ? PYI_NO_UNITS : PYI_EXPIRED;
}

/* Admission. 0: admitted (req->metered set); -1: answered. */
static int admit(http_request *req, tenancy *t, const tn_app *app, pyi_call *c)
{
    req->app_id = app->id;
    snprintf(req->app, sizeof req->app, "%s", app->name);
    double retry_s = 0;
    tn_admit a = tenancy_admit(t, app, PRODUCT, req->remote, &retry_s);
    call_retry_after_text(retry_s, c->retry);
    switch (a) {
    case TN_ADMIT_OK: req->metered = true; return 0;
    case TN_ADMIT_NO_QUOTA: {
        int code = no_quota_code(t, app->id);
        if (code < 0)
            reply_code_full(req, c->xml, 200, PYI_SERVER_ERROR, NULL,
                            "the tenancy store is unavailable", "Retry-After", "1");
        else
            reply_code(req, c->xml, code, NULL);
        return -1;
    }
    case TN_ADMIT_FROZEN: reply_code(req, c->xml, PYI_APP_DISABLED, "the app is frozen"); return -1;
    case TN_ADMIT_DISABLED:
        reply_code(req, c->xml, PYI_APP_DISABLED, "the app is disabled");
        return -1;
    case TN_ADMIT_IP_DENIED:
        /* {@info}: the address to add (the client's own, not a secret). */
        snprintf(c->message, sizeof c->message, "%s%s", pyi_code_message(PYI_IP_DENIED),
                 req->remote);
        reply_code_full(req, c->xml, 200, PYI_IP_DENIED, c->message, NULL, NULL, NULL);
        return -1;
    case TN_ADMIT_RATE_LIMITED:
        reply_info_full(req, c->xml, 200, "请求过于频繁,请稍后再试", "rate limited",
                        "Retry-After", c->retry);
        return -1;
    case TN_ADMIT_DAILY_LIMIT:
        reply_info_full(req, c->xml, 200, "已达到每日调用上限", "daily limit reached",
                        "Retry-After", c->retry);
        return -1;
    case TN_ADMIT_UNAVAILABLE:
    default:
        reply_code_full(req, c->xml, 200, PYI_SERVER_ERROR, NULL,
                        "the tenancy store is unavailable", "Retry-After", "1");
        return -1;
    }
}

/* url_image and id_card_side into the spec. 0, or -1 after having
 * answered. */
static int read_image(http_request *req, pyi_call *c, ocr_call_spec *spec)
{
    size_t side_len, img_len;
    const char *side = form_value(&c->f, "id_card_side", &side_len);
    if (side_len == 0)
        c->want = VX_SIDE_UNKNOWN;
    else if (side_len == 5 && memcmp(side, "front", 5) == 0)
        c->want = VX_SIDE_FRONT;
    else if (side_len == 4 && memcmp(side, "back", 4) == 0)
        c->want = VX_SIDE_BACK;
    else {
        reply_info(req, c->xml, "id_card_side只支持front,back",
                   "id_card_side must be front or back (or empty: auto)");
        return -1;
    }
    spec->want = c->want;
    const char *img = form_value(&c->f, "url_image", &img_len);
    if (img_len == 0) {
        reply_info(req, c->xml, "url_image不能为空", "url_image is required");
        return -1;
    }
    if (ocr_looks_like_url(img, img_len)) {
        if (img_len > URL_MAX || strlen(img) != img_len) {
            reply_info(req, c->xml, "url_image不是有效的图片URL",
                       "url_image must be an http(s) URL of at most 1024 bytes");
            return -1;
        }
        spec->url = strdup(img);
        if (spec->url == NULL) {
            reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
            return -1;
        }
        return 0;
    }
    /* base64: a '+' that the client did not urlencode arrives as a space. */
    char *b64 = malloc(img_len + 1);
    if (b64 == NULL) {
        reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < img_len; i++)
        b64[i] = img[i] == ' ' ? '+' : img[i];
    b64[img_len] = '\0';
    bool nomem = false;
    bool ok = ocr_base64_decode(b64, img_len, &spec->image, &spec->image_len, &nomem);
    OPENSSL_cleanse(b64, img_len);
    free(b64);
    if (!ok) {
        if (nomem)
            reply_code(req, c->xml, PYI_UNKNOWN, "out of memory");
        else
            reply_info(req, c->xml, "url_image不是有效的URL或base64编码数据",
                       "url_image is neither an http(s) URL nor valid base64");
        return -1;
    }
    return 0;
}

void dialect_pyi_ocr(http_request *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
        reply_info_full(req, query_wants_xml(req), 405, "只支持GET和POST请求",
                        "only GET and POST", "Allow", "GET, POST");
        return;
    }
    if (req->body_too_large) { /* perhaps before the body has arrived: never read it */
        reply_info_full(req, query_wants_xml(req), 413, "请求体过大", "the body is too large",
                        NULL, NULL);
        return;
    }
    pyi_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        reply_code(req, false, PYI_UNKNOWN, "out of memory");
        return;
    }
    if (read_parameters(req, c) != 0) {
        release_call(c);
        return;
    }

    tenancy *t = api_context_tenancy(req->ctx);
    double retry_s = 0;
    if (t != NULL && tenancy_auth_blocked(t, req->remote, &retry_s)) {
        call_retry_after_text(retry_s, c->retry);
        reply_info_full(req, c->xml, 200, "认证失败次数过多,请稍后再试",
                        "too many failed authentications from this address", "Retry-After",
                        c->retry);
        release_call(c);
        return;
    }
    size_t n;
    int code = PYI_OK;
    if (form_value(&c->f, "appid", &n), n == 0)
        code = PYI_NO_APPID;
    else if (form_value(&c->f, "sign", &n), n == 0)
        code = PYI_NO_SIGN;
    else
        code = check_time(&c->f);
    if (code != PYI_OK) {
        reply_code(req, c->xml, code, NULL);
        release_call(c);
        return;
    }
    tn_app app;
    memset(&app, 0, sizeof app);
    if (t != NULL && authenticate(req, t, c, &app) != 0) {
        release_call(c);
        return;
    }
    ocr_call_spec spec = {
        .product = PRODUCT,
        .dialect = DIALECT,
        .render = render_call,
        .refuse = refuse_call,
        .release = release_call,
        .ctx = c,
    };
    if (read_image(req, c, &spec) != 0) {
        free(spec.image);
        free(spec.url);
        release_call(c);
        return;
    }
    if (t != NULL && admit(req, t, &app, c) != 0) {
        if (spec.image != NULL)
            OPENSSL_cleanse(spec.image, spec.image_len);
        free(spec.image);
        free(spec.url);
        release_call(c);
        return;
    }
    ocr_call_run(req, &spec);
    /* Not deferred: answered here, no longer in flight for the daily
     * limit. A deferred call's completion releases it (api/ocr.c). */
    if (t != NULL && !req->deferred && req->metered)
        tenancy_admit_done(t, req->app_id);
}
