/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libp2p `/noise` channel (weft/noise.h) against forged and malformed
 * input: payload verification (bad or missing signature, non-Ed25519
 * identity key, unknown fields and extensions), a hand-driven core peer
 * that forges payloads or announces a low-order static key, tampered bytes
 * in every handshake message, truncated and oversized frames in the
 * handshake and in transport, nonce exhaustion and garbage. Invariant under
 * test throughout: every failure is an error code, never a crash, and it is
 * sticky.
 *
 * Random inputs come from a seeded generator (WEFT_TEST_SEED overrides);
 * failing assertions print the seed.
 */
#include "noise_testutil.h"
#include "weft/pb.h"

/* ---- payload verification ------------------------------------------------------------------ */

/* Payload builders for forged messages. */
static size_t
payload_with(uint8_t *out, const uint8_t *key_pb, size_t key_len, const uint8_t *sig,
             size_t sig_len, const uint8_t *extra, size_t extra_len)
{
    weft_buf b;
    weft_buf_init(&b, out, 1024, 1024);
    if (key_pb != NULL)
        cr_assert_eq(weft_pb_put_bytes(&b, 1, key_pb, key_len), 0);
    if (sig != NULL)
        cr_assert_eq(weft_pb_put_bytes(&b, 2, sig, sig_len), 0);
    if (extra_len)
        cr_assert_eq(weft_buf_append(&b, extra, extra_len), 0);
    cr_assert_eq(b.base, out);
    return b.len;
}

Test(noise, payload_verify_cases)
{
    weft_identity id;
    uint8_t seed[32] = {7}, spub[32], key_pb[36], msg[56], sig[64], p[1024];
    weft_noise_remote rem;
    weft_identity_from_seed(&id, seed);
    randombytes_buf(spub, sizeof spub);
    weft_pubkey_pb_encode(id.pk, key_pb);
    memcpy(msg, WEFT_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, spub, 32);
    weft_sign(&id, msg, sizeof msg, sig);

    /* Unknown fields (3, 99, a varint, a fixed64) and a certhash extension are ignored; a
     * second muxer alongside yamux is fine. */
    /* clang-format off */
    static const uint8_t extra[] = {
        0x1a, 0x02, 0xaa, 0xbb,                         /* 3: bytes */
        0x98, 0x06, 0x05,                               /* 99: varint */
        0x29, 1, 2, 3, 4, 5, 6, 7, 8,                   /* 5: fixed64 */
        0x22, 0x1a,                                     /* 4: { */
        0x0a, 0x02, 0x01, 0x02,                         /*   1: certhash */
        0x12, 0x06, '/', 'm', 'p', 'l', 'e', 'x',       /*   2: "/mplex" */
        0x12, 0x0c, '/', 'y', 'a', 'm', 'u', 'x',
        '/', '1', '.', '0', '.', '0',                   /*   2: "/yamux/1.0.0" } */
    };
    /* clang-format on */
    size_t n = payload_with(p, key_pb, 36, sig, 64, extra, sizeof extra);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), 0);
    cr_assert_eq(rem.muxers, WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX);
    /* Only another muxer: listed, but no yamux. */
    static const uint8_t ext_mplex[] = {0x22, 0x08, 0x12, 0x06, '/', 'm', 'p', 'l', 'e', 'x'};
    n = payload_with(p, key_pb, 36, sig, 64, ext_mplex, sizeof ext_mplex);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), 0);
    cr_assert_eq(rem.muxers, WEFT_NOISE_REMOTE_LISTED_MUXERS);

    /* Missing key -> EPROTO; missing or short signature -> EAUTH; flipped bit -> EAUTH. */
    n = payload_with(p, NULL, 0, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    n = payload_with(p, key_pb, 36, NULL, 0, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH);
    n = payload_with(p, key_pb, 36, sig, 63, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH);
    for (int bit = 0; bit < 512; bit += 37) {
        uint8_t bad[64];
        memcpy(bad, sig, 64);
        bad[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        n = payload_with(p, key_pb, 36, bad, 64, NULL, 0);
        cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH, "bit %d", bit);
    }
    /* Non-Ed25519 identity keys -> ENOTSUP: RSA (0), secp256k1 (2), ECDSA (3). */
    static const uint8_t types[] = {0, 2, 3};
    for (size_t t = 0; t < sizeof types; t++) {
        uint8_t other[2 + 2 + 33] = {0x08, types[t], 0x12, 33, 0x02};
        n = payload_with(p, other, sizeof other, sig, 64, NULL, 0);
        cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_ENOTSUP, "type %u",
                     types[t]);
    }
    /* Malformed: identity_key as a varint, a truncated field, a bad extension. */
    static const uint8_t as_varint[] = {0x08, 0x01};
    cr_assert_eq(weft_noise_payload_verify(as_varint, 2, spub, &rem), WEFT_EPROTO);
    n = payload_with(p, key_pb, 36, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n - 1, spub, &rem), WEFT_EPROTO);
    static const uint8_t bad_ext[] = {0x22, 0x02, 0x10, 0x01}; /* stream_muxers as varint */
    n = payload_with(p, key_pb, 36, sig, 64, bad_ext, sizeof bad_ext);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    static const uint8_t trunc_ext[] = {0x22, 0x02, 0x12, 0x05};
    n = payload_with(p, key_pb, 36, sig, 64, trunc_ext, sizeof trunc_ext);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    /* A wrong-length Ed25519 key is malformed. */
    uint8_t short_key[35];
    memcpy(short_key, key_pb, 35);
    short_key[3] = 31;
    n = payload_with(p, short_key, 35, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    cr_assert_eq(weft_noise_payload_verify(p, 0, spub, &rem), WEFT_EPROTO);
}

