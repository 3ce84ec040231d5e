/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kademlia ids and record validation (weft/kad.h): the XOR metric over
 * SHA-256 of the key bytes, the /pk/ and /weft/ namespaces, key text.
 */
#include <sodium.h>
#include <string.h>

#include "weft/kad.h"
#include "weft/pb.h"

#define PK_NS "/pk/"
#define WEFT_NS "/weft/"
#define SIG_CONTEXT "weft-kad-record:"
#define NAME_MAX_LEN 128

void
weft_kad_id(const uint8_t *key, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, key, len);
}

unsigned
weft_kad_cpl(const uint8_t a[32], const uint8_t b[32])
{
    for (unsigned i = 0; i < 32; i++) {
        uint8_t x = (uint8_t)(a[i] ^ b[i]);
        if (x) {
            unsigned n = 0;
            while (!(x & 0x80)) {
                x = (uint8_t)(x << 1);
                n++;
            }
            return i * 8 + n;
        }
    }
    return 256;
}

int
weft_kad_cmp_dist(const uint8_t t[32], const uint8_t a[32], const uint8_t b[32])
{
    for (int i = 0; i < 32; i++) {
        uint8_t da = (uint8_t)(a[i] ^ t[i]), db = (uint8_t)(b[i] ^ t[i]);
        if (da != db)
            return da < db ? -1 : 1;
    }
    return 0;
}

static int
reason(const char **why, const char *r, int rc)
{
    if (why)
        *why = r;
    return rc;
}

static int
has_prefix(const uint8_t *k, size_t klen, const char *ns)
{
    size_t n = strlen(ns);
    return klen >= n && !memcmp(k, ns, n);
}

/* ---- /weft/<peer id text>/<name> ---------------------------------------------------- */

typedef struct weft_rec {
    const uint8_t *pub, *data, *sig;
    size_t publen, dlen, siglen;
    uint64_t seq;
} weft_rec;

static int
weft_rec_parse(const uint8_t *v, size_t vlen, weft_rec *r)
{
    memset(r, 0, sizeof *r);
    weft_pb_reader rd;
    weft_pb_reader_init(&rd, v, vlen);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&rd, &f)) == 1) {
        if (f.num == 2) {
            if (f.wire != WEFT_PB_VARINT)
                return WEFT_EPROTO;
            r->seq = f.u;
            continue;
        }
        if (f.num < 1 || f.num > 4)
            continue;
        if (f.wire != WEFT_PB_LEN)
            return WEFT_EPROTO;
        if (f.num == 1)
            r->pub = f.data, r->publen = f.len;
        else if (f.num == 3)
            r->data = f.data, r->dlen = f.len;
        else
            r->sig = f.data, r->siglen = f.len;
    }
    return rc < 0 ? rc : 0;
}

/* The peer id text and name of a /weft/ key. */
static int
weft_key_split(const uint8_t *k, size_t klen, weft_peer_id *owner, const char **why)
{
    size_t n = strlen(WEFT_NS), i = n;
    while (i < klen && k[i] != '/')
        i++;
    if (i == n || i >= klen || i - n >= WEFT_PEER_ID_TEXT)
        return reason(why, "key: expected /weft/<peer id>/<name>", WEFT_EINVAL);
    char text[WEFT_PEER_ID_TEXT];
    memcpy(text, k + n, i - n);
    text[i - n] = 0;
    if (weft_peer_id_parse(text, owner) < 0)
        return reason(why, "key: the part after /weft/ is not a peer id", WEFT_EINVAL);
    size_t nlen = klen - i - 1;
    if (nlen < 1 || nlen > NAME_MAX_LEN)
        return reason(why, "key: name of 1..128 bytes expected after the peer id", WEFT_EINVAL);
    for (size_t j = i + 1; j < klen; j++) {
        uint8_t c = k[j];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return reason(why, "key: name characters expected in [A-Za-z0-9._-]", WEFT_EINVAL);
    }
    return 0;
}

static int
weft_sig_input(const uint8_t *key, size_t klen, uint64_t seq, const uint8_t *data, size_t dlen,
               weft_buf *out)
{
    uint8_t v[WEFT_UVARINT_MAX];
    size_t vn = weft_uvarint_put(v, seq);
    int rc = weft_buf_append(out, SIG_CONTEXT, strlen(SIG_CONTEXT));
    if (rc == 0)
        rc = weft_buf_append(out, key, klen);
    if (rc == 0)
        rc = weft_buf_append(out, v, vn);
    if (rc == 0 && dlen)
        rc = weft_buf_append(out, data, dlen);
    return rc;
}

