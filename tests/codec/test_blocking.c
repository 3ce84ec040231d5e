/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking paths of the fused dot kernels and the decoder's streaming
 * copy, reached with small buffers by shrinking the cache sizes the kernels
 * plan with (weft_gf_caches, read at weft_init; restored after each test).
 * With L1 4 KiB, L2 16 KiB and L3 64 KiB, a few KiB of data already spans
 * many chunks, makes the first row group prefetch the next chunk and sends
 * the final rows out with non-temporal stores when they are aligned. Every
 * case is checked byte by byte against the oracle, with guard bytes around
 * each output and the sources checked unchanged; the test also asserts, via
 * weft_gf_plan_make, that its cases do cover the prefetch and streaming
 * plans and lengths on both sides of chunk boundaries.
 *
 * Shapes: rows 1..9, 12, 17 and sources 1..17, 33 (the kernels take up to 8
 * rows a pass and 16 sources a block), lengths around one, two and three
 * chunks for each step width (16, 32, 64, 128 bytes), odd lengths, aligned
 * and misaligned pointers (all rows sharing one misalignment, which takes
 * the kernels' store-aligning head, or not), with and without accumulation.
 */
#include "testutil.h"

#include <criterion/parameterized.h>

#include "gf_internal.h"

struct impl_param {
    char name[24];
};

static void
free_params(struct criterion_test_params *crp)
{
    cr_free(crp->params);
}

static struct criterion_test_params
impl_params(void)
{
    const char *env = getenv("WEFT_GF_IMPL");
    const char *const *list = weft_gf_impl_list();
    size_t n = 0;
    if (env && *env)
        n = 1;
    else
        while (list[n])
            n++;
    struct impl_param *p = cr_calloc(n ? n : 1, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        snprintf(p[i].name, sizeof(p[i].name), "%s", (env && *env) ? env : list[i]);
    return cr_make_param_array(struct impl_param, p, n, free_params);
}

static weft_gf_cache saved_caches;
static char saved_impl[32];

static void
small_caches(void)
{
    weft_init();
    saved_caches = weft_gf_caches;
    snprintf(saved_impl, sizeof(saved_impl), "%s", weft_gf_impl_name());
    weft_gf_caches.l1d = 4u << 10;
    weft_gf_caches.l2 = 16u << 10;
    weft_gf_caches.l3 = 64u << 10;
    oracle_from_weft();
}

static void
restore_caches(void)
{
    weft_gf_caches = saved_caches;
    if (saved_impl[0])
        cr_assert_eq(weft_gf_force(saved_impl), 0, "restoring %s failed", saved_impl);
}

static void
use_impl(const char *name)
{
    if (!weft_gf_impl_available(name))
        cr_skip_test("implementation %s is not available on this CPU (features: %s)", name,
                     weft_cpu_features());
    cr_assert_eq(weft_gf_force(name), 0, "weft_gf_force(%s) failed", name);
}

#define GUARD_B 64
#define MAXR 17
#define MAXS 33

/* A 64-byte aligned block holding len bytes at p = block + GUARD_B + off,
 * with a snapshot of the whole block. */
typedef struct abuf {
    uint8_t *block, *shadow, *p;
    size_t total;
} abuf;

static void
abuf_init(abuf *b, size_t len, size_t off, trng *r)
{
    b->total = len + 2 * GUARD_B + 64;
    cr_assert_eq(posix_memalign((void **)&b->block, 64, b->total), 0, "out of memory");
    b->shadow = malloc(b->total);
    cr_assert(b->shadow, "out of memory");
    trng_fill(r, b->block, b->total);
    memcpy(b->shadow, b->block, b->total);
    b->p = b->block + GUARD_B + off;
}

static void
abuf_free(abuf *b)
{
    free(b->block);
    free(b->shadow);
}

/* Whether any byte outside [p, p + len) changed. */
static int
abuf_guard_damaged(const abuf *b, size_t len)
{
    size_t start = (size_t)(b->p - b->block);
    return memcmp(b->block, b->shadow, start) != 0 ||
           memcmp(b->block + start + len, b->shadow + start + len, b->total - start - len) != 0;
}

static unsigned plans_pf, plans_stream;

static void
blocked_case(const char *impl, size_t nrows, size_t nsrc, size_t len, int acc, int aligned, trng *r,
             uint64_t seed)
{
    abuf d[MAXR], s[MAXS];
    uint8_t *dp[MAXR], *want[MAXR];
    const uint8_t *sp[MAXS];
    uint8_t coef[MAXR * MAXS];
    for (size_t i = 0; i < nsrc; i++) {
        abuf_init(&s[i], len, aligned ? 0 : trng_below(r, 64), r);
        sp[i] = s[i].p;
    }
    for (size_t j = 0; j < nrows * nsrc; j++)
        coef[j] = trng_coef(r);
    size_t doff = aligned ? 0 : 1 + trng_below(r, 63);
    int alike = (int)trng_below(r, 2);
    for (size_t row = 0; row < nrows; row++) {
        /* misaligned cases: all rows alike (as shard payloads are: the
         * kernels then align their stores) or not */
        abuf_init(&d[row], len, aligned ? 0 : (alike || row % 3 ? doff : trng_below(r, 64)), r);
        dp[row] = d[row].p;
        want[row] = malloc(len + 1);
        cr_assert(want[row], "out of memory");
        if (acc)
            memcpy(want[row], d[row].p, len);
        else
            memset(want[row], 0, len);
        for (size_t i = 0; i < nsrc; i++)
            oracle_muladd(want[row], s[i].p, coef[row * nsrc + i], len);
    }
    for (size_t step = 16; step <= 128; step *= 2) {
        weft_gf_plan pl;
        weft_gf_plan_make(&pl, step, 16, 8, nsrc, nrows, len);
        plans_pf += (unsigned)pl.prefetch;
        plans_stream += (unsigned)(pl.stream && aligned);
    }

    weft_gf_dot(dp, nrows, sp, nsrc, coef, len, acc);

    for (size_t row = 0; row < nrows; row++) {
        long bad = first_diff(d[row].p, want[row], len);
        cr_assert(bad < 0,
                  "%s dot (small caches): rows %zu, srcs %zu, len %zu, acc %d, aligned %d: row "
                  "%zu byte %ld is 0x%02x, want 0x%02x [seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, acc, aligned, row, bad, bad < 0 ? 0 : d[row].p[bad],
                  bad < 0 ? 0 : want[row][bad], seed);
        cr_assert(!abuf_guard_damaged(&d[row], len),
                  "%s dot (small caches): rows %zu, srcs %zu, len %zu: row %zu written outside "
                  "its region [seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, row, seed);
        free(want[row]);
        abuf_free(&d[row]);
    }
    for (size_t i = 0; i < nsrc; i++) {
        cr_assert(memcmp(s[i].block, s[i].shadow, s[i].total) == 0,
                  "%s dot (small caches): rows %zu, srcs %zu, len %zu: source %zu modified "
                  "[seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, i, seed);
        abuf_free(&s[i]);
    }
}

ParameterizedTestParameters(blocking, dot_across_chunks)
{
    return impl_params();
}

ParameterizedTest(struct impl_param *p, blocking, dot_across_chunks, .init = small_caches,
                  .fini = restore_caches)
{
    use_impl(p->name);
    uint64_t seed = test_seed();
    trng r = {seed};
    static const size_t rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17};
    static const size_t srcs[] = {1, 2, 3, 5, 8, 15, 16, 17, 33};
    unsigned boundary = 0, n = 0;
    plans_pf = plans_stream = 0;
    for (size_t ri = 0; ri < sizeof(rows) / sizeof(rows[0]); ri++) {
        for (size_t si = 0; si < sizeof(srcs) / sizeof(srcs[0]); si++, n++) {
            size_t nr = rows[ri], ns = srcs[si];
            /* a length on a chunk boundary of one step width, +-1 and +-a
             * vector, rotating through widths and multiples */
            size_t step = (size_t)16 << (n % 4);
            weft_gf_plan pl;
            weft_gf_plan_make(&pl, step, 16, 8, ns, nr, 1u << 20);
            size_t base = pl.chunk * (1 + n % 3);
            static const long delta[] = {0, 1, -1, 16, -16, 33, 63, -63};
            long dl = delta[n % 8];
            size_t len = (size_t)((long)base + dl);
            if (test_quick() && nr * ns > 100 && len > 3000)
                len = 3000 + (len & 63);
            boundary += len % pl.chunk == 0 || len % pl.chunk == 1 || len % pl.chunk == 16 ||
                        pl.chunk - len % pl.chunk <= 63;
            blocked_case(p->name, nr, ns, len, (int)(n & 1), (int)((n >> 1) & 1), &r, seed);
        }
    }
    /* Data well past "L2" and "L3": prefetch and streaming plans. */
    blocked_case(p->name, 4, 8, 12345, 0, 1, &r, seed);
    blocked_case(p->name, 9, 17, (40u << 10) + 64, 0, 1, &r, seed);
    blocked_case(p->name, 9, 17, (40u << 10) + 7, 1, 1, &r, seed);
    blocked_case(p->name, 1, 4, (64u << 10) + 31, 0, 0, &r, seed);
    blocked_case(p->name, 17, 3, (8u << 10) + 5, 0, 1, &r, seed);
    cr_assert_gt(plans_pf, 0, "no case was planned with prefetch");
    cr_assert_gt(plans_stream, 0, "no aligned case was planned with streaming stores");
    cr_assert_gt(boundary, n / 2, "only %u of %u lengths sit at a chunk boundary", boundary, n);
}

Test(blocking, copy_stream_matches_memcpy)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const size_t lens[] = {0, 1, 63, 64, 65, 127, 128, 129, 1000, 4096, 4096 + 77};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (size_t off = 0; off < 64; off += 9) {
            size_t len = lens[i];
            abuf d, s;
            abuf_init(&d, len, off, &r);
            abuf_init(&s, len, (off * 5 + 3) & 63, &r);
            weft_gf_copy_stream(d.p, s.p, len);
            cr_assert(memcmp(d.p, s.p, len) == 0, "copy of %zu bytes at +%zu differs", len, off);
            cr_assert(!abuf_guard_damaged(&d, len), "copy of %zu bytes at +%zu wrote outside", len,
                      off);
            cr_assert(memcmp(s.block, s.shadow, s.total) == 0, "copy changed its source");
            abuf_free(&d);
            abuf_free(&s);
        }
    }
}

ParameterizedTestParameters(blocking, decode_with_streaming_copies)
{
    return impl_params();
}

/* A decoder made while the caches look small copies pushed payloads with
 * non-temporal stores; copying and borrowed pushes, mixed, must still give
 * the message. */
ParameterizedTest(struct impl_param *p, blocking, decode_with_streaming_copies,
                  .init = small_caches, .fini = restore_caches)
{
    use_impl(p->name);
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 4, 7, 16};
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        uint32_t k = ks[ki];
        size_t len = (size_t)k * 9000 + ki * 13 + 1;
        uint8_t *msg = malloc(len);
        cr_assert(msg, "out of memory");
        trng_fill(&r, msg, len);
        int err = 0;
        weft_encoder *enc = weft_enc_new(msg, len, k, 0, 0, seed + ki, &err);
        cr_assert(enc, "weft_enc_new(k=%u): %s", k, weft_strerror(err));
        weft_decoder *dec = weft_dec_new(weft_enc_gen(enc), &err);
        cr_assert(dec, "weft_dec_new(k=%u): %s", k, weft_strerror(err));
        size_t ss = weft_shard_size(weft_enc_gen(enc));
        uint8_t *buf = malloc(ss);
        cr_assert(buf, "out of memory");
        for (unsigned i = 0; i < 4 * k + 8 && !weft_dec_complete(dec); i++) {
            int rc = weft_enc_next(enc, buf, ss);
            cr_assert_eq((size_t)rc, ss, "weft_enc_next: %d", rc);
            /* copying pushes only: the buffer is reused at once */
            rc = weft_dec_push(dec, buf, ss);
            cr_assert(rc >= 0, "weft_dec_push(k=%u): %s", k, weft_strerror(rc));
            memset(buf, 0xA5, ss);
        }
        cr_assert(weft_dec_complete(dec), "k=%u: not complete after %u shards", k, 4 * k + 8);
        size_t mlen = 0;
        const uint8_t *out = weft_dec_message(dec, &mlen);
        cr_assert(out && mlen == len && memcmp(out, msg, len) == 0,
                  "k=%u: decoded message differs [seed=%" PRIu64 "]", k, seed);
        free(buf);
        weft_dec_free(dec);
        weft_enc_free(enc);
        free(msg);
    }
}
