/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket (RFC 6455) connections on the service HTTP server's loop
 * thread. h2o answers the upgrade with 101 (h2o_http1_upgrade) and hands
 * over its socket; from there this file frames on top of h2o_socket_t
 * itself rather than through h2o's lib/websocket.c and wslay, because the
 * fan-out needs what that pair lacks: wslay copies every message per
 * connection and h2o copies it again per frame, its queue has no byte
 * bound, and a slow consumer's queue cannot be dropped nor its socket
 * abandoned under a pending write. Here a server frame is built once
 * (ws_send.c), reference counted, and written straight from that buffer.
 *
 * Other threads reach the loop only through messages on one h2o_multithread
 * receiver (ws_send.c posts them). h2o wakes the loop once per batch; the
 * loop queues every frame of the batch first and then writes each touched
 * connection once (the dirty list), up to WRITE_BATCH frames per writev.
 *
 * Connection states: UPGRADING (101 not yet written; frames wait) -> OPEN
 * -> CLOSING (on_close has run; close frame queued; input is only scanned
 * for the peer's close) -> DEAD (socket closed, loop reference dropped).
 * Once our close frame is written we send FIN and wait, under a timer of
 * about a second, for the peer's close or EOF.
 *
 * Invariants: `queued` counts the charge (payload + WS_FRAME_CHARGE) of data
 * frames accepted by a send, and of pongs, not yet written or dropped; a frame's refs equals the
 * number of queues and undelivered messages holding it; the first `writing` frames of a queue
 * belong to h2o's pending write; the loop holds one reference to every connection not DEAD, and a
 * pending upgrade one more.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>
#include <h2o/http1.h>

#include "weft/common.h"
#include "ws_priv.h"

#define DEFAULT_MAX_QUEUED ((size_t)8 << 20)
#define DEFAULT_MAX_MESSAGE ((size_t)64 << 10)
#define WRITE_BATCH 64        /* frames per writev */
#define WS_RCVBUF (256 << 10) /* bytes of client input the kernel may hold */

struct ws_hub {
    h2o_context_t *ctx;
    h2o_multithread_receiver_t receiver;
    struct ws_chan *chan;
    weft_ws_handlers fn;
    void *user;
    char *path, *alias; /* alias: a second path for the same endpoint, or NULL */
    size_t path_len, alias_len, max_queued, max_message;
    h2o_linklist_t conns; /* every connection not DEAD */
    h2o_linklist_t dirty; /* connections with frames to write after this batch */
    uint64_t next_id;
    int stopping;
};

static void flush(weft_ws_conn *c);
static void destroy(weft_ws_conn *c);

/* ---- the frame ring ---------------------------------------------------------------- */

static void
outq_init(struct ws_outq *q)
{
    q->v = q->inl;
    q->cap = WS_OUTQ_INLINE;
    q->head = q->n = 0;
}

static struct ws_frame *
outq_at(const struct ws_outq *q, size_t i)
{
    return q->v[(q->head + i) % q->cap];
}

static int
outq_push(struct ws_outq *q, struct ws_frame *f)
{
    if (q->n == q->cap) {
        struct ws_frame **v = malloc(2 * q->cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < q->n; i++)
            v[i] = outq_at(q, i);
        if (q->v != q->inl)
            free(q->v);
        q->v = v;
        q->head = 0;
        q->cap *= 2;
    }
    q->v[(q->head + q->n) % q->cap] = f;
    q->n++;
    return 0;
}

static struct ws_frame *
outq_pop(struct ws_outq *q)
{
    struct ws_frame *f = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return f;
}

/* ---- closing (loop) ------------------------------------------------------------------ */

static void
notify_close(weft_ws_conn *c, int code)
{
    struct ws_hub *h = c->hub;
    if (!c->accepted || c->notified)
        return;
    c->notified = 1;
    if (h->fn.on_close != NULL)
        h->fn.on_close(h->user, c, code);
}

/* Drop the frames h2o has not been handed yet. */
static void
drop_unsent(weft_ws_conn *c)
{
    while (c->q.n > c->writing) {
        struct ws_frame *f = outq_at(&c->q, c->q.n - 1);
        c->q.n--;
        ws_release(c, f->counted);
        ws_frame_unref(f);
    }
}

static void
on_close_timeout(h2o_timeout_entry_t *entry)
{
    destroy(H2O_STRUCT_FROM_MEMBER(weft_ws_conn, timer, entry));
}

static void
arm_close_timer(weft_ws_conn *c)
{
    c->timer.cb = on_close_timeout;
    if (!h2o_timeout_is_linked(&c->timer))
        h2o_timeout_link(c->hub->ctx->loop, &c->hub->ctx->one_sec_timeout, &c->timer);
}

/*
 * Leave OPEN (or UPGRADING): report @report to on_close, queue a close
 * frame carrying @wire (0: no code) and @reason behind the frames already
 * queued (all of them, or only those h2o holds when @drop), and bound the
 * handshake with the close timer.
 */
static void
begin_close(weft_ws_conn *c, int report, int wire, const char *reason, int drop)
{
    struct ws_frame *f;

    if (c->state != WS_OPEN && c->state != WS_UPGRADING)
        return;
    atomic_store(&c->shut, 1);
    notify_close(c, report);
    c->state = WS_CLOSING;
    if (drop)
        drop_unsent(c);
    f = ws_frame_close(wire, reason);
    if (f == NULL || outq_push(&c->q, f) != 0) {
        free(f);
        destroy(c);
        return;
    }
    c->close_queued = 1;
    if (c->sock != NULL) {
        arm_close_timer(c);
        flush(c);
    }
}

/* The peer broke the protocol: close with @code and stop parsing. */
static void
fail(weft_ws_conn *c, int code, const char *reason)
{
    if (c->state != WS_OPEN) {
        destroy(c);
        return;
    }
    c->failed = 1;
    begin_close(c, code, code, reason, 1);
}

/* Our close frame is on the wire: send FIN so the client reads the close
 * frame before EOF, then close at once when the client already closed,
 * else wait (under the close timer) for its close frame or EOF. */
static void
close_written(weft_ws_conn *c)
{
    shutdown(h2o_socket_get_fd(c->sock), SHUT_WR);
    c->wr_shut = 1;
    if (c->peer_closed)
        destroy(c);
}

/* Socket closed; the loop's reference dropped. c may be freed on return. */
static void
destroy(weft_ws_conn *c)
{
    struct ws_hub *h = c->hub;

    if (c->state == WS_DEAD)
        return;
    notify_close(c, h->stopping ? WEFT_WS_GOING_AWAY : WEFT_WS_ABNORMAL);
    c->state = WS_DEAD;
    atomic_store(&c->shut, 1);
    h2o_timeout_unlink(&c->timer);
    if (h2o_linklist_is_linked(&c->dirty))
        h2o_linklist_unlink(&c->dirty);
    if (h2o_linklist_is_linked(&c->link))
        h2o_linklist_unlink(&c->link);
    if (c->sock != NULL) {
        h2o_socket_t *sock = c->sock;
        c->sock = NULL;
        sock->data = NULL;
        h2o_socket_close(sock); /* h2o drops its pending write without a callback */
    }
    while (c->q.n != 0) {
        struct ws_frame *f = outq_pop(&c->q);
        ws_release(c, f->counted);
        ws_frame_unref(f);
    }
    if (c->q.v != c->q.inl)
        free(c->q.v);
    outq_init(&c->q);
    free(c->rx);
    c->rx = NULL;
    weft_ws_unref(c);
}

/* ---- writing (loop) ------------------------------------------------------------------ */

static void
on_write_done(h2o_socket_t *sock, const char *err)
{
    weft_ws_conn *c = sock->data;
    size_t n = c->writing;

    c->writing = 0;
    for (size_t i = 0; i < n; i++) {
        struct ws_frame *f = outq_pop(&c->q);
        if ((f->bytes[0] & 0x0f) == WS_OP_CLOSE)
            c->close_sent = 1;
        ws_release(c, f->counted);
        ws_frame_unref(f);
    }
    if (err != NULL) {
        destroy(c);
        return;
    }
    flush(c);
}

/* Hand queued frames to h2o unless a write is pending. c may be freed. */
static void
flush(weft_ws_conn *c)
{
    h2o_iovec_t iov[WRITE_BATCH];
    size_t n = 0;

    if (c->sock == NULL || c->writing != 0 || c->wr_shut || c->state == WS_DEAD)
        return;
    while (n < c->q.n && n < WRITE_BATCH) {
        struct ws_frame *f = outq_at(&c->q, n);
        iov[n++] = h2o_iovec_init(f->bytes, f->len);
    }
    if (n == 0) {
        if (c->close_sent)
            close_written(c);
        return;
    }
    c->writing = n;
    h2o_socket_write(c->sock, iov, n, on_write_done);
}

static void
mark_dirty(struct ws_hub *h, weft_ws_conn *c)
{
    if (!h2o_linklist_is_linked(&c->dirty))
        h2o_linklist_insert(&h->dirty, &c->dirty);
}

static void
flush_dirty(struct ws_hub *h)
{
    while (!h2o_linklist_is_empty(&h->dirty)) {
        weft_ws_conn *c = H2O_STRUCT_FROM_MEMBER(weft_ws_conn, dirty, h->dirty.next);
        h2o_linklist_unlink(&c->dirty);
        flush(c);
    }
}

static void
handle_msg(struct ws_hub *h, struct ws_msg *m)
{
    if (m->kind == WS_MSG_CLOSE) {
        weft_ws_conn *c = m->one; /* m is c->close_msg */
        if (!h->stopping)
            begin_close(c, c->req_code, c->req_code, c->req_reason, c->req_code == WEFT_WS_POLICY);
        weft_ws_unref(c);
        return;
    }
    struct ws_frame *f = m->frame;
    size_t counted = f->counted;
    for (size_t i = 0; i < m->n; i++) {
        weft_ws_conn *c = m->conns[i];
        if (!h->stopping && (c->state == WS_UPGRADING || c->state == WS_OPEN) && !c->close_queued &&
            outq_push(&c->q, f) == 0) {
            mark_dirty(h, c);
        } else {
            ws_release(c, counted);
            ws_frame_unref(f);
        }
        weft_ws_unref(c);
    }
    free(m);
}

static void
on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *list)
{
    struct ws_hub *h = H2O_STRUCT_FROM_MEMBER(struct ws_hub, receiver, receiver);
    while (!h2o_linklist_is_empty(list)) {
        struct ws_msg *m = H2O_STRUCT_FROM_MEMBER(struct ws_msg, super.link, list->next);
        h2o_linklist_unlink(&m->super.link);
        handle_msg(h, m);
    }
    flush_dirty(h);
}

