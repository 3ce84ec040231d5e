/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The router's private state, shared by ps_core.c (peers, topics, meshes,
 * heartbeat, control), ps_gossip.c (whole messages), ps_rlnc.c (coded
 * shards) and ps_score.c (peer scoring).
 */
#ifndef WEFT_PS_INTERNAL_H
#define WEFT_PS_INTERNAL_H

#include <stdint.h>

#include "ps_map.h"
#include "weft/codec.h"
#include "weft/pubsub.h"

#define PS_MAX_TOPICS 1024     /* topics known in total */
#define PS_MAX_PEER_TOPICS 256 /* subscriptions one peer may hold */
#define PS_TOPIC_MAX 256       /* bytes of a topic name */
#define PS_SEEN_MAX (1u << 20)
#define PS_IDONTWANT_MAX 4096 /* ids remembered per peer */
#define PS_PROMISES_MAX 4096

typedef struct ps_topic ps_topic;
typedef struct ps_msg ps_msg;
typedef struct rl_gen rl_gen;

/* A peer's relation to one topic: membership, mesh, score counters. */
typedef struct ps_ptopic {
    ps_topic *t;
    int subscribed;
    int in_mesh;
    int64_t graft_time;
    int mesh_active;         /* P3 activation passed */
    double first_deliveries; /* P2 */
    double mesh_deliveries;  /* P3 */
    double mesh_failure;     /* P3b */
    double invalid;          /* P4 */
} ps_ptopic;

struct weft_ps_peer {
    weft_peer_id id;
    uint64_t serial; /* unique per router, for records that outlive the peer */
    void *user;
    int outbound;
    unsigned protos;
    int hello_sent; /* our subscriptions went out */
    ps_ptopic *tp;
    size_t ntp, tpcap;
    double behaviour; /* P7 counter */
    unsigned partial; /* RLNC generations its shards started, still partial */
    double score;     /* cached at heartbeat */
    /* per heartbeat */
    unsigned ihave_msgs, iwant_asked;
    /* IDONTWANT: ids this peer does not want (gossip mode) */
    ps_map dont;
    /* batched control output, flushed at the end of each entry point */
    weft_rpc_writer ctl, rctl;
    int dirty, rdirty;
    int gone;
};

struct ps_topic {
    char name[PS_TOPIC_MAX];
    size_t nlen;
    int subscribed;
    weft_ps_peer **peers; /* subscribed to it */
    size_t npeers, peers_cap;
    weft_ps_peer **mesh;
    size_t nmesh, mesh_cap;
    weft_ps_peer **fanout;
    size_t nfanout, fanout_cap;
    int64_t fanout_last; /* last publish without subscribing; 0 = no fanout */
    ps_map backoff;      /* peer id -> until (t) */
};

/* A whole message held for IWANT and forwarding (gossipsub mode). */
struct ps_msg {
    uint8_t id[PS_KEY_MAX];
    size_t id_len;
    ps_topic *t;
    uint8_t *rpc; /* RPC{publish: [this message]} ready to send */
    size_t rpc_len;
    size_t data_len;
    unsigned window; /* mcache window it was added in */
    ps_map served;   /* peer id -> times served by IWANT */
};

/* The RLNC forwarding policy: how many recoded shards go to whom. */
typedef struct rl_peer {
    weft_ps_peer *p;
    uint16_t sent, recv; /* shards of this generation to / from the peer */
    uint16_t hint, got;  /* its last Have: its rank, and how many of ours it had */
    uint16_t over;       /* shards past k from it (dropped) */
    uint8_t complete;    /* it told us it has the message */
    uint8_t announced;   /* it announced the id by IHAVE */
    uint8_t asked;       /* we asked it (want) */
} rl_peer;

typedef struct rl_policy {
    const char *name;
    const char *about;
    /* 1: nothing is forwarded below the threshold rank (the spec's reading).
     * 0: below it the shard received is passed on as it came; from the
     * threshold on, fresh recoded shards go out. */
    int strict_threshold;
    /* 1: it reads peers' Have reports (est_need), so relays send them. */
    int reads_have;
    size_t fanout; /* targets per innovative shard; 0 = every eligible peer */
    /* An innovative shard arrived from `from` (NULL for our own publish);
     * choose up to max targets among g's candidate peers. Returns count. */
    size_t (*on_innovative)(weft_ps *ps, const struct rl_policy *pol, rl_gen *g,
                            const weft_ps_peer *from, rl_peer **out, size_t max);
} rl_policy;

struct weft_ps {
    weft_ps_config cfg;
    weft_peer_id self;
    uint8_t self_pk_pb[36];
    weft_rng rng;
    weft_ps_stats st;
    weft_ps_peer **peers;
    size_t npeers, peers_cap;
    ps_topic **topics;
    size_t ntopics, topics_cap;
    int64_t next_heartbeat;
    uint64_t heartbeats;
    uint64_t seqno;
    uint64_t next_serial;
    int in_call; /* re-entrancy depth: flush at the outermost */
    /* gossipsub mode */
    ps_map seen;     /* id -> first seen (t) */
    ps_map mcache;   /* id -> ps_msg */
    unsigned window; /* current mcache window number */
    ps_map promises; /* id -> IWANT deadline (t), val = peer asked (by id copy) */
    size_t held_bytes;
    weft_rpc_writer w; /* scratch for messages */
    weft_buf scratch;
    /* RLNC mode */
    ps_map gens; /* msg id -> rl_gen */
    const rl_policy *policy;
    size_t rl_mem;
    unsigned rl_partial;
};

