/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One body for the split-table kernels (ssse3, avx2, avx512, neon): c * x is
 * tlo[x & 15] ^ thi[x >> 4], two 16-entry byte shuffles. The including file
 * (compiled with its ISA's flags only) defines:
 *   SET, VEC, VBYTES     name token, vector type, width in bytes
 *   VLOAD(p) VSTORE(p, v) VXOR(a, b) VAND(a, b) VZERO() VSET1(b)
 *   VSRL4(v)             each byte's high nibble moved down (bits above may be junk)
 *                        (or VHI(v, m): the high nibbles, masked)
 *   VBCAST16(p)          16 bytes at p repeated across a vector
 *   VSHUF(t, i)          byte shuffle of t by indices i (0..15)
 *   NV                   vectors per step of the fused kernel
 *   ROWS                 rows per pass, 4 or 8 (default 4)
 * and optionally VXOR3(a, b, c) (three-way xor), VSTREAM(p, v) with
 * VFENCE() (aligned non-temporal store), VPREFETCH(p).
 *
 * The fused dot kernel is register blocked: a step covers NV vectors of R
 * rows (R <= ROWS accumulators per vector), so each source vector is loaded
 * and split into nibbles once per R rows, and each pair of table registers
 * loaded from L1 serves NV vectors. Tables for a block of up to SRC_BLOCK
 * sources x ROWS rows are laid out once per pass in an aligned array, in the
 * order the pass reads them. Chunk length, prefetch and streaming stores
 * come from weft_gf_plan_make() and the cache sizes read at run time.
 */
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(x) CAT(CAT(x, _), SET)

#ifndef VXOR3
#define VXOR3(a, b, c) VXOR(VXOR(a, b), c)
#endif
#ifndef VHI
#define VHI(a, m) VAND(VSRL4(a), (m))
#endif
#ifndef VPREFETCH
#define VPREFETCH(p) __builtin_prefetch((p), 0, 3)
#endif

#ifndef ROWS
#define ROWS 4
#endif
#define SRC_BLOCK 16
#define PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define UNROLL PRAGMA(clang loop unroll(full))
#else
#define UNROLL PRAGMA(GCC unroll 8)
#endif

static inline VEC
FN(mulv)(VEC x, VEC tl, VEC th, VEC m)
{
    return VXOR(VSHUF(tl, VAND(x, m)), VSHUF(th, VHI(x, m)));
}

static void
FN(mul)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    if (c == 0) {
        memset(dst, 0, len);
        return;
    }
    if (c == 1) {
        if (dst != src)
            memmove(dst, src, len);
        return;
    }
    const VEC tl = VBCAST16(weft_gf_nib_table[c]), th = VBCAST16(weft_gf_nib_table[c] + 16);
    const VEC m = VSET1(0x0f);
    size_t x = 0;
    for (; x + 2 * VBYTES <= len; x += 2 * VBYTES) {
        VEC a = VLOAD(src + x), b = VLOAD(src + x + VBYTES);
        VSTORE(dst + x, FN(mulv)(a, tl, th, m));
        VSTORE(dst + x + VBYTES, FN(mulv)(b, tl, th, m));
    }
    for (; x + VBYTES <= len; x += VBYTES)
        VSTORE(dst + x, FN(mulv)(VLOAD(src + x), tl, th, m));
    if (x < len)
        weft_gf_ref_mul(dst + x, src + x, c, len - x);
}

static void
FN(muladd)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    if (c == 0)
        return;
    const VEC tl = VBCAST16(weft_gf_nib_table[c]), th = VBCAST16(weft_gf_nib_table[c] + 16);
    const VEC m = VSET1(0x0f);
    size_t x = 0;
    for (; x + 2 * VBYTES <= len; x += 2 * VBYTES) {
        VEC a = VLOAD(src + x), b = VLOAD(src + x + VBYTES);
        VSTORE(dst + x, VXOR(VLOAD(dst + x), FN(mulv)(a, tl, th, m)));
        VSTORE(dst + x + VBYTES, VXOR(VLOAD(dst + x + VBYTES), FN(mulv)(b, tl, th, m)));
    }
    for (; x + VBYTES <= len; x += VBYTES)
        VSTORE(dst + x, VXOR(VLOAD(dst + x), FN(mulv)(VLOAD(src + x), tl, th, m)));
    if (x < len)
        weft_gf_ref_muladd(dst + x, src + x, c, len - x);
}

