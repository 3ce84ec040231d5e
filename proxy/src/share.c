/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subscriptions shared by the proxies behind one load balancer.
 *
 * A client may subscribe over REST on one proxy and open its WebSocket (or
 * gRPC stream) on another. Proxies of one WEFT_SHARE_GROUP therefore tell
 * each other, through the nodes they already use, about every subscription
 * made on them: each subscribes the reserved mesh topic
 * "_weft/share/<group>" on its node streams and publishes one record per
 * REST (or gRPC Subscribe) subscription; a proxy receiving a record from
 * another applies it to its engine as if it had been made locally, without
 * passing it on. Client topics starting with "_weft/" are refused, so
 * clients can neither read nor forge records through a proxy.
 *
 * A record is a small JSON object, at most RECORD_MAX bytes:
 *   {"v":1,"op":"sub","g":group,"o":origin,"c":client,"t":topic,"th":0.5,
 *    "ts":unix_ms,"n":nonce,"mac":hex}
 * origin is CLUSTER_ID plus a random instance tag (a proxy ignores its
 * own records); n is 64 random bits, which also makes each record's
 * content unique (a content-addressed mesh would refuse a repeat).
 * Receivers check every field (lengths, characters, threshold range, the
 * group) and refuse records older than WEFT_SHARE_TTL_S or more than a
 * minute in the future. With WEFT_SHARE_KEY set, mac is HMAC-SHA256 over
 * the fields and records without a valid one are refused: that is what
 * keeps a client talking to a node sidecar directly from inventing
 * subscriptions for another client when auth is on, so with ENABLE_AUTH
 * sharing stays off unless a key is configured.
 *
 * Bounds: shared subscriptions land in the same engine records as local
 * ones, so WEFT_MAX_CLIENTS, the 64 topics per client and the idle expiry
 * (WEFT_CLIENT_IDLE_S) apply to them alike. Every node delivers each
 * record once; a direct-mapped memory of recent nonces makes the repeats
 * cheap no-ops (applying one twice would be harmless anyway).
 *
 * A proxy started (or restarted) after a subscription was made has not seen
 * its record. So when a client attaches a WebSocket or gRPC stream, its
 * proxy publishes {"op":"want","c":client,...} (same fields, no t/th), and
 * every proxy holding subscriptions of that client answers with one "sub"
 * record per topic (at most 64). Both directions are rate-limited: one want
 * per client per WANT_EVERY_MS sent and answered, and a global budget of
 * records per second each way, so a flood of connections (or of forged
 * wants without a key) cannot turn into a flood on the mesh. Deliveries
 * published before the answer arrives are not replayed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proxy.h"
#include "weft/encoding.h"
#include "weft/log.h"
#include "weft/rng.h"

#define RECORD_MAX 2048
#define NONCE_SLOTS 4096
#define FUTURE_MS 60000
#define WARN_EVERY_MS 10000
#define WANT_SLOTS 4096
#define WANT_EVERY_MS 5000
#define WANTS_PER_S 50    /* wants this proxy sends, burst twice that */
#define REPLIES_PER_S 400 /* sub records sent in answer to wants, burst twice that */

/* A token bucket (under px_share.mu). */
struct bucket {
    double tokens;
    int64_t at_ms;
};

/* Last want per client hash, direct-mapped (under px_share.mu). */
struct want_slot {
    uint64_t h;
    int64_t ms;
};

typedef struct px_share {
    proxy *p;
    char topic[PX_TOPIC_MAX + 1];
    char origin[160];
    pthread_mutex_t mu;
    char nonces[NONCE_SLOTS][17]; /* recently applied (mu) */
    int64_t warned_ms;            /* last refusal logged (mu) */
    struct want_slot sent[WANT_SLOTS], answered[WANT_SLOTS];
    struct bucket want_budget, reply_budget;
} px_share;

static uint64_t
id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

