/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progressive decoder and recoder.
 *
 * Held shards are kept in row echelon form, one row per pivot column: the
 * row with pivot q has zeros before q and a 1 at q, and its payload lives at
 * data + q * piece_size. So when the rank reaches k, back substitution runs
 * in place and data is the padded message, contiguous, with no copy.
 *
 * A push first eliminates the coefficient vector alone (k bytes per held
 * row), recording one multiplier per row used. Only if a pivot is left does
 * it touch payloads, and then in a single fused pass:
 *     data[p] = inv(v) * (payload + sum m_j * data[j])
 * so a redundant shard costs O(k^2) byte operations and no payload work, and
 * an innovative one reads each held payload at most once.
 *
 * Invariants: rank = number of set has[] flags; complete implies rank = k
 * and every row is a unit vector.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

struct weft_decoder {
    weft_gen gen;
    uint32_t rank;
    int complete;
    uint8_t *coef;         /* k x k, row q = pivot q */
    uint8_t *data;         /* k x piece_size, row q = pivot q */
    uint8_t *has;          /* k flags */
    uint8_t *vec;          /* k: working coefficient vector */
    uint8_t *mult;         /* k + 1 multipliers for a fused pass */
    const uint8_t **srcs;  /* k + 1 sources for a fused pass */
};

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
    dec->coef = weft_alloc64((size_t)(k * k));
    dec->data = weft_alloc64((size_t)total);
    dec->has = calloc((size_t)k, 1);
    dec->vec = malloc((size_t)k);
    dec->mult = malloc((size_t)k + 1);
    dec->srcs = malloc(sizeof(*dec->srcs) * ((size_t)k + 1));
    if (!dec->coef || !dec->data || !dec->has || !dec->vec || !dec->mult || !dec->srcs) {
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
    free(dec->coef);
    free(dec->data);
    free(dec->has);
    free(dec->vec);
    free(dec->mult);
    free(dec->srcs);
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

/* Rank k reached: solve the unit upper-triangular system in place, last
 * row first, so each row needs only rows already solved. */
static void
back_substitute(weft_decoder *dec, const weft_gf_kernels *kern)
{
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size;
    for (uint32_t q = k; q-- > 0;) {
        uint8_t *row = dec->coef + (size_t)q * k;
        size_t n = 0;
        for (uint32_t j = q + 1; j < k; j++) {
            if (row[j]) {
                dec->mult[n] = row[j];
                dec->srcs[n++] = dec->data + (size_t)j * piece;
            }
        }
        if (n) {
            uint8_t *dst = dec->data + (size_t)q * piece;
            kern->dot(&dst, 1, dec->srcs, n, dec->mult, piece, 1);
        }
        memset(row + q + 1, 0, k - q - 1);
    }
    dec->complete = 1;
}

int
weft_dec_push_parts(weft_decoder *dec, const uint8_t *coefs, const uint8_t *payload)
{
    if (!dec || !coefs || !payload)
        return WEFT_EINVAL;
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size;
    uint32_t nz = 0;
    while (nz < k && coefs[nz] == 0)
        nz++;
    if (nz == k)
        return WEFT_EZEROVEC;
    if (dec->complete)
        return WEFT_DEC_REDUNDANT;

    const weft_gf_kernels *kern = weft_gf_active();
    uint8_t *vec = dec->vec;
    memcpy(vec, coefs, k);
    size_t n = 1; /* slot 0 is the incoming payload */
    uint32_t pivot = k;
    for (uint32_t q = nz; q < k; q++) {
        uint8_t c = vec[q];
        if (!c)
            continue;
        if (!dec->has[q]) {
            pivot = q;
            break;
        }
        const uint8_t *row = dec->coef + (size_t)q * k;
        kern->muladd(vec + q, row + q, c, k - q);
        dec->mult[n] = c;
        dec->srcs[n++] = dec->data + (size_t)q * piece;
    }
    if (pivot == k)
        return WEFT_DEC_REDUNDANT;

    uint8_t inv = weft_gf_inv_table[vec[pivot]];
    uint8_t *crow = dec->coef + (size_t)pivot * k;
    memset(crow, 0, pivot);
    kern->mul(crow + pivot, vec + pivot, inv, k - pivot);

    uint8_t *dst = dec->data + (size_t)pivot * piece;
    if (n == 1 && inv == 1) {
        memcpy(dst, payload, piece);
    } else {
        dec->mult[0] = inv;
        dec->srcs[0] = payload;
        for (size_t j = 1; j < n; j++)
            dec->mult[j] = weft_gf_mul_table[inv][dec->mult[j]];
        kern->dot(&dst, 1, dec->srcs, n, dec->mult, piece, 0);
    }
    dec->has[pivot] = 1;
    dec->rank++;
    if (dec->rank == k)
        back_substitute(dec, kern);
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
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size;
    size_t sz = weft_shard_size(&dec->gen);
    if (cap < sz)
        return WEFT_ENOSPC;
    if (dec->rank == 0)
        return WEFT_EEMPTY;

    const weft_gf_kernels *kern = weft_gf_active();
    /* Random nonzero combination of the held rows; the rows are
     * independent, so the resulting vector is never zero. */
    weft_rng_coefs(rng, dec->mult, dec->rank);
    weft_shard_put_header(out, &dec->gen);
    uint8_t *oc = out + WEFT_SHARD_HDR;
    memset(oc, 0, k);
    size_t n = 0;
    for (uint32_t q = 0; q < k; q++) {
        if (!dec->has[q])
            continue;
        uint8_t r = dec->mult[n];
        dec->srcs[n] = dec->data + (size_t)q * piece;
        /* Row q is zero before q. */
        kern->muladd(oc + q, dec->coef + (size_t)q * k + q, r, k - q);
        n++;
    }
    uint8_t *dst = out + WEFT_SHARD_HDR + k;
    kern->dot(&dst, 1, dec->srcs, n, dec->mult, piece, 0);
    return (int)sz;
}
