/*
 * config.h — the server's settings: one table of options, read from an INI
 * file (inih) and overridden by command-line flags.
 *
 * Every option lives in exactly one table (config.c): section, key, flag,
 * type, default, help text and the field it fills. The defaults, the INI
 * parser, the flag parser and `serve --help` are all generated from it, so
 * adding a setting is one field here plus one table line there.
 *
 * Must never: print, exit, or read anything but the files it is pointed at
 * (the config file itself; TLS files are only named here, read by the
 * server). Errors come back as text in a caller-supplied buffer.
 *
 * Ownership: `config` is a plain value (fixed-size buffers, no pointers): copy
 * it freely, nothing to free. Thread-safety: config_load/config_defaults
 * touch only their arguments; config_help only writes to its stream.
 */
#ifndef SHIMING_CONFIG_CONFIG_H
#define SHIMING_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_ADDR_MAX 64   /* bind address text, NUL included */
#define CONFIG_PATH_MAX 1024 /* file paths, NUL included */
#define CONFIG_URLPATH_MAX 256 /* URL paths of configurable routes, NUL included */

typedef struct config {
    /* Where the settings came from: "" when no --config was given. */
    char config_file[CONFIG_PATH_MAX];

    /* [server] */
    char bind[CONFIG_ADDR_MAX];   /* IPv4 or IPv6 literal, no brackets */
    unsigned port;                /* 0..65535; 0 = ephemeral */
    unsigned threads;             /* 1..1024; default: online CPUs */
    size_t max_body;              /* bytes, 1 B .. 1 GiB */
    unsigned connection_timeout;  /* seconds of inactivity; 0 = never */
    unsigned drain_timeout;       /* seconds to let requests finish on stop */
    char tls_cert[CONFIG_PATH_MAX]; /* PEM file, "" = plain HTTP */
    char tls_key[CONFIG_PATH_MAX];  /* PEM file, set iff tls_cert is */
    bool log_requests;            /* one JSON access-log line per request */
    bool demo;                    /* fill an empty registry with demo data on start */

    /* [registry] */
    char db[CONFIG_PATH_MAX];       /* SQLite file of the registry */
    char key_file[CONFIG_PATH_MAX]; /* server key (created on first start, mode 0600) */
    unsigned busy_timeout_ms;       /* longest wait on a locked store */

    /* [tenancy] */
    bool tenancy_enabled;                    /* false: /v1 open and unmetered (benchmarks,
                                                trusted internal deployments) */
    char tenancy_db[CONFIG_PATH_MAX];        /* apps, credentials, usage, audit */
    char admin_token_file[CONFIG_PATH_MAX];  /* guards /admin/v1 (created, mode 0600) */
    bool subject_caps;                       /* per-identity daily caps (tenancy_subject_take) */
    bool demo_allow_remote;                  /* allow --demo on a non-loopback bind */

    /* [envelope] dialect A's field-encryption key pairs; "" = next to key_file */
    char envelope_rsa_key_file[CONFIG_PATH_MAX];
    char envelope_sm2_key_file[CONFIG_PATH_MAX];

    /* [vision] ID-card OCR (docs/ocr.md) */
    bool vision_enabled;            /* false: the OCR routes answer 503 ocr_disabled */
    unsigned vision_workers;        /* inference threads; default: online CPUs */
    unsigned vision_queue_max;      /* jobs waiting at most; more get 503 + Retry-After */
    size_t vision_max_upload;       /* body limit of the image routes */

    /* [fetch] image URLs given by clients (net/fetch.h) */
    char fetch_allow_cidrs[CONFIG_PATH_MAX]; /* CIDRs allowed despite the SSRF guard */
    size_t fetch_max_bytes;
    unsigned fetch_timeout_ms;      /* the whole download */

    /* [dialect_e] seed 004's OCR API */
    char dialect_e_path[CONFIG_URLPATH_MAX]; /* its path, default /pyi/76/194 */
    /* [vision] ONNX Runtime and the OCR models (docs/vision.md) */
    char vision_models_dir[CONFIG_PATH_MAX]; /* the PP-OCR models and dictionary */
    unsigned vision_intra_threads;           /* inference threads; 0 = online CPUs */
} config;

typedef enum {
    CONFIG_OK = 0,
    CONFIG_HELP,   /* --help / -h was given: print config_help(), exit 0 */
    CONFIG_ERR,    /* usage error: `err` says what and where (file:line or flag) */
} config_status;

/* Fill `c` with every option's default. */
void config_defaults(config *c);

/* Defaults, then the INI file named by `--config FILE` (if any), then every
 * other flag in argv[1..argc-1] (argv[0] is the sub-command's name and is
 * skipped). Flags are `--flag value` or `--flag=value`; a boolean flag may
 * stand alone (`--log-requests`, meaning true) or be negated
 * (`--no-log-requests`). On CONFIG_ERR `err` holds one line naming the file
 * and line, or the flag, and `c` is unspecified. */
config_status config_load(config *c, int argc, char **argv, char *err, size_t errlen);

/* Read the INI file at `path` on top of what `c` already holds (call
 * config_defaults first for a fresh config), exactly as `--config` does,
 * and record the path in c->config_file. For commands that use only some of
 * the settings and parse their own flags (`shiming registry`). On false
 * `err` names the file and line; `c` is then unspecified. */
bool config_load_file(config *c, const char *path, char *err, size_t errlen);

/* The envelope key files: the configured paths, or envelope-rsa.pem and
 * envelope-sm2.pem in the directory of key_file. False (err set) when a
 * default path would not fit. */
bool config_envelope_paths(const config *c, char rsa[CONFIG_PATH_MAX],
                           char sm2[CONFIG_PATH_MAX], char *err, size_t errlen);

/* Print the usage and every option (flag, INI section/key, type, default,
 * help), generated from the table. */
void config_help(FILE *out);

#endif
