/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kademlia engine on a weft_host (weft/kad.h). Each outbound request
 * gets a stream of its own (dialling the peer first when it is not
 * connected, within max_dials and max_peers): one uvarint-length-prefixed
 * message out, one back, then FIN. Inbound streams may carry several
 * requests in turn; a length over WEFT_KAD_MAX_MSG, a malformed message, a
 * refused record or a peer over its request rate resets the stream (the
 * engine counts each). A peer joins the table when its identify lists
 * /ipfs/kad/1.0.0 and leaves it when a later identify no longer does; its
 * liveness is the connection's (yamux keep-alive closes dead ones).
 *
 * Shutdown order: weft_kad_host_stop (no new requests, no more answers to
 * the engine), weft_host_free (its callbacks still reach us), then
 * weft_kad_host_free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kad_internal.h"
#include "weft/log.h"
#include "weft/pb.h"

#define IN_MAGIC 0x6b616469u  /* "kadi" */
#define REQ_MAGIC 0x6b61646fu /* "kado" */
#define TICK_NS (KAD_S / 2)

typedef struct kh_req {
    uint32_t magic;
    weft_kad_host *kh;
    uint64_t req;
    weft_kad_peer to;
    uint8_t *msg; /* with its length prefix */
    size_t len;
    int want, answered;
    weft_stream *s;
    weft_buf in;
    int64_t started;
    struct kh_req *next, *prev;
} kh_req;

typedef struct kh_in {
    uint32_t magic;
    weft_kad_host *kh;
    weft_buf in;
} kh_in;

typedef struct kh_dial {
    weft_kad_host *kh;
    uint64_t req;
} kh_dial;

struct weft_kad_host {
    weft_host *h;
    weft_loop *loop;
    weft_kad *kad;
    weft_timer tick;
    kh_req *reqs;
    unsigned ndials, max_dials, max_peers;
    weft_peer **conns;
    size_t nconns, capconns;
    int64_t request_timeout_ns;
    int stopping;
};

int64_t
weft_kad_host_now(const weft_kad_host *kh)
{
    return weft_loop_now(kh->loop);
}

static weft_peer *
conn_find(const weft_kad_host *kh, const weft_peer_id *id)
{
    for (size_t i = 0; i < kh->nconns; i++)
        if (weft_peer_id_equal(weft_peer_get_id(kh->conns[i]), id))
            return kh->conns[i];
    return NULL;
}

/* ---- outbound requests ----------------------------------------------------------------- */

static void
req_unlink_free(kh_req *r)
{
    weft_kad_host *kh = r->kh;
    if (r->prev)
        r->prev->next = r->next;
    else if (kh->reqs == r)
        kh->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    weft_buf_free(&r->in);
    free(r->msg);
    r->magic = 0;
    free(r);
}

static void
req_answer(kh_req *r, const uint8_t *msg, size_t len)
{
    if (r->answered)
        return;
    r->answered = 1;
    if (!r->kh->stopping)
        weft_kad_on_response(r->kh->kad, r->req, weft_kad_host_now(r->kh), msg, len);
}

static void
out_open(weft_stream *s, void *user)
{
    kh_req *r = user;
    ptrdiff_t w = weft_stream_write(s, r->msg, r->len);
    if (w != (ptrdiff_t)r->len) {
        weft_stream_reset(s); /* a fresh stream's window holds a whole message */
        return;
    }
    if (!r->want) { /* written: that is the whole exchange */
        req_answer(r, (const uint8_t *)"", 0);
        WEFT_IGNORE(weft_stream_close(s));
    }
}

static void
out_data(weft_stream *s, void *user, const uint8_t *d, size_t len)
{
    kh_req *r = user;
    if (r->answered)
        return;
    if (weft_buf_append(&r->in, d, len) < 0) {
        weft_stream_reset(s);
        return;
    }
    uint64_t n;
    int used = weft_uvarint_get(r->in.base, r->in.len, &n, 0);
    if (used < 0 || (used > 0 && n > WEFT_KAD_MAX_MSG)) {
        weft_stream_reset(s);
        return;
    }
    if (used == 0 || r->in.len < (size_t)used + n)
        return;
    req_answer(r, r->in.base + used, (size_t)n);
    WEFT_IGNORE(weft_stream_close(s));
}

static void
out_close(weft_stream *s, void *user, int reason)
{
    (void)s, (void)reason;
    kh_req *r = user;
    req_answer(r, NULL, 0);
    req_unlink_free(r);
}

