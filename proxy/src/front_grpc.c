/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ProxyStream on PROXY_GRPC_PORT: ClientStream (the first message names the
 * client, type "subscribe" with a topic subscribes it; later messages may
 * publish or subscribe; deliveries of all its subscriptions come back as
 * ProxyMessage{type "message"}), Publish, Subscribe, ExposeNodes. With
 * auth on, the "authorization" metadata carries the Bearer token.
 *
 * A publish is answered once the node replied, with the node's message id
 * (the mesh id subscribers get): Publish with its PublishResponse, a
 * ClientStream publish with ProxyMessage{type "published", topic,
 * message_id} on the stream (type "error" and the reason in message when
 * it failed). The answer is sent from the pool's thread; the call is held
 * by a reference until then. gRPC publishes have no timestamp, so each is
 * a new message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "proxy.h"
#include "proxy_stream.pb-c.h"
#include "weft/pb.h"
#include "weft/log.h"
#include "weft/pb.h"
#include "weft/rng.h"

/* The guides' gateway client names the same stream GatewayStream (its
 * GatewayMessage is ProxyMessage field for field): ClientStream, and
 * Stream in newer clients, both served as ProxyStream/ClientStream. */
enum { G_STREAM, G_PUBLISH, G_SUBSCRIBE, G_EXPOSE, G_GW_CLIENT, G_GW_STREAM };
static const char *const methods[] = {
    "/proto.ProxyStream/ClientStream",   "/proto.ProxyStream/Publish",
    "/proto.ProxyStream/Subscribe",      "/proto.ProxyStream/ExposeNodes",
    "/proto.GatewayStream/ClientStream", "/proto.GatewayStream/Stream",
};

static int
method_of(weft_grpc_call *c)
{
    int m = weft_grpc_call_method(c);
    return m == G_GW_CLIENT || m == G_GW_STREAM ? G_STREAM : m;
}

struct gclient {
    char id[PX_ID_MAX + 1];
    int attached;
};

/* The client id: the token's subject with auth, else the one given. */
static int
who(proxy *p, weft_grpc_call *c, const char *given, char *out, size_t cap, size_t bytes,
    int publishing, char *why, size_t whycap)
{
    if (p->cfg.enable_auth) {
        char authz[16384 + 16];
        int n = weft_grpc_call_metadata(c, "authorization", authz, sizeof authz);
        weft_http_resp r = {0};
        int st = px_auth_check(p, n > 0 ? authz : NULL, n > 0 ? (size_t)n : 0, out, cap, bytes,
                               publishing, &r);
        if (st) {
            snprintf(why, whycap, "%.*s", (int)(r.body_len > 200 ? 200 : r.body_len),
                     r.body ? r.body : "unauthenticated");
            free(r.body);
            return st == 429   ? WEFT_GRPC_RESOURCE_EXHAUSTED
                   : st == 413 ? WEFT_GRPC_INVALID_ARGUMENT
                               : WEFT_GRPC_UNAUTHENTICATED;
        }
        if (given && *given && strcmp(given, out)) {
            snprintf(why, whycap, "client_id does not match the token's subject");
            return WEFT_GRPC_UNAUTHENTICATED;
        }
        return 0;
    }
    if (!weft_text_ok(given, PX_ID_MAX)) {
        snprintf(why, whycap, "missing client ID");
        return WEFT_GRPC_INVALID_ARGUMENT;
    }
    snprintf(out, cap, "%s", given);
    return 0;
}

/* protobuf-c decodes strings to C strings: a NUL inside a topic or a
 * client id would cut it short (aliasing another). 1 with the call
 * finished when one of the string fields holds a NUL, or when the bytes
 * protobuf-c let through are not protobuf (a varint past 64 bits, field
 * number 0 or past 2^29 - 1): those are not trusted either, as the
 * node's sidecar does. */
static int
nul_refused(weft_grpc_call *c, const ProtobufCMessage *m, const uint8_t *b, size_t n,
            const uint32_t *fields, size_t nf)
{
    int num = weft_pb_find_nul(b, n, fields, nf);
    if (num < 0) {
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT,
                              "malformed protobuf (a varint past 64 bits, or a field number 0 or "
                              "past 2^29-1)");
        return 1;
    }
    if (num == 0)
        return 0;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(m->descriptor, (unsigned)num);
    char why[128];
    snprintf(why, sizeof why, "%s: expected no NUL byte", fd ? fd->name : "string field");
    weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, why);
    return 1;
}

