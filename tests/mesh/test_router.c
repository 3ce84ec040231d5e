/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The topic-mesh router (weft/pubsub.h) driven in one process, without a
 * network: N routers on a manual clock whose io.send queues each frame on a
 * FIFO per (sender, receiver, protocol) and a pump that hands them to
 * weft_ps_on_rpc until every queue is empty; plus "raw attacker" peers, bare
 * identities whose RPCs are written by hand with weft_rpc_writer (signed
 * with weft_rpc_sig_input / weft_rlnc_sig_input, shards from weft_enc_*).
 *
 * GossipSub mode: mesh formation on a line and exactly-once delivery with
 * spec and js message ids; bad signatures and key/from mismatches; unknown
 * topics, oversize messages, malformed and oversize frames; graylisting;
 * GRAFT during backoff; IWANT and IHAVE floods; the message-cache memory
 * bound under a flood of valid messages.
 *
 * RLNC mode: a 100 KiB message over a ring of 4; more than k shards from one
 * peer; a bad publisher signature; a polluted generation; a flood of partial
 * generations against the per-peer and total caps, and their expiry; shards
 * for unknown topics and malformed shards; repair of a node that lost its
 * shards.
 *
 * Tests named bug_* document router bugs found while writing this file; they
 * fail until the router is fixed (see the comment above each).
 */
#include "router_net.h"

/* ---- GossipSub mode ----------------------------------------------------------------- */

/* Three nodes in a line 0 - 1 - 2, all subscribed, meshes built. */
static net *
line3(int msgid)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    c.msgid = msgid;
    net *nt = net_new(&c, 3, 0);
    subscribe_all(nt, TOPIC);
    net_connect(nt, 0, 1);
    net_connect(nt, 1, 2);
    net_heartbeats(nt, 3);
    return nt;
}

/* Publish on 0; nodes 1 and 2 get it once, same bytes and id as published. */
static void
publish_line3(net *nt, uint8_t *id, size_t *idl, uint8_t sha[32])
{
    uint8_t data[777];
    fill(data, sizeof data, 1);
    crypto_hash_sha256(sha, data, sizeof data);
    cr_assert_eq(weft_ps_publish(nt->nd[0].ps, TOPIC, data, sizeof data, id, idl), 0);
    pump(nt);
    cr_assert_eq(nt->nd[0].ndv, 0, "the publisher delivered its own message");
    for (int i = 1; i < 3; i++) {
        const node *d = &nt->nd[i];
        cr_assert_eq(d->ndv, 1, "node %d: %zu deliveries", i, d->ndv);
        const delivery *v = &d->dv[0];
        cr_assert_eq(v->id_len, *idl);
        cr_assert_arr_eq(v->id, id, *idl);
        cr_assert_eq(v->len, sizeof data);
        cr_assert_arr_eq(v->sha, sha, 32);
        cr_assert_str_eq(v->topic, TOPIC);
        cr_assert(v->has_from && weft_peer_id_equal(&v->from, &nt->nd[0].id));
        cr_assert_eq(v->received_from, i - 1);
        cr_assert_eq(d->ntrace[WEFT_TRACE_DELIVER_MESSAGE], 1);
    }
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_PUBLISH_MESSAGE], 1);
    cr_assert_eq(stats(nt, 0).published, 1);
}

Test(gossip, line_mesh_and_spec_msgid)
{
    net *nt = line3(WEFT_PS_MSGID_SPEC);
    cr_assert_eq(mesh_size(nt, 0, TOPIC), 1);
    cr_assert_eq(mesh_size(nt, 1, TOPIC), 2);
    cr_assert_eq(mesh_size(nt, 2, TOPIC), 1);
    cr_assert(in_mesh(nt, 0, 1, TOPIC) && in_mesh(nt, 1, 0, TOPIC));
    cr_assert(in_mesh(nt, 1, 2, TOPIC) && in_mesh(nt, 2, 1, TOPIC));

    uint8_t id[64], sha[32];
    size_t idl = 0;
    publish_line3(nt, id, &idl, sha);
    /* spec id: publisher peer id bytes || 8-byte big-endian seqno */
    const weft_peer_id *p0 = &nt->nd[0].id;
    cr_assert_eq(idl, (size_t)p0->len + 8);
    cr_assert_arr_eq(id, p0->bytes, p0->len);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | id[p0->len + i];
    cr_assert_eq(nt->nd[1].dv[0].seqno, seq);
    cr_assert_eq(nt->nd[2].dv[0].seqno, seq);

    /* Gossip and later heartbeats bring no second copy. */
    net_heartbeats(nt, 8);
    cr_assert_eq(nt->nd[1].ndv, 1);
    cr_assert_eq(nt->nd[2].ndv, 1);
    for (int i = 0; i < 3; i++) {
        weft_ps_stats s = stats(nt, i);
        cr_assert_eq(s.drop_bad_signature + s.drop_bad_id + s.rpc_malformed, 0);
        cr_assert_eq(s.delivered, i ? 1u : 0u);
    }
    net_free(nt);
}

