/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated network: many nodes in one process on one virtual clock,
 * deterministic for a seed. Each node is a weft_loop (ops below) that the
 * network drives; protocol code cannot tell it from a socket loop.
 *
 * A connection is a pipe with two directions. Bytes leave a sender's queue
 * in segments only while its direction's backlog is under SNDBUF bytes (so
 * the application sees back-pressure as with a kernel socket buffer). A
 * segment occupies the link for size / bandwidth, then arrives after the
 * latency plus jitter; with probability `loss` it is "retransmitted" and
 * arrives rto later. Arrivals never overtake each other (TCP order), so a
 * lost segment holds up what follows. FIN and RST travel in order too.
 *
 * Events live in one min-heap ordered by (time, sequence); node timers stay
 * in each node's own heap and the network keeps a second heap of nodes
 * keyed by their earliest timer, updated through ops->timers_changed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "loop_internal.h"
#include "weft/rng.h"

#define SEGMENT ((size_t)16384)
#define SNDBUF ((uint64_t)262144)
#define RCVBUF ((uint64_t)262144) /* unread bytes a receiver holds before the sender waits */
#define EPHEMERAL_BASE 40000

enum ev_type { EV_ARRIVE, EV_TXDONE, EV_SYN, EV_SYNACK, EV_REFUSED, EV_FIN, EV_RST };

struct pipe;

struct sim_event {
    int64_t at;
    uint64_t seq;
    int type;
    int dir; /* direction: 0 = dialer -> listener, 1 = back */
    struct pipe *pipe;
    uint8_t *data; /* EV_ARRIVE: owned segment */
    size_t len;
};

struct node;

struct link_state {
    int64_t busy_until;   /* the sender's side of the link is transmitting until */
    int64_t last_arrival; /* arrivals keep order */
    uint64_t backlog;     /* bytes handed to the link, not yet departed */
};

struct pipe {
    weft_conn *end[2]; /* [0] dialer side, [1] listener side */
    struct node *node[2];
    struct link_state dirs[2]; /* dirs[d]: data flowing from end[d] to end[1 - d] */
    weft_link_params lp;
    int events; /* events naming this pipe */
    int fin_sent[2];
    int doomed; /* queued on net->pipe_grave */
    struct pipe *grave_next;
};

struct listener_rec {
    weft_listener *ls;
    uint16_t port;
    struct listener_rec *next;
};

struct node {
    weft_loop loop; /* first: a weft_loop * is a struct node * */
    weft_simnet *net;
    uint32_t ip;
    uint16_t next_port;
    size_t heap_index; /* in net->nodes_by_timer */
    struct listener_rec *listeners;
};

struct sim_conn {
    struct pipe *pipe;
    int dir;     /* which end this is */
    weft_buf rx; /* arrived while paused */
};

struct link_override {
    uint32_t a, b;
    weft_link_params p;
    struct link_override *next;
};

struct weft_simnet {
    int64_t now;
    uint64_t seq;
    weft_rng rng;
    weft_link_params defaults;
    struct sim_event *ev;
    size_t nev, capev;
    struct node **nodes;
    size_t nnodes, capnodes;
    struct node **theap; /* nodes by earliest timer */
    size_t ntheap;
    struct link_override *overrides;
    uint64_t bytes_sent;
    /* Freed at the next safe point (after the current event), never while
     * a caller up the stack may still hold them. */
    weft_conn *conn_grave;
    struct pipe *pipe_grave;
};

static const struct loop_ops sim_ops;

static struct node *
NODE(weft_loop *l)
{
    return (struct node *)l;
}

static struct sim_conn *
SC(weft_conn *c)
{
    return c->backend;
}

/* ---- event heap ---------------------------------------------------------------- */

static int
ev_less(const struct sim_event *a, const struct sim_event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int
ev_push(weft_simnet *n, struct sim_event e)
{
    if (n->nev == n->capev) {
        size_t cap = n->capev ? n->capev * 2 : 1024;
        struct sim_event *p = realloc(n->ev, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        n->ev = p;
        n->capev = cap;
    }
    e.seq = n->seq++;
    if (e.pipe)
        e.pipe->events++;
    size_t i = n->nev++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&e, &n->ev[parent]))
            break;
        n->ev[i] = n->ev[parent];
        i = parent;
    }
    n->ev[i] = e;
    return 0;
}

