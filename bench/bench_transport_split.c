/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_split.c: the two threads of the *_split tests.
 *
 * tcp_stream_split, noise_yamux_stream_split and handshakes_split do what
 * tcp_stream, noise_yamux_stream and handshakes do, with the two ends on two
 * threads, each with its own weft_loop of the same kind, talking over
 * loopback. Every run is one "pair": the main thread starts a listener
 * thread and a dialer thread, each builds its loop (and host), the listener
 * publishes its address, both meet at a barrier, run an untimed checked
 * warm-up and the timed part, meet at the barrier again once both are done,
 * and free what they built; the main thread joins them. Runs alternate
 * between the loop kinds as in the one-core tests.
 *
 * The loops share nothing. Between the barriers the threads coordinate only
 * through the steps of split_pair, atomics that one side sets once and the
 * other polls between turns of its loop (a turn waits at most
 * SPLIT_SLICE_NS), so no thread ever blocks while the other may still need
 * its end of a connection served. Each side reads CLOCK_THREAD_CPUTIME_ID at
 * the start and the end of its share of the timed part; "per core" figures
 * divide the work by the larger of the two CPU times, which is what one
 * core per side sustains, and stay meaningful when a busy machine stretches
 * the wall time. Every wait fails after SPLIT_STALL_NS in which neither side
 * made progress.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_transport.h"
#include "loopback.h"

typedef struct split_side {
    _Alignas(128) struct split_pair *pair; /* own cache lines: the sides run in parallel */
    char name[40];                         /* "io_uring dialer", for messages */
    weft_loop *loop;
    weft_host *host;
    _Atomic uint64_t progress; /* bumped by this side's callbacks, read by both */
    _Atomic long live;         /* this host's peers up minus down, read by both */
    uint64_t identified;
    int tearing_down; /* after the last barrier: closes are expected */
    /* TCP: the listener's accepted connection or the dialer's */
    weft_listener *ls;
    weft_conn *conn;
    /* the dialer's TCP or data connection dial */
    int dialed, dial_status;
    weft_peer *peer;
    /* streams: the dialer sends x, the listener counts rcvd over the warm-up and the timed part */
    xfer x;
    uint64_t rcvd;
    /* handshakes (dialer) */
    int hs_busy, hs_timed;
    int64_t hs_t0;
    weft_peer *ready; /* dialled, to be closed by the driver */
    uint64_t dial_ok, dial_failed;
    int last_dial_error;
    /* thread CPU ns at the start and the end of this side's timed part */
    int64_t cpu0, cpu1;
} split_side;

typedef struct split_pair {
    enum test_id t;
    int kind;
    uint64_t warm_bytes, bytes; /* streams */
    uint32_t warm_hs, hs;       /* handshakes */
    pthread_barrier_t gate;     /* start (address published) and end (both done) */
    /* the listener's address, written before the first barrier */
    weft_multiaddr addr;
    struct sockaddr_storage sa;
    socklen_t salen;
    /* Steps, each set once (release) by the side named and polled (acquire) by the other. */
    atomic_int rx_ready;   /* streams, listener: its end of the connection is up */
    atomic_int warm_done;  /* streams, listener: warm-up received and checked;
                              handshakes, dialer: warm-up done and torn down on both ends */
    atomic_int armed;      /* handshakes, listener: its CPU clock is started */
    atomic_int timed_done; /* streams, listener: last byte in; handshakes, dialer: last callback */
    atomic_int finished;   /* dialer: all closed, the listener may stop */
    /* results, read by the main thread after the join */
    int64_t t0, t1;   /* wall clock (weft_mono_ns) of the timed part */
    uint64_t hs_done; /* handshakes completed in the timed part */
    double *lat_ns;   /* dialer: dial-to-callback times of the timed part */
    uint32_t nlat;
    split_side side[2]; /* [SIDE_DIALER], [SIDE_LISTENER] */
} split_pair;

