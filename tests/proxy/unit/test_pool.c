/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's node pool (proxy/src/pool.c) against fake node sidecars:
 * small gRPC servers of this test (svc_grpc, 127.0.0.1, ephemeral ports)
 * that record the Requests of the pool's ListenCommands stream, answer
 * publishes as told (published, refused, overloaded, or not at all),
 * answer Health as told, and can break the stream. The pool is a gRPC
 * client, so this is the one place where real servers are needed.
 *
 * The pool's clock (weft_mono_ms) is the test's: the functions of
 * weft/clock.h are defined here, monotonic time plus an offset the test
 * moves, so that the 5 s Health period and the 10 s breaker pass at once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p2p_stream.pb-c.h"
#include "proxy.h"
#include "weft/clock.h"
#include "weft/common.h"

/* ---- the clock ----------------------------------------------------------------------------- */

static atomic_llong g_offset_ms;

static int64_t
read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
weft_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC) + atomic_load(&g_offset_ms) * 1000000LL;
}

int64_t
weft_mono_ms(void)
{
    return weft_mono_ns() / 1000000LL;
}

int64_t
weft_unix_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}

int64_t
weft_unix_ms(void)
{
    return weft_unix_ns() / 1000000LL;
}

/* ---- fake sidecars ------------------------------------------------------------------------- */

enum { REPLY_OK, REPLY_NONE, REPLY_ERROR, REPLY_BUSY };

struct req {
    int command;
    char topic[PX_TOPIC_MAX + 1];
    char data[64];
};

struct sidecar {
    weft_grpc_server *srv;
    int port;
    pthread_mutex_t mu;
    weft_grpc_call *listen; /* the pool's stream, while open */
    int streams;            /* ListenCommands opened */
    struct req reqs[512];
    size_t nreqs;
    int reply;     /* REPLY_* for publishes */
    int health_ok; /* Health answers status=true */
    int health_calls;
};

#define NSC 3
static struct sidecar g_sc[NSC];

static const char *const methods[] = {"/proto.CommandStream/ListenCommands",
                                      "/proto.CommandStream/Health"};

static void
sc_open(void *user, weft_grpc_call *c, int method)
{
    struct sidecar *s = user;
    if (method != 0)
        return;
    pthread_mutex_lock(&s->mu);
    s->listen = c;
    s->streams++;
    pthread_mutex_unlock(&s->mu);
}

static void
send_response(weft_grpc_call *c, int type, const char *data)
{
    Proto__Response r = PROTO__RESPONSE__INIT;
    r.command = (Proto__ResponseType)type;
    r.data.data = (uint8_t *)(uintptr_t)data;
    r.data.len = strlen(data);
    uint8_t buf[1024];
    size_t n = proto__response__get_packed_size(&r);
    cr_assert_leq(n, sizeof buf);
    proto__response__pack(&r, buf);
    WEFT_IGNORE(weft_grpc_call_send(c, buf, n));
}

static void
sc_message(void *user, weft_grpc_call *c, const uint8_t *p, size_t n)
{
    struct sidecar *s = user;
    if (weft_grpc_call_method(c) == 1) { /* Health */
        pthread_mutex_lock(&s->mu);
        s->health_calls++;
        int ok = s->health_ok;
        pthread_mutex_unlock(&s->mu);
        Proto__HealthResponse h = PROTO__HEALTH_RESPONSE__INIT;
        h.status = ok;
        h.nodemode = (char *)"optimum";
        h.country = (char *)"Testland";
        h.country_iso = (char *)"TL";
        h.p2paddress = (char *)"/ip4/127.0.0.1/tcp/7070/p2p/12D3KooWtest";
        uint8_t buf[512];
        size_t len = proto__health_response__get_packed_size(&h);
        proto__health_response__pack(&h, buf);
        WEFT_IGNORE(weft_grpc_call_send(c, buf, len));
        weft_grpc_call_finish(c, WEFT_GRPC_OK, "");
        return;
    }
    Proto__Request *r = proto__request__unpack(NULL, n, p);
    cr_assert_not_null(r);
    pthread_mutex_lock(&s->mu);
    if (s->nreqs == sizeof s->reqs / sizeof *s->reqs) { /* the topic-limit test's flood */
        pthread_mutex_unlock(&s->mu);
        proto__request__free_unpacked(r, NULL);
        return;
    }
    struct req *q = &s->reqs[s->nreqs++];
    q->command = r->command;
    snprintf(q->topic, sizeof q->topic, "%s", r->topic ? r->topic : "");
    snprintf(q->data, sizeof q->data, "%.*s", (int)(r->data.len < 63 ? r->data.len : 63),
             (const char *)r->data.data);
    int reply = s->reply;
    pthread_mutex_unlock(&s->mu);
    if (r->command == 1) {
        if (reply == REPLY_OK) {
            /* the id: the hex of the data, so the test can tell whose it is */
            char body[256];
            int o = snprintf(body, sizeof body,
                             "{\"status\":\"published\",\"topic\":\"t\",\"message_id\":\"");
            for (size_t i = 0; i < r->data.len && i < 32; i++)
                o += snprintf(body + o, sizeof body - (size_t)o, "%02x", r->data.data[i]);
            snprintf(body + o, sizeof body - (size_t)o, "\"}");
            send_response(c, 0, body);
        } else if (reply == REPLY_ERROR)
            send_response(c, 0, "{\"status\":\"error\",\"topic\":\"t\",\"error\":\"no\"}");
        else if (reply == REPLY_BUSY)
            send_response(c, 0,
                          "{\"status\":\"error\",\"topic\":\"t\",\"error\":\"node "
                          "overloaded: publish queue full, retry\"}");
    }
    proto__request__free_unpacked(r, NULL);
}

