/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decoder's borrowed pushes (weft_dec_push_borrowed,
 * weft_dec_push_parts_borrowed) through the public API: borrowed, copied
 * and mixed decoders fed the same shards answer the same, recode the same
 * bytes and decode the same message, over generations chosen to hit every
 * shape of the decoder's in-place solve (pieces below, at and around its
 * step, large k); a partial decoder recodes from borrowed slots for another
 * decoder; redundant, invalid and completing shards are not referenced after
 * the push returns (their buffers are scribbled over and freed at once, so
 * ASan reports any later read); after completion, and after a reset, the
 * borrowed buffers are free to go; the decoder never writes into them;
 * payloads that end at an unmapped page; bad arguments.
 *
 * ctest runs this file once per WEFT_GF_IMPL; tests skip when the CPU lacks
 * the named implementation.
 */
#include "test_codec_util.h"

/* Generations: (len, k, piece; 0 = automatic). The decoder keeps a copied
 * payload's last min(piece, step) bytes apart, step = min(8 KiB, 32 KiB / k)
 * rounded down to 64 (at least 64), and solves in steps of that size; these
 * straddle it: piece below 64, piece == step (nothing before the tail),
 * step + 1, between step and 2 step, exactly 2 step, several steps and a
 * bit (k = 1, 5, 64), absent pieces (1000 bytes in 8 x 200), and k = 600
 * (step 64). */
static const struct {
    size_t len;
    uint32_t k;
    uint32_t piece;
} gens[] = {
    {1, 1, 0},       {700, 1, 0},       {20000, 1, 0},    {50, 3, 17},       {2000, 16, 2048},
    {32784, 16, 0},  {48000, 16, 3000}, {40000, 5, 8193}, {65000, 4, 16384}, {1000, 8, 200},
    {100000, 64, 0}, {9000, 100, 91},   {38400, 600, 64}, {100000, 600, 0},
};
#define NGENS (sizeof(gens) / sizeof(gens[0]))

/* How a decoder pushes: all copied, all borrowed, alternating, halves, only
 * the first or last borrowed, or at random. */
enum {
    P_COPY,
    P_BORROW,
    P_ALT,
    P_BORROW_FIRST_HALF,
    P_COPY_FIRST_HALF,
    P_ONE_FIRST,
    P_ONE_LAST,
    P_RANDOM,
    P_COUNT
};
static const char *const pattern_names[P_COUNT] = {
    "copied",
    "borrowed",
    "alternating",
    "borrowed-then-copied",
    "copied-then-borrowed",
    "first-borrowed",
    "last-borrowed",
    "random",
};

/* Whether push number i (of about n innovative ones) borrows. */
static int
borrows(int pattern, size_t i, size_t n, trng *r)
{
    switch (pattern) {
    case P_COPY: return 0;
    case P_BORROW: return 1;
    case P_ALT: return i & 1;
    case P_BORROW_FIRST_HALF: return i < n / 2;
    case P_COPY_FIRST_HALF: return i >= n / 2;
    case P_ONE_FIRST: return i == 0;
    case P_ONE_LAST: return i + 1 >= n;
    default: return (int)trng_below(r, 2);
    }
}

/* Push one serialized shard of our generation through the serialized or the
 * parts form (parsed here), copied or borrowed. */
static int
push_as(weft_decoder *d, const uint8_t *buf, size_t len, int borrow, int parts)
{
    weft_shard_view v;
    if (parts && weft_shard_parse(buf, len, &v) == 0)
        return borrow ? weft_dec_push_parts_borrowed(d, v.coefs, v.payload)
                      : weft_dec_push_parts(d, v.coefs, v.payload);
    return borrow ? weft_dec_push_borrowed(d, buf, len) : weft_dec_push(d, buf, len);
}

/*
 * A stream of shards for one generation, each in a guarded buffer at a
 * random offset: random shards of an encoder, with redundant ones mixed in
 * (an exact copy of an earlier shard, a multiple of one) and an invalid one
 * (all-zero vector), so that decoders see every kind of push.
 */
typedef struct stream {
    weft_gen g;
    size_t ss;
    uint8_t *msg;
    size_t len;
    size_t n;
    gbuf *bufs;
} stream;

