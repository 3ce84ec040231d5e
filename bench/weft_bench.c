/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_bench.c: entry point of weft-bench. It only dispatches: the first
 * argument names a subcommand from the table below, which receives the
 * remaining arguments with its own name as argv[0] and returns the exit
 * status. A new benchmark (transport, mesh, ...) is one bench_<thing>.c
 * with a main and a usage function, and one row in the table.
 */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
} subcommand;

static const subcommand subcommands[] = {
    {"codec", "RLNC encode/decode/recode throughput, every GF kernel set and ISA-L",
     bench_codec_main, bench_codec_usage},
    {"kernel", "the fused GF(2^8) dot kernel per set on L1/L2/L3 data, against its bound",
     bench_kernel_main, bench_kernel_usage},
#ifdef WEFT_BENCH_HAVE_TRANSPORT
    {"transport", "TCP vs Noise+yamux throughput, handshakes/s, idle connection memory",
     bench_transport_main, bench_transport_usage},
#endif
#ifdef WEFT_BENCH_HAVE_MESH
    {"mesh", "time to reach every node, RLNC vs GossipSub, on the simulated network",
     bench_mesh_main, bench_mesh_usage},
#endif
};

#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void
usage(FILE *out)
{
    size_t i;

    fprintf(out,
            "Usage: weft-bench SUBCOMMAND [OPTIONS]\n"
            "       weft-bench SUBCOMMAND --help\n"
            "       weft-bench help [SUBCOMMAND]\n"
            "       weft-bench --version\n"
            "\n"
            "Measures weft %s on this machine and prints one result per line: a JSON\n"
            "object with --json (for scripts and CI), else a readable table row. Every\n"
            "result names the implementation, the CPU and the seed it was measured with.\n"
            "\n"
            "Subcommands:\n",
            WEFT_VERSION);
    for (i = 0; i < NSUBCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n"
                 "Run benchmarks one at a time on an otherwise idle machine; results from a\n"
                 "shared or throttled CPU are only good for comparisons made in one run.\n");
}

static const subcommand *
find_subcommand(const char *name)
{
    size_t i;

    for (i = 0; i < NSUBCOMMANDS; i++)
        if (strcmp(subcommands[i].name, name) == 0)
            return &subcommands[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    const subcommand *sc;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("weft-bench %s\n", WEFT_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        sc = find_subcommand(argv[2]);
        if (sc == NULL) {
            fprintf(stderr, "weft-bench: unknown subcommand '%s'\n", argv[2]);
            return 2;
        }
        sc->usage(stdout);
        return 0;
    }
    sc = find_subcommand(argv[1]);
    if (sc == NULL) {
        fprintf(stderr, "weft-bench: unknown subcommand '%s' (try weft-bench --help)\n", argv[1]);
        return 2;
    }
    return sc->run(argc - 1, argv + 1);
}
