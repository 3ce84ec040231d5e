/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AVX-512BW kernels (no GFNI: Skylake-X, Cascade Lake, Zen 4 without the
 * gfni set): split 4-bit tables with vpshufb on 64-byte vectors, the three
 * way xor with vpternlogq, two vectors (128 bytes) of up to 4 rows a step
 * in the 32 zmm registers. Compiled with -mavx512f -mavx512bw -mavx512vl
 * only.
 */
#include <immintrin.h>

#include "gf_internal.h"

#define SET avx512
#define VEC __m512i
#define VBYTES 64
#define NV 2
#define ROWS 8
#define VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define VSTORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define VSTREAM(p, v) _mm512_stream_si512((void *)(p), (v))
#define VFENCE() _mm_sfence()
#define VXOR(a, b) _mm512_xor_si512((a), (b))
#define VXOR3(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0x96)
#define VAND(a, b) _mm512_and_si512((a), (b))
#define VZERO() _mm512_setzero_si512()
#define VSET1(b) _mm512_set1_epi8((char)(b))
#define VSRL4(v) _mm512_srli_epi64((v), 4)
#define VBCAST16(p) _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define VSHUF(t, i) _mm512_shuffle_epi8((t), (i))
#define VPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#include "gf_nib_tmpl.h"

const weft_gf_kernels weft_gf_avx512_kernels = {
    .name = "avx512",
    .needs = WEFT_CPU_AVX512BW,
    .mul = mul_avx512,
    .muladd = muladd_avx512,
    .dot = dot_avx512,
};
