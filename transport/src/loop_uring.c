/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring backend (liburing 2.3): multishot accept per listener; multishot
 * recv per connection, selecting buffers from one provided-buffer ring set
 * up by hand (2.3 has no io_uring_setup_buf_ring); one send in flight per
 * connection from a buffer that is swapped out of the send queue when the
 * send is armed, so appends never move memory the kernel may still read.
 * SQEs are queued during a turn and submitted with the wait; small writes
 * join them, bulk writes go out at once (see ur_kick_send).
 *
 * user_data = record pointer | op tag (records are 8-byte aligned). A record
 * is freed only when no SQE naming it is in flight (pending count), and
 * never while the CQE batch that may still name it is being handled.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop_internal.h"
#include "weft/log.h"

#define BGID 7
/*
 * Completions run only when the loop thread enters the kernel to wait
 * (DEFER_TASKRUN), never as an interrupt of whatever it is doing. That
 * needs a single submitting thread: the ring starts disabled and is enabled
 * by the first thread that submits, normally the one that runs the loop, so
 * a loop may be made in one thread and run in another. Kernels before 6.1
 * refuse the flags and get a plain ring.
 */
#define UR_FLAGS (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED)
#define SEND_MAX ((size_t)1 << 20)     /* bytes per send SQE */
#define INLINE_MIN ((size_t)256 << 10) /* queued bytes that go out at once */
#define BULK_RECV ((size_t)16 << 10)   /* a receive this large means a bulk flow */

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CONNECT, OP_CANCEL, OP_CLOSE, OP_WAKE };

struct ur {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *bufs;
    unsigned nbufs, bufsize;
    int mask; /* liburing's type for the buffer ring mask */
    weft_conn *graveyard;
    weft_listener *lgrave;
    weft_listener *lclosing; /* closed, waiting for their accept CQE */
    int in_batch;
    int in_bulk_recv;  /* handling a receive of at least BULK_RECV bytes */
    int disabled;      /* created with IORING_SETUP_R_DISABLED, not enabled yet */
    weft_conn *flush;  /* connections with small sends to arm before the wait */
    uint64_t wake_val; /* target of the wake eventfd read */
};

struct uconn {
    int pending; /* SQEs in flight naming this connection */
    int recv_armed;
    int send_armed;
    int closing;      /* ops->close called */
    weft_buf sending; /* bytes handed to the kernel; stable until the CQE */
    size_t send_off;
    weft_conn *grave_next;
    weft_conn *flush_next, *flush_prev;
    int on_flush;
    int released; /* conn_maybe_release went through: never twice */
};

struct ulistener {
    int pending;
};

static struct ur *
UR(weft_loop *l)
{
    return l->backend;
}

static struct uconn *
UC(weft_conn *c)
{
    return c->backend;
}

/* The calling thread becomes the ring's only submitter. */
static int
ring_enable(struct ur *u)
{
    if (!u->disabled)
        return 0;
    /* Debian's liburing 2.3 declares io_uring_enable_rings but does not
     * export it: register directly. */
    int rc = (int)syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                          NULL, 0);
    if (rc < 0)
        rc = -errno;
    if (rc < 0) {
        weft_log(WEFT_LOG_ERROR, "loop", "msg=\"io_uring_enable_rings failed\" err=%d", rc);
        return rc;
    }
    u->disabled = 0;
    return 0;
}

static struct io_uring_sqe *
get_sqe(struct ur *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe && ring_enable(u) == 0) {
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

static inline uint64_t
tag(void *p, int op)
{
    return (uint64_t)(uintptr_t)p | (uint64_t)op;
}

static void
tune_socket(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- listeners ------------------------------------------------------------- */

static int
arm_accept(weft_listener *ls)
{
    struct io_uring_sqe *sqe = get_sqe(UR(ls->loop));
    if (!sqe)
        return -EBUSY;
    io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(ls, OP_ACCEPT));
    ((struct ulistener *)ls->backend)->pending++;
    return 0;
}

static int
ur_listen(weft_listener *ls, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, sa, salen) < 0 || listen(fd, 1024) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    ls->backend = calloc(1, sizeof(struct ulistener));
    if (!ls->backend) {
        close(fd);
        return -ENOMEM;
    }
    ls->fd = fd;
    ls->addrlen = sizeof ls->addr;
    getsockname(fd, (struct sockaddr *)&ls->addr, &ls->addrlen);
    int rc = arm_accept(ls);
    if (rc < 0) {
        close(fd);
        free(ls->backend);
    }
    return rc;
}

