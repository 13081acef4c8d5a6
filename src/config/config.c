/*
 * config.c — the option table and everything generated from it: defaults,
 * INI parsing (inih), flag parsing and `serve --help`.
 *
 * Must never: print (except config_help to the stream it is given), exit,
 * or accept a value it cannot represent exactly: every value is parsed in
 * full and range-checked, and a bad one is reported with its file:line or
 * flag.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "crypto/envelope.h"
#include "net/cidr.h"

typedef enum {
    OPT_ADDRESS, /* IPv4 / IPv6 literal (brackets allowed, stripped) */
    OPT_PATH,    /* file path; "" = none */
    OPT_UINT,    /* unsigned integer in [min, max] */
    OPT_BYTES,   /* size_t with optional K/KiB/M/MiB/G/GiB suffix */
    OPT_SECONDS, /* unsigned seconds with optional "s" suffix */
    OPT_BOOL,    /* true/false, yes/no, on/off, 1/0 */
    OPT_CIDRS,   /* comma-separated IPv4/IPv6 addresses or CIDRs; "" = none */
    OPT_URLPATH, /* an absolute URL path: "/" then [A-Za-z0-9._~!$&'()*+,;=:@/-] */
} opt_type;

/* OPT_UINT: "auto" = AUTO_THREADS_PER_CPU x online CPUs. HTTP threads block
 * while a registry read or an audit commit completes, and more of them in
 * flight let the audit writer commit bigger groups: measured on 2 CPUs,
 * id2 with tenancy went from about 10k to 23k requests/s at 8 threads. */
enum { OPT_AUTO_CPUS = 1, OPT_AUTO_CORES = 2 /* "auto" = online CPUs */ };
#define AUTO_THREADS_PER_CPU 4

typedef struct {
    const char *section;
    const char *key;
    const char *flag; /* key with '_' -> '-', without the leading "--" */
    opt_type type;
    const char *def;  /* default, as text; parsed by the same code as input */
    const char *help;
    size_t offset;
    size_t size;
    unsigned long long min, max;
    unsigned flags;
} config_option;

#define FIELD(name) offsetof(config, name), sizeof(((config *)0)->name)

