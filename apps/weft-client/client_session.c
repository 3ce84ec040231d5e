/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client_session.c: one client session with a node sidecar (a ListenCommands
 * stream: requests out, responses in) and the decoding of what the node
 * sends on it: delivery JSON and TraceEvent protobufs.
 *
 * Everything from the node is untrusted: a malformed delivery or trace is
 * reported and skipped, never trusted for lengths or types.
 *
 * Gossipsub-mode traces use libp2p's trace.proto, which numbers RPCMeta
 * differently from optimum.pb (subscription 2 and control 3 instead of
 * 3 and 4; optimum inserted shards at 2). Both keys fit one byte, so the
 * event is renumbered in a copy, in place, before the optimum decoder reads
 * it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "weft/encoding.h"
#include "weft/identity.h"
#include "weft/pb.h"

#include "client.h"
#include "go_text.h"
#include "weft/clock.h"
#include "weft/encoding.h"
#include "weft/identity.h"
#include "weft/utf8.h"
#include "optimum_trace.pb-c.h"

/* ---- sessions ---------------------------------------------------------------- */

static void
status_text(const weft_grpc_status *st, char *err, size_t cap)
{
    if (st->code == 0)
        snprintf(err, cap, "the node closed the stream");
    else
        snprintf(err, cap, "stream failed: %s: %s", weft_grpc_status_name(st->code),
                 st->details[0] != '\0' ? st->details : "(no details)");
}

int
session_open(const char *addr, weft_grpc_channel **chp, weft_grpc_stream **stp, char *err,
             size_t cap)
{
    int rc;
    *chp = NULL;
    *stp = NULL;
    weft_grpc_channel *ch = weft_grpc_channel_new(addr, &rc);
    if (ch == NULL) {
        snprintf(err, cap, "cannot create a channel to %s: %s", addr, weft_strerror(rc));
        return rc;
    }
    int64_t deadline = weft_mono_ns() + (int64_t)CLIENT_CONNECT_MS * 1000000;
    for (;;) {
        if (client_stop) {
            snprintf(err, cap, "interrupted");
            rc = -EINTR;
            break;
        }
        int64_t left_ms = (deadline - weft_mono_ns()) / 1000000;
        if (left_ms <= 0) {
            snprintf(err, cap, "cannot connect to %s within %ds", addr, CLIENT_CONNECT_MS / 1000);
            rc = -ETIMEDOUT;
            break;
        }
        rc = weft_grpc_channel_wait_ready(ch, left_ms < CLIENT_POLL_MS ? left_ms : CLIENT_POLL_MS);
        if (rc == 0)
            break;
        if (rc != -ETIMEDOUT) {
            snprintf(err, cap, "cannot connect to %s: %s", addr, weft_strerror(rc));
            break;
        }
    }
    if (rc == 0) {
        weft_grpc_stream *st = weft_grpc_stream_start(ch, METHOD_LISTEN, NULL, 0, 0, 0, &rc);
        if (st == NULL) {
            snprintf(err, cap, "cannot start a stream to %s: %s", addr, weft_strerror(rc));
        } else {
            *chp = ch;
            *stp = st;
            return 0;
        }
    }
    weft_grpc_channel_free(ch);
    return rc;
}

void
session_close(weft_grpc_channel *ch, weft_grpc_stream *st)
{
    weft_grpc_stream_free(st); /* cancels the call if still running */
    weft_grpc_channel_free(ch);
}

int
session_send(weft_grpc_stream *st, int command, char *topic, uint8_t *data, size_t len, char *err,
             size_t cap)
{
    Proto__Request req;
    proto__request__init(&req);
    req.command = command;
    req.topic = topic;
    req.data.data = data;
    req.data.len = len;
    size_t n = proto__request__get_packed_size(&req);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    proto__request__pack(&req, buf);
    int rc = weft_grpc_stream_send(st, buf, n, CLIENT_REPLY_MS);
    free(buf);
    if (rc == -ETIMEDOUT) {
        snprintf(err, cap, "the node took no request for %ds", CLIENT_REPLY_MS / 1000);
    } else if (rc == WEFT_ECLOSED) {
        /* The call is over; its status says why. */
        uint8_t *m;
        size_t ml;
        int r;
        while ((r = weft_grpc_stream_recv(st, &m, &ml, CLIENT_REPLY_MS)) == 1)
            free(m);
        if (r == 0)
            status_text(weft_grpc_stream_status(st), err, cap);
        else
            snprintf(err, cap, "stream closed");
    } else if (rc < 0) {
        snprintf(err, cap, "send failed: %s", weft_strerror(rc));
    }
    return rc;
}

