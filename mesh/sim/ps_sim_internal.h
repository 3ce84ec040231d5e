/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to mesh/sim: the records of ps_sim.c, shared with ps_sim_host.c
 * (the per-host uplink and downlink of weft_ps_sim_config.host_*_bps).
 */
#ifndef WEFT_PS_SIM_INTERNAL_H
#define WEFT_PS_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/pb.h"
#include "weft/ps_sim.h"

#define MS 1000000LL
/* Bytes handed to the connection at a time, and only once its queue is
 * empty: one segment of the simulated TCP. The connection calls on_writable
 * as each segment leaves, so the link never waits for us, and its send
 * queue (whose capacity is never given back) stays at one window. */
#define SEND_WINDOW ((size_t)16 << 10)
#define KEEP_BUF ((size_t)4 << 10) /* larger idle buffers are freed */
#define SLICE_NS MS                /* weft_ps_sim_run_until checks stop this often */
#define HELLO_MAX WEFT_PEER_ID_MAX
#define ALL_PROTOS (WEFT_PS_PROTO_MESHSUB | WEFT_PS_PROTO_MESHSUB12 | WEFT_PS_PROTO_RLNC)

struct snode;

/* One end of a connection. */
struct sconn {
    struct snode *nd;
    weft_conn *c;       /* NULL while dialling */
    weft_ps_peer *peer; /* set once the other side's hello arrived */
    int outbound;
    int hello_in;
    /* reader: header bytes (proto byte, then the uvarint), then the body */
    uint8_t hdr[1 + WEFT_UVARINT_MAX];
    size_t nhdr;
    size_t want; /* body length, SIZE_MAX while reading a header */
    unsigned proto;
    weft_buf body;
    /* writer: bytes not yet handed to the connection, from outq_head on */
    weft_buf outq;
    size_t outq_head;
    struct sconn *next, *prev;
    /* host uplink: waiting in the node's queue of connections to send */
    struct sconn *up_next;
    int up_queued;
};

struct snode {
    weft_ps_sim *s;
    size_t index;
    weft_loop *loop;
    weft_listener *ls;
    weft_ps *ps;
    weft_timer tick;
    int64_t tick_ns;
    struct sconn *conns;
    weft_ps_sim_stats st; /* the simulation's counters; ps and bytes filled on demand */
    /* host links (ps_sim_host.c): the virtual time each becomes free */
    int64_t up_free, down_free;
    weft_timer up_timer, down_timer;
    struct sconn *up_head, *up_tail;   /* connections waiting for the uplink */
    struct sconn *up_turn;             /* the one the uplink timer is serving */
    struct rx_hold *rx_head, *rx_tail; /* inbound bytes waiting for the downlink */
};

struct weft_ps_sim {
    weft_ps_sim_config cfg;
    weft_simnet *net;
    struct snode *nodes;
    size_t n;
    size_t max_frame;
    int stop;
    int closing;
};

/* ps_sim.c: hand queued bytes of sc to its connection (one window at a
 * time); parse inbound bytes (< 0: close the connection). */
void ps_sim_pump(struct sconn *sc);
int ps_sim_parse(struct sconn *sc, const uint8_t *data, size_t len);

/* ps_sim_host.c. Uplink: 1 if sc may hand n bytes to its connection now
 * (the uplink is then busy for n bytes), else 0 and sc waits its turn
 * (ps_sim_pump is called again then). Downlink: take inbound bytes; they
 * reach ps_sim_parse when the downlink has carried them (or now, without
 * one). Returns what ps_sim_parse returned, or 0 while held. */
int ps_sim_up_take(struct sconn *sc, size_t n);
int ps_sim_down_data(struct sconn *sc, const uint8_t *data, size_t len);
void ps_sim_host_init(struct snode *nd);
/* Forget sc (it is being freed) and, with sc NULL, everything of nd. */
void ps_sim_host_forget(struct snode *nd, struct sconn *sc);

#endif /* WEFT_PS_SIM_INTERNAL_H */
