/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux engine (weft/yamux.h). Frames the session writes are checked
 * byte-exactly against the header layout of the hashicorp spec; two
 * sessions wired back to back in memory exchange many streams with random
 * write sizes delivered in random chunk sizes (seeded: WEFT_TEST_SEED
 * replays a failure, and every assertion prints the seed); flow control is
 * checked for back-pressure at 256 KiB, resumption on consumption and window
 * growth; then FIN/RST semantics, ping/keep-alive, go-away, every protocol
 * violation, stream floods (state measured with weft_yamux_mem_usage),
 * output limits and callbacks that reset streams mid-delivery.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/buf.h"
#include "weft/yamux.h"

#define KIB 1024u
#define MAXID 4096

/* ---- seeded generator ---------------------------------------------------- */

static uint64_t
test_seed(void)
{
    const char *e = getenv("WEFT_TEST_SEED");
    if (e != NULL)
        return strtoull(e, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
}

typedef struct rng {
    uint64_t x;
} rng;

static uint64_t
rnext(rng *r)
{
    uint64_t z = (r->x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t
rbelow(rng *r, size_t n)
{
    return (size_t)(rnext(r) % n);
}

/* The byte at offset off of the data side `side` sends on stream id. */
static uint8_t
pat(uint32_t id, int side, uint64_t off)
{
    uint32_t h = id * 2654435761u + (uint32_t)side * 40503u;
    return (uint8_t)(h + off * 7 + (off >> 9));
}

/* ---- two endpoints --------------------------------------------------------- */

typedef struct sctx {
    uint32_t id;
    weft_yamux_stream *st;
    uint64_t tx, tx_target, rx;
    int fin, reset, closed, close_err, writable, inbound;
} sctx;

typedef struct peer {
    weft_yamux *s;
    int side; /* 0 client, 1 server */
    uint64_t seed;
    sctx *ctx[MAXID];
    int n_open_events, n_close_events;
    int goaway_seen;
    uint32_t goaway_code;
    int rtt_seen;
    uint64_t last_rtt;
    size_t max_piece;
    /* behaviour switches */
    int reset_on_open;
    int reset_in_data;
    int consume_in_data; /* with manual_consume: consume at once */
    int nested_rc;
} peer;

static sctx *
ctx_for(peer *p, weft_yamux_stream *st, int inbound)
{
    uint32_t id = weft_yamux_stream_id(st);
    cr_assert_lt(id, MAXID, "seed %" PRIu64, p->seed);
    cr_assert_null(p->ctx[id], "stream id %u reused (seed %" PRIu64 ")", id, p->seed);
    sctx *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    c->id = id;
    c->st = st;
    c->inbound = inbound;
    p->ctx[id] = c;
    weft_yamux_stream_set_user(st, c);
    return c;
}

static void
cb_open(weft_yamux *s, weft_yamux_stream *st)
{
    peer *p = weft_yamux_user(s);
    p->n_open_events++;
    ctx_for(p, st, 1);
    if (p->reset_on_open)
        cr_assert_eq(weft_yamux_stream_reset(st), 0);
}

static void
cb_data(weft_yamux *s, weft_yamux_stream *st, const uint8_t *d, size_t n)
{
    peer *p = weft_yamux_user(s);
    sctx *c = weft_yamux_stream_user(st);
    cr_assert_gt(n, 0);
    cr_assert_not(c->fin, "data after FIN on %u (seed %" PRIu64 ")", c->id, p->seed);
    if (n > p->max_piece)
        p->max_piece = n;
    for (size_t i = 0; i < n; i++)
        if (d[i] != pat(c->id, 1 - p->side, c->rx + i))
            cr_assert_fail("stream %u byte %" PRIu64 " corrupt (seed %" PRIu64 ")", c->id,
                           c->rx + i, p->seed);
    c->rx += n;
    uint8_t junk = 0;
    p->nested_rc = weft_yamux_input(s, &junk, 1, 0);
    if (p->consume_in_data)
        cr_assert_eq(weft_yamux_stream_consumed(st, n), 0);
    if (p->reset_in_data)
        cr_assert_eq(weft_yamux_stream_reset(st), 0);
}

static void
cb_fin(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->fin++;
}

static void
cb_reset(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->reset++;
}

static void
cb_writable(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->writable++;
}

static void
cb_close(weft_yamux *s, weft_yamux_stream *st, int err)
{
    peer *p = weft_yamux_user(s);
    sctx *c = weft_yamux_stream_user(st);
    p->n_close_events++;
    if (c == NULL)
        return;
    cr_assert_not(c->closed, "double close of %u", c->id);
    c->closed = 1;
    c->close_err = err;
    c->st = NULL;
}

static void
cb_goaway(weft_yamux *s, uint32_t code)
{
    peer *p = weft_yamux_user(s);
    p->goaway_seen++;
    p->goaway_code = code;
}

static void
cb_rtt(weft_yamux *s, uint64_t rtt)
{
    peer *p = weft_yamux_user(s);
    p->rtt_seen++;
    p->last_rtt = rtt;
}

static weft_yamux_config
base_config(peer *p)
{
    weft_yamux_config c;
    weft_yamux_config_default(&c);
    c.keepalive = 0;
    c.user = p;
    c.on_stream_open = cb_open;
    c.on_data = cb_data;
    c.on_fin = cb_fin;
    c.on_reset = cb_reset;
    c.on_writable = cb_writable;
    c.on_stream_close = cb_close;
    c.on_goaway = cb_goaway;
    c.on_ping_rtt = cb_rtt;
    return c;
}

static void
peer_init(peer *p, int side, uint64_t seed, const weft_yamux_config *cfg)
{
    memset(p, 0, sizeof *p);
    p->side = side;
    p->seed = seed;
    weft_yamux_config c = cfg ? *cfg : base_config(p);
    c.user = p;
    cr_assert_eq(weft_yamux_new(&p->s, &c, side == 0, 0), 0);
}

static void
peer_fini(peer *p)
{
    weft_yamux_free(p->s);
    for (int i = 0; i < MAXID; i++)
        free(p->ctx[i]);
}

/* Move up to max bytes of a's output into b, in chunks of 1..maxchunk.
 * Returns the bytes moved. */
static size_t
transfer(peer *a, peer *b, rng *r, size_t maxchunk, size_t max, uint64_t now)
{
    size_t moved = 0;
    static uint8_t chunk[256 * 1024 + 7];
    while (moved < max) {
        size_t n;
        const uint8_t *p = weft_yamux_pending(a->s, &n);
        if (n == 0)
            break;
        size_t want = 1 + rbelow(r, maxchunk);
        if (want > n)
            want = n;
        if (want > max - moved)
            want = max - moved;
        if (want > sizeof chunk - 7)
            want = sizeof chunk - 7;
        /* odd offsets: the parser must not care about alignment */
        uint8_t *dst = chunk + (moved % 7);
        memcpy(dst, p, want);
        weft_yamux_sent(a->s, want);
        int rc = weft_yamux_input(b->s, dst, want, now);
        cr_assert_eq(rc, 0, "input failed %d (seed %" PRIu64 ")", rc, a->seed);
        moved += want;
    }
    return moved;
}

static void
pump(peer *a, peer *b, rng *r, size_t maxchunk, uint64_t now)
{
    for (int i = 0; i < 1000000; i++) {
        size_t m = transfer(a, b, r, maxchunk, SIZE_MAX, now);
        m += transfer(b, a, r, maxchunk, SIZE_MAX, now);
        if (m == 0)
            return;
    }
    cr_assert_fail("pump did not settle (seed %" PRIu64 ")", a->seed);
}

static sctx *
open_stream(peer *p)
{
    weft_yamux_stream *st;
    cr_assert_eq(weft_yamux_open(p->s, &st), 0);
    return ctx_for(p, st, 0);
}

/* Write the next bytes of c's pattern, up to n. Returns what was accepted. */
static size_t
write_pat(peer *p, sctx *c, size_t n)
{
    static uint8_t buf[1 << 20];
    if (n > sizeof buf)
        n = sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = pat(c->id, p->side, c->tx + i);
    ptrdiff_t rc = weft_yamux_stream_write(c->st, buf, n);
    if (rc == WEFT_EAGAIN)
        return 0;
    cr_assert_geq(rc, 0, "write %td (seed %" PRIu64 ")", rc, p->seed);
    c->tx += (size_t)rc;
    return (size_t)rc;
}

/* Drain a session's output, returning a copy. */
static size_t
drain(weft_yamux *s, uint8_t *out, size_t cap)
{
    size_t n;
    const uint8_t *p = weft_yamux_pending(s, &n);
    cr_assert_leq(n, cap);
    if (n)
        memcpy(out, p, n);
    weft_yamux_sent(s, n);
    return n;
}

static void
expect_frame(const uint8_t *got, const char *hex, const char *what)
{
    uint8_t want[12];
    for (int i = 0; i < 12; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        want[i] = (uint8_t)v;
    }
    cr_assert(memcmp(got, want, 12) == 0,
              "%s: got %02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x want %s", what, got[0],
              got[1], got[2], got[3], got[4], got[5], got[6], got[7], got[8], got[9], got[10],
              got[11], hex);
}

static void
feed(peer *p, uint8_t type, uint16_t flags, uint32_t id, uint32_t len, int want_rc)
{
    uint8_t h[12];
    weft_yamux_put_header(h, type, flags, id, len);
    int rc = weft_yamux_input(p->s, h, 12, 0);
    cr_assert_eq(rc, want_rc, "frame type %u flags %u id %u len %u: rc %d want %d", type, flags, id,
                 len, rc, want_rc);
}

/* ---- frames ------------------------------------------------------------------- */

Test(yamux, header_layout)
{
    uint8_t h[12];
    weft_yamux_put_header(h, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN | WEFT_YAMUX_FIN, 0x01020304u,
                          0xA0B0C0D0u);
    expect_frame(h, "0001000501020304a0b0c0d0", "put_header");
}

Test(yamux, frames_byte_exact)
{
    peer c, s;
    peer_init(&c, 0, 0, NULL);
    peer_init(&s, 1, 0, NULL);
    uint8_t out[256];

    /* The server's first stream is 2. */
    sctx *d = open_stream(&s);
    cr_assert_eq(d->id, 2);
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000100010000000200000000", "server SYN");

    sctx *a = open_stream(&c);
    cr_assert_eq(a->id, 1);
    cr_assert_eq(drain(c.s, out, sizeof out), 12);
    expect_frame(out, "000100010000000100000000", "SYN");

    cr_assert_eq(write_pat(&c, a, 3), 3);
    cr_assert_eq(drain(c.s, out, sizeof out), 15);
    expect_frame(out, "000000000000000100000003", "data");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(out[12 + i], pat(1, 0, (uint64_t)i));

    cr_assert_eq(weft_yamux_stream_close(a->st), 0);
    cr_assert_eq(drain(c.s, out, sizeof out), 12);
    expect_frame(out, "000100040000000100000000", "FIN");

    sctx *b = open_stream(&c);
    cr_assert_eq(b->id, 3);
    cr_assert_eq(weft_yamux_stream_reset(b->st), 0);
    cr_assert_eq(drain(c.s, out, sizeof out), 24);
    expect_frame(out + 12, "000100080000000300000000", "RST");

    /* The server ACKs a SYN at once. */
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 5, 0, 0);
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000100020000000500000000", "ACK");
    cr_assert_eq(s.ctx[5]->inbound, 1);

    /* Ping answered with ACK and the same opaque value. */
    feed(&s, WEFT_YAMUX_PING, WEFT_YAMUX_SYN, 0, 0xDEADBEEF, 0);
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "0002000200000000deadbeef", "pong");

    cr_assert_eq(weft_yamux_goaway(s.s, WEFT_YAMUX_GOAWAY_NORMAL), 0);
    cr_assert_eq(weft_yamux_goaway(s.s, 2), 0, "second go-away is a no-op");
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000300000000000000000000", "go-away");

    cr_assert_eq(weft_yamux_ping(c.s, 0), 0);
    cr_assert_eq(weft_yamux_ping(c.s, 0), WEFT_EAGAIN);
    cr_assert_eq(drain(c.s, out, sizeof out), 12);
    expect_frame(out, "000200010000000000000001", "ping");

    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, larger_initial_window_rides_on_syn_and_ack)
{
    peer c, s;
    memset(&c, 0, sizeof c);
    weft_yamux_config cfg = base_config(&c);
    cfg.initial_window = 1024 * KIB;
    peer_init(&c, 0, 0, &cfg);
    peer_init(&s, 1, 0, &cfg);
    uint8_t out[64];
    sctx *a = open_stream(&c);
    cr_assert_eq(drain(c.s, out, sizeof out), 12);
    expect_frame(out, "0001000100000001000c0000", "SYN + 768 KiB");
    cr_assert_eq(weft_yamux_input(s.s, out, 12, 0), 0);
    cr_assert_eq(weft_yamux_stream_send_window(s.ctx[1]->st), 1024 * KIB);
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "0001000200000001000c0000", "ACK + 768 KiB");
    cr_assert_eq(weft_yamux_input(c.s, out, 12, 0), 0);
    cr_assert_eq(weft_yamux_stream_send_window(a->st), 1024 * KIB);
    cr_assert_eq(weft_yamux_stream_recv_window(a->st), 1024 * KIB);
    peer_fini(&c);
    peer_fini(&s);
}

