/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service HTTP server's listener when the process runs out of
 * descriptors (EMFILE), over real loopback sockets: the pending connection
 * is shed and counted (weft_http_conn_stats' refused_fds), and once
 * descriptors are free again the same listener serves requests. The gRPC
 * server and the P2P loops have the same test (test_grpc_limits.c,
 * test_loop_emfile.c); issue 20 item 1.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_fds.h"
#include "weft/clock.h"
#include "weft/svc_http.h"

static void
handler(void *user, const weft_http_req *req, weft_http_resp *resp)
{
    (void)user;
    (void)req;
    weft_http_reply(resp, 200, NULL, "{\"ok\":true}");
}

/* A raw connection to the server; -1 when this process has no descriptor
 * left (the server shares the table). */
static int
raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

/* GET /ok on a new connection: the status, or -1 without an answer in 3 s. */
static int
get_ok(uint16_t port)
{
    int fd = raw_connect(port);
    cr_assert_geq(fd, 0, "no descriptor for the request");
    static const char req[] = "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[128];
    size_t have = 0;
    int status = -1;
    int64_t end = weft_mono_ms() + 3000;
    while (weft_mono_ms() < end && have < sizeof buf - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        if (have >= 12 && sscanf(buf, "HTTP/1.1 %3d", &status) == 1)
            break;
    }
    close(fd);
    return status;
}

Test(http_emfile, sheds_then_serves_again)
{
    weft_http_config cfg = {.host = "127.0.0.1", .handler = handler};
    int err = 1;
    weft_http_server *s = weft_http_start(&cfg, &err);
    cr_assert_not_null(s, "start: %d", err);
    uint16_t port = weft_http_port(s);
    cr_assert_eq(get_ok(port), 200);
    struct rlimit old;
    cr_assert_eq(test_nofile_lower(48, &old), 0);
    enum { MAXC = 256 };
    int fds[MAXC] = {0}, n = 0;
    size_t open = 0;
    unsigned long long lim = 0, nofd = 0;
    /* fill the table; then free one of ours at a time, so that the server's
     * accept of each new connection finds no descriptor */
    for (int round = 0; round < 300; round++) {
        weft_http_conn_stats(s, &open, &lim, &nofd);
        if (nofd >= 3)
            break;
        int fd = n < MAXC ? raw_connect(port) : -1;
        if (fd >= 0) {
            fds[n++] = fd;
        } else if (n > 0) {
            close(fds[--n]);
            usleep(20000);
        }
    }
    weft_http_conn_stats(s, &open, &lim, &nofd);
    cr_expect_geq(nofd, 1, "the server never met EMFILE (%d client sockets)", n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    int st = -1;
    for (int i = 0; i < 20 && st != 200; i++) {
        st = get_ok(port);
        if (st != 200)
            usleep(100000);
    }
    cr_expect_eq(st, 200, "the listener no longer serves after EMFILE");
    printf("http_emfile: %llu connections shed for want of a descriptor, then served again\n",
           nofd);
    weft_http_stop(s);
}
