/*
 * test_demo.c — unit tests for the demo generator (src/demo/demo.c): the
 * same seed gives the same world, every identity passes the core's checks,
 * card histories obey the card law, the showcase persons are exact, the
 * world looks like a real one (historical codes, minority names, lost cards,
 * hukou 1 and 2), the files hold exactly what the generator made, and every
 * case's expected verdict is what the core and the registry actually say.
 *
 * Must never: depend on today's date, leave files behind (each test that
 * writes uses its own temporary directory and removes it), or pass when the
 * property it names is broken.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <shiming/shiming.h>

#include "demo/demo.h"
#include "registry/registry.h"
#include "verify/verify.h"

#define BIG 50000
#define MIDDLE_DOT "\xc2\xb7"

static const sm_date DEFAULT_AT = {2026, 1, 1};

/* ------------------------------------------------------------ helpers */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Setup and teardown of the tests that write files: *state is a fresh
 * temporary directory, removed afterwards even when the test failed. */
static int tmpdir_setup(void **state)
{
    char *dir = strdup("/tmp/shiming-test-demo.XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int tmpdir_teardown(void **state)
{
    rm_rf(*state);
    free(*state);
    return 0;
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static demo_options opts(uint64_t seed, size_t count)
{
    demo_options o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    o.count = count;
    return o;
}

static sm_date birth_of(const demo_person *p)
{
    sm_date b = {0, 0, 0};
    assert_true(sm_date_parse_compact(p->id18 + 6, 8, &b));
    return b;
}

static void card_dates(const reg_card *c, char from[9], char to[9])
{
    sm_date_format_compact(c->valid_from, from);
    if (c->long_term)
        memcpy(to, "00000000", 9);
    else
        sm_date_format_compact(c->valid_to, to);
}

static bool same_card(const reg_card *a, const reg_card *b)
{
    return sm_date_cmp(a->valid_from, b->valid_from) == 0 && a->long_term == b->long_term &&
           (a->long_term || sm_date_cmp(a->valid_to, b->valid_to) == 0) && a->lost == b->lost &&
           strcmp(a->authority, b->authority) == 0;
}

static bool same_person(const demo_person *a, const char *a_name, const demo_person *b)
{
    if (strcmp(a->id18, b->id18) != 0 || strcmp(a_name, b->name) != 0 || a->hukou != b->hukou ||
        a->n_cards != b->n_cards)
        return false;
    for (size_t i = 0; i < a->n_cards; i++)
        if (!same_card(&a->cards[i], &b->cards[i]))
            return false;
    return true;
}

static int days(sm_date d)
{
    /* days since 1970-01-01, for the renewal-window check */
    int y = d.year - (d.month <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int mp = d.month > 2 ? d.month - 3 : d.month + 9;
    int doy = (153 * mp + 2) / 5 + d.day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Every card of p lawful at `at`, consistent with the age at issue, and the
 * history ordered: issue dates strictly increasing; a card still running
 * when the next was issued was lost, long-term (swapped for a second-
 * generation card), or renewed at most six months before its expiry. The
 * showcase's 阿依古丽·买买提 is the one documented exception (an early
 * exchange in 2015, see demo.c). */
static void check_history(const demo_person *p, sm_date at, bool showcase_exception)
{
    sm_date birth = birth_of(p);
    if (p->n_cards < 1)
        fail_msg("%s has no card", p->id18);
    for (size_t i = 0; i < p->n_cards; i++) {
        const reg_card *c = &p->cards[i];
        char from[9], to[9];
        card_dates(c, from, to);
        sm_period per;
        sm_period_status st = sm_period_check(from, 8, to, 8, &birth, &at, &per);
        if (st != SM_PERIOD_OK)
            fail_msg("%s card %s-%s: %s", p->id18, from, to, sm_period_status_code(st));
        if (!per.consistent_with_age)
            fail_msg("%s card %s-%s: %d years at age %d", p->id18, from, to, per.years,
                     per.age_at_issue);
        if (c->authority[0] == '\0' || strstr(c->authority, "公安局") == NULL)
            fail_msg("%s card %s: authority '%s'", p->id18, from, c->authority);
        if (i == 0)
            continue;
        const reg_card *prev = &p->cards[i - 1];
        if (sm_date_cmp(prev->valid_from, c->valid_from) >= 0)
            fail_msg("%s: card %zu not after card %zu", p->id18, i, i - 1);
        if (prev->lost || prev->long_term || showcase_exception)
            continue;
        int early = days(prev->valid_to) - days(c->valid_from);
        if (early > 183)
            fail_msg("%s: card %s issued %d days before the previous one expired", p->id18, from,
                     early);
    }
}

/* ----------------------------------------------------------- the tests */

static void test_same_seed_same_world(void **state)
{
    (void)state;
    demo_options o = opts(42, 3000);
    demo_gen *a = demo_new(&o), *b = demo_new(&o);
    assert_non_null(a);
    assert_non_null(b);
    demo_person pa, pb;
    char name[64];
    size_t n = 0;
    while (demo_next(a, &pa)) {
        snprintf(name, sizeof name, "%s", pa.name); /* valid until the next call on a */
        assert_true(demo_next(b, &pb));
        if (!same_person(&pa, name, &pb))
            fail_msg("person %zu differs: %s %s / %s %s", n, pa.id18, name, pb.id18, pb.name);
        n++;
    }
    assert_false(demo_next(b, &pb));
    assert_int_equal(n, 3000);
    demo_free(a);
    demo_free(b);
}

static void test_other_seed_other_world(void **state)
{
    (void)state;
    demo_options o1 = opts(42, 1000), o2 = opts(43, 1000);
    demo_gen *a = demo_new(&o1), *b = demo_new(&o2);
    demo_person pa, pb;
    size_t same = 0, n = 0;
    while (demo_next(a, &pa) && demo_next(b, &pb)) {
        if (n++ < DEMO_SHOWCASE_COUNT) {
            assert_string_equal(pa.id18, pb.id18); /* the showcase ignores the seed */
            continue;
        }
        same += strcmp(pa.id18, pb.id18) == 0;
    }
    assert_int_equal(n, 1000);
    if (same > 5)
        fail_msg("%zu of 997 persons equal under another seed", same);
    demo_free(a);
    demo_free(b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Valid over 50,000 persons; unique over a million, where the random
 * sequence numbers do collide a few times and must have been redrawn. */
static void test_ids_valid_and_unique(void **state)
{
    (void)state;
    enum { UNIQUE = 1000000 };
    demo_options o = opts(7, UNIQUE);
    demo_gen *g = demo_new(&o);
    assert_non_null(g);
    uint64_t *ids = malloc(sizeof *ids * UNIQUE);
    assert_non_null(ids);
    sm_id_options idopt = {.at = DEFAULT_AT, .strict = true};
    demo_person p;
    size_t n = 0;
    while (demo_next(g, &p)) {
        uint64_t k = 0;
        for (int i = 0; i < 17; i++)
            k = k * 10 + (uint64_t)(p.id18[i] - '0');
        ids[n++] = k;
        if (n > BIG)
            continue;
        sm_id_info info;
        sm_id_status st = sm_id_parse(p.id18, strlen(p.id18), &idopt, &info);
        if (st != SM_ID_OK)
            fail_msg("%s: %s", p.id18, sm_id_status_code(st));
        assert_string_equal(info.id18, p.id18);
        assert_int_equal(info.kind, SM_ID_KIND_RESIDENT);
        assert_true(info.region.known);
        assert_true(info.region.code % 100 != 0);
        unsigned prov = info.region.code / 10000;
        assert_true(prov != 71 && prov != 81 && prov != 82 && prov != 83);
        if (info.age < 10 || info.age > 96 || info.birth.year < 1929)
            fail_msg("%s: age %d", p.id18, info.age);
    }
    assert_int_equal(n, UNIQUE);
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (ids[i - 1] == ids[i])
            fail_msg("duplicate ID number %017llu…", (unsigned long long)ids[i]);
    free(ids);
    demo_free(g);
}

static const char *const compound_surnames[] = {"欧阳", "司马", "诸葛", "上官", "司徒",
                                                "东方", "皇甫", "令狐", "慕容", "夏侯"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_names_realistic(void **state)
{
    (void)state;
    demo_options o = opts(11, BIG);
    demo_gen *g = demo_new(&o);
    char **names = calloc(BIG, sizeof *names);
    assert_non_null(names);
    demo_person p;
    size_t n = 0, minority = 0, compound = 0, single_given = 0;
    while (demo_next(g, &p)) {
        sm_name nm;
        sm_name_status st = sm_name_normalise(p.name, strlen(p.name), &nm);
        if (st != SM_NAME_OK)
            fail_msg("'%s': %s", p.name, sm_name_status_code(st));
        assert_int_equal(nm.kind, SM_NAME_KIND_HAN);
        assert_string_equal(nm.text, p.name); /* handed out in normal form */
        assert_true(nm.chars >= 2 && nm.chars <= SM_NAME_MAX_HAN);
        if (strstr(p.name, MIDDLE_DOT))
            minority++;
        else if (nm.chars == 2)
            single_given++;
        for (size_t i = 0; i < sizeof compound_surnames / sizeof *compound_surnames; i++)
            if (strncmp(p.name, compound_surnames[i], strlen(compound_surnames[i])) == 0)
                compound++;
        names[n++] = strdup(p.name);
    }
    qsort(names, n, sizeof *names, cmp_str);
    size_t dup = 0;
    for (size_t i = 1; i < n; i++)
        dup += strcmp(names[i - 1], names[i]) == 0;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    print_message("minority %zu, compound surnames %zu, single given %zu, repeated names %zu\n",
                  minority, compound, single_given, dup);
    if (minority < BIG * 15 / 1000 || minority > BIG * 50 / 1000)
        fail_msg("%zu minority names of %d: not about 3 %%", minority, BIG);
    if (compound < 20)
        fail_msg("only %zu two-character surnames", compound);
    if (single_given < BIG / 10)
        fail_msg("only %zu one-character given names", single_given);
    if (dup < BIG / 10)
        fail_msg("only %zu repeated names: real names repeat", dup);
    demo_free(g);
}

static void test_card_histories_lawful(void **state)
{
    (void)state;
    static const sm_date ats[] = {{2026, 1, 1}, {2021, 3, 15}, {2099, 12, 31}, {2032, 2, 29}};
    for (size_t k = 0; k < sizeof ats / sizeof *ats; k++) {
        demo_options o = opts(3 + k, k == 0 ? BIG : 10000);
        o.at = ats[k];
        demo_gen *g = demo_new(&o);
        assert_non_null(g);
        demo_person p;
        size_t n = 0;
        while (demo_next(g, &p)) {
            check_history(&p, ats[k], n == 2);
            n++;
        }
        assert_int_equal(n, o.count);
        demo_free(g);
    }
}

static void expect_card(const reg_card *c, const char *from, const char *to, bool lost,
                        const char *authority)
{
    char f[9], t[9];
    card_dates(c, f, t);
    assert_string_equal(f, from);
    assert_string_equal(t, to);
    assert_int_equal(c->long_term, strcmp(to, "00000000") == 0);
    assert_int_equal(c->lost, lost);
    assert_string_equal(c->authority, authority);
}

static void test_showcase_exact(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {0, 1, 7, 0xffffffffffffffffu};
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        demo_options o = opts(seeds[s], 10);
        if (s == 3)
            o.at = (sm_date){2040, 6, 1};
        demo_gen *g = demo_new(&o);
        demo_person p;

        assert_true(demo_next(g, &p));
        assert_string_equal(p.id18, "110105198503150035");
        assert_string_equal(p.name, "王伟");
        assert_int_equal(p.hukou, REG_HUKOU_VALID);
        assert_int_equal(p.n_cards, 2);
        expect_card(&p.cards[0], "20050320", "20150320", false, "北京市公安局朝阳分局");
        expect_card(&p.cards[1], "20150320", "20350320", false, "北京市公安局朝阳分局");

        assert_true(demo_next(g, &p));
        assert_string_equal(p.id18, "310104199208080025");
        assert_string_equal(p.name, "李娜");
        assert_int_equal(p.hukou, REG_HUKOU_VALID);
        assert_int_equal(p.n_cards, 3);
        expect_card(&p.cards[0], "20080901", "20180901", false, "上海市公安局徐汇分局");
        expect_card(&p.cards[1], "20180901", "20380901", true, "上海市公安局徐汇分局");
        expect_card(&p.cards[2], "20210315", "20410315", false, "上海市公安局徐汇分局");

        assert_true(demo_next(g, &p));
        assert_string_equal(p.id18, "650102196811020045");
        assert_string_equal(p.name, "阿依古丽" MIDDLE_DOT "买买提");
        assert_int_equal(p.hukou, REG_HUKOU_VALID);
        assert_int_equal(p.n_cards, 2);
        expect_card(&p.cards[0], "19981020", "20181020", false, "乌鲁木齐市公安局天山区分局");
        expect_card(&p.cards[1], "20150601", "00000000", false, "乌鲁木齐市公安局天山区分局");

        assert_true(demo_next(g, &p));
        assert_string_not_equal(p.id18, "110105198503150035");
        demo_free(g);
    }

    /* fewer persons than the showcase: its first ones */
    demo_options o = opts(5, 2);
    demo_gen *g = demo_new(&o);
    demo_person p;
    assert_true(demo_next(g, &p));
    assert_string_equal(p.name, "王伟");
    assert_true(demo_next(g, &p));
    assert_string_equal(p.name, "李娜");
    assert_false(demo_next(g, &p));
    demo_free(g);
}

static void test_world_looks_real(void **state)
{
    (void)state;
    demo_options o = opts(99, BIG);
    demo_gen *g = demo_new(&o);
    sm_id_options idopt = {.at = DEFAULT_AT};
    demo_person p;
    size_t historical = 0, lost_persons = 0, hukou[3] = {0}, newest_expired = 0, cards = 0,
           child_cards = 0, long_term = 0, lost_newest = 0, n = 0, xinjiang_minority = 0,
           minority = 0;
    while (demo_next(g, &p)) {
        sm_id_info info;
        assert_int_equal(sm_id_parse(p.id18, 18, &idopt, &info), SM_ID_OK);
        historical += info.region.historical;
        hukou[p.hukou]++;
        cards += p.n_cards;
        bool any_lost = false;
        for (size_t i = 0; i < p.n_cards; i++) {
            const reg_card *c = &p.cards[i];
            any_lost |= c->lost;
            long_term += c->long_term;
            if (!c->long_term && c->valid_to.year - c->valid_from.year == 5)
                child_cards++;
        }
        lost_persons += any_lost;
        const reg_card *newest = &p.cards[p.n_cards - 1];
        lost_newest += newest->lost;
        if (!newest->long_term && sm_date_cmp(newest->valid_to, DEFAULT_AT) < 0)
            newest_expired++;
        if (strstr(p.name, MIDDLE_DOT)) {
            minority++;
            xinjiang_minority += info.region.code / 10000 == 65;
        }
        n++;
    }
    print_message("historical %zu, lost %zu, hukou %zu/%zu/%zu, expired %zu, cards %zu, "
                  "5-year %zu, long-term %zu\n",
                  historical, lost_persons, hukou[0], hukou[1], hukou[2], newest_expired, cards,
                  child_cards, long_term);
    if (historical < n * 5 / 100 || historical > n * 15 / 100)
        fail_msg("%zu historical region codes of %zu: not about 10 %%", historical, n);
    if (hukou[1] < n * 12 / 1000 || hukou[1] > n * 30 / 1000)
        fail_msg("%zu hukou 1 of %zu: not about 2 %%", hukou[1], n);
    if (hukou[2] < n * 5 / 1000 || hukou[2] > n * 16 / 1000)
        fail_msg("%zu hukou 2 of %zu: not about 1 %%", hukou[2], n);
    if (lost_persons < n * 5 / 100)
        fail_msg("only %zu persons lost a card", lost_persons);
    if (lost_newest == 0)
        fail_msg("nobody has lost their newest card without a replacement yet");
    if (newest_expired < n / 100)
        fail_msg("only %zu persons hold an expired newest card", newest_expired);
    if (cards < n * 18 / 10)
        fail_msg("%zu cards for %zu persons: card histories too short", cards, n);
    if (child_cards < n / 50)
        fail_msg("only %zu 5-year (children's) cards", child_cards);
    if (long_term < n / 10)
        fail_msg("only %zu long-term cards", long_term);
    if (xinjiang_minority * 2 < minority)
        fail_msg("%zu of %zu minority names from Xinjiang", xinjiang_minority, minority);
    demo_free(g);
}

static void test_bad_options(void **state)
{
    const char *dir = *state;
    assert_null(demo_new(NULL));
    demo_options o = opts(1, 10);
    o.at = (sm_date){2021, 3, 14}; /* before the showcase's last card */
    assert_null(demo_new(&o));
    o.at = (sm_date){2100, 1, 1};
    assert_null(demo_new(&o));
    o.at = (sm_date){2025, 2, 29};
    assert_null(demo_new(&o));
    char err[256] = "";
    assert_false(demo_write_files(&o, dir, err, sizeof err));
    assert_true(err[0] != '\0');

    /* an output "directory" under a regular file */
    char path[1024];
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/sub", dir);
    o = opts(1, 10);
    err[0] = '\0';
    assert_false(demo_write_files(&o, path, err, sizeof err));
    assert_non_null(strstr(err, "file"));
    snprintf(path, sizeof path, "%s/file", dir);
    err[0] = '\0';
    assert_false(demo_write_files(&o, path, err, sizeof err));
    assert_true(err[0] != '\0');

    /* count 0: nobody */
    o = opts(1, 0);
    demo_gen *g = demo_new(&o);
    demo_person p;
    assert_false(demo_next(g, &p));
    demo_free(g);
}

/* Split a CSV line of plain fields (the demo never needs quoting). */
static size_t split_csv(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *s = line;
    while (n < max) {
        fields[n++] = s;
        char *c = strchr(s, ',');
        if (!c)
            break;
        *c = '\0';
        s = c + 1;
    }
    return n;
}

static void test_files_hold_the_world(void **state)
{
    const char *dir = *state;
    char sub1[1024], sub2[1024], sub3[1024];
    snprintf(sub1, sizeof sub1, "%s/a/b", dir); /* parents created too */
    snprintf(sub2, sizeof sub2, "%s/c", dir);
    snprintf(sub3, sizeof sub3, "%s/d", dir);
    demo_options o = opts(5, 2000);
    char err[256] = "";
    if (!demo_write_files(&o, sub1, err, sizeof err))
        fail_msg("%s", err);
    assert_true(demo_write_files(&o, sub2, err, sizeof err));
    demo_options o2 = opts(6, 2000);
    assert_true(demo_write_files(&o2, sub3, err, sizeof err));

    size_t l1, l2, l3, c1, c2, c3;
    char *r1 = read_file(sub1, "registry.csv", &l1), *r2 = read_file(sub2, "registry.csv", &l2),
         *r3 = read_file(sub3, "registry.csv", &l3);
    char *k1 = read_file(sub1, "cases.jsonl", &c1), *k2 = read_file(sub2, "cases.jsonl", &c2),
         *k3 = read_file(sub3, "cases.jsonl", &c3);
    assert_true(l1 == l2 && memcmp(r1, r2, l1) == 0);
    assert_true(c1 == c2 && memcmp(k1, k2, c1) == 0);
    assert_false(l1 == l3 && memcmp(r1, r3, l1) == 0);
    assert_false(c1 == c3 && memcmp(k1, k3, c1) == 0);
    assert_null(memchr(r1, '\r', l1));
    assert_null(memchr(k1, '\r', c1));
    assert_true(l1 > 0 && r1[l1 - 1] == '\n');

    /* row by row, the generator's persons */
    demo_gen *g = demo_new(&o);
    demo_person p;
    char *save = NULL;
    char *line = strtok_r(r1, "\n", &save);
    assert_string_equal(line,
                        "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status");
    size_t rows = 0;
    while (demo_next(g, &p)) {
        for (size_t i = 0; i < p.n_cards; i++) {
            line = strtok_r(NULL, "\n", &save);
            assert_non_null(line);
            char *f[8];
            assert_int_equal(split_csv(line, f, 8), 7);
            char from[9], to[9];
            card_dates(&p.cards[i], from, to);
            assert_string_equal(f[0], p.id18);
            assert_string_equal(f[1], p.name);
            assert_string_equal(f[2], from);
            assert_string_equal(f[3], to);
            assert_string_equal(f[4], p.cards[i].authority);
            assert_string_equal(f[5], p.cards[i].lost ? "1" : "0");
            assert_int_equal(atoi(f[6]), (int)p.hukou);
            rows++;
        }
    }
    assert_null(strtok_r(NULL, "\n", &save));
    assert_true(rows > 2000);
    demo_free(g);
    free(r1), free(r2), free(r3), free(k1), free(k2), free(k3);

    /* no temporary files left behind */
    char path[1100];
    snprintf(path, sizeof path, "%s/registry.csv.tmp", sub1);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* -------------------------------------------------- cases: the model */

typedef struct {
    char id18[19];
    char *name;
    reg_hukou hukou;
    size_t n_cards;
    reg_card cards[8];
} model_person;

typedef struct {
    model_person *v;
    size_t n;
} model;

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const model_person *)a)->id18, ((const model_person *)b)->id18);
}

static void model_build(model *m, const demo_options *o)
{
    m->v = calloc(o->count, sizeof *m->v);
    m->n = 0;
    demo_gen *g = demo_new(o);
    demo_person p;
    while (demo_next(g, &p)) {
        model_person *q = &m->v[m->n++];
        memcpy(q->id18, p.id18, 19);
        q->name = strdup(p.name);
        q->hukou = p.hukou;
        q->n_cards = p.n_cards;
        memcpy(q->cards, p.cards, sizeof q->cards);
    }
    demo_free(g);
    qsort(m->v, m->n, sizeof *m->v, cmp_model);
}

static void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].name);
    free(m->v);
}

