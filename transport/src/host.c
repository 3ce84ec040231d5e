/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's connections: accept and dial with limits, the upgrade
 * pipeline (multistream /noise, Noise XX, multistream /yamux/1.0.0 inside
 * the encrypted channel, yamux), the encrypted data path with back-pressure,
 * timeouts, and teardown.
 *
 * Data path once ready: socket bytes -> rawin -> weft_noise_open -> plain ->
 * weft_yamux_input -> stream callbacks. Output: weft_yamux_pending is
 * sealed a frame at a time, and only when the connection's send queue has
 * room for the sealed frame (a sealed frame has used its nonce and must be
 * sent); otherwise on_writable resumes the flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "weft/log.h"

#define HOST_RESOLVE_MS 3000 /* the longest a dial waits for a /dns* name */

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.1.0"
#endif

#define RAWIN_MAX ((size_t)(WEFT_NOISE_FRAME_MAX * 4))
#define SEAL_CHUNK ((size_t)WEFT_NOISE_PLAIN_MAX)

static const char *const noise_protos[] = {WEFT_NOISE_PROTOCOL_ID};
static const char *const yamux_protos[] = {WEFT_NOISE_YAMUX};

static void conn_data(weft_conn *c, void *user, const uint8_t *data, size_t len);
static void conn_writable(weft_conn *c, void *user);
static void conn_closed(weft_conn *c, void *user, int reason);
static const weft_conn_handler peer_conn_handler = {
    .on_data = conn_data, .on_writable = conn_writable, .on_close = conn_closed};

/* ---- small helpers -------------------------------------------------------------- */

static int64_t
now_ns(const weft_peer *p)
{
    return weft_loop_now(p->host->loop);
}

static void
peer_log(const weft_peer *p, int level, const char *what, int reason)
{
    if (!WEFT_LOG_ENABLED(level))
        return;
    char id[WEFT_PEER_ID_TEXT] = "-", addr[WEFT_MA_TEXT_MAX] = "-";
    if (p->phase > PH_NOISE || p->remote.len)
        weft_peer_id_to_text(&p->remote, id, sizeof id);
    weft_ma_to_text(&p->addr, addr, sizeof addr);
    weft_log(level, "host", "msg=\"%s\" peer=%s addr=%s dir=%s reason=\"%s\"", what, id, addr,
             p->outbound ? "out" : "in", reason ? weft_strerror(reason) : "none");
}

static int
same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
    return 0;
}

/* ---- peer records ---------------------------------------------------------------- */

static void reap(weft_timer *t, void *user);
static void hs_timeout(weft_timer *t, void *user);
static void mux_deadline(weft_timer *t, void *user);
static void idle_check(weft_timer *t, void *user);
static int peer_send_plain(weft_peer *p, const uint8_t *data, size_t len);

static weft_peer *
peer_new(weft_host *h, int outbound)
{
    weft_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->host = h;
    p->outbound = outbound;
    p->phase = PH_CONNECTING;
    weft_buf_init(&p->rawin, NULL, 0, RAWIN_MAX);
    weft_buf_init(&p->plain, NULL, 0, 0);
    weft_buf_init(&p->out, NULL, 0, 0);
    weft_timer_init(&p->hs_timer, hs_timeout, p);
    weft_timer_init(&p->mux_timer, mux_deadline, p);
    weft_timer_init(&p->reap_timer, reap, p);
    weft_timer_init(&p->idle_timer, idle_check, p);
    p->next = h->peers;
    if (h->peers)
        h->peers->prev = p;
    h->peers = p;
    h->nconns++;
    return p;
}

static void
peer_free(weft_peer *p)
{
    weft_host *h = p->host;
    weft_loop *l = h->loop;
    weft_timer_disarm(l, &p->hs_timer);
    weft_timer_disarm(l, &p->mux_timer);
    weft_timer_disarm(l, &p->reap_timer);
    weft_timer_disarm(l, &p->idle_timer);
    if (p->prev)
        p->prev->next = p->next;
    else
        h->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    h->nconns--;
    weft_noise_hs_free(p->hs);
    weft_noise_session_wipe(&p->ns);
    weft_buf_free(&p->rawin);
    weft_buf_free(&p->plain);
    weft_buf_free(&p->out);
    free(p->ident);
    free(p);
}

