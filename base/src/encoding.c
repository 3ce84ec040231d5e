/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text encodings of binary identifiers (weft/encoding.h): base58btc (peer
 * ids), base32 lowercase without padding (RFC 4648 alphabet, multibase 'b',
 * CIDv1 peer ids), base64 standard alphabet with padding (p2p.key) and
 * base64url without padding (RFC 4648 section 5, as JWTs use it).
 *
 * Invariants: no routine reads outside s[0..slen) or p[0..len) or writes
 * outside out[0..cap). Encoders always NUL-terminate, so they need one byte
 * more than the text they return. Decoders accept exactly the canonical
 * text of some byte string and nothing else (characters outside the
 * alphabet, misplaced or missing padding, impossible lengths and non-zero
 * unused bits are WEFT_EPROTO), so decode(s) followed by encode gives s
 * back, and encode followed by decode gives the bytes back. A result that
 * does not fit is WEFT_ENOSPC. Lengths beyond INT_MAX are refused, since
 * the result is an int.
 */
#include <limits.h>
#include <string.h>

#include "weft/encoding.h"

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of c in the alphabet, or -1. Linear search keeps the tables short;
 * these texts are tens of characters. */
static int
digit_of(const char *alphabet, int size, char c)
{
    if (c == '\0')
        return -1;
    const char *hit = memchr(alphabet, c, (size_t)size);
    return hit ? (int)(hit - alphabet) : -1;
}

static void
reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        uint8_t t = p[i];
        p[i] = p[j - 1];
        p[j - 1] = t;
    }
}

/* ---- base58btc ------------------------------------------------------------ */

/*
 * Leading zero bytes become '1's; the rest is a big-endian number written in
 * base 58. The digits are accumulated little-endian in out itself (so the
 * only bound is cap), then reversed and mapped to the alphabet.
 */
