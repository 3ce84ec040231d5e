/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the fuzz targets and the corpus generator: a check macro
 * that stays on in release builds (NDEBUG does not touch it), a reader that
 * hands out the leading input bytes as parameters (zeros once the input runs
 * out, so every input is usable), a GF(2^8) of our own (poly 0x11D, built
 * from shift-and-add, sharing no code with the library) used as the oracle,
 * and the choice of GF kernel set per input.
 *
 * Everything is static inline, and the tables are function-local statics, so
 * a file that includes this header pays only for what it uses.
 */
#ifndef WEFT_FUZZ_UTIL_H
#define WEFT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/codec.h"

/* The libFuzzer entry point; replay.c and libFuzzer both call it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static inline void
fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond);                                                    \
    } while (0)

/* ---- input reader -------------------------------------------------------- */

typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

static inline uint8_t
fz_u8(fz_reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint16_t
fz_u16(fz_reader *r)
{
    uint16_t lo = fz_u8(r);
    return (uint16_t)(lo | (uint16_t)fz_u8(r) << 8);
}

static inline uint32_t
fz_u32(fz_reader *r)
{
    uint32_t lo = fz_u16(r);
    return lo | (uint32_t)fz_u16(r) << 16;
}

static inline uint64_t
fz_u64(fz_reader *r)
{
    uint64_t lo = fz_u32(r);
    return lo | (uint64_t)fz_u32(r) << 32;
}

/* Copy len bytes into dst, zero-filling what the input lacks. */
static inline void
fz_bytes(fz_reader *r, uint8_t *dst, size_t len)
{
    size_t have = len < r->n ? len : r->n;
    if (have)
        memcpy(dst, r->p, have);
    memset(dst + have, 0, len - have);
    r->p += have;
    r->n -= have;
}

/* ---- little-endian fields ------------------------------------------------ */

static inline uint32_t
fz_le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t
fz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void
fz_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
fz_put32(uint8_t *p, uint32_t v)
{
    fz_put16(p, v);
    fz_put16(p + 2, v >> 16);
}

/* The 12-byte header of spec section 2, written without the library. */
static inline void
fz_header(uint8_t *p, uint32_t k, uint32_t piece, uint32_t message_len)
{
    p[0] = WEFT_SHARD_VERSION;
    p[1] = WEFT_FIELD_GF256;
    fz_put16(p + 2, k);
    fz_put32(p + 4, piece);
    fz_put32(p + 8, message_len);
}

static inline int
fz_gen_eq(const weft_gen *a, const weft_gen *b)
{
    return a->k == b->k && a->piece_size == b->piece_size && a->message_len == b->message_len;
}

static inline int
fz_all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Heap copy of exactly len bytes, so ASan flags any read past the end. */
static inline uint8_t *
fz_dup(const void *src, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    FZ_CHECK(p != NULL);
    if (len)
        memcpy(p, src, len);
    return p;
}

/* ---- oracle field: GF(2^8), x^8+x^4+x^3+x^2+1 ---------------------------- */

static inline uint8_t
fz_gf_mul_slow(uint8_t a, uint8_t b)
{
    unsigned r = 0, x = a;
    for (; b; b >>= 1) {
        if (b & 1)
            r ^= x;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11D;
    }
    return (uint8_t)r;
}

/* exp[0..510] and log[0..255] of generator 2, built on first use. */
static inline const uint8_t *
fz_gf_tables(void)
{
    static uint8_t t[512 + 256];
    static int ready;
    if (!ready) {
        uint8_t x = 1;
        for (int i = 0; i < 255; i++) {
            t[i] = t[i + 255] = x;
            t[512 + x] = (uint8_t)i;
            x = fz_gf_mul_slow(x, 2);
        }
        ready = 1;
    }
    return t;
}

static inline uint8_t
fz_gf_mul(uint8_t a, uint8_t b)
{
    const uint8_t *t = fz_gf_tables();
    if (a == 0 || b == 0)
        return 0;
    return t[t[512 + a] + t[512 + b]];
}

/* a^-1 for a != 0. */
static inline uint8_t
fz_gf_inv(uint8_t a)
{
    const uint8_t *t = fz_gf_tables();
    return t[255 - t[512 + a]];
}

/* dst[x] ^= c * src[x] */
static inline void
fz_gf_muladd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    if (c == 0)
        return;
    for (size_t i = 0; i < len; i++)
        dst[i] ^= fz_gf_mul(c, src[i]);
}

/* ---- text ------------------------------------------------------------------ */

/* UTF-8 by the byte ranges of RFC 3629's grammar (section 4), the oracle
 * for the services' text checks. */
static inline int
fz_utf8_ok(const uint8_t *s, size_t n)
{
    /* lead byte range, then the allowed range of the 2nd byte; later
     * bytes are 80..BF */
    static const struct {
        uint8_t lo, hi, len, b2lo, b2hi;
    } forms[] = {
        {0xc2, 0xdf, 2, 0x80, 0xbf}, {0xe0, 0xe0, 3, 0xa0, 0xbf}, {0xe1, 0xec, 3, 0x80, 0xbf},
        {0xed, 0xed, 3, 0x80, 0x9f}, {0xee, 0xef, 3, 0x80, 0xbf}, {0xf0, 0xf0, 4, 0x90, 0xbf},
        {0xf1, 0xf3, 4, 0x80, 0xbf}, {0xf4, 0xf4, 4, 0x80, 0x8f},
    };
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t f = 0;
        while (f < sizeof forms / sizeof *forms && !(s[i] >= forms[f].lo && s[i] <= forms[f].hi))
            f++;
        if (f == sizeof forms / sizeof *forms || n - i < forms[f].len)
            return 0;
        if (s[i + 1] < forms[f].b2lo || s[i + 1] > forms[f].b2hi)
            return 0;
        for (size_t k = 2; k < forms[f].len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += forms[f].len;
    }
    return 1;
}

/* ---- kernel sets ----------------------------------------------------------- */

/* Whether name is an item of the comma-separated list. */
static inline int
fz_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

/* Force the kernel set number sel (modulo those this CPU runs), so that one
 * fuzz run covers every SIMD path. When WEFT_GF_IMPL is set the environment
 * wins and nothing is forced: CI replays the corpus once per kernel set.
 * WEFT_FUZZ_IMPLS=ref,avx2,... narrows the sets inputs choose from (to
 * focus a run, or to step around a known kernel bug while fuzzing on). */
static inline void
fz_pick_kernels(unsigned sel)
{
    static const char *avail[16];
    static size_t navail;
    static int from_env = -1;

    if (from_env < 0) {
        (void)weft_init();
        const char *env = getenv("WEFT_GF_IMPL");
        const char *only = getenv("WEFT_FUZZ_IMPLS");
        from_env = env != NULL && env[0] != '\0';
        for (const char *const *l = weft_gf_impl_list(); *l && navail < 16; l++)
            if (weft_gf_impl_available(*l) && (only == NULL || fz_in_list(only, *l)))
                avail[navail++] = *l;
        if (navail == 0)
            fprintf(stderr, "fuzz: WEFT_FUZZ_IMPLS=%s names no kernel set of this CPU\n", only);
        FZ_CHECK(navail >= 1);
    }
    if (from_env)
        return;
    const char *name = avail[sel % navail];
    FZ_CHECK(weft_gf_force(name) == 0);
    FZ_CHECK(strcmp(weft_gf_impl_name(), name) == 0);
}

#endif /* WEFT_FUZZ_UTIL_H */
