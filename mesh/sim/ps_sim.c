/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A network of routers on the simulated network (see weft/ps_sim.h).
 *
 * Each node is a simulated loop, a listener, a router and a tick timer.
 * Each connection carries a small record (struct sconn) that reads the
 * hello and the frames and queues what the router sends.
 *
 * Output never goes to the connection's send queue in one piece: frames
 * wait in the record's own queue and are handed to the connection one
 * SEND_WINDOW at a time, when its queue is empty. The simulated link holds
 * a socket buffer's worth besides, so this costs no throughput, and it keeps
 * memory down in large runs: a connection's send queue keeps the capacity
 * it once grew to, and with thousands of connections that would otherwise
 * be a copy of every large message per connection, for good.
 * The overflow queue is given back once it drains, and so is the buffer of
 * a large inbound frame once the router has had it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "weft/codec.h"
#include "weft/pb.h"
#include "weft/ps_sim.h"

#include "ps_sim_internal.h"

static void conn_data(weft_conn *c, void *user, const uint8_t *data, size_t len);
static void conn_writable(weft_conn *c, void *user);
static void conn_closed(weft_conn *c, void *user, int reason);
static const weft_conn_handler sconn_handler = {
    .on_data = conn_data, .on_writable = conn_writable, .on_close = conn_closed};

/* ---- records ---------------------------------------------------------------------- */

static struct sconn *
sconn_new(struct snode *nd, int outbound)
{
    struct sconn *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->nd = nd;
    sc->outbound = outbound;
    sc->want = SIZE_MAX;
    weft_buf_init(&sc->body, NULL, 0, 0);
    weft_buf_init(&sc->outq, NULL, 0, 0);
    sc->next = nd->conns;
    if (nd->conns)
        nd->conns->prev = sc;
    nd->conns = sc;
    return sc;
}

static void
sconn_free(struct sconn *sc)
{
    struct snode *nd = sc->nd;
    ps_sim_host_forget(nd, sc);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        nd->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    weft_buf_free(&sc->body);
    weft_buf_free(&sc->outq);
    free(sc);
}

static size_t
sconn_queued(const struct sconn *sc)
{
    return (sc->c ? weft_conn_queued(sc->c) : 0) + sc->outq.len - sc->outq_head;
}

/* ---- output ------------------------------------------------------------------------- */

/* Hand queued bytes to the connection, keeping at most SEND_WINDOW there. */
void
ps_sim_pump(struct sconn *sc)
{
    weft_conn *c = sc->c;
    /* Only into an empty queue: then its buffer never grows past one window. */
    while (sc->outq_head < sc->outq.len && weft_conn_queued(c) == 0) {
        size_t n = sc->outq.len - sc->outq_head;
        if (n > SEND_WINDOW)
            n = SEND_WINDOW;
        if (!ps_sim_up_take(sc, n))
            return; /* the host's uplink is busy: called again in turn */
        if (weft_conn_send(c, sc->outq.base + sc->outq_head, n) < 0)
            return; /* closed (on_close follows) or refused (on_writable follows) */
        sc->outq_head += n;
    }
    if (sc->outq_head == sc->outq.len) {
        sc->outq_head = 0;
        if (sc->outq.cap > KEEP_BUF) {
            weft_buf_free(&sc->outq);
            weft_buf_init(&sc->outq, NULL, 0, 0);
        } else {
            weft_buf_reset(&sc->outq);
        }
        return;
    }
    if (sc->outq_head >= KEEP_BUF && sc->outq_head * 2 >= sc->outq.len) {
        weft_buf_consume(&sc->outq, sc->outq_head);
        sc->outq_head = 0;
    }
    (void)weft_conn_send_space(c, 1); /* on_writable once it drains */
}

