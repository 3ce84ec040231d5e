/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxy_grpc: the proxy's gRPC front (proxy/src/front_grpc.c,
 * proto.ProxyStream): PublishRequest, SubscribeRequest,
 * ExposeNodesRequest and a ClientStream of ProxyMessages, decoded by
 * protobuf-c and handled by the handlers px_grpc_start registers (caught
 * by fuzz_grpc_fake.h's weft_grpc_start), with the real engine and the
 * pool recorders of fuzz_proxy_fake.h.
 *
 * Input: byte 0: the method (bits 0..1: 0 ClientStream, 1 Publish, 2
 * Subscribe, 3 ExposeNodes), in bits 2..4 what the pool does with a
 * publish (fuzz_proxy_fake.h's outcomes; 0 queued and answered), in bits
 * 5..6 the name the stream is called by (ProxyStream/ClientStream or the
 * GatewayStream aliases) and the length of the node's message id; byte
 * 1 WEFT_MAX_MESSAGE_SIZE (byte * 64 + 1). Then messages, each a 2-byte
 * little-endian length and the bytes (unary methods take the first).
 * A queued publish completes after the handler returned, as the pool
 * thread completes it (fz_pool_complete).
 *
 * Oracles, read with fuzz_grpc_fake.h's own protobuf reader from
 * proto/proxy_stream.proto: a message protobuf-c refuses finishes the
 * call INVALID_ARGUMENT and reaches nothing; a publish reaches the pool
 * only with a client id of 1..128 and a topic of 1..256 bytes without
 * control bytes or NUL, the exact message bytes, within the limit, and is
 * answered OK with a PublishResponse carrying the id the node answered,
 * or finished RESOURCE_EXHAUSTED (queues full) or UNAVAILABLE (no node,
 * refused, no answer); on a stream a queued publish is answered with a
 * ProxyMessage "published" (the node's id) or "error"; a subscribe answered OK left every valid
 * topic it named with the client in the engine; ExposeNodes names at most the amount asked for,
 * healthy nodes only; a stream's call references are balanced at close.
 */
#include "fuzz_grpc_fake.h"
#include "fuzz_proxy_fake.h"

#include "proxy_stream.pb-c.h"
#include "weft/common.h"

static proxy g_p;

static void
proxy_up(long long max_message)
{
    memset(&g_p, 0, sizeof g_p);
    g_p.cfg.threshold = 0.1;
    g_p.cfg.fallback_ms = 2000;
    g_p.cfg.max_message = max_message;
    g_p.cfg.client_queue = 1 << 20;
    g_p.cfg.nnodes = 3;
    g_p.cfg.listen_ip = "127.0.0.1";
    g_p.cfg.grpc_port = 1;
    g_p.cfg.max_clients = 65536;
    g_p.cfg.client_idle_ms = 600000;
    g_p.pool = (px_pool *)&g_grpc_token;
    fz_proxy_metrics(&g_p);
    g_p.engine = px_engine_new(&g_p);
    FZ_CHECK(g_p.engine != NULL);
    FZ_CHECK(px_grpc_start(&g_p) == 0 && g_grpc_cfg.user == &g_p);
}

static void
proxy_down(void)
{
    px_grpc_stop(&g_p);
    px_engine_free(g_p.engine);
    weft_metrics_free(g_p.metrics);
}

/* A string field that weft_text_ok would pass and that has no NUL. */
static int
text_field(const fz_pb_field *f, size_t max)
{
    if (!f->present || f->len == 0 || f->len > max || fz_pb_has_nul(f))
        return 0;
    for (size_t i = 0; i < f->len; i++)
        if (f->p[i] < 0x20 || f->p[i] == 0x7f)
            return 0;
    return 1;
}

static int
same(const char *s, const fz_pb_field *f)
{
    return strlen(s) == f->len && memcmp(s, f->p, f->len) == 0;
}

static int
client_has(const char *client, const char *topic)
{
    static char topics[64][PX_TOPIC_MAX + 1];
    size_t n = px_engine_topics(g_p.engine, client, topics, 64);
    for (size_t i = 0; i < n; i++)
        if (strcmp(topics[i], topic) == 0)
            return 1;
    return 0;
}

static void
check_publish(const weft_grpc_call *c, const uint8_t *m, size_t n, long long max)
{
    fz_pb_field f[3];
    int wf = fz_pb_read(m, n, f, 3) == 0;
    Proto__PublishRequest *r = proto__publish_request__unpack(NULL, n, m);
    FZ_CHECK(c->finished);
    if (!r) {
        FZ_CHECK(c->status == WEFT_GRPC_INVALID_ARGUMENT && rec.publishes == 0 && c->sends == 0);
        return;
    }
    if (rec.publishes) {
        FZ_CHECK(wf && rec.publishes == 1);
        FZ_CHECK(text_field(&f[0], PX_ID_MAX) && text_field(&f[1], PX_TOPIC_MAX));
        FZ_CHECK(same(rec.topic, &f[1]));
        FZ_CHECK(rec.len == f[2].len && (long long)rec.len <= max);
        FZ_CHECK(rec.len == 0 || memcmp(rec.data, f[2].p, rec.len) == 0);
        int expect = rec.outcome == FZ_POOL_OK     ? WEFT_GRPC_OK
                     : rec.outcome == FZ_POOL_FULL ? WEFT_GRPC_RESOURCE_EXHAUSTED
                                                   : WEFT_GRPC_UNAVAILABLE;
        FZ_CHECK(c->status == expect);
        FZ_CHECK(rec.completed == (rec.outcome == FZ_POOL_OK || rec.outcome == FZ_POOL_TIMEOUT ||
                                   rec.outcome == FZ_POOL_REFUSED));
    }
    if (c->status == WEFT_GRPC_OK) {
        FZ_CHECK(rec.publishes == 1 && rec.outcome == FZ_POOL_OK && c->sends == 1);
        Proto__PublishResponse *o = proto__publish_response__unpack(NULL, c->last_len, c->last);
        FZ_CHECK(o != NULL && o->status && strcmp(o->status, "published") == 0);
        FZ_CHECK(o->message_id && strcmp(o->message_id, rec.id) == 0);
        FZ_CHECK(o->topic && strcmp(o->topic, rec.topic) == 0);
        FZ_CHECK(o->client_id && same(o->client_id, &f[0]));
        proto__publish_response__free_unpacked(o, NULL);
    } else {
        FZ_CHECK(c->sends == 0);
        FZ_CHECK(rec.publishes == 0 || rec.outcome != FZ_POOL_OK);
    }
    FZ_CHECK(c->refs == 0); /* the publish's reference went with its answer */
    proto__publish_request__free_unpacked(r, NULL);
}

static void
check_subscribe(const weft_grpc_call *c, const uint8_t *m, size_t n)
{
    Proto__SubscribeRequest *r = proto__subscribe_request__unpack(NULL, n, m);
    FZ_CHECK(c->finished);
    if (!r) {
        FZ_CHECK(c->status == WEFT_GRPC_INVALID_ARGUMENT && c->sends == 0);
        return;
    }
    fz_pb_field f[2];
    int wf = fz_pb_read(m, n, f, 2) == 0;
    if (c->status == WEFT_GRPC_OK) {
        FZ_CHECK(c->sends == 1);
        FZ_CHECK(wf && text_field(&f[0], PX_ID_MAX));
        double t = r->threshold > 0 ? r->threshold : 0.1;
        FZ_CHECK(t >= 0.1 - 1e-6 && t <= 1.0);
        size_t valid = 0;
        if (r->topic && weft_text_ok(r->topic, PX_TOPIC_MAX))
            valid += (size_t)client_has(r->client_id, r->topic);
        for (size_t i = 0; i < r->n_topics; i++)
            if (weft_text_ok(r->topics[i], PX_TOPIC_MAX))
                valid += (size_t)client_has(r->client_id, r->topics[i]);
        FZ_CHECK(valid >= 1);
    } else {
        FZ_CHECK(c->sends == 0);
    }
    proto__subscribe_request__free_unpacked(r, NULL);
}

static void
check_expose(const weft_grpc_call *c, const uint8_t *m, size_t n)
{
    Proto__ExposeNodesRequest *r = proto__expose_nodes_request__unpack(NULL, n, m);
    FZ_CHECK(c->finished);
    if (!r) {
        FZ_CHECK(c->status == WEFT_GRPC_INVALID_ARGUMENT && c->sends == 0);
        return;
    }
    FZ_CHECK(c->status == WEFT_GRPC_OK && c->sends == 1);
    Proto__ExposeNodesResponse *o =
        proto__expose_nodes_response__unpack(NULL, c->last_len, c->last);
    FZ_CHECK(o != NULL);
    FZ_CHECK(o->n_nodes <= 2); /* of three nodes, one is unhealthy */
    if (r->expose_amount)
        FZ_CHECK(o->n_nodes <= r->expose_amount);
    for (size_t i = 0; i < o->n_nodes; i++)
        FZ_CHECK(strcmp(o->nodes[i], "127.0.0.1:33213") != 0);
    proto__expose_nodes_response__free_unpacked(o, NULL);
    proto__expose_nodes_request__free_unpacked(r, NULL);
}

/* One message of a ClientStream. */
static void
stream_message(weft_grpc_call *c, const uint8_t *m, size_t n, long long max)
{
    size_t before = rec.publishes, completed = rec.completed, sends = c->sends;
    int was_finished = c->finished;
    if (was_finished) /* the server reads and drops what follows a finish */
        return;
    g_grpc_cfg.h.on_message(g_grpc_cfg.user, c, m, n);
    fz_pool_complete(&g_p);
    Proto__ProxyMessage *r = proto__proxy_message__unpack(NULL, n, m);
    if (!r) {
        FZ_CHECK(rec.publishes == before && c->finished);
        return;
    }
    fz_pb_field f[5];
    int wf = fz_pb_read(m, n, f, 5) == 0;
    if (rec.publishes > before) {
        FZ_CHECK(rec.publishes == before + 1 && wf);
        FZ_CHECK(r->type && strcmp(r->type, "publish") == 0);
        FZ_CHECK(text_field(&f[2], PX_TOPIC_MAX) && same(rec.topic, &f[2]));
        FZ_CHECK(rec.len == f[1].len && (long long)rec.len <= max);
        if (rec.completed > completed) { /* queued: answered on the stream */
            FZ_CHECK(c->sends == sends + 1);
            Proto__ProxyMessage *o = proto__proxy_message__unpack(NULL, c->last_len, c->last);
            FZ_CHECK(o != NULL && o->type && o->topic && strcmp(o->topic, rec.topic) == 0);
            if (rec.done_rc == 0)
                FZ_CHECK(strcmp(o->type, "published") == 0 && o->message_id &&
                         strcmp(o->message_id, rec.id) == 0);
            else
                FZ_CHECK(strcmp(o->type, "error") == 0 && o->message.len > 0);
            proto__proxy_message__free_unpacked(o, NULL);
        } else {
            FZ_CHECK(c->sends == sends); /* refused at once: counted */
        }
    } else {
        FZ_CHECK(rec.completed == completed);
    }
    proto__proxy_message__free_unpacked(r, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    static const int outcomes[8] = {FZ_POOL_OK,    FZ_POOL_FULL,    FZ_POOL_NO_NODE,
                                    FZ_POOL_NOMEM, FZ_POOL_TIMEOUT, FZ_POOL_REFUSED,
                                    FZ_POOL_OK,    FZ_POOL_OK};
    static const int stream_names[4] = {0, 4, 5, 0}; /* ClientStream, GatewayStream's two */
    static const size_t id_lens[4] = {64, 1, 128, 40};
    uint8_t mode = fz_u8(&r);
    long long max = (long long)fz_u8(&r) * 64 + 1;
    int outcome = outcomes[mode >> 2 & 7];
    size_t id_len = id_lens[mode >> 5 & 3];
    proxy_up(max);
    fz_pool_reset(outcome, 1, id_len);
    int method = mode & 3;
    weft_grpc_call call = {.method = method ? method : stream_names[mode >> 5 & 3]};
    g_grpc_cfg.h.on_open(g_grpc_cfg.user, &call, call.method);
    for (int i = 0; r.n > 0 && (method == 0 || i < 1); i++) {
        size_t len = fz_u16(&r);
        if (len > r.n)
            len = r.n;
        uint8_t *m = fz_dup(r.p, len);
        r.p += len;
        r.n -= len;
        if (method == 0) {
            stream_message(&call, m, len, max);
        } else {
            fz_pool_reset(outcome, 1, id_len);
            g_grpc_cfg.h.on_message(g_grpc_cfg.user, &call, m, len);
            fz_pool_complete(&g_p); /* the pool thread */
            if (call.method == 1)
                check_publish(&call, m, len, max);
            else if (call.method == 2)
                check_subscribe(&call, m, len);
            else
                check_expose(&call, m, len);
        }
        free(m);
    }
    g_grpc_cfg.h.on_close(g_grpc_cfg.user, &call, 0);
    FZ_CHECK(call.refs == 0);
    FZ_CHECK(call.user == NULL);
    free(call.last);
    proxy_down();
    return 0;
}
