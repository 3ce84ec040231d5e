/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kademlia wire message (weft/kad.h): encoding and bounded decoding.
 * A peer past WEFT_KAD_MAX_PEERS, an address past WEFT_KAD_MAX_ADDRS or one
 * that does not parse is skipped and counted in `dropped`; a field of the
 * wrong wire type, a peer without an id or a truncated field fails the
 * whole message (WEFT_EPROTO with the field named in *why).
 */
#include <string.h>
#include <time.h>

#include "weft/clock.h"
#include "weft/kad.h"
#include "weft/pb.h"

static int
put_peer(weft_buf *out, uint32_t num, const weft_kad_peer *p)
{
    uint8_t small[WEFT_KAD_MAX_ADDRS * (WEFT_MA_MAX + 3) + WEFT_PEER_ID_MAX + 16];
    weft_buf b;
    weft_buf_init(&b, small, sizeof small, 0);
    int rc = weft_pb_put_bytes(&b, 1, p->id.bytes, p->id.len);
    for (size_t i = 0; rc == 0 && i < p->naddrs; i++)
        rc = weft_pb_put_bytes(&b, 2, p->addrs[i].bytes, p->addrs[i].len);
    if (rc == 0 && p->connection)
        rc = weft_pb_put_varint(&b, 3, (uint64_t)p->connection);
    if (rc == 0)
        rc = weft_pb_put_bytes(out, num, b.base, b.len);
    weft_buf_free(&b);
    return rc;
}

int
weft_kad_msg_encode(const weft_kad_msg *m, weft_buf *out)
{
    int rc = 0;
    if (m->type)
        rc = weft_pb_put_varint(out, 1, (uint64_t)m->type);
    if (rc == 0 && m->key_len)
        rc = weft_pb_put_bytes(out, 2, m->key, m->key_len);
    if (rc == 0 && m->has_record) {
        uint8_t small[256];
        weft_buf r;
        weft_buf_init(&r, small, sizeof small, 0);
        char when[40];
        time_t t = (time_t)(weft_unix_ms() / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        rc = weft_pb_put_bytes(&r, 1, m->rec_key, m->rec_key_len);
        if (rc == 0)
            rc = weft_pb_put_bytes(&r, 2, m->rec_value, m->rec_value_len);
        if (rc == 0)
            rc = weft_pb_put_str(&r, 5, when);
        if (rc == 0)
            rc = weft_pb_put_bytes(out, 3, r.base, r.len);
        weft_buf_free(&r);
    }
    for (size_t i = 0; rc == 0 && i < m->ncloser; i++)
        rc = put_peer(out, 8, &m->closer[i]);
    for (size_t i = 0; rc == 0 && i < m->nproviders; i++)
        rc = put_peer(out, 9, &m->providers[i]);
    return rc;
}

static int
fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return WEFT_EPROTO;
}

/* Returns 1 kept, 0 skipped (counted by the caller), <0 malformed. */
static int
get_peer(const uint8_t *p, size_t len, weft_kad_peer *out, size_t *dropped, const char **why)
{
    memset(out, 0, sizeof *out);
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc, has_id = 0, bad_id = 0;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if ((f.num == 1 || f.num == 2) && f.wire != WEFT_PB_LEN)
            return fail(why, "Peer.id/addrs: expected a length-delimited field");
        if (f.num == 3 && f.wire != WEFT_PB_VARINT)
            return fail(why, "Peer.connection: expected a varint");
        if (f.num == 1) {
            has_id = 1;
            bad_id = weft_peer_id_from_bytes(f.data, f.len, &out->id) < 0;
        } else if (f.num == 2) {
            if (out->naddrs < WEFT_KAD_MAX_ADDRS &&
                weft_ma_from_bytes(f.data, f.len, &out->addrs[out->naddrs]) == 0)
                out->naddrs++;
            else
                (*dropped)++;
        } else if (f.num == 3) {
            out->connection = f.u <= 3 ? (int)f.u : 0;
        }
    }
    if (rc < 0)
        return fail(why, "Peer: truncated or malformed field");
    if (!has_id)
        return fail(why, "Peer.id: missing");
    if (bad_id) {
        (*dropped)++; /* a peer id of a key type we do not read: skip the peer */
        return 0;
    }
    return 1;
}

static int
get_record(weft_kad_msg *m, const uint8_t *p, size_t len, const char **why)
{
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num == 1 || f.num == 2) {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "Record.key/value: expected a length-delimited field");
            if (f.num == 1) {
                m->rec_key = f.data;
                m->rec_key_len = f.len;
            } else {
                m->rec_value = f.data;
                m->rec_value_len = f.len;
            }
        }
    }
    if (rc < 0)
        return fail(why, "Record: truncated or malformed field");
    m->has_record = 1;
    return 0;
}

int
weft_kad_msg_decode(const uint8_t *p, size_t len, weft_kad_msg *out, const char **why)
{
    if (why)
        *why = NULL;
    if (len > WEFT_KAD_MAX_MSG) {
        if (why)
            *why = "message: over 65536 bytes";
        return WEFT_ETOOBIG;
    }
    out->type = 0;
    out->key = out->rec_key = out->rec_value = NULL;
    out->key_len = out->rec_key_len = out->rec_value_len = 0;
    out->has_record = 0;
    out->ncloser = out->nproviders = out->dropped = 0;
    if (len == 0)
        return 0; /* the empty message (p may be NULL) */
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (f.wire != WEFT_PB_VARINT)
                return fail(why, "Message.type: expected a varint");
            if (f.u > WEFT_KAD_PING)
                return fail(why, "Message.type: expected 0..5");
            out->type = (int)f.u;
            break;
        case 2:
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "Message.key: expected a length-delimited field");
            out->key = f.data;
            out->key_len = f.len;
            break;
        case 3:
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "Message.record: expected a length-delimited field");
            if ((rc = get_record(out, f.data, f.len, why)) < 0)
                return rc;
            break;
        case 8:
        case 9: {
            if (f.wire != WEFT_PB_LEN)
                return fail(why, "Message.closerPeers/providerPeers: expected a message");
            int closer = f.num == 8;
            size_t *n = closer ? &out->ncloser : &out->nproviders;
            weft_kad_peer *arr = closer ? out->closer : out->providers;
            if (*n >= WEFT_KAD_MAX_PEERS) {
                out->dropped++;
                break;
            }
            rc = get_peer(f.data, f.len, &arr[*n], &out->dropped, why);
            if (rc < 0)
                return rc;
            *n += (size_t)rc;
            break;
        }
        default: break; /* clusterLevelRaw (10) and unknown fields */
        }
    }
    if (rc < 0)
        return fail(why, "Message: truncated or malformed field");
    return 0;
}
