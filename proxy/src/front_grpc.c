/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ProxyStream on PROXY_GRPC_PORT: ClientStream (the first message names the
 * client, type "subscribe" with a topic subscribes it; later messages may
 * publish or subscribe; deliveries of all its subscriptions come back as
 * ProxyMessage{type "message"}), Publish, Subscribe, ExposeNodes. With
 * auth on, the "authorization" metadata carries the Bearer token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "proxy.h"
#include "proxy_stream.pb-c.h"
#include "weft/log.h"
#include "weft/rng.h"

enum { G_STREAM, G_PUBLISH, G_SUBSCRIBE, G_EXPOSE };
static const char *const methods[] = {
    "/proto.ProxyStream/ClientStream",
    "/proto.ProxyStream/Publish",
    "/proto.ProxyStream/Subscribe",
    "/proto.ProxyStream/ExposeNodes",
};

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
        if (!weft_text_ok(m->topic, PX_TOPIC_MAX) ||
            (long long)m->message.len > p->cfg.max_message ||
            px_pool_publish(p->pool, m->topic, m->message.data, m->message.len) < 0)
            weft_metric_inc(p->m.publish_errors);
        else
            weft_metric_inc(p->m.published);
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
    char id[PX_ID_MAX + 1], why[256];
    int st = who(p, c, r->client_id, id, sizeof id, r->message.len, 1, why, sizeof why);
    if (!st && !weft_text_ok(r->topic, PX_TOPIC_MAX)) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why, "missing topic");
    }
    if (!st && (long long)r->message.len > p->cfg.max_message) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why, "message too large: %zu bytes, at most %lld", r->message.len,
                 p->cfg.max_message);
    }
    if (!st && px_pool_publish(p->pool, r->topic, r->message.data, r->message.len) < 0) {
        st = WEFT_GRPC_UNAVAILABLE;
        snprintf(why, sizeof why, "no node available to publish to");
    }
    if (st) {
        weft_metric_inc(p->m.publish_errors);
        weft_grpc_call_finish(c, st, why);
    } else {
        weft_metric_inc(p->m.published);
        char nonce[48], hex[65];
        uint32_t salt = 0;
        WEFT_IGNORE(weft_random_bytes(&salt, sizeof salt)); /* a clock-only nonce still works */
        snprintf(nonce, sizeof nonce, "grpc:%lld:%u", (long long)weft_mono_ms(), salt);
        px_message_id(id, r->topic, nonce, r->message.data, r->message.len, hex);
        Proto__PublishResponse out;
        proto__publish_response__init(&out);
        out.status = (char *)"published";
        out.topic = r->topic;
        out.client_id = id;
        out.message_id = hex;
        send_pb(c, &out.base);
        weft_grpc_call_finish(c, WEFT_GRPC_OK, "");
    }
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
    char id[PX_ID_MAX + 1], why[256];
    int st = who(p, c, r->client_id, id, sizeof id, 0, 0, why, sizeof why);
    double t = r->threshold > 0 ? r->threshold : p->cfg.threshold;
    if (!st && !(t >= 0.1 - 1e-6 && t <= 1.0)) {
        st = WEFT_GRPC_INVALID_ARGUMENT;
        snprintf(why, sizeof why, "threshold: expected a number in [0.1, 1.0]");
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
    if (method == G_STREAM)
        weft_grpc_call_set_user(c, calloc(1, sizeof(struct gclient)));
}

static void
g_message(void *user, weft_grpc_call *c, const uint8_t *b, size_t n)
{
    proxy *p = user;
    switch (weft_grpc_call_method(c)) {
    case G_STREAM: on_stream_message(p, c, b, n); break;
    case G_PUBLISH: on_publish(p, c, b, n); break;
    case G_SUBSCRIBE: on_subscribe(p, c, b, n); break;
    case G_EXPOSE: on_expose(p, c, b, n); break;
    default: break;
    }
}

static void
g_close(void *user, weft_grpc_call *c, int cancelled)
{
    (void)cancelled;
    proxy *p = user;
    struct gclient *g = weft_grpc_call_user(c);
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
