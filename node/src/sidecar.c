/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC sidecar (service proto.CommandStream on SIDECAR_PORT).
 *
 * ListenCommands is one stream per client: Requests (publish, subscribe,
 * unsubscribe, subscribe-many) are decoded on gRPC's thread and handed to
 * the loop thread as closures, in order; a publish is answered with one
 * Response whose data is JSON with the message id; deliveries for the
 * client's topics and this node's trace events go back on the same stream.
 * Health answers from gRPC's thread; ListTopics asks the loop thread.
 *
 * Nothing a client sends can take the node down: undecodable requests,
 * unknown commands, bad topics and oversize messages are answered or
 * logged and counted, and a client that reads too slowly has deliveries
 * dropped (counted) once WEFT_CLIENT_QUEUE_BYTES are waiting for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "optimum_trace.pb-c.h"
#include "p2p_stream.pb-c.h"
#include "weft/log.h"
#include "weft/encoding.h"

enum { M_LISTEN, M_HEALTH, M_TOPICS };
static const char *const methods[] = {
    "/proto.CommandStream/ListenCommands",
    "/proto.CommandStream/Health",
    "/proto.CommandStream/ListTopics",
};

/* The longest topic the router takes (weft_ps_subscribe and weft_ps_publish
 * refuse 256 bytes and more); checked here so that clients get this error
 * rather than a refused subscribe or a misleading publish reply. */
#define TOPIC_MAX 255

struct cmd {
    sc_client *c;
    int kind; /* 1 publish, 2 subscribe, 3 unsubscribe */
    char *topic;
    uint8_t *data;
    size_t len;
};

/* ---- replies ------------------------------------------------------------------------ */

/* data is not const: protobuf-c's message fields are plain pointers (the
 * packer only reads them). */
static void
send_response(weft_grpc_call *call, int type, uint8_t *data, size_t len)
{
    Proto__Response r = PROTO__RESPONSE__INIT;
    r.command = (Proto__ResponseType)type;
    r.data.data = data;
    r.data.len = len;
    size_t n = proto__response__get_packed_size(&r);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    proto__response__pack(&r, buf);
    WEFT_IGNORE(weft_grpc_call_send(call, buf, n));
    free(buf);
}

/* The JSON reply to a publish: {"status":"published",...,"message_id":idhex},
 * or with error set {"status":"error",...,"error":error}. */
static void
reply_publish(weft_grpc_call *call, const char *topic, const char *idhex, const char *error)
{
    char t[TOPIC_MAX * 6 + 1];
    weft_json_escape(topic, strlen(topic), t);
    char body[TOPIC_MAX * 6 + 512];
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"topic\":\"%s\",\"%s\":\"%s\"}",
                     error ? "error" : "published", t, error ? "error" : "message_id",
                     error ? error : idhex);
    send_response(call, PROTO__RESPONSE_TYPE__Unknown, (uint8_t *)body, (size_t)n);
}

/* ---- loop-thread closures ---------------------------------------------------------------- */

static void
client_open(void *arg)
{
    sc_client *c = arg;
    node *n = c->n;
    c->next = n->clients;
    if (n->clients)
        n->clients->prev = c;
    n->clients = c;
    n->nclients++;
    weft_metric_set(n->m.clients, (double)n->nclients);
}

static void
client_close(void *arg)
{
    sc_client *c = arg;
    node *n = c->n;
    if (c->prev)
        c->prev->next = c->next;
    else if (n->clients == c)
        n->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->nclients--;
    weft_metric_set(n->m.clients, (double)n->nclients);
    if (n->ps)
        node_client_gone(n, c);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    weft_grpc_call_unref(c->call);
    free(c);
}

static void
client_half_close(void *arg)
{
    sc_client *c = arg;
    c->half_closed = 1;
    if (!c->ntopics) /* a publisher that is done: its replies are queued already */
        weft_grpc_call_finish(c->call, WEFT_GRPC_OK, "");
}

