/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_yamux: a yamux session (weft/yamux.h) fed arbitrary peer bytes, with
 * application calls interleaved as the input dictates.
 *
 * Input: byte 0 configures the session: bit 0 client (else server), bit 1
 * manual consumption, bit 2 small limits (3 inbound, 4 outbound, 2 awaiting
 * ACK, 400/1500 output bytes), bit 3 keep-alive, bit 4 a 512 KiB initial
 * window, bit 5 callbacks that write, close and reset from inside events,
 * bit 6 100-byte frames, bit 7 window growth up to 1 MiB. Then a list of
 * operations, one byte each plus arguments: feed the next 1..256 (or up to
 * 8191) input bytes, or up to 512 KiB of zeros (the payload of big data
 * frames), each after op >> 4 time units; open, write, close, reset,
 * consume, drain output, let time pass and tick, ping, go-away.
 *
 * Oracles, independent of the library's own bookkeeping: every frame the
 * session writes is parsed here. Version 0, known type and flags, data
 * frames within max_frame, SYN only on our own ids in increasing order,
 * pings and go-away on stream 0, at most one go-away. Data sent per stream
 * never exceeds 256 KiB per SYN seen on that id plus every window increment
 * the peer's input carried for it (the input is parsed with the same
 * framing; ids are bucketed, which keeps the bound sound). Beyond that:
 * results are 0 or a documented error and errors stick; live stream counts
 * respect the limits; our advertised receive window never exceeds
 * max_window; pending output stays under out_max plus the go-away; every
 * stream gets on_stream_close exactly once (records are freed there, so a
 * missed or double close shows up as a leak or a use after free); events
 * name live streams only; stream_consumed accepts exactly what was
 * delivered and not yet consumed.
 */
#include "fuzz_util.h"

#include <errno.h>

#include "weft/yamux.h"

#define NSLOT 64
#define NBUCKET 4096
#define IW WEFT_YAMUX_INITIAL_WINDOW

typedef struct rec {
    weft_yamux_stream *st;
    int slot; /* index in h.slots, or -1 */
    uint64_t held;
    int fin;
} rec;

typedef struct fparse {
    uint8_t h[WEFT_YAMUX_HDR];
    unsigned hl;
    uint32_t remain;
} fparse;

static struct harness {
    weft_yamux *s;
    weft_yamux_config cfg;
    int client;
    uint8_t mode;
    rec *slots[NSLOT];
    uint64_t budget[NBUCKET], sent[NBUCKET];
    fparse in, out;
    uint64_t last_syn;
    int goaways;
    int err;
    uint64_t now;
    unsigned tick;
    int open_recs;
    int pinged;
} h;

static uint8_t wbuf[70000];

/* ---- frame parsing ------------------------------------------------------------ */

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef void (*frame_fn)(uint8_t ver, uint8_t type, uint16_t flags, uint32_t id, uint32_t len);

/* Split bytes into frames as the spec frames them; returns nothing, calls fn
 * per header. Payload is skipped for data frames only. */
static void
parse(fparse *f, const uint8_t *p, size_t n, frame_fn fn)
{
    while (n > 0) {
        if (f->remain > 0) {
            size_t k = f->remain < n ? f->remain : n;
            f->remain -= (uint32_t)k;
            p += k;
            n -= k;
            continue;
        }
        f->h[f->hl++] = *p++;
        n--;
        if (f->hl < WEFT_YAMUX_HDR)
            continue;
        f->hl = 0;
        uint8_t type = f->h[1];
        uint32_t len = be32(f->h + 8);
        fn(f->h[0], type, (uint16_t)(f->h[2] << 8 | f->h[3]), be32(f->h + 4), len);
        if (type == WEFT_YAMUX_DATA)
            f->remain = len;
    }
}

/* What the peer gives us: window for the ids. */
static void
on_in_frame(uint8_t ver, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    if (type != WEFT_YAMUX_DATA && type != WEFT_YAMUX_WINDOW_UPDATE)
        return;
    uint64_t *b = &h.budget[id % NBUCKET];
    if (flags & WEFT_YAMUX_SYN)
        *b += IW;
    if (type == WEFT_YAMUX_WINDOW_UPDATE)
        *b += len;
}

