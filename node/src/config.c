/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Environment of weft-node (config.h). Defaults and ranges are in one table
 * for the help text; the checks that relate variables (mesh bounds) follow
 * the per-variable ones.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "weft/codec.h"
#include "weft/log.h"
#include "weft/loop.h"

#define MAX_MSG_LIMIT (64LL << 20)

const char node_config_help[] =
    "Environment (all optional; default in brackets):\n"
    "  NODE_MODE              optimum (RLNC coded mesh) | gossipsub [optimum]\n"
    "  CLUSTER_ID             node name in logs and metrics [weft-node]\n"
    "  LOG_LEVEL              debug|info|warn|error [info]\n"
    "  SIDECAR_PORT           gRPC sidecar for clients, 1..65535 [33212]\n"
    "  API_PORT               HTTP API and /metrics, 1..65535 [9090]\n"
    "  OPTIMUM_PORT           P2P port in optimum mode, 1..65535 [7070]\n"
    "  GOSSIPSUB_PORT         P2P port in gossipsub mode, 1..65535 [OPTIMUM_PORT when\n"
    "                         only that is set, else 6060]\n"
    "  IDENTITY_DIR           directory of p2p.key, created with a new key if absent [/identity]\n"
    "  BOOTSTRAP_PEERS        comma-separated /ip4/<ip>/tcp/<port>/p2p/<peer-id> (or /ip6,\n"
    "                         /dns4, /dns6, /dns: names resolved again at each dial), dialled\n"
    "                         with retry and backoff, redialled when the connection drops []\n"
    "  OPTIMUM_MAX_MSG_SIZE   largest message in optimum mode, bytes, 1..67108864 [1048576]\n"
    "  GOSSIPSUB_MAX_MSG_SIZE the same in gossipsub mode [1048576]\n"
    "  OPTIMUM_MESH_TARGET    mesh degree D, 1..64 [6]\n"
    "  OPTIMUM_MESH_MIN       D_lo, 0..64, below the target [3, as guides 002/003;\n"
    "                         guide 001 writes 4]\n"
    "  OPTIMUM_MESH_MAX       D_hi, 2..256, above the target [12]\n"
    "  OPTIMUM_SHARD_FACTOR   k, pieces per message, 1..255 [4]\n"
    "  OPTIMUM_SHARD_MULT     coded shards sent = ceil(k x mult), 1..64 [1.5]\n"
    "  OPTIMUM_THRESHOLD      forward/decode threshold ratio in (0, 1] [0.75]\n"
    "weft's own:\n"
    "  WEFT_LISTEN_IP         bind address of the P2P, sidecar and API ports [0.0.0.0]\n"
    "  WEFT_GEOIP_DB          MaxMind GeoLite2 database for the country fields [none: unknown]\n"
    "  WEFT_PUBLIC_IP         address whose country is reported [the listen address]\n"
    "  WEFT_TRACE_RPC         also stream RECV_RPC/SEND_RPC/DROP_RPC traces [false]\n"
    "  WEFT_GOSSIPSUB_VERSION 1.2 (IDONTWANT on large messages) or 1.1 (IDONTWANT off) [1.2]\n"
    "  WEFT_CLIENT_QUEUE_BYTES  bytes queued per sidecar client before deliveries to it are\n"
    "                         dropped (counted), 1048576..4294967296 [268435456]\n"
    "  WEFT_TRANSPORT         auto|uring|epoll event loop [auto: uring when available]\n"
    "  WEFT_KAD               server|client|off: the Kademlia DHT /ipfs/kad/1.0.0 [server].\n"
    "                         server answers DHT queries and advertises the protocol; client\n"
    "                         only asks (for nodes others cannot dial, e.g. behind NAT).\n"
    "                         BOOTSTRAP_PEERS fill the routing table; peers it finds are\n"
    "                         dialled while below OPTIMUM_MESH_MAX connections [by role]\n"
    "Roles (also node.* and network.* of a --config FILE.yaml; the environment wins):\n"
    "  WEFT_ROLE              none|bootstrap|relay|worker: defaults for the five below [none]\n"
    "                         bootstrap: WEFT_KAD=server, 4096 connections, no mDNS, no relay\n"
    "                         relay:     WEFT_KAD=server, 1024 connections, relay hop on\n"
    "                         worker:    WEFT_KAD=client, 256 connections, mDNS and relay\n"
    "                                    client on\n"
    "                         none:      WEFT_KAD=server, 1024 connections, both off\n"
    "  WEFT_CAPABILITIES      comma-separated names a worker offers (compute, storage, ...),\n"
    "                         each [a-z0-9_-], 1..32 characters, at most 16 []\n"
    "  WEFT_MAX_CONNECTIONS   P2P connection limit, 1..65536 [by role]\n"
    "  WEFT_HEARTBEAT_INTERVAL  seconds between capability heartbeats, 1..3600 [30]\n"
    "  WEFT_PROTOCOL_VERSION  network name, [A-Za-z0-9._/-], 1..64 characters [p2p-network]\n"
    "  WEFT_MDNS              mDNS discovery (not built yet: stored, logged) [by role]\n"
    "  WEFT_RELAY             circuit relay v2: hop for relay, client otherwise (not built\n"
    "                         yet: stored, logged) [by role]\n"
    "  WEFT_CONNECTION_TIMEOUT  seconds from TCP connect to a ready connection, 1..300 [10]\n";

