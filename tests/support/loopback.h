/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loopback.h: the loopback set-up that the transport tests and `weft-bench
 * transport` share: a loop of a given kind, a TCP listener on 127.0.0.1 at
 * a port the kernel picks, and weft_hosts with fixed identities listening
 * on loopback. Nothing here asserts or exits: every call returns what the
 * library said, and the caller fails in its own way (cr_assert in a test,
 * FAILED on stderr in the benchmark). Not installed.
 */
#ifndef WEFT_TESTS_SUPPORT_LOOPBACK_H
#define WEFT_TESTS_SUPPORT_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "weft/host.h"
#include "weft/loop.h"

/* 127.0.0.1 at port (0: any). */
struct sockaddr_in lb_addr(uint16_t port);

/* A new loop of kind (enum weft_loop_kind), its send queue bounded at
 * send_queue_max bytes (0: the default). NULL with *err set on failure. */
weft_loop *lb_loop_new(int kind, size_t send_queue_max, int *err);

/* Listen on 127.0.0.1 at a port the kernel picks; *ls is the listener and
 * addr, alen where it listens. 0 or the weft_listen error. */
int lb_listen(weft_loop *loop, weft_accept_fn on_accept, void *user, weft_listener **ls,
              struct sockaddr_storage *addr, socklen_t *alen);

/* The default host configuration with the identity whose Ed25519 seed is
 * seed_byte followed by 31 zero bytes. */
void lb_host_config(weft_host_config *cfg, uint8_t seed_byte);

/* Have h listen on /ip4/127.0.0.1/tcp/port (0: any port); *bound gets the
 * address it listens on, /p2p/ included. 0 or the error. */
int lb_host_listen(weft_host *h, uint16_t port, weft_multiaddr *bound);

#endif
