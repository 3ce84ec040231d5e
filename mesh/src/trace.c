/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace events as TraceEvent protobufs (weft_ps_trace_encode in
 * weft/pubsub.h), numbered as optimum.pb's TraceEvent, which extends the
 * libp2p pubsub trace.proto with the shard events 17-20.
 *
 * Every event carries type (1), the local peer id (2, when known) and the
 * timestamp (3), then the sub-message of its type, written even when empty
 * (proto2 readers see which one is set). Inside it, empty byte fields and
 * NULL or empty strings are left out. RPCMeta is not produced.
 */
#include <stdint.h>
#include <string.h>

#include "weft/pb.h"
#include "weft/pubsub.h"

static const char *const trace_names[] = {
    [WEFT_TRACE_PUBLISH_MESSAGE] = "PUBLISH_MESSAGE",
    [WEFT_TRACE_REJECT_MESSAGE] = "REJECT_MESSAGE",
    [WEFT_TRACE_DUPLICATE_MESSAGE] = "DUPLICATE_MESSAGE",
    [WEFT_TRACE_DELIVER_MESSAGE] = "DELIVER_MESSAGE",
    [WEFT_TRACE_ADD_PEER] = "ADD_PEER",
    [WEFT_TRACE_REMOVE_PEER] = "REMOVE_PEER",
    [WEFT_TRACE_RECV_RPC] = "RECV_RPC",
    [WEFT_TRACE_SEND_RPC] = "SEND_RPC",
    [WEFT_TRACE_DROP_RPC] = "DROP_RPC",
    [WEFT_TRACE_JOIN] = "JOIN",
    [WEFT_TRACE_LEAVE] = "LEAVE",
    [WEFT_TRACE_GRAFT] = "GRAFT",
    [WEFT_TRACE_PRUNE] = "PRUNE",
    [WEFT_TRACE_DUPLICATE_SHARD] = "DUPLICATE_SHARD",
    [WEFT_TRACE_UNHELPFUL_SHARD] = "UNHELPFUL_SHARD",
    [WEFT_TRACE_UNNECESSARY_SHARD] = "UNNECESSARY_SHARD",
    [WEFT_TRACE_NEW_SHARD] = "NEW_SHARD",
};
#define TRACE_NTYPES (sizeof trace_names / sizeof trace_names[0])

const char *
weft_ps_trace_name(int type)
{
    if (type < 0 || (size_t)type >= TRACE_NTYPES || trace_names[type] == NULL)
        return "UNKNOWN";
    return trace_names[type];
}

/* One field of a sub-message: bytes (left out when empty) or a varint. */
typedef struct tfield {
    uint32_t num;
    int is_varint;
    const uint8_t *p;
    size_t len;
    uint64_t u;
} tfield;

typedef struct tmsg {
    tfield f[4];
    size_t n;
} tmsg;

static void
add_bytes(tmsg *m, uint32_t num, const void *p, size_t len)
{
    if (p == NULL || len == 0)
        return;
    m->f[m->n++] = (tfield){num, 0, p, len, 0};
}

static void
add_str(tmsg *m, uint32_t num, const char *s)
{
    if (s != NULL)
        add_bytes(m, num, s, strlen(s));
}

static void
add_peer(tmsg *m, uint32_t num, const weft_peer_id *id)
{
    if (id != NULL)
        add_bytes(m, num, id->bytes, id->len <= WEFT_PEER_ID_MAX ? id->len : 0);
}

static void
add_varint(tmsg *m, uint32_t num, uint64_t v)
{
    m->f[m->n++] = (tfield){num, 1, NULL, 0, v};
}

static size_t
tmsg_size(const tmsg *m)
{
    size_t s = 0;
    for (size_t i = 0; i < m->n; i++) {
        const tfield *f = &m->f[i];
        s += weft_uvarint_len((uint64_t)f->num << 3);
        s += f->is_varint ? weft_uvarint_len(f->u) : weft_uvarint_len(f->len) + f->len;
    }
    return s;
}

