/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamux session engine (weft/yamux.h): configuration and lifetime, the
 * stream table, output (frames, go-away, pings), the receive window, timers
 * and output draining, and the session and stream calls. Input parsing and
 * the events it raises are in yamux_input.c; the structs, and the
 * invariants they keep, are in yamux_internal.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "yamux_internal.h"

#define MIB (1024u * 1024u)
#define TAB_MIN 16u
/* Drained output buffers larger than this are given back to the heap. */
#define OUT_KEEP (16u * 1024u)

/* ---- encoding -------------------------------------------------------------- */

static void
put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void
weft_yamux_put_header(uint8_t out[WEFT_YAMUX_HDR], uint8_t type, uint16_t flags, uint32_t stream_id,
                      uint32_t length)
{
    out[0] = WEFT_YAMUX_VERSION;
    out[1] = type;
    put_be16(out + 2, flags);
    put_be32(out + 4, stream_id);
    put_be32(out + 8, length);
}

/* ---- configuration and lifetime ------------------------------------------- */

void
weft_yamux_config_default(weft_yamux_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_inbound_streams = 1000;
    c->max_outbound_streams = 1024;
    c->max_pending_ack = 256;
    c->max_frame = 64u * 1024u;
    c->initial_window = WEFT_YAMUX_INITIAL_WINDOW;
    c->max_window = 16u * MIB;
    c->out_limit = 1u * MIB;
    c->out_max = 4u * MIB;
    c->keepalive = 30ull * 1000000000ull;
    c->ping_timeout = 30ull * 1000000000ull;
}

static int
config_ok(const weft_yamux_config *c)
{
    return c->max_inbound_streams > 0 && c->max_outbound_streams > 0 && c->max_pending_ack > 0 &&
           c->max_frame > 0 && c->initial_window >= WEFT_YAMUX_INITIAL_WINDOW &&
           c->max_window >= c->initial_window && c->max_window <= 0x80000000u &&
           c->out_limit > WEFT_YAMUX_HDR && c->out_max >= c->out_limit &&
           c->out_max <= SIZE_MAX / 4;
}

static int send_ping(weft_yamux *s, uint64_t now);

