/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/relay.h: libp2p circuit relay v2 (/libp2p/circuit/relay/0.2.0/hop
 * and /libp2p/circuit/relay/0.2.0/stop), without I/O.
 *
 * Two parts so far:
 *   - the wire messages (relay_msg.c): proto2
 *       HopMessage  { type = 1 (RESERVE 0, CONNECT 1, STATUS 2); peer = 2;
 *                     reservation = 3; limit = 4; status = 5 }
 *       StopMessage { type = 1 (CONNECT 0, STATUS 1); peer = 2; limit = 3;
 *                     status = 4 }
 *       Peer        { id = 1; repeated addrs = 2 }
 *       Reservation { expire = 1 (unix seconds); repeated addrs = 2;
 *                     voucher = 3 (signed envelope, carried opaque) }
 *       Limit       { duration = 1 (seconds, uint32); data = 2 (bytes) }
 *     each one sent with a uvarint length prefix, at most
 *     WEFT_RELAY_MAX_MSG bytes. A message without a type, or with one out
 *     of range, is malformed (the spec's type is required);
 *   - the hop service's bookkeeping (relay.c): reservations bounded in
 *     total and per peer (one per peer id, renewals refresh it; per IP
 *     bounded too), a reservation's lifetime, circuits bounded in total and
 *     per peer (source or destination), each circuit's duration and byte
 *     limit. It decides and counts; the host binding moves the bytes.
 *
 * Threading: one engine per loop thread; nothing here locks.
 */
#ifndef WEFT_RELAY_H
#define WEFT_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/identity.h"
#include "weft/multiaddr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_RELAY_HOP_PROTO "/libp2p/circuit/relay/0.2.0/hop"
#define WEFT_RELAY_STOP_PROTO "/libp2p/circuit/relay/0.2.0/stop"
#define WEFT_RELAY_MAX_MSG 4096 /* one message, without its length prefix (spec: 4 KiB) */
#define WEFT_RELAY_MAX_ADDRS 8  /* addresses kept per Peer / Reservation */
#define WEFT_RELAY_MAX_VOUCHER 1024

enum { WEFT_RELAY_HOP_RESERVE = 0, WEFT_RELAY_HOP_CONNECT = 1, WEFT_RELAY_HOP_STATUS = 2 };
enum { WEFT_RELAY_STOP_CONNECT = 0, WEFT_RELAY_STOP_STATUS = 1 };

/* Status codes of the spec. */
enum {
    WEFT_RELAY_OK = 100,
    WEFT_RELAY_RESERVATION_REFUSED = 200,
    WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED = 201,
    WEFT_RELAY_PERMISSION_DENIED = 202,
    WEFT_RELAY_CONNECTION_FAILED = 203,
    WEFT_RELAY_NO_RESERVATION = 204,
    WEFT_RELAY_MALFORMED_MESSAGE = 400,
    WEFT_RELAY_UNEXPECTED_MESSAGE = 401,
};

typedef struct weft_relay_peer {
    weft_peer_id id;
    weft_multiaddr addrs[WEFT_RELAY_MAX_ADDRS];
    size_t naddrs;
} weft_relay_peer;

/* A decoded HopMessage or StopMessage (stop messages use only type, peer,
 * limit and status). The voucher points into the decoded input. */
typedef struct weft_relay_msg {
    int type;
    int has_peer;
    weft_relay_peer peer;
    int has_reservation;
    uint64_t expire;
    weft_multiaddr rsv_addrs[WEFT_RELAY_MAX_ADDRS];
    size_t rsv_naddrs;
    const uint8_t *voucher;
    size_t voucher_len;
    int has_limit;
    uint32_t limit_duration; /* seconds, 0 = none given */
    uint64_t limit_data;     /* bytes, 0 = none given */
    int status;              /* 0 = absent */
    size_t dropped;          /* addresses over the bound or unparsable, skipped */
} weft_relay_msg;

/* Serialize (without the length prefix). stop selects StopMessage field
 * numbers (limit 3, status 4; reservation is not written). */
WEFT_NODISCARD WEFT_API int weft_relay_msg_encode(const weft_relay_msg *m, int stop, weft_buf *out);
/* Parse one body. Returns 0, WEFT_ETOOBIG (over WEFT_RELAY_MAX_MSG) or
 * WEFT_EPROTO with the field named in *why (which may be NULL). */
WEFT_NODISCARD WEFT_API int weft_relay_msg_decode(const uint8_t *p, size_t len, int stop,
                                                  weft_relay_msg *out, const char **why);
/* The spec name of a status code ("OK", "NO_RESERVATION", ...) or "UNKNOWN". */
WEFT_API const char *weft_relay_status_name(int status);

/* ---- the hop service ---------------------------------------------------------------- */

typedef struct weft_relay_config {
    size_t max_reservations;        /* in total (default 128) */
    size_t max_reservations_per_ip; /* (default 4) */
    uint32_t reservation_ttl_s;     /* lifetime of a reservation (default 3600) */
    size_t max_circuits;            /* in total (default 64) */
    size_t max_circuits_per_peer;   /* as source or destination (default 16) */
    uint32_t circuit_duration_s;    /* Limit.duration sent and enforced (default 120) */
    uint64_t circuit_bytes; /* Limit.data sent; enforced over both directions together, stricter
                               than the spec's per direction (default 128 KiB) */
} weft_relay_config;

WEFT_API void weft_relay_config_default(weft_relay_config *c);

typedef struct weft_relay_stats {
    uint64_t reservations_accepted, reservations_refused, reservations_expired;
    uint64_t circuits_opened, circuits_refused, circuits_closed, circuits_over_limit;
    uint64_t malformed;
} weft_relay_stats;

typedef struct weft_relay weft_relay;

/* NULL on allocation failure or a zero bound. */
WEFT_NODISCARD WEFT_API weft_relay *weft_relay_new(const weft_relay_config *c);
WEFT_API void weft_relay_free(weft_relay *r);

/* A RESERVE from peer (ip: its observed address, 16 bytes, IPv4 mapped)
 * at now_s (unix seconds). Returns WEFT_RELAY_OK with *expire_s set, or
 * WEFT_RELAY_RESERVATION_REFUSED / WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED. A
 * peer that holds one renews it (no new slot used). */
WEFT_API int weft_relay_reserve(weft_relay *r, const weft_peer_id *peer, const uint8_t ip[16],
                                uint64_t now_s, uint64_t *expire_s);
/* Whether dst holds an unexpired reservation. */
WEFT_API int weft_relay_has_reservation(weft_relay *r, const weft_peer_id *dst, uint64_t now_s);
/* Drop reservations expired at now_s; returns how many. */
WEFT_API size_t weft_relay_expire(weft_relay *r, uint64_t now_s);
/* Drop dst's reservation (its connection closed). */
WEFT_API void weft_relay_unreserve(weft_relay *r, const weft_peer_id *dst);

/* A CONNECT from src to dst. Returns WEFT_RELAY_OK with *circuit set (an
 * id for weft_relay_circuit_*), WEFT_RELAY_NO_RESERVATION or
 * WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED. */
WEFT_API int weft_relay_connect(weft_relay *r, const weft_peer_id *src, const weft_peer_id *dst,
                                uint64_t now_s, uint64_t *circuit);
/* n bytes about to be forwarded on a circuit: 0 to forward them, or
 * WEFT_ELIMIT when the circuit's byte or time limit is reached (the caller
 * then closes the circuit and calls weft_relay_circuit_close). */
WEFT_NODISCARD WEFT_API int weft_relay_circuit_data(weft_relay *r, uint64_t circuit, size_t n,
                                                    uint64_t now_s);
WEFT_API void weft_relay_circuit_close(weft_relay *r, uint64_t circuit);

WEFT_API size_t weft_relay_nreservations(const weft_relay *r);
WEFT_API size_t weft_relay_ncircuits(const weft_relay *r);
WEFT_API void weft_relay_stats_get(const weft_relay *r, weft_relay_stats *out);
/* The i-th live reservation (for the API): 0, or WEFT_EINVAL past the end. */
WEFT_NODISCARD WEFT_API int weft_relay_reservation_at(const weft_relay *r, size_t i,
                                                      weft_peer_id *peer, uint64_t *expire_s);

#ifdef __cplusplus
}
#endif

#endif
