/*
 * bench_idnum.c — single-threaded throughput of sm_id_parse over a large,
 * deterministic, realistic mix of ID numbers (valid current, historical and
 * first-generation numbers, permits, and every kind of invalid one).
 *
 * Usage: bench_idnum [--n COUNT] [--rounds R] [--write FILE]
 *   --write FILE  also writes the exact input set, one number per line, so
 *                 another implementation can be timed on the same inputs.
 *
 * Must never: fail on timing (it prints figures only), or depend on the clock
 * or the machine for its inputs (fixed seed, own PRNG, fixed reference date).
 */
#include "shiming/shiming.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIDE 24 /* bytes per input slot: the longest input is 19 */

/* splitmix64: tiny, well mixed, and identical on every platform, so the
 * input set (and a --write file) is the same everywhere. */
static uint64_t rng_state = 0x5348494D494E47ull; /* "SHIMING" */

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rng() % n);
}

typedef struct {
    uint32_t *v;
    size_t n;
} code_list;

static void push(code_list *l, uint32_t c)
{
    l->v[l->n++] = c;
}

static void put_num(char *p, uint32_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
}

/* A random real date in [1930, 2019]. */
static void random_birth(int *y, int *m, int *d)
{
    do {
        *y = 1930 + (int)below(90);
        *m = 1 + (int)below(12);
        *d = 1 + (int)below(31);
    } while (!sm_date_is_valid(*y, *m, *d));
}

/* Writes a valid 18-character number for `code` into p. */
static void make18(char *p, uint32_t code)
{
    int y, m, d;
    random_birth(&y, &m, &d);
    put_num(p, code, 6);
    put_num(p + 6, (uint32_t)y, 4);
    put_num(p + 10, (uint32_t)m, 2);
    put_num(p + 12, (uint32_t)d, 2);
    put_num(p + 14, below(1000), 3);
    p[17] = sm_id_check_char(p);
}

/* Writes a valid 15-digit number (born 1930..1999) for `code`. */
static void make15(char *p, uint32_t code)
{
    int y, m, d;
    do
        random_birth(&y, &m, &d);
    while (y > 1999);
    put_num(p, code, 6);
    put_num(p + 6, (uint32_t)(y % 100), 2);
    put_num(p + 8, (uint32_t)m, 2);
    put_num(p + 10, (uint32_t)d, 2);
    put_num(p + 12, below(1000), 3);
}

