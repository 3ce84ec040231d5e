/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport.c: `weft-bench transport`, what the transport costs on one
 * core. The first five tests run in this one thread on one weft_loop that
 * holds both ends, so a figure is the work of both ends on the same core:
 *
 *  - tcp_stream: N bytes through one plain TCP connection on loopback
 *    (weft_listen/weft_dial/weft_conn_send, no encryption), the baseline;
 *  - noise_yamux_stream: N bytes through one yamux stream of a connection
 *    between two weft_hosts (TCP, Noise XX, yamux), written in 64 KiB chunks
 *    with WEFT_EAGAIN and on_writable honoured;
 *  - handshakes, handshakes_concurrent: full connection upgrades (TCP
 *    connect, multistream, Noise XX, multistream, yamux) from weft_host_dial
 *    to its callback, one at a time and several in flight, each connection
 *    closed once it is ready;
 *  - idle_conn_memory: resident and heap growth of the process per idle,
 *    upgraded connection (both ends live here, so per pair and per side).
 *
 * The *_split tests (tcp_stream_split, noise_yamux_stream_split,
 * handshakes_split) repeat the streams and the sequential handshakes with
 * each end on its own thread and its own loop, and time each thread's CPU,
 * which gives what one core does for one side; see "two threads" below.
 *
 * One "rig" per loop kind (io_uring, epoll) holds the loop, the raw TCP pair
 * and the two hosts with their long-lived connection. The runs of a test
 * alternate between the rigs (run 1 on io_uring, run 1 on epoll, run 2...),
 * so a background load that comes and goes hits both kinds alike and the
 * comparison inside one invocation stays fair. Before timing, each stream
 * test sends an untimed transfer whose bytes are checked against a pattern;
 * a wrong byte, a failed handshake or a stall of 10 s aborts with FAILED on
 * stderr, since those are library bugs and not results. Next to the Noise
 * figures go the "crypto floors": libsodium's primitives timed alone, the
 * part of each figure no transport code can avoid. The definitions of the
 * figures are in bench_transport_usage() and bench/README.md; keep the
 * three in step. This file holds the options and the driver; the files of
 * the rest are listed in bench_transport.h.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_transport.h"
#include "loopback.h"

