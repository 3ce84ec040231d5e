/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server's own listener (grpc_accept.h).
 *
 * gRPC's C core accepts every connection it can and has no limit on them
 * (1.51 has no per-address or total cap), its handshake timeout leaves an
 * idle socket open for two minutes, and on EMFILE its listener stalls. So
 * the server binds the socket itself, accepts here on one thread, and
 * hands each connection it keeps to the core with
 * grpc_server_add_channel_from_fd. What is kept is bounded: a total and a
 * per-address cap; past either the connection is closed at once. EMFILE is
 * met with a spare descriptor: released, the pending connection accepted
 * and closed, the spare taken back, so the listener never stalls and the
 * backlog does not fill with connections nobody will answer.
 *
 * The core closes a connection's descriptor when it is done with it and
 * says nothing; a sweep every SWEEP_MS notices (fstat fails, or the number
 * now names another inode) and frees its slot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>

#include "grpc_accept.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/fdspare.h"
#include "weft/log.h"

#define SWEEP_MS 250
#define IP_TEXT 46 /* INET6_ADDRSTRLEN */

struct conn {
    int fd;
    ino_t ino;
    char ip[IP_TEXT];
    char peer[IP_TEXT + 16]; /* "ipv4:1.2.3.4:5678" as gRPC would say */
};

struct grpc_acceptor {
    grpc_server *srv;
    grpc_server_credentials *creds;
    int lfd, wake[2];
    weft_fd_spare spare;
    size_t max_total, max_per_ip;
    pthread_t th;
    int running;
    pthread_mutex_t mu; /* conns, n */
    struct conn *conns;
    size_t n;
    atomic_ullong accepted, refused_limit, refused_fds;
    int64_t last_emfile_log;
};

/* ---- the table ---------------------------------------------------------------------- */

static size_t
count_ip(const grpc_acceptor *a, const char *ip)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++)
        k += strcmp(a->conns[i].ip, ip) == 0;
    return k;
}

static void
sweep(grpc_acceptor *a)
{
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n;) {
        struct stat st;
        if (fstat(a->conns[i].fd, &st) != 0 || st.st_ino != a->conns[i].ino)
            a->conns[i] = a->conns[--a->n];
        else
            i++;
    }
    pthread_mutex_unlock(&a->mu);
}

/* ---- accepting ---------------------------------------------------------------------- */

static void
addr_text(const struct sockaddr_storage *ss, char *ip, char *peer, size_t peer_cap)
{
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, IP_TEXT);
            snprintf(peer, peer_cap, "ipv4:%s:%u", ip, (unsigned)ntohs(s6->sin6_port));
            return;
        }
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, IP_TEXT);
        port = ntohs(s6->sin6_port);
        snprintf(peer, peer_cap, "ipv6:[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, IP_TEXT);
        port = ntohs(s4->sin_port);
        snprintf(peer, peer_cap, "ipv4:%s:%u", ip, port);
    }
}

/* Out of descriptors: shed the pending connection with the spare one, so
 * the client hears a close rather than waiting in the backlog. */
static void
shed(grpc_acceptor *a)
{
    if (weft_fd_spare_shed(&a->spare, a->lfd))
        atomic_fetch_add(&a->refused_fds, 1);
    int64_t now = weft_mono_ms();
    if (now - a->last_emfile_log >= 10000) {
        a->last_emfile_log = now;
        weft_log(WEFT_LOG_WARN, "grpc",
                 "msg=\"out of file descriptors: refusing connections\" conns=%zu", a->n);
    }
}

