/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC sidecar's handling of requests and what it sends back
 * (node/src/sidecar.c), without gRPC: the server half of weft/svc_grpc.h is
 * replaced at link time by a recorder defined here (grpc_server.o is then
 * never pulled from the static library). The recorder keeps the
 * configuration the sidecar starts it with, lets the test play a client
 * (open, Requests, half-close, close) through the sidecar's own handlers,
 * and keeps every message the sidecar sends on each call. Its send queue
 * follows svc_grpc's contract: one message in flight, then up to
 * max_queued_bytes waiting, beyond which sends are refused with
 * WEFT_ELIMIT -- a client that never reads.
 *
 * The node's real P2P side runs (node_p2p_start, 127.0.0.1, no peers) with
 * its loop on a thread of its own, as in the daemon; the test's thread is
 * "gRPC's thread".
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "weft/clock.h"
#include "optimum_trace.pb-c.h"
#include "p2p_stream.pb-c.h"
#include "weft/common.h"
#include "weft/encoding.h"

#define MS 1000000LL

/* ---- the recorder behind weft/svc_grpc.h (server half) -------------------------------- */

struct msg {
    uint8_t *p;
    size_t n;
};

struct weft_grpc_call {
    pthread_mutex_t mu;
    int method;
    void *user;
    int refs;
    int finished, closed, status;
    char details[256];
    struct msg msgs[4096]; /* everything sent, in order */
    size_t nmsgs;
    int inflight;        /* one message being written to the (non-reading) client */
    size_t qbytes, qlen; /* waiting behind it */
};

struct weft_grpc_server {
    weft_grpc_config cfg;
    char addr[128];
    int stopped;
};

static struct weft_grpc_server g_srv;
static weft_grpc_call *g_calls[256];
static size_t g_ncalls;

weft_grpc_server *
weft_grpc_start(const weft_grpc_config *cfg, int *err)
{
    (void)err;
    memset(&g_srv, 0, sizeof g_srv);
    g_srv.cfg = *cfg;
    snprintf(g_srv.addr, sizeof g_srv.addr, "%s", cfg->addr);
    g_srv.cfg.addr = g_srv.addr;
    return &g_srv;
}

