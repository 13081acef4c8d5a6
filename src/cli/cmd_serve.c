/*
 * cmd_serve.c — `shiming serve`: load the configuration and the server key,
 * open the registry (filling it with the demo identities under --demo when
 * it is empty) and the tenancy store (apps, keys, quotas, audit; under
 * --demo also the demo app with its fixed credentials), make sure the admin
 * token file exists, load the OCR models and start the inference worker
 * pool ([vision]), start the HTTP server, wait for SIGTERM/SIGINT, drain,
 * stop the workers, close the models, the registry and the tenancy store
 * (committing what is queued) and exit.
 *
 * Exit status: 0 after a signal-initiated shutdown (requests drained or
 * not), 1 when the server cannot start (address in use, bad TLS files, an
 * unusable key file, registry or tenancy store), 2 on a usage error (bad
 * flag, bad config file, --demo on a non-loopback address without
 * --demo-allow-remote). A registry that exists but stays locked by another
 * process for the whole busy timeout at start is not fatal: the server
 * starts, answers registry_unavailable (503) and opens it as soon as it can.
 * OCR models that cannot be loaded are not fatal either: the server starts,
 * logs why (event "ocr_unavailable"), and the OCR routes answer 503
 * ocr_unavailable (dialect E: 10021).
 * Must never: call exit(), let an MHD thread receive SIGTERM/SIGINT (they
 * are blocked before any thread starts and taken with sigwait here), log a
 * secret (the demo credentials and the admin token included), or create
 * the demo credentials without --demo.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/admin.h"
#include "api/routes.h"
#include "dialects/dialects.h"
#include "cli/commands.h"
#include "config/config.h"
#include "crypto/envelope.h"
#include "crypto/server_key.h"
#include "demo/demo.h"
#include "http/accesslog.h"
#include "http/metrics.h"
#include "http/server.h"
#include "registry/registry.h"
#include "tenancy/tenancy.h"
#include "vision/face.h"
#include "vision/image.h"
#include "vision/jobs.h"
#include "vision/ocr.h"
#include "vision/runtime.h"

#define DEMO_SEED 1
#define DEMO_COUNT 10000

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Load (or create) the server key. 0, or 1 after having printed why not. */
static int load_key(const config *cfg, sm_key *key)
{
    char err[1024] = "";
    bool created = false;
    memset(key, 0, sizeof *key);
    sm_key_status ks = sm_key_load(cfg->key_file, true, key, &created, err, sizeof err);
    if (ks != SM_KEY_OK) {
        fprintf(stderr, "shiming serve: cannot use the server key: %s\n", err);
        sm_key_clear(key);
        return 1;
    }
    if (created)
        accesslog_event(json_pack("{s:s,s:s}", "event", "key_created", "key_file",
                                  cfg->key_file));
    return 0;
}

/* Dialect A's field-encryption key pairs (created on first start). 0, or
 * 1 after having printed why the server cannot start. */
static int open_envelope(const config *cfg, envelope_keys **out)
{
    char err[1024] = "", rsa[CONFIG_PATH_MAX], sm2[CONFIG_PATH_MAX];
    bool created = false;
    *out = NULL;
    if (config_envelope_paths(cfg, rsa, sm2, err, sizeof err))
        *out = envelope_keys_load(rsa, sm2, true, &created, err, sizeof err);
    if (*out == NULL) {
        fprintf(stderr, "shiming serve: cannot use the envelope key pairs: %s\n", err);
        return 1;
    }
    if (created)
        accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "envelope_keys_created",
                                  "rsa_key_file", rsa, "sm2_key_file", sm2));
    return 0;
}

/* Open the registry into `ctx` with the server key `key` (borrowed). 0 on
 * success (the registry may still be unavailable: then ctx opens it later),
 * or 1 after having printed why the server cannot start. */
