/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reassembly of uvarint-length-prefixed frames from a byte stream
 * (weft_lp_reader in weft/ps_rpc.h).
 *
 * A frame that arrives whole inside one fed chunk is handed out in place;
 * only the pieces of frames split across chunks are collected in acc. While
 * the prefix is incomplete acc holds its first bytes (at most nine); once
 * the prefix is known it holds the payload collected so far (at most max
 * bytes), so acc never exceeds max + WEFT_UVARINT_MAX. Prefixes need not be
 * minimal but are at most ten bytes and 64 bits.
 *
 * After an error (a bad prefix, an over-long frame, -ENOMEM, or a non-zero
 * on_frame return) the rest of that chunk is dropped and the reader starts
 * over at a prefix: the stream is out of step and is meant to be reset.
 */
#include <stdint.h>
#include <string.h>

#include "weft/pb.h"
#include "weft/ps_rpc.h"

#define LP_WANT_PREFIX SIZE_MAX
/* A collection buffer grown beyond this is released after its frame, so an
 * idle stream does not keep a large frame's memory. */
#define LP_KEEP_CAP 4096

static size_t
acc_limit(size_t max)
{
    return max > SIZE_MAX / 2 - WEFT_UVARINT_MAX ? SIZE_MAX / 2 : max + WEFT_UVARINT_MAX;
}

void
weft_lp_reader_init(weft_lp_reader *r, size_t max)
{
    weft_buf_init(&r->acc, NULL, 0, acc_limit(max));
    r->max = max;
    r->want = LP_WANT_PREFIX;
}

void
weft_lp_reader_free(weft_lp_reader *r)
{
    weft_buf_free(&r->acc);
    r->want = LP_WANT_PREFIX;
}

/* Back to reading a prefix with nothing collected. */
static void
restart(weft_lp_reader *r)
{
    if (r->acc.cap > LP_KEEP_CAP) {
        size_t limit = r->acc.max;
        weft_buf_free(&r->acc);
        weft_buf_init(&r->acc, NULL, 0, limit);
    }
    weft_buf_reset(&r->acc);
    r->want = LP_WANT_PREFIX;
}

static int
fail(weft_lp_reader *r, int err)
{
    restart(r);
    return err;
}

/* Complete the prefix from acc (its first bytes) and data. Returns the
 * number of bytes of data used, 0 when data ran out (they are kept in acc),
 * or an error. On success *v is the frame length. */
static int
finish_prefix(weft_lp_reader *r, const uint8_t *data, size_t len, uint64_t *v)
{
    uint8_t tmp[WEFT_UVARINT_MAX];
    size_t have = r->acc.len, take = WEFT_UVARINT_MAX - have;
    if (take > len)
        take = len;
    memcpy(tmp, r->acc.base, have);
    memcpy(tmp + have, data, take);
    int n = weft_uvarint_get(tmp, have + take, v, 0);
    if (n < 0)
        return n;
    if (n == 0) {
        /* Still incomplete: have + take < WEFT_UVARINT_MAX, so take == len. */
        int rc = weft_buf_append(&r->acc, data, len);
        return rc < 0 ? rc : 0;
    }
    weft_buf_reset(&r->acc);
    return n - (int)have; /* >= 1: the byte ending the prefix came from data */
}

int
weft_lp_feed(weft_lp_reader *r, const uint8_t *data, size_t len,
             int (*on_frame)(void *u, const uint8_t *f, size_t n), void *u)
{
    size_t pos = 0;
    while (pos < len) {
        if (r->want == LP_WANT_PREFIX) {
            uint64_t v;
            int n;
            if (r->acc.len == 0) {
                n = weft_uvarint_get(data + pos, len - pos, &v, 0);
                if (n == 0) { /* the chunk ends inside the prefix */
                    int rc = weft_buf_append(&r->acc, data + pos, len - pos);
                    return rc < 0 ? fail(r, rc) : 0;
                }
            } else {
                n = finish_prefix(r, data + pos, len - pos, &v);
                if (n == 0)
                    return 0;
            }
            if (n < 0)
                return fail(r, n);
            pos += (size_t)n;
            if (v > r->max)
                return fail(r, WEFT_ETOOBIG);
            if (v <= len - pos) { /* whole: hand it out in place */
                const uint8_t *frame = data + pos;
                pos += (size_t)v;
                int rc = on_frame(u, frame, (size_t)v);
                if (rc != 0)
                    return fail(r, rc);
                continue;
            }
            r->want = (size_t)v; /* the rest of the chunk starts this frame */
        }
        size_t take = r->want - r->acc.len;
        if (take > len - pos)
            take = len - pos;
        int rc = weft_buf_append(&r->acc, data + pos, take);
        if (rc < 0)
            return fail(r, rc);
        pos += take;
        if (r->acc.len == r->want) {
            rc = on_frame(u, r->acc.base, r->acc.len);
            restart(r);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
