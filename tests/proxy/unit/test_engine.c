/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's engine (proxy/src/engine.c): subscriptions, threshold
 * delivery (a client with threshold t gets a message once max(1, ceil(t*N))
 * of the N nodes delivered it), the counted fallback after WEFT_FALLBACK_MS,
 * de-duplication of the nodes' copies, and the entries' one-minute memory.
 *
 * The engine's collaborators are replaced at link time by recorders defined
 * here: px_grpc_sink_send (front_grpc.c), px_pool_subscribe (pool.c) and
 * weft_ws_broadcast_text and weft_ws_send_text (svc_http). Their objects are then never pulled
 * from the static libraries, so no server, socket or thread is involved.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/encoding.h"
#include "weft/svc_ws.h"

/* ---- recorders standing in for the engine's collaborators ----------------------------- */

#define MAX_REC 256

struct grpc_rec {
    void *call;
    char client[PX_ID_MAX + 1], topic[PX_TOPIC_MAX + 1], msgid[PX_MSGID_MAX];
    uint8_t payload[256];
    size_t len;
};

static struct grpc_rec g_grpc[MAX_REC];
static size_t g_ngrpc;
static int g_grpc_rc; /* what the fake sink answers */
static char g_pool_topics[MAX_REC][PX_TOPIC_MAX + 1];
static size_t g_npool;
static size_t g_nbroadcast, g_ws_conns;
static weft_ws_conn *g_ws_last[16];
static size_t g_ws_last_n;
static char g_ws_json[1024];

int
px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload, size_t len)
{
    cr_assert_lt(g_ngrpc, MAX_REC);
    struct grpc_rec *r = &g_grpc[g_ngrpc++];
    r->call = call;
    snprintf(r->client, sizeof r->client, "%s", client);
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    snprintf(r->msgid, sizeof r->msgid, "%s", msgid);
    cr_assert_leq(len, sizeof r->payload);
    memcpy(r->payload, payload, len);
    r->len = len;
    return g_grpc_rc;
}

static int g_pool_full; /* the pool refuses new topics, as at PX_MAX_TOPICS */

int
px_pool_subscribe(px_pool *pl, const char *topic)
{
    cr_assert_not_null(pl);
    cr_assert_lt(g_npool, MAX_REC);
    for (size_t i = 0; i < g_npool; i++)
        if (!strcmp(g_pool_topics[i], topic))
            return 0;
    if (g_pool_full)
        return WEFT_ELIMIT;
    snprintf(g_pool_topics[g_npool++], PX_TOPIC_MAX + 1, "%s", topic);
    return 0;
}

int
weft_ws_broadcast_text(weft_http_server *s, weft_ws_conn *const *conns, size_t n, const char *data,
                       size_t len)
{
    cr_assert_not_null(s);
    g_nbroadcast++;
    g_ws_conns += n;
    g_ws_last_n = n < 16 ? n : 16;
    if (g_ws_last_n > 0)
        memcpy(g_ws_last, conns, g_ws_last_n * sizeof *conns);
    snprintf(g_ws_json, sizeof g_ws_json, "%.*s", (int)len, data);
    return (int)n;
}

static size_t g_nsent;
static weft_ws_conn *g_sent_conn;
static char g_sent_json[1024];

int
weft_ws_send_text(weft_ws_conn *c, const char *data, size_t len)
{
    g_nsent++;
    g_sent_conn = c;
    snprintf(g_sent_json, sizeof g_sent_json, "%.*s", (int)len, data);
    return 0;
}

/* ---- the proxy around the engine ---------------------------------------------------------- */

static proxy g_p;
static px_engine *g_e;
static int g_pool_token, g_http_token;

