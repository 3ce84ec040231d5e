/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GossipSub v1.1 topic meshes: GRAFT and PRUNE (both directions) with
 * backoff, graft-flood penalties and peer exchange, our own subscriptions
 * (JOIN builds the mesh from the fanout and known subscribers, LEAVE prunes
 * with the unsubscribe backoff), and the heartbeat's mesh upkeep (negative
 * scores out, D_lo..D_hi kept around D with the D_score best and D_out
 * outbound peers retained).
 */
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"

#define SEC 1000000000LL

/* ---- mesh membership ----------------------------------------------------- */

static void
backoff_set(weft_ps *ps, ps_topic *t, const weft_ps_peer *p, int64_t dur)
{
    ps_map_ent *e = ps_map_put(&t->backoff, p->id.bytes, p->id.len, NULL);
    if (!e)
        return;
    int64_t until = ps_now(ps) + dur;
    if (e->t < until)
        e->t = until;
}

static int
in_backoff(weft_ps *ps, ps_topic *t, const weft_ps_peer *p, int64_t *until)
{
    ps_map_ent *e = ps_map_get(&t->backoff, p->id.bytes, p->id.len);
    if (!e)
        return 0;
    if (until)
        *until = e->t;
    return e->t > ps_now(ps);
}

static void
ps_mesh_add(weft_ps *ps, ps_topic *t, weft_ps_peer *p)
{
    if (ps_in_list(t->mesh, t->nmesh, p))
        return;
    if (ps_list_add(&t->mesh, &t->nmesh, &t->mesh_cap, p))
        return;
    ps_ptopic *pt = ps_ptopic_get(p, t);
    if (pt) {
        pt->in_mesh = 1;
        pt->graft_time = ps_now(ps);
        pt->mesh_active = 0;
        pt->mesh_deliveries = 0;
    }
    ps_score_graft(ps, p, t);
    ps_trace(ps, WEFT_TRACE_GRAFT, p, ps_b(NULL, 0), ps_b(t->name, t->nlen), NULL, ps_b(NULL, 0));
}

static void
ps_mesh_remove(weft_ps *ps, ps_topic *t, weft_ps_peer *p)
{
    if (!ps_list_del(t->mesh, &t->nmesh, p))
        return;
    ps_score_prune(ps, p, t);
    ps_ptopic *pt = ps_ptopic_find(p, t);
    if (pt)
        pt->in_mesh = 0;
    ps_trace(ps, WEFT_TRACE_PRUNE, p, ps_b(NULL, 0), ps_b(t->name, t->nlen), NULL, ps_b(NULL, 0));
}

static void
send_graft(weft_ps *ps, ps_topic *t, weft_ps_peer *p)
{
    if (!weft_rpc_put_graft(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), ps_b(t->name, t->nlen)))
        ps->st.graft_out++;
}

/* PRUNE p from t, with peer exchange when px. */
static void
send_prune(weft_ps *ps, ps_topic *t, weft_ps_peer *p, int px, int64_t backoff_ns)
{
    weft_bytes peers[WEFT_RPC_MAX_PX];
    size_t n = 0;
    if (px && ps->cfg.do_px) {
        weft_ps_peer *cand[WEFT_RPC_MAX_PX * 4];
        size_t nc = 0;
        for (size_t i = 0; i < t->npeers && nc < sizeof cand / sizeof *cand; i++)
            if (t->peers[i] != p && ps_score(ps, t->peers[i]) >= 0)
                cand[nc++] = t->peers[i];
        ps_shuffle(ps, cand, nc);
        size_t lim = ps->cfg.prune_peers < WEFT_RPC_MAX_PX ? ps->cfg.prune_peers : WEFT_RPC_MAX_PX;
        for (size_t i = 0; i < nc && n < lim; i++)
            peers[n++] = ps_b(cand[i]->id.bytes, cand[i]->id.len);
    }
    if (!weft_rpc_put_prune(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), ps_b(t->name, t->nlen), peers, n,
                            backoff_ns / SEC))
        ps->st.prune_out++;
}