static void
listener_maybe_free(weft_listener *ls)
{
    struct ur *u = UR(ls->loop);
    struct ulistener *ul = ls->backend;
    if (!ls->closing || ul->pending > 0)
        return;
    /* Off the closing list (linked through next/prev once closed). */
    if (ls->prev)
        ls->prev->next = ls->next;
    else if (u->lclosing == ls)
        u->lclosing = ls->next;
    if (ls->next)
        ls->next->prev = ls->prev;
    ls->next = ls->prev = NULL;
    if (ls->fd >= 0) {
        close(ls->fd);
        ls->fd = -1;
    }
    if (u->in_batch) {
        ls->next = u->lgrave;
        u->lgrave = ls;
        return;
    }
    free(ul);
    free(ls);
}

static void
ur_listener_close(weft_listener *ls)
{
    struct ur *u = UR(ls->loop);
    ls->closing = 1;
    ls->prev = NULL;
    ls->next = u->lclosing;
    if (u->lclosing)
        u->lclosing->prev = ls;
    u->lclosing = ls;
    if (((struct ulistener *)ls->backend)->pending) {
        struct io_uring_sqe *sqe = get_sqe(u);
        if (sqe) {
            io_uring_prep_cancel_fd(sqe, ls->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, tag(NULL, OP_CANCEL));
        }
        /* Closing the socket also ends a pending accept. */
        shutdown(ls->fd, SHUT_RDWR);
    }
    listener_maybe_free(ls);
}

/* ---- connections ------------------------------------------------------------ */

static int
attach(weft_conn *c)
{
    struct uconn *uc = calloc(1, sizeof *uc);
    if (!uc)
        return -ENOMEM;
    weft_buf_init(&uc->sending, NULL, 0, 0);
    c->backend = uc;
    return 0;
}

static void
conn_maybe_release(weft_conn *c)
{
    struct ur *u = UR(c->loop);
    struct uconn *uc = UC(c);
    if (!uc->closing || uc->pending > 0 || uc->released)
        return;
    uc->released = 1;
    if (c->fd >= 0) {
        /* Closed with the next submission: one syscall less per connection.
         * Nothing refers to the descriptor any more, and its number stays
         * taken until the kernel closes it. */
        struct io_uring_sqe *sqe = get_sqe(u);
        if (sqe) {
            io_uring_prep_close(sqe, c->fd);
            io_uring_sqe_set_data64(sqe, tag(NULL, OP_CLOSE));
        } else {
            close(c->fd);
        }
        c->fd = -1;
    }
    if (u->in_batch) {
        /* Later CQEs of this batch may still name c. */
        uc->grave_next = u->graveyard;
        u->graveyard = c;
        return;
    }
    weft_buf_free(&uc->sending);
    free(uc);
    c->backend = NULL;
    conn_release(c);
}

static void
arm_recv(weft_conn *c)
{
    struct uconn *uc = UC(c);
    if (uc->recv_armed || uc->closing || !c->reading)
        return;
    struct io_uring_sqe *sqe = get_sqe(UR(c->loop));
    if (!sqe)
        return;
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, tag(c, OP_RECV));
    uc->recv_armed = 1;
    uc->pending++;
}

/* ---- sending ------------------------------------------------------------------ */

static void
flush_add(struct ur *u, weft_conn *c)
{
    struct uconn *uc = UC(c);
    if (uc->on_flush)
        return;
    uc->on_flush = 1;
    uc->flush_prev = NULL;
    uc->flush_next = u->flush;
    if (u->flush)
        UC(u->flush)->flush_prev = c;
    u->flush = c;
}

static void
flush_del(struct ur *u, weft_conn *c)
{
    struct uconn *uc = UC(c);
    if (!uc->on_flush)
        return;
    if (uc->flush_prev)
        UC(uc->flush_prev)->flush_next = uc->flush_next;
    else
        u->flush = uc->flush_next;
    if (uc->flush_next)
        UC(uc->flush_next)->flush_prev = uc->flush_prev;
    uc->on_flush = 0;
    uc->flush_next = uc->flush_prev = NULL;
}

static void arm_send(weft_conn *c);

/* Before the wait: one send SQE per connection that queued small writes
 * this turn, submitted with the wait itself. */
static void
flush_all(struct ur *u)
{
    while (u->flush) {
        weft_conn *c = u->flush;
        flush_del(u, c);
        arm_send(c);
    }
}

