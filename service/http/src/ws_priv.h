/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the service's WebSocket code: the seam between the HTTP server
 * (http.c) and ws.c, the structures ws.c (server thread) and ws_send.c (any
 * thread) share, and the sans-I/O frame codec of ws_frame.c.
 *
 * Which thread touches what: fields under "any thread" are atomics or
 * written once before being published through the channel lock; fields
 * under "loop" and everything h2o belong to the server thread. The channel
 * (struct ws_chan) is reference counted by the hub and every connection so
 * that a sender always finds it, stopped or not.
 */
#ifndef WEFT_SVC_WS_PRIV_H
#define WEFT_SVC_WS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <h2o.h>

#include "weft/svc_http.h"
#include "weft/svc_ws.h"

#define WS_MAX_REASON 123 /* close reason bytes: a control payload is at most 125 */
/* What a queued data frame costs beside its payload (message, frame header,
 * allocator), charged to the backlog so that tiny frames cannot queue
 * without bound; the public cap is documented as including it. */
#define WS_FRAME_CHARGE 128

enum {
    WS_OP_CONT = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10
};
enum { WS_MSG_SEND, WS_MSG_CLOSE };
enum { WS_UPGRADING, WS_OPEN, WS_CLOSING, WS_DEAD };

/* ---- the seam with http.c (server thread, except new/free) ----------------------- */

struct ws_hub;

/* Register the hub's receiver on ctx->queue (before the loop thread runs).
 * NULL on allocation failure. */
struct ws_hub *ws_hub_new(const weft_http_config *cfg, h2o_context_t *ctx);
/* Whether a request for this path belongs to the WebSocket endpoint. */
int ws_hub_owns(const struct ws_hub *h, const weft_http_req *r);
/* Handle a request on the endpoint. Returns 0 when it upgraded the
 * connection (h2o owns the response), or 1 when the caller must send
 * @resp (a refused or malformed handshake). */
int ws_hub_on_request(struct ws_hub *h, h2o_req_t *req, const weft_http_req *r,
                      weft_http_resp *resp);
/* Server stop: refuse further sends, drop queued messages, close every open
 * connection (on_close 1001) and unregister the receiver. Connections still
 * upgrading close when h2o finishes or fails the 101. */
void ws_hub_shutdown(struct ws_hub *h);
/* Free after the loop has ended. Safe with NULL. */
void ws_hub_free(struct ws_hub *h);

/* ---- shared structures --------------------------------------------------------------- */

/* One server frame, header and payload contiguous. Server frames are not
 * masked, so one copy serves every receiver. */
struct ws_frame {
    size_t refs;    /* the loop's alone once posted */
    size_t counted; /* charged to each receiver's backlog: payload + WS_FRAME_CHARGE (data) */
    size_t len;     /* wire bytes */
    uint8_t bytes[];
};

struct ws_chan {
    pthread_mutex_t lock;
    int stopped; /* under lock */
    h2o_multithread_receiver_t *receiver;
    atomic_uint refs;
};

struct ws_msg {
    h2o_multithread_message_t super;
    int kind;
    struct ws_frame *frame; /* WS_MSG_SEND: one reference per listed connection */
    size_t n;
    weft_ws_conn **conns; /* each with a reference taken for the message */
    weft_ws_conn *one;    /* WS_MSG_CLOSE, or the single target of a send */
};

#define WS_OUTQ_INLINE 4
struct ws_outq { /* ring of frames */
    struct ws_frame **v;
    size_t cap, head, n;
    struct ws_frame *inl[WS_OUTQ_INLINE];
};

struct weft_ws_conn {
    /* any thread */
    atomic_uint refs;
    atomic_int shut; /* 1 once closing: sends fail */
    atomic_size_t queued;
    _Atomic(void *) user;
    uint64_t id;
    size_t max_queued;
    struct ws_chan *chan;
    int req_code; /* by the thread that won `shut`, read by the loop */
    char req_reason[WS_MAX_REASON + 1];
    struct ws_msg close_msg;
    /* loop */
    struct ws_hub *hub;
    h2o_socket_t *sock;
    h2o_linklist_t link;  /* hub->conns */
    h2o_linklist_t dirty; /* hub->dirty */
    h2o_timeout_entry_t timer;
    int state;
    unsigned accepted : 1, notified : 1, close_queued : 1, close_sent : 1, peer_closed : 1,
        failed : 1, wr_shut : 1;
    size_t writing; /* frames at the queue's head in h2o's pending write */
    struct ws_outq q;
    uint8_t *rx; /* a fragmented message being joined */
    size_t rx_len, rx_cap;
    int rx_op;
};

static inline void
ws_release(weft_ws_conn *c, size_t len)
{
    atomic_fetch_sub_explicit(&c->queued, len, memory_order_relaxed);
}

static inline void
ws_chan_unref(struct ws_chan *ch)
{
    if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&ch->lock);
        free(ch);
    }
}

/* ---- the frame codec (ws_frame.c): no I/O, no state ----------------------------------- */

struct ws_hdr {
    int fin, op;
    uint64_t len;       /* payload bytes */
    const uint8_t *key; /* masking key */
};

/* A server frame with a copy of data[0..len); refs 1. NULL when out of memory. */
struct ws_frame *ws_frame_new(int op, const void *data, size_t len);
/* A close frame: no payload when code is 0, else the code and the reason cut
 * to whole characters within WS_MAX_REASON bytes. */
struct ws_frame *ws_frame_close(int code, const char *reason);
void ws_frame_unref(struct ws_frame *f);
/* Decode a client frame header from p[0..avail): the header length (mask
 * included) with *h filled, 0 when more bytes are needed, or -1002 for a
 * violation visible in the header alone (reserved bits or opcode, no mask,
 * a fragmented or long control frame, a 64-bit length with the top bit). */
int ws_parse_header(const uint8_t *p, size_t avail, struct ws_hdr *h);
void ws_unmask(uint8_t *p, size_t n, const uint8_t key[4]);
/* Close codes a peer may send (RFC 6455 7.4). */
int ws_close_code_valid(int code);
/* Sec-WebSocket-Key: base64 of 16 bytes. */
int ws_key_valid(const char *k, size_t n);
/* Sec-WebSocket-Accept for a valid key: 28 characters and a NUL. 0 or -1. */
int ws_make_accept(const char *key, char out[29]);

#endif
