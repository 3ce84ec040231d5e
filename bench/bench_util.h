/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_util.h: what every weft-bench subcommand shares. Times come from
 * weft_mono_ns (weft/clock.h, included here). A measuring loop that turns
 * an operation into per-op nanoseconds (median of several runs, each long
 * enough to be timed well), a cache flush for cold-data runs, aligned
 * allocation that aborts on failure, size parsing, one-line JSON output,
 * and a description of the machine (CPU model, peak RSS). Nothing here
 * knows about coding; the subcommands sit in bench_<thing>.c and are listed
 * in weft_bench.c.
 *
 * Everything but bench_fail is single-threaded and meant for one
 * measurement at a time.
 */
#ifndef WEFT_BENCH_UTIL_H
#define WEFT_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/clock.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

/* ---- subcommand entry points (one per bench_<thing>.c) ----------------- */

/* argv[0] is the subcommand name; returns the process exit status
 * (0 ok, 1 run-time failure, 2 usage error). transport and mesh are built
 * with the network libraries only. */
int bench_codec_main(int argc, char **argv);
void bench_codec_usage(FILE *out);
int bench_kernel_main(int argc, char **argv);
void bench_kernel_usage(FILE *out);
int bench_transport_main(int argc, char **argv);
void bench_transport_usage(FILE *out);
int bench_mesh_main(int argc, char **argv);
void bench_mesh_usage(FILE *out);

/* ---- memory, machine ---------------------------------------------------- */

/* 64-byte aligned allocation of size bytes (at least 1), zero-filled, so
 * the pages are resident before timing starts. Never returns NULL: prints
 * and exits on failure. Release with free(). */
void *bench_xalloc(size_t size);

/* Evict the caches by writing one byte per line of a 64 MiB buffer
 * (allocated on first use and kept). */
void bench_flush_caches(void);
#define BENCH_FLUSH_BYTES ((size_t)64 << 20)

/* Median of v[0..n) (n >= 1); v is sorted in place. */
double bench_median(double *v, size_t n);

/* CPU model string ("model name" in /proc/cpuinfo, else a best effort,
 * else "unknown"). Static storage, read once. */
const char *bench_cpu_model(void);
/* The core clock in GHz, measured once (a chain of dependent integer
 * multiplies, 3 cycles each on x86 since Nehalem and Zen; 0 elsewhere),
 * best of five, timed with the thread's CPU clock. */
double bench_core_ghz(void);

/* Peak resident set size of this process so far, in KiB (getrusage). */
long bench_peak_rss_kb(void);

/* ---- failing ------------------------------------------------------------- */

/* Print "weft-bench SUB: FAILED: <message>" on stderr (after flushing
 * stdout) and exit(1): for the library bugs a benchmark trips over, which
 * are not results. Callable from several threads: the first caller reports
 * and exits, any other waits for that exit. */
void bench_fail(const char *sub, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* Print "weft-bench SUB: <message> (see weft-bench SUB --help)" on stderr;
 * returns 2, the exit status of a usage error. */
int bench_usage_error(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- argument parsing ---------------------------------------------------- */

/* Parse a comma list of names, each one of names[0..count) (count <= 32),
 * into a bit mask (bit i for names[i]). Returns 0, or -1 for an unknown
 * name, an empty list or one longer than 255 bytes. */
int bench_parse_names(const char *arg, const char *const *names, int count, unsigned *mask);

/* Parse an unsigned decimal integer with an optional binary suffix:
 * K, Ki, KiB, KB, k (x1024), M... (x1024^2), G... (x1024^3). Returns 0, or
 * -1 if s is not such a number or overflows. */
int bench_parse_size(const char *s, uint64_t *out);

/* Parse a plain unsigned integer (decimal, or 0x hex). Returns 0 or -1. */
int bench_parse_u64(const char *s, uint64_t *out);

/* ---- measuring ----------------------------------------------------------- */

/* One operation to time. op runs inside the timed region; prep, if not
 * NULL, runs before each op outside it (then every op is timed on its own,
 * which costs one clock read pair per op). */
typedef struct bench_case {
    void *ctx;
    void (*prep)(void *ctx);
    void (*op)(void *ctx);
} bench_case;

typedef struct bench_measure_opts {
    unsigned runs;           /* timed runs, >= 1 */
    double min_run_ms;       /* each run repeats op until it lasts this long */
    int cold;                /* flush the caches (untimed) before each op */
    unsigned cold_max_iters; /* cap on ops per run when cold (flushes are slow) */
    int cpu_time;            /* time with the thread's CPU clock, not the monotonic one */
} bench_measure_opts;

typedef struct bench_stats {
    unsigned runs;    /* runs measured */
    uint64_t iters;   /* ops per run */
    double median_ns; /* median over runs of the mean ns per op in a run */
    double min_ns;    /* fastest run, ns per op */
    double max_ns;    /* slowest run, ns per op */
} bench_stats;

/* Warm up (which also calibrates the ops per run), then time opts->runs
 * runs. Fills *st. */
void bench_measure(const bench_case *bc, const bench_measure_opts *opts, bench_stats *st);

/* ---- JSON lines ---------------------------------------------------------- */

/* A JSON object built field by field into a fixed buffer and printed as one
 * line. Strings are escaped; non-finite numbers become null. An object that
 * outgrows the buffer is cut at the last whole field and flagged. */
typedef struct bench_json {
    char buf[4096];
    size_t len;
    int nfields;
    int overflow;
} bench_json;

void bench_json_begin(bench_json *j);
void bench_json_str(bench_json *j, const char *key, const char *val);
void bench_json_u64(bench_json *j, const char *key, uint64_t val);
void bench_json_i64(bench_json *j, const char *key, int64_t val);
/* prec: digits after the decimal point. */
void bench_json_f64(bench_json *j, const char *key, double val, int prec);
void bench_json_bool(bench_json *j, const char *key, int val);
/* An array of n numbers (a field too long for the buffer is left out). */
void bench_json_f64_array(bench_json *j, const char *key, const double *v, size_t n, int prec);
/* Close the object, write it and a newline to out, flush out. */
void bench_json_end(bench_json *j, FILE *out);

#endif /* WEFT_BENCH_UTIL_H */
