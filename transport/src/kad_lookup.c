/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Iterative lookups (weft/kad.h). A lookup keeps the candidates it knows
 * sorted by XOR distance to the target (at most KAD_LOOKUP_CANDS) and keeps
 * alpha requests in flight to the closest ones not yet asked; answers add
 * the peers they name (one hop further than the peer that named them). It
 * ends when the k closest candidates that did not fail have all answered,
 * when its goal is met (the peer found, enough values, enough providers),
 * when max_lookup_queries were sent, or at lookup_timeout_ns. PUT_VALUE
 * and ADD_PROVIDER then send the record / provider to the k closest that
 * answered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kad_internal.h"

enum { C_NEW, C_WAIT, C_OK, C_FAIL, C_PUT_WAIT, C_PUT_OK, C_PUT_FAIL };

typedef struct kad_cand {
    weft_kad_peer p;
    uint8_t kid[32];
    int state;
    unsigned hop;
    uint64_t req;
    int64_t sent;
} kad_cand;

struct kad_lookup {
    kad_lookup *next;
    int type, find_peer, phase, finished;
    weft_peer_id target_id;
    uint8_t key[WEFT_KAD_MAX_KEY];
    size_t klen;
    uint8_t target[32];
    uint8_t *value; /* PUT_VALUE */
    size_t vlen;
    kad_cand *c;
    size_t nc;
    unsigned inflight, queries, maxhop, nvalues, quorum;
    int64_t started, deadline;
    uint8_t *best;
    size_t bestlen;
    weft_kad_result *res;
    weft_kad_done_fn done;
    void *user;
};

static void
lk_free(kad_lookup *lk)
{
    free(lk->value);
    free(lk->best);
    free(lk->c);
    free(lk->res);
    free(lk);
}

static void
reap(weft_kad *kad)
{
    for (kad_lookup **pp = &kad->lookups; *pp;) {
        kad_lookup *lk = *pp;
        if (lk->finished) {
            *pp = lk->next;
            kad->nlookups--;
            lk_free(lk);
        } else {
            pp = &lk->next;
        }
    }
}

void
kad_lookups_free(weft_kad *kad)
{
    while (kad->lookups) {
        kad_lookup *lk = kad->lookups;
        kad->lookups = lk->next;
        lk_free(lk);
    }
    kad->nlookups = 0;
}

static void
add_cand(weft_kad *kad, kad_lookup *lk, const weft_kad_peer *p, unsigned hop)
{
    if (!p->id.len || weft_peer_id_equal(&p->id, &kad->cfg.self))
        return;
    for (size_t i = 0; i < lk->nc; i++)
        if (weft_peer_id_equal(&lk->c[i].p.id, &p->id)) {
            if (!lk->c[i].p.naddrs && p->naddrs)
                lk->c[i].p = *p;
            return;
        }
    uint8_t kid[32];
    weft_kad_id(p->id.bytes, p->id.len, kid);
    size_t at = lk->nc;
    while (at > 0 && weft_kad_cmp_dist(lk->target, kid, lk->c[at - 1].kid) < 0)
        at--;
    if (at >= KAD_LOOKUP_CANDS)
        return;
    size_t keep = lk->nc < KAD_LOOKUP_CANDS ? lk->nc : KAD_LOOKUP_CANDS - 1;
    if (lk->nc == KAD_LOOKUP_CANDS && lk->c[keep].state == C_WAIT)
        lk->inflight--; /* its answer will find no candidate and be ignored */
    memmove(&lk->c[at + 1], &lk->c[at], (keep - at) * sizeof lk->c[0]);
    kad_cand *c = &lk->c[at];
    memset(c, 0, sizeof *c);
    c->p = *p;
    memcpy(c->kid, kid, 32);
    c->hop = hop;
    if (lk->nc < KAD_LOOKUP_CANDS)
        lk->nc++;
}

