/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport_common.c: what the one-core and the split tests of
 * `weft-bench transport` share (bench_transport.h): the check pattern, the
 * senders, loops and hosts, the crypto floors and the output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_transport.h"
#include "loopback.h"

const char *const test_names[T_COUNT] = {
    "tcp_stream",
    "noise_yamux_stream",
    "handshakes",
    "handshakes_concurrent",
    "idle_conn_memory",
    "tcp_stream_split",
    "noise_yamux_stream_split",
    "handshakes_split",
};

/* ---- the check pattern and the senders ---------------------------------------------- */

static uint8_t *pattern; /* CHUNK + PERIOD bytes, pattern[i] = i % PERIOD */

void
pattern_init(void)
{
    size_t i;

    pattern = bench_xalloc(CHUNK + PERIOD);
    for (i = 0; i < CHUNK + PERIOD; i++)
        pattern[i] = (uint8_t)(i % PERIOD);
}

void
pattern_free(void)
{
    free(pattern);
    pattern = NULL;
}

void
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

/* The next piece of x to send: at most CHUNK bytes. */
static size_t
xfer_piece(const xfer *x)
{
    return x->total - x->sent < CHUNK ? (size_t)(x->total - x->sent) : CHUNK;
}

void
xfer_send_conn(xfer *x, weft_conn *c, const char *name)
{
    int rc;

    while (x->sent < x->total) {
        size_t n = xfer_piece(x);

        rc = weft_conn_send(c, pattern + x->sent % PERIOD, n);
        if (rc == WEFT_ELIMIT)
            return; /* on_writable follows */
        if (rc < 0)
            fail("%s: weft_conn_send: %s", name, weft_strerror(rc));
        x->sent += n;
    }
}

void
xfer_send_stream(xfer *x, weft_stream *st, const char *name)
{
    ptrdiff_t w;

    if (st != x->st)
        return; /* a callback of an earlier transfer's stream */
    while (x->sent < x->total) {
        w = weft_stream_write(st, pattern + x->sent % PERIOD, xfer_piece(x));
        if (w == WEFT_EAGAIN)
            return; /* on_writable follows */
        if (w <= 0)
            fail("%s: weft_stream_write: %s", name, w ? weft_strerror((int)w) : "0 bytes");
        x->sent += (uint64_t)w;
    }
    if (!x->fin_sent) {
        x->fin_sent = 1;
        WEFT_IGNORE(weft_stream_close(st));
    }
}

void
sender_got_data(const char *name, size_t n)
{
    fail("%s: the sender received %zu bytes", name, n);
}

void
sink_fin(weft_stream *s, void *user)
{
    (void)user;
    WEFT_IGNORE(weft_stream_close(s));
}

/* ---- loops and hosts -------------------------------------------------------------------- */

/* The epoll loop passes on a wait cut short by a signal, or by the process
 * being stopped and continued, as -EINTR (io_uring's does not). */
int
loop_turn(weft_loop *loop, int64_t max_wait_ns, const char *name)
{
    int rc = weft_loop_run_once(loop, max_wait_ns);

    if (rc < 0 && rc != -EINTR)
        fail("%s: weft_loop_run_once: %s", name, weft_strerror(rc));
    return rc;
}

weft_loop *
loop_make(int kind, const char *what)
{
    int err;
    weft_loop *l = lb_loop_new(kind, 0, &err);

    if (l == NULL)
        fail("%s: weft_loop_new: %s", what, weft_strerror(err));
    return l;
}

weft_host *
host_new(weft_loop *loop, uint8_t seed_byte, peer_fn peer_cb, identify_fn identify_cb, void *user)
{
    weft_host_config cfg;
    weft_host *h;
    int err = 0;

    lb_host_config(&cfg, seed_byte);
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

void
host_listen(weft_host *h, const char *name, weft_multiaddr *addr)
{
    int rc = lb_host_listen(h, 0, addr);

    if (rc < 0)
        fail("%s: weft_host_listen: %s", name, weft_strerror(rc));
}

/* ---- crypto floors ------------------------------------------------------------------------- */

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
    bench_measure_opts mo = {runs, 20.0, 0, 0, 0};
    bench_stats st;

    bench_measure(&bc, &mo, &st);
    return st.median_ns;
}

