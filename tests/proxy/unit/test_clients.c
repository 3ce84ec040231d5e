/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's client table (proxy/src/engine.c): idle clients (no sink, no
 * request for WEFT_CLIENT_IDLE_S) are forgotten and counted, clients with a
 * WebSocket or gRPC stream are kept, a full table (WEFT_MAX_CLIENTS)
 * refuses new clients until some idle out, topics per client are capped,
 * reserved topics are refused, and only subscriptions made here (not those
 * a stream names, not shared ones) are reported to share.c.
 *
 * Collaborators are recorders, as in test_engine.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/svc_ws.h"

int
px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload, size_t len)
{
    (void)call, (void)client, (void)topic, (void)msgid, (void)payload, (void)len;
    return 0;
}

int
px_pool_subscribe(px_pool *pl, const char *topic)
{
    (void)pl, (void)topic;
    return 0;
}

int
weft_ws_broadcast_text(weft_http_server *s, weft_ws_conn *const *conns, size_t n, const char *data,
                       size_t len)
{
    (void)s, (void)conns, (void)data, (void)len;
    return (int)n;
}

int
weft_ws_send_text(weft_ws_conn *c, const char *data, size_t len)
{
    (void)c, (void)data, (void)len;
    return 0;
}

static proxy g_p;
static px_engine *g_e;
static int g_pool_token;
static size_t g_reported;
static char g_last_reported[PX_ID_MAX + 1];

static void
on_subscribed(proxy *p, const char *client, const char *topic, double t)
{
    (void)p, (void)topic, (void)t;
    g_reported++;
    snprintf(g_last_reported, sizeof g_last_reported, "%s", client);
}

static void
start(long long max_clients, long long idle_ms)
{
    memset(&g_p, 0, sizeof g_p);
    g_p.cfg.nnodes = 1;
    g_p.cfg.fallback_ms = 2000;
    g_p.cfg.max_clients = max_clients;
    g_p.cfg.client_idle_ms = idle_ms;
    g_p.pool = (px_pool *)&g_pool_token;
    g_p.metrics = weft_metrics_new();
    g_p.m.clients = weft_metrics_gauge(g_p.metrics, "clients", "h", NULL);
    g_p.m.clients_expired = weft_metrics_counter(g_p.metrics, "expired_total", "h", NULL);
    g_p.on_subscribed = on_subscribed;
    g_e = g_p.engine = px_engine_new(&g_p);
    cr_assert_not_null(g_e);
    g_reported = 0;
}

static void
stop(void)
{
    px_engine_free(g_e);
    g_e = NULL;
    weft_metrics_free(g_p.metrics);
}

TestSuite(proxy_clients, .fini = stop);

Test(proxy_clients, idle_clients_expire_connected_ones_stay)
{
    start(1000, 5000);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "c%d", i);
        cr_assert_eq(px_engine_subscribe(g_e, id, "t", 0.5, 0), 0);
    }
    int sink;
    cr_assert_eq(px_engine_attach(g_e, "c7", PX_SINK_WS, &sink), 0);
    cr_expect_eq(px_engine_clients(g_e), 100);
    int64_t now = weft_mono_ms();
    px_engine_tick(g_e, now + 1000);
    cr_expect_eq(px_engine_clients(g_e), 100, "expired before the idle time");
    px_engine_tick(g_e, now + 6000);
    cr_expect_eq(px_engine_clients(g_e), 1, "only the client with a sink is kept");
    cr_expect_eq(weft_metric_value(g_p.m.clients_expired), 99);
    cr_expect_eq(weft_metric_value(g_p.m.clients), 1);
    char topics[4][PX_TOPIC_MAX + 1];
    cr_expect_eq(px_engine_topics(g_e, "c7", topics, 4), 1, "the kept client lost its topics");
    cr_expect_eq(px_engine_topics(g_e, "c8", topics, 4), 0);
}

Test(proxy_clients, a_detached_client_expires)
{
    start(100, 200);
    int sink;
    cr_assert_eq(px_engine_subscribe(g_e, "ws", "t", 0.5, 0), 0);
    cr_assert_eq(px_engine_attach(g_e, "ws", PX_SINK_WS, &sink), 0);
    usleep(300000); /* longer than the idle time, but connected */
    px_engine_tick(g_e, weft_mono_ms());
    cr_expect_eq(px_engine_clients(g_e), 1);
    px_engine_detach(g_e, "ws", PX_SINK_WS, &sink);
    px_engine_tick(g_e, weft_mono_ms() + 1300);
    cr_expect_eq(px_engine_clients(g_e), 0);
}

Test(proxy_clients, a_full_table_accepts_again_after_expiry)
{
    start(16, 200);
    char id[32];
    for (int i = 0; i < 16; i++) {
        snprintf(id, sizeof id, "full-%d", i);
        cr_assert_eq(px_engine_subscribe(g_e, id, "t", 0.5, 0), 0);
    }
    cr_expect_eq(px_engine_subscribe(g_e, "one-more", "t", 0.5, 0), WEFT_ELIMIT);
    int sink;
    cr_expect_eq(px_engine_attach(g_e, "one-more", PX_SINK_WS, &sink), WEFT_ELIMIT);
    cr_expect_eq(px_engine_subscribe(g_e, "full-3", "u", 0.5, 0), 0, "known clients still work");
    usleep(300000);
    cr_expect_eq(px_engine_subscribe(g_e, "one-more", "t", 0.5, 0), 0,
                 "a full table did not make room from idle clients");
    cr_expect_eq(px_engine_clients(g_e), 1);
}

Test(proxy_clients, topics_capped_reserved_refused_reports)
{
    start(100, 60000);
    char t[32];
    for (int i = 0; i < 64; i++) {
        snprintf(t, sizeof t, "topic-%d", i);
        cr_assert_eq(px_engine_subscribe(g_e, "many", t, 0.5, 0), 0);
    }
    cr_expect_eq(px_engine_subscribe(g_e, "many", "topic-64", 0.5, 0), WEFT_ELIMIT);
    char topics[70][PX_TOPIC_MAX + 1];
    cr_expect_eq(px_engine_topics(g_e, "many", topics, 70), 64);
    cr_expect_str_eq(topics[63], "topic-63");
    cr_expect_eq(px_engine_subscribe(g_e, "x", "_weft/share/weft", 0.5, 0), WEFT_EINVAL);
    cr_expect_eq(g_reported, 64, "REST-style subscriptions are reported");
    cr_expect_str_eq(g_last_reported, "many");
    cr_expect_eq(px_engine_subscribe(g_e, "s", "topic-1", 0.5, 1), 0);
    cr_expect_eq(px_engine_subscribe_shared(g_e, "r", "topic-1", 0.5), 0);
    cr_expect_eq(g_reported, 64, "a stream's topic or a shared one was reported again");
    cr_expect_eq(px_engine_subscribe_shared(g_e, "r", "_weft/x", 0.5), WEFT_EINVAL);
}