/* ---- a hand-driven core peer for forged messages ------------------------------------------ */

/* Frame a core message into out. */
static void
core_write(weft_noise_xx *xx, const uint8_t *payload, size_t plen, weft_buf *out)
{
    size_t n = weft_noise_xx_write_len(xx, plen);
    cr_assert_eq(weft_buf_reserve(out, n + 2), 0);
    int rc = weft_noise_xx_write(xx, payload, plen, out->base + out->len + 2, n);
    cr_assert_eq(rc, (int)n, "core write: %d", rc);
    out->base[out->len] = (uint8_t)(n >> 8);
    out->base[out->len + 1] = (uint8_t)n;
    out->len += n + 2;
}

static void
core_read(weft_noise_xx *xx, weft_buf *in)
{
    cr_assert_geq(in->len, 2);
    size_t n = (size_t)in->base[0] << 8 | in->base[1];
    cr_assert_eq(in->len, n + 2);
    uint8_t *pl = malloc(n + 1);
    int rc = weft_noise_xx_read(xx, in->base + 2, n, pl, n);
    cr_assert_geq(rc, 0, "core read: %d", rc);
    free(pl);
    weft_buf_reset(in);
}

typedef size_t (*payload_fn)(uint8_t *out, const uint8_t static_pub[32], const void *arg);

/* Set by a test: the core peer announces the all-zero (low-order) static key. */
static int zero_static;

/* The libp2p responder hs meets a core initiator that sends payload_fn's payload in
 * message 3. Returns hs_input's result for message 3. */
static int
forged_initiator(weft_noise_hs *resp, payload_fn make, const void *arg)
{
    weft_noise_xx xx;
    uint8_t s[32], pl[1024];
    randombytes_buf(s, sizeof s);
    cr_assert_eq(weft_noise_xx_init(&xx, 1, NULL, 0, s, NULL), 0);
    if (zero_static)
        memset(xx.s_pub, 0, sizeof xx.s_pub);
    weft_buf to_r, to_i;
    weft_buf_init(&to_r, NULL, 0, 0);
    weft_buf_init(&to_i, NULL, 0, 0);
    size_t used;
    core_write(&xx, NULL, 0, &to_r);
    cr_assert_eq(weft_noise_hs_input(resp, to_r.base, to_r.len, &used, &to_i), 0);
    weft_buf_reset(&to_r);
    core_read(&xx, &to_i);
    size_t n = make(pl, xx.s_pub, arg);
    core_write(&xx, pl, n, &to_r);
    int rc = weft_noise_hs_input(resp, to_r.base, to_r.len, &used, &to_i);
    cr_assert_eq(to_i.len, 0);
    weft_noise_xx_wipe(&xx);
    weft_buf_free(&to_r);
    weft_buf_free(&to_i);
    return rc;
}

