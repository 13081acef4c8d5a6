/*
 * test_import.c — unit tests of the registry import: CSV (quoted fields
 * with commas, CRLF, BOM, multi-line fields, any column order) and JSON
 * Lines, format sniffing, every reject reason with its line number,
 * idempotent re-import, batches that keep a person's rows together, the
 * optional portrait column (paths resolved against the input's folder,
 * every failure a counted reject of the whole row, templates stored next to
 * their rows across batches, idempotent re-import), and the failures that
 * stop a file (no header, unreadable input, locked store).
 *
 * The portrait tests give the import an embedding callback that reads a
 * small text file instead of an image (the face engine itself is tested
 * with real images in tests/blackbox/registry-portrait.test.mjs): what is
 * under test here is the import's handling of the column.
 *
 * Must never: depend on the working directory or leave files behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "registry/import.h"
#include "registry/registry.h"

/* ---------------------------------------------------------------- fixture */

#define MAX_REJECTS 64

typedef struct {
    char file[128];
    uint64_t line;
    char field[32];
    char reason[32];
} seen_reject;

typedef struct {
    char dir[64];
    char db[128];
    sm_key key;
    registry *reg;
    seen_reject rejects[MAX_REJECTS];
    int n_rejects;
    /* three valid identities, born 1985-03-15, 1990-07-01, 2012-02-29 */
    char a[19], b[19], c[19];
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void make_id(const char *digits17, char out[19])
{
    memcpy(out, digits17, 17);
    out[17] = sm_id_check_char(digits17);
    out[18] = '\0';
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/shiming-test-import-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/registry.db", f->dir);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        f->key.bytes[i] = (uint8_t)(200 - i);
    reg_options o = {.path = f->db, .key = &f->key, .create = true, .readers = 2};
    char err[512];
    if (registry_open(&o, &f->reg, err, sizeof err) != REG_OK)
        return -1;
    make_id("11010519850315003", f->a);
    make_id("31010419900701002", f->b);
    make_id("44030520120229001", f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    registry_close(f->reg);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const char *write_input(fixture *f, const char *name, const char *text)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", f->dir, name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    fwrite(text, 1, strlen(text), fp);
    fclose(fp);
    return p;
}

static void on_reject(void *user, const import_reject *rj)
{
    fixture *f = user;
    if (f->n_rejects >= MAX_REJECTS)
        fail_msg("too many rejects");
    seen_reject *s = &f->rejects[f->n_rejects++];
    snprintf(s->file, sizeof s->file, "%s", rj->file);
    s->line = rj->line;
    snprintf(s->field, sizeof s->field, "%s", rj->field);
    snprintf(s->reason, sizeof s->reason, "%s", rj->reason);
}

static import_status run_import(fixture *f, const char *path, size_t batch, import_stats *s)
{
    import_options o = {
        .batch_rows = batch,
        .at = {2026, 1, 1},
        .on_reject = on_reject,
        .reject_user = f,
    };
    char err[512] = "";
    f->n_rejects = 0;
    import_status st = import_file(f->reg, path, &o, s, err, sizeof err);
    if (st != IMPORT_OK)
        print_message("import: %s\n", err);
    return st;
}

static void expect_person(fixture *f, const char *id, const char *name, size_t n_cards,
                          reg_hukou hukou)
{
    reg_person p;
    reg_status st = registry_lookup(f->reg, id, name, strlen(name), &p);
    if (st != REG_OK)
        fail_msg("lookup %s: %s", id, reg_status_message(st));
    if (!p.name_matches)
        fail_msg("name of %s does not match %s", id, name);
    assert_int_equal(p.n_cards, n_cards);
    assert_int_equal(p.hukou, hukou);
}

/* The same six cards as CSV and as JSON Lines. */
static char *sample_csv(const fixture *f, const char *eol, bool bom)
{
    char *buf = malloc(4096);
    snprintf(buf, 4096,
             "%sid_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status%s"
             "%s,王伟,20050320,20150320,\"北京市公安局朝阳分局\",0,0%s"
             "%s,王伟,20150320,20350320,\"北京市公安局, 朝阳分局\",1,0%s"
             "%s,\"欧阳 娜娜\",20080701,20180701,上海市公安局徐汇分局,false,1%s"
             "%s, 欧阳娜娜 ,20180701,20380701,\"上海市公安局\"\"徐汇\"\"分局\",true,1%s"
             "%s,李小龙,20180301,20230301,深圳市公安局南山分局,0,2%s"
             "%s,李小龙,20230301,20280301,深圳市公安局南山分局,0,2%s",
             bom ? "\xEF\xBB\xBF" : "", eol, f->a, eol, f->a, eol, f->b, eol, f->b, eol, f->c, eol,
             f->c, eol);
    return buf;
}

/* ------------------------------------------------------------------ tests */

static void test_csv_lf(void **state)
{
    fixture *f = *state;
    char *text = sample_csv(f, "\n", false);
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "in.csv", text), 0, &s), IMPORT_OK);
    free(text);
    /* "欧阳 娜娜" (inner space) is a name of Han characters with a space:
     * rejected by the core, so b has one card, from line 5. */
    assert_int_equal(s.rows, 6);
    assert_int_equal(f->n_rejects, 1);
    assert_int_equal(f->rejects[0].line, 4);
    assert_string_equal(f->rejects[0].field, "name");
    assert_string_equal(f->rejects[0].reason, "characters");
    assert_int_equal(s.rejected, 1);
    assert_int_equal(s.inserted, 5);
    assert_int_equal(s.updated + s.unchanged, 0);
    assert_int_equal(s.batches, 1);
    assert_true(s.bytes_read > 0 && s.bytes_read == s.bytes_total);
    expect_person(f, f->a, "王伟", 2, REG_HUKOU_VALID);
    expect_person(f, f->b, "欧阳娜娜", 1, REG_HUKOU_MOVED_OUT);
    expect_person(f, f->c, "李小龙", 2, REG_HUKOU_INVALID);
    reg_person p;
    assert_int_equal(registry_lookup(f->reg, f->a, NULL, 0, &p), REG_OK);
    assert_string_equal(p.cards[0].authority, "北京市公安局, 朝阳分局"); /* quoted comma */
    assert_true(p.cards[0].lost);
    assert_false(p.cards[1].lost);
    assert_int_equal(registry_lookup(f->reg, f->b, NULL, 0, &p), REG_OK);
    assert_string_equal(p.cards[0].authority, "上海市公安局\"徐汇\"分局"); /* doubled quotes */
    assert_true(p.cards[0].lost);
}

