/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hash map from short byte strings (message ids, up to 64 bytes) to a
 * pointer and a timestamp: open addressing, linear probing, backward-shift
 * deletion, SipHash-free but keyed (a per-map random key feeds the hash, so
 * a peer cannot choose ids that collide). Capacity is bounded by `max`.
 */
#ifndef WEFT_PS_MAP_H
#define WEFT_PS_MAP_H

#include <stddef.h>
#include <stdint.h>

#define PS_KEY_MAX 64

typedef struct ps_map_ent {
    uint64_t hash; /* 0 = empty */
    void *val;
    int64_t t;
    uint8_t klen;
    uint8_t key[PS_KEY_MAX];
} ps_map_ent;

typedef struct ps_map {
    ps_map_ent *ents;
    size_t cap; /* power of two, or 0 */
    size_t len;
    size_t max; /* entries allowed */
    uint64_t seed;
} ps_map;

void ps_map_init(ps_map *m, size_t max, uint64_t seed);
void ps_map_free(ps_map *m);
ps_map_ent *ps_map_get(const ps_map *m, const uint8_t *key, size_t klen);
/* Insert (or find). *fresh tells which. NULL when full (len == max), the key
 * is too long, or memory ran out. */
ps_map_ent *ps_map_put(ps_map *m, const uint8_t *key, size_t klen, int *fresh);
void ps_map_del(ps_map *m, ps_map_ent *e);
/* Delete every entry for which drop(e, u) returns non-zero. */
void ps_map_filter(ps_map *m, int (*drop)(ps_map_ent *e, void *u), void *u);

#endif
