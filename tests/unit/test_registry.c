/*
 * test_registry.c — unit tests of the SQLite registry: upserts (inserted,
 * updated, unchanged), card order, the lost flag, lookups with and without
 * the right name, erasure, stats, the key fingerprint check, migration of a
 * version-1 store, portrait templates (round trip, idempotent puts, a
 * template moved to another person does not decrypt, erasure, no embedding
 * bytes in the file, upgrade of a version-2 store), no plaintext identity
 * in the file bytes, whole batches
 * for concurrent readers, and REG_UNAVAILABLE (locked, missing, not a
 * database) within the busy timeout.
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
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/server_key.h"
#include "registry/registry.h"

/* ---------------------------------------------------------------- fixture */

typedef struct {
    char dir[64];
    char db[128];
    sm_key key;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/shiming-test-reg-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/registry.db", f->dir);
    for (int i = 0; i < SM_KEY_BYTES; i++)
        f->key.bytes[i] = (uint8_t)(i * 11 + 5);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static registry *open_store(fixture *f, const sm_key *key, bool create, unsigned busy_ms)
{
    reg_options o = {.path = f->db, .key = key, .create = create, .readers = 2,
                     .busy_timeout_ms = busy_ms};
    registry *r = NULL;
    char err[512] = "";
    reg_status st = registry_open(&o, &r, err, sizeof err);
    if (st != REG_OK)
        fail_msg("registry_open: %d: %s", (int)st, err);
    return r;
}

/* A valid ID number from 17 digits. */
static void make_id(const char *digits17, char out[19])
{
    memcpy(out, digits17, 17);
    out[17] = sm_id_check_char(digits17);
    out[18] = '\0';
}

static sm_date date(const char *yyyymmdd)
{
    sm_date d;
    if (!sm_date_parse_compact(yyyymmdd, 8, &d))
        fail_msg("bad date %s", yyyymmdd);
    return d;
}

static reg_row row_of(const char *id18, const char *name, const char *from, const char *to,
                      const char *authority, bool lost, reg_hukou hukou)
{
    reg_row r;
    memset(&r, 0, sizeof r);
    memcpy(r.id18, id18, 19);
    r.name = name;
    r.name_len = strlen(name);
    r.hukou = hukou;
    r.card.valid_from = date(from);
    if (to == NULL)
        r.card.long_term = true;
    else
        r.card.valid_to = date(to);
    r.card.lost = lost;
    snprintf(r.card.authority, sizeof r.card.authority, "%s", authority);
    return r;
}

static reg_put_result put(reg_writer *w, const reg_row *row)
{
    reg_put_result res = (reg_put_result)-1;
    assert_int_equal(registry_writer_put(w, row, &res), REG_OK);
    return res;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The database file and its WAL, concatenated. */
static unsigned char *read_store_bytes(const char *db, size_t *len)
{
    unsigned char *all = NULL;
    size_t n = 0;
    const char *suffixes[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", db, suffixes[i]);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL)
            continue;
        unsigned char buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
            unsigned char *grown = realloc(all, n + got);
            assert_non_null(grown);
            all = grown;
            memcpy(all + n, buf, got);
            n += got;
        }
        fclose(fp);
    }
    *len = n;
    return all;
}

static bool bytes_contain(const unsigned char *hay, size_t n, const void *needle, size_t m)
{
    return memmem(hay, n, needle, m) != NULL;
}

/* ------------------------------------------------------------------ tests */

static void test_open_creates_store(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    assert_int_equal(registry_store_version(r), registry_schema_version());
    assert_true(registry_schema_version() >= 2);
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 0);
    assert_int_equal(s.cards, 0);
    char fp[17];
    sm_key_fingerprint(&f->key, fp);
    assert_string_equal(s.key_fingerprint, fp);
    assert_int_equal(s.schema_version, registry_schema_version());
    registry_close(r);

    /* WAL mode, recorded in the file; the file is private. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    struct stat sb;
    assert_int_equal(stat(f->db, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);

    /* Opening again: same version, nothing re-applied. */
    r = open_store(f, &f->key, false, 0);
    assert_int_equal(registry_store_version(r), registry_schema_version());
    registry_close(r);
}

