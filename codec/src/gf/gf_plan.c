/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cache sizes read at run time and the blocking the fused dot kernels derive
 * from them. Nothing here is tuned to one CPU: the chunk of bytes a kernel
 * handles at a time follows from the L1 and L2 sizes of the machine it runs
 * on, and the prefetch and non-temporal store decisions from L2 and L3.
 *
 * Sizes come from sysconf (glibc reads them from cpuid or sysfs), else from
 * cpuid leaf 4 (Intel) or 0x8000001D (AMD), both deterministic cache
 * parameter leaves of the same layout, else from conservative defaults.
 */
#include <string.h>
#include <unistd.h>

#include "gf_internal.h"

#if WEFT_ARCH_X86
#include <cpuid.h>
#include <emmintrin.h>
#endif

weft_gf_cache weft_gf_caches = {32u << 10, 256u << 10, 8u << 20};

#if WEFT_ARCH_X86
/* Size of the data (or unified) cache of the given level from a
 * deterministic cache parameter leaf, or 0. */
static size_t
cpuid_cache(unsigned leaf, unsigned level)
{
    unsigned a, b, c, d;
    if ((unsigned)__get_cpuid_max(leaf & 0x80000000u, 0) < leaf)
        return 0;
    for (unsigned i = 0; i < 16; i++) {
        __cpuid_count(leaf, i, a, b, c, d);
        unsigned type = a & 0x1f;
        if (type == 0)
            break;
        if (type == 2 || ((a >> 5) & 7) != level) /* 2: instruction cache */
            continue;
        size_t ways = ((b >> 22) & 0x3ff) + 1, parts = ((b >> 12) & 0x3ff) + 1;
        size_t line = (b & 0xfff) + 1, sets = (size_t)c + 1;
        return ways * parts * line * sets;
    }
    return 0;
}
#endif

static size_t
probe_level(unsigned level)
{
    long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) &&                           \
    defined(_SC_LEVEL3_CACHE_SIZE)
    v = sysconf(level == 1   ? _SC_LEVEL1_DCACHE_SIZE
                : level == 2 ? _SC_LEVEL2_CACHE_SIZE
                             : _SC_LEVEL3_CACHE_SIZE);
#endif
    if (v > 0)
        return (size_t)v;
#if WEFT_ARCH_X86
    size_t s = cpuid_cache(4, level);
    if (!s)
        s = cpuid_cache(0x8000001Du, level);
    return s;
#else
    return 0;
#endif
}

/* Sizes outside these bounds are taken as misreported. */
static size_t
clamp_or(size_t v, size_t lo, size_t hi, size_t dflt)
{
    return v >= lo && v <= hi ? v : dflt;
}

void
weft_gf_cache_probe(void)
{
    weft_gf_caches.l1d = clamp_or(probe_level(1), 4u << 10, 1u << 20, 32u << 10);
    weft_gf_caches.l2 = clamp_or(probe_level(2), 64u << 10, 64u << 20, 256u << 10);
    size_t l3 = probe_level(3);
    /* No L3 (many Arm cores): the L2 is the last level. */
    weft_gf_caches.l3 = clamp_or(l3, weft_gf_caches.l2, (size_t)4 << 30, weft_gf_caches.l2);
}

/*
 * Blocking of one dot call. A pass keeps its source block (at most sblock
 * sources) and its group of rows accumulators' memory in L1 while it walks
 * one chunk; every row group of that chunk reads the same nsrc source
 * chunks, and each destination chunk is read and written once per source
 * block, so those nsrc + nrows chunks should stay in L2 until the chunk is
 * done. Hence chunk <= L1/2 / (sblock + rows) and <= L2/2 / (nsrc + nrows),
 * rounded down to whole steps, and never under four steps (below that the
 * per-pass table set-up dominates).
 *
 * Sources that do not fit in L2 come from L3 or memory: the first row group
 * prefetches the next chunk of each source while it works on this one. The
 * rows are written with non-temporal stores when they exceed L2 and, with
 * the sources, cannot stay in the last level cache either (half of it: the
 * other half is left to the caller's data and other cores), since then the
 * lines would only be evicted to memory later, after a read for ownership.
 */
void
weft_gf_plan_make(weft_gf_plan *p, size_t step, size_t sblock, size_t rows, size_t nsrc,
                  size_t nrows, size_t len)
{
    const weft_gf_cache *c = &weft_gf_caches;
    size_t sb = nsrc < sblock ? nsrc : sblock;
    size_t rb = nrows < rows ? nrows : rows;
    size_t a = c->l1d / 2 / (sb + rb);
    size_t b = c->l2 / 2 / (nsrc + nrows);
    size_t chunk = a < b ? a : b;
    chunk -= chunk % step;
    if (chunk < 4 * step)
        chunk = 4 * step;
    p->chunk = chunk;
    p->prefetch = nsrc * len > c->l2 && len >= 2 * chunk;
    p->stream = nrows * len > c->l2 && (nsrc + nrows) * len > c->l3 / 2;
}

void
weft_gf_copy_stream(uint8_t *dst, const uint8_t *src, size_t len)
{
#if WEFT_ARCH_X86
    size_t x = 0;
    size_t lead = (64 - ((uintptr_t)dst & 63)) & 63;
    if (len < lead + 64) {
        memcpy(dst, src, len);
        return;
    }
    memcpy(dst, src, lead);
    for (x = lead; x + 64 <= len; x += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + x));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + x + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + x + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + x + 48));
        _mm_stream_si128((__m128i *)(void *)(dst + x), a);
        _mm_stream_si128((__m128i *)(void *)(dst + x + 16), b);
        _mm_stream_si128((__m128i *)(void *)(dst + x + 32), c);
        _mm_stream_si128((__m128i *)(void *)(dst + x + 48), d);
    }
    _mm_sfence();
    memcpy(dst + x, src + x, len - x);
#else
    memcpy(dst, src, len);
#endif
}
