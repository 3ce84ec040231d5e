/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by host.c (connections: limits, the upgrade pipeline, the
 * encrypted data path, teardown) and host_stream.c (streams, per-stream
 * protocol negotiation, built-in identify and ping).
 *
 * Re-entrancy rules: yamux callbacks must not call weft_yamux_input/tick/
 * sent, so output is flushed only at the outermost level (peer->in_mux ==
 * 0); a peer whose connection closed is torn down from a zero-delay timer,
 * never inside the call chain that noticed the close.
 */
#ifndef WEFT_HOST_INTERNAL_H
#define WEFT_HOST_INTERNAL_H

#include "weft/buf.h"
#include "weft/host.h"
#include "weft/mss.h"
#include "weft/noise.h"
#include "weft/yamux.h"

enum phase { PH_CONNECTING, PH_SEC_MSS, PH_NOISE, PH_MUX_MSS, PH_READY, PH_CLOSED };

struct proto_entry {
    char *id;
    const weft_stream_handler *h;
    void *user;
};

struct hlistener {
    weft_listener *l;
    weft_multiaddr addr;
};

#define HOST_MAX_LISTENERS 8

struct weft_host {
    weft_loop *loop;
    weft_host_config cfg;
    weft_peer_id id;
    char agent[128];
    weft_host_stats stats;
    struct proto_entry *protos;
    size_t nprotos, capprotos;
    const char **proto_ids; /* the ids, for multistream responders */
    struct hlistener listeners[HOST_MAX_LISTENERS];
    size_t nlisteners;
    weft_peer *peers;
    uint32_t nconns;
    weft_noise_static nstatic; /* unless cfg.noise_key_per_connection */
};

struct weft_peer {
    weft_host *host;
    weft_conn *conn;
    weft_conn *connecting; /* the TCP dial in flight (outbound, before conn) */
    int outbound;
    int phase;
    int close_reason;
    int announced; /* on_peer(up) delivered */
    int in_mux;    /* depth of yamux calls on the stack */
    int want_flush;
    int flushing; /* inside peer_flush: a nested call only sets want_flush */
    weft_mss mss;
    weft_noise_hs *hs;
    weft_noise_session ns;
    weft_yamux *mux;
    weft_peer_id remote;
    weft_peer_id expected;
    int has_expected;
    weft_multiaddr addr;
    struct sockaddr_storage sa;
    socklen_t salen;
    weft_buf rawin; /* bytes from the socket not yet consumed */
    weft_buf plain; /* decrypted bytes not yet consumed */
    weft_buf out;   /* scratch for frames on their way out */
    weft_timer hs_timer;
    weft_timer mux_timer;
    weft_timer reap_timer;
    weft_timer idle_timer;
    int64_t last_activity;
    weft_dial_fn dial_cb;
    void *dial_user;
    weft_identify *ident;
    void *user;
    weft_peer *next, *prev;
};

/* host.c */
void peer_flush(weft_peer *p);

/* host_stream.c */
void host_stream_callbacks(weft_yamux_config *cfg);
void host_peer_ready(weft_peer *p);
int host_builtin_register(weft_host *h);

#endif