static int64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        fail("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void
side_bump(split_side *s)
{
    uint64_t v = atomic_load_explicit(&s->progress, memory_order_relaxed);

    atomic_store_explicit(&s->progress, v + 1, memory_order_relaxed);
}

static void
side_live(split_side *s, long delta)
{
    long v = atomic_load_explicit(&s->live, memory_order_relaxed);

    atomic_store_explicit(&s->live, v + delta, memory_order_release);
}

static int
step_is_set(atomic_int *step)
{
    return atomic_load_explicit(step, memory_order_acquire);
}

static void
step_set(atomic_int *step)
{
    atomic_store_explicit(step, 1, memory_order_release);
}

static uint64_t
pair_progress(const split_pair *p)
{
    return atomic_load_explicit(&p->side[0].progress, memory_order_relaxed) +
           atomic_load_explicit(&p->side[1].progress, memory_order_relaxed);
}

/* Watches one side's waiting for a stall of both sides. */
typedef struct stall_watch {
    uint64_t seen;
    int64_t last, next_check;
} stall_watch;

static void
watch_start(split_side *s, stall_watch *w)
{
    w->seen = pair_progress(s->pair);
    w->last = weft_loop_now(s->loop);
    w->next_check = w->last + STALL_CHECK_NS;
}

/* One turn of the side's loop; fails once neither side has made progress
 * for SPLIT_STALL_NS. The other side's counter is read only every
 * STALL_CHECK_NS, so the cache line it lives on stays with its writer. */
static void
side_turn(split_side *s, stall_watch *w, const char *what)
{
    split_pair *p = s->pair;
    int64_t now;
    uint64_t seen;

    loop_turn(s->loop, SPLIT_SLICE_NS, s->name);
    now = weft_loop_now(s->loop);
    if (now < w->next_check)
        return;
    w->next_check = now + STALL_CHECK_NS;
    seen = pair_progress(p);
    if (seen != w->seen) {
        w->seen = seen;
        w->last = now;
    } else if (now - w->last > SPLIT_STALL_NS) {
        fail("%s: %s: no progress on either side for %lld s (this side sent %" PRIu64
             ", received %" PRIu64 ", completed %" PRIu64 " handshakes)",
             s->name, what, (long long)(SPLIT_STALL_NS / SEC), s->x.sent, s->rcvd, s->dial_ok);
    }
}

static void
side_run_until(split_side *s, int (*cond)(split_side *s), const char *what)
{
    stall_watch w;

    watch_start(s, &w);
    while (!cond(s))
        side_turn(s, &w, what);
}

/* ---- split: the receiving end (listener) ---- */

/* Count received bytes against the plan: warm_bytes checked, then bytes
 * unchecked; the last byte of each part marks a step. */
static void
split_rx(split_side *s, const uint8_t *d, size_t n)
{
    split_pair *p = s->pair;
    uint64_t before = s->rcvd, warm = p->warm_bytes, end = p->warm_bytes + p->bytes;

    if (before < warm) {
        if (n > warm - before)
            fail("%s: timed bytes arrived before the warm-up was complete", s->name);
        check_pattern(s->name, d, n, before);
    }
    if (n > end - before)
        fail("%s: received %" PRIu64 " bytes, %" PRIu64 " were sent", s->name, before + n, end);
    s->rcvd = before + n;
    if (s->rcvd == warm) {
        s->cpu0 = thread_cpu_ns();
        step_set(&p->warm_done);
    } else if (s->rcvd == end) {
        p->t1 = weft_mono_ns();
        s->cpu1 = thread_cpu_ns();
        step_set(&p->timed_done);
    }
    side_bump(s);
}

static void
split_conn_closed(weft_conn *c, void *user, int reason)
{
    split_side *s = user;

    if (!s->tearing_down)
        fail("%s: the TCP connection closed during the test (%s)", s->name,
             reason ? weft_strerror(reason) : "orderly");
    if (c == s->conn)
        s->conn = NULL;
}

static void
split_tcp_rx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    (void)c;
    split_rx(user, d, n);
}

static const weft_conn_handler split_tcp_rx_handler = {.on_data = split_tcp_rx_data,
                                                       .on_close = split_conn_closed};

static void
split_tcp_accept(weft_listener *l, void *user, weft_conn *c)
{
    split_side *s = user;

    (void)l;
    weft_conn_set_handler(c, &split_tcp_rx_handler, s);
    if (s->conn != NULL)
        fail("%s: a second TCP connection arrived", s->name);
    s->conn = c;
    side_bump(s);
}

static void
split_sink_data(weft_stream *st, void *user, const uint8_t *d, size_t n)
{
    (void)st;
    split_rx(user, d, n);
}

static const weft_stream_handler split_sink_handler = {.on_data = split_sink_data,
                                                       .on_fin = sink_fin};

static int
rx_conn_up(split_side *s)
{
    /* noise: identify from the dialer arrived, so the connection is idle */
    return s->pair->t == T_TCP_SPLIT ? s->conn != NULL : s->identified > 0;
}

static int
rx_all_in(split_side *s)
{
    return s->rcvd == s->pair->warm_bytes + s->pair->bytes;
}

static int
hs_warm_over(split_side *s)
{
    return step_is_set(&s->pair->warm_done);
}

