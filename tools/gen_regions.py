#!/usr/bin/env python3
"""gen_regions.py — build-time generator of the GB/T 2260 region table.

Usage: python3 tools/gen_regions.py YEARLY.csv CURRENT.csv OUT.c

Reads the yearly lists (year,code,name; 1980..2020) and the current list
(code,name; data dated 2022) and writes a C file that src/core/region.c
searches. Must never: fetch anything, depend on anything outside the Python
standard library, or emit output that depends on dict/set ordering (the build
must be reproducible).

Rules baked into the table (region.c only reads them):
- Every code published in any yearly list or in the current list gets one
  entry, sorted by code.
- The current list counts as year CURRENT_YEAR (2022, the date of its data).
  first_year is the first list that holds the code, so a code that appears
  only in the current list has first_year = 2022: it was published some time
  after the 2020 list, and 2022 is the first list we can show it in.
- last_year is 0 while the code is in the current list, else the last yearly
  list holding it; historical = not in the current list.
- Names are as of the last list that held the code (the current list for a
  current code): province = first two digits + 0000, city = first four + 00.
  When the province or city code was not in that list, the name comes from
  the latest earlier list that held it (for the province, failing that, the
  earliest later one, so a known code always names its province).
- Municipalities (11, 12, 31, 50): the city is the municipality itself when
  the city-level entry is absent or a placeholder (市辖区, 县, 市辖县).
- City-level entries that only group counties under the province
  (e.g. 419000 "河南省-省直辖县级行政区划") give city = NULL, and so do
  codes whose middle digits are 00 (460001..: counties directly under
  Hainan in the 1990s; 810001..: Hong Kong's districts).
- A province-level code has city and county NULL; a city-level code has
  county NULL.
- A code listed twice in one year (the 1982 list has eleven such rows, the
  second of each pair misplaced from another prefecture) keeps its first row.
"""

import csv
import sys

CURRENT_YEAR = 2022
MUNICIPALITIES = {11, 12, 31, 50}
MUNICIPAL_PLACEHOLDERS = {"市辖区", "县", "市辖县"}
NONE = 0xFFFF


