/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scalar GF(2^8) arithmetic: weft_gf_mul, weft_gf_inv and weft_gf_div must
 * form the field with polynomial 0x11D. Checked exhaustively where 2^16
 * pairs are cheap (agreement with an independent shift-and-add multiply,
 * commutativity, identities, no zero divisors, inverses, division), on
 * random triples for associativity and distributivity, plus known answers
 * that tell 0x11D apart from the AES polynomial 0x11B, and the order of the
 * generator 2.
 */
#include "testutil.h"

/* First 32 powers of the generator 2 under 0x11D, as tabulated for
 * Reed-Solomon codes (computed independently of weft). */
static const uint8_t exp2_kat[32] = {
    1,  2,   4,  8,  16,  32,  64,  128, 29,  58, 116, 232, 205, 135, 19, 38,
    76, 152, 45, 90, 180, 117, 234, 201, 143, 3,  6,   12,  24,  48,  96, 192,
};

Test(gf, mul_matches_shift_and_add)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            uint8_t got = weft_gf_mul((uint8_t)a, (uint8_t)b);
            uint8_t want = slow_mul((uint8_t)a, (uint8_t)b);
            cr_assert_eq(got, want, "weft_gf_mul(0x%02x, 0x%02x) = 0x%02x, want 0x%02x", a, b, got,
                         want);
        }
}

Test(gf, known_answers)
{
    static const struct {
        uint8_t a, b, p;
    } kat[] = {
        /* x * x^7 = x^8 = x^4 + x^3 + x^2 + 1: names the polynomial. */
        {0x02, 0x80, 0x1D},
        {0x80, 0x80, 0x13},
        /* Inverses under AES's 0x11B, but not under 0x11D. */
        {0x53, 0xCA, 0x8F},
        {0xFF, 0xFF, 0xE2},
        {0x02, 0x8E, 0x01},
        {0x03, 0xF4, 0x01},
        {0x00, 0xAB, 0x00},
        {0x01, 0xAB, 0xAB},
    };
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint8_t got = weft_gf_mul(kat[i].a, kat[i].b);
        cr_assert_eq(got, kat[i].p, "0x%02x * 0x%02x = 0x%02x, want 0x%02x", kat[i].a, kat[i].b,
                     got, kat[i].p);
    }
    cr_assert_eq(weft_gf_inv(0x02), 0x8E, "inv(2) = 0x%02x, want 0x8e", weft_gf_inv(0x02));
    cr_assert_eq(weft_gf_inv(0x53), 0x8C, "inv(0x53) = 0x%02x, want 0x8c", weft_gf_inv(0x53));
    cr_assert_eq(weft_gf_inv(0xFF), 0xFD, "inv(0xff) = 0x%02x, want 0xfd", weft_gf_inv(0xFF));
}

Test(gf, generator_2_powers_match_table)
{
    uint8_t x = 1;
    for (int i = 0; i < 32; i++) {
        cr_assert_eq(x, exp2_kat[i], "2^%d = 0x%02x, want 0x%02x", i, x, exp2_kat[i]);
        x = weft_gf_mul(x, 2);
    }
}

Test(gf, generator_2_has_order_255)
{
    uint8_t seen[256] = {0};
    uint8_t x = 1;
    for (int i = 1; i <= 255; i++) {
        x = weft_gf_mul(x, 2);
        cr_assert_neq(x, 0, "2^%d = 0", i);
        if (i < 255)
            cr_assert_neq(x, 1, "2^%d = 1: order of 2 is %d, not 255 (wrong polynomial?)", i, i);
        cr_assert_eq(seen[x], 0, "2^%d = 0x%02x repeats an earlier power", i, x);
        seen[x] = 1;
    }
    cr_assert_eq(x, 1, "2^255 = 0x%02x, want 1", x);
}

Test(gf, commutative_and_no_zero_divisors)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = a; b < 256; b++) {
            uint8_t ab = weft_gf_mul((uint8_t)a, (uint8_t)b);
            uint8_t ba = weft_gf_mul((uint8_t)b, (uint8_t)a);
            cr_assert_eq(ab, ba, "0x%02x*0x%02x = 0x%02x but 0x%02x*0x%02x = 0x%02x", a, b, ab, b,
                         a, ba);
            cr_assert_eq(ab == 0, a == 0 || b == 0,
                         "0x%02x * 0x%02x = 0x%02x breaks 'zero iff a factor is zero'", a, b, ab);
        }
}

