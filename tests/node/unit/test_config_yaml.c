/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The role file of weft-node (node/src/config_yaml.c): the issue's example
 * loads into the node's variables; each error class (syntax, unknown key,
 * repeated key, wrong type, out of range, bad list entry, second document,
 * unreadable file) is one line naming file, line, key path and value; the
 * environment wins over the file, the file over the role, the role over the
 * defaults; without a file nothing changes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_yaml.h"
#include "weft/common.h"

static const char *const vars[] = {
    "NODE_MODE",
    "OPTIMUM_PORT",
    "GOSSIPSUB_PORT",
    "API_PORT",
    "SIDECAR_PORT",
    "WEFT_KAD",
    "WEFT_ROLE",
    "WEFT_CAPABILITIES",
    "WEFT_MAX_CONNECTIONS",
    "WEFT_HEARTBEAT_INTERVAL",
    "WEFT_PROTOCOL_VERSION",
    "WEFT_MDNS",
    "WEFT_RELAY",
    "WEFT_CONNECTION_TIMEOUT",
};

static char g_path[64];
static node_yaml *g_y;

static void
setup(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    snprintf(g_path, sizeof g_path, "/tmp/weft-yaml-%d.yaml", (int)getpid());
}

static void
teardown(void)
{
    node_yaml_free(g_y);
    g_y = NULL;
    unlink(g_path);
    setup();
}

TestSuite(node_config_yaml, .init = setup, .fini = teardown);