void
bench_transport_usage(FILE *out)
{
    fprintf(out,
            "Usage: weft-bench transport [--loop uring|epoll|all] [--test LIST] [--bytes N]\n"
            "                            [--runs R] [--conns M] [--handshakes H]\n"
            "                            [--parallel P] [--split] [--json]\n"
            "\n"
            "Measures the transport on one core: both ends of every connection live on one\n"
            "weft_loop in this thread, so each figure is the work of BOTH ends. Each loop\n"
            "kind gets its own loop, TCP pair and two weft_hosts (TCP -> Noise XX -> yamux,\n"
            "default host configuration with the connection limits lifted); the runs of a\n"
            "test alternate between the kinds so one invocation compares them fairly.\n"
            "Stream tests first send an untimed transfer checked byte by byte; a wrong\n"
            "byte, a failed handshake or 10 s without progress prints FAILED and exits 1.\n"
            "The *_split tests put each end on its own thread with its own loop of the\n"
            "same kind and time each thread's CPU, for figures per core per side (their\n"
            "stall limit is 30 s without progress on either side).\n"
            "\n"
            "Options:\n"
            "  --loop L        uring, epoll or all (default all; all skips an io_uring the\n"
            "                  kernel refuses, with a warning)\n"
            "  --test LIST     comma list of tests (default all): tcp_stream,\n"
            "                  noise_yamux_stream, handshakes, handshakes_concurrent,\n"
            "                  idle_conn_memory, tcp_stream_split, noise_yamux_stream_split,\n"
            "                  handshakes_split\n"
            "  --bytes N       bytes per stream run (default 2G; K, M, G = powers of 1024)\n"
            "  --runs R        runs per test and loop, median reported (default 5; use >= 5)\n"
            "  --conns M       idle connections per run (default 500; capped by\n"
            "                  RLIMIT_NOFILE, whose soft limit is raised to the hard one)\n"
            "  --handshakes H  handshakes per run (default 1000)\n"
            "  --parallel P    dials in flight for handshakes_concurrent (default 16)\n"
            "  --split         run only the split variants of the chosen tests (tcp_stream,\n"
            "                  noise_yamux_stream and handshakes have one)\n"
            "  --json          one JSON object per line instead of a table\n"
            "  -h, --help      this text\n"
            "\n"
            "Tests:\n"
            "  tcp_stream          N bytes through one plain TCP connection (weft_conn_send\n"
            "                      of 64 KiB chunks, WEFT_ELIMIT and on_writable honoured);\n"
            "                      time from the first send to the last byte received.\n"
            "  noise_yamux_stream  N bytes through one yamux stream of a Noise connection\n"
            "                      between the hosts (weft_stream_write of 64 KiB chunks,\n"
            "                      WEFT_EAGAIN and on_writable honoured); time from opening\n"
            "                      the stream to the last byte received; FIN untimed.\n"
            "  handshakes          H connection upgrades one after another: weft_host_dial\n"
            "                      to its callback (TCP connect, multistream /noise, Noise XX,\n"
            "                      multistream /yamux/1.0.0, yamux ready); each connection is\n"
            "                      closed with weft_peer_close once ready.\n"
            "  handshakes_concurrent  the same with P dials in flight.\n"
            "  idle_conn_memory    M upgraded connections left idle after identify, the\n"
            "                      process's resident and heap growth per connection.\n"
            "  tcp_stream_split, noise_yamux_stream_split, handshakes_split\n"
            "                      the same as tcp_stream, noise_yamux_stream and handshakes\n"
            "                      with the listener and the dialer (the receiver and the\n"
            "                      sender) on two threads, each with its own loop, over\n"
            "                      loopback; every run sets both up afresh, checks a\n"
            "                      warm-up transfer (or does 50 handshakes), then times.\n"
            "\n"
            "Output fields (--json):\n"
            "  all: bench (\"transport\"), test, loop (io_uring|epoll), runs, cpu, kernel,\n"
            "    peak_rss_kb (peak RSS of the process so far), version.\n"
            "  streams: bytes (per run), chunk, gbps = bytes / median run time / 1e9\n"
            "    (decimal GB/s, not gigabits), min_gbps, max_gbps (slowest and fastest run),\n"
            "    seconds (median run time); noise_yamux_stream also ratio_vs_tcp = its gbps\n"
            "    over tcp_stream's on the same loop (when both ran), aead_seal_gbps and\n"
            "    aead_open_gbps (libsodium ChaCha20-Poly1305 alone on one 65519-byte frame)\n"
            "    and crypto_bound_gbps = frame / (seal + open time), the rate of a core that\n"
            "    did nothing but both ends' AEAD.\n"
            "  handshakes*: handshakes (per run), parallel, per_sec = completed upgrades per\n"
            "    second of a run (first dial to last callback; teardown of earlier\n"
            "    connections included, final teardown not), median, min_per_sec,\n"
            "    max_per_sec; us_per_handshake and us_p99 = median and 99th percentile of\n"
            "    the dial-to-callback time over all runs; failed; crypto_us_per_handshake =\n"
            "    libsodium alone for both sides (per side 1 X25519 base-point mult for the\n"
            "    ephemeral key, 3 X25519 DH, 1 Ed25519 verify; the static key and its\n"
            "    signature are made once per host), crypto_bound_per_sec = 1e6 / that.\n"
            "  idle_conn_memory: conns, bytes_per_conn = median over runs of the VmRSS\n"
            "    growth (after malloc_trim) / conns, for a connection PAIR (both ends);\n"
            "    bytes_per_side = half; min/max_bytes_per_conn; heap_bytes_per_conn and\n"
            "    heap_bytes_per_side from mallinfo2 (bytes malloc hands out, its chunk\n"
            "    headers included); identify_struct_bytes = sizeof(weft_identify), which\n"
            "    each side keeps per peer. Kernel socket buffers are not in RSS.\n"
            "  *_split: also threads (2); a side's CPU time is CLOCK_THREAD_CPUTIME_ID over\n"
            "    its share of the timed part (sender: stream open to seeing the last byte\n"
            "    in; receiver: end of warm-up to last byte; dialer: first dial to last\n"
            "    callback; listener: armed to told done). Streams: wall_gbps (= gbps),\n"
            "    per_core_gbps = median over runs of bytes / max(sender, receiver CPU s),\n"
            "    min/max_per_core_gbps, sender_cpu_s, receiver_cpu_s, sender_load and\n"
            "    receiver_load (CPU s / wall s), crypto_bound_per_side_gbps = the slower of\n"
            "    AEAD seal and open. handshakes_split: wall_per_sec (= per_sec),\n"
            "    per_core_per_sec = handshakes / max(dialer, listener CPU s), min/max,\n"
            "    dialer_ and listener_cpu_us_per_handshake, dialer_ and listener_load,\n"
            "    crypto_bound_per_side_per_sec = 2e6 / crypto_us_per_handshake.\n"
            "\n"
            "Examples:\n"
            "  weft-bench transport --json\n"
            "  weft-bench transport --loop epoll --test tcp_stream,noise_yamux_stream\n"
            "  weft-bench transport --test idle_conn_memory --conns 2000\n"
            "  weft-bench transport --split --bytes 64M --json\n");
}

