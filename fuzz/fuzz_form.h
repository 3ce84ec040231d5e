/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A model of form-encoded query strings ('&'-separated pairs, '+' a space,
 * "%XX" a byte, anything else itself; the first pair named key wins),
 * written from the encoding rules for the fuzz targets of the HTTP query
 * helpers and their callers. Include from one file per program.
 */
#ifndef WEFT_FUZZ_FORM_H
#define WEFT_FUZZ_FORM_H

#include "fuzz_util.h"

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form-decode p[0..n) into out (n bytes are enough); returns the length. */
static size_t
form_decode(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == '+') {
            out[o++] = ' ';
            i++;
        } else if (p[i] == '%' && i + 2 < n && hexval((unsigned char)p[i + 1]) >= 0 &&
                   hexval((unsigned char)p[i + 2]) >= 0) {
            out[o++] =
                (char)(hexval((unsigned char)p[i + 1]) << 4 | hexval((unsigned char)p[i + 2]));
            i += 3;
        } else {
            out[o++] = p[i++];
        }
    }
    return o;
}

/* What weft_http_query_get should answer: the decoded value's length and
 * bytes, or -1. */
static long
model_get(const char *q, size_t qn, const char *key, char *val)
{
    size_t klen = strlen(key), pos = 0;
    char *dk = malloc(qn + 1);
    FZ_CHECK(dk != NULL);
    for (;;) {
        const char *amp = memchr(q + pos, '&', qn - pos);
        size_t end = amp ? (size_t)(amp - q) : qn;
        const char *pair = q + pos;
        size_t plen = end - pos;
        const char *eq = memchr(pair, '=', plen);
        size_t kn = eq ? (size_t)(eq - pair) : plen;
        if (plen != 0 && form_decode(pair, kn, dk) == klen && memcmp(dk, key, klen) == 0) {
            free(dk);
            return eq ? (long)form_decode(eq + 1, plen - kn - 1, val) : 0;
        }
        if (!amp)
            break;
        pos = end + 1;
    }
    free(dk);
    return -1;
}

#endif /* WEFT_FUZZ_FORM_H */
