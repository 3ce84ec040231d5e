/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Peer sharing between weft nodes (/weft/peers/1.0.0), so that a network
 * bootstrapped through one node becomes a mesh rather than a star: when a
 * peer's identify arrives we send it, on a fresh stream, the dialable
 * addresses of our other connected peers (one multiaddr with /p2p/ per
 * line, then FIN); a node receiving such a list dials the peers it is not
 * connected to while it has fewer than OPTIMUM_MESH_MAX connections. A peer
 * that does not speak the protocol (a go or js libp2p node) refuses the
 * stream and nothing else happens.
 *
 * A peer's dialable address is a listen address from its identify; a
 * wildcard one (0.0.0.0) takes the IP the connection came from.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "weft/log.h"

#define PEERS_PROTO "/weft/peers/1.0.0"
#define LIST_MAX 16384 /* bytes of one list */
#define LIST_PEERS 32  /* entries we send */

#define XFER_MAGIC 0x70656572u /* "peer": tells our record from the node pointer */

struct xfer {
    uint32_t magic;
    node *n;
    char buf[LIST_MAX];
    size_t len;
    int overflow;
};

/* ---- the dialable address of a peer -------------------------------------------------- */

static int
dial_addr(weft_peer *p, const weft_identify *id, char *out, size_t cap)
{
    const weft_multiaddr *conn = weft_peer_addr(p);
    struct sockaddr_storage cs;
    socklen_t clen;
    int have_conn = conn && weft_ma_to_sockaddr(conn, &cs, &clen, NULL, NULL) == 0;
    for (size_t i = 0; i < id->nlisten; i++) {
        struct sockaddr_storage sa;
        socklen_t salen;
        if (weft_ma_to_sockaddr(&id->listen[i], &sa, &salen, NULL, NULL) < 0 ||
            sa.ss_family != AF_INET)
            continue;
        struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
        if (sin->sin_addr.s_addr == htonl(INADDR_ANY)) {
            if (!have_conn || cs.ss_family != AF_INET)
                continue;
            sin->sin_addr = ((struct sockaddr_in *)&cs)->sin_addr;
        }
        weft_multiaddr ma;
        if (weft_ma_from_sockaddr((struct sockaddr *)sin, sizeof *sin, &ma) < 0 ||
            weft_ma_append_p2p(&ma, weft_peer_get_id(p)) < 0)
            continue;
        return weft_ma_to_text(&ma, out, cap) < 0 ? -1 : 0;
    }
    return -1;
}

/* ---- sending our list ------------------------------------------------------------------ */

static void
out_open(weft_stream *s, void *user)
{
    struct xfer *x = user;
    ptrdiff_t w = weft_stream_write(s, x->buf, x->len);
    if (w != (ptrdiff_t)x->len)
        weft_stream_reset(s); /* a fresh stream has a 256 KiB window: this does not happen */
    else
        WEFT_IGNORE(weft_stream_close(s));
}

static void
out_close(weft_stream *s, void *user, int reason)
{
    (void)s, (void)reason;
    free(user);
}

static const weft_stream_handler out_h = {.on_open = out_open, .on_close = out_close};

void
node_discovery_on_identify(node *n, weft_peer *p, const weft_identify *id)
{
    node_peer_stat *me = node_stats_find(n, weft_peer_get_id(p));
    if (me && dial_addr(p, id, me->dial, sizeof me->dial) < 0)
        me->dial[0] = 0;
    int speaks = 0;
    for (size_t i = 0; i < id->nprotocols; i++)
        speaks |= !strcmp(id->protocols[i], PEERS_PROTO);
    if (!speaks)
        return;
    struct xfer *x = calloc(1, sizeof *x);
    if (!x)
        return;
    size_t np, k = 0;
    const node_peer_stat *ps = node_stats_peers(n, &np);
    for (size_t i = 0; i < np && k < LIST_PEERS; i++) {
        if (!ps[i].connected || !ps[i].dial[0] || &ps[i] == me)
            continue;
        size_t l = strlen(ps[i].dial);
        if (x->len + l + 1 > sizeof x->buf)
            break;
        memcpy(x->buf + x->len, ps[i].dial, l);
        x->buf[x->len + l] = '\n';
        x->len += l + 1;
        k++;
    }
    if (!k || weft_peer_open_stream(p, PEERS_PROTO, &out_h, x, NULL) < 0)
        free(x);
}

/* ---- receiving a list --------------------------------------------------------------------- */

static void
discovered_dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p, (void)user;
    if (status < 0)
        weft_log(WEFT_LOG_DEBUG, "node", "msg=\"shared peer not reachable\" err=\"%s\"",
                 weft_strerror(status));
}

static void
use_list(node *n, struct xfer *x)
{
    const weft_peer_id *self = weft_host_peer_id(n->host);
    size_t i = 0, dialed = 0;
    while (i < x->len) {
        size_t e = i;
        while (e < x->len && x->buf[e] != '\n')
            e++;
        char line[WEFT_MA_TEXT_MAX];
        size_t l = e - i;
        if (l && l < sizeof line) {
            memcpy(line, x->buf + i, l);
            line[l] = 0;
            weft_multiaddr ma;
            weft_peer_id pid;
            struct sockaddr_storage sa;
            socklen_t salen;
            int has = 0;
            if (weft_ma_parse(line, &ma) == 0 &&
                weft_ma_to_sockaddr(&ma, &sa, &salen, &pid, &has) == 0 && has &&
                !weft_peer_id_equal(&pid, self)) {
                const node_peer_stat *st = node_stats_find(n, &pid);
                if ((!st || !st->connected) &&
                    node_stats_connected(n) + dialed < (size_t)n->cfg.mesh_max &&
                    weft_host_dial(n->host, &ma, discovered_dialed, NULL) == 0) {
                    dialed++;
                    weft_log(WEFT_LOG_DEBUG, "node", "msg=\"dialing shared peer\" addr=%s", line);
                }
            }
        }
        i = e + 1;
    }
}

static void
in_open(weft_stream *s, void *user)
{
    node *n = user;
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) {
        weft_stream_reset(s);
        return;
    }
    x->magic = XFER_MAGIC;
    x->n = n;
    weft_stream_set_user(s, x);
}

static void
in_data(weft_stream *s, void *user, const uint8_t *d, size_t len)
{
    struct xfer *x = user;
    if (!x || x->magic != XFER_MAGIC)
        return;
    if (x->len + len > sizeof x->buf) {
        x->overflow = 1; /* a list longer than any we send: ignore it */
        weft_stream_reset(s);
        return;
    }
    memcpy(x->buf + x->len, d, len);
    x->len += len;
}

static void
in_fin(weft_stream *s, void *user)
{
    struct xfer *x = user;
    if (x && x->magic == XFER_MAGIC && !x->overflow)
        use_list(x->n, x);
    WEFT_IGNORE(weft_stream_close(s));
}

static void
in_close(weft_stream *s, void *user, int reason)
{
    (void)s, (void)reason;
    struct xfer *x = user;
    if (x && x->magic == XFER_MAGIC) /* before on_open the user is the node */
        free(x);
}

static const weft_stream_handler in_h = {
    .on_open = in_open, .on_data = in_data, .on_fin = in_fin, .on_close = in_close};

int
node_discovery_start(node *n)
{
    return weft_host_handle(n->host, PEERS_PROTO, &in_h, n);
}