/* Queue hdr || body. Returns 0 or WEFT_ELIMIT (nothing queued). */
static int
sconn_send(struct sconn *sc, const uint8_t *hdr, size_t hl, const uint8_t *body, size_t len)
{
    weft_ps_sim *s = sc->nd->s;
    size_t queued = sconn_queued(sc);
    if (queued + hl + len > s->cfg.queue_cap)
        return WEFT_ELIMIT;
    if (weft_buf_reserve(&sc->outq, hl + len) < 0)
        return -ENOMEM;
    WEFT_IGNORE(weft_buf_append(&sc->outq, hdr, hl));
    WEFT_IGNORE(weft_buf_append(&sc->outq, body, len));
    queued += hl + len;
    if (queued > sc->nd->st.queued_max)
        sc->nd->st.queued_max = queued;
    ps_sim_pump(sc);
    return 0;
}

static int
send_hello(struct sconn *sc)
{
    const weft_peer_id *self = weft_ps_self(sc->nd->ps);
    uint8_t hdr[WEFT_UVARINT_MAX];
    size_t hl = weft_uvarint_put(hdr, self->len);
    return sconn_send(sc, hdr, hl, self->bytes, self->len);
}

/* io.send */
static int
io_send(void *user, weft_ps_peer *peer, void *peer_user, unsigned proto, const uint8_t *frame,
        size_t len)
{
    struct snode *nd = user;
    struct sconn *sc = peer_user;
    (void)peer;
    if (!sc || !sc->c) {
        nd->st.frames_dropped++;
        return WEFT_ECLOSED;
    }
    uint8_t hdr[1 + WEFT_UVARINT_MAX];
    hdr[0] = (uint8_t)proto;
    size_t hl = 1 + weft_uvarint_put(hdr + 1, len);
    int rc = sconn_send(sc, hdr, hl, frame, len);
    if (rc < 0) {
        nd->st.frames_dropped++;
        return rc;
    }
    nd->st.frames_out++;
    return 0;
}

/* ---- input ------------------------------------------------------------------------- */

/* A whole hello or frame. Returns 0 or < 0 to close the connection. */
static int
dispatch(struct sconn *sc, const uint8_t *p, size_t len)
{
    struct snode *nd = sc->nd;
    if (!sc->hello_in) {
        weft_peer_id id;
        if (weft_peer_id_from_bytes(p, len, &id) < 0)
            return WEFT_EPROTO;
        sc->hello_in = 1;
        sc->peer = weft_ps_add_peer(nd->ps, &id, sc->outbound, ALL_PROTOS, sc);
        if (!sc->peer) {
            nd->st.dup_peers++;
            return WEFT_ELIMIT;
        }
        return 0;
    }
    nd->st.frames_in++;
    if (weft_ps_on_rpc(nd->ps, sc->peer, sc->proto, p, len) != 0)
        nd->st.frames_refused++;
    return 0;
}

static void
reader_reset(struct sconn *sc)
{
    sc->nhdr = 0;
    sc->want = SIZE_MAX;
    if (sc->body.cap > KEEP_BUF) {
        weft_buf_free(&sc->body);
        weft_buf_init(&sc->body, NULL, 0, 0);
    } else {
        weft_buf_reset(&sc->body);
    }
}

/* Parse bytes into hellos and frames. Returns 0 or < 0 (bad framing, or
 * the connection is to be closed). */
