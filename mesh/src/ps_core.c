/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The router core: configuration, peers, topics, subscriptions, the
 * GossipSub v1.1 mesh (GRAFT/PRUNE, backoff, peer exchange, fanout,
 * heartbeat upkeep), RPC dispatch and batched control output. The message
 * planes live in ps_gossip.c (whole messages) and ps_rlnc.c (coded shards).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"
#include "weft/log.h"

#define MS 1000000LL
#define SEC 1000000000LL

void
weft_ps_config_default(weft_ps_config *c, int mode)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->D = 6;
    c->D_lo = 4;
    c->D_hi = 12;
    c->D_lazy = 6;
    c->D_out = 2;
    c->D_score = 4;
    c->heartbeat_ns = 1 * SEC;
    c->tick_ns = 50 * MS;
    c->fanout_ttl_ns = 60 * SEC;
    c->prune_backoff_ns = 60 * SEC;
    c->unsub_backoff_ns = 10 * SEC;
    c->graft_flood_ns = 10 * SEC;
    c->prune_peers = 16;
    c->do_px = 1;
    c->mcache_len = 5;
    c->mcache_gossip = 3;
    c->seen_ttl_ns = 120 * SEC;
    c->max_ihave_len = 5000;
    c->max_ihave_msgs = 10;
    c->max_iwant_per_id = 3;
    c->gossip_factor = 0.25;
    c->iwant_followup_ns = 3 * SEC;
    c->msgid = WEFT_PS_MSGID_SPEC;
    c->sign = 1;
    c->flood_publish = 1;
    c->idontwant = 1;
    c->idontwant_min = 1024;
    c->max_msg_size = 1u << 20;
    c->mcache_max_bytes = (size_t)256 << 20;
    /* Tuned with weft-bench mesh (bench/results/mesh.md): 16 pieces, the
     * publisher pushing 8 shards per piece, relays recoding from rank 2. The
     * node's OPTIMUM_* variables keep their documented defaults. */
    c->rlnc_k = 16;
    c->rlnc_mult = 8;
    c->rlnc_threshold = 0.1;
    c->rlnc_min_piece = 4096;
    c->rlnc_repair_ns = 250 * MS;
    c->rlnc_max_partial = 256;
    c->rlnc_max_partial_per_peer = 32;
    c->rlnc_max_mem = (size_t)256 << 20;
    c->rlnc_gen_ttl_ns = 30 * SEC;
    weft_ps_score_params *s = &c->score;
    s->enabled = 0;
    s->topic_weight = 1.0;
    s->time_in_mesh_weight = 0.01;
    s->time_in_mesh_quantum_s = 1.0;
    s->time_in_mesh_cap = 3600;
    s->first_deliveries_weight = 1.0;
    s->first_deliveries_decay = 0.5;
    s->first_deliveries_cap = 100;
    s->mesh_deliveries_weight = -1.0;
    s->mesh_deliveries_decay = 0.5;
    s->mesh_deliveries_threshold = 0; /* off unless the operator knows the rate */
    s->mesh_deliveries_cap = 100;
    s->mesh_deliveries_activation_s = 30;
    s->mesh_failure_weight = -1.0;
    s->mesh_failure_decay = 0.5;
    s->invalid_weight = -100.0;
    s->invalid_decay = 0.3;
    s->behaviour_weight = -10.0;
    s->behaviour_threshold = 0;
    s->behaviour_decay = 0.9;
    s->decay_to_zero = 0.01;
    s->gossip_threshold = -10;
    s->publish_threshold = -50;
    s->graylist_threshold = -80;
    s->accept_px_threshold = 10;
}

static int
check_config(const weft_ps_config *c)
{
    if (c->mode != WEFT_PS_GOSSIPSUB && c->mode != WEFT_PS_RLNC)
        return WEFT_EINVAL;
    if (!c->io.send || !c->io.deliver || !c->io.now)
        return WEFT_EINVAL;
    if (!c->D || c->D_lo > c->D || c->D > c->D_hi || c->D_hi > 1000)
        return WEFT_EINVAL;
    if (c->heartbeat_ns <= 0 || c->tick_ns <= 0 || c->mcache_gossip > c->mcache_len ||
        !c->mcache_len || c->mcache_len > 1000)
        return WEFT_EINVAL;
    if (!c->max_msg_size || c->max_msg_size > UINT32_MAX / 2)
        return WEFT_EINVAL;
    if (c->mode == WEFT_PS_RLNC) {
        if (c->rlnc_k < 1 || c->rlnc_k > WEFT_MAX_K || !(c->rlnc_mult >= 1.0) ||
            c->rlnc_mult > 64 || !(c->rlnc_threshold > 0) || c->rlnc_threshold > 1)
            return WEFT_EINVAL;
        if (c->rlnc_policy && !ps_rlnc_policy(c->rlnc_policy))
            return WEFT_EINVAL;
    }
    return 0;
}

