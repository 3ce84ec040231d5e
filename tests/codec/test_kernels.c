/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GF(2^8) region kernels of every compiled-in implementation, and the
 * dispatcher that chooses between them. Each parameterized test forces one
 * kernel set by name (skipping, with the reason, when the CPU lacks it) and
 * compares weft_gf_mul_region, weft_gf_muladd_region and weft_gf_dot with a
 * byte-at-a-time oracle built on weft_gf_mul (itself checked against an
 * independent multiply in test_gf.c). Lengths cover every SIMD width
 * boundary and tail; pointers sit at offsets 0..63 inside larger buffers
 * whose bytes before and after each output must stay untouched; sources must
 * stay unchanged. The internal tables the SIMD kernels use (nibble tables,
 * GFNI affine matrices) are checked against the field by plain C.
 *
 * With WEFT_GF_IMPL set (one ctest run per implementation) only that set is
 * exercised; without it, every name weft_gf_impl_list() returns.
 */
#include "testutil.h" /* criterion.h must come before parameterized.h */

#include <criterion/parameterized.h>
#include <pthread.h>

#include "gf_internal.h"

/* ---- parameters: one per implementation ------------------------------------ */

struct impl_param {
    char name[24];
};

static void
free_impl_params(struct criterion_test_params *crp)
{
    cr_free(crp->params);
}

static struct criterion_test_params
impl_params(void)
{
    const char *env = getenv("WEFT_GF_IMPL");
    const char *const *list = weft_gf_impl_list();
    size_t n = 0;
    if (env && *env)
        n = 1;
    else
        while (list[n])
            n++;
    struct impl_param *p = cr_calloc(n ? n : 1, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        snprintf(p[i].name, sizeof(p[i].name), "%s", (env && *env) ? env : list[i]);
    return cr_make_param_array(struct impl_param, p, n, free_impl_params);
}

static char initial_impl[32];

static void
kernels_setup(void)
{
    cr_assert_neq(weft_gf_impl_name(), NULL, "weft_gf_impl_name() returned NULL");
    snprintf(initial_impl, sizeof(initial_impl), "%s", weft_gf_impl_name());
    oracle_from_weft();
}

/* Put the automatic (or WEFT_GF_IMPL) choice back, as an application would. */
static void
kernels_teardown(void)
{
    if (!initial_impl[0])
        return;
    int rc = weft_gf_force(initial_impl);
    cr_assert_eq(rc, 0, "restoring %s failed: %s", initial_impl, weft_strerror(rc));
    cr_assert_str_eq(weft_gf_impl_name(), initial_impl, "restore picked %s, not %s",
                     weft_gf_impl_name(), initial_impl);
}

static void
use_impl(const char *name)
{
    if (!weft_gf_impl_available(name))
        cr_skip_test("implementation %s is not available on this CPU (features: %s)", name,
                     weft_cpu_features());
    int rc = weft_gf_force(name);
    cr_assert_eq(rc, 0, "weft_gf_force(%s) = %d (%s) although it is available", name, rc,
                 weft_strerror(rc));
    cr_assert_str_eq(weft_gf_impl_name(), name, "forced %s but weft_gf_impl_name() = %s", name,
                     weft_gf_impl_name());
}

/* ---- region kernels ----------------------------------------------------------- */

static const size_t edge_lens[] = {
    0,   1,   2,   3,    7,    8,    15,   16,   17,   31,   32,   33,   47,       48,   49,
    63,  64,  65,  95,   96,   97,   127,  128,  129,  191,  192,  193,  255,      256,  257,
    511, 512, 513, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4096 + 7, 5000,
};
#define N_EDGE (sizeof(edge_lens) / sizeof(edge_lens[0]))

enum { OP_MUL, OP_MULADD };

static void
region_case(const char *impl, int op, size_t len, size_t doff, size_t soff, uint8_t c, trng *r,
            uint64_t seed)
{
    static const char *opname[] = {"mul_region", "muladd_region"};
    gbuf d, s;
    gbuf_init(&d, len, doff, r);
    gbuf_init(&s, len, soff, r);
    uint8_t *want = malloc(len + 1);
    if (op == OP_MULADD)
        memcpy(want, d.p, len);
    else
        memset(want, 0, len);
    oracle_muladd(want, s.p, c, len);

    if (op == OP_MULADD)
        weft_gf_muladd_region(d.p, s.p, c, len);
    else
        weft_gf_mul_region(d.p, s.p, c, len);

    long bad = first_diff(d.p, want, len);
    cr_assert(bad < 0,
              "%s %s: len %zu, dst+%zu, src+%zu, c=0x%02x: byte %ld is 0x%02x, want 0x%02x "
              "[seed=%" PRIu64 "]",
              impl, opname[op], len, doff, soff, c, bad, bad < 0 ? 0 : d.p[bad],
              bad < 0 ? 0 : want[bad], seed);
    long dmg = gbuf_guard_damage(&d);
    cr_assert(dmg < 0,
              "%s %s: len %zu, dst+%zu, src+%zu, c=0x%02x wrote outside dst (offset %ld "
              "from dst) [seed=%" PRIu64 "]",
              impl, opname[op], len, doff, soff, c, dmg, seed);
    cr_assert(gbuf_unchanged(&s),
              "%s %s: len %zu, dst+%zu, src+%zu, c=0x%02x modified its source buffer "
              "[seed=%" PRIu64 "]",
              impl, opname[op], len, doff, soff, c, seed);
    free(want);
    gbuf_free(&d);
    gbuf_free(&s);
}

static void
region_sweep(const char *impl, int op)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    /* Every edge length with the constants 0, 1 and random ones. */
    for (size_t i = 0; i < N_EDGE; i++) {
        uint8_t consts[4] = {0, 1, (uint8_t)(2 + trng_below(&r, 254)), trng_byte(&r)};
        for (int j = 0; j < 4; j++)
            region_case(impl, op, edge_lens[i], trng_below(&r, 64), trng_below(&r, 64), consts[j],
                        &r, seed);
    }
    /* Random lengths. */
    for (int i = 0; i < 80; i++)
        region_case(impl, op, trng_below(&r, 5001), trng_below(&r, 64), trng_below(&r, 64),
                    trng_byte(&r), &r, seed);
    /* Every destination offset, with the source misaligned differently. */
    static const size_t sweep_lens[] = {1, 33, 100, 4096 + 7};
    for (size_t i = 0; i < 4; i++)
        for (size_t off = 0; off < 64; off++)
            region_case(impl, op, sweep_lens[i], off, (off * 7 + 3) & 63,
                        (uint8_t)(2 + trng_below(&r, 254)), &r, seed);
}