Test(gossip, js_msgid)
{
    net *nt = line3(WEFT_PS_MSGID_JS);
    uint8_t id[64], sha[32];
    size_t idl = 0;
    publish_line3(nt, id, &idl, sha);
    /* js: PublicKey protobuf (36 bytes) || seqno */
    uint8_t pb[36];
    weft_pubkey_pb_encode(nt->nd[0].ident.pk, pb);
    cr_assert_eq(idl, 36 + 8);
    cr_assert_arr_eq(id, pb, 36);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | id[36 + i];
    cr_assert_eq(nt->nd[2].dv[0].seqno, seq);
    net_free(nt);
}

/* One router (0) and one attacker (1) that never subscribes. */
static net *
one_and_attacker(const weft_ps_config *c, int na)
{
    net *nt = net_new(c, 1, na);
    cr_assert_eq(weft_ps_subscribe(nt->nd[0].ps, TOPIC), 0);
    for (int a = 1; a <= na; a++)
        net_connect(nt, 0, a);
    return nt;
}

Test(gossip, bad_signature_and_key)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    c.score.graylist_threshold = -1e12; /* count every drop; graylisting is tested apart */
    net *nt = one_and_attacker(&c, 1);
    const node *A = &nt->nd[1];
    uint8_t data[64];
    fill(data, sizeof data, 2);
    uint8_t id[128];

    /* A byte of the signature flipped. */
    gmsg g;
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 1, NULL);
    g.sig[17] ^= 0x40;
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_bad_signature, 1);
    cr_assert_eq(s.delivered, 0);
    cr_assert_eq(nt->nd[0].ndv, 0);
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_REJECT_MESSAGE], 1);
    cr_assert(rejected_for(nt, 0, "signature"), "reason: %s", nt->nd[0].reasons[0]);
    cr_assert_lt(score_of(nt, 0, 1), 0);

    /* The same message correctly signed, js style (key present): accepted,
     * so the forgery did not poison its id. */
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 1, &A->ident);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    size_t idl = spec_id(&g, id);
    cr_assert_eq(nt->nd[0].ndv, 1);
    cr_assert_eq(has_delivery(&nt->nd[0], id, idl), 1);
    cr_assert(weft_peer_id_equal(&nt->nd[0].dv[0].from, &A->id));
    cr_assert_eq(nt->nd[0].dv[0].received_from, 1);

    /* Go style (no key) is accepted too. */
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 2, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    cr_assert_eq(nt->nd[0].ndv, 2);

    /* A key that is not the one of `from`: rejected, whoever signed. */
    weft_identity other;
    uint8_t seed[32] = {9, 9, 9};
    weft_identity_from_seed(&other, seed);
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 3, &other);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    gmsg_make(&g, &other, &A->id, TOPIC, data, sizeof data, 4, &other);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    s = stats(nt, 0);
    cr_assert_eq(s.drop_bad_signature, 3);
    cr_assert_eq(s.delivered, 2);
    cr_assert_eq(nt->nd[0].ndv, 2);
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_REJECT_MESSAGE], 3);
    cr_assert(rejected_for(nt, 0, "key does not match from"));

    /* A message signed by someone else under A's id, no key: rejected. */
    gmsg_make(&g, &other, &A->id, TOPIC, data, sizeof data, 5, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    cr_assert_eq(stats(nt, 0).drop_bad_signature, 4);
    cr_assert_eq(nt->nd[0].ndv, 2);
    cr_assert_lt(score_of(nt, 0, 1), 0);
    net_free(nt);
}

/* Three forged messages put the attacker past graylist_threshold (P7:
 * -10 * 3^2 = -90 < -80); from then on its RPCs are to be ignored. */
static void
graylist_run(int score_enabled)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    c.score.enabled = score_enabled;
    net *nt = one_and_attacker(&c, 1);
    const node *A = &nt->nd[1];
    uint8_t data[32] = {1};
    gmsg g;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, seq, NULL);
        g.sig[0] ^= 1;
        cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    }
    cr_assert_eq(stats(nt, 0).drop_bad_signature, 3);
    cr_assert_lt(score_of(nt, 0, 1), c.score.graylist_threshold);
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 4, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_expect_eq(s.drop_graylisted, 1,
                 "a peer at score %.1f (graylist %.1f) was not graylisted "
                 "(score.enabled = %d)",
                 score_of(nt, 0, 1), c.score.graylist_threshold, score_enabled);
    cr_expect_eq(nt->nd[0].ndv, 0, "a graylisted peer's message was delivered");
    net_free(nt);
}

Test(gossip, graylist)
{
    graylist_run(1);
}

/* With scoring off, P4 and P7 still count: abuse past the graylist
 * threshold gets a peer ignored all the same. */
Test(gossip, graylist_without_scoring)
{
    graylist_run(0);
}

