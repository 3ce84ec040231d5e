/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libp2p `/noise` secure channel (weft/noise.h) on top of the XX core
 * (noise_core.c): 2-byte big-endian framing, the NoiseHandshakePayload that
 * binds the Noise static key to the libp2p identity, verification of the
 * remote's payload, and the framed transport phase.
 *
 * Invariants: the handshake consumes whole frames only and never looks past
 * the frame that completes it; the first error is sticky; our identity's
 * secret key is used once, in weft_noise_hs_new_config, to sign the static
 * key, and never stored; the initiator sends message 3 only after the
 * responder's payload has been verified (and matched against the expected
 * peer id), and the responder reports completion only after message 3's
 * payload has been. Seal is all-or-nothing; open stops at the first bad
 * frame. Handshake secrets are wiped on split, failure and free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "noise_internal.h"
#include "weft/pb.h"

enum { HS_ACTIVE, HS_DONE, HS_SPLIT, HS_FAILED };

struct weft_noise_hs {
    weft_noise_xx xx;
    int state;   /* HS_* */
    int err;     /* the sticky error once HS_FAILED */
    int started; /* initiator: message 1 sent */
    int has_expected;
    weft_peer_id expected;
    uint8_t payload[WEFT_NOISE_PAYLOAD_MAX]; /* ours, signed in _new */
    size_t payload_len;
    int have_remote;
    weft_noise_remote remote;
    uint8_t remote_static[32];
};

static size_t
get_be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static void
put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- handshake payload ------------------------------------------------------------------ */

static void
signed_bytes(const uint8_t static_pub[32], uint8_t out[sizeof WEFT_NOISE_SIG_PREFIX - 1 + 32])
{
    memcpy(out, WEFT_NOISE_SIG_PREFIX, sizeof WEFT_NOISE_SIG_PREFIX - 1);
    memcpy(out + sizeof WEFT_NOISE_SIG_PREFIX - 1, static_pub, 32);
}

int
weft_noise_payload_encode(const weft_identity *id, const uint8_t static_pub[32], unsigned flags,
                          uint8_t *out, size_t cap)
{
    uint8_t key_pb[36], msg[sizeof WEFT_NOISE_SIG_PREFIX - 1 + 32], sig[64], ext_mem[32];
    weft_buf b, ext;
    int rc;

    if (cap == 0)
        return WEFT_ENOSPC;
    /* Fixed-size buffers whose cap is their max: the writers never allocate. */
    weft_buf_init(&b, out, cap, cap);
    weft_pubkey_pb_encode(id->pk, key_pb);
    signed_bytes(static_pub, msg);
    weft_sign(id, msg, sizeof msg, sig);
    if ((rc = weft_pb_put_bytes(&b, 1, key_pb, sizeof key_pb)) < 0 ||
        (rc = weft_pb_put_bytes(&b, 2, sig, sizeof sig)) < 0)
        goto out;
    if (flags & WEFT_NOISE_OFFER_YAMUX) {
        weft_buf_init(&ext, ext_mem, sizeof ext_mem, sizeof ext_mem);
        if ((rc = weft_pb_put_str(&ext, 2, WEFT_NOISE_YAMUX)) < 0 ||
            (rc = weft_pb_put_bytes(&b, 4, ext.base, ext.len)) < 0)
            goto out;
    }
    rc = (int)b.len;
out:
    if (rc < 0)
        rc = WEFT_ENOSPC;
    return rc;
}

/* NoiseExtensions: note the muxers; certhashes (1) and unknown fields are skipped. */
static int
parse_extensions(const uint8_t *p, size_t len, unsigned *muxers)
{
    weft_pb_reader r;
    weft_pb_field f;
    int rc;

    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num != 2)
            continue;
        if (f.wire != WEFT_PB_LEN)
            return WEFT_EPROTO;
        *muxers |= WEFT_NOISE_REMOTE_LISTED_MUXERS;
        if (f.len == sizeof WEFT_NOISE_YAMUX - 1 &&
            memcmp(f.data, WEFT_NOISE_YAMUX, sizeof WEFT_NOISE_YAMUX - 1) == 0)
            *muxers |= WEFT_NOISE_REMOTE_YAMUX;
    }
    return rc < 0 ? WEFT_EPROTO : 0;
}

