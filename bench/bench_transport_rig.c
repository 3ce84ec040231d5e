/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_rig.c: the rig of the one-core tests. One per loop kind:
 * the loop, a raw TCP pair and two hosts (srv listens and sinks streams,
 * cli dials) with their long-lived data connection, all driven from this
 * thread. The transfers through the TCP pair and through a stream of the
 * data connection, and the dial loop of the handshake and idle tests.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_transport.h"
#include "loopback.h"

void
run_until(rig *r, int (*cond)(const rig *r), const char *what)
{
    uint64_t seen = r->progress;
    int64_t last = weft_loop_now(r->loop), now;

    while (!cond(r)) {
        loop_turn(r->loop, 10 * MS, r->name);
        now = weft_loop_now(r->loop);
        if (r->progress != seen) {
            seen = r->progress;
            last = now;
        } else if (now - last > STALL_NS) {
            fail("%s: %s: no progress for %lld s (sent %" PRIu64 ", received %" PRIu64
                 " of %" PRIu64 ")",
                 r->name, what, (long long)(STALL_NS / SEC), r->x.sent, r->x.rcvd, r->x.total);
        }
    }
}

void
run_quiet(rig *r)
{
    int64_t end = weft_loop_now(r->loop) + STALL_NS;
    int rc;

    do {
        rc = loop_turn(r->loop, 20 * MS, r->name);
    } while ((rc > 0 || rc == -EINTR) && weft_loop_now(r->loop) < end);
}

/* The receiving end of either transfer. */
static void
rig_received(rig *r, const uint8_t *d, size_t n)
{
    if (r->x.check)
        check_pattern(r->name, d, n, r->x.rcvd);
    r->x.rcvd += n;
    r->progress++;
}

static int
xfer_received(const rig *r)
{
    return r->x.rcvd >= r->x.total;
}

/* Start a transfer of total bytes. */
static void
xfer_start(rig *r, uint64_t total, int check)
{
    memset(&r->x, 0, sizeof(r->x));
    r->x.total = total;
    r->x.check = check;
}

/* ---- plain TCP --------------------------------------------------------------------- */

static void
tcp_rx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    (void)c;
    rig_received(user, d, n);
}

static void
tcp_closed(weft_conn *c, void *user, int reason)
{
    rig *r = user;

    (void)reason;
    if (c == r->tcp_rx)
        r->tcp_rx = NULL;
    if (c == r->tcp_tx)
        r->tcp_tx = NULL;
}

static const weft_conn_handler tcp_rx_handler = {.on_data = tcp_rx_data, .on_close = tcp_closed};

static void
tcp_accept(weft_listener *l, void *user, weft_conn *c)
{
    rig *r = user;

    (void)l;
    if (r->tcp_rx != NULL) {
        weft_conn_set_handler(c, &tcp_rx_handler, r);
        weft_conn_abort(c, WEFT_ELIMIT);
        return;
    }
    r->tcp_rx = c;
    weft_conn_set_handler(c, &tcp_rx_handler, r);
    r->progress++;
}

static void
tcp_tx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)c, (void)d;
    sender_got_data(r->name, n);
}

static void
tcp_tx_writable(weft_conn *c, void *user)
{
    rig *r = user;

    xfer_send_conn(&r->x, c, r->name);
}

static const weft_conn_handler tcp_tx_handler = {
    .on_data = tcp_tx_data, .on_writable = tcp_tx_writable, .on_close = tcp_closed};

static void
tcp_connected(weft_conn *c, void *user, int status)
{
    rig *r = user;

    r->tcp_dial_status = status;
    r->progress++;
    if (status < 0)
        return;
    r->tcp_tx = c;
    weft_conn_set_handler(c, &tcp_tx_handler, r);
}

static int
tcp_pair_ready(const rig *r)
{
    return r->tcp_dial_status < 0 || (r->tcp_tx != NULL && r->tcp_rx != NULL);
}

