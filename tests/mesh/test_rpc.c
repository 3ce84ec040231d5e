/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire codecs of the mesh (weft/ps_rpc.h, weft_ps_trace_encode):
 *
 *  - GossipSub RPCs byte-exact against the js-libp2p vectors (SUBSCRIBE,
 *    the signed PUBLISH with and without its framing, GRAFT, PRUNE with
 *    backoff, IHAVE), and the signed bytes: weft_rpc_sig_input rebuilds what
 *    js signed and the js signature verifies over it;
 *  - round trips of every GossipSub and RLNC item through the writer and
 *    the parser, field order, writer bounds, last-one-wins, stopping
 *    visitors;
 *  - every kind of malformation (truncated varints, lengths past the end,
 *    wrong wire types at every depth, group wire types, field number 0)
 *    refused with WEFT_EPROTO before the visitor runs at all; unknown fields
 *    of every wire type skipped at every depth; PRUNE peer exchange capped at
 *    WEFT_RPC_MAX_PX while the entries past the cap are still checked;
 *  - the length-prefixed frame reader under every chunking;
 *  - trace events decoded back field by field.
 *
 * The vectors (tests/vectors/vectors.json, "gossipsub" and
 * "identity") are embedded below as hex. Random tests print their seed;
 * WEFT_TEST_SEED=<seed> replays one.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_seed.h"
#include "weft/identity.h"
#include "weft/pb.h"
#include "weft/ps_rpc.h"
#include "weft/pubsub.h"

/* ---- vectors (js-libp2p) ------------------------------------------------------- */

#define VEC_PUBKEY "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"
#define VEC_PEER_ID "0024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"
#define VEC_KEY_PB "080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"
#define VEC_TOPIC "interop"
#define VEC_SEQNO "0000000000000001"
#define VEC_DATA "68656c6c6f"
#define VEC_SIGNATURE                                                                              \
    "bfc70d5de597146910925c820e79c92699d34baf6492e9c9d31b58df8386842e1020eecca3621cbf446c9fb0b7"   \
    "4a26ec650937167e46792a3846a21f4514190c"
#define VEC_MSG_NO_SIG                                                                             \
    "0a260024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29120568656c6c" \
    "6f1a0800000000000000012207696e7465726f70"
#define VEC_SIGNED_BYTES "6c69627032702d7075627375623a" VEC_MSG_NO_SIG
#define VEC_MSG_GO VEC_MSG_NO_SIG "2a40" VEC_SIGNATURE
#define VEC_MSG_JS VEC_MSG_GO "3224" VEC_KEY_PB
#define VEC_RPC_SUBSCRIBE "0a0b08011207696e7465726f70"
#define VEC_RPC_SUBSCRIBE_LP "0d" VEC_RPC_SUBSCRIBE
#define VEC_RPC_PUBLISH "128401" VEC_MSG_GO
#define VEC_RPC_PUBLISH_LP "8701" VEC_RPC_PUBLISH
#define VEC_RPC_GRAFT "1a0b1a090a07696e7465726f70"
#define VEC_RPC_PRUNE60 "1a0d220b0a07696e7465726f70183c"
#define VEC_RPC_IHAVE                                                                              \
    "1a3b0a390a07696e7465726f70122e0024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b586"   \
    "9f241aedf0a5ba290000000000000001"
#define VEC_MSG_ID VEC_PEER_ID VEC_SEQNO

/* ---- helpers ---------------------------------------------------------------------- */

#define B(s) ((weft_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    cr_assert_eq(strlen(hex) % 2, 0);
    cr_assert_leq(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* The buffers hexb hands out: a weft_bytes only views its bytes, so the
 * owning pointer stays here until freeb gives it back. */
static uint8_t *held[32];
static size_t nheld;

/* Heap copy of a hex vector, exactly its size (ASan sees over-reads). */
static weft_bytes
hexb(const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *p = malloc(n ? n : 1);
    cr_assert(p != NULL);
    cr_assert_lt(nheld, sizeof held / sizeof held[0]);
    held[nheld++] = p;
    unhex(hex, p, n);
    return (weft_bytes){p, n};
}

static void
freeb(weft_bytes b)
{
    for (size_t i = 0; i < nheld; i++) {
        if (held[i] == b.p) {
            free(held[i]);
            held[i] = held[--nheld];
            return;
        }
    }
    cr_assert_fail("freeb: %p is not from hexb", (const void *)b.p);
}

static int
beq(weft_bytes a, weft_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void
assert_bytes(weft_bytes got, weft_bytes want, const char *what)
{
    cr_assert(beq(got, want), "%s: %zu bytes, want %zu (or contents differ)", what, got.len,
              want.len);
}

static uint64_t
test_seed(void)
{
    uint64_t seed = test_seed_of_run();
    fprintf(stderr, "WEFT_TEST_SEED=%" PRIu64 "\n", seed);
    return seed;
}

static weft_bytes
finish(weft_rpc_writer *w)
{
    const uint8_t *p = NULL;
    size_t n = 99;
    cr_assert_eq(weft_rpc_finish(w, &p, &n), 0);
    cr_assert(p != NULL);
    return (weft_bytes){p, n};
}

/* ---- a visitor that records everything ---------------------------------------- */

enum {
    EV_SUB,
    EV_MSG,
    EV_IHAVE,
    EV_IWANT,
    EV_GRAFT,
    EV_PRUNE,
    EV_IDONTWANT,
    EV_SHARD,
    EV_COMPLETE,
    EV_WANT,
    EV_HAVE
};

typedef struct event {
    int kind;
    int subscribe;
    weft_bytes topic, id;
    weft_rpc_msg msg;
    weft_rpc_shard shard;
    weft_bytes peers[WEFT_RPC_MAX_PX];
    size_t npeers;
    int has_backoff;
    uint64_t backoff;
    uint32_t rank, got;
} event;

#define REC_MAX 256
typedef struct rec {
    event e[REC_MAX];
    size_t n;
    size_t stop_after; /* 0: never stop; else return stop_rc after this many */
    int stop_rc;
} rec;

static int
rec_add(rec *r, const event *e)
{
    cr_assert_lt(r->n, REC_MAX);
    /* A lent topic or id is never NULL, so callers may compare it. */
    cr_assert(e->topic.p != NULL && e->id.p != NULL);
    r->e[r->n++] = *e;
    if (r->stop_after != 0 && r->n == r->stop_after)
        return r->stop_rc;
    return 0;
}

static event
ev_of(int kind)
{
    event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.topic = e.id = (weft_bytes){(const uint8_t *)"", 0};
    return e;
}

static int
on_sub(void *u, int subscribe, weft_bytes topic)
{
    event e = ev_of(EV_SUB);
    e.subscribe = subscribe;
    e.topic = topic;
    return rec_add(u, &e);
}

static int
on_msg(void *u, const weft_rpc_msg *m)
{
    event e = ev_of(EV_MSG);
    e.msg = *m;
    return rec_add(u, &e);
}

static int
on_ihave(void *u, weft_bytes topic, weft_bytes id)
{
    event e = ev_of(EV_IHAVE);
    e.topic = topic;
    e.id = id;
    return rec_add(u, &e);
}

static int
on_iwant(void *u, weft_bytes id)
{
    event e = ev_of(EV_IWANT);
    e.id = id;
    return rec_add(u, &e);
}

static int
on_graft(void *u, weft_bytes topic)
{
    event e = ev_of(EV_GRAFT);
    e.topic = topic;
    return rec_add(u, &e);
}

static int
on_prune(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers, int has_backoff,
         uint64_t backoff_s)
{
    event e = ev_of(EV_PRUNE);
    e.topic = topic;
    cr_assert_leq(npeers, WEFT_RPC_MAX_PX);
    cr_assert(npeers == 0 || peers != NULL);
    for (size_t i = 0; i < npeers; i++)
        e.peers[i] = peers[i];
    e.npeers = npeers;
    e.has_backoff = has_backoff;
    e.backoff = backoff_s;
    return rec_add(u, &e);
}

static int
on_idontwant(void *u, weft_bytes id)
{
    event e = ev_of(EV_IDONTWANT);
    e.id = id;
    return rec_add(u, &e);
}

static int
on_shard(void *u, const weft_rpc_shard *s)
{
    event e = ev_of(EV_SHARD);
    e.shard = *s;
    return rec_add(u, &e);
}

static int
on_complete(void *u, weft_bytes id)
{
    event e = ev_of(EV_COMPLETE);
    e.id = id;
    return rec_add(u, &e);
}

static int
on_want(void *u, weft_bytes id, uint32_t rank)
{
    event e = ev_of(EV_WANT);
    e.id = id;
    e.rank = rank;
    return rec_add(u, &e);
}

static int
on_have(void *u, weft_bytes id, uint32_t rank, uint32_t got)
{
    event e = ev_of(EV_HAVE);
    e.id = id;
    e.rank = rank;
    e.got = got;
    return rec_add(u, &e);
}

static const weft_rpc_visitor rec_visitor = {
    .sub = on_sub,
    .msg = on_msg,
    .ihave = on_ihave,
    .iwant = on_iwant,
    .graft = on_graft,
    .prune = on_prune,
    .idontwant = on_idontwant,
    .shard = on_shard,
    .complete = on_complete,
    .want = on_want,
    .have = on_have,
};

static rec *
rec_new(void)
{
    rec *r = calloc(1, sizeof *r);
    cr_assert(r != NULL);
    return r;
}

static int
parse_gossip(weft_bytes b, rec *r)
{
    r->n = 0;
    return weft_rpc_parse_gossip(b.p, b.len, &rec_visitor, r);
}

static int
parse_rlnc(weft_bytes b, rec *r)
{
    r->n = 0;
    return weft_rpc_parse_rlnc(b.p, b.len, &rec_visitor, r);
}

/* The vector message (go style: no key). */
static weft_rpc_msg
vector_msg(weft_bytes from, weft_bytes seqno, weft_bytes sig)
{
    weft_rpc_msg m;
    memset(&m, 0, sizeof m);
    m.from = from;
    m.data = B("hello");
    m.seqno = seqno;
    m.topic = B(VEC_TOPIC);
    m.signature = sig;
    m.has = WEFT_RPC_HAS_FROM | WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_SEQNO | WEFT_RPC_HAS_TOPIC |
            WEFT_RPC_HAS_SIGNATURE;
    return m;
}

static void
assert_msg_eq(const weft_rpc_msg *a, const weft_rpc_msg *b)
{
    cr_assert_eq(a->has, b->has);
    if (a->has & WEFT_RPC_HAS_FROM)
        assert_bytes(a->from, b->from, "from");
    if (a->has & WEFT_RPC_HAS_DATA)
        assert_bytes(a->data, b->data, "data");
    if (a->has & WEFT_RPC_HAS_SEQNO)
        assert_bytes(a->seqno, b->seqno, "seqno");
    if (a->has & WEFT_RPC_HAS_TOPIC)
        assert_bytes(a->topic, b->topic, "topic");
    if (a->has & WEFT_RPC_HAS_SIGNATURE)
        assert_bytes(a->signature, b->signature, "signature");
    if (a->has & WEFT_RPC_HAS_KEY)
        assert_bytes(a->key, b->key, "key");
}

/* ---- the js vectors, byte-exact -------------------------------------------------- */

Test(rpc_vectors, subscribe)
{
    weft_bytes vec = hexb(VEC_RPC_SUBSCRIBE), lp = hexb(VEC_RPC_SUBSCRIBE_LP);
    rec *r = rec_new();
    cr_assert_eq(parse_gossip(vec, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].kind, EV_SUB);
    cr_assert_eq(r->e[0].subscribe, 1);
    assert_bytes(r->e[0].topic, B(VEC_TOPIC), "topic");
    /* The topic is lent from the input. */
    cr_assert(r->e[0].topic.p >= vec.p && r->e[0].topic.p + 7 <= vec.p + vec.len);

    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B(VEC_TOPIC)), 0);
    cr_assert_eq(w.items, 1);
    weft_bytes out = finish(&w);
    assert_bytes(out, vec, "SUBSCRIBE");

    weft_buf framed;
    weft_buf_init(&framed, NULL, 0, 0);
    cr_assert_eq(weft_put_lp(&framed, out.p, out.len), 0);
    assert_bytes((weft_bytes){framed.base, framed.len}, lp, "SUBSCRIBE framed");
    weft_buf_free(&framed);
    weft_rpc_writer_free(&w);
    freeb(vec);
    freeb(lp);
    free(r);
}

