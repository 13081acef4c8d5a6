/*
 * test_audit.c — unit tests of the audit log: the hash chain verifies when
 * intact, a row changed or deleted behind the server's back is reported by
 * id, exports (JSONL and CSV) hold every column with masked identities and
 * linked hashes, time ranges select rows, and purge moves the anchor so
 * the chain still verifies (also across a reopen and new rows).
 *
 * Must never: depend on the working directory or leave files behind (each
 * test has its own mkdtemp directory, removed afterwards).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "tenancy/internal.h"
#include "tenancy/tenancy.h"

typedef struct {
    char dir[64];
    char db[128];
    sm_key key;
    tenancy *t;
    int64_t app;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void open_store(fixture *f)
{
    tn_options o = {.path = f->db, .key = &f->key, .create = true, .busy_timeout_ms = 5000};
    char err[512] = "";
    tn_status st = tenancy_open(&o, &f->t, err, sizeof err);
    if (st != TN_OK)
        fail_msg("tenancy_open: %d: %s", (int)st, err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/shiming-test-audit-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/tenancy.db", f->dir);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        f->key.bytes[i] = (uint8_t)(i * 13 + 1);
    open_store(f);
    tn_app a;
    char err[256];
    if (tenancy_app_create(f->t, "audited", &a, err, sizeof err) != TN_OK)
        return -1;
    f->app = a.id;
    sm_date never = {0, 0, 0};
    if (tenancy_package_add(f->t, a.id, "id2", 100, never, err, sizeof err) != TN_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tenancy_close(f->t);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Record n calls: verdicts cycle match, not_found, invalid_id. */
static void record_n(fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        sm_verdict v = i % 3 == 0 ? SM_VERDICT_MATCH : i % 3 == 1 ? SM_VERDICT_NOT_FOUND
                                                                  : SM_VERDICT_INVALID_ID;
        char rid[32];
        snprintf(rid, sizeof rid, "req-%d", i);
        tn_record r = {
            .app_id = f->app,
            .product = "id2",
            .dialect = "native",
            .request_id = rid,
            .verdict = v,
            .vendor_code = i == 1 ? "E,1 \"q\"" : NULL,
            .id18 = v == SM_VERDICT_INVALID_ID ? NULL : "11010519491231002X",
            .id_raw = v == SM_VERDICT_INVALID_ID ? "11010519491231002" : NULL,
            .name = "阿依古丽·买买提",
            .client_ip = "2001:db8::7",
            .latency_ms = 3.14159,
        };
        assert_true(tenancy_record(f->t, &r) != TN_RECORD_FAILED);
    }
}

static void exec_raw(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
}

static void expect_verify(fixture *f, int64_t rows_want, int64_t broken_want)
{
    int64_t rows = -1, broken = -1;
    assert_int_equal(tenancy_audit_verify(f->t, &rows, &broken), TN_OK);
    assert_int_equal(broken, broken_want);
    if (rows_want >= 0)
        assert_int_equal(rows, rows_want);
}

/* Export to a memory buffer (caller frees). */
static char *export_all(fixture *f, int64_t from, int64_t to, tn_export_format fmt,
                        int64_t *rows)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    assert_int_equal(tenancy_audit_export(f->t, from, to, fmt, mem, rows), TN_OK);
    fclose(mem);
    return buf;
}

static void test_verify_intact(void **state)
{
    fixture *f = *state;
    expect_verify(f, 0, 0); /* an empty log verifies */
    record_n(f, 10);
    expect_verify(f, 10, 0);
    /* The chain head survives a reopen. */
    tenancy_close(f->t);
    open_store(f);
    record_n(f, 5);
    expect_verify(f, 15, 0);
}

static void test_two_writers_one_chain(void **state)
{
    fixture *f = *state;
    /* A second handle on the same store (a CLI beside the server). */
    tn_options o = {.path = f->db, .key = &f->key, .create = false, .busy_timeout_ms = 5000};
    char err[256];
    tenancy *other = NULL;
    assert_int_equal(tenancy_open(&o, &other, err, sizeof err), TN_OK);
    tenancy *mine = f->t;
    for (int i = 0; i < 6; i++) {
        f->t = i % 2 ? other : mine;
        record_n(f, 2);
    }
    f->t = mine;
    tenancy_close(other);
    expect_verify(f, 12, 0);
}

