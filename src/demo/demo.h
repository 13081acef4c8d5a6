/*
 * demo.h — synthetic identities for demos, tests and benchmarks.
 *
 * Deterministic: the same seed and count give byte-identical output on every
 * machine (own PRNG, no locale, no clock: the reference date is fixed by the
 * caller). The people are invented; their ID numbers are valid over real
 * GB/T 2260 codes (some historical), their names realistic (common surnames
 * and given names, some minority names with the middle dot), and their card
 * histories obey the Resident Identity Card Law (several cards per person,
 * some lost, some expired; hukou status 1 and 2 for a few).
 *
 * The first DEMO_SHOWCASE_COUNT persons are always the fixed showcase
 * identities documented in README.md and docs/registry.md, whatever the seed.
 *
 * Must never: produce an identity that fails the core's own checks, or read
 * anything at run time. Thread-safety: a demo_gen is used by one thread.
 */
#ifndef SHIMING_DEMO_H
#define SHIMING_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shiming/shiming.h>

#include "registry/registry.h"

#define DEMO_SHOWCASE_COUNT 3

typedef struct {
    uint64_t seed;
    size_t count;        /* persons (showcase included) */
    sm_date at;          /* the "today" of the generated world; {0} = 2026-01-01 */
} demo_options;

/* One generated person: identity, hukou status and card history (oldest
 * first). Strings are owned by the generator, valid until the next call. */
typedef struct {
    char id18[19];
    const char *name;    /* normalised UTF-8 */
    reg_hukou hukou;
    size_t n_cards;
    reg_card cards[8];
} demo_person;

typedef struct demo_gen demo_gen;

demo_gen *demo_new(const demo_options *opt);
void demo_free(demo_gen *g);

/* The next person, or false when `count` have been produced. */
bool demo_next(demo_gen *g, demo_person *out);

/* Write DIR/registry.csv (one row per card, the import format) and
 * DIR/cases.jsonl (ready-made requests with expected verdicts). DIR is
 * created if missing. Returns false with err filled on failure. */
bool demo_write_files(const demo_options *opt, const char *dir, char *err, size_t errlen);

/* Fill `reg` with the demo persons (one writer, batched commits). */
reg_status demo_fill_registry(const demo_options *opt, registry *reg, char *err, size_t errlen);

#endif