static void
start(size_t nnodes, long long fallback_ms)
{
    memset(&g_p, 0, sizeof g_p);
    g_p.cfg.nnodes = nnodes;
    g_p.cfg.fallback_ms = fallback_ms;
    g_p.pool = (px_pool *)&g_pool_token;
    g_p.http = (weft_http_server *)&g_http_token;
    g_p.metrics = weft_metrics_new();
    cr_assert_not_null(g_p.metrics);
    px_metrics *m = &g_p.m;
    m->fallback = weft_metrics_counter(g_p.metrics, "fallback_total", "h", NULL);
    m->deliveries = weft_metrics_counter(g_p.metrics, "deliveries_total", "h", NULL);
    m->dropped_slow = weft_metrics_counter(g_p.metrics, "dropped_total", "h", NULL);
    m->dropped_no_stream = weft_metrics_counter(g_p.metrics, "dropped_no_stream_total", "h", NULL);
    cr_assert(m->fallback && m->deliveries && m->dropped_slow && m->dropped_no_stream);
    g_e = g_p.engine = px_engine_new(&g_p);
    cr_assert_not_null(g_e);
    g_ngrpc = g_npool = g_nbroadcast = g_ws_conns = g_nsent = 0;
    g_grpc_rc = g_pool_full = 0;
}

static void
stop(void)
{
    px_engine_free(g_e);
    g_e = NULL;
    weft_metrics_free(g_p.metrics);
}

TestSuite(proxy_engine, .fini = stop);

/* A node's delivery JSON: payload base64 in "message". */
static void
deliver(int node, const char *id, const char *topic, const char *payload)
{
    char b64[512], json[1024];
    cr_assert_geq(weft_base64_encode((const uint8_t *)payload, strlen(payload), b64, sizeof b64),
                  0);
    int n = snprintf(json, sizeof json,
                     "{\"source_node_id\":\"12D3KooWsrc\",\"topic\":\"%s\",\"message_id\":\"%s\","
                     "\"message\":\"%s\"}",
                     topic, id, b64);
    px_engine_on_delivery(g_e, node, json, (size_t)n);
}

static void
deliver_raw(int node, const char *json)
{
    px_engine_on_delivery(g_e, node, json, strlen(json));
}

/* Deliveries recorded for client so far. */
static size_t
got(const char *client)
{
    size_t k = 0;
    for (size_t i = 0; i < g_ngrpc; i++)
        k += !strcmp(g_grpc[i].client, client);
    return k;
}

/* A gRPC sink per client (the handle is any distinct pointer). */
static int g_sinks[64];

static void
client(const char *id, const char *topic, double threshold, int sink)
{
    cr_assert_eq(px_engine_subscribe(g_e, id, topic, threshold, 0), 0);
    cr_assert_eq(px_engine_attach(g_e, id, PX_SINK_GRPC, &g_sinks[sink]), 0);
}

static double
metric(weft_metric *m)
{
    return weft_metric_value(m);
}

Test(proxy_engine, subscribe_reaches_the_pool_and_lists_topics)
{
    start(2, 2000);
    char none[1][PX_TOPIC_MAX + 1];
    cr_expect_eq(px_engine_topics(g_e, "c1", none, 1), 0, "c1 holds no topic yet");
    cr_assert_eq(px_engine_subscribe(g_e, "c1", "t1", 0.5, 0), 0);
    cr_assert_eq(px_engine_subscribe(g_e, "c1", "t2", 0.5, 0), 0);
    cr_assert_eq(px_engine_subscribe(g_e, "c1", "t1", 0.9, 0), 0); /* again: no new topic */
    char topics[8][PX_TOPIC_MAX + 1];
    cr_assert_eq(px_engine_topics(g_e, "c1", topics, 8), 2);
    cr_expect_str_eq(topics[0], "t1");
    cr_expect_str_eq(topics[1], "t2");
    cr_expect_eq(px_engine_topics(g_e, "c1", topics, 1), 1, "max is respected");
    cr_expect_eq(px_engine_topics(g_e, "nobody", topics, 8), 0);
    /* each topic new to a client asks the pool (which de-duplicates) */
    cr_assert_eq(g_npool, 2);
    cr_expect_str_eq(g_pool_topics[0], "t1");
    cr_expect_str_eq(g_pool_topics[1], "t2");
}

