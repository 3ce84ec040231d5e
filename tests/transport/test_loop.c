/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop conversation suite, run over io_uring and over epoll on
 * loopback: an echo of several MiB written in random chunks (byte-exact),
 * back-pressure (a send refused with WEFT_ELIMIT is followed by
 * on_writable), a refused dial, orderly close seen by both ends, many
 * concurrent connections, timers in order.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop_testutil.h"
#include "loopback.h"
#include "weft/loop.h"
#include "weft/rng.h"

/* Not const: cr_make_param_array stores a plain void * to its array. */
/* ---- echo ------------------------------------------------------------------- */

struct echo {
    weft_loop *loop;
    uint8_t *want;
    size_t total, sent, got;
    weft_conn *client;
    int server_closed, client_closed, refused, writable;
    weft_rng rng;
};

static void srv_data(weft_conn *c, void *u, const uint8_t *d, size_t n);
static void srv_close(weft_conn *c, void *u, int reason);
static const weft_conn_handler srv_h = {.on_data = srv_data, .on_close = srv_close};

static void
srv_data(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)u;
    /* Echo; the queue is 1 MiB and the client sends at most that much
     * ahead of what it has read back, so this never overflows. */
    cr_assert_eq(weft_conn_send(c, d, n), 0);
}

static void
srv_close(weft_conn *c, void *u, int reason)
{
    (void)c;
    struct echo *e = u;
    cr_assert_eq(reason, 0, "server saw close reason %d", reason);
    e->server_closed = 1;
}

static void
on_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    weft_conn_set_handler(c, &srv_h, u);
}

static void client_pump(struct echo *e);

static void
cli_data(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    struct echo *e = u;
    cr_assert_leq(e->got + n, e->sent);
    cr_assert(memcmp(e->want + e->got, d, n) == 0, "echo differs at %zu", e->got);
    e->got += n;
    if (e->got == e->total)
        weft_conn_close(c);
    else
        client_pump(e);
}

static void
cli_writable(weft_conn *c, void *u)
{
    (void)c;
    struct echo *e = u;
    e->writable++;
    client_pump(e);
}

static void
cli_close(weft_conn *c, void *u, int reason)
{
    (void)c;
    struct echo *e = u;
    cr_assert_eq(reason, 0);
    e->client_closed = 1;
}

static const weft_conn_handler cli_h = {
    .on_data = cli_data, .on_writable = cli_writable, .on_close = cli_close};

static void
client_pump(struct echo *e)
{
    /* Keep at most 512 KiB outstanding so the echo side never overflows. */
    while (e->sent < e->total && e->sent - e->got < (512u << 10)) {
        size_t n = 1 + weft_rng_next(&e->rng) % 65536;
        if (n > e->total - e->sent)
            n = e->total - e->sent;
        int rc = weft_conn_send(e->client, e->want + e->sent, n);
        if (rc == WEFT_ELIMIT)
            return;
        cr_assert_eq(rc, 0);
        e->sent += n;
    }
}

static void
on_connected(weft_conn *c, void *u, int status)
{
    struct echo *e = u;
    cr_assert_eq(status, 0, "dial: %s", weft_strerror(status));
    e->client = c;
    weft_conn_set_handler(c, &cli_h, e);
    client_pump(e);
}

static void
run_until(weft_loop *l, int *flag, int seconds)
{
    int64_t end = weft_loop_now(l) + (int64_t)seconds * 1000000000;
    while (!*flag && weft_loop_now(l) < end)
        cr_assert_geq(weft_loop_run_once(l, 50 * 1000000), 0);
}

ParameterizedTestParameters(loop, echo)
{
    return cr_make_param_array(int, kinds, 2);
}

/* A loop of this kind listening on loopback, and a dial to it that starts
 * the echo of total random bytes once connected. */
static void
echo_start(struct echo *e, int kind, size_t total, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    e->loop = new_loop(kind);
    e->total = total;
    e->want = malloc(e->total);
    cr_assert_not_null(e->want);
    weft_rng_seed(&e->rng, seed);
    weft_rng_bytes(&e->rng, e->want, e->total);
    weft_listener *ls;
    struct sockaddr_storage bound;
    socklen_t blen;
    cr_assert_eq(lb_listen(e->loop, on_accept, e, &ls, &bound, &blen), 0);
    cr_assert_neq(((struct sockaddr_in *)&bound)->sin_port, 0);
    cr_assert_eq(
        weft_dial(e->loop, (struct sockaddr *)&bound, blen, 5000000000LL, on_connected, e, NULL),
        0);
}

