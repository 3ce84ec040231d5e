/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_util.c: the measuring loop and the small helpers weft-bench
 * subcommands share (see bench_util.h).
 *
 * The measuring loop first calibrates how many ops make a run last at least
 * min_run_ms, so that a 5 us op and a 50 ms op are both timed with the clock
 * read cost and scheduler noise well below 1%; the calibration doubles as
 * the warm-up (caches, page faults, lazy dispatch in ISA-L). Each run then
 * yields a mean ns per op, and the median over runs is what gets reported:
 * the median ignores the odd run hit by the other core's fuzzer.
 */
#include "bench_util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

void *
bench_xalloc(size_t size)
{
    void *p = NULL;
    int rc;

    if (size == 0)
        size = 1;
    /* Round up so the zeroing below and callers' whole-line loops are safe. */
    size = (size + 63) & ~(size_t)63;
    rc = posix_memalign(&p, 64, size);
    if (rc != 0) {
        fprintf(stderr, "weft-bench: cannot allocate %zu bytes: %s\n", size, strerror(rc));
        exit(1);
    }
    memset(p, 0, size);
    return p;
}

void
bench_flush_caches(void)
{
    static volatile uint8_t *flush_buf;
    size_t i;

    if (flush_buf == NULL)
        flush_buf = bench_xalloc(BENCH_FLUSH_BYTES);
    /* A write per line: dirty lines must be written back and every line of
     * the working set loses its place, whatever the replacement policy. */
    for (i = 0; i < BENCH_FLUSH_BYTES; i += 64)
        flush_buf[i]++;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double
bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    if (n % 2)
        return v[n / 2];
    return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Value of the first "key<spaces>: value" line of /proc/cpuinfo, or 0. */
static int
cpuinfo_field(const char *key, char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    size_t klen = strlen(key);
    int found = 0;

    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *p, *end;

        if (strncmp(line, key, klen) != 0 ||
            (line[klen] != ' ' && line[klen] != '\t' && line[klen] != ':'))
            continue;
        p = strchr(line + klen, ':');
        if (p == NULL)
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*p == '\0')
            continue;
        snprintf(out, cap, "%s", p);
        found = 1;
    }
    fclose(f);
    return found;
}

double
bench_core_ghz(void)
{
    static double ghz = -1;

    if (ghz >= 0)
        return ghz;
    ghz = 0;
#if defined(__x86_64__)
    for (int rep = 0; rep < 5; rep++) {
        uint64_t n = 2000000, x = 3;
        struct timespec a, b;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (uint64_t i = 0; i < n; i++)
            __asm__ volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
        if (ns > 0 && 12.0 * (double)n / ns > ghz)
            ghz = 12.0 * (double)n / ns;
    }
#endif
    return ghz;
}

const char *
bench_cpu_model(void)
{
    static char model[256];
    struct utsname u;
    char impl[64], part[64];

    if (model[0] != '\0')
        return model;
    if (cpuinfo_field("model name", model, sizeof(model)))
        return model;
    /* arm64 kernels name no model; implementer and part identify the core. */
    if (cpuinfo_field("CPU implementer", impl, sizeof(impl)) &&
        cpuinfo_field("CPU part", part, sizeof(part))) {
        snprintf(model, sizeof(model), "implementer %s part %s", impl, part);
        return model;
    }
    if (cpuinfo_field("Hardware", model, sizeof(model)))
        return model;
    if (uname(&u) == 0)
        snprintf(model, sizeof(model), "unknown %s", u.machine);
    else
        snprintf(model, sizeof(model), "unknown");
    return model;
}

long
bench_peak_rss_kb(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* KiB on Linux */
}

int
bench_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s == '\0' || *s == '-' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int
bench_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: return -1;
    }
    if (shift != 0) {
        end++;
        if (strcmp(end, "") != 0 && strcmp(end, "i") != 0 && strcmp(end, "iB") != 0 &&
            strcmp(end, "B") != 0)
            return -1;
        if (v > (UINT64_MAX >> shift))
            return -1;
        v <<= shift;
    }
    *out = v;
    return 0;
}