Test(proxy_engine, subscription_limits)
{
    start(2, 2000);
    char t[32];
    for (int i = 0; i < 64; i++) {
        snprintf(t, sizeof t, "topic-%d", i);
        cr_assert_eq(px_engine_subscribe(g_e, "c1", t, 0.5, 0), 0);
    }
    size_t before = g_npool;
    cr_expect_eq(px_engine_subscribe(g_e, "c1", "one-too-many", 0.5, 0), WEFT_ELIMIT);
    cr_expect_eq(g_npool, before, "a refused subscribe reached the pool");
    cr_expect_eq(px_engine_subscribe(g_e, "c1", "topic-3", 0.7, 0), 0, "a known topic is fine");
    /* client ids longer than PX_ID_MAX are refused */
    char id[PX_ID_MAX + 2];
    memset(id, 'i', PX_ID_MAX + 1);
    id[PX_ID_MAX + 1] = 0;
    cr_expect_eq(px_engine_subscribe(g_e, id, "t", 0.5, 0), WEFT_ELIMIT);
    cr_expect_eq(px_engine_attach(g_e, id, PX_SINK_GRPC, &g_sinks[0]), WEFT_ELIMIT);
    id[PX_ID_MAX] = 0;
    cr_expect_eq(px_engine_subscribe(g_e, id, "t", 0.5, 0), 0);
    /* at most 8 sinks per client */
    for (int i = 0; i < 8; i++)
        cr_assert_eq(px_engine_attach(g_e, "c2", PX_SINK_GRPC, &g_sinks[i]), 0);
    cr_expect_eq(px_engine_attach(g_e, "c2", PX_SINK_GRPC, &g_sinks[8]), WEFT_ELIMIT);
}

/* A topic the nodes will not carry is refused to the client, not answered
 * "subscribed": before, the pool dropped it silently past the node's cap. */
Test(proxy_engine, a_topic_the_pool_refuses_is_refused_to_the_client)
{
    start(2, 2000);
    cr_assert_eq(px_engine_subscribe(g_e, "c1", "carried", 0.5, 0), 0);
    g_pool_full = 1;
    cr_expect_eq(px_engine_subscribe(g_e, "c2", "one-more", 0.5, 0), WEFT_ELIMIT);
    cr_expect_eq(px_engine_subscribe(g_e, "c2", "carried", 0.5, 0), 0, "a carried topic is fine");
    char topics[4][PX_TOPIC_MAX + 1];
    cr_assert_eq(px_engine_topics(g_e, "c2", topics, 4), 1);
    cr_expect_str_eq(topics[0], "carried");
}

Test(proxy_engine, threshold_delivery_once_per_client)
{
    start(4, 60000);
    client("low", "t", 0.1, 0);  /* need 1 */
    client("half", "t", 0.5, 1); /* need 2 */
    client("all", "t", 1.0, 2);  /* need 4 */
    client("other", "u", 0.1, 3);

    deliver(0, "m1", "t", "hello");
    cr_expect_eq(got("low"), 1);
    cr_expect_eq(got("half"), 0);
    deliver(0, "m1", "t", "hello"); /* the same node again counts once */
    cr_expect_eq(got("half"), 0, "a node's second copy was counted");
    deliver(1, "m1", "t", "hello");
    cr_expect_eq(got("half"), 1);
    cr_expect_eq(got("low"), 1, "delivered twice");
    deliver(2, "m1", "t", "hello");
    cr_expect_eq(got("all"), 0);
    deliver(3, "m1", "t", "hello");
    cr_expect_eq(got("all"), 1);
    deliver(3, "m1", "t", "hello");
    cr_expect_eq(g_ngrpc, 3, "exactly one delivery per client");
    cr_expect_eq(got("other"), 0, "another topic's subscriber got it");
    cr_expect_eq(metric(g_p.m.deliveries), 3);
    cr_expect_eq(metric(g_p.m.fallback), 0);

    /* what the sink got: the decoded payload, the id and topic */
    const struct grpc_rec *r = &g_grpc[0];
    cr_expect_str_eq(r->client, "low");
    cr_expect_eq(r->call, &g_sinks[0]);
    cr_expect_str_eq(r->topic, "t");
    cr_expect_str_eq(r->msgid, "m1");
    cr_expect_eq(r->len, 5);
    cr_expect_eq(memcmp(r->payload, "hello", 5), 0);
}

