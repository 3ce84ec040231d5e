/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_idle.c: idle_conn_memory, the resident and heap growth of
 * the process per idle, upgraded connection (both ends live here, so per
 * pair and per side).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_transport.h"

static long
rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
}

static long
heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();

    /* Zero with live allocations: another allocator (ASan) is in place. */
    if (mi.uordblks + mi.hblkhd == 0)
        return -1;
    return (long)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

static void
trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

typedef struct idle_ctx {
    uint32_t want;
    uint64_t ident0[2];
} idle_ctx;

static idle_ctx idle_wait; /* what idle_settled waits for */

static int
idle_settled(const rig *r)
{
    return r->identified[0] - idle_wait.ident0[0] >= idle_wait.want &&
           r->identified[1] - idle_wait.ident0[1] >= idle_wait.want;
}

/* Open m connections and wait until both ends have exchanged identify;
 * the peers end up in r->ready. */
static void
idle_open(rig *r, uint32_t m, dial_slot *slots)
{
    r->nready = 0;
    idle_wait.want = m;
    idle_wait.ident0[0] = r->identified[0];
    idle_wait.ident0[1] = r->identified[1];
    dial_batch(r, m, IDLE_INFLIGHT, slots, 0, 0, "opening idle connections");
    run_until(r, idle_settled, "identify on the idle connections");
    run_quiet(r);
    r->nlat = 0;
}

static void
idle_close(rig *r)
{
    size_t i;

    for (i = 0; i < r->nready; i++)
        weft_peer_close(r->ready[i]);
    r->nready = 0;
    run_until(r, peers_back_to_one, "closing the idle connections");
    run_quiet(r);
}

/* Make room for 2 m sockets; returns the m that fits. */
static uint32_t
fit_fd_limit(uint32_t m)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)m * 2 + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return m;
    if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        uint32_t fit = rl.rlim_cur > 80 ? (uint32_t)((rl.rlim_cur - 64) / 2) : 8;

        fprintf(stderr,
                "weft-bench transport: RLIMIT_NOFILE %llu allows %u idle connections, not %u\n",
                (unsigned long long)rl.rlim_cur, fit, m);
        return fit;
    }
    return m;
}

void
test_idle(rig *rigs, size_t nrigs, const transport_opts *o)
{
    uint32_t m = fit_fd_limit(o->conns);
    double *rss = calloc((size_t)nrigs * o->runs, sizeof(*rss));
    double *heap = calloc((size_t)nrigs * o->runs, sizeof(*heap));
    dial_slot slots[IDLE_INFLIGHT];
    unsigned run;
    size_t k;

    if (rss == NULL || heap == NULL)
        fail("out of memory");
    memset(slots, 0, sizeof(slots));
    /* Untimed warm-up: one round of the same size, so every lazily grown
     * structure of the loop and the hosts (timer heap, provided receive
     * buffers, malloc's free lists) has reached its working size. */
    for (k = 0; k < nrigs; k++) {
        idle_open(&rigs[k], m, slots);
        idle_close(&rigs[k]);
    }
    for (run = 0; run < o->runs; run++) {
        for (k = 0; k < nrigs; k++) {
            rig *r = &rigs[k];
            long rss0, rss1, heap0, heap1;

            trim();
            rss0 = rss_bytes();
            heap0 = heap_bytes();
            idle_open(r, m, slots);
            trim();
            rss1 = rss_bytes();
            heap1 = heap_bytes();
            if ((size_t)r->live[0] != m + 1 || (size_t)r->live[1] != m + 1)
                fail("%s: %ld and %ld peers up, expected %u", r->name, r->live[0], r->live[1],
                     m + 1);
            rss[k * o->runs + run] = (double)(rss1 - rss0) / m;
            heap[k * o->runs + run] = heap0 < 0 || heap1 < 0 ? -1 : (double)(heap1 - heap0) / m;
            idle_close(r);
        }
    }
    for (k = 0; k < nrigs; k++) {
        rig *r = &rigs[k];
        double *v = rss + k * o->runs, *hv = heap + k * o->runs;
        double med = bench_median(v, o->runs), hmed = bench_median(hv, o->runs);
        bench_json j;
        char notes[128];

        if (o->json) {
            json_head(&j, T_IDLE, r->name, 0);
            bench_json_u64(&j, "conns", m);
            bench_json_f64(&j, "bytes_per_conn", med, 0);
            bench_json_f64(&j, "bytes_per_side", med / 2, 0);
            bench_json_f64(&j, "min_bytes_per_conn", v[0], 0);
            bench_json_f64(&j, "max_bytes_per_conn", v[o->runs - 1], 0);
            if (hmed >= 0) {
                bench_json_f64(&j, "heap_bytes_per_conn", hmed, 0);
                bench_json_f64(&j, "heap_bytes_per_side", hmed / 2, 0);
            }
            bench_json_u64(&j, "identify_struct_bytes", sizeof(weft_identify));
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes), "%u conns; per side %.0f B resident", m, med / 2);
            if (hmed >= 0)
                notes_add(notes, sizeof(notes), ", %.0f B heap", hmed / 2);
            notes_add(notes, sizeof(notes), "; weft_identify %zu B", sizeof(weft_identify));
            emit_row(test_names[T_IDLE], r->name, med, "B/pair", v[0], v[o->runs - 1], notes);
        }
    }
    free(rss);
    free(heap);
}