static void
sc_close(void *user, weft_grpc_call *c, int cancelled)
{
    (void)cancelled;
    struct sidecar *s = user;
    pthread_mutex_lock(&s->mu);
    if (s->listen == c)
        s->listen = NULL;
    pthread_mutex_unlock(&s->mu);
}

static void
sc_start(struct sidecar *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->health_ok = 1;
    weft_grpc_config cfg = {
        .addr = "127.0.0.1:0",
        .methods = methods,
        .nmethods = 2,
        .h = {.on_open = sc_open, .on_message = sc_message, .on_close = sc_close},
        .user = s,
    };
    int err = 0;
    s->srv = weft_grpc_start(&cfg, &err);
    cr_assert_not_null(s->srv, "fake sidecar: %s", weft_strerror(err));
    s->port = weft_grpc_port(s->srv);
}

/* End the pool's stream from the node's side. */
static void
sc_break(struct sidecar *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->listen)
        weft_grpc_call_finish(s->listen, WEFT_GRPC_UNAVAILABLE, "node restarting");
    pthread_mutex_unlock(&s->mu);
}

static size_t
count(struct sidecar *s, int command, const char *data)
{
    pthread_mutex_lock(&s->mu);
    size_t k = 0;
    for (size_t i = 0; i < s->nreqs; i++)
        k += s->reqs[i].command == command && (!data || !strcmp(s->reqs[i].data, data));
    pthread_mutex_unlock(&s->mu);
    return k;
}

static int
get(struct sidecar *s, int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static void
set(struct sidecar *s, int *field, int v)
{
    pthread_mutex_lock(&s->mu);
    *field = v;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the proxy ------------------------------------------------------------------------------ */

static proxy g_p;
static px_pool *g_pool;
static size_t g_nsc;

#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int w_ = 0; w_ < 10000 && !(cond); w_++)                                              \
            usleep(1000);                                                                          \
    } while (0)

static void
start(size_t n)
{
    memset(&g_p, 0, sizeof g_p);
    g_nsc = n;
    for (size_t i = 0; i < n; i++) {
        sc_start(&g_sc[i]);
        snprintf(g_p.cfg.nodes[i], sizeof g_p.cfg.nodes[i], "127.0.0.1:%d", g_sc[i].port);
    }
    g_p.cfg.nnodes = n;
    g_p.cfg.fallback_ms = 600000;
    g_p.metrics = weft_metrics_new();
    weft_metric **all = (weft_metric **)&g_p.m;
    for (size_t i = 0; i < sizeof g_p.m / sizeof(weft_metric *); i++) {
        char name[32];
        snprintf(name, sizeof name, "m%zu_total", i);
        all[i] = weft_metrics_counter(g_p.metrics, name, "h", NULL);
        cr_assert_not_null(all[i]);
    }
    g_p.engine = px_engine_new(&g_p);
    cr_assert_not_null(g_p.engine);
    int err = 0;
    g_pool = px_pool_start(&g_p, &err);
    cr_assert_not_null(g_pool, "pool: %s", weft_strerror(err));
    WAIT_FOR(px_pool_connected(g_pool) == n);
    cr_assert_eq(px_pool_connected(g_pool), n, "not every fake sidecar connected");
}

static void
teardown(void)
{
    if (g_pool)
        px_pool_stop(g_pool);
    g_pool = NULL;
    for (size_t i = 0; i < g_nsc; i++) {
        weft_grpc_stop(g_sc[i].srv);
        pthread_mutex_destroy(&g_sc[i].mu);
    }
    g_nsc = 0;
    px_engine_free(g_p.engine);
    weft_metrics_free(g_p.metrics);
    atomic_store(&g_offset_ms, 0);
}

TestSuite(proxy_pool, .fini = teardown, .timeout = 90);

/* publish_error_total over every type */
static double
perr_total(void)
{
    double t = 0;
    for (int i = 0; i < PX_PERR_N; i++)
        t += weft_metric_value(g_p.m.perr[i]);
    return t;
}

/* Completions as the pool ran them: data published, rc, text. */
static pthread_mutex_t g_done_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char data[16];
    int rc;
    char text[160];
} g_done[64];
static size_t g_ndone;

