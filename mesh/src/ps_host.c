/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The topic mesh router on a libp2p host (weft/ps_host.h).
 *
 * Every connection (weft_peer) carries a struct conn as its user pointer:
 *  - outbound: one send-only stream per wire protocol family (meshsub, and
 *    /weft/rlnc/1.0.0 in RLNC mode), opened once the peer is known to speak
 *    it (identify, or the peer opening such a stream to us). RPC frames go
 *    out uvarint-length-prefixed; what the stream does not take now waits in
 *    `pend` (at most the queue cap) and is flushed from on_writable. The
 *    frame at the head of `pend` may be partly written (`head_left` bytes to
 *    go), so that when a stream dies the rest of that frame is dropped and
 *    the frames behind it start clean on the replacement stream. A stream
 *    that dies is reopened once; only a stream that lived a while earns
 *    another reopen, so a peer that keeps resetting cannot make us loop.
 *  - inbound: one stream per protocol family, read with an lp reader bounded
 *    by the router's max_rpc_size; a newer stream replaces an older one (as
 *    go-libp2p-pubsub does). A bad prefix or an over-long frame resets it.
 *  - a second connection to a peer id the router already knows stays out of
 *    the router: frames read on it go to the router's peer, and it takes
 *    over (added to the router, streams opened) when the first one goes.
 *
 * Lifetimes: the host closes every stream of a connection (on_close) before
 * on_peer(up = 0); a stream's user pointer is cleared whenever we forget a
 * stream ourselves, so late callbacks with a NULL user are ignored. The
 * handlers registered on the host cannot be removed, so weft_ps_host_free
 * re-registers them with a NULL user, which refuses new streams.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "weft/codec.h"
#include "weft/log.h"
#include "weft/pb.h"
#include "weft/ps_host.h"

#define MOD "pubsub"
#define MS 1000000LL
#define DEFAULT_QUEUE_CAP ((size_t)32 << 20)
#define DEFAULT_TICK_NS (50 * MS)
/* A stream that stayed open this long may be reopened again after it dies. */
#define REOPEN_AFTER_NS (5000 * MS)
/* A pending buffer grown beyond this is released once drained (smaller
 * ones are kept: regrowing for every large frame costs page faults). */
#define PEND_KEEP_CAP ((size_t)2 << 20)

enum { FAM_MESHSUB = 0, FAM_RLNC = 1, NFAM = 2 };

/* Preferred first: the index is the "version" of a meshsub stream. */
static const char *const meshsub_ids[] = {WEFT_MESHSUB_12, WEFT_MESHSUB_11, WEFT_MESHSUB_10};
#define NMESHSUB ((int)(sizeof meshsub_ids / sizeof meshsub_ids[0]))

struct conn;

struct out_stream {
    struct conn *c;
    int fam;
    weft_stream *s; /* NULL when none is open or opening */
    int open;       /* on_open delivered for s */
    int version;    /* meshsub_ids index of s (meshsub family) */
    int used;       /* a stream was opened at least once */
    int reopens;    /* reopens since the last stream that lived long enough */
    int dead;       /* given up: frames are refused */
    int busy, want_flush;
    int64_t opened_at;
    weft_buf pend;    /* queued bytes: whole frames, the first maybe begun */
    size_t off;       /* bytes of pend already written */
    size_t head_left; /* bytes of the frame at pend + off still to write */
};

struct in_stream {
    struct conn *c;
    weft_stream *s;
    int fam;
    unsigned proto; /* WEFT_PS_PROTO_MESHSUB or WEFT_PS_PROTO_RLNC */
    weft_lp_reader rd;
};

struct conn {
    weft_ps_host *psh;
    weft_peer *peer;
    weft_peer_id id;
    weft_ps_peer *pp; /* NULL: a duplicate connection, or the router had no memory */
    int identified;   /* identify arrived at least once */
    int ms_ident;     /* best meshsub index listed in identify, -1 none */
    int ms_inbound;   /* best meshsub index the peer opened to us, -1 none */
    int rlnc_ident, rlnc_inbound;
    unsigned protos; /* what the router was told */
    int dirty;       /* protos changed by a stream failure: tell the router at the tick */
    struct out_stream out[NFAM];
    struct in_stream *in[NFAM];
    struct conn *next, *prev;
};

