/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities through the public API: every identity vector of the js-libp2p
 * interop set (seed -> keys -> protobufs -> peer id bytes -> base58btc and
 * CIDv1 text; the spec's own peer-id vector; the Noise and gossipsub
 * signatures, which Ed25519 makes deterministic), the key protobuf decoders
 * on malformed and foreign input, peer-id validation and text parsing, and
 * the three encodings against published test vectors, random round trips
 * and their canonical-text rule.
 *
 * Vectors are read at run time from tests/vectors/vectors.json, the
 * interop peer's vectors copied into the tree. Random tests print their seed;
 * WEFT_TEST_SEED=<seed> replays one.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "test_seed.h"
#include "weft/identity.h"
#include "weft/encoding.h"

/* ---- the interop identity --------------------------------------------------------- */

Test(identity, vector_seed_to_peer_id)
{
    uint8_t seed[32], pk[32], pub_pb[36], priv_pb[68], pid[38], buf[68];
    weft_identity id;
    weft_peer_id p, q;
    char text[WEFT_PEER_ID_TEXT];

    cr_assert(vec_hex("identity", "ed25519_seed", seed, sizeof seed) == 32);
    cr_assert(vec_hex("identity", "ed25519_raw_public_key", pk, sizeof pk) == 32);
    cr_assert(vec_hex("identity", "public_key_protobuf", pub_pb, sizeof pub_pb) == 36);
    cr_assert(vec_hex("identity", "private_key_protobuf", priv_pb, sizeof priv_pb) == 68);
    cr_assert(vec_hex("identity", "peer_id_bytes", pid, sizeof pid) == 38);
    char *b58 = vec_str("identity", "peer_id_base58btc", NULL);
    char *cid = vec_str("identity", "peer_id_cidv1_base32", NULL);

    weft_identity_from_seed(&id, seed);
    cr_assert_arr_eq(id.pk, pk, 32);
    cr_assert_arr_eq(id.sk, seed, 32);
    cr_assert_arr_eq(id.sk + 32, pk, 32);

    weft_pubkey_pb_encode(id.pk, buf);
    cr_assert_arr_eq(buf, pub_pb, 36);
    weft_privkey_pb_encode(&id, buf);
    cr_assert_arr_eq(buf, priv_pb, 68);

    weft_peer_id_from_pubkey(id.pk, &p);
    cr_assert_eq(p.len, 38);
    cr_assert_arr_eq(p.bytes, pid, 38);
    cr_assert_eq(weft_peer_id_to_text(&p, text, sizeof text), (int)strlen(b58));
    cr_assert_str_eq(text, b58);

    cr_assert_eq(weft_peer_id_parse(b58, &q), 0);
    cr_assert(weft_peer_id_equal(&p, &q));
    cr_assert_eq(weft_peer_id_parse(cid, &q), 0);
    cr_assert(weft_peer_id_equal(&p, &q));
    cr_assert_eq(weft_peer_id_from_bytes(pid, sizeof pid, &q), 0);
    cr_assert(weft_peer_id_equal(&p, &q));

    uint8_t back[32];
    cr_assert_eq(weft_peer_id_pubkey(&p, back), 0);
    cr_assert_arr_eq(back, pk, 32);
    cr_assert_eq(weft_pubkey_pb_decode(pub_pb, sizeof pub_pb, back), 0);
    cr_assert_arr_eq(back, pk, 32);

    weft_identity id2;
    cr_assert_eq(weft_privkey_pb_decode(priv_pb, sizeof priv_pb, &id2), 0);
    cr_assert_arr_eq(id2.sk, id.sk, 64);
    cr_assert_arr_eq(id2.pk, id.pk, 32);
    free(b58);
    free(cid);
}

/* The CIDv1 text built here from the peer id bytes with our base32 must be
 * the vector's text, character for character. */