int
weft_noise_payload_verify(const uint8_t *p, size_t len, const uint8_t static_pub[32],
                          weft_noise_remote *out)
{
    const uint8_t *key = NULL, *sig = NULL;
    size_t key_len = 0, sig_len = 0;
    unsigned muxers = 0;
    uint8_t msg[sizeof WEFT_NOISE_SIG_PREFIX - 1 + 32];
    weft_pb_reader r;
    weft_pb_field f;
    int rc;

    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num != 1 && f.num != 2 && f.num != 4)
            continue; /* unknown: ignored */
        if (f.wire != WEFT_PB_LEN)
            return WEFT_EPROTO;
        /* A repeated field replaces the earlier one, as protobuf parsers merge scalars. */
        if (f.num == 1) {
            key = f.data;
            key_len = f.len;
        } else if (f.num == 2) {
            sig = f.data;
            sig_len = f.len;
        } else if ((rc = parse_extensions(f.data, f.len, &muxers)) < 0) {
            return rc;
        }
    }
    if (rc < 0 || key == NULL)
        return WEFT_EPROTO;
    if ((rc = weft_pubkey_pb_decode(key, key_len, out->identity_pk)) < 0)
        return rc; /* WEFT_EPROTO, or WEFT_ENOTSUP for RSA, secp256k1, ECDSA */
    if (sig == NULL || sig_len != 64)
        return WEFT_EAUTH;
    signed_bytes(static_pub, msg);
    if (weft_verify(out->identity_pk, msg, sizeof msg, sig) != 0)
        return WEFT_EAUTH;
    weft_peer_id_from_pubkey(out->identity_pk, &out->peer);
    out->muxers = muxers;
    return 0;
}

/* ---- handshake ---------------------------------------------------------------------------- */

int
weft_noise_static_init(weft_noise_static *st, const weft_identity *id, const uint8_t *priv,
                       unsigned flags)
{
    if (st == NULL || id == NULL || (flags & ~(unsigned)WEFT_NOISE_OFFER_YAMUX))
        return WEFT_EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    memset(st, 0, sizeof *st);
    if (priv != NULL)
        memcpy(st->priv, priv, sizeof st->priv);
    else
        randombytes_buf(st->priv, sizeof st->priv);
    crypto_scalarmult_base(st->pub, st->priv);
    int rc = weft_noise_payload_encode(id, st->pub, flags, st->payload, sizeof st->payload);
    if (rc < 0) {
        weft_noise_static_wipe(st);
        return rc;
    }
    st->payload_len = (size_t)rc;
    st->flags = flags;
    return 0;
}

void
weft_noise_static_wipe(weft_noise_static *st)
{
    if (st != NULL)
        sodium_memzero(st, sizeof *st);
}

