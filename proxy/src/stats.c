/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's metrics as the guides' dashboards name them, and its
 * country.
 *
 * Labels: published_messages_by_client_total{client_id,topic} (a bounded
 * vector: WEFT_METRICS_MAX_SERIES series, the rest and the idle ones under
 * "other"), publish_error_total{type}, node_received_messages_total{node}
 * (one per entry of P2P_NODES, at most 64). The process_* families come
 * from svc_metrics. Every label value here is either ours or bounded.
 */
#include <stdio.h>
#include <string.h>

#include "proxy.h"
#include "weft/log.h"

static const double size_bounds[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};
static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   1};
static const char *const perr_types[PX_PERR_N] = {
    [PX_PERR_INVALID] = "invalid",           [PX_PERR_TOO_LARGE] = "too_large",
    [PX_PERR_OVERLOADED] = "overloaded",     [PX_PERR_NO_NODE] = "no_node",
    [PX_PERR_NODE_REFUSED] = "node_refused", [PX_PERR_LOST] = "lost",
};

int
px_stats_init(proxy *p)
{
    weft_metrics *r = p->metrics = weft_metrics_new();
    if (!r)
        return -1;
    px_metrics *m = &p->m;
    m->published = weft_metrics_counter(r, "weft_proxy_published_total",
                                        "Publishes accepted and queued to a node", NULL);
    for (int i = 0; i < PX_PERR_N; i++) {
        char lbl[64];
        snprintf(lbl, sizeof lbl, "type=\"%s\"", perr_types[i]);
        m->perr[i] = weft_metrics_counter(r, "publish_error_total",
                                          "Publishes refused or lost, by type", lbl);
    }
    m->publish_size =
        weft_metrics_histogram(r, "published_message_size_bytes", "Size of published messages",
                               NULL, size_bounds, sizeof size_bounds / sizeof *size_bounds);
    m->node_received = weft_metrics_counter(r, "weft_proxy_node_deliveries_total",
                                            "Deliveries received from all nodes", NULL);
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
    m->dropped_no_stream = weft_metrics_counter(
        r, "weft_proxy_dropped_total", "Deliveries dropped, by reason", "reason=\"no_stream\"");
    m->dedup_publish = weft_metrics_counter(r, "weft_proxy_publish_deduplicated_total",
                                            "Publishes answered as duplicates", NULL);
    m->http_latency = weft_metrics_histogram(r, "weft_proxy_http_request_duration_seconds",
                                             "REST request handling time", NULL, latency_bounds,
                                             sizeof latency_bounds / sizeof *latency_bounds);
    m->auth_failures = weft_metrics_counter(r, "weft_proxy_auth_failures_total",
                                            "Requests refused for their token", NULL);
    m->rate_limited = weft_metrics_counter(r, "weft_proxy_rate_limited_total",
                                           "Requests refused by a client limit", NULL);
    m->jwks_refresh_ok = weft_metrics_counter(r, "weft_proxy_jwks_refresh_total",
                                              "Key set fetches, by result", "result=\"ok\"");
    m->jwks_refresh_failed = weft_metrics_counter(r, "weft_proxy_jwks_refresh_total",
                                                  "Key set fetches, by result", "result=\"error\"");
    m->subscribe_refused =
        weft_metrics_counter(r, "weft_proxy_subscribe_refused_total",
                             "Subscriptions refused: the proxy's topic limit or a node's", NULL);
    m->clients = weft_metrics_gauge(r, "weft_proxy_clients",
                                    "Client records held (subscriptions and connections)", NULL);
    m->clients_expired = weft_metrics_counter(r, "weft_proxy_clients_expired_total",
                                              "Idle clients forgotten (WEFT_CLIENT_IDLE_S)", NULL);
    m->share_sent =
        weft_metrics_counter(r, "weft_proxy_share_records_total",
                             "Shared subscription records, by outcome", "outcome=\"sent\"");
    m->share_applied =
        weft_metrics_counter(r, "weft_proxy_share_records_total",
                             "Shared subscription records, by outcome", "outcome=\"applied\"");
    m->share_refused =
        weft_metrics_counter(r, "weft_proxy_share_records_total",
                             "Shared subscription records, by outcome", "outcome=\"refused\"");
    weft_metric **all = (weft_metric **)m;
    for (size_t i = 0; i < sizeof *m / sizeof(weft_metric *); i++)
        if (!all[i])
            return -1;
    for (size_t i = 0; i < p->cfg.nnodes; i++) {
        char lbl[PX_ID_MAX * 2 + 200], esc[sizeof p->cfg.nodes[0] * 2];
        snprintf(lbl, sizeof lbl, "node=\"%s\"",
                 weft_metrics_escape(p->cfg.nodes[i], esc, sizeof esc));
        p->node_rx[i] = weft_metrics_counter(r, "node_received_messages_total",
                                             "Deliveries received, by node sidecar", lbl);
        if (!p->node_rx[i])
            return -1;
    }
    static const char *const labels[] = {"client_id", "topic"};
    p->published_by = weft_metrics_counter_vec(
        r, "published_messages_by_client_total",
        "Messages published, by client and topic (bounded: WEFT_METRICS_MAX_SERIES)", labels, 2,
        (size_t)p->cfg.metrics_series, p->cfg.metrics_idle_ms);
    if (!p->published_by || weft_metrics_add_process(r) < 0)
        return -1;
    return 0;
}

void
px_stats_published(proxy *p, const char *client, const char *topic, size_t n)
{
    weft_metric_inc(p->m.published);
    weft_metric_observe(p->m.publish_size, (double)n);
    const char *v[2] = {client, topic};
    weft_metrics_vec_add(p->published_by, v, 1, weft_mono_ms());
}

void
px_stats_publish_error(proxy *p, int type)
{
    if (type >= 0 && type < PX_PERR_N)
        weft_metric_inc(p->m.perr[type]);
}

void
px_stats_node_received(proxy *p, int node)
{
    weft_metric_inc(p->m.node_received);
    if (node >= 0 && node < PX_MAX_NODES)
        weft_metric_inc(p->node_rx[node]);
}

void
px_stats_geo_open(proxy *p)
{
    snprintf(p->country, sizeof p->country, "unknown");
    p->country_iso[0] = 0;
    if (!p->cfg.geoip_db) {
        weft_log(WEFT_LOG_INFO, "proxy",
                 "msg=\"no GeoIP database (WEFT_GEOIP_DB unset): country unknown\"");
        return;
    }
    char msg[256] = "";
    int err = 0;
    p->geo = weft_geo_open(p->cfg.geoip_db, &err, msg, sizeof msg);
    if (!p->geo) {
        weft_log(WEFT_LOG_WARN, "proxy",
                 "msg=\"GeoIP database unusable; country unknown\" path=\"%s\" detail=\"%s\"",
                 p->cfg.geoip_db, msg);
        return;
    }
    const char *ip = p->cfg.public_ip ? p->cfg.public_ip : p->cfg.listen_ip;
    weft_geo_lookup(p->geo, ip, p->country, sizeof p->country, p->country_iso,
                    sizeof p->country_iso);
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"GeoIP database open\" path=\"%s\" ip=%s country=\"%s\"",
             p->cfg.geoip_db, ip, p->country);
}

void
px_stats_geo_close(proxy *p)
{
    weft_geo_close(p->geo);
    p->geo = NULL;
}