double
tcp_transfer(rig *r, uint64_t total, int check)
{
    int64_t t0, t1;

    xfer_start(r, total, check);
    t0 = weft_mono_ns();
    xfer_send_conn(&r->x, r->tcp_tx, r->name);
    run_until(r, xfer_received, "tcp_stream");
    t1 = weft_mono_ns();
    if (r->x.rcvd != total)
        fail("%s: tcp_stream received %" PRIu64 " bytes, sent %" PRIu64, r->name, r->x.rcvd, total);
    return (double)(t1 - t0);
}

/* ---- the sink protocol (Noise + yamux stream) ---------------------------------------- */

static void
sink_data(weft_stream *s, void *user, const uint8_t *d, size_t n)
{
    (void)s;
    rig_received(user, d, n);
}

static const weft_stream_handler sink_handler = {.on_data = sink_data, .on_fin = sink_fin};

static void
src_pump(weft_stream *s, void *user)
{
    rig *r = user;

    xfer_send_stream(&r->x, s, r->name);
}

static void
src_data(weft_stream *s, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)s, (void)d;
    sender_got_data(r->name, n);
}

static void
src_close(weft_stream *s, void *user, int reason)
{
    rig *r = user;

    (void)s;
    r->x.closed = 1;
    r->x.close_reason = reason;
    r->progress++;
}

static const weft_stream_handler src_handler = {
    .on_open = src_pump, .on_data = src_data, .on_writable = src_pump, .on_close = src_close};

static int
xfer_closed(const rig *r)
{
    return r->x.closed;
}

double
noise_transfer(rig *r, uint64_t total, int check)
{
    int64_t t0, t1;
    int rc;

    xfer_start(r, total, check);
    t0 = weft_mono_ns();
    rc = weft_peer_open_stream(r->data_peer, SINK_PROTO, &src_handler, r, &r->x.st);
    if (rc < 0)
        fail("%s: weft_peer_open_stream: %s", r->name, weft_strerror(rc));
    run_until(r, xfer_received, "noise_yamux_stream");
    t1 = weft_mono_ns();
    if (r->x.rcvd != total)
        fail("%s: noise_yamux_stream received %" PRIu64 " bytes, sent %" PRIu64, r->name, r->x.rcvd,
             total);
    /* Untimed: both FINs, so streams do not pile up across runs. */
    run_until(r, xfer_closed, "noise_yamux_stream close");
    if (r->x.close_reason != 0)
        fail("%s: the stream closed with %s after all bytes arrived", r->name,
             weft_strerror(r->x.close_reason));
    return (double)(t1 - t0);
}

/* ---- hosts ---------------------------------------------------------------------------- */

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    rig *r = user;

    (void)p;
    r->live[h == r->srv ? 0 : 1] += up ? 1 : -1;
    r->progress++;
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    rig *r = user;

    (void)p, (void)id;
    r->identified[h == r->srv ? 0 : 1]++;
    r->progress++;
}

static void
data_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    rig *r = user;

    (void)h;
    r->data_dialed = 1;
    r->data_status = status;
    r->data_peer = p;
    r->progress++;
}

static int
data_peer_ready(const rig *r)
{
    return r->data_dialed && (r->data_status < 0 || (r->identified[0] && r->identified[1]));
}

int
peers_back_to_one(const rig *r)
{
    return r->live[0] == 1 && r->live[1] == 1;
}

/* ---- dials of the handshake and idle tests --------------------------------------------- */

static void
push_ready(rig *r, weft_peer *p)
{
    if (r->nready == r->capready) {
        size_t cap = r->capready ? 2 * r->capready : 64;
        weft_peer **n = realloc(r->ready, cap * sizeof(*n));

        if (n == NULL)
            fail("out of memory");
        r->ready = n;
        r->capready = cap;
    }
    r->ready[r->nready++] = p;
}