static void
call_release(weft_grpc_call *c)
{
    for (size_t i = 0; i < c->nmsgs; i++)
        free(c->msgs[i].p);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void
weft_grpc_call_ref(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void
weft_grpc_call_unref(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    cr_assert_geq(left, 0, "call unreferenced once too often");
}

/* A call is closed by the "server": the last callback, then its reference. */
static void
close_call(weft_grpc_call *c, int cancelled)
{
    pthread_mutex_lock(&c->mu);
    int was = c->closed;
    c->closed = 1;
    pthread_mutex_unlock(&c->mu);
    if (was)
        return;
    g_srv.cfg.h.on_close(g_srv.cfg.user, c, cancelled);
    weft_grpc_call_unref(c);
}

void
weft_grpc_stop(weft_grpc_server *s)
{
    for (size_t i = 0; i < g_ncalls; i++)
        close_call(g_calls[i], 1);
    s->stopped = 1;
}

int
weft_grpc_call_send(weft_grpc_call *c, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->closed || c->finished) {
        rc = WEFT_ECLOSED;
    } else if (c->qlen && c->qbytes + n > g_srv.cfg.max_queued_bytes) {
        rc = WEFT_ELIMIT;
    } else {
        cr_assert_lt(c->nmsgs, sizeof c->msgs / sizeof *c->msgs);
        uint8_t *copy = malloc(n ? n : 1);
        cr_assert_not_null(copy);
        memcpy(copy, p, n);
        c->msgs[c->nmsgs++] = (struct msg){copy, n};
        if (!c->inflight) {
            c->inflight = 1;
        } else {
            c->qlen++;
            c->qbytes += n;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t
weft_grpc_call_queued(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->qbytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void
weft_grpc_call_finish(weft_grpc_call *c, int status, const char *details)
{
    pthread_mutex_lock(&c->mu);
    if (!c->finished) {
        c->finished = 1;
        c->status = status;
        snprintf(c->details, sizeof c->details, "%s", details ? details : "");
    }
    pthread_mutex_unlock(&c->mu);
}

void
weft_grpc_call_set_user(weft_grpc_call *c, void *user)
{
    c->user = user;
}

void *
weft_grpc_call_user(const weft_grpc_call *c)
{
    return c->user;
}

int
weft_grpc_call_method(const weft_grpc_call *c)
{
    return c->method;
}

int
weft_grpc_call_metadata(const weft_grpc_call *c, const char *key, char *out, size_t cap)
{
    (void)c, (void)key, (void)out, (void)cap;
    return -1;
}

const char *
weft_grpc_call_peer(const weft_grpc_call *c)
{
    (void)c;
    return "ipv4:127.0.0.1:5555";
}

/* ---- playing a client ------------------------------------------------------------------- */

enum { M_LISTEN, M_HEALTH, M_TOPICS };

static weft_grpc_call *
call_new(int method)
{
    weft_grpc_call *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    pthread_mutex_init(&c->mu, NULL);
    c->method = method;
    c->refs = 1; /* the server's */
    cr_assert_lt(g_ncalls, sizeof g_calls / sizeof *g_calls);
    g_calls[g_ncalls++] = c;
    g_srv.cfg.h.on_open(g_srv.cfg.user, c, method);
    return c;
}

static void
request(weft_grpc_call *c, int command, const char *topic, const void *data, size_t len)
{
    Proto__Request r = PROTO__REQUEST__INIT;
    r.command = command;
    r.topic = (char *)(uintptr_t)topic;
    r.data.data = (uint8_t *)(uintptr_t)data;
    r.data.len = len;
    size_t n = proto__request__get_packed_size(&r);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert_not_null(buf);
    proto__request__pack(&r, buf);
    g_srv.cfg.h.on_message(g_srv.cfg.user, c, buf, n);
    free(buf);
}

static void
raw_message(weft_grpc_call *c, const void *p, size_t n)
{
    g_srv.cfg.h.on_message(g_srv.cfg.user, c, p, n);
}

/* The client reads everything waiting for it. */
static void
drain(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->inflight = 0;
    c->qlen = 0;
    c->qbytes = 0;
    pthread_mutex_unlock(&c->mu);
}

static size_t
nmsgs(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nmsgs;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* The i-th message sent on c, unpacked as a Response (caller frees). */
static Proto__Response *
response(weft_grpc_call *c, size_t i)
{
    pthread_mutex_lock(&c->mu);
    cr_assert_lt(i, c->nmsgs);
    struct msg m = c->msgs[i];
    pthread_mutex_unlock(&c->mu);
    Proto__Response *r = proto__response__unpack(NULL, m.n, m.p);
    cr_assert_not_null(r, "message %zu is not a Response", i);
    return r;
}

/* Responses of one type on c, in order; data copied NUL-terminated into
 * out[k] (malloc'd). Returns the count. */
static size_t
of_type(weft_grpc_call *c, int type, char **out, size_t max)
{
    size_t k = 0, n = nmsgs(c);
    for (size_t i = 0; i < n; i++) {
        Proto__Response *r = response(c, i);
        if ((int)r->command == type) {
            if (k < max) {
                out[k] = malloc(r->data.len + 1);
                memcpy(out[k], r->data.data, r->data.len);
                out[k][r->data.len] = 0;
            }
            k++;
        }
        proto__response__free_unpacked(r, NULL);
    }
    return k;
}

/* Whether the last message sent on c contains needle. */
static int
last_response_has(weft_grpc_call *c, const char *needle)
{
    size_t n = nmsgs(c);
    if (!n)
        return 0;
    Proto__Response *r = response(c, n - 1);
    int has = r->data.len && memmem(r->data.data, r->data.len, needle, strlen(needle)) != NULL;
    proto__response__free_unpacked(r, NULL);
    return has;
}

static size_t
count_type(weft_grpc_call *c, int type)
{
    return of_type(c, type, NULL, 0);
}

static void
free_strs(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
}

/* ---- the node, its loop on a thread -------------------------------------------------------- */

static node g_n;
static pthread_t g_loop_thread;
static int g_loop_running, g_started;

static void *
loop_main(void *arg)
{
    (void)arg;
    weft_loop_run(g_n.loop);
    return NULL;
}

static void settle(void);

/* Returns once the loop runs (a stop is consumed when weft_loop_run returns). */
static void
loop_start(void)
{
    cr_assert_eq(pthread_create(&g_loop_thread, NULL, loop_main, NULL), 0);
    g_loop_running = 1;
    settle();
}

/* For good: the loop cannot move to another thread afterwards. */
static void
loop_pause(void)
{
    if (!g_loop_running)
        return;
    weft_loop_stop(g_n.loop);
    pthread_join(g_loop_thread, NULL);
    g_loop_running = 0;
}

static const char *const vars[] = {"WEFT_LISTEN_IP",       "NODE_MODE",
                                   "OPTIMUM_MAX_MSG_SIZE", "GOSSIPSUB_MAX_MSG_SIZE",
                                   "WEFT_TRACE_RPC",       "WEFT_CLIENT_QUEUE_BYTES"};

static void
clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
}

static void
node_start(void)
{
    memset(&g_n, 0, sizeof g_n);
    if (!getenv("WEFT_LISTEN_IP"))
        setenv("WEFT_LISTEN_IP", "127.0.0.1", 1);
    char err[WEFT_ENV_ERR];
    cr_assert_eq(node_config_load(&g_n.cfg, err), 0, "%s", err);
    g_n.cfg.optimum_port = g_n.cfg.gossipsub_port = g_n.cfg.sidecar_port = 0;
    uint8_t seed[32] = {1};
    weft_identity_from_seed(&g_n.identity, seed);
    weft_peer_id pid;
    weft_peer_id_from_pubkey(g_n.identity.pk, &pid);
    cr_assert_gt(weft_peer_id_to_text(&pid, g_n.peer_id, sizeof g_n.peer_id), 0);
    snprintf(g_n.country, sizeof g_n.country, "Testland");
    snprintf(g_n.country_iso, sizeof g_n.country_iso, "TL");
    cr_assert_eq(node_stats_init(&g_n), 0);
    cr_assert_eq(node_p2p_start(&g_n), 0);
    g_n.mono_to_unix = weft_unix_ns() - weft_loop_now(g_n.loop);
    cr_assert_eq(node_sidecar_start(&g_n), 0);
    g_started = 1;
    loop_start();
}

static void
teardown(void)
{
    if (g_started) {
        node_sidecar_stop(&g_n); /* every call closed: the client records come back */
        loop_pause();
        g_n.stopping = 1;
        node_p2p_stop(&g_n); /* the bridge runs what is left on this thread */
        node_stats_free(&g_n);
        g_started = 0;
    }
    for (size_t i = 0; i < g_ncalls; i++) {
        cr_expect_eq(g_calls[i]->refs, 0, "call %zu still referenced", i);
        call_release(g_calls[i]);
    }
    g_ncalls = 0;
    clear_env();
}

TestSuite(node_sidecar, .init = clear_env, .fini = teardown, .timeout = 60);

/* Poll cond (every ms, at most 5 s). */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int w_ = 0; w_ < 5000 && !(cond); w_++)                                               \
            usleep(1000);                                                                          \
    } while (0)

/* Wait until the loop thread has run everything posted so far. */
static void
nothing(void *arg)
{
    (void)arg;
}

static void
settle(void)
{
    cr_assert_eq(weft_bridge_call(g_n.bridge, nothing, NULL), 0);
}

static double
metric(weft_metric *m)
{
    return weft_metric_value(m);
}

/* The topics of the client behind call c (read on the loop thread). */
struct topics_of {
    weft_grpc_call *call;
    char list[1024];
    size_t n;
    int subscribed_t; /* the router's view of topic "t" */
    size_t nclients;
};

static void
read_topics(void *arg)
{
    struct topics_of *q = arg;
    q->nclients = g_n.nclients;
    q->subscribed_t = weft_ps_subscribed(g_n.ps, "t");
    for (sc_client *c = g_n.clients; c; c = c->next) {
        if (c->call != q->call)
            continue;
        size_t o = 0;
        for (size_t i = 0; i < c->ntopics && o < sizeof q->list; i++) /* a prefix if long */
            o += (size_t)snprintf(q->list + o, sizeof q->list - o, "%s%s", i ? "," : "",
                                  c->topics[i]);
        q->n = c->ntopics;
    }
}

static struct topics_of
topics_of(weft_grpc_call *c)
{
    settle();
    struct topics_of q;
    memset(&q, 0, sizeof q);
    q.call = c;
    cr_assert_eq(weft_bridge_call(g_n.bridge, read_topics, &q), 0);
    return q;
}

static cJSON *
json(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    cr_assert_not_null(o, "not JSON: %s", s);
    return o;
}

static const char *
jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

Test(node_sidecar, server_configuration)
{
    setenv("OPTIMUM_MAX_MSG_SIZE", "2000000", 1);
    setenv("WEFT_CLIENT_QUEUE_BYTES", "3000000", 1);
    node_start();
    cr_expect_str_eq(g_srv.cfg.addr, "127.0.0.1:0");
    cr_expect_eq(g_srv.cfg.max_recv_message, 2000000 + 65536, "room for framing");
    cr_expect_eq(g_srv.cfg.max_queued_bytes, 3000000, "WEFT_CLIENT_QUEUE_BYTES per client");
    cr_assert_eq(g_srv.cfg.nmethods, 6, "CommandStream and the guides' P2PStream");
    cr_expect_str_eq(g_srv.cfg.methods[M_LISTEN], "/proto.CommandStream/ListenCommands");
    cr_expect_str_eq(g_srv.cfg.methods[M_HEALTH], "/proto.CommandStream/Health");
    cr_expect_str_eq(g_srv.cfg.methods[M_TOPICS], "/proto.CommandStream/ListTopics");
    cr_expect_str_eq(g_srv.cfg.methods[3 + M_LISTEN], "/proto.P2PStream/ListenCommands");
    cr_expect_str_eq(g_srv.cfg.methods[3 + M_HEALTH], "/proto.P2PStream/Health");
    cr_expect_str_eq(g_srv.cfg.methods[3 + M_TOPICS], "/proto.P2PStream/ListTopics");
}

Test(node_sidecar, server_address_ipv6)
{
    setenv("WEFT_LISTEN_IP", "::1", 1);
    setenv("NODE_MODE", "gossipsub", 1);
    setenv("GOSSIPSUB_MAX_MSG_SIZE", "1000", 1);
    node_start();
    cr_expect_str_eq(g_srv.cfg.addr, "[::1]:0");
    cr_expect_eq(g_srv.cfg.max_recv_message, 1000 + 65536, "the active mode's limit");
}

Test(node_sidecar, publish_reaches_local_subscribers)
{
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    weft_grpc_call *pub = call_new(M_LISTEN);
    request(sub, 2, "t", NULL, 0);
    cr_expect_str_eq(topics_of(sub).list, "t");
    cr_expect(topics_of(sub).subscribed_t, "the node did not join the topic");
    request(pub, 1, "t", "hello", 5);
    WAIT_FOR(count_type(pub, PROTO__RESPONSE_TYPE__Unknown) == 1 &&
             count_type(sub, PROTO__RESPONSE_TYPE__Message) == 1);

    char *reply[2], *msg[2];
    cr_assert_eq(of_type(pub, PROTO__RESPONSE_TYPE__Unknown, reply, 2), 1, "no publish reply");
    cJSON *r = json(reply[0]);
    cr_expect_str_eq(jstr(r, "status"), "published");
    cr_expect_str_eq(jstr(r, "topic"), "t");
    const char *id = jstr(r, "message_id");
    cr_assert_not_null(id);
    cr_expect_eq(strlen(id), 64, "optimum ids are SHA-256 in hex: %s", id);

    cr_assert_eq(of_type(sub, PROTO__RESPONSE_TYPE__Message, msg, 2), 1, "no delivery");
    cJSON *m = json(msg[0]);
    cr_expect_str_eq(jstr(m, "source_node_id"), g_n.peer_id, "our own message's source");
    cr_expect_null(cJSON_GetObjectItem(m, "upstream_peer_id"), "empty upstream is omitted");
    cr_expect_str_eq(jstr(m, "topic"), "t");
    cr_expect_str_eq(jstr(m, "message_id"), id);
    cr_expect_str_eq(jstr(m, "message"), "aGVsbG8=", "base64 of the payload");
    cJSON_Delete(r);
    cJSON_Delete(m);
    free_strs(reply, 1);
    free_strs(msg, 1);

    cr_expect_eq(count_type(pub, PROTO__RESPONSE_TYPE__Message), 0, "not subscribed");
    cr_expect_eq(metric(g_n.m.published), 1);
    cr_expect_eq(metric(g_n.m.delivered_clients), 1);
    cr_expect_eq(metric(g_n.m.sidecar_requests), 2);
}

Test(node_sidecar, json_escapes_the_topic)
{
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    const char *topic = "q\"uo\\te";
    request(c, 2, topic, NULL, 0);
    request(c, 1, topic, "x", 1);
    WAIT_FOR(count_type(c, PROTO__RESPONSE_TYPE__Message) == 1);
    char *msg[1], *reply[1];
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Message, msg, 1), 1);
    cJSON *m = json(msg[0]);
    cr_expect_str_eq(jstr(m, "topic"), topic);
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Unknown, reply, 1), 1);
    cJSON *r = json(reply[0]);
    cr_expect_str_eq(jstr(r, "topic"), topic);
    cJSON_Delete(m);
    cJSON_Delete(r);
    free_strs(msg, 1);
    free_strs(reply, 1);
}

