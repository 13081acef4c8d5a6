/*
 * demo.c — the synthetic world behind `shiming demo-data` and `serve --demo`:
 * invented persons with valid ID numbers over real GB/T 2260 codes, common
 * names, card histories that obey the Resident Identity Card Law, and test
 * cases whose expected verdicts follow from the registry written alongside.
 *
 * Must never: read the clock, the locale or any input file (the region table
 * is the core's compiled-in one); use floating point or anything else that
 * could make two machines disagree on the output of one seed; re-implement a
 * rule of the core (ID numbers, regions, names and periods are decided by
 * libshiming, which every generated value is built with and checked by).
 *
 * How the world is made (see also demo.h):
 *  - Regions: every known county-level code (code % 100 != 0, no 71/81/82/83
 *    prefix) is enumerated once per generator. Every 16th is set aside as a
 *    "decoy" code that no person ever carries, so an ID number over a decoy
 *    code is a valid number guaranteed not to be in the registry (the
 *    not_found cases). About 10 % of persons carry a historical code (born
 *    no later than its last year); a current code first published after 1980
 *    is only given to persons born from that year on.
 *  - Cards: a first card at 16 (or, not before 1985, at the person's
 *    first-generation roll-out date; some children from 2012 on get a 5-year
 *    card earlier), renewals at each expiry (up to six months early, some
 *    late, a few never), some cards lost (kept with lost=1; the replacement
 *    starts its own period), and holders of a pre-2004 long-term card mostly
 *    swap it for a second-generation one in 2004–2012. Every period is the
 *    one the law gives for the age at its own issue date, so
 *    sm_period_check always says consistent_with_age.
 *  - Two independent PRNG streams: one for persons (shared by the files and
 *    demo_fill_registry, so both hold the same registry), one for cases.
 */
#include "demo/demo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"

/* ------------------------------------------------------------------ PRNG */

/* xoshiro256** seeded through splitmix64: fast, and the same on every
 * machine. */