/* 1 when the bucket has a token (taken), refilling at rate per second. */
static int
take(struct bucket *b, double rate, int64_t now)
{
    double cap = rate * 2;
    if (b->at_ms == 0)
        b->tokens = cap;
    b->tokens += (double)(now - b->at_ms) * rate / 1000.0;
    if (b->tokens > cap)
        b->tokens = cap;
    b->at_ms = now;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

/* 1 when client had no want in the last WANT_EVERY_MS (and records it).
 * Collisions only make a want wait. */
static int
want_due(struct want_slot *tab, const char *client, int64_t now)
{
    uint64_t h = id_hash(client);
    struct want_slot *w = &tab[h % WANT_SLOTS];
    if (w->h == h && w->ms && now - w->ms < WANT_EVERY_MS)
        return 0;
    w->h = h;
    w->ms = now ? now : 1;
    return 1;
}

/* HMAC-SHA256 over the record's fields, each followed by a NUL. */
static void
record_mac(const char *key, const char *g, const char *o, const char *op, const char *c,
           const char *t, double th, long long ts, const char *n, char out[65])
{
    char thb[32], tsb[32];
    snprintf(thb, sizeof thb, "%.6f", th);
    snprintf(tsb, sizeof tsb, "%lld", ts);
    const char *parts[] = {"weft-share-v1", g, o, op, c, t, thb, tsb, n};
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    /* one buffer, then one-shot HMAC (no deprecated context API) */
    char buf[RECORD_MAX];
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        size_t k = strlen(parts[i]) + 1;
        if (len + k > sizeof buf)
            k = sizeof buf - len;
        memcpy(buf + len, parts[i], k);
        len += k;
    }
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)buf, len, md, &mdlen) ||
        mdlen != 32)
        weft_panic("HMAC-SHA256 of a share record failed");
    weft_hex_encode(md, 32, out);
}

/* Publish one record of op ("sub" with topic and th, or "want"). */
static int
send_record(proxy *p, const char *op, const char *client, const char *topic, double th)
{
    px_share *sh = p->share;
    uint8_t rnd[8];
    if (weft_random_bytes(rnd, sizeof rnd) < 0)
        return -EIO;
    char nonce[17], mac[65] = "";
    weft_hex_encode(rnd, sizeof rnd, nonce);
    long long ts = (long long)weft_unix_ms();
    const char *g = p->cfg.share_group;
    int sub = !strcmp(op, "sub");
    if (p->cfg.share_key)
        record_mac(p->cfg.share_key, g, sh->origin, op, client, sub ? topic : "", sub ? th : 0, ts,
                   nonce, mac);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "op", op);
    cJSON_AddStringToObject(o, "g", g);
    cJSON_AddStringToObject(o, "o", sh->origin);
    cJSON_AddStringToObject(o, "c", client);
    if (sub) {
        cJSON_AddStringToObject(o, "t", topic);
        cJSON_AddNumberToObject(o, "th", th);
    }
    cJSON_AddNumberToObject(o, "ts", (double)ts);
    cJSON_AddStringToObject(o, "n", nonce);
    if (*mac)
        cJSON_AddStringToObject(o, "mac", mac);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return -ENOMEM;
    int rc = px_pool_publish_control(p->pool, sh->topic, (const uint8_t *)text, strlen(text));
    if (rc < 0)
        weft_log(WEFT_LOG_WARN, "proxy",
                 "msg=\"share record not sent: no node took it\" op=%s client=\"%s\" err=\"%s\"",
                 op, client, weft_strerror(rc));
    else
        weft_metric_inc(p->m.share_sent);
    free(text);
    return rc;
}

static void
on_subscribed(proxy *p, const char *client, const char *topic, double th)
{
    WEFT_IGNORE(send_record(p, "sub", client, topic, th));
}

static void
on_attached(proxy *p, const char *client)
{
    px_share *sh = p->share;
    int64_t now = weft_mono_ms();
    pthread_mutex_lock(&sh->mu);
    int go = want_due(sh->sent, client, now) && take(&sh->want_budget, WANTS_PER_S, now);
    pthread_mutex_unlock(&sh->mu);
    if (go)
        WEFT_IGNORE(send_record(p, "want", client, NULL, 0));
}

/* Another proxy asks for client's subscriptions: one "sub" record each,
 * within the answer budget. */