/* ---- back to back ------------------------------------------------------------- */

static void
random_exchange(uint64_t seed, int nstreams, size_t maxchunk, size_t max_total)
{
    rng r = {seed};
    peer c, s;
    peer_init(&c, 0, seed, NULL);
    peer_init(&s, 1, seed, NULL);
    size_t idle_c = weft_yamux_mem_usage(c.s), idle_s = weft_yamux_mem_usage(s.s);

    sctx *all[2][512];
    int n[2] = {0, 0};
    for (int i = 0; i < nstreams; i++) {
        peer *p = rbelow(&r, 3) ? &c : &s;
        sctx *x = open_stream(p);
        x->tx_target = rbelow(&r, max_total + 1);
        all[p->side][n[p->side]++] = x;
    }
    /* Inbound streams send too, once the SYN has arrived. */
    pump(&c, &s, &r, maxchunk, 0);
    for (int side = 0; side < 2; side++) {
        peer *p = side ? &s : &c;
        for (int id = 1; id < MAXID; id++)
            if (p->ctx[id] && p->ctx[id]->inbound) {
                p->ctx[id]->tx_target = rbelow(&r, max_total + 1);
                all[side][n[side]++] = p->ctx[id];
            }
    }
    for (int round = 0;; round++) {
        cr_assert_lt(round, 200000, "no progress (seed %" PRIu64 ")", seed);
        int busy = 0;
        for (int side = 0; side < 2; side++) {
            peer *p = side ? &s : &c;
            for (int i = 0; i < n[side]; i++) {
                sctx *x = all[side][i];
                if (x->tx < x->tx_target) {
                    busy = 1;
                    size_t want = 1 + rbelow(&r, 100 * KIB);
                    if (want > x->tx_target - x->tx)
                        want = x->tx_target - x->tx;
                    write_pat(p, x, want);
                    /* the window is never overdrawn */
                    cr_assert_leq(x->tx, x->tx_target);
                } else if (!x->closed && weft_yamux_stream_close(x->st) != 0) {
                    cr_assert_fail("close failed (seed %" PRIu64 ")", seed);
                }
            }
        }
        pump(&c, &s, &r, maxchunk, 0);
        if (!busy)
            break;
    }
    pump(&c, &s, &r, maxchunk, 0);
    cr_assert_eq(weft_yamux_tick(c.s, 0), 0);
    cr_assert_eq(weft_yamux_tick(s.s, 0), 0);
    for (int side = 0; side < 2; side++) {
        peer *p = side ? &s : &c, *q = side ? &c : &s;
        for (int id = 1; id < MAXID; id++) {
            sctx *x = p->ctx[id];
            if (!x)
                continue;
            cr_assert_not_null(q->ctx[id], "stream %u unknown on the other side", id);
            cr_assert_eq(x->rx, q->ctx[id]->tx_target,
                         "stream %u side %d got %" PRIu64 " of %" PRIu64 " (seed %" PRIu64 ")", id,
                         side, x->rx, q->ctx[id]->tx_target, seed);
            cr_assert_eq(x->fin, 1, "stream %u FIN (seed %" PRIu64 ")", id, seed);
            cr_assert_eq(x->reset, 0);
            cr_assert(x->closed && x->close_err == 0,
                      "stream %u not closed cleanly (seed %" PRIu64 ")", id, seed);
        }
    }
    cr_assert_eq(weft_yamux_num_inbound(c.s) + weft_yamux_num_outbound(c.s), 0);
    cr_assert_eq(weft_yamux_num_inbound(s.s) + weft_yamux_num_outbound(s.s), 0);
    cr_assert_leq(c.max_piece, 64 * KIB);
    /* Back to (about) idle: streams freed, output released. */
    cr_assert_leq(weft_yamux_mem_usage(c.s), idle_c + 20 * KIB, "seed %" PRIu64, seed);
    cr_assert_leq(weft_yamux_mem_usage(s.s), idle_s + 20 * KIB, "seed %" PRIu64, seed);
    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, back_to_back_random, .timeout = 120)
{
    uint64_t seed = test_seed();
    fprintf(stderr, "yamux back_to_back_random seed %" PRIu64 "\n", seed);
    random_exchange(seed, 60, 70 * KIB, 700 * KIB);
    random_exchange(seed + 1, 8, 1, 20 * KIB);   /* byte by byte */
    random_exchange(seed + 2, 200, 13, 4 * KIB); /* many small streams, tiny chunks */
    random_exchange(seed + 3, 4, 256 * KIB, 3 * 1024 * KIB);
}

