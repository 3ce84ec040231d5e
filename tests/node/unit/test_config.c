/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node's environment (node/src/config.c): the defaults of every
 * variable, each range check with its exact one-line error (variable,
 * value, expectation), the mesh-bound relation, the listen address,
 * BOOTSTRAP_PEERS parsing and the JSON of /api/v1/config.
 *
 * Every test starts from an environment without any of the node's
 * variables and unsets what it set when it ends.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "weft/common.h"
#include "weft/identity.h"
#include "weft/log.h"
#include "weft/loop.h"

static const char *const vars[] = {
    "NODE_MODE",
    "CLUSTER_ID",
    "LOG_LEVEL",
    "SIDECAR_PORT",
    "API_PORT",
    "OPTIMUM_PORT",
    "GOSSIPSUB_PORT",
    "IDENTITY_DIR",
    "BOOTSTRAP_PEERS",
    "OPTIMUM_MAX_MSG_SIZE",
    "GOSSIPSUB_MAX_MSG_SIZE",
    "OPTIMUM_MESH_TARGET",
    "OPTIMUM_MESH_MIN",
    "OPTIMUM_MESH_MAX",
    "OPTIMUM_SHARD_FACTOR",
    "OPTIMUM_SHARD_MULT",
    "OPTIMUM_THRESHOLD",
    "WEFT_LISTEN_IP",
    "WEFT_GEOIP_DB",
    "WEFT_PUBLIC_IP",
    "WEFT_TRACE_RPC",
    "WEFT_CLIENT_QUEUE_BYTES",
    "WEFT_TRANSPORT",
    "WEFT_GOSSIPSUB_VERSION",
};

static void
clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
}

TestSuite(node_config, .init = clear_env, .fini = clear_env);

static node_config g_cfg;
static char g_err[WEFT_ENV_ERR];

static int
load(void)
{
    memset(g_err, 0, sizeof g_err);
    return node_config_load(&g_cfg, g_err);
}

/* Load with name=value alone set; expect the exact error line. */
static void
expect_error(const char *name, const char *value, const char *line)
{
    clear_env();
    cr_assert_eq(setenv(name, value, 1), 0);
    int rc = load();
    cr_expect_eq(rc, WEFT_EINVAL, "%s=\"%s\" was accepted", name, value);
    cr_expect_str_eq(g_err, line, "%s=\"%s\"", name, value);
    cr_expect_null(strchr(g_err, '\n'), "error of %s is not one line", name);
    unsetenv(name);
}

static void
expect_ok(const char *name, const char *value)
{
    clear_env();
    cr_assert_eq(setenv(name, value, 1), 0);
    int rc = load();
    cr_expect_eq(rc, 0, "%s=\"%s\" refused: %s", name, value, g_err);
    unsetenv(name);
}

/* A peer id text from a fixed seed. */
static void
peer_text(uint8_t seed_byte, char *out, size_t cap)
{
    uint8_t seed[32] = {seed_byte};
    weft_identity id;
    weft_identity_from_seed(&id, seed);
    weft_peer_id pid;
    weft_peer_id_from_pubkey(id.pk, &pid);
    cr_assert_gt(weft_peer_id_to_text(&pid, out, cap), 0);
}

Test(node_config, defaults)
{
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.mode, NODE_OPTIMUM);
    cr_expect_str_eq(g_cfg.cluster_id, "weft-node");
    cr_expect_str_eq(g_cfg.log_level_name, "info");
    cr_expect_eq(g_cfg.log_level, weft_log_parse_level("info"));
    cr_expect_eq(g_cfg.sidecar_port, 33212);
    cr_expect_eq(g_cfg.api_port, 9090);
    cr_expect_eq(g_cfg.optimum_port, 7070);
    cr_expect_eq(g_cfg.gossipsub_port, 6060);
    cr_expect_str_eq(g_cfg.identity_dir, "/identity");
    cr_expect_eq(g_cfg.nbootstrap, 0);
    cr_expect_eq(g_cfg.optimum_max_msg, 1048576);
    cr_expect_eq(g_cfg.gossipsub_max_msg, 1048576);
    cr_expect_eq(g_cfg.mesh_target, 6);
    cr_expect_eq(g_cfg.mesh_min, 3, "guides 002/003 (guide 001 writes 4)");
    cr_expect_eq(g_cfg.mesh_max, 12);
    cr_expect_eq(g_cfg.shard_factor, 4);
    cr_expect_float_eq(g_cfg.shard_mult, 1.5, 1e-12);
    cr_expect_float_eq(g_cfg.threshold, 0.75, 1e-12);
    cr_expect_str_eq(g_cfg.listen_ip, "0.0.0.0");
    cr_expect_null(g_cfg.geoip_db);
    cr_expect_null(g_cfg.public_ip);
    cr_expect_eq(g_cfg.trace_rpc, 0);
    cr_expect_eq(g_cfg.client_queue, 268435456LL);
    cr_expect_eq(g_cfg.gossipsub_idontwant, 1);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 7070);
    cr_expect_eq(node_config_max_msg(&g_cfg), 1048576);
    cr_expect_str_eq(node_mode_name(g_cfg.mode), "optimum");
}

