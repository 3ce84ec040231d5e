/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy's environment (proxy.h). Ports accept "8080" and ":8080" as
 * the guides write them; GATEWAY_PORT is the older name of PROXY_PORT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "weft/log.h"

const char px_config_help[] =
    "Environment (default in brackets):\n"
    "  CLUSTER_ID            proxy name in logs and metrics (required)\n"
    "  P2P_NODES             comma-separated host:port of node sidecars (required)\n"
    "  PROXY_PORT            REST and WebSocket, \":8080\" or \"8080\" [:8080]; GATEWAY_PORT\n"
    "                        is accepted when PROXY_PORT is unset\n"
    "  PROXY_GRPC_PORT       gRPC ProxyStream [:50051]\n"
    "  SUBSCRIBER_THRESHOLD  default delivery threshold, share of connected nodes that must\n"
    "                        have delivered a message, 0.1..1 [0.1]\n"
    "  ENABLE_AUTH           true|false: require RS256 JWTs [false]\n"
    "  AUTH0_DOMAIN          token issuer https://<domain>/ (checked when set)\n"
    "  AUTH0_AUDIENCE        required audience (checked when set)\n"
    "  WEFT_JWKS             JWKS file path or http://host:port/path URL (required with auth)\n"
    "  LOG_LEVEL             debug|info|warn|error [info]\n"
    "weft's own:\n"
    "  WEFT_LISTEN_IP        bind address [0.0.0.0]\n"
    "  WEFT_FALLBACK_MS      deliver a message below its threshold after this long, 10..600000\n"
    "                        [2000] (counted in message_fallback_deliveries_total)\n"
    "  WEFT_MAX_MESSAGE_SIZE largest publish in bytes, 1..67108864 [1048576]\n"
    "  WEFT_CLIENT_QUEUE_BYTES bytes queued per subscriber stream before it is dropped as a\n"
    "                        slow consumer, 65536..4294967296 [16777216]\n";

static int
parse_nodes(px_config *c, char err[WEFT_ENV_ERR])
{
    const char *v = c->nodes_text;
    c->nnodes = 0;
    size_t idx = 0;
    while (v && *v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        while (n && (*v == ' ' || *v == '\t'))
            v++, n--;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        idx++;
        if (n) {
            const char *colon = memrchr(v, ':', n);
            char *pe = NULL;
            long port = colon ? strtol(colon + 1, &pe, 10) : 0;
            if (!colon || colon == v || pe != v + n || port < 1 || port > 65535 ||
                n >= sizeof c->nodes[0]) {
                snprintf(err, WEFT_ENV_ERR, "P2P_NODES entry %zu \"%.*s\": expected host:port", idx,
                         (int)(n > 100 ? 100 : n), v);
                return WEFT_EINVAL;
            }
            if (c->nnodes == PX_MAX_NODES) {
                snprintf(err, WEFT_ENV_ERR, "P2P_NODES: expected at most %d nodes", PX_MAX_NODES);
                return WEFT_EINVAL;
            }
            memcpy(c->nodes[c->nnodes], v, n);
            c->nodes[c->nnodes][n] = 0;
            c->nnodes++;
        }
        if (!end)
            break;
        v = end + 1;
    }
    if (!c->nnodes) {
        snprintf(err, WEFT_ENV_ERR, "P2P_NODES=\"%s\": expected at least one host:port",
                 c->nodes_text ? c->nodes_text : "");
        return WEFT_EINVAL;
    }
    return 0;
}

int
px_config_load(px_config *c, char err[WEFT_ENV_ERR])
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    memset(c, 0, sizeof *c);
    int lvl;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)
    TRY(weft_env_str("CLUSTER_ID", NULL, 128, &c->cluster_id, err));
    if (!c->cluster_id) {
        snprintf(err, WEFT_ENV_ERR, "CLUSTER_ID is not set: expected the proxy's name");
        return WEFT_EINVAL;
    }
    const char *pp = weft_env_get("PROXY_PORT");
    TRY(weft_env_port(pp && *pp ? "PROXY_PORT" : "GATEWAY_PORT", 8080, &c->http_port, err));
    TRY(weft_env_port("PROXY_GRPC_PORT", 50051, &c->grpc_port, err));
    TRY(weft_env_bool("ENABLE_AUTH", 0, &c->enable_auth, err));
    TRY(weft_env_str("AUTH0_DOMAIN", NULL, 256, &c->auth0_domain, err));
    TRY(weft_env_str("AUTH0_AUDIENCE", NULL, 256, &c->auth0_audience, err));
    TRY(weft_env_str("WEFT_JWKS", NULL, 4096, &c->jwks, err));
    TRY(weft_env_str("P2P_NODES", NULL, 16384, &c->nodes_text, err));
    TRY(weft_env_real("SUBSCRIBER_THRESHOLD", 0.1, 0.1, 0, 1.0, &c->threshold, err));
    TRY(weft_env_choice("LOG_LEVEL", "info", levels, &lvl, err));
    c->log_level_name = levels[lvl];
    c->log_level = weft_log_parse_level(levels[lvl]);
    TRY(weft_env_str("WEFT_LISTEN_IP", "0.0.0.0", 64, &c->listen_ip, err));
    TRY(weft_env_int("WEFT_FALLBACK_MS", 2000, 10, 600000, &c->fallback_ms, err));
    TRY(weft_env_int("WEFT_MAX_MESSAGE_SIZE", 1048576, 1, 64LL << 20, &c->max_message, err));
    TRY(weft_env_int("WEFT_CLIENT_QUEUE_BYTES", 16LL << 20, 65536, 4LL << 30, &c->client_queue,
                     err));
#undef TRY
    if (c->enable_auth && !c->jwks) {
        snprintf(err, WEFT_ENV_ERR,
                 "ENABLE_AUTH=true: WEFT_JWKS is not set: expected a JWKS file or http:// URL");
        return WEFT_EINVAL;
    }
    return parse_nodes(c, err);
}