static void
run_cmd(void *arg)
{
    struct cmd *k = arg;
    node *n = k->c->n;
    if (!n->ps)
        goto out;
    if (k->kind == 1) {
        char idhex[129];
        int rc = node_publish(n, k->topic, k->data, k->len, idhex);
        if (rc < 0) {
            weft_metric_inc(n->m.publish_errors);
            char why[160];
            if (rc == WEFT_EINVAL && n->cfg.mode == NODE_OPTIMUM)
                snprintf(why, sizeof why,
                         "duplicate message: the same content was published "
                         "already (its id is the SHA-256 of the content)");
            else
                snprintf(why, sizeof why, "publish failed: %s", weft_strerror(rc));
            reply_publish(k->c->call, k->topic, NULL, why);
        } else {
            weft_metric_inc(n->m.published);
            reply_publish(k->c->call, k->topic, idhex, NULL);
        }
    } else if (k->kind == 2) {
        int rc = node_client_subscribe(n, k->c, k->topic);
        if (rc < 0)
            weft_log(WEFT_LOG_WARN, "sidecar",
                     "msg=\"subscribe refused\" client=%llu topic=\"%s\" "
                     "err=\"%s\"",
                     (unsigned long long)k->c->id, k->topic, weft_strerror(rc));
        else
            weft_log(WEFT_LOG_DEBUG, "sidecar", "msg=\"subscribed\" client=%llu topic=\"%s\"",
                     (unsigned long long)k->c->id, k->topic);
    } else if (k->kind == 3) {
        node_client_unsubscribe(n, k->c, k->topic);
        if (k->c->half_closed && !k->c->ntopics)
            weft_grpc_call_finish(k->c->call, WEFT_GRPC_OK, "");
    }
out:
    free(k->topic);
    free(k->data);
    free(k);
}

/* ---- requests (gRPC thread) ----------------------------------------------------------------- */

static int
topic_ok(const char *t, size_t n)
{
    if (!n || n > TOPIC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            return 0;
    return 1;
}

/* Post a closure; on overload the command is refused (never blocks). */
static int
post_cmd(node *n, sc_client *c, int kind, const char *topic, size_t tlen, const uint8_t *data,
         size_t len)
{
    struct cmd *k = calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->c = c;
    k->kind = kind;
    k->topic = strndup(topic, tlen);
    if (len) {
        k->data = malloc(len);
        if (k->data)
            memcpy(k->data, data, len);
    }
    k->len = len;
    int rc = (!k->topic || (len && !k->data)) ? -ENOMEM : weft_bridge_post(n->bridge, run_cmd, k);
    if (rc < 0) {
        free(k->topic);
        free(k->data);
        free(k);
    }
    return rc;
}

static void
bad_request(node *n, sc_client *c, const char *what)
{
    weft_metric_inc(n->m.dropped_bad_request);
    weft_log(WEFT_LOG_WARN, "sidecar", "msg=\"bad request\" client=%llu peer=%s detail=\"%s\"",
             (unsigned long long)c->id, weft_grpc_call_peer(c->call), what);
}

/* SubscribeToTopics: topics comma-separated in `topic`, or in data as
 * comma-separated text or a JSON array of strings. */
static void
subscribe_many(node *n, sc_client *c, const char *list, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && strchr(" \t\r\n[],\"", list[i]))
            i++;
        size_t s = i;
        while (i < len && list[i] != ',' && list[i] != '"' && list[i] != ']')
            i++;
        size_t e = i;
        while (e > s && strchr(" \t\r\n", list[e - 1]))
            e--;
        if (e == s)
            continue;
        if (!topic_ok(list + s, e - s)) {
            bad_request(n, c,
                        "SubscribeToTopics: a topic is empty, too long or has control "
                        "characters");
            continue;
        }
        if (post_cmd(n, c, 2, list + s, e - s, NULL, 0) < 0)
            weft_metric_inc(n->m.dropped_overload);
    }
}