/* The connection is gone: tear down in a clean stack. */
static void
reap(weft_timer *t, void *user)
{
    (void)t;
    weft_peer *p = user;
    weft_host *h = p->host;
    if (p->mux) {
        weft_yamux *m = p->mux;
        p->mux = NULL;
        p->in_mux++;
        weft_yamux_free(m); /* on_stream_close for every stream */
        p->in_mux--;
    }
    if (p->announced) {
        h->stats.peers_down++;
        if (h->cfg.on_peer)
            h->cfg.on_peer(h, p, 0, h->cfg.user);
    } else if (p->dial_cb) {
        weft_dial_fn cb = p->dial_cb;
        p->dial_cb = NULL;
        cb(h, NULL, p->close_reason ? p->close_reason : WEFT_ECLOSED, p->dial_user);
    }
    peer_free(p);
}

static void
schedule_reap(weft_peer *p)
{
    if (!weft_timer_armed(&p->reap_timer) &&
        weft_timer_arm(p->host->loop, &p->reap_timer, now_ns(p)) < 0)
        reap(&p->reap_timer, p); /* no memory for the timer: do it now */
}

static void
peer_close(weft_peer *p, int reason)
{
    if (p->phase == PH_CLOSED)
        return;
    int was_ready = p->phase == PH_READY;
    p->phase = PH_CLOSED;
    p->close_reason = reason;
    weft_timer_disarm(p->host->loop, &p->hs_timer);
    weft_timer_disarm(p->host->loop, &p->idle_timer);
    if (!p->conn) {
        /* A dial still in flight holds p as its user: cancel it now (its
         * callback runs here), or its completion would find p reaped. */
        weft_conn *dc = p->connecting;
        p->connecting = NULL;
        if (dc)
            weft_conn_abort(dc, reason ? reason : WEFT_ECLOSED);
        schedule_reap(p);
        return;
    }
    if (reason == 0 && was_ready && p->mux) {
        /* Orderly: go-away, flush what is pending, then FIN. */
        p->in_mux++;
        WEFT_IGNORE(weft_yamux_goaway(p->mux, 0));
        p->in_mux--;
        size_t len;
        const uint8_t *pend = weft_yamux_pending(p->mux, &len);
        WEFT_IGNORE(peer_send_plain(p, pend, len));
        weft_conn_close(p->conn);
    } else {
        if (reason != 0 && reason != WEFT_ECLOSED)
            peer_log(p, WEFT_LOG_INFO, "connection closed", reason);
        weft_conn_abort(p->conn, reason ? reason : WEFT_ECLOSED);
    }
}

/* ---- output ----------------------------------------------------------------------- */

/* Seal plaintext and send it (control messages before yamux), straight into
 * the connection's send queue: no staging copy. */
static int
peer_send_plain(weft_peer *p, const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    size_t need = weft_noise_sealed_len(len);
    if (need == SIZE_MAX)
        return WEFT_ETOOBIG;
    int rc;
    uint8_t *dst = weft_conn_send_reserve(p->conn, need, &rc);
    if (!dst)
        return rc;
    size_t n;
    rc = weft_noise_seal_into(&p->ns, data, len, dst, need, &n);
    if (rc < 0)
        return rc;
    return weft_conn_send_commit(p->conn, n);
}

static void
arm_mux_timer(weft_peer *p)
{
    if (!p->mux || p->phase == PH_CLOSED)
        return;
    uint64_t d = weft_yamux_next_deadline(p->mux);
    if (d == UINT64_MAX) {
        weft_timer_disarm(p->host->loop, &p->mux_timer);
        return;
    }
    WEFT_IGNORE(weft_timer_arm(p->host->loop, &p->mux_timer, (int64_t)d));
}