static void test_upsert_results(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char id[19];
    make_id("11010519491231002", id);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);

    reg_row a = row_of(id, "张三", "20050101", "20250101", "北京市公安局朝阳分局", false,
                       REG_HUKOU_VALID);
    assert_int_equal(put(w, &a), REG_PUT_INSERTED);   /* new person, new card */
    assert_int_equal(put(w, &a), REG_PUT_UNCHANGED);  /* the same row again */

    reg_row b = a;
    b.card.valid_from = date("20150601");
    b.card.long_term = true;
    assert_int_equal(put(w, &b), REG_PUT_INSERTED);   /* a second card */
    assert_int_equal(put(w, &b), REG_PUT_UNCHANGED);
    assert_int_equal(registry_writer_commit(w), REG_OK);

    reg_row c = a;
    snprintf(c.card.authority, sizeof c.card.authority, "北京市公安局东城分局");
    assert_int_equal(put(w, &c), REG_PUT_UPDATED);    /* the card's authority changed */
    c.card.lost = true;
    assert_int_equal(put(w, &c), REG_PUT_UPDATED);    /* reported lost */
    c.hukou = REG_HUKOU_MOVED_OUT;
    assert_int_equal(put(w, &c), REG_PUT_UPDATED);    /* the person's hukou changed */
    reg_row d = c;
    d.name = "张四";
    d.name_len = strlen(d.name);
    assert_int_equal(put(w, &d), REG_PUT_UPDATED);    /* the person's name changed */
    assert_int_equal(put(w, &d), REG_PUT_UNCHANGED);
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    /* A new writer (no cache): the same rows are unchanged. */
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    assert_int_equal(put(w, &d), REG_PUT_UNCHANGED);
    reg_row b2 = b;
    b2.name = "张四";
    b2.name_len = strlen(b2.name);
    b2.hukou = REG_HUKOU_MOVED_OUT;
    assert_int_equal(put(w, &b2), REG_PUT_UNCHANGED);
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    reg_person p;
    assert_int_equal(registry_lookup(r, id, "张四", strlen("张四"), &p), REG_OK);
    assert_true(p.name_matches);
    assert_int_equal(p.hukou, REG_HUKOU_MOVED_OUT);
    assert_int_equal(p.n_cards, 2);
    assert_int_equal(registry_lookup(r, id, "张三", strlen("张三"), &p), REG_OK);
    assert_false(p.name_matches);

    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 1);
    assert_int_equal(s.cards, 2);
    assert_int_equal(s.lost_cards, 1);
    assert_int_equal(s.hukou[REG_HUKOU_MOVED_OUT], 1);
    registry_close(r);
}

static void test_cards_newest_first(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char id[19];
    make_id("31010419620927690", id);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    /* Put out of order: 2004 (lost), 2024 long-term, 1984 first generation, 2014. */
    const char *from[] = {"20040301", "20240301", "19840301", "20140301"};
    const char *to[] = {"20240301", NULL, "20040301", "20340301"};
    for (int i = 0; i < 4; i++) {
        reg_row row = row_of(id, "欧阳娜娜", from[i], to[i], "上海市公安局徐汇分局", i == 0,
                             REG_HUKOU_VALID);
        assert_int_equal(put(w, &row), REG_PUT_INSERTED);
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    reg_person p;
    assert_int_equal(registry_lookup(r, id, "欧阳娜娜", strlen("欧阳娜娜"), &p), REG_OK);
    assert_true(p.name_matches);
    assert_int_equal(p.n_cards, 4);
    const char *expect[] = {"20240301", "20140301", "20040301", "19840301"};
    for (int i = 0; i < 4; i++) {
        char got[9];
        sm_date_format_compact(p.cards[i].valid_from, got);
        assert_string_equal(got, expect[i]);
        assert_string_equal(p.cards[i].authority, "上海市公安局徐汇分局");
    }
    assert_true(p.cards[0].long_term);
    assert_int_equal(p.cards[0].valid_to.year, 0);
    assert_false(p.cards[1].long_term);
    assert_int_equal(p.cards[1].valid_to.year, 2034);
    assert_false(p.cards[0].lost);
    assert_true(p.cards[2].lost); /* the 2004 card */
    assert_false(p.cards[3].lost);

    /* name NULL: no name check */
    assert_int_equal(registry_lookup(r, id, NULL, 0, &p), REG_OK);
    assert_false(p.name_matches);
    assert_int_equal(p.n_cards, 4);
    registry_close(r);
}

static void test_more_cards_than_kept(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char id[19];
    make_id("11010519800101001", id);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int y = 1990; y < 1990 + REG_MAX_CARDS + 4; y++) {
        char from[9], to[9];
        snprintf(from, sizeof from, "%04d0101", y);
        snprintf(to, sizeof to, "%04d0101", y + 10);
        reg_row row = row_of(id, "李娜", from, to, "x", false, REG_HUKOU_VALID);
        assert_int_equal(put(w, &row), REG_PUT_INSERTED);
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    reg_person p;
    assert_int_equal(registry_lookup(r, id, "李娜", strlen("李娜"), &p), REG_OK);
    assert_int_equal(p.n_cards, REG_MAX_CARDS);
    assert_int_equal(p.cards[0].valid_from.year, 1990 + REG_MAX_CARDS + 3); /* the newest kept */
    registry_close(r);
}

static void test_lookup_not_found_and_name_binding(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char a[19], b[19];
    make_id("11010519491231002", a);
    make_id("44030519900101123", b);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    reg_row ra = row_of(a, "王伟", "20100101", "20300101", "x", false, REG_HUKOU_VALID);
    put(w, &ra);
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    reg_person p;
    p.n_cards = 99;
    assert_int_equal(registry_lookup(r, b, "王伟", strlen("王伟"), &p), REG_NOT_FOUND);
    assert_int_equal(p.n_cards, 0);
    assert_false(p.name_matches);

    /* Equal names of different people hash differently. */
    uint8_t ha[SM_HASH_BYTES], hb[SM_HASH_BYTES], ia[SM_HASH_BYTES];
    assert_int_equal(registry_hash_name(r, a, "王伟", strlen("王伟"), ha), REG_OK);
    assert_int_equal(registry_hash_name(r, b, "王伟", strlen("王伟"), hb), REG_OK);
    assert_false(sm_hash_equal(ha, hb));
    /* and the ID hash is not the name hash's sub-key */
    assert_int_equal(registry_hash_id(r, a, ia), REG_OK);
    assert_false(sm_hash_equal(ha, ia));
    registry_close(r);
}

static void test_invalid_rows_refused(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char id[19];
    make_id("11010519491231002", id);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    reg_row row = row_of(id, "王伟", "20100101", "20300101", "x", false, REG_HUKOU_VALID);
    reg_put_result res;
    row.hukou = (reg_hukou)3;
    assert_int_equal(registry_writer_put(w, &row, &res), REG_ERR_INVALID);
    row.hukou = REG_HUKOU_VALID;
    row.card.valid_from.month = 13;
    assert_int_equal(registry_writer_put(w, &row, &res), REG_ERR_INVALID);
    row.card.valid_from = date("20100101");
    row.card.valid_to = (sm_date){0, 0, 0};
    assert_int_equal(registry_writer_put(w, &row, &res), REG_ERR_INVALID); /* not long-term */
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 0);
    registry_close(r);
}

