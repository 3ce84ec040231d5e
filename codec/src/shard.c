/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The coded shard wire format (spec/rlnc-mesh.md section 2): a 12-byte
 * little-endian header, k coefficient bytes, piece_size payload bytes.
 * Every header field is checked before any length derived from it is used;
 * sizes are computed in 64 bits so that no product wraps.
 */
#include <stdlib.h>

#include "shard.h"

static inline uint16_t
rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int
weft_gen_check(const weft_gen *gen)
{
    if (!gen)
        return WEFT_EINVAL;
    if (gen->k < 1 || gen->k > WEFT_MAX_K)
        return WEFT_EK;
    if (gen->piece_size < 1)
        return WEFT_EPIECE;
    if ((uint64_t)gen->message_len > (uint64_t)gen->k * gen->piece_size)
        return WEFT_EMSGLEN;
    return 0;
}

uint32_t
weft_piece_size_for(size_t message_len, uint32_t k)
{
    if (k == 0)
        k = 1;
    uint64_t p = ((uint64_t)message_len + k - 1) / k;
    if (p == 0)
        return 1;
    /* Round to a whole number of 64-byte vectors when the padding is < 1%. */
    uint64_t r = (p + 63) & ~(uint64_t)63;
    if ((r - p) * 100 < p) {
        p = r;
        /* Pieces a multiple of 4 KiB apart all map to the same L1 sets, and
         * the kernels read many pieces at the same offset at once: one more
         * cache line per piece spreads them over the sets. */
        if (p % 4096 == 0)
            p += 64;
    }
    return p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
}

size_t
weft_shard_size(const weft_gen *gen)
{
    return WEFT_SHARD_HDR + (size_t)gen->k + (size_t)gen->piece_size;
}

int
weft_shard_parse(const uint8_t *buf, size_t len, weft_shard_view *out)
{
    if (!buf || !out)
        return WEFT_EINVAL;
    if (len < WEFT_SHARD_HDR)
        return WEFT_ETRUNC;
    if (buf[0] != WEFT_SHARD_VERSION)
        return WEFT_EVERSION;
    if (buf[1] != WEFT_FIELD_GF256)
        return WEFT_EFIELD;
    weft_gen g = {.k = rd16(buf + 2), .piece_size = rd32(buf + 4), .message_len = rd32(buf + 8)};
    int rc = weft_gen_check(&g);
    if (rc < 0)
        return rc;
    if ((uint64_t)len != (uint64_t)WEFT_SHARD_HDR + g.k + g.piece_size)
        return WEFT_ETRUNC;
    out->gen = g;
    out->coefs = buf + WEFT_SHARD_HDR;
    out->payload = buf + WEFT_SHARD_HDR + g.k;
    return 0;
}

int
weft_shard_write_header(uint8_t *buf, size_t cap, const weft_gen *gen)
{
    int rc = weft_gen_check(gen);
    if (rc < 0)
        return rc;
    if (!buf || cap < WEFT_SHARD_HDR)
        return WEFT_ENOSPC;
    weft_shard_put_header(buf, gen);
    return WEFT_SHARD_HDR;
}

void
weft_shard_put_header(uint8_t *buf, const weft_gen *gen)
{
    buf[0] = WEFT_SHARD_VERSION;
    buf[1] = WEFT_FIELD_GF256;
    wr16(buf + 2, (uint16_t)gen->k);
    wr32(buf + 4, gen->piece_size);
    wr32(buf + 8, gen->message_len);
}

void *
weft_alloc64(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        return NULL;
    return p;
}
