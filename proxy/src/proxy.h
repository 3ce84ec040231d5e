/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy internals.
 *
 *   config.c  environment (spec: PROXY_PORT/GATEWAY_PORT, PROXY_GRPC_PORT,
 *             CLUSTER_ID, ENABLE_AUTH, AUTH0_*, P2P_NODES, SUBSCRIBER_THRESHOLD)
 *   pool.c    one ListenCommands stream per node sidecar: every topic any
 *             client wants is subscribed on every node (so thresholds can be
 *             counted), publishes go round-robin over healthy nodes with
 *             failover, Health checks, reconnect with backoff, a circuit
 *             breaker per node
 *   engine.c  clients, their subscriptions and thresholds; deliveries from
 *             nodes counted per message id; a client gets a message once,
 *             when enough nodes delivered it or the fallback timeout passed
 *   rest.c    REST on PROXY_PORT;  front_grpc.c  ProxyStream on PROXY_GRPC_PORT
 *   share.c   subscriptions shared with the other proxies of WEFT_SHARE_GROUP
 *             through a reserved mesh topic
 *   stats.c   the metrics (labelled, bounded) and the GeoLite2 country
 *   main.c    start-up and shutdown
 *
 * Threads: h2o (REST), gRPC's completion queue (ProxyStream), one receiver
 * and one sender thread per node, and a ticker (fallbacks, health). The
 * engine's state is under one mutex; sinks (gRPC calls) are thread-safe.
 */
#ifndef WEFT_PROXY_H
#define WEFT_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "weft/clock.h"
#include "weft/svc_env.h"
#include "weft/svc_grpc.h"
#include "weft/svc_grpc_client.h"
#include "weft/svc_http.h"
#include "weft/svc_metrics.h"
#include "weft/svc_sysinfo.h"

#define PX_MAX_NODES 64
#define PX_ID_MAX 128    /* client id bytes */
#define PX_TOPIC_MAX 255 /* topic bytes: the nodes' mesh refuses 256 and more */
#define PX_MSGID_MAX 129 /* hex message id with NUL */

typedef struct px_config {
    int http_port, grpc_port;
    const char *listen_ip;
    const char *cluster_id;
    int enable_auth;
    const char *auth0_domain, *auth0_audience, *jwks;
    const char *nodes_text;
    char nodes[PX_MAX_NODES][160];
    size_t nnodes;
    double threshold;
    int log_level;
    const char *log_level_name;
    long long fallback_ms;     /* WEFT_FALLBACK_MS: deliver anyway after [2000] */
    long long max_message;     /* WEFT_MAX_MESSAGE_SIZE: publish body limit [1048576] */
    long long client_queue;    /* WEFT_CLIENT_QUEUE_BYTES per subscriber [16777216] */
    const char *geoip_db;      /* WEFT_GEOIP_DB: GeoLite2 database, as the node's [none] */
    const char *public_ip;     /* WEFT_PUBLIC_IP: address whose country is reported */
    long long max_clients;     /* WEFT_MAX_CLIENTS: client records held at once [65536] */
    long long client_idle_ms;  /* WEFT_CLIENT_IDLE_S: a client with no connection and no
                                  activity for this long is forgotten [600 s] */
    long long metrics_series;  /* WEFT_METRICS_MAX_SERIES per labelled family [500] */
    long long metrics_idle_ms; /* WEFT_METRICS_SERIES_IDLE_S: idle series fold into
                                  "other" [900 s] */
    int share;                 /* WEFT_SHARE: share subscriptions with the other proxies [true] */
    const char *share_group;   /* WEFT_SHARE_GROUP: proxies behind one balancer [weft] */
    const char *share_key;     /* WEFT_SHARE_KEY: HMAC key of the shared records */
    long long share_ttl_ms;    /* WEFT_SHARE_TTL_S: a record older than this is refused [600] */
    const char *tls_ca_file;   /* WEFT_TLS_CA_FILE: CA bundle for https JWKS [system store] */
    long long jwks_refresh_s;  /* WEFT_JWKS_REFRESH_S: periodic key set refresh [600] */
    long long jwks_retry_ms;   /* WEFT_JWKS_MIN_INTERVAL_MS: refreshes at most this often [10000] */
} px_config;

int px_config_load(px_config *c, char err[WEFT_ENV_ERR]);
extern const char px_config_help[];

/* ---- node pool ------------------------------------------------------------------ */

typedef struct px_node px_node;
typedef struct px_pool px_pool;
struct proxy;

/* Start one connection per node; deliveries go to engine_on_delivery. */
px_pool *px_pool_start(struct proxy *p, int *err);
void px_pool_stop(px_pool *pl);
/* Topics the pool carries in all: one stream per node holds every one of
 * them, and a node takes at most this many per stream (its
 * NODE_MAX_CLIENT_TOPICS, the mesh's own topic limit). */
#define PX_MAX_TOPICS 1024
/* Subscribe a topic on every node (idempotent; remembered for reconnects).
 * 0, WEFT_ELIMIT when PX_MAX_TOPICS other topics are carried, -ENOMEM. */
