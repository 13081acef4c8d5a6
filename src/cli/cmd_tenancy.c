/*
 * cmd_tenancy.c — the operator's commands for the tenancy store: `shiming
 * app`, `cred`, `package`, `usage` and `audit`. Parses flags, loads the
 * server key, opens the store (without its threads), calls tenancy.h and
 * prints; the rules themselves are tenancy's.
 *
 * Exit status: 0 success, 1 a failure or a negative answer (no such app,
 * a broken audit chain), 2 a usage error. Must never: print a stored
 * secret (only a credential just created, once, on stdout), print the
 * server key or the admin token, print an unmasked identity (audit rows
 * come masked from tenancy), or exit().
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <shiming/shiming.h>

#include "cli/commands.h"
#include "config/config.h"
#include "crypto/server_key.h"
#include "tenancy/alerts.h"
#include "tenancy/tenancy.h"

/* ---------------------------------------------------------------- usage */

static const char common_opts[] =
    "OPTIONS (the [tenancy] and [registry] sections of the server's INI file):\n"
    "  --config FILE          read [tenancy] db and [registry] key_file from FILE\n"
    "  --tenancy-db PATH      the tenancy store (default var/tenancy.db)\n"
    "  --key-file PATH        the server key (default var/server.key)\n"
    "  --help                 this text\n"
    "\n"
    "exit status: 0 success, 1 failure (no such app, store unavailable, broken audit\n"
    "chain), 2 usage error\n";

static void usage_app(FILE *f)
{
    fputs("usage: shiming app create NAME [SETTINGS] [OPTIONS]\n"
          "       shiming app list [OPTIONS]\n"
          "       shiming app show NAME [OPTIONS]\n"
          "       shiming app freeze|unfreeze|disable NAME [OPTIONS]\n"
          "       shiming app set NAME SETTINGS [OPTIONS]\n"
          "\n"
          "An app is one caller of the API: its credentials, limits, quota packages and\n"
          "audit rows belong to it. create makes the store and the server key when they\n"
          "do not exist yet. freeze refuses the app's calls until unfreeze (403\n"
          "app_frozen); disable switches it off (unfreeze turns it back on).\n"
          "show also prints the webhook secret: the key the app's webhook receiver checks\n"
          "X-Shiming-Signature (sha256=HMAC-SHA256 of the body, hex) with.\n"
          "\n"
          "SETTINGS:\n"
          "  --daily-limit N        metered calls per day, China time (0 = none)\n"
          "  --rate R               requests per second, token bucket (0 = none)\n"
          "  --burst B              bucket size (default with --rate: R rounded up)\n"
          "  --ip-allow CIDRS       comma-separated IPv4/IPv6 CIDRs (\"\" = any address)\n"
          "  --webhook URL          http(s) URL for package alerts (\"\" = none)\n"
          "\n",
          f);
    fputs(common_opts, f);
}

static void usage_cred(FILE *f)
{
    fputs("usage: shiming cred add APP KIND [OPTIONS]\n"
          "\n"
          "Adds a generated credential to APP and prints it. The secret is shown this\n"
          "once: the store keeps only a keyed hash (native, bearer, appcode) or an\n"
          "encrypted copy that is never shown again (apikey, accesskey, appsecret,\n"
          "secretid, appkey).\n"
          "\n"
          "KIND: native     the /v1 API key (Authorization: Bearer KEY or X-Api-Key)\n"
          "      bearer     bearer token\n"
          "      appcode    APPCODE\n"
          "      apikey     account (id) + API key (secret)\n"
          "      accesskey  AccessKey ID (id) + AccessKey secret\n"
          "      appsecret  appid (id) + secret\n"
          "      secretid   cloud API 3.0 SecretId (id) + SecretKey (TC3 signatures)\n"
          "      appkey     API gateway AppKey (id) + AppSecret (signed requests)\n"
          "\n",
          f);
    fputs(common_opts, f);
}

static void usage_package(FILE *f)
{
    fputs("usage: shiming package add APP PRODUCT --total N [--expires YYYY-MM-DD] [OPTIONS]\n"
          "\n"
          "Adds N units of PRODUCT (id2, id4, …) to APP: a new package, or more units in\n"
          "the package with the same expiry. --expires is the last day (China time) the\n"
          "units may be used; without it they never expire.\n"
          "\n",
          f);
    fputs(common_opts, f);
}