Test(proxy_engine, need_rounds_up_without_float_noise)
{
    start(25, 60000);
    client("c", "t", 0.28, 0); /* 0.28 * 25 = 7.000000000000001: need 7, not 8 */
    for (int i = 0; i < 6; i++)
        deliver(i, "m", "t", "x");
    cr_expect_eq(got("c"), 0);
    deliver(6, "m", "t", "x");
    cr_expect_eq(got("c"), 1, "need of 0.28 x 25 is 7");
    stop();
    start(3, 60000);
    client("c", "t", 0.5, 0); /* ceil(1.5) = 2 */
    deliver(0, "m", "t", "x");
    cr_expect_eq(got("c"), 0);
    deliver(1, "m", "t", "x");
    cr_expect_eq(got("c"), 1);
}

Test(proxy_engine, keep_leaves_the_threshold)
{
    start(4, 60000);
    client("c", "t", 1.0, 0);
    /* a gRPC stream naming the topic again keeps the REST threshold */
    cr_assert_eq(px_engine_subscribe(g_e, "c", "t", 0.1, 1), 0);
    deliver(0, "m1", "t", "x");
    cr_expect_eq(got("c"), 0, "keep=1 changed the threshold");
    /* a new REST subscribe replaces it */
    cr_assert_eq(px_engine_subscribe(g_e, "c", "t", 0.1, 0), 0);
    deliver(0, "m2", "t", "x");
    cr_expect_eq(got("c"), 1);
}

Test(proxy_engine, fallback_delivers_late_and_counts)
{
    start(4, 2000);
    client("fast", "t", 0.25, 0); /* need 1 */
    client("slow", "t", 1.0, 1);  /* need 4 */
    int64_t t0 = weft_mono_ms();
    deliver(0, "m", "t", "payload");
    deliver(1, "m", "t", "payload");
    cr_expect_eq(got("fast"), 1);
    px_engine_tick(g_e, t0 - 1); /* well before the timeout */
    cr_expect_eq(got("slow"), 0);
    cr_expect_eq(metric(g_p.m.fallback), 0);
    px_engine_tick(g_e, weft_mono_ms() + 2000);
    cr_expect_eq(got("slow"), 1, "no fallback delivery");
    cr_expect_eq(got("fast"), 1, "the fallback repeated a delivery");
    cr_expect_eq(metric(g_p.m.fallback), 1, "fallback deliveries are counted per client");
    const struct grpc_rec *r = &g_grpc[g_ngrpc - 1];
    cr_expect_eq(r->len, 7);
    cr_expect_eq(memcmp(r->payload, "payload", 7), 0);
    /* after the fallback the message is done: late copies change nothing */
    deliver(2, "m", "t", "payload");
    deliver(3, "m", "t", "payload");
    px_engine_tick(g_e, weft_mono_ms() + 4000);
    cr_expect_eq(g_ngrpc, 2);
    cr_expect_eq(metric(g_p.m.fallback), 1);
}

Test(proxy_engine, fallback_counts_nothing_when_all_were_served)
{
    start(4, 2000);
    client("a", "t", 0.25, 0);
    deliver(0, "m", "t", "x");
    px_engine_tick(g_e, weft_mono_ms() + 2500);
    cr_expect_eq(g_ngrpc, 1);
    cr_expect_eq(metric(g_p.m.fallback), 0, "a fallback with nobody to serve was counted");
}

Test(proxy_engine, entries_remember_a_minute)
{
    start(2, 2000);
    client("c", "t", 0.5, 0);
    deliver(0, "m", "t", "x");
    deliver(1, "m", "t", "x");
    cr_expect_eq(got("c"), 1);
    /* a late copy within the minute is a duplicate */
    px_engine_tick(g_e, weft_mono_ms() + 30000);
    deliver(0, "m", "t", "x");
    cr_expect_eq(got("c"), 1, "a duplicate was delivered");
    /* a minute on the entry is gone, and the id is new again */
    px_engine_tick(g_e, weft_mono_ms() + 60001);
    deliver(0, "m", "t", "x");
    cr_expect_eq(got("c"), 2, "the entry outlived its minute");
}