static const config_option options[] = {
    {"server", "bind", "bind", OPT_ADDRESS, "127.0.0.1",
     "IP address to listen on (IPv4 or IPv6 literal; 0.0.0.0 or :: for all).",
     FIELD(bind), 0, 0, 0},
    {"server", "port", "port", OPT_UINT, "8080",
     "TCP port to listen on; 0 picks a free one (see the \"listening\" log line).",
     FIELD(port), 0, 65535, 0},
    {"server", "threads", "threads", OPT_UINT, "auto",
     "HTTP worker threads; \"auto\" = 4 per online CPU (threads wait on commits).",
     FIELD(threads), 1, 1024, OPT_AUTO_CPUS},
    {"server", "max_body", "max-body", OPT_BYTES, "1MiB",
     "Largest request body accepted; larger ones get 413 body_too_large.",
     FIELD(max_body), 1, 1ULL << 30, 0},
    {"server", "connection_timeout", "connection-timeout", OPT_SECONDS, "30",
     "Close a connection idle for this many seconds (0 = never).",
     FIELD(connection_timeout), 0, 86400, 0},
    {"server", "drain_timeout", "drain-timeout", OPT_SECONDS, "10",
     "On SIGTERM/SIGINT, wait this long for requests in flight to finish.",
     FIELD(drain_timeout), 0, 3600, 0},
    {"server", "tls_cert", "tls-cert", OPT_PATH, "",
     "PEM certificate (chain) file; with tls_key, serve HTTPS.",
     FIELD(tls_cert), 0, 0, 0},
    {"server", "tls_key", "tls-key", OPT_PATH, "",
     "PEM private key file for tls_cert.",
     FIELD(tls_key), 0, 0, 0},
    {"server", "log_requests", "log-requests", OPT_BOOL, "true",
     "Write one JSON access-log line per request on stderr.",
     FIELD(log_requests), 0, 0, 0},
    {"server", "demo", "demo", OPT_BOOL, "false",
     "Demo mode: if the registry is empty, fill it with the demo identities "
     "(see docs/registry.md).",
     FIELD(demo), 0, 0, 0},
    {"registry", "db", "db", OPT_PATH, "var/registry.db",
     "The registry's SQLite file (created if missing).",
     FIELD(db), 0, 0, 0},
    {"registry", "key_file", "key-file", OPT_PATH, "var/server.key",
     "The server key: created on first start (mode 0600). Back it up apart from the "
     "database; without it the registry cannot be used.",
     FIELD(key_file), 0, 0, 0},
    {"registry", "busy_timeout_ms", "busy-timeout-ms", OPT_UINT, "1000",
     "Longest wait on a locked registry before answering registry_unavailable.",
     FIELD(busy_timeout_ms), 1, 60000, 0},
    {"tenancy", "enabled", "tenancy-enabled", OPT_BOOL, "true",
     "Authenticate, admit, meter and audit every /v1 call. false leaves /v1 open and "
     "unmetered: only for benchmarks and trusted internal networks.",
     FIELD(tenancy_enabled), 0, 0, 0},
    {"tenancy", "db", "tenancy-db", OPT_PATH, "var/tenancy.db",
     "The SQLite file of apps, credentials, quotas, usage and the audit log.",
     FIELD(tenancy_db), 0, 0, 0},
    {"tenancy", "admin_token_file", "admin-token-file", OPT_PATH, "var/admin.token",
     "The token that guards /admin/v1 (created on first start, mode 0600).",
     FIELD(admin_token_file), 0, 0, 0},
    {"tenancy", "subject_caps", "subject-caps", OPT_BOOL, "true",
     "Apply the products' per-identity daily caps (seed 000: 1,000 checks a day per ID "
     "number, 500 per name). false only for load tests.",
     FIELD(subject_caps), 0, 0, 0},
    {"envelope", "rsa_key_file", "envelope-rsa-key-file", OPT_PATH, "",
     "Dialect A's RSA key pair (PEM, mode 0600) that clients wrap AES-256-CBC field keys "
     "with; created on first start. \"\" = envelope-rsa.pem next to key_file.",
     FIELD(envelope_rsa_key_file), 0, 0, 0},
    {"envelope", "sm2_key_file", "envelope-sm2-key-file", OPT_PATH, "",
     "Dialect A's SM2 key pair (PEM, mode 0600) that clients wrap SM4-GCM field keys "
     "with; created on first start. \"\" = envelope-sm2.pem next to key_file.",
     FIELD(envelope_sm2_key_file), 0, 0, 0},
    {"server", "demo_allow_remote", "demo-allow-remote", OPT_BOOL, "false",
     "Allow --demo (fixed, published credentials) on a non-loopback address.",
     FIELD(demo_allow_remote), 0, 0, 0},
    {"vision", "enabled", "vision-enabled", OPT_BOOL, "true",
     "Serve ID-card OCR (/v1/ocr/idcard, dialect E). false: those routes answer 503 "
     "ocr_disabled (dialect E: 10013) and no model is loaded.",
     FIELD(vision_enabled), 0, 0, 0},
    {"vision", "workers", "vision-workers", OPT_UINT, "auto",
     "Threads that run image decoding and OCR off the HTTP threads; \"auto\" = online CPUs.",
     FIELD(vision_workers), 1, 256, OPT_AUTO_CORES},
    {"vision", "queue_max", "vision-queue-max", OPT_UINT, "64",
     "OCR jobs that may wait for a worker; more get 503 ocr_busy with Retry-After.",
     FIELD(vision_queue_max), 1, 100000, 0},
    {"vision", "max_upload", "vision-max-upload", OPT_BYTES, "8MiB",
     "Body limit of the routes that take images (/v1/ocr/idcard, dialect E): the vendor "
     "allows 4 MB of base64, urlencoded. Other routes keep [server] max_body.",
     FIELD(vision_max_upload), 1024, 64ULL << 20, 0},
    {"fetch", "allow_cidrs", "fetch-allow-cidrs", OPT_CIDRS, "",
     "Image URLs: addresses or CIDRs the SSRF guard lets through although they are "
     "loopback, private, link-local, … (comma-separated; e.g. 10.1.2.0/24).",
     FIELD(fetch_allow_cidrs), 0, 0, 0},
    {"fetch", "max_bytes", "fetch-max-bytes", OPT_BYTES, "4MiB",
     "Largest image downloaded from a URL; larger ones are refused (image_too_large).",
     FIELD(fetch_max_bytes), 1, 64ULL << 20, 0},
    {"fetch", "timeout_ms", "fetch-timeout-ms", OPT_UINT, "10000",
     "Longest time for downloading an image from a URL, connection included (ms).",
     FIELD(fetch_timeout_ms), 100, 120000, 0},
    {"dialect_e", "path", "dialect-e-path", OPT_URLPATH, "/pyi/76/194",
     "The URL path of dialect E (seed 004's ID-card OCR API).",
     FIELD(dialect_e_path), 0, 0, 0},
    {"vision", "models_dir", "models-dir", OPT_PATH, "deps/models",
     "Directory of the OCR models (ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx, "
     "ch_ppocr_mobile_v2.0_cls_infer.onnx, ppocr_keys_v1.txt), installed by scripts/setup.",
     FIELD(vision_models_dir), 0, 0, 0},
    {"vision", "intra_threads", "intra-threads", OPT_UINT, "0",
     "Threads of ONNX Runtime's shared pool that one inference uses; 0 = online CPUs.",
     FIELD(vision_intra_threads), 0, 256, 0},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* ---------------------------------------------------------------- helpers */


static const char *type_name(opt_type t)
{
    switch (t) {
    case OPT_ADDRESS: return "address";
    case OPT_PATH: return "path";
    case OPT_UINT: return "integer";
    case OPT_BYTES: return "bytes";
    case OPT_SECONDS: return "seconds";
    case OPT_BOOL: return "boolean";
    case OPT_CIDRS: return "CIDR list";
    case OPT_URLPATH: return "URL path";
    }
    return "?";
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    if (n > 1024)
        return 1024;
    return (unsigned)n;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow.
 * Returns the number of digits consumed (0 on failure). */
static size_t parse_digits(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

/* Parse `text` for option `o` into the config. On failure writes a phrase
 * (no location) into why. */
static bool parse_value(const config_option *o, const char *text, config *c,
                        char *why, size_t whylen)
{
    char *field = (char *)c + o->offset;
    unsigned long long v = 0;
    size_t n;

    switch (o->type) {
    case OPT_ADDRESS: {
        char buf[CONFIG_ADDR_MAX];
        size_t len = strlen(text);
        if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
            text++;
            len -= 2;
        }
        if (len == 0 || len >= sizeof buf || len >= o->size) {
            set_err(why, whylen, "'%s' is not an IPv4 or IPv6 address", text);
            return false;
        }
        memcpy(buf, text, len);
        buf[len] = '\0';
        unsigned char tmp[16];
        if (inet_pton(AF_INET, buf, tmp) != 1 && inet_pton(AF_INET6, buf, tmp) != 1) {
            set_err(why, whylen,
                    "'%s' is not an IPv4 or IPv6 address (host names are not resolved)",
                    buf);
            return false;
        }
        memcpy(field, buf, len + 1);
        return true;
    }
    case OPT_PATH: {
        size_t len = strlen(text);
        if (len >= o->size) {
            set_err(why, whylen, "path is too long (at most %zu bytes)", o->size - 1);
            return false;
        }
        memcpy(field, text, len + 1);
        return true;
    }
    case OPT_UINT:
        if ((o->flags & OPT_AUTO_CPUS) && strcasecmp(text, "auto") == 0) {
            *(unsigned *)(void *)field = online_cpus() * AUTO_THREADS_PER_CPU;
            return true;
        }
        if ((o->flags & OPT_AUTO_CORES) && strcasecmp(text, "auto") == 0) {
            unsigned cores = online_cpus();
            *(unsigned *)(void *)field = cores > o->max ? (unsigned)o->max : cores;
            return true;
        }
        n = parse_digits(text, &v);
        if (n == 0 || text[n] != '\0') {
            set_err(why, whylen, "'%s' is not a whole number%s", text,
                    (o->flags & (OPT_AUTO_CPUS | OPT_AUTO_CORES)) ? " or \"auto\"" : "");
            return false;
        }
        if (v < o->min || v > o->max) {
            set_err(why, whylen, "%s is out of range (%llu..%llu)", text, o->min, o->max);
            return false;
        }
        *(unsigned *)(void *)field = (unsigned)v;
        return true;
    case OPT_SECONDS:
        n = parse_digits(text, &v);
        if (n == 0 || (text[n] != '\0' && strcmp(text + n, "s") != 0)) {
            set_err(why, whylen, "'%s' is not a whole number of seconds", text);
            return false;
        }
        if (v < o->min || v > o->max) {
            set_err(why, whylen, "%s is out of range (%llu..%llu seconds)", text, o->min,
                    o->max);
            return false;
        }
        *(unsigned *)(void *)field = (unsigned)v;
        return true;
    case OPT_BYTES: {
        static const struct {
            const char *suffix;
            unsigned long long mult;
        } units[] = {
            {"", 1},         {"B", 1},
            {"K", 1ULL << 10}, {"KiB", 1ULL << 10},
            {"M", 1ULL << 20}, {"MiB", 1ULL << 20},
            {"G", 1ULL << 30}, {"GiB", 1ULL << 30},
        };
        n = parse_digits(text, &v);
        if (n == 0) {
            set_err(why, whylen, "'%s' is not a size (e.g. 65536, 64KiB, 1MiB)", text);
            return false;
        }
        unsigned long long mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcasecmp(text + n, units[i].suffix) == 0)
                mult = units[i].mult;
        if (mult == 0) {
            set_err(why, whylen, "'%s' is not a size (e.g. 65536, 64KiB, 1MiB)", text);
            return false;
        }
        if (v > o->max / mult || v * mult < o->min) {
            set_err(why, whylen, "%s is out of range (%llu bytes .. %llu MiB)", text, o->min,
                    o->max >> 20);
            return false;
        }
        *(size_t *)(void *)field = (size_t)(v * mult);
        return true;
    }
    case OPT_CIDRS: {
        size_t len = strlen(text);
        if (len >= o->size) {
            set_err(why, whylen, "the list is too long (at most %zu bytes)", o->size - 1);
            return false;
        }
        char bad[200];
        if (!net_cidr_list_valid(text, bad, sizeof bad)) {
            set_err(why, whylen, "%s", bad);
            return false;
        }
        memcpy(field, text, len + 1);
        return true;
    }
    case OPT_URLPATH: {
        size_t len = strlen(text);
        if (len < 2 || len >= o->size || text[0] != '/') {
            set_err(why, whylen, "'%.60s' is not an absolute URL path such as /pyi/76/194 "
                    "(at most %zu bytes)", text, o->size - 1);
            return false;
        }
        for (size_t i = 0; i < len; i++) {
            char ch = text[i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || strchr("-._~!$&'()*+,;=:@/", ch) != NULL;
            if (!ok || (ch == '/' && text[i + 1] == '/')) {
                set_err(why, whylen, "'%.60s' is not a plain URL path (letters, digits, "
                        "-._~!$&'()*+,;=:@ and single '/' only)", text);
                return false;
            }
        }
        memcpy(field, text, len + 1);
        return true;
    }
    case OPT_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(text, yes[i]) == 0) {
                *(bool *)(void *)field = true;
                return true;
            }
            if (strcasecmp(text, no[i]) == 0) {
                *(bool *)(void *)field = false;
                return true;
            }
        }
        set_err(why, whylen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
                text);
        return false;
    }
    }
    set_err(why, whylen, "internal error: unknown option type");
    return false;
}