ParameterizedTestParameters(kernels, mul_region_matches_oracle)
{
    return impl_params();
}

ParameterizedTest(struct impl_param *p, kernels, mul_region_matches_oracle, .init = kernels_setup,
                  .fini = kernels_teardown)
{
    use_impl(p->name);
    region_sweep(p->name, OP_MUL);
}

ParameterizedTestParameters(kernels, muladd_region_matches_oracle)
{
    return impl_params();
}

ParameterizedTest(struct impl_param *p, kernels, muladd_region_matches_oracle,
                  .init = kernels_setup, .fini = kernels_teardown)
{
    use_impl(p->name);
    region_sweep(p->name, OP_MULADD);
}

ParameterizedTestParameters(kernels, in_place)
{
    return impl_params();
}

/* dst == src is allowed for both region kernels. */
ParameterizedTest(struct impl_param *p, kernels, in_place, .init = kernels_setup,
                  .fini = kernels_teardown)
{
    use_impl(p->name);
    uint64_t seed = test_seed();
    trng r = {seed};
    for (size_t i = 0; i < N_EDGE + 40; i++) {
        size_t len = i < N_EDGE ? edge_lens[i] : trng_below(&r, 5001);
        size_t off = trng_below(&r, 64);
        uint8_t c = i % 5 == 0 ? (uint8_t)(i % 2) : trng_byte(&r);
        for (int op = OP_MUL; op <= OP_MULADD; op++) {
            gbuf b;
            gbuf_init(&b, len, off, &r);
            uint8_t *want = malloc(len + 1);
            if (op == OP_MULADD)
                memcpy(want, b.p, len);
            else
                memset(want, 0, len);
            oracle_muladd(want, b.p, c, len);
            if (op == OP_MULADD)
                weft_gf_muladd_region(b.p, b.p, c, len);
            else
                weft_gf_mul_region(b.p, b.p, c, len);
            long bad = first_diff(b.p, want, len);
            cr_assert(bad < 0,
                      "%s in-place %s: len %zu, +%zu, c=0x%02x: byte %ld is 0x%02x, want "
                      "0x%02x [seed=%" PRIu64 "]",
                      p->name, op == OP_MUL ? "mul" : "muladd", len, off, c, bad,
                      bad < 0 ? 0 : b.p[bad], bad < 0 ? 0 : want[bad], seed);
            long dmg = gbuf_guard_damage(&b);
            cr_assert(dmg < 0,
                      "%s in-place %s: len %zu, +%zu wrote at offset %ld [seed=%" PRIu64 "]",
                      p->name, op == OP_MUL ? "mul" : "muladd", len, off, dmg, seed);
            free(want);
            gbuf_free(&b);
        }
    }
}

