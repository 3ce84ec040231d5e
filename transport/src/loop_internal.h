/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the event-loop backends (loop_uring.c, loop_epoll.c, loop_sim.c)
 * share with the common core (loop.c): the loop, listener and connection
 * records, the ops table, and the helpers through which a backend reports
 * what happened (bytes in, bytes taken by the kernel, connect result,
 * close). The core owns callbacks, timers, the send queue and accounting.
 */
#ifndef WEFT_LOOP_INTERNAL_H
#define WEFT_LOOP_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "weft/buf.h"
#include "weft/fdspare.h"
#include "weft/loop.h"

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSING, CONN_CLOSED };

struct loop_ops {
    const char *name;
    int (*listen)(weft_listener *l, const struct sockaddr *sa, socklen_t salen);
    void (*listener_close)(weft_listener *l);
    int (*dial)(weft_conn *c, const struct sockaddr *sa, socklen_t salen);
    /* The send queue gained bytes: make sure they are being sent. */
    void (*kick_send)(weft_conn *c);
    /* Start (1) or stop (0) delivering received bytes. */
    void (*set_reading)(weft_conn *c, int on);
    /* Release the socket. Called once; the backend calls conn_release when
     * no operation on the connection is pending any more. */
    void (*close)(weft_conn *c);
    /* Real loops: wait up to timeout_ns (< 0: forever) and dispatch. */
    int (*wait)(weft_loop *loop, int64_t timeout_ns);
    int64_t (*now)(const weft_loop *loop);
    void (*free)(weft_loop *loop);
    /* Optional: the loop's earliest timer may have changed (simulation). */
    void (*timers_changed)(weft_loop *loop);
    /* Optional: start watching l->wake_fd (an eventfd); the backend calls
     * loop_wake_fired when it becomes readable. */
    int (*watch_wake)(weft_loop *loop);
};

struct weft_loop {
    const struct loop_ops *ops;
    weft_loop_config cfg;
    volatile int stop;
    weft_timer **heap;
    size_t nheap, capheap;
    weft_loop_stats stats;
    weft_conn *conns; /* all live connections (doubly linked) */
    weft_listener *listeners;
    void *backend;
    int wake_fd; /* eventfd of weft_loop_wake, or -1 */
    weft_wake_fn wake_fn;
    void *wake_user;
    weft_fd_spare spare; /* taken with the first socket listener; shed on EMFILE */
};

struct weft_listener {
    weft_loop *loop;
    weft_accept_fn accept;
    void *user;
    int fd;
    int closing;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    weft_listener *next, *prev;
    void *backend;
};

struct weft_conn {
    weft_loop *loop;
    int fd;
    int state;
    int reading; /* the backend is delivering data */
    int paused;  /* the application asked not to read */
    int want_writable;
    int nodelay; /* every write goes out at once (weft_conn_set_nodelay) */
    int closed_reason;
    int close_called; /* on_close delivered */
    weft_conn_handler h;
    void *user;
    weft_connect_fn connect_done;
    void *connect_user;
    weft_timer connect_timer;
    weft_timer writable_timer; /* on_writable deferred out of weft_conn_send */
    int in_send;
    weft_buf sendq; /* bytes queued; those before sendq_head are already sent */
    size_t sendq_head;
    size_t inflight; /* bytes the backend holds and has not sent yet */
    struct sockaddr_storage peer, local;
    socklen_t peerlen, locallen;
    weft_conn *next, *prev;
    void *backend;
};

/* The queued bytes not yet sent (epoll, sim), and taking n of them off
 * the front. Taking moves no memory until the sent part is large: a
 * partial send must not copy the rest of a multi-MiB queue each time. */
static inline const uint8_t *
conn_pending(const weft_conn *c, size_t *len)
{
    *len = c->sendq.len - c->sendq_head;
    return c->sendq.base + c->sendq_head;
}
void conn_take(weft_conn *c, size_t n);

/* Core helpers for backends. */
weft_conn *conn_new(weft_loop *loop, int fd);
void conn_connected(weft_conn *c, int status);
void conn_accepted(weft_listener *l, weft_conn *c);
void conn_input(weft_conn *c, const uint8_t *data, size_t len);
/* n more bytes left the process. The backend has already taken them off
 * sendq (epoll) or off its own in-flight buffer (io_uring, which updates
 * c->inflight). */
void conn_sent(weft_conn *c, size_t n);
/* The peer closed (0) or the socket failed (< 0). */
void conn_failed(weft_conn *c, int reason);
/* The backend is done with c: free it. */
void conn_release(weft_conn *c);
void loop_run_timers(weft_loop *loop);
/* Deadline of the earliest timer, INT64_MAX if none. */
int64_t loop_first_deadline(const weft_loop *loop);
void loop_init_common(weft_loop *loop, const struct loop_ops *ops, const weft_loop_config *cfg);
void loop_free_common(weft_loop *loop);
/* The wake eventfd was read (count already consumed when drained is set). */
void loop_wake_fired(weft_loop *loop, int drained);

/* Set up loop (uninitialised storage) as that backend. 0 or negative. */
int loop_uring_init_with(weft_loop *loop, const weft_loop_config *cfg);
int loop_epoll_init_with(weft_loop *loop, const weft_loop_config *cfg);
/* The now op of the kernel-backed loops: the monotonic clock. */
int64_t loop_now_mono(const weft_loop *loop);

#endif
