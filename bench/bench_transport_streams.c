/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_streams.c: tcp_stream and noise_yamux_stream, on the
 * one-core rigs and split over two threads (tcp_stream_split,
 * noise_yamux_stream_split): N bytes one way, medians over the runs.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_transport.h"

/* ratio_vs_tcp: this test's rate over tcp_stream's on the same loop, once
 * that has run; tcp_stream itself records its rate. */
static double
ratio_vs_tcp(int is_tcp, double gbps, double *tcp_gbps)
{
    if (is_tcp) {
        *tcp_gbps = gbps;
        return 0;
    }
    return *tcp_gbps > 0 ? gbps / *tcp_gbps : 0;
}

void
test_stream(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o)
{
    double *sec = calloc((size_t)nrigs * o->runs, sizeof(*sec));
    uint64_t warm = o->bytes < WARMUP_MAX ? o->bytes : WARMUP_MAX;
    double (*transfer)(rig *, uint64_t, int) = t == T_TCP ? tcp_transfer : noise_transfer;
    const crypto_floor *cf = t == T_NOISE ? crypto_floor_get(o->runs) : NULL;
    unsigned run;
    size_t k;

    if (sec == NULL)
        fail("out of memory");
    /* Untimed and checked byte by byte: warms the caches, the provided
     * receive buffers and the yamux window state. */
    for (k = 0; k < nrigs; k++)
        transfer(&rigs[k], warm, 1);
    for (run = 0; run < o->runs; run++)
        for (k = 0; k < nrigs; k++)
            sec[k * o->runs + run] = transfer(&rigs[k], o->bytes, 0) / 1e9;
    for (k = 0; k < nrigs; k++) {
        rig *r = &rigs[k];
        stream_rates sr = stream_rates_of(sec + k * o->runs, o->runs, o->bytes);
        double ratio = ratio_vs_tcp(t == T_TCP, sr.gbps, &r->tcp_gbps);
        bench_json j;
        char notes[160];

        if (o->json) {
            json_head(&j, t, r->name, 0);
            json_stream_rates(&j, o->bytes, &sr);
            json_stream_bounds(&j, ratio, cf);
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes), "%" PRIu64 " bytes per run", o->bytes);
            if (ratio > 0)
                notes_add(notes, sizeof(notes), ", %.3f x tcp_stream", ratio);
            if (cf != NULL)
                notes_add(notes, sizeof(notes), ", AEAD-only bound %.3f GB/s", cf->bound_gbps);
            emit_row(test_names[t], r->name, sr.gbps, "GB/s", sr.min_gbps, sr.max_gbps, notes);
        }
    }
    free(sec);
}

/* The per-run figures of a split stream test, each nk * runs long. */
enum { SP_WALL, SP_CORE, SP_CPU_TX, SP_CPU_RX, SP_LOAD_TX, SP_LOAD_RX, SP_COUNT };

void
test_split_stream(split_kind *ks, size_t nk, enum test_id t, const transport_opts *o)
{
    size_t per = (size_t)nk * o->runs;
    double *v[SP_COUNT];
    const crypto_floor *cf = t == T_NOISE_SPLIT ? crypto_floor_get(o->runs) : NULL;
    unsigned run;
    size_t k;
    int f;

    for (f = 0; f < SP_COUNT; f++)
        if ((v[f] = calloc(per, sizeof(double))) == NULL)
            fail("out of memory");
    for (run = 0; run < o->runs; run++) {
        for (k = 0; k < nk; k++) {
            split_result r = split_run(ks[k].kind, t, o, NULL, NULL);
            size_t i = k * o->runs + run;

            v[SP_WALL][i] = r.wall_s;
            v[SP_CPU_TX][i] = r.cpu_s[SIDE_DIALER];
            v[SP_CPU_RX][i] = r.cpu_s[SIDE_LISTENER];
            v[SP_CORE][i] = (double)o->bytes / max2(v[SP_CPU_TX][i], v[SP_CPU_RX][i]) / 1e9;
            v[SP_LOAD_TX][i] = v[SP_CPU_TX][i] / r.wall_s;
            v[SP_LOAD_RX][i] = v[SP_CPU_RX][i] / r.wall_s;
        }
    }
    for (k = 0; k < nk; k++) {
        split_kind *sk = &ks[k];
        size_t b = k * o->runs;
        stream_rates sr = stream_rates_of(v[SP_WALL] + b, o->runs, o->bytes);
        double pc = bench_median(v[SP_CORE] + b, o->runs); /* sorts: [b] slowest */
        double min_pc = v[SP_CORE][b], max_pc = v[SP_CORE][b + o->runs - 1];
        double ctx = bench_median(v[SP_CPU_TX] + b, o->runs);
        double crx = bench_median(v[SP_CPU_RX] + b, o->runs);
        double ltx = bench_median(v[SP_LOAD_TX] + b, o->runs);
        double lrx = bench_median(v[SP_LOAD_RX] + b, o->runs);
        double ratio = ratio_vs_tcp(t == T_TCP_SPLIT, sr.gbps, &sk->tcp_gbps);
        bench_json j;
        char notes[200];

        if (o->json) {
            json_head(&j, t, sk->name, 2);
            json_stream_rates(&j, o->bytes, &sr);
            bench_json_f64(&j, "wall_gbps", sr.gbps, 4);
            bench_json_f64(&j, "per_core_gbps", pc, 4);
            bench_json_f64(&j, "min_per_core_gbps", min_pc, 4);
            bench_json_f64(&j, "max_per_core_gbps", max_pc, 4);
            bench_json_f64(&j, "sender_cpu_s", ctx, 4);
            bench_json_f64(&j, "receiver_cpu_s", crx, 4);
            bench_json_f64(&j, "sender_load", ltx, 3);
            bench_json_f64(&j, "receiver_load", lrx, 3);
            json_stream_bounds(&j, ratio, cf);
            if (cf != NULL)
                bench_json_f64(&j, "crypto_bound_per_side_gbps",
                               cf->seal_gbps < cf->open_gbps ? cf->seal_gbps : cf->open_gbps, 4);
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes),
                     "wall; %" PRIu64 " bytes per run; sender %.2f, receiver %.2f of a core",
                     o->bytes, ltx, lrx);
            if (ratio > 0)
                notes_add(notes, sizeof(notes), "; %.3f x tcp_stream_split", ratio);
            emit_row(test_names[t], sk->name, sr.gbps, "GB/s", sr.min_gbps, sr.max_gbps, notes);
            snprintf(notes, sizeof(notes),
                     "per core: bytes / max CPU (sender %.3f s, receiver %.3f s)", ctx, crx);
            if (cf != NULL)
                notes_add(notes, sizeof(notes), "; AEAD seal %.3f, open %.3f GB/s", cf->seal_gbps,
                          cf->open_gbps);
            emit_row(test_names[t], sk->name, pc, "GB/s/cpu", min_pc, max_pc, notes);
        }
    }
    for (f = 0; f < SP_COUNT; f++)
        free(v[f]);
}