/* ---- reading (loop) ------------------------------------------------------------------ */

/* The last queued frame when h2o has not been handed it yet, else NULL. */
static struct ws_frame **
unsent_tail(weft_ws_conn *c)
{
    if (c->q.n <= c->writing)
        return NULL;
    return &c->q.v[(c->q.head + c->q.n - 1) % c->q.cap];
}

/*
 * Pongs are charged to the backlog like data, and RFC 6455 (5.5.3) lets a
 * pong answer only the most recent ping: one still waiting at the tail is
 * replaced rather than joined by another. A peer that pings and never reads
 * thus holds at most one pong per data frame behind h2o's pending write,
 * within the connection's byte cap; past the cap a pong is dropped (counted
 * in the backlog it would have taken), which the peer cannot tell from loss.
 */
static void
queue_control(weft_ws_conn *c, int op, const uint8_t *data, size_t len)
{
    struct ws_frame *f = ws_frame_new(op, data, len);
    if (f == NULL)
        return; /* a lost pong is harmless */
    f->counted = len + WS_FRAME_CHARGE;
    struct ws_frame **tail = unsent_tail(c);
    if (tail != NULL && ((*tail)->bytes[0] & 0x0f) == WS_OP_PONG) {
        ws_release(c, (*tail)->counted);
        ws_frame_unref(*tail);
        *tail = f;
        atomic_fetch_add_explicit(&c->queued, f->counted, memory_order_relaxed);
        flush(c);
        return;
    }
    size_t prev = atomic_fetch_add_explicit(&c->queued, f->counted, memory_order_relaxed);
    if (prev + f->counted > c->max_queued || outq_push(&c->q, f) != 0) {
        ws_release(c, f->counted);
        ws_frame_unref(f);
        return;
    }
    flush(c);
}

