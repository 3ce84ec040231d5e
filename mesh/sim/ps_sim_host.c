/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-host access links of the simulated network (weft_ps_sim_config
 * host_up_bps, host_down_bps): on a real host every connection shares one
 * uplink and one downlink, which per-connection link bandwidth does not
 * show: a node sending to six peers at once gets a sixth of its rate to
 * each, not all of it six times over.
 *
 * Uplink: a node's connections take turns, one window (what ps_sim_pump
 * hands to a connection at a time) each, in a FIFO; the uplink is busy for
 * that window's serialisation time, and a timer wakes the next connection
 * when it is free. Downlink: inbound bytes are held in arrival order and
 * handed to the reader when the downlink has carried them. Both are off
 * (bytes pass at once) when their rate is 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ps_sim_internal.h"

struct rx_hold {
    struct rx_hold *next;
    struct sconn *sc;
    int64_t due;
    size_t len;
    uint8_t data[];
};

static int64_t
xfer_ns(size_t n, uint64_t bps)
{
    return (int64_t)((double)n * 8e9 / (double)bps);
}

static void
up_arm(struct snode *nd)
{
    if (!nd->up_head || weft_timer_armed(&nd->up_timer))
        return;
    int64_t now = weft_loop_now(nd->loop);
    WEFT_IGNORE(weft_timer_arm(nd->loop, &nd->up_timer, nd->up_free > now ? nd->up_free : now));
}

static void
up_fire(weft_timer *t, void *user)
{
    struct snode *nd = user;
    int64_t now = weft_loop_now(nd->loop);
    (void)t;
    while (nd->up_head && nd->up_free <= now) {
        struct sconn *sc = nd->up_head;
        nd->up_head = sc->up_next;
        if (!nd->up_head)
            nd->up_tail = NULL;
        sc->up_next = NULL;
        sc->up_queued = 0;
        nd->up_turn = sc;
        ps_sim_pump(sc); /* may queue sc again, at the tail */
        nd->up_turn = NULL;
    }
    up_arm(nd);
}

int
ps_sim_up_take(struct sconn *sc, size_t n)
{
    struct snode *nd = sc->nd;
    uint64_t bps = nd->s->cfg.host_up_bps;
    if (!bps)
        return 1;
    int64_t now = weft_loop_now(nd->loop);
    if (nd->up_free <= now && (nd->up_turn == sc || !nd->up_head)) {
        nd->up_turn = NULL;
        nd->up_free = now + xfer_ns(n, bps);
        return 1;
    }
    if (!sc->up_queued) {
        sc->up_queued = 1;
        sc->up_next = NULL;
        if (nd->up_tail)
            nd->up_tail->up_next = sc;
        else
            nd->up_head = sc;
        nd->up_tail = sc;
    }
    up_arm(nd);
    return 0;
}

static void
down_fire(weft_timer *t, void *user)
{
    struct snode *nd = user;
    int64_t now = weft_loop_now(nd->loop);
    (void)t;
    while (nd->rx_head && nd->rx_head->due <= now) {
        struct rx_hold *h = nd->rx_head;
        nd->rx_head = h->next;
        if (!nd->rx_head)
            nd->rx_tail = NULL;
        struct sconn *sc = h->sc;
        int rc = ps_sim_parse(sc, h->data, h->len);
        free(h);
        if (rc < 0) {
            if (rc != WEFT_ELIMIT)
                nd->st.frames_bad++;
            weft_conn_abort(sc->c, rc); /* its holds go with it (ps_sim_host_forget) */
        }
    }
    if (nd->rx_head)
        WEFT_IGNORE(weft_timer_arm(nd->loop, &nd->down_timer, nd->rx_head->due));
}

int
ps_sim_down_data(struct sconn *sc, const uint8_t *data, size_t len)
{
    struct snode *nd = sc->nd;
    uint64_t bps = nd->s->cfg.host_down_bps;
    if (!bps || len == 0)
        return ps_sim_parse(sc, data, len);
    int64_t now = weft_loop_now(nd->loop);
    struct rx_hold *h = malloc(sizeof *h + len);
    if (!h)
        return -ENOMEM;
    nd->down_free = (nd->down_free > now ? nd->down_free : now) + xfer_ns(len, bps);
    h->next = NULL;
    h->sc = sc;
    h->due = nd->down_free;
    h->len = len;
    memcpy(h->data, data, len);
    if (nd->rx_tail)
        nd->rx_tail->next = h;
    else
        nd->rx_head = h;
    nd->rx_tail = h;
    if (!weft_timer_armed(&nd->down_timer))
        WEFT_IGNORE(weft_timer_arm(nd->loop, &nd->down_timer, nd->rx_head->due));
    return 0;
}

void
ps_sim_host_init(struct snode *nd)
{
    weft_timer_init(&nd->up_timer, up_fire, nd);
    weft_timer_init(&nd->down_timer, down_fire, nd);
}

void
ps_sim_host_forget(struct snode *nd, struct sconn *sc)
{
    struct sconn **pp = &nd->up_head, *prev = NULL;
    while (*pp) {
        struct sconn *x = *pp;
        if (!sc || x == sc) {
            *pp = x->up_next;
            x->up_next = NULL;
            x->up_queued = 0;
        } else {
            prev = x;
            pp = &x->up_next;
        }
    }
    nd->up_tail = prev;
    if (!sc || nd->up_turn == sc)
        nd->up_turn = NULL;
    struct rx_hold **hp = &nd->rx_head, *hprev = NULL;
    while (*hp) {
        struct rx_hold *h = *hp;
        if (!sc || h->sc == sc) {
            *hp = h->next;
            free(h);
        } else {
            hprev = h;
            hp = &h->next;
        }
    }
    nd->rx_tail = hprev;
    if (!sc && nd->loop) {
        weft_timer_disarm(nd->loop, &nd->up_timer);
        weft_timer_disarm(nd->loop, &nd->down_timer);
    }
}