/* ---- flow control ------------------------------------------------------------- */

Test(yamux, backpressure_at_256k_then_resume)
{
    uint64_t seed = test_seed();
    rng r = {seed};
    peer c, s;
    memset(&s, 0, sizeof s);
    peer_init(&c, 0, seed, NULL);
    weft_yamux_config scfg = base_config(&s);
    scfg.manual_consume = 1;
    peer_init(&s, 1, seed, &scfg);

    sctx *a = open_stream(&c);
    size_t total = 0;
    for (int i = 0; i < 100; i++)
        total += write_pat(&c, a, 100 * KIB);
    cr_assert_eq(total, 256 * KIB, "writer took %zu before blocking", total);
    cr_assert_eq(weft_yamux_stream_write(a->st, "x", 1), WEFT_EAGAIN);
    pump(&c, &s, &r, 5000, 0);
    sctx *b = s.ctx[1];
    cr_assert_eq(b->rx, 256 * KIB);
    cr_assert_eq(weft_yamux_stream_recv_window(b->st), 0);
    cr_assert_eq(weft_yamux_stream_write(a->st, "x", 1), WEFT_EAGAIN, "still blocked");
    cr_assert_eq(a->writable, 0);

    /* Consuming less than half the window sends nothing. */
    cr_assert_eq(weft_yamux_stream_consumed(b->st, 100 * KIB), 0);
    size_t pend;
    weft_yamux_pending(s.s, &pend);
    cr_assert_eq(pend, 0);
    cr_assert_eq(weft_yamux_stream_consumed(b->st, 256 * KIB), WEFT_EINVAL, "over-consume");
    /* Half: a 128 KiB window update, and the writer hears about it. */
    cr_assert_eq(weft_yamux_stream_consumed(b->st, 28 * KIB), 0);
    pump(&c, &s, &r, 5000, 0);
    cr_assert_eq(a->writable, 1);
    cr_assert_eq(weft_yamux_stream_send_window(a->st), 128 * KIB);
    total = 0;
    for (int i = 0; i < 10; i++)
        total += write_pat(&c, a, 50 * KIB);
    cr_assert_eq(total, 128 * KIB);
    pump(&c, &s, &r, 5000, 0);
    cr_assert_eq(b->rx, 384 * KIB);

    /* Consuming everything from inside on_data keeps data flowing. */
    cr_assert_eq(weft_yamux_stream_consumed(b->st, 256 * KIB), 0);
    s.consume_in_data = 1;
    pump(&c, &s, &r, 5000, 0);
    for (int i = 0; i < 400; i++) {
        write_pat(&c, a, 64 * KIB);
        pump(&c, &s, &r, 5000, 0);
    }
    cr_assert_eq(b->rx, a->tx);
    cr_assert_gt(a->tx, 8 * 1024 * KIB);
    peer_fini(&c);
    peer_fini(&s);
}

