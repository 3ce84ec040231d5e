/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node pool: one ListenCommands stream per node sidecar in P2P_NODES.
 *
 * Per node a receiver thread owns the connection (channel, stream start,
 * reconnect with backoff 0.25 s doubling to 10 s) and reads: deliveries go
 * to the engine, publish replies retire the oldest unacknowledged publish.
 * A sender thread is the stream's only writer (the client glue allows one
 * sender and one receiver): on a new stream it subscribes every topic the
 * proxy's clients want, then new topics as they come, then queued
 * publishes. A publish that was sent but not acknowledged when the stream
 * broke moves to another node (up to 3 tries): at-least-once towards the
 * mesh, which de-duplicates nothing for us, so the count is kept small.
 * Each publish may carry a completion: it runs exactly once, with the
 * message id from the node's reply (the mesh id subscribers get), or with
 * the reason it failed (refused, lost after its tries, pool stopped).
 * Replies retire publishes in order: the sidecar answers a stream's
 * publishes in the order they came.
 *
 * Health: every 5 s a Health call per connected node; 3 failures in a row
 * (or a broken stream) open the node's breaker for 10 s, during which it
 * gets no publishes; the next good Health closes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "p2p_stream.pb-c.h"
#include "proxy.h"
#include "weft/log.h"

#define Q_CAP 16384 /* queued publishes per node */
#define MAX_TRIES 3
#define HEALTH_MS 5000
#define LISTEN "/proto.CommandStream/ListenCommands"

struct pub {
    char *topic;
    uint8_t *data;
    size_t len;
    int tries;
    px_pub_done done; /* may be NULL */
    void *user;
    int64_t deadline; /* monotonic ms: done runs with -ETIMEDOUT past it */
};

struct px_node {
    px_pool *pl;
    int idx;
    char addr[160];
    weft_grpc_channel *ch;
    weft_grpc_stream *st; /* current stream (mu) */
    uint64_t gen;         /* stream generation (mu) */
    pthread_t rx, tx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pub *q; /* ring of waiting publishes (mu) */
    size_t qhead, qlen;
    struct pub *sent; /* FIFO of sent, unacknowledged (mu) */
    size_t shead, slen;
    int writing; /* the sender is inside a write on st (mu) */
    int connected;
    px_breaker br;
    char country[64], country_iso[8], p2p[256], mode[16];
};

struct px_pool {
    proxy *p;
    px_node nodes[PX_MAX_NODES];
    size_t n;
    pthread_mutex_t tmu; /* topics */
    char **topics;
    size_t ntopics, ctopics;
    uint64_t topics_version;
    struct {
        char topic[PX_TOPIC_MAX + 1];
        int64_t until; /* monotonic ms */
    } remote[64];      /* topics nodes listed lately (tmu) */
    size_t remote_next;
    atomic_uint rr;
    atomic_int stopping;
    pthread_t ticker;
};

static void
pub_free(struct pub *b)
{
    free(b->topic);
    free(b->data);
}

/* The end of a publish: its completion runs (once), then it is freed. */
static void
pub_finish(struct pub *b, int rc, const char *text)
{
    if (b->done)
        b->done(b->user, rc, text);
    b->done = NULL;
    pub_free(b);
}

/* The message id of a node's publish reply {"status":"published",...,
 * "message_id":hex} into id (PX_MSGID_MAX); 0, or -1 when the reply is not
 * a success or has no well-formed id (1..128 hex digits). */