/* ---- control from peers ---------------------------------------------------- */

int
ps_mesh_on_sub(void *u, int subscribe, weft_bytes topic)
{
    ps_rpc_ctx *c = u;
    weft_ps *ps = c->ps;
    weft_ps_peer *p = c->p;
    if (!topic.len || topic.len >= PS_TOPIC_MAX)
        return 0;
    if (subscribe) {
        ps_topic *t = ps_topic_get(ps, topic.p, topic.len);
        if (!t)
            return 0;
        ps_ptopic *pt = ps_ptopic_get(p, t);
        if (!pt)
            return 0; /* over the per-peer subscription cap: ignored */
        pt->subscribed = 1;
        if (!ps_in_list(t->peers, t->npeers, p))
            (void)ps_list_add(&t->peers, &t->npeers, &t->peers_cap, p);
    } else {
        ps_topic *t = ps_topic_find(ps, topic.p, topic.len);
        if (!t)
            return 0;
        ps_list_del(t->peers, &t->npeers, p);
        ps_list_del(t->fanout, &t->nfanout, p);
        ps_mesh_remove(ps, t, p);
        ps_ptopic *pt = ps_ptopic_find(p, t);
        if (pt)
            pt->subscribed = 0;
    }
    return 0;
}

int
ps_mesh_on_graft(void *u, weft_bytes topic)
{
    ps_rpc_ctx *c = u;
    weft_ps *ps = c->ps;
    weft_ps_peer *p = c->p;
    ps->st.graft_in++;
    ps_topic *t = ps_topic_find(ps, topic.p, topic.len);
    if (!t || !t->subscribed) {
        /* Unknown topic: refuse without peer exchange (do not leak peers). */
        if (topic.len && topic.len < PS_TOPIC_MAX) {
            weft_rpc_writer *w = ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB);
            if (!weft_rpc_put_prune(w, topic, NULL, 0, ps->cfg.prune_backoff_ns / SEC))
                ps->st.prune_out++;
        }
        return 0;
    }
    if (ps_in_list(t->mesh, t->nmesh, p))
        return 0;
    int64_t until;
    if (in_backoff(ps, t, p, &until)) {
        /* GRAFT during backoff: penalise, more if it came right after our
         * PRUNE, refuse and extend the backoff. */
        ps->st.graft_backoff_violations++;
        ps_penalise(ps, p, 1);
        if (until - ps_now(ps) > ps->cfg.prune_backoff_ns - ps->cfg.graft_flood_ns)
            ps_penalise(ps, p, 1);
        send_prune(ps, t, p, 0, ps->cfg.prune_backoff_ns);
        backoff_set(ps, t, p, ps->cfg.prune_backoff_ns);
        return 0;
    }
    if (ps_score(ps, p) < 0 || !ps_mesh_capable(ps, p)) {
        send_prune(ps, t, p, 0, ps->cfg.prune_backoff_ns);
        backoff_set(ps, t, p, ps->cfg.prune_backoff_ns);
        return 0;
    }
    if (t->nmesh >= ps->cfg.D_hi && !p->outbound) {
        send_prune(ps, t, p, 1, ps->cfg.prune_backoff_ns);
        backoff_set(ps, t, p, ps->cfg.prune_backoff_ns);
        return 0;
    }
    /* A GRAFT implies a subscription. */
    ps_ptopic *pt = ps_ptopic_get(p, t);
    if (pt)
        pt->subscribed = 1;
    if (!ps_in_list(t->peers, t->npeers, p))
        (void)ps_list_add(&t->peers, &t->npeers, &t->peers_cap, p);
    ps_mesh_add(ps, t, p);
    return 0;
}

