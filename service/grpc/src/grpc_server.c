/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC server glue over the C core (weft/svc_grpc.h).
 *
 * Every call runs the same small state machine, driven from one
 * completion-queue thread:
 *   arrival      -> SEND_INITIAL_METADATA, RECV_CLOSE_ON_SERVER, RECV_MESSAGE
 *   RECV_MESSAGE -> on_message, and the next RECV_MESSAGE; none = half-close
 *   sends        -> one SEND_MESSAGE in flight, the rest in a bounded queue
 *   finish       -> SEND_STATUS_FROM_SERVER once the queue is empty
 *   RECV_CLOSE   -> on_close (the call is over either way)
 * Each batch in flight holds a reference on the call, as does the server
 * until on_close, so the record outlives every tag that names it. The C
 * core allows batches to be started from any thread as long as two of the
 * same kind are never in flight together; the per-call mutex ensures that.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>

#include "grpc_accept.h"
#include "weft/common.h"
#include "weft/log.h"
#include "weft/svc_grpc.h"

#define REQUEST_SLOTS 8
#define DEFAULT_QUEUE_BYTES ((size_t)64 << 20)

enum tag_kind { T_REQUEST = 1, T_INIT, T_RECV, T_SEND, T_STATUS, T_CLOSE, T_SHUTDOWN };

struct tag {
    int kind;
    void *owner; /* call, request slot or server */
};

struct qmsg {
    grpc_byte_buffer *bb;
    size_t n;
};

struct weft_grpc_call {
    weft_grpc_server *s;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    int method;
    atomic_int refs;
    pthread_mutex_t mu;
    struct qmsg *q;
    size_t qhead, qlen, qcap, qbytes;
    grpc_byte_buffer *sending;
    size_t sending_n;
    int send_inflight, finish_requested, status_started, closed, half_closed;
    int status;
    grpc_slice status_details;
    grpc_byte_buffer *recv_bb;
    int cancelled;
    char *peer;
    void *user;
    struct tag t_init, t_recv, t_send, t_status, t_close;
};

struct request_slot {
    weft_grpc_server *s;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    struct tag t;
};

struct weft_grpc_server {
    weft_grpc_config cfg;
    char **methods;
    grpc_server *srv;
    grpc_completion_queue *cq;
    grpc_acceptor *acc;
    atomic_size_t total_queued; /* bytes waiting in every call's queue */
    pthread_t th;
    int port;
    atomic_int stopping;
    pthread_mutex_t mu; /* live, destroyed */
    size_t live;        /* call records not yet freed */
    int thread_done;
    struct request_slot slots[REQUEST_SLOTS];
    struct tag t_shutdown;
};

static void server_destroy(weft_grpc_server *s);

/* ---- calls ------------------------------------------------------------------------ */

static void
call_free(weft_grpc_call *c)
{
    weft_grpc_server *s = c->s;
    for (size_t i = 0; i < c->qlen; i++)
        grpc_byte_buffer_destroy(c->q[(c->qhead + i) % c->qcap].bb);
    atomic_fetch_sub(&s->total_queued, c->qbytes);
    free(c->q);
    if (c->sending)
        grpc_byte_buffer_destroy(c->sending);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    grpc_slice_unref(c->status_details);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->peer)
        gpr_free(c->peer);
    grpc_call_unref(c->call);
    pthread_mutex_destroy(&c->mu);
    free(c);
    pthread_mutex_lock(&s->mu);
    int last = --s->live == 0 && s->thread_done;
    pthread_mutex_unlock(&s->mu);
    if (last)
        server_destroy(s);
}

