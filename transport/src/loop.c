/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The common core of every event loop: timers (a binary min-heap of
 * intrusive records), connection records and their callbacks, the bounded
 * send queue, and counters. Backends only move bytes and report through the
 * conn_* helpers of loop_internal.h.
 *
 * Invariants: a connection is on loop->conns from conn_new until
 * conn_release; on_close runs at most once, and only for connections that
 * reached CONN_OPEN; after on_close no application callback runs for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop_internal.h"
#include "weft/clock.h"

#define DEFAULT_SENDQ_MAX ((size_t)8 << 20)
#define DEFAULT_LOW_WATER ((size_t)256 << 10)
#define TIMER_NONE SIZE_MAX

int64_t
loop_now_mono(const weft_loop *loop)
{
    (void)loop;
    return weft_mono_ns();
}

/* ---- timers ---------------------------------------------------------------- */

void
weft_timer_init(weft_timer *t, weft_timer_fn fn, void *user)
{
    t->deadline = 0;
    t->fn = fn;
    t->user = user;
    t->heap_index = TIMER_NONE;
}

int
weft_timer_armed(const weft_timer *t)
{
    return t->heap_index != TIMER_NONE;
}

static void
heap_swap(weft_loop *l, size_t a, size_t b)
{
    weft_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void
heap_up(weft_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->deadline <= l->heap[i]->deadline)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void
heap_down(weft_loop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && l->heap[a]->deadline < l->heap[m]->deadline)
            m = a;
        if (b < l->nheap && l->heap[b]->deadline < l->heap[m]->deadline)
            m = b;
        if (m == i)
            return;
        heap_swap(l, m, i);
        i = m;
    }
}

static inline void
timers_changed(weft_loop *l)
{
    if (l->ops->timers_changed)
        l->ops->timers_changed(l);
}

void
weft_timer_disarm(weft_loop *l, weft_timer *t)
{
    size_t i = t->heap_index;
    if (i == TIMER_NONE)
        return;
    t->heap_index = TIMER_NONE;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_index = i;
        heap_up(l, i);
        heap_down(l, l->heap[i]->heap_index);
    }
    if (i == 0)
        timers_changed(l);
}

int
weft_timer_arm(weft_loop *l, weft_timer *t, int64_t deadline)
{
    if (t->heap_index != TIMER_NONE) {
        size_t i = t->heap_index;
        t->deadline = deadline;
        heap_up(l, i);
        heap_down(l, t->heap_index);
        if (i == 0 || t->heap_index == 0)
            timers_changed(l);
        return 0;
    }
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        weft_timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        l->heap = h;
        l->capheap = cap;
    }
    t->deadline = deadline;
    t->heap_index = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_index);
    if (t->heap_index == 0)
        timers_changed(l);
    return 0;
}

int64_t
loop_first_deadline(const weft_loop *l)
{
    return l->nheap ? l->heap[0]->deadline : INT64_MAX;
}

/* ns until the first timer, or -1 if none (0 if due). */
static int64_t
loop_next_timeout(weft_loop *l)
{
    if (l->nheap == 0)
        return -1;
    int64_t d = l->heap[0]->deadline - l->ops->now(l);
    return d > 0 ? d : 0;
}

void
loop_run_timers(weft_loop *l)
{
    int64_t now = l->ops->now(l);
    /* Timers armed by callbacks for "now" run in the next turn, so a timer
     * that re-arms itself at now cannot starve the loop. */
    size_t budget = l->nheap;
    while (l->nheap && budget-- && l->heap[0]->deadline <= now) {
        weft_timer *t = l->heap[0];
        weft_timer_disarm(l, t);
        t->fn(t, t->user);
    }
}

/* ---- loop ------------------------------------------------------------------- */

void
loop_init_common(weft_loop *l, const struct loop_ops *ops, const weft_loop_config *cfg)
{
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->wake_fd = -1;
    l->spare.fd = -1;
    if (cfg)
        l->cfg = *cfg;
    if (!l->cfg.send_queue_max)
        l->cfg.send_queue_max = DEFAULT_SENDQ_MAX;
    if (!l->cfg.send_low_water || l->cfg.send_low_water >= l->cfg.send_queue_max)
        l->cfg.send_low_water = l->cfg.send_queue_max / 4 < DEFAULT_LOW_WATER
                                    ? l->cfg.send_queue_max / 4
                                    : DEFAULT_LOW_WATER;
    if (!l->cfg.recv_buf_size)
        l->cfg.recv_buf_size = 131072;
    if (!l->cfg.recv_buf_count)
        l->cfg.recv_buf_count = 16;
}

