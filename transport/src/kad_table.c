/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The routing table: k-buckets by common prefix length with our own id.
 * Bucket i < nbuckets - 1 holds the peers sharing exactly i leading bits
 * with us; the last bucket holds every peer sharing nbuckets - 1 bits or
 * more. A peer for a full last bucket splits it (a new last bucket takes
 * the peers that share more bits) until there is room or the bucket no
 * longer covers our own neighbourhood; a peer for any other full bucket
 * replaces the entry whose connection has been down the longest, and is
 * refused (counted in table_full) when every entry is connected: live
 * peers are never evicted for new ones.
 */
#include <stdlib.h>
#include <string.h>

#include "kad_internal.h"

static size_t
bucket_of(const weft_kad *kad, const uint8_t kid[32])
{
    size_t c = weft_kad_cpl(kad->self_kid, kid);
    return c < kad->nbuckets - 1 ? c : kad->nbuckets - 1;
}

kad_entry *
kad_table_find(const weft_kad *kad, const weft_peer_id *id)
{
    uint8_t kid[32];
    weft_kad_id(id->bytes, id->len, kid);
    const kad_bucket *b = &kad->buckets[bucket_of(kad, kid)];
    for (size_t i = 0; i < b->n; i++)
        if (weft_peer_id_equal(&b->e[i]->p.id, id))
            return b->e[i];
    return NULL;
}

size_t
kad_table_count(const weft_kad *kad)
{
    size_t n = 0;
    for (size_t i = 0; i < kad->nbuckets; i++)
        n += kad->buckets[i].n;
    return n;
}

void
kad_table_free(weft_kad *kad)
{
    for (size_t i = 0; i < kad->nbuckets; i++)
        for (size_t j = 0; j < kad->buckets[i].n; j++)
            free(kad->buckets[i].e[j]);
    memset(kad->buckets, 0, sizeof kad->buckets);
    kad->nbuckets = 1;
}

static void
bucket_remove_at(kad_bucket *b, size_t i)
{
    memmove(&b->e[i], &b->e[i + 1], (b->n - i - 1) * sizeof b->e[0]);
    b->n--;
}

/* Split the last bucket once. Returns 1 if it split. */
static int
split_last(weft_kad *kad)
{
    if (kad->nbuckets >= KAD_MAX_BUCKETS)
        return 0;
    size_t last = kad->nbuckets - 1;
    kad_bucket *old = &kad->buckets[last], *nb = &kad->buckets[last + 1];
    kad->nbuckets++;
    for (size_t i = 0; i < old->n;) {
        if (weft_kad_cpl(kad->self_kid, old->e[i]->kid) > last) {
            nb->e[nb->n++] = old->e[i];
            bucket_remove_at(old, i);
        } else {
            i++;
        }
    }
    kad->st.splits++;
    return 1;
}

static void
entry_update(kad_entry *e, const weft_kad_peer *p, int connected, int64_t now)
{
    if (p->naddrs) {
        memcpy(e->p.addrs, p->addrs, p->naddrs * sizeof p->addrs[0]);
        e->p.naddrs = p->naddrs;
    }
    if (connected) {
        e->connected = 1;
        e->down_since = 0;
        e->fails = 0;
    }
    e->last_seen = now;
}

