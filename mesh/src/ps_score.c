/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GossipSub v1.1 peer scoring: per topic P1 (time in mesh), P2 (first
 * deliveries), P3 (mesh delivery deficit), P3b (mesh failure penalty), P4
 * (invalid messages), and P7 (behaviour penalty) across topics. One set of
 * topic parameters applies to every topic. Counters decay at every
 * heartbeat. With scoring disabled, only P4 and P7 count (so that invalid
 * messages and protocol abuse still push a peer out of the mesh and, past
 * the graylist threshold, get it ignored).
 */
#include <math.h>

#include "ps_internal.h"

#define SEC 1000000000.0

static double
topic_score(const weft_ps *ps, const ps_ptopic *pt)
{
    const weft_ps_score_params *s = &ps->cfg.score;
    double sc = 0;
    if (s->enabled) {
        if (pt->in_mesh) {
            double secs = (double)(ps_now(ps) - pt->graft_time) / SEC;
            double p1 = secs / (s->time_in_mesh_quantum_s > 0 ? s->time_in_mesh_quantum_s : 1);
            if (p1 > s->time_in_mesh_cap)
                p1 = s->time_in_mesh_cap;
            sc += p1 * s->time_in_mesh_weight;
        }
        sc += pt->first_deliveries * s->first_deliveries_weight;
        if (pt->in_mesh && pt->mesh_active && pt->mesh_deliveries < s->mesh_deliveries_threshold) {
            double d = s->mesh_deliveries_threshold - pt->mesh_deliveries;
            sc += d * d * s->mesh_deliveries_weight;
        }
        sc += pt->mesh_failure * s->mesh_failure_weight;
    }
    sc += pt->invalid * pt->invalid * s->invalid_weight;
    return sc * s->topic_weight;
}

double
ps_score(const weft_ps *ps, const weft_ps_peer *p)
{
    const weft_ps_score_params *s = &ps->cfg.score;
    double sc = 0;
    for (size_t i = 0; i < p->ntp; i++)
        sc += topic_score(ps, &p->tp[i]);
    if (p->behaviour > s->behaviour_threshold) {
        double e = p->behaviour - s->behaviour_threshold;
        sc += e * e * s->behaviour_weight;
    }
    return sc;
}

static double
decay(double v, double f, double zero)
{
    v *= f;
    return fabs(v) < zero ? 0 : v;
}

void
ps_score_decay(weft_ps *ps)
{
    const weft_ps_score_params *s = &ps->cfg.score;
    int64_t now = ps_now(ps);
    for (size_t i = 0; i < ps->npeers; i++) {
        weft_ps_peer *p = ps->peers[i];
        for (size_t j = 0; j < p->ntp; j++) {
            ps_ptopic *pt = &p->tp[j];
            pt->first_deliveries =
                decay(pt->first_deliveries, s->first_deliveries_decay, s->decay_to_zero);
            pt->mesh_deliveries =
                decay(pt->mesh_deliveries, s->mesh_deliveries_decay, s->decay_to_zero);
            pt->mesh_failure = decay(pt->mesh_failure, s->mesh_failure_decay, s->decay_to_zero);
            pt->invalid = decay(pt->invalid, s->invalid_decay, s->decay_to_zero);
            if (pt->in_mesh && !pt->mesh_active &&
                now - pt->graft_time >= (int64_t)(s->mesh_deliveries_activation_s * SEC))
                pt->mesh_active = 1;
        }
        p->behaviour = decay(p->behaviour, s->behaviour_decay, s->decay_to_zero);
    }
}

void
ps_score_graft(weft_ps *ps, weft_ps_peer *p, ps_topic *t)
{
    (void)ps;
    (void)p;
    (void)t;
}

void
ps_score_prune(weft_ps *ps, weft_ps_peer *p, ps_topic *t)
{
    const weft_ps_score_params *s = &ps->cfg.score;
    ps_ptopic *pt = ps_ptopic_find(p, t);
    if (!pt || !s->enabled)
        return;
    /* Leaving the mesh with a delivery deficit is remembered (P3b). */
    if (pt->mesh_active && pt->mesh_deliveries < s->mesh_deliveries_threshold) {
        double d = s->mesh_deliveries_threshold - pt->mesh_deliveries;
        pt->mesh_failure += d * d;
    }
}

void
ps_score_delivery(weft_ps *ps, weft_ps_peer *p, ps_topic *t, int first)
{
    const weft_ps_score_params *s = &ps->cfg.score;
    ps_ptopic *pt = ps_ptopic_find(p, t);
    if (!pt)
        return;
    if (first && pt->first_deliveries < s->first_deliveries_cap)
        pt->first_deliveries += 1;
    if (pt->in_mesh && pt->mesh_deliveries < s->mesh_deliveries_cap)
        pt->mesh_deliveries += 1;
}

void
ps_score_invalid(weft_ps *ps, weft_ps_peer *p, ps_topic *t)
{
    (void)ps;
    ps_ptopic *pt = t ? ps_ptopic_find(p, t) : NULL;
    if (pt)
        pt->invalid += 1;
    else
        p->behaviour += 1;
}
