/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GossipSub message plane: StrictSign signing and verification, message ids,
 * the seen cache, the message cache with IHAVE/IWANT gossip and IWANT
 * promises, IDONTWANT (v1.2), flood publishing and mesh forwarding.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"

#define SEC 1000000000LL

int
ps_gossip_init(weft_ps *ps)
{
    ps_map_init(&ps->seen, PS_SEEN_MAX, weft_rng_next(&ps->rng));
    ps_map_init(&ps->mcache, 0, weft_rng_next(&ps->rng));
    ps_map_init(&ps->promises, PS_PROMISES_MAX, weft_rng_next(&ps->rng));
    if (sodium_init() < 0)
        return WEFT_EINVAL;
    return 0;
}

static void
msg_free(ps_msg *m)
{
    if (!m)
        return;
    free(m->rpc);
    ps_map_free(&m->served);
    free(m);
}

static int
drop_all_msgs(ps_map_ent *e, void *u)
{
    (void)u;
    msg_free(e->val);
    return 1;
}

void
ps_gossip_free(weft_ps *ps)
{
    ps_map_filter(&ps->mcache, drop_all_msgs, NULL);
    ps_map_free(&ps->mcache);
    ps_map_free(&ps->seen);
    ps_map_free(&ps->promises);
}

/* Message id per cfg.msgid. Returns its length, or 0 if the message lacks
 * what the function needs. */
static size_t
msg_id(const weft_ps *ps, const weft_rpc_msg *m, uint8_t out[PS_KEY_MAX])
{
    switch (ps->cfg.msgid) {
    case WEFT_PS_MSGID_SHA256:
        crypto_hash_sha256(out, m->data.p ? m->data.p : (const uint8_t *)"", m->data.len);
        return 32;
    case WEFT_PS_MSGID_JS: {
        weft_peer_id pid;
        uint8_t pk[32];
        if (!(m->has & WEFT_RPC_HAS_FROM) ||
            weft_peer_id_from_bytes(m->from.p, m->from.len, &pid) || weft_peer_id_pubkey(&pid, pk))
            return 0;
        if (m->seqno.len > PS_KEY_MAX - 36)
            return 0;
        weft_pubkey_pb_encode(pk, out);
        memcpy(out + 36, m->seqno.p, m->seqno.len);
        return 36 + m->seqno.len;
    }
    default:
        if (!(m->has & WEFT_RPC_HAS_FROM) || m->from.len + m->seqno.len > PS_KEY_MAX)
            return 0;
        memcpy(out, m->from.p, m->from.len);
        if (m->seqno.len)
            memcpy(out + m->from.len, m->seqno.p, m->seqno.len);
        return m->from.len + m->seqno.len;
    }
}

/* StrictSign verification; NULL when valid, else the reason. */
static const char *
verify(weft_ps *ps, const weft_rpc_msg *m, weft_peer_id *from)
{
    if (!(m->has & WEFT_RPC_HAS_FROM) || weft_peer_id_from_bytes(m->from.p, m->from.len, from))
        return "missing or bad from";
    if (!ps->cfg.sign)
        return NULL;
    if (!(m->has & WEFT_RPC_HAS_SEQNO) || m->seqno.len != 8)
        return "missing or bad seqno";
    if (!(m->has & WEFT_RPC_HAS_SIGNATURE) || m->signature.len != 64)
        return "missing or bad signature";
    uint8_t pk[32];
    if (m->has & WEFT_RPC_HAS_KEY) {
        weft_peer_id kid;
        if (weft_pubkey_pb_decode(m->key.p, m->key.len, pk))
            return "bad key";
        weft_peer_id_from_pubkey(pk, &kid);
        if (!weft_peer_id_equal(&kid, from))
            return "key does not match from";
    } else if (weft_peer_id_pubkey(from, pk)) {
        return "no key for from";
    }
    weft_buf_reset(&ps->scratch);
    if (weft_rpc_sig_input(m, &ps->scratch))
        return "message too large";
    if (weft_verify(pk, ps->scratch.base, ps->scratch.len, m->signature.p))
        return "invalid signature";
    return NULL;
}