int px_pool_subscribe(px_pool *pl, const char *topic);
/* The end of one publish, called exactly once from a pool thread: rc 0 and
 * text the message id the node answered (hex, the mesh id subscribers and
 * snapshots show), or rc < 0 and text the reason; -ETIMEDOUT when no node
 * answered within PX_PUBLISH_WAIT_MS (the publish may still go out). */
typedef void (*px_pub_done)(void *user, int rc, const char *text);
/* Queue a publish on a healthy node (round-robin); failover on failure.
 * 0, WEFT_ELIMIT (every queue full), WEFT_ECLOSED (no node connected),
 * -ENOMEM; done (may be NULL) runs later only when this returns 0. */
int px_pool_publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len,
                    px_pub_done done, void *user);
/* The same for the proxies' own reserved topics (share.c), without a
 * completion; px_pool_publish refuses those with WEFT_EINVAL. */
int px_pool_publish_control(px_pool *pl, const char *topic, const uint8_t *data, size_t len);
/* Whether a publish to topic reaches a subscriber the guides would call
 * "assigned": 1 when a client subscribed to it through this proxy or a
 * connected node lists it (ListTopics: a subscription through another
 * proxy or straight on the node; remembered for 10 s), 0 when the nodes
 * asked do not have it, -1 when no node could be asked. Blocks up to
 * 500 ms per node asked (at most 3); REST thread. */
int px_pool_topic_assigned(px_pool *pl, const char *topic);
/* Nodes connected now, and the total. */
size_t px_pool_connected(px_pool *pl);
/* A node's breaker: PX_BREAKER_FAILS failed health checks in a row open it
 * for PX_BREAKER_MS; after that the node is tried again (half-open), and
 * one more failure opens it again. A good check, or a new stream, closes it. */
#define PX_BREAKER_FAILS 3
#define PX_BREAKER_MS 10000
typedef struct px_breaker {
    int open, fails;
    int64_t until; /* monotonic ms */
} px_breaker;
/* 1 when the breaker lets traffic through at now (ms). */
int px_breaker_usable(px_breaker *b, int64_t now);
/* One health result at now: ok closes the breaker; returns 1 when this
 * failure opened it. */
int px_breaker_health(px_breaker *b, int ok, int64_t now);

/* Per node: address, connected, healthy (breaker closed), country. */
typedef struct px_node_info {
    char addr[160];
    int connected, healthy;
    char country[64], country_iso[8], p2p[256], mode[16];
} px_node_info;
size_t px_pool_info(px_pool *pl, px_node_info *out, size_t max);

/* ---- engine ------------------------------------------------------------------------ */

enum { PX_SINK_GRPC = 1, PX_SINK_WS = 2 };

typedef struct px_engine px_engine;
px_engine *px_engine_new(struct proxy *p);
void px_engine_free(px_engine *e);
/* A client subscribes (threshold in [0.1, 1]). 0, WEFT_ELIMIT (too many), or
 * WEFT_EINVAL (a reserved topic, PX_RESERVED_PREFIX).
 * keep: an existing subscription keeps its threshold (a gRPC stream naming
 * a topic the client subscribed to over REST). */
int px_engine_subscribe(px_engine *e, const char *client, const char *topic, double threshold,
                        int keep);
/* Drop a client's subscription: 0, or 1 when it had none to that topic. The
 * nodes stay subscribed (another client may want the topic again soon). */
int px_engine_unsubscribe(px_engine *e, const char *client, const char *topic);
size_t px_engine_topics(px_engine *e, const char *client, char (*out)[PX_TOPIC_MAX + 1],
                        size_t max);
/* Attach / detach a delivery sink (a gRPC ClientStream call, a WebSocket). */
int px_engine_attach(px_engine *e, const char *client, int kind, void *handle);
void px_engine_detach(px_engine *e, const char *client, int kind, void *handle);
/* A node delivered a message (the node's JSON). */
void px_engine_on_delivery(px_engine *e, int node, const char *json, size_t len);
/* A subscription another proxy of the group reported (share.c): like
 * px_engine_subscribe(keep = 0) but not reported again. */
int px_engine_subscribe_shared(px_engine *e, const char *client, const char *topic,
                               double threshold);
/* A client's subscriptions (topics and thresholds, at most max), without
 * counting as activity (share.c answers other proxies with them). */
size_t px_engine_subs(px_engine *e, const char *client, char (*topics)[PX_TOPIC_MAX + 1],
                      double *th, size_t max);
/* Clients held now (tests, metrics). */
size_t px_engine_clients(px_engine *e);
/* Periodic: fallback deliveries, expiry. */
void px_engine_tick(px_engine *e, int64_t now_ms);

/* ---- the proxy ------------------------------------------------------------------------- */