/* ---- the fused dot kernel -------------------------------------------------------- */

#define MAX_ROWS 24
#define MAX_SRC 64

/*
 * One weft_gf_dot call on nrows x nsrc freshly randomised, individually
 * misaligned buffers, checked row by row against the oracle.
 */
static void
dot_case(const char *impl, size_t nrows, size_t nsrc, size_t len, int acc, trng *r, uint64_t seed)
{
    gbuf d[MAX_ROWS], s[MAX_SRC];
    uint8_t *dptr[MAX_ROWS];
    const uint8_t *sptr[MAX_SRC];
    uint8_t *want[MAX_ROWS];
    /* Zeroed: only nrows * nsrc are drawn, which cppcheck cannot follow. */
    uint8_t coef[MAX_ROWS * MAX_SRC + 1] = {0}, coef_copy[MAX_ROWS * MAX_SRC + 1];

    for (size_t i = 0; i < nsrc; i++) {
        gbuf_init(&s[i], len, trng_below(r, 64), r);
        sptr[i] = s[i].p;
    }
    for (size_t j = 0; j < nrows * nsrc; j++)
        coef[j] = trng_coef(r);
    memcpy(coef_copy, coef, nrows * nsrc);
    for (size_t row = 0; row < nrows; row++) {
        gbuf_init(&d[row], len, trng_below(r, 64), r);
        dptr[row] = d[row].p;
        want[row] = malloc(len + 1);
        cr_assert(want[row], "out of memory");
        if (acc)
            memcpy(want[row], d[row].p, len);
        else
            memset(want[row], 0, len);
        for (size_t i = 0; i < nsrc; i++)
            oracle_muladd(want[row], s[i].p, coef[row * nsrc + i], len);
    }

    weft_gf_dot(dptr, nrows, sptr, nsrc, coef, len, acc);

    for (size_t row = 0; row < nrows; row++) {
        long bad = first_diff(d[row].p, want[row], len);
        cr_assert(bad < 0,
                  "%s dot: nrows %zu, nsrc %zu, len %zu, accumulate %d: row %zu byte %ld is "
                  "0x%02x, want 0x%02x [seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, acc, row, bad, bad < 0 ? 0 : d[row].p[bad],
                  bad < 0 ? 0 : want[row][bad], seed);
        long dmg = gbuf_guard_damage(&d[row]);
        cr_assert(dmg < 0,
                  "%s dot: nrows %zu, nsrc %zu, len %zu, accumulate %d: row %zu written at "
                  "offset %ld outside it [seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, acc, row, dmg, seed);
        free(want[row]);
        gbuf_free(&d[row]);
    }
    for (size_t i = 0; i < nsrc; i++) {
        cr_assert(gbuf_unchanged(&s[i]),
                  "%s dot: nrows %zu, nsrc %zu, len %zu: source %zu modified [seed=%" PRIu64 "]",
                  impl, nrows, nsrc, len, i, seed);
        gbuf_free(&s[i]);
    }
    cr_assert(memcmp(coef, coef_copy, nrows * nsrc) == 0,
              "%s dot: coefficient array modified [seed=%" PRIu64 "]", impl, seed);
}

ParameterizedTestParameters(kernels, dot_matches_oracle)
{
    return impl_params();
}

ParameterizedTest(struct impl_param *p, kernels, dot_matches_oracle, .init = kernels_setup,
                  .fini = kernels_teardown)
{
    use_impl(p->name);
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t n = 0;
    for (size_t nrows = 1; nrows <= 10; nrows++)
        for (size_t nsrc = 0; nsrc <= 40; nsrc++)
            for (int acc = 0; acc <= 1; acc++, n++) {
                /* Alternate (per shape, both accumulate modes alike) the edge
                 * lengths with random short ones. */
                size_t pick = n / 2;
                size_t len = pick % 2 ? edge_lens[(pick / 2) % N_EDGE] : trng_below(&r, 700);
                if (len > 1100 && nrows * nsrc > 100)
                    len = 1100 + (len & 63); /* keeps the sweep fast under ASan */
                dot_case(p->name, nrows, nsrc, len, acc, &r, seed);
            }
    /* nrows == 0 must be a no-op. */
    dot_case(p->name, 0, 3, 100, 0, &r, seed);
}

ParameterizedTestParameters(kernels, dot_large)
{
    return impl_params();
}

/* Many sources and rows over regions far larger than any cache block. */
ParameterizedTest(struct impl_param *p, kernels, dot_large, .init = kernels_setup,
                  .fini = kernels_teardown)
{
    use_impl(p->name);
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t big = test_quick() ? (64u << 10) + 3 : (1u << 20) + 3;
    dot_case(p->name, 24, 64, big, 1, &r, seed);
    dot_case(p->name, 24, 64, (64u << 10) + 5, 0, &r, seed);
    dot_case(p->name, 3, 17, (256u << 10) + 1, 0, &r, seed);
}

/* ---- internal tables --------------------------------------------------------------- */

/* What gf2p8affineqb does with a zero constant: bit i of the result is the
 * parity of (byte 7-i of the matrix) AND x. */
static uint8_t
apply_affine(uint64_t m, uint8_t x)
{
    uint8_t out = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t row = (uint8_t)(m >> (8 * (7 - i)));
        out |= (uint8_t)(__builtin_parity((unsigned)(row & x)) << i);
    }
    return out;
}

