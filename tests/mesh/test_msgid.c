/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message ids (docs/spec/message-ids.md), driven through the in-process
 * router harness (router_net.h).
 *
 * weft_rlnc_msg_id against a vector computed apart (Python hashlib) and its
 * sensitivity to every input; in both modes the same bytes published twice
 * on one topic and once on a second topic are three messages, each
 * delivered once to every other node with its own id; the RLNC publisher's
 * seqnos never repeat. Forgeries: a relay that alters a first shard's
 * seqno or topic breaks the publisher's signature; a publisher whose id
 * was not made from the header it signs (another seqno, another topic) is
 * caught after decoding, counted and traced, and nothing is delivered.
 */
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

#include "router_net.h"

#define TOPIC2 "weft-test-2"

static void
from_hex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

Test(msgid, rlnc_id_vector_and_inputs)
{
    uint8_t from[38], sha[32], id[32], want[32], other[32];
    for (int i = 0; i < 38; i++)
        from[i] = (uint8_t)(i + 1);
    crypto_hash_sha256(sha, (const uint8_t *)"hello", 5);
    weft_bytes f = {from, sizeof from};
    cr_assert_eq(weft_rlnc_msg_id(f, 0x0102030405060708ULL, bstr(TOPIC), sha, id), 0);
    from_hex("f95c4b1296b970670244b97f4838c78908968c31c96a82f42c40e75ed1a55a03", want, 32);
    cr_assert_arr_eq(id, want, 32, "id differs from the vector of docs/spec/message-ids.md");

    /* Each input changes it: seqno, topic, publisher, message. */
    cr_assert_eq(weft_rlnc_msg_id(f, 0x0102030405060709ULL, bstr(TOPIC), sha, other), 0);
    cr_assert_arr_neq(id, other, 32, "seqno not in the id");
    cr_assert_eq(weft_rlnc_msg_id(f, 0x0102030405060708ULL, bstr(TOPIC2), sha, other), 0);
    cr_assert_arr_neq(id, other, 32, "topic not in the id");
    from[37] ^= 1;
    cr_assert_eq(weft_rlnc_msg_id(f, 0x0102030405060708ULL, bstr(TOPIC), sha, other), 0);
    cr_assert_arr_neq(id, other, 32, "publisher not in the id");
    from[37] ^= 1;
    sha[0] ^= 1;
    cr_assert_eq(weft_rlnc_msg_id(f, 0x0102030405060708ULL, bstr(TOPIC), sha, other), 0);
    cr_assert_arr_neq(id, other, 32, "message not in the id");
    sha[0] ^= 1;
    /* Length prefixes: moving a byte from the topic into the publisher
     * field must not give the same bytes to hash. */
    uint8_t f2[39];
    memcpy(f2, from, 38);
    f2[38] = 'w';
    cr_assert_eq(
        weft_rlnc_msg_id((weft_bytes){f2, 39}, 0x0102030405060708ULL, bstr(TOPIC + 1), sha, other),
        0);
    cr_assert_arr_neq(id, other, 32);
    /* Bad input. */
    cr_assert_eq(weft_rlnc_msg_id((weft_bytes){from, 0}, 1, bstr(TOPIC), sha, other), WEFT_EINVAL);
}

/* Node 0 publishes the same bytes twice on TOPIC and once on TOPIC2 (and a
 * second text on TOPIC); every other node gets each once, with the id the
 * publisher was given, and the ids all differ. */
static void
repeat_and_cross_topic(net *nt, int rlnc)
{
    enum { LEN = 3000 };
    static uint8_t same[LEN], diff[LEN];
    fill(same, LEN, 21);
    fill(diff, LEN, 22);
    struct {
        const char *topic;
        const uint8_t *data;
        uint8_t id[64];
        size_t idl;
    } pub[4] = {{TOPIC, same, {0}, 0},
                {TOPIC, same, {0}, 0},
                {TOPIC2, same, {0}, 0},
                {TOPIC, diff, {0}, 0}};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(
            weft_ps_publish(nt->nd[0].ps, pub[k].topic, pub[k].data, LEN, pub[k].id, &pub[k].idl),
            0, "publish %d refused", k);
        pump(nt);
    }
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            cr_assert(pub[a].idl != pub[b].idl || memcmp(pub[a].id, pub[b].id, pub[a].idl),
                      "publishes %d and %d got the same id", a, b);
    uint64_t seq[4] = {0};
    for (int i = 1; i < nt->n; i++) {
        const node *d = &nt->nd[i];
        cr_assert_eq(d->ndv, 4, "node %d: %zu deliveries, 4 published", i, d->ndv);
        for (int k = 0; k < 4; k++) {
            cr_assert_eq(has_delivery(d, pub[k].id, pub[k].idl), 1, "node %d, publish %d", i, k);
            for (size_t j = 0; j < d->ndv; j++)
                if (d->dv[j].id_len == pub[k].idl && !memcmp(d->dv[j].id, pub[k].id, pub[k].idl)) {
                    cr_assert_str_eq(d->dv[j].topic, pub[k].topic);
                    uint8_t sha[32];
                    crypto_hash_sha256(sha, pub[k].data, LEN);
                    cr_assert_arr_eq(d->dv[j].sha, sha, 32);
                    seq[k] = d->dv[j].seqno;
                    if (rlnc) {
                        uint8_t want[32];
                        cr_assert_eq(
                            weft_rlnc_msg_id((weft_bytes){nt->nd[0].id.bytes, nt->nd[0].id.len},
                                             d->dv[j].seqno, bstr(pub[k].topic), sha, want),
                            0);
                        cr_assert_arr_eq(d->dv[j].id, want, 32);
                    }
                }
        }
        weft_ps_stats s = stats(nt, i);
        cr_assert_eq(s.gens_polluted + s.drop_bad_signature + s.drop_bad_id, 0, "node %d", i);
    }
    for (int k = 1; k < 4; k++)
        cr_assert_gt(seq[k], seq[k - 1], "seqno %d not after %d", k, k - 1);
}

