/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/noise.h: the libp2p secure channel `/noise`, i.e. the Noise handshake
 * pattern XX (`-> e`, `<- e, ee, s, es`, `-> s, se`) instantiated as
 * Noise_XX_25519_ChaChaPoly_SHA256 with an empty prologue, followed by the
 * transport phase. Both are sans-I/O engines: they take the bytes that
 * arrived and append the bytes to send to a caller's weft_buf. Nothing here
 * blocks, sleeps, reads a clock or touches a socket; a handshake timeout is
 * the caller's job.
 *
 * Wire facts (../shared/spec/libp2p.md): every Noise message, handshake or
 * transport, travels in a frame of a 2-byte big-endian length followed by
 * that many bytes, at most 65535 including the 16-byte ChaChaPoly tag, so a
 * transport frame carries at most 65519 plaintext bytes. Messages 2
 * (responder) and 3 (initiator) carry a NoiseHandshakePayload protobuf:
 * identity_key = 1 (PublicKey protobuf), identity_sig = 2 (Ed25519 over
 * "noise-libp2p-static-key:" || the sender's 32-byte X25519 static public
 * key), extensions = 4 (NoiseExtensions, stream_muxers = 2).
 *
 * Invariants: a handshake that reports an error is dead for good (every
 * later call repeats the error) and the connection must be closed; secrets
 * (static and ephemeral X25519 keys, chaining key, cipher keys) are wiped
 * with sodium_memzero when the handshake is split or freed, and
 * weft_noise_session_wipe wipes a session. A session's nonces never repeat:
 * a cipher that has used nonce 2^64-2 refuses further work (WEFT_ELIMIT).
 *
 * Threads: a handshake or session object belongs to one thread at a time;
 * different objects may be used concurrently. libsodium is initialised on
 * first use (sodium_init is idempotent and thread-safe).
 */
#ifndef WEFT_NOISE_H
#define WEFT_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/common.h"
#include "weft/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_NOISE_PROTOCOL_ID "/noise"
#define WEFT_NOISE_PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
#define WEFT_NOISE_KEY_LEN 32           /* X25519 keys, cipher keys, hash output */
#define WEFT_NOISE_TAG_LEN 16           /* ChaChaPoly tag */
#define WEFT_NOISE_MSG_MAX 65535        /* one Noise message, tag included */
#define WEFT_NOISE_PLAIN_MAX 65519      /* plaintext in one transport frame */
#define WEFT_NOISE_FRAME_MAX 65537      /* 2-byte length + the largest message */
#define WEFT_NOISE_YAMUX "/yamux/1.0.0" /* the stream muxer we can offer */

/*
 * One CipherState of the Noise framework: key k, nonce n. Keys are only
 * installed by the handshake; the fields are public so that a session can
 * live inside a caller's connection struct, not so that they can be edited
 * (tests set n to check nonce exhaustion).
 */
typedef struct weft_noise_cipher {
    uint8_t k[WEFT_NOISE_KEY_LEN];
    uint64_t n;  /* next nonce; 2^64-1 is reserved and never used */
    int has_key; /* 0 until the handshake installs k */
} weft_noise_cipher;

/*
 * The transport phase: tx encrypts what we send, rx decrypts what we
 * receive. Filled by weft_noise_hs_split; a plain value the caller embeds
 * anywhere (no heap storage). Wipe it with weft_noise_session_wipe.
 */
typedef struct weft_noise_session {
    weft_noise_cipher tx;
    weft_noise_cipher rx;
} weft_noise_session;

/* An in-progress libp2p Noise handshake (opaque; heap-allocated). */
typedef struct weft_noise_hs weft_noise_hs;

/*
 * Early muxer negotiation (NoiseExtensions.stream_muxers). js-libp2p lists
 * its own muxers ("/yamux/1.0.0") in every handshake it makes and picks its
 * muxer from the list the *remote* sent, skipping multistream-select for the
 * muxer when it finds one (and failing when none of ours is known to it).
 * So by default we send no list, and js then runs multistream-select as
 * usual, whatever it sent us. A caller that sets WEFT_NOISE_OFFER_YAMUX must
 * start yamux straight after the handshake when weft_noise_hs_remote_muxers
 * has WEFT_NOISE_REMOTE_YAMUX (both sides listed it), and run
 * multistream-select otherwise.
 */
enum {
    WEFT_NOISE_OFFER_YAMUX = 1u << 0, /* config flag: list "/yamux/1.0.0" */
};

/* Bits returned by weft_noise_hs_remote_muxers. */
enum {
    WEFT_NOISE_REMOTE_LISTED_MUXERS = 1u << 0, /* stream_muxers was not empty */
    WEFT_NOISE_REMOTE_YAMUX = 1u << 1,         /* it contained "/yamux/1.0.0" */
};