static void test_tamper_detected(void **state)
{
    fixture *f = *state;
    record_n(f, 8);
    expect_verify(f, 8, 0);
    exec_raw(f->db, "UPDATE audit SET verdict = 'mismatch' WHERE id = 4");
    expect_verify(f, -1, 4);
    exec_raw(f->db, "UPDATE audit SET verdict = 'match' WHERE id = 4"); /* back as it was */
    expect_verify(f, 8, 0);
    /* Any column counts, NULL vs empty too. */
    exec_raw(f->db, "UPDATE audit SET vendor_code = '' WHERE id = 3");
    expect_verify(f, -1, 3);
    exec_raw(f->db, "UPDATE audit SET vendor_code = NULL WHERE id = 3");
    expect_verify(f, 8, 0);
    exec_raw(f->db, "UPDATE audit SET charged = 0 WHERE id = 7");
    expect_verify(f, -1, 7);
    exec_raw(f->db, "UPDATE audit SET charged = 1 WHERE id = 7");
    /* A deleted row: the next one no longer links. */
    exec_raw(f->db, "DELETE FROM audit WHERE id = 5");
    expect_verify(f, -1, 6);
}

static void test_export_jsonl(void **state)
{
    fixture *f = *state;
    record_n(f, 3);
    int64_t rows = 0;
    char *out = export_all(f, 0, 0, TN_EXPORT_JSONL, &rows);
    assert_int_equal(rows, 3);
    char prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    char *line = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (o == NULL)
            fail_msg("line %d: %s", i, je.text);
        assert_int_equal(json_object_size(o), 17);
        assert_int_equal(json_integer_value(json_object_get(o, "id")), i + 1);
        assert_int_equal(json_integer_value(json_object_get(o, "app_id")), f->app);
        assert_true(json_integer_value(json_object_get(o, "time")) > 1600000000000LL);
        char rid[16];
        snprintf(rid, sizeof rid, "req-%d", i);
        assert_string_equal(json_string_value(json_object_get(o, "request_id")), rid);
        assert_string_equal(json_string_value(json_object_get(o, "product")), "id2");
        assert_string_equal(json_string_value(json_object_get(o, "dialect")), "native");
        assert_string_equal(json_string_value(json_object_get(o, "client_ip")), "2001:db8::7");
        assert_string_equal(json_string_value(json_object_get(o, "subject_name_masked")),
                            "阿***·***");
        assert_true(json_real_value(json_object_get(o, "latency_ms")) == 3.142);
        const char *verdicts[] = {"match", "not_found", "invalid_id"};
        assert_string_equal(json_string_value(json_object_get(o, "verdict")), verdicts[i]);
        assert_int_equal(json_is_true(json_object_get(o, "charged")), i == 0);
        assert_string_equal(json_string_value(json_object_get(o, "outcome")),
                            i == 0 ? "charged" : "free");
        if (i == 2) {
            assert_true(json_is_null(json_object_get(o, "subject_hash")));
            assert_string_equal(json_string_value(json_object_get(o, "subject_id_masked")),
                                "110**********1002");
        } else {
            assert_int_equal(strlen(json_string_value(json_object_get(o, "subject_hash"))), 64);
            assert_string_equal(json_string_value(json_object_get(o, "subject_id_masked")),
                                "110***********002X");
        }
        if (i == 1)
            assert_string_equal(json_string_value(json_object_get(o, "vendor_code")),
                                "E,1 \"q\"");
        else
            assert_true(json_is_null(json_object_get(o, "vendor_code")));
        assert_string_equal(json_string_value(json_object_get(o, "prev_hash")), prev);
        const char *h = json_string_value(json_object_get(o, "hash"));
        assert_int_equal(strlen(h), 64);
        snprintf(prev, sizeof prev, "%s", h);
        json_decref(o);
        line = nl + 1;
    }
    assert_string_equal(line, "");
    free(out);
    out = export_all(f, 0, 0, TN_EXPORT_JSONL, &rows);
    assert_null(strstr(out, "11010519491231002X"));
    assert_null(strstr(out, "买买提"));
    free(out);

    /* Time ranges: [from, to) in unix seconds. */
    int64_t now = (int64_t)time(NULL);
    out = export_all(f, now + 3600, 0, TN_EXPORT_JSONL, &rows);
    assert_int_equal(rows, 0);
    assert_string_equal(out, "");
    free(out);
    out = export_all(f, now - 3600, now + 3600, TN_EXPORT_JSONL, &rows);
    assert_int_equal(rows, 3);
    free(out);
    out = export_all(f, 0, now - 3600, TN_EXPORT_JSONL, &rows);
    assert_int_equal(rows, 0);
    free(out);
}

