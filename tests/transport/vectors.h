/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers shared by the transport tests that read the byte-exact
 * js-libp2p vectors of tests/vectors/vectors.json (WEFT_TEST_VECTORS, set by
 * weft_add_test; tests/vectors/README.md says where they came from): the
 * file, string values found by key path, and hex decoding. Each helper
 * fails the calling Criterion test on anything unexpected.
 */
#ifndef WEFT_TEST_VECTORS_H
#define WEFT_TEST_VECTORS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *
vectors_json(void)
{
    static char *text;
    if (text != NULL)
        return text;
    char path[4096];
    snprintf(path, sizeof path, "%s/vectors.json", WEFT_TEST_VECTORS);
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert(n > 0);
    text = malloc((size_t)n + 1);
    cr_assert(text != NULL);
    cr_assert(fread(text, 1, (size_t)n, f) == (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The string value reached by finding "k1", then "k2" after it, and so on
 * (NULL ends the list); the vectors hold no escapes. Caller frees. */
static inline char *
vec_str(const char *k1, const char *k2, const char *k3)
{
    const char *keys[] = {k1, k2, k3};
    const char *p = vectors_json();
    for (int i = 0; i < 3 && keys[i] != NULL; i++) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\"", keys[i]);
        p = strstr(p, quoted);
        cr_assert(p != NULL, "vectors.json has no %s", quoted);
        p += strlen(quoted);
    }
    while (*p == ' ' || *p == ':' || *p == '\n')
        p++;
    cr_assert(*p == '"', "vectors.json: %s/%s is not a string", k1, k2 ? k2 : "");
    const char *end = strchr(p + 1, '"');
    cr_assert(end != NULL);
    return strndup(p + 1, (size_t)(end - p - 1));
}

static inline int
nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    cr_assert(0, "bad hex digit '%c'", c);
    return 0;
}

/* Hex to bytes. Spaces separate fields; "XX*N" stands for N bytes XX. */
static inline size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
        } else if (*s == '*') {
            char *end;
            unsigned long r = strtoul(s + 1, &end, 10);
            cr_assert(n > 0 && r >= 1 && n + r - 1 <= cap, "bad repeat in hex");
            memset(out + n, out[n - 1], r - 1);
            n += r - 1;
            s = end;
        } else {
            cr_assert(s[1] != '\0' && n < cap, "hex too long or odd");
            out[n++] = (uint8_t)(nibble(s[0]) << 4 | nibble(s[1]));
            s += 2;
        }
    }
    return n;
}

/* Hex vector as bytes; returns the length. */
static inline size_t
vec_hex(const char *k1, const char *k2, uint8_t *out, size_t cap)
{
    char *s = vec_str(k1, k2, NULL);
    size_t n = unhex(s, out, cap);
    free(s);
    return n;
}

#endif