static void
send_to(weft_kad *kad, kad_lookup *lk, kad_cand *c, int type, int64_t now)
{
    weft_kad_msg *m = calloc(1, sizeof *m);
    uint8_t small[1024];
    weft_buf b;
    weft_buf_init(&b, small, sizeof small, WEFT_KAD_MAX_MSG);
    int rc = m ? 0 : -ENOMEM;
    if (m) {
        m->type = type;
        m->key = lk->key;
        m->key_len = lk->klen;
        if (type == WEFT_KAD_PUT_VALUE) {
            m->has_record = 1;
            m->rec_key = lk->key;
            m->rec_key_len = lk->klen;
            m->rec_value = lk->value;
            m->rec_value_len = lk->vlen;
        } else if (type == WEFT_KAD_ADD_PROVIDER) {
            kad_self_peer(kad, &m->providers[0]);
            m->nproviders = 1;
        }
        rc = weft_kad_msg_encode(m, &b);
    }
    free(m);
    int want = type != WEFT_KAD_ADD_PROVIDER;
    c->req = ++kad->next_req;
    c->sent = now;
    if (lk->phase == 0)
        lk->queries++;
    kad->st.requests_out++;
    if (rc == 0)
        rc = kad->cfg.send(kad->cfg.user, c->req, &c->p, b.base, b.len, want);
    weft_buf_free(&b);
    if (rc < 0) {
        kad->st.requests_failed++;
        c->state = lk->phase ? C_PUT_FAIL : C_FAIL;
        c->req = 0;
        return;
    }
    c->state = lk->phase ? C_PUT_WAIT : C_WAIT;
    lk->inflight++;
}

static void
finish(weft_kad *kad, kad_lookup *lk, int status, int64_t now)
{
    weft_kad_result *r = lk->res;
    r->status = status;
    r->type = lk->type;
    r->queries = lk->queries;
    r->elapsed_ns = now - lk->started;
    if (!lk->find_peer || !r->found)
        r->hops = lk->maxhop;
    r->nclosest = 0;
    for (size_t i = 0; i < lk->nc && r->nclosest < kad->cfg.k; i++)
        if (lk->c[i].state == C_OK || lk->c[i].state >= C_PUT_WAIT)
            r->closest[r->nclosest++] = lk->c[i].p;
    if (lk->type == WEFT_KAD_GET_VALUE && lk->best) {
        r->found = 1;
        r->value = lk->best;
        r->value_len = lk->bestlen;
    }
    if (lk->type == WEFT_KAD_GET_PROVIDERS)
        r->found = r->nproviders > 0;
    if (status == 0 && (lk->type != WEFT_KAD_FIND_NODE || !lk->find_peer || r->found))
        kad->st.lookups_ok++;
    else
        kad->st.lookups_failed++;
    kad->st.lookup_hops_total += r->hops;
    lk->finished = 1;
    if (lk->done)
        lk->done(kad, r, lk->user);
}

static int
goal(const weft_kad *kad, const kad_lookup *lk)
{
    if (lk->find_peer)
        return lk->res->found;
    if (lk->type == WEFT_KAD_GET_VALUE)
        return lk->nvalues >= lk->quorum;
    if (lk->type == WEFT_KAD_GET_PROVIDERS)
        return lk->res->nproviders >= kad->cfg.k;
    return 0;
}

static void
store_phase(weft_kad *kad, kad_lookup *lk, int64_t now)
{
    lk->phase = 1;
    int type = lk->type;
    size_t sent = 0;
    for (size_t i = 0; i < lk->nc && sent < kad->cfg.k; i++)
        if (lk->c[i].state == C_OK) {
            send_to(kad, lk, &lk->c[i], type, now);
            sent += lk->c[i].state != C_PUT_FAIL;
        }
    if (lk->inflight == 0)
        finish(kad, lk, WEFT_ECLOSED, now);
}