static struct sim_event
ev_pop(weft_simnet *n)
{
    struct sim_event top = n->ev[0];
    struct sim_event last = n->ev[--n->nev];
    size_t i = 0;
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = a;
        if (a >= n->nev)
            break;
        if (b < n->nev && ev_less(&n->ev[b], &n->ev[a]))
            m = b;
        if (!ev_less(&n->ev[m], &last))
            break;
        n->ev[i] = n->ev[m];
        i = m;
    }
    if (n->nev)
        n->ev[i] = last;
    return top;
}

/* ---- node timer heap --------------------------------------------------------------- */

static int64_t
node_key(const struct node *nd)
{
    return loop_first_deadline(&nd->loop);
}

static void
th_swap(weft_simnet *n, size_t a, size_t b)
{
    struct node *t = n->theap[a];
    n->theap[a] = n->theap[b];
    n->theap[b] = t;
    n->theap[a]->heap_index = a;
    n->theap[b]->heap_index = b;
}

static void
th_fix(weft_simnet *n, size_t i)
{
    while (i > 0 && node_key(n->theap[(i - 1) / 2]) > node_key(n->theap[i])) {
        th_swap(n, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < n->ntheap && node_key(n->theap[a]) < node_key(n->theap[m]))
            m = a;
        if (b < n->ntheap && node_key(n->theap[b]) < node_key(n->theap[m]))
            m = b;
        if (m == i)
            return;
        th_swap(n, i, m);
        i = m;
    }
}

static void
sim_timers_changed(weft_loop *l)
{
    struct node *nd = NODE(l);
    th_fix(nd->net, nd->heap_index);
}

/* ---- links --------------------------------------------------------------------------- */

static weft_link_params
params_for(weft_simnet *n, uint32_t a, uint32_t b)
{
    for (struct link_override *o = n->overrides; o; o = o->next)
        if ((o->a == a && o->b == b) || (o->a == b && o->b == a))
            return o->p;
    return n->defaults;
}

static struct node *
node_by_ip(weft_simnet *n, uint32_t ip)
{
    for (size_t i = 0; i < n->nnodes; i++)
        if (n->nodes[i]->ip == ip)
            return n->nodes[i];
    return NULL;
}

static void
set_addr(struct sockaddr_storage *ss, socklen_t *len, uint32_t ip, uint16_t port)
{
    struct sockaddr_in *sa = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof *ss);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(ip);
    sa->sin_port = htons(port);
    *len = sizeof *sa;
}

static int64_t
jitter(weft_simnet *n, int64_t max)
{
    return max > 0 ? (int64_t)(weft_rng_next(&n->rng) % (uint64_t)(max + 1)) : 0;
}