static void
stream_make(stream *s, size_t len, uint32_t k, uint32_t piece, trng *r, uint64_t seed)
{
    s->len = len;
    s->msg = random_msg(r, len);
    weft_encoder *e = new_enc(s->msg, len, k, piece, 0, trng_next(r), seed);
    s->g = *weft_enc_gen(e);
    s->ss = weft_shard_size(&s->g);
    s->n = 2 * (size_t)k + 16; /* 1 in 4 is redundant or invalid */
    s->bufs = calloc(s->n, sizeof(*s->bufs));
    cr_assert(s->bufs, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        gbuf *b = &s->bufs[i];
        gbuf_init(b, s->ss, trng_below(r, 64), r);
        size_t kind = i > 1 ? trng_below(r, 12) : 11;
        if (kind == 0) { /* an earlier shard again */
            memcpy(b->p, s->bufs[trng_below(r, i)].p, s->ss);
        } else if (kind == 1) { /* a nonzero multiple of an earlier shard */
            const uint8_t *src = s->bufs[trng_below(r, i)].p;
            uint8_t c = (uint8_t)(1 + trng_below(r, 255));
            memcpy(b->p, src, WEFT_SHARD_HDR);
            weft_gf_mul_region(b->p + WEFT_SHARD_HDR, src + WEFT_SHARD_HDR, c, k + s->g.piece_size);
        } else if (kind == 2) { /* invalid: all-zero vector */
            cr_assert_eq(weft_enc_next(e, b->p, s->ss), (int)s->ss, "next" SEEDF, seed);
            memset(b->p + WEFT_SHARD_HDR, 0, k);
        } else {
            cr_assert_eq(weft_enc_next(e, b->p, s->ss), (int)s->ss, "next" SEEDF, seed);
        }
        gbuf_snap(b);
    }
    weft_enc_free(e);
}

static void
stream_free(stream *s)
{
    for (size_t i = 0; i < s->n; i++)
        gbuf_free(&s->bufs[i]);
    free(s->bufs);
    free(s->msg);
}

/* Recode one shard from each decoder with the same seed: all must be byte
 * for byte the same (same slots, same order), and a valid combination. */
static void
same_recodes(weft_decoder **d, int nd, const stream *s, uint64_t rs, const char *what,
             uint64_t seed)
{
    uint8_t *ref = malloc(s->ss), *out = malloc(s->ss);
    for (int i = 0; i < nd; i++) {
        weft_rng rng;
        weft_rng_seed(&rng, rs);
        int rc = weft_dec_recode(d[i], &rng, i ? out : ref, s->ss);
        if (weft_dec_rank(d[i]) == 0) {
            cr_assert_eq(rc, WEFT_EEMPTY, "%s: recode at rank 0: %d" SEEDF, what, rc, seed);
            continue;
        }
        cr_assert_eq(rc, (int)s->ss, "%s: decoder %s recode: %d (%s)" SEEDF, what, pattern_names[i],
                     rc, weft_strerror(rc), seed);
        if (i == 0) {
            check_shard(ref, s->ss, &s->g, s->msg, what, seed);
            continue;
        }
        long at = first_diff(out, ref, s->ss);
        cr_assert(at < 0, "%s: %s decoder recodes differently at byte %ld (rank %u)" SEEDF, what,
                  pattern_names[i], at, weft_dec_rank(d[i]), seed);
    }
    free(ref);
    free(out);
}

/* ---- borrowed and copied decoders agree ------------------------------------------------- */

