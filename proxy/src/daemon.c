/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy: the gateway between client applications (REST, WebSocket,
 * gRPC) and a pool of weft-node (or OptimumP2P) sidecars.
 *
 * Configuration comes from the environment (weft-proxy --help); a bad
 * value stops it with one line naming the variable. SIGTERM or SIGINT stops
 * the front-ends first (no new requests), gives queued publishes a moment
 * to reach a node, then closes the node streams and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "proxy.h"
#include "weft/commit.h"
#include "weft/proxy_daemon.h"
#include "weft/log.h"

/* SIGTERM and SIGINT are blocked from the first line of main, so every
 * thread started later has them blocked too: a signal at any moment of
 * start-up stays pending (start-up checks between its steps) and the main
 * thread takes it with sigwait once running. Nothing runs in a handler. */
static sigset_t g_stop_set;

static void
signals_block(void)
{
    sigemptyset(&g_stop_set);
    sigaddset(&g_stop_set, SIGTERM);
    sigaddset(&g_stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &g_stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int
stop_pending(void)
{
    sigset_t pend;
    sigpending(&pend);
    return sigismember(&pend, SIGTERM) == 1 || sigismember(&pend, SIGINT) == 1;
}

/* Stop whatever start-up got to, front-ends first; safe on a partial start. */
static void
teardown(proxy *p, int drain)
{
    atomic_store(&p->stopping, 1);
    px_rest_stop(p);
    px_grpc_stop(p);
    if (drain && p->pool)
        usleep(300000);    /* queued publishes reach their nodes */
    px_pool_stop(p->pool); /* no more records arrive */
    p->pool = NULL;
    px_share_stop(p);
    px_engine_free(p->engine);
    p->engine = NULL;
    px_auth_stop(p);
    px_stats_geo_close(p);
    weft_metrics_free(p->metrics);
    p->metrics = NULL;
}

int
weft_proxy_main(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
            printf("usage: weft-proxy [--help | --version | check-config]\n\n"
                   "The gateway for client applications: REST and WebSocket on PROXY_PORT, gRPC\n"
                   "ProxyStream on PROXY_GRPC_PORT, over the node sidecars in P2P_NODES, with\n"
                   "threshold delivery, JWT auth and per-client limits, Prometheus /metrics.\n\n%s",
                   px_config_help);
            return 0;
        }
        if (!strcmp(argv[1], "--version")) {
            printf("weft-proxy %s (commit %s, %s)\n", WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE);
            return 0;
        }
        if (strcmp(argv[1], "check-config")) {
            fprintf(stderr, "weft-proxy: unknown argument '%s' (see weft-proxy --help)\n", argv[1]);
            return 2;
        }
    }
    signals_block();
    static proxy px;
    proxy *p = &px;
    char err[WEFT_ENV_ERR];
    if (px_config_load(&p->cfg, err) < 0) {
        fprintf(stderr, "weft-proxy: %s\n", err);
        return 2;
    }
    weft_log_set_level(p->cfg.log_level);
    if (px_stats_init(p) < 0) {
        fprintf(stderr, "weft-proxy: out of memory at start-up\n");
        teardown(p, 0);
        return 1;
    }
    /* check-config runs what start-up runs before it binds a port: the
     * environment above, then the key set (fetched as start fetches it). */
    if (p->cfg.enable_auth && px_auth_start(p) < 0) {
        teardown(p, 0);
        return 2;
    }
    if (argc > 1) {
        printf("config ok: %zu nodes, REST :%d, gRPC :%d, auth %s\n", p->cfg.nnodes,
               p->cfg.http_port, p->cfg.grpc_port, p->cfg.enable_auth ? "on" : "off");
        teardown(p, 0);
        return 0;
    }
    if (stop_pending())
        goto stopped;
    if (!(p->engine = px_engine_new(p))) {
        fprintf(stderr, "weft-proxy: out of memory at start-up\n");
        teardown(p, 0);
        return 1;
    }
    px_stats_geo_open(p);
    int e = 0;
    if (!px_pool_start(p, &e)) {
        fprintf(stderr, "weft-proxy: node pool: %s\n", weft_strerror(e));
        p->pool = NULL; /* half started: its threads are not all there to join */
        teardown(p, 0);
        return 1;
    }
    if (px_share_start(p) < 0 || px_rest_start(p) < 0 || px_grpc_start(p) < 0) {
        teardown(p, 0);
        return 1;
    }
    weft_log(WEFT_LOG_INFO, "proxy",
             "msg=\"weft-proxy started\" cluster=\"%s\" rest=%s:%d grpc=%s:%d nodes=%zu auth=%s "
             "threshold=%g",
             p->cfg.cluster_id, p->cfg.listen_ip, p->cfg.http_port, p->cfg.listen_ip,
             p->cfg.grpc_port, p->cfg.nnodes, p->cfg.enable_auth ? "on" : "off", p->cfg.threshold);
    int sig = 0;
    while (sigwait(&g_stop_set, &sig) != 0)
        ;
stopped:
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"shutting down\"");
    teardown(p, 1);
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"stopped\"");
    return 0;
}
