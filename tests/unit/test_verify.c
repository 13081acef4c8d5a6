/*
 * test_verify.c — two- and four-element verification against a real SQLite
 * registry in a temporary directory, filled through the writer API: every
 * verdict and the order of the checks, what an id4 match says of the card
 * (lost, newest, expired), long-term cards, the normalisation of the name and
 * the number before they are compared, and that results are zeroed.
 *
 * Must never: depend on the working directory or today's date (every
 * request carries `at`, except the one that checks the default), or leave
 * files behind.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/server_key.h"
#include "registry/registry.h"
#include "verify/verify.h"

static char dir[64];
static registry *reg;

static const sm_date AT = {2026, 1, 1};

/* ---------------------------------------------------------------- people */

/* 17 digits + their check character. */
static void make_id(const char *d17, char out[19])
{
    memcpy(out, d17, 17);
    out[17] = sm_id_check_char(d17);
    out[18] = '\0';
}

static char id_wang[19] = "110105198503150035";  /* 王伟: two cards, the first expired */
static char id_li[19] = "310104199208080025";    /* 李娜: three cards, the middle one lost */
static char id_ayi[19];                          /* 阿依古丽·买买提: long-term, moved out */
static char id_zhao[19];                         /* 赵敏: hukou invalid, check char X */
static char id_absent[19];                       /* valid, never imported */

static sm_date d(int y, int m, int dd)
{
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)dd};
    return r;
}

static void put(reg_writer *w, const char *id, const char *name, reg_hukou hukou, sm_date from,
                sm_date to, bool long_term, bool lost)
{
    reg_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.id18, sizeof row.id18, "%s", id);
    row.name = name;
    row.name_len = strlen(name);
    row.hukou = hukou;
    row.card.valid_from = from;
    if (!long_term)
        row.card.valid_to = to;
    row.card.long_term = long_term;
    row.card.lost = lost;
    snprintf(row.card.authority, sizeof row.card.authority, "%s", "测试市公安局");
    reg_put_result res;
    assert_int_equal(registry_writer_put(w, &row, &res), REG_OK);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/shiming-test-verify-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char key_path[128], db_path[128], err[512];
    snprintf(key_path, sizeof key_path, "%s/server.key", dir);
    snprintf(db_path, sizeof db_path, "%s/registry.db", dir);

    sm_key key;
    if (sm_key_load(key_path, true, &key, NULL, err, sizeof err) != SM_KEY_OK) {
        fprintf(stderr, "key: %s\n", err);
        return -1;
    }
    reg_options opt;
    memset(&opt, 0, sizeof opt);
    opt.path = db_path;
    opt.key = &key;
    opt.create = true;
    opt.readers = 2;
    opt.busy_timeout_ms = 500;
    reg_status st = registry_open(&opt, &reg, err, sizeof err);
    sm_key_clear(&key);
    if (st != REG_OK) {
        fprintf(stderr, "registry: %s\n", err);
        return -1;
    }

    make_id("65010219681102004", id_ayi);
    make_id("44030619900101068", id_zhao);
    make_id("32010219700101003", id_absent);

    reg_writer *w = NULL;
    if (registry_writer_begin(reg, &w) != REG_OK)
        return -1;
    put(w, id_wang, "王伟", REG_HUKOU_VALID, d(2005, 3, 20), d(2015, 3, 20), false, false);
    put(w, id_wang, "王伟", REG_HUKOU_VALID, d(2015, 3, 20), d(2035, 3, 20), false, false);
    put(w, id_li, "李娜", REG_HUKOU_VALID, d(2008, 9, 1), d(2018, 9, 1), false, false);
    put(w, id_li, "李娜", REG_HUKOU_VALID, d(2018, 9, 1), d(2038, 9, 1), false, true);
    put(w, id_li, "李娜", REG_HUKOU_VALID, d(2021, 3, 15), d(2041, 3, 15), false, false);
    put(w, id_ayi, "阿依古丽·买买提", REG_HUKOU_MOVED_OUT, d(1995, 6, 1), d(2015, 6, 1), false,
        false);
    put(w, id_ayi, "阿依古丽·买买提", REG_HUKOU_MOVED_OUT, d(2015, 6, 1), d(0, 0, 0), true,
        false);
    put(w, id_zhao, "赵敏", REG_HUKOU_INVALID, d(2016, 5, 5), d(2026, 5, 5), false, false);
    if (registry_writer_end(w, true) != REG_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    registry_close(reg);
    reg = NULL;
    if (dir[0] != '\0')
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ------------------------------------------------------------- requests */

static verify_request id2(const char *name, const char *id)
{
    verify_request r;
    memset(&r, 0, sizeof r);
    r.name = name;
    r.name_len = strlen(name);
    r.id_number = id;
    r.id_len = strlen(id);
    r.at = AT;
    return r;
}

static verify_request id4(const char *name, const char *id, const char *from, const char *to)
{
    verify_request r = id2(name, id);
    r.valid_from = from;
    r.valid_from_len = strlen(from);
    r.valid_to = to;
    r.valid_to_len = strlen(to);
    return r;
}

static sm_verdict run2(verify_request r, verify_result *out)
{
    verify_id2(reg, &r, out);
    return out->verdict;
}

static sm_verdict run4(verify_request r, verify_result *out)
{
    verify_id4(reg, &r, out);
    return out->verdict;
}

/* ------------------------------------------------------------------ id2 */

static void test_id2_match(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run2(id2("王伟", id_wang), &r), SM_VERDICT_MATCH);
    assert_true(r.found);
    assert_int_equal(r.id_status, SM_ID_OK);
    assert_string_equal(r.id.id18, id_wang);
    assert_int_equal(r.id.age, 40);
    assert_int_equal(r.name_status, SM_NAME_OK);
    assert_string_equal(r.name.text, "王伟");
    assert_int_equal(r.hukou, REG_HUKOU_VALID);
    assert_false(r.card_matched);
    verify_result_clear(&r);

    /* hukou status comes along with the person */
    assert_int_equal(run2(id2("阿依古丽·买买提", id_ayi), &r), SM_VERDICT_MATCH);
    assert_int_equal(r.hukou, REG_HUKOU_MOVED_OUT);
    assert_int_equal(run2(id2("赵敏", id_zhao), &r), SM_VERDICT_MATCH);
    assert_int_equal(r.hukou, REG_HUKOU_INVALID);
    verify_result_clear(&r);
}

