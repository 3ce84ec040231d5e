/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kademlia engine (weft/kad.h): configuration, the record and provider
 * stores, answering requests with a per-peer rate limit, the random walk.
 * Stores are bounded (max_records, max_providers): when full, expired
 * entries go first, then new entries are refused and counted. Records and
 * providers expire after their TTL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kad_internal.h"
#include "weft/log.h"

#define PROVIDERS_PER_KEY 64

void
weft_kad_config_default(weft_kad_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->server = 1;
    cfg->k = WEFT_KAD_K;
    cfg->alpha = WEFT_KAD_ALPHA;
    cfg->request_timeout_ns = 10 * KAD_S;
    cfg->lookup_timeout_ns = 60 * KAD_S;
    cfg->max_lookup_queries = 128;
    cfg->max_lookups = 64;
    cfg->max_records = 4096;
    cfg->max_providers = 16384;
    cfg->record_ttl_ns = 36 * 3600 * KAD_S;
    cfg->provider_ttl_ns = 48 * 3600 * KAD_S;
    cfg->peer_rate = 20;
    cfg->peer_burst = 100;
    cfg->refresh_interval_ns = 600 * KAD_S;
}

weft_kad *
weft_kad_new(const weft_kad_config *cfg)
{
    if (!cfg->self.len || !cfg->send)
        return NULL;
    weft_kad *kad = calloc(1, sizeof *kad);
    if (!kad)
        return NULL;
    kad->cfg = *cfg;
    if (kad->cfg.k == 0 || kad->cfg.k > KAD_MAX_K)
        kad->cfg.k = WEFT_KAD_K;
    if (kad->cfg.alpha == 0 || kad->cfg.alpha > kad->cfg.k)
        kad->cfg.alpha = WEFT_KAD_ALPHA;
    if (kad->cfg.max_lookup_queries == 0)
        kad->cfg.max_lookup_queries = 128;
    if (kad->cfg.max_lookups == 0)
        kad->cfg.max_lookups = 64;
    weft_kad_id(cfg->self.bytes, cfg->self.len, kad->self_kid);
    kad->nbuckets = 1;
    weft_rng_seed(&kad->rng, cfg->seed ? cfg->seed : weft_seed_from_os());
    kad->next_walk = INT64_MAX;
    kad->recs = calloc(kad->cfg.max_records ? kad->cfg.max_records : 1, sizeof *kad->recs);
    kad->provs = calloc(kad->cfg.max_providers ? kad->cfg.max_providers : 1, sizeof *kad->provs);
    if (!kad->recs || !kad->provs) {
        weft_kad_free(kad);
        return NULL;
    }
    return kad;
}

void
weft_kad_free(weft_kad *kad)
{
    if (!kad)
        return;
    kad_lookups_free(kad);
    kad_table_free(kad);
    for (size_t i = 0; i < kad->nrecs; i++) {
        free(kad->recs[i].key);
        free(kad->recs[i].val);
    }
    for (size_t i = 0; i < kad->nprovs; i++)
        free(kad->provs[i].p);
    free(kad->recs);
    free(kad->provs);
    free(kad);
}

void
weft_kad_get_stats(const weft_kad *kad, weft_kad_stats *out)
{
    *out = kad->st;
    out->table_size = kad_table_count(kad);
    out->buckets = kad->nbuckets;
    out->records = kad->nrecs;
    out->providers = kad->nprovs;
}

int
weft_kad_is_server(const weft_kad *kad)
{
    return kad->cfg.server;
}

void
weft_kad_set_self_addrs(weft_kad *kad, const weft_multiaddr *addrs, size_t n)
{
    if (n > KAD_MAX_SELF_ADDRS)
        n = KAD_MAX_SELF_ADDRS;
    memcpy(kad->self_addrs, addrs, n * sizeof *addrs);
    kad->nself = n;
}

void
kad_self_peer(const weft_kad *kad, weft_kad_peer *out)
{
    memset(out, 0, sizeof *out);
    out->id = kad->cfg.self;
    memcpy(out->addrs, kad->self_addrs, kad->nself * sizeof out->addrs[0]);
    out->naddrs = kad->nself;
    out->connection = WEFT_KAD_CONNECTED;
}

/* ---- records ------------------------------------------------------------------------ */

static void
record_drop(weft_kad *kad, size_t i)
{
    free(kad->recs[i].key);
    free(kad->recs[i].val);
    kad->recs[i] = kad->recs[--kad->nrecs];
}

kad_record *
kad_record_get(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now)
{
    for (size_t i = 0; i < kad->nrecs; i++) {
        kad_record *r = &kad->recs[i];
        if (r->klen == klen && !memcmp(r->key, key, klen)) {
            if (now - r->at > kad->cfg.record_ttl_ns) {
                record_drop(kad, i);
                return NULL;
            }
            return r;
        }
    }
    return NULL;
}

