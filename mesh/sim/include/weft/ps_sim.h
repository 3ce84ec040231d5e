/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/ps_sim.h: a network of topic mesh routers (weft/pubsub.h) inside one
 * process, on the simulated network of weft/loop.h (virtual clock, per-link
 * latency, jitter, bandwidth and loss). For tests and the mesh benchmark.
 *
 * Node i is a weft_simnet node with IPv4 address 10.0.0.0 + i + 1 and a
 * listener on port WEFT_PS_SIM_PORT; its router is built from a template
 * config with an Ed25519 identity and a router seed derived from the
 * network seed and i, io.now = that node's virtual clock, and a tick timer
 * every cfg.tick_ns (the first tick of each node at a random offset within
 * one period, so heartbeats are not all at the same instant).
 *
 * Connections are raw simulated TCP: no Noise, no yamux, no multistream
 * (the simulation exercises the router, not the crypto). Each direction
 * starts with a hello, uvarint(n) || the sender's peer id bytes; once a
 * side has the other's hello it adds the peer to its router (protocols
 * MESHSUB | MESHSUB12 | RLNC; the dialer's side is outbound). After the
 * hello every frame is proto (1 byte, WEFT_PS_PROTO_MESHSUB or
 * WEFT_PS_PROTO_RLNC) || uvarint(n) || RPC. A frame longer than the
 * template's max_rpc_size, a bad prefix or a bad hello closes the
 * connection (counted in frames_bad).
 *
 * Outbound frames wait in a queue of the simulation's own per connection
 * and are handed to the connection's send queue one segment's worth at a
 * time, as it drains (the simulated loop's send queue size cannot be set
 * and never gives memory back). A frame that would take the bytes queued
 * on a connection past queue_cap is dropped and counted, and io.send
 * returns WEFT_ELIMIT (the router counts rpc_send_failed and traces
 * DROP_RPC).
 *
 * Runs are deterministic: the same seed and the same sequence of calls
 * give the same events at the same virtual times. Everything is
 * single-threaded; the hooks run on the caller's thread from inside
 * weft_ps_sim_run_until (or from the call that caused them) and may call
 * any function here except weft_ps_sim_free.
 */
#ifndef WEFT_PS_SIM_H
#define WEFT_PS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "weft/loop.h"
#include "weft/pubsub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ps_sim weft_ps_sim;

#define WEFT_PS_SIM_PORT 4001
/* Per-connection queue cap by default: a 4 MiB message fits several times. */
#define WEFT_PS_SIM_QUEUE_CAP ((size_t)32 << 20)

typedef struct weft_ps_sim_config {
    uint64_t seed;         /* identities, router seeds, tick offsets, link randomness */
    weft_link_params link; /* links not given their own in weft_ps_sim_connect */
    size_t queue_cap;      /* outbound bytes per connection before frames drop;
                              0 = WEFT_PS_SIM_QUEUE_CAP */
    /* Optional hooks; node is the index of the node concerned, now_ns the
     * virtual time. The message and the trace event are lent for the call. */
    void (*on_deliver)(void *user, size_t node, const weft_ps_msg *m, int64_t now_ns);
    void (*on_trace)(void *user, size_t node, const weft_ps_trace *ev);
    void *user;
    /* Per-host links, shared by all of a node's connections (an access link,
     * as the testbed's tbf shapes it); 0 = none, only the per-link
     * bandwidth. The uplink serves the node's connections in turn, one
     * window each; the downlink carries inbound bytes in arrival order. */
    uint64_t host_up_bps, host_down_bps;
} weft_ps_sim_config;

