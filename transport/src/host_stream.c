/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams over a peer's yamux session: per-stream multistream-select (we
 * answer inbound proposals from the registered protocols; outbound streams
 * propose one id), the application handlers, and the built-in protocols:
 * identify (answer with our identify and close; ask every new peer) and
 * ping (echo; weft_peer_ping measures a round trip).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "weft/log.h"
#include <sodium.h>

#include "weft/pb.h"

#define PING_TIMEOUT_NS (10LL * 1000000000)

struct weft_stream {
    weft_peer *peer;
    weft_yamux_stream *ys;
    int outbound;
    int negotiated;
    int app_open; /* on_open delivered */
    weft_mss mss;
    const char *propose[1];
    char proto[WEFT_MSS_MAX_ID + 1];
    const weft_stream_handler *h;
    void *user;
};

/* ---- protocol registry ---------------------------------------------------------------- */

static const struct proto_entry *
host_find_proto(const weft_host *h, const char *id, size_t len)
{
    for (size_t i = 0; i < h->nprotos; i++)
        if (strlen(h->protos[i].id) == len && !memcmp(h->protos[i].id, id, len))
            return &h->protos[i];
    return NULL;
}

int
weft_host_handle(weft_host *h, const char *id, const weft_stream_handler *handler, void *user)
{
    if (!h || !id || !handler || !*id || strlen(id) > WEFT_MSS_MAX_ID)
        return WEFT_EINVAL;
    for (size_t i = 0; i < h->nprotos; i++) {
        if (!strcmp(h->protos[i].id, id)) {
            h->protos[i].h = handler;
            h->protos[i].user = user;
            return 0;
        }
    }
    if (h->nprotos == h->capprotos) {
        size_t cap = h->capprotos ? h->capprotos * 2 : 8;
        struct proto_entry *p = realloc(h->protos, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        h->protos = p;
        const char **ids = realloc(h->proto_ids, cap * sizeof *ids);
        if (!ids)
            return -ENOMEM;
        h->proto_ids = ids;
        h->capprotos = cap;
    }
    char *copy = strdup(id);
    if (!copy)
        return -ENOMEM;
    h->protos[h->nprotos] = (struct proto_entry){.id = copy, .h = handler, .user = user};
    h->nprotos++;
    for (size_t i = 0; i < h->nprotos; i++)
        h->proto_ids[i] = h->protos[i].id;
    return 0;
}

size_t
weft_host_protocols(const weft_host *h, const char **out, size_t max)
{
    size_t n = 0;
    for (; n < h->nprotos && n < max; n++)
        out[n] = h->protos[n].id;
    return n;
}

/* ---- streams ------------------------------------------------------------------------------ */

static void
stream_open_app(weft_stream *s)
{
    s->negotiated = 1;
    s->app_open = 1;
    if (s->h->on_open)
        s->h->on_open(s, s->user);
}

/* Bytes on a stream still negotiating its protocol. */
static void
negotiate(weft_stream *s, const uint8_t *data, size_t len)
{
    weft_peer *p = s->peer;
    weft_buf reply;
    uint8_t small[512];
    weft_buf_init(&reply, small, sizeof small, 4096);
    size_t used = 0;
    int rc = weft_mss_input(&s->mss, data, len, &used, &reply);
    if (reply.len && weft_yamux_stream_write(s->ys, reply.base, reply.len) < (ptrdiff_t)reply.len)
        rc = rc < 0 ? rc : WEFT_ELIMIT;
    weft_buf_free(&reply);
    if (rc < 0) {
        if (rc == WEFT_ENOTSUP)
            p->host->stats.streams_refused++;
        WEFT_IGNORE(weft_yamux_stream_reset(s->ys)); /* on_close follows from the session */
        s->h = s->outbound ? s->h : NULL;
        s->negotiated = -1;
        if (s->outbound && s->h && s->h->on_close) {
            const weft_stream_handler *h = s->h;
            s->h = NULL;
            h->on_close(s, s->user, rc);
        }
        return;
    }
    if (rc == 0)
        return;
    if (!s->outbound) {
        const char *name = weft_mss_selected_name(&s->mss);
        const struct proto_entry *e = host_find_proto(p->host, name, strlen(name));
        if (!e) {
            WEFT_IGNORE(weft_yamux_stream_reset(s->ys));
            return;
        }
        snprintf(s->proto, sizeof s->proto, "%s", e->id);
        s->h = e->h;
        s->user = e->user;
    }
    p->host->stats.streams_opened++;
    stream_open_app(s);
    if (used < len && s->app_open && s->h && s->h->on_data)
        s->h->on_data(s, s->user, data + used, len - used);
}

static void
ys_open(weft_yamux *sess, weft_yamux_stream *ys)
{
    weft_peer *p = weft_yamux_user(sess);
    weft_host *h = p->host;
    weft_stream *s = calloc(1, sizeof *s);
    if (!s || weft_mss_init_responder(&s->mss, h->proto_ids, h->nprotos) < 0) {
        free(s);
        WEFT_IGNORE(weft_yamux_stream_reset(ys));
        return;
    }
    s->peer = p;
    s->ys = ys;
    weft_yamux_stream_set_user(ys, s);
}

static void
ys_data(weft_yamux *sess, weft_yamux_stream *ys, const uint8_t *data, size_t len)
{
    (void)sess;
    weft_stream *s = weft_yamux_stream_user(ys);
    if (!s || s->negotiated < 0)
        return;
    if (!s->negotiated)
        negotiate(s, data, len);
    else if (s->h && s->h->on_data)
        s->h->on_data(s, s->user, data, len);
}

static void
ys_fin(weft_yamux *sess, weft_yamux_stream *ys)
{
    (void)sess;
    weft_stream *s = weft_yamux_stream_user(ys);
    if (s && s->app_open && s->h && s->h->on_fin)
        s->h->on_fin(s, s->user);
}

static void
ys_writable(weft_yamux *sess, weft_yamux_stream *ys)
{
    (void)sess;
    weft_stream *s = weft_yamux_stream_user(ys);
    if (s && s->app_open && s->h && s->h->on_writable)
        s->h->on_writable(s, s->user);
}

static void
ys_close(weft_yamux *sess, weft_yamux_stream *ys, int err)
{
    (void)sess;
    weft_stream *s = weft_yamux_stream_user(ys);
    if (!s)
        return;
    weft_yamux_stream_set_user(ys, NULL);
    /* The application hears of every stream it opened or accepted. */
    if (s->h && s->h->on_close && (s->app_open || s->outbound))
        s->h->on_close(s, s->user, s->app_open ? err : (err ? err : WEFT_ECLOSED));
    free(s);
}

void
host_stream_callbacks(weft_yamux_config *cfg)
{
    cfg->on_stream_open = ys_open;
    cfg->on_data = ys_data;
    cfg->on_fin = ys_fin;
    cfg->on_writable = ys_writable;
    cfg->on_stream_close = ys_close;
}

int
weft_peer_open_stream(weft_peer *p, const char *id, const weft_stream_handler *handler, void *user,
                      weft_stream **out)
{
    if (!p || !id || !handler || strlen(id) > WEFT_MSS_MAX_ID)
        return WEFT_EINVAL;
    if (p->phase != PH_READY || !p->mux)
        return WEFT_ECLOSED;
    weft_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    snprintf(s->proto, sizeof s->proto, "%s", id);
    s->propose[0] = s->proto;
    s->peer = p;
    s->outbound = 1;
    s->h = handler;
    s->user = user;
    int rc = weft_mss_init_initiator(&s->mss, s->propose, 1);
    if (rc == 0) {
        p->in_mux++;
        rc = weft_yamux_open(p->mux, &s->ys);
        p->in_mux--;
    }
    if (rc < 0) {
        free(s);
        return rc;
    }
    weft_yamux_stream_set_user(s->ys, s);
    weft_buf req;
    uint8_t small[512];
    weft_buf_init(&req, small, sizeof small, 4096);
    rc = weft_mss_start(&s->mss, &req);
    if (rc >= 0 && weft_yamux_stream_write(s->ys, req.base, req.len) < (ptrdiff_t)req.len)
        rc = WEFT_ELIMIT;
    weft_buf_free(&req);
    if (rc < 0) {
        s->h = NULL; /* no callback for a stream that was never returned */
        WEFT_IGNORE(weft_yamux_stream_reset(s->ys));
        peer_flush(p);
        return rc;
    }
    if (out)
        *out = s;
    peer_flush(p);
    return 0;
}

ptrdiff_t
weft_stream_write(weft_stream *s, const void *data, size_t len)
{
    if (!s->app_open)
        return s->negotiated < 0 ? WEFT_ECLOSED : WEFT_EAGAIN;
    s->peer->last_activity = weft_loop_now(s->peer->host->loop);
    ptrdiff_t n = weft_yamux_stream_write(s->ys, data, len);
    peer_flush(s->peer);
    return n;
}

int
weft_stream_close(weft_stream *s)
{
    int rc = weft_yamux_stream_close(s->ys);
    peer_flush(s->peer);
    return rc;
}

void
weft_stream_reset(weft_stream *s)
{
    WEFT_IGNORE(weft_yamux_stream_reset(s->ys));
    peer_flush(s->peer);
}

weft_peer *
weft_stream_peer(const weft_stream *s)
{
    return s->peer;
}

const char *
weft_stream_protocol(const weft_stream *s)
{
    return s->proto;
}

int
weft_stream_is_outbound(const weft_stream *s)
{
    return s->outbound;
}

void
weft_stream_set_user(weft_stream *s, void *user)
{
    s->user = user;
}

/* ---- identify --------------------------------------------------------------------------- */

static int
build_identify(weft_peer *p, weft_buf *out)
{
    weft_host *h = p->host;
    weft_identify *id = calloc(1, sizeof *id);
    if (!id)
        return -ENOMEM;
    id->has_pubkey = 1;
    memcpy(id->pubkey, h->cfg.identity.pk, 32);
    id->nlisten = weft_host_listen_addrs(h, id->listen, WEFT_IDENTIFY_MAX_ADDRS);
    for (size_t i = 0; i < h->nprotos && id->nprotocols < WEFT_IDENTIFY_MAX_PROTOS; i++)
        snprintf(id->protocols[id->nprotocols++], WEFT_IDENTIFY_MAX_STR, "%s", h->protos[i].id);
    id->has_observed = p->addr.len > 0;
    id->observed = p->addr;
    snprintf(id->protocol_version, sizeof id->protocol_version, "ipfs/0.1.0");
    snprintf(id->agent_version, sizeof id->agent_version, "%s", h->agent);
    weft_buf body;
    weft_buf_init(&body, NULL, 0, WEFT_IDENTIFY_MAX_MSG);
    int rc = weft_identify_encode(id, &body);
    if (rc == 0)
        rc = weft_put_lp(out, body.base, body.len);
    weft_buf_free(&body);
    free(id);
    return rc;
}

static void
id_serve_open(weft_stream *s, void *user)
{
    (void)user;
    weft_buf msg;
    weft_buf_init(&msg, NULL, 0, WEFT_IDENTIFY_MAX_MSG + 16);
    if (build_identify(s->peer, &msg) == 0 &&
        weft_yamux_stream_write(s->ys, msg.base, msg.len) == (ptrdiff_t)msg.len)
        WEFT_IGNORE(weft_yamux_stream_close(s->ys));
    else
        WEFT_IGNORE(weft_yamux_stream_reset(s->ys));
    weft_buf_free(&msg);
}

/* Reading an identify (answer or push): collect until FIN, then parse. */
struct id_reader {
    weft_buf buf;
};

static void
id_read_data(weft_stream *s, void *user, const uint8_t *data, size_t len)
{
    struct id_reader *r = user;
    if (!r)
        return;
    if (weft_buf_append(&r->buf, data, len) < 0) {
        s->peer->host->stats.proto_errors++;
        weft_stream_reset(s);
    }
}

static void
id_read_fin(weft_stream *s, void *user)
{
    struct id_reader *r = user;
    weft_peer *p = s->peer;
    weft_host *h = p->host;
    if (!r)
        return;
    uint64_t len;
    int n = weft_uvarint_get(r->buf.base, r->buf.len, &len, 0);
    weft_identify *id = malloc(sizeof *id);
    if (n > 0 && id && len <= r->buf.len - (size_t)n &&
        weft_identify_decode(r->buf.base + n, (size_t)len, id) == 0) {
        free(p->ident);
        p->ident = id;
        if (h->cfg.on_identify)
            h->cfg.on_identify(h, p, id, h->cfg.user);
    } else {
        free(id);
        h->stats.proto_errors++;
        if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
            weft_log(WEFT_LOG_DEBUG, "host", "msg=\"bad identify\" bytes=%zu", r->buf.len);
    }
    weft_buf_reset(&r->buf);
    WEFT_IGNORE(weft_stream_close(s));
}

static void
id_read_close(weft_stream *s, void *user, int reason)
{
    (void)s, (void)reason;
    struct id_reader *r = user;
    if (r) {
        weft_buf_free(&r->buf);
        free(r);
    }
}

static void
id_read_open(weft_stream *s, void *user)
{
    (void)user;
    struct id_reader *r = calloc(1, sizeof *r);
    if (!r) {
        weft_stream_reset(s);
        return;
    }
    weft_buf_init(&r->buf, NULL, 0, WEFT_IDENTIFY_MAX_MSG + WEFT_UVARINT_MAX);
    weft_stream_set_user(s, r);
}

static const weft_stream_handler id_serve = {.on_open = id_serve_open};
static const weft_stream_handler id_read = {.on_open = id_read_open,
                                            .on_data = id_read_data,
                                            .on_fin = id_read_fin,
                                            .on_close = id_read_close};

void
host_peer_ready(weft_peer *p)
{
    /* Ask the remote who it is; js opens gossip streams only afterwards. */
    if (weft_peer_open_stream(p, WEFT_IDENTIFY_PROTO, &id_read, NULL, NULL) < 0 &&
        WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
        weft_log(WEFT_LOG_DEBUG, "host", "msg=\"identify stream not opened\"");
}

/* ---- ping ------------------------------------------------------------------------------- */

static void
ping_echo_data(weft_stream *s, void *user, const uint8_t *data, size_t len)
{
    (void)user;
    /* Echo verbatim; a peer that does not read its echoes is reset. */
    if (weft_stream_write(s, data, len) != (ptrdiff_t)len)
        weft_stream_reset(s);
}

static void
ping_echo_fin(weft_stream *s, void *user)
{
    (void)user;
    WEFT_IGNORE(weft_stream_close(s));
}

static const weft_stream_handler ping_serve = {.on_data = ping_echo_data, .on_fin = ping_echo_fin};

struct pinger {
    weft_ping_fn done;
    void *user;
    uint8_t sent[WEFT_PING_SIZE];
    size_t got;
    int64_t t0;
    weft_timer timeout;
    weft_stream *s;
    weft_loop *loop;
};

static void
ping_finish(struct pinger *pg, weft_peer *p, int64_t result)
{
    if (pg->done) {
        weft_ping_fn done = pg->done;
        pg->done = NULL;
        done(p, result, pg->user);
    }
    weft_timer_disarm(pg->loop, &pg->timeout);
}

static void
ping_timeout(weft_timer *t, void *user)
{
    (void)t;
    struct pinger *pg = user;
    ping_finish(pg, pg->s->peer, -ETIMEDOUT);
    weft_stream_reset(pg->s);
}

static void
ping_open(weft_stream *s, void *user)
{
    struct pinger *pg = user;
    randombytes_buf(pg->sent, sizeof pg->sent);
    pg->t0 = weft_loop_now(pg->loop);
    if (weft_stream_write(s, pg->sent, sizeof pg->sent) != (ptrdiff_t)sizeof pg->sent) {
        ping_finish(pg, s->peer, WEFT_ECLOSED);
        weft_stream_reset(s);
    }
}

static void
ping_data(weft_stream *s, void *user, const uint8_t *data, size_t len)
{
    struct pinger *pg = user;
    if (pg->got + len > sizeof pg->sent || memcmp(pg->sent + pg->got, data, len)) {
        ping_finish(pg, s->peer, WEFT_EPROTO);
        weft_stream_reset(s);
        return;
    }
    pg->got += len;
    if (pg->got == sizeof pg->sent) {
        ping_finish(pg, s->peer, weft_loop_now(pg->loop) - pg->t0);
        WEFT_IGNORE(weft_stream_close(s));
    }
}

static void
ping_close(weft_stream *s, void *user, int reason)
{
    struct pinger *pg = user;
    ping_finish(pg, s->peer, reason < 0 ? reason : WEFT_ECLOSED);
    free(pg);
}

static const weft_stream_handler ping_client = {
    .on_open = ping_open, .on_data = ping_data, .on_close = ping_close};

int
weft_peer_ping(weft_peer *p, weft_ping_fn done, void *user)
{
    struct pinger *pg = calloc(1, sizeof *pg);
    if (!pg)
        return -ENOMEM;
    pg->done = done;
    pg->user = user;
    pg->loop = p->host->loop;
    weft_timer_init(&pg->timeout, ping_timeout, pg);
    int rc = weft_peer_open_stream(p, WEFT_PING_PROTO, &ping_client, pg, &pg->s);
    if (rc < 0) {
        free(pg);
        return rc;
    }
    WEFT_IGNORE(weft_timer_arm(pg->loop, &pg->timeout, weft_loop_now(pg->loop) + PING_TIMEOUT_NS));
    return 0;
}

int
host_builtin_register(weft_host *h)
{
    int rc = weft_host_handle(h, WEFT_IDENTIFY_PROTO, &id_serve, NULL);
    if (rc == 0)
        rc = weft_host_handle(h, WEFT_IDENTIFY_PUSH_PROTO, &id_read, NULL);
    if (rc == 0)
        rc = weft_host_handle(h, WEFT_PING_PROTO, &ping_serve, NULL);
    return rc;
}
