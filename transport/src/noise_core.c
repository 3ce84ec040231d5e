/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Noise framework core (noise_internal.h): Noise_XX_25519_ChaChaPoly_SHA256
 * from the Noise specification, revision 34, on libsodium. DH is X25519
 * (crypto_scalarmult, which refuses an all-zero result, so low-order points
 * fail the handshake); the cipher is ChaCha20-Poly1305 IETF with the nonce
 * 0x00000000 || little-endian 64-bit n; HASH is SHA-256 and HKDF is built
 * from HMAC-SHA256 exactly as section 4.3 of the specification describes.
 *
 * Invariants: n only grows and 2^64-1 is never used as a nonce; a failed
 * decryption leaves n unchanged; once a message fails to be written or read
 * the HandshakeState is FAILED (h and ck have moved, so no retry is sound);
 * every temporary holding key material is wiped before the function
 * returns, on every path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "noise_internal.h"

#define HASHLEN 32
#define DHLEN 32
#define TAGLEN WEFT_NOISE_TAG_LEN

/* ---- CipherState -------------------------------------------------------------------------- */

void
weft_noise_cipher_init(weft_noise_cipher *c, const uint8_t *k)
{
    if (k != NULL) {
        memcpy(c->k, k, sizeof c->k);
        c->has_key = 1;
    } else {
        sodium_memzero(c->k, sizeof c->k);
        c->has_key = 0;
    }
    c->n = 0;
}

static void
make_nonce(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

int
weft_noise_cipher_encrypt(weft_noise_cipher *c, const uint8_t *ad, size_t adlen, const uint8_t *pt,
                          size_t len, uint8_t *ct)
{
    if (!c->has_key) {
        if (len != 0 && ct != pt)
            memmove(ct, pt, len);
        return 0;
    }
    if (c->n == UINT64_MAX)
        return WEFT_ELIMIT;
    uint8_t nonce[12];
    make_nonce(nonce, c->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, len, ad, adlen, NULL, nonce, c->k);
    c->n++;
    return 0;
}

int
weft_noise_cipher_decrypt(weft_noise_cipher *c, const uint8_t *ad, size_t adlen, const uint8_t *ct,
                          size_t len, uint8_t *pt)
{
    if (!c->has_key) {
        if (len != 0 && ct != pt)
            memmove(pt, ct, len);
        return 0;
    }
    if (len < TAGLEN)
        return WEFT_EPROTO;
    if (c->n == UINT64_MAX)
        return WEFT_ELIMIT;
    uint8_t nonce[12];
    make_nonce(nonce, c->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, len, ad, adlen, nonce,
                                                  c->k) != 0)
        return WEFT_EAUTH;
    c->n++;
    return 0;
}

/* ---- HMAC and HKDF ------------------------------------------------------------------------ */

/* HMAC-SHA256(key, a || b). */
static void
hmac2(const uint8_t key[HASHLEN], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
      uint8_t out[HASHLEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, HASHLEN);
    if (alen)
        crypto_auth_hmacsha256_update(&st, a, alen);
    if (blen)
        crypto_auth_hmacsha256_update(&st, b, blen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void
weft_noise_hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikmlen, uint8_t out1[HASHLEN],
                uint8_t out2[HASHLEN], uint8_t *out3)
{
    static const uint8_t one = 1, two = 2, three = 3;
    uint8_t temp_key[HASHLEN], o1[HASHLEN], o2[HASHLEN];

    /* temp_key = HMAC(ck, ikm); output_i = HMAC(temp_key, output_{i-1} || i). Outputs go
     * through locals so that out1 may alias ck. */
    hmac2(ck, ikm, ikmlen, NULL, 0, temp_key);
    hmac2(temp_key, &one, 1, NULL, 0, o1);
    hmac2(temp_key, o1, HASHLEN, &two, 1, o2);
    if (out3 != NULL)
        hmac2(temp_key, o2, HASHLEN, &three, 1, out3);
    memcpy(out1, o1, HASHLEN);
    memcpy(out2, o2, HASHLEN);
    sodium_memzero(temp_key, sizeof temp_key);
    sodium_memzero(o1, sizeof o1);
    sodium_memzero(o2, sizeof o2);
}

/* ---- SymmetricState ----------------------------------------------------------------------- */

static void
initialize_symmetric(weft_noise_symmetric *ss, const char *name)
{
    size_t len = strlen(name);
    if (len <= HASHLEN) {
        memset(ss->h, 0, HASHLEN);
        memcpy(ss->h, name, len);
    } else {
        crypto_hash_sha256(ss->h, (const uint8_t *)name, len);
    }
    memcpy(ss->ck, ss->h, HASHLEN);
    weft_noise_cipher_init(&ss->cs, NULL);
}

static void
mix_hash(weft_noise_symmetric *ss, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, ss->h, HASHLEN);
    if (len)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, ss->h);
    sodium_memzero(&st, sizeof st);
}

static void
mix_key(weft_noise_symmetric *ss, const uint8_t ikm[DHLEN])
{
    uint8_t temp_k[HASHLEN];
    weft_noise_hkdf(ss->ck, ikm, DHLEN, ss->ck, temp_k, NULL);
    weft_noise_cipher_init(&ss->cs, temp_k);
    sodium_memzero(temp_k, sizeof temp_k);
}

