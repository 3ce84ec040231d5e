/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client publish limits (weft/svc_ratelimit.h).
 *
 * Clients live in a fixed-size table split into shards; each shard has its
 * own mutex, hash buckets (SipHash with a per-table random key, so client
 * ids chosen by an attacker cannot pile into one chain) and an LRU list
 * whose tail is evicted when the shard is full. Small tables use a single
 * shard so eviction is exactly least-recently-seen.
 *
 * A check first computes every verdict from the state brought up to now,
 * then charges only if all four allow: a refused publish leaves the
 * counters as they were (bringing a bucket up to date is not a charge).
 *
 * Units: the per-second bucket counts milli-publishes, so a limit of L per
 * second refills L units per millisecond and a publish costs 1000; the
 * hourly window keeps one count per minute in a ring of 60.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"
#include "weft/rng.h"
#include "weft/siphash.h"
#include "weft/svc_ratelimit.h"

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define HOUR_SLOTS 60
#define LIMIT_CAP 1000000000000LL /* 10^12: "unlimited" for every practical purpose */
#define COST 1000                 /* one publish, in bucket units */
#define MANY_CLIENTS 4096         /* from here on the table is sharded */
#define NSHARDS 16

struct hour_window {
    int64_t last_min;           /* newest minute the ring covers */
    uint32_t count[HOUR_SLOTS]; /* publishes in minute m, at m % 60 */
};

struct client {
    struct client *hnext;       /* hash chain */
    struct client *prev, *next; /* LRU list, head = most recently seen */
    uint64_t hash;
    int64_t tokens; /* per-second bucket, units of 1/1000 publish */
    int64_t sec_ms; /* when tokens was last brought up to date; INT64_MIN: never */
    int64_t day;    /* UTC day that day_bytes counts */
    int64_t day_bytes;
    struct hour_window *hour; /* allocated when a per-hour limit first applies */
    size_t idlen;
    char id[];
};

struct shard {
    pthread_mutex_t mu;
    struct client **bucket;
    size_t mask;       /* bucket count - 1 */
    size_t cap, count; /* clients allowed, held */
    struct client *head, *tail;
};

struct weft_ratelimit {
    size_t nshards;
    uint8_t key[WEFT_SIPHASH_KEYBYTES];
    struct shard shard[];
};

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int
slot(int64_t minute)
{
    int64_t s = minute % HOUR_SLOTS;
    return (int)(s < 0 ? s + HOUR_SLOTS : s);
}

static int64_t
clamp(int64_t v, int64_t hi)
{
    return v > hi ? hi : v;
}

weft_ratelimit *
weft_ratelimit_new(size_t max_clients)
{
    if (!max_clients)
        max_clients = 100000;
    size_t ns = max_clients >= MANY_CLIENTS ? NSHARDS : 1;
    weft_ratelimit *r = calloc(1, sizeof *r + ns * sizeof r->shard[0]);
    if (!r)
        return NULL;
    r->nshards = ns;
    if (weft_random_bytes(r->key, sizeof r->key) < 0) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < ns; i++) {
        struct shard *s = &r->shard[i];
        /* spread the remainder so the caps add up to max_clients exactly */
        s->cap = max_clients / ns + (i < max_clients % ns);
        size_t nb = 16;
        while (nb < s->cap && nb < ((size_t)1 << 30))
            nb <<= 1;
        s->mask = nb - 1;
        s->bucket = calloc(nb, sizeof *s->bucket);
        pthread_mutex_init(&s->mu, NULL);
        if (!s->bucket) {
            r->nshards = i + 1;
            weft_ratelimit_free(r);
            return NULL;
        }
    }
    return r;
}

static void
free_client(struct client *c)
{
    free(c->hour);
    free(c);
}

void
weft_ratelimit_free(weft_ratelimit *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nshards; i++) {
        struct shard *s = &r->shard[i];
        for (struct client *c = s->head, *n; c; c = n) {
            n = c->next;
            free_client(c);
        }
        free(s->bucket);
        pthread_mutex_destroy(&s->mu);
    }
    free(r);
}

static void
lru_unlink(struct shard *s, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    c->prev = c->next = NULL;
}

static void
lru_push_front(struct shard *s, struct client *c)
{
    c->prev = NULL;
    c->next = s->head;
    if (s->head)
        s->head->prev = c;
    s->head = c;
    if (!s->tail)
        s->tail = c;
}

