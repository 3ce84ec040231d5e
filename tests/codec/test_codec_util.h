/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the tests of the public coding API (test_shard.c,
 * test_encoder.c, test_decoder.c, test_borrowed.c): the per-test setup, encoder and decoder
 * constructors that fail the test with the seed, and the checks of an
 * emitted shard and of a decoded message against the independent model in
 * testutil.h. Each of those files is a test executable of its own and
 * includes this header once, which is why the ASan default options can be
 * defined here.
 */
#ifndef WEFT_TESTS_CODEC_TEST_CODEC_UTIL_H
#define WEFT_TESTS_CODEC_TEST_CODEC_UTIL_H

#include <errno.h>

#include "testutil.h"

#define SEEDF " [seed=%" PRIu64 "]"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_ASAN 1
#endif
#endif
#ifdef WEFT_TEST_ASAN
/* Let huge allocations fail with NULL as they do without ASan, so that
 * decoder_too_big can check the error path. ASAN_OPTIONS still overrides. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static inline void
codec_setup(void)
{
    require_env_impl();
    oracle_from_slow();
}

/* ---- helpers ------------------------------------------------------------------- */

static inline uint8_t *
random_msg(trng *r, size_t len)
{
    uint8_t *m = malloc(len + 1);
    cr_assert(m, "out of memory for a %zu-byte message", len);
    trng_fill(r, m, len);
    return m;
}

static inline weft_encoder *
new_enc(const void *msg, size_t len, uint32_t k, uint32_t piece, unsigned flags, uint64_t es,
        uint64_t seed)
{
    int err = 1;
    weft_encoder *e = weft_enc_new(msg, len, k, piece, flags, es, &err);
    cr_assert(e, "weft_enc_new(len %zu, k %u, piece %u, flags %u) failed: %d %s" SEEDF, len, k,
              piece, flags, err, weft_strerror(err), seed);
    return e;
}

static inline weft_decoder *
new_dec(const weft_gen *g, uint64_t seed)
{
    int err = 1;
    weft_decoder *d = weft_dec_new(g, &err);
    cr_assert(d, "weft_dec_new(k %u, piece %u, len %u) failed: %d %s" SEEDF, g->k, g->piece_size,
              g->message_len, err, weft_strerror(err), seed);
    return d;
}

static inline int
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/*
 * Parse a shard and check it against the message: header equal to gen,
 * coefficient vector not all zero, payload equal to the combination of the
 * zero-padded pieces its vector names.
 */
static inline void
check_shard(const uint8_t *shard, size_t size, const weft_gen *g, const uint8_t *msg,
            const char *what, uint64_t seed)
{
    weft_shard_view v;
    int rc = weft_shard_parse(shard, size, &v);
    cr_assert_eq(rc, 0, "%s: emitted shard does not parse: %s" SEEDF, what, weft_strerror(rc),
                 seed);
    cr_assert(v.gen.k == g->k && v.gen.piece_size == g->piece_size &&
                  v.gen.message_len == g->message_len,
              "%s: shard header (k %u, piece %u, len %u) differs from the generation" SEEDF, what,
              v.gen.k, v.gen.piece_size, v.gen.message_len, seed);
    cr_assert(v.coefs == shard + WEFT_SHARD_HDR && v.payload == shard + WEFT_SHARD_HDR + g->k,
              "%s: view pointers do not point into the shard" SEEDF, what, seed);
    cr_assert(!all_zero(v.coefs, g->k), "%s: all-zero coefficient vector" SEEDF, what, seed);
    uint8_t *want = malloc(g->piece_size), *tmp = malloc(g->piece_size);
    expected_payload(msg, g->message_len, g->k, g->piece_size, v.coefs, want, tmp);
    long bad = first_diff(v.payload, want, g->piece_size);
    cr_assert(bad < 0,
              "%s: payload byte %ld is 0x%02x, the coefficients say 0x%02x (k %u, piece %u)" SEEDF,
              what, bad, bad < 0 ? 0 : v.payload[bad], bad < 0 ? 0 : want[bad], g->k, g->piece_size,
              seed);
    free(want);
    free(tmp);
}

static inline void
check_message(weft_decoder *d, const uint8_t *msg, size_t len, const char *what, uint64_t seed)
{
    size_t got_len = (size_t)-1;
    cr_assert(weft_dec_complete(d), "%s: decoder not complete (rank %u of %u)" SEEDF, what,
              weft_dec_rank(d), weft_dec_gen(d)->k, seed);
    const uint8_t *out = weft_dec_message(d, &got_len);
    cr_assert(out, "%s: weft_dec_message() is NULL at full rank" SEEDF, what, seed);
    cr_assert_eq(got_len, len, "%s: decoded length %zu, want %zu" SEEDF, what, got_len, len, seed);
    long bad = first_diff(out, msg, len);
    cr_assert(bad < 0, "%s: decoded byte %ld is 0x%02x, want 0x%02x (len %zu)" SEEDF, what, bad,
              bad < 0 ? 0 : out[bad], bad < 0 ? 0 : msg[bad], len, seed);
}

#endif