static const char *(*g_name_of)(const char *var);

void
node_config_set_namer(const char *(*name_of)(const char *var))
{
    g_name_of = name_of;
}

static const char *
vname(const char *var)
{
    const char *n = g_name_of ? g_name_of(var) : NULL;
    return n ? n : var;
}

const char *
node_role_name(int role)
{
    static const char *const names[] = {"none", "bootstrap", "relay", "worker"};
    return role >= 0 && role <= NODE_ROLE_WORKER ? names[role] : "none";
}

static int
token_ok(const char *s, size_t maxlen, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (extra && strchr(extra, c))))
            return 0;
    }
    return 1;
}

/* WEFT_CAPABILITIES: a list without empty entries or repeats. */
static int
parse_caps(node_config *cfg, const char *text, char err[WEFT_ENV_ERR])
{
    cfg->ncaps = 0;
    const char *v = text;
    size_t idx = 0;
    while (v && *v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        char one[NODE_CAP_LEN + 1];
        int bad = n == 0 || n > NODE_CAP_LEN;
        if (!bad) {
            memcpy(one, v, n);
            one[n] = 0;
            bad = !token_ok(one, NODE_CAP_LEN, NULL);
        }
        if (bad) {
            snprintf(err, WEFT_ENV_ERR,
                     "%s entry %zu \"%.*s\": expected a name of 1..32 characters [a-z0-9_-]",
                     vname("WEFT_CAPABILITIES"), idx, (int)(n > 64 ? 64 : n), v);
            return WEFT_EINVAL;
        }
        for (size_t i = 0; i < cfg->ncaps; i++)
            if (!strcmp(cfg->caps[i], one)) {
                snprintf(err, WEFT_ENV_ERR, "%s entry %zu \"%s\": expected each name once",
                         vname("WEFT_CAPABILITIES"), idx, one);
                return WEFT_EINVAL;
            }
        if (cfg->ncaps == NODE_MAX_CAPS) {
            snprintf(err, WEFT_ENV_ERR, "%s: expected at most %d entries",
                     vname("WEFT_CAPABILITIES"), NODE_MAX_CAPS);
            return WEFT_EINVAL;
        }
        memcpy(cfg->caps[cfg->ncaps++], one, n + 1);
        idx++;
        v = end ? end + 1 : NULL;
    }
    return 0;
}

const char *
node_mode_name(int mode)
{
    return mode == NODE_GOSSIPSUB ? "gossipsub" : "optimum";
}

int
node_config_p2p_port(const node_config *cfg)
{
    return cfg->mode == NODE_GOSSIPSUB ? cfg->gossipsub_port : cfg->optimum_port;
}

long long
node_config_max_msg(const node_config *cfg)
{
    return cfg->mode == NODE_GOSSIPSUB ? cfg->gossipsub_max_msg : cfg->optimum_max_msg;
}

static int
parse_bootstrap(node_config *cfg, char err[WEFT_ENV_ERR])
{
    const char *v = cfg->bootstrap_text;
    cfg->nbootstrap = 0;
    if (!v || !*v)
        return 0;
    size_t idx = 0;
    while (*v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        while (n && (*v == ' ' || *v == '\t'))
            v++, n--;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        idx++;
        if (n) {
            char one[512];
            weft_multiaddr ma;
            int bad = n >= sizeof one;
            if (!bad) {
                memcpy(one, v, n);
                one[n] = 0;
                int has_peer = 0; /* the form only: names are resolved at each dial */
                bad = weft_ma_parse(one, &ma) < 0 ||
                      weft_ma_resolve(&ma, 0, NULL, NULL, NULL, &has_peer, NULL, 0) < 0 ||
                      !has_peer;
            }
            if (bad) {
                snprintf(err, WEFT_ENV_ERR,
                         "BOOTSTRAP_PEERS entry %zu \"%.*s\": expected "
                         "/ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>/p2p/<peer-id>",
                         idx, (int)(n > 120 ? 120 : n), v);
                return WEFT_EINVAL;
            }
            if (cfg->nbootstrap == NODE_MAX_BOOTSTRAP) {
                snprintf(err, WEFT_ENV_ERR, "BOOTSTRAP_PEERS: expected at most %d entries",
                         NODE_MAX_BOOTSTRAP);
                return WEFT_EINVAL;
            }
            cfg->bootstrap[cfg->nbootstrap++] = ma;
        }
        if (!end)
            break;
        v = end + 1;
    }
    return 0;
}

