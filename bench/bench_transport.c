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
 * three in step.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>

#include <sodium.h>

#include "bench_util.h"
#include "weft/host.h"
#include "weft/loop.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

/* The subcommand's entry points, listed in weft_bench.c. */
int bench_transport_main(int argc, char **argv);
void bench_transport_usage(FILE *out);

#define MS 1000000LL
#define SEC 1000000000LL
#define CHUNK ((size_t)64 << 10) /* bytes per send / stream write */
#define PERIOD 251u              /* the check pattern: byte at offset o is o % 251 */
#define WARMUP_MAX ((uint64_t)64 << 20)
#define STALL_NS (10 * SEC)      /* no progress for this long: a hang */
#define HS_RUN_MAX_NS (20 * SEC) /* a handshake run stops dialling after this */
#define IDLE_INFLIGHT 32         /* dials in flight while opening idle connections */
#define MAX_RIGS 2
#define SPLIT_STALL_NS (30 * SEC) /* split tests: neither side progressed for this long */
#define SPLIT_SLICE_NS (1 * MS)   /* split tests: longest wait before looking at the other side */
#define STALL_CHECK_NS (100 * MS) /* split tests: how often a side looks for a stall */
#define SINK_PROTO "/weft/bench-sink/1.0.0"

enum test_id {
    T_TCP,
    T_NOISE,
    T_HS,
    T_HS_CONC,
    T_IDLE,
    T_TCP_SPLIT, /* the split tests last: the one-core rigs are closed before them */
    T_NOISE_SPLIT,
    T_HS_SPLIT,
    T_COUNT,
};

#define ONE_CORE_TESTS ((1u << T_TCP_SPLIT) - 1)
#define SPLIT_TESTS (((1u << T_COUNT) - 1) & ~ONE_CORE_TESTS)

static const char *const test_names[T_COUNT] = {
    "tcp_stream",
    "noise_yamux_stream",
    "handshakes",
    "handshakes_concurrent",
    "idle_conn_memory",
    "tcp_stream_split",
    "noise_yamux_stream_split",
    "handshakes_split",
};

typedef struct transport_opts {
    unsigned kinds; /* bit per enum weft_loop_kind */
    unsigned tests; /* bit per enum test_id */
    uint64_t bytes; /* per stream run */
    unsigned runs;
    uint32_t conns;      /* idle connections per run */
    uint32_t handshakes; /* per handshake run */
    uint32_t parallel;   /* dials in flight for handshakes_concurrent */
    int split;           /* --split: only the split variants of the chosen tests */
    int json;
} transport_opts;

/* One transfer through either stream test. */
typedef struct xfer {
    uint64_t total, sent, rcvd;
    int check; /* verify the pattern on receive */
    int fin_sent;
    int closed; /* the sending stream's on_close ran */
    int close_reason;
    weft_stream *st;
} xfer;

/* A dial in flight during the handshake and idle tests. */
typedef struct dial_slot {
    struct rig *r;
    int64_t t0;
    int busy;
} dial_slot;

typedef struct rig {
    int kind;
    const char *name;
    weft_loop *loop;
    uint64_t progress; /* bumped by every callback that moves a test on */
    /* plain TCP */
    weft_listener *tcp_ls;
    weft_conn *tcp_tx, *tcp_rx;
    int tcp_dial_status;
    /* libp2p: srv listens and sinks streams, cli dials */
    weft_host *srv, *cli;
    weft_multiaddr srv_addr;
    weft_peer *data_peer; /* cli's long-lived connection to srv */
    int data_status, data_dialed;
    long live[2]; /* peers up minus down: [0] srv, [1] cli */
    uint64_t identified[2];
    xfer x;
    double tcp_gbps; /* median of tcp_stream, for ratio_vs_tcp */
    /* handshakes and idle connections */
    weft_peer **ready; /* dialled peers waiting for the driver */
    size_t nready, capready;
    uint64_t dial_ok, dial_failed;
    int last_dial_error;
    double *lat_ns; /* handshake latencies of all runs */
    size_t nlat, caplat;
} rig;

static const uint8_t *pattern; /* CHUNK + PERIOD bytes, pattern[i] = i % PERIOD */

_Noreturn static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static atomic_flag failing = ATOMIC_FLAG_INIT;

/* Print and exit(1). Callable from the split tests' threads: the first
 * caller reports and exits, a second one waits for that exit. */
static void
fail(const char *fmt, ...)
{
    va_list ap;

    if (atomic_flag_test_and_set(&failing))
        for (;;)
            pause();
    fflush(stdout);
    fprintf(stderr, "weft-bench transport: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static void
push_ready(rig *r, weft_peer *p)
{
    if (r->nready == r->capready) {
        size_t cap = r->capready ? 2 * r->capready : 64;
        weft_peer **n = realloc(r->ready, cap * sizeof(*n));

        if (n == NULL)
            fail("out of memory");
        r->ready = n;
        r->capready = cap;
    }
    r->ready[r->nready++] = p;
}

static void
push_latency(rig *r, double ns)
{
    if (r->nlat == r->caplat) {
        size_t cap = r->caplat ? 2 * r->caplat : 1024;
        double *n = realloc(r->lat_ns, cap * sizeof(*n));

        if (n == NULL)
            fail("out of memory");
        r->lat_ns = n;
        r->caplat = cap;
    }
    r->lat_ns[r->nlat++] = ns;
}

/* One turn of a loop: the number of events handled, or -EINTR. The epoll
 * loop passes on a wait cut short by a signal, or by the process being
 * stopped and continued, as -EINTR (io_uring's does not); that is a turn
 * with nothing done, not an error. Anything else fails. */
static int
loop_turn(weft_loop *loop, int64_t max_wait_ns, const char *name)
{
    int rc = weft_loop_run_once(loop, max_wait_ns);

    if (rc < 0 && rc != -EINTR)
        fail("%s: weft_loop_run_once: %s", name, weft_strerror(rc));
    return rc;
}

/* Run the rig's loop until cond holds. Fails after STALL_NS without a
 * callback bumping r->progress. */
static void
run_until(rig *r, int (*cond)(const rig *r), const char *what)
{
    uint64_t seen = r->progress;
    int64_t last = weft_loop_now(r->loop), now;

    while (!cond(r)) {
        loop_turn(r->loop, 10 * MS, r->name);
        now = weft_loop_now(r->loop);
        if (r->progress != seen) {
            seen = r->progress;
            last = now;
        } else if (now - last > STALL_NS) {
            fail("%s: %s: no progress for %lld s (sent %" PRIu64 ", received %" PRIu64
                 " of %" PRIu64 ")",
                 r->name, what, (long long)(STALL_NS / SEC), r->x.sent, r->x.rcvd, r->x.total);
        }
    }
}

/* Run the loop until a whole turn of it finds nothing to do. */
static void
run_quiet(rig *r)
{
    int64_t end = weft_loop_now(r->loop) + STALL_NS;
    int rc;

    do {
        rc = loop_turn(r->loop, 20 * MS, r->name);
    } while ((rc > 0 || rc == -EINTR) && weft_loop_now(r->loop) < end);
}

static void
check_pattern(const char *name, const uint8_t *d, size_t n, uint64_t off)
{
    size_t i;
    unsigned want = (unsigned)(off % PERIOD);

    for (i = 0; i < n; i++) {
        if (d[i] != want)
            fail("%s: byte %" PRIu64 " received as 0x%02x, sent as 0x%02x", name, off + i, d[i],
                 want);
        if (++want == PERIOD)
            want = 0;
    }
}

/* ---- plain TCP --------------------------------------------------------------------- */

static void
tcp_rx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)c;
    if (r->x.check)
        check_pattern(r->name, d, n, r->x.rcvd);
    r->x.rcvd += n;
    r->progress++;
}

static void
tcp_closed(weft_conn *c, void *user, int reason)
{
    rig *r = user;

    if (c == r->tcp_rx)
        r->tcp_rx = NULL;
    if (c == r->tcp_tx)
        r->tcp_tx = NULL;
}

static const weft_conn_handler tcp_rx_handler = {.on_data = tcp_rx_data, .on_close = tcp_closed};

static void
tcp_accept(weft_listener *l, void *user, weft_conn *c)
{
    rig *r = user;

    (void)l;
    if (r->tcp_rx != NULL) {
        weft_conn_set_handler(c, &tcp_rx_handler, r);
        weft_conn_abort(c, WEFT_ELIMIT);
        return;
    }
    r->tcp_rx = c;
    weft_conn_set_handler(c, &tcp_rx_handler, r);
    r->progress++;
}