static const weft_stream_handler out_h = {
    .on_open = out_open, .on_data = out_data, .on_close = out_close};

static int
req_open(kh_req *r, weft_peer *p)
{
    int rc = weft_peer_open_stream(p, WEFT_KAD_PROTO, &out_h, r, &r->s);
    return rc;
}

static kh_req *
req_find(weft_kad_host *kh, uint64_t id)
{
    for (kh_req *r = kh->reqs; r; r = r->next)
        if (r->req == id)
            return r;
    return NULL;
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h;
    kh_dial *d = user;
    weft_kad_host *kh = d->kh;
    kh->ndials--;
    kh_req *r = req_find(kh, d->req);
    free(d);
    if (!r || r->s)
        return;
    if (status < 0 || req_open(r, p) < 0) {
        req_answer(r, NULL, 0);
        req_unlink_free(r);
    }
}

static int
dial_addr(const weft_kad_peer *to, weft_multiaddr *out)
{
    for (size_t i = 0; i < to->naddrs; i++) {
        struct sockaddr_storage sa;
        socklen_t salen;
        weft_peer_id pid;
        int has = 0;
        if (weft_ma_to_sockaddr(&to->addrs[i], &sa, &salen, &pid, &has) < 0)
            continue;
        if (has && !weft_peer_id_equal(&pid, &to->id))
            continue;
        *out = to->addrs[i];
        if (!has && weft_ma_append_p2p(out, &to->id) < 0)
            continue;
        return 0;
    }
    return WEFT_EINVAL;
}

static int
kh_send(void *user, uint64_t req, const weft_kad_peer *to, const uint8_t *msg, size_t len, int want)
{
    weft_kad_host *kh = user;
    if (kh->stopping)
        return WEFT_ECLOSED;
    weft_peer *p = conn_find(kh, &to->id);
    weft_multiaddr ma;
    if (!p) {
        if (kh->ndials >= kh->max_dials || (kh->max_peers && kh->nconns >= kh->max_peers))
            return WEFT_ELIMIT;
        if (dial_addr(to, &ma) < 0)
            return WEFT_EINVAL;
    }
    kh_req *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    uint8_t pre[WEFT_UVARINT_MAX];
    size_t pn = weft_uvarint_put(pre, len);
    r->msg = malloc(pn + len);
    if (!r->msg) {
        free(r);
        return -ENOMEM;
    }
    memcpy(r->msg, pre, pn);
    memcpy(r->msg + pn, msg, len);
    r->magic = REQ_MAGIC;
    r->len = pn + len;
    r->kh = kh;
    r->req = req;
    r->to = *to;
    r->want = want;
    r->started = weft_kad_host_now(kh);
    weft_buf_init(&r->in, NULL, 0, WEFT_KAD_MAX_MSG + WEFT_UVARINT_MAX);
    r->next = kh->reqs;
    if (kh->reqs)
        kh->reqs->prev = r;
    kh->reqs = r;
    int rc;
    if (p) {
        rc = req_open(r, p);
    } else {
        kh_dial *d = malloc(sizeof *d);
        rc = d ? 0 : -ENOMEM;
        if (d) {
            d->kh = kh;
            d->req = req;
            rc = weft_host_dial(kh->h, &ma, dialed, d);
            if (rc < 0)
                free(d);
            else
                kh->ndials++;
        }
    }
    if (rc < 0) {
        r->answered = 1; /* the engine sees the error from us */
        req_unlink_free(r);
    }
    return rc;
}

/* ---- inbound requests ------------------------------------------------------------------ */

static void
in_open(weft_stream *s, void *user)
{
    weft_kad_host *kh = user;
    kh_in *x = calloc(1, sizeof *x);
    if (!x) {
        weft_stream_reset(s);
        return;
    }
    x->magic = IN_MAGIC;
    x->kh = kh;
    weft_buf_init(&x->in, NULL, 0, WEFT_KAD_MAX_MSG + WEFT_UVARINT_MAX);
    weft_stream_set_user(s, x);
}

