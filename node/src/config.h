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
enum node_kad { NODE_KAD_SERVER = 0, NODE_KAD_CLIENT = 1, NODE_KAD_OFF = 2 };
/* WEFT_ROLE (node.role of a --config file): defaults for the settings below. */
enum node_role { NODE_ROLE_NONE = 0, NODE_ROLE_BOOTSTRAP, NODE_ROLE_RELAY, NODE_ROLE_WORKER };

#define NODE_MAX_CAPS 16
#define NODE_CAP_LEN 32

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
    int transport;          /* WEFT_TRANSPORT: enum weft_loop_kind (AUTO when unset) */
    const char *transport_name;
    /* WEFT_GOSSIPSUB_VERSION: 1.2 sends IDONTWANT for large messages, 1.1 does not [1.2] */
    int gossipsub_idontwant;
    int kad; /* WEFT_KAD: enum node_kad [server] */
    /* Roles (issue 18): each has a default from the role, see node_config_help. */
    int role;                                   /* WEFT_ROLE: enum node_role [none] */
    char caps[NODE_MAX_CAPS][NODE_CAP_LEN + 1]; /* WEFT_CAPABILITIES */
    size_t ncaps;
    int max_connections;          /* WEFT_MAX_CONNECTIONS: host connection limit */
    int heartbeat_interval;       /* WEFT_HEARTBEAT_INTERVAL: seconds, capability heartbeats */
    const char *protocol_version; /* WEFT_PROTOCOL_VERSION: network name [p2p-network] */
    int mdns;                     /* WEFT_MDNS: mDNS discovery wanted (not built yet) */
    int relay;                    /* WEFT_RELAY: relay hop (role relay) or client (not built yet) */
    int connection_timeout;       /* WEFT_CONNECTION_TIMEOUT: seconds, TCP connect to yamux ready */
} node_config;

/* Every check of the environment that start-up makes before it opens a
 * file or a port, check-config included: each value, the relations between
 * them (mesh bounds, distinct ports). 0, or WEFT_EINVAL with err holding
 * the line to print. */
int node_config_load(node_config *cfg, char err[WEFT_ENV_ERR]);
/* How an error names a variable: by default its own name; a --config file
 * installs one that names the file's key when the value came from there
 * (NULL restores the default). */
void node_config_set_namer(const char *(*name_of)(const char *var));
const char *node_role_name(int role);
/* The P2P port of the active mode, and its message size limit. */
int node_config_p2p_port(const node_config *cfg);
long long node_config_max_msg(const node_config *cfg);
const char *node_mode_name(int mode);
/* The active configuration as a JSON object (malloc'd), for /api/v1/config. */
char *node_config_json(const node_config *cfg);
/* Text for --help: every variable, its default and range. */
extern const char node_config_help[];

#endif