static bool is_bool_text(const char *s)
{
    static const char *const words[] = {"true", "yes", "on", "1", "false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char why[128];
        /* The defaults are constants of this file; a failure here is a bug
         * caught by the unit test, and leaves the zeroed field. */
        (void)parse_value(&options[i], options[i].def, c, why, sizeof why);
    }
}

/* ------------------------------------------------------------- INI file */

typedef struct {
    FILE *f;
    int line;        /* number of the line last handed to inih */
    int err_line;    /* first error's line, 0 = none */
    char err[400];   /* first error's text, without location */
    config *c;
    char *linebuf;   /* getline() buffer */
    size_t linecap;
} ini_state;

static void ini_fail(ini_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ini_fail(ini_state *st, const char *fmt, ...)
{
    if (st->err_line != 0)
        return; /* keep the first */
    st->err_line = st->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
}

/* fgets-style reader for inih that reads whole lines itself, so that line
 * numbers are exact and an over-long line is reported rather than split. */
static char *ini_read_line(char *str, int num, void *stream)
{
    ini_state *st = stream;
    ssize_t n = getline(&st->linebuf, &st->linecap, st->f);
    if (n < 0)
        return NULL;
    st->line++;
    if (memchr(st->linebuf, '\0', (size_t)n) != NULL) {
        ini_fail(st, "NUL byte in line");
        str[0] = '\n';
        str[1] = '\0';
        return str;
    }
    /* inih needs room for "\r\n\0" beyond the content. */
    if (num < 4 || (size_t)n > (size_t)num - 1) {
        ini_fail(st, "line too long (at most %d bytes)", num - 3);
        str[0] = '\n';
        str[1] = '\0';
        return str;
    }
    memcpy(str, st->linebuf, (size_t)n + 1);
    return str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    bool section_known = false;
    const config_option *o = NULL;

    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].section, section) != 0)
            continue;
        section_known = true;
        if (strcmp(options[i].key, name) == 0)
            o = &options[i];
    }
    if (section[0] == '\0') {
        ini_fail(st, "key '%s' is outside any section (put it under [server])", name);
        return 0;
    }
    if (!section_known) {
        ini_fail(st, "unknown section [%s]", section);
        return 0;
    }
    if (o == NULL) {
        ini_fail(st, "unknown key '%s' in section [%s]", name, section);
        return 0;
    }

    /* A value may be double-quoted (e.g. a path with a ';'). */
    char buf[CONFIG_PATH_MAX + 2];
    size_t len = strlen(value);
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        if (len - 2 >= sizeof buf) {
            ini_fail(st, "value of '%s' is too long", name);
            return 0;
        }
        memcpy(buf, value + 1, len - 2);
        buf[len - 2] = '\0';
        value = buf;
    }

    char why[300];
    if (!parse_value(o, value, st->c, why, sizeof why)) {
        ini_fail(st, "[%s] %s: %s", section, name, why);
        return 0;
    }
    return 1;
}