weft_ps *
weft_ps_new(const weft_ps_config *cfg, int *err)
{
    int e = check_config(cfg);
    if (e) {
        if (err)
            *err = e;
        return NULL;
    }
    weft_ps *ps = calloc(1, sizeof *ps);
    if (!ps) {
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    ps->cfg = *cfg;
    if (!ps->cfg.max_rpc_size)
        ps->cfg.max_rpc_size = ps->cfg.max_msg_size + (64u << 10) + WEFT_MAX_K;
    weft_peer_id_from_pubkey(cfg->identity.pk, &ps->self);
    weft_pubkey_pb_encode(cfg->identity.pk, ps->self_pk_pb);
    uint64_t seed = cfg->seed;
    if (!seed)
        for (int i = 0; i < 8; i++)
            seed = seed << 8 | cfg->identity.pk[i];
    weft_rng_seed(&ps->rng, seed);
    ps->seqno = weft_rng_next(&ps->rng) & 0x0000ffffffffffffULL;
    ps->next_heartbeat = cfg->io.now(cfg->io.user) + cfg->heartbeat_ns;
    weft_rpc_writer_init(&ps->w, ps->cfg.max_rpc_size);
    weft_buf_init(&ps->scratch, NULL, 0, ps->cfg.max_rpc_size);
    e = cfg->mode == WEFT_PS_RLNC ? ps_rlnc_init(ps) : ps_gossip_init(ps);
    if (e) {
        weft_ps_free(ps);
        if (err)
            *err = e;
        return NULL;
    }
    return ps;
}

static void
peer_free(weft_ps_peer *p)
{
    free(p->tp);
    ps_map_free(&p->dont);
    weft_rpc_writer_free(&p->ctl);
    weft_rpc_writer_free(&p->rctl);
    free(p);
}

static void
topic_free(ps_topic *t)
{
    free(t->peers);
    free(t->mesh);
    free(t->fanout);
    ps_map_free(&t->backoff);
    free(t);
}

void
weft_ps_free(weft_ps *ps)
{
    if (!ps)
        return;
    if (ps->cfg.mode == WEFT_PS_RLNC)
        ps_rlnc_free(ps);
    else
        ps_gossip_free(ps);
    for (size_t i = 0; i < ps->npeers; i++)
        peer_free(ps->peers[i]);
    free(ps->peers);
    for (size_t i = 0; i < ps->ntopics; i++)
        topic_free(ps->topics[i]);
    free(ps->topics);
    weft_rpc_writer_free(&ps->w);
    weft_buf_free(&ps->scratch);
    weft_identity_wipe(&ps->cfg.identity);
    free(ps);
}

const weft_peer_id *
weft_ps_self(const weft_ps *ps)
{
    return &ps->self;
}

size_t
weft_ps_max_rpc_size(const weft_ps *ps)
{
    return ps->cfg.max_rpc_size;
}

void
weft_ps_get_stats(const weft_ps *ps, weft_ps_stats *out)
{
    *out = ps->st;
}

int64_t
ps_now(const weft_ps *ps)
{
    return ps->cfg.io.now(ps->cfg.io.user);
}

/* ---- small lists ----------------------------------------------------------- */

int
ps_list_add(weft_ps_peer ***v, size_t *n, size_t *cap, weft_ps_peer *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        weft_ps_peer **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = p;
    return 0;
}

int
ps_list_del(weft_ps_peer **v, size_t *n, const weft_ps_peer *p)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i] == p) {
            v[i] = v[--*n];
            return 1;
        }
    return 0;
}

int
ps_in_list(weft_ps_peer *const *list, size_t n, const weft_ps_peer *p)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == p)
            return 1;
    return 0;
}

void
ps_shuffle(weft_ps *ps, weft_ps_peer **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = weft_rng_next(&ps->rng) % i;
        weft_ps_peer *x = v[i - 1];
        v[i - 1] = v[j];
        v[j] = x;
    }
}