static void usage_usage(FILE *f)
{
    fputs("usage: shiming usage [APP] [OPTIONS]\n"
          "\n"
          "Used / total per package, of APP or of every app: app, product, used/total\n"
          "(e.g. 6700/9115), remaining in percent, expiry.\n"
          "\n",
          f);
    fputs(common_opts, f);
}

static void usage_audit(FILE *f)
{
    fputs("usage: shiming audit verify [OPTIONS]\n"
          "       shiming audit export [--from DATE] [--to DATE] [--format jsonl|csv]\n"
          "                            [--out FILE] [OPTIONS]\n"
          "       shiming audit purge --before DATE [OPTIONS]\n"
          "\n"
          "Every metered call leaves one audit row (masked subject, verdict, charge),\n"
          "hash-chained to the one before.\n"
          "verify   walk the chain; exit 1 and name the first broken row when a row was\n"
          "         altered or removed\n"
          "export   rows from --from to --to (days, China time, both inclusive; default\n"
          "         everything), oldest first, as JSON Lines (default) or CSV, to --out\n"
          "         FILE (created with mode 0600) or standard output\n"
          "purge    delete the rows of days before --before; the chain stays verifiable\n"
          "\n",
          f);
    fputs(common_opts, f);
}

/* -------------------------------------------------------------- options */

enum {
    OPT_CONFIG = 1000,
    OPT_TENANCY_DB,
    OPT_KEY_FILE,
    OPT_HELP,
    OPT_DAILY_LIMIT,
    OPT_RATE,
    OPT_BURST,
    OPT_IP_ALLOW,
    OPT_WEBHOOK,
    OPT_TOTAL,
    OPT_EXPIRES,
    OPT_FROM,
    OPT_TO,
    OPT_FORMAT,
    OPT_OUT,
    OPT_BEFORE,
};

/* Which of the specific options a sub-command takes. */
#define ALLOW_SETTINGS (1u << 0)
#define ALLOW_PACKAGE (1u << 1)
#define ALLOW_EXPORT (1u << 2)
#define ALLOW_PURGE (1u << 3)

typedef struct {
    config cfg;
    /* settings (app create / set) */
    bool has_daily, has_rate, has_burst, has_ip, has_webhook;
    uint32_t daily_limit;
    double rate;
    uint32_t burst;
    const char *ip_allow;
    const char *webhook;
    /* package add */
    bool has_total;
    int64_t total;
    sm_date expires;
    /* audit */
    bool has_from, has_to, has_before;
    sm_date from, to, before;
    tn_export_format format;
    const char *out;
} cli_opts;

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_date(const char *s, sm_date *out)
{
    return s != NULL && sm_date_parse_iso(s, strlen(s), out);
}

/* Parse argv (argv[0] is the sub-command's name). Returns 0 ok, 2 usage
 * error (printed), -1 help printed. *first: index of the first operand. */