/* With an RTT known and updates coming faster than 4 RTT, the window
 * doubles up to max_window; with slow updates it stays at 256 KiB. */
static uint32_t
grown_window(int fast)
{
    rng r = {42};
    peer c, s;
    memset(&s, 0, sizeof s);
    weft_yamux_config cfg = base_config(&s);
    cfg.max_window = 4 * 1024 * KIB;
    peer_init(&c, 0, 1, &cfg);
    peer_init(&s, 1, 1, &cfg);
    /* The server learns an RTT of 1000 units. */
    cr_assert_eq(weft_yamux_ping(s.s, 0), 0);
    uint8_t buf[64];
    size_t n = drain(s.s, buf, sizeof buf);
    cr_assert_eq(weft_yamux_input(c.s, buf, n, 1000), 0);
    n = drain(c.s, buf, sizeof buf);
    cr_assert_eq(weft_yamux_input(s.s, buf, n, 1000), 0);
    cr_assert_eq(s.rtt_seen, 1);
    cr_assert_eq(weft_yamux_rtt(s.s), 1000);

    sctx *a = open_stream(&c);
    uint64_t now = 1000;
    uint32_t maxwin = 0;
    for (int i = 0; i < 300; i++) {
        /* 64 KiB a turn, so window updates are a turn or more apart */
        write_pat(&c, a, 64 * KIB);
        now += fast ? 1 : 100000;
        pump(&c, &s, &r, 100 * KIB, now);
        uint32_t w = weft_yamux_stream_send_window(a->st);
        cr_assert_leq(w, cfg.max_window);
        if (w > maxwin)
            maxwin = w;
    }
    cr_assert_eq(s.ctx[1]->rx, a->tx);
    peer_fini(&c);
    peer_fini(&s);
    return maxwin;
}

Test(yamux, window_growth)
{
    cr_assert_eq(grown_window(1), 4 * 1024 * KIB);
    cr_assert_leq(grown_window(0), 256 * KIB);
}