static void test_csv_crlf_bom_and_reimport(void **state)
{
    fixture *f = *state;
    char *text = sample_csv(f, "\r\n", true);
    const char *path = write_input(f, "in.csv", text);
    free(text);
    import_stats s;
    assert_int_equal(run_import(f, path, 0, &s), IMPORT_OK);
    assert_int_equal(s.rows, 6);
    assert_int_equal(s.inserted, 5);
    assert_int_equal(f->n_rejects, 1);
    assert_int_equal(f->rejects[0].line, 4); /* CRLF counted as one line end */
    expect_person(f, f->a, "王伟", 2, REG_HUKOU_VALID);
    expect_person(f, f->c, "李小龙", 2, REG_HUKOU_INVALID);
    reg_person p;
    assert_int_equal(registry_lookup(f->reg, f->c, NULL, 0, &p), REG_OK);
    assert_string_equal(p.cards[0].authority, "深圳市公安局南山分局"); /* no stray \r */

    /* Idempotent: the same file again changes nothing. */
    assert_int_equal(run_import(f, path, 0, &s), IMPORT_OK);
    assert_int_equal(s.rows, 6);
    assert_int_equal(s.inserted, 0);
    assert_int_equal(s.updated, 0);
    assert_int_equal(s.unchanged, 5);
    assert_int_equal(s.rejected, 1);

    /* Small batches give the same counts. */
    assert_int_equal(run_import(f, path, 1, &s), IMPORT_OK);
    assert_int_equal(s.unchanged, 5);
    reg_stats rs;
    assert_int_equal(registry_stats(f->reg, &rs), REG_OK);
    assert_int_equal(rs.persons, 3);
    assert_int_equal(rs.cards, 5);
}