typedef struct {
    const char *id, *endpoint, *name, *id_number, *from, *to, *at;
    size_t name_len, id_len;
    const char *verdict, *reason;
    bool has_card, lost, newest, expired;
    int hukou; /* -1 absent */
} tcase;

static const char *str_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void parse_case(json_t *j, tcase *c)
{
    memset(c, 0, sizeof *c);
    c->id = str_or_null(j, "id");
    c->endpoint = str_or_null(j, "endpoint");
    json_t *req = json_object_get(j, "request"), *exp = json_object_get(j, "expect");
    assert_non_null(c->id);
    assert_non_null(c->endpoint);
    assert_true(json_is_object(req));
    assert_true(json_is_object(exp));
    json_t *name = json_object_get(req, "name"), *idn = json_object_get(req, "id_number");
    assert_true(json_is_string(name) && json_is_string(idn));
    c->name = json_string_value(name);
    c->name_len = json_string_length(name);
    c->id_number = json_string_value(idn);
    c->id_len = json_string_length(idn);
    c->from = str_or_null(req, "valid_from");
    c->to = str_or_null(req, "valid_to");
    c->at = str_or_null(req, "at");
    c->verdict = str_or_null(exp, "verdict");
    c->reason = str_or_null(exp, "reason");
    json_t *card = json_object_get(exp, "card");
    if (card) {
        assert_true(json_is_object(card));
        c->has_card = true;
        c->lost = json_is_true(json_object_get(card, "lost"));
        c->newest = json_is_true(json_object_get(card, "newest"));
        c->expired = json_is_true(json_object_get(card, "expired"));
    }
    json_t *h = json_object_get(exp, "hukou_status");
    c->hukou = h ? (int)json_integer_value(h) : -1;
    assert_non_null(c->verdict);
    if (!strcmp(c->endpoint, "id4"))
        assert_true(c->from && c->to);
    else
        assert_string_equal(c->endpoint, "id2");
}

