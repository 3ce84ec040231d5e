/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/host.h: a libp2p host on one event loop. Every connection is
 * upgraded TCP -> multistream-select /noise -> Noise XX (authenticating the
 * remote peer id) -> multistream-select /yamux/1.0.0 -> yamux, and each
 * stream then negotiates its application protocol with multistream-select.
 * identify (/ipfs/id/1.0.0) and ping (/ipfs/ping/1.0.0) are built in; other
 * protocols are registered by the layers above (the mesh).
 *
 * Threading: everything runs on the loop's thread; callbacks may call any
 * function here. Lifetimes: a weft_peer is valid from the on_peer(up = 1)
 * callback (or a successful dial callback) until on_peer(up = 0) returns; a
 * weft_stream from its creation until its on_close returns. Bytes given to
 * on_data are lent for the duration of the call.
 *
 * Bad input from the network (malformed frames, failed signatures, a peer
 * id other than the one dialled, stalled handshakes, stream floods) closes
 * that connection with a logged reason and a counter; the host and every
 * other connection carry on.
 */
#ifndef WEFT_HOST_H
#define WEFT_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "weft/identify.h"
#include "weft/identity.h"
#include "weft/loop.h"
#include "weft/multiaddr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_host weft_host;
typedef struct weft_peer weft_peer;
typedef struct weft_stream weft_stream;

typedef struct weft_stream_handler {
    /* Negotiated: inbound streams when accepted, outbound when selected. */
    void (*on_open)(weft_stream *s, void *user);
    void (*on_data)(weft_stream *s, void *user, const uint8_t *data, size_t len);
    /* The remote finished writing (half-close). */
    void (*on_fin)(weft_stream *s, void *user);
    /* A write was refused or short earlier, and there is room again. */
    void (*on_writable)(weft_stream *s, void *user);
    /* Gone: 0 after both sides closed, < 0 on reset, refusal (WEFT_ENOTSUP)
     * or connection loss. The stream must not be used after this. */
    void (*on_close)(weft_stream *s, void *user, int reason);
} weft_stream_handler;

typedef struct weft_host_config {
    weft_identity identity;
    const char *agent_version;    /* default "weft/<version>" */
    uint32_t max_conns;           /* default 1024 */
    uint32_t max_conns_per_ip;    /* default 64 */
    uint32_t max_streams;         /* inbound streams per connection, default 256 */
    uint32_t max_frame;           /* yamux data frame payload, default 64 KiB */
    int64_t handshake_timeout_ns; /* TCP connect to yamux ready, default 10 s */
    int64_t idle_timeout_ns;      /* no stream and no byte for this long: close; 0 = never */
    int64_t ping_interval_ns;     /* yamux keep-alive ping; a peer that stops answering
                                     (half-open connection) is closed. Default 30 s;
                                     negative = off */
    /* 1: a fresh Noise static key (and identity signature) per handshake.
     * Default 0: one key for the host's life, made and signed at
     * weft_host_new, which saves a tenth of each handshake's CPU. */
    int noise_key_per_connection;
    /* Peer up (1) after the upgrade, down (0) before its memory goes. */
    void (*on_peer)(weft_host *h, weft_peer *p, int up, void *user);
    /* The remote's identify arrived (or was refreshed). */
    void (*on_identify)(weft_host *h, weft_peer *p, const weft_identify *id, void *user);
    void *user;
} weft_host_config;

/* Counters of one host (all monotonic). */
typedef struct weft_host_stats {
    uint64_t handshakes_ok, handshakes_failed, handshake_timeouts;
    uint64_t rejected_conn_limit, rejected_ip_limit;
    uint64_t auth_failures;                   /* bad signature, wrong peer id */
    uint64_t proto_errors;                    /* malformed frames of any layer */
    uint64_t streams_opened, streams_refused; /* over-limit SYNs are reset inside yamux */
    uint64_t idle_closed;
    uint64_t peers_up, peers_down;
} weft_host_stats;

WEFT_API void weft_host_config_default(weft_host_config *cfg);
/* The identity is copied. Returns NULL with *err set. */
WEFT_API weft_host *weft_host_new(weft_loop *loop, const weft_host_config *cfg, int *err);
/* Close every connection (callbacks run) and free. */
WEFT_API void weft_host_free(weft_host *h);
WEFT_API weft_loop *weft_host_loop(const weft_host *h);
WEFT_API const weft_peer_id *weft_host_peer_id(const weft_host *h);
WEFT_API void weft_host_get_stats(const weft_host *h, weft_host_stats *out);