/* Keep a message for IWANT and forwarding; encodes RPC{publish: [m]}. */
static ps_msg *
mcache_put(weft_ps *ps, ps_topic *t, const uint8_t *id, size_t idl, const weft_rpc_msg *m)
{
    int fresh;
    ps_map_ent *e = ps_map_put(&ps->mcache, id, idl, &fresh);
    if (!e)
        return NULL;
    if (!fresh)
        return e->val;
    ps_msg *pm = calloc(1, sizeof *pm);
    const uint8_t *f;
    size_t n;
    weft_rpc_writer_reset(&ps->w);
    if (!pm || weft_rpc_put_msg(&ps->w, m) || weft_rpc_finish(&ps->w, &f, &n) ||
        ps->held_bytes + n > ps->cfg.mcache_max_bytes || !(pm->rpc = malloc(n))) {
        if (pm && ps->held_bytes + n > ps->cfg.mcache_max_bytes)
            ps->st.mcache_full++;
        free(pm);
        ps_map_del(&ps->mcache, e);
        return NULL;
    }
    memcpy(pm->rpc, f, n);
    pm->rpc_len = n;
    memcpy(pm->id, id, idl);
    pm->id_len = idl;
    pm->t = t;
    pm->data_len = m->data.len;
    pm->window = ps->window;
    ps_map_init(&pm->served, 1024, weft_rng_next(&ps->rng));
    e->val = pm;
    ps->held_bytes += n;
    return pm;
}

/* Returns 0, or -1 when the seen cache is full (the caller drops the
 * message rather than risk delivering it twice). */
static int
seen_put(weft_ps *ps, const uint8_t *id, size_t idl)
{
    ps_map_ent *e = ps_map_put(&ps->seen, id, idl, NULL);
    if (!e)
        return -1;
    e->t = ps_now(ps);
    return 0;
}

static int
peer_wants(const weft_ps_peer *p, const uint8_t *id, size_t idl)
{
    return !ps_map_get(&p->dont, id, idl);
}

/* Send IDONTWANT for a large message to mesh peers speaking 1.2. */
static void
send_idontwant(weft_ps *ps, ps_topic *t, const weft_ps_peer *src, const uint8_t *id, size_t idl,
               size_t size)
{
    if (!ps->cfg.idontwant || size < ps->cfg.idontwant_min)
        return;
    weft_bytes b = ps_b(id, idl);
    for (size_t i = 0; i < t->nmesh; i++) {
        weft_ps_peer *p = t->mesh[i];
        if (p == src || !(p->protos & WEFT_PS_PROTO_MESHSUB12))
            continue;
        /* Sent at once, ahead of our own copy of the message, so that it
         * can still stop the peer's copy to us. */
        if (!weft_rpc_put_idontwant(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), &b, 1))
            ps->st.idontwant_out++;
        ps_flush_peer(ps, p);
    }
}

static void
forward(weft_ps *ps, ps_topic *t, const uint8_t *rpc, size_t len, const uint8_t *id, size_t idl,
        const weft_ps_peer *src, const weft_peer_id *origin)
{
    for (size_t i = 0; i < t->nmesh; i++) {
        weft_ps_peer *p = t->mesh[i];
        if (p == src || (origin && weft_peer_id_equal(&p->id, origin)) || !peer_wants(p, id, idl))
            continue;
        (void)ps_send(ps, p, WEFT_PS_PROTO_MESHSUB, rpc, len);
    }
}