/* ---- ps_core.c ---- */
ps_topic *ps_topic_find(const weft_ps *ps, const uint8_t *name, size_t len);
ps_topic *ps_topic_get(weft_ps *ps, const uint8_t *name, size_t len);
ps_ptopic *ps_ptopic_find(weft_ps_peer *p, const ps_topic *t);
int ps_in_list(weft_ps_peer *const *list, size_t n, const weft_ps_peer *p);
int64_t ps_now(const weft_ps *ps);
void ps_trace(weft_ps *ps, int type, const weft_ps_peer *peer, weft_bytes id, weft_bytes topic,
              const char *reason, weft_bytes coeffs);
/* Send a frame now (messages, shards); counts and traces. */
int ps_send(weft_ps *ps, weft_ps_peer *p, unsigned proto, const uint8_t *f, size_t n);
/* The batched control writer of a peer (marks it dirty). */
weft_rpc_writer *ps_ctl(weft_ps *ps, weft_ps_peer *p, unsigned proto);
void ps_enter(weft_ps *ps);
/* Send a peer's batched control now (ahead of what is sent next). */
void ps_flush_peer(weft_ps *ps, weft_ps_peer *p);
void ps_leave(weft_ps *ps);
/* Penalise a peer's behaviour (P7) by n. */
void ps_penalise(weft_ps *ps, weft_ps_peer *p, double n);
void ps_shuffle(weft_ps *ps, weft_ps_peer **v, size_t n);
int ps_list_add(weft_ps_peer ***v, size_t *n, size_t *cap, weft_ps_peer *p);
int ps_list_del(weft_ps_peer **v, size_t *n, const weft_ps_peer *p);
ps_ptopic *ps_ptopic_get(weft_ps_peer *p, ps_topic *t);
/* Can carry this mode's traffic (meshsub, and in RLNC mode the rlnc protocol). */
int ps_mesh_capable(const weft_ps *ps, const weft_ps_peer *p);

/* ---- ps_mesh.c ---- */
int ps_mesh_on_sub(void *u, int subscribe, weft_bytes topic);
int ps_mesh_on_graft(void *u, weft_bytes topic);
int ps_mesh_on_prune(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers,
                     int has_backoff, uint64_t backoff_s);
void ps_mesh_upkeep(weft_ps *ps, ps_topic *t);
/* The visitor context of weft_ps_on_rpc. */
typedef struct ps_rpc_ctx {
    weft_ps *ps;
    weft_ps_peer *p;
    int ihave_counted;
} ps_rpc_ctx;
static inline weft_bytes
ps_b(const void *p, size_t n)
{
    weft_bytes b = {(const uint8_t *)p, n};
    return b;
}

/* ---- ps_gossip.c ---- */
int ps_gossip_init(weft_ps *ps);
void ps_gossip_free(weft_ps *ps);
int ps_gossip_on_msg(weft_ps *ps, weft_ps_peer *from, const weft_rpc_msg *m);
void ps_gossip_on_ihave(weft_ps *ps, weft_ps_peer *from, weft_bytes topic, weft_bytes id);
void ps_gossip_on_iwant(weft_ps *ps, weft_ps_peer *from, weft_bytes id);
void ps_gossip_on_idontwant(weft_ps *ps, weft_ps_peer *from, weft_bytes id);
int ps_gossip_publish(weft_ps *ps, ps_topic *t, const uint8_t *data, size_t len, uint8_t *id,
                      size_t *id_len);
void ps_gossip_heartbeat(weft_ps *ps);

/* ---- ps_rlnc.c ---- */
int ps_rlnc_init(weft_ps *ps);
void ps_rlnc_free(weft_ps *ps);
int ps_rlnc_on_shard(weft_ps *ps, weft_ps_peer *from, const weft_rpc_shard *s);
void ps_rlnc_on_complete(weft_ps *ps, weft_ps_peer *from, weft_bytes id);
void ps_rlnc_on_ihave(weft_ps *ps, weft_ps_peer *from, weft_bytes topic, weft_bytes id);
void ps_rlnc_on_want(weft_ps *ps, weft_ps_peer *from, weft_bytes id, uint32_t rank);
void ps_rlnc_on_have(weft_ps *ps, weft_ps_peer *from, weft_bytes id, uint32_t rank, uint32_t got);
int ps_rlnc_publish(weft_ps *ps, ps_topic *t, const uint8_t *data, size_t len, uint8_t *id,
                    size_t *id_len);
void ps_rlnc_tick(weft_ps *ps);
void ps_rlnc_heartbeat(weft_ps *ps);
void ps_rlnc_peer_gone(weft_ps *ps, weft_ps_peer *p);
const rl_policy *ps_rlnc_policy(const char *name);

/* ---- ps_score.c ---- */
double ps_score(const weft_ps *ps, const weft_ps_peer *p);
void ps_score_decay(weft_ps *ps);
void ps_score_graft(weft_ps *ps, weft_ps_peer *p, ps_topic *t);
void ps_score_prune(weft_ps *ps, weft_ps_peer *p, ps_topic *t);
/* A valid message (or innovative shard) first from p (first = 1) or again
 * while p is in the mesh (first = 0). */
void ps_score_delivery(weft_ps *ps, weft_ps_peer *p, ps_topic *t, int first);
void ps_score_invalid(weft_ps *ps, weft_ps_peer *p, ps_topic *t);

#endif
