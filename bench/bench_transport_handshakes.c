/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_handshakes.c: handshakes and handshakes_concurrent on the
 * one-core rigs, handshakes_split over two threads: full connection
 * upgrades from weft_host_dial to its callback, each connection closed
 * once it is ready.
 */
#include <stdlib.h>
#include <string.h>

#include "bench_transport.h"

/* Up to parallel dials in flight, n in all (fewer if HS_RUN_MAX_NS passes).
 * Returns the run's handshakes per second. */
static double
handshake_run(rig *r, uint32_t n, uint32_t parallel, dial_slot *slots)
{
    uint64_t ok0 = r->dial_ok;
    int64_t t0 = weft_loop_now(r->loop), t1;

    dial_batch(r, n, parallel, slots, 1, HS_RUN_MAX_NS, "a handshake failed");
    t1 = weft_loop_now(r->loop);
    /* Untimed: let both ends tear down, so runs do not overlap. */
    run_until(r, peers_back_to_one, "handshake teardown");
    return (double)(r->dial_ok - ok0) * 1e9 / (double)(t1 - t0);
}

void
test_handshakes(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o)
{
    uint32_t parallel = t == T_HS ? 1 : o->parallel;
    uint32_t warm = o->handshakes < WARMUP_HS ? o->handshakes : WARMUP_HS;
    double *rate = calloc((size_t)nrigs * o->runs, sizeof(*rate));
    dial_slot *slots = calloc(parallel, sizeof(*slots));
    const crypto_floor *cf = crypto_floor_get(o->runs);
    unsigned run;
    size_t k;

    if (rate == NULL || slots == NULL)
        fail("out of memory");
    for (k = 0; k < nrigs; k++) {
        handshake_run(&rigs[k], warm, parallel, slots);
        rigs[k].nlat = 0;
    }
    for (run = 0; run < o->runs; run++)
        for (k = 0; k < nrigs; k++)
            rate[k * o->runs + run] = handshake_run(&rigs[k], o->handshakes, parallel, slots);
    for (k = 0; k < nrigs; k++) {
        rig *r = &rigs[k];
        double *v = rate + k * o->runs;
        double med = bench_median(v, o->runs), lat, p99;
        bench_json j;
        char notes[160];

        latency_us(r->lat_ns, r->nlat, &lat, &p99);
        if (o->json) {
            json_head(&j, t, r->name, 0);
            json_hs_rates(&j, o->handshakes, parallel, med, v[0], v[o->runs - 1]);
            json_hs_latency(&j, lat, p99, r->dial_failed, cf);
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes),
                     "%u in flight; latency median %.1f us, p99 %.1f us; crypto-only bound "
                     "%.0f/s",
                     parallel, lat, p99, 1e6 / cf->hs_us);
            emit_row(test_names[t], r->name, med, "/s", v[0], v[o->runs - 1], notes);
        }
        r->nlat = 0;
    }
    free(rate);
    free(slots);
}

/* The per-run figures of handshakes_split, each nk * runs long. */
enum { HS_RATE, HS_CORE, HS_US_D, HS_US_L, HS_LOAD_D, HS_LOAD_L, HS_COUNT };

void
test_split_handshakes(split_kind *ks, size_t nk, const transport_opts *o)
{
    size_t per = (size_t)nk * o->runs;
    double *v[HS_COUNT];
    double *lat = calloc((size_t)nk * o->runs * o->handshakes, sizeof(*lat));
    size_t *nlat = calloc(nk, sizeof(*nlat));
    const crypto_floor *cf = crypto_floor_get(o->runs);
    unsigned run;
    size_t k;
    int f;

    for (f = 0; f < HS_COUNT; f++)
        if ((v[f] = calloc(per, sizeof(double))) == NULL)
            fail("out of memory");
    if (!lat || !nlat)
        fail("out of memory");
    for (run = 0; run < o->runs; run++) {
        for (k = 0; k < nk; k++) {
            double *kl = lat + k * o->runs * o->handshakes;
            size_t i = k * o->runs + run;
            uint32_t n = 0;
            split_result r = split_run(ks[k].kind, T_HS_SPLIT, o, kl + nlat[k], &n);
            double done = (double)r.done;

            if (r.done == 0)
                fail("%s: no handshake completed in a run", ks[k].name);
            nlat[k] += n;
            v[HS_RATE][i] = done / r.wall_s;
            v[HS_CORE][i] = done / max2(r.cpu_s[SIDE_DIALER], r.cpu_s[SIDE_LISTENER]);
            v[HS_US_D][i] = r.cpu_s[SIDE_DIALER] * 1e6 / done;
            v[HS_US_L][i] = r.cpu_s[SIDE_LISTENER] * 1e6 / done;
            v[HS_LOAD_D][i] = r.cpu_s[SIDE_DIALER] / r.wall_s;
            v[HS_LOAD_L][i] = r.cpu_s[SIDE_LISTENER] / r.wall_s;
        }
    }
    for (k = 0; k < nk; k++) {
        size_t b = k * o->runs, last = b + o->runs - 1;
        double *rate = v[HS_RATE], *core = v[HS_CORE];
        double med = bench_median(rate + b, o->runs); /* sorts: [b] slowest */
        double pc = bench_median(core + b, o->runs);
        double ud = bench_median(v[HS_US_D] + b, o->runs);
        double ul = bench_median(v[HS_US_L] + b, o->runs);
        double ld = bench_median(v[HS_LOAD_D] + b, o->runs);
        double ll = bench_median(v[HS_LOAD_L] + b, o->runs);
        double lmed, p99;
        bench_json j;
        char notes[200];

        latency_us(lat + k * o->runs * o->handshakes, nlat[k], &lmed, &p99);
        if (o->json) {
            json_head(&j, T_HS_SPLIT, ks[k].name, 2);
            json_hs_rates(&j, o->handshakes, 1, med, rate[b], rate[last]);
            bench_json_f64(&j, "wall_per_sec", med, 1);
            bench_json_f64(&j, "per_core_per_sec", pc, 1);
            bench_json_f64(&j, "min_per_core_per_sec", core[b], 1);
            bench_json_f64(&j, "max_per_core_per_sec", core[last], 1);
            bench_json_f64(&j, "dialer_cpu_us_per_handshake", ud, 1);
            bench_json_f64(&j, "listener_cpu_us_per_handshake", ul, 1);
            bench_json_f64(&j, "dialer_load", ld, 3);
            bench_json_f64(&j, "listener_load", ll, 3);
            json_hs_latency(&j, lmed, p99, 0, cf);
            bench_json_f64(&j, "crypto_bound_per_side_per_sec", 2e6 / cf->hs_us, 1);
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes),
                     "wall; 1 in flight; latency median %.1f us, p99 %.1f us; dialer %.2f, "
                     "listener %.2f of a core",
                     lmed, p99, ld, ll);
            emit_row(test_names[T_HS_SPLIT], ks[k].name, med, "/s", rate[b], rate[last], notes);
            snprintf(notes, sizeof(notes),
                     "per core: CPU per handshake dialer %.1f us, listener %.1f us; crypto-only "
                     "bound per side %.0f/s",
                     ud, ul, 2e6 / cf->hs_us);
            emit_row(test_names[T_HS_SPLIT], ks[k].name, pc, "/s/cpu", core[b], core[last], notes);
        }
    }
    for (f = 0; f < HS_COUNT; f++)
        free(v[f]);
    free(lat);
    free(nlat);
}
