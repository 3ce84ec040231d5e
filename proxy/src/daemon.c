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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "proxy.h"
#include "weft/proxy_daemon.h"
#include "weft/log.h"

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static const double size_bounds[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};
static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   1};

static int
metrics_init(proxy *p)
{
    weft_metrics *r = p->metrics = weft_metrics_new();
    if (!r)
        return -1;
    px_metrics *m = &p->m;
    m->published = weft_metrics_counter(r, "weft_proxy_published_total",
                                        "Publishes accepted and queued to a node", NULL);
    m->publish_errors =
        weft_metrics_counter(r, "publish_error_total", "Publishes refused or lost", NULL);
    m->publish_size =
        weft_metrics_histogram(r, "published_message_size_bytes", "Size of published messages",
                               NULL, size_bounds, sizeof size_bounds / sizeof *size_bounds);
    m->node_received = weft_metrics_counter(r, "node_received_messages_total",
                                            "Deliveries received from nodes", NULL);
    m->fallback =
        weft_metrics_counter(r, "message_fallback_deliveries_total",
                             "Deliveries made below the threshold after the timeout", NULL);
    m->ws_clients = weft_metrics_gauge(r, "active_ws_clients", "WebSocket clients connected", NULL);
    m->grpc_clients = weft_metrics_gauge(r, "weft_proxy_grpc_stream_clients",
                                         "gRPC ClientStream clients connected", NULL);
    m->nodes_connected =
        weft_metrics_gauge(r, "total_p2pnodes_connections", "Node sidecars connected", NULL);
    m->deliveries = weft_metrics_counter(r, "weft_proxy_client_deliveries_total",
                                         "Messages queued to clients", NULL);
    m->dropped_slow = weft_metrics_counter(
        r, "weft_proxy_dropped_total", "Deliveries dropped, by reason", "reason=\"slow_consumer\"");
    m->dedup_publish = weft_metrics_counter(r, "weft_proxy_publish_deduplicated_total",
                                            "Publishes answered as duplicates", NULL);
    m->http_latency = weft_metrics_histogram(r, "weft_proxy_http_request_duration_seconds",
                                             "REST request handling time", NULL, latency_bounds,
                                             sizeof latency_bounds / sizeof *latency_bounds);
    m->auth_failures = weft_metrics_counter(r, "weft_proxy_auth_failures_total",
                                            "Requests refused for their token", NULL);
    m->rate_limited = weft_metrics_counter(r, "weft_proxy_rate_limited_total",
                                           "Requests refused by a client limit", NULL);
    weft_metric **all = (weft_metric **)m;
    for (size_t i = 0; i < sizeof *m / sizeof(weft_metric *); i++)
        if (!all[i])
            return -1;
    return 0;
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
            printf("weft-proxy %s\n", WEFT_VERSION);
            return 0;
        }
        if (strcmp(argv[1], "check-config")) {
            fprintf(stderr, "weft-proxy: unknown argument '%s' (see weft-proxy --help)\n", argv[1]);
            return 2;
        }
    }
    static proxy px;
    proxy *p = &px;
    char err[WEFT_ENV_ERR];
    if (px_config_load(&p->cfg, err) < 0) {
        fprintf(stderr, "weft-proxy: %s\n", err);
        return 2;
    }
    if (argc > 1) {
        printf("config ok: %zu nodes, REST :%d, gRPC :%d, auth %s\n", p->cfg.nnodes,
               p->cfg.http_port, p->cfg.grpc_port, p->cfg.enable_auth ? "on" : "off");
        return 0;
    }
    weft_log_set_level(p->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (metrics_init(p) < 0 || !(p->engine = px_engine_new(p))) {
        fprintf(stderr, "weft-proxy: out of memory at start-up\n");
        return 1;
    }
    if (p->cfg.enable_auth && px_auth_start(p) < 0)
        return 1;
    int e = 0;
    if (!px_pool_start(p, &e)) {
        fprintf(stderr, "weft-proxy: node pool: %s\n", weft_strerror(e));
        return 1;
    }
    if (px_rest_start(p) < 0 || px_grpc_start(p) < 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    weft_log(WEFT_LOG_INFO, "proxy",
             "msg=\"weft-proxy started\" cluster=\"%s\" rest=%s:%d grpc=%s:%d nodes=%zu auth=%s "
             "threshold=%g",
             p->cfg.cluster_id, p->cfg.listen_ip, p->cfg.http_port, p->cfg.listen_ip,
             p->cfg.grpc_port, p->cfg.nnodes, p->cfg.enable_auth ? "on" : "off", p->cfg.threshold);
    while (!g_stop)
        pause();
    atomic_store(&p->stopping, 1);
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"shutting down\"");
    px_rest_stop(p);
    px_grpc_stop(p);
    usleep(300000); /* queued publishes reach their nodes */
    px_pool_stop(p->pool);
    px_engine_free(p->engine);
    if (p->cfg.enable_auth)
        px_auth_stop(p);
    weft_metrics_free(p->metrics);
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"stopped\"");
    return 0;
}