static void
send_pb(weft_grpc_call *c, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    protobuf_c_message_pack(m, buf);
    WEFT_IGNORE(weft_grpc_call_send(c, buf, n));
    free(buf);
}

/* The strings and payload are not const: protobuf-c's message fields are
 * plain pointers (the packer only reads them), and they point into the
 * engine's entry and client records. */
int
px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload, size_t len)
{
    Proto__ProxyMessage pm;
    proto__proxy_message__init(&pm);
    pm.client_id = client;
    pm.message.data = payload;
    pm.message.len = len;
    pm.topic = topic;
    pm.message_id = msgid;
    pm.type = (char *)"message";
    size_t plen = proto__proxy_message__get_packed_size(&pm);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (!buf)
        return -ENOMEM;
    proto__proxy_message__pack(&pm, buf);
    int rc = weft_grpc_call_send(call, buf, plen);
    free(buf);
    return rc;
}

/* A gRPC publish in flight. */
struct gpub {
    proxy *p;
    weft_grpc_call *call; /* a reference, dropped when answered */
    int unary;
    size_t size;
    char client[PX_ID_MAX + 1];
    char topic[PX_TOPIC_MAX + 1];
};

static void
gpub_done(void *user, int rc, const char *text)
{
    struct gpub *g = user;
    char t[256]; /* protobuf-c takes plain pointers */
    snprintf(t, sizeof t, "%s", text ? text : "publish failed");
    if (rc == 0)
        px_stats_published(g->p, g->client, g->topic, g->size);
    else if (rc != WEFT_EPROTO) /* the pool counted a refusal */
        px_stats_publish_error(g->p, rc == -ETIMEDOUT    ? PX_PERR_LOST
                                     : rc == WEFT_ELIMIT ? PX_PERR_OVERLOADED
                                                         : PX_PERR_NO_NODE);
    if (g->unary && rc == 0) {
        Proto__PublishResponse out;
        proto__publish_response__init(&out);
        out.status = (char *)"published";
        out.topic = g->topic;
        out.client_id = g->client;
        out.message_id = t;
        send_pb(g->call, &out.base);
        weft_grpc_call_finish(g->call, WEFT_GRPC_OK, "");
    } else if (g->unary) {
        weft_grpc_call_finish(g->call, WEFT_GRPC_UNAVAILABLE, t);
    } else {
        Proto__ProxyMessage pm;
        proto__proxy_message__init(&pm);
        pm.client_id = g->client;
        pm.topic = g->topic;
        pm.type = rc == 0 ? (char *)"published" : (char *)"error";
        if (rc == 0) {
            pm.message_id = t;
        } else {
            pm.message.data = (uint8_t *)t;
            pm.message.len = strlen(t);
        }
        send_pb(g->call, &pm.base);
    }
    weft_grpc_call_unref(g->call);
    free(g);
}

/* Publish for a gRPC call; 0 once queued (gpub_done answers), else < 0. */
static int
grpc_publish(proxy *p, weft_grpc_call *c, int unary, const char *client, const char *topic,
             const uint8_t *data, size_t len)
{
    struct gpub *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->p = p;
    g->call = c;
    g->unary = unary;
    g->size = len;
    snprintf(g->client, sizeof g->client, "%s", client);
    snprintf(g->topic, sizeof g->topic, "%s", topic);
    weft_grpc_call_ref(c);
    int rc = px_pool_publish(p->pool, topic, data, len, gpub_done, g);
    if (rc < 0) {
        weft_grpc_call_unref(c);
        free(g);
    }
    return rc;
}

