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
#include "weft/pb.h"
#include "weft/utf8.h"
#include "weft/log.h"
#include "weft/encoding.h"
#include "weft/pb.h"

/* The guides' clients name the service CommandStream or P2PStream; both
 * serve the same messages. The second half of the table aliases the first. */
enum { M_LISTEN, M_HEALTH, M_TOPICS, M_COUNT };
static const char *const methods[] = {
    "/proto.CommandStream/ListenCommands",
    "/proto.CommandStream/Health",
    "/proto.CommandStream/ListTopics",
    "/proto.P2PStream/ListenCommands",
    "/proto.P2PStream/Health",
    "/proto.P2PStream/ListTopics",
};

static int
method_of(int m)
{
    return m >= M_COUNT ? m - M_COUNT : m;
}

static const char *const command_names[] = {"Unknown", "PublishData", "SubscribeToTopic",
                                            "UnSubscribeToTopic", "SubscribeToTopics"};

/* The longest topic the router takes (weft_ps_subscribe and weft_ps_publish
 * refuse 256 bytes and more); checked here so that clients get this error
 * rather than a refused subscribe or a misleading publish reply. */
#define TOPIC_MAX 255

struct cmd {
    sc_client *c;
    int kind; /* 1 publish, 2 subscribe, 3 unsubscribe, 4 publish refused (data: why) */
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

/* A subscription the node could not take: the client hears of it, as
 * {"status":"error","command":"subscribe","topic":..,"error":..}, rather than
 * waiting for deliveries that will never come. */
static void
reply_refused(node *n, sc_client *c, const char *topic, int rc)
{
    weft_metric_inc(n->m.subscribe_refused);
    /* a SubscribeToTopics of 100k topics is answered with a few lines, not
     * 99k of them: the rest are only counted */
    if (c->refusals_told >= NODE_REFUSALS_TOLD)
        return;
    c->refusals_told++;
    weft_log(WEFT_LOG_WARN, "sidecar",
             "msg=\"subscribe refused\" client=%llu topic=\"%s\" err=\"%s\"%s",
             (unsigned long long)c->id, topic, weft_strerror(rc),
             c->refusals_told == NODE_REFUSALS_TOLD
                 ? " more=\"further refusals on this stream are only counted\""
                 : "");
    weft_grpc_call *call = c->call;
    char t[TOPIC_MAX * 6 + 1];
    weft_json_escape(topic, strlen(topic), t);
    char why[160];
    if (rc == WEFT_ELIMIT)
        snprintf(why, sizeof why, "too many topics on this stream (at most %d)",
                 NODE_MAX_CLIENT_TOPICS);
    else
        snprintf(why, sizeof why, "subscribe failed: %s", weft_strerror(rc));
    char body[TOPIC_MAX * 6 + 256];
    int len = snprintf(body, sizeof body,
                       "{\"status\":\"error\",\"command\":\"subscribe\",\"topic\":\"%s\","
                       "\"error\":\"%s\"}",
                       t, why);
    send_response(call, PROTO__RESPONSE_TYPE__Unknown, (uint8_t *)body, (size_t)len);
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
    atomic_fetch_sub(&n->streams, 1);
    weft_metric_set(n->m.clients, (double)n->nclients);
    if (n->ps)
        node_client_gone(n, c);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
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
        int64_t t0 = weft_mono_ns();
        int rc = node_publish(n, k->topic, k->data, k->len, idhex);
        weft_log(WEFT_LOG_DEBUG, "sidecar",
                 "msg=\"publish\" client=%llu topic=\"%s\" bytes=%zu status=%s id=%.16s "
                 "duration_us=%lld",
                 (unsigned long long)k->c->id, k->topic, k->len, rc < 0 ? "error" : "published",
                 rc < 0 ? "" : idhex, (long long)((weft_mono_ns() - t0) / 1000));
        if (rc < 0) {
            weft_metric_inc(n->m.publish_errors);
            /* Each publish is a new message (its id carries a fresh seqno):
             * what fails here is the router's own limits. */
            char why[160];
            snprintf(why, sizeof why, "publish failed: %s", weft_strerror(rc));
            reply_publish(k->c->call, k->topic, NULL, why);
        } else {
            weft_metric_inc(n->m.published);
            reply_publish(k->c->call, k->topic, idhex, NULL);
        }
    } else if (k->kind == 2) {
        /* One line per topic, and a client picks the number of topics:
         * each kind of line has a budget per second. [loop] */
        static weft_log_limit subscribed_lim;
        uint64_t sup = 0;
        int rc = node_client_subscribe(n, k->c, k->topic);
        if (rc < 0)
            reply_refused(n, k->c, k->topic, rc); /* logs the first few */
        else if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG) && weft_log_allow(&subscribed_lim, 100, &sup))
            weft_log(WEFT_LOG_DEBUG, "sidecar",
                     "msg=\"subscribed\" client=%llu topic=\"%s\" suppressed_before=%llu",
                     (unsigned long long)k->c->id, k->topic, (unsigned long long)sup);
    } else if (k->kind == 4) {
        reply_publish(k->c->call, k->topic, NULL, (const char *)k->data);
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
    return weft_utf8_valid((const uint8_t *)t, n);
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

/* Refuse a publish. The answer goes through the loop behind the client's
 * earlier publishes, so that a stream's publish replies come in the order
 * of its publishes (the proxy pairs them so); only when the loop's queue
 * is full is it answered at once. */
static void
refuse_publish(node *n, sc_client *c, const char *topic, const char *why)
{
    if (post_cmd(n, c, 4, topic, strlen(topic), (const uint8_t *)why, strlen(why) + 1) < 0)
        reply_publish(c->call, topic, NULL, why);
}

/* Every bad request is counted (count != 0: here), its lines are on a budget. */
static void
bad_log(node *n, sc_client *c, const char *what, int count)
{
    if (count)
        weft_metric_inc(n->m.dropped_bad_request);
    static weft_log_limit lim; /* gRPC's thread */
    uint64_t sup = 0;
    if (weft_log_allow(&lim, 20, &sup))
        weft_log(WEFT_LOG_WARN, "sidecar",
                 "msg=\"bad request\" client=%llu peer=%s detail=\"%s\" suppressed_before=%llu",
                 (unsigned long long)c->id, weft_grpc_call_peer(c->call), what,
                 (unsigned long long)sup);
}

static void
bad_request(node *n, sc_client *c, const char *what)
{
    bad_log(n, c, what, 1);
}

/* A request refused for what it carries: counted and logged (on a budget)
 * as bad_request, and answered on the stream as a publish error is
 * ({"status":"error","topic":"","error":...}) so the client learns why. */
static void
refuse(node *n, sc_client *c, const char *what)
{
    bad_request(n, c, what);
    refuse_publish(n, c, "", what);
}

/* SubscribeToTopics: topics comma-separated in `topic`, or in data as
 * comma-separated text or a JSON array of strings. Bad topics are counted
 * and refused in one answer for the whole request. */
static void
subscribe_many(node *n, sc_client *c, const char *list, size_t len)
{
    size_t i = 0, idx = 0, bad = 0, first_bad = 0;
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
        idx++;
        if (!topic_ok(list + s, e - s)) {
            weft_metric_inc(n->m.dropped_bad_request);
            if (!bad++)
                first_bad = idx;
            continue;
        }
        if (post_cmd(n, c, 2, list + s, e - s, NULL, 0) < 0)
            weft_metric_inc(n->m.dropped_overload);
    }
    if (bad) {
        char why[224];
        snprintf(why, sizeof why,
                 "SubscribeToTopics: %zu of %zu topics refused (first: topic %zu): expected "
                 "1..255 bytes of UTF-8 without control characters",
                 bad, idx, first_bad);
        bad_log(n, c, why, 0); /* each was counted above */
        refuse_publish(n, c, "", why);
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
    /* protobuf-c hands strings over as C strings: a NUL inside would cut
     * the topic short and alias another one. */
    static const uint32_t strings[] = {3, 4};
    int nul = weft_pb_find_nul(p, len, strings, 2);
    if (nul != 0) {
        if (r->command == 1)
            weft_metric_inc(n->m.publish_errors);
        /* < 0: bytes protobuf-c let through that are not protobuf (a
         * varint past 64 bits, field number 0): not trusted either */
        refuse(n, c,
               nul < 0    ? "Request: malformed protobuf (a varint past 64 bits or field 0)"
               : nul == 4 ? "jwt_token: expected no NUL byte"
                          : "topic: expected no NUL byte");
        proto__request__free_unpacked(r, NULL);
        return;
    }
    const char *topic = r->topic ? r->topic : "";
    size_t tlen = strlen(topic);
    if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
        weft_log(WEFT_LOG_DEBUG, "sidecar",
                 "msg=\"request\" client=%llu command=%s topic=\"%.*s\" bytes=%zu",
                 (unsigned long long)c->id,
                 r->command >= 0 && r->command <= 4 ? command_names[r->command] : "invalid",
                 (int)(tlen > 255 ? 255 : tlen), topic, r->data.len);
    switch (r->command) {
    case 1: { /* PublishData */
        long long max = node_config_max_msg(&n->cfg);
        if (!topic_ok(topic, tlen)) {
            weft_metric_inc(n->m.publish_errors);
            refuse_publish(n, c, "",
                           "topic: expected 1..255 bytes of UTF-8 without control characters");
        } else if ((long long)r->data.len > max) {
            weft_metric_inc(n->m.dropped_too_big);
            char why[192];
            snprintf(why, sizeof why, "message of %zu bytes exceeds %s_MAX_MSG_SIZE=%lld",
                     r->data.len, n->cfg.mode == NODE_GOSSIPSUB ? "GOSSIPSUB" : "OPTIMUM", max);
            refuse_publish(n, c, topic, why);
        } else if (post_cmd(n, c, 1, topic, tlen, r->data.data, r->data.len) < 0) {
            weft_metric_inc(n->m.dropped_overload);
            reply_publish(c->call, topic, NULL, "node overloaded: publish queue full, retry");
        }
        break;
    }
    case 2: /* SubscribeToTopic */
    case 3: /* UnSubscribeToTopic */
        if (!topic_ok(topic, tlen))
            refuse(n, c, "topic: expected 1..255 bytes of UTF-8 without control characters");
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
    if (method_of(method) != M_LISTEN)
        return;
    if (atomic_fetch_add(&n->streams, 1) >= NODE_MAX_STREAMS) {
        atomic_fetch_sub(&n->streams, 1);
        weft_metric_inc(n->m.dropped_overload);
        char why[96];
        snprintf(why, sizeof why, "too many ListenCommands streams (at most %d)", NODE_MAX_STREAMS);
        weft_grpc_call_finish(call, WEFT_GRPC_RESOURCE_EXHAUSTED, why);
        return;
    }
    sc_client *c = calloc(1, sizeof *c);
    if (!c) {
        atomic_fetch_sub(&n->streams, 1);
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
        atomic_fetch_sub(&n->streams, 1);
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
    switch (method_of(weft_grpc_call_method(call))) {
    case M_LISTEN: {
        sc_client *c = weft_grpc_call_user(call);
        if (c)
            on_listen_message(n, c, p, len);
        break;
    }
    case M_HEALTH:
    case M_TOPICS: {
        int64_t t0 = weft_mono_ns();
        if (method_of(weft_grpc_call_method(call)) == M_HEALTH)
            answer_health(n, call);
        else
            answer_topics(n, call);
        weft_log(WEFT_LOG_DEBUG, "sidecar", "msg=\"unary\" method=%s peer=%s duration_us=%lld",
                 methods[weft_grpc_call_method(call)], weft_grpc_call_peer(call),
                 (long long)((weft_mono_ns() - t0) / 1000));
        break;
    }
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

/* RPC traces come with every frame, so they stream only with WEFT_TRACE_RPC;
 * without it a client still sees the SEND_RPC (and RECV_RPC) events of the
 * exchange that follows a new connection or a JOIN, as the guides show:
 * for RPC_WINDOW_NS after the event, at most RPC_WINDOW_EVENTS of them. */
#define RPC_WINDOW_NS 1000000000LL
#define RPC_WINDOW_EVENTS 64

static int
rpc_trace_wanted(node *n, const weft_ps_trace *ev)
{
    if (ev->type == WEFT_TRACE_ADD_PEER || ev->type == WEFT_TRACE_JOIN) {
        n->rpc_window_until = ev->ts_ns + RPC_WINDOW_NS;
        n->rpc_window_left = RPC_WINDOW_EVENTS;
        return 1;
    }
    if (ev->type != WEFT_TRACE_RECV_RPC && ev->type != WEFT_TRACE_SEND_RPC &&
        ev->type != WEFT_TRACE_DROP_RPC)
        return 1;
    if (n->cfg.trace_rpc)
        return 1;
    if (ev->type == WEFT_TRACE_DROP_RPC || ev->ts_ns > n->rpc_window_until ||
        n->rpc_window_left <= 0)
        return 0;
    n->rpc_window_left--;
    return 1;
}

void
node_sidecar_trace(node *n, const weft_ps_trace *ev)
{
    if (!rpc_trace_wanted(n, ev) || !n->clients)
        return;
    /* An event of a topic goes to the clients of that topic, others to
     * every client with a topic: a thousand streams must not each get the
     * JOIN of every topic some other stream asked for. */
    int any = 0;
    for (sc_client *c = n->clients; c && !any; c = c->next)
        any = ev->topic.len ? wants(c, &ev->topic) : c->ntopics > 0;
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
        /* Traces are best effort: a client with a backlog gets deliveries,
         * not more traces (a thousand slow streams would otherwise each hold
         * up to the per-call cap of them). */
        for (sc_client *c = n->clients; c; c = c->next) {
            if (ev->topic.len ? !wants(c, &ev->topic) : !c->ntopics)
                continue;
            if (weft_grpc_call_queued(c->call) >= NODE_TRACE_BACKLOG)
                weft_metric_inc(n->m.dropped_trace);
            else
                send_packed(n, c, packed, plen, 1);
        }
    }
    free(packed);
    weft_buf_free(&tb);
}