/* ---- topics ---------------------------------------------------------------- */

ps_topic *
ps_topic_find(const weft_ps *ps, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < ps->ntopics; i++) {
        ps_topic *t = ps->topics[i];
        if (t->nlen == len && !memcmp(t->name, name, len))
            return t;
    }
    return NULL;
}

ps_topic *
ps_topic_get(weft_ps *ps, const uint8_t *name, size_t len)
{
    ps_topic *t = ps_topic_find(ps, name, len);
    if (t)
        return t;
    if (!len || len >= PS_TOPIC_MAX || ps->ntopics >= PS_MAX_TOPICS)
        return NULL;
    if (ps->ntopics == ps->topics_cap) {
        size_t nc = ps->topics_cap ? ps->topics_cap * 2 : 8;
        ps_topic **nv = realloc(ps->topics, nc * sizeof *nv);
        if (!nv)
            return NULL;
        ps->topics = nv;
        ps->topics_cap = nc;
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    memcpy(t->name, name, len);
    t->nlen = len;
    ps_map_init(&t->backoff, 4096, weft_rng_next(&ps->rng));
    ps->topics[ps->ntopics++] = t;
    return t;
}

/* Forget topics nobody uses any more. */
static void
topics_gc(weft_ps *ps)
{
    for (size_t i = 0; i < ps->ntopics;) {
        ps_topic *t = ps->topics[i];
        if (!t->subscribed && !t->npeers && !t->fanout_last && !t->backoff.len) {
            for (size_t j = 0; j < ps->npeers; j++)
                if (ps_ptopic_find(ps->peers[j], t)) {
                    goto keep;
                }
            ps->topics[i] = ps->topics[--ps->ntopics];
            topic_free(t);
            continue;
        }
    keep:
        i++;
    }
}

ps_ptopic *
ps_ptopic_find(weft_ps_peer *p, const ps_topic *t)
{
    for (size_t i = 0; i < p->ntp; i++)
        if (p->tp[i].t == t)
            return &p->tp[i];
    return NULL;
}

ps_ptopic *
ps_ptopic_get(weft_ps_peer *p, ps_topic *t)
{
    ps_ptopic *pt = ps_ptopic_find(p, t);
    if (pt)
        return pt;
    if (p->ntp >= PS_MAX_PEER_TOPICS)
        return NULL;
    if (p->ntp == p->tpcap) {
        size_t nc = p->tpcap ? p->tpcap * 2 : 4;
        ps_ptopic *nv = realloc(p->tp, nc * sizeof *nv);
        if (!nv)
            return NULL;
        p->tp = nv;
        p->tpcap = nc;
    }
    pt = &p->tp[p->ntp++];
    memset(pt, 0, sizeof *pt);
    pt->t = t;
    return pt;
}

/* Drop per-topic records that carry nothing any more. */
static void
ptopic_gc(weft_ps_peer *p)
{
    for (size_t i = 0; i < p->ntp;) {
        ps_ptopic *pt = &p->tp[i];
        if (!pt->subscribed && !pt->in_mesh && fabs(pt->first_deliveries) < 1e-3 &&
            fabs(pt->mesh_failure) < 1e-3 && fabs(pt->invalid) < 1e-3) {
            p->tp[i] = p->tp[--p->ntp];
            continue;
        }
        i++;
    }
}

/* ---- tracing and output ------------------------------------------------------ */

void
ps_trace(weft_ps *ps, int type, const weft_ps_peer *peer, weft_bytes id, weft_bytes topic,
         const char *reason, weft_bytes coeffs)
{
    if (!ps->cfg.io.trace)
        return;
    weft_ps_trace ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts_ns = ps_now(ps);
    ev.self = &ps->self;
    ev.peer = peer ? &peer->id : NULL;
    ev.msg_id = id;
    ev.topic = topic;
    ev.reason = reason;
    ev.coeffs = coeffs;
    ps->cfg.io.trace(ps->cfg.io.user, &ev);
}

static void
trace_rpc(weft_ps *ps, int type, const weft_ps_peer *p, size_t len)
{
    if (!ps->cfg.io.trace)
        return;
    weft_ps_trace ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts_ns = ps_now(ps);
    ev.self = &ps->self;
    ev.peer = &p->id;
    ev.length = len;
    ps->cfg.io.trace(ps->cfg.io.user, &ev);
}

int
ps_send(weft_ps *ps, weft_ps_peer *p, unsigned proto, const uint8_t *f, size_t n)
{
    if (p->gone || !n)
        return WEFT_ECLOSED;
    int r = ps->cfg.io.send(ps->cfg.io.user, p, p->user, proto, f, n);
    if (r < 0) {
        ps->st.rpc_send_failed++;
        trace_rpc(ps, WEFT_TRACE_DROP_RPC, p, n);
        return r;
    }
    ps->st.rpc_out++;
    ps->st.rpc_bytes_out += n;
    trace_rpc(ps, WEFT_TRACE_SEND_RPC, p, n);
    return 0;
}

weft_rpc_writer *
ps_ctl(weft_ps *ps, weft_ps_peer *p, unsigned proto)
{
    (void)ps;
    if (proto == WEFT_PS_PROTO_RLNC) {
        p->rdirty = 1;
        return &p->rctl;
    }
    p->dirty = 1;
    return &p->ctl;
}

void
ps_flush_peer(weft_ps *ps, weft_ps_peer *p)
{
    const uint8_t *f;
    size_t n;
    if (p->dirty) {
        p->dirty = 0;
        if (p->ctl.items && !weft_rpc_finish(&p->ctl, &f, &n))
            (void)ps_send(ps, p, WEFT_PS_PROTO_MESHSUB, f, n);
        weft_rpc_writer_reset(&p->ctl);
    }
    if (p->rdirty) {
        p->rdirty = 0;
        if (p->rctl.items && !weft_rpc_finish(&p->rctl, &f, &n))
            (void)ps_send(ps, p, WEFT_PS_PROTO_RLNC, f, n);
        weft_rpc_writer_reset(&p->rctl);
    }
}

void
ps_enter(weft_ps *ps)
{
    ps->in_call++;
}

void
ps_leave(weft_ps *ps)
{
    if (--ps->in_call)
        return;
    for (size_t i = 0; i < ps->npeers; i++)
        ps_flush_peer(ps, ps->peers[i]);
}

void
ps_penalise(weft_ps *ps, weft_ps_peer *p, double n)
{
    (void)ps;
    p->behaviour += n;
}

/* ---- peers --------------------------------------------------------------- */

static int
ps_speaks_meshsub(const weft_ps_peer *p)
{
    return (p->protos & (WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12)) != 0;
}

int
ps_mesh_capable(const weft_ps *ps, const weft_ps_peer *p)
{
    if (!ps_speaks_meshsub(p))
        return 0;
    return ps->cfg.mode != WEFT_PS_RLNC || (p->protos & WEFT_PS_PROTO_RLNC);
}

static void
send_hello(weft_ps *ps, weft_ps_peer *p)
{
    if (p->hello_sent || !ps_speaks_meshsub(p))
        return;
    p->hello_sent = 1;
    for (size_t i = 0; i < ps->ntopics; i++) {
        ps_topic *t = ps->topics[i];
        if (t->subscribed)
            WEFT_IGNORE(
                weft_rpc_put_sub(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), 1, ps_b(t->name, t->nlen)));
    }
}

