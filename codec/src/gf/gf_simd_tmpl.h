/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One body for every SIMD kernel set. The including file (compiled with its
 * ISA's flags only) defines:
 *   SET            name token (ssse3, avx2, ...) used in function names
 *   VEC, VBYTES    vector type and width in bytes
 *   VLOAD(p) VSTORE(p, v) VXOR(a, b) VZERO()      unaligned load/store, xor
 *   TBL, TBL_MAKE(c)     per-constant multiplier state (tables or bit matrix)
 *   XP, XPREP(v)         a source vector prepared once for several rows
 *   MULT(xp, tbl)        product of a prepared source and a constant
 *   ROWS                 destination rows per pass (accumulators)
 * and optionally VXOR3(a, b, c).
 *
 * The fused dot kernel walks the length in chunks sized so that one block
 * of sources stays in L1 while every group of ROWS destinations passes over
 * it; each source vector is loaded once per group and multiplied into ROWS
 * accumulators. Partial vectors at the end go to the portable kernels.
 */
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(x) CAT(CAT(x, _), SET)

/* With a three-way xor (vpternlogq), fold two sources per accumulator update. */
#ifdef VXOR3
#define SRC_STEP 2
#else
#define SRC_STEP 1
#define VXOR3(a, b, c) VXOR(VXOR(a, b), c)
#endif

#define SRC_BLOCK 16
#define PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define UNROLL PRAGMA(clang loop unroll(full))
#else
#define UNROLL PRAGMA(GCC unroll 8)
#endif /* sources whose tables are prepared at once */

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
    const TBL t = TBL_MAKE(c);
    size_t x = 0;
    for (; x + 2 * VBYTES <= len; x += 2 * VBYTES) {
        VEC a = VLOAD(src + x), b = VLOAD(src + x + VBYTES);
        XP pa = XPREP(a), pb = XPREP(b);
        VSTORE(dst + x, MULT(pa, t));
        VSTORE(dst + x + VBYTES, MULT(pb, t));
    }
    for (; x + VBYTES <= len; x += VBYTES) {
        XP pa = XPREP(VLOAD(src + x));
        VSTORE(dst + x, MULT(pa, t));
    }
    if (x < len)
        weft_gf_ref_mul(dst + x, src + x, c, len - x);
}

static void
FN(muladd)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    if (c == 0)
        return;
    const TBL t = TBL_MAKE(c);
    size_t x = 0;
    for (; x + 2 * VBYTES <= len; x += 2 * VBYTES) {
        VEC a = VLOAD(src + x), b = VLOAD(src + x + VBYTES);
        XP pa = XPREP(a), pb = XPREP(b);
        VSTORE(dst + x, VXOR(VLOAD(dst + x), MULT(pa, t)));
        VSTORE(dst + x + VBYTES, VXOR(VLOAD(dst + x + VBYTES), MULT(pb, t)));
    }
    for (; x + VBYTES <= len; x += VBYTES) {
        XP pa = XPREP(VLOAD(src + x));
        VSTORE(dst + x, VXOR(VLOAD(dst + x), MULT(pa, t)));
    }
    if (x < len)
        weft_gf_ref_muladd(dst + x, src + x, c, len - x);
}

/* One pass of R rows over sources [0, ns) for bytes [off, off + n). The
 * tables tb[s][r] are ready; first says the rows start from zero. */
static inline __attribute__((always_inline)) void
FN(pass)(const int R, uint8_t *const *dst, const uint8_t *const *src, size_t ns,
         const TBL (*tb)[ROWS], size_t off, size_t n, int first)
{
    for (size_t x = off; x < off + n; x += VBYTES) {
        VEC acc[ROWS];
        if (first) {
            UNROLL for (int r = 0; r < R; r++) acc[r] = VZERO();
        } else {
            UNROLL for (int r = 0; r < R; r++) acc[r] = VLOAD(dst[r] + x);
        }
        size_t s = 0;
        for (; SRC_STEP == 2 && s + 2 <= ns; s += 2) {
            XP p0 = XPREP(VLOAD(src[s] + x));
            XP p1 = XPREP(VLOAD(src[s + 1] + x));
            UNROLL for (int r = 0; r < R; r++) acc[r] =
                VXOR3(acc[r], MULT(p0, tb[s][r]), MULT(p1, tb[s + 1][r]));
        }
        for (; s < ns; s++) {
            XP p0 = XPREP(VLOAD(src[s] + x));
            UNROLL for (int r = 0; r < R; r++) acc[r] = VXOR(acc[r], MULT(p0, tb[s][r]));
        }
        UNROLL for (int r = 0; r < R; r++) VSTORE(dst[r] + x, acc[r]);
    }
}