/* What we send. */
static void
on_out_frame(uint8_t ver, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    FZ_CHECK(ver == 0);
    FZ_CHECK(type <= WEFT_YAMUX_GO_AWAY);
    FZ_CHECK((flags & ~0xFu) == 0);
    switch (type) {
    case WEFT_YAMUX_DATA:
    case WEFT_YAMUX_WINDOW_UPDATE:
        FZ_CHECK(id != 0);
        if (flags & WEFT_YAMUX_SYN) {
            FZ_CHECK((id & 1u) == (uint32_t)h.client);
            FZ_CHECK(id > h.last_syn);
            h.last_syn = id;
            h.budget[id % NBUCKET] += IW;
        }
        if (type == WEFT_YAMUX_DATA) {
            FZ_CHECK(len <= h.cfg.max_frame);
            h.sent[id % NBUCKET] += len;
            FZ_CHECK(h.sent[id % NBUCKET] <= h.budget[id % NBUCKET]);
        }
        break;
    case WEFT_YAMUX_PING:
        FZ_CHECK(id == 0);
        FZ_CHECK(flags == WEFT_YAMUX_SYN || flags == WEFT_YAMUX_ACK);
        break;
    case WEFT_YAMUX_GO_AWAY:
        FZ_CHECK(id == 0 && flags == 0);
        FZ_CHECK(++h.goaways == 1);
        break;
    }
}

static void
drain(size_t max)
{
    size_t n;
    const uint8_t *p = weft_yamux_pending(h.s, &n);
    FZ_CHECK(n <= h.cfg.out_max + WEFT_YAMUX_HDR);
    if (max == 0 || max > n)
        max = n;
    parse(&h.out, p, max, on_out_frame);
    weft_yamux_sent(h.s, max);
}

/* ---- callbacks ---------------------------------------------------------------- */

/* For calls made from callbacks, whose results the driver checks later
 * through the session's state. */
static void
ignore(long rc)
{
    (void)rc;
}

static rec *
live(weft_yamux_stream *st)
{
    rec *r = weft_yamux_stream_user(st);
    FZ_CHECK(r != NULL && r->st == st);
    return r;
}

static void
track(weft_yamux_stream *st)
{
    rec *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    r->st = st;
    r->slot = -1;
    for (int i = 0; i < NSLOT; i++)
        if (h.slots[i] == NULL) {
            h.slots[i] = r;
            r->slot = i;
            break;
        }
    weft_yamux_stream_set_user(st, r);
    h.open_recs++;
}

static void
cb_open(weft_yamux *s, weft_yamux_stream *st)
{
    FZ_CHECK(weft_yamux_stream_user(st) == NULL);
    track(st);
    if ((h.mode & 0x20) && (++h.tick % 5) == 0)
        ignore(weft_yamux_stream_reset(st));
}

static void
cb_data(weft_yamux *s, weft_yamux_stream *st, const uint8_t *d, size_t n)
{
    rec *r = live(st);
    FZ_CHECK(n > 0 && d != NULL);
    FZ_CHECK(!r->fin);
    r->held += n;
    if (!h.cfg.manual_consume)
        r->held -= n;
    if (h.mode & 0x20) {
        switch (++h.tick % 7) {
        case 0: ignore(weft_yamux_stream_reset(st)); break;
        case 1: ignore(weft_yamux_stream_close(st)); break;
        case 2: ignore(weft_yamux_stream_write(st, d, n < 100 ? n : 100)); break;
        case 3:
            /* the session may fail inside this call; the driver sees that later */
            if (h.cfg.manual_consume && weft_yamux_stream_consumed(st, r->held) == 0)
                r->held = 0;
            break;
        default: break;
        }
    }
}

static void
cb_fin(weft_yamux *s, weft_yamux_stream *st)
{
    rec *r = live(st);
    FZ_CHECK(!r->fin);
    r->fin = 1;
}

static void
cb_reset(weft_yamux *s, weft_yamux_stream *st)
{
    (void)live(st);
}

static void
cb_writable(weft_yamux *s, weft_yamux_stream *st)
{
    (void)live(st);
    FZ_CHECK(weft_yamux_stream_send_window(st) > 0);
}