typedef struct {
    uint64_t s[4];
} demo_rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void rng_seed(demo_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03u);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(demo_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, n), n > 0 (multiply-shift; the bias is far below noise). */
static uint32_t rng_below(demo_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static bool rng_chance(demo_rng *r, uint32_t per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

/* ----------------------------------------------------------------- dates */

/* Days since 1970-01-01 (proleptic Gregorian), and back. Plain calendar
 * arithmetic for drawing dates; the law's rules stay in the core. */
static int32_t day_number(sm_date d)
{
    int y = d.year - (d.month <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = (unsigned)(d.month > 2 ? d.month - 3 : d.month + 9);
    unsigned doy = (153 * mp + 2) / 5 + (unsigned)d.day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

static sm_date date_of_day(int32_t z)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int y = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

static sm_date mkdate(int y, int m, int d)
{
    sm_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

static int32_t rand_day(demo_rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)rng_below(r, (uint32_t)(hi - lo + 1));
}

/* ------------------------------------------------------------- name data */

typedef struct {
    const char *text;
    uint32_t weight;
} weighted;

/* The most common surnames with their approximate numbers of bearers (in
 * units of 100,000), and a few two-character ones. */
static const weighted surnames[] = {
    {"王", 1015}, {"李", 1009}, {"张", 954}, {"刘", 721}, {"陈", 633}, {"杨", 462},
    {"黄", 337},  {"赵", 286},  {"吴", 278}, {"周", 268}, {"徐", 202}, {"孙", 194},
    {"马", 191},  {"朱", 181},  {"胡", 165}, {"郭", 158}, {"何", 148}, {"林", 142},
    {"高", 141},  {"罗", 140},  {"郑", 126}, {"梁", 120}, {"谢", 101}, {"宋", 93},
    {"唐", 93},   {"许", 88},   {"韩", 86},  {"冯", 85},  {"邓", 83},  {"曹", 79},
    {"彭", 77},   {"曾", 73},   {"肖", 72},  {"田", 70},  {"董", 69},  {"袁", 66},
    {"潘", 65},   {"于", 65},   {"蒋", 63},  {"蔡", 62},  {"余", 61},  {"杜", 60},
    {"叶", 59},   {"程", 58},   {"苏", 56},  {"魏", 56},  {"吕", 55},  {"丁", 55},
    {"任", 54},   {"沈", 54},   {"姚", 52},  {"卢", 51},  {"姜", 50},  {"崔", 49},
    {"钟", 49},   {"谭", 48},   {"陆", 48},  {"汪", 47},  {"范", 46},  {"金", 45},
    {"石", 44},   {"廖", 43},   {"贾", 42},  {"夏", 41},  {"韦", 40},  {"付", 40},
    {"方", 39},   {"白", 39},   {"邹", 38},  {"孟", 37},  {"熊", 36},  {"秦", 36},
    {"邱", 35},   {"江", 35},   {"尹", 34},  {"薛", 33},  {"闫", 32},  {"段", 32},
    {"雷", 31},   {"侯", 31},   {"龙", 30},  {"史", 30},  {"陶", 29},  {"黎", 29},
    {"贺", 28},   {"顾", 28},   {"毛", 27},  {"郝", 27},  {"龚", 26},  {"邵", 26},
    {"万", 25},   {"钱", 25},   {"严", 24},  {"覃", 24},  {"武", 23},  {"戴", 23},
    {"莫", 22},   {"孔", 22},   {"向", 21},  {"汤", 21},
    {"欧阳", 10}, {"司马", 4},  {"诸葛", 2}, {"上官", 3}, {"司徒", 3}, {"东方", 1},
    {"皇甫", 1},  {"令狐", 1},  {"慕容", 1}, {"夏侯", 1},
};

/* Whole given names that many people share (their weight is relative). */
static const weighted popular_male[] = {
    {"伟", 30}, {"磊", 20}, {"勇", 18}, {"军", 18}, {"强", 18}, {"杰", 16}, {"涛", 15},
    {"斌", 12}, {"超", 12}, {"明", 12}, {"刚", 11}, {"平", 10}, {"辉", 10}, {"鹏", 9},
    {"建华", 9}, {"建国", 8}, {"建军", 8}, {"志强", 8}, {"志刚", 6}, {"国强", 6},
    {"海涛", 6}, {"晓东", 5}, {"俊杰", 5}, {"浩然", 5}, {"子轩", 5}, {"宇轩", 4},
};
static const weighted popular_female[] = {
    {"芳", 30}, {"娜", 25}, {"敏", 22}, {"静", 22}, {"丽", 18}, {"艳", 16}, {"娟", 14},
    {"霞", 12}, {"秀英", 12}, {"桂英", 10}, {"玉兰", 8}, {"秀兰", 7}, {"丽娟", 7},
    {"晓燕", 6}, {"婷婷", 6}, {"欣怡", 5}, {"雨涵", 5}, {"梓涵", 5}, {"诗涵", 4},
    {"佳怡", 4}, {"子涵", 4}, {"一诺", 3},
};

/* Common characters of given names. */
static const char *const chars_male[] = {
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华",
    "飞", "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "龙", "林",
    "阳", "建", "国", "志", "文", "海", "东", "峰", "亮", "成", "新", "兵", "博", "晨",
    "轩", "然", "泽", "睿", "诚", "翔", "瑞", "航", "宏", "毅", "鸿", "振", "天", "德",
    "庆", "永", "福", "贵", "忠", "荣", "彬", "坤", "锋", "民", "江", "山", "学", "生",
};
static const char *const chars_female[] = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "玲", "桂", "燕", "萍",
    "红", "梅", "琳", "莉", "婷", "雪", "慧", "颖", "倩", "洁", "琴", "云", "兰", "凤",
    "欣", "怡", "佳", "雨", "悦", "晶", "丹", "璐", "蕾", "薇", "月", "菲", "瑶", "嘉",
    "琪", "涵", "诗", "梦", "思", "妍", "彤", "美", "珍", "秋", "玉", "春", "晓", "小",
};
static const char *const chars_neutral[] = {
    "文", "明", "华", "平", "安", "宁", "新", "晓", "玉", "春", "金", "一", "家", "子",
    "宇", "思", "海", "建", "永", "立", "清", "嘉", "志", "晨",
};

/* Uyghur / Kazakh style given names; a full name is "given·father". */
static const char *const minority_female[] = {
    "阿依古丽", "古丽米拉", "热依拉", "迪丽努尔", "帕提古丽", "阿娜尔古丽", "米日古丽",
    "努尔古丽", "阿依努尔", "再努尔", "玛依拉", "阿依达娜", "古再丽努尔", "布阿依谢姆",
};
static const char *const minority_male[] = {
    "艾力", "买买提", "阿不都热依木", "艾合买提", "吐尔逊", "阿布力孜", "热合曼",
    "艾尼瓦尔", "努尔兰", "叶尔兰", "别克", "阿迪力", "麦麦提", "依明", "阿卜杜拉",
    "艾则孜", "吾斯曼", "叶尔江", "哈力木",
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MIDDLE_DOT "\xc2\xb7" /* U+00B7 */

/* Age distribution at `at` (whole years, 11..96), by decade of age. */
static const struct {
    int lo, hi;
    uint32_t weight;
} age_bands[] = {
    {11, 20, 12}, {21, 30, 13}, {31, 40, 16}, {41, 50, 15},
    {51, 60, 16}, {61, 70, 12}, {71, 80, 7},  {81, 96, 3},
};

/* --------------------------------------------------------- showcase */

typedef struct {
    const char *begin, *end;
    bool lost;
} showcase_card;

static const struct {
    const char *id18;
    const char *name;
    const char *authority;
    size_t n_cards;
    showcase_card cards[3];
} showcase[DEMO_SHOWCASE_COUNT] = {
    {"110105198503150035", "王伟", "北京市公安局朝阳分局", 2,
     {{"20050320", "20150320", false}, {"20150320", "20350320", false}}},
    {"310104199208080025", "李娜", "上海市公安局徐汇分局", 3,
     {{"20080901", "20180901", false},
      {"20180901", "20380901", true},
      {"20210315", "20410315", false}}},
    {"650102196811020045", "阿依古丽" MIDDLE_DOT "买买提", "乌鲁木齐市公安局天山区分局", 2,
     {{"19981020", "20181020", false}, {"20150601", "00000000", false}}},
};

/* The generated world is anchored between these (the showcase's last card
 * must already be issued; nobody is born before 1900). */
static const sm_date at_min = {2021, 3, 15};
static const sm_date at_max = {2099, 12, 31};

/* ------------------------------------------------------------- regions */

typedef struct {
    uint32_t code;
    uint16_t first_year;
    uint16_t last_year; /* 0 while current */
    bool historical;
    char authority[REG_AUTHORITY_MAX];
} demo_region;

typedef struct {
    uint32_t *idx; /* indices into the region array */
    size_t n;
} region_pool;

/* ------------------------------------------------------------ ID set */

/* Open-addressing set of the 17 leading digits of every ID number handed
 * out (as an integer; never 0, since region codes start at 11). */
typedef struct {
    uint64_t *slots;
    size_t cap; /* power of two */
    size_t n;
} id_set;

static uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    return k;
}

static bool idset_grow(id_set *s, size_t cap)
{
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t k = s->slots[i];
        if (!k)
            continue;
        size_t j = (size_t)mix64(k) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = k;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return true;
}

/* Insert k; false if it was already there (or memory ran out: *oom). */
static bool idset_add(id_set *s, uint64_t k, bool *oom)
{
    if ((s->n + 1) * 2 > s->cap && !idset_grow(s, s->cap ? s->cap * 2 : 1024)) {
        *oom = true;
        return false;
    }
    size_t j = (size_t)mix64(k) & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == k)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = k;
    s->n++;
    return true;
}

/* ------------------------------------------------------------ generator */

struct demo_gen {
    demo_options opt; /* at resolved */
    demo_rng rng;
    size_t produced;
    bool oom;

    demo_region *regions;
    size_t n_regions;
    region_pool current, historical, xj_current, xj_historical, decoy;

    uint32_t surname_cum[COUNT_OF(surnames)];
    uint32_t pop_m_cum[COUNT_OF(popular_male)];
    uint32_t pop_f_cum[COUNT_OF(popular_female)];
    uint32_t age_cum[COUNT_OF(age_bands)];

    id_set ids;
    char name[64];
};

static void cumulate(const weighted *w, size_t n, uint32_t *cum)
{
    uint32_t t = 0;
    for (size_t i = 0; i < n; i++)
        cum[i] = (t += w[i].weight);
}

/* Index of a draw in [0, cum[n-1]) by binary search. */
static size_t pick_cum(demo_rng *r, const uint32_t *cum, size_t n)
{
    uint32_t x = rng_below(r, cum[n - 1]);
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x < cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* UTF-8 characters in s (valid UTF-8 assumed: the core's own strings). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The issuing authority of a county-level region, as printed on cards:
 * districts of a municipality "北京市公安局朝阳分局"; other districts
 * "乌鲁木齐市公安局天山区分局"; counties and county-level cities
 * "隆尧县公安局"; a city's 市辖区 entry "石家庄市公安局". */
static void make_authority(const sm_region *r, char *out, size_t cap)
{
    const char *city = r->city ? r->city : r->province;
    const char *county = r->county;
    bool municipality = r->city && r->province && strcmp(r->city, r->province) == 0;
    int n;
    if (!county || strcmp(county, "市辖区") == 0) {
        n = snprintf(out, cap, "%s公安局", city);
    } else if (municipality && ends_with(county, "区")) {
        size_t len = strlen(county);
        size_t cut = ends_with(county, "新区") ? strlen("新区") : strlen("区");
        if (utf8_chars(county) - (cut / 3) < 2)
            cut = 0;
        n = snprintf(out, cap, "%s公安局%.*s分局", city, (int)(len - cut), county);
    } else if (municipality) {
        n = snprintf(out, cap, "%s%s公安局", city, county);
    } else if (r->city && ends_with(county, "区")) {
        n = snprintf(out, cap, "%s公安局%s分局", city, county);
    } else {
        n = snprintf(out, cap, "%s公安局", county);
    }
    if (n < 0 || (size_t)n >= cap)
        snprintf(out, cap, "%s", "公安局"); /* cannot happen with the table's names */
}

static bool is_showcase_region(uint32_t code)
{
    for (size_t i = 0; i < DEMO_SHOWCASE_COUNT; i++) {
        uint32_t c = 0;
        for (int k = 0; k < 6; k++)
            c = c * 10 + (uint32_t)(showcase[i].id18[k] - '0');
        if (c == code)
            return true;
    }
    return false;
}

static bool pool_push(region_pool *p, uint32_t idx, size_t cap)
{
    if (!p->idx) {
        p->idx = malloc(cap * sizeof *p->idx);
        if (!p->idx)
            return false;
    }
    p->idx[p->n++] = idx;
    return true;
}

static bool load_regions(demo_gen *g)
{
    size_t cap = 0;
    /* Two passes: count, then fill (the table is compiled in, so both agree). */
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (uint32_t prov = 11; prov <= 99; prov++) {
            if (prov == 71 || prov == 81 || prov == 82 || prov == 83)
                continue;
            if (!sm_region_province_exists(prov * 10000u))
                continue;
            for (uint32_t code = prov * 10000u + 1; code < (prov + 1) * 10000u; code++) {
                if (code % 100u == 0)
                    continue;
                sm_region r;
                if (!sm_region_lookup(code, &r) || !r.known)
                    continue;
                if (pass == 1) {
                    demo_region *d = &g->regions[n];
                    d->code = code;
                    d->first_year = r.first_year;
                    d->last_year = r.last_year;
                    d->historical = r.historical;
                    make_authority(&r, d->authority, sizeof d->authority);
                    /* every 16th code is a decoy; Xinjiang's codes are also
                     * in a pool of their own, for minority names */
                    bool ok;
                    if (n % 16 == 15 && !is_showcase_region(code))
                        ok = pool_push(&g->decoy, (uint32_t)n, cap);
                    else
                        ok = pool_push(r.historical ? &g->historical : &g->current, (uint32_t)n,
                                       cap) &&
                             (prov != 65 ||
                              pool_push(r.historical ? &g->xj_historical : &g->xj_current,
                                        (uint32_t)n, cap));
                    if (!ok)
                        return false;
                }
                n++;
            }
        }
        if (pass == 0) {
            cap = n;
            g->regions = calloc(n ? n : 1, sizeof *g->regions);
            if (!g->regions)
                return false;
        }
        g->n_regions = n;
    }
    return g->current.n > 0 && g->historical.n > 0 && g->xj_current.n > 0 &&
           g->xj_historical.n > 0 && g->decoy.n > 0;
}

static void free_pool(region_pool *p)
{
    free(p->idx);
    p->idx = NULL;
    p->n = 0;
}

void demo_free(demo_gen *g)
{
    if (!g)
        return;
    free_pool(&g->current);
    free_pool(&g->historical);
    free_pool(&g->xj_current);
    free_pool(&g->xj_historical);
    free_pool(&g->decoy);
    free(g->regions);
    free(g->ids.slots);
    memset(g->name, 0, sizeof g->name);
    free(g);
}

/* The 17 leading digits of an ID number as an integer. */
static uint64_t id_key(const char *id)
{
    uint64_t k = 0;
    for (int i = 0; i < 17; i++)
        k = k * 10 + (uint64_t)(id[i] - '0');
    return k;
}

static bool resolve_at(const demo_options *opt, sm_date *at)
{
    if (opt->at.year == 0 && opt->at.month == 0 && opt->at.day == 0)
        *at = mkdate(2026, 1, 1);
    else
        *at = opt->at;
    return sm_date_is_valid(at->year, at->month, at->day) && sm_date_cmp(*at, at_min) >= 0 &&
           sm_date_cmp(*at, at_max) <= 0;
}

demo_gen *demo_new(const demo_options *opt)
{
    if (!opt)
        return NULL;
    sm_date at;
    if (!resolve_at(opt, &at))
        return NULL;
    demo_gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->opt = *opt;
    g->opt.at = at;
    rng_seed(&g->rng, opt->seed, 1);
    cumulate(surnames, COUNT_OF(surnames), g->surname_cum);
    cumulate(popular_male, COUNT_OF(popular_male), g->pop_m_cum);
    cumulate(popular_female, COUNT_OF(popular_female), g->pop_f_cum);
    uint32_t t = 0;
    for (size_t i = 0; i < COUNT_OF(age_bands); i++)
        g->age_cum[i] = (t += age_bands[i].weight);
    if (!load_regions(g)) {
        demo_free(g);
        return NULL;
    }
    /* sized for the whole run when that is reasonable; it grows otherwise */
    size_t want = 1024;
    while (want / 2 < opt->count + DEMO_SHOWCASE_COUNT && want < ((size_t)1 << 25))
        want *= 2;
    if (!idset_grow(&g->ids, want)) {
        demo_free(g);
        return NULL;
    }
    bool oom = false;
    for (size_t i = 0; i < DEMO_SHOWCASE_COUNT; i++)
        idset_add(&g->ids, id_key(showcase[i].id18), &oom);
    return g;
}

/* ---------------------------------------------------------------- names */

static void append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf), m = strlen(s);
    if (n + m < cap) {
        memcpy(buf + n, s, m + 1);
    }
}

static void make_name(demo_gen *g, bool male, bool minority)
{
    demo_rng *r = &g->rng;
    char *out = g->name;
    out[0] = '\0';
    if (minority) {
        const char *const *given = male ? minority_male : minority_female;
        size_t ng = male ? COUNT_OF(minority_male) : COUNT_OF(minority_female);
        append(out, sizeof g->name, given[rng_below(r, (uint32_t)ng)]);
        append(out, sizeof g->name, MIDDLE_DOT);
        append(out, sizeof g->name, minority_male[rng_below(r, COUNT_OF(minority_male))]);
        return;
    }
    append(out, sizeof g->name, surnames[pick_cum(r, g->surname_cum, COUNT_OF(surnames))].text);
    uint32_t style = rng_below(r, 100);
    if (style < 30) {
        /* a given name many share */
        const char *given =
            male ? popular_male[pick_cum(r, g->pop_m_cum, COUNT_OF(popular_male))].text
                 : popular_female[pick_cum(r, g->pop_f_cum, COUNT_OF(popular_female))].text;
        append(out, sizeof g->name, given);
        return;
    }
    const char *const *own = male ? chars_male : chars_female;
    uint32_t n_own = male ? (uint32_t)COUNT_OF(chars_male) : (uint32_t)COUNT_OF(chars_female);
    if (style < 55) {
        append(out, sizeof g->name, own[rng_below(r, n_own)]);
        return;
    }
    const char *first = rng_chance(r, 250) ? chars_neutral[rng_below(r, COUNT_OF(chars_neutral))]
                                           : own[rng_below(r, n_own)];
    /* a doubled character (婷婷) is a girl's name, and not the most common */
    const char *second;
    do
        second = own[rng_below(r, n_own)];
    while (second == first && (male || rng_chance(r, 700)));
    append(out, sizeof g->name, first);
    append(out, sizeof g->name, second);
}

/* -------------------------------------------------------------- persons */

static sm_date parse_birth(const char *id18)
{
    sm_date b = {0, 0, 0};
    sm_date_parse_compact(id18 + 6, 8, &b);
    return b;
}

static void set_card(reg_card *c, sm_date begin, int years, bool lost, const char *authority)
{
    memset(c, 0, sizeof *c);
    c->valid_from = begin;
    c->long_term = years == 0;
    if (years)
        c->valid_to = sm_date_add_years(begin, years);
    c->lost = lost;
    snprintf(c->authority, sizeof c->authority, "%s", authority);
}

static void showcase_person(demo_gen *g, size_t i, demo_person *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->id18, showcase[i].id18, 19);
    snprintf(g->name, sizeof g->name, "%s", showcase[i].name);
    out->name = g->name;
    out->hukou = REG_HUKOU_VALID;
    out->n_cards = showcase[i].n_cards;
    for (size_t c = 0; c < showcase[i].n_cards; c++) {
        reg_card *card = &out->cards[c];
        const showcase_card *s = &showcase[i].cards[c];
        sm_date_parse_compact(s->begin, 8, &card->valid_from);
        card->long_term = strcmp(s->end, "00000000") == 0;
        if (!card->long_term)
            sm_date_parse_compact(s->end, 8, &card->valid_to);
        card->lost = s->lost;
        snprintf(card->authority, sizeof card->authority, "%s", showcase[i].authority);
    }
}

