/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Portable kernels: one 256-byte row of the multiplication table per
 * constant. Always built; the oracle the SIMD sets are tested against, and
 * the tail handler for lengths that are not a multiple of a vector.
 */
#include <string.h>

#include "gf_internal.h"

void
weft_gf_ref_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    const uint8_t *t = weft_gf_mul_table[c];
    for (size_t x = 0; x < len; x++)
        dst[x] = t[src[x]];
}

void
weft_gf_ref_muladd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    if (c == 0)
        return;
    const uint8_t *t = weft_gf_mul_table[c];
    for (size_t x = 0; x < len; x++)
        dst[x] ^= t[src[x]];
}

static void
ref_dot(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
        const uint8_t *coef, size_t len, int accumulate)
{
    for (size_t r = 0; r < nrows; r++) {
        if (!accumulate && len)
            memset(dst[r], 0, len);
        for (size_t i = 0; i < nsrc; i++)
            weft_gf_ref_muladd(dst[r], src[i], coef[r * nsrc + i], len);
    }
}

const weft_gf_kernels weft_gf_ref_kernels = {
    .name = "ref",
    .needs = 0,
    .mul = weft_gf_ref_mul,
    .muladd = weft_gf_ref_muladd,
    .dot = ref_dot,
};