static void
deliver(weft_ws_conn *c, int op, const uint8_t *data, size_t len)
{
    struct ws_hub *h = c->hub;
    if (op == WS_OP_TEXT && !weft_utf8_valid(data, len)) {
        fail(c, WEFT_WS_INVALID_DATA, "invalid UTF-8");
        return;
    }
    if (h->fn.on_message != NULL)
        h->fn.on_message(h->user, c, op == WS_OP_TEXT, data, len);
}

static void
on_peer_close(weft_ws_conn *c, const uint8_t *p, size_t len)
{
    int code = WEFT_WS_NO_STATUS;

    if (len == 1) {
        fail(c, WEFT_WS_PROTOCOL_ERROR, "bad close frame");
        return;
    }
    if (len >= 2) {
        code = p[0] << 8 | p[1];
        if (!ws_close_code_valid(code)) {
            fail(c, WEFT_WS_PROTOCOL_ERROR, "bad close code");
            return;
        }
        if (!weft_utf8_valid(p + 2, len - 2)) {
            fail(c, WEFT_WS_INVALID_DATA, "invalid UTF-8");
            return;
        }
    }
    c->peer_closed = 1;
    if (c->state == WS_OPEN)
        begin_close(c, code, len >= 2 ? code : 0, "", 1); /* echo the code */
    else if (c->state == WS_CLOSING && c->close_sent)
        destroy(c);
}