static void
answer_want(px_share *sh, const char *client)
{
    proxy *p = sh->p;
    static _Thread_local char topics[64][PX_TOPIC_MAX + 1];
    double th[64];
    int64_t now = weft_mono_ms();
    pthread_mutex_lock(&sh->mu);
    int due = want_due(sh->answered, client, now);
    pthread_mutex_unlock(&sh->mu);
    if (!due)
        return;
    size_t n = px_engine_subs(p->engine, client, topics, th, 64);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&sh->mu);
        int ok = take(&sh->reply_budget, REPLIES_PER_S, now);
        pthread_mutex_unlock(&sh->mu);
        if (!ok) {
            weft_log(WEFT_LOG_WARN, "proxy",
                     "msg=\"share answer cut short: over the record budget\" client=\"%s\" "
                     "sent=%zu of=%zu",
                     client, i, n);
            return;
        }
        WEFT_IGNORE(send_record(p, "sub", client, topics[i], th[i]));
    }
}

/* Count a refused record; log the first of every WARN_EVERY_MS. */
static void
refuse(px_share *sh, int node, const char *why, const char *value)
{
    weft_metric_inc(sh->p->m.share_refused);
    int64_t now = weft_mono_ms();
    pthread_mutex_lock(&sh->mu);
    int say = !sh->warned_ms || now - sh->warned_ms >= WARN_EVERY_MS;
    if (say)
        sh->warned_ms = now;
    pthread_mutex_unlock(&sh->mu);
    if (say)
        weft_log(WEFT_LOG_WARN, "proxy",
                 "msg=\"share record refused\" node=%d reason=\"%s\" value=\"%.64s\"", node, why,
                 value ? value : "");
}

static const char *
str_field(const cJSON *o, const char *name, size_t max)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(x) || !weft_text_ok(x->valuestring, max))
        return NULL;
    return x->valuestring;
}

/* 1 when nonce was applied recently; else remembers it. */
static int
seen(px_share *sh, const char *nonce)
{
    unsigned slot = (unsigned)(strtoull(nonce, NULL, 16) % NONCE_SLOTS);
    pthread_mutex_lock(&sh->mu);
    int dup = !strcmp(sh->nonces[slot], nonce);
    if (!dup)
        snprintf(sh->nonces[slot], sizeof sh->nonces[slot], "%s", nonce);
    pthread_mutex_unlock(&sh->mu);
    return dup;
}

static void
apply(px_share *sh, int node, const cJSON *r)
{
    proxy *p = sh->p;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "v");
    const char *op = str_field(r, "op", 8), *g = str_field(r, "g", 64);
    const char *o = str_field(r, "o", sizeof sh->origin - 1);
    const char *c = str_field(r, "c", PX_ID_MAX), *t = str_field(r, "t", PX_TOPIC_MAX);
    const char *n = str_field(r, "n", 16), *mac = str_field(r, "mac", 64);
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(r, "th");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r, "ts");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        return refuse(sh, node, "v: expected 1", NULL);
    int sub = op && !strcmp(op, "sub");
    if (!op || (!sub && strcmp(op, "want")))
        return refuse(sh, node, "op: expected \"sub\" or \"want\"", op);
    if (!g || strcmp(g, p->cfg.share_group))
        return refuse(sh, node, "g: not this proxy's WEFT_SHARE_GROUP", g);
    if (!o)
        return refuse(sh, node, "o: expected 1..159 characters", NULL);
    if (!strcmp(o, sh->origin))
        return; /* our own, back from the mesh */
    if (!c)
        return refuse(sh, node, "c: expected a client id of 1..128 characters", NULL);
    if (sub && (!t || px_topic_reserved(t)))
        return refuse(sh, node, "t: expected a client topic of 1..256 characters", t);
    if (sub && (!cJSON_IsNumber(th) || !(th->valuedouble >= 0.1 - 1e-9 && th->valuedouble <= 1.0)))
        return refuse(sh, node, "th: expected a threshold in [0.1, 1.0]", NULL);
    if (!sub && (cJSON_GetObjectItemCaseSensitive(r, "t") || th))
        return refuse(sh, node, "want: expected no t or th", NULL);
    if (!n || strlen(n) != 16 || strspn(n, "0123456789abcdef") != 16)
        return refuse(sh, node, "n: expected 16 lower-case hex digits", n);
    int64_t now = weft_unix_ms();
    if (!cJSON_IsNumber(ts) || !isfinite(ts->valuedouble) ||
        ts->valuedouble < (double)(now - p->cfg.share_ttl_ms) ||
        ts->valuedouble > (double)(now + FUTURE_MS))
        return refuse(sh, node, "ts: expected unix ms within WEFT_SHARE_TTL_S of now", NULL);
    if (p->cfg.share_key) {
        char want[65];
        record_mac(p->cfg.share_key, g, o, op, c, sub ? t : "", sub ? th->valuedouble : 0,
                   (long long)ts->valuedouble, n, want);
        if (!mac || strlen(mac) != 64 || CRYPTO_memcmp(mac, want, 64) != 0)
            return refuse(sh, node, "mac: missing or not signed with WEFT_SHARE_KEY", NULL);
    }
    if (seen(sh, n))
        return;
    if (!sub) {
        answer_want(sh, c);
        return;
    }
    int rc = px_engine_subscribe_shared(p->engine, c, t, th->valuedouble);
    if (rc < 0)
        return refuse(sh, node, "the engine refused it (client or topic limit)", c);
    weft_metric_inc(p->m.share_applied);
    weft_log(WEFT_LOG_DEBUG, "proxy",
             "msg=\"shared subscription applied\" from=\"%s\" client=\"%s\" topic=\"%s\"", o, c, t);
}