static int
hs_timed_over(split_side *s)
{
    return step_is_set(&s->pair->timed_done);
}

static int
dialer_finished(split_side *s)
{
    return step_is_set(&s->pair->finished);
}

/* ---- split: the sending end (dialer) ---- */

static void
split_tcp_tx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    split_side *s = user;

    (void)c, (void)d;
    sender_got_data(s->name, n);
}

static void
split_tcp_tx_writable(weft_conn *c, void *user)
{
    split_side *s = user;

    xfer_send_conn(&s->x, c, s->name);
}

static const weft_conn_handler split_tcp_tx_handler = {.on_data = split_tcp_tx_data,
                                                       .on_writable = split_tcp_tx_writable,
                                                       .on_close = split_conn_closed};

static void
split_tcp_connected(weft_conn *c, void *user, int status)
{
    split_side *s = user;

    s->dialed = 1;
    s->dial_status = status;
    side_bump(s);
    if (status < 0)
        return;
    s->conn = c;
    weft_conn_set_handler(c, &split_tcp_tx_handler, s);
}

static void
split_src_pump(weft_stream *st, void *user)
{
    split_side *s = user;

    xfer_send_stream(&s->x, st, s->name);
}

static void
split_src_data(weft_stream *st, void *user, const uint8_t *d, size_t n)
{
    split_side *s = user;

    (void)st, (void)d;
    sender_got_data(s->name, n);
}

static void
split_src_close(weft_stream *st, void *user, int reason)
{
    split_side *s = user;

    if (st != s->x.st)
        return;
    s->x.closed = 1;
    s->x.close_reason = reason;
    side_bump(s);
}

static const weft_stream_handler split_src_handler = {.on_open = split_src_pump,
                                                      .on_data = split_src_data,
                                                      .on_writable = split_src_pump,
                                                      .on_close = split_src_close};

static void
split_on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    split_side *s = user;

    (void)h, (void)p;
    if (!up && s->pair->t == T_NOISE_SPLIT && !s->tearing_down)
        fail("%s: the libp2p connection went down during the test", s->name);
    side_live(s, up ? 1 : -1);
    side_bump(s);
}

static void
split_on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    split_side *s = user;

    (void)h, (void)p, (void)id;
    s->identified++;
    side_bump(s);
}

static void
split_data_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    split_side *s = user;

    (void)h;
    s->dialed = 1;
    s->dial_status = status;
    s->peer = p;
    side_bump(s);
}

static int
tx_dialed(split_side *s)
{
    return s->dialed;
}

static int
tx_peer_ready(split_side *s)
{
    return s->dialed && (s->dial_status < 0 || s->identified > 0);
}

static int
tx_rx_ready(split_side *s)
{
    return step_is_set(&s->pair->rx_ready);
}

static int
tx_warm_over(split_side *s)
{
    return step_is_set(&s->pair->warm_done) && (s->pair->t == T_TCP_SPLIT || s->x.closed);
}

static int
tx_timed_over(split_side *s)
{
    return step_is_set(&s->pair->timed_done);
}

static int
tx_stream_closed(split_side *s)
{
    return s->x.closed;
}

/* Start sending total bytes: on the TCP connection, or on a new stream. */
static void
split_send(split_side *s, uint64_t total)
{
    int rc;

    memset(&s->x, 0, sizeof(s->x));
    s->x.total = total;
    if (s->pair->t == T_TCP_SPLIT) {
        xfer_send_conn(&s->x, s->conn, s->name);
        return;
    }
    rc = weft_peer_open_stream(s->peer, SINK_PROTO, &split_src_handler, s, &s->x.st);
    if (rc < 0)
        fail("%s: weft_peer_open_stream: %s", s->name, weft_strerror(rc));
}

static void
split_check_close(const split_side *s)
{
    if (s->x.close_reason != 0)
        fail("%s: the stream closed with %s after all bytes arrived", s->name,
             weft_strerror(s->x.close_reason));
}

/* The dialer's part of a stream test, once the connection is up. */
static void
split_stream_dialer(split_side *s)
{
    split_pair *p = s->pair;

    side_run_until(s, tx_rx_ready, "waiting for the listener's end");
    split_send(s, p->warm_bytes);
    side_run_until(s, tx_warm_over, "warm-up transfer");
    split_check_close(s);
    s->cpu0 = thread_cpu_ns();
    p->t0 = weft_mono_ns();
    split_send(s, p->bytes);
    side_run_until(s, tx_timed_over, "timed transfer");
    s->cpu1 = thread_cpu_ns();
    if (p->t != T_TCP_SPLIT) {
        side_run_until(s, tx_stream_closed, "closing the stream");
        split_check_close(s);
    }
    if (s->x.sent != p->bytes)
        fail("%s: sent %" PRIu64 " bytes of %" PRIu64, s->name, s->x.sent, p->bytes);
}

