/*
 * test_idcardstatus.c — unit tests for dialect C's wire format
 * (src/dialects/idcardstatus_wire.c): the seed's code table, its success
 * and failure examples byte for byte in JSON and XML, and the dynamic
 * password with the seed's own example (md5 of
 * "xxxxxxxxxxxxxxxxxidcardstatus张三40122111******1623643787", computed
 * independently with Python's hashlib).
 *
 * Must never: be "fixed" by changing an expected byte without the seed
 * saying so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialects/idcardstatus_wire.h"

static const struct {
    idcs_code c;
    int number;
    const char *msg;
} table[] = {
    {IDCS_UNKNOWN, 0, "未知错误"},
    {IDCS_FAILED, 1, "提交失败"},
    {IDCS_SUBMITTED, 2, "提交成功"},
    {IDCS_ILLEGAL_IP, 400, "非法ip访问"},
    {IDCS_ACCOUNT_EMPTY, 401, "帐号不能为空"},
    {IDCS_PASSWORD_EMPTY, 402, "密码不能为空"},
    {IDCS_NO_APP, 403, "应用不存在"},
    {IDCS_NAME_EMPTY, 404, "姓名不能为空"},
    {IDCS_NAME_FORMAT, 4041, "姓名格式不正确(2-10个中文汉字)"},
    {IDCS_ID_EMPTY, 406, "身份证号码不能为空"},
    {IDCS_ID_FORMAT, 4061, "身份证格式不正确"},
    {IDCS_BAD_KEY, 405, "API ID 或 API KEY 不正确"},
    {IDCS_FROZEN, 4050, "账号被冻结"},
    {IDCS_DYN_EXPIRED, 40501, "动态密码已过期"},
    {IDCS_DYN_WRONG, 40502, "动态密码校验失败"},
    {IDCS_NO_CONTRACT, 40505, "没有签定合同"},
    {IDCS_NO_BALANCE, 4051, "剩余条数不足"},
    {IDCS_IP_NOT_ALLOWED, 4052, "访问 ip 与备案 ip 不符"},
    {IDCS_CHANNEL_INVALID, 4086, "通道无效"},
    {IDCS_CHANNEL_ERROR, 4010, "通道错误"},
};

static void test_code_table(void **state)
{
    (void)state;
    assert_int_equal(sizeof table / sizeof table[0], IDCS__COUNT);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_int_equal(idcs_code_number(table[i].c), table[i].number);
        assert_string_equal(idcs_code_msg(table[i].c), table[i].msg);
        char text[16];
        snprintf(text, sizeof text, "%d", table[i].number);
        assert_string_equal(idcs_code_text(table[i].c), text);
    }
    /* out of range: unknown error, never a crash */
    assert_int_equal(idcs_code_number((idcs_code)999), 0);
}

static idcs_answer seed_success(void)
{
    idcs_answer a;
    memset(&a, 0, sizeof a);
    a.code = IDCS_SUBMITTED;
    strcpy(a.idcardid, "16236437872836");
    a.has_result = true;
    a.status = "2";
    a.desc = "查询成功";
    a.has_flags = true;
    a.lost = false;
    a.newest = true;
    a.expired = false;
    a.hjzt = 0;
    return a;
}

/* Render with `fn` and compare with `want`, byte for byte. */
static void expect(char *(*fn)(const idcs_answer *, size_t *), const idcs_answer *a,
                   const char *want)
{
    size_t len = 0;
    char *got = fn(a, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
}

static void test_seed_success_example(void **state)
{
    (void)state;
    idcs_answer a = seed_success();
    expect(idcs_render_xml, &a,
           "<?xml version=\"1.0\" encoding=\"utf-8\"?><SubmitResult><code>2</code>"
           "<msg>提交成功</msg><idcardid>16236437872836</idcardid><result><status>2</status>"
           "<info><desc>查询成功</desc><isLosted>0</isLosted><isNewest>1</isNewest>"
           "<isExpired>0</isExpired><hjzt>0</hjzt></info></result></SubmitResult>");
    expect(idcs_render_json, &a,
           "{\"code\":2,\"msg\":\"提交成功\",\"idcardid\":\"16236437872836\",\"result\":"
           "{\"status\":\"2\",\"info\":{\"desc\":\"查询成功\",\"isLosted\":\"0\","
           "\"isNewest\":\"1\",\"isExpired\":\"0\",\"hjzt\":\"0\"}}}");
}

static void test_seed_failure_example(void **state)
{
    (void)state;
    idcs_answer a;
    memset(&a, 0, sizeof a);
    a.code = IDCS_FAILED;
    strcpy(a.idcardid, "123"); /* left out: only code 2 carries a serial */
    a.has_result = true;
    expect(idcs_render_xml, &a,
           "<?xml version=\"1.0\" encoding=\"utf-8\"?><SubmitResult><code>1</code>"
           "<msg>提交失败</msg></SubmitResult>");
    expect(idcs_render_json, &a, "{\"code\":1,\"msg\":\"提交失败\"}");
}

static void test_inconsistent_without_card_facts(void **state)
{
    (void)state;
    idcs_answer a = seed_success();
    a.status = "1";
    a.desc = "身份四要素信息不一致";
    a.has_flags = false;
    expect(idcs_render_json, &a,
           "{\"code\":2,\"msg\":\"提交成功\",\"idcardid\":\"16236437872836\",\"result\":"
           "{\"status\":\"1\",\"info\":{\"desc\":\"身份四要素信息不一致\"}}}");
    expect(idcs_render_xml, &a,
           "<?xml version=\"1.0\" encoding=\"utf-8\"?><SubmitResult><code>2</code>"
           "<msg>提交成功</msg><idcardid>16236437872836</idcardid><result><status>1</status>"
           "<info><desc>身份四要素信息不一致</desc></info></result></SubmitResult>");
}

static void test_flags(void **state)
{
    (void)state;
    idcs_answer a = seed_success();
    a.lost = true;
    a.newest = false;
    a.expired = true;
    a.hjzt = 2;
    size_t len = 0;
    char *x = idcs_render_xml(&a, &len);
    assert_non_null(x);
    assert_non_null(strstr(x, "<isLosted>1</isLosted><isNewest>0</isNewest>"
                              "<isExpired>1</isExpired><hjzt>2</hjzt>"));
    free(x);
}

static void test_dynamic_password_seed_vector(void **state)
{
    (void)state;
    char out[33];
    const char *name = "张三";
    assert_true(idcs_dynamic_password("xxxxxxxx", 8, "xxxxxxxxx", 9, name, strlen(name),
                                      "40122111******", 14, "1623643787", 10, out));
    assert_string_equal(out, "5adbe76706a6b108dc0442004196a411");
    /* the demo credentials (docs/dialects.md's example) */
    name = "王伟";
    assert_true(idcs_dynamic_password("demo", 4, "demo-apikey", 11, name, strlen(name),
                                      "110105198503150035", 18, "1795346292", 10, out));
    assert_string_equal(out, "9b9b61c523185f590e766c584df29d15");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_table),
        cmocka_unit_test(test_seed_success_example),
        cmocka_unit_test(test_seed_failure_example),
        cmocka_unit_test(test_inconsistent_without_card_facts),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_dynamic_password_seed_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