/* The libp2p initiator hs meets a core responder whose message 2 carries the payload.
 * Returns hs_input's result for message 2; *sent_msg3 tells whether a reply went out. */
static int
forged_responder(weft_noise_hs *init, payload_fn make, const void *arg, int *sent_msg3)
{
    weft_noise_xx xx;
    uint8_t s[32], pl[1024];
    randombytes_buf(s, sizeof s);
    cr_assert_eq(weft_noise_xx_init(&xx, 0, NULL, 0, s, NULL), 0);
    if (zero_static)
        memset(xx.s_pub, 0, sizeof xx.s_pub);
    weft_buf to_r, to_i;
    weft_buf_init(&to_r, NULL, 0, 0);
    weft_buf_init(&to_i, NULL, 0, 0);
    size_t used;
    cr_assert_eq(weft_noise_hs_start(init, &to_r), 0);
    core_read(&xx, &to_r);
    size_t n = make(pl, xx.s_pub, arg);
    core_write(&xx, pl, n, &to_i);
    int rc = weft_noise_hs_input(init, to_i.base, to_i.len, &used, &to_r);
    *sent_msg3 = to_r.len != 0;
    weft_noise_xx_wipe(&xx);
    weft_buf_free(&to_r);
    weft_buf_free(&to_i);
    return rc;
}

typedef struct forge {
    const weft_identity *id;
    int mode;
} forge;

enum { F_GOOD, F_SIG_BIT, F_SIG_OTHER_KEY, F_NO_SIG, F_NO_KEY, F_SECP256K1, F_RSA, F_GARBAGE };

static size_t
make_forged(uint8_t *out, const uint8_t static_pub[32], const void *arg)
{
    const forge *f = arg;
    uint8_t key_pb[36], msg[56], sig[64];
    weft_pubkey_pb_encode(f->id->pk, key_pb);
    memcpy(msg, WEFT_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, static_pub, 32);
    if (f->mode == F_SIG_OTHER_KEY)
        msg[30] ^= 1;
    weft_sign(f->id, msg, sizeof msg, sig);
    if (f->mode == F_SIG_BIT)
        sig[17] ^= 0x10;
    uint8_t other[37] = {0x08, f->mode == F_RSA ? 0 : 2, 0x12, 33, 0x03};
    switch (f->mode) {
    case F_NO_SIG: return payload_with(out, key_pb, 36, NULL, 0, NULL, 0);
    case F_NO_KEY: return payload_with(out, NULL, 0, sig, 64, NULL, 0);
    case F_SECP256K1:
    case F_RSA: return payload_with(out, other, sizeof other, sig, 64, NULL, 0);
    case F_GARBAGE: memset(out, 0xff, 40); return 40;
    default: return payload_with(out, key_pb, 36, sig, 64, NULL, 0);
    }
}