int
session_recv(weft_grpc_stream *st, Proto__Response **resp, int64_t timeout_ms, char *err,
             size_t cap)
{
    *resp = NULL;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : weft_mono_ns() + timeout_ms * 1000000;
    for (;;) {
        if (client_stop) {
            snprintf(err, cap, "interrupted");
            return -EINTR;
        }
        int64_t left =
            deadline == INT64_MAX ? CLIENT_POLL_MS : (deadline - weft_mono_ns()) / 1000000;
        if (left < 0)
            left = 0;
        uint8_t *m;
        size_t ml;
        int rc = weft_grpc_stream_recv(st, &m, &ml, left < CLIENT_POLL_MS ? left : CLIENT_POLL_MS);
        if (rc == -ETIMEDOUT) {
            if (deadline != INT64_MAX && weft_mono_ns() >= deadline) {
                snprintf(err, cap, "timed out");
                return -ETIMEDOUT;
            }
            continue;
        }
        if (rc == 0) {
            status_text(weft_grpc_stream_status(st), err, cap);
            return 0;
        }
        if (rc < 0) {
            snprintf(err, cap, "receive failed: %s", weft_strerror(rc));
            return rc;
        }
        *resp = proto__response__unpack(NULL, ml, m);
        free(m);
        if (*resp == NULL) {
            snprintf(err, cap, "the node sent %zu bytes that are not a Response", ml);
            return WEFT_EPROTO;
        }
        return 1;
    }
}

static int
is_trace(const Proto__Response *r)
{
    return r->command == PROTO__RESPONSE_TYPE__MessageTraceMumP2P ||
           r->command == PROTO__RESPONSE_TYPE__MessageTraceGossipSub;
}

/* A printable excerpt of untrusted bytes for error messages. */
static void
excerpt(const uint8_t *p, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap; i++)
        out[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (n < len && n + 4 <= cap) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

int
session_publish(weft_grpc_stream *st, char *topic, uint8_t *data, size_t len, int64_t *took_ns,
                char *err, size_t cap)
{
    int64_t t0 = weft_mono_ns();
    int rc = session_send(st, CMD_PUBLISH, topic, data, len, err, cap);
    if (rc < 0)
        return rc;
    int64_t deadline = t0 + (int64_t)CLIENT_REPLY_MS * 1000000;
    for (;;) {
        Proto__Response *r;
        int64_t left = (deadline - weft_mono_ns()) / 1000000;
        rc = session_recv(st, &r, left > 0 ? left : 0, err, cap);
        if (rc == -ETIMEDOUT) {
            snprintf(err, cap, "no reply to the publish within %ds", CLIENT_REPLY_MS / 1000);
            return rc;
        }
        if (rc == WEFT_EPROTO)
            return rc;
        if (rc == 0)
            return WEFT_ECLOSED;
        if (rc < 0)
            return rc;
        if (is_trace(r)) {
            proto__response__free_unpacked(r, NULL);
            continue;
        }
        int64_t t1 = weft_mono_ns();
        cJSON *j = cJSON_ParseWithLength((const char *)r->data.data, r->data.len);
        const cJSON *id = cJSON_IsObject(j) ? cJSON_GetObjectItem(j, "message_id") : NULL;
        rc = 0;
        if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
            char ex[96];
            excerpt(r->data.data, r->data.len, ex, sizeof ex);
            snprintf(err, cap, "the node's reply to the publish has no message_id: %s", ex);
            rc = WEFT_EPROTO;
        }
        cJSON_Delete(j);
        proto__response__free_unpacked(r, NULL);
        *took_ns = t1 - t0;
        return rc;
    }
}