Test(gossip, unknown_topic_too_big_malformed)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    c.max_msg_size = 1024;
    net *nt = one_and_attacker(&c, 1);
    const node *A = &nt->nd[1];
    static uint8_t data[2000];
    fill(data, sizeof data, 3);

    /* A topic the node does not subscribe. */
    gmsg g;
    gmsg_make(&g, &A->ident, &A->id, "not-" TOPIC, data, 100, 1, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_unknown_topic, 1);
    cr_assert(rejected_for(nt, 0, "unsubscribed"));

    /* Larger than max_msg_size. */
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, 2, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    s = stats(nt, 0);
    cr_assert_eq(s.drop_too_big, 1);
    cr_assert(rejected_for(nt, 0, "too large"));
    /* ... while a message of exactly max_msg_size passes. */
    gmsg_make(&g, &A->ident, &A->id, TOPIC, data, 1024, 3, NULL);
    cr_assert_eq(gmsg_send(nt, 1, 0, &g), 0);
    cr_assert_eq(nt->nd[0].ndv, 1);

    /* Malformed: a length past the end of the frame. */
    static const uint8_t bad[] = {0x0a, 0x10, 0x08, 0x01};
    unsigned drops = nt->nd[0].ntrace[WEFT_TRACE_DROP_RPC];
    cr_assert_eq(att_send(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, bad, sizeof bad), WEFT_EPROTO);
    s = stats(nt, 0);
    cr_assert_eq(s.rpc_malformed, 1);
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_DROP_RPC], drops + 1);

    /* A frame longer than max_rpc_size (default: max_msg_size + 64 KiB + WEFT_MAX_K). */
    size_t max_rpc = c.max_msg_size + (64u << 10) + WEFT_MAX_K;
    uint8_t *big = calloc(1, max_rpc + 1);
    cr_assert_not_null(big);
    cr_assert_eq(att_send(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, big, max_rpc + 1), WEFT_ETOOBIG);
    free(big);
    s = stats(nt, 0);
    cr_assert_eq(s.rpc_too_big, 1);
    cr_assert_eq(s.rpc_malformed, 1);
    cr_assert_eq(s.delivered, 1);
    cr_assert_lt(score_of(nt, 0, 1), 0);
    net_free(nt);
}

Test(gossip, graft_during_backoff)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    net *nt = one_and_attacker(&c, 1);
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);

    /* The attacker subscribes and GRAFTs: accepted into the mesh. */
    cr_assert_eq(weft_rpc_put_sub(&w, 1, bstr(TOPIC)), 0);
    cr_assert_eq(weft_rpc_put_graft(&w, bstr(TOPIC)), 0);
    cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    cr_assert(in_mesh(nt, 0, 1, TOPIC));
    cr_assert_eq(stats(nt, 0).graft_in, 1);

    /* Leave and join again: the attacker is PRUNEd with the unsubscribe
     * backoff and, being in backoff, not grafted back. */
    inbox_clear(nt, 1);
    cr_assert_eq(weft_ps_unsubscribe(nt->nd[0].ps, TOPIC), 0);
    pump(nt);
    tally t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_assert_eq(t.prunes, 1);
    cr_assert_eq(t.prune_backoff, c.unsub_backoff_ns / SEC);
    cr_assert(!in_mesh(nt, 0, 1, TOPIC));
    cr_assert_eq(weft_ps_subscribe(nt->nd[0].ps, TOPIC), 0);
    pump(nt);
    cr_assert(!in_mesh(nt, 0, 1, TOPIC));
    net_heartbeats(nt, 2);
    cr_assert(!in_mesh(nt, 0, 1, TOPIC));
    t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_assert_eq(t.grafts, 0, "the node grafted a peer in backoff");
    weft_ps_stats s0 = stats(nt, 0);
    cr_assert_eq(s0.graft_backoff_violations, 0);
    double sc0 = score_of(nt, 0, 1);

    /* GRAFT within the backoff: refused, counted, PRUNEd, penalised. */
    inbox_clear(nt, 1);
    cr_assert_eq(weft_rpc_put_graft(&w, bstr(TOPIC)), 0);
    cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.graft_backoff_violations, 1);
    cr_assert(!in_mesh(nt, 0, 1, TOPIC));
    t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_assert_eq(t.prunes, 1, "no PRUNE answered the GRAFT");
    cr_assert_eq(t.prune_backoff, c.prune_backoff_ns / SEC);
    double sc1 = score_of(nt, 0, 1);
    cr_assert_lt(sc1, 0);
    cr_assert_lt(sc1, sc0);

    /* Right again, now just after our PRUNE: a graft flood, penalised more. */
    cr_assert_eq(weft_rpc_put_graft(&w, bstr(TOPIC)), 0);
    cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    cr_assert_eq(stats(nt, 0).graft_backoff_violations, 2);
    double sc2 = score_of(nt, 0, 1);
    cr_assert_lt(sc2 - sc1, sc1 - sc0, "flood penalty %f not above %f", sc1 - sc2, sc0 - sc1);

    /* The backoff was extended to prune_backoff: past the 10 s of the
     * unsubscribe backoff a GRAFT is still a violation. */
    net_run(nt, c.unsub_backoff_ns + 2 * c.heartbeat_ns);
    cr_assert_eq(weft_rpc_put_graft(&w, bstr(TOPIC)), 0);
    cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    cr_assert_eq(stats(nt, 0).graft_backoff_violations, 3);
    cr_assert(!in_mesh(nt, 0, 1, TOPIC));
    weft_rpc_writer_free(&w);
    net_free(nt);
}

