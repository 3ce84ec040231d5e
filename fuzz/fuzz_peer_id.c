/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_peer_id: peer ids, key protobufs and the three text encodings on
 * arbitrary input.
 *
 *  - text (a NUL-terminated copy): weft_peer_id_parse refuses with
 *    WEFT_EPROTO or yields a valid id whose base58 text parses back to it;
 *    base58 input must then be that text exactly (one text per id);
 *  - bytes: weft_peer_id_from_bytes refuses or copies them unchanged; an
 *    accepted id round-trips through text, and the key inside an identity
 *    id re-derives the same id exactly when the id holds the canonical
 *    PublicKey protobuf;
 *  - key protobufs: an accepted public key re-encodes and decodes to
 *    itself; an accepted private key is a consistent Ed25519 pair;
 *  - encodings: bytes -> text -> bytes is the identity for base58 (first
 *    128 bytes, the algorithm is quadratic), base32 and base64, into
 *    output buffers of exactly the needed size, which one byte less must
 *    refuse with WEFT_ENOSPC; and input read as text that a decoder
 *    accepts must re-encode to that very text.
 */
#include "fuzz_util.h"
#include "weft/identity.h"
#include "weft/encoding.h"

typedef int (*encoder)(const uint8_t *, size_t, char *, size_t);
typedef int (*decoder)(const char *, size_t, uint8_t *, size_t);

static void
check_peer_text(const weft_peer_id *p)
{
    char text[WEFT_PEER_ID_TEXT];
    weft_peer_id q;
    int n = weft_peer_id_to_text(p, text, sizeof text);
    FZ_CHECK(n > 0 && (size_t)n == strlen(text));
    FZ_CHECK(weft_peer_id_parse(text, &q) == 0);
    FZ_CHECK(weft_peer_id_equal(p, &q));
}

static void
check_peer_bytes(const uint8_t *data, size_t size)
{
    weft_peer_id p, q;
    uint8_t pk[32];
    int rc = weft_peer_id_from_bytes(data, size, &p);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO);
    if (rc != 0)
        return;
    FZ_CHECK(p.len == size && memcmp(p.bytes, data, size) == 0);
    FZ_CHECK(weft_peer_id_from_bytes(p.bytes, p.len, &q) == 0 && weft_peer_id_equal(&p, &q));
    check_peer_text(&p);

    rc = weft_peer_id_pubkey(&p, pk);
    FZ_CHECK(rc == 0 || rc == WEFT_ENOTSUP || rc == WEFT_EPROTO);
    if (p.bytes[0] == 0x12)
        FZ_CHECK(rc == WEFT_ENOTSUP);
    if (rc == 0) {
        uint8_t canon[36];
        weft_pubkey_pb_encode(pk, canon);
        int is_canon = p.len == 38 && p.bytes[1] == 36 && memcmp(p.bytes + 2, canon, 36) == 0;
        weft_peer_id_from_pubkey(pk, &q);
        FZ_CHECK(weft_peer_id_equal(&p, &q) == is_canon);
    }
}

static void
check_keys(const uint8_t *data, size_t size)
{
    uint8_t pk[32], enc[36], pk2[32];
    int rc = weft_pubkey_pb_decode(data, size, pk);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO || rc == WEFT_ENOTSUP);
    if (rc == 0) {
        weft_pubkey_pb_encode(pk, enc);
        FZ_CHECK(weft_pubkey_pb_decode(enc, sizeof enc, pk2) == 0);
        FZ_CHECK(memcmp(pk, pk2, 32) == 0);
    }

    weft_identity id, id2;
    uint8_t priv[68];
    rc = weft_privkey_pb_decode(data, size, &id);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO || rc == WEFT_ENOTSUP);
    if (rc == 0) {
        FZ_CHECK(memcmp(id.sk + 32, id.pk, 32) == 0);
        weft_privkey_pb_encode(&id, priv);
        FZ_CHECK(weft_privkey_pb_decode(priv, sizeof priv, &id2) == 0);
        FZ_CHECK(memcmp(&id, &id2, sizeof id) == 0);
    }
}

/* bytes -> text -> bytes through exact-size buffers. */
static void
check_encoding(encoder enc, decoder dec, const uint8_t *data, size_t size)
{
    size_t cap = size * 2 + 8;
    char *text = (char *)malloc(cap);
    FZ_CHECK(text != NULL);
    int n = enc(data, size, text, cap);
    FZ_CHECK(n >= 0 && (size_t)n < cap && strlen(text) == (size_t)n);

    char *exact = (char *)malloc((size_t)n + 1);
    FZ_CHECK(exact != NULL);
    FZ_CHECK(enc(data, size, exact, (size_t)n + 1) == n);
    FZ_CHECK(memcmp(exact, text, (size_t)n + 1) == 0);
    FZ_CHECK(enc(data, size, exact, (size_t)n) == WEFT_ENOSPC);
    free(exact);

    /* Decode from an exact-size copy of the text (no NUL after it). */
    char *t = (char *)fz_dup(text, (size_t)n);
    uint8_t *back = fz_dup(data, size); /* exactly size bytes */
    memset(back, 0, size);
    FZ_CHECK(dec(t, (size_t)n, back, size) == (int)size);
    FZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
    if (size > 0)
        FZ_CHECK(dec(t, (size_t)n, back, size - 1) == WEFT_ENOSPC);
    free(back);
    free(t);
    free(text);
}

/* Input as text: a decoder accepts only canonical text. */
static void
check_canonical(encoder enc, decoder dec, const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint8_t *out = (uint8_t *)malloc(size + 1);
    FZ_CHECK(out != NULL);
    int n = dec(s, size, out, size + 1);
    FZ_CHECK(n >= 0 || n == WEFT_EPROTO);
    if (n >= 0) {
        FZ_CHECK((size_t)n <= size);
        char *text = (char *)malloc(size * 2 + 8);
        FZ_CHECK(text != NULL);
        int m = enc(out, (size_t)n, text, size * 2 + 8);
        FZ_CHECK(m == (int)size && memcmp(text, s, size) == 0);
        free(text);
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* ---- peer id text ---- */
    char *s = (char *)malloc(size + 1);
    FZ_CHECK(s != NULL);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    weft_peer_id p;
    int rc = weft_peer_id_parse(s, &p);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO);
    if (rc == 0) {
        weft_peer_id q;
        FZ_CHECK(p.len >= 2 && p.len <= WEFT_PEER_ID_MAX);
        FZ_CHECK(weft_peer_id_from_bytes(p.bytes, p.len, &q) == 0);
        check_peer_text(&p);
        if (s[0] != 'b') {
            char text[WEFT_PEER_ID_TEXT];
            FZ_CHECK(weft_peer_id_to_text(&p, text, sizeof text) > 0);
            FZ_CHECK(strcmp(text, s) == 0);
        }
    }
    free(s);

    /* ---- peer id bytes and key protobufs ---- */
    check_peer_bytes(data, size);
    check_keys(data, size);

    /* ---- encodings ---- */
    size_t small = size < 128 ? size : 128;
    check_encoding(weft_base58_encode, weft_base58_decode, data, small);
    check_encoding(weft_base32_encode, weft_base32_decode, data, size);
    check_encoding(weft_base64_encode, weft_base64_decode, data, size);
    check_canonical(weft_base58_encode, weft_base58_decode, data, small);
    check_canonical(weft_base32_encode, weft_base32_decode, data, size);
    check_canonical(weft_base64_encode, weft_base64_decode, data, size);
    return 0;
}