static int open_registry(const config *cfg, const sm_key *key, api_context *ctx)
{
    char err[1024] = "";
    reg_options opt;
    memset(&opt, 0, sizeof opt);
    opt.path = cfg->db;
    opt.key = key;
    opt.create = true;
    opt.readers = cfg->threads;
    opt.busy_timeout_ms = cfg->busy_timeout_ms;

    registry *reg = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    reg_status st = registry_open(&opt, &reg, err, sizeof err);
    double waited_ms = seconds_since(&t0) * 1000.0;
    if (st == REG_OK) {
        api_context_init(ctx, reg, NULL);
        accesslog_event(json_pack("{s:s,s:s,s:i}", "event", "registry_opened", "db", cfg->db,
                                  "schema_version", registry_store_version(reg)));
        return 0;
    }

    /* Unavailable after waiting out the whole busy timeout, on a store that
     * is there: another process holds it locked. Start anyway and let the
     * first requests open it. Anything else (a damaged file fails at once,
     * a wrong key, a missing directory…) is fatal. */
    struct stat sb;
    bool exists = stat(cfg->db, &sb) == 0 && S_ISREG(sb.st_mode);
    bool waited = waited_ms >= 0.8 * (double)(cfg->busy_timeout_ms ? cfg->busy_timeout_ms : 1000);
    if (st == REG_UNAVAILABLE && exists && waited && !cfg->demo) {
        api_context_init(ctx, NULL, &opt);
        accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "registry_unavailable", "db",
                                  cfg->db, "message", err));
        return 0;
    }
    if (err[0] != '\0')
        fprintf(stderr, "shiming serve: cannot open the registry: %s\n", err);
    else
        fprintf(stderr, "shiming serve: cannot open the registry '%s': %s\n", cfg->db,
                reg_status_message(st));
    return 1;
}

/* --demo: fill an empty registry with the demo identities. 0, or 1 after
 * having printed why not. */
