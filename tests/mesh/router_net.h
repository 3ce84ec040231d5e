/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-process router harness of the mesh tests (test_router.c,
 * test_msgid.c): N routers on a manual clock whose io.send queues each frame
 * on a FIFO per (sender, receiver, protocol), a pump that hands them to
 * weft_ps_on_rpc until every queue is empty, "raw attacker" peers whose
 * RPCs are written by hand, and RLNC messages as an attacker publishes them.
 * Included by one test file each (all static; a file need not use all).
 */
#ifndef WEFT_TEST_ROUTER_NET_H
#define WEFT_TEST_ROUTER_NET_H
#pragma GCC diagnostic ignored "-Wunused-function"
#include <criterion/criterion.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/buf.h"
#include "weft/codec.h"
#include "weft/identity.h"
#include "weft/ps_rpc.h"
#include "weft/pubsub.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAXN 8          /* routers and attackers of one net */
#define PUMP_MAX 500000 /* frames one pump may deliver before we call it a storm */
#define TOPIC "weft-test"
#define PROTOS (WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12 | WEFT_PS_PROTO_RLNC)
#define NREASONS 64

/* ---- the harness --------------------------------------------------------------- */

typedef struct frame {
    struct frame *next;
    unsigned proto;
    size_t len;
    uint8_t data[];
} frame;

typedef struct fifo {
    frame *head, *tail;
    size_t n;
} fifo;

/* One message handed to a node's application. */
typedef struct delivery {
    uint8_t id[64];
    size_t id_len;
    char topic[64];
    size_t len;
    uint8_t sha[32];
    weft_peer_id from;
    int has_from;
    int received_from; /* node index, -1 for none / unknown */
    uint64_t seqno;
} delivery;

typedef struct net net;

typedef struct node {
    net *net;
    int idx;
    int router;
    weft_identity ident;
    weft_peer_id id;
    weft_ps *ps;
    weft_ps_peer *h[MAXN]; /* this router's handle of node j */
    delivery *dv;
    size_t ndv, dvcap;
    unsigned ntrace[32];
    char reasons[NREASONS][96]; /* REJECT_MESSAGE reasons, the latest NREASONS */
    unsigned nreasons;
    fifo inbox; /* attackers: frames routers sent to it */
} node;

struct net {
    int n;  /* routers 0..n-1 */
    int na; /* attackers n..n+na-1 */
    int64_t now;
    weft_ps_config cfg;
    node nd[MAXN];
    fifo q[MAXN][MAXN][2]; /* [from][to][0 meshsub, 1 rlnc] */
    /* Optional loss: return non-zero to discard a frame in flight. */
    int (*drop)(net *nt, int from, int to, unsigned proto, const uint8_t *f, size_t len);
    void *drop_user;
    uint64_t dropped;
};

static void
fifo_push(fifo *q, unsigned proto, const uint8_t *p, size_t len)
{
    frame *f = malloc(sizeof *f + (len ? len : 1));
    cr_assert_not_null(f);
    f->next = NULL;
    f->proto = proto;
    f->len = len;
    if (len)
        memcpy(f->data, p, len);
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->n++;
}

static frame *
fifo_pop(fifo *q)
{
    frame *f = q->head;
    if (!f)
        return NULL;
    q->head = f->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return f;
}

static void
fifo_clear(fifo *q)
{
    frame *f;
    while ((f = fifo_pop(q)))
        free(f);
}

static int
parse_any(unsigned proto, const uint8_t *p, size_t len, const weft_rpc_visitor *v, void *u)
{
    return proto == WEFT_PS_PROTO_RLNC ? weft_rpc_parse_rlnc(p, len, v, u)
                                       : weft_rpc_parse_gossip(p, len, v, u);
}

static int64_t
io_now(void *u)
{
    return ((node *)u)->net->now;
}

