/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_codec_grid.c: the driver of `weft-bench codec`: --help, option
 * parsing, the choice of backends and variants, the loop over shapes (one,
 * or the --grid sweep) that makes each shape's inputs and measures it on
 * every backend (a weft backend once per variant), the table and JSON
 * output, and the --plot through gnuplot. The measuring itself is in
 * bench_codec.c and bench_codec_isal.c.
 *
 * Adding an axis to --grid or a column to --plot touches only the tables
 * below and plot_results().
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>

#include "bench_codec.h"

static const char *const op_names[OP_COUNT] = {"encode", "decode", "recode"};

/* The weft variants each op has, and those it runs unless --variant says
 * otherwise: shard views only pay off for systematic encodes, where they
 * skip the copy of the pieces; for coded shards they do the same work as
 * weft_enc_batch. */
static const unsigned op_variants[OP_COUNT] = {
    [OP_ENCODE] = 1u << VAR_COPY | 1u << VAR_IOV,
    [OP_DECODE] = 1u << VAR_COPY | 1u << VAR_BORROWED,
    [OP_RECODE] = 1u << VAR_COPY,
};

static unsigned
variants_for(const shape *sh, const codec_opts *o)
{
    if (o->variants != 0)
        return o->variants & op_variants[sh->op];
    if (sh->op == OP_ENCODE && !sh->systematic)
        return 1u << VAR_COPY;
    return op_variants[sh->op];
}

/* --grid axes. */
static const uint32_t grid_k[] = {4, 8, 16, 32, 64, 128};
static const uint64_t grid_msg[] = {64u << 10, 1u << 20, 16u << 20};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define MAX_BACKENDS 16

/* ---- output --------------------------------------------------------------------- */

static void
emit_json(const codec_result *r, const codec_opts *o, const char *impl_auto)
{
    bench_json j;

    bench_json_begin(&j);
    bench_json_str(&j, "bench", "codec");
    bench_json_str(&j, "op", op_names[r->sh.op]);
    bench_json_str(&j, "backend", r->backend);
    bench_json_str(&j, "variant", variant_names[r->variant]);
    bench_json_u64(&j, "k", r->sh.k);
    bench_json_u64(&j, "n", r->sh.n);
    bench_json_u64(&j, "piece", r->piece);
    bench_json_u64(&j, "msg_bytes", r->sh.msg);
    bench_json_bool(&j, "systematic", r->sh.systematic);
    bench_json_bool(&j, "cold", o->cold);
    bench_json_str(&j, "clock", o->cpu_time ? "thread_cpu" : "monotonic");
    bench_json_f64(&j, "gbps", r->gbps, 4);
    if (r->sh.op == OP_RECODE)
        bench_json_f64(&j, "read_gbps", r->read_gbps, 4);
    bench_json_f64(&j, "ns_per_op", r->st.median_ns, 1);
    bench_json_u64(&j, "runs", r->st.runs);
    bench_json_u64(&j, "iters", r->st.iters);
    bench_json_f64(&j, "min_gbps", r->min_gbps, 4);
    bench_json_f64(&j, "max_gbps", r->max_gbps, 4);
    bench_json_str(&j, "cpu", bench_cpu_model());
    bench_json_str(&j, "cpu_features", weft_cpu_features());
    bench_json_f64(&j, "core_ghz", bench_core_ghz(), 2);
    bench_json_str(&j, "impl_auto", impl_auto);
    bench_json_u64(&j, "seed", o->seed);
    bench_json_i64(&j, "peak_rss_kb", bench_peak_rss_kb());
    bench_json_str(&j, "version", WEFT_VERSION);
    bench_json_end(&j, stdout);
}