Test(gossip, iwant_flood)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    net *nt = one_and_attacker(&c, 1);
    uint8_t data[100], id[64];
    size_t idl;
    fill(data, sizeof data, 5);
    cr_assert_eq(weft_ps_publish(nt->nd[0].ps, TOPIC, data, sizeof data, id, &idl), 0);
    pump(nt);
    inbox_clear(nt, 1);

    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    weft_bytes b = {id, idl};
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(weft_rpc_put_iwant(&w, &b, 1), 0);
        cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    }
    unsigned frames;
    tally t = inbox_tally(nt, 1, id, idl, &frames);
    cr_assert_eq(t.msgs_match, c.max_iwant_per_id, "served %u times", t.msgs_match);
    cr_assert_eq(frames, c.max_iwant_per_id);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.iwant_in, 10);
    cr_assert_eq(s.iwant_served, c.max_iwant_per_id);
    cr_assert_eq(s.iwant_ignored, 10 - c.max_iwant_per_id);
    cr_assert_lt(score_of(nt, 0, 1), 0);

    /* An id not held is ignored as well. */
    uint8_t unknown[40] = {1, 2, 3};
    b = (weft_bytes){unknown, sizeof unknown};
    cr_assert_eq(weft_rpc_put_iwant(&w, &b, 1), 0);
    cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    cr_assert_eq(stats(nt, 0).iwant_ignored, 11 - c.max_iwant_per_id);
    cr_assert_eq(nt->nd[1].inbox.n, frames);
    weft_rpc_writer_free(&w);
    net_free(nt);
}

/* n IHAVE RPCs of per ids each, ids numbered from *next. */
static void
ihave_burst(net *nt, unsigned n, unsigned per, unsigned *next)
{
    weft_rpc_writer w;
    weft_rpc_writer_init(&w, 0);
    uint8_t ids[64][32];
    weft_bytes b[64];
    cr_assert_leq(per, 64);
    for (unsigned r = 0; r < n; r++) {
        for (unsigned i = 0; i < per; i++) {
            memset(ids[i], 0xab, 32);
            unsigned v = (*next)++;
            memcpy(ids[i], &v, sizeof v);
            b[i] = (weft_bytes){ids[i], 32};
        }
        cr_assert_eq(weft_rpc_put_ihave(&w, bstr(TOPIC), b, per), 0);
        cr_assert_eq(att_send_w(nt, 1, 0, WEFT_PS_PROTO_MESHSUB, &w), 0);
    }
    weft_rpc_writer_free(&w);
}

Test(gossip, ihave_flood)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    c.max_ihave_len = 50;
    net *nt = one_and_attacker(&c, 1);
    inbox_clear(nt, 1);
    unsigned next = 0;

    /* 100 IHAVEs of 10 unknown ids, within one heartbeat: 50 ids asked for. */
    ihave_burst(nt, 100, 10, &next);
    tally t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_assert_eq(t.iwant_ids, c.max_ihave_len, "asked for %u ids", t.iwant_ids);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.ihave_in, 1000);
    cr_assert_eq(s.iwant_ignored, 1000 - c.max_ihave_len);

    /* Next heartbeat: a fresh allowance, still bounded. */
    net_heartbeats(nt, 1);
    inbox_clear(nt, 1);
    ihave_burst(nt, 100, 10, &next);
    t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_assert_eq(t.iwant_ids, c.max_ihave_len);

    /* The promises are broken: after iwant_followup the attacker pays. */
    cr_assert_geq(score_of(nt, 0, 1), 0);
    net_run(nt, c.iwant_followup_ns + 2 * c.heartbeat_ns);
    cr_assert_lt(score_of(nt, 0, 1), 0);
    net_free(nt);
}

/* max_ihave_msgs (GossipSub v1.1 MaxIHaveMessages) bounds the RPCs carrying
 * IHAVE that one peer gets acted on per heartbeat: 100 IHAVE RPCs of one
 * fresh id each get at most 10 ids asked for. */
Test(gossip, ihave_msgs_enforced)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    net *nt = one_and_attacker(&c, 1);
    inbox_clear(nt, 1);
    unsigned next = 0;
    ihave_burst(nt, 100, 1, &next);
    tally t = inbox_tally(nt, 1, NULL, 0, NULL);
    cr_expect_leq(t.iwant_ids, c.max_ihave_msgs,
                  "%u IHAVE messages in one heartbeat were acted on "
                  "(max_ihave_msgs = %u)",
                  t.iwant_ids, c.max_ihave_msgs);
    net_free(nt);
}