/* ---- deliveries -------------------------------------------------------------- */

void
delivery_free(delivery *d)
{
    free(d->source_node_id);
    free(d->upstream_peer_id);
    free(d->topic);
    free(d->message_id);
    free(d->payload);
    memset(d, 0, sizeof *d);
}

static int
json_str(const cJSON *o, const char *key, int required, char **out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItem(o, key); /* case-insensitive */
    *out = NULL;
    if (v == NULL || (!required && cJSON_IsNull(v)))
        goto missing;
    if (!cJSON_IsString(v)) {
        snprintf(err, cap, "\"%s\" is not a string", key);
        return WEFT_EPROTO;
    }
    if ((*out = strdup(v->valuestring)) == NULL) {
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    return 0;
missing:
    if (!required)
        return 0;
    snprintf(err, cap, "missing \"%s\"", key);
    return WEFT_EPROTO;
}

/* Standard base64 as Go's encoding/json writes []byte; padding optional. */
static int
base64_decode_lenient(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    char *padded = NULL;
    if (n % 4 == 1)
        return WEFT_EPROTO;
    if (n % 4 != 0) {
        padded = malloc(n + 3);
        if (padded == NULL)
            return -ENOMEM;
        memcpy(padded, s, n);
        while (n % 4 != 0)
            padded[n++] = '=';
        s = padded;
    }
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    int rc = buf == NULL ? -ENOMEM : weft_base64_decode(s, n, buf, n / 4 * 3 + 1);
    free(padded);
    if (rc < 0) {
        free(buf);
        return rc == -ENOMEM ? rc : WEFT_EPROTO;
    }
    *out = buf;
    *len = (size_t)rc;
    return 0;
}

int
delivery_parse(const uint8_t *json, size_t len, delivery *d, char *err, size_t cap)
{
    memset(d, 0, sizeof *d);
    cJSON *j = cJSON_ParseWithLength((const char *)json, len);
    int rc;
    if (!cJSON_IsObject(j)) {
        char ex[96];
        excerpt(json, len, ex, sizeof ex);
        snprintf(err, cap, "not a JSON object: %s", ex);
        rc = WEFT_EPROTO;
        goto out;
    }
    char *b64 = NULL;
    if ((rc = json_str(j, "source_node_id", 1, &d->source_node_id, err, cap)) < 0 ||
        (rc = json_str(j, "upstream_peer_id", 0, &d->upstream_peer_id, err, cap)) < 0 ||
        (rc = json_str(j, "topic", 1, &d->topic, err, cap)) < 0 ||
        (rc = json_str(j, "message_id", 1, &d->message_id, err, cap)) < 0 ||
        (rc = json_str(j, "message", 1, &b64, err, cap)) < 0)
        goto out;
    rc = base64_decode_lenient(b64, &d->payload, &d->len);
    free(b64);
    if (rc < 0)
        snprintf(err, cap, "%s", rc == -ENOMEM ? "out of memory" : "\"message\" is not base64");
out:
    cJSON_Delete(j);
    if (rc < 0)
        delivery_free(d);
    return rc;
}

/* ---- trace events ------------------------------------------------------------ */

static const char *const trace_names[] = {
    "PUBLISH_MESSAGE",
    "REJECT_MESSAGE",
    "DUPLICATE_MESSAGE",
    "DELIVER_MESSAGE",
    "ADD_PEER",
    "REMOVE_PEER",
    "RECV_RPC",
    "SEND_RPC",
    "DROP_RPC",
    "JOIN",
    "LEAVE",
    "GRAFT",
    "PRUNE",
    "DUPLICATE_SHARD",
    "UNHELPFUL_SHARD",
    "UNNECESSARY_SHARD",
    "NEW_SHARD",
};

/* Renumber the RPCMeta fields of a libp2p trace (see the file comment).
 * buf is a private copy of the event; only key bytes change. */
static int
remap_rpcmeta(uint8_t *buf, size_t len)
{
    weft_pb_reader top, sub, meta;
    weft_pb_field f, g, h;
    int rc;
    weft_pb_reader_init(&top, buf, len);
    while ((rc = weft_pb_next(&top, &f)) == 1) {
        if (f.num < 10 || f.num > 12 || f.wire != WEFT_PB_LEN)
            continue; /* recvRPC, sendRPC, dropRPC hold the meta */
        weft_pb_reader_init(&sub, f.data, f.len);
        while ((rc = weft_pb_next(&sub, &g)) == 1) {
            if (g.num != 2 || g.wire != WEFT_PB_LEN)
                continue;
            weft_pb_reader_init(&meta, g.data, g.len);
            for (;;) {
                /* The readers only view buf; the key byte is written through buf. */
                uint8_t *key = buf + (meta.p - buf);
                rc = weft_pb_next(&meta, &h);
                if (rc != 1)
                    break;
                if ((h.num == 2 || h.num == 3) && (*key & 0x80) == 0)
                    *key = (uint8_t)(((h.num + 1) << 3) | (uint32_t)h.wire);
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

/*
 * The JSON line is what the guides' Go client prints with encoding/json over
 * the generated structs: keys in field order, absent fields left out, the
 * type and the integers as numbers, every bytes field (ids, peer ids,
 * coefficients) in standard padded base64.
 */
static void
add_b64(cJSON *o, const char *key, const ProtobufCBinaryData *b)
{
    if (b->len == 0)
        return; /* an empty []byte is omitted, as omitempty does */
    size_t cap = (b->len + 2) / 3 * 4 + 1;
    char *s = malloc(cap);
    if (s == NULL)
        return;
    if (weft_base64_encode(b->data, b->len, s, cap) >= 0)
        cJSON_AddStringToObject(o, key, s);
    free(s);
}

#define ADD_BYTES(o, msg, has, key, field)                                                         \
    do {                                                                                           \
        if ((msg)->has)                                                                            \
            add_b64((o), (key), &(msg)->field);                                                    \
    } while (0)

static void
add_topic(cJSON *o, const char *topic)
{
    if (topic != NULL)
        cJSON_AddStringToObject(o, "topic", topic);
}

static cJSON *
ids_json(size_t n, const ProtobufCBinaryData *ids)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < n; i++) {
        size_t cap = (ids[i].len + 2) / 3 * 4 + 1;
        char *s = malloc(cap);
        if (s == NULL)
            break;
        if (weft_base64_encode(ids[i].data, ids[i].len, s, cap) >= 0)
            cJSON_AddItemToArray(a, cJSON_CreateString(s));
        free(s);
    }
    return a;
}

static void
add_ids(cJSON *o, size_t n, const ProtobufCBinaryData *ids)
{
    if (n > 0)
        cJSON_AddItemToObject(o, "messageIDs", ids_json(n, ids));
}

static cJSON *
control_json(const Optimum__Pb__TraceEvent__ControlMeta *c)
{
    cJSON *o = cJSON_CreateObject(), *a;
    if (c->n_ihave > 0 && (a = cJSON_AddArrayToObject(o, "ihave")) != NULL)
        for (size_t i = 0; i < c->n_ihave; i++) {
            cJSON *e = cJSON_CreateObject();
            add_topic(e, c->ihave[i]->topic);
            add_ids(e, c->ihave[i]->n_messageids, c->ihave[i]->messageids);
            cJSON_AddItemToArray(a, e);
        }
    if (c->n_iwant > 0 && (a = cJSON_AddArrayToObject(o, "iwant")) != NULL)
        for (size_t i = 0; i < c->n_iwant; i++) {
            cJSON *e = cJSON_CreateObject();
            add_ids(e, c->iwant[i]->n_messageids, c->iwant[i]->messageids);
            cJSON_AddItemToArray(a, e);
        }
    if (c->n_graft > 0 && (a = cJSON_AddArrayToObject(o, "graft")) != NULL)
        for (size_t i = 0; i < c->n_graft; i++) {
            cJSON *e = cJSON_CreateObject();
            add_topic(e, c->graft[i]->topic);
            cJSON_AddItemToArray(a, e);
        }
    if (c->n_prune > 0 && (a = cJSON_AddArrayToObject(o, "prune")) != NULL)
        for (size_t i = 0; i < c->n_prune; i++) {
            cJSON *e = cJSON_CreateObject();
            add_topic(e, c->prune[i]->topic);
            if (c->prune[i]->n_peers > 0)
                cJSON_AddItemToObject(e, "peers",
                                      ids_json(c->prune[i]->n_peers, c->prune[i]->peers));
            cJSON_AddItemToArray(a, e);
        }
    if (c->n_idontwant > 0 && (a = cJSON_AddArrayToObject(o, "idontwant")) != NULL)
        for (size_t i = 0; i < c->n_idontwant; i++) {
            cJSON *e = cJSON_CreateObject();
            add_ids(e, c->idontwant[i]->n_messageids, c->idontwant[i]->messageids);
            cJSON_AddItemToArray(a, e);
        }
    return o;
}

static cJSON *
meta_json(const Optimum__Pb__TraceEvent__RPCMeta *m)
{
    cJSON *o = cJSON_CreateObject(), *a;
    if (m->n_messages > 0 && (a = cJSON_AddArrayToObject(o, "messages")) != NULL)
        for (size_t i = 0; i < m->n_messages; i++) {
            cJSON *e = cJSON_CreateObject();
            ADD_BYTES(e, m->messages[i], has_messageid, "messageID", messageid);
            add_topic(e, m->messages[i]->topic);
            cJSON_AddItemToArray(a, e);
        }
    if (m->n_shards > 0 && (a = cJSON_AddArrayToObject(o, "shards")) != NULL)
        for (size_t i = 0; i < m->n_shards; i++) {
            cJSON *e = cJSON_CreateObject();
            ADD_BYTES(e, m->shards[i], has_messageid, "messageID", messageid);
            cJSON_AddItemToArray(a, e);
        }
    if (m->n_subscription > 0 && (a = cJSON_AddArrayToObject(o, "subscription")) != NULL)
        for (size_t i = 0; i < m->n_subscription; i++) {
            cJSON *e = cJSON_CreateObject();
            if (m->subscription[i]->has_subscribe)
                cJSON_AddBoolToObject(e, "subscribe", m->subscription[i]->subscribe);
            add_topic(e, m->subscription[i]->topic);
            cJSON_AddItemToArray(a, e);
        }
    if (m->control != NULL)
        cJSON_AddItemToObject(o, "control", control_json(m->control));
    return o;
}

static void
add_shard(cJSON *root, const char *key, const Optimum__Pb__TraceEvent__ShardContainer *s)
{
    cJSON *o;
    if (s == NULL || (o = cJSON_AddObjectToObject(root, key)) == NULL)
        return;
    ADD_BYTES(o, s, has_messageid, "messageID", messageid);
    ADD_BYTES(o, s, has_receivedfrom, "receivedFrom", receivedfrom);
    ADD_BYTES(o, s, has_coefficients, "coefficients", coefficients);
}

/* Integers as JSON numbers, exactly (a raw item: a double would print a
 * nanosecond timestamp in exponent form). */
static void
add_int(cJSON *o, const char *key, long long v)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", v);
    cJSON_AddRawToObject(o, key, s);
}

static void
add_uint(cJSON *o, const char *key, unsigned long long v)
{
    char s[24];
    snprintf(s, sizeof s, "%llu", v);
    cJSON_AddRawToObject(o, key, s);
}

static cJSON *
event_json(const Optimum__Pb__TraceEvent *ev)
{
    cJSON *root = cJSON_CreateObject(), *o;
    if (root == NULL)
        return NULL;
    if (ev->has_type)
        add_int(root, "type", (long long)ev->type);
    ADD_BYTES(root, ev, has_peerid, "peerID", peerid);
    if (ev->has_timestamp)
        add_int(root, "timestamp", (long long)ev->timestamp);
    if (ev->publishmessage != NULL && (o = cJSON_AddObjectToObject(root, "publishMessage"))) {
        ADD_BYTES(o, ev->publishmessage, has_messageid, "messageID", messageid);
        add_topic(o, ev->publishmessage->topic);
    }
    if (ev->rejectmessage != NULL && (o = cJSON_AddObjectToObject(root, "rejectMessage"))) {
        const Optimum__Pb__TraceEvent__RejectMessage *m = ev->rejectmessage;
        ADD_BYTES(o, m, has_messageid, "messageID", messageid);
        ADD_BYTES(o, m, has_receivedfrom, "receivedFrom", receivedfrom);
        if (m->reason != NULL)
            cJSON_AddStringToObject(o, "reason", m->reason);
        add_topic(o, m->topic);
    }
    if (ev->duplicatemessage != NULL && (o = cJSON_AddObjectToObject(root, "duplicateMessage"))) {
        const Optimum__Pb__TraceEvent__DuplicateMessage *m = ev->duplicatemessage;
        ADD_BYTES(o, m, has_messageid, "messageID", messageid);
        ADD_BYTES(o, m, has_receivedfrom, "receivedFrom", receivedfrom);
        add_topic(o, m->topic);
    }
    if (ev->delivermessage != NULL && (o = cJSON_AddObjectToObject(root, "deliverMessage"))) {
        const Optimum__Pb__TraceEvent__DeliverMessage *m = ev->delivermessage;
        ADD_BYTES(o, m, has_messageid, "messageID", messageid);
        add_topic(o, m->topic);
        ADD_BYTES(o, m, has_receivedfrom, "receivedFrom", receivedfrom);
    }
    if (ev->addpeer != NULL && (o = cJSON_AddObjectToObject(root, "addPeer"))) {
        ADD_BYTES(o, ev->addpeer, has_peerid, "peerID", peerid);
        if (ev->addpeer->proto != NULL)
            cJSON_AddStringToObject(o, "proto", ev->addpeer->proto);
    }
    if (ev->removepeer != NULL && (o = cJSON_AddObjectToObject(root, "removePeer")))
        ADD_BYTES(o, ev->removepeer, has_peerid, "peerID", peerid);
    if (ev->recvrpc != NULL && (o = cJSON_AddObjectToObject(root, "recvRPC"))) {
        ADD_BYTES(o, ev->recvrpc, has_receivedfrom, "receivedFrom", receivedfrom);
        if (ev->recvrpc->meta != NULL)
            cJSON_AddItemToObject(o, "meta", meta_json(ev->recvrpc->meta));
        if (ev->recvrpc->has_length)
            add_uint(o, "length", (unsigned long long)ev->recvrpc->length);
    }
    if (ev->sendrpc != NULL && (o = cJSON_AddObjectToObject(root, "sendRPC"))) {
        ADD_BYTES(o, ev->sendrpc, has_sendto, "sendTo", sendto);
        if (ev->sendrpc->meta != NULL)
            cJSON_AddItemToObject(o, "meta", meta_json(ev->sendrpc->meta));
        if (ev->sendrpc->has_length)
            add_uint(o, "length", (unsigned long long)ev->sendrpc->length);
    }
    if (ev->droprpc != NULL && (o = cJSON_AddObjectToObject(root, "dropRPC"))) {
        ADD_BYTES(o, ev->droprpc, has_sendto, "sendTo", sendto);
        if (ev->droprpc->meta != NULL)
            cJSON_AddItemToObject(o, "meta", meta_json(ev->droprpc->meta));
    }
    if (ev->join != NULL && (o = cJSON_AddObjectToObject(root, "join")))
        add_topic(o, ev->join->topic);
    if (ev->leave != NULL && (o = cJSON_AddObjectToObject(root, "leave")))
        add_topic(o, ev->leave->topic);
    if (ev->graft != NULL && (o = cJSON_AddObjectToObject(root, "graft"))) {
        ADD_BYTES(o, ev->graft, has_peerid, "peerID", peerid);
        add_topic(o, ev->graft->topic);
    }
    if (ev->prune != NULL && (o = cJSON_AddObjectToObject(root, "prune"))) {
        ADD_BYTES(o, ev->prune, has_peerid, "peerID", peerid);
        add_topic(o, ev->prune->topic);
    }
    add_shard(root, "duplicateShard", ev->duplicateshard);
    add_shard(root, "unhelpfulShard", ev->unhelpfulshard);
    add_shard(root, "unnecessaryShard", ev->unnecessaryshard);
    add_shard(root, "newShard", ev->newshard);
    return root;
}

/* The guides' detail line of a shard event: "  NEW_SHARD id=<hex> coeff=<hex>"
 * (the others name the id only); empty for other events. */
static char *
shard_detail(const Optimum__Pb__TraceEvent *ev, int type)
{
    const Optimum__Pb__TraceEvent__ShardContainer *s = NULL;
    const char *name = NULL;
    switch (type) {
    case 16: s = ev->newshard, name = "NEW_SHARD"; break;
    case 13: s = ev->duplicateshard, name = "DUPLICATE_SHARD"; break;
    case 14: s = ev->unhelpfulshard, name = "UNHELPFUL_SHARD"; break;
    case 15: s = ev->unnecessaryshard, name = "UNNECESSARY_SHARD"; break;
    default: return NULL;
    }
    size_t idn = s != NULL && s->has_messageid ? s->messageid.len : 0;
    size_t cn = type == 16 && s != NULL && s->has_coefficients ? s->coefficients.len : 0;
    char *out = malloc(40 + 2 * idn + 2 * cn);
    if (out == NULL)
        return NULL;
    int k = sprintf(out, "  %s id=", name);
    weft_hex_encode(idn ? s->messageid.data : (const uint8_t *)"", idn, out + k);
    if (type == 16) {
        size_t at = strlen(out);
        memcpy(out + at, " coeff=", 8);
        weft_hex_encode(cn ? s->coefficients.data : (const uint8_t *)"", cn, out + at + 7);
    }
    return out;
}

void
trace_text_free(trace_text *t)
{
    cJSON_free(t->json);
    t->json = NULL;
    free(t->detail);
    t->detail = NULL;
}

int
trace_decode(Proto__ResponseType command, const uint8_t *data, size_t len, trace_text *t, char *err,
             size_t cap)
{
    int gossip = command == PROTO__RESPONSE_TYPE__MessageTraceGossipSub;
    memset(t, 0, sizeof *t);
    t->label = gossip ? "GossipSub" : "OptimumP2P";
    t->size = len;
    uint8_t *copy = NULL;
    if (gossip && len > 0) {
        if ((copy = malloc(len)) == NULL) {
            snprintf(err, cap, "out of memory");
            return -ENOMEM;
        }
        memcpy(copy, data, len);
        if (remap_rpcmeta(copy, len) < 0) {
            free(copy);
            snprintf(err, cap, "malformed %s trace event (%zu bytes)", t->label, len);
            return WEFT_EPROTO;
        }
        data = copy;
    }
    Optimum__Pb__TraceEvent *ev = optimum__pb__trace_event__unpack(NULL, len, data);
    free(copy);
    if (ev == NULL) {
        snprintf(err, cap, "malformed %s trace event (%zu bytes)", t->label, len);
        return WEFT_EPROTO;
    }
    /* A missing type is PUBLISH_MESSAGE (0), as proto2 getters answer. */
    int type = ev->has_type ? (int)ev->type : 0;
    if (type >= 0 && (size_t)type < sizeof trace_names / sizeof trace_names[0])
        snprintf(t->type, sizeof t->type, "%s", trace_names[type]);
    else
        snprintf(t->type, sizeof t->type, "%d", type);
    rfc3339nano_utc(ev->has_timestamp ? ev->timestamp : 0, t->ts, sizeof t->ts);
    cJSON *j = event_json(ev);
    /* gossipsub numbering has no shard events (its 13.. are not ours) */
    t->detail = gossip ? NULL : shard_detail(ev, type);
    optimum__pb__trace_event__free_unpacked(ev, NULL);
    t->json = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (t->json == NULL) {
        trace_text_free(t);
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    t->json_len = strlen(t->json);
    return 0;
}
