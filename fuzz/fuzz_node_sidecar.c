/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_node_sidecar: the node's gRPC sidecar (node/src/sidecar.c,
 * proto.CommandStream/ListenCommands): each input message decoded by
 * protobuf-c as a proto.Request and then handled (publish, subscribe,
 * unsubscribe, subscribe-many, unknown commands), with the handlers the
 * sidecar registers itself and the fakes of fuzz_grpc_fake.h for gRPC and
 * the bridge; node_publish and the client subscriptions (node.c) are
 * wrapped too, so what reaches the router is recorded, not run.
 *
 * Input: byte 0: bit 0 GossipSub mode, bit 1 a full bridge (every post
 * refused), bits 2..7 the message size limit (value * 64 + 1 bytes). Then
 * request messages, each a 2-byte little-endian length and the bytes.
 *
 * Oracles, from proto/p2p_stream.proto read by fuzz_grpc_fake.h's own
 * decoder: a request protobuf-c refuses reaches nothing; a publish
 * reaches node_publish only with the request's exact topic (1..255 bytes
 * without control bytes or NUL) and data (within the limit), and any
 * publish not taken is answered with a Response whose JSON says error; a
 * subscribe or unsubscribe reaches the node only with a valid topic (UTF-8
 * too) equal to the request's, and one with a bad topic is answered with
 * an error Response naming the topic; a NUL in a string field (topic,
 * jwt_token) refuses any request with an error Response saying NUL;
 * every topic of a subscribe-many is valid and appears in the list, bad
 * entries answered once; nothing else happens; the stream stays open (no
 * input closes it) and the client's call reference is dropped at close.
 */
#include "fuzz_grpc_fake.h"

#include <cjson/cJSON.h>

#include "node.h"
#include "p2p_stream.pb-c.h"
#include "weft/common.h"

static struct {
    size_t publishes, subs, unsubs;
    char topic[512];
    size_t data_len;
    const uint8_t *data;
} got;

int __wrap_node_publish(node *n, const char *topic, const uint8_t *data, size_t len, char *idhex);
int __wrap_node_client_subscribe(node *n, sc_client *c, const char *topic);
void __wrap_node_client_unsubscribe(node *n, sc_client *c, const char *topic);
void __wrap_node_client_gone(node *n, sc_client *c);

int
__wrap_node_publish(node *n, const char *topic, const uint8_t *data, size_t len, char *idhex)
{
    (void)n;
    got.publishes++;
    snprintf(got.topic, sizeof got.topic, "%s", topic);
    got.data_len = len;
    FZ_CHECK(len == 0 || data != NULL);
    if (len)
        FZ_CHECK(memcmp(data, got.data, len) == 0);
    snprintf(idhex, 129, "%064x", 0);
    return 0;
}

int
__wrap_node_client_subscribe(node *n, sc_client *c, const char *topic)
{
    (void)n, (void)c;
    got.subs++;
    snprintf(got.topic, sizeof got.topic, "%s", topic);
    return 0;
}

void
__wrap_node_client_unsubscribe(node *n, sc_client *c, const char *topic)
{
    (void)n, (void)c;
    got.unsubs++;
    snprintf(got.topic, sizeof got.topic, "%s", topic);
}

void
__wrap_node_client_gone(node *n, sc_client *c)
{
    (void)n, (void)c;
}

static node g_n;
static int g_ps_token, g_bridge_token;

static void
node_up(uint8_t mode)
{
    memset(&g_n, 0, sizeof g_n);
    g_n.cfg.mode = mode & 1 ? NODE_GOSSIPSUB : NODE_OPTIMUM;
    g_n.cfg.optimum_max_msg = g_n.cfg.gossipsub_max_msg = (long long)(mode >> 2) * 64 + 1;
    g_n.cfg.listen_ip = "127.0.0.1";
    g_n.cfg.sidecar_port = 1;
    g_n.cfg.client_queue = 1 << 20;
    g_n.ps = (weft_ps *)&g_ps_token;
    g_n.bridge = (weft_bridge *)&g_bridge_token;
    g_n.metrics = weft_metrics_new();
    FZ_CHECK(g_n.metrics != NULL);
    weft_metric **all = (weft_metric **)&g_n.m;
    for (size_t i = 0; i < sizeof g_n.m / sizeof(weft_metric *); i++) {
        char name[32];
        snprintf(name, sizeof name, "m%zu", i);
        all[i] = weft_metrics_gauge(g_n.metrics, name, "h", NULL);
        FZ_CHECK(all[i] != NULL);
    }
    FZ_CHECK(node_sidecar_start(&g_n) == 0);
    FZ_CHECK(g_grpc_cfg.h.on_message != NULL && g_grpc_cfg.user == &g_n);
}

static int
topic_valid(const fz_pb_field *t)
{
    if (!t->present || t->len == 0 || t->len > 255)
        return 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] < 0x20 || t->p[i] == 0x7f)
            return 0;
    return fz_utf8_ok(t->p, t->len);
}

/* One Response was sent since sends_before, a JSON object with a status;
 * error: its status is "error" with an "error" string holding need (or
 * any, need NULL). Returns whether the status was "error". */
