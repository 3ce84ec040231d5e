/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libp2p identities (weft/identity.h): Ed25519 keys through libsodium, the
 * PublicKey/PrivateKey protobufs of the libp2p peer-id spec, and peer ids
 * as multihashes with their base58btc and CIDv1 text forms.
 *
 * Invariants: a weft_peer_id produced here is always a well-formed
 * multihash, either identity (0x00, digest <= 42 bytes) or sha2-256 (0x12,
 * 32 bytes), with no trailing bytes; its base58btc text round-trips
 * exactly. Secrets (seeds, expanded keys) never outlive the call that
 * needs them on the stack: every exit path wipes them. libsodium is
 * initialised once, under pthread_once, before the first call into it.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/encoding.h"
#include "weft/identity.h"
#include "weft/pb.h"

enum {
    KEY_TYPE_ED25519 = 1,
    MH_IDENTITY = 0x00,
    MH_SHA2_256 = 0x12,
    MH_IDENTITY_MAX = 42, /* longest digest libp2p inlines in an identity id */
    CID_VERSION = 1,
    CID_LIBP2P_KEY = 0x72,
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void
sodium_start(void)
{
    if (sodium_init() < 0) {
        /* No usable randomness or CPU features: nothing here can work. */
        fprintf(stderr, "weft: sodium_init failed\n");
        abort();
    }
}

static void
need_sodium(void)
{
    pthread_once(&sodium_once, sodium_start);
}

/* ---- keys ------------------------------------------------------------------ */

int
weft_identity_generate(weft_identity *id)
{
    if (id == NULL)
        return WEFT_EINVAL;
    need_sodium();
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    weft_identity_from_seed(id, seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}

void
weft_identity_from_seed(weft_identity *id, const uint8_t seed[32])
{
    need_sodium();
    crypto_sign_seed_keypair(id->pk, id->sk, seed);
}

void
weft_identity_wipe(weft_identity *id)
{
    if (id != NULL)
        sodium_memzero(id, sizeof *id);
}

void
weft_sign(const weft_identity *id, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    static const uint8_t empty[1];
    need_sodium();
    crypto_sign_detached(sig, NULL, msg ? msg : empty, len, id->sk);
}

int
weft_verify(const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    static const uint8_t empty[1];
    if (pk == NULL || sig == NULL || (msg == NULL && len > 0))
        return WEFT_EINVAL;
    need_sodium();
    return crypto_sign_verify_detached(sig, msg ? msg : empty, len, pk) == 0 ? 0 : WEFT_EAUTH;
}

/* ---- key protobufs ----------------------------------------------------------- */

void
weft_pubkey_pb_encode(const uint8_t pk[32], uint8_t out[36])
{
    out[0] = 0x08; /* field 1 (Type), varint */
    out[1] = KEY_TYPE_ED25519;
    out[2] = 0x12; /* field 2 (Data), bytes */
    out[3] = 32;
    memcpy(out + 4, pk, 32);
}

void
weft_privkey_pb_encode(const weft_identity *id, uint8_t out[68])
{
    out[0] = 0x08;
    out[1] = KEY_TYPE_ED25519;
    out[2] = 0x12;
    out[3] = 64;
    memcpy(out + 4, id->sk, 64);
}

/*
 * Both key messages are { required KeyType Type = 1; required bytes Data = 2 }.
 * Either field twice, or with another wire type, is malformed; unknown fields
 * are skipped as protobuf allows. Returns 0 with *type and the Data view.
 */
static int
key_pb_read(const uint8_t *p, size_t len, uint64_t *type, const uint8_t **data, size_t *dlen)
{
    weft_pb_reader r;
    weft_pb_field f;
    int have_type = 0, have_data = 0, rc;

    if (p == NULL)
        return WEFT_EINVAL;
    weft_pb_reader_init(&r, p, len);
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1) {
            if (f.wire != WEFT_PB_VARINT || have_type)
                return WEFT_EPROTO;
            *type = f.u;
            have_type = 1;
        } else if (f.num == 2) {
            if (f.wire != WEFT_PB_LEN || have_data)
                return WEFT_EPROTO;
            *data = f.data;
            *dlen = f.len;
            have_data = 1;
        }
    }
    if (rc < 0 || !have_type || !have_data)
        return WEFT_EPROTO;
    return 0;
}

int
weft_pubkey_pb_decode(const uint8_t *p, size_t len, uint8_t pk[32])
{
    uint64_t type;
    const uint8_t *data;
    size_t dlen;
    int rc = key_pb_read(p, len, &type, &data, &dlen);
    if (rc < 0)
        return rc;
    if (type != KEY_TYPE_ED25519)
        return WEFT_ENOTSUP;
    if (dlen != 32)
        return WEFT_EPROTO;
    memcpy(pk, data, 32);
    return 0;
}