static void
tcp_pump(rig *r)
{
    xfer *x = &r->x;
    int rc;

    while (x->sent < x->total) {
        size_t n = x->total - x->sent < CHUNK ? (size_t)(x->total - x->sent) : CHUNK;

        rc = weft_conn_send(r->tcp_tx, pattern + x->sent % PERIOD, n);
        if (rc == WEFT_ELIMIT)
            return; /* on_writable follows */
        if (rc < 0)
            fail("%s: weft_conn_send: %s", r->name, weft_strerror(rc));
        x->sent += n;
    }
}

static void
tcp_tx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)c, (void)d, (void)n;
    fail("%s: the TCP sender received %zu bytes", r->name, n);
}

static void
tcp_tx_writable(weft_conn *c, void *user)
{
    (void)c;
    tcp_pump(user);
}

static const weft_conn_handler tcp_tx_handler = {
    .on_data = tcp_tx_data, .on_writable = tcp_tx_writable, .on_close = tcp_closed};

static void
tcp_connected(weft_conn *c, void *user, int status)
{
    rig *r = user;

    r->tcp_dial_status = status;
    r->progress++;
    if (status < 0)
        return;
    r->tcp_tx = c;
    weft_conn_set_handler(c, &tcp_tx_handler, r);
}

static int
tcp_pair_ready(const rig *r)
{
    return r->tcp_dial_status < 0 || (r->tcp_tx != NULL && r->tcp_rx != NULL);
}

static int
xfer_received(const rig *r)
{
    return r->x.rcvd >= r->x.total;
}

/* One transfer of total bytes; returns its duration in ns (first send to
 * last byte counted). */
static double
tcp_transfer(rig *r, uint64_t total, int check)
{
    int64_t t0, t1;

    memset(&r->x, 0, sizeof(r->x));
    r->x.total = total;
    r->x.check = check;
    t0 = weft_mono_ns();
    tcp_pump(r);
    run_until(r, xfer_received, "tcp_stream");
    t1 = weft_mono_ns();
    if (r->x.rcvd != total)
        fail("%s: tcp_stream received %" PRIu64 " bytes, sent %" PRIu64, r->name, r->x.rcvd, total);
    return (double)(t1 - t0);
}

/* ---- the sink protocol (Noise + yamux stream) ---------------------------------------- */

static void
sink_data(weft_stream *s, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)s;
    if (r->x.check)
        check_pattern(r->name, d, n, r->x.rcvd);
    r->x.rcvd += n;
    r->progress++;
}

static void
sink_fin(weft_stream *s, void *user)
{
    (void)user;
    WEFT_IGNORE(weft_stream_close(s));
}

static const weft_stream_handler sink_handler = {.on_data = sink_data, .on_fin = sink_fin};

static void
src_pump(weft_stream *s, rig *r)
{
    xfer *x = &r->x;
    ptrdiff_t w;

    while (x->sent < x->total) {
        size_t n = x->total - x->sent < CHUNK ? (size_t)(x->total - x->sent) : CHUNK;

        w = weft_stream_write(s, pattern + x->sent % PERIOD, n);
        if (w == WEFT_EAGAIN)
            return; /* on_writable follows */
        if (w <= 0)
            fail("%s: weft_stream_write: %s", r->name, w ? weft_strerror((int)w) : "0 bytes");
        x->sent += (uint64_t)w;
    }
    if (!x->fin_sent) {
        x->fin_sent = 1;
        WEFT_IGNORE(weft_stream_close(s));
    }
}

static void
src_open(weft_stream *s, void *user)
{
    src_pump(s, user);
}

static void
src_writable(weft_stream *s, void *user)
{
    src_pump(s, user);
}

static void
src_data(weft_stream *s, void *user, const uint8_t *d, size_t n)
{
    rig *r = user;

    (void)s, (void)d;
    fail("%s: the stream sender received %zu bytes", r->name, n);
}

static void
src_close(weft_stream *s, void *user, int reason)
{
    rig *r = user;

    (void)s;
    r->x.closed = 1;
    r->x.close_reason = reason;
    r->progress++;
}

static const weft_stream_handler src_handler = {
    .on_open = src_open, .on_data = src_data, .on_writable = src_writable, .on_close = src_close};

static int
xfer_closed(const rig *r)
{
    return r->x.closed;
}

static double
noise_transfer(rig *r, uint64_t total, int check)
{
    int64_t t0, t1;
    int rc;

    memset(&r->x, 0, sizeof(r->x));
    r->x.total = total;
    r->x.check = check;
    t0 = weft_mono_ns();
    rc = weft_peer_open_stream(r->data_peer, SINK_PROTO, &src_handler, r, &r->x.st);
    if (rc < 0)
        fail("%s: weft_peer_open_stream: %s", r->name, weft_strerror(rc));
    run_until(r, xfer_received, "noise_yamux_stream");
    t1 = weft_mono_ns();
    if (r->x.rcvd != total)
        fail("%s: noise_yamux_stream received %" PRIu64 " bytes, sent %" PRIu64, r->name, r->x.rcvd,
             total);
    /* Untimed: both FINs, so streams do not pile up across runs. */
    run_until(r, xfer_closed, "noise_yamux_stream close");
    if (r->x.close_reason != 0)
        fail("%s: the stream closed with %s after all bytes arrived", r->name,
             weft_strerror(r->x.close_reason));
    return (double)(t1 - t0);
}

/* ---- hosts ---------------------------------------------------------------------------- */

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    rig *r = user;

    (void)p;
    r->live[h == r->srv ? 0 : 1] += up ? 1 : -1;
    r->progress++;
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    rig *r = user;

    (void)p, (void)id;
    r->identified[h == r->srv ? 0 : 1]++;
    r->progress++;
}

static void
data_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    rig *r = user;

    (void)h;
    r->data_dialed = 1;
    r->data_status = status;
    r->data_peer = p;
    r->progress++;
}

static int
data_peer_ready(const rig *r)
{
    return r->data_dialed && (r->data_status < 0 || (r->identified[0] && r->identified[1]));
}

typedef void (*peer_fn)(weft_host *h, weft_peer *p, int up, void *user);
typedef void (*identify_fn)(weft_host *h, weft_peer *p, const weft_identify *id, void *user);

static weft_host *
host_new(weft_loop *loop, uint8_t seed_byte, peer_fn peer_cb, identify_fn identify_cb, void *user)
{
    weft_host_config cfg;
    uint8_t seed[32] = {seed_byte};
    weft_host *h;
    int err = 0;

    weft_host_config_default(&cfg);
    weft_identity_from_seed(&cfg.identity, seed);
    /* Everything dials from 127.0.0.1: lift the per-IP and total limits
     * (bookkeeping only; no memory is reserved for them). */
    cfg.max_conns = 1u << 20;
    cfg.max_conns_per_ip = 1u << 20;
    cfg.on_peer = peer_cb;
    cfg.on_identify = identify_cb;
    cfg.user = user;
    h = weft_host_new(loop, &cfg, &err);
    if (h == NULL)
        fail("weft_host_new: %s", weft_strerror(err));
    return h;
}

static weft_host *
host_make(rig *r, uint8_t seed_byte)
{
    return host_new(r->loop, seed_byte, on_peer, on_identify, r);
}

/* ---- rigs ----------------------------------------------------------------------------------- */

/* Set up one loop kind: loop, TCP pair, hosts and their data connection
 * (identify done both ways). Returns 0, or the weft_loop_new error. */
static int
rig_open(rig *r, int kind)
{
    weft_loop_config lc;
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    socklen_t blen;
    weft_multiaddr any;
    int err = 0, rc;

    memset(r, 0, sizeof(*r));
    memset(&lc, 0, sizeof(lc));
    lc.kind = kind;
    r->kind = kind;
    r->loop = weft_loop_new(&lc, &err);
    if (r->loop == NULL)
        return err;
    r->name = weft_loop_kind_name(r->loop);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = weft_listen(r->loop, (struct sockaddr *)&sa, sizeof(sa), tcp_accept, r, &r->tcp_ls);
    if (rc < 0)
        fail("%s: weft_listen: %s", r->name, weft_strerror(rc));
    weft_listener_addr(r->tcp_ls, &bound, &blen);
    rc = weft_dial(r->loop, (struct sockaddr *)&bound, blen, 5 * SEC, tcp_connected, r, NULL);
    if (rc < 0)
        fail("%s: weft_dial: %s", r->name, weft_strerror(rc));
    run_until(r, tcp_pair_ready, "TCP connect");
    if (r->tcp_dial_status < 0)
        fail("%s: TCP connect: %s", r->name, weft_strerror(r->tcp_dial_status));

    r->srv = host_make(r, 1);
    r->cli = host_make(r, 2);
    rc = weft_host_handle(r->srv, SINK_PROTO, &sink_handler, r);
    if (rc < 0)
        fail("weft_host_handle: %s", weft_strerror(rc));
    rc = weft_ma_parse("/ip4/127.0.0.1/tcp/0", &any);
    if (rc == 0)
        rc = weft_host_listen(r->srv, &any, &r->srv_addr);
    if (rc < 0)
        fail("%s: weft_host_listen: %s", r->name, weft_strerror(rc));
    rc = weft_host_dial(r->cli, &r->srv_addr, data_dialed, r);
    if (rc < 0)
        fail("%s: weft_host_dial: %s", r->name, weft_strerror(rc));
    run_until(r, data_peer_ready, "first libp2p connection");
    if (r->data_status < 0)
        fail("%s: first libp2p connection: %s", r->name, weft_strerror(r->data_status));
    run_quiet(r);
    return 0;
}

