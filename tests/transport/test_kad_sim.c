/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kademlia over the full stack (weft_host: Noise, yamux, identify) on the
 * simulated network: 50 nodes, 20 ms one-way links, each bootstrapped by
 * dialling one earlier node only. After the bootstrap self lookups and a
 * few random walks, every routing table holds the k closest peers it could
 * (converged: each node's table has its 20 closest nodes of the network),
 * FIND_NODE from every node for another node's id succeeds within a bounded
 * number of hops, and lookups of random ids return the true 20 closest
 * nodes. Hops and latency (virtual time) are printed.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/host.h"
#include "weft/kad.h"
#include "weft/loop.h"
#include "weft/rng.h"

#define N 50
#define SEC 1000000000LL
#define MS 1000000LL

typedef struct snode {
    weft_loop *loop;
    weft_host *h;
    weft_kad_host *kh;
    weft_peer_id id;
    weft_multiaddr addr;
} snode;

static snode nodes[N];
static weft_simnet *net;

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h;
    snode *n = user;
    if (n->kh)
        weft_kad_host_on_peer(n->kh, p, up);
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)h;
    snode *n = user;
    if (n->kh)
        weft_kad_host_on_identify(n->kh, p, id);
}

static void
boot_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p;
    *(int *)user = status < 0 ? status : 1;
}

typedef struct got {
    int done, status, found;
    unsigned hops, queries;
    int64_t elapsed;
    weft_kad_peer *closest;
    size_t nclosest;
} got;

static void
on_done(weft_kad *kad, const weft_kad_result *r, void *user)
{
    (void)kad;
    got *g = user;
    g->done = 1;
    g->status = r->status;
    g->found = r->found;
    g->hops = r->hops;
    g->queries = r->queries;
    g->elapsed = r->elapsed_ns;
    if (g->closest) {
        memcpy(g->closest, r->closest, r->nclosest * sizeof r->closest[0]);
        g->nclosest = r->nclosest;
    }
}

static void
run_for(int64_t ns)
{
    weft_simnet_run_until(net, weft_simnet_now(net) + ns);
}

static void
wait_done(const got *g, int64_t limit)
{
    int64_t end = weft_simnet_now(net) + limit;
    while (!g->done && weft_simnet_now(net) < end)
        run_for(10 * MS);
}

/* The k node indices closest to a kad id, by brute force. */
static void
true_closest(const uint8_t target[32], int exclude, int *out, size_t k)
{
    int idx[N];
    size_t m = 0;
    for (int i = 0; i < N; i++)
        if (i != exclude)
            idx[m++] = i;
    for (size_t a = 0; a < m; a++)
        for (size_t b = a + 1; b < m; b++) {
            uint8_t ka[32], kb[32];
            weft_kad_id(nodes[idx[a]].id.bytes, nodes[idx[a]].id.len, ka);
            weft_kad_id(nodes[idx[b]].id.bytes, nodes[idx[b]].id.len, kb);
            if (weft_kad_cmp_dist(target, kb, ka) < 0) {
                int t = idx[a];
                idx[a] = idx[b];
                idx[b] = t;
            }
        }
    for (size_t i = 0; i < k; i++)
        out[i] = idx[i];
}

