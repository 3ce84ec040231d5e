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

/* Text to binary. Strict: a leading '/', no empty component (so no
 * trailing '/'), ip4 as four decimal octets without leading zeros, ip6 as
 * inet_pton reads it (no zone), ports as 1-5 digits <= 65535, p2p as
 * weft_peer_id_parse reads it. Unknown protocol: WEFT_ENOTSUP; anything
 * else wrong, an empty multiaddr, more than WEFT_MA_MAX bytes, or a
 * canonical text form that would not fit WEFT_MA_TEXT_MAX: WEFT_EPROTO.
 * *out is written only on success. */
WEFT_NODISCARD WEFT_API int weft_ma_parse(const char *text, weft_multiaddr *out);
/* Validate and copy binary: every component is walked with bounds checks;
 * varints must be minimal, dns names non-empty without '/' or NUL, p2p
 * values valid peer ids. Same errors and length limits as weft_ma_parse. */
WEFT_NODISCARD WEFT_API int weft_ma_from_bytes(const uint8_t *p, size_t len, weft_multiaddr *out);
/* Text form into out, NUL-terminated; returns its length or WEFT_ENOSPC.
 * Never WEFT_ENOSPC with cap >= WEFT_MA_TEXT_MAX for a multiaddr from
 * this API; parsing the text gives back the same bytes. */
WEFT_API int weft_ma_to_text(const weft_multiaddr *ma, char *out, size_t cap);

/* The TCP endpoint a multiaddr names (/ip4|ip6/.../tcp/PORT[/p2p/ID]).
 * peer (may be NULL) receives the /p2p/ component and *has_peer says
 * whether there was one. dns* components are WEFT_ENOTSUP here
 * (weft_ma_resolve takes them). Returns 0, WEFT_ENOTSUP, WEFT_EPROTO. */
WEFT_NODISCARD WEFT_API int weft_ma_to_sockaddr(const weft_multiaddr *ma,
                                                struct sockaddr_storage *sa, socklen_t *salen,
                                                weft_peer_id *peer, int *has_peer);
/* As weft_ma_to_sockaddr, and /dns4|dns6|dns/NAME/tcp/PORT[/p2p/ID] too:
 * the name is resolved (weft/resolve.h: dns4 IPv4 only, dns6 IPv6 only,
 * dns either), blocking the caller for at most timeout_ms; call it again
 * to resolve again (a redial). With sa NULL only the form is checked and
 * the peer id extracted, nothing resolved. Returns 0, WEFT_ERESOLVE (why in
 * err, cap bytes, may be NULL), WEFT_ENOTSUP (no TCP endpoint), WEFT_EPROTO,
 * WEFT_EINVAL. */
WEFT_NODISCARD WEFT_API int weft_ma_resolve(const weft_multiaddr *ma, int timeout_ms,
                                            struct sockaddr_storage *sa, socklen_t *salen,
                                            weft_peer_id *peer, int *has_peer, char *err,
                                            size_t cap);
/* /ip4|ip6/ADDR/tcp/PORT from a sockaddr. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, a v4 peer on a dual-stack socket) becomes /ip4, as in
 * go-multiaddr. Returns 0, WEFT_ENOTSUP (another family) or WEFT_EINVAL
 * (salen too short for the family). */
WEFT_NODISCARD WEFT_API int weft_ma_from_sockaddr(const struct sockaddr *sa, socklen_t salen,
                                                  weft_multiaddr *out);
/* Append /p2p/<peer> to ma. Returns 0, WEFT_EINVAL (peer not a valid id),
 * WEFT_ENOSPC (the result would exceed WEFT_MA_MAX or WEFT_MA_TEXT_MAX;
 * ma is then unchanged) or the error of an invalid ma. */
WEFT_NODISCARD WEFT_API int weft_ma_append_p2p(weft_multiaddr *ma, const weft_peer_id *peer);

#ifdef __cplusplus
}
#endif
#endif