static int
lost(weft_simnet *n, double p)
{
    if (p <= 0)
        return 0;
    return (double)(weft_rng_next(&n->rng) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* Schedule something that travels in order on direction d of the pipe. */
static int
schedule_in_order(weft_simnet *n, struct pipe *p, int d, int type, uint8_t *data, size_t len)
{
    struct link_state *ls = &p->dirs[d];
    int64_t start = ls->busy_until > n->now ? ls->busy_until : n->now;
    int64_t tx = 0;
    if (len && p->lp.bandwidth_bps)
        tx = (int64_t)((uint64_t)len * 8u * 1000000000u / p->lp.bandwidth_bps);
    ls->busy_until = start + tx;
    int64_t at = start + tx + p->lp.latency_ns + jitter(n, p->lp.jitter_ns);
    if (len && lost(n, p->lp.loss))
        at += p->lp.rto_ns ? p->lp.rto_ns : 200000000;
    if (at < ls->last_arrival)
        at = ls->last_arrival;
    ls->last_arrival = at;
    struct sim_event e = {.at = at, .type = type, .dir = d, .pipe = p, .data = data, .len = len};
    int rc = ev_push(n, e);
    if (rc < 0)
        return rc;
    if (len) {
        ls->backlog += len;
        n->bytes_sent += len;
        struct sim_event done = {
            .at = start + tx, .type = EV_TXDONE, .dir = d, .pipe = p, .len = len};
        rc = ev_push(n, done);
    }
    return rc;
}

static void
pipe_maybe_free(weft_simnet *n, struct pipe *p)
{
    if (!p->end[0] && !p->end[1] && p->events == 0 && !p->doomed) {
        p->doomed = 1;
        p->grave_next = n->pipe_grave;
        n->pipe_grave = p;
    }
}

static void
flush_graves(weft_simnet *n)
{
    while (n->conn_grave) {
        weft_conn *c = n->conn_grave;
        n->conn_grave = c->backend; /* chained through the spent backend pointer */
        c->backend = NULL;
        conn_release(c);
    }
    while (n->pipe_grave) {
        struct pipe *p = n->pipe_grave;
        n->pipe_grave = p->grave_next;
        free(p);
    }
}

/* ---- ops ---------------------------------------------------------------------------- */

static int
attach(weft_conn *c, struct pipe *p, int dir)
{
    struct sim_conn *sc = calloc(1, sizeof *sc);
    if (!sc)
        return -ENOMEM;
    sc->pipe = p;
    sc->dir = dir;
    weft_buf_init(&sc->rx, NULL, 0, 0);
    c->backend = sc;
    p->end[dir] = c;
    return 0;
}

static int
sim_listen(weft_listener *ls, const struct sockaddr *sa, socklen_t salen)
{
    struct node *nd = NODE(ls->loop);
    if (sa->sa_family != AF_INET || salen < sizeof(struct sockaddr_in))
        return -EAFNOSUPPORT;
    uint16_t port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (port == 0)
        port = nd->next_port++;
    for (struct listener_rec *r = nd->listeners; r; r = r->next)
        if (r->port == port)
            return -EADDRINUSE;
    struct listener_rec *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->ls = ls;
    r->port = port;
    r->next = nd->listeners;
    nd->listeners = r;
    set_addr(&ls->addr, &ls->addrlen, nd->ip, port);
    return 0;
}

static void
sim_listener_close(weft_listener *ls)
{
    struct node *nd = NODE(ls->loop);
    for (struct listener_rec **pp = &nd->listeners; *pp; pp = &(*pp)->next) {
        if ((*pp)->ls == ls) {
            struct listener_rec *r = *pp;
            *pp = r->next;
            free(r);
            break;
        }
    }
    free(ls);
}

static int
sim_dial(weft_conn *c, const struct sockaddr *sa, socklen_t salen)
{
    struct node *nd = NODE(c->loop);
    weft_simnet *n = nd->net;
    if (sa->sa_family != AF_INET || salen < sizeof(struct sockaddr_in))
        return -EAFNOSUPPORT;
    uint32_t ip = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    struct pipe *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = attach(c, p, 0);
    if (rc < 0) {
        free(p);
        return rc;
    }
    p->node[0] = nd;
    p->node[1] = node_by_ip(n, ip);
    p->lp = params_for(n, nd->ip, ip);
    set_addr(&c->local, &c->locallen, nd->ip, nd->next_port++);
    /* SYN: one latency to the listener (or back as a refusal). */
    struct sim_event e = {.at = n->now + p->lp.latency_ns,
                          .type = p->node[1] ? EV_SYN : EV_REFUSED,
                          .dir = 0,
                          .pipe = p};
    if (!p->node[1])
        e.at += p->lp.latency_ns;
    return ev_push(n, e);
}

static void
sim_kick_send(weft_conn *c)
{
    struct sim_conn *sc = SC(c);
    struct pipe *p = sc->pipe;
    weft_simnet *n = NODE(c->loop)->net;
    struct link_state *ls = &p->dirs[sc->dir];
    weft_conn *peer = p->end[1 - sc->dir];
    for (;;) {
        uint64_t unread = peer && SC(peer) ? SC(peer)->rx.len : 0;
        if (!c->sendq.len || ls->backlog >= SNDBUF || unread >= RCVBUF)
            break;
        size_t len;
        const uint8_t *head = conn_pending(c, &len);
        if (len > SEGMENT)
            len = SEGMENT;
        uint8_t *seg = malloc(len);
        if (!seg) {
            conn_failed(c, -ENOMEM);
            return;
        }
        memcpy(seg, head, len);
        conn_take(c, len);
        if (schedule_in_order(n, p, sc->dir, EV_ARRIVE, seg, len) < 0) {
            free(seg);
            conn_failed(c, -ENOMEM);
            return;
        }
        conn_sent(c, len);
        if (c->state == CONN_CLOSED)
            return;
    }
}

static void
deliver_rx(weft_conn *c)
{
    struct sim_conn *sc = SC(c);
    while (sc->rx.len && c->reading && c->state != CONN_CLOSED) {
        /* Deliver from a private copy: the handler may pause or close. */
        size_t len = sc->rx.len;
        uint8_t *tmp = malloc(len);
        if (!tmp)
            return;
        memcpy(tmp, sc->rx.base, len);
        weft_buf_reset(&sc->rx);
        conn_input(c, tmp, len);
        free(tmp);
    }
    /* The window opened: the sender may go on. */
    weft_conn *peer = sc->pipe->end[1 - sc->dir];
    if (!sc->rx.len && peer && peer->sendq.len && peer->state != CONN_CLOSED)
        sim_kick_send(peer);
}

static void
sim_set_reading(weft_conn *c, int on)
{
    if (on)
        deliver_rx(c);
}

static void
sim_close(weft_conn *c)
{
    struct sim_conn *sc = SC(c);
    weft_simnet *n = NODE(c->loop)->net;
    if (!sc) {
        c->backend = n->conn_grave;
        n->conn_grave = c;
        return;
    }
    struct pipe *p = sc->pipe;
    int d = sc->dir;
    /* Tell the other end: FIN after the data for an orderly close, RST
     * otherwise. Nothing is sent if it is gone already. */
    if (p->end[1 - d] && !p->fin_sent[d]) {
        p->fin_sent[d] = 1;
        schedule_in_order(n, p, d, c->closed_reason == 0 ? EV_FIN : EV_RST, NULL, 0);
    }
    p->end[d] = NULL;
    weft_buf_free(&sc->rx);
    free(sc);
    c->backend = n->conn_grave;
    n->conn_grave = c;
    pipe_maybe_free(n, p);
}

static int64_t
sim_now(const weft_loop *l)
{
    return ((const struct node *)l)->net->now;
}

static void
sim_free(weft_loop *l)
{
    (void)l; /* nodes are freed with their network */
}

static const struct loop_ops sim_ops = {
    .name = "sim",
    .listen = sim_listen,
    .listener_close = sim_listener_close,
    .dial = sim_dial,
    .kick_send = sim_kick_send,
    .set_reading = sim_set_reading,
    .close = sim_close,
    .wait = NULL,
    .now = sim_now,
    .free = sim_free,
    .timers_changed = sim_timers_changed,
};

/* ---- event handling -------------------------------------------------------------------- */

static void
on_syn(weft_simnet *n, struct pipe *p)
{
    struct node *srv = p->node[1];
    weft_conn *client = p->end[0];
    uint16_t port = 0;
    if (client)
        port = ntohs(((struct sockaddr_in *)&client->peer)->sin_port);
    struct listener_rec *r = srv->listeners;
    while (r && r->port != port)
        r = r->next;
    if (!client || !r) {
        struct sim_event e = {.at = n->now + p->lp.latency_ns, .type = EV_REFUSED, .pipe = p};
        ev_push(n, e);
        return;
    }
    weft_conn *c = conn_new(&srv->loop, -1);
    if (!c || attach(c, p, 1) < 0) {
        if (c)
            conn_release(c);
        struct sim_event e = {.at = n->now + p->lp.latency_ns, .type = EV_REFUSED, .pipe = p};
        ev_push(n, e);
        return;
    }
    c->peer = client->local;
    c->peerlen = client->locallen;
    set_addr(&c->local, &c->locallen, srv->ip, port);
    struct sim_event e = {.at = n->now + p->lp.latency_ns, .type = EV_SYNACK, .pipe = p};
    ev_push(n, e);
    conn_accepted(r->ls, c);
}

static void
handle(weft_simnet *n, struct sim_event *e)
{
    struct pipe *p = e->pipe;
    p->events--;
    weft_conn *dst = p->end[1 - e->dir];
    switch (e->type) {
    case EV_SYN: on_syn(n, p); break;
    case EV_SYNACK:
        if (p->end[0])
            conn_connected(p->end[0], 0);
        break;
    case EV_REFUSED:
        if (p->end[0])
            conn_connected(p->end[0], -ECONNREFUSED);
        break;
    case EV_TXDONE:
        p->dirs[e->dir].backlog -= e->len;
        if (p->end[e->dir] && p->end[e->dir]->sendq.len)
            sim_kick_send(p->end[e->dir]);
        break;
    case EV_ARRIVE:
        if (dst && dst->state != CONN_CLOSED) {
            struct sim_conn *sc = SC(dst);
            if (dst->reading && sc->rx.len == 0)
                conn_input(dst, e->data, e->len);
            else if (weft_buf_append(&sc->rx, e->data, e->len) < 0)
                conn_failed(dst, -ENOMEM);
        }
        free(e->data);
        break;
    case EV_FIN:
    case EV_RST:
        if (dst && dst->state != CONN_CLOSED) {
            if (e->type == EV_FIN)
                deliver_rx(dst);
            if (dst->state != CONN_CLOSED)
                conn_failed(dst, e->type == EV_FIN ? 0 : -ECONNRESET);
        }
        break;
    }
    pipe_maybe_free(n, p);
}

/* ---- public -------------------------------------------------------------------------- */

weft_simnet *
weft_simnet_new(uint64_t seed, const weft_link_params *defaults)
{
    weft_simnet *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    weft_rng_seed(&n->rng, seed);
    if (defaults)
        n->defaults = *defaults;
    if (!n->defaults.rto_ns)
        n->defaults.rto_ns = 200000000;
    return n;
}

weft_loop *
weft_simnet_add_node(weft_simnet *n, uint32_t ip4)
{
    if (node_by_ip(n, ip4))
        return NULL;
    if (n->nnodes == n->capnodes) {
        size_t cap = n->capnodes ? n->capnodes * 2 : 64;
        struct node **a = realloc(n->nodes, cap * sizeof *a);
        struct node **h = realloc(n->theap, cap * sizeof *h);
        if (a)
            n->nodes = a;
        if (h)
            n->theap = h;
        if (!a || !h)
            return NULL;
        n->capnodes = cap;
    }
    struct node *nd = calloc(1, sizeof *nd);
    if (!nd)
        return NULL;
    weft_loop_config cfg = {.kind = WEFT_LOOP_SIM};
    loop_init_common(&nd->loop, &sim_ops, &cfg);
    nd->net = n;
    nd->ip = ip4;
    nd->next_port = EPHEMERAL_BASE;
    n->nodes[n->nnodes++] = nd;
    nd->heap_index = n->ntheap;
    n->theap[n->ntheap++] = nd;
    th_fix(n, nd->heap_index);
    return &nd->loop;
}

int
weft_simnet_set_link(weft_simnet *n, uint32_t a, uint32_t b, const weft_link_params *p)
{
    struct link_override *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->a = a;
    o->b = b;
    o->p = *p;
    if (!o->p.rto_ns)
        o->p.rto_ns = 200000000;
    o->next = n->overrides;
    n->overrides = o;
    return 0;
}

int64_t
weft_simnet_now(const weft_simnet *n)
{
    return n->now;
}

uint64_t
weft_simnet_bytes_sent(const weft_simnet *n)
{
    return n->bytes_sent;
}

uint64_t
weft_simnet_run_until(weft_simnet *n, int64_t until)
{
    uint64_t handled = 0;
    for (;;) {
        int64_t tev = n->nev ? n->ev[0].at : INT64_MAX;
        int64_t ttm = n->ntheap ? node_key(n->theap[0]) : INT64_MAX;
        int64_t t = tev < ttm ? tev : ttm;
        if (t == INT64_MAX || t > until)
            break;
        if (t > n->now)
            n->now = t;
        if (ttm <= tev) {
            loop_run_timers(&n->theap[0]->loop);
        } else {
            struct sim_event e = ev_pop(n);
            handle(n, &e);
        }
        flush_graves(n);
        handled++;
    }
    if (until > n->now && until != INT64_MAX)
        n->now = until;
    return handled;
}

void
weft_simnet_free(weft_simnet *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nnodes; i++) {
        struct node *nd = n->nodes[i];
        weft_loop *l = &nd->loop;
        while (l->listeners)
            weft_listener_close(l->listeners);
        for (weft_conn *c = l->conns, *next; c; c = next) {
            next = c->next;
            if (c->state != CONN_CLOSED)
                weft_conn_abort(c, WEFT_ECLOSED);
        }
    }
    flush_graves(n);
    while (n->nev) {
        struct sim_event e = ev_pop(n);
        free(e.data);
        e.pipe->events--;
        pipe_maybe_free(n, e.pipe);
    }
    flush_graves(n);
    for (size_t i = 0; i < n->nnodes; i++) {
        loop_free_common(&n->nodes[i]->loop);
        free(n->nodes[i]);
    }
    while (n->overrides) {
        struct link_override *o = n->overrides;
        n->overrides = o->next;
        free(o);
    }
    free(n->nodes);
    free(n->theap);
    free(n->ev);
    free(n);
}
