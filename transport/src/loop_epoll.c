/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epoll backend: non-blocking sockets, level-triggered. EPOLLIN is on while
 * the application reads; EPOLLOUT only while a connection has queued bytes
 * (or is connecting). Received bytes go through one loop-owned buffer, lent
 * to on_data. A record is freed only after the dispatch pass that may still
 * hold a pointer to it (deferred release list).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_internal.h"

#define MAX_EVENTS 256
#define RECV_CHUNK 65536
#define READS_PER_WAKE 16 /* bound one connection's turn */

struct ep {
    int epfd;
    uint8_t *rbuf;
    weft_conn *graveyard; /* closed, freed after the current dispatch */
    weft_listener *lgrave;
    int dispatching;
};

/* epoll user data: a tagged pointer; bit 0 set = listener; WAKE_TAG (no
 * record is ever at address 2) = the loop's wake eventfd. */
#define WAKE_TAG ((uintptr_t)2)
static inline void *
tag_listener(weft_listener *l)
{
    return (void *)((uintptr_t)l | 1);
}

static struct ep *
EP(weft_loop *l)
{
    return l->backend;
}

static void
update_events(weft_conn *c)
{
    struct ep *ep = EP(c->loop);
    uint32_t ev = 0;
    if (c->state == CONN_CONNECTING)
        ev = EPOLLOUT;
    else {
        if (c->reading)
            ev |= EPOLLIN | EPOLLRDHUP;
        if (c->sendq.len)
            ev |= EPOLLOUT;
    }
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void
tune_socket(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int
ep_listen(weft_listener *ls, const struct sockaddr *sa, socklen_t salen)
{
    struct ep *ep = EP(ls->loop);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, sa, salen) < 0 || listen(fd, 1024) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    ls->fd = fd;
    ls->addrlen = sizeof ls->addr;
    getsockname(fd, (struct sockaddr *)&ls->addr, &ls->addrlen);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = tag_listener(ls)};
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return 0;
}

static void
ep_listener_close(weft_listener *ls)
{
    struct ep *ep = EP(ls->loop);
    epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ls->fd, NULL);
    close(ls->fd);
    ls->fd = -1;
    ls->closing = 1;
    /* Events already fetched in this pass may name it: free after. */
    if (!ep->dispatching) {
        free(ls);
    } else {
        ls->next = ep->lgrave;
        ep->lgrave = ls;
    }
}

static int
register_conn(weft_conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    return epoll_ctl(EP(c->loop)->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0 ? -errno : 0;
}

static void
fill_local(weft_conn *c)
{
    c->locallen = sizeof c->local;
    getsockname(c->fd, (struct sockaddr *)&c->local, &c->locallen);
}

static int
ep_dial(weft_conn *c, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    tune_socket(fd);
    c->fd = fd;
    if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(fd);
        c->fd = -1;
        return e;
    }
    int rc = register_conn(c, EPOLLOUT);
    if (rc < 0) {
        close(fd);
        c->fd = -1;
    }
    return rc;
}

static void
ep_kick_send(weft_conn *c)
{
    /* Try right away; EPOLLOUT covers the rest. */
    while (c->sendq.len && (c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        size_t len;
        const uint8_t *p = conn_pending(c, &len);
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            /* Outside dispatch the caller is inside weft_conn_send and
             * still holds c: let the next wait report the error. */
            if (!EP(c->loop)->dispatching)
                break;
            conn_failed(c, -errno);
            return;
        }
        conn_take(c, (size_t)n);
        conn_sent(c, (size_t)n);
    }
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
        update_events(c);
}

static void
ep_set_reading(weft_conn *c, int on)
{
    (void)on;
    update_events(c);
}