Test(borrowed, every_pattern_matches_copied, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (size_t gi = 0; gi < NGENS; gi++) {
        stream s;
        stream_make(&s, gens[gi].len, gens[gi].k, gens[gi].piece, &r, seed);
        char what[128];
        snprintf(what, sizeof(what), "k %u piece %u len %zu", s.g.k, s.g.piece_size, s.len);

        weft_decoder *d[P_COUNT];
        for (int p = 0; p < P_COUNT; p++)
            d[p] = new_dec(&s.g, seed);
        size_t innov = 0, i = 0;
        for (; i < s.n; i++) {
            const uint8_t *buf = s.bufs[i].p;
            int parts = (int)trng_below(&r, 2);
            int want = push_as(d[P_COPY], buf, s.ss, 0, parts);
            cr_assert(want >= 0 || want == WEFT_EZEROVEC, "%s: push %zu: %d (%s)" SEEDF, what, i,
                      want, weft_strerror(want), seed);
            for (int p = 1; p < P_COUNT; p++) {
                int rc = push_as(d[p], buf, s.ss, borrows(p, innov, s.g.k, &r), parts);
                cr_assert_eq(rc, want, "%s: %s decoder answers %d to push %zu, copied %d" SEEDF,
                             what, pattern_names[p], rc, i, want, seed);
                cr_assert_eq(weft_dec_rank(d[p]), weft_dec_rank(d[P_COPY]),
                             "%s: %s decoder rank %u, copied %u" SEEDF, what, pattern_names[p],
                             weft_dec_rank(d[p]), weft_dec_rank(d[P_COPY]), seed);
            }
            innov += want == WEFT_DEC_INNOVATIVE;
            /* Recode now and then (less often for large k: it costs k payloads). */
            size_t every = s.g.k > 100 ? 50 : 3;
            if (want == WEFT_DEC_INNOVATIVE && (innov % every == 1 || innov + 1 == s.g.k))
                same_recodes(d, P_COUNT, &s, trng_next(&r), what, seed);
            if (weft_dec_complete(d[P_COPY]))
                break;
        }
        cr_assert(weft_dec_complete(d[P_COPY]), "%s: %zu shards gave rank %u" SEEDF, what, s.n,
                  weft_dec_rank(d[P_COPY]), seed);
        /* No decoder wrote into a shard buffer or around it. */
        for (size_t j = 0; j < s.n; j++)
            cr_assert(gbuf_unchanged(&s.bufs[j]), "%s: shard buffer %zu was written" SEEDF, what, j,
                      seed);
        /* Completed: the borrowed buffers are no longer referenced. */
        for (size_t j = 0; j < s.n; j++)
            memset(s.bufs[j].block, 0x5A, s.bufs[j].total);
        for (int p = 0; p < P_COUNT; p++) {
            char w2[160];
            snprintf(w2, sizeof(w2), "%s, %s decoder", what, pattern_names[p]);
            check_message(d[p], s.msg, s.len, w2, seed);
        }
        same_recodes(d, P_COUNT, &s, trng_next(&r), what, seed);
        for (int p = 0; p < P_COUNT; p++)
            weft_dec_free(d[p]);
        stream_free(&s);
    }
}

/* Borrowed payloads that end at an unmapped page: the decoder reads exactly
 * piece_size bytes of each, in the pushes, the recodes and the solve. */
Test(borrowed, payloads_at_page_edge, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (size_t gi = 0; gi < NGENS; gi++) {
        if (gens[gi].k > 100)
            continue; /* one mapping per shard */
        size_t len = gens[gi].len;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, gens[gi].k, gens[gi].piece, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        weft_decoder *d = new_dec(g, seed);
        edgebuf *eb = calloc((size_t)g->k + 8, sizeof(*eb));
        size_t used = 0;
        weft_rng rng;
        weft_rng_seed(&rng, seed);
        uint8_t *rec = malloc(ss);
        uint8_t *tmp = malloc(ss);
        while (!weft_dec_complete(d)) {
            cr_assert(used < (size_t)g->k + 8, "k %u: not complete" SEEDF, g->k, seed);
            cr_assert_eq(weft_enc_next(e, tmp, ss), (int)ss, "next" SEEDF, seed);
            edgebuf_init(&eb[used], g->piece_size);
            memcpy(eb[used].p, tmp + WEFT_SHARD_HDR + g->k, g->piece_size);
            int rc = weft_dec_push_parts_borrowed(d, tmp + WEFT_SHARD_HDR, eb[used].p);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
            used++;
            cr_assert_eq(weft_dec_recode(d, &rng, rec, ss), (int)ss, "recode" SEEDF, seed);
            check_shard(rec, ss, g, msg, "recode from edge payloads", seed);
        }
        check_message(d, msg, len, "payloads at page edge", seed);
        for (size_t j = 0; j < used; j++)
            edgebuf_free(&eb[j]);
        cr_assert_eq(weft_dec_recode(d, &rng, rec, ss), (int)ss, "recode" SEEDF, seed);
        check_shard(rec, ss, g, msg, "recode after the edge payloads are gone", seed);
        weft_dec_free(d);
        weft_enc_free(e);
        free(eb);
        free(rec);
        free(tmp);
        free(msg);
    }
}

/* ---- recoding from borrowed slots ------------------------------------------------------- */

