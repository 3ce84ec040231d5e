/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progressive decoder and recoder.
 *
 * Each innovative shard's raw payload is copied once into the next free slot
 * (arrival order: slot i holds the i-th innovative shard) and its raw
 * coefficients into raw[i]. Elimination is kept on coefficients only, in
 * row echelon form indexed by pivot column: row q of ech has zeros before q
 * and a 1 at q, and rep[q] says which combination of slots that row is. A
 * push therefore costs O(rank * k) byte operations and one payload copy;
 * a redundant shard costs no payload work at all, and nothing done for one
 * push is redone for the next.
 *
 * At rank k, back substitution on (ech, rep) turns rep into the inverse of
 * the raw coefficient matrix (row q: the combination of slots that is piece
 * q), and one fused multi-row pass applies it to all payloads. It runs in
 * place, a chunk of columns at a time through a k x chunk buffer, since
 * output byte x depends only on input byte x of every slot. Doing the
 * payload work once, fused, reads every payload byte once per chunk for all
 * k outputs; eliminating payloads shard by shard reads every held payload
 * once per shard. Afterwards data is the padded message, contiguous.
 *
 * Recoding combines the raw slots with random weights: the same shard
 * whether or not the generation has been decoded.
 *
 * Invariants: rank = innovative shards held = set has[] flags; complete
 * implies rank = k, data holds the pieces in order and raw is the identity.
 * Memory: the message, 3 k^2 coefficient bytes, a k x chunk buffer (at most
 * TEMP_BYTES) and O(k), all allocated by weft_dec_new.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

#define TEMP_BYTES ((size_t)32 << 10)
#define CHUNK_MAX ((size_t)8 << 10)

struct weft_decoder {
    weft_gen gen;
    uint32_t rank;
    int complete;
    size_t chunk;          /* columns per in-place pass at completion */
    uint8_t *data;         /* k x piece_size: slot i = i-th innovative payload */
    uint8_t *raw;          /* k x k: slot i's coefficients as received */
    uint8_t *ech;          /* k x k: echelon row with pivot q */
    uint8_t *rep;          /* k x k: row q as a combination of slots */
    uint8_t *has;          /* k flags: pivot q present */
    uint8_t *vec;          /* k: working coefficient vector */
    uint8_t *wrep;         /* k: working representation */
    uint8_t *mult;         /* k: weights for recoding */
    uint8_t *temp;         /* k x chunk */
    const uint8_t **srcs;  /* k source pointers */
    uint8_t **dsts;        /* k destination pointers */
};

static size_t
chunk_for(uint32_t k, uint32_t piece)
{
    size_t c = TEMP_BYTES / k;
    c = c > CHUNK_MAX ? CHUNK_MAX : c;
    c &= ~(size_t)63;
    if (c < 64)
        c = 64;
    return c < piece ? c : piece;
}

weft_decoder *
weft_dec_new(const weft_gen *gen, int *err)
{
    int rc;
    weft_decoder *dec = NULL;
    weft_init();
    rc = weft_gen_check(gen);
    if (rc < 0)
        goto fail;
    uint64_t k = gen->k, total = k * gen->piece_size;
    if (total > (SIZE_MAX >> 1) || weft_shard_size(gen) > INT32_MAX) {
        rc = WEFT_ETOOBIG;
        goto fail;
    }
    dec = calloc(1, sizeof *dec);
    if (!dec) {
        rc = -ENOMEM;
        goto fail;
    }
    dec->gen = *gen;
    dec->chunk = chunk_for(gen->k, gen->piece_size);
    dec->data = weft_alloc64((size_t)total);
    dec->raw = weft_alloc64((size_t)(k * k));
    dec->ech = weft_alloc64((size_t)(k * k));
    dec->rep = weft_alloc64((size_t)(k * k));
    dec->has = calloc((size_t)k, 1);
    dec->vec = malloc((size_t)k);
    dec->wrep = malloc((size_t)k);
    dec->mult = malloc((size_t)k);
    dec->temp = weft_alloc64((size_t)k * dec->chunk);
    dec->srcs = malloc(sizeof(*dec->srcs) * (size_t)k);
    dec->dsts = malloc(sizeof(*dec->dsts) * (size_t)k);
    if (!dec->data || !dec->raw || !dec->ech || !dec->rep || !dec->has || !dec->vec ||
        !dec->wrep || !dec->mult || !dec->temp || !dec->srcs || !dec->dsts) {
        rc = -ENOMEM;
        goto fail;
    }
    if (err)
        *err = 0;
    return dec;

fail:
    weft_dec_free(dec);
    if (err)
        *err = rc;
    return NULL;
}

void
weft_dec_free(weft_decoder *dec)
{
    if (!dec)
        return;
    free(dec->data);
    free(dec->raw);
    free(dec->ech);
    free(dec->rep);
    free(dec->has);
    free(dec->vec);
    free(dec->wrep);
    free(dec->mult);
    free(dec->temp);
    free(dec->srcs);
    free(dec->dsts);
    free(dec);
}

const weft_gen *
weft_dec_gen(const weft_decoder *dec)
{
    return &dec->gen;
}

uint32_t
weft_dec_rank(const weft_decoder *dec)
{
    return dec->rank;
}

int
weft_dec_complete(const weft_decoder *dec)
{
    return dec->complete;
}

void
weft_dec_reset(weft_decoder *dec)
{
    dec->rank = 0;
    dec->complete = 0;
    memset(dec->has, 0, dec->gen.k);
}

