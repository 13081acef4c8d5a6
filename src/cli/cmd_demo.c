/*
 * cmd_demo.c — `shiming demo-data`: write a synthetic registry
 * (DIR/registry.csv, the import format) and ready-made test requests with
 * their expected verdicts (DIR/cases.jsonl).
 *
 * Exit status: 0 written, 1 could not write, 2 usage error. Must never
 * generate anything itself (demo.c does) or read the clock: the output
 * depends only on the arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shiming/shiming.h>

#include "cli/commands.h"
#include "demo/demo.h"

#define DEMO_DEFAULT_COUNT 1000
#define DEMO_MAX_COUNT 10000000

static void usage(FILE *f)
{
    fputs(
        "usage: shiming demo-data --out DIR [--count N] [--seed S] [--at YYYY-MM-DD]\n"
        "\n"
        "Writes a synthetic registry of invented persons and test cases for it:\n"
        "  DIR/registry.csv  one row per card: id_number,name,valid_from,valid_to,\n"
        "                    issuing_authority,lost,hukou_status (for `shiming registry import`)\n"
        "  DIR/cases.jsonl   one request per line with its expected verdict\n"
        "The same arguments always give byte-identical files. The first three persons\n"
        "are the fixed showcase identities of README.md, whatever the seed.\n"
        "\n"
        "  --out DIR         output directory (created if missing)\n"
        "  --count N         persons, showcase included (default 1000, at most 10000000)\n"
        "  --seed S          any unsigned 64-bit number (default 1)\n"
        "  --at YYYY-MM-DD   the \"today\" of the generated world, from 2021-03-15 to\n"
        "                    2099-12-31 (default 2026-01-01, never the clock)\n"
        "\n"
        "exit status: 0 written, 1 could not write, 2 usage error\n",
        f);
}

/* A whole decimal number, nothing else (no sign, no spaces). */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = (uint64_t)v;
    return true;
}

int cmd_demo_data(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"at", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    demo_options opt;
    memset(&opt, 0, sizeof opt);
    opt.count = DEMO_DEFAULT_COUNT;
    opt.seed = 1;
    const char *out = NULL;
    uint64_t v;

    optind = 1;
    opterr = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'n':
            if (!parse_u64(optarg, &v) || v < 1 || v > DEMO_MAX_COUNT) {
                fprintf(stderr,
                        "shiming demo-data: --count wants a number from 1 to %d, got '%s'\n",
                        DEMO_MAX_COUNT, optarg);
                return 2;
            }
            opt.count = (size_t)v;
            break;
        case 's':
            if (!parse_u64(optarg, &v)) {
                fprintf(stderr,
                        "shiming demo-data: --seed wants an unsigned 64-bit number, got '%s'\n",
                        optarg);
                return 2;
            }
            opt.seed = v;
            break;
        case 'a': {
            sm_date at;
            static const sm_date lo = {2021, 3, 15}, hi = {2099, 12, 31};
            if (!sm_date_parse_iso(optarg, strlen(optarg), &at) || sm_date_cmp(at, lo) < 0 ||
                sm_date_cmp(at, hi) > 0) {
                fprintf(stderr,
                        "shiming demo-data: --at wants a date from 2021-03-15 to 2099-12-31 as "
                        "YYYY-MM-DD, got '%s'\n",
                        optarg);
                return 2;
            }
            opt.at = at;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shiming demo-data: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!out || !*out) {
        fprintf(stderr, "shiming demo-data: --out DIR is required\n");
        usage(stderr);
        return 2;
    }

    char err[512] = "";
    if (!demo_write_files(&opt, out, err, sizeof err)) {
        fprintf(stderr, "shiming demo-data: %s\n", err[0] ? err : "failed");
        return 1;
    }
    printf("wrote %s/registry.csv and %s/cases.jsonl (%zu persons, seed %" PRIu64 ")\n", out, out,
           opt.count, opt.seed);
    return 0;
}