weft_ps_peer *
weft_ps_add_peer(weft_ps *ps, const weft_peer_id *id, int outbound, unsigned protos,
                 void *peer_user)
{
    if (weft_ps_find_peer(ps, id) || weft_peer_id_equal(id, &ps->self))
        return NULL;
    weft_ps_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = *id;
    p->serial = ++ps->next_serial;
    p->user = peer_user;
    p->outbound = outbound;
    p->protos = protos;
    ps_map_init(&p->dont, PS_IDONTWANT_MAX, weft_rng_next(&ps->rng));
    weft_rpc_writer_init(&p->ctl, ps->cfg.max_rpc_size);
    weft_rpc_writer_init(&p->rctl, ps->cfg.max_rpc_size);
    if (ps_list_add(&ps->peers, &ps->npeers, &ps->peers_cap, p)) {
        peer_free(p);
        return NULL;
    }
    ps->st.peers_added++;
    if (ps->cfg.io.trace) {
        weft_ps_trace ev;
        memset(&ev, 0, sizeof ev);
        ev.type = WEFT_TRACE_ADD_PEER;
        ev.ts_ns = ps_now(ps);
        ev.self = &ps->self;
        ev.peer = &p->id;
        ev.proto = ps->cfg.mode == WEFT_PS_RLNC ? WEFT_RLNC_PROTO : WEFT_MESHSUB_11;
        ps->cfg.io.trace(ps->cfg.io.user, &ev);
    }
    ps_enter(ps);
    send_hello(ps, p);
    ps_leave(ps);
    return p;
}