Test(gossip, mcache_memory_bound)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    const size_t cap = 1u << 20, slack = 64u << 10;
    c.mcache_max_bytes = cap;
    net *nt = net_new(&c, 2, 1);
    subscribe_all(nt, TOPIC);
    net_connect(nt, 0, 1);
    net_connect(nt, 0, 2);
    net_heartbeats(nt, 2);
    cr_assert(in_mesh(nt, 0, 1, TOPIC));
    const node *A = &nt->nd[2];

    static uint8_t data[4096];
    enum { FLOOD = 2000 };
    for (unsigned i = 0; i < FLOOD; i++) {
        fill(data, sizeof data, 1000 + i);
        gmsg g;
        gmsg_make(&g, &A->ident, &A->id, TOPIC, data, sizeof data, i + 1, NULL);
        cr_assert_eq(gmsg_send(nt, 2, 0, &g), 0);
        for (int k = 0; k < 2; k++)
            cr_assert_leq(weft_ps_memory(nt->nd[k].ps), cap + slack, "node %d at %u: %zu", k, i,
                          weft_ps_memory(nt->nd[k].ps));
        inbox_clear(nt, 2);
    }
    for (int k = 0; k < 2; k++) {
        weft_ps_stats s = stats(nt, k);
        cr_assert_eq(nt->nd[k].ndv, FLOOD, "node %d delivered %zu", k, nt->nd[k].ndv);
        cr_assert_eq(s.delivered, FLOOD);
        cr_assert_gt(s.mcache_full, 0);
        cr_assert_gt(weft_ps_memory(nt->nd[k].ps), cap / 2);
    }
    /* Messages not cached were still forwarded: node 1 got all of them. */
    cr_assert_eq(stats(nt, 1).msgs_in, FLOOD);

    net_heartbeats(nt, c.mcache_len + 1);
    for (int k = 0; k < 2; k++)
        cr_assert_leq(weft_ps_memory(nt->nd[k].ps), 4096, "node %d holds %zu", k,
                      weft_ps_memory(nt->nd[k].ps));
    net_free(nt);
}

Test(rlnc, ring_delivery)
{
    weft_ps_config c = rlnc_config();
    net *nt = ring4(&c);
    enum { LEN = 100 << 10 };
    uint8_t *data = malloc(LEN);
    cr_assert_not_null(data);
    fill(data, LEN, 8);
    uint8_t id[64], sha[32];
    size_t idl = 0;
    crypto_hash_sha256(sha, data, LEN);
    cr_assert_eq(weft_ps_publish(nt->nd[0].ps, TOPIC, data, LEN, id, &idl), 0);
    cr_assert_eq(idl, 32);
    pump(nt);
    cr_assert_eq(nt->nd[1].ndv, 1);
    uint8_t want[32];
    cr_assert_eq(weft_rlnc_msg_id((weft_bytes){nt->nd[0].id.bytes, nt->nd[0].id.len},
                                  nt->nd[1].dv[0].seqno, bstr(TOPIC), sha, want),
                 0);
    cr_assert_arr_eq(id, want, 32, "RLNC message id is not the one of docs/spec/message-ids.md");

    uint64_t unnecessary = 0, unnecessary_traced = 0;
    for (int i = 0; i < 4; i++) {
        const node *d = &nt->nd[i];
        weft_ps_stats s = stats(nt, i);
        unnecessary += s.shards_unnecessary;
        unnecessary_traced += d->ntrace[WEFT_TRACE_UNNECESSARY_SHARD];
        cr_assert_eq(s.shards_invalid + s.gens_polluted + s.shards_beyond_k, 0, "node %d", i);
        if (i == 0) {
            cr_assert_eq(d->ndv, 0);
            cr_assert_gt(s.shards_sent, 0);
            continue;
        }
        cr_assert_eq(d->ndv, 1, "node %d: %zu deliveries", i, d->ndv);
        cr_assert_eq(d->dv[0].len, LEN);
        cr_assert_arr_eq(d->dv[0].sha, sha, 32, "node %d got other bytes", i);
        cr_assert_eq(d->dv[0].id_len, 32);
        cr_assert_arr_eq(d->dv[0].id, id, 32);
        cr_assert(d->dv[0].has_from && weft_peer_id_equal(&d->dv[0].from, &nt->nd[0].id));
        cr_assert_eq(s.gens_decoded, 1);
        cr_assert_geq(s.shards_new, c.rlnc_k);
        cr_assert_eq(d->ntrace[WEFT_TRACE_NEW_SHARD], s.shards_new);
        cr_assert_eq(d->ntrace[WEFT_TRACE_DELIVER_MESSAGE], 1);
    }
    cr_assert_gt(unnecessary, 0, "no late shard was counted as unnecessary");
    cr_assert_eq(unnecessary_traced, unnecessary);

    /* Later ticks bring no second delivery, and memory is released. */
    net_heartbeats(nt, c.mcache_len + 2);
    for (int i = 1; i < 4; i++)
        cr_assert_eq(nt->nd[i].ndv, 1);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(weft_ps_memory(nt->nd[i].ps), 0, "node %d holds %zu", i,
                     weft_ps_memory(nt->nd[i].ps));
    free(data);
    net_free(nt);
}