static void
step(weft_kad *kad, kad_lookup *lk, int64_t now)
{
    if (lk->finished)
        return;
    if (now >= lk->deadline) {
        finish(kad, lk, WEFT_ELIMIT, now);
        return;
    }
    if (lk->phase == 1) {
        if (lk->inflight == 0)
            finish(kad, lk, lk->res->stored ? 0 : WEFT_ECLOSED, now);
        return;
    }
    if (!goal(kad, lk)) {
        size_t seen = 0;
        int pending = 0;
        for (size_t i = 0; i < lk->nc && seen < kad->cfg.k; i++) {
            kad_cand *c = &lk->c[i];
            if (c->state == C_FAIL)
                continue;
            seen++;
            if (c->state == C_NEW) {
                pending = 1;
                if (lk->inflight < kad->cfg.alpha && lk->queries < kad->cfg.max_lookup_queries)
                    send_to(kad, lk, c,
                            lk->type == WEFT_KAD_PUT_VALUE || lk->type == WEFT_KAD_ADD_PROVIDER
                                ? WEFT_KAD_FIND_NODE
                                : lk->type,
                            now);
            } else if (c->state == C_WAIT) {
                pending = 1;
            }
        }
        if (lk->inflight > 0)
            return;
        if (pending && lk->queries < kad->cfg.max_lookup_queries) {
            step(kad, lk, now); /* sends failed at once: try the next ones */
            return;
        }
    }
    if (lk->type == WEFT_KAD_PUT_VALUE || lk->type == WEFT_KAD_ADD_PROVIDER) {
        store_phase(kad, lk, now);
        return;
    }
    int any = 0;
    for (size_t i = 0; i < lk->nc; i++)
        any |= lk->c[i].state == C_OK;
    finish(kad, lk, any || goal(kad, lk) ? 0 : WEFT_ECLOSED, now);
}

static int
start(weft_kad *kad, int type, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
      int64_t now, weft_kad_done_fn done, void *user, kad_lookup **out)
{
    if (klen == 0 || klen > WEFT_KAD_MAX_KEY)
        return WEFT_EINVAL;
    if (kad->nlookups >= kad->cfg.max_lookups)
        return WEFT_ELIMIT;
    kad_lookup *lk = calloc(1, sizeof *lk);
    if (!lk)
        return -ENOMEM;
    lk->c = calloc(KAD_LOOKUP_CANDS, sizeof *lk->c);
    lk->res = calloc(1, sizeof *lk->res);
    if (val) {
        lk->value = malloc(vlen ? vlen : 1);
        if (lk->value)
            memcpy(lk->value, val, vlen);
        lk->vlen = vlen;
    }
    if (!lk->c || !lk->res || (val && !lk->value)) {
        lk_free(lk);
        return -ENOMEM;
    }
    lk->type = type;
    memcpy(lk->key, key, klen);
    lk->klen = klen;
    weft_kad_id(key, klen, lk->target);
    lk->started = now;
    lk->deadline = now + kad->cfg.lookup_timeout_ns;
    lk->quorum = klen >= 4 && !memcmp(key, "/pk/", 4) ? 1 : 3;
    lk->done = done;
    lk->user = user;
    weft_kad_peer *seed = malloc(sizeof *seed * KAD_MAX_K);
    if (!seed) {
        lk_free(lk);
        return -ENOMEM;
    }
    size_t n = weft_kad_closest(kad, lk->target, seed, kad->cfg.k);
    for (size_t i = 0; i < n; i++)
        add_cand(kad, lk, &seed[i], 1);
    free(seed);
    lk->next = kad->lookups;
    kad->lookups = lk;
    kad->nlookups++;
    kad->st.lookups_started++;
    *out = lk;
    return 0;
}

static int
run(weft_kad *kad, kad_lookup *lk, int64_t now)
{
    step(kad, lk, now);
    reap(kad);
    return 0;
}