static void
in_data(weft_stream *s, void *user, const uint8_t *d, size_t len)
{
    kh_in *x = user;
    if (!x || x->magic != IN_MAGIC)
        return;
    weft_kad_host *kh = x->kh;
    const weft_peer_id *from = weft_peer_get_id(weft_stream_peer(s));
    int64_t now = weft_kad_host_now(kh);
    if (weft_buf_append(&x->in, d, len) < 0) {
        /* more than one maximal message buffered: count it as oversize */
        WEFT_IGNORE(weft_kad_handle_request(kh->kad, from, now, NULL, WEFT_KAD_MAX_MSG + 1, NULL));
        weft_stream_reset(s);
        return;
    }
    for (;;) {
        uint64_t n;
        int used = weft_uvarint_get(x->in.base, x->in.len, &n, 0);
        if (used < 0 || (used > 0 && n > WEFT_KAD_MAX_MSG)) {
            WEFT_IGNORE(
                weft_kad_handle_request(kh->kad, from, now, NULL, WEFT_KAD_MAX_MSG + 1, NULL));
            weft_stream_reset(s);
            return;
        }
        if (used == 0 || x->in.len < (size_t)used + n)
            return;
        uint8_t small[2048];
        weft_buf resp;
        weft_buf_init(&resp, small, sizeof small, WEFT_KAD_MAX_MSG);
        int rc = weft_kad_handle_request(kh->kad, from, now, x->in.base + used, (size_t)n, &resp);
        weft_buf_consume(&x->in, (size_t)used + (size_t)n);
        if (rc == 1) {
            uint8_t pre[WEFT_UVARINT_MAX];
            size_t pn = weft_uvarint_put(pre, resp.len);
            if (weft_stream_write(s, pre, pn) != (ptrdiff_t)pn ||
                weft_stream_write(s, resp.base, resp.len) != (ptrdiff_t)resp.len)
                rc = WEFT_EAGAIN; /* the requester does not read: drop it */
        }
        weft_buf_free(&resp);
        if (rc < 0) {
            weft_stream_reset(s);
            return;
        }
    }
}

static void
in_fin(weft_stream *s, void *user)
{
    (void)user;
    WEFT_IGNORE(weft_stream_close(s));
}

static void
in_close(weft_stream *s, void *user, int reason)
{
    (void)s, (void)reason;
    kh_in *x = user;
    if (x && x->magic == IN_MAGIC) {
        weft_buf_free(&x->in);
        x->magic = 0;
        free(x);
    }
}

static const weft_stream_handler in_h = {
    .on_open = in_open, .on_data = in_data, .on_fin = in_fin, .on_close = in_close};

/* ---- peers and time ---------------------------------------------------------------------- */

static void
refresh_self_addrs(weft_kad_host *kh)
{
    weft_multiaddr all[WEFT_KAD_MAX_ADDRS], keep[WEFT_KAD_MAX_ADDRS];
    size_t n = weft_host_listen_addrs(kh->h, all, WEFT_KAD_MAX_ADDRS), m = 0;
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage sa;
        socklen_t salen;
        if (weft_ma_to_sockaddr(&all[i], &sa, &salen, NULL, NULL) < 0)
            continue;
        if (sa.ss_family == AF_INET &&
            ((struct sockaddr_in *)&sa)->sin_addr.s_addr == htonl(INADDR_ANY))
            continue; /* a wildcard: the remote learns our address from the connection */
        keep[m++] = all[i];
    }
    weft_kad_set_self_addrs(kh->kad, keep, m);
}

static void
on_tick(weft_timer *t, void *user)
{
    (void)t;
    weft_kad_host *kh = user;
    if (kh->stopping)
        return;
    int64_t now = weft_kad_host_now(kh);
    refresh_self_addrs(kh);
    weft_kad_tick(kh->kad, now);
    for (kh_req *r = kh->reqs, *next; r; r = next) {
        next = r->next;
        if (now - r->started < kh->request_timeout_ns + KAD_S)
            continue;
        if (r->s)
            weft_stream_reset(r->s); /* on_close frees it */
        else
            req_unlink_free(r); /* still dialling: the dial's answer finds nothing */
    }
    WEFT_IGNORE(weft_timer_arm(kh->loop, &kh->tick, now + TICK_NS));
}

