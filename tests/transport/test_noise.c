/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libp2p `/noise` channel (weft/noise.h): two handshake engines run
 * against each other in memory (whole buffers, one byte at a time, random
 * chunks), then seal and open in both directions, including messages that
 * span frames and transport bytes right behind message 3; expected peer
 * ids, the static key and muxer offer of weft_noise_config, and API misuse.
 * Invariant under test throughout: every failure is an error code, never a
 * crash, and it is sticky.
 *
 * Random inputs come from a seeded generator (WEFT_TEST_SEED overrides);
 * failing assertions print the seed.
 */
#include "noise_testutil.h"

/* ---- in-memory handshakes ----------------------------------------------------------------- */

typedef struct side {
    weft_noise_hs *hs;
    weft_buf pending; /* received, not yet consumed */
    int done;
    int err;
} side;

/* Move the bytes of wire into s, chunk bytes at a time (0 = all at once), feeding the
 * handshake after each piece; replies go to back. Bytes after completion stay pending. */
static void
deliver(side *s, weft_buf *wire, size_t chunk, weft_buf *back)
{
    size_t off = 0;
    while (off < wire->len && s->err == 0) {
        size_t n = wire->len - off;
        if (chunk && n > chunk)
            n = chunk;
        cr_assert_eq(weft_buf_append(&s->pending, wire->base + off, n), 0);
        off += n;
        if (s->done)
            continue;
        size_t used = 12345;
        int rc = weft_noise_hs_input(s->hs, s->pending.base, s->pending.len, &used, back);
        cr_assert_leq(used, s->pending.len);
        if (rc < 0) {
            s->err = rc;
            break;
        }
        weft_buf_consume(&s->pending, used);
        if (rc == 1)
            s->done = 1;
    }
    weft_buf_consume(wire, off);
}

typedef struct duo {
    side i, r;
    weft_buf to_r, to_i; /* wires */
} duo;

static void
duo_init(duo *d, weft_noise_hs *i, weft_noise_hs *r)
{
    memset(d, 0, sizeof *d);
    d->i.hs = i;
    d->r.hs = r;
    weft_buf_init(&d->i.pending, NULL, 0, 0);
    weft_buf_init(&d->r.pending, NULL, 0, 0);
    weft_buf_init(&d->to_r, NULL, 0, 0);
    weft_buf_init(&d->to_i, NULL, 0, 0);
}

static void
duo_free(duo *d)
{
    weft_noise_hs_free(d->i.hs);
    weft_noise_hs_free(d->r.hs);
    weft_buf_free(&d->i.pending);
    weft_buf_free(&d->r.pending);
    weft_buf_free(&d->to_r);
    weft_buf_free(&d->to_i);
}

/* Run until both are done, one fails, or nothing moves. */
static void
duo_run(duo *d, size_t chunk)
{
    cr_assert_eq(weft_noise_hs_start(d->i.hs, &d->to_r), 0);
    for (int round = 0; round < 8; round++) {
        if (d->to_r.len == 0 && d->to_i.len == 0)
            break;
        deliver(&d->r, &d->to_r, chunk, &d->to_i);
        deliver(&d->i, &d->to_i, chunk, &d->to_r);
        if (d->i.err || d->r.err)
            break;
    }
}