Test(noise, forged_payloads_are_rejected)
{
    weft_identity us, them;
    ident(&us, 13);
    ident(&them, 14);
    static const struct {
        int mode;
        int want;
    } cases[] = {
        {F_GOOD, 0},
        {F_SIG_BIT, WEFT_EAUTH},
        {F_SIG_OTHER_KEY, WEFT_EAUTH},
        {F_NO_SIG, WEFT_EAUTH},
        {F_NO_KEY, WEFT_EPROTO},
        {F_SECP256K1, WEFT_ENOTSUP},
        {F_RSA, WEFT_ENOTSUP},
        {F_GARBAGE, WEFT_EPROTO},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        forge f = {&them, cases[c].mode};
        int want_rc = cases[c].want == 0 ? 1 : cases[c].want;

        weft_noise_hs *r = new_hs(0, &us, NULL);
        int rc = forged_initiator(r, make_forged, &f);
        cr_assert_eq(rc, want_rc, "message 3, case %d: %d %s", cases[c].mode, rc,
                     weft_strerror(rc));
        if (rc == 1) {
            uint8_t pk[32];
            cr_assert_eq(weft_noise_hs_remote(r, NULL, pk), 0);
            cr_assert(memcmp(pk, them.pk, 32) == 0);
        }
        weft_noise_hs_free(r);

        weft_noise_hs *i = new_hs(1, &us, NULL);
        int sent3 = -1;
        rc = forged_responder(i, make_forged, &f, &sent3);
        cr_assert_eq(rc, want_rc, "message 2, case %d: %d %s", cases[c].mode, rc,
                     weft_strerror(rc));
        /* Message 3 (our identity) goes out only to an authenticated responder. */
        cr_assert_eq(sent3, rc == 1);
        weft_noise_hs_free(i);
    }
}

Test(noise, low_order_static_key_fails)
{
    /* A peer whose s is the zero point, with a valid signature over it: es (initiator) and
     * se (responder) give an all-zero shared secret, which must end the handshake. */
    weft_identity us, them;
    ident(&us, 21);
    ident(&them, 22);
    forge f = {&them, F_GOOD};
    zero_static = 1;
    weft_noise_hs *r = new_hs(0, &us, NULL);
    cr_assert_eq(forged_initiator(r, make_forged, &f), WEFT_EAUTH);
    weft_noise_hs_free(r);
    weft_noise_hs *i = new_hs(1, &us, NULL);
    int sent3 = -1;
    cr_assert_eq(forged_responder(i, make_forged, &f, &sent3), WEFT_EAUTH);
    cr_assert_eq(sent3, 0);
    weft_noise_hs_free(i);
    zero_static = 0;
}

Test(noise, tampered_handshake_bytes_fail)
{
    weft_identity a, b;
    ident(&a, 15);
    ident(&b, 16);
    /* For each of the three messages and each byte of its body, flip one bit in flight:
     * the handshake must fail on one side and never complete on both. */
    for (int which = 0; which < 3; which++) {
        size_t tested = 0;
        for (size_t pos = 0;; pos++) {
            weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
            weft_buf m1, m2, m3, sink;
            weft_buf_init(&m1, NULL, 0, 0);
            weft_buf_init(&m2, NULL, 0, 0);
            weft_buf_init(&m3, NULL, 0, 0);
            weft_buf_init(&sink, NULL, 0, 0);
            size_t used;
            int ri = 0, rr = 0, stop = 0;
            cr_assert_eq(weft_noise_hs_start(i, &m1), 0);
            weft_buf *msgs[3] = {&m1, &m2, &m3};
            for (int step = 0; step < 3 && !stop; step++) {
                weft_buf *m = msgs[step];
                if (step == which) {
                    if (pos + 2 >= m->len) {
                        stop = 2; /* every byte done */
                        break;
                    }
                    m->base[2 + pos] ^= (uint8_t)(1 << (pos % 8));
                }
                if (step == 0)
                    rr = weft_noise_hs_input(r, m1.base, m1.len, &used, &m2);
                else if (step == 1)
                    ri = weft_noise_hs_input(i, m2.base, m2.len, &used, &m3);
                else
                    rr = weft_noise_hs_input(r, m3.base, m3.len, &used, &sink);
                if (ri < 0 || rr < 0)
                    stop = 1;
            }
            if (stop != 2) {
                cr_assert(ri < 0 || rr < 0, "message %d byte %zu: no failure (ri %d rr %d)",
                          which + 1, pos, ri, rr);
                cr_assert(ri != 1 || rr != 1);
                int e = ri < 0 ? ri : rr;
                cr_assert(e == WEFT_EAUTH || e == WEFT_EPROTO || e == WEFT_ENOTSUP,
                          "message %d byte %zu: %d", which + 1, pos, e);
                tested++;
            }
            weft_noise_hs_free(i);
            weft_noise_hs_free(r);
            weft_buf_free(&m1);
            weft_buf_free(&m2);
            weft_buf_free(&m3);
            weft_buf_free(&sink);
            if (stop == 2)
                break;
        }
        cr_assert_geq(tested, 32, "message %d: only %zu bytes tampered", which + 1, tested);
    }
}

