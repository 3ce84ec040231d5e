/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subscriptions, threshold delivery and de-duplication.
 *
 * Every node delivers each message once per stream; the engine keeps an
 * entry per message id with the set of nodes that delivered it; N is the
 * number of nodes in P2P_NODES. A client subscribed
 * with threshold t needs need = max(1, ceil(t * N)) of them: it gets the
 * message when the count crosses its need, so once; when the count never
 * gets there within WEFT_FALLBACK_MS the message is delivered anyway and
 * counted (message_fallback_deliveries_total). Entries outlive the
 * fallback by a minute so that late copies from slow nodes are recognised
 * and dropped.
 *
 * Clients: found through a hash table (SipHash, random key: ids are the
 * client's choice). A client with no WebSocket or gRPC stream attached and
 * no subscribe, attach or topics request for WEFT_CLIENT_IDLE_S is
 * forgotten with its subscriptions (swept once a second), so client state
 * is bounded by WEFT_MAX_CLIENTS and by time, never by what was ever seen.
 * A client record is ~0.4 KB plus ~0.3 KB per topic. Each topic keeps the
 * list of its subscribers, so a delivery visits those and not every client
 * held (idle REST clients on other topics cost a delivery nothing).
 *
 * Held deliveries: the guides' clients subscribe over REST, then open their
 * stream, then publish at once, so a message can reach the proxy before the
 * stream is attached. A client with subscriptions and no sink, active in
 * the last HOLD_MS, has such deliveries held (at most HOLD_MAX per client,
 * HOLD_BYTES over all clients) and written to the first sink it attaches;
 * past any of those bounds, or HOLD_MS after they were held, they are
 * dropped and counted (weft_proxy_dropped_total{reason="no_stream"}).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "proxy.h"
#include "weft/encoding.h"
#include "weft/log.h"
#include "weft/rng.h"
#include "weft/siphash.h"
#include "weft/svc_ws.h"

#define CLIENT_SLOTS 65536 /* power of two */
#define CLIENT_SWEEP_MS 1000
#define MAX_CLIENT_TOPICS 64
#define MAX_SINKS 8
#define ENTRY_SLOTS 65536 /* power of two */
#define TOPIC_SLOTS 4096  /* power of two */
#define ENTRY_TTL_MS 60000
#define MAX_ENTRIES 262144 /* ~120 MB of records at most; see retire_oldest */
#define HOLD_MS 10000
#define HOLD_MAX 64
#define HOLD_BYTES (64u << 20)

struct topic;

struct sub {
    char topic[PX_TOPIC_MAX + 1];
    double threshold;
    struct topic *t; /* its topic's subscriber list, where this client is t->cl[pos] */
    size_t pos;
};

/* The clients subscribed to one topic: a delivery visits these, not every
 * client held (65,536 idle REST clients made each delivery scan them all). */
struct topic {
    struct topic *hnext;
    uint64_t hash;
    struct px_client **cl;
    size_t n, cap;
    char name[PX_TOPIC_MAX + 1];
};

struct sink {
    int kind;
    void *handle;
};

/* A delivery kept for a client whose stream is not attached yet. */
struct held {
    struct held *next;
    int64_t at_ms;
    size_t len;
    char id[PX_MSGID_MAX];
    char topic[PX_TOPIC_MAX + 1];
    char json[]; /* len bytes and a NUL */
};

typedef struct px_client {
    char id[PX_ID_MAX + 1];
    struct sub *subs; /* grows to MAX_CLIENT_TOPICS */
    size_t nsubs, csubs;
    struct sink sinks[MAX_SINKS];
    size_t nsinks;
    int64_t last_ms;                /* last subscribe, attach, detach or topics request */
    struct held *held, **held_tail; /* oldest first */
    size_t nheld;
    uint64_t hash;
    struct px_client *next;  /* every client */
    struct px_client *hnext; /* hash chain */
} px_client;

struct entry {
    char id[PX_MSGID_MAX];
    char topic[PX_TOPIC_MAX + 1];
    uint64_t nodes; /* bit per node that delivered */
    unsigned count, total;
    int64_t first_ms;
    int done;   /* fallback ran: nothing more is delivered */
    char *json; /* kept until done */
    size_t len;
    uint8_t *raw; /* the payload, decoded on the first gRPC sink; freed with json */
    size_t rawlen;
    int raw_bad;         /* the JSON had no decodable "message" */
    struct entry *next;  /* chain in a slot */
    struct entry *lnext; /* age list */
};

struct px_engine {
    proxy *p;
    pthread_mutex_t mu;
    px_client *clients;
    size_t nclients;
    px_client *cslots[CLIENT_SLOTS];
    uint8_t ckey[WEFT_SIPHASH_KEYBYTES];
    int64_t swept_ms;
    struct entry *slots[ENTRY_SLOTS];
    struct entry *oldest, *newest;
    size_t nentries;
    weft_ws_conn **ws; /* scratch: WebSocket sinks of one delivery */
    size_t nws, cws;
    size_t held_bytes; /* over every client's held deliveries */
    struct topic *tslots[TOPIC_SLOTS];
};

static uint32_t
hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

px_engine *
px_engine_new(proxy *p)
{
    px_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->p = p;
    if (weft_random_bytes(e->ckey, sizeof e->ckey) < 0) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    return e;
}

/* The entry stops delivering: its JSON and payload go. */
static void
entry_drop_payload(struct entry *x)
{
    free(x->json);
    free(x->raw);
    x->json = NULL;
    x->raw = NULL;
}

static void
entry_free(struct entry *x)
{
    entry_drop_payload(x);
    free(x);
}

/* The "message" of a node's delivery JSON, base64-decoded (malloc'd). */
static uint8_t *
json_payload(const char *json, size_t jlen, size_t *len)
{
    cJSON *o = cJSON_ParseWithLength(json, jlen);
    const cJSON *m = o ? cJSON_GetObjectItemCaseSensitive(o, "message") : NULL;
    size_t blen = cJSON_IsString(m) ? strlen(m->valuestring) : 0;
    uint8_t *raw = cJSON_IsString(m) ? malloc(blen / 4 * 3 + 4) : NULL;
    int n = raw ? weft_base64_decode(m->valuestring, blen, raw, blen / 4 * 3 + 4) : -1;
    cJSON_Delete(o);
    if (n < 0) {
        free(raw);
        return NULL;
    }
    *len = (size_t)n;
    return raw;
}

/* ProxyMessage carries the payload itself: base64-decoded out of the
 * node's JSON once per message, however many gRPC clients get it. */
static uint8_t *
entry_payload(struct entry *x, size_t *len)
{
    if (!x->raw && !x->raw_bad) {
        x->raw = json_payload(x->json, x->len, &x->rawlen);
        x->raw_bad = !x->raw;
    }
    *len = x->rawlen;
    return x->raw;
}

/* Forget c's held deliveries older than now - HOLD_MS (all with now 0);
 * counted as dropped. Holds e->mu. */
static void
held_expire(px_engine *e, px_client *c, int64_t now)
{
    size_t gone = 0;
    while (c->held && (!now || now - c->held->at_ms >= HOLD_MS)) {
        struct held *h = c->held;
        c->held = h->next;
        e->held_bytes -= h->len;
        c->nheld--;
        free(h);
        gone++;
    }
    if (!c->held)
        c->held_tail = &c->held;
    if (gone)
        weft_metric_add(e->p->m.dropped_no_stream, gone);
}

/* Keep x for c, which has no sink yet; or count it dropped. Holds e->mu. */
static void
held_add(px_engine *e, px_client *c, const struct entry *x)
{
    int64_t now = weft_mono_ms();
    held_expire(e, c, now);
    struct held *h = NULL;
    if (now - c->last_ms < HOLD_MS && c->nheld < HOLD_MAX && x->json &&
        e->held_bytes + x->len <= HOLD_BYTES)
        h = malloc(sizeof *h + x->len + 1);
    if (!h) {
        weft_metric_inc(e->p->m.dropped_no_stream);
        return;
    }
    h->next = NULL;
    h->at_ms = now;
    h->len = x->len;
    memcpy(h->id, x->id, sizeof h->id);
    memcpy(h->topic, x->topic, sizeof h->topic);
    memcpy(h->json, x->json, x->len);
    h->json[x->len] = 0;
    if (!c->held_tail)
        c->held_tail = &c->held;
    *c->held_tail = h;
    c->held_tail = &h->next;
    c->nheld++;
    e->held_bytes += h->len;
}

/* c's first sink s is attached: write what was held for it, oldest first.
 * Holds e->mu. */
static void
held_flush(px_engine *e, px_client *c, const struct sink *s)
{
    held_expire(e, c, weft_mono_ms());
    while (c->held) {
        struct held *h = c->held;
        c->held = h->next;
        int rc;
        if (s->kind == PX_SINK_WS) {
            rc = weft_ws_send_text(s->handle, h->json, h->len);
        } else {
            size_t plen = 0;
            uint8_t *payload = json_payload(h->json, h->len, &plen);
            rc = payload ? px_grpc_sink_send(s->handle, c->id, h->topic, h->id, payload, plen)
                         : WEFT_EPROTO;
            free(payload);
        }
        if (rc == 0)
            weft_metric_inc(e->p->m.deliveries);
        else
            weft_metric_inc(rc == WEFT_ELIMIT ? e->p->m.dropped_slow : e->p->m.dropped_no_stream);
        e->held_bytes -= h->len;
        c->nheld--;
        free(h);
    }
    c->held_tail = &c->held;
}

static struct topic *
topic_find(px_engine *e, const char *name, uint64_t h)
{
    for (struct topic *t = e->tslots[h & (TOPIC_SLOTS - 1)]; t; t = t->hnext)
        if (t->hash == h && !strcmp(t->name, name))
            return t;
    return NULL;
}

/* Add c, whose new subscription is sb, to sb's topic list. Holds e->mu. */
static int
topic_join(px_engine *e, px_client *c, struct sub *sb)
{
    uint64_t h = weft_siphash24(e->ckey, sb->topic, strlen(sb->topic));
    struct topic *t = topic_find(e, sb->topic, h);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return -ENOMEM;
        t->hash = h;
        snprintf(t->name, sizeof t->name, "%s", sb->topic);
        struct topic **slot = &e->tslots[h & (TOPIC_SLOTS - 1)];
        t->hnext = *slot;
        *slot = t;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4;
        px_client **ncl = realloc(t->cl, nc * sizeof *ncl);
        if (!ncl) {
            if (!t->n) { /* just made: unlink it again */
                struct topic **pp = &e->tslots[h & (TOPIC_SLOTS - 1)];
                *pp = t->hnext;
                free(t);
            }
            return -ENOMEM;
        }
        t->cl = ncl;
        t->cap = nc;
    }
    sb->t = t;
    sb->pos = t->n;
    t->cl[t->n++] = c;
    return 0;
}