static void test_jsonl(void **state)
{
    fixture *f = *state;
    char text[4096];
    snprintf(text, sizeof text,
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"issuing_authority\":\"北京市公安局朝阳分局\","
             "\"lost\":false,\"hukou_status\":0}\n"
             "{\"hukou_status\":\"0\",\"lost\":1,\"issuing_authority\":\"北京市公安局, 朝阳分局\","
             "\"valid_to\":\"20350320\",\"valid_from\":\"20150320\",\"name\":\"王伟\","
             "\"id_number\":\"%s\",\"extra\":[1,2]}\r\n"
             "\n"
             "{\"id_number\":\"%s\",\"name\":\"李小龙\",\"valid_from\":\"20180301\","
             "\"valid_to\":\"20230301\",\"issuing_authority\":\"\\u6df1\\u5733\","
             "\"lost\":\"0\",\"hukou_status\":2}\n"
             "{\"id_number\":\"%s\",\"name\":\"李小龙\",\"valid_from\":\"20230301\","
             "\"valid_to\":\"20270301\",\"issuing_authority\":\"深圳\",\"lost\":\"true\","
             "\"hukou_status\":2}\n",
             f->a, f->a, f->c, f->c);
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "in.jsonl", text), 0, &s), IMPORT_OK);
    assert_int_equal(f->n_rejects, 1); /* four years: no such period */
    assert_int_equal(f->rejects[0].line, 5);
    assert_string_equal(f->rejects[0].field, "valid_to");
    assert_string_equal(f->rejects[0].reason, "duration");
    assert_int_equal(s.rows, 4);
    assert_int_equal(s.inserted, 3);
    expect_person(f, f->a, "王伟", 2, REG_HUKOU_VALID);
    expect_person(f, f->c, "李小龙", 1, REG_HUKOU_INVALID);
    reg_person p;
    assert_int_equal(registry_lookup(f->reg, f->a, NULL, 0, &p), REG_OK);
    assert_true(p.cards[0].lost);
    assert_int_equal(registry_lookup(f->reg, f->c, NULL, 0, &p), REG_OK);
    assert_string_equal(p.cards[0].authority, "深圳");

    /* Sniffed without an extension; the same rows are unchanged. */
    assert_int_equal(run_import(f, write_input(f, "noext", text), 0, &s), IMPORT_OK);
    assert_int_equal(s.unchanged, 3);
    assert_int_equal(s.rejected, 1);
}

static void test_long_term_and_15_digits(void **state)
{
    fixture *f = *state;
    /* 15-digit number 110105490101002 -> 110105194901010021; at 55 a card is
     * long-term (00000000 or 长期). */
    char text[1024];
    snprintf(text, sizeof text,
             "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n"
             "110105490101002,张三,20040101,00000000,北京市公安局朝阳分局,0,0\n");
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "old", text), 0, &s), IMPORT_OK);
    assert_int_equal(s.inserted, 1);
    sm_id_info info;
    assert_int_equal(sm_id_parse("110105490101002", 15, NULL, &info), SM_ID_OK);
    reg_person p;
    assert_int_equal(registry_lookup(f->reg, info.id18, "张三", strlen("张三"), &p), REG_OK);
    assert_true(p.name_matches);
    assert_true(p.cards[0].long_term);
}