Test(noise, truncated_frames_need_more)
{
    weft_identity a, b;
    ident(&a, 17);
    ident(&b, 18);
    weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
    weft_buf m1, m2, m3;
    weft_buf_init(&m1, NULL, 0, 0);
    weft_buf_init(&m2, NULL, 0, 0);
    weft_buf_init(&m3, NULL, 0, 0);
    size_t used = 99;
    cr_assert_eq(weft_noise_hs_start(i, &m1), 0);
    for (size_t n = 0; n < m1.len; n++) {
        cr_assert_eq(weft_noise_hs_input(r, m1.base, n, &used, &m2), 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(m2.len, 0);
    }
    cr_assert_eq(weft_noise_hs_input(r, m1.base, m1.len, &used, &m2), 0);
    cr_assert_eq(used, m1.len);
    for (size_t n = 0; n < m2.len; n++) {
        cr_assert_eq(weft_noise_hs_input(i, m2.base, n, &used, &m3), 0);
        cr_assert_eq(used, 0);
    }
    cr_assert_eq(weft_noise_hs_input(i, m2.base, m2.len, &used, &m3), 1);
    for (size_t n = 0; n < m3.len; n++)
        cr_assert_eq(weft_noise_hs_input(r, m3.base, n, &used, &m1), 0);
    cr_assert_eq(weft_noise_hs_input(r, m3.base, m3.len, &used, &m1), 1);

    /* Transport: every proper prefix of a frame opens nothing and consumes nothing. */
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(i, &si, NULL), 0);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), 0);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"0123456789", 10, &w), 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"abc", 3, &w), 0);
    for (size_t n = 0; n < 28; n++) {
        cr_assert_eq(weft_noise_open(&sr, w.base, n, &used, &plain), 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(plain.len, 0);
    }
    /* One whole frame and part of the next: only the first is consumed. */
    cr_assert_eq(weft_noise_open(&sr, w.base, w.len - 1, &used, &plain), 0);
    cr_assert_eq(used, 28);
    cr_assert_eq(plain.len, 10);
    cr_assert_eq(weft_noise_open(&sr, w.base + used, w.len - used, &used, &plain), 0);
    cr_assert_eq(plain.len, 13);
    cr_assert(memcmp(plain.base, "0123456789abc", 13) == 0);
    weft_noise_hs_free(i);
    weft_noise_hs_free(r);
    weft_buf_free(&m1);
    weft_buf_free(&m2);
    weft_buf_free(&m3);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

/* A session pair from the core with fixed keys (no libp2p payloads needed). */
static void
core_sessions(weft_noise_session *si, weft_noise_session *sr)
{
    weft_noise_xx a, b;
    uint8_t k[4][32], buf[256], pl[256];
    for (int j = 0; j < 4; j++)
        memset(k[j], 0x21 + j, 32);
    cr_assert_eq(weft_noise_xx_init(&a, 1, NULL, 0, k[0], k[1]), 0);
    cr_assert_eq(weft_noise_xx_init(&b, 0, NULL, 0, k[2], k[3]), 0);
    for (int m = 0; m < 3; m++) {
        weft_noise_xx *w = m == 1 ? &b : &a, *r = m == 1 ? &a : &b;
        int n = weft_noise_xx_write(w, NULL, 0, buf, sizeof buf);
        cr_assert_gt(n, 0);
        cr_assert_eq(weft_noise_xx_read(r, buf, (size_t)n, pl, sizeof pl), 0);
    }
    cr_assert_eq(weft_noise_xx_split(&a, si, NULL), 0);
    cr_assert_eq(weft_noise_xx_split(&b, sr, NULL), 0);
}

Test(noise, transport_bad_frames)
{
    weft_noise_session si, sr;
    core_sessions(&si, &sr);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;

    /* Frames shorter than a tag are malformed, even before their body arrives. */
    static const uint8_t short_frames[][2] = {{0, 0}, {0, 1}, {0, 15}};
    for (int s = 0; s < 3; s++) {
        weft_noise_session rx = sr;
        cr_assert_eq(weft_noise_open(&rx, short_frames[s], 2, &used, &plain), WEFT_EPROTO);
    }
    /* An empty plaintext frame (tag only) is fine. */
    uint8_t tag_only[18] = {0, 16};
    weft_noise_session tx = si;
    cr_assert_eq(weft_noise_cipher_encrypt(&tx.tx, NULL, 0, NULL, 0, tag_only + 2), 0);
    weft_noise_session rx = sr;
    cr_assert_eq(weft_noise_open(&rx, tag_only, 18, &used, &plain), 0);
    cr_assert_eq(used, 18);
    cr_assert_eq(plain.len, 0);
    cr_assert_eq(rx.rx.n, 1);

    /* A full-size frame of garbage fails authentication; partial stays pending. */
    uint8_t *big = calloc(1, WEFT_NOISE_FRAME_MAX);
    big[0] = 0xff;
    big[1] = 0xff;
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, big, WEFT_NOISE_FRAME_MAX - 1, &used, &plain), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_open(&rx, big, WEFT_NOISE_FRAME_MAX, &used, &plain), WEFT_EAUTH);
    cr_assert_eq(used, 0);
    cr_assert_eq(rx.rx.n, 0);
    free(big);

    /* Good, then tampered: the first is delivered, the error reports the second. */
    tx = si;
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"one", 3, &w), 0);
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"two", 3, &w), 0);
    for (size_t pos = 0; pos < 21; pos++) {
        rx = sr;
        weft_buf_reset(&plain);
        w.base[21 + pos] ^= 0x04;
        int rc = weft_noise_open(&rx, w.base, w.len, &used, &plain);
        cr_assert(rc == WEFT_EAUTH || (pos < 2 && (rc == 0 || rc == WEFT_EPROTO)), "byte %zu: %d",
                  pos, rc);
        if (pos >= 2) {
            cr_assert_eq(used, 21);
            cr_assert_eq(plain.len, 3);
            cr_assert(memcmp(plain.base, "one", 3) == 0);
        }
        w.base[21 + pos] ^= 0x04;
    }
    /* Reordered frames fail: nonces are implicit. */
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, w.base + 21, 21, &used, &plain), WEFT_EAUTH);

    /* Output capped: open reports the buffer's error, seal is all-or-nothing. */
    uint8_t small[2];
    weft_buf tiny;
    weft_buf_init(&tiny, small, sizeof small, sizeof small);
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, w.base, w.len, &used, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(used, 0);
    tx = si;
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"x", 1, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(tx.tx.n, 0);
    cr_assert_eq(tiny.len, 0);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

