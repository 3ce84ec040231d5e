/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64url without padding (weft/encoding.h): the test vectors of RFC 4648
 * section 10 with their padding removed, the two characters in which the
 * url alphabet differs from the standard one, refusal of everything that is
 * not canonical text, the buffer contract, and round trips.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "weft/encoding.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decode s (a C string) and expect rc. */
static int
dec(const char *s, uint8_t *out, size_t cap)
{
    return weft_base64url_decode(s, strlen(s), out, cap);
}

Test(base64url, rfc4648_section10_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const text[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        memset(out, 'x', sizeof out);
        int n = weft_base64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof out);
        cr_assert_eq(n, (int)strlen(text[i]), "encode \"%s\": %d", plain[i], n);
        cr_assert_str_eq(out, text[i]);
        uint8_t back[16];
        n = dec(text[i], back, sizeof back);
        cr_assert_eq(n, (int)strlen(plain[i]), "decode \"%s\": %d", text[i], n);
        cr_assert(memcmp(back, plain[i], (size_t)n) == 0, "decode \"%s\"", text[i]);
    }
}

Test(base64url, url_alphabet_uses_dash_and_underscore)
{
    /* Standard base64 of these bytes contains '+' and '/' (and padding). */
    static const struct {
        uint8_t b[4];
        size_t n;
        const char *text;
    } v[] = {
        {{0xfb, 0xff}, 2, "-_8"},
        {{0xfb}, 1, "-w"},
        {{0xff, 0xff, 0xff}, 3, "____"},
        {{0xf8, 0x3e, 0xff, 0xbf}, 4, "-D7_vw"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[16];
        cr_assert_eq(weft_base64url_encode(v[i].b, v[i].n, out, sizeof out),
                     (int)strlen(v[i].text));
        cr_assert_str_eq(out, v[i].text);
        uint8_t back[8];
        cr_assert_eq(dec(v[i].text, back, sizeof back), (int)v[i].n, "%s", v[i].text);
        cr_assert(memcmp(back, v[i].b, v[i].n) == 0, "%s", v[i].text);
    }
}

Test(base64url, refuses_standard_alphabet_and_padding)
{
    uint8_t out[16];
    static const char *const bad[] = {
        "+_8",  "-/8",  "+w",   "/w",    /* the standard alphabet's 62 and 63 */
        "-_8=", "-w==", "Zg==", "Zm9v=", /* padding, even where standard base64 wants it */
        "Zm=9", "=Zm9", "Zm 9", "Zm9\n", "Zm.9", "Zm9\x80", /* foreign bytes anywhere */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(dec(bad[i], out, sizeof out), WEFT_EPROTO, "\"%s\" accepted", bad[i]);
    /* a NUL inside the given length is a foreign character too */
    cr_assert_eq(weft_base64url_decode("Zm\0v", 4, out, sizeof out), WEFT_EPROTO);
}

Test(base64url, refuses_impossible_lengths)
{
    uint8_t out[16];
    /* 4k + 1 characters: the last one would carry 6 bits, not a byte */
    static const char *const bad[] = {"Z", "Zm9vY", "Zm9vYmFyZ", "AAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(dec(bad[i], out, sizeof out), WEFT_EPROTO, "\"%s\" accepted", bad[i]);
}

Test(base64url, refuses_nonzero_unused_bits)
{
    uint8_t out[4];
    /* "Zg" is "f"; in "Zh" the 4 bits after the byte are 0001. "Zm8" is
     * "fo"; in "Zm9" the 2 bits after the bytes are 01. */
    cr_assert_eq(dec("Zh", out, sizeof out), WEFT_EPROTO);
    cr_assert_eq(dec("Zm9", out, sizeof out), WEFT_EPROTO);
    cr_assert_eq(dec("Zm9vYh", out, sizeof out), WEFT_EPROTO);
    /* Exactly the characters with those bits clear may end a group: 4 of
     * 64 after one character, 16 of 64 after two. */
    int ok2 = 0, ok3 = 0;
    for (int c = 0; c < 64; c++) {
        char two[3] = {'Z', alphabet[c], 0}, three[4] = {'Z', 'm', alphabet[c], 0};
        int r2 = dec(two, out, sizeof out), r3 = dec(three, out, sizeof out);
        cr_assert(r2 == 1 || r2 == WEFT_EPROTO);
        cr_assert(r3 == 2 || r3 == WEFT_EPROTO);
        cr_assert_eq(r2 == 1, (c & 15) == 0, "\"%s\"", two);
        cr_assert_eq(r3 == 2, (c & 3) == 0, "\"%s\"", three);
        ok2 += r2 == 1;
        ok3 += r3 == 2;
    }
    cr_assert_eq(ok2, 4);
    cr_assert_eq(ok3, 16);
}

Test(base64url, buffer_contract)
{
    char text[8];
    /* "foo" is 4 characters: the encoder needs a fifth byte for the NUL */
    cr_assert_eq(weft_base64url_encode((const uint8_t *)"foo", 3, text, 4), WEFT_ENOSPC);
    cr_assert_eq(weft_base64url_encode((const uint8_t *)"foo", 3, text, 5), 4);
    cr_assert_str_eq(text, "Zm9v");
    cr_assert_eq(weft_base64url_encode((const uint8_t *)"", 0, text, 0), WEFT_ENOSPC);
    cr_assert_eq(weft_base64url_encode((const uint8_t *)"", 0, text, 1), 0);
    cr_assert_str_eq(text, "");
    uint8_t out[8];
    cr_assert_eq(dec("Zm9vYmE", out, 4), WEFT_ENOSPC);
    cr_assert_eq(dec("Zm9vYmE", out, 5), 5);
    cr_assert_eq(dec("", out, 0), 0);
    cr_assert_eq(weft_base64url_encode(NULL, 1, text, sizeof text), WEFT_EINVAL);
    cr_assert_eq(weft_base64url_encode((const uint8_t *)"f", 1, NULL, 8), WEFT_EINVAL);
    cr_assert_eq(weft_base64url_decode(NULL, 2, out, sizeof out), WEFT_EINVAL);
    cr_assert_eq(weft_base64url_decode("Zg", 2, NULL, 8), WEFT_EINVAL);
    cr_assert_eq(weft_base64url_encode(NULL, 0, text, sizeof text), 0);
}

Test(base64url, round_trips)
{
    uint8_t bytes[300];
    uint32_t x = 0x2545f491u;
    for (size_t i = 0; i < sizeof bytes; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes[i] = (uint8_t)x;
    }
    /* every length up to 300, so each tail length meets many byte values */
    for (size_t len = 0; len <= sizeof bytes; len++) {
        char text[420];
        uint8_t back[300];
        int n = weft_base64url_encode(bytes, len, text, sizeof text);
        cr_assert_eq(n, (int)((len * 4 + 2) / 3), "length %zu", len);
        cr_assert_eq(strlen(text), (size_t)n);
        cr_assert_eq(strspn(text, alphabet), (size_t)n, "length %zu", len);
        cr_assert_eq(weft_base64url_decode(text, (size_t)n, back, sizeof back), (int)len);
        cr_assert(memcmp(back, bytes, len) == 0, "length %zu", len);
        /* decoding into exactly the room needed works */
        cr_assert_eq(weft_base64url_decode(text, (size_t)n, back, len), (int)len);
    }
    /* every byte value in every position of a 3-byte group */
    for (int pos = 0; pos < 3; pos++)
        for (int v = 0; v < 256; v++) {
            uint8_t g[3] = {0x5a, 0xa5, 0x0f}, back[3];
            char text[8];
            g[pos] = (uint8_t)v;
            cr_assert_eq(weft_base64url_encode(g, 3, text, sizeof text), 4);
            cr_assert_eq(weft_base64url_decode(text, 4, back, 3), 3);
            cr_assert(memcmp(g, back, 3) == 0);
        }
    /* and text to bytes to text: canonical text comes back unchanged */
    static const char *const texts[] = {"", "AA", "AAA", "_w", "-_8", "Zm9vYmFy", "0123456789-_"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        uint8_t b[16];
        char again[24];
        int n = dec(texts[i], b, sizeof b);
        cr_assert_geq(n, 0, "%s", texts[i]);
        cr_assert_geq(weft_base64url_encode(b, (size_t)n, again, sizeof again), 0);
        cr_assert_str_eq(again, texts[i]);
    }
}
