/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy's environment (proxy/src/config.c): CLUSTER_ID and P2P_NODES
 * are required, ports take "8080" or ":8080" with GATEWAY_PORT as the
 * older name of PROXY_PORT, SUBSCRIBER_THRESHOLD is in [0.1, 1], auth needs
 * a JWKS, and every bad value gets one line naming it.
 *
 * Every test starts without any of the proxy's variables and unsets what it
 * set when it ends.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "weft/common.h"
#include "weft/log.h"

static const char *const vars[] = {
    "CLUSTER_ID",
    "P2P_NODES",
    "PROXY_PORT",
    "GATEWAY_PORT",
    "PROXY_GRPC_PORT",
    "ENABLE_AUTH",
    "AUTH0_DOMAIN",
    "AUTH0_AUDIENCE",
    "WEFT_JWKS",
    "SUBSCRIBER_THRESHOLD",
    "LOG_LEVEL",
    "WEFT_LISTEN_IP",
    "WEFT_FALLBACK_MS",
    "WEFT_MAX_MESSAGE_SIZE",
    "WEFT_CLIENT_QUEUE_BYTES",
    "WEFT_TLS_CA_FILE",
    "WEFT_JWKS_REFRESH_S",
    "WEFT_JWKS_MIN_INTERVAL_MS",
};

static void
clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
}

/* The two required variables, valid. */
static void
base_env(void)
{
    setenv("CLUSTER_ID", "proxy-1", 1);
    setenv("P2P_NODES", "127.0.0.1:33212", 1);
}

static void
setup(void)
{
    clear_env();
    base_env();
}

TestSuite(proxy_config, .init = setup, .fini = clear_env);

static px_config g_cfg;
static char g_err[WEFT_ENV_ERR];

static int
load(void)
{
    memset(g_err, 0, sizeof g_err);
    return px_config_load(&g_cfg, g_err);
}

/* The required variables plus name=value; expect the exact error line. */
static void
expect_error(const char *name, const char *value, const char *line)
{
    clear_env();
    base_env();
    cr_assert_eq(setenv(name, value, 1), 0);
    cr_expect_eq(load(), WEFT_EINVAL, "%s=\"%s\" was accepted", name, value);
    cr_expect_str_eq(g_err, line, "%s=\"%s\"", name, value);
    cr_expect_null(strchr(g_err, '\n'), "error of %s is not one line", name);
    clear_env();
    base_env();
}

static void
expect_ok(const char *name, const char *value)
{
    clear_env();
    base_env();
    cr_assert_eq(setenv(name, value, 1), 0);
    cr_expect_eq(load(), 0, "%s=\"%s\" refused: %s", name, value, g_err);
}

Test(proxy_config, defaults)
{
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_str_eq(g_cfg.cluster_id, "proxy-1");
    cr_expect_eq(g_cfg.http_port, 8080);
    cr_expect_eq(g_cfg.grpc_port, 50051);
    cr_expect_eq(g_cfg.enable_auth, 0);
    cr_expect_null(g_cfg.auth0_domain);
    cr_expect_null(g_cfg.auth0_audience);
    cr_expect_null(g_cfg.jwks);
    cr_expect_float_eq(g_cfg.threshold, 0.1, 1e-12);
    cr_expect_str_eq(g_cfg.log_level_name, "info");
    cr_expect_eq(g_cfg.log_level, weft_log_parse_level("info"));
    cr_expect_str_eq(g_cfg.listen_ip, "0.0.0.0");
    cr_expect_eq(g_cfg.fallback_ms, 2000);
    cr_expect_eq(g_cfg.max_message, 1048576);
    cr_expect_eq(g_cfg.client_queue, 16LL << 20);
    cr_expect_eq(g_cfg.nnodes, 1);
    cr_expect_str_eq(g_cfg.nodes[0], "127.0.0.1:33212");
}

Test(proxy_config, cluster_id_is_required)
{
    unsetenv("CLUSTER_ID");
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "CLUSTER_ID is not set: expected the proxy's name");
    setenv("CLUSTER_ID", "", 1); /* empty is unset */
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "CLUSTER_ID is not set: expected the proxy's name");
    char big[140];
    memset(big, 'p', 129);
    big[129] = 0;
    char line[WEFT_ENV_ERR];
    snprintf(line, sizeof line, "CLUSTER_ID=\"%.64s...\": expected at most 128 characters", big);
    expect_error("CLUSTER_ID", big, line);
}

Test(proxy_config, p2p_nodes_is_required)
{
    unsetenv("P2P_NODES");
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "P2P_NODES=\"\": expected at least one host:port");
    setenv("P2P_NODES", " , ,", 1);
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "P2P_NODES=\" , ,\": expected at least one host:port");
}

