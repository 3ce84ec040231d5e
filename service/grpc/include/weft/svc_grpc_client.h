/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_grpc_client.h: blocking gRPC client calls over the gRPC C core,
 * for weft-client (one node sidecar) and weft-proxy (many of them).
 *
 * A channel is an insecure (plaintext) HTTP/2 connection to "host:port"
 * with unlimited send and receive message sizes, as OptimumP2P clients set
 * them, and gRPC retries off (none is configured; and with them on, gRPC
 * 1.51 never completes a cancelled call that has sent over 256 KiB). Calls
 * carry opaque message bytes: the caller packs and unpacks the protobufs
 * (protobuf-c), so this layer knows no schema.
 *
 * Every call owns one completion queue of the pluck kind, and every
 * function below blocks its caller until its own operation completes or its
 * timeout passes; nothing runs behind the caller's back and there are no
 * callbacks.
 *
 * Timeouts are in milliseconds: < 0 waits forever, 0 only polls.
 *
 * Threading rules:
 *  - channels: any thread may start calls on a channel concurrently; free
 *    the channel after every call on it has been freed.
 *  - a stream may be used by two threads at once: one receiving
 *    (weft_grpc_stream_recv) and one sending (weft_grpc_stream_send and
 *    weft_grpc_stream_close_send). Two threads must never receive at the
 *    same time, nor send at the same time.
 *  - weft_grpc_stream_cancel may be called from any thread at any time
 *    (but not from a signal handler: it is not async-signal-safe).
 *  - weft_grpc_stream_free must be called once, by one thread, after every
 *    other call on the stream has returned.
 *
 * Errors: functions returning int give 0 (or a count) on success and a
 * negative weft code: WEFT_EINVAL (bad argument), -ENOMEM, -ETIMEDOUT (the
 * timeout passed first), WEFT_ECLOSED (the call is over: its gRPC status
 * says why, see weft_grpc_status), WEFT_EPROTO (the server broke the call's
 * contract: no response to a unary call, an undecodable message).
 */
#ifndef WEFT_SVC_GRPC_CLIENT_H
#define WEFT_SVC_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_grpc_channel weft_grpc_channel;
typedef struct weft_grpc_stream weft_grpc_stream;

/* The end of a call. code is a grpc_status_code (0 OK, 1 CANCELLED,
 * 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE, ...); details is the server's status
 * message, or gRPC's own explanation for local failures, truncated to fit
 * and NUL-terminated. */
typedef struct weft_grpc_status {
    int code;
    char details[256];
} weft_grpc_status;

/* One request metadata entry (ASCII key in lower case, e.g.
 * "authorization"). Both strings are copied when the call starts. */
typedef struct weft_grpc_md {
    const char *key;
    const char *value;
} weft_grpc_md;

/* Name of a gRPC status code ("OK", "UNAVAILABLE", ...; "UNKNOWN_CODE" for
 * codes outside 0..16). Static string. */
WEFT_API const char *weft_grpc_status_name(int code);

/* A channel to target ("host:port", or any gRPC target URI). It connects
 * lazily: on the first call or weft_grpc_channel_wait_ready. Takes a
 * reference on the gRPC library (grpc_init), dropped by _free. Returns
 * NULL and sets *err (WEFT_EINVAL for an empty target, -ENOMEM) on
 * failure; err may be NULL. */
WEFT_API weft_grpc_channel *weft_grpc_channel_new(const char *target, int *err);
/* Close the channel. NULL does nothing. */
WEFT_API void weft_grpc_channel_free(weft_grpc_channel *ch);

/* Start connecting if idle and wait until the channel is ready. Returns 0
 * once connected, -ETIMEDOUT, or WEFT_ECLOSED if the channel was shut
 * down. Failed attempts are retried by gRPC with backoff until the
 * timeout, so a caller wanting to stay interruptible may call this in
 * short slices. */
WEFT_NODISCARD WEFT_API int weft_grpc_channel_wait_ready(weft_grpc_channel *ch, int64_t timeout_ms);

