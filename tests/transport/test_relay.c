/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Circuit relay v2 without I/O: HopMessage and StopMessage round trips,
 * refusals of malformed input naming the field, address bounds counted,
 * and the hop service's limits (reservations in total and per IP, renewal,
 * expiry, circuits needing a reservation, circuits per peer and in total,
 * bytes and duration of a circuit).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "weft/pb.h"
#include "weft/relay.h"
#include "weft/rng.h"

static weft_peer_id
pid_of(uint64_t seed)
{
    weft_rng rng;
    uint8_t s[32];
    weft_identity id;
    weft_peer_id p;
    weft_rng_seed(&rng, seed);
    weft_rng_bytes(&rng, s, sizeof s);
    weft_identity_from_seed(&id, s);
    weft_peer_id_from_pubkey(id.pk, &p);
    return p;
}

static void
ip_of(uint8_t last, uint8_t ip[16])
{
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    ip[12] = 10;
    ip[15] = last;
}

/* ---- messages ------------------------------------------------------------------------ */

Test(relay, hop_reservation_round_trip)
{
    weft_relay_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = WEFT_RELAY_HOP_STATUS;
    m.status = WEFT_RELAY_OK;
    m.has_reservation = 1;
    m.expire = 1893456000;
    cr_assert_eq(weft_ma_parse("/ip4/127.0.0.1/tcp/4001", &m.rsv_addrs[0]), 0);
    cr_assert_eq(weft_ma_parse("/ip6/::1/tcp/4002", &m.rsv_addrs[1]), 0);
    m.rsv_naddrs = 2;
    m.voucher = (const uint8_t *)"env";
    m.voucher_len = 3;
    m.has_limit = 1;
    m.limit_duration = 120;
    m.limit_data = 1 << 17;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_relay_msg_encode(&m, 0, &out), 0);
    const char *why = "x";
    cr_assert_eq(weft_relay_msg_decode(out.base, out.len, 0, &d, &why), 0, "%s", why);
    cr_assert_null(why);
    cr_assert_eq(d.type, WEFT_RELAY_HOP_STATUS);
    cr_assert_eq(d.status, WEFT_RELAY_OK);
    cr_assert(d.has_reservation && d.expire == 1893456000);
    cr_assert_eq(d.rsv_naddrs, 2);
    cr_assert_eq(memcmp(d.rsv_addrs[1].bytes, m.rsv_addrs[1].bytes, m.rsv_addrs[1].len), 0);
    cr_assert_eq(d.voucher_len, 3);
    cr_assert(d.voucher >= out.base && d.voucher + 3 <= out.base + out.len);
    cr_assert(d.has_limit && d.limit_duration == 120 && d.limit_data == (1 << 17));
    cr_assert_not(d.has_peer);
    weft_buf_free(&out);
}

Test(relay, stop_connect_round_trip_uses_stop_field_numbers)
{
    weft_relay_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = WEFT_RELAY_STOP_CONNECT;
    m.has_peer = 1;
    m.peer.id = pid_of(7);
    m.has_limit = 1;
    m.limit_duration = 30;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_relay_msg_encode(&m, 1, &out), 0);
    /* Limit is field 3 in a StopMessage: the hop parser takes it for a
     * Reservation (whose field 1, expire, is the duration). */
    cr_assert_eq(weft_relay_msg_decode(out.base, out.len, 1, &d, NULL), 0);
    cr_assert(d.has_peer && weft_peer_id_equal(&d.peer.id, &m.peer.id));
    cr_assert(d.has_limit && d.limit_duration == 30 && d.limit_data == 0);
    cr_assert_eq(weft_relay_msg_decode(out.base, out.len, 0, &d, NULL), 0);
    cr_assert(d.has_reservation && d.expire == 30 && !d.has_limit);
    weft_buf_free(&out);
}

static int
decode_bytes(const uint8_t *p, size_t n, int stop, const char **why)
{
    weft_relay_msg d;
    return weft_relay_msg_decode(p, n, stop, &d, why);
}