Test(node_config, empty_values_take_the_default)
{
    setenv("SIDECAR_PORT", "", 1);
    setenv("NODE_MODE", "", 1);
    setenv("OPTIMUM_THRESHOLD", "", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.sidecar_port, 33212);
    cr_expect_eq(g_cfg.mode, NODE_OPTIMUM);
    cr_expect_float_eq(g_cfg.threshold, 0.75, 1e-12);
}

Test(node_config, every_value_set)
{
    setenv("NODE_MODE", "optimum", 1);
    setenv("CLUSTER_ID", "node-7", 1);
    setenv("LOG_LEVEL", "debug", 1);
    setenv("SIDECAR_PORT", "1", 1);
    setenv("API_PORT", ":65535", 1);
    setenv("OPTIMUM_PORT", "7000", 1);
    setenv("GOSSIPSUB_PORT", "6000", 1);
    setenv("IDENTITY_DIR", "/tmp/weft-id", 1);
    setenv("OPTIMUM_MAX_MSG_SIZE", "67108864", 1);
    setenv("GOSSIPSUB_MAX_MSG_SIZE", "1", 1);
    setenv("OPTIMUM_MESH_TARGET", "8", 1);
    setenv("OPTIMUM_MESH_MIN", "0", 1);
    setenv("OPTIMUM_MESH_MAX", "256", 1);
    setenv("OPTIMUM_SHARD_FACTOR", "255", 1);
    setenv("OPTIMUM_SHARD_MULT", "64", 1);
    setenv("OPTIMUM_THRESHOLD", "1", 1);
    setenv("WEFT_LISTEN_IP", "127.0.0.1", 1);
    setenv("WEFT_GEOIP_DB", "/data/GeoLite2-Country.mmdb", 1);
    setenv("WEFT_PUBLIC_IP", "203.0.113.9", 1);
    setenv("WEFT_TRACE_RPC", "yes", 1);
    setenv("WEFT_CLIENT_QUEUE_BYTES", "4294967296", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_str_eq(g_cfg.cluster_id, "node-7");
    cr_expect_str_eq(g_cfg.log_level_name, "debug");
    cr_expect_eq(g_cfg.log_level, weft_log_parse_level("debug"));
    cr_expect_eq(g_cfg.sidecar_port, 1);
    cr_expect_eq(g_cfg.api_port, 65535, "\":65535\" as the proxy's guides write ports");
    cr_expect_eq(g_cfg.optimum_port, 7000);
    cr_expect_eq(g_cfg.gossipsub_port, 6000);
    cr_expect_str_eq(g_cfg.identity_dir, "/tmp/weft-id");
    cr_expect_eq(g_cfg.optimum_max_msg, 67108864);
    cr_expect_eq(g_cfg.gossipsub_max_msg, 1);
    cr_expect_eq(g_cfg.mesh_target, 8);
    cr_expect_eq(g_cfg.mesh_min, 0);
    cr_expect_eq(g_cfg.mesh_max, 256);
    cr_expect_eq(g_cfg.shard_factor, 255);
    cr_expect_float_eq(g_cfg.shard_mult, 64.0, 1e-12);
    cr_expect_float_eq(g_cfg.threshold, 1.0, 1e-12);
    cr_expect_str_eq(g_cfg.listen_ip, "127.0.0.1");
    cr_expect_str_eq(g_cfg.geoip_db, "/data/GeoLite2-Country.mmdb");
    cr_expect_str_eq(g_cfg.public_ip, "203.0.113.9");
    cr_expect_eq(g_cfg.trace_rpc, 1);
    cr_expect_eq(g_cfg.client_queue, 4294967296LL);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 7000);
    cr_expect_eq(node_config_max_msg(&g_cfg), 67108864);
}

