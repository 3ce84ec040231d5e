/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encoder through the public API (random, systematic, borrowed message,
 * batch, shard views (weft_enc_batch_iov), caller-chosen vectors, seeding)
 * and round trips through the progressive decoder: every k in 1..64 and
 * large ones, several MiB, explicit padding, random subsets, push_parts,
 * shards at a page edge, views pushed borrowed.
 *
 * Every payload is checked against an independent model: a shift-and-add
 * multiply applied to the zero-padded pieces.
 *
 * ctest runs this file once per WEFT_GF_IMPL; tests skip when the CPU lacks
 * the named implementation.
 */
#include "test_codec_util.h"

/*
 * Encode msg and push shards as they come until the decoder is complete.
 * Checks the rank after every push and that the message stays hidden until
 * rank k. Returns the number of shards pushed.
 */
static size_t
roundtrip(const uint8_t *msg, size_t len, uint32_t k, uint32_t piece, unsigned flags, uint64_t es,
          int check_payloads, uint64_t seed)
{
    char what[96];
    snprintf(what, sizeof(what), "round trip len %zu k %u piece %u flags %u", len, k, piece, flags);
    weft_encoder *e = new_enc(msg, len, k, piece, flags, es, seed);
    const weft_gen *g = weft_enc_gen(e);
    uint32_t want_piece = piece ? piece : weft_piece_size_for(len, k);
    cr_assert(g->k == k && g->message_len == len && g->piece_size == want_piece,
              "%s: encoder generation (k %u, piece %u, len %u), want piece %u" SEEDF, what, g->k,
              g->piece_size, g->message_len, want_piece, seed);
    size_t ss = weft_shard_size(g);
    cr_assert_eq(ss, (size_t)WEFT_SHARD_HDR + k + g->piece_size, "%s: shard size %zu" SEEDF, what,
                 ss, seed);
    uint8_t *buf = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    uint32_t innovative = 0;
    size_t pushed = 0;
    while (!weft_dec_complete(d)) {
        cr_assert(pushed < (size_t)k + 40, "%s: %zu shards pushed, rank still %u" SEEDF, what,
                  pushed, weft_dec_rank(d), seed);
        cr_assert_null(weft_dec_message(d, NULL), "%s: message available at rank %u" SEEDF, what,
                       weft_dec_rank(d), seed);
        int n = weft_enc_next(e, buf, ss);
        cr_assert_eq(n, (int)ss, "%s: weft_enc_next returned %d" SEEDF, what, n, seed);
        if (check_payloads)
            check_shard(buf, ss, g, msg, what, seed);
        int rc = weft_dec_push(d, buf, ss);
        cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT,
                  "%s: push %zu returned %d (%s)" SEEDF, what, pushed, rc, weft_strerror(rc), seed);
        /* The decoder only borrows the buffer. */
        memset(buf, 0xA5, ss);
        innovative += rc == WEFT_DEC_INNOVATIVE;
        pushed++;
        cr_assert_eq(weft_dec_rank(d), innovative, "%s: rank %u after %u innovative" SEEDF, what,
                     weft_dec_rank(d), innovative, seed);
    }
    cr_assert_eq(innovative, k, "%s: complete after %u innovative shards" SEEDF, what, innovative,
                 seed);
    check_message(d, msg, len, what, seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(buf);
    return pushed;
}

/* ---- encoder ----------------------------------------------------------------------------- */