#define MAX_CARDS ((size_t)(sizeof(((demo_person *)0)->cards) / sizeof(reg_card)))

/* A card history from the first card to `at` (see the top of the file). */
static void make_cards(demo_gen *g, demo_person *p, sm_date birth, const char *authority)
{
    demo_rng *r = &g->rng;
    const int32_t at = day_number(g->opt.at);
    const int32_t born = day_number(birth);
    const int32_t sixteen = day_number(sm_date_add_years(birth, 16));
    const int32_t y2004 = day_number(mkdate(2004, 1, 1));
    const int32_t y2012 = day_number(mkdate(2012, 1, 1));
    const int32_t end2012 = day_number(mkdate(2012, 12, 31));

    int32_t begin = 0;
    bool child = sixteen > at || (sixteen > y2012 + 365 && rng_chance(r, 100));
    if (child) {
        int32_t lo = born + 30 > y2012 ? born + 30 : y2012;
        int32_t hi = sixteen - 1 < at ? sixteen - 1 : at;
        if (lo <= hi)
            begin = rand_day(r, lo, hi);
        else
            child = false; /* only when sixteen <= at: an adult first card */
    }
    if (!child) {
        int32_t delay =
            rng_chance(r, 700) ? (int32_t)rng_below(r, 183) : (int32_t)rng_below(r, 730);
        begin = sixteen + delay;
        int32_t rollout =
            rand_day(r, day_number(mkdate(1985, 1, 1)), day_number(mkdate(1990, 12, 31)));
        if (begin < rollout)
            begin = rollout;
        if (begin > at)
            begin = rand_day(r, sixteen, at);
    }

    p->n_cards = 0;
    while (p->n_cards < MAX_CARDS) {
        sm_date bd = date_of_day(begin);
        int years = sm_period_years_for_age(sm_age_at(birth, bd));
        reg_card *c = &p->cards[p->n_cards++];
        set_card(c, bd, years, false, authority);
        int32_t end = years ? day_number(c->valid_to) : INT32_MAX;

        if (rng_chance(r, 60)) { /* lost during its period */
            int32_t lo = begin + 30, hi = end < at ? end : at;
            if (lo <= hi) {
                int32_t lost = rand_day(r, lo, hi);
                c->lost = true;
                int32_t next = lost + 1 + (int32_t)rng_below(r, 60);
                if (next > at)
                    break; /* not replaced yet */
                begin = next;
                continue;
            }
        }
        if (years == 0) {
            /* a first-generation long-term card, swapped for a second-generation one */
            if (begin < y2004 && rng_chance(r, 700)) {
                int32_t lo = begin + 1 > y2004 ? begin + 1 : y2004;
                int32_t hi = end2012 < at ? end2012 : at;
                if (lo <= hi) {
                    begin = rand_day(r, lo, hi);
                    continue;
                }
            }
            break;
        }
        uint32_t how = rng_below(r, 1000);
        int32_t next;
        if (how < 30)
            break; /* never renewed */
        else if (how < 150)
            next = end + 1 + (int32_t)rng_below(r, 730); /* renewed late */
        else
            next = end - (int32_t)rng_below(r, 183); /* up to six months early */
        if (next > at)
            break;
        begin = next;
    }
}