static void
write_file(const char *text)
{
    FILE *f = fopen(g_path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Load text; expect failure with err equal to "PATH:" + tail. */
static void
expect_error(const char *text, const char *tail)
{
    write_file(text);
    char err[WEFT_ENV_ERR] = "";
    node_yaml *y = node_yaml_load(g_path, err);
    cr_expect_null(y, "accepted: %s", text);
    node_yaml_free(y);
    char want[WEFT_ENV_ERR];
    snprintf(want, sizeof want, "%s:%s", g_path, tail);
    cr_expect_str_eq(err, want, "for: %s", text);
    cr_expect_null(strchr(err, '\n'));
}

static void
load_ok(const char *text, node_config *cfg)
{
    write_file(text);
    char err[WEFT_ENV_ERR] = "";
    g_y = node_yaml_load(g_path, err);
    cr_assert_not_null(g_y, "%s", err);
    node_yaml_install(g_y);
    int rc = node_config_load(cfg, err);
    cr_assert_eq(rc, 0, "%s", err);
}

static const char example[] =
    "node: {role: worker, listen_port: 4001, capabilities: [compute, storage], "
    "max_connections: 100, heartbeat_interval: 30}\n"
    "network: {protocol_version: p2p-network, mesh_network: true, enable_mdns: true, "
    "enable_relay: true, connection_timeout: 30}\n";

Test(node_config_yaml, issue_example_sets_every_variable)
{
    node_config c;
    load_ok(example, &c);
    cr_expect_eq(c.role, NODE_ROLE_WORKER);
    cr_expect_eq(c.optimum_port, 4001);
    cr_expect_eq(c.gossipsub_port, 4001, "listen_port is the P2P port of both modes");
    cr_expect_eq(c.ncaps, 2);
    cr_expect_str_eq(c.caps[0], "compute");
    cr_expect_str_eq(c.caps[1], "storage");
    cr_expect_eq(c.max_connections, 100);
    cr_expect_eq(c.heartbeat_interval, 30);
    cr_expect_str_eq(c.protocol_version, "p2p-network");
    cr_expect_eq(c.mode, NODE_OPTIMUM);
    cr_expect_eq(c.mdns, 1);
    cr_expect_eq(c.relay, 1);
    cr_expect_eq(c.connection_timeout, 30);
    cr_expect_eq(c.kad, NODE_KAD_CLIENT, "worker default");
}

Test(node_config_yaml, environment_wins_over_file)
{
    setenv("OPTIMUM_PORT", "5001", 1);
    setenv("WEFT_MAX_CONNECTIONS", "7", 1);
    setenv("NODE_MODE", "gossipsub", 1);
    setenv("WEFT_CAPABILITIES", "gpu", 1);
    node_config c;
    load_ok(example, &c);
    cr_expect_eq(c.optimum_port, 5001);
    cr_expect_eq(c.max_connections, 7);
    cr_expect_eq(c.mode, NODE_GOSSIPSUB);
    cr_expect_eq(c.ncaps, 1);
    cr_expect_str_eq(c.caps[0], "gpu");
    cr_expect_eq(c.heartbeat_interval, 30, "keys the environment leaves alone still apply");
}

Test(node_config_yaml, empty_variable_does_not_hide_the_file)
{
    setenv("OPTIMUM_PORT", "", 1);
    node_config c;
    load_ok(example, &c);
    cr_expect_eq(c.optimum_port, 4001);
}

Test(node_config_yaml, role_defaults_and_file_over_role)
{
    node_config c;
    load_ok("node: {role: bootstrap}\n", &c);
    cr_expect_eq(c.kad, NODE_KAD_SERVER);
    cr_expect_eq(c.max_connections, 4096);
    cr_expect_eq(c.mdns, 0);
    cr_expect_eq(c.relay, 0);
    node_yaml_free(g_y);
    g_y = NULL;
    load_ok("node: {role: relay, max_connections: 50}\nnetwork: {mesh_network: false}\n", &c);
    cr_expect_eq(c.kad, NODE_KAD_SERVER);
    cr_expect_eq(c.relay, 1);
    cr_expect_eq(c.max_connections, 50);
    cr_expect_eq(c.mode, NODE_GOSSIPSUB);
    cr_expect_eq(c.gossipsub_port, 6060, "no listen_port: the gossipsub default stays");
}

Test(node_config_yaml, role_from_environment_alone)
{
    setenv("WEFT_ROLE", "worker", 1);
    setenv("WEFT_KAD", "off", 1);
    char err[WEFT_ENV_ERR];
    node_config c;
    cr_assert_eq(node_config_load(&c, err), 0, "%s", err);
    cr_expect_eq(c.role, NODE_ROLE_WORKER);
    cr_expect_eq(c.max_connections, 256);
    cr_expect_eq(c.mdns, 1);
    cr_expect_eq(c.kad, NODE_KAD_OFF, "WEFT_KAD wins over the role");
}

Test(node_config_yaml, no_file_keeps_the_old_defaults)
{
    char err[WEFT_ENV_ERR];
    node_config c;
    cr_assert_eq(node_config_load(&c, err), 0, "%s", err);
    cr_expect_eq(c.role, NODE_ROLE_NONE);
    cr_expect_eq(c.kad, NODE_KAD_SERVER);
    cr_expect_eq(c.max_connections, 1024);
    cr_expect_eq(c.connection_timeout, 10);
    cr_expect_eq(c.ncaps, 0);
    cr_expect_eq(c.mdns + c.relay, 0);
    cr_expect_eq(c.optimum_port, 7070);
    cr_expect_eq(c.gossipsub_port, 6060);
}

Test(node_config_yaml, unknown_keys)
{
    expect_error("node:\n  role: worker\n  colour: red\n",
                 "3: node.colour: unknown key: expected one of role, listen_port, capabilities, "
                 "max_connections, heartbeat_interval");
    expect_error("nodes: {}\n", "1: nodes: unknown key: expected node or network");
    expect_error("network: {enable_dht: true}\n",
                 "1: network.enable_dht: unknown key: expected one of protocol_version, "
                 "mesh_network, enable_mdns, enable_relay, connection_timeout");
}

Test(node_config_yaml, repeated_keys)
{
    expect_error("node:\n  role: worker\n  role: relay\n",
                 "3: node.role: given twice (first on line 2): expected it once");
    expect_error("node: {}\nnode: {}\n", "2: node: given twice: expected it once");
}

Test(node_config_yaml, wrong_types)
{
    expect_error("node: {listen_port: \"4001\"}\n",
                 "1: node.listen_port=\"4001\": expected an integer in 1..65535 (a number, not a "
                 "string)");
    expect_error("node: {max_connections: [1]}\n",
                 "1: node.max_connections is a list: expected an integer in 1..65536");
    expect_error("node: {capabilities: compute}\n",
                 "1: node.capabilities=\"compute\": expected a list of capability names, e.g. "
                 "[compute, storage]");
    expect_error("network: {enable_mdns: \"true\"}\n",
                 "1: network.enable_mdns=\"true\": expected true or false (unquoted)");
    expect_error("network: {mesh_network: 1}\n",
                 "1: network.mesh_network=\"1\": expected true or false (unquoted)");
    expect_error("node: worker\n",
                 "1: node=\"worker\": expected a mapping of role, listen_port, capabilities, "
                 "max_connections, heartbeat_interval");
    expect_error("- node\n", "1: expected a mapping with the sections node and network");
    expect_error("node: {heartbeat_interval: }\n",
                 "1: node.heartbeat_interval=\"\": expected an integer in 1..3600");
}

Test(node_config_yaml, out_of_range)
{
    expect_error("node: {listen_port: 70000}\n",
                 "1: node.listen_port=\"70000\": expected an integer in 1..65535");
    expect_error("node: {listen_port: -1}\n",
                 "1: node.listen_port=\"-1\": expected an integer in 1..65535");
    expect_error("node: {role: leader}\n",
                 "1: node.role=\"leader\": expected bootstrap, relay or worker");
    expect_error("network: {connection_timeout: 0}\n",
                 "1: network.connection_timeout=\"0\": expected an integer in 1..300");
    expect_error("network: {protocol_version: \"a b\"}\n",
                 "1: network.protocol_version=\"a b\": expected 1..64 characters of "
                 "[A-Za-z0-9._/-]");
}

Test(node_config_yaml, bad_list_entries)
{
    expect_error("node:\n  capabilities:\n    - compute\n    - Compute!\n",
                 "4: node.capabilities[1]=\"Compute!\": expected a name of 1..32 characters "
                 "[a-z0-9_-]");
    expect_error("node: {capabilities: [a, b, a]}\n",
                 "1: node.capabilities[2]=\"a\": expected each capability once");
    expect_error("node: {capabilities: [a, [b]]}\n",
                 "1: node.capabilities[1] is a list: expected a name of 1..32 characters "
                 "[a-z0-9_-]");
    expect_error("node: {capabilities: [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, "
                 "b4, b5, b6]}\n",
                 "1: node.capabilities: 17 entries or more: expected at most 16");
}

Test(node_config_yaml, syntax_and_documents)
{
    expect_error("node: [\n", "2:1: not YAML: did not find expected node content");
    expect_error("node: {role: worker}\n---\nnode: {role: relay}\n",
                 "3: a second document: expected one");
    expect_error("", "1: expected a mapping with the sections node and network");
}

Test(node_config_yaml, unreadable_file)
{
    char err[WEFT_ENV_ERR];
    cr_expect_null(node_yaml_load("/nonexistent/x.yaml", err));
    cr_expect_str_eq(err, "--config \"/nonexistent/x.yaml\": No such file or directory");
    cr_expect_null(node_yaml_load("/tmp", err));
    cr_expect_str_eq(err, "--config \"/tmp\": expected a regular file");
}

Test(node_config_yaml, relation_errors_name_the_key)
{
    write_file("node: {listen_port: 9090}\n");
    char err[WEFT_ENV_ERR];
    g_y = node_yaml_load(g_path, err);
    cr_assert_not_null(g_y, "%s", err);
    node_yaml_install(g_y);
    node_config c;
    cr_expect_eq(node_config_load(&c, err), WEFT_EINVAL);
    char want[WEFT_ENV_ERR];
    snprintf(want, sizeof want,
             "API_PORT=9090 and node.listen_port (%s:1)=9090: expected a different port for each",
             g_path);
    cr_expect_str_eq(err, want);
    /* From the environment, the variable is named as before. */
    setenv("OPTIMUM_PORT", "9090", 1);
    cr_expect_eq(node_config_load(&c, err), WEFT_EINVAL);
    cr_expect_str_eq(err,
                     "API_PORT=9090 and OPTIMUM_PORT=9090: expected a different port for each");
}
