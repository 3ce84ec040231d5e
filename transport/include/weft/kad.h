/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/kad.h: the libp2p Kademlia DHT (/ipfs/kad/1.0.0).
 *
 * Three parts:
 *   - the wire message (kad_msg.c): proto3 Message { type = 1; key = 2;
 *     record = 3 (Record { key = 1; value = 2; timeReceived = 5 });
 *     closerPeers = 8 and providerPeers = 9 (Peer { id = 1; addrs = 2;
 *     connection = 3 }); clusterLevelRaw = 10 (ignored) }, each one sent
 *     with a uvarint length prefix, at most WEFT_KAD_MAX_MSG bytes;
 *   - the engine (kad.c, kad_table.c, kad_store.c, kad_lookup.c): a routing
 *     table of k-buckets over SHA-256(key bytes) with the XOR metric, the
 *     record and provider stores, iterative lookups with alpha requests in
 *     flight. It does no I/O: time is passed in, outbound requests go
 *     through the send callback and their answers come back through
 *     weft_kad_on_response;
 *   - the host binding (kad_host.c): streams on a weft_host, one stream per
 *     outbound request, identify-driven table membership (a peer enters the
 *     table when its identify lists the protocol, i.e. it is a DHT server),
 *     liveness from the connection (yamux keep-alive and ping) rather than
 *     kad PING messages.
 *
 * Records are validated by namespace before they are stored or returned:
 *   /pk/<peer id multihash bytes>   value = the PublicKey protobuf whose
 *                                   peer id is that multihash (Ed25519);
 *   /weft/<peer id text>/<name>     value = WeftRecord protobuf { bytes
 *                                   pubkey = 1 (PublicKey protobuf); uint64
 *                                   seq = 2; bytes data = 3; bytes sig = 4 },
 *                                   sig = Ed25519 by that key over
 *                                   "weft-kad-record:" || key || uvarint(seq)
 *                                   || data; the key's peer id must be the
 *                                   signer's; of two valid records the higher
 *                                   seq wins. name: 1..128 bytes of [A-Za-z0-9._-].
 * Other namespaces are refused (WEFT_EINVAL) and counted.
 *
 * Threading: one engine per loop thread; nothing here locks.
 */
#ifndef WEFT_KAD_H
#define WEFT_KAD_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/host.h"
#include "weft/identity.h"
#include "weft/multiaddr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_KAD_PROTO "/ipfs/kad/1.0.0"
#define WEFT_KAD_MAX_MSG (64 * 1024) /* one message, without its length prefix */
#define WEFT_KAD_MAX_KEY 256
#define WEFT_KAD_MAX_VALUE (16 * 1024)
#define WEFT_KAD_MAX_PEERS 32 /* closerPeers / providerPeers kept from one message */
#define WEFT_KAD_MAX_ADDRS 8  /* addresses kept per peer */
#define WEFT_KAD_K 20
#define WEFT_KAD_ALPHA 3

enum {
    WEFT_KAD_PUT_VALUE = 0,
    WEFT_KAD_GET_VALUE = 1,
    WEFT_KAD_ADD_PROVIDER = 2,
    WEFT_KAD_GET_PROVIDERS = 3,
    WEFT_KAD_FIND_NODE = 4,
    WEFT_KAD_PING = 5,
};

enum {
    WEFT_KAD_NOT_CONNECTED = 0,
    WEFT_KAD_CONNECTED = 1,
    WEFT_KAD_CAN_CONNECT = 2,
    WEFT_KAD_CANNOT_CONNECT = 3
};

typedef struct weft_kad_peer {
    weft_peer_id id;
    weft_multiaddr addrs[WEFT_KAD_MAX_ADDRS];
    size_t naddrs;
    int connection;
} weft_kad_peer;