/* One unary call: send req, wait for the response (at most timeout_ms for
 * the whole call; < 0 none). On success returns 0 with *resp malloc'd
 * (caller frees; may be NULL when *resp_len is 0) and st->code = 0. When
 * the call ends with a non-OK status returns WEFT_ECLOSED and fills st
 * (DEADLINE_EXCEEDED when the timeout passed); an OK status without a
 * response message gives WEFT_EPROTO. st must not be NULL; md may be NULL
 * when n_md is 0. Blocks the calling thread. */
WEFT_NODISCARD WEFT_API int weft_grpc_unary(weft_grpc_channel *ch, const char *method,
                                            const weft_grpc_md *md, size_t n_md, const void *req,
                                            size_t req_len, int64_t timeout_ms, uint8_t **resp,
                                            size_t *resp_len, weft_grpc_status *st);

enum {
    /* Queue the call until the channel connects instead of failing at once
     * with UNAVAILABLE while it is not connected. */
    WEFT_GRPC_WAIT_FOR_READY = 1u << 0,
};

/* Start a streaming call (client, server or bidirectional) on method
 * ("/package.Service/Method"). timeout_ms bounds the whole call (< 0 or 0:
 * none); flags are WEFT_GRPC_* bits. The request metadata is sent at once;
 * nothing else is waited for: a call that cannot proceed shows up as the
 * end of stream in weft_grpc_stream_recv. Returns NULL and sets *err
 * (may be NULL) on failure. */
WEFT_API weft_grpc_stream *weft_grpc_stream_start(weft_grpc_channel *ch, const char *method,
                                                  const weft_grpc_md *md, size_t n_md,
                                                  int64_t timeout_ms, unsigned flags, int *err);

/* Queue one message. p is copied, so the caller may reuse it on return.
 * Only one message is in flight at a time: this first waits (up to
 * timeout_ms) for the previous send or close to be taken by the
 * transport. Returns 0 when queued; -ETIMEDOUT if the previous message is
 * still held back by flow control (nothing was queued: retry later);
 * WEFT_ECLOSED if the send side is closed or the call is over (the end of
 * stream and status then come from weft_grpc_stream_recv). */
WEFT_NODISCARD WEFT_API int weft_grpc_stream_send(weft_grpc_stream *s, const void *p, size_t len,
                                                  int64_t timeout_ms);

/* Half-close: tell the server no more messages follow. Same waiting and
 * returns as weft_grpc_stream_send; closing twice gives WEFT_ECLOSED. */
WEFT_NODISCARD WEFT_API int weft_grpc_stream_close_send(weft_grpc_stream *s, int64_t timeout_ms);

/* Wait for the next message from the server. Returns 1 with *msg malloc'd
 * (caller frees; NULL when *len is 0); 0 at the end of the stream, after
 * which weft_grpc_stream_status() holds the final status (OK when the
 * server finished normally, CANCELLED after weft_grpc_stream_cancel);
 * -ETIMEDOUT when nothing arrived in time (the receive stays armed: call
 * again, no message is lost); -ENOMEM. After the end every call returns 0
 * again. */
WEFT_NODISCARD WEFT_API int weft_grpc_stream_recv(weft_grpc_stream *s, uint8_t **msg, size_t *len,
                                                  int64_t timeout_ms);

/* The final status; meaningful once weft_grpc_stream_recv returned 0. */
WEFT_API const weft_grpc_status *weft_grpc_stream_status(const weft_grpc_stream *s);

/* Abort the call (status CANCELLED unless it had already ended). Any
 * thread; idempotent; a receive blocked in another thread returns 0. */
WEFT_API void weft_grpc_stream_cancel(weft_grpc_stream *s);

/* Cancel the call if still running, wait for gRPC to give back every
 * pending operation and release everything. NULL does nothing. */
WEFT_API void weft_grpc_stream_free(weft_grpc_stream *s);

#ifdef __cplusplus
}
#endif
#endif