static void
rig_close(rig *r)
{
    weft_host_free(r->cli);
    weft_host_free(r->srv);
    weft_loop_free(r->loop); /* closes the TCP pair and listener */
    free(r->ready);
    free(r->lat_ns);
    memset(r, 0, sizeof(*r));
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *
kernel_release(void)
{
    static struct utsname u;
    static int done;

    if (!done) {
        if (uname(&u) != 0)
            snprintf(u.release, sizeof(u.release), "unknown");
        done = 1;
    }
    return u.release;
}

static void
json_tail(bench_json *j, unsigned runs)
{
    bench_json_u64(j, "runs", runs);
    bench_json_str(j, "cpu", bench_cpu_model());
    bench_json_str(j, "kernel", kernel_release());
    bench_json_i64(j, "peak_rss_kb", bench_peak_rss_kb());
    bench_json_str(j, "version", WEFT_VERSION);
    bench_json_end(j, stdout);
}

static void
emit_header(const transport_opts *o)
{
    printf("# weft-bench transport %s: cpu \"%s\", kernel %s, %u runs, %ld cpus online\n",
           WEFT_VERSION, bench_cpu_model(), kernel_release(), o->runs,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("# one-core tests: both ends on one loop in one thread; *_split: a thread and a loop\n"
           "# per end, GB/s/cpu and /s/cpu = work / the larger thread CPU time\n");
    printf("# %-24s %-9s %14s %-8s %12s %12s  %s\n", "test", "loop", "median", "unit", "min", "max",
           "notes");
    fflush(stdout);
}

static void
emit_row(const char *test, const char *loop, double med, const char *unit, double min, double max,
         const char *notes)
{
    printf("  %-24s %-9s %14.3f %-8s %12.3f %12.3f  %s\n", test, loop, med, unit, min, max, notes);
    fflush(stdout);
}

/* ---- crypto floors ------------------------------------------------------------------------- */

/*
 * What the libsodium primitives alone cost on this core, so the transport
 * figures can be read against a ceiling: a Noise transport frame is one
 * ChaCha20-Poly1305 seal at the sender and one open at the receiver (both
 * on this core here), and a handshake is, per side as weft does it, one
 * X25519 base-point multiplication (the ephemeral key; the host's static
 * key and its signed payload are made once, at weft_host_new), three X25519
 * DH (ee, es, se) and one Ed25519 verification (the remote's payload).
 */
typedef struct crypto_floor {
    int measured;
    double seal_gbps, open_gbps, bound_gbps; /* plaintext GB/s */
    double hs_us;                            /* both sides of one handshake */
} crypto_floor;

static crypto_floor floor_cache;

typedef struct aead_ctx {
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    uint8_t *pt, *ct, *out;
    size_t len;
    uint8_t sk[32], pk[32], peer[32], shared[32];
    uint8_t id_pk[crypto_sign_PUBLICKEYBYTES], id_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t msg[64], sig[crypto_sign_BYTES];
} aead_ctx;

static void
op_seal(void *arg)
{
    aead_ctx *c = arg;
    unsigned long long n;

    crypto_aead_chacha20poly1305_ietf_encrypt(c->ct, &n, c->pt, c->len, NULL, 0, NULL, c->nonce,
                                              c->key);
}

static void
op_open(void *arg)
{
    aead_ctx *c = arg;
    unsigned long long n;

    if (crypto_aead_chacha20poly1305_ietf_decrypt(c->out, &n, NULL, c->ct,
                                                  c->len + crypto_aead_chacha20poly1305_ietf_ABYTES,
                                                  NULL, 0, c->nonce, c->key) != 0)
        fail("ChaCha20-Poly1305 open of a frame just sealed failed");
}

static void
op_base(void *arg)
{
    aead_ctx *c = arg;

    crypto_scalarmult_base(c->pk, c->sk);
}

static void
op_dh(void *arg)
{
    aead_ctx *c = arg;

    if (crypto_scalarmult(c->shared, c->sk, c->peer) != 0)
        fail("X25519 refused a valid public key");
}

static void
op_sign(void *arg)
{
    aead_ctx *c = arg;

    crypto_sign_detached(c->sig, NULL, c->msg, sizeof(c->msg), c->id_sk);
}

static void
op_verify(void *arg)
{
    aead_ctx *c = arg;

    if (crypto_sign_verify_detached(c->sig, c->msg, sizeof(c->msg), c->id_pk) != 0)
        fail("Ed25519 verification of a fresh signature failed");
}

static double
time_op(aead_ctx *c, void (*op)(void *), unsigned runs)
{
    bench_case bc = {c, NULL, op};
    bench_measure_opts mo = {runs, 20.0, 0, 0};
    bench_stats st;

    bench_measure(&bc, &mo, &st);
    return st.median_ns;
}

static const crypto_floor *
crypto_floor_get(unsigned runs)
{
    aead_ctx c;
    uint8_t other[32];
    double seal, open;

    if (floor_cache.measured)
        return &floor_cache;
    if (sodium_init() < 0)
        fail("sodium_init");
    memset(&c, 0, sizeof(c));
    c.len = 65519; /* WEFT_NOISE_PLAIN_MAX: a full transport frame */
    c.pt = bench_xalloc(c.len);
    c.ct = bench_xalloc(c.len + crypto_aead_chacha20poly1305_ietf_ABYTES);
    c.out = bench_xalloc(c.len);
    randombytes_buf(c.key, sizeof(c.key));
    randombytes_buf(c.pt, c.len);
    randombytes_buf(c.sk, sizeof(c.sk));
    randombytes_buf(other, sizeof(other));
    crypto_scalarmult_base(c.peer, other);
    crypto_sign_keypair(c.id_pk, c.id_sk);
    randombytes_buf(c.msg, sizeof(c.msg));

    seal = time_op(&c, op_seal, runs);
    op_seal(&c);
    open = time_op(&c, op_open, runs);
    floor_cache.seal_gbps = (double)c.len / seal;
    floor_cache.open_gbps = (double)c.len / open;
    floor_cache.bound_gbps = (double)c.len / (seal + open);
    op_sign(&c);
    floor_cache.hs_us = 2 *
                        (time_op(&c, op_base, runs) + 3 * time_op(&c, op_dh, runs) +
                         time_op(&c, op_verify, runs)) /
                        1e3;
    floor_cache.measured = 1;
    free(c.pt);
    free(c.ct);
    free(c.out);
    sodium_memzero(&c, sizeof(c));
    return &floor_cache;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void
test_stream(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o)
{
    double *sec = calloc((size_t)nrigs * o->runs, sizeof(*sec));
    uint64_t warm = o->bytes < WARMUP_MAX ? o->bytes : WARMUP_MAX;
    const crypto_floor *cf = t == T_NOISE ? crypto_floor_get(o->runs) : NULL;
    unsigned run;
    size_t k;

    if (sec == NULL)
        fail("out of memory");
    /* Untimed and checked byte by byte: warms the caches, the provided
     * receive buffers and the yamux window state. */
    for (k = 0; k < nrigs; k++) {
        if (t == T_TCP)
            tcp_transfer(&rigs[k], warm, 1);
        else
            noise_transfer(&rigs[k], warm, 1);
    }
    for (run = 0; run < o->runs; run++)
        for (k = 0; k < nrigs; k++)
            sec[k * o->runs + run] = (t == T_TCP ? tcp_transfer(&rigs[k], o->bytes, 0)
                                                 : noise_transfer(&rigs[k], o->bytes, 0)) /
                                     1e9;
    for (k = 0; k < nrigs; k++) {
        rig *r = &rigs[k];
        double *v = sec + k * o->runs;
        double med, gbps, min_gbps, max_gbps, ratio = 0;
        bench_json j;
        char notes[160];

        med = bench_median(v, o->runs); /* sorts: v[0] fastest */
        gbps = (double)o->bytes / med / 1e9;
        max_gbps = (double)o->bytes / v[0] / 1e9;
        min_gbps = (double)o->bytes / v[o->runs - 1] / 1e9;
        if (t == T_TCP)
            r->tcp_gbps = gbps;
        else if (r->tcp_gbps > 0)
            ratio = gbps / r->tcp_gbps;
        if (o->json) {
            bench_json_begin(&j);
            bench_json_str(&j, "bench", "transport");
            bench_json_str(&j, "test", test_names[t]);
            bench_json_str(&j, "loop", r->name);
            bench_json_u64(&j, "bytes", o->bytes);
            bench_json_u64(&j, "chunk", CHUNK);
            bench_json_f64(&j, "gbps", gbps, 4);
            bench_json_f64(&j, "min_gbps", min_gbps, 4);
            bench_json_f64(&j, "max_gbps", max_gbps, 4);
            bench_json_f64(&j, "seconds", med, 4);
            if (ratio > 0)
                bench_json_f64(&j, "ratio_vs_tcp", ratio, 4);
            if (cf != NULL) {
                bench_json_f64(&j, "aead_seal_gbps", cf->seal_gbps, 4);
                bench_json_f64(&j, "aead_open_gbps", cf->open_gbps, 4);
                bench_json_f64(&j, "crypto_bound_gbps", cf->bound_gbps, 4);
            }
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes), "%" PRIu64 " bytes per run", o->bytes);
            if (ratio > 0)
                snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes),
                         ", %.3f x tcp_stream", ratio);
            if (cf != NULL)
                snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes),
                         ", AEAD-only bound %.3f GB/s", cf->bound_gbps);
            emit_row(test_names[t], r->name, gbps, "GB/s", min_gbps, max_gbps, notes);
        }
    }
    free(sec);
}

