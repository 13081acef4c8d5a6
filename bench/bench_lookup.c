/*
 * bench_lookup.c — registry lookup speed, in-process: decisions per second
 * and p50/p99/p99.9 latency of registry_lookup (name + ID number against a
 * store), on one thread and on several sharing one registry.
 *
 * Input: a store and its key (built by bench/registry), and a sample file of
 * "id_number,name" lines taken from the imported rows. The queries mix
 * right names (about 90 %), wrong names (5 %) and numbers not in the store
 * (5 %), drawn at random from the sample with a fixed seed.
 *
 * Must never: fail on timing (it prints figures), write to the store (it is
 * opened read-only), or print an identity.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shiming/shiming.h>

#include "crypto/server_key.h"
#include "registry/registry.h"

#define MAX_SAMPLE 2000000

typedef struct {
    char id[19];
    char name[SM_NAME_BUF];
    size_t name_len;
} query;

typedef struct {
    registry *reg;
    const query *q;
    size_t n;
    uint64_t *lat_ns; /* NULL: no latency recording */
    uint64_t found, matched, not_found, errors;
} job;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *run_job(void *arg)
{
    job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        reg_person p;
        uint64_t t0 = j->lat_ns ? now_ns() : 0;
        reg_status st = registry_lookup(j->reg, j->q[i].id, j->q[i].name, j->q[i].name_len, &p);
        if (j->lat_ns)
            j->lat_ns[i] = now_ns() - t0;
        if (st == REG_OK) {
            j->found++;
            j->matched += p.name_matches;
        } else if (st == REG_NOT_FOUND) {
            j->not_found++;
        } else {
            j->errors++;
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fputs("usage: bench_lookup --db PATH --key-file PATH --sample FILE\n"
          "                    [--lookups N] [--rounds R] [--threads T]\n"
          "  --sample FILE   lines \"id_number,name\" of persons in the store\n"
          "  --lookups N     lookups per round (default 200000)\n"
          "  --rounds R      rounds; figures are medians over them (default 5)\n"
          "  --threads T     threads for the shared-registry run (default 2)\n",
          stderr);
}

/* Read the sample; returns the number of persons read. */
static size_t read_sample(const char *path, query **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_lookup: cannot read %s: %s\n", path, strerror(errno));
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    query *q = malloc(cap * sizeof *q);
    char line[2048];
    while (q != NULL && n < MAX_SAMPLE && fgets(line, sizeof line, f) != NULL) {
        char *comma = strchr(line, ',');
        if (comma == NULL || line[0] < '0' || line[0] > '9')
            continue; /* header or junk */
        *comma = '\0';
        char *name = comma + 1;
        name[strcspn(name, ",\r\n")] = '\0';
        sm_id_info info;
        sm_name nm;
        if (sm_id_parse(line, strlen(line), NULL, &info) != SM_ID_OK ||
            sm_name_normalise(name, strlen(name), &nm) != SM_NAME_OK)
            continue;
        if (n == cap) {
            cap *= 2;
            query *grown = realloc(q, cap * sizeof *q);
            if (grown == NULL)
                break;
            q = grown;
        }
        memcpy(q[n].id, info.id18, 19);
        memcpy(q[n].name, nm.text, nm.len + 1);
        q[n].name_len = nm.len;
        n++;
    }
    fclose(f);
    *out = q;
    return n;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *key_file = NULL, *sample = NULL;
    size_t lookups = 200000;
    int rounds = 5, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "--key-file"))
            key_file = v;
        else if (!strcmp(a, "--sample"))
            sample = v;
        else if (!strcmp(a, "--lookups"))
            lookups = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rounds"))
            rounds = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (db == NULL || key_file == NULL || sample == NULL || lookups == 0 || rounds < 1 ||
        threads < 1 || threads > 64) {
        usage();
        return 2;
    }

    sm_key key;
    char err[1024];
    if (sm_key_load(key_file, false, &key, NULL, err, sizeof err) != SM_KEY_OK) {
        fprintf(stderr, "bench_lookup: %s\n", err);
        return 1;
    }
    reg_options o = {.path = db, .key = &key, .read_only = true, .readers = (unsigned)threads,
                     .busy_timeout_ms = 5000};
    registry *reg = NULL;
    reg_status st = registry_open(&o, &reg, err, sizeof err);
    sm_key_clear(&key);
    if (st != REG_OK) {
        fprintf(stderr, "bench_lookup: %s\n", err);
        return 1;
    }
    reg_stats rs;
    if (registry_stats(reg, &rs) != REG_OK) {
        fprintf(stderr, "bench_lookup: cannot read the store's stats\n");
        registry_close(reg);
        return 1;
    }

    query *people = NULL;
    size_t n_people = read_sample(sample, &people);
    if (n_people < 100) {
        fprintf(stderr, "bench_lookup: too few persons in %s\n", sample);
        free(people);
        registry_close(reg);
        return 1;
    }

    /* The query mix, fixed by the seed. */
    query *qs = malloc(lookups * sizeof *qs);
    uint64_t *lat = malloc(lookups * sizeof *lat);
    double *rate1 = calloc((size_t)rounds, sizeof *rate1), *rateN = calloc((size_t)rounds, sizeof *rateN);
    uint64_t *all_lat = malloc(lookups * (size_t)rounds * sizeof *all_lat);
    if (qs == NULL || lat == NULL || rate1 == NULL || rateN == NULL || all_lat == NULL) {
        fprintf(stderr, "bench_lookup: out of memory\n");
        return 1;
    }
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < lookups; i++) {
        const query *p = &people[rng(&seed) % n_people];
        qs[i] = *p;
        unsigned kind = (unsigned)(rng(&seed) % 100);
        if (kind < 5) { /* a wrong name: someone else's */
            const query *o2 = &people[rng(&seed) % n_people];
            memcpy(qs[i].name, o2->name, o2->name_len + 1);
            qs[i].name_len = o2->name_len;
        } else if (kind < 10) { /* a number not in the store: another sequence */
            char d17[18];
            memcpy(d17, p->id, 17);
            d17[14] = (char)('0' + (d17[14] - '0' + 5) % 10);
            d17[17] = '\0';
            memcpy(qs[i].id, d17, 17);
            qs[i].id[17] = sm_id_check_char(d17);
        }
    }

    printf("store: %" PRIu64 " persons, %" PRIu64 " cards, %.1f MB (%.0f bytes/person)\n",
           rs.persons, rs.cards, (double)rs.store_bytes / 1e6,
           rs.persons ? (double)rs.store_bytes / (double)rs.persons : 0.0);
    printf("sample: %zu persons; %zu lookups per round, %d rounds\n", n_people, lookups, rounds);

    /* Warm the page cache: one pass over every sampled person. */
    job warm = {.reg = reg, .q = people, .n = n_people};
    run_job(&warm);
    if (warm.errors > 0) {
        fprintf(stderr, "bench_lookup: %" PRIu64 " lookups failed\n", warm.errors);
        return 1;
    }

    uint64_t found = 0, matched = 0, not_found = 0;
    for (int r = 0; r < rounds; r++) {
        job j = {.reg = reg, .q = qs, .n = lookups, .lat_ns = lat};
        uint64_t t0 = now_ns();
        run_job(&j);
        double s = (double)(now_ns() - t0) / 1e9;
        rate1[r] = (double)lookups / s;
        memcpy(all_lat + (size_t)r * lookups, lat, lookups * sizeof *lat);
        found += j.found;
        matched += j.matched;
        not_found += j.not_found;

        job jobs[64];
        pthread_t tid[64];
        size_t per = lookups / (size_t)threads;
        t0 = now_ns();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){.reg = reg, .q = qs + (size_t)t * per, .n = per};
            pthread_create(&tid[t], NULL, run_job, &jobs[t]);
        }
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        s = (double)(now_ns() - t0) / 1e9;
        rateN[r] = (double)(per * (size_t)threads) / s;
    }
    size_t total = lookups * (size_t)rounds;
    qsort(all_lat, total, sizeof *all_lat, cmp_u64);
    qsort(rate1, (size_t)rounds, sizeof *rate1, cmp_double);
    qsort(rateN, (size_t)rounds, sizeof *rateN, cmp_double);
    printf("answers: %.1f%% found (%.1f%% with the right name), %.1f%% not found\n",
           100.0 * (double)found / (double)total, 100.0 * (double)matched / (double)total,
           100.0 * (double)not_found / (double)total);
    printf("1 thread:  %10.0f decisions/s (median of %d rounds)\n", rate1[rounds / 2], rounds);
    printf("%d threads: %10.0f decisions/s (median of %d rounds)\n", threads, rateN[rounds / 2],
           rounds);
    printf("latency (1 thread): p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
           (double)all_lat[total / 2] / 1e3, (double)all_lat[total * 99 / 100] / 1e3,
           (double)all_lat[total * 999 / 1000] / 1e3, (double)all_lat[total - 1] / 1e3);

    for (size_t i = 0; i < n_people; i++)
        memset(&people[i], 0, sizeof people[i]);
    memset(qs, 0, lookups * sizeof *qs);
    free(people);
    free(qs);
    free(lat);
    free(all_lat);
    free(rate1);
    free(rateN);
    registry_close(reg);
    return 0;
}
