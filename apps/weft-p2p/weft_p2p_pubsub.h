/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `pubsub` command of weft-p2p (mesh/cli/weft_p2p_pubsub.c): a topic
 * mesh node (GossipSub or RLNC) on a libp2p host, printing JSON lines.
 */
#ifndef WEFT_P2P_PUBSUB_H
#define WEFT_P2P_PUBSUB_H

/* argv[0] is "pubsub". Returns the process exit status: 0 done, 1 timeout
 * or remote failure, 2 usage error. */
int weft_p2p_pubsub(int argc, char **argv);

#endif