int
weft_yamux_new(weft_yamux **out, const weft_yamux_config *cfg, int is_client, uint64_t now)
{
    *out = NULL;
    if (!config_ok(cfg))
        return WEFT_EINVAL;
    weft_yamux *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->tab = calloc(TAB_MIN, sizeof *s->tab);
    if (s->tab == NULL) {
        free(s);
        return -ENOMEM;
    }
    s->cfg = *cfg;
    s->client = is_client != 0;
    s->tab_size = TAB_MIN;
    s->next_id = s->client ? 1 : 2;
    s->rtt = UINT64_MAX;
    s->now = now;
    weft_buf_init(&s->out, NULL, 0, cfg->out_max + WEFT_YAMUX_HDR);
    if (cfg->keepalive) {
        int rc = send_ping(s, now);
        if (rc < 0) {
            weft_yamux_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

void *
weft_yamux_user(const weft_yamux *s)
{
    return s->cfg.user;
}

/* ---- stream table ------------------------------------------------------------ */

static void
tab_grow(weft_yamux *s)
{
    uint32_t nsize = s->tab_size * 2;
    weft_yamux_stream **ntab = calloc(nsize, sizeof *ntab);
    if (ntab == NULL)
        return; /* longer chains, still correct */
    weft_yamux_stream **old = s->tab;
    uint32_t osize = s->tab_size;
    s->tab = ntab;
    s->tab_size = nsize;
    for (uint32_t i = 0; i < osize; i++) {
        weft_yamux_stream *st = old[i];
        while (st != NULL) {
            weft_yamux_stream *nx = st->hnext;
            uint32_t k = slot(s, st->id);
            st->hnext = ntab[k];
            ntab[k] = st;
            st = nx;
        }
    }
    free(old);
}

static void
tab_insert(weft_yamux *s, weft_yamux_stream *st)
{
    if (s->tab_count + 1 > 2 * s->tab_size)
        tab_grow(s);
    uint32_t k = slot(s, st->id);
    st->hnext = s->tab[k];
    s->tab[k] = st;
    s->tab_count++;
}

static void
tab_remove(weft_yamux *s, weft_yamux_stream *st)
{
    weft_yamux_stream **pp = &s->tab[slot(s, st->id)];
    while (*pp != NULL && *pp != st)
        pp = &(*pp)->hnext;
    if (*pp == st) {
        *pp = st->hnext;
        st->hnext = NULL;
        s->tab_count--;
    }
}

weft_yamux_stream *
yamux_stream_new(weft_yamux *s, uint32_t id, int inbound)
{
    weft_yamux_stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->sess = s;
    st->id = id;
    st->inbound = (uint8_t)inbound;
    st->pend = inbound ? WEFT_YAMUX_ACK : WEFT_YAMUX_SYN;
    st->rtarget = s->cfg.initial_window;
    /* What the peer assumes until our SYN/ACK announces more. */
    st->rcredit = WEFT_YAMUX_INITIAL_WINDOW;
    st->swin = WEFT_YAMUX_INITIAL_WINDOW;
    st->epoch = s->now;
    st->prev = s->tail;
    if (s->tail)
        s->tail->next = st;
    else
        s->head = st;
    s->tail = st;
    tab_insert(s, st);
    s->n_alloc++;
    if (inbound)
        s->n_in++;
    else
        s->n_out++;
    return st;
}

/* The stream is over: leave the table and the counters, queue the close. */
void
yamux_finish(weft_yamux_stream *st, int err)
{
    weft_yamux *s = st->sess;
    if (st->finished)
        return;
    st->finished = 1;
    st->close_err = err;
    tab_remove(s, st);
    if (st->inbound) {
        s->n_in--;
    } else {
        s->n_out--;
        if (!st->acked)
            s->n_pending_ack--;
    }
    if (st->want_write) {
        st->want_write = 0;
        s->n_blocked--;
    }
    st->cnext = NULL;
    if (s->ctail)
        s->ctail->cnext = st;
    else
        s->chead = st;
    s->ctail = st;
}

void
yamux_stream_free(weft_yamux *s, weft_yamux_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        s->head = st->next;
    if (st->next)
        st->next->prev = st->prev;
    else
        s->tail = st->prev;
    if (s->cur == st)
        s->cur = NULL;
    s->n_alloc--;
    free(st);
}

/* ---- output ------------------------------------------------------------------- */

static int
out_reserve(weft_yamux *s, size_t n)
{
    if (s->out_off > 0 && s->out.len + n > s->out.cap) {
        memmove(s->out.base, s->out.base + s->out_off, s->out.len - s->out_off);
        s->out.len -= s->out_off;
        s->out_off = 0;
    }
    return weft_buf_reserve(&s->out, n);
}

static int
out_frame(weft_yamux *s, uint8_t type, uint16_t flags, uint32_t id, uint32_t length,
          const void *payload, size_t plen)
{
    int rc = out_reserve(s, WEFT_YAMUX_HDR + plen);
    if (rc < 0)
        return rc;
    uint8_t *p = s->out.base + s->out.len;
    weft_yamux_put_header(p, type, flags, id, length);
    if (plen)
        memcpy(p + WEFT_YAMUX_HDR, payload, plen);
    s->out.len += WEFT_YAMUX_HDR + plen;
    return 0;
}

/* Mark the session failed and queue our go-away, once. Stream teardown
 * happens in yamux_reap(), at the end of the outermost call. */
int
yamux_fail(weft_yamux *s, int err, uint32_t code)
{
    if (s->err)
        return s->err;
    s->err = err;
    if (!s->local_goaway) {
        s->local_goaway = 1;
        /* The buffer's cap keeps 12 bytes past out_max for exactly this. */
        (void)out_frame(s, WEFT_YAMUX_GO_AWAY, 0, 0, code, NULL, 0);
    }
    return err;
}

/* A frame without payload; past out_max the session fails. */
int
yamux_control(weft_yamux *s, uint8_t type, uint16_t flags, uint32_t id, uint32_t length)
{
    if (s->err)
        return s->err;
    if (pending_len(s) + WEFT_YAMUX_HDR > s->cfg.out_max)
        return yamux_fail(s, WEFT_ELIMIT, WEFT_YAMUX_GOAWAY_INTERNAL);
    int rc = out_frame(s, type, flags, id, length, NULL, 0);
    if (rc < 0)
        return yamux_fail(s, rc, WEFT_YAMUX_GOAWAY_INTERNAL);
    return 0;
}

int
yamux_stream_control(weft_yamux_stream *st, uint16_t flags, uint32_t length)
{
    int rc = yamux_control(st->sess, WEFT_YAMUX_WINDOW_UPDATE, (uint16_t)(flags | st->pend), st->id,
                           length);
    if (rc == 0)
        st->pend = 0;
    return rc;
}

static int
send_ping(weft_yamux *s, uint64_t now)
{
    uint32_t opaque = s->ping_opaque + 1;
    int rc = yamux_control(s, WEFT_YAMUX_PING, WEFT_YAMUX_SYN, 0, opaque);
    if (rc < 0)
        return rc;
    s->ping_opaque = opaque;
    s->ping_out = 1;
    s->ping_sent = now;
    s->ping_next = now + s->cfg.keepalive;
    return 0;
}

/* ---- receive window ----------------------------------------------------------- */

/* Grant the peer what the application has freed, once it is worth a frame
 * (half the window), or now when a SYN/ACK is due. */
int
yamux_update_window(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (st->finished || st->reset)
        return 0;
    uint32_t delta = st->rtarget - st->rcredit - st->rheld;
    if (st->pend == 0) {
        /* After the peer's FIN no more data comes: nothing to grant. */
        if (st->rfin || delta < st->rtarget / 2)
            return 0;
        /* Updates coming faster than four round trips mean the window, not
         * the reader, limits throughput: double it. */
        if (s->rtt != UINT64_MAX && (s->now - st->epoch) / 4 < s->rtt &&
            st->rtarget < s->cfg.max_window) {
            uint64_t t = (uint64_t)st->rtarget * 2;
            st->rtarget = t > s->cfg.max_window ? s->cfg.max_window : (uint32_t)t;
            delta = st->rtarget - st->rcredit - st->rheld;
        }
    }
    int rc = yamux_stream_control(st, 0, delta);
    if (rc < 0)
        return rc;
    st->rcredit += delta;
    st->epoch = s->now;
    return 0;
}

/* ---- timers and output -------------------------------------------------------- */

int
weft_yamux_tick(weft_yamux *s, uint64_t now)
{
    if (s->in_call)
        return WEFT_EINVAL;
    s->in_call = 1;
    s->now = now;
    if (!s->err) {
        if (s->ping_out) {
            if (s->cfg.ping_timeout && now - s->ping_sent >= s->cfg.ping_timeout)
                (void)yamux_fail(s, -ETIMEDOUT, WEFT_YAMUX_GOAWAY_NORMAL);
        } else if (s->cfg.keepalive && now >= s->ping_next) {
            (void)send_ping(s, now);
        }
    }
    yamux_reap(s);
    s->in_call = 0;
    return s->err;
}

uint64_t
weft_yamux_next_deadline(const weft_yamux *s)
{
    if (s->chead != NULL || (s->err && !s->torn_down))
        return 0;
    if (s->err)
        return UINT64_MAX;
    if (s->ping_out)
        return s->cfg.ping_timeout ? s->ping_sent + s->cfg.ping_timeout : UINT64_MAX;
    return s->cfg.keepalive ? s->ping_next : UINT64_MAX;
}

const uint8_t *
weft_yamux_pending(const weft_yamux *s, size_t *len)
{
    *len = pending_len(s);
    return *len ? s->out.base + s->out_off : NULL;
}

void
weft_yamux_sent(weft_yamux *s, size_t n)
{
    size_t p = pending_len(s);
    s->out_off += n < p ? n : p;
    if (s->out_off == s->out.len) {
        s->out.len = 0;
        s->out_off = 0;
        if (s->out.on_heap && s->out.cap > OUT_KEEP) {
            size_t max = s->out.max;
            weft_buf_free(&s->out);
            weft_buf_init(&s->out, NULL, 0, max);
        }
    }
    if (s->in_call)
        return;
    s->in_call = 1;
    for (weft_yamux_stream *st = s->head; st != NULL && s->n_blocked > 0 && !s->err;
         st = st->next) {
        if (data_room(s) <= WEFT_YAMUX_HDR)
            break;
        yamux_maybe_writable(st);
    }
    yamux_reap(s);
    s->in_call = 0;
}

/* ---- session calls ------------------------------------------------------------ */

int
weft_yamux_goaway(weft_yamux *s, uint32_t code)
{
    if (s->err)
        return s->err;
    if (s->local_goaway)
        return 0;
    int rc = yamux_control(s, WEFT_YAMUX_GO_AWAY, 0, 0, code);
    if (rc == 0)
        s->local_goaway = 1;
    return rc;
}

int
weft_yamux_ping(weft_yamux *s, uint64_t now)
{
    if (s->err)
        return s->err;
    if (s->ping_out)
        return WEFT_EAGAIN;
    s->now = now;
    return send_ping(s, now);
}

uint64_t
weft_yamux_rtt(const weft_yamux *s)
{
    return s->rtt;
}

uint32_t
weft_yamux_num_inbound(const weft_yamux *s)
{
    return s->n_in;
}

uint32_t
weft_yamux_num_outbound(const weft_yamux *s)
{
    return s->n_out;
}

size_t
weft_yamux_mem_usage(const weft_yamux *s)
{
    size_t m = sizeof *s + (size_t)s->tab_size * sizeof *s->tab;
    m += s->n_alloc * sizeof(weft_yamux_stream);
    if (s->out.on_heap)
        m += s->out.cap;
    return m;
}

void
weft_yamux_free(weft_yamux *s)
{
    if (s == NULL)
        return;
    s->in_call = 1;
    while (s->head != NULL) {
        weft_yamux_stream *st = s->head;
        if (s->cfg.on_stream_close)
            s->cfg.on_stream_close(s, st, st->finished ? st->close_err : WEFT_ECLOSED);
        s->head = st->next;
        free(st);
    }
    weft_buf_free(&s->out);
    free(s->tab);
    free(s);
}

/* ---- stream calls ------------------------------------------------------------- */

int
weft_yamux_open(weft_yamux *s, weft_yamux_stream **out)
{
    *out = NULL;
    if (s->err)
        return s->err;
    if (s->local_goaway || s->remote_goaway)
        return WEFT_ECLOSED;
    if (s->n_out >= s->cfg.max_outbound_streams || s->n_pending_ack >= s->cfg.max_pending_ack ||
        s->next_id > UINT32_MAX)
        return WEFT_ELIMIT;
    if (pending_len(s) + WEFT_YAMUX_HDR > s->cfg.out_max)
        return WEFT_EAGAIN;
    weft_yamux_stream *st = yamux_stream_new(s, (uint32_t)s->next_id, 0);
    if (st == NULL)
        return -ENOMEM;
    s->next_id += 2;
    s->n_pending_ack++;
    int rc = yamux_update_window(st);
    if (rc < 0)
        return rc; /* the session failed; teardown frees st */
    *out = st;
    return 0;
}

ptrdiff_t
weft_yamux_stream_write(weft_yamux_stream *st, const void *data, size_t len)
{
    weft_yamux *s = st->sess;
    if (s->err)
        return s->err;
    if (st->finished || st->reset || st->lfin)
        return WEFT_ECLOSED;
    if (len == 0)
        return 0;
    if (data == NULL)
        return WEFT_EINVAL;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len && st->swin > 0) {
        size_t room = data_room(s);
        if (room <= WEFT_YAMUX_HDR)
            break;
        size_t chunk = len - done;
        if (chunk > s->cfg.max_frame)
            chunk = s->cfg.max_frame;
        if (chunk > st->swin)
            chunk = st->swin;
        if (chunk > room - WEFT_YAMUX_HDR)
            chunk = room - WEFT_YAMUX_HDR;
        int rc = out_frame(s, WEFT_YAMUX_DATA, st->pend, st->id, (uint32_t)chunk, p + done, chunk);
        if (rc < 0) {
            if (done > 0)
                break;
            return rc;
        }
        st->pend = 0;
        st->swin -= (uint32_t)chunk;
        done += chunk;
    }
    if (done < len && !st->want_write) {
        st->want_write = 1;
        s->n_blocked++;
    }
    return done ? (ptrdiff_t)done : WEFT_EAGAIN;
}

int
weft_yamux_stream_close(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (s->err)
        return s->err;
    if (st->reset)
        return WEFT_ECLOSED;
    if (st->lfin || st->finished)
        return 0;
    int rc = yamux_stream_control(st, WEFT_YAMUX_FIN, 0);
    if (rc < 0)
        return rc;
    st->lfin = 1;
    if (st->want_write) {
        st->want_write = 0;
        s->n_blocked--;
    }
    if (st->rfin)
        yamux_finish(st, 0);
    return 0;
}

int
weft_yamux_stream_reset(weft_yamux_stream *st)
{
    weft_yamux *s = st->sess;
    if (st->reset || st->finished)
        return 0;
    if (s->err)
        return s->err;
    int rc = yamux_stream_control(st, WEFT_YAMUX_RST, 0);
    st->reset = 1;
    yamux_finish(st, WEFT_ECLOSED);
    return rc;
}

int
weft_yamux_stream_consumed(weft_yamux_stream *st, size_t n)
{
    weft_yamux *s = st->sess;
    if (!s->cfg.manual_consume || n > st->rheld)
        return WEFT_EINVAL;
    if (s->err)
        return s->err;
    st->rheld -= (uint32_t)n;
    return yamux_update_window(st);
}

uint32_t
weft_yamux_stream_id(const weft_yamux_stream *st)
{
    return st->id;
}

weft_yamux *
weft_yamux_stream_session(const weft_yamux_stream *st)
{
    return st->sess;
}

void *
weft_yamux_stream_user(const weft_yamux_stream *st)
{
    return st->user;
}

void
weft_yamux_stream_set_user(weft_yamux_stream *st, void *user)
{
    st->user = user;
}

uint32_t
weft_yamux_stream_send_window(const weft_yamux_stream *st)
{
    return st->swin;
}

uint32_t
weft_yamux_stream_recv_window(const weft_yamux_stream *st)
{
    return st->rcredit;
}