static void
arm_send(weft_conn *c)
{
    struct uconn *uc = UC(c);
    if (uc->send_armed || uc->closing)
        return;
    if (uc->send_off == uc->sending.len) {
        if (c->sendq.len == c->sendq_head)
            return;
        /* Swap: the queue's bytes become the stable in-flight buffer; bytes
         * an inline send already took stay behind send_off. */
        weft_buf t = uc->sending;
        uc->sending = c->sendq;
        uc->send_off = c->sendq_head;
        c->sendq = t;
        c->sendq.len = 0;
        c->sendq_head = 0;
        c->sendq.max = uc->sending.max;
        c->inflight = uc->sending.len - uc->send_off;
    }
    struct io_uring_sqe *sqe = get_sqe(UR(c->loop));
    if (!sqe)
        return;
    size_t n = uc->sending.len - uc->send_off;
    if (n > SEND_MAX)
        n = SEND_MAX;
    io_uring_prep_send(sqe, c->fd, uc->sending.base + uc->send_off, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
    uc->send_armed = 1;
    uc->pending++;
}

static int
ur_dial(weft_conn *c, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    tune_socket(fd);
    int rc = attach(c);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    struct io_uring_sqe *sqe = get_sqe(UR(c->loop));
    if (!sqe) {
        close(fd);
        c->fd = -1;
        free(c->backend);
        c->backend = NULL;
        return -EBUSY;
    }
    /* c->peer holds a copy of sa that lives as long as c. */
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->peer, salen);
    io_uring_sqe_set_data64(sqe, tag(c, OP_CONNECT));
    UC(c)->pending++;
    return 0;
}

/*
 * Small writes (protocol messages) wait for the end of the turn: their SQE
 * is armed then and submitted with the wait, one syscall for all of them,
 * unless the connection asked for nodelay (a handshake in progress).
 * A bulk writer, once INLINE_MIN bytes are queued with nothing in flight,
 * hands them to the socket at once with a non-blocking send(2) and arms an
 * SQE only for what the socket refused. Holding bulk data to the end of the
 * turn would let a fast producer queue megabytes before the first byte
 * left: the peer idles meanwhile (the two ends take turns instead of
 * overlapping) and the queued bytes leave the cache before the kernel
 * copies them. While an SQE is in flight, later bytes queue behind it.
 */
static void
ur_kick_send(weft_conn *c)
{
    struct ur *u = UR(c->loop);
    struct uconn *uc = UC(c);
    if (uc->send_armed || uc->closing)
        return;
    size_t len;
    conn_pending(c, &len);
    if ((len < INLINE_MIN && !u->in_bulk_recv && !c->nodelay) || uc->send_off != uc->sending.len) {
        flush_add(u, c);
        return;
    }
    int was_in_send = c->in_send;
    c->in_send = 1; /* on_writable runs from the loop, not from here */
    while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        const uint8_t *p = conn_pending(c, &len);
        if (len == 0)
            break;
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            break; /* EAGAIN; an error comes back through the SQE, in a batch */
        conn_take(c, (size_t)n);
        conn_sent(c, (size_t)n);
        if ((size_t)n < len)
            break; /* the socket is full: the SQE waits for room */
    }
    c->in_send = was_in_send;
    flush_del(u, c);
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
        arm_send(c);
}

static void
ur_set_reading(weft_conn *c, int on)
{
    struct uconn *uc = UC(c);
    if (on) {
        arm_recv(c);
    } else if (uc->recv_armed) {
        struct io_uring_sqe *sqe = get_sqe(UR(c->loop));
        if (sqe) {
            io_uring_prep_cancel64(sqe, tag(c, OP_RECV), 0);
            io_uring_sqe_set_data64(sqe, tag(NULL, OP_CANCEL));
        }
    }
}

static void
ur_close(weft_conn *c)
{
    struct uconn *uc = UC(c);
    if (!uc) { /* never attached */
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        conn_release(c);
        return;
    }
    uc->closing = 1;
    c->inflight = 0;
    flush_del(UR(c->loop), c);
    if (uc->pending > 0) {
        struct io_uring_sqe *sqe = get_sqe(UR(c->loop));
        if (sqe) {
            io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, tag(NULL, OP_CANCEL));
        }
        /* Also ends what the cancel misses (a send waiting for room). A
         * syscall, not an SQE: io_uring runs shutdown in a worker thread,
         * which could find the number reused by then. */
        shutdown(c->fd, SHUT_RDWR);
    }
    conn_maybe_release(c);
}