static void
emit_header(const codec_opts *o, const char *impl_auto)
{
    printf("# weft-bench codec %s: cpu \"%s\" (%s), auto kernel set %s, seed %" PRIu64
           ", %u runs of >= %.0f ms, %s data\n",
           WEFT_VERSION, bench_cpu_model(), weft_cpu_features(), impl_auto, o->seed, o->runs,
           o->min_ms, o->cold ? "cold" : "warm");
    printf("# %-6s %5s %5s %9s %8s  %-8s %-8s %9s %9s %9s %12s\n", "op", "k", "n", "msg", "piece",
           "backend", "variant", "GB/s", "min", "max", "us/op");
    fflush(stdout);
}

static void
emit_row(const codec_result *r)
{
    printf("  %-6s %5" PRIu32 " %5" PRIu32 " %9" PRIu32 " %8" PRIu32
           "  %-8s %-8s %9.3f %9.3f %9.3f %12.2f%s",
           op_names[r->sh.op], r->sh.k, r->sh.n, r->sh.msg, r->piece, r->backend,
           variant_names[r->variant], r->gbps, r->min_gbps, r->max_gbps, r->st.median_ns / 1e3,
           r->sh.systematic ? "  systematic" : "");
    if (r->sh.op == OP_RECODE)
        printf("  read %.3f GB/s", r->read_gbps);
    printf("\n");
    fflush(stdout);
}

/* ---- plot ------------------------------------------------------------------------ */

static int
index_of_u64(const uint64_t *v, size_t n, uint64_t x)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (v[i] == x)
            return (int)i;
    return -1;
}

/* One panel per (op, message size), GB/s against k, one line per backend
 * and variant: a backend keeps its colour, its borrowed and iov variants
 * are dashed. */
static int
plot_results(const char *file, const codec_result *res, size_t nres, uint64_t seed)
{
    uint64_t ops[OP_COUNT], msgs[16];
    const char *backends[MAX_BACKENDS];
    size_t series_backend[MAX_BACKENDS * VAR_COUNT];
    enum codec_variant series_variant[MAX_BACKENDS * VAR_COUNT];
    size_t nops = 0, nmsgs = 0, nb = 0, ns = 0, i, a, m, b, v;
    FILE *gp;
    int status;

    for (i = 0; i < nres; i++) {
        if (index_of_u64(ops, nops, res[i].sh.op) < 0 && nops < NELEM(ops))
            ops[nops++] = res[i].sh.op;
        if (index_of_u64(msgs, nmsgs, res[i].sh.msg) < 0 && nmsgs < NELEM(msgs))
            msgs[nmsgs++] = res[i].sh.msg;
        for (b = 0; b < nb; b++)
            if (strcmp(backends[b], res[i].backend) == 0)
                break;
        if (b == nb && nb < MAX_BACKENDS)
            backends[nb++] = res[i].backend;
        if (b == nb)
            continue;
        for (v = 0; v < ns; v++)
            if (series_backend[v] == b && series_variant[v] == res[i].variant)
                break;
        if (v == ns) {
            series_backend[ns] = b;
            series_variant[ns++] = res[i].variant;
        }
    }
    if (nres == 0)
        return 0;
    if (strpbrk(file, "\"\\\n`$") != NULL) {
        fprintf(stderr, "weft-bench codec: --plot: unsupported characters in file name\n");
        return 1;
    }
    gp = popen("gnuplot", "w");
    if (gp == NULL) {
        perror("weft-bench codec: --plot: gnuplot");
        return 1;
    }
    /* Data blocks first, $d_<op>_<msg>_<series>, rows "k gbps". */
    for (a = 0; a < nops; a++)
        for (m = 0; m < nmsgs; m++)
            for (v = 0; v < ns; v++) {
                fprintf(gp, "$d_%zu_%zu_%zu << EOD\n", a, m, v);
                for (i = 0; i < nres; i++)
                    if (res[i].sh.op == ops[a] && res[i].sh.msg == msgs[m] &&
                        res[i].variant == series_variant[v] &&
                        strcmp(res[i].backend, backends[series_backend[v]]) == 0)
                        fprintf(gp, "%" PRIu32 " %.4f\n", res[i].sh.k, res[i].gbps);
                fprintf(gp, "EOD\n");
            }
    fprintf(gp, "set terminal pngcairo size %zu,%zu noenhanced font ',10'\n", 460 * nmsgs + 40,
            340 * nops + 60);
    fprintf(gp, "set output \"%s\"\n", file);
    fprintf(gp, "set multiplot layout %zu,%zu title \"weft-bench codec: %s, seed %" PRIu64 "\"\n",
            nops, nmsgs, bench_cpu_model(), seed);
    fprintf(gp, "set logscale x 2\nset xlabel 'k'\nset ylabel 'GB/s of message'\n"
                "set grid\nset key top right font ',8'\nset yrange [0:*]\n");
    for (a = 0; a < nops; a++)
        for (m = 0; m < nmsgs; m++) {
            int first = 1;

            fprintf(gp, "set title '%s, %" PRIu64 " KiB'\nplot ", op_names[ops[a]], msgs[m] >> 10);
            for (v = 0; v < ns; v++) {
                int plain = series_variant[v] == VAR_COPY || series_variant[v] == VAR_IN_PLACE;

                /* A series with no point in this panel would only add a key entry. */
                for (i = 0; i < nres; i++)
                    if (res[i].sh.op == ops[a] && res[i].sh.msg == msgs[m] &&
                        res[i].variant == series_variant[v] &&
                        strcmp(res[i].backend, backends[series_backend[v]]) == 0)
                        break;
                if (i == nres)
                    continue;
                fprintf(gp,
                        "%s$d_%zu_%zu_%zu using 1:2 with linespoints linecolor %zu dashtype %d "
                        "title '%s%s%s'",
                        first ? "" : ", ", a, m, v, series_backend[v] + 1, plain ? 1 : 2,
                        backends[series_backend[v]], plain ? "" : " ",
                        plain ? "" : variant_names[series_variant[v]]);
                first = 0;
            }
            fprintf(gp, "\n");
        }
    fprintf(gp, "unset multiplot\n");
    status = pclose(gp);
    if (status != 0) {
        fprintf(stderr, "weft-bench codec: --plot: gnuplot failed (status %d)\n", status);
        return 1;
    }
    fprintf(stderr, "weft-bench codec: wrote %s\n", file);
    return 0;
}