static void
on_stream_message(proxy *p, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    struct gclient *g = weft_grpc_call_user(c);
    Proto__ProxyMessage *m = proto__proxy_message__unpack(NULL, n, b);
    if (!m || !g) {
        if (m)
            proto__proxy_message__free_unpacked(m, NULL);
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, "undecodable ProxyMessage");
        return;
    }
    static const uint32_t pm_strings[] = {1, 3, 4, 5};
    if (nul_refused(c, &m->base, b, n, pm_strings, 4))
        goto out;
    char why[256];
    int publishing = m->type && !strcmp(m->type, "publish");
    if (!g->attached) {
        int st = who(p, c, m->client_id, g->id, sizeof g->id, m->message.len, publishing, why,
                     sizeof why);
        if (st) {
            weft_grpc_call_finish(c, st, why);
            goto out;
        }
        if (px_engine_attach(p->engine, g->id, PX_SINK_GRPC, c) < 0) {
            weft_grpc_call_finish(c, WEFT_GRPC_RESOURCE_EXHAUSTED, "too many streams");
            goto out;
        }
        weft_grpc_call_ref(c); /* the engine's reference, dropped at detach */
        g->attached = 1;
        weft_metric_gauge_add(p->m.grpc_clients, 1);
    } else if (publishing && p->cfg.enable_auth) {
        char sub[PX_ID_MAX + 1];
        int st = who(p, c, g->id, sub, sizeof sub, m->message.len, 1, why, sizeof why);
        if (st) {
            weft_grpc_call_finish(c, st, why);
            goto out;
        }
    }
    if (publishing) {
        int rc = 0;
        if (!weft_text_ok(m->topic, PX_TOPIC_MAX) || px_topic_reserved(m->topic))
            px_stats_publish_error(p, PX_PERR_INVALID);
        else if ((long long)m->message.len > p->cfg.max_message)
            px_stats_publish_error(p, PX_PERR_TOO_LARGE);
        else if ((rc = grpc_publish(p, c, 0, g->id, m->topic, m->message.data, m->message.len)) < 0)
            px_stats_publish_error(p, rc == WEFT_ELIMIT ? PX_PERR_OVERLOADED : PX_PERR_NO_NODE);
    } else if (m->topic && m->topic[0]) {
        if (weft_text_ok(m->topic, PX_TOPIC_MAX))
            WEFT_IGNORE(px_engine_subscribe(p->engine, g->id, m->topic, p->cfg.threshold, 1));
    }
out:
    proto__proxy_message__free_unpacked(m, NULL);
}

static void
on_publish(proxy *p, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    Proto__PublishRequest *r = proto__publish_request__unpack(NULL, n, b);
    if (!r) {
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, "undecodable PublishRequest");
        return;
    }
    static const uint32_t pr_strings[] = {1, 2};
    if (nul_refused(c, &r->base, b, n, pr_strings, 2)) {
        proto__publish_request__free_unpacked(r, NULL);
        return;
    }
    char id[PX_ID_MAX + 1], why[256];
    int st = who(p, c, r->client_id, id, sizeof id, r->message.len, 1, why, sizeof why);
    int type = PX_PERR_INVALID;
    if (!st && !weft_text_ok(r->topic, PX_TOPIC_MAX)) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why,
                 r->topic && r->topic[0]
                     ? "topic: expected 1..255 bytes of UTF-8 without control characters"
                     : "missing topic");
    }
    if (!st && px_topic_reserved(r->topic)) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why, "topic: names starting with \"%s\" are reserved",
                 PX_RESERVED_PREFIX);
    }
    if (!st && (long long)r->message.len > p->cfg.max_message) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        type = PX_PERR_TOO_LARGE;
        snprintf(why, sizeof why, "message too large: %zu bytes, at most %lld", r->message.len,
                 p->cfg.max_message);
    }
    int prc = st ? 0 : grpc_publish(p, c, 1, id, r->topic, r->message.data, r->message.len);
    if (!st && prc < 0) {
        st = prc == WEFT_ELIMIT ? WEFT_GRPC_RESOURCE_EXHAUSTED : WEFT_GRPC_UNAVAILABLE;
        type = prc == WEFT_ELIMIT ? PX_PERR_OVERLOADED : PX_PERR_NO_NODE;
        snprintf(why, sizeof why, "%s",
                 prc == WEFT_ELIMIT ? "overloaded: every node's publish queue is full; retry"
                                    : "no node available to publish to");
    }
    if (st) {
        px_stats_publish_error(p, type);
        weft_grpc_call_finish(c, st, why);
    } /* else gpub_done answers with the node's id */
    proto__publish_request__free_unpacked(r, NULL);
}

