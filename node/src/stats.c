/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the node measures: its metrics (registered once, updated lock-free)
 * and the state derived from the router's trace events on the loop thread:
 * per-peer shard counters, recently published and decoded message ids,
 * generations still being decoded (with their first shard's time, for the
 * decode latency histogram). Scrape-time families read the router, host
 * and loop counters on the loop thread through the bridge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "node.h"
#include "weft/log.h"

#define RECENT 128
#define PARTIAL_SLOTS 4096 /* power of two */
#define ID_MAX 64

struct partial {
    uint8_t id[ID_MAX];
    uint8_t idlen; /* 0 = free */
    uint32_t shards;
    int64_t first_ns;
};

struct node_stats {
    node_peer_stat *peers;
    size_t npeers, cap;
    char seen[RECENT][2 * ID_MAX + 1];
    size_t nseen;
    char decoded[RECENT][2 * ID_MAX + 1];
    size_t ndecoded;
    struct partial partial[PARTIAL_SLOTS];
    size_t npartial;
};

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5};
static const double lag_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};

static void node_stats_collect(void *user, weft_metrics_out *out);

int
node_stats_init(node *n)
{
    n->st = calloc(1, sizeof *n->st);
    n->metrics = weft_metrics_new();
    if (!n->st || !n->metrics)
        return -ENOMEM;
    weft_metrics *r = n->metrics;
    node_metrics *m = &n->m;
    m->published = weft_metrics_counter(r, "weft_node_messages_published_total",
                                        "Messages published through the sidecar", NULL);
    m->publish_errors = weft_metrics_counter(r, "weft_node_publish_errors_total",
                                             "Publishes refused by the router", NULL);
    m->subscribe_refused =
        weft_metrics_counter(r, "weft_node_subscribe_refused_total",
                             "Sidecar subscriptions refused (limit or error)", NULL);
    m->delivered = weft_metrics_counter(r, "weft_node_messages_delivered_total",
                                        "Messages delivered by the mesh (once per id)", NULL);
    m->delivered_clients = weft_metrics_counter(r, "weft_node_client_deliveries_total",
                                                "Deliveries queued to sidecar clients", NULL);
    const char *dh = "Messages dropped by the node, by reason";
    m->dropped_too_big =
        weft_metrics_counter(r, "weft_node_messages_dropped_total", dh, "reason=\"too_big\"");
    m->dropped_client_slow =
        weft_metrics_counter(r, "weft_node_messages_dropped_total", dh, "reason=\"client_slow\"");
    m->dropped_overload =
        weft_metrics_counter(r, "weft_node_messages_dropped_total", dh, "reason=\"overload\"");
    m->dropped_bad_request =
        weft_metrics_counter(r, "weft_node_messages_dropped_total", dh, "reason=\"bad_request\"");
    m->dropped_trace = weft_metrics_counter(r, "weft_node_traces_dropped_total",
                                            "Trace events not sent: the client's backlog", NULL);
    m->clients =
        weft_metrics_gauge(r, "weft_node_sidecar_clients", "ListenCommands streams open", NULL);
    m->sidecar_requests = weft_metrics_counter(r, "weft_node_sidecar_requests_total",
                                               "Requests received on ListenCommands", NULL);
    const char *sh = "Coded shards received, by kind";
    m->shards_new = weft_metrics_counter(r, "weft_node_shards_total", sh, "kind=\"new\"");
    m->shards_duplicate =
        weft_metrics_counter(r, "weft_node_shards_total", sh, "kind=\"duplicate\"");
    m->shards_unhelpful =
        weft_metrics_counter(r, "weft_node_shards_total", sh, "kind=\"unhelpful\"");
    m->shards_unnecessary =
        weft_metrics_counter(r, "weft_node_shards_total", sh, "kind=\"unnecessary\"");
    m->decode_latency = weft_metrics_histogram(
        r, "weft_node_decode_latency_seconds", "First shard to decoded message, per generation",
        NULL, latency_bounds, sizeof latency_bounds / sizeof *latency_bounds);
    m->loop_lag = weft_metrics_histogram(r, "weft_node_event_loop_lag_seconds",
                                         "Lateness of a 100 ms timer on the P2P event loop", NULL,
                                         lag_bounds, sizeof lag_bounds / sizeof *lag_bounds);
    m->bootstrap_dials = weft_metrics_counter(r, "weft_node_bootstrap_dials_total",
                                              "Dials of BOOTSTRAP_PEERS", NULL);
    m->bootstrap_failures = weft_metrics_counter(r, "weft_node_bootstrap_dial_failures_total",
                                                 "Failed dials of BOOTSTRAP_PEERS", NULL);
    node_metrics zero;
    memset(&zero, 0, sizeof zero);
    weft_metric **all = (weft_metric **)m;
    for (size_t i = 0; i < sizeof *m / sizeof(weft_metric *); i++)
        if (!all[i])
            return -ENOMEM;
    int rc = weft_metrics_add_process(r); /* process_*, as the proxy's */
    if (rc < 0)
        return rc;
    return weft_metrics_add_collector(r, node_stats_collect, n);
}

