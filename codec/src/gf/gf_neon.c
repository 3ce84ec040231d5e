/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NEON kernels (AArch64): split 4-bit tables looked up with tbl, 16 bytes a
 * vector, two vectors of up to 4 rows a step. Correctness is checked under
 * qemu (make test-arm64); speed has not been measured on Arm hardware.
 */
#include <arm_neon.h>

#include "gf_internal.h"

#define SET neon
#define VEC uint8x16_t
#define VBYTES 16
#define NV 2
#define VLOAD(p) vld1q_u8((const uint8_t *)(p))
#define VSTORE(p, v) vst1q_u8((uint8_t *)(p), (v))
#define VXOR(a, b) veorq_u8((a), (b))
#define VAND(a, b) vandq_u8((a), (b))
#define VZERO() vdupq_n_u8(0)
#define VSET1(b) vdupq_n_u8((uint8_t)(b))
#define VSRL4(v) vshrq_n_u8((v), 4)
#define VHI(v, m) vshrq_n_u8((v), 4)
#define VBCAST16(p) vld1q_u8((const uint8_t *)(p))
#define VSHUF(t, i) vqtbl1q_u8((t), (i))
#include "gf_nib_tmpl.h"

const weft_gf_kernels weft_gf_neon_kernels = {
    .name = "neon",
    .needs = WEFT_CPU_NEON,
    .mul = mul_neon,
    .muladd = muladd_neon,
    .dot = dot_neon,
};