/* Seal and send yamux output while the socket queue has room. */
void
peer_flush(weft_peer *p)
{
    if (p->in_mux || p->flushing) {
        p->want_flush = 1;
        return;
    }
    p->want_flush = 0;
    p->flushing = 1;
    while (p->phase == PH_READY && p->mux && p->conn) {
        size_t len;
        const uint8_t *pend = weft_yamux_pending(p->mux, &len);
        if (!len)
            break;
        size_t chunk = len < 4 * SEAL_CHUNK ? len : 4 * SEAL_CHUNK;
        size_t frames = (chunk + SEAL_CHUNK - 1) / SEAL_CHUNK;
        size_t need = chunk + frames * (2 + WEFT_NOISE_TAG_LEN);
        if (weft_conn_send_space(p->conn, 0) < need) {
            WEFT_IGNORE(weft_conn_send_space(p->conn, 1)); /* on_writable resumes */
            break;
        }
        int rc = peer_send_plain(p, pend, chunk);
        if (rc < 0) {
            p->flushing = 0;
            peer_close(p, rc);
            return;
        }
        p->in_mux++;
        weft_yamux_sent(p->mux, chunk); /* may run on_writable callbacks */
        p->in_mux--;
    }
    p->flushing = 0;
    arm_mux_timer(p);
}

/* After a yamux call at the outermost level: handle errors, flush. */
static void
peer_mux_done(weft_peer *p, int rc)
{
    if (rc < 0) {
        if (rc == WEFT_EPROTO)
            p->host->stats.proto_errors++;
        /* The go-away the session queued goes out before the close. */
        if (p->mux && p->conn && p->phase == PH_READY) {
            size_t len;
            const uint8_t *pend = weft_yamux_pending(p->mux, &len);
            if (len && weft_conn_send_space(p->conn, 0) > len + 64)
                (void)peer_send_plain(p, pend, len);
        }
        peer_close(p, rc);
        return;
    }
    if (p->in_mux == 0)
        peer_flush(p);
}

static void
mux_deadline(weft_timer *t, void *user)
{
    (void)t;
    weft_peer *p = user;
    if (!p->mux || p->phase != PH_READY)
        return;
    p->in_mux++;
    int rc = weft_yamux_tick(p->mux, (uint64_t)now_ns(p));
    p->in_mux--;
    peer_mux_done(p, rc);
}

/* ---- the upgrade ------------------------------------------------------------------ */

static int
send_raw_out(weft_peer *p)
{
    int rc = 0;
    if (p->out.len)
        rc = weft_conn_send(p->conn, p->out.base, p->out.len);
    weft_buf_reset(&p->out);
    return rc;
}

static void
hs_timeout(weft_timer *t, void *user)
{
    (void)t;
    weft_peer *p = user;
    if (p->phase == PH_READY || p->phase == PH_CLOSED)
        return;
    p->host->stats.handshake_timeouts++;
    p->host->stats.handshakes_failed++;
    peer_close(p, -ETIMEDOUT);
}

static void
idle_check(weft_timer *t, void *user)
{
    (void)t;
    weft_peer *p = user;
    weft_host *h = p->host;
    if (p->phase != PH_READY || !h->cfg.idle_timeout_ns)
        return;
    int64_t now = now_ns(p);
    int busy = weft_yamux_num_inbound(p->mux) + weft_yamux_num_outbound(p->mux) > 0;
    if (!busy && now - p->last_activity >= h->cfg.idle_timeout_ns) {
        h->stats.idle_closed++;
        peer_log(p, WEFT_LOG_DEBUG, "idle connection closed", 0);
        peer_close(p, 0);
        return;
    }
    WEFT_IGNORE(weft_timer_arm(h->loop, &p->idle_timer, now + h->cfg.idle_timeout_ns));
}

static void
become_ready(weft_peer *p)
{
    weft_host *h = p->host;
    weft_yamux_config yc;
    weft_yamux_config_default(&yc);
    yc.max_inbound_streams = h->cfg.max_streams;
    yc.max_frame = h->cfg.max_frame;
    yc.keepalive = (uint64_t)(h->cfg.ping_interval_ns > 0 ? h->cfg.ping_interval_ns : 0);
    yc.user = p;
    host_stream_callbacks(&yc);
    int rc = weft_yamux_new(&p->mux, &yc, p->outbound, (uint64_t)now_ns(p));
    if (rc < 0) {
        peer_close(p, rc);
        return;
    }
    p->phase = PH_READY;
    weft_conn_set_nodelay(p->conn, 0);
    weft_timer_disarm(h->loop, &p->hs_timer);
    h->stats.handshakes_ok++;
    h->stats.peers_up++;
    p->announced = 1;
    p->last_activity = now_ns(p);
    if (h->cfg.idle_timeout_ns)
        WEFT_IGNORE(
            weft_timer_arm(h->loop, &p->idle_timer, p->last_activity + h->cfg.idle_timeout_ns));
    peer_log(p, WEFT_LOG_DEBUG, "connection ready", 0);
    if (p->dial_cb) {
        weft_dial_fn cb = p->dial_cb;
        p->dial_cb = NULL;
        cb(h, p, 0, p->dial_user);
    }
    if (p->phase == PH_READY && h->cfg.on_peer)
        h->cfg.on_peer(h, p, 1, h->cfg.user);
    if (p->phase == PH_READY)
        host_peer_ready(p);
}