static int
io_send(void *u, weft_ps_peer *peer, void *peer_user, unsigned proto, const uint8_t *f, size_t len)
{
    node *me = u;
    net *nt = me->net;
    int to = (int)(intptr_t)peer_user - 1;
    cr_assert(to >= 0 && to < nt->n + nt->na && to != me->idx, "send to unknown peer %d", to);
    cr_assert(me->h[to] == NULL || me->h[to] == peer);
    cr_assert(proto == WEFT_PS_PROTO_MESHSUB || proto == WEFT_PS_PROTO_RLNC, "proto %u", proto);
    cr_assert_gt(len, 0);
    /* Whatever a router sends must parse. */
    static const weft_rpc_visitor none;
    cr_assert_eq(parse_any(proto, f, len, &none, NULL), 0, "router %d sent a malformed RPC",
                 me->idx);
    if (nt->nd[to].router)
        fifo_push(&nt->q[me->idx][to][proto == WEFT_PS_PROTO_RLNC], proto, f, len);
    else
        fifo_push(&nt->nd[to].inbox, proto, f, len);
    return 0;
}

static int
node_of(const net *nt, const weft_peer_id *id)
{
    if (!id)
        return -1;
    for (int i = 0; i < nt->n + nt->na; i++)
        if (weft_peer_id_equal(&nt->nd[i].id, id))
            return i;
    return -1;
}

static void
io_deliver(void *u, const weft_ps_msg *m)
{
    node *me = u;
    if (me->ndv == me->dvcap) {
        me->dvcap = me->dvcap ? me->dvcap * 2 : 16;
        me->dv = realloc(me->dv, me->dvcap * sizeof *me->dv);
        cr_assert_not_null(me->dv);
    }
    delivery *d = &me->dv[me->ndv++];
    memset(d, 0, sizeof *d);
    cr_assert_leq(m->id.len, sizeof d->id);
    memcpy(d->id, m->id.p, m->id.len);
    d->id_len = m->id.len;
    cr_assert_lt(m->topic.len, sizeof d->topic);
    memcpy(d->topic, m->topic.p, m->topic.len);
    d->len = m->data.len;
    crypto_hash_sha256(d->sha, m->data.len ? m->data.p : (const uint8_t *)"", m->data.len);
    if (m->from) {
        d->from = *m->from;
        d->has_from = 1;
    }
    d->received_from = node_of(me->net, m->received_from);
    d->seqno = m->seqno;
}

static void
io_trace(void *u, const weft_ps_trace *ev)
{
    node *me = u;
    cr_assert(ev->type >= 0 && ev->type < 32);
    me->ntrace[ev->type]++;
    if (ev->type == WEFT_TRACE_REJECT_MESSAGE) {
        char *r = me->reasons[me->nreasons++ % NREASONS];
        snprintf(r, sizeof me->reasons[0], "%s", ev->reason ? ev->reason : "");
    }
}

static net *
net_new(const weft_ps_config *base, int n, int na)
{
    cr_assert_leq(n + na, MAXN);
    net *nt = calloc(1, sizeof *nt);
    cr_assert_not_null(nt);
    nt->n = n;
    nt->na = na;
    nt->now = 1000 * SEC;
    nt->cfg = *base;
    for (int i = 0; i < n + na; i++) {
        node *d = &nt->nd[i];
        uint8_t seed[32] = {0x77, 0x65, 0x66, 0x74, (uint8_t)i, (uint8_t)base->mode};
        d->net = nt;
        d->idx = i;
        d->router = i < n;
        weft_identity_from_seed(&d->ident, seed);
        weft_peer_id_from_pubkey(d->ident.pk, &d->id);
        if (!d->router)
            continue;
        weft_ps_config c = *base;
        c.identity = d->ident;
        c.io.send = io_send;
        c.io.deliver = io_deliver;
        c.io.trace = io_trace;
        c.io.now = io_now;
        c.io.px = NULL;
        c.io.user = d;
        int err = 0;
        d->ps = weft_ps_new(&c, &err);
        cr_assert_not_null(d->ps, "weft_ps_new: %d", err);
        cr_assert(weft_peer_id_equal(weft_ps_self(d->ps), &d->id));
    }
    return nt;
}

