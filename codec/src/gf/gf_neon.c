/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NEON kernels (AArch64): split 4-bit tables looked up with vqtbl1q_u8,
 * 16 bytes a step.
 */
#include <arm_neon.h>

#include "gf_internal.h"

typedef struct {
    uint8x16_t lo, hi;
} nib_tbl;
typedef struct {
    uint8x16_t l, h;
} nib_src;

static inline nib_tbl
tbl_make(uint8_t c)
{
    nib_tbl t = {vld1q_u8(weft_gf_nib_table[c]), vld1q_u8(weft_gf_nib_table[c] + 16)};
    return t;
}

static inline nib_src
xprep(uint8x16_t x)
{
    nib_src s = {vandq_u8(x, vdupq_n_u8(0x0f)), vshrq_n_u8(x, 4)};
    return s;
}

static inline uint8x16_t
mult(nib_src s, nib_tbl t)
{
    return veorq_u8(vqtbl1q_u8(t.lo, s.l), vqtbl1q_u8(t.hi, s.h));
}

#define SET neon
#define VEC uint8x16_t
#define VBYTES 16
#define VLOAD(p) vld1q_u8((const uint8_t *)(p))
#define VSTORE(p, v) vst1q_u8((uint8_t *)(p), (v))
#define VXOR(a, b) veorq_u8((a), (b))
#define VZERO() vdupq_n_u8(0)
#define TBL nib_tbl
#define TBL_MAKE(c) tbl_make(c)
#define XP nib_src
#define XPREP(v) xprep(v)
#define MULT(p, t) mult((p), (t))
#define ROWS 4
#include "gf_simd_tmpl.h"

const weft_gf_kernels weft_gf_neon_kernels = {
    .name = "neon",
    .needs = WEFT_CPU_NEON,
    .mul = mul_neon,
    .muladd = muladd_neon,
    .dot = dot_neon,
};