/* Decrypt what rawin holds and feed the inner multistream or yamux. */
static void
process_transport(weft_peer *p, const uint8_t *in, size_t len, size_t *used_out)
{
    size_t used = 0;
    int rc = weft_noise_open(&p->ns, in, len, &used, &p->plain);
    *used_out = used;
    if (rc < 0) {
        if (rc == WEFT_EAUTH)
            p->host->stats.auth_failures++;
        else
            p->host->stats.proto_errors++;
        peer_close(p, rc);
        return;
    }
    if (p->phase == PH_MUX_MSS && p->plain.len) {
        size_t consumed = 0;
        weft_buf_reset(&p->out);
        weft_buf reply;
        uint8_t small[256];
        weft_buf_init(&reply, small, sizeof small, 4096);
        rc = weft_mss_input(&p->mss, p->plain.base, p->plain.len, &consumed, &reply);
        weft_buf_consume(&p->plain, consumed);
        if (rc >= 0 && reply.len)
            rc = peer_send_plain(p, reply.base, reply.len) < 0 ? WEFT_ECLOSED : rc;
        weft_buf_free(&reply);
        if (rc < 0) {
            p->host->stats.handshakes_failed++;
            peer_close(p, rc);
            return;
        }
        if (rc == 1)
            become_ready(p);
    }
    if (p->phase == PH_READY && p->plain.len) {
        p->in_mux++;
        rc = weft_yamux_input(p->mux, p->plain.base, p->plain.len, (uint64_t)now_ns(p));
        p->in_mux--;
        weft_buf_reset(&p->plain);
        peer_mux_done(p, rc);
    }
}

/* Process what rawin holds (input that arrived in pieces). */
static void
process_rawin(weft_peer *p)
{
    size_t used = 0;
    process_transport(p, p->rawin.base, p->rawin.len, &used);
    if (p->phase != PH_CLOSED)
        weft_buf_consume(&p->rawin, used);
}

static void
start_inner_mss(weft_peer *p)
{
    int rc;
    p->phase = PH_MUX_MSS;
    if (p->outbound)
        rc = weft_mss_init_initiator(&p->mss, yamux_protos, 1);
    else
        rc = weft_mss_init_responder(&p->mss, yamux_protos, 1);
    if (rc < 0) {
        peer_close(p, rc);
        return;
    }
    weft_buf reply;
    uint8_t small[256];
    weft_buf_init(&reply, small, sizeof small, 4096);
    rc = weft_mss_start(&p->mss, &reply);
    if (rc >= 0 && reply.len)
        rc = peer_send_plain(p, reply.base, reply.len);
    weft_buf_free(&reply);
    if (rc < 0)
        peer_close(p, rc);
}

