/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mesh simulation (weft/ps_sim.h) end to end: 20 routers on a random
 * graph with 20-100 ms links and 1% loss deliver every message to every
 * node in both modes, for small and 64 KiB messages, and a run repeated
 * with the same seed gives the same delivery times to the nanosecond.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "weft/codec.h"
#include "weft/ps_sim.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define NODES 20
#define NMSG 5
#define TOPIC "sim-test"

struct run {
    weft_ps_sim *sim;
    int cur; /* message being waited for, -1 between publishes */
    uint8_t id[NMSG][64];
    size_t id_len[NMSG];
    size_t publisher[NMSG];
    int64_t sent_at[NMSG];
    int64_t at[NMSG][NODES]; /* delivery times, -1 = not delivered */
    unsigned got[NMSG];
    unsigned dup; /* a message delivered twice to one node */
    uint64_t bytes;
    weft_ps_sim_stats st[NODES];
};

static void
on_deliver(void *user, size_t node, const weft_ps_msg *m, int64_t now)
{
    struct run *r = user;
    cr_assert_lt(node, NODES);
    for (int i = 0; i < NMSG; i++) {
        if (r->id_len[i] != m->id.len || memcmp(r->id[i], m->id.p, m->id.len) != 0)
            continue;
        if (node == r->publisher[i])
            return;
        if (r->at[i][node] >= 0) {
            r->dup++;
            return;
        }
        r->at[i][node] = now;
        if (++r->got[i] == NODES - 1 && i == r->cur)
            weft_ps_sim_stop(r->sim);
        return;
    }
}

/* Build a 20-node network, warm it up, publish NMSG messages of msg_len
 * bytes one after the other, each waited for (at most 20 s). */
static void
run_net(struct run *r, int mode, size_t msg_len, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < NMSG; i++)
        for (int j = 0; j < NODES; j++)
            r->at[i][j] = -1;
    r->cur = -1;

    weft_ps_config cfg;
    weft_ps_config_default(&cfg, mode);
    weft_link_params lp = {.latency_ns = 20 * MS, .bandwidth_bps = 20000000, .loss = 0.01};
    weft_ps_sim_config sc = {.seed = seed, .link = lp, .on_deliver = on_deliver, .user = r};
    int err = 0;
    r->sim = weft_ps_sim_new(&sc, &cfg, NODES, &err);
    cr_assert_not_null(r->sim, "weft_ps_sim_new: %s", weft_strerror(err));
    cr_assert_eq(weft_ps_sim_size(r->sim), NODES);
    cr_assert_eq(weft_ps_sim_subscribe_all(r->sim, TOPIC), 0);
    long edges = weft_ps_sim_connect_random(r->sim, 8, &lp, 20 * MS, 100 * MS, seed + 1);
    cr_assert_geq(edges, NODES - 1);
    weft_ps_sim_run_until(r->sim, 5 * SEC);

    /* The meshes formed: every node has peers and mesh peers. */
    for (size_t i = 0; i < NODES; i++) {
        weft_ps_peer *mp[32];
        weft_ps_sim_stats st;
        weft_ps_sim_get_stats(r->sim, i, &st);
        cr_assert_gt(st.peers, 0, "node %zu has no peers", i);
        cr_assert_gt(weft_ps_mesh_peers(weft_ps_sim_router(r->sim, i), TOPIC, mp, 32), 0,
                     "node %zu has no mesh peers after the warm-up", i);
    }

    uint8_t *data = malloc(msg_len);
    cr_assert_not_null(data);
    weft_rng rng;
    weft_rng_seed(&rng, seed ^ 0x5eed);
    uint64_t b0 = weft_ps_sim_bytes_sent(r->sim);
    for (int m = 0; m < NMSG; m++) {
        weft_rng_bytes(&rng, data, msg_len);
        r->publisher[m] = (size_t)(weft_rng_next(&rng) % NODES);
        r->cur = m;
        r->sent_at[m] = weft_ps_sim_now(r->sim);
        cr_assert_eq(weft_ps_sim_publish(r->sim, r->publisher[m], TOPIC, data, msg_len, r->id[m],
                                         &r->id_len[m]),
                     0);
        cr_assert_gt(r->id_len[m], 0);
        int64_t deadline = r->sent_at[m] + 20 * SEC;
        while (r->got[m] < NODES - 1 && weft_ps_sim_now(r->sim) < deadline)
            weft_ps_sim_run_until(r->sim, deadline);
        r->cur = -1;
        weft_ps_sim_run_until(r->sim, weft_ps_sim_now(r->sim) + 500 * MS);
    }
    r->bytes = weft_ps_sim_bytes_sent(r->sim) - b0;
    for (size_t i = 0; i < NODES; i++)
        weft_ps_sim_get_stats(r->sim, i, &r->st[i]);
    free(data);
    weft_ps_sim_free(r->sim);
    r->sim = NULL;
}

