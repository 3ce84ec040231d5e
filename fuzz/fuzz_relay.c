/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_relay: the circuit relay v2 message parser and the hop service's
 * limits on arbitrary bytes (weft/relay.h).
 *
 *  - weft_relay_msg_decode, as a HopMessage and as a StopMessage, returns
 *    0, WEFT_EPROTO (with a reason) or WEFT_ETOOBIG (always past
 *    WEFT_RELAY_MAX_MSG bytes), keeps at most WEFT_RELAY_MAX_ADDRS
 *    addresses per list, a voucher inside the input and within its bound,
 *    a type in range. A decoded message re-encodes to bytes that decode to
 *    the same message with nothing dropped.
 *  - The same bytes as a script of operations (reserve, connect, forward,
 *    close, expire, unreserve) from a handful of peers and IPs on a small
 *    hop service: answers are documented status codes, reservations and
 *    circuits never exceed their bounds, and a circuit is granted only to
 *    a destination holding a reservation.
 */
#include "fuzz_util.h"
#include "weft/relay.h"

#define NPEERS 6

static weft_peer_id peers[NPEERS];

static void
setup(void)
{
    static int done;
    if (done)
        return;
    for (int i = 0; i < NPEERS; i++) {
        weft_identity id;
        uint8_t seed[32];
        memset(seed, i + 1, sizeof seed);
        weft_identity_from_seed(&id, seed);
        weft_peer_id_from_pubkey(id.pk, &peers[i]);
    }
    done = 1;
}

static int
addrs_eq(const weft_multiaddr *a, const weft_multiaddr *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].len != b[i].len || memcmp(a[i].bytes, b[i].bytes, a[i].len))
            return 0;
    return 1;
}

static void
check_decode(const uint8_t *buf, size_t size, int stop)
{
    static weft_relay_msg m, again;
    const char *why = NULL;
    int rc = weft_relay_msg_decode(buf, size, stop, &m, &why);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO || rc == WEFT_ETOOBIG);
    if (size > WEFT_RELAY_MAX_MSG)
        FZ_CHECK(rc == WEFT_ETOOBIG);
    if (rc < 0) {
        FZ_CHECK(why != NULL);
        return;
    }
    FZ_CHECK(m.type >= 0 && m.type <= (stop ? WEFT_RELAY_STOP_STATUS : WEFT_RELAY_HOP_STATUS));
    FZ_CHECK(m.peer.naddrs <= WEFT_RELAY_MAX_ADDRS && m.rsv_naddrs <= WEFT_RELAY_MAX_ADDRS);
    FZ_CHECK(!m.has_peer || m.peer.id.len > 0);
    FZ_CHECK(!stop || !m.has_reservation);
    if (m.voucher_len)
        FZ_CHECK(m.voucher_len <= WEFT_RELAY_MAX_VOUCHER && m.voucher >= buf &&
                 m.voucher + m.voucher_len <= buf + size);
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    FZ_CHECK(weft_relay_msg_encode(&m, stop, &b) == 0);
    rc = weft_relay_msg_decode(b.base, b.len, stop, &again, &why);
    FZ_CHECK(rc == 0 || b.len > WEFT_RELAY_MAX_MSG);
    if (rc == 0) {
        FZ_CHECK(again.type == m.type && again.status == m.status && again.dropped == 0);
        FZ_CHECK(again.has_peer == m.has_peer && again.has_limit == m.has_limit &&
                 again.has_reservation == m.has_reservation);
        if (m.has_peer)
            FZ_CHECK(weft_peer_id_equal(&again.peer.id, &m.peer.id) &&
                     again.peer.naddrs == m.peer.naddrs &&
                     addrs_eq(again.peer.addrs, m.peer.addrs, m.peer.naddrs));
        if (m.has_limit)
            FZ_CHECK(again.limit_duration == m.limit_duration && again.limit_data == m.limit_data);
        if (m.has_reservation)
            FZ_CHECK(again.expire == m.expire && again.rsv_naddrs == m.rsv_naddrs &&
                     addrs_eq(again.rsv_addrs, m.rsv_addrs, m.rsv_naddrs) &&
                     again.voucher_len == m.voucher_len &&
                     (!m.voucher_len || !memcmp(again.voucher, m.voucher, m.voucher_len)));
    }
    weft_buf_free(&b);
}

static int
is_status(int s)
{
    return s == WEFT_RELAY_OK || s == WEFT_RELAY_RESERVATION_REFUSED ||
           s == WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED || s == WEFT_RELAY_NO_RESERVATION;
}

static void
run_script(const uint8_t *p, size_t n)
{
    weft_relay_config c;
    weft_relay_config_default(&c);
    c.max_reservations = 4;
    c.max_reservations_per_ip = 2;
    c.reservation_ttl_s = 50;
    c.max_circuits = 5;
    c.max_circuits_per_peer = 2;
    c.circuit_duration_s = 20;
    c.circuit_bytes = 5000;
    weft_relay *r = weft_relay_new(&c);
    FZ_CHECK(r != NULL);
    uint64_t now = 1000, circ[8] = {0}, exp;
    for (size_t i = 0; i + 1 < n && i < 2048; i += 2) {
        uint8_t op = p[i] & 7, a = (uint8_t)((p[i] >> 3) % NPEERS), b = p[i + 1];
        const weft_peer_id *dst = &peers[b % NPEERS];
        uint8_t ip[16] = {0};
        ip[15] = (uint8_t)(b >> 5);
        switch (op) {
        case 0: FZ_CHECK(is_status(weft_relay_reserve(r, &peers[a], ip, now, &exp))); break;
        case 1: {
            uint64_t id = 0;
            int had = weft_relay_has_reservation(r, dst, now);
            int s = weft_relay_connect(r, &peers[a], dst, now, &id);
            FZ_CHECK(is_status(s));
            if (s == WEFT_RELAY_OK) {
                FZ_CHECK(had && id != 0);
                if (circ[b & 7])
                    weft_relay_circuit_close(r, circ[b & 7]);
                circ[b & 7] = id;
            } else if (!had) {
                FZ_CHECK(s == WEFT_RELAY_NO_RESERVATION);
            }
            break;
        }
        case 2: {
            int s = weft_relay_circuit_data(r, circ[b & 7], (size_t)b * 40u, now);
            FZ_CHECK(s == 0 || s == WEFT_ELIMIT || (s == WEFT_EINVAL && !circ[b & 7]));
            break;
        }
        case 3:
            weft_relay_circuit_close(r, circ[b & 7]);
            circ[b & 7] = 0;
            break;
        case 4: now += b; break;
        case 5: (void)weft_relay_expire(r, now); break;
        case 6: weft_relay_unreserve(r, dst); break;
        default: now += 1; break;
        }
        FZ_CHECK(weft_relay_nreservations(r) <= c.max_reservations);
        FZ_CHECK(weft_relay_ncircuits(r) <= c.max_circuits);
    }
    weft_relay_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    uint8_t *buf = fz_dup(data, size);
    check_decode(buf, size, 0);
    check_decode(buf, size, 1);
    run_script(buf, size);
    free(buf);
    return 0;
}