static void
process_handshake(weft_peer *p)
{
    weft_host *h = p->host;
    while (p->phase == PH_SEC_MSS || p->phase == PH_NOISE) {
        size_t used = 0;
        int rc;
        if (p->phase == PH_SEC_MSS) {
            rc = weft_mss_input(&p->mss, p->rawin.base, p->rawin.len, &used, &p->out);
        } else {
            rc = weft_noise_hs_input(p->hs, p->rawin.base, p->rawin.len, &used, &p->out);
        }
        weft_buf_consume(&p->rawin, used);
        if (rc >= 0 && send_raw_out(p) < 0)
            rc = WEFT_ECLOSED;
        if (rc < 0) {
            h->stats.handshakes_failed++;
            if (rc == WEFT_EAUTH)
                h->stats.auth_failures++;
            else if (rc == WEFT_EPROTO)
                h->stats.proto_errors++;
            peer_close(p, rc);
            return;
        }
        if (rc == 0)
            return; /* need more bytes */
        if (p->phase == PH_SEC_MSS) {
            weft_noise_config nc = {.initiator = p->outbound,
                                    .expected_remote = p->has_expected ? &p->expected : NULL};
            if (h->cfg.noise_key_per_connection)
                nc.identity = &h->cfg.identity;
            else
                nc.prepared = &h->nstatic;
            int err;
            p->hs = weft_noise_hs_new_config(&nc, &err);
            if (!p->hs) {
                peer_close(p, err);
                return;
            }
            p->phase = PH_NOISE;
            if (p->outbound) {
                rc = weft_noise_hs_start(p->hs, &p->out);
                if (rc < 0 || send_raw_out(p) < 0) {
                    peer_close(p, rc < 0 ? rc : WEFT_ECLOSED);
                    return;
                }
            }
        } else {
            rc = weft_noise_hs_split(p->hs, &p->ns, &p->remote);
            weft_noise_hs_free(p->hs);
            p->hs = NULL;
            if (rc < 0) {
                peer_close(p, rc);
                return;
            }
            start_inner_mss(p);
            if (p->phase == PH_MUX_MSS && p->rawin.len)
                process_rawin(p);
            return;
        }
    }
}

static void
conn_data(weft_conn *c, void *user, const uint8_t *data, size_t len)
{
    (void)c;
    weft_peer *p = user;
    if (p->phase == PH_CLOSED)
        return;
    p->last_activity = now_ns(p);
    if ((p->phase == PH_MUX_MSS || p->phase == PH_READY) && p->rawin.len == 0) {
        /* Common case: decrypt straight from the lent buffer and keep only
         * an incomplete last frame. */
        size_t used = 0;
        process_transport(p, data, len, &used);
        data += used;
        len -= used;
        if (len == 0 || p->phase == PH_CLOSED)
            return;
    }
    if (weft_buf_append(&p->rawin, data, len) < 0) {
        /* More unprocessed input than any valid frame needs. */
        p->host->stats.proto_errors++;
        peer_close(p, WEFT_ETOOBIG);
        return;
    }
    if (p->phase == PH_SEC_MSS || p->phase == PH_NOISE)
        process_handshake(p);
    else if (p->rawin.len > len || p->phase != PH_READY)
        process_rawin(p);
}

static void
conn_writable(weft_conn *c, void *user)
{
    (void)c;
    peer_flush(user);
}

static void
conn_closed(weft_conn *c, void *user, int reason)
{
    (void)c;
    weft_peer *p = user;
    p->conn = NULL;
    if (p->phase != PH_CLOSED) {
        p->phase = PH_CLOSED;
        p->close_reason = reason;
        if (reason != 0)
            peer_log(p, WEFT_LOG_DEBUG, "connection lost", reason);
    }
    schedule_reap(p);
}

static void
start_upgrade(weft_peer *p)
{
    weft_host *h = p->host;
    /* The upgrade is a chain of messages each waiting for the last: send
     * each at once. Cleared at become_ready. */
    weft_conn_set_nodelay(p->conn, 1);
    weft_conn_set_handler(p->conn, &peer_conn_handler, p);
    p->phase = PH_SEC_MSS;
    int rc = p->outbound ? weft_mss_init_initiator(&p->mss, noise_protos, 1)
                         : weft_mss_init_responder(&p->mss, noise_protos, 1);
    if (rc >= 0)
        rc = weft_mss_start(&p->mss, &p->out);
    if (rc >= 0)
        rc = send_raw_out(p);
    if (rc >= 0 && h->cfg.handshake_timeout_ns > 0)
        rc = weft_timer_arm(h->loop, &p->hs_timer, now_ns(p) + h->cfg.handshake_timeout_ns);
    if (rc < 0)
        peer_close(p, rc);
}

/* ---- accept and dial ------------------------------------------------------------------- */