static void
seal_open_check(weft_noise_session *tx, weft_noise_session *rx, const uint8_t *msg, size_t len,
                trng *rng, uint64_t seed)
{
    weft_buf wire, plain;
    weft_buf_init(&wire, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    cr_assert_eq(weft_noise_seal(tx, msg, len, &wire), 0);
    size_t frames = (len + WEFT_NOISE_PLAIN_MAX - 1) / WEFT_NOISE_PLAIN_MAX;
    cr_assert_eq(wire.len, len + frames * 18, "sealed %zu bytes into %zu" SEEDF, len, wire.len,
                 seed);
    /* Deliver in random pieces, keeping unconsumed bytes as a real reader does. */
    weft_buf pend;
    weft_buf_init(&pend, NULL, 0, 0);
    size_t off = 0;
    while (off < wire.len) {
        size_t n = 1 + trng_next(rng) % 70000;
        if (n > wire.len - off)
            n = wire.len - off;
        cr_assert_eq(weft_buf_append(&pend, wire.base + off, n), 0);
        off += n;
        size_t used;
        cr_assert_eq(weft_noise_open(rx, pend.base, pend.len, &used, &plain), 0, SEEDF, seed);
        weft_buf_consume(&pend, used);
    }
    cr_assert_eq(pend.len, 0, SEEDF, seed);
    cr_assert_eq(plain.len, len, SEEDF, seed);
    cr_assert(len == 0 || memcmp(plain.base, msg, len) == 0, SEEDF, seed);
    weft_buf_free(&wire);
    weft_buf_free(&plain);
    weft_buf_free(&pend);
}

static void
full_handshake(size_t chunk)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a, b;
    ident(&a, 1);
    ident(&b, 2);
    weft_peer_id pa, pb;
    weft_peer_id_from_pubkey(a.pk, &pa);
    weft_peer_id_from_pubkey(b.pk, &pb);

    duo d;
    duo_init(&d, new_hs(1, &a, &pb), new_hs(0, &b, NULL));
    cr_assert(weft_noise_hs_is_initiator(d.i.hs) && !weft_noise_hs_is_initiator(d.r.hs));
    duo_run(&d, chunk);
    cr_assert(d.i.done && d.r.done, "chunk %zu: i done %d err %d, r done %d err %d", chunk,
              d.i.done, d.i.err, d.r.done, d.r.err);
    cr_assert_eq(d.i.pending.len + d.r.pending.len, 0);

    weft_noise_session si, sr;
    weft_peer_id ri, rr;
    uint8_t pk[32];
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &si, &ri), 0);
    cr_assert_eq(weft_noise_hs_split(d.r.hs, &sr, &rr), 0);
    cr_assert(weft_peer_id_equal(&ri, &pb) && weft_peer_id_equal(&rr, &pa));
    cr_assert_eq(weft_noise_hs_remote(d.i.hs, NULL, pk), 0);
    cr_assert(memcmp(pk, b.pk, 32) == 0);
    cr_assert_eq(weft_noise_hs_remote(d.r.hs, &rr, pk), 0);
    cr_assert(memcmp(pk, a.pk, 32) == 0 && weft_peer_id_equal(&rr, &pa));
    cr_assert_eq(weft_noise_hs_remote_muxers(d.i.hs), 0u);
    /* Matching keys, opposite directions. */
    cr_assert(memcmp(si.tx.k, sr.rx.k, 32) == 0 && memcmp(si.rx.k, sr.tx.k, 32) == 0);
    cr_assert(memcmp(si.tx.k, si.rx.k, 32) != 0);

    static const uint8_t hello[] = "hello, responder";
    seal_open_check(&si, &sr, hello, sizeof hello, &rng, seed);
    seal_open_check(&sr, &si, hello, 5, &rng, seed);
    seal_open_check(&sr, &si, NULL, 0, &rng, seed);
    for (int k = 0; k < 20; k++) {
        uint8_t buf[300];
        size_t n = 1 + trng_next(&rng) % sizeof buf;
        trng_fill(&rng, buf, n);
        seal_open_check(k % 2 ? &si : &sr, k % 2 ? &sr : &si, buf, n, &rng, seed);
    }
    weft_noise_session_wipe(&si);
    weft_noise_session_wipe(&sr);
    cr_assert_eq(si.tx.has_key, 0);
    duo_free(&d);
}

Test(noise, handshake_whole_buffers)
{
    full_handshake(0);
}

Test(noise, handshake_byte_at_a_time)
{
    full_handshake(1);
}

Test(noise, handshake_odd_chunks)
{
    full_handshake(7);
    full_handshake(33);
}

Test(noise, large_messages_span_frames)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a, b;
    ident(&a, 3);
    ident(&b, 4);
    duo d;
    duo_init(&d, new_hs(1, &a, NULL), new_hs(0, &b, NULL));
    duo_run(&d, 0);
    cr_assert(d.i.done && d.r.done);
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &si, NULL), 0);
    cr_assert_eq(weft_noise_hs_split(d.r.hs, &sr, NULL), 0);

    size_t big = 1u << 20;
    uint8_t *m = malloc(big);
    cr_assert(m != NULL);
    trng_fill(&rng, m, big);
    seal_open_check(&si, &sr, m, big, &rng, seed);
    seal_open_check(&sr, &si, m, big, &rng, seed);
    /* Frame boundaries: 65519 fits one frame of length 65535; one more byte needs two. */
    static const size_t edge[] = {WEFT_NOISE_PLAIN_MAX - 1, WEFT_NOISE_PLAIN_MAX,
                                  WEFT_NOISE_PLAIN_MAX + 1, 2 * WEFT_NOISE_PLAIN_MAX};
    for (size_t e = 0; e < 4; e++) {
        weft_buf w;
        weft_buf_init(&w, NULL, 0, 0);
        cr_assert_eq(weft_noise_seal(&si, m, edge[e], &w), 0);
        size_t first = (size_t)w.base[0] << 8 | w.base[1];
        cr_assert_eq(first, edge[e] >= WEFT_NOISE_PLAIN_MAX ? 65535u : edge[e] + 16);
        weft_buf plain;
        weft_buf_init(&plain, NULL, 0, 0);
        size_t used;
        cr_assert_eq(weft_noise_open(&sr, w.base, w.len, &used, &plain), 0);
        cr_assert_eq(used, w.len);
        cr_assert_eq(plain.len, edge[e]);
        cr_assert(memcmp(plain.base, m, edge[e]) == 0);
        weft_buf_free(&w);
        weft_buf_free(&plain);
    }
    free(m);
    duo_free(&d);
}

