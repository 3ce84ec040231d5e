/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P side of weft-node, on the event-loop thread: the libp2p host on
 * the mode's port, the topic mesh (RLNC coded mesh in optimum mode, plain
 * GossipSub otherwise) with the OPTIMUM_* parameters, bootstrap peers
 * dialled with exponential backoff and redialled whenever their connection
 * drops, and the topic subscriptions of sidecar clients (a topic is joined
 * while at least one client wants it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node.h"
#include "weft/log.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define DIAL_BACKOFF_MIN (500 * MS)
#define DIAL_BACKOFF_MAX (30 * SEC)
#define LAG_PERIOD (100 * MS)

void
node_hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- router callbacks ------------------------------------------------------------- */

static void
on_deliver(void *user, const weft_ps_msg *m)
{
    node *n = user;
    weft_metric_inc(n->m.delivered);
    node_sidecar_deliver(n, m);
}

static void
on_trace(void *user, const weft_ps_trace *ev)
{
    node *n = user;
    node_stats_trace(n, ev);
    node_sidecar_trace(n, ev);
}

/* ---- bootstrap dialing --------------------------------------------------------------- */

static void dial_start(node_dialer *d);

static void
dial_retry(weft_timer *t, void *user)
{
    (void)t;
    dial_start(user);
}

static void
dial_schedule(node_dialer *d, int64_t wait)
{
    node *n = d->n;
    if (n->stopping)
        return;
    if (weft_timer_arm(n->loop, &d->retry, weft_loop_now(n->loop) + wait) < 0)
        weft_log(WEFT_LOG_ERROR, "node", "msg=\"cannot schedule a redial\" peer=%s", d->text);
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p;
    node_dialer *d = user;
    d->dialing = 0;
    if (status < 0) {
        weft_metric_inc(d->n->m.bootstrap_failures);
        int64_t wait = DIAL_BACKOFF_MIN << (d->attempts < 7 ? d->attempts - 1 : 6);
        if (wait > DIAL_BACKOFF_MAX)
            wait = DIAL_BACKOFF_MAX;
        weft_log(d->attempts <= 3 ? WEFT_LOG_INFO : WEFT_LOG_WARN, "node",
                 "msg=\"bootstrap dial failed\" peer=%s attempt=%d err=\"%s\" retry_ms=%lld",
                 d->text, d->attempts, weft_strerror(status), (long long)(wait / MS));
        dial_schedule(d, wait);
        return;
    }
    d->connected = 1;
    d->attempts = 0;
    weft_log(WEFT_LOG_INFO, "node", "msg=\"bootstrap peer connected\" peer=%s", d->text);
}

static void
dial_start(node_dialer *d)
{
    if (d->connected || d->dialing || d->n->stopping)
        return;
    d->attempts++;
    d->dialing = 1;
    weft_metric_inc(d->n->m.bootstrap_dials);
    int rc = weft_host_dial(d->n->host, &d->ma, dialed, d);
    if (rc < 0)
        dialed(d->n->host, NULL, rc, d);
}

/* ---- host callbacks ---------------------------------------------------------------------- */

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h;
    node *n = user;
    if (n->psh)
        weft_ps_host_on_peer(n->psh, p, up);
    node_dht_on_peer(n, p, up);
    const weft_peer_id *id = weft_peer_get_id(p);
    node_stats_peer(n, p, up);
    char text[WEFT_PEER_ID_TEXT];
    if (weft_peer_id_to_text(id, text, sizeof text) < 0)
        snprintf(text, sizeof text, "?");
    weft_log(WEFT_LOG_INFO, "node", "msg=\"peer %s\" peer=%s outbound=%d", up ? "up" : "down", text,
             weft_peer_is_outbound(p));
    for (size_t i = 0; i < n->ndialers; i++) {
        node_dialer *d = &n->dialers[i];
        if (!weft_peer_id_equal(&d->peer, id))
            continue;
        if (up) {
            d->connected = 1;
        } else if (d->connected) {
            d->connected = 0;
            d->attempts = 0;
            dial_schedule(d, DIAL_BACKOFF_MIN);
        }
    }
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)h;
    node *n = user;
    if (n->psh)
        weft_ps_host_on_identify(n->psh, p, id);
    node_discovery_on_identify(n, p, id);
    node_dht_on_identify(n, p, id);
}

/* ---- event-loop lag probe ------------------------------------------------------------------ */

