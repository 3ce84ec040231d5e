/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/pubsub.h: the topic mesh router, sans I/O.
 *
 * One router per node. It keeps GossipSub v1.1 topic meshes (subscriptions,
 * GRAFT/PRUNE with backoff and peer exchange, fanout, heartbeat, scoring)
 * and moves messages in one of two modes:
 *
 *  - WEFT_PS_GOSSIPSUB: whole messages as GossipSub does (mcache, IHAVE/IWANT
 *    gossip, IDONTWANT, flood publishing, StrictSign);
 *  - WEFT_PS_RLNC: coded shards on /weft/rlnc/1.0.0 (spec rlnc-mesh.md
 *    section 3): relays forward recoded shards before they can decode.
 *
 * The router never touches a socket or a clock by itself: the embedding
 * (weft/ps_host.h on a libp2p host, or the mesh simulation) tells it about
 * peers, hands it every RPC frame received, calls weft_ps_tick at
 * cfg.tick_ns, and gets RPC frames to send through io.send. Everything is
 * single-threaded; callbacks may call back into the router except
 * weft_ps_free.
 *
 * Bad input (malformed RPCs, bad signatures, unknown topics, oversize
 * messages, shards beyond k, polluted generations, GRAFT during backoff,
 * IWANT floods) is dropped, traced, counted in weft_ps_stats and charged to
 * the sending peer's score; memory is bounded by the limits of the config.
 */
#ifndef WEFT_PUBSUB_H
#define WEFT_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "weft/identity.h"
#include "weft/ps_rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ps weft_ps;
typedef struct weft_ps_peer weft_ps_peer;

enum weft_ps_mode { WEFT_PS_GOSSIPSUB = 0, WEFT_PS_RLNC = 1 };

/* Wire protocols a peer speaks (bit mask) and the one a frame travels on. */
enum weft_ps_proto {
    WEFT_PS_PROTO_MESHSUB = 1u << 0,   /* /meshsub/1.0.0 or 1.1.0 */
    WEFT_PS_PROTO_MESHSUB12 = 1u << 1, /* /meshsub/1.2.0 (IDONTWANT) */
    WEFT_PS_PROTO_RLNC = 1u << 2,      /* /weft/rlnc/1.0.0 */
};

/* Message id of a GossipSub message. */
enum weft_ps_msgid {
    WEFT_PS_MSGID_SPEC = 0, /* from (peer id bytes) || seqno: spec and go default */
    WEFT_PS_MSGID_JS,       /* public key protobuf || seqno: js-libp2p default */
    WEFT_PS_MSGID_SHA256,   /* SHA-256 of data */
};

/* Trace event types: the optimum TraceEvent numbering (0-12 as in the
 * libp2p pubsub trace). */
enum weft_trace_type {
    WEFT_TRACE_PUBLISH_MESSAGE = 0,
    WEFT_TRACE_REJECT_MESSAGE = 1,
    WEFT_TRACE_DUPLICATE_MESSAGE = 2,
    WEFT_TRACE_DELIVER_MESSAGE = 3,
    WEFT_TRACE_ADD_PEER = 4,
    WEFT_TRACE_REMOVE_PEER = 5,
    WEFT_TRACE_RECV_RPC = 6,
    WEFT_TRACE_SEND_RPC = 7,
    WEFT_TRACE_DROP_RPC = 8,
    WEFT_TRACE_JOIN = 9,
    WEFT_TRACE_LEAVE = 10,
    WEFT_TRACE_GRAFT = 11,
    WEFT_TRACE_PRUNE = 12,
    WEFT_TRACE_DUPLICATE_SHARD = 13,
    WEFT_TRACE_UNHELPFUL_SHARD = 14,
    WEFT_TRACE_UNNECESSARY_SHARD = 15,
    WEFT_TRACE_NEW_SHARD = 16,
};

/* One trace event; pointers are lent for the callback. Fields a type does
 * not use are zero / empty. */