static void
hs_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    dial_slot *s = user;
    rig *r = s->r;

    (void)h;
    s->busy = 0;
    r->progress++;
    if (status < 0) {
        r->dial_failed++;
        r->last_dial_error = status;
        return;
    }
    r->dial_ok++;
    push_latency(r, (double)(weft_loop_now(r->loop) - s->t0));
    push_ready(r, p);
}

static int
peers_back_to_one(const rig *r)
{
    return r->live[0] == 1 && r->live[1] == 1;
}

/* Up to parallel dials in flight, n in all (fewer if HS_RUN_MAX_NS passes).
 * Each peer is closed by the driver once its dial callback has returned.
 * Returns the run's handshakes per second. */
static double
handshake_run(rig *r, uint32_t n, uint32_t parallel, dial_slot *slots)
{
    uint32_t started = 0, inflight, i;
    uint64_t ok0 = r->dial_ok;
    int64_t t0 = weft_loop_now(r->loop), t1;
    int rc;

    for (;;) {
        inflight = 0;
        for (i = 0; i < parallel; i++) {
            dial_slot *s = &slots[i];

            if (!s->busy && started < n && weft_loop_now(r->loop) - t0 < HS_RUN_MAX_NS) {
                s->r = r;
                s->busy = 1;
                s->t0 = weft_loop_now(r->loop);
                rc = weft_host_dial(r->cli, &r->srv_addr, hs_dialed, s);
                if (rc < 0)
                    fail("%s: weft_host_dial: %s", r->name, weft_strerror(rc));
                started++;
            }
            inflight += (uint32_t)s->busy;
        }
        if (inflight == 0)
            break;
        loop_turn(r->loop, 10 * MS, r->name);
        for (i = 0; i < r->nready; i++)
            weft_peer_close(r->ready[i]);
        r->nready = 0;
        if (r->dial_failed)
            fail("%s: a handshake failed: %s", r->name, weft_strerror(r->last_dial_error));
    }
    t1 = weft_loop_now(r->loop);
    /* Untimed: let both ends tear down, so runs do not overlap. */
    run_until(r, peers_back_to_one, "handshake teardown");
    return (double)(r->dial_ok - ok0) * 1e9 / (double)(t1 - t0);
}

static void
test_handshakes(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o)
{
    uint32_t parallel = t == T_HS ? 1 : o->parallel;
    uint32_t warm = o->handshakes < 50 ? o->handshakes : 50;
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

        lat = bench_median(r->lat_ns, r->nlat) / 1e3; /* sorted now */
        p99 = r->lat_ns[(size_t)((double)(r->nlat - 1) * 0.99)] / 1e3;
        if (o->json) {
            bench_json_begin(&j);
            bench_json_str(&j, "bench", "transport");
            bench_json_str(&j, "test", test_names[t]);
            bench_json_str(&j, "loop", r->name);
            bench_json_u64(&j, "handshakes", o->handshakes);
            bench_json_u64(&j, "parallel", parallel);
            bench_json_f64(&j, "per_sec", med, 1);
            bench_json_f64(&j, "min_per_sec", v[0], 1);
            bench_json_f64(&j, "max_per_sec", v[o->runs - 1], 1);
            bench_json_f64(&j, "us_per_handshake", lat, 1);
            bench_json_f64(&j, "us_p99", p99, 1);
            bench_json_u64(&j, "failed", r->dial_failed);
            bench_json_f64(&j, "crypto_us_per_handshake", cf->hs_us, 1);
            bench_json_f64(&j, "crypto_bound_per_sec", 1e6 / cf->hs_us, 1);
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

/* ---- idle connection memory ------------------------------------------------------------------ */

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
    uint32_t started = 0, inflight, i;
    int rc;

    r->nready = 0;
    idle_wait.want = m;
    idle_wait.ident0[0] = r->identified[0];
    idle_wait.ident0[1] = r->identified[1];
    for (;;) {
        inflight = 0;
        for (i = 0; i < IDLE_INFLIGHT; i++) {
            if (!slots[i].busy && started < m) {
                slots[i].r = r;
                slots[i].busy = 1;
                slots[i].t0 = weft_loop_now(r->loop);
                rc = weft_host_dial(r->cli, &r->srv_addr, hs_dialed, &slots[i]);
                if (rc < 0)
                    fail("%s: weft_host_dial: %s", r->name, weft_strerror(rc));
                started++;
            }
            inflight += (uint32_t)slots[i].busy;
        }
        if (inflight == 0)
            break;
        loop_turn(r->loop, 10 * MS, r->name);
        if (r->dial_failed)
            fail("%s: opening idle connections: %s", r->name, weft_strerror(r->last_dial_error));
    }
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

static void
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
            bench_json_begin(&j);
            bench_json_str(&j, "bench", "transport");
            bench_json_str(&j, "test", test_names[T_IDLE]);
            bench_json_str(&j, "loop", r->name);
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
                snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), ", %.0f B heap",
                         hmed / 2);
            snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), "; weft_identify %zu B",
                     sizeof(weft_identify));
            emit_row(test_names[T_IDLE], r->name, med, "B/pair", v[0], v[o->runs - 1], notes);
        }
    }
    free(rss);
    free(heap);
}

/* ---- two threads: the *_split tests ------------------------------------------------------ */

/*
 * tcp_stream_split, noise_yamux_stream_split and handshakes_split do what
 * tcp_stream, noise_yamux_stream and handshakes do, with the two ends on two
 * threads, each with its own weft_loop of the same kind, talking over
 * loopback. Every run is one "pair": the main thread starts a listener
 * thread and a dialer thread, each builds its loop (and host), the listener
 * publishes its address, both meet at a barrier, run an untimed checked
 * warm-up and the timed part, meet at the barrier again once both are done,
 * and free what they built; the main thread joins them. Runs alternate
 * between the loop kinds as in the one-core tests.
 *
 * The loops share nothing. Between the barriers the threads coordinate only
 * through the steps of split_pair, atomics that one side sets once and the
 * other polls between turns of its loop (a turn waits at most
 * SPLIT_SLICE_NS), so no thread ever blocks while the other may still need
 * its end of a connection served. Each side reads CLOCK_THREAD_CPUTIME_ID at
 * the start and the end of its share of the timed part; "per core" figures
 * divide the work by the larger of the two CPU times, which is what one
 * core per side sustains, and stay meaningful when a busy machine stretches
 * the wall time. Every wait fails after SPLIT_STALL_NS in which neither side
 * made progress.
 */

typedef struct split_side {
    _Alignas(128) struct split_pair *pair; /* own cache lines: the sides run in parallel */
    char name[40];                         /* "io_uring dialer", for messages */
    weft_loop *loop;
    weft_host *host;
    _Atomic uint64_t progress; /* bumped by this side's callbacks, read by both */
    _Atomic long live;         /* this host's peers up minus down, read by both */
    uint64_t identified;
    int tearing_down; /* after the last barrier: closes are expected */
    /* TCP: the listener's accepted connection or the dialer's */
    weft_listener *ls;
    weft_conn *conn;
    /* the dialer's TCP or data connection dial */
    int dialed, dial_status;
    weft_peer *peer;
    /* streams: the dialer sends x, the listener counts rcvd over the warm-up and the timed part */
    xfer x;
    uint64_t rcvd;
    /* handshakes (dialer) */
    int hs_busy, hs_timed;
    int64_t hs_t0;
    weft_peer *ready; /* dialled, to be closed by the driver */
    uint64_t dial_ok, dial_failed;
    int last_dial_error;
    /* thread CPU ns at the start and the end of this side's timed part */
    int64_t cpu0, cpu1;
} split_side;