Test(tables, affine_matrices_multiply)
{
    (void)weft_init();
    for (unsigned c = 0; c < 256; c++)
        for (unsigned x = 0; x < 256; x++) {
            uint8_t got = apply_affine(weft_gf_affine_table[c], (uint8_t)x);
            uint8_t want = slow_mul((uint8_t)c, (uint8_t)x);
            cr_assert_eq(got, want,
                         "affine matrix of 0x%02x (0x%016" PRIx64 ") maps 0x%02x to 0x%02x, "
                         "want 0x%02x",
                         c, weft_gf_affine_table[c], x, got, want);
        }
}

Test(tables, nibble_tables_multiply)
{
    (void)weft_init();
    for (unsigned c = 0; c < 256; c++) {
        for (unsigned n = 0; n < 16; n++) {
            cr_assert_eq(weft_gf_nib_table[c][n], slow_mul((uint8_t)c, (uint8_t)n),
                         "nib[0x%02x][%u] = 0x%02x", c, n, weft_gf_nib_table[c][n]);
            cr_assert_eq(weft_gf_nib_table[c][16 + n], slow_mul((uint8_t)c, (uint8_t)(n << 4)),
                         "nib[0x%02x][%u] = 0x%02x", c, 16 + n, weft_gf_nib_table[c][16 + n]);
        }
        for (unsigned x = 0; x < 256; x++) {
            uint8_t got = weft_gf_nib_table[c][x & 15] ^ weft_gf_nib_table[c][16 + (x >> 4)];
            cr_assert_eq(got, slow_mul((uint8_t)c, (uint8_t)x),
                         "low/high nibble lookup gives 0x%02x * 0x%02x = 0x%02x", c, x, got);
        }
    }
}

Test(tables, product_and_inverse_tables)
{
    (void)weft_init();
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++)
            cr_assert_eq(weft_gf_mul_table[a][b], slow_mul((uint8_t)a, (uint8_t)b),
                         "mul_table[0x%02x][0x%02x] = 0x%02x", a, b, weft_gf_mul_table[a][b]);
        if (a)
            cr_assert_eq(slow_mul((uint8_t)a, weft_gf_inv_table[a]), 1,
                         "inv_table[0x%02x] = 0x%02x is not an inverse", a, weft_gf_inv_table[a]);
    }
    cr_assert_eq(weft_gf_inv_table[0], 0, "inv_table[0] = 0x%02x", weft_gf_inv_table[0]);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static int