int
ps_gossip_on_msg(weft_ps *ps, weft_ps_peer *from, const weft_rpc_msg *m)
{
    ps->st.msgs_in++;
    weft_bytes none = ps_b(NULL, 0);
    ps_topic *t =
        (m->has & WEFT_RPC_HAS_TOPIC) ? ps_topic_find(ps, m->topic.p, m->topic.len) : NULL;
    if (!t || !t->subscribed) {
        ps->st.drop_unknown_topic++;
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, none, m->topic, "unsubscribed topic", none);
        return 0;
    }
    weft_bytes topic = ps_b(t->name, t->nlen);
    uint8_t id[PS_KEY_MAX];
    size_t idl = msg_id(ps, m, id);
    if (!idl) {
        ps->st.drop_bad_id++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, none, topic, "no message id", none);
        return 0;
    }
    weft_bytes bid = ps_b(id, idl);
    if (m->data.len > ps->cfg.max_msg_size) {
        ps->st.drop_too_big++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, bid, topic, "message too large", none);
        return 0;
    }
    if (ps_map_get(&ps->seen, id, idl)) {
        ps->st.msgs_duplicate++;
        ps_score_delivery(ps, from, t, 0);
        ps_trace(ps, WEFT_TRACE_DUPLICATE_MESSAGE, from, bid, topic, NULL, none);
        return 0;
    }
    weft_peer_id origin;
    const char *why = verify(ps, m, &origin);
    if (why) {
        ps->st.drop_bad_signature++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, bid, topic, why, none);
        return 0;
    }
    if (seen_put(ps, id, idl)) {
        ps->st.drop_seen_full++;
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, bid, topic, "seen cache full", none);
        return 0;
    }
    ps_map_ent *pr = ps_map_get(&ps->promises, id, idl);
    if (pr)
        ps_map_del(&ps->promises, pr);
    if (weft_peer_id_equal(&origin, &ps->self)) {
        ps->st.drop_self_origin++;
        return 0;
    }
    ps_score_delivery(ps, from, t, 1);
    send_idontwant(ps, t, from, id, idl, m->data.len);
    ps_msg *pm = mcache_put(ps, t, id, idl, m);
    uint64_t seq = 0;
    for (size_t i = 0; i < m->seqno.len && i < 8; i++)
        seq = seq << 8 | m->seqno.p[i];
    weft_ps_msg dm = {topic, m->data, bid, &origin, &from->id, seq};
    ps->st.delivered++;
    ps_trace(ps, WEFT_TRACE_DELIVER_MESSAGE, from, bid, topic, NULL, none);
    ps->cfg.io.deliver(ps->cfg.io.user, &dm);
    if (pm) {
        forward(ps, t, pm->rpc, pm->rpc_len, id, idl, from, &origin);
    } else {
        /* Not cached (cache full): forward from a fresh encoding. */
        const uint8_t *f;
        size_t n;
        weft_rpc_writer_reset(&ps->w);
        if (!weft_rpc_put_msg(&ps->w, m) && !weft_rpc_finish(&ps->w, &f, &n))
            forward(ps, t, f, n, id, idl, from, &origin);
    }
    return 0;
}

