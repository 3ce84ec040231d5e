/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `dht` command of weft-p2p (weft_p2p_dht.c): the Kademlia DHT
 * (/ipfs/kad/1.0.0) by hand, printing JSON lines.
 */
#ifndef WEFT_P2P_DHT_H
#define WEFT_P2P_DHT_H

/* argv[0] is "dht". Returns the process exit status: 0 done, 1 not found,
 * timeout or remote failure, 2 usage error. */
int weft_p2p_dht(int argc, char **argv);

#endif