ParameterizedTest(int *kind, loop, echo)
{
    struct echo e;
    echo_start(&e, *kind, 6u << 20, 42);
    run_until(e.loop, &e.client_closed, 20);
    run_until(e.loop, &e.server_closed, 5);
    cr_assert_eq(e.got, e.total, "%s: echoed %zu of %zu", weft_loop_kind_name(e.loop), e.got,
                 e.total);
    cr_assert(e.client_closed && e.server_closed);
    weft_loop_stats st;
    weft_loop_get_stats(e.loop, &st);
    cr_assert_eq(st.bytes_in, 2 * (uint64_t)e.total);
    cr_assert_eq(st.bytes_out, 2 * (uint64_t)e.total);
    cr_assert_eq(st.conns_open, 0);
    weft_loop_free(e.loop);
    free(e.want);
}

/* ---- back-pressure ------------------------------------------------------------ */

/* The reader pauses. The writer sends whenever it may; once the kernel's
 * socket buffers and the 1 MiB queue are full, sends are refused and no
 * on_writable comes while the reader stays paused. When it resumes, the
 * writer is woken and makes progress again. */
struct bp {
    weft_loop *loop;
    weft_conn *server_side, *client;
    uint64_t accepted; /* bytes the writer's queue took */
    int64_t last_progress;
    int refusals, writable, connected;
};

static void
bp_pump(struct bp *b)
{
    static uint8_t chunk[65536];
    for (int i = 0; i < 1 << 16; i++) { /* bounded: 4 GiB */
        int rc = weft_conn_send(b->client, chunk, sizeof chunk);
        if (rc == WEFT_ELIMIT) {
            b->refusals++;
            return;
        }
        cr_assert_eq(rc, 0);
        b->accepted += sizeof chunk;
        b->last_progress = weft_loop_now(b->loop);
    }
}

static void
bp_sdata(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)c, (void)u, (void)d, (void)n;
}

static const weft_conn_handler bp_sh = {.on_data = bp_sdata};

static void
bp_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    struct bp *b = u;
    b->server_side = c;
    weft_conn_set_handler(c, &bp_sh, b);
    weft_conn_pause(c, 1);
}

static void
bp_writable(weft_conn *c, void *u)
{
    (void)c;
    struct bp *b = u;
    b->writable++;
    bp_pump(b);
}

static void
bp_connected(weft_conn *c, void *u, int status)
{
    struct bp *b = u;
    cr_assert_eq(status, 0);
    static const weft_conn_handler h = {.on_data = bp_sdata, .on_writable = bp_writable};
    b->client = c;
    weft_conn_set_handler(c, &h, b);
    b->connected = 1;
    bp_pump(b);
}

ParameterizedTestParameters(loop, backpressure)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop, backpressure)
{
    struct bp b = {0};
    weft_loop *l = b.loop = new_loop(*kind);
    weft_listener *ls;
    struct sockaddr_storage bound;
    socklen_t blen;
    cr_assert_eq(lb_listen(l, bp_accept, &b, &ls, &bound, &blen), 0);
    cr_assert_eq(weft_dial(l, (struct sockaddr *)&bound, blen, 0, bp_connected, &b, NULL), 0);
    run_until(l, &b.connected, 5);
    /* Until nothing moved for 300 ms (kernel buffers and queue full). */
    int64_t end = weft_loop_now(l) + 10000000000LL;
    while (weft_loop_now(l) < end && weft_loop_now(l) - b.last_progress < 300000000LL)
        weft_loop_run_once(l, 20 * 1000000);
    cr_assert_gt(b.refusals, 0, "the writer was never refused");
    cr_assert_lt(b.accepted, 256ull << 20, "%llu bytes accepted while the reader was paused",
                 (unsigned long long)b.accepted);
    /* Stalled means: below the low-water mark (256 KiB for a 1 MiB queue)
     * on_writable would have fired and the writer would have moved on. */
    cr_assert_geq(weft_conn_queued(b.client), 256u << 10,
                  "stalled at %zu queued, under the low-water mark (%d refusals, %d wakes)",
                  weft_conn_queued(b.client), b.refusals, b.writable);
    uint64_t stalled_at = b.accepted;
    int woken = b.writable;
    weft_conn_pause(b.server_side, 0);
    end = weft_loop_now(l) + 10000000000LL;
    while (weft_loop_now(l) < end && b.accepted < stalled_at + (8u << 20))
        weft_loop_run_once(l, 20 * 1000000);
    cr_assert_gt(b.writable, woken, "no on_writable after the reader resumed");
    cr_assert_geq(b.accepted, stalled_at + (8u << 20), "no progress after the reader resumed");
    weft_loop_free(l);
}