/* Take c (subscription sb) off its topic's list; the list goes with its
 * last subscriber. Holds e->mu. */
static void
topic_leave(px_engine *e, struct sub *sb)
{
    struct topic *t = sb->t;
    if (!t)
        return;
    px_client *last = t->cl[--t->n];
    if (sb->pos < t->n) { /* the last one takes the freed place */
        t->cl[sb->pos] = last;
        for (size_t i = 0; i < last->nsubs; i++)
            if (last->subs[i].t == t) {
                last->subs[i].pos = sb->pos;
                break;
            }
    }
    sb->t = NULL;
    if (!t->n) {
        struct topic **pp = &e->tslots[t->hash & (TOPIC_SLOTS - 1)];
        while (*pp && *pp != t)
            pp = &(*pp)->hnext;
        if (*pp)
            *pp = t->hnext;
        free(t->cl);
        free(t);
    }
}

void
px_engine_free(px_engine *e)
{
    if (!e)
        return;
    while (e->clients) {
        px_client *c = e->clients;
        e->clients = c->next;
        while (c->held) {
            struct held *h = c->held;
            c->held = h->next;
            free(h);
        }
        free(c->subs);
        free(c);
    }
    for (size_t i = 0; i < TOPIC_SLOTS; i++)
        while (e->tslots[i]) {
            struct topic *t = e->tslots[i];
            e->tslots[i] = t->hnext;
            free(t->cl);
            free(t);
        }
    while (e->oldest) {
        struct entry *x = e->oldest;
        e->oldest = x->lnext;
        entry_free(x);
    }
    pthread_mutex_destroy(&e->mu);
    free(e->ws);
    free(e);
}

