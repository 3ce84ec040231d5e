/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire messages of the topic mesh (weft/ps_rpc.h): GossipSub and RLNC
 * RPC parsers and writers, and the bytes publishers sign.
 *
 * Parsing is two passes over the same bytes. The first checks the RPC
 * against a small schema (for every message type: the known field numbers,
 * the wire type each must have and the nested message it holds), so any
 * malformation anywhere, however deep, fails the RPC before the visitor
 * runs. The second pass walks the now known-good bytes and calls the
 * visitor; a singular field repeated on the wire takes its last value, as
 * protobuf does, and unknown fields of every message are skipped.
 *
 * Writers compute the length of each nested message first and then write it
 * in one go into reserved space, so a payload (a 1 MiB data field) is copied
 * exactly once, from the caller's memory into the output buffer.
 */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "weft/pb.h"
#include "weft/ps_rpc.h"

/* Absent byte fields point here: never NULL, so callers may memcmp them. */
static const uint8_t empty_bytes[1];

static weft_bytes
no_bytes(void)
{
    return (weft_bytes){empty_bytes, 0};
}

static weft_bytes
field_bytes(const weft_pb_field *f)
{
    return (weft_bytes){f->data, f->len};
}

/* ---- validation (pass 1) ---------------------------------------------------- */

enum { RULE_U32 = 1 }; /* a VARINT that must fit in 32 bits */

typedef struct pb_schema pb_schema;
typedef struct pb_rule {
    uint32_t num;
    int wire;
    const pb_schema *sub; /* LEN fields holding a message; NULL for bytes */
    unsigned flags;
} pb_rule;
struct pb_schema {
    const pb_rule *rules;
    size_t n;
};

#define SCHEMA(name, ...)                                                                          \
    static const pb_rule name##_rules[] = {__VA_ARGS__};                                           \
    static const pb_schema name = {name##_rules, sizeof name##_rules / sizeof name##_rules[0]}

/* GossipSub */
SCHEMA(s_subopts, {1, WEFT_PB_VARINT, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_message, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0}, {3, WEFT_PB_LEN, NULL, 0},
       {4, WEFT_PB_LEN, NULL, 0}, {5, WEFT_PB_LEN, NULL, 0}, {6, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_ihave, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_idlist, {1, WEFT_PB_LEN, NULL, 0}); /* ControlIWant, ControlIDontWant */
SCHEMA(s_graft, {1, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_peerinfo, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_prune, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, &s_peerinfo, 0},
       {3, WEFT_PB_VARINT, NULL, 0});
SCHEMA(s_control, {1, WEFT_PB_LEN, &s_ihave, 0}, {2, WEFT_PB_LEN, &s_idlist, 0},
       {3, WEFT_PB_LEN, &s_graft, 0}, {4, WEFT_PB_LEN, &s_prune, 0},
       {5, WEFT_PB_LEN, &s_idlist, 0});
SCHEMA(s_gossip, {1, WEFT_PB_LEN, &s_subopts, 0}, {2, WEFT_PB_LEN, &s_message, 0},
       {3, WEFT_PB_LEN, &s_control, 0});

/* RLNC */
SCHEMA(s_shard, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0}, {3, WEFT_PB_LEN, NULL, 0},
       {4, WEFT_PB_VARINT, NULL, 0}, {5, WEFT_PB_LEN, NULL, 0}, {6, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_rlnc_ihave, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_LEN, NULL, 0});
SCHEMA(s_want, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_VARINT, NULL, RULE_U32});
SCHEMA(s_have, {1, WEFT_PB_LEN, NULL, 0}, {2, WEFT_PB_VARINT, NULL, RULE_U32},
       {3, WEFT_PB_VARINT, NULL, RULE_U32});
SCHEMA(s_rlnc, {1, WEFT_PB_LEN, &s_shard, 0}, {2, WEFT_PB_LEN, NULL, 0},
       {3, WEFT_PB_LEN, &s_rlnc_ihave, 0}, {4, WEFT_PB_LEN, &s_want, 0},
       {5, WEFT_PB_LEN, &s_have, 0});

/* 0 when p[0..len) is a well-formed message of schema s, else WEFT_EPROTO.
 * The recursion is bounded by the schemas (at most four levels). */
