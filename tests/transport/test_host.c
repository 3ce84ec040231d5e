/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two libp2p hosts talking through the whole stack (multistream, Noise XX,
 * yamux, identify, ping, an application protocol), over io_uring, epoll
 * and the simulated network: identify lists our protocols both ways, ping
 * measures a round trip, 8 MiB echo through flow control arrives intact,
 * dialing with the wrong /p2p/ id fails authentication, an unsupported
 * protocol is refused, a silent client is cut at the handshake timeout and
 * garbage is rejected, while an established connection carries on.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "weft/host.h"
#include "weft/rng.h"

#define SEC 1000000000LL
#define ECHO_PROTO "/weft/test-echo/1.0.0"

/* Not const: cr_make_param_array stores a plain void * to its array. */
static int kinds[] = {WEFT_LOOP_URING, WEFT_LOOP_EPOLL, WEFT_LOOP_SIM};

struct env {
    int kind;
    weft_simnet *net;
    weft_loop *la, *lb;
    weft_host *a, *b;
    weft_multiaddr addr_a;
    /* events */
    weft_peer *peer_ab; /* b's view of a */
    int dial_status, dialed;
    int identified_a, identified_b;
    int b_agent_ok;
    int64_t rtt;
    int pinged;
    size_t echo_total, echo_sent, echo_got;
    uint8_t *echo_data;
    int echo_done, refused;
    int cli_outbound, srv_outbound; /* weft_stream_is_outbound at on_open; -1 before */
};

static void
spin(struct env *e, int *flag, int64_t limit_ns)
{
    if (e->net) {
        int64_t end = weft_simnet_now(e->net) + limit_ns;
        while (!*flag && weft_simnet_now(e->net) < end)
            weft_simnet_run_until(e->net, weft_simnet_now(e->net) + SEC / 100);
        return;
    }
    int64_t end = weft_loop_now(e->la) + limit_ns;
    while (!*flag && weft_loop_now(e->la) < end) {
        weft_loop_run_once(e->la, 2000000);
        weft_loop_run_once(e->lb, 2000000);
    }
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)p;
    struct env *e = user;
    cr_assert(weft_identify_has_protocol(id, WEFT_PING_PROTO), "identify lacks ping");
    cr_assert(weft_identify_has_protocol(id, WEFT_IDENTIFY_PROTO), "identify lacks itself");
    cr_assert(id->has_pubkey);
    if (h == e->a) {
        e->identified_a = 1;
    } else {
        e->identified_b = 1;
        e->b_agent_ok = strstr(id->agent_version, "weft/") != NULL &&
                        weft_identify_has_protocol(id, ECHO_PROTO);
    }
}

/* The echo protocol: the server echoes what the window lets through and
 * keeps the rest until on_writable; the client checks every byte. */
struct echo_srv_state {
    weft_buf backlog;
    int fin;
};

static void
srv_drain(weft_stream *s, struct echo_srv_state *st)
{
    while (st->backlog.len) {
        ptrdiff_t w = weft_stream_write(s, st->backlog.base, st->backlog.len);
        if (w == WEFT_EAGAIN)
            return;
        cr_assert_gt(w, 0, "echo write: %s", weft_strerror((int)w));
        weft_buf_consume(&st->backlog, (size_t)w);
    }
    if (st->fin)
        weft_stream_close(s);
}

static void
srv_open(weft_stream *s, void *u)
{
    struct env *e = u;
    e->srv_outbound = weft_stream_is_outbound(s);
    struct echo_srv_state *st = calloc(1, sizeof *st);
    weft_buf_init(&st->backlog, NULL, 0, 64u << 20);
    weft_stream_set_user(s, st);
}

static void
srv_data(weft_stream *s, void *u, const uint8_t *d, size_t n)
{
    struct echo_srv_state *st = u;
    cr_assert_eq(weft_buf_append(&st->backlog, d, n), 0);
    srv_drain(s, st);
}

static void
srv_writable(weft_stream *s, void *u)
{
    srv_drain(s, u);
}

static void
srv_fin(weft_stream *s, void *u)
{
    struct echo_srv_state *st = u;
    st->fin = 1;
    srv_drain(s, st);
}