void
weft_kad_host_on_peer(weft_kad_host *kh, weft_peer *p, int up)
{
    refresh_self_addrs(kh); /* listening may have begun since the last tick */
    if (up) {
        if (kh->nconns == kh->capconns) {
            size_t cap = kh->capconns ? kh->capconns * 2 : 64;
            weft_peer **c = realloc(kh->conns, cap * sizeof *c);
            if (!c)
                return;
            kh->conns = c;
            kh->capconns = cap;
        }
        kh->conns[kh->nconns++] = p;
        return;
    }
    for (size_t i = 0; i < kh->nconns; i++)
        if (kh->conns[i] == p) {
            kh->conns[i] = kh->conns[--kh->nconns];
            break;
        }
    if (!conn_find(kh, weft_peer_get_id(p)))
        weft_kad_peer_down(kh->kad, weft_peer_get_id(p), weft_kad_host_now(kh));
}

void
weft_kad_host_on_identify(weft_kad_host *kh, weft_peer *p, const weft_identify *id)
{
    const weft_peer_id *pid = weft_peer_get_id(p);
    if (!weft_identify_has_protocol(id, WEFT_KAD_PROTO)) {
        weft_kad_remove_peer(kh->kad, pid); /* a client, or no DHT at all */
        return;
    }
    weft_kad_peer *kp = calloc(1, sizeof *kp);
    if (!kp)
        return;
    kp->id = *pid;
    const weft_multiaddr *conn = weft_peer_addr(p);
    struct sockaddr_storage cs;
    socklen_t clen;
    int have_conn = conn && weft_ma_to_sockaddr(conn, &cs, &clen, NULL, NULL) == 0;
    for (size_t i = 0; i < id->nlisten && kp->naddrs < WEFT_KAD_MAX_ADDRS; i++) {
        struct sockaddr_storage sa;
        socklen_t salen;
        if (weft_ma_to_sockaddr(&id->listen[i], &sa, &salen, NULL, NULL) < 0)
            continue;
        if (sa.ss_family == AF_INET &&
            ((struct sockaddr_in *)&sa)->sin_addr.s_addr == htonl(INADDR_ANY)) {
            if (!have_conn || cs.ss_family != AF_INET)
                continue;
            ((struct sockaddr_in *)&sa)->sin_addr = ((struct sockaddr_in *)&cs)->sin_addr;
            if (weft_ma_from_sockaddr((struct sockaddr *)&sa, salen, &kp->addrs[kp->naddrs]) == 0)
                kp->naddrs++;
            continue;
        }
        kp->addrs[kp->naddrs++] = id->listen[i];
    }
    weft_kad_add_peer(kh->kad, kp, 1, weft_kad_host_now(kh));
    free(kp);
}

weft_kad_host *
weft_kad_host_new(weft_host *h, const weft_kad_config *cfg, unsigned max_dials, unsigned max_peers,
                  int *err)
{
    weft_kad_host *kh = calloc(1, sizeof *kh);
    if (!kh) {
        *err = -ENOMEM;
        return NULL;
    }
    weft_kad_config c = *cfg;
    c.self = *weft_host_peer_id(h);
    c.send = kh_send;
    c.user = kh;
    kh->h = h;
    kh->loop = weft_host_loop(h);
    kh->max_dials = max_dials ? max_dials : 16;
    kh->max_peers = max_peers;
    kh->request_timeout_ns = c.request_timeout_ns;
    kh->kad = weft_kad_new(&c);
    if (!kh->kad) {
        free(kh);
        *err = -ENOMEM;
        return NULL;
    }
    int rc = 0;
    if (c.server)
        rc = weft_host_handle(h, WEFT_KAD_PROTO, &in_h, kh);
    weft_timer_init(&kh->tick, on_tick, kh);
    if (rc == 0)
        rc = weft_timer_arm(weft_host_loop(h), &kh->tick, weft_kad_host_now(kh) + TICK_NS);
    if (rc < 0) {
        weft_kad_host_free(kh);
        *err = rc;
        return NULL;
    }
    return kh;
}

void
weft_kad_host_stop(weft_kad_host *kh)
{
    if (!kh)
        return;
    kh->stopping = 1;
    if (weft_timer_armed(&kh->tick))
        weft_timer_disarm(kh->loop, &kh->tick);
}

void
weft_kad_host_free(weft_kad_host *kh)
{
    if (!kh)
        return;
    weft_kad_host_stop(kh);
    while (kh->reqs) {
        kh->reqs->answered = 1;
        req_unlink_free(kh->reqs);
    }
    weft_kad_free(kh->kad);
    free(kh->conns);
    free(kh);
}

weft_kad *
weft_kad_host_engine(weft_kad_host *kh)
{
    return kh->kad;
}