/* Unlink c from the table (hash chain, LRU list) without freeing it. */
static void
detach(struct shard *s, struct client *c)
{
    struct client **pp = &s->bucket[c->hash & s->mask];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    lru_unlink(s, c);
    s->count--;
}

static struct client *
lookup(struct shard *s, uint64_t h, const char *id, size_t len)
{
    for (struct client *c = s->bucket[h & s->mask]; c; c = c->hnext)
        if (c->hash == h && c->idlen == len && memcmp(c->id, id, len) == 0)
            return c;
    return NULL;
}

static uint64_t
hash_id(const weft_ratelimit *r, const char *id, size_t len)
{
    return weft_siphash24(r->key, id, len);
}

static struct shard *
shard_of(weft_ratelimit *r, uint64_t h)
{
    /* top bits pick the shard, low bits the bucket */
    return &r->shard[(h >> 40) % r->nshards];
}

/* The client's entry, created (evicting the least recently seen client of
 * a full shard) if needed, and moved to the front of the LRU list. */
static struct client *
find_or_add(struct shard *s, uint64_t h, const char *id, size_t len, int64_t now_ms)
{
    struct client *c = lookup(s, h, id, len);
    if (c) {
        lru_unlink(s, c);
        lru_push_front(s, c);
        return c;
    }
    c = calloc(1, sizeof *c + len + 1);
    if (!c)
        return NULL;
    c->hash = h;
    c->sec_ms = INT64_MIN;
    c->day = floor_div(now_ms, DAY_MS);
    c->idlen = len;
    memcpy(c->id, id, len);
    if (s->count >= s->cap) {
        struct client *old = s->tail;
        detach(s, old);
        free_client(old);
    }
    c->hnext = s->bucket[h & s->mask];
    s->bucket[h & s->mask] = c;
    lru_push_front(s, c);
    s->count++;
    return c;
}

/* Bring the per-second bucket up to now (no charge). */
static void
sec_refill(struct client *c, int64_t limit, int64_t now_ms)
{
    int64_t full = limit * COST;
    if (c->sec_ms == INT64_MIN) {
        c->tokens = full;
        c->sec_ms = now_ms;
        return;
    }
    if (now_ms <= c->sec_ms) {
        c->tokens = clamp(c->tokens, full); /* the limit may have dropped */
        return;
    }
    int64_t dt = now_ms - c->sec_ms;
    /* a full second refills any bucket; below that dt * limit < 10^15 */
    c->tokens = dt >= COST ? full : clamp(c->tokens + dt * limit, full);
    c->sec_ms = now_ms;
}

/* Bring the hourly ring up to now's minute (no charge); returns the minute
 * the ring now ends at, which never goes backwards. */
static int64_t
hour_advance(struct hour_window *w, int64_t now_ms)
{
    int64_t m = floor_div(now_ms, MINUTE_MS);
    if (m <= w->last_min)
        return w->last_min;
    if (m - w->last_min >= HOUR_SLOTS) {
        memset(w->count, 0, sizeof w->count);
    } else {
        for (int64_t k = w->last_min + 1; k <= m; k++)
            w->count[slot(k)] = 0;
    }
    w->last_min = m;
    return m;
}

/* Which refusal lifts last: -1 (never) beats any wait. */
static void
worse(int64_t wait, const char *name, int64_t *max_wait, const char **which)
{
    if (*which == NULL || (*max_wait != -1 && (wait == -1 || wait > *max_wait))) {
        *max_wait = wait;
        *which = name;
    }
}