static void
srv_close(weft_stream *s, void *u, int reason)
{
    (void)s, (void)reason;
    struct echo_srv_state *st = u;
    weft_buf_free(&st->backlog);
    free(st);
}

static const weft_stream_handler echo_srv = {.on_open = srv_open,
                                             .on_data = srv_data,
                                             .on_writable = srv_writable,
                                             .on_fin = srv_fin,
                                             .on_close = srv_close};

static void cli_pump(weft_stream *s, struct env *e);

static void
cli_open(weft_stream *s, void *u)
{
    struct env *e = u;
    e->cli_outbound = weft_stream_is_outbound(s);
    cli_pump(s, e);
}

static void
cli_pump(weft_stream *s, struct env *e)
{
    /* Keep at most 512 KiB ahead, so the echo side always has window. */
    while (e->echo_sent < e->echo_total && e->echo_sent - e->echo_got < (512u << 10)) {
        size_t n = e->echo_total - e->echo_sent;
        if (n > 100000)
            n = 100000;
        ptrdiff_t w = weft_stream_write(s, e->echo_data + e->echo_sent, n);
        if (w == WEFT_EAGAIN)
            return;
        cr_assert_gt(w, 0, "write: %s", weft_strerror((int)w));
        e->echo_sent += (size_t)w;
    }
    if (e->echo_sent == e->echo_total)
        weft_stream_close(s);
}

static void
cli_data(weft_stream *s, void *u, const uint8_t *d, size_t n)
{
    struct env *e = u;
    cr_assert_leq(e->echo_got + n, e->echo_sent);
    cr_assert(memcmp(e->echo_data + e->echo_got, d, n) == 0, "echo differs at %zu", e->echo_got);
    e->echo_got += n;
    cli_pump(s, e);
}

static void
cli_writable(weft_stream *s, void *u)
{
    cli_pump(s, u);
}

static void
cli_close(weft_stream *s, void *u, int reason)
{
    (void)s;
    struct env *e = u;
    if (reason == WEFT_ENOTSUP)
        e->refused = 1;
    else
        e->echo_done = 1;
}

static const weft_stream_handler echo_cli = {
    .on_open = cli_open, .on_data = cli_data, .on_writable = cli_writable, .on_close = cli_close};

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h;
    struct env *e = user;
    e->dial_status = status;
    e->dialed = 1;
    e->peer_ab = p;
}

static void
pinged(weft_peer *p, int64_t rtt, void *user)
{
    (void)p;
    struct env *e = user;
    e->rtt = rtt;
    e->pinged = 1;
}

static weft_host *
make_host(struct env *e, weft_loop *l, uint8_t seed_byte, int64_t hs_timeout)
{
    weft_host_config cfg;
    lb_host_config(&cfg, seed_byte);
    cfg.on_identify = on_identify;
    cfg.user = e;
    /* Host a keeps one prepared Noise static key (the default), host b makes
     * one per handshake: every conversation below runs across both kinds. */
    cfg.noise_key_per_connection = seed_byte == 2;
    if (hs_timeout)
        cfg.handshake_timeout_ns = hs_timeout;
    int err;
    weft_host *h = weft_host_new(l, &cfg, &err);
    cr_assert(h, "host: %s", weft_strerror(err));
    return h;
}

static void
setup(struct env *e, int kind, int64_t hs_timeout)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->cli_outbound = e->srv_outbound = -1;
    if (kind == WEFT_LOOP_SIM) {
        weft_link_params lp = {.latency_ns = 10 * 1000000, .bandwidth_bps = 1000000000};
        e->net = weft_simnet_new(1, &lp);
        e->la = weft_simnet_add_node(e->net, 0x7F000001);
        e->lb = weft_simnet_add_node(e->net, 0x7F000002);
    } else {
        int err;
        e->la = lb_loop_new(kind, 0, &err);
        if (!e->la && kind == WEFT_LOOP_URING)
            cr_skip_test("io_uring unavailable: %s", weft_strerror(err));
        e->lb = lb_loop_new(kind, 0, &err);
        cr_assert(e->la && e->lb);
    }
    e->a = make_host(e, e->la, 1, hs_timeout);
    e->b = make_host(e, e->lb, 2, hs_timeout);
    cr_assert_eq(weft_host_handle(e->a, ECHO_PROTO, &echo_srv, e), 0);
    /* the simulated network has no kernel to pick a port */
    cr_assert_eq(lb_host_listen(e->a, kind == WEFT_LOOP_SIM ? 4001 : 0, &e->addr_a), 0);
}