int
node_config_load(node_config *cfg, char err[WEFT_ENV_ERR])
{
    static const char *const modes[] = {"optimum", "gossipsub", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    memset(cfg, 0, sizeof *cfg);
    long long v;
    int lvl;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)
    TRY(weft_env_choice("NODE_MODE", "optimum", modes, &cfg->mode, err));
    TRY(weft_env_str("CLUSTER_ID", "weft-node", 128, &cfg->cluster_id, err));
    TRY(weft_env_choice("LOG_LEVEL", "info", levels, &lvl, err));
    cfg->log_level_name = levels[lvl];
    cfg->log_level = weft_log_parse_level(levels[lvl]);
    TRY(weft_env_port("SIDECAR_PORT", 33212, &cfg->sidecar_port, err));
    TRY(weft_env_port("API_PORT", 9090, &cfg->api_port, err));
    TRY(weft_env_port("OPTIMUM_PORT", 7070, &cfg->optimum_port, err));
    TRY(weft_env_port("GOSSIPSUB_PORT", 6060, &cfg->gossipsub_port, err));
    /* The guides' compose files set only OPTIMUM_PORT; NODE_MODE=gossipsub
     * then listens there too, so one file serves both modes. */
    const char *gp = weft_env_get("GOSSIPSUB_PORT"), *op = weft_env_get("OPTIMUM_PORT");
    if ((!gp || !*gp) && op && *op)
        cfg->gossipsub_port = cfg->optimum_port;
    TRY(weft_env_str("IDENTITY_DIR", "/identity", 1024, &cfg->identity_dir, err));
    TRY(weft_env_str("BOOTSTRAP_PEERS", "", 32768, &cfg->bootstrap_text, err));
    TRY(weft_env_int("OPTIMUM_MAX_MSG_SIZE", 1048576, 1, MAX_MSG_LIMIT, &cfg->optimum_max_msg,
                     err));
    TRY(weft_env_int("GOSSIPSUB_MAX_MSG_SIZE", 1048576, 1, MAX_MSG_LIMIT, &cfg->gossipsub_max_msg,
                     err));
    TRY(weft_env_int("OPTIMUM_MESH_TARGET", 6, 1, 64, &v, err));
    cfg->mesh_target = (int)v;
    TRY(weft_env_int("OPTIMUM_MESH_MIN", 3, 0, 64, &v, err)); /* guides 002/003; 001 says 4 */
    cfg->mesh_min = (int)v;
    TRY(weft_env_int("OPTIMUM_MESH_MAX", 12, 2, 256, &v, err));
    cfg->mesh_max = (int)v;
    TRY(weft_env_int("OPTIMUM_SHARD_FACTOR", 4, 1, WEFT_MAX_K < 255 ? WEFT_MAX_K : 255, &v, err));
    cfg->shard_factor = (int)v;
    TRY(weft_env_real("OPTIMUM_SHARD_MULT", 1.5, 1.0, 0, 64.0, &cfg->shard_mult, err));
    TRY(weft_env_real("OPTIMUM_THRESHOLD", 0.75, 0.0, 1, 1.0, &cfg->threshold, err));
    TRY(weft_env_str("WEFT_LISTEN_IP", "0.0.0.0", 64, &cfg->listen_ip, err));
    TRY(weft_env_str("WEFT_GEOIP_DB", NULL, 4096, &cfg->geoip_db, err));
    TRY(weft_env_str("WEFT_PUBLIC_IP", NULL, 64, &cfg->public_ip, err));
    TRY(weft_env_bool("WEFT_TRACE_RPC", 0, &cfg->trace_rpc, err));
    static const char *const gs_versions[] = {"1.2", "1.1", NULL};
    int gsv;
    TRY(weft_env_choice("WEFT_GOSSIPSUB_VERSION", "1.2", gs_versions, &gsv, err));
    cfg->gossipsub_idontwant = gsv == 0;
    TRY(weft_env_int("WEFT_CLIENT_QUEUE_BYTES", 256LL << 20, 1LL << 20, 4LL << 30,
                     &cfg->client_queue, err));
    static const char *const transports[] = {"auto", "uring", "io_uring", "epoll", NULL};
    static const int kinds[] = {WEFT_LOOP_AUTO, WEFT_LOOP_URING, WEFT_LOOP_URING, WEFT_LOOP_EPOLL};
    int t;
    TRY(weft_env_choice("WEFT_TRANSPORT", "auto", transports, &t, err));
    cfg->transport = kinds[t];
    cfg->transport_name = transports[t];
    static const char *const roles[] = {"none", "bootstrap", "relay", "worker", NULL};
    TRY(weft_env_choice("WEFT_ROLE", "none", roles, &cfg->role, err));
    /* Role defaults: bootstrap is the stable entry (DHT server, many
     * connections, nothing local), relay serves hops, a worker may sit
     * behind NAT (DHT client, mDNS and relay client on). */
    static const struct {
        const char *kad;
        int conns, mdns, relay;
    } by_role[] = {{"server", 1024, 0, 0},
                   {"server", 4096, 0, 0},
                   {"server", 1024, 0, 1},
                   {"client", 256, 1, 1}};
    static const char *const kads[] = {"server", "client", "off", NULL};
    TRY(weft_env_choice("WEFT_KAD", by_role[cfg->role].kad, kads, &cfg->kad, err));
    const char *caps;
    TRY(weft_env_str("WEFT_CAPABILITIES", "", 16 * 34, &caps, err));
    TRY(parse_caps(cfg, caps, err));
    TRY(weft_env_int("WEFT_MAX_CONNECTIONS", by_role[cfg->role].conns, 1, 65536, &v, err));
    cfg->max_connections = (int)v;
    TRY(weft_env_int("WEFT_HEARTBEAT_INTERVAL", 30, 1, 3600, &v, err));
    cfg->heartbeat_interval = (int)v;
    TRY(weft_env_str("WEFT_PROTOCOL_VERSION", "p2p-network", 64, &cfg->protocol_version, err));
    if (!token_ok(cfg->protocol_version, 64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ./")) {
        snprintf(err, WEFT_ENV_ERR, "%s=\"%.64s\": expected 1..64 characters of [A-Za-z0-9._/-]",
                 vname("WEFT_PROTOCOL_VERSION"), cfg->protocol_version);
        return WEFT_EINVAL;
    }
    TRY(weft_env_bool("WEFT_MDNS", by_role[cfg->role].mdns, &cfg->mdns, err));
    TRY(weft_env_bool("WEFT_RELAY", by_role[cfg->role].relay, &cfg->relay, err));
    TRY(weft_env_int("WEFT_CONNECTION_TIMEOUT", 10, 1, 300, &v, err));
    cfg->connection_timeout = (int)v;
#undef TRY
    /* The three ports are bound on the same address: one of them given
     * twice would pass here and fail at start-up. */
    const int p2p = node_config_p2p_port(cfg);
    const char *p2p_name = cfg->mode == NODE_GOSSIPSUB ? "GOSSIPSUB_PORT" : "OPTIMUM_PORT";
    const struct {
        const char *a, *b;
        int pa, pb;
    } pairs[] = {
        {"SIDECAR_PORT", "API_PORT", cfg->sidecar_port, cfg->api_port},
        {"SIDECAR_PORT", p2p_name, cfg->sidecar_port, p2p},
        {"API_PORT", p2p_name, cfg->api_port, p2p},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        if (pairs[i].pa == pairs[i].pb) {
            snprintf(err, WEFT_ENV_ERR, "%s=%d and %s=%d: expected a different port for each",
                     vname(pairs[i].a), pairs[i].pa, vname(pairs[i].b), pairs[i].pb);
            return WEFT_EINVAL;
        }
    if (!(cfg->mesh_min < cfg->mesh_target && cfg->mesh_target < cfg->mesh_max)) {
        snprintf(err, WEFT_ENV_ERR,
                 "OPTIMUM_MESH_MIN=%d, OPTIMUM_MESH_TARGET=%d, OPTIMUM_MESH_MAX=%d: expected "
                 "OPTIMUM_MESH_MIN < OPTIMUM_MESH_TARGET < OPTIMUM_MESH_MAX",
                 cfg->mesh_min, cfg->mesh_target, cfg->mesh_max);
        return WEFT_EINVAL;
    }
    weft_multiaddr probe;
    char text[96];
    int v6 = strchr(cfg->listen_ip, ':') != NULL;
    snprintf(text, sizeof text, "/%s/%s/tcp/1", v6 ? "ip6" : "ip4", cfg->listen_ip);
    /* One address: the multiaddr parser alone would take "1.2.3.4/tcp/5"
     * (more components after the address). */
    unsigned char bin[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, cfg->listen_ip, bin) != 1 ||
        weft_ma_parse(text, &probe) < 0) {
        snprintf(err, WEFT_ENV_ERR, "WEFT_LISTEN_IP=\"%.64s\": expected an IPv4 or IPv6 address",
                 cfg->listen_ip);
        return WEFT_EINVAL;
    }
    return parse_bootstrap(cfg, err);
}

char *
node_config_json(const node_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "NODE_MODE", node_mode_name(cfg->mode));
    cJSON_AddStringToObject(o, "CLUSTER_ID", cfg->cluster_id);
    cJSON_AddStringToObject(o, "LOG_LEVEL", cfg->log_level_name);
    cJSON_AddNumberToObject(o, "SIDECAR_PORT", cfg->sidecar_port);
    cJSON_AddNumberToObject(o, "API_PORT", cfg->api_port);
    cJSON_AddNumberToObject(o, "OPTIMUM_PORT", cfg->optimum_port);
    cJSON_AddNumberToObject(o, "GOSSIPSUB_PORT", cfg->gossipsub_port);
    cJSON_AddStringToObject(o, "IDENTITY_DIR", cfg->identity_dir);
    cJSON *bs = cJSON_AddArrayToObject(o, "BOOTSTRAP_PEERS");
    for (size_t i = 0; i < cfg->nbootstrap; i++) {
        char t[512];
        if (weft_ma_to_text(&cfg->bootstrap[i], t, sizeof t) >= 0)
            cJSON_AddItemToArray(bs, cJSON_CreateString(t));
    }
    cJSON_AddNumberToObject(o, "OPTIMUM_MAX_MSG_SIZE", (double)cfg->optimum_max_msg);
    cJSON_AddNumberToObject(o, "GOSSIPSUB_MAX_MSG_SIZE", (double)cfg->gossipsub_max_msg);
    cJSON_AddNumberToObject(o, "OPTIMUM_MESH_TARGET", cfg->mesh_target);
    cJSON_AddNumberToObject(o, "OPTIMUM_MESH_MIN", cfg->mesh_min);
    cJSON_AddNumberToObject(o, "OPTIMUM_MESH_MAX", cfg->mesh_max);
    cJSON_AddNumberToObject(o, "OPTIMUM_SHARD_FACTOR", cfg->shard_factor);
    cJSON_AddNumberToObject(o, "OPTIMUM_SHARD_MULT", cfg->shard_mult);
    cJSON_AddNumberToObject(o, "OPTIMUM_THRESHOLD", cfg->threshold);
    cJSON_AddStringToObject(o, "WEFT_LISTEN_IP", cfg->listen_ip);
    cJSON_AddBoolToObject(o, "WEFT_GEOIP_DB", cfg->geoip_db != NULL);
    cJSON_AddBoolToObject(o, "WEFT_TRACE_RPC", cfg->trace_rpc);
    cJSON_AddStringToObject(o, "WEFT_GOSSIPSUB_VERSION", cfg->gossipsub_idontwant ? "1.2" : "1.1");
    cJSON_AddNumberToObject(o, "WEFT_CLIENT_QUEUE_BYTES", (double)cfg->client_queue);
    cJSON_AddStringToObject(o, "WEFT_TRANSPORT", cfg->transport_name);
    cJSON_AddStringToObject(o, "WEFT_KAD",
                            cfg->kad == NODE_KAD_SERVER   ? "server"
                            : cfg->kad == NODE_KAD_CLIENT ? "client"
                                                          : "off");
    cJSON_AddStringToObject(o, "WEFT_ROLE", node_role_name(cfg->role));
    cJSON *caps = cJSON_AddArrayToObject(o, "WEFT_CAPABILITIES");
    for (size_t i = 0; i < cfg->ncaps; i++)
        cJSON_AddItemToArray(caps, cJSON_CreateString(cfg->caps[i]));
    cJSON_AddNumberToObject(o, "WEFT_MAX_CONNECTIONS", cfg->max_connections);
    cJSON_AddNumberToObject(o, "WEFT_HEARTBEAT_INTERVAL", cfg->heartbeat_interval);
    cJSON_AddStringToObject(o, "WEFT_PROTOCOL_VERSION", cfg->protocol_version);
    cJSON_AddBoolToObject(o, "WEFT_MDNS", cfg->mdns);
    cJSON_AddBoolToObject(o, "WEFT_RELAY", cfg->relay);
    cJSON_AddNumberToObject(o, "WEFT_CONNECTION_TIMEOUT", cfg->connection_timeout);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
