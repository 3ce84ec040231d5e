/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A P2P listener that runs out of descriptors (both loop backends): the
 * pending connection is shed with the loop's spare descriptor (counted in
 * accept_shed) instead of the loop waking for the readable listener forever,
 * and once descriptors are free again the listener accepts as before.
 * Also weft/fdspare.h on its own.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_testutil.h"
#include "loopback.h"
#include "test_fds.h"
#include "weft/fdspare.h"
#include "weft/loop.h"

enum { MAXC = 256 };

struct held {
    weft_conn *conns[MAXC];
    int n, accepted;
};

static void
on_close(weft_conn *c, void *u, int reason)
{
    (void)reason;
    struct held *h = u;
    for (int i = 0; i < h->n; i++)
        if (h->conns[i] == c) {
            h->conns[i] = h->conns[--h->n];
            break;
        }
}

static const weft_conn_handler held_h = {.on_close = on_close};

static void
on_accept(weft_listener *ls, void *u, weft_conn *c)
{
    (void)ls;
    struct held *h = u;
    h->accepted++;
    weft_conn_set_handler(c, &held_h, h);
    if (h->n < MAXC)
        h->conns[h->n++] = c;
    else
        weft_conn_close(c);
}

/* A blocking connect to the listener; -1 when this process has no
 * descriptor left for the client end. */
static int
raw_connect(const struct sockaddr_storage *to, socklen_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)to, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

ParameterizedTestParameters(loop_emfile, sheds_and_accepts_again)
{
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, loop_emfile, sheds_and_accepts_again)
{
    weft_loop *l = new_loop(*kind);
    struct held h = {0};
    weft_listener *ls;
    struct sockaddr_storage addr;
    socklen_t alen;
    cr_assert_eq(lb_listen(l, on_accept, &h, &ls, &addr, &alen), 0);

    struct rlimit old;
    cr_assert_eq(test_nofile_lower(40, &old), 0);

    int fds[MAXC], n = 0;
    weft_loop_stats st = {0};
    /* Fill the table with client ends and the accepted server ends; then
     * free one client end at a time, so that the next connection leaves the
     * accept without a descriptor for its server end. Bounded: 400 rounds. */
    for (int round = 0; round < 400; round++) {
        weft_loop_get_stats(l, &st);
        if (st.accept_shed >= 3)
            break;
        int fd = n < MAXC ? raw_connect(&addr, alen) : -1;
        if (fd >= 0)
            fds[n++] = fd;
        else if (n > 0)
            close(fds[--n]);
        for (int i = 0; i < 3; i++)
            cr_assert_geq(weft_loop_run_once(l, 5 * 1000000), 0);
    }
    weft_loop_get_stats(l, &st);
    cr_expect_geq(st.accept_shed, 1,
                  "the listener never shed a connection (%d clients, %d accepted)", n, h.accepted);
    /* A shed connection is closed by the server: its client end reads EOF. */
    for (int i = 0; i < n; i++)
        close(fds[i]);
    n = 0;
    while (h.n > 0)
        weft_conn_abort(h.conns[0], WEFT_ECLOSED); /* on_close removes it */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 20; i++)
        weft_loop_run_once(l, 5 * 1000000);

    int before = h.accepted;
    int fd = raw_connect(&addr, alen);
    cr_assert_geq(fd, 0);
    for (int i = 0; i < 200 && h.accepted == before; i++)
        cr_assert_geq(weft_loop_run_once(l, 10 * 1000000), 0);
    cr_expect_eq(h.accepted, before + 1, "the listener no longer accepts after EMFILE");
    close(fd);
    weft_loop_free(l);
}

Test(fdspare, sheds_one_pending_connection_only)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(lfd, 0);
    struct sockaddr_in sa = lb_addr(0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lfd, 8), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);

    weft_fd_spare s;
    cr_assert_eq(weft_fd_spare_init(&s), 0);
    cr_assert_geq(s.fd, 0);
    /* nothing pending: returns at once (the listener is blocking) */
    cr_assert_eq(weft_fd_spare_shed(&s, lfd), 0);
    cr_assert_geq(s.fd, 0, "the spare is taken back");

    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(weft_fd_spare_shed(&s, lfd), 1);
    char b;
    cr_assert_eq(read(c, &b, 1), 0, "the shed connection is closed");
    close(c);
    cr_assert(weft_fd_exhausted(EMFILE) && weft_fd_exhausted(ENFILE) && !weft_fd_exhausted(EAGAIN));
    weft_fd_spare_free(&s);
    cr_assert_eq(s.fd, -1);
    close(lfd);
}