static void
ep_close(weft_conn *c)
{
    struct ep *ep = EP(c->loop);
    if (c->fd >= 0) {
        epoll_ctl(ep->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (ep->dispatching) {
        c->backend = ep->graveyard; /* chain through the backend pointer */
        ep->graveyard = c;
    } else {
        conn_release(c);
    }
}

static void
on_accept_ready(weft_listener *ls)
{
    for (int i = 0; i < 64 && !ls->closing; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(ls->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* Out of descriptors, the listener stays readable: shed the
             * pending connection rather than wake for it forever. */
            if (weft_fd_exhausted(errno) && weft_fd_spare_shed(&ls->loop->spare, ls->fd))
                ls->loop->stats.accept_shed++;
            return; /* EAGAIN, or a transient error: try next wake */
        }
        tune_socket(fd);
        weft_conn *c = conn_new(ls->loop, fd);
        if (!c) {
            close(fd);
            continue;
        }
        memcpy(&c->peer, &peer, plen);
        c->peerlen = plen;
        fill_local(c);
        if (register_conn(c, 0) < 0) {
            close(fd);
            c->fd = -1;
            conn_release(c);
            continue;
        }
        conn_accepted(ls, c);
    }
}

static void
on_conn_ready(weft_conn *c, uint32_t ev)
{
    struct ep *ep = EP(c->loop);
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (ev & EPOLLERR))
            err = ECONNREFUSED;
        if (err) {
            conn_connected(c, -err);
            return;
        }
        fill_local(c);
        conn_connected(c, 0);
        if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
            update_events(c); /* drop the connect-time EPOLLOUT */
        return;
    }
    if ((ev & EPOLLOUT) && c->sendq.len)
        ep_kick_send(c);
    if (c->state == CONN_CLOSED)
        return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (int i = 0; i < READS_PER_WAKE && c->reading && c->state != CONN_CLOSED; i++) {
            ssize_t n = recv(c->fd, ep->rbuf, RECV_CHUNK, 0);
            if (n > 0) {
                conn_input(c, ep->rbuf, (size_t)n);
                if (n < RECV_CHUNK)
                    break;
                continue;
            }
            if (n == 0) {
                conn_failed(c, 0);
            } else if (errno != EAGAIN && errno != EINTR) {
                conn_failed(c, -errno);
            }
            break;
        }
    }
}

static int
ep_wait(weft_loop *l, int64_t timeout_ns)
{
    struct ep *ep = EP(l);
    struct epoll_event evs[MAX_EVENTS];
    int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
    int n = epoll_wait(ep->epfd, evs, MAX_EVENTS, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno; /* a signal is an empty turn, as with io_uring */
    ep->dispatching = 1;
    for (int i = 0; i < n; i++) {
        uintptr_t p = (uintptr_t)evs[i].data.ptr;
        if (p == WAKE_TAG) {
            loop_wake_fired(l, 0);
        } else if (p & 1) {
            weft_listener *ls = (weft_listener *)(p & ~(uintptr_t)1);
            if (!ls->closing)
                on_accept_ready(ls);
        } else {
            weft_conn *c = (weft_conn *)p;
            if (c->state != CONN_CLOSED)
                on_conn_ready(c, evs[i].events);
        }
    }
    ep->dispatching = 0;
    while (ep->graveyard) {
        weft_conn *c = ep->graveyard;
        ep->graveyard = c->backend;
        conn_release(c);
    }
    while (ep->lgrave) {
        weft_listener *ls = ep->lgrave;
        ep->lgrave = ls->next;
        free(ls);
    }
    return n;
}

static void
ep_free(weft_loop *l)
{
    struct ep *ep = EP(l);
    while (l->conns) {
        weft_conn *c = l->conns;
        if (c->fd >= 0)
            close(c->fd);
        conn_release(c);
    }
    close(ep->epfd);
    free(ep->rbuf);
    free(ep);
    loop_free_common(l);
    free(l);
}

static int
ep_watch_wake(weft_loop *l)
{
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = (void *)WAKE_TAG};
    return epoll_ctl(EP(l)->epfd, EPOLL_CTL_ADD, l->wake_fd, &e) < 0 ? -errno : 0;
}

static const struct loop_ops epoll_ops = {
    .name = "epoll",
    .listen = ep_listen,
    .listener_close = ep_listener_close,
    .dial = ep_dial,
    .kick_send = ep_kick_send,
    .set_reading = ep_set_reading,
    .close = ep_close,
    .wait = ep_wait,
    .now = loop_now_mono,
    .free = ep_free,
    .watch_wake = ep_watch_wake,
};

int
loop_epoll_init_with(weft_loop *l, const weft_loop_config *cfg)
{
    loop_init_common(l, &epoll_ops, cfg);
    struct ep *ep = calloc(1, sizeof *ep);
    if (!ep)
        return -ENOMEM;
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    ep->rbuf = malloc(RECV_CHUNK);
    if (ep->epfd < 0 || !ep->rbuf) {
        int e = ep->epfd < 0 ? -errno : -ENOMEM;
        if (ep->epfd >= 0)
            close(ep->epfd);
        free(ep->rbuf);
        free(ep);
        return e;
    }
    l->backend = ep;
    return 0;
}