static int parse_opts(int argc, char **argv, const char *prog, unsigned allow,
                      void (*help)(FILE *), cli_opts *o, int *first)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"tenancy-db", required_argument, NULL, OPT_TENANCY_DB},
        {"key-file", required_argument, NULL, OPT_KEY_FILE},
        {"help", no_argument, NULL, OPT_HELP},
        {"daily-limit", required_argument, NULL, OPT_DAILY_LIMIT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"burst", required_argument, NULL, OPT_BURST},
        {"ip-allow", required_argument, NULL, OPT_IP_ALLOW},
        {"webhook", required_argument, NULL, OPT_WEBHOOK},
        {"total", required_argument, NULL, OPT_TOTAL},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"out", required_argument, NULL, OPT_OUT},
        {"before", required_argument, NULL, OPT_BEFORE},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL, *tdb = NULL, *key_file = NULL;
    memset(o, 0, sizeof *o);
    config_defaults(&o->cfg);
    o->format = TN_EXPORT_JSONL;

    optind = 0; /* GNU: a full re-initialisation */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t v;
        unsigned need = 0;
        switch (c) {
        case OPT_DAILY_LIMIT:
        case OPT_RATE:
        case OPT_BURST:
        case OPT_IP_ALLOW:
        case OPT_WEBHOOK: need = ALLOW_SETTINGS; break;
        case OPT_TOTAL:
        case OPT_EXPIRES: need = ALLOW_PACKAGE; break;
        case OPT_FROM:
        case OPT_TO:
        case OPT_FORMAT:
        case OPT_OUT: need = ALLOW_EXPORT; break;
        case OPT_BEFORE: need = ALLOW_PURGE; break;
        default: break;
        }
        if (need != 0 && (allow & need) == 0) {
            fprintf(stderr, "%s: option '%s' does not apply here\n", prog, argv[optind - 1]);
            return 2;
        }
        switch (c) {
        case OPT_CONFIG: config_file = optarg; break;
        case OPT_TENANCY_DB: tdb = optarg; break;
        case OPT_KEY_FILE: key_file = optarg; break;
        case OPT_HELP:
        case 'h':
            help(stdout);
            return -1;
        case OPT_DAILY_LIMIT:
            if (!parse_u64(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, "%s: --daily-limit: '%s' is not a number of calls (0 = none)\n",
                        prog, optarg);
                return 2;
            }
            o->daily_limit = (uint32_t)v;
            o->has_daily = true;
            break;
        case OPT_RATE: {
            char *end = NULL;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !isfinite(r) || r < 0) {
                fprintf(stderr, "%s: --rate: '%s' is not a number of requests per second\n",
                        prog, optarg);
                return 2;
            }
            o->rate = r;
            o->has_rate = true;
            break;
        }
        case OPT_BURST:
            if (!parse_u64(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, "%s: --burst: '%s' is not a number of requests\n", prog, optarg);
                return 2;
            }
            o->burst = (uint32_t)v;
            o->has_burst = true;
            break;
        case OPT_IP_ALLOW:
            o->ip_allow = optarg;
            o->has_ip = true;
            break;
        case OPT_WEBHOOK:
            o->webhook = optarg;
            o->has_webhook = true;
            break;
        case OPT_TOTAL:
            if (!parse_u64(optarg, INT64_MAX / 2, &v) || v == 0) {
                fprintf(stderr, "%s: --total: '%s' is not a number of units (at least 1)\n",
                        prog, optarg);
                return 2;
            }
            o->total = (int64_t)v;
            o->has_total = true;
            break;
        case OPT_EXPIRES:
        case OPT_FROM:
        case OPT_TO:
        case OPT_BEFORE: {
            sm_date d;
            if (!parse_date(optarg, &d)) {
                fprintf(stderr, "%s: %s: '%s' is not a date YYYY-MM-DD\n", prog,
                        argv[optind - 1][0] == '-' ? argv[optind - 1] : "date", optarg);
                return 2;
            }
            if (c == OPT_EXPIRES)
                o->expires = d;
            else if (c == OPT_FROM)
                o->from = d, o->has_from = true;
            else if (c == OPT_TO)
                o->to = d, o->has_to = true;
            else
                o->before = d, o->has_before = true;
            break;
        }
        case OPT_FORMAT:
            if (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "ndjson") == 0)
                o->format = TN_EXPORT_JSONL;
            else if (strcmp(optarg, "csv") == 0)
                o->format = TN_EXPORT_CSV;
            else {
                fprintf(stderr, "%s: --format: '%s' is not jsonl or csv\n", prog, optarg);
                return 2;
            }
            break;
        case OPT_OUT: o->out = optarg; break;
        default:
            if (optopt >= OPT_CONFIG)
                fprintf(stderr, "%s: option '%s' needs a value\n", prog, argv[optind - 1]);
            else
                fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[optind - 1]);
            fprintf(stderr, "Try '%s --help'.\n", prog);
            return 2;
        }
    }
    char err[1536];
    if (config_file != NULL && !config_load_file(&o->cfg, config_file, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    if (tdb != NULL)
        snprintf(o->cfg.tenancy_db, sizeof o->cfg.tenancy_db, "%s", tdb);
    if (key_file != NULL)
        snprintf(o->cfg.key_file, sizeof o->cfg.key_file, "%s", key_file);
    if (o->cfg.tenancy_db[0] == '\0' || o->cfg.key_file[0] == '\0') {
        fprintf(stderr, "%s: the tenancy db and the key file must be set\n", prog);
        return 2;
    }
    *first = optind;
    return 0;
}

/* Load the key (creating it when `create`) and open the store without its
 * threads. 0 ok, 1 after having printed why not. */
static int open_store(const cli_opts *o, const char *prog, bool create, tenancy **out,
                      sm_key *key_out)
{
    sm_key key;
    bool created = false;
    char err[1536] = "";
    *out = NULL;
    sm_key_status ks = sm_key_load(o->cfg.key_file, create, &key, &created, err, sizeof err);
    if (ks != SM_KEY_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    if (created)
        fprintf(stderr,
                "%s: created a new server key in %s (mode 0600). Back it up apart from the "
                "databases: without it the stores cannot be used.\n",
                prog, o->cfg.key_file);
    tn_options to = {
        .path = o->cfg.tenancy_db,
        .key = &key,
        .create = create,
        .busy_timeout_ms = o->cfg.busy_timeout_ms,
        .start_threads = false,
    };
    tn_status st = tenancy_open(&to, out, err, sizeof err);
    if (st == TN_OK && key_out != NULL)
        *key_out = key;
    sm_key_clear(&key);
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, err[0] ? err : tn_status_message(st));
        *out = NULL;
        return 1;
    }
    return 0;
}

