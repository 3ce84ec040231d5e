/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AVX2 kernels: split 4-bit tables looked up with vpshufb, 32 bytes a
 * vector, two vectors (64 bytes) of up to 4 rows a step: 8 accumulators,
 * 4 nibble vectors, 2 table registers and the mask fill the 16 ymm
 * registers. Compiled with -mavx2 only.
 */
#include <immintrin.h>

#include "gf_internal.h"

#define SET avx2
#define VEC __m256i
#define VBYTES 32
#define NV 1
#define ROWS 8
#define VLOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VSTORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define VSTREAM(p, v) _mm256_stream_si256((__m256i *)(void *)(p), (v))
#define VFENCE() _mm_sfence()
#define VXOR(a, b) _mm256_xor_si256((a), (b))
#define VAND(a, b) _mm256_and_si256((a), (b))
#define VZERO() _mm256_setzero_si256()
#define VSET1(b) _mm256_set1_epi8((char)(b))
#define VSRL4(v) _mm256_srli_epi64((v), 4)
#define VBCAST16(p) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define VSHUF(t, i) _mm256_shuffle_epi8((t), (i))
#define VPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#include "gf_nib_tmpl.h"

const weft_gf_kernels weft_gf_avx2_kernels = {
    .name = "avx2",
    .needs = WEFT_CPU_AVX2,
    .mul = mul_avx2,
    .muladd = muladd_avx2,
    .dot = dot_avx2,
};