void
weft_ps_peer_protos(weft_ps *ps, weft_ps_peer *p, unsigned protos)
{
    ps_enter(ps);
    p->protos |= protos;
    send_hello(ps, p);
    ps_leave(ps);
}

void
weft_ps_remove_peer(weft_ps *ps, weft_ps_peer *p)
{
    p->gone = 1;
    for (size_t i = 0; i < ps->ntopics; i++) {
        ps_topic *t = ps->topics[i];
        ps_list_del(t->peers, &t->npeers, p);
        if (ps_list_del(t->mesh, &t->nmesh, p))
            ps_trace(ps, WEFT_TRACE_PRUNE, p, ps_b(NULL, 0), ps_b(t->name, t->nlen), NULL,
                     ps_b(NULL, 0));
        ps_list_del(t->fanout, &t->nfanout, p);
    }
    if (ps->cfg.mode == WEFT_PS_RLNC)
        ps_rlnc_peer_gone(ps, p);
    ps_list_del(ps->peers, &ps->npeers, p);
    ps->st.peers_removed++;
    ps_trace(ps, WEFT_TRACE_REMOVE_PEER, p, ps_b(NULL, 0), ps_b(NULL, 0), NULL, ps_b(NULL, 0));
    peer_free(p);
}

weft_ps_peer *
weft_ps_find_peer(const weft_ps *ps, const weft_peer_id *id)
{
    for (size_t i = 0; i < ps->npeers; i++)
        if (weft_peer_id_equal(&ps->peers[i]->id, id))
            return ps->peers[i];
    return NULL;
}

const weft_peer_id *
weft_ps_peer_id(const weft_ps_peer *p)
{
    return &p->id;
}

double
weft_ps_peer_score(const weft_ps *ps, const weft_ps_peer *p)
{
    return ps_score(ps, p);
}

/* ---- RPC input ------------------------------------------------------------ */

static int
on_msg(void *u, const weft_rpc_msg *m)
{
    ps_rpc_ctx *c = u;
    if (c->ps->cfg.mode != WEFT_PS_GOSSIPSUB)
        return 0;
    return ps_gossip_on_msg(c->ps, c->p, m);
}

static int
on_ihave(void *u, weft_bytes topic, weft_bytes id)
{
    ps_rpc_ctx *c = u;
    c->ps->st.ihave_in++;
    /* max_ihave_msgs counts RPCs carrying IHAVE per peer and heartbeat. */
    if (!c->ihave_counted) {
        c->ihave_counted = 1;
        c->p->ihave_msgs++;
    }
    if (c->p->ihave_msgs > c->ps->cfg.max_ihave_msgs) {
        c->ps->st.iwant_ignored++;
        return 0;
    }
    if (c->ps->cfg.mode == WEFT_PS_GOSSIPSUB)
        ps_gossip_on_ihave(c->ps, c->p, topic, id);
    else
        ps_rlnc_on_ihave(c->ps, c->p, topic, id);
    return 0;
}

static int
on_iwant(void *u, weft_bytes id)
{
    ps_rpc_ctx *c = u;
    c->ps->st.iwant_in++;
    if (c->ps->cfg.mode == WEFT_PS_GOSSIPSUB)
        ps_gossip_on_iwant(c->ps, c->p, id);
    return 0;
}

static int
on_idontwant(void *u, weft_bytes id)
{
    ps_rpc_ctx *c = u;
    c->ps->st.idontwant_in++;
    if (c->ps->cfg.mode == WEFT_PS_GOSSIPSUB)
        ps_gossip_on_idontwant(c->ps, c->p, id);
    return 0;
}

static int
on_shard(void *u, const weft_rpc_shard *s)
{
    ps_rpc_ctx *c = u;
    return ps_rlnc_on_shard(c->ps, c->p, s);
}

static int
on_complete(void *u, weft_bytes id)
{
    ps_rpc_ctx *c = u;
    c->ps->st.completes_in++;
    ps_rlnc_on_complete(c->ps, c->p, id);
    return 0;
}

static int
on_want(void *u, weft_bytes id, uint32_t rank)
{
    ps_rpc_ctx *c = u;
    c->ps->st.wants_in++;
    ps_rlnc_on_want(c->ps, c->p, id, rank);
    return 0;
}

