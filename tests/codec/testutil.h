/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the codec tests: a seeded generator for test data that
 * does not depend on weft's own RNG, a shift-and-add multiply and table that
 * do not depend on weft's field code, buffers with guard bytes on both sides,
 * buffers that end exactly at an unmapped page, and the WEFT_GF_IMPL guard
 * that makes every per-implementation run skip (never pass) on a CPU that
 * lacks the implementation.
 *
 * Seeds: each test takes test_seed() (WEFT_TEST_SEED if set, else fresh
 * entropy) and puts it into every assertion message, so a failure can be
 * replayed with WEFT_TEST_SEED=<seed>.
 */
#ifndef WEFT_TESTS_CODEC_TESTUTIL_H
#define WEFT_TESTS_CODEC_TESTUTIL_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_seed.h"
#include "weft/codec.h"

/* ---- seeds and test data -------------------------------------------------- */

typedef struct trng {
    uint64_t x;
} trng;

static inline uint64_t
trng_next(trng *r)
{
    return test_splitmix(&r->x);
}

/* Uniform in [0, n); n > 0. The modulo bias is irrelevant for tests. */
static inline size_t
trng_below(trng *r, size_t n)
{
    return (size_t)(trng_next(r) % n);
}

static inline uint8_t
trng_byte(trng *r)
{
    return (uint8_t)(trng_next(r) >> 56);
}

static inline void
trng_fill(trng *r, uint8_t *buf, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = trng_next(r);
        memcpy(buf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = trng_next(r);
        memcpy(buf + i, &v, len - i);
    }
}

/* A coefficient with extra weight on the special values 0 and 1. */
static inline uint8_t
trng_coef(trng *r)
{
    unsigned v = (unsigned)trng_below(r, 10);
    if (v == 0)
        return 0;
    if (v == 1)
        return 1;
    return trng_byte(r);
}

/*
 * Assertion messages carry the seed, but a crash prints none of them; so the
 * seed is also written to stderr by a handler on the fatal signals, which
 * then reinstates the previous handler (default, or a sanitizer's) and lets
 * the fault recur, so the crash is still reported as before.
 */
static uint64_t crash_seed;
static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
static struct sigaction crash_prev[5];

static inline void
crash_report(int sig)
{
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "\n*** signal %d; replay with WEFT_TEST_SEED=%" PRIu64 "\n",
                     sig, crash_seed);
    if (n > 0 && write(2, msg, (size_t)n) < 0)
        n = 0;
    for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
        if (crash_sigs[i] == sig)
            sigaction(sig, &crash_prev[i], NULL);
    if (sig == SIGABRT || sig == SIGFPE)
        raise(sig);
}

static inline uint64_t
test_seed(void)
{
    crash_seed = test_seed_of_run();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = crash_report;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
        sigaction(crash_sigs[i], &sa, &crash_prev[i]);
    return crash_seed;
}

/* True when WEFT_TEST_QUICK asks for smaller big cases (sanitizer runs). */
static inline int
test_quick(void)
{
    const char *s = getenv("WEFT_TEST_QUICK");
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- an independent model of the field ------------------------------------ */

/* Carry-less multiply of a and b, reduced by x^8+x^4+x^3+x^2+1 bit by bit. */
static inline uint8_t
slow_mul(uint8_t a, uint8_t b)
{
    unsigned acc = 0;
    for (int bit = 7; bit >= 0; bit--) {
        acc <<= 1;
        if (acc & 0x100)
            acc ^= 0x11D;
        if (((unsigned)b >> bit) & 1u)
            acc ^= a;
    }
    return (uint8_t)acc;
}

/* Product table filled from slow_mul (oracle_from_slow) or weft_gf_mul. */
static uint8_t oracle_tab[256][256] __attribute__((unused));

static inline void
oracle_from_slow(void)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            oracle_tab[a][b] = slow_mul((uint8_t)a, (uint8_t)b);
}

static inline void
oracle_from_weft(void)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            oracle_tab[a][b] = weft_gf_mul((uint8_t)a, (uint8_t)b);
}

/* dst[x] ^= c * src[x], one byte at a time through oracle_tab. */
static inline void
oracle_muladd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    const uint8_t *row = oracle_tab[c];
    if (c == 0)
        return;
    for (size_t x = 0; x < len; x++)
        dst[x] ^= row[src[x]];
}

/* ---- guarded buffers ------------------------------------------------------- */

#define GUARD 96 /* bytes checked on each side of a region */

/*
 * A region of len bytes at a chosen offset (0..63) inside a larger block; the
 * whole block starts random and a copy is kept, so guard_intact() can prove
 * that nothing outside [p, p + len) changed.
 */
typedef struct gbuf {
    uint8_t *block;
    uint8_t *shadow;
    size_t total;
    uint8_t *p;
    size_t len;
} gbuf;

