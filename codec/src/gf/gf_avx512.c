/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AVX-512BW kernels: split 4-bit tables with vpshufb on 64-byte vectors,
 * three-way xor with vpternlogq. Compiled with -mavx512f -mavx512bw
 * -mavx512vl only.
 */
#include <immintrin.h>

#include "gf_internal.h"

typedef struct {
    __m512i lo, hi;
} nib_tbl;
typedef struct {
    __m512i l, h;
} nib_src;

static inline nib_tbl
tbl_make(uint8_t c)
{
    nib_tbl t = {
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)weft_gf_nib_table[c])),
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(weft_gf_nib_table[c] + 16)))};
    return t;
}

static inline nib_src
xprep(__m512i x)
{
    const __m512i m = _mm512_set1_epi8(0x0f);
    nib_src s = {_mm512_and_si512(x, m), _mm512_and_si512(_mm512_srli_epi64(x, 4), m)};
    return s;
}

static inline __m512i
mult(nib_src s, nib_tbl t)
{
    return _mm512_xor_si512(_mm512_shuffle_epi8(t.lo, s.l), _mm512_shuffle_epi8(t.hi, s.h));
}

#define SET avx512
#define VEC __m512i
#define VBYTES 64
#define VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define VSTORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define VXOR(a, b) _mm512_xor_si512((a), (b))
#define VXOR3(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0x96)
#define VZERO() _mm512_setzero_si512()
#define TBL nib_tbl
#define TBL_MAKE(c) tbl_make(c)
#define XP nib_src
#define XPREP(v) xprep(v)
#define MULT(p, t) mult((p), (t))
#define ROWS 4
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_avx512_kernels = {
    .name = "avx512",
    .needs = WEFT_CPU_AVX512BW,
    .mul = mul_avx512,
    .muladd = muladd_avx512,
    .dot = dot_avx512,
};