/* The same content twice: two messages, two ids, both published and both
 * delivered to a subscriber of the topic (in both modes). */
static void
same_content_twice(const char *mode)
{
    setenv("NODE_MODE", mode, 1);
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    request(c, 2, "t", NULL, 0);
    request(c, 1, "t", "same", 4);
    request(c, 1, "t", "same", 4);
    WAIT_FOR(count_type(c, PROTO__RESPONSE_TYPE__Unknown) == 2 &&
             count_type(c, PROTO__RESPONSE_TYPE__Message) == 2);
    char *reply[2], *msg[2];
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Unknown, reply, 2), 2);
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Message, msg, 2), 2);
    cJSON *r0 = json(reply[0]), *r1 = json(reply[1]), *m0 = json(msg[0]), *m1 = json(msg[1]);
    cr_expect_str_eq(jstr(r0, "status"), "published", "%s", reply[0]);
    cr_expect_str_eq(jstr(r1, "status"), "published", "%s", reply[1]);
    cr_assert(jstr(r0, "message_id") && jstr(r1, "message_id"));
    cr_expect_str_neq(jstr(r0, "message_id"), jstr(r1, "message_id"), "one id for two publishes");
    cr_expect_str_eq(jstr(m0, "message_id"), jstr(r0, "message_id"));
    cr_expect_str_eq(jstr(m1, "message_id"), jstr(r1, "message_id"));
    cr_expect_eq(metric(g_n.m.published), 2);
    cr_expect_eq(metric(g_n.m.publish_errors), 0);
    cJSON_Delete(r0);
    cJSON_Delete(r1);
    cJSON_Delete(m0);
    cJSON_Delete(m1);
    free_strs(reply, 2);
    free_strs(msg, 2);
}