static void
check_all_delivered(const struct run *r, const char *what)
{
    for (int m = 0; m < NMSG; m++) {
        for (size_t j = 0; j < NODES; j++) {
            if (j == r->publisher[m])
                continue;
            cr_expect_geq(r->at[m][j], r->sent_at[m], "%s: message %d never reached node %zu", what,
                          m, j);
        }
        cr_assert_eq(r->got[m], NODES - 1, "%s: message %d reached %u of %d nodes", what, m,
                     r->got[m], NODES - 1);
    }
    cr_assert_eq(r->dup, 0, "%s: %u duplicate deliveries", what, r->dup);
    for (size_t i = 0; i < NODES; i++) {
        cr_expect_eq(r->st[i].frames_bad, 0, "%s: node %zu saw bad framing", what, i);
        cr_expect_eq(r->st[i].dials_failed, 0, "%s: node %zu: failed dials", what, i);
        cr_expect_eq(r->st[i].frames_dropped, 0, "%s: node %zu dropped frames", what, i);
    }
    cr_assert_gt(r->bytes, 0);
}

static struct run run_a, run_b; /* large: keep them off the stack */

Test(mesh_sim, rlnc_delivers_64k, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_RLNC, 64 << 10, 11);
    check_all_delivered(&run_a, "rlnc 64 KiB");
}

Test(mesh_sim, rlnc_delivers_1k, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_RLNC, 1 << 10, 12);
    check_all_delivered(&run_a, "rlnc 1 KiB");
}

Test(mesh_sim, gossipsub_delivers_64k, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_GOSSIPSUB, 64 << 10, 13);
    check_all_delivered(&run_a, "gossipsub 64 KiB");
}

Test(mesh_sim, gossipsub_delivers_1k, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_GOSSIPSUB, 1 << 10, 14);
    check_all_delivered(&run_a, "gossipsub 1 KiB");
}

static void
check_same(const struct run *a, const struct run *b, const char *what)
{
    for (int m = 0; m < NMSG; m++) {
        cr_assert_eq(a->publisher[m], b->publisher[m]);
        cr_assert_eq(a->sent_at[m], b->sent_at[m], "%s: message %d published at other times", what,
                     m);
        cr_assert_eq(a->id_len[m], b->id_len[m]);
        cr_assert(memcmp(a->id[m], b->id[m], a->id_len[m]) == 0, "%s: message %d: other id", what,
                  m);
        for (size_t j = 0; j < NODES; j++)
            cr_assert_eq(a->at[m][j], b->at[m][j],
                         "%s: message %d reached node %zu at %lld ns, then at %lld ns", what, m, j,
                         (long long)a->at[m][j], (long long)b->at[m][j]);
    }
    cr_assert_eq(a->bytes, b->bytes, "%s: %llu bytes sent, then %llu", what,
                 (unsigned long long)a->bytes, (unsigned long long)b->bytes);
    for (size_t i = 0; i < NODES; i++) {
        cr_assert_eq(a->st[i].bytes_out, b->st[i].bytes_out);
        cr_assert_eq(a->st[i].frames_out, b->st[i].frames_out);
    }
}

Test(mesh_sim, rlnc_deterministic, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_RLNC, 64 << 10, 21);
    run_net(&run_b, WEFT_PS_RLNC, 64 << 10, 21);
    check_same(&run_a, &run_b, "rlnc");
}

Test(mesh_sim, gossipsub_deterministic, .timeout = 300)
{
    run_net(&run_a, WEFT_PS_GOSSIPSUB, 64 << 10, 22);
    run_net(&run_b, WEFT_PS_GOSSIPSUB, 64 << 10, 22);
    check_same(&run_a, &run_b, "gossipsub");
}