struct ps_host_stats {
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t drop_cap, drop_closed, drop_unsupported, drop_partial, drop_nomem;
    uint64_t in_bad_frame, in_replaced, in_refused;
    uint64_t out_opened, out_refused, out_reopened, out_failed;
};

struct weft_ps_host {
    weft_host *host;
    weft_loop *loop;
    weft_ps *ps;
    int mode;
    size_t max_rpc;
    size_t cap;
    int64_t tick_ns;
    weft_timer tick;
    weft_ps_io app; /* the embedding's callbacks and user */
    struct conn *conns;
    struct ps_host_stats st;
};

static const weft_stream_handler out_handler;
static const weft_stream_handler in_handler;

/* ---- small helpers ------------------------------------------------------------------ */

static int64_t
now_ns(const weft_ps_host *psh)
{
    return weft_loop_now(psh->loop);
}

static void
conn_log(const struct conn *c, int level, const char *what, const char *proto, int reason)
{
    if (!WEFT_LOG_ENABLED(level))
        return;
    char id[WEFT_PEER_ID_TEXT] = "-";
    weft_peer_id_to_text(&c->id, id, sizeof id);
    weft_log(level, MOD, "msg=\"%s\" peer=%s proto=%s reason=\"%s\"", what, id, proto ? proto : "-",
             reason ? weft_strerror(reason) : "none");
}

static int
meshsub_index(const char *proto)
{
    for (int i = 0; i < NMESHSUB; i++)
        if (!strcmp(proto, meshsub_ids[i]))
            return i;
    return -1;
}

static unsigned
meshsub_bits(int version)
{
    if (version < 0)
        return 0;
    return version == 0 ? WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12 : WEFT_PS_PROTO_MESHSUB;
}