void
node_stats_free(node *n)
{
    if (n->st)
        free(n->st->peers);
    free(n->st);
    n->st = NULL;
    weft_metrics_free(n->metrics);
    n->metrics = NULL;
}

/* ---- peers --------------------------------------------------------------------------- */

static node_peer_stat *
peer_stat(node *n, const weft_peer_id *id, int create)
{
    struct node_stats *st = n->st;
    if (!id)
        return NULL;
    for (size_t i = 0; i < st->npeers; i++)
        if (weft_peer_id_equal(&st->peers[i].id, id))
            return &st->peers[i];
    if (!create)
        return NULL;
    if (st->npeers == st->cap) {
        /* Forget a disconnected peer before growing past 1024 records. */
        if (st->cap >= 1024) {
            for (size_t i = 0; i < st->npeers; i++)
                if (!st->peers[i].connected) {
                    st->peers[i] = st->peers[--st->npeers];
                    break;
                }
        }
        if (st->npeers == st->cap) {
            size_t ncap = st->cap ? st->cap * 2 : 16;
            node_peer_stat *np = realloc(st->peers, ncap * sizeof *np);
            if (!np)
                return NULL;
            st->peers = np;
            st->cap = ncap;
        }
    }
    node_peer_stat *p = &st->peers[st->npeers++];
    memset(p, 0, sizeof *p);
    p->id = *id;
    return p;
}

node_peer_stat *
node_stats_find(node *n, const weft_peer_id *id)
{
    return peer_stat(n, id, 0);
}

const node_peer_stat *
node_stats_peers(node *n, size_t *count)
{
    *count = n->st->npeers;
    return n->st->peers;
}

size_t
node_stats_connected(node *n)
{
    size_t c = 0;
    for (size_t i = 0; i < n->st->npeers; i++)
        c += n->st->peers[i].connected != 0;
    return c;
}

void
node_stats_peer(node *n, weft_peer *p, int up)
{
    node_peer_stat *s = peer_stat(n, weft_peer_get_id(p), 1);
    if (!s)
        return;
    s->connected = up;
    s->outbound = weft_peer_is_outbound(p);
    s->since_ns = weft_unix_ns();
    const weft_multiaddr *ma = weft_peer_addr(p);
    if (ma && weft_ma_to_text(ma, s->addr, sizeof s->addr) < 0)
        s->addr[0] = 0;
}

/* ---- traces ---------------------------------------------------------------------------- */

static uint32_t
id_hash(const weft_bytes *id)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < id->len; i++)
        h = (h ^ id->p[i]) * 16777619u;
    return h;
}