static void
on_accept(weft_listener *l, void *user, weft_conn *c)
{
    (void)l;
    weft_host *h = user;
    struct sockaddr_storage sa;
    socklen_t salen;
    weft_conn_peer_addr(c, &sa, &salen);
    uint32_t same = 0;
    for (weft_peer *q = h->peers; q; q = q->next)
        if (q->phase != PH_CLOSED && same_ip(&q->sa, &sa))
            same++;
    static const weft_conn_handler reject = {.on_data = conn_data};
    if (h->nconns >= h->cfg.max_conns || same >= h->cfg.max_conns_per_ip) {
        if (h->nconns >= h->cfg.max_conns)
            h->stats.rejected_conn_limit++;
        else
            h->stats.rejected_ip_limit++;
        weft_conn_set_handler(c, &reject, NULL);
        weft_conn_abort(c, WEFT_ELIMIT);
        return;
    }
    weft_peer *p = peer_new(h, 0);
    if (!p) {
        weft_conn_set_handler(c, &reject, NULL);
        weft_conn_abort(c, -ENOMEM);
        return;
    }
    p->conn = c;
    p->sa = sa;
    p->salen = salen;
    WEFT_IGNORE(weft_ma_from_sockaddr((struct sockaddr *)&sa, salen, &p->addr));
    start_upgrade(p);
}

static void
on_dialed(weft_conn *c, void *user, int status)
{
    weft_peer *p = user;
    p->connecting = NULL;
    if (status < 0) {
        p->conn = NULL;
        if (p->phase != PH_CLOSED) /* else cancelled by peer_close, which set the reason */
            p->close_reason = status;
        p->phase = PH_CLOSED;
        p->host->stats.handshakes_failed++;
        schedule_reap(p);
        return;
    }
    p->conn = c;
    start_upgrade(p);
}

int
weft_host_dial(weft_host *h, const weft_multiaddr *ma, weft_dial_fn done, void *user)
{
    if (!h || !ma || !done)
        return WEFT_EINVAL;
    weft_peer *p = peer_new(h, 1);
    if (!p)
        return -ENOMEM;
    /* /dns4|dns6|dns are resolved here, each dial again (a redial follows
     * a moved name), on this thread but never longer than HOST_RESOLVE_MS. */
    char why[320];
    int rc = weft_ma_resolve(ma, HOST_RESOLVE_MS, &p->sa, &p->salen, &p->expected, &p->has_expected,
                             why, sizeof why);
    if (rc < 0) {
        if (rc == WEFT_ERESOLVE) {
            for (char *q = why; *q; q++) /* a name may hold anything but '/': keep the line whole */
                if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
                    *q = '?';
            weft_log(WEFT_LOG_INFO, "host", "msg=\"dial: name resolution failed\" detail=\"%s\"",
                     why);
        }
        peer_free(p);
        return rc;
    }
    if (p->has_expected && weft_peer_id_equal(&p->expected, &h->id)) {
        peer_free(p);
        return WEFT_EINVAL; /* dialing ourselves */
    }
    p->addr = *ma;
    p->dial_cb = done;
    p->dial_user = user;
    rc = weft_dial(h->loop, (struct sockaddr *)&p->sa, p->salen, h->cfg.handshake_timeout_ns,
                   on_dialed, p, &p->connecting);
    if (rc < 0) {
        peer_free(p);
        return rc;
    }
    return 0;
}

int
weft_host_listen(weft_host *h, const weft_multiaddr *ma, weft_multiaddr *bound)
{
    if (h->nlisteners == HOST_MAX_LISTENERS)
        return WEFT_ELIMIT;
    struct sockaddr_storage sa;
    socklen_t salen;
    int has_peer = 0;
    int rc = weft_ma_to_sockaddr(ma, &sa, &salen, NULL, &has_peer);
    if (rc < 0)
        return rc;
    struct hlistener *hl = &h->listeners[h->nlisteners];
    rc = weft_listen(h->loop, (struct sockaddr *)&sa, salen, on_accept, h, &hl->l);
    if (rc < 0)
        return rc;
    struct sockaddr_storage real;
    socklen_t rlen;
    weft_listener_addr(hl->l, &real, &rlen);
    rc = weft_ma_from_sockaddr((struct sockaddr *)&real, rlen, &hl->addr);
    if (rc < 0) {
        weft_listener_close(hl->l);
        return rc;
    }
    h->nlisteners++;
    if (bound) {
        *bound = hl->addr;
        rc = weft_ma_append_p2p(bound, &h->id);
    }
    return rc;
}