static int
reply_id(const uint8_t *p, size_t n, char id[PX_MSGID_MAX])
{
    cJSON *o = cJSON_ParseWithLength((const char *)p, n);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(o, "message_id");
    int ok = cJSON_IsString(st) && !strcmp(st->valuestring, "published") && cJSON_IsString(mid);
    size_t len = ok ? strlen(mid->valuestring) : 0;
    ok = ok && len >= 1 && len < PX_MSGID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = strchr("0123456789abcdef", mid->valuestring[i]) != NULL;
    if (ok)
        memcpy(id, mid->valuestring, len + 1);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

/* ---- encoding ------------------------------------------------------------------ */

/* topic and data are not const: protobuf-c's message fields are plain
 * pointers (the packer only reads them); callers pass their own copies. */
static int
send_request(weft_grpc_stream *st, int command, char *topic, uint8_t *data, size_t len)
{
    Proto__Request r;
    proto__request__init(&r);
    r.command = command;
    r.topic = topic;
    r.data.data = data;
    r.data.len = len;
    size_t n = proto__request__get_packed_size(&r);
    uint8_t small[1024];
    uint8_t *buf = n <= sizeof small ? small : malloc(n);
    if (!buf)
        return -ENOMEM;
    proto__request__pack(&r, buf);
    int rc = weft_grpc_stream_send(st, buf, n, 10000);
    if (buf != small)
        free(buf);
    return rc;
}

/* ---- sender ------------------------------------------------------------------------ */

static void *
tx_main(void *arg)
{
    px_node *nd = arg;
    px_pool *pl = nd->pl;
    uint64_t gen_seen = 0, topics_sent = 0;
    size_t ntopics_sent = 0;
    pthread_mutex_lock(&nd->mu);
    while (!atomic_load(&pl->stopping)) {
        if (!nd->connected || !nd->st) {
            pthread_cond_wait(&nd->cv, &nd->mu);
            continue;
        }
        weft_grpc_stream *st = nd->st;
        uint64_t gen = nd->gen;
        if (gen != gen_seen) { /* a new stream: every topic again */
            gen_seen = gen;
            topics_sent = 0;
            ntopics_sent = 0;
        }
        /* Topics first, so deliveries for them start flowing. */
        pthread_mutex_lock(&pl->tmu);
        uint64_t ver = pl->topics_version;
        char *todo[64];
        size_t k = 0;
        while (ver != topics_sent && ntopics_sent < pl->ntopics && k < 64)
            todo[k++] = strdup(pl->topics[ntopics_sent++]);
        if (ntopics_sent == pl->ntopics)
            topics_sent = ver;
        pthread_mutex_unlock(&pl->tmu);
        if (k) {
            nd->writing = 1;
            pthread_mutex_unlock(&nd->mu);
            for (size_t i = 0; i < k; i++) {
                static _Thread_local weft_log_limit lim; /* one line per topic: a budget */
                uint64_t sup = 0;
                if (todo[i] && send_request(st, 2, todo[i], NULL, 0) < 0 &&
                    weft_log_allow(&lim, 20, &sup))
                    weft_log(WEFT_LOG_WARN, "proxy",
                             "msg=\"subscribe failed\" node=%s topic=\"%s\" suppressed_before=%llu",
                             nd->addr, todo[i], (unsigned long long)sup);
                free(todo[i]);
            }
            pthread_mutex_lock(&nd->mu);
            nd->writing = 0;
            pthread_cond_broadcast(&nd->cv);
            continue;
        }
        if (!nd->qlen) {
            pthread_mutex_lock(&pl->tmu);
            int more = pl->topics_version != topics_sent;
            pthread_mutex_unlock(&pl->tmu);
            if (!more)
                pthread_cond_wait(&nd->cv, &nd->mu);
            continue;
        }
        /* One publish: move it to the sent FIFO before writing, so a reply
         * racing the write finds it. */
        struct pub b = nd->q[nd->qhead];
        nd->qhead = (nd->qhead + 1) % Q_CAP;
        nd->qlen--;
        nd->sent[(nd->shead + nd->slen) % Q_CAP] = b;
        nd->slen++;
        nd->writing = 1;
        pthread_mutex_unlock(&nd->mu);
        int rc = send_request(st, 1, b.topic, b.data, b.len);
        pthread_mutex_lock(&nd->mu);
        nd->writing = 0;
        pthread_cond_broadcast(&nd->cv);
        if (rc < 0 && nd->st == st) {
            weft_log(WEFT_LOG_WARN, "proxy", "msg=\"publish write failed\" node=%s err=\"%s\"",
                     nd->addr, weft_strerror(rc));
            weft_grpc_stream_cancel(st); /* the receiver sees it and fails over */
        }
    }
    pthread_mutex_unlock(&nd->mu);
    return NULL;
}

/* ---- failover -------------------------------------------------------------------------- */

static int node_usable(px_node *nd, int64_t now);

/* Queue b on a usable node other than `not` (or any, not < 0). Takes b. */
static int
enqueue(px_pool *pl, struct pub *b, int not )
{
    int64_t now = weft_mono_ms();
    unsigned start = atomic_fetch_add(&pl->rr, 1);
    int usable = 0;
    for (size_t i = 0; i < pl->n; i++) {
        px_node *nd = &pl->nodes[(start + i) % pl->n];
        if (nd->idx == not )
            continue;
        pthread_mutex_lock(&nd->mu);
        int u = node_usable(nd, now);
        usable |= u;
        if (u && nd->qlen < Q_CAP && nd->qlen + nd->slen < Q_CAP) {
            nd->q[(nd->qhead + nd->qlen) % Q_CAP] = *b;
            nd->qlen++;
            pthread_cond_broadcast(&nd->cv);
            pthread_mutex_unlock(&nd->mu);
            return 0;
        }
        pthread_mutex_unlock(&nd->mu);
    }
    return usable ? WEFT_ELIMIT : WEFT_ECLOSED;
}

/* The stream of nd broke: its waiting and unacknowledged publishes go to
 * other nodes. Caller holds nothing. */
static void
fail_over(px_node *nd)
{
    px_pool *pl = nd->pl;
    struct pub moved[256];
    for (;;) {
        size_t k = 0;
        pthread_mutex_lock(&nd->mu);
        while (nd->slen && k < 256) {
            moved[k++] = nd->sent[nd->shead];
            nd->shead = (nd->shead + 1) % Q_CAP;
            nd->slen--;
        }
        while (nd->qlen && k < 256) {
            moved[k++] = nd->q[nd->qhead];
            nd->qhead = (nd->qhead + 1) % Q_CAP;
            nd->qlen--;
        }
        pthread_mutex_unlock(&nd->mu);
        if (!k)
            return;
        for (size_t i = 0; i < k; i++) {
            if (++moved[i].tries > MAX_TRIES || enqueue(pl, &moved[i], nd->idx) < 0) {
                px_stats_publish_error(pl->p, PX_PERR_LOST);
                static _Thread_local weft_log_limit lim;
                uint64_t sup = 0;
                if (weft_log_allow(&lim, 20, &sup))
                    weft_log(WEFT_LOG_WARN, "proxy",
                             "msg=\"publish lost: no node took it\" "
                             "topic=\"%s\" tries=%d suppressed_before=%llu",
                             moved[i].topic, moved[i].tries, (unsigned long long)sup);
                pub_finish(&moved[i], WEFT_ECLOSED, "no node acknowledged the publish");
            }
        }
    }
}

/* ---- receiver ------------------------------------------------------------------------------ */

static void
on_response(px_node *nd, const uint8_t *p, size_t n)
{
    px_pool *pl = nd->pl;
    Proto__Response *r = proto__response__unpack(NULL, n, p);
    if (!r)
        return;
    if (r->command == PROTO__RESPONSE_TYPE__Message) {
        px_stats_node_received(pl->p, nd->idx);
        px_engine_on_delivery(pl->p->engine, nd->idx, (const char *)r->data.data, r->data.len);
    } else if (r->command == PROTO__RESPONSE_TYPE__Unknown && r->data.len &&
               memmem(r->data.data, r->data.len, "\"command\":\"subscribe\"", 22) != NULL) {
        /* A subscription the node refused (px_pool_subscribe keeps within its
         * limit, so this is the node's own trouble): say so, count it. */
        weft_metric_inc(pl->p->m.subscribe_refused);
        weft_log(WEFT_LOG_WARN, "proxy", "msg=\"node refused a subscription\" node=%s reply=%.*s",
                 nd->addr, (int)(r->data.len > 300 ? 300 : r->data.len),
                 (const char *)r->data.data);
    } else if (r->command == PROTO__RESPONSE_TYPE__Unknown) {
        /* A publish reply: retire the oldest sent publish. */
        char id[PX_MSGID_MAX];
        int ok = reply_id(r->data.data, r->data.len, id) == 0;
        pthread_mutex_lock(&nd->mu);
        if (nd->slen) {
            struct pub b = nd->sent[nd->shead];
            nd->shead = (nd->shead + 1) % Q_CAP;
            nd->slen--;
            pthread_mutex_unlock(&nd->mu);
            int busy = !ok && memmem(r->data.data, r->data.len, "overloaded", 10) != NULL;
            if (busy && ++b.tries <= MAX_TRIES && enqueue(pl, &b, nd->idx) == 0) {
                proto__response__free_unpacked(r, NULL); /* moved to another node */
                return;
            }
            if (!ok) {
                px_stats_publish_error(pl->p, PX_PERR_NODE_REFUSED);
                weft_log(WEFT_LOG_WARN, "proxy",
                         "msg=\"node refused a publish\" node=%s "
                         "reply=%.*s",
                         nd->addr, (int)(r->data.len > 200 ? 200 : r->data.len),
                         (const char *)r->data.data);
                pub_finish(&b, WEFT_EPROTO, "the node refused the publish");
            } else {
                pub_finish(&b, 0, id);
            }
        } else {
            pthread_mutex_unlock(&nd->mu);
        }
    }
    proto__response__free_unpacked(r, NULL);
}

static void *
rx_main(void *arg)
{
    px_node *nd = arg;
    px_pool *pl = nd->pl;
    int64_t backoff = 250;
    while (!atomic_load(&pl->stopping)) {
        int err = 0;
        if (!nd->ch && !(nd->ch = weft_grpc_channel_new(nd->addr, &err))) {
            sleep(1); /* usleep takes under a second (POSIX) */
            continue;
        }
        weft_grpc_stream *st = weft_grpc_stream_start(nd->ch, LISTEN, NULL, 0, -1, 0, &err);
        if (st && weft_grpc_channel_wait_ready(nd->ch, 3000) < 0) {
            weft_grpc_stream_cancel(st);
            weft_grpc_stream_free(st);
            st = NULL;
        }
        if (!st) {
            for (int64_t w = 0; w < backoff && !atomic_load(&pl->stopping); w += 50)
                usleep(50000);
            backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
            continue;
        }
        pthread_mutex_lock(&nd->mu);
        nd->st = st;
        nd->gen++;
        nd->connected = 1;
        px_breaker_health(&nd->br, 1, 0);
        pthread_cond_broadcast(&nd->cv);
        pthread_mutex_unlock(&nd->mu);
        weft_log(WEFT_LOG_INFO, "proxy", "msg=\"node connected\" node=%s", nd->addr);
        backoff = 250;
        for (;;) {
            uint8_t *msg = NULL;
            size_t len = 0;
            int rc = weft_grpc_stream_recv(st, &msg, &len, 500);
            if (rc == -ETIMEDOUT) {
                if (atomic_load(&pl->stopping))
                    break;
                continue;
            }
            if (rc <= 0) /* 0: the end of the stream */
                break;
            on_response(nd, msg, len);
            free(msg);
        }
        pthread_mutex_lock(&nd->mu);
        nd->connected = 0;
        nd->st = NULL;
        pthread_mutex_unlock(&nd->mu);
        const weft_grpc_status *gs = weft_grpc_stream_status(st);
        if (!atomic_load(&pl->stopping))
            weft_log(WEFT_LOG_WARN, "proxy",
                     "msg=\"node stream ended\" node=%s status=%s "
                     "detail=\"%s\"",
                     nd->addr, gs ? weft_grpc_status_name(gs->code) : "?", gs ? gs->details : "");
        weft_grpc_stream_cancel(st);
        /* A write in progress returns once the call is cancelled; wait for
         * it before the stream goes. */
        pthread_mutex_lock(&nd->mu);
        while (nd->writing)
            pthread_cond_wait(&nd->cv, &nd->mu);
        pthread_mutex_unlock(&nd->mu);
        weft_grpc_stream_free(st);
        fail_over(nd);
    }
    return NULL;
}

/* ---- health and breaker ------------------------------------------------------------------ */

static int
node_usable(px_node *nd, int64_t now)
{
    if (!nd->connected)
        return 0;
    return px_breaker_usable(&nd->br, now);
}

int
px_breaker_usable(px_breaker *b, int64_t now)
{
    if (b->open && now >= b->until)
        b->open = 0; /* half-open: one more failed check opens it again */
    return !b->open;
}

int
px_breaker_health(px_breaker *b, int ok, int64_t now)
{
    if (ok) {
        b->fails = 0;
        b->open = 0;
        return 0;
    }
    if (++b->fails >= PX_BREAKER_FAILS && !b->open) {
        b->open = 1;
        b->until = now + PX_BREAKER_MS;
        return 1;
    }
    return 0;
}

static void
check_health(px_node *nd)
{
    uint8_t req[1] = {0};
    uint8_t *resp = NULL;
    size_t rlen = 0;
    weft_grpc_status gs;
    int rc = weft_grpc_unary(nd->ch, "/proto.CommandStream/Health", NULL, 0, req, 0, 2000, &resp,
                             &rlen, &gs);
    Proto__HealthResponse *h = rc == 0 ? proto__health_response__unpack(NULL, rlen, resp) : NULL;
    free(resp);
    pthread_mutex_lock(&nd->mu);
    if (px_breaker_health(&nd->br, h && h->status, weft_mono_ms()))
        weft_log(WEFT_LOG_WARN, "proxy", "msg=\"node unhealthy: breaker open\" node=%s", nd->addr);
    if (h && h->status) {
        snprintf(nd->country, sizeof nd->country, "%s", h->country ? h->country : "");
        snprintf(nd->country_iso, sizeof nd->country_iso, "%s",
                 h->country_iso ? h->country_iso : "");
        snprintf(nd->p2p, sizeof nd->p2p, "%s", h->p2paddress ? h->p2paddress : "");
        snprintf(nd->mode, sizeof nd->mode, "%s", h->nodemode ? h->nodemode : "");
    }
    pthread_mutex_unlock(&nd->mu);
    if (h)
        proto__health_response__free_unpacked(h, NULL);
}

/* Completions past their deadline run now with -ETIMEDOUT; the publish
 * itself stays where it is (queued, or sent and paired with its reply). */
static void
expire_completions(px_pool *pl, int64_t now)
{
    for (size_t i = 0; i < pl->n; i++) {
        px_node *nd = &pl->nodes[i];
        struct {
            px_pub_done done;
            void *user;
        } late[64];
        size_t k = 0;
        pthread_mutex_lock(&nd->mu);
        for (int which = 0; which < 2; which++) {
            struct pub *ring = which ? nd->sent : nd->q;
            size_t head = which ? nd->shead : nd->qhead, len = which ? nd->slen : nd->qlen;
            for (size_t j = 0; j < len && k < 64; j++) {
                struct pub *b = &ring[(head + j) % Q_CAP];
                if (b->done && now >= b->deadline) {
                    late[k].done = b->done;
                    late[k++].user = b->user;
                    b->done = NULL;
                }
            }
        }
        pthread_mutex_unlock(&nd->mu);
        char why[128];
        snprintf(why, sizeof why,
                 "no node acknowledged the publish within %d ms; it may still be delivered",
                 PX_PUBLISH_WAIT_MS);
        for (size_t j = 0; j < k; j++)
            late[j].done(late[j].user, -ETIMEDOUT, why);
    }
}

static void *
ticker_main(void *arg)
{
    px_pool *pl = arg;
    int64_t next_health = 0;
    while (!atomic_load(&pl->stopping)) {
        int64_t now = weft_mono_ms();
        px_engine_tick(pl->p->engine, now);
        expire_completions(pl, now);
        size_t up = 0;
        for (size_t i = 0; i < pl->n; i++)
            up += pl->nodes[i].connected != 0;
        weft_metric_set(pl->p->m.nodes_connected, (double)up);
        if (now >= next_health) {
            next_health = now + HEALTH_MS;
            for (size_t i = 0; i < pl->n && !atomic_load(&pl->stopping); i++)
                if (pl->nodes[i].connected && pl->nodes[i].ch)
                    check_health(&pl->nodes[i]);
        }
        usleep(50000);
    }
    return NULL;
}

/* ---- the pool ------------------------------------------------------------------------------- */

px_pool *
px_pool_start(proxy *p, int *err)
{
    px_pool *pl = calloc(1, sizeof *pl);
    if (!pl) {
        *err = -ENOMEM;
        return NULL;
    }
    pl->p = p;
    pl->n = p->cfg.nnodes;
    pthread_mutex_init(&pl->tmu, NULL);
    p->pool = pl;
    for (size_t i = 0; i < pl->n; i++) {
        px_node *nd = &pl->nodes[i];
        nd->pl = pl;
        nd->idx = (int)i;
        snprintf(nd->addr, sizeof nd->addr, "%s", p->cfg.nodes[i]);
        snprintf(nd->country, sizeof nd->country, "unknown");
        pthread_mutex_init(&nd->mu, NULL);
        pthread_cond_init(&nd->cv, NULL);
        nd->q = calloc(Q_CAP, sizeof *nd->q);
        nd->sent = calloc(Q_CAP, sizeof *nd->sent);
        if (!nd->q || !nd->sent) {
            *err = -ENOMEM;
            return NULL; /* start-up failure: the process exits */
        }
        if (pthread_create(&nd->rx, NULL, rx_main, nd) ||
            pthread_create(&nd->tx, NULL, tx_main, nd)) {
            *err = -EAGAIN;
            return NULL;
        }
    }
    if (pthread_create(&pl->ticker, NULL, ticker_main, pl)) {
        *err = -EAGAIN;
        return NULL;
    }
    return pl;
}

void
px_pool_stop(px_pool *pl)
{
    if (!pl)
        return;
    atomic_store(&pl->stopping, 1);
    pthread_join(pl->ticker, NULL);
    for (size_t i = 0; i < pl->n; i++) {
        px_node *nd = &pl->nodes[i];
        pthread_mutex_lock(&nd->mu);
        if (nd->st)
            weft_grpc_stream_cancel(nd->st);
        pthread_cond_broadcast(&nd->cv);
        pthread_mutex_unlock(&nd->mu);
    }
    for (size_t i = 0; i < pl->n; i++) {
        px_node *nd = &pl->nodes[i];
        pthread_join(nd->rx, NULL);
        pthread_mutex_lock(&nd->mu);
        pthread_cond_broadcast(&nd->cv);
        pthread_mutex_unlock(&nd->mu);
        pthread_join(nd->tx, NULL);
        for (size_t k = 0; k < nd->qlen; k++)
            pub_finish(&nd->q[(nd->qhead + k) % Q_CAP], WEFT_ECLOSED, "the proxy is stopping");
        for (size_t k = 0; k < nd->slen; k++)
            pub_finish(&nd->sent[(nd->shead + k) % Q_CAP], WEFT_ECLOSED, "the proxy is stopping");
        free(nd->q);
        free(nd->sent);
        if (nd->ch)
            weft_grpc_channel_free(nd->ch);
        pthread_mutex_destroy(&nd->mu);
        pthread_cond_destroy(&nd->cv);
    }
    for (size_t i = 0; i < pl->ntopics; i++)
        free(pl->topics[i]);
    free(pl->topics);
    pthread_mutex_destroy(&pl->tmu);
    free(pl);
}

int
px_pool_subscribe(px_pool *pl, const char *topic)
{
    pthread_mutex_lock(&pl->tmu);
    for (size_t i = 0; i < pl->ntopics; i++)
        if (!strcmp(pl->topics[i], topic)) {
            pthread_mutex_unlock(&pl->tmu);
            return 0;
        }
    if (pl->ntopics == PX_MAX_TOPICS) {
        pthread_mutex_unlock(&pl->tmu);
        return WEFT_ELIMIT;
    }
    if (pl->ntopics == pl->ctopics) {
        size_t nc = pl->ctopics ? pl->ctopics * 2 : 16;
        char **nt = realloc(pl->topics, nc * sizeof *nt);
        if (!nt) {
            pthread_mutex_unlock(&pl->tmu);
            return -ENOMEM;
        }
        pl->topics = nt;
        pl->ctopics = nc;
    }
    char *d = strdup(topic);
    if (!d) {
        pthread_mutex_unlock(&pl->tmu);
        return -ENOMEM;
    }
    pl->topics[pl->ntopics++] = d;
    pl->topics_version++;
    pthread_mutex_unlock(&pl->tmu);
    for (size_t i = 0; i < pl->n; i++) {
        pthread_mutex_lock(&pl->nodes[i].mu);
        pthread_cond_broadcast(&pl->nodes[i].cv);
        pthread_mutex_unlock(&pl->nodes[i].mu);
    }
    return 0;
}

static int publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len,
                   px_pub_done done, void *user);