void
weft_grpc_call_ref(weft_grpc_call *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void
weft_grpc_call_unref(weft_grpc_call *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        call_free(c);
}

void
weft_grpc_call_set_user(weft_grpc_call *c, void *user)
{
    c->user = user;
}

void *
weft_grpc_call_user(const weft_grpc_call *c)
{
    return c->user;
}

int
weft_grpc_call_method(const weft_grpc_call *c)
{
    return c->method;
}

const char *
weft_grpc_call_peer(const weft_grpc_call *c)
{
    return c->peer ? c->peer : "";
}

int
weft_grpc_call_metadata(const weft_grpc_call *c, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *m = &c->md.metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) != klen || memcmp(GRPC_SLICE_START_PTR(m->key), key, klen))
            continue;
        size_t n = GRPC_SLICE_LENGTH(m->value);
        if (n + 1 > cap)
            return -1;
        memcpy(out, GRPC_SLICE_START_PTR(m->value), n);
        out[n] = 0;
        return (int)n;
    }
    return -1;
}

/* Start one batch holding a reference. Caller holds c->mu where state is
 * shared. */
static int
start(weft_grpc_call *c, const grpc_op *ops, size_t n, struct tag *t)
{
    weft_grpc_call_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, t, NULL);
    if (e != GRPC_CALL_OK) {
        weft_log(WEFT_LOG_ERROR, "grpc", "msg=\"start_batch failed\" kind=%d err=%d", t->kind,
                 (int)e);
        atomic_fetch_sub(&c->refs, 1); /* never the last: the server holds one */
        return -1;
    }
    return 0;
}

static void
start_send_locked(weft_grpc_call *c, grpc_byte_buffer *bb, size_t n)
{
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = bb;
    c->sending = bb;
    c->sending_n = n;
    c->send_inflight = 1;
    if (start(c, &op, 1, &c->t_send) < 0) {
        grpc_byte_buffer_destroy(bb);
        c->sending = NULL;
        c->send_inflight = 0;
    }
}

static void
start_status_locked(weft_grpc_call *c)
{
    if (c->status_started || c->closed)
        return;
    c->status_started = 1;
    grpc_op op = {.op = GRPC_OP_SEND_STATUS_FROM_SERVER};
    op.data.send_status_from_server.trailing_metadata_count = 0;
    op.data.send_status_from_server.status = (grpc_status_code)c->status;
    op.data.send_status_from_server.status_details = &c->status_details;
    WEFT_IGNORE(start(c, &op, 1, &c->t_status));
}

int
weft_grpc_call_send(weft_grpc_call *c, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->closed || c->finish_requested) {
        rc = WEFT_ECLOSED;
        goto out;
    }
    /* one message may always wait; past that, the call's cap and the
     * server's cap over all calls (1,000 slow streams of 64 MiB each would
     * be 64 GB) */
    if (c->qlen && (c->qbytes + n > c->s->cfg.max_queued_bytes ||
                    atomic_load(&c->s->total_queued) + n > c->s->cfg.max_total_queued)) {
        rc = WEFT_ELIMIT;
        goto out;
    }
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    if (!c->send_inflight) {
        start_send_locked(c, bb, n);
        goto out;
    }
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 16;
        struct qmsg *nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            grpc_byte_buffer_destroy(bb);
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen++) % c->qcap] = (struct qmsg){bb, n};
    c->qbytes += n;
    atomic_fetch_add(&c->s->total_queued, n);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t