Test(proxy_config, p2p_nodes_list)
{
    setenv("P2P_NODES", " node-1:33212,, node-2:33213 ,[::1]:5,10.0.0.4:65535", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_assert_eq(g_cfg.nnodes, 4);
    cr_expect_str_eq(g_cfg.nodes[0], "node-1:33212");
    cr_expect_str_eq(g_cfg.nodes[1], "node-2:33213");
    cr_expect_str_eq(g_cfg.nodes[2], "[::1]:5", "the last colon separates the port");
    cr_expect_str_eq(g_cfg.nodes[3], "10.0.0.4:65535");
}

Test(proxy_config, p2p_nodes_errors)
{
    static const char *const bad[][2] = {
        {"node-1", "P2P_NODES entry 1 \"node-1\": expected host:port"},
        {":33212", "P2P_NODES entry 1 \":33212\": expected host:port"},
        {"a:1,b:0", "P2P_NODES entry 2 \"b:0\": expected host:port"},
        {"a:1,,b:65536", "P2P_NODES entry 3 \"b:65536\": expected host:port"},
        {"a:12x", "P2P_NODES entry 1 \"a:12x\": expected host:port"},
        {"a:", "P2P_NODES entry 1 \"a:\": expected host:port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_error("P2P_NODES", bad[i][0], bad[i][1]);
    /* an entry longer than its slot */
    static char huge[400];
    memset(huge, 'h', 200);
    strcpy(huge + 200, ":1");
    char line[WEFT_ENV_ERR];
    snprintf(line, sizeof line, "P2P_NODES entry 1 \"%.100s\": expected host:port", huge);
    expect_error("P2P_NODES", huge, line);
    /* at most PX_MAX_NODES */
    static char many[PX_MAX_NODES * 24];
    size_t o = 0;
    for (int i = 0; i <= PX_MAX_NODES; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "%sn%d:%d", i ? "," : "", i, 1000 + i);
    snprintf(line, sizeof line, "P2P_NODES: expected at most %d nodes", PX_MAX_NODES);
    expect_error("P2P_NODES", many, line);
    *strrchr(many, ',') = 0;
    expect_ok("P2P_NODES", many);
    cr_expect_eq(g_cfg.nnodes, PX_MAX_NODES);
}

Test(proxy_config, ports_and_gateway_alias)
{
    setenv("PROXY_PORT", ":8081", 1);
    setenv("PROXY_GRPC_PORT", "50052", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.http_port, 8081);
    cr_expect_eq(g_cfg.grpc_port, 50052);
    /* GATEWAY_PORT is used when PROXY_PORT is unset or empty ... */
    unsetenv("PROXY_PORT");
    setenv("GATEWAY_PORT", ":9000", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.http_port, 9000);
    setenv("PROXY_PORT", "", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.http_port, 9000);
    /* ... and PROXY_PORT wins when both are set */
    setenv("PROXY_PORT", "8082", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.http_port, 8082);
    /* the error names the variable that was read */
    unsetenv("PROXY_PORT");
    setenv("GATEWAY_PORT", "99999", 1);
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(
        g_err, "GATEWAY_PORT=\"99999\": expected a TCP port in 1..65535 (\"8080\" or \":8080\")");
    unsetenv("GATEWAY_PORT");
    expect_error("PROXY_PORT", "0",
                 "PROXY_PORT=\"0\": expected a TCP port in 1..65535 (\"8080\" or \":8080\")");
    expect_error("PROXY_PORT", "::8080",
                 "PROXY_PORT=\"::8080\": expected a TCP port in 1..65535 (\"8080\" or \":8080\")");
    expect_error("PROXY_GRPC_PORT", "65536",
                 "PROXY_GRPC_PORT=\"65536\": expected a TCP port in 1..65535 (\"8080\" or "
                 "\":8080\")");
}

Test(proxy_config, subscriber_threshold)
{
    expect_error("SUBSCRIBER_THRESHOLD", "0.09",
                 "SUBSCRIBER_THRESHOLD=\"0.09\": expected a number in [0.1, 1]");
    expect_error("SUBSCRIBER_THRESHOLD", "1.5",
                 "SUBSCRIBER_THRESHOLD=\"1.5\": expected a number in [0.1, 1]");
    expect_error("SUBSCRIBER_THRESHOLD", "half",
                 "SUBSCRIBER_THRESHOLD=\"half\": expected a number in [0.1, 1]");
    expect_ok("SUBSCRIBER_THRESHOLD", "0.1");
    cr_expect_float_eq(g_cfg.threshold, 0.1, 1e-12);
    expect_ok("SUBSCRIBER_THRESHOLD", "1");
    cr_expect_float_eq(g_cfg.threshold, 1.0, 1e-12);
    expect_ok("SUBSCRIBER_THRESHOLD", "0.66");
    cr_expect_float_eq(g_cfg.threshold, 0.66, 1e-12);
}

Test(proxy_config, weft_limits)
{
    expect_error("WEFT_FALLBACK_MS", "9",
                 "WEFT_FALLBACK_MS=\"9\": expected an integer in 10..600000");
    expect_error("WEFT_FALLBACK_MS", "600001",
                 "WEFT_FALLBACK_MS=\"600001\": expected an integer in 10..600000");
    expect_ok("WEFT_FALLBACK_MS", "10");
    cr_expect_eq(g_cfg.fallback_ms, 10);
    expect_error("WEFT_MAX_MESSAGE_SIZE", "0",
                 "WEFT_MAX_MESSAGE_SIZE=\"0\": expected an integer in 1..67108864");
    expect_error("WEFT_MAX_MESSAGE_SIZE", "67108865",
                 "WEFT_MAX_MESSAGE_SIZE=\"67108865\": expected an integer in 1..67108864");
    expect_ok("WEFT_MAX_MESSAGE_SIZE", "67108864");
    cr_expect_eq(g_cfg.max_message, 67108864);
    expect_error("WEFT_CLIENT_QUEUE_BYTES", "65535",
                 "WEFT_CLIENT_QUEUE_BYTES=\"65535\": expected an integer in 65536..4294967296");
    expect_ok("WEFT_CLIENT_QUEUE_BYTES", "65536");
    cr_expect_eq(g_cfg.client_queue, 65536);
    expect_error("LOG_LEVEL", "trace",
                 "LOG_LEVEL=\"trace\": expected one of debug|info|warn|error");
    expect_ok("LOG_LEVEL", "ERROR");
    cr_expect_str_eq(g_cfg.log_level_name, "error");
    cr_expect_eq(g_cfg.log_level, weft_log_parse_level("error"));
}

Test(proxy_config, auth_settings)
{
    expect_error("ENABLE_AUTH", "sometimes", "ENABLE_AUTH=\"sometimes\": expected true or false");
    /* auth without keys cannot verify anything */
    setenv("ENABLE_AUTH", "true", 1);
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "ENABLE_AUTH=true: neither AUTH0_DOMAIN nor WEFT_JWKS is set: "
                            "expected the Auth0 domain (its key set is fetched over https) or a "
                            "JWKS file or URL");
    /* the guides' form: the domain alone (its key set comes over https) */
    setenv("AUTH0_DOMAIN", "tenant.example.com", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_null(g_cfg.jwks);
    setenv("WEFT_JWKS", "/etc/weft/jwks.json", 1);
    setenv("AUTH0_AUDIENCE", "https://api.example.com", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.enable_auth, 1);
    cr_expect_str_eq(g_cfg.jwks, "/etc/weft/jwks.json");
    cr_expect_str_eq(g_cfg.auth0_domain, "tenant.example.com");
    cr_expect_str_eq(g_cfg.auth0_audience, "https://api.example.com");
    /* with auth off the JWKS is optional */
    setenv("ENABLE_AUTH", "false", 1);
    unsetenv("WEFT_JWKS");
    cr_expect_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.enable_auth, 0);
    char big[300];
    memset(big, 'd', 257);
    big[257] = 0;
    char line[WEFT_ENV_ERR];
    snprintf(line, sizeof line, "AUTH0_DOMAIN=\"%.64s...\": expected at most 256 characters", big);
    expect_error("AUTH0_DOMAIN", big, line);
}

Test(proxy_config, help_names_every_variable)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        cr_expect_not_null(strstr(px_config_help, vars[i]), "%s not in --help", vars[i]);
}

/* What start-up would refuse, check-config refuses too (the same loader):
 * one port for REST and gRPC; the key set settings and their ranges. */
Test(proxy_config, start_up_agreement)
{
    expect_error("PROXY_GRPC_PORT", "8080",
                 "PROXY_PORT=8080 and PROXY_GRPC_PORT=8080: expected a different port for each");
    expect_error("PROXY_PORT", ":50051",
                 "PROXY_PORT=50051 and PROXY_GRPC_PORT=50051: expected a different port for each");
    expect_error("WEFT_JWKS_REFRESH_S", "0",
                 "WEFT_JWKS_REFRESH_S=\"0\": expected an integer in 1..86400");
    expect_error("WEFT_JWKS_MIN_INTERVAL_MS", "99",
                 "WEFT_JWKS_MIN_INTERVAL_MS=\"99\": expected an integer in 100..3600000");
    setenv("WEFT_TLS_CA_FILE", "/tmp/ca.pem", 1);
    setenv("WEFT_JWKS_REFRESH_S", "30", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_str_eq(g_cfg.tls_ca_file, "/tmp/ca.pem");
    cr_expect_eq(g_cfg.jwks_refresh_s, 30);
    cr_expect_eq(g_cfg.jwks_retry_ms, 10000);
    expect_error("SUBSCRIBER_THRESHOLD", "0x0.8",
                 "SUBSCRIBER_THRESHOLD=\"0x0.8\": expected a number in [0.1, 1]");
}