static int
on_have(void *u, weft_bytes id, uint32_t rank, uint32_t got)
{
    ps_rpc_ctx *c = u;
    ps_rlnc_on_have(c->ps, c->p, id, rank, got);
    return 0;
}

int
weft_ps_on_rpc(weft_ps *ps, weft_ps_peer *p, unsigned proto, const uint8_t *frame, size_t len)
{
    ps->st.rpc_in++;
    ps->st.rpc_bytes_in += len;
    if (len > ps->cfg.max_rpc_size) {
        ps->st.rpc_too_big++;
        ps_penalise(ps, p, 1);
        return WEFT_ETOOBIG;
    }
    /* A graylisted peer's RPCs are ignored entirely (P4 and P7 count even
     * with scoring off). */
    if (ps_score(ps, p) < ps->cfg.score.graylist_threshold) {
        ps->st.drop_graylisted++;
        return 0;
    }
    trace_rpc(ps, WEFT_TRACE_RECV_RPC, p, len);
    static const weft_rpc_visitor gossip_v = {
        .sub = ps_mesh_on_sub,
        .msg = on_msg,
        .ihave = on_ihave,
        .iwant = on_iwant,
        .graft = ps_mesh_on_graft,
        .prune = ps_mesh_on_prune,
        .idontwant = on_idontwant,
    };
    static const weft_rpc_visitor rlnc_v = {
        .ihave = on_ihave,
        .shard = on_shard,
        .complete = on_complete,
        .want = on_want,
        .have = on_have,
    };
    ps_rpc_ctx c = {ps, p, 0};
    int r;
    ps_enter(ps);
    if (proto == WEFT_PS_PROTO_RLNC) {
        if (ps->cfg.mode != WEFT_PS_RLNC) {
            ps_leave(ps);
            ps->st.rpc_malformed++;
            return WEFT_EPROTO;
        }
        p->protos |= WEFT_PS_PROTO_RLNC;
        r = weft_rpc_parse_rlnc(frame, len, &rlnc_v, &c);
    } else {
        r = weft_rpc_parse_gossip(frame, len, &gossip_v, &c);
    }
    if (r == WEFT_EPROTO) {
        ps->st.rpc_malformed++;
        ps_penalise(ps, p, 1);
        ps_trace(ps, WEFT_TRACE_DROP_RPC, p, ps_b(NULL, 0), ps_b(NULL, 0), "malformed RPC",
                 ps_b(NULL, 0));
    }
    ps_leave(ps);
    return r < 0 ? r : 0;
}

int
weft_ps_publish(weft_ps *ps, const char *topic, const void *data, size_t len, uint8_t *id_out,
                size_t *id_len)
{
    size_t tlen = topic ? strlen(topic) : 0;
    if (!tlen || tlen >= PS_TOPIC_MAX || (!data && len))
        return WEFT_EINVAL;
    if (len > ps->cfg.max_msg_size)
        return WEFT_ETOOBIG;
    ps_topic *t = ps_topic_get(ps, (const uint8_t *)topic, tlen);
    if (!t)
        return WEFT_ELIMIT;
    uint8_t idbuf[PS_KEY_MAX];
    size_t idl = 0;
    ps_enter(ps);
    if (!t->subscribed) {
        /* Fanout: up to D subscribers, kept for fanout_ttl. */
        t->fanout_last = ps_now(ps);
        for (size_t i = 0; i < t->nfanout;)
            if (!ps_in_list(t->peers, t->npeers, t->fanout[i]))
                t->fanout[i] = t->fanout[--t->nfanout];
            else
                i++;
        if (t->nfanout < ps->cfg.D) {
            weft_ps_peer *cand[256];
            size_t n = 0;
            for (size_t i = 0; i < t->npeers && n < 256; i++)
                if (!ps_in_list(t->fanout, t->nfanout, t->peers[i]) &&
                    ps_mesh_capable(ps, t->peers[i]) &&
                    ps_score(ps, t->peers[i]) >= ps->cfg.score.publish_threshold)
                    cand[n++] = t->peers[i];
            ps_shuffle(ps, cand, n);
            for (size_t i = 0; i < n && t->nfanout < ps->cfg.D; i++)
                (void)ps_list_add(&t->fanout, &t->nfanout, &t->fanout_cap, cand[i]);
        }
    }
    int r = ps->cfg.mode == WEFT_PS_RLNC ? ps_rlnc_publish(ps, t, data, len, idbuf, &idl)
                                         : ps_gossip_publish(ps, t, data, len, idbuf, &idl);
    ps_leave(ps);
    if (r)
        return r;
    if (id_out)
        memcpy(id_out, idbuf, idl);
    if (id_len)
        *id_len = idl;
    return 0;
}