/* A usage error of this subcommand: exit status 2. */
#define usage_error(...) bench_usage_error("transport", __VA_ARGS__)

enum {
    OPT_LOOP = 256,
    OPT_TEST,
    OPT_BYTES,
    OPT_RUNS,
    OPT_CONNS,
    OPT_HANDSHAKES,
    OPT_PARALLEL,
    OPT_SPLIT,
    OPT_JSON,
};

static const struct option long_opts[] = {
    {"loop", required_argument, NULL, OPT_LOOP},
    {"test", required_argument, NULL, OPT_TEST},
    {"bytes", required_argument, NULL, OPT_BYTES},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"conns", required_argument, NULL, OPT_CONNS},
    {"handshakes", required_argument, NULL, OPT_HANDSHAKES},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"split", no_argument, NULL, OPT_SPLIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse argv into *o. Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, transport_opts *o)
{
    uint64_t v;
    int c;

    memset(o, 0, sizeof(*o));
    o->kinds = (1u << WEFT_LOOP_URING) | (1u << WEFT_LOOP_EPOLL);
    o->tests = (1u << T_COUNT) - 1;
    o->bytes = (uint64_t)2 << 30;
    o->runs = 5;
    o->conns = 500;
    o->handshakes = 1000;
    o->parallel = 16;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_LOOP:
            if (strcmp(optarg, "uring") == 0 || strcmp(optarg, "io_uring") == 0)
                o->kinds = 1u << WEFT_LOOP_URING;
            else if (strcmp(optarg, "epoll") == 0)
                o->kinds = 1u << WEFT_LOOP_EPOLL;
            else if (strcmp(optarg, "all") == 0)
                o->kinds = (1u << WEFT_LOOP_URING) | (1u << WEFT_LOOP_EPOLL);
            else
                return usage_error("--loop wants uring, epoll or all, not '%s'", optarg);
            break;
        case OPT_TEST:
            if (bench_parse_names(optarg, test_names, T_COUNT, &o->tests) != 0)
                return usage_error("unknown test in '%s'", optarg);
            break;
        case OPT_BYTES:
            if (bench_parse_size(optarg, &v) != 0 || v < CHUNK)
                return usage_error("--bytes wants a size of at least %zu", CHUNK);
            o->bytes = v;
            break;
        case OPT_RUNS:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000)
                return usage_error("--runs wants 1..1000");
            o->runs = (unsigned)v;
            break;
        case OPT_CONNS:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000000)
                return usage_error("--conns wants 1..1000000");
            o->conns = (uint32_t)v;
            break;
        case OPT_HANDSHAKES:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000000)
                return usage_error("--handshakes wants 1..1000000");
            o->handshakes = (uint32_t)v;
            break;
        case OPT_PARALLEL:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1024)
                return usage_error("--parallel wants 1..1024");
            o->parallel = (uint32_t)v;
            break;
        case OPT_SPLIT: o->split = 1; break;
        case OPT_JSON: o->json = 1; break;
        case 'h': bench_transport_usage(stdout); return 0;
        default: return usage_error("bad or incomplete option: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->split) {
        /* each chosen test that has a split variant becomes that variant */
        unsigned m = o->tests & SPLIT_TESTS;

        if (o->tests & (1u << T_TCP))
            m |= 1u << T_TCP_SPLIT;
        if (o->tests & (1u << T_NOISE))
            m |= 1u << T_NOISE_SPLIT;
        if (o->tests & (1u << T_HS))
            m |= 1u << T_HS_SPLIT;
        if (m == 0)
            return usage_error("--split: none of the chosen tests has a split variant");
        o->tests = m;
    }
    if (o->runs < 5)
        fprintf(stderr, "weft-bench transport: %u runs; medians want >= 5\n", o->runs);
    return -1;
}