int
px_pool_publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len, px_pub_done done,
                void *user)
{
    if (px_topic_reserved(topic))
        return WEFT_EINVAL;
    return publish(pl, topic, data, len, done, user);
}

int
px_pool_publish_control(px_pool *pl, const char *topic, const uint8_t *data, size_t len)
{
    return publish(pl, topic, data, len, NULL, NULL);
}

static int
publish(px_pool *pl, const char *topic, const uint8_t *data, size_t len, px_pub_done done,
        void *user)
{
    struct pub b = {.topic = strdup(topic),
                    .data = malloc(len ? len : 1),
                    .len = len,
                    .done = done,
                    .user = user,
                    .deadline = weft_mono_ms() + PX_PUBLISH_WAIT_MS};
    if (!b.topic || !b.data) {
        pub_free(&b);
        return -ENOMEM;
    }
    memcpy(b.data, data, len);
    int rc = enqueue(pl, &b, -1);
    if (rc < 0)
        pub_free(&b);
    return rc;
}

size_t
px_pool_connected(px_pool *pl)
{
    size_t up = 0;
    for (size_t i = 0; i < pl->n; i++)
        up += pl->nodes[i].connected != 0;
    return up;
}

size_t
px_pool_info(px_pool *pl, px_node_info *out, size_t max)
{
    size_t k = 0;
    int64_t now = weft_mono_ms();
    for (size_t i = 0; i < pl->n && k < max; i++, k++) {
        px_node *nd = &pl->nodes[i];
        pthread_mutex_lock(&nd->mu);
        snprintf(out[k].addr, sizeof out[k].addr, "%s", nd->addr);
        out[k].connected = nd->connected;
        out[k].healthy = node_usable(nd, now);
        snprintf(out[k].country, sizeof out[k].country, "%s", nd->country);
        snprintf(out[k].country_iso, sizeof out[k].country_iso, "%s", nd->country_iso);
        snprintf(out[k].p2p, sizeof out[k].p2p, "%s", nd->p2p);
        snprintf(out[k].mode, sizeof out[k].mode, "%s", nd->mode);
        pthread_mutex_unlock(&nd->mu);
    }
    return k;
}