static net *
ring4_two_topics(const weft_ps_config *c)
{
    net *nt = net_new(c, 4, 0);
    subscribe_all(nt, TOPIC);
    subscribe_all(nt, TOPIC2);
    for (int i = 0; i < 4; i++)
        net_connect(nt, i, (i + 1) % 4);
    net_heartbeats(nt, 3);
    return nt;
}

Test(msgid, rlnc_repeat_and_cross_topic_delivered)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_RLNC);
    net *nt = ring4_two_topics(&c);
    repeat_and_cross_topic(nt, 1);
    net_free(nt);
}

Test(msgid, gossipsub_repeat_and_cross_topic_delivered)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_GOSSIPSUB);
    net *nt = ring4_two_topics(&c);
    repeat_and_cross_topic(nt, 0);
    net_free(nt);
}

/* All k shards of r to node 0 from attacker 1. */
static void
send_all(net *nt, rmsg *r)
{
    for (unsigned i = 0; i < r->gen.k; i++) {
        rmsg_next(r);
        cr_assert_eq(rmsg_send(nt, 1, 0, r), 0);
    }
}

static net *
target_two_topics(const weft_ps_config *c)
{
    net *nt = net_new(c, 1, 1);
    cr_assert_eq(weft_ps_subscribe(nt->nd[0].ps, TOPIC), 0);
    cr_assert_eq(weft_ps_subscribe(nt->nd[0].ps, TOPIC2), 0);
    net_connect(nt, 0, 1);
    return nt;
}

/* A relay re-labels an honest first shard: other seqno, other topic. */
Test(msgid, rlnc_relabelled_shard_fails_signature)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_RLNC);
    c.score.graylist_threshold = -1e12;
    net *nt = target_two_topics(&c);
    uint8_t msg[2500];
    fill(msg, sizeof msg, 23);
    rmsg r;
    rmsg_init(&r, &nt->nd[1].ident, TOPIC, msg, msg, sizeof msg, 8, 5);
    rmsg_next(&r);
    r.seqno = 6;
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).drop_bad_signature, 1);
    r.seqno = 5;
    r.topic = TOPIC2;
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_bad_signature, 2);
    cr_assert_eq(s.gens_started, 0);
    cr_assert(rejected_for(nt, 0, "invalid signature"));

    /* The honest header starts it; a later shard with another seqno under
     * the same id is refused as not of its generation. */
    r.topic = TOPIC;
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).gens_started, 1);
    rmsg_next(&r);
    r.seqno = 6;
    cr_assert_eq(rmsg_send(nt, 1, 0, &r), 0);
    cr_assert_eq(stats(nt, 0).shards_invalid, 1);
    cr_assert(rejected_for(nt, 0, "does not match its generation"));
    /* The rest, honest, decode and deliver it under its id. */
    r.seqno = 5;
    send_all(nt, &r);
    cr_assert_eq(nt->nd[0].ndv, 1);
    cr_assert_arr_eq(nt->nd[0].dv[0].id, r.id, 32);
    cr_assert_eq(nt->nd[0].dv[0].seqno, 5);
    rmsg_free(&r);
    net_free(nt);
}

/* A publisher signs a header whose id was made for another seqno or topic:
 * the signature holds, the shards decode, the recomputed id does not match. */
static void
forged_id(uint64_t seqno, uint64_t id_seqno, const char *topic, const char *id_topic)
{
    weft_ps_config c;
    weft_ps_config_default(&c, WEFT_PS_RLNC);
    c.score.graylist_threshold = -1e12;
    net *nt = target_two_topics(&c);
    uint8_t msg[2500];
    fill(msg, sizeof msg, 24);
    rmsg r;
    rmsg_init_as(&r, &nt->nd[1].ident, topic, id_topic, msg, msg, sizeof msg, 8, seqno, id_seqno);
    send_all(nt, &r);
    weft_ps_stats s = stats(nt, 0);
    cr_assert_eq(s.drop_bad_signature, 0);
    cr_assert_eq(s.gens_started, 1);
    cr_assert_eq(s.shards_new, r.gen.k);
    cr_assert_eq(s.gens_polluted, 1, "the forged id was not counted");
    cr_assert_eq(s.gens_decoded, 0);
    cr_assert_eq(nt->nd[0].ndv, 0, "a message under a forged id was delivered");
    cr_assert(rejected_for(nt, 0, "message id mismatch"));
    cr_assert_geq(nt->nd[0].ntrace[WEFT_TRACE_REJECT_MESSAGE], 1);
    cr_assert_eq(nt->nd[0].ntrace[WEFT_TRACE_DELIVER_MESSAGE], 0);
    rmsg_free(&r);

    /* The same bytes honestly published afterwards are delivered. */
    rmsg_init(&r, &nt->nd[1].ident, topic, msg, msg, sizeof msg, 8, seqno + 100);
    send_all(nt, &r);
    cr_assert_eq(nt->nd[0].ndv, 1);
    cr_assert_arr_eq(nt->nd[0].dv[0].id, r.id, 32);
    rmsg_free(&r);
    net_free(nt);
}

Test(msgid, rlnc_id_of_other_seqno_rejected_after_decode)
{
    forged_id(7, 8, TOPIC, TOPIC);
}

Test(msgid, rlnc_id_of_other_topic_rejected_after_decode)
{
    forged_id(7, 7, TOPIC, TOPIC2);
}
