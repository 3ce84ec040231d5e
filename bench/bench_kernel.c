/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kernel.c: `weft-bench kernel`, the fused multi-row multiply-
 * accumulate kernel (weft_gf_dot: rows x sources over len bytes) of each
 * weft kernel set on L1-, L2- and L3-resident data. Each line gives GB/s of
 * work (rows x sources x len bytes multiplied and added per second), the
 * core clock measured with a dependent add chain, the TSC rate, cycles per
 * 32 bytes per row and source, and beside them the instruction-mix bound of
 * that kernel set on this CPU: the cycles the kernel's micro-ops need on
 * the execution ports a simple per-vendor port model gives (bench/README.md
 * derives it), so every machine says how close it is to its own limit.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <getopt.h>

#include "bench_util.h"
#include "weft/codec.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static const char *const level_names[3] = {"l1", "l2", "l3"};

/* A port model: ports that execute vector ALU ops, byte shuffles, loads (of
 * one vector), and micro-ops issued per cycle, for one vector width. */
typedef struct port_model {
    const char *name;
    double alu, shuf, load, width;
} port_model;

/* Micro-ops of one step of the kernel per row and source and per vector,
 * for R rows, S sources and NV vectors a step (gf_nib_tmpl.h). */
typedef struct kernel_mix {
    unsigned vbytes, nv;
    int ternlog;
    unsigned rows_per_pass;
} kernel_mix;

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Core clock in GHz: a chain of dependent integer multiplies, 3 cycles each
 * on every x86 core since Nehalem and Zen (adds of an immediate are not
 * used: Golden Cove folds those at rename). */
static int use_cpu_clock;

static double
clock_ns(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double
measure_clock_ghz(void)
{
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t n = 2000000, x = 3;
        double t0 = clock_ns();
        for (uint64_t i = 0; i < n; i++) {
#if HAVE_X86
            __asm__ volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
#else
            __asm__ volatile("mul %0, %0, %0\n\tmul %0, %0, %0\n\tmul %0, %0, %0\n\t"
                             "mul %0, %0, %0"
                             : "+r"(x));
#endif
        }
        double t1 = clock_ns();
        /* four dependent multiplies of 3 cycles per iteration; the loop's own
         * add and branch run alongside */
        double ghz = 12.0 * (double)n / (t1 - t0);
        if (ghz > best)
            best = ghz;
    }
    return best;
}

static double
measure_tsc_ghz(void)
{
#if HAVE_X86
    double t0 = now_ns();
    uint64_t c0 = __rdtsc();
    while (now_ns() - t0 < 50e6)
        ;
    uint64_t c1 = __rdtsc();
    return (double)(c1 - c0) / (now_ns() - t0);
#else
    return 0;
#endif
}

/* The port model of this CPU for vectors of vbytes, or NULL. Intel big
 * cores since Ice Lake: vpshufb xmm/ymm on ports 1 and 5, vector ALU on
 * 0, 1, 5; 512-bit ops on 0 (fused with 1) and 5, shuffles on 5 only; three
 * loads a cycle (two of 64 bytes) on Golden Cove, two before. Skylake: one
 * shuffle port, two loads, four-wide issue. AMD Zen 2 to 4: four vector
 * pipes, shuffles on two, two vector loads a cycle; Zen 4 runs 512-bit ops
 * as two halves. */