/* Tables of one pass: tb[s][r][0] low-nibble products, [1] high. */
typedef VEC FN(tblk)[SRC_BLOCK][ROWS][2];

/* Flags of one pass. */
#define P_FIRST 1  /* rows start from zero, not from dst */
#define P_PF 2     /* prefetch each source pfd bytes ahead */
#define P_STREAM 4 /* final values: non-temporal stores (dst aligned) */

/* W vectors of R rows at byte x. */
#define STEP_BODY(W)                                                                               \
    do {                                                                                           \
        VEC acc[ROWS][W];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < W; v++) acc[r][v] =          \
            (flags & P_FIRST) ? VZERO() : VLOAD(dst[r] + x + (size_t)v * VBYTES);                  \
        for (size_t s = 0; s < ns; s++) {                                                          \
            const uint8_t *p = src[s] + x;                                                         \
            /* one prefetch per 64-byte line of the source */                                      \
            if ((flags & P_PF) && ((W)*VBYTES >= 64 || (x & 63) < (size_t)(W)*VBYTES))             \
                for (size_t q = 0; q < (size_t)(W)*VBYTES || q == 0; q += 64)                      \
                    VPREFETCH(p + pfd + q);                                                        \
            VEC l[W], h[W];                                                                        \
            UNROLL for (int v = 0; v < W; v++)                                                     \
            {                                                                                      \
                VEC a = VLOAD(p + (size_t)v * VBYTES);                                             \
                l[v] = VAND(a, m);                                                                 \
                h[v] = VHI(a, m);                                                                  \
            }                                                                                      \
            UNROLL for (int r = 0; r < R; r++)                                                     \
            {                                                                                      \
                const VEC tl = (*tb)[s][r][0], th = (*tb)[s][r][1];                                \
                UNROLL for (int v = 0; v < W; v++) acc[r][v] =                                     \
                    VXOR3(acc[r][v], VSHUF(tl, l[v]), VSHUF(th, h[v]));                            \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < W; v++)                      \
            STORE_OUT(dst[r] + x + (size_t)v * VBYTES, acc[r][v]);                                 \
    } while (0)

#ifdef VSTREAM
#define STORE_OUT(p, v)                                                                            \
    do {                                                                                           \
        if (flags & P_STREAM)                                                                      \
            VSTREAM(p, v);                                                                         \
        else                                                                                       \
            VSTORE(p, v);                                                                          \
    } while (0)
#else
#define STORE_OUT(p, v) VSTORE(p, v)
#endif

/* One pass of R rows over sources [0, ns) for bytes [off, off + n), n a
 * multiple of VBYTES: steps of NV vectors, then single vectors. */
static inline __attribute__((always_inline)) void
FN(pass)(const int R, uint8_t *const *dst, const uint8_t *const *src, size_t ns,
         const FN(tblk) * tb, size_t off, size_t n, unsigned flags, size_t pfd)
{
    const VEC m = VSET1(0x0f);
    size_t x = off, end = off + n;
    for (; x + NV * VBYTES <= end; x += NV * VBYTES)
        STEP_BODY(NV);
    for (; x < end; x += VBYTES)
        STEP_BODY(1);
}

static void FN(dot)(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
                    const uint8_t *coef, size_t len, int accumulate);

/* Bytes [0, lead) of every row, lead < VBYTES <= len: one full vector of
 * each row computed into scratch rows by the vector kernel, of which the
 * first lead bytes are kept. */
static void
FN(dot_head)(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
             const uint8_t *coef, size_t lead, int accumulate)
{
    _Alignas(64) uint8_t tmp[ROWS][VBYTES];
    uint8_t *tp[ROWS];
    for (size_t r0 = 0; r0 < nrows; r0 += ROWS) {
        size_t rr = nrows - r0 < ROWS ? nrows - r0 : ROWS;
        for (size_t r = 0; r < rr; r++) {
            tp[r] = tmp[r];
            if (accumulate)
                memcpy(tmp[r], dst[r0 + r], VBYTES);
        }
        FN(dot)(tp, rr, src, nsrc, coef + r0 * nsrc, VBYTES, accumulate);
        for (size_t r = 0; r < rr; r++)
            memcpy(dst[r0 + r], tmp[r], lead);
    }
}