static void
return_buffer(struct ur *u, unsigned bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->bufsize, u->bufsize,
                          (unsigned short)bid, u->mask, 0);
    io_uring_buf_ring_advance(u->br, 1);
}

static void
on_recv(weft_conn *c, int res, unsigned flags)
{
    struct ur *u = UR(c->loop);
    struct uconn *uc = UC(c);
    int more = flags & IORING_CQE_F_MORE;
    if (!more) {
        uc->recv_armed = 0;
        uc->pending--;
    }
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (!uc->closing) {
            /* Writes made while draining a bulk inbound flow (window
             * updates, acknowledgements) go out at once: the sender may be
             * waiting on them, and the rest of this batch can be long. */
            u->in_bulk_recv = (size_t)res >= BULK_RECV;
            conn_input(c, u->bufs + (size_t)bid * u->bufsize, (size_t)res);
            u->in_bulk_recv = 0;
        }
        return_buffer(u, bid);
    } else if (res == 0) {
        if (!uc->closing)
            conn_failed(c, 0);
    } else if (res < 0 && res != -ECANCELED && res != -ENOBUFS) {
        if (!uc->closing)
            conn_failed(c, res);
    }
    if (!more) {
        if (uc->closing)
            conn_maybe_release(c);
        else
            arm_recv(c); /* ENOBUFS, or a multishot the kernel ended */
    }
}

static void
on_send(weft_conn *c, int res)
{
    struct uconn *uc = UC(c);
    uc->send_armed = 0;
    uc->pending--;
    if (uc->closing) {
        conn_maybe_release(c);
        return;
    }
    if (res < 0) {
        if (res == -EAGAIN || res == -EINTR) {
            arm_send(c);
            return;
        }
        conn_failed(c, res);
        return;
    }
    uc->send_off += (size_t)res;
    c->inflight = uc->sending.len - uc->send_off;
    if (uc->send_off == uc->sending.len)
        uc->sending.len = uc->send_off = 0;
    conn_sent(c, (size_t)res);
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
        arm_send(c);
}

static void
on_connect(weft_conn *c, int res)
{
    struct uconn *uc = UC(c);
    uc->pending--;
    if (uc->closing) {
        conn_maybe_release(c);
        return;
    }
    if (res < 0) {
        conn_connected(c, res);
        return;
    }
    c->locallen = sizeof c->local;
    getsockname(c->fd, (struct sockaddr *)&c->local, &c->locallen);
    conn_connected(c, 0);
}

static void
on_accept(weft_listener *ls, int res, unsigned flags)
{
    struct ulistener *ul = ls->backend;
    if (!(flags & IORING_CQE_F_MORE)) {
        ul->pending--;
        if (!ls->closing && res != -ECANCELED)
            arm_accept(ls);
    }
    /* Out of descriptors: the accept was re-armed above and would fail at
     * once again; shed the pending connection with the spare first. */
    if (!ls->closing && weft_fd_exhausted(-res) && weft_fd_spare_shed(&ls->loop->spare, ls->fd))
        ls->loop->stats.accept_shed++;
    if (res < 0 || ls->closing) {
        if (res >= 0)
            close(res);
        listener_maybe_free(ls);
        return;
    }
    tune_socket(res);
    weft_conn *c = conn_new(ls->loop, res);
    if (!c || attach(c) < 0) {
        close(res);
        if (c)
            conn_release(c);
        return;
    }
    c->peerlen = sizeof c->peer;
    getpeername(res, (struct sockaddr *)&c->peer, &c->peerlen);
    c->locallen = sizeof c->local;
    getsockname(res, (struct sockaddr *)&c->local, &c->locallen);
    conn_accepted(ls, c);
}

/* One read of the wake eventfd in flight; re-armed after each wake. */
static int
arm_wake(weft_loop *l)
{
    struct ur *u = UR(l);
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_read(sqe, l->wake_fd, &u->wake_val, sizeof u->wake_val, 0);
    io_uring_sqe_set_data64(sqe, tag(l, OP_WAKE));
    return 0;
}

static void
on_wake(weft_loop *l, int res)
{
    if (l->wake_fd < 0)
        return;
    if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
        weft_log(WEFT_LOG_ERROR, "loop", "msg=\"wake eventfd read failed\" err=%d", res);
        return; /* do not spin on a broken descriptor */
    }
    if (res == (int)sizeof(uint64_t))
        loop_wake_fired(l, 1);
    WEFT_IGNORE(arm_wake(l));
}