static void
on_listen_message(node *n, sc_client *c, const uint8_t *p, size_t len)
{
    weft_metric_inc(n->m.sidecar_requests);
    Proto__Request *r = proto__request__unpack(NULL, len, p);
    if (!r) {
        bad_request(n, c, "undecodable Request");
        return;
    }
    const char *topic = r->topic ? r->topic : "";
    size_t tlen = strlen(topic);
    switch (r->command) {
    case 1: { /* PublishData */
        long long max = node_config_max_msg(&n->cfg);
        if (!topic_ok(topic, tlen)) {
            weft_metric_inc(n->m.publish_errors);
            reply_publish(c->call, "", NULL,
                          "topic: expected 1..255 characters without control characters");
        } else if ((long long)r->data.len > max) {
            weft_metric_inc(n->m.dropped_too_big);
            char why[192];
            snprintf(why, sizeof why, "message of %zu bytes exceeds %s_MAX_MSG_SIZE=%lld",
                     r->data.len, n->cfg.mode == NODE_GOSSIPSUB ? "GOSSIPSUB" : "OPTIMUM", max);
            reply_publish(c->call, topic, NULL, why);
        } else if (post_cmd(n, c, 1, topic, tlen, r->data.data, r->data.len) < 0) {
            weft_metric_inc(n->m.dropped_overload);
            reply_publish(c->call, topic, NULL, "node overloaded: publish queue full, retry");
        }
        break;
    }
    case 2: /* SubscribeToTopic */
    case 3: /* UnSubscribeToTopic */
        if (!topic_ok(topic, tlen))
            bad_request(n, c, "topic: expected 1..255 characters without control characters");
        else if (post_cmd(n, c, (int)r->command, topic, tlen, NULL, 0) < 0)
            weft_metric_inc(n->m.dropped_overload);
        break;
    case 4: /* SubscribeToTopics */
        if (tlen)
            subscribe_many(n, c, topic, tlen);
        else
            subscribe_many(n, c, (const char *)r->data.data, r->data.len);
        break;
    default: {
        char what[64];
        snprintf(what, sizeof what, "command %d: expected 1..4", (int)r->command);
        bad_request(n, c, what);
    }
    }
    proto__request__free_unpacked(r, NULL);
}

/* ---- unary methods ------------------------------------------------------------------------ */

static void
answer_health(node *n, weft_grpc_call *call)
{
    weft_sysinfo si;
    weft_sysinfo_sample(NULL, &si);
    /* A copy: protobuf-c takes a char *, the mode names are read-only. */
    char mode[16];
    snprintf(mode, sizeof mode, "%s", node_mode_name(n->cfg.mode));
    Proto__HealthResponse h;
    proto__health_response__init(&h);
    h.status = !n->stopping;
    h.nodemode = mode;
    h.memoryused = (float)si.mem_percent;
    h.cpuused = (float)si.cpu_percent;
    h.diskused = (float)si.disk_percent;
    h.p2paddress = n->naddrs ? n->addrs[0] : (char *)"";
    h.country = n->country;
    h.country_iso = n->country_iso;
    uint8_t buf[2048];
    size_t len = proto__health_response__get_packed_size(&h);
    if (len > sizeof buf) {
        weft_grpc_call_finish(call, WEFT_GRPC_INTERNAL, "health response too large");
        return;
    }
    proto__health_response__pack(&h, buf);
    WEFT_IGNORE(weft_grpc_call_send(call, buf, len));
    weft_grpc_call_finish(call, WEFT_GRPC_OK, "");
}

struct topics_query {
    node *n;
    uint8_t *out;
    size_t len;
};

static void
gather_topics(void *arg)
{
    struct topics_query *q = arg;
    const char *names[1024];
    size_t k = q->n->ps ? weft_ps_topics(q->n->ps, names, 1024) : 0;
    /* protobuf-c takes char **, and the names are the router's: pack from
     * copies, the pointers and the strings in one block. */
    size_t total = k * sizeof(char *);
    for (size_t i = 0; i < k; i++)
        total += strlen(names[i]) + 1;
    char **copy = malloc(total ? total : 1);
    if (!copy) {
        q->out = NULL;
        return;
    }
    char *w = (char *)(copy + k);
    for (size_t i = 0; i < k; i++) {
        size_t len = strlen(names[i]) + 1;
        memcpy(w, names[i], len);
        copy[i] = w;
        w += len;
    }
    Proto__TopicList tl = PROTO__TOPIC_LIST__INIT;
    tl.n_topics = k;
    tl.topics = copy;
    q->len = proto__topic_list__get_packed_size(&tl);
    q->out = malloc(q->len ? q->len : 1);
    if (q->out)
        proto__topic_list__pack(&tl, q->out);
    free(copy);
}

static void
answer_topics(node *n, weft_grpc_call *call)
{
    struct topics_query q = {.n = n};
    if (weft_bridge_call(n->bridge, gather_topics, &q) < 0 || !q.out) {
        free(q.out);
        weft_grpc_call_finish(call, WEFT_GRPC_UNAVAILABLE, "node is shutting down");
        return;
    }
    WEFT_IGNORE(weft_grpc_call_send(call, q.out, q.len));
    free(q.out);
    weft_grpc_call_finish(call, WEFT_GRPC_OK, "");
}

