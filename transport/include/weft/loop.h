/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/loop.h: one event loop, three implementations behind it.
 *
 *  - io_uring (default): multishot accept, multishot recv into a provided
 *    buffer ring, one send in flight per connection with a bounded queue;
 *  - epoll: chosen by WEFT_TRANSPORT=epoll, or when io_uring is unavailable;
 *  - simulated: an in-process network (weft_simnet) with a virtual clock and
 *    per-link latency, jitter, bandwidth and loss, deterministic from a seed.
 *
 * Everything a loop does happens on the thread that runs it; callbacks run
 * there and may call any function of this header for the same loop.
 * Received bytes are lent to on_data only while it runs.
 *
 * Connection lifetime: a weft_conn exists from a successful weft_dial (or an
 * accept) until its on_close has returned; on_close runs exactly once, for a
 * local close as for a remote one, and the connection must not be touched
 * after it. A failed dial calls the connect callback with a negative status
 * and no on_close.
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loop weft_loop;
typedef struct weft_conn weft_conn;
typedef struct weft_listener weft_listener;
typedef struct weft_simnet weft_simnet;

enum weft_loop_kind {
    WEFT_LOOP_AUTO = 0, /* WEFT_TRANSPORT env (uring|epoll), else io_uring, else epoll */
    WEFT_LOOP_URING,
    WEFT_LOOP_EPOLL,
    WEFT_LOOP_SIM, /* only through weft_simnet_add_node */
};

typedef struct weft_loop_config {
    int kind;                /* enum weft_loop_kind */
    size_t send_queue_max;   /* per connection; default 8 MiB */
    size_t send_low_water;   /* on_writable when the queue drains below; default 256 KiB */
    unsigned recv_buf_size;  /* bytes per provided receive buffer; default 128 KiB */
    unsigned recv_buf_count; /* provided buffers (power of two); default 16 */
} weft_loop_config;

/* ---- timers (intrusive: the caller owns the storage) ---------------------- */

typedef struct weft_timer weft_timer;
typedef void (*weft_timer_fn)(weft_timer *t, void *user);
struct weft_timer {
    int64_t deadline; /* ns on the loop's clock */
    weft_timer_fn fn;
    void *user;
    size_t heap_index; /* private: position in the loop's heap, or SIZE_MAX */
};

WEFT_API void weft_timer_init(weft_timer *t, weft_timer_fn fn, void *user);
/* (Re)arm for deadline (ns, loop clock). Returns 0 or -ENOMEM. */
WEFT_NODISCARD WEFT_API int weft_timer_arm(weft_loop *loop, weft_timer *t, int64_t deadline);
WEFT_API void weft_timer_disarm(weft_loop *loop, weft_timer *t);
WEFT_API int weft_timer_armed(const weft_timer *t);

/* ---- loop ----------------------------------------------------------------- */

/* New loop (not for WEFT_LOOP_SIM). cfg may be NULL for defaults. Returns
 * NULL with *err set (-errno, WEFT_ENOIMPL for a kind the kernel lacks). */
WEFT_API weft_loop *weft_loop_new(const weft_loop_config *cfg, int *err);
/* Close every listener and connection (their callbacks run) and free. */
WEFT_API void weft_loop_free(weft_loop *loop);
/* "io_uring", "epoll" or "sim". */
WEFT_API const char *weft_loop_kind_name(const weft_loop *loop);
/* Monotonic time in ns (virtual for a simulated node). */
WEFT_API int64_t weft_loop_now(const weft_loop *loop);
/* Wait at most max_wait_ns (negative: until something happens) and run
 * what is ready. Returns the number of events handled or -errno. Not for
 * simulated nodes (drive the weft_simnet instead). */
WEFT_API int weft_loop_run_once(weft_loop *loop, int64_t max_wait_ns);
/* Run until weft_loop_stop (from a callback, another thread or a signal
 * handler). A stop requested before the call makes it return at once; each
 * return consumes the request, so a later call runs again. */
WEFT_API int weft_loop_run(weft_loop *loop);
WEFT_API void weft_loop_stop(weft_loop *loop);

/* ---- cross-thread wake-up ------------------------------------------------------ */
typedef void (*weft_wake_fn)(weft_loop *loop, void *user);
/* Install the wake handler (once per loop; real loops only, else
 * WEFT_ENOTSUP): after weft_loop_wake, fn runs on the loop's thread. Wakes
 * coalesce: one run of fn may answer many weft_loop_wake calls, so fn must
 * drain whatever queue it serves. */
WEFT_NODISCARD WEFT_API int weft_loop_set_wake(weft_loop *loop, weft_wake_fn fn, void *user);
/* From any thread or a signal handler. A no-op before weft_loop_set_wake. */
WEFT_API void weft_loop_wake(weft_loop *loop);

/* ---- listeners and connections -------------------------------------------- */

typedef void (*weft_accept_fn)(weft_listener *l, void *user, weft_conn *conn);
typedef void (*weft_connect_fn)(weft_conn *conn, void *user, int status);

typedef struct weft_conn_handler {
    /* Bytes received; lent until return. */
    void (*on_data)(weft_conn *c, void *user, const uint8_t *data, size_t len);
    /* The send queue drained below the low-water mark after a send was
     * refused with WEFT_ELIMIT or the queue passed the mark. */
    void (*on_writable)(weft_conn *c, void *user);
    /* Closed: 0 = orderly (peer EOF or weft_conn_close), < 0 = error. */
    void (*on_close)(weft_conn *c, void *user, int reason);
} weft_conn_handler;

/* Listen on sa (port 0 = ephemeral). accept runs for every connection; it
 * must set a handler before returning or the connection is closed. */
