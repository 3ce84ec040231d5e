/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node --config FILE.yaml: a role file (issue 18) as a second source
 * of the node's variables, beneath the environment.
 *
 *   node:    {role, listen_port, capabilities, max_connections, heartbeat_interval}
 *   network: {protocol_version, mesh_network, enable_mdns, enable_relay, connection_timeout}
 *
 * Each key stands for one variable of config.h (node_yaml_keys_help lists
 * the mapping). The file is parsed with libyaml and checked in full on
 * load: unknown keys, repeated keys, wrong types (a quoted "30" where a
 * number is due, a scalar where a list is due) and out-of-range values give
 * one line "FILE:LINE: key.path=\"value\": expected ...". Once installed,
 * every read of a variable returns the environment's value when set (and
 * not empty), else the file's, else nothing (so the default applies); the
 * node's own checks then run as they do without a file.
 */
#ifndef WEFT_NODE_CONFIG_YAML_H
#define WEFT_NODE_CONFIG_YAML_H

#include "weft/svc_env.h"

typedef struct node_yaml node_yaml;

/* Parse and check @path. A handle (malloc'd), or NULL with err holding
 * the line to print (the caller exits 2). */
node_yaml *node_yaml_load(const char *path, char err[WEFT_ENV_ERR]);
/* Make @y the source beneath the environment for weft_env_get and the
 * namer of node_config errors (a value from the file is named by its key
 * and line). @y must outlive every later node_config_load; NULL uninstalls. */
void node_yaml_install(const node_yaml *y);
void node_yaml_free(node_yaml *y);

/* Text for --help: each key, the variable it sets and how. */
extern const char node_yaml_keys_help[];

#endif