Test(yamux, data_arrives_in_pieces_within_window)
{
    uint64_t seed = test_seed();
    rng r = {seed};
    peer c, s;
    peer_init(&c, 0, seed, NULL);
    peer_init(&s, 1, seed, NULL);
    sctx *a = open_stream(&c);
    write_pat(&c, a, 60 * KIB);
    /* Feed a 60 KiB frame in 1000-byte pieces: delivered piecewise. */
    pump(&c, &s, &r, 1000, 0);
    cr_assert_leq(s.max_piece, 1000);
    cr_assert_eq(s.ctx[1]->rx, 60 * KIB);
    peer_fini(&c);
    peer_fini(&s);
}

/* Bytes of a data frame still on the wire are not free window: consuming
 * what arrived of a 256 KiB frame must not grant the rest again. */
Test(yamux, partial_frame_is_not_free_window)
{
    peer s;
    memset(&s, 0, sizeof s);
    weft_yamux_config cfg = base_config(&s);
    cfg.manual_consume = 1;
    peer_init(&s, 1, 0, &cfg);
    static uint8_t frame[12 + 256 * KIB];
    weft_yamux_put_header(frame, WEFT_YAMUX_DATA, WEFT_YAMUX_SYN, 1, 256 * KIB);
    for (size_t i = 0; i < 256 * KIB; i++)
        frame[12 + i] = pat(1, 0, i);
    uint8_t out[64];
    cr_assert_eq(weft_yamux_input(s.s, frame, 12 + 200 * KIB, 0), 0);
    cr_assert_eq(drain(s.s, out, sizeof out), 12); /* the ACK */
    sctx *x = s.ctx[1];
    cr_assert_eq(x->rx, 200 * KIB);
    cr_assert_eq(weft_yamux_stream_consumed(x->st, 200 * KIB), 0);
    /* 200 KiB consumed, 56 KiB in flight: an update of exactly 200 KiB */
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000100000000000100032000", "update for what was consumed");
    cr_assert_eq(weft_yamux_input(s.s, frame + 12 + 200 * KIB, 56 * KIB, 0), 0);
    cr_assert_eq(weft_yamux_stream_recv_window(x->st), 200 * KIB);
    cr_assert_eq(drain(s.s, out, sizeof out), 0);
    /* The peer may use exactly the 200 KiB granted. */
    feed(&s, WEFT_YAMUX_DATA, 0, 1, 200 * KIB + 1, WEFT_EPROTO);
    peer_fini(&s);
}

/* ---- FIN, RST ----------------------------------------------------------------- */

Test(yamux, half_close)
{
    rng r = {7};
    peer c, s;
    peer_init(&c, 0, 7, NULL);
    peer_init(&s, 1, 7, NULL);
    sctx *a = open_stream(&c);
    write_pat(&c, a, 1000);
    cr_assert_eq(weft_yamux_stream_close(a->st), 0);
    cr_assert_eq(weft_yamux_stream_close(a->st), 0, "close twice");
    cr_assert_eq(weft_yamux_stream_write(a->st, "x", 1), WEFT_ECLOSED);
    pump(&c, &s, &r, 100, 0);
    sctx *b = s.ctx[1];
    cr_assert_eq(b->rx, 1000);
    cr_assert_eq(b->fin, 1);
    cr_assert_not(b->closed);
    /* The other direction still works. */
    write_pat(&s, b, 5000);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(a->rx, 5000);
    cr_assert_not(a->closed);
    cr_assert_eq(weft_yamux_stream_close(b->st), 0);
    /* b finished locally: its close event comes with the next call. */
    cr_assert_eq(weft_yamux_next_deadline(s.s), 0);
    cr_assert_not(b->closed);
    pump(&c, &s, &r, 100, 0);
    cr_assert(a->closed && a->close_err == 0 && a->fin == 1);
    cr_assert_eq(weft_yamux_tick(s.s, 0), 0);
    cr_assert(b->closed && b->close_err == 0);
    cr_assert_eq(weft_yamux_next_deadline(s.s), UINT64_MAX);
    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, reset_both_ways)
{
    rng r = {8};
    peer c, s;
    peer_init(&c, 0, 8, NULL);
    peer_init(&s, 1, 8, NULL);
    sctx *a = open_stream(&c);
    write_pat(&c, a, 100);
    pump(&c, &s, &r, 100, 0);
    sctx *b = s.ctx[1];
    /* Data in flight when the reset lands is dropped by the peer. */
    write_pat(&s, b, 100);
    cr_assert_eq(weft_yamux_stream_reset(a->st), 0);
    cr_assert_eq(weft_yamux_stream_reset(a->st), 0);
    cr_assert_eq(weft_yamux_stream_write(a->st, "x", 1), WEFT_ECLOSED);
    cr_assert_eq(weft_yamux_stream_close(a->st), WEFT_ECLOSED);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(a->rx, 0, "data for a reset stream is discarded");
    cr_assert_eq(a->reset, 0, "no on_reset for a local reset");
    cr_assert(a->closed && a->close_err == WEFT_ECLOSED);
    cr_assert_eq(b->reset, 1);
    cr_assert(b->closed && b->close_err == WEFT_ECLOSED);
    cr_assert_eq(weft_yamux_num_outbound(c.s), 0);
    cr_assert_eq(weft_yamux_num_inbound(s.s), 0);

    /* A refused stream: the server resets it from on_stream_open. */
    s.reset_on_open = 1;
    sctx *x = open_stream(&c);
    write_pat(&c, x, 10);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(x->reset, 1);
    cr_assert(x->closed);
    cr_assert_eq(s.ctx[3]->rx, 0);
    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, reset_inside_on_data)
{
    peer c, s;
    peer_init(&c, 0, 9, NULL);
    peer_init(&s, 1, 9, NULL);
    sctx *a = open_stream(&c);
    write_pat(&c, a, 3000);
    cr_assert_eq(weft_yamux_ping(c.s, 0), 0);
    s.reset_in_data = 1;
    /* SYN + 3000-byte data frame + ping in one input, split mid-payload. */
    uint8_t buf[8192];
    size_t n = drain(c.s, buf, sizeof buf);
    cr_assert_eq(weft_yamux_input(s.s, buf, 1000, 0), 0);
    cr_assert_eq(s.nested_rc, WEFT_EINVAL, "input from a callback is refused");
    cr_assert_eq(weft_yamux_input(s.s, buf + 1000, n - 1000, 0), 0);
    sctx *b = s.ctx[1];
    cr_assert_eq(b->rx, 1000 - 24, "delivery stops at the reset");
    cr_assert(b->closed);
    /* The ping after the dropped payload was still parsed. */
    uint8_t out[256];
    size_t m = drain(s.s, out, sizeof out);
    cr_assert_eq(m, 36); /* ACK, RST, pong */
    expect_frame(out + 12, "000100080000000100000000", "RST");
    expect_frame(out + 24, "000200020000000000000001", "pong");
    peer_fini(&c);
    peer_fini(&s);
}