static void
lag_tick(weft_timer *t, void *user)
{
    node *n = user;
    int64_t now = weft_loop_now(n->loop);
    double lag = (double)(now - n->tick_due) / 1e9;
    weft_metric_observe(n->m.loop_lag, lag > 0 ? lag : 0);
    n->tick_due = now + LAG_PERIOD;
    WEFT_IGNORE(weft_timer_arm(n->loop, t, n->tick_due));
}

/* ---- our addresses ------------------------------------------------------------------------ */

static void
add_addr(node *n, const char *ip, int port)
{
    if (n->naddrs == NODE_MAX_LISTEN)
        return;
    char text[160];
    snprintf(text, sizeof text, "/%s/%s/tcp/%d", strchr(ip, ':') ? "ip6" : "ip4", ip, port);
    weft_multiaddr ma;
    if (weft_ma_parse(text, &ma) < 0 || weft_ma_append_p2p(&ma, weft_host_peer_id(n->host)) < 0)
        return;
    char *out = n->addrs[n->naddrs];
    if (weft_ma_to_text(&ma, out, sizeof n->addrs[0]) < 0)
        return;
    for (size_t i = 0; i < n->naddrs; i++)
        if (!strcmp(n->addrs[i], out))
            return;
    n->naddrs++;
}

/* The addresses clients and the API report: WEFT_PUBLIC_IP first, then the
 * bound address, or for a wildcard bind every interface's IPv4 address
 * (non-loopback first), as libp2p nodes list theirs. */
static void
node_listen_addrs(node *n, const weft_multiaddr *bound, int port)
{
    if (n->cfg.public_ip)
        add_addr(n, n->cfg.public_ip, port);
    int wildcard = !strcmp(n->cfg.listen_ip, "0.0.0.0") || !strcmp(n->cfg.listen_ip, "::");
    if (!wildcard) {
        if (n->naddrs < NODE_MAX_LISTEN &&
            weft_ma_to_text(bound, n->addrs[n->naddrs], sizeof n->addrs[0]) >= 0)
            n->naddrs++;
        return;
    }
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (int pass = 0; pass < 2; pass++)
            for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
                    continue;
                int loop = (i->ifa_flags & IFF_LOOPBACK) != 0;
                if (loop != pass)
                    continue;
                char ip[INET_ADDRSTRLEN];
                const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
                if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip))
                    add_addr(n, ip, port);
            }
        freeifaddrs(ifs);
    }
    if (!n->naddrs && weft_ma_to_text(bound, n->addrs[0], sizeof n->addrs[0]) >= 0)
        n->naddrs = 1;
}

/* ---- start / stop ----------------------------------------------------------------------- */