static void test_rollback_and_one_writer(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 300);
    char id[19];
    make_id("11010519491231002", id);
    reg_writer *w, *w2;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    /* A second writer on the same registry waits at most the timeout. */
    double t0 = now_ms();
    assert_int_equal(registry_writer_begin(r, &w2), REG_UNAVAILABLE);
    assert_true(now_ms() - t0 < 3000);
    assert_int_equal(registry_delete(r, id), REG_UNAVAILABLE);
    reg_row row = row_of(id, "王伟", "20100101", "20300101", "x", false, REG_HUKOU_VALID);
    put(w, &row);
    assert_int_equal(registry_writer_end(w, false), REG_OK); /* rolled back */
    reg_person p;
    assert_int_equal(registry_lookup(r, id, NULL, 0, &p), REG_NOT_FOUND);
    registry_close(r);
}

static void test_delete_erases(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char ids[40][19];
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int i = 0; i < 40; i++) {
        char d17[18];
        snprintf(d17, sizeof d17, "110105198001%02d%03d", 1 + i % 28, 100 + i);
        make_id(d17, ids[i]);
        for (int c = 0; c < 2; c++) {
            reg_row row = row_of(ids[i], "赵敏", c ? "20100101" : "20000101",
                                 c ? "20300101" : "20100101", "北京市公安局朝阳分局", c == 0,
                                 (reg_hukou)(i % 3));
            put(w, &row);
        }
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    uint8_t victim[SM_HASH_BYTES];
    assert_int_equal(registry_hash_id(r, ids[7], victim), REG_OK);
    size_t n;
    unsigned char *bytes = read_store_bytes(f->db, &n);
    /* The control: before erasure the hash is in the file (so the search
     * below can fail). */
    assert_true(bytes_contain(bytes, n, victim, sizeof victim));
    free(bytes);

    assert_int_equal(registry_delete(r, ids[7]), REG_OK);
    reg_person p;
    assert_int_equal(registry_lookup(r, ids[7], NULL, 0, &p), REG_NOT_FOUND);
    assert_int_equal(registry_delete(r, ids[7]), REG_NOT_FOUND);
    assert_int_equal(registry_lookup(r, ids[8], NULL, 0, &p), REG_OK); /* others stay */
    assert_int_equal(p.n_cards, 2);

    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 39);
    assert_int_equal(s.cards, 78);
    assert_int_equal(s.lost_cards, 39);

    /* Secure delete: no copy of the person's hash is left, WAL included. */
    bytes = read_store_bytes(f->db, &n);
    assert_false(bytes_contain(bytes, n, victim, sizeof victim));
    free(bytes);
    registry_close(r);
    bytes = read_store_bytes(f->db, &n);
    assert_false(bytes_contain(bytes, n, victim, sizeof victim));
    free(bytes);
}

static void test_stats(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int i = 0; i < 30; i++) {
        char d17[18], id[19];
        snprintf(d17, sizeof d17, "440305199001%02d%03d", 1 + i % 28, 200 + i);
        make_id(d17, id);
        for (int c = 0; c <= i % 3; c++) {
            char from[9];
            snprintf(from, sizeof from, "20%02d0101", 10 + c);
            char to[9];
            snprintf(to, sizeof to, "20%02d0101", 20 + c);
            reg_row row = row_of(id, "刘洋", from, to, "深圳市公安局南山分局", c == 1,
                                 i < 20 ? REG_HUKOU_VALID
                                        : (i < 27 ? REG_HUKOU_MOVED_OUT : REG_HUKOU_INVALID));
            put(w, &row);
        }
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 30);
    assert_int_equal(s.cards, 10 * 1 + 10 * 2 + 10 * 3);
    assert_int_equal(s.lost_cards, 20);
    assert_int_equal(s.hukou[0], 20);
    assert_int_equal(s.hukou[1], 7);
    assert_int_equal(s.hukou[2], 3);
    assert_true(s.store_bytes > 4096);
    assert_int_equal(s.schema_version, registry_schema_version());
    registry_close(r);
}