enum { SIDE_DIALER, SIDE_LISTENER };

typedef struct split_pair {
    enum test_id t;
    int kind;
    uint64_t warm_bytes, bytes; /* streams */
    uint32_t warm_hs, hs;       /* handshakes */
    pthread_barrier_t gate;     /* start (address published) and end (both done) */
    /* the listener's address, written before the first barrier */
    weft_multiaddr addr;
    struct sockaddr_storage sa;
    socklen_t salen;
    /* Steps, each set once (release) by the side named and polled (acquire) by the other. */
    atomic_int rx_ready;   /* streams, listener: its end of the connection is up */
    atomic_int warm_done;  /* streams, listener: warm-up received and checked;
                              handshakes, dialer: warm-up done and torn down on both ends */
    atomic_int armed;      /* handshakes, listener: its CPU clock is started */
    atomic_int timed_done; /* streams, listener: last byte in; handshakes, dialer: last callback */
    atomic_int finished;   /* dialer: all closed, the listener may stop */
    /* results, read by the main thread after the join */
    int64_t t0, t1;   /* wall clock (weft_mono_ns) of the timed part */
    uint64_t hs_done; /* handshakes completed in the timed part */
    double *lat_ns;   /* dialer: dial-to-callback times of the timed part */
    uint32_t nlat;
    split_side side[2]; /* [SIDE_DIALER], [SIDE_LISTENER] */
} split_pair;

/* What one pair measured. */
typedef struct split_result {
    double wall_s;
    double cpu_s[2]; /* [SIDE_DIALER], [SIDE_LISTENER] */
    uint64_t done;   /* handshakes completed */
} split_result;

/* A loop kind the split tests run on. */
typedef struct split_kind {
    int kind;
    const char *name;
    double tcp_gbps; /* median of tcp_stream_split, for ratio_vs_tcp */
} split_kind;

static int64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        fail("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void
side_bump(split_side *s)
{
    uint64_t v = atomic_load_explicit(&s->progress, memory_order_relaxed);

    atomic_store_explicit(&s->progress, v + 1, memory_order_relaxed);
}

static void
side_live(split_side *s, long delta)
{
    long v = atomic_load_explicit(&s->live, memory_order_relaxed);

    atomic_store_explicit(&s->live, v + delta, memory_order_release);
}

static int
step_is_set(atomic_int *step)
{
    return atomic_load_explicit(step, memory_order_acquire);
}

static void
step_set(atomic_int *step)
{
    atomic_store_explicit(step, 1, memory_order_release);
}

static uint64_t
pair_progress(const split_pair *p)
{
    return atomic_load_explicit(&p->side[0].progress, memory_order_relaxed) +
           atomic_load_explicit(&p->side[1].progress, memory_order_relaxed);
}

/* Watches one side's waiting for a stall of both sides. */
typedef struct stall_watch {
    uint64_t seen;
    int64_t last, next_check;
} stall_watch;

static void
watch_start(split_side *s, stall_watch *w)
{
    w->seen = pair_progress(s->pair);
    w->last = weft_loop_now(s->loop);
    w->next_check = w->last + STALL_CHECK_NS;
}

/* One turn of the side's loop; fails once neither side has made progress
 * for SPLIT_STALL_NS. The other side's counter is read only every
 * STALL_CHECK_NS, so the cache line it lives on stays with its writer. */
static void
side_turn(split_side *s, stall_watch *w, const char *what)
{
    split_pair *p = s->pair;
    int64_t now;
    uint64_t seen;

    loop_turn(s->loop, SPLIT_SLICE_NS, s->name);
    now = weft_loop_now(s->loop);
    if (now < w->next_check)
        return;
    w->next_check = now + STALL_CHECK_NS;
    seen = pair_progress(p);
    if (seen != w->seen) {
        w->seen = seen;
        w->last = now;
    } else if (now - w->last > SPLIT_STALL_NS) {
        fail("%s: %s: no progress on either side for %lld s (this side sent %" PRIu64
             ", received %" PRIu64 ", completed %" PRIu64 " handshakes)",
             s->name, what, (long long)(SPLIT_STALL_NS / SEC), s->x.sent, s->rcvd, s->dial_ok);
    }
}

static void
side_run_until(split_side *s, int (*cond)(split_side *s), const char *what)
{
    stall_watch w;

    watch_start(s, &w);
    while (!cond(s))
        side_turn(s, &w, what);
}

/* ---- split: the receiving end (listener) ---- */

/* Count received bytes against the plan: warm_bytes checked, then bytes
 * unchecked; the last byte of each part marks a step. */
static void
split_rx(split_side *s, const uint8_t *d, size_t n)
{
    split_pair *p = s->pair;
    uint64_t before = s->rcvd, warm = p->warm_bytes, end = p->warm_bytes + p->bytes;

    if (before < warm) {
        if (n > warm - before)
            fail("%s: timed bytes arrived before the warm-up was complete", s->name);
        check_pattern(s->name, d, n, before);
    }
    if (n > end - before)
        fail("%s: received %" PRIu64 " bytes, %" PRIu64 " were sent", s->name, before + n, end);
    s->rcvd = before + n;
    if (s->rcvd == warm) {
        s->cpu0 = thread_cpu_ns();
        step_set(&p->warm_done);
    } else if (s->rcvd == end) {
        p->t1 = weft_mono_ns();
        s->cpu1 = thread_cpu_ns();
        step_set(&p->timed_done);
    }
    side_bump(s);
}

static void
split_conn_closed(weft_conn *c, void *user, int reason)
{
    split_side *s = user;

    if (!s->tearing_down)
        fail("%s: the TCP connection closed during the test (%s)", s->name,
             reason ? weft_strerror(reason) : "orderly");
    if (c == s->conn)
        s->conn = NULL;
}

static void
split_tcp_rx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    (void)c;
    split_rx(user, d, n);
}

static const weft_conn_handler split_tcp_rx_handler = {.on_data = split_tcp_rx_data,
                                                       .on_close = split_conn_closed};

static void
split_tcp_accept(weft_listener *l, void *user, weft_conn *c)
{
    split_side *s = user;

    (void)l;
    weft_conn_set_handler(c, &split_tcp_rx_handler, s);
    if (s->conn != NULL)
        fail("%s: a second TCP connection arrived", s->name);
    s->conn = c;
    side_bump(s);
}

static void
split_sink_data(weft_stream *st, void *user, const uint8_t *d, size_t n)
{
    (void)st;
    split_rx(user, d, n);
}

static const weft_stream_handler split_sink_handler = {.on_data = split_sink_data,
                                                       .on_fin = sink_fin};

static int
rx_conn_up(split_side *s)
{
    /* noise: identify from the dialer arrived, so the connection is idle */
    return s->pair->t == T_TCP_SPLIT ? s->conn != NULL : s->identified > 0;
}

static int
rx_all_in(split_side *s)
{
    return s->rcvd == s->pair->warm_bytes + s->pair->bytes;
}

static int
hs_warm_over(split_side *s)
{
    return step_is_set(&s->pair->warm_done);
}

static int
hs_timed_over(split_side *s)
{
    return step_is_set(&s->pair->timed_done);
}

static int
dialer_finished(split_side *s)
{
    return step_is_set(&s->pair->finished);
}

/* ---- split: the sending end (dialer) ---- */

static void
split_tcp_pump(split_side *s)
{
    xfer *x = &s->x;
    int rc;

    while (x->sent < x->total) {
        size_t n = x->total - x->sent < CHUNK ? (size_t)(x->total - x->sent) : CHUNK;

        rc = weft_conn_send(s->conn, pattern + x->sent % PERIOD, n);
        if (rc == WEFT_ELIMIT)
            return; /* on_writable follows */
        if (rc < 0)
            fail("%s: weft_conn_send: %s", s->name, weft_strerror(rc));
        x->sent += n;
    }
}

static void
split_tcp_tx_data(weft_conn *c, void *user, const uint8_t *d, size_t n)
{
    split_side *s = user;

    (void)c, (void)d;
    fail("%s: the TCP sender received %zu bytes", s->name, n);
}

static void
split_tcp_tx_writable(weft_conn *c, void *user)
{
    (void)c;
    split_tcp_pump(user);
}

static const weft_conn_handler split_tcp_tx_handler = {.on_data = split_tcp_tx_data,
                                                       .on_writable = split_tcp_tx_writable,
                                                       .on_close = split_conn_closed};