static int
validate(const uint8_t *p, size_t len, const pb_schema *s)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        for (size_t i = 0; i < s->n; i++) {
            const pb_rule *rule = &s->rules[i];
            if (rule->num != f.num)
                continue;
            if (rule->wire != f.wire)
                return WEFT_EPROTO;
            if ((rule->flags & RULE_U32) && f.u > UINT32_MAX)
                return WEFT_EPROTO;
            if (rule->sub != NULL && validate(f.data, f.len, rule->sub) != 0)
                return WEFT_EPROTO;
            break;
        }
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

/* ---- visiting (pass 2) ------------------------------------------------------ */

/* The passes below run on validated bytes, so weft_pb_next returns 1 or 0
 * and every known field has its wire type; an error is still mapped to
 * WEFT_EPROTO rather than trusted away. */

/* The last value of LEN field num in a message (protobuf: last one wins),
 * or empty when absent. */
static weft_bytes
last_bytes(const uint8_t *p, size_t len, uint32_t num)
{
    weft_bytes out = no_bytes();
    weft_pb_reader r;
    weft_pb_field f;
    weft_pb_reader_init(&r, p, len);
    while (weft_pb_next(&r, &f) == 1)
        if (f.num == num && f.wire == WEFT_PB_LEN)
            out = field_bytes(&f);
    return out;
}

/* Call cb(u, topic, id) or cb2(u, id) for every LEN field num of p. */
static int
visit_ids(const uint8_t *p, size_t len, uint32_t num, int (*cb)(void *, weft_bytes, weft_bytes),
          int (*cb2)(void *, weft_bytes), weft_bytes topic, void *u)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num != num)
            continue;
        int vr = cb != NULL ? cb(u, topic, field_bytes(&f)) : cb2(u, field_bytes(&f));
        if (vr != 0)
            return vr;
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

static int
visit_sub(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc, subscribe = 0;
    weft_bytes topic = no_bytes();
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1)
            subscribe = f.u != 0;
        else if (f.num == 2)
            topic = field_bytes(&f);
    }
    if (rc != 0)
        return WEFT_EPROTO;
    return v->sub(u, subscribe, topic);
}

static int
visit_msg(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_rpc_msg m;
    weft_pb_reader r;
    weft_pb_field f;
    int rc;
    m.from = m.data = m.seqno = m.topic = m.signature = m.key = no_bytes();
    m.has = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            m.from = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_FROM;
            break;
        case 2:
            m.data = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_DATA;
            break;
        case 3:
            m.seqno = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_SEQNO;
            break;
        case 4:
            m.topic = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_TOPIC;
            break;
        case 5:
            m.signature = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_SIGNATURE;
            break;
        case 6:
            m.key = field_bytes(&f);
            m.has |= WEFT_RPC_HAS_KEY;
            break;
        default: break;
        }
    }
    if (rc != 0)
        return WEFT_EPROTO;
    return v->msg(u, &m);
}

static int
visit_prune(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_bytes topic = no_bytes(), peers[WEFT_RPC_MAX_PX];
    size_t npeers = 0;
    int has_backoff = 0, rc;
    uint64_t backoff = 0;
    weft_pb_reader r;
    weft_pb_field f;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1: topic = field_bytes(&f); break;
        case 2:
            if (npeers < WEFT_RPC_MAX_PX) {
                weft_bytes id = last_bytes(f.data, f.len, 1);
                if (id.len > 0)
                    peers[npeers++] = id;
            }
            break;
        case 3:
            has_backoff = 1;
            backoff = f.u;
            break;
        default: break;
        }
    }
    if (rc != 0)
        return WEFT_EPROTO;
    return v->prune(u, topic, peers, npeers, has_backoff, backoff);
}

static int
visit_control(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc, vr = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (v->ihave != NULL)
                vr = visit_ids(f.data, f.len, 2, v->ihave, NULL, last_bytes(f.data, f.len, 1), u);
            break;
        case 2:
            if (v->iwant != NULL)
                vr = visit_ids(f.data, f.len, 1, NULL, v->iwant, no_bytes(), u);
            break;
        case 3:
            if (v->graft != NULL)
                vr = v->graft(u, last_bytes(f.data, f.len, 1));
            break;
        case 4:
            if (v->prune != NULL)
                vr = visit_prune(f.data, f.len, v, u);
            break;
        case 5:
            if (v->idontwant != NULL)
                vr = visit_ids(f.data, f.len, 1, NULL, v->idontwant, no_bytes(), u);
            break;
        default: break;
        }
        if (vr != 0)
            return vr;
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