Test(kad_sim, fifty_nodes_converge_and_find_each_other, .timeout = 600)
{
    weft_link_params lp = {.latency_ns = 20 * MS, .bandwidth_bps = 100000000};
    net = weft_simnet_new(7, &lp);
    cr_assert_not_null(net);
    weft_rng rng;
    weft_rng_seed(&rng, 99);
    for (int i = 0; i < N; i++) {
        snode *n = &nodes[i];
        uint32_t ip = 0x0A000001u + (uint32_t)i;
        n->loop = weft_simnet_add_node(net, ip);
        weft_host_config hc;
        weft_host_config_default(&hc);
        uint8_t seed[32];
        weft_rng_bytes(&rng, seed, sizeof seed);
        weft_identity_from_seed(&hc.identity, seed);
        hc.on_peer = on_peer;
        hc.on_identify = on_identify;
        hc.user = n;
        int err = 0;
        n->h = weft_host_new(n->loop, &hc, &err);
        cr_assert_not_null(n->h, "host %d: %s", i, weft_strerror(err));
        n->id = *weft_host_peer_id(n->h);
        char text[64];
        snprintf(text, sizeof text, "/ip4/10.0.0.%d/tcp/4001", i + 1);
        weft_multiaddr ma;
        cr_assert_eq(weft_ma_parse(text, &ma), 0);
        cr_assert_eq(weft_host_listen(n->h, &ma, &n->addr), 0);
        weft_kad_config kc;
        weft_kad_config_default(&kc);
        kc.refresh_interval_ns = 20 * SEC;
        kc.seed = (uint64_t)i + 1;
        n->kh = weft_kad_host_new(n->h, &kc, 0, 0, &err);
        cr_assert_not_null(n->kh, "kad %d: %s", i, weft_strerror(err));
    }
    /* each node dials one earlier node, its only bootstrap peer */
    for (int i = 1; i < N; i++) {
        int j = (int)(weft_rng_next(&rng) % (uint64_t)i), st = 0;
        cr_assert_eq(weft_host_dial(nodes[i].h, &nodes[j].addr, boot_dialed, &st), 0);
        for (int s = 0; s < 500 && !st; s++)
            run_for(10 * MS);
        cr_assert_eq(st, 1, "node %d -> %d: %d", i, j, st);
    }
    /* bootstrap self lookups, then random walks every 20 s */
    run_for(90 * SEC);

    /* convergence: each table holds the node's 20 closest nodes */
    size_t min_table = N, missing = 0;
    for (int i = 0; i < N; i++) {
        weft_kad *kad = weft_kad_host_engine(nodes[i].kh);
        weft_kad_stats st;
        weft_kad_get_stats(kad, &st);
        if (st.table_size < min_table)
            min_table = st.table_size;
        uint8_t self[32];
        weft_kad_id(nodes[i].id.bytes, nodes[i].id.len, self);
        int want[WEFT_KAD_K];
        true_closest(self, i, want, WEFT_KAD_K);
        for (int k = 0; k < WEFT_KAD_K; k++)
            missing += !weft_kad_lookup_peer(kad, &nodes[want[k]].id);
    }
    cr_log_info("kad sim: smallest table %zu of %d; closest-20 entries missing %zu", min_table,
                N - 1, missing);
    fprintf(stderr, "kad sim: smallest table %zu of %d; closest-20 entries missing %zu\n",
            min_table, N - 1, missing);
    cr_assert_eq(missing, 0, "%zu of the 20-closest entries missing", missing);
    cr_assert_geq(min_table, WEFT_KAD_K);

    /* FIND_NODE of other nodes' ids from every node */
    unsigned max_hops = 0, sum_hops = 0, lookups = 0;
    int64_t max_lat = 0, sum_lat = 0;
    for (int i = 0; i < N; i++)
        for (int t = 0; t < 3; t++) {
            int target = (int)(weft_rng_next(&rng) % N);
            if (target == i)
                continue;
            weft_kad *kad = weft_kad_host_engine(nodes[i].kh);
            /* forget the target so that the lookup has to find it */
            weft_kad_remove_peer(kad, &nodes[target].id);
            got g = {0};
            cr_assert_eq(weft_kad_find_peer(kad, &nodes[target].id, weft_kad_host_now(nodes[i].kh),
                                            on_done, &g),
                         0);
            wait_done(&g, 70 * SEC);
            cr_assert(g.done && g.found, "node %d did not find node %d (status %d)", i, target,
                      g.status);
            cr_assert_leq(g.hops, 4, "node %d -> %d took %u hops", i, target, g.hops);
            max_hops = g.hops > max_hops ? g.hops : max_hops;
            sum_hops += g.hops;
            max_lat = g.elapsed > max_lat ? g.elapsed : max_lat;
            sum_lat += g.elapsed;
            lookups++;
        }
    fprintf(stderr,
            "kad sim: %u FIND_NODE lookups found their peer: hops mean %.2f max %u, latency "
            "mean %.0f ms max %.0f ms (20 ms links)\n",
            lookups, (double)sum_hops / lookups, max_hops, (double)sum_lat / lookups / 1e6,
            (double)max_lat / 1e6);

    /* lookups of random ids return the true 20 closest */
    weft_kad_peer *closest = calloc(WEFT_KAD_K, sizeof *closest);
    size_t exact = 0, tries = 20;
    int64_t lat = 0;
    for (size_t t = 0; t < tries; t++) {
        uint8_t key[34] = {0x12, 0x20};
        weft_rng_bytes(&rng, key + 2, 32);
        uint8_t kid[32];
        weft_kad_id(key, sizeof key, kid);
        int from = (int)(t % N), want[WEFT_KAD_K];
        true_closest(kid, -1, want, WEFT_KAD_K);
        got g = {.closest = closest};
        cr_assert_eq(weft_kad_find_closest(weft_kad_host_engine(nodes[from].kh), key, sizeof key,
                                           weft_kad_host_now(nodes[from].kh), on_done, &g),
                     0);
        wait_done(&g, 70 * SEC);
        cr_assert(g.done && g.status == 0);
        lat += g.elapsed;
        size_t hit = 0;
        for (int k = 0; k < WEFT_KAD_K; k++)
            for (size_t c = 0; c < g.nclosest; c++)
                hit += (size_t)weft_peer_id_equal(&closest[c].id, &nodes[want[k]].id);
        /* the asking node is not in its own answer */
        int self_in = 0;
        for (int k = 0; k < WEFT_KAD_K; k++)
            self_in |= want[k] == from;
        exact += hit + (size_t)self_in >= WEFT_KAD_K;
    }
    free(closest);
    fprintf(stderr,
            "kad sim: random-id lookups with the exact 20 closest: %zu of %zu, latency "
            "mean %.0f ms\n",
            exact, tries, (double)lat / (double)tries / 1e6);
    cr_assert_geq(exact, tries - 1);

    for (int i = 0; i < N; i++)
        weft_kad_host_stop(nodes[i].kh);
    for (int i = 0; i < N; i++) {
        weft_host_free(nodes[i].h);
        weft_kad_host_free(nodes[i].kh);
    }
    weft_simnet_free(net);
}