int
ps_mesh_on_prune(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers, int has_backoff,
                 uint64_t backoff_s)
{
    ps_rpc_ctx *c = u;
    weft_ps *ps = c->ps;
    weft_ps_peer *p = c->p;
    ps->st.prune_in++;
    ps_topic *t = ps_topic_find(ps, topic.p, topic.len);
    if (!t)
        return 0;
    ps_mesh_remove(ps, t, p);
    int64_t dur = ps->cfg.prune_backoff_ns;
    if (has_backoff) {
        /* Honour the peer's backoff, capped at a day. */
        uint64_t s = backoff_s > 86400 ? 86400 : backoff_s;
        dur = (int64_t)s * SEC;
    }
    backoff_set(ps, t, p, dur);
    if (npeers && ps->cfg.io.px && ps_score(ps, p) >= ps->cfg.score.accept_px_threshold) {
        weft_peer_id ids[WEFT_RPC_MAX_PX];
        size_t n = 0;
        for (size_t i = 0; i < npeers && n < WEFT_RPC_MAX_PX; i++)
            if (!weft_peer_id_from_bytes(peers[i].p, peers[i].len, &ids[n]) &&
                !weft_ps_find_peer(ps, &ids[n]) && !weft_peer_id_equal(&ids[n], &ps->self))
                n++;
        if (n)
            ps->cfg.io.px(ps->cfg.io.user, ids, n);
    }
    return 0;
}

/* ---- local subscriptions ------------------------------------------------- */

static size_t
ps_mesh_candidates(weft_ps *ps, ps_topic *t, weft_ps_peer **out, size_t max, int outbound_only)
{
    size_t n = 0;
    for (size_t i = 0; i < t->npeers && n < max; i++) {
        weft_ps_peer *p = t->peers[i];
        if (ps_in_list(t->mesh, t->nmesh, p) || !ps_mesh_capable(ps, p) ||
            in_backoff(ps, t, p, NULL) || ps_score(ps, p) < 0)
            continue;
        if (outbound_only && !p->outbound)
            continue;
        out[n++] = p;
    }
    ps_shuffle(ps, out, n);
    return n;
}

int
weft_ps_subscribe(weft_ps *ps, const char *topic)
{
    size_t len = topic ? strlen(topic) : 0;
    if (!len || len >= PS_TOPIC_MAX)
        return WEFT_EINVAL;
    ps_topic *t = ps_topic_get(ps, (const uint8_t *)topic, len);
    if (!t)
        return WEFT_ELIMIT;
    if (t->subscribed)
        return 0;
    ps_enter(ps);
    t->subscribed = 1;
    ps_trace(ps, WEFT_TRACE_JOIN, NULL, ps_b(NULL, 0), ps_b(t->name, t->nlen), NULL, ps_b(NULL, 0));
    for (size_t i = 0; i < ps->npeers; i++) {
        weft_ps_peer *p = ps->peers[i];
        if (p->hello_sent)
            WEFT_IGNORE(
                weft_rpc_put_sub(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), 1, ps_b(topic, len)));
    }
    /* The mesh starts from the fanout, then other known subscribers. */
    for (size_t i = 0; i < t->nfanout && t->nmesh < ps->cfg.D; i++) {
        weft_ps_peer *p = t->fanout[i];
        if (ps_mesh_capable(ps, p) && !in_backoff(ps, t, p, NULL) && ps_score(ps, p) >= 0) {
            ps_mesh_add(ps, t, p);
            send_graft(ps, t, p);
        }
    }
    t->nfanout = 0;
    t->fanout_last = 0;
    weft_ps_peer *cand[256];
    size_t n = ps_mesh_candidates(ps, t, cand, 256, 0);
    for (size_t i = 0; i < n && t->nmesh < ps->cfg.D; i++) {
        ps_mesh_add(ps, t, cand[i]);
        send_graft(ps, t, cand[i]);
    }
    ps_leave(ps);
    return 0;
}