Test(noise, transport_bytes_after_message_3_are_left)
{
    weft_identity a, b;
    ident(&a, 5);
    ident(&b, 6);
    weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
    weft_buf w1, w2, w3, plain;
    weft_buf_init(&w1, NULL, 0, 0);
    weft_buf_init(&w2, NULL, 0, 0);
    weft_buf_init(&w3, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;
    cr_assert_eq(weft_noise_hs_start(i, &w1), 0);
    cr_assert_eq(w1.len, 2 + 32);
    cr_assert_eq(weft_noise_hs_input(r, w1.base, w1.len, &used, &w2), 0);
    cr_assert_eq(used, w1.len);
    cr_assert_eq(weft_noise_hs_input(i, w2.base, w2.len, &used, &w3), 1);
    cr_assert_eq(used, w2.len);
    size_t msg3 = w3.len;
    /* The initiator may send data right behind message 3. */
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(i, &si, NULL), 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"early", 5, &w3), 0);
    cr_assert_eq(weft_noise_hs_input(r, w3.base, w3.len, &used, &w1), 1);
    cr_assert_eq(used, msg3);
    /* Complete: later calls say so and consume nothing. */
    cr_assert_eq(weft_noise_hs_input(r, w3.base + msg3, w3.len - msg3, &used, &w1), 1);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), 0);
    cr_assert_eq(weft_noise_open(&sr, w3.base + msg3, w3.len - msg3, &used, &plain), 0);
    cr_assert_eq(plain.len, 5);
    cr_assert(memcmp(plain.base, "early", 5) == 0);
    /* After split the handshake refuses input and a second split. */
    cr_assert_eq(weft_noise_hs_input(r, w3.base, w3.len, &used, &w1), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), WEFT_EINVAL);
    weft_noise_hs_free(i);
    weft_noise_hs_free(r);
    weft_buf_free(&w1);
    weft_buf_free(&w2);
    weft_buf_free(&w3);
    weft_buf_free(&plain);
}

Test(noise, expected_peer_id)
{
    weft_identity a, b, c;
    ident(&a, 7);
    ident(&b, 8);
    ident(&c, 9);
    weft_peer_id pa, pb, pc;
    weft_peer_id_from_pubkey(a.pk, &pa);
    weft_peer_id_from_pubkey(b.pk, &pb);
    weft_peer_id_from_pubkey(c.pk, &pc);

    /* Initiator dials /p2p/<c> but reaches b: fails on message 2, sends no message 3. */
    duo d;
    duo_init(&d, new_hs(1, &a, &pc), new_hs(0, &b, NULL));
    duo_run(&d, 0);
    cr_assert_eq(d.i.err, WEFT_EAUTH);
    cr_assert(!d.r.done && d.to_r.len == 0);
    /* The error is sticky. */
    size_t used;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    uint8_t junk[4] = {0, 2, 0, 0};
    cr_assert_eq(weft_noise_hs_input(d.i.hs, junk, 4, &used, &out), WEFT_EAUTH);
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &(weft_noise_session){0}, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_remote(d.i.hs, NULL, NULL), WEFT_EINVAL);
    duo_free(&d);

    /* A responder that expects c fails on message 3 from a. */
    duo_init(&d, new_hs(1, &a, NULL), new_hs(0, &b, &pc));
    duo_run(&d, 0);
    cr_assert(d.i.done);
    cr_assert_eq(d.r.err, WEFT_EAUTH);
    duo_free(&d);

    /* Both expectations right. */
    duo_init(&d, new_hs(1, &a, &pb), new_hs(0, &b, &pa));
    duo_run(&d, 3);
    cr_assert(d.i.done && d.r.done);
    duo_free(&d);
    weft_buf_free(&out);
}

