/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The circuit relay v2 wire messages (weft/relay.h): encoding and bounded
 * decoding. An address past WEFT_RELAY_MAX_ADDRS or one that does not
 * parse is skipped and counted in `dropped`; a field of the wrong wire
 * type, a missing or out-of-range type, a Peer without a readable id, a
 * voucher over WEFT_RELAY_MAX_VOUCHER, a duration over 32 bits or a
 * truncated field fails the whole message (WEFT_EPROTO, field named in *why).
 */
#include <string.h>

#include "weft/pb.h"
#include "weft/relay.h"

static int
fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return WEFT_EPROTO;
}

static int
put_addrs(weft_buf *b, uint32_t num, const weft_multiaddr *a, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = weft_pb_put_bytes(b, num, a[i].bytes, a[i].len);
    return rc;
}

/* Encode a nested message built in sub into out as field num. */
static int
put_sub(weft_buf *out, uint32_t num, weft_buf *sub, int rc)
{
    if (rc == 0)
        rc = weft_pb_put_bytes(out, num, sub->base, sub->len);
    weft_buf_free(sub);
    return rc;
}

int
weft_relay_msg_encode(const weft_relay_msg *m, int stop, weft_buf *out)
{
    int rc = weft_pb_put_varint(out, 1, (uint64_t)m->type);
    uint8_t small[WEFT_RELAY_MAX_ADDRS * (WEFT_MA_MAX + 3) + WEFT_PEER_ID_MAX + 16];
    weft_buf b;
    if (rc == 0 && m->has_peer) {
        weft_buf_init(&b, small, sizeof small, 0);
        int r2 = weft_pb_put_bytes(&b, 1, m->peer.id.bytes, m->peer.id.len);
        if (r2 == 0)
            r2 = put_addrs(&b, 2, m->peer.addrs, m->peer.naddrs);
        rc = put_sub(out, 2, &b, r2);
    }
    if (rc == 0 && m->has_reservation && !stop) {
        weft_buf_init(&b, small, sizeof small, 0);
        int r2 = weft_pb_put_varint(&b, 1, m->expire);
        if (r2 == 0)
            r2 = put_addrs(&b, 2, m->rsv_addrs, m->rsv_naddrs);
        if (r2 == 0 && m->voucher_len)
            r2 = weft_pb_put_bytes(&b, 3, m->voucher, m->voucher_len);
        rc = put_sub(out, 3, &b, r2);
    }
    if (rc == 0 && m->has_limit) {
        weft_buf_init(&b, small, sizeof small, 0);
        int r2 = 0;
        if (m->limit_duration)
            r2 = weft_pb_put_varint(&b, 1, m->limit_duration);
        if (r2 == 0 && m->limit_data)
            r2 = weft_pb_put_varint(&b, 2, m->limit_data);
        rc = put_sub(out, stop ? 3 : 4, &b, r2);
    }
    if (rc == 0 && m->status)
        rc = weft_pb_put_varint(out, stop ? 4 : 5, (uint64_t)m->status);
    return rc;
}

static void
get_addr(const weft_pb_field *f, weft_multiaddr *arr, size_t *n, size_t *dropped)
{
    if (*n < WEFT_RELAY_MAX_ADDRS && weft_ma_from_bytes(f->data, f->len, &arr[*n]) == 0)
        (*n)++;
    else
        (*dropped)++;
}

static int
get_peer(const uint8_t *p, size_t len, weft_relay_msg *m, const char **why)
{
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc, has_id = 0;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if ((f.num == 1 || f.num == 2) && f.wire != WEFT_PB_LEN)
            return fail(why, "Peer.id/addrs: expected a length-delimited field");
        if (f.num == 1) {
            if (weft_peer_id_from_bytes(f.data, f.len, &m->peer.id) < 0)
                return fail(why, "Peer.id: not a peer id multihash");
            has_id = 1;
        } else if (f.num == 2) {
            get_addr(&f, m->peer.addrs, &m->peer.naddrs, &m->dropped);
        }
    }
    if (rc < 0)
        return fail(why, "Peer: truncated or malformed field");
    if (!has_id)
        return fail(why, "Peer.id: missing");
    m->has_peer = 1;
    return 0;
}