Test(identity, vector_cidv1_built)
{
    uint8_t raw[2 + 38];
    char text[1 + 80];
    raw[0] = 0x01;
    raw[1] = 0x72;
    cr_assert(vec_hex("identity", "peer_id_bytes", raw + 2, 38) == 38);
    char *cid = vec_str("identity", "peer_id_cidv1_base32", NULL);
    text[0] = 'b';
    int n = weft_base32_encode(raw, sizeof raw, text + 1, sizeof text - 1);
    cr_assert_eq(n, 64);
    cr_assert_str_eq(text, cid);
    free(cid);
}

Test(identity, vector_spec_peer_id)
{
    uint8_t pub_pb[36], pid[38], pk[32];
    weft_peer_id p, q;
    char text[WEFT_PEER_ID_TEXT];
    cr_assert(vec_hex("identity_spec_vector", "public_key_protobuf", pub_pb, sizeof pub_pb) == 36);
    cr_assert(vec_hex("identity_spec_vector", "peer_id_bytes", pid, sizeof pid) == 38);
    char *b58 = vec_str("identity_spec_vector", "peer_id_base58btc", NULL);

    cr_assert_eq(weft_pubkey_pb_decode(pub_pb, sizeof pub_pb, pk), 0);
    weft_peer_id_from_pubkey(pk, &p);
    cr_assert_arr_eq(p.bytes, pid, 38);
    cr_assert_eq(weft_peer_id_to_text(&p, text, sizeof text), 52);
    cr_assert_str_eq(text, b58);
    cr_assert_eq(weft_peer_id_parse(b58, &q), 0);
    cr_assert(weft_peer_id_equal(&p, &q));
    uint8_t enc[36];
    weft_pubkey_pb_encode(pk, enc);
    cr_assert_arr_eq(enc, pub_pb, 36);
    free(b58);
}

/* Ed25519 signatures are deterministic: ours must equal the js ones. */
Test(identity, vector_signatures)
{
    static const struct {
        const char *section, *msg, *sig;
    } cases[] = {
        {"noise_payload", "signed_bytes", "identity_sig"},
        {"gossipsub", "signed_bytes", "signature"},
    };
    uint8_t seed[32], msg[512], want[64], sig[64], other_pk[32];
    weft_identity id;
    cr_assert(vec_hex("identity", "ed25519_seed", seed, sizeof seed) == 32);
    weft_identity_from_seed(&id, seed);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = vec_hex(cases[i].section, cases[i].msg, msg, sizeof msg);
        cr_assert(vec_hex(cases[i].section, cases[i].sig, want, sizeof want) == 64);
        weft_sign(&id, msg, n, sig);
        cr_assert_arr_eq(sig, want, 64, "%s signature differs", cases[i].section);
        cr_assert_eq(weft_verify(id.pk, msg, n, sig), 0);
        msg[n - 1] ^= 1;
        cr_assert_eq(weft_verify(id.pk, msg, n, sig), WEFT_EAUTH);
        msg[n - 1] ^= 1;
        sig[5] ^= 0x40;
        cr_assert_eq(weft_verify(id.pk, msg, n, sig), WEFT_EAUTH);
        sig[5] ^= 0x40;
        memcpy(other_pk, id.pk, 32);
        other_pk[0] ^= 1;
        cr_assert_eq(weft_verify(other_pk, msg, n, sig), WEFT_EAUTH);
    }
}

Test(identity, generate_sign_verify_wipe)
{
    weft_identity a, b;
    uint8_t sig[64];
    static const uint8_t zero[sizeof(weft_identity)];
    cr_assert_eq(weft_identity_generate(&a), 0);
    cr_assert_eq(weft_identity_generate(&b), 0);
    cr_assert(memcmp(a.sk, b.sk, 64) != 0);
    cr_assert_arr_eq(a.sk + 32, a.pk, 32);

    weft_sign(&a, (const uint8_t *)"hello", 5, sig);
    cr_assert_eq(weft_verify(a.pk, (const uint8_t *)"hello", 5, sig), 0);
    cr_assert_eq(weft_verify(b.pk, (const uint8_t *)"hello", 5, sig), WEFT_EAUTH);
    weft_sign(&a, NULL, 0, sig);
    cr_assert_eq(weft_verify(a.pk, NULL, 0, sig), 0);

    /* A generated key survives its protobuf and peer id. */
    uint8_t pb[68];
    weft_identity c;
    weft_peer_id p;
    uint8_t pk[32];
    weft_privkey_pb_encode(&a, pb);
    cr_assert_eq(weft_privkey_pb_decode(pb, sizeof pb, &c), 0);
    cr_assert_arr_eq(c.sk, a.sk, 64);
    weft_peer_id_from_pubkey(a.pk, &p);
    cr_assert_eq(weft_peer_id_pubkey(&p, pk), 0);
    cr_assert_arr_eq(pk, a.pk, 32);

    weft_identity_wipe(&a);
    cr_assert_arr_eq(&a, zero, sizeof a);
    weft_identity_wipe(NULL);
}