static bool load_file(config *c, const char *path, char *err, size_t errlen)
{
    ini_state st = {0};
    st.c = c;
    st.f = fopen(path, "r");
    if (st.f == NULL) {
        set_err(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        return false;
    }
    int rc = ini_parse_stream(ini_read_line, &st, ini_on_value, &st);
    bool read_error = ferror(st.f) != 0;
    fclose(st.f);
    free(st.linebuf);

    if (read_error) {
        set_err(err, errlen, "cannot read config file '%s'", path);
        return false;
    }
    if (rc == 0 && st.err_line == 0)
        return true;
    if (rc < 0) {
        set_err(err, errlen, "cannot read config file '%s'", path);
        return false;
    }
    /* inih reports the first bad line; the handler's first message may
     * concern a later line if the earlier one was a syntax error. */
    if (st.err_line != 0 && (rc == 0 || st.err_line <= rc))
        set_err(err, errlen, "%s:%d: %s", path, st.err_line, st.err);
    else
        set_err(err, errlen,
                "%s:%d: syntax error (expected [section], key = value, or a ; comment)",
                path, rc);
    return false;
}

bool config_load_file(config *c, const char *path, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        set_err(err, errlen, "--config: needs a file name");
        return false;
    }
    if (strlen(path) >= sizeof c->config_file) {
        set_err(err, errlen, "--config: path is too long");
        return false;
    }
    if (!load_file(c, path, err, errlen))
        return false;
    strcpy(c->config_file, path);
    return true;
}