int
weft_base58_encode(const uint8_t *p, size_t len, char *out, size_t cap)
{
    if ((p == NULL && len > 0) || out == NULL || len > INT_MAX / 2)
        return WEFT_EINVAL;
    if (cap == 0)
        return WEFT_ENOSPC;
    size_t zeros = 0;
    while (zeros < len && p[zeros] == 0)
        zeros++;
    if (zeros >= cap)
        return WEFT_ENOSPC;
    memset(out, '1', zeros);

    uint8_t *digits = (uint8_t *)out + zeros;
    size_t room = cap - 1 - zeros; /* keep a byte for the NUL */
    size_t n = 0;
    for (size_t i = zeros; i < len; i++) {
        unsigned carry = p[i];
        for (size_t j = 0; j < n; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            if (n == room)
                return WEFT_ENOSPC;
            digits[n++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    reverse(digits, n);
    for (size_t j = 0; j < n; j++)
        digits[j] = (uint8_t)b58_alphabet[digits[j]];
    out[zeros + n] = '\0';
    return (int)(zeros + n);
}

int
weft_base58_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
    if ((s == NULL && slen > 0) || out == NULL || slen > INT_MAX)
        return WEFT_EINVAL;
    size_t ones = 0;
    while (ones < slen && s[ones] == '1')
        ones++;
    if (ones > cap)
        return WEFT_ENOSPC;
    if (ones)
        memset(out, 0, ones);

    uint8_t *num = out + ones; /* little-endian while accumulating */
    size_t room = cap - ones;
    size_t n = 0;
    for (size_t i = ones; i < slen; i++) {
        int d = digit_of(b58_alphabet, 58, s[i]);
        if (d < 0)
            return WEFT_EPROTO;
        unsigned carry = (unsigned)d;
        for (size_t j = 0; j < n; j++) {
            carry += (unsigned)num[j] * 58;
            num[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry) {
            if (n == room)
                return WEFT_ENOSPC;
            num[n++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    reverse(num, n);
    return (int)(ones + n);
}

/* ---- base32, RFC 4648 alphabet, lowercase, no padding ---------------------- */

int
weft_base32_encode(const uint8_t *p, size_t len, char *out, size_t cap)
{
    if ((p == NULL && len > 0) || out == NULL || len > INT_MAX / 2)
        return WEFT_EINVAL;
    size_t need = (len * 8 + 4) / 5;
    if (need >= cap)
        return WEFT_ENOSPC;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32_alphabet[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return (int)o;
}

int
weft_base32_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
    if ((s == NULL && slen > 0) || out == NULL || slen > INT_MAX)
        return WEFT_EINVAL;
    /* 8 characters carry 5 bytes; a tail of 1, 3 or 6 characters cannot
     * end on a byte boundary with fewer than 5 unused bits. */
    size_t tail = slen % 8;
    if (tail == 1 || tail == 3 || tail == 6)
        return WEFT_EPROTO;
    size_t need = slen * 5 / 8;
    if (need > cap)
        return WEFT_ENOSPC;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < slen; i++) {
        int d = digit_of(b32_alphabet, 32, s[i]);
        if (d < 0)
            return WEFT_EPROTO;
        acc = (acc << 5) | (uint32_t)d;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return WEFT_EPROTO; /* unused low bits must be zero */
    return (int)o;
}

/* ---- base64, standard alphabet, padded ------------------------------------- */

/* Both base64 alphabets encode alike: whole groups of 3 bytes become 4
 * characters; a tail of 1 or 2 bytes becomes 2 or 3 characters, followed
 * by '=' up to a multiple of 4 when pad is set. */
static int
encode64(const char *alphabet, int pad, const uint8_t *p, size_t len, char *out, size_t cap)
{
    if ((p == NULL && len > 0) || out == NULL || len > INT_MAX / 2)
        return WEFT_EINVAL;
    size_t tail = len % 3;
    size_t need = len / 3 * 4 + (tail == 0 ? 0 : pad ? 4 : tail + 1);
    if (need >= cap)
        return WEFT_ENOSPC;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (tail) {
        uint32_t v = (uint32_t)p[i] << 16 | (tail == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        if (tail == 2)
            out[o++] = alphabet[(v >> 6) & 63];
        while (pad && o % 4)
            out[o++] = '=';
    }
    out[o] = '\0';
    return (int)o;
}

int
weft_base64_encode(const uint8_t *p, size_t len, char *out, size_t cap)
{
    return encode64(b64_alphabet, 1, p, len, out, cap);
}

/* One decoder for both alphabets. With padding the text is whole groups of
 * four, the last ending in at most two '='; without, a last group of 2 or 3
 * characters. Either way the bits after the last whole byte must be zero. */
static int
decode64(const char *alphabet, int padded, const char *s, size_t slen, uint8_t *out, size_t cap)
{
    if ((s == NULL && slen > 0) || out == NULL || slen > INT_MAX)
        return WEFT_EINVAL;
    size_t n = slen;
    if (padded) {
        if (slen % 4 != 0)
            return WEFT_EPROTO;
        if (n > 0 && s[n - 1] == '=')
            n -= n > 1 && s[n - 2] == '=' ? 2 : 1;
    }
    /* 4 characters carry 3 bytes; a lone character in the last group
     * carries only 6 bits, less than a byte. */
    size_t tail = n % 4;
    if (tail == 1)
        return WEFT_EPROTO;
    size_t need = n / 4 * 3 + (tail ? tail - 1 : 0);
    if (need > cap)
        return WEFT_ENOSPC;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digit_of(alphabet, 64, s[i]);
        if (d < 0)
            return WEFT_EPROTO; /* outside the alphabet, or '=' before the end */
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return WEFT_EPROTO; /* the 2 or 4 bits after the last byte must be zero */
    return (int)o;
}

int
weft_base64_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
    return decode64(b64_alphabet, 1, s, slen, out, cap);
}

/* ---- base64url, RFC 4648 section 5 alphabet, no padding ------------------- */

int
weft_base64url_encode(const uint8_t *p, size_t len, char *out, size_t cap)
{
    return encode64(b64url_alphabet, 0, p, len, out, cap);
}

int
weft_base64url_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
    return decode64(b64url_alphabet, 0, s, slen, out, cap);
}

/* ---- hex ---------------------------------------------------------------- */

int
weft_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void
weft_hex_encode(const uint8_t *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}