Test(proxy_engine, websocket_sinks_share_one_broadcast)
{
    start(1, 2000);
    int ws1, ws2;
    cr_assert_eq(px_engine_subscribe(g_e, "w1", "t", 0.1, 0), 0);
    cr_assert_eq(px_engine_subscribe(g_e, "w2", "t", 0.1, 0), 0);
    cr_assert_eq(px_engine_attach(g_e, "w1", PX_SINK_WS, &ws1), 0);
    cr_assert_eq(px_engine_attach(g_e, "w2", PX_SINK_WS, &ws2), 0);
    client("g", "t", 0.1, 0);
    const char *json = "{\"topic\":\"t\",\"message_id\":\"abc\",\"message\":\"aGk=\"}";
    deliver_raw(0, json);
    cr_expect_eq(g_nbroadcast, 1, "one broadcast for all WebSocket sinks");
    cr_expect_eq(g_ws_last_n, 2);
    cr_expect((g_ws_last[0] == (weft_ws_conn *)&ws1 && g_ws_last[1] == (weft_ws_conn *)&ws2) ||
                  (g_ws_last[0] == (weft_ws_conn *)&ws2 && g_ws_last[1] == (weft_ws_conn *)&ws1),
              "the broadcast went to other connections");
    cr_expect_str_eq(g_ws_json, json, "WebSocket clients get the node's JSON as it came");
    cr_expect_eq(got("g"), 1);
    cr_expect_eq(g_grpc[0].len, 2);
    cr_expect_eq(memcmp(g_grpc[0].payload, "hi", 2), 0);
    cr_expect_eq(metric(g_p.m.deliveries), 3, "2 WebSocket + 1 gRPC");
}

Test(proxy_engine, slow_grpc_sink_is_counted)
{
    start(1, 2000);
    client("c", "t", 0.1, 0);
    g_grpc_rc = WEFT_ELIMIT;
    deliver(0, "m1", "t", "x");
    cr_expect_eq(g_ngrpc, 1);
    cr_expect_eq(metric(g_p.m.dropped_slow), 1);
    cr_expect_eq(metric(g_p.m.deliveries), 0);
    g_grpc_rc = WEFT_ECLOSED; /* a closed sink is neither */
    deliver(0, "m2", "t", "x");
    cr_expect_eq(metric(g_p.m.dropped_slow), 1);
    cr_expect_eq(metric(g_p.m.deliveries), 0);
}

Test(proxy_engine, detach_stops_deliveries)
{
    start(1, 2000);
    client("c", "t", 0.1, 0);
    cr_assert_eq(px_engine_attach(g_e, "c", PX_SINK_GRPC, &g_sinks[1]), 0);
    deliver(0, "m1", "t", "x");
    cr_expect_eq(got("c"), 2, "each sink of the client gets it");
    px_engine_detach(g_e, "c", PX_SINK_GRPC, &g_sinks[0]);
    px_engine_detach(g_e, "c", PX_SINK_WS, &g_sinks[1]); /* wrong kind: nothing */
    deliver(0, "m2", "t", "x");
    cr_expect_eq(got("c"), 3);
    cr_expect_eq(g_grpc[2].call, &g_sinks[1]);
    px_engine_detach(g_e, "c", PX_SINK_GRPC, &g_sinks[1]);
    deliver(0, "m3", "t", "x");
    cr_expect_eq(got("c"), 3);
    char kept[1][PX_TOPIC_MAX + 1];
    cr_expect_eq(px_engine_topics(g_e, "c", kept, 1), 1, "the client keeps its topic");
}