/* ---- refused dial, timers ------------------------------------------------------ */

static void
refused_cb(weft_conn *c, void *u, int status)
{
    (void)c;
    *(int *)u = status;
}

ParameterizedTestParameters(loop, refused)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop, refused)
{
    weft_loop *l = new_loop(*kind);
    /* Bind a port and close it so nobody listens there. */
    weft_listener *ls;
    struct sockaddr_storage bound;
    socklen_t blen;
    cr_assert_eq(lb_listen(l, on_accept, NULL, &ls, &bound, &blen), 0);
    weft_listener_close(ls);
    for (int i = 0; i < 3; i++)
        weft_loop_run_once(l, 1000000);
    int status = 1;
    cr_assert_eq(
        weft_dial(l, (struct sockaddr *)&bound, blen, 2000000000LL, refused_cb, &status, NULL), 0);
    int64_t end = weft_loop_now(l) + 3000000000LL;
    while (status == 1 && weft_loop_now(l) < end)
        weft_loop_run_once(l, 10 * 1000000);
    cr_assert_eq(status, -ECONNREFUSED, "status %d (%s)", status, weft_strerror(status));
    weft_loop_free(l);
}

struct tick {
    int order[4];
    int n;
};

static void
tick_fn(weft_timer *t, void *u)
{
    struct tick *k = u;
    k->order[k->n++] = (int)(t->deadline % 10);
}

ParameterizedTestParameters(loop, timers)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop, timers)
{
    weft_loop *l = new_loop(*kind);
    struct tick k = {0};
    weft_timer t[4];
    int64_t now = weft_loop_now(l);
    /* deadlines end in digits 3, 1, 2, 0 (ms apart): must fire 1, 2, 3 */
    int64_t at[4] = {now + 30000003 - now % 10, now + 10000001 - now % 10,
                     now + 20000002 - now % 10, now + 40000000 - now % 10};
    for (int i = 0; i < 4; i++) {
        weft_timer_init(&t[i], tick_fn, &k);
        cr_assert_eq(weft_timer_arm(l, &t[i], at[i]), 0);
    }
    weft_timer_disarm(l, &t[3]);
    cr_assert(!weft_timer_armed(&t[3]));
    int64_t end = now + 1000000000;
    while (k.n < 3 && weft_loop_now(l) < end)
        weft_loop_run_once(l, -1);
    cr_assert_eq(k.n, 3);
    cr_assert(k.order[0] == 1 && k.order[1] == 2 && k.order[2] == 3, "order %d %d %d", k.order[0],
              k.order[1], k.order[2]);
    weft_loop_free(l);
}

/* ---- cross-thread wake-up ------------------------------------------------------ */

#include <pthread.h>
#include <stdatomic.h>

struct waker {
    weft_loop *loop;
    atomic_int posted; /* items another thread queued */
    int seen;          /* items the loop thread drained */
    int runs;
};

static void
wake_fn(weft_loop *l, void *user)
{
    (void)l;
    struct waker *w = user;
    w->runs++;
    w->seen = atomic_load(&w->posted);
}

static void *
wake_thread(void *arg)
{
    struct waker *w = arg;
    for (int i = 0; i < 1000; i++) {
        atomic_fetch_add(&w->posted, 1);
        weft_loop_wake(w->loop);
    }
    return NULL;
}

ParameterizedTestParameters(loop, wake_from_thread)
{
    return cr_make_param_array(int, kinds, 2);
}

/* A loop waiting with no timer and no socket wakes for another thread's
 * weft_loop_wake, runs the handler on its own thread, and sees every post;
 * weft_loop_stop from that thread ends weft_loop_run. */
