/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/yamux.h: the yamux stream multiplexer (`/yamux/1.0.0`, hashicorp
 * spec.md as used by libp2p), sans-I/O. The session takes the bytes read from
 * the (decrypted) connection plus the current time, reports what happened
 * through callbacks, and queues the bytes to send in an internal output
 * buffer that the caller drains. It never touches a socket or a clock.
 *
 * Frames: a 12-byte big-endian header (version 0, type, flags, stream id,
 * length) and, for data frames, length payload bytes. The dialer (client)
 * opens odd stream ids, the listener even ones; id 0 carries session frames
 * (ping, go-away).
 *
 * Flow control: every stream starts with a 256 KiB window in each direction,
 * counting data bytes only. The session never sends more than the peer's
 * window and fails the session if the peer sends more than ours. Our receive
 * window is reopened as the application consumes data: when half of it is
 * free again a window update goes out, and the window doubles (up to
 * max_window) when updates come faster than four round trips, as in js and
 * go. Consumption is automatic when on_data returns unless manual_consume
 * is set; then the application reports it with weft_yamux_stream_consumed().
 *
 * Data is never buffered inside the session: on_data lends a slice of the
 * caller's input (a frame may arrive in several pieces), and
 * weft_yamux_stream_write() copies only what the peer's window and the
 * output limit allow, straight into frames.
 *
 * Callbacks run only inside weft_yamux_input(), weft_yamux_tick() and
 * weft_yamux_sent() (and on_stream_close inside weft_yamux_free()), never
 * inside other calls. They may call any stream or session function except
 * those three and weft_yamux_free(). A stream handle
 * stays valid until its on_stream_close callback returns; after that the
 * session frees it. A stream that ends through a local call (close after the
 * peer's FIN, reset) gets on_stream_close during the next input/tick/sent
 * call (weft_yamux_next_deadline() then returns 0 so an event loop ticks at
 * once). Protocol violations queue a go-away (code 1) and fail the session:
 * the failing call returns the error, every open stream receives on_reset
 * and on_stream_close, and the output keeps the go-away to flush before the
 * connection is closed. Errors are sticky.
 *
 * Memory: an idle session is one struct plus a 16-bucket stream table,
 * under 512 bytes on LP64 (see weft_yamux_mem_usage()); each stream costs
 * about 100 bytes; the output buffer grows with pending output, and one
 * over 16 KiB is released once drained.
 * Inbound streams over max_inbound_streams are refused with RST and leave no
 * state behind.
 *
 * Threading: a session and its streams belong to one thread.
 */
#ifndef WEFT_YAMUX_H
#define WEFT_YAMUX_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_YAMUX_HDR 12
#define WEFT_YAMUX_VERSION 0
#define WEFT_YAMUX_INITIAL_WINDOW (256u * 1024u)

enum {
    WEFT_YAMUX_DATA = 0,
    WEFT_YAMUX_WINDOW_UPDATE = 1,
    WEFT_YAMUX_PING = 2,
    WEFT_YAMUX_GO_AWAY = 3,
};

enum {
    WEFT_YAMUX_SYN = 1,
    WEFT_YAMUX_ACK = 2,
    WEFT_YAMUX_FIN = 4,
    WEFT_YAMUX_RST = 8,
};

enum {
    WEFT_YAMUX_GOAWAY_NORMAL = 0,
    WEFT_YAMUX_GOAWAY_PROTO = 1,
    WEFT_YAMUX_GOAWAY_INTERNAL = 2,
};

typedef struct weft_yamux weft_yamux;
typedef struct weft_yamux_stream weft_yamux_stream;

/*
 * Session configuration. Start from weft_yamux_config_default() and change
 * fields. Times are in the caller's clock units (nanoseconds suggested);
 * the session only subtracts and compares them.
 */
typedef struct weft_yamux_config {
    uint32_t max_inbound_streams;  /* open streams the peer may have; more get RST (1000) */
    uint32_t max_outbound_streams; /* open streams we may have (1024) */
    uint32_t max_pending_ack;      /* our streams not yet ACKed by the peer (256) */
    uint32_t max_frame;            /* payload bytes per data frame we send (65536) */
    uint32_t initial_window;       /* our receive window for new streams, >= 256 KiB;
                                      the excess is announced with SYN/ACK (256 KiB) */
    uint32_t max_window;           /* limit of receive-window growth (16 MiB) */
    size_t out_limit;              /* stream_write accepts data only while the pending
                                      output is below this (1 MiB) */
    size_t out_max;                /* hard cap on pending output; control frames past
                                      it fail the session with WEFT_ELIMIT (4 MiB) */
    uint64_t keepalive;            /* ping interval, 0 = no keep-alive (30 s in ns). A
                                      session with keep-alive pings once at creation
                                      too, to learn the RTT for window growth. */
    uint64_t ping_timeout;         /* unanswered ping fails the session (30 s in ns) */
    int manual_consume;            /* 0: data counts as consumed when on_data returns */
    void *user;                    /* returned by weft_yamux_user() */

    /* Events; any may be NULL. sess is the session, st the stream. */
    /* The peer opened st. Set a user pointer, or reset st to refuse it. The
     * session ACKs st when this returns (unless st was reset). */
    void (*on_stream_open)(weft_yamux *sess, weft_yamux_stream *st);
    /* len > 0 bytes for st, lent for the call only. */
    void (*on_data)(weft_yamux *sess, weft_yamux_stream *st, const uint8_t *data, size_t len);
    /* The peer half-closed st: no more data will come. */
    void (*on_fin)(weft_yamux *sess, weft_yamux_stream *st);
    /* st was reset: by the peer (RST), because it broke a stream-level rule,
     * or because the session failed. No more data either way. */
    void (*on_reset)(weft_yamux *sess, weft_yamux_stream *st);
    /* A write to st was cut short; it can take more bytes now. */
    void (*on_writable)(weft_yamux *sess, weft_yamux_stream *st);
    /* Last event of st: err is 0 after FIN both ways, WEFT_ECLOSED after a
     * reset or session teardown. st is freed when this returns. */
    void (*on_stream_close)(weft_yamux *sess, weft_yamux_stream *st, int err);
    /* The peer sent go-away with code (0 normal, 1 protocol, 2 internal or
     * other values): we can no longer open streams; existing ones and
     * streams the peer still opens carry on. */
    void (*on_goaway)(weft_yamux *sess, uint32_t code);
    /* A ping we sent was answered after rtt time units. */
    void (*on_ping_rtt)(weft_yamux *sess, uint64_t rtt);
} weft_yamux_config;

/* Fill c with the defaults listed above (callbacks NULL). */
WEFT_API void weft_yamux_config_default(weft_yamux_config *c) WEFT_NONNULL(1);

/*
 * Create a session: is_client selects odd stream ids (dialer) or even
 * (listener). The config is copied. now is the current time; with
 * keep-alive the first ping is queued at once. Returns 0 with *out set,
 * WEFT_EINVAL for a bad config (zero limits, max_frame 0, initial_window
 * < 256 KiB or > max_window, max_window > 2^31, out_max < out_limit), or
 * -ENOMEM.
 */
WEFT_NODISCARD WEFT_API int weft_yamux_new(weft_yamux **out, const weft_yamux_config *cfg,
                                           int is_client, uint64_t now) WEFT_NONNULL(1, 2);

/* Free the session and every stream. Each stream still known gets
 * on_stream_close(WEFT_ECLOSED) first, so per-stream user data can be
 * released. Pending output is discarded. NULL does nothing. */
WEFT_API void weft_yamux_free(weft_yamux *sess);

WEFT_API void *weft_yamux_user(const weft_yamux *sess) WEFT_NONNULL(1);

/*
 * Feed len bytes received from the peer, at time now. Every byte is
 * consumed: partial headers are kept (at most 11 bytes), partial data frames
 * are delivered as they come. Callbacks run from here. Returns 0 or the
 * session error: WEFT_EPROTO (malformed frame, unknown version or type,
 * data past our window, duplicate SYN or SYN with the wrong parity, frame on
 * stream 0 that belongs to a stream, window overflow past 2^32 - 1, data
 * frame for an unknown stream larger than max_window; frames for unknown
 * streams are otherwise ignored), WEFT_ELIMIT (output over out_max),
 * -ETIMEDOUT (ping timeout, from tick), WEFT_EINVAL (called from a
 * callback), -ENOMEM.
 */
WEFT_NODISCARD WEFT_API int weft_yamux_input(weft_yamux *sess, const uint8_t *in, size_t len,
                                             uint64_t now) WEFT_NONNULL(1);

/*
 * Advance timers to now: send the keep-alive ping when due, fail the session
 * with -ETIMEDOUT when a ping has gone unanswered for ping_timeout, and
 * deliver pending on_stream_close events. Returns 0 or the session error.
 */
WEFT_NODISCARD WEFT_API int weft_yamux_tick(weft_yamux *sess, uint64_t now) WEFT_NONNULL(1);

/* When weft_yamux_tick() must next run: an absolute time, 0 for "now"
 * (events are pending), or UINT64_MAX for never. */
WEFT_API uint64_t weft_yamux_next_deadline(const weft_yamux *sess) WEFT_NONNULL(1);

/* The bytes waiting to be sent: *len bytes at the returned pointer (NULL
 * when none). Valid until the next call into the session. */
WEFT_API const uint8_t *weft_yamux_pending(const weft_yamux *sess, size_t *len) WEFT_NONNULL(1, 2);

/* The first n (<= pending length) pending bytes were written to the
 * connection. Streams that were blocked by the output limit get
 * on_writable from here. */
WEFT_API void weft_yamux_sent(weft_yamux *sess, size_t n) WEFT_NONNULL(1);

/*
 * Send go-away with code (once; later calls do nothing and return 0). No
 * stream can be opened after it, by either side: inbound SYNs get RST.
 * Existing streams carry on. Returns 0 or the session error.
 */
WEFT_NODISCARD WEFT_API int weft_yamux_goaway(weft_yamux *sess, uint32_t code) WEFT_NONNULL(1);

/* Send a ping now (time now) unless one is outstanding; its answer produces
 * on_ping_rtt. Returns 0, WEFT_EAGAIN if a ping is already in flight, or
 * the session error. */
WEFT_NODISCARD WEFT_API int weft_yamux_ping(weft_yamux *sess, uint64_t now) WEFT_NONNULL(1);

/* Last measured round-trip time, or UINT64_MAX before the first pong. */
WEFT_API uint64_t weft_yamux_rtt(const weft_yamux *sess) WEFT_NONNULL(1);

/* Live streams (not yet closed or reset both ways) opened by the peer / us. */
WEFT_API uint32_t weft_yamux_num_inbound(const weft_yamux *sess) WEFT_NONNULL(1);
WEFT_API uint32_t weft_yamux_num_outbound(const weft_yamux *sess) WEFT_NONNULL(1);

/* Heap bytes the session holds now: the session struct, stream table,
 * streams (including those awaiting on_stream_close) and output buffer. */
WEFT_API size_t weft_yamux_mem_usage(const weft_yamux *sess) WEFT_NONNULL(1);

/*
 * Open a stream: queues a window update with SYN (announcing any window
 * above 256 KiB). Data may be written at once, before the peer's ACK.
 * Returns 0 with *out set, WEFT_ECLOSED after go-away (either side),
 * WEFT_ELIMIT when max_outbound_streams or max_pending_ack is reached or
 * the stream ids are exhausted, or the session error.
 */
WEFT_NODISCARD WEFT_API int weft_yamux_open(weft_yamux *sess, weft_yamux_stream **out)
    WEFT_NONNULL(1, 2);

/*
 * Queue up to len bytes of data on st, split into frames of at most
 * max_frame bytes; the bytes are copied. Returns the count accepted (0 only
 * when len == 0), WEFT_EAGAIN when none fit (the peer's window is closed or
 * the output is above out_limit), WEFT_ECLOSED after our FIN or a reset, or
 * the session error. A short count or WEFT_EAGAIN arms on_writable.
 */
WEFT_NODISCARD WEFT_API ptrdiff_t weft_yamux_stream_write(weft_yamux_stream *st, const void *data,
                                                          size_t len) WEFT_NONNULL(1);

/* Half-close st (FIN): no more writes; reading goes on until the peer's
 * FIN. Returns 0 (also when already closed), WEFT_ECLOSED after a reset, or
 * the session error. */
WEFT_NODISCARD WEFT_API int weft_yamux_stream_close(weft_yamux_stream *st) WEFT_NONNULL(1);

/* Abort st both ways (RST). Returns 0 (also when already reset), or the
 * session error. on_reset is not called for a local reset; on_stream_close
 * follows as described above. */
WEFT_NODISCARD WEFT_API int weft_yamux_stream_reset(weft_yamux_stream *st) WEFT_NONNULL(1);

/* With manual_consume: the application is done with n more delivered bytes
 * of st, which may reopen the peer's window. Returns 0, WEFT_EINVAL when n
 * exceeds what was delivered and not yet consumed (or manual_consume is
 * off), or the session error. */
WEFT_NODISCARD WEFT_API int weft_yamux_stream_consumed(weft_yamux_stream *st, size_t n)
    WEFT_NONNULL(1);

WEFT_API uint32_t weft_yamux_stream_id(const weft_yamux_stream *st) WEFT_NONNULL(1);
WEFT_API weft_yamux *weft_yamux_stream_session(const weft_yamux_stream *st) WEFT_NONNULL(1);
WEFT_API void *weft_yamux_stream_user(const weft_yamux_stream *st) WEFT_NONNULL(1);
WEFT_API void weft_yamux_stream_set_user(weft_yamux_stream *st, void *user) WEFT_NONNULL(1);
/* Bytes we may still send on st (the peer's window). */
WEFT_API uint32_t weft_yamux_stream_send_window(const weft_yamux_stream *st) WEFT_NONNULL(1);
/* Bytes the peer may still send on st (our window as the peer sees it). */
WEFT_API uint32_t weft_yamux_stream_recv_window(const weft_yamux_stream *st) WEFT_NONNULL(1);

/* Encode one header into out[0..12). */
WEFT_API void weft_yamux_put_header(uint8_t out[WEFT_YAMUX_HDR], uint8_t type, uint16_t flags,
                                    uint32_t stream_id, uint32_t length);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_YAMUX_H */
