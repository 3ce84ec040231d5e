/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoder: the message as k pieces (pointers, so a borrowed message is never
 * copied beyond its partial last piece) and a coefficient generator. Each
 * shard is one fused dot product of a random row with the pieces; batches
 * go through the multi-row kernel so the message is read once per cache
 * block for up to BATCH_ROWS shards. A systematic shard is a header, a unit
 * vector and a piece: weft_enc_batch copies the piece into the shard,
 * weft_enc_batch_iov hands out a pointer to it instead (pieces are never
 * moved or freed before weft_enc_free, so the pointer stays good).
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
    uint8_t *scratch;       /* BATCH_ROWS x k coefficients for a batch */
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

/* Header and coefficients of the next shard. For a systematic slot (unit
 * vector) returns 1 and sets *piece to the piece it carries; otherwise
 * draws the coefficients and returns 0: the caller still has to code it. */
static int
start_shard(weft_encoder *enc, uint8_t *out, const uint8_t **piece)
{
    const weft_gen *g = &enc->gen;
    weft_shard_put_header(out, g);
    if ((enc->flags & WEFT_ENC_SYSTEMATIC) && enc->emitted < g->k) {
        uint32_t i = (uint32_t)enc->emitted;
        memset(out + WEFT_SHARD_HDR, 0, g->k);
        out[WEFT_SHARD_HDR + i] = 1;
        *piece = enc->pieces[i];
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
    const uint8_t *piece;
    uint8_t *dst = out + WEFT_SHARD_HDR + g->k;
    if (start_shard(enc, out, &piece))
        memcpy(dst, piece, g->piece_size);
    else
        weft_gf_active()->dot(&dst, 1, enc->pieces, g->k, out + WEFT_SHARD_HDR, g->piece_size, 0);
    return (int)sz;
}

/* weft_enc_batch (views 0: systematic pieces are copied into bufs) and
 * weft_enc_batch_iov (views 1: iov[j] describes shard j; systematic pieces
 * stay where they are). Arguments are checked before anything is emitted. */
static int
batch(weft_encoder *enc, int views, weft_shard_iov *iov, uint8_t *const *bufs, size_t n, size_t cap)
{
    const weft_gen *g = &enc->gen;
    const size_t head = (size_t)WEFT_SHARD_HDR + g->k;
    size_t sys = 0;
    if ((enc->flags & WEFT_ENC_SYSTEMATIC) && enc->emitted < g->k)
        sys = (size_t)(g->k - enc->emitted) < n ? (size_t)(g->k - enc->emitted) : n;
    /* Shards left to code need room for their payload; views need only a head. */
    if (cap < (views && sys == n ? head : weft_shard_size(g)))
        return WEFT_ENOSPC;
    for (size_t j = 0; j < n; j++)
        if (!bufs[j])
            return WEFT_EINVAL;
    const weft_gf_kernels *kern = weft_gf_active();
    uint8_t *dst[BATCH_ROWS];
    size_t j = 0;
    while (j < n) {
        size_t rows = 0;
        for (; j < n && rows < BATCH_ROWS; j++) {
            const uint8_t *piece = NULL;
            uint8_t *pay = bufs[j] + head;
            int done = start_shard(enc, bufs[j], &piece);
            if (views) {
                iov[j].head = bufs[j];
                iov[j].head_len = head;
                iov[j].payload = done ? piece : pay;
                iov[j].payload_len = g->piece_size;
            } else if (done) {
                memcpy(pay, piece, g->piece_size);
            }
            if (done)
                continue;
            memcpy(enc->scratch + rows * g->k, bufs[j] + WEFT_SHARD_HDR, g->k);
            dst[rows++] = pay;
        }
        if (rows)
            kern->dot(dst, rows, enc->pieces, g->k, enc->scratch, g->piece_size, 0);
    }
    return (int)n;
}

int
weft_enc_batch(weft_encoder *enc, uint8_t *const *out, size_t n, size_t cap)
{
    if (!enc || (!out && n) || n > INT32_MAX)
        return WEFT_EINVAL;
    return batch(enc, 0, NULL, out, n, cap);
}

int
weft_enc_batch_iov(weft_encoder *enc, weft_shard_iov *out, size_t n, uint8_t *const *bufs,
                   size_t cap)
{
    if (!enc || (!out && n) || (!bufs && n) || n > INT32_MAX)
        return WEFT_EINVAL;
    return batch(enc, 1, out, bufs, n, cap);
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