/* ---- heartbeat ------------------------------------------------------------ */

static int
backoff_expired(ps_map_ent *e, void *u)
{
    return e->t <= *(const int64_t *)u;
}

static void
heartbeat(weft_ps *ps)
{
    int64_t now = ps_now(ps);
    ps->heartbeats++;
    /* Scratch space grown for a large message goes back between bursts. */
    if (ps->w.out.cap > (64u << 10)) {
        weft_rpc_writer_free(&ps->w);
        weft_rpc_writer_init(&ps->w, ps->cfg.max_rpc_size);
    }
    if (ps->scratch.cap > (64u << 10)) {
        weft_buf_free(&ps->scratch);
        weft_buf_init(&ps->scratch, NULL, 0, ps->cfg.max_rpc_size);
    }
    ps_score_decay(ps);
    for (size_t i = 0; i < ps->npeers; i++) {
        weft_ps_peer *p = ps->peers[i];
        p->score = ps_score(ps, p);
        p->ihave_msgs = 0;
        p->iwant_asked = 0;
        ptopic_gc(p);
    }
    for (size_t i = 0; i < ps->ntopics; i++) {
        ps_topic *t = ps->topics[i];
        /* Backoffs end a heartbeat late, so a peer re-grafting right at
         * expiry is not punished for clock skew. */
        int64_t cut = now - ps->cfg.heartbeat_ns;
        ps_map_filter(&t->backoff, backoff_expired, &cut);
        if (t->subscribed) {
            ps_mesh_upkeep(ps, t);
        } else if (t->fanout_last) {
            if (now - t->fanout_last > ps->cfg.fanout_ttl_ns) {
                t->nfanout = 0;
                t->fanout_last = 0;
            } else {
                for (size_t j = 0; j < t->nfanout;)
                    if (!ps_in_list(t->peers, t->npeers, t->fanout[j]))
                        t->fanout[j] = t->fanout[--t->nfanout];
                    else
                        j++;
            }
        }
    }
    if (ps->cfg.mode == WEFT_PS_RLNC)
        ps_rlnc_heartbeat(ps);
    else
        ps_gossip_heartbeat(ps);
    topics_gc(ps);
}

void
weft_ps_tick(weft_ps *ps)
{
    ps_enter(ps);
    int64_t now = ps_now(ps);
    if (now >= ps->next_heartbeat) {
        heartbeat(ps);
        ps->next_heartbeat += ps->cfg.heartbeat_ns;
        if (ps->next_heartbeat <= now)
            ps->next_heartbeat = now + ps->cfg.heartbeat_ns;
    }
    if (ps->cfg.mode == WEFT_PS_RLNC)
        ps_rlnc_tick(ps);
    ps_leave(ps);
}

/* ---- introspection -------------------------------------------------------- */

size_t
weft_ps_topics(const weft_ps *ps, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->ntopics; i++)
        if (ps->topics[i]->subscribed) {
            if (n < max)
                out[n] = ps->topics[i]->name;
            n++;
        }
    return n;
}

size_t
weft_ps_mesh_peers(const weft_ps *ps, const char *topic, weft_ps_peer **out, size_t max)
{
    ps_topic *t = ps_topic_find(ps, (const uint8_t *)topic, topic ? strlen(topic) : 0);
    if (!t)
        return 0;
    for (size_t i = 0; i < t->nmesh && i < max; i++)
        out[i] = t->mesh[i];
    return t->nmesh;
}

size_t
weft_ps_topic_peers(const weft_ps *ps, const char *topic, weft_ps_peer **out, size_t max)
{
    ps_topic *t = ps_topic_find(ps, (const uint8_t *)topic, topic ? strlen(topic) : 0);
    if (!t)
        return 0;
    for (size_t i = 0; i < t->npeers && i < max; i++)
        out[i] = t->peers[i];
    return t->npeers;
}

size_t
weft_ps_memory(const weft_ps *ps)
{
    return ps->held_bytes + ps->rl_mem;
}