/* The sub-message field number of a type and its fields. */
static uint32_t
build(const weft_ps_trace *ev, tmsg *m)
{
    m->n = 0;
    switch (ev->type) {
    case WEFT_TRACE_PUBLISH_MESSAGE:
        add_bytes(m, 1, ev->msg_id.p, ev->msg_id.len);
        add_bytes(m, 2, ev->topic.p, ev->topic.len);
        return 4;
    case WEFT_TRACE_REJECT_MESSAGE:
        add_bytes(m, 1, ev->msg_id.p, ev->msg_id.len);
        add_peer(m, 2, ev->peer);
        add_str(m, 3, ev->reason);
        add_bytes(m, 4, ev->topic.p, ev->topic.len);
        return 5;
    case WEFT_TRACE_DUPLICATE_MESSAGE:
        add_bytes(m, 1, ev->msg_id.p, ev->msg_id.len);
        add_peer(m, 2, ev->peer);
        add_bytes(m, 3, ev->topic.p, ev->topic.len);
        return 6;
    case WEFT_TRACE_DELIVER_MESSAGE:
        add_bytes(m, 1, ev->msg_id.p, ev->msg_id.len);
        add_bytes(m, 2, ev->topic.p, ev->topic.len);
        add_peer(m, 3, ev->peer);
        return 7;
    case WEFT_TRACE_ADD_PEER:
        add_peer(m, 1, ev->peer);
        add_str(m, 2, ev->proto);
        return 8;
    case WEFT_TRACE_REMOVE_PEER: add_peer(m, 1, ev->peer); return 9;
    case WEFT_TRACE_RECV_RPC:
        add_peer(m, 1, ev->peer);
        add_varint(m, 3, ev->length);
        return 10;
    case WEFT_TRACE_SEND_RPC:
        add_peer(m, 1, ev->peer);
        add_varint(m, 3, ev->length);
        return 11;
    case WEFT_TRACE_DROP_RPC: add_peer(m, 1, ev->peer); return 12;
    case WEFT_TRACE_JOIN: add_bytes(m, 1, ev->topic.p, ev->topic.len); return 13;
    case WEFT_TRACE_LEAVE: add_bytes(m, 2, ev->topic.p, ev->topic.len); return 14;
    case WEFT_TRACE_GRAFT:
        add_peer(m, 1, ev->peer);
        add_bytes(m, 2, ev->topic.p, ev->topic.len);
        return 15;
    case WEFT_TRACE_PRUNE:
        add_peer(m, 1, ev->peer);
        add_bytes(m, 2, ev->topic.p, ev->topic.len);
        return 16;
    case WEFT_TRACE_DUPLICATE_SHARD:
    case WEFT_TRACE_UNHELPFUL_SHARD:
    case WEFT_TRACE_UNNECESSARY_SHARD:
    case WEFT_TRACE_NEW_SHARD:
        add_bytes(m, 1, ev->msg_id.p, ev->msg_id.len);
        add_peer(m, 2, ev->peer);
        add_bytes(m, 3, ev->coeffs.p, ev->coeffs.len);
        return (uint32_t)(17 + (ev->type - WEFT_TRACE_DUPLICATE_SHARD));
    default: return 0;
    }
}

int
weft_ps_trace_encode(const weft_ps_trace *ev, weft_buf *out)
{
    tmsg m;
    uint32_t sub = build(ev, &m);
    if (sub == 0)
        return WEFT_EINVAL;
    size_t inner = tmsg_size(&m);
    size_t self_len = ev->self != NULL && ev->self->len <= WEFT_PEER_ID_MAX ? ev->self->len : 0;
    /* Keys of fields 1-3 take one byte; those of the sub-messages 16-20 two. */
    size_t total = 1 + weft_uvarint_len((uint64_t)ev->type) + 1 +
                   weft_uvarint_len((uint64_t)ev->ts_ns) + weft_uvarint_len((uint64_t)sub << 3) +
                   weft_uvarint_len(inner) + inner +
                   (self_len > 0 ? 1 + weft_uvarint_len(self_len) + self_len : 0);
    int rc = weft_buf_reserve(out, total);
    if (rc < 0)
        return rc;
    size_t start = out->len;
    /* The writes below fit in the reserved space and cannot fail. */
    WEFT_IGNORE(weft_pb_put_varint(out, 1, (uint64_t)ev->type));
    if (self_len > 0)
        WEFT_IGNORE(weft_pb_put_bytes(out, 2, ev->self->bytes, self_len));
    WEFT_IGNORE(weft_pb_put_varint(out, 3, (uint64_t)ev->ts_ns)); /* int64: two's complement */
    uint8_t hdr[2 * WEFT_UVARINT_MAX];
    size_t h = weft_uvarint_put(hdr, ((uint64_t)sub << 3) | WEFT_PB_LEN);
    h += weft_uvarint_put(hdr + h, inner);
    WEFT_IGNORE(weft_buf_append(out, hdr, h));
    for (size_t i = 0; i < m.n; i++) {
        const tfield *f = &m.f[i];
        if (f->is_varint)
            WEFT_IGNORE(weft_pb_put_varint(out, f->num, f->u));
        else
            WEFT_IGNORE(weft_pb_put_bytes(out, f->num, f->p, f->len));
    }
    if (out->len - start != total)
        weft_panic("trace: encoded %zu bytes of %zu", out->len - start, total);
    return 0;
}