typedef struct weft_ps_trace {
    int type;      /* enum weft_trace_type */
    int64_t ts_ns; /* router clock (io.now) */
    const weft_peer_id *self;
    const weft_peer_id *peer; /* receivedFrom / sendTo / the peer added, removed, grafted */
    weft_bytes msg_id;
    weft_bytes topic;
    const char *reason; /* REJECT_MESSAGE (DROP_RPC carries none on the wire) */
    weft_bytes coeffs;  /* shard events: the coefficient vector */
    const char *proto;  /* ADD_PEER */
    uint64_t length;    /* RECV_RPC / SEND_RPC: frame bytes */
} weft_ps_trace;

/* Encode an event as a TraceEvent protobuf (optimum.pb / libp2p pubsub
 * trace numbering); appended to out. */
WEFT_NODISCARD WEFT_API int weft_ps_trace_encode(const weft_ps_trace *ev, weft_buf *out);
WEFT_API const char *weft_ps_trace_name(int type);

/* A message handed to the application. */
typedef struct weft_ps_msg {
    weft_bytes topic;
    weft_bytes data;
    weft_bytes id;
    const weft_peer_id *from;          /* publisher (NULL if unsigned and anonymous) */
    const weft_peer_id *received_from; /* the peer it came from; NULL for our own */
    uint64_t seqno;
} weft_ps_msg;

typedef struct weft_ps_io {
    /* Send one RPC frame (without the length prefix) to a peer on proto
     * (WEFT_PS_PROTO_MESHSUB or WEFT_PS_PROTO_RLNC). Returns 0, or < 0 when it
     * was not queued (the router counts the drop and traces DROP_RPC). */
    int (*send)(void *user, weft_ps_peer *peer, void *peer_user, unsigned proto,
                const uint8_t *frame, size_t len);
    /* A message for a topic we subscribe to, once per id. */
    void (*deliver)(void *user, const weft_ps_msg *m);
    /* Optional: trace events. */
    void (*trace)(void *user, const weft_ps_trace *ev);
    /* Optional: peer exchange suggested these peer ids (from a PRUNE). */
    void (*px)(void *user, const weft_peer_id *ids, size_t n);
    /* Clock in ns (monotonic; virtual in a simulation). Required. */
    int64_t (*now)(void *user);
    void *user;
} weft_ps_io;

/* Peer score parameters (GossipSub v1.1), one set for every topic. */
typedef struct weft_ps_score_params {
    int enabled;
    double topic_weight;
    double time_in_mesh_weight, time_in_mesh_quantum_s, time_in_mesh_cap;         /* P1 */
    double first_deliveries_weight, first_deliveries_decay, first_deliveries_cap; /* P2 */
    double mesh_deliveries_weight, mesh_deliveries_decay, mesh_deliveries_threshold,
        mesh_deliveries_cap, mesh_deliveries_activation_s;         /* P3 */
    double mesh_failure_weight, mesh_failure_decay;                /* P3b */
    double invalid_weight, invalid_decay;                          /* P4 */
    double behaviour_weight, behaviour_threshold, behaviour_decay; /* P7 */
    double decay_to_zero;
    /* thresholds */
    double gossip_threshold, publish_threshold, graylist_threshold, accept_px_threshold;
} weft_ps_score_params;

/* Names of the RLNC forwarding policies (weft_ps_config.rlnc_policy). */
WEFT_API size_t weft_ps_rlnc_policies(const char **out, size_t max);
/* The policy used when weft_ps_config.rlnc_policy is NULL. */
WEFT_API const char *weft_ps_rlnc_policy_default(void);

