/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node internals shared by its parts:
 *   node.c     the P2P side, on the event-loop thread: host, topic mesh,
 *              bootstrap dialing, deliveries and traces to sidecar clients
 *   sidecar.c  the gRPC CommandStream service (gRPC's thread), handing
 *              commands to the loop thread through the bridge
 *   api.c      the HTTP API (h2o's thread), reading state the same way
 *   stats.c    metrics and the trace-derived state the API reports
 *   main.c     subcommands, configuration, start-up and shutdown
 * Fields marked [loop] are touched only on the loop thread.
 */
#ifndef WEFT_NODE_H
#define WEFT_NODE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "weft/clock.h"
#include "weft/host.h"
#include "weft/kad.h"
#include "weft/ps_host.h"
#include "weft/svc_bridge.h"
#include "weft/svc_grpc.h"
#include "weft/svc_http.h"
#include "weft/svc_metrics.h"
#include "weft/svc_sysinfo.h"

#define NODE_MAX_LISTEN 4
/* Topics one sidecar stream may hold: as many as the mesh can join (its
 * PS_MAX_TOPICS), since a proxy carries all of its clients' topics on one
 * stream per node. */
#define NODE_MAX_CLIENT_TOPICS 1024
/* Subscribe refusals a stream is told of; later ones are only counted. */
#define NODE_REFUSALS_TOLD 16
/* ListenCommands streams open at once; one more is refused (a proxy holds
 * one per node, a client one each). */
#define NODE_MAX_STREAMS 256
/* A stream whose gRPC backlog holds this many bytes gets no more traces. */
#define NODE_TRACE_BACKLOG ((size_t)1 << 20)
#define TOPIC_TEXT 257 /* a topic name (256 bytes) with NUL */

/* A sidecar client (one ListenCommands stream). Created on gRPC's thread,
 * owned by the loop thread from its first closure on. */
typedef struct sc_client {
    struct node *n;
    weft_grpc_call *call; /* a reference held until the client is gone */
    uint64_t id;
    char **topics;                 /* [loop] */
    size_t ntopics, ctopics;       /* [loop] */
    int half_closed, gone;         /* [loop] */
    unsigned refusals_told;        /* [loop] subscribe refusals answered */
    struct sc_client *next, *prev; /* [loop] */
} sc_client;

typedef struct node_dialer {
    struct node *n;
    weft_multiaddr ma;
    weft_peer_id peer;
    char text[256];
    int attempts, connected, dialing;
    weft_timer retry;
} node_dialer;

/* Per-peer shard and message counters from trace events [loop]. */
typedef struct node_peer_stat {
    weft_peer_id id;
    uint64_t shards_new, shards_duplicate, shards_unhelpful, shards_unnecessary;
    uint64_t messages, rpcs_in;
    int connected, outbound;
    char addr[WEFT_MA_TEXT_MAX];
    char dial[WEFT_MA_TEXT_MAX]; /* dialable address with /p2p/, from identify */
    int64_t since_ns;            /* unix ns of the last change */
} node_peer_stat;

typedef struct node_metrics {
    weft_metric *published, *publish_errors, *subscribe_refused, *delivered, *delivered_clients;
    weft_metric *dropped_too_big, *dropped_client_slow, *dropped_overload, *dropped_bad_request,
        *dropped_trace;
    weft_metric *clients, *sidecar_requests;
    weft_metric *shards_new, *shards_duplicate, *shards_unhelpful, *shards_unnecessary;
    weft_metric *decode_latency, *loop_lag;
    weft_metric *bootstrap_dials, *bootstrap_failures;
} node_metrics;

typedef struct node {
    node_config cfg;
    weft_identity identity;
    char peer_id[WEFT_PEER_ID_TEXT];
    char addrs[NODE_MAX_LISTEN][WEFT_MA_TEXT_MAX + WEFT_PEER_ID_TEXT];
    size_t naddrs;
    char country[64], country_iso[8];
    int64_t mono_to_unix; /* add to a loop timestamp for unix ns */

    weft_loop *loop;
    weft_host *host;
    weft_ps_host *psh;
    weft_ps *ps;
    weft_bridge *bridge;
    weft_grpc_server *grpc;
    weft_http_server *http;
    weft_metrics *metrics;
    node_metrics m;
    weft_geo *geo;

    node_dialer dialers[NODE_MAX_BOOTSTRAP];
    size_t ndialers;
    sc_client *clients;      /* [loop] */
    size_t nclients;         /* [loop] */
    uint64_t next_client_id; /* gRPC thread */
    atomic_int streams;      /* ListenCommands streams open (any thread) */
    struct node_stats *st;   /* [loop] trace-derived state (stats.c) */
    /* [loop] RPC traces streamed without WEFT_TRACE_RPC: those of the
     * exchange that follows a new connection or a JOIN (hello, subscription
     * announcements), until this router time or the budget runs out */
    int64_t rpc_window_until;
    int rpc_window_left;
    weft_timer tick;     /* [loop] lag probe */
    weft_kad_host *kad;  /* [loop] NULL when WEFT_KAD=off */
    weft_timer kad_fill; /* [loop] dials table peers while below OPTIMUM_MESH_MAX */
    uint64_t kad_dials;  /* [loop] */
    int64_t tick_due;
    volatile sig_atomic_t stopping;
} node;

/* node.c: start the P2P side (identity already loaded). 0 or negative with a
 * message printed. */
int node_p2p_start(node *n);
void node_p2p_stop(node *n);
/* [loop] a client subscribes to / leaves a topic; publish. */
int node_client_subscribe(node *n, sc_client *c, const char *topic);
void node_client_unsubscribe(node *n, sc_client *c, const char *topic);
void node_client_gone(node *n, sc_client *c);
/* [loop] the message id of a publish as hex into idhex (>= 129 bytes). */
int node_publish(node *n, const char *topic, const uint8_t *data, size_t len, char *idhex);
/* discovery.c: peer sharing (/weft/peers/1.0.0) */
int node_discovery_start(node *n);
void node_discovery_on_identify(node *n, weft_peer *p, const weft_identify *id); /* [loop] */

/* dht.c: the Kademlia DHT (WEFT_KAD) */
int node_dht_start(node *n);                          /* after the host: 0 or an error */
void node_dht_stop(node *n);                          /* before weft_host_free */
void node_dht_free(node *n);                          /* after it */
void node_dht_on_peer(node *n, weft_peer *p, int up); /* [loop] */
void node_dht_on_identify(node *n, weft_peer *p, const weft_identify *id); /* [loop] */
char *node_dht_json(node *n); /* [loop] /api/v1/dht (malloc'd) */

/* sidecar.c */
int node_sidecar_start(node *n);
void node_sidecar_stop(node *n);
/* [loop] deliveries and traces to clients */
void node_sidecar_deliver(node *n, const weft_ps_msg *m);
void node_sidecar_trace(node *n, const weft_ps_trace *ev);

/* api.c */
int node_api_start(node *n);
void node_api_stop(node *n);
/* The query of GET /api/v1/topics: topic (optional; 1..256 bytes without
 * control characters) into topic, and nodeinfo (true|false|1|0). 0 with
 * *has_topic and *nodeinfo set, or -1 after a 400 in resp naming the field. */
int node_api_topics_query(const char *query, size_t len, char topic[TOPIC_TEXT], int *has_topic,
                          int *nodeinfo, weft_http_resp *resp);

/* stats.c */
int node_stats_init(node *n);
void node_stats_free(node *n);
void node_stats_trace(node *n, const weft_ps_trace *ev); /* [loop] */
void node_stats_peer(node *n, weft_peer *p, int up);     /* [loop] */
/* [loop] the record of a peer, or NULL; discovery fills in its dial address. */
node_peer_stat *node_stats_find(node *n, const weft_peer_id *id);
/* [loop] every peer record (connected or not), count in *count. */
const node_peer_stat *node_stats_peers(node *n, size_t *count);
/* [loop] how many of those peers are connected now */
size_t node_stats_connected(node *n);
/* [loop] JSON bodies for the API (malloc'd). */
char *node_stats_snapshot_json(node *n);
char *node_stats_peers_json(node *n);

/* Hex of bytes into out (2n+1). */
void node_hex(const uint8_t *p, size_t n, char *out);

#endif