/* A decoded message. Pointers (key, record) point into the decoded input. */
typedef struct weft_kad_msg {
    int type;
    const uint8_t *key;
    size_t key_len;
    int has_record;
    const uint8_t *rec_key, *rec_value;
    size_t rec_key_len, rec_value_len;
    weft_kad_peer closer[WEFT_KAD_MAX_PEERS];
    size_t ncloser;
    weft_kad_peer providers[WEFT_KAD_MAX_PEERS];
    size_t nproviders;
    size_t dropped; /* peers or addresses over the bounds or unparsable, skipped */
} weft_kad_msg;

/* Serialize (without the length prefix); timeReceived is written when a
 * record is present. Returns 0 or a weft_buf error. */
WEFT_NODISCARD WEFT_API int weft_kad_msg_encode(const weft_kad_msg *m, weft_buf *out);
/* Parse one message body. Returns 0, WEFT_ETOOBIG or WEFT_EPROTO (with a
 * reason naming the field in why, which may be NULL). */
WEFT_NODISCARD WEFT_API int weft_kad_msg_decode(const uint8_t *p, size_t len, weft_kad_msg *out,
                                                const char **why);

/* The 256-bit Kademlia id of a key: SHA-256 of its bytes. */
WEFT_API void weft_kad_id(const uint8_t *key, size_t len, uint8_t out[32]);
/* Common prefix length (0..256) of two ids. */
WEFT_API unsigned weft_kad_cpl(const uint8_t a[32], const uint8_t b[32]);
/* Whether a is closer to target than b (XOR metric): <0, 0 (equal), >0. */
WEFT_API int weft_kad_cmp_dist(const uint8_t target[32], const uint8_t a[32], const uint8_t b[32]);

/* Record validation (see above). 0 or WEFT_EINVAL / WEFT_EAUTH / WEFT_ETOOBIG
 * with a reason in why. */
WEFT_NODISCARD WEFT_API int weft_kad_validate(const uint8_t *key, size_t klen, const uint8_t *val,
                                              size_t vlen, const char **why);
/* Of two valid records for one key: 0 if a is at least as good, 1 if b is better. */
WEFT_API int weft_kad_select(const uint8_t *key, size_t klen, const uint8_t *a, size_t alen,
                             const uint8_t *b, size_t blen);
/* Build a signed /weft/ record for key (which must name id's peer id). */
WEFT_NODISCARD WEFT_API int weft_kad_weft_record(const weft_identity *id, const uint8_t *key,
                                                 size_t klen, uint64_t seq, const uint8_t *data,
                                                 size_t dlen, weft_buf *out);
/* The data and seq of a valid /weft/ record value. */
WEFT_NODISCARD WEFT_API int weft_kad_weft_record_data(const uint8_t *val, size_t vlen,
                                                      const uint8_t **data, size_t *dlen,
                                                      uint64_t *seq);
/* Key text to bytes: "/pk/<peer id text>" -> "/pk/" || multihash; other
 * keys are copied as they are. Returns the length or a negative error. */
WEFT_API int weft_kad_key_parse(const char *text, uint8_t *out, size_t cap);

/* ---- the engine ----------------------------------------------------------------- */

typedef struct weft_kad weft_kad;

typedef struct weft_kad_config {
    weft_peer_id self;
    int server;                  /* answer requests (and advertise the protocol) */
    size_t k;                    /* bucket size and replication, default 20 */
    size_t alpha;                /* requests in flight per lookup, default 3 */
    int64_t request_timeout_ns;  /* default 10 s */
    int64_t lookup_timeout_ns;   /* default 60 s */
    unsigned max_lookup_queries; /* per lookup, default 128 */
    unsigned max_lookups;        /* running at once, default 64 */
    size_t max_records;          /* default 4096 */
    size_t max_providers;        /* (key, provider) pairs, default 16384 */
    int64_t record_ttl_ns;       /* default 36 h */
    int64_t provider_ttl_ns;     /* default 48 h */
    double peer_rate;            /* inbound requests per second per peer, default 20 */
    double peer_burst;           /* default 100 */
    int64_t refresh_interval_ns; /* random walk period, default 10 min; <0 = off */
    uint64_t seed;               /* random walk targets */
    /* Send msg to a peer (addrs to dial it when not connected). The answer
     * (or failure: msg NULL) must come back through weft_kad_on_response(req);
     * when want_reply is 0 (ADD_PROVIDER has no answer) the binding reports
     * an empty message once msg is written. Returns 0 or an error (the
     * request then fails at once). */
    int (*send)(void *user, uint64_t req, const weft_kad_peer *to, const uint8_t *msg, size_t len,
                int want_reply);
    void *user;
} weft_kad_config;