static void test_reject_reasons_and_lines(void **state)
{
    fixture *f = *state;
    char bad_id[19];
    memcpy(bad_id, f->a, 19);
    bad_id[17] = bad_id[17] == '0' ? '1' : '0'; /* wrong check character */
    char long_field[1500];
    memset(long_field, 'A', sizeof long_field - 1);
    long_field[sizeof long_field - 1] = '\0';
    char *text = malloc(16384);
    snprintf(text, 16384,
             "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n" /* 1 */
             "%s,王伟,20050320,20150320,x,0,0\n"           /* 2 checksum */
             "%s,王1,20050320,20150320,x,0,0\n"            /* 3 name characters */
             "%s,王伟,20050320,20160320,x,0,0\n"           /* 4 valid_to duration */
             "%s,王伟,19800101,19900101,x,0,0\n"           /* 5 valid_from begin_before_birth */
             "%s,王伟,2005-03-20,20150320,x,0,0\n"         /* 6 valid_from format */
             "%s,王伟,20050320,2015032,x,0,0\n"            /* 7 valid_to format */
             "%s,王伟,20150320,20050320,x,0,0\n"           /* 8 valid_to end_before_begin */
             "%s,王伟,20300101,20400101,x,0,0\n"           /* 9 valid_from begin_in_future */
             "%s,王伟,20050320,20150320,x,2,0\n"           /* 10 lost not_boolean */
             "%s,王伟,20050320,20150320,x,0,3\n"           /* 11 hukou not_hukou_status */
             "%s,王伟,20050320,20150320,x,,0\n"            /* 12 lost empty */
             "%s,王伟,20050320,20150320,x,0\n"             /* 13 column_count */
             "%s,王伟,20050320,20150320,x,0,0,extra\n"     /* 14 column_count */
             "%s,\"王伟\"x,20050320,20150320,x,0,0\n"      /* 15 csv_syntax */
             "%s,王伟,20050320,20150320,\"multi\nline\",0,0\n" /* 16-17 authority control */
             "%s,王伟,20050320,20150320,%s,0,0\n"          /* 18 issuing_authority too_long */
             "%s,王伟,20050320,20150320,x,0,0\n"           /* 19 fine */
             "123,王伟,20050320,20150320,x,0,0\n"          /* 20 id length */
             "%s,王伟,20050320,20150320,\"x\xff\",0,0\n"   /* 21 authority encoding */
             "%s,,20050320,20150320,x,0,0\n"               /* 22 name empty */
             "\n"                                          /* 23 blank: skipped */
             "%s,王伟,20050320,20150320,%s,0,0\n",         /* 24 too_long (issuing_authority) */
             bad_id, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a, f->a,
             f->a, f->a, "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三", f->a,
             f->a, f->a, f->a, long_field);
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "bad.csv", text), 0, &s), IMPORT_OK);
    free(text);
    static const struct {
        uint64_t line;
        const char *field, *reason;
    } expect[] = {
        {2, "id_number", "checksum"},
        {3, "name", "characters"},
        {4, "valid_to", "duration"},
        {5, "valid_from", "begin_before_birth"},
        {6, "valid_from", "format"},
        {7, "valid_to", "format"},
        {8, "valid_to", "end_before_begin"},
        {9, "valid_from", "begin_in_future"},
        {10, "lost", "not_boolean"},
        {11, "hukou_status", "not_hukou_status"},
        {12, "lost", "empty"},
        {13, "row", "column_count"},
        {14, "row", "column_count"},
        {15, "row", "csv_syntax"},
        {16, "issuing_authority", "control"},
        {18, "issuing_authority", "too_long"},
        {20, "id_number", "length"},
        {21, "issuing_authority", "encoding"},
        {22, "name", "empty"},
        {24, "issuing_authority", "too_long"},
    };
    size_t n = sizeof expect / sizeof expect[0];
    for (int i = 0; i < f->n_rejects && (size_t)i < n; i++) {
        if (f->rejects[i].line != expect[i].line || strcmp(f->rejects[i].field, expect[i].field) ||
            strcmp(f->rejects[i].reason, expect[i].reason))
            fail_msg("reject %d: got line %llu %s %s, expected line %llu %s %s", i,
                     (unsigned long long)f->rejects[i].line, f->rejects[i].field,
                     f->rejects[i].reason, (unsigned long long)expect[i].line, expect[i].field,
                     expect[i].reason);
        assert_non_null(strstr(f->rejects[i].file, "bad.csv"));
    }
    assert_int_equal(f->n_rejects, n);
    assert_int_equal(s.rejected, n);
    assert_int_equal(s.rows, n + 1); /* every row but the blank line: rejected or stored */
    assert_int_equal(s.inserted, 1); /* line 19, after all those rejects */
    expect_person(f, f->a, "王伟", 1, REG_HUKOU_VALID);
}

static void test_jsonl_rejects(void **state)
{
    fixture *f = *state;
    char text[4096];
    snprintf(text, sizeof text,
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\"\n" /* 1 bad_json */
             "[1,2,3]\n"                                                            /* 2 */
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"lost\":0,\"hukou_status\":0}\n"            /* 3 missing */
             "{\"id_number\":%s,\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"issuing_authority\":\"x\",\"lost\":0,"
             "\"hukou_status\":0}\n"                                                 /* 4 wrong_type */
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"issuing_authority\":\"x\",\"lost\":0,"
             "\"hukou_status\":7}\n"                                                 /* 5 hukou */
             "{\"id_number\":\"%s\",\"id_number\":\"%s\"}\n"                          /* 6 duplicate key */
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"issuing_authority\":\"x\",\"lost\":0,"
             "\"hukou_status\":0}\n",                                                /* 7 fine */
             f->a, f->a, "110105198503150035", f->a, f->a, f->a, f->a);
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "bad.ndjson", text), 0, &s), IMPORT_OK);
    static const struct {
        uint64_t line;
        const char *field, *reason;
    } expect[] = {
        {1, "row", "bad_json"},
        {2, "row", "not_an_object"},
        {3, "issuing_authority", "missing"},
        {4, "id_number", "wrong_type"},
        {5, "hukou_status", "not_hukou_status"},
        {6, "row", "bad_json"},
    };
    size_t n = sizeof expect / sizeof expect[0];
    assert_int_equal(f->n_rejects, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->rejects[i].line, expect[i].line);
        assert_string_equal(f->rejects[i].field, expect[i].field);
        assert_string_equal(f->rejects[i].reason, expect[i].reason);
    }
    assert_int_equal(s.rows, 7);
    assert_int_equal(s.inserted, 1);
}

