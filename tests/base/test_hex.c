/* SPDX-License-Identifier: Apache-2.0 */
/* weft_hex_encode: lowercase, two digits per byte, NUL-terminated, and not
 * one byte written past 2 * len + 1. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft/encoding.h"

Test(hex, empty_input_is_an_empty_string)
{
    char out[4] = {'x', 'x', 'x', 'x'};
    weft_hex_encode(NULL, 0, out);
    cr_assert_eq(out[0], '\0');
    cr_assert_eq(out[1], 'x', "wrote past the terminator");
}

Test(hex, known_bytes_in_lowercase)
{
    static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char out[2 * sizeof in + 1];
    weft_hex_encode(in, sizeof in, out);
    cr_assert_str_eq(out, "00017f80abcdefff");
}

Test(hex, every_byte_value_against_printf)
{
    uint8_t in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    char out[2 * 256 + 1], want[3];
    weft_hex_encode(in, sizeof in, out);
    cr_assert_eq(strlen(out), 512);
    for (int i = 0; i < 256; i++) {
        snprintf(want, sizeof want, "%02x", (unsigned)i);
        cr_assert(out[2 * i] == want[0] && out[2 * i + 1] == want[1], "byte %02x gave %.2s", i,
                  out + 2 * i);
    }
}

Test(hex, writes_exactly_two_per_byte_and_the_terminator)
{
    for (size_t len = 0; len <= 33; len++) {
        uint8_t in[33];
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)(i * 37 + 11);
        char out[2 * 33 + 8];
        memset(out, '#', sizeof out);
        weft_hex_encode(in, len, out);
        cr_assert_eq(out[2 * len], '\0', "len %zu: no terminator at %zu", len, 2 * len);
        for (size_t i = 2 * len + 1; i < sizeof out; i++)
            cr_assert_eq(out[i], '#', "len %zu: byte %zu written", len, i);
        for (size_t i = 0; i < 2 * len; i++)
            cr_assert((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'),
                      "len %zu: '%c' is no lowercase hex digit", len, out[i]);
    }
}

Test(hex, digit_values_of_every_byte)
{
    static const char digits[] = "0123456789abcdef";
    for (int c = 0; c < 256; c++) {
        const char *lo = c != 0 ? strchr(digits, c) : NULL;
        const char *up = c != 0 && c >= 'A' && c <= 'F' ? strchr(digits, c - 'A' + 'a') : NULL;
        int want = lo ? (int)(lo - digits) : up ? (int)(up - digits) : -1;
        cr_assert_eq(weft_hex_digit(c), want, "byte 0x%02x", (unsigned)c);
    }
}
