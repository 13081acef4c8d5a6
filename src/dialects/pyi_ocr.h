/*
 * pyi_ocr.h — the pure pieces of dialect E (seed 004, pyi_ocr.c) that the
 * unit tests reach: the signature, the code table and the answer's
 * rendering in JSON and XML.
 *
 * Thread-safe (no state). Ownership: rendered answers are malloc'ed; the
 * caller zeroes and frees them (they may hold what was read off a card).
 */
#ifndef SHIMING_DIALECTS_PYI_OCR_H
#define SHIMING_DIALECTS_PYI_OCR_H

#include <stdbool.h>
#include <stddef.h>

#include "http/form.h"

/* The seed's codes (10016 does not exist in the seed). */
typedef enum {
    PYI_OK = 10000,
    PYI_NO_APPID = 10001,
    PYI_NO_SIGN = 10002,
    PYI_BAD_SIGN = 10003,
    PYI_TIME_SKEW = 10004,
    PYI_BAD_APPID = 10005,
    PYI_IP_DENIED = 10006,
    PYI_APP_DISABLED = 10007,
    PYI_NO_INTERFACE = 10008,
    PYI_NO_API = 10009,
    PYI_NOT_ORDERED = 10010,
    PYI_EXPIRED = 10011,
    PYI_NOTHING_ORDERED = 10012,
    PYI_PAUSED = 10013,
    PYI_UNKNOWN = 10014,
    PYI_PARAM_COUNT = 10015,
    PYI_TIME_NOT_INT = 10017,
    PYI_NO_UNITS = 10018,
    PYI_INFO = 10019,
    PYI_NO_SUB_INTERFACE = 10020,
    PYI_SERVER_ERROR = 10021,
    PYI_NO_BALANCE = 10022,
} pyi_code;

/* The seed's message of a code ("返回成功", …); for PYI_INFO and
 * PYI_IP_DENIED the text before / around "{@info}" (the caller puts the
 * info in). NULL for a number the seed does not list. */
const char *pyi_code_message(int code);

/* sign = md5(concat over the fields sorted by name (bytes), skipping
 * empty values and "sign", of name + value, then the secret), lower-case
 * hex into out[33]. false when out of memory. */
bool pyi_sign(const form *f, const char *secret, size_t secret_len, char out[33]);

#define PYI_FIELD_TEXT_MAX 256

/* An answer. retdata: with has_retdata the card's fields (front: 姓名, 性别,
 * 民族, 出生, 住址, 公民身份号码; back: 签发机关, 签发日期, 失效日期) and the
 * two statuses; without it "retdata": [] (an empty set) and no statuses. */
typedef struct {
    int codeid;
    const char *message;        /* UTF-8 */
    long long time;             /* the server's clock, rendered as a string */
    bool has_retdata;
    bool back;                  /* the back's keys, else the front's */
    const char *values[6];      /* in the key order above; NULL = "" */
    int idcard_number_type;
    const char *image_status;
} pyi_answer;

char *pyi_render_json(const pyi_answer *a, size_t *len);
char *pyi_render_xml(const pyi_answer *a, size_t *len);

#endif