/* ---- ping, keep-alive, go-away ------------------------------------------------ */

Test(yamux, keepalive_ping_rtt_and_timeout)
{
    rng r = {10};
    peer c, s;
    memset(&c, 0, sizeof c);
    weft_yamux_config cfg = base_config(&c);
    cfg.keepalive = 1000;
    cfg.ping_timeout = 500;
    cr_assert_eq(weft_yamux_new(&c.s, &cfg, 1, 100), 0);
    peer_init(&s, 1, 10, NULL);
    /* A first ping at creation, to learn the RTT. */
    size_t n;
    weft_yamux_pending(c.s, &n);
    cr_assert_eq(n, 12);
    cr_assert_eq(weft_yamux_next_deadline(c.s), 600);
    cr_assert_eq(transfer(&c, &s, &r, 100, SIZE_MAX, 130), 12);
    cr_assert_eq(transfer(&s, &c, &r, 100, SIZE_MAX, 130), 12);
    cr_assert_eq(c.rtt_seen, 1);
    cr_assert_eq(c.last_rtt, 30);
    cr_assert_eq(weft_yamux_next_deadline(c.s), 1100);
    cr_assert_eq(weft_yamux_tick(c.s, 1099), 0);
    weft_yamux_pending(c.s, &n);
    cr_assert_eq(n, 0);
    cr_assert_eq(weft_yamux_tick(c.s, 1100), 0);
    weft_yamux_pending(c.s, &n);
    cr_assert_eq(n, 12, "keep-alive ping due");
    cr_assert_eq(weft_yamux_next_deadline(c.s), 1600);
    /* Unanswered: the session fails with -ETIMEDOUT after ping_timeout. */
    sctx *a = open_stream(&c);
    cr_assert_eq(weft_yamux_tick(c.s, 1599), 0);
    cr_assert_eq(weft_yamux_tick(c.s, 1600), -ETIMEDOUT);
    cr_assert_eq(a->reset, 1);
    cr_assert(a->closed);
    cr_assert_eq(weft_yamux_tick(c.s, 1700), -ETIMEDOUT, "sticky");
    weft_yamux_stream *st;
    cr_assert_eq(weft_yamux_open(c.s, &st), -ETIMEDOUT);
    uint8_t out[256];
    size_t m = drain(c.s, out, sizeof out);
    expect_frame(out + m - 12, "000300000000000000000000", "go-away normal");
    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, goaway_stops_new_streams)
{
    rng r = {11};
    peer c, s;
    peer_init(&c, 0, 11, NULL);
    peer_init(&s, 1, 11, NULL);
    sctx *a = open_stream(&c);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(weft_yamux_goaway(s.s, WEFT_YAMUX_GOAWAY_NORMAL), 0);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(c.goaway_seen, 1);
    cr_assert_eq(c.goaway_code, 0);
    weft_yamux_stream *st;
    cr_assert_eq(weft_yamux_open(c.s, &st), WEFT_ECLOSED);
    cr_assert_eq(weft_yamux_open(s.s, &st), WEFT_ECLOSED);
    /* Existing streams carry on. */
    write_pat(&c, a, 100);
    pump(&c, &s, &r, 100, 0);
    cr_assert_eq(s.ctx[1]->rx, 100);
    /* A SYN after our go-away is refused with RST. */
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 3, 0, 0);
    uint8_t out[64];
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000100080000000300000000", "RST for SYN after go-away");
    cr_assert_null(s.ctx[3]);
    peer_fini(&c);
    peer_fini(&s);
}

/* ---- protocol violations ------------------------------------------------------ */

static void
expect_proto_failure(peer *s, const char *what)
{
    uint8_t out[1024];
    size_t n = drain(s->s, out, sizeof out);
    cr_assert_geq(n, 12, "%s: no go-away", what);
    expect_frame(out + n - 12, "000300000000000000000001", what);
    /* sticky */
    cr_assert_eq(weft_yamux_input(s->s, out, 0, 0), WEFT_EPROTO, "%s: not sticky", what);
    cr_assert_eq(weft_yamux_tick(s->s, 0), WEFT_EPROTO);
}

typedef void (*violation_fn)(peer *s);

static void
v_version(peer *s)
{
    uint8_t h[12];
    weft_yamux_put_header(h, WEFT_YAMUX_PING, WEFT_YAMUX_SYN, 0, 1);
    h[0] = 1;
    cr_assert_eq(weft_yamux_input(s->s, h, 12, 0), WEFT_EPROTO);
}

static void
v_type(peer *s)
{
    feed(s, 4, 0, 0, 0, WEFT_EPROTO);
}