#ifdef TBL_BCAST
/* Single-row pass for sets whose per-constant state fits one register:
 * the (up to SRC_BLOCK) multipliers stay in registers for the whole pass
 * and two vectors advance per step, so each source pointer is read once per
 * 2 * VBYTES. This is the decoder's elimination step. */
#define UNROLL_SB PRAGMA(GCC unroll 16)
static inline __attribute__((always_inline)) void
FN(pass1)(uint8_t *dst, const uint8_t *const *src, size_t ns, const TBL (*tb)[ROWS], size_t off,
          size_t n, int first)
{
    VEC m[SRC_BLOCK];
    UNROLL_SB for (size_t s = 0; s < SRC_BLOCK; s++) m[s] = s < ns ? TBL_BCAST(tb[s][0]) : VZERO();
    size_t x = off, end = off + n;
    for (; x + 2 * VBYTES <= end; x += 2 * VBYTES) {
        VEC a0 = first ? VZERO() : VLOAD(dst + x);
        VEC a1 = first ? VZERO() : VLOAD(dst + x + VBYTES);
        UNROLL_SB for (size_t s = 0; s < SRC_BLOCK; s++)
        {
            if (s < ns) {
                const uint8_t *p = src[s] + x;
                a0 = VXOR(a0, MULTV(VLOAD(p), m[s]));
                a1 = VXOR(a1, MULTV(VLOAD(p + VBYTES), m[s]));
            }
        }
        VSTORE(dst + x, a0);
        VSTORE(dst + x + VBYTES, a1);
    }
    for (; x < end; x += VBYTES) {
        VEC a0 = first ? VZERO() : VLOAD(dst + x);
        UNROLL_SB for (size_t s = 0; s < SRC_BLOCK; s++)
        {
            if (s < ns)
                a0 = VXOR(a0, MULTV(VLOAD(src[s] + x), m[s]));
        }
        VSTORE(dst + x, a0);
    }
}
#endif

static void
FN(dot)(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
        const uint8_t *coef, size_t len, int accumulate)
{
    if (len == 0 || nrows == 0)
        return;
    size_t vlen = len - len % VBYTES;
    if (nsrc == 0) {
        if (!accumulate)
            for (size_t r = 0; r < nrows; r++)
                memset(dst[r], 0, len);
        return;
    }
    size_t sb = nsrc < SRC_BLOCK ? nsrc : SRC_BLOCK;
    size_t chunk = (size_t)32768 / (sb + ROWS);
    chunk -= chunk % VBYTES;
    if (chunk < 4 * VBYTES)
        chunk = 4 * VBYTES;

    TBL tb[SRC_BLOCK][ROWS];
    for (size_t off = 0; off < vlen; off += chunk) {
        size_t n = vlen - off < chunk ? vlen - off : chunk;
        for (size_t r0 = 0; r0 < nrows; r0 += ROWS) {
            size_t rr = nrows - r0 < ROWS ? nrows - r0 : ROWS;
            for (size_t s0 = 0; s0 < nsrc; s0 += SRC_BLOCK) {
                size_t ss = nsrc - s0 < SRC_BLOCK ? nsrc - s0 : SRC_BLOCK;
                for (size_t s = 0; s < ss; s++)
                    for (size_t r = 0; r < rr; r++)
                        tb[s][r] = TBL_MAKE(coef[(r0 + r) * nsrc + s0 + s]);
                int first = !accumulate && s0 == 0;
                uint8_t *const *d = dst + r0;
                const uint8_t *const *sp = src + s0;
#ifdef TBL_BCAST
                if (rr == 1) {
                    FN(pass1)(d[0], sp, ss, (const TBL(*)[ROWS])tb, off, n, first);
                    continue;
                }
#endif
                switch (rr) {
#define CASE(k)                                                                                    \
    case k: FN(pass)(k, d, sp, ss, (const TBL(*)[ROWS])tb, off, n, first); break;
                    CASE(1)
                    CASE(2)
                    CASE(3)
                    CASE(4)
#if ROWS > 4
                    CASE(5)
                    CASE(6)
                    CASE(7)
                    CASE(8)
#endif
#undef CASE
                default: __builtin_unreachable();
                }
            }
        }
    }
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