weft_grpc_call_queued(weft_grpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->qbytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void
weft_grpc_call_finish(weft_grpc_call *c, int status, const char *details)
{
    pthread_mutex_lock(&c->mu);
    if (!c->finish_requested && !c->closed) {
        c->finish_requested = 1;
        c->status = status;
        grpc_slice_unref(c->status_details);
        c->status_details = grpc_slice_from_copied_string(details ? details : "");
        if (!c->send_inflight && !c->qlen)
            start_status_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

static void
start_recv(weft_grpc_call *c)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &c->recv_bb;
    WEFT_IGNORE(start(c, &op, 1, &c->t_recv));
}

static void
on_recv(weft_grpc_call *c, int ok)
{
    weft_grpc_server *s = c->s;
    if (ok && c->recv_bb) {
        grpc_byte_buffer_reader r;
        if (grpc_byte_buffer_reader_init(&r, c->recv_bb)) {
            grpc_slice all = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            grpc_byte_buffer_destroy(c->recv_bb);
            c->recv_bb = NULL;
            /* once the handler has finished the call (refused the stream,
             * say), what the client still sends is read and dropped: it
             * must not act (publish) on a call that has answered */
            pthread_mutex_lock(&c->mu);
            int finishing = c->finish_requested;
            pthread_mutex_unlock(&c->mu);
            if (!c->closed && !finishing && s->cfg.h.on_message)
                s->cfg.h.on_message(s->cfg.user, c, GRPC_SLICE_START_PTR(all),
                                    GRPC_SLICE_LENGTH(all));
            grpc_slice_unref(all);
        } else {
            grpc_byte_buffer_destroy(c->recv_bb);
            c->recv_bb = NULL;
        }
        if (!c->closed)
            start_recv(c);
        return;
    }
    /* No message: the client half-closed (ok) or the call failed. */
    if (ok && !c->closed && !c->half_closed) {
        c->half_closed = 1;
        if (s->cfg.h.on_half_close)
            s->cfg.h.on_half_close(s->cfg.user, c);
    }
}

static void
on_send_done(weft_grpc_call *c, int ok)
{
    pthread_mutex_lock(&c->mu);
    if (c->sending)
        grpc_byte_buffer_destroy(c->sending);
    c->sending = NULL;
    c->send_inflight = 0;
    if (ok && !c->closed && c->qlen) {
        struct qmsg m = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
        c->qbytes -= m.n;
        atomic_fetch_sub(&c->s->total_queued, m.n);
        start_send_locked(c, m.bb, m.n);
    } else if (!ok) {
        while (c->qlen) { /* the stream is broken: nothing more will go out */
            grpc_byte_buffer_destroy(c->q[c->qhead].bb);
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
        }
        atomic_fetch_sub(&c->s->total_queued, c->qbytes);
        c->qbytes = 0;
    }
    if (c->finish_requested && !c->send_inflight && !c->qlen)
        start_status_locked(c);
    pthread_mutex_unlock(&c->mu);
}

static void
on_closed(weft_grpc_call *c)
{
    weft_grpc_server *s = c->s;
    pthread_mutex_lock(&c->mu);
    c->closed = 1;
    pthread_mutex_unlock(&c->mu);
    if (c->method >= 0 && s->cfg.h.on_close)
        s->cfg.h.on_close(s->cfg.user, c, c->cancelled);
    weft_grpc_call_unref(c); /* the server's reference */
}

/* ---- arrivals ------------------------------------------------------------------------ */

static void
request_next(struct request_slot *r)
{
    weft_grpc_server *s = r->s;
    if (atomic_load(&s->stopping))
        return;
    r->call = NULL;
    grpc_call_details_init(&r->details);
    grpc_metadata_array_init(&r->md);
    r->t = (struct tag){T_REQUEST, r};
    grpc_call_error e =
        grpc_server_request_call(s->srv, &r->call, &r->details, &r->md, s->cq, s->cq, &r->t);
    if (e != GRPC_CALL_OK) {
        grpc_call_details_destroy(&r->details);
        grpc_metadata_array_destroy(&r->md);
        weft_log(WEFT_LOG_ERROR, "grpc", "msg=\"request_call failed\" err=%d", (int)e);
    }
}

static int
match_method(const weft_grpc_server *s, grpc_slice m)
{
    size_t n = GRPC_SLICE_LENGTH(m);
    for (size_t i = 0; i < s->cfg.nmethods; i++)
        if (strlen(s->methods[i]) == n && !memcmp(s->methods[i], GRPC_SLICE_START_PTR(m), n))
            return (int)i;
    return -1;
}

static void
on_arrival(struct request_slot *r, int ok)
{
    weft_grpc_server *s = r->s;
    if (!ok) { /* shutting down */
        grpc_call_details_destroy(&r->details);
        grpc_metadata_array_destroy(&r->md);
        return;
    }
    weft_grpc_call *c = calloc(1, sizeof *c);
    if (!c) {
        grpc_call_cancel_with_status(r->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
                                     NULL);
        grpc_call_unref(r->call);
        grpc_call_details_destroy(&r->details);
        grpc_metadata_array_destroy(&r->md);
        request_next(r);
        return;
    }
    c->s = s;
    c->call = r->call;
    c->details = r->details;
    c->md = r->md;
    c->status_details = grpc_empty_slice();
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    c->t_init = (struct tag){T_INIT, c};
    c->t_recv = (struct tag){T_RECV, c};
    c->t_send = (struct tag){T_SEND, c};
    c->t_status = (struct tag){T_STATUS, c};
    c->t_close = (struct tag){T_CLOSE, c};
    c->peer = grpc_call_get_peer(c->call);
    char real[96];
    if (c->peer && grpc_acceptor_peer(s->acc, c->peer, real, sizeof real) == 0) {
        gpr_free(c->peer); /* "fd:N": say who it is */
        c->peer = gpr_strdup(real);
    }
    c->method = match_method(s, c->details.method);
    pthread_mutex_lock(&s->mu);
    s->live++;
    pthread_mutex_unlock(&s->mu);
    request_next(r);

    grpc_op init = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close.data.recv_close_on_server.cancelled = &c->cancelled;
    WEFT_IGNORE(start(c, &init, 1, &c->t_init));
    WEFT_IGNORE(start(c, &close, 1, &c->t_close));
    if (c->method < 0) {
        weft_log(WEFT_LOG_DEBUG, "grpc", "msg=\"unknown method\" method=%.*s",
                 (int)GRPC_SLICE_LENGTH(c->details.method),
                 (const char *)GRPC_SLICE_START_PTR(c->details.method));
        weft_grpc_call_finish(c, WEFT_GRPC_UNIMPLEMENTED, "unknown method");
        return;
    }
    if (s->cfg.h.on_open)
        s->cfg.h.on_open(s->cfg.user, c, c->method);
    start_recv(c);
}

/* ---- the server ------------------------------------------------------------------------ */

static void *
cq_thread(void *arg)
{
    weft_grpc_server *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        struct tag *t = ev.tag;
        switch (t->kind) {
        case T_REQUEST: on_arrival(t->owner, ev.success); break;
        case T_SHUTDOWN: grpc_completion_queue_shutdown(s->cq); break;
        default: {
            weft_grpc_call *c = t->owner;
            switch (t->kind) {
            case T_RECV: on_recv(c, ev.success); break;
            case T_SEND: on_send_done(c, ev.success); break;
            case T_CLOSE: on_closed(c); break;
            default: break; /* T_INIT, T_STATUS: nothing to do */
            }
            weft_grpc_call_unref(c); /* the batch's reference */
        }
        }
    }
    return NULL;
}

static void
server_destroy(weft_grpc_server *s)
{
    grpc_server_destroy(s->srv);
    grpc_completion_queue_destroy(s->cq);
    for (size_t i = 0; i < s->cfg.nmethods; i++)
        free(s->methods[i]);
    free(s->methods);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

weft_grpc_server *
weft_grpc_start(const weft_grpc_config *cfg, int *err)
{
    grpc_init();
    weft_grpc_server *s = calloc(1, sizeof *s);
    int rc = -ENOMEM;
    if (!s)
        goto fail0;
    s->cfg = *cfg;
    if (!s->cfg.max_queued_bytes)
        s->cfg.max_queued_bytes = DEFAULT_QUEUE_BYTES;
    if (!s->cfg.max_total_queued)
        s->cfg.max_total_queued = WEFT_GRPC_DEFAULT_TOTAL_QUEUED;
    atomic_init(&s->total_queued, 0);
    s->methods = calloc(cfg->nmethods ? cfg->nmethods : 1, sizeof *s->methods);
    if (!s->methods)
        goto fail1;
    for (size_t i = 0; i < cfg->nmethods; i++)
        if (!(s->methods[i] = strdup(cfg->methods[i])))
            goto fail1;
    pthread_mutex_init(&s->mu, NULL);
    grpc_arg args[3] = {
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH},
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH},
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_CONNECTION_IDLE_MS},
    };
    args[0].value.integer = cfg->max_recv_message > 0 && cfg->max_recv_message < 0x7fffffff
                                ? (int)cfg->max_recv_message
                                : -1;
    args[1].value.integer = -1;
    args[2].value.integer = cfg->idle_ms == 0  ? WEFT_GRPC_DEFAULT_IDLE_MS
                            : cfg->idle_ms < 0 ? 0x7fffffff
                                               : cfg->idle_ms;
    grpc_channel_args ca = {.num_args = 3, .args = args};
    s->cq = grpc_completion_queue_create_for_next(NULL);
    s->srv = grpc_server_create(&ca, NULL);
    grpc_server_register_completion_queue(s->srv, s->cq, NULL);
    s->acc = grpc_acceptor_new(
        cfg->addr, cfg->max_conns ? cfg->max_conns : WEFT_GRPC_DEFAULT_MAX_CONNS,
        cfg->max_conns_per_ip ? cfg->max_conns_per_ip : WEFT_GRPC_DEFAULT_MAX_CONNS_PER_IP,
        &s->port, &rc);
    if (!s->acc) {
        grpc_server_destroy(s->srv);
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(s->cq);
        pthread_mutex_destroy(&s->mu);
        goto fail1;
    }
    grpc_server_start(s->srv);
    for (int i = 0; i < REQUEST_SLOTS; i++) {
        s->slots[i].s = s;
        request_next(&s->slots[i]);
    }
    if ((rc = grpc_acceptor_run(s->acc, s->srv)) != 0 ||
        pthread_create(&s->th, NULL, cq_thread, s) != 0) {
        rc = rc ? rc : -errno;
        grpc_acceptor_free(s->acc);
        s->acc = NULL;
        s->t_shutdown = (struct tag){T_SHUTDOWN, s};
        grpc_server_shutdown_and_notify(s->srv, s->cq, &s->t_shutdown);
        grpc_server_cancel_all_calls(s->srv);
        cq_thread(s);
        server_destroy(s);
        goto fail0;
    }
    return s;
fail1:
    if (s->methods)
        for (size_t i = 0; i < cfg->nmethods; i++)
            free(s->methods[i]);
    free(s->methods);
    free(s);
fail0:
    if (err)
        *err = rc;
    return NULL;
}

int
weft_grpc_port(const weft_grpc_server *s)
{
    return s->port;
}

void
weft_grpc_server_stats(const weft_grpc_server *s, weft_grpc_stats *st)
{
    grpc_acceptor_stats(s ? s->acc : NULL, st);
}

void
weft_grpc_stop(weft_grpc_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    grpc_acceptor_halt(s->acc); /* no new connections; the core closes its own */
    s->t_shutdown = (struct tag){T_SHUTDOWN, s};
    grpc_server_shutdown_and_notify(s->srv, s->cq, &s->t_shutdown);
    grpc_server_cancel_all_calls(s->srv);
    pthread_join(s->th, NULL);
    grpc_acceptor_free(s->acc); /* arrivals (cq thread) read its table */
    s->acc = NULL;
    /* Every call saw on_close; records still referenced elsewhere free the
     * server when the last one goes. */
    pthread_mutex_lock(&s->mu);
    s->thread_done = 1;
    int last = s->live == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        server_destroy(s);
}