static int
best_of(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int
ms_best(const struct conn *c)
{
    return best_of(c->ms_ident, c->ms_inbound);
}

static int
rlnc_known(const struct conn *c)
{
    return c->psh->mode == WEFT_PS_RLNC && (c->rlnc_ident || c->rlnc_inbound);
}

static int
fam_known(const struct conn *c, int fam)
{
    return fam == FAM_RLNC ? rlnc_known(c) : ms_best(c) >= 0;
}

/* What the router is to believe the peer speaks: the meshsub version of our
 * outbound stream once one was chosen (a fallback after a refusal may be
 * older than what identify listed), else the best one known. */
static unsigned
conn_protos(const struct conn *c)
{
    const struct out_stream *o = &c->out[FAM_MESHSUB];
    int v = o->dead ? -1 : o->used ? o->version : ms_best(c);
    int rlnc = rlnc_known(c) && !c->out[FAM_RLNC].dead;
    return meshsub_bits(v) | (rlnc ? (unsigned)WEFT_PS_PROTO_RLNC : 0u);
}

/* ---- outbound streams ------------------------------------------------------------------ */

static size_t
out_queued(const struct out_stream *o)
{
    return o->pend.len - o->off;
}

/* Forget every queued byte (counted per frame). */
static void
out_discard(struct out_stream *o)
{
    weft_ps_host *psh = o->c->psh;
    if (o->head_left) {
        o->off += o->head_left;
        o->head_left = 0;
        psh->st.drop_partial++;
    }
    while (o->off < o->pend.len) {
        uint64_t flen;
        int k = weft_uvarint_get(o->pend.base + o->off, o->pend.len - o->off, &flen, 0);
        if (k <= 0 || flen > o->pend.len - o->off - (size_t)k)
            weft_panic("pending output out of step");
        o->off += (size_t)k + (size_t)flen;
        psh->st.drop_closed++;
    }
    weft_buf_free(&o->pend);
    weft_buf_init(&o->pend, NULL, 0, 0);
    o->off = 0;
}

/* n bytes of pend went out. */
static void
out_advance(struct out_stream *o, size_t n)
{
    while (n > 0) {
        if (o->head_left == 0) {
            uint64_t flen;
            int k = weft_uvarint_get(o->pend.base + o->off, o->pend.len - o->off, &flen, 0);
            if (k <= 0 || flen > o->pend.len - o->off - (size_t)k)
                weft_panic("pending output out of step");
            o->head_left = (size_t)k + (size_t)flen;
        }
        size_t t = n < o->head_left ? n : o->head_left;
        o->off += t;
        o->head_left -= t;
        n -= t;
    }
}

static void
out_compact(struct out_stream *o)
{
    if (o->off == o->pend.len) {
        if (o->pend.cap > PEND_KEEP_CAP) {
            weft_buf_free(&o->pend);
            weft_buf_init(&o->pend, NULL, 0, 0);
        }
        weft_buf_reset(&o->pend);
        o->off = 0;
    } else if (o->off >= PEND_KEEP_CAP && o->off * 2 >= o->pend.len) {
        weft_buf_consume(&o->pend, o->off);
        o->off = 0;
    }
}

/* Our stream is gone (closed, reset, refused or failed a write). */
static void
out_lost(struct out_stream *o, int reason)
{
    weft_ps_host *psh = o->c->psh;
    int was_open = o->open;
    o->s = NULL;
    o->open = 0;
    if (o->head_left) { /* the rest of a begun frame is useless on a new stream */
        o->off += o->head_left;
        o->head_left = 0;
        psh->st.drop_partial++;
    }
    out_compact(o);
    if (was_open && now_ns(psh) - o->opened_at >= REOPEN_AFTER_NS)
        o->reopens = 0;
    conn_log(o->c, WEFT_LOG_DEBUG, "outbound stream closed",
             o->fam == FAM_RLNC ? WEFT_RLNC_PROTO : meshsub_ids[o->version], reason);
}

static int out_open(struct out_stream *o);

static void
out_fail(struct out_stream *o, int reason)
{
    o->dead = 1;
    o->c->dirty = 1; /* the router may be on the stack: tell it at the tick */
    o->c->psh->st.out_failed++;
    conn_log(o->c, WEFT_LOG_INFO, "giving up on outbound stream",
             o->fam == FAM_RLNC ? WEFT_RLNC_PROTO : meshsub_ids[o->version], reason);
    out_discard(o);
}

/* Have a stream open or opening, if the peer is known to speak the
 * protocol: the first one, or once more after a loss. Returns 0 (also when
 * the open waits: for identify, or for a congested connection to take a
 * new stream, retried at the next send or tick) or < 0 when the family is
 * given up (reopen budget spent, connection gone). */
static int
out_ensure(struct out_stream *o)
{
    if (o->dead)
        return WEFT_ECLOSED;
    if (o->s || !fam_known(o->c, o->fam))
        return 0;
    if (o->used && o->reopens >= 1) {
        out_fail(o, WEFT_ECLOSED);
        return WEFT_ECLOSED;
    }
    int again = o->used;
    int rc = out_open(o);
    if (rc == WEFT_EAGAIN || rc == WEFT_ELIMIT)
        return 0;
    if (rc < 0) {
        out_fail(o, rc);
        return rc;
    }
    if (again) {
        o->reopens++;
        o->c->psh->st.out_reopened++;
    }
    return 0;
}

/* Write queued bytes while the stream takes them. */
static void
out_flush(struct out_stream *o)
{
    if (!o->s || !o->open)
        return;
    if (o->busy) { /* on_writable from inside one of our writes */
        o->want_flush = 1;
        return;
    }
    o->busy = 1;
    do {
        o->want_flush = 0;
        while (o->s && o->off < o->pend.len) {
            weft_stream *s = o->s;
            ptrdiff_t n = weft_stream_write(s, o->pend.base + o->off, o->pend.len - o->off);
            if (n > 0) {
                o->c->psh->st.bytes_out += (uint64_t)n;
                out_advance(o, (size_t)n);
                continue;
            }
            if (n != WEFT_EAGAIN && o->s == s) {
                weft_stream_set_user(s, NULL);
                weft_stream_reset(s);
                out_lost(o, (int)n);
            }
            break;
        }
    } while (o->want_flush && o->s && o->off < o->pend.len);
    o->busy = 0;
    out_compact(o);
    if (!o->s && out_queued(o))
        WEFT_IGNORE(out_ensure(o));
}

static int
out_open(struct out_stream *o)
{
    struct conn *c = o->c;
    if (o->fam == FAM_MESHSUB && !o->used)
        o->version = ms_best(c) >= 0 ? ms_best(c) : 0;
    const char *id = o->fam == FAM_RLNC ? WEFT_RLNC_PROTO : meshsub_ids[o->version];
    weft_stream *s = NULL;
    int rc = weft_peer_open_stream(c->peer, id, &out_handler, o, &s);
    if (rc < 0) {
        conn_log(c, WEFT_LOG_DEBUG, "cannot open stream", id, rc);
        return rc;
    }
    o->s = s;
    o->open = 0;
    o->used = 1;
    o->opened_at = now_ns(c->psh);
    c->psh->st.out_opened++;
    return 0;
}

static void
out_on_open(weft_stream *s, void *user)
{
    struct out_stream *o = user;
    if (!o || o->s != s)
        return;
    o->open = 1;
    out_flush(o);
}

static void
out_on_data(weft_stream *s, void *user, const uint8_t *data, size_t len)
{
    (void)s, (void)user, (void)data, (void)len; /* send-only: anything read is ignored */
}

static void
out_on_writable(weft_stream *s, void *user)
{
    struct out_stream *o = user;
    if (o && o->s == s)
        out_flush(o);
}

static void
out_on_close(weft_stream *s, void *user, int reason)
{
    struct out_stream *o = user;
    if (!o || o->s != s)
        return;
    int was_open = o->open;
    out_lost(o, reason);
    if (o->dead)
        return;
    if (!was_open && reason == WEFT_ENOTSUP) {
        o->c->psh->st.out_refused++;
        /* Refused: an older meshsub may do; the router hears the change. */
        if (o->fam == FAM_MESHSUB && o->version + 1 < NMESHSUB) {
            o->version++;
            int rc = out_open(o);
            if (rc < 0 && rc != WEFT_EAGAIN && rc != WEFT_ELIMIT)
                out_fail(o, rc);
            o->c->dirty = 1;
            return;
        }
        out_fail(o, reason);
        return;
    }
    if (out_queued(o))
        WEFT_IGNORE(out_ensure(o));
}

static const weft_stream_handler out_handler = {
    .on_open = out_on_open,
    .on_data = out_on_data,
    .on_writable = out_on_writable,
    .on_close = out_on_close,
};

/* Queue one frame (prefix added here). Returns 0, or < 0 when the frame
 * was refused or lost (the router counts it as dropped). */
static int
out_send(struct out_stream *o, const uint8_t *frame, size_t len)
{
    struct conn *c = o->c;
    weft_ps_host *psh = c->psh;
    if (o->dead) {
        psh->st.drop_closed++;
        return WEFT_ECLOSED;
    }
    if (!fam_known(c, o->fam) && c->identified) {
        psh->st.drop_unsupported++;
        return WEFT_ENOTSUP;
    }
    uint8_t hdr[WEFT_UVARINT_MAX];
    size_t hl = weft_uvarint_put(hdr, len);
    size_t total = hl + len;
    size_t queued = out_queued(o);
    if (total > psh->cap || queued > psh->cap - total) {
        psh->st.drop_cap++;
        if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
            conn_log(c, WEFT_LOG_DEBUG, "outbound queue full, frame dropped",
                     o->fam == FAM_RLNC ? WEFT_RLNC_PROTO : "meshsub", WEFT_ELIMIT);
        return WEFT_ELIMIT;
    }
    /* Without a stream (protocols unknown yet, or congested) it waits. */
    if (out_ensure(o) < 0) {
        psh->st.drop_closed++;
        return WEFT_ECLOSED;
    }
    /* Straight to the stream when nothing waits; the rest is queued. */
    size_t done = 0;
    if (queued == 0 && o->s && o->open && !o->busy) {
        weft_stream *s = o->s;
        o->busy = 1;
        ptrdiff_t n = weft_stream_write(s, hdr, hl);
        if (n > 0)
            done = (size_t)n;
        if (done == hl && o->s == s) {
            n = weft_stream_write(s, frame, len);
            if (n > 0)
                done += (size_t)n;
        }
        o->busy = 0;
        psh->st.bytes_out += done;
        if (o->s == s && n < 0 && n != WEFT_EAGAIN) {
            weft_stream_set_user(s, NULL);
            weft_stream_reset(s);
            out_lost(o, (int)n);
        }
        if (o->s != s) {
            /* The stream died under us: a begun frame is lost with it. */
            if (done) {
                psh->st.drop_partial++;
                if (!o->s && out_queued(o))
                    WEFT_IGNORE(out_ensure(o));
                return WEFT_ECLOSED;
            }
            if (out_ensure(o) < 0) {
                psh->st.drop_closed++;
                return WEFT_ECLOSED;
            }
        }
    }
    psh->st.frames_out++;
    if (done == total)
        return 0;
    size_t before = o->pend.len;
    int rc;
    if (done < hl) {
        rc = weft_buf_append(&o->pend, hdr + done, hl - done);
        if (rc == 0)
            rc = weft_buf_append(&o->pend, frame, len);
    } else {
        rc = weft_buf_append(&o->pend, frame + (done - hl), len - (done - hl));
    }
    if (rc < 0) {
        psh->st.drop_nomem++;
        if (done && o->s) {
            /* A begun frame that cannot be finished: the stream is out of step. */
            weft_stream *s = o->s;
            weft_stream_set_user(s, NULL);
            weft_stream_reset(s);
            o->s = NULL;
            o->open = 0;
            out_discard(o);
        } else {
            o->pend.len = before; /* no half-queued frame */
        }
        return rc;
    }
    if (done)
        o->head_left = total - done;
    out_flush(o);
    return 0;
}

/* Open the outbound streams the peer is known to accept. */
static void
ensure_streams(struct conn *c)
{
    if (!c->pp)
        return;
    for (int f = 0; f < NFAM; f++) {
        struct out_stream *o = &c->out[f];
        if (!o->used)
            WEFT_IGNORE(out_ensure(o));
    }
}

static void
update_protos(struct conn *c)
{
    ensure_streams(c);
    unsigned p = conn_protos(c);
    if (c->pp && p != c->protos) {
        c->protos = p;
        weft_ps_peer_protos(c->psh->ps, c->pp, p);
    }
}

/* ---- inbound streams ---------------------------------------------------------------- */

static void
in_free(struct in_stream *in)
{
    struct conn *c = in->c;
    if (c && c->in[in->fam] == in)
        c->in[in->fam] = NULL;
    weft_lp_reader_free(&in->rd);
    free(in);
}

/* Forget an inbound stream that is still open: reset it. */
static void
in_drop(struct in_stream *in)
{
    weft_stream *s = in->s;
    weft_stream_set_user(s, NULL);
    weft_stream_reset(s);
    in_free(in);
}

static int
in_frame(void *u, const uint8_t *f, size_t n)
{
    struct in_stream *in = u;
    struct conn *c = in->c;
    weft_ps_host *psh = c->psh;
    psh->st.frames_in++;
    psh->st.bytes_in += n;
    weft_ps_peer *pp = c->pp ? c->pp : weft_ps_find_peer(psh->ps, &c->id);
    if (!pp)
        return 0;
    /* A refused RPC is counted and charged by the router; the stream stays. */
    WEFT_IGNORE(weft_ps_on_rpc(psh->ps, pp, in->proto, f, n));
    return 0;
}

static void
in_on_open(weft_stream *s, void *user)
{
    weft_ps_host *psh = user;
    weft_peer *p = weft_stream_peer(s);
    struct conn *c = p ? weft_peer_user(p) : NULL;
    if (!psh || !c || c->psh != psh) {
        if (psh)
            psh->st.in_refused++;
        weft_stream_set_user(s, NULL);
        weft_stream_reset(s);
        return;
    }
    const char *proto = weft_stream_protocol(s);
    int fam = strcmp(proto, WEFT_RLNC_PROTO) ? FAM_MESHSUB : FAM_RLNC;
    int ms = fam == FAM_MESHSUB ? meshsub_index(proto) : -1;
    if ((fam == FAM_MESHSUB && ms < 0) || (fam == FAM_RLNC && psh->mode != WEFT_PS_RLNC)) {
        psh->st.in_refused++;
        weft_stream_set_user(s, NULL);
        weft_stream_reset(s);
        return;
    }
    struct in_stream *in = calloc(1, sizeof *in);
    if (!in) {
        psh->st.in_refused++;
        weft_stream_set_user(s, NULL);
        weft_stream_reset(s);
        return;
    }
    in->c = c;
    in->s = s;
    in->fam = fam;
    in->proto = fam == FAM_RLNC ? WEFT_PS_PROTO_RLNC : WEFT_PS_PROTO_MESHSUB;
    weft_lp_reader_init(&in->rd, psh->max_rpc);
    if (c->in[fam]) {
        psh->st.in_replaced++;
        conn_log(c, WEFT_LOG_DEBUG, "inbound stream replaced", proto, 0);
        in_drop(c->in[fam]);
    }
    c->in[fam] = in;
    weft_stream_set_user(s, in);
    if (fam == FAM_MESHSUB)
        c->ms_inbound = best_of(c->ms_inbound, ms);
    else
        c->rlnc_inbound = 1;
    update_protos(c);
}

static void
in_on_data(weft_stream *s, void *user, const uint8_t *data, size_t len)
{
    struct in_stream *in = user;
    if (!in || in->s != s)
        return;
    int rc = weft_lp_feed(&in->rd, data, len, in_frame, in);
    if (rc < 0) {
        in->c->psh->st.in_bad_frame++;
        conn_log(in->c, WEFT_LOG_INFO, "bad frame, inbound stream reset", weft_stream_protocol(s),
                 rc);
        in_drop(in);
    }
}

static void
in_on_fin(weft_stream *s, void *user)
{
    struct in_stream *in = user;
    if (in && in->s == s)
        WEFT_IGNORE(weft_stream_close(s)); /* we never write here: finish both ways */
}

static void
in_on_close(weft_stream *s, void *user, int reason)
{
    (void)reason;
    struct in_stream *in = user;
    if (in && in->s == s)
        in_free(in);
}

static const weft_stream_handler in_handler = {
    .on_open = in_on_open,
    .on_data = in_on_data,
    .on_fin = in_on_fin,
    .on_close = in_on_close,
};

/* ---- connections ---------------------------------------------------------------------- */

static void
conn_release_streams(struct conn *c, int reset)
{
    for (int f = 0; f < NFAM; f++) {
        struct out_stream *o = &c->out[f];
        if (o->s) {
            weft_stream_set_user(o->s, NULL);
            if (reset)
                weft_stream_reset(o->s);
            o->s = NULL;
        }
        o->head_left = 0;
        weft_buf_free(&o->pend);
        o->off = 0;
        if (c->in[f]) {
            struct in_stream *in = c->in[f];
            weft_stream_set_user(in->s, NULL);
            if (reset)
                weft_stream_reset(in->s);
            in_free(in);
        }
    }
}

static void
conn_unlink(struct conn *c)
{
    weft_ps_host *psh = c->psh;
    if (c->prev)
        c->prev->next = c->next;
    else
        psh->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static struct conn *
conn_new(weft_ps_host *psh, weft_peer *p)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->psh = psh;
    c->peer = p;
    c->id = *weft_peer_get_id(p);
    c->ms_ident = c->ms_inbound = -1;
    for (int f = 0; f < NFAM; f++) {
        c->out[f].c = c;
        c->out[f].fam = f;
        weft_buf_init(&c->out[f].pend, NULL, 0, 0);
    }
    c->next = psh->conns;
    if (psh->conns)
        psh->conns->prev = c;
    psh->conns = c;
    return c;
}

/* Hand the router a connection: the first one to a peer id, or a duplicate
 * taking over. */
static void
conn_attach(struct conn *c)
{
    weft_ps_host *psh = c->psh;
    unsigned p = conn_protos(c);
    c->pp = weft_ps_add_peer(psh->ps, &c->id, weft_peer_is_outbound(c->peer), p, c);
    if (!c->pp) {
        conn_log(c, WEFT_LOG_DEBUG,
                 weft_ps_find_peer(psh->ps, &c->id) ? "duplicate connection kept aside"
                                                    : "router refused the peer",
                 NULL, 0);
        return;
    }
    c->protos = p;
    update_protos(c);
}

static void
apply_identify(struct conn *c, const weft_identify *id)
{
    c->identified = 1;
    c->ms_ident = -1;
    for (int i = NMESHSUB - 1; i >= 0; i--)
        if (weft_identify_has_protocol(id, meshsub_ids[i]))
            c->ms_ident = i;
    c->rlnc_ident = weft_identify_has_protocol(id, WEFT_RLNC_PROTO) ? 1 : 0;
    update_protos(c);
}

void
weft_ps_host_on_peer(weft_ps_host *psh, weft_peer *p, int up)
{
    if (!psh || !p)
        return;
    struct conn *c = weft_peer_user(p);
    if (up) {
        if (c)
            return; /* already known */
        c = conn_new(psh, p);
        if (!c) {
            weft_log(WEFT_LOG_WARN, MOD, "msg=\"no memory for a peer\"");
            return;
        }
        weft_peer_set_user(p, c);
        conn_attach(c);
        const weft_identify *id = weft_peer_identify(p);
        if (id)
            apply_identify(c, id);
        return;
    }
    if (!c || c->psh != psh)
        return;
    weft_peer_set_user(p, NULL);
    conn_release_streams(c, 0);
    conn_unlink(c);
    if (c->pp) {
        weft_ps_remove_peer(psh->ps, c->pp);
        c->pp = NULL;
        for (struct conn *d = psh->conns; d; d = d->next) {
            if (!d->pp && weft_peer_id_equal(&d->id, &c->id)) {
                conn_attach(d);
                break;
            }
        }
    }
    free(c);
}

void
weft_ps_host_on_identify(weft_ps_host *psh, weft_peer *p, const weft_identify *id)
{
    if (!psh || !p || !id)
        return;
    struct conn *c = weft_peer_user(p);
    if (c && c->psh == psh)
        apply_identify(c, id);
}

/* ---- router glue ---------------------------------------------------------------------- */

static int
io_send(void *user, weft_ps_peer *peer, void *peer_user, unsigned proto, const uint8_t *frame,
        size_t len)
{
    (void)peer;
    weft_ps_host *psh = user;
    struct conn *c = peer_user;
    if (!c)
        return WEFT_EINVAL;
    int fam = proto & WEFT_PS_PROTO_RLNC ? FAM_RLNC : FAM_MESHSUB;
    if (fam == FAM_RLNC && psh->mode != WEFT_PS_RLNC) {
        psh->st.drop_unsupported++;
        return WEFT_ENOTSUP;
    }
    return out_send(&c->out[fam], frame, len);
}

static int64_t
io_now(void *user)
{
    return now_ns(user);
}

static void
io_deliver(void *user, const weft_ps_msg *m)
{
    weft_ps_host *psh = user;
    if (psh->app.deliver)
        psh->app.deliver(psh->app.user, m);
}

static void
io_trace(void *user, const weft_ps_trace *ev)
{
    weft_ps_host *psh = user;
    psh->app.trace(psh->app.user, ev);
}

static void
io_px(void *user, const weft_peer_id *ids, size_t n)
{
    weft_ps_host *psh = user;
    psh->app.px(psh->app.user, ids, n);
}

static void
on_tick(weft_timer *t, void *user)
{
    weft_ps_host *psh = user;
    for (struct conn *c = psh->conns; c; c = c->next) {
        if (c->dirty) {
            c->dirty = 0;
            update_protos(c);
        }
        for (int f = 0; f < NFAM && c->pp; f++)
            if (!c->out[f].s && out_queued(&c->out[f]))
                WEFT_IGNORE(out_ensure(&c->out[f])); /* an open that had to wait */
    }
    weft_ps_tick(psh->ps);
    if (weft_timer_arm(psh->loop, t, now_ns(psh) + psh->tick_ns) < 0)
        weft_log(WEFT_LOG_ERROR, MOD, "msg=\"cannot re-arm the tick timer\"");
}

/* Point the registered protocols at psh (NULL: refuse new streams). */
static int
register_protocols(weft_host *h, int mode, weft_ps_host *psh)
{
    int rc = 0;
    for (int i = 0; i < NMESHSUB && rc == 0; i++)
        rc = weft_host_handle(h, meshsub_ids[i], &in_handler, psh);
    if (rc == 0 && mode == WEFT_PS_RLNC)
        rc = weft_host_handle(h, WEFT_RLNC_PROTO, &in_handler, psh);
    return rc;
}

weft_ps_host *
weft_ps_host_new(weft_host *h, const weft_ps_config *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!h || !cfg || (cfg->mode != WEFT_PS_GOSSIPSUB && cfg->mode != WEFT_PS_RLNC)) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    weft_peer_id self;
    weft_peer_id_from_pubkey(cfg->identity.pk, &self);
    if (!weft_peer_id_equal(&self, weft_host_peer_id(h))) {
        *err = WEFT_EINVAL;
        return NULL;
    }
    weft_ps_host *psh = calloc(1, sizeof *psh);
    if (!psh) {
        *err = -ENOMEM;
        return NULL;
    }
    psh->host = h;
    psh->loop = weft_host_loop(h);
    psh->mode = cfg->mode;
    psh->cap = DEFAULT_QUEUE_CAP;
    psh->tick_ns = cfg->tick_ns > 0 ? cfg->tick_ns : DEFAULT_TICK_NS;
    psh->app = cfg->io;
    weft_timer_init(&psh->tick, on_tick, psh);

    weft_ps_config rc = *cfg;
    rc.io.user = psh;
    rc.io.send = io_send;
    rc.io.now = io_now;
    rc.io.deliver = io_deliver;
    rc.io.trace = cfg->io.trace ? io_trace : NULL;
    rc.io.px = cfg->io.px ? io_px : NULL;
    psh->ps = weft_ps_new(&rc, err);
    weft_identity_wipe(&rc.identity);
    if (!psh->ps) {
        free(psh);
        return NULL;
    }
    psh->max_rpc = weft_ps_max_rpc_size(psh->ps);
    int r = register_protocols(h, psh->mode, psh);
    if (r == 0)
        r = weft_timer_arm(psh->loop, &psh->tick, now_ns(psh) + psh->tick_ns);
    if (r < 0) {
        WEFT_IGNORE(register_protocols(h, psh->mode, NULL));
        weft_timer_disarm(psh->loop, &psh->tick);
        weft_ps_free(psh->ps);
        free(psh);
        *err = r;
        return NULL;
    }
    return psh;
}