static void test_id2_default_reference_date(void **state)
{
    (void)state;
    verify_request q = id2("王伟", id_wang);
    q.at = (sm_date){0, 0, 0}; /* today */
    verify_result r;
    assert_int_equal(run2(q, &r), SM_VERDICT_MATCH);
    assert_true(r.id.age >= 40);
    verify_result_clear(&r);
}

static void test_id2_mismatch(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run2(id2("王芳", id_wang), &r), SM_VERDICT_MISMATCH);
    assert_true(r.found);
    assert_int_equal(r.hukou, REG_HUKOU_VALID);
    /* another registered person's name is not this one's */
    assert_int_equal(run2(id2("李娜", id_wang), &r), SM_VERDICT_MISMATCH);
    /* a Latin name that is valid but not theirs */
    assert_int_equal(run2(id2("WANG WEI", id_wang), &r), SM_VERDICT_MISMATCH);
    verify_result_clear(&r);
}

static void test_id2_not_found(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run2(id2("王伟", id_absent), &r), SM_VERDICT_NOT_FOUND);
    assert_false(r.found);
    assert_int_equal(r.id_status, SM_ID_OK);
    verify_result_clear(&r);
}

static void test_id2_invalid_id(void **state)
{
    (void)state;
    verify_result r;
    char bad[19];
    memcpy(bad, id_wang, sizeof bad);
    bad[17] = bad[17] == '0' ? '1' : '0'; /* wrong check character */
    assert_int_equal(run2(id2("王伟", bad), &r), SM_VERDICT_INVALID_ID);
    assert_int_equal(r.id_status, SM_ID_ERR_CHECKSUM);
    assert_false(r.found);
    assert_int_equal(run2(id2("王伟", "11010519850315"), &r), SM_VERDICT_INVALID_ID);
    assert_int_equal(r.id_status, SM_ID_ERR_LENGTH);
    /* born after the reference date */
    verify_request q = id2("王伟", id_wang);
    q.at = d(1985, 3, 14);
    assert_int_equal(run2(q, &r), SM_VERDICT_INVALID_ID);
    assert_int_equal(r.id_status, SM_ID_ERR_BIRTH_DATE);
    /* the ID number is checked before the name */
    assert_int_equal(run2(id2("张a", bad), &r), SM_VERDICT_INVALID_ID);
    verify_result_clear(&r);
}

