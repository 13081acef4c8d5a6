/*
 * test_verdict.c — unit tests for the verdict vocabulary: its stable names
 * and numbers (stored in audit rows and sent to clients) and the lookup from
 * a name. Must never be "fixed" by renumbering: a failure here means a
 * stored value changed meaning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shiming/shiming.h"

static const struct {
    sm_verdict v;
    int number;
    const char *code;
} table[] = {
    {SM_VERDICT_MATCH, 0, "match"},
    {SM_VERDICT_MISMATCH, 1, "mismatch"},
    {SM_VERDICT_NOT_FOUND, 2, "not_found"},
    {SM_VERDICT_INVALID_ID, 3, "invalid_id"},
    {SM_VERDICT_INVALID_NAME, 4, "invalid_name"},
    {SM_VERDICT_INVALID_PERIOD, 5, "invalid_period"},
    {SM_VERDICT_REGISTRY_UNAVAILABLE, 6, "registry_unavailable"},
    {SM_VERDICT_INVALID_IMAGE, 7, "invalid_image"},
    {SM_VERDICT_NO_FACE, 8, "no_face"},
    {SM_VERDICT_NOT_LIVE, 9, "not_live"},
    {SM_VERDICT_READ, 10, "read"},
};
#define N (sizeof table / sizeof table[0])

static void test_stable_numbers_and_codes(void **state)
{
    (void)state;
    assert_int_equal(SM_VERDICT__COUNT, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal((int)table[i].v, table[i].number);
        assert_string_equal(sm_verdict_code(table[i].v), table[i].code);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < (int)SM_VERDICT__COUNT; i++) {
        const char *code = sm_verdict_code((sm_verdict)i);
        assert_non_null(code);
        sm_verdict v = SM_VERDICT__COUNT;
        assert_true(sm_verdict_from_code(code, &v));
        assert_int_equal(v, i);
    }
}

static void test_codes_are_distinct_snake_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < N; i++) {
        const char *c = sm_verdict_code(table[i].v);
        assert_true(strlen(c) > 0);
        for (const char *p = c; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(c, sm_verdict_code(table[j].v));
    }
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_null(sm_verdict_code(SM_VERDICT__COUNT));
    assert_null(sm_verdict_code((sm_verdict)(SM_VERDICT__COUNT + 7)));
    assert_null(sm_verdict_code((sm_verdict)-1));
}

static void test_unknown_codes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "MATCH", "Match", "match ", " match", "matc", "matchx",
        "invalid-id", "not found", "ok", "error",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sm_verdict v = SM_VERDICT_NOT_LIVE;
        assert_false(sm_verdict_from_code(bad[i], &v));
        assert_int_equal(v, SM_VERDICT_NOT_LIVE); /* untouched */
    }
    sm_verdict v = SM_VERDICT_NO_FACE;
    assert_false(sm_verdict_from_code(NULL, &v));
    assert_int_equal(v, SM_VERDICT_NO_FACE);
    /* The out-parameter is optional when only membership is asked. */
    assert_true(sm_verdict_from_code("not_found", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stable_numbers_and_codes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_codes_are_distinct_snake_case),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_unknown_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