/* out receives len (+ 16 when keyed) bytes; pt and out must not overlap. */
static int
encrypt_and_hash(weft_noise_symmetric *ss, const uint8_t *pt, size_t len, uint8_t *out)
{
    size_t outlen = len + (ss->cs.has_key ? TAGLEN : 0);
    int rc = weft_noise_cipher_encrypt(&ss->cs, ss->h, HASHLEN, pt, len, out);
    if (rc < 0)
        return rc;
    mix_hash(ss, out, outlen);
    return 0;
}

/* ct and out must not overlap: h absorbs ct after the decryption. */
static int
decrypt_and_hash(weft_noise_symmetric *ss, const uint8_t *ct, size_t len, uint8_t *out)
{
    int rc = weft_noise_cipher_decrypt(&ss->cs, ss->h, HASHLEN, ct, len, out);
    if (rc < 0)
        return rc;
    mix_hash(ss, ct, len);
    return 0;
}

/* ---- HandshakeState (XX only) ------------------------------------------------------------- */

/* DH(priv, pub) mixed into the key. An all-zero shared secret (a low-order point from the
 * peer) makes crypto_scalarmult fail, and so the handshake. */
static int
mix_dh(weft_noise_xx *hs, const uint8_t priv[DHLEN], const uint8_t pub[DHLEN])
{
    uint8_t shared[DHLEN];
    int rc = 0;
    if (crypto_scalarmult(shared, priv, pub) != 0) {
        rc = WEFT_EAUTH;
        goto out;
    }
    mix_key(&hs->ss, shared);
out:
    sodium_memzero(shared, sizeof shared);
    return rc;
}

int
weft_noise_xx_init(weft_noise_xx *hs, int initiator, const uint8_t *prologue, size_t plen,
                   const uint8_t s_priv[32], const uint8_t *e_priv)
{
    uint8_t s_pub[32];
    if (sodium_init() < 0)
        return WEFT_EINVAL;
    crypto_scalarmult_base(s_pub, s_priv);
    return weft_noise_xx_init_pub(hs, initiator, prologue, plen, s_priv, s_pub, e_priv);
}

int
weft_noise_xx_init_pub(weft_noise_xx *hs, int initiator, const uint8_t *prologue, size_t plen,
                       const uint8_t s_priv[32], const uint8_t s_pub[32], const uint8_t *e_priv)
{
    if (sodium_init() < 0)
        return WEFT_EINVAL;
    memset(hs, 0, sizeof *hs);
    hs->initiator = initiator != 0;
    initialize_symmetric(&hs->ss, WEFT_NOISE_PROTOCOL_NAME);
    mix_hash(&hs->ss, prologue, plen);
    memcpy(hs->s_priv, s_priv, 32);
    memcpy(hs->s_pub, s_pub, 32);
    if (e_priv != NULL) {
        memcpy(hs->e_priv, e_priv, 32);
        crypto_scalarmult_base(hs->e_pub, hs->e_priv);
        hs->have_e = 1;
    }
    hs->step = WEFT_NOISE_XX_MSG1;
    return 0;
}

static int
our_turn(const weft_noise_xx *hs)
{
    switch (hs->step) {
    case WEFT_NOISE_XX_MSG1:
    case WEFT_NOISE_XX_MSG3: return hs->initiator;
    case WEFT_NOISE_XX_MSG2: return !hs->initiator;
    default: return 0;
    }
}

/* Bytes of message step around a payload of plen bytes. */
static size_t
overhead(int step)
{
    switch (step) {
    case WEFT_NOISE_XX_MSG1: return DHLEN;                           /* e, clear payload */
    case WEFT_NOISE_XX_MSG2: return DHLEN + DHLEN + TAGLEN + TAGLEN; /* e, s, payload tag */
    case WEFT_NOISE_XX_MSG3: return DHLEN + TAGLEN + TAGLEN;         /* s, payload tag */
    default: return 0;
    }
}

size_t
weft_noise_xx_write_len(const weft_noise_xx *hs, size_t plen)
{
    return overhead(hs->step) + plen;
}

static void
make_ephemeral(weft_noise_xx *hs)
{
    if (hs->have_e)
        return;
    randombytes_buf(hs->e_priv, sizeof hs->e_priv);
    crypto_scalarmult_base(hs->e_pub, hs->e_priv);
    hs->have_e = 1;
}

