/*
 * cmd_serve.c — `shiming serve`: load the configuration and the server key,
 * open the registry (filling it with the demo identities under --demo when
 * it is empty), start the HTTP server, wait for SIGTERM/SIGINT, drain, close
 * the registry and exit.
 *
 * Exit status: 0 after a signal-initiated shutdown (requests drained or
 * not), 1 when the server cannot start (address in use, bad TLS files, an
 * unusable key file or registry), 2 on a usage error (bad flag, bad config
 * file). A registry that exists but stays locked by another process for the
 * whole busy timeout at start is not fatal: the server starts, answers
 * registry_unavailable (503) and opens it as soon as it can.
 * Must never: call exit(), or let an MHD thread receive SIGTERM/SIGINT (they
 * are blocked before any thread starts and taken with sigwait here).
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/routes.h"
#include "cli/commands.h"
#include "config/config.h"
#include "crypto/server_key.h"
#include "demo/demo.h"
#include "http/accesslog.h"
#include "http/metrics.h"
#include "http/server.h"
#include "registry/registry.h"

#define DEMO_SEED 1
#define DEMO_COUNT 10000

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Open the registry into `ctx`. 0 on success (the registry may still be
 * unavailable: then ctx opens it later), or 1 after having printed why the
 * server cannot start. */
static int open_registry(const config *cfg, api_context *ctx)
{
    char err[1024] = "";
    sm_key key;
    bool created = false;
    memset(&key, 0, sizeof key);
    sm_key_status ks = sm_key_load(cfg->key_file, true, &key, &created, err, sizeof err);
    if (ks != SM_KEY_OK) {
        fprintf(stderr, "shiming serve: cannot use the server key: %s\n", err);
        sm_key_clear(&key);
        return 1;
    }
    if (created)
        accesslog_event(json_pack("{s:s,s:s}", "event", "key_created", "key_file",
                                  cfg->key_file));

    reg_options opt;
    memset(&opt, 0, sizeof opt);
    opt.path = cfg->db;
    opt.key = &key;
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
        sm_key_clear(&key);
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
        sm_key_clear(&key);
        accesslog_event(json_pack("{s:s,s:s,s:s}", "event", "registry_unavailable", "db",
                                  cfg->db, "message", err));
        return 0;
    }
    sm_key_clear(&key);
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

    api_context ctx;
    if (open_registry(&cfg, &ctx) != 0) {
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    /* (--demo never starts without its registry: open_registry saw to it.) */
    if (cfg.demo && fill_demo(&cfg, atomic_load(&ctx.reg)) != 0) {
        api_context_destroy(&ctx);
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }

    http_server *srv = NULL;
    if (http_server_start(&cfg, routes_resolve, &ctx, &srv, err, sizeof err) != HTTP_SERVER_OK) {
        fprintf(stderr, "shiming serve: %s\n", err);
        api_context_destroy(&ctx);
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    accesslog_event(json_pack("{s:s,s:s}", "event", "shutdown", "signal",
                              sig == SIGINT ? "SIGINT" : "SIGTERM"));

    /* A second signal during the drain cuts it short. Every request is done
     * (or cut off) when it returns: the registry can go. */
    http_server_shutdown(srv, &stop);
    api_context_destroy(&ctx);

    /* The stop signals stay blocked: a further one still pending must not
     * turn this clean exit into death by signal. */
    sigaction(SIGPIPE, &old_pipe, NULL);
    return 0;
}