/* ---- driver ---------------------------------------------------------------------- */

void
bench_codec_usage(FILE *out)
{
    fprintf(out,
            "Usage: weft-bench codec --op OP --k K --msg BYTES [options]\n"
            "       weft-bench codec --grid [--op OP] [--k K] [--msg BYTES] [options]\n"
            "\n"
            "Measures RLNC coding throughput on one message through every weft GF(2^8)\n"
            "kernel set this CPU supports (weft_gf_impl_list(), each forced in turn with\n"
            "weft_gf_force) and through ISA-L (\"isal\") in the same process, on the same\n"
            "message and the same shards. Before timing, each backend runs the op once and\n"
            "its output is checked against a scalar GF(2^8) oracle (or the message, for\n"
            "decode); a mismatch aborts with FAILED on stderr.\n"
            "\n"
            "Options:\n"
            "  --op OP        encode, decode or recode (a comma list, e.g. encode,decode)\n"
            "  --k K          source pieces, 1..%d\n"
            "  --n N          shards produced per op; encode default ceil(1.5 k), recode\n"
            "                 default 1; decode always consumes exactly k\n"
            "  --msg BYTES    message size; suffixes K, M, G (also KiB...) are powers of 1024\n"
            "  --backend B    only these backends (comma list): a weft kernel set name\n"
            "                 (ref, ssse3, avx2, avx512, gfni, gfni256, neon), isal (ISA-L's\n"
            "                 own dispatch) or isal-sse, isal-avx2, isal-avx512 (that ISA's\n"
            "                 ec_encode_data_* called directly, to compare equal widths)\n"
            "  --systematic   encode: the first k shards are the pieces themselves\n"
            "  --variant V    only these weft variants (comma list): copy, borrowed (decode),\n"
            "                 iov (encode); default copy and borrowed for decode, copy and\n"
            "                 iov for --systematic encode, copy otherwise\n"
            "  --runs R       timed runs, median reported (default 7; use >= 5)\n"
            "  --min-ms MS    each run repeats the op until it lasts MS ms (default 20)\n"
            "  --seed S       seed of the message, coefficients and shards (default 1)\n"
            "  --cold         flush caches (write a 64 MiB buffer) before every op,\n"
            "                 untimed; runs then hold at most 16 ops\n"
            "  --cpu-time     time with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID):\n"
            "                 time descheduled on a shared machine is left out; the\n"
            "                 \"clock\" field says which clock timed a line\n"
            "  --json         one JSON object per line instead of a table\n"
            "  --grid         sweep k in {4,8,16,32,64,128} x msg in {64KiB,1MiB,16MiB}\n"
            "                 x ops; --op, --k and --msg narrow the sweep\n"
            "  --plot F.png   after the runs, plot GB/s against k with gnuplot (pngcairo)\n"
            "  -h, --help     this text\n"
            "\n"
            "Ops (one op is what the time per op covers):\n"
            "  encode  n coded shards from the message. weft: weft_enc_batch of n shards into\n"
            "          preallocated buffers; the encoder (WEFT_ENC_BORROW) is created once,\n"
            "          outside timing (with --systematic, re-created untimed before each op,\n"
            "          since the unit-vector prefix is emitted once per encoder). isal:\n"
            "          ec_encode_data with an n x k random matrix, tables from ec_init_tables\n"
            "          made once outside timing; with --systematic only the n-k parity rows\n"
            "          (ISA-L users keep the data pieces in place; weft's copy variant copies\n"
            "          them into self-describing shards, its iov variant does not).\n"
            "  decode  the message from k coded shards with random, independent vectors.\n"
            "          weft: weft_dec_reset, weft_dec_push (copy) or weft_dec_push_borrowed\n"
            "          (borrowed) of the k serialized shards, weft_dec_message, on one\n"
            "          decoder made outside timing. isal: gf_invert_matrix of the k x k\n"
            "          coefficient matrix, ec_init_tables, ec_encode_data of the k payloads\n"
            "          with the inverse, all timed.\n"
            "  recode  n recoded shards from a recoder holding k shards (full rank).\n"
            "          weft: n x weft_dec_recode. isal: per shard a random 1 x k row,\n"
            "          ec_init_tables, ec_encode_data over the k held payloads and over the\n"
            "          k held coefficient vectors (the new vector), all timed.\n"
            "\n"
            "Variants (each its own line of output; ISA-L lines say in_place):\n"
            "  copy      the copying calls: weft_enc_batch, weft_dec_push, weft_dec_recode.\n"
            "  borrowed  decode through weft_dec_push_borrowed: payloads are read from the\n"
            "            shard buffers, not copied into the decoder.\n"
            "  iov       encode through weft_enc_batch_iov: systematic shards are a written\n"
            "            header and coefficients plus a pointer into the message.\n"
            "\n"
            "Output fields (--json; the table shows the same numbers):\n"
            "  bench, op, backend, variant, k, n, piece (bytes per piece), msg_bytes,\n"
            "  systematic, cold; gbps = msg_bytes / median time per op / 1e9, i.e. GB/s of\n"
            "  MESSAGE even for recode (decimal gigabytes, not gigabits); read_gbps (recode\n"
            "  only) = k * piece * n bytes read / time per op / 1e9; ns_per_op = median\n"
            "  time of one op; runs, iters (ops per run); min_gbps, max_gbps over the runs;\n"
            "  cpu (model), cpu_features, impl_auto (the automatic kernel set, after\n"
            "  WEFT_GF_IMPL), seed, peak_rss_kb (peak RSS of the process so far,\n"
            "  including the 64 MiB flush buffer with --cold), version.\n"
            "\n"
            "Examples:\n"
            "  weft-bench codec --op encode --k 16 --n 24 --msg 1M --json\n"
            "  weft-bench codec --op decode --k 64 --msg 1M --backend avx2,isal\n"
            "  weft-bench codec --op encode --k 16 --n 24 --msg 1M --systematic --variant iov\n"
            "  weft-bench codec --grid --op decode --json --plot decode.png\n",
            WEFT_MAX_K);
#ifndef WEFT_BENCH_HAVE_ISAL
    fprintf(out, "\nThis build has no ISA-L: the isal backend is unavailable.\n");
#endif
}

