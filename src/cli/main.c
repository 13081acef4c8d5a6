/*
 * main.c — the `shiming` binary: dispatches to a sub-command.
 *
 * Must never: hold logic of its own beyond choosing the sub-command; each
 * sub-command lives in its own cmd_*.c file and returns the exit status.
 */
#include <stdio.h>
#include <string.h>

#include <shiming/shiming.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "run the HTTP server (see `shiming serve --help`)"},
    {"idcard", cmd_idcard, "check ID numbers: `shiming idcard check [--json] ID...`"},
    {"registry", cmd_registry, "the authoritative records: import, stats, delete"},
    {"demo-data", cmd_demo_data, "write a synthetic registry and test cases"},
    {"app", cmd_app, "apps: create, list, show, freeze, disable, set limits"},
    {"cred", cmd_cred, "credentials: `shiming cred add APP KIND`"},
    {"package", cmd_package, "quota packages: `shiming package add APP PRODUCT --total N`"},
    {"usage", cmd_usage, "used / total per package"},
    {"audit", cmd_audit, "the audit log: verify, export, purge"},
    {"ocr", cmd_ocr, "read text in images: `shiming ocr lines|idcard [--json] FILE...`"},
    {"face", cmd_face, "compare faces: `shiming face compare [--json] A B`"},
    {"keys", cmd_keys, "public keys of the field encryption: `shiming keys show`"},
    {"ekyc", cmd_ekyc, "eKYC on local files: `shiming ekyc --doc FILE --face FILE [--json]`"},
};

static void usage(FILE *f)
{
    fprintf(f, "shiming %s — self-hosted identity verification\n\n"
               "usage: shiming COMMAND [ARGS...]\n\ncommands:\n",
            SHIMING_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("shiming %s\n", SHIMING_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "shiming: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