static int
port_model_for(unsigned vbytes, port_model *m)
{
#if HAVE_X86
    unsigned a, b, c, d;
    char vendor[13];
    __cpuid(0, a, b, c, d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    __cpuid(1, a, b, c, d);
    unsigned fam = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (fam == 0xf)
        fam += (a >> 20) & 0xff;
    if (fam == 6 || fam == 0xf)
        model |= ((a >> 16) & 0xf) << 4;
    if (strcmp(vendor, "GenuineIntel") == 0 && fam == 6) {
        int skl = model == 0x55 || model == 0x4e || model == 0x5e || model == 0x8e ||
                  model == 0x9e || model == 0xa5 || model == 0x3f || model == 0x4f ||
                  model == 0x3c || model == 0x45 || model == 0x46;
        int glc = model == 0x8f || model == 0xcf || model == 0x97 || model == 0x9a ||
                  model == 0xb7 || model == 0xba || model == 0xbf || model == 0xad || model == 0xae;
        if (skl)
            *m = (port_model){"intel-skylake", 3, 1, 2, 4};
        else if (glc)
            *m = (port_model){"intel-golden-cove", 3, 2, 3, 6};
        else
            *m = (port_model){"intel-sunny-cove", 3, 2, 2, 5};
        if (vbytes == 64) {
            m->alu = 2;
            m->shuf = 1;
            m->load = 2;
        }
        return 1;
    }
    if (strcmp(vendor, "AuthenticAMD") == 0 && fam >= 0x17) {
        *m = (port_model){fam == 0x17   ? "amd-zen2"
                          : fam == 0x19 ? "amd-zen3-4"
                                        : "amd-zen5",
                          4, 2, 2, fam == 0x17 ? 5 : 6};
        if (vbytes == 64 && fam == 0x19) {
            m->alu = 2;
            m->shuf = 1;
            m->load = 1;
        }
        return 1;
    }
#endif
    (void)vbytes;
    (void)m;
    return 0;
}

/* Cycles per 32 bytes per row and source the port model allows for the
 * split-table kernel (gf_nib_tmpl.h) with R rows (at most rows_per_pass at
 * a time) and S sources: per row,
 * source and vector 2 shuffles, 2 xors (one vpternlogq with AVX-512) and
 * 2 / NV table loads; per source and vector one load and 3 ALU ops (mask,
 * shift, mask) shared by the R rows; per row and vector one accumulator
 * store shared by the S sources. Loads and stores of the accumulators
 * between source blocks and loop overhead are left out. */
static double
mix_bound(const kernel_mix *k, const port_model *m, unsigned rows, unsigned srcs)
{
    double R = rows < k->rows_per_pass ? rows : k->rows_per_pass, S = srcs;
    double shuf = 2.0;
    double alu = 2.0 + (k->ternlog ? 1.0 : 2.0) + 3.0 / R;
    double load = 2.0 / k->nv + 1.0 / R;
    double uops = (k->ternlog ? 3.0 : 4.0) + 3.0 / R + load + 1.0 / S;
    double c = shuf / m->shuf;
    if (alu / m->alu > c)
        c = alu / m->alu;
    if (load / m->load > c)
        c = load / m->load;
    if (uops / m->width > c)
        c = uops / m->width;
    return c * 32.0 / k->vbytes;
}

static int
kernel_mix_for(const char *impl, kernel_mix *k)
{
    /* as gf_ssse3.c, gf_avx2.c, gf_avx512.c, gf_neon.c define NV and ROWS */
    if (strcmp(impl, "ssse3") == 0)
        *k = (kernel_mix){16, 1, 0, 8};
    else if (strcmp(impl, "neon") == 0)
        *k = (kernel_mix){16, 2, 0, 4};
    else if (strcmp(impl, "avx2") == 0)
        *k = (kernel_mix){32, 1, 0, 8};
    else if (strcmp(impl, "avx512") == 0)
        *k = (kernel_mix){64, 2, 1, 8};
    else
        return 0;
    return 1;
}

typedef struct kctx {
    uint8_t **dst;
    const uint8_t **src;
    uint8_t *coef;
    size_t rows, srcs, len;
} kctx;

static void
kernel_op(void *arg)
{
    kctx *c = arg;
    weft_gf_dot(c->dst, c->rows, c->src, c->srcs, c->coef, c->len, 0);
}

static size_t
cache_size(int level)
{
    long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    v = sysconf(level == 0   ? _SC_LEVEL1_DCACHE_SIZE
                : level == 1 ? _SC_LEVEL2_CACHE_SIZE
                             : _SC_LEVEL3_CACHE_SIZE);
#endif
    if (v <= 0)
        v = level == 0 ? 32 << 10 : level == 1 ? 512 << 10 : 8 << 20;
    return (size_t)v;
}

void
bench_kernel_usage(FILE *out)
{
    fprintf(out,
            "Usage: weft-bench kernel [--backend NAME[,NAME]] [--rows R] [--srcs S]\n"
            "                         [--level l1,l2,l3] [--runs N] [--min-ms MS] [--cpu-time]\n"
            "                         [--json]\n"
            "\n"
            "Times weft_gf_dot (R rows x S sources, default 4 x 16) of each weft kernel set\n"
            "on data sized to half of L1, half of L2, and 4 x L2 (at most half of L3),\n"
            "sources and rows together. Prints GB/s of multiply-accumulate work\n"
            "(R x S x len per second), the measured core clock and TSC rate, cycles per 32\n"
            "bytes per row and source, and the instruction-mix bound of the kernel set on\n"
            "this CPU's port model (bench/README.md), with pct_of_bound = bound / cycles.\n"
            "--cpu-time times with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), which\n"
            "leaves out time the thread was descheduled on a shared machine; the core clock\n"
            "is then measured with that clock too.\n");
}

int
bench_kernel_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"backend", required_argument, 0, 'b'}, {"rows", required_argument, 0, 'r'},
        {"srcs", required_argument, 0, 's'},    {"level", required_argument, 0, 'l'},
        {"runs", required_argument, 0, 'n'},    {"min-ms", required_argument, 0, 'm'},
        {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
        {"cpu-time", no_argument, 0, 'c'},      {0, 0, 0, 0}};
    const char *backend_arg = NULL;
    uint64_t rows = 4, srcs = 16, runs = 5, min_ms = 20;
    unsigned levels = 7;
    int json = 0, cpu_time = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 'b': backend_arg = optarg; break;
        case 'r':
            if (bench_parse_u64(optarg, &rows) || rows < 1 || rows > 255)
                return bench_usage_error("kernel", "--rows %s: expected 1..255", optarg);
            break;
        case 's':
            if (bench_parse_u64(optarg, &srcs) || srcs < 1 || srcs > 255)
                return bench_usage_error("kernel", "--srcs %s: expected 1..255", optarg);
            break;
        case 'l':
            if (bench_parse_names(optarg, level_names, 3, &levels) || levels == 0)
                return bench_usage_error("kernel", "--level %s: expected l1, l2, l3", optarg);
            break;
        case 'n':
            if (bench_parse_u64(optarg, &runs) || runs < 1 || runs > 1000)
                return bench_usage_error("kernel", "--runs %s: expected 1..1000", optarg);
            break;
        case 'm':
            if (bench_parse_u64(optarg, &min_ms) || min_ms < 1 || min_ms > 10000)
                return bench_usage_error("kernel", "--min-ms %s: expected 1..10000", optarg);
            break;
        case 'j': json = 1; break;
        case 'c': cpu_time = 1; break;
        case 'h': bench_kernel_usage(stdout); return 0;
        default: bench_kernel_usage(stderr); return 2;
        }
    }
    if (weft_init() != 0)
        fprintf(stderr, "weft-bench kernel: warning: WEFT_GF_IMPL ignored\n");
    use_cpu_clock = cpu_time;
    const char *impl_auto = weft_gf_impl_name();
    const char *const *impls = weft_gf_impl_list();
    double tsc = measure_tsc_ghz();
    uint8_t *coef = bench_xalloc(rows * srcs);
    for (size_t i = 0; i < rows * srcs; i++)
        coef[i] = (uint8_t)(i * 131 + 7) ? (uint8_t)(i * 131 + 7) : 1;
    if (!json)
        printf("%-8s %-3s %5s %5s %9s %8s %6s %6s %9s %9s %6s\n", "backend", "lvl", "rows", "srcs",
               "len", "GB/s", "GHz", "TSC", "cyc/32B", "bound", "pct");
    for (size_t ii = 0; impls[ii]; ii++) {
        const char *impl = impls[ii];
        kernel_mix km = {0, 1, 0, 4};
        if (strcmp(impl, "ref") == 0 || !weft_gf_impl_available(impl))
            continue;
        if (backend_arg) {
            /* a comma-separated list of names */
            size_t n = strlen(impl);
            const char *p = backend_arg;
            int hit = 0;
            while (*p) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                hit |= l == n && strncmp(p, impl, n) == 0;
                p += l + (e ? 1 : 0);
            }
            if (!hit)
                continue;
        }
        if (weft_gf_force(impl) != 0)
            continue;
        int have_mix = kernel_mix_for(impl, &km);
        for (int lv = 0; lv < 3; lv++) {
            if (!(levels & (1u << lv)))
                continue;
            size_t total = lv == 0   ? cache_size(0) / 2
                           : lv == 1 ? cache_size(1) / 2
                                     : 4 * cache_size(1);
            if (lv == 2 && total > cache_size(2) / 2)
                total = cache_size(2) / 2;
            size_t len = total / (size_t)(rows + srcs);
            len -= len % 64;
            if (len < 64)
                len = 64;
            kctx c = {bench_xalloc(rows * sizeof(uint8_t *)),
                      bench_xalloc(srcs * sizeof(uint8_t *)),
                      coef,
                      rows,
                      srcs,
                      len};
            uint8_t *mem = bench_xalloc((size_t)(rows + srcs) * (len + 64));
            for (size_t i = 0; i < (size_t)(rows + srcs) * (len + 64); i++)
                mem[i] = (uint8_t)(i * 2654435761u >> 11);
            for (size_t s = 0; s < srcs; s++)
                c.src[s] = mem + s * (len + 64);
            for (size_t r = 0; r < rows; r++)
                c.dst[r] = mem + (srcs + r) * (len + 64);
            bench_case bc = {&c, NULL, kernel_op};
            bench_measure_opts mo = {(unsigned)runs, (double)min_ms, 0, 0, cpu_time};
            bench_stats st;
            double ghz0 = measure_clock_ghz();
            bench_measure(&bc, &mo, &st);
            double ghz = (ghz0 + measure_clock_ghz()) / 2;
            double work = (double)rows * (double)srcs * (double)len;
            double gbps = work / st.median_ns;
            double cyc = st.median_ns * ghz / (work / 32.0);
            port_model pm;
            int have_pm = have_mix && port_model_for(km.vbytes, &pm);
            double bound = have_pm ? mix_bound(&km, &pm, (unsigned)rows, (unsigned)srcs) : 0;
            if (json) {
                bench_json j;
                bench_json_begin(&j);
                bench_json_str(&j, "bench", "kernel");
                bench_json_str(&j, "backend", impl);
                bench_json_str(&j, "level", level_names[lv]);
                bench_json_u64(&j, "rows", rows);
                bench_json_u64(&j, "srcs", srcs);
                bench_json_u64(&j, "len", len);
                bench_json_u64(&j, "bytes_touched", (uint64_t)(rows + srcs) * len);
                bench_json_f64(&j, "work_gbps", gbps, 3);
                bench_json_f64(&j, "ns_per_call", st.median_ns, 1);
                bench_json_str(&j, "clock", cpu_time ? "thread_cpu" : "monotonic");
                bench_json_f64(&j, "clock_ghz", ghz, 3);
                bench_json_f64(&j, "tsc_ghz", tsc, 3);
                bench_json_f64(&j, "cycles_per_32b", cyc, 3);
                if (have_pm) {
                    bench_json_f64(&j, "bound_cycles_per_32b", bound, 3);
                    bench_json_f64(&j, "pct_of_bound", 100.0 * bound / cyc, 1);
                    bench_json_str(&j, "port_model", pm.name);
                }
                bench_json_u64(&j, "runs", st.runs);
                bench_json_u64(&j, "iters", st.iters);
                bench_json_f64(&j, "min_work_gbps", work / st.max_ns, 3);
                bench_json_f64(&j, "max_work_gbps", work / st.min_ns, 3);
                bench_json_u64(&j, "l1d", cache_size(0));
                bench_json_u64(&j, "l2", cache_size(1));
                bench_json_u64(&j, "l3", cache_size(2));
                bench_json_str(&j, "cpu", bench_cpu_model());
                bench_json_str(&j, "cpu_features", weft_cpu_features());
                bench_json_str(&j, "impl_auto", impl_auto);
                bench_json_str(&j, "version", WEFT_VERSION);
                bench_json_end(&j, stdout);
            } else {
                printf("%-8s %-3s %5" PRIu64 " %5" PRIu64 " %9zu %8.2f %6.2f %6.2f %9.3f ", impl,
                       level_names[lv], rows, srcs, len, gbps, ghz, tsc, cyc);
                if (have_pm)
                    printf("%9.3f %5.0f%%\n", bound, 100.0 * bound / cyc);
                else
                    printf("%9s %6s\n", "-", "-");
            }
            fflush(stdout);
            free(mem);
            free(c.dst);
            free((void *)c.src);
        }
    }
    free(coef);
    return 0;
}
