/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_utf8_valid against RFC 3629: the boundaries of each sequence length,
 * overlong forms, UTF-16 surrogates, code points past U+10FFFF, truncated
 * and broken sequences; then every string of up to three bytes, and every
 * four-byte string with a four-byte lead, against a reference written from
 * the table of well-formed byte sequences (Unicode, table 3-7).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "weft/utf8.h"

#define V(s) weft_utf8_valid((const uint8_t *)(s), sizeof(s) - 1)

Test(utf8, ascii_and_empty)
{
    cr_assert_eq(weft_utf8_valid(NULL, 0), 1);
    cr_assert_eq(V(""), 1);
    cr_assert_eq(V("plain ASCII, 0123456789 ~\x7f"), 1);
    cr_assert_eq(V("a\0b"), 1, "NUL is a character");
}

Test(utf8, boundaries_of_each_length)
{
    cr_assert_eq(V("\xc2\x80"), 1, "U+0080");
    cr_assert_eq(V("\xdf\xbf"), 1, "U+07FF");
    cr_assert_eq(V("\xe0\xa0\x80"), 1, "U+0800");
    cr_assert_eq(V("\xed\x9f\xbf"), 1, "U+D7FF");
    cr_assert_eq(V("\xee\x80\x80"), 1, "U+E000");
    cr_assert_eq(V("\xef\xbf\xbf"), 1, "U+FFFF");
    cr_assert_eq(V("\xf0\x90\x80\x80"), 1, "U+10000");
    cr_assert_eq(V("\xf4\x8f\xbf\xbf"), 1, "U+10FFFF");
    cr_assert_eq(V("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"), 1, "mixed text");
}

Test(utf8, overlong_forms)
{
    cr_assert_eq(V("\xc0\x80"), 0, "NUL in two bytes");
    cr_assert_eq(V("\xc0\xaf"), 0, "'/' in two bytes");
    cr_assert_eq(V("\xc1\xbf"), 0, "U+007F in two bytes");
    cr_assert_eq(V("\xe0\x80\x80"), 0, "NUL in three bytes");
    cr_assert_eq(V("\xe0\x9f\xbf"), 0, "U+07FF in three bytes");
    cr_assert_eq(V("\xf0\x80\x80\x80"), 0, "NUL in four bytes");
    cr_assert_eq(V("\xf0\x8f\xbf\xbf"), 0, "U+FFFF in four bytes");
}

Test(utf8, surrogates)
{
    cr_assert_eq(V("\xed\xa0\x80"), 0, "U+D800");
    cr_assert_eq(V("\xed\xad\xbf"), 0, "U+DB7F");
    cr_assert_eq(V("\xed\xb0\x80"), 0, "U+DC00");
    cr_assert_eq(V("\xed\xbf\xbf"), 0, "U+DFFF");
    cr_assert_eq(V("\xed\xa0\xbd\xed\xb8\x80"), 0, "a surrogate pair (CESU-8)");
}

Test(utf8, beyond_u10ffff)
{
    cr_assert_eq(V("\xf4\x90\x80\x80"), 0, "U+110000");
    cr_assert_eq(V("\xf4\xbf\xbf\xbf"), 0, "U+13FFFF");
    cr_assert_eq(V("\xf5\x80\x80\x80"), 0, "lead F5");
    cr_assert_eq(V("\xf7\xbf\xbf\xbf"), 0, "U+1FFFFF");
    cr_assert_eq(V("\xf8\x88\x80\x80\x80"), 0, "five-byte form");
    cr_assert_eq(V("\xfc\x84\x80\x80\x80\x80"), 0, "six-byte form");
    cr_assert_eq(V("\xfe"), 0);
    cr_assert_eq(V("\xff"), 0);
}