/* ---- gRPC callbacks ------------------------------------------------------------------------ */

static void
on_open(void *user, weft_grpc_call *call, int method)
{
    node *n = user;
    if (method != M_LISTEN)
        return;
    sc_client *c = calloc(1, sizeof *c);
    if (!c) {
        weft_grpc_call_finish(call, WEFT_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    c->n = n;
    c->call = call;
    c->id = ++n->next_client_id;
    weft_grpc_call_ref(call);
    weft_grpc_call_set_user(call, c);
    if (weft_bridge_post(n->bridge, client_open, c) < 0) {
        weft_grpc_call_set_user(call, NULL);
        weft_grpc_call_unref(call);
        free(c);
        weft_grpc_call_finish(call, WEFT_GRPC_UNAVAILABLE, "node is shutting down or overloaded");
        return;
    }
    weft_log(WEFT_LOG_DEBUG, "sidecar", "msg=\"client connected\" client=%llu peer=%s",
             (unsigned long long)c->id, weft_grpc_call_peer(call));
}

static void
on_message(void *user, weft_grpc_call *call, const uint8_t *p, size_t len)
{
    node *n = user;
    switch (weft_grpc_call_method(call)) {
    case M_LISTEN: {
        sc_client *c = weft_grpc_call_user(call);
        if (c)
            on_listen_message(n, c, p, len);
        break;
    }
    case M_HEALTH: answer_health(n, call); break;
    case M_TOPICS: answer_topics(n, call); break;
    default: break;
    }
}

/* A closure that must run even when the queue is momentarily full. */
static void
post_must(node *n, weft_bridge_fn fn, void *arg)
{
    for (int i = 0; i < 2000; i++) {
        int rc = weft_bridge_post(n->bridge, fn, arg);
        if (rc != WEFT_ELIMIT)
            return; /* posted, or closed: the shutdown path frees what is left */
        usleep(1000);
    }
    weft_log(WEFT_LOG_ERROR, "sidecar", "msg=\"loop queue full for 2 s; client record leaked\"");
}

static void
on_half_close(void *user, weft_grpc_call *call)
{
    node *n = user;
    sc_client *c = weft_grpc_call_user(call);
    if (c)
        post_must(n, client_half_close, c);
}

static void
on_close(void *user, weft_grpc_call *call, int cancelled)
{
    node *n = user;
    sc_client *c = weft_grpc_call_user(call);
    if (!c)
        return;
    weft_log(WEFT_LOG_DEBUG, "sidecar", "msg=\"client gone\" client=%llu cancelled=%d",
             (unsigned long long)c->id, cancelled);
    post_must(n, client_close, c);
}

int
node_sidecar_start(node *n)
{
    char addr[128];
    snprintf(addr, sizeof addr, strchr(n->cfg.listen_ip, ':') ? "[%s]:%d" : "%s:%d",
             n->cfg.listen_ip, n->cfg.sidecar_port);
    weft_grpc_config gc = {
        .addr = addr,
        .methods = methods,
        .nmethods = sizeof methods / sizeof *methods,
        .max_recv_message = node_config_max_msg(&n->cfg) + 65536,
        .max_queued_bytes = (size_t)n->cfg.client_queue,
        .h = {.on_open = on_open,
              .on_message = on_message,
              .on_half_close = on_half_close,
              .on_close = on_close},
        .user = n,
    };
    int err = 0;
    n->grpc = weft_grpc_start(&gc, &err);
    if (!n->grpc) {
        fprintf(stderr, "weft-node: gRPC sidecar on %s (SIDECAR_PORT): cannot listen (%s)\n", addr,
                weft_strerror(err));
        return err ? err : WEFT_EINVAL;
    }
    return 0;
}

void
node_sidecar_stop(node *n)
{
    weft_grpc_stop(n->grpc);
    n->grpc = NULL;
}

/* ---- deliveries and traces (loop thread) ----------------------------------------------------- */

static int
wants(const sc_client *c, const weft_bytes *topic)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strlen(c->topics[i]) == topic->len && !memcmp(c->topics[i], topic->p, topic->len))
            return 1;
    return 0;
}