int
weft_kad_find_peer(weft_kad *kad, const weft_peer_id *id, int64_t now, weft_kad_done_fn done,
                   void *user)
{
    kad_lookup *lk;
    int rc = start(kad, WEFT_KAD_FIND_NODE, id->bytes, id->len, NULL, 0, now, done, user, &lk);
    if (rc < 0)
        return rc;
    lk->find_peer = 1;
    lk->target_id = *id;
    const kad_entry *e = kad_table_find(kad, id);
    if (e && e->p.naddrs) {
        lk->res->found = 1;
        lk->res->peer = e->p;
        lk->res->hops = 0;
        finish(kad, lk, 0, now);
    }
    return run(kad, lk, now);
}

int
weft_kad_find_closest(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now,
                      weft_kad_done_fn done, void *user)
{
    kad_lookup *lk;
    int rc = start(kad, WEFT_KAD_FIND_NODE, key, klen, NULL, 0, now, done, user, &lk);
    return rc < 0 ? rc : run(kad, lk, now);
}

int
weft_kad_get_value(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now,
                   weft_kad_done_fn done, void *user)
{
    kad_lookup *lk;
    int rc = start(kad, WEFT_KAD_GET_VALUE, key, klen, NULL, 0, now, done, user, &lk);
    if (rc < 0)
        return rc;
    const kad_record *r = kad_record_get(kad, key, klen, now);
    if (r) {
        lk->best = malloc(r->vlen ? r->vlen : 1);
        if (lk->best) {
            memcpy(lk->best, r->val, r->vlen);
            lk->bestlen = r->vlen;
            lk->nvalues = 1;
        }
        if (lk->quorum == 1) /* immutable: ours is the answer */
            finish(kad, lk, 0, now);
    }
    return run(kad, lk, now);
}

int
weft_kad_put_value(weft_kad *kad, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   int64_t now, weft_kad_done_fn done, void *user)
{
    const char *why;
    int rc = weft_kad_validate(key, klen, val, vlen, &why);
    if (rc < 0)
        return rc;
    if (kad->cfg.server)
        WEFT_IGNORE(kad_record_put(kad, key, klen, val, vlen, now));
    kad_lookup *lk;
    rc = start(kad, WEFT_KAD_PUT_VALUE, key, klen, val, vlen, now, done, user, &lk);
    return rc < 0 ? rc : run(kad, lk, now);
}

int
weft_kad_provide(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now, weft_kad_done_fn done,
                 void *user)
{
    if (kad->cfg.server) {
        uint8_t kid[32];
        weft_kad_peer self;
        weft_kad_id(key, klen, kid);
        kad_self_peer(kad, &self);
        WEFT_IGNORE(kad_provider_add(kad, kid, &self, now));
    }
    kad_lookup *lk;
    int rc = start(kad, WEFT_KAD_ADD_PROVIDER, key, klen, NULL, 0, now, done, user, &lk);
    return rc < 0 ? rc : run(kad, lk, now);
}

int
weft_kad_find_providers(weft_kad *kad, const uint8_t *key, size_t klen, int64_t now,
                        weft_kad_done_fn done, void *user)
{
    kad_lookup *lk;
    int rc = start(kad, WEFT_KAD_GET_PROVIDERS, key, klen, NULL, 0, now, done, user, &lk);
    if (rc < 0)
        return rc;
    uint8_t kid[32];
    weft_kad_id(key, klen, kid);
    lk->res->nproviders = kad_providers_get(kad, kid, now, lk->res->providers, kad->cfg.k);
    return run(kad, lk, now);
}

/* ---- answers and time ------------------------------------------------------------------ */