/* What verify.h's order of checks says, worked out from the core and the
 * generator's persons: verdict, reason, and the card facts. */
typedef struct {
    sm_verdict verdict;
    const char *reason;
    bool has_card, lost, newest, expired;
    int hukou;
} outcome;

static outcome model_decide(const model *m, const tcase *c, sm_date at)
{
    outcome r = {SM_VERDICT_MATCH, NULL, false, false, false, false, -1};
    sm_id_options idopt = {.at = at};
    sm_id_info info;
    sm_id_status ist = sm_id_parse(c->id_number, c->id_len, &idopt, &info);
    if (ist != SM_ID_OK) {
        r.verdict = SM_VERDICT_INVALID_ID;
        r.reason = sm_id_status_code(ist);
        return r;
    }
    sm_name nm;
    sm_name_status nst = sm_name_normalise(c->name, c->name_len, &nm);
    if (nst != SM_NAME_OK) {
        r.verdict = SM_VERDICT_INVALID_NAME;
        r.reason = sm_name_status_code(nst);
        return r;
    }
    bool id4 = strcmp(c->endpoint, "id4") == 0;
    sm_period per;
    if (id4) {
        sm_period_status pst =
            sm_period_check(c->from, strlen(c->from), c->to, strlen(c->to), &info.birth, &at, &per);
        if (pst != SM_PERIOD_OK) {
            r.verdict = SM_VERDICT_INVALID_PERIOD;
            r.reason = sm_period_status_code(pst);
            return r;
        }
    }
    model_person key;
    memcpy(key.id18, info.id18, 19);
    const model_person *p = bsearch(&key, m->v, m->n, sizeof *m->v, cmp_model);
    if (!p) {
        r.verdict = SM_VERDICT_NOT_FOUND;
        return r;
    }
    if (strcmp(p->name, nm.text) != 0) {
        r.verdict = SM_VERDICT_MISMATCH;
        return r;
    }
    if (!id4)
        return r;
    for (size_t i = 0; i < p->n_cards; i++) {
        const reg_card *k = &p->cards[i];
        if (sm_date_cmp(k->valid_from, per.begin) != 0 || k->long_term != per.long_term ||
            (!k->long_term && sm_date_cmp(k->valid_to, per.end) != 0))
            continue;
        r.has_card = true;
        r.lost = k->lost;
        r.newest = i + 1 == p->n_cards;
        r.expired = !k->long_term && sm_date_cmp(k->valid_to, at) < 0;
        r.hukou = (int)p->hukou;
        return r;
    }
    r.verdict = SM_VERDICT_MISMATCH;
    return r;
}