typedef struct weft_ps_config {
    int mode;               /* enum weft_ps_mode */
    weft_identity identity; /* copied */
    weft_ps_io io;
    uint64_t seed; /* seqnos, peer selection, recoding (xoshiro256**);
                      0 = from the identity, which is deterministic: a
                      daemon restarting with its key must pass a random
                      seed, or its first seqnos repeat */

    /* mesh */
    unsigned D, D_lo, D_hi, D_lazy, D_out, D_score;
    int64_t heartbeat_ns;     /* default 1 s */
    int64_t tick_ns;          /* how often the embedding calls weft_ps_tick; default 50 ms */
    int64_t fanout_ttl_ns;    /* 60 s */
    int64_t prune_backoff_ns; /* 60 s */
    int64_t unsub_backoff_ns; /* 10 s */
    int64_t graft_flood_ns;   /* GRAFT sooner than this after a PRUNE: extra penalty; 10 s */
    unsigned prune_peers;     /* PX entries sent in a PRUNE; 16 */
    int do_px;                /* send peer exchange; 1 */

    /* messages (gossipsub mode) */
    unsigned mcache_len, mcache_gossip; /* 5, 3 */
    int64_t seen_ttl_ns;                /* 120 s */
    unsigned max_ihave_len;             /* ids per IHAVE we send and accept per heartbeat; 5000 */
    unsigned max_ihave_msgs;            /* IHAVE messages accepted per peer per heartbeat; 10 */
    unsigned max_iwant_per_id;          /* times one id is served to one peer; 3 */
    double gossip_factor;               /* 0.25 */
    int64_t iwant_followup_ns;          /* 3 s */
    int msgid;                          /* enum weft_ps_msgid */
    int sign;                           /* StrictSign: sign ours, require signatures; 1 */
    int flood_publish;                  /* 1 */
    int idontwant;                      /* send IDONTWANT to /meshsub/1.2.0 peers; 1 */
    size_t idontwant_min;               /* only for messages at least this large; 1 KiB */
    size_t max_msg_size;                /* 1 MiB */
    size_t mcache_max_bytes; /* messages held for IWANT; past it new ones are delivered and
                                forwarded but not kept (counted); 256 MiB */
    size_t max_rpc_size;     /* a frame larger than this is refused; max_msg_size + 64 KiB */

    /* RLNC mode */
    unsigned rlnc_k;                    /* OPTIMUM_SHARD_FACTOR; default 16 */
    double rlnc_mult;                   /* OPTIMUM_SHARD_MULT; 8 */
    double rlnc_threshold;              /* OPTIMUM_THRESHOLD; 0.1: below ceil(threshold * k) a relay
                                           passes shards on as received, from there it recodes */
    const char *rlnc_policy;            /* NULL = "budget4"; see weft_ps_rlnc_policies */
    size_t rlnc_min_piece;              /* a publisher uses fewer than rlnc_k pieces when they would
                                           be smaller than this (4096); 0 = always rlnc_k */
    int64_t rlnc_repair_ns;             /* below rank k with no progress this long: ask; 250 ms */
    unsigned rlnc_max_partial;          /* generations being decoded, in total; 256 */
    unsigned rlnc_max_partial_per_peer; /* started by one peer's shards; 32 */
    size_t rlnc_max_mem;                /* decoder memory in total; 256 MiB */
    int64_t rlnc_gen_ttl_ns;            /* an incomplete generation is dropped after; 30 s */

    weft_ps_score_params score;
} weft_ps_config;

/* Defaults as documented above (GossipSub spec defaults; score off). */
WEFT_API void weft_ps_config_default(weft_ps_config *cfg, int mode);

/* Counters (monotonic) of one router. */
typedef struct weft_ps_stats {
    uint64_t rpc_in, rpc_out, rpc_bytes_in, rpc_bytes_out;
    uint64_t rpc_malformed, rpc_too_big, rpc_send_failed;
    uint64_t published, delivered;
    uint64_t msgs_in, msgs_duplicate;
    /* dropped messages by reason */
    uint64_t drop_bad_signature, drop_unknown_topic, drop_too_big, drop_graylisted,
        drop_self_origin, drop_bad_id, drop_seen_full;
    uint64_t mcache_full;
    uint64_t ihave_in, iwant_in, iwant_served, iwant_ignored, idontwant_in, idontwant_out;
    uint64_t graft_in, prune_in, graft_backoff_violations, graft_out, prune_out;
    /* RLNC */
    uint64_t shards_sent, shards_new, shards_unhelpful, shards_duplicate, shards_unnecessary;
    uint64_t shards_invalid, shards_beyond_k, shards_unknown, shards_over_limit;
    uint64_t gens_started, gens_decoded, gens_polluted, gens_expired, gens_evicted;
    uint64_t wants_sent, wants_in, completes_sent, completes_in;
    uint64_t peers_added, peers_removed;
} weft_ps_stats;