WEFT_NODISCARD WEFT_API int weft_listen(weft_loop *loop, const struct sockaddr *sa, socklen_t salen,
                                        weft_accept_fn accept, void *user, weft_listener **out);
WEFT_API void weft_listener_close(weft_listener *l);
/* The bound address (to learn an ephemeral port). */
WEFT_API int weft_listener_addr(const weft_listener *l, struct sockaddr_storage *sa,
                                socklen_t *salen);

/* Start a TCP connection; done(conn, user, 0) once connected (set the
 * handler there), or done(conn, user, -errno / -ETIMEDOUT) after which conn
 * is gone. timeout_ns <= 0: no timeout. *out (may be NULL) gets the conn. */
WEFT_NODISCARD WEFT_API int weft_dial(weft_loop *loop, const struct sockaddr *sa, socklen_t salen,
                                      int64_t timeout_ns, weft_connect_fn done, void *user,
                                      weft_conn **out);

WEFT_API void weft_conn_set_handler(weft_conn *c, const weft_conn_handler *h, void *user);
/* Queue bytes (copied). Returns 0, WEFT_ELIMIT when the queue would pass
 * send_queue_max (nothing queued; on_writable follows), WEFT_ECLOSED. */
WEFT_NODISCARD WEFT_API int weft_conn_send(weft_conn *c, const void *data, size_t len);
/* Queue without a copy: weft_conn_send_reserve returns room for len bytes
 * at the tail of the send queue (or NULL with *err: WEFT_ELIMIT as for
 * weft_conn_send, WEFT_ECLOSED, -ENOMEM); write up to len bytes there, then
 * weft_conn_send_commit(c, n) queues the first n of them and starts sending.
 * Nothing is queued until the commit; any other call on c in between
 * (another send, a loop turn) voids the reservation. */
WEFT_API uint8_t *weft_conn_send_reserve(weft_conn *c, size_t len, int *err);
WEFT_NODISCARD WEFT_API int weft_conn_send_commit(weft_conn *c, size_t n);
/* Bytes queued and not yet taken by the kernel. */
WEFT_API size_t weft_conn_queued(const weft_conn *c);
/* Bytes weft_conn_send would accept now (send_queue_max - queued). When a
 * caller finds too little room it may arm on_writable with want = 1. */
WEFT_API size_t weft_conn_send_space(weft_conn *c, int want);
/* Latency over batching (1) or the default (0). A loop may hold small
 * writes until the end of its turn to send them together with the wait
 * (io_uring does); with nodelay each write is handed to the kernel at once.
 * For exchanges where each message waits for the last, such as a handshake.
 * epoll and the simulator always send at once. */
WEFT_API void weft_conn_set_nodelay(weft_conn *c, int on);
/* Stop (1) or resume (0) reading: receive-side back-pressure. */
WEFT_API void weft_conn_pause(weft_conn *c, int paused);
/* Orderly close after the queue drains; on_close(0) follows. */
WEFT_API void weft_conn_close(weft_conn *c);
/* Close now, dropping the queue; on_close(reason) follows. */
WEFT_API void weft_conn_abort(weft_conn *c, int reason);
WEFT_API int weft_conn_peer_addr(const weft_conn *c, struct sockaddr_storage *sa, socklen_t *salen);
WEFT_API int weft_conn_local_addr(const weft_conn *c, struct sockaddr_storage *sa,
                                  socklen_t *salen);
WEFT_API weft_loop *weft_conn_loop(const weft_conn *c);

/* Counters of a loop, for metrics. */
typedef struct weft_loop_stats {
    uint64_t conns_open, conns_accepted, conns_dialed, conns_closed;
    uint64_t bytes_in, bytes_out;
    uint64_t send_refused; /* WEFT_ELIMIT answers */
    uint64_t accept_shed;  /* connections accepted and closed at once: out of descriptors */
} weft_loop_stats;
WEFT_API void weft_loop_get_stats(const weft_loop *loop, weft_loop_stats *out);

/* ---- simulated network ------------------------------------------------------ */

typedef struct weft_link_params {
    int64_t latency_ns;     /* one-way */
    int64_t jitter_ns;      /* uniform extra in [0, jitter] per segment, order kept */
    uint64_t bandwidth_bps; /* 0 = unlimited; one queue per link direction */
    double loss;            /* segment loss probability in [0, 1); a lost segment is
                               retransmitted after rto_ns, holding up what follows (TCP-like) */
    int64_t rto_ns;         /* default 200 ms */
} weft_link_params;

/* A network of simulated nodes sharing one virtual clock, deterministic for
 * a given seed and sequence of calls. */
WEFT_API weft_simnet *weft_simnet_new(uint64_t seed, const weft_link_params *defaults);
WEFT_API void weft_simnet_free(weft_simnet *net);
/* A node with an IPv4 address (host byte order), e.g. 0x0A000001. Its loop
 * is owned by the network. */
WEFT_API weft_loop *weft_simnet_add_node(weft_simnet *net, uint32_t ip4);
/* Parameters of the links between a and b (both directions); otherwise the
 * defaults apply. Returns 0 or -ENOMEM. */
WEFT_NODISCARD WEFT_API int weft_simnet_set_link(weft_simnet *net, uint32_t a, uint32_t b,
                                                 const weft_link_params *p);
WEFT_API int64_t weft_simnet_now(const weft_simnet *net);
/* Run events in time order until the clock reaches until_ns or nothing is
 * left; returns events handled. */
WEFT_API uint64_t weft_simnet_run_until(weft_simnet *net, int64_t until_ns);
/* Totals over all links, for benchmarks. */
WEFT_API uint64_t weft_simnet_bytes_sent(const weft_simnet *net);

#ifdef __cplusplus
}
#endif
#endif
