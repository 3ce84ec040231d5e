/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The harness shared by the yamux tests (test_yamux.c, test_yamux_frames.c):
 * a seeded generator (WEFT_TEST_SEED replays a failure) and a per-stream
 * byte pattern; two endpoints ("peers") whose callbacks record every event
 * per stream and check every byte received against the pattern; moving one
 * session's output into the other in random chunks at odd offsets; and
 * helpers that drain a session's output, compare a frame header with its
 * hex, and feed a single header.
 */
#ifndef WEFT_TESTS_TRANSPORT_YAMUX_TESTUTIL_H
#define WEFT_TESTS_TRANSPORT_YAMUX_TESTUTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/buf.h"
#include "test_seed.h"
#include "weft/yamux.h"

#define KIB 1024u
#define MAXID 4096

/* ---- seeded generator ---------------------------------------------------- */

static inline uint64_t
test_seed(void)
{
    return test_seed_of_run();
}

typedef struct rng {
    uint64_t x;
} rng;

static inline uint64_t
rnext(rng *r)
{
    return test_splitmix(&r->x);
}

static inline size_t
rbelow(rng *r, size_t n)
{
    return (size_t)(rnext(r) % n);
}

/* The byte at offset off of the data side `side` sends on stream id. */
static inline uint8_t
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

static inline sctx *
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

static inline void
cb_open(weft_yamux *s, weft_yamux_stream *st)
{
    peer *p = weft_yamux_user(s);
    p->n_open_events++;
    ctx_for(p, st, 1);
    if (p->reset_on_open)
        cr_assert_eq(weft_yamux_stream_reset(st), 0);
}

static inline void
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

static inline void
cb_fin(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->fin++;
}

static inline void
cb_reset(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->reset++;
}

static inline void
cb_writable(weft_yamux *s, weft_yamux_stream *st)
{
    sctx *c = weft_yamux_stream_user(st);
    c->writable++;
}

static inline void
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

static inline void
cb_goaway(weft_yamux *s, uint32_t code)
{
    peer *p = weft_yamux_user(s);
    p->goaway_seen++;
    p->goaway_code = code;
}

static inline void
cb_rtt(weft_yamux *s, uint64_t rtt)
{
    peer *p = weft_yamux_user(s);
    p->rtt_seen++;
    p->last_rtt = rtt;
}

static inline weft_yamux_config
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

static inline void
peer_init(peer *p, int side, uint64_t seed, const weft_yamux_config *cfg)
{
    memset(p, 0, sizeof *p);
    p->side = side;
    p->seed = seed;
    weft_yamux_config c = cfg ? *cfg : base_config(p);
    c.user = p;
    cr_assert_eq(weft_yamux_new(&p->s, &c, side == 0, 0), 0);
}

static inline void
peer_fini(peer *p)
{
    weft_yamux_free(p->s);
    for (int i = 0; i < MAXID; i++)
        free(p->ctx[i]);
}

/* Move up to max bytes of a's output into b, in chunks of 1..maxchunk.
 * Returns the bytes moved. */
static inline size_t
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

static inline void
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

static inline sctx *
open_stream(peer *p)
{
    weft_yamux_stream *st;
    cr_assert_eq(weft_yamux_open(p->s, &st), 0);
    return ctx_for(p, st, 0);
}

/* Write the next bytes of c's pattern, up to n. Returns what was accepted. */
static inline size_t
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
static inline size_t
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

static inline void
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

static inline void
feed(peer *p, uint8_t type, uint16_t flags, uint32_t id, uint32_t len, int want_rc)
{
    uint8_t h[12];
    weft_yamux_put_header(h, type, flags, id, len);
    int rc = weft_yamux_input(p->s, h, 12, 0);
    cr_assert_eq(rc, want_rc, "frame type %u flags %u id %u len %u: rc %d want %d", type, flags, id,
                 len, rc, want_rc);
}

#endif