Test(node_sidecar, same_content_twice_is_two_messages_optimum)
{
    same_content_twice("optimum");
}

Test(node_sidecar, same_content_twice_is_two_messages_gossipsub)
{
    same_content_twice("gossipsub");
}

static void
too_big(const char *mode, const char *var)
{
    setenv("NODE_MODE", mode, 1);
    setenv(var, "100", 1);
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    static uint8_t big[101];
    memset(big, 'b', sizeof big);
    request(c, 1, "t", big, 100); /* at the limit */
    request(c, 1, "t", big, 101);
    WAIT_FOR(count_type(c, PROTO__RESPONSE_TYPE__Unknown) == 2);
    char *reply[2];
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Unknown, reply, 2), 2);
    /* replies come in publish order (the refusal goes through the loop
     * behind the publish), so a client can pair them */
    int first_is_error = strstr(reply[0], "exceeds") != NULL;
    cr_expect(!first_is_error, "the refusal overtook the earlier publish's reply");
    cJSON *err = json(reply[first_is_error ? 0 : 1]);
    cJSON *ok = json(reply[first_is_error ? 1 : 0]);
    char want[128];
    snprintf(want, sizeof want, "message of 101 bytes exceeds %s=100", var);
    cr_expect_str_eq(jstr(err, "status"), "error");
    cr_expect_str_eq(jstr(err, "error"), want);
    cr_expect_str_eq(jstr(ok, "status"), "published");
    cr_expect_eq(metric(g_n.m.dropped_too_big), 1);
    cr_expect_eq(metric(g_n.m.published), 1);
    cJSON_Delete(err);
    cJSON_Delete(ok);
    free_strs(reply, 2);
}