/* ----------------------------------------------------------------- flags */

static const config_option *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
            return &options[i];
    return NULL;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

config_status config_load(config *c, int argc, char **argv, char *err, size_t errlen)
{
    const char *config_path = NULL;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    config_defaults(c);

    /* Pass 1: --help anywhere wins; find --config. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a))
            return CONFIG_HELP;
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                set_err(err, errlen, "--config: needs a file name");
                return CONFIG_ERR;
            }
            config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=') == NULL) {
            /* Skip a value so that `--tls-cert --config` is not misread. */
            const config_option *o = find_flag(a + 2, strlen(a + 2));
            if (o != NULL && o->type != OPT_BOOL && i + 1 < argc)
                i++;
        }
    }

    if (config_path != NULL) {
        if (config_path[0] == '\0') {
            set_err(err, errlen, "--config: needs a file name");
            return CONFIG_ERR;
        }
        if (strlen(config_path) >= sizeof c->config_file) {
            set_err(err, errlen, "--config: path is too long");
            return CONFIG_ERR;
        }
        if (!load_file(c, config_path, err, errlen))
            return CONFIG_ERR;
        strcpy(c->config_file, config_path);
    }

    /* Pass 2: every other flag, in order; the last one wins. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            set_err(err, errlen, "unexpected argument '%s' (options start with --)", a);
            return CONFIG_ERR;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        const config_option *o = find_flag(name, name_len);
        bool negated = false;

        if (o == NULL && name_len > 3 && strncmp(name, "no-", 3) == 0) {
            o = find_flag(name + 3, name_len - 3);
            if (o != NULL && o->type == OPT_BOOL && value == NULL)
                negated = true;
            else
                o = NULL;
        }
        if (o == NULL) {
            set_err(err, errlen, "unknown option '--%.*s'", (int)name_len, name);
            return CONFIG_ERR;
        }
        if (negated) {
            value = "false";
        } else if (value == NULL) {
            if (o->type == OPT_BOOL) {
                if (i + 1 < argc && is_bool_text(argv[i + 1]))
                    value = argv[++i];
                else
                    value = "true";
            } else {
                if (i + 1 >= argc) {
                    set_err(err, errlen, "--%s: needs a value (%s)", o->flag,
                            type_name(o->type));
                    return CONFIG_ERR;
                }
                value = argv[++i];
            }
        }
        char why[300];
        if (!parse_value(o, value, c, why, sizeof why)) {
            set_err(err, errlen, "--%s: %s", o->flag, why);
            return CONFIG_ERR;
        }
    }

    /* Rules that involve more than one option. */
    if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
        set_err(err, errlen, "tls_cert and tls_key must be given together (--tls-cert, --tls-key)");
        return CONFIG_ERR;
    }
    return CONFIG_OK;
}

