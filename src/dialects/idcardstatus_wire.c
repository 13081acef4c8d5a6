/*
 * idcardstatus_wire.c — dialect C's codes, answers (JSON and XML) and
 * dynamic password (see idcardstatus_wire.h).
 *
 * Must never: write anything into an answer but the static texts of the
 * tables and the serial number, or keep a digest input around after use.
 */
#include "dialects/idcardstatus_wire.h"

#include <jansson.h>
#include <libxml/xmlwriter.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/server_key.h"
#include "dialects/wire.h"

static const struct {
    int number;
    const char *text;
    const char *msg;
} codes[IDCS__COUNT] = {
    [IDCS_UNKNOWN] = {0, "0", "未知错误"},
    [IDCS_FAILED] = {1, "1", "提交失败"},
    [IDCS_SUBMITTED] = {2, "2", "提交成功"},
    [IDCS_ILLEGAL_IP] = {400, "400", "非法ip访问"},
    [IDCS_ACCOUNT_EMPTY] = {401, "401", "帐号不能为空"},
    [IDCS_PASSWORD_EMPTY] = {402, "402", "密码不能为空"},
    [IDCS_NO_APP] = {403, "403", "应用不存在"},
    [IDCS_NAME_EMPTY] = {404, "404", "姓名不能为空"},
    [IDCS_NAME_FORMAT] = {4041, "4041", "姓名格式不正确(2-10个中文汉字)"},
    [IDCS_ID_EMPTY] = {406, "406", "身份证号码不能为空"},
    [IDCS_ID_FORMAT] = {4061, "4061", "身份证格式不正确"},
    [IDCS_BAD_KEY] = {405, "405", "API ID 或 API KEY 不正确"},
    [IDCS_FROZEN] = {4050, "4050", "账号被冻结"},
    [IDCS_DYN_EXPIRED] = {40501, "40501", "动态密码已过期"},
    [IDCS_DYN_WRONG] = {40502, "40502", "动态密码校验失败"},
    [IDCS_NO_CONTRACT] = {40505, "40505", "没有签定合同"},
    [IDCS_NO_BALANCE] = {4051, "4051", "剩余条数不足"},
    [IDCS_IP_NOT_ALLOWED] = {4052, "4052", "访问 ip 与备案 ip 不符"},
    [IDCS_CHANNEL_INVALID] = {4086, "4086", "通道无效"},
    [IDCS_CHANNEL_ERROR] = {4010, "4010", "通道错误"},
};

static idcs_code checked(idcs_code c)
{
    return (unsigned)c < IDCS__COUNT ? c : IDCS_UNKNOWN;
}

int idcs_code_number(idcs_code c)
{
    return codes[checked(c)].number;
}

const char *idcs_code_text(idcs_code c)
{
    return codes[checked(c)].text;
}

const char *idcs_code_msg(idcs_code c)
{
    return codes[checked(c)].msg;
}

static const char *flag(bool b)
{
    return b ? "1" : "0";
}

static const char *hjzt_text(int h)
{
    static const char *const t[] = {"0", "1", "2"};
    return h >= 0 && h <= 2 ? t[h] : "2";
}

static bool has_serial(const idcs_answer *a)
{
    return checked(a->code) == IDCS_SUBMITTED;
}

/* ------------------------------------------------------------------ JSON */

static json_t *json_of(const idcs_answer *a)
{
    json_t *o = json_pack("{s:i,s:s}", "code", idcs_code_number(a->code), "msg",
                          idcs_code_msg(a->code));
    if (o == NULL || !has_serial(a))
        return o;
    bool ok = json_object_set_new(o, "idcardid", json_string(a->idcardid)) == 0;
    if (ok && a->has_result) {
        json_t *info = json_pack("{s:s}", "desc", a->desc != NULL ? a->desc : "");
        if (info != NULL && a->has_flags)
            ok = json_object_set_new(info, "isLosted", json_string(flag(a->lost))) == 0 &&
                 json_object_set_new(info, "isNewest", json_string(flag(a->newest))) == 0 &&
                 json_object_set_new(info, "isExpired", json_string(flag(a->expired))) == 0 &&
                 json_object_set_new(info, "hjzt", json_string(hjzt_text(a->hjzt))) == 0;
        json_t *result = info != NULL ? json_pack("{s:s,s:o}", "status",
                                                  a->status != NULL ? a->status : "1", "info",
                                                  info)
                                      : NULL;
        ok = ok && result != NULL && json_object_set_new(o, "result", result) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *idcs_render_json(const idcs_answer *a, size_t *len)
{
    return wire_json_text(json_of(a), len);
}

/* ------------------------------------------------------------------- XML */

/* The seed's <SubmitResult> with the same fields as the JSON answer. */
static bool write_xml(xmlTextWriterPtr w, const void *arg)
{
    const idcs_answer *a = arg;
    char code[16];
    snprintf(code, sizeof code, "%d", idcs_code_number(a->code));
    bool ok = xmlTextWriterStartElement(w, BAD_CAST "SubmitResult") >= 0 &&
              wire_xml_element(w, "code", code) &&
              wire_xml_element(w, "msg", idcs_code_msg(a->code));
    if (ok && has_serial(a)) {
        ok = wire_xml_element(w, "idcardid", a->idcardid);
        if (ok && a->has_result) {
            ok = xmlTextWriterStartElement(w, BAD_CAST "result") >= 0 &&
                 wire_xml_element(w, "status", a->status != NULL ? a->status : "1") &&
                 xmlTextWriterStartElement(w, BAD_CAST "info") >= 0 &&
                 wire_xml_element(w, "desc", a->desc != NULL ? a->desc : "");
            if (ok && a->has_flags)
                ok = wire_xml_element(w, "isLosted", flag(a->lost)) &&
                     wire_xml_element(w, "isNewest", flag(a->newest)) &&
                     wire_xml_element(w, "isExpired", flag(a->expired)) &&
                     wire_xml_element(w, "hjzt", hjzt_text(a->hjzt));
            ok = ok && xmlTextWriterEndElement(w) >= 0 && /* info */
                 xmlTextWriterEndElement(w) >= 0;         /* result */
        }
    }
    return ok && xmlTextWriterEndElement(w) >= 0;
}

char *idcs_render_xml(const idcs_answer *a, size_t *len)
{
    return wire_xml_render(write_xml, a, len);
}

/* ------------------------------------------------------ dynamic password */

#define PRODUCT_LITERAL "idcardstatus"

bool idcs_dynamic_password(const char *account, size_t account_len, const char *apikey,
                           size_t apikey_len, const char *name, size_t name_len, const char *id,
                           size_t id_len, const char *time, size_t time_len, char out[33])
{
    out[0] = '\0';
    const struct {
        const char *p;
        size_t n;
    } parts[] = {
        {account, account_len},
        {apikey, apikey_len},
        {PRODUCT_LITERAL, sizeof PRODUCT_LITERAL - 1},
        {name, name_len},
        {id, id_len},
        {time, time_len},
    };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
    for (size_t i = 0; ok && i < sizeof parts / sizeof parts[0]; i++)
        ok = parts[i].n == 0 || EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == 16;
    if (ok)
        sm_hex_encode(digest, 16, out);
    OPENSSL_cleanse(digest, sizeof digest);
    EVP_MD_CTX_free(ctx); /* zeroes the digest state */
    return ok;
}