/*
 * A Noise static key prepared once for many handshakes: the X25519 key pair
 * and our handshake payload signed over it. Preparing costs a base-point
 * multiplication and an Ed25519 signature; every handshake made from it
 * skips both (about a tenth of one side's handshake CPU). libp2p lets a node
 * keep one static key for the life of the process: the identity key
 * authenticates it, and each session's secrets still come from fresh
 * ephemeral keys. Wipe with weft_noise_static_wipe.
 */
#define WEFT_NOISE_STATIC_PAYLOAD_MAX 128
typedef struct weft_noise_static {
    uint8_t priv[32], pub[32];
    unsigned flags; /* the WEFT_NOISE_* flags the payload was made with */
    size_t payload_len;
    uint8_t payload[WEFT_NOISE_STATIC_PAYLOAD_MAX];
} weft_noise_static;

/* Fill *st for identity id: priv is a 32-byte X25519 private key, or NULL
 * for a fresh random one. Returns 0, WEFT_EINVAL (NULL st or id, unknown
 * flags) or -EIO (libsodium cannot start). */
WEFT_NODISCARD WEFT_API int weft_noise_static_init(weft_noise_static *st, const weft_identity *id,
                                                   const uint8_t *priv, unsigned flags);
WEFT_API void weft_noise_static_wipe(weft_noise_static *st);

typedef struct weft_noise_config {
    int initiator; /* 1: we dialled and send message 1; 0: we accepted */
    /* Our libp2p identity. Borrowed for the duration of the _new call only:
     * the identity signature is made there and the key is not kept. */
    const weft_identity *identity;
    /* The peer we expect (dialling /p2p/<id>), or NULL to accept any peer.
     * Copied. A different remote makes the handshake fail with WEFT_EAUTH. */
    const weft_peer_id *expected_remote;
    /* A 32-byte X25519 private key to use as our Noise static key, or NULL
     * for a fresh one per handshake (the default; js makes one per node).
     * Copied; the copy is wiped with the handshake. */
    const uint8_t *static_key;
    unsigned flags; /* WEFT_NOISE_* above; unknown bits -> WEFT_EINVAL */
    /* A prepared static key (borrowed for the _new call only), or NULL.
     * When set it replaces identity, static_key and flags, which must be
     * NULL, NULL and 0 (else WEFT_EINVAL). */
    const weft_noise_static *prepared;
} weft_noise_config;

/*
 * Create a handshake: generate (or take) the static key, sign it with the
 * identity, encode our handshake payload. Returns the object, or NULL with
 * *err set (err may be NULL): WEFT_EINVAL (NULL identity and no prepared
 * key, unknown flags),
 * -ENOMEM, or -EIO if libsodium cannot be initialised. The caller
 * owns the result and releases it with weft_noise_hs_free.
 */
WEFT_NODISCARD WEFT_API weft_noise_hs *weft_noise_hs_new_config(const weft_noise_config *cfg,
                                                                int *err);

/* weft_noise_hs_new_config with a fresh static key and no flags. */
WEFT_NODISCARD WEFT_API weft_noise_hs *weft_noise_hs_new(int initiator, const weft_identity *id,
                                                         const weft_peer_id *expected_remote,
                                                         int *err);

/*
 * Initiator only, once, before any weft_noise_hs_input: append framed
 * message 1 (`-> e`, empty payload) to out. Returns 0; WEFT_EINVAL for a
 * responder or a second call; a weft_buf error (WEFT_ETOOBIG, -ENOMEM),
 * which leaves out unchanged and kills the handshake.
 */
WEFT_NODISCARD WEFT_API int weft_noise_hs_start(weft_noise_hs *hs, weft_buf *out);

/*
 * Feed received bytes. in[0..len) is borrowed for the call. Only whole
 * frames are consumed: *consumed (always set) counts the bytes of the
 * frames processed, and the caller keeps the rest, appends what arrives
 * next and calls again; it should be ready to buffer WEFT_NOISE_FRAME_MAX
 * bytes. Replies (message 2 for the responder, message 3 for the
 * initiator) are appended, framed, to out.
 *
 * Returns 0 when more input is needed; 1 once the handshake is complete
 * (bytes after the last handshake frame are not consumed: they belong to
 * the transport phase, open them with the session from weft_noise_hs_split;
 * further calls return 1 and consume nothing); < 0 on failure, after which
 * the connection must be closed: WEFT_EPROTO (message too short, malformed
 * payload, missing identity key), WEFT_EAUTH (bad tag, zero DH output,
 * identity signature invalid, remote is not expected_remote), WEFT_ENOTSUP
 * (identity key is not Ed25519), WEFT_EINVAL (initiator before
 * weft_noise_hs_start, or after split), a weft_buf error, -ENOMEM.
 */
