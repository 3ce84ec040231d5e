/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/identity.h: libp2p identities. Ed25519 keys (libsodium), their
 * protobuf encodings, peer ids (multihash bytes; base58btc text, CIDv1
 * base32 accepted), and the p2p.key identity file of OptimumP2P nodes.
 *
 * Wire facts (../shared/spec/libp2p.md): PublicKey protobuf = 08 01 12 20
 * || 32-byte key; PrivateKey protobuf = 08 01 12 40 || seed || public; peer
 * id = identity multihash 00 24 || PublicKey protobuf when that is <= 42
 * bytes, else 12 20 || sha256(protobuf). Only Ed25519 keys are created or
 * used for signing; other key types parse to WEFT_ENOTSUP.
 *
 * p2p.key: 8 bytes little-endian CRC-64 (ISO polynomial, init and final xor
 * all ones, as Go's crc64.ISO) of the rest, then JSON
 * {"Key":"<base64 PrivateKey protobuf>","ID":"12D3KooW..."}.
 */
#ifndef WEFT_IDENTITY_H
#define WEFT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_PEER_ID_MAX 64   /* multihash bytes */
#define WEFT_PEER_ID_TEXT 128 /* base58btc text, with NUL */

/* An Ed25519 identity. sk is libsodium's 64-byte form (seed || public). */
typedef struct weft_identity {
    uint8_t sk[64];
    uint8_t pk[32];
} weft_identity;

typedef struct weft_peer_id {
    uint8_t len;
    uint8_t bytes[WEFT_PEER_ID_MAX];
} weft_peer_id;

/* New random identity. Returns 0 or -errno. */
WEFT_NODISCARD WEFT_API int weft_identity_generate(weft_identity *id);
/* Deterministic identity from a 32-byte seed. */
WEFT_API void weft_identity_from_seed(weft_identity *id, const uint8_t seed[32]);
/* Wipe secret bytes. */
WEFT_API void weft_identity_wipe(weft_identity *id);

/* Ed25519 detached signature (64 bytes) and verification (0 or WEFT_EAUTH). */
WEFT_API void weft_sign(const weft_identity *id, const uint8_t *msg, size_t len, uint8_t sig[64]);
WEFT_NODISCARD WEFT_API int weft_verify(const uint8_t pk[32], const uint8_t *msg, size_t len,
                                        const uint8_t sig[64]);

/* PublicKey protobuf of an Ed25519 key: writes 36 bytes into out. Decoders of
 * both key messages skip unknown fields but refuse a field repeated or sent
 * with the wrong wire type (WEFT_EPROTO). */
WEFT_API void weft_pubkey_pb_encode(const uint8_t pk[32], uint8_t out[36]);
/* Parse a PublicKey protobuf; Ed25519 only. Returns 0, WEFT_EPROTO,
 * WEFT_ENOTSUP (another key type). */
WEFT_NODISCARD WEFT_API int weft_pubkey_pb_decode(const uint8_t *p, size_t len, uint8_t pk[32]);
/* PrivateKey protobuf: writes 68 bytes. */
WEFT_API void weft_privkey_pb_encode(const weft_identity *id, uint8_t out[68]);
/* Parse a PrivateKey protobuf (Data = 64-byte seed||public, or a bare
 * 32-byte seed); checks that the public half matches the seed. Returns 0,
 * WEFT_EPROTO (malformed, wrong length, public half mismatch) or
 * WEFT_ENOTSUP (another key type). */
WEFT_NODISCARD WEFT_API int weft_privkey_pb_decode(const uint8_t *p, size_t len, weft_identity *id);

/* Peer id of an Ed25519 public key (identity multihash, 38 bytes). */
WEFT_API void weft_peer_id_from_pubkey(const uint8_t pk[32], weft_peer_id *out);
/* Validate multihash bytes as a peer id (identity 0x00 with length <= 42,
 * or sha2-256 0x12 with 32 bytes). Returns 0 or WEFT_EPROTO. */
WEFT_NODISCARD WEFT_API int weft_peer_id_from_bytes(const uint8_t *p, size_t len,
                                                    weft_peer_id *out);
/* The Ed25519 key inside an identity-multihash peer id: 0, or WEFT_ENOTSUP
 * when the id is a hash or holds another key type. */
WEFT_NODISCARD WEFT_API int weft_peer_id_pubkey(const weft_peer_id *id, uint8_t pk[32]);
/* base58btc text into out (cap >= WEFT_PEER_ID_TEXT), NUL-terminated.
 * Returns the length, or WEFT_ENOSPC / WEFT_EINVAL. */
WEFT_API int weft_peer_id_to_text(const weft_peer_id *id, char *out, size_t cap);
/* Parse base58btc ("12D3KooW...", "Qm...") or CIDv1 (multibase 'b'
 * base32, codec 0x72 libp2p-key). Returns 0 or WEFT_EPROTO. Text is read
 * at most up to WEFT_PEER_ID_TEXT bytes; longer text is WEFT_EPROTO. */
WEFT_NODISCARD WEFT_API int weft_peer_id_parse(const char *text, weft_peer_id *out);
WEFT_API int weft_peer_id_equal(const weft_peer_id *a, const weft_peer_id *b);

/* Load p2p.key. Returns 0; -errno (file); WEFT_ECHECKSUM ("checksum
 * mismatch", also for files shorter than 8 bytes); WEFT_EPROTO (bad JSON,
 * base64 or key, or an ID that does not match the key, or a file over
 * 64 KiB); WEFT_ENOTSUP (a valid key of a type other than Ed25519). JSON:
 * one object whose "Key" and "ID" members appear once each as strings;
 * other members are ignored. If err_detail is not NULL it receives a
 * one-line explanation (cap bytes; "" on success). */
WEFT_NODISCARD WEFT_API int weft_keyfile_load(const char *path, weft_identity *id, char *err_detail,
                                              size_t cap);
/* Write p2p.key atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory), mode 0600. Returns 0 or -errno. */
WEFT_NODISCARD WEFT_API int weft_keyfile_save(const char *path, const weft_identity *id);

#ifdef __cplusplus
}
#endif
#endif
