/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/node_daemon.h: the whole of weft-node behind one call, so that its
 * program is a thin main and its logic is a library that tests link.
 */
#ifndef WEFT_NODE_DAEMON_H
#define WEFT_NODE_DAEMON_H

/* Run weft-node with these arguments (configuration from the environment);
 * returns the process exit status. */
int weft_node_main(int argc, char **argv);

#endif