Test(rlnc, more_than_k_shards)
{
    weft_ps_config c = rlnc_config();
    net *nt = one_and_attacker(&c, 1);
    uint8_t msg[4096];
    fill(msg, sizeof msg, 9);
    rmsg r;
    rmsg_init(&r, &nt->nd[1].ident, TOPIC, msg, msg, sizeof msg, 16, 1);
    rmsg_next(&r);
    /* The same shard 3k times: one innovative, 2k - 1 duplicates (2k are
     * processed per peer and generation), then k past that, which an
     * honest relay may send while our Complete is in flight: dropped, not
     * charged. */
    for (unsigned i = 0; i < 3 * r.gen.k; i++)
        cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.shards_beyond_k, r.gen.k);
    cr_assert_geq(score_of(nt, 0, 1), 0, "overshoot by k is tolerated");
    /* Four more: past the tolerance, the peer is charged. */
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    s = stats(nt, 0);
    cr_assert_eq(s.gens_started, 1);
    cr_assert_eq(s.shards_new, 1);
    cr_assert_eq(s.shards_duplicate, 2 * r.gen.k - 1);
    cr_assert_eq(s.shards_beyond_k, r.gen.k + 4);
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_DUPLICATE_SHARD], 2 * r.gen.k - 1);
    cr_assert_geq(nt->nd[0].ntrace[WEFT_TRACE_REJECT_MESSAGE], 4);
    cr_assert(rejected_for(nt, 0, "than k"), "reason: %s", nt->nd[0].reasons[0]);
    cr_assert_eq(nt->nd[0].ndv, 0);
    cr_assert_lt(score_of(nt, 0, 1), 0);
    rmsg_free(&r);
    net_free(nt);
}

Test(rlnc, bad_publisher_signature)
{
    weft_ps_config c = rlnc_config();
    net *nt = one_and_attacker(&c, 1);
    uint8_t msg[2048];
    fill(msg, sizeof msg, 10);
    rmsg r;
    rmsg_init(&r, &nt->nd[1].ident, TOPIC, msg, msg, sizeof msg, 8, 1);
    rmsg_next(&r);
    uint8_t good[64];
    memcpy(good, r.sig, 64);
    r.sig[5] ^= 1;
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_bad_signature, 1);
    cr_assert_eq(s.gens_started, 0);
    cr_assert_eq(s.shards_new, 0);
    cr_assert_eq(weft_ps_memory(nt->nd[0].ps), 0);
    cr_assert(rejected_for(nt, 0, "signature"));
    cr_assert_lt(score_of(nt, 0, 1), 0);

    /* A signature by another key over the right bytes: refused as well. */
    weft_identity other;
    uint8_t seed[32] = {4, 2};
    weft_identity_from_seed(&other, seed);
    rmsg r2;
    rmsg_init(&r2, &other, TOPIC, msg, msg, sizeof msg, 8, 1);
    memcpy(r.sig, r2.sig, 64);
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).drop_bad_signature, 2);
    cr_assert_eq(stats(nt, 0).gens_started, 0);

    rmsg_free(&r2);

    /* The genuine signature starts the generation: the id was not burnt. */
    memcpy(r.sig, good, 64);
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).gens_started, 1);
    cr_assert_eq(stats(nt, 0).shards_new, 1);
    rmsg_free(&r);
    net_free(nt);
}

Test(rlnc, polluted_generation)
{
    weft_ps_config c = rlnc_config();
    net *nt = one_and_attacker(&c, 1);
    uint8_t m[3000], m2[3000];
    fill(m, sizeof m, 11);
    fill(m2, sizeof m2, 12);
    rmsg r;
    /* Signed for M, coded from M' of the same length. */
    rmsg_init(&r, &nt->nd[1].ident, TOPIC, m, m2, sizeof m, 16, 1);
    for (unsigned i = 0; i < r.gen.k; i++) {
        rmsg_next(&r);
        cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    }
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.gens_started, 1);
    cr_assert_eq(s.shards_new, r.gen.k);
    cr_assert_eq(s.gens_polluted, 1);
    cr_assert_eq(s.gens_decoded, 0);
    cr_assert_eq(s.delivered, 0);
    cr_assert_eq(nt->nd[0].ndv, 0);
    cr_assert(rejected_for(nt, 0, "message id mismatch"), "reason: %s", nt->nd[0].reasons[0]);
    cr_assert_eq(weft_ps_memory(nt->nd[0].ps), 0);
    /* More shards of it change nothing. */
    rmsg_next(&r);
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    s = stats(nt, 0);
    cr_assert_eq(s.gens_polluted, 1);
    cr_assert_eq(nt->nd[0].ndv, 0);
    rmsg_free(&r);
    net_free(nt);
}

