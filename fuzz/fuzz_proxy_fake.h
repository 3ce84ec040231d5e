/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node pool of weft-proxy (proxy/src/pool.c) as the proxy fuzz targets
 * see it: recorders defined here, so pool.c (sockets, threads) is never
 * linked. They keep pool.c's contract (proxy.h): a publish is copied and
 * either refused at once (WEFT_ELIMIT, WEFT_ECLOSED, -ENOMEM: its
 * completion never runs) or queued (0), and then its completion runs
 * exactly once, later, as the pool thread runs it: with the node's
 * message id (1..128 lowercase hex digits), -ETIMEDOUT, or WEFT_EPROTO
 * (counted as node_refused, as pool.c counts it). fz_pool_complete is
 * that pool thread. Subscribed topics are remembered (so
 * px_pool_topic_assigned knows them); three nodes are reported, the
 * second unhealthy. Include from one file per program.
 */
#ifndef WEFT_FUZZ_PROXY_FAKE_H
#define WEFT_FUZZ_PROXY_FAKE_H

#include "fuzz_util.h"

#include <errno.h>

#include "proxy.h"
#include "weft/common.h"
#include "weft/svc_http.h"

/* ---- recorders for the collaborators ---------------------------------------------------- */

/* What the pool does with the next publish. */
enum {
    FZ_POOL_OK,       /* queued; completed with a message id */
    FZ_POOL_FULL,     /* refused: WEFT_ELIMIT */
    FZ_POOL_NO_NODE,  /* refused: WEFT_ECLOSED */
    FZ_POOL_NOMEM,    /* refused: -ENOMEM */
    FZ_POOL_TIMEOUT,  /* queued; completed with -ETIMEDOUT */
    FZ_POOL_REFUSED,  /* queued; the node refused it: WEFT_EPROTO */
    FZ_POOL_OUTCOMES, /* the number of outcomes */
};

static struct {
    size_t publishes, subscribes, controls;
    char topic[PX_TOPIC_MAX + 2];
    uint8_t *data;
    size_t len;
    int outcome;  /* FZ_POOL_* for publishes */
    int assigned; /* what the nodes say of a topic no client subscribed here: 1, 0, -1 */
    char id[PX_MSGID_MAX];
    /* the completion of the publish queued, until fz_pool_complete */
    px_pub_done done;
    void *user;
    int pending;
    size_t completed;
    int done_rc; /* what the completion was given */
    /* topics carried (px_pool_subscribe), as pool.c's pl->topics */
    char **topics;
    size_t ntopics;
} rec;

/* A fresh pool for one input: outcome and assigned as above, id_len the
 * length of the message id the node answers (1..128). */
static void
fz_pool_reset(int outcome, int assigned, size_t id_len)
{
    for (size_t i = 0; i < rec.ntopics; i++)
        free(rec.topics[i]);
    free(rec.topics);
    free(rec.data);
    memset(&rec, 0, sizeof rec);
    rec.outcome = outcome;
    rec.assigned = assigned;
    static const char hex[] = "0123456789abcdef";
    FZ_CHECK(id_len >= 1 && id_len < PX_MSGID_MAX);
    for (size_t i = 0; i < id_len; i++)
        rec.id[i] = hex[(i * 7 + id_len) % 16];
    rec.id[id_len] = 0;
}

static int
fz_pool_carries(const char *topic)
{
    for (size_t i = 0; i < rec.ntopics; i++)
        if (strcmp(rec.topics[i], topic) == 0)
            return 1;
    return 0;
}

