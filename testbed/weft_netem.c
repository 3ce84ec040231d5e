/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_netem.c: `weft-netem`, the testbed's packet delayer. The kernel here
 * has no netem, so one-way latency, jitter and loss between the testbed's
 * hosts come from this program: it owns a TUN device in the router
 * namespace, the router's policy routing sends every packet that arrives
 * from a host's link into the TUN, and the delayer holds each packet until
 * its due time, then writes it back; the kernel routes it on to the
 * destination host's link (bandwidth is shaped there, by tbf).
 *
 * Hosts are addressed 10.<net>.<i>.2 (i = 1..N), so the third octet names
 * the host. The one-way delay of a packet from host a to host b is
 * delay[a][b], drawn once from the seed, uniform in [--delay-min,
 * --delay-max] ms and symmetric (delay[a][b] == delay[b][a]); a packet
 * also gets a uniform jitter in [-J, +J] ms, but never overtakes an earlier
 * packet of the same pair (TCP would read reordering as loss, which a real
 * path rarely does), and is dropped with probability --loss. Packets of
 * other addresses pass undelayed. Queued bytes are bounded (--max-queue-mb);
 * a packet over the bound is dropped and counted.
 *
 * --print-matrix writes the delay matrix as JSON and exits: the testbed
 * records it beside the results, and `weft-bench mesh --matrix` simulates
 * the same topology from it. The counters are printed as one JSON line on
 * exit (SIGTERM or SIGINT) and, with --stats FILE, written there every
 * second.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include "weft/clock.h"
#include "weft/rng.h"

#define MAX_HOSTS 64
#define MAX_PKT 65536
#define MS 1000000LL
#define READ_BURST 64

typedef struct pkt {
    int64_t due_ns;
    uint64_t order; /* arrival number: equal due times leave in arrival order */
    size_t len;
    uint8_t data[];
} pkt;

typedef struct opts {
    const char *tun;
    unsigned hosts;
    unsigned net; /* second octet of the hosts' addresses */
    uint64_t seed;
    double dmin_ms, dmax_ms, jitter_ms, loss;
    double max_queue_mb;
    const char *stats;
    int print_matrix;
} opts;

typedef struct counters {
    uint64_t in, out, lost, overflow, passed, bad, write_err;
    uint64_t bytes_in, bytes_out;
    size_t queued_max;
} counters;

static volatile sig_atomic_t stop_flag;
static int64_t delay_ns[MAX_HOSTS + 1][MAX_HOSTS + 1];
static int64_t last_due[MAX_HOSTS + 1][MAX_HOSTS + 1];

static pkt **heap;
static size_t heap_len, heap_cap, queued_bytes;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int
earlier(const pkt *a, const pkt *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->order < b->order);
}

static int
heap_push(pkt *p)
{
    if (heap_len == heap_cap) {
        size_t cap = heap_cap ? heap_cap * 2 : 4096;
        pkt **h = realloc(heap, cap * sizeof *h);
        if (!h)
            return -1;
        heap = h;
        heap_cap = cap;
    }
    size_t i = heap_len++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!earlier(p, heap[up]))
            break;
        heap[i] = heap[up];
        i = up;
    }
    heap[i] = p;
    return 0;
}

static pkt *
heap_pop(void)
{
    pkt *top = heap[0], *last = heap[--heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_len)
            break;
        if (c + 1 < heap_len && earlier(heap[c + 1], heap[c]))
            c++;
        if (!earlier(heap[c], last))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (heap_len > 0)
        heap[i] = last;
    return top;
}