#define usage_error(...) bench_usage_error("codec", __VA_ARGS__)

static int
parse_ops(const char *arg, unsigned *mask)
{
    return bench_parse_names(arg, op_names, OP_COUNT, mask);
}

/* Parse a comma list of weft variant names (not in_place, ISA-L's). */
static int
parse_variants(const char *arg, unsigned *mask)
{
    return bench_parse_names(arg, variant_names, VAR_IN_PLACE, mask);
}

static int
weft_impl_compiled(const char *name)
{
    const char *const *l = weft_gf_impl_list();

    for (; l != NULL && *l != NULL; l++)
        if (strcmp(*l, name) == 0)
            return 1;
    return 0;
}

/* Fill names[] with the backends to run. Returns the count, or -1 after
 * printing why. */
static int
select_backends(const char *arg, const char **names, size_t cap)
{
    static char buf[256];
    const char *const *l;
    char *tok, *save = NULL;
    size_t n = 0;

    if (arg == NULL) {
        for (l = weft_gf_impl_list(); l != NULL && *l != NULL && n < cap; l++)
            if (weft_gf_impl_available(*l))
                names[n++] = *l;
#ifdef WEFT_BENCH_HAVE_ISAL
        if (n < cap)
            names[n++] = "isal";
#endif
        return (int)n;
    }
    if (strlen(arg) >= sizeof(buf)) {
        usage_error("--backend list too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", arg);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap) {
            usage_error("too many backends");
            return -1;
        }
        if (strncmp(tok, "isal", 4) == 0) {
#ifndef WEFT_BENCH_HAVE_ISAL
            usage_error("this weft-bench was built without ISA-L");
            return -1;
#else
            int ok = 0;
            if (!isal_backend(tok, &ok)) {
                usage_error("unknown backend '%s' (isal, isal-sse, isal-avx2, isal-avx512)", tok);
                return -1;
            }
            if (!ok) {
                fprintf(stderr, "weft-bench codec: backend '%s' is not available on this CPU\n",
                        tok);
                return -1;
            }
#endif
        } else if (!weft_impl_compiled(tok)) {
            usage_error("unknown backend '%s'", tok);
            return -1;
        } else if (!weft_gf_impl_available(tok)) {
            fprintf(stderr, "weft-bench codec: kernel set '%s' is not available on this CPU\n",
                    tok);
            return -1;
        }
        names[n++] = tok;
    }
    if (n == 0) {
        usage_error("empty --backend");
        return -1;
    }
    return (int)n;
}