typedef struct weft_kad_stats {
    uint64_t table_size, buckets, splits, evictions, table_full;
    uint64_t records, providers;
    uint64_t requests_in, requests_out, responses_ok, requests_failed, requests_timeout;
    uint64_t dropped_malformed, dropped_rate, dropped_invalid_record, dropped_store_full;
    uint64_t lookups_started, lookups_ok, lookups_failed, lookup_hops_total;
    uint64_t walks;
} weft_kad_stats;

typedef struct weft_kad_result {
    int status;         /* 0 found / done, WEFT_ELIMIT (rounds, time) or WEFT_ECLOSED (no peers) */
    int type;           /* WEFT_KAD_FIND_NODE ... */
    int found;          /* FIND_NODE: the target itself; GET_VALUE: a value */
    weft_kad_peer peer; /* FIND_NODE: the target, when found */
    weft_kad_peer closest[WEFT_KAD_K]; /* the closest peers that answered */
    size_t nclosest;
    const uint8_t *value; /* GET_VALUE: the best record, valid during the callback */
    size_t value_len;
    weft_kad_peer providers[WEFT_KAD_K];
    size_t nproviders;
    size_t stored;    /* PUT_VALUE / ADD_PROVIDER: peers sent to */
    unsigned hops;    /* FIND_NODE: hops until the target was learnt; otherwise the deepest */
    unsigned queries; /* requests sent */
    int64_t elapsed_ns;
} weft_kad_result;

typedef void (*weft_kad_done_fn)(weft_kad *kad, const weft_kad_result *r, void *user);

WEFT_API void weft_kad_config_default(weft_kad_config *cfg);
WEFT_API weft_kad *weft_kad_new(const weft_kad_config *cfg);
WEFT_API void weft_kad_free(weft_kad *kad);
WEFT_API void weft_kad_get_stats(const weft_kad *kad, weft_kad_stats *out);
WEFT_API int weft_kad_is_server(const weft_kad *kad);
/* Our own addresses, sent in ADD_PROVIDER (copied, up to WEFT_KAD_MAX_ADDRS). */
WEFT_API void weft_kad_set_self_addrs(weft_kad *kad, const weft_multiaddr *addrs, size_t n);

/* A DHT server peer seen (identify listed the protocol, or it answered).
 * Returns 1 added or refreshed, 0 not (bucket full of live peers, self). */
WEFT_API int weft_kad_add_peer(weft_kad *kad, const weft_kad_peer *p, int connected, int64_t now);
/* Its connection went away (the entry stays, replaceable). */
WEFT_API void weft_kad_peer_down(weft_kad *kad, const weft_peer_id *id, int64_t now);
WEFT_API void weft_kad_remove_peer(weft_kad *kad, const weft_peer_id *id);
/* The table's entry for id, or NULL. */
WEFT_API const weft_kad_peer *weft_kad_lookup_peer(const weft_kad *kad, const weft_peer_id *id);
/* Up to max peers of the table closest to a 32-byte id. */
WEFT_API size_t weft_kad_closest(const weft_kad *kad, const uint8_t target[32], weft_kad_peer *out,
                                 size_t max);