Test(noise, transport_nonce_exhaustion)
{
    weft_noise_session si, sr;
    core_sessions(&si, &sr);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;
    si.tx.n = sr.rx.n = UINT64_MAX - 2;
    /* Two frames left: a 2-frame message fits, a 3-frame one is refused whole. */
    uint8_t *m = calloc(1, 3 * WEFT_NOISE_PLAIN_MAX);
    cr_assert_eq(weft_noise_seal(&si, m, 2 * WEFT_NOISE_PLAIN_MAX + 1, &w), WEFT_ELIMIT);
    cr_assert_eq(w.len, 0);
    cr_assert_eq(si.tx.n, UINT64_MAX - 2);
    cr_assert_eq(weft_noise_seal(&si, m, 2 * WEFT_NOISE_PLAIN_MAX, &w), 0);
    cr_assert_eq(si.tx.n, UINT64_MAX);
    cr_assert_eq(weft_noise_seal(&si, m, 1, &w), WEFT_ELIMIT);
    cr_assert_eq(weft_noise_open(&sr, w.base, w.len, &used, &plain), 0);
    cr_assert_eq(plain.len, 2 * WEFT_NOISE_PLAIN_MAX);
    cr_assert_eq(sr.rx.n, UINT64_MAX);
    /* The receiver refuses to go further, whatever arrives. */
    uint8_t frame[18] = {0, 16};
    cr_assert_eq(weft_noise_open(&sr, frame, sizeof frame, &used, &plain), WEFT_ELIMIT);
    free(m);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

Test(noise, handshake_bad_frames)
{
    weft_identity a;
    ident(&a, 19);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    size_t used;

    /* Message 1 shorter than an ephemeral key, or empty. */
    uint8_t short1[2 + 31] = {0, 31};
    weft_noise_hs *r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, short1, sizeof short1, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);
    uint8_t empty[2] = {0, 0};
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, empty, 2, &used, &out), WEFT_EPROTO);
    cr_assert_eq(weft_noise_hs_input(r, empty, 2, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);

    /* A low-order ephemeral (all zeros): ee is zero, so the responder gives up. */
    uint8_t zero_e[2 + 32] = {0, 32};
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, zero_e, sizeof zero_e, &used, &out), WEFT_EAUTH);
    cr_assert_eq(out.len, 0);
    weft_noise_hs_free(r);

    /* A clear payload in message 1 is tolerated (and ignored). */
    uint8_t with_payload[2 + 40] = {0, 40};
    randombytes_buf(with_payload + 2, 40);
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    cr_assert_eq(used, sizeof with_payload);
    cr_assert_gt(out.len, 0);
    weft_noise_hs_free(r);

    /* The largest frame, full of garbage, as message 2 and as message 3. */
    uint8_t *big = malloc(WEFT_NOISE_FRAME_MAX);
    randombytes_buf(big, WEFT_NOISE_FRAME_MAX);
    big[0] = big[1] = 0xff;
    weft_noise_hs *i = new_hs(1, &a, NULL);
    cr_assert_eq(weft_noise_hs_start(i, &out), 0);
    cr_assert_eq(weft_noise_hs_input(i, big, WEFT_NOISE_FRAME_MAX - 1, &used, &out), 0);
    cr_assert_eq(weft_noise_hs_input(i, big, WEFT_NOISE_FRAME_MAX, &used, &out), WEFT_EAUTH);
    weft_noise_hs_free(i);
    r = new_hs(0, &a, NULL);
    weft_buf_reset(&out);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    cr_assert_eq(weft_noise_hs_input(r, big, WEFT_NOISE_FRAME_MAX, &used, &out), WEFT_EAUTH);
    weft_noise_hs_free(r);
    /* Message 3 too short to hold s and a tag. */
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    uint8_t short3[2 + 63] = {0, 63};
    cr_assert_eq(weft_noise_hs_input(r, short3, sizeof short3, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);
    free(big);
    weft_buf_free(&out);
}