in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Whether token appears as a whole item of the comma-separated list. */
static int
has_token(const char *csv, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = csv; (p = strstr(p, token)) != NULL; p++)
        if ((p == csv || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

Test(dispatch, impl_list_is_complete)
{
    const char *const *list = weft_gf_impl_list();
    cr_assert_neq(list, NULL, "weft_gf_impl_list() returned NULL");
#if defined(__x86_64__)
    static const char *const expect[] = {"ref", "ssse3", "avx2", "avx512", "gfni", "gfni256"};
#elif defined(__aarch64__)
    static const char *const expect[] = {"ref", "neon"};
#else
    static const char *const expect[] = {"ref"};
#endif
    size_t nexp = sizeof(expect) / sizeof(expect[0]);
    size_t n = 0;
    for (; list[n]; n++) {
        cr_assert(n < 32, "implementation list is not NULL-terminated");
        for (size_t j = 0; j < n; j++)
            cr_assert_str_neq(list[n], list[j], "%s listed twice", list[n]);
        int known = 0;
        for (size_t j = 0; j < nexp; j++)
            known |= strcmp(list[n], expect[j]) == 0;
        cr_assert(known, "unexpected implementation name \"%s\" for this architecture", list[n]);
    }
    for (size_t j = 0; j < nexp; j++)
        cr_assert(in_list(list, expect[j]), "implementation %s is not compiled in", expect[j]);
    cr_assert_eq(weft_gf_impl_available("ref"), 1, "ref must always be available");
}

Test(dispatch, force_rejects_unknown_names)
{
    char before[32];
    snprintf(before, sizeof(before), "%s", weft_gf_impl_name());
    static const char *const bogus[] = {"", "REF", "sse2", "avx2 ", "bogus"};
    for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
        int rc = weft_gf_force(bogus[i]);
        cr_assert_eq(rc, WEFT_EINVAL, "weft_gf_force(\"%s\") = %d, want WEFT_EINVAL", bogus[i], rc);
        cr_assert_eq(weft_gf_impl_available(bogus[i]), 0, "\"%s\" reported available", bogus[i]);
        cr_assert_str_eq(weft_gf_impl_name(), before, "a rejected force changed the set to %s",
                         weft_gf_impl_name());
    }
}

Test(dispatch, force_unavailable_keeps_choice)
{
    char before[32];
    snprintf(before, sizeof(before), "%s", weft_gf_impl_name());
    const char *const *list = weft_gf_impl_list();
    int tried = 0;
    for (size_t i = 0; list[i]; i++) {
        if (weft_gf_impl_available(list[i]))
            continue;
        tried++;
        int rc = weft_gf_force(list[i]);
        cr_assert_eq(rc, WEFT_ENOIMPL, "forcing unavailable %s returned %d, want WEFT_ENOIMPL",
                     list[i], rc);
        cr_assert_str_eq(weft_gf_impl_name(), before, "failed force changed the set to %s",
                         weft_gf_impl_name());
    }
    /* A set of the other architecture is never compiled in. */
#if defined(__x86_64__)
    const char *foreign = "neon";
#else
    const char *foreign = "avx2";
#endif
    int rc = weft_gf_force(foreign);
    cr_assert(rc == WEFT_EINVAL || rc == WEFT_ENOIMPL, "forcing %s here returned %d", foreign, rc);
    cr_assert_eq(weft_gf_impl_available(foreign), 0, "%s reported available", foreign);
    cr_assert_str_eq(weft_gf_impl_name(), before, "failed force changed the set");
    if (!tried)
        cr_log_info("every compiled-in implementation runs on this CPU");
}

Test(dispatch, force_switches_and_reports)
{
    char before[32];
    snprintf(before, sizeof(before), "%s", weft_gf_impl_name());
    const char *const *list = weft_gf_impl_list();
    for (size_t i = 0; list[i]; i++) {
        if (!weft_gf_impl_available(list[i]))
            continue;
        int rc = weft_gf_force(list[i]);
        cr_assert_eq(rc, 0, "weft_gf_force(%s) = %d", list[i], rc);
        cr_assert_str_eq(weft_gf_impl_name(), list[i], "forced %s, name says %s", list[i],
                         weft_gf_impl_name());
        uint8_t src[40], dst[40];
        for (int x = 0; x < 40; x++)
            src[x] = (uint8_t)(x * 37 + 1);
        weft_gf_mul_region(dst, src, 0x53, sizeof(dst));
        for (int x = 0; x < 40; x++)
            cr_assert_eq(dst[x], slow_mul(0x53, src[x]), "%s: wrong product at %d", list[i], x);
    }
    cr_assert_eq(weft_gf_force(before), 0, "could not restore %s", before);
    cr_assert_str_eq(weft_gf_impl_name(), before, "restore failed");
}

Test(dispatch, environment_or_automatic_choice)
{
    const char *want = getenv("WEFT_GF_IMPL");
    int rc = weft_init();
    const char *name = weft_gf_impl_name();
    cr_assert_neq(name, NULL, "no implementation name");
    cr_assert(weft_gf_impl_available(name), "active set %s is not available", name);
    cr_assert_eq(weft_init(), rc, "a second weft_init() returned a different status");
    if (want && *want) {
        if (weft_gf_impl_available(want)) {
            cr_assert_eq(rc, 0, "weft_init() = %d with available WEFT_GF_IMPL=%s", rc, want);
            cr_assert_str_eq(name, want, "WEFT_GF_IMPL=%s, dispatcher chose %s", want, name);
        } else {
            cr_assert_eq(rc, WEFT_ENOIMPL, "weft_init() = %d with unavailable WEFT_GF_IMPL=%s", rc,
                         want);
        }
        return;
    }
    cr_assert_eq(rc, 0, "weft_init() = %d without WEFT_GF_IMPL", rc);
    /* The automatic choice is never the portable code when SIMD is there. */
    const char *const *list = weft_gf_impl_list();
    int simd = 0;
    for (size_t i = 0; list[i]; i++)
        simd |= strcmp(list[i], "ref") != 0 && weft_gf_impl_available(list[i]);
    if (simd)
        cr_assert_str_neq(name, "ref", "SIMD sets are available but the dispatcher chose ref");
}

Test(dispatch, cpu_features_agree_with_availability)
{
    const char *f = weft_cpu_features();
    cr_assert_neq(f, NULL, "weft_cpu_features() returned NULL");
    cr_assert_neq(f[0], '\0', "weft_cpu_features() is empty");
#if defined(__x86_64__)
    __builtin_cpu_init();
    int ssse3 = __builtin_cpu_supports("ssse3") != 0;
    int avx2 = __builtin_cpu_supports("avx2") != 0;
    int gfni = __builtin_cpu_supports("gfni") != 0;
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    cr_assert_eq(weft_gf_impl_available("ssse3"), ssse3, "ssse3: weft %d, cpu %d",
                 weft_gf_impl_available("ssse3"), ssse3);
    cr_assert_eq(weft_gf_impl_available("avx2"), avx2, "avx2: weft %d, cpu %d",
                 weft_gf_impl_available("avx2"), avx2);
    cr_assert_eq(weft_gf_impl_available("avx512"), avx512, "avx512: weft %d, cpu %d",
                 weft_gf_impl_available("avx512"), avx512);
    cr_assert_eq(weft_gf_impl_available("gfni256"), gfni && avx2, "gfni256: weft %d, cpu %d",
                 weft_gf_impl_available("gfni256"), gfni && avx2);
    cr_assert_eq(weft_gf_impl_available("gfni"), gfni && avx512, "gfni: weft %d, cpu %d",
                 weft_gf_impl_available("gfni"), gfni && avx512);
    cr_assert_eq(has_token(f, "ssse3"), ssse3, "features \"%s\" vs cpu ssse3=%d", f, ssse3);
    cr_assert_eq(has_token(f, "avx2"), avx2, "features \"%s\" vs cpu avx2=%d", f, avx2);
    cr_assert_eq(has_token(f, "gfni"), gfni, "features \"%s\" vs cpu gfni=%d", f, gfni);
#elif defined(__aarch64__)
    cr_assert_eq(weft_gf_impl_available("neon"), 1, "NEON is baseline on aarch64");
    cr_assert(has_token(f, "neon"), "features \"%s\" lack neon", f);
#endif
}

static void *
init_and_multiply(void *arg)
{
    uint8_t *out = arg;
    if (weft_init() != 0 && weft_init() != WEFT_ENOIMPL)
        out[256] = 1;
    for (unsigned b = 0; b < 256; b++)
        out[b] = weft_gf_mul(0xA7, (uint8_t)b);
    uint8_t src[300], dst[300];
    for (int x = 0; x < 300; x++)
        src[x] = (uint8_t)x;
    weft_gf_mul_region(dst, src, 0xA7, sizeof(dst));
    for (int x = 0; x < 300; x++)
        if (dst[x] != out[x & 255])
            out[256] = 2;
    return NULL;
}

/* First use from many threads at once: every one must see finished tables. */
Test(dispatch, init_from_many_threads)
{
    enum { NT = 8 };
    pthread_t t[NT];
    static uint8_t res[NT][257];
    for (int i = 0; i < NT; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, init_and_multiply, res[i]), 0, "pthread_create");
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(res[i][256], 0, "thread %d: init failed or region mismatch (%d)", i,
                     res[i][256]);
        for (unsigned b = 0; b < 256; b++)
            cr_assert_eq(res[i][b], slow_mul(0xA7, (uint8_t)b), "thread %d: 0xa7 * 0x%02x = 0x%02x",
                         i, b, res[i][b]);
    }
}
