/*
 * cmd_keys.c — `shiming keys show`: the public keys that clients of
 * dialect A wrap their field-encryption keys with (docs/dialects.md),
 * as PEM with their SHA-256 fingerprints, or as the JSON that
 * GET /admin/v1/keys answers (--json).
 *
 * The key files are the ones `serve` uses (the same flags and --config);
 * missing ones are created exactly as `serve` would create them (mode 0600).
 *
 * Must never: print a private key, or anything but public keys and paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/admin.h"
#include "cli/commands.h"
#include "config/config.h"
#include "crypto/envelope.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: shiming keys show [--json] [--config FILE] [--key-file PATH]\n"
               "                         [--envelope-rsa-key-file PATH] "
               "[--envelope-sm2-key-file PATH]\n\n"
               "Print the public keys of the field encryption of POST /identity/idcard/check-2e\n"
               "(PEM and SHA-256 fingerprints of the DER SubjectPublicKeyInfo): RSA for\n"
               "AES-256-CBC (RSA-OAEP, SHA-256), SM2 for SM4-GCM. Missing key files are\n"
               "created (mode 0600), as `serve` does on its first start; by default they are\n"
               "envelope-rsa.pem and envelope-sm2.pem next to the server key (--key-file).\n");
}

int cmd_keys(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
                                  !strcmp(argv[1], "help"));
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    /* config_load skips args[0]: "show". --json is ours. */
    bool json = false;
    char **args = calloc((size_t)argc, sizeof *args);
    if (args == NULL)
        return 1;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (i > 1 && strcmp(argv[i], "--json") == 0)
            json = true;
        else
            args[n++] = argv[i];
    }
    config *cfg = malloc(sizeof *cfg);
    char err[1024] = "", rsa[CONFIG_PATH_MAX], sm2[CONFIG_PATH_MAX];
    config_status cs = cfg != NULL ? config_load(cfg, n, args, err, sizeof err) : CONFIG_ERR;
    free(args);
    if (cs != CONFIG_OK) {
        if (cs == CONFIG_HELP)
            usage(stdout);
        else
            fprintf(stderr, "shiming keys: %s\n\n", cfg != NULL ? err : "out of memory");
        if (cs == CONFIG_ERR)
            usage(stderr);
        free(cfg);
        return cs == CONFIG_HELP ? 0 : 2;
    }
    bool created = false;
    envelope_keys *k = NULL;
    if (config_envelope_paths(cfg, rsa, sm2, err, sizeof err))
        k = envelope_keys_load(rsa, sm2, true, &created, err, sizeof err);
    free(cfg);
    if (k == NULL) {
        fprintf(stderr, "shiming keys: %s\n", err);
        return 1;
    }
    if (created)
        fprintf(stderr, "shiming keys: created the key pairs %s and %s (mode 0600)\n", rsa, sm2);
    int rc = 0;
    if (json) {
        json_t *o = admin_keys_json(k);
        char *text = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text == NULL)
            rc = 1;
        else
            printf("%s\n", text);
        free(text);
    } else {
        const char *files[ENVELOPE__COUNT] = {rsa, sm2};
        for (int i = 0; i < ENVELOPE__COUNT; i++) {
            envelope_alg a = (envelope_alg)i;
            printf("%s%s: key wrapped with %s\nfile: %s\nfingerprint (sha256): %s\n%s",
                   i > 0 ? "\n" : "", envelope_alg_name(a), envelope_wrap_name(a), files[i],
                   envelope_fingerprint(k, a), envelope_public_pem(k, a));
        }
    }
    envelope_keys_free(k);
    return rc;
}