void
loop_free_common(weft_loop *l)
{
    free(l->heap);
    l->heap = NULL;
    l->nheap = l->capheap = 0;
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    l->wake_fd = -1;
    weft_fd_spare_free(&l->spare);
}

int
weft_loop_set_wake(weft_loop *l, weft_wake_fn fn, void *user)
{
    if (!fn || l->wake_fd >= 0)
        return WEFT_EINVAL;
    if (!l->ops->watch_wake)
        return WEFT_ENOTSUP;
    /* Blocking: io_uring then waits for a count instead of failing with
     * EAGAIN; a write blocks only at a count near 2^64. */
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    l->wake_fn = fn;
    l->wake_user = user;
    l->wake_fd = fd;
    int rc = l->ops->watch_wake(l);
    if (rc < 0) {
        close(fd);
        l->wake_fd = -1;
        l->wake_fn = NULL;
    }
    return rc;
}

void
weft_loop_wake(weft_loop *l)
{
    int fd = l->wake_fd;
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(fd, &one, sizeof one); /* EAGAIN: the counter is already set */
        (void)n;
    }
}

void
loop_wake_fired(weft_loop *l, int drained)
{
    if (!drained) {
        uint64_t v;
        ssize_t n = read(l->wake_fd, &v, sizeof v);
        (void)n;
    }
    if (l->wake_fn)
        l->wake_fn(l, l->wake_user);
}