enum {
    OPT_OP = 256,
    OPT_K,
    OPT_N,
    OPT_MSG,
    OPT_BACKEND,
    OPT_SYSTEMATIC,
    OPT_VARIANT,
    OPT_RUNS,
    OPT_MIN_MS,
    OPT_SEED,
    OPT_COLD,
    OPT_CPU_TIME,
    OPT_JSON,
    OPT_GRID,
    OPT_PLOT,
};

static const struct option long_opts[] = {
    {"op", required_argument, NULL, OPT_OP},
    {"k", required_argument, NULL, OPT_K},
    {"n", required_argument, NULL, OPT_N},
    {"msg", required_argument, NULL, OPT_MSG},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"systematic", no_argument, NULL, OPT_SYSTEMATIC},
    {"variant", required_argument, NULL, OPT_VARIANT},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"min-ms", required_argument, NULL, OPT_MIN_MS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"cold", no_argument, NULL, OPT_COLD},
    {"cpu-time", no_argument, NULL, OPT_CPU_TIME},
    {"json", no_argument, NULL, OPT_JSON},
    {"grid", no_argument, NULL, OPT_GRID},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse argv into *o. Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, codec_opts *o)
{
    uint64_t v;
    char *end;
    int c;

    memset(o, 0, sizeof(*o));
    o->runs = 7;
    o->min_ms = 20.0;
    o->seed = 1;
    optind = 1;
    opterr = 0; /* our own messages, named after the subcommand */
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_OP:
            if (parse_ops(optarg, &o->ops) != 0)
                return usage_error("--op wants encode, decode or recode, not '%s'", optarg);
            break;
        case OPT_K:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > WEFT_MAX_K)
                return usage_error("--k wants 1..%d", WEFT_MAX_K);
            o->k = (uint32_t)v;
            break;
        case OPT_N:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 65536)
                return usage_error("--n wants 1..65536");
            o->n = (uint32_t)v;
            break;
        case OPT_MSG:
            if (bench_parse_size(optarg, &v) != 0 || v < 1 || v > UINT32_MAX)
                return usage_error("--msg wants 1 byte .. 4 GiB - 1");
            o->msg = v;
            break;
        case OPT_BACKEND: o->backend_arg = optarg; break;
        case OPT_SYSTEMATIC: o->systematic = 1; break;
        case OPT_VARIANT:
            if (parse_variants(optarg, &o->variants) != 0)
                return usage_error("--variant wants copy, borrowed or iov, not '%s'", optarg);
            break;
        case OPT_RUNS:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000)
                return usage_error("--runs wants 1..1000");
            o->runs = (unsigned)v;
            break;
        case OPT_MIN_MS:
            o->min_ms = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o->min_ms > 0) || o->min_ms > 60000)
                return usage_error("--min-ms wants a positive number of milliseconds");
            break;
        case OPT_SEED:
            if (bench_parse_u64(optarg, &o->seed) != 0)
                return usage_error("--seed wants an unsigned integer");
            break;
        case OPT_COLD: o->cold = 1; break;
        case OPT_CPU_TIME: o->cpu_time = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_GRID: o->grid = 1; break;
        case OPT_PLOT: o->plot = optarg; break;
        case 'h': bench_codec_usage(stdout); return 0;
        default: return usage_error("bad option or missing argument: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->grid) {
        if (o->ops == 0 || o->k == 0 || o->msg == 0)
            return usage_error("--op, --k and --msg are required (or --grid)");
        if (o->ops & (o->ops - 1))
            return usage_error("one --op at a time without --grid");
    }
    if (o->ops == 0)
        o->ops = (1u << OP_COUNT) - 1;
    if (o->plot != NULL && !o->grid)
        return usage_error("--plot needs --grid");
    if (o->n != 0 && o->ops == (1u << OP_DECODE))
        fprintf(stderr, "weft-bench codec: decode consumes k shards; --n ignored\n");
    if (o->systematic && !(o->ops & (1u << OP_ENCODE)))
        fprintf(stderr, "weft-bench codec: --systematic only affects encode\n");
    if (o->runs < 5)
        fprintf(stderr, "weft-bench codec: %u runs; medians want >= 5\n", o->runs);
    for (c = 0; c < OP_COUNT; c++)
        if ((o->ops & (1u << c)) && (o->variants & op_variants[c]))
            break;
    if (o->variants != 0 && c == OP_COUNT)
        fprintf(stderr, "weft-bench codec: --variant: none applies to these ops; weft "
                        "backends measure nothing\n");
    return -1;
}