/* Every peer of the table (up to max). */
WEFT_API size_t weft_kad_table_peers(const weft_kad *kad, weft_kad_peer *out, size_t max);

/* An inbound request from a peer: the response (length prefix not
 * included) into resp. Returns 1 with a response, 0 when none is due
 * (ADD_PROVIDER), WEFT_ELIMIT (rate), WEFT_EPROTO (malformed) or
 * WEFT_EINVAL (bad record): the stream should then be reset. Counted. */
WEFT_NODISCARD WEFT_API int weft_kad_handle_request(weft_kad *kad, const weft_peer_id *from,
                                                    int64_t now, const uint8_t *msg, size_t len,
                                                    weft_buf *resp);
/* The answer to request req: msg (len bytes), or msg NULL on failure. */
WEFT_API void weft_kad_on_response(weft_kad *kad, uint64_t req, int64_t now, const uint8_t *msg,
                                   size_t len);
/* Timeouts, lookups progress, the random walk. Call at least every second. */
WEFT_API void weft_kad_tick(weft_kad *kad, int64_t now);
/* Start a random-walk refresh now (also done every refresh interval). */
WEFT_API int weft_kad_refresh(weft_kad *kad, int64_t now);

/* Lookups; done is called exactly once (possibly before these return, when
 * the answer is local or there are no peers). Return 0 or an error. */
WEFT_NODISCARD WEFT_API int weft_kad_find_peer(weft_kad *kad, const weft_peer_id *id, int64_t now,
                                               weft_kad_done_fn done, void *user);
WEFT_NODISCARD WEFT_API int weft_kad_find_closest(weft_kad *kad, const uint8_t *key, size_t klen,
                                                  int64_t now, weft_kad_done_fn done, void *user);
WEFT_NODISCARD WEFT_API int weft_kad_get_value(weft_kad *kad, const uint8_t *key, size_t klen,
                                               int64_t now, weft_kad_done_fn done, void *user);
WEFT_NODISCARD WEFT_API int weft_kad_put_value(weft_kad *kad, const uint8_t *key, size_t klen,
                                               const uint8_t *val, size_t vlen, int64_t now,
                                               weft_kad_done_fn done, void *user);
WEFT_NODISCARD WEFT_API int weft_kad_provide(weft_kad *kad, const uint8_t *key, size_t klen,
                                             int64_t now, weft_kad_done_fn done, void *user);
WEFT_NODISCARD WEFT_API int weft_kad_find_providers(weft_kad *kad, const uint8_t *key, size_t klen,
                                                    int64_t now, weft_kad_done_fn done, void *user);

/* ---- on a weft_host (kad_host.c) --------------------------------------------------- */

typedef struct weft_kad_host weft_kad_host;

/* Bind an engine to a host: registers the protocol when the engine is a
 * server. max_dials bounds the dials it makes at once (0 = 16); dials are
 * refused while the host has max_peers connections or more (0 = no bound).
 * The owner forwards the host's on_peer and on_identify events. */
WEFT_API weft_kad_host *weft_kad_host_new(weft_host *h, const weft_kad_config *cfg,
                                          unsigned max_dials, unsigned max_peers, int *err);
/* Shut down in this order: weft_kad_host_stop (no new requests, lookups
 * are not answered any more), weft_host_free, weft_kad_host_free. */
WEFT_API void weft_kad_host_stop(weft_kad_host *kh);
WEFT_API void weft_kad_host_free(weft_kad_host *kh);
WEFT_API weft_kad *weft_kad_host_engine(weft_kad_host *kh);
WEFT_API void weft_kad_host_on_peer(weft_kad_host *kh, weft_peer *p, int up);
WEFT_API void weft_kad_host_on_identify(weft_kad_host *kh, weft_peer *p, const weft_identify *id);
/* Current loop time, for the lookup calls. */
WEFT_API int64_t weft_kad_host_now(const weft_kad_host *kh);

#ifdef __cplusplus
}
#endif
#endif