static void check_outcome(const tcase *c, const outcome *o, const char *who)
{
    const char *v = sm_verdict_code(o->verdict);
    if (strcmp(v, c->verdict) != 0)
        fail_msg("%s: %s expects %s, %s says %s", c->id, c->endpoint, c->verdict, who, v);
    if ((o->reason == NULL) != (c->reason == NULL) ||
        (o->reason && strcmp(o->reason, c->reason) != 0))
        fail_msg("%s: expects reason %s, %s says %s", c->id, c->reason ? c->reason : "none", who,
                 o->reason ? o->reason : "none");
    if (o->has_card != c->has_card)
        fail_msg("%s: card expected %d, %s %d", c->id, c->has_card, who, o->has_card);
    if (o->has_card && (o->lost != c->lost || o->newest != c->newest || o->expired != c->expired))
        fail_msg("%s: card lost/newest/expired %d%d%d expected, %s says %d%d%d", c->id, c->lost,
                 c->newest, c->expired, who, o->lost, o->newest, o->expired);
    if (c->hukou != -1 && c->hukou != o->hukou)
        fail_msg("%s: hukou_status %d expected, %s says %d", c->id, c->hukou, who, o->hukou);
}

typedef struct {
    size_t verdict[SM_VERDICT__COUNT];
    size_t id_reason[6], name_reason[9], period_reason[7];
    size_t old_expired, lost, hukou1, hukou2, id4_mismatch, id4_not_found, n;
} coverage;