/* The hello and framing: two nodes, no loss, one tiny message each way. */
Test(mesh_sim, two_nodes)
{
    static struct run r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < NMSG; i++)
        for (int j = 0; j < NODES; j++)
            r.at[i][j] = -1;
    weft_ps_config cfg;
    weft_ps_config_default(&cfg, WEFT_PS_GOSSIPSUB);
    weft_ps_sim_config sc = {
        .seed = 3, .link = {.latency_ns = 10 * MS}, .on_deliver = on_deliver, .user = &r};
    int err = 0;
    r.sim = weft_ps_sim_new(&sc, &cfg, 2, &err);
    cr_assert_not_null(r.sim, "%s", weft_strerror(err));
    cr_assert_eq(weft_ps_sim_connect(r.sim, 0, 0, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_ps_sim_connect(r.sim, 0, 2, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_ps_sim_subscribe_all(r.sim, TOPIC), 0);
    cr_assert_eq(weft_ps_sim_connect(r.sim, 0, 1, NULL), 0);
    weft_ps_sim_run_until(r.sim, 3 * SEC);
    cr_assert_eq(weft_ps_sim_now(r.sim), 3 * SEC);
    for (size_t i = 0; i < 2; i++) {
        weft_ps_sim_stats st;
        weft_ps_sim_get_stats(r.sim, i, &st);
        cr_assert_eq(st.peers, 1);
        cr_assert_eq(st.frames_bad, 0);
        cr_assert_gt(st.frames_in, 0, "node %zu got no RPC (subscriptions, GRAFT)", i);
        cr_assert_not_null(weft_ps_find_peer(weft_ps_sim_router(r.sim, i),
                                             weft_ps_self(weft_ps_sim_router(r.sim, 1 - i))));
    }
    for (int m = 0; m < 2; m++) {
        r.publisher[m] = (size_t)m;
        r.cur = m;
        r.sent_at[m] = weft_ps_sim_now(r.sim);
        cr_assert_eq(
            weft_ps_sim_publish(r.sim, (size_t)m, TOPIC, "hello", 5, r.id[m], &r.id_len[m]), 0);
        weft_ps_sim_run_until(r.sim, r.sent_at[m] + SEC);
        cr_assert_eq(r.got[m], 1, "message %d not delivered", m);
        /* One-way latency, with the frame's transmission time negligible. */
        int64_t d = r.at[m][1 - m] - r.sent_at[m];
        cr_assert(d >= 10 * MS && d < 12 * MS, "delay %lld ns", (long long)d);
    }
    weft_ps_sim_free(r.sim);
}

/* Freeing with dials, hellos and a large message in flight leaks nothing
 * and calls nothing freed (run under ASan in CI). */
Test(mesh_sim, free_mid_flight)
{
    for (int mode = 0; mode < 2; mode++) {
        weft_ps_config cfg;
        weft_ps_config_default(&cfg, mode);
        weft_link_params lp = {.latency_ns = 30 * MS, .bandwidth_bps = 10000000, .loss = 0.05};
        weft_ps_sim_config sc = {.seed = 5, .link = lp};
        int err = 0;
        weft_ps_sim *s = weft_ps_sim_new(&sc, &cfg, 10, &err);
        cr_assert_not_null(s, "%s", weft_strerror(err));
        cr_assert_eq(weft_ps_sim_subscribe_all(s, TOPIC), 0);
        cr_assert_geq(weft_ps_sim_connect_random(s, 4, &lp, 10 * MS, 50 * MS, 6), 9);
        weft_ps_sim_run_until(s, 3 * SEC);
        static uint8_t big[256 << 10];
        cr_assert_eq(weft_ps_sim_publish(s, 0, TOPIC, big, sizeof big, NULL, NULL), 0);
        weft_ps_sim_run_until(s, 3 * SEC + 150 * MS);
        weft_ps_sim_stats st;
        weft_ps_sim_get_stats(s, 0, &st);
        cr_assert_gt(st.queued_now + st.frames_out, 0);
        cr_assert_eq(weft_ps_sim_connect(s, 1, 2, NULL), 0); /* a dial still in flight */
        weft_ps_sim_free(s);
    }
    weft_ps_sim_free(NULL);
}

/* A frame past queue_cap is dropped, counted on both sides of io.send, and
 * the connection goes on carrying what fits. */
Test(mesh_sim, queue_cap_drops)
{
    static struct run r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < NMSG; i++)
        for (int j = 0; j < NODES; j++)
            r.at[i][j] = -1;
    r.cur = -1;
    weft_ps_config cfg;
    weft_ps_config_default(&cfg, WEFT_PS_GOSSIPSUB);
    weft_ps_sim_config sc = {.seed = 4,
                             .link = {.latency_ns = 10 * MS, .bandwidth_bps = 1000000},
                             .queue_cap = 16 << 10,
                             .on_deliver = on_deliver,
                             .user = &r};
    int err = 0;
    r.sim = weft_ps_sim_new(&sc, &cfg, 2, &err);
    cr_assert_not_null(r.sim, "%s", weft_strerror(err));
    cr_assert_eq(weft_ps_sim_subscribe_all(r.sim, TOPIC), 0);
    cr_assert_eq(weft_ps_sim_connect(r.sim, 0, 1, NULL), 0);
    weft_ps_sim_run_until(r.sim, 3 * SEC);

    static uint8_t big[64 << 10];
    r.sent_at[0] = weft_ps_sim_now(r.sim);
    cr_assert_eq(weft_ps_sim_publish(r.sim, 0, TOPIC, big, sizeof big, r.id[0], &r.id_len[0]), 0);
    weft_ps_sim_stats st;
    weft_ps_sim_get_stats(r.sim, 0, &st);
    cr_assert_geq(st.frames_dropped, 1);
    cr_assert_geq(st.ps.rpc_send_failed, 1);
    cr_assert_leq(st.queued_max, 16 << 10);

    r.sent_at[1] = weft_ps_sim_now(r.sim);
    cr_assert_eq(weft_ps_sim_publish(r.sim, 0, TOPIC, "small", 5, r.id[1], &r.id_len[1]), 0);
    weft_ps_sim_run_until(r.sim, r.sent_at[1] + 2 * SEC);
    cr_assert_eq(r.got[1], 1, "the small message did not get through");
    weft_ps_sim_get_stats(r.sim, 1, &st);
    cr_assert_eq(st.frames_bad, 0);
    weft_ps_sim_free(r.sim);
}