int
weft_noise_xx_write(weft_noise_xx *hs, const uint8_t *payload, size_t plen, uint8_t *out,
                    size_t cap)
{
    if (!our_turn(hs))
        return WEFT_EINVAL;
    size_t need = overhead(hs->step);
    if (plen > WEFT_NOISE_MSG_MAX - need) {
        hs->step = WEFT_NOISE_XX_FAILED;
        return WEFT_ETOOBIG;
    }
    need += plen;
    if (need > cap)
        return WEFT_ENOSPC;

    uint8_t *p = out;
    int rc = 0;
    switch (hs->step) {
    case WEFT_NOISE_XX_MSG1:
        /* -> e */
        make_ephemeral(hs);
        memcpy(p, hs->e_pub, DHLEN);
        mix_hash(&hs->ss, hs->e_pub, DHLEN);
        p += DHLEN;
        break;
    case WEFT_NOISE_XX_MSG2:
        /* <- e */
        make_ephemeral(hs);
        memcpy(p, hs->e_pub, DHLEN);
        mix_hash(&hs->ss, hs->e_pub, DHLEN);
        p += DHLEN;
        /* ee */
        if ((rc = mix_dh(hs, hs->e_priv, hs->re)) < 0)
            goto fail;
        /* s */
        if ((rc = encrypt_and_hash(&hs->ss, hs->s_pub, DHLEN, p)) < 0)
            goto fail;
        p += DHLEN + TAGLEN;
        /* es: the responder holds s */
        if ((rc = mix_dh(hs, hs->s_priv, hs->re)) < 0)
            goto fail;
        break;
    case WEFT_NOISE_XX_MSG3:
        /* -> s */
        if ((rc = encrypt_and_hash(&hs->ss, hs->s_pub, DHLEN, p)) < 0)
            goto fail;
        p += DHLEN + TAGLEN;
        /* se: the initiator holds s */
        if ((rc = mix_dh(hs, hs->s_priv, hs->re)) < 0)
            goto fail;
        break;
    default: weft_panic("noise: write in impossible step %d", hs->step);
    }
    if ((rc = encrypt_and_hash(&hs->ss, payload, plen, p)) < 0)
        goto fail;
    hs->step++;
    return (int)need;
fail:
    hs->step = WEFT_NOISE_XX_FAILED;
    sodium_memzero(out, need);
    return rc;
}

int
weft_noise_xx_read(weft_noise_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap)
{
    if (hs->step > WEFT_NOISE_XX_MSG3 || our_turn(hs))
        return WEFT_EINVAL;
    size_t over = overhead(hs->step);
    if (len > WEFT_NOISE_MSG_MAX || len < over) {
        hs->step = WEFT_NOISE_XX_FAILED;
        return WEFT_EPROTO;
    }
    size_t plen = len - over;
    if (plen > cap)
        return WEFT_ENOSPC;

    const uint8_t *p = msg;
    int rc = 0;
    switch (hs->step) {
    case WEFT_NOISE_XX_MSG1:
        /* -> e */
        memcpy(hs->re, p, DHLEN);
        mix_hash(&hs->ss, hs->re, DHLEN);
        p += DHLEN;
        break;
    case WEFT_NOISE_XX_MSG2:
        /* <- e */
        memcpy(hs->re, p, DHLEN);
        mix_hash(&hs->ss, hs->re, DHLEN);
        p += DHLEN;
        /* ee */
        if ((rc = mix_dh(hs, hs->e_priv, hs->re)) < 0)
            goto fail;
        /* s */
        if ((rc = decrypt_and_hash(&hs->ss, p, DHLEN + TAGLEN, hs->rs)) < 0)
            goto fail;
        p += DHLEN + TAGLEN;
        /* es: the initiator holds e */
        if ((rc = mix_dh(hs, hs->e_priv, hs->rs)) < 0)
            goto fail;
        break;
    case WEFT_NOISE_XX_MSG3:
        /* -> s */
        if ((rc = decrypt_and_hash(&hs->ss, p, DHLEN + TAGLEN, hs->rs)) < 0)
            goto fail;
        p += DHLEN + TAGLEN;
        /* se: the responder holds e */
        if ((rc = mix_dh(hs, hs->e_priv, hs->rs)) < 0)
            goto fail;
        break;
    default: weft_panic("noise: read in impossible step %d", hs->step);
    }
    if ((rc = decrypt_and_hash(&hs->ss, p, (size_t)(msg + len - p), payload)) < 0)
        goto fail;
    hs->step++;
    return (int)plen;
fail:
    hs->step = WEFT_NOISE_XX_FAILED;
    if (plen)
        sodium_memzero(payload, plen);
    return rc;
}

int
weft_noise_xx_split(weft_noise_xx *hs, weft_noise_session *out, uint8_t hash[32])
{
    if (hs->step != WEFT_NOISE_XX_DONE)
        return WEFT_EINVAL;
    uint8_t k1[HASHLEN], k2[HASHLEN];
    weft_noise_hkdf(hs->ss.ck, NULL, 0, k1, k2, NULL);
    /* The first key encrypts initiator -> responder. */
    weft_noise_cipher_init(&out->tx, hs->initiator ? k1 : k2);
    weft_noise_cipher_init(&out->rx, hs->initiator ? k2 : k1);
    if (hash != NULL)
        memcpy(hash, hs->ss.h, HASHLEN);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    return 0;
}

void
weft_noise_xx_wipe(weft_noise_xx *hs)
{
    int initiator = hs->initiator;
    sodium_memzero(hs, sizeof *hs);
    /* FAILED, so that nothing (Split above all) runs on the zeroed keys. */
    hs->step = WEFT_NOISE_XX_FAILED;
    hs->initiator = initiator;
}