static void test_wrong_key_refused(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    registry_close(r);

    sm_key other = f->key;
    other.bytes[0] ^= 0xff;
    reg_options o = {.path = f->db, .key = &other, .create = true};
    char err[512] = "";
    r = (registry *)1;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_ERR_KEY);
    assert_null(r);
    assert_non_null(strstr(err, "another server key"));
    char fp[17];
    sm_key_fingerprint(&f->key, fp);
    assert_non_null(strstr(err, fp)); /* names the store's fingerprint */

    o.read_only = true;
    o.create = false;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_ERR_KEY);

    /* The right key still opens it, read-only too. */
    o.key = &f->key;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_OK);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_ERR_INVALID);
    char id[19];
    make_id("11010519491231002", id);
    assert_int_equal(registry_delete(r, id), REG_ERR_INVALID);
    reg_person p;
    assert_int_equal(registry_lookup(r, id, NULL, 0, &p), REG_NOT_FOUND);
    registry_close(r);
}

/* Version 1 as shipped: persons, authorities, cards and the migrations
 * table, without meta (no key fingerprint) and without the lost index. */
static const char v1_schema[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
    "INSERT INTO schema_migrations VALUES (1, 1700000000);"
    "CREATE TABLE persons (id INTEGER PRIMARY KEY, id_hash BLOB NOT NULL UNIQUE,"
    "  name_hash BLOB NOT NULL, hukou INTEGER NOT NULL);"
    "CREATE TABLE authorities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE cards (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL,"
    "  authority_id INTEGER NOT NULL REFERENCES authorities(id), lost INTEGER NOT NULL,"
    "  PRIMARY KEY (person_id, valid_from));"
    "INSERT INTO authorities VALUES (1, '北京市公安局朝阳分局');";

static void test_migration_from_v1(void **state)
{
    fixture *f = *state;
    char id[19];
    make_id("11010519491231002", id);

    /* The hashes a v1 store would hold, computed with a scratch store. */
    char scratch[160];
    snprintf(scratch, sizeof scratch, "%s/scratch.db", f->dir);
    reg_options so = {.path = scratch, .key = &f->key, .create = true};
    registry *sr;
    char err[512];
    assert_int_equal(registry_open(&so, &sr, err, sizeof err), REG_OK);
    uint8_t ih[SM_HASH_BYTES], nh[SM_HASH_BYTES];
    assert_int_equal(registry_hash_id(sr, id, ih), REG_OK);
    assert_int_equal(registry_hash_name(sr, id, "王伟", strlen("王伟"), nh), REG_OK);
    registry_close(sr);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO persons VALUES (1, ?1, ?2, 1)", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, ih, sizeof ih, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, nh, sizeof nh, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO cards VALUES (1, 20050101, 20250101, 1, 1);"
                                  "INSERT INTO cards VALUES (1, 20150101, 0, 1, 0);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    registry *r = open_store(f, &f->key, false, 0);
    assert_int_equal(registry_store_version(r), registry_schema_version());
    reg_person p;
    assert_int_equal(registry_lookup(r, id, "王伟", strlen("王伟"), &p), REG_OK);
    assert_true(p.name_matches);
    assert_int_equal(p.hukou, REG_HUKOU_MOVED_OUT);
    assert_int_equal(p.n_cards, 2);
    assert_true(p.cards[0].long_term);
    assert_true(p.cards[1].lost);
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.lost_cards, 1); /* through the index version 2 added */
    char fp[17];
    sm_key_fingerprint(&f->key, fp);
    assert_string_equal(s.key_fingerprint, fp); /* adopted on upgrade */
    registry_close(r);

    /* Every migration recorded once; the new tables exist. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COUNT(*), MAX(version) FROM schema_migrations",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), registry_schema_version());
    assert_int_equal(sqlite3_column_int(st, 1), registry_schema_version());
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'created_at'", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_finalize(st);

    /* A store from a newer program is refused, not touched. */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 0)", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    reg_options o = {.path = f->db, .key = &f->key};
    r = (registry *)1;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_ERR_SCHEMA);
    assert_null(r);
    assert_non_null(strstr(err, "99"));
}

/* ------------------------------------------------------------- portraits */

/* A deterministic L2-normalised "embedding" for seed. */
static void make_embedding(unsigned seed, float emb[REG_PORTRAIT_DIM])
{
    uint32_t x = seed * 2654435761u + 12345u;
    double sum = 0;
    for (int i = 0; i < REG_PORTRAIT_DIM; i++) {
        x = x * 1664525u + 1013904223u;
        emb[i] = (float)((double)(x >> 8) / (double)(1u << 24) - 0.5);
        sum += (double)emb[i] * emb[i];
    }
    for (int i = 0; i < REG_PORTRAIT_DIM; i++)
        emb[i] = (float)(emb[i] / sqrt(sum));
}

/* n persons with one card each; those with i % 2 == 0 get a portrait. */
static void fill_with_portraits(registry *r, int n, char ids[][19])
{
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int i = 0; i < n; i++) {
        char d17[18];
        unsigned u = (unsigned)i;
        snprintf(d17, sizeof d17, "3201021990%02u%02u%03u", 1 + u % 12, 1 + u % 28,
                 (400 + u) % 1000);
        make_id(d17, ids[i]);
        reg_row row = row_of(ids[i], "周杰", "20150101", "20350101", "南京市公安局玄武分局",
                             false, REG_HUKOU_VALID);
        put(w, &row);
        if (i % 2 == 0) {
            uint8_t h[SM_HASH_BYTES];
            float emb[REG_PORTRAIT_DIM];
            assert_int_equal(registry_hash_id(r, ids[i], h), REG_OK);
            make_embedding((unsigned)i, emb);
            reg_put_result res = (reg_put_result)-1;
            assert_int_equal(registry_writer_put_portrait(w, h, emb, &res), REG_OK);
            assert_int_equal(res, REG_PUT_INSERTED);
        }
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);
}