size_t
weft_host_listen_addrs(const weft_host *h, weft_multiaddr *out, size_t max)
{
    size_t n = 0;
    for (; n < h->nlisteners && n < max; n++)
        out[n] = h->listeners[n].addr;
    return n;
}

/* ---- host --------------------------------------------------------------------------------- */

void
weft_host_config_default(weft_host_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_conns = 1024;
    cfg->max_conns_per_ip = 64;
    cfg->max_streams = 256;
    cfg->max_frame = 65536;
    cfg->handshake_timeout_ns = 10LL * 1000000000;
    cfg->ping_interval_ns = 30LL * 1000000000;
}

weft_host *
weft_host_new(weft_loop *loop, const weft_host_config *cfg, int *err)
{
    int rc = 0;
    weft_host *h = calloc(1, sizeof *h);
    if (!h) {
        rc = -ENOMEM;
        goto fail;
    }
    h->loop = loop;
    h->cfg = *cfg;
    weft_host_config def;
    weft_host_config_default(&def);
    if (!h->cfg.max_conns)
        h->cfg.max_conns = def.max_conns;
    if (!h->cfg.max_conns_per_ip)
        h->cfg.max_conns_per_ip = def.max_conns_per_ip;
    if (!h->cfg.max_streams)
        h->cfg.max_streams = def.max_streams;
    if (!h->cfg.max_frame)
        h->cfg.max_frame = def.max_frame;
    if (!h->cfg.handshake_timeout_ns)
        h->cfg.handshake_timeout_ns = def.handshake_timeout_ns;
    if (!h->cfg.ping_interval_ns)
        h->cfg.ping_interval_ns = def.ping_interval_ns;
    snprintf(h->agent, sizeof h->agent, "%s",
             cfg->agent_version ? cfg->agent_version : "weft/" WEFT_VERSION);
    h->cfg.agent_version = h->agent;
    weft_peer_id_from_pubkey(h->cfg.identity.pk, &h->id);
    if (!h->cfg.noise_key_per_connection &&
        (rc = weft_noise_static_init(&h->nstatic, &h->cfg.identity, NULL, 0)) < 0)
        goto fail;
    rc = host_builtin_register(h);
    if (rc < 0)
        goto fail;
    if (err)
        *err = 0;
    return h;
fail:
    weft_host_free(h);
    if (err)
        *err = rc;
    return NULL;
}

void
weft_host_free(weft_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nlisteners; i++)
        weft_listener_close(h->listeners[i].l);
    h->nlisteners = 0;
    /* Abort connections, then tear every peer down right here. */
    for (weft_peer *p = h->peers, *next; p; p = next) {
        next = p->next;
        if (p->phase != PH_CLOSED)
            peer_close(p, WEFT_ECLOSED);
    }
    while (h->peers)
        reap(&h->peers->reap_timer, h->peers);
    for (size_t i = 0; i < h->nprotos; i++)
        free(h->protos[i].id);
    free(h->protos);
    free(h->proto_ids);
    weft_identity_wipe(&h->cfg.identity);
    weft_noise_static_wipe(&h->nstatic);
    free(h);
}

weft_loop *
weft_host_loop(const weft_host *h)
{
    return h->loop;
}

const weft_peer_id *
weft_host_peer_id(const weft_host *h)
{
    return &h->id;
}

void
weft_host_get_stats(const weft_host *h, weft_host_stats *out)
{
    *out = h->stats;
}

/* ---- peers ---------------------------------------------------------------------------------- */

const weft_peer_id *
weft_peer_get_id(const weft_peer *p)
{
    return &p->remote;
}

int
weft_peer_is_outbound(const weft_peer *p)
{
    return p->outbound;
}

const weft_multiaddr *
weft_peer_addr(const weft_peer *p)
{
    return &p->addr;
}

const weft_identify *
weft_peer_identify(const weft_peer *p)
{
    return p->ident;
}

void
weft_peer_set_user(weft_peer *p, void *user)
{
    p->user = user;
}

void *
weft_peer_user(const weft_peer *p)
{
    return p->user;
}

void
weft_peer_close(weft_peer *p)
{
    peer_close(p, 0);
}
