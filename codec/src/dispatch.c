/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel dispatch: weft_init() builds the tables and picks the fastest
 * kernel set the CPU supports, once, under pthread_once. WEFT_GF_IMPL or
 * weft_gf_force() override the choice. The public region calls go through
 * the active set; they call weft_init() first if nobody has.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gf_internal.h"
#include "weft/codec.h"

/* Fastest first. */
static const weft_gf_kernels *const all_sets[] = {
#if WEFT_ARCH_X86
    &weft_gf_gfni_kernels, &weft_gf_gfni256_kernels, &weft_gf_avx512_kernels,
    &weft_gf_avx2_kernels, &weft_gf_ssse3_kernels,
#endif
#if WEFT_ARCH_ARM64
    &weft_gf_neon_kernels,
#endif
    &weft_gf_ref_kernels,
};
#define NSETS (sizeof(all_sets) / sizeof(all_sets[0]))

static const char *set_names[NSETS + 1];
static unsigned cpu_feats;
static char feat_text[64];
static int env_status;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic(const weft_gf_kernels *) active;

static int
supported(const weft_gf_kernels *k)
{
    return (k->needs & cpu_feats) == k->needs;
}

/* A compiled-in set by name, or NULL; does not check CPU support. */
static const weft_gf_kernels *
gf_lookup(const char *name)
{
    for (size_t i = 0; i < NSETS; i++)
        if (strcmp(all_sets[i]->name, name) == 0)
            return all_sets[i];
    return NULL;
}

static void
init_once(void)
{
    weft_gf_tables_init();
    weft_gf_cache_probe();
    cpu_feats = weft_cpu_probe();
    static const struct {
        unsigned bit;
        const char *name;
    } fn[] = {{WEFT_CPU_SSSE3, "ssse3"},
              {WEFT_CPU_AVX2, "avx2"},
              {WEFT_CPU_AVX512BW, "avx512bw"},
              {WEFT_CPU_GFNI, "gfni"},
              {WEFT_CPU_NEON, "neon"}};
    for (size_t i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
        if (cpu_feats & fn[i].bit) {
            if (feat_text[0])
                strcat(feat_text, ",");
            strcat(feat_text, fn[i].name);
        }
    }
    if (!feat_text[0])
        strcpy(feat_text, "none");
    for (size_t i = 0; i < NSETS; i++)
        set_names[i] = all_sets[i]->name;

    const weft_gf_kernels *pick = &weft_gf_ref_kernels;
    for (size_t i = 0; i < NSETS; i++) {
        if (supported(all_sets[i])) {
            pick = all_sets[i];
            break;
        }
    }
    const char *env = getenv("WEFT_GF_IMPL");
    if (env && *env && strcmp(env, "auto") != 0) {
        const weft_gf_kernels *k = gf_lookup(env);
        if (k && supported(k)) {
            pick = k;
        } else {
            env_status = WEFT_ENOIMPL;
            fprintf(stderr, "weft: WEFT_GF_IMPL=%s %s; using %s\n", env,
                    k ? "is not supported by this CPU" : "is not a known implementation",
                    pick->name);
        }
    }
    atomic_store_explicit(&active, pick, memory_order_release);
}

int
weft_init(void)
{
    pthread_once(&once, init_once);
    return env_status;
}

const weft_gf_kernels *
weft_gf_active(void)
{
    const weft_gf_kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (__builtin_expect(k == NULL, 0)) {
        weft_init();
        k = atomic_load_explicit(&active, memory_order_acquire);
    }
    return k;
}

int
weft_gf_force(const char *name)
{
    weft_init();
    if (!name)
        return WEFT_EINVAL;
    const weft_gf_kernels *k = gf_lookup(name);
    if (!k)
        return WEFT_EINVAL;
    if (!supported(k))
        return WEFT_ENOIMPL;
    atomic_store_explicit(&active, k, memory_order_release);
    return 0;
}

const char *
weft_gf_impl_name(void)
{
    return weft_gf_active()->name;
}

int
weft_gf_impl_available(const char *name)
{
    weft_init();
    const weft_gf_kernels *k = name ? gf_lookup(name) : NULL;
    return k && supported(k);
}

const char *const *
weft_gf_impl_list(void)
{
    weft_init();
    return set_names;
}

const char *
weft_cpu_features(void)
{
    weft_init();
    return feat_text;
}

uint8_t
weft_gf_mul(uint8_t a, uint8_t b)
{
    weft_gf_active();
    return weft_gf_mul_table[a][b];
}

uint8_t
weft_gf_inv(uint8_t a)
{
    weft_gf_active();
    return weft_gf_inv_table[a];
}

uint8_t
weft_gf_div(uint8_t a, uint8_t b)
{
    weft_gf_active();
    return b ? weft_gf_mul_table[a][weft_gf_inv_table[b]] : 0;
}

void
weft_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    weft_gf_active()->mul(dst, src, c, len);
}

void
weft_gf_muladd_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    weft_gf_active()->muladd(dst, src, c, len);
}

void
weft_gf_dot(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
            const uint8_t *coef, size_t len, int accumulate)
{
    weft_gf_active()->dot(dst, nrows, src, nsrc, coef, len, accumulate);
}
