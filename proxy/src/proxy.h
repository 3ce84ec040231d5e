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

#include "weft/clock.h"
#include "weft/svc_env.h"
#include "weft/svc_grpc.h"
#include "weft/svc_grpc_client.h"
#include "weft/svc_http.h"
#include "weft/svc_metrics.h"

#define PX_MAX_NODES 64
#define PX_ID_MAX 128 /* client id bytes */
#define PX_TOPIC_MAX 256
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
    long long fallback_ms;  /* WEFT_FALLBACK_MS: deliver anyway after [2000] */
    long long max_message;  /* WEFT_MAX_MESSAGE_SIZE: publish body limit [1048576] */
    long long client_queue; /* WEFT_CLIENT_QUEUE_BYTES per subscriber [16777216] */
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
/* Subscribe a topic on every node (idempotent; remembered for reconnects). */
void px_pool_subscribe(px_pool *pl, const char *topic);
/* Queue a publish on a healthy node (round-robin); failover on failure.
 * 0, WEFT_ELIMIT (every queue full), WEFT_ECLOSED (no node connected). */
int px_pool_publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len);
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
/* A client subscribes (threshold in [0.1, 1]). 0, or WEFT_ELIMIT (too many).
 * keep: an existing subscription keeps its threshold (a gRPC stream naming
 * a topic the client subscribed to over REST). */
int px_engine_subscribe(px_engine *e, const char *client, const char *topic, double threshold,
                        int keep);
size_t px_engine_topics(px_engine *e, const char *client, char (*out)[PX_TOPIC_MAX + 1],
                        size_t max);
/* Attach / detach a delivery sink (a gRPC ClientStream call, a WebSocket). */
int px_engine_attach(px_engine *e, const char *client, int kind, void *handle);
void px_engine_detach(px_engine *e, const char *client, int kind, void *handle);
/* A node delivered a message (the node's JSON). */
void px_engine_on_delivery(px_engine *e, int node, const char *json, size_t len);
/* Periodic: fallback deliveries, expiry. */
void px_engine_tick(px_engine *e, int64_t now_ms);

/* ---- the proxy ------------------------------------------------------------------------- */

typedef struct px_metrics {
    weft_metric *published, *publish_errors, *publish_size, *node_received, *fallback, *ws_clients,
        *grpc_clients, *nodes_connected, *deliveries, *dropped_slow, *dedup_publish, *http_latency,
        *auth_failures, *rate_limited;
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
    void *auth; /* JWKS and rate limiter when ENABLE_AUTH */
} proxy;

/* Deliver a message's payload to a gRPC ClientStream sink (engine.c calls
 * it; WebSocket sinks get the JSON by broadcast). Returns 0, WEFT_ELIMIT
 * (slow consumer) or closed. */
int px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload,
                      size_t len);
/* rest.c: lower-case hex of p[0..n) into out (2n + 1 bytes). */
/* The id a publish gets back (REST and gRPC alike): SHA-256 over client,
 * topic, a timestamp (the client's, or a fresh nonce) and the message, as
 * 64 hex digits. */
void px_message_id(const char *client, const char *topic, const char *ts, const uint8_t *m,
                   size_t n, char out[65]);

/* ws.c: the WebSocket upgrade handlers. */
struct weft_ws_handlers;
extern const struct weft_ws_handlers px_ws_handlers;

int px_rest_start(proxy *p);
void px_rest_stop(proxy *p);
int px_grpc_start(proxy *p);
void px_grpc_stop(proxy *p);

#endif