int
node_p2p_start(node *n)
{
    int err = 0;
    weft_loop_config lc = {.kind = n->cfg.transport};
    n->loop = weft_loop_new(&lc, &err);
    if (!n->loop) {
        fprintf(stderr, "weft-node: event loop: %s\n", weft_strerror(err));
        return err;
    }
    /* Initialised before anything can fail: node_p2p_stop disarms it. */
    weft_timer_init(&n->tick, lag_tick, n);
    n->bridge = weft_bridge_new(n->loop, 0, &err);
    if (!n->bridge) {
        fprintf(stderr, "weft-node: loop bridge: %s\n", weft_strerror(err));
        return err;
    }
    weft_host_config hc;
    weft_host_config_default(&hc);
    hc.identity = n->identity;
    hc.agent_version = "weft-node/" WEFT_VERSION;
    hc.max_conns = (uint32_t)n->cfg.max_connections;
    hc.handshake_timeout_ns = (int64_t)n->cfg.connection_timeout * 1000000000LL;
    hc.on_peer = on_peer;
    hc.on_identify = on_identify;
    hc.user = n;
    n->host = weft_host_new(n->loop, &hc, &err);
    if (!n->host) {
        fprintf(stderr, "weft-node: host: %s\n", weft_strerror(err));
        return err;
    }
    char text[128];
    int port = node_config_p2p_port(&n->cfg);
    snprintf(text, sizeof text, "/%s/%s/tcp/%d", strchr(n->cfg.listen_ip, ':') ? "ip6" : "ip4",
             n->cfg.listen_ip, port);
    weft_multiaddr ma, bound;
    if (weft_ma_parse(text, &ma) < 0 || (err = weft_host_listen(n->host, &ma, &bound)) < 0) {
        fprintf(stderr, "weft-node: listen on %s (%s_PORT): %s\n", text,
                n->cfg.mode == NODE_GOSSIPSUB ? "GOSSIPSUB" : "OPTIMUM",
                weft_strerror(err ? err : WEFT_EINVAL));
        return err ? err : WEFT_EINVAL;
    }
    node_listen_addrs(n, &bound, port);

    weft_ps_config pc;
    weft_ps_config_default(&pc, n->cfg.mode == NODE_GOSSIPSUB ? WEFT_PS_GOSSIPSUB : WEFT_PS_RLNC);
    pc.identity = n->identity;
    /* A fresh seed per start: seqnos (part of GossipSub message ids) must
     * not repeat when a node restarts with the same key, or its peers'
     * seen caches would drop its new messages as old ones. */
    randombytes_buf(&pc.seed, sizeof pc.seed);
    pc.seed |= 1;
    pc.io.deliver = on_deliver;
    pc.io.trace = on_trace;
    pc.io.user = n;
    pc.D = (unsigned)n->cfg.mesh_target;
    pc.D_lo = (unsigned)n->cfg.mesh_min;
    pc.D_hi = (unsigned)n->cfg.mesh_max;
    if (pc.D_out >= pc.D_lo)
        pc.D_out = pc.D_lo ? pc.D_lo - 1 : 0;
    if (pc.D_out > pc.D / 2)
        pc.D_out = pc.D / 2;
    if (pc.D_score > pc.D)
        pc.D_score = pc.D;
    pc.heartbeat_ns = 700 * MS;
    pc.idontwant = n->cfg.gossipsub_idontwant;
    pc.mcache_len = 6;
    pc.mcache_gossip = 3;
    pc.max_msg_size = (size_t)node_config_max_msg(&n->cfg);
    pc.max_rpc_size = 0; /* max_msg_size + framing */
    pc.rlnc_k = (unsigned)n->cfg.shard_factor;
    pc.rlnc_mult = n->cfg.shard_mult;
    pc.rlnc_threshold = n->cfg.threshold;
    /* A devnet publishes hundreds of messages a second round-robin: room for
     * many generations in flight per peer, memory still bounded by max_mem. */
    pc.rlnc_max_partial = 2048;
    pc.rlnc_max_partial_per_peer = 512;
    pc.rlnc_max_mem = (size_t)512 << 20;
    n->psh = weft_ps_host_new(n->host, &pc, &err);
    if (!n->psh) {
        fprintf(stderr, "weft-node: topic mesh: %s\n", weft_strerror(err));
        return err;
    }
    n->ps = weft_ps_host_router(n->psh);
    if ((err = node_discovery_start(n)) < 0) {
        fprintf(stderr, "weft-node: peer sharing: %s\n", weft_strerror(err));
        return err;
    }
    if ((err = node_dht_start(n)) < 0) {
        fprintf(stderr, "weft-node: DHT (WEFT_KAD): %s\n", weft_strerror(err));
        return err;
    }
    /* Room for bursts of 1 MiB messages towards a slow peer before RPCs
     * are dropped (counted as rpc_send_failed; repair then recovers). */
    weft_ps_host_set_queue_cap(n->psh, (size_t)128 << 20);

    n->tick_due = weft_loop_now(n->loop) + LAG_PERIOD;
    WEFT_IGNORE(weft_timer_arm(n->loop, &n->tick, n->tick_due));

    const weft_peer_id *self = weft_host_peer_id(n->host);
    for (size_t i = 0; i < n->cfg.nbootstrap; i++) {
        node_dialer *d = &n->dialers[n->ndialers];
        memset(d, 0, sizeof *d);
        d->n = n;
        d->ma = n->cfg.bootstrap[i];
        int has_peer = 0;
        if (weft_ma_resolve(&d->ma, 0, NULL, NULL, &d->peer, &has_peer, NULL, 0) < 0 || !has_peer)
            continue; /* validated at load */
        if (weft_peer_id_equal(&d->peer, self))
            continue; /* node 1 may list itself */
        if (weft_ma_to_text(&d->ma, d->text, sizeof d->text) < 0)
            snprintf(d->text, sizeof d->text, "bootstrap #%zu", i + 1);
        weft_timer_init(&d->retry, dial_retry, d);
        n->ndialers++;
        dial_start(d);
    }
    return 0;
}

