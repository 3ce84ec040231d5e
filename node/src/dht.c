/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's Kademlia DHT (WEFT_KAD=server|client|off, weft/kad.h). In
 * server mode the node answers /ipfs/kad/1.0.0 and identify advertises it;
 * in client mode it only asks. The bootstrap peers (BOOTSTRAP_PEERS) that
 * are DHT servers fill the routing table when their identify arrives, and
 * the engine's self lookup and random walks (every 10 minutes) fill the
 * rest. Every 5 s, while the node has fewer than OPTIMUM_MESH_MAX
 * connections, it dials up to 4 table peers it is not connected to: the
 * topic meshes then take them like any other connection. The engine's own
 * dials (to query peers) stay below 2 x OPTIMUM_MESH_MAX + 8 connections.
 *
 * /api/v1/dht and the weft_node_dht_* metric families report the table and
 * the lookups; both read the engine on the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "node.h"
#include "weft/kad.h"
#include "weft/log.h"

#define FILL_PERIOD (5 * 1000000000LL)
#define FILL_PER_TICK 4

static void
fill_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p, (void)user;
    if (status < 0)
        weft_log(WEFT_LOG_DEBUG, "node", "msg=\"dht peer not reachable\" err=\"%s\"",
                 weft_strerror(status));
}

static void
fill_tick(weft_timer *t, void *user)
{
    (void)t;
    node *n = user;
    if (n->stopping || !n->kad)
        return;
    size_t have = node_stats_connected(n), dialed = 0;
    if (have < (size_t)n->cfg.mesh_max) {
        weft_kad_peer *peers = malloc(sizeof *peers * 64);
        size_t np = peers ? weft_kad_table_peers(weft_kad_host_engine(n->kad), peers, 64) : 0;
        for (size_t i = 0;
             i < np && dialed < FILL_PER_TICK && have + dialed < (size_t)n->cfg.mesh_max; i++) {
            const node_peer_stat *st = node_stats_find(n, &peers[i].id);
            if (st && st->connected)
                continue;
            for (size_t a = 0; a < peers[i].naddrs; a++) {
                weft_multiaddr ma = peers[i].addrs[a];
                struct sockaddr_storage sa;
                socklen_t salen;
                int has = 0;
                if (weft_ma_to_sockaddr(&ma, &sa, &salen, NULL, &has) < 0 ||
                    (!has && weft_ma_append_p2p(&ma, &peers[i].id) < 0))
                    continue;
                if (weft_host_dial(n->host, &ma, fill_dialed, NULL) == 0) {
                    dialed++;
                    n->kad_dials++;
                }
                break;
            }
        }
        free(peers);
    }
    WEFT_IGNORE(weft_timer_arm(n->loop, &n->kad_fill, weft_loop_now(n->loop) + FILL_PERIOD));
}

void
node_dht_stop(node *n)
{
    if (!n->kad)
        return;
    weft_timer_disarm(n->loop, &n->kad_fill);
    weft_kad_host_stop(n->kad);
}

void
node_dht_free(node *n)
{
    weft_kad_host_free(n->kad);
    n->kad = NULL;
}

void
node_dht_on_peer(node *n, weft_peer *p, int up)
{
    if (n->kad)
        weft_kad_host_on_peer(n->kad, p, up);
}

void
node_dht_on_identify(node *n, weft_peer *p, const weft_identify *id)
{
    if (n->kad)
        weft_kad_host_on_identify(n->kad, p, id);
}

static const char *
mode_name(int kad)
{
    return kad == NODE_KAD_SERVER ? "server" : kad == NODE_KAD_CLIENT ? "client" : "off";
}