int
weft_rpc_parse_gossip(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    if (len == 0)
        return 0; /* an empty RPC: nothing to visit */
    if (p == NULL)
        return WEFT_EINVAL;
    if (validate(p, len, &s_gossip) != 0)
        return WEFT_EPROTO;
    if (v == NULL)
        return 0;
    weft_pb_reader r;
    weft_pb_field f;
    int rc, vr = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (v->sub != NULL)
                vr = visit_sub(f.data, f.len, v, u);
            break;
        case 2:
            if (v->msg != NULL)
                vr = visit_msg(f.data, f.len, v, u);
            break;
        case 3: vr = visit_control(f.data, f.len, v, u); break;
        default: break;
        }
        if (vr != 0)
            return vr;
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

static int
visit_shard(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_rpc_shard s;
    weft_pb_reader r;
    weft_pb_field f;
    int rc;
    s.topic = s.msg_id = s.from = s.signature = s.data = no_bytes();
    s.seqno = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1: s.topic = field_bytes(&f); break;
        case 2: s.msg_id = field_bytes(&f); break;
        case 3: s.from = field_bytes(&f); break;
        case 4: s.seqno = f.u; break;
        case 5: s.signature = field_bytes(&f); break;
        case 6: s.data = field_bytes(&f); break;
        default: break;
        }
    }
    if (rc != 0)
        return WEFT_EPROTO;
    return v->shard(u, &s);
}

/* Want { id = 1; rank = 2 } and Have { id = 1; rank = 2; got = 3 }: one
 * reader for both (a Want has no field 3, so got stays 0 for it). */
static int
read_id_counts(const uint8_t *p, size_t len, weft_bytes *id, uint32_t *rank, uint32_t *got)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc;
    *id = no_bytes();
    *rank = *got = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1)
            *id = field_bytes(&f);
        else if (f.num == 2)
            *rank = (uint32_t)f.u; /* validated to fit */
        else if (f.num == 3)
            *got = (uint32_t)f.u;
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

static int
visit_want(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_bytes id;
    uint32_t rank, got;
    int rc = read_id_counts(p, len, &id, &rank, &got);
    return rc ? rc : v->want(u, id, rank);
}

static int
visit_have(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    weft_bytes id;
    uint32_t rank, got;
    int rc = read_id_counts(p, len, &id, &rank, &got);
    return rc ? rc : v->have(u, id, rank, got);
}

int
weft_rpc_parse_rlnc(const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    if (len == 0)
        return 0;
    if (p == NULL)
        return WEFT_EINVAL;
    if (validate(p, len, &s_rlnc) != 0)
        return WEFT_EPROTO;
    if (v == NULL)
        return 0;
    weft_pb_reader r;
    weft_pb_field f;
    int rc, vr = 0;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (v->shard != NULL)
                vr = visit_shard(f.data, f.len, v, u);
            break;
        case 2:
            if (v->complete != NULL)
                vr = v->complete(u, field_bytes(&f));
            break;
        case 3:
            if (v->ihave != NULL)
                vr = visit_ids(f.data, f.len, 2, v->ihave, NULL, last_bytes(f.data, f.len, 1), u);
            break;
        case 4:
            if (v->want != NULL)
                vr = visit_want(f.data, f.len, v, u);
            break;
        case 5:
            if (v->have != NULL)
                vr = visit_have(f.data, f.len, v, u);
            break;
        default: break;
        }
        if (vr != 0)
            return vr;
    }
    return rc == 0 ? 0 : WEFT_EPROTO;
}

/* ---- writing ------------------------------------------------------------------ */

/* Sizes are summed with an overflow check: the same large buffer may be
 * passed many times (ids pointing at one block), so a sum of lengths can
 * exceed size_t even though every input fits in memory. */
static int
sz_add(size_t *acc, size_t n)
{
    if (n > SIZE_MAX - *acc)
        return -1;
    *acc += n;
    return 0;
}

static size_t
key_len(uint32_t num)
{
    return weft_uvarint_len((uint64_t)num << 3);
}

/* Bytes of a LEN field holding n bytes; 0 on overflow (a real field is
 * never empty: it has at least a key and a length). */
static size_t
len_field_size(uint32_t num, size_t n)
{
    size_t s = key_len(num) + weft_uvarint_len(n);
    return sz_add(&s, n) == 0 ? s : 0;
}

