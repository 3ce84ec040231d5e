/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The circuit relay v2 hop service's bookkeeping (weft/relay.h):
 * reservations and circuits in two arrays sized by the configuration at
 * creation, so a flood of RESERVE or CONNECT requests uses no memory past
 * them: a request over a bound is refused and counted.
 */
#include <stdlib.h>
#include <string.h>

#include "weft/relay.h"

typedef struct rsv {
    weft_peer_id peer;
    uint8_t ip[16];
    uint64_t expire_s;
} rsv;

typedef struct circ {
    uint64_t id; /* 0 = free slot */
    weft_peer_id src, dst;
    uint64_t opened_s, bytes;
} circ;

struct weft_relay {
    weft_relay_config c;
    rsv *rsv;
    size_t nrsv;
    circ *circ;
    size_t ncirc;
    uint64_t next_id;
    weft_relay_stats st;
};

void
weft_relay_config_default(weft_relay_config *c)
{
    c->max_reservations = 128;
    c->max_reservations_per_ip = 4;
    c->reservation_ttl_s = 3600;
    c->max_circuits = 64;
    c->max_circuits_per_peer = 16;
    c->circuit_duration_s = 120;
    c->circuit_bytes = 128 * 1024;
}

weft_relay *
weft_relay_new(const weft_relay_config *c)
{
    if (!c || !c->max_reservations || !c->max_reservations_per_ip || !c->reservation_ttl_s ||
        !c->max_circuits || !c->max_circuits_per_peer)
        return NULL;
    weft_relay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->c = *c;
    r->rsv = calloc(c->max_reservations, sizeof *r->rsv);
    r->circ = calloc(c->max_circuits, sizeof *r->circ);
    if (!r->rsv || !r->circ) {
        weft_relay_free(r);
        return NULL;
    }
    r->next_id = 1;
    return r;
}

void
weft_relay_free(weft_relay *r)
{
    if (!r)
        return;
    free(r->rsv);
    free(r->circ);
    free(r);
}

static rsv *
find_rsv(weft_relay *r, const weft_peer_id *p)
{
    for (size_t i = 0; i < r->nrsv; i++)
        if (weft_peer_id_equal(&r->rsv[i].peer, p))
            return &r->rsv[i];
    return NULL;
}

static void
drop_rsv(weft_relay *r, rsv *v)
{
    *v = r->rsv[--r->nrsv];
}

size_t
weft_relay_expire(weft_relay *r, uint64_t now_s)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nrsv;) {
        if (r->rsv[i].expire_s <= now_s) {
            drop_rsv(r, &r->rsv[i]);
            n++;
        } else {
            i++;
        }
    }
    r->st.reservations_expired += n;
    return n;
}

int
weft_relay_reserve(weft_relay *r, const weft_peer_id *peer, const uint8_t ip[16], uint64_t now_s,
                   uint64_t *expire_s)
{
    weft_relay_expire(r, now_s);
    rsv *v = find_rsv(r, peer);
    if (!v) {
        size_t same_ip = 0;
        for (size_t i = 0; i < r->nrsv; i++)
            same_ip += memcmp(r->rsv[i].ip, ip, 16) == 0;
        if (same_ip >= r->c.max_reservations_per_ip || r->nrsv >= r->c.max_reservations) {
            r->st.reservations_refused++;
            return same_ip >= r->c.max_reservations_per_ip ? WEFT_RELAY_RESERVATION_REFUSED
                                                           : WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED;
        }
        v = &r->rsv[r->nrsv++];
        v->peer = *peer;
    }
    memcpy(v->ip, ip, 16);
    v->expire_s = now_s + r->c.reservation_ttl_s;
    *expire_s = v->expire_s;
    r->st.reservations_accepted++;
    return WEFT_RELAY_OK;
}

int
weft_relay_has_reservation(weft_relay *r, const weft_peer_id *dst, uint64_t now_s)
{
    rsv *v = find_rsv(r, dst);
    return v && v->expire_s > now_s;
}

void
weft_relay_unreserve(weft_relay *r, const weft_peer_id *dst)
{
    rsv *v = find_rsv(r, dst);
    if (v)
        drop_rsv(r, v);
}

int
weft_relay_connect(weft_relay *r, const weft_peer_id *src, const weft_peer_id *dst, uint64_t now_s,
                   uint64_t *circuit)
{
    if (!weft_relay_has_reservation(r, dst, now_s)) {
        r->st.circuits_refused++;
        return WEFT_RELAY_NO_RESERVATION;
    }
    size_t nsrc = 0, ndst = 0;
    circ *slot = NULL;
    for (size_t i = 0; i < r->c.max_circuits; i++) {
        circ *c = &r->circ[i];
        if (!c->id) {
            if (!slot)
                slot = c;
            continue;
        }
        nsrc += weft_peer_id_equal(&c->src, src) || weft_peer_id_equal(&c->dst, src);
        ndst += weft_peer_id_equal(&c->src, dst) || weft_peer_id_equal(&c->dst, dst);
    }
    if (!slot || nsrc >= r->c.max_circuits_per_peer || ndst >= r->c.max_circuits_per_peer) {
        r->st.circuits_refused++;
        return WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED;
    }
    slot->id = r->next_id++;
    slot->src = *src;
    slot->dst = *dst;
    slot->opened_s = now_s;
    slot->bytes = 0;
    r->ncirc++;
    r->st.circuits_opened++;
    *circuit = slot->id;
    return WEFT_RELAY_OK;
}

static circ *
find_circ(weft_relay *r, uint64_t id)
{
    for (size_t i = 0; id && i < r->c.max_circuits; i++)
        if (r->circ[i].id == id)
            return &r->circ[i];
    return NULL;
}

int
weft_relay_circuit_data(weft_relay *r, uint64_t circuit, size_t n, uint64_t now_s)
{
    circ *c = find_circ(r, circuit);
    if (!c)
        return WEFT_EINVAL;
    if ((r->c.circuit_bytes && c->bytes + n > r->c.circuit_bytes) ||
        (r->c.circuit_duration_s && now_s >= c->opened_s + r->c.circuit_duration_s)) {
        r->st.circuits_over_limit++;
        return WEFT_ELIMIT;
    }
    c->bytes += n;
    return 0;
}

void
weft_relay_circuit_close(weft_relay *r, uint64_t circuit)
{
    circ *c = find_circ(r, circuit);
    if (!c)
        return;
    c->id = 0;
    r->ncirc--;
    r->st.circuits_closed++;
}

size_t
weft_relay_nreservations(const weft_relay *r)
{
    return r->nrsv;
}

size_t
weft_relay_ncircuits(const weft_relay *r)
{
    return r->ncirc;
}

void
weft_relay_stats_get(const weft_relay *r, weft_relay_stats *out)
{
    *out = r->st;
}

int
weft_relay_reservation_at(const weft_relay *r, size_t i, weft_peer_id *peer, uint64_t *expire_s)
{
    if (i >= r->nrsv)
        return WEFT_EINVAL;
    *peer = r->rsv[i].peer;
    *expire_s = r->rsv[i].expire_s;
    return 0;
}