static void
on_subscribe(proxy *p, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    Proto__SubscribeRequest *r = proto__subscribe_request__unpack(NULL, n, b);
    if (!r) {
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, "undecodable SubscribeRequest");
        return;
    }
    static const uint32_t sr_strings[] = {1, 2, 4};
    if (nul_refused(c, &r->base, b, n, sr_strings, 3)) {
        proto__subscribe_request__free_unpacked(r, NULL);
        return;
    }
    char id[PX_ID_MAX + 1], why[256];
    int st = who(p, c, r->client_id, id, sizeof id, 0, 0, why, sizeof why);
    double t = r->threshold > 0 ? r->threshold : p->cfg.threshold;
    if (!st && !(t >= 0.1 - 1e-6 && t <= 1.0)) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why, "threshold: expected a number in [0.1, 1.0]");
    }
    /* Every topic given must be valid: none is skipped in silence. */
    for (size_t i = 0; !st && i <= r->n_topics; i++) {
        const char *tp = i < r->n_topics ? r->topics[i] : r->topic;
        if (tp && tp[0] && !weft_text_ok(tp, PX_TOPIC_MAX)) {
            st = WEFT_GRPC_INVALID_ARGUMENT;
            snprintf(why, sizeof why,
                     "topic %zu: expected 1..255 bytes of UTF-8 without control characters",
                     i < r->n_topics ? i + 1 : 0);
        }
    }
    size_t ok = 0;
    if (!st) {
        if (weft_text_ok(r->topic, PX_TOPIC_MAX) &&
            px_engine_subscribe(p->engine, id, r->topic, t, 0) == 0)
            ok++;
        for (size_t i = 0; i < r->n_topics; i++)
            if (weft_text_ok(r->topics[i], PX_TOPIC_MAX) &&
                px_engine_subscribe(p->engine, id, r->topics[i], t, 0) == 0)
                ok++;
        if (!ok) {
            st = WEFT_GRPC_INVALID_ARGUMENT;
            snprintf(why, sizeof why, "missing topic");
        }
    }
    if (st) {
        weft_grpc_call_finish(c, st, why);
    } else {
        Proto__SubscribeResponse out;
        proto__subscribe_response__init(&out);
        out.status = (char *)"subscribed";
        out.topic = r->topic;
        out.client_id = id;
        send_pb(c, &out.base);
        weft_grpc_call_finish(c, WEFT_GRPC_OK, "");
    }
    proto__subscribe_request__free_unpacked(r, NULL);
}

static void
on_expose(proxy *p, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    Proto__ExposeNodesRequest *r = proto__expose_nodes_request__unpack(NULL, n, b);
    if (!r) {
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, "undecodable ExposeNodesRequest");
        return;
    }
    /* Node addresses are for authenticated clients only. */
    char sub[PX_ID_MAX + 1], why[256];
    int st = p->cfg.enable_auth ? who(p, c, NULL, sub, sizeof sub, 0, 0, why, sizeof why) : 0;
    if (st) {
        weft_grpc_call_finish(c, st, why);
        proto__expose_nodes_request__free_unpacked(r, NULL);
        return;
    }
    px_node_info info[PX_MAX_NODES];
    size_t k = px_pool_info(p->pool, info, PX_MAX_NODES);
    char *nodes[PX_MAX_NODES], *p2p[PX_MAX_NODES];
    size_t nn = 0, np = 0, want = r->expose_amount ? r->expose_amount : k;
    for (size_t i = 0; i < k && nn < want; i++) {
        if (!info[i].healthy)
            continue;
        nodes[nn++] = info[i].addr;
        if (info[i].p2p[0])
            p2p[np++] = info[i].p2p;
    }
    Proto__ExposeNodesResponse out = PROTO__EXPOSE_NODES_RESPONSE__INIT;
    out.n_nodes = nn;
    out.nodes = nodes;
    out.n_nodesoptp2p = np;
    out.nodesoptp2p = p2p;
    send_pb(c, &out.base);
    weft_grpc_call_finish(c, WEFT_GRPC_OK, "");
    proto__expose_nodes_request__free_unpacked(r, NULL);
}