Test(encoder, new_rejects_bad_arguments, .init = codec_setup)
{
    uint8_t msg[64] = {1};
    static const struct {
        size_t len;
        uint32_t k, piece;
        int err;
    } bad[] = {
        {10, 0, 0, WEFT_EK},      {10, 1025, 0, WEFT_EK},   {10, UINT32_MAX, 0, WEFT_EK},
        {10, 3, 3, WEFT_EMSGLEN}, {64, 8, 7, WEFT_EMSGLEN}, {64, 1, 63, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = 0;
        weft_encoder *e = weft_enc_new(msg, bad[i].len, bad[i].k, bad[i].piece, 0, 1, &err);
        cr_assert_null(e, "weft_enc_new(len %zu, k %u, piece %u) succeeded", bad[i].len, bad[i].k,
                       bad[i].piece);
        cr_assert_eq(err, bad[i].err, "weft_enc_new(len %zu, k %u, piece %u): err %d, want %d",
                     bad[i].len, bad[i].k, bad[i].piece, err, bad[i].err);
        /* err may be NULL. */
        cr_assert_null(weft_enc_new(msg, bad[i].len, bad[i].k, bad[i].piece, 0, 1, NULL),
                       "weft_enc_new with err NULL succeeded on case %zu", i);
    }
    /* A length beyond 32 bits is refused before the message is touched. */
    int err = 0;
    weft_encoder *e = weft_enc_new(msg, (size_t)UINT32_MAX + 1, 1024, 0, WEFT_ENC_BORROW, 1, &err);
    cr_assert_null(e, "a 4 GiB message was accepted");
    cr_assert_eq(err, WEFT_ETOOBIG, "4 GiB message: err %d, want WEFT_ETOOBIG", err);
    weft_enc_free(NULL);
    weft_dec_free(NULL);
}

Test(encoder, generation_and_explicit_piece_size, .init = codec_setup)
{
    uint8_t msg[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    weft_encoder *e = new_enc(msg, 10, 3, 4, 0, 1, 0);
    const weft_gen *g = weft_enc_gen(e);
    cr_assert(g->k == 3 && g->piece_size == 4 && g->message_len == 10,
              "gen (k %u, piece %u, len %u), want (3, 4, 10)", g->k, g->piece_size, g->message_len);
    weft_enc_free(e);
    e = new_enc(msg, 10, 4, 0, 0, 1, 0);
    g = weft_enc_gen(e);
    cr_assert(g->k == 4 && g->piece_size == 3 && g->message_len == 10,
              "default piece size: gen (k %u, piece %u, len %u), want (4, 3, 10)", g->k,
              g->piece_size, g->message_len);
    weft_enc_free(e);
    /* An empty message with no buffer at all. */
    e = new_enc(NULL, 0, 5, 0, 0, 1, 0);
    g = weft_enc_gen(e);
    cr_assert(g->k == 5 && g->piece_size == 1 && g->message_len == 0,
              "empty message: gen (k %u, piece %u, len %u), want (5, 1, 0)", g->k, g->piece_size,
              g->message_len);
    weft_enc_free(e);
}

Test(encoder, shards_carry_their_combination, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 3, 7, 16, 33, 64, 200};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        size_t len = ks[i] * (1 + trng_below(&r, 300)) + trng_below(&r, 5);
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, ks[i], 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        gbuf out;
        gbuf_init(&out, ss, trng_below(&r, 64), &r);
        for (int j = 0; j < 20; j++) {
            int n = weft_enc_next(e, out.p, ss);
            cr_assert_eq(n, (int)ss, "k %u: weft_enc_next = %d" SEEDF, ks[i], n, seed);
            cr_assert(gbuf_guard_damage(&out) < 0, "k %u: shard written out of bounds" SEEDF, ks[i],
                      seed);
            char what[48];
            snprintf(what, sizeof(what), "k %u shard %d", ks[i], j);
            check_shard(out.p, ss, g, msg, what, seed);
        }
        memset(out.p, 0x77, ss);
        gbuf_snap(&out);
        int n = weft_enc_next(e, out.p, ss - 1);
        cr_assert_eq(n, WEFT_ENOSPC, "k %u: cap one short gave %d" SEEDF, ks[i], n, seed);
        cr_assert(gbuf_guard_damage(&out) < 0, "ENOSPC wrote past the capacity" SEEDF, seed);
        weft_enc_free(e);
        gbuf_free(&out);
        free(msg);
    }
}

Test(encoder, k1_coefficients_never_zero, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 100);
    weft_encoder *e = new_enc(msg, 100, 1, 0, 0, seed, seed);
    uint8_t shard[12 + 1 + 100];
    unsigned distinct = 0;
    uint8_t seen[256] = {0};
    for (int j = 0; j < 4000; j++) {
        int n = weft_enc_next(e, shard, sizeof(shard));
        cr_assert_eq(n, (int)sizeof(shard), "weft_enc_next = %d" SEEDF, n, seed);
        cr_assert_neq(shard[12], 0, "k = 1: zero coefficient in shard %d" SEEDF, j, seed);
        distinct += !seen[shard[12]];
        seen[shard[12]] = 1;
        for (int x = 0; x < 100; x++)
            cr_assert_eq(shard[13 + x], oracle_tab[shard[12]][msg[x]],
                         "k = 1: payload byte %d wrong" SEEDF, x, seed);
    }
    cr_assert_gt(distinct, 200, "k = 1: only %u distinct coefficients in 4000 shards" SEEDF,
                 distinct, seed);
    weft_enc_free(e);
    free(msg);
}

Test(encoder, systematic_first_k_are_the_pieces, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 5, 64, 255};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i];
        size_t len = k * 37 + 11; /* partial last piece */
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, WEFT_ENC_SYSTEMATIC, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *s = malloc(ss), *piece = malloc(g->piece_size);
        for (uint32_t j = 0; j < k + 5; j++) {
            int n = weft_enc_next(e, s, ss);
            cr_assert_eq(n, (int)ss, "weft_enc_next = %d" SEEDF, n, seed);
            if (j < k) {
                for (uint32_t c = 0; c < k; c++)
                    cr_assert_eq(s[12 + c], c == j,
                                 "k %u systematic shard %u: coefficient %u is 0x%02x" SEEDF, k, j,
                                 c, s[12 + c], seed);
                piece_of(msg, len, g->piece_size, j, piece);
                cr_assert(memcmp(s + 12 + k, piece, g->piece_size) == 0,
                          "k %u systematic shard %u: payload is not piece %u" SEEDF, k, j, j, seed);
            } else {
                char what[48];
                snprintf(what, sizeof(what), "k %u coded shard %u", k, j);
                check_shard(s, ss, g, msg, what, seed);
            }
        }
        weft_enc_free(e);
        free(s);
        free(piece);
        free(msg);
    }
}