static size_t
varint_field_size(uint32_t num, uint64_t v)
{
    return key_len(num) + weft_uvarint_len(v);
}

static uint8_t *
w_key(uint8_t *p, uint32_t num, int wire)
{
    return p + weft_uvarint_put(p, ((uint64_t)num << 3) | (uint64_t)wire);
}

/* The key and length of a LEN field of n bytes (payload to follow). */
static uint8_t *
w_len_hdr(uint8_t *p, uint32_t num, size_t n)
{
    p = w_key(p, num, WEFT_PB_LEN);
    return p + weft_uvarint_put(p, n);
}

static uint8_t *
w_bytes(uint8_t *p, uint32_t num, weft_bytes b)
{
    p = w_len_hdr(p, num, b.len);
    if (b.len > 0) {
        memcpy(p, b.p, b.len);
        p += b.len;
    }
    return p;
}

static uint8_t *
w_varint(uint8_t *p, uint32_t num, uint64_t v)
{
    p = w_key(p, num, WEFT_PB_VARINT);
    return p + weft_uvarint_put(p, v);
}

/* Reserve n bytes at the end of b; *at receives where to write them. The
 * caller writes exactly n bytes and then calls commit. */
static int
reserve_at(weft_buf *b, size_t n, uint8_t **at)
{
    int rc = weft_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    *at = b->base + b->len;
    return 0;
}

static void
commit(weft_buf *b, const uint8_t *start, const uint8_t *end, size_t n)
{
    if ((size_t)(end - start) != n)
        weft_panic("rpc writer: wrote %zu bytes of %zu", (size_t)(end - start), n);
    b->len += n;
}

/* Total size of a LEN field `outer` holding a message of inner bytes;
 * WEFT_ETOOBIG when it cannot be represented. */
static int
outer_size(uint32_t outer, size_t inner, size_t *total)
{
    if (inner == SIZE_MAX)
        return WEFT_ETOOBIG;
    size_t t = len_field_size(outer, inner);
    if (t == 0)
        return WEFT_ETOOBIG;
    *total = t;
    return 0;
}

void
weft_rpc_writer_init(weft_rpc_writer *w, size_t max)
{
    weft_buf_init(&w->out, NULL, 0, max);
    weft_buf_init(&w->ctl, NULL, 0, max);
    w->items = 0;
}

void
weft_rpc_writer_reset(weft_rpc_writer *w)
{
    weft_buf_reset(&w->out);
    weft_buf_reset(&w->ctl);
    w->items = 0;
}

void
weft_rpc_writer_free(weft_rpc_writer *w)
{
    weft_buf_free(&w->out);
    weft_buf_free(&w->ctl);
    w->items = 0;
}

int
weft_rpc_put_sub(weft_rpc_writer *w, int subscribe, weft_bytes topic)
{
    size_t inner = varint_field_size(1, subscribe != 0), total, t = len_field_size(2, topic.len);
    uint8_t *start, *p;
    if (t == 0 || sz_add(&inner, t) != 0)
        return WEFT_ETOOBIG;
    int rc = outer_size(1, inner, &total);
    if (rc == 0)
        rc = reserve_at(&w->out, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, 1, inner);
    p = w_varint(p, 1, subscribe != 0);
    p = w_bytes(p, 2, topic);
    commit(&w->out, start, p, total);
    w->items++;
    return 0;
}

/* Message fields 1-4 (from, data, seqno, topic) and, if all, 5-6. */
static size_t
msg_size(const weft_rpc_msg *m, int all)
{
    const weft_bytes *f[6] = {&m->from, &m->data, &m->seqno, &m->topic, &m->signature, &m->key};
    size_t s = 0, n = all ? 6 : 4;
    for (size_t i = 0; i < n; i++) {
        if (!(m->has & (1u << i)))
            continue;
        size_t t = len_field_size((uint32_t)i + 1, f[i]->len);
        if (t == 0 || sz_add(&s, t) != 0)
            return SIZE_MAX;
    }
    return s;
}

static uint8_t *
msg_write(uint8_t *p, const weft_rpc_msg *m, int all)
{
    const weft_bytes *f[6] = {&m->from, &m->data, &m->seqno, &m->topic, &m->signature, &m->key};
    size_t n = all ? 6 : 4;
    for (size_t i = 0; i < n; i++)
        if (m->has & (1u << i))
            p = w_bytes(p, (uint32_t)i + 1, *f[i]);
    return p;
}