static void
teardown(struct env *e)
{
    weft_host_free(e->a);
    weft_host_free(e->b);
    if (e->net) {
        weft_simnet_free(e->net);
    } else {
        weft_loop_free(e->la);
        weft_loop_free(e->lb);
    }
    free(e->echo_data);
}

ParameterizedTestParameters(host, full_stack)
{
    return cr_make_param_array(int, kinds, 3);
}

ParameterizedTest(int *kind, host, full_stack)
{
    struct env e;
    setup(&e, *kind, 0);
    cr_assert_eq(weft_host_dial(e.b, &e.addr_a, dialed, &e), 0);
    spin(&e, &e.dialed, 10 * SEC);
    cr_assert_eq(e.dial_status, 0, "dial: %s", weft_strerror(e.dial_status));
    cr_assert(weft_peer_id_equal(weft_peer_get_id(e.peer_ab), weft_host_peer_id(e.a)));
    spin(&e, &e.identified_b, 10 * SEC);
    spin(&e, &e.identified_a, 10 * SEC);
    cr_assert(e.identified_a && e.identified_b, "identify did not complete both ways");
    cr_assert(e.b_agent_ok, "b's view of a's identify lacks the agent or the echo protocol");

    cr_assert_eq(weft_peer_ping(e.peer_ab, pinged, &e), 0);
    spin(&e, &e.pinged, 10 * SEC);
    cr_assert_geq(e.rtt, 0, "ping: %s", weft_strerror((int)e.rtt));
    if (*kind == WEFT_LOOP_SIM)
        cr_assert_geq(e.rtt, 20 * 1000000, "simulated rtt %lld below 2 x latency",
                      (long long)e.rtt);

    e.echo_total = 8u << 20;
    e.echo_data = malloc(e.echo_total);
    weft_rng r;
    weft_rng_seed(&r, 3);
    weft_rng_bytes(&r, e.echo_data, e.echo_total);
    cr_assert_eq(weft_peer_open_stream(e.peer_ab, ECHO_PROTO, &echo_cli, &e, NULL), 0);
    spin(&e, &e.echo_done, 60 * SEC);
    cr_assert_eq(e.echo_got, e.echo_total, "echoed %zu of %zu", e.echo_got, e.echo_total);
    cr_assert_eq(e.cli_outbound, 1, "the opener's stream is outbound");
    cr_assert_eq(e.srv_outbound, 0, "the accepted stream is inbound");

    cr_assert_eq(weft_peer_open_stream(e.peer_ab, "/weft/nobody/1.0.0", &echo_cli, &e, NULL), 0);
    spin(&e, &e.refused, 10 * SEC);
    cr_assert(e.refused, "an unsupported protocol was not refused");

    weft_host_stats st;
    weft_host_get_stats(e.a, &st);
    cr_assert_eq(st.handshakes_ok, 1);
    cr_assert_eq(st.handshakes_failed, 0);
    teardown(&e);
}

/* The protocols a host serves, as identify announces them: the built-in
 * ones and each registered id once, however often it is registered. */
static int
count_proto(const char *const *v, size_t n, const char *id)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(v[i], id) == 0;
    return c;
}

Test(host, protocols)
{
    struct env e;
    setup(&e, WEFT_LOOP_SIM, 0);
    const char *v[64];
    size_t n = weft_host_protocols(e.a, v, 64);
    cr_assert_lt(n, 64);
    cr_assert_eq(count_proto(v, n, ECHO_PROTO), 1);
    cr_assert_eq(count_proto(v, n, WEFT_PING_PROTO), 1);
    cr_assert_eq(count_proto(v, n, WEFT_IDENTIFY_PROTO), 1);
    /* b registered nothing of its own. */
    const char *w[64];
    size_t m = weft_host_protocols(e.b, w, 64);
    cr_assert_eq(m + 1, n);
    cr_assert_eq(count_proto(w, m, ECHO_PROTO), 0);
    /* Registering again replaces, and a short array gets the first ones. */
    cr_assert_eq(weft_host_handle(e.a, ECHO_PROTO, &echo_srv, &e), 0);
    cr_assert_eq(weft_host_protocols(e.a, v, 64), n);
    cr_assert_eq(weft_host_protocols(e.a, v, 1), 1);
    cr_assert_eq(weft_host_protocols(e.a, v, 0), 0);
    teardown(&e);
}