WEFT_NODISCARD WEFT_API int weft_noise_hs_input(weft_noise_hs *hs, const uint8_t *in, size_t len,
                                                size_t *consumed, weft_buf *out);

/*
 * After weft_noise_hs_input returned 1: fill *out with the transport
 * ciphers (initiator: tx = first Split key, rx = second; the responder the
 * other way round) and *remote (may be NULL) with the authenticated peer id,
 * then wipe the handshake's secrets. Once only. Returns 0, or WEFT_EINVAL
 * (handshake not complete, failed or already split) leaving *out untouched.
 */
WEFT_NODISCARD WEFT_API int weft_noise_hs_split(weft_noise_hs *hs, weft_noise_session *out,
                                                weft_peer_id *remote);

/*
 * The authenticated remote, available once weft_noise_hs_input returned 1
 * (also after split): its peer id and its 32-byte Ed25519 identity key, each
 * output optional (NULL). Returns 0, or WEFT_EINVAL before completion.
 */
WEFT_NODISCARD WEFT_API int weft_noise_hs_remote(const weft_noise_hs *hs, weft_peer_id *id,
                                                 uint8_t identity_pk[32]);

/* The remote's X25519 static public key (what its identity signed), same
 * availability as weft_noise_hs_remote. Returns 0 or WEFT_EINVAL. */
WEFT_NODISCARD WEFT_API int weft_noise_hs_remote_static(const weft_noise_hs *hs,
                                                        uint8_t static_pub[32]);

/* WEFT_NOISE_REMOTE_* bits from the remote's extensions; 0 before the
 * remote's payload arrived or if it listed no muxer. */
WEFT_API unsigned weft_noise_hs_remote_muxers(const weft_noise_hs *hs);

/* Whether we are the initiator. */
WEFT_API int weft_noise_hs_is_initiator(const weft_noise_hs *hs);

/* Wipe and free. NULL does nothing. */
WEFT_API void weft_noise_hs_free(weft_noise_hs *hs);

/*
 * Encrypt pt[0..len) (borrowed; may be any length, also 0, which writes
 * nothing) into frames of at most WEFT_NOISE_PLAIN_MAX plaintext bytes,
 * each appended to out as length || ciphertext || tag. All or nothing:
 * returns 0, or, leaving out and the nonce unchanged, WEFT_ELIMIT (the
 * frames would need nonce 2^64-1), WEFT_EINVAL (no key: not from a split),
 * WEFT_ETOOBIG (past out's cap) or -ENOMEM. pt must not overlap out.
 */
WEFT_NODISCARD WEFT_API int weft_noise_seal(weft_noise_session *s, const uint8_t *pt, size_t len,
                                            weft_buf *out);

/* Bytes weft_noise_seal writes for len plaintext bytes (SIZE_MAX if that
 * overflows). */
WEFT_API size_t weft_noise_sealed_len(size_t len);

/* weft_noise_seal into out[0..cap) instead of a buffer: *written (always
 * set) receives weft_noise_sealed_len(len) on success. Same errors, and
 * WEFT_ENOSPC when cap is short; on any error nothing counts as written
 * and the nonce is unchanged. pt must not overlap out. */
WEFT_NODISCARD WEFT_API int weft_noise_seal_into(weft_noise_session *s, const uint8_t *pt,
                                                 size_t len, uint8_t *out, size_t cap,
                                                 size_t *written);

/*
 * Decrypt every complete frame in in[0..len) (borrowed), appending the
 * plaintexts to plain in order. *consumed (always set) counts the bytes of
 * the frames opened; a trailing partial frame is left for the next call.
 * Returns 0 (possibly having opened nothing), or < 0 with *consumed and
 * plain reflecting the frames opened before the failing one: WEFT_EAUTH
 * (bad tag), WEFT_EPROTO (frame shorter than a tag), WEFT_ELIMIT (nonce
 * exhausted), WEFT_EINVAL (no key), WEFT_ETOOBIG (past plain's cap), -ENOMEM.
 * Any error means the connection must be closed.
 */
WEFT_NODISCARD WEFT_API int weft_noise_open(weft_noise_session *s, const uint8_t *in, size_t len,
                                            size_t *consumed, weft_buf *plain);

/* Wipe both keys and nonces. */
WEFT_API void weft_noise_session_wipe(weft_noise_session *s);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_NOISE_H */