static void
split_tcp_connected(weft_conn *c, void *user, int status)
{
    split_side *s = user;

    s->dialed = 1;
    s->dial_status = status;
    side_bump(s);
    if (status < 0)
        return;
    s->conn = c;
    weft_conn_set_handler(c, &split_tcp_tx_handler, s);
}

static void
split_src_pump(weft_stream *st, split_side *s)
{
    xfer *x = &s->x;
    ptrdiff_t w;

    if (st != x->st)
        return; /* a callback of an earlier transfer's stream */
    while (x->sent < x->total) {
        size_t n = x->total - x->sent < CHUNK ? (size_t)(x->total - x->sent) : CHUNK;

        w = weft_stream_write(st, pattern + x->sent % PERIOD, n);
        if (w == WEFT_EAGAIN)
            return; /* on_writable follows */
        if (w <= 0)
            fail("%s: weft_stream_write: %s", s->name, w ? weft_strerror((int)w) : "0 bytes");
        x->sent += (uint64_t)w;
    }
    if (!x->fin_sent) {
        x->fin_sent = 1;
        WEFT_IGNORE(weft_stream_close(st));
    }
}

static void
split_src_open(weft_stream *st, void *user)
{
    split_src_pump(st, user);
}

static void
split_src_writable(weft_stream *st, void *user)
{
    split_src_pump(st, user);
}

static void
split_src_data(weft_stream *st, void *user, const uint8_t *d, size_t n)
{
    split_side *s = user;

    (void)st, (void)d;
    fail("%s: the stream sender received %zu bytes", s->name, n);
}

static void
split_src_close(weft_stream *st, void *user, int reason)
{
    split_side *s = user;

    if (st != s->x.st)
        return;
    s->x.closed = 1;
    s->x.close_reason = reason;
    side_bump(s);
}

static const weft_stream_handler split_src_handler = {.on_open = split_src_open,
                                                      .on_data = split_src_data,
                                                      .on_writable = split_src_writable,
                                                      .on_close = split_src_close};

static void
split_on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    split_side *s = user;

    (void)h, (void)p;
    if (!up && s->pair->t == T_NOISE_SPLIT && !s->tearing_down)
        fail("%s: the libp2p connection went down during the test", s->name);
    side_live(s, up ? 1 : -1);
    side_bump(s);
}

static void
split_on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    split_side *s = user;

    (void)h, (void)p, (void)id;
    s->identified++;
    side_bump(s);
}

static void
split_data_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    split_side *s = user;

    (void)h;
    s->dialed = 1;
    s->dial_status = status;
    s->peer = p;
    side_bump(s);
}

static int
tx_dialed(split_side *s)
{
    return s->dialed;
}

static int
tx_peer_ready(split_side *s)
{
    return s->dialed && (s->dial_status < 0 || s->identified > 0);
}

static int
tx_rx_ready(split_side *s)
{
    return step_is_set(&s->pair->rx_ready);
}

static int
tx_warm_over(split_side *s)
{
    return step_is_set(&s->pair->warm_done) && (s->pair->t == T_TCP_SPLIT || s->x.closed);
}

static int
tx_timed_over(split_side *s)
{
    return step_is_set(&s->pair->timed_done);
}

static int
tx_stream_closed(split_side *s)
{
    return s->x.closed;
}

/* Start sending total bytes: on the TCP connection, or on a new stream. */
static void
split_send(split_side *s, uint64_t total)
{
    int rc;

    memset(&s->x, 0, sizeof(s->x));
    s->x.total = total;
    if (s->pair->t == T_TCP_SPLIT) {
        split_tcp_pump(s);
        return;
    }
    rc = weft_peer_open_stream(s->peer, SINK_PROTO, &split_src_handler, s, &s->x.st);
    if (rc < 0)
        fail("%s: weft_peer_open_stream: %s", s->name, weft_strerror(rc));
}

static void
split_check_close(const split_side *s)
{
    if (s->x.close_reason != 0)
        fail("%s: the stream closed with %s after all bytes arrived", s->name,
             weft_strerror(s->x.close_reason));
}

/* The dialer's part of a stream test, once the connection is up. */
static void
split_stream_dialer(split_side *s)
{
    split_pair *p = s->pair;

    side_run_until(s, tx_rx_ready, "waiting for the listener's end");
    split_send(s, p->warm_bytes);
    side_run_until(s, tx_warm_over, "warm-up transfer");
    split_check_close(s);
    s->cpu0 = thread_cpu_ns();
    p->t0 = weft_mono_ns();
    split_send(s, p->bytes);
    side_run_until(s, tx_timed_over, "timed transfer");
    s->cpu1 = thread_cpu_ns();
    if (p->t != T_TCP_SPLIT) {
        side_run_until(s, tx_stream_closed, "closing the stream");
        split_check_close(s);
    }
    if (s->x.sent != p->bytes)
        fail("%s: sent %" PRIu64 " bytes of %" PRIu64, s->name, s->x.sent, p->bytes);
}

static void
split_hs_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    split_side *s = user;
    split_pair *pr = s->pair;

    (void)h;
    s->hs_busy = 0;
    side_bump(s);
    if (status < 0) {
        s->dial_failed++;
        s->last_dial_error = status;
        return;
    }
    s->dial_ok++;
    if (s->hs_timed && pr->nlat < pr->hs)
        pr->lat_ns[pr->nlat++] = (double)(weft_loop_now(s->loop) - s->hs_t0);
    s->ready = p;
}

static int
hs_all_down(split_side *s)
{
    const split_side *l = &s->pair->side[SIDE_LISTENER];

    return atomic_load_explicit(&s->live, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&l->live, memory_order_acquire) == 0;
}

static int
hs_armed(split_side *s)
{
    return step_is_set(&s->pair->armed);
}

/* n handshakes one after another, each connection closed once its dial
 * callback has returned; stops dialling after HS_RUN_MAX_NS. */
static void
split_hs_run(split_side *s, uint32_t n)
{
    split_pair *p = s->pair;
    int64_t t0 = weft_loop_now(s->loop);
    uint32_t started = 0;
    stall_watch w;
    int rc;

    watch_start(s, &w);
    for (;;) {
        if (!s->hs_busy && started < n && weft_loop_now(s->loop) - t0 < HS_RUN_MAX_NS) {
            s->hs_busy = 1;
            s->hs_t0 = weft_loop_now(s->loop);
            rc = weft_host_dial(s->host, &p->addr, split_hs_dialed, s);
            if (rc < 0)
                fail("%s: weft_host_dial: %s", s->name, weft_strerror(rc));
            started++;
        }
        if (!s->hs_busy)
            break;
        side_turn(s, &w, "handshakes");
        if (s->ready != NULL) {
            weft_peer_close(s->ready);
            s->ready = NULL;
        }
        if (s->dial_failed)
            fail("%s: a handshake failed: %s", s->name, weft_strerror(s->last_dial_error));
    }
}

/* The dialer's part of handshakes_split. */
static void
split_hs_dialer(split_side *s)
{
    split_pair *p = s->pair;
    uint64_t ok0;

    split_hs_run(s, p->warm_hs);
    side_run_until(s, hs_all_down, "warm-up teardown");
    step_set(&p->warm_done);
    side_run_until(s, hs_armed, "waiting for the listener's clock");
    s->cpu0 = thread_cpu_ns();
    p->t0 = weft_mono_ns();
    ok0 = s->dial_ok;
    s->hs_timed = 1;
    split_hs_run(s, p->hs);
    p->t1 = weft_mono_ns();
    s->cpu1 = thread_cpu_ns();
    s->hs_timed = 0;
    p->hs_done = s->dial_ok - ok0;
    step_set(&p->timed_done);
    side_run_until(s, hs_all_down, "teardown");
}

/* ---- split: the threads ---- */

static void
side_open(split_side *s, const char *role)
{
    weft_loop_config lc;
    int err = 0;

    memset(&lc, 0, sizeof(lc));
    lc.kind = s->pair->kind;
    s->loop = weft_loop_new(&lc, &err);
    if (s->loop == NULL)
        fail("%s thread: weft_loop_new: %s", role, weft_strerror(err));
    snprintf(s->name, sizeof(s->name), "%s %s", weft_loop_kind_name(s->loop), role);
}

static void
side_close(split_side *s)
{
    s->tearing_down = 1;
    if (s->host != NULL)
        weft_host_free(s->host);
    weft_loop_free(s->loop); /* closes the TCP connection and listener */
    s->host = NULL;
    s->loop = NULL;
}

static void
gate(split_pair *p)
{
    int rc = pthread_barrier_wait(&p->gate);

    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
        fail("pthread_barrier_wait: %s", strerror(rc));
}