/* Draw a birth date: age at `at` by the age bands (11..96). */
static sm_date draw_birth(demo_gen *g)
{
    demo_rng *r = &g->rng;
    size_t b = pick_cum(r, g->age_cum, COUNT_OF(age_bands));
    int age =
        age_bands[b].lo + (int)rng_below(r, (uint32_t)(age_bands[b].hi - age_bands[b].lo + 1));
    int year = g->opt.at.year - age;
    int32_t lo = day_number(mkdate(year, 1, 1)), hi = day_number(mkdate(year, 12, 31));
    return date_of_day(rand_day(r, lo, hi));
}

/* Whether a person born in `year` can carry the code: it was in use when
 * their number was assigned (at birth, or at the first-generation roll-out
 * for those born before 1985). */
static bool region_fits(const demo_region *reg, int year)
{
    int assigned = year > 1985 ? year : 1985;
    if (reg->first_year > 1980 && reg->first_year > assigned)
        return false;
    return !reg->historical || reg->last_year >= assigned;
}

/* Choose a region for a person born in `year`: about 10 % historical codes
 * (fewer among the young, whose birth years few historical codes reach). */
static const demo_region *draw_region(demo_gen *g, bool minority, int year)
{
    demo_rng *r = &g->rng;
    bool hist = rng_chance(r, 100);
    bool xj = minority && rng_chance(r, 800);
    for (int tries = 0; tries < 96; tries++) {
        if (tries == 64)
            hist = false; /* no historical code reaches that year often enough */
        const region_pool *p = xj ? (hist ? &g->xj_historical : &g->xj_current)
                                  : (hist ? &g->historical : &g->current);
        const demo_region *reg = &g->regions[p->idx[rng_below(r, (uint32_t)p->n)]];
        if (region_fits(reg, year))
            return reg;
    }
    /* Practically unreachable: 110105 has been in use since 1980. */
    for (size_t i = 0; i < g->current.n; i++)
        if (region_fits(&g->regions[g->current.idx[i]], year))
            return &g->regions[g->current.idx[i]];
    return &g->regions[g->current.idx[0]];
}

