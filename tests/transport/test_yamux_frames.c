/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux engine (weft/yamux.h), the wire and its limits: frames the session
 * writes are checked byte-exactly against the header layout of the
 * hashicorp spec; then every protocol violation, frames for unknown
 * streams, data after FIN, stream floods (state measured with
 * weft_yamux_mem_usage), pending-ACK and outbound stream limits, output
 * limits and control-frame floods.
 */
#include "yamux_testutil.h"

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