int
weft_rpc_put_msg(weft_rpc_writer *w, const weft_rpc_msg *m)
{
    size_t inner = msg_size(m, 1), total;
    uint8_t *start, *p;
    int rc = outer_size(2, inner, &total);
    if (rc == 0)
        rc = reserve_at(&w->out, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, 2, inner);
    p = msg_write(p, m, 1);
    commit(&w->out, start, p, total);
    w->items++;
    return 0;
}

/* A LEN field `outer` in b holding { [topic_num: topic]; id_num: ids[i]... }.
 * topic_num 0 leaves the topic out. Used by IHAVE, IWANT, IDONTWANT and the
 * RLNC IHave. */
static int
put_id_list(weft_rpc_writer *w, weft_buf *b, uint32_t outer, uint32_t topic_num, weft_bytes topic,
            uint32_t id_num, const weft_bytes *ids, size_t n)
{
    size_t inner = 0, total, t;
    uint8_t *start, *p;
    if (n > 0 && ids == NULL)
        return WEFT_EINVAL;
    if (topic_num != 0 && ((t = len_field_size(topic_num, topic.len)) == 0 || sz_add(&inner, t)))
        return WEFT_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if ((t = len_field_size(id_num, ids[i].len)) == 0 || sz_add(&inner, t) != 0)
            return WEFT_ETOOBIG;
    int rc = outer_size(outer, inner, &total);
    if (rc == 0)
        rc = reserve_at(b, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, outer, inner);
    if (topic_num != 0)
        p = w_bytes(p, topic_num, topic);
    for (size_t i = 0; i < n; i++)
        p = w_bytes(p, id_num, ids[i]);
    commit(b, start, p, total);
    w->items++;
    return 0;
}

int
weft_rpc_put_ihave(weft_rpc_writer *w, weft_bytes topic, const weft_bytes *ids, size_t n)
{
    return put_id_list(w, &w->ctl, 1, 1, topic, 2, ids, n);
}

int
weft_rpc_put_iwant(weft_rpc_writer *w, const weft_bytes *ids, size_t n)
{
    return put_id_list(w, &w->ctl, 2, 0, no_bytes(), 1, ids, n);
}

int
weft_rpc_put_graft(weft_rpc_writer *w, weft_bytes topic)
{
    return put_id_list(w, &w->ctl, 3, 1, topic, 0, NULL, 0);
}

int
weft_rpc_put_prune(weft_rpc_writer *w, weft_bytes topic, const weft_bytes *peers, size_t npeers,
                   int64_t backoff_s)
{
    size_t inner = 0, total, t;
    uint8_t *start, *p;
    if (npeers > 0 && peers == NULL)
        return WEFT_EINVAL;
    if ((t = len_field_size(1, topic.len)) == 0 || sz_add(&inner, t) != 0)
        return WEFT_ETOOBIG;
    for (size_t i = 0; i < npeers; i++) {
        size_t info = len_field_size(1, peers[i].len); /* PeerInfo{peerID} */
        if (info == 0 || (t = len_field_size(2, info)) == 0 || sz_add(&inner, t) != 0)
            return WEFT_ETOOBIG;
    }
    if (backoff_s >= 0 && sz_add(&inner, varint_field_size(3, (uint64_t)backoff_s)) != 0)
        return WEFT_ETOOBIG;
    int rc = outer_size(4, inner, &total);
    if (rc == 0)
        rc = reserve_at(&w->ctl, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, 4, inner);
    p = w_bytes(p, 1, topic);
    for (size_t i = 0; i < npeers; i++) {
        p = w_len_hdr(p, 2, len_field_size(1, peers[i].len));
        p = w_bytes(p, 1, peers[i]);
    }
    if (backoff_s >= 0)
        p = w_varint(p, 3, (uint64_t)backoff_s);
    commit(&w->ctl, start, p, total);
    w->items++;
    return 0;
}

int
weft_rpc_put_idontwant(weft_rpc_writer *w, const weft_bytes *ids, size_t n)
{
    return put_id_list(w, &w->ctl, 5, 0, no_bytes(), 1, ids, n);
}

/* Shard fields: empty byte fields and a zero seqno are left out (they read
 * back as empty and 0). */