static void
g_open(void *user, weft_grpc_call *c, int method)
{
    (void)user;
    if (method == G_STREAM || method == G_GW_CLIENT || method == G_GW_STREAM)
        weft_grpc_call_set_user(c, calloc(1, sizeof(struct gclient)));
    weft_log(WEFT_LOG_DEBUG, "grpc", "msg=\"call opened\" method=%s peer=%s",
             method >= 0 && (size_t)method < sizeof methods / sizeof *methods ? methods[method]
                                                                              : "?",
             weft_grpc_call_peer(c));
}

static void
g_message(void *user, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    proxy *p = user;
    int64_t t0 = weft_mono_ns();
    int m = method_of(c);
    switch (m) {
    case G_STREAM: on_stream_message(p, c, b, n); break;
    case G_PUBLISH: on_publish(p, c, b, n); break;
    case G_SUBSCRIBE: on_subscribe(p, c, b, n); break;
    case G_EXPOSE: on_expose(p, c, b, n); break;
    default: break;
    }
    if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG)) {
        /* the topic, decoded again only for the debug line */
        char topic[PX_TOPIC_MAX * 6 + 1] = "";
        if (m == G_STREAM) {
            Proto__ProxyMessage *pm = proto__proxy_message__unpack(NULL, n, b);
            if (pm && pm->topic)
                weft_json_escape(pm->topic, strnlen(pm->topic, PX_TOPIC_MAX), topic);
            if (pm)
                proto__proxy_message__free_unpacked(pm, NULL);
        } else if (m == G_PUBLISH || m == G_SUBSCRIBE) {
            Proto__PublishRequest *pr =
                m == G_PUBLISH ? proto__publish_request__unpack(NULL, n, b) : NULL;
            Proto__SubscribeRequest *sr =
                m == G_SUBSCRIBE ? proto__subscribe_request__unpack(NULL, n, b) : NULL;
            const char *t = pr ? pr->topic : sr ? sr->topic : NULL;
            if (t)
                weft_json_escape(t, strnlen(t, PX_TOPIC_MAX), topic);
            if (pr)
                proto__publish_request__free_unpacked(pr, NULL);
            if (sr)
                proto__subscribe_request__free_unpacked(sr, NULL);
        }
        weft_log(WEFT_LOG_DEBUG, "grpc",
                 "msg=\"request\" method=%s peer=%s topic=\"%s\" bytes=%zu duration_us=%lld",
                 methods[weft_grpc_call_method(c)], weft_grpc_call_peer(c), topic, n,
                 (long long)((weft_mono_ns() - t0) / 1000));
    }
}

static void
g_close(void *user, weft_grpc_call *c, int cancelled)
{
    proxy *p = user;
    struct gclient *g = weft_grpc_call_user(c);
    weft_log(WEFT_LOG_DEBUG, "grpc", "msg=\"call closed\" peer=%s cancelled=%d client=\"%s\"",
             weft_grpc_call_peer(c), cancelled, g ? g->id : "");
    if (!g)
        return;
    if (g->attached) {
        px_engine_detach(p->engine, g->id, PX_SINK_GRPC, c);
        weft_metric_gauge_add(p->m.grpc_clients, -1);
        weft_grpc_call_unref(c);
    }
    weft_grpc_call_set_user(c, NULL);
    free(g);
}

int
px_grpc_start(proxy *p)
{
    char addr[128];
    snprintf(addr, sizeof addr, "%s:%d", p->cfg.listen_ip, p->cfg.grpc_port);
    weft_grpc_config gc = {
        .addr = addr,
        .methods = methods,
        .nmethods = sizeof methods / sizeof *methods,
        .max_recv_message = p->cfg.max_message + 65536,
        .max_queued_bytes = (size_t)p->cfg.client_queue,
        .h = {.on_open = g_open, .on_message = g_message, .on_close = g_close},
        .user = p,
    };
    int err = 0;
    p->grpc = weft_grpc_start(&gc, &err);
    if (!p->grpc) {
        fprintf(stderr, "weft-proxy: gRPC on %s (PROXY_GRPC_PORT): cannot listen (%s)\n", addr,
                weft_strerror(err));
        return err ? err : WEFT_EINVAL;
    }
    return 0;
}

void
px_grpc_stop(proxy *p)
{
    weft_grpc_stop(p->grpc);
    p->grpc = NULL;
}