Test(relay, malformed_messages_are_refused_with_the_field_named)
{
    const char *why = NULL;
    cr_assert_eq(decode_bytes(NULL, 0, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "HopMessage.type: missing");
    const uint8_t bad_type[] = {0x08, 0x03};
    cr_assert_eq(decode_bytes(bad_type, sizeof bad_type, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "HopMessage.type: expected 0..2");
    cr_assert_eq(decode_bytes(bad_type, sizeof bad_type, 1, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "StopMessage.type: expected 0..1");
    const uint8_t no_type[] = {0x28, 0x64}; /* status 100 only */
    cr_assert_eq(decode_bytes(no_type, sizeof no_type, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "HopMessage.type: missing");
    const uint8_t peer_no_id[] = {0x08, 0x01, 0x12, 0x00};
    cr_assert_eq(decode_bytes(peer_no_id, sizeof peer_no_id, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "Peer.id: missing");
    const uint8_t peer_bad_id[] = {0x08, 0x01, 0x12, 0x03, 0x0a, 0x01, 0x99};
    cr_assert_eq(decode_bytes(peer_bad_id, sizeof peer_bad_id, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "Peer.id: not a peer id multihash");
    const uint8_t trunc[] = {0x08, 0x00, 0x12, 0x09, 0x0a};
    cr_assert_eq(decode_bytes(trunc, sizeof trunc, 0, &why), WEFT_EPROTO);
    const uint8_t wire[] = {0x0a, 0x00}; /* type as a length-delimited field */
    cr_assert_eq(decode_bytes(wire, sizeof wire, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "type: expected a varint");
    /* Limit.duration over 32 bits */
    const uint8_t dur[] = {0x08, 0x02, 0x22, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10};
    cr_assert_eq(decode_bytes(dur, sizeof dur, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "Limit.duration: over 2^32-1 seconds");
    uint8_t *big = calloc(1, WEFT_RELAY_MAX_MSG + 1);
    cr_assert_eq(decode_bytes(big, WEFT_RELAY_MAX_MSG + 1, 0, &why), WEFT_ETOOBIG);
    cr_assert_str_eq(why, "message: over 4096 bytes");
    free(big);
}

Test(relay, voucher_over_bound_is_refused)
{
    weft_relay_msg m;
    memset(&m, 0, sizeof m);
    m.type = WEFT_RELAY_HOP_STATUS;
    m.has_reservation = 1;
    uint8_t v[WEFT_RELAY_MAX_VOUCHER + 1];
    memset(v, 0x55, sizeof v);
    m.voucher = v;
    m.voucher_len = sizeof v;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_relay_msg_encode(&m, 0, &out), 0);
    const char *why = NULL;
    cr_assert_eq(decode_bytes(out.base, out.len, 0, &why), WEFT_EPROTO);
    cr_assert_str_eq(why, "Reservation.voucher: over 1024 bytes");
    weft_buf_free(&out);
}

Test(relay, addresses_past_the_bound_or_unparsable_are_counted)
{
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    weft_buf r;
    weft_buf_init(&r, NULL, 0, 0);
    weft_multiaddr a;
    cr_assert_eq(weft_ma_parse("/ip4/127.0.0.1/tcp/1", &a), 0);
    for (int i = 0; i < WEFT_RELAY_MAX_ADDRS + 3; i++)
        cr_assert_eq(weft_pb_put_bytes(&r, 2, a.bytes, a.len), 0);
    cr_assert_eq(weft_pb_put_bytes(&r, 2, "\xff\xff", 2), 0); /* not a multiaddr */
    cr_assert_eq(weft_pb_put_varint(&out, 1, WEFT_RELAY_HOP_STATUS), 0);
    cr_assert_eq(weft_pb_put_bytes(&out, 3, r.base, r.len), 0);
    weft_relay_msg d;
    cr_assert_eq(weft_relay_msg_decode(out.base, out.len, 0, &d, NULL), 0);
    cr_assert_eq(d.rsv_naddrs, WEFT_RELAY_MAX_ADDRS);
    cr_assert_eq(d.dropped, 4);
    weft_buf_free(&r);
    weft_buf_free(&out);
}

Test(relay, status_names)
{
    cr_assert_str_eq(weft_relay_status_name(WEFT_RELAY_NO_RESERVATION), "NO_RESERVATION");
    cr_assert_str_eq(weft_relay_status_name(WEFT_RELAY_OK), "OK");
    cr_assert_str_eq(weft_relay_status_name(7), "UNKNOWN");
}

/* ---- the hop service ------------------------------------------------------------------ */

static weft_relay *
small_relay(void)
{
    weft_relay_config c;
    weft_relay_config_default(&c);
    c.max_reservations = 4;
    c.max_reservations_per_ip = 2;
    c.reservation_ttl_s = 100;
    c.max_circuits = 3;
    c.max_circuits_per_peer = 2;
    c.circuit_duration_s = 10;
    c.circuit_bytes = 1000;
    weft_relay *r = weft_relay_new(&c);
    cr_assert_not_null(r);
    return r;
}

Test(relay, reservations_are_bounded_in_total_and_per_ip)
{
    weft_relay *r = small_relay();
    uint8_t ip1[16], ip2[16], ip3[16];
    ip_of(1, ip1), ip_of(2, ip2), ip_of(3, ip3);
    uint64_t exp = 0;
    weft_peer_id p[6];
    for (int i = 0; i < 6; i++)
        p[i] = pid_of((uint64_t)i + 1);
    cr_assert_eq(weft_relay_reserve(r, &p[0], ip1, 1000, &exp), WEFT_RELAY_OK);
    cr_assert_eq(exp, 1100);
    cr_assert_eq(weft_relay_reserve(r, &p[1], ip1, 1000, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_reserve(r, &p[2], ip1, 1000, &exp), WEFT_RELAY_RESERVATION_REFUSED);
    /* a renewal by a holder takes no new slot, even from a full IP */
    cr_assert_eq(weft_relay_reserve(r, &p[1], ip1, 1050, &exp), WEFT_RELAY_OK);
    cr_assert_eq(exp, 1150);
    cr_assert_eq(weft_relay_reserve(r, &p[2], ip2, 1050, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_reserve(r, &p[3], ip2, 1050, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_reserve(r, &p[4], ip3, 1050, &exp), WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED);
    cr_assert_eq(weft_relay_nreservations(r), 4);
    weft_relay_stats st;
    weft_relay_stats_get(r, &st);
    cr_assert_eq(st.reservations_accepted, 5);
    cr_assert_eq(st.reservations_refused, 2);
    /* p[0]'s expires at 1100; then p[4] fits */
    cr_assert(weft_relay_has_reservation(r, &p[0], 1099));
    cr_assert_not(weft_relay_has_reservation(r, &p[0], 1100));
    cr_assert_eq(weft_relay_reserve(r, &p[4], ip3, 1100, &exp), WEFT_RELAY_OK);
    weft_relay_stats_get(r, &st);
    cr_assert_eq(st.reservations_expired, 1);
    weft_peer_id got;
    uint64_t gexp;
    int seen4 = 0;
    for (size_t i = 0; weft_relay_reservation_at(r, i, &got, &gexp) == 0; i++)
        seen4 += weft_peer_id_equal(&got, &p[4]) && gexp == 1200;
    cr_assert_eq(seen4, 1);
    weft_relay_unreserve(r, &p[4]);
    cr_assert_eq(weft_relay_nreservations(r), 3);
    weft_relay_free(r);
}

Test(relay, circuits_need_a_reservation_and_are_bounded)
{
    weft_relay *r = small_relay();
    uint8_t ip[16];
    uint64_t exp, c[4];
    weft_peer_id dst = pid_of(100), dst2 = pid_of(101), s1 = pid_of(1), s2 = pid_of(2),
                 s3 = pid_of(3);
    ip_of(9, ip);
    cr_assert_eq(weft_relay_connect(r, &s1, &dst, 0, &c[0]), WEFT_RELAY_NO_RESERVATION);
    cr_assert_eq(weft_relay_reserve(r, &dst, ip, 0, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_reserve(r, &dst2, ip, 0, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_connect(r, &s1, &dst, 0, &c[0]), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_connect(r, &s2, &dst, 0, &c[1]), WEFT_RELAY_OK);
    /* dst is in two circuits already */
    cr_assert_eq(weft_relay_connect(r, &s3, &dst, 0, &c[2]), WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED);
    cr_assert_eq(weft_relay_connect(r, &s3, &dst2, 0, &c[2]), WEFT_RELAY_OK);
    /* three circuits in total */
    cr_assert_eq(weft_relay_connect(r, &s1, &dst2, 0, &c[3]), WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED);
    cr_assert_eq(weft_relay_ncircuits(r), 3);
    cr_assert_neq(c[0], c[1]);
    weft_relay_circuit_close(r, c[1]);
    cr_assert_eq(weft_relay_ncircuits(r), 2);
    cr_assert_eq(weft_relay_connect(r, &s1, &dst2, 0, &c[3]), WEFT_RELAY_OK);
    weft_relay_stats st;
    weft_relay_stats_get(r, &st);
    cr_assert_eq(st.circuits_opened, 4);
    cr_assert_eq(st.circuits_refused, 3);
    cr_assert_eq(st.circuits_closed, 1);
    weft_relay_free(r);
}

Test(relay, a_circuit_stops_at_its_byte_and_time_limits)
{
    weft_relay *r = small_relay();
    uint8_t ip[16];
    uint64_t exp, c1, c2;
    weft_peer_id dst = pid_of(100), src = pid_of(1);
    ip_of(9, ip);
    cr_assert_eq(weft_relay_reserve(r, &dst, ip, 0, &exp), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_connect(r, &src, &dst, 0, &c1), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_circuit_data(r, c1, 600, 1), 0);
    cr_assert_eq(weft_relay_circuit_data(r, c1, 400, 2), 0);
    cr_assert_eq(weft_relay_circuit_data(r, c1, 1, 2), WEFT_ELIMIT);
    cr_assert_eq(weft_relay_connect(r, &src, &dst, 5, &c2), WEFT_RELAY_OK);
    cr_assert_eq(weft_relay_circuit_data(r, c2, 1, 14), 0);
    cr_assert_eq(weft_relay_circuit_data(r, c2, 1, 15), WEFT_ELIMIT);
    cr_assert_eq(weft_relay_circuit_data(r, 999, 1, 15), WEFT_EINVAL);
    weft_relay_stats st;
    weft_relay_stats_get(r, &st);
    cr_assert_eq(st.circuits_over_limit, 2);
    weft_relay_free(r);
}

Test(relay, a_zero_bound_is_refused)
{
    weft_relay_config c;
    weft_relay_config_default(&c);
    c.max_circuits = 0;
    cr_assert_null(weft_relay_new(&c));
}