ParameterizedTest(int *kind, loop, wake_from_thread)
{
    weft_loop *l = new_loop(*kind);
    struct waker w = {.loop = l};
    weft_loop_wake(l); /* before set_wake: harmless */
    cr_assert_eq(weft_loop_set_wake(l, wake_fn, &w), 0);
    cr_assert_eq(weft_loop_set_wake(l, wake_fn, &w), WEFT_EINVAL, "only one handler");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, wake_thread, &w), 0);
    int64_t end = weft_loop_now(l) + 5000000000LL;
    while (w.seen < 1000 && weft_loop_now(l) < end)
        weft_loop_run_once(l, 1000000000LL);
    pthread_join(th, NULL);
    cr_assert_eq(w.seen, 1000, "seen %d of 1000", w.seen);
    cr_assert(w.runs >= 1 && w.runs <= 1000, "runs %d", w.runs);

    /* An idle wait returns promptly on a wake. */
    int before = w.runs;
    cr_assert_eq(pthread_create(&th, NULL, wake_thread, &w), 0);
    pthread_join(th, NULL);
    int64_t t0 = weft_loop_now(l);
    weft_loop_run_once(l, 3000000000LL);
    cr_assert(w.runs > before);
    cr_assert(weft_loop_now(l) - t0 < 2000000000LL, "woke after %lld ns",
              (long long)(weft_loop_now(l) - t0));
    weft_loop_free(l);
}

/* ---- a loop made in one thread and run in another ------------------------------ */

/* io_uring's ring accepts submissions from one thread only (the first that
 * submits): the echo conversation, set up (listen, dial) by this thread and
 * run entirely by another, must still complete. */
static void *
echo_runner(void *arg)
{
    struct echo *e = arg;
    int64_t end = weft_loop_now(e->loop) + 20000000000LL;
    while (!(e->client_closed && e->server_closed) && weft_loop_now(e->loop) < end)
        if (weft_loop_run_once(e->loop, 50 * 1000000) < 0)
            break;
    return NULL;
}

ParameterizedTestParameters(loop, run_in_other_thread)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop, run_in_other_thread)
{
    struct echo e;
    echo_start(&e, *kind, 2u << 20, 7);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, echo_runner, &e), 0);
    pthread_join(th, NULL);
    cr_assert_eq(e.got, e.total, "%s: echoed %zu of %zu", weft_loop_kind_name(e.loop), e.got,
                 e.total);
    cr_assert(e.client_closed && e.server_closed);
    weft_loop_free(e.loop);
    free(e.want);
}

/* ---- zero-copy send: reserve and commit ---------------------------------------- */

struct rc_pair {
    weft_conn *client;
    uint8_t got[4096];
    size_t ngot;
    int connected;
};

static void
rc_sdata(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)c;
    struct rc_pair *p = u;
    cr_assert_leq(p->ngot + n, sizeof p->got, "more bytes than were committed");
    memcpy(p->got + p->ngot, d, n);
    p->ngot += n;
}

static void
rc_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    static const weft_conn_handler h = {.on_data = rc_sdata};
    weft_conn_set_handler(c, &h, u);
}

static void
rc_cdata(weft_conn *c, void *u, const uint8_t *d, size_t n)
{
    (void)c, (void)u, (void)d, (void)n;
}

static void
rc_connected(weft_conn *c, void *u, int status)
{
    struct rc_pair *p = u;
    cr_assert_eq(status, 0);
    static const weft_conn_handler h = {.on_data = rc_cdata};
    weft_conn_set_handler(c, &h, p);
    p->client = c;
    p->connected = 1;
}

ParameterizedTestParameters(loop, reserve_commit)
{
    return cr_make_param_array(int, kinds, 2);
}

/* Only the committed prefix of a reservation goes out, in order with plain
 * sends; a reservation past the queue bound is refused like a send; a
 * commit larger than the room reserved is refused and queues nothing. */