/* ---- key protobufs ------------------------------------------------------------------ */

typedef struct pbcase {
    const char *name;
    const char *hex;
    int want;
} pbcase;

Test(identity, pubkey_pb_decode_cases)
{
    static const pbcase cases[] = {
        {"empty", "", WEFT_EPROTO},
        {"type only", "0801", WEFT_EPROTO},
        {"data only", "1220 00*32", WEFT_EPROTO},
        {"data 31 bytes", "0801121f 00*31", WEFT_EPROTO},
        {"data 33 bytes", "08011221 00*33", WEFT_EPROTO},
        {"truncated data", "08011220 0000", WEFT_EPROTO},
        {"type as bytes", "0a0101 1220 00*32", WEFT_EPROTO},
        {"data as varint", "0801 1001", WEFT_EPROTO},
        {"type twice", "0801 0801 1220 00*32", WEFT_EPROTO},
        {"field 0", "0001", WEFT_EPROTO},
        {"group wire type", "0b", WEFT_EPROTO},
        {"rsa", "0800 1203 010203", WEFT_ENOTSUP},
        {"secp256k1", "0802 1221 02 00*32", WEFT_ENOTSUP},
        {"ecdsa", "0803 1201 00", WEFT_ENOTSUP},
        {"unknown type 9", "0809 1201 00", WEFT_ENOTSUP},
        {"reversed order", "1220 00*32 0801", 0},
        {"unknown field skipped", "0801 1a0200ff 1220 00*32", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[128], pk[32];
        size_t n = unhex(cases[i].hex, buf, sizeof buf);
        /* An exact-size heap copy, so a read past the end would show. */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        int rc = weft_pubkey_pb_decode(p, n, pk);
        cr_expect_eq(rc, cases[i].want, "%s: got %d (%s), want %d", cases[i].name, rc,
                     weft_strerror(rc), cases[i].want);
        free(p);
    }
}

Test(identity, privkey_pb_decode_cases)
{
    uint8_t seed[32], priv[68], pub_pb[36], buf[128];
    weft_identity id, ref;
    cr_assert(vec_hex("identity", "ed25519_seed", seed, sizeof seed) == 32);
    cr_assert(vec_hex("identity", "private_key_protobuf", priv, sizeof priv) == 68);
    cr_assert(vec_hex("identity", "public_key_protobuf", pub_pb, sizeof pub_pb) == 36);
    weft_identity_from_seed(&ref, seed);

    /* Bare 32-byte seed. */
    buf[0] = 0x08, buf[1] = 0x01, buf[2] = 0x12, buf[3] = 32;
    memcpy(buf + 4, seed, 32);
    cr_assert_eq(weft_privkey_pb_decode(buf, 36, &id), 0);
    cr_assert_arr_eq(id.sk, ref.sk, 64);
    cr_assert_arr_eq(id.pk, ref.pk, 32);

    /* Public half that does not belong to the seed; *id left alone. */
    memcpy(buf, priv, 68);
    buf[68 - 1] ^= 1;
    memset(&id, 0x5a, sizeof id);
    weft_identity before = id;
    cr_assert_eq(weft_privkey_pb_decode(buf, 68, &id), WEFT_EPROTO);
    cr_assert_arr_eq(&id, &before, sizeof id);

    /* Every proper prefix is malformed. */
    for (size_t n = 0; n < 68; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, priv, n);
        cr_expect_eq(weft_privkey_pb_decode(p, n, &id), WEFT_EPROTO, "prefix %zu", n);
        free(p);
    }

    /* Data of 33 or 63 bytes. */
    memcpy(buf, priv, 68);
    buf[3] = 33;
    cr_assert_eq(weft_privkey_pb_decode(buf, 4 + 33, &id), WEFT_EPROTO);
    buf[3] = 63;
    cr_assert_eq(weft_privkey_pb_decode(buf, 4 + 63, &id), WEFT_EPROTO);

    /* Another key type. */
    memcpy(buf, priv, 68);
    buf[1] = 0x02;
    cr_assert_eq(weft_privkey_pb_decode(buf, 68, &id), WEFT_ENOTSUP);

    /* A PublicKey protobuf is not a private key (32 bytes of Data are read
     * as a seed, and that is legal), but its peer id then differs. */
    cr_assert_eq(weft_privkey_pb_decode(pub_pb, 36, &id), 0);
    cr_assert(memcmp(id.pk, ref.pk, 32) != 0);
}

