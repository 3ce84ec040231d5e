/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AVX2 kernels: split 4-bit tables looked up with vpshufb, 32 bytes a step.
 * Compiled with -mavx2 only.
 */
#include <immintrin.h>

#include "gf_internal.h"

typedef struct {
    __m256i lo, hi;
} nib_tbl;
typedef struct {
    __m256i l, h;
} nib_src;

static inline nib_tbl
tbl_make(uint8_t c)
{
    nib_tbl t = {
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)weft_gf_nib_table[c])),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(weft_gf_nib_table[c] + 16)))};
    return t;
}

static inline nib_src
xprep(__m256i x)
{
    const __m256i m = _mm256_set1_epi8(0x0f);
    nib_src s = {_mm256_and_si256(x, m), _mm256_and_si256(_mm256_srli_epi64(x, 4), m)};
    return s;
}

static inline __m256i
mult(nib_src s, nib_tbl t)
{
    return _mm256_xor_si256(_mm256_shuffle_epi8(t.lo, s.l), _mm256_shuffle_epi8(t.hi, s.h));
}

#define SET avx2
#define VEC __m256i
#define VBYTES 32
#define VLOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VSTORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define VXOR(a, b) _mm256_xor_si256((a), (b))
#define VZERO() _mm256_setzero_si256()
#define TBL nib_tbl
#define TBL_MAKE(c) tbl_make(c)
#define XP nib_src
#define XPREP(v) xprep(v)
#define MULT(p, t) mult((p), (t))
#define ROWS 4
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_avx2_kernels = {
    .name = "avx2",
    .needs = WEFT_CPU_AVX2,
    .mul = mul_avx2,
    .muladd = muladd_avx2,
    .dot = dot_avx2,
};
