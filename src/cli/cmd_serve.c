/*
 * cmd_serve.c — `shiming serve`: load the configuration, start the HTTP
 * server, wait for SIGTERM/SIGINT, drain and exit.
 *
 * Exit status: 0 after a signal-initiated shutdown (requests drained or
 * not), 1 when the server cannot start (address in use, bad TLS files), 2 on
 * a usage error (bad flag, bad config file). Must never: call exit(), or let
 * an MHD thread receive SIGTERM/SIGINT (they are blocked before any thread
 * starts and taken with sigwait here).
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "cli/commands.h"
#include "config/config.h"
#include "http/accesslog.h"
#include "http/metrics.h"
#include "http/server.h"

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

    http_server *srv = NULL;
    if (http_server_start(&cfg, routes_resolve, &srv, err, sizeof err) != HTTP_SERVER_OK) {
        fprintf(stderr, "shiming serve: %s\n", err);
        sigaction(SIGPIPE, &old_pipe, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    accesslog_event(json_pack("{s:s,s:s}", "event", "shutdown", "signal",
                              sig == SIGINT ? "SIGINT" : "SIGTERM"));

    /* A second signal during the drain cuts it short. */
    http_server_shutdown(srv, &stop);

    /* The stop signals stay blocked: a further one still pending must not
     * turn this clean exit into death by signal. */
    sigaction(SIGPIPE, &old_pipe, NULL);
    return 0;
}
