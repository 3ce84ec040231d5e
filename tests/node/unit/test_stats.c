/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's trace-derived state and metrics (node/src/stats.c): shard
 * counters per kind and per peer, generations being decoded (the table
 * behind "undecoded_shard_buffer_sizes" and the decode latency histogram,
 * including removal from a run of colliding ids), the rings of recent ids,
 * and the JSON of /api/v1/p2p-snapshot and /debug/peers.
 *
 * Trace events are built by hand. Peer records come from a real connection
 * between two hosts on the simulated network (no sockets).
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "weft/common.h"

#define SEC 1000000000LL
#define SLOTS 4096 /* stats.c's table of generations */

static node g_n;

static void
setup(void)
{
    memset(&g_n, 0, sizeof g_n);
    g_n.cfg.cluster_id = "test";
    cr_assert_eq(node_stats_init(&g_n), 0);
}

static void
teardown(void)
{
    node_stats_free(&g_n);
}

TestSuite(node_stats, .init = setup, .fini = teardown);

static void
trace(int type, const weft_peer_id *peer, const void *id, size_t idlen, int64_t ts)
{
    weft_ps_trace ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts_ns = ts;
    ev.peer = peer;
    ev.msg_id.p = id;
    ev.msg_id.len = idlen;
    ev.topic.p = (const uint8_t *)"t";
    ev.topic.len = 1;
    node_stats_trace(&g_n, &ev);
}

static void
trace_id(int type, const weft_peer_id *peer, const char *id, int64_t ts)
{
    trace(type, peer, id, strlen(id), ts);
}

static cJSON *
snapshot(void)
{
    char *s = node_stats_snapshot_json(&g_n);
    cr_assert_not_null(s);
    cJSON *o = cJSON_Parse(s);
    cr_assert_not_null(o, "not JSON: %s", s);
    free(s);
    return o;
}

static void
hex(const char *s, char *out)
{
    node_hex((const uint8_t *)s, strlen(s), out);
}

/* The shard count of id in the snapshot's undecoded buffers, or -1. */
static int
undecoded(cJSON *snap, const char *id)
{
    char h[200];
    hex(id, h);
    const cJSON *b = cJSON_GetObjectItem(snap, "undecoded_shard_buffer_sizes");
    cr_assert(cJSON_IsObject(b));
    const cJSON *v = cJSON_GetObjectItem(b, h);
    return v ? v->valueint : -1;
}

static int
in_array(const cJSON *arr, const char *id)
{
    char h[200];
    hex(id, h);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!strcmp(it->valuestring, h))
            return 1;
    }
    return 0;
}

/* ---- a real peer, on the simulated network -------------------------------------------- */

struct pair {
    weft_simnet *net;
    weft_host *a, *b;  /* a is "our" node's host */
    weft_peer *peer_b; /* a's view of b */
    int ups, downs;
};

static struct pair g_pair;

static void
on_peer_a(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h;
    struct pair *pr = user;
    node_stats_peer(&g_n, p, up);
    if (up) {
        pr->peer_b = p;
        pr->ups++;
    } else {
        pr->downs++;
    }
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p, (void)user;
    cr_assert_eq(status, 0, "simulated dial: %s", weft_strerror(status));
}

static weft_host *
host(weft_loop *l, uint8_t seed_byte, void (*on_peer)(weft_host *, weft_peer *, int, void *))
{
    weft_host_config cfg;
    weft_host_config_default(&cfg);
    uint8_t seed[32] = {seed_byte};
    weft_identity_from_seed(&cfg.identity, seed);
    cfg.on_peer = on_peer;
    cfg.user = &g_pair;
    int err = 0;
    weft_host *h = weft_host_new(l, &cfg, &err);
    cr_assert_not_null(h, "host: %s", weft_strerror(err));
    return h;
}

static void
spin_until(int *flag, int want)
{
    int64_t end = weft_simnet_now(g_pair.net) + 10 * SEC;
    while (*flag < want && weft_simnet_now(g_pair.net) < end)
        weft_simnet_run_until(g_pair.net, weft_simnet_now(g_pair.net) + SEC / 100);
    cr_assert_geq(*flag, want, "simulated connection did not come up / go down");
}