static uint32_t pick(const code_list *l)
{
    return l->v[below((uint32_t)l->n)];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const sm_id_options OPT = {{2024, 6, 1}, false};

/* One pass over every input; returns a value derived from every result so
 * the compiler cannot drop any call. */
static uint64_t run_pass(const char *buf, const uint8_t *lens, size_t n, size_t *valid)
{
    uint64_t acc = 0;
    size_t ok = 0;
    sm_id_info info;
    for (size_t i = 0; i < n; i++) {
        sm_id_status st = sm_id_parse(buf + i * STRIDE, lens[i], &OPT, &info);
        if (st == SM_ID_OK) {
            ok++;
            acc += (uint64_t)info.age + (uint64_t)info.id18[17];
        } else {
            acc += (uint64_t)st;
        }
    }
    *valid = ok;
    return acc;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int rounds = 5;
    const char *write_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            n = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
            write_path = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--n COUNT] [--rounds R] [--write FILE]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0 || rounds < 1 || rounds > 101) {
        fprintf(stderr, "bench_idnum: need --n >= 1 and 1 <= --rounds <= 101\n");
        return 2;
    }

    /* Real codes from the compiled-in table, split the way they occur. */
    static uint32_t cur_v[1000000], hist_v[1000000], unk_v[1000000];
    code_list current = {cur_v, 0}, historical = {hist_v, 0}, unknown = {unk_v, 0};
    for (uint32_t code = 100000; code <= 999999; code++) {
        uint32_t prov = code / 10000;
        if (prov == 71 || prov == 81 || prov == 82 || prov == 83)
            continue;
        sm_region r;
        if (sm_region_lookup(code, &r)) {
            if (code % 100 == 0)
                continue; /* numbers carry county-level codes */
            push(r.historical ? &historical : &current, code);
        } else if (r.province && code % 100 != 0) {
            push(&unknown, code);
        }
    }
    if (current.n == 0 || historical.n == 0 || unknown.n == 0) {
        fprintf(stderr, "bench_idnum: region table looks empty\n");
        return 1;
    }

    char *buf = calloc(n, STRIDE);
    uint8_t *lens = malloc(n);
    if (!buf || !lens) {
        fprintf(stderr, "bench_idnum: out of memory\n");
        return 1;
    }
    static const uint32_t bad_provinces[] = {10, 19, 20, 29, 30, 38, 39, 40, 47, 49, 55, 60, 66,
                                             70, 72, 80, 84, 90, 99};
    static const uint32_t sar_codes[] = {710000, 710101, 810001, 810002, 820001, 830100};
    static const uint32_t permits[] = {810000, 820000, 830000};
    for (size_t i = 0; i < n; i++) {
        char *p = buf + i * STRIDE;
        uint8_t len = 18;
        uint32_t r = below(1000);
        if (r < 560) {                    /* 56 %: current county code */
            make18(p, pick(&current));
            if (p[17] == 'X' && below(4) == 0)
                p[17] = 'x';
        } else if (r < 680) {             /* 12 %: historical code */
            make18(p, pick(&historical));
        } else if (r < 760) {             /*  8 %: first generation */
            make15(p, below(2) ? pick(&current) : pick(&historical));
            len = 15;
        } else if (r < 780) {             /*  2 %: unknown code, known province */
            make18(p, pick(&unknown));
        } else if (r < 800) {             /*  2 %: residence permit */
            make18(p, permits[below(3)]);
        } else if (r < 840) {             /*  4 %: length */
            make18(p, pick(&current));
            len = (uint8_t)(below(2) ? 17 : 19);
            p[18] = '0';
        } else if (r < 880) {             /*  4 %: characters */
            make18(p, pick(&current));
            static const char junk[] = "YAO-/ .";
            p[below(17)] = junk[below(sizeof junk - 1)];
            if (p[0] == ' ')
                p[0] = 'O'; /* keep the length: no leading space */
        } else if (r < 920) {             /*  4 %: birth date */
            make18(p, pick(&current));
            switch (below(4)) {
            case 0: put_num(p + 10, 13 + below(87), 2); break;     /* month */
            case 1: put_num(p + 12, 32 + below(68), 2); break;     /* day */
            case 2: put_num(p + 6, 1800 + below(100), 4); break;   /* before 1900 */
            default: put_num(p + 6, 2025 + below(50), 4); break;   /* future */
            }
            p[17] = sm_id_check_char(p);
        } else if (r < 960) {             /*  4 %: region */
            if (below(4) == 0) {
                make18(p, sar_codes[below(sizeof sar_codes / sizeof sar_codes[0])]);
            } else {
                uint32_t prov = bad_provinces[below(sizeof bad_provinces / sizeof bad_provinces[0])];
                make18(p, prov * 10000 + below(10000));
            }
        } else {                          /*  4 %: checksum */
            make18(p, pick(&current));
            p[17] = p[17] == '0' ? '1' : '0';
        }
        lens[i] = len;
    }

    if (write_path) {
        FILE *f = fopen(write_path, "w");
        if (!f) {
            fprintf(stderr, "bench_idnum: %s: %s\n", write_path, strerror(errno));
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            fwrite(buf + i * STRIDE, 1, lens[i], f);
            fputc('\n', f);
        }
        if (fclose(f) != 0) {
            fprintf(stderr, "bench_idnum: %s: write failed\n", write_path);
            return 1;
        }
        printf("wrote %zu inputs to %s\n", n, write_path);
    }

    /* Status mix, so a reader can check the set is what it claims. */
    size_t per_status[6] = {0};
    for (size_t i = 0; i < n; i++) {
        sm_id_info info;
        sm_id_status st = sm_id_parse(buf + i * STRIDE, lens[i], &OPT, &info);
        per_status[st <= SM_ID_ERR_CHECKSUM ? st : 0]++;
    }
    printf("inputs: %zu (ok %zu, length %zu, characters %zu, region %zu, birth_date %zu, checksum %zu)\n",
           n, per_status[SM_ID_OK], per_status[SM_ID_ERR_LENGTH], per_status[SM_ID_ERR_CHARACTERS],
           per_status[SM_ID_ERR_REGION], per_status[SM_ID_ERR_BIRTH_DATE],
           per_status[SM_ID_ERR_CHECKSUM]);

    /* One warm-up pass, then rounds of whole passes lasting at least a
     * second each (the clock is read between passes, never inside one). */
    size_t valid = 0;
    uint64_t sink = run_pass(buf, lens, n, &valid);

    double rates[101];
    for (int r = 0; r < rounds; r++) {
        size_t passes = 0;
        double t0 = now_s(), dt;
        do {
            sink += run_pass(buf, lens, n, &valid);
            passes++;
            dt = now_s() - t0;
        } while (dt < 1.0);
        rates[r] = (double)(n * passes) / dt;
        printf("round %d: %zu IDs in %.3f s: %.2f million IDs/s (%.1f ns/ID)\n", r + 1,
               n * passes, dt, rates[r] / 1e6, 1e9 / rates[r]);
    }
    qsort(rates, (size_t)rounds, sizeof rates[0], cmp_double);
    double median = rates[rounds / 2];
    printf("median: %.2f million IDs/s (%.1f ns/ID)\n", median / 1e6, 1e9 / median);
    printf("valid: %zu of %zu\n", valid, n);
    printf("(sink %llu)\n", (unsigned long long)(sink & 0xFFFF));
    free(buf);
    free(lens);
    return 0;
}