static void
send_packed(node *n, sc_client *c, const uint8_t *buf, size_t len, int is_trace)
{
    int rc = weft_grpc_call_send(c->call, buf, len);
    if (rc == WEFT_ELIMIT && !is_trace)
        weft_metric_inc(n->m.dropped_client_slow);
    else if (rc == 0 && !is_trace)
        weft_metric_inc(n->m.delivered_clients);
}

void
node_sidecar_deliver(node *n, const weft_ps_msg *m)
{
    uint8_t *packed = NULL;
    size_t plen = 0;
    for (sc_client *c = n->clients; c; c = c->next) {
        if (!wants(c, &m->topic))
            continue;
        if (!packed) {
            char src[WEFT_PEER_ID_TEXT] = "", up[WEFT_PEER_ID_TEXT] = "";
            if (m->from && weft_peer_id_to_text(m->from, src, sizeof src) < 0)
                src[0] = 0;
            if (!m->from)
                WEFT_IGNORE(weft_peer_id_to_text(weft_host_peer_id(n->host), src, sizeof src));
            if (m->received_from && weft_peer_id_to_text(m->received_from, up, sizeof up) < 0)
                up[0] = 0;
            size_t idn = m->id.len > 64 ? 64 : m->id.len;
            char idhex[129];
            node_hex(m->id.p, idn, idhex);
            size_t cap = 256 + 2 * WEFT_PEER_ID_TEXT + 6 * m->topic.len + 129 +
                         4 * (m->data.len / 3 + 1) + 8;
            char *json = malloc(cap);
            if (!json)
                return;
            size_t o = (size_t)sprintf(json, "{\"source_node_id\":\"%s\",", src);
            if (up[0])
                o += (size_t)sprintf(json + o, "\"upstream_peer_id\":\"%s\",", up);
            o += (size_t)sprintf(json + o, "\"topic\":\"");
            o += weft_json_escape((const char *)m->topic.p, m->topic.len, json + o);
            o += (size_t)sprintf(json + o, "\",\"message_id\":\"%s\",\"message\":\"", idhex);
            int b = weft_base64_encode(m->data.p ? m->data.p : (const uint8_t *)"", m->data.len,
                                       json + o, cap - o);
            if (b < 0) {
                free(json);
                return;
            }
            o += (size_t)b;
            o += (size_t)sprintf(json + o, "\"}");
            Proto__Response r = PROTO__RESPONSE__INIT;
            r.command = PROTO__RESPONSE_TYPE__Message;
            r.data.data = (uint8_t *)json;
            r.data.len = o;
            plen = proto__response__get_packed_size(&r);
            packed = malloc(plen);
            if (!packed) {
                free(json);
                return;
            }
            proto__response__pack(&r, packed);
            free(json);
        }
        send_packed(n, c, packed, plen, 0);
    }
    free(packed);
}

void
node_sidecar_trace(node *n, const weft_ps_trace *ev)
{
    if (!n->clients)
        return;
    if (!n->cfg.trace_rpc && (ev->type == WEFT_TRACE_RECV_RPC || ev->type == WEFT_TRACE_SEND_RPC ||
                              ev->type == WEFT_TRACE_DROP_RPC))
        return;
    int any = 0;
    for (sc_client *c = n->clients; c && !any; c = c->next)
        any = c->ntopics > 0;
    if (!any)
        return;
    weft_ps_trace e = *ev;
    e.ts_ns += n->mono_to_unix;
    uint8_t small[512];
    weft_buf tb;
    weft_buf_init(&tb, small, sizeof small, (size_t)1 << 20);
    if (weft_ps_trace_encode(&e, &tb) < 0) {
        weft_buf_free(&tb);
        return;
    }
    Proto__Response r = PROTO__RESPONSE__INIT;
    r.command = n->cfg.mode == NODE_GOSSIPSUB ? PROTO__RESPONSE_TYPE__MessageTraceGossipSub
                                              : PROTO__RESPONSE_TYPE__MessageTraceMumP2P;
    r.data.data = tb.base;
    r.data.len = tb.len;
    size_t plen = proto__response__get_packed_size(&r);
    uint8_t *packed = malloc(plen);
    if (packed) {
        proto__response__pack(&r, packed);
        for (sc_client *c = n->clients; c; c = c->next)
            if (c->ntopics)
                send_packed(n, c, packed, plen, 1);
    }
    free(packed);
    weft_buf_free(&tb);
}