/* Writes a Shard; the data field's bytes are copied from s->data.p, or left
 * for the caller at *data when data is not NULL (data is the last field). */
static int
put_shard(weft_rpc_writer *w, const weft_rpc_shard *s, uint8_t **data)
{
    const weft_bytes *f[6] = {&s->topic, &s->msg_id, &s->from, NULL, &s->signature, &s->data};
    size_t inner = 0, total, t;
    uint8_t *start, *p;
    for (size_t i = 0; i < 6; i++) {
        if (f[i] == NULL || f[i]->len == 0)
            continue;
        if ((t = len_field_size((uint32_t)i + 1, f[i]->len)) == 0 || sz_add(&inner, t) != 0)
            return WEFT_ETOOBIG;
    }
    if (s->seqno != 0 && sz_add(&inner, varint_field_size(4, s->seqno)) != 0)
        return WEFT_ETOOBIG;
    int rc = outer_size(1, inner, &total);
    if (rc == 0)
        rc = reserve_at(&w->out, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, 1, inner);
    for (size_t i = 0; i < 6; i++) {
        if (i == 3) {
            if (s->seqno != 0)
                p = w_varint(p, 4, s->seqno);
        } else if (i == 5 && data != NULL && f[i]->len > 0) {
            p = w_len_hdr(p, 6, f[i]->len);
            *data = p;
            p += f[i]->len;
        } else if (f[i]->len > 0) {
            p = w_bytes(p, (uint32_t)i + 1, *f[i]);
        }
    }
    commit(&w->out, start, p, total);
    w->items++;
    return 0;
}

int
weft_rpc_put_shard(weft_rpc_writer *w, const weft_rpc_shard *s)
{
    return put_shard(w, s, NULL);
}

int
weft_rpc_put_shard_reserve(weft_rpc_writer *w, const weft_rpc_shard *s, uint8_t **data)
{
    if (data == NULL || s->data.len == 0)
        return WEFT_EINVAL;
    return put_shard(w, s, data);
}

int
weft_rpc_put_complete(weft_rpc_writer *w, weft_bytes id)
{
    size_t total = len_field_size(2, id.len);
    uint8_t *start, *p;
    if (total == 0)
        return WEFT_ETOOBIG;
    int rc = reserve_at(&w->out, total, &start);
    if (rc < 0)
        return rc;
    p = w_bytes(start, 2, id);
    commit(&w->out, start, p, total);
    w->items++;
    return 0;
}

int
weft_rpc_put_rlnc_ihave(weft_rpc_writer *w, weft_bytes topic, const weft_bytes *ids, size_t n)
{
    return put_id_list(w, &w->out, 3, 1, topic, 2, ids, n);
}

/* RlncRPC field `num` = { id = 1; rank = 2; [got = 3 when has_got] }. */
static int
put_id_counts(weft_rpc_writer *w, uint32_t num, weft_bytes id, uint32_t rank, int has_got,
              uint32_t got)
{
    size_t inner = len_field_size(1, id.len), total;
    uint8_t *start, *p;
    if (inner == 0 || sz_add(&inner, varint_field_size(2, rank)) != 0 ||
        (has_got && sz_add(&inner, varint_field_size(3, got)) != 0))
        return WEFT_ETOOBIG;
    int rc = outer_size(num, inner, &total);
    if (rc == 0)
        rc = reserve_at(&w->out, total, &start);
    if (rc < 0)
        return rc;
    p = w_len_hdr(start, num, inner);
    p = w_bytes(p, 1, id);
    p = w_varint(p, 2, rank);
    if (has_got)
        p = w_varint(p, 3, got);
    commit(&w->out, start, p, total);
    w->items++;
    return 0;
}

int
weft_rpc_put_want(weft_rpc_writer *w, weft_bytes id, uint32_t rank)
{
    return put_id_counts(w, 4, id, rank, 0, 0);
}

int
weft_rpc_put_have(weft_rpc_writer *w, weft_bytes id, uint32_t rank, uint32_t got)
{
    return put_id_counts(w, 5, id, rank, 1, got);
}

/* The control part goes last, as field 3, and leaves ctl empty: finishing
 * again returns the same RPC. */
