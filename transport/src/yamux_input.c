/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux input (weft/yamux.h): frame parsing, weft_yamux_input(), and the
 * events that frames and session failure raise (FIN, RST, writable, stream
 * close). The structs, and the invariants they keep, are in
 * yamux_internal.h.
 *
 * Input is parsed by a two-state machine: collect a 12-byte header (kept in
 * hdr[] across calls), then, for data frames, pass the payload through to
 * on_data piece by piece, or skip it when the frame's stream is unknown or
 * dead. Nothing but the header is ever buffered, so memory does not depend
 * on what the peer sends.
 */
#include <errno.h>
#include <string.h>

#include "yamux_internal.h"

/* ---- events ------------------------------------------------------------------- */

/* Session failed: every live stream is reset. Then deliver the closes. */
void
yamux_reap(weft_yamux *s)
{
    if (s->err && !s->torn_down) {
        s->torn_down = 1;
        s->in_payload = 0;
        s->cur = NULL;
        for (weft_yamux_stream *st = s->head; st != NULL; st = st->next) {
            if (st->finished)
                continue;
            st->reset = 1;
            if (s->cfg.on_reset)
                s->cfg.on_reset(s, st);
            yamux_finish(st, WEFT_ECLOSED);
        }
    }
    while (s->chead != NULL) {
        weft_yamux_stream *st = s->chead;
        s->chead = st->cnext;
        if (s->chead == NULL)
            s->ctail = NULL;
        if (s->cfg.on_stream_close)
            s->cfg.on_stream_close(s, st, st->close_err);
        yamux_stream_free(s, st);
    }
}

void
yamux_maybe_writable(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (!st->want_write || st->finished || st->swin == 0 || data_room(s) <= WEFT_YAMUX_HDR)
        return;
    st->want_write = 0;
    s->n_blocked--;
    if (s->cfg.on_writable)
        s->cfg.on_writable(s, st);
}

static void
remote_fin(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (st->rfin || st->finished)
        return;
    st->rfin = 1;
    if (s->cfg.on_fin)
        s->cfg.on_fin(s, st);
    if (!st->finished && st->lfin)
        yamux_finish(st, 0);
}

static void
remote_rst(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (st->finished || st->reset)
        return;
    st->reset = 1;
    if (s->cfg.on_reset)
        s->cfg.on_reset(s, st);
    yamux_finish(st, WEFT_ECLOSED);
}

/* A stream-level rule was broken: RST it and tell the application. */
static int
violation_reset(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    int rc = yamux_stream_control(st, WEFT_YAMUX_RST, 0);
    st->reset = 1;
    if (s->cfg.on_reset)
        s->cfg.on_reset(s, st);
    yamux_finish(st, WEFT_ECLOSED);
    return rc;
}

/* ---- input -------------------------------------------------------------------- */

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
proto_error(weft_yamux *s)
{
    return yamux_fail(s, WEFT_EPROTO, WEFT_YAMUX_GOAWAY_PROTO);
}

static void
skip_payload(weft_yamux *s, uint32_t length)
{
    s->cur = NULL;
    s->pflags = 0;
    s->remain = length;
    s->in_payload = length > 0;
}

/* The last byte of a data frame was delivered: apply its FIN. */
static void
end_data(weft_yamux *s)
{
    weft_yamux_stream *st = s->cur;
    uint16_t flags = s->pflags;
    s->cur = NULL;
    s->pflags = 0;
    s->in_payload = 0;
    if (st != NULL && (flags & WEFT_YAMUX_FIN))
        remote_fin(st);
}

/* A SYN for a stream the peer opens. Returns the stream, NULL when it was
 * refused (or the session failed: check s->err). */
static weft_yamux_stream *
accept_stream(weft_yamux *s, uint32_t id)
{
    if (s->local_goaway || s->n_in >= s->cfg.max_inbound_streams) {
        /* Refused streams keep no state: a later frame for the id is one
         * for an unknown stream. */
        (void)yamux_control(s, WEFT_YAMUX_WINDOW_UPDATE, WEFT_YAMUX_RST, id, 0);
        return NULL;
    }
    weft_yamux_stream *st = yamux_stream_new(s, id, 1);
    if (st == NULL) {
        (void)yamux_fail(s, -ENOMEM, WEFT_YAMUX_GOAWAY_INTERNAL);
        return NULL;
    }
    if (s->cfg.on_stream_open)
        s->cfg.on_stream_open(s, st);
    if (st->finished)
        return NULL;
    /* The ACK, with the window beyond 256 KiB, unless a write inside the
     * callback carried it already. */
    if (st->pend || st->rtarget != st->rcredit + st->rheld) {
        if (yamux_update_window(st) < 0)
            return NULL;
    }
    return st;
}