void
weft_ps_host_free(weft_ps_host *psh)
{
    if (!psh)
        return;
    weft_timer_disarm(psh->loop, &psh->tick);
    WEFT_IGNORE(register_protocols(psh->host, psh->mode, NULL));
    while (psh->conns) {
        struct conn *c = psh->conns;
        conn_release_streams(c, 1);
        if (weft_peer_user(c->peer) == c)
            weft_peer_set_user(c->peer, NULL);
        conn_unlink(c);
        free(c);
    }
    const struct ps_host_stats *s = &psh->st;
    uint64_t dropped =
        s->drop_cap + s->drop_closed + s->drop_unsupported + s->drop_partial + s->drop_nomem;
    weft_log(dropped || s->in_bad_frame ? WEFT_LOG_INFO : WEFT_LOG_DEBUG, MOD,
             "msg=\"pubsub host stopped\" frames_in=%llu frames_out=%llu bytes_in=%llu "
             "bytes_out=%llu drop_cap=%llu drop_closed=%llu drop_unsupported=%llu "
             "drop_partial=%llu drop_nomem=%llu bad_frames=%llu in_replaced=%llu "
             "in_refused=%llu out_opened=%llu out_refused=%llu out_reopened=%llu "
             "out_failed=%llu",
             (unsigned long long)s->frames_in, (unsigned long long)s->frames_out,
             (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
             (unsigned long long)s->drop_cap, (unsigned long long)s->drop_closed,
             (unsigned long long)s->drop_unsupported, (unsigned long long)s->drop_partial,
             (unsigned long long)s->drop_nomem, (unsigned long long)s->in_bad_frame,
             (unsigned long long)s->in_replaced, (unsigned long long)s->in_refused,
             (unsigned long long)s->out_opened, (unsigned long long)s->out_refused,
             (unsigned long long)s->out_reopened, (unsigned long long)s->out_failed);
    weft_ps_free(psh->ps);
    free(psh);
}

weft_ps *
weft_ps_host_router(weft_ps_host *psh)
{
    return psh ? psh->ps : NULL;
}

void
weft_ps_host_set_queue_cap(weft_ps_host *psh, size_t bytes)
{
    if (psh)
        psh->cap = bytes ? bytes : DEFAULT_QUEUE_CAP;
}