Test(proxy_engine, undecodable_deliveries_are_ignored)
{
    start(1, 2000);
    client("c", "t", 0.1, 0);
    deliver_raw(0, "not json");
    deliver_raw(0, "{\"topic\":\"t\"}");
    deliver_raw(0, "{\"message_id\":\"m\"}");
    deliver_raw(0, "{\"topic\":\"t\",\"message_id\":7}");
    char json[700];
    char topic[PX_TOPIC_MAX + 2];
    memset(topic, 't', PX_TOPIC_MAX + 1);
    topic[PX_TOPIC_MAX + 1] = 0;
    snprintf(json, sizeof json, "{\"topic\":\"%s\",\"message_id\":\"m\"}", topic);
    deliver_raw(0, json);
    char id[PX_MSGID_MAX + 1];
    memset(id, 'a', PX_MSGID_MAX);
    id[PX_MSGID_MAX] = 0;
    snprintf(json, sizeof json, "{\"topic\":\"t\",\"message_id\":\"%s\"}", id);
    deliver_raw(0, json);
    cr_expect_eq(g_ngrpc, 0);
    cr_expect_eq(g_nbroadcast, 0);
    /* a message that is not base64: no payload for gRPC, the JSON still goes to ws */
    int ws;
    cr_assert_eq(px_engine_attach(g_e, "c", PX_SINK_WS, &ws), 0);
    deliver_raw(0, "{\"topic\":\"t\",\"message_id\":\"bad\",\"message\":\"%%%\"}");
    cr_expect_eq(g_ngrpc, 0, "an undecodable payload went to a gRPC sink");
    cr_expect_eq(g_nbroadcast, 1);
}

/* The guides' clients subscribe over REST, open their stream and publish at
 * once: what arrives before the stream is attached is held for it. */
Test(proxy_engine, deliveries_before_the_stream_attaches_are_held)
{
    start(1, 2000);
    cr_assert_eq(px_engine_subscribe(g_e, "c", "t", 0.1, 0), 0);
    deliver(0, "m1", "t", "one");
    deliver(0, "m2", "t", "two");
    cr_expect_eq(g_ngrpc, 0);
    cr_assert_eq(px_engine_attach(g_e, "c", PX_SINK_GRPC, &g_sinks[0]), 0);
    cr_assert_eq(got("c"), 2, "the held deliveries reach the stream when it attaches");
    cr_expect_str_eq(g_grpc[0].msgid, "m1", "oldest first");
    cr_expect_str_eq(g_grpc[1].msgid, "m2");
    cr_expect_str_eq(g_grpc[1].topic, "t");
    cr_expect_eq(g_grpc[1].len, 3);
    cr_expect_eq(memcmp(g_grpc[1].payload, "two", 3), 0);
    cr_expect_eq(metric(g_p.m.deliveries), 2);
    deliver(0, "m3", "t", "three");
    cr_expect_eq(got("c"), 3, "nothing held twice, later ones go straight through");

    /* a WebSocket gets the node's JSON as it came */
    int ws;
    cr_assert_eq(px_engine_subscribe(g_e, "w", "t", 0.1, 0), 0);
    deliver_raw(0, "{\"topic\":\"t\",\"message_id\":\"m4\",\"message\":\"aGk=\"}");
    cr_expect_eq(g_nsent, 0);
    cr_assert_eq(px_engine_attach(g_e, "w", PX_SINK_WS, &ws), 0);
    cr_expect_eq(g_nsent, 1);
    cr_expect_eq(g_sent_conn, (weft_ws_conn *)&ws);
    cr_expect_str_eq(g_sent_json, "{\"topic\":\"t\",\"message_id\":\"m4\",\"message\":\"aGk=\"}");
    cr_expect_eq(metric(g_p.m.dropped_no_stream), 0);
}

