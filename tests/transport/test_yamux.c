/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux engine (weft/yamux.h), streams between two sessions wired back to
 * back in memory: many streams with random write sizes delivered in random
 * chunk sizes (seeded: WEFT_TEST_SEED replays a failure, and every assertion
 * prints the seed); flow control, checked for back-pressure at 256 KiB,
 * resumption on consumption and window growth; FIN/RST semantics and
 * callbacks that reset streams mid-delivery; ping/keep-alive and go-away.
 */
#include "yamux_testutil.h"

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

/* Each end's stream names its own session and the same stream id. */
Test(yamux, stream_knows_its_session)
{
    rng r = {6};
    peer c, s;
    peer_init(&c, 0, 6, NULL);
    peer_init(&s, 1, 6, NULL);
    sctx *a = open_stream(&c);
    write_pat(&c, a, 10);
    pump(&c, &s, &r, 100, 0);
    sctx *b = s.ctx[1];
    cr_assert_not_null(b);
    cr_assert_eq(weft_yamux_stream_session(a->st), c.s);
    cr_assert_eq(weft_yamux_stream_session(b->st), s.s);
    cr_assert_eq(weft_yamux_stream_id(a->st), weft_yamux_stream_id(b->st));
    peer_fini(&c);
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
