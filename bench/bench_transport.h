/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_transport.h: the parts of `weft-bench transport` (bench_transport*.c)
 * that its files share. What the subcommand measures and how is described
 * at the top of bench_transport.c; the files are:
 *
 *   bench_transport.c             options, usage text and the driver
 *   bench_transport_common.c      failure, the check pattern, the senders,
 *                                 hosts, crypto floors and output helpers
 *   bench_transport_rig.c         the one-core rig: one loop, both ends
 *   bench_transport_split.c       the two-thread pairs of the *_split tests
 *   bench_transport_streams.c     tcp_stream, noise_yamux_stream and splits
 *   bench_transport_handshakes.c  handshakes, handshakes_concurrent, split
 *   bench_transport_idle.c        idle_conn_memory
 *
 * Loops, listeners and hosts on loopback come from tests/support/loopback.h,
 * which the transport tests use as well.
 */
#ifndef WEFT_BENCH_TRANSPORT_H
#define WEFT_BENCH_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench_util.h"
#include "weft/host.h"
#include "weft/loop.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define CHUNK ((size_t)64 << 10) /* bytes per send / stream write */
#define PERIOD 251u              /* the check pattern: byte at offset o is o % 251 */
#define WARMUP_MAX ((uint64_t)64 << 20)
#define WARMUP_HS 50u            /* handshakes of a warm-up, at most */
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

extern const char *const test_names[T_COUNT];

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

/* ---- bench_transport_common.c ---------------------------------------------------------- */

/* One transfer through either stream test. */
typedef struct xfer {
    uint64_t total, sent, rcvd;
    int check; /* verify the pattern on receive */
    int fin_sent;
    int closed; /* the sending stream's on_close ran */
    int close_reason;
    weft_stream *st;
} xfer;

/* "weft-bench transport: FAILED: ..." and exit(1), from any thread. */
#define fail(...) bench_fail("transport", __VA_ARGS__)

/* Make the check pattern: CHUNK + PERIOD bytes, byte i = i % PERIOD. */
void pattern_init(void);
void pattern_free(void);
/* Fail unless d[0..n) is the pattern from stream offset off. */
void check_pattern(const char *name, const uint8_t *d, size_t n, uint64_t off);

/* Send what is left of x on c until all is queued or the queue is full
 * (on_writable follows). */
void xfer_send_conn(xfer *x, weft_conn *c, const char *name);
/* Write what is left of x on its stream st until all is written, then FIN,
 * or until the window is shut (on_writable follows). Callbacks of another
 * stream than x->st (an earlier transfer's) are ignored. */
void xfer_send_stream(xfer *x, weft_stream *st, const char *name);
/* Fail: a sender got bytes back. */
void sender_got_data(const char *name, size_t n);
/* The sink's on_fin: close our half too. */
void sink_fin(weft_stream *s, void *user);

/* One turn of a loop: the number of events handled, or -EINTR (a wait cut
 * short by a signal: a turn with nothing done). Anything else fails. */
int loop_turn(weft_loop *loop, int64_t max_wait_ns, const char *name);
/* A new loop of kind, or FAILED naming what. */
weft_loop *loop_make(int kind, const char *what);

typedef void (*peer_fn)(weft_host *h, weft_peer *p, int up, void *user);
typedef void (*identify_fn)(weft_host *h, weft_peer *p, const weft_identify *id, void *user);

/* A host with the seed_byte identity and the connection limits lifted. */
weft_host *host_new(weft_loop *loop, uint8_t seed_byte, peer_fn peer_cb, identify_fn identify_cb,
                    void *user);
/* Have h listen on 127.0.0.1, any port; *addr: where. */
void host_listen(weft_host *h, const char *name, weft_multiaddr *addr);

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

/* Measured once, on the first call. */
const crypto_floor *crypto_floor_get(unsigned runs);

/* The rates of a stream test over runs, from the run times in seconds
 * (sorted by this: fastest first). */