int
ps_gossip_publish(weft_ps *ps, ps_topic *t, const uint8_t *data, size_t len, uint8_t *id,
                  size_t *id_len)
{
    uint8_t seq[8];
    uint64_t s = ++ps->seqno;
    for (int i = 7; i >= 0; i--, s >>= 8)
        seq[i] = (uint8_t)s;
    weft_rpc_msg m;
    memset(&m, 0, sizeof m);
    m.from = ps_b(ps->self.bytes, ps->self.len);
    m.data = ps_b(data, len);
    m.seqno = ps_b(seq, 8);
    m.topic = ps_b(t->name, t->nlen);
    m.has = WEFT_RPC_HAS_FROM | WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_SEQNO | WEFT_RPC_HAS_TOPIC;
    uint8_t sig[64];
    if (ps->cfg.sign) {
        weft_buf_reset(&ps->scratch);
        int r = weft_rpc_sig_input(&m, &ps->scratch);
        if (r)
            return r;
        weft_sign(&ps->cfg.identity, ps->scratch.base, ps->scratch.len, sig);
        m.signature = ps_b(sig, 64);
        m.has |= WEFT_RPC_HAS_SIGNATURE;
    }
    size_t idl = msg_id(ps, &m, id);
    *id_len = idl;
    if (seen_put(ps, id, idl))
        return WEFT_ELIMIT;
    ps_msg *pm = mcache_put(ps, t, id, idl, &m);
    const uint8_t *rpc;
    size_t rpc_len;
    if (pm) {
        rpc = pm->rpc;
        rpc_len = pm->rpc_len;
    } else {
        weft_rpc_writer_reset(&ps->w);
        int r = weft_rpc_put_msg(&ps->w, &m);
        if (!r)
            r = weft_rpc_finish(&ps->w, &rpc, &rpc_len);
        if (r)
            return r;
    }
    ps->st.published++;
    ps_trace(ps, WEFT_TRACE_PUBLISH_MESSAGE, NULL, ps_b(id, idl), ps_b(t->name, t->nlen), NULL,
             ps_b(NULL, 0));
    weft_ps_peer **to;
    size_t n;
    if (ps->cfg.flood_publish) {
        to = t->peers;
        n = t->npeers;
    } else if (t->subscribed) {
        to = t->mesh;
        n = t->nmesh;
    } else {
        to = t->fanout;
        n = t->nfanout;
    }
    for (size_t i = 0; i < n; i++) {
        weft_ps_peer *p = to[i];
        if (ps_score(ps, p) < ps->cfg.score.publish_threshold ||
            !(p->protos & (WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12)))
            continue;
        (void)ps_send(ps, p, WEFT_PS_PROTO_MESHSUB, rpc, rpc_len);
    }
    return 0;
}

void
ps_gossip_on_ihave(weft_ps *ps, weft_ps_peer *from, weft_bytes topic, weft_bytes id)
{
    if (ps_score(ps, from) < ps->cfg.score.gossip_threshold)
        return;
    ps_topic *t = ps_topic_find(ps, topic.p, topic.len);
    if (!t || !t->subscribed || !id.len || id.len > PS_KEY_MAX)
        return;
    if (ps_map_get(&ps->seen, id.p, id.len) || ps_map_get(&ps->promises, id.p, id.len))
        return;
    if (from->iwant_asked >= ps->cfg.max_ihave_len) {
        ps->st.iwant_ignored++;
        return;
    }
    from->iwant_asked++;
    ps_map_ent *e = ps_map_put(&ps->promises, id.p, id.len, NULL);
    if (e) {
        e->t = ps_now(ps) + ps->cfg.iwant_followup_ns;
        e->val = (void *)(uintptr_t)from->serial;
    }
    WEFT_IGNORE(weft_rpc_put_iwant(ps_ctl(ps, from, WEFT_PS_PROTO_MESHSUB), &id, 1));
}

void
ps_gossip_on_iwant(weft_ps *ps, weft_ps_peer *from, weft_bytes id)
{
    if (ps_score(ps, from) < ps->cfg.score.gossip_threshold)
        return;
    ps_map_ent *e = ps_map_get(&ps->mcache, id.p, id.len);
    if (!e) {
        ps->st.iwant_ignored++;
        return;
    }
    ps_msg *pm = e->val;
    ps_map_ent *s = ps_map_put(&pm->served, from->id.bytes, from->id.len, NULL);
    if (!s || s->t >= (int64_t)ps->cfg.max_iwant_per_id) {
        /* Asked too often: an IWANT flood. */
        ps->st.iwant_ignored++;
        ps_penalise(ps, from, 0.1);
        return;
    }
    s->t++;
    ps->st.iwant_served++;
    (void)ps_send(ps, from, WEFT_PS_PROTO_MESHSUB, pm->rpc, pm->rpc_len);
}

void
ps_gossip_on_idontwant(weft_ps *ps, weft_ps_peer *from, weft_bytes id)
{
    ps_map_ent *e = ps_map_put(&from->dont, id.p, id.len, NULL);
    if (e)
        e->t = ps_now(ps);
}

/* ---- heartbeat ---------------------------------------------------------- */

typedef struct gossip_ctx {
    weft_ps *ps;
    ps_topic *t;
    weft_bytes *ids;
    size_t n, cap;
} gossip_ctx;