static void test_portrait_round_trip(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char ids[10][19];
    fill_with_portraits(r, 10, ids);

    float got[REG_PORTRAIT_DIM], want[REG_PORTRAIT_DIM];
    bool has = false;
    for (int i = 0; i < 10; i++) {
        reg_status st = registry_portrait_get(r, ids[i], got, &has);
        assert_true(has);
        if (i % 2 == 0) {
            assert_int_equal(st, REG_OK);
            make_embedding((unsigned)i, want);
            assert_memory_equal(got, want, sizeof want); /* bit-exact */
        } else {
            assert_int_equal(st, REG_NOT_FOUND); /* a person without a template */
        }
    }
    char absent[19];
    make_id("32010219900101999", absent);
    has = true;
    assert_int_equal(registry_portrait_get(r, absent, got, &has), REG_NOT_FOUND);
    assert_false(has);
    assert_int_equal(registry_portrait_get(r, absent, got, NULL), REG_NOT_FOUND);

    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 10);
    assert_int_equal(s.portraits, 5);

    /* Idempotent in effect: the same template again is unchanged (its
     * ciphertext differs: a new nonce is never drawn for it), another one
     * is an update, a first one an insert. */
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    uint8_t h[SM_HASH_BYTES];
    reg_put_result res;
    assert_int_equal(registry_hash_id(r, ids[0], h), REG_OK);
    make_embedding(0, want);
    assert_int_equal(registry_writer_put_portrait(w, h, want, &res), REG_OK);
    assert_int_equal(res, REG_PUT_UNCHANGED);
    make_embedding(100, want);
    assert_int_equal(registry_writer_put_portrait(w, h, want, &res), REG_OK);
    assert_int_equal(res, REG_PUT_UPDATED);
    assert_int_equal(registry_hash_id(r, ids[1], h), REG_OK);
    assert_int_equal(registry_writer_put_portrait(w, h, want, &res), REG_OK);
    assert_int_equal(res, REG_PUT_INSERTED);
    want[3] = NAN; /* refused, not stored */
    assert_int_equal(registry_writer_put_portrait(w, h, want, &res), REG_ERR_INVALID);
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    make_embedding(100, want);
    assert_int_equal(registry_portrait_get(r, ids[0], got, NULL), REG_OK);
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(registry_portrait_get(r, ids[1], got, NULL), REG_OK);
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.portraits, 6);

    /* A rolled-back batch leaves no template. */
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    assert_int_equal(registry_hash_id(r, ids[3], h), REG_OK);
    assert_int_equal(registry_writer_put_portrait(w, h, want, &res), REG_OK);
    assert_int_equal(registry_writer_end(w, false), REG_OK);
    assert_int_equal(registry_portrait_get(r, ids[3], got, NULL), REG_NOT_FOUND);
    registry_close(r);
}

/* The template row of one person copied onto another's: it must not
 * decrypt (the id hash is the associated data), and the victim is reported
 * unavailable (a corrupt store), never given the other person's face. */
static void test_portrait_moved_does_not_decrypt(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char ids[4][19];
    fill_with_portraits(r, 4, ids);
    registry_close(r);

    uint8_t ha[SM_HASH_BYTES], hb[SM_HASH_BYTES];
    r = open_store(f, &f->key, false, 0);
    assert_int_equal(registry_hash_id(r, ids[0], ha), REG_OK);
    assert_int_equal(registry_hash_id(r, ids[1], hb), REG_OK); /* no template of its own */
    registry_close(r);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO portraits (id_hash, nonce, sealed)"
                                        " SELECT ?2, nonce, sealed FROM portraits WHERE id_hash = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, ha, sizeof ha, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hb, sizeof hb, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    r = open_store(f, &f->key, false, 0);
    float got[REG_PORTRAIT_DIM], want[REG_PORTRAIT_DIM];
    bool has = false;
    assert_int_equal(registry_portrait_get(r, ids[1], got, &has), REG_UNAVAILABLE);
    assert_true(has);
    for (int i = 0; i < REG_PORTRAIT_DIM; i++)
        assert_true(got[i] == 0.0f); /* nothing of the plaintext handed out */
    make_embedding(0, want);
    assert_int_equal(registry_portrait_get(r, ids[0], got, NULL), REG_OK); /* the original */
    assert_memory_equal(got, want, sizeof want);

    /* Rewriting the victim's template repairs it (the bad row counts as
     * different from anything). */
    reg_writer *w;
    reg_put_result res;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    make_embedding(7, want);
    assert_int_equal(registry_writer_put_portrait(w, hb, want, &res), REG_OK);
    assert_int_equal(res, REG_PUT_UPDATED);
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    assert_int_equal(registry_portrait_get(r, ids[1], got, NULL), REG_OK);
    assert_memory_equal(got, want, sizeof want);
    registry_close(r);

    /* Another server key: the same template does not open either (the
     * store refuses that key at open; the sub-key differs anyway). */
}