/* The app named (or numbered) `name`. 0, or 1 after having printed why. */
static int find_app(tenancy *t, const char *prog, const char *name, tn_app *app)
{
    tn_status st = tenancy_app_get(t, name, app);
    if (st == TN_OK)
        return 0;
    if (st == TN_ERR_NOT_FOUND)
        fprintf(stderr, "%s: there is no app '%s' (see: shiming app list)\n", prog, name);
    else
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
    return 1;
}

/* ------------------------------------------------------------ printing */

static void format_date(sm_date d, char out[11])
{
    if (d.year == 0)
        snprintf(out, 11, "never");
    else
        sm_date_format_iso(d, out);
}

static void format_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, 32, "%" PRId64, t);
}

static void print_app(const tn_app *a, const sm_key *key)
{
    char when[32];
    format_time(a->created_at, when);
    printf("name:         %s\n", a->name);
    printf("id:           %" PRId64 "\n", a->id);
    printf("status:       %s\n", tn_app_status_code(a->status));
    printf("created:      %s\n", when);
    printf("daily limit:  %s", a->daily_limit ? "" : "none\n");
    if (a->daily_limit)
        printf("%" PRIu32 " calls/day\n", a->daily_limit);
    if (a->rate_per_s > 0)
        printf("rate:         %g/s, burst %" PRIu32 "\n", a->rate_per_s, a->burst);
    else
        printf("rate:         none\n");
    printf("ip allow:     %s\n", a->ip_allow[0] ? a->ip_allow : "any");
    printf("webhook:      %s\n", a->webhook_url[0] ? a->webhook_url : "none");
    if (key != NULL) {
        char secret[65];
        alerts_webhook_secret(key, a->id, secret);
        printf("webhook secret: %s\n", secret);
        OPENSSL_cleanse(secret, sizeof secret);
    }
}

/* Remaining share in percent, one decimal, rounded down. */
static double percent_left(const tn_package *p)
{
    if (p->total <= 0)
        return 0.0;
    int64_t left = p->total - p->used;
    if (left < 0)
        left = 0;
    return floor((double)left * 1000.0 / (double)p->total) / 10.0;
}

static void usage_header(void)
{
    printf("%-20s %-12s %-23s %9s  %s\n", "APP", "PRODUCT", "USED/TOTAL", "REMAINING",
           "EXPIRES");
}

/* Rows of one app's packages. 0, or 1 on a store failure. */
static int usage_rows(tenancy *t, const char *prog, const tn_app *app)
{
    tn_package *pk = NULL;
    size_t n = 0;
    tn_status st = tenancy_usage(t, app->id, &pk, &n);
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
        return 1;
    }
    if (n == 0)
        printf("%-20s %-12s %-23s %9s  %s\n", app->name, "-", "no packages", "-", "-");
    sm_date today = sm_date_today();
    for (size_t i = 0; i < n; i++) {
        char ratio[48], pct[16], exp[24];
        snprintf(ratio, sizeof ratio, "%" PRId64 "/%" PRId64, pk[i].used, pk[i].total);
        snprintf(pct, sizeof pct, "%.1f%%", percent_left(&pk[i]));
        format_date(pk[i].expires, exp);
        if (pk[i].expires.year != 0 && sm_date_cmp(pk[i].expires, today) < 0)
            strcat(exp, " (expired)");
        printf("%-20s %-12s %-23s %9s  %s\n", app->name, pk[i].product, ratio, pct, exp);
    }
    free(pk);
    return 0;
}

/* ----------------------------------------------------------------- app */