int
ps_sim_parse(struct sconn *sc, const uint8_t *data, size_t len)
{
    weft_ps_sim *s = sc->nd->s;
    while (len) {
        if (sc->want == SIZE_MAX) {
            /* Header: [proto byte] uvarint, one byte at a time (it is short). */
            sc->hdr[sc->nhdr++] = *data++;
            len--;
            size_t off = sc->hello_in ? 1 : 0;
            if (sc->nhdr <= off)
                continue;
            if (off) {
                unsigned proto = sc->hdr[0];
                if (proto != WEFT_PS_PROTO_MESHSUB && proto != WEFT_PS_PROTO_MESHSUB12 &&
                    proto != WEFT_PS_PROTO_RLNC)
                    return WEFT_EPROTO;
                sc->proto = proto;
            }
            uint64_t v;
            int n = weft_uvarint_get(sc->hdr + off, sc->nhdr - off, &v, 0);
            if (n < 0)
                return WEFT_EPROTO;
            if (n == 0) {
                if (sc->nhdr == sizeof sc->hdr)
                    return WEFT_EPROTO;
                continue;
            }
            if (v > (sc->hello_in ? s->max_frame : HELLO_MAX))
                return WEFT_ETOOBIG;
            sc->want = (size_t)v;
            if (sc->want == 0) {
                int rc = dispatch(sc, data, 0);
                reader_reset(sc);
                if (rc < 0)
                    return rc;
            }
            continue;
        }
        /* Body: straight from the segment when it is all there. */
        if (sc->body.len == 0 && len >= sc->want) {
            size_t n = sc->want;
            int rc = dispatch(sc, data, n);
            reader_reset(sc);
            if (rc < 0)
                return rc;
            data += n;
            len -= n;
            continue;
        }
        if (sc->body.len == 0 && weft_buf_reserve(&sc->body, sc->want) < 0)
            return -ENOMEM;
        size_t n = sc->want - sc->body.len;
        if (n > len)
            n = len;
        if (weft_buf_append(&sc->body, data, n) < 0)
            return -ENOMEM;
        data += n;
        len -= n;
        if (sc->body.len == sc->want) {
            int rc = dispatch(sc, sc->body.base, sc->body.len);
            reader_reset(sc);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- connection callbacks ---------------------------------------------------------- */

static void
conn_data(weft_conn *c, void *user, const uint8_t *data, size_t len)
{
    struct sconn *sc = user;
    int rc = ps_sim_down_data(sc, data, len);
    if (rc < 0) {
        if (rc != WEFT_ELIMIT)
            sc->nd->st.frames_bad++;
        weft_conn_abort(c, rc); /* conn_closed frees sc */
    }
}

static void
conn_writable(weft_conn *c, void *user)
{
    (void)c;
    ps_sim_pump(user);
}

static void
conn_closed(weft_conn *c, void *user, int reason)
{
    struct sconn *sc = user;
    (void)c, (void)reason;
    if (sc->peer && !sc->nd->s->closing)
        weft_ps_remove_peer(sc->nd->ps, sc->peer);
    sconn_free(sc);
}

static void
start(struct sconn *sc, weft_conn *c)
{
    sc->c = c;
    weft_conn_set_handler(c, &sconn_handler, sc);
    if (send_hello(sc) < 0)
        weft_conn_abort(c, -ENOMEM);
}

static void
on_accept(weft_listener *l, void *user, weft_conn *c)
{
    struct snode *nd = user;
    (void)l;
    struct sconn *sc = sconn_new(nd, 0);
    if (!sc)
        return; /* no handler: the loop closes it */
    start(sc, c);
}

static void
on_connected(weft_conn *c, void *user, int status)
{
    struct sconn *sc = user;
    if (status < 0) {
        sc->nd->st.dials_failed++;
        sconn_free(sc);
        return;
    }
    start(sc, c);
}

/* ---- router glue ------------------------------------------------------------------ */

static int64_t
io_now(void *user)
{
    return weft_loop_now(((struct snode *)user)->loop);
}

static void
io_deliver(void *user, const weft_ps_msg *m)
{
    struct snode *nd = user;
    nd->st.delivered++;
    if (nd->s->cfg.on_deliver)
        nd->s->cfg.on_deliver(nd->s->cfg.user, nd->index, m, weft_loop_now(nd->loop));
}

static void
io_trace(void *user, const weft_ps_trace *ev)
{
    struct snode *nd = user;
    nd->s->cfg.on_trace(nd->s->cfg.user, nd->index, ev);
}

static void
on_tick(weft_timer *t, void *user)
{
    struct snode *nd = user;
    weft_ps_tick(nd->ps);
    /* Keep the phase: the next tick is one period after this deadline. */
    WEFT_IGNORE(weft_timer_arm(nd->loop, t, t->deadline + nd->tick_ns));
}

/* ---- public ---------------------------------------------------------------------- */

uint32_t
weft_ps_sim_ip(size_t node)
{
    return 0x0A000000u + (uint32_t)node + 1u;
}

static uint64_t
node_seed(uint64_t seed, size_t i, uint64_t salt)
{
    return seed ^ (0x9E3779B97F4A7C15ULL * ((uint64_t)i + 1)) ^ salt;
}

static int
node_init(weft_ps_sim *s, size_t i, const weft_ps_config *tmpl)
{
    struct snode *nd = &s->nodes[i];
    nd->s = s;
    nd->index = i;
    weft_timer_init(&nd->tick, on_tick, nd);
    ps_sim_host_init(nd);
    nd->loop = weft_simnet_add_node(s->net, weft_ps_sim_ip(i));
    if (!nd->loop)
        return -ENOMEM;

    weft_ps_config cfg = *tmpl;
    weft_rng rng;
    uint8_t seed[32];
    weft_rng_seed(&rng, node_seed(s->cfg.seed, i, 0x6964656e74697479ULL)); /* "identity" */
    weft_rng_bytes(&rng, seed, sizeof seed);
    weft_identity_from_seed(&cfg.identity, seed);
    cfg.seed = weft_rng_next(&rng) | 1u;
    memset(&cfg.io, 0, sizeof cfg.io);
    cfg.io.send = io_send;
    cfg.io.deliver = io_deliver;
    cfg.io.trace = s->cfg.on_trace ? io_trace : NULL;
    cfg.io.now = io_now;
    cfg.io.user = nd;
    int err = 0;
    nd->ps = weft_ps_new(&cfg, &err);
    weft_identity_wipe(&cfg.identity);
    if (!nd->ps)
        return err ? err : -ENOMEM;

    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(WEFT_PS_SIM_PORT),
                             .sin_addr.s_addr = htonl(weft_ps_sim_ip(i))};
    int rc = weft_listen(nd->loop, (const struct sockaddr *)&sa, sizeof sa, on_accept, nd, &nd->ls);
    if (rc < 0)
        return rc;

    nd->tick_ns = tmpl->tick_ns > 0 ? tmpl->tick_ns : 50 * MS;
    int64_t offset = (int64_t)(weft_rng_next(&rng) % (uint64_t)nd->tick_ns);
    return weft_timer_arm(nd->loop, &nd->tick, weft_loop_now(nd->loop) + offset);
}

weft_ps_sim *
weft_ps_sim_new(const weft_ps_sim_config *cfg, const weft_ps_config *tmpl, size_t n, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!cfg || !tmpl || n == 0 || n >= 0xFFFFFEu) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    weft_ps_sim *s = calloc(1, sizeof *s);
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.queue_cap)
        s->cfg.queue_cap = WEFT_PS_SIM_QUEUE_CAP;
    if (tmpl->max_rpc_size)
        s->max_frame = tmpl->max_rpc_size;
    else
        s->max_frame = (tmpl->max_msg_size ? tmpl->max_msg_size : (size_t)1 << 20) + (64u << 10);
    s->net = weft_simnet_new(cfg->seed, &cfg->link);
    s->nodes = calloc(n, sizeof *s->nodes);
    if (!s->net || !s->nodes) {
        weft_simnet_free(s->net);
        free(s->nodes);
        free(s);
        *err = -ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        s->n = i + 1;
        int rc = node_init(s, i, tmpl);
        if (rc < 0) {
            weft_ps_sim_free(s);
            *err = rc;
            return NULL;
        }
    }
    *err = 0;
    return s;
}