static void
push_latency(rig *r, double ns)
{
    if (r->nlat == r->caplat) {
        size_t cap = r->caplat ? 2 * r->caplat : 1024;
        double *n = realloc(r->lat_ns, cap * sizeof(*n));

        if (n == NULL)
            fail("out of memory");
        r->lat_ns = n;
        r->caplat = cap;
    }
    r->lat_ns[r->nlat++] = ns;
}

static void
batch_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    dial_slot *s = user;
    rig *r = s->r;

    (void)h;
    s->busy = 0;
    r->progress++;
    if (status < 0) {
        r->dial_failed++;
        r->last_dial_error = status;
        return;
    }
    r->dial_ok++;
    push_latency(r, (double)(weft_loop_now(r->loop) - s->t0));
    push_ready(r, p);
}

void
dial_batch(rig *r, uint32_t n, uint32_t parallel, dial_slot *slots, int close_ready, int64_t max_ns,
           const char *what)
{
    uint32_t started = 0, inflight, i;
    int64_t t0 = weft_loop_now(r->loop);
    int rc;

    for (;;) {
        inflight = 0;
        for (i = 0; i < parallel; i++) {
            dial_slot *s = &slots[i];

            if (!s->busy && started < n && (max_ns == 0 || weft_loop_now(r->loop) - t0 < max_ns)) {
                s->r = r;
                s->busy = 1;
                s->t0 = weft_loop_now(r->loop);
                rc = weft_host_dial(r->cli, &r->srv_addr, batch_dialed, s);
                if (rc < 0)
                    fail("%s: weft_host_dial: %s", r->name, weft_strerror(rc));
                started++;
            }
            inflight += (uint32_t)s->busy;
        }
        if (inflight == 0)
            break;
        loop_turn(r->loop, 10 * MS, r->name);
        if (close_ready) {
            for (i = 0; i < r->nready; i++)
                weft_peer_close(r->ready[i]);
            r->nready = 0;
        }
        if (r->dial_failed)
            fail("%s: %s: %s", r->name, what, weft_strerror(r->last_dial_error));
    }
}

/* ---- open and close --------------------------------------------------------------------- */

void
rig_open(rig *r, int kind)
{
    struct sockaddr_storage bound;
    socklen_t blen;
    int rc;

    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->loop = loop_make(kind, "one-core rig");
    r->name = weft_loop_kind_name(r->loop);

    rc = lb_listen(r->loop, tcp_accept, r, &r->tcp_ls, &bound, &blen);
    if (rc < 0)
        fail("%s: weft_listen: %s", r->name, weft_strerror(rc));
    rc = weft_dial(r->loop, (struct sockaddr *)&bound, blen, 5 * SEC, tcp_connected, r, NULL);
    if (rc < 0)
        fail("%s: weft_dial: %s", r->name, weft_strerror(rc));
    run_until(r, tcp_pair_ready, "TCP connect");
    if (r->tcp_dial_status < 0)
        fail("%s: TCP connect: %s", r->name, weft_strerror(r->tcp_dial_status));

    r->srv = host_new(r->loop, 1, on_peer, on_identify, r);
    r->cli = host_new(r->loop, 2, on_peer, on_identify, r);
    rc = weft_host_handle(r->srv, SINK_PROTO, &sink_handler, r);
    if (rc < 0)
        fail("weft_host_handle: %s", weft_strerror(rc));
    host_listen(r->srv, r->name, &r->srv_addr);
    rc = weft_host_dial(r->cli, &r->srv_addr, data_dialed, r);
    if (rc < 0)
        fail("%s: weft_host_dial: %s", r->name, weft_strerror(rc));
    run_until(r, data_peer_ready, "first libp2p connection");
    if (r->data_status < 0)
        fail("%s: first libp2p connection: %s", r->name, weft_strerror(r->data_status));
    run_quiet(r);
}

void
rig_close(rig *r)
{
    weft_host_free(r->cli);
    weft_host_free(r->srv);
    weft_loop_free(r->loop); /* closes the TCP pair and listener */
    free(r->ready);
    free(r->lat_ns);
    memset(r, 0, sizeof(*r));
}
