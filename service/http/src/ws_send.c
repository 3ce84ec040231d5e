/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The any-thread half of the WebSocket API (weft/svc_ws.h): references,
 * accessors, send, broadcast and close. Nothing here touches h2o except
 * h2o_multithread_send_message, called under the channel lock so that it
 * never reaches a receiver the stopping server has unregistered.
 *
 * A send charges its payload to the connection's backlog (`queued`) before
 * posting; the loop (ws.c) credits it back once the frame is written or
 * dropped. A broadcast builds one frame with one reference per accepted
 * connection and posts one message for the whole batch, so fanning out to
 * N connections costs two allocations and one wakeup, plus N atomic
 * reference and backlog updates.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "weft/common.h"
#include "ws_priv.h"

static int
post(struct ws_chan *ch, struct ws_msg *m)
{
    int rc = 0;
    pthread_mutex_lock(&ch->lock);
    if (ch->stopped)
        rc = WEFT_ECLOSED;
    else
        h2o_multithread_send_message(ch->receiver, &m->super);
    pthread_mutex_unlock(&ch->lock);
    return rc;
}

static int
reserve(weft_ws_conn *c, size_t len)
{
    size_t prev = atomic_fetch_add_explicit(&c->queued, len, memory_order_relaxed);
    if (prev + len > c->max_queued || prev + len < prev) {
        ws_release(c, len);
        return -1;
    }
    return 0;
}

/* Ask the loop to close c. Only the first close of c counts: the thread that
 * flips `shut` owns req_code, req_reason and close_msg. */
static void
request_close(weft_ws_conn *c, int code, const char *reason)
{
    int expect = 0;
    size_t n = reason != NULL ? strlen(reason) : 0;

    if (!atomic_compare_exchange_strong(&c->shut, &expect, 1))
        return;
    c->req_code = code;
    if (n > WS_MAX_REASON)
        n = WS_MAX_REASON; /* ws_frame_close cuts at a character boundary */
    memcpy(c->req_reason, reason != NULL ? reason : "", n);
    c->req_reason[n] = '\0';
    memset(&c->close_msg, 0, sizeof(c->close_msg));
    c->close_msg.kind = WS_MSG_CLOSE;
    c->close_msg.one = c;
    weft_ws_ref(c);
    if (post(c->chan, &c->close_msg) != 0)
        weft_ws_unref(c); /* server stopped: it closed c already */
}

void
weft_ws_ref(weft_ws_conn *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void
weft_ws_unref(weft_ws_conn *c)
{
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* the loop dropped its reference after freeing the loop-side parts */
    ws_chan_unref(c->chan);
    free(c);
}

void
weft_ws_set_user(weft_ws_conn *c, void *p)
{
    if (c != NULL)
        atomic_store(&c->user, p);
}

void *
weft_ws_user(const weft_ws_conn *c)
{
    return c != NULL ? atomic_load(&c->user) : NULL;
}

uint64_t
weft_ws_id(const weft_ws_conn *c)
{
    return c != NULL ? c->id : 0;
}

size_t
weft_ws_queued(const weft_ws_conn *c)
{
    return c != NULL ? atomic_load(&c->queued) : 0;
}

int
weft_ws_send_text(weft_ws_conn *c, const char *data, size_t len)
{
    struct ws_msg *m;
    struct ws_frame *f;
    int rc;

    if (c == NULL || (data == NULL && len != 0) || len > SIZE_MAX / 2)
        return WEFT_EINVAL;
    if (atomic_load(&c->shut))
        return WEFT_ECLOSED;
    if (reserve(c, len + WS_FRAME_CHARGE) != 0) {
        request_close(c, WEFT_WS_POLICY, "slow consumer");
        return WEFT_ELIMIT;
    }
    m = calloc(1, sizeof(*m));
    f = m != NULL ? ws_frame_new(WS_OP_TEXT, data, len) : NULL;
    if (f == NULL) {
        free(m);
        ws_release(c, len + WS_FRAME_CHARGE);
        return -ENOMEM;
    }
    m->kind = WS_MSG_SEND;
    m->frame = f;
    m->one = c;
    m->conns = &m->one;
    m->n = 1;
    weft_ws_ref(c);
    rc = post(c->chan, m);
    if (rc != 0) {
        ws_release(c, len + WS_FRAME_CHARGE);
        weft_ws_unref(c);
        free(f);
        free(m);
    }
    return rc;
}

int
weft_ws_broadcast_text(weft_http_server *s, weft_ws_conn *const *conns, size_t n, const char *data,
                       size_t len)
{
    struct ws_chan *ch = NULL;
    struct ws_msg *m;
    struct ws_frame *f;
    size_t k = 0;
    int rc;

    (void)s; /* the connections know their server, which may be gone already */
    if ((conns == NULL && n != 0) || (data == NULL && len != 0) || len > SIZE_MAX / 2 ||
        n > INT_MAX || n > (SIZE_MAX - sizeof(*m)) / sizeof(weft_ws_conn *))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n && ch == NULL; i++)
        if (conns[i] != NULL)
            ch = conns[i]->chan;
    if (ch == NULL)
        return 0;
    m = malloc(sizeof(*m) + n * sizeof(weft_ws_conn *));
    f = m != NULL ? ws_frame_new(WS_OP_TEXT, data, len) : NULL;
    if (f == NULL) {
        free(m);
        return -ENOMEM;
    }
    memset(m, 0, sizeof(*m));
    m->kind = WS_MSG_SEND;
    m->frame = f;
    m->conns = (weft_ws_conn **)(m + 1);
    for (size_t i = 0; i < n; i++) {
        weft_ws_conn *c = conns[i];
        if (c == NULL || c->chan != ch || atomic_load(&c->shut))
            continue;
        if (reserve(c, len + WS_FRAME_CHARGE) != 0) {
            request_close(c, WEFT_WS_POLICY, "slow consumer");
            continue;
        }
        weft_ws_ref(c);
        m->conns[k++] = c;
    }
    if (k == 0) {
        free(f);
        free(m);
        return 0;
    }
    f->refs = k;
    m->n = k;
    rc = post(ch, m);
    if (rc != 0) {
        for (size_t i = 0; i < k; i++) {
            ws_release(m->conns[i], len + WS_FRAME_CHARGE);
            weft_ws_unref(m->conns[i]);
        }
        free(f);
        free(m);
        return rc;
    }
    return (int)k;
}

void
weft_ws_close(weft_ws_conn *c, int code, const char *reason)
{
    if (c != NULL)
        request_close(c, ws_close_code_valid(code) ? code : WEFT_WS_NORMAL, reason);
}
