/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server's connection limits, with raw loopback sockets beside a
 * real gRPC client (weft::svc_grpc_client): a cap per client address and
 * in total (the rest are closed on accept), idle connections closed by the
 * server, and a listener that keeps accepting after the process ran out of
 * descriptors. Before, gRPC's own listener took every connection (about
 * 20k idle ones exhausted the descriptors) and stalled after EMFILE.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_fds.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/svc_grpc.h"
#include "weft/svc_grpc_client.h"

static const char *const methods[] = {"/weft.test.Echo/Echo"};

static void
on_message(void *user, weft_grpc_call *c, const uint8_t *p, size_t n)
{
    (void)user;
    WEFT_IGNORE(weft_grpc_call_send(c, p, n));
    weft_grpc_call_finish(c, WEFT_GRPC_OK, "");
}

static weft_grpc_server *
start(size_t total, size_t per_ip, int idle_ms)
{
    weft_grpc_config cfg = {.addr = "127.0.0.1:0",
                            .methods = methods,
                            .nmethods = 1,
                            .max_conns = total,
                            .max_conns_per_ip = per_ip,
                            .idle_ms = idle_ms,
                            .h = {.on_message = on_message}};
    int err = 0;
    weft_grpc_server *s = weft_grpc_start(&cfg, &err);
    cr_assert_not_null(s, "start: %d", err);
    return s;
}

/* A raw TCP connection from source address src to the server; -1 when the
 * process has no descriptor left. */
static int
raw_connect(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind %s: %s", src, strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Whether the server closed fd within ms (EOF or reset); data is drained. */
static int
closed_within(int fd, int ms)
{
    int64_t end = weft_mono_ms() + ms;
    for (;;) {
        int64_t left = end - weft_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[512];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
    }
}

/* One real gRPC call on a new channel: 0 when it was answered. */
static int
echo(int port)
{
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    int err = 0;
    weft_grpc_channel *ch = weft_grpc_channel_new(target, &err);
    cr_assert_not_null(ch);
    uint8_t *resp = NULL;
    size_t len = 0;
    weft_grpc_status st;
    int rc = weft_grpc_unary(ch, methods[0], NULL, 0, "ping", 4, 5000, &resp, &len, &st);
    int ok = rc == 0 && st.code == 0 && len == 4 && memcmp(resp, "ping", 4) == 0;
    free(resp);
    weft_grpc_channel_free(ch);
    return ok ? 0 : -1;
}

static void
settle_stats(weft_grpc_server *s, size_t want, weft_grpc_stats *st)
{
    int64_t end = weft_mono_ms() + 3000;
    do {
        usleep(50000);
        weft_grpc_server_stats(s, st);
    } while (st->connections != want && weft_mono_ms() < end);
}

Test(grpc_limits, per_address_and_total_caps)
{
    weft_grpc_server *s = start(12, 8, -1);
    int port = weft_grpc_port(s), fds[16], closed = 0;
    for (int i = 0; i < 10; i++)
        fds[i] = raw_connect(port, "127.0.0.1");
    for (int i = 0; i < 10; i++)
        closed += closed_within(fds[i], i < 8 ? 300 : 2000);
    cr_expect_eq(closed, 2, "127.0.0.1: %d of 10 closed, want 2 (cap 8 per address)", closed);
    closed = 0;
    for (int i = 10; i < 16; i++)
        fds[i] = raw_connect(port, "127.0.0.2");
    for (int i = 10; i < 16; i++)
        closed += closed_within(fds[i], 300);
    cr_expect_eq(closed, 2, "127.0.0.2: %d of 6 closed, want 2 (cap 12 in all)", closed);
    weft_grpc_stats st;
    settle_stats(s, 12, &st);
    cr_expect_eq(st.connections, 12);
    cr_expect_eq(st.refused_limit, 4);
    /* a kept connection that goes frees its place */
    close(fds[0]);
    settle_stats(s, 11, &st);
    cr_expect_eq(st.connections, 11);
    cr_expect_eq(echo(port), 0, "a call in the freed place");
    for (int i = 1; i < 16; i++)
        close(fds[i]);
    weft_grpc_stop(s);
}

Test(grpc_limits, idle_connections_are_closed)
{
    weft_grpc_server *s = start(0, 0, 600);
    int port = weft_grpc_port(s), fds[4], closed = 0;
    for (int i = 0; i < 4; i++)
        fds[i] = raw_connect(port, "127.0.0.1");
    int64_t t0 = weft_mono_ms();
    for (int i = 0; i < 4; i++)
        closed += closed_within(fds[i], 5000);
    cr_expect_eq(closed, 4, "%d of 4 idle connections closed", closed);
    cr_expect_geq(weft_mono_ms() - t0, 500, "closed before the idle time");
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    cr_expect_eq(echo(port), 0);
    weft_grpc_stop(s);
}

Test(grpc_limits, accepts_again_after_running_out_of_descriptors)
{
    weft_grpc_server *s = start(0, 0, -1);
    int port = weft_grpc_port(s);
    struct rlimit old;
    cr_assert_eq(test_nofile_lower(48, &old), 0);
    enum { MAXC = 256 };
    int fds[MAXC] = {0}, n = 0;
    weft_grpc_stats st;
    /* fill the table; then free one of ours at a time so that each new
     * connection leaves the server's accept without a descriptor */
    for (int round = 0; round < 200; round++) {
        weft_grpc_server_stats(s, &st);
        if (st.refused_fds >= 3)
            break;
        int fd = n < MAXC ? raw_connect(port, "127.0.0.1") : -1;
        if (fd >= 0) {
            fds[n++] = fd;
        } else if (n > 0) {
            close(fds[--n]);
            usleep(20000);
        }
    }
    weft_grpc_server_stats(s, &st);
    cr_expect_geq(st.refused_fds, 1, "the server never met EMFILE (%d client sockets)", n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    settle_stats(s, 0, &st);
    cr_expect_eq(echo(port), 0, "the listener no longer accepts after EMFILE");
    weft_grpc_stop(s);
}