static void test_portrait_delete_erases(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char ids[6][19];
    fill_with_portraits(r, 6, ids);

    /* The victim's sealed template as stored. */
    uint8_t h[SM_HASH_BYTES];
    assert_int_equal(registry_hash_id(r, ids[2], h), REG_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT sealed FROM portraits WHERE id_hash = ?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    uint8_t sealed[64];
    assert_true(sqlite3_column_bytes(st, 0) > (int)sizeof sealed);
    memcpy(sealed, sqlite3_column_blob(st, 0), sizeof sealed);
    sqlite3_finalize(st);
    sqlite3_close(db);

    size_t n;
    unsigned char *bytes = read_store_bytes(f->db, &n);
    assert_true(bytes_contain(bytes, n, sealed, sizeof sealed)); /* the control */
    free(bytes);

    assert_int_equal(registry_delete(r, ids[2]), REG_OK);
    float got[REG_PORTRAIT_DIM];
    bool has = true;
    assert_int_equal(registry_portrait_get(r, ids[2], got, &has), REG_NOT_FOUND);
    assert_false(has);
    assert_int_equal(registry_portrait_get(r, ids[4], got, NULL), REG_OK); /* others stay */
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 5);
    assert_int_equal(s.portraits, 2);

    bytes = read_store_bytes(f->db, &n);
    assert_false(bytes_contain(bytes, n, sealed, sizeof sealed));
    free(bytes);

    /* A template whose person never arrived (an interrupted import) is
     * erased by the same call. */
    char lone[19];
    make_id("32010219900101777", lone);
    reg_writer *w;
    reg_put_result res;
    assert_int_equal(registry_hash_id(r, lone, h), REG_OK);
    float emb[REG_PORTRAIT_DIM];
    make_embedding(77, emb);
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    assert_int_equal(registry_writer_put_portrait(w, h, emb, &res), REG_OK);
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    has = true;
    assert_int_equal(registry_portrait_get(r, lone, got, &has), REG_OK);
    assert_false(has);
    assert_int_equal(registry_delete(r, lone), REG_OK);
    assert_int_equal(registry_portrait_get(r, lone, got, NULL), REG_NOT_FOUND);
    assert_int_equal(registry_delete(r, lone), REG_NOT_FOUND);
    registry_close(r);
}

/* The file holds no embedding bytes: neither the floats as the machine
 * holds them nor their little-endian packing (the same here) of any
 * 4-float window of any template. */
static void test_portrait_no_plaintext_in_file(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    char ids[16][19];
    fill_with_portraits(r, 16, ids);
    for (int pass = 0; pass < 2; pass++) {
        size_t n;
        unsigned char *bytes = read_store_bytes(f->db, &n);
        assert_true(bytes_contain(bytes, n, "南京市公安局玄武分局",
                                  strlen("南京市公安局玄武分局"))); /* the control */
        for (int i = 0; i < 16; i += 2) {
            float emb[REG_PORTRAIT_DIM];
            make_embedding((unsigned)i, emb);
            for (int k = 0; k + 4 <= REG_PORTRAIT_DIM; k += 4)
                if (bytes_contain(bytes, n, &emb[k], 4 * sizeof(float)))
                    fail_msg("embedding %d (floats %d..%d) found in the store's bytes", i, k,
                             k + 3);
        }
        free(bytes);
        if (pass == 0)
            registry_close(r);
    }
}