static void *
split_listener(void *arg)
{
    split_side *s = arg;
    split_pair *p = s->pair;
    struct sockaddr_in sa;
    weft_multiaddr any;
    int rc;

    side_open(s, "listener");
    if (p->t == T_TCP_SPLIT) {
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = weft_listen(s->loop, (struct sockaddr *)&sa, sizeof(sa), split_tcp_accept, s, &s->ls);
        if (rc < 0)
            fail("%s: weft_listen: %s", s->name, weft_strerror(rc));
        p->salen = sizeof(p->sa);
        rc = weft_listener_addr(s->ls, &p->sa, &p->salen);
        if (rc < 0)
            fail("%s: weft_listener_addr: %s", s->name, weft_strerror(rc));
    } else {
        s->host = host_new(s->loop, 1, split_on_peer, split_on_identify, s);
        if (p->t == T_NOISE_SPLIT) {
            rc = weft_host_handle(s->host, SINK_PROTO, &split_sink_handler, s);
            if (rc < 0)
                fail("%s: weft_host_handle: %s", s->name, weft_strerror(rc));
        }
        rc = weft_ma_parse("/ip4/127.0.0.1/tcp/0", &any);
        if (rc == 0)
            rc = weft_host_listen(s->host, &any, &p->addr);
        if (rc < 0)
            fail("%s: weft_host_listen: %s", s->name, weft_strerror(rc));
    }
    gate(p); /* the address is published */
    if (p->t == T_HS_SPLIT) {
        side_run_until(s, hs_warm_over, "warm-up handshakes");
        s->cpu0 = thread_cpu_ns();
        step_set(&p->armed);
        side_run_until(s, hs_timed_over, "handshakes");
        s->cpu1 = thread_cpu_ns();
    } else {
        side_run_until(s, rx_conn_up, "waiting for the connection");
        step_set(&p->rx_ready);
        side_run_until(s, rx_all_in, "receiving"); /* split_rx takes the clocks */
    }
    side_run_until(s, dialer_finished, "waiting for the dialer to finish");
    gate(p); /* both done: nothing needs the other loop any more */
    side_close(s);
    return NULL;
}

static void *
split_dialer(void *arg)
{
    split_side *s = arg;
    split_pair *p = s->pair;
    int rc;

    side_open(s, "dialer");
    if (p->t != T_TCP_SPLIT)
        s->host = host_new(s->loop, 2, split_on_peer, split_on_identify, s);
    gate(p);
    switch (p->t) {
    case T_TCP_SPLIT:
        rc = weft_dial(s->loop, (struct sockaddr *)&p->sa, p->salen, 5 * SEC, split_tcp_connected,
                       s, NULL);
        if (rc < 0)
            fail("%s: weft_dial: %s", s->name, weft_strerror(rc));
        side_run_until(s, tx_dialed, "TCP connect");
        if (s->dial_status < 0)
            fail("%s: TCP connect: %s", s->name, weft_strerror(s->dial_status));
        split_stream_dialer(s);
        break;
    case T_NOISE_SPLIT:
        rc = weft_host_dial(s->host, &p->addr, split_data_dialed, s);
        if (rc < 0)
            fail("%s: weft_host_dial: %s", s->name, weft_strerror(rc));
        side_run_until(s, tx_peer_ready, "the libp2p connection");
        if (s->dial_status < 0)
            fail("%s: libp2p connection: %s", s->name, weft_strerror(s->dial_status));
        split_stream_dialer(s);
        break;
    default: split_hs_dialer(s); break;
    }
    step_set(&p->finished);
    gate(p);
    side_close(s);
    return NULL;
}

/* One pair: both threads from start to join. */
static split_result
split_run(int kind, enum test_id t, const transport_opts *o, double *lat_ns, uint32_t *nlat)
{
    split_pair *p = aligned_alloc(_Alignof(split_pair), sizeof(split_pair));
    pthread_t th[2];
    split_result res;
    int rc, i;

    if (p == NULL)
        fail("out of memory");
    memset(p, 0, sizeof(*p));
    p->t = t;
    p->kind = kind;
    p->warm_bytes = o->bytes < WARMUP_MAX ? o->bytes : WARMUP_MAX;
    p->bytes = o->bytes;
    p->warm_hs = o->handshakes < 50 ? o->handshakes : 50;
    p->hs = o->handshakes;
    p->lat_ns = lat_ns;
    atomic_init(&p->rx_ready, 0);
    atomic_init(&p->warm_done, 0);
    atomic_init(&p->armed, 0);
    atomic_init(&p->timed_done, 0);
    atomic_init(&p->finished, 0);
    for (i = 0; i < 2; i++) {
        p->side[i].pair = p;
        atomic_init(&p->side[i].progress, 0);
        atomic_init(&p->side[i].live, 0);
    }
    rc = pthread_barrier_init(&p->gate, NULL, 2);
    if (rc != 0)
        fail("pthread_barrier_init: %s", strerror(rc));
    rc = pthread_create(&th[SIDE_LISTENER], NULL, split_listener, &p->side[SIDE_LISTENER]);
    if (rc == 0)
        rc = pthread_create(&th[SIDE_DIALER], NULL, split_dialer, &p->side[SIDE_DIALER]);
    if (rc != 0)
        fail("pthread_create: %s", strerror(rc));
    for (i = 0; i < 2; i++) {
        rc = pthread_join(th[i], NULL);
        if (rc != 0)
            fail("pthread_join: %s", strerror(rc));
    }
    pthread_barrier_destroy(&p->gate);
    res.wall_s = (double)(p->t1 - p->t0) / 1e9;
    for (i = 0; i < 2; i++)
        res.cpu_s[i] = (double)(p->side[i].cpu1 - p->side[i].cpu0) / 1e9;
    res.done = p->hs_done;
    if (nlat != NULL)
        *nlat = p->nlat;
    free(p);
    return res;
}

static double
max2(double a, double b)
{
    return a > b ? a : b;
}

static void
test_split_stream(split_kind *ks, size_t nk, enum test_id t, const transport_opts *o)
{
    size_t per = (size_t)nk * o->runs;
    double *wall = calloc(per, sizeof(*wall)), *core = calloc(per, sizeof(*core));
    double *cpu_tx = calloc(per, sizeof(*cpu_tx)), *cpu_rx = calloc(per, sizeof(*cpu_rx));
    double *load_tx = calloc(per, sizeof(*load_tx)), *load_rx = calloc(per, sizeof(*load_rx));
    const crypto_floor *cf = t == T_NOISE_SPLIT ? crypto_floor_get(o->runs) : NULL;
    unsigned run;
    size_t k;

    if (!wall || !core || !cpu_tx || !cpu_rx || !load_tx || !load_rx)
        fail("out of memory");
    for (run = 0; run < o->runs; run++) {
        for (k = 0; k < nk; k++) {
            split_result r = split_run(ks[k].kind, t, o, NULL, NULL);
            size_t i = k * o->runs + run;

            wall[i] = r.wall_s;
            cpu_tx[i] = r.cpu_s[SIDE_DIALER];
            cpu_rx[i] = r.cpu_s[SIDE_LISTENER];
            core[i] = (double)o->bytes / max2(cpu_tx[i], cpu_rx[i]) / 1e9;
            load_tx[i] = cpu_tx[i] / wall[i];
            load_rx[i] = cpu_rx[i] / wall[i];
        }
    }
    for (k = 0; k < nk; k++) {
        split_kind *sk = &ks[k];
        size_t b = k * o->runs;
        double med, gbps, min_gbps, max_gbps, pc, min_pc, max_pc, ctx, crx, ltx, lrx, ratio = 0;
        bench_json j;
        char notes[200];

        med = bench_median(wall + b, o->runs); /* sorts: [b] fastest */
        gbps = (double)o->bytes / med / 1e9;
        max_gbps = (double)o->bytes / wall[b] / 1e9;
        min_gbps = (double)o->bytes / wall[b + o->runs - 1] / 1e9;
        pc = bench_median(core + b, o->runs); /* sorts: [b] slowest */
        min_pc = core[b];
        max_pc = core[b + o->runs - 1];
        ctx = bench_median(cpu_tx + b, o->runs);
        crx = bench_median(cpu_rx + b, o->runs);
        ltx = bench_median(load_tx + b, o->runs);
        lrx = bench_median(load_rx + b, o->runs);
        if (t == T_TCP_SPLIT)
            sk->tcp_gbps = gbps;
        else if (sk->tcp_gbps > 0)
            ratio = gbps / sk->tcp_gbps;
        if (o->json) {
            bench_json_begin(&j);
            bench_json_str(&j, "bench", "transport");
            bench_json_str(&j, "test", test_names[t]);
            bench_json_str(&j, "loop", sk->name);
            bench_json_u64(&j, "threads", 2);
            bench_json_u64(&j, "bytes", o->bytes);
            bench_json_u64(&j, "chunk", CHUNK);
            bench_json_f64(&j, "gbps", gbps, 4);
            bench_json_f64(&j, "min_gbps", min_gbps, 4);
            bench_json_f64(&j, "max_gbps", max_gbps, 4);
            bench_json_f64(&j, "seconds", med, 4);
            bench_json_f64(&j, "wall_gbps", gbps, 4);
            bench_json_f64(&j, "per_core_gbps", pc, 4);
            bench_json_f64(&j, "min_per_core_gbps", min_pc, 4);
            bench_json_f64(&j, "max_per_core_gbps", max_pc, 4);
            bench_json_f64(&j, "sender_cpu_s", ctx, 4);
            bench_json_f64(&j, "receiver_cpu_s", crx, 4);
            bench_json_f64(&j, "sender_load", ltx, 3);
            bench_json_f64(&j, "receiver_load", lrx, 3);
            if (ratio > 0)
                bench_json_f64(&j, "ratio_vs_tcp", ratio, 4);
            if (cf != NULL) {
                bench_json_f64(&j, "aead_seal_gbps", cf->seal_gbps, 4);
                bench_json_f64(&j, "aead_open_gbps", cf->open_gbps, 4);
                bench_json_f64(&j, "crypto_bound_gbps", cf->bound_gbps, 4);
                bench_json_f64(&j, "crypto_bound_per_side_gbps",
                               cf->seal_gbps < cf->open_gbps ? cf->seal_gbps : cf->open_gbps, 4);
            }
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes),
                     "wall; %" PRIu64 " bytes per run; sender %.2f, receiver %.2f of a core",
                     o->bytes, ltx, lrx);
            if (ratio > 0)
                snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes),
                         "; %.3f x tcp_stream_split", ratio);
            emit_row(test_names[t], sk->name, gbps, "GB/s", min_gbps, max_gbps, notes);
            snprintf(notes, sizeof(notes),
                     "per core: bytes / max CPU (sender %.3f s, receiver %.3f s)", ctx, crx);
            if (cf != NULL)
                snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes),
                         "; AEAD seal %.3f, open %.3f GB/s", cf->seal_gbps, cf->open_gbps);
            emit_row(test_names[t], sk->name, pc, "GB/s/cpu", min_pc, max_pc, notes);
        }
    }
    free(wall);
    free(core);
    free(cpu_tx);
    free(cpu_rx);
    free(load_tx);
    free(load_rx);
}