int
weft_privkey_pb_decode(const uint8_t *p, size_t len, weft_identity *id)
{
    weft_identity tmp;
    uint64_t type;
    const uint8_t *data;
    size_t dlen;
    int rc = key_pb_read(p, len, &type, &data, &dlen);
    if (rc < 0)
        return rc;
    if (type != KEY_TYPE_ED25519)
        return WEFT_ENOTSUP;
    if (dlen != 32 && dlen != 64)
        return WEFT_EPROTO;
    /* Data = seed [|| public]: rebuild the pair from the seed and insist
     * the stored public half, when present, is the one it yields. */
    weft_identity_from_seed(&tmp, data);
    if (dlen == 64 && sodium_memcmp(tmp.pk, data + 32, 32) != 0) {
        rc = WEFT_EPROTO;
        goto out;
    }
    *id = tmp;
    rc = 0;
out:
    sodium_memzero(&tmp, sizeof tmp);
    return rc;
}

/* ---- peer ids ------------------------------------------------------------------ */

void
weft_peer_id_from_pubkey(const uint8_t pk[32], weft_peer_id *out)
{
    /* identity multihash: code 0x00, length 36, PublicKey protobuf */
    memset(out, 0, sizeof *out);
    out->bytes[0] = MH_IDENTITY;
    out->bytes[1] = 36;
    weft_pubkey_pb_encode(pk, out->bytes + 2);
    out->len = 38;
}

int
weft_peer_id_from_bytes(const uint8_t *p, size_t len, weft_peer_id *out)
{
    uint64_t code, dlen;
    if (p == NULL || out == NULL)
        return WEFT_EINVAL;
    int n = weft_uvarint_get(p, len, &code, 1);
    if (n <= 0)
        return WEFT_EPROTO;
    int m = weft_uvarint_get(p + n, len - (size_t)n, &dlen, 1);
    if (m <= 0)
        return WEFT_EPROTO;
    size_t head = (size_t)n + (size_t)m;
    if (dlen != len - head)
        return WEFT_EPROTO; /* truncated, or bytes after the digest */
    if (code == MH_IDENTITY) {
        if (dlen > MH_IDENTITY_MAX)
            return WEFT_EPROTO;
    } else if (code == MH_SHA2_256) {
        if (dlen != 32)
            return WEFT_EPROTO;
    } else {
        return WEFT_EPROTO;
    }
    /* head is 2 bytes for both codes, so len <= 44 < WEFT_PEER_ID_MAX. */
    memset(out, 0, sizeof *out);
    memcpy(out->bytes, p, len);
    out->len = (uint8_t)len;
    return 0;
}

int
weft_peer_id_pubkey(const weft_peer_id *id, uint8_t pk[32])
{
    weft_peer_id v;
    if (id == NULL || pk == NULL || id->len > WEFT_PEER_ID_MAX)
        return WEFT_EINVAL;
    int rc = weft_peer_id_from_bytes(id->bytes, id->len, &v);
    if (rc < 0)
        return rc;
    if (v.bytes[0] != MH_IDENTITY)
        return WEFT_ENOTSUP; /* a hash: the key is not recoverable */
    return weft_pubkey_pb_decode(v.bytes + 2, (size_t)v.len - 2, pk);
}

int
weft_peer_id_to_text(const weft_peer_id *id, char *out, size_t cap)
{
    if (id == NULL || out == NULL || id->len > WEFT_PEER_ID_MAX)
        return WEFT_EINVAL;
    return weft_base58_encode(id->bytes, id->len, out, cap);
}

/* CIDv1 text: 'b' || base32(uvarint 1 || uvarint 0x72 || multihash). */
static int
parse_cid(const char *b32, size_t len, weft_peer_id *out)
{
    uint8_t raw[2 * WEFT_UVARINT_MAX + WEFT_PEER_ID_MAX];
    uint64_t version, codec;
    int n = weft_base32_decode(b32, len, raw, sizeof raw);
    if (n < 0)
        return WEFT_EPROTO;
    size_t rlen = (size_t)n;
    int a = weft_uvarint_get(raw, rlen, &version, 1);
    if (a <= 0 || version != CID_VERSION)
        return WEFT_EPROTO;
    int b = weft_uvarint_get(raw + a, rlen - (size_t)a, &codec, 1);
    if (b <= 0 || codec != CID_LIBP2P_KEY)
        return WEFT_EPROTO;
    return weft_peer_id_from_bytes(raw + a + b, rlen - (size_t)a - (size_t)b, out);
}

int
weft_peer_id_parse(const char *text, weft_peer_id *out)
{
    uint8_t raw[WEFT_PEER_ID_MAX];
    if (text == NULL || out == NULL)
        return WEFT_EINVAL;
    /* Every valid form is shorter than WEFT_PEER_ID_TEXT, so never look
     * further than that into the caller's string. */
    size_t len = strnlen(text, WEFT_PEER_ID_TEXT);
    if (len == 0 || len >= WEFT_PEER_ID_TEXT)
        return WEFT_EPROTO;
    /* A base58btc multihash of either accepted kind starts with '1'
     * (identity) or 'Q' (sha2-256), never 'b', so the multibase prefix
     * decides. */
    if (text[0] == 'b')
        return parse_cid(text + 1, len - 1, out);
    int n = weft_base58_decode(text, len, raw, sizeof raw);
    if (n < 0)
        return WEFT_EPROTO;
    return weft_peer_id_from_bytes(raw, (size_t)n, out);
}

int
weft_peer_id_equal(const weft_peer_id *a, const weft_peer_id *b)
{
    if (a->len != b->len || a->len > WEFT_PEER_ID_MAX)
        return 0;
    return memcmp(a->bytes, b->bytes, a->len) == 0;
}