Test(node_config, gossipsub_mode_uses_its_port_and_limit)
{
    setenv("NODE_MODE", "GossipSub", 1); /* case-insensitive */
    setenv("GOSSIPSUB_PORT", "6001", 1);
    setenv("GOSSIPSUB_MAX_MSG_SIZE", "2048", 1);
    setenv("OPTIMUM_MAX_MSG_SIZE", "4096", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.mode, NODE_GOSSIPSUB);
    cr_expect_str_eq(node_mode_name(g_cfg.mode), "gossipsub");
    cr_expect_eq(node_config_p2p_port(&g_cfg), 6001);
    cr_expect_eq(node_config_max_msg(&g_cfg), 2048);
    g_cfg.mode = NODE_OPTIMUM;
    cr_expect_eq(node_config_p2p_port(&g_cfg), 7070);
    cr_expect_eq(node_config_max_msg(&g_cfg), 4096);
}

/* The guides' compose files give only OPTIMUM_PORT: gossipsub mode takes it
 * when GOSSIPSUB_PORT is unset or empty, and GOSSIPSUB_PORT still wins. */
Test(node_config, gossipsub_mode_takes_optimum_port_when_alone)
{
    setenv("NODE_MODE", "gossipsub", 1);
    setenv("OPTIMUM_PORT", "7070", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 7070);
    setenv("GOSSIPSUB_PORT", "", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 7070);
    setenv("GOSSIPSUB_PORT", "6061", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 6061);
    unsetenv("GOSSIPSUB_PORT");
    unsetenv("OPTIMUM_PORT");
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(node_config_p2p_port(&g_cfg), 6060);
}

Test(node_config, choices_and_booleans)
{
    expect_error("NODE_MODE", "rlnc", "NODE_MODE=\"rlnc\": expected one of optimum|gossipsub");
    expect_error("LOG_LEVEL", "verbose",
                 "LOG_LEVEL=\"verbose\": expected one of debug|info|warn|error");
    expect_error("WEFT_TRACE_RPC", "maybe", "WEFT_TRACE_RPC=\"maybe\": expected true or false");
    expect_error("WEFT_GOSSIPSUB_VERSION", "1.0",
                 "WEFT_GOSSIPSUB_VERSION=\"1.0\": expected one of 1.2|1.1");
    clear_env();
    setenv("WEFT_GOSSIPSUB_VERSION", "1.1", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.gossipsub_idontwant, 0, "1.1 turns IDONTWANT off");
    setenv("WEFT_GOSSIPSUB_VERSION", "1.2", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.gossipsub_idontwant, 1, "1.2 keeps IDONTWANT on");
    unsetenv("WEFT_GOSSIPSUB_VERSION");
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < 4; i++) {
        char upper[8];
        for (size_t k = 0; k <= strlen(levels[i]); k++)
            upper[k] = (char)(levels[i][k] >= 'a' ? levels[i][k] - 32 : levels[i][k]);
        clear_env();
        setenv("LOG_LEVEL", upper, 1);
        cr_assert_eq(load(), 0, "%s", g_err);
        cr_expect_str_eq(g_cfg.log_level_name, levels[i]);
        cr_expect_eq(g_cfg.log_level, weft_log_parse_level(levels[i]));
    }
    static const char *const yes[] = {"true", "1", "YES", "on"};
    static const char *const no[] = {"false", "0", "no", "OFF"};
    for (size_t i = 0; i < 4; i++) {
        clear_env();
        setenv("WEFT_TRACE_RPC", yes[i], 1);
        cr_assert_eq(load(), 0, "%s", g_err);
        cr_expect_eq(g_cfg.trace_rpc, 1, "WEFT_TRACE_RPC=%s", yes[i]);
        setenv("WEFT_TRACE_RPC", no[i], 1);
        cr_assert_eq(load(), 0, "%s", g_err);
        cr_expect_eq(g_cfg.trace_rpc, 0, "WEFT_TRACE_RPC=%s", no[i]);
    }
    unsetenv("LOG_LEVEL");
    unsetenv("WEFT_TRACE_RPC");
}