static void
on_done(void *user, int rc, const char *text)
{
    pthread_mutex_lock(&g_done_mu);
    if (g_ndone < 64) {
        snprintf(g_done[g_ndone].data, sizeof g_done[g_ndone].data, "%s", (const char *)user);
        g_done[g_ndone].rc = rc;
        snprintf(g_done[g_ndone].text, sizeof g_done[g_ndone].text, "%s", text ? text : "");
        g_ndone++;
    }
    pthread_mutex_unlock(&g_done_mu);
    free(user);
}

static size_t
ndone(void)
{
    pthread_mutex_lock(&g_done_mu);
    size_t n = g_ndone;
    pthread_mutex_unlock(&g_done_mu);
    return n;
}

/* The completion gets a copy of data (the callers' buffers do not last). */
static int
publish(const char *data)
{
    char *copy = strdup(data);
    cr_assert_not_null(copy);
    int rc = px_pool_publish(g_pool, "t", (const uint8_t *)data, strlen(data), on_done, copy);
    if (rc < 0)
        free(copy);
    return rc;
}

static size_t
published_anywhere(const char *data)
{
    size_t k = 0;
    for (size_t i = 0; i < g_nsc; i++)
        k += count(&g_sc[i], 1, data);
    return k;
}

static int
healthy(int i)
{
    px_node_info info[NSC];
    size_t n = px_pool_info(g_pool, info, NSC);
    cr_assert_gt(n, (size_t)i);
    return info[i].healthy;
}

/* ---- tests
 * --------------------------------------------------------------------------------------- */

Test(proxy_pool, topics_are_subscribed_on_every_node_and_again_after_a_reconnect)
{
    start(2);
    px_pool_subscribe(g_pool, "a");
    px_pool_subscribe(g_pool, "b");
    px_pool_subscribe(g_pool, "a"); /* once */
    for (int i = 0; i < 2; i++) {
        WAIT_FOR(count(&g_sc[i], 2, NULL) == 2);
        cr_expect_eq(count(&g_sc[i], 2, NULL), 2, "node %d", i);
        cr_expect_str_eq(g_sc[i].reqs[0].topic, "a");
        cr_expect_str_eq(g_sc[i].reqs[1].topic, "b");
    }
    /* node 0 breaks its stream: the pool reconnects and subscribes both again */
    sc_break(&g_sc[0]);
    WAIT_FOR(get(&g_sc[0], &g_sc[0].streams) == 2 && count(&g_sc[0], 2, NULL) == 4);
    cr_expect_eq(get(&g_sc[0], &g_sc[0].streams), 2, "no reconnect");
    cr_expect_eq(count(&g_sc[0], 2, NULL), 4, "topics not sent again on the new stream");
    usleep(100000);
    cr_expect_eq(count(&g_sc[1], 2, NULL), 2, "the other node was subscribed again");
}

/* One stream per node carries every topic; the node takes PX_MAX_TOPICS per
 * stream, so the pool refuses the next one instead of losing it. */
