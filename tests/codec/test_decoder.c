/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The progressive decoder through the public API (bad and too-big
 * generations, redundancy detection that leaves the state alone, invalid
 * shards, pushes after completion, reset) and recoding, including decoding
 * from recoded shards only after two hops that recode while still partial.
 *
 * ctest runs this file once per WEFT_GF_IMPL; tests skip when the CPU lacks
 * the named implementation.
 */
#include "test_codec_util.h"

/* A valid shard of gen with the given coefficients and a random payload. */
static uint8_t *
forge_shard(const weft_gen *g, const uint8_t *coefs, trng *r)
{
    size_t ss = (size_t)WEFT_SHARD_HDR + g->k + g->piece_size;
    uint8_t *s = malloc(ss);
    int rc = weft_shard_write_header(s, ss, g);
    cr_assert_eq(rc, WEFT_SHARD_HDR, "write_header = %d", rc);
    memcpy(s + WEFT_SHARD_HDR, coefs, g->k);
    trng_fill(r, s + WEFT_SHARD_HDR + g->k, g->piece_size);
    return s;
}

/* ---- decoder ------------------------------------------------------------------------------ */

Test(decoder, new_rejects_bad_generation, .init = codec_setup)
{
    static const struct {
        weft_gen g;
        int err;
    } bad[] = {
        {{0, 10, 0}, WEFT_EK},
        {{1025, 10, 0}, WEFT_EK},
        {{4, 0, 0}, WEFT_EPIECE},
        {{4, 10, 41}, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = 0;
        weft_decoder *d = weft_dec_new(&bad[i].g, &err);
        cr_assert_null(d, "weft_dec_new(k %u, piece %u, len %u) succeeded", bad[i].g.k,
                       bad[i].g.piece_size, bad[i].g.message_len);
        cr_assert_eq(err, bad[i].err, "weft_dec_new(k %u, piece %u, len %u): %d, want %d",
                     bad[i].g.k, bad[i].g.piece_size, bad[i].g.message_len, err, bad[i].err);
        cr_assert_null(weft_dec_new(&bad[i].g, NULL), "err NULL case %zu succeeded", i);
    }
    weft_gen g = {7, 13, 90};
    weft_decoder *d = new_dec(&g, 0);
    const weft_gen *dg = weft_dec_gen(d);
    cr_assert(dg->k == 7 && dg->piece_size == 13 && dg->message_len == 90,
              "weft_dec_gen (k %u, piece %u, len %u)", dg->k, dg->piece_size, dg->message_len);
    cr_assert_eq(weft_dec_rank(d), 0, "fresh rank %u", weft_dec_rank(d));
    cr_assert_eq(weft_dec_complete(d), 0, "fresh decoder complete");
    size_t l = 12345;
    cr_assert_null(weft_dec_message(d, &l), "fresh decoder has a message");
    weft_dec_free(d);
}

Test(decoder, too_big_generation_fails_cleanly, .init = codec_setup)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = -1;
        fclose(f);
    }
    if (mode == 1)
        cr_skip_test("vm.overcommit_memory = 1: a 4 TiB allocation could succeed");
    weft_gen g = {1024, 0xFFFFFFFFu, 0};
    int err = 0;
    weft_decoder *d = weft_dec_new(&g, &err);
    cr_assert_null(d, "a decoder needing 4 TiB was created");
    cr_assert(err == WEFT_ETOOBIG || err == -ENOMEM, "err %d (%s), want ETOOBIG or -ENOMEM", err,
              weft_strerror(err));
}

/*
 * Fill a decoder with innovative shards until it holds `want` of them;
 * copies of those shards go to held (want * ss bytes).
 */
static void
hold_innovative(weft_decoder *d, weft_encoder *e, uint32_t want, uint8_t *held, uint64_t seed)
{
    size_t ss = weft_shard_size(weft_dec_gen(d));
    uint32_t have = weft_dec_rank(d);
    for (int guard = 0; have < want; guard++) {
        cr_assert(guard < 100, "could not reach rank %u" SEEDF, want, seed);
        uint8_t *s = held + (size_t)have * ss;
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
        have += rc == WEFT_DEC_INNOVATIVE;
    }
}

static void
finish_and_check(weft_decoder *d, weft_encoder *e, const uint8_t *msg, size_t len, const char *what,
                 uint64_t seed)
{
    size_t ss = weft_shard_size(weft_dec_gen(d));
    uint8_t *s = malloc(ss);
    for (int guard = 0; !weft_dec_complete(d); guard++) {
        cr_assert(guard < 1200, "%s: never completed" SEEDF, what, seed);
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc == 0 || rc == 1, "%s: push %d" SEEDF, what, rc, seed);
    }
    free(s);
    check_message(d, msg, len, what, seed);
}