Test(borrowed, partial_recode_decodes_elsewhere, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
    } cases[] = {{5000, 1}, {20000, 8}, {70001, 16}, {33333, 40}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        size_t len = cases[ci].len;
        uint32_t k = cases[ci].k;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        /* The relay holds all but one piece's worth, every payload borrowed
         * (or, for k = 1, holds the one shard). */
        uint32_t part = k > 1 ? k - 1 : 1;
        weft_decoder *relay = new_dec(g, seed), *dst = new_dec(g, seed);
        uint8_t **held = calloc((size_t)k + 16, sizeof(*held));
        size_t nheld = 0;
        while (weft_dec_rank(relay) < part) {
            cr_assert(nheld < (size_t)k + 16, "relay stuck at rank %u" SEEDF, weft_dec_rank(relay),
                      seed);
            uint8_t *b = malloc(ss);
            cr_assert_eq(weft_enc_next(e, b, ss), (int)ss, "next" SEEDF, seed);
            int rc = weft_dec_push_borrowed(relay, b, ss);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
            if (rc == WEFT_DEC_INNOVATIVE && !weft_dec_complete(relay)) {
                held[nheld++] = b;
            } else {
                memset(b, 0xEE, ss); /* not referenced: free to go */
                free(b);
            }
        }
        /* Everything the destination gets from the relay is recoded from
         * borrowed payloads; push those recodes borrowed too, then scribble
         * over each once the destination has taken it (copied or done). */
        weft_rng rng;
        weft_rng_seed(&rng, trng_next(&r));
        uint8_t **got = calloc((size_t)k + 64, sizeof(*got));
        size_t ngot = 0;
        for (int guard = 0; weft_dec_rank(dst) < weft_dec_rank(relay); guard++) {
            cr_assert(guard < 64, "destination stuck at rank %u of %u" SEEDF, weft_dec_rank(dst),
                      weft_dec_rank(relay), seed);
            uint8_t *b = malloc(ss);
            cr_assert_eq(weft_dec_recode(relay, &rng, b, ss), (int)ss, "recode" SEEDF, seed);
            check_shard(b, ss, g, msg, "recoded from borrowed slots", seed);
            int rc = weft_dec_push_borrowed(dst, b, ss);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
            if (rc == WEFT_DEC_INNOVATIVE && !weft_dec_complete(dst))
                got[ngot++] = b;
            else
                free(b);
        }
        /* The relay's buffers go away: the destination never used them. */
        weft_dec_free(relay);
        for (size_t j = 0; j < nheld; j++) {
            memset(held[j], 0x77, ss);
            free(held[j]);
        }
        uint8_t *b = malloc(ss);
        for (int guard = 0; !weft_dec_complete(dst); guard++) {
            cr_assert(guard < 64, "destination never completed" SEEDF, seed);
            cr_assert_eq(weft_enc_next(e, b, ss), (int)ss, "next" SEEDF, seed);
            int rc = weft_dec_push(dst, b, ss);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
        }
        for (size_t j = 0; j < ngot; j++) {
            memset(got[j], 0x33, ss);
            free(got[j]);
        }
        check_message(dst, msg, len, "decoded from borrowed recodes", seed);
        weft_dec_free(dst);
        weft_enc_free(e);
        free(b);
        free(held);
        free(got);
        free(msg);
    }
}

/* ---- what the decoder does not keep ------------------------------------------------------ */

/* Each buffer the contract frees is scribbled over and freed right after the
 * push: under ASan a later read is a use after free, without it the message
 * comes out wrong. */