/* Version 2 as shipped (before portraits): v1 plus meta and the lost index. */
static void test_migration_from_v2(void **state)
{
    fixture *f = *state;
    char id[19];
    make_id("11010519491231002", id);
    char scratch[160];
    snprintf(scratch, sizeof scratch, "%s/scratch.db", f->dir);
    reg_options so = {.path = scratch, .key = &f->key, .create = true};
    registry *sr;
    char err[512];
    assert_int_equal(registry_open(&so, &sr, err, sizeof err), REG_OK);
    uint8_t ih[SM_HASH_BYTES], nh[SM_HASH_BYTES];
    assert_int_equal(registry_hash_id(sr, id, ih), REG_OK);
    assert_int_equal(registry_hash_name(sr, id, "王伟", strlen("王伟"), nh), REG_OK);
    registry_close(sr);
    char fp[17];
    sm_key_fingerprint(&f->key, fp);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    char v2[512];
    snprintf(v2, sizeof v2,
             "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "CREATE INDEX cards_lost ON cards (person_id) WHERE lost = 1;"
             "INSERT INTO schema_migrations VALUES (2, 1700000001);"
             "INSERT INTO meta VALUES ('key_fingerprint', '%s');"
             "INSERT INTO meta VALUES ('created_at', '1700000000');",
             fp);
    assert_int_equal(sqlite3_exec(db, v2, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO persons VALUES (1, ?1, ?2, 0)", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, ih, sizeof ih, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, nh, sizeof nh, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO cards VALUES (1, 20150101, 0, 1, 0);", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    /* Read-only refuses the old store (it needs the upgrade first). */
    reg_options ro = {.path = f->db, .key = &f->key, .read_only = true};
    registry *r = NULL;
    assert_int_equal(registry_open(&ro, &r, err, sizeof err), REG_ERR_SCHEMA);

    r = open_store(f, &f->key, false, 0); /* read-write: upgraded in place */
    assert_int_equal(registry_store_version(r), registry_schema_version());
    assert_true(registry_schema_version() >= 3);
    reg_person p;
    assert_int_equal(registry_lookup(r, id, "王伟", strlen("王伟"), &p), REG_OK);
    assert_true(p.name_matches);
    float emb[REG_PORTRAIT_DIM], got[REG_PORTRAIT_DIM];
    bool has = false;
    assert_int_equal(registry_portrait_get(r, id, got, &has), REG_NOT_FOUND);
    assert_true(has);
    reg_writer *w;
    reg_put_result res;
    make_embedding(5, emb);
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    assert_int_equal(registry_writer_put_portrait(w, ih, emb, &res), REG_OK);
    assert_int_equal(res, REG_PUT_INSERTED);
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    assert_int_equal(registry_portrait_get(r, id, got, NULL), REG_OK);
    assert_memory_equal(got, emb, sizeof emb);
    reg_stats s;
    assert_int_equal(registry_stats(r, &s), REG_OK);
    assert_int_equal(s.persons, 1);
    assert_int_equal(s.portraits, 1);
    registry_close(r);

    /* Now current: read-only opens it. */
    assert_int_equal(registry_open(&ro, &r, err, sizeof err), REG_OK);
    assert_int_equal(registry_portrait_get(r, id, got, NULL), REG_OK);
    registry_close(r);
}

static void test_read_only_needs_current_schema(void **state)
{
    fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    reg_options o = {.path = f->db, .key = &f->key, .read_only = true};
    registry *r;
    char err[512];
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_ERR_SCHEMA);
    assert_non_null(strstr(err, "upgrad"));
}

static void test_no_plaintext_in_file(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 0);
    static const char *names[] = {"王伟", "李娜", "欧阳娜娜", "阿卜杜·热合曼", "JOHN SMITH",
                                  "张伟", "刘洋", "陈静"};
    char ids[64][19];
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int i = 0; i < 64; i++) {
        char d17[18];
        snprintf(d17, sizeof d17, "3101041985%02d%02d%03d", 1 + i % 12, 1 + i % 28, 300 + i);
        make_id(d17, ids[i]);
        const char *name = names[i % 8];
        reg_row row = row_of(ids[i], name, "20100101", "20300101", "上海市公安局徐汇分局",
                             false, REG_HUKOU_VALID);
        put(w, &row);
        if (i % 8 == 0)
            assert_int_equal(registry_writer_commit(w), REG_OK);
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);

    for (int pass = 0; pass < 2; pass++) { /* with the WAL open, then after close */
        size_t n;
        unsigned char *bytes = read_store_bytes(f->db, &n);
        assert_true(n > 0);
        /* The control: text that is stored in plaintext is found. */
        assert_true(bytes_contain(bytes, n, "上海市公安局徐汇分局", strlen("上海市公安局徐汇分局")));
        for (int i = 0; i < 64; i++) {
            if (bytes_contain(bytes, n, ids[i], 18))
                fail_msg("ID number %d found in the store's bytes", i);
            if (bytes_contain(bytes, n, ids[i], 17)) /* nor without its check character */
                fail_msg("ID number %d (17 digits) found in the store's bytes", i);
        }
        for (int i = 0; i < 8; i++)
            if (bytes_contain(bytes, n, names[i], strlen(names[i])))
                fail_msg("name '%s' found in the store's bytes", names[i]);
        free(bytes);
        if (pass == 0)
            registry_close(r);
    }
}

static void test_unavailable_when_locked(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 250);
    char id[19];
    make_id("11010519491231002", id);
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    reg_row row = row_of(id, "王伟", "20100101", "20300101", "x", false, REG_HUKOU_VALID);
    put(w, &row);
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    registry_close(r);

    /* Another process (here: connection) holds the store exclusively. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA locking_mode = EXCLUSIVE;"
                                  "BEGIN EXCLUSIVE;"
                                  "UPDATE persons SET hukou = hukou;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    reg_options o = {.path = f->db, .key = &f->key, .busy_timeout_ms = 250};
    char err[512] = "";
    r = (registry *)1;
    double t0 = now_ms();
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);
    double waited = now_ms() - t0;
    assert_null(r);
    assert_non_null(strstr(err, "locked"));
    assert_true(waited >= 150);  /* it did wait for the lock… */
    assert_true(waited < 2500);  /* …but not much past the 250 ms timeout */
    o.read_only = true;
    t0 = now_ms();
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);
    assert_true(now_ms() - t0 < 2500);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK); /* the exclusive lock goes with it */

    /* Open again; now another process holds the write lock: writing gives
     * up after the timeout, reading goes on (WAL: a writer never blocks
     * readers). */
    r = open_store(f, &f->key, false, 250);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE persons SET hukou = 2;", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    t0 = now_ms();
    assert_int_equal(registry_writer_begin(r, &w), REG_UNAVAILABLE);
    waited = now_ms() - t0;
    assert_true(waited >= 150 && waited < 2500);
    t0 = now_ms();
    assert_int_equal(registry_delete(r, id), REG_UNAVAILABLE);
    assert_true(now_ms() - t0 < 2500);
    reg_person p;
    assert_int_equal(registry_lookup(r, id, "王伟", strlen("王伟"), &p), REG_OK);
    assert_true(p.name_matches);
    assert_int_equal(p.hukou, REG_HUKOU_VALID); /* the uncommitted change is not seen */
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* Committed by another connection: seen within the snapshot reuse
     * interval (100 ms, registry_sqlite.c), not necessarily at once. */
    uint64_t seen_after = now_ms();
    do {
        assert_int_equal(registry_lookup(r, id, "王伟", strlen("王伟"), &p), REG_OK);
    } while (p.hukou != REG_HUKOU_INVALID && now_ms() - seen_after < 1000);
    assert_int_equal(p.hukou, REG_HUKOU_INVALID);
    assert_true(now_ms() - seen_after <= 500);
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    registry_close(r);
}