Test(rpc_vectors, publish_signed_message)
{
    weft_bytes vec = hexb(VEC_RPC_PUBLISH), lp = hexb(VEC_RPC_PUBLISH_LP);
    weft_bytes from = hexb(VEC_PEER_ID), seqno = hexb(VEC_SEQNO), sig = hexb(VEC_SIGNATURE);
    weft_rpc_msg want = vector_msg(from, seqno, sig);
    rec *r = rec_new();

    cr_assert_eq(parse_gossip(vec, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].kind, EV_MSG);
    assert_msg_eq(&r->e[0].msg, &want);
    cr_assert_eq(r->e[0].msg.key.len, 0);
    cr_assert(r->e[0].msg.data.p > vec.p && r->e[0].msg.data.p < vec.p + vec.len);

    /* Writer: the same bytes, and the same frame. */
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_msg(&w, &want), 0);
    weft_bytes out = finish(&w);
    assert_bytes(out, vec, "PUBLISH");
    weft_buf framed;
    weft_buf_init(&framed, NULL, 0, 0);
    cr_assert_eq(weft_put_lp(&framed, out.p, out.len), 0);
    assert_bytes((weft_bytes){framed.base, framed.len}, lp, "PUBLISH framed");
    weft_buf_free(&framed);
    weft_rpc_writer_free(&w);
    freeb(vec);
    freeb(lp);
    freeb(from);
    freeb(seqno);
    freeb(sig);
    free(r);
}

Test(rpc_vectors, publish_js_style_with_key)
{
    weft_bytes msg = hexb(VEC_MSG_JS), key = hexb(VEC_KEY_PB);
    weft_bytes from = hexb(VEC_PEER_ID), seqno = hexb(VEC_SEQNO), sig = hexb(VEC_SIGNATURE);
    weft_rpc_msg m = vector_msg(from, seqno, sig);
    m.key = key;
    m.has |= WEFT_RPC_HAS_KEY;

    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_msg(&w, &m), 0);
    weft_bytes out = finish(&w);
    /* RPC = 0x12 uvarint(len) Message */
    uint8_t hdr[1 + WEFT_UVARINT_MAX];
    hdr[0] = 0x12;
    size_t h = 1 + weft_uvarint_put(hdr + 1, msg.len);
    cr_assert_eq(out.len, h + msg.len);
    cr_assert_eq(memcmp(out.p, hdr, h), 0);
    assert_bytes((weft_bytes){out.p + h, out.len - h}, msg, "js-style message");

    rec *r = rec_new();
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(r->n, 1);
    assert_msg_eq(&r->e[0].msg, &m);
    weft_rpc_writer_free(&w);
    freeb(msg);
    freeb(key);
    freeb(from);
    freeb(seqno);
    freeb(sig);
    free(r);
}

Test(rpc_vectors, sig_input_and_js_signature)
{
    weft_bytes signed_bytes = hexb(VEC_SIGNED_BYTES), no_sig = hexb(VEC_MSG_NO_SIG);
    weft_bytes from = hexb(VEC_PEER_ID), seqno = hexb(VEC_SEQNO), sig = hexb(VEC_SIGNATURE);
    weft_bytes key = hexb(VEC_KEY_PB);
    uint8_t pk[32];
    cr_assert_eq(unhex(VEC_PUBKEY, pk, sizeof pk), 32);

    /* Signature and key never take part, whether present or not. */
    weft_rpc_msg m = vector_msg(from, seqno, sig);
    m.key = key;
    m.has |= WEFT_RPC_HAS_KEY;
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_buf_append(&b, "xy", 2), 0); /* appended, not overwritten */
    cr_assert_eq(weft_rpc_sig_input(&m, &b), 0);
    cr_assert_eq(memcmp(b.base, "xy", 2), 0);
    assert_bytes((weft_bytes){b.base + 2, b.len - 2}, signed_bytes, "signed bytes");
    /* ... which is the prefix plus the message without signature and key. */
    cr_assert_eq(b.len - 2, 14 + no_sig.len);
    cr_assert_eq(memcmp(b.base + 2, "libp2p-pubsub:", 14), 0);
    cr_assert_eq(memcmp(b.base + 16, no_sig.p, no_sig.len), 0);

    /* The js signature verifies over our bytes; one flipped bit does not. */
    cr_assert_eq(weft_verify(pk, b.base + 2, b.len - 2, sig.p), 0);
    b.base[b.len - 1] ^= 1;
    cr_assert_eq(weft_verify(pk, b.base + 2, b.len - 2, sig.p), WEFT_EAUTH);

    /* From a parsed message too. */
    weft_bytes vec = hexb(VEC_RPC_PUBLISH);
    rec *r = rec_new();
    cr_assert_eq(parse_gossip(vec, r), 0);
    weft_buf_reset(&b);
    cr_assert_eq(weft_rpc_sig_input(&r->e[0].msg, &b), 0);
    assert_bytes((weft_bytes){b.base, b.len}, signed_bytes, "signed bytes (parsed)");
    cr_assert_eq(weft_verify(pk, b.base, b.len, r->e[0].msg.signature.p), 0);

    /* Fields left out of `has` are left out of the signed bytes. */
    weft_rpc_msg part = m;
    part.has = WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_TOPIC;
    weft_buf_reset(&b);
    cr_assert_eq(weft_rpc_sig_input(&part, &b), 0);
    static const uint8_t want_part[] = "libp2p-pubsub:\x12\x05hello\x22\x07interop";
    assert_bytes((weft_bytes){b.base, b.len}, (weft_bytes){want_part, sizeof want_part - 1},
                 "partial");

    /* A capped buffer refuses. */
    weft_buf small;
    weft_buf_init(&small, NULL, 0, signed_bytes.len - 1);
    cr_assert_eq(weft_rpc_sig_input(&m, &small), WEFT_ETOOBIG);
    weft_buf_free(&small);

    weft_buf_free(&b);
    freeb(signed_bytes);
    freeb(no_sig);
    freeb(from);
    freeb(seqno);
    freeb(sig);
    freeb(key);
    freeb(vec);
    free(r);
}