/* The slot of id (linear probing), or the free slot where it would go. */
static struct partial *
partial_slot(struct node_stats *st, const weft_bytes *id, int *found)
{
    size_t len = id->len > ID_MAX ? ID_MAX : id->len;
    uint32_t h = id_hash(id);
    for (size_t i = 0; i < 64; i++) {
        struct partial *p = &st->partial[(h + i) & (PARTIAL_SLOTS - 1)];
        if (!p->idlen) {
            *found = 0;
            return p;
        }
        if (p->idlen == len && !memcmp(p->id, id->p, len)) {
            *found = 1;
            return p;
        }
    }
    *found = 0;
    return NULL; /* a long run: this id goes uncounted */
}

static void
partial_remove(struct node_stats *st, struct partial *p)
{
    /* Backward-shift deletion keeps every probe run contiguous. */
    size_t i = (size_t)(p - st->partial);
    for (;;) {
        st->partial[i].idlen = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & (PARTIAL_SLOTS - 1);
            struct partial *q = &st->partial[j];
            if (!q->idlen)
                return;
            weft_bytes qb = {q->id, q->idlen};
            size_t home = id_hash(&qb) & (PARTIAL_SLOTS - 1);
            /* q may move to i when i lies cyclically between home and j */
            if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
                st->partial[i] = *q;
                i = j;
                break;
            }
        }
    }
}

static void
ring_add(char ring[][2 * ID_MAX + 1], size_t *n, const weft_bytes *id)
{
    size_t len = id->len > ID_MAX ? ID_MAX : id->len;
    node_hex(id->p, len, ring[*n % RECENT]);
    (*n)++;
}

void
node_stats_trace(node *n, const weft_ps_trace *ev)
{
    struct node_stats *st = n->st;
    node_peer_stat *ps = NULL;
    switch (ev->type) {
    case WEFT_TRACE_NEW_SHARD: {
        weft_metric_inc(n->m.shards_new);
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->shards_new++;
        int found;
        struct partial *p = partial_slot(st, &ev->msg_id, &found);
        if (p && !found && st->npartial < PARTIAL_SLOTS / 2) {
            p->idlen = (uint8_t)(ev->msg_id.len > ID_MAX ? ID_MAX : ev->msg_id.len);
            memcpy(p->id, ev->msg_id.p, p->idlen);
            p->shards = 0;
            p->first_ns = ev->ts_ns;
            st->npartial++;
            found = 1;
        }
        if (p && found)
            p->shards++;
        break;
    }
    case WEFT_TRACE_DUPLICATE_SHARD:
        weft_metric_inc(n->m.shards_duplicate);
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->shards_duplicate++;
        break;
    case WEFT_TRACE_UNHELPFUL_SHARD:
        weft_metric_inc(n->m.shards_unhelpful);
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->shards_unhelpful++;
        break;
    case WEFT_TRACE_UNNECESSARY_SHARD:
        weft_metric_inc(n->m.shards_unnecessary);
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->shards_unnecessary++;
        break;
    case WEFT_TRACE_DELIVER_MESSAGE: {
        ring_add(st->decoded, &st->ndecoded, &ev->msg_id);
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->messages++;
        int found;
        struct partial *p = partial_slot(st, &ev->msg_id, &found);
        if (p && found) {
            weft_metric_observe(n->m.decode_latency, (double)(ev->ts_ns - p->first_ns) / 1e9);
            partial_remove(st, p);
            st->npartial--;
        }
        break;
    }
    case WEFT_TRACE_PUBLISH_MESSAGE:
    case WEFT_TRACE_DUPLICATE_MESSAGE:
        if (ev->type == WEFT_TRACE_PUBLISH_MESSAGE)
            ring_add(st->seen, &st->nseen, &ev->msg_id);
        break;
    case WEFT_TRACE_RECV_RPC:
        if ((ps = peer_stat(n, ev->peer, 0)))
            ps->rpcs_in++;
        break;
    default: break;
    }
    if (ev->type == WEFT_TRACE_NEW_SHARD || ev->type == WEFT_TRACE_DELIVER_MESSAGE) {
        /* Seen ids: everything that started or finished here. */
        if (ev->type == WEFT_TRACE_DELIVER_MESSAGE)
            ring_add(st->seen, &st->nseen, &ev->msg_id);
    }
}

