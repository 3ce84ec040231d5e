/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node configuration: every environment variable of the OptimumP2P
 * node (spec/optimum-compat.md) with its default and range, plus weft's
 * own (WEFT_*). node_config_load validates all of it before anything
 * starts; the first bad value is reported in one line and the node exits.
 */
#ifndef WEFT_NODE_CONFIG_H
#define WEFT_NODE_CONFIG_H

#include <stddef.h>

#include "weft/multiaddr.h"
#include "weft/svc_env.h"

#define NODE_MAX_BOOTSTRAP 64

enum node_mode { NODE_OPTIMUM = 0, NODE_GOSSIPSUB = 1 };

typedef struct node_config {
    int mode;
    const char *cluster_id;
    int log_level;
    const char *log_level_name;
    int sidecar_port, api_port, optimum_port, gossipsub_port;
    const char *identity_dir;
    const char *bootstrap_text;
    weft_multiaddr bootstrap[NODE_MAX_BOOTSTRAP];
    size_t nbootstrap;
    long long optimum_max_msg, gossipsub_max_msg;
    int mesh_target, mesh_min, mesh_max;
    int shard_factor;
    double shard_mult, threshold;
    /* weft's own */
    const char *listen_ip;  /* WEFT_LISTEN_IP: bind address of every port [0.0.0.0] */
    const char *geoip_db;   /* WEFT_GEOIP_DB: GeoLite2 country/city database [none] */
    const char *public_ip;  /* WEFT_PUBLIC_IP: address looked up for the country [listen ip] */
    int trace_rpc;          /* WEFT_TRACE_RPC: also stream RECV/SEND/DROP_RPC traces [false] */
    long long client_queue; /* WEFT_CLIENT_QUEUE_BYTES: per sidecar client [268435456] */
} node_config;

/* 0, or WEFT_EINVAL with err holding the line to print. */
int node_config_load(node_config *cfg, char err[WEFT_ENV_ERR]);
/* The P2P port of the active mode, and its message size limit. */
int node_config_p2p_port(const node_config *cfg);
long long node_config_max_msg(const node_config *cfg);
const char *node_mode_name(int mode);
/* The active configuration as a JSON object (malloc'd), for /api/v1/config. */
char *node_config_json(const node_config *cfg);
/* Text for --help: every variable, its default and range. */
extern const char node_config_help[];

#endif