/* Shards of two encoders must agree byte for byte. */
static void
same_stream(weft_encoder *a, weft_encoder *b, size_t count, const char *what, uint64_t seed)
{
    size_t ss = weft_shard_size(weft_enc_gen(a));
    uint8_t *x = malloc(ss), *y = malloc(ss);
    for (size_t j = 0; j < count; j++) {
        cr_assert_eq(weft_enc_next(a, x, ss), (int)ss, "%s: next failed" SEEDF, what, seed);
        cr_assert_eq(weft_enc_next(b, y, ss), (int)ss, "%s: next failed" SEEDF, what, seed);
        long d = first_diff(x, y, ss);
        cr_assert(d < 0, "%s: shard %zu differs at byte %ld" SEEDF, what, j, d, seed);
    }
    free(x);
    free(y);
}

Test(encoder, borrow_matches_copy, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
    } cases[] = {{1000, 3}, {4096, 4}, {1, 7}, {65537, 16}, {333, 64}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (unsigned sys = 0; sys <= WEFT_ENC_SYSTEMATIC; sys += WEFT_ENC_SYSTEMATIC) {
            /* The borrowed message ends at an unmapped page: reading a
             * whole last piece instead of copying it would fault. */
            edgebuf eb;
            edgebuf_init(&eb, cases[i].len);
            trng_fill(&r, eb.p, cases[i].len);
            uint64_t es = trng_next(&r);
            weft_encoder *b =
                new_enc(eb.p, cases[i].len, cases[i].k, 0, WEFT_ENC_BORROW | sys, es, seed);
            weft_encoder *c = new_enc(eb.p, cases[i].len, cases[i].k, 0, sys, es, seed);
            char what[64];
            snprintf(what, sizeof(what), "borrow vs copy len %zu k %u flags %u", cases[i].len,
                     cases[i].k, sys);
            same_stream(b, c, 2 * cases[i].k + 3, what, seed);
            weft_enc_free(c);
            /* And the borrowed encoder alone still decodes. */
            const weft_gen *g = weft_enc_gen(b);
            size_t ss = weft_shard_size(g);
            uint8_t *s = malloc(ss);
            for (int j = 0; j < 3; j++) {
                cr_assert_eq(weft_enc_next(b, s, ss), (int)ss, "next" SEEDF, seed);
                check_shard(s, ss, g, eb.p, what, seed);
            }
            free(s);
            weft_enc_free(b);
            edgebuf_free(&eb);
        }
    }
}

Test(encoder, copy_outlives_callers_buffer, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 10007;
    uint8_t *msg = random_msg(&r, len);
    uint8_t *keep = malloc(len);
    memcpy(keep, msg, len);
    weft_encoder *e = new_enc(msg, len, 9, 0, 0, seed, seed);
    memset(msg, 0xCC, len);
    free(msg);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *s = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    for (int j = 0; j < 60 && !weft_dec_complete(d); j++) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        check_shard(s, ss, g, keep, "copied message", seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc >= 0, "push: %s" SEEDF, weft_strerror(rc), seed);
    }
    check_message(d, keep, len, "copied message", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(s);
    free(keep);
}