static void count_reason(size_t *slots, size_t n, const char *(*code)(int), const char *reason)
{
    for (size_t i = 1; i < n; i++)
        if (reason && code((int)i) && !strcmp(code((int)i), reason))
            slots[i]++;
}

static const char *id_code(int i) { return sm_id_status_code((sm_id_status)i); }
static const char *name_code(int i) { return sm_name_status_code((sm_name_status)i); }
static const char *period_code(int i) { return sm_period_status_code((sm_period_status)i); }

static void cover(coverage *cv, const tcase *c)
{
    sm_verdict v;
    assert_true(sm_verdict_from_code(c->verdict, &v));
    cv->verdict[v]++;
    cv->n++;
    bool id4 = !strcmp(c->endpoint, "id4");
    if (v == SM_VERDICT_INVALID_ID)
        count_reason(cv->id_reason, 6, id_code, c->reason);
    if (v == SM_VERDICT_INVALID_NAME)
        count_reason(cv->name_reason, 9, name_code, c->reason);
    if (v == SM_VERDICT_INVALID_PERIOD)
        count_reason(cv->period_reason, 7, period_code, c->reason);
    if (c->has_card && !c->newest && c->expired && !c->lost)
        cv->old_expired++;
    if (c->has_card && c->lost)
        cv->lost++;
    if (id4 && c->hukou == 1)
        cv->hukou1++;
    if (id4 && c->hukou == 2)
        cv->hukou2++;
    if (id4 && v == SM_VERDICT_MISMATCH)
        cv->id4_mismatch++;
    if (id4 && v == SM_VERDICT_NOT_FOUND)
        cv->id4_not_found++;
}