const crypto_floor *
crypto_floor_get(unsigned runs)
{
    aead_ctx c;
    uint8_t other[32];
    double seal, open, hs_ns;

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
    hs_ns =
        time_op(&c, op_base, runs) + 3 * time_op(&c, op_dh, runs) + time_op(&c, op_verify, runs);
    floor_cache.hs_us = 2 * hs_ns / 1e3;
    floor_cache.measured = 1;
    free(c.pt);
    free(c.ct);
    free(c.out);
    sodium_memzero(&c, sizeof(c));
    return &floor_cache;
}

/* ---- figures and output -------------------------------------------------------------------- */

stream_rates
stream_rates_of(double *sec, unsigned runs, uint64_t bytes)
{
    stream_rates sr;

    sr.seconds = bench_median(sec, runs); /* sorts: sec[0] fastest */
    sr.gbps = (double)bytes / sr.seconds / 1e9;
    sr.max_gbps = (double)bytes / sec[0] / 1e9;
    sr.min_gbps = (double)bytes / sec[runs - 1] / 1e9;
    return sr;
}

void
latency_us(double *lat, size_t n, double *median, double *p99)
{
    *median = bench_median(lat, n) / 1e3; /* sorted now */
    *p99 = lat[(size_t)((double)(n - 1) * 0.99)] / 1e3;
}

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

void
json_head(bench_json *j, enum test_id t, const char *loop, unsigned threads)
{
    bench_json_begin(j);
    bench_json_str(j, "bench", "transport");
    bench_json_str(j, "test", test_names[t]);
    bench_json_str(j, "loop", loop);
    if (threads > 0)
        bench_json_u64(j, "threads", threads);
}

void
json_stream_rates(bench_json *j, uint64_t bytes, const stream_rates *sr)
{
    bench_json_u64(j, "bytes", bytes);
    bench_json_u64(j, "chunk", CHUNK);
    bench_json_f64(j, "gbps", sr->gbps, 4);
    bench_json_f64(j, "min_gbps", sr->min_gbps, 4);
    bench_json_f64(j, "max_gbps", sr->max_gbps, 4);
    bench_json_f64(j, "seconds", sr->seconds, 4);
}

void
json_stream_bounds(bench_json *j, double ratio, const crypto_floor *cf)
{
    if (ratio > 0)
        bench_json_f64(j, "ratio_vs_tcp", ratio, 4);
    if (cf != NULL) {
        bench_json_f64(j, "aead_seal_gbps", cf->seal_gbps, 4);
        bench_json_f64(j, "aead_open_gbps", cf->open_gbps, 4);
        bench_json_f64(j, "crypto_bound_gbps", cf->bound_gbps, 4);
    }
}

void
json_hs_rates(bench_json *j, uint32_t handshakes, uint32_t parallel, double med, double min,
              double max)
{
    bench_json_u64(j, "handshakes", handshakes);
    bench_json_u64(j, "parallel", parallel);
    bench_json_f64(j, "per_sec", med, 1);
    bench_json_f64(j, "min_per_sec", min, 1);
    bench_json_f64(j, "max_per_sec", max, 1);
}

void
json_hs_latency(bench_json *j, double lat_us, double p99_us, uint64_t failed,
                const crypto_floor *cf)
{
    bench_json_f64(j, "us_per_handshake", lat_us, 1);
    bench_json_f64(j, "us_p99", p99_us, 1);
    bench_json_u64(j, "failed", failed);
    bench_json_f64(j, "crypto_us_per_handshake", cf->hs_us, 1);
    bench_json_f64(j, "crypto_bound_per_sec", 1e6 / cf->hs_us, 1);
}

void
json_tail(bench_json *j, unsigned runs)
{
    bench_json_u64(j, "runs", runs);
    bench_json_str(j, "cpu", bench_cpu_model());
    bench_json_str(j, "kernel", kernel_release());
    bench_json_i64(j, "peak_rss_kb", bench_peak_rss_kb());
    bench_json_str(j, "version", WEFT_VERSION);
    bench_json_end(j, stdout);
}

void
notes_add(char *notes, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(notes);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(notes + len, cap - len, fmt, ap);
    va_end(ap);
}

void
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

void
emit_row(const char *test, const char *loop, double med, const char *unit, double min, double max,
         const char *notes)
{
    printf("  %-24s %-9s %14.3f %-8s %12.3f %12.3f  %s\n", test, loop, med, unit, min, max, notes);
    fflush(stdout);
}