Test(decoder, non_innovative_shards_change_nothing, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint32_t k = 8;
    size_t len = k * 50 + 3;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, k, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint32_t piece = g->piece_size;
    uint8_t *held = malloc(k * ss), *s = malloc(ss), *t = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    hold_innovative(d, e, 5, held, seed);

    /* The same shard again. */
    for (int i = 0; i < 5; i++) {
        int rc = weft_dec_push(d, held + (size_t)i * ss, ss);
        cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "duplicate of held shard %d: %d" SEEDF, i, rc, seed);
        cr_assert_eq(weft_dec_rank(d), 5, "rank moved to %u" SEEDF, weft_dec_rank(d), seed);
    }
    /* A scaled copy. */
    uint8_t a = (uint8_t)(2 + trng_below(&r, 254));
    memcpy(s, held + 2 * ss, 12);
    memset(s + 12, 0, k + piece);
    oracle_muladd(s + 12, held + 2 * ss + 12, a, k + piece);
    int rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "0x%02x times a held shard: %d" SEEDF, a, rc, seed);
    /* a * s1 + b * s3 + s5, vector and payload combined alike. */
    uint8_t b = (uint8_t)(1 + trng_below(&r, 255));
    memcpy(s, held, 12);
    memset(s + 12, 0, k + piece);
    oracle_muladd(s + 12, held + 0 * ss + 12, a, k + piece);
    oracle_muladd(s + 12, held + 2 * ss + 12, b, k + piece);
    oracle_muladd(s + 12, held + 4 * ss + 12, 1, k + piece);
    rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "combination of held shards: %d" SEEDF, rc, seed);
    rc = weft_dec_push_parts(d, s + 12, s + 12 + k);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "combination via push_parts: %d" SEEDF, rc, seed);
    /* The same vector through the encoder. */
    int n = weft_enc_with(e, s + 12, t, ss);
    cr_assert_eq(n, (int)ss, "enc_with" SEEDF, seed);
    cr_assert(memcmp(s, t, ss) == 0, "enc_with payload differs from the combination" SEEDF, seed);
    /* A dependent vector with a garbage payload must be dropped unread. */
    trng_fill(&r, s + 12 + k, piece);
    rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "dependent vector, corrupt payload: %d" SEEDF, rc, seed);
    cr_assert_eq(weft_dec_rank(d), 5, "rank moved to %u" SEEDF, weft_dec_rank(d), seed);
    cr_assert_null(weft_dec_message(d, NULL), "message at rank 5 of 8" SEEDF, seed);

    finish_and_check(d, e, msg, len, "after redundant shards", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(held);
    free(s);
    free(t);
    free(msg);
}

