/* SPDX-License-Identifier: Apache-2.0 */
/* Private helpers shared by encoder.c and decoder.c. */
#ifndef WEFT_CODEC_SHARD_H
#define WEFT_CODEC_SHARD_H

#include "gf_internal.h"
#include "weft/codec.h"

/* Allocate n bytes aligned to 64 (a cache line, a zmm vector). */
void *weft_alloc64(size_t n);

/* Write the 12-byte header of an already checked generation. */
void weft_shard_put_header(uint8_t *buf, const weft_gen *gen);

static inline int
weft_gen_equal(const weft_gen *a, const weft_gen *b)
{
    return a->k == b->k && a->piece_size == b->piece_size && a->message_len == b->message_len;
}

#endif