int
weft_ratelimit_check(weft_ratelimit *r, const char *client, const weft_limits *lim,
                     size_t msg_bytes, int64_t now_ms, int64_t *retry_after_ms, const char **which)
{
    int64_t wait_dummy;
    const char *which_dummy;
    if (!retry_after_ms)
        retry_after_ms = &wait_dummy;
    if (!which)
        which = &which_dummy;
    *retry_after_ms = 0;
    *which = NULL;
    if (!r || !client || !lim)
        return WEFT_EINVAL;
    size_t len = strnlen(client, WEFT_RATELIMIT_ID_MAX + 1);
    if (len == 0 || len > WEFT_RATELIMIT_ID_MAX)
        return WEFT_EINVAL;
    if (lim->max_publish_per_hour < 0 || lim->max_publish_per_sec < 0 ||
        lim->max_message_size < 0 || lim->daily_quota < 0)
        return WEFT_EINVAL;

    int64_t per_sec = clamp(lim->max_publish_per_sec, LIMIT_CAP);
    /* per-minute counts are 32-bit: no minute can exceed the hourly limit */
    int64_t per_hour = clamp(lim->max_publish_per_hour, UINT32_MAX);
    int64_t max_size = clamp(lim->max_message_size, LIMIT_CAP);
    int64_t quota = clamp(lim->daily_quota, LIMIT_CAP);
    /* sizes past the cap are over every limit; keep the arithmetic in range */
    int64_t bytes = msg_bytes > (size_t)LIMIT_CAP ? LIMIT_CAP + 1 : (int64_t)msg_bytes;

    int64_t wait = 0;
    const char *name = NULL;
    if (max_size && bytes > max_size)
        worse(-1, "max_message_size", &wait, &name);
    if (quota && bytes > quota)
        worse(-1, "daily_quota", &wait, &name);
    if (name) {
        /* never allowed: no state to look at */
        *retry_after_ms = -1;
        *which = name;
        return WEFT_ELIMIT;
    }
    if (!per_sec && !per_hour && !quota)
        return 0; /* nothing to count */

    uint64_t h = hash_id(r, client, len);
    struct shard *s = shard_of(r, h);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    struct client *c = find_or_add(s, h, client, len, now_ms);
    if (!c) {
        rc = -ENOMEM;
        goto out;
    }
    if (per_hour && !c->hour) {
        c->hour = calloc(1, sizeof *c->hour);
        if (!c->hour) {
            rc = -ENOMEM;
            goto out;
        }
        c->hour->last_min = floor_div(now_ms, MINUTE_MS);
    }

    if (per_sec) {
        sec_refill(c, per_sec, now_ms);
        if (c->tokens < COST) {
            int64_t deficit = COST - c->tokens;
            worse((deficit + per_sec - 1) / per_sec, "max_publish_per_sec", &wait, &name);
        }
    }
    int64_t cur_min = 0;
    if (per_hour) {
        cur_min = hour_advance(c->hour, now_ms);
        uint64_t total = 0;
        for (int i = 0; i < HOUR_SLOTS; i++)
            total += c->hour->count[i];
        if (total >= (uint64_t)per_hour) {
            /* wait until enough of the oldest minutes have left the window */
            uint64_t need = total - (uint64_t)per_hour + 1, acc = 0;
            int64_t m = cur_min - (HOUR_SLOTS - 1);
            for (; m <= cur_min; m++) {
                acc += c->hour->count[slot(m)];
                if (acc >= need)
                    break;
            }
            int64_t t = (m + HOUR_SLOTS) * MINUTE_MS - now_ms;
            worse(t > 0 ? t : 1, "max_publish_per_hour", &wait, &name);
        }
    }
    int64_t today = floor_div(now_ms, DAY_MS);
    if (today > c->day) {
        c->day = today;
        c->day_bytes = 0;
    }
    if (quota && bytes <= quota && c->day_bytes + bytes > quota) {
        int64_t t = (c->day + 1) * DAY_MS - now_ms;
        worse(t > 0 ? t : 1, "daily_quota", &wait, &name);
    }

    if (name) {
        rc = WEFT_ELIMIT;
        *retry_after_ms = wait;
        *which = name;
        goto out;
    }
    if (per_sec)
        c->tokens -= COST;
    if (per_hour)
        c->hour->count[slot(cur_min)]++;
    /* saturate: past twice the largest quota every verdict is the same */
    c->day_bytes = clamp(c->day_bytes + bytes, 2 * LIMIT_CAP);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t
weft_ratelimit_count(weft_ratelimit *r)
{
    size_t n = 0;
    if (!r)
        return 0;
    for (size_t i = 0; i < r->nshards; i++) {
        pthread_mutex_lock(&r->shard[i].mu);
        n += r->shard[i].count;
        pthread_mutex_unlock(&r->shard[i].mu);
    }
    return n;
}

int
weft_ratelimit_forget(weft_ratelimit *r, const char *client)
{
    if (!r || !client)
        return 0;
    size_t len = strnlen(client, WEFT_RATELIMIT_ID_MAX + 1);
    if (len == 0 || len > WEFT_RATELIMIT_ID_MAX)
        return 0;
    uint64_t h = hash_id(r, client, len);
    struct shard *s = shard_of(r, h);
    pthread_mutex_lock(&s->mu);
    struct client *c = lookup(s, h, client, len);
    if (c)
        detach(s, c);
    pthread_mutex_unlock(&s->mu);
    if (c)
        free_client(c);
    return c != NULL;
}