static void
flush_graves(struct ur *u)
{
    while (u->graveyard) {
        weft_conn *c = u->graveyard;
        struct uconn *uc = UC(c);
        u->graveyard = uc->grave_next;
        weft_buf_free(&uc->sending);
        free(uc);
        c->backend = NULL;
        conn_release(c);
    }
    while (u->lgrave) {
        weft_listener *ls = u->lgrave;
        u->lgrave = ls->next;
        free(ls->backend);
        free(ls);
    }
}

static int
ur_wait(weft_loop *l, int64_t timeout_ns)
{
    struct ur *u = UR(l);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    int rc = ring_enable(u);
    if (rc < 0)
        return rc;
    flush_all(u);
    rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    if (rc < 0 && rc != -ETIME && rc != -EINTR)
        return rc;
    int handled = 0;
    u->in_batch = 1;
    for (;;) {
        unsigned head, n = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            uint64_t ud = cqe->user_data;
            int op = (int)(ud & 7);
            void *p = (void *)(uintptr_t)(ud & ~(uint64_t)7);
            switch (op) {
            case OP_ACCEPT: on_accept(p, cqe->res, cqe->flags); break;
            case OP_RECV: on_recv(p, cqe->res, cqe->flags); break;
            case OP_SEND: on_send(p, cqe->res); break;
            case OP_CONNECT: on_connect(p, cqe->res); break;
            case OP_WAKE: on_wake(p, cqe->res); break;
            default: break;
            }
            n++;
        }
        if (!n)
            break;
        io_uring_cq_advance(&u->ring, n);
        handled += (int)n;
    }
    u->in_batch = 0;
    flush_graves(u);
    return handled;
}

static void
ur_free(weft_loop *l)
{
    struct ur *u = UR(l);
    while (l->conns) {
        weft_conn *c = l->conns;
        if (c->fd >= 0)
            close(c->fd);
        if (c->backend) {
            weft_buf_free(&UC(c)->sending);
            free(c->backend);
        }
        conn_release(c);
    }
    while (u->lclosing) {
        weft_listener *ls = u->lclosing;
        u->lclosing = ls->next;
        if (ls->fd >= 0)
            close(ls->fd);
        free(ls->backend);
        free(ls);
    }
    /* Queued closes of released connections. */
    if (!u->disabled)
        io_uring_submit(&u->ring);
    io_uring_queue_exit(&u->ring);
    munmap(u->br, u->br_bytes);
    free(u->bufs);
    free(u);
    loop_free_common(l);
    free(l);
}

static const struct loop_ops uring_ops = {
    .name = "io_uring",
    .listen = ur_listen,
    .listener_close = ur_listener_close,
    .dial = ur_dial,
    .kick_send = ur_kick_send,
    .set_reading = ur_set_reading,
    .close = ur_close,
    .wait = ur_wait,
    .now = loop_now_mono,
    .free = ur_free,
    .watch_wake = arm_wake,
};

int
loop_uring_init_with(weft_loop *l, const weft_loop_config *cfg)
{
    loop_init_common(l, &uring_ops, cfg);
    struct ur *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    int rc = io_uring_queue_init(512, &u->ring, UR_FLAGS);
    u->disabled = rc == 0;
    if (rc == -EINVAL)
        rc = io_uring_queue_init(512, &u->ring, 0);
    if (rc < 0) {
        free(u);
        return rc;
    }
    unsigned n = l->cfg.recv_buf_count;
    if (n & (n - 1) || n > 32768) {
        io_uring_queue_exit(&u->ring);
        free(u);
        return WEFT_EINVAL;
    }
    u->nbufs = n;
    u->mask = io_uring_buf_ring_mask(n);
    u->bufsize = l->cfg.recv_buf_size;
    u->br_bytes = (size_t)n * sizeof(struct io_uring_buf);
    u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    u->bufs = malloc((size_t)n * u->bufsize);
    if (u->br == MAP_FAILED || !u->bufs) {
        rc = -ENOMEM;
        goto fail;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)u->br, .ring_entries = n, .bgid = BGID};
    rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0)
        goto fail;
    io_uring_buf_ring_init(u->br);
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * u->bufsize, u->bufsize,
                              (unsigned short)i, u->mask, (int)i);
    io_uring_buf_ring_advance(u->br, (int)n);
    l->backend = u;
    return 0;

fail:
    if (u->br != MAP_FAILED && u->br)
        munmap(u->br, u->br_bytes);
    free(u->bufs);
    io_uring_queue_exit(&u->ring);
    free(u);
    return rc;
}