void
weft_ps_sim_free(weft_ps_sim *s)
{
    if (!s)
        return;
    s->closing = 1;
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i].loop) {
            weft_timer_disarm(s->nodes[i].loop, &s->nodes[i].tick);
            ps_sim_host_forget(&s->nodes[i], NULL);
        }
    /* Closing the network runs every on_close (and every failed dial), which
     * frees the records; the routers are not told. */
    weft_simnet_free(s->net);
    for (size_t i = 0; i < s->n; i++) {
        while (s->nodes[i].conns)
            sconn_free(s->nodes[i].conns);
        weft_ps_free(s->nodes[i].ps);
    }
    free(s->nodes);
    free(s);
}

size_t
weft_ps_sim_size(const weft_ps_sim *s)
{
    return s->n;
}

weft_ps *
weft_ps_sim_router(weft_ps_sim *s, size_t node)
{
    return node < s->n ? s->nodes[node].ps : NULL;
}

weft_loop *
weft_ps_sim_loop(weft_ps_sim *s, size_t node)
{
    return node < s->n ? s->nodes[node].loop : NULL;
}

weft_simnet *
weft_ps_sim_net(weft_ps_sim *s)
{
    return s->net;
}

int
weft_ps_sim_connect(weft_ps_sim *s, size_t a, size_t b, const weft_link_params *lp)
{
    if (a >= s->n || b >= s->n || a == b)
        return WEFT_EINVAL;
    if (lp) {
        int rc = weft_simnet_set_link(s->net, weft_ps_sim_ip(a), weft_ps_sim_ip(b), lp);
        if (rc < 0)
            return rc;
    }
    struct snode *nd = &s->nodes[a];
    struct sconn *sc = sconn_new(nd, 1);
    if (!sc)
        return -ENOMEM;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(WEFT_PS_SIM_PORT),
                             .sin_addr.s_addr = htonl(weft_ps_sim_ip(b))};
    int rc =
        weft_dial(nd->loop, (const struct sockaddr *)&sa, sizeof sa, 0, on_connected, sc, NULL);
    if (rc < 0)
        sconn_free(sc);
    return rc;
}