ParameterizedTest(int *kind, loop, reserve_commit)
{
    struct rc_pair p = {0};
    weft_loop *l = new_loop(*kind); /* queue bound 1 MiB */
    weft_listener *ls;
    struct sockaddr_storage bound;
    socklen_t blen;
    cr_assert_eq(lb_listen(l, rc_accept, &p, &ls, &bound, &blen), 0);
    cr_assert_eq(weft_dial(l, (struct sockaddr *)&bound, blen, 0, rc_connected, &p, NULL), 0);
    run_until(l, &p.connected, 5);

    int err = 0;
    cr_assert_null(weft_conn_send_reserve(p.client, (1u << 20) + 1, &err));
    cr_assert_eq(err, WEFT_ELIMIT);
    uint8_t *dst = weft_conn_send_reserve(p.client, 1000, &err);
    cr_assert_not_null(dst, "reserve: %s", weft_strerror(err));
    for (int i = 0; i < 1000; i++)
        dst[i] = (uint8_t)(i * 7 + 1);
    cr_assert_eq(weft_conn_send_commit(p.client, 600), 0);
    cr_assert_eq(weft_conn_send(p.client, "tail", 4), 0);
    dst = weft_conn_send_reserve(p.client, 16, &err);
    cr_assert_not_null(dst);
    cr_assert_eq(weft_conn_send_commit(p.client, (size_t)1 << 40), WEFT_EINVAL);
    cr_assert_eq(weft_conn_send_commit(p.client, 0), 0);

    int64_t end = weft_loop_now(l) + 5000000000LL;
    while (p.ngot < 604 && weft_loop_now(l) < end)
        weft_loop_run_once(l, 20 * 1000000);
    for (int i = 0; i < 20; i++) /* anything extra would show up now */
        weft_loop_run_once(l, 5 * 1000000);
    cr_assert_eq(p.ngot, 604, "received %zu bytes, committed 604", p.ngot);
    for (int i = 0; i < 600; i++)
        cr_assert_eq(p.got[i], (uint8_t)(i * 7 + 1), "byte %d", i);
    cr_assert(memcmp(p.got + 600, "tail", 4) == 0);

    weft_loop_free(l);
}

/* ---- nodelay ---------------------------------------------------------------------- */

ParameterizedTestParameters(loop, nodelay)
{
    return cr_make_param_array(int, kinds, 2);
}

/* With nodelay a small write is in the kernel when weft_conn_send returns:
 * a plain socket at the other end can read it before the loop turns. io_uring
 * otherwise holds it for the wait (the peer sees nothing yet); the bytes
 * still arrive, in order, once the loop runs. */