static void
net_free(net *nt)
{
    for (int i = 0; i < nt->n + nt->na; i++) {
        weft_ps_free(nt->nd[i].ps);
        free(nt->nd[i].dv);
        fifo_clear(&nt->nd[i].inbox);
        for (int j = 0; j < MAXN; j++)
            for (int k = 0; k < 2; k++)
                fifo_clear(&nt->q[i][j][k]);
    }
    free(nt);
}

/* Deliver queued frames, round robin over the queues, until all are empty. */
static size_t
pump(net *nt)
{
    size_t moved = 0;
    for (;;) {
        int progress = 0;
        for (int from = 0; from < nt->n; from++)
            for (int to = 0; to < nt->n; to++)
                for (int k = 0; k < 2; k++) {
                    frame *f = fifo_pop(&nt->q[from][to][k]);
                    if (!f)
                        continue;
                    progress = 1;
                    moved++; /* not inside the assertion: its message reads moved too */
                    cr_assert_lt(moved, PUMP_MAX, "pump: no quiescence after %zu frames", moved);
                    if (nt->drop && nt->drop(nt, from, to, f->proto, f->data, f->len)) {
                        nt->dropped++;
                    } else {
                        cr_assert_not_null(nt->nd[to].h[from]);
                        int r = weft_ps_on_rpc(nt->nd[to].ps, nt->nd[to].h[from], f->proto, f->data,
                                               f->len);
                        cr_assert_eq(r, 0, "router %d refused a frame of router %d: %d", to, from,
                                     r);
                    }
                    free(f);
                }
        if (!progress)
            return moved;
    }
}

/* Connect i and j (j may be an attacker: then only i learns of it). */
static void
net_connect(net *nt, int i, int j)
{
    node *a = &nt->nd[i], *b = &nt->nd[j];
    cr_assert(a->router);
    a->h[j] = weft_ps_add_peer(a->ps, &b->id, 1, PROTOS, (void *)(intptr_t)(j + 1));
    cr_assert_not_null(a->h[j]);
    if (b->router) {
        b->h[i] = weft_ps_add_peer(b->ps, &a->id, 0, PROTOS, (void *)(intptr_t)(i + 1));
        cr_assert_not_null(b->h[i]);
    }
    pump(nt);
}

static void
subscribe_all(net *nt, const char *topic)
{
    for (int i = 0; i < nt->n; i++)
        cr_assert_eq(weft_ps_subscribe(nt->nd[i].ps, topic), 0);
    pump(nt);
}

static void
net_tick(net *nt)
{
    nt->now += nt->cfg.tick_ns;
    for (int i = 0; i < nt->n; i++)
        weft_ps_tick(nt->nd[i].ps);
    pump(nt);
}

static void
net_run(net *nt, int64_t ns)
{
    int64_t end = nt->now + ns;
    while (nt->now < end)
        net_tick(nt);
}

static void
net_heartbeats(net *nt, unsigned k)
{
    net_run(nt, (int64_t)k * nt->cfg.heartbeat_ns);
}

static weft_ps_stats
stats(const net *nt, int i)
{
    weft_ps_stats s;
    weft_ps_get_stats(nt->nd[i].ps, &s);
    return s;
}

static double
score_of(const net *nt, int i, int j)
{
    return weft_ps_peer_score(nt->nd[i].ps, nt->nd[i].h[j]);
}

static int
in_mesh(const net *nt, int i, int j, const char *topic)
{
    weft_ps_peer *v[64];
    size_t n = weft_ps_mesh_peers(nt->nd[i].ps, topic, v, 64);
    for (size_t k = 0; k < n && k < 64; k++)
        if (v[k] == nt->nd[i].h[j])
            return 1;
    return 0;
}

static size_t
mesh_size(const net *nt, int i, const char *topic)
{
    weft_ps_peer *v[64];
    return weft_ps_mesh_peers(nt->nd[i].ps, topic, v, 64);
}

/* A REJECT_MESSAGE reason of node i containing s, among the latest. */
static int
rejected_for(const net *nt, int i, const char *s)
{
    const node *d = &nt->nd[i];
    unsigned n = d->nreasons < NREASONS ? d->nreasons : NREASONS;
    for (unsigned k = 0; k < n; k++)
        if (strstr(d->reasons[k], s))
            return 1;
    return 0;
}