/* The value is valid already. Returns 0 stored (or kept the better one), <0 full. */
int
kad_record_put(weft_kad *kad, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               int64_t now)
{
    kad_record *r = kad_record_get(kad, key, klen, now);
    if (r && weft_kad_select(key, klen, r->val, r->vlen, val, vlen) == 0 &&
        !(r->vlen == vlen && !memcmp(r->val, val, vlen)))
        return 0; /* ours is better */
    if (!r) {
        if (kad->nrecs >= kad->cfg.max_records) {
            for (size_t i = 0; i < kad->nrecs; i++)
                if (now - kad->recs[i].at > kad->cfg.record_ttl_ns)
                    record_drop(kad, i--);
            if (kad->nrecs >= kad->cfg.max_records) {
                kad->st.dropped_store_full++;
                return WEFT_ELIMIT;
            }
        }
        r = &kad->recs[kad->nrecs];
        memset(r, 0, sizeof *r);
        r->key = malloc(klen);
        if (!r->key)
            return -ENOMEM;
        memcpy(r->key, key, klen);
        r->klen = klen;
        kad->nrecs++;
    }
    uint8_t *v = malloc(vlen ? vlen : 1);
    if (!v)
        return -ENOMEM;
    memcpy(v, val, vlen);
    free(r->val);
    r->val = v;
    r->vlen = vlen;
    r->at = now;
    return 0;
}

/* ---- providers ---------------------------------------------------------------------- */

int
kad_provider_add(weft_kad *kad, const uint8_t kid[32], const weft_kad_peer *p, int64_t now)
{
    size_t same_key = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < kad->nprovs; i++) {
        kad_prov *e = &kad->provs[i];
        if (now - e->at > kad->cfg.provider_ttl_ns) {
            free(e->p);
            kad->provs[i--] = kad->provs[--kad->nprovs];
            continue;
        }
        if (memcmp(e->kid, kid, 32))
            continue;
        if (weft_peer_id_equal(&e->p->id, &p->id)) {
            *e->p = *p;
            e->at = now;
            return 0;
        }
        same_key++;
        if (oldest == SIZE_MAX || e->at < kad->provs[oldest].at)
            oldest = i;
    }
    kad_prov *slot;
    if (same_key >= PROVIDERS_PER_KEY) {
        slot = &kad->provs[oldest];
    } else if (kad->nprovs < kad->cfg.max_providers) {
        slot = &kad->provs[kad->nprovs];
        slot->p = malloc(sizeof *slot->p);
        if (!slot->p)
            return -ENOMEM;
        kad->nprovs++;
    } else {
        kad->st.dropped_store_full++;
        return WEFT_ELIMIT;
    }
    memcpy(slot->kid, kid, 32);
    *slot->p = *p;
    slot->at = now;
    return 0;
}

size_t
kad_providers_get(weft_kad *kad, const uint8_t kid[32], int64_t now, weft_kad_peer *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < kad->nprovs && n < max; i++) {
        const kad_prov *e = &kad->provs[i];
        if (!memcmp(e->kid, kid, 32) && now - e->at <= kad->cfg.provider_ttl_ns)
            out[n++] = *e->p;
    }
    return n;
}

/* ---- answering requests ------------------------------------------------------------- */

static int
rate_ok(weft_kad *kad, const weft_peer_id *from, int64_t now)
{
    if (kad->cfg.peer_rate <= 0)
        return 1;
    kad_rate *slot = NULL, *lru = &kad->rates[0];
    for (size_t i = 0; i < KAD_RATE_SLOTS; i++) {
        kad_rate *r = &kad->rates[i];
        if (r->id.len && weft_peer_id_equal(&r->id, from)) {
            slot = r;
            break;
        }
        if (r->last < lru->last)
            lru = r;
    }
    if (!slot) {
        slot = lru;
        slot->id = *from;
        slot->tokens = kad->cfg.peer_burst;
        slot->last = now;
    }
    double add = (double)(now - slot->last) / (double)KAD_S * kad->cfg.peer_rate;
    slot->tokens += add > 0 ? add : 0;
    if (slot->tokens > kad->cfg.peer_burst)
        slot->tokens = kad->cfg.peer_burst;
    slot->last = now;
    if (slot->tokens < 1)
        return 0;
    slot->tokens -= 1;
    return 1;
}

static size_t
closer_peers(const weft_kad *kad, const uint8_t *key, size_t klen, const weft_peer_id *from,
             weft_kad_peer *out)
{
    uint8_t kid[32];
    weft_kad_id(key, klen, kid);
    weft_kad_peer tmp[KAD_MAX_K + 1];
    size_t n = weft_kad_closest(kad, kid, tmp, kad->cfg.k + 1), m = 0;
    for (size_t i = 0; i < n && m < kad->cfg.k; i++)
        if (!weft_peer_id_equal(&tmp[i].id, from))
            out[m++] = tmp[i];
    return m;
}