Test(utf8, truncated_sequences)
{
    cr_assert_eq(V("\xc2"), 0);
    cr_assert_eq(V("\xe0\xa0"), 0);
    cr_assert_eq(V("\xe2\x82"), 0);
    cr_assert_eq(V("\xf0\x90\x80"), 0);
    cr_assert_eq(V("abc\xf0\x9f\x98"), 0, "cut at the end of a text");
    /* the length bounds the read, whatever lies after it */
    static const uint8_t euro[] = {0xe2, 0x82, 0xac};
    cr_assert_eq(weft_utf8_valid(euro, 3), 1);
    cr_assert_eq(weft_utf8_valid(euro, 2), 0);
    cr_assert_eq(weft_utf8_valid(euro, 1), 0);
}

Test(utf8, broken_sequences)
{
    cr_assert_eq(V("\x80"), 0, "lone continuation byte");
    cr_assert_eq(V("a\xbf"), 0, "continuation after ASCII");
    cr_assert_eq(V("\xc2\x41"), 0, "ASCII where a continuation belongs");
    cr_assert_eq(V("\xe0\xa0\xc0"), 0, "a lead where a continuation belongs");
    cr_assert_eq(V("\xf0\x90\x80\x7f"), 0);
    cr_assert_eq(V("\xc2\x80\x80"), 0, "one continuation too many");
}

/* 1 if s[0..n) is well-formed: each character matches a row of the table
 * of well-formed byte sequences. */
static int
reference_valid(const uint8_t *s, size_t n)
{
    static const struct {
        uint8_t lo[4], hi[4];
        size_t len;
    } rows[] = {
        {{0x00}, {0x7f}, 1},
        {{0xc2, 0x80}, {0xdf, 0xbf}, 2},
        {{0xe0, 0xa0, 0x80}, {0xe0, 0xbf, 0xbf}, 3},
        {{0xe1, 0x80, 0x80}, {0xec, 0xbf, 0xbf}, 3},
        {{0xed, 0x80, 0x80}, {0xed, 0x9f, 0xbf}, 3},
        {{0xee, 0x80, 0x80}, {0xef, 0xbf, 0xbf}, 3},
        {{0xf0, 0x90, 0x80, 0x80}, {0xf0, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf1, 0x80, 0x80, 0x80}, {0xf3, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf4, 0x80, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, 4},
    };
    size_t i = 0;
    while (i < n) {
        int matched = 0;
        for (size_t r = 0; r < sizeof rows / sizeof rows[0] && !matched; r++) {
            size_t len = rows[r].len;
            if (n - i < len)
                continue;
            int in = 1;
            for (size_t k = 0; k < len; k++)
                if (s[i + k] < rows[r].lo[k] || s[i + k] > rows[r].hi[k])
                    in = 0;
            if (in) {
                matched = 1;
                i += len;
            }
        }
        if (!matched)
            return 0;
    }
    return 1;
}

Test(utf8, every_string_up_to_three_bytes)
{
    uint8_t s[3];
    long valid = 0;
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        cr_assert_eq(weft_utf8_valid(s, 1), reference_valid(s, 1), "%02x", a);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            cr_assert_eq(weft_utf8_valid(s, 2), reference_valid(s, 2), "%02x %02x", a, b);
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                int want = reference_valid(s, 3);
                valid += want;
                if (weft_utf8_valid(s, 3) != want)
                    cr_assert_fail("%02x %02x %02x: weft says %d", a, b, c, !want);
            }
        }
    }
    cr_log_info("utf8: %ld of 2^24 three-byte strings are well-formed", valid);
}

Test(utf8, every_four_byte_string_with_a_four_byte_lead)
{
    /* leads F0..FF with every second and third byte; the fourth byte from
     * the values around the continuation range */
    static const uint8_t last[] = {0x00, 0x41, 0x7f, 0x80, 0x81, 0xa0,
                                   0xbe, 0xbf, 0xc0, 0xf4, 0xff};
    uint8_t s[4];
    for (unsigned a = 0xf0; a < 256; a++) {
        s[0] = (uint8_t)a;
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                for (size_t d = 0; d < sizeof last; d++) {
                    s[3] = last[d];
                    int want = reference_valid(s, 4);
                    if (weft_utf8_valid(s, 4) != want)
                        cr_assert_fail("%02x %02x %02x %02x: weft says %d", a, b, c, s[3], !want);
                }
            }
        }
    }
}