int
weft_rpc_finish(weft_rpc_writer *w, const uint8_t **out, size_t *len)
{
    if (w->ctl.len > 0) {
        size_t total;
        uint8_t *start, *p;
        int rc = outer_size(3, w->ctl.len, &total);
        if (rc == 0)
            rc = reserve_at(&w->out, total, &start);
        if (rc < 0)
            return rc;
        p = w_len_hdr(start, 3, w->ctl.len);
        memcpy(p, w->ctl.base, w->ctl.len);
        p += w->ctl.len;
        commit(&w->out, start, p, total);
        weft_buf_reset(&w->ctl);
    }
    *out = w->out.len > 0 ? w->out.base : empty_bytes;
    *len = w->out.len;
    return 0;
}

/* ---- signed bytes --------------------------------------------------------------- */

#define GOSSIP_SIG_PREFIX "libp2p-pubsub:"
#define RLNC_SIG_PREFIX "weft-rlnc:"

int
weft_rpc_sig_input(const weft_rpc_msg *m, weft_buf *out)
{
    size_t body = msg_size(m, 0), total = sizeof GOSSIP_SIG_PREFIX - 1;
    uint8_t *start, *p;
    if (body == SIZE_MAX || sz_add(&total, body) != 0)
        return WEFT_ETOOBIG;
    int rc = reserve_at(out, total, &start);
    if (rc < 0)
        return rc;
    memcpy(start, GOSSIP_SIG_PREFIX, sizeof GOSSIP_SIG_PREFIX - 1);
    p = msg_write(start + sizeof GOSSIP_SIG_PREFIX - 1, m, 0);
    commit(out, start, p, total);
    return 0;
}

static uint8_t *
put_le(uint8_t *p, uint32_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

/* msg_id must be 32 bytes and k fit in 16 bits: WEFT_EINVAL otherwise. */
int
weft_rlnc_sig_input(weft_bytes msg_id, weft_bytes topic, uint32_t k, uint32_t piece_size,
                    uint32_t message_len, uint64_t seqno, weft_buf *out)
{
    if (msg_id.len != 32 || msg_id.p == NULL || k > UINT16_MAX)
        return WEFT_EINVAL;
    size_t total = sizeof RLNC_SIG_PREFIX - 1 + 32 + weft_uvarint_len(topic.len) + 2 + 4 + 4 + 8;
    uint8_t *start, *p;
    if (sz_add(&total, topic.len) != 0)
        return WEFT_ETOOBIG;
    int rc = reserve_at(out, total, &start);
    if (rc < 0)
        return rc;
    memcpy(start, RLNC_SIG_PREFIX, sizeof RLNC_SIG_PREFIX - 1);
    p = start + sizeof RLNC_SIG_PREFIX - 1;
    memcpy(p, msg_id.p, 32);
    p += 32;
    p += weft_uvarint_put(p, topic.len);
    if (topic.len > 0) {
        memcpy(p, topic.p, topic.len);
        p += topic.len;
    }
    p = put_le(p, k, 2);
    p = put_le(p, piece_size, 4);
    p = put_le(p, message_len, 4);
    p = put_le(p, (uint32_t)seqno, 4);
    p = put_le(p, (uint32_t)(seqno >> 32), 4);
    commit(out, start, p, total);
    return 0;
}

#define RLNC_ID_PREFIX "weft-rlnc-id:"

int
weft_rlnc_msg_id(weft_bytes from, uint64_t seqno, weft_bytes topic, const uint8_t msg_sha256[32],
                 uint8_t out[32])
{
    if (from.len == 0 || from.p == NULL || topic.len > UINT16_MAX || (topic.len && !topic.p))
        return WEFT_EINVAL;
    uint8_t hdr[10], seq[8];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)RLNC_ID_PREFIX, sizeof RLNC_ID_PREFIX - 1);
    crypto_hash_sha256_update(&st, hdr, weft_uvarint_put(hdr, from.len));
    crypto_hash_sha256_update(&st, from.p, from.len);
    for (int i = 0; i < 8; i++)
        seq[i] = (uint8_t)(seqno >> (56 - 8 * i));
    crypto_hash_sha256_update(&st, seq, 8);
    crypto_hash_sha256_update(&st, hdr, weft_uvarint_put(hdr, topic.len));
    if (topic.len)
        crypto_hash_sha256_update(&st, topic.p, topic.len);
    crypto_hash_sha256_update(&st, msg_sha256, 32);
    crypto_hash_sha256_final(&st, out);
    return 0;
}