Test(proxy_pool, topics_beyond_the_node_limit_are_refused)
{
    start(1);
    char t[32];
    for (int i = 0; i < PX_MAX_TOPICS; i++) {
        snprintf(t, sizeof t, "t%d", i);
        cr_assert_eq(px_pool_subscribe(g_pool, t), 0, "topic %d", i);
    }
    cr_expect_eq(px_pool_subscribe(g_pool, "one-too-many"), WEFT_ELIMIT);
    cr_expect_eq(px_pool_subscribe(g_pool, "t7"), 0, "a carried topic is fine");
}

Test(proxy_pool, publishes_go_round_robin)
{
    start(2);
    static const char *const msgs[] = {"m0", "m1", "m2", "m3"};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(publish(msgs[i]), 0);
    WAIT_FOR(published_anywhere(NULL) == 4);
    cr_expect_eq(count(&g_sc[0], 1, NULL), 2);
    cr_expect_eq(count(&g_sc[1], 1, NULL), 2);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(published_anywhere(msgs[i]), 1, "%s published %zu times", msgs[i],
                     published_anywhere(msgs[i]));
    usleep(100000);
    cr_expect_eq(perr_total(), 0);
}

Test(proxy_pool, each_publish_completes_once_with_the_nodes_id)
{
    pthread_mutex_lock(&g_done_mu);
    g_ndone = 0;
    pthread_mutex_unlock(&g_done_mu);
    start(2);
    static const char *const msgs[] = {"i0", "i1", "i2", "i3", "i4", "i5"};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(publish(msgs[i]), 0);
    WAIT_FOR(ndone() == 6);
    cr_assert_eq(ndone(), 6);
    for (size_t k = 0; k < 6; k++) {
        char want[40] = "";
        for (size_t j = 0; g_done[k].data[j]; j++)
            snprintf(want + 2 * j, sizeof want - 2 * j, "%02x", (unsigned char)g_done[k].data[j]);
        cr_expect_eq(g_done[k].rc, 0, "%s: rc %d", g_done[k].data, g_done[k].rc);
        cr_expect_str_eq(g_done[k].text, want, "%s got another publish's id", g_done[k].data);
    }
    /* A refusal completes with an error, once. */
    set(&g_sc[0], &g_sc[0].reply, REPLY_ERROR);
    set(&g_sc[1], &g_sc[1].reply, REPLY_ERROR);
    cr_assert_eq(publish("r0"), 0);
    WAIT_FOR(ndone() == 7);
    usleep(100000);
    cr_assert_eq(ndone(), 7);
    cr_expect_lt(g_done[6].rc, 0);
    cr_expect_str_eq(g_done[6].data, "r0");
}

Test(proxy_pool, unacknowledged_publishes_fail_over)
{
    start(2);
    set(&g_sc[0], &g_sc[0].reply, REPLY_NONE);
    set(&g_sc[1], &g_sc[1].reply, REPLY_NONE);
    cr_assert_eq(publish("x0"), 0);
    cr_assert_eq(publish("x1"), 0);
    WAIT_FOR(published_anywhere(NULL) == 2);
    int on0 = count(&g_sc[0], 1, "x0") ? 0 : 1; /* the node that got x0 */
    const char *mine = "x0";
    cr_assert_eq(count(&g_sc[on0], 1, mine), 1);
    set(&g_sc[!on0], &g_sc[!on0].reply, REPLY_OK);
    /* its stream breaks before a reply: x0 goes to the other node */
    sc_break(&g_sc[on0]);
    WAIT_FOR(count(&g_sc[!on0], 1, mine) == 1);
    cr_expect_eq(count(&g_sc[!on0], 1, mine), 1, "the unacknowledged publish was not moved");
    cr_expect_eq(perr_total(), 0);
}

Test(proxy_pool, refused_publishes_are_counted_busy_ones_retried)
{
    start(2);
    set(&g_sc[0], &g_sc[0].reply, REPLY_ERROR);
    set(&g_sc[1], &g_sc[1].reply, REPLY_ERROR);
    cr_assert_eq(publish("e0"), 0);
    WAIT_FOR(perr_total() == 1);
    cr_expect_eq(perr_total(), 1);
    usleep(100000);
    cr_expect_eq(published_anywhere("e0"), 1, "a refused publish was retried");
    /* "overloaded" moves it to another node */
    set(&g_sc[0], &g_sc[0].reply, REPLY_BUSY);
    set(&g_sc[1], &g_sc[1].reply, REPLY_OK);
    cr_assert_eq(publish("b0"), 0);
    cr_assert_eq(publish("b1"), 0);
    WAIT_FOR(count(&g_sc[1], 1, "b0") == 1 && count(&g_sc[1], 1, "b1") == 1);
    cr_expect_eq(count(&g_sc[1], 1, "b0"), 1);
    cr_expect_eq(count(&g_sc[1], 1, "b1"), 1);
    cr_expect_eq(perr_total(), 1, "a retried publish was counted");
}

