/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/multiaddr.h: multiaddrs, text <-> binary, and the sockaddr they name.
 * Binary form: repeated (uvarint protocol code, value). Supported: ip4 (4),
 * tcp (6, 2 bytes big-endian), udp (273), ip6 (41), dns (53), dns4 (54),
 * dns6 (55) (uvarint length + text), p2p (421, uvarint length + peer id
 * multihash; text "ipfs" accepted as an alias). Anything else is
 * WEFT_ENOTSUP; malformed input is WEFT_EPROTO.
 */
#ifndef WEFT_MULTIADDR_H
#define WEFT_MULTIADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "weft/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MA_MAX 256      /* binary bytes */
#define WEFT_MA_TEXT_MAX 512 /* text, with NUL */

typedef struct weft_multiaddr {
    uint16_t len;
    uint8_t bytes[WEFT_MA_MAX];
} weft_multiaddr;

WEFT_NODISCARD WEFT_API int weft_ma_parse(const char *text, weft_multiaddr *out);
WEFT_NODISCARD WEFT_API int weft_ma_from_bytes(const uint8_t *p, size_t len, weft_multiaddr *out);
/* Text form into out; returns its length or WEFT_ENOSPC. */
WEFT_API int weft_ma_to_text(const weft_multiaddr *ma, char *out, size_t cap);

/* The TCP endpoint a multiaddr names (/ip4|ip6/.../tcp/PORT[/p2p/ID]).
 * peer (may be NULL) receives the /p2p/ component and *has_peer says
 * whether there was one. dns* components are WEFT_ENOTSUP here (resolve
 * first). Returns 0, WEFT_ENOTSUP, WEFT_EPROTO. */
WEFT_NODISCARD WEFT_API int weft_ma_to_sockaddr(const weft_multiaddr *ma,
                                                struct sockaddr_storage *sa, socklen_t *salen,
                                                weft_peer_id *peer, int *has_peer);
/* /ip4|ip6/ADDR/tcp/PORT from a sockaddr. */
WEFT_NODISCARD WEFT_API int weft_ma_from_sockaddr(const struct sockaddr *sa, socklen_t salen,
                                                  weft_multiaddr *out);
/* Append /p2p/<peer> to ma. */
WEFT_NODISCARD WEFT_API int weft_ma_append_p2p(weft_multiaddr *ma, const weft_peer_id *peer);

#ifdef __cplusplus
}
#endif
#endif