ParameterizedTestParameters(host, wrong_peer_id)
{
    return cr_make_param_array(int, kinds, 3);
}

ParameterizedTest(int *kind, host, wrong_peer_id)
{
    struct env e;
    setup(&e, *kind, 0);
    /* a's address with b's own... no: with a third identity's id. */
    weft_identity other;
    uint8_t seed[32] = {9};
    weft_identity_from_seed(&other, seed);
    weft_peer_id wrong;
    weft_peer_id_from_pubkey(other.pk, &wrong);
    weft_multiaddr ma = e.addr_a;
    /* Strip a's /p2p/ and put the wrong one. */
    char text[WEFT_MA_TEXT_MAX];
    weft_ma_to_text(&ma, text, sizeof text);
    *strstr(text, "/p2p/") = 0;
    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    cr_assert_eq(weft_ma_append_p2p(&ma, &wrong), 0);
    cr_assert_eq(weft_host_dial(e.b, &ma, dialed, &e), 0);
    spin(&e, &e.dialed, 10 * SEC);
    cr_assert_eq(e.dial_status, WEFT_EAUTH, "dial with a wrong id: %s",
                 weft_strerror(e.dial_status));
    weft_host_stats st;
    weft_host_get_stats(e.b, &st);
    cr_assert_geq(st.auth_failures, 1);
    teardown(&e);
}

/* A raw TCP client that says nothing, one that sends garbage: both are
 * closed, counted, and an established peer is unaffected. */
Test(host, stalled_and_garbage_clients)
{
    struct env e;
    setup(&e, WEFT_LOOP_EPOLL, 300 * 1000000LL);
    cr_assert_eq(weft_host_dial(e.b, &e.addr_a, dialed, &e), 0);
    spin(&e, &e.dialed, 10 * SEC);
    cr_assert_eq(e.dial_status, 0);

    struct sockaddr_storage sa;
    socklen_t salen;
    int has_peer;
    cr_assert_eq(weft_ma_to_sockaddr(&e.addr_a, &sa, &salen, NULL, &has_peer), 0);
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    int noisy = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(silent, (struct sockaddr *)&sa, salen), 0);
    cr_assert_eq(connect(noisy, (struct sockaddr *)&sa, salen), 0);
    static const char junk[] = "\x13/multistream/1.0.0\n\x07/noise\nGARBAGE-GARBAGE-GARBAGE";
    cr_assert_eq(write(noisy, junk, sizeof junk), (ssize_t)sizeof junk);
    int never = 0;
    spin(&e, &never, SEC);
    weft_host_stats st;
    weft_host_get_stats(e.a, &st);
    cr_assert_geq(st.handshake_timeouts, 1, "the silent client was not timed out");
    cr_assert_geq(st.handshakes_failed, 2, "failed handshakes: %llu",
                  (unsigned long long)st.handshakes_failed);
    char buf[64];
    /* Both sockets see the close (EOF or reset after our header bytes). */
    ssize_t n;
    while ((n = read(silent, buf, sizeof buf)) > 0)
        ;
    cr_assert_leq(n, 0);
    close(silent);
    close(noisy);
    /* The established connection still works. */
    cr_assert_eq(weft_peer_ping(e.peer_ab, pinged, &e), 0);
    spin(&e, &e.pinged, 10 * SEC);
    cr_assert_geq(e.rtt, 0, "ping after the bad clients: %s", weft_strerror((int)e.rtt));
    teardown(&e);
}

/* ---- freeing a host with dials in flight ------------------------------------------------- */

static void
count_dial(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h;
    int *st = user;
    cr_assert_null(p);
    cr_assert_lt(status, 0, "a dial cancelled by weft_host_free reported %d", status);
    st[0]++;
    st[1] = status;
}

ParameterizedTestParameters(host, free_with_dial_in_flight)
{
    return cr_make_param_array(int, kinds, 2);
}