Test(node_sidecar, oversize_publish_optimum)
{
    too_big("optimum", "OPTIMUM_MAX_MSG_SIZE");
}

Test(node_sidecar, oversize_publish_gossipsub)
{
    too_big("gossipsub", "GOSSIPSUB_MAX_MSG_SIZE");
}

Test(node_sidecar, bad_requests_are_counted_not_fatal)
{
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    raw_message(c, "\xff\xff\xff\xff", 4); /* not a Request */
    request(c, 9, "t", NULL, 0);           /* unknown command */
    request(c, 0, "t", NULL, 0);
    request(c, 2, "", NULL, 0);     /* empty topic */
    request(c, 2, "a\nb", NULL, 0); /* control character */
    char longt[257];
    memset(longt, 'l', 256);
    longt[256] = 0;
    request(c, 2, longt, NULL, 0); /* 256 bytes: more than the router takes */
    request(c, 3, "", NULL, 0);
    cr_expect_eq(metric(g_n.m.dropped_bad_request), 7);
    cr_expect_eq(topics_of(c).n, 0);
    /* 255 bytes is fine */
    longt[255] = 0;
    request(c, 2, longt, NULL, 0);
    cr_expect_eq(topics_of(c).n, 1, "a 255-byte topic was refused");
    /* a subscribe (4 above) or publish with a bad topic is answered with
     * what is wrong */
    request(c, 1, "", "x", 1);
    longt[255] = 'l';
    request(c, 1, longt, "x", 1);
    WAIT_FOR(count_type(c, PROTO__RESPONSE_TYPE__Unknown) == 6);
    char *reply[6];
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Unknown, reply, 6), 6);
    for (int i = 0; i < 6; i++) {
        cJSON *r = json(reply[i]);
        cr_expect_str_eq(jstr(r, "status"), "error");
        cr_expect_str_eq(jstr(r, "error"),
                         "topic: expected 1..255 bytes of UTF-8 without control characters");
        cJSON_Delete(r);
    }
    free_strs(reply, 6);
    cr_expect_eq(metric(g_n.m.publish_errors), 2);
    cr_expect_eq(metric(g_n.m.sidecar_requests), 10);
}

Test(node_sidecar, subscribe_to_topics_lists)
{
    node_start();
    weft_grpc_call *a = call_new(M_LISTEN);
    request(a, 4, " x , y,z ,,", NULL, 0); /* comma-separated in topic */
    cr_expect_str_eq(topics_of(a).list, "x,y,z");
    weft_grpc_call *b = call_new(M_LISTEN);
    const char *arr = "[\"p\", \"q r\" ,\"s\"]"; /* a JSON array in data */
    request(b, 4, "", arr, strlen(arr));
    cr_expect_str_eq(topics_of(b).list, "p,q r,s");
    weft_grpc_call *c = call_new(M_LISTEN);
    const char *text = "m,n"; /* comma-separated text in data */
    request(c, 4, NULL, text, strlen(text));
    cr_expect_str_eq(topics_of(c).list, "m,n");
    /* a bad entry is counted, the others still subscribed */
    char list[400];
    char longt[258];
    memset(longt, 'l', 257);
    longt[257] = 0;
    snprintf(list, sizeof list, "k,%s,j", longt);
    weft_grpc_call *d = call_new(M_LISTEN);
    request(d, 4, list, NULL, 0);
    cr_expect_str_eq(topics_of(d).list, "k,j");
    cr_expect_eq(metric(g_n.m.dropped_bad_request), 1);
    /* and the request is answered once, naming how many and which */
    WAIT_FOR(count_type(d, PROTO__RESPONSE_TYPE__Unknown) == 1);
    char *reply[1];
    cr_assert_eq(of_type(d, PROTO__RESPONSE_TYPE__Unknown, reply, 1), 1);
    cJSON *r = json(reply[0]);
    cr_expect_str_eq(jstr(r, "error"),
                     "SubscribeToTopics: 1 of 3 topics refused (first: topic 2): expected 1..255 "
                     "bytes of UTF-8 without control characters");
    cJSON_Delete(r);
    free_strs(reply, 1);
}