ParameterizedTest(int *kind, loop, nodelay)
{
    weft_loop *l = new_loop(*kind);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(lfd, 0);
    struct sockaddr_in sa = lb_addr(0);
    socklen_t salen = sizeof sa;
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
    struct rc_pair x = {0}; /* the client end only: the server is a plain socket */
    cr_assert_eq(weft_dial(l, (struct sockaddr *)&sa, salen, 0, rc_connected, &x, NULL), 0);
    run_until(l, &x.connected, 5);
    int sfd = accept(lfd, NULL, NULL);
    cr_assert_geq(sfd, 0);

    char buf[16];
    weft_conn_set_nodelay(x.client, 1);
    cr_assert_eq(weft_conn_send(x.client, "now", 3), 0);
    cr_assert_eq(recv(sfd, buf, sizeof buf, MSG_DONTWAIT), 3, "nodelay: not sent at once");
    cr_assert(memcmp(buf, "now", 3) == 0);

    weft_conn_set_nodelay(x.client, 0);
    cr_assert_eq(weft_conn_send(x.client, "later", 5), 0);
    ssize_t n = recv(sfd, buf, sizeof buf, MSG_DONTWAIT);
    if (*kind == WEFT_LOOP_URING)
        cr_assert_eq(n, -1, "io_uring sent a small write before the wait");
    size_t got = n > 0 ? (size_t)n : 0;
    int64_t end = weft_loop_now(l) + 2000000000LL;
    while (got < 5 && weft_loop_now(l) < end) {
        weft_loop_run_once(l, 10 * 1000000);
        n = recv(sfd, buf + got, sizeof buf - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
    }
    cr_assert_eq(got, 5);
    cr_assert(memcmp(buf, "later", 5) == 0);
    close(sfd);
    close(lfd);
    weft_loop_free(l);
}

/* ---- addresses ------------------------------------------------------------------ */

/* The accepted connection's local address is the listener's, and each end's
 * peer address is the other end's local one. */
struct addrs {
    weft_conn *server_side, *client;
};

static const weft_conn_handler addrs_h = {.on_data = bp_sdata};

static void
addrs_accept(weft_listener *l, void *u, weft_conn *c)
{
    (void)l;
    struct addrs *a = u;
    a->server_side = c;
    weft_conn_set_handler(c, &addrs_h, a);
}

static void
addrs_connected(weft_conn *c, void *u, int status)
{
    struct addrs *a = u;
    cr_assert_eq(status, 0, "dial: %s", weft_strerror(status));
    a->client = c;
    weft_conn_set_handler(c, &addrs_h, a);
}

static void
assert_same_inet(const struct sockaddr_storage *x, socklen_t xlen, const struct sockaddr_storage *y,
                 socklen_t ylen, const char *what)
{
    const struct sockaddr_in *a = (const struct sockaddr_in *)x;
    const struct sockaddr_in *b = (const struct sockaddr_in *)y;
    cr_assert_eq(xlen, sizeof *a, "%s: length %u", what, (unsigned)xlen);
    cr_assert_eq(ylen, sizeof *b, "%s: length %u", what, (unsigned)ylen);
    cr_assert_eq(a->sin_family, AF_INET, "%s", what);
    cr_assert_eq(b->sin_family, AF_INET, "%s", what);
    cr_assert_eq(a->sin_addr.s_addr, b->sin_addr.s_addr, "%s: address", what);
    cr_assert_eq(a->sin_port, b->sin_port, "%s: port %u vs %u", what, ntohs(a->sin_port),
                 ntohs(b->sin_port));
}

ParameterizedTestParameters(loop, addresses)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop, addresses)
{
    weft_loop *l = new_loop(*kind);
    struct addrs a = {0};
    struct sockaddr_in sa = lb_addr(0);
    weft_listener *ls;
    cr_assert_eq(weft_listen(l, (struct sockaddr *)&sa, sizeof sa, addrs_accept, &a, &ls), 0);
    struct sockaddr_storage bound;
    socklen_t blen;
    weft_listener_addr(ls, &bound, &blen);
    cr_assert_eq(
        weft_dial(l, (struct sockaddr *)&bound, blen, 5000000000LL, addrs_connected, &a, NULL), 0);
    int64_t end = weft_loop_now(l) + 5 * 1000000000LL;
    while ((!a.client || !a.server_side) && weft_loop_now(l) < end)
        cr_assert_geq(weft_loop_run_once(l, 50 * 1000000), 0);
    cr_assert(a.client && a.server_side, "no connection within 5 s");

    struct sockaddr_storage cl, cp, sl, sp;
    socklen_t cll, cpl, sll, spl;
    cr_assert_eq(weft_conn_local_addr(a.client, &cl, &cll), 0);
    cr_assert_eq(weft_conn_peer_addr(a.client, &cp, &cpl), 0);
    cr_assert_eq(weft_conn_local_addr(a.server_side, &sl, &sll), 0);
    cr_assert_eq(weft_conn_peer_addr(a.server_side, &sp, &spl), 0);
    assert_same_inet(&sl, sll, &bound, blen, "accepted local vs listener");
    assert_same_inet(&cp, cpl, &sl, sll, "client peer vs server local");
    assert_same_inet(&sp, spl, &cl, cll, "server peer vs client local");
    cr_assert_neq(((struct sockaddr_in *)&cl)->sin_port, ((struct sockaddr_in *)&sl)->sin_port);
    weft_loop_free(l);
}

ParameterizedTestParameters(loop, stop_before_run)
{
    return cr_make_param_array(int, kinds, 2);
}

/* A stop requested before weft_loop_run (weft-node's SIGTERM during
 * start-up) ends the run at once instead of being forgotten; the run
 * consumes it, so the next run waits again (here until its timer stops it). */
static void
stop_timer(weft_timer *t, void *user)
{
    (void)t;
    weft_loop_stop(user);
}

ParameterizedTest(int *kind, loop, stop_before_run)
{
    weft_loop *l = new_loop(*kind);
    weft_loop_stop(l);
    int64_t t0 = weft_loop_now(l);
    weft_timer guard;
    weft_timer_init(&guard, stop_timer, l);
    cr_assert_eq(weft_timer_arm(l, &guard, t0 + 3000000000LL), 0);
    cr_assert_eq(weft_loop_run(l), 0);
    cr_assert_lt(weft_loop_now(l) - t0, 1000000000LL, "a stop before the run was lost");
    weft_timer_disarm(l, &guard);
    cr_assert_eq(weft_timer_arm(l, &guard, weft_loop_now(l) + 50000000LL), 0);
    int64_t t1 = weft_loop_now(l);
    cr_assert_eq(weft_loop_run(l), 0);
    cr_assert_geq(weft_loop_now(l) - t1, 40000000LL, "the earlier stop was not consumed");
    weft_loop_free(l);
}