/* Apply the settings flags to `a`. */
static void apply_settings(const cli_opts *o, tn_app *a)
{
    if (o->has_daily)
        a->daily_limit = o->daily_limit;
    if (o->has_rate)
        a->rate_per_s = o->rate;
    if (o->has_burst)
        a->burst = o->burst;
    else if (o->has_rate && o->rate > 0 && a->burst == 0) {
        double b = ceil(o->rate);
        a->burst = b >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)(b < 1 ? 1 : b);
    }
    if (o->has_ip)
        snprintf(a->ip_allow, sizeof a->ip_allow, "%s", o->ip_allow);
    if (o->has_webhook)
        snprintf(a->webhook_url, sizeof a->webhook_url, "%s", o->webhook);
}

static bool any_setting(const cli_opts *o)
{
    return o->has_daily || o->has_rate || o->has_burst || o->has_ip || o->has_webhook;
}

static bool settings_fit(const cli_opts *o, const char *prog)
{
    if (o->has_ip && strlen(o->ip_allow) >= TN_ALLOW_MAX) {
        fprintf(stderr, "%s: --ip-allow is longer than %d characters\n", prog, TN_ALLOW_MAX - 1);
        return false;
    }
    if (o->has_webhook && strlen(o->webhook) >= TN_URL_MAX) {
        fprintf(stderr, "%s: --webhook is longer than %d characters\n", prog, TN_URL_MAX - 1);
        return false;
    }
    return true;
}

static int app_create(const cli_opts *o, const char *name)
{
    const char *prog = "shiming app create";
    if (!settings_fit(o, prog))
        return 2;
    tenancy *t = NULL;
    sm_key key;
    if (open_store(o, prog, true, &t, &key) != 0)
        return 1;
    char err[512] = "";
    tn_status st;
    tn_app app;
    memset(&app, 0, sizeof app);
    if (any_setting(o)) {
        /* Judge the settings before creating anything: the update checks
         * its values before it looks for the app (id 0 never exists). */
        tn_app probe;
        memset(&probe, 0, sizeof probe);
        apply_settings(o, &probe);
        st = tenancy_app_update(t, &probe, err, sizeof err);
        if (st == TN_ERR_INVALID) {
            fprintf(stderr, "%s: %s\n", prog, err);
            tenancy_close(t);
            sm_key_clear(&key);
            return 1;
        }
        err[0] = '\0';
    }
    st = tenancy_app_create(t, name, &app, err, sizeof err);
    if (st == TN_OK && any_setting(o)) {
        apply_settings(o, &app);
        st = tenancy_app_update(t, &app, err, sizeof err);
        if (st != TN_OK) {
            (void)tenancy_app_set_status(t, app.id, TN_APP_DISABLED);
            fprintf(stderr, "%s: %s (the app was created, disabled; fix it with `shiming app "
                            "set` and `shiming app unfreeze`)\n",
                    prog, err[0] ? err : tn_status_message(st));
            tenancy_close(t);
            sm_key_clear(&key);
            return 1;
        }
        st = tenancy_app_get(t, name, &app);
    }
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, err[0] ? err : tn_status_message(st));
        tenancy_close(t);
        sm_key_clear(&key);
        return 1;
    }
    print_app(&app, NULL);
    printf("\nnext: shiming cred add %s native     (an API key)\n"
           "      shiming package add %s id2 --total N\n",
           app.name, app.name);
    tenancy_close(t);
    sm_key_clear(&key);
    return 0;
}

static int app_list(const cli_opts *o)
{
    const char *prog = "shiming app list";
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    tn_app *apps = NULL;
    size_t n = 0;
    tn_status st = tenancy_app_list(t, &apps, &n);
    tenancy_close(t);
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
        return 1;
    }
    printf("%-5s %-20s %-9s %-11s %-16s %-20s %s\n", "ID", "NAME", "STATUS", "DAILY_LIMIT",
           "RATE/BURST", "IP_ALLOW", "WEBHOOK");
    for (size_t i = 0; i < n; i++) {
        const tn_app *a = &apps[i];
        char daily[16], rate[48];
        if (a->daily_limit)
            snprintf(daily, sizeof daily, "%" PRIu32, a->daily_limit);
        else
            snprintf(daily, sizeof daily, "-");
        if (a->rate_per_s > 0)
            snprintf(rate, sizeof rate, "%g/%" PRIu32, a->rate_per_s, a->burst);
        else
            snprintf(rate, sizeof rate, "-");
        printf("%-5" PRId64 " %-20s %-9s %-11s %-16s %-20s %s\n", a->id, a->name,
               tn_app_status_code(a->status), daily, rate, a->ip_allow[0] ? a->ip_allow : "any",
               a->webhook_url[0] ? a->webhook_url : "-");
    }
    if (n == 0)
        fprintf(stderr, "%s: no apps yet (shiming app create NAME)\n", prog);
    free(apps);
    return 0;
}