Test(decoder, invalid_shards_change_nothing, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    weft_gen g = {8, 64, 500};
    uint8_t *msg = random_msg(&r, 500);
    weft_encoder *e = new_enc(msg, 500, 8, 64, 0, seed, seed);
    size_t ss = weft_shard_size(&g);
    uint8_t *held = malloc(8 * ss);
    weft_decoder *d = new_dec(&g, seed);
    hold_innovative(d, e, 3, held, seed);

    /* Other generations: each field differs alone. */
    static const weft_gen other[] = {
        {8, 64, 499}, {8, 64, 512}, {8, 65, 500}, {9, 64, 500}, {7, 64, 400}, {1, 500, 500},
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        uint8_t coefs[16];
        for (int c = 0; c < 16; c++)
            coefs[c] = (uint8_t)(c + 1);
        uint8_t *f = forge_shard(&other[i], coefs, &r);
        int rc = weft_dec_push(d, f, weft_shard_size(&other[i]));
        cr_assert_eq(rc, WEFT_EGENERATION,
                     "shard of (k %u, piece %u, len %u): %d, want "
                     "WEFT_EGENERATION" SEEDF,
                     other[i].k, other[i].piece_size, other[i].message_len, rc, seed);
        free(f);
    }
    /* All-zero vector, with random and with zero payload. */
    uint8_t zero[8] = {0};
    uint8_t *f = forge_shard(&g, zero, &r);
    int rc = weft_dec_push(d, f, ss);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector: %d" SEEDF, rc, seed);
    memset(f + 12 + 8, 0, 64);
    rc = weft_dec_push(d, f, ss);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector, zero payload: %d" SEEDF, rc, seed);
    rc = weft_dec_push_parts(d, zero, f + 20);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector via push_parts: %d" SEEDF, rc, seed);
    free(f);
    /* Malformed copies of a fresh, innovative shard. */
    uint8_t *s = malloc(ss + 1);
    cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
    static const struct {
        int off;
        uint8_t val;
        int dlen, err;
    } mal[] = {
        {0, 2, 0, WEFT_EVERSION},
        {1, 7, 0, WEFT_EFIELD},
        {0, 1, -1, WEFT_ETRUNC},
        {0, 1, 1, WEFT_ETRUNC},
    };
    for (size_t i = 0; i < sizeof(mal) / sizeof(mal[0]); i++) {
        uint8_t keep = s[mal[i].off];
        s[mal[i].off] = mal[i].val;
        rc = weft_dec_push(d, s, (size_t)((int)ss + mal[i].dlen));
        cr_assert_eq(rc, mal[i].err, "malformed case %zu: %d (%s), want %d" SEEDF, i, rc,
                     weft_strerror(rc), mal[i].err, seed);
        s[mal[i].off] = keep;
    }
    rc = weft_dec_push(d, s, 5);
    cr_assert_eq(rc, WEFT_ETRUNC, "5-byte shard: %d" SEEDF, rc, seed);
    cr_assert_eq(weft_dec_rank(d), 3, "invalid shards moved the rank to %u" SEEDF, weft_dec_rank(d),
                 seed);
    /* The untouched original is still innovative, and decoding succeeds. */
    rc = weft_dec_push(d, s, ss);
    cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "valid shard: %d" SEEDF, rc,
              seed);
    finish_and_check(d, e, msg, 500, "after invalid shards", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(held);
    free(s);
    free(msg);
}

Test(decoder, pushes_after_completion_are_redundant, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 777;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 6, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    weft_decoder *d = new_dec(g, seed);
    finish_and_check(d, e, msg, len, "first completion", seed);
    uint8_t *s = malloc(ss);
    for (int j = 0; j < 20; j++) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        if (j % 2)
            trng_fill(&r, s + 12 + g->k, g->piece_size); /* corrupt payload */
        int rc = weft_dec_push(d, s, ss);
        cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "push %d after completion: %d" SEEDF, j, rc, seed);
        cr_assert_eq(weft_dec_rank(d), 6, "rank %u" SEEDF, weft_dec_rank(d), seed);
    }
    check_message(d, msg, len, "after extra pushes", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(s);
    free(msg);
}

Test(decoder, reset_forgets_and_reuses, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 4321;
    uint8_t *m1 = random_msg(&r, len), *m2 = random_msg(&r, len);
    weft_encoder *e1 = new_enc(m1, len, 12, 0, 0, seed, seed);
    weft_encoder *e2 = new_enc(m2, len, 12, 0, WEFT_ENC_SYSTEMATIC, seed + 1, seed);
    const weft_gen *g = weft_enc_gen(e1);
    weft_decoder *d = new_dec(g, seed);
    finish_and_check(d, e1, m1, len, "before reset", seed);
    weft_dec_reset(d);
    cr_assert_eq(weft_dec_rank(d), 0, "rank %u after reset" SEEDF, weft_dec_rank(d), seed);
    cr_assert_eq(weft_dec_complete(d), 0, "complete after reset" SEEDF, seed);
    cr_assert_null(weft_dec_message(d, NULL), "message after reset" SEEDF, seed);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    uint8_t *s = malloc(weft_shard_size(g));
    int rc = weft_dec_recode(d, &rng, s, weft_shard_size(g));
    cr_assert_eq(rc, WEFT_EEMPTY, "recode after reset: %d" SEEDF, rc, seed);
    /* Half of the first message, reset again, then all of the second. */
    uint8_t *held = malloc(12 * weft_shard_size(g));
    hold_innovative(d, e1, 6, held, seed);
    weft_dec_reset(d);
    finish_and_check(d, e2, m2, len, "after second reset", seed);
    weft_dec_free(d);
    weft_enc_free(e1);
    weft_enc_free(e2);
    free(s);
    free(held);
    free(m1);
    free(m2);
}

/* ---- recoding ------------------------------------------------------------------------------ */