/* Adjacency for weft_ps_sim_connect_random. */
struct adj {
    uint32_t *v;
    uint32_t n, cap;
};

static int
adjacent(const struct adj *g, uint32_t a, uint32_t b)
{
    for (uint32_t i = 0; i < g[a].n; i++)
        if (g[a].v[i] == b)
            return 1;
    return 0;
}

static int
adj_push(struct adj *x, uint32_t b)
{
    if (x->n == x->cap) {
        uint32_t cap = x->cap ? 2 * x->cap : 8;
        uint32_t *v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = b;
    return 0;
}

long
weft_ps_sim_connect_random(weft_ps_sim *s, unsigned peers, const weft_link_params *lp,
                           int64_t lat_min_ns, int64_t lat_max_ns, uint64_t seed)
{
    size_t n = s->n;
    if (!lp || lat_min_ns < 0 || lat_max_ns < lat_min_ns || n > UINT32_MAX)
        return WEFT_EINVAL;
    if (n < 2)
        return 0;
    if (peers > n - 1)
        peers = (unsigned)(n - 1);
    struct adj *g = calloc(n, sizeof *g);
    uint32_t *perm = malloc(n * sizeof *perm), *open = malloc(n * sizeof *open);
    uint32_t(*edges)[2] = malloc(n * (size_t)(peers + 1) * sizeof *edges);
    long nedges = 0, rc = 0;
    if (!g || !perm || !open || !edges) {
        rc = -ENOMEM;
        goto out;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
#define ADD_EDGE(x, y)                                                                             \
    do {                                                                                           \
        if (adj_push(&g[x], y) < 0 || adj_push(&g[y], x) < 0) {                                    \
            rc = -ENOMEM;                                                                          \
            goto out;                                                                              \
        }                                                                                          \
        edges[nedges][0] = (x);                                                                    \
        edges[nedges][1] = (y);                                                                    \
        nedges++;                                                                                  \
    } while (0)

    /* A random recursive tree over a random order: connected. */
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = (uint32_t)n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(weft_rng_next(&rng) % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 1; i < n; i++) {
        uint32_t j = perm[weft_rng_next(&rng) % i];
        ADD_EDGE(perm[i], j);
    }
    /* Extra edges between nodes still short of `peers`, picked at random. */
    uint32_t nopen = 0;
    for (uint32_t i = 0; i < n; i++)
        if (g[i].n < peers)
            open[nopen++] = i;
    size_t misses = 0, max_misses = 64 * n + 1024;
    while (nopen >= 2 && misses < max_misses && (size_t)nedges < n * (size_t)(peers + 1) / 2 + n) {
        uint32_t ia = (uint32_t)(weft_rng_next(&rng) % nopen);
        uint32_t ib = (uint32_t)(weft_rng_next(&rng) % nopen);
        uint32_t a = open[ia], b = open[ib];
        if (a == b || adjacent(g, a, b)) {
            misses++;
            continue;
        }
        ADD_EDGE(a, b);
        /* Drop full nodes from the open list (the larger index first). */
        if (ia < ib) {
            uint32_t t = ia;
            ia = ib;
            ib = t;
        }
        if (g[open[ia]].n >= peers)
            open[ia] = open[--nopen];
        if (g[open[ib]].n >= peers)
            open[ib] = open[--nopen];
    }
#undef ADD_EDGE
    /* Dial in creation order, each edge with its own latency. */
    for (long e = 0; e < nedges; e++) {
        weft_link_params p = *lp;
        uint64_t span = (uint64_t)(lat_max_ns - lat_min_ns);
        p.latency_ns = lat_min_ns + (int64_t)(span ? weft_rng_next(&rng) % (span + 1) : 0);
        int r = weft_ps_sim_connect(s, edges[e][0], edges[e][1], &p);
        if (r < 0) {
            rc = r;
            goto out;
        }
    }
    rc = nedges;
out:
    if (g)
        for (size_t i = 0; i < n; i++)
            free(g[i].v);
    free(g);
    free(perm);
    free(open);
    free(edges);
    return rc;
}

int
weft_ps_sim_subscribe_all(weft_ps_sim *s, const char *topic)
{
    for (size_t i = 0; i < s->n; i++) {
        int rc = weft_ps_subscribe(s->nodes[i].ps, topic);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
weft_ps_sim_publish(weft_ps_sim *s, size_t node, const char *topic, const void *data, size_t len,
                    uint8_t *id_out, size_t *id_len)
{
    if (node >= s->n)
        return WEFT_EINVAL;
    return weft_ps_publish(s->nodes[node].ps, topic, data, len, id_out, id_len);
}

int64_t
weft_ps_sim_run_until(weft_ps_sim *s, int64_t until_ns)
{
    s->stop = 0;
    int64_t t = weft_simnet_now(s->net);
    while (t < until_ns && !s->stop) {
        int64_t next = until_ns - t > SLICE_NS ? t + SLICE_NS : until_ns;
        weft_simnet_run_until(s->net, next);
        t = weft_simnet_now(s->net);
    }
    return t;
}

void
weft_ps_sim_stop(weft_ps_sim *s)
{
    s->stop = 1;
}

int64_t
weft_ps_sim_now(const weft_ps_sim *s)
{
    return weft_simnet_now(s->net);
}

void
weft_ps_sim_get_stats(const weft_ps_sim *s, size_t node, weft_ps_sim_stats *out)
{
    memset(out, 0, sizeof *out);
    if (node >= s->n)
        return;
    const struct snode *nd = &s->nodes[node];
    *out = nd->st;
    weft_ps_get_stats(nd->ps, &out->ps);
    weft_loop_stats ls;
    weft_loop_get_stats(nd->loop, &ls);
    out->bytes_out = ls.bytes_out;
    out->bytes_in = ls.bytes_in;
    out->peers = 0;
    for (const struct sconn *sc = nd->conns; sc; sc = sc->next) {
        if (sc->peer)
            out->peers++;
        out->queued_now += sconn_queued(sc);
        out->rx_partial_now += sc->body.len;
    }
}

uint64_t
weft_ps_sim_bytes_sent(const weft_ps_sim *s)
{
    return weft_simnet_bytes_sent(s->net);
}