static void
on_data_frame(weft_ws_conn *c, int fin, int op, const uint8_t *p, size_t len)
{
    size_t need;

    if (c->state != WS_OPEN)
        return; /* closing: data is discarded */
    if (fin && op != WS_OP_CONT) {
        deliver(c, op, p, len);
        return;
    }
    if (op != WS_OP_CONT)
        c->rx_op = op;
    need = c->rx_len + len;
    if (need > c->rx_cap) {
        size_t cap = c->rx_cap != 0 ? c->rx_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > c->hub->max_message)
            cap = c->hub->max_message;
        uint8_t *rx = realloc(c->rx, cap);
        if (rx == NULL) {
            fail(c, WEFT_WS_INTERNAL_ERROR, "out of memory");
            return;
        }
        c->rx = rx;
        c->rx_cap = cap;
    }
    if (len != 0)
        memcpy(c->rx + c->rx_len, p, len);
    c->rx_len = need;
    if (fin) {
        int mop = c->rx_op;
        size_t mlen = c->rx_len;
        uint8_t *buf = c->rx;
        c->rx = NULL;
        c->rx_len = c->rx_cap = 0;
        c->rx_op = 0;
        deliver(c, mop, buf, mlen);
        free(buf);
    }
}

/*
 * Parse whole frames from the socket's input. Returns when more bytes are
 * needed or the connection stopped reading; the caller holds a reference,
 * and after destroy() c->sock is gone, so check the state before touching it.
 */
static void
parse_input(weft_ws_conn *c)
{
    for (;;) {
        if (c->state == WS_DEAD)
            return;
        h2o_buffer_t **in = &c->sock->input;
        if (c->state == WS_CLOSING && (c->failed || c->peer_closed)) {
            h2o_buffer_consume(in, (*in)->size); /* linger: discard until EOF */
            return;
        }
        uint8_t *p = (uint8_t *)(*in)->bytes;
        struct ws_hdr fh;
        int hl = ws_parse_header(p, (*in)->size, &fh);
        if (hl == 0)
            return;
        if (hl < 0) {
            fail(c, -hl, "bad frame");
            continue;
        }
        int op = fh.op;
        size_t len = (size_t)fh.len;
        if ((op & 8) == 0 && (op == WS_OP_CONT) != (c->rx_op != 0)) {
            fail(c, WEFT_WS_PROTOCOL_ERROR, "bad continuation");
            continue;
        }
        if ((op & 8) == 0 && fh.len > c->hub->max_message - c->rx_len) {
            fail(c, WEFT_WS_TOO_BIG, "message too big");
            continue;
        }
        if ((*in)->size - (size_t)hl < len)
            return;
        uint8_t *payload = p + hl;
        ws_unmask(payload, len, fh.key);
        if (op == WS_OP_PING) {
            if (c->state == WS_OPEN)
                queue_control(c, WS_OP_PONG, payload, len);
        } else if (op == WS_OP_CLOSE) {
            on_peer_close(c, payload, len);
        } else if (op != WS_OP_PONG) {
            on_data_frame(c, fh.fin, op, payload, len);
        }
        if (c->state == WS_DEAD)
            return;
        h2o_buffer_consume(in, (size_t)hl + len);
    }
}

