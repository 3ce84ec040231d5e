/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_ws.h: WebSocket (RFC 6455) on the service HTTP server.
 *
 * Enable it with weft_http_config.ws_path and .ws: a GET upgrade request on
 * exactly that path (the query is ignored for matching) is offered to
 * on_open; everything else still goes to the HTTP handler. A plain request on
 * ws_path is answered 400 (405 for a method other than GET) without calling
 * any handler.
 *
 * Threads: on_open, on_message and on_close run on the server thread and must
 * not block. weft_ws_send_text, weft_ws_broadcast_text, weft_ws_close,
 * weft_ws_ref/unref and the accessors may be called from any thread,
 * including from inside the callbacks. Sends are queued to the server thread
 * through one h2o_multithread receiver; messages posted by one thread are
 * written in the order posted.
 *
 * Connection lifetime: the server holds one reference from on_open until
 * just after on_close. To keep a connection past on_close (or to use it from
 * another thread at all) take a reference in on_open with weft_ws_ref and
 * drop it with weft_ws_unref; a connection is freed at its last unref, never
 * while referenced, so a referenced connection is always safe to pass to the
 * calls below, even after weft_http_stop (they then return WEFT_ECLOSED).
 *
 * Backpressure: every connection has a cap on bytes accepted for sending but
 * not yet written to its socket (weft_http_config.ws_max_queued, default
 * 8 MiB), counting each frame as its payload plus 128 bytes of bookkeeping.
 * A send that would exceed it fails with WEFT_ELIMIT and closes the
 * connection with 1008 "slow consumer"; on_close reports 1008.
 *
 * Client frames are checked strictly: unmasked frames, reserved bits or
 * opcodes, fragmented or oversized control frames and bad continuation
 * sequences close with 1002, a message over ws_max_message (default 64 KiB)
 * with 1009, a text message or close reason that is not UTF-8 with 1007.
 * Extensions and subprotocols are never negotiated.
 */
#ifndef WEFT_SVC_WS_H
#define WEFT_SVC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "weft/svc_http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    WEFT_WS_NORMAL = 1000,
    WEFT_WS_GOING_AWAY = 1001, /* also: the server is stopping */
    WEFT_WS_PROTOCOL_ERROR = 1002,
    WEFT_WS_UNSUPPORTED = 1003,
    WEFT_WS_NO_STATUS = 1005, /* reported only: peer's close had no code */
    WEFT_WS_ABNORMAL = 1006,  /* reported only: connection lost without a close */
    WEFT_WS_INVALID_DATA = 1007,
    WEFT_WS_POLICY = 1008, /* also: slow consumer */
    WEFT_WS_TOO_BIG = 1009,
    WEFT_WS_INTERNAL_ERROR = 1011,
};

typedef struct weft_ws_conn weft_ws_conn;

typedef struct weft_ws_handlers {
    /*
     * A valid upgrade request arrived on ws_path. @req is only lent for the
     * call (path, query, Authorization, remote_ip; no body). Return 0 to
     * accept: the 101 response is sent and on_close is guaranteed to follow
     * exactly once. Return -1 to refuse: fill @reject (for example with
     * weft_http_reply_error(reject, 400, "missing client ID")) and it is sent
     * as an ordinary HTTP response (403 when left empty); @c is then dead,
     * sends on it fail, and on_close is not called. Messages sent during
     * on_open are written right after the 101.
     */
    int (*on_open)(void *user, weft_ws_conn *c, const weft_http_req *req, weft_http_resp *reject);
    /* A complete client message (fragments joined). @data is lent for the
     * call only; text messages are valid UTF-8. May be NULL. */
    void (*on_message)(void *user, weft_ws_conn *c, int is_text, const uint8_t *data, size_t len);
    /* The connection stopped being usable; the last callback for @c. @code
     * is the close code: ours (1008 slow consumer, 1002/1007/1009 bad client
     * frames, the code given to weft_ws_close, 1001 at server stop), the
     * client's (1005 when its close frame had none) or 1006 when the TCP
     * connection failed or ended without a close frame. May be NULL. */
    void (*on_close)(void *user, weft_ws_conn *c, int code);
} weft_ws_handlers;

/* Take and drop references; any thread. unref of the last reference frees. */
void weft_ws_ref(weft_ws_conn *c);
void weft_ws_unref(weft_ws_conn *c);

/* Application pointer, NULL initially; any thread (atomic). */
void weft_ws_set_user(weft_ws_conn *c, void *p);
void *weft_ws_user(const weft_ws_conn *c);
/* Server-unique id, assigned before on_open, never 0. */
uint64_t weft_ws_id(const weft_ws_conn *c);
/* Backlog charged against ws_max_queued: accepted, not yet written. */
size_t weft_ws_queued(const weft_ws_conn *c);

/*
 * Queue one text frame with a copy of data[0..len) (the caller keeps its
 * buffer; it is not checked for UTF-8). Any thread; never blocks. Returns 0,
 * WEFT_ECLOSED once the connection is closing or closed (or the server
 * stopped), WEFT_ELIMIT when it would push the connection's backlog over
 * ws_max_queued (the connection is then closed with 1008: count a drop),
 * WEFT_EINVAL or -ENOMEM.
 */
int weft_ws_send_text(weft_ws_conn *c, const char *data, size_t len);

/*
 * Queue one text frame to each of conns[0..n) with a single shared copy of
 * the payload and a single message to the server thread. @s is the server
 * the connections belong to (may be NULL; the connections' own server is
 * used, so this is safe even after weft_http_stop). Each connection is
 * checked as weft_ws_send_text does: closed ones are skipped, ones over
 * their cap are closed with 1008 and skipped. A connection listed twice gets
 * the frame twice; connections of another server are skipped. Returns how
 * many connections got the frame queued (n minus that count were dropped),
 * WEFT_ECLOSED when the server has stopped, WEFT_EINVAL or -ENOMEM.
 */
int weft_ws_broadcast_text(weft_http_server *s, weft_ws_conn *const *conns, size_t n,
                           const char *data, size_t len);

/*
 * Start the close handshake with @code (1000..4999, else 1000) and @reason
 * (UTF-8, NULL or up to 123 bytes; cut there). Frames already queued are
 * written first. Any thread; idempotent: only the first close of a
 * connection (by anyone) counts. on_close follows on the server thread.
 */
void weft_ws_close(weft_ws_conn *c, int code, const char *reason);

/* 1 if s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF), as RFC 6455 requires of text frames and close
 * reasons; else 0. */
int weft_utf8_valid(const uint8_t *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