static inline void
gbuf_init(gbuf *g, size_t len, size_t offset, trng *r)
{
    g->total = len + 2 * GUARD + 64;
    g->block = malloc(g->total);
    g->shadow = malloc(g->total);
    cr_assert(g->block && g->shadow, "out of memory for a %zu-byte test buffer", g->total);
    trng_fill(r, g->block, g->total);
    memcpy(g->shadow, g->block, g->total);
    g->p = g->block + GUARD + (offset & 63);
    g->len = len;
}

/* Re-snapshot after the test wrote the region on purpose. */
static inline void
gbuf_snap(gbuf *g)
{
    memcpy(g->shadow, g->block, g->total);
}

static inline void
gbuf_free(gbuf *g)
{
    free(g->block);
    free(g->shadow);
    g->block = g->shadow = NULL;
}

/* Offset of the first changed byte outside the region, or -1. */
static inline long
gbuf_guard_damage(const gbuf *g)
{
    size_t start = (size_t)(g->p - g->block);
    for (size_t i = 0; i < start; i++)
        if (g->block[i] != g->shadow[i])
            return (long)i - (long)start;
    for (size_t i = start + g->len; i < g->total; i++)
        if (g->block[i] != g->shadow[i])
            return (long)(i - start);
    return -1;
}

/* Whether the whole block, region included, is as snapshotted. */
static inline int
gbuf_unchanged(const gbuf *g)
{
    return memcmp(g->block, g->shadow, g->total) == 0;
}

/* First index where a and b differ, or -1. */
static inline long
first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return (long)i;
    return -1;
}

/* ---- buffers that end at an unmapped page ---------------------------------- */

/*
 * len bytes placed so that buf + len is the first byte of a PROT_NONE page:
 * any read past the end faults, with or without sanitizers.
 */
typedef struct edgebuf {
    uint8_t *map;
    size_t maplen;
    uint8_t *p;
} edgebuf;

static inline void
edgebuf_init(edgebuf *e, size_t len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + pg - 1) / pg;
    if (data_pages == 0)
        data_pages = 1;
    e->maplen = (data_pages + 1) * pg;
    e->map = mmap(NULL, e->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(e->map != MAP_FAILED, "mmap of %zu bytes failed", e->maplen);
    cr_assert(mprotect(e->map + data_pages * pg, pg, PROT_NONE) == 0, "mprotect failed");
    e->p = e->map + data_pages * pg - len;
}

static inline void
edgebuf_free(edgebuf *e)
{
    munmap(e->map, e->maplen);
}

/* ---- implementation selection --------------------------------------------- */

/*
 * ctest runs the codec tests once per WEFT_GF_IMPL value. If the variable
 * names a set this CPU cannot run, the test is skipped with that reason;
 * otherwise the dispatcher must have picked exactly that set.
 */
static inline void
require_env_impl(void)
{
    const char *want = getenv("WEFT_GF_IMPL");
    if (!want || !*want)
        return;
    if (!weft_gf_impl_available(want))
        cr_skip_test("WEFT_GF_IMPL=%s is not available on this CPU (features: %s)", want,
                     weft_cpu_features());
    cr_assert_eq(weft_init(), 0, "weft_init() failed with WEFT_GF_IMPL=%s", want);
    cr_assert_str_eq(weft_gf_impl_name(), want, "WEFT_GF_IMPL=%s but the dispatcher chose %s", want,
                     weft_gf_impl_name());
}

/*
 * After the run: when this ctest entry exists for an implementation the CPU
 * lacks and nothing failed, exit 77, which CMake registers as
 * SKIP_RETURN_CODE, so ctest shows the entry as skipped rather than passed.
 */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    const char *want = getenv("WEFT_GF_IMPL");
    if (!want || !*want || weft_gf_impl_available(want))
        return;
    if (stats->tests_failed || stats->tests_crashed)
        return;
    fprintf(stderr,
            "weft tests: WEFT_GF_IMPL=%s is not available on this CPU (features: %s); "
            "%zu tests skipped, %zu passed: reporting the run as skipped (exit 77)\n",
            want, weft_cpu_features(), stats->tests_skipped, stats->tests_passed);
    fflush(stdout);
    fflush(stderr);
    _exit(77);
}

/* ---- message helpers -------------------------------------------------------- */

/* Piece i of msg, zero-padded, as the encoder must cut it. */
static inline void
piece_of(const uint8_t *msg, size_t len, uint32_t piece, uint32_t i, uint8_t *out)
{
    size_t start = (size_t)i * piece;
    memset(out, 0, piece);
    if (start < len) {
        size_t n = len - start < piece ? len - start : piece;
        memcpy(out, msg + start, n);
    }
}

/* The payload a shard with these coefficients must carry (oracle_tab). */
static inline void
expected_payload(const uint8_t *msg, size_t len, uint32_t k, uint32_t piece, const uint8_t *coefs,
                 uint8_t *out, uint8_t *scratch)
{
    memset(out, 0, piece);
    for (uint32_t i = 0; i < k; i++) {
        if (!coefs[i])
            continue;
        piece_of(msg, len, piece, i, scratch);
        oracle_muladd(out, scratch, coefs[i], piece);
    }
}

static inline void
put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t
get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