static void
v_window(peer *s)
{
    feed(s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 1, 0, 0);
    feed(s, WEFT_YAMUX_DATA, 0, 1, 256 * KIB + 1, WEFT_EPROTO);
}

static void
v_window_cumulative(peer *s)
{
    static uint8_t junk[128 * KIB];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = pat(1, 0, i);
    feed(s, WEFT_YAMUX_DATA, WEFT_YAMUX_SYN, 1, 128 * KIB, 0);
    cr_assert_eq(weft_yamux_input(s->s, junk, sizeof junk, 0), 0);
    /* auto-consume granted 128 KiB back: 256 KiB more fits, one byte more does not */
    feed(s, WEFT_YAMUX_DATA, 0, 1, 256 * KIB + 1, WEFT_EPROTO);
}

static void
v_dup_syn(peer *s)
{
    feed(s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 1, 0, 0);
    feed(s, WEFT_YAMUX_DATA, WEFT_YAMUX_SYN, 1, 0, WEFT_EPROTO);
}

static void
v_parity(peer *s)
{
    feed(s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 2, 0, WEFT_EPROTO);
}

static void
v_stream0(peer *s)
{
    feed(s, WEFT_YAMUX_DATA, 0, 0, 0, WEFT_EPROTO);
}

static void
v_unknown_too_big(peer *s)
{
    feed(s, WEFT_YAMUX_DATA, 0, 1, 16 * 1024 * KIB, 0);
}

static void
v_unknown_too_big2(peer *s)
{
    feed(s, WEFT_YAMUX_DATA, 0, 3, 16 * 1024 * KIB + 1, WEFT_EPROTO);
}

static void
v_overflow(peer *s)
{
    feed(s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 1, 0, 0);
    feed(s, WEFT_YAMUX_WINDOW_UPDATE, 0, 1, UINT32_MAX, WEFT_EPROTO);
}

Test(yamux, protocol_violations_fail_the_session)
{
    static const struct {
        violation_fn fn;
        const char *name;
    } cases[] = {
        {v_version, "version"},
        {v_type, "type"},
        {v_window, "window"},
        {v_window_cumulative, "window after updates"},
        {v_dup_syn, "duplicate SYN"},
        {v_parity, "SYN parity"},
        {v_stream0, "stream 0"},
        {v_overflow, "window overflow"},
        {v_unknown_too_big2, "unknown stream, data past max_window"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        peer s;
        peer_init(&s, 1, 0, NULL);
        /* an open stream, to see the teardown */
        feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, 101, 0, 0);
        cases[i].fn(&s);
        sctx *x = s.ctx[101];
        cr_assert(x->reset == 1 && x->closed && x->close_err == WEFT_ECLOSED, "%s: teardown",
                  cases[i].name);
        expect_proto_failure(&s, cases[i].name);
        peer_fini(&s);
    }
}

Test(yamux, unknown_streams_are_ignored)
{
    peer s;
    peer_init(&s, 1, 0, NULL);
    /* data for a stream never opened: payload skipped, next frame parsed */
    uint8_t buf[12 + 5 + 12];
    weft_yamux_put_header(buf, WEFT_YAMUX_DATA, 0, 7, 5);
    memcpy(buf + 12, "hello", 5);
    weft_yamux_put_header(buf + 17, WEFT_YAMUX_PING, WEFT_YAMUX_SYN, 0, 9);
    cr_assert_eq(weft_yamux_input(s.s, buf, sizeof buf, 0), 0);
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, 0, 9, 100, 0);
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_FIN, 11, 0, 0);
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_RST, 13, 0, 0);
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_ACK, 2, 0, 0);
    /* up to max_window of skipped data is fine (a stream we reset may have
     * that much in flight); the bytes are not buffered */
    v_unknown_too_big(&s);
    static uint8_t junk[1024 * KIB];
    for (int i = 0; i < 16; i++)
        cr_assert_eq(weft_yamux_input(s.s, junk, sizeof junk, 0), 0);
    cr_assert_leq(weft_yamux_mem_usage(s.s), 4 * KIB);
    uint8_t out[64];
    cr_assert_eq(drain(s.s, out, sizeof out), 12, "only the pong");
    expect_frame(out, "000200020000000000000009", "pong");
    cr_assert_eq(s.n_open_events, 0);
    peer_fini(&s);
}

Test(yamux, data_after_fin_resets_stream)
{
    peer s;
    peer_init(&s, 1, 0, NULL);
    feed(&s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN | WEFT_YAMUX_FIN, 1, 0, 0);
    sctx *x = s.ctx[1];
    cr_assert_eq(x->fin, 1);
    uint8_t out[64];
    drain(s.s, out, sizeof out);
    uint8_t buf[15];
    weft_yamux_put_header(buf, WEFT_YAMUX_DATA, 0, 1, 3);
    memcpy(buf + 12, "abc", 3);
    cr_assert_eq(weft_yamux_input(s.s, buf, sizeof buf, 0), 0, "a stream error only");
    cr_assert_eq(x->rx, 0);
    cr_assert_eq(x->reset, 1);
    cr_assert(x->closed);
    cr_assert_eq(drain(s.s, out, sizeof out), 12);
    expect_frame(out, "000100080000000100000000", "RST");
    /* An empty data frame with FIN again is harmless: unknown stream now. */
    feed(&s, WEFT_YAMUX_DATA, WEFT_YAMUX_FIN, 1, 0, 0);
    peer_fini(&s);
}

/* ---- limits ------------------------------------------------------------------- */