/* ---- JSON for the API -------------------------------------------------------------------- */

static void
add_ring(cJSON *arr, char ring[][2 * ID_MAX + 1], size_t n)
{
    size_t k = n < RECENT ? n : RECENT;
    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(ring[(n - k + i) % RECENT]));
}

static cJSON *
peer_json(const node_peer_stat *p)
{
    char id[WEFT_PEER_ID_TEXT];
    if (weft_peer_id_to_text(&p->id, id, sizeof id) < 0)
        snprintf(id, sizeof id, "?");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "peer_id", id);
    cJSON_AddStringToObject(o, "address", p->addr);
    cJSON_AddStringToObject(o, "direction", p->outbound ? "outbound" : "inbound");
    cJSON_AddStringToObject(o, "connection", p->connected ? "connected" : "disconnected");
    cJSON_AddNumberToObject(o, "shards_new", (double)p->shards_new);
    cJSON_AddNumberToObject(o, "shards_duplicate", (double)p->shards_duplicate);
    cJSON_AddNumberToObject(o, "shards_unhelpful", (double)p->shards_unhelpful);
    cJSON_AddNumberToObject(o, "shards_unnecessary", (double)p->shards_unnecessary);
    cJSON_AddNumberToObject(o, "messages", (double)p->messages);
    cJSON_AddNumberToObject(o, "rpcs_in", (double)p->rpcs_in);
    return o;
}