Test(node_sidecar, unsubscribe_and_leaving)
{
    node_start();
    weft_grpc_call *a = call_new(M_LISTEN);
    weft_grpc_call *b = call_new(M_LISTEN);
    request(a, 2, "t", NULL, 0);
    request(a, 2, "t", NULL, 0); /* twice: once */
    request(b, 2, "t", NULL, 0);
    cr_expect_eq(topics_of(a).n, 1);
    request(a, 3, "t", NULL, 0);
    struct topics_of q = topics_of(a);
    cr_expect_eq(q.n, 0);
    cr_expect(q.subscribed_t, "left the topic while b still wants it");
    request(b, 1, "t", "m1", 2);
    WAIT_FOR(count_type(b, PROTO__RESPONSE_TYPE__Message) == 1);
    cr_expect_eq(count_type(a, PROTO__RESPONSE_TYPE__Message), 0, "delivered after unsubscribe");
    /* b goes away: the node leaves the topic */
    close_call(b, 1);
    q = topics_of(a);
    cr_expect_eq(q.nclients, 1);
    cr_expect(!q.subscribed_t, "the topic outlived its last client");
}

Test(node_sidecar, half_close)
{
    node_start();
    /* a publisher that is done: its stream is finished once replies are queued */
    weft_grpc_call *p = call_new(M_LISTEN);
    request(p, 1, "t", "hello", 5);
    g_srv.cfg.h.on_half_close(g_srv.cfg.user, p);
    settle();
    cr_expect(p->finished && p->status == WEFT_GRPC_OK, "publisher not finished");
    cr_expect_eq(count_type(p, PROTO__RESPONSE_TYPE__Unknown), 1, "reply lost");
    /* a subscriber that half-closes keeps its stream until it unsubscribes */
    weft_grpc_call *s = call_new(M_LISTEN);
    request(s, 2, "t", NULL, 0);
    g_srv.cfg.h.on_half_close(g_srv.cfg.user, s);
    settle();
    cr_expect(!s->finished, "a half-closed subscriber was finished");
    request(s, 3, "t", NULL, 0);
    settle();
    cr_expect(s->finished && s->status == WEFT_GRPC_OK);
}

Test(node_sidecar, health)
{
    node_start();
    weft_grpc_call *h = call_new(M_HEALTH);
    raw_message(h, "", 0);
    cr_assert_eq(nmsgs(h), 1);
    cr_expect(h->finished && h->status == WEFT_GRPC_OK);
    Proto__HealthResponse *r = proto__health_response__unpack(NULL, h->msgs[0].n, h->msgs[0].p);
    cr_assert_not_null(r);
    cr_expect(r->status);
    cr_expect_str_eq(r->nodemode, "optimum");
    cr_expect_str_eq(r->p2paddress, g_n.addrs[0]);
    cr_expect_str_eq(r->country, "Testland");
    cr_expect_str_eq(r->country_iso, "TL");
    cr_expect(r->memoryused >= 0 && r->memoryused <= 100);
    proto__health_response__free_unpacked(r, NULL);
    /* a stopping node says so */
    g_n.stopping = 1;
    weft_grpc_call *h2 = call_new(M_HEALTH);
    raw_message(h2, "", 0);
    r = proto__health_response__unpack(NULL, h2->msgs[0].n, h2->msgs[0].p);
    cr_assert_not_null(r);
    cr_expect(!r->status);
    proto__health_response__free_unpacked(r, NULL);
    g_n.stopping = 0;
}

Test(node_sidecar, list_topics)
{
    node_start();
    weft_grpc_call *a = call_new(M_LISTEN);
    request(a, 4, "one,two", NULL, 0);
    settle();
    weft_grpc_call *q = call_new(M_TOPICS);
    raw_message(q, "", 0);
    cr_assert_eq(nmsgs(q), 1);
    cr_expect(q->finished && q->status == WEFT_GRPC_OK);
    Proto__TopicList *tl = proto__topic_list__unpack(NULL, q->msgs[0].n, q->msgs[0].p);
    cr_assert_not_null(tl);
    cr_assert_eq(tl->n_topics, 2);
    int one = !strcmp(tl->topics[0], "one") || !strcmp(tl->topics[1], "one");
    int two = !strcmp(tl->topics[0], "two") || !strcmp(tl->topics[1], "two");
    cr_expect(one && two, "%s %s", tl->topics[0], tl->topics[1]);
    proto__topic_list__free_unpacked(tl, NULL);
}

/* Trace events of type on c, decoded; returns how many. */
static size_t
traces(weft_grpc_call *c, int rtype, int type, int64_t *ts)
{
    size_t k = 0, n = nmsgs(c);
    for (size_t i = 0; i < n; i++) {
        Proto__Response *r = response(c, i);
        if ((int)r->command == rtype) {
            Optimum__Pb__TraceEvent *e =
                optimum__pb__trace_event__unpack(NULL, r->data.len, r->data.data);
            cr_assert_not_null(e, "undecodable trace");
            if (e->has_type && (int)e->type == type) {
                k++;
                if (ts)
                    *ts = e->timestamp;
            }
            optimum__pb__trace_event__free_unpacked(e, NULL);
        }
        proto__response__free_unpacked(r, NULL);
    }
    return k;
}