static int app_show(const cli_opts *o, const char *name)
{
    const char *prog = "shiming app show";
    tenancy *t = NULL;
    sm_key key;
    if (open_store(o, prog, false, &t, &key) != 0)
        return 1;
    tn_app app;
    int rc = find_app(t, prog, name, &app);
    if (rc == 0) {
        print_app(&app, &key);
        printf("\n");
        usage_header();
        rc = usage_rows(t, prog, &app);
    }
    tenancy_close(t);
    sm_key_clear(&key);
    return rc;
}

static int app_status(const cli_opts *o, const char *sub, const char *name)
{
    char prog[64];
    snprintf(prog, sizeof prog, "shiming app %s", sub);
    tn_app_status s = !strcmp(sub, "freeze")    ? TN_APP_FROZEN
                      : !strcmp(sub, "disable") ? TN_APP_DISABLED
                                                : TN_APP_ACTIVE;
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    tn_app app;
    int rc = find_app(t, prog, name, &app);
    if (rc == 0) {
        tn_status st = tenancy_app_set_status(t, app.id, s);
        if (st != TN_OK) {
            fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
            rc = 1;
        } else {
            printf("app %s is now %s\n", app.name, tn_app_status_code(s));
        }
    }
    tenancy_close(t);
    return rc;
}

static int app_set(const cli_opts *o, const char *name)
{
    const char *prog = "shiming app set";
    if (!any_setting(o)) {
        fprintf(stderr, "%s: give at least one of --daily-limit, --rate, --burst, --ip-allow, "
                        "--webhook\n",
                prog);
        return 2;
    }
    if (!settings_fit(o, prog))
        return 2;
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    tn_app app;
    int rc = find_app(t, prog, name, &app);
    if (rc == 0) {
        char err[512] = "";
        apply_settings(o, &app);
        tn_status st = tenancy_app_update(t, &app, err, sizeof err);
        if (st == TN_OK)
            st = tenancy_app_get(t, name, &app);
        if (st != TN_OK) {
            fprintf(stderr, "%s: %s\n", prog, err[0] ? err : tn_status_message(st));
            rc = 1;
        } else {
            print_app(&app, NULL);
        }
    }
    tenancy_close(t);
    return rc;
}

int cmd_app(int argc, char **argv)
{
    if (argc < 2) {
        usage_app(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage_app(stdout);
        return 0;
    }
    static const char *const subs[] = {"create", "list",     "show", "freeze",
                                       "unfreeze", "disable", "set"};
    bool known = false;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0] && !known; i++)
        known = strcmp(sub, subs[i]) == 0;
    if (!known) {
        fprintf(stderr, "shiming app: unknown sub-command '%s' (create, list, show, freeze, "
                        "unfreeze, disable, set)\n",
                sub);
        return 2;
    }
    char prog[64];
    snprintf(prog, sizeof prog, "shiming app %s", sub);
    bool settings = !strcmp(sub, "create") || !strcmp(sub, "set");
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc - 1, argv + 1, prog, settings ? ALLOW_SETTINGS : 0, usage_app, &o,
                        &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    int nargs = argc - 1 - first;
    char **args = argv + 1 + first;
    int want = !strcmp(sub, "list") ? 0 : 1;
    if (nargs != want) {
        if (want == 0)
            fprintf(stderr, "%s: takes no operands\n", prog);
        else
            fprintf(stderr, "%s: give exactly one app name\n", prog);
        return 2;
    }
    if (!strcmp(sub, "create"))
        return app_create(&o, args[0]);
    if (!strcmp(sub, "list"))
        return app_list(&o);
    if (!strcmp(sub, "show"))
        return app_show(&o, args[0]);
    if (!strcmp(sub, "set"))
        return app_set(&o, args[0]);
    return app_status(&o, sub, args[0]);
}

/* ---------------------------------------------------------------- cred */