int
px_pool_publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len, px_pub_done done,
                void *user)
{
    FZ_CHECK(pl != NULL && topic != NULL);
    FZ_CHECK(len == 0 || data != NULL);
    /* pool.c refuses the proxies' own topics here; the fronts must have
     * refused them before */
    FZ_CHECK(!px_topic_reserved(topic));
    FZ_CHECK(!rec.pending); /* one request in flight per input */
    rec.publishes++;
    snprintf(rec.topic, sizeof rec.topic, "%s", topic);
    free(rec.data);
    rec.data = fz_dup(data, len);
    rec.len = len;
    switch (rec.outcome) {
    case FZ_POOL_FULL: return WEFT_ELIMIT;
    case FZ_POOL_NO_NODE: return WEFT_ECLOSED;
    case FZ_POOL_NOMEM: return -ENOMEM;
    default: break;
    }
    rec.done = done;
    rec.user = user;
    rec.pending = 1;
    return 0;
}

/* The pool thread: the queued publish completes (once). */
static void
fz_pool_complete(proxy *p)
{
    if (!rec.pending)
        return;
    rec.pending = 0;
    rec.completed++;
    px_pub_done done = rec.done;
    rec.done = NULL;
    if (rec.outcome == FZ_POOL_TIMEOUT) {
        rec.done_rc = -ETIMEDOUT;
        if (done)
            done(rec.user, -ETIMEDOUT,
                 "no node acknowledged the publish within 10000 ms; it may still be delivered");
    } else if (rec.outcome == FZ_POOL_REFUSED) {
        rec.done_rc = WEFT_EPROTO;
        px_stats_publish_error(p, PX_PERR_NODE_REFUSED);
        if (done)
            done(rec.user, WEFT_EPROTO, "the node refused the publish");
    } else {
        rec.done_rc = 0;
        if (done)
            done(rec.user, 0, rec.id);
    }
}

int
px_pool_publish_control(px_pool *pl, const char *topic, const uint8_t *data, size_t len)
{
    FZ_CHECK(pl != NULL && topic != NULL && px_topic_reserved(topic));
    FZ_CHECK(len == 0 || data != NULL);
    rec.controls++;
    return 0;
}

int
px_pool_subscribe(px_pool *pl, const char *topic)
{
    FZ_CHECK(pl != NULL && topic != NULL && weft_text_ok(topic, PX_TOPIC_MAX));
    rec.subscribes++;
    if (fz_pool_carries(topic))
        return 0;
    if (rec.ntopics == PX_MAX_TOPICS)
        return WEFT_ELIMIT;
    char **nt = realloc(rec.topics, (rec.ntopics + 1) * sizeof *nt);
    FZ_CHECK(nt != NULL);
    rec.topics = nt;
    rec.topics[rec.ntopics] = strdup(topic);
    FZ_CHECK(rec.topics[rec.ntopics] != NULL);
    rec.ntopics++;
    return 0;
}

int
px_pool_topic_assigned(px_pool *pl, const char *topic)
{
    FZ_CHECK(pl != NULL && topic != NULL);
    return fz_pool_carries(topic) ? 1 : rec.assigned;
}

size_t
px_pool_connected(px_pool *pl)
{
    (void)pl;
    return 2;
}

size_t
px_pool_info(px_pool *pl, px_node_info *out, size_t max)
{
    (void)pl;
    size_t n = max < 3 ? max : 3;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].addr, sizeof out[i].addr, "127.0.0.1:%zu", 33212 + i);
        snprintf(out[i].p2p, sizeof out[i].p2p, "/ip4/127.0.0.1/tcp/7070/p2p/12D3KooWnode%zu", i);
        out[i].connected = 1;
        out[i].healthy = i != 1;
    }
    return n;
}

/* The proxy's own metrics (px_stats_init), for the nodes of the fake. */
static void
fz_proxy_metrics(proxy *p)
{
    p->cfg.metrics_series = 500;
    p->cfg.metrics_idle_ms = 900000;
    for (size_t i = 0; i < p->cfg.nnodes; i++)
        snprintf(p->cfg.nodes[i], sizeof p->cfg.nodes[i], "127.0.0.1:%zu", 33212 + i);
    FZ_CHECK(px_stats_init(p) == 0);
}

static inline int
fz_is_hex_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n >= PX_MSGID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

#endif /* WEFT_FUZZ_PROXY_FAKE_H */