static void check_coverage(const coverage *cv, size_t min)
{
    static const sm_verdict needed[] = {SM_VERDICT_MATCH, SM_VERDICT_MISMATCH, SM_VERDICT_NOT_FOUND,
                                        SM_VERDICT_INVALID_ID, SM_VERDICT_INVALID_NAME,
                                        SM_VERDICT_INVALID_PERIOD};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        if (cv->verdict[needed[i]] < min)
            fail_msg("only %zu cases expect %s", cv->verdict[needed[i]],
                     sm_verdict_code(needed[i]));
    for (int i = 1; i <= SM_ID_ERR_CHECKSUM; i++)
        if (cv->id_reason[i] < min / 4)
            fail_msg("only %zu invalid_id cases for %s", cv->id_reason[i], id_code(i));
    static const sm_name_status names[] = {SM_NAME_ERR_CONTROL, SM_NAME_ERR_CHARACTERS,
                                           SM_NAME_ERR_MIXED, SM_NAME_ERR_DOT,
                                           SM_NAME_ERR_TOO_SHORT, SM_NAME_ERR_TOO_LONG};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (cv->name_reason[names[i]] < min / 4)
            fail_msg("only %zu invalid_name cases for %s", cv->name_reason[names[i]],
                     name_code(names[i]));
    for (int i = SM_PERIOD_ERR_FORMAT; i <= SM_PERIOD_ERR_DURATION; i++)
        if (cv->period_reason[i] < min / 4)
            fail_msg("only %zu invalid_period cases for %s", cv->period_reason[i], period_code(i));
    if (cv->old_expired < min || cv->lost < min || cv->id4_mismatch < min ||
        cv->id4_not_found < min)
        fail_msg("id4 cases: %zu old expired, %zu lost, %zu mismatch, %zu not_found",
                 cv->old_expired, cv->lost, cv->id4_mismatch, cv->id4_not_found);
    if (cv->hukou1 < min / 4 || cv->hukou2 < min / 4)
        fail_msg("id4 cases with hukou 1: %zu, 2: %zu", cv->hukou1, cv->hukou2);
}