typedef struct stream_rates {
    double seconds; /* median run time */
    double gbps, min_gbps, max_gbps;
} stream_rates;

stream_rates stream_rates_of(double *sec, unsigned runs, uint64_t bytes);
/* Median and 99th percentile of n latencies in ns, in us (sorts lat). */
void latency_us(double *lat, size_t n, double *median, double *p99);

/* The fields every line begins with: bench, test, loop and, for the split
 * tests (threads > 0), threads. */
void json_head(bench_json *j, enum test_id t, const char *loop, unsigned threads);
/* bytes, chunk, gbps, min_gbps, max_gbps, seconds. */
void json_stream_rates(bench_json *j, uint64_t bytes, const stream_rates *sr);
/* ratio_vs_tcp when known (> 0), the AEAD floors when cf is not NULL. */
void json_stream_bounds(bench_json *j, double ratio, const crypto_floor *cf);
/* handshakes, parallel, per_sec, min_per_sec, max_per_sec. */
void json_hs_rates(bench_json *j, uint32_t handshakes, uint32_t parallel, double med, double min,
                   double max);
/* us_per_handshake, us_p99, failed, crypto_us_per_handshake, crypto_bound_per_sec. */
void json_hs_latency(bench_json *j, double lat_us, double p99_us, uint64_t failed,
                     const crypto_floor *cf);
/* runs, cpu, kernel, peak_rss_kb, version; prints the line. */
void json_tail(bench_json *j, unsigned runs);
static inline double
max2(double a, double b)
{
    return a > b ? a : b;
}

/* Append to the notes of a table row. */
void notes_add(char *notes, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void emit_header(const transport_opts *o);
void emit_row(const char *test, const char *loop, double med, const char *unit, double min,
              double max, const char *notes);

/* ---- bench_transport_rig.c: one loop holds both ends ----------------------------------- */

struct rig;

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

/* Set up one loop kind: loop, TCP pair, hosts and their data connection
 * (identify done both ways). */
void rig_open(rig *r, int kind);
void rig_close(rig *r);
/* Run the rig's loop until cond holds. Fails after STALL_NS without a
 * callback bumping r->progress. */
void run_until(rig *r, int (*cond)(const rig *r), const char *what);
/* Run the loop until a whole turn of it finds nothing to do. */
void run_quiet(rig *r);
/* One transfer of total bytes through the TCP pair or a new stream of the
 * data connection; its duration in ns (first send to last byte counted). */
double tcp_transfer(rig *r, uint64_t total, int check);
double noise_transfer(rig *r, uint64_t total, int check);
/* Dial srv n times, at most parallel dials in flight (slots has that many),
 * none started after max_ns (0: no limit). With close_ready each peer is
 * closed once its dial callback has returned, else it stays in r->ready.
 * Latencies go to r->lat_ns. */
void dial_batch(rig *r, uint32_t n, uint32_t parallel, dial_slot *slots, int close_ready,
                int64_t max_ns, const char *what);
/* Both hosts down to the data connection alone. */
int peers_back_to_one(const rig *r);

/* The tests. */
void test_stream(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o);
void test_handshakes(rig *rigs, size_t nrigs, enum test_id t, const transport_opts *o);
void test_idle(rig *rigs, size_t nrigs, const transport_opts *o);

/* ---- bench_transport_split.c: one thread and one loop per end -------------------------- */

enum { SIDE_DIALER, SIDE_LISTENER };

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

/* One pair of test t on loops of kind: both threads from start to join.
 * handshakes_split puts the latencies of its timed part into lat_ns (room
 * for o->handshakes) and their number into *nlat. */
split_result split_run(int kind, enum test_id t, const transport_opts *o, double *lat_ns,
                       uint32_t *nlat);
void test_split_stream(split_kind *ks, size_t nk, enum test_id t, const transport_opts *o);
void test_split_handshakes(split_kind *ks, size_t nk, const transport_opts *o);

#endif