static int
stream_frame(weft_yamux *s, uint8_t type, uint16_t flags, uint32_t id, uint32_t length)
{
    if (id == 0)
        return proto_error(s);
    weft_yamux_stream *st = lookup(s, id);
    if (flags & WEFT_YAMUX_SYN) {
        /* The peer opens ids of the other parity only, and only once. */
        if ((id & 1u) == (uint32_t)s->client || st != NULL)
            return proto_error(s);
        st = accept_stream(s, id);
        if (s->err)
            return s->err;
    }
    if (st == NULL) {
        /* Likely a stream we reset or refused: drop what it carries. No
         * window we ever granted is larger than max_window. */
        if (type == WEFT_YAMUX_DATA) {
            if (length > s->cfg.max_window)
                return proto_error(s);
            skip_payload(s, length);
        }
        return 0;
    }
    if ((flags & WEFT_YAMUX_ACK) && !st->inbound && !st->acked) {
        st->acked = 1;
        s->n_pending_ack--;
    }
    if (type == WEFT_YAMUX_WINDOW_UPDATE) {
        uint64_t w = (uint64_t)st->swin + length;
        if (w > UINT32_MAX)
            return proto_error(s);
        st->swin = (uint32_t)w;
        if (flags & WEFT_YAMUX_RST) {
            remote_rst(st);
            return 0;
        }
        if (flags & WEFT_YAMUX_FIN)
            remote_fin(st);
        yamux_maybe_writable(st);
        return 0;
    }

    /* The credit is taken as the payload arrives (deliver()), so bytes still
     * on the wire are never counted as free when a window update is sized. */
    if (length > st->rcredit)
        return proto_error(s);
    if (flags & WEFT_YAMUX_RST) {
        remote_rst(st);
        skip_payload(s, length);
        return 0;
    }
    if (st->rfin && length > 0) {
        /* Data after the peer's own FIN. */
        skip_payload(s, length);
        return violation_reset(st);
    }
    s->cur = st;
    s->pflags = flags & WEFT_YAMUX_FIN;
    s->remain = length;
    if (length == 0)
        end_data(s);
    else
        s->in_payload = 1;
    return 0;
}

static int
handle_header(weft_yamux *s)
{
    const uint8_t *h = s->hdr;
    uint8_t type = h[1];
    uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
    uint32_t id = get_be32(h + 4);
    uint32_t length = get_be32(h + 8);
    if (h[0] != WEFT_YAMUX_VERSION)
        return proto_error(s);
    switch (type) {
    case WEFT_YAMUX_DATA:
    case WEFT_YAMUX_WINDOW_UPDATE: return stream_frame(s, type, flags, id, length);
    case WEFT_YAMUX_PING:
        /* The spec puts pings on stream 0; the id is not checked. */
        if (flags & WEFT_YAMUX_SYN) {
            int rc = yamux_control(s, WEFT_YAMUX_PING, WEFT_YAMUX_ACK, 0, length);
            if (rc < 0)
                return rc;
        }
        if ((flags & WEFT_YAMUX_ACK) && s->ping_out && length == s->ping_opaque) {
            s->ping_out = 0;
            s->rtt = s->now - s->ping_sent;
            if (s->cfg.on_ping_rtt)
                s->cfg.on_ping_rtt(s, s->rtt);
        }
        return 0;
    case WEFT_YAMUX_GO_AWAY:
        if (!s->remote_goaway) {
            s->remote_goaway = 1;
            if (s->cfg.on_goaway)
                s->cfg.on_goaway(s, length);
        }
        return 0;
    default: return proto_error(s);
    }
}

static void
deliver(weft_yamux *s, const uint8_t *p, size_t n)
{
    weft_yamux_stream *st = s->cur;
    if (st == NULL || st->finished)
        return;
    /* Count the bytes as held before the callback, which may consume them. */
    st->rcredit -= (uint32_t)n;
    st->rheld += (uint32_t)n;
    if (s->cfg.on_data)
        s->cfg.on_data(s, st, p, n);
    if (!s->cfg.manual_consume && s->cur == st && !st->finished) {
        st->rheld -= (uint32_t)n;
        (void)yamux_update_window(st);
    }
}

int
weft_yamux_input(weft_yamux *s, const uint8_t *in, size_t len, uint64_t now)
{
    if (s->in_call || (len > 0 && in == NULL))
        return WEFT_EINVAL;
    s->in_call = 1;
    s->now = now;
    size_t pos = 0;
    while (pos < len && !s->err) {
        if (!s->in_payload) {
            size_t take = WEFT_YAMUX_HDR - s->hlen;
            if (take > len - pos)
                take = len - pos;
            memcpy(s->hdr + s->hlen, in + pos, take);
            s->hlen = (uint8_t)(s->hlen + take);
            pos += take;
            if (s->hlen < WEFT_YAMUX_HDR)
                break;
            s->hlen = 0;
            (void)handle_header(s);
            continue;
        }
        size_t take = s->remain;
        if (take > len - pos)
            take = len - pos;
        deliver(s, in + pos, take);
        s->remain -= (uint32_t)take;
        pos += take;
        if (s->remain == 0)
            end_data(s);
    }
    yamux_reap(s);
    s->in_call = 0;
    return s->err;
}