/* ---- failing ------------------------------------------------------------- */

static atomic_flag failing = ATOMIC_FLAG_INIT;

void
bench_fail(const char *sub, const char *fmt, ...)
{
    va_list ap;

    if (atomic_flag_test_and_set(&failing))
        for (;;)
            pause();
    fflush(stdout);
    fprintf(stderr, "weft-bench %s: FAILED: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

int
bench_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "weft-bench %s: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see weft-bench %s --help)\n", sub);
    return 2;
}

int
bench_parse_names(const char *arg, const char *const *names, int count, unsigned *mask)
{
    char buf[256], *tok, *save = NULL;
    int i;

    if (strlen(arg) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", arg);
    *mask = 0;
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < count; i++)
            if (strcmp(tok, names[i]) == 0)
                break;
        if (i == count)
            return -1;
        *mask |= 1u << i;
    }
    return *mask ? 0 : -1;
}

/* ---- measuring ----------------------------------------------------------- */

/* Total ns spent inside op over iters ops. */
/* CLOCK_THREAD_CPUTIME_ID in ns: on a shared machine, time the thread was
 * not running is left out (cache and memory contention are not). */
static int64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t (*bench_clock)(void) = weft_mono_ns;

static uint64_t
time_ops(const bench_case *bc, uint64_t iters, int cold)
{
    uint64_t i, total = 0;
    int64_t t0;

    if (bc->prep == NULL && !cold) {
        t0 = bench_clock();
        for (i = 0; i < iters; i++)
            bc->op(bc->ctx);
        return (uint64_t)(bench_clock() - t0);
    }
    for (i = 0; i < iters; i++) {
        if (bc->prep != NULL)
            bc->prep(bc->ctx);
        if (cold)
            bench_flush_caches();
        t0 = bench_clock();
        bc->op(bc->ctx);
        total += (uint64_t)(bench_clock() - t0);
    }
    return total;
}

/* Keep the core busy for ms milliseconds, so the first measurement of the
 * process does not run while the clock is still ramping up from idle. */
static void
spin_up(double ms)
{
    int64_t end = weft_mono_ns() + (int64_t)(ms * 1e6);
    volatile uint64_t sink = 0;

    while (weft_mono_ns() < end)
        sink++;
}

void
bench_measure(const bench_case *bc, const bench_measure_opts *opts, bench_stats *st)
{
    static int spun;
    const uint64_t max_iters = (uint64_t)1 << 24;
    uint64_t min_ns = (uint64_t)(opts->min_run_ms * 1e6);
    uint64_t iters = 1, t;
    unsigned runs = opts->runs ? opts->runs : 1, r;
    double *per_op = calloc(runs, sizeof(*per_op));

    if (per_op == NULL) {
        fprintf(stderr, "weft-bench: out of memory\n");
        exit(1);
    }
    if (min_ns == 0)
        min_ns = 1;
    bench_clock = opts->cpu_time ? thread_cpu_ns : weft_mono_ns;
    if (!spun) {
        spin_up(200.0);
        spun = 1;
    }

    /* Calibrate (and warm up): grow iters until one batch lasts min_ns. The
     * first single op takes the page faults and lazy initialisation. */
    time_ops(bc, 1, opts->cold);
    for (;;) {
        uint64_t want;

        t = time_ops(bc, iters, opts->cold);
        if (t >= min_ns || iters >= max_iters)
            break;
        if (opts->cold && opts->cold_max_iters && iters >= opts->cold_max_iters)
            break;
        /* Aim 20% past the target, at least double, at most x100 per step. */
        want = t ? (uint64_t)((double)iters * (double)min_ns * 1.2 / (double)t) : iters * 100;
        if (want < 2 * iters)
            want = 2 * iters;
        if (want > 100 * iters)
            want = 100 * iters;
        if (want > max_iters)
            want = max_iters;
        if (opts->cold && opts->cold_max_iters && want > opts->cold_max_iters)
            want = opts->cold_max_iters;
        iters = want;
    }

    for (r = 0; r < runs; r++) {
        t = time_ops(bc, iters, opts->cold);
        per_op[r] = (double)t / (double)iters;
    }
    st->runs = runs;
    st->iters = iters;
    st->median_ns = bench_median(per_op, runs); /* sorts per_op */
    st->min_ns = per_op[0];
    st->max_ns = per_op[runs - 1];
    free(per_op);
}