Test(recode, needs_something_and_room, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 100);
    weft_encoder *e = new_enc(msg, 100, 4, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    weft_recoder *rc_ = weft_rec_new(g, NULL);
    cr_assert(rc_, "weft_rec_new failed");
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    gbuf out;
    gbuf_init(&out, ss, 5, &r);
    int rc = weft_rec_recode(rc_, &rng, out.p, ss);
    cr_assert_eq(rc, WEFT_EEMPTY, "recode from nothing: %d" SEEDF, rc, seed);
    uint8_t *s = malloc(ss);
    cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
    rc = weft_rec_push(rc_, s, ss);
    cr_assert_eq(rc, WEFT_DEC_INNOVATIVE, "first push: %d" SEEDF, rc, seed);
    gbuf_snap(&out);
    rc = weft_rec_recode(rc_, &rng, out.p, ss - 1);
    cr_assert_eq(rc, WEFT_ENOSPC, "recode with cap one short: %d" SEEDF, rc, seed);
    cr_assert(gbuf_guard_damage(&out) < 0, "ENOSPC wrote past the region" SEEDF, seed);
    rc = weft_rec_recode(rc_, &rng, out.p, ss);
    cr_assert_eq(rc, (int)ss, "recode at rank 1: %d" SEEDF, rc, seed);
    cr_assert(gbuf_guard_damage(&out) < 0, "recode wrote outside the shard" SEEDF, seed);
    check_shard(out.p, ss, g, msg, "recode at rank 1", seed);
    /* At rank 1 the output is a nonzero multiple of the one held vector. */
    uint8_t f = 0;
    for (uint32_t c = 0; c < g->k && !f; c++)
        if (s[12 + c])
            f = weft_gf_div(out.p[12 + c], s[12 + c]);
    cr_assert_neq(f, 0, "recoded vector not a multiple" SEEDF, seed);
    for (uint32_t c = 0; c < g->k; c++)
        cr_assert_eq(out.p[12 + c], oracle_tab[f][s[12 + c]],
                     "rank-1 recode left the span at coefficient %u" SEEDF, c, seed);
    weft_rec_free(rc_);
    weft_enc_free(e);
    gbuf_free(&out);
    free(s);
    free(msg);
}

Test(recode, partial_recodes_stay_in_the_span, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {2, 10, 40};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i], rank = k / 2;
        size_t len = k * 64 + 9;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *held = malloc(k * ss), *s = malloc(ss);
        weft_decoder *src = new_dec(g, seed), *twin = new_dec(g, seed), *fresh = new_dec(g, seed);
        hold_innovative(src, e, rank, held, seed);
        for (uint32_t j = 0; j < rank; j++) {
            int rc = weft_dec_push(twin, held + (size_t)j * ss, ss);
            cr_assert_eq(rc, WEFT_DEC_INNOVATIVE, "twin push %u: %d" SEEDF, j, rc, seed);
        }
        weft_rng rng;
        weft_rng_seed(&rng, trng_next(&r));
        for (uint32_t j = 0; j < 2 * rank + 4; j++) {
            int n = weft_dec_recode(src, &rng, s, ss);
            cr_assert_eq(n, (int)ss, "k %u: recode at rank %u: %d" SEEDF, k, rank, n, seed);
            check_shard(s, ss, g, msg, "partial recode", seed);
            int rc = weft_dec_push(twin, s, ss);
            cr_assert_eq(rc, WEFT_DEC_REDUNDANT,
                         "k %u: shard recoded at rank %u is outside the held span (%d)" SEEDF, k,
                         rank, rc, seed);
            rc = weft_dec_push(fresh, s, ss);
            cr_assert(rc == 0 || rc == 1, "fresh push: %d" SEEDF, rc, seed);
            cr_assert(weft_dec_rank(fresh) <= rank, "k %u: recoded shards span rank %u > %u" SEEDF,
                      k, weft_dec_rank(fresh), rank, seed);
        }
        /* 2r + 4 random members of an r-dimensional space span it. */
        cr_assert_eq(weft_dec_rank(fresh), rank, "k %u: recoded shards reach rank %u of %u" SEEDF,
                     k, weft_dec_rank(fresh), rank, seed);
        cr_assert_eq(weft_dec_rank(src), rank, "recoding changed the rank" SEEDF, seed);
        /* Recoding is a pure read: the source still completes correctly. */
        finish_and_check(src, e, msg, len, "source after recoding", seed);
        weft_dec_free(src);
        weft_dec_free(twin);
        weft_dec_free(fresh);
        weft_enc_free(e);
        free(held);
        free(s);
        free(msg);
    }
}

