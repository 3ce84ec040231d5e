/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/ps_host.h: the topic mesh router (weft/pubsub.h) on a libp2p host.
 *
 * Serves /meshsub/1.2.0, /meshsub/1.1.0, /meshsub/1.0.0 and, in RLNC mode,
 * /weft/rlnc/1.0.0. For every peer it opens one outbound stream per protocol
 * the peer supports (learnt from identify, or from the peer opening a stream
 * to us first) and sends uvarint-length-prefixed RPC frames on it; inbound
 * streams are read the same way. A frame over the router's max_rpc_size
 * resets that stream; a peer whose outbound queue passes its cap has RPCs
 * dropped (counted, DROP_RPC traced) rather than memory grown.
 *
 * The embedding owns the host and must forward the host's on_peer and
 * on_identify callbacks to weft_ps_host_on_peer / weft_ps_host_on_identify.
 */
#ifndef WEFT_PS_HOST_H
#define WEFT_PS_HOST_H

#include "weft/host.h"
#include "weft/pubsub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ps_host weft_ps_host;

/* cfg->io.deliver, io.trace, io.px and io.user are the embedding's; send and
 * now are supplied here (cfg->io.send/now are ignored). cfg->identity must
 * be the host's. Returns NULL with *err set. */
WEFT_API weft_ps_host *weft_ps_host_new(weft_host *h, const weft_ps_config *cfg, int *err);
/* Stop the tick timer, forget every peer and free the router. Call before
 * weft_host_free. */
WEFT_API void weft_ps_host_free(weft_ps_host *psh);
WEFT_API weft_ps *weft_ps_host_router(weft_ps_host *psh);

WEFT_API void weft_ps_host_on_peer(weft_ps_host *psh, weft_peer *p, int up);
WEFT_API void weft_ps_host_on_identify(weft_ps_host *psh, weft_peer *p, const weft_identify *id);

/* Outbound bytes queued per peer and protocol before RPCs are dropped
 * (default 32 MiB). */
WEFT_API void weft_ps_host_set_queue_cap(weft_ps_host *psh, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