Test(node_sidecar, traces_go_to_subscribed_clients)
{
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    weft_grpc_call *idle = call_new(M_LISTEN); /* no topics: no traces */
    /* traces go to clients with a topic: the JOIN of a client's first
     * topic happens before it has one, the JOIN of its second is seen */
    request(sub, 2, "t0", NULL, 0);
    request(sub, 2, "t", NULL, 0);
    request(sub, 1, "t", "traced", 6);
    WAIT_FOR(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                    OPTIMUM__PB__TRACE_EVENT__TYPE__PUBLISH_MESSAGE, NULL) == 1);
    int64_t ts = 0;
    cr_expect_eq(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                        OPTIMUM__PB__TRACE_EVENT__TYPE__PUBLISH_MESSAGE, &ts),
                 1);
    int64_t now = weft_unix_ns();
    cr_expect(ts > now - 10000 * MS && ts <= now, "trace time %lld is not unix ns (now %lld)",
              (long long)ts, (long long)now);
    cr_expect_geq(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                         OPTIMUM__PB__TRACE_EVENT__TYPE__JOIN, NULL),
                  1, "no JOIN trace");
    cr_expect_eq(count_type(idle, PROTO__RESPONSE_TYPE__MessageTraceMumP2P), 0);
    cr_expect_eq(nmsgs(idle), 0);
    /* traces are not deliveries */
    cr_expect_eq(metric(g_n.m.delivered_clients), 1);
    cr_expect_eq(metric(g_n.m.dropped_client_slow), 0);
}

struct rpc_trace {
    weft_peer_id peer;
    int type;
    int64_t later_ns; /* router time past now */
    const uint8_t *coeffs;
    size_t ncoeffs;
};

/* A trace event of the router, on the loop thread. */
static void
emit_rpc_trace(void *arg)
{
    struct rpc_trace *t = arg;
    weft_ps_trace ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t->type ? t->type : WEFT_TRACE_RECV_RPC;
    ev.ts_ns = weft_loop_now(g_n.loop) + t->later_ns;
    ev.self = weft_host_peer_id(g_n.host);
    ev.peer = &t->peer;
    ev.length = 42;
    ev.msg_id.p = (const uint8_t *)"id";
    ev.msg_id.len = 2;
    ev.coeffs.p = t->coeffs;
    ev.coeffs.len = t->ncoeffs;
    node_sidecar_trace(&g_n, &ev);
}

/* An RPC trace 2 s after the subscription's JOIN: past the window in which
 * the exchange after a JOIN streams, so only WEFT_TRACE_RPC passes it. */
static void
rpc_traces(int on)
{
    if (on)
        setenv("WEFT_TRACE_RPC", "true", 1);
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    request(sub, 2, "t", NULL, 0);
    settle();
    struct rpc_trace t;
    memset(&t, 0, sizeof t);
    t.peer = *weft_host_peer_id(g_n.host);
    t.later_ns = 2000000000LL;
    cr_assert_eq(weft_bridge_call(g_n.bridge, emit_rpc_trace, &t), 0);
    cr_expect_eq(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                        OPTIMUM__PB__TRACE_EVENT__TYPE__RECV_RPC, NULL),
                 on ? 1 : 0, "WEFT_TRACE_RPC=%d", on);
}

/* Without WEFT_TRACE_RPC a subscriber still sees its topic's JOIN and the
 * SEND_RPC of the exchange right after it (the guides show both). */
Test(node_sidecar, join_and_the_send_rpc_after_it_reach_the_subscriber)
{
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    request(sub, 2, "t", NULL, 0);
    settle();
    cr_expect_eq(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                        OPTIMUM__PB__TRACE_EVENT__TYPE__JOIN, NULL),
                 1, "the JOIN of the first topic");
    struct rpc_trace t;
    memset(&t, 0, sizeof t);
    t.peer = *weft_host_peer_id(g_n.host);
    t.type = WEFT_TRACE_SEND_RPC;
    cr_assert_eq(weft_bridge_call(g_n.bridge, emit_rpc_trace, &t), 0);
    cr_expect_eq(traces(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P,
                        OPTIMUM__PB__TRACE_EVENT__TYPE__SEND_RPC, NULL),
                 1, "SEND_RPC inside the window after JOIN");
}

Test(node_sidecar, rpc_traces_off_by_default)
{
    rpc_traces(0);
}

Test(node_sidecar, rpc_traces_with_weft_trace_rpc)
{
    rpc_traces(1);
}

Test(node_sidecar, gossipsub_traces_have_their_type)
{
    setenv("NODE_MODE", "gossipsub", 1);
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    request(sub, 2, "t", NULL, 0);
    request(sub, 1, "t", "x", 1);
    WAIT_FOR(count_type(sub, PROTO__RESPONSE_TYPE__Message) == 1);
    settle();
    cr_expect_gt(count_type(sub, PROTO__RESPONSE_TYPE__MessageTraceGossipSub), 0);
    cr_expect_eq(count_type(sub, PROTO__RESPONSE_TYPE__MessageTraceMumP2P), 0);
}