char *
node_dht_json(node *n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", mode_name(n->cfg.kad));
    cJSON_AddStringToObject(o, "protocol", WEFT_KAD_PROTO);
    if (n->kad) {
        weft_kad *kad = weft_kad_host_engine(n->kad);
        weft_kad_stats st;
        weft_kad_get_stats(kad, &st);
        cJSON_AddNumberToObject(o, "routing_table_size", (double)st.table_size);
        cJSON_AddNumberToObject(o, "buckets", (double)st.buckets);
        cJSON_AddNumberToObject(o, "records", (double)st.records);
        cJSON_AddNumberToObject(o, "providers", (double)st.providers);
        cJSON_AddNumberToObject(o, "lookups_started", (double)st.lookups_started);
        cJSON_AddNumberToObject(o, "lookups_ok", (double)st.lookups_ok);
        cJSON_AddNumberToObject(o, "lookups_failed", (double)st.lookups_failed);
        cJSON_AddNumberToObject(o, "requests_in", (double)st.requests_in);
        cJSON_AddNumberToObject(o, "requests_out", (double)st.requests_out);
        cJSON_AddNumberToObject(o, "mesh_dials", (double)n->kad_dials);
        cJSON *d = cJSON_AddObjectToObject(o, "dropped");
        cJSON_AddNumberToObject(d, "malformed", (double)st.dropped_malformed);
        cJSON_AddNumberToObject(d, "rate", (double)st.dropped_rate);
        cJSON_AddNumberToObject(d, "invalid_record", (double)st.dropped_invalid_record);
        cJSON_AddNumberToObject(d, "store_full", (double)st.dropped_store_full);
        weft_kad_peer *peers = malloc(sizeof *peers * 256);
        size_t np = peers ? weft_kad_table_peers(kad, peers, 256) : 0;
        cJSON *arr = cJSON_AddArrayToObject(o, "peers");
        for (size_t i = 0; i < np; i++) {
            char text[WEFT_MA_TEXT_MAX];
            cJSON *p = cJSON_CreateObject();
            if (weft_peer_id_to_text(&peers[i].id, text, sizeof text) >= 0)
                cJSON_AddStringToObject(p, "peer_id", text);
            cJSON *addrs = cJSON_AddArrayToObject(p, "addrs");
            for (size_t a = 0; a < peers[i].naddrs; a++)
                if (weft_ma_to_text(&peers[i].addrs[a], text, sizeof text) >= 0)
                    cJSON_AddItemToArray(addrs, cJSON_CreateString(text));
            cJSON_AddItemToArray(arr, p);
        }
        free(peers);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- metrics ------------------------------------------------------------------------------ */

struct dht_scrape {
    node *n;
    weft_kad_stats st;
    int ok;
};

static void
scrape_loop(void *arg)
{
    struct dht_scrape *s = arg;
    if (s->n->kad) {
        weft_kad_get_stats(weft_kad_host_engine(s->n->kad), &s->st);
        s->ok = 1;
    }
}

static void
collect(void *user, weft_metrics_out *out)
{
    node *n = user;
    struct dht_scrape s = {.n = n};
    if (!n->bridge || weft_bridge_call(n->bridge, scrape_loop, &s) < 0 || !s.ok)
        return;
    weft_metrics_printf(out,
                        "# HELP weft_node_dht_routing_table_peers Peers in the Kademlia "
                        "routing table\n# TYPE weft_node_dht_routing_table_peers gauge\n"
                        "weft_node_dht_routing_table_peers %llu\n",
                        (unsigned long long)s.st.table_size);
    weft_metrics_printf(out,
                        "# HELP weft_node_dht_records Records held for the DHT\n"
                        "# TYPE weft_node_dht_records gauge\nweft_node_dht_records %llu\n",
                        (unsigned long long)s.st.records);
    weft_metrics_printf(out,
                        "# HELP weft_node_dht_lookups_total Kademlia lookups by result\n"
                        "# TYPE weft_node_dht_lookups_total counter\n"
                        "weft_node_dht_lookups_total{result=\"ok\"} %llu\n"
                        "weft_node_dht_lookups_total{result=\"failed\"} %llu\n",
                        (unsigned long long)s.st.lookups_ok,
                        (unsigned long long)s.st.lookups_failed);
    weft_metrics_printf(out,
                        "# HELP weft_node_dht_requests_total Kademlia requests by direction\n"
                        "# TYPE weft_node_dht_requests_total counter\n"
                        "weft_node_dht_requests_total{direction=\"in\"} %llu\n"
                        "weft_node_dht_requests_total{direction=\"out\"} %llu\n",
                        (unsigned long long)s.st.requests_in,
                        (unsigned long long)s.st.requests_out);
    weft_metrics_printf(out,
                        "# HELP weft_node_dht_dropped_total Kademlia requests dropped, by reason\n"
                        "# TYPE weft_node_dht_dropped_total counter\n"
                        "weft_node_dht_dropped_total{reason=\"malformed\"} %llu\n"
                        "weft_node_dht_dropped_total{reason=\"rate\"} %llu\n"
                        "weft_node_dht_dropped_total{reason=\"invalid_record\"} %llu\n"
                        "weft_node_dht_dropped_total{reason=\"store_full\"} %llu\n",
                        (unsigned long long)s.st.dropped_malformed,
                        (unsigned long long)s.st.dropped_rate,
                        (unsigned long long)s.st.dropped_invalid_record,
                        (unsigned long long)s.st.dropped_store_full);
}

int
node_dht_start(node *n)
{
    if (n->cfg.kad == NODE_KAD_OFF)
        return 0;
    weft_kad_config kc;
    weft_kad_config_default(&kc);
    kc.server = n->cfg.kad == NODE_KAD_SERVER;
    int err = 0;
    n->kad = weft_kad_host_new(n->host, &kc, 8, (unsigned)n->cfg.mesh_max * 2 + 8, &err);
    if (!n->kad)
        return err ? err : WEFT_EINVAL;
    if (n->metrics && (err = weft_metrics_add_collector(n->metrics, collect, n)) < 0)
        return err;
    weft_timer_init(&n->kad_fill, fill_tick, n);
    return weft_timer_arm(n->loop, &n->kad_fill, weft_loop_now(n->loop) + FILL_PERIOD);
}