Test(encoder, batch_equals_repeated_next, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
        unsigned flags;
    } cases[] = {
        {1, 1, 0},
        {100, 3, 0},
        {5000, 16, WEFT_ENC_SYSTEMATIC},
        {100003, 32, 0},
        {77777, 64, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {4099, 255, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t k = cases[i].k;
        uint8_t *msg = random_msg(&r, cases[i].len);
        uint64_t es = trng_next(&r);
        weft_encoder *a = new_enc(msg, cases[i].len, k, 0, cases[i].flags, es, seed);
        weft_encoder *b = new_enc(msg, cases[i].len, k, 0, cases[i].flags, es, seed);
        size_t ss = weft_shard_size(weft_enc_gen(a));
        /* Alternate single shards and batches of several sizes, crossing
         * the systematic boundary at k. */
        size_t runs[] = {1, 0, 2, 1, k, 3, 1, k + 1, 1};
        size_t maxn = k + 1 > 3 ? k + 1 : 3;
        uint8_t **outs = malloc(maxn * sizeof(*outs));
        gbuf *bufs = malloc(maxn * sizeof(*bufs));
        uint8_t *one = malloc(ss);
        size_t produced = 0;
        for (size_t ri = 0; ri < sizeof(runs) / sizeof(runs[0]); ri++) {
            size_t n = runs[ri];
            for (size_t j = 0; j < n; j++) {
                gbuf_init(&bufs[j], ss, trng_below(&r, 64), &r);
                outs[j] = bufs[j].p;
            }
            int rc = weft_enc_batch(a, outs, n, ss);
            if (n == 0) {
                cr_assert(rc == 0 || rc == WEFT_EINVAL, "batch of 0 returned %d" SEEDF, rc, seed);
            } else {
                cr_assert_eq(rc, (int)n, "k %u: batch of %zu returned %d (%s)" SEEDF, k, n, rc,
                             weft_strerror(rc), seed);
            }
            for (size_t j = 0; j < n; j++) {
                cr_assert_eq(weft_enc_next(b, one, ss), (int)ss, "next" SEEDF, seed);
                long d = first_diff(outs[j], one, ss);
                cr_assert(d < 0,
                          "k %u flags %u: batch shard %zu (stream position %zu) differs from "
                          "weft_enc_next at byte %ld" SEEDF,
                          k, cases[i].flags, j, produced + j, d, seed);
                cr_assert(gbuf_guard_damage(&bufs[j]) < 0,
                          "k %u: batch wrote outside output %zu" SEEDF, k, j, seed);
                gbuf_free(&bufs[j]);
            }
            produced += n;
        }
        /* Too small a capacity. */
        uint8_t *small[1] = {one};
        int rc = weft_enc_batch(a, small, 1, ss - 1);
        cr_assert_eq(rc, WEFT_ENOSPC, "k %u: batch with cap one short returned %d" SEEDF, k, rc,
                     seed);
        weft_enc_free(a);
        weft_enc_free(b);
        free(outs);
        free(bufs);
        free(one);
        free(msg);
    }
}

/* Check one batch of views against the shards weft_enc_batch wrote (ref) for
 * the same stream positions: head in bufs[j], a coded payload right after it,
 * a systematic one pointing at the piece (into msg for a whole borrowed
 * piece) with nothing written after the head; head then payload equal ref. */
static void
check_views(const weft_shard_iov *v, gbuf *bufs, uint8_t *const *ref, size_t n, size_t pos,
            const weft_gen *g, unsigned flags, const uint8_t *msg, const char *what, uint64_t seed)
{
    size_t head = (size_t)WEFT_SHARD_HDR + g->k, ss = head + g->piece_size;
    uint8_t *joined = malloc(ss);
    for (size_t j = 0; j < n; j++) {
        size_t at = pos + j;
        int sys = (flags & WEFT_ENC_SYSTEMATIC) && at < g->k;
        cr_assert(v[j].head == bufs[j].p && v[j].head_len == head &&
                      v[j].payload_len == g->piece_size,
                  "%s: view %zu is head %p+%zu payload +%zu, want %p+%zu +%u" SEEDF, what, at,
                  (const void *)v[j].head, v[j].head_len, v[j].payload_len, (const void *)bufs[j].p,
                  head, g->piece_size, seed);
        cr_assert(gbuf_guard_damage(&bufs[j]) < 0, "%s: view %zu wrote outside its buffer" SEEDF,
                  what, at, seed);
        if (sys) {
            size_t off = at * g->piece_size;
            if ((flags & WEFT_ENC_BORROW) && off + g->piece_size <= g->message_len)
                cr_assert(v[j].payload == msg + off,
                          "%s: systematic view %zu does not point into the message" SEEDF, what, at,
                          seed);
            cr_assert(v[j].payload + g->piece_size <= bufs[j].block ||
                          v[j].payload >= bufs[j].block + bufs[j].total,
                      "%s: systematic view %zu points into its buffer" SEEDF, what, at, seed);
            size_t start = (size_t)(bufs[j].p - bufs[j].block) + head;
            cr_assert(
                memcmp(bufs[j].block + start, bufs[j].shadow + start, bufs[j].total - start) == 0,
                "%s: systematic view %zu wrote past its head" SEEDF, what, at, seed);
        } else {
            cr_assert(v[j].payload == bufs[j].p + head,
                      "%s: coded view %zu payload is not after its head" SEEDF, what, at, seed);
        }
        memcpy(joined, v[j].head, head);
        memcpy(joined + head, v[j].payload, g->piece_size);
        long d = first_diff(joined, ref[j], ss);
        cr_assert(d < 0, "%s: view %zu differs from weft_enc_batch at byte %ld" SEEDF, what, at, d,
                  seed);
    }
    free(joined);
}

Test(encoder, batch_iov_equals_batch, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k, piece;
        unsigned flags;
    } cases[] = {
        {1, 1, 0, WEFT_ENC_SYSTEMATIC},
        {1, 1, 0, 0},
        {900, 1, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {100, 3, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW}, /* partial last piece */
        {100, 3, 0, WEFT_ENC_SYSTEMATIC},
        {4096, 4, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {1000, 8, 200, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW}, /* absent pieces */
        {5000, 16, 0, WEFT_ENC_SYSTEMATIC},
        {5000, 16, 0, WEFT_ENC_BORROW},
        {77777, 64, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {4099, 255, 0, WEFT_ENC_SYSTEMATIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t k = cases[i].k;
        unsigned flags = cases[i].flags;
        size_t len = cases[i].len;
        /* Batch sizes: n = k then past it; n > k at once; n < k first, an
         * empty batch, then across the boundary. */
        size_t seqs[3][5] = {{k, 3}, {k + 5}, {k > 1 ? k - 1 : 1, 0, 2, 1, k + 1}};
        size_t seqlen[3] = {2, 1, 5};
        for (int sq = 0; sq < 3; sq++) {
            uint8_t *msg = random_msg(&r, len);
            uint8_t *keep = malloc(len);
            memcpy(keep, msg, len);
            uint64_t es = trng_next(&r);
            weft_encoder *a = new_enc(msg, len, k, cases[i].piece, flags, es, seed);
            weft_encoder *b = new_enc(msg, len, k, cases[i].piece, flags, es, seed);
            const weft_gen *g = weft_enc_gen(a);
            size_t ss = weft_shard_size(g);
            /* A copied message may go at once; the views must not care. */
            if (!(flags & WEFT_ENC_BORROW))
                memset(msg, 0xDB, len);
            char what[96];
            snprintf(what, sizeof(what), "iov len %zu k %u piece %u flags %u seq %d", len, k,
                     g->piece_size, flags, sq);
            size_t total = 0;
            for (int x = 0; x < (int)seqlen[sq]; x++)
                total += seqs[sq][x];
            /* Every view of the run, checked again before weft_enc_free. */
            weft_shard_iov *all = calloc(total + 1, sizeof(*all));
            uint8_t *refmem = malloc((total + 1) * ss);
            gbuf *bufs = calloc(total + 1, sizeof(*bufs));
            uint8_t **outs = calloc(total + 1, sizeof(*outs));
            uint8_t **refs = calloc(total + 1, sizeof(*refs));
            size_t pos = 0;
            for (int x = 0; x < (int)seqlen[sq]; x++) {
                size_t n = seqs[sq][x];
                for (size_t j = 0; j < n; j++) {
                    gbuf_init(&bufs[pos + j], ss, trng_below(&r, 64), &r);
                    outs[j] = bufs[pos + j].p;
                    refs[j] = refmem + (pos + j) * ss;
                }
                int rc = weft_enc_batch_iov(a, all + pos, n, outs, ss);
                cr_assert_eq(rc, (int)n, "%s: batch_iov of %zu returned %d (%s)" SEEDF, what, n, rc,
                             weft_strerror(rc), seed);
                rc = weft_enc_batch(b, refs, n, ss);
                cr_assert_eq(rc, (int)n, "%s: batch of %zu returned %d" SEEDF, what, n, rc, seed);
                check_views(all + pos, bufs + pos, refs, n, pos, g, flags,
                            (flags & WEFT_ENC_BORROW) ? msg : NULL, what, seed);
                for (size_t j = 0; j < n; j++)
                    check_shard(refs[j], ss, g, keep, what, seed);
                pos += n;
            }
            /* Systematic views stay good while the encoder lives. */
            uint8_t *joined = malloc(ss);
            for (size_t j = 0; j < pos; j++) {
                memcpy(joined, all[j].head, all[j].head_len);
                memcpy(joined + all[j].head_len, all[j].payload, all[j].payload_len);
                cr_assert(first_diff(joined, refmem + j * ss, ss) < 0,
                          "%s: view %zu changed later" SEEDF, what, j, seed);
                gbuf_free(&bufs[j]);
            }
            free(joined);
            weft_enc_free(a);
            weft_enc_free(b);
            free(all);
            free(refmem);
            free(bufs);
            free(outs);
            free(refs);
            free(keep);
            free(msg);
        }
    }
}

Test(encoder, batch_iov_capacity_and_arguments, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 3001;
    uint32_t k = 8;
    uint8_t *msg = random_msg(&r, len);
    uint64_t es = trng_next(&r);
    weft_encoder *a = new_enc(msg, len, k, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW, es, seed);
    weft_encoder *b = new_enc(msg, len, k, 0, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW, es, seed);
    const weft_gen *g = weft_enc_gen(a);
    size_t ss = weft_shard_size(g), head = (size_t)WEFT_SHARD_HDR + k;
    gbuf bufs[10];
    uint8_t *outs[10], *refs[10];
    weft_shard_iov v[10];
    for (int j = 0; j < 10; j++) {
        gbuf_init(&bufs[j], head, trng_below(&r, 64), &r);
        outs[j] = bufs[j].p;
        refs[j] = malloc(ss);
    }
    /* Bad arguments change nothing. */
    cr_assert_eq(weft_enc_batch_iov(NULL, v, 1, outs, ss), WEFT_EINVAL, "NULL encoder" SEEDF, seed);
    cr_assert_eq(weft_enc_batch_iov(a, NULL, 1, outs, ss), WEFT_EINVAL, "NULL views" SEEDF, seed);
    cr_assert_eq(weft_enc_batch_iov(a, v, 1, NULL, ss), WEFT_EINVAL, "NULL buffers" SEEDF, seed);
    cr_assert_eq(weft_enc_batch_iov(a, v, (size_t)INT32_MAX + 1, outs, ss), WEFT_EINVAL,
                 "n over INT32_MAX" SEEDF, seed);
    uint8_t *holey[3] = {outs[0], NULL, outs[2]};
    cr_assert_eq(weft_enc_batch_iov(a, v, 3, holey, ss), WEFT_EINVAL, "a NULL buffer" SEEDF, seed);
    cr_assert_eq(weft_enc_batch_iov(a, NULL, 0, NULL, head), 0, "empty batch" SEEDF, seed);
    /* Crossing into coded shards needs whole-shard capacity. */
    cr_assert_eq(weft_enc_batch_iov(a, v, k + 1, outs, head), WEFT_ENOSPC,
                 "k + 1 views with head capacity" SEEDF, seed);
    for (int j = 0; j < 10; j++)
        cr_assert(gbuf_unchanged(&bufs[j]), "failed call wrote buffer %d" SEEDF, j, seed);
    /* All systematic: head-sized buffers are enough, in two batches. */
    cr_assert_eq(weft_enc_batch_iov(a, v, 3, outs, head), 3, "3 views, head capacity" SEEDF, seed);
    cr_assert_eq(weft_enc_batch_iov(a, v + 3, k - 3, outs + 3, head), (int)(k - 3),
                 "rest of the systematic views" SEEDF, seed);
    cr_assert_eq(weft_enc_batch(b, refs, k, ss), (int)k, "reference batch" SEEDF, seed);
    check_views(v, bufs, refs, k, 0, g, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW, msg, "head capacity",
                seed);
    /* Now coded: head capacity, and one byte short of a shard, fail. */
    cr_assert_eq(weft_enc_batch_iov(a, v, 1, outs, head), WEFT_ENOSPC, "coded, head cap" SEEDF,
                 seed);
    cr_assert_eq(weft_enc_batch_iov(a, v, 1, outs, ss - 1), WEFT_ENOSPC, "coded, cap - 1" SEEDF,
                 seed);
    /* The failures consumed nothing: the stream goes on like the reference. */
    gbuf big[2];
    uint8_t *bo[2];
    for (int j = 0; j < 2; j++) {
        gbuf_init(&big[j], ss, trng_below(&r, 64), &r);
        bo[j] = big[j].p;
    }
    cr_assert_eq(weft_enc_batch_iov(a, v, 2, bo, ss), 2, "coded views" SEEDF, seed);
    cr_assert_eq(weft_enc_batch(b, refs, 2, ss), 2, "reference batch" SEEDF, seed);
    check_views(v, big, refs, 2, k, g, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW, msg, "after errors",
                seed);
    /* A random encoder never gets by with head capacity. */
    weft_encoder *c = new_enc(msg, len, k, 0, 0, es, seed);
    cr_assert_eq(weft_enc_batch_iov(c, v, 1, outs, head), WEFT_ENOSPC, "random, head cap" SEEDF,
                 seed);
    weft_enc_free(c);
    for (int j = 0; j < 10; j++) {
        gbuf_free(&bufs[j]);
        free(refs[j]);
    }
    for (int j = 0; j < 2; j++)
        gbuf_free(&big[j]);
    weft_enc_free(a);
    weft_enc_free(b);
    free(msg);
}

Test(encoder, enc_with_uses_given_vector, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 4, 31, 100};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i];
        size_t len = k * 53 + 1;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e =
            new_enc(msg, len, k, 0, i % 2 ? WEFT_ENC_SYSTEMATIC : 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *coefs = malloc(k), *s = malloc(ss);
        for (int j = 0; j < 10; j++) {
            for (uint32_t c = 0; c < k; c++)
                coefs[c] = trng_coef(&r);
            if (j == 0) {
                memset(coefs, 0, k); /* a unit vector */
                coefs[k - 1] = 1;
            }
            if (all_zero(coefs, k))
                coefs[0] = 0x42;
            int n = weft_enc_with(e, coefs, s, ss);
            cr_assert_eq(n, (int)ss, "k %u: weft_enc_with = %d" SEEDF, k, n, seed);
            cr_assert(memcmp(s + 12, coefs, k) == 0, "k %u: shard does not carry the vector" SEEDF,
                      k, seed);
            check_shard(s, ss, g, msg, "weft_enc_with", seed);
        }
        memset(coefs, 0, k);
        int n = weft_enc_with(e, coefs, s, ss);
        cr_assert_eq(n, WEFT_EZEROVEC, "k %u: zero vector gave %d" SEEDF, k, n, seed);
        coefs[0] = 1;
        n = weft_enc_with(e, coefs, s, ss - 1);
        cr_assert_eq(n, WEFT_ENOSPC, "k %u: cap one short gave %d" SEEDF, k, n, seed);
        weft_enc_free(e);
        free(coefs);
        free(s);
        free(msg);
    }
}

Test(encoder, seeds_reproduce_and_differ, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 3000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *a = new_enc(msg, len, 16, 0, 0, seed, seed);
    weft_encoder *b = new_enc(msg, len, 16, 0, 0, seed, seed);
    weft_encoder *c = new_enc(msg, len, 16, 0, 0, seed ^ 0x5555, seed);
    same_stream(a, b, 50, "same seed", seed);
    size_t ss = weft_shard_size(weft_enc_gen(a));
    uint8_t *x = malloc(ss), *y = malloc(ss);
    int equal = 0;
    for (int j = 0; j < 8; j++) {
        cr_assert_eq(weft_enc_next(a, x, ss), (int)ss, "next" SEEDF, seed);
        cr_assert_eq(weft_enc_next(c, y, ss), (int)ss, "next" SEEDF, seed);
        equal += memcmp(x + 12, y + 12, 16) == 0;
    }
    cr_assert_eq(equal, 0, "different seeds gave %d identical vectors of 8" SEEDF, equal, seed);
    weft_enc_free(a);
    weft_enc_free(b);
    weft_enc_free(c);
    free(x);
    free(y);
    free(msg);
}

/* ---- round trips ------------------------------------------------------------------------ */

Test(roundtrip, every_k_from_1_to_64, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (uint32_t k = 1; k <= 64; k++) {
        size_t sizes[] = {0, 1, k > 1 ? k - 1 : 2, 2 * (size_t)k + 3, 1000 * (size_t)k + 17, 12345};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            uint8_t *msg = random_msg(&r, sizes[i]);
            unsigned flags = (k + i) % 3 == 0 ? WEFT_ENC_SYSTEMATIC : 0;
            size_t used = roundtrip(msg, sizes[i], k, 0, flags, trng_next(&r), i == 3, seed);
            if (flags & WEFT_ENC_SYSTEMATIC)
                cr_assert_eq(used, (size_t)k, "systematic k %u used %zu shards" SEEDF, k, used,
                             seed);
            free(msg);
        }
    }
}

Test(roundtrip, large_k, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    int quick = test_quick();
    static const struct {
        uint32_t k;
        size_t len;
        unsigned flags;
    } cases[] = {
        {255, 0, 0},
        {255, 1, 0},
        {255, 255 * 1000 + 1, 0},
        {255, 255 * 64, WEFT_ENC_SYSTEMATIC},
        {1024, 1024 * 256 + 3, 0},
        {1024, 1023, WEFT_ENC_SYSTEMATIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len;
        if (quick && len > 4096)
            len = 4096 + 5;
        uint8_t *msg = random_msg(&r, len);
        roundtrip(msg, len, cases[i].k, 0, cases[i].flags, trng_next(&r), 0, seed);
        free(msg);
    }
}

Test(roundtrip, several_mib, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    int quick = test_quick();
    static const struct {
        uint32_t k;
        size_t len;
    } cases[] = {
        {1, (3u << 20) + 1}, {4, (8u << 20) + 1}, {32, (3u << 20) + 7}, {100, (2u << 20) + 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = quick ? cases[i].len / 8 : cases[i].len;
        uint8_t *msg = random_msg(&r, len);
        roundtrip(msg, len, cases[i].k, 0, 0, trng_next(&r), 0, seed);
        free(msg);
    }
}

Test(roundtrip, explicit_padding, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 1000);
    roundtrip(msg, 10, 4, 100, 0, 1, 1, seed);
    roundtrip(msg, 10, 4, 100, WEFT_ENC_SYSTEMATIC, 2, 1, seed);
    roundtrip(msg, 1000, 3, 1000, 0, 3, 1, seed);
    roundtrip(msg, 0, 2, 17, 0, 4, 1, seed);
    roundtrip(msg, 999, 1, 999, 0, 5, 1, seed);
    free(msg);
}

static void
shuffle(size_t *idx, size_t n, trng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = trng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

Test(roundtrip, random_subsets, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 8, 20, 64, 150};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        for (unsigned flags = 0; flags <= WEFT_ENC_SYSTEMATIC; flags += WEFT_ENC_SYSTEMATIC) {
            uint32_t k = ks[i];
            size_t len = k * 100 + trng_below(&r, 100);
            uint8_t *msg = random_msg(&r, len);
            weft_encoder *e = new_enc(msg, len, k, 0, flags, trng_next(&r), seed);
            const weft_gen *g = weft_enc_gen(e);
            size_t ss = weft_shard_size(g), total = 2 * (size_t)k + 8;
            uint8_t *all = malloc(total * ss);
            size_t *idx = malloc(total * sizeof(*idx));
            for (size_t j = 0; j < total; j++) {
                cr_assert_eq(weft_enc_next(e, all + j * ss, ss), (int)ss, "next" SEEDF, seed);
                idx[j] = j;
            }
            shuffle(idx, total, &r);
            /* A random subset of k + 4 shards, pushed in random order. */
            weft_decoder *d = new_dec(g, seed);
            for (size_t j = 0; j < (size_t)k + 4 && !weft_dec_complete(d); j++) {
                int rc = weft_dec_push(d, all + idx[j] * ss, ss);
                cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
            }
            char what[64];
            snprintf(what, sizeof(what), "random subset k %u flags %u", k, flags);
            check_message(d, msg, len, what, seed);
            weft_dec_free(d);
            weft_enc_free(e);
            free(all);
            free(idx);
            free(msg);
        }
    }
}

Test(roundtrip, push_parts_equals_push, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 20000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 24, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *s = malloc(ss);
    weft_decoder *a = new_dec(g, seed), *b = new_dec(g, seed);
    while (!weft_dec_complete(a)) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int ra = weft_dec_push(a, s, ss);
        int rb = weft_dec_push_parts(b, s + 12, s + 12 + g->k);
        cr_assert_eq(ra, rb, "push gave %d, push_parts %d" SEEDF, ra, rb, seed);
        cr_assert_eq(weft_dec_rank(a), weft_dec_rank(b), "ranks differ" SEEDF, seed);
    }
    check_message(b, msg, len, "push_parts", seed);
    weft_dec_free(a);
    weft_dec_free(b);
    weft_enc_free(e);
    free(s);
    free(msg);
}