static void sweep_clients(px_engine *e, int64_t now);

static uint64_t
client_hash(const px_engine *e, const char *id)
{
    return weft_siphash24(e->ckey, id, strlen(id));
}

static px_client *
client_find(px_engine *e, const char *id)
{
    uint64_t h = client_hash(e, id);
    for (px_client *c = e->cslots[h & (CLIENT_SLOTS - 1)]; c; c = c->hnext)
        if (c->hash == h && !strcmp(c->id, id))
            return c;
    return NULL;
}

static size_t
max_clients(const px_engine *e)
{
    return e->p->cfg.max_clients > 0 ? (size_t)e->p->cfg.max_clients : 65536;
}

/* Found or created; NULL when the table is full (idle clients are swept
 * first) or out of memory. Holds e->mu. */
static px_client *
client_get(px_engine *e, const char *id)
{
    px_client *c = client_find(e, id);
    if (c || strlen(id) > PX_ID_MAX)
        return c;
    if (e->nclients >= max_clients(e)) {
        e->swept_ms = 0; /* full: sweep now, not on the next tick */
        sweep_clients(e, weft_mono_ms());
        if (e->nclients >= max_clients(e))
            return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->hash = client_hash(e, id);
    c->last_ms = weft_mono_ms();
    c->next = e->clients;
    e->clients = c;
    px_client **slot = &e->cslots[c->hash & (CLIENT_SLOTS - 1)];
    c->hnext = *slot;
    *slot = c;
    e->nclients++;
    weft_metric_set(e->p->m.clients, (double)e->nclients);
    return c;
}

/* Forget the clients idle at now: no sink, no activity for
 * WEFT_CLIENT_IDLE_S. At most once per CLIENT_SWEEP_MS. Holds e->mu. */
static void
sweep_clients(px_engine *e, int64_t now)
{
    int64_t idle = e->p->cfg.client_idle_ms > 0 ? e->p->cfg.client_idle_ms : 600000;
    if (e->swept_ms && now - e->swept_ms < CLIENT_SWEEP_MS)
        return;
    e->swept_ms = now ? now : 1;
    size_t gone = 0;
    for (px_client **pp = &e->clients; *pp;) {
        px_client *c = *pp;
        if (c->held)
            held_expire(e, c, now);
        if (c->nsinks || now - c->last_ms < idle) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        px_client **hp = &e->cslots[c->hash & (CLIENT_SLOTS - 1)];
        while (*hp && *hp != c)
            hp = &(*hp)->hnext;
        if (*hp)
            *hp = c->hnext;
        held_expire(e, c, 0);
        for (size_t i = 0; i < c->nsubs; i++)
            topic_leave(e, &c->subs[i]);
        free(c->subs);
        free(c);
        e->nclients--;
        gone++;
    }
    if (gone) {
        weft_metric_add(e->p->m.clients_expired, gone);
        weft_metric_set(e->p->m.clients, (double)e->nclients);
        weft_log(WEFT_LOG_DEBUG, "proxy", "msg=\"idle clients forgotten\" count=%zu held=%zu", gone,
                 e->nclients);
    }
}

size_t
px_engine_clients(px_engine *e)
{
    pthread_mutex_lock(&e->mu);
    size_t n = e->nclients;
    pthread_mutex_unlock(&e->mu);
    return n;
}

static int
subscribe(px_engine *e, const char *client, const char *topic, double threshold, int keep)
{
    if (px_topic_reserved(topic))
        return WEFT_EINVAL;
    pthread_mutex_lock(&e->mu);
    px_client *c = client_get(e, client);
    int rc = 0;
    if (!c) {
        rc = WEFT_ELIMIT;
        goto out;
    }
    c->last_ms = weft_mono_ms();
    for (size_t i = 0; i < c->nsubs; i++)
        if (!strcmp(c->subs[i].topic, topic)) {
            if (!keep)
                c->subs[i].threshold = threshold;
            goto out;
        }
    if (c->nsubs == MAX_CLIENT_TOPICS) {
        rc = WEFT_ELIMIT;
        goto out;
    }
    if (c->nsubs == c->csubs) {
        size_t nc = c->csubs ? c->csubs * 2 : 2;
        struct sub *ns = realloc(c->subs, nc * sizeof *ns);
        if (!ns) {
            rc = -ENOMEM;
            goto out;
        }
        c->subs = ns;
        c->csubs = nc;
    }
    /* The pool first: a topic the nodes will not carry is refused to the
     * client rather than answered "subscribed" and never delivered. */
    rc = px_pool_subscribe(e->p->pool, topic);
    if (rc < 0) {
        weft_metric_inc(e->p->m.subscribe_refused);
        goto out;
    }
    struct sub *sb = &c->subs[c->nsubs];
    snprintf(sb->topic, sizeof sb->topic, "%s", topic);
    sb->threshold = threshold;
    if ((rc = topic_join(e, c, sb)) < 0)
        goto out;
    c->nsubs++;
out:
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int
px_engine_subscribe(px_engine *e, const char *client, const char *topic, double threshold, int keep)
{
    int rc = subscribe(e, client, topic, threshold, keep);
    /* A subscription made here (not one a stream names) is the client's
     * wherever it connects: tell the other proxies. */
    if (!rc && !keep && e->p->on_subscribed)
        e->p->on_subscribed(e->p, client, topic, threshold);
    return rc;
}

int
px_engine_subscribe_shared(px_engine *e, const char *client, const char *topic, double threshold)
{
    return subscribe(e, client, topic, threshold, 0);
}

int
px_engine_unsubscribe(px_engine *e, const char *client, const char *topic)
{
    pthread_mutex_lock(&e->mu);
    px_client *c = client_find(e, client);
    int rc = 1;
    for (size_t i = 0; c && i < c->nsubs; i++)
        if (!strcmp(c->subs[i].topic, topic)) {
            topic_leave(e, &c->subs[i]);
            c->subs[i] = c->subs[--c->nsubs];
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

size_t
px_engine_topics(px_engine *e, const char *client, char (*out)[PX_TOPIC_MAX + 1], size_t max)
{
    pthread_mutex_lock(&e->mu);
    px_client *c = client_find(e, client);
    size_t k = 0;
    if (c)
        c->last_ms = weft_mono_ms();
    for (size_t i = 0; c && i < c->nsubs && k < max; i++)
        snprintf(out[k++], PX_TOPIC_MAX + 1, "%s", c->subs[i].topic);
    pthread_mutex_unlock(&e->mu);
    return k;
}

size_t
px_engine_subs(px_engine *e, const char *client, char (*topics)[PX_TOPIC_MAX + 1], double *th,
               size_t max)
{
    pthread_mutex_lock(&e->mu);
    px_client *c = client_find(e, client);
    size_t k = 0;
    for (size_t i = 0; c && i < c->nsubs && k < max; i++, k++) {
        snprintf(topics[k], PX_TOPIC_MAX + 1, "%s", c->subs[i].topic);
        th[k] = c->subs[i].threshold;
    }
    pthread_mutex_unlock(&e->mu);
    return k;
}

int
px_engine_attach(px_engine *e, const char *client, int kind, void *handle)
{
    pthread_mutex_lock(&e->mu);
    px_client *c = client_get(e, client);
    int rc = 0;
    if (!c || c->nsinks == MAX_SINKS) {
        rc = WEFT_ELIMIT;
    } else {
        c->sinks[c->nsinks++] = (struct sink){kind, handle};
        c->last_ms = weft_mono_ms();
        if (c->held)
            held_flush(e, c, &c->sinks[c->nsinks - 1]);
    }
    pthread_mutex_unlock(&e->mu);
    /* the other proxies may hold subscriptions of this client that we never
     * heard of (we started later): ask */
    if (!rc && e->p->on_attached)
        e->p->on_attached(e->p, client);
    return rc;
}

void
px_engine_detach(px_engine *e, const char *client, int kind, void *handle)
{
    pthread_mutex_lock(&e->mu);
    px_client *c = client_find(e, client);
    for (size_t i = 0; c && i < c->nsinks; i++)
        if (c->sinks[i].kind == kind && c->sinks[i].handle == handle) {
            c->sinks[i] = c->sinks[--c->nsinks];
            c->last_ms = weft_mono_ms(); /* idle from now on */
            break;
        }
    pthread_mutex_unlock(&e->mu);
}

static unsigned
need(double t, unsigned total)
{
    double x = ceil(t * (double)total - 1e-9);
    return x < 1 ? 1 : (unsigned)x;
}

static double
client_threshold(const px_client *c, const char *topic)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (!strcmp(c->subs[i].topic, topic))
            return c->subs[i].threshold;
    return -1;
}

/* Deliver x to every client whose need lies in (from, to]. WebSocket
 * sinks are gathered into one broadcast (one copy of the frame, one wake of
 * the HTTP thread, however many clients). Holds e->mu. */
static size_t
deliver_range(px_engine *e, struct entry *x, unsigned from, unsigned to)
{
    size_t n = 0;
    uint64_t h = weft_siphash24(e->ckey, x->topic, strlen(x->topic));
    struct topic *tp = topic_find(e, x->topic, h);
    for (size_t m = 0; tp && m < tp->n; m++) {
        px_client *c = tp->cl[m];
        double t = client_threshold(c, x->topic);
        if (t < 0)
            continue;
        unsigned k = need(t, x->total);
        if (k <= from || k > to)
            continue;
        if (!c->nsinks) { /* no stream yet (or a REST-only subscription) */
            held_add(e, c, x);
            continue;
        }
        for (size_t i = 0; i < c->nsinks; i++) {
            if (c->sinks[i].kind == PX_SINK_WS) {
                if (e->nws == e->cws) {
                    size_t nc = e->cws ? e->cws * 2 : 256;
                    weft_ws_conn **nw = realloc(e->ws, nc * sizeof *nw);
                    if (!nw)
                        continue;
                    e->ws = nw;
                    e->cws = nc;
                }
                e->ws[e->nws++] = c->sinks[i].handle;
                continue;
            }
            size_t plen;
            uint8_t *payload = entry_payload(x, &plen);
            int rc = payload ? px_grpc_sink_send(c->sinks[i].handle, c->id, x->topic, x->id,
                                                 payload, plen)
                             : WEFT_EPROTO;
            if (rc == WEFT_ELIMIT)
                weft_metric_inc(e->p->m.dropped_slow);
            else if (rc == 0)
                weft_metric_inc(e->p->m.deliveries);
        }
        n++;
    }
    if (e->nws) {
        int sent = weft_ws_broadcast_text(e->p->http, e->ws, e->nws, x->json, x->len);
        if (sent > 0)
            weft_metric_add(e->p->m.deliveries, (uint64_t)sent);
        /* slow consumers were closed with 1008 and are counted at close */
        e->nws = 0;
    }
    return n;
}

static struct entry **
entry_slot(px_engine *e, const char *id, struct entry **found)
{
    struct entry **pp = &e->slots[hash(id) & (ENTRY_SLOTS - 1)];
    for (struct entry *x = *pp; x; x = x->next)
        if (!strcmp(x->id, id)) {
            *found = x;
            return pp;
        }
    *found = NULL;
    return pp;
}

static void
unlink_entry(px_engine *e, struct entry *x)
{
    struct entry **pp = &e->slots[hash(x->id) & (ENTRY_SLOTS - 1)];
    while (*pp && *pp != x)
        pp = &(*pp)->next;
    if (*pp)
        *pp = x->next;
}

/* Forget the oldest entry (the first in the age list). */
static void
retire_oldest(px_engine *e)
{
    struct entry *x = e->oldest;
    e->oldest = x->lnext;
    if (!e->oldest)
        e->newest = NULL;
    unlink_entry(e, x);
    e->nentries--;
    entry_free(x);
}

void
px_engine_on_delivery(px_engine *e, int node, const char *json, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(json, len);
    const cJSON *jid = o ? cJSON_GetObjectItemCaseSensitive(o, "message_id") : NULL;
    const cJSON *jt = o ? cJSON_GetObjectItemCaseSensitive(o, "topic") : NULL;
    if (!cJSON_IsString(jid) || !cJSON_IsString(jt) || strlen(jid->valuestring) >= PX_MSGID_MAX ||
        strlen(jt->valuestring) > PX_TOPIC_MAX) {
        weft_log(WEFT_LOG_WARN, "proxy", "msg=\"undecodable delivery from a node\" node=%d", node);
        cJSON_Delete(o);
        return;
    }
    if (px_topic_reserved(jt->valuestring)) { /* the proxies' own records (share.c) */
        if (e->p->on_control)
            e->p->on_control(e->p, node, json, len);
        cJSON_Delete(o);
        return;
    }
    pthread_mutex_lock(&e->mu);
    struct entry *x;
    struct entry **slot = entry_slot(e, jid->valuestring, &x);
    /* Finished entries are kept a minute to recognise late copies; at a
     * very high message rate the oldest finished ones go sooner, so the
     * table stays bounded. Unfinished ones wait for their fallback. */
    while (!x && e->nentries >= MAX_ENTRIES && e->oldest && e->oldest->done) {
        retire_oldest(e);
        slot = entry_slot(e, jid->valuestring, &x);
    }
    if (!x) {
        x = calloc(1, sizeof *x);
        char *copy = x ? malloc(len + 1) : NULL;
        if (!x || !copy) {
            free(x);
            pthread_mutex_unlock(&e->mu);
            cJSON_Delete(o);
            return;
        }
        memcpy(copy, json, len);
        copy[len] = 0;
        snprintf(x->id, sizeof x->id, "%s", jid->valuestring);
        snprintf(x->topic, sizeof x->topic, "%s", jt->valuestring);
        x->json = copy;
        x->len = len;
        x->first_ms = weft_mono_ms();
        /* The base is every node of P2P_NODES: with one of them down a
         * threshold of 1.0 cannot be met and the fallback delivers (and
         * counts) after WEFT_FALLBACK_MS. */
        x->total = (unsigned)(e->p->cfg.nnodes ? e->p->cfg.nnodes : 1);
        x->next = *slot;
        *slot = x;
        if (e->newest)
            e->newest->lnext = x;
        else
            e->oldest = x;
        e->newest = x;
        e->nentries++;
    }
    uint64_t bit = (uint64_t)1 << (node & 63);
    if (!x->done && !(x->nodes & bit)) {
        x->nodes |= bit;
        unsigned before = x->count++;
        deliver_range(e, x, before, x->count);
        if (x->count >= x->total) { /* every node: nothing more can change */
            x->done = 1;
            entry_drop_payload(x);
        }
    }
    pthread_mutex_unlock(&e->mu);
    cJSON_Delete(o);
}

void
px_engine_tick(px_engine *e, int64_t now_ms)
{
    int64_t fb = e->p->cfg.fallback_ms;
    pthread_mutex_lock(&e->mu);
    for (struct entry *x = e->oldest; x && now_ms - x->first_ms >= fb; x = x->lnext) {
        if (x->done)
            continue;
        /* Below some clients' thresholds for too long: deliver anyway. */
        size_t n = deliver_range(e, x, x->count, UINT32_MAX);
        if (n)
            weft_metric_add(e->p->m.fallback, n);
        x->done = 1;
        entry_drop_payload(x);
    }
    while (e->oldest && now_ms - e->oldest->first_ms >= ENTRY_TTL_MS)
        retire_oldest(e);
    sweep_clients(e, now_ms);
    pthread_mutex_unlock(&e->mu);
}
