/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoder: the message as k pieces (pointers, so a borrowed message is never
 * copied beyond its partial last piece) and a coefficient generator. Each
 * shard is one fused dot product of a random row with the pieces; batches
 * go through the multi-row kernel so the message is read once per cache
 * block for up to BATCH_ROWS shards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

#define BATCH_ROWS 64

struct weft_encoder {
    weft_gen gen;
    unsigned flags;
    weft_rng rng;
    uint64_t emitted;       /* shards emitted so far */
    const uint8_t **pieces; /* k pointers, each piece_size readable bytes */
    uint8_t *store;         /* owned bytes: the whole padded message, or tail + zero piece */
    uint8_t *scratch;       /* BATCH_ROWS x k coefficients for weft_enc_batch */
};

weft_encoder *
weft_enc_new(const void *msg, size_t len, uint32_t k, uint32_t piece_size, unsigned flags,
             uint64_t seed, int *err)
{
    int rc = 0;
    weft_encoder *enc = NULL;
    weft_init();
    if ((!msg && len) || (flags & ~(unsigned)(WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW))) {
        rc = WEFT_EINVAL;
        goto fail;
    }
    if (k < 1 || k > WEFT_MAX_K) {
        rc = WEFT_EK;
        goto fail;
    }
    if (len > UINT32_MAX) {
        rc = WEFT_ETOOBIG;
        goto fail;
    }
    if (piece_size == 0)
        piece_size = weft_piece_size_for(len, k);
    weft_gen gen = {.k = k, .piece_size = piece_size, .message_len = (uint32_t)len};
    rc = weft_gen_check(&gen);
    if (rc < 0)
        goto fail;
    uint64_t total = (uint64_t)k * piece_size;
    if (total > (SIZE_MAX >> 1) || weft_shard_size(&gen) > INT32_MAX) {
        rc = WEFT_ETOOBIG;
        goto fail;
    }

    enc = calloc(1, sizeof *enc);
    if (!enc) {
        rc = -ENOMEM;
        goto fail;
    }
    enc->gen = gen;
    enc->flags = flags;
    weft_rng_seed(&enc->rng, seed);
    enc->pieces = malloc(sizeof(*enc->pieces) * k);
    enc->scratch = malloc((size_t)BATCH_ROWS * k);
    if (!enc->pieces || !enc->scratch) {
        rc = -ENOMEM;
        goto fail;
    }
    const uint8_t *m = msg;
    if (flags & WEFT_ENC_BORROW) {
        /* Owned: one padded copy of the partial last piece, one zero piece. */
        enc->store = weft_alloc64(2 * (size_t)piece_size);
        if (!enc->store) {
            rc = -ENOMEM;
            goto fail;
        }
        uint8_t *tail = enc->store, *zero = enc->store + piece_size;
        memset(enc->store, 0, 2 * (size_t)piece_size);
        for (uint32_t i = 0; i < k; i++) {
            size_t off = (size_t)i * piece_size;
            if (off + piece_size <= len) {
                enc->pieces[i] = m + off;
            } else if (off < len) {
                memcpy(tail, m + off, len - off);
                enc->pieces[i] = tail;
            } else {
                enc->pieces[i] = zero;
            }
        }
    } else {
        enc->store = weft_alloc64((size_t)total);
        if (!enc->store) {
            rc = -ENOMEM;
            goto fail;
        }
        if (len)
            memcpy(enc->store, m, len);
        memset(enc->store + len, 0, (size_t)total - len);
        for (uint32_t i = 0; i < k; i++)
            enc->pieces[i] = enc->store + (size_t)i * piece_size;
    }
    if (err)
        *err = 0;
    return enc;

fail:
    weft_enc_free(enc);
    if (err)
        *err = rc;
    return NULL;
}

void
weft_enc_free(weft_encoder *enc)
{
    if (!enc)
        return;
    free(enc->pieces);
    free(enc->store);
    free(enc->scratch);
    free(enc);
}

const weft_gen *
weft_enc_gen(const weft_encoder *enc)
{
    return &enc->gen;
}

/* Header and, for a systematic slot, unit vector and piece copy. Returns 1
 * if the shard is complete, 0 if the caller still has to code it. */
static int
start_shard(weft_encoder *enc, uint8_t *out)
{
    const weft_gen *g = &enc->gen;
    weft_shard_put_header(out, g);
    if ((enc->flags & WEFT_ENC_SYSTEMATIC) && enc->emitted < g->k) {
        uint32_t i = (uint32_t)enc->emitted;
        memset(out + WEFT_SHARD_HDR, 0, g->k);
        out[WEFT_SHARD_HDR + i] = 1;
        memcpy(out + WEFT_SHARD_HDR + g->k, enc->pieces[i], g->piece_size);
        enc->emitted++;
        return 1;
    }
    weft_rng_coefs(&enc->rng, out + WEFT_SHARD_HDR, g->k);
    enc->emitted++;
    return 0;
}

int
weft_enc_next(weft_encoder *enc, uint8_t *out, size_t cap)
{
    if (!enc || !out)
        return WEFT_EINVAL;
    const weft_gen *g = &enc->gen;
    size_t sz = weft_shard_size(g);
    if (cap < sz)
        return WEFT_ENOSPC;
    if (!start_shard(enc, out)) {
        uint8_t *dst = out + WEFT_SHARD_HDR + g->k;
        weft_gf_active()->dot(&dst, 1, enc->pieces, g->k, out + WEFT_SHARD_HDR, g->piece_size,
                              0);
    }
    return (int)sz;
}

int
weft_enc_batch(weft_encoder *enc, uint8_t *const *out, size_t n, size_t cap)
{
    if (!enc || (!out && n) || n > INT32_MAX)
        return WEFT_EINVAL;
    const weft_gen *g = &enc->gen;
    if (cap < weft_shard_size(g))
        return WEFT_ENOSPC;
    for (size_t j = 0; j < n; j++)
        if (!out[j])
            return WEFT_EINVAL;
    const weft_gf_kernels *kern = weft_gf_active();
    uint8_t *dst[BATCH_ROWS];
    size_t j = 0;
    while (j < n) {
        size_t rows = 0;
        for (; j < n && rows < BATCH_ROWS; j++) {
            if (start_shard(enc, out[j]))
                continue;
            memcpy(enc->scratch + rows * g->k, out[j] + WEFT_SHARD_HDR, g->k);
            dst[rows++] = out[j] + WEFT_SHARD_HDR + g->k;
        }
        if (rows)
            kern->dot(dst, rows, enc->pieces, g->k, enc->scratch, g->piece_size, 0);
    }
    return (int)n;
}

int
weft_enc_with(weft_encoder *enc, const uint8_t *coefs, uint8_t *out, size_t cap)
{
    if (!enc || !coefs || !out)
        return WEFT_EINVAL;
    const weft_gen *g = &enc->gen;
    size_t sz = weft_shard_size(g);
    if (cap < sz)
        return WEFT_ENOSPC;
    uint32_t i = 0;
    while (i < g->k && coefs[i] == 0)
        i++;
    if (i == g->k)
        return WEFT_EZEROVEC;
    weft_shard_put_header(out, g);
    memmove(out + WEFT_SHARD_HDR, coefs, g->k);
    uint8_t *dst = out + WEFT_SHARD_HDR + g->k;
    weft_gf_active()->dot(&dst, 1, enc->pieces, g->k, out + WEFT_SHARD_HDR, g->piece_size, 0);
    return (int)sz;
}