/* publish_error_total{type=...} */
enum {
    PX_PERR_INVALID,      /* a body without message or message_length */
    PX_PERR_TOO_LARGE,    /* over WEFT_MAX_MESSAGE_SIZE */
    PX_PERR_OVERLOADED,   /* every node's queue full */
    PX_PERR_NO_NODE,      /* no node connected */
    PX_PERR_NODE_REFUSED, /* a node answered with an error */
    PX_PERR_LOST,         /* every retry failed */
    PX_PERR_N
};

typedef struct px_metrics {
    weft_metric *published, *perr[PX_PERR_N], *publish_size, *node_received, *fallback, *ws_clients,
        *grpc_clients, *nodes_connected, *deliveries, *dropped_slow, *dropped_no_stream,
        *dedup_publish, *http_latency, *auth_failures, *rate_limited, *clients, *clients_expired,
        *share_sent, *share_applied, *share_refused, *subscribe_refused, *jwks_refresh_ok,
        *jwks_refresh_failed;
} px_metrics;

typedef struct proxy {
    px_config cfg;
    px_pool *pool;
    px_engine *engine;
    weft_http_server *http;
    weft_grpc_server *grpc;
    weft_metrics *metrics;
    px_metrics m;
    atomic_int stopping;
    void *auth;                         /* JWKS and rate limiter when ENABLE_AUTH */
    weft_metric *node_rx[PX_MAX_NODES]; /* node_received_messages_total{node=...} */
    weft_metrics_vec *published_by;     /* published_messages_by_client_total */
    weft_geo *geo;                      /* WEFT_GEOIP_DB, or NULL */
    char country[64], country_iso[8];   /* of WEFT_PUBLIC_IP / WEFT_LISTEN_IP */
    /* share.c, while sharing is on (else NULL); the engine calls them
     * without its lock held. */
    struct px_share *share;
    void (*on_subscribed)(struct proxy *p, const char *client, const char *topic, double t);
    void (*on_control)(struct proxy *p, int node, const char *json, size_t len);
    void (*on_attached)(struct proxy *p, const char *client); /* a stream or WebSocket */
} proxy;

/* ---- stats.c: the registry and the labelled families ------------------------------ */

int px_stats_init(proxy *p);
/* A publish accepted from client on topic, n bytes. */
void px_stats_published(proxy *p, const char *client, const char *topic, size_t n);
void px_stats_publish_error(proxy *p, int type);
void px_stats_node_received(proxy *p, int node);
/* GeoLite2 as the node does it: the proxy's own country; without a
 * database "unknown", said once in the log. */
void px_stats_geo_open(proxy *p);
void px_stats_geo_close(proxy *p);

/* ---- share.c: subscriptions shared by the proxies of one WEFT_SHARE_GROUP ---------- */

/* Topics starting with this are the proxies' own; clients may not use them. */
#define PX_RESERVED_PREFIX "_weft/"
static inline int
px_topic_reserved(const char *topic)
{
    return topic && !strncmp(topic, PX_RESERVED_PREFIX, sizeof PX_RESERVED_PREFIX - 1);
}
/* Start sharing (after the pool): subscribes the group's control topic and
 * sets p->on_subscribed / p->on_control. 0 also when sharing stays off
 * (said in the log). */
int px_share_start(proxy *p);
void px_share_stop(proxy *p);

/* Deliver a message's payload to a gRPC ClientStream sink (engine.c calls
 * it; WebSocket sinks get the JSON by broadcast). Returns 0, WEFT_ELIMIT
 * (slow consumer) or closed. */
int px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload,
                      size_t len);
/* publish.c: a REST publish. ts: the client's timestamp text, or NULL
 * (then always a new message). A true retry (same client, topic, timestamp
 * and content as a publish a node acknowledged within PX_DEDUP_WINDOW_MS,
 * or one still in flight) is not sent again. cb runs exactly once, from
 * any thread (possibly before px_publish returns): status PX_PUB_SENT or
 * PX_PUB_DEDUP with text the node's message id, or < 0 with text the
 * reason (WEFT_ELIMIT overload, WEFT_ECLOSED no node, -ETIMEDOUT no answer
 * within PX_PUBLISH_WAIT_MS, WEFT_EPROTO refused by the node, -ENOMEM). */
#define PX_PUBLISH_WAIT_MS 10000
#define PX_DEDUP_WINDOW_MS 300000
enum { PX_PUB_SENT = 0, PX_PUB_DEDUP = 1 };
typedef void (*px_publish_cb)(void *user, int status, const char *text);
void px_publish(proxy *p, const char *client, const char *topic, const char *ts,
                const uint8_t *data, size_t n, px_publish_cb cb, void *user);

/* ws.c: the WebSocket upgrade handlers. */
struct weft_ws_handlers;
extern const struct weft_ws_handlers px_ws_handlers;

int px_rest_start(proxy *p);
void px_rest_stop(proxy *p);
/* One REST request answered on the calling thread, as the server's
 * handler does (for the fuzz target: no server, no socket). */
void px_rest_handle(proxy *p, const weft_http_req *r, weft_http_resp *resp);
int px_grpc_start(proxy *p);
void px_grpc_stop(proxy *p);

#endif
