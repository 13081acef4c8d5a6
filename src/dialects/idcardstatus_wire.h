/*
 * idcardstatus_wire.h — the wire format of dialect C (seed 002, the
 * four-element check /idcard/idcardstatus/Submit.json and .xml): the
 * vendor's codes and texts, the answer in JSON and in XML, and the dynamic
 * password. Pure functions (no clock, no I/O, no tenancy, no registry),
 * so that the unit tests
 * (tests/unit/test_idcardstatus.c) check them with the seed's vectors.
 *
 * Ownership: answers are plain values of the caller; their strings are
 * static or point into the answer itself. The rendered bytes are malloc'ed
 * and belong to the caller (zero and free them: they may say who a person
 * is). Thread-safe (libxml2 is initialised once, see idcs_render_xml).
 *
 * Must never: echo a request value into an answer (only static texts and
 * the serial number are written), or write a secret anywhere but into the
 * caller's buffer.
 */
#ifndef SHIMING_DIALECTS_IDCARDSTATUS_WIRE_H
#define SHIMING_DIALECTS_IDCARDSTATUS_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* The vendor's codes (the seed's table). */
typedef enum {
    IDCS_UNKNOWN = 0,        /* 0     未知错误 */
    IDCS_FAILED,             /* 1     提交失败 */
    IDCS_SUBMITTED,          /* 2     提交成功 */
    IDCS_ILLEGAL_IP,         /* 400   非法ip访问 */
    IDCS_ACCOUNT_EMPTY,      /* 401   帐号不能为空 */
    IDCS_PASSWORD_EMPTY,     /* 402   密码不能为空 */
    IDCS_NO_APP,             /* 403   应用不存在 */
    IDCS_NAME_EMPTY,         /* 404   姓名不能为空 */
    IDCS_NAME_FORMAT,        /* 4041  姓名格式不正确(2-10个中文汉字) */
    IDCS_ID_EMPTY,           /* 406   身份证号码不能为空 */
    IDCS_ID_FORMAT,          /* 4061  身份证格式不正确 */
    IDCS_BAD_KEY,            /* 405   API ID 或 API KEY 不正确 */
    IDCS_FROZEN,             /* 4050  账号被冻结 */
    IDCS_DYN_EXPIRED,        /* 40501 动态密码已过期 */
    IDCS_DYN_WRONG,          /* 40502 动态密码校验失败 */
    IDCS_NO_CONTRACT,        /* 40505 没有签定合同 */
    IDCS_NO_BALANCE,         /* 4051  剩余条数不足 */
    IDCS_IP_NOT_ALLOWED,     /* 4052  访问 ip 与备案 ip 不符 */
    IDCS_CHANNEL_INVALID,    /* 4086  通道无效 */
    IDCS_CHANNEL_ERROR,      /* 4010  通道错误 */
    IDCS__COUNT
} idcs_code;

int idcs_code_number(idcs_code c);        /* 4041, … */
const char *idcs_code_text(idcs_code c);  /* "4041", … (static: the audit row's vendor code) */
const char *idcs_code_msg(idcs_code c);   /* the seed's text, UTF-8 (static) */

#define IDCS_SERIAL_MAX 24

/* One answer. `idcardid` and `result` are written only for IDCS_SUBMITTED
 * (the seed's failure example carries code and msg alone); `info`'s four
 * flags only when has_flags (a matched card). */
typedef struct {
    idcs_code code;
    char idcardid[IDCS_SERIAL_MAX];  /* the serial number ("" = left out) */
    bool has_result;
    const char *status;              /* "1" four elements inconsistent, "2" query succeeded */
    const char *desc;                /* static UTF-8 */
    bool has_flags;
    bool lost, newest, expired;
    int hjzt;                        /* 0, 1, 2 */
} idcs_answer;

/* The answer as compact JSON, no trailing newline:
 * {"code":2,"msg":"提交成功","idcardid":"…","result":{"status":"2","info":
 * {"desc":"查询成功","isLosted":"0","isNewest":"1","isExpired":"0","hjzt":"0"}}}
 * (code a number, everything else strings). NULL when out of memory. */
char *idcs_render_json(const idcs_answer *a, size_t *len);

/* The same fields as elements, with libxml2's xmlwriter:
 * <?xml version="1.0" encoding="utf-8"?><SubmitResult><code>2</code>…
 * </SubmitResult>, no whitespace between elements, no trailing newline.
 * NULL when out of memory. */
char *idcs_render_xml(const idcs_answer *a, size_t *len);

/* The dynamic password: lower-case hex MD5 of account + apikey +
 * "idcardstatus" + name + id_card_no + time, the bytes as given (UTF-8),
 * into out[33]. false when the digest cannot be computed. OPENSSL_cleanse
 * `out` after the comparison. */
bool idcs_dynamic_password(const char *account, size_t account_len, const char *apikey,
                           size_t apikey_len, const char *name, size_t name_len, const char *id,
                           size_t id_len, const char *time, size_t time_len, char out[33]);

#endif