static void
on_answer(weft_kad *kad, kad_lookup *lk, kad_cand *c, int64_t now, const weft_kad_msg *m)
{
    weft_kad_add_peer(kad, &c->p, 1, now); /* it answered: a live server */
    if (lk->find_peer && weft_peer_id_equal(&c->p.id, &lk->target_id) && !lk->res->found) {
        lk->res->found = 1;
        lk->res->peer = c->p;
        lk->res->hops = c->hop;
    }
    unsigned hop = c->hop; /* c may move as candidates are inserted */
    for (size_t i = 0; i < m->ncloser; i++) {
        const weft_kad_peer *p = &m->closer[i];
        if (lk->find_peer && weft_peer_id_equal(&p->id, &lk->target_id) && !lk->res->found) {
            lk->res->found = 1;
            lk->res->peer = *p;
            lk->res->hops = hop;
        }
        add_cand(kad, lk, p, hop + 1);
        if (hop + 1 > lk->maxhop)
            lk->maxhop = hop + 1;
    }
    if (lk->type == WEFT_KAD_GET_VALUE && m->has_record) {
        const char *why;
        if (m->rec_key_len != lk->klen || memcmp(m->rec_key, lk->key, lk->klen) ||
            weft_kad_validate(lk->key, lk->klen, m->rec_value, m->rec_value_len, &why) < 0) {
            kad->st.dropped_invalid_record++;
        } else {
            lk->nvalues++;
            if (!lk->best || weft_kad_select(lk->key, lk->klen, lk->best, lk->bestlen, m->rec_value,
                                             m->rec_value_len)) {
                uint8_t *v = malloc(m->rec_value_len ? m->rec_value_len : 1);
                if (v) {
                    memcpy(v, m->rec_value, m->rec_value_len);
                    free(lk->best);
                    lk->best = v;
                    lk->bestlen = m->rec_value_len;
                }
            }
        }
    }
    if (lk->type == WEFT_KAD_GET_PROVIDERS)
        for (size_t i = 0; i < m->nproviders && lk->res->nproviders < kad->cfg.k; i++) {
            int dup = 0;
            for (size_t j = 0; j < lk->res->nproviders; j++)
                dup |= weft_peer_id_equal(&lk->res->providers[j].id, &m->providers[i].id);
            if (!dup)
                lk->res->providers[lk->res->nproviders++] = m->providers[i];
        }
}

int
kad_lookup_response(weft_kad *kad, uint64_t req, int64_t now, const uint8_t *msg, size_t len)
{
    if (!req)
        return 0;
    kad_lookup *lk;
    kad_cand *c = NULL;
    for (lk = kad->lookups; lk && !c; lk = lk->next) {
        if (lk->finished)
            continue;
        for (size_t i = 0; i < lk->nc; i++)
            if (lk->c[i].req == req) {
                c = &lk->c[i];
                break;
            }
        if (c)
            break;
    }
    if (!c)
        return 0; /* timed out or dropped already */
    c->req = 0;
    lk->inflight--;
    weft_kad_msg *m = NULL;
    if (msg) {
        m = malloc(sizeof *m);
        const char *why;
        if (m && weft_kad_msg_decode(msg, len, m, &why) < 0) {
            kad->st.dropped_malformed++;
            free(m);
            m = NULL;
        }
    }
    if (!m) {
        kad->st.requests_failed++;
        kad_request_failed(kad, &c->p.id);
        c->state = c->state == C_PUT_WAIT ? C_PUT_FAIL : C_FAIL;
    } else if (c->state == C_PUT_WAIT) {
        kad->st.responses_ok++;
        c->state = C_PUT_OK;
        lk->res->stored++;
    } else {
        kad->st.responses_ok++;
        c->state = C_OK;
        on_answer(kad, lk, c, now, m);
    }
    free(m);
    step(kad, lk, now);
    reap(kad);
    return 1;
}

void
kad_lookups_tick(weft_kad *kad, int64_t now)
{
    for (kad_lookup *lk = kad->lookups; lk; lk = lk->next) {
        if (lk->finished)
            continue;
        for (size_t i = 0; i < lk->nc; i++) {
            kad_cand *c = &lk->c[i];
            if ((c->state == C_WAIT || c->state == C_PUT_WAIT) &&
                now - c->sent >= kad->cfg.request_timeout_ns) {
                c->state = c->state == C_WAIT ? C_FAIL : C_PUT_FAIL;
                c->req = 0;
                lk->inflight--;
                kad->st.requests_timeout++;
                kad_request_failed(kad, &c->p.id);
            }
        }
        step(kad, lk, now);
    }
    reap(kad);
}