Test(gf, identity_and_zero)
{
    for (unsigned a = 0; a < 256; a++) {
        cr_assert_eq(weft_gf_mul((uint8_t)a, 1), a, "0x%02x * 1 = 0x%02x", a,
                     weft_gf_mul((uint8_t)a, 1));
        cr_assert_eq(weft_gf_mul(1, (uint8_t)a), a, "1 * 0x%02x = 0x%02x", a,
                     weft_gf_mul(1, (uint8_t)a));
        cr_assert_eq(weft_gf_mul((uint8_t)a, 0), 0, "0x%02x * 0 = 0x%02x", a,
                     weft_gf_mul((uint8_t)a, 0));
        cr_assert_eq(weft_gf_mul(0, (uint8_t)a), 0, "0 * 0x%02x = 0x%02x", a,
                     weft_gf_mul(0, (uint8_t)a));
    }
}

Test(gf, associative_on_random_triples)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (int i = 0; i < 1000000; i++) {
        uint8_t a = trng_byte(&r), b = trng_byte(&r), c = trng_byte(&r);
        uint8_t l = weft_gf_mul(weft_gf_mul(a, b), c);
        uint8_t rr = weft_gf_mul(a, weft_gf_mul(b, c));
        cr_assert_eq(l, rr,
                     "(0x%02x*0x%02x)*0x%02x = 0x%02x but 0x%02x*(0x%02x*0x%02x) = "
                     "0x%02x [seed=%" PRIu64 "]",
                     a, b, c, l, a, b, c, rr, seed);
    }
}

Test(gf, distributive_over_xor)
{
    /* Every pair (a, b) against 16 random c, and both sides of the product. */
    uint64_t seed = test_seed();
    trng r = {seed};
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (int j = 0; j < 16; j++) {
                uint8_t c = trng_byte(&r);
                uint8_t l = weft_gf_mul((uint8_t)a, (uint8_t)(b ^ c));
                uint8_t rr = weft_gf_mul((uint8_t)a, (uint8_t)b) ^ weft_gf_mul((uint8_t)a, c);
                cr_assert_eq(l, rr,
                             "0x%02x*(0x%02x^0x%02x) = 0x%02x, sum of products 0x%02x "
                             "[seed=%" PRIu64 "]",
                             a, b, c, l, rr, seed);
            }
}

Test(gf, every_nonzero_has_an_inverse)
{
    cr_assert_eq(weft_gf_inv(0), 0, "weft_gf_inv(0) = 0x%02x, contract says 0", weft_gf_inv(0));
    uint8_t seen[256] = {0};
    for (unsigned a = 1; a < 256; a++) {
        uint8_t ia = weft_gf_inv((uint8_t)a);
        cr_assert_eq(weft_gf_mul((uint8_t)a, ia), 1, "0x%02x * inv = 0x%02x * 0x%02x = 0x%02x", a,
                     a, ia, weft_gf_mul((uint8_t)a, ia));
        cr_assert_eq(weft_gf_inv(ia), a, "inv(inv(0x%02x)) = 0x%02x", a, weft_gf_inv(ia));
        cr_assert_eq(seen[ia], 0, "0x%02x is the inverse of two elements", ia);
        seen[ia] = 1;
    }
}

Test(gf, div_is_mul_by_inverse)
{
    for (unsigned a = 0; a < 256; a++) {
        cr_assert_eq(weft_gf_div((uint8_t)a, 0), 0, "0x%02x / 0 = 0x%02x, contract says 0", a,
                     weft_gf_div((uint8_t)a, 0));
        for (unsigned b = 1; b < 256; b++) {
            uint8_t q = weft_gf_div((uint8_t)a, (uint8_t)b);
            cr_assert_eq(weft_gf_mul(q, (uint8_t)b), a,
                         "(0x%02x / 0x%02x) * 0x%02x = 0x%02x (q = 0x%02x)", a, b, b,
                         weft_gf_mul(q, (uint8_t)b), q);
            cr_assert_eq(q, slow_mul((uint8_t)a, weft_gf_inv((uint8_t)b)),
                         "0x%02x / 0x%02x = 0x%02x differs from a * inv(b)", a, b, q);
        }
    }
}