static void
accept_some(grpc_acceptor *a)
{
    for (int burst = 0; burst < 256; burst++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(a->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (weft_fd_exhausted(errno)) {
                sweep(a); /* the core may have let some go */
                shed(a);
            }
            return; /* EAGAIN, or nothing this loop can do */
        }
        struct conn c = {.fd = fd};
        addr_text(&ss, c.ip, c.peer, sizeof c.peer);
        struct stat st;
        pthread_mutex_lock(&a->mu);
        int keep = a->n < a->max_total && count_ip(a, c.ip) < a->max_per_ip && fstat(fd, &st) == 0;
        if (keep) {
            c.ino = st.st_ino;
            a->conns[a->n++] = c;
        }
        pthread_mutex_unlock(&a->mu);
        if (!keep) {
            close(fd);
            atomic_fetch_add(&a->refused_limit, 1);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add(&a->accepted, 1);
        grpc_server_add_channel_from_fd(a->srv, fd, a->creds); /* the core owns fd now */
    }
}

static void *
accept_main(void *arg)
{
    grpc_acceptor *a = arg;
    int64_t next_sweep = weft_mono_ms() + SWEEP_MS;
    for (;;) {
        struct pollfd p[2] = {{.fd = a->lfd, .events = POLLIN},
                              {.fd = a->wake[0], .events = POLLIN}};
        int r = poll(p, 2, SWEEP_MS);
        if (r < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break; /* stop */
        int64_t now = weft_mono_ms();
        if (now >= next_sweep) {
            sweep(a);
            next_sweep = now + SWEEP_MS;
        }
        if (p[0].revents & POLLIN)
            accept_some(a);
    }
    return NULL;
}

/* ---- the listening socket ------------------------------------------------------------- */

/* Bind "host:port" ("0.0.0.0:1", "[::]:1", "127.0.0.1:0", ":1" = any). */
static int
listen_on(const char *addr, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon[1] == '\0')
        return WEFT_EINVAL;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return WEFT_EINVAL;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res) != 0 || !res)
        return WEFT_EINVAL;
    int fd = -1, rc = WEFT_EINVAL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int one = 1, zero = 0;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            rc = -errno; /* the cause: in use, no such address, permission */
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rc;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

grpc_acceptor *
grpc_acceptor_new(const char *addr, size_t max_total, size_t max_per_ip, int *port, int *err)
{
    grpc_acceptor *a = calloc(1, sizeof *a);
    int rc = -ENOMEM;
    if (!a)
        goto fail;
    a->max_total = max_total;
    a->max_per_ip = max_per_ip;
    a->lfd = a->spare.fd = a->wake[0] = a->wake[1] = -1;
    pthread_mutex_init(&a->mu, NULL);
    a->conns = calloc(max_total ? max_total : 1, sizeof *a->conns);
    if (!a->conns)
        goto fail;
    rc = listen_on(addr, port);
    if (rc < 0)
        goto fail;
    a->lfd = rc;
    if (pipe2(a->wake, O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    (void)weft_fd_spare_init(&a->spare);
    return a;
fail:
    grpc_acceptor_free(a);
    *err = rc;
    return NULL;
}

int
grpc_acceptor_run(grpc_acceptor *a, grpc_server *srv)
{
    a->srv = srv;
    a->creds = grpc_insecure_server_credentials_create();
    if (pthread_create(&a->th, NULL, accept_main, a) != 0)
        return -EAGAIN;
    a->running = 1;
    return 0;
}

void
grpc_acceptor_halt(grpc_acceptor *a)
{
    if (!a)
        return;
    if (a->running) {
        ssize_t w = write(a->wake[1], "x", 1);
        (void)w;
        pthread_join(a->th, NULL);
        a->running = 0;
    }
    if (a->lfd >= 0)
        close(a->lfd);
    a->lfd = -1;
}

void
grpc_acceptor_free(grpc_acceptor *a)
{
    if (!a)
        return;
    grpc_acceptor_halt(a);
    for (int i = 0; i < 2; i++)
        if (a->wake[i] >= 0)
            close(a->wake[i]);
    weft_fd_spare_free(&a->spare);
    if (a->creds)
        grpc_server_credentials_release(a->creds);
    pthread_mutex_destroy(&a->mu);
    free(a->conns);
    free(a);
}

int
grpc_acceptor_peer(grpc_acceptor *a, const char *core_peer, char *out, size_t cap)
{
    if (!a || strncmp(core_peer, "fd:", 3) != 0)
        return -1;
    char *end;
    long fd = strtol(core_peer + 3, &end, 10);
    if (end == core_peer + 3)
        return -1;
    int found = -1;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n; i++)
        if (a->conns[i].fd == fd) {
            snprintf(out, cap, "%s", a->conns[i].peer);
            found = 0;
            break;
        }
    pthread_mutex_unlock(&a->mu);
    return found;
}

void
grpc_acceptor_stats(grpc_acceptor *a, weft_grpc_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    st->connections = a->n;
    pthread_mutex_unlock(&a->mu);
    st->accepted = atomic_load(&a->accepted);
    st->refused_limit = atomic_load(&a->refused_limit);
    st->refused_fds = atomic_load(&a->refused_fds);
}