/* b dials a; a's on_peer records b in the node's stats. */
static void
connect_pair(void)
{
    memset(&g_pair, 0, sizeof g_pair);
    weft_link_params lp = {.latency_ns = 1000000};
    g_pair.net = weft_simnet_new(7, &lp);
    weft_loop *la = weft_simnet_add_node(g_pair.net, 0x0A000001);
    weft_loop *lb = weft_simnet_add_node(g_pair.net, 0x0A000002);
    g_pair.a = host(la, 1, on_peer_a);
    g_pair.b = host(lb, 2, NULL);
    weft_multiaddr ma, bound;
    cr_assert_eq(weft_ma_parse("/ip4/10.0.0.1/tcp/4001", &ma), 0);
    cr_assert_eq(weft_host_listen(g_pair.a, &ma, &bound), 0);
    cr_assert_eq(weft_host_dial(g_pair.b, &bound, dialed, NULL), 0);
    spin_until(&g_pair.ups, 1);
}

static void
free_pair(void)
{
    weft_host_free(g_pair.a);
    if (g_pair.b)
        weft_host_free(g_pair.b);
    weft_simnet_free(g_pair.net);
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(node_stats, shard_kinds_are_counted)
{
    weft_peer_id stranger;
    memset(&stranger, 0, sizeof stranger);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, "m1", 1);
    trace_id(WEFT_TRACE_NEW_SHARD, &stranger, "m1", 2);
    trace_id(WEFT_TRACE_DUPLICATE_SHARD, NULL, "m1", 3);
    trace_id(WEFT_TRACE_UNHELPFUL_SHARD, NULL, "m1", 4);
    trace_id(WEFT_TRACE_UNHELPFUL_SHARD, NULL, "m1", 5);
    trace_id(WEFT_TRACE_UNNECESSARY_SHARD, NULL, "m1", 6);
    cr_expect_eq(weft_metric_value(g_n.m.shards_new), 2);
    cr_expect_eq(weft_metric_value(g_n.m.shards_duplicate), 1);
    cr_expect_eq(weft_metric_value(g_n.m.shards_unhelpful), 2);
    cr_expect_eq(weft_metric_value(g_n.m.shards_unnecessary), 1);
    size_t np;
    node_stats_peers(&g_n, &np);
    cr_expect_eq(np, 0, "a trace created a peer record");
    /* and the registry renders them under one family */
    size_t len;
    char *text = weft_metrics_render(g_n.metrics, &len);
    cr_assert_not_null(text);
    cr_expect_not_null(strstr(text, "weft_node_shards_total{kind=\"new\"} 2"), "%s", text);
    cr_expect_not_null(strstr(text, "weft_node_shards_total{kind=\"unhelpful\"} 2"), "%s", text);
    free(text);
}

Test(node_stats, generation_lifecycle)
{
    const int64_t t0 = 5 * SEC;
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, "gen-a", t0);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, "gen-a", t0 + 1000);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, "gen-a", t0 + 2000);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, "gen-b", t0);
    cJSON *s = snapshot();
    cr_expect_eq(undecoded(s, "gen-a"), 3);
    cr_expect_eq(undecoded(s, "gen-b"), 1);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "fully_decoded_message_hashes")), 0);
    cJSON_Delete(s);
    cr_expect_eq(weft_metric_value(g_n.m.decode_latency), 0);

    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, "gen-a", t0 + 20 * 1000000); /* 20 ms */
    s = snapshot();
    cr_expect_eq(undecoded(s, "gen-a"), -1, "a decoded generation is still listed");
    cr_expect_eq(undecoded(s, "gen-b"), 1);
    cr_expect(in_array(cJSON_GetObjectItem(s, "fully_decoded_message_hashes"), "gen-a"));
    cr_expect(in_array(cJSON_GetObjectItem(s, "seen_message_hashes"), "gen-a"));
    cJSON_Delete(s);
    cr_expect_eq(weft_metric_value(g_n.m.decode_latency), 1, "one latency observed");
    size_t len;
    char *text = weft_metrics_render(g_n.metrics, &len);
    /* 20 ms lands in the 0.025 bucket, not the 0.01 one */
    cr_expect_not_null(strstr(text, "weft_node_decode_latency_seconds_bucket{le=\"0.01\"} 0"), "%s",
                       text);
    cr_expect_not_null(strstr(text, "weft_node_decode_latency_seconds_bucket{le=\"0.025\"} 1"),
                       "%s", text);
    free(text);

    /* a message delivered whole (no shards first) is decoded, without a latency */
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, "whole", t0);
    cr_expect_eq(weft_metric_value(g_n.m.decode_latency), 1);
    /* published ids are seen, not decoded */
    trace_id(WEFT_TRACE_PUBLISH_MESSAGE, NULL, "mine", t0);
    trace_id(WEFT_TRACE_DUPLICATE_MESSAGE, NULL, "dup", t0);
    s = snapshot();
    cr_expect(in_array(cJSON_GetObjectItem(s, "seen_message_hashes"), "mine"));
    cr_expect(!in_array(cJSON_GetObjectItem(s, "seen_message_hashes"), "dup"));
    cr_expect(!in_array(cJSON_GetObjectItem(s, "fully_decoded_message_hashes"), "mine"));
    cr_expect(in_array(cJSON_GetObjectItem(s, "fully_decoded_message_hashes"), "whole"));
    cJSON_Delete(s);
}