/* Attacker a hands node `to` one frame. */
static int
att_send(net *nt, int a, int to, unsigned proto, const uint8_t *f, size_t len)
{
    cr_assert(!nt->nd[a].router && nt->nd[to].router);
    cr_assert_not_null(nt->nd[to].h[a]);
    int r = weft_ps_on_rpc(nt->nd[to].ps, nt->nd[to].h[a], proto, f, len);
    pump(nt);
    return r;
}

/* Finish w, send it, reset w. */
static int
att_send_w(net *nt, int a, int to, unsigned proto, weft_rpc_writer *w)
{
    const uint8_t *f;
    size_t len;
    cr_assert_eq(weft_rpc_finish(w, &f, &len), 0);
    int r = att_send(nt, a, to, proto, f, len);
    weft_rpc_writer_reset(w);
    return r;
}

static weft_bytes
bstr(const char *s)
{
    return (weft_bytes){(const uint8_t *)s, strlen(s)};
}

/* ---- what the attacker received -------------------------------------------------- */

typedef struct tally {
    const uint8_t *match; /* count messages (from || seqno) equal to this id */
    size_t match_len;
    unsigned subs, msgs, msgs_match, ihave_ids, iwant_ids, grafts, prunes, idontwant_ids;
    unsigned shards, completes, wants, haves;
    int64_t prune_backoff; /* of the last PRUNE, -1 if it had none */
} tally;

static int
t_sub(void *u, int subscribe, weft_bytes topic)
{
    ((tally *)u)->subs++;
    return 0;
}

static int
t_msg(void *u, const weft_rpc_msg *m)
{
    tally *t = u;
    t->msgs++;
    uint8_t id[128];
    if (t->match && m->from.len + m->seqno.len <= sizeof id) {
        memcpy(id, m->from.p, m->from.len);
        memcpy(id + m->from.len, m->seqno.p, m->seqno.len);
        if (m->from.len + m->seqno.len == t->match_len && !memcmp(id, t->match, t->match_len))
            t->msgs_match++;
    }
    return 0;
}

static int
t_ihave(void *u, weft_bytes topic, weft_bytes id)
{
    ((tally *)u)->ihave_ids++;
    return 0;
}

static int
t_iwant(void *u, weft_bytes id)
{
    ((tally *)u)->iwant_ids++;
    return 0;
}

static int
t_graft(void *u, weft_bytes topic)
{
    ((tally *)u)->grafts++;
    return 0;
}

static int
t_prune(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers, int has_backoff,
        uint64_t backoff_s)
{
    tally *t = u;
    t->prunes++;
    t->prune_backoff = has_backoff ? (int64_t)backoff_s : -1;
    return 0;
}

static int
t_idontwant(void *u, weft_bytes id)
{
    ((tally *)u)->idontwant_ids++;
    return 0;
}

static int
t_shard(void *u, const weft_rpc_shard *s)
{
    ((tally *)u)->shards++;
    return 0;
}

static int
t_complete(void *u, weft_bytes id)
{
    ((tally *)u)->completes++;
    return 0;
}

static int
t_want(void *u, weft_bytes id, uint32_t rank)
{
    ((tally *)u)->wants++;
    return 0;
}

static int
t_have(void *u, weft_bytes id, uint32_t rank, uint32_t got)
{
    ((tally *)u)->haves++;
    return 0;
}

static const weft_rpc_visitor tally_v = {
    .sub = t_sub,
    .msg = t_msg,
    .ihave = t_ihave,
    .iwant = t_iwant,
    .graft = t_graft,
    .prune = t_prune,
    .idontwant = t_idontwant,
    .shard = t_shard,
    .complete = t_complete,
    .want = t_want,
    .have = t_have,
};

static void
tally_frame(tally *t, unsigned proto, const uint8_t *p, size_t len)
{
    cr_assert_eq(parse_any(proto, p, len, &tally_v, t), 0);
}