static void
on_control(proxy *p, int node, const char *json, size_t len)
{
    px_share *sh = p->share;
    cJSON *d = cJSON_ParseWithLength(json, len);
    const cJSON *t = d ? cJSON_GetObjectItemCaseSensitive(d, "topic") : NULL;
    const cJSON *m = d ? cJSON_GetObjectItemCaseSensitive(d, "message") : NULL;
    if (!cJSON_IsString(t) || strcmp(t->valuestring, sh->topic)) {
        /* another group's topic, or a reserved one we never subscribed */
        cJSON_Delete(d);
        return;
    }
    uint8_t raw[RECORD_MAX + 1];
    size_t blen = cJSON_IsString(m) ? strlen(m->valuestring) : 0;
    int k = blen && blen <= (RECORD_MAX + 2) / 3 * 4
                ? weft_base64_decode(m->valuestring, blen, raw, RECORD_MAX)
                : -1;
    cJSON_Delete(d);
    if (k <= 0) {
        refuse(sh, node, "message: expected base64 of at most 2048 bytes", NULL);
        return;
    }
    raw[k] = 0;
    cJSON *r = cJSON_ParseWithLength((const char *)raw, (size_t)k);
    if (!cJSON_IsObject(r))
        refuse(sh, node, "record: expected a JSON object", NULL);
    else
        apply(sh, node, r);
    cJSON_Delete(r);
}

int
px_share_start(proxy *p)
{
    if (!p->cfg.share) {
        weft_log(WEFT_LOG_INFO, "proxy", "msg=\"subscription sharing off (WEFT_SHARE=false)\"");
        return 0;
    }
    if (p->cfg.enable_auth && !p->cfg.share_key) {
        weft_log(WEFT_LOG_WARN, "proxy",
                 "msg=\"subscription sharing off: ENABLE_AUTH needs WEFT_SHARE_KEY to sign the "
                 "shared records\"");
        return 0;
    }
    px_share *sh = calloc(1, sizeof *sh);
    uint8_t tag[4];
    if (!sh || weft_random_bytes(tag, sizeof tag) < 0) {
        free(sh);
        fprintf(stderr, "weft-proxy: out of memory (or no randomness) for sharing\n");
        return -1;
    }
    char hex[9];
    weft_hex_encode(tag, sizeof tag, hex);
    sh->p = p;
    pthread_mutex_init(&sh->mu, NULL);
    snprintf(sh->topic, sizeof sh->topic, PX_RESERVED_PREFIX "share/%s", p->cfg.share_group);
    snprintf(sh->origin, sizeof sh->origin, "%s:%s", p->cfg.cluster_id, hex);
    p->share = sh;
    p->on_control = on_control;
    p->on_subscribed = on_subscribed;
    p->on_attached = on_attached;
    px_pool_subscribe(p->pool, sh->topic);
    weft_log(WEFT_LOG_INFO, "proxy",
             "msg=\"sharing subscriptions\" group=\"%s\" topic=\"%s\" origin=\"%s\" signed=%s",
             p->cfg.share_group, sh->topic, sh->origin, p->cfg.share_key ? "yes" : "no");
    return 0;
}

void
px_share_stop(proxy *p)
{
    px_share *sh = p->share;
    if (!sh)
        return;
    p->on_subscribed = NULL;
    p->on_attached = NULL;
    p->on_control = NULL;
    p->share = NULL;
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}
