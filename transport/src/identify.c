/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identify message encoding and bounded decoding (weft/identify.h).
 * Strings longer than WEFT_IDENTIFY_MAX_STR - 1 and entries past the array
 * bounds are skipped and counted in `dropped`; they never fail the message,
 * so a peer with a long protocol list still identifies.
 */
#include <string.h>

#include "weft/identify.h"
#include "weft/identity.h"
#include "weft/pb.h"

int
weft_identify_encode(const weft_identify *id, weft_buf *out)
{
    int rc = 0;
    if (id->has_pubkey) {
        uint8_t pb[36];
        weft_pubkey_pb_encode(id->pubkey, pb);
        rc = weft_pb_put_bytes(out, 1, pb, sizeof pb);
    }
    for (size_t i = 0; rc == 0 && i < id->nlisten; i++)
        rc = weft_pb_put_bytes(out, 2, id->listen[i].bytes, id->listen[i].len);
    for (size_t i = 0; rc == 0 && i < id->nprotocols; i++)
        rc = weft_pb_put_str(out, 3, id->protocols[i]);
    if (rc == 0 && id->has_observed)
        rc = weft_pb_put_bytes(out, 4, id->observed.bytes, id->observed.len);
    if (rc == 0 && id->protocol_version[0])
        rc = weft_pb_put_str(out, 5, id->protocol_version);
    if (rc == 0 && id->agent_version[0])
        rc = weft_pb_put_str(out, 6, id->agent_version);
    return rc;
}

static int
copy_str(char *dst, const weft_pb_field *f)
{
    if (f->len >= WEFT_IDENTIFY_MAX_STR || memchr(f->data, 0, f->len))
        return 0;
    memcpy(dst, f->data, f->len);
    dst[f->len] = 0;
    return 1;
}

int
weft_identify_decode(const uint8_t *p, size_t len, weft_identify *out)
{
    if (len > WEFT_IDENTIFY_MAX_MSG)
        return WEFT_ETOOBIG;
    memset(out, 0, sizeof *out);
    weft_pb_reader r;
    weft_pb_reader_init(&r, p, len);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.num >= 1 && f.num <= 6 && f.wire != WEFT_PB_LEN)
            return WEFT_EPROTO;
        switch (f.num) {
        case 1:
            if (weft_pubkey_pb_decode(f.data, f.len, out->pubkey) == 0)
                out->has_pubkey = 1;
            else
                out->dropped++;
            break;
        case 2:
            if (out->nlisten < WEFT_IDENTIFY_MAX_ADDRS &&
                weft_ma_from_bytes(f.data, f.len, &out->listen[out->nlisten]) == 0)
                out->nlisten++;
            else
                out->dropped++;
            break;
        case 3:
            if (out->nprotocols < WEFT_IDENTIFY_MAX_PROTOS &&
                copy_str(out->protocols[out->nprotocols], &f))
                out->nprotocols++;
            else
                out->dropped++;
            break;
        case 4:
            if (weft_ma_from_bytes(f.data, f.len, &out->observed) == 0)
                out->has_observed = 1;
            else
                out->dropped++;
            break;
        case 5:
            if (!copy_str(out->protocol_version, &f))
                out->dropped++;
            break;
        case 6:
            if (!copy_str(out->agent_version, &f))
                out->dropped++;
            break;
        default: break; /* signedPeerRecord (8) and unknown fields */
        }
    }
    return rc < 0 ? rc : 0;
}

int
weft_identify_has_protocol(const weft_identify *id, const char *proto)
{
    for (size_t i = 0; i < id->nprotocols; i++)
        if (!strcmp(id->protocols[i], proto))
            return 1;
    return 0;
}