static uint32_t
default_n(enum codec_op op, uint32_t k, uint32_t n_arg)
{
    switch (op) {
    case OP_ENCODE: return n_arg ? n_arg : (3 * k + 1) / 2;
    case OP_DECODE: return k;
    case OP_RECODE:
    default: return n_arg ? n_arg : 1;
    }
}

int
bench_codec_main(int argc, char **argv)
{
    codec_opts o;
    const char *backends[MAX_BACKENDS];
    const char *impl_auto;
    uint32_t ks[NELEM(grid_k)];
    uint64_t msgs[NELEM(grid_msg)];
    size_t nks, nmsgs, ik, im, ib, nres = 0, cap_res;
    codec_result *res;
    int nb, rc, op;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    rc = weft_init();
    if (rc != 0)
        fprintf(stderr, "weft-bench codec: weft_init: %s (WEFT_GF_IMPL ignored)\n",
                weft_strerror(rc));
    impl_auto = weft_gf_impl_name();
    nb = select_backends(o.backend_arg, backends, MAX_BACKENDS);
    if (nb < 0)
        return 2;
#ifndef WEFT_BENCH_HAVE_ISAL
    fprintf(stderr, "weft-bench codec: warning: built without ISA-L, no isal backend\n");
#endif

    if (o.k != 0) {
        ks[0] = o.k;
        nks = 1;
    } else {
        memcpy(ks, grid_k, sizeof(ks));
        nks = NELEM(grid_k);
    }
    if (o.msg != 0) {
        msgs[0] = o.msg;
        nmsgs = 1;
    } else {
        memcpy(msgs, grid_msg, sizeof(msgs));
        nmsgs = NELEM(grid_msg);
    }
    cap_res = (size_t)OP_COUNT * nks * nmsgs * (size_t)nb * VAR_COUNT;
    res = calloc(cap_res, sizeof(*res));
    if (res == NULL) {
        fprintf(stderr, "weft-bench codec: out of memory\n");
        return 1;
    }
    if (!o.json)
        emit_header(&o, impl_auto);

    for (op = 0; op < OP_COUNT; op++) {
        if (!(o.ops & (1u << op)))
            continue;
        for (ik = 0; ik < nks; ik++) {
            for (im = 0; im < nmsgs; im++) {
                shape sh;
                shape_data d;

                sh.op = (enum codec_op)op;
                sh.k = ks[ik];
                sh.n = default_n(sh.op, sh.k, o.n);
                sh.msg = (uint32_t)msgs[im];
                sh.systematic = sh.op == OP_ENCODE && o.systematic;

                /* Inputs are made with the automatic kernel set, whatever
                 * the previous backend forced. */
                rc = weft_gf_force(impl_auto);
                if (rc != 0)
                    fail("weft_gf_force(%s): %s", impl_auto, weft_strerror(rc));
                data_init(&d, &sh, o.seed ^ ((uint64_t)sh.k << 32));
                for (ib = 0; ib < (size_t)nb; ib++) {
                    int is_isal = strncmp(backends[ib], "isal", 4) == 0;
                    unsigned vars = is_isal ? 1u << VAR_IN_PLACE : variants_for(&sh, &o);
                    int v;

                    for (v = 0; v < VAR_COUNT; v++) {
                        codec_result *r = &res[nres];

                        if (!(vars & (1u << v)))
                            continue;
                        if (measure_one(&sh, &d, backends[ib], (enum codec_variant)v, &o, r) != 0)
                            continue;
                        nres++;
                        if (o.json)
                            emit_json(r, &o, impl_auto);
                        else
                            emit_row(r);
                    }
                }
                data_free(&d);
            }
        }
    }
    rc = weft_gf_force(impl_auto);
    (void)rc;

    rc = 0;
    if (o.plot != NULL)
        rc = plot_results(o.plot, res, nres, o.seed);
    free(res);
    return rc;
}
