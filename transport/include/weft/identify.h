/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/identify.h: the identify message (/ipfs/id/1.0.0, push
 * /ipfs/id/push/1.0.0) and ping (/ipfs/ping/1.0.0) wire formats.
 *
 * Identify { publicKey = 1; listenAddrs = 2 (binary multiaddrs, repeated);
 * protocols = 3 (repeated); observedAddr = 4; protocolVersion = 5;
 * agentVersion = 6; signedPeerRecord = 8 }, sent uvarint-length-prefixed by
 * the responder, who then closes the stream. Decoding copies into bounded
 * storage: fields beyond the bounds below are dropped and counted, never
 * grown without limit; malformed input is WEFT_EPROTO.
 */
#ifndef WEFT_IDENTIFY_H
#define WEFT_IDENTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/multiaddr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_IDENTIFY_PROTO "/ipfs/id/1.0.0"
#define WEFT_IDENTIFY_PUSH_PROTO "/ipfs/id/push/1.0.0"
#define WEFT_PING_PROTO "/ipfs/ping/1.0.0"
#define WEFT_PING_SIZE 32

#define WEFT_IDENTIFY_MAX_MSG 8192 /* js caps the message at 8 KiB */
#define WEFT_IDENTIFY_MAX_ADDRS 16
#define WEFT_IDENTIFY_MAX_PROTOS 64
#define WEFT_IDENTIFY_MAX_STR 256

typedef struct weft_identify {
    int has_pubkey;
    uint8_t pubkey[32]; /* Ed25519 key from publicKey (other types: has_pubkey = 0) */
    weft_multiaddr listen[WEFT_IDENTIFY_MAX_ADDRS];
    size_t nlisten;
    char protocols[WEFT_IDENTIFY_MAX_PROTOS][WEFT_IDENTIFY_MAX_STR];
    size_t nprotocols;
    int has_observed;
    weft_multiaddr observed;
    char protocol_version[WEFT_IDENTIFY_MAX_STR];
    char agent_version[WEFT_IDENTIFY_MAX_STR];
    size_t dropped; /* fields over the bounds or unparsable addresses, skipped */
} weft_identify;

/* Serialize (without the length prefix). Returns 0 or a weft_buf error. */
WEFT_NODISCARD WEFT_API int weft_identify_encode(const weft_identify *id, weft_buf *out);
/* Parse one message body. Returns 0 or WEFT_EPROTO / WEFT_ETOOBIG. */
WEFT_NODISCARD WEFT_API int weft_identify_decode(const uint8_t *p, size_t len, weft_identify *out);
/* Whether the remote listed a protocol id. */
WEFT_API int weft_identify_has_protocol(const weft_identify *id, const char *proto);

#ifdef __cplusplus
}
#endif
#endif
