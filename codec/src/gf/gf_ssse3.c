/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SSSE3 kernels: split 4-bit tables looked up with pshufb, 16 bytes a step.
 * Compiled with -mssse3 only.
 */
#include <tmmintrin.h>

#include "gf_internal.h"

typedef struct {
    __m128i lo, hi;
} nib_tbl;
typedef struct {
    __m128i l, h;
} nib_src;

static inline nib_tbl
tbl_make(uint8_t c)
{
    nib_tbl t = {_mm_loadu_si128((const __m128i *)weft_gf_nib_table[c]),
                 _mm_loadu_si128((const __m128i *)(weft_gf_nib_table[c] + 16))};
    return t;
}

static inline nib_src
xprep(__m128i x)
{
    const __m128i m = _mm_set1_epi8(0x0f);
    nib_src s = {_mm_and_si128(x, m), _mm_and_si128(_mm_srli_epi64(x, 4), m)};
    return s;
}

static inline __m128i
mult(nib_src s, nib_tbl t)
{
    return _mm_xor_si128(_mm_shuffle_epi8(t.lo, s.l), _mm_shuffle_epi8(t.hi, s.h));
}

#define SET ssse3
#define VEC __m128i
#define VBYTES 16
#define VLOAD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define VSTORE(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define VXOR(a, b) _mm_xor_si128((a), (b))
#define VZERO() _mm_setzero_si128()
#define TBL nib_tbl
#define TBL_MAKE(c) tbl_make(c)
#define XP nib_src
#define XPREP(v) xprep(v)
#define MULT(p, t) mult((p), (t))
#define ROWS 4
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_ssse3_kernels = {
    .name = "ssse3",
    .needs = WEFT_CPU_SSSE3,
    .mul = mul_ssse3,
    .muladd = muladd_ssse3,
    .dot = dot_ssse3,
};