Test(noise, config_static_key_and_muxer_offer)
{
    weft_identity a, b;
    ident(&a, 10);
    ident(&b, 11);
    uint8_t sk[32], spub[32], got[32];
    randombytes_buf(sk, sizeof sk);
    crypto_scalarmult_base(spub, sk);
    weft_noise_config ci = {
        .initiator = 1, .identity = &a, .static_key = sk, .flags = WEFT_NOISE_OFFER_YAMUX};
    weft_noise_config cr = {.initiator = 0, .identity = &b};
    int err;
    duo d;
    duo_init(&d, weft_noise_hs_new_config(&ci, &err), weft_noise_hs_new_config(&cr, &err));
    cr_assert(d.i.hs && d.r.hs);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.r.hs), 0u);
    duo_run(&d, 0);
    cr_assert(d.i.done && d.r.done);
    cr_assert_eq(weft_noise_hs_remote_static(d.r.hs, got), 0);
    cr_assert(memcmp(got, spub, 32) == 0);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.r.hs),
                 WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.i.hs), 0u);
    duo_free(&d);

    /* Bad configurations. */
    weft_noise_config bad = {.initiator = 1, .identity = NULL};
    cr_assert_null(weft_noise_hs_new_config(&bad, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    bad.identity = &a;
    bad.flags = 0x80;
    cr_assert_null(weft_noise_hs_new_config(&bad, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    cr_assert_null(weft_noise_hs_new_config(NULL, NULL));
}

/* One prepared static key serves many handshakes: each completes, the
 * remote sees that same static key and our identity, the payload (and so
 * the muxer offer) is the prepared one, and sessions still differ (fresh
 * ephemeral keys). Mixing a prepared key with per-handshake fields is
 * refused. */
Test(noise, prepared_static_key)
{
    weft_identity a, b;
    ident(&a, 12);
    ident(&b, 13);
    weft_peer_id pa;
    weft_peer_id_from_pubkey(a.pk, &pa);
    weft_noise_static st;
    cr_assert_eq(weft_noise_static_init(&st, &a, NULL, WEFT_NOISE_OFFER_YAMUX), 0);
    uint8_t want_pub[32];
    crypto_scalarmult_base(want_pub, st.priv);
    cr_assert(memcmp(want_pub, st.pub, 32) == 0);

    uint8_t first_key[32] = {0};
    for (int round = 0; round < 3; round++) {
        weft_noise_config ci = {.initiator = 1, .prepared = &st};
        weft_noise_config cr = {.initiator = 0, .identity = &b};
        int err;
        duo d;
        duo_init(&d, weft_noise_hs_new_config(&ci, &err), weft_noise_hs_new_config(&cr, &err));
        cr_assert(d.i.hs && d.r.hs, "round %d: %s", round, weft_strerror(err));
        duo_run(&d, round == 1 ? 5 : 0);
        cr_assert(d.i.done && d.r.done, "round %d: i err %d r err %d", round, d.i.err, d.r.err);
        uint8_t got[32];
        weft_peer_id rr;
        cr_assert_eq(weft_noise_hs_remote_static(d.r.hs, got), 0);
        cr_assert(memcmp(got, st.pub, 32) == 0, "round %d: another static key", round);
        cr_assert_eq(weft_noise_hs_remote(d.r.hs, &rr, NULL), 0);
        cr_assert(weft_peer_id_equal(&rr, &pa));
        cr_assert_eq(weft_noise_hs_remote_muxers(d.r.hs),
                     WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX);
        weft_noise_session si;
        cr_assert_eq(weft_noise_hs_split(d.i.hs, &si, NULL), 0);
        if (round == 0)
            memcpy(first_key, si.tx.k, 32);
        else
            cr_assert(memcmp(first_key, si.tx.k, 32) != 0, "session keys repeat");
        weft_noise_session_wipe(&si);
        duo_free(&d);
    }

    /* The prepared payload is what the remote verifies: flip a byte of its
     * signature (field 2, after the 38-byte key field and a 2-byte tag and
     * length) and the responder refuses the handshake. */
    weft_noise_static bad_st = st;
    cr_assert_eq(bad_st.payload[38], 0x12);
    bad_st.payload[50] ^= 1;
    weft_noise_config ci = {.initiator = 1, .prepared = &bad_st};
    weft_noise_config cr = {.initiator = 0, .identity = &b};
    int err;
    duo d;
    duo_init(&d, weft_noise_hs_new_config(&ci, &err), weft_noise_hs_new_config(&cr, &err));
    duo_run(&d, 0);
    cr_assert(!d.r.done && d.r.err < 0, "a tampered payload was accepted");
    duo_free(&d);

    weft_noise_config mixed = {.initiator = 1, .prepared = &st, .identity = &a};
    cr_assert_null(weft_noise_hs_new_config(&mixed, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    mixed = (weft_noise_config){.initiator = 1, .prepared = &st, .flags = WEFT_NOISE_OFFER_YAMUX};
    cr_assert_null(weft_noise_hs_new_config(&mixed, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    cr_assert_eq(weft_noise_static_init(&bad_st, NULL, NULL, 0), WEFT_EINVAL);
    cr_assert_eq(weft_noise_static_init(&bad_st, &a, NULL, 0x80), WEFT_EINVAL);
    weft_noise_static_wipe(&st);
    cr_assert_eq(st.payload_len, 0u);
}

/* weft_noise_seal_into writes what weft_noise_seal appends, for sizes
 * around the frame boundary; a short buffer is refused without using a
 * nonce. */
Test(noise, seal_into_matches_seal)
{
    weft_identity a, b;
    ident(&a, 14);
    ident(&b, 15);
    duo d;
    duo_init(&d, new_hs(1, &a, NULL), new_hs(0, &b, NULL));
    duo_run(&d, 0);
    cr_assert(d.i.done && d.r.done);
    weft_noise_session s1, s2, rx;
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &s1, NULL), 0);
    cr_assert_eq(weft_noise_hs_split(d.r.hs, &rx, NULL), 0);
    s2 = s1;
    static const size_t sizes[] = {1, 100, WEFT_NOISE_PLAIN_MAX, WEFT_NOISE_PLAIN_MAX + 1,
                                   3 * WEFT_NOISE_PLAIN_MAX + 17};
    size_t maxlen = 3 * WEFT_NOISE_PLAIN_MAX + 17;
    uint8_t *m = malloc(maxlen), *out = malloc(weft_noise_sealed_len(maxlen));
    cr_assert(m && out);
    for (size_t i = 0; i < maxlen; i++)
        m[i] = (uint8_t)(i * 13);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k], n = 99;
        size_t want = weft_noise_sealed_len(len);
        cr_assert_eq(weft_noise_seal_into(&s2, m, len, out, want - 1, &n), WEFT_ENOSPC);
        cr_assert_eq(n, 0u);
        weft_buf w;
        weft_buf_init(&w, NULL, 0, 0);
        cr_assert_eq(weft_noise_seal(&s1, m, len, &w), 0);
        cr_assert_eq(weft_noise_seal_into(&s2, m, len, out, want, &n), 0);
        cr_assert_eq(n, want);
        cr_assert_eq(w.len, want, "len %zu", len);
        cr_assert(memcmp(w.base, out, want) == 0, "len %zu: different bytes", len);
        weft_buf plain;
        weft_buf_init(&plain, NULL, 0, 0);
        size_t used;
        cr_assert_eq(weft_noise_open(&rx, out, n, &used, &plain), 0);
        cr_assert_eq(plain.len, len);
        weft_buf_free(&plain);
        weft_buf_free(&w);
    }
    cr_assert_eq(weft_noise_sealed_len(0), 0u);
    cr_assert_eq(weft_noise_sealed_len(SIZE_MAX), SIZE_MAX);
    free(m);
    free(out);
    duo_free(&d);
}

Test(noise, api_misuse)
{
    weft_identity a;
    ident(&a, 12);
    weft_noise_hs *r = new_hs(0, &a, NULL), *i = new_hs(1, &a, NULL);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    size_t used = 99;
    uint8_t frame[34] = {0, 32};
    cr_assert_eq(weft_noise_hs_start(r, &out), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_input(i, frame, sizeof frame, &used, &out), WEFT_EINVAL);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_hs_split(i, &(weft_noise_session){0}, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_start(i, &out), 0);
    cr_assert_eq(weft_noise_hs_start(i, &out), WEFT_EINVAL);
    /* A full output buffer kills the handshake with the buffer's error. */
    uint8_t small[8];
    weft_buf tiny;
    weft_buf_init(&tiny, small, sizeof small, sizeof small);
    weft_noise_hs *i2 = new_hs(1, &a, NULL);
    cr_assert_eq(weft_noise_hs_start(i2, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(tiny.len, 0);
    cr_assert_eq(weft_noise_hs_input(i2, frame, sizeof frame, &used, &out), WEFT_ETOOBIG);
    weft_noise_hs_free(i2);
    weft_noise_hs_free(NULL);

    /* Sessions without keys. */
    weft_noise_session none = {0};
    cr_assert_eq(weft_noise_seal(&none, frame, 3, &out), WEFT_EINVAL);
    cr_assert_eq(weft_noise_open(&none, frame, sizeof frame, &used, &out), WEFT_EINVAL);
    weft_noise_hs_free(r);
    weft_noise_hs_free(i);
    weft_buf_free(&out);
}