/*
 * encoder -> A -> B -> C. A gets a few encoder shards per round and recodes
 * for B at once, B recodes for C at once, so both relays recode while
 * partial. C sees recoded shards only, B only A's.
 */
Test(recode, two_hops_from_partial_relays, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        uint32_t k;
        size_t len;
    } cases[] = {{1, 300}, {16, 16 * 100 + 5}, {64, 64 * 500 + 1}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        uint32_t k = cases[ci].k;
        size_t len = cases[ci].len;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *s = malloc(ss);
        weft_recoder *a = weft_rec_new(g, NULL), *b = weft_rec_new(g, NULL);
        weft_decoder *c = new_dec(g, seed);
        cr_assert(a && b, "weft_rec_new failed");
        weft_rng ra, rb;
        weft_rng_seed(&ra, trng_next(&r));
        weft_rng_seed(&rb, trng_next(&r));
        unsigned partial_a = 0, partial_b = 0, rounds = 0;
        uint32_t per_round = k > 4 ? k / 4 : 1;
        while (!weft_dec_complete(c)) {
            cr_assert(rounds++ < 4 * k + 40, "k %u: C stuck at rank %u (B %u, A %u)" SEEDF, k,
                      weft_dec_rank(c), weft_rec_rank(b), weft_rec_rank(a), seed);
            for (uint32_t j = 0; j < per_round && weft_rec_rank(a) < k; j++) {
                cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
                int rc = weft_rec_push(a, s, ss);
                cr_assert(rc == 0 || rc == 1, "A push: %d" SEEDF, rc, seed);
            }
            for (uint32_t j = 0; j < per_round; j++) {
                partial_a += weft_rec_rank(a) < k;
                cr_assert_eq(weft_rec_recode(a, &ra, s, ss), (int)ss, "A recode" SEEDF, seed);
                check_shard(s, ss, g, msg, "A's recoded shard", seed);
                int rc = weft_rec_push(b, s, ss);
                cr_assert(rc == 0 || rc == 1, "B push: %d" SEEDF, rc, seed);
            }
            for (uint32_t j = 0; j < per_round; j++) {
                partial_b += weft_rec_rank(b) < k;
                cr_assert_eq(weft_rec_recode(b, &rb, s, ss), (int)ss, "B recode" SEEDF, seed);
                check_shard(s, ss, g, msg, "B's recoded shard", seed);
                int rc = weft_dec_push(c, s, ss);
                cr_assert(rc == 0 || rc == 1, "C push: %d" SEEDF, rc, seed);
            }
            cr_assert(weft_dec_rank(c) <= weft_rec_rank(b) && weft_rec_rank(b) <= weft_rec_rank(a),
                      "k %u: ranks C %u, B %u, A %u break the span order" SEEDF, k,
                      weft_dec_rank(c), weft_rec_rank(b), weft_rec_rank(a), seed);
        }
        if (k > 1) {
            cr_assert_gt(partial_a, 0, "A never recoded while partial" SEEDF, seed);
            cr_assert_gt(partial_b, 0, "B never recoded while partial" SEEDF, seed);
        }
        check_message(c, msg, len, "C after two hops", seed);
        check_message(b, msg, len, "B after one hop", seed);
        weft_rec_free(a);
        weft_rec_free(b);
        weft_dec_free(c);
        weft_enc_free(e);
        free(s);
        free(msg);
    }
}

Test(recode, recoding_is_reproducible, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 2000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 10, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *held = malloc(10 * ss), *x = malloc(ss), *y = malloc(ss);
    weft_decoder *a = new_dec(g, seed), *b = new_dec(g, seed);
    hold_innovative(a, e, 6, held, seed);
    for (int j = 0; j < 6; j++)
        cr_assert_eq(weft_dec_push(b, held + (size_t)j * ss, ss), WEFT_DEC_INNOVATIVE, "push" SEEDF,
                     seed);
    weft_rng r1, r2;
    weft_rng_seed(&r1, seed);
    weft_rng_seed(&r2, seed);
    for (int j = 0; j < 10; j++) {
        cr_assert_eq(weft_dec_recode(a, &r1, x, ss), (int)ss, "recode" SEEDF, seed);
        cr_assert_eq(weft_dec_recode(b, &r2, y, ss), (int)ss, "recode" SEEDF, seed);
        cr_assert(memcmp(x, y, ss) == 0, "same state and RNG seed, recode %d differs" SEEDF, j,
                  seed);
    }
    weft_dec_free(a);
    weft_dec_free(b);
    weft_enc_free(e);
    free(held);
    free(x);
    free(y);
    free(msg);
}