Test(rpc_vectors, graft_prune_ihave)
{
    weft_bytes graft = hexb(VEC_RPC_GRAFT), prune = hexb(VEC_RPC_PRUNE60);
    weft_bytes ihave = hexb(VEC_RPC_IHAVE), id = hexb(VEC_MSG_ID);
    rec *r = rec_new();
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);

    cr_assert_eq(parse_gossip(graft, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].kind, EV_GRAFT);
    assert_bytes(r->e[0].topic, B(VEC_TOPIC), "graft topic");
    cr_assert_eq(weft_rpc_put_graft(&w, B(VEC_TOPIC)), 0);
    assert_bytes(finish(&w), graft, "GRAFT");

    cr_assert_eq(parse_gossip(prune, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].kind, EV_PRUNE);
    assert_bytes(r->e[0].topic, B(VEC_TOPIC), "prune topic");
    cr_assert_eq(r->e[0].npeers, 0);
    cr_assert_eq(r->e[0].has_backoff, 1);
    cr_assert_eq(r->e[0].backoff, 60);
    weft_rpc_writer_reset(&w);
    cr_assert_eq(w.items, 0);
    cr_assert_eq(weft_rpc_put_prune(&w, B(VEC_TOPIC), NULL, 0, 60), 0);
    assert_bytes(finish(&w), prune, "PRUNE");

    cr_assert_eq(parse_gossip(ihave, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].kind, EV_IHAVE);
    assert_bytes(r->e[0].topic, B(VEC_TOPIC), "ihave topic");
    assert_bytes(r->e[0].id, id, "ihave id");
    weft_rpc_writer_reset(&w);
    cr_assert_eq(weft_rpc_put_ihave(&w, B(VEC_TOPIC), &id, 1), 0);
    assert_bytes(finish(&w), ihave, "IHAVE");

    weft_rpc_writer_free(&w);
    freeb(graft);
    freeb(prune);
    freeb(ihave);
    freeb(id);
    free(r);
}

/* ---- round trips ------------------------------------------------------------------ */

Test(rpc_roundtrip, every_gossip_item_in_order)
{
    weft_bytes ids[3] = {B("id-1"), B("id-2"), B("")};
    weft_bytes peers[2] = {B("peer-a"), B("peer-b")};
    weft_rpc_msg m;
    memset(&m, 0, sizeof m);
    m.from = B("F");
    m.data = B("payload");
    m.topic = B("t2");
    m.key = B("K");
    m.has = WEFT_RPC_HAS_FROM | WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_TOPIC | WEFT_RPC_HAS_KEY;
    rec *r = rec_new();
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);

    /* Control items first, interleaved with the others: the control
     * message still goes last, as one field 3. */
    cr_assert_eq(weft_rpc_put_ihave(&w, B("t1"), ids, 3), 0);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("t1")), 0);
    cr_assert_eq(weft_rpc_put_iwant(&w, ids, 2), 0);
    cr_assert_eq(weft_rpc_put_msg(&w, &m), 0);
    cr_assert_eq(weft_rpc_put_graft(&w, B("t3")), 0);
    cr_assert_eq(weft_rpc_put_sub(&w, 0, B("")), 0);
    cr_assert_eq(weft_rpc_put_prune(&w, B("t4"), peers, 2, 0), 0);
    cr_assert_eq(weft_rpc_put_prune(&w, B("t5"), NULL, 0, -1), 0);
    cr_assert_eq(weft_rpc_put_idontwant(&w, ids + 1, 1), 0);
    cr_assert_eq(w.items, 9);
    weft_bytes out = finish(&w);

    /* Top level: sub, msg, sub, control. */
    weft_pb_reader pr;
    weft_pb_field f;
    uint32_t nums[8];
    size_t nf = 0;
    weft_pb_reader_init(&pr, out.p, out.len);
    while (weft_pb_next(&pr, &f) == 1) {
        cr_assert_lt(nf, 8);
        nums[nf++] = f.num;
    }
    cr_assert_eq(nf, 4);
    cr_assert(nums[0] == 1 && nums[1] == 2 && nums[2] == 1 && nums[3] == 3);

    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(r->n, 12);
    event *e = r->e;
    cr_assert(e[0].kind == EV_SUB && e[0].subscribe == 1);
    assert_bytes(e[0].topic, B("t1"), "sub topic");
    cr_assert_eq(e[1].kind, EV_MSG);
    assert_msg_eq(&e[1].msg, &m);
    cr_assert_eq(e[1].msg.seqno.len, 0);
    cr_assert_eq(e[1].msg.signature.len, 0);
    cr_assert(e[2].kind == EV_SUB && e[2].subscribe == 0 && e[2].topic.len == 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(e[3 + i].kind, EV_IHAVE);
        assert_bytes(e[3 + i].topic, B("t1"), "ihave topic");
        assert_bytes(e[3 + i].id, ids[i], "ihave id");
    }
    cr_assert(e[6].kind == EV_IWANT && beq(e[6].id, ids[0]));
    cr_assert(e[7].kind == EV_IWANT && beq(e[7].id, ids[1]));
    cr_assert(e[8].kind == EV_GRAFT && beq(e[8].topic, B("t3")));
    cr_assert(e[9].kind == EV_PRUNE && beq(e[9].topic, B("t4")));
    cr_assert_eq(e[9].npeers, 2);
    cr_assert(beq(e[9].peers[0], peers[0]) && beq(e[9].peers[1], peers[1]));
    cr_assert(e[9].has_backoff == 1 && e[9].backoff == 0);
    cr_assert(e[10].kind == EV_PRUNE && beq(e[10].topic, B("t5")));
    cr_assert(e[10].npeers == 0 && e[10].has_backoff == 0);
    cr_assert(e[11].kind == EV_IDONTWANT && beq(e[11].id, ids[1]));

    /* Finishing again gives the same RPC. The RLNC parser reads a SubOpts
     * as a Shard whose topic has the wrong wire type. */
    weft_bytes again = finish(&w);
    cr_assert(again.p == out.p && again.len == out.len);
    cr_assert_eq(parse_rlnc(out, r), WEFT_EPROTO);
    cr_assert_eq(r->n, 0);
    weft_rpc_writer_free(&w);
    free(r);
}

Test(rpc_roundtrip, every_rlnc_item_in_order)
{
    enum { BIG = 1 << 20 };
    uint8_t *data = malloc(BIG);
    cr_assert(data != NULL);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    uint8_t mid[32];
    memset(mid, 0xAB, sizeof mid);
    weft_rpc_shard s = {
        .topic = B("opt"),
        .msg_id = {mid, 32},
        .from = B("publisher"),
        .seqno = UINT64_MAX,
        .signature = B("sig"),
        .data = {data, BIG},
    };
    weft_rpc_shard bare;
    memset(&bare, 0, sizeof bare);
    bare.msg_id = (weft_bytes){mid, 32};
    weft_bytes ids[2] = {{mid, 32}, B("x")};
    rec *r = rec_new();
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);

    cr_assert_eq(weft_rpc_put_want(&w, B("w"), 7), 0);
    cr_assert_eq(weft_rpc_put_shard(&w, &s), 0);
    cr_assert_eq(weft_rpc_put_complete(&w, ids[0]), 0);
    cr_assert_eq(weft_rpc_put_rlnc_ihave(&w, B("opt"), ids, 2), 0);
    cr_assert_eq(weft_rpc_put_shard(&w, &bare), 0);
    cr_assert_eq(weft_rpc_put_want(&w, B("w2"), UINT32_MAX), 0);
    cr_assert_eq(weft_rpc_put_complete(&w, B("")), 0);
    cr_assert_eq(weft_rpc_put_have(&w, ids[0], 3, UINT32_MAX), 0);
    cr_assert_eq(weft_rpc_put_have(&w, B(""), 0, 0), 0);
    cr_assert_eq(w.items, 9);
    weft_bytes out = finish(&w);
    /* want 7, shard 74 + BIG, complete 34, ihave 44, bare shard 36, want 12,
     * empty complete 2, haves 2 + 34 + 2 + 6 and 2 + 6: nothing more. */
    cr_assert_eq(out.len, BIG + 261, "%zu", out.len - BIG);

    cr_assert_eq(parse_rlnc(out, r), 0);
    cr_assert_eq(r->n, 10);
    event *e = r->e;
    cr_assert(e[0].kind == EV_WANT && beq(e[0].id, B("w")) && e[0].rank == 7);
    cr_assert_eq(e[1].kind, EV_SHARD);
    const weft_rpc_shard *g = &e[1].shard;
    cr_assert(beq(g->topic, s.topic) && beq(g->msg_id, s.msg_id) && beq(g->from, s.from));
    cr_assert(beq(g->signature, s.signature) && g->seqno == UINT64_MAX);
    cr_assert(beq(g->data, s.data));
    cr_assert(g->data.p > out.p && g->data.p + BIG <= out.p + out.len); /* lent, not copied */
    cr_assert(e[2].kind == EV_COMPLETE && beq(e[2].id, ids[0]));
    cr_assert(e[3].kind == EV_IHAVE && beq(e[3].topic, B("opt")) && beq(e[3].id, ids[0]));
    cr_assert(e[4].kind == EV_IHAVE && beq(e[4].topic, B("opt")) && beq(e[4].id, ids[1]));
    cr_assert_eq(e[5].kind, EV_SHARD);
    cr_assert(beq(e[5].shard.msg_id, bare.msg_id) && e[5].shard.seqno == 0);
    cr_assert(e[5].shard.topic.len == 0 && e[5].shard.data.len == 0 && e[5].shard.from.len == 0);
    cr_assert(e[5].shard.topic.p != NULL && e[5].shard.data.p != NULL);
    cr_assert(e[6].kind == EV_WANT && e[6].rank == UINT32_MAX);
    cr_assert(e[7].kind == EV_COMPLETE && e[7].id.len == 0);
    cr_assert(e[8].kind == EV_HAVE && beq(e[8].id, ids[0]));
    cr_assert(e[8].rank == 3 && e[8].got == UINT32_MAX);
    cr_assert(e[9].kind == EV_HAVE && e[9].id.len == 0 && e[9].rank == 0 && e[9].got == 0);

    /* The gossip parser reads these bytes as mistyped known fields. */
    cr_assert_eq(parse_gossip(out, r), WEFT_EPROTO);
    cr_assert_eq(r->n, 0);
    weft_rpc_writer_free(&w);
    free(data);
    free(r);
}