static void test_export_csv(void **state)
{
    fixture *f = *state;
    record_n(f, 3);
    int64_t rows = 0;
    char *out = export_all(f, 0, 0, TN_EXPORT_CSV, &rows);
    assert_int_equal(rows, 3);
    const char *header = "id,time,request_id,app_id,product,dialect,verdict,vendor_code,"
                         "charged,outcome,subject_id_masked,subject_name_masked,subject_hash,"
                         "client_ip,latency_ms,prev_hash,hash\r\n";
    assert_memory_equal(out, header, strlen(header));
    int lines = 0;
    for (char *p = out; (p = strstr(p, "\r\n")) != NULL; p += 2)
        lines++;
    assert_int_equal(lines, 4);
    /* The quoted field with a comma and quotes. */
    assert_non_null(strstr(out, ",\"E,1 \"\"q\"\"\","));
    char *row1 = out + strlen(header);
    assert_memory_equal(row1, "1,", 2);
    assert_non_null(strstr(row1, ",req-0,"));
    assert_non_null(strstr(row1, ",id2,native,match,,1,charged,110***********002X,阿***·***,"));
    assert_non_null(strstr(row1, ",2001:db8::7,3.142,0000000000000000000000000000000000000000"
                                 "000000000000000000000000,"));
    /* Row 3: invalid ID, no subject hash (empty field). */
    char *r3 = strstr(out, "\r\n3,");
    assert_non_null(r3);
    assert_non_null(strstr(r3, ",invalid_id,,0,free,110**********1002,阿***·***,,2001:db8::7,"));
    free(out);
}

static void test_purge(void **state)
{
    fixture *f = *state;
    record_n(f, 6);
    int64_t purged = -1;
    /* Nothing is older than yesterday. */
    int64_t now = (int64_t)time(NULL);
    sm_date today;
    int64_t d = tn_china_day(now);
    today.year = (int16_t)(d / 10000);
    today.month = (int8_t)(d / 100 % 100);
    today.day = (int8_t)(d % 100);
    assert_int_equal(tenancy_audit_purge(f->t, today, &purged), TN_OK);
    assert_int_equal(purged, 0);
    expect_verify(f, 6, 0);

    /* Everything is older than the day after tomorrow. */
    int64_t later = tn_china_day(now + 2 * 86400);
    sm_date after = {(int16_t)(later / 10000), (int8_t)(later / 100 % 100),
                     (int8_t)(later % 100)};
    /* Keep the hash of row 6 to check the anchor. */
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    int64_t rows;
    assert_int_equal(tenancy_audit_export(f->t, 0, 0, TN_EXPORT_CSV, mem, &rows), TN_OK);
    fclose(mem);
    char *last = strstr(out, "\r\n6,");
    assert_non_null(last);
    char *end = strstr(last + 2, "\r\n");
    char hash6[65];
    memcpy(hash6, end - 64, 64);
    hash6[64] = '\0';
    free(out);

    assert_int_equal(tenancy_audit_purge(f->t, after, &purged), TN_OK);
    assert_int_equal(purged, 6);
    expect_verify(f, 0, 0);

    /* New rows chain from the anchor, also after a reopen. */
    record_n(f, 2);
    expect_verify(f, 2, 0);
    tenancy_close(f->t);
    open_store(f);
    record_n(f, 2);
    expect_verify(f, 4, 0);
    out = export_all(f, 0, 0, TN_EXPORT_JSONL, &rows);
    assert_int_equal(rows, 4);
    json_t *o = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(o, "prev_hash")), hash6);
    json_decref(o);
    free(out);

    /* Purging everything again (rows 7..10) and reopening with no rows:
     * the head comes from the anchor. */
    assert_int_equal(tenancy_audit_purge(f->t, after, &purged), TN_OK);
    assert_int_equal(purged, 4);
    tenancy_close(f->t);
    open_store(f);
    record_n(f, 1);
    expect_verify(f, 1, 0);
    /* A tampered anchor breaks the first row after it. */
    exec_raw(f->db, "UPDATE audit_anchor SET hash = zeroblob(32)");
    expect_verify(f, -1, 11);

    sm_date bad = {2023, 2, 30};
    assert_int_equal(tenancy_audit_purge(f->t, bad, &purged), TN_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers_one_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