Test(proxy_pool, no_node_connected)
{
    start(1);
    weft_grpc_stop(g_sc[0].srv);
    g_sc[0].srv = NULL;
    WAIT_FOR(px_pool_connected(g_pool) == 0);
    cr_assert_eq(px_pool_connected(g_pool), 0);
    cr_expect_eq(publish("lost"), WEFT_ECLOSED);
    px_node_info info[1];
    cr_assert_eq(px_pool_info(g_pool, info, 1), 1);
    cr_expect_eq(info[0].connected, 0);
    cr_expect_eq(info[0].healthy, 0);
    /* the stop below must not stop it twice */
    sc_start(&g_sc[0]);
}

/* Move the pool's clock past the next Health round and wait for it. */
static void
health_round(void)
{
    int before[NSC] = {0};
    for (size_t i = 0; i < g_nsc; i++)
        before[i] = get(&g_sc[i], &g_sc[i].health_calls);
    atomic_fetch_add(&g_offset_ms, 5000);
    for (size_t i = 0; i < g_nsc; i++)
        WAIT_FOR(get(&g_sc[i], &g_sc[i].health_calls) > before[i]);
    usleep(20000); /* the answer is handled after the call counted */
}

Test(proxy_pool, breaker_opens_half_opens_and_closes)
{
    start(2);
    health_round();
    px_node_info info[2];
    cr_assert_eq(px_pool_info(g_pool, info, 2), 2);
    cr_expect_str_eq(info[0].country, "Testland", "Health fills the node's info");
    cr_expect_str_eq(info[0].country_iso, "TL");
    cr_expect_str_eq(info[0].mode, "optimum");
    cr_expect(healthy(0) && healthy(1));

    set(&g_sc[0], &g_sc[0].health_ok, 0);
    health_round();
    health_round();
    cr_expect(healthy(0), "the breaker opened before 3 failures");
    health_round();
    cr_expect(!healthy(0), "3 failed Health calls did not open the breaker");
    cr_expect_eq(px_pool_connected(g_pool), 2, "an open breaker is not a disconnect");
    /* while open, publishes avoid node 0 */
    for (int i = 0; i < 4; i++) {
        char m[8];
        snprintf(m, sizeof m, "o%d", i);
        cr_assert_eq(publish(m), 0);
    }
    WAIT_FOR(count(&g_sc[1], 1, NULL) == 4);
    cr_expect_eq(count(&g_sc[1], 1, NULL), 4);
    cr_expect_eq(count(&g_sc[0], 1, NULL), 0, "a node with an open breaker got publishes");

    /* 10 s later it is tried again (half-open) without a good Health */
    atomic_fetch_add(&g_offset_ms, 9000);
    cr_expect(!healthy(0), "half-open before 10 s");
    atomic_fetch_add(&g_offset_ms, 1500);
    cr_expect(healthy(0), "not half-open after 10 s");
    /* a good Health keeps it closed */
    set(&g_sc[0], &g_sc[0].health_ok, 1);
    health_round();
    cr_expect(healthy(0));
    cr_assert_eq(publish("c0"), 0);
    cr_assert_eq(publish("c1"), 0);
    WAIT_FOR(count(&g_sc[0], 1, NULL) >= 1);
    cr_expect_geq(count(&g_sc[0], 1, NULL), 1, "the closed node gets publishes again");
}

Test(proxy_pool, a_good_health_closes_an_open_breaker)
{
    start(1);
    set(&g_sc[0], &g_sc[0].health_ok, 0);
    health_round();
    health_round();
    health_round();
    cr_assert(!healthy(0));
    cr_expect_eq(publish("p"), WEFT_ECLOSED, "no usable node");
    set(&g_sc[0], &g_sc[0].health_ok, 1);
    health_round();
    cr_expect(healthy(0), "a good Health did not close the breaker");
    cr_expect_eq(publish("p"), 0);
}