char *
node_stats_snapshot_json(node *n)
{
    struct node_stats *st = n->st;
    cJSON *o = cJSON_CreateObject();
    add_ring(cJSON_AddArrayToObject(o, "seen_message_hashes"), st->seen, st->nseen);
    add_ring(cJSON_AddArrayToObject(o, "fully_decoded_message_hashes"), st->decoded, st->ndecoded);
    cJSON *bufs = cJSON_AddObjectToObject(o, "undecoded_shard_buffer_sizes");
    for (size_t i = 0; i < PARTIAL_SLOTS; i++) {
        const struct partial *p = &st->partial[i];
        if (!p->idlen)
            continue;
        char hex[2 * ID_MAX + 1];
        node_hex(p->id, p->idlen, hex);
        cJSON_AddNumberToObject(bufs, hex, p->shards);
    }
    size_t connected = 0, full = 0, partial = 0;
    cJSON *peers = cJSON_CreateArray();
    for (size_t i = 0; i < st->npeers; i++) {
        const node_peer_stat *p = &st->peers[i];
        if (!p->connected)
            continue;
        connected++;
        /* A peer that handed us whole messages or decodable shard sets
         * counts as full; one that sent only shards that did not finish a
         * message yet as partial. */
        if (p->messages)
            full++;
        else if (p->shards_new)
            partial++;
        cJSON_AddItemToArray(peers, peer_json(p));
    }
    cJSON_AddNumberToObject(o, "total_peer_count", (double)connected);
    cJSON_AddNumberToObject(o, "full_message_node_count", (double)full);
    cJSON_AddNumberToObject(o, "partial_message_node_count", (double)partial);
    cJSON_AddItemToObject(o, "connected_peers", peers);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *
node_stats_peers_json(node *n)
{
    struct node_stats *st = n->st;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "peers");
    size_t connected = 0;
    for (size_t i = 0; i < st->npeers; i++) {
        cJSON *pj = peer_json(&st->peers[i]);
        if (n->ps) {
            weft_ps_peer *pp = weft_ps_find_peer(n->ps, &st->peers[i].id);
            if (pp)
                cJSON_AddNumberToObject(pj, "score", weft_ps_peer_score(n->ps, pp));
        }
        cJSON_AddItemToArray(arr, pj);
        connected += st->peers[i].connected != 0;
    }
    cJSON_AddNumberToObject(o, "connected", (double)connected);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- scrape-time families ------------------------------------------------------------------ */

#define MAX_TOPICS 256

struct scrape {
    node *n;
    weft_ps_stats ps;
    weft_host_stats host;
    weft_loop_stats loop;
    size_t ntopics;
    char topics[MAX_TOPICS][TOPIC_TEXT];
    size_t topic_peers[MAX_TOPICS], mesh_peers[MAX_TOPICS];
    size_t memory, partial, bridge_depth;
    int ok;
};

static void
scrape_loop(void *arg)
{
    struct scrape *s = arg;
    node *n = s->n;
    if (!n->ps)
        return;
    weft_ps_get_stats(n->ps, &s->ps);
    weft_host_get_stats(n->host, &s->host);
    weft_loop_get_stats(n->loop, &s->loop);
    const char *names[MAX_TOPICS];
    s->ntopics = weft_ps_topics(n->ps, names, MAX_TOPICS);
    weft_ps_peer *tmp[1024];
    for (size_t i = 0; i < s->ntopics; i++) {
        snprintf(s->topics[i], TOPIC_TEXT, "%s", names[i]);
        s->topic_peers[i] = weft_ps_topic_peers(n->ps, names[i], tmp, 1024);
        s->mesh_peers[i] = weft_ps_mesh_peers(n->ps, names[i], tmp, 1024);
    }
    s->memory = weft_ps_memory(n->ps);
    s->partial = n->st->npartial;
    s->ok = 1;
}

static void
family(weft_metrics_out *out, const char *name, const char *type, const char *help)
{
    weft_metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Scrape-time families: router, host and loop counters, peers per topic. */
static void
node_stats_collect(void *user, weft_metrics_out *out)
{
    node *n = user;
    struct scrape *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->n = n;
    if (!n->bridge || weft_bridge_call(n->bridge, scrape_loop, s) < 0 || !s->ok) {
        free(s);
        return;
    }
    s->bridge_depth = weft_bridge_depth(n->bridge);
    family(out, "weft_node_connections", "gauge", "Open TCP connections of the P2P host");
    weft_metrics_printf(out, "weft_node_connections %llu\n",
                        (unsigned long long)s->loop.conns_open);
    family(out, "weft_node_bytes_total", "counter", "P2P bytes by direction");
    weft_metrics_printf(out, "weft_node_bytes_total{direction=\"in\"} %llu\n",
                        (unsigned long long)s->loop.bytes_in);
    weft_metrics_printf(out, "weft_node_bytes_total{direction=\"out\"} %llu\n",
                        (unsigned long long)s->loop.bytes_out);
    family(out, "weft_node_handshakes_total", "counter", "P2P handshakes by result");
    weft_metrics_printf(out, "weft_node_handshakes_total{result=\"ok\"} %llu\n",
                        (unsigned long long)s->host.handshakes_ok);
    weft_metrics_printf(out, "weft_node_handshakes_total{result=\"failed\"} %llu\n",
                        (unsigned long long)s->host.handshakes_failed);
    family(out, "weft_node_topic_peers", "gauge", "Peers subscribed to a topic we joined");
    for (size_t i = 0; i < s->ntopics; i++) {
        char esc[TOPIC_TEXT * 2];
        weft_metrics_escape(s->topics[i], esc, sizeof esc);
        weft_metrics_printf(out, "weft_node_topic_peers{topic=\"%s\"} %zu\n", esc,
                            s->topic_peers[i]);
    }
    family(out, "weft_node_topic_mesh_peers", "gauge", "Mesh peers of a topic");
    for (size_t i = 0; i < s->ntopics; i++) {
        char esc[TOPIC_TEXT * 2];
        weft_metrics_escape(s->topics[i], esc, sizeof esc);
        weft_metrics_printf(out, "weft_node_topic_mesh_peers{topic=\"%s\"} %zu\n", esc,
                            s->mesh_peers[i]);
    }
    const struct {
        const char *reason;
        uint64_t v;
    } drops[] = {
        {"bad_signature", s->ps.drop_bad_signature},
        {"unknown_topic", s->ps.drop_unknown_topic},
        {"too_big", s->ps.drop_too_big},
        {"graylisted", s->ps.drop_graylisted},
        {"self_origin", s->ps.drop_self_origin},
        {"bad_id", s->ps.drop_bad_id},
        {"seen_full", s->ps.drop_seen_full},
        {"rpc_malformed", s->ps.rpc_malformed},
        {"rpc_too_big", s->ps.rpc_too_big},
        {"rpc_send_failed", s->ps.rpc_send_failed},
        {"shard_invalid", s->ps.shards_invalid},
        {"shard_over_limit", s->ps.shards_over_limit},
        {"generation_polluted", s->ps.gens_polluted},
        {"generation_expired", s->ps.gens_expired},
        {"generation_evicted", s->ps.gens_evicted},
        {"shard_beyond_k", s->ps.shards_beyond_k},
        {"shard_unknown", s->ps.shards_unknown},
    };
    family(out, "weft_node_router_dropped_total", "counter",
           "Messages, RPCs and shards the mesh router dropped, by reason");
    for (size_t i = 0; i < sizeof drops / sizeof *drops; i++)
        weft_metrics_printf(out, "weft_node_router_dropped_total{reason=\"%s\"} %llu\n",
                            drops[i].reason, (unsigned long long)drops[i].v);
    family(out, "weft_node_rpc_total", "counter", "Mesh RPC frames by direction");
    weft_metrics_printf(out, "weft_node_rpc_total{direction=\"in\"} %llu\n",
                        (unsigned long long)s->ps.rpc_in);
    weft_metrics_printf(out, "weft_node_rpc_total{direction=\"out\"} %llu\n",
                        (unsigned long long)s->ps.rpc_out);
    family(out, "weft_node_shards_sent_total", "counter", "Coded shards sent");
    weft_metrics_printf(out, "weft_node_shards_sent_total %llu\n",
                        (unsigned long long)s->ps.shards_sent);
    family(out, "weft_node_generations_decoded_total", "counter", "Generations decoded");
    weft_metrics_printf(out, "weft_node_generations_decoded_total %llu\n",
                        (unsigned long long)s->ps.gens_decoded);
    family(out, "weft_node_generations_partial", "gauge", "Generations being decoded");
    weft_metrics_printf(out, "weft_node_generations_partial %zu\n", s->partial);
    family(out, "weft_node_router_memory_bytes", "gauge",
           "Message payload held by the router (caches, decoders)");
    weft_metrics_printf(out, "weft_node_router_memory_bytes %zu\n", s->memory);
    family(out, "weft_node_loop_queue_depth", "gauge", "Closures waiting for the P2P loop");
    weft_metrics_printf(out, "weft_node_loop_queue_depth %zu\n", s->bridge_depth);
    weft_sysinfo si;
    weft_sysinfo_sample(NULL, &si);
    family(out, "weft_node_resident_memory_bytes", "gauge", "Resident memory of the process");
    weft_metrics_printf(out, "weft_node_resident_memory_bytes %llu\n",
                        (unsigned long long)si.rss_bytes);
    family(out, "weft_node_cpu_seconds_total", "counter", "CPU time of the process");
    weft_metrics_printf(out, "weft_node_cpu_seconds_total %.3f\n", si.proc_cpu_seconds);
    char cluster[300];
    weft_metrics_escape(n->cfg.cluster_id, cluster, sizeof cluster);
    family(out, "weft_node_info", "gauge", "Identity of this node");
    weft_metrics_printf(out,
                        "weft_node_info{peer_id=\"%s\",mode=\"%s\",cluster_id=\"%s\","
                        "version=\"%s\"} 1\n",
                        n->peer_id, node_mode_name(n->cfg.mode), cluster, WEFT_VERSION);
    free(s);
}
