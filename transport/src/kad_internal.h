/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the Kademlia engine shared by kad.c (requests, stores,
 * random walk), kad_table.c (k-buckets) and kad_lookup.c (iterative
 * lookups).
 */
#ifndef WEFT_KAD_INTERNAL_H
#define WEFT_KAD_INTERNAL_H

#include "weft/kad.h"
#include "weft/rng.h"

#define KAD_S 1000000000LL /* ns per second */
#define KAD_MAX_K 32
#define KAD_MAX_BUCKETS 256
#define KAD_RATE_SLOTS 256
#define KAD_LOOKUP_CANDS 64
#define KAD_FAILS_TO_DROP 3
#define KAD_MAX_SELF_ADDRS WEFT_KAD_MAX_ADDRS

typedef struct kad_entry {
    weft_kad_peer p;
    uint8_t kid[32];
    int connected;
    int64_t last_seen, down_since;
    unsigned fails;
} kad_entry;

typedef struct kad_bucket {
    kad_entry *e[KAD_MAX_K]; /* least recently seen first */
    size_t n;
} kad_bucket;

typedef struct kad_record {
    uint8_t *key, *val;
    size_t klen, vlen;
    int64_t at;
} kad_record;

typedef struct kad_prov {
    uint8_t kid[32];
    weft_kad_peer *p;
    int64_t at;
} kad_prov;

typedef struct kad_rate {
    weft_peer_id id;
    double tokens;
    int64_t last;
} kad_rate;

typedef struct kad_lookup kad_lookup;

struct weft_kad {
    weft_kad_config cfg;
    uint8_t self_kid[32];
    kad_bucket buckets[KAD_MAX_BUCKETS];
    size_t nbuckets;
    weft_multiaddr self_addrs[KAD_MAX_SELF_ADDRS];
    size_t nself;
    kad_record *recs;
    size_t nrecs;
    kad_prov *provs;
    size_t nprovs;
    kad_rate rates[KAD_RATE_SLOTS];
    kad_lookup *lookups;
    unsigned nlookups;
    uint64_t next_req;
    weft_rng rng;
    int64_t next_walk;
    weft_kad_stats st;
};

/* kad_table.c */
kad_entry *kad_table_find(const weft_kad *kad, const weft_peer_id *id);
size_t kad_table_count(const weft_kad *kad);
void kad_table_free(weft_kad *kad);
void kad_request_failed(weft_kad *kad, const weft_peer_id *id);

/* kad.c */
kad_record *kad_record_get(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now);
int kad_record_put(weft_kad *kad, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   int64_t now);
int kad_provider_add(weft_kad *kad, const uint8_t kid[32], const weft_kad_peer *p, int64_t now);
size_t kad_providers_get(weft_kad *kad, const uint8_t kid[32], int64_t now, weft_kad_peer *out,
                         size_t max);
void kad_self_peer(const weft_kad *kad, weft_kad_peer *out);

/* kad_lookup.c */
void kad_lookups_tick(weft_kad *kad, int64_t now);
void kad_lookups_free(weft_kad *kad);
int kad_lookup_response(weft_kad *kad, uint64_t req, int64_t now, const uint8_t *msg, size_t len);

#endif