static int
get_reservation(const uint8_t *p, size_t len, weft_relay_msg *m, const char **why)
{
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1) {
            if (f.wire != WEFT_PB_VARINT)
                return fail(why, "Reservation.expire: expected a varint");
            m->expire = f.u;
        } else if (f.num == 2 || f.num == 3) {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "Reservation.addrs/voucher: expected a length-delimited field");
            if (f.num == 2) {
                get_addr(&f, m->rsv_addrs, &m->rsv_naddrs, &m->dropped);
            } else {
                if (f.len > WEFT_RELAY_MAX_VOUCHER)
                    return fail(why, "Reservation.voucher: over 1024 bytes");
                m->voucher = f.data;
                m->voucher_len = f.len;
            }
        }
    }
    if (rc < 0)
        return fail(why, "Reservation: truncated or malformed field");
    m->has_reservation = 1;
    return 0;
}

static int
get_limit(const uint8_t *p, size_t len, weft_relay_msg *m, const char **why)
{
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if ((f.num == 1 || f.num == 2) && f.wire != WEFT_PB_VARINT)
            return fail(why, "Limit.duration/data: expected a varint");
        if (f.num == 1) {
            if (f.u > UINT32_MAX)
                return fail(why, "Limit.duration: over 2^32-1 seconds");
            m->limit_duration = (uint32_t)f.u;
        } else if (f.num == 2) {
            m->limit_data = f.u;
        }
    }
    if (rc < 0)
        return fail(why, "Limit: truncated or malformed field");
    m->has_limit = 1;
    return 0;
}

int
weft_relay_msg_decode(const uint8_t *p, size_t len, int stop, weft_relay_msg *out, const char **why)
{
    if (why)
        *why = NULL;
    memset(out, 0, sizeof *out);
    out->type = -1;
    if (len > WEFT_RELAY_MAX_MSG) {
        if (why)
            *why = "message: over 4096 bytes";
        return WEFT_ETOOBIG;
    }
    if (len == 0)
        return fail(why, stop ? "StopMessage.type: missing" : "HopMessage.type: missing");
    const uint32_t f_limit = stop ? 3 : 4, f_status = stop ? 4 : 5;
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1) {
            if (f.wire != WEFT_PB_VARINT)
                return fail(why, "type: expected a varint");
            if (f.u > (stop ? (uint64_t)WEFT_RELAY_STOP_STATUS : (uint64_t)WEFT_RELAY_HOP_STATUS))
                return fail(why, stop ? "StopMessage.type: expected 0..1"
                                      : "HopMessage.type: expected 0..2");
            out->type = (int)f.u;
        } else if (f.num == 2) {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "peer: expected a message");
            if ((rc = get_peer(f.data, f.len, out, why)) < 0)
                return rc;
        } else if (f.num == 3 && !stop) {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "HopMessage.reservation: expected a message");
            if ((rc = get_reservation(f.data, f.len, out, why)) < 0)
                return rc;
        } else if (f.num == f_limit) {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "limit: expected a message");
            if ((rc = get_limit(f.data, f.len, out, why)) < 0)
                return rc;
        } else if (f.num == f_status) {
            if (f.wire != WEFT_PB_VARINT)
                return fail(why, "status: expected a varint");
            if (f.u > 0xffff)
                return fail(why, "status: expected a status code (0..65535)");
            out->status = (int)f.u;
        }
    }
    if (rc < 0)
        return fail(why, "message: truncated or malformed field");
    if (out->type < 0)
        return fail(why, stop ? "StopMessage.type: missing" : "HopMessage.type: missing");
    return 0;
}

const char *
weft_relay_status_name(int status)
{
    switch (status) {
    case WEFT_RELAY_OK: return "OK";
    case WEFT_RELAY_RESERVATION_REFUSED: return "RESERVATION_REFUSED";
    case WEFT_RELAY_RESOURCE_LIMIT_EXCEEDED: return "RESOURCE_LIMIT_EXCEEDED";
    case WEFT_RELAY_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case WEFT_RELAY_CONNECTION_FAILED: return "CONNECTION_FAILED";
    case WEFT_RELAY_NO_RESERVATION: return "NO_RESERVATION";
    case WEFT_RELAY_MALFORMED_MESSAGE: return "MALFORMED_MESSAGE";
    case WEFT_RELAY_UNEXPECTED_MESSAGE: return "UNEXPECTED_MESSAGE";
    default: return "UNKNOWN";
    }
}