static void
on_read(h2o_socket_t *sock, const char *err)
{
    weft_ws_conn *c = sock->data;

    if (err != NULL) {
        destroy(c); /* EOF or error: 1006 unless on_close already ran */
        return;
    }
    weft_ws_ref(c);
    parse_input(c);
    weft_ws_unref(c);
}

/* ---- the handshake (loop) ---------------------------------------------------------- */

static void
on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    weft_ws_conn *c = data;

    if (sock == NULL || c->state == WS_DEAD || c->hub->stopping) {
        if (sock != NULL && c->state == WS_DEAD) {
            h2o_socket_close(sock);
        } else if (sock != NULL) {
            c->sock = sock;
            sock->data = c;
        }
        destroy(c); /* 1006, or 1001 when stopping; no-op if already dead */
        weft_ws_unref(c);
        return;
    }
    h2o_buffer_consume(&sock->input, reqsize);
    c->sock = sock;
    sock->data = c;
    /* h2o reads until the kernel has nothing left, so one read can take all
     * the kernel holds, which autotuning lets grow to tcp_rmem's maximum (32
     * MiB here) per flooding client; a fixed receive buffer bounds that.
     * Clients of this endpoint mostly listen: a small window costs nothing. */
    int fd = h2o_socket_get_fd(sock), rcv = WS_RCVBUF;
    if (fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    h2o_socket_read_start(sock, on_read);
    if (c->state == WS_UPGRADING)
        c->state = WS_OPEN;
    else
        arm_close_timer(c); /* closed while upgrading: the close frame is queued */
    if (sock->input->size != 0)
        parse_input(c);
    flush(c);
    weft_ws_unref(c);
}

static const char *
find_header(h2o_req_t *req, const char *name, size_t name_len, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

int
ws_hub_owns(const struct ws_hub *h, const weft_http_req *r)
{
    return (r->path_len == h->path_len && memcmp(r->path, h->path, h->path_len) == 0) ||
           (h->alias != NULL && r->path_len == h->alias_len &&
            memcmp(r->path, h->alias, h->alias_len) == 0);
}

int
ws_hub_on_request(struct ws_hub *h, h2o_req_t *req, const weft_http_req *r, weft_http_resp *resp)
{
    const char *key, *ver;
    size_t key_len = 0, ver_len = 0;
    char accept[29];
    weft_ws_conn *c;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        weft_http_reply_error(resp, 405, "method not allowed");
        return 1;
    }
    key = find_header(req, H2O_STRLIT("sec-websocket-key"), &key_len);
    ver = find_header(req, H2O_STRLIT("sec-websocket-version"), &ver_len);
    if (req->version < 0x101 || req->upgrade.base == NULL ||
        !h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")) || key == NULL ||
        !ws_key_valid(key, key_len)) {
        weft_http_reply_error(resp, 400, "websocket upgrade required");
        return 1;
    }
    if (ver == NULL || !h2o_memis(ver, ver_len, H2O_STRLIT("13"))) {
        weft_http_reply_error(resp, 400, "unsupported websocket version");
        return 1;
    }
    if (h->stopping || ws_make_accept(key, accept) != 0 || (c = calloc(1, sizeof(*c))) == NULL) {
        weft_http_reply_error(resp, 503, "websocket unavailable");
        return 1;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->shut, 0);
    atomic_init(&c->queued, 0);
    atomic_init(&c->user, NULL);
    c->id = h->next_id++;
    c->max_queued = h->max_queued;
    c->chan = h->chan;
    atomic_fetch_add(&h->chan->refs, 1);
    c->hub = h;
    c->state = WS_UPGRADING;
    outq_init(&c->q);
    h2o_linklist_insert(&h->conns, &c->link);

    resp->status = 0;
    if (h->fn.on_open != NULL && h->fn.on_open(h->user, c, r, resp) != 0) {
        if (resp->status == 0)
            weft_http_reply_error(resp, 403, "forbidden");
        destroy(c); /* never accepted: no on_close */
        return 1;
    }
    free(resp->body);
    resp->body = NULL;
    c->accepted = 1;
    weft_ws_ref(c); /* for the pending upgrade: on_upgraded drops it */

    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_iovec_t v = h2o_strdup(&req->pool, accept, 28);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0,
                          NULL, v.base, v.len);
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, c);
    return 0;
}

