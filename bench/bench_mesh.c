/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mesh.c: `weft-bench mesh`, how fast a message reaches every node of
 * a topic mesh, RLNC against GossipSub v1.1, on the simulated network.
 *
 * One run builds a weft_ps_sim of --nodes routers (weft/ps_sim.h: raw
 * simulated TCP, no Noise or yamux) joined in a random connected graph of
 * about --peers neighbours per node, each link with its own latency drawn
 * from --latency-ms, --link-mbps per direction and --loss. Every node
 * subscribes to one topic; after a warm-up in which the meshes form, the
 * run publishes --publishes messages one after the other from random
 * nodes. A publish is over once every other node has delivered it or its
 * cutoff (--timeout) has passed; a quiet --gap follows so that each node's
 * message cache lets go of it before the next one. What is measured is
 * virtual time: time to all (the last node's delivery) per publish, and
 * every node's delivery delay. --compare runs both modes on the same
 * graph, latencies and publishers (the network is rebuilt from the same
 * seed), so the two lines differ only by the router's mode.
 *
 * The simulation is deterministic: a seed gives the same numbers on any
 * machine; only wall_s, per_sec and memory depend on the machine.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "bench_mesh_topo.h"
#include "bench_util.h"
#include "weft/codec.h"
#include "weft/ps_sim.h"
#include "weft/pubsub.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define TOPIC "weft-bench"
#define MAX_POLICIES 64
#define PROGRESS_AFTER_NS (2 * SEC) /* wall time before progress lines start */
#define SAMPLE_NS (10 * MS)         /* memory samples while a publish is in flight */

typedef struct mesh_opts {
    unsigned nodes, degree, peers;
    int mode; /* enum weft_ps_mode, without --compare */
    int compare;
    uint64_t msg;
    unsigned publishes;
    double link_mbps;
    double host_mbps; /* per-host uplink and downlink, shared by its connections; 0 = none */
    double lat_min_ms, lat_max_ms, jitter_ms;
    double loss_pct;
    uint64_t seed;
    int json;
    const char *plot;
    unsigned k;          /* 0: the router's default */
    double mult, thresh; /* 0: the router's default */
    const char *policy;  /* NULL: the router's default */
    int idontwant;       /* gossipsub only */
    double warmup_s, timeout_s, gap_ms;
    const char *topology; /* --topology FILE: this graph and latencies, not random ones */
    mesh_topo topo;
} mesh_opts;

/* What one mode's run produced. */
typedef struct mesh_result {
    int mode;
    weft_ps_config cfg; /* the template the routers were built from */
    unsigned peers;
    long edges;
    double *node_ms; /* every delivery delay of every publish */
    size_t nnode_ms;
    double *tta_ms; /* time to all, per publish (the cutoff if some node missed it) */
    unsigned publishes;
    uint64_t deliveries, late;
    uint64_t bytes; /* on all links during the publishing phase */
    weft_ps_stats sum;
    uint64_t frames_dropped, frames_refused, frames_bad, dials_failed;
    /* Memory of the simulated nodes, summed over nodes, largest sample (every
     * SAMPLE_NS during publishes): routers (weft_ps_memory), outbound queues,
     * inbound frames being received. */
    size_t router_mem_max, queued_sum_max, rx_sum_max, inflight_max;
    size_t queued_max; /* longest single connection queue */
    double wall_s, virtual_s;
    long peak_rss_kb;
} mesh_result;

/* The delivery hook's view of the publish in flight. */
typedef struct run_state {
    weft_ps_sim *sim;
    unsigned nodes;
    int active;
    size_t publisher;
    uint8_t id[64];
    size_t id_len;
    int64_t t0;
    int64_t *got; /* per node: delivery time of the current message, or -1 */
    unsigned ngot;
    uint64_t late; /* deliveries of a message after its cutoff */
} run_state;

#define fail(...) bench_fail("mesh", __VA_ARGS__)

static const char *
mode_name(int mode)
{
    return mode == WEFT_PS_RLNC ? "rlnc" : "gossipsub";
}

/* Resident set now, KiB (/proc/self/statm), or -1. */
static long
rss_now_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, rss = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * 4;
}

/* ---- the run ---------------------------------------------------------------------- */

static void
on_deliver(void *user, size_t node, const weft_ps_msg *m, int64_t now_ns)
{
    run_state *st = user;

    if (!st->active || m->id.len != st->id_len || memcmp(m->id.p, st->id, st->id_len) != 0) {
        if (m->received_from != NULL)
            st->late++; /* an earlier message, after its cutoff */
        return;
    }
    if (node == st->publisher)
        return;
    if (st->got[node] >= 0)
        return;
    st->got[node] = now_ns;
    if (++st->ngot == st->nodes - 1)
        weft_ps_sim_stop(st->sim);
}