typedef void (*case_fn)(const tcase *c, sm_date at, void *ctx);

static size_t for_each_case(const char *dir, case_fn fn, void *ctx)
{
    char *text = read_file(dir, "cases.jsonl", NULL);
    char *save = NULL;
    size_t n = 0, expected_no = 1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &e);
        if (!j)
            fail_msg("case line %zu does not parse: %s", n + 1, e.text);
        tcase c;
        parse_case(j, &c);
        char want[32];
        snprintf(want, sizeof want, "case-%06zu", expected_no++);
        assert_string_equal(c.id, want);
        assert_non_null(c.at);
        sm_date at;
        assert_true(sm_date_parse_iso(c.at, strlen(c.at), &at));
        fn(&c, at, ctx);
        json_decref(j);
        n++;
    }
    free(text);
    return n;
}

typedef struct {
    const model *m;
    coverage cv;
    sm_date want_at;
} model_ctx;

static void model_case(const tcase *c, sm_date at, void *ctx)
{
    model_ctx *mc = ctx;
    assert_int_equal(sm_date_cmp(at, mc->want_at), 0);
    outcome o = model_decide(mc->m, c, at);
    check_outcome(c, &o, "the core with the registry");
    cover(&mc->cv, c);
}

static void test_cases_consistent(void **state)
{
    const char *root = *state;
    static const sm_date ats[] = {{0, 0, 0}, {2033, 7, 1}};
    for (size_t k = 0; k < 2; k++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%zu", root, k);
        demo_options o = opts(2024 + k, 5000);
        o.at = ats[k];
        char err[256];
        if (!demo_write_files(&o, dir, err, sizeof err))
            fail_msg("%s", err);
        model m;
        model_build(&m, &o);
        model_ctx mc;
        memset(&mc, 0, sizeof mc);
        mc.m = &m;
        mc.want_at = k == 0 ? DEFAULT_AT : ats[k];
        size_t n = for_each_case(dir, model_case, &mc);
        print_message("%zu cases for %zu persons\n", n, o.count);
        if (n < o.count * 8 / 10)
            fail_msg("only %zu cases for %zu persons", n, o.count);
        check_coverage(&mc.cv, 40);
        model_free(&m);
    }
}

/* The showcase's own cases, whatever the seed. */
static void test_showcase_cases(void **state)
{
    const char *dir = *state;
    demo_options o = opts(123, 3);
    char err[256];
    assert_true(demo_write_files(&o, dir, err, sizeof err));
    char *text = read_file(dir, "cases.jsonl", NULL);
    assert_non_null(strstr(text,
                           "{\"id\":\"case-000001\",\"endpoint\":\"id2\",\"request\":{\"name\":"
                           "\"王伟\",\"id_number\":\"110105198503150035\",\"at\":\"2026-01-01\"},"
                           "\"expect\":{\"verdict\":\"match\"}}\n"));
    assert_non_null(
        strstr(text, "\"name\":\"李娜\",\"id_number\":\"310104199208080025\","
                     "\"valid_from\":\"20180901\",\"valid_to\":\"20380901\",\"at\":"
                     "\"2026-01-01\"},\"expect\":{\"verdict\":\"match\",\"card\":{"
                     "\"lost\":true,\"newest\":false,\"expired\":false},\"hukou_status\":0}}"));
    assert_non_null(strstr(text, "\"valid_from\":\"20150601\",\"valid_to\":\"00000000\""));
    free(text);
}

