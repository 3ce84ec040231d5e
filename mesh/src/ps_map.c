/* SPDX-License-Identifier: Apache-2.0 */
#include "ps_map.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t
hash_key(const ps_map *m, const uint8_t *k, size_t n)
{
    uint64_t h = m->seed ^ (n * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    uint64_t w = 0;
    memcpy(&w, k + i, n - i);
    h = mix(h ^ w ^ ((uint64_t)(n - i) << 56));
    return h ? h : 1;
}

void
ps_map_init(ps_map *m, size_t max, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->max = max ? max : SIZE_MAX / 4;
    m->seed = mix(seed ^ 0x5bd1e9955bd1e995ULL);
}

void
ps_map_free(ps_map *m)
{
    free(m->ents);
    m->ents = NULL;
    m->cap = m->len = 0;
}

ps_map_ent *
ps_map_get(const ps_map *m, const uint8_t *key, size_t klen)
{
    if (!m->cap || klen > PS_KEY_MAX)
        return NULL;
    uint64_t h = hash_key(m, key, klen);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        ps_map_ent *e = &m->ents[i];
        if (!e->hash)
            return NULL;
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
            return e;
    }
}

static int
grow(ps_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    ps_map_ent *ne = calloc(ncap, sizeof *ne);
    if (!ne)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        ps_map_ent *e = &m->ents[i];
        if (!e->hash)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ne[j].hash)
            j = (j + 1) & (ncap - 1);
        ne[j] = *e;
    }
    free(m->ents);
    m->ents = ne;
    m->cap = ncap;
    return 0;
}

ps_map_ent *
ps_map_put(ps_map *m, const uint8_t *key, size_t klen, int *fresh)
{
    if (klen > PS_KEY_MAX)
        return NULL;
    ps_map_ent *e = ps_map_get(m, key, klen);
    if (e) {
        if (fresh)
            *fresh = 0;
        return e;
    }
    if (m->len >= m->max)
        return NULL;
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m))
        return NULL;
    uint64_t h = hash_key(m, key, klen);
    size_t i = h & (m->cap - 1);
    while (m->ents[i].hash)
        i = (i + 1) & (m->cap - 1);
    e = &m->ents[i];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    m->len++;
    if (fresh)
        *fresh = 1;
    return e;
}

void
ps_map_del(ps_map *m, ps_map_ent *e)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)(e - m->ents);
    m->ents[i].hash = 0;
    m->len--;
    /* Backward shift: move later entries of the run into the hole when
     * their home slot is not between the hole and their position. */
    for (size_t j = (i + 1) & mask; m->ents[j].hash; j = (j + 1) & mask) {
        size_t home = m->ents[j].hash & mask;
        int move = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            m->ents[i] = m->ents[j];
            m->ents[j].hash = 0;
            i = j;
        }
    }
}

void
ps_map_filter(ps_map *m, int (*drop)(ps_map_ent *e, void *u), void *u)
{
    /* Deleting shifts entries backwards, so revisit a slot after a deletion;
     * start at an empty slot so no run is split across the wrap. */
    if (!m->len)
        return;
    size_t start = 0;
    while (m->ents[start].hash)
        start++;
    size_t mask = m->cap - 1;
    for (size_t n = 0, i = (start + 1) & mask; n < m->cap; n++, i = (i + 1) & mask) {
        while (m->ents[i].hash && drop(&m->ents[i], u))
            ps_map_del(m, &m->ents[i]);
    }
}