static void
split_hs_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    split_side *s = user;
    split_pair *pr = s->pair;

    (void)h;
    s->hs_busy = 0;
    side_bump(s);
    if (status < 0) {
        s->dial_failed++;
        s->last_dial_error = status;
        return;
    }
    s->dial_ok++;
    if (s->hs_timed && pr->nlat < pr->hs)
        pr->lat_ns[pr->nlat++] = (double)(weft_loop_now(s->loop) - s->hs_t0);
    s->ready = p;
}

static int
hs_all_down(split_side *s)
{
    const split_side *l = &s->pair->side[SIDE_LISTENER];

    return atomic_load_explicit(&s->live, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&l->live, memory_order_acquire) == 0;
}

static int
hs_armed(split_side *s)
{
    return step_is_set(&s->pair->armed);
}

/* n handshakes one after another, each connection closed once its dial
 * callback has returned; stops dialling after HS_RUN_MAX_NS. */
static void
split_hs_run(split_side *s, uint32_t n)
{
    split_pair *p = s->pair;
    int64_t t0 = weft_loop_now(s->loop);
    uint32_t started = 0;
    stall_watch w;
    int rc;

    watch_start(s, &w);
    for (;;) {
        if (!s->hs_busy && started < n && weft_loop_now(s->loop) - t0 < HS_RUN_MAX_NS) {
            s->hs_busy = 1;
            s->hs_t0 = weft_loop_now(s->loop);
            rc = weft_host_dial(s->host, &p->addr, split_hs_dialed, s);
            if (rc < 0)
                fail("%s: weft_host_dial: %s", s->name, weft_strerror(rc));
            started++;
        }
        if (!s->hs_busy)
            break;
        side_turn(s, &w, "handshakes");
        if (s->ready != NULL) {
            weft_peer_close(s->ready);
            s->ready = NULL;
        }
        if (s->dial_failed)
            fail("%s: a handshake failed: %s", s->name, weft_strerror(s->last_dial_error));
    }
}

/* The dialer's part of handshakes_split. */
static void
split_hs_dialer(split_side *s)
{
    split_pair *p = s->pair;
    uint64_t ok0;

    split_hs_run(s, p->warm_hs);
    side_run_until(s, hs_all_down, "warm-up teardown");
    step_set(&p->warm_done);
    side_run_until(s, hs_armed, "waiting for the listener's clock");
    s->cpu0 = thread_cpu_ns();
    p->t0 = weft_mono_ns();
    ok0 = s->dial_ok;
    s->hs_timed = 1;
    split_hs_run(s, p->hs);
    p->t1 = weft_mono_ns();
    s->cpu1 = thread_cpu_ns();
    s->hs_timed = 0;
    p->hs_done = s->dial_ok - ok0;
    step_set(&p->timed_done);
    side_run_until(s, hs_all_down, "teardown");
}

/* ---- split: the threads ---- */

static void
side_open(split_side *s, const char *role)
{
    s->loop = loop_make(s->pair->kind, role);
    snprintf(s->name, sizeof(s->name), "%s %s", weft_loop_kind_name(s->loop), role);
}

static void
side_close(split_side *s)
{
    s->tearing_down = 1;
    if (s->host != NULL)
        weft_host_free(s->host);
    weft_loop_free(s->loop); /* closes the TCP connection and listener */
    s->host = NULL;
    s->loop = NULL;
}

static void
gate(split_pair *p)
{
    int rc = pthread_barrier_wait(&p->gate);

    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
        fail("pthread_barrier_wait: %s", strerror(rc));
}