static int
collect_ids(ps_map_ent *e, void *u)
{
    gossip_ctx *g = u;
    ps_msg *pm = e->val;
    if (pm->t == g->t && pm->window + g->ps->cfg.mcache_gossip > g->ps->window) {
        if (g->n < g->cap)
            g->ids[g->n++] = ps_b(pm->id, pm->id_len);
    }
    return 0;
}

static void
ps_gossip_emit(weft_ps *ps, ps_topic *t, weft_ps_peer *const *exclude, size_t nexclude)
{
    gossip_ctx g = {ps, t, NULL, 0, ps->cfg.max_ihave_len};
    g.ids = malloc(g.cap * sizeof *g.ids);
    if (!g.ids)
        return;
    ps_map_filter(&ps->mcache, collect_ids, &g);
    if (!g.n) {
        free(g.ids);
        return;
    }
    weft_ps_peer **cand = malloc(t->npeers * sizeof *cand + 1);
    size_t nc = 0;
    for (size_t i = 0; cand && i < t->npeers; i++) {
        weft_ps_peer *p = t->peers[i];
        if (ps_in_list(exclude, nexclude, p) || ps_score(ps, p) < ps->cfg.score.gossip_threshold ||
            !(p->protos & (WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12)))
            continue;
        cand[nc++] = p;
    }
    size_t want = (size_t)(ps->cfg.gossip_factor * (double)nc);
    if (want < ps->cfg.D_lazy)
        want = ps->cfg.D_lazy;
    if (cand) {
        ps_shuffle(ps, cand, nc);
        for (size_t i = 0; i < nc && i < want; i++)
            WEFT_IGNORE(weft_rpc_put_ihave(ps_ctl(ps, cand[i], WEFT_PS_PROTO_MESHSUB),
                                           ps_b(t->name, t->nlen), g.ids, g.n));
    }
    free(cand);
    free(g.ids);
}

static int
mcache_expire(ps_map_ent *e, void *u)
{
    weft_ps *ps = u;
    ps_msg *pm = e->val;
    if (pm->window + ps->cfg.mcache_len > ps->window)
        return 0;
    ps->held_bytes -= pm->rpc_len;
    msg_free(pm);
    return 1;
}

typedef struct expire_ctx {
    weft_ps *ps;
    int64_t cut;
} expire_ctx;

static int
seen_expire(ps_map_ent *e, void *u)
{
    return e->t < ((expire_ctx *)u)->cut;
}

static int
promise_expire(ps_map_ent *e, void *u)
{
    expire_ctx *x = u;
    if (e->t > x->cut)
        return 0;
    /* The peer advertised a message and did not deliver it in time. */
    uint64_t serial = (uint64_t)(uintptr_t)e->val;
    for (size_t i = 0; i < x->ps->npeers; i++)
        if (x->ps->peers[i]->serial == serial) {
            ps_penalise(x->ps, x->ps->peers[i], 1);
            break;
        }
    return 1;
}

void
ps_gossip_heartbeat(weft_ps *ps)
{
    int64_t now = ps_now(ps);
    for (size_t i = 0; i < ps->ntopics; i++) {
        ps_topic *t = ps->topics[i];
        if (t->subscribed)
            ps_gossip_emit(ps, t, t->mesh, t->nmesh);
        else if (t->fanout_last)
            ps_gossip_emit(ps, t, t->fanout, t->nfanout);
    }
    ps->window++;
    ps_map_filter(&ps->mcache, mcache_expire, ps);
    expire_ctx x = {ps, now - ps->cfg.seen_ttl_ns};
    ps_map_filter(&ps->seen, seen_expire, &x);
    x.cut = now;
    ps_map_filter(&ps->promises, promise_expire, &x);
    x.cut = now - (int64_t)ps->cfg.mcache_len * ps->cfg.heartbeat_ns;
    for (size_t i = 0; i < ps->npeers; i++)
        ps_map_filter(&ps->peers[i]->dont, seen_expire, &x);
}
