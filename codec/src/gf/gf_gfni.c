/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GFNI kernels on 64-byte vectors: gf2p8affineqb with the 8x8 bit matrix of
 * x -> c*x for polynomial 0x11D (gf2p8mulb alone would use 0x11B), and
 * vpternlogq to fold two products into an accumulator per instruction.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mgfni only.
 */
#include <immintrin.h>

#include "gf_internal.h"

/* The matrix as a register. clang folds a broadcast from memory into the
 * affine instruction ({1to8}), and clang 14's assembler encodes the
 * displacement of that form wrongly (fixed in LLVM 20); the empty asm keeps
 * the broadcast a separate instruction, as GCC emits it anyway. */
static inline __m512i
bcast(uint64_t m)
{
    __m512i v = _mm512_set1_epi64((long long)m);
#if defined(__clang__)
    __asm__("" : "+v"(v));
#endif
    return v;
}

#define SET gfni
#define VEC __m512i
#define VBYTES 64
#define VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define VSTORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define VXOR(a, b) _mm512_xor_si512((a), (b))
#define VXOR3(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0x96)
#define VZERO() _mm512_setzero_si512()
#define TBL uint64_t
#define TBL_MAKE(c) weft_gf_affine_table[(c)]
#define XP __m512i
#define XPREP(v) (v)
#define MULT(p, t) _mm512_gf2p8affine_epi64_epi8((p), bcast(t), 0)
#define TBL_BCAST(t) _mm512_set1_epi64((long long)(t))
#define MULTV(p, m) _mm512_gf2p8affine_epi64_epi8((p), (m), 0)
#define ROWS 8
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_gfni_kernels = {
    .name = "gfni",
    .needs = WEFT_CPU_GFNI | WEFT_CPU_AVX512BW,
    .mul = mul_gfni,
    .muladd = muladd_gfni,
    .dot = dot_gfni,
};