Test(node_sidecar, slow_client_deliveries_are_dropped_and_counted)
{
    setenv("WEFT_CLIENT_QUEUE_BYTES", "1048576", 1);
    node_start();
    weft_grpc_call *sub = call_new(M_LISTEN);
    weft_grpc_call *pub = call_new(M_LISTEN);
    request(sub, 2, "t", NULL, 0);
    settle();
    /* sub never reads: the first trace is in flight, then 1 MiB may wait;
     * a delivery of 300000 bytes is a 400 KB JSON (base64), so two wait
     * and the third and fourth do not fit */
    static uint8_t body[300000];
    for (int i = 0; i < 4; i++) {
        memset(body, 'a' + i, sizeof body);
        request(pub, 1, "t", body, sizeof body);
    }
    WAIT_FOR(count_type(pub, PROTO__RESPONSE_TYPE__Unknown) == 4);
    settle();
    cr_expect_eq(count_type(sub, PROTO__RESPONSE_TYPE__Message), 2);
    cr_expect_eq(metric(g_n.m.delivered_clients), 2);
    cr_expect_eq(metric(g_n.m.dropped_client_slow), 2, "drops of a slow client are counted");
    cr_expect_eq(metric(g_n.m.published), 4, "a slow subscriber does not fail the publish");
    /* a trace that does not fit is dropped too, but is not a delivery */
    static uint8_t coeffs[300000];
    struct rpc_trace t;
    memset(&t, 0, sizeof t);
    t.peer = *weft_host_peer_id(g_n.host);
    t.type = WEFT_TRACE_NEW_SHARD;
    t.coeffs = coeffs;
    t.ncoeffs = sizeof coeffs;
    size_t before = nmsgs(sub);
    cr_assert_eq(weft_bridge_call(g_n.bridge, emit_rpc_trace, &t), 0);
    cr_expect_eq(nmsgs(sub), before, "a 300 KB trace fitted in a full queue");
    cr_expect_eq(metric(g_n.m.dropped_client_slow), 2, "a dropped trace counted as a delivery");
    /* once it has read its queue it gets messages again */
    drain(sub);
    memset(body, 'z', sizeof body);
    request(pub, 1, "t", body, sizeof body);
    WAIT_FOR(count_type(sub, PROTO__RESPONSE_TYPE__Message) == 3);
    cr_expect_eq(metric(g_n.m.delivered_clients), 3);
    cr_expect_eq(metric(g_n.m.dropped_client_slow), 2);
}

/* Keep the loop thread busy in a closure until release_loop (a loop stays
 * on the thread that first ran it: io_uring's single issuer). */
static pthread_mutex_t g_hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_hold_cv = PTHREAD_COND_INITIALIZER;
static int g_held, g_release;

static void
hold(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_hold_mu);
    g_held = 1;
    pthread_cond_broadcast(&g_hold_cv);
    while (!g_release)
        pthread_cond_wait(&g_hold_cv, &g_hold_mu);
    pthread_mutex_unlock(&g_hold_mu);
}

static void
hold_loop(void)
{
    cr_assert_eq(weft_bridge_post(g_n.bridge, hold, NULL), 0);
    pthread_mutex_lock(&g_hold_mu);
    while (!g_held)
        pthread_cond_wait(&g_hold_cv, &g_hold_mu);
    pthread_mutex_unlock(&g_hold_mu);
}

static void
release_loop(void)
{
    pthread_mutex_lock(&g_hold_mu);
    g_release = 1;
    pthread_cond_broadcast(&g_hold_cv);
    pthread_mutex_unlock(&g_hold_mu);
}

Test(node_sidecar, overload_is_refused_not_queued_forever)
{
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    settle();
    hold_loop(); /* nothing drains the loop's queue now */
    /* fill the 65536 closures of the bridge, and one more */
    for (int i = 0; i < 65537; i++)
        request(c, 2, "t", NULL, 0);
    cr_expect_eq(metric(g_n.m.dropped_overload), 1);
    request(c, 1, "t", "x", 1);
    cr_expect_eq(metric(g_n.m.dropped_overload), 2);
    char *reply[1];
    cr_assert_eq(of_type(c, PROTO__RESPONSE_TYPE__Unknown, reply, 1), 1,
                 "an overloaded publish must be answered at once");
    cJSON *r = json(reply[0]);
    cr_expect_str_eq(jstr(r, "error"), "node overloaded: publish queue full, retry");
    cJSON_Delete(r);
    free_strs(reply, 1);
    release_loop();
    WAIT_FOR(weft_bridge_depth(g_n.bridge) == 0);
    cr_expect_eq(topics_of(c).n, 1, "the queued subscribes ran");
}

Test(node_sidecar, a_topic_limit_per_client)
{
    node_start();
    weft_grpc_call *c = call_new(M_LISTEN);
    for (int i = 0; i < NODE_MAX_CLIENT_TOPICS + 1; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        request(c, 2, t, NULL, 0);
    }
    cr_expect_eq(topics_of(c).n, NODE_MAX_CLIENT_TOPICS);
    /* the refusal is told to the client, not only logged */
    WAIT_FOR(last_response_has(c, "\"command\":\"subscribe\""));
    cr_expect(last_response_has(c, "\"topic\":\"t1024\""));
    cr_expect(last_response_has(c, "too many topics"));
    /* a flood of refused topics is told a few times, then only counted */
    for (int i = 0; i < 200; i++) {
        char t[16];
        snprintf(t, sizeof t, "x%d", i);
        request(c, 2, t, NULL, 0);
    }
    settle();
    cr_expect_eq(count_type(c, PROTO__RESPONSE_TYPE__Unknown), NODE_REFUSALS_TOLD);
}
