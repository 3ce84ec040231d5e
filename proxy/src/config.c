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
    "  AUTH0_DOMAIN          token issuer https://<domain>/ (checked when set); with auth on,\n"
    "                        the key set is fetched from https://<domain>/.well-known/jwks.json\n"
    "  AUTH0_AUDIENCE        required audience (checked when set)\n"
    "  WEFT_JWKS             key set override: a file path, http:// or https:// URL (auth needs\n"
    "                        it or AUTH0_DOMAIN)\n"
    "  LOG_LEVEL             debug|info|warn|error [info]\n"
    "weft's own:\n"
    "  WEFT_LISTEN_IP        bind address [0.0.0.0]\n"
    "  WEFT_FALLBACK_MS      deliver a message below its threshold after this long, 10..600000\n"
    "                        [2000] (counted in message_fallback_deliveries_total)\n"
    "  WEFT_MAX_MESSAGE_SIZE largest publish in bytes, 1..67108864 [1048576]\n"
    "  WEFT_CLIENT_QUEUE_BYTES bytes queued per subscriber stream before it is dropped as a\n"
    "                        slow consumer, 65536..4294967296 [16777216]\n"
    "  WEFT_GEOIP_DB         MaxMind GeoLite2 database for the country fields, as the node's\n"
    "                        [none: country unknown, said once in the log]\n"
    "  WEFT_PUBLIC_IP        address whose country /api/v1/health reports [WEFT_LISTEN_IP]\n"
    "  WEFT_MAX_CLIENTS      client records held at once (then 429), 16..1048576 [65536]\n"
    "  WEFT_CLIENT_IDLE_S    a client with no WebSocket/gRPC stream and no request for this\n"
    "                        long is forgotten with its subscriptions, 1..604800 [600]\n"
    "  WEFT_METRICS_MAX_SERIES series per client-labelled metric family; the rest is\n"
    "                        counted under \"other\", 1..100000 [500]\n"
    "  WEFT_METRICS_SERIES_IDLE_S a series not updated for this long folds into \"other\",\n"
    "                        1..604800 [900]\n"
    "  WEFT_SHARE            true|false: share REST/gRPC subscriptions with the other\n"
    "                        proxies of WEFT_SHARE_GROUP through the nodes [true]\n"
    "  WEFT_SHARE_GROUP      proxies behind one load balancer, [A-Za-z0-9._-]{1,64} [weft]\n"
    "  WEFT_SHARE_KEY        secret (16..256 bytes) signing the shared records (HMAC-SHA256);\n"
    "                        with ENABLE_AUTH sharing is off unless it is set\n"
    "  WEFT_SHARE_TTL_S      shared records older than this are refused, 5..86400 [600]\n"
    "  WEFT_TLS_CA_FILE      PEM CA bundle that verifies the https key set server (a private\n"
    "                        CA, tests) [the system CA store]\n"
    "  WEFT_JWKS_REFRESH_S   refetch the key set this often, seconds, 1..86400 [600]; a token\n"
    "                        with an unknown kid also triggers a refetch\n"
    "  WEFT_JWKS_MIN_INTERVAL_MS  at most one refetch per this many ms, 100..3600000 [10000];\n"
    "                        a failed refetch keeps the last good key set\n";

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
            /* digits only: strtol would also take " 80" and "+0908" */
            if (!colon || colon == v || pe != v + n || colon[1] < '0' || colon[1] > '9' ||
                port < 1 || port > 65535 || n >= sizeof c->nodes[0]) {
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
    TRY(weft_env_str("WEFT_GEOIP_DB", NULL, 4096, &c->geoip_db, err));
    TRY(weft_env_str("WEFT_PUBLIC_IP", NULL, 64, &c->public_ip, err));
    TRY(weft_env_int("WEFT_MAX_CLIENTS", 65536, 16, 1048576, &c->max_clients, err));
    long long secs;
    TRY(weft_env_int("WEFT_CLIENT_IDLE_S", 600, 1, 604800, &secs, err));
    c->client_idle_ms = secs * 1000;
    TRY(weft_env_int("WEFT_METRICS_MAX_SERIES", 500, 1, 100000, &c->metrics_series, err));
    TRY(weft_env_int("WEFT_METRICS_SERIES_IDLE_S", 900, 1, 604800, &secs, err));
    c->metrics_idle_ms = secs * 1000;
    TRY(weft_env_bool("WEFT_SHARE", 1, &c->share, err));
    TRY(weft_env_str("WEFT_SHARE_GROUP", "weft", 64, &c->share_group, err));
    TRY(weft_env_str("WEFT_SHARE_KEY", NULL, 256, &c->share_key, err));
    TRY(weft_env_int("WEFT_SHARE_TTL_S", 600, 5, 86400, &secs, err));
    c->share_ttl_ms = secs * 1000;
    TRY(weft_env_str("WEFT_TLS_CA_FILE", NULL, 4096, &c->tls_ca_file, err));
    TRY(weft_env_int("WEFT_JWKS_REFRESH_S", 600, 1, 86400, &c->jwks_refresh_s, err));
    TRY(weft_env_int("WEFT_JWKS_MIN_INTERVAL_MS", 10000, 100, 3600000, &c->jwks_retry_ms, err));
#undef TRY
    for (const char *g = c->share_group; *g; g++)
        if (!((*g >= 'a' && *g <= 'z') || (*g >= 'A' && *g <= 'Z') || (*g >= '0' && *g <= '9') ||
              *g == '.' || *g == '_' || *g == '-')) {
            snprintf(err, WEFT_ENV_ERR,
                     "WEFT_SHARE_GROUP=\"%s\": expected 1..64 of A-Z a-z 0-9 . _ -",
                     c->share_group);
            return WEFT_EINVAL;
        }
    if (!*c->share_group) {
        snprintf(err, WEFT_ENV_ERR,
                 "WEFT_SHARE_GROUP is empty: expected 1..64 of A-Z a-z 0-9 . _ -");
        return WEFT_EINVAL;
    }
    if (c->share_key && strlen(c->share_key) < 16) {
        snprintf(err, WEFT_ENV_ERR, "WEFT_SHARE_KEY: %zu bytes, expected 16..256 (a shared secret)",
                 strlen(c->share_key));
        return WEFT_EINVAL;
    }
    if (c->http_port == c->grpc_port) {
        snprintf(err, WEFT_ENV_ERR,
                 "PROXY_PORT=%d and PROXY_GRPC_PORT=%d: expected a different port for each",
                 c->http_port, c->grpc_port);
        return WEFT_EINVAL;
    }
    if (c->enable_auth && !c->jwks && !c->auth0_domain) {
        snprintf(err, WEFT_ENV_ERR,
                 "ENABLE_AUTH=true: neither AUTH0_DOMAIN nor WEFT_JWKS is set: expected the "
                 "Auth0 domain (its key set is fetched over https) or a JWKS file or URL");
        return WEFT_EINVAL;
    }
    return parse_nodes(c, err);
}