/* NULL with *err set on a bad configuration (WEFT_EINVAL) or -ENOMEM. */
WEFT_API weft_ps *weft_ps_new(const weft_ps_config *cfg, int *err);
WEFT_API void weft_ps_free(weft_ps *ps);
WEFT_API const weft_peer_id *weft_ps_self(const weft_ps *ps);
/* The largest RPC frame accepted (cfg.max_rpc_size, or its default): the
 * bound for the embedding's frame readers. */
WEFT_API size_t weft_ps_max_rpc_size(const weft_ps *ps);
WEFT_API void weft_ps_get_stats(const weft_ps *ps, weft_ps_stats *out);

/* A connection to a peer is up. protos: enum weft_ps_proto bits (may grow
 * later with weft_ps_peer_protos). The router announces our subscriptions
 * once the peer can receive them. Returns NULL on -ENOMEM or a duplicate. */
WEFT_API weft_ps_peer *weft_ps_add_peer(weft_ps *ps, const weft_peer_id *id, int outbound,
                                        unsigned protos, void *peer_user);
WEFT_API void weft_ps_peer_protos(weft_ps *ps, weft_ps_peer *p, unsigned protos);
WEFT_API void weft_ps_remove_peer(weft_ps *ps, weft_ps_peer *p);
WEFT_API weft_ps_peer *weft_ps_find_peer(const weft_ps *ps, const weft_peer_id *id);
WEFT_API const weft_peer_id *weft_ps_peer_id(const weft_ps_peer *p);
WEFT_API double weft_ps_peer_score(const weft_ps *ps, const weft_ps_peer *p);

/* One RPC frame from a peer. Returns 0 or the reason it was refused
 * (WEFT_EPROTO malformed, WEFT_ETOOBIG); the router has already counted and
 * penalised it, and the embedding may keep the stream. */
WEFT_API int weft_ps_on_rpc(weft_ps *ps, weft_ps_peer *p, unsigned proto, const uint8_t *frame,
                            size_t len);

/* Call every cfg.tick_ns: heartbeat when due, RLNC repair, expiry. */
WEFT_API void weft_ps_tick(weft_ps *ps);

WEFT_NODISCARD WEFT_API int weft_ps_subscribe(weft_ps *ps, const char *topic);
WEFT_NODISCARD WEFT_API int weft_ps_unsubscribe(weft_ps *ps, const char *topic);
WEFT_API int weft_ps_subscribed(const weft_ps *ps, const char *topic);
/* Publish; id_out (may be NULL, >= 64 bytes) receives the message id and
 * *id_len its length. Returns 0, WEFT_ETOOBIG, WEFT_EINVAL, -ENOMEM.
 * Publishing to a topic with no known peers succeeds (nobody gets it). */
WEFT_NODISCARD WEFT_API int weft_ps_publish(weft_ps *ps, const char *topic, const void *data,
                                            size_t len, uint8_t *id_out, size_t *id_len);

/* Introspection for the node's API and the tests. */
WEFT_API size_t weft_ps_topics(const weft_ps *ps, const char **out, size_t max);
WEFT_API size_t weft_ps_mesh_peers(const weft_ps *ps, const char *topic, weft_ps_peer **out,
                                   size_t max);
WEFT_API size_t weft_ps_topic_peers(const weft_ps *ps, const char *topic, weft_ps_peer **out,
                                    size_t max);
/* Bytes of message payload held (mcache, decoders); for memory-bound tests. */
WEFT_API size_t weft_ps_memory(const weft_ps *ps);

#ifdef __cplusplus
}
#endif
#endif