/* Listen on /ip4|ip6/ADDR/tcp/PORT; bound (may be NULL) receives the
 * actual address, with /p2p/<our id>. */
WEFT_NODISCARD WEFT_API int weft_host_listen(weft_host *h, const weft_multiaddr *ma,
                                             weft_multiaddr *bound);
/* Our listen addresses (up to max), for identify. Returns the count. */
WEFT_API size_t weft_host_listen_addrs(const weft_host *h, weft_multiaddr *out, size_t max);

/* Dial; done(h, peer, 0, user) once the connection is upgraded (also
 * delivered as on_peer up), or done(h, NULL, err, user). A /p2p/ component
 * must match the remote's authenticated id, else WEFT_EAUTH. A /dns4,
 * /dns6 or /dns name is resolved by this call (weft_ma_resolve), blocking
 * it for at most 3 s; a name that does not resolve returns WEFT_ERESOLVE. */
typedef void (*weft_dial_fn)(weft_host *h, weft_peer *p, int status, void *user);
WEFT_NODISCARD WEFT_API int weft_host_dial(weft_host *h, const weft_multiaddr *ma,
                                           weft_dial_fn done, void *user);

/* Serve a protocol on inbound streams. id is copied; handler must outlive
 * the host. A second registration of an id replaces the first. */
WEFT_NODISCARD WEFT_API int weft_host_handle(weft_host *h, const char *id,
                                             const weft_stream_handler *handler, void *user);
/* The protocol ids we serve (built-in and registered), for identify. */
WEFT_API size_t weft_host_protocols(const weft_host *h, const char **out, size_t max);

WEFT_API const weft_peer_id *weft_peer_get_id(const weft_peer *p);
WEFT_API int weft_peer_is_outbound(const weft_peer *p);
/* The remote address of the connection. */
WEFT_API const weft_multiaddr *weft_peer_addr(const weft_peer *p);
/* The remote's latest identify, or NULL before it arrived. */
WEFT_API const weft_identify *weft_peer_identify(const weft_peer *p);
WEFT_API void weft_peer_set_user(weft_peer *p, void *user);
WEFT_API void *weft_peer_user(const weft_peer *p);
/* Orderly close (go-away); on_peer(up = 0) follows. */
WEFT_API void weft_peer_close(weft_peer *p);

/* Open a stream for protocol id (copied). on_open once the remote accepts,
 * on_close(WEFT_ENOTSUP) if it refuses. Returns 0 or an error. */
WEFT_NODISCARD WEFT_API int weft_peer_open_stream(weft_peer *p, const char *id,
                                                  const weft_stream_handler *handler, void *user,
                                                  weft_stream **out);
/* Write; returns bytes accepted (possibly fewer than len), WEFT_EAGAIN when
 * none fit now (on_writable follows), WEFT_ECLOSED, or before on_open
 * WEFT_EAGAIN. Bytes are copied. */
WEFT_NODISCARD WEFT_API ptrdiff_t weft_stream_write(weft_stream *s, const void *data, size_t len);
/* Half-close our side (FIN). */
WEFT_API int weft_stream_close(weft_stream *s);
/* Abort both directions (RST); on_close(WEFT_ECLOSED) follows. */
WEFT_API void weft_stream_reset(weft_stream *s);
WEFT_API weft_peer *weft_stream_peer(const weft_stream *s);
WEFT_API const char *weft_stream_protocol(const weft_stream *s);
WEFT_API int weft_stream_is_outbound(const weft_stream *s);
WEFT_API void weft_stream_set_user(weft_stream *s, void *user);

/* Ping over /ipfs/ping/1.0.0: done(peer, rtt_ns >= 0 or error, user). */
typedef void (*weft_ping_fn)(weft_peer *p, int64_t rtt_ns, void *user);
WEFT_NODISCARD WEFT_API int weft_peer_ping(weft_peer *p, weft_ping_fn done, void *user);

#ifdef __cplusplus
}
#endif
#endif