Test(rpc_roundtrip, large_message_bounds)
{
    enum { BIG = 1 << 20 };
    uint8_t *data = calloc(1, BIG);
    cr_assert(data != NULL);
    weft_rpc_msg m;
    memset(&m, 0, sizeof m);
    m.data = (weft_bytes){data, BIG};
    m.topic = B("t");
    m.has = WEFT_RPC_HAS_DATA | WEFT_RPC_HAS_TOPIC;
    /* RPC: 0x12 len(3 bytes) { 0x12 len(3 bytes) data; 0x22 0x01 't' } */
    size_t inner = 1 + 3 + BIG + 3, total = 1 + 3 + inner;

    weft_rpc_writer w;
    weft_rpc_writer_init(&w, total);
    cr_assert_eq(weft_rpc_put_msg(&w, &m), 0);
    weft_bytes out = finish(&w);
    cr_assert_eq(out.len, total);
    rec *r = rec_new();
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert(r->n == 1 && beq(r->e[0].msg.data, m.data));
    weft_rpc_writer_free(&w);

    /* One byte less is refused; after a reset the writer works again. */
    weft_rpc_writer_init(&w, total - 1);
    cr_assert_eq(weft_rpc_put_msg(&w, &m), WEFT_ETOOBIG);
    weft_rpc_writer_reset(&w);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("t")), 0);
    cr_assert_eq(finish(&w).len, 7);
    weft_rpc_writer_free(&w);

    /* The bound covers the control part appended at finish. */
    weft_bytes id = B("0123456789");
    weft_rpc_writer_init(&w, 16);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("t")), 0); /* 7 bytes */
    cr_assert_eq(weft_rpc_put_iwant(&w, &id, 1), 0);  /* ctl: 14 bytes */
    const uint8_t *p;
    size_t n;
    cr_assert_eq(weft_rpc_finish(&w, &p, &n), WEFT_ETOOBIG);
    weft_rpc_writer_free(&w);
    weft_rpc_writer_init(&w, 7 + 2 + 14);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("t")), 0);
    cr_assert_eq(weft_rpc_put_iwant(&w, &id, 1), 0);
    cr_assert_eq(finish(&w).len, 23);
    weft_rpc_writer_free(&w);
    free(data);
    free(r);
}

Test(rpc_roundtrip, empty_writer_and_empty_rpc)
{
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    weft_bytes out = finish(&w);
    cr_assert_eq(out.len, 0);
    rec *r = rec_new();
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(parse_rlnc(out, r), 0);
    cr_assert_eq(weft_rpc_parse_gossip(NULL, 0, &rec_visitor, r), 0);
    cr_assert_eq(weft_rpc_parse_rlnc(NULL, 0, &rec_visitor, r), 0);
    cr_assert_eq(r->n, 0);
    /* An IHAVE without ids is still an entry (visiting nothing). */
    cr_assert_eq(weft_rpc_put_ihave(&w, B("t"), NULL, 0), 0);
    out = finish(&w);
    cr_assert_gt(out.len, 0);
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(r->n, 0);
    weft_rpc_writer_reset(&w);
    cr_assert_eq(finish(&w).len, 0);
    weft_rpc_writer_free(&w);
    free(r);
}

Test(rpc_roundtrip, rlnc_sig_input_layout)
{
    uint8_t mid[32];
    for (int i = 0; i < 32; i++)
        mid[i] = (uint8_t)i;
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_rlnc_sig_input((weft_bytes){mid, 32}, B("opt"), 4, 0x01020304, 0xA0B0C0D0,
                                     0x1122334455667788ULL, &b),
                 0);
    uint8_t want[10 + 32 + 1 + 3 + 2 + 4 + 4 + 8];
    memcpy(want, "weft-rlnc:", 10);
    memcpy(want + 10, mid, 32);
    memcpy(want + 42, "\x03opt", 4);
    memcpy(want + 46, "\x04\x00\x04\x03\x02\x01\xD0\xC0\xB0\xA0", 10);
    memcpy(want + 56, "\x88\x77\x66\x55\x44\x33\x22\x11", 8);
    assert_bytes((weft_bytes){b.base, b.len}, (weft_bytes){want, sizeof want}, "rlnc sig input");

    /* A 200-byte topic takes a 2-byte length. */
    static uint8_t topic[200];
    memset(topic, 'q', sizeof topic);
    weft_buf_reset(&b);
    cr_assert_eq(
        weft_rlnc_sig_input((weft_bytes){mid, 32}, (weft_bytes){topic, 200}, 65535, 1, 1, 0, &b),
        0);
    cr_assert_eq(b.len, 10 + 32 + 2 + 200 + 10 + 8);
    cr_assert(b.base[42] == 0xC8 && b.base[43] == 0x01);
    cr_assert(b.base[244] == 0xFF && b.base[245] == 0xFF);

    size_t before = b.len;
    cr_assert_eq(weft_rlnc_sig_input((weft_bytes){mid, 31}, B("t"), 4, 1, 1, 0, &b), WEFT_EINVAL);
    cr_assert_eq(weft_rlnc_sig_input((weft_bytes){mid, 32}, B("t"), 65536, 1, 1, 0, &b),
                 WEFT_EINVAL);
    cr_assert_eq(b.len, before);
    weft_buf_free(&b);
}

/* ---- parser semantics ------------------------------------------------------------- */

Test(rpc_parse, last_value_wins_and_missing_topics_are_empty)
{
    /* SubOpts{subscribe=1, topic="a", subscribe=0, topic="bb"};
     * Message{from="x", from="yz"}; GRAFT{}; IHAVE{id "i"};
     * PRUNE{peers: PeerInfo{peerID="p", peerID="q"}}; SubOpts{} */
    static const char hex[] = "0a0b0801120161080012026262"
                              "12070a01780a02797a"
                              "1a111a000a03120169220812060a01700a0171"
                              "0a00";
    weft_bytes in = hexb(hex);
    rec *r = rec_new();
    int rc = parse_gossip(in, r);
    cr_assert_eq(rc, 0, "rc %d", rc);
    cr_assert_eq(r->n, 6);
    cr_assert(r->e[0].kind == EV_SUB && r->e[0].subscribe == 0 && beq(r->e[0].topic, B("bb")));
    cr_assert(r->e[1].kind == EV_MSG && r->e[1].msg.has == WEFT_RPC_HAS_FROM);
    assert_bytes(r->e[1].msg.from, B("yz"), "from");
    cr_assert(r->e[2].kind == EV_GRAFT && r->e[2].topic.len == 0 && r->e[2].topic.p != NULL);
    cr_assert(r->e[3].kind == EV_IHAVE && r->e[3].topic.len == 0 && beq(r->e[3].id, B("i")));
    cr_assert(r->e[4].kind == EV_PRUNE && r->e[4].topic.len == 0 && r->e[4].npeers == 1);
    assert_bytes(r->e[4].peers[0], B("q"), "peer");
    cr_assert(r->e[5].kind == EV_SUB && r->e[5].subscribe == 0 && r->e[5].topic.len == 0);
    freeb(in);
    free(r);
}