Test(node_config, ports)
{
    static const char *const ports[] = {"SIDECAR_PORT", "API_PORT", "OPTIMUM_PORT",
                                        "GOSSIPSUB_PORT"};
    static const char *const bad[] = {"0", "65536", "-1", "80a", " 80", "0x50", ":"};
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            char line[WEFT_ENV_ERR];
            snprintf(line, sizeof line,
                     "%s=\"%s\": expected a TCP port in 1..65535 (\"8080\" or \":8080\")", ports[i],
                     bad[k]);
            expect_error(ports[i], bad[k], line);
        }
        expect_ok(ports[i], "1");
        expect_ok(ports[i], "65535");
        expect_ok(ports[i], ":8080");
    }
}

struct int_case {
    const char *name, *lo_bad, *lo_ok, *hi_ok, *hi_bad, *range;
};

Test(node_config, integer_ranges)
{
    static const struct int_case cases[] = {
        {"OPTIMUM_MAX_MSG_SIZE", "0", "1", "67108864", "67108865", "1..67108864"},
        {"GOSSIPSUB_MAX_MSG_SIZE", "0", "1", "67108864", "67108865", "1..67108864"},
        {"OPTIMUM_MESH_TARGET", "0", "5", "11", "65", "1..64"},
        {"OPTIMUM_MESH_MIN", "-1", "0", "5", "65", "0..64"},
        {"OPTIMUM_MESH_MAX", "1", "7", "256", "257", "2..256"},
        {"OPTIMUM_SHARD_FACTOR", "0", "1", "255", "256", "1..255"},
        {"WEFT_CLIENT_QUEUE_BYTES", "1048575", "1048576", "4294967296", "4294967297",
         "1048576..4294967296"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct int_case *c = &cases[i];
        char line[WEFT_ENV_ERR];
        snprintf(line, sizeof line, "%s=\"%s\": expected an integer in %s", c->name, c->lo_bad,
                 c->range);
        expect_error(c->name, c->lo_bad, line);
        snprintf(line, sizeof line, "%s=\"%s\": expected an integer in %s", c->name, c->hi_bad,
                 c->range);
        expect_error(c->name, c->hi_bad, line);
        expect_ok(c->name, c->lo_ok);
        expect_ok(c->name, c->hi_ok);
        /* not an integer: the whole value must parse */
        static const char *const junk[] = {"12abc", "1e3", "1.0", "+5", "abc"};
        for (size_t k = 0; k < sizeof junk / sizeof *junk; k++) {
            snprintf(line, sizeof line, "%s=\"%s\": expected an integer in %s", c->name, junk[k],
                     c->range);
            expect_error(c->name, junk[k], line);
        }
    }
}

Test(node_config, real_ranges)
{
    expect_error("OPTIMUM_SHARD_MULT", "0.99",
                 "OPTIMUM_SHARD_MULT=\"0.99\": expected a number in [1, 64]");
    expect_error("OPTIMUM_SHARD_MULT", "64.5",
                 "OPTIMUM_SHARD_MULT=\"64.5\": expected a number in [1, 64]");
    expect_error("OPTIMUM_SHARD_MULT", "nan",
                 "OPTIMUM_SHARD_MULT=\"nan\": expected a number in [1, 64]");
    expect_error("OPTIMUM_SHARD_MULT", "1.5x",
                 "OPTIMUM_SHARD_MULT=\"1.5x\": expected a number in [1, 64]");
    expect_ok("OPTIMUM_SHARD_MULT", "1");
    expect_ok("OPTIMUM_SHARD_MULT", "64");
    expect_error("OPTIMUM_THRESHOLD", "0", "OPTIMUM_THRESHOLD=\"0\": expected a number in (0, 1]");
    expect_error("OPTIMUM_THRESHOLD", "1.01",
                 "OPTIMUM_THRESHOLD=\"1.01\": expected a number in (0, 1]");
    expect_error("OPTIMUM_THRESHOLD", "-0.5",
                 "OPTIMUM_THRESHOLD=\"-0.5\": expected a number in (0, 1]");
    expect_error("OPTIMUM_THRESHOLD", "inf",
                 "OPTIMUM_THRESHOLD=\"inf\": expected a number in (0, 1]");
    expect_ok("OPTIMUM_THRESHOLD", "0.001");
    expect_ok("OPTIMUM_THRESHOLD", "1");
    setenv("OPTIMUM_THRESHOLD", "0.5", 1);
    setenv("OPTIMUM_SHARD_MULT", "2.25", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_float_eq(g_cfg.threshold, 0.5, 1e-12);
    cr_expect_float_eq(g_cfg.shard_mult, 2.25, 1e-12);
    unsetenv("OPTIMUM_THRESHOLD");
    unsetenv("OPTIMUM_SHARD_MULT");
}

Test(node_config, strings)
{
    char long_id[130];
    memset(long_id, 'c', 129);
    long_id[129] = 0;
    char line[WEFT_ENV_ERR];
    /* the quoted value is cut after 64 characters */
    snprintf(line, sizeof line, "CLUSTER_ID=\"%.64s...\": expected at most 128 characters",
             long_id);
    expect_error("CLUSTER_ID", long_id, line);
    long_id[128] = 0;
    expect_ok("CLUSTER_ID", long_id);
    expect_error("CLUSTER_ID", "a\nb",
                 "CLUSTER_ID=\"a\\x0ab\": expected text without control "
                 "characters");
    expect_error("IDENTITY_DIR", "/id\tx",
                 "IDENTITY_DIR=\"/id\\x09x\": expected text without "
                 "control characters");
}

Test(node_config, mesh_bounds_relation)
{
    static const char *const bad[][3] = {
        {"6", "6", "12"},  /* min == target */
        {"7", "6", "12"},  /* min above target */
        {"4", "12", "12"}, /* target == max */
        {"4", "20", "12"},
    };
    for (size_t i = 0; i < 4; i++) {
        clear_env();
        setenv("OPTIMUM_MESH_MIN", bad[i][0], 1);
        setenv("OPTIMUM_MESH_TARGET", bad[i][1], 1);
        setenv("OPTIMUM_MESH_MAX", bad[i][2], 1);
        cr_expect_eq(load(), WEFT_EINVAL, "min %s target %s max %s accepted", bad[i][0], bad[i][1],
                     bad[i][2]);
        char line[WEFT_ENV_ERR];
        snprintf(line, sizeof line,
                 "OPTIMUM_MESH_MIN=%s, OPTIMUM_MESH_TARGET=%s, OPTIMUM_MESH_MAX=%s: expected "
                 "OPTIMUM_MESH_MIN < OPTIMUM_MESH_TARGET < OPTIMUM_MESH_MAX",
                 bad[i][0], bad[i][1], bad[i][2]);
        cr_expect_str_eq(g_err, line);
    }
    clear_env();
    setenv("OPTIMUM_MESH_MIN", "0", 1);
    setenv("OPTIMUM_MESH_TARGET", "1", 1);
    setenv("OPTIMUM_MESH_MAX", "2", 1);
    cr_expect_eq(load(), 0, "%s", g_err);
    /* the default bounds against a changed target */
    clear_env();
    setenv("OPTIMUM_MESH_TARGET", "3", 1);
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err, "OPTIMUM_MESH_MIN=3, OPTIMUM_MESH_TARGET=3, OPTIMUM_MESH_MAX=12: "
                            "expected OPTIMUM_MESH_MIN < OPTIMUM_MESH_TARGET < OPTIMUM_MESH_MAX");
    clear_env();
}

Test(node_config, first_bad_value_is_reported)
{
    setenv("SIDECAR_PORT", "0", 1);
    setenv("OPTIMUM_THRESHOLD", "2", 1);
    cr_assert_eq(load(), WEFT_EINVAL);
    cr_expect(strncmp(g_err, "SIDECAR_PORT=", 13) == 0, "%s", g_err);
    setenv("NODE_MODE", "x", 1);
    cr_assert_eq(load(), WEFT_EINVAL);
    cr_expect(strncmp(g_err, "NODE_MODE=", 10) == 0, "%s", g_err);
}

Test(node_config, listen_ip)
{
    expect_ok("WEFT_LISTEN_IP", "::1");
    expect_ok("WEFT_LISTEN_IP", "::");
    expect_ok("WEFT_LISTEN_IP", "10.1.2.3");
    expect_error("WEFT_LISTEN_IP", "localhost",
                 "WEFT_LISTEN_IP=\"localhost\": expected an IPv4 or IPv6 address");
    expect_error("WEFT_LISTEN_IP", "300.1.1.1",
                 "WEFT_LISTEN_IP=\"300.1.1.1\": expected an IPv4 or IPv6 address");
    /* more multiaddr components are not an address */
    expect_error("WEFT_LISTEN_IP", "1.2.3.4/tcp/5",
                 "WEFT_LISTEN_IP=\"1.2.3.4/tcp/5\": expected an IPv4 or IPv6 address");
    expect_error("WEFT_LISTEN_IP", "::1/tcp/5",
                 "WEFT_LISTEN_IP=\"::1/tcp/5\": expected an IPv4 or IPv6 address");
    char line[WEFT_ENV_ERR];
    char big[70];
    memset(big, '1', 65);
    big[65] = 0;
    /* over the length limit the string reader refuses first (quoted value cut at 64) */
    snprintf(line, sizeof line, "WEFT_LISTEN_IP=\"%.64s...\": expected at most 64 characters", big);
    expect_error("WEFT_LISTEN_IP", big, line);
}

Test(node_config, bootstrap_peers)
{
    char a[WEFT_PEER_ID_TEXT], b[WEFT_PEER_ID_TEXT];
    peer_text(1, a, sizeof a);
    peer_text(2, b, sizeof b);
    char list[1024];
    /* spaces around entries and empty entries are ignored (a tab is a
     * control character, refused before the list is parsed) */
    snprintf(list, sizeof list, " /ip4/10.0.0.1/tcp/7070/p2p/%s ,,  /ip6/::1/tcp/7071/p2p/%s ,", a,
             b);
    setenv("BOOTSTRAP_PEERS", list, 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_assert_eq(g_cfg.nbootstrap, 2);
    char t[512];
    cr_assert_geq(weft_ma_to_text(&g_cfg.bootstrap[0], t, sizeof t), 0);
    char want[512];
    snprintf(want, sizeof want, "/ip4/10.0.0.1/tcp/7070/p2p/%s", a);
    cr_expect_str_eq(t, want);
    cr_assert_geq(weft_ma_to_text(&g_cfg.bootstrap[1], t, sizeof t), 0);
    snprintf(want, sizeof want, "/ip6/::1/tcp/7071/p2p/%s", b);
    cr_expect_str_eq(t, want);
    cr_expect_str_eq(g_cfg.bootstrap_text, list);
    unsetenv("BOOTSTRAP_PEERS");
}

Test(node_config, bootstrap_peer_errors)
{
    char a[WEFT_PEER_ID_TEXT];
    peer_text(1, a, sizeof a);
    const char *expect = ": expected /ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>/p2p/<peer-id>";
    char list[1024], line[WEFT_ENV_ERR];

    /* no /p2p part: the entry is named by its position (empty ones count) */
    snprintf(list, sizeof list, "/ip4/10.0.0.1/tcp/7070/p2p/%s,,/ip4/10.0.0.2/tcp/7070", a);
    snprintf(line, sizeof line, "BOOTSTRAP_PEERS entry 3 \"/ip4/10.0.0.2/tcp/7070\"%s", expect);
    expect_error("BOOTSTRAP_PEERS", list, line);

    /* each address part, then the peer id appended when with_id */
    static const struct {
        const char *addr;
        int with_id;
    } bad[] = {
        {"10.0.0.1:7070", 0},
        {"/ip4/10.0.0.1/udp/7070/p2p/", 1},
        {"/ip4/10.0.0.999/tcp/7070/p2p/", 1},
        {"/ip4/10.0.0.1/tcp/70700/p2p/", 1},
        {"/ip4/10.0.0.1/tcp/7070/p2p/NotAPeerId", 0},
        {"/dns4/node-1/udp/7070/p2p/", 1},
        {"/dns4/node-1/tcp/7070", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char entry[200];
        snprintf(entry, sizeof entry, "%s%s", bad[i].addr, bad[i].with_id ? a : "");
        snprintf(line, sizeof line, "BOOTSTRAP_PEERS entry 1 \"%.200s\"%s", entry, expect);
        expect_error("BOOTSTRAP_PEERS", entry, line);
    }

    /* an entry too long for the parser is quoted cut to 120 characters */
    char huge[700];
    memset(huge, 'x', 600);
    huge[600] = 0;
    snprintf(line, sizeof line, "BOOTSTRAP_PEERS entry 1 \"%.120s\"%s", huge, expect);
    expect_error("BOOTSTRAP_PEERS", huge, line);

    /* at most NODE_MAX_BOOTSTRAP entries */
    static char many[NODE_MAX_BOOTSTRAP * 200];
    size_t o = 0;
    for (int i = 0; i <= NODE_MAX_BOOTSTRAP; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "%s/ip4/10.0.%d.%d/tcp/7070/p2p/%s",
                              i ? "," : "", i / 250, i % 250 + 1, a);
    snprintf(line, sizeof line, "BOOTSTRAP_PEERS: expected at most %d entries", NODE_MAX_BOOTSTRAP);
    expect_error("BOOTSTRAP_PEERS", many, line);
    /* exactly the limit is fine */
    char *last = strrchr(many, ',');
    *last = 0;
    expect_ok("BOOTSTRAP_PEERS", many);
}

Test(node_config, json)
{
    char a[WEFT_PEER_ID_TEXT];
    peer_text(3, a, sizeof a);
    char list[512];
    snprintf(list, sizeof list, "/ip4/192.0.2.1/tcp/7070/p2p/%s", a);
    setenv("BOOTSTRAP_PEERS", list, 1);
    setenv("CLUSTER_ID", "c\"1", 1);
    setenv("NODE_MODE", "gossipsub", 1);
    setenv("WEFT_GEOIP_DB", "/secret/path.mmdb", 1);
    setenv("OPTIMUM_THRESHOLD", "0.5", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    char *s = node_config_json(&g_cfg);
    cr_assert_not_null(s);
    cr_expect_null(strstr(s, "/secret/path.mmdb"), "the database path is not reported");
    cJSON *o = cJSON_Parse(s);
    cr_assert_not_null(o, "not JSON: %s", s);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "NODE_MODE")->valuestring, "gossipsub");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "CLUSTER_ID")->valuestring, "c\"1");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "LOG_LEVEL")->valuestring, "info");
    cr_expect_eq(cJSON_GetObjectItem(o, "SIDECAR_PORT")->valueint, 33212);
    cr_expect_eq(cJSON_GetObjectItem(o, "GOSSIPSUB_PORT")->valueint, 6060);
    cr_expect_float_eq(cJSON_GetObjectItem(o, "OPTIMUM_THRESHOLD")->valuedouble, 0.5, 1e-12);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(o, "WEFT_GEOIP_DB")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(o, "WEFT_TRACE_RPC")));
    cr_expect_eq(cJSON_GetObjectItem(o, "WEFT_CLIENT_QUEUE_BYTES")->valuedouble, 268435456.0);
    const cJSON *bs = cJSON_GetObjectItem(o, "BOOTSTRAP_PEERS");
    cr_assert(cJSON_IsArray(bs));
    cr_assert_eq(cJSON_GetArraySize(bs), 1);
    cr_expect_str_eq(cJSON_GetArrayItem(bs, 0)->valuestring, list);
    static const char *const keys[] = {"API_PORT",
                                       "OPTIMUM_PORT",
                                       "IDENTITY_DIR",
                                       "OPTIMUM_MAX_MSG_SIZE",
                                       "GOSSIPSUB_MAX_MSG_SIZE",
                                       "OPTIMUM_MESH_TARGET",
                                       "OPTIMUM_MESH_MIN",
                                       "OPTIMUM_MESH_MAX",
                                       "OPTIMUM_SHARD_FACTOR",
                                       "OPTIMUM_SHARD_MULT",
                                       "WEFT_LISTEN_IP"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        cr_expect_not_null(cJSON_GetObjectItem(o, keys[i]), "%s missing", keys[i]);
    cJSON_Delete(o);
    free(s);
    unsetenv("BOOTSTRAP_PEERS");
    unsetenv("CLUSTER_ID");
    unsetenv("NODE_MODE");
    unsetenv("WEFT_GEOIP_DB");
    unsetenv("OPTIMUM_THRESHOLD");
}

