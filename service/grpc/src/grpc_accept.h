/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to svc_grpc: the listener that accepts for the gRPC core, with a
 * cap on connections in total and per client address and a spare
 * descriptor for EMFILE (grpc_accept.c says why gRPC's own is not used).
 */
#ifndef WEFT_SVC_GRPC_ACCEPT_H
#define WEFT_SVC_GRPC_ACCEPT_H

#include <stddef.h>

#include <grpc/grpc.h>

#include "weft/svc_grpc.h"

typedef struct grpc_acceptor grpc_acceptor;

/* Bind and listen on addr ("host:port"; port 0 = ephemeral, *port says
 * which). NULL with *err: WEFT_EINVAL (bad or busy address), -ENOMEM. */
grpc_acceptor *grpc_acceptor_new(const char *addr, size_t max_total, size_t max_per_ip, int *port,
                                 int *err);
/* Start accepting for srv (after grpc_server_start). 0 or -EAGAIN. */
int grpc_acceptor_run(grpc_acceptor *a, grpc_server *srv);
/* Stop accepting and close the listener; the table stays readable. */
void grpc_acceptor_halt(grpc_acceptor *a);
/* Stop accepting and free; connections already handed over stay the
 * core's. Safe with NULL. */
void grpc_acceptor_free(grpc_acceptor *a);
/* The client address behind a core peer name "fd:N", in gRPC's own form
 * ("ipv4:1.2.3.4:5678"). 0, or -1 when unknown. */
int grpc_acceptor_peer(grpc_acceptor *a, const char *core_peer, char *out, size_t cap);
void grpc_acceptor_stats(grpc_acceptor *a, weft_grpc_stats *st);

#endif