static void test_header_rules(void **state)
{
    fixture *f = *state;
    char text[2048];
    /* Any column order; unknown columns ignored. */
    snprintf(text, sizeof text,
             "note,hukou_status,lost,issuing_authority,valid_to,valid_from,name,id_number\n"
             "hello,1,0,x,20150320,20050320,王伟,%s\n",
             f->a);
    import_stats s;
    assert_int_equal(run_import(f, write_input(f, "order.csv", text), 0, &s), IMPORT_OK);
    assert_int_equal(s.inserted, 1);
    expect_person(f, f->a, "王伟", 1, REG_HUKOU_MOVED_OUT);

    /* No header: a format error, nothing imported. */
    snprintf(text, sizeof text, "%s,王伟,20050320,20150320,x,0,0\n", f->b);
    char err[512] = "";
    import_options o = {.at = {2026, 1, 1}};
    assert_int_equal(import_file(f->reg, write_input(f, "nohdr.csv", text), &o, &s, err, sizeof err),
                     IMPORT_ERR_FORMAT);
    assert_non_null(strstr(err, "header"));
    assert_null(strstr(err, f->b)); /* the message does not echo the row */
    assert_int_equal(s.inserted, 0);

    /* A column missing from the header. */
    assert_int_equal(import_file(f->reg,
                                 write_input(f, "short.csv", "id_number,name,valid_from\n"), &o,
                                 &s, err, sizeof err),
                     IMPORT_ERR_FORMAT);
    assert_non_null(strstr(err, "valid_to"));

    /* Empty and header-only files: nothing to do, fine. */
    assert_int_equal(import_file(f->reg, write_input(f, "empty.csv", ""), &o, &s, err, sizeof err),
                     IMPORT_OK);
    assert_int_equal(s.rows, 0);
    assert_int_equal(import_file(f->reg,
                                 write_input(f, "hdr.csv",
                                             "id_number,name,valid_from,valid_to,"
                                             "issuing_authority,lost,hukou_status\r\n"),
                                 &o, &s, err, sizeof err),
                     IMPORT_OK);
    assert_int_equal(s.rows, 0);

    /* A missing input file. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.csv", f->dir);
    assert_int_equal(import_file(f->reg, missing, &o, &s, err, sizeof err), IMPORT_ERR_IO);
    assert_non_null(strstr(err, "none.csv"));
}

static void test_batches_keep_a_person_whole(void **state)
{
    fixture *f = *state;
    char text[4096];
    /* a: 3 cards, b: 1, c: 2 (consecutive rows per person). */
    snprintf(text, sizeof text,
             "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n"
             "%s,王伟,20050320,20150320,x,1,0\n"
             "%s,王伟,20060320,20160320,x,0,0\n"
             "%s,王伟,20150320,20350320,x,0,0\n"
             "%s,欧阳娜娜,20080701,20180701,y,0,0\n"
             "%s,李小龙,20180301,20230301,z,0,0\n"
             "%s,李小龙,20230301,20280301,z,0,0\n",
             f->a, f->a, f->a, f->b, f->c, f->c);
    const char *path = write_input(f, "groups.csv", text);
    import_stats s;
    /* batch 2: [a a a] [b c c] — never [a a][a b][c c] */
    assert_int_equal(run_import(f, path, 2, &s), IMPORT_OK);
    assert_int_equal(s.inserted, 6);
    assert_int_equal(s.batches, 2);
    /* batch 1: [a a a] [b] [c c] */
    assert_int_equal(run_import(f, path, 1, &s), IMPORT_OK);
    assert_int_equal(s.unchanged, 6);
    assert_int_equal(s.batches, 3);
    /* batch 4: [a a a b] [c c] */
    assert_int_equal(run_import(f, path, 4, &s), IMPORT_OK);
    assert_int_equal(s.batches, 2);
    expect_person(f, f->a, "王伟", 3, REG_HUKOU_VALID);
    expect_person(f, f->c, "李小龙", 2, REG_HUKOU_VALID);

    /* A rejected row between two rows of a person does not split it. */
    snprintf(text, sizeof text,
             "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n"
             "%s,欧阳娜娜,20080701,20180701,y,0,0\n"
             "%s,王伟,20050320,20150320,x,1,0\n"
             "%s,王伟,20050320,20150320,x,1,9\n"
             "%s,王伟,20060320,20160320,x,0,0\n",
             f->b, f->a, f->a, f->a);
    assert_int_equal(run_import(f, write_input(f, "g2.csv", text), 1, &s), IMPORT_OK);
    assert_int_equal(s.batches, 2); /* [b] [a a] */
    assert_int_equal(s.rejected, 1);
}