Test(node_config, help_names_every_variable)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        cr_expect_not_null(strstr(node_config_help, vars[i]), "%s not in --help", vars[i]);
}

/* What start-up would refuse, check-config (the same node_config_load)
 * refuses too: one port for two listeners, an unknown event loop, a ratio
 * strtod would read as hex. */
Test(node_config, start_up_agreement)
{
    expect_error("API_PORT", "33212",
                 "SIDECAR_PORT=33212 and API_PORT=33212: expected a different port for each");
    expect_error("SIDECAR_PORT", "7070",
                 "SIDECAR_PORT=7070 and OPTIMUM_PORT=7070: expected a different port for each");
    expect_error("OPTIMUM_PORT", "9090",
                 "API_PORT=9090 and OPTIMUM_PORT=9090: expected a different port for each");
    /* only the active mode's P2P port is bound */
    expect_ok("GOSSIPSUB_PORT", "9090");
    setenv("NODE_MODE", "gossipsub", 1);
    setenv("GOSSIPSUB_PORT", "9090", 1);
    cr_expect_eq(load(), WEFT_EINVAL);
    cr_expect_str_eq(g_err,
                     "API_PORT=9090 and GOSSIPSUB_PORT=9090: expected a different port for each");
    clear_env();
    expect_error("WEFT_TRANSPORT", "garbage",
                 "WEFT_TRANSPORT=\"garbage\": expected one of auto|uring|io_uring|epoll");
    expect_ok("WEFT_TRANSPORT", "epoll");
    setenv("WEFT_TRANSPORT", "EPOLL", 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.transport, WEFT_LOOP_EPOLL);
    unsetenv("WEFT_TRANSPORT");
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_expect_eq(g_cfg.transport, WEFT_LOOP_AUTO);
    static const char *const hex[] = {"0x10", "0X2", "0x1p1", "infinity", " 2",
                                      "2 ",   "+",   ".",     "1e",       "e5"};
    for (size_t i = 0; i < sizeof hex / sizeof *hex; i++) {
        char line[128];
        snprintf(line, sizeof line, "OPTIMUM_SHARD_MULT=\"%s\": expected a number in [1, 64]",
                 hex[i]);
        expect_error("OPTIMUM_SHARD_MULT", hex[i], line);
    }
    expect_ok("OPTIMUM_SHARD_MULT", "1.5e0");
    expect_ok("OPTIMUM_SHARD_MULT", "+2.");
    expect_ok("OPTIMUM_SHARD_MULT", ".5e1");
    expect_error("OPTIMUM_THRESHOLD", "0x0.8",
                 "OPTIMUM_THRESHOLD=\"0x0.8\": expected a number in (0, 1]");
}

/* The guides' compose files name peers by service: /dns4 (and /dns6, /dns)
 * are taken as they are and resolved at each dial, not at load. */
Test(node_config, bootstrap_peer_names)
{
    char a[WEFT_PEER_ID_TEXT], list[512];
    peer_text(1, a, sizeof a);
    snprintf(list, sizeof list,
             "/dns4/p2pnode-1/tcp/7070/p2p/%s,/dns/no-such-name.invalid/tcp/1/p2p/%s", a, a);
    setenv("BOOTSTRAP_PEERS", list, 1);
    cr_assert_eq(load(), 0, "%s", g_err);
    cr_assert_eq(g_cfg.nbootstrap, 2);
    char t[512];
    cr_assert_geq(weft_ma_to_text(&g_cfg.bootstrap[0], t, sizeof t), 0);
    cr_expect_eq(strncmp(t, "/dns4/p2pnode-1/tcp/7070/p2p/", 29), 0, "%s", t);
    unsetenv("BOOTSTRAP_PEERS");
}
