/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GFNI kernels on 32-byte vectors (VEX-encoded gf2p8affineqb), for CPUs with
 * GFNI and AVX2 but no AVX-512. Same bit matrices as gf_gfni.c. Compiled
 * with -mavx2 -mgfni only.
 */
#include <immintrin.h>

#include "gf_internal.h"

#define SET gfni256
#define VEC __m256i
#define VBYTES 32
#define VLOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VSTORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define VXOR(a, b) _mm256_xor_si256((a), (b))
#define VZERO() _mm256_setzero_si256()
#define TBL uint64_t
#define TBL_MAKE(c) weft_gf_affine_table[(c)]
#define XP __m256i
#define XPREP(v) (v)
#define MULT(p, t) _mm256_gf2p8affine_epi64_epi8((p), _mm256_set1_epi64x((long long)(t)), 0)
#define TBL_BCAST(t) _mm256_set1_epi64x((long long)(t))
#define MULTV(p, m) _mm256_gf2p8affine_epi64_epi8((p), (m), 0)
#define ROWS 4
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_gfni256_kernels = {
    .name = "gfni256",
    .needs = WEFT_CPU_GFNI | WEFT_CPU_AVX2,
    .mul = mul_gfni256,
    .muladd = muladd_gfni256,
    .dot = dot_gfni256,
};
