/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P port's connection limits and hostile first bytes, against a real
 * weft_host on a loopback socket (epoll and io_uring): raw TCP connections
 * past max_conns_per_ip from one source address, and past max_conns from
 * several, are closed at accept and counted (rejected_ip_limit,
 * rejected_conn_limit); a TLS ClientHello and a half multistream handshake
 * fail or time out and are counted; a real libp2p peer still connects and
 * pings afterwards. Issue 20, "P2P port: TLS hello, half handshakes, 1,000
 * connections from one IP".
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "weft/host.h"

#define MS 1000000LL

enum { PER_IP = 8, TOTAL = 12, FROM_ONE = 40, FROM_TWO = 10 };

static int kinds[] = {WEFT_LOOP_URING, WEFT_LOOP_EPOLL};

struct rig {
    weft_loop *la, *lb;
    weft_host *a, *b;
    weft_multiaddr addr_a;
    int port;
    int dialed, dial_status, pinged;
    int64_t rtt;
    weft_peer *peer;
};

static void
spin(struct rig *r, const int *flag, int64_t ns)
{
    int64_t end = weft_loop_now(r->la) + ns;
    while ((!flag || !*flag) && weft_loop_now(r->la) < end) {
        weft_loop_run_once(r->la, 2 * MS);
        weft_loop_run_once(r->lb, 2 * MS);
    }
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h;
    struct rig *r = user;
    r->peer = p;
    r->dial_status = status;
    r->dialed = 1;
}

static void
pinged(weft_peer *p, int64_t rtt, void *user)
{
    (void)p;
    struct rig *r = user;
    r->rtt = rtt;
    r->pinged = 1;
}

static void
rig_start(struct rig *r, int kind)
{
    memset(r, 0, sizeof *r);
    int err;
    r->la = lb_loop_new(kind, 0, &err);
    if (!r->la && kind == WEFT_LOOP_URING)
        cr_skip_test("io_uring unavailable: %s", weft_strerror(err));
    r->lb = lb_loop_new(kind, 0, &err);
    cr_assert(r->la && r->lb, "loop: %s", weft_strerror(err));
    weft_host_config cfg;
    lb_host_config(&cfg, 1);
    cfg.max_conns = TOTAL;
    cfg.max_conns_per_ip = PER_IP;
    cfg.handshake_timeout_ns = 500 * MS;
    r->a = weft_host_new(r->la, &cfg, &err);
    cr_assert(r->a, "host: %s", weft_strerror(err));
    lb_host_config(&cfg, 2);
    r->b = weft_host_new(r->lb, &cfg, &err);
    cr_assert(r->b, "host: %s", weft_strerror(err));
    cr_assert_eq(lb_host_listen(r->a, 0, &r->addr_a), 0);
    struct sockaddr_storage sa;
    socklen_t salen;
    int has_peer;
    cr_assert_eq(weft_ma_to_sockaddr(&r->addr_a, &sa, &salen, NULL, &has_peer), 0);
    r->port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static void
rig_stop(struct rig *r)
{
    weft_host_free(r->a);
    weft_host_free(r->b);
    weft_loop_free(r->la);
    weft_loop_free(r->lb);
}

/* A raw TCP connection to the host from source address src. */
static int
raw_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind %s: %s", src, strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    int rc = connect(fd, (struct sockaddr *)&to, sizeof to);
    cr_assert(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    return fd;
}

/* Whether the host closed fd (EOF or reset); what it sent is drained. */
static int
is_closed(int fd)
{
    char buf[512];
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return 0;
}

static int
count_closed(const int *fds, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        n += is_closed(fds[i]);
    return n;
}

/* The real peer b dials a and pings it: 0 when the round trip came back. */
static int
dial_and_ping(struct rig *r)
{
    r->dialed = r->pinged = 0;
    r->dial_status = 1;
    if (weft_host_dial(r->b, &r->addr_a, dialed, r) != 0)
        return -1;
    spin(r, &r->dialed, 5000 * MS);
    if (!r->dialed || r->dial_status != 0 || !r->peer)
        return -1;
    if (weft_peer_ping(r->peer, pinged, r) != 0)
        return -1;
    spin(r, &r->pinged, 5000 * MS);
    return r->pinged && r->rtt >= 0 ? 0 : -1;
}

ParameterizedTestParameters(host_limits, per_address_and_total_caps)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, host_limits, per_address_and_total_caps)
{
    struct rig r;
    rig_start(&r, *kind);
    int fds[FROM_ONE + FROM_TWO];
    /* FROM_ONE connections from one address: PER_IP are kept */
    for (int i = 0; i < FROM_ONE; i++)
        fds[i] = raw_from(r.port, "127.0.0.1");
    spin(&r, NULL, 300 * MS);
    int closed = count_closed(fds, 0, FROM_ONE);
    weft_host_stats st;
    weft_host_get_stats(r.a, &st);
    cr_expect_eq(closed, FROM_ONE - PER_IP, "127.0.0.1: %d of %d closed, want %d (cap %d)", closed,
                 FROM_ONE, FROM_ONE - PER_IP, PER_IP);
    cr_expect_eq(st.rejected_ip_limit, (uint64_t)(FROM_ONE - PER_IP));
    /* from a second address: the total cap keeps TOTAL - PER_IP more */
    for (int i = FROM_ONE; i < FROM_ONE + FROM_TWO; i++)
        fds[i] = raw_from(r.port, "127.0.0.2");
    spin(&r, NULL, 300 * MS);
    closed = count_closed(fds, FROM_ONE, FROM_ONE + FROM_TWO);
    weft_host_get_stats(r.a, &st);
    cr_expect_eq(closed, FROM_TWO - (TOTAL - PER_IP), "127.0.0.2: %d of %d closed, want %d", closed,
                 FROM_TWO, FROM_TWO - (TOTAL - PER_IP));
    cr_expect_eq(st.rejected_conn_limit, (uint64_t)(FROM_TWO - (TOTAL - PER_IP)));
    /* the kept ones never finish a handshake: cut at the timeout, counted */
    spin(&r, NULL, 900 * MS);
    weft_host_get_stats(r.a, &st);
    cr_expect_geq(st.handshake_timeouts, (uint64_t)TOTAL, "handshake timeouts: %llu",
                  (unsigned long long)st.handshake_timeouts);
    cr_expect_eq(count_closed(fds, 0, FROM_ONE + FROM_TWO), FROM_ONE + FROM_TWO,
                 "a silent connection outlived the handshake timeout");
    for (int i = 0; i < FROM_ONE + FROM_TWO; i++)
        close(fds[i]);
    /* the places are free again: a real peer connects */
    cr_expect_eq(dial_and_ping(&r), 0, "a real peer after the flood: %s",
                 weft_strerror(r.dial_status));
    rig_stop(&r);
}