/* FNV-1a as stats.c hashes ids: to build ids that share a table slot. */
static uint32_t
fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* k ids "c-<n>" whose home slot is `slot`. */
static void
colliding(uint32_t slot, char ids[][16], size_t k)
{
    size_t got = 0;
    for (unsigned n = 0; got < k; n++) {
        char t[16];
        snprintf(t, sizeof t, "c-%u", n);
        if ((fnv1a((const uint8_t *)t, strlen(t)) & (SLOTS - 1)) == slot)
            snprintf(ids[got++], 16, "%s", t);
    }
}

static void
removal_keeps_the_run(uint32_t slot)
{
    char ids[4][16];
    colliding(slot, ids, 4);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k <= i; k++) /* ids[i] gets i + 1 shards */
            trace_id(WEFT_TRACE_NEW_SHARD, NULL, ids[i], 100);
    /* remove the head of the run, then one in the middle */
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, ids[0], 200);
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, ids[2], 200);
    cJSON *s = snapshot();
    cr_expect_eq(undecoded(s, ids[0]), -1);
    cr_expect_eq(undecoded(s, ids[1]), 2, "%s lost after a removal in its run", ids[1]);
    cr_expect_eq(undecoded(s, ids[2]), -1);
    cr_expect_eq(undecoded(s, ids[3]), 4, "%s lost after a removal in its run", ids[3]);
    cJSON_Delete(s);
    /* the ones left are still found: their decode is timed */
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, ids[3], 300);
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, ids[1], 300);
    cr_expect_eq(weft_metric_value(g_n.m.decode_latency), 4);
    s = snapshot();
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "undecoded_shard_buffer_sizes")), 0);
    cJSON_Delete(s);
}

Test(node_stats, removal_from_a_run_of_colliding_ids)
{
    removal_keeps_the_run(1234);
}

Test(node_stats, removal_from_a_run_that_wraps_around)
{
    removal_keeps_the_run(SLOTS - 2); /* the run continues at slots 0, 1 */
}

Test(node_stats, removal_before_the_wrap_leaves_ids_at_home)
{
    /* last slot: a; slots 0 and 1: two ids whose home is slot 0. Removing
     * a must not pull them back across the wrap, before their home. */
    char a[1][16], z[2][16];
    colliding(SLOTS - 1, a, 1);
    colliding(0, z, 2);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, a[0], 1);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, z[0], 1);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, z[1], 1);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, z[1], 1);
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, NULL, a[0], 2);
    trace_id(WEFT_TRACE_NEW_SHARD, NULL, z[0], 3); /* found: a second shard, not a new entry */
    cJSON *s = snapshot();
    cr_expect_eq(undecoded(s, z[0]), 2, "%s moved away from its home slot", z[0]);
    cr_expect_eq(undecoded(s, z[1]), 2);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "undecoded_shard_buffer_sizes")), 2);
    cJSON_Delete(s);
}

Test(node_stats, recent_rings_keep_the_last_128_in_order)
{
    for (int i = 0; i < 130; i++) {
        char id[16];
        snprintf(id, sizeof id, "p-%03d", i);
        trace_id(WEFT_TRACE_PUBLISH_MESSAGE, NULL, id, i);
    }
    cJSON *s = snapshot();
    const cJSON *seen = cJSON_GetObjectItem(s, "seen_message_hashes");
    cr_assert_eq(cJSON_GetArraySize(seen), 128);
    char h[64];
    hex("p-002", h);
    cr_expect_str_eq(cJSON_GetArrayItem(seen, 0)->valuestring, h, "oldest kept first");
    hex("p-129", h);
    cr_expect_str_eq(cJSON_GetArrayItem(seen, 127)->valuestring, h);
    cr_expect(!in_array(seen, "p-001"));
    cJSON_Delete(s);
}

Test(node_stats, long_ids_are_cut_to_64_bytes)
{
    uint8_t id[100];
    for (int i = 0; i < 100; i++)
        id[i] = (uint8_t)i;
    trace(WEFT_TRACE_NEW_SHARD, NULL, id, sizeof id, 1);
    trace(WEFT_TRACE_PUBLISH_MESSAGE, NULL, id, sizeof id, 1);
    cJSON *s = snapshot();
    char h[2 * 64 + 1];
    node_hex(id, 64, h);
    const cJSON *b = cJSON_GetObjectItem(s, "undecoded_shard_buffer_sizes");
    cr_expect_not_null(cJSON_GetObjectItem(b, h));
    cr_expect_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItem(s, "seen_message_hashes"), 0)->valuestring, h);
    cJSON_Delete(s);
}