static void test_id2_strict_region(void **state)
{
    (void)state;
    char unknown[19];
    make_id("11019919800101001", unknown); /* 110199: in no published list */
    verify_result r;
    verify_request q = id2("王伟", unknown);
    assert_int_equal(run2(q, &r), SM_VERDICT_NOT_FOUND);
    q.strict = true;
    assert_int_equal(run2(q, &r), SM_VERDICT_INVALID_ID);
    assert_int_equal(r.id_status, SM_ID_ERR_REGION);
    verify_result_clear(&r);
}

static void test_id2_invalid_name(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run2(id2("张a", id_wang), &r), SM_VERDICT_INVALID_NAME);
    assert_int_equal(r.name_status, SM_NAME_ERR_MIXED);
    assert_int_equal(r.id_status, SM_ID_OK); /* the number was fine */
    assert_false(r.found);                   /* and the registry never asked */
    assert_int_equal(run2(id2("王", id_wang), &r), SM_VERDICT_INVALID_NAME);
    assert_int_equal(r.name_status, SM_NAME_ERR_TOO_SHORT);
    assert_int_equal(run2(id2("   ", id_wang), &r), SM_VERDICT_INVALID_NAME);
    assert_int_equal(r.name_status, SM_NAME_ERR_EMPTY);
    assert_int_equal(run2(id2("王\xe2\x80\x8b伟", id_wang), &r), SM_VERDICT_INVALID_NAME);
    assert_int_equal(r.name_status, SM_NAME_ERR_CONTROL);
    verify_result_clear(&r);
}

static void test_id2_normalisation(void **state)
{
    (void)state;
    verify_result r;
    /* look-alike dots become the middle dot before the registry compares */
    static const char *const dotted[] = {
        "阿依古丽•买买提",         /* U+2022 bullet */
        "阿依古丽・买买提",        /* U+30FB katakana middle dot */
        "阿依古丽.买买提",          /* ASCII full stop between Han */
        "阿依古丽．买买提",        /* U+FF0E fullwidth full stop */
        "  阿依古丽·买买提\xe3\x80\x80", /* spaces and U+3000 trimmed */
    };
    for (size_t i = 0; i < sizeof dotted / sizeof *dotted; i++) {
        assert_int_equal(run2(id2(dotted[i], id_ayi), &r), SM_VERDICT_MATCH);
        assert_string_equal(r.name.text, "阿依古丽·买买提");
    }
    /* a doubled dot is no name at all */
    assert_int_equal(run2(id2("阿依古丽··买买提", id_ayi), &r), SM_VERDICT_INVALID_NAME);
    assert_int_equal(r.name_status, SM_NAME_ERR_DOT);

    /* the number: spaces trimmed, lower-case x, first-generation 15 digits */
    char spaced[32];
    snprintf(spaced, sizeof spaced, "  %s ", id_wang);
    assert_int_equal(run2(id2("王伟", spaced), &r), SM_VERDICT_MATCH);
    assert_int_equal(id_zhao[17] == 'X', true);
    char lower[19];
    memcpy(lower, id_zhao, sizeof lower);
    lower[17] = 'x';
    assert_int_equal(run2(id2("赵敏", lower), &r), SM_VERDICT_MATCH);
    assert_string_equal(r.id.id18, id_zhao);
    assert_int_equal(run2(id2("王伟", "110105850315003"), &r), SM_VERDICT_MATCH);
    assert_true(r.id.from_15);
    assert_string_equal(r.id.id18, id_wang);
    verify_result_clear(&r);
}

