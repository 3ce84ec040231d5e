/* SPDX-License-Identifier: Apache-2.0 */
/* SipHash-2-4 against the reference vectors of its paper (key 00..0f,
 * messages 00, 00 01, ...), and CRC-64/GO-ISO against its check value. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "weft/crc64.h"
#include "weft/siphash.h"

static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

Test(siphash, paper_vector_15_bytes)
{
    uint8_t m[15];
    for (int i = 0; i < 15; i++)
        m[i] = (uint8_t)i;
    cr_assert_eq(weft_siphash24(key, m, sizeof m), 0xa129ca6149be45e5ull);
}

Test(siphash, reference_vectors_first_and_eighth)
{
    /* vectors[0] (empty) and vectors[8] (00..07) of the reference code,
     * read as little-endian numbers. */
    cr_assert_eq(weft_siphash24(key, "", 0), 0x726fdb47dd0e0e31ull);
    uint8_t m[8];
    for (int i = 0; i < 8; i++)
        m[i] = (uint8_t)i;
    cr_assert_eq(weft_siphash24(key, m, 8), 0x93f5f5799a932462ull);
}

Test(siphash, key_and_length_matter)
{
    uint8_t k2[16];
    memcpy(k2, key, 16);
    k2[15] ^= 1;
    cr_assert_neq(weft_siphash24(key, "client-1", 8), weft_siphash24(k2, "client-1", 8));
    cr_assert_neq(weft_siphash24(key, "a\0", 2), weft_siphash24(key, "a", 1));
}

Test(crc64, check_value)
{
    cr_assert_eq(weft_crc64_iso((const uint8_t *)"123456789", 9), 0xb90956c775a41001ull);
    cr_assert_eq(weft_crc64_iso(NULL, 0), 0);
}