static int fill_demo(const config *cfg, registry *reg)
{
    char err[1024] = "";
    if (reg == NULL) {
        fprintf(stderr, "shiming serve: --demo: the registry '%s' is not open\n", cfg->db);
        return 1;
    }
    reg_stats stats;
    memset(&stats, 0, sizeof stats);
    reg_status st = registry_stats(reg, &stats);
    if (st != REG_OK) {
        fprintf(stderr, "shiming serve: --demo: cannot count the registry's persons: %s\n",
                reg_status_message(st));
        return 1;
    }
    if (stats.persons != 0) {
        accesslog_event(json_pack("{s:s,s:s,s:b,s:I}", "event", "demo", "db", cfg->db, "filled",
                                  false, "persons", (json_int_t)stats.persons));
        return 0;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    demo_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.seed = DEMO_SEED;
    dopt.count = DEMO_COUNT;
    st = demo_fill_registry(&dopt, reg, err, sizeof err);
    if (st != REG_OK) {
        fprintf(stderr, "shiming serve: --demo: cannot fill the registry '%s': %s\n", cfg->db,
                err[0] ? err : reg_status_message(st));
        return 1;
    }
    accesslog_event(json_pack("{s:s,s:s,s:b,s:I,s:I,s:f}", "event", "demo", "db", cfg->db,
                              "filled", true, "persons", (json_int_t)DEMO_COUNT, "seed",
                              (json_int_t)DEMO_SEED, "fill_ms", seconds_since(&t0) * 1000.0));
    return 0;
}

/* ----------------------------------------------------------------- tenancy */

/* Is the bind address a loopback one (127.0.0.0/8, ::1, ::ffff:127.x)? */
static bool bind_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

/* Open the tenancy store. 0, or 1 after having printed why not. */
static int open_tenancy(const config *cfg, const sm_key *key, tenancy **out)
{
    char err[1024] = "";
    tn_options opt;
    memset(&opt, 0, sizeof opt);
    opt.path = cfg->tenancy_db;
    opt.key = key;
    opt.create = true;
    opt.busy_timeout_ms = cfg->busy_timeout_ms;
    opt.start_threads = true;
    opt.no_subject_caps = !cfg->subject_caps;
    tn_status st = tenancy_open(&opt, out, err, sizeof err);
    if (st != TN_OK) {
        *out = NULL;
        fprintf(stderr, "shiming serve: cannot open the tenancy store '%s': %s\n",
                cfg->tenancy_db, err[0] ? err : tn_status_message(st));
        return 1;
    }
    accesslog_event(json_pack("{s:s,s:s}", "event", "tenancy_opened", "db", cfg->tenancy_db));
    return 0;
}

/* The admin API's state: the token file (created when missing: 32 random
 * bytes in hex, mode 0600) read into an api_admin. 0, or 1 after having
 * printed why not (the message never holds the token). */
static int open_admin(const config *cfg, const sm_key *key, api_admin **out)
{
    char err[1024] = "";
    char token[ADMIN_TOKEN_LEN + 1];
    bool created = false;
    *out = NULL;
    if (!admin_token_load(cfg->admin_token_file, true, token, &created, err, sizeof err)) {
        fprintf(stderr, "shiming serve: %s\n", err);
        return 1;
    }
    *out = admin_new(token, key);
    OPENSSL_cleanse(token, sizeof token);
    if (*out == NULL) {
        fprintf(stderr, "shiming serve: out of memory\n");
        return 1;
    }
    if (created)
        accesslog_event(json_pack("{s:s,s:s}", "event", "admin_token_created", "file",
                                  cfg->admin_token_file));
    return 0;
}

/* The demo app's fixed, published credentials (README: "Apps, keys and quotas").
 * They exist only in a store that `serve --demo` has started on. */
static const struct {
    tn_cred_kind kind;
    const char *id;      /* NULL for the hashed kinds */
    const char *secret;
} demo_creds[] = {
    {TN_CRED_NATIVE, NULL, "demo-key"},
    {TN_CRED_BEARER, NULL, "demo-token"},
    {TN_CRED_APPCODE, NULL, "demo-appcode"},
    {TN_CRED_APIKEY, "demo", "demo-apikey"},
    {TN_CRED_ACCESSKEY, "demo-access-key-id", "demo-access-key-secret"},
    {TN_CRED_APPSECRET, "10001", "demo-secret"},
    {TN_CRED_SECRETID, "demo-secret-id", "demo-secret-key"},
    {TN_CRED_APPKEY, "demo-app-key", "demo-app-secret"},
};

#define DEMO_APP "demo"
#define DEMO_UNITS 1000000000LL

/* Does the demo app already hold credential `i`? */
static bool demo_cred_present(tenancy *t, int64_t app_id, size_t i)
{
    tn_app app;
    memset(&app, 0, sizeof app);
    tn_status st;
    if (demo_creds[i].id == NULL) {
        st = tenancy_authenticate(t, demo_creds[i].kind, demo_creds[i].secret,
                                  strlen(demo_creds[i].secret), &app);
    } else {
        char secret[TN_SECRET_MAX];
        st = tenancy_credential_secret(t, demo_creds[i].kind, demo_creds[i].id, secret, &app);
        OPENSSL_cleanse(secret, sizeof secret);
    }
    return st == TN_OK && app.id == app_id;
}

/* --demo: the demo app, its fixed credentials and a large package of every
 * known product; each missing piece is added (so an interrupted first start
 * heals on the next). 0, or 1 after having printed why not. */
static int demo_app(tenancy *t)
{
    char err[512] = "";
    tn_app app;
    memset(&app, 0, sizeof app);
    bool created = false;
    tn_status st = tenancy_app_get(t, DEMO_APP, &app);
    if (st == TN_ERR_NOT_FOUND) {
        st = tenancy_app_create(t, DEMO_APP, &app, err, sizeof err);
        created = st == TN_OK;
    }
    if (st != TN_OK) {
        fprintf(stderr, "shiming serve: --demo: cannot create the demo app: %s\n",
                err[0] ? err : tn_status_message(st));
        return 1;
    }

    json_t *creds = json_array();
    for (size_t i = 0; i < sizeof demo_creds / sizeof demo_creds[0]; i++) {
        if (demo_cred_present(t, app.id, i))
            continue;
        tn_new_cred nc;
        memset(&nc, 0, sizeof nc);
        err[0] = '\0';
        st = tenancy_cred_add(t, app.id, demo_creds[i].kind, demo_creds[i].id,
                              demo_creds[i].secret, &nc, err, sizeof err);
        OPENSSL_cleanse(&nc, sizeof nc);
        if (st != TN_OK) {
            fprintf(stderr, "shiming serve: --demo: cannot add the demo app's %s credential: %s\n",
                    tn_cred_kind_code(demo_creds[i].kind), err[0] ? err : tn_status_message(st));
            json_decref(creds);
            return 1;
        }
        json_array_append_new(creds, json_string(tn_cred_kind_code(demo_creds[i].kind)));
    }

    tn_package *pk = NULL;
    size_t n_pk = 0;
    st = tenancy_usage(t, app.id, &pk, &n_pk);
    if (st != TN_OK) {
        fprintf(stderr, "shiming serve: --demo: cannot read the demo app's packages: %s\n",
                tn_status_message(st));
        json_decref(creds);
        return 1;
    }
    json_t *products = json_array();
    const char *product;
    for (size_t i = 0; (product = tn_product_at(i)) != NULL; i++) {
        bool has = false;
        for (size_t k = 0; k < n_pk && !has; k++)
            has = strcmp(pk[k].product, product) == 0;
        if (has)
            continue;
        sm_date never;
        memset(&never, 0, sizeof never);
        err[0] = '\0';
        st = tenancy_package_add(t, app.id, product, DEMO_UNITS, never, err, sizeof err);
        if (st != TN_OK) {
            fprintf(stderr, "shiming serve: --demo: cannot add the demo app's %s package: %s\n",
                    product, err[0] ? err : tn_status_message(st));
            free(pk);
            json_decref(creds);
            json_decref(products);
            return 1;
        }
        json_array_append_new(products, json_string(product));
    }
    free(pk);
    /* Names of what was added, never a secret. */
    accesslog_event(json_pack("{s:s,s:s,s:b,s:o,s:o,s:I}", "event", "demo_app", "app", DEMO_APP,
                              "created", created, "credentials_added", creds, "packages_added",
                              products, "units", (json_int_t)DEMO_UNITS));
    return 0;
}

/* ------------------------------------------------------------------ vision */

/* Where the OCR models are ([vision] models_dir). */
static const char *vision_models_dir(const config *cfg)
{
    return cfg->vision_models_dir;
}

/* Intra-op threads per inference ([vision] intra_threads; 0 = the cores). */
static unsigned vision_intra_threads(const config *cfg)
{
    return cfg->vision_intra_threads;
}

typedef struct {
    vx_runtime *rt;
    vx_ocr *ocr;
    vx_face *face;
    vx_jobs *jobs;
} vision_state;

/* The fetch options, the OCR models and the worker pool into ctx. Models
 * that cannot be loaded leave ctx->ocr NULL (logged; the OCR routes answer
 * 503). 0, or 1 after having printed why the server cannot start (the
 * worker threads cannot be created). */
static int open_vision(const config *cfg, api_context *ctx, vision_state *vs)
{
    memset(vs, 0, sizeof *vs);
    snprintf(ctx->fetch_allow, sizeof ctx->fetch_allow, "%s", cfg->fetch_allow_cidrs);
    ctx->fetch.allow_cidrs = ctx->fetch_allow;
    ctx->fetch.max_bytes = cfg->fetch_max_bytes;
    ctx->fetch.total_ms = cfg->fetch_timeout_ms;
    ctx->fetch.connect_ms = cfg->fetch_timeout_ms < 3000 ? cfg->fetch_timeout_ms : 3000;
    if (!cfg->vision_enabled) {
        accesslog_event(json_pack("{s:s,s:s}", "event", "ocr_disabled", "message",
                                  "[vision] enabled = false: the OCR routes answer 503"));
        return 0;
    }
    vs->jobs = vx_jobs_start(cfg->vision_workers, cfg->vision_queue_max);
    if (vs->jobs == NULL) {
        fprintf(stderr, "shiming serve: cannot start %u OCR worker threads\n",
                cfg->vision_workers);
        return 1;
    }
    ctx->jobs = vs->jobs;
    ctx->ocr_workers = cfg->vision_workers;
    ctx->ocr_enabled = true;

    char err[1024] = "";
    const char *dir = vision_models_dir(cfg);
    char det[CONFIG_PATH_MAX + 64], rec[CONFIG_PATH_MAX + 64], cls[CONFIG_PATH_MAX + 64],
        keys[CONFIG_PATH_MAX + 64];
    snprintf(det, sizeof det, "%s/ch_PP-OCRv4_det_infer.onnx", dir);
    snprintf(rec, sizeof rec, "%s/ch_PP-OCRv4_rec_infer.onnx", dir);
    snprintf(cls, sizeof cls, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", dir);
    snprintf(keys, sizeof keys, "%s/ppocr_keys_v1.txt", dir);
    vx_ocr_models m = {det, rec, cls, keys};
    vx_runtime_options ro = {vision_intra_threads(cfg)};
    if (!vx_image_init(err, sizeof err)) {
        /* no decoder: every image is refused; nothing to load */
    } else if ((vs->rt = vx_runtime_open(&ro, err, sizeof err)) != NULL) {
        vs->ocr = vx_ocr_open(vs->rt, &m, err, sizeof err);
    }
    ctx->ocr = vs->ocr;
    if (vs->ocr == NULL)
        accesslog_event(json_pack("{s:s,s:s,s:s,s:s}", "event", "ocr_unavailable", "models_dir",
                                  dir, "message", err[0] ? err : "unknown error", "effect",
                                  "the OCR routes answer 503 ocr_unavailable"));
    else
        accesslog_event(json_pack("{s:s,s:s,s:I,s:I}", "event", "ocr_ready", "models_dir", dir,
                                  "workers", (json_int_t)cfg->vision_workers, "queue_max",
                                  (json_int_t)cfg->vision_queue_max));
    /* The face engine (api/face.h), next to the OCR, on the same runtime. */
    err[0] = '\0';
    if (vs->rt != NULL)
        vs->face = vx_face_open_dir(vs->rt, dir, err, sizeof err);
    ctx->face = vs->face;
    if (vs->face == NULL)
        accesslog_event(json_pack("{s:s,s:s,s:s,s:s}", "event", "face_unavailable", "models_dir",
                                  dir, "message", err[0] ? err : "unknown error", "effect",
                                  "the face and eKYC routes answer 503 face_unavailable"));
    else
        accesslog_event(json_pack("{s:s,s:s}", "event", "face_ready", "models_dir", dir));
    return 0;
}

/* After the server has stopped: every job has answered (a deferred reply
 * keeps the server from stopping), stop drains what is left anyway. */
static void close_vision(vision_state *vs)
{
    vx_jobs_stop(vs->jobs);
    if (vs->face != NULL)
        vx_face_close(vs->face);
    vx_ocr_close(vs->ocr);
    vx_runtime_close(vs->rt);
    memset(vs, 0, sizeof *vs);
}

/* ------------------------------------------------------------------- serve */

int cmd_serve(int argc, char **argv)
{
    config cfg;
    char err[1536];

    switch (config_load(&cfg, argc, argv, err, sizeof err)) {
    case CONFIG_HELP:
        config_help(stdout);
        return 0;
    case CONFIG_ERR:
        fprintf(stderr, "shiming serve: %s\nTry 'shiming serve --help' for the options.\n", err);
        return 2;
    case CONFIG_OK:
        break;
    }

    routes_set_upload_limit(cfg.vision_max_upload);
    dialect_root_set_tc3_limit(cfg.max_body);
    if (!routes_set_dialect_e_path(cfg.dialect_e_path, err, sizeof err)) {
        fprintf(stderr, "shiming serve: %s\nTry 'shiming serve --help' for the options.\n", err);
        return 2;
    }

    /* The demo's credentials are published: not on a reachable address
     * unless the operator says so. */
    if (cfg.demo && !cfg.demo_allow_remote && !bind_is_loopback(cfg.bind)) {
        fprintf(stderr,
                "shiming serve: --demo serves fixed, published credentials and may only listen "
                "on a loopback address (127.0.0.1, ::1), not '%s'; add --demo-allow-remote to "
                "do it anyway\n",
                cfg.bind);
        return 2;
    }

    /* Block the stop signals in this thread before any other starts, so that
     * every thread inherits the mask and only sigwait() below takes them. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);

    /* A client hanging up mid-response, or a closed stderr, must not kill us. */
    struct sigaction ign, old_pipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);

    json_object_seed(0); /* seed jansson's hashing once, before threads */
    metrics_init();
    size_t n_routes = 0;
    const route *table = routes_table(&n_routes);
    for (size_t i = 0; i < n_routes; i++)
        (void)metrics_route_slot(table[i].name);

    sm_key key;
    if (load_key(&cfg, &key) != 0) {
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    api_context ctx;
    if (open_registry(&cfg, &key, &ctx) != 0) {
        sm_key_clear(&key);
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    tenancy *tn = NULL;
    api_admin *admin = NULL;
    int rc = 0;
    if (cfg.tenancy_enabled)
        rc = open_tenancy(&cfg, &key, &tn);
    if (rc == 0 && tn != NULL)
        rc = open_admin(&cfg, &key, &admin);
    envelope_keys *envelope = NULL;
    if (rc == 0)
        rc = open_envelope(&cfg, &envelope);
    sm_key_clear(&key);
    vision_state vision;
    memset(&vision, 0, sizeof vision);
    if (rc == 0)
        rc = open_vision(&cfg, &ctx, &vision);
    api_context_set_tenancy(&ctx, tn);
    ctx.admin = admin;
    ctx.envelope = envelope;

    /* (--demo never starts without its registry: open_registry saw to it.) */
    if (rc == 0 && cfg.demo)
        rc = fill_demo(&cfg, atomic_load(&ctx.reg));
    if (rc == 0 && tn != NULL && cfg.demo)
        rc = demo_app(tn);
    if (rc == 0 && tn == NULL)
        accesslog_event(json_pack(
            "{s:s,s:s,s:s}", "event", "warning", "warning", "tenancy_disabled", "message",
            "[tenancy] enabled = false: /v1 is open to anyone, unauthenticated, unmetered and "
            "unaudited; use only for benchmarks and trusted internal networks"));

    http_server *srv = NULL;
    if (rc == 0 &&
        http_server_start(&cfg, routes_resolve, &ctx, &srv, err, sizeof err) != HTTP_SERVER_OK) {
        fprintf(stderr, "shiming serve: %s\n", err);
        rc = 1;
    }
    if (rc != 0) {
        close_vision(&vision);
        api_context_destroy(&ctx);
        admin_free(admin);
        envelope_keys_free(envelope);
        if (tn != NULL)
            tenancy_close(tn);
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return rc;
    }

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    accesslog_event(json_pack("{s:s,s:s}", "event", "shutdown", "signal",
                              sig == SIGINT ? "SIGINT" : "SIGTERM"));

    /* A second signal during the drain cuts it short. Every request is done
     * (or cut off) when it returns: the registry can go. */
    http_server_shutdown(srv, &stop);
    close_vision(&vision);
    api_context_destroy(&ctx);
    admin_free(admin);
    envelope_keys_free(envelope);
    if (tn != NULL)
        tenancy_close(tn); /* commits what is still queued */

    /* The stop signals stay blocked: a further one still pending must not
     * turn this clean exit into death by signal. */
    sigaction(SIGPIPE, &old_pipe, NULL);
    return 0;
}
