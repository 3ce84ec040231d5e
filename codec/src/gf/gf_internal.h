/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private interface of the GF(2^8) kernels. Each ISA file fills one
 * weft_gf_kernels table; dispatch.c picks one at weft_init(). The tables in
 * gf_tables.c are filled once, before any kernel runs, and read-only after.
 */
#ifndef WEFT_GF_INTERNAL_H
#define WEFT_GF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define WEFT_CPU_SSSE3 (1u << 0)
#define WEFT_CPU_AVX2 (1u << 1)
#define WEFT_CPU_AVX512BW (1u << 2) /* with F and VL, and OS-enabled zmm state */
#define WEFT_CPU_GFNI (1u << 3)
#define WEFT_CPU_NEON (1u << 4)

typedef void (*weft_gf_region_fn)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);
typedef void (*weft_gf_dot_fn)(uint8_t *const *dst, size_t nrows, const uint8_t *const *src,
                               size_t nsrc, const uint8_t *coef, size_t len, int accumulate);

typedef struct weft_gf_kernels {
    const char *name;
    unsigned needs; /* WEFT_CPU_* bits the CPU must have */
    weft_gf_region_fn mul;
    weft_gf_region_fn muladd;
    weft_gf_dot_fn dot;
} weft_gf_kernels;

extern const weft_gf_kernels weft_gf_ref_kernels;
extern const weft_gf_kernels weft_gf_ssse3_kernels;
extern const weft_gf_kernels weft_gf_avx2_kernels;
extern const weft_gf_kernels weft_gf_avx512_kernels;
extern const weft_gf_kernels weft_gf_gfni_kernels;
extern const weft_gf_kernels weft_gf_gfni256_kernels;
extern const weft_gf_kernels weft_gf_neon_kernels;

/* Tables, filled by weft_gf_tables_init() (called from weft_init). */
extern uint8_t weft_gf_mul_table[256][256]; /* a*b */
extern uint8_t weft_gf_inv_table[256];      /* a^-1, inv[0] = 0 */
extern uint8_t weft_gf_nib_table[256][32];  /* [c][0..15] = c*n, [c][16..31] = c*(n<<4) */
extern uint64_t weft_gf_affine_table[256];  /* GFNI bit matrix of x -> c*x (poly 0x11D) */

void weft_gf_tables_init(void);

/* Portable kernels, also used for the tails of the SIMD ones. */
void weft_gf_ref_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);
void weft_gf_ref_muladd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);

/* Cache sizes in bytes, read once by weft_gf_cache_probe() (from weft_init)
 * before any kernel runs; tests may set smaller ones to reach every blocking
 * path with small buffers. */
typedef struct weft_gf_cache {
    size_t l1d, l2, l3;
} weft_gf_cache;
extern weft_gf_cache weft_gf_caches;
void weft_gf_cache_probe(void);

/* How one fused dot call is blocked (gf_plan.c): bytes per chunk (a
 * multiple of step), whether the first row group prefetches the next chunk
 * of the sources, whether final rows go out with non-temporal stores. */
typedef struct weft_gf_plan {
    size_t chunk;
    int prefetch;
    int stream;
} weft_gf_plan;
void weft_gf_plan_make(weft_gf_plan *p, size_t step, size_t sblock, size_t rows, size_t nsrc,
                       size_t nrows, size_t len);

/* memcpy through non-temporal stores (x86; elsewhere memcpy), for copies
 * that will have left the caches before they are read. */
void weft_gf_copy_stream(uint8_t *dst, const uint8_t *src, size_t len);

/* The CPU features seen (WEFT_CPU_* bits), probed once. */
unsigned weft_cpu_probe(void);

/* The kernel set in use (after weft_init). */
const weft_gf_kernels *weft_gf_active(void);

#endif