int cmd_cred(int argc, char **argv)
{
    const char *prog = "shiming cred add";
    if (argc < 2) {
        usage_cred(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage_cred(stdout);
        return 0;
    }
    if (strcmp(argv[1], "add") != 0) {
        fprintf(stderr, "shiming cred: unknown sub-command '%s' (add)\n", argv[1]);
        return 2;
    }
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc - 1, argv + 1, prog, 0, usage_cred, &o, &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    int nargs = argc - 1 - first;
    char **args = argv + 1 + first;
    if (nargs != 2) {
        fprintf(stderr, "%s: give an app and a kind (native, bearer, appcode, apikey, "
                        "accesskey, appsecret, secretid, appkey)\n",
                prog);
        return 2;
    }
    tn_cred_kind kind;
    if (!tn_cred_kind_from_code(args[1], &kind)) {
        fprintf(stderr, "%s: '%s' is not a credential kind (native, bearer, appcode, apikey, "
                        "accesskey, appsecret, secretid, appkey)\n",
                prog, args[1]);
        return 2;
    }
    tenancy *t = NULL;
    if (open_store(&o, prog, false, &t, NULL) != 0)
        return 1;
    tn_app app;
    rc = find_app(t, prog, args[0], &app);
    if (rc == 0) {
        tn_new_cred nc;
        memset(&nc, 0, sizeof nc);
        char err[512] = "";
        tn_status st = tenancy_cred_add(t, app.id, kind, NULL, NULL, &nc, err, sizeof err);
        if (st != TN_OK) {
            fprintf(stderr, "%s: %s\n", prog, err[0] ? err : tn_status_message(st));
            rc = 1;
        } else {
            printf("app:    %s\n", app.name);
            printf("kind:   %s\n", tn_cred_kind_code(nc.kind));
            if (tn_cred_kind_has_id(nc.kind))
                printf("id:     %s\n", nc.id);
            printf("secret: %s\n", nc.secret);
            fflush(stdout);
            fprintf(stderr,
                    "%s: this is the only time the secret is shown: store it now. shiming "
                    "keeps only a %s of it and cannot show it again.\n",
                    prog, tn_cred_kind_has_id(nc.kind) ? "sealed copy" : "keyed hash");
        }
        OPENSSL_cleanse(&nc, sizeof nc);
    }
    tenancy_close(t);
    return rc;
}

/* ------------------------------------------------------------- package */

int cmd_package(int argc, char **argv)
{
    const char *prog = "shiming package add";
    if (argc < 2) {
        usage_package(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage_package(stdout);
        return 0;
    }
    if (strcmp(argv[1], "add") != 0) {
        fprintf(stderr, "shiming package: unknown sub-command '%s' (add)\n", argv[1]);
        return 2;
    }
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc - 1, argv + 1, prog, ALLOW_PACKAGE, usage_package, &o, &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    int nargs = argc - 1 - first;
    char **args = argv + 1 + first;
    if (nargs != 2) {
        fprintf(stderr, "%s: give an app and a product (e.g. id2)\n", prog);
        return 2;
    }
    if (!o.has_total) {
        fprintf(stderr, "%s: --total N is required\n", prog);
        return 2;
    }
    tenancy *t = NULL;
    if (open_store(&o, prog, false, &t, NULL) != 0)
        return 1;
    tn_app app;
    rc = find_app(t, prog, args[0], &app);
    if (rc == 0) {
        char err[512] = "";
        tn_status st =
            tenancy_package_add(t, app.id, args[1], o.total, o.expires, err, sizeof err);
        if (st != TN_OK) {
            fprintf(stderr, "%s: %s\n", prog, err[0] ? err : tn_status_message(st));
            rc = 1;
        } else {
            char exp[11];
            format_date(o.expires, exp);
            printf("added %" PRId64 " units of %s to %s (expires: %s)\n\n", o.total, args[1],
                   app.name, exp);
            usage_header();
            rc = usage_rows(t, prog, &app);
        }
    }
    tenancy_close(t);
    return rc;
}

/* --------------------------------------------------------------- usage */

int cmd_usage(int argc, char **argv)
{
    const char *prog = "shiming usage";
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc, argv, prog, 0, usage_usage, &o, &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    int nargs = argc - first;
    if (nargs > 1) {
        fprintf(stderr, "%s: give at most one app\n", prog);
        return 2;
    }
    tenancy *t = NULL;
    if (open_store(&o, prog, false, &t, NULL) != 0)
        return 1;
    if (nargs == 1) {
        tn_app app;
        rc = find_app(t, prog, argv[first], &app);
        if (rc == 0) {
            usage_header();
            rc = usage_rows(t, prog, &app);
        }
    } else {
        tn_app *apps = NULL;
        size_t n = 0;
        tn_status st = tenancy_app_list(t, &apps, &n);
        if (st != TN_OK) {
            fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
            rc = 1;
        } else {
            usage_header();
            for (size_t i = 0; i < n && rc == 0; i++)
                rc = usage_rows(t, prog, &apps[i]);
            if (n == 0)
                fprintf(stderr, "%s: no apps yet (shiming app create NAME)\n", prog);
        }
        free(apps);
    }
    tenancy_close(t);
    return rc;
}

/* --------------------------------------------------------------- audit */

/* Unix seconds at the start of day `d`, China time (UTC+8). */
static int64_t china_day_start(sm_date d)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = d.year - 1900;
    tm.tm_mon = d.month - 1;
    tm.tm_mday = d.day;
    return (int64_t)timegm(&tm) - 8 * 3600;
}

static int audit_verify(const cli_opts *o)
{
    const char *prog = "shiming audit verify";
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    int64_t rows = 0, broken = 0;
    tn_status st = tenancy_audit_verify(t, &rows, &broken);
    tenancy_close(t);
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
        return 1;
    }
    if (broken != 0) {
        printf("audit log BROKEN: row %" PRId64 " does not verify (%" PRId64
               " rows checked)\nfirst broken row: %" PRId64 "\n",
               broken, rows, broken);
        return 1;
    }
    printf("audit log intact: %" PRId64 " rows verified\n", rows);
    return 0;
}