static void test_registry_unavailable(void **state)
{
    (void)state;
    verify_result r;
    verify_request q = id2("王伟", id_wang);
    verify_id2(NULL, &q, &r);
    assert_int_equal(r.verdict, SM_VERDICT_REGISTRY_UNAVAILABLE);
    assert_false(r.found);
    assert_int_equal(r.id_status, SM_ID_OK);
    /* the core's checks still come first */
    q = id2("张a", id_wang);
    verify_id2(NULL, &q, &r);
    assert_int_equal(r.verdict, SM_VERDICT_INVALID_NAME);
    q = id4("王伟", id_wang, "20150320", "20350320");
    verify_id4(NULL, &q, &r);
    assert_int_equal(r.verdict, SM_VERDICT_REGISTRY_UNAVAILABLE);
    q = id4("王伟", id_wang, "20150320", "20360320");
    verify_id4(NULL, &q, &r);
    assert_int_equal(r.verdict, SM_VERDICT_INVALID_PERIOD);
    verify_result_clear(&r);
}

/* ------------------------------------------------------------------ id4 */

static void test_id4_cards(void **state)
{
    (void)state;
    verify_result r;
    /* the newest card */
    assert_int_equal(run4(id4("李娜", id_li, "20210315", "20410315"), &r), SM_VERDICT_MATCH);
    assert_true(r.card_matched);
    assert_true(r.card_newest);
    assert_false(r.card.lost);
    assert_false(r.card_expired);
    assert_int_equal(r.card.valid_from.year, 2021);
    assert_int_equal(r.hukou, REG_HUKOU_VALID);
    assert_string_equal(r.card.authority, "测试市公安局");

    /* the lost card, no longer the newest */
    assert_int_equal(run4(id4("李娜", id_li, "20180901", "20380901"), &r), SM_VERDICT_MATCH);
    assert_true(r.card.lost);
    assert_false(r.card_newest);
    assert_false(r.card_expired);

    /* the first card: expired at the reference date */
    assert_int_equal(run4(id4("李娜", id_li, "20080901", "20180901"), &r), SM_VERDICT_MATCH);
    assert_true(r.card_expired);
    assert_false(r.card_newest);
    assert_false(r.card.lost);

    /* expiry follows `at`; a card is valid on its end date */
    verify_request q = id4("王伟", id_wang, "20150320", "20350320");
    q.at = d(2035, 3, 20);
    assert_int_equal(run4(q, &r), SM_VERDICT_MATCH);
    assert_false(r.card_expired);
    assert_true(r.card_newest);
    q.at = d(2035, 3, 21);
    assert_int_equal(run4(q, &r), SM_VERDICT_MATCH);
    assert_true(r.card_expired);
    verify_result_clear(&r);
}

static void test_id4_long_term(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run4(id4("阿依古丽·买买提", id_ayi, "20150601", "00000000"), &r),
                     SM_VERDICT_MATCH);
    assert_true(r.card.long_term);
    assert_true(r.card_newest);
    assert_false(r.card_expired);
    assert_int_equal(r.hukou, REG_HUKOU_MOVED_OUT);
    assert_int_equal(run4(id4("阿依古丽·买买提", id_ayi, "20150601", "长期"), &r),
                     SM_VERDICT_MATCH);
    assert_true(r.card.long_term);
    /* a dated end never matches a long-term card, nor long-term a dated one */
    assert_int_equal(run4(id4("阿依古丽·买买提", id_ayi, "20150601", "20350601"), &r),
                     SM_VERDICT_MISMATCH);
    assert_true(r.found);
    assert_false(r.card_matched);
    assert_int_equal(run4(id4("阿依古丽·买买提", id_ayi, "19950601", "00000000"), &r),
                     SM_VERDICT_MISMATCH);
    assert_int_equal(run4(id4("阿依古丽·买买提", id_ayi, "19950601", "20150601"), &r),
                     SM_VERDICT_MATCH);
    assert_false(r.card_newest);
    assert_true(r.card_expired);
    verify_result_clear(&r);
}