Test(yamux, inbound_flood_is_refused_in_bounded_memory)
{
    peer s;
    memset(&s, 0, sizeof s);
    weft_yamux_config cfg = base_config(&s);
    cfg.max_inbound_streams = 8;
    peer_init(&s, 1, 0, &cfg);
    size_t idle = weft_yamux_mem_usage(s.s);
    cr_assert_leq(idle, 2 * KIB, "idle session holds %zu bytes", idle);
    static uint8_t batch[1000 * 12];
    uint8_t *out = malloc(64 * KIB);
    uint32_t id = 1;
    size_t rsts = 0, peak = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 1000; i++, id += 2)
            weft_yamux_put_header(batch + 12 * i, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_SYN, id, 0);
        cr_assert_eq(weft_yamux_input(s.s, batch, sizeof batch, 0), 0);
        size_t m = weft_yamux_mem_usage(s.s);
        if (m > peak)
            peak = m;
        size_t n;
        const uint8_t *p = weft_yamux_pending(s.s, &n);
        for (size_t off = 0; off < n; off += 12)
            if (p[off + 1] == WEFT_YAMUX_WINDOW_UPDATE && p[off + 3] == WEFT_YAMUX_RST)
                rsts++;
        weft_yamux_sent(s.s, n);
    }
    cr_assert_eq(weft_yamux_num_inbound(s.s), 8);
    cr_assert_eq(s.n_open_events, 8);
    cr_assert_eq(rsts, 200000 - 8);
    /* 8 streams plus an output buffer for one batch of RSTs */
    cr_assert_leq(peak, idle + 8 * 256 + 16 * KIB, "peak %zu", peak);
    free(out);
    peer_fini(&s);
}

Test(yamux, pending_ack_and_outbound_limits)
{
    rng r = {12};
    peer c, s;
    memset(&c, 0, sizeof c);
    weft_yamux_config cfg = base_config(&c);
    cfg.max_outbound_streams = 300;
    peer_init(&c, 0, 12, &cfg);
    peer_init(&s, 1, 12, NULL);
    weft_yamux_stream *st;
    for (int i = 0; i < 256; i++)
        cr_assert_eq(weft_yamux_open(c.s, &st), 0);
    cr_assert_eq(weft_yamux_open(c.s, &st), WEFT_ELIMIT, "257th unacknowledged stream");
    pump(&c, &s, &r, 1000, 0);
    for (int i = 0; i < 44; i++)
        cr_assert_eq(weft_yamux_open(c.s, &st), 0);
    cr_assert_eq(weft_yamux_open(c.s, &st), WEFT_ELIMIT, "max outbound");
    cr_assert_eq(weft_yamux_num_outbound(c.s), 300);
    peer_fini(&c);
    peer_fini(&s);
}

Test(yamux, output_limit_and_writable_on_drain)
{
    peer c;
    memset(&c, 0, sizeof c);
    weft_yamux_config cfg = base_config(&c);
    cfg.out_limit = 10000;
    cfg.out_max = 20000;
    cfg.max_frame = 4000;
    peer_init(&c, 0, 0, &cfg);
    sctx *a = open_stream(&c);
    size_t got = write_pat(&c, a, 100000);
    size_t n;
    weft_yamux_pending(c.s, &n);
    cr_assert_leq(n, 10000);
    cr_assert_eq(got, n - 12 - 12 * 3, "payload %zu, pending %zu", got, n);
    cr_assert_eq(weft_yamux_stream_write(a->st, "x", 1), WEFT_EAGAIN);
    weft_yamux_sent(c.s, 100);
    cr_assert_eq(a->writable, 1, "room opened");
    weft_yamux_sent(c.s, n);
    peer_fini(&c);
}

Test(yamux, control_flood_past_out_max)
{
    peer s;
    memset(&s, 0, sizeof s);
    weft_yamux_config cfg = base_config(&s);
    cfg.out_limit = 512;
    cfg.out_max = 1200;
    peer_init(&s, 1, 0, &cfg);
    static uint8_t pings[200 * 12];
    for (int i = 0; i < 200; i++)
        weft_yamux_put_header(pings + 12 * i, WEFT_YAMUX_PING, WEFT_YAMUX_SYN, 0, (uint32_t)i);
    cr_assert_eq(weft_yamux_input(s.s, pings, sizeof pings, 0), WEFT_ELIMIT);
    size_t n;
    const uint8_t *p = weft_yamux_pending(s.s, &n);
    cr_assert_eq(n, 1212);
    expect_frame(p + n - 12, "000300000000000000000002", "go-away internal");
    peer_fini(&s);
}

Test(yamux, free_closes_live_streams_and_config_checks)
{
    peer c;
    peer_init(&c, 0, 0, NULL);
    sctx *a = open_stream(&c);
    sctx *b = open_stream(&c);
    cr_assert_eq(weft_yamux_stream_reset(b->st), 0);
    weft_yamux_free(c.s);
    c.s = NULL;
    cr_assert(a->closed && a->close_err == WEFT_ECLOSED);
    cr_assert(b->closed && b->close_err == WEFT_ECLOSED);
    cr_assert_eq(c.n_close_events, 2);
    weft_yamux_free(NULL);

    weft_yamux_config cfg;
    weft_yamux *s;
    weft_yamux_config_default(&cfg);
    cfg.initial_window = 1000;
    cr_assert_eq(weft_yamux_new(&s, &cfg, 1, 0), WEFT_EINVAL);
    weft_yamux_config_default(&cfg);
    cfg.max_frame = 0;
    cr_assert_eq(weft_yamux_new(&s, &cfg, 1, 0), WEFT_EINVAL);
    weft_yamux_config_default(&cfg);
    cfg.out_max = cfg.out_limit - 1;
    cr_assert_eq(weft_yamux_new(&s, &cfg, 1, 0), WEFT_EINVAL);
    for (int i = 0; i < MAXID; i++)
        free(c.ctx[i]);
}