int
weft_kad_add_peer(weft_kad *kad, const weft_kad_peer *p, int connected, int64_t now)
{
    if (!p->id.len || weft_peer_id_equal(&p->id, &kad->cfg.self))
        return 0;
    uint8_t kid[32];
    weft_kad_id(p->id.bytes, p->id.len, kid);
    size_t bi = bucket_of(kad, kid);
    kad_bucket *b = &kad->buckets[bi];
    for (size_t i = 0; i < b->n; i++) {
        kad_entry *e = b->e[i];
        if (weft_peer_id_equal(&e->p.id, &p->id)) {
            entry_update(e, p, connected, now);
            bucket_remove_at(b, i); /* to the most recently seen end */
            b->e[b->n++] = e;
            return 1;
        }
    }
    size_t k = kad->cfg.k;
    while (b->n >= k && bi == kad->nbuckets - 1 && split_last(kad)) {
        bi = bucket_of(kad, kid);
        b = &kad->buckets[bi];
    }
    if (b->n >= k) {
        size_t victim = b->n;
        for (size_t i = 0; i < b->n; i++)
            if (!b->e[i]->connected &&
                (victim == b->n || b->e[i]->down_since < b->e[victim]->down_since))
                victim = i;
        if (victim == b->n) {
            kad->st.table_full++;
            return 0;
        }
        free(b->e[victim]);
        bucket_remove_at(b, victim);
        kad->st.evictions++;
    }
    kad_entry *e = calloc(1, sizeof *e);
    if (!e)
        return 0;
    int was_empty = kad_table_count(kad) == 0;
    e->p.id = p->id;
    memcpy(e->kid, kid, 32);
    e->connected = 0;
    entry_update(e, p, connected, now);
    b->e[b->n++] = e;
    if (was_empty && kad->cfg.refresh_interval_ns >= 0)
        kad->next_walk = now; /* the first peer: bootstrap with a self lookup */
    return 1;
}

void
weft_kad_peer_down(weft_kad *kad, const weft_peer_id *id, int64_t now)
{
    kad_entry *e = kad_table_find(kad, id);
    if (e && e->connected) {
        e->connected = 0;
        e->down_since = now;
    }
}

static void
remove_entry(weft_kad *kad, const weft_peer_id *id)
{
    uint8_t kid[32];
    weft_kad_id(id->bytes, id->len, kid);
    kad_bucket *b = &kad->buckets[bucket_of(kad, kid)];
    for (size_t i = 0; i < b->n; i++)
        if (weft_peer_id_equal(&b->e[i]->p.id, id)) {
            free(b->e[i]);
            bucket_remove_at(b, i);
            return;
        }
}

void
weft_kad_remove_peer(weft_kad *kad, const weft_peer_id *id)
{
    remove_entry(kad, id);
}

void
kad_request_failed(weft_kad *kad, const weft_peer_id *id)
{
    kad_entry *e = kad_table_find(kad, id);
    if (e && ++e->fails >= KAD_FAILS_TO_DROP && !e->connected)
        remove_entry(kad, id);
}

const weft_kad_peer *
weft_kad_lookup_peer(const weft_kad *kad, const weft_peer_id *id)
{
    const kad_entry *e = kad_table_find(kad, id);
    return e ? &e->p : NULL;
}

size_t
weft_kad_closest(const weft_kad *kad, const uint8_t target[32], weft_kad_peer *out, size_t max)
{
    /* Insertion into a sorted list of at most max pointers. */
    const kad_entry *best[KAD_MAX_K * 2];
    if (max > sizeof best / sizeof best[0])
        max = sizeof best / sizeof best[0];
    size_t n = 0;
    for (size_t i = 0; i < kad->nbuckets; i++)
        for (size_t j = 0; j < kad->buckets[i].n; j++) {
            const kad_entry *e = kad->buckets[i].e[j];
            size_t at = n;
            while (at > 0 && weft_kad_cmp_dist(target, e->kid, best[at - 1]->kid) < 0)
                at--;
            if (at >= max)
                continue;
            size_t keep = n < max ? n : max - 1;
            memmove(&best[at + 1], &best[at], (keep - at) * sizeof best[0]);
            best[at] = e;
            if (n < max)
                n++;
        }
    for (size_t i = 0; i < n; i++) {
        out[i] = best[i]->p;
        out[i].connection = best[i]->connected ? WEFT_KAD_CONNECTED : WEFT_KAD_NOT_CONNECTED;
    }
    return n;
}

size_t
weft_kad_table_peers(const weft_kad *kad, weft_kad_peer *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < kad->nbuckets; i++)
        for (size_t j = 0; j < kad->buckets[i].n && n < max; j++)
            out[n++] = kad->buckets[i].e[j]->p;
    return n;
}