weft_noise_hs *
weft_noise_hs_new_config(const weft_noise_config *cfg, int *err)
{
    weft_noise_hs *hs = NULL;
    weft_noise_static fresh;
    const weft_noise_static *st;
    int rc;

    memset(&fresh, 0, sizeof fresh);
    if (cfg == NULL || (cfg->flags & ~(unsigned)WEFT_NOISE_OFFER_YAMUX) ||
        (cfg->prepared == NULL && cfg->identity == NULL) ||
        (cfg->prepared != NULL &&
         (cfg->identity != NULL || cfg->static_key != NULL || cfg->flags != 0))) {
        rc = WEFT_EINVAL;
        goto out;
    }
    if (sodium_init() < 0) {
        rc = -EIO;
        goto out;
    }
    hs = calloc(1, sizeof *hs);
    if (hs == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    st = cfg->prepared;
    if (st == NULL) {
        if ((rc = weft_noise_static_init(&fresh, cfg->identity, cfg->static_key, cfg->flags)) < 0)
            goto out;
        st = &fresh;
    }
    if ((rc = weft_noise_xx_init_pub(&hs->xx, cfg->initiator, NULL, 0, st->priv, st->pub, NULL)) <
        0)
        goto out;
    memcpy(hs->payload, st->payload, st->payload_len);
    hs->payload_len = st->payload_len;
    if (cfg->expected_remote != NULL) {
        hs->expected = *cfg->expected_remote;
        hs->has_expected = 1;
    }
    hs->state = HS_ACTIVE;
    rc = 0;
out:
    weft_noise_static_wipe(&fresh);
    if (rc < 0) {
        weft_noise_hs_free(hs);
        hs = NULL;
    }
    if (err != NULL)
        *err = rc;
    return hs;
}

weft_noise_hs *
weft_noise_hs_new(int initiator, const weft_identity *id, const weft_peer_id *expected_remote,
                  int *err)
{
    weft_noise_config cfg = {
        .initiator = initiator,
        .identity = id,
        .expected_remote = expected_remote,
    };
    return weft_noise_hs_new_config(&cfg, err);
}

static int
fail(weft_noise_hs *hs, int err)
{
    hs->state = HS_FAILED;
    hs->err = err;
    weft_noise_xx_wipe(&hs->xx);
    return err;
}

/* WriteMessage with payload, appended to out as one frame. */
static int
write_frame(weft_noise_hs *hs, const uint8_t *payload, size_t plen, weft_buf *out)
{
    size_t n = weft_noise_xx_write_len(&hs->xx, plen);
    int rc = weft_buf_reserve(out, 2 + n);
    if (rc < 0)
        return rc;
    rc = weft_noise_xx_write(&hs->xx, payload, plen, out->base + out->len + 2, n);
    if (rc < 0)
        return rc;
    put_be16(out->base + out->len, (size_t)rc);
    out->len += 2 + (size_t)rc;
    return 0;
}

int
weft_noise_hs_start(weft_noise_hs *hs, weft_buf *out)
{
    if (hs->state != HS_ACTIVE || !hs->xx.initiator || hs->started)
        return hs->state == HS_FAILED ? hs->err : WEFT_EINVAL;
    hs->started = 1;
    /* -> e, with an empty payload: nothing in message 1 is encrypted. */
    int rc = write_frame(hs, NULL, 0, out);
    return rc < 0 ? fail(hs, rc) : 0;
}

/* The remote's payload arrived: authenticate it and check it is the peer we expect. */
static int
accept_remote(weft_noise_hs *hs, const uint8_t *payload, size_t plen)
{
    int rc = weft_noise_payload_verify(payload, plen, hs->xx.rs, &hs->remote);
    if (rc < 0)
        return rc;
    if (hs->has_expected && !weft_peer_id_equal(&hs->expected, &hs->remote.peer))
        return WEFT_EAUTH;
    memcpy(hs->remote_static, hs->xx.rs, 32);
    hs->have_remote = 1;
    return 0;
}

/* One whole handshake message from the remote (frame body). */
static int
handle_message(weft_noise_hs *hs, const uint8_t *msg, size_t len, weft_buf *out)
{
    int step = hs->xx.step;
    uint8_t *payload = malloc(len ? len : 1);
    int rc;

    if (payload == NULL)
        return -ENOMEM;
    rc = weft_noise_xx_read(&hs->xx, msg, len, payload, len);
    if (rc < 0)
        goto out;
    size_t plen = (size_t)rc;
    rc = 0;
    switch (step) {
    case WEFT_NOISE_XX_MSG1:
        /* Any payload in message 1 travelled in clear; libp2p sends none and we ignore it.
         * Reply <- e, ee, s, es with our signed payload. */
        rc = write_frame(hs, hs->payload, hs->payload_len, out);
        break;
    case WEFT_NOISE_XX_MSG2:
        /* The responder is authenticated before we reveal ourselves in -> s, se. */
        if ((rc = accept_remote(hs, payload, plen)) < 0)
            break;
        if ((rc = write_frame(hs, hs->payload, hs->payload_len, out)) < 0)
            break;
        hs->state = HS_DONE;
        break;
    case WEFT_NOISE_XX_MSG3:
        if ((rc = accept_remote(hs, payload, plen)) < 0)
            break;
        hs->state = HS_DONE;
        break;
    default: rc = WEFT_EINVAL; break;
    }
out:
    sodium_memzero(payload, len ? len : 1);
    free(payload);
    return rc;
}

int
weft_noise_hs_input(weft_noise_hs *hs, const uint8_t *in, size_t len, size_t *consumed,
                    weft_buf *out)
{
    size_t off = 0;

    *consumed = 0;
    switch (hs->state) {
    case HS_FAILED: return hs->err;
    case HS_SPLIT: return WEFT_EINVAL;
    case HS_DONE: return 1;
    default: break;
    }
    if (hs->xx.initiator && !hs->started)
        return WEFT_EINVAL;
    while (len - off >= 2) {
        size_t flen = get_be16(in + off);
        if (len - off - 2 < flen)
            break; /* partial frame: wait for the rest */
        int rc = handle_message(hs, in + off + 2, flen, out);
        if (rc < 0)
            return fail(hs, rc);
        off += 2 + flen;
        *consumed = off;
        if (hs->state == HS_DONE)
            return 1;
    }
    return 0;
}

int
weft_noise_hs_split(weft_noise_hs *hs, weft_noise_session *out, weft_peer_id *remote)
{
    if (hs->state != HS_DONE)
        return WEFT_EINVAL;
    int rc = weft_noise_xx_split(&hs->xx, out, NULL);
    if (rc < 0)
        return rc;
    if (remote != NULL)
        *remote = hs->remote.peer;
    weft_noise_xx_wipe(&hs->xx);
    hs->state = HS_SPLIT;
    return 0;
}

int
weft_noise_hs_remote(const weft_noise_hs *hs, weft_peer_id *id, uint8_t identity_pk[32])
{
    if (hs->state != HS_DONE && hs->state != HS_SPLIT)
        return WEFT_EINVAL;
    if (id != NULL)
        *id = hs->remote.peer;
    if (identity_pk != NULL)
        memcpy(identity_pk, hs->remote.identity_pk, 32);
    return 0;
}

int
weft_noise_hs_remote_static(const weft_noise_hs *hs, uint8_t static_pub[32])
{
    if (hs->state != HS_DONE && hs->state != HS_SPLIT)
        return WEFT_EINVAL;
    memcpy(static_pub, hs->remote_static, 32);
    return 0;
}

unsigned
weft_noise_hs_remote_muxers(const weft_noise_hs *hs)
{
    return hs->have_remote ? hs->remote.muxers : 0;
}

int
weft_noise_hs_is_initiator(const weft_noise_hs *hs)
{
    return hs->xx.initiator;
}

void
weft_noise_hs_free(weft_noise_hs *hs)
{
    if (hs == NULL)
        return;
    sodium_memzero(hs, sizeof *hs);
    free(hs);
}

/* ---- transport phase ---------------------------------------------------------------------- */

size_t
weft_noise_sealed_len(size_t len)
{
    size_t nframes = len / WEFT_NOISE_PLAIN_MAX + (len % WEFT_NOISE_PLAIN_MAX != 0);
    size_t over = 2 + WEFT_NOISE_TAG_LEN;
    if (nframes > (SIZE_MAX - len) / over)
        return SIZE_MAX;
    return len + nframes * over;
}

int
weft_noise_seal_into(weft_noise_session *s, const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
                     size_t *written)
{
    *written = 0;
    if (!s->tx.has_key)
        return WEFT_EINVAL;
    if (len == 0)
        return 0;
    size_t nframes = len / WEFT_NOISE_PLAIN_MAX + (len % WEFT_NOISE_PLAIN_MAX != 0);
    /* Frames use nonces n .. n + nframes - 1, all of which must stay below 2^64-1. */
    if ((uint64_t)nframes > UINT64_MAX - s->tx.n)
        return WEFT_ELIMIT;
    size_t total = weft_noise_sealed_len(len);
    if (total == SIZE_MAX)
        return WEFT_ETOOBIG;
    if (cap < total)
        return WEFT_ENOSPC;
    uint8_t *p = out;
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < WEFT_NOISE_PLAIN_MAX ? len - off : WEFT_NOISE_PLAIN_MAX;
        put_be16(p, chunk + WEFT_NOISE_TAG_LEN);
        /* Cannot fail: the key and the nonce budget were checked above. */
        int rc = weft_noise_cipher_encrypt(&s->tx, NULL, 0, pt + off, chunk, p + 2);
        if (rc < 0)
            return rc;
        p += 2 + chunk + WEFT_NOISE_TAG_LEN;
        off += chunk;
    }
    *written = total;
    return 0;
}