static int
validate_weft(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, const char **why)
{
    weft_peer_id owner, signer;
    int rc = weft_key_split(k, klen, &owner, why);
    if (rc < 0)
        return rc;
    weft_rec r;
    if (weft_rec_parse(v, vlen, &r) < 0)
        return reason(why, "value: not a WeftRecord protobuf", WEFT_EINVAL);
    uint8_t pk[32];
    if (!r.pub || weft_pubkey_pb_decode(r.pub, r.publen, pk) < 0)
        return reason(why, "value.pubkey: expected an Ed25519 PublicKey protobuf", WEFT_EINVAL);
    weft_peer_id_from_pubkey(pk, &signer);
    if (!weft_peer_id_equal(&owner, &signer))
        return reason(why, "value.pubkey: not the key of the peer id in the key", WEFT_EAUTH);
    if (!r.sig || r.siglen != 64)
        return reason(why, "value.sig: expected 64 bytes", WEFT_EINVAL);
    uint8_t small[512];
    weft_buf b;
    weft_buf_init(&b, small, sizeof small, 0);
    rc = weft_sig_input(k, klen, r.seq, r.data, r.dlen, &b);
    if (rc == 0)
        rc = weft_verify(pk, b.base, b.len, r.sig) < 0 ? WEFT_EAUTH : 0;
    weft_buf_free(&b);
    return rc < 0 ? reason(why, "value.sig: signature does not verify", WEFT_EAUTH) : 0;
}

int
weft_kad_weft_record(const weft_identity *id, const uint8_t *key, size_t klen, uint64_t seq,
                     const uint8_t *data, size_t dlen, weft_buf *out)
{
    weft_peer_id owner, self;
    if (weft_key_split(key, klen, &owner, NULL) < 0 || !has_prefix(key, klen, WEFT_NS))
        return WEFT_EINVAL;
    weft_peer_id_from_pubkey(id->pk, &self);
    if (!weft_peer_id_equal(&owner, &self))
        return WEFT_EAUTH;
    uint8_t small[512], pub[36], sig[64];
    weft_buf b;
    weft_buf_init(&b, small, sizeof small, 0);
    int rc = weft_sig_input(key, klen, seq, data, dlen, &b);
    if (rc == 0)
        weft_sign(id, b.base, b.len, sig);
    weft_buf_free(&b);
    weft_pubkey_pb_encode(id->pk, pub);
    if (rc == 0)
        rc = weft_pb_put_bytes(out, 1, pub, sizeof pub);
    if (rc == 0)
        rc = weft_pb_put_varint(out, 2, seq);
    if (rc == 0)
        rc = weft_pb_put_bytes(out, 3, data, dlen);
    if (rc == 0)
        rc = weft_pb_put_bytes(out, 4, sig, sizeof sig);
    return rc;
}

int
weft_kad_weft_record_data(const uint8_t *val, size_t vlen, const uint8_t **data, size_t *dlen,
                          uint64_t *seq)
{
    weft_rec r;
    if (weft_rec_parse(val, vlen, &r) < 0)
        return WEFT_EPROTO;
    *data = r.data ? r.data : (const uint8_t *)"";
    *dlen = r.dlen;
    *seq = r.seq;
    return 0;
}

/* ---- /pk/<multihash> ----------------------------------------------------------------- */

static int
validate_pk(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, const char **why)
{
    size_t n = strlen(PK_NS);
    weft_peer_id want, got;
    if (weft_peer_id_from_bytes(k + n, klen - n, &want) < 0)
        return reason(why, "key: expected /pk/<peer id multihash>", WEFT_EINVAL);
    uint8_t pk[32];
    if (weft_pubkey_pb_decode(v, vlen, pk) < 0)
        return reason(why, "value: expected an Ed25519 PublicKey protobuf", WEFT_EINVAL);
    weft_peer_id_from_pubkey(pk, &got);
    if (!weft_peer_id_equal(&want, &got))
        return reason(why, "value: the key does not hash to the peer id of the key", WEFT_EAUTH);
    return 0;
}

int
weft_kad_validate(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  const char **why)
{
    if (why)
        *why = NULL;
    if (klen == 0 || klen > WEFT_KAD_MAX_KEY)
        return reason(why, "key: expected 1..256 bytes", WEFT_ETOOBIG);
    if (vlen > WEFT_KAD_MAX_VALUE)
        return reason(why, "value: over 16384 bytes", WEFT_ETOOBIG);
    if (has_prefix(key, klen, PK_NS))
        return validate_pk(key, klen, val, vlen, why);
    if (has_prefix(key, klen, WEFT_NS))
        return validate_weft(key, klen, val, vlen, why);
    return reason(why, "key: namespace other than /pk/ or /weft/", WEFT_EINVAL);
}

int
weft_kad_select(const uint8_t *key, size_t klen, const uint8_t *a, size_t alen, const uint8_t *b,
                size_t blen)
{
    if (!has_prefix(key, klen, WEFT_NS))
        return 0;
    weft_rec ra, rb;
    if (weft_rec_parse(a, alen, &ra) < 0)
        return 1;
    if (weft_rec_parse(b, blen, &rb) < 0)
        return 0;
    return rb.seq > ra.seq;
}

int
weft_kad_key_parse(const char *text, uint8_t *out, size_t cap)
{
    size_t n = strlen(PK_NS), tl = strlen(text);
    if (tl >= n && !memcmp(text, PK_NS, n)) {
        weft_peer_id id;
        if (weft_peer_id_parse(text + n, &id) < 0)
            return WEFT_EINVAL;
        if (n + id.len > cap)
            return WEFT_ENOSPC;
        memcpy(out, PK_NS, n);
        memcpy(out + n, id.bytes, id.len);
        return (int)(n + id.len);
    }
    if (tl == 0 || tl > WEFT_KAD_MAX_KEY)
        return WEFT_ETOOBIG;
    if (tl > cap)
        return WEFT_ENOSPC;
    memcpy(out, text, tl);
    return (int)tl;
}