Test(noise, garbage_never_crashes)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a;
    ident(&a, 20);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    uint8_t buf[600];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = trng_next(&rng) % sizeof buf;
        trng_fill(&rng, buf, n);
        /* Keep frame lengths plausible half of the time so that bodies get parsed. */
        if (n >= 2 && iter % 2)
            buf[0] = 0, buf[1] = (uint8_t)(n - 2 > 255 ? 255 : n - 2);
        int initiator = iter % 3 == 0;
        weft_noise_hs *hs = new_hs(initiator, &a, NULL);
        if (initiator)
            cr_assert_eq(weft_noise_hs_start(hs, &out), 0);
        size_t used = 0;
        int rc = weft_noise_hs_input(hs, buf, n, &used, &out);
        cr_assert(rc == 0 || rc == WEFT_EAUTH || rc == WEFT_EPROTO, "rc %d" SEEDF, rc, seed);
        cr_assert_leq(used, n, SEEDF, seed);
        /* Never complete from garbage. */
        if (rc == 0 && used < n) {
            rc = weft_noise_hs_input(hs, buf + used, n - used, &used, &out);
            cr_assert(rc <= 0, "completed on garbage" SEEDF, seed);
        }
        weft_noise_hs_free(hs);
        weft_buf_reset(&out);
    }
    weft_buf_free(&out);
}
