/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SSSE3 kernels: split 4-bit tables looked up with pshufb, 16 bytes a
 * vector, two vectors of up to 4 rows a step (the 16 xmm registers hold 8
 * accumulators, 4 nibble vectors, 2 tables and the mask; four vectors a
 * step would spill). Compiled with -mssse3 only.
 */
#include <tmmintrin.h>

#include "gf_internal.h"

#define SET ssse3
#define VEC __m128i
#define VBYTES 16
#define NV 1
#define ROWS 8
#define VLOAD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define VSTORE(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define VSTREAM(p, v) _mm_stream_si128((__m128i *)(void *)(p), (v))
#define VFENCE() _mm_sfence()
#define VXOR(a, b) _mm_xor_si128((a), (b))
#define VAND(a, b) _mm_and_si128((a), (b))
#define VZERO() _mm_setzero_si128()
#define VSET1(b) _mm_set1_epi8((char)(b))
#define VSRL4(v) _mm_srli_epi64((v), 4)
#define VBCAST16(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define VSHUF(t, i) _mm_shuffle_epi8((t), (i))
#define VPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#include "gf_nib_tmpl.h"

const weft_gf_kernels weft_gf_ssse3_kernels = {
    .name = "ssse3",
    .needs = WEFT_CPU_SSSE3,
    .mul = mul_ssse3,
    .muladd = muladd_ssse3,
    .dot = dot_ssse3,
};