static void test_locked_store_fails_the_import(void **state)
{
    fixture *f = *state;
    registry_close(f->reg);
    reg_options o = {.path = f->db, .key = &f->key, .busy_timeout_ms = 200};
    char err[512];
    assert_int_equal(registry_open(&o, &f->reg, err, sizeof err), REG_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM persons;", NULL, NULL, NULL),
                     SQLITE_OK);
    char *text = sample_csv(f, "\n", false);
    import_stats s;
    import_options io = {.at = {2026, 1, 1}};
    assert_int_equal(import_file(f->reg, write_input(f, "in.csv", text), &io, &s, err, sizeof err),
                     IMPORT_ERR_REGISTRY);
    free(text);
    assert_non_null(strstr(err, "registry"));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}

static void test_reject_csv_writer(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/rejects.csv", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    import_reject_csv_header(fp);
    import_reject rj = {"data, \"new\".csv", 42, "name", "characters"};
    import_reject_csv_write(fp, &rj);
    fclose(fp);
    fp = fopen(path, "r");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, "file,line,field,reason\n\"data, \"\"new\"\".csv\",42,name,characters\n");
}

/* ------------------------------------------------------------- portraits */

/* The embedding callback of these tests: the "image" is a text file holding
 * a seed number (the embedding is derived from it), or "noface" /
 * "notimage". */
static void seed_embedding(unsigned seed, float emb[REG_PORTRAIT_DIM])
{
    uint32_t x = seed * 2654435761u + 99u;
    double sum = 0;
    for (int i = 0; i < REG_PORTRAIT_DIM; i++) {
        x = x * 1664525u + 1013904223u;
        emb[i] = (float)((double)(x >> 8) / (double)(1u << 24) - 0.5);
        sum += (double)emb[i] * emb[i];
    }
    for (int i = 0; i < REG_PORTRAIT_DIM; i++)
        emb[i] = (float)(emb[i] / sqrt(sum));
}

static int embed_calls;

static import_embed_status fake_embed(void *user, const char *path, float emb[REG_PORTRAIT_DIM])
{
    (void)user;
    embed_calls++;
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return IMPORT_EMBED_UNREADABLE;
    char buf[32] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (strncmp(buf, "noface", 6) == 0)
        return IMPORT_EMBED_NO_FACE;
    if (strncmp(buf, "notimage", 8) == 0)
        return IMPORT_EMBED_UNSUPPORTED;
    seed_embedding((unsigned)strtoul(buf, NULL, 10), emb);
    return IMPORT_EMBED_OK;
}

static import_status run_import_pt(fixture *f, const char *path, size_t batch, bool embed,
                                   import_stats *s)
{
    import_options o = {
        .batch_rows = batch,
        .at = {2026, 1, 1},
        .on_reject = on_reject,
        .reject_user = f,
        .embed = embed ? fake_embed : NULL,
    };
    char err[512] = "";
    f->n_rejects = 0;
    embed_calls = 0;
    import_status st = import_file(f->reg, path, &o, s, err, sizeof err);
    if (st != IMPORT_OK)
        print_message("import: %s\n", err);
    return st;
}

static void expect_portrait(fixture *f, const char *id, int seed)
{
    float got[REG_PORTRAIT_DIM], want[REG_PORTRAIT_DIM];
    bool has = false;
    reg_status st = registry_portrait_get(f->reg, id, got, &has);
    if (seed < 0) {
        assert_int_equal(st, REG_NOT_FOUND);
        return;
    }
    if (st != REG_OK)
        fail_msg("portrait of %s: %s", id, reg_status_message(st));
    assert_true(has);
    seed_embedding((unsigned)seed, want);
    assert_memory_equal(got, want, sizeof want);
}