Test(rpc_parse, visitor_stops_the_walk)
{
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    weft_bytes ids[4] = {B("1"), B("2"), B("3"), B("4")};
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("a")), 0);
    cr_assert_eq(weft_rpc_put_iwant(&w, ids, 4), 0);
    cr_assert_eq(weft_rpc_put_graft(&w, B("a")), 0);
    weft_bytes out = finish(&w);
    rec *r = rec_new();
    for (size_t stop = 1; stop <= 6; stop++) {
        r->stop_after = stop;
        r->stop_rc = 1000 + (int)stop;
        cr_assert_eq(parse_gossip(out, r), 1000 + (int)stop);
        cr_assert_eq(r->n, stop);
    }
    r->stop_after = 0;
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(r->n, 6);

    /* NULL callbacks skip their items; a NULL visitor only validates. */
    weft_rpc_visitor only_graft = {.graft = on_graft};
    r->n = 0;
    cr_assert_eq(weft_rpc_parse_gossip(out.p, out.len, &only_graft, r), 0);
    cr_assert(r->n == 1 && r->e[0].kind == EV_GRAFT);
    cr_assert_eq(weft_rpc_parse_gossip(out.p, out.len, NULL, NULL), 0);
    cr_assert_eq(weft_rpc_parse_gossip(out.p, out.len - 1, NULL, NULL), WEFT_EPROTO);

    /* RLNC: a stop in the middle of an IHave's ids. */
    weft_rpc_writer_reset(&w);
    cr_assert_eq(weft_rpc_put_rlnc_ihave(&w, B("t"), ids, 4), 0);
    cr_assert_eq(weft_rpc_put_complete(&w, B("c")), 0);
    out = finish(&w);
    r->stop_after = 2;
    r->stop_rc = -77;
    cr_assert_eq(parse_rlnc(out, r), -77);
    cr_assert_eq(r->n, 2);
    weft_rpc_writer_free(&w);
    free(r);
}

typedef struct malformed {
    const char *name;
    const char *hex;
} malformed;

/* Each starts with a valid item (SubOpts{1, "a"} or complete "\xab"), so a
 * parser that visited before checking would be caught. */
static const malformed gossip_bad[] = {
    {"truncated key varint", "0a05080112016180"},
    {"truncated length varint", "0a0508011201610a80"},
    {"length past end", "0a0508011201610a050801"},
    {"subscriptions as varint", "0a0508011201610801"},
    {"publish as i32", "0a0508011201611500000000"},
    {"control as i64", "0a050801120161190000000000000000"},
    {"SubOpts.subscribe as bytes", "0a0508011201610a030a0161"},
    {"SubOpts.topicid as varint", "0a0508011201610a021001"},
    {"SubOpts field number 0", "0a0508011201610a020000"},
    {"Message.data as varint", "0a05080112016112021005"},
    {"Message.key as i32", "0a05080112016112053500000000"},
    {"Message.from past end", "0a05080112016112030a0561"},
    {"Control.ihave as varint", "0a0508011201611a020801"},
    {"Control.idontwant as i32", "0a0508011201611a052d00000000"},
    {"IHave.messageIDs as varint", "0a0508011201611a040a021001"},
    {"IHave.topicID as i64", "0a0508011201611a0b0a09090000000000000000"},
    {"IWant.messageIDs as i64", "0a0508011201611a0b1209090000000000000000"},
    {"Graft.topicID as varint", "0a0508011201611a041a020801"},
    {"Prune.backoff as bytes", "0a0508011201611a0522031a0100"},
    {"Prune.peers as varint", "0a0508011201611a0422021001"},
    {"PeerInfo.peerID as varint", "0a0508011201611a06220412020801"},
    {"PeerInfo.signedPeerRecord as i32", "0a0508011201611a09220712051500000000"},
    {"PeerInfo truncated", "0a0508011201611a05220312010a"},
    {"IDontWant.messageIDs as varint", "0a0508011201611a042a020801"},
    {"group start at top", "0a0508011201613b"},
    {"group end in Message", "0a05080112016112010c"},
    {"group in unknown control field", "0a0508011201611a0133"},
    {"field number 0 at top", "0a0508011201610200"},
    {"wire type 7", "0a0508011201610f"},
    {"wire type 6 in IHave", "0a0508011201611a030a010e"},
    {"11-byte varint in backoff", "0a0508011201611a0e220c188080808080808080808001"},
    {"varint over 64 bits", "0a05080112016148ffffffffffffffffff02"},
    {"unknown bytes field past end", "0a0508011201613a0500"},
    {"unknown i32 truncated", "0a0508011201613d0000"},
    {"unknown i64 truncated", "0a0508011201613900000000000000"},
};

static const malformed rlnc_bad[] = {
    {"shard as varint", "1201ab0801"},
    {"complete as varint", "1201ab1001"},
    {"ihave as i32", "1201ab1d00000000"},
    {"want as varint", "1201ab2001"},
    {"Shard.seqno as bytes", "1201ab0a03220100"},
    {"Shard.data as varint", "1201ab0a023001"},
    {"Shard.signature as i64", "1201ab0a09290000000000000000"},
    {"Shard.topic past end", "1201ab0a030a0561"},
    {"Shard group", "1201ab0a010b"},
    {"IHave.ids as varint", "1201ab1a021001"},
    {"IHave.topic as i32", "1201ab1a050d00000000"},
    {"Want.rank as bytes", "1201ab2203120100"},
    {"Want.rank over 32 bits", "1201ab2206108080808010"},
    {"Want.id as varint", "1201ab22020801"},
    {"truncated length", "1201ab1280"},
    {"truncated key", "1201abff"},
    {"group end at top", "1201ab2c"},
    {"field number 0", "1201ab0001"},
    {"have as varint", "1201ab2801"},
    {"Have.rank as bytes", "1201ab2a03120100"},
    {"Have.got over 32 bits", "1201ab2a06188080808010"},
    {"Have.id as i32", "1201ab2a050d00000000"},
};

Test(rpc_parse, malformed_gossip_refused_before_visiting)
{
    rec *r = rec_new();
    for (size_t i = 0; i < sizeof gossip_bad / sizeof gossip_bad[0]; i++) {
        weft_bytes in = hexb(gossip_bad[i].hex);
        int rc = parse_gossip(in, r);
        cr_assert_eq(rc, WEFT_EPROTO, "%s: rc %d", gossip_bad[i].name, rc);
        cr_assert_eq(r->n, 0, "%s: visited %zu items", gossip_bad[i].name, r->n);
        /* The valid prefix alone parses and visits. */
        cr_assert_eq(parse_gossip((weft_bytes){in.p, 7}, r), 0, "%s", gossip_bad[i].name);
        cr_assert_eq(r->n, 1);
        freeb(in);
    }
    free(r);
}

Test(rpc_parse, malformed_rlnc_refused_before_visiting)
{
    rec *r = rec_new();
    for (size_t i = 0; i < sizeof rlnc_bad / sizeof rlnc_bad[0]; i++) {
        weft_bytes in = hexb(rlnc_bad[i].hex);
        int rc = parse_rlnc(in, r);
        cr_assert_eq(rc, WEFT_EPROTO, "%s: rc %d", rlnc_bad[i].name, rc);
        cr_assert_eq(r->n, 0, "%s: visited %zu items", rlnc_bad[i].name, r->n);
        cr_assert_eq(parse_rlnc((weft_bytes){in.p, 3}, r), 0, "%s", rlnc_bad[i].name);
        cr_assert_eq(r->n, 1);
        freeb(in);
    }
    free(r);
}

Test(rpc_parse, every_truncation_of_a_full_rpc)
{
    /* Cutting a valid RPC inside a nested message leaves a length past the
     * end; cutting between top-level fields leaves a valid shorter RPC. */
    weft_bytes ids[2] = {B("m1"), B("m2")}, peers[1] = {B("p")};
    weft_rpc_msg m;
    memset(&m, 0, sizeof m);
    m.data = B("d");
    m.has = WEFT_RPC_HAS_DATA;
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_sub(&w, 1, B("t")), 0);
    cr_assert_eq(weft_rpc_put_msg(&w, &m), 0);
    cr_assert_eq(weft_rpc_put_ihave(&w, B("t"), ids, 2), 0);
    cr_assert_eq(weft_rpc_put_prune(&w, B("t"), peers, 1, 5), 0);
    weft_bytes out = finish(&w);
    /* Top-level field boundaries: 0, 7, 7 + 5, and the end. */
    rec *r = rec_new();
    for (size_t cut = 0; cut <= out.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, out.p, cut);
        int rc = parse_gossip((weft_bytes){copy, cut}, r);
        int boundary = cut == 0 || cut == 7 || cut == 12 || cut == out.len;
        cr_assert_eq(rc, boundary ? 0 : WEFT_EPROTO, "cut %zu: rc %d", cut, rc);
        if (!boundary)
            cr_assert_eq(r->n, 0);
        free(copy);
    }
    weft_rpc_writer_free(&w);
    free(r);
}

/* Append raw bytes / a nested message as a LEN field. */
static void
put_raw(weft_buf *b, const char *hex)
{
    weft_bytes x = hexb(hex);
    cr_assert_eq(weft_buf_append(b, x.p, x.len), 0);
    freeb(x);
}

