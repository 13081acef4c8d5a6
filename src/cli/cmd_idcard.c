/*
 * cmd_idcard.c — `shiming idcard check`: validate ID numbers from the
 * command line or stdin, one answer per line (readable, or JSON with --json).
 *
 * Exit status: 0 all valid, 1 any invalid, 2 usage error. Must never decide
 * anything itself: the core decides, render.c spells the JSON.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <shiming/shiming.h>

#include "api/render.h"
#include "cli/commands.h"

static void usage(FILE *f)
{
    fputs("usage: shiming idcard check [--json] [--at YYYY-MM-DD] [--strict] [ID...]\n"
          "\n"
          "Checks each ID number (GB 11643-1999, 18 or 15 digits): length, characters,\n"
          "birth date, region code (GB/T 2260, historical codes included) and checksum.\n"
          "With no ID (or '-'), reads one per line from standard input.\n"
          "\n"
          "  --json            one JSON object per line instead of readable text\n"
          "  --at YYYY-MM-DD   reference date for age and future-birth checks (default today)\n"
          "  --strict          region codes missing from every published list are invalid\n"
          "\n"
          "exit status: 0 all valid, 1 any invalid, 2 usage error\n",
          f);
}

typedef struct {
    sm_id_options opt;
    bool json;
    int invalid;
} check_ctx;

static void print_readable(const char *in, size_t len, sm_id_status st, const sm_id_info *info)
{
    if (st != SM_ID_OK) {
        printf("%.*s\tinvalid\t%s: %s\n", (int)len, in, sm_id_status_code(st),
               sm_id_status_message(st));
        return;
    }
    char birth[11];
    sm_date_format_iso(info->birth, birth);
    const sm_region *r = &info->region;
    printf("%s\tvalid\t%c %s age %d\t%s", info->id18, info->sex, birth, info->age,
           r->province ? r->province : "?");
    if (r->city && (!r->province || strcmp(r->city, r->province)))
        printf(" %s", r->city);
    if (r->county)
        printf(" %s", r->county);
    if (info->kind != SM_ID_KIND_RESIDENT)
        printf("\t%s", sm_id_kind_code(info->kind));
    if (!r->known)
        printf("\t(region code %06u is in no published list)", (unsigned)r->code);
    else if (r->historical)
        printf("\t(historical code, %u–%u)", (unsigned)r->first_year, (unsigned)r->last_year);
    if (info->from_15)
        printf("\t(from 15 digits)");
    putchar('\n');
}

static void check_one(check_ctx *c, const char *in, size_t len)
{
    sm_id_info info;
    sm_id_status st = sm_id_parse(in, len, &c->opt, &info);
    if (st != SM_ID_OK)
        c->invalid++;
    if (!c->json) {
        print_readable(in, len, st, &info);
        return;
    }
    json_t *o = render_id_result(in, len, st, &info);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

/* Reads stdin line by line; blank lines are skipped, CR LF accepted. */
static void check_stdin(check_ctx *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (strspn(line, " \t") >= (size_t)n)
            continue;
        check_one(c, line, (size_t)n);
    }
    free(line);
}

int cmd_idcard(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "shiming idcard: expected the sub-command 'check'\n");
        usage(stderr);
        return 2;
    }
    argc--, argv++;

    check_ctx c = {0};
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"at", required_argument, NULL, 'a'},
        {"strict", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            c.json = true;
            break;
        case 'a':
            if (!sm_date_parse_iso(optarg, strlen(optarg), &c.opt.at)) {
                fprintf(stderr, "shiming idcard check: --at wants a real date as YYYY-MM-DD, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 's':
            c.opt.strict = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    /* One reference date for the whole run, so that a run spanning midnight
     * answers consistently. */
    if (c.opt.at.year == 0)
        c.opt.at = sm_date_today();

    if (optind >= argc || (argc - optind == 1 && !strcmp(argv[optind], "-"))) {
        if (optind >= argc && isatty(STDIN_FILENO)) {
            fprintf(stderr, "shiming idcard check: give ID numbers as arguments or on standard input\n");
            usage(stderr);
            return 2;
        }
        check_stdin(&c);
    } else {
        for (int i = optind; i < argc; i++)
            check_one(&c, argv[i], strlen(argv[i]));
    }
    if (fflush(stdout) != 0)
        return 1;
    return c.invalid ? 1 : 0;
}