ParameterizedTestParameters(host_limits, tls_hello_and_half_handshakes)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, host_limits, tls_hello_and_half_handshakes)
{
    /* a TLS ClientHello: record head, handshake head, version, then filler
     * (64 bytes in all, past the length its first byte would claim) */
    uint8_t tls[64] = {0x16, 0x03, 0x01, 0x00, 0x3b, 0x01, 0x00, 0x00, 0x37, 0x03, 0x03};
    memset(tls + 11, 0xa5, sizeof tls - 11);
    /* the multistream header and a proposal of /noise, and then silence */
    static const char half[] = "\x13/multistream/1.0.0\n\x07/noise\n";
    struct rig r;
    rig_start(&r, *kind);
    int t = raw_from(r.port, "127.0.0.3"), h = raw_from(r.port, "127.0.0.4");
    spin(&r, NULL, 50 * MS);
    cr_assert_eq(write(t, tls, sizeof tls), (ssize_t)sizeof tls);
    cr_assert_eq(write(h, half, sizeof half - 1), (ssize_t)(sizeof half - 1));
    spin(&r, NULL, 200 * MS);
    cr_expect(is_closed(t), "a TLS ClientHello was not closed at once");
    spin(&r, NULL, 900 * MS);
    cr_expect(is_closed(h), "a half handshake outlived the handshake timeout");
    weft_host_stats st;
    weft_host_get_stats(r.a, &st);
    cr_expect_geq(st.handshakes_failed, 2, "failed handshakes: %llu",
                  (unsigned long long)st.handshakes_failed);
    cr_expect_geq(st.handshake_timeouts, 1, "timeouts: %llu",
                  (unsigned long long)st.handshake_timeouts);
    cr_expect_eq(st.handshakes_ok, 0);
    close(t);
    close(h);
    cr_expect_eq(dial_and_ping(&r), 0, "a real peer after the bad clients: %s",
                 weft_strerror(r.dial_status));
    rig_stop(&r);
}