static void
put_sub_msg(weft_buf *b, uint32_t num, const weft_buf *sub)
{
    cr_assert_eq(weft_pb_put_bytes(b, num, sub->base, sub->len), 0);
}

Test(rpc_parse, unknown_fields_skipped_at_every_depth)
{
    /* Unknown fields of every wire type: 0x48 = 9 varint, 0x51 = 10 i64,
     * 0x5a = 11 bytes (holding garbage), 0x65 = 12 i32. */
    static const char unk[] = "48ff01"
                              "510102030405060708"
                              "5a03ffff0b"
                              "65deadbeef";
    weft_buf rpc, sub, m, ctl, ih, pr, pi, tmp;
    weft_buf_init(&rpc, NULL, 0, 0);
    weft_buf_init(&sub, NULL, 0, 0);
    weft_buf_init(&m, NULL, 0, 0);
    weft_buf_init(&ctl, NULL, 0, 0);
    weft_buf_init(&ih, NULL, 0, 0);
    weft_buf_init(&pr, NULL, 0, 0);
    weft_buf_init(&pi, NULL, 0, 0);
    weft_buf_init(&tmp, NULL, 0, 0);

    put_raw(&rpc, unk);
    cr_assert_eq(weft_pb_put_varint(&sub, 1, 1), 0);
    put_raw(&sub, unk);
    cr_assert_eq(weft_pb_put_str(&sub, 2, "t"), 0);
    put_sub_msg(&rpc, 1, &sub);
    put_raw(&m, unk);
    cr_assert_eq(weft_pb_put_str(&m, 2, "data"), 0);
    cr_assert_eq(weft_pb_put_str(&m, 7, "unknown"), 0);
    put_sub_msg(&rpc, 2, &m);
    put_raw(&rpc, unk);
    /* control: unknown 6 and 10 (as go sends), IHave with unknown fields,
     * PRUNE with a PeerInfo holding unknown fields. */
    cr_assert_eq(weft_pb_put_str(&ctl, 6, "\x0a\x01z"), 0);
    put_raw(&ih, unk);
    cr_assert_eq(weft_pb_put_str(&ih, 1, "t"), 0);
    cr_assert_eq(weft_pb_put_str(&ih, 2, "id"), 0);
    put_raw(&ih, unk);
    put_sub_msg(&ctl, 1, &ih);
    cr_assert_eq(weft_pb_put_varint(&ctl, 10, 3), 0);
    put_raw(&pi, unk);
    cr_assert_eq(weft_pb_put_str(&pi, 1, "peer"), 0);
    cr_assert_eq(weft_pb_put_str(&pi, 2, "record"), 0);
    put_sub_msg(&pr, 2, &pi);
    put_raw(&pr, unk);
    cr_assert_eq(weft_pb_put_varint(&pr, 3, 9), 0);
    put_sub_msg(&ctl, 4, &pr);
    put_raw(&ctl, unk);
    put_sub_msg(&rpc, 3, &ctl);

    rec *r = rec_new();
    int rc = parse_gossip((weft_bytes){rpc.base, rpc.len}, r);
    cr_assert_eq(rc, 0, "rc %d", rc);
    cr_assert_eq(r->n, 4);
    cr_assert(r->e[0].kind == EV_SUB && r->e[0].subscribe && beq(r->e[0].topic, B("t")));
    cr_assert(r->e[1].kind == EV_MSG && r->e[1].msg.has == WEFT_RPC_HAS_DATA);
    assert_bytes(r->e[1].msg.data, B("data"), "data");
    cr_assert(r->e[2].kind == EV_IHAVE && beq(r->e[2].topic, B("t")) && beq(r->e[2].id, B("id")));
    cr_assert(r->e[3].kind == EV_PRUNE && r->e[3].npeers == 1 && beq(r->e[3].peers[0], B("peer")));
    cr_assert(r->e[3].has_backoff && r->e[3].backoff == 9);

    /* RLNC: unknown fields around a Shard and inside it and a Want. */
    weft_buf_reset(&rpc);
    weft_buf_reset(&tmp);
    put_raw(&tmp, unk);
    cr_assert_eq(weft_pb_put_varint(&tmp, 4, 42), 0);
    put_raw(&tmp, unk);
    put_raw(&rpc, unk);
    put_sub_msg(&rpc, 1, &tmp);
    weft_buf_reset(&tmp);
    cr_assert_eq(weft_pb_put_varint(&tmp, 2, 3), 0);
    put_raw(&tmp, unk);
    put_sub_msg(&rpc, 4, &tmp);
    put_raw(&rpc, unk);
    weft_buf_reset(&tmp);
    put_raw(&tmp, unk);
    cr_assert_eq(weft_pb_put_varint(&tmp, 3, 11), 0);
    cr_assert_eq(weft_pb_put_str(&tmp, 1, "h"), 0);
    put_sub_msg(&rpc, 5, &tmp);
    rc = parse_rlnc((weft_bytes){rpc.base, rpc.len}, r);
    cr_assert_eq(rc, 0, "rc %d", rc);
    cr_assert_eq(r->n, 3);
    cr_assert(r->e[2].kind == EV_HAVE && beq(r->e[2].id, B("h")) && r->e[2].rank == 0 &&
              r->e[2].got == 11);
    cr_assert(r->e[0].kind == EV_SHARD && r->e[0].shard.seqno == 42);
    cr_assert(r->e[1].kind == EV_WANT && r->e[1].rank == 3 && r->e[1].id.len == 0);

    weft_buf *all[] = {&rpc, &sub, &m, &ctl, &ih, &pr, &pi, &tmp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        weft_buf_free(all[i]);
    free(r);
}

Test(rpc_parse, prune_peer_exchange_capped)
{
    enum { N = 20 };
    char names[N][8];
    weft_bytes peers[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "peer%02d", i);
        peers[i] = (weft_bytes){(const uint8_t *)names[i], 6};
    }
    rec *r = rec_new();

    /* Through the writer: 20 entries, 16 passed. */
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    cr_assert_eq(weft_rpc_put_prune(&w, B("t"), peers, N, 60), 0);
    weft_bytes out = finish(&w);
    cr_assert_eq(parse_gossip(out, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].npeers, WEFT_RPC_MAX_PX);
    for (int i = 0; i < WEFT_RPC_MAX_PX; i++)
        assert_bytes(r->e[0].peers[i], peers[i], "peer");
    cr_assert(r->e[0].has_backoff && r->e[0].backoff == 60);

    /* By hand: entries without a peer id (record only, empty, nothing) are
     * left out and do not count; an entry past the cap is still checked. */
    weft_buf pr, pi;
    weft_buf_init(&pr, NULL, 0, 0);
    weft_buf_init(&pi, NULL, 0, 0);
    cr_assert_eq(weft_pb_put_str(&pr, 1, "t"), 0);
    for (int i = 0; i < N; i++) {
        if (i == 1) {
            cr_assert_eq(weft_pb_put_str(&pr, 2, "\x12\x03rec"), 0);
            cr_assert_eq(weft_pb_put_bytes(&pr, 2, "\x0a\x00", 2), 0);
            cr_assert_eq(weft_pb_put_str(&pr, 2, ""), 0);
        }
        weft_buf_reset(&pi);
        cr_assert_eq(weft_pb_put_bytes(&pi, 1, peers[i].p, peers[i].len), 0);
        cr_assert_eq(weft_pb_put_str(&pi, 2, "signed-record"), 0);
        put_sub_msg(&pr, 2, &pi);
    }
    weft_buf rpc, ctl;
    weft_buf_init(&rpc, NULL, 0, 0);
    weft_buf_init(&ctl, NULL, 0, 0);
    put_sub_msg(&ctl, 4, &pr);
    put_sub_msg(&rpc, 3, &ctl);
    cr_assert_eq(parse_gossip((weft_bytes){rpc.base, rpc.len}, r), 0);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->e[0].npeers, WEFT_RPC_MAX_PX);
    for (int i = 0; i < WEFT_RPC_MAX_PX; i++)
        assert_bytes(r->e[0].peers[i], peers[i], "peer");
    cr_assert_eq(r->e[0].has_backoff, 0);

    /* A bad 21st entry (peerID as a varint) fails the RPC. */
    cr_assert_eq(weft_pb_put_str(&pr, 2, "\x08\x01"), 0);
    weft_buf_reset(&ctl);
    weft_buf_reset(&rpc);
    put_sub_msg(&ctl, 4, &pr);
    put_sub_msg(&rpc, 3, &ctl);
    cr_assert_eq(parse_gossip((weft_bytes){rpc.base, rpc.len}, r), WEFT_EPROTO);
    cr_assert_eq(r->n, 0);

    weft_buf_free(&pr);
    weft_buf_free(&pi);
    weft_buf_free(&rpc);
    weft_buf_free(&ctl);
    weft_rpc_writer_free(&w);
    free(r);
}

/* ---- length-prefixed frames ---------------------------------------------------------- */

typedef struct frames {
    uint8_t data[8192];
    size_t len;
    size_t off[64], n[64];
    size_t count;
    const uint8_t *chunk; /* the chunk being fed, to see in-place frames */
    size_t chunk_len;
    size_t in_place;
    int stop_at; /* return -5 on this frame (1-based); 0 never */
} frames;