/* Rank k: make ech the identity by back substitution, carrying rep along,
 * so that rep[q] is piece q as a combination of slots; then replace the
 * slots by the pieces, chunk by chunk. */
static void
solve(weft_decoder *dec, const weft_gf_kernels *kern)
{
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size;
    for (uint32_t q = k; q-- > 0;) {
        const uint8_t *row = dec->ech + (size_t)q * k;
        uint8_t *rq = dec->rep + (size_t)q * k;
        for (uint32_t j = q + 1; j < k; j++)
            if (row[j])
                kern->muladd(rq, dec->rep + (size_t)j * k, row[j], k);
    }
    for (uint32_t i = 0; i < k; i++) {
        dec->srcs[i] = dec->data + (size_t)i * piece;
        dec->dsts[i] = dec->temp + (size_t)i * dec->chunk;
    }
    for (size_t off = 0; off < piece; off += dec->chunk) {
        size_t n = piece - off < dec->chunk ? piece - off : dec->chunk;
        kern->dot(dec->dsts, k, dec->srcs, k, dec->rep, n, 0);
        for (uint32_t i = 0; i < k; i++) {
            memcpy((uint8_t *)dec->srcs[i], dec->dsts[i], n);
            dec->srcs[i] += n;
        }
    }
    /* Slots now hold the pieces: their coefficients are unit vectors. */
    memset(dec->raw, 0, (size_t)k * k);
    for (uint32_t i = 0; i < k; i++)
        dec->raw[(size_t)i * k + i] = 1;
    dec->complete = 1;
}

int
weft_dec_push_parts(weft_decoder *dec, const uint8_t *coefs, const uint8_t *payload)
{
    if (!dec || !coefs || !payload)
        return WEFT_EINVAL;
    const uint32_t k = dec->gen.k;
    uint32_t nz = 0;
    while (nz < k && coefs[nz] == 0)
        nz++;
    if (nz == k)
        return WEFT_EZEROVEC;
    if (dec->complete)
        return WEFT_DEC_REDUNDANT;

    const weft_gf_kernels *kern = weft_gf_active();
    const uint32_t slot = dec->rank;
    uint8_t *vec = dec->vec, *wrep = dec->wrep;
    memcpy(vec, coefs, k);
    memset(wrep, 0, k);
    wrep[slot] = 1;
    uint32_t pivot = k;
    for (uint32_t q = nz; q < k; q++) {
        uint8_t c = vec[q];
        if (!c)
            continue;
        if (!dec->has[q]) {
            pivot = q;
            break;
        }
        kern->muladd(vec + q, dec->ech + (size_t)q * k + q, c, k - q);
        /* rep rows only use slots below rank. */
        kern->muladd(wrep, dec->rep + (size_t)q * k, c, slot);
    }
    if (pivot == k)
        return WEFT_DEC_REDUNDANT;

    uint8_t inv = weft_gf_inv_table[vec[pivot]];
    uint8_t *erow = dec->ech + (size_t)pivot * k;
    memset(erow, 0, pivot);
    kern->mul(erow + pivot, vec + pivot, inv, k - pivot);
    kern->mul(dec->rep + (size_t)pivot * k, wrep, inv, k);
    memcpy(dec->raw + (size_t)slot * k, coefs, k);
    memcpy(dec->data + (size_t)slot * dec->gen.piece_size, payload, dec->gen.piece_size);
    dec->has[pivot] = 1;
    dec->rank++;
    if (dec->rank == k)
        solve(dec, kern);
    return WEFT_DEC_INNOVATIVE;
}

int
weft_dec_push(weft_decoder *dec, const uint8_t *buf, size_t len)
{
    if (!dec)
        return WEFT_EINVAL;
    weft_shard_view v;
    int rc = weft_shard_parse(buf, len, &v);
    if (rc < 0)
        return rc;
    if (!weft_gen_equal(&v.gen, &dec->gen))
        return WEFT_EGENERATION;
    return weft_dec_push_parts(dec, v.coefs, v.payload);
}

const uint8_t *
weft_dec_message(weft_decoder *dec, size_t *len)
{
    if (!dec || !dec->complete)
        return NULL;
    if (len)
        *len = dec->gen.message_len;
    return dec->data;
}

int
weft_dec_recode(weft_decoder *dec, weft_rng *rng, uint8_t *out, size_t cap)
{
    if (!dec || !rng || !out)
        return WEFT_EINVAL;
    const uint32_t k = dec->gen.k, n = dec->rank;
    const size_t piece = dec->gen.piece_size;
    size_t sz = weft_shard_size(&dec->gen);
    if (cap < sz)
        return WEFT_ENOSPC;
    if (n == 0)
        return WEFT_EEMPTY;

    const weft_gf_kernels *kern = weft_gf_active();
    /* Slots are independent, so a nonzero weight vector never gives a zero
     * coefficient vector. */
    weft_rng_coefs(rng, dec->mult, n);
    weft_shard_put_header(out, &dec->gen);
    uint8_t *oc = out + WEFT_SHARD_HDR;
    for (uint32_t i = 0; i < n; i++)
        dec->srcs[i] = dec->raw + (size_t)i * k;
    uint8_t *dst = oc;
    kern->dot(&dst, 1, dec->srcs, n, dec->mult, k, 0);
    for (uint32_t i = 0; i < n; i++)
        dec->srcs[i] = dec->data + (size_t)i * piece;
    dst = oc + k;
    kern->dot(&dst, 1, dec->srcs, n, dec->mult, piece, 0);
    return (int)sz;
}