/* ---- the hub ----------------------------------------------------------------------- */

struct ws_hub *
ws_hub_new(const weft_http_config *cfg, h2o_context_t *ctx)
{
    struct ws_hub *h = calloc(1, sizeof(*h));
    struct ws_chan *ch = calloc(1, sizeof(*ch));

    if (h == NULL || ch == NULL || (h->path = strdup(cfg->ws_path)) == NULL ||
        (cfg->ws_path_alias != NULL && (h->alias = strdup(cfg->ws_path_alias)) == NULL)) {
        if (h != NULL)
            free(h->path);
        free(h);
        free(ch);
        return NULL;
    }
    h->alias_len = h->alias != NULL ? strlen(h->alias) : 0;
    pthread_mutex_init(&ch->lock, NULL);
    atomic_init(&ch->refs, 1);
    ch->receiver = &h->receiver;
    h->chan = ch;
    h->ctx = ctx;
    h->fn = *cfg->ws;
    h->user = cfg->ws_user;
    h->path_len = strlen(h->path);
    h->max_queued = cfg->ws_max_queued != 0 ? cfg->ws_max_queued : DEFAULT_MAX_QUEUED;
    h->max_message = cfg->ws_max_message != 0 ? cfg->ws_max_message : DEFAULT_MAX_MESSAGE;
    h->next_id = 1;
    h2o_linklist_init_anchor(&h->conns);
    h2o_linklist_init_anchor(&h->dirty);
    h2o_multithread_register_receiver(ctx->queue, &h->receiver, on_messages);
    return h;
}

/* Best effort at stop: a close frame straight to the socket when it sits
 * between frames, then the socket is closed. */
static void
say_goodbye(weft_ws_conn *c)
{
    static const char reason[] = "server stopping";
    uint8_t b[4 + sizeof(reason)];

    if (c->state != WS_OPEN || c->writing != 0)
        return;
    b[0] = 0x80 | WS_OP_CLOSE;
    b[1] = (uint8_t)(2 + sizeof(reason) - 1);
    b[2] = WEFT_WS_GOING_AWAY >> 8;
    b[3] = WEFT_WS_GOING_AWAY & 0xff;
    memcpy(b + 4, reason, sizeof(reason) - 1);
    (void)!send(h2o_socket_get_fd(c->sock), b, 4 + sizeof(reason) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void
ws_hub_shutdown(struct ws_hub *h)
{
    h2o_linklist_t pending, *node, *next;

    h->stopping = 1;
    pthread_mutex_lock(&h->chan->lock);
    h->chan->stopped = 1;
    pthread_mutex_unlock(&h->chan->lock);
    /* no sender can reach the receiver any more: its list is ours */
    h2o_linklist_init_anchor(&pending);
    h2o_linklist_insert_list(&pending, &h->receiver._messages);
    on_messages(&h->receiver, &pending);
    h2o_multithread_unregister_receiver(h->ctx->queue, &h->receiver);

    for (node = h->conns.next; node != &h->conns; node = next) {
        weft_ws_conn *c = H2O_STRUCT_FROM_MEMBER(weft_ws_conn, link, node);
        next = node->next;
        if (c->sock == NULL)
            continue; /* still upgrading: on_upgraded closes it */
        say_goodbye(c);
        destroy(c);
    }
}

void
ws_hub_free(struct ws_hub *h)
{
    if (h == NULL)
        return;
    ws_chan_unref(h->chan);
    free(h->path);
    free(h->alias);
    free(h);
}