Test(roundtrip, shards_at_page_edge, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 3001;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 10, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    edgebuf eb;
    edgebuf_init(&eb, ss);
    weft_decoder *d = new_dec(g, seed);
    for (int j = 0; j < 50 && !weft_dec_complete(d); j++) {
        cr_assert_eq(weft_enc_next(e, eb.p, ss), (int)ss, "next at page edge" SEEDF, seed);
        int rc = weft_dec_push(d, eb.p, ss);
        cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
    }
    check_message(d, msg, len, "page-edge shards", seed);
    edgebuf_free(&eb);
    weft_dec_free(d);
    weft_enc_free(e);
    free(msg);
}

/* Zero copy end to end: shard views from the encoder, pushed borrowed into
 * the decoder; some shards are lost on the way. */
Test(roundtrip, iov_views_into_borrowed_decoder, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
        unsigned flags;
    } cases[] = {
        {1, 1, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {20000, 16, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {20000, 16, WEFT_ENC_SYSTEMATIC},
        {65537, 32, WEFT_ENC_BORROW},
        {5555, 70, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t k = cases[i].k;
        uint8_t *msg = random_msg(&r, cases[i].len);
        weft_encoder *e = new_enc(msg, cases[i].len, k, 0, cases[i].flags, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        /* A quarter is lost: 4 k / 3 shards on average, and 3 k + 32 by far. */
        size_t ss = weft_shard_size(g), nmax = 3 * (size_t)k + 32;
        uint8_t *mem = malloc(nmax * ss);
        uint8_t **bufs = malloc(nmax * sizeof(*bufs));
        weft_shard_iov *v = malloc(nmax * sizeof(*v));
        for (size_t j = 0; j < nmax; j++)
            bufs[j] = mem + j * ss;
        weft_decoder *d = new_dec(g, seed);
        size_t pos = 0;
        while (!weft_dec_complete(d)) {
            cr_assert(pos < nmax, "k %u: not complete after %zu shards" SEEDF, k, pos, seed);
            size_t n = 1 + trng_below(&r, k + 2);
            n = n < nmax - pos ? n : nmax - pos;
            int rc = weft_enc_batch_iov(e, v + pos, n, bufs + pos, ss);
            cr_assert_eq(rc, (int)n, "batch_iov: %d" SEEDF, rc, seed);
            for (size_t j = pos; j < pos + n && !weft_dec_complete(d); j++) {
                if (trng_below(&r, 4) == 0)
                    continue; /* lost */
                rc = weft_dec_push_parts_borrowed(d, v[j].head + WEFT_SHARD_HDR, v[j].payload);
                cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT,
                          "push of view %zu: %d" SEEDF, j, rc, seed);
            }
            pos += n;
        }
        /* The views are not needed any more. */
        memset(mem, 0x6D, nmax * ss);
        check_message(d, msg, cases[i].len, "views into a borrowed decoder", seed);
        weft_dec_free(d);
        weft_enc_free(e);
        free(mem);
        free(bufs);
        free(v);
        free(msg);
    }
}