static void
cb_close(weft_yamux *s, weft_yamux_stream *st, int err)
{
    rec *r = live(st);
    FZ_CHECK(err == 0 || err == WEFT_ECLOSED);
    if (r->slot >= 0)
        h.slots[r->slot] = NULL;
    r->st = NULL;
    free(r);
    weft_yamux_stream_set_user(st, NULL);
    h.open_recs--;
}

static void
cb_goaway(weft_yamux *s, uint32_t code)
{
}

static void
cb_rtt(weft_yamux *s, uint64_t rtt)
{
    FZ_CHECK(rtt <= h.now);
}

/* ---- driver ------------------------------------------------------------------- */

static int
session_error(int rc)
{
    return rc == WEFT_EPROTO || rc == WEFT_ELIMIT || rc == -ETIMEDOUT || rc == -ENOMEM;
}

/* input/tick: 0 or the session error, which sticks. */
static void
check_rc(int rc)
{
    if (h.err) {
        FZ_CHECK(rc == h.err);
        return;
    }
    FZ_CHECK(rc == 0 || session_error(rc));
    h.err = rc;
}

/* Another call's result: 0, a positive count, one of the call's own
 * conditions (allowed), or the session error. A session can fail silently
 * inside weft_yamux_sent() or a callback; the first report adopts it, and
 * every later one must agree. */
static void
check_call(long rc, int a1, int a2)
{
    if (rc >= 0 || rc == a1 || rc == a2)
        return;
    FZ_CHECK(session_error((int)rc));
    if (h.err == 0)
        h.err = (int)rc;
    FZ_CHECK(rc == h.err);
}

static void
check_state(void)
{
    FZ_CHECK(weft_yamux_num_inbound(h.s) <= h.cfg.max_inbound_streams);
    FZ_CHECK(weft_yamux_num_outbound(h.s) <= h.cfg.max_outbound_streams);
    size_t n;
    (void)weft_yamux_pending(h.s, &n);
    FZ_CHECK(n <= h.cfg.out_max + WEFT_YAMUX_HDR);
    for (int i = 0; i < NSLOT; i++) {
        rec *r = h.slots[i];
        if (r == NULL)
            continue;
        FZ_CHECK(weft_yamux_stream_recv_window(r->st) + r->held <= h.cfg.max_window);
    }
    uint64_t d = weft_yamux_next_deadline(h.s);
    /* without keep-alive, only an explicit ping sets a timer */
    FZ_CHECK(h.cfg.keepalive || h.pinged || d == 0 || d == UINT64_MAX);
    /* Memory: streams, the table, the output, nothing that grows with input. */
    size_t streams = (size_t)h.open_recs + 8;
    FZ_CHECK(weft_yamux_mem_usage(h.s) <=
             4096 + streams * 512 + 2 * (h.cfg.out_max + WEFT_YAMUX_HDR) + 64 * 1024);
}

static const uint8_t zeros[65535 * 8];

/* Give n peer bytes to the session (from a heap copy of exactly n bytes, so
 * ASan sees overreads) after dt time units. */
static void
feed(const uint8_t *p, size_t n, unsigned dt)
{
    uint8_t *copy = fz_dup(p, n);
    if (!h.err)
        parse(&h.in, copy, n, on_in_frame);
    h.now += dt;
    check_rc(weft_yamux_input(h.s, copy, n, h.now));
    free(copy);
}

static rec *
pick(fz_reader *rd)
{
    unsigned k = fz_u8(rd) % NSLOT;
    for (unsigned i = 0; i < NSLOT; i++)
        if (h.slots[(k + i) % NSLOT])
            return h.slots[(k + i) % NSLOT];
    return NULL;
}