static void test_portrait_column(void **state)
{
    fixture *f = *state;
    char sub[128], abs_img[192];
    snprintf(sub, sizeof sub, "%s/faces", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_input(f, "faces/a.txt", "11");
    write_input(f, "faces/noface.txt", "noface");
    write_input(f, "faces/notimage.txt", "notimage");
    snprintf(abs_img, sizeof abs_img, "%s", write_input(f, "b.txt", "22")); /* absolute */
    char e[19], g[19], h[19];
    make_id("11010519700101001", e);
    make_id("11010519700101002", g);
    make_id("11010519700101003", h);
    char text[4096];
    snprintf(text, sizeof text,
             "portrait,id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n"
             "faces/a.txt,%s,王伟,20050320,20150320,x,0,0\n"      /* 2: relative */
             ",%s,王伟,20150320,20350320,x,0,0\n"                 /* 3: same person, none */
             "%s,%s,欧阳娜娜,20080701,20180701,y,0,1\n"            /* 4: absolute */
             "  ,%s,李小龙,20180301,20230301,z,0,2\n"             /* 5: blank = none */
             "faces/missing.txt,%s,张三,20100101,20300101,z,0,0\n" /* 6: unreadable */
             "faces/noface.txt,%s,李四,20100101,20300101,z,0,0\n"  /* 7: no face */
             "faces/notimage.txt,%s,王五,20100101,20300101,z,0,0\n" /* 8: not an image */
             "faces/a.txt,%s,王伟,20050320,20150320,x,0,9\n",     /* 9: identity invalid */
             f->a, f->a, abs_img, f->b, f->c, e, g, h, f->a);
    const char *path = write_input(f, "in.csv", text);
    import_stats s;
    assert_int_equal(run_import_pt(f, path, 0, true, &s), IMPORT_OK);
    assert_int_equal(s.rows, 8);
    assert_int_equal(s.rejected, 4);
    assert_int_equal(s.inserted, 4);
    assert_int_equal(s.portraits, 2);
    assert_int_equal(embed_calls, 5); /* never for an invalid identity */
    assert_int_equal(f->n_rejects, 4);
    static const struct {
        uint64_t line;
        const char *field, *reason;
    } want[] = {{6, "portrait", "unreadable"},
                {7, "portrait", "no_face"},
                {8, "portrait", "unsupported_image"},
                {9, "hukou_status", "not_hukou_status"}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f->rejects[i].line, want[i].line);
        assert_string_equal(f->rejects[i].field, want[i].field);
        assert_string_equal(f->rejects[i].reason, want[i].reason);
    }
    expect_person(f, f->a, "王伟", 2, REG_HUKOU_VALID);
    expect_portrait(f, f->a, 11);
    expect_portrait(f, f->b, 22);
    expect_portrait(f, f->c, -1);
    /* A row whose portrait failed is rejected whole: no person, no card. */
    reg_person p;
    assert_int_equal(registry_lookup(f->reg, e, NULL, 0, &p), REG_NOT_FOUND);
    assert_int_equal(registry_lookup(f->reg, g, NULL, 0, &p), REG_NOT_FOUND);
    reg_stats rs;
    assert_int_equal(registry_stats(f->reg, &rs), REG_OK);
    assert_int_equal(rs.persons, 3);
    assert_int_equal(rs.portraits, 2);

    /* Idempotent: the same file again changes nothing, in any batch size. */
    assert_int_equal(run_import_pt(f, path, 0, true, &s), IMPORT_OK);
    assert_int_equal(s.inserted + s.updated, 0);
    assert_int_equal(s.unchanged, 4);
    assert_int_equal(s.portraits, 2);
    assert_int_equal(run_import_pt(f, path, 1, true, &s), IMPORT_OK);
    assert_int_equal(s.unchanged, 4);

    /* Another picture for a: that row is an update (its card is not). */
    write_input(f, "faces/a.txt", "12");
    assert_int_equal(run_import_pt(f, path, 0, true, &s), IMPORT_OK);
    assert_int_equal(s.updated, 1);
    assert_int_equal(s.unchanged, 3);
    expect_portrait(f, f->a, 12);

    /* Without an embedder (no face engine) every portrait row is rejected
     * with models_missing; the others are imported as before. */
    assert_int_equal(run_import_pt(f, path, 0, false, &s), IMPORT_OK);
    assert_int_equal(s.rejected, 6);
    assert_int_equal(s.unchanged, 2);
    assert_string_equal(f->rejects[0].reason, "models_missing");
    assert_int_equal(f->rejects[0].line, 2);
    expect_portrait(f, f->a, 12); /* untouched */
}

