/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux_internal.h: the session and stream structs of the yamux engine
 * (weft/yamux.h) and what its two files share: yamux.c (configuration and
 * lifetime, the stream table, output, the receive window, timers, the
 * session and stream calls) and yamux_input.c (frame parsing and the events
 * it raises). Not installed; symbols are hidden.
 *
 * Streams live in a chained hash table keyed by id (lookups) and in a
 * doubly linked list (iteration). A stream that ends leaves the table at
 * once, so later frames for its id count as frames for an unknown stream,
 * and waits on the closing list until the outermost input/tick/sent call
 * delivers on_stream_close and frees it. Deferring the free this way lets
 * callbacks reset or close any stream, including the one being delivered,
 * without the parser holding a dangling pointer.
 *
 * Window bookkeeping per stream, receive side: rcredit is what the peer may
 * still send (counting the undelivered rest of a data frame in progress),
 * rheld what was delivered but not consumed, rtarget the window size;
 * rcredit + rheld <= rtarget always holds, and a window update grants
 * rtarget - rcredit - rheld once that is at least half of rtarget. Send side:
 * swin is the peer's window; writes never exceed it.
 *
 * Output: one weft_buf with a read offset; data writes stop at out_limit,
 * control frames (SYN/ACK, window updates, FIN, RST, pings) may go up to
 * out_max, and 12 bytes beyond that are kept for the final go-away.
 */
#ifndef WEFT_YAMUX_INTERNAL_H
#define WEFT_YAMUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/yamux.h"

struct weft_yamux_stream {
    weft_yamux *sess;
    void *user;
    uint32_t id;
    uint8_t inbound;
    uint8_t acked;      /* outbound: the peer's ACK arrived */
    uint8_t lfin;       /* we sent FIN */
    uint8_t rfin;       /* the peer sent FIN */
    uint8_t reset;      /* reset by either side */
    uint8_t finished;   /* out of the table, waiting for on_stream_close */
    uint8_t want_write; /* a write was cut short: on_writable is armed */
    uint16_t pend;      /* SYN or ACK still to put on our next frame */
    int close_err;
    uint32_t rtarget, rcredit, rheld;
    uint32_t swin;
    uint64_t epoch; /* time of the last window update we sent */
    weft_yamux_stream *hnext;
    weft_yamux_stream *prev, *next;
    weft_yamux_stream *cnext;
};

struct weft_yamux {
    weft_yamux_config cfg;
    int client;
    int err;
    uint8_t in_call;
    uint8_t torn_down;
    uint8_t local_goaway, remote_goaway;
    uint8_t ping_out;
    uint8_t in_payload;
    uint8_t hlen;
    uint8_t hdr[WEFT_YAMUX_HDR];
    uint16_t pflags; /* FIN of the data frame being delivered */
    uint32_t remain; /* payload bytes left in the current data frame */
    weft_yamux_stream *cur;
    uint64_t next_id;
    uint32_t n_in, n_out, n_pending_ack, n_blocked;
    size_t n_alloc;
    weft_yamux_stream **tab;
    uint32_t tab_size, tab_count;
    weft_yamux_stream *head, *tail;
    weft_yamux_stream *chead, *ctail;
    weft_buf out;
    size_t out_off;
    uint32_t ping_opaque;
    uint64_t ping_sent, ping_next, rtt, now;
};

/* ---- small helpers ------------------------------------------------------------ */

static inline uint32_t
slot(const weft_yamux *s, uint32_t id)
{
    /* Ids step by two; a multiplicative hash spreads them over the buckets. */
    return (uint32_t)((id * 0x9E3779B1u) >> 7) & (s->tab_size - 1);
}

static inline weft_yamux_stream *
lookup(const weft_yamux *s, uint32_t id)
{
    weft_yamux_stream *st = s->tab[slot(s, id)];
    while (st != NULL && st->id != id)
        st = st->hnext;
    return st;
}

static inline size_t
pending_len(const weft_yamux *s)
{
    return s->out.len - s->out_off;
}

static inline size_t
data_room(const weft_yamux *s)
{
    size_t p = pending_len(s);
    return p < s->cfg.out_limit ? s->cfg.out_limit - p : 0;
}

/* ---- yamux.c ------------------------------------------------------------------ */

/* A new stream in the table and the list, counted; NULL when out of memory. */
weft_yamux_stream *yamux_stream_new(weft_yamux *s, uint32_t id, int inbound);
/* The stream is over: leave the table and the counters, queue the close. */
void yamux_finish(weft_yamux_stream *st, int err);
/* Unlink a closed stream from the list and free it. */
void yamux_stream_free(weft_yamux *s, weft_yamux_stream *st);
/* Mark the session failed and queue our go-away, once. Returns the error. */
int yamux_fail(weft_yamux *s, int err, uint32_t code);
/* A frame without payload; past out_max the session fails. */
int yamux_control(weft_yamux *s, uint8_t type, uint16_t flags, uint32_t id, uint32_t length);
/* A window update for st carrying flags and any SYN/ACK still due. */
int yamux_stream_control(weft_yamux_stream *st, uint16_t flags, uint32_t length);
/* Grant the peer what the application has freed, when worth a frame. */
int yamux_update_window(weft_yamux_stream *st);

/* ---- yamux_input.c ------------------------------------------------------------- */

/* Session failed: every live stream is reset. Then deliver the closes. */
void yamux_reap(weft_yamux *s);
/* Fire on_writable for st if a write was cut short and there is room now. */
void yamux_maybe_writable(weft_yamux_stream *st);

#endif