static int
on_frame(void *u, const uint8_t *f, size_t n)
{
    frames *fr = u;
    cr_assert(f != NULL);
    cr_assert_lt(fr->count, 64);
    cr_assert_leq(fr->len + n, sizeof fr->data);
    if (fr->chunk != NULL && f >= fr->chunk && f + n <= fr->chunk + fr->chunk_len)
        fr->in_place++;
    memcpy(fr->data + fr->len, f, n);
    fr->off[fr->count] = fr->len;
    fr->n[fr->count] = n;
    fr->len += n;
    fr->count++;
    if (fr->stop_at != 0 && (int)fr->count == fr->stop_at)
        return -5;
    return 0;
}

static int
feed(weft_lp_reader *r, frames *fr, const uint8_t *p, size_t n)
{
    fr->chunk = p;
    fr->chunk_len = n;
    int rc = weft_lp_feed(r, p, n, on_frame, fr);
    cr_assert_leq(r->acc.len, r->max + WEFT_UVARINT_MAX);
    cr_assert_leq(r->acc.cap, r->max + WEFT_UVARINT_MAX);
    return rc;
}

/* A stream of frames of these sizes; frame i is filled with byte i. */
static size_t
make_stream(uint8_t *out, size_t cap, const size_t *sizes, size_t n)
{
    weft_buf b;
    weft_buf_init(&b, out, cap, cap);
    uint8_t tmp[1024];
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(sizes[i], sizeof tmp);
        memset(tmp, (int)i + 1, sizes[i]);
        cr_assert_eq(weft_put_lp(&b, tmp, sizes[i]), 0);
    }
    cr_assert(!b.on_heap);
    return b.len;
}

static void
check_frames(const frames *fr, const size_t *sizes, size_t n)
{
    cr_assert_eq(fr->count, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(fr->n[i], sizes[i], "frame %zu: %zu bytes, want %zu", i, fr->n[i], sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            cr_assert_eq(fr->data[fr->off[i] + j], (uint8_t)(i + 1));
    }
}

static const size_t lp_sizes[] = {5, 0, 300, 1, 0, 127, 128, 1000, 2};
#define LP_N (sizeof lp_sizes / sizeof lp_sizes[0])

Test(lp, several_frames_in_one_feed_in_place)
{
    static uint8_t stream[4096];
    size_t len = make_stream(stream, sizeof stream, lp_sizes, LP_N);
    frames *fr = calloc(1, sizeof *fr);
    weft_lp_reader r;
    weft_lp_reader_init(&r, 1000);
    cr_assert_eq(feed(&r, fr, stream, len), 0);
    check_frames(fr, lp_sizes, LP_N);
    cr_assert_eq(fr->in_place, LP_N); /* none copied */
    cr_assert_eq(r.acc.len, 0);
    cr_assert_eq(r.acc.cap, 0); /* nothing was ever collected */
    weft_lp_reader_free(&r);
    free(fr);
}

Test(lp, byte_by_byte)
{
    static uint8_t stream[4096];
    size_t len = make_stream(stream, sizeof stream, lp_sizes, LP_N);
    frames *fr = calloc(1, sizeof *fr);
    weft_lp_reader r;
    weft_lp_reader_init(&r, 1000);
    for (size_t i = 0; i < len; i++) {
        uint8_t *one = malloc(1); /* exactly one byte: ASan sees over-reads */
        *one = stream[i];
        cr_assert_eq(feed(&r, fr, one, 1), 0);
        free(one);
    }
    check_frames(fr, lp_sizes, LP_N);
    /* Empty frames end inside a one-byte chunk and are passed from it. */
    cr_assert_eq(fr->in_place, 2);
    cr_assert_eq(weft_lp_feed(&r, NULL, 0, on_frame, fr), 0);
    weft_lp_reader_free(&r);
    free(fr);
}

Test(lp, random_chunks)
{
    uint64_t seed = test_seed();
    static uint8_t stream[4096];
    size_t len = make_stream(stream, sizeof stream, lp_sizes, LP_N);
    for (int round = 0; round < 200; round++) {
        frames *fr = calloc(1, sizeof *fr);
        weft_lp_reader r;
        weft_lp_reader_init(&r, 1000);
        size_t pos = 0;
        while (pos < len) {
            size_t n = 1 + test_splitmix(&seed) % (round % 2 ? 8 : 600);
            if (n > len - pos)
                n = len - pos;
            cr_assert_eq(feed(&r, fr, stream + pos, n), 0);
            pos += n;
        }
        check_frames(fr, lp_sizes, LP_N);
        weft_lp_reader_free(&r);
        free(fr);
    }
}

Test(lp, bounds_and_bad_prefixes)
{
    frames *fr = calloc(1, sizeof *fr);
    weft_lp_reader r;

    /* A frame of exactly max passes, one byte more is refused. */
    static uint8_t stream[64];
    size_t sz = 10, len = make_stream(stream, sizeof stream, &sz, 1);
    weft_lp_reader_init(&r, 10);
    cr_assert_eq(feed(&r, fr, stream, len), 0);
    cr_assert_eq(fr->count, 1);
    weft_lp_reader_free(&r);
    weft_lp_reader_init(&r, 9);
    cr_assert_eq(feed(&r, fr, stream, len), WEFT_ETOOBIG);
    cr_assert_eq(fr->count, 1);
    /* Refused as soon as the prefix is read, before any payload. */
    cr_assert_eq(feed(&r, fr, stream, 1), WEFT_ETOOBIG);
    weft_lp_reader_free(&r);

    /* A huge length in a 10-byte prefix, split across feeds. */
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    weft_lp_reader_init(&r, 1 << 20);
    for (size_t i = 0; i + 1 < sizeof huge; i++)
        cr_assert_eq(feed(&r, fr, huge + i, 1), 0);
    cr_assert_eq(feed(&r, fr, huge + 9, 1), WEFT_ETOOBIG);
    weft_lp_reader_free(&r);

    /* 11-byte varint: EPROTO, whole or byte by byte. */
    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x01};
    weft_lp_reader_init(&r, 1 << 20);
    cr_assert_eq(feed(&r, fr, eleven, sizeof eleven), WEFT_EPROTO);
    weft_lp_reader_free(&r);
    weft_lp_reader_init(&r, 1 << 20);
    int rc = 0;
    size_t i;
    for (i = 0; i < sizeof eleven && rc == 0; i++)
        rc = feed(&r, fr, eleven + i, 1);
    cr_assert_eq(rc, WEFT_EPROTO);
    cr_assert_eq(i, 10); /* known bad at the tenth byte */
    weft_lp_reader_free(&r);
    /* Over 64 bits in the tenth byte. */
    static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    weft_lp_reader_init(&r, SIZE_MAX);
    cr_assert_eq(feed(&r, fr, over, sizeof over), WEFT_EPROTO);
    weft_lp_reader_free(&r);

    /* A non-minimal prefix is accepted: 0x83 0x00 is 3. */
    static const uint8_t nonmin[] = {0x83, 0x80, 0x00, 'a', 'b', 'c'};
    memset(fr, 0, sizeof *fr);
    weft_lp_reader_init(&r, 3);
    cr_assert_eq(feed(&r, fr, nonmin, 3), 0);
    cr_assert_eq(feed(&r, fr, nonmin + 3, 3), 0);
    cr_assert(fr->count == 1 && fr->n[0] == 3 && memcmp(fr->data, "abc", 3) == 0);
    weft_lp_reader_free(&r);

    /* on_frame's error stops the feed and is returned. */
    static uint8_t two[64];
    size_t sizes[3] = {2, 3, 4};
    len = make_stream(two, sizeof two, sizes, 3);
    memset(fr, 0, sizeof *fr);
    fr->stop_at = 2;
    weft_lp_reader_init(&r, 100);
    cr_assert_eq(feed(&r, fr, two, len), -5);
    cr_assert_eq(fr->count, 2);
    weft_lp_reader_free(&r);
    free(fr);
}

Test(lp, collection_never_exceeds_max)
{
    enum { MAX = 1000 };
    uint8_t *stream = malloc(4 * (MAX + 2));
    weft_buf b;
    weft_buf_init(&b, stream, 4 * (MAX + 2), 4 * (MAX + 2));
    uint8_t payload[MAX];
    memset(payload, 1, sizeof payload);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(weft_put_lp(&b, payload, MAX), 0);
    frames *fr = calloc(1, sizeof *fr);
    weft_lp_reader r;
    weft_lp_reader_init(&r, MAX);
    /* Chunks of 999 keep every frame split. */
    for (size_t pos = 0; pos < b.len; pos += 999) {
        size_t n = b.len - pos < 999 ? b.len - pos : 999;
        cr_assert_eq(feed(&r, fr, stream + pos, n), 0);
    }
    cr_assert_eq(fr->count, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(fr->n[i], MAX);
    weft_lp_reader_free(&r);
    free(fr);
    free(stream);
}

/* ---- trace events -------------------------------------------------------------------- */

typedef struct tfield {
    uint32_t num;
    int wire;
    uint64_t u;
    weft_bytes b;
} tfield;

/* Decode a message into at most max fields; returns the count. */
static size_t
decode_fields(const uint8_t *p, size_t len, tfield *out, size_t max)
{
    weft_pb_reader r;
    weft_pb_field f;
    size_t n = 0;
    int rc;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        cr_assert_lt(n, max);
        out[n++] = (tfield){f.num, f.wire, f.u, {f.data, f.len}};
    }
    cr_assert_eq(rc, 0);
    return n;
}