static void
configure(uint8_t mode)
{
    weft_yamux_config *c = &h.cfg;
    weft_yamux_config_default(c);
    c->manual_consume = (mode & 2) != 0;
    if (mode & 4) {
        c->max_inbound_streams = 3;
        c->max_outbound_streams = 4;
        c->max_pending_ack = 2;
        c->out_limit = 400;
        c->out_max = 1500;
    }
    c->keepalive = (mode & 8) ? 100 : 0;
    c->ping_timeout = 50;
    if (mode & 0x10)
        c->initial_window = 512 * 1024;
    if (mode & 0x40)
        c->max_frame = 100;
    c->max_window = (mode & 0x80) ? 1024 * 1024 : c->initial_window;
    c->on_stream_open = cb_open;
    c->on_data = cb_data;
    c->on_fin = cb_fin;
    c->on_reset = cb_reset;
    c->on_writable = cb_writable;
    c->on_stream_close = cb_close;
    c->on_goaway = cb_goaway;
    c->on_ping_rtt = cb_rtt;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    memset(&h, 0, sizeof h);
    h.mode = data[0];
    h.client = data[0] & 1;
    configure(h.mode);
    FZ_CHECK(weft_yamux_new(&h.s, &h.cfg, h.client, 0) == 0);
    static int wbuf_ready;
    if (!wbuf_ready) {
        for (size_t i = 0; i < sizeof wbuf; i++)
            wbuf[i] = (uint8_t)(i * 131 + 7);
        wbuf_ready = 1;
    }

    fz_reader rd = {data + 1, size - 1};
    while (rd.n > 0) {
        uint8_t op = fz_u8(&rd);
        switch (op % 16) {
        default: { /* feed input */
            size_t n = (op % 16) == 6 ? fz_u16(&rd) % 8192 : (size_t)fz_u8(&rd) + 1;
            if (n > rd.n)
                n = rd.n;
            feed(rd.p, n, op >> 4);
            rd.p += n;
            rd.n -= n;
            break;
        }
        case 5: /* zeros: the bulk of large data frames */
            feed(zeros, (size_t)fz_u16(&rd) * 8, op >> 4);
            break;
        case 7: {
            weft_yamux_stream *st = NULL;
            int rc = weft_yamux_open(h.s, &st);
            check_call(rc == WEFT_EAGAIN ? 0 : rc, WEFT_ECLOSED, WEFT_ELIMIT);
            if (rc == 0) {
                FZ_CHECK(st != NULL);
                track(st);
            } else {
                FZ_CHECK(st == NULL);
            }
            break;
        }
        case 8: {
            rec *r = pick(&rd);
            size_t n = fz_u16(&rd) % (sizeof wbuf + 1);
            if (r) {
                uint32_t win = weft_yamux_stream_send_window(r->st);
                ptrdiff_t rc = weft_yamux_stream_write(r->st, wbuf, n);
                check_call(rc, WEFT_EAGAIN, WEFT_ECLOSED);
                FZ_CHECK(rc <= (ptrdiff_t)n);
                if (rc >= 0)
                    FZ_CHECK((size_t)rc <= win && (rc > 0 || n == 0));
            }
            break;
        }
        case 9: {
            rec *r = pick(&rd);
            if (r)
                check_call(weft_yamux_stream_close(r->st), WEFT_ECLOSED, 0);
            break;
        }
        case 10: {
            rec *r = pick(&rd);
            if (r)
                check_call(weft_yamux_stream_reset(r->st), 0, 0);
            break;
        }
        case 11: {
            rec *r = pick(&rd);
            uint8_t how = fz_u8(&rd);
            if (r) {
                size_t n = how & 1 ? r->held : (size_t)fz_u16(&rd);
                int rc = weft_yamux_stream_consumed(r->st, n);
                if (!h.cfg.manual_consume || n > r->held) {
                    FZ_CHECK(rc == WEFT_EINVAL);
                } else {
                    check_call(rc, 0, 0);
                    if (rc == 0)
                        r->held -= n;
                }
            }
            break;
        }
        case 12: drain(fz_u16(&rd)); break;
        case 13:
            h.now += fz_u8(&rd);
            check_rc(weft_yamux_tick(h.s, h.now));
            break;
        case 14:
            h.pinged = 1;
            check_call(weft_yamux_ping(h.s, h.now), WEFT_EAGAIN, 0);
            break;
        case 15: check_call(weft_yamux_goaway(h.s, fz_u8(&rd) % 4), 0, 0); break;
        }
        check_state();
    }
    check_rc(weft_yamux_tick(h.s, h.now));
    drain(0);
    weft_yamux_free(h.s);
    FZ_CHECK(h.open_recs == 0);
    return 0;
}