Test(rlnc, partial_generation_flood)
{
    weft_ps_config c = rlnc_config();
    c.rlnc_max_partial = 8;
    c.rlnc_max_partial_per_peer = 4;
    c.rlnc_gen_ttl_ns = 2 * SEC;
    net *nt = one_and_attacker(&c, 3);
    enum { LEN = 1024, K = 16 };
    uint8_t msg[LEN];
    /* Decoder memory of one such generation, as the router charges it. */
    uint32_t piece = weft_piece_size_for(LEN, K);
    size_t per_gen = (size_t)K * K + (size_t)K * piece + (size_t)K * 16;
    size_t bound = c.rlnc_max_partial * per_gen;
    cr_assert_leq(bound, c.rlnc_max_mem);

    unsigned sent[4] = {0, 1000, 50, 50};
    uint64_t seq = 1;
    for (int a = 1; a <= 3; a++) {
        for (unsigned i = 0; i < sent[a]; i++, seq++) {
            fill(msg, LEN, seq);
            rmsg r;
            rmsg_init(&r, &nt->nd[a].ident, TOPIC, msg, msg, LEN, K, seq);
            rmsg_next(&r);
            cr_assert_eq(rmsg_send(nt, a, 0, &r), 0);
            rmsg_free(&r);
            /* The per-peer cap bounds attacker 1 alone; then the total cap. */
            size_t mem = weft_ps_memory(nt->nd[0].ps);
            size_t lim = a == 1 ? c.rlnc_max_partial_per_peer * per_gen : bound;
            cr_assert_leq(mem, lim, "%zu bytes after %u generations", mem, i);
            cr_assert_leq(mem, c.rlnc_max_mem);
        }
        weft_ps_stats s = stats(nt, 0);
        /* Attacker 1 and 2 get 4 each, then the total of 8 is reached. */
        unsigned want = a == 1 ? 4 : 8;
        cr_assert_eq(s.gens_started, want, "after attacker %d: %" PRIu64, a, s.gens_started);
    }
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.shards_over_limit, 1100 - 8);
    cr_assert_eq(s.shards_new, 8);
    cr_assert_eq(weft_ps_memory(nt->nd[0].ps), 8 * per_gen);
    /* Being at the cap is not the attackers' fault: no invalid charge for it. */
    cr_assert_eq(s.drop_bad_signature + s.shards_invalid, 0);

    /* Stalled generations ask for more, then expire after rlnc_gen_ttl. */
    net_run(nt, c.rlnc_gen_ttl_ns + 2 * c.tick_ns);
    s = stats(nt, 0);
    cr_assert_eq(s.gens_expired, 8);
    cr_assert_gt(s.wants_sent, 0);
    cr_assert_eq(weft_ps_memory(nt->nd[0].ps), 0);
    cr_assert_eq(nt->nd[0].ndv, 0);

    /* Room again: attacker 3 can start as many as the per-peer cap. */
    for (unsigned i = 0; i < 6; i++, seq++) {
        fill(msg, LEN, seq);
        rmsg r;
        rmsg_init(&r, &nt->nd[3].ident, TOPIC, msg, msg, LEN, K, seq);
        rmsg_next(&r);
        cr_assert_eq(rmsg_send(nt, 3, 0, &r), 0);
        rmsg_free(&r);
    }
    cr_assert_eq(stats(nt, 0).gens_started, 12);
    net_free(nt);
}

Test(rlnc, unknown_topic_and_malformed_shard)
{
    weft_ps_config c = rlnc_config();
    c.score.graylist_threshold = -1e12; /* count every drop; graylisting is tested apart */
    net *nt = one_and_attacker(&c, 1);
    uint8_t msg[2000];
    fill(msg, sizeof msg, 13);

    /* A topic the node does not subscribe. */
    rmsg r;
    rmsg_init(&r, &nt->nd[1].ident, "not-" TOPIC, msg, msg, sizeof msg, 8, 1);
    rmsg_next(&r);
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_unknown_topic, 1);
    cr_assert_eq(s.gens_started, 0);
    cr_assert(rejected_for(nt, 0, "unsubscribed"));
    rmsg_free(&r);

    /* A codec shard cut short by one byte. */
    rmsg_init(&r, &nt->nd[1].ident, TOPIC, msg, msg, sizeof msg, 8, 2);
    rmsg_next(&r);
    cr_assert_eq(rmsg_send_data(nt, 1, 0, &r, r.shard, r.shard_len - 1), 0);
    s = stats(nt, 0);
    cr_assert_eq(s.shards_invalid, 1);
    cr_assert_eq(s.gens_started, 0);
    cr_assert(rejected_for(nt, 0, "malformed shard"));
    /* Just the header. */
    cr_assert_eq(rmsg_send_data(nt, 1, 0, &r, r.shard, WEFT_SHARD_HDR), 0);
    cr_assert_eq(stats(nt, 0).shards_invalid, 2);

    /* Once started, a shard whose header disagrees with the generation. */
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).gens_started, 1);
    rmsg r2;
    uint8_t other[2000 + 64];
    fill(other, sizeof other, 14);
    rmsg_init(&r2, &nt->nd[1].ident, TOPIC, other, other, sizeof other, 8, 3);
    rmsg_next(&r2);
    cr_assert_eq(rmsg_send_data(nt, 1, 0, &r, r2.shard, r2.shard_len), 0);
    cr_assert_eq(stats(nt, 0).shards_invalid, 3);
    cr_assert(rejected_for(nt, 0, "does not match"));
    rmsg_free(&r2);

    /* A malformed RLNC RPC. */
    static const uint8_t bad[] = {0x0a, 0x05, 0x0a};
    cr_assert_eq(att_send(nt, 1, 0, WEFT_PS_PROTO_RLNC, bad, sizeof bad), WEFT_EPROTO);
    s = stats(nt, 0);
    cr_assert_eq(s.rpc_malformed, 1);
    cr_assert_eq(s.gens_started, 1);
    cr_assert_eq(s.shards_new, 1);
    cr_assert_eq(nt->nd[0].ndv, 0);
    cr_assert_lt(score_of(nt, 0, 1), 0);
    rmsg_free(&r);
    net_free(nt);
}