static void *
split_listener(void *arg)
{
    split_side *s = arg;
    split_pair *p = s->pair;
    int rc;

    side_open(s, "listener");
    if (p->t == T_TCP_SPLIT) {
        rc = lb_listen(s->loop, split_tcp_accept, s, &s->ls, &p->sa, &p->salen);
        if (rc < 0)
            fail("%s: weft_listen: %s", s->name, weft_strerror(rc));
    } else {
        s->host = host_new(s->loop, 1, split_on_peer, split_on_identify, s);
        if (p->t == T_NOISE_SPLIT) {
            rc = weft_host_handle(s->host, SINK_PROTO, &split_sink_handler, s);
            if (rc < 0)
                fail("%s: weft_host_handle: %s", s->name, weft_strerror(rc));
        }
        host_listen(s->host, s->name, &p->addr);
    }
    gate(p); /* the address is published */
    if (p->t == T_HS_SPLIT) {
        side_run_until(s, hs_warm_over, "warm-up handshakes");
        s->cpu0 = thread_cpu_ns();
        step_set(&p->armed);
        side_run_until(s, hs_timed_over, "handshakes");
        s->cpu1 = thread_cpu_ns();
    } else {
        side_run_until(s, rx_conn_up, "waiting for the connection");
        step_set(&p->rx_ready);
        side_run_until(s, rx_all_in, "receiving"); /* split_rx takes the clocks */
    }
    side_run_until(s, dialer_finished, "waiting for the dialer to finish");
    gate(p); /* both done: nothing needs the other loop any more */
    side_close(s);
    return NULL;
}

static void *
split_dialer(void *arg)
{
    split_side *s = arg;
    split_pair *p = s->pair;
    int rc;

    side_open(s, "dialer");
    if (p->t != T_TCP_SPLIT)
        s->host = host_new(s->loop, 2, split_on_peer, split_on_identify, s);
    gate(p);
    switch (p->t) {
    case T_TCP_SPLIT:
        rc = weft_dial(s->loop, (struct sockaddr *)&p->sa, p->salen, 5 * SEC, split_tcp_connected,
                       s, NULL);
        if (rc < 0)
            fail("%s: weft_dial: %s", s->name, weft_strerror(rc));
        side_run_until(s, tx_dialed, "TCP connect");
        if (s->dial_status < 0)
            fail("%s: TCP connect: %s", s->name, weft_strerror(s->dial_status));
        split_stream_dialer(s);
        break;
    case T_NOISE_SPLIT:
        rc = weft_host_dial(s->host, &p->addr, split_data_dialed, s);
        if (rc < 0)
            fail("%s: weft_host_dial: %s", s->name, weft_strerror(rc));
        side_run_until(s, tx_peer_ready, "the libp2p connection");
        if (s->dial_status < 0)
            fail("%s: libp2p connection: %s", s->name, weft_strerror(s->dial_status));
        split_stream_dialer(s);
        break;
    default: split_hs_dialer(s); break;
    }
    step_set(&p->finished);
    gate(p);
    side_close(s);
    return NULL;
}

split_result
split_run(int kind, enum test_id t, const transport_opts *o, double *lat_ns, uint32_t *nlat)
{
    split_pair *p = aligned_alloc(_Alignof(split_pair), sizeof(split_pair));
    pthread_t th[2];
    split_result res;
    int rc, i;

    if (p == NULL)
        fail("out of memory");
    memset(p, 0, sizeof(*p));
    p->t = t;
    p->kind = kind;
    p->warm_bytes = o->bytes < WARMUP_MAX ? o->bytes : WARMUP_MAX;
    p->bytes = o->bytes;
    p->warm_hs = o->handshakes < WARMUP_HS ? o->handshakes : WARMUP_HS;
    p->hs = o->handshakes;
    p->lat_ns = lat_ns;
    atomic_init(&p->rx_ready, 0);
    atomic_init(&p->warm_done, 0);
    atomic_init(&p->armed, 0);
    atomic_init(&p->timed_done, 0);
    atomic_init(&p->finished, 0);
    for (i = 0; i < 2; i++) {
        p->side[i].pair = p;
        atomic_init(&p->side[i].progress, 0);
        atomic_init(&p->side[i].live, 0);
    }
    rc = pthread_barrier_init(&p->gate, NULL, 2);
    if (rc != 0)
        fail("pthread_barrier_init: %s", strerror(rc));
    rc = pthread_create(&th[SIDE_LISTENER], NULL, split_listener, &p->side[SIDE_LISTENER]);
    if (rc == 0)
        rc = pthread_create(&th[SIDE_DIALER], NULL, split_dialer, &p->side[SIDE_DIALER]);
    if (rc != 0)
        fail("pthread_create: %s", strerror(rc));
    for (i = 0; i < 2; i++) {
        rc = pthread_join(th[i], NULL);
        if (rc != 0)
            fail("pthread_join: %s", strerror(rc));
    }
    pthread_barrier_destroy(&p->gate);
    res.wall_s = (double)(p->t1 - p->t0) / 1e9;
    for (i = 0; i < 2; i++)
        res.cpu_s[i] = (double)(p->side[i].cpu1 - p->side[i].cpu0) / 1e9;
    res.done = p->hs_done;
    if (nlat != NULL)
        *nlat = p->nlat;
    free(p);
    return res;
}