static void
test_split_handshakes(split_kind *ks, size_t nk, const transport_opts *o)
{
    size_t per = (size_t)nk * o->runs;
    double *rate = calloc(per, sizeof(*rate)), *core = calloc(per, sizeof(*core));
    double *us_d = calloc(per, sizeof(*us_d)), *us_l = calloc(per, sizeof(*us_l));
    double *load_d = calloc(per, sizeof(*load_d)), *load_l = calloc(per, sizeof(*load_l));
    double *lat = calloc((size_t)nk * o->runs * o->handshakes, sizeof(*lat));
    size_t *nlat = calloc(nk, sizeof(*nlat));
    const crypto_floor *cf = crypto_floor_get(o->runs);
    unsigned run;
    size_t k;

    if (!rate || !core || !us_d || !us_l || !load_d || !load_l || !lat || !nlat)
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
            rate[i] = done / r.wall_s;
            core[i] = done / max2(r.cpu_s[SIDE_DIALER], r.cpu_s[SIDE_LISTENER]);
            us_d[i] = r.cpu_s[SIDE_DIALER] * 1e6 / done;
            us_l[i] = r.cpu_s[SIDE_LISTENER] * 1e6 / done;
            load_d[i] = r.cpu_s[SIDE_DIALER] / r.wall_s;
            load_l[i] = r.cpu_s[SIDE_LISTENER] / r.wall_s;
        }
    }
    for (k = 0; k < nk; k++) {
        size_t b = k * o->runs;
        double *kl = lat + k * o->runs * o->handshakes;
        double med, pc, ud, ul, ld, ll, lmed, p99;
        bench_json j;
        char notes[200];

        med = bench_median(rate + b, o->runs); /* sorts: [b] slowest */
        pc = bench_median(core + b, o->runs);
        ud = bench_median(us_d + b, o->runs);
        ul = bench_median(us_l + b, o->runs);
        ld = bench_median(load_d + b, o->runs);
        ll = bench_median(load_l + b, o->runs);
        lmed = bench_median(kl, nlat[k]) / 1e3; /* sorted now */
        p99 = kl[(size_t)((double)(nlat[k] - 1) * 0.99)] / 1e3;
        if (o->json) {
            bench_json_begin(&j);
            bench_json_str(&j, "bench", "transport");
            bench_json_str(&j, "test", test_names[T_HS_SPLIT]);
            bench_json_str(&j, "loop", ks[k].name);
            bench_json_u64(&j, "threads", 2);
            bench_json_u64(&j, "handshakes", o->handshakes);
            bench_json_u64(&j, "parallel", 1);
            bench_json_f64(&j, "per_sec", med, 1);
            bench_json_f64(&j, "min_per_sec", rate[b], 1);
            bench_json_f64(&j, "max_per_sec", rate[b + o->runs - 1], 1);
            bench_json_f64(&j, "wall_per_sec", med, 1);
            bench_json_f64(&j, "per_core_per_sec", pc, 1);
            bench_json_f64(&j, "min_per_core_per_sec", core[b], 1);
            bench_json_f64(&j, "max_per_core_per_sec", core[b + o->runs - 1], 1);
            bench_json_f64(&j, "dialer_cpu_us_per_handshake", ud, 1);
            bench_json_f64(&j, "listener_cpu_us_per_handshake", ul, 1);
            bench_json_f64(&j, "dialer_load", ld, 3);
            bench_json_f64(&j, "listener_load", ll, 3);
            bench_json_f64(&j, "us_per_handshake", lmed, 1);
            bench_json_f64(&j, "us_p99", p99, 1);
            bench_json_u64(&j, "failed", 0);
            bench_json_f64(&j, "crypto_us_per_handshake", cf->hs_us, 1);
            bench_json_f64(&j, "crypto_bound_per_sec", 1e6 / cf->hs_us, 1);
            bench_json_f64(&j, "crypto_bound_per_side_per_sec", 2e6 / cf->hs_us, 1);
            json_tail(&j, o->runs);
        } else {
            snprintf(notes, sizeof(notes),
                     "wall; 1 in flight; latency median %.1f us, p99 %.1f us; dialer %.2f, "
                     "listener %.2f of a core",
                     lmed, p99, ld, ll);
            emit_row(test_names[T_HS_SPLIT], ks[k].name, med, "/s", rate[b], rate[b + o->runs - 1],
                     notes);
            snprintf(notes, sizeof(notes),
                     "per core: CPU per handshake dialer %.1f us, listener %.1f us; crypto-only "
                     "bound per side %.0f/s",
                     ud, ul, 2e6 / cf->hs_us);
            emit_row(test_names[T_HS_SPLIT], ks[k].name, pc, "/s/cpu", core[b],
                     core[b + o->runs - 1], notes);
        }
    }
    free(rate);
    free(core);
    free(us_d);
    free(us_l);
    free(load_d);
    free(load_l);
    free(lat);
    free(nlat);
}

/* ---- driver ------------------------------------------------------------------------------- */

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

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "weft-bench transport: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see weft-bench transport --help)\n");
    return 2;
}

static int
parse_tests(const char *arg, unsigned *mask)
{
    char buf[160], *tok, *save = NULL;
    int i;

    if (strlen(arg) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", arg);
    *mask = 0;
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < T_COUNT; i++)
            if (strcmp(tok, test_names[i]) == 0)
                break;
        if (i == T_COUNT)
            return -1;
        *mask |= 1u << i;
    }
    return *mask ? 0 : -1;
}

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
            if (parse_tests(optarg, &o->tests) != 0)
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
    weft_loop_config lc;
    weft_loop *l;
    int err = 0;

    memset(&lc, 0, sizeof(lc));
    lc.kind = kind;
    l = weft_loop_new(&lc, &err);
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
    uint8_t *pat;
    int rc, t;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    pat = bench_xalloc(CHUNK + PERIOD);
    for (i = 0; i < CHUNK + PERIOD; i++)
        pat[i] = (uint8_t)(i % PERIOD);
    pattern = pat;

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
        for (nrigs = 0; nrigs < nk; nrigs++) {
            rc = rig_open(&rigs[nrigs], ks[nrigs].kind);
            if (rc != 0)
                fail("%s: weft_loop_new: %s", ks[nrigs].name, weft_strerror(rc));
        }
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
    free(pat);
    return 0;
}