/* ---- peer ids ------------------------------------------------------------------------ */

Test(identity, peer_id_from_bytes_cases)
{
    static const pbcase cases[] = {
        {"empty", "", WEFT_EPROTO},
        {"code only", "00", WEFT_EPROTO},
        {"identity, empty digest", "0000", 0},
        {"identity, 1 byte", "000155", 0},
        {"identity, length past end", "0002aa", WEFT_EPROTO},
        {"identity, trailing byte", "0001aabb", WEFT_EPROTO},
        {"identity, 42 bytes", "002a 00*42", 0},
        {"identity, 43 bytes", "002b 00*43", WEFT_EPROTO},
        {"sha2-256", "1220 00*32", 0},
        {"sha2-256, 31 bytes", "121f 00*31", WEFT_EPROTO},
        {"sha2-256, 33 bytes", "1221 00*33", WEFT_EPROTO},
        {"sha1", "1114 00*20", WEFT_EPROTO},
        {"non-minimal code", "8000 00", WEFT_EPROTO},
        {"unterminated varint", "ffffffff", WEFT_EPROTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[128];
        weft_peer_id p;
        size_t n = unhex(cases[i].hex, buf, sizeof buf);
        uint8_t *h = malloc(n ? n : 1);
        memcpy(h, buf, n);
        int rc = weft_peer_id_from_bytes(h, n, &p);
        cr_expect_eq(rc, cases[i].want, "%s: got %d, want %d", cases[i].name, rc, cases[i].want);
        if (rc == 0) {
            cr_expect_eq(p.len, n, "%s", cases[i].name);
            cr_expect_arr_eq(p.bytes, buf, n, "%s", cases[i].name);
            /* Text round trip of every accepted id. */
            char text[WEFT_PEER_ID_TEXT];
            weft_peer_id q;
            cr_expect_gt(weft_peer_id_to_text(&p, text, sizeof text), 0);
            cr_expect_eq(weft_peer_id_parse(text, &q), 0, "%s: %s", cases[i].name, text);
            cr_expect(weft_peer_id_equal(&p, &q), "%s", cases[i].name);
        }
        free(h);
    }
}

Test(identity, peer_id_pubkey_not_ed25519)
{
    uint8_t buf[64], pk[32];
    weft_peer_id p;
    /* sha2-256 id: the key cannot be recovered. */
    size_t n = unhex("1220 01*32", buf, sizeof buf);
    cr_assert_eq(weft_peer_id_from_bytes(buf, n, &p), 0);
    cr_assert_eq(weft_peer_id_pubkey(&p, pk), WEFT_ENOTSUP);
    /* identity id holding a secp256k1 key (37-byte protobuf). */
    n = unhex("0025 08021221 02 00*32", buf, sizeof buf);
    cr_assert_eq(weft_peer_id_from_bytes(buf, n, &p), 0);
    cr_assert_eq(weft_peer_id_pubkey(&p, pk), WEFT_ENOTSUP);
    /* identity id holding garbage. */
    n = unhex("000301ff02", buf, sizeof buf);
    cr_assert_eq(weft_peer_id_from_bytes(buf, n, &p), 0);
    cr_assert_eq(weft_peer_id_pubkey(&p, pk), WEFT_EPROTO);
}

Test(identity, peer_id_parse_qm)
{
    /* A sha2-256 ("Qm") peer id of the IPFS bootstrap list. */
    const char *qm = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
    weft_peer_id p;
    char text[WEFT_PEER_ID_TEXT];
    cr_assert_eq(weft_peer_id_parse(qm, &p), 0);
    cr_assert_eq(p.len, 34);
    cr_assert_eq(p.bytes[0], 0x12);
    cr_assert_eq(p.bytes[1], 0x20);
    cr_assert_eq(weft_peer_id_to_text(&p, text, sizeof text), 46);
    cr_assert_str_eq(text, qm);
}

Test(identity, peer_id_parse_rejects)
{
    char *b58 = vec_str("identity", "peer_id_base58btc", NULL);
    char *cid = vec_str("identity", "peer_id_cidv1_base32", NULL);
    char buf[512];
    weft_peer_id p;
    const char *bad[] = {
        "",
        "1",
        "12D3KooW",                                             /* truncated */
        "0D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",  /* '0' not in base58 */
        "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEl", /* 'l' */
        "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDE ", /* space */
        "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJ",        /* 31-byte digest */
        "b",
        "bafzaajaiaejcatfvvp3k26p36wv3zsx4yju5qxgsmupnjoefwwdj6ja25xyklor",  /* truncated CID */
        "BAFZAAJAIAEJCATFVVP3K26P36WV3ZSX4YJU5QXGSMUPNJOEFWWDJ6JA25XYKLORJ", /* upper case */
        "zQ3shokFTS3brHcDQrn1EZ8sVbnYMJHqZ3dG8Gz6jB1wBfhvA", /* base58 CID: not accepted */
        "fdeadbeef",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(weft_peer_id_parse(bad[i], &p), WEFT_EPROTO, "accepted \"%s\"", bad[i]);

    /* Trailing bytes after a valid id. */
    snprintf(buf, sizeof buf, "%s2", b58);
    cr_expect_eq(weft_peer_id_parse(buf, &p), WEFT_EPROTO);
    snprintf(buf, sizeof buf, "1%s", b58); /* leading zero byte */
    cr_expect_eq(weft_peer_id_parse(buf, &p), WEFT_EPROTO);
    /* Far too long: not even the whole string is read. */
    memset(buf, '2', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    cr_expect_eq(weft_peer_id_parse(buf, &p), WEFT_EPROTO);

    /* CIDs with the wrong version or codec, built from the vector bytes. */
    uint8_t raw[2 + 38];
    cr_assert(vec_hex("identity", "peer_id_bytes", raw + 2, 38) == 38);
    static const uint8_t heads[][2] = {{0x00, 0x72}, {0x02, 0x72}, {0x01, 0x70}, {0x01, 0x55}};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        raw[0] = heads[i][0];
        raw[1] = heads[i][1];
        buf[0] = 'b';
        cr_assert_gt(weft_base32_encode(raw, sizeof raw, buf + 1, sizeof buf - 1), 0);
        cr_expect_eq(weft_peer_id_parse(buf, &p), WEFT_EPROTO, "version %u codec 0x%x", heads[i][0],
                     heads[i][1]);
    }
    raw[0] = 0x01;
    raw[1] = 0x72;
    buf[0] = 'b';
    cr_assert_gt(weft_base32_encode(raw, sizeof raw, buf + 1, sizeof buf - 1), 0);
    cr_expect_str_eq(buf, cid);
    cr_expect_eq(weft_peer_id_parse(buf, &p), 0);

    cr_expect_eq(weft_peer_id_parse(NULL, &p), WEFT_EINVAL);
    free(b58);
    free(cid);
}

Test(identity, peer_id_to_text_space)
{
    uint8_t pid[38];
    weft_peer_id p;
    char text[WEFT_PEER_ID_TEXT];
    cr_assert(vec_hex("identity", "peer_id_bytes", pid, sizeof pid) == 38);
    cr_assert_eq(weft_peer_id_from_bytes(pid, sizeof pid, &p), 0);
    cr_assert_eq(weft_peer_id_to_text(&p, text, 53), 52);
    cr_assert_eq(weft_peer_id_to_text(&p, text, 52), WEFT_ENOSPC);
    cr_assert_eq(weft_peer_id_to_text(&p, text, 0), WEFT_ENOSPC);
}

/* ---- encodings ----------------------------------------------------------------------- */

typedef struct textcase {
    const char *hex;
    const char *text;
} textcase;

static void
check_known(const char *what, const textcase *cases, size_t ncases,
            int (*enc)(const uint8_t *, size_t, char *, size_t),
            int (*dec)(const char *, size_t, uint8_t *, size_t))
{
    for (size_t i = 0; i < ncases; i++) {
        uint8_t bin[64], back[64];
        char text[128];
        size_t n = unhex(cases[i].hex, bin, sizeof bin);
        size_t tl = strlen(cases[i].text);
        int rc = enc(bin, n, text, sizeof text);
        cr_expect_eq(rc, (int)tl, "%s encode %s: %d", what, cases[i].hex, rc);
        cr_expect_str_eq(text, cases[i].text, "%s encode %s", what, cases[i].hex);
        /* Exactly enough room, and one byte less. */
        cr_expect_eq(enc(bin, n, text, tl + 1), (int)tl, "%s tight %s", what, cases[i].hex);
        cr_expect_eq(enc(bin, n, text, tl), WEFT_ENOSPC, "%s short %s", what, cases[i].hex);
        rc = dec(cases[i].text, tl, back, sizeof back);
        cr_expect_eq(rc, (int)n, "%s decode \"%s\": %d", what, cases[i].text, rc);
        cr_expect_arr_eq(back, bin, n, "%s decode \"%s\"", what, cases[i].text);
        cr_expect_eq(dec(cases[i].text, tl, back, n), (int)n, "%s tight", what);
        if (n > 0)
            cr_expect_eq(dec(cases[i].text, tl, back, n - 1), WEFT_ENOSPC, "%s short \"%s\"", what,
                         cases[i].text);
    }
}

Test(encoding, base58_known)
{
    /* The base58 vectors of Bitcoin Core (src/test/data/base58_encode_decode.json). */
    static const textcase cases[] = {
        {"", ""},
        {"61", "2g"},
        {"626262", "a3gV"},
        {"636363", "aPEr"},
        {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
        {"00eb15231dfceb60925886b67d065299925915aeb172c06647",
         "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
        {"516b6fcd0f", "ABnLTmg"},
        {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
        {"572e4794", "3EFU7m"},
        {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
        {"10c8511e", "Rt5zm"},
        {"00*10", "1111111111"},
        {"00", "1"},
        {"0000ff", "115Q"},
    };
    check_known("base58", cases, sizeof cases / sizeof cases[0], weft_base58_encode,
                weft_base58_decode);
}

Test(encoding, base32_known)
{
    /* RFC 4648 section 10, lower case, padding dropped. */
    static const textcase cases[] = {
        {"", ""},
        {"66", "my"},
        {"666f", "mzxq"},
        {"666f6f", "mzxw6"},
        {"666f6f62", "mzxw6yq"},
        {"666f6f6261", "mzxw6ytb"},
        {"666f6f626172", "mzxw6ytboi"},
        {"ffffffffff", "77777777"},
    };
    check_known("base32", cases, sizeof cases / sizeof cases[0], weft_base32_encode,
                weft_base32_decode);
}

Test(encoding, base64_known)
{
    /* RFC 4648 section 10. */
    static const textcase cases[] = {
        {"", ""},
        {"66", "Zg=="},
        {"666f", "Zm8="},
        {"666f6f", "Zm9v"},
        {"666f6f62", "Zm9vYg=="},
        {"666f6f6261", "Zm9vYmE="},
        {"666f6f626172", "Zm9vYmFy"},
        {"fbff", "+/8="},
    };
    check_known("base64", cases, sizeof cases / sizeof cases[0], weft_base64_encode,
                weft_base64_decode);
}

Test(encoding, decoders_reject)
{
    static const struct {
        int which; /* 58, 32, 64 */
        const char *text;
    } bad[] = {
        {58, "0"},     {58, "O"},    {58, "I"},      {58, "l"},        {58, "1 "},
        {58, "+"},     {32, "a"},    {32, "abc"},    {32, "abcdef"},   {32, "MY"},
        {32, "my=="},  {32, "m1"},   {32, "m8"},     {32, "mz"},       {32, "mzxr"},
        {32, "mzxw7"}, {32, "my\n"}, {64, "Zg"},     {64, "Zg="},      {64, "Zg=a"},
        {64, "Z==="},  {64, "===="}, {64, "Zh=="},   {64, "Zm9="},     {64, "Zm8=Zm8="},
        {64, "Zm-v"},  {64, "Zm_v"}, {64, "Zm9v\n"}, {64, "Zm9v===="}, {64, "=m9v"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t out[64];
        size_t n = strlen(bad[i].text);
        int rc = bad[i].which == 58   ? weft_base58_decode(bad[i].text, n, out, sizeof out)
                 : bad[i].which == 32 ? weft_base32_decode(bad[i].text, n, out, sizeof out)
                                      : weft_base64_decode(bad[i].text, n, out, sizeof out);
        cr_expect_eq(rc, WEFT_EPROTO, "base%d accepted \"%s\" (%d)", bad[i].which, bad[i].text, rc);
    }
    /* An embedded NUL is outside every alphabet. */
    uint8_t out[8];
    cr_expect_eq(weft_base58_decode("2\0g", 3, out, sizeof out), WEFT_EPROTO);
    cr_expect_eq(weft_base32_decode("m\0", 2, out, sizeof out), WEFT_EPROTO);
    cr_expect_eq(weft_base64_decode("Zg\0=", 4, out, sizeof out), WEFT_EPROTO);
}

/* Random bytes survive encode -> decode; random canonical texts survive
 * decode -> encode. */
Test(encoding, random_round_trips)
{
    uint64_t seed = test_seed_of_run(), x = seed;
    static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t bin[120], back[120];
        char text[200], again[200];
        size_t n = (size_t)(test_splitmix(&x) % sizeof bin);
        for (size_t i = 0; i < n; i++)
            bin[i] = (uint8_t)test_splitmix(&x);
        /* Leading zeros matter to base58. */
        size_t z = (size_t)(test_splitmix(&x) % 4);
        for (size_t i = 0; i < z && i < n; i++)
            bin[i] = 0;
        int (*enc[3])(const uint8_t *, size_t, char *,
                      size_t) = {weft_base58_encode, weft_base32_encode, weft_base64_encode};
        int (*dec[3])(const char *, size_t, uint8_t *,
                      size_t) = {weft_base58_decode, weft_base32_decode, weft_base64_decode};
        for (int k = 0; k < 3; k++) {
            int tl = enc[k](bin, n, text, sizeof text);
            cr_assert_geq(tl, 0, "encoder %d, %zu bytes [seed=%" PRIu64 "]", k, n, seed);
            cr_assert_eq(strlen(text), (size_t)tl);
            int bl = dec[k](text, (size_t)tl, back, sizeof back);
            cr_assert_eq(bl, (int)n, "decoder %d on \"%s\" [seed=%" PRIu64 "]", k, text, seed);
            cr_assert_arr_eq(back, bin, n, "codec %d [seed=%" PRIu64 "]", k, seed);
        }
        /* A random base58 string decodes to bytes that encode back to it. */
        size_t tl = (size_t)(test_splitmix(&x) % 60);
        for (size_t i = 0; i < tl; i++)
            text[i] = b58[test_splitmix(&x) % 58];
        text[tl] = '\0';
        int bl = weft_base58_decode(text, tl, back, sizeof back);
        cr_assert_geq(bl, 0, "\"%s\" [seed=%" PRIu64 "]", text, seed);
        cr_assert_eq(weft_base58_encode(back, (size_t)bl, again, sizeof again), (int)tl);
        cr_assert_str_eq(again, text, "[seed=%" PRIu64 "]", seed);
    }
}