static double
uniform01(weft_rng *r)
{
    return (double)(weft_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* The matrix depends on the seed and the range only, never on --loss or
 * --jitter, so the same seed gives the same topology in every setting. */
static void
make_matrix(const opts *o)
{
    weft_rng r;
    weft_rng_seed(&r, o->seed);
    for (unsigned a = 1; a <= o->hosts; a++)
        for (unsigned b = a + 1; b <= o->hosts; b++) {
            double ms = o->dmin_ms + (o->dmax_ms - o->dmin_ms) * uniform01(&r);
            delay_ns[a][b] = delay_ns[b][a] = (int64_t)(ms * (double)MS);
        }
}

static void
print_matrix(const opts *o, FILE *f)
{
    fprintf(f, "{\"seed\":%" PRIu64 ",\"hosts\":%u,\"delay_min_ms\":%g,\"delay_max_ms\":%g,",
            o->seed, o->hosts, o->dmin_ms, o->dmax_ms);
    fprintf(f, "\"one_way_ms\":[");
    for (unsigned a = 1; a <= o->hosts; a++) {
        fprintf(f, "%s[", a > 1 ? "," : "");
        for (unsigned b = 1; b <= o->hosts; b++)
            fprintf(f, "%s%.3f", b > 1 ? "," : "", (double)delay_ns[a][b] / (double)MS);
        fprintf(f, "]");
    }
    fprintf(f, "]}\n");
}

static void
write_counters(const counters *c, FILE *f)
{
    fprintf(f,
            "{\"netem\":\"counters\",\"packets_in\":%" PRIu64 ",\"packets_out\":%" PRIu64
            ",\"lost\":%" PRIu64 ",\"overflow\":%" PRIu64 ",\"passed_undelayed\":%" PRIu64
            ",\"bad\":%" PRIu64 ",\"write_errors\":%" PRIu64 ",\"bytes_in\":%" PRIu64
            ",\"bytes_out\":%" PRIu64 ",\"queued_now\":%zu,\"queued_max_bytes\":%zu}\n",
            c->in, c->out, c->lost, c->overflow, c->passed, c->bad, c->write_err, c->bytes_in,
            c->bytes_out, heap_len, c->queued_max);
}

static void
dump_stats(const opts *o, const counters *c)
{
    char tmp[PATH_MAX];
    if (!o->stats || snprintf(tmp, sizeof tmp, "%s.tmp", o->stats) >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    write_counters(c, f);
    if (fclose(f) == 0)
        (void)rename(tmp, o->stats);
}

/* Host index of an IPv4 address 10.<net>.<i>.x, or 0 when it is not one. */
static unsigned
host_of(const uint8_t *a, const opts *o)
{
    if (a[0] != 10 || a[1] != o->net || a[2] < 1 || a[2] > o->hosts)
        return 0;
    return a[2];
}

static int
open_tun(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* One packet read from the TUN: drop it, queue it, or (not ours) send it on. */
static void
take(int fd, const opts *o, weft_rng *r, counters *c, const uint8_t *buf, size_t len,
     uint64_t order)
{
    c->in++;
    c->bytes_in += len;
    if (len < 20 || (buf[0] >> 4) != 4) {
        c->bad++; /* not IPv4: the router has no IPv6 routes into the TUN */
        return;
    }
    unsigned a = host_of(buf + 12, o), b = host_of(buf + 16, o);
    if (!a || !b || a == b) {
        c->passed++;
        if (write(fd, buf, len) < 0)
            c->write_err++;
        return;
    }
    if (o->loss > 0 && uniform01(r) < o->loss) {
        c->lost++;
        return;
    }
    size_t cap = (size_t)(o->max_queue_mb * 1048576.0);
    if (queued_bytes + len > cap) {
        c->overflow++;
        return;
    }
    int64_t now = weft_mono_ns();
    int64_t d = delay_ns[a][b];
    if (o->jitter_ms > 0)
        d += (int64_t)((uniform01(r) * 2.0 - 1.0) * o->jitter_ms * (double)MS);
    int64_t due = now + (d > 0 ? d : 0);
    if (due < last_due[a][b])
        due = last_due[a][b];
    last_due[a][b] = due;
    pkt *p = malloc(sizeof *p + len);
    if (!p) {
        c->overflow++;
        return;
    }
    p->due_ns = due;
    p->order = order;
    p->len = len;
    memcpy(p->data, buf, len);
    if (heap_push(p) < 0) {
        free(p);
        c->overflow++;
        return;
    }
    queued_bytes += len;
    if (queued_bytes > c->queued_max)
        c->queued_max = queued_bytes;
}

static int
usage(FILE *f, int rc)
{
    fprintf(f,
            "usage: weft-netem --tun NAME --hosts N [--net OCTET] [--seed S]\n"
            "                  [--delay-min MS] [--delay-max MS] [--jitter MS] [--loss FRACTION]\n"
            "                  [--max-queue-mb MB] [--stats FILE] [--print-matrix]\n"
            "Delays IPv4 packets between hosts 10.<net>.<i>.2 (i = 1..N, N <= %d) read from a\n"
            "TUN device: one-way delay per host pair from a seeded matrix in [min, max] ms\n"
            "(defaults: net 77, seed 1, 20-100 ms, jitter 0, loss 0, 256 MB queue).\n"
            "--print-matrix prints the matrix as JSON and exits (no TUN needed).\n",
            MAX_HOSTS);
    return rc;
}

static int
parse_num(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "weft-netem: %s: '%s' is not a number in [%g, %g]\n", name, v, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

int
main(int argc, char **argv)
{
    opts o = {.net = 77, .seed = 1, .dmin_ms = 20, .dmax_ms = 100, .max_queue_mb = 256};
    static const struct option lo[] = {{"tun", required_argument, 0, 't'},
                                       {"hosts", required_argument, 0, 'n'},
                                       {"net", required_argument, 0, 'N'},
                                       {"seed", required_argument, 0, 's'},
                                       {"delay-min", required_argument, 0, 'a'},
                                       {"delay-max", required_argument, 0, 'b'},
                                       {"jitter", required_argument, 0, 'j'},
                                       {"loss", required_argument, 0, 'l'},
                                       {"max-queue-mb", required_argument, 0, 'q'},
                                       {"stats", required_argument, 0, 'S'},
                                       {"print-matrix", no_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 't': o.tun = optarg; break;
        case 'n':
            if (parse_num("--hosts", optarg, 1, MAX_HOSTS, &v) < 0)
                return 2;
            o.hosts = (unsigned)v;
            break;
        case 'N':
            if (parse_num("--net", optarg, 0, 255, &v) < 0)
                return 2;
            o.net = (unsigned)v;
            break;
        case 's':
            if (parse_num("--seed", optarg, 0, 9007199254740992.0, &v) < 0)
                return 2;
            o.seed = (uint64_t)v;
            break;
        case 'a':
            if (parse_num("--delay-min", optarg, 0, 10000, &o.dmin_ms) < 0)
                return 2;
            break;
        case 'b':
            if (parse_num("--delay-max", optarg, 0, 10000, &o.dmax_ms) < 0)
                return 2;
            break;
        case 'j':
            if (parse_num("--jitter", optarg, 0, 10000, &o.jitter_ms) < 0)
                return 2;
            break;
        case 'l':
            if (parse_num("--loss", optarg, 0, 0.99, &o.loss) < 0)
                return 2;
            break;
        case 'q':
            if (parse_num("--max-queue-mb", optarg, 1, 65536, &o.max_queue_mb) < 0)
                return 2;
            break;
        case 'S': o.stats = optarg; break;
        case 'p': o.print_matrix = 1; break;
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, 2);
        }
    }
    if (optind != argc || !o.hosts || (!o.tun && !o.print_matrix))
        return usage(stderr, 2);
    if (o.dmax_ms < o.dmin_ms) {
        fprintf(stderr, "weft-netem: --delay-max %g is below --delay-min %g\n", o.dmax_ms,
                o.dmin_ms);
        return 2;
    }
    make_matrix(&o);
    if (o.print_matrix) {
        print_matrix(&o, stdout);
        return 0;
    }
    int fd = open_tun(o.tun);
    if (fd < 0) {
        fprintf(stderr, "weft-netem: cannot attach TUN '%s': %s\n", o.tun, strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    weft_rng r;
    weft_rng_seed(&r, o.seed ^ 0x9e3779b97f4a7c15ULL); /* loss and jitter: apart from the matrix */
    counters c;
    memset(&c, 0, sizeof c);
    static uint8_t buf[MAX_PKT];
    uint64_t order = 0;
    int64_t next_dump = weft_mono_ns() + 1000 * MS;
    fprintf(stderr, "weft-netem: %s: %u hosts, 10.%u.i.2, %g-%g ms, jitter %g ms, loss %g\n", o.tun,
            o.hosts, o.net, o.dmin_ms, o.dmax_ms, o.jitter_ms, o.loss);
    while (!stop_flag) {
        int64_t now = weft_mono_ns();
        while (heap_len > 0 && heap[0]->due_ns <= now) {
            pkt *p = heap_pop();
            queued_bytes -= p->len;
            if (write(fd, p->data, p->len) < 0)
                c.write_err++;
            else {
                c.out++;
                c.bytes_out += p->len;
            }
            free(p);
        }
        if (now >= next_dump) {
            dump_stats(&o, &c);
            next_dump = now + 1000 * MS;
        }
        int64_t wait = next_dump - now;
        if (heap_len > 0 && heap[0]->due_ns - now < wait)
            wait = heap[0]->due_ns - now;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000LL),
                              .tv_nsec = (long)(wait % 1000000000LL)};
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "weft-netem: poll: %s\n", strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        for (int i = 0; i < READ_BURST; i++) {
            ssize_t len = read(fd, buf, sizeof buf);
            if (len < 0)
                break; /* EAGAIN: drained */
            take(fd, &o, &r, &c, buf, (size_t)len, order++);
        }
    }
    write_counters(&c, stdout);
    dump_stats(&o, &c);
    while (heap_len > 0)
        free(heap_pop());
    free(heap);
    close(fd);
    return 0;
}