/* Encode ev, check type/peerID/timestamp and return the sub-message. */
static size_t
trace_sub(const weft_ps_trace *ev, weft_buf *b, uint32_t want_sub, tfield *sub, size_t max)
{
    weft_buf_reset(b);
    cr_assert_eq(weft_ps_trace_encode(ev, b), 0);
    tfield top[8];
    size_t n = decode_fields(b->base, b->len, top, 8);
    size_t i = 0;
    cr_assert(top[i].num == 1 && top[i].wire == WEFT_PB_VARINT && top[i].u == (uint64_t)ev->type);
    i++;
    if (ev->self != NULL && ev->self->len > 0) {
        cr_assert(top[i].num == 2 && top[i].wire == WEFT_PB_LEN);
        assert_bytes(top[i].b, (weft_bytes){ev->self->bytes, ev->self->len}, "peerID");
        i++;
    }
    cr_assert(top[i].num == 3 && top[i].wire == WEFT_PB_VARINT);
    cr_assert_eq((int64_t)top[i].u, ev->ts_ns);
    i++;
    cr_assert_eq(n, i + 1);
    cr_assert_eq(top[i].num, want_sub, "sub-message %u, want %u", top[i].num, want_sub);
    cr_assert_eq(top[i].wire, WEFT_PB_LEN);
    return decode_fields(top[i].b.p, top[i].b.len, sub, max);
}

Test(trace, encode_decodes_back)
{
    weft_peer_id self = {.len = 3, .bytes = {1, 2, 3}};
    weft_peer_id peer = {.len = 2, .bytes = {9, 8}};
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    tfield s[8];
    size_t n;

    weft_ps_trace ev = {.type = WEFT_TRACE_PUBLISH_MESSAGE,
                        .ts_ns = 1700000000123456789,
                        .self = &self,
                        .peer = &peer,
                        .msg_id = B("mid"),
                        .topic = B("top")};
    n = trace_sub(&ev, &b, 4, s, 8);
    cr_assert_eq(n, 2);
    cr_assert(s[0].num == 1 && beq(s[0].b, B("mid")) && s[1].num == 2 && beq(s[1].b, B("top")));

    ev.type = WEFT_TRACE_REJECT_MESSAGE;
    ev.reason = "invalid signature";
    n = trace_sub(&ev, &b, 5, s, 8);
    cr_assert_eq(n, 4);
    cr_assert(s[0].num == 1 && beq(s[0].b, B("mid")));
    cr_assert(s[1].num == 2 && beq(s[1].b, ((weft_bytes){peer.bytes, 2})));
    cr_assert(s[2].num == 3 && beq(s[2].b, B("invalid signature")));
    cr_assert(s[3].num == 4 && beq(s[3].b, B("top")));

    ev.type = WEFT_TRACE_DELIVER_MESSAGE;
    n = trace_sub(&ev, &b, 7, s, 8);
    cr_assert(n == 3 && s[0].num == 1 && s[1].num == 2 && s[2].num == 3);
    cr_assert(beq(s[1].b, B("top")) && beq(s[2].b, ((weft_bytes){peer.bytes, 2})));

    /* RECV_RPC: receivedFrom and length (field 3; no meta). */
    weft_ps_trace rpc = {
        .type = WEFT_TRACE_RECV_RPC, .ts_ns = -5, .self = &self, .peer = &peer, .length = 1234};
    n = trace_sub(&rpc, &b, 10, s, 8);
    cr_assert(n == 2 && s[0].num == 1 && s[1].num == 3 && s[1].wire == WEFT_PB_VARINT &&
              s[1].u == 1234);
    rpc.type = WEFT_TRACE_SEND_RPC;
    rpc.length = 0;
    n = trace_sub(&rpc, &b, 11, s, 8);
    cr_assert(n == 2 && s[1].num == 3 && s[1].u == 0);

    /* ADD_PEER: peerID and proto; LEAVE's topic is field 2; JOIN with no
     * topic is an empty sub-message; no self: no peerID. */
    weft_ps_trace ap = {
        .type = WEFT_TRACE_ADD_PEER, .ts_ns = 1, .peer = &peer, .proto = WEFT_MESHSUB_11};
    n = trace_sub(&ap, &b, 8, s, 8);
    cr_assert(n == 2 && s[0].num == 1 && s[1].num == 2 && beq(s[1].b, B(WEFT_MESHSUB_11)));
    weft_ps_trace lv = {.type = WEFT_TRACE_LEAVE, .ts_ns = 2, .self = &self, .topic = B("x")};
    n = trace_sub(&lv, &b, 14, s, 8);
    cr_assert(n == 1 && s[0].num == 2 && beq(s[0].b, B("x")));
    lv.type = WEFT_TRACE_JOIN;
    lv.topic = (weft_bytes){NULL, 0};
    n = trace_sub(&lv, &b, 13, s, 8);
    cr_assert_eq(n, 0);

    /* Shard events 13-16 -> fields 17-20 (two-byte keys). */
    uint8_t coeffs[4] = {1, 0, 7, 255};
    for (int t = WEFT_TRACE_DUPLICATE_SHARD; t <= WEFT_TRACE_NEW_SHARD; t++) {
        weft_ps_trace sh = {.type = t,
                            .ts_ns = 3,
                            .self = &self,
                            .peer = &peer,
                            .msg_id = B("m"),
                            .coeffs = {coeffs, 4}};
        n = trace_sub(&sh, &b, (uint32_t)(17 + t - WEFT_TRACE_DUPLICATE_SHARD), s, 8);
        cr_assert(n == 3 && s[0].num == 1 && s[1].num == 2 && s[2].num == 3);
        cr_assert(beq(s[2].b, ((weft_bytes){coeffs, 4})));
    }

    /* GRAFT / PRUNE / REMOVE_PEER / DROP_RPC / DUPLICATE_MESSAGE. */
    weft_ps_trace g = {
        .type = WEFT_TRACE_GRAFT, .self = &self, .peer = &peer, .topic = B("t"), .msg_id = B("m")};
    n = trace_sub(&g, &b, 15, s, 8);
    cr_assert(n == 2 && s[0].num == 1 && s[1].num == 2);
    g.type = WEFT_TRACE_PRUNE;
    n = trace_sub(&g, &b, 16, s, 8);
    cr_assert(n == 2 && s[0].num == 1 && s[1].num == 2);
    g.type = WEFT_TRACE_REMOVE_PEER;
    n = trace_sub(&g, &b, 9, s, 8);
    cr_assert(n == 1 && s[0].num == 1);
    g.type = WEFT_TRACE_DROP_RPC;
    n = trace_sub(&g, &b, 12, s, 8);
    cr_assert(n == 1 && s[0].num == 1);
    g.type = WEFT_TRACE_DUPLICATE_MESSAGE;
    n = trace_sub(&g, &b, 6, s, 8);
    cr_assert(n == 3 && s[0].num == 1 && s[1].num == 2 && s[2].num == 3 && beq(s[2].b, B("t")));

    /* Appends; an unknown type is refused and writes nothing. */
    weft_buf_reset(&b);
    cr_assert_eq(weft_ps_trace_encode(&g, &b), 0);
    size_t one = b.len;
    cr_assert_eq(weft_ps_trace_encode(&g, &b), 0);
    cr_assert_eq(b.len, 2 * one);
    weft_ps_trace bad = {.type = 17};
    cr_assert_eq(weft_ps_trace_encode(&bad, &b), WEFT_EINVAL);
    bad.type = -1;
    cr_assert_eq(weft_ps_trace_encode(&bad, &b), WEFT_EINVAL);
    cr_assert_eq(b.len, 2 * one);
    weft_buf_free(&b);
}

Test(trace, names)
{
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_PUBLISH_MESSAGE), "PUBLISH_MESSAGE");
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_REJECT_MESSAGE), "REJECT_MESSAGE");
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_RECV_RPC), "RECV_RPC");
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_PRUNE), "PRUNE");
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_NEW_SHARD), "NEW_SHARD");
    cr_assert_str_eq(weft_ps_trace_name(WEFT_TRACE_UNNECESSARY_SHARD), "UNNECESSARY_SHARD");
    cr_assert_str_eq(weft_ps_trace_name(17), "UNKNOWN");
    cr_assert_str_eq(weft_ps_trace_name(-1), "UNKNOWN");
    for (int t = 0; t <= WEFT_TRACE_NEW_SHARD; t++)
        cr_assert_str_neq(weft_ps_trace_name(t), "UNKNOWN");
}