Test(proxy_engine, held_deliveries_are_bounded_and_expire_counted)
{
    start(1, 2000);
    cr_assert_eq(px_engine_subscribe(g_e, "c", "t", 0.1, 0), 0);
    char id[16];
    for (int i = 0; i < 70; i++) {
        snprintf(id, sizeof id, "m%d", i);
        deliver(0, id, "t", "x");
    }
    cr_expect_eq(metric(g_p.m.dropped_no_stream), 6, "64 held per client, the rest counted");
    cr_assert_eq(px_engine_attach(g_e, "c", PX_SINK_GRPC, &g_sinks[0]), 0);
    cr_expect_eq(got("c"), 64);
    cr_expect_str_eq(g_grpc[63].msgid, "m63", "the first 64 were kept, in order");

    /* held past their time: dropped and counted, never delivered late */
    cr_assert_eq(px_engine_subscribe(g_e, "d", "t", 0.1, 0), 0);
    deliver(0, "late1", "t", "x");
    deliver(0, "late2", "t", "x");
    px_engine_tick(g_e, weft_mono_ms() + 11000);
    cr_expect_eq(metric(g_p.m.dropped_no_stream), 8);
    cr_assert_eq(px_engine_attach(g_e, "d", PX_SINK_GRPC, &g_sinks[1]), 0);
    cr_expect_eq(got("d"), 0);
}

/* Deliveries visit the topic's own subscriber list: clients leaving it from
 * the front, the middle and the end, and clients forgotten when idle, leave
 * exactly the others there. */
Test(proxy_engine, topic_lists_follow_subscribe_unsubscribe_and_expiry)
{
    start(1, 2000);
    char id[8];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "c%d", i);
        client(id, "t", 0.1, i);
        if (i % 2 == 0)
            cr_assert_eq(px_engine_subscribe(g_e, id, "u", 0.1, 0), 0);
    }
    cr_assert_eq(px_engine_unsubscribe(g_e, "c0", "t"), 0);
    cr_assert_eq(px_engine_unsubscribe(g_e, "c9", "t"), 0);
    cr_assert_eq(px_engine_unsubscribe(g_e, "c5", "t"), 0);
    cr_assert_eq(px_engine_unsubscribe(g_e, "c5", "t"), 1, "not subscribed any more");
    deliver(0, "m1", "t", "x");
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "c%d", i);
        cr_expect_eq(got(id), (i == 0 || i == 5 || i == 9) ? 0u : 1u, "%s", id);
    }
    deliver(0, "m2", "u", "x");
    for (int i = 0; i < 10; i += 2) {
        snprintf(id, sizeof id, "c%d", i);
        cr_expect_eq(got(id), i == 0 ? 1u : 2u, "%s on u", id);
    }
    /* everyone leaves t, one comes back */
    for (int i = 1; i < 9; i++) {
        snprintf(id, sizeof id, "c%d", i);
        WEFT_IGNORE(px_engine_unsubscribe(g_e, id, "t"));
    }
    cr_assert_eq(px_engine_subscribe(g_e, "c3", "t", 0.1, 0), 0);
    size_t before = g_ngrpc;
    deliver(0, "m3", "t", "x");
    cr_expect_eq(g_ngrpc, before + 1);
    cr_expect_str_eq(g_grpc[g_ngrpc - 1].client, "c3");

    /* idle clients without a sink are forgotten, and leave their lists */
    g_p.cfg.client_idle_ms = 1000;
    cr_assert_eq(px_engine_subscribe(g_e, "idle1", "t", 0.1, 0), 0);
    cr_assert_eq(px_engine_subscribe(g_e, "idle2", "u", 0.1, 0), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "c%d", i);
        px_engine_detach(g_e, id, PX_SINK_GRPC, &g_sinks[i]);
    }
    cr_assert_eq(px_engine_attach(g_e, "c3", PX_SINK_GRPC, &g_sinks[3]), 0);
    px_engine_tick(g_e, weft_mono_ms() + 12000);
    cr_expect_eq(px_engine_clients(g_e), 1, "only c3 (attached) is left");
    before = g_ngrpc;
    deliver(0, "m4", "t", "x");
    deliver(0, "m5", "u", "x");
    cr_expect_eq(g_ngrpc, before + 1, "only c3 receives");
    cr_expect_str_eq(g_grpc[g_ngrpc - 1].msgid, "m4");
}