/* ---- repair ------------------------------------------------------------------------- */

typedef struct loss {
    int active;
    unsigned pass_from3; /* shards from 3 to 2 still let through */
} loss;

static int
count_shards(void *u, const weft_rpc_shard *s)
{
    (*(unsigned *)u)++;
    return 0;
}

/* While active, node 2 loses every shard from node 1 and all but the first
 * few from node 3; control frames (complete, have, want) get through. */
static int
lose_at_2(net *nt, int from, int to, unsigned proto, const uint8_t *f, size_t len)
{
    loss *l = nt->drop_user;
    if (!l->active || to != 2 || proto != WEFT_PS_PROTO_RLNC)
        return 0;
    static const weft_rpc_visitor v = {.shard = count_shards};
    unsigned n = 0;
    cr_assert_eq(weft_rpc_parse_rlnc(f, len, &v, &n), 0);
    if (!n)
        return 0;
    if (from == 3 && l->pass_from3) {
        l->pass_from3--;
        return 0;
    }
    return 1;
}

/* Ring of 4, node 0 publishes, node 2 loses shards and stalls below rank
 * k; once the loss ends it must ask (want) and get the message. */
static void
repair_run(int publisher, unsigned pass_from3, int expect_delivery)
{
    weft_ps_config c = rlnc_config();
    net *nt = ring4(&c);
    loss l = {1, pass_from3};
    nt->drop = lose_at_2;
    nt->drop_user = &l;
    enum { LEN = 20000 };
    static uint8_t data[LEN];
    fill(data, LEN, 15);
    uint8_t id[64], sha[32];
    size_t idl;
    crypto_hash_sha256(sha, data, LEN);
    cr_assert_eq(weft_ps_publish(nt->nd[publisher].ps, TOPIC, data, LEN, id, &idl), 0);
    pump(nt);
    cr_assert_gt(nt->dropped, 0);
    for (int i = 0; i < 4; i++)
        if (i != publisher && i != 2)
            cr_assert_eq(nt->nd[i].ndv, 1, "node %d", i);
    cr_assert_eq(nt->nd[2].ndv, 0, "node 2 decoded despite the loss");
    weft_ps_stats s2 = stats(nt, 2);
    cr_assert_eq(s2.gens_started, 1, "node 2 got no shard at all");
    cr_assert_lt(s2.shards_new, c.rlnc_k);
    cr_assert_eq(s2.wants_sent, 0);

    /* The loss ends; within a few repair periods node 2 asks and decodes. */
    l.active = 0;
    net_run(nt, 8 * c.rlnc_repair_ns);
    s2 = stats(nt, 2);
    cr_assert_gt(s2.wants_sent, 0, "the stalled node never sent a want");
    weft_ps_stats w1 = stats(nt, 1), w3 = stats(nt, 3);
    cr_assert_gt(w1.wants_in + w3.wants_in, 0);
    if (expect_delivery) {
        cr_expect_eq(nt->nd[2].ndv, 1,
                     "node 2 not repaired (rank %" PRIu64 " of %u; wants sent %" PRIu64
                     ", answered %" PRIu64 ", ignored %" PRIu64 ")",
                     s2.shards_new, c.rlnc_k, s2.wants_sent, w1.iwant_served + w3.iwant_served,
                     w1.iwant_ignored + w3.iwant_ignored);
        if (nt->nd[2].ndv == 1) {
            cr_assert_arr_eq(nt->nd[2].dv[0].sha, sha, 32);
            cr_assert_arr_eq(nt->nd[2].dv[0].id, id, 32);
        }
    }
    net_free(nt);
}

/* Repair on lossy links: the relays next to node 2 each sent it k shards,
 * most lost on the way. Its want (id, rank) makes them send fresh
 * combinations for what it lacks, whatever they sent before, until it
 * decodes. (Losing only one direction does not stall node 2 in a ring: the
 * other relay alone brings it to rank k, hence the heavier loss here.) */
Test(rlnc, repair_after_loss)
{
    repair_run(0, 4, 1);
}