static void test_unavailable_missing_or_garbage(void **state)
{
    fixture *f = *state;
    reg_options o = {.path = f->db, .key = &f->key, .create = false};
    registry *r = (registry *)1;
    char err[512] = "";
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);
    assert_null(r);
    assert_non_null(strstr(err, "does not exist"));
    struct stat sb;
    assert_int_not_equal(stat(f->db, &sb), 0); /* not created */

    o.read_only = true;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);

    /* Not a database. */
    FILE *fp = fopen(f->db, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 300; i++)
        fputs("this is not an SQLite database, just text. ", fp);
    fclose(fp);
    o.read_only = false;
    o.create = true;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);
    assert_non_null(strstr(err, "not a registry database"));
    o.read_only = true;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);

    /* A directory. */
    char dir[160];
    snprintf(dir, sizeof dir, "%s/adir", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    o.path = dir;
    o.read_only = false;
    assert_int_equal(registry_open(&o, &r, err, sizeof err), REG_UNAVAILABLE);
}

/* Readers during writes: a batch adds three cards to one person; a reader
 * must only ever see a multiple of three. */
typedef struct {
    registry *r;
    char id[19];
    atomic_int stop;
    int lookups, torn, errors;
} reader_job;

static void *reader_main(void *arg)
{
    reader_job *j = arg;
    while (!atomic_load(&j->stop)) {
        reg_person p;
        reg_status st = registry_lookup(j->r, j->id, NULL, 0, &p);
        if (st == REG_OK) {
            j->lookups++;
            if (p.n_cards % 3 != 0)
                j->torn++;
        } else if (st != REG_NOT_FOUND) {
            j->errors++;
        }
    }
    return NULL;
}

static void test_readers_see_whole_batches(void **state)
{
    fixture *f = *state;
    registry *r = open_store(f, &f->key, true, 2000);
    reader_job jobs[3];
    pthread_t t[3];
    char id[19];
    make_id("11010519491231002", id);
    for (int i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].r = r;
        memcpy(jobs[i].id, id, 19);
        assert_int_equal(pthread_create(&t[i], NULL, reader_main, &jobs[i]), 0);
    }
    reg_writer *w;
    assert_int_equal(registry_writer_begin(r, &w), REG_OK);
    for (int batch = 0; batch < 5; batch++) {
        for (int c = 0; c < 3; c++) {
            char from[9], to[9];
            snprintf(from, sizeof from, "%04d0101", 1990 + batch * 3 + c);
            snprintf(to, sizeof to, "%04d0101", 2000 + batch * 3 + c);
            reg_row row = row_of(id, "王伟", from, to, "x", false, REG_HUKOU_VALID);
            put(w, &row);
            usleep(20000); /* a reader has time to look mid-batch */
        }
        assert_int_equal(registry_writer_commit(w), REG_OK);
        usleep(20000);
    }
    assert_int_equal(registry_writer_end(w, true), REG_OK);
    int lookups = 0;
    for (int i = 0; i < 3; i++) {
        atomic_store(&jobs[i].stop, 1);
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].torn, 0);
        assert_int_equal(jobs[i].errors, 0);
        lookups += jobs[i].lookups;
    }
    assert_true(lookups > 10); /* the readers did read while the writer wrote */
    reg_person p;
    assert_int_equal(registry_lookup(r, id, NULL, 0, &p), REG_OK);
    assert_int_equal(p.n_cards, 15);
    registry_close(r);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_store),
        T(test_upsert_results),
        T(test_cards_newest_first),
        T(test_more_cards_than_kept),
        T(test_lookup_not_found_and_name_binding),
        T(test_invalid_rows_refused),
        T(test_rollback_and_one_writer),
        T(test_delete_erases),
        T(test_stats),
        T(test_wrong_key_refused),
        T(test_migration_from_v1),
        T(test_read_only_needs_current_schema),
        T(test_no_plaintext_in_file),
        T(test_unavailable_when_locked),
        T(test_unavailable_missing_or_garbage),
        T(test_readers_see_whole_batches),
        T(test_portrait_round_trip),
        T(test_portrait_moved_does_not_decrypt),
        T(test_portrait_delete_erases),
        T(test_portrait_no_plaintext_in_file),
        T(test_migration_from_v2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