/* Everything in attacker a's inbox; *frames (may be NULL) gets the count. */
static tally
inbox_tally(const net *nt, int a, const uint8_t *match, size_t match_len, unsigned *frames)
{
    tally t;
    memset(&t, 0, sizeof t);
    t.match = match;
    t.match_len = match_len;
    t.prune_backoff = -2;
    unsigned n = 0;
    for (const frame *f = nt->nd[a].inbox.head; f; f = f->next, n++)
        tally_frame(&t, f->proto, f->data, f->len);
    if (frames)
        *frames = n;
    return t;
}

static void
inbox_clear(net *nt, int a)
{
    fifo_clear(&nt->nd[a].inbox);
}

/* ---- GossipSub messages written by hand ------------------------------------------- */

typedef struct gmsg {
    weft_rpc_msg m;
    uint8_t seq[8];
    uint8_t sig[64];
    uint8_t key[36];
} gmsg;

/* A message from `from` signed by `signer`; key_of (may be NULL) sets the
 * key field to that identity's public key. The gmsg must not move. */
static void
gmsg_make(gmsg *g, const weft_identity *signer, const weft_peer_id *from, const char *topic,
          const void *data, size_t len, uint64_t seqno, const weft_identity *key_of)
{
    memset(g, 0, sizeof *g);
    for (int i = 7; i >= 0; i--, seqno >>= 8)
        g->seq[i] = (uint8_t)seqno;
    g->m.from = (weft_bytes){from->bytes, from->len};
    g->m.data = (weft_bytes){data, len};
    g->m.seqno = (weft_bytes){g->seq, 8};
    g->m.topic = bstr(topic);
    g->m.has = WEFT_RPC_HAS_FROM | WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_SEQNO | WEFT_RPC_HAS_TOPIC;
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_rpc_sig_input(&g->m, &b), 0);
    weft_sign(signer, b.base, b.len, g->sig);
    weft_buf_free(&b);
    g->m.signature = (weft_bytes){g->sig, 64};
    g->m.has |= WEFT_RPC_HAS_SIGNATURE;
    if (key_of) {
        weft_pubkey_pb_encode(key_of->pk, g->key);
        g->m.key = (weft_bytes){g->key, 36};
        g->m.has |= WEFT_RPC_HAS_KEY;
    }
}

static int
gmsg_send(net *nt, int a, int to, const gmsg *g)
{
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_msg(&w, &g->m), 0);
    int r = att_send_w(nt, a, to, WEFT_PS_PROTO_MESHSUB, &w);
    weft_rpc_writer_free(&w);
    return r;
}

/* Spec message id: from || seqno. */
static size_t
spec_id(const gmsg *g, uint8_t *out)
{
    memcpy(out, g->m.from.p, g->m.from.len);
    memcpy(out + g->m.from.len, g->seq, 8);
    return g->m.from.len + 8;
}

static void
fill(uint8_t *p, size_t n, uint64_t seed)
{
    weft_rng r;
    weft_rng_seed(&r, seed);
    weft_rng_bytes(&r, p, n);
}

static int
has_delivery(const node *d, const uint8_t *id, size_t idl)
{
    int n = 0;
    for (size_t i = 0; i < d->ndv; i++)
        n += d->dv[i].id_len == idl && !memcmp(d->dv[i].id, id, idl);
    return n;
}

/* ---- RLNC mode ---------------------------------------------------------------------- */

/* A message as an attacker publishes it: id and signature over `signed_msg`,
 * shards coded from `coded_msg` (the same bytes, unless polluting). */
typedef struct rmsg {
    uint8_t id[32];
    uint8_t sig[64];
    weft_peer_id from;
    uint64_t seqno;
    const char *topic;
    weft_encoder *enc;
    weft_gen gen;
    uint8_t *shard;
    size_t shard_len;
    weft_rpc_writer w;
} rmsg;