Test(node_stats, peers_and_their_counters)
{
    connect_pair();
    const weft_peer_id bid = *weft_host_peer_id(g_pair.b); /* b's host goes below */
    const weft_peer_id *b = &bid;
    const node_peer_stat *ps = node_stats_find(&g_n, b);
    cr_assert_not_null(ps, "on_peer made no record");
    cr_expect_eq(ps->connected, 1);
    cr_expect_eq(ps->outbound, 0, "b dialled us");
    cr_expect_neq(ps->addr[0], 0);
    cr_expect_gt(ps->since_ns, 0);

    trace_id(WEFT_TRACE_NEW_SHARD, b, "g1", 10);
    trace_id(WEFT_TRACE_NEW_SHARD, b, "g1", 11);
    trace_id(WEFT_TRACE_DUPLICATE_SHARD, b, "g1", 12);
    trace_id(WEFT_TRACE_UNHELPFUL_SHARD, b, "g1", 13);
    trace_id(WEFT_TRACE_UNNECESSARY_SHARD, b, "g1", 14);
    trace_id(WEFT_TRACE_RECV_RPC, b, "", 15);
    trace_id(WEFT_TRACE_RECV_RPC, b, "", 16);
    cr_expect_eq(ps->shards_new, 2);
    cr_expect_eq(ps->shards_duplicate, 1);
    cr_expect_eq(ps->shards_unhelpful, 1);
    cr_expect_eq(ps->shards_unnecessary, 1);
    cr_expect_eq(ps->rpcs_in, 2);
    cr_expect_eq(ps->messages, 0);

    /* shards only: a partial node */
    cJSON *s = snapshot();
    cr_expect_eq(cJSON_GetObjectItem(s, "total_peer_count")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(s, "partial_message_node_count")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(s, "full_message_node_count")->valueint, 0);
    const cJSON *cp = cJSON_GetObjectItem(s, "connected_peers");
    cr_assert_eq(cJSON_GetArraySize(cp), 1);
    const cJSON *p0 = cJSON_GetArrayItem(cp, 0);
    char text[WEFT_PEER_ID_TEXT];
    cr_assert_gt(weft_peer_id_to_text(b, text, sizeof text), 0);
    cr_expect_str_eq(cJSON_GetObjectItem(p0, "peer_id")->valuestring, text);
    cr_expect_str_eq(cJSON_GetObjectItem(p0, "direction")->valuestring, "inbound");
    cr_expect_str_eq(cJSON_GetObjectItem(p0, "connection")->valuestring, "connected");
    cr_expect_eq(cJSON_GetObjectItem(p0, "shards_new")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(p0, "rpcs_in")->valueint, 2);
    cJSON_Delete(s);

    /* a whole message from it: a full node */
    trace_id(WEFT_TRACE_DELIVER_MESSAGE, b, "g1", 20);
    cr_expect_eq(ps->messages, 1);
    s = snapshot();
    cr_expect_eq(cJSON_GetObjectItem(s, "full_message_node_count")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(s, "partial_message_node_count")->valueint, 0);
    cJSON_Delete(s);

    /* gone: kept as disconnected, out of the snapshot, still in /debug/peers */
    weft_host_free(g_pair.b);
    g_pair.b = NULL;
    spin_until(&g_pair.downs, 1);
    size_t np;
    const node_peer_stat *all = node_stats_peers(&g_n, &np);
    cr_assert_eq(np, 1);
    cr_expect_eq(all[0].connected, 0);
    cr_expect_eq(all[0].shards_new, 2, "counters survive the disconnect");
    s = snapshot();
    cr_expect_eq(cJSON_GetObjectItem(s, "total_peer_count")->valueint, 0);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "connected_peers")), 0);
    cJSON_Delete(s);
    char *pj = node_stats_peers_json(&g_n);
    cJSON *o = cJSON_Parse(pj);
    cr_assert_not_null(o, "%s", pj);
    cr_expect_eq(cJSON_GetObjectItem(o, "connected")->valueint, 0);
    const cJSON *arr = cJSON_GetObjectItem(o, "peers");
    cr_assert_eq(cJSON_GetArraySize(arr), 1);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "connection")->valuestring,
                     "disconnected");
    cJSON_Delete(o);
    free(pj);
    free_pair();
}