def read_yearly(path):
    years = {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        if [h.strip() for h in header] != ["year", "code", "name"]:
            sys.exit(f"{path}: expected header year,code,name, got {header}")
        for n, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 3:
                sys.exit(f"{path}:{n}: expected 3 fields")
            year, code, name = int(row[0]), row[1].strip(), row[2].strip()
            if len(code) != 6 or not code.isdigit() or not name:
                sys.exit(f"{path}:{n}: bad code or empty name")
            years.setdefault(year, {}).setdefault(int(code), name)
    return years


def read_current(path):
    cur = {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        if [h.strip() for h in header] != ["code", "name"]:
            sys.exit(f"{path}: expected header code,name, got {header}")
        for n, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 2:
                sys.exit(f"{path}:{n}: expected 2 fields")
            code, name = row[0].strip(), row[1].strip()
            if len(code) != 6 or not code.isdigit() or not name:
                sys.exit(f"{path}:{n}: bad code or empty name")
            cur.setdefault(int(code), name)
    return cur


def comment_safe(s):
    return s.replace("*/", "* /")


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: gen_regions.py YEARLY.csv CURRENT.csv OUT.c")
    yearly = read_yearly(argv[1])
    current = read_current(argv[2])
    if not yearly or not current:
        sys.exit("empty input")
    if max(yearly) >= CURRENT_YEAR:
        sys.exit(f"yearly list reaches {max(yearly)}; update CURRENT_YEAR")

    # snapshots[year] -> {code: name}; the current list is year CURRENT_YEAR.
    snapshots = dict(yearly)
    snapshots[CURRENT_YEAR] = current
    years_desc = sorted(snapshots, reverse=True)
    years_asc = sorted(snapshots)

    def name_at_or_before(code, year):
        for y in years_desc:
            if y <= year and code in snapshots[y]:
                return snapshots[y][code]
        return None

    def name_after(code, year):
        for y in years_asc:
            if y > year and code in snapshots[y]:
                return snapshots[y][code]
        return None

    def city_name(code, year):
        """Name of the city level of `code` as of `year`, per the rules."""
        prov = code // 10000
        city_code = code // 100 * 100
        name = name_at_or_before(city_code, year)
        if prov in MUNICIPALITIES:
            if name is None or name in MUNICIPAL_PLACEHOLDERS:
                return province_name(code, year)
            return name
        if city_code % 10000 == 0 or name is None or "直辖" in name:
            return None
        return name

    def province_name(code, year):
        prov_code = code // 10000 * 10000
        return name_at_or_before(prov_code, year) or name_after(prov_code, year)

    all_codes = set(current)
    for snap in yearly.values():
        all_codes.update(snap)
    codes = sorted(all_codes)
    if len(codes) >= NONE:
        sys.exit("too many codes for 16-bit indexes")

    # The string pool: each distinct name once, NUL-terminated; entries hold
    # 16-bit byte offsets into it (NONE = no name at that level), which saves
    # the hot path an offsets-table load per name.
    names = {}      # name -> byte offset in the pool
    pool = []       # names in pool order
    pool_size = 0

    def intern(s):
        nonlocal pool_size
        if s is None:
            return NONE
        if s not in names:
            names[s] = pool_size
            pool.append(s)
            pool_size += len(s.encode("utf-8")) + 1
            if pool_size >= NONE:
                sys.exit("string pool over 64 KiB: widen the name offsets")
        return names[s]

    entries = []
    for code in codes:
        present = [y for y in years_asc if code in snapshots[y]]
        first = present[0]
        in_current = code in current
        last = CURRENT_YEAR if in_current else present[-1]
        own = snapshots[last][code]
        prov = province_name(code, last)
        if code % 10000 == 0:
            city, county = None, None
        elif code % 100 == 0:
            city, county = city_name(code, last), None
        else:
            city, county = city_name(code, last), own
        if prov is None:
            sys.exit(f"{code}: no province name in any list")
        entries.append((code, intern(prov), intern(city), intern(county),
                        first, 0 if in_current else last))

    provinces = sorted({c // 10000 for c in codes})

    # Two-level index, so that a lookup is two dependent loads and a
    # popcount instead of a binary search: prefix_slot[code // 100] names a
    # slot (or NONE) holding the set of last-two-digit values present under
    # that four-digit prefix as a 100-bit map, split in two 64-bit words, and
    # the entry index of the first code counted by each word.
    prefix_slot = [NONE] * 10000
    slot_bits = []
    slot_base = []
    for i, e in enumerate(entries):
        pre, low = divmod(e[0], 100)
        if prefix_slot[pre] == NONE:
            prefix_slot[pre] = len(slot_bits)
            slot_bits.append([0, 0])
            slot_base.append(i)
        slot_bits[prefix_slot[pre]][low >> 6] |= 1 << (low & 63)
    slot_base = [(b, b + bin(bits[0]).count("1")) for b, bits in zip(slot_base, slot_bits)]
    if len(slot_bits) >= NONE:
        sys.exit("too many four-digit prefixes for 16-bit slots")

    def idx(v):
        return "NONE" if v == NONE else str(v)

    out = []
    w = out.append
    w("/* region_table.c — GENERATED by tools/gen_regions.py from")
    w(" * data/gbt2260_1980_2020.csv and data/gbt2260_2021_current.csv.")
    w(" * Do not edit: change the generator or the data. Read only by")
    w(" * src/core/region.c; must never be written to at run time. */")
    w("#include <stdint.h>")
    w("")
    w("#define NONE 0xFFFFu /* no name at this level; no slot for this prefix */")
    w("")
    w("extern const int sm__region_current_year;")
    w("extern const uint16_t sm__region_n;")
    w("extern const uint16_t sm__region_prefix_slot[10000];")
    w("extern const uint64_t sm__region_slot_bits[][2];")
    w("extern const uint16_t sm__region_slot_base[][2];")
    w("extern const uint16_t sm__region_meta[][5];")
    w("extern const uint8_t sm__region_prov_exists[100];")
    w("extern const unsigned char sm__region_pool[];")
    w("")
    w(f"const int sm__region_current_year = {CURRENT_YEAR};")
    w(f"const uint16_t sm__region_n = {len(entries)};")
    w("")
    w("/* four-digit prefix -> slot, or NONE */")
    w("const uint16_t sm__region_prefix_slot[10000] = {")
    for k in range(0, 10000, 16):
        w("    " + " ".join(f"{idx(v)}," for v in prefix_slot[k:k + 16]))
    w("};")
    w("")
    w("/* per slot: last two digits 0..63, 64..99 present (bit = digits % 64) */")
    w(f"const uint64_t sm__region_slot_bits[{len(slot_bits)}][2] = {{")
    for bits in slot_bits:
        w(f"    {{0x{bits[0]:016x}u, 0x{bits[1]:016x}u}},")
    w("};")
    w("")
    w("/* per slot: entry index of the first code counted by each word */")
    w(f"const uint16_t sm__region_slot_base[{len(slot_base)}][2] = {{")
    for k in range(0, len(slot_base), 8):
        w("    " + " ".join(f"{{{b0}, {b1}}}," for b0, b1 in slot_base[k:k + 8]))
    w("};")
    w("")
    w("/* province, city, county (pool offsets or NONE), first_year, last_year */")
    w(f"const uint16_t sm__region_meta[{len(entries)}][5] = {{")

    for e in entries:
        w(f"    {{{idx(e[1])}, {idx(e[2])}, {idx(e[3])}, {e[4]}, {e[5]}}}, /* {e[0]} */")
    w("};")
    w("")
    w("const uint8_t sm__region_prov_exists[100] = {")
    flags = [1 if p in provinces else 0 for p in range(100)]
    for k in range(0, 100, 20):
        w("    " + " ".join(f"{v}," for v in flags[k:k + 20]))
    w("};")
    w("")
    # Bytes, not one long string literal: ISO C only promises 4095-character
    # literals (-Wpedantic's -Woverlength-strings), and the pool is ~50 KiB.
    w(f"const unsigned char sm__region_pool[{pool_size}] = {{")
    for s in pool:
        data = ", ".join(str(b) for b in s.encode("utf-8"))
        w(f"    {data}, 0, /* {comment_safe(s)} */")
    w("};")
    w("")

    text = "\n".join(out)
    with open(argv[3], "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv)