/* (Re)sign r's id under header (topic, seqno) with signer's key. */
static void
rmsg_sign(rmsg *r, const weft_identity *signer, const char *topic, uint64_t seqno)
{
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_rlnc_sig_input((weft_bytes){r->id, 32}, bstr(topic), r->gen.k,
                                     r->gen.piece_size, r->gen.message_len, seqno, &b),
                 0);
    weft_sign(signer, b.base, b.len, r->sig);
    weft_buf_free(&b);
    r->seqno = seqno;
    r->topic = topic;
}

/* r as published under header (topic, seqno), with an id made for
 * (id_topic, id_seqno) and signed_msg: an honest publisher has them equal,
 * a forger not. The signature is r's signer's over the header it sends. */
static void
rmsg_init_as(rmsg *r, const weft_identity *signer, const char *topic, const char *id_topic,
             const uint8_t *signed_msg, const uint8_t *coded_msg, size_t len, uint32_t k,
             uint64_t seqno, uint64_t id_seqno)
{
    memset(r, 0, sizeof *r);
    weft_peer_id_from_pubkey(signer->pk, &r->from);
    uint8_t sha[32];
    crypto_hash_sha256(sha, signed_msg, len);
    cr_assert_eq(weft_rlnc_msg_id((weft_bytes){r->from.bytes, r->from.len}, id_seqno,
                                  bstr(id_topic), sha, r->id),
                 0);
    int err = 0;
    r->enc = weft_enc_new(coded_msg, len, k, 0, WEFT_ENC_SYSTEMATIC, seqno * 7919 + 1, &err);
    cr_assert_not_null(r->enc, "weft_enc_new: %d", err);
    r->gen = *weft_enc_gen(r->enc);
    rmsg_sign(r, signer, topic, seqno);
    r->shard = malloc(weft_shard_size(&r->gen));
    cr_assert_not_null(r->shard);
    weft_rpc_writer_init(&r->w, 0);
}

static void
rmsg_init(rmsg *r, const weft_identity *signer, const char *topic, const uint8_t *signed_msg,
          const uint8_t *coded_msg, size_t len, uint32_t k, uint64_t seqno)
{
    rmsg_init_as(r, signer, topic, topic, signed_msg, coded_msg, len, k, seqno, seqno);
}

static void
rmsg_free(rmsg *r)
{
    weft_enc_free(r->enc);
    free(r->shard);
    weft_rpc_writer_free(&r->w);
}

/* Code the next shard into r->shard. */
static void
rmsg_next(rmsg *r)
{
    int n = weft_enc_next(r->enc, r->shard, weft_shard_size(&r->gen));
    cr_assert_gt(n, 0);
    r->shard_len = (size_t)n;
}

/* Send `data` (a shard, possibly doctored) under r's header to node to. */
static int
rmsg_send_data(net *nt, int a, int to, rmsg *r, const uint8_t *data, size_t len)
{
    weft_rpc_shard s = {
        .topic = bstr(r->topic),
        .msg_id = {r->id, 32},
        .from = {r->from.bytes, r->from.len},
        .seqno = r->seqno,
        .signature = {r->sig, 64},
        .data = {data, len},
    };
    cr_assert_eq(weft_rpc_put_shard(&r->w, &s), 0);
    return att_send_w(nt, a, to, WEFT_PS_PROTO_RLNC, &r->w);
}

/* Send the current shard. */
static int
rmsg_send(net *nt, int a, int to, rmsg *r)
{
    return rmsg_send_data(nt, a, to, r, r->shard, r->shard_len);
}

static weft_ps_config
rlnc_config(void)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_RLNC);
    return c;
}

/* Ring 0 - 1 - 2 - 3 - 0, all subscribed, meshes built. */
static net *
ring4(const weft_ps_config *c)
{
    net *nt = net_new(c, 4, 0);
    subscribe_all(nt, TOPIC);
    for (int i = 0; i < 4; i++)
        net_connect(nt, i, (i + 1) % 4);
    net_heartbeats(nt, 3);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(mesh_size(nt, i, TOPIC), 2, "node %d", i);
        cr_assert(in_mesh(nt, i, (i + 1) % 4, TOPIC) && in_mesh(nt, i, (i + 3) % 4, TOPIC));
    }
    return nt;
}

#endif