static void put_digits(char *out, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void build_id(char id18[19], uint32_t region, sm_date birth, uint32_t seq)
{
    put_digits(id18, region, 6);
    put_digits(id18 + 6, (uint32_t)birth.year, 4);
    put_digits(id18 + 10, (uint32_t)birth.month, 2);
    put_digits(id18 + 12, (uint32_t)birth.day, 2);
    put_digits(id18 + 14, seq, 3);
    id18[17] = sm_id_check_char(id18);
    id18[18] = '\0';
}

/* 001..997 odd for men, 002..998 even for women. */
static uint32_t draw_seq(demo_rng *r, bool male)
{
    return 2 * rng_below(r, 499) + (male ? 1 : 2);
}

static bool random_person(demo_gen *g, demo_person *out)
{
    demo_rng *r = &g->rng;
    memset(out, 0, sizeof *out);
    const sm_id_options idopt = {.at = g->opt.at, .strict = true};
    for (;;) {
        bool male = rng_below(r, 2) == 0;
        bool minority = rng_chance(r, 30);
        sm_date birth = draw_birth(g);
        const demo_region *reg = draw_region(g, minority, birth.year);
        bool placed = false;
        for (int tries = 0; tries < 20 && !placed; tries++) {
            build_id(out->id18, reg->code, birth, draw_seq(r, male));
            if (idset_add(&g->ids, id_key(out->id18), &g->oom))
                placed = true;
            else if (g->oom)
                return false;
        }
        if (!placed)
            continue; /* that region and day are crowded: draw another */
        sm_id_info info;
        if (sm_id_parse(out->id18, 18, &idopt, &info) != SM_ID_OK)
            continue; /* cannot happen; never hand out a number the core refuses */
        make_name(g, male, minority);
        out->name = g->name;
        uint32_t h = rng_below(r, 1000);
        out->hukou = h < 20 ? REG_HUKOU_MOVED_OUT : h < 30 ? REG_HUKOU_INVALID : REG_HUKOU_VALID;
        make_cards(g, out, birth, reg->authority);
        return true;
    }
}

bool demo_next(demo_gen *g, demo_person *out)
{
    if (!g || g->oom || g->produced >= g->opt.count)
        return false;
    if (g->produced < DEMO_SHOWCASE_COUNT)
        showcase_person(g, g->produced, out);
    else if (!random_person(g, out))
        return false;
    g->produced++;
    return true;
}

/* A valid ID number that is in no registry this generator makes: its
 * region is one of the decoy codes. */
static void decoy_id(const demo_gen *g, demo_rng *r, char id18[19], sm_date *birth_out)
{
    int year = g->opt.at.year - 80 + (int)rng_below(r, 64);
    const demo_region *reg = NULL;
    for (int tries = 0; tries < 64 && !reg; tries++) {
        const demo_region *d = &g->regions[g->decoy.idx[rng_below(r, (uint32_t)g->decoy.n)]];
        if (region_fits(d, year))
            reg = d;
    }
    if (!reg)
        reg = &g->regions[g->decoy.idx[0]]; /* still a valid number */
    sm_date birth =
        date_of_day(rand_day(r, day_number(mkdate(year, 1, 1)), day_number(mkdate(year, 12, 31))));
    build_id(id18, reg->code, birth, draw_seq(r, rng_below(r, 2) == 0));
    *birth_out = birth;
}

/* --------------------------------------------------------- output buffer */

typedef struct {
    FILE *f;
    char buf[1 << 16];
    size_t len;
    bool failed;
} outbuf;

static void ob_flush(outbuf *o)
{
    if (o->len && !o->failed && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->failed = true;
    o->len = 0;
}

static void ob_write(outbuf *o, const char *s, size_t n)
{
    if (o->len + n > sizeof o->buf) {
        ob_flush(o);
        if (n > sizeof o->buf) {
            if (!o->failed && fwrite(s, 1, n, o->f) != n)
                o->failed = true;
            return;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void ob_str(outbuf *o, const char *s)
{
    ob_write(o, s, strlen(s));
}

static void ob_char(outbuf *o, char c)
{
    if (o->len == sizeof o->buf)
        ob_flush(o);
    o->buf[o->len++] = c;
}

static void ob_uint(outbuf *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ob_write(o, tmp + sizeof tmp - n, (size_t)n);
}

static void ob_compact_date(outbuf *o, sm_date d)
{
    char s[9];
    sm_date_format_compact(d, s);
    ob_write(o, s, 8);
}

/* A CSV field, quoted (RFC 4180) only when it must be. */
static void ob_csv(outbuf *o, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        ob_str(o, s);
        return;
    }
    ob_char(o, '"');
    for (; *s; s++) {
        if (*s == '"')
            ob_char(o, '"');
        ob_char(o, *s);
    }
    ob_char(o, '"');
}

/* A JSON string. Control characters, and the invisible format characters
 * the invalid_name cases use, are written as \u escapes so that the file
 * shows what the case is about. */
static void ob_json(outbuf *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    ob_char(o, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t n = c >= 0x80 ? sm_utf8_decode(s + i, len - i, &cp) : 0;
        if (c == '"' || c == '\\') {
            ob_char(o, '\\');
            ob_char(o, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ob_write(o, e, 6);
            i++;
        } else if (n &&
                   ((cp >= 0x200b && cp <= 0x200f) || cp == 0x2028 || cp == 0x2029 ||
                    (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff || (cp >= 0x80 && cp < 0xa0))) {
            char e[6] = {'\\',        'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                         hex[cp & 15]};
            ob_write(o, e, 6);
            i += n;
        } else if (n) {
            ob_write(o, s + i, n);
            i += n;
        } else {
            ob_char(o, (char)c);
            i++;
        }
    }
    ob_char(o, '"');
}

static void ob_json_str(outbuf *o, const char *s)
{
    ob_json(o, s, strlen(s));
}

/* ------------------------------------------------------------ registry.csv */

static const char csv_header[] =
    "id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n";

static void write_rows(outbuf *o, const demo_person *p)
{
    for (size_t i = 0; i < p->n_cards; i++) {
        const reg_card *c = &p->cards[i];
        ob_write(o, p->id18, 18);
        ob_char(o, ',');
        ob_csv(o, p->name);
        ob_char(o, ',');
        ob_compact_date(o, c->valid_from);
        ob_char(o, ',');
        if (c->long_term)
            ob_write(o, "00000000", 8);
        else
            ob_compact_date(o, c->valid_to);
        ob_char(o, ',');
        ob_csv(o, c->authority);
        ob_char(o, ',');
        ob_char(o, c->lost ? '1' : '0');
        ob_char(o, ',');
        ob_char(o, (char)('0' + (int)p->hukou));
        ob_char(o, '\n');
    }
}

/* ------------------------------------------------------------ cases.jsonl */

typedef enum {
    K_ID2_MATCH,
    K_ID2_OTHER_NAME,   /* someone else's name → mismatch */
    K_ID2_NOT_FOUND,
    K_ID2_NORMALISED,   /* spaces, look-alike dot, lower-case x → still match */
    K_BAD_ID,
    K_BAD_NAME,
    K_ID4_NEWEST,
    K_ID4_OLD_EXPIRED,  /* an older card, expired by `at` */
    K_ID4_LOST,
    K_ID4_ANY_CARD,
    K_ID4_HUKOU,        /* a person with hukou status 1 or 2 */
    K_ID4_WRONG_DATES,  /* right person, lawful dates of no card of theirs */
    K_ID4_OTHER_NAME,
    K_ID4_NOT_FOUND,
    K_BAD_PERIOD,
    K__COUNT
} case_kind;

/* One case per person, in this cycle; a kind the person cannot serve (no
 * lost card, hukou 0, …) waits for the next person who can. */
static const case_kind schedule[] = {
    K_ID2_MATCH,  K_ID4_NEWEST,      K_ID2_OTHER_NAME, K_BAD_ID,         K_ID4_OLD_EXPIRED,
    K_ID2_NOT_FOUND, K_BAD_NAME,     K_ID4_LOST,       K_ID4_WRONG_DATES, K_BAD_PERIOD,
    K_ID4_HUKOU,  K_ID4_OTHER_NAME,  K_BAD_ID,         K_ID2_NORMALISED, K_ID4_NOT_FOUND,
    K_BAD_NAME,   K_ID4_ANY_CARD,    K_ID2_OTHER_NAME, K_BAD_PERIOD,     K_ID4_WRONG_DATES,
};

/* The showcase persons' cases (whatever the seed). */
static const case_kind showcase_cases[DEMO_SHOWCASE_COUNT][2] = {
    {K_ID2_MATCH, K_ID4_OLD_EXPIRED},
    {K_ID4_LOST, K_ID4_NEWEST},
    {K_ID4_NEWEST, K_ID2_NORMALISED},
};

typedef struct {
    outbuf *o;
    const demo_gen *g;
    demo_rng rng;
    sm_date at;
    char at_iso[11];
    size_t n;          /* cases written */
    size_t sched;      /* position in the schedule */
    uint32_t pending;  /* bit per case_kind waiting for a suitable person */
    unsigned id_reason, name_reason, period_reason;
    char prev_name[64]; /* the previous person's name (someone else's) */
} case_writer;

typedef struct {
    const char *endpoint; /* "id2" / "id4" */
    const char *name;
    size_t name_len;
    const char *id;
    size_t id_len;
    const char *from, *to; /* id4 */
    sm_verdict verdict;
    const char *reason;
    const reg_card *card; /* a match on id4: the card matched */
    bool card_newest;
    int hukou;            /* -1 = not reported */
} case_out;

static void emit(case_writer *w, const case_out *c)
{
    outbuf *o = w->o;
    char id[24];
    w->n++;
    snprintf(id, sizeof id, "case-%06zu", w->n);
    ob_str(o, "{\"id\":\"");
    ob_str(o, id);
    ob_str(o, "\",\"endpoint\":\"");
    ob_str(o, c->endpoint);
    ob_str(o, "\",\"request\":{\"name\":");
    ob_json(o, c->name, c->name_len);
    ob_str(o, ",\"id_number\":");
    ob_json(o, c->id, c->id_len);
    if (c->from) {
        ob_str(o, ",\"valid_from\":");
        ob_json_str(o, c->from);
        ob_str(o, ",\"valid_to\":");
        ob_json_str(o, c->to);
    }
    ob_str(o, ",\"at\":\"");
    ob_str(o, w->at_iso);
    ob_str(o, "\"},\"expect\":{\"verdict\":\"");
    ob_str(o, sm_verdict_code(c->verdict));
    ob_char(o, '"');
    if (c->reason) {
        ob_str(o, ",\"reason\":\"");
        ob_str(o, c->reason);
        ob_char(o, '"');
    }
    if (c->card) {
        bool expired = !c->card->long_term && sm_date_cmp(c->card->valid_to, w->at) < 0;
        ob_str(o, ",\"card\":{\"lost\":");
        ob_str(o, c->card->lost ? "true" : "false");
        ob_str(o, ",\"newest\":");
        ob_str(o, c->card_newest ? "true" : "false");
        ob_str(o, ",\"expired\":");
        ob_str(o, expired ? "true" : "false");
        ob_char(o, '}');
    }
    if (c->hukou >= 0) {
        ob_str(o, ",\"hukou_status\":");
        ob_uint(o, (uint64_t)c->hukou);
    }
    ob_str(o, "}}\n");
}

static void card_dates(const reg_card *c, char from[9], char to[9])
{
    sm_date_format_compact(c->valid_from, from);
    if (c->long_term)
        memcpy(to, "00000000", 9);
    else
        sm_date_format_compact(c->valid_to, to);
}

static bool has_card_dates(const demo_person *p, sm_date from, bool long_term, sm_date to)
{
    for (size_t i = 0; i < p->n_cards; i++) {
        const reg_card *c = &p->cards[i];
        if (sm_date_cmp(c->valid_from, from) == 0 && c->long_term == long_term &&
            (long_term || sm_date_cmp(c->valid_to, to) == 0))
            return true;
    }
    return false;
}

/* id4 match on card i of p. */
static void emit_id4_match(case_writer *w, const demo_person *p, size_t i)
{
    char from[9], to[9];
    card_dates(&p->cards[i], from, to);
    case_out c = {"id4", p->name, strlen(p->name), p->id18, 18, from, to, SM_VERDICT_MATCH,
                  NULL, &p->cards[i], i + 1 == p->n_cards, (int)p->hukou};
    emit(w, &c);
}

static bool case_bad_id(case_writer *w, const demo_person *p)
{
    demo_rng *r = &w->rng;
    static const char *const bad_regions[] = {"710102", "810101", "820102",
                                              "990102", "200101", "000101"};
    char id[24];
    memcpy(id, p->id18, 19);
    size_t len = 18;
    switch (w->id_reason++ % 5) {
    case 0: { /* checksum */
        static const char checks[] = "0123456789X";
        const char *at = strchr(checks, id[17]);
        size_t k = at ? (size_t)(at - checks) : 0;
        id[17] = checks[(k + 1 + rng_below(r, 10)) % 11];
        break;
    }
    case 1: { /* birth_date: no such day, or after `at` */
        uint32_t how = rng_below(r, 3);
        if (how == 0) {
            memcpy(id + 10, "13", 2);
        } else if (how == 1) {
            memcpy(id + 10, "0230", 4);
        } else {
            sm_date future = date_of_day(day_number(w->at) + 1 + (int32_t)rng_below(r, 365));
            char d[9];
            sm_date_format_compact(future, d);
            memcpy(id + 6, d, 8);
        }
        id[17] = sm_id_check_char(id);
        break;
    }
    case 2: /* length: a digit missing or one too many */
        if (rng_below(r, 2)) {
            len = 17;
            id[17] = '\0';
        } else {
            id[18] = (char)('0' + rng_below(r, 10));
            id[19] = '\0';
            len = 19;
        }
        break;
    case 3: /* characters: a letter among the digits */
        id[1 + rng_below(r, 15)] = "OAIX"[rng_below(r, 4)];
        break;
    default: /* region: a code no ID number carries */
        memcpy(id, bad_regions[rng_below(r, COUNT_OF(bad_regions))], 6);
        id[17] = sm_id_check_char(id);
        break;
    }
    sm_id_options opt = {.at = w->at, .strict = false};
    sm_id_info info;
    sm_id_status st = sm_id_parse(id, len, &opt, &info);
    if (st == SM_ID_OK)
        return false;
    bool id4 = rng_below(r, 4) == 0;
    char from[9], to[9];
    card_dates(&p->cards[p->n_cards - 1], from, to);
    case_out c = {id4 ? "id4" : "id2", p->name, strlen(p->name), id, len, id4 ? from : NULL, to,
                  SM_VERDICT_INVALID_ID, sm_id_status_code(st), NULL, false, -1};
    emit(w, &c);
    return true;
}

/* The byte length of the first UTF-8 character of s. */
static size_t first_char_len(const char *s)
{
    uint32_t cp;
    size_t n = sm_utf8_decode(s, strlen(s), &cp);
    return n ? n : 1;
}

static bool case_bad_name(case_writer *w, const demo_person *p)
{
    demo_rng *r = &w->rng;
    char name[160];
    const char *n = p->name;
    size_t first = first_char_len(n);
    switch (w->name_reason++ % 6) {
    case 0: /* too_short: the surname's first character alone */
        snprintf(name, sizeof name, "%.*s", (int)first, n);
        break;
    case 1: /* characters: a digit, or a space inside */
        if (rng_below(r, 2))
            snprintf(name, sizeof name, "%s%u", n, 1 + rng_below(r, 9));
        else
            snprintf(name, sizeof name, "%.*s %s", (int)first, n, n + first);
        break;
    case 2: /* mixed_script: Han and Latin letters */
        snprintf(name, sizeof name, "%.*s%s", (int)first, n, rng_below(r, 2) ? "Wei" : "XIAOMING");
        break;
    case 3: /* dot: leading or trailing */
        snprintf(name, sizeof name, rng_below(r, 2) ? MIDDLE_DOT "%s" : "%s" MIDDLE_DOT, n);
        break;
    case 4: { /* too_long: the name written again and again */
        name[0] = '\0';
        while (utf8_chars(name) <= SM_NAME_MAX_HAN)
            append(name, sizeof name, n);
        break;
    }
    default: /* control: a zero-width space inside */
        snprintf(name, sizeof name, "%.*s\xe2\x80\x8b%s", (int)first, n, n + first);
        break;
    }
    sm_name nm;
    sm_name_status st = sm_name_normalise(name, strlen(name), &nm);
    if (st == SM_NAME_OK)
        return false;
    bool id4 = rng_below(r, 4) == 0;
    char from[9], to[9];
    card_dates(&p->cards[p->n_cards - 1], from, to);
    case_out c = {id4 ? "id4" : "id2", name, strlen(name), p->id18, 18, id4 ? from : NULL, to,
                  SM_VERDICT_INVALID_NAME, sm_name_status_code(st), NULL, false, -1};
    emit(w, &c);
    return true;
}

static bool case_bad_period(case_writer *w, const demo_person *p, sm_date birth)
{
    demo_rng *r = &w->rng;
    const reg_card *newest = &p->cards[p->n_cards - 1];
    char from[16], to[16];
    card_dates(newest, from, to);
    switch (w->period_reason++ % 6) {
    case 0: /* duration: seven years */
        sm_date_format_compact(sm_date_add_years(newest->valid_from, 7), to);
        break;
    case 1: /* format: ISO dates */
        sm_date_format_iso(newest->valid_from, from);
        break;
    case 2: /* end_before_begin */
        sm_date_format_compact(sm_date_add_years(newest->valid_from, -10), to);
        break;
    case 3: { /* begin_in_future */
        sm_date b = date_of_day(day_number(w->at) + 1 + (int32_t)rng_below(r, 365));
        sm_date_format_compact(b, from);
        sm_date_format_compact(sm_date_add_years(b, 10), to);
        break;
    }
    case 4: /* begin_long_term */
        memcpy(from, "00000000", 9);
        break;
    default: { /* begin_before_birth */
        sm_date b = sm_date_add_years(birth, -1);
        sm_date_format_compact(b, from);
        sm_date_format_compact(sm_date_add_years(b, 10), to);
        break;
    }
    }
    sm_period per;
    sm_period_status st = sm_period_check(from, strlen(from), to, strlen(to), &birth, &w->at, &per);
    if (st == SM_PERIOD_OK)
        return false;
    case_out c = {"id4", p->name, strlen(p->name), p->id18, 18, from, to,
                  SM_VERDICT_INVALID_PERIOD, sm_period_status_code(st), NULL, false, -1};
    emit(w, &c);
    return true;
}

static bool case_wrong_dates(case_writer *w, const demo_person *p, sm_date birth)
{
    demo_rng *r = &w->rng;
    const reg_card *base = &p->cards[rng_below(r, (uint32_t)p->n_cards)];
    static const int shifts[] = {-1, 1, -31, 30, -365, 2};
    int years = 0;
    if (!base->long_term) {
        sm_period per;
        char f[9], t[9];
        card_dates(base, f, t);
        if (sm_period_check(f, 8, t, 8, NULL, &w->at, &per) != SM_PERIOD_OK)
            return false;
        years = per.years;
    }
    uint32_t start = rng_below(r, COUNT_OF(shifts));
    for (size_t i = 0; i < COUNT_OF(shifts); i++) {
        sm_date b =
            date_of_day(day_number(base->valid_from) + shifts[(start + i) % COUNT_OF(shifts)]);
        sm_date e = years ? sm_date_add_years(b, years) : mkdate(0, 0, 0);
        if (has_card_dates(p, b, base->long_term, e))
            continue;
        char from[9], to[9];
        sm_date_format_compact(b, from);
        if (years)
            sm_date_format_compact(e, to);
        else
            memcpy(to, "00000000", 9);
        if (sm_period_check(from, 8, to, 8, &birth, &w->at, NULL) != SM_PERIOD_OK)
            continue;
        case_out c = {"id4", p->name, strlen(p->name), p->id18, 18, from, to,
                      SM_VERDICT_MISMATCH, NULL, NULL, false, -1};
        emit(w, &c);
        return true;
    }
    return false;
}

static bool case_other_name(case_writer *w, const demo_person *p, bool id4)
{
    if (!w->prev_name[0] || strcmp(w->prev_name, p->name) == 0)
        return false;
    char from[9], to[9];
    card_dates(&p->cards[p->n_cards - 1], from, to);
    case_out c = {id4 ? "id4" : "id2", w->prev_name, strlen(w->prev_name), p->id18, 18,
                  id4 ? from : NULL, to, SM_VERDICT_MISMATCH, NULL, NULL, false, -1};
    emit(w, &c);
    return true;
}

static bool case_not_found(case_writer *w, const demo_person *p, bool id4)
{
    char id[19];
    sm_date birth;
    decoy_id(w->g, &w->rng, id, &birth);
    char from[9], to[9];
    if (id4) {
        /* a lawful card of that invented holder */
        int32_t lo = day_number(sm_date_add_years(birth, 16)), hi = day_number(w->at);
        sm_date b = date_of_day(lo <= hi ? rand_day(&w->rng, lo, hi) : hi);
        int years = sm_period_years_for_age(sm_age_at(birth, b));
        sm_date_format_compact(b, from);
        if (years)
            sm_date_format_compact(sm_date_add_years(b, years), to);
        else
            memcpy(to, "00000000", 9);
    }
    case_out c = {id4 ? "id4" : "id2", p->name, strlen(p->name), id, 18, id4 ? from : NULL, to,
                  SM_VERDICT_NOT_FOUND, NULL, NULL, false, -1};
    emit(w, &c);
    return true;
}

static bool case_normalised(case_writer *w, const demo_person *p)
{
    demo_rng *r = &w->rng;
    char name[160], id[19];
    const char *dot = strstr(p->name, MIDDLE_DOT);
    if (dot) {
        /* the same name with a look-alike dot, as keyboards produce it */
        static const char *const lookalikes[] = {"\xe2\x80\xa2", "\xe3\x83\xbb", "."};
        snprintf(name, sizeof name, "%.*s%s%s", (int)(dot - p->name), p->name,
                 lookalikes[rng_below(r, COUNT_OF(lookalikes))], dot + strlen(MIDDLE_DOT));
    } else {
        /* with spaces around it, ideographic ones included */
        snprintf(name, sizeof name, "%s%s%s", rng_below(r, 2) ? " " : "\xe3\x80\x80", p->name,
                 rng_below(r, 2) ? "  " : "\xe3\x80\x80");
    }
    memcpy(id, p->id18, 19);
    if (id[17] == 'X')
        id[17] = 'x';
    case_out c = {"id2", name, strlen(name), id, 18, NULL, NULL, SM_VERDICT_MATCH,
                  NULL,  NULL, false,        -1};
    emit(w, &c);
    return true;
}

/* Try one kind of case on person p; false if p cannot serve it. */
static bool try_case(case_writer *w, case_kind k, const demo_person *p)
{
    if (p->n_cards == 0)
        return false;
    sm_date birth = parse_birth(p->id18);
    switch (k) {
    case K_ID2_MATCH: {
        case_out c = {"id2", p->name, strlen(p->name), p->id18, 18, NULL, NULL, SM_VERDICT_MATCH,
                      NULL, NULL, false, -1};
        emit(w, &c);
        return true;
    }
    case K_ID2_OTHER_NAME:
        return case_other_name(w, p, false);
    case K_ID4_OTHER_NAME:
        return case_other_name(w, p, true);
    case K_ID2_NOT_FOUND:
        return case_not_found(w, p, false);
    case K_ID4_NOT_FOUND:
        return case_not_found(w, p, true);
    case K_ID2_NORMALISED:
        return case_normalised(w, p);
    case K_BAD_ID:
        return case_bad_id(w, p);
    case K_BAD_NAME:
        return case_bad_name(w, p);
    case K_BAD_PERIOD:
        return case_bad_period(w, p, birth);
    case K_ID4_WRONG_DATES:
        return case_wrong_dates(w, p, birth);
    case K_ID4_NEWEST:
        emit_id4_match(w, p, p->n_cards - 1);
        return true;
    case K_ID4_ANY_CARD:
        emit_id4_match(w, p, rng_below(&w->rng, (uint32_t)p->n_cards));
        return true;
    case K_ID4_HUKOU:
        if (p->hukou == REG_HUKOU_VALID)
            return false;
        emit_id4_match(w, p, p->n_cards - 1);
        return true;
    case K_ID4_OLD_EXPIRED:
        for (size_t i = p->n_cards - 1; i-- > 0;) {
            const reg_card *c = &p->cards[i];
            if (!c->lost && !c->long_term && sm_date_cmp(c->valid_to, w->at) < 0) {
                emit_id4_match(w, p, i);
                return true;
            }
        }
        return false;
    case K_ID4_LOST:
        for (size_t i = p->n_cards; i-- > 0;) {
            if (p->cards[i].lost) {
                emit_id4_match(w, p, i);
                return true;
            }
        }
        return false;
    case K__COUNT:
        break;
    }
    return false;
}

static void cases_for(case_writer *w, const demo_person *p, size_t index)
{
    if (index < DEMO_SHOWCASE_COUNT) {
        for (size_t i = 0; i < COUNT_OF(showcase_cases[index]); i++)
            try_case(w, showcase_cases[index][i], p);
    } else {
        /* first whatever is waiting, then this person's own turn */
        for (int k = 0; k < K__COUNT; k++)
            if ((w->pending & (1u << k)) && try_case(w, (case_kind)k, p))
                w->pending &= ~(1u << k);
        case_kind k = schedule[w->sched++ % COUNT_OF(schedule)];
        if (!try_case(w, k, p))
            w->pending |= 1u << k;
    }
    snprintf(w->prev_name, sizeof w->prev_name, "%s", p->name);
}

/* ------------------------------------------------------------ the files */

static bool mkdir_p(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        set_err(err, errlen, "output directory name too long");
        return false;
    }
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return false;
        }
        *s = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "%s is not a directory", path);
        return false;
    }
    return true;
}

static FILE *open_tmp(const char *dir, const char *name, char *path, size_t cap, char *err,
                      size_t errlen)
{
    if (snprintf(path, cap, "%s/%s.tmp", dir, name) >= (int)cap) {
        set_err(err, errlen, "output directory name too long");
        return NULL;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return f;
}

/* Flush and close an output file; false (err filled) if anything failed. */
static bool close_out(outbuf *o, const char *path, char *err, size_t errlen)
{
    ob_flush(o);
    bool ok = !o->failed && !ferror(o->f);
    int saved = errno;
    if (fclose(o->f) != 0) {
        ok = false;
        saved = errno;
    }
    o->f = NULL;
    if (!ok)
        set_err(err, errlen, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
    return ok;
}

/* Move DIR/name.tmp into place as DIR/name. */
static bool publish(const char *dir, const char *name, const char *tmp, char *err, size_t errlen)
{
    char final[4096];
    snprintf(final, sizeof final, "%s/%s", dir, name);
    if (rename(tmp, final) != 0) {
        set_err(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        return false;
    }
    return true;
}

bool demo_write_files(const demo_options *opt, const char *dir, char *err, size_t errlen)
{
    if (!opt || !dir || !*dir) {
        set_err(err, errlen, "no output directory");
        return false;
    }
    sm_date at;
    if (!resolve_at(opt, &at)) {
        set_err(err, errlen, "the reference date must lie between 2021-03-15 and 2099-12-31");
        return false;
    }
    if (!mkdir_p(dir, err, errlen))
        return false;
    demo_gen *g = demo_new(opt);
    outbuf *reg_o = calloc(1, sizeof *reg_o);
    outbuf *cases_o = calloc(1, sizeof *cases_o);
    char reg_tmp[4096] = "", cases_tmp[4096] = "";
    bool ok = false;
    if (!g || !reg_o || !cases_o) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    reg_o->f = open_tmp(dir, "registry.csv", reg_tmp, sizeof reg_tmp, err, errlen);
    if (!reg_o->f)
        goto out;
    cases_o->f = open_tmp(dir, "cases.jsonl", cases_tmp, sizeof cases_tmp, err, errlen);
    if (!cases_o->f)
        goto out;

    case_writer w;
    memset(&w, 0, sizeof w);
    w.o = cases_o;
    w.g = g;
    w.at = g->opt.at;
    sm_date_format_iso(w.at, w.at_iso);
    rng_seed(&w.rng, opt->seed, 2);

    ob_str(reg_o, csv_header);
    demo_person p;
    size_t index = 0;
    while (!reg_o->failed && !cases_o->failed && demo_next(g, &p)) {
        write_rows(reg_o, &p);
        cases_for(&w, &p, index++);
    }
    memset(w.prev_name, 0, sizeof w.prev_name);
    if (g->oom) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    bool closed = close_out(reg_o, reg_tmp, err, errlen);
    closed = close_out(cases_o, cases_tmp, closed ? err : NULL, errlen) && closed;
    if (!closed)
        goto out;
    ok = publish(dir, "registry.csv", reg_tmp, err, errlen) &&
         publish(dir, "cases.jsonl", cases_tmp, err, errlen);
out:
    if (reg_o && reg_o->f)
        fclose(reg_o->f);
    if (cases_o && cases_o->f)
        fclose(cases_o->f);
    if (!ok) {
        if (reg_tmp[0])
            unlink(reg_tmp);
        if (cases_tmp[0])
            unlink(cases_tmp);
    }
    free(reg_o);
    free(cases_o);
    demo_free(g);
    return ok;
}

/* ---------------------------------------------------------- the registry */

#define ROWS_PER_BATCH 10000

reg_status demo_fill_registry(const demo_options *opt, registry *reg, char *err, size_t errlen)
{
    if (!opt || !reg) {
        set_err(err, errlen, "no registry");
        return REG_ERR_INVALID;
    }
    sm_date at;
    if (!resolve_at(opt, &at)) {
        set_err(err, errlen, "the reference date must lie between 2021-03-15 and 2099-12-31");
        return REG_ERR_INVALID;
    }
    demo_gen *g = demo_new(opt);
    if (!g) {
        set_err(err, errlen, "out of memory");
        return REG_ERR_NOMEM;
    }
    reg_writer *w = NULL;
    reg_status st = registry_writer_begin(reg, &w);
    if (st != REG_OK) {
        set_err(err, errlen, "cannot write the registry: %s", reg_status_message(st));
        demo_free(g);
        return st;
    }
    demo_person p;
    size_t rows = 0;
    while (st == REG_OK && demo_next(g, &p)) {
        for (size_t i = 0; i < p.n_cards && st == REG_OK; i++) {
            reg_row row;
            memset(&row, 0, sizeof row);
            memcpy(row.id18, p.id18, sizeof row.id18);
            row.name = p.name;
            row.name_len = strlen(p.name);
            row.hukou = p.hukou;
            row.card = p.cards[i];
            reg_put_result res;
            st = registry_writer_put(w, &row, &res);
            if (st == REG_OK && ++rows % ROWS_PER_BATCH == 0)
                st = registry_writer_commit(w);
        }
    }
    if (st == REG_OK && g->oom)
        st = REG_ERR_NOMEM;
    if (st != REG_OK) {
        set_err(err, errlen, "cannot write the registry: %s", reg_status_message(st));
        registry_writer_end(w, false);
    } else {
        st = registry_writer_end(w, true);
        if (st != REG_OK)
            set_err(err, errlen, "cannot write the registry: %s", reg_status_message(st));
    }
    memset(&p, 0, sizeof p);
    demo_free(g);
    return st;
}