Test(borrowed, unreferenced_buffers_may_go_at_once, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 30011;
    uint32_t k = 12;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    weft_decoder *d = new_dec(g, seed);
    uint8_t *held[12];
    uint32_t nheld = 0;
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    while (!weft_dec_complete(d)) {
        cr_assert(nheld < k, "more than k innovative" SEEDF, seed);
        uint8_t *b = malloc(ss);
        cr_assert_eq(weft_enc_next(e, b, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push_borrowed(d, b, ss);
        cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                  seed);
        if (rc == WEFT_DEC_INNOVATIVE && !weft_dec_complete(d)) {
            held[nheld++] = b;
        } else {
            /* Redundant, or the push that completed the decoder. */
            memset(b, 0xA5, ss);
            free(b);
        }
        if (weft_dec_complete(d) || nheld == 0)
            continue;
        /* A copy of a held shard, a multiple of one, a recode of the held
         * span: all redundant; a zero vector, a wrong generation and a short
         * buffer: invalid. */
        uint8_t *x[6];
        for (int j = 0; j < 6; j++)
            x[j] = malloc(ss);
        memcpy(x[0], held[trng_below(&r, nheld)], ss);
        memcpy(x[1], held[trng_below(&r, nheld)], ss);
        weft_gf_mul_region(x[1] + WEFT_SHARD_HDR, x[1] + WEFT_SHARD_HDR,
                           (uint8_t)(1 + trng_below(&r, 255)), k + g->piece_size);
        cr_assert_eq(weft_dec_recode(d, &rng, x[2], ss), (int)ss, "recode" SEEDF, seed);
        memcpy(x[3], x[0], ss);
        memset(x[3] + WEFT_SHARD_HDR, 0, k);
        memcpy(x[4], x[0], ss);
        put_le32(x[4] + 8, g->message_len - 1);
        memcpy(x[5], x[0], ss);
        static const int want[6] = {WEFT_DEC_REDUNDANT, WEFT_DEC_REDUNDANT, WEFT_DEC_REDUNDANT,
                                    WEFT_EZEROVEC,      WEFT_EGENERATION,   WEFT_ETRUNC};
        for (int j = 0; j < 6; j++) {
            int rc2 = j < 2 && (j & 1) ? weft_dec_push_parts_borrowed(d, x[j] + WEFT_SHARD_HDR,
                                                                      x[j] + WEFT_SHARD_HDR + k)
                                       : weft_dec_push_borrowed(d, x[j], j == 5 ? ss - 1 : ss);
            cr_assert_eq(rc2, want[j], "extra push %d: %d, want %d" SEEDF, j, rc2, want[j], seed);
            memset(x[j], 0xC3, ss);
            free(x[j]);
        }
        cr_assert_eq(weft_dec_rank(d), nheld, "rank %u, held %u" SEEDF, weft_dec_rank(d), nheld,
                     seed);
    }
    /* After completion the held buffers go too, and nothing changes. */
    size_t mlen = 0;
    const uint8_t *m = weft_dec_message(d, &mlen);
    uint8_t *snap = malloc(len);
    memcpy(snap, m, len);
    for (uint32_t j = 0; j < nheld; j++) {
        memset(held[j], 0x3C, ss);
        free(held[j]);
    }
    check_message(d, msg, len, "after the held buffers went", seed);
    cr_assert(first_diff(weft_dec_message(d, NULL), snap, len) < 0, "message moved" SEEDF, seed);
    /* Pushes after completion reference nothing either. */
    uint8_t *b = malloc(ss);
    cr_assert_eq(weft_enc_next(e, b, ss), (int)ss, "next" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, b, ss), WEFT_DEC_REDUNDANT,
                 "push after completion" SEEDF, seed);
    free(b);
    uint8_t *rec = malloc(ss);
    cr_assert_eq(weft_dec_recode(d, &rng, rec, ss), (int)ss, "recode" SEEDF, seed);
    check_shard(rec, ss, g, msg, "recode after completion", seed);
    free(rec);
    free(snap);
    weft_dec_free(d);
    weft_enc_free(e);
    free(msg);
}

