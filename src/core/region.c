/*
 * region.c — GB/T 2260 region-code lookups over the table that
 * tools/gen_regions.py compiles in (region_table.c in the build directory).
 *
 * Must never: allocate, do I/O, or hold mutable state — the ID-number hot
 * path calls sm_region_lookup once per number from any thread. All naming
 * rules (which city a county belongs to, municipalities, historical names)
 * are decided by the generator; this file only searches and copies.
 */
#include "shiming/shiming.h"

/* Defined in the generated region_table.c; see tools/gen_regions.py. */
enum { META_PROVINCE, META_CITY, META_COUNTY, META_FIRST, META_LAST };
#define TABLE_NONE 0xFFFFu /* no name at this level; no slot for a prefix */
extern const int sm__region_current_year;
extern const uint16_t sm__region_n;
extern const uint16_t sm__region_prefix_slot[10000];
extern const uint64_t sm__region_slot_bits[][2];
extern const uint16_t sm__region_slot_base[][2];
extern const uint16_t sm__region_meta[][5];
extern const uint8_t sm__region_prov_exists[100];
extern const unsigned char sm__region_pool[]; /* UTF-8, NUL-separated */

static inline const char *name_at(uint16_t off)
{
    return off == TABLE_NONE ? NULL : (const char *)(sm__region_pool + off);
}

/* Inline SWAR rather than __builtin_popcountll: without -mpopcnt (the
 * default for portable x86-64 builds) the builtin is a libgcc call. */
static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Index of `code` in the sorted table, or -1. Two dependent loads (the
 * four-digit prefix's slot, then its bitmap of last-two-digit values) and a
 * popcount for the rank: constant time and a few cache lines, where a binary
 * search over the codes cost a chain of ten dependent loads per ID. */
static int find(uint32_t code)
{
    if (code > 999999u)
        return -1;
    uint16_t slot = sm__region_prefix_slot[code / 100u];
    if (slot == TABLE_NONE)
        return -1;
    uint32_t low = code % 100u;
    uint32_t word = low >> 6, bit = low & 63u;
    uint64_t bits = sm__region_slot_bits[slot][word];
    if (!((bits >> bit) & 1u))
        return -1;
    return (int)(sm__region_slot_base[slot][word] + popcount64(bits & ((UINT64_C(1) << bit) - 1u)));
}

static bool is_municipality(uint32_t prov)
{
    return prov == 11 || prov == 12 || prov == 31 || prov == 50;
}

bool sm_region_lookup(uint32_t code, sm_region *out)
{
    sm_region r = {.code = code};
    int i = find(code);
    if (i >= 0) {
        const uint16_t *m = sm__region_meta[i];
        r.province = name_at(m[META_PROVINCE]);
        r.city = name_at(m[META_CITY]);
        r.county = name_at(m[META_COUNTY]);
        r.first_year = m[META_FIRST];
        r.last_year = m[META_LAST];
        r.known = true;
        r.historical = m[META_LAST] != 0;
    } else if (sm_region_province_exists(code)) {
        /* Unknown code under a real province: say what can be told, so a
         * lenient caller can still show where the number claims to be from. */
        uint32_t prov = code / 10000u;
        int pi = find(prov * 10000u);
        if (pi >= 0)
            r.province = name_at(sm__region_meta[pi][META_PROVINCE]);
        if (code % 10000u != 0) {
            if (code % 100u != 0) {
                int ci = find(code / 100u * 100u);
                if (ci >= 0)
                    r.city = name_at(sm__region_meta[ci][META_CITY]);
            }
            if (!r.city && is_municipality(prov))
                r.city = r.province;
        }
    }
    if (out)
        *out = r;
    return r.known;
}

bool sm_region_province_exists(uint32_t code)
{
    return code <= 999999u && sm__region_prov_exists[code / 10000u] != 0;
}

size_t sm_region_count(void)
{
    return sm__region_n;
}

int sm_region_current_year(void)
{
    return sm__region_current_year;
}
