/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop bridge: a mutex-protected ring of closures, drained on the loop
 * thread from the loop's wake handler. A mutex rather than a lock-free
 * queue: posts come from two or three threads at most, a few thousand times
 * a second, and the drain takes the whole batch in one critical section.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "weft/common.h"
#include "weft/svc_bridge.h"

struct item {
    weft_bridge_fn fn;
    void *arg;
};

struct weft_bridge {
    weft_loop *loop;
    pthread_mutex_t mu;
    struct item *ring;
    size_t cap, head, len;
    int closed;
    struct item *batch; /* loop thread only */
};

static void
drain(weft_loop *loop, void *user)
{
    (void)loop;
    weft_bridge *b = user;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        size_t n = b->len;
        for (size_t i = 0; i < n; i++)
            b->batch[i] = b->ring[(b->head + i) % b->cap];
        b->head = (b->head + n) % b->cap;
        b->len = 0;
        pthread_mutex_unlock(&b->mu);
        if (!n)
            return;
        for (size_t i = 0; i < n; i++)
            b->batch[i].fn(b->batch[i].arg);
    }
}

weft_bridge *
weft_bridge_new(weft_loop *loop, size_t cap, int *err)
{
    weft_bridge *b = calloc(1, sizeof *b);
    if (!cap)
        cap = 65536;
    int rc = -ENOMEM;
    if (!b)
        goto fail;
    b->loop = loop;
    b->cap = cap;
    b->ring = calloc(cap, sizeof *b->ring);
    b->batch = calloc(cap, sizeof *b->batch);
    if (!b->ring || !b->batch)
        goto fail;
    pthread_mutex_init(&b->mu, NULL);
    rc = weft_loop_set_wake(loop, drain, b);
    if (rc < 0) {
        pthread_mutex_destroy(&b->mu);
        goto fail;
    }
    return b;
fail:
    if (b) {
        free(b->ring);
        free(b->batch);
        free(b);
    }
    if (err)
        *err = rc;
    return NULL;
}

/* Refuse further posts (shutdown); pending closures still run. */
static void
bridge_close(weft_bridge *b)
{
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    pthread_mutex_unlock(&b->mu);
}

void
weft_bridge_free(weft_bridge *b)
{
    if (!b)
        return;
    bridge_close(b);
    drain(b->loop, b); /* whatever was accepted runs: owners free their closures */
    pthread_mutex_destroy(&b->mu);
    free(b->ring);
    free(b->batch);
    free(b);
}

int
weft_bridge_post(weft_bridge *b, weft_bridge_fn fn, void *arg)
{
    pthread_mutex_lock(&b->mu);
    int rc = 0;
    if (b->closed)
        rc = WEFT_ECLOSED;
    else if (b->len == b->cap)
        rc = WEFT_ELIMIT;
    else
        b->ring[(b->head + b->len++) % b->cap] = (struct item){fn, arg};
    pthread_mutex_unlock(&b->mu);
    if (!rc)
        weft_loop_wake(b->loop);
    return rc;
}

struct sync_call {
    weft_bridge_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void
run_sync(void *p)
{
    struct sync_call *s = p;
    s->fn(s->arg);
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int
weft_bridge_call(weft_bridge *b, weft_bridge_fn fn, void *arg)
{
    struct sync_call s = {.fn = fn, .arg = arg};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    int rc = weft_bridge_post(b, run_sync, &s);
    if (!rc) {
        pthread_mutex_lock(&s.mu);
        while (!s.done)
            pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
    }
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    return rc;
}

size_t
weft_bridge_depth(weft_bridge *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->len;
    pthread_mutex_unlock(&b->mu);
    return n;
}