static void test_portrait_jsonl(void **state)
{
    fixture *f = *state;
    write_input(f, "a.txt", "31");
    char text[4096];
    snprintf(text, sizeof text,
             "{\"id_number\":\"%s\",\"name\":\"王伟\",\"valid_from\":\"20050320\","
             "\"valid_to\":\"20150320\",\"issuing_authority\":\"x\",\"lost\":false,"
             "\"hukou_status\":0,\"portrait\":\"a.txt\"}\n"
             "{\"id_number\":\"%s\",\"name\":\"欧阳娜娜\",\"valid_from\":\"20080701\","
             "\"valid_to\":\"20180701\",\"issuing_authority\":\"y\",\"lost\":false,"
             "\"hukou_status\":0,\"portrait\":null}\n"
             "{\"id_number\":\"%s\",\"name\":\"李小龙\",\"valid_from\":\"20180301\","
             "\"valid_to\":\"20230301\",\"issuing_authority\":\"z\",\"lost\":false,"
             "\"hukou_status\":0,\"portrait\":7}\n",
             f->a, f->b, f->c);
    import_stats s;
    assert_int_equal(run_import_pt(f, write_input(f, "in.jsonl", text), 0, true, &s),
                     IMPORT_OK);
    assert_int_equal(s.inserted, 2);
    assert_int_equal(s.portraits, 1);
    assert_int_equal(f->n_rejects, 1);
    assert_int_equal(f->rejects[0].line, 3);
    assert_string_equal(f->rejects[0].field, "portrait");
    assert_string_equal(f->rejects[0].reason, "wrong_type");
    expect_portrait(f, f->a, 31);
    expect_portrait(f, f->b, -1);
}

/* More portraits than one batch holds, interleaved with rows without one
 * and persons with several cards: each template lands on its own person
 * (the batch is sorted by id hash; the templates follow their rows). */
static void test_portrait_many_batches(void **state)
{
    fixture *f = *state;
    enum { N = 1500 };
    size_t cap = (size_t)N * 2 * 120 + 128;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "id_number,name,valid_from,valid_to,"
                                             "issuing_authority,lost,hukou_status,portrait\n");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/p", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    static char ids[N][19];
    for (int i = 0; i < N; i++) {
        char d17[18];
        unsigned u = (unsigned)i;
        snprintf(d17, sizeof d17, "1101051980%02u%02u%03u", 1 + u % 12, 1 + u / 12 % 28,
                 (u / 336 + 100) % 1000);
        make_id(d17, ids[i]);
        char img[32] = "";
        if (i % 5 != 3) {
            char name[32], num[16];
            snprintf(name, sizeof name, "p/%d.txt", i);
            snprintf(num, sizeof num, "%d", 1000 + i);
            write_input(f, name, num);
            snprintf(img, sizeof img, "p/%d.txt", i);
        }
        len += (size_t)snprintf(text + len, cap - len, "%s,王伟,20050320,20150320,x,0,0,%s\n",
                                ids[i], i % 7 == 0 ? "" : img);
        if (i % 7 == 0) /* a second card, with the portrait on it */
            len += (size_t)snprintf(text + len, cap - len,
                                    "%s,王伟,20150320,20350320,x,0,0,%s\n", ids[i], img);
    }
    const char *path = write_input(f, "many.csv", text);
    free(text);
    import_stats s;
    assert_int_equal(run_import_pt(f, path, 0, true, &s), IMPORT_OK);
    assert_int_equal(s.rejected, 0);
    assert_true(s.batches >= 2); /* 1200 templates: more than one batch holds */
    reg_stats rs;
    assert_int_equal(registry_stats(f->reg, &rs), REG_OK);
    assert_int_equal(rs.persons, N);
    assert_int_equal(rs.portraits, s.portraits);
    for (int i = 0; i < N; i++)
        expect_portrait(f, ids[i], i % 5 != 3 ? 1000 + i : -1);
    assert_int_equal(run_import_pt(f, path, 300, true, &s), IMPORT_OK);
    assert_int_equal(s.inserted + s.updated, 0);
}

static void test_format_for_path(void **state)
{
    (void)state;
    assert_int_equal(import_format_for_path("a.csv"), IMPORT_FORMAT_CSV);
    assert_int_equal(import_format_for_path("dir.x/A.CSV"), IMPORT_FORMAT_CSV);
    assert_int_equal(import_format_for_path("a.jsonl"), IMPORT_FORMAT_JSONL);
    assert_int_equal(import_format_for_path("a.ndjson"), IMPORT_FORMAT_JSONL);
    assert_int_equal(import_format_for_path("a.txt"), IMPORT_FORMAT_AUTO);
    assert_int_equal(import_format_for_path("dir.csv/data"), IMPORT_FORMAT_AUTO);
    assert_int_equal(import_format_for_path("-"), IMPORT_FORMAT_AUTO);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_csv_lf),
        T(test_csv_crlf_bom_and_reimport),
        T(test_jsonl),
        T(test_long_term_and_15_digits),
        T(test_reject_reasons_and_lines),
        T(test_jsonl_rejects),
        T(test_header_rules),
        T(test_batches_keep_a_person_whole),
        T(test_locked_store_fails_the_import),
        T(test_reject_csv_writer),
        T(test_portrait_column),
        T(test_portrait_jsonl),
        T(test_portrait_many_batches),
        cmocka_unit_test(test_format_for_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