static void
FN(dot)(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
        const uint8_t *coef, size_t len, int accumulate)
{
    if (len == 0 || nrows == 0)
        return;
    if (nsrc == 0) {
        if (!accumulate)
            for (size_t r = 0; r < nrows; r++)
                memset(dst[r], 0, len);
        return;
    }
    /* Shard payloads sit 12 + k bytes into their buffers, so the rows often
     * share one misalignment. Then the first lead bytes are done apart, and
     * the vector loop starts at lead, where every store is aligned: a store
     * split over two cache lines costs more than a split load. The head
     * costs about one chunk's table set-up, so only long rows get one. */
    weft_gf_plan plan;
    weft_gf_plan_make(&plan, NV * VBYTES, SRC_BLOCK, ROWS, nsrc, nrows, len);
    size_t lead = 0;
    if (len >= 16 * plan.chunk) {
        lead = (VBYTES - (uintptr_t)dst[0] % VBYTES) % VBYTES;
        for (size_t r = 1; r < nrows && lead; r++)
            if ((VBYTES - (uintptr_t)dst[r] % VBYTES) % VBYTES != lead)
                lead = 0;
    }
    if (lead)
        FN(dot_head)(dst, nrows, src, nsrc, coef, lead, accumulate);
    size_t vlen = lead + (len - lead) / VBYTES * VBYTES;
    const size_t chunk = plan.chunk;
    int streamed = 0;

    _Alignas(64) FN(tblk) tb;
    for (size_t off = lead; off < vlen; off += chunk) {
        size_t n = vlen - off < chunk ? vlen - off : chunk;
        /* The next chunk is whole (prefetching past the end is avoided). */
        int pf_chunk = plan.prefetch && off + 2 * chunk <= vlen;
        for (size_t r0 = 0; r0 < nrows; r0 += ROWS) {
            size_t rr = nrows - r0 < ROWS ? nrows - r0 : ROWS;
            uint8_t *const *d = dst + r0;
            int aligned = 1;
            for (size_t r = 0; r < rr; r++)
                aligned &= ((uintptr_t)(d[r] + lead) % VBYTES) == 0;
            for (size_t s0 = 0; s0 < nsrc; s0 += SRC_BLOCK) {
                size_t ss = nsrc - s0 < SRC_BLOCK ? nsrc - s0 : SRC_BLOCK;
                for (size_t s = 0; s < ss; s++)
                    for (size_t r = 0; r < rr; r++) {
                        const uint8_t *t = weft_gf_nib_table[coef[(r0 + r) * nsrc + s0 + s]];
                        tb[s][r][0] = VBCAST16(t);
                        tb[s][r][1] = VBCAST16(t + 16);
                    }
                unsigned flags = 0;
                if (!accumulate && s0 == 0)
                    flags |= P_FIRST;
                if (pf_chunk && r0 == 0)
                    flags |= P_PF;
#ifdef VSTREAM
                if (plan.stream && aligned && s0 + ss == nsrc) {
                    flags |= P_STREAM;
                    streamed = 1;
                }
#endif
                const uint8_t *const *sp = src + s0;
                /* Each row count and flag set gets its own copy of the pass, so
                 * that the tests on flags fold away inside the loops. */
#define PASS(k, f) FN(pass)(k, d, sp, ss, (const FN(tblk) *)&tb, off, n, f, chunk)
#define FLAGS(k)                                                                                   \
    switch (flags) {                                                                               \
    case 0: PASS(k, 0); break;                                                                     \
    case P_FIRST: PASS(k, P_FIRST); break;                                                         \
    case P_PF: PASS(k, P_PF); break;                                                               \
    case P_PF | P_FIRST: PASS(k, P_PF | P_FIRST); break;                                           \
    default: PASS(k, flags); break;                                                                \
    }
                switch (rr) {
                case 1: FLAGS(1); break;
                case 2: FLAGS(2); break;
                case 3: FLAGS(3); break;
#if ROWS > 4
                case 4: FLAGS(4); break;
                case 5: FLAGS(5); break;
                case 6: FLAGS(6); break;
                case 7: FLAGS(7); break;
                default: FLAGS(8); break;
#else
                default: FLAGS(4); break;
#endif
                }
#undef FLAGS
#undef PASS
            }
        }
    }
#ifdef VSTREAM
    if (streamed)
        VFENCE();
#endif
    (void)streamed;
    if (vlen < len) {
        size_t tail = len - vlen;
        for (size_t r = 0; r < nrows; r++) {
            if (!accumulate)
                memset(dst[r] + vlen, 0, tail);
            for (size_t s = 0; s < nsrc; s++)
                weft_gf_ref_muladd(dst[r] + vlen, src[s] + vlen, coef[r * nsrc + s], tail);
        }
    }
}