weft_loop *
weft_loop_new(const weft_loop_config *cfg, int *err)
{
    int kind = cfg ? cfg->kind : WEFT_LOOP_AUTO;
    int rc;
    if (kind == WEFT_LOOP_AUTO) {
        const char *env = getenv("WEFT_TRANSPORT");
        if (env && !strcmp(env, "epoll"))
            kind = WEFT_LOOP_EPOLL;
        else if (env && (!strcmp(env, "uring") || !strcmp(env, "io_uring")))
            kind = WEFT_LOOP_URING;
    }
    if (kind == WEFT_LOOP_SIM) {
        if (err)
            *err = WEFT_EINVAL;
        return NULL;
    }
    weft_loop *l = malloc(sizeof *l);
    if (!l) {
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    if (kind == WEFT_LOOP_URING || kind == WEFT_LOOP_AUTO) {
        rc = loop_uring_init_with(l, cfg);
        if (rc == 0 || kind == WEFT_LOOP_URING)
            goto done;
    }
    rc = loop_epoll_init_with(l, cfg);
done:
    if (rc < 0) {
        free(l);
        l = NULL;
    }
    if (err)
        *err = rc;
    return l;
}

const char *
weft_loop_kind_name(const weft_loop *l)
{
    return l->ops->name;
}

int64_t
weft_loop_now(const weft_loop *l)
{
    return l->ops->now(l);
}

int
weft_loop_run_once(weft_loop *l, int64_t max_wait_ns)
{
    if (!l->ops->wait)
        return WEFT_EINVAL;
    int64_t t = loop_next_timeout(l);
    if (max_wait_ns >= 0 && (t < 0 || t > max_wait_ns))
        t = max_wait_ns;
    int n = l->ops->wait(l, t);
    loop_run_timers(l);
    return n;
}

int
weft_loop_run(weft_loop *l)
{
    /* A stop requested before the run (a SIGTERM early in start-up) must
     * end it at once, not be forgotten: the flag is consumed on the way
     * out, so the loop can run again afterwards. */
    int rc = 0;
    while (!l->stop) {
        rc = weft_loop_run_once(l, -1);
        if (rc < 0 && rc != -EINTR)
            break;
        rc = 0;
    }
    l->stop = 0;
    return rc;
}

void
weft_loop_stop(weft_loop *l)
{
    l->stop = 1;
    weft_loop_wake(l); /* from another thread or a signal handler: end the wait now */
}

void
weft_loop_get_stats(const weft_loop *l, weft_loop_stats *out)
{
    *out = l->stats;
}

void
weft_loop_free(weft_loop *l)
{
    if (!l)
        return;
    while (l->listeners)
        weft_listener_close(l->listeners);
    for (weft_conn *c = l->conns, *next; c; c = next) {
        next = c->next; /* the abort may free c */
        if (c->state != CONN_CLOSED)
            weft_conn_abort(c, WEFT_ECLOSED);
    }
    /* Let the backend finish what it has in flight, within reason. */
    for (int i = 0; i < 100 && l->conns && l->ops->wait; i++)
        l->ops->wait(l, 10 * 1000000);
    l->ops->free(l);
}

/* ---- listeners --------------------------------------------------------------- */

int
weft_listen(weft_loop *l, const struct sockaddr *sa, socklen_t salen, weft_accept_fn accept,
            void *user, weft_listener **out)
{
    if (!l || !sa || !accept || salen > sizeof(struct sockaddr_storage))
        return WEFT_EINVAL;
    weft_listener *ls = calloc(1, sizeof *ls);
    if (!ls)
        return -ENOMEM;
    ls->loop = l;
    ls->accept = accept;
    ls->user = user;
    ls->fd = -1;
    int rc = l->ops->listen(ls, sa, salen);
    if (rc < 0) {
        free(ls);
        return rc;
    }
    if (ls->fd >= 0 && l->spare.fd < 0)
        (void)weft_fd_spare_init(&l->spare); /* none: EMFILE then waits for a free fd */
    ls->next = l->listeners;
    if (l->listeners)
        l->listeners->prev = ls;
    l->listeners = ls;
    if (out)
        *out = ls;
    return 0;
}

void
weft_listener_close(weft_listener *ls)
{
    weft_loop *l = ls->loop;
    if (ls->prev)
        ls->prev->next = ls->next;
    else
        l->listeners = ls->next;
    if (ls->next)
        ls->next->prev = ls->prev;
    /* The backend frees the record once nothing refers to it. */
    l->ops->listener_close(ls);
}

int
weft_listener_addr(const weft_listener *ls, struct sockaddr_storage *sa, socklen_t *salen)
{
    memcpy(sa, &ls->addr, ls->addrlen);
    *salen = ls->addrlen;
    return 0;
}

/* ---- connections --------------------------------------------------------------- */

static void
deferred_writable(weft_timer *t, void *user)
{
    (void)t;
    weft_conn *c = user;
    if (c->want_writable && c->state == CONN_OPEN &&
        weft_conn_queued(c) < c->loop->cfg.send_low_water) {
        c->want_writable = 0;
        if (c->h.on_writable)
            c->h.on_writable(c, c->user);
    }
}

weft_conn *
conn_new(weft_loop *l, int fd)
{
    weft_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = l;
    c->fd = fd;
    c->state = CONN_CONNECTING;
    weft_buf_init(&c->sendq, NULL, 0, l->cfg.send_queue_max);
    weft_timer_init(&c->connect_timer, NULL, c);
    weft_timer_init(&c->writable_timer, deferred_writable, c);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    return c;
}

void
conn_release(weft_conn *c)
{
    weft_loop *l = c->loop;
    weft_timer_disarm(l, &c->connect_timer);
    weft_timer_disarm(l, &c->writable_timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    weft_buf_free(&c->sendq);
    free(c);
}

static void
conn_start_reading(weft_conn *c)
{
    if (c->state == CONN_OPEN && c->h.on_data && !c->reading && !c->paused) {
        c->reading = 1;
        c->loop->ops->set_reading(c, 1);
    }
}

/* Final transition: report and hand the socket back to the backend. */
static void
conn_finish(weft_conn *c, int reason)
{
    if (c->state == CONN_CLOSED)
        return;
    int was_open = c->state != CONN_CONNECTING;
    c->state = CONN_CLOSED;
    c->closed_reason = reason;
    c->loop->stats.conns_closed++;
    if (was_open && c->loop->stats.conns_open)
        c->loop->stats.conns_open--;
    weft_timer_disarm(c->loop, &c->connect_timer);
    weft_timer_disarm(c->loop, &c->writable_timer);
    if (was_open && !c->close_called && c->h.on_close) {
        c->close_called = 1;
        c->h.on_close(c, c->user, reason);
    }
    c->loop->ops->close(c);
}

void
conn_failed(weft_conn *c, int reason)
{
    if (c->state == CONN_CONNECTING) {
        conn_connected(c, reason < 0 ? reason : -ECONNRESET);
        return;
    }
    conn_finish(c, reason);
}

static void
connect_timeout(weft_timer *t, void *user)
{
    (void)t;
    weft_conn *c = user;
    if (c->state == CONN_CONNECTING)
        conn_connected(c, -ETIMEDOUT);
}

void
conn_connected(weft_conn *c, int status)
{
    if (c->state != CONN_CONNECTING)
        return;
    weft_timer_disarm(c->loop, &c->connect_timer);
    weft_connect_fn done = c->connect_done;
    void *user = c->connect_user;
    if (status < 0) {
        c->state = CONN_CLOSED;
        c->loop->stats.conns_closed++;
        if (done)
            done(c, user, status);
        c->loop->ops->close(c);
        return;
    }
    c->state = CONN_OPEN;
    c->loop->stats.conns_open++;
    c->loop->stats.conns_dialed++;
    if (done)
        done(c, user, 0);
    if (c->state != CONN_OPEN)
        return;
    if (!c->h.on_data) {
        conn_finish(c, WEFT_EINVAL);
        return;
    }
    conn_start_reading(c);
    if (c->sendq.len)
        c->loop->ops->kick_send(c);
}

void
conn_accepted(weft_listener *ls, weft_conn *c)
{
    c->state = CONN_OPEN;
    c->loop->stats.conns_open++;
    c->loop->stats.conns_accepted++;
    ls->accept(ls, ls->user, c);
    if (c->state != CONN_OPEN)
        return;
    if (!c->h.on_data) {
        conn_finish(c, WEFT_EINVAL);
        return;
    }
    conn_start_reading(c);
}

void
conn_input(weft_conn *c, const uint8_t *data, size_t len)
{
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
        return;
    c->loop->stats.bytes_in += len;
    if (c->h.on_data)
        c->h.on_data(c, c->user, data, len);
}

void
conn_sent(weft_conn *c, size_t n)
{
    c->loop->stats.bytes_out += n;
    size_t queued = weft_conn_queued(c);
    if (c->state == CONN_CLOSING && queued == 0) {
        conn_finish(c, 0);
        return;
    }
    if (c->want_writable && queued < c->loop->cfg.send_low_water && c->state == CONN_OPEN) {
        /* Never call back into the application from inside its own
         * weft_conn_send: run on_writable from the loop instead. */
        if (c->in_send) {
            if (weft_timer_arm(c->loop, &c->writable_timer, c->loop->ops->now(c->loop)) < 0)
                c->want_writable = 1; /* retried at the next completion */
            return;
        }
        c->want_writable = 0;
        if (c->h.on_writable)
            c->h.on_writable(c, c->user);
    }
}

int
weft_dial(weft_loop *l, const struct sockaddr *sa, socklen_t salen, int64_t timeout_ns,
          weft_connect_fn done, void *user, weft_conn **out)
{
    if (!l || !sa || !done || salen > sizeof(struct sockaddr_storage))
        return WEFT_EINVAL;
    weft_conn *c = conn_new(l, -1);
    if (!c)
        return -ENOMEM;
    c->connect_done = done;
    c->connect_user = user;
    memcpy(&c->peer, sa, salen);
    c->peerlen = salen;
    int rc = l->ops->dial(c, sa, salen);
    if (rc < 0) {
        conn_release(c);
        return rc;
    }
    if (timeout_ns > 0) {
        weft_timer_init(&c->connect_timer, connect_timeout, c);
        if (weft_timer_arm(l, &c->connect_timer, l->ops->now(l) + timeout_ns) < 0) {
            c->state = CONN_CLOSED;
            l->ops->close(c);
            return -ENOMEM;
        }
    }
    if (out)
        *out = c;
    return 0;
}

void
weft_conn_set_handler(weft_conn *c, const weft_conn_handler *h, void *user)
{
    c->h = *h;
    c->user = user;
    if (c->state == CONN_OPEN)
        conn_start_reading(c);
}

uint8_t *
weft_conn_send_reserve(weft_conn *c, size_t len, int *err)
{
    int rc = 0;
    if (c->state != CONN_OPEN && c->state != CONN_CONNECTING) {
        rc = WEFT_ECLOSED;
        goto fail;
    }
    const weft_loop_config *cfg = &c->loop->cfg;
    size_t queued = weft_conn_queued(c);
    if (queued > cfg->send_queue_max || len > cfg->send_queue_max - queued) {
        c->want_writable = 1;
        c->loop->stats.send_refused++;
        rc = WEFT_ELIMIT;
        goto fail;
    }
    /* Bytes already sent may still sit at the head of the buffer: drop them
     * first when the buffer's own bound would otherwise refuse the append. */
    if (c->sendq_head && c->sendq.max && c->sendq.len + len > c->sendq.max) {
        weft_buf_consume(&c->sendq, c->sendq_head);
        c->sendq_head = 0;
    }
    rc = weft_buf_reserve(&c->sendq, len ? len : 1);
    if (rc < 0)
        goto fail;
    return c->sendq.base + c->sendq.len;
fail:
    if (err)
        *err = rc;
    return NULL;
}

int
weft_conn_send_commit(weft_conn *c, size_t n)
{
    if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
        return WEFT_ECLOSED;
    if (n > c->sendq.cap - c->sendq.len)
        return WEFT_EINVAL; /* more than the reservation can hold */
    if (n == 0)
        return 0;
    size_t queued = weft_conn_queued(c);
    c->sendq.len += n;
    if (queued + n >= c->loop->cfg.send_low_water)
        c->want_writable = 1;
    if (c->state == CONN_OPEN) {
        c->in_send = 1;
        c->loop->ops->kick_send(c);
        c->in_send = 0;
    }
    return 0;
}

int
weft_conn_send(weft_conn *c, const void *data, size_t len)
{
    if (len == 0)
        return c->state == CONN_OPEN || c->state == CONN_CONNECTING ? 0 : WEFT_ECLOSED;
    int rc;
    uint8_t *dst = weft_conn_send_reserve(c, len, &rc);
    if (!dst)
        return rc;
    memcpy(dst, data, len);
    return weft_conn_send_commit(c, len);
}

size_t
weft_conn_queued(const weft_conn *c)
{
    return c->sendq.len - c->sendq_head + c->inflight;
}

void
conn_take(weft_conn *c, size_t n)
{
    c->sendq_head += n;
    if (c->sendq_head >= c->sendq.len) {
        c->sendq.len = c->sendq_head = 0;
    } else if (c->sendq_head >= 65536 && c->sendq_head * 2 >= c->sendq.len) {
        weft_buf_consume(&c->sendq, c->sendq_head); /* rare: the rest is small */
        c->sendq_head = 0;
    }
}

size_t
weft_conn_send_space(weft_conn *c, int want)
{
    size_t q = weft_conn_queued(c), max = c->loop->cfg.send_queue_max;
    if (want)
        c->want_writable = 1;
    return q >= max ? 0 : max - q;
}

void
weft_conn_set_nodelay(weft_conn *c, int on)
{
    c->nodelay = on != 0;
}

void
weft_conn_pause(weft_conn *c, int paused)
{
    c->paused = paused != 0;
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
        return;
    if (paused && c->reading) {
        c->reading = 0;
        c->loop->ops->set_reading(c, 0);
    } else if (!paused) {
        conn_start_reading(c);
    }
}

void
weft_conn_close(weft_conn *c)
{
    if (c->state == CONN_CONNECTING) {
        conn_connected(c, WEFT_ECLOSED);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (weft_conn_queued(c) == 0) {
        conn_finish(c, 0);
        return;
    }
    c->state = CONN_CLOSING;
}

void
weft_conn_abort(weft_conn *c, int reason)
{
    if (c->state == CONN_CONNECTING) {
        conn_connected(c, reason < 0 ? reason : WEFT_ECLOSED);
        return;
    }
    conn_finish(c, reason);
}

int
weft_conn_peer_addr(const weft_conn *c, struct sockaddr_storage *sa, socklen_t *salen)
{
    memcpy(sa, &c->peer, c->peerlen);
    *salen = c->peerlen;
    return 0;
}

int
weft_conn_local_addr(const weft_conn *c, struct sockaddr_storage *sa, socklen_t *salen)
{
    memcpy(sa, &c->local, c->locallen);
    *salen = c->locallen;
    return 0;
}

weft_loop *
weft_conn_loop(const weft_conn *c)
{
    return c->loop;
}