/* ------------------------------------------------------------------ help */

void config_help(FILE *out)
{
    fprintf(out,
            "Usage: shiming serve [--config FILE] [OPTIONS]\n"
            "\n"
            "Serve the HTTP API. Every option below can be set in the INI file given\n"
            "with --config (under its [section] and key) or as a flag; flags override\n"
            "the file. Flags take a value as --flag VALUE or --flag=VALUE; a boolean\n"
            "flag alone means true, and --no-FLAG means false.\n"
            "\n"
            "  --config <FILE>\n"
            "      INI file to read before the flags.    default: none\n"
            "  --help\n"
            "      Print this help and exit.\n"
            "\n");
    const char *section = NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const config_option *o = &options[i];
        if (section == NULL || strcmp(section, o->section) != 0) {
            section = o->section;
            fprintf(out, "[%s]\n", section);
        }
        char def[64];
        if (o->def[0] == '\0')
            snprintf(def, sizeof def, "none");
        else if ((o->flags & OPT_AUTO_CPUS) && strcmp(o->def, "auto") == 0)
            snprintf(def, sizeof def, "auto, here %u", online_cpus() * AUTO_THREADS_PER_CPU);
        else if ((o->flags & OPT_AUTO_CORES) && strcmp(o->def, "auto") == 0)
            snprintf(def, sizeof def, "auto, here %u", online_cpus());
        else
            snprintf(def, sizeof def, "%s", o->def);
        fprintf(out, "  --%s <%s>\n      %s\n      INI: [%s] %s    default: %s\n", o->flag,
                type_name(o->type), o->help, o->section, o->key, def);
    }
    fprintf(out,
            "\n"
            "Types: bytes accept K/KiB, M/MiB, G/GiB suffixes (binary); seconds are whole\n"
            "seconds (an 's' suffix is allowed); booleans are true/false, yes/no, on/off, 1/0.\n"
            "Signals: SIGTERM or SIGINT stop accepting connections, let requests in flight\n"
            "finish (up to drain_timeout) and exit 0.\n");
}

bool config_envelope_paths(const config *c, char rsa[CONFIG_PATH_MAX],
                           char sm2[CONFIG_PATH_MAX], char *err, size_t errlen)
{
    const char *given[2] = {c->envelope_rsa_key_file, c->envelope_sm2_key_file};
    const char *names[2] = {"envelope-rsa.pem", "envelope-sm2.pem"};
    char *out[2] = {rsa, sm2};
    for (int i = 0; i < 2; i++) {
        if (given[i][0] != '\0') {
            snprintf(out[i], CONFIG_PATH_MAX, "%s", given[i]);
        } else if (!envelope_default_path(c->key_file, names[i], out[i], CONFIG_PATH_MAX)) {
            set_err(err, errlen, "the path of %s next to key_file '%s' is too long", names[i],
                    c->key_file);
            return false;
        }
    }
    return true;
}