/* ---- JSON lines ---------------------------------------------------------- */

static void json_raw(bench_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
json_raw(bench_json *j, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(j->buf) - j->len;
    int n;

    if (j->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(j->buf + j->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room - 2) { /* keep room for "}\0" */
        j->overflow = 1;
        j->buf[j->len] = '\0';
        return;
    }
    j->len += (size_t)n;
}

/* Write s as a JSON string literal (with quotes). */
static void
json_string(bench_json *j, const char *s)
{
    char esc[8];

    json_raw(j, "\"");
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            json_raw(j, "\\%c", c);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            json_raw(j, "%s", esc);
        } else {
            json_raw(j, "%c", c);
        }
    }
    json_raw(j, "\"");
}

/* Start a field: separator and key. Returns the length to roll back to if
 * the value does not fit. */
static size_t
json_key(bench_json *j, const char *key)
{
    size_t mark = j->len;

    json_raw(j, "%s", j->nfields ? "," : "");
    json_string(j, key);
    json_raw(j, ":");
    return mark;
}

static void
json_done(bench_json *j, size_t mark)
{
    if (j->overflow) {
        j->len = mark; /* drop the partial field; the object stays valid */
        j->buf[j->len] = '\0';
        return;
    }
    j->nfields++;
}

void
bench_json_begin(bench_json *j)
{
    j->len = 0;
    j->nfields = 0;
    j->overflow = 0;
    json_raw(j, "{");
}

void
bench_json_str(bench_json *j, const char *key, const char *val)
{
    size_t mark = json_key(j, key);

    json_string(j, val);
    json_done(j, mark);
}

void
bench_json_u64(bench_json *j, const char *key, uint64_t val)
{
    size_t mark = json_key(j, key);

    json_raw(j, "%" PRIu64, val);
    json_done(j, mark);
}

void
bench_json_i64(bench_json *j, const char *key, int64_t val)
{
    size_t mark = json_key(j, key);

    json_raw(j, "%" PRId64, val);
    json_done(j, mark);
}

void
bench_json_f64(bench_json *j, const char *key, double val, int prec)
{
    size_t mark = json_key(j, key);

    if (isfinite(val))
        json_raw(j, "%.*f", prec, val);
    else
        json_raw(j, "null");
    json_done(j, mark);
}

void
bench_json_f64_array(bench_json *j, const char *key, const double *v, size_t n, int prec)
{
    size_t mark = json_key(j, key);

    json_raw(j, "[");
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]))
            json_raw(j, "%s%.*f", i ? "," : "", prec, v[i]);
        else
            json_raw(j, "%snull", i ? "," : "");
    }
    json_raw(j, "]");
    json_done(j, mark);
}

void
bench_json_bool(bench_json *j, const char *key, int val)
{
    size_t mark = json_key(j, key);

    json_raw(j, "%s", val ? "true" : "false");
    json_done(j, mark);
}

void
bench_json_end(bench_json *j, FILE *out)
{
    if (j->overflow)
        fprintf(stderr, "weft-bench: JSON line truncated to %zu bytes\n", j->len);
    /* json_raw always leaves room for the brace. */
    j->buf[j->len++] = '}';
    j->buf[j->len] = '\0';
    fprintf(out, "%s\n", j->buf);
    fflush(out);
}