static int audit_export(const cli_opts *o)
{
    const char *prog = "shiming audit export";
    int64_t from = o->has_from ? china_day_start(o->from) : 0;
    int64_t to = o->has_to ? china_day_start(o->to) + 86400 : 0; /* inclusive */
    if (o->has_from && o->has_to && to <= from) {
        fprintf(stderr, "%s: --to is before --from\n", prog);
        return 2;
    }
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    FILE *out = stdout;
    if (o->out != NULL && strcmp(o->out, "-") != 0) {
        int fd = open(o->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (out == NULL) {
            fprintf(stderr, "%s: cannot write '%s': %s\n", prog, o->out, strerror(errno));
            if (fd >= 0)
                close(fd);
            tenancy_close(t);
            return 1;
        }
    }
    int64_t rows = 0;
    tn_status st = tenancy_audit_export(t, from, to, o->format, out, &rows);
    tenancy_close(t);
    bool write_failed = fflush(out) != 0 || ferror(out);
    if (out != stdout)
        write_failed = (fclose(out) != 0) || write_failed;
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
        return 1;
    }
    if (write_failed) {
        fprintf(stderr, "%s: cannot write the rows: %s\n", prog, strerror(errno));
        return 1;
    }
    fprintf(stderr, "%s: %" PRId64 " rows exported%s%s\n", prog, rows,
            out != stdout && o->out ? " to " : "", out != stdout && o->out ? o->out : "");
    return 0;
}

static int audit_purge(const cli_opts *o)
{
    const char *prog = "shiming audit purge";
    if (!o->has_before) {
        fprintf(stderr, "%s: --before YYYY-MM-DD is required\n", prog);
        return 2;
    }
    tenancy *t = NULL;
    if (open_store(o, prog, false, &t, NULL) != 0)
        return 1;
    int64_t purged = 0;
    tn_status st = tenancy_audit_purge(t, o->before, &purged);
    tenancy_close(t);
    if (st != TN_OK) {
        fprintf(stderr, "%s: %s\n", prog, tn_status_message(st));
        return 1;
    }
    char d[11];
    sm_date_format_iso(o->before, d);
    printf("purged %" PRId64 " audit rows from before %s; the rest still verify\n", purged, d);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2) {
        usage_audit(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage_audit(stdout);
        return 0;
    }
    unsigned allow;
    if (!strcmp(sub, "verify"))
        allow = 0;
    else if (!strcmp(sub, "export"))
        allow = ALLOW_EXPORT;
    else if (!strcmp(sub, "purge"))
        allow = ALLOW_PURGE;
    else {
        fprintf(stderr, "shiming audit: unknown sub-command '%s' (verify, export, purge)\n", sub);
        return 2;
    }
    char prog[64];
    snprintf(prog, sizeof prog, "shiming audit %s", sub);
    cli_opts o;
    int first = 0;
    int rc = parse_opts(argc - 1, argv + 1, prog, allow, usage_audit, &o, &first);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (argc - 1 - first != 0) {
        fprintf(stderr, "%s: takes no operands\n", prog);
        return 2;
    }
    if (!strcmp(sub, "verify"))
        return audit_verify(&o);
    if (!strcmp(sub, "export"))
        return audit_export(&o);
    return audit_purge(&o);
}