static int
check_reply(weft_grpc_call *c, size_t sends_before, int error, const char *need)
{
    FZ_CHECK(c->sends == sends_before + 1);
    Proto__Response *r = proto__response__unpack(NULL, c->last_len, c->last);
    FZ_CHECK(r != NULL);
    cJSON *o = cJSON_ParseWithLength((const char *)r->data.data, r->data.len);
    FZ_CHECK(cJSON_IsObject(o));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    FZ_CHECK(cJSON_IsString(st));
    int is_error = strcmp(st->valuestring, "error") == 0;
    if (error) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
        FZ_CHECK(is_error && cJSON_IsString(e));
        if (need)
            FZ_CHECK(strstr(e->valuestring, need) != NULL);
    }
    cJSON_Delete(o);
    proto__response__free_unpacked(r, NULL);
    return is_error;
}

static void
check_publish_reply(weft_grpc_call *c, size_t sends_before)
{
    WEFT_IGNORE(check_reply(c, sends_before, 0, NULL));
}

static void
one_request(weft_grpc_call *c, const uint8_t *p, size_t n, long long max)
{
    fz_pb_field f[4];
    int wellformed = fz_pb_read(p, n, f, 4) == 0;
    Proto__Request *req = proto__request__unpack(NULL, n, p);
    int decoded = req != NULL;
    int command = req ? req->command : 0;
    if (req)
        proto__request__free_unpacked(req, NULL);

    memset(&got, 0, sizeof got);
    got.data = f[1].p;
    size_t sends = c->sends;
    g_grpc_cfg.h.on_message(g_grpc_cfg.user, c, p, n);
    FZ_CHECK(!c->finished);
    size_t acted = got.publishes + got.subs + got.unsubs;
    if (!decoded || !wellformed) { /* the sidecar reads it as protobuf too */
        FZ_CHECK(acted == 0);
        if (!decoded)
            FZ_CHECK(c->sends == sends);
        return;
    }
    const fz_pb_field *topic = &f[2], *data = &f[1];
    /* a NUL in a string field (topic, jwt_token) refuses the request
     * whatever its command, and the client is told */
    if (fz_pb_has_nul(topic) || fz_pb_has_nul(&f[3])) {
        FZ_CHECK(acted == 0);
        WEFT_IGNORE(check_reply(c, sends, 1, "NUL"));
        return;
    }
    int tvalid = topic_valid(topic);
    switch (command) {
    case 1:
        FZ_CHECK(got.subs + got.unsubs == 0);
        if (got.publishes) {
            FZ_CHECK(got.publishes == 1 && tvalid && !fz_bridge_refuse);
            FZ_CHECK(strlen(got.topic) == topic->len &&
                     memcmp(got.topic, topic->p, topic->len) == 0);
            FZ_CHECK(got.data_len == data->len && (long long)data->len <= max);
        }
        /* every publish is answered, taken or not */
        check_publish_reply(c, sends);
        break;
    case 2:
    case 3:
        FZ_CHECK(got.publishes == 0 && (command == 2 ? got.unsubs : got.subs) == 0);
        if (acted) {
            FZ_CHECK(acted == 1 && tvalid);
            FZ_CHECK(strlen(got.topic) == topic->len &&
                     memcmp(got.topic, topic->p, topic->len) == 0);
            FZ_CHECK(c->sends == sends);
        } else if (tvalid) { /* the loop's queue was full: counted only */
            FZ_CHECK(fz_bridge_refuse && c->sends == sends);
        } else { /* a bad topic: the client hears why */
            WEFT_IGNORE(check_reply(c, sends, 1, "topic"));
        }
        break;
    case 4: {
        FZ_CHECK(got.publishes == 0 && got.unsubs == 0);
        const fz_pb_field *list = topic->present && topic->len ? topic : data;
        if (got.subs) {
            FZ_CHECK(list->present && memmem(list->p, list->len, got.topic, strlen(got.topic)));
            FZ_CHECK(strlen(got.topic) >= 1 && strlen(got.topic) <= 255);
            for (const char *t = got.topic; *t; t++)
                FZ_CHECK((unsigned char)*t >= 0x20 && *t != 0x7f);
            FZ_CHECK(fz_utf8_ok((const uint8_t *)got.topic, strlen(got.topic)));
        }
        /* bad entries are answered once for the whole request */
        FZ_CHECK(c->sends == sends || (c->sends == sends + 1 && check_reply(c, sends, 1, "topic")));
        break;
    }
    default: FZ_CHECK(acted == 0 && c->sends == sends); break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    uint8_t mode = fz_u8(&r);
    node_up(mode);
    long long max = node_config_max_msg(&g_n.cfg);
    weft_grpc_call call = {.method = 0};
    g_grpc_cfg.h.on_open(g_grpc_cfg.user, &call, 0);
    FZ_CHECK(call.user != NULL && g_n.nclients == 1);
    fz_bridge_refuse = (mode & 2) != 0;
    while (r.n > 0) {
        size_t len = fz_u16(&r);
        if (len > r.n)
            len = r.n;
        uint8_t *msg = fz_dup(r.p, len);
        r.p += len;
        r.n -= len;
        one_request(&call, msg, len, max);
        free(msg);
    }
    fz_bridge_refuse = 0;
    g_grpc_cfg.h.on_half_close(g_grpc_cfg.user, &call);
    g_grpc_cfg.h.on_close(g_grpc_cfg.user, &call, 0);
    FZ_CHECK(g_n.nclients == 0 && call.refs == 0);
    free(call.last);
    node_sidecar_stop(&g_n);
    weft_metrics_free(g_n.metrics);
    return 0;
}