/* Sample the nodes' memory; returns what the routers hold. */
static size_t
sample_memory(weft_ps_sim *sim, unsigned nodes, mesh_result *r)
{
    size_t mem = 0, queued = 0, rx = 0, i;
    uint64_t out = 0, in = 0;
    weft_ps_sim_stats ns;

    for (i = 0; i < nodes; i++) {
        weft_ps_sim_get_stats(sim, i, &ns);
        mem += weft_ps_memory(weft_ps_sim_router(sim, i));
        queued += ns.queued_now;
        rx += ns.rx_partial_now;
        out += ns.bytes_out;
        in += ns.bytes_in;
    }
    if (out > in && out - in > r->inflight_max)
        r->inflight_max = (size_t)(out - in);
    if (mem > r->router_mem_max)
        r->router_mem_max = mem;
    if (queued > r->queued_sum_max)
        r->queued_sum_max = queued;
    if (rx > r->rx_sum_max)
        r->rx_sum_max = rx;
    return mem;
}

/* The router template for one mode. */
static void
make_config(const mesh_opts *o, int mode, weft_ps_config *cfg)
{
    weft_ps_config_default(cfg, mode);
    if (o->degree != cfg->D) {
        unsigned d = o->degree;

        cfg->D = d;
        cfg->D_lo = d > 1 ? d - (d + 5) / 6 : 1;
        cfg->D_hi = 2 * d;
        cfg->D_lazy = d;
        cfg->D_out = d / 3 < cfg->D_lo ? d / 3 : 0;
        cfg->D_score = (2 * d + 2) / 3;
    }
    if (o->msg > cfg->max_msg_size) {
        cfg->max_msg_size = (size_t)o->msg;
        cfg->max_rpc_size = (size_t)o->msg + ((size_t)64 << 10);
    }
    if (mode == WEFT_PS_GOSSIPSUB)
        cfg->idontwant = o->idontwant;
    if (o->k)
        cfg->rlnc_k = o->k;
    if (o->mult > 0)
        cfg->rlnc_mult = o->mult;
    if (o->thresh > 0)
        cfg->rlnc_threshold = o->thresh;
    if (o->policy != NULL)
        cfg->rlnc_policy = o->policy;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* p-quantile (0..1) of sorted v by linear interpolation. */
static double
quantile(const double *v, size_t n, double p)
{
    double pos, frac;
    size_t lo;

    if (n == 0)
        return NAN;
    pos = p * (double)(n - 1);
    lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    frac = pos - (double)lo;
    return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

static void
run_mode(const mesh_opts *o, int mode, mesh_result *r)
{
    weft_ps_sim_config sc;
    weft_link_params lp;
    weft_ps_sim *sim;
    run_state st;
    weft_rng rng;
    uint8_t *data;
    int64_t wall0 = weft_mono_ns();
    uint64_t b0, b1;
    unsigned p, peers;
    size_t i;
    int err = 0, progress = 0;

    memset(r, 0, sizeof(*r));
    r->mode = mode;
    make_config(o, mode, &r->cfg);

    memset(&st, 0, sizeof(st));
    st.nodes = o->nodes;
    st.got = malloc(o->nodes * sizeof(*st.got));
    r->tta_ms = calloc(o->publishes, sizeof(*r->tta_ms));
    r->node_ms = malloc((size_t)o->publishes * (o->nodes - 1) * sizeof(*r->node_ms) + 1);
    data = malloc(o->msg);
    if (st.got == NULL || r->tta_ms == NULL || r->node_ms == NULL || data == NULL)
        fail("out of memory");

    memset(&lp, 0, sizeof(lp));
    lp.bandwidth_bps = (uint64_t)(o->link_mbps * 1e6);
    lp.loss = o->loss_pct / 100.0;
    lp.jitter_ns = (int64_t)(o->jitter_ms * MS);
    lp.latency_ns = (int64_t)(o->lat_min_ms * MS);
    memset(&sc, 0, sizeof(sc));
    sc.seed = o->seed;
    sc.link = lp;
    sc.host_up_bps = sc.host_down_bps = (uint64_t)(o->host_mbps * 1e6);
    sc.on_deliver = on_deliver;
    sc.user = &st;
    sim = weft_ps_sim_new(&sc, &r->cfg, o->nodes, &err);
    if (sim == NULL)
        fail("weft_ps_sim_new (%s, %u nodes): %s", mode_name(mode), o->nodes, weft_strerror(err));
    st.sim = sim;

    peers = o->peers ? o->peers : 2 * o->degree;
    if (peers < o->degree + 2)
        peers = o->degree + 2;
    if (peers > o->nodes - 1)
        peers = o->nodes - 1;
    r->peers = peers;
    err = weft_ps_sim_subscribe_all(sim, TOPIC);
    if (err < 0)
        fail("subscribe: %s", weft_strerror(err));
    if (o->topology != NULL)
        r->edges = mesh_topo_connect(sim, &o->topo, &lp);
    else
        r->edges =
            weft_ps_sim_connect_random(sim, peers, &lp, (int64_t)(o->lat_min_ms * MS),
                                       (int64_t)(o->lat_max_ms * MS), o->seed ^ 0x746f706fULL);
    if (r->edges < 0)
        fail("connect: %s", weft_strerror((int)r->edges));

    weft_ps_sim_run_until(sim, (int64_t)(o->warmup_s * SEC));

    /* Publishers and payloads: the same sequence in both modes. */
    weft_rng_seed(&rng, o->seed ^ 0x7075626cULL);
    b0 = weft_ps_sim_bytes_sent(sim);
    for (p = 0; p < o->publishes; p++) {
        int64_t deadline, last = 0;
        size_t pub = (size_t)(weft_rng_next(&rng) % o->nodes), mem = 0;
        unsigned missed;

        weft_rng_bytes(&rng, data, (size_t)o->msg);
        for (i = 0; i < o->nodes; i++)
            st.got[i] = -1;
        st.ngot = 0;
        st.publisher = pub;
        st.id_len = 0;
        st.t0 = weft_ps_sim_now(sim);
        st.active = 1;
        err = weft_ps_sim_publish(sim, pub, TOPIC, data, (size_t)o->msg, st.id, &st.id_len);
        if (err < 0)
            fail("publish %u from node %zu: %s", p, pub, weft_strerror(err));
        deadline = st.t0 + (int64_t)(o->timeout_s * SEC);
        while (st.ngot < o->nodes - 1 && weft_ps_sim_now(sim) < deadline) {
            int64_t next = weft_ps_sim_now(sim) + SAMPLE_NS;

            weft_ps_sim_run_until(sim, next < deadline ? next : deadline);
            mem = sample_memory(sim, o->nodes, r);
        }
        st.active = 0;
        for (i = 0; i < o->nodes; i++) {
            if (i == pub || st.got[i] < 0)
                continue;
            r->node_ms[r->nnode_ms++] = (double)(st.got[i] - st.t0) / 1e6;
            if (st.got[i] > last)
                last = st.got[i];
        }
        r->deliveries += st.ngot;
        missed = o->nodes - 1 - st.ngot;
        r->tta_ms[p] = (double)((missed ? deadline : last) - st.t0) / 1e6;
        if (!progress && weft_mono_ns() - wall0 > PROGRESS_AFTER_NS)
            progress = 1;
        if (progress)
            fprintf(stderr,
                    "weft-bench mesh: %s publish %u/%u from node %zu: %u/%u nodes in %.1f ms"
                    " (virtual %.1f s, wall %.1f s, rss %ld MiB; MiB held by routers %zu,"
                    " max so far: routers %zu, queues %zu, partial frames %zu, on links %zu)\n",
                    mode_name(mode), p + 1, o->publishes, pub, st.ngot, o->nodes - 1, r->tta_ms[p],
                    (double)weft_ps_sim_now(sim) / 1e9, (double)(weft_mono_ns() - wall0) / 1e9,
                    rss_now_kb() / 1024, mem >> 20, r->router_mem_max >> 20,
                    r->queued_sum_max >> 20, r->rx_sum_max >> 20, r->inflight_max >> 20);
        weft_ps_sim_run_until(sim, weft_ps_sim_now(sim) + (int64_t)(o->gap_ms * MS));
    }
    b1 = weft_ps_sim_bytes_sent(sim);
    r->bytes = b1 - b0;
    r->publishes = o->publishes;
    r->late = st.late;

    for (i = 0; i < o->nodes; i++) {
        weft_ps_sim_stats ns;

        weft_ps_sim_get_stats(sim, i, &ns);
        r->sum.shards_sent += ns.ps.shards_sent;
        r->sum.shards_new += ns.ps.shards_new;
        r->sum.shards_unhelpful += ns.ps.shards_unhelpful;
        r->sum.shards_duplicate += ns.ps.shards_duplicate;
        r->sum.shards_unnecessary += ns.ps.shards_unnecessary;
        r->sum.gens_decoded += ns.ps.gens_decoded;
        r->sum.wants_sent += ns.ps.wants_sent;
        r->sum.msgs_duplicate += ns.ps.msgs_duplicate;
        r->sum.iwant_served += ns.ps.iwant_served;
        r->sum.idontwant_out += ns.ps.idontwant_out;
        r->sum.idontwant_in += ns.ps.idontwant_in;
        r->sum.rpc_send_failed += ns.ps.rpc_send_failed;
        r->sum.rpc_malformed += ns.ps.rpc_malformed;
        r->frames_dropped += ns.frames_dropped;
        r->frames_refused += ns.frames_refused;
        r->frames_bad += ns.frames_bad;
        r->dials_failed += ns.dials_failed;
        if (ns.queued_max > r->queued_max)
            r->queued_max = ns.queued_max;
    }
    r->virtual_s = (double)weft_ps_sim_now(sim) / 1e9;
    weft_ps_sim_free(sim);
    r->wall_s = (double)(weft_mono_ns() - wall0) / 1e9;
    r->peak_rss_kb = bench_peak_rss_kb();
    free(st.got);
    free(data);
}

/* ---- output ------------------------------------------------------------------------ */

static const char *
policy_name(const weft_ps_config *cfg)
{
    return cfg->rlnc_policy != NULL ? cfg->rlnc_policy : weft_ps_rlnc_policy_default();
}

static void
emit(const mesh_opts *o, const mesh_result *r)
{
    double sorted[4096], *tta = sorted, expected, ratio, mean = 0, bpd;
    size_t i, n = r->publishes;
    bench_json j;

    if (n > sizeof(sorted) / sizeof(sorted[0]))
        tta = malloc(n * sizeof(*tta));
    if (tta == NULL)
        fail("out of memory");
    memcpy(tta, r->tta_ms, n * sizeof(*tta));
    qsort(tta, n, sizeof(*tta), cmp_double);
    for (i = 0; i < r->nnode_ms; i++)
        mean += r->node_ms[i];
    mean = r->nnode_ms ? mean / (double)r->nnode_ms : NAN;
    expected = (double)r->publishes * (double)(o->nodes - 1);
    ratio = expected > 0 ? (double)r->deliveries / expected : NAN;
    bpd = r->deliveries ? (double)r->bytes / ((double)o->msg * (double)r->deliveries) : NAN;

    if (o->json) {
        bench_json_begin(&j);
        bench_json_str(&j, "bench", "mesh");
        bench_json_str(&j, "test", "delivery");
        bench_json_str(&j, "loop", "sim");
        bench_json_str(&j, "mode", mode_name(r->mode));
        bench_json_u64(&j, "nodes", o->nodes);
        bench_json_u64(&j, "degree", o->degree);
        bench_json_u64(&j, "peers", r->peers);
        bench_json_u64(&j, "edges", (uint64_t)r->edges);
        bench_json_u64(&j, "msg_bytes", o->msg);
        bench_json_u64(&j, "publishes", r->publishes);
        bench_json_u64(&j, "runs", r->publishes);
        bench_json_f64(&j, "link_mbps", o->link_mbps, 3);
        bench_json_f64(&j, "host_mbps", o->host_mbps, 3);
        bench_json_f64(&j, "latency_ms_min", o->lat_min_ms, 3);
        bench_json_f64(&j, "latency_ms_max", o->lat_max_ms, 3);
        bench_json_f64(&j, "loss_pct", o->loss_pct, 3);
        if (r->mode == WEFT_PS_RLNC) {
            bench_json_u64(&j, "k", r->cfg.rlnc_k);
            bench_json_f64(&j, "mult", r->cfg.rlnc_mult, 3);
            bench_json_f64(&j, "threshold", r->cfg.rlnc_threshold, 3);
            bench_json_str(&j, "policy", policy_name(&r->cfg));
        } else {
            bench_json_bool(&j, "idontwant", r->cfg.idontwant);
        }
        bench_json_f64(&j, "delivery_ratio", ratio, 6);
        bench_json_f64(&j, "p50_ms", quantile(tta, n, 0.50), 3);
        bench_json_f64(&j, "p90_ms", quantile(tta, n, 0.90), 3);
        bench_json_f64(&j, "p99_ms", quantile(tta, n, 0.99), 3);
        bench_json_f64(&j, "mean_node_ms", mean, 3);
        bench_json_f64(&j, "bytes_per_delivered", bpd, 4);
        /* Within the first 48 fields: what bench_json_check looks for. */
        bench_json_f64(&j, "wall_s", r->wall_s, 3);
        bench_json_f64(&j, "virtual_s", r->virtual_s, 3);
        bench_json_f64(&j, "per_sec", r->wall_s > 0 ? (double)r->deliveries / r->wall_s : 0, 1);
        bench_json_i64(&j, "peak_rss_kb", r->peak_rss_kb);
        bench_json_u64(&j, "seed", o->seed);
        bench_json_str(&j, "cpu", bench_cpu_model());
        bench_json_str(&j, "version", WEFT_VERSION);
        bench_json_u64(&j, "bytes_sent", r->bytes);
        bench_json_u64(&j, "deliveries", r->deliveries);
        bench_json_u64(&j, "late_deliveries", r->late);
        bench_json_u64(&j, "shards_sent", r->sum.shards_sent);
        bench_json_u64(&j, "shards_new", r->sum.shards_new);
        bench_json_u64(&j, "shards_unhelpful", r->sum.shards_unhelpful);
        bench_json_u64(&j, "shards_duplicate", r->sum.shards_duplicate);
        bench_json_u64(&j, "shards_unnecessary", r->sum.shards_unnecessary);
        bench_json_u64(&j, "msgs_duplicate", r->sum.msgs_duplicate);
        bench_json_u64(&j, "iwant_served", r->sum.iwant_served);
        bench_json_u64(&j, "idontwant_sent", r->sum.idontwant_out);
        bench_json_u64(&j, "rpc_dropped", r->frames_dropped);
        bench_json_u64(&j, "rpc_refused", r->frames_refused);
        bench_json_u64(&j, "queued_max_bytes", r->queued_max);
        bench_json_f64(&j, "router_mem_max_mib", (double)r->router_mem_max / 1048576.0, 1);
        bench_json_f64(&j, "queued_max_mib", (double)r->queued_sum_max / 1048576.0, 1);
        bench_json_f64(&j, "rx_partial_max_mib", (double)r->rx_sum_max / 1048576.0, 1);
        bench_json_f64(&j, "in_flight_max_mib", (double)r->inflight_max / 1048576.0, 1);
        if (o->topology != NULL) {
            bench_json_str(&j, "topology", o->topology);
            /* last: per publish, in publish order (a CDF beside the testbed's) */
            bench_json_f64_array(&j, "tta_ms", r->tta_ms, n, 2);
        }
        bench_json_end(&j, stdout);
    } else {
        printf("  %-9s %6.4f %9.1f %9.1f %9.1f %9.1f %8.3f %10" PRIu64 " %10" PRIu64 " %8" PRIu64
               " %7.1f %7ld\n",
               mode_name(r->mode), ratio, quantile(tta, n, 0.50), quantile(tta, n, 0.90),
               quantile(tta, n, 0.99), mean, bpd,
               r->mode == WEFT_PS_RLNC ? r->sum.shards_unhelpful : r->sum.msgs_duplicate,
               r->sum.shards_unnecessary, r->frames_dropped, r->wall_s, r->peak_rss_kb >> 10);
        fflush(stdout);
    }
    if (tta != sorted)
        free(tta);
}

static void
emit_header(const mesh_opts *o)
{
    printf("# weft-bench mesh %s: %u nodes, D=%u, %" PRIu64 " B x %u publishes, %.1f Mbit/s,"
           " %.0f-%.0f ms, %.2f%% loss, seed %" PRIu64 "\n",
           WEFT_VERSION, o->nodes, o->degree, o->msg, o->publishes, o->link_mbps, o->lat_min_ms,
           o->lat_max_ms, o->loss_pct, o->seed);
    printf("# %-9s %6s %9s %9s %9s %9s %8s %10s %10s %8s %7s %7s\n", "mode", "ratio", "p50 ms",
           "p90 ms", "p99 ms", "mean ms", "B/B", "dup/unhlp", "unneeded", "dropped", "wall s",
           "rss MiB");
    fflush(stdout);
}

/* Delivery-time CDF per mode: x = ms after publish, y = fraction of all
 * expected deliveries (so a curve ends at its delivery ratio). */
static int
plot_results(const char *file, const mesh_opts *o, mesh_result *res, size_t nres)
{
    double expected = (double)o->publishes * (double)(o->nodes - 1);
    size_t m, i;
    FILE *gp;
    int status;

    if (strpbrk(file, "\"\\\n`$") != NULL) {
        fprintf(stderr, "weft-bench mesh: --plot: unsupported characters in file name\n");
        return 1;
    }
    gp = popen("gnuplot", "w");
    if (gp == NULL) {
        perror("weft-bench mesh: --plot: gnuplot");
        return 1;
    }
    for (m = 0; m < nres; m++) {
        mesh_result *r = &res[m];

        qsort(r->node_ms, r->nnode_ms, sizeof(*r->node_ms), cmp_double);
        fprintf(gp, "$d_%zu << EOD\n0 0\n", m);
        for (i = 0; i < r->nnode_ms; i++)
            fprintf(gp, "%.3f %.6f\n", r->node_ms[i], (double)(i + 1) / expected);
        fprintf(gp, "EOD\n");
    }
    fprintf(gp, "set terminal pngcairo size 900,560 noenhanced font ',10'\n");
    fprintf(gp, "set output \"%s\"\n", file);
    fprintf(gp,
            "set title \"weft-bench mesh: %u nodes, D=%u, %" PRIu64 " B, %.0f Mbit/s, %.0f-%.0f"
            " ms, %.1f%% loss, %u publishes, seed %" PRIu64 "\"\n",
            o->nodes, o->degree, o->msg, o->link_mbps, o->lat_min_ms, o->lat_max_ms, o->loss_pct,
            o->publishes, o->seed);
    fprintf(gp, "set xlabel 'delivery delay after publish (virtual ms)'\n"
                "set ylabel 'fraction of node deliveries'\n"
                "set grid\nset key bottom right\nset yrange [0:1.02]\nset xrange [0:*]\n");
    fprintf(gp, "plot ");
    for (m = 0; m < nres; m++)
        fprintf(gp, "%s$d_%zu using 1:2 with steps lw 2 title '%s'", m ? ", " : "", m,
                mode_name(res[m].mode));
    fprintf(gp, "\n");
    status = pclose(gp);
    if (status != 0) {
        fprintf(stderr, "weft-bench mesh: --plot: gnuplot failed (status %d)\n", status);
        return 1;
    }
    fprintf(stderr, "weft-bench mesh: wrote %s\n", file);
    return 0;
}

/* ---- driver ------------------------------------------------------------------------ */

void
bench_mesh_usage(FILE *out)
{
    const char *pol[MAX_POLICIES];
    size_t np = weft_ps_rlnc_policies(pol, MAX_POLICIES), i, col;

    fprintf(out,
            "Usage: weft-bench mesh [--mode rlnc|gossipsub | --compare] [options]\n"
            "\n"
            "Publishes messages into a topic mesh of simulated nodes and measures, in virtual\n"
            "time, how long each takes to reach every node: the RLNC coded mesh against\n"
            "GossipSub v1.1 with the same D, on the same graph, links and publishers. The\n"
            "network is weft_simnet (per-link latency, bandwidth, TCP-like loss with a 200 ms\n"
            "retransmission that holds up what follows) carrying raw RPC frames between the\n"
            "routers (weft/ps_sim.h: no Noise, no yamux); the routers are the real ones.\n"
            "\n"
            "Options:\n"
            "  --nodes N          nodes (default 100)\n"
            "  --degree D         mesh degree D (default 6; D_lo, D_hi... scaled from it)\n"
            "  --peers C          connections per node, about (default 2*D, at least D+2);\n"
            "                     the graph is a random spanning tree plus random edges\n"
            "  --mode M           rlnc or gossipsub (default rlnc)\n"
            "  --compare          run both, rlnc first, on the same graph and publishers\n"
            "  --msg BYTES        message size; K, M suffixes are powers of 1024 (default 1M)\n"
            "  --publishes P      messages, one after the other (default 10)\n"
            "  --link-mbps B      bandwidth per connection and direction, Mbit/s; 0 = none\n"
            "                     (default 50)\n"
            "  --host-mbps B      besides: every node's uplink and downlink, shared by all\n"
            "                     its connections (an access link, as the testbed shapes\n"
            "                     it), Mbit/s; 0 = none (default)\n"
            "  --latency-ms A-B   one-way latency per link, uniform in [A, B] ms (default\n"
            "                     20-100)\n"
            "  --jitter-ms J      extra delay per segment, uniform in [0, J] (default 0)\n"
            "  --loss PCT         segment loss, percent (default 1)\n"
            "  --seed S           graph, latencies, identities, publishers (default 1)\n"
            "  --k K --mult M --threshold T --policy NAME\n"
            "                     RLNC: pieces, shards per piece at the publisher, rank\n"
            "                     fraction before relaying, forwarding policy (router\n"
            "                     defaults otherwise)\n"
            "  --idontwant 0|1    GossipSub: send IDONTWANT (v1.2); default 0 (v1.1)\n"
            "  --warmup S         virtual seconds of heartbeats before the first publish\n"
            "                     (default 5)\n"
            "  --timeout S        cutoff of one publish, virtual seconds (default 10)\n"
            "  --gap MS           virtual ms of quiet after each publish (default 5000)\n"
            "  --json             one JSON object per mode instead of a table\n"
            "  --plot F.png       delivery-delay CDF per mode with gnuplot (pngcairo)\n"
            "  --topology FILE    this graph instead of a random one: 'nodes N', then\n"
            "                     'edge A B MS' lines (hosts 1..N, one-way latency per\n"
            "                     edge; --latency-ms and --nodes are then unused); the\n"
            "                     testbed writes one (testbed/README.md). Adds topology\n"
            "                     and tta_ms (time-to-all per publish) to --json\n"
            "  -h, --help         this text\n"
            "\n"
            "A publish ends when every other node has delivered it, or at its cutoff. Then\n"
            "the network runs --gap quiet ms before the next one, so that routers drop the\n"
            "message from their caches (GossipSub keeps it for mcache_len heartbeats, 5 s)\n"
            "and memory stays at about one message per node. Idle virtual time is cheap.\n"
            "Memory: every node's queues, frames being received and bytes on its links live\n"
            "in this process; 1000 nodes with 1 MiB messages take about 4.5 GB in rlnc mode\n"
            "and 12 GB in gossipsub mode (v1.1 sends each message over most mesh links).\n"
            "\n"
            "Output fields (--json; the table shows the main ones):\n"
            "  bench (\"mesh\"), test (\"delivery\"), loop (\"sim\"), mode, nodes, degree,\n"
            "  peers, edges, msg_bytes, publishes (= runs), link_mbps, latency_ms_min/max,\n"
            "  loss_pct; rlnc: k, mult, threshold, policy (\"default\" without --policy);\n"
            "  gossipsub: idontwant.\n"
            "  delivery_ratio = deliveries / (publishes * (nodes - 1)), deliveries counted\n"
            "  only before each publish's cutoff (later ones are late_deliveries);\n"
            "  p50_ms, p90_ms, p99_ms of time-to-all over publishes (virtual ms from the\n"
            "  publish to the last node's delivery, or to the cutoff if a node missed it),\n"
            "  interpolated between publishes; mean_node_ms = mean delay of every delivery;\n"
            "  bytes_per_delivered = bytes put on all links from the first publish to the\n"
            "  end (RPCs, control, framing) / (msg_bytes * deliveries), bytes_sent that\n"
            "  numerator; shards_*, msgs_duplicate, iwant_served, idontwant_sent summed\n"
            "  over routers (weft_ps_stats); rpc_dropped = frames refused by a full\n"
            "  connection queue (32 MiB), rpc_refused = frames weft_ps_on_rpc refused,\n"
            "  queued_max_bytes = longest outbound queue seen; router_mem_max_mib,\n"
            "  queued_max_mib, rx_partial_max_mib = the largest sums over nodes, sampled\n"
            "  every 10 virtual ms during publishes, of weft_ps_memory, of the outbound\n"
            "  queues and of inbound frames being received; in_flight_max_mib: bytes\n"
            "  on the simulated links (sent, not yet received), same sampling; wall_s,\n"
            "  virtual_s of the whole run (build, warm-up, publishes, gaps); per_sec =\n"
            "  deliveries per wall second; peak_rss_kb = peak RSS of the process so far\n"
            "  (with --compare the second line includes the first run); seed, cpu, version.\n"
            "\n"
            "RLNC policies of this build:");
    if (np > MAX_POLICIES)
        np = MAX_POLICIES;
    col = 32;
    for (i = 0; i < np; i++) {
        if (col + 1 + strlen(pol[i]) > 80) {
            fprintf(out, "\n ");
            col = 1;
        }
        int w = fprintf(out, " %s", pol[i]);
        if (w > 0)
            col += (size_t)w;
    }
    fprintf(out,
            "\n"
            "\n"
            "Examples:\n"
            "  weft-bench mesh --nodes 100 --degree 6 --msg 1M --compare --json\n"
            "  weft-bench mesh --nodes 1000 --msg 1M --publishes 5 --compare --plot cdf.png\n");
}

#define usage_error(...) bench_usage_error("mesh", __VA_ARGS__)

/* A non-negative finite number. */
static int
parse_double(const char *s, double *out)
{
    char *end;

    if (s == NULL || *s == '\0')
        return -1;
    *out = strtod(s, &end);
    if (*end != '\0' || !isfinite(*out) || *out < 0)
        return -1;
    return 0;
}

/* "A-B" or "A". */
static int
parse_range(const char *s, double *lo, double *hi)
{
    char buf[64], *dash;

    if (strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    dash = strchr(buf, '-');
    if (dash == NULL) {
        if (parse_double(buf, lo) != 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    *dash = '\0';
    if (parse_double(buf, lo) != 0 || parse_double(dash + 1, hi) != 0 || *hi < *lo)
        return -1;
    return 0;
}

enum {
    OPT_NODES = 256,
    OPT_DEGREE,
    OPT_PEERS,
    OPT_MODE,
    OPT_COMPARE,
    OPT_MSG,
    OPT_PUBLISHES,
    OPT_LINK,
    OPT_LATENCY,
    OPT_JITTER,
    OPT_LOSS,
    OPT_SEED,
    OPT_K,
    OPT_MULT,
    OPT_THRESHOLD,
    OPT_POLICY,
    OPT_IDONTWANT,
    OPT_WARMUP,
    OPT_TIMEOUT,
    OPT_GAP,
    OPT_JSON,
    OPT_PLOT,
    OPT_TOPOLOGY,
    OPT_HOST,
};

static const struct option long_opts[] = {
    {"nodes", required_argument, NULL, OPT_NODES},
    {"degree", required_argument, NULL, OPT_DEGREE},
    {"peers", required_argument, NULL, OPT_PEERS},
    {"mode", required_argument, NULL, OPT_MODE},
    {"compare", no_argument, NULL, OPT_COMPARE},
    {"msg", required_argument, NULL, OPT_MSG},
    {"publishes", required_argument, NULL, OPT_PUBLISHES},
    {"link-mbps", required_argument, NULL, OPT_LINK},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"jitter-ms", required_argument, NULL, OPT_JITTER},
    {"loss", required_argument, NULL, OPT_LOSS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"k", required_argument, NULL, OPT_K},
    {"mult", required_argument, NULL, OPT_MULT},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"idontwant", required_argument, NULL, OPT_IDONTWANT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"gap", required_argument, NULL, OPT_GAP},
    {"json", no_argument, NULL, OPT_JSON},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"topology", required_argument, NULL, OPT_TOPOLOGY},
    {"host-mbps", required_argument, NULL, OPT_HOST},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse argv into *o. Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, mesh_opts *o)
{
    const char *pol[MAX_POLICIES];
    uint64_t v;
    size_t np, i;
    int c;

    memset(o, 0, sizeof(*o));
    o->nodes = 100;
    o->degree = 6;
    o->mode = WEFT_PS_RLNC;
    o->msg = 1u << 20;
    o->publishes = 10;
    o->link_mbps = 50;
    o->lat_min_ms = 20;
    o->lat_max_ms = 100;
    o->loss_pct = 1;
    o->seed = 1;
    o->warmup_s = 5;
    o->timeout_s = 10;
    o->gap_ms = 5000;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_NODES:
            if (bench_parse_u64(optarg, &v) != 0 || v < 2 || v > 1000000)
                return usage_error("--nodes wants 2..1000000");
            o->nodes = (unsigned)v;
            break;
        case OPT_DEGREE:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 100)
                return usage_error("--degree wants 1..100");
            o->degree = (unsigned)v;
            break;
        case OPT_PEERS:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000)
                return usage_error("--peers wants 1..1000");
            o->peers = (unsigned)v;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "rlnc") == 0)
                o->mode = WEFT_PS_RLNC;
            else if (strcmp(optarg, "gossipsub") == 0)
                o->mode = WEFT_PS_GOSSIPSUB;
            else
                return usage_error("--mode wants rlnc or gossipsub, not '%s'", optarg);
            break;
        case OPT_COMPARE: o->compare = 1; break;
        case OPT_MSG:
            if (bench_parse_size(optarg, &v) != 0 || v < 1 || v > ((uint64_t)64 << 20))
                return usage_error("--msg wants 1 byte .. 64 MiB");
            o->msg = v;
            break;
        case OPT_PUBLISHES:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > 100000)
                return usage_error("--publishes wants 1..100000");
            o->publishes = (unsigned)v;
            break;
        case OPT_LINK:
            if (parse_double(optarg, &o->link_mbps) != 0 || o->link_mbps > 1e6)
                return usage_error("--link-mbps wants 0..1000000");
            break;
        case OPT_LATENCY:
            if (parse_range(optarg, &o->lat_min_ms, &o->lat_max_ms) != 0 || o->lat_max_ms > 1e5)
                return usage_error("--latency-ms wants MIN-MAX (ms), e.g. 20-100");
            break;
        case OPT_JITTER:
            if (parse_double(optarg, &o->jitter_ms) != 0 || o->jitter_ms > 1e5)
                return usage_error("--jitter-ms wants a number of ms");
            break;
        case OPT_LOSS:
            if (parse_double(optarg, &o->loss_pct) != 0 || o->loss_pct >= 100)
                return usage_error("--loss wants a percentage in [0, 100)");
            break;
        case OPT_SEED:
            if (bench_parse_u64(optarg, &o->seed) != 0)
                return usage_error("--seed wants an unsigned integer");
            break;
        case OPT_K:
            if (bench_parse_u64(optarg, &v) != 0 || v < 1 || v > WEFT_MAX_K)
                return usage_error("--k wants 1..%d", WEFT_MAX_K);
            o->k = (unsigned)v;
            break;
        case OPT_MULT:
            if (parse_double(optarg, &o->mult) != 0 || o->mult < 1 || o->mult > 64)
                return usage_error("--mult wants 1..64");
            break;
        case OPT_THRESHOLD:
            if (parse_double(optarg, &o->thresh) != 0 || o->thresh <= 0 || o->thresh > 1)
                return usage_error("--threshold wants (0, 1]");
            break;
        case OPT_POLICY:
            np = weft_ps_rlnc_policies(pol, MAX_POLICIES);
            if (np > MAX_POLICIES)
                np = MAX_POLICIES;
            for (i = 0; i < np; i++)
                if (strcmp(pol[i], optarg) == 0)
                    break;
            if (i == np)
                return usage_error("unknown --policy '%s'", optarg);
            o->policy = pol[i];
            break;
        case OPT_IDONTWANT:
            if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0)
                return usage_error("--idontwant wants 0 or 1");
            o->idontwant = optarg[0] == '1';
            break;
        case OPT_WARMUP:
            if (parse_double(optarg, &o->warmup_s) != 0 || o->warmup_s > 3600)
                return usage_error("--warmup wants 0..3600 seconds");
            break;
        case OPT_TIMEOUT:
            if (parse_double(optarg, &o->timeout_s) != 0 || o->timeout_s <= 0 ||
                o->timeout_s > 3600)
                return usage_error("--timeout wants (0, 3600] seconds");
            break;
        case OPT_GAP:
            if (parse_double(optarg, &o->gap_ms) != 0 || o->gap_ms > 3.6e6)
                return usage_error("--gap wants 0..3600000 ms");
            break;
        case OPT_JSON: o->json = 1; break;
        case OPT_PLOT: o->plot = optarg; break;
        case OPT_HOST:
            if (parse_double(optarg, &o->host_mbps) != 0 || o->host_mbps > 1e6)
                return usage_error("--host-mbps wants 0..1000000");
            break;
        case OPT_TOPOLOGY: {
            char err[512];
            if (o->topology != NULL)
                return usage_error("--topology given twice");
            if (mesh_topo_load(optarg, &o->topo, err, sizeof err) != 0)
                return usage_error("%s", err);
            o->topology = optarg;
            break;
        }
        case 'h': bench_mesh_usage(stdout); return 0;
        default: return usage_error("bad option or missing argument: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->topology != NULL)
        o->nodes = o->topo.nodes; /* the file's hosts, whatever --nodes said */
    return -1;
}

int
bench_mesh_main(int argc, char **argv)
{
    mesh_opts o;
    mesh_result res[2];
    int modes[2], nmodes, m, rc;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
#ifdef __GLIBC__
    /* Large buffers (messages, frames, queues) come and go by the thousand;
     * mapped one by one they are given back when freed, so the resident set
     * follows what the nodes hold instead of the heap's high-water mark. */
    mallopt(M_MMAP_THRESHOLD, 256 << 10);
#endif
    if (o.compare) {
        modes[0] = WEFT_PS_RLNC;
        modes[1] = WEFT_PS_GOSSIPSUB;
        nmodes = 2;
    } else {
        modes[0] = o.mode;
        nmodes = 1;
    }
    if (!o.json)
        emit_header(&o);
    for (m = 0; m < nmodes; m++) {
        run_mode(&o, modes[m], &res[m]);
        emit(&o, &res[m]);
    }
    rc = 0;
    if (o.plot != NULL)
        rc = plot_results(o.plot, &o, res, (size_t)nmodes);
    for (m = 0; m < nmodes; m++) {
        free(res[m].node_ms);
        free(res[m].tta_ms);
    }
    mesh_topo_free(&o.topo);
    return rc;
}