int
weft_kad_handle_request(weft_kad *kad, const weft_peer_id *from, int64_t now, const uint8_t *msg,
                        size_t len, weft_buf *resp)
{
    kad->st.requests_in++;
    if (!rate_ok(kad, from, now)) {
        kad->st.dropped_rate++;
        return WEFT_ELIMIT;
    }
    weft_kad_msg *in = malloc(sizeof *in), *out = calloc(1, sizeof *out);
    int rc = 0;
    const char *why = NULL;
    if (!in || !out) {
        rc = -ENOMEM;
        goto done;
    }
    if ((rc = weft_kad_msg_decode(msg, len, in, &why)) < 0) {
        kad->st.dropped_malformed++;
        weft_log(WEFT_LOG_DEBUG, "kad", "msg=\"malformed request dropped\" reason=\"%s\"",
                 why ? why : "");
        goto done;
    }
    if (in->type != WEFT_KAD_PING && (in->key_len == 0 || in->key_len > WEFT_KAD_MAX_KEY)) {
        kad->st.dropped_malformed++;
        weft_log(WEFT_LOG_DEBUG, "kad",
                 "msg=\"request dropped\" reason=\"key: %zu bytes, expected 1..256\"", in->key_len);
        rc = WEFT_EPROTO;
        goto done;
    }
    out->type = in->type;
    out->key = in->key;
    out->key_len = in->key_len;
    switch (in->type) {
    case WEFT_KAD_FIND_NODE:
        out->ncloser = closer_peers(kad, in->key, in->key_len, from, out->closer);
        break;
    case WEFT_KAD_GET_VALUE: {
        const kad_record *r = kad_record_get(kad, in->key, in->key_len, now);
        if (r) {
            out->has_record = 1;
            out->rec_key = r->key;
            out->rec_key_len = r->klen;
            out->rec_value = r->val;
            out->rec_value_len = r->vlen;
        }
        out->ncloser = closer_peers(kad, in->key, in->key_len, from, out->closer);
        break;
    }
    case WEFT_KAD_PUT_VALUE:
        if (!in->has_record || in->rec_key_len != in->key_len ||
            memcmp(in->rec_key, in->key, in->key_len) ||
            weft_kad_validate(in->key, in->key_len, in->rec_value, in->rec_value_len, &why) < 0) {
            kad->st.dropped_invalid_record++;
            weft_log(WEFT_LOG_DEBUG, "kad", "msg=\"record refused\" reason=\"%s\"",
                     why ? why : "record: missing or its key differs from the message key");
            rc = WEFT_EINVAL;
            goto done;
        }
        if ((rc = kad_record_put(kad, in->key, in->key_len, in->rec_value, in->rec_value_len,
                                 now)) < 0)
            goto done;
        out->has_record = 1;
        out->rec_key = in->rec_key;
        out->rec_key_len = in->rec_key_len;
        out->rec_value = in->rec_value;
        out->rec_value_len = in->rec_value_len;
        break;
    case WEFT_KAD_ADD_PROVIDER: {
        uint8_t kid[32];
        weft_kad_id(in->key, in->key_len, kid);
        for (size_t i = 0; i < in->nproviders; i++)
            if (weft_peer_id_equal(&in->providers[i].id, from)) /* only for itself */
                WEFT_IGNORE(kad_provider_add(kad, kid, &in->providers[i], now));
        rc = 0;
        goto done;
    }
    case WEFT_KAD_GET_PROVIDERS: {
        uint8_t kid[32];
        weft_kad_id(in->key, in->key_len, kid);
        out->nproviders = kad_providers_get(kad, kid, now, out->providers, kad->cfg.k);
        out->ncloser = closer_peers(kad, in->key, in->key_len, from, out->closer);
        break;
    }
    default: /* PING: the same message back */ break;
    }
    rc = weft_kad_msg_encode(out, resp);
    if (rc == 0)
        rc = 1;
done:
    free(in);
    free(out);
    return rc;
}

/* ---- time ---------------------------------------------------------------------------- */

static void
walk_done(weft_kad *kad, const weft_kad_result *r, void *user)
{
    (void)kad, (void)r, (void)user;
}

int
weft_kad_refresh(weft_kad *kad, int64_t now)
{
    kad->st.walks++;
    /* A self lookup fills the buckets near us; a lookup of a random id
     * (a random walk) refreshes a random part of the space. */
    int rc =
        weft_kad_find_closest(kad, kad->cfg.self.bytes, kad->cfg.self.len, now, walk_done, NULL);
    uint8_t key[34] = {0x12, 0x20};
    weft_rng_bytes(&kad->rng, key + 2, 32);
    int rc2 = weft_kad_find_closest(kad, key, sizeof key, now, walk_done, NULL);
    return rc < 0 ? rc : rc2;
}

void
weft_kad_tick(weft_kad *kad, int64_t now)
{
    kad_lookups_tick(kad, now);
    if (kad->cfg.refresh_interval_ns >= 0 && now >= kad->next_walk && kad_table_count(kad)) {
        int64_t iv = kad->cfg.refresh_interval_ns ? kad->cfg.refresh_interval_ns : KAD_S;
        kad->next_walk = now + iv;
        WEFT_IGNORE(weft_kad_refresh(kad, now));
    }
}

void
weft_kad_on_response(weft_kad *kad, uint64_t req, int64_t now, const uint8_t *msg, size_t len)
{
    WEFT_IGNORE(kad_lookup_response(kad, req, now, msg, len));
}