int
weft_ps_unsubscribe(weft_ps *ps, const char *topic)
{
    size_t len = topic ? strlen(topic) : 0;
    ps_topic *t = ps_topic_find(ps, (const uint8_t *)topic, len);
    if (!t || !t->subscribed)
        return 0;
    ps_enter(ps);
    t->subscribed = 0;
    ps_trace(ps, WEFT_TRACE_LEAVE, NULL, ps_b(NULL, 0), ps_b(t->name, t->nlen), NULL,
             ps_b(NULL, 0));
    for (size_t i = 0; i < ps->npeers; i++) {
        weft_ps_peer *p = ps->peers[i];
        if (p->hello_sent)
            WEFT_IGNORE(
                weft_rpc_put_sub(ps_ctl(ps, p, WEFT_PS_PROTO_MESHSUB), 0, ps_b(topic, len)));
    }
    while (t->nmesh) {
        weft_ps_peer *p = t->mesh[0];
        send_prune(ps, t, p, 1, ps->cfg.unsub_backoff_ns);
        backoff_set(ps, t, p, ps->cfg.unsub_backoff_ns);
        ps_mesh_remove(ps, t, p);
    }
    ps_leave(ps);
    return 0;
}

int
weft_ps_subscribed(const weft_ps *ps, const char *topic)
{
    ps_topic *t = ps_topic_find(ps, (const uint8_t *)topic, topic ? strlen(topic) : 0);
    return t && t->subscribed;
}

/* ---- heartbeat upkeep ------------------------------------------------------ */

static int
cmp_score_desc(const void *a, const void *b, void *u)
{
    const weft_ps *ps = u;
    double x = ps_score(ps, *(weft_ps_peer *const *)a);
    double y = ps_score(ps, *(weft_ps_peer *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

void
ps_mesh_upkeep(weft_ps *ps, ps_topic *t)
{
    const weft_ps_config *c = &ps->cfg;
    weft_ps_peer *cand[256];
    /* Negative scores leave the mesh. */
    for (size_t i = 0; i < t->nmesh;) {
        weft_ps_peer *p = t->mesh[i];
        if (ps_score(ps, p) < 0) {
            send_prune(ps, t, p, 0, c->prune_backoff_ns);
            backoff_set(ps, t, p, c->prune_backoff_ns);
            ps_mesh_remove(ps, t, p);
            continue;
        }
        i++;
    }
    if (t->nmesh < c->D_lo) {
        size_t n = ps_mesh_candidates(ps, t, cand, 256, 0);
        for (size_t i = 0; i < n && t->nmesh < c->D; i++) {
            ps_mesh_add(ps, t, cand[i]);
            send_graft(ps, t, cand[i]);
        }
    }
    if (t->nmesh > c->D_hi) {
        /* Keep the D_score best, then random, making sure D_out outbound
         * peers stay; prune the rest with peer exchange. */
        weft_ps_peer *v[1024];
        size_t n = t->nmesh < 1024 ? t->nmesh : 1024;
        memcpy(v, t->mesh, n * sizeof *v);
        ps_shuffle(ps, v, n);
        qsort_r(v, n, sizeof *v, cmp_score_desc, ps);
        size_t keep_score = c->D_score < c->D ? c->D_score : c->D;
        ps_shuffle(ps, v + keep_score, n - keep_score);
        size_t out = 0;
        for (size_t i = 0; i < c->D; i++)
            out += v[i]->outbound != 0;
        for (size_t i = c->D; i < n && out < c->D_out; i++)
            if (v[i]->outbound) {
                /* swap an inbound peer past the score-kept ones for it */
                for (size_t j = c->D; j-- > keep_score;)
                    if (!v[j]->outbound) {
                        weft_ps_peer *x = v[j];
                        v[j] = v[i];
                        v[i] = x;
                        out++;
                        break;
                    }
            }
        for (size_t i = c->D; i < n; i++) {
            send_prune(ps, t, v[i], 1, c->prune_backoff_ns);
            backoff_set(ps, t, v[i], c->prune_backoff_ns);
            ps_mesh_remove(ps, t, v[i]);
        }
    }
    if (t->nmesh >= c->D_lo) {
        size_t out = 0;
        for (size_t i = 0; i < t->nmesh; i++)
            out += t->mesh[i]->outbound != 0;
        if (out < c->D_out) {
            size_t n = ps_mesh_candidates(ps, t, cand, 256, 1);
            for (size_t i = 0; i < n && out < c->D_out; i++, out++) {
                ps_mesh_add(ps, t, cand[i]);
                send_graft(ps, t, cand[i]);
            }
        }
    }
}