/* ---- topic assignment ---------------------------------------------------------------------- */

#define REMOTE_TTL_MS 10000

/* 1 when the node's ListTopics names topic, 0 when not, -1 on failure. */
static int
node_lists(px_node *nd, const char *topic)
{
    uint8_t req[1] = {0};
    uint8_t *resp = NULL;
    size_t rlen = 0;
    weft_grpc_status gs;
    int rc = weft_grpc_unary(nd->ch, "/proto.CommandStream/ListTopics", NULL, 0, req, 0, 500, &resp,
                             &rlen, &gs);
    Proto__TopicList *tl = rc == 0 ? proto__topic_list__unpack(NULL, rlen, resp) : NULL;
    free(resp);
    if (!tl)
        return -1;
    int found = 0;
    for (size_t i = 0; i < tl->n_topics && !found; i++)
        found = !strcmp(tl->topics[i], topic);
    proto__topic_list__free_unpacked(tl, NULL);
    return found;
}

int
px_pool_topic_assigned(px_pool *pl, const char *topic)
{
    int64_t now = weft_mono_ms();
    pthread_mutex_lock(&pl->tmu);
    int known = 0;
    for (size_t i = 0; i < pl->ntopics && !known; i++)
        known = !strcmp(pl->topics[i], topic);
    for (size_t i = 0; i < sizeof pl->remote / sizeof pl->remote[0] && !known; i++)
        known = pl->remote[i].until > now && !strcmp(pl->remote[i].topic, topic);
    pthread_mutex_unlock(&pl->tmu);
    if (known)
        return 1;
    int asked = 0, found = 0;
    for (size_t i = 0; i < pl->n && asked < 3 && !found; i++) {
        px_node *nd = &pl->nodes[i];
        if (!nd->connected || !nd->ch)
            continue;
        int rc = node_lists(nd, topic);
        asked += rc >= 0;
        found = rc == 1;
    }
    if (!found)
        return asked ? 0 : -1;
    pthread_mutex_lock(&pl->tmu);
    size_t k = pl->remote_next++ % (sizeof pl->remote / sizeof pl->remote[0]);
    snprintf(pl->remote[k].topic, sizeof pl->remote[k].topic, "%s", topic);
    pl->remote[k].until = now + REMOTE_TTL_MS;
    pthread_mutex_unlock(&pl->tmu);
    return 1;
}