int
weft_noise_seal(weft_noise_session *s, const uint8_t *pt, size_t len, weft_buf *out)
{
    if (!s->tx.has_key)
        return WEFT_EINVAL;
    if (len == 0)
        return 0;
    size_t total = weft_noise_sealed_len(len);
    if (total == SIZE_MAX)
        return WEFT_ETOOBIG;
    int rc = weft_buf_reserve(out, total); /* may grow the buffer; its bytes stay */
    if (rc < 0)
        return rc;
    size_t n;
    rc = weft_noise_seal_into(s, pt, len, out->base + out->len, out->cap - out->len, &n);
    if (rc == 0)
        out->len += n;
    return rc;
}

int
weft_noise_open(weft_noise_session *s, const uint8_t *in, size_t len, size_t *consumed,
                weft_buf *plain)
{
    size_t off = 0;

    *consumed = 0;
    if (!s->rx.has_key)
        return WEFT_EINVAL;
    while (len - off >= 2) {
        size_t flen = get_be16(in + off);
        if (flen < WEFT_NOISE_TAG_LEN)
            return WEFT_EPROTO;
        if (len - off - 2 < flen)
            break;
        size_t plen = flen - WEFT_NOISE_TAG_LEN;
        int rc = weft_buf_reserve(plain, plen);
        if (rc < 0)
            return rc;
        /* An empty frame may meet a buffer that has no storage yet (base NULL). */
        uint8_t none = 0;
        uint8_t *dst = plen ? plain->base + plain->len : &none;
        rc = weft_noise_cipher_decrypt(&s->rx, NULL, 0, in + off + 2, flen, dst);
        if (rc < 0)
            return rc;
        plain->len += plen;
        off += 2 + flen;
        *consumed = off;
    }
    return 0;
}

void
weft_noise_session_wipe(weft_noise_session *s)
{
    sodium_memzero(s, sizeof *s);
}