/* Counters of one node: its router's and the simulation's own. */
typedef struct weft_ps_sim_stats {
    weft_ps_stats ps;
    uint64_t bytes_out, bytes_in;     /* on the node's connections: hellos, framing, RPCs */
    uint64_t frames_out, frames_in;   /* RPC frames queued / handed to the router */
    uint64_t frames_dropped;          /* io.send refused: the queue cap was reached */
    uint64_t frames_bad;              /* connections closed for bad framing */
    uint64_t frames_refused;          /* weft_ps_on_rpc returned an error */
    uint64_t dials_failed, dup_peers; /* failed dials; hellos of a peer already known */
    uint64_t delivered;               /* on_deliver calls for this node */
    size_t peers;                     /* peers known to the router now */
    size_t queued_max;                /* largest outbound queue (conn + overflow) seen */
    size_t queued_now;                /* outbound bytes queued on all connections now */
    size_t rx_partial_now;            /* bytes of inbound frames still incomplete now */
} weft_ps_sim_stats;

/* n nodes; tmpl is copied per node (mode, mesh and RLNC parameters, score;
 * its identity, seed and io.send/deliver/trace/px/now/user are replaced).
 * No connections yet and no subscriptions. Returns NULL with *err set
 * (WEFT_EINVAL, -ENOMEM, or what weft_ps_new said). */
WEFT_API weft_ps_sim *weft_ps_sim_new(const weft_ps_sim_config *cfg, const weft_ps_config *tmpl,
                                      size_t n, int *err);
/* Close every connection, free the routers and the network. NULL is fine. */
WEFT_API void weft_ps_sim_free(weft_ps_sim *s);

WEFT_API size_t weft_ps_sim_size(const weft_ps_sim *s);
WEFT_API weft_ps *weft_ps_sim_router(weft_ps_sim *s, size_t node);
WEFT_API weft_loop *weft_ps_sim_loop(weft_ps_sim *s, size_t node);
WEFT_API weft_simnet *weft_ps_sim_net(weft_ps_sim *s);
WEFT_API uint32_t weft_ps_sim_ip(size_t node);

/* Dial b from a. lp (NULL: the config's link) applies to both directions
 * of every connection between the two. The connection comes up after one
 * round trip, the peers are added once the hellos have crossed. Returns 0,
 * WEFT_EINVAL (a == b, out of range), -ENOMEM. */
WEFT_NODISCARD WEFT_API int weft_ps_sim_connect(weft_ps_sim *s, size_t a, size_t b,
                                                const weft_link_params *lp);

/* A random connected topology: a random spanning tree, then random extra
 * edges until every node has about `peers` neighbours (as far as possible).
 * Each edge gets lp with latency uniform in [lat_min_ns, lat_max_ns]; the
 * choice comes from seed alone, so two networks given the same arguments
 * get the same graph. Returns the number of edges or < 0. */
WEFT_NODISCARD WEFT_API long weft_ps_sim_connect_random(weft_ps_sim *s, unsigned peers,
                                                        const weft_link_params *lp,
                                                        int64_t lat_min_ns, int64_t lat_max_ns,
                                                        uint64_t seed);

/* Subscribe every node to topic. Returns 0 or the first error. */
WEFT_NODISCARD WEFT_API int weft_ps_sim_subscribe_all(weft_ps_sim *s, const char *topic);

/* Publish from node (weft_ps_publish at the current virtual time). */
WEFT_NODISCARD WEFT_API int weft_ps_sim_publish(weft_ps_sim *s, size_t node, const char *topic,
                                                const void *data, size_t len, uint8_t *id_out,
                                                size_t *id_len);

/* Run the network until virtual time until_ns, or, after weft_ps_sim_stop
 * was called from a hook, until the end of the current 1 ms slice. Returns
 * the virtual time reached. */
WEFT_API int64_t weft_ps_sim_run_until(weft_ps_sim *s, int64_t until_ns);
WEFT_API void weft_ps_sim_stop(weft_ps_sim *s);
WEFT_API int64_t weft_ps_sim_now(const weft_ps_sim *s);

WEFT_API void weft_ps_sim_get_stats(const weft_ps_sim *s, size_t node, weft_ps_sim_stats *out);
/* Bytes put on all links so far (weft_simnet_bytes_sent). */
WEFT_API uint64_t weft_ps_sim_bytes_sent(const weft_ps_sim *s);

#ifdef __cplusplus
}
#endif
#endif