/* weft-node's start-up failure path: the host is freed while its dial to a
 * closed port has not completed. The dial callback runs once, with an
 * error, from weft_host_free; the loop then completes (or cancels) the TCP
 * connect without touching the freed peer (ASan checks that part). */
ParameterizedTest(int *kind, host, free_with_dial_in_flight)
{
    int err;
    weft_loop *l = lb_loop_new(*kind, 0, &err);
    if (!l && *kind == WEFT_LOOP_URING)
        cr_skip_test("io_uring unavailable: %s", weft_strerror(err));
    cr_assert(l, "loop: %s", weft_strerror(err));
    struct env e;
    memset(&e, 0, sizeof e);
    weft_host *h = make_host(&e, l, 1, 0);
    weft_host *other = make_host(&e, l, 2, 0);
    /* A port nobody listens on: bind one, learn it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t sl = sizeof sin;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    char text[256], pid[WEFT_PEER_ID_TEXT];
    cr_assert_geq(weft_peer_id_to_text(weft_host_peer_id(other), pid, sizeof pid), 0);
    snprintf(text, sizeof text, "/ip4/127.0.0.1/tcp/%d/p2p/%s", ntohs(sin.sin_port), pid);
    weft_multiaddr ma;
    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    int st[2] = {0, 0}, st2[2] = {0, 0};
    cr_assert_eq(weft_host_dial(h, &ma, count_dial, st), 0);
    cr_assert_eq(weft_host_dial(h, &ma, count_dial, st2), 0);
    cr_assert_eq(st[0], 0, "the dial completed synchronously");
    weft_host_free(h);
    cr_assert_eq(st[0], 1, "dial callback ran %d times in weft_host_free", st[0]);
    cr_assert_eq(st2[0], 1);
    weft_host_free(other);
    for (int i = 0; i < 5; i++)
        weft_loop_run_once(l, 10000000);
    weft_loop_free(l);
    cr_assert_eq(st[0], 1, "dial callback ran again after the host was freed");
    cr_assert_eq(st2[0], 1);
}

ParameterizedTestParameters(host, dial_by_name)
{
    return cr_make_param_array(int, kinds, 2);
}

/* The guides name peers by DNS (/dns4/p2pnode-1/tcp/7070/p2p/...): a dial
 * resolves /dns4 and /dns (localhost here) and connects; a name that does
 * not resolve fails as such (WEFT_ERESOLVE), not as an unsupported
 * protocol, and at once. */
ParameterizedTest(int *kind, host, dial_by_name)
{
    struct env e;
    setup(&e, *kind, 0);
    char text[WEFT_MA_TEXT_MAX], named[WEFT_MA_TEXT_MAX + 32];
    cr_assert_geq(weft_ma_to_text(&e.addr_a, text, sizeof text), 0);
    const char *tcp = strstr(text, "/tcp/");
    cr_assert(tcp);
    static const char *const forms[] = {"/dns4/localhost", "/dns/localhost"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(named, sizeof named, "%s%s", forms[i], tcp);
        weft_multiaddr ma;
        cr_assert_eq(weft_ma_parse(named, &ma), 0, "%s", named);
        e.dialed = 0;
        e.dial_status = 1;
        int rc = weft_host_dial(e.b, &ma, dialed, &e);
        if (rc == WEFT_ERESOLVE && i == 1)
            continue; /* /dns may give ::1 first where nothing listens on v6 */
        cr_assert_eq(rc, 0, "dial %s: %s", named, weft_strerror(rc));
        spin(&e, &e.dialed, 10 * SEC);
        cr_assert_eq(e.dial_status, 0, "dial %s: %s", named, weft_strerror(e.dial_status));
        if (i == 0)
            break; /* connected once: a second dial to the same peer adds nothing */
    }
    snprintf(named, sizeof named, "/dns4/no-such-host.invalid%s", tcp);
    weft_multiaddr bad;
    cr_assert_eq(weft_ma_parse(named, &bad), 0);
    cr_assert_eq(weft_host_dial(e.b, &bad, dialed, &e), WEFT_ERESOLVE);
    cr_assert_str_eq(weft_strerror(WEFT_ERESOLVE), "host name resolution failed");
    teardown(&e);
}
