/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GF(2^8) tables for polynomial 0x11D, all derived from one shift-and-add
 * multiply so that every kernel rests on the same definition.
 */
#include "gf_internal.h"

uint8_t weft_gf_mul_table[256][256];
uint8_t weft_gf_inv_table[256];
uint8_t weft_gf_nib_table[256][32];
uint64_t weft_gf_affine_table[256];

/* Shift-and-add multiply: the definition the tables are built from. */
static uint8_t
gf_mul_slow(uint8_t a, uint8_t b)
{
    unsigned p = 0, x = a;
    for (int i = 0; i < 8; i++) {
        if (b & (1u << i))
            p ^= x;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11D;
    }
    return (uint8_t)p;
}

/*
 * gf2p8affineqb computes, for each byte x, result bit i = parity(A_i & x),
 * where row A_i is byte (7 - i) of the 64-bit matrix operand. For the linear
 * map x -> c*x, bit j of x contributes c*2^j, so row i has bit j set when bit
 * i of c*2^j is set.
 */
static uint64_t
affine_for(uint8_t c)
{
    uint8_t col[8];
    for (int j = 0; j < 8; j++)
        col[j] = gf_mul_slow(c, (uint8_t)(1u << j));
    uint64_t m = 0;
    for (int i = 0; i < 8; i++) {
        unsigned row = 0;
        for (int j = 0; j < 8; j++)
            row |= (((unsigned)col[j] >> i) & 1u) << j;
        m |= (uint64_t)row << (8 * (7 - i));
    }
    return m;
}

void
weft_gf_tables_init(void)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            weft_gf_mul_table[a][b] = gf_mul_slow((uint8_t)a, (uint8_t)b);
    weft_gf_inv_table[0] = 0;
    for (unsigned a = 1; a < 256; a++)
        for (unsigned b = 1; b < 256; b++)
            if (weft_gf_mul_table[a][b] == 1) {
                weft_gf_inv_table[a] = (uint8_t)b;
                break;
            }
    for (unsigned c = 0; c < 256; c++) {
        for (unsigned n = 0; n < 16; n++) {
            weft_gf_nib_table[c][n] = weft_gf_mul_table[c][n];
            weft_gf_nib_table[c][16 + n] = weft_gf_mul_table[c][n << 4];
        }
        weft_gf_affine_table[c] = affine_for((uint8_t)c);
    }
}