static void test_id4_mismatch_and_not_found(void **state)
{
    (void)state;
    verify_result r;
    /* lawful dates, but no such card */
    assert_int_equal(run4(id4("王伟", id_wang, "20160320", "20360320"), &r), SM_VERDICT_MISMATCH);
    assert_true(r.found);
    assert_false(r.card_matched);
    /* same begin, another end (both lawful for some age) */
    assert_int_equal(run4(id4("赵敏", id_zhao, "20160505", "20360505"), &r), SM_VERDICT_MISMATCH);
    assert_int_equal(r.hukou, REG_HUKOU_INVALID);
    /* a real card of theirs, but another name */
    assert_int_equal(run4(id4("王芳", id_wang, "20150320", "20350320"), &r), SM_VERDICT_MISMATCH);
    assert_false(r.card_matched);
    assert_true(r.found);
    /* someone else's card */
    assert_int_equal(run4(id4("王伟", id_wang, "20210315", "20410315"), &r), SM_VERDICT_MISMATCH);
    assert_int_equal(run4(id4("王伟", id_absent, "20150320", "20350320"), &r),
                     SM_VERDICT_NOT_FOUND);
    assert_false(r.found);
    verify_result_clear(&r);
}

static void test_id4_invalid_period(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run4(id4("王伟", id_wang, "20150320", "20360320"), &r),
                     SM_VERDICT_INVALID_PERIOD);
    assert_int_equal(r.period_status, SM_PERIOD_ERR_DURATION);
    assert_false(r.found);
    assert_int_equal(run4(id4("王伟", id_wang, "2015-03-20", "20350320"), &r),
                     SM_VERDICT_INVALID_PERIOD);
    assert_int_equal(r.period_status, SM_PERIOD_ERR_FORMAT);
    assert_int_equal(run4(id4("王伟", id_wang, "19800101", "20000101"), &r),
                     SM_VERDICT_INVALID_PERIOD);
    assert_int_equal(r.period_status, SM_PERIOD_ERR_BEGIN_BEFORE_BIRTH);
    assert_int_equal(run4(id4("王伟", id_wang, "20260320", "20460320"), &r),
                     SM_VERDICT_INVALID_PERIOD);
    assert_int_equal(r.period_status, SM_PERIOD_ERR_BEGIN_IN_FUTURE);
    assert_int_equal(run4(id4("王伟", id_wang, "长期", "20350320"), &r),
                     SM_VERDICT_INVALID_PERIOD);
    assert_int_equal(r.period_status, SM_PERIOD_ERR_BEGIN_LONG_TERM);

    /* order: ID number, then name, then period */
    assert_int_equal(run4(id4("张a", id_wang, "20150320", "20360320"), &r),
                     SM_VERDICT_INVALID_NAME);
    assert_int_equal(run4(id4("张a", "123", "20150320", "20360320"), &r), SM_VERDICT_INVALID_ID);
    verify_result_clear(&r);
}

static void test_result_clear_zeroes(void **state)
{
    (void)state;
    verify_result r;
    assert_int_equal(run4(id4("李娜", id_li, "20180901", "20380901"), &r), SM_VERDICT_MATCH);
    verify_result_clear(&r);
    const unsigned char *p = (const unsigned char *)&r;
    for (size_t i = 0; i < sizeof r; i++)
        assert_int_equal(p[i], 0);
    verify_result_clear(NULL); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id2_match),
        cmocka_unit_test(test_id2_default_reference_date),
        cmocka_unit_test(test_id2_mismatch),
        cmocka_unit_test(test_id2_not_found),
        cmocka_unit_test(test_id2_invalid_id),
        cmocka_unit_test(test_id2_strict_region),
        cmocka_unit_test(test_id2_invalid_name),
        cmocka_unit_test(test_id2_normalisation),
        cmocka_unit_test(test_registry_unavailable),
        cmocka_unit_test(test_id4_cards),
        cmocka_unit_test(test_id4_long_term),
        cmocka_unit_test(test_id4_mismatch_and_not_found),
        cmocka_unit_test(test_id4_invalid_period),
        cmocka_unit_test(test_result_clear_zeroes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