Test(borrowed, reset_releases_and_reuses, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 12345;
    uint32_t k = 10;
    uint8_t *m1 = random_msg(&r, len), *m2 = random_msg(&r, len);
    weft_encoder *e1 = new_enc(m1, len, k, 0, 0, trng_next(&r), seed);
    weft_encoder *e2 = new_enc(m2, len, k, 0, WEFT_ENC_SYSTEMATIC, trng_next(&r), seed);
    const weft_gen *g = weft_enc_gen(e1);
    size_t ss = weft_shard_size(g);
    weft_decoder *d = new_dec(g, seed);
    for (int round = 0; round < 3; round++) {
        /* Part of m1 borrowed and copied, then reset; the borrowed buffers
         * are freed right after the reset. */
        uint8_t *held[32];
        uint32_t nheld = 0;
        while (weft_dec_rank(d) < k / 2 + (uint32_t)round) {
            cr_assert(nheld < 32, "rank stuck at %u" SEEDF, weft_dec_rank(d), seed);
            uint8_t *b = malloc(ss);
            cr_assert_eq(weft_enc_next(e1, b, ss), (int)ss, "next" SEEDF, seed);
            int borrow = (int)trng_below(&r, 2);
            int rc = borrow ? weft_dec_push_borrowed(d, b, ss) : weft_dec_push(d, b, ss);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
            held[nheld++] = b;
        }
        weft_dec_reset(d);
        for (uint32_t j = 0; j < nheld; j++) {
            memset(held[j], 0x99, ss);
            free(held[j]);
        }
        cr_assert_eq(weft_dec_rank(d), 0, "rank after reset" SEEDF, seed);
        weft_rng rng;
        weft_rng_seed(&rng, seed);
        uint8_t *out = malloc(ss);
        cr_assert_eq(weft_dec_recode(d, &rng, out, ss), WEFT_EEMPTY, "recode after reset" SEEDF,
                     seed);
        /* All of m2, borrowed (systematic shards first, then coded ones). */
        uint8_t *bufs[40];
        uint32_t nb = 0;
        while (!weft_dec_complete(d)) {
            cr_assert(nb < 40, "m2 never completed" SEEDF, seed);
            bufs[nb] = malloc(ss);
            cr_assert_eq(weft_enc_next(e2, bufs[nb], ss), (int)ss, "next" SEEDF, seed);
            int rc = weft_dec_push_borrowed(d, bufs[nb], ss);
            cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "push: %d" SEEDF, rc,
                      seed);
            nb++;
            if (weft_dec_rank(d) > 0 && !weft_dec_complete(d)) {
                cr_assert_eq(weft_dec_recode(d, &rng, out, ss), (int)ss, "recode" SEEDF, seed);
                check_shard(out, ss, g, m2, "recode after reset", seed);
            }
        }
        for (uint32_t j = 0; j < nb; j++) {
            memset(bufs[j], 0x11, ss);
            free(bufs[j]);
        }
        check_message(d, m2, len, "after reset", seed);
        weft_dec_reset(d);
        free(out);
        /* The next round starts e2 over from its systematic shards. */
        weft_enc_free(e2);
        e2 = new_enc(m2, len, k, 0, WEFT_ENC_SYSTEMATIC, trng_next(&r), seed);
    }
    weft_dec_free(d);
    weft_enc_free(e1);
    weft_enc_free(e2);
    free(m1);
    free(m2);
}

/* ---- arguments -------------------------------------------------------------------------- */

Test(borrowed, bad_arguments, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    weft_gen g = {5, 40, 190};
    weft_decoder *d = new_dec(&g, seed);
    size_t ss = weft_shard_size(&g);
    uint8_t *s = malloc(ss + 8);
    cr_assert_eq(weft_shard_write_header(s, ss, &g), WEFT_SHARD_HDR, "header" SEEDF, seed);
    trng_fill(&r, s + WEFT_SHARD_HDR, g.k + g.piece_size);
    s[WEFT_SHARD_HDR] = 1;
    cr_assert_eq(weft_dec_push_borrowed(NULL, s, ss), WEFT_EINVAL, "NULL decoder" SEEDF, seed);
    cr_assert_eq(weft_dec_push_parts_borrowed(NULL, s + 12, s + 17), WEFT_EINVAL,
                 "parts: NULL decoder" SEEDF, seed);
    cr_assert_eq(weft_dec_push_parts_borrowed(d, NULL, s + 17), WEFT_EINVAL,
                 "parts: NULL coefficients" SEEDF, seed);
    cr_assert_eq(weft_dec_push_parts_borrowed(d, s + 12, NULL), WEFT_EINVAL,
                 "parts: NULL payload" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, NULL, ss), WEFT_EINVAL, "NULL buffer" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, s, 0), WEFT_ETRUNC, "empty buffer" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, s, ss + 1), WEFT_ETRUNC, "long buffer" SEEDF, seed);
    s[0] = 2;
    cr_assert_eq(weft_dec_push_borrowed(d, s, ss), WEFT_EVERSION, "version" SEEDF, seed);
    s[0] = 1;
    weft_gen g2 = {5, 40, 189};
    cr_assert_eq(weft_shard_write_header(s, ss, &g2), WEFT_SHARD_HDR, "header" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, s, ss), WEFT_EGENERATION, "generation" SEEDF, seed);
    cr_assert_eq(weft_dec_rank(d), 0, "rank after bad pushes" SEEDF, seed);
    cr_assert_eq(weft_shard_write_header(s, ss, &g), WEFT_SHARD_HDR, "header" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, s, ss), WEFT_DEC_INNOVATIVE, "good push" SEEDF, seed);
    cr_assert_eq(weft_dec_push_borrowed(d, s, ss), WEFT_DEC_REDUNDANT, "same again" SEEDF, seed);
    weft_dec_free(d);
    free(s);
}