/* Whether the kernel gives a loop of this kind; *name gets its name. */
static int
probe_loop(int kind, const char **name)
{
    int err = 0;
    weft_loop *l = lb_loop_new(kind, 0, &err);

    if (l == NULL)
        return err ? err : WEFT_ENOIMPL;
    *name = weft_loop_kind_name(l);
    weft_loop_free(l);
    return 0;
}

int
bench_transport_main(int argc, char **argv)
{
    static const int kinds[] = {WEFT_LOOP_URING, WEFT_LOOP_EPOLL};
    transport_opts o;
    rig rigs[MAX_RIGS];
    split_kind ks[MAX_RIGS];
    size_t nk = 0, nrigs = 0, i;
    int rc, t;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    pattern_init();

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!(o.kinds & (1u << kinds[i])))
            continue;
        memset(&ks[nk], 0, sizeof(ks[nk]));
        rc = probe_loop(kinds[i], &ks[nk].name);
        if (rc != 0) {
            int only = o.kinds == (1u << kinds[i]);

            fprintf(stderr, "weft-bench transport: %s: no %s loop: %s\n",
                    only ? "error" : "warning", kinds[i] == WEFT_LOOP_URING ? "io_uring" : "epoll",
                    weft_strerror(rc));
            if (only)
                return 1;
            continue;
        }
        ks[nk++].kind = kinds[i];
    }
    if (nk == 0)
        return 1;
    if (o.tests & ONE_CORE_TESTS) {
        for (nrigs = 0; nrigs < nk; nrigs++)
            rig_open(&rigs[nrigs], ks[nrigs].kind);
    }
    if (!o.json)
        emit_header(&o);

    for (t = 0; t < T_COUNT; t++) {
        if (!(o.tests & (1u << t)))
            continue;
        if (t >= T_TCP_SPLIT && nrigs > 0) {
            /* the one-core tests are over: free their loops and hosts first */
            for (i = 0; i < nrigs; i++)
                rig_close(&rigs[i]);
            nrigs = 0;
        }
        switch (t) {
        case T_TCP:
        case T_NOISE: test_stream(rigs, nrigs, (enum test_id)t, &o); break;
        case T_HS:
        case T_HS_CONC: test_handshakes(rigs, nrigs, (enum test_id)t, &o); break;
        case T_IDLE: test_idle(rigs, nrigs, &o); break;
        case T_TCP_SPLIT:
        case T_NOISE_SPLIT: test_split_stream(ks, nk, (enum test_id)t, &o); break;
        case T_HS_SPLIT: test_split_handshakes(ks, nk, &o); break;
        default: break;
        }
    }
    for (i = 0; i < nrigs; i++)
        rig_close(&rigs[i]);
    pattern_free();
    return 0;
}