void
node_p2p_stop(node *n)
{
    /* Freeing the host ends dials in flight: their callbacks must not
     * schedule redials on a loop about to go. */
    n->stopping = 1;
    for (size_t i = 0; i < n->ndialers; i++)
        weft_timer_disarm(n->loop, &n->dialers[i].retry);
    if (n->loop)
        weft_timer_disarm(n->loop, &n->tick);
    node_dht_stop(n);
    if (n->psh)
        weft_ps_host_free(n->psh);
    n->psh = NULL;
    n->ps = NULL;
    if (n->host)
        weft_host_free(n->host);
    n->host = NULL;
    node_dht_free(n);
    if (n->bridge)
        weft_bridge_free(n->bridge);
    n->bridge = NULL;
    if (n->loop)
        weft_loop_free(n->loop);
    n->loop = NULL;
}

/* ---- subscriptions and publishing -------------------------------------------------------- */

static int
client_has(const sc_client *c, const char *topic)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (!strcmp(c->topics[i], topic))
            return (int)i;
    return -1;
}

int
node_client_subscribe(node *n, sc_client *c, const char *topic)
{
    if (client_has(c, topic) >= 0)
        return 0;
    if (c->ntopics == NODE_MAX_CLIENT_TOPICS)
        return WEFT_ELIMIT;
    if (c->ntopics == c->ctopics) {
        size_t nc = c->ctopics ? 2 * c->ctopics : 8;
        char **v = realloc(c->topics, nc * sizeof *v);
        if (!v)
            return -ENOMEM;
        c->topics = v;
        c->ctopics = nc;
    }
    char *dup = strdup(topic);
    if (!dup)
        return -ENOMEM;
    /* The client holds the topic before the router joins it, so the JOIN
     * trace (and the announcements that follow) reach this client too. */
    c->topics[c->ntopics++] = dup;
    if (!weft_ps_subscribed(n->ps, topic)) {
        int rc = weft_ps_subscribe(n->ps, topic);
        if (rc < 0) {
            free(c->topics[--c->ntopics]);
            return rc;
        }
        static weft_log_limit lim; /* a client picks how many topics: a budget of lines */
        uint64_t sup = 0;
        if (weft_log_allow(&lim, 50, &sup))
            weft_log(WEFT_LOG_INFO, "node",
                     "msg=\"joined topic\" topic=\"%s\" suppressed_before=%llu", topic,
                     (unsigned long long)sup);
    }
    return 0;
}

void
node_client_unsubscribe(node *n, sc_client *c, const char *topic)
{
    int i = client_has(c, topic);
    if (i < 0)
        return;
    free(c->topics[i]);
    c->topics[i] = c->topics[--c->ntopics];
    for (sc_client *o = n->clients; o; o = o->next)
        if (client_has(o, topic) >= 0)
            return;
    WEFT_IGNORE(weft_ps_unsubscribe(n->ps, topic));
    static weft_log_limit lim;
    uint64_t sup = 0;
    if (weft_log_allow(&lim, 50, &sup))
        weft_log(WEFT_LOG_INFO, "node", "msg=\"left topic\" topic=\"%s\" suppressed_before=%llu",
                 topic, (unsigned long long)sup);
}

void
node_client_gone(node *n, sc_client *c)
{
    while (c->ntopics) {
        char *t = strdup(c->topics[c->ntopics - 1]);
        if (!t) { /* out of memory: leave the topic joined rather than crash */
            free(c->topics[--c->ntopics]);
            continue;
        }
        node_client_unsubscribe(n, c, t);
        free(t);
    }
}

int
node_publish(node *n, const char *topic, const uint8_t *data, size_t len, char *idhex)
{
    uint8_t id[64];
    size_t idlen = 0;
    int rc = weft_ps_publish(n->ps, topic, data, len, id, &idlen);
    if (rc < 0)
        return rc;
    if (idlen > sizeof id)
        idlen = sizeof id;
    node_hex(id, idlen, idhex);
    /* Clients of this node subscribed to the topic get it too, as from a
     * libp2p pubsub node: the router never hands us our own message. */
    weft_ps_msg m = {
        .topic = {(const uint8_t *)topic, strlen(topic)},
        .data = {data, len},
        .id = {id, idlen},
        .from = weft_host_peer_id(n->host),
    };
    node_sidecar_deliver(n, &m);
    return 0;
}
