/* SPDX-License-Identifier: Apache-2.0 */
/*
 * noise_internal.h: the generic Noise framework core behind weft/noise.h,
 * for the libp2p layer (noise.c), the tests (published test vectors, forged
 * payloads) and the fuzz target. Not installed; symbols are hidden.
 *
 * The core is Noise_XX_25519_ChaChaPoly_SHA256 as the Noise specification
 * (revision 34) defines it: CipherState (k, n), SymmetricState (ck, h,
 * MixKey, MixHash, EncryptAndHash, DecryptAndHash, Split) and a
 * HandshakeState that runs only the XX pattern, with the prologue, the
 * static key and (for test vectors) the ephemeral key injectable. It knows
 * nothing of framing or libp2p payloads. Any failed read or write leaves the
 * handshake state failed for good, since h and ck have already moved.
 */
#ifndef WEFT_NOISE_INTERNAL_H
#define WEFT_NOISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/noise.h"

/* CipherState with k installed or not. */
void weft_noise_cipher_init(weft_noise_cipher *c, const uint8_t *k);
/* EncryptWithAd: ct = pt || tag when keyed, else a copy (ct may equal pt).
 * Writes len + 16 (keyed) or len bytes. Returns 0 or WEFT_ELIMIT. */
int weft_noise_cipher_encrypt(weft_noise_cipher *c, const uint8_t *ad, size_t adlen,
                              const uint8_t *pt, size_t len, uint8_t *ct);
/* DecryptWithAd: len counts the tag when keyed. Writes len - 16 (keyed) or
 * len bytes. Returns 0, WEFT_EAUTH (bad tag; n unchanged), WEFT_EPROTO
 * (shorter than a tag) or WEFT_ELIMIT. */
int weft_noise_cipher_decrypt(weft_noise_cipher *c, const uint8_t *ad, size_t adlen,
                              const uint8_t *ct, size_t len, uint8_t *pt);

/* HKDF(ck, ikm) of the Noise specification (section 4.3): RFC 5869 with salt ck and empty
 * info. out1 may alias ck; out3 may be NULL for the two-output form. */
void weft_noise_hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t ikmlen, uint8_t out1[32],
                     uint8_t out2[32], uint8_t *out3);

typedef struct weft_noise_symmetric {
    weft_noise_cipher cs;
    uint8_t ck[WEFT_NOISE_KEY_LEN];
    uint8_t h[WEFT_NOISE_KEY_LEN];
} weft_noise_symmetric;

enum {
    WEFT_NOISE_XX_MSG1 = 0, /* next message is 1 (`-> e`) */
    WEFT_NOISE_XX_MSG2,     /* next message is 2 (`<- e, ee, s, es`) */
    WEFT_NOISE_XX_MSG3,     /* next message is 3 (`-> s, se`) */
    WEFT_NOISE_XX_DONE,     /* ready for Split */
    WEFT_NOISE_XX_FAILED,
};

typedef struct weft_noise_xx {
    weft_noise_symmetric ss;
    uint8_t s_priv[32], s_pub[32];
    uint8_t e_priv[32], e_pub[32];
    uint8_t rs[32], re[32];
    int initiator;
    int have_e; /* ephemeral injected (test vectors), else made when sent */
    int step;   /* WEFT_NOISE_XX_* */
} weft_noise_xx;

/*
 * Initialize(XX, initiator, prologue, s, e): protocol name
 * WEFT_NOISE_PROTOCOL_NAME, prologue (may be empty) mixed into h. s_priv is
 * required; e_priv is NULL except for test vectors. Returns 0, or
 * WEFT_EINVAL if libsodium cannot start.
 */
int weft_noise_xx_init(weft_noise_xx *hs, int initiator, const uint8_t *prologue, size_t plen,
                       const uint8_t s_priv[32], const uint8_t *e_priv);
/* The same with s_pub already known (s_pub = X25519(s_priv, 9), unchecked):
 * saves the base-point multiplication. */
int weft_noise_xx_init_pub(weft_noise_xx *hs, int initiator, const uint8_t *prologue, size_t plen,
                           const uint8_t s_priv[32], const uint8_t s_pub[32],
                           const uint8_t *e_priv);

/* Bytes that the next WriteMessage produces for a payload of plen bytes. */
size_t weft_noise_xx_write_len(const weft_noise_xx *hs, size_t plen);

/*
 * WriteMessage for our turn: out receives weft_noise_xx_write_len bytes
 * (cap must allow it). Returns the message length, or WEFT_EINVAL (not our
 * turn, or failed), WEFT_ENOSPC (cap), WEFT_ETOOBIG (over 65535 bytes),
 * WEFT_EAUTH (a DH gave zero). Anything but WEFT_EINVAL and WEFT_ENOSPC
 * marks the state failed.
 */
int weft_noise_xx_write(weft_noise_xx *hs, const uint8_t *payload, size_t plen, uint8_t *out,
                        size_t cap);

/*
 * ReadMessage for the peer's turn: payload receives at most len bytes
 * (a cap of len always suffices). Returns the payload length, or
 * WEFT_EINVAL (not their turn), WEFT_ENOSPC (cap), WEFT_EPROTO (too short,
 * over 65535 bytes), WEFT_EAUTH (bad tag, zero DH). Errors other than
 * WEFT_EINVAL and WEFT_ENOSPC mark the state failed.
 */
int weft_noise_xx_read(weft_noise_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload,
                       size_t cap);

/*
 * Split after message 3: *out gets tx/rx oriented for our role and the
 * handshake hash goes to hash (may be NULL). Returns 0 or WEFT_EINVAL.
 * Does not wipe; call weft_noise_xx_wipe.
 */
int weft_noise_xx_split(weft_noise_xx *hs, weft_noise_session *out, uint8_t hash[32]);

/* Wipe every key; the state becomes FAILED. */
void weft_noise_xx_wipe(weft_noise_xx *hs);

/* ---- libp2p handshake payload (noise.c) ------------------------------------------------ */

#define WEFT_NOISE_SIG_PREFIX "noise-libp2p-static-key:"
#define WEFT_NOISE_PAYLOAD_MAX WEFT_NOISE_STATIC_PAYLOAD_MAX /* ours, with the muxer extension */

/*
 * Encode our NoiseHandshakePayload: identity_key, identity_sig over
 * WEFT_NOISE_SIG_PREFIX || static_pub, and, with WEFT_NOISE_OFFER_YAMUX,
 * extensions { stream_muxers: "/yamux/1.0.0" }. Returns the length (at most
 * WEFT_NOISE_PAYLOAD_MAX), or WEFT_ENOSPC.
 */
int weft_noise_payload_encode(const weft_identity *id, const uint8_t static_pub[32], unsigned flags,
                              uint8_t *out, size_t cap);

typedef struct weft_noise_remote {
    uint8_t identity_pk[32];
    weft_peer_id peer;
    unsigned muxers; /* WEFT_NOISE_REMOTE_* */
} weft_noise_remote;

/*
 * Parse and verify a remote NoiseHandshakePayload against the remote's
 * static key: identity key present and Ed25519, signature valid; unknown
 * fields skipped. Fills *out. Returns 0, WEFT_EPROTO, WEFT_ENOTSUP or
 * WEFT_EAUTH. Does not check an expected peer id.
 */
int weft_noise_payload_verify(const uint8_t *p, size_t len, const uint8_t static_pub[32],
                              weft_noise_remote *out);

#endif /* WEFT_NOISE_INTERNAL_H */