/* ------------------------------------ cases against the real registry */

typedef struct {
    registry *reg;
    size_t n;
} verify_ctx;

static void verify_case(const tcase *c, sm_date at, void *ctx)
{
    verify_ctx *vc = ctx;
    verify_request req;
    memset(&req, 0, sizeof req);
    req.name = c->name;
    req.name_len = c->name_len;
    req.id_number = c->id_number;
    req.id_len = c->id_len;
    req.at = at;
    bool id4 = !strcmp(c->endpoint, "id4");
    if (id4) {
        req.valid_from = c->from;
        req.valid_from_len = strlen(c->from);
        req.valid_to = c->to;
        req.valid_to_len = strlen(c->to);
    }
    verify_result r;
    if (id4)
        verify_id4(vc->reg, &req, &r);
    else
        verify_id2(vc->reg, &req, &r);
    outcome o = {r.verdict, NULL, r.card_matched, r.card.lost, r.card_newest, r.card_expired,
                 r.found ? (int)r.hukou : -1};
    if (r.verdict == SM_VERDICT_INVALID_ID)
        o.reason = sm_id_status_code(r.id_status);
    else if (r.verdict == SM_VERDICT_INVALID_NAME)
        o.reason = sm_name_status_code(r.name_status);
    else if (r.verdict == SM_VERDICT_INVALID_PERIOD)
        o.reason = sm_period_status_code(r.period_status);
    check_outcome(c, &o, "verify");
    verify_result_clear(&r);
    vc->n++;
}

static void test_fill_registry_and_verify(void **state)
{
    const char *dir = *state;
    demo_options o = opts(77, 3000);
    char err[256] = "";
    if (!demo_write_files(&o, dir, err, sizeof err))
        fail_msg("%s", err);

    char path[1024];
    snprintf(path, sizeof path, "%s/registry.db", dir);
    sm_key key;
    for (size_t i = 0; i < sizeof key.bytes; i++)
        key.bytes[i] = (uint8_t)(i * 7 + 1);
    reg_options ro;
    memset(&ro, 0, sizeof ro);
    ro.path = path;
    ro.key = &key;
    ro.create = true;
    registry *reg = NULL;
    reg_status st = registry_open(&ro, &reg, err, sizeof err);
    if (st != REG_OK)
        fail_msg("registry_open: %s", err);
    st = demo_fill_registry(&o, reg, err, sizeof err);
    if (st != REG_OK)
        fail_msg("demo_fill_registry: %s", err);

    /* the store holds what the generator made */
    size_t persons = 0, cards = 0, lost = 0, hukou[3] = {0};
    demo_gen *g = demo_new(&o);
    demo_person p;
    while (demo_next(g, &p)) {
        persons++;
        cards += p.n_cards;
        hukou[p.hukou]++;
        for (size_t i = 0; i < p.n_cards; i++)
            lost += p.cards[i].lost;
    }
    demo_free(g);
    reg_stats rs;
    assert_int_equal(registry_stats(reg, &rs), REG_OK);
    assert_int_equal(rs.persons, persons);
    assert_int_equal(rs.cards, cards);
    assert_int_equal(rs.lost_cards, lost);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rs.hukou[i], hukou[i]);

    /* filling again changes nothing */
    assert_int_equal(demo_fill_registry(&o, reg, err, sizeof err), REG_OK);
    assert_int_equal(registry_stats(reg, &rs), REG_OK);
    assert_int_equal(rs.persons, persons);
    assert_int_equal(rs.cards, cards);

    /* and every case gets its expected verdict from verify */
    verify_ctx vc = {reg, 0};
    size_t n = for_each_case(dir, verify_case, &vc);
    assert_int_equal(vc.n, n);
    assert_true(n > 2000);

    /* a bad reference date is refused before touching the store */
    demo_options bad = o;
    bad.at = (sm_date){2020, 1, 1};
    assert_int_not_equal(demo_fill_registry(&bad, reg, err, sizeof err), REG_OK);
    registry_close(reg);
    sm_key_clear(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_world),
        cmocka_unit_test(test_other_seed_other_world),
        cmocka_unit_test(test_ids_valid_and_unique),
        cmocka_unit_test(test_names_realistic),
        cmocka_unit_test(test_card_histories_lawful),
        cmocka_unit_test(test_showcase_exact),
        cmocka_unit_test(test_world_looks_real),
        cmocka_unit_test_setup_teardown(test_bad_options, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_files_hold_the_world, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_cases_consistent, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_showcase_cases, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_fill_registry_and_verify, tmpdir_setup, tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
