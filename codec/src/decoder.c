/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progressive decoder and recoder.
 *
 * Held shards are kept in row echelon form, one row per pivot column: the
 * row with pivot q has zeros before q and a 1 at q, and its payload lives at
 * data + q * piece_size. So when the rank reaches k, back substitution runs
 * in place and data is the padded message, contiguous, with no copy.
 *
 * A push eliminates the coefficient vector at once (k bytes per held row),
 * so every shard is classified on arrival, and records the multiplier used
 * for each held row. A redundant shard costs no payload work. An innovative
 * one is copied into its pivot slot and joins a pending block; payload
 * elimination runs per block of up to BLOCK rows (flush), as one fused
 * multi-row pass over the rows held before the block plus a small
 * triangular step inside it. Eliminating one row at a time would stream
 * every held payload from L2 once per shard; a block reads them once per
 * BLOCK shards. Recoding and completion flush first.
 *
 * Invariants: rank = number of set has[] flags; rows whose pending[] flag is
 * set hold a raw payload not yet reduced; complete implies rank = k, no row
 * pending, and every row a unit vector. Memory: the message, k^2
 * coefficients and O(k) more, all allocated by weft_dec_new.
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
    uint8_t *scratch;      /* BLOCK x k coefficients for a fused pass */
    uint8_t *pending;      /* k flags: row holds a raw, unreduced payload */
    uint8_t *pmult;        /* BLOCK x k: multiplier per pivot column, per pending row */
    uint32_t ppivot[8];    /* pivot column of each pending row, in arrival order */
    uint8_t pinv[8];       /* inverse of its leading coefficient */
    uint32_t npending;
};

#define BLOCK 8

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
    dec->scratch = malloc((size_t)BLOCK * k);
    dec->pending = calloc((size_t)k, 1);
    dec->pmult = malloc((size_t)BLOCK * k);
    if (!dec->coef || !dec->data || !dec->has || !dec->vec || !dec->mult || !dec->srcs ||
        !dec->scratch || !dec->pending || !dec->pmult) {
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
    free(dec->scratch);
    free(dec->pending);
    free(dec->pmult);
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
    dec->npending = 0;
    memset(dec->has, 0, dec->gen.k);
    memset(dec->pending, 0, dec->gen.k);
}

/* Reduce the pending rows' payloads. Row j of the block (arrival order) is
 *   inv_j * (raw_j + sum_{old q} m_jq row_q + sum_{i<j} m_j,piv(i) row_piv(i))
 * Step A adds the old rows' terms for all pending rows in one fused pass,
 * in place (no pending row is a source). Step B scales and adds the earlier
 * pending rows, in arrival order. */
static void
flush(weft_decoder *dec, const weft_gf_kernels *kern)
{
    const uint32_t k = dec->gen.k, n = dec->npending;
    const size_t piece = dec->gen.piece_size;
    if (n == 0)
        return;
    uint8_t *dst[BLOCK];
    size_t ns = 0;
    for (uint32_t q = 0; q < k; q++) {
        if (dec->pending[q] || !dec->has[q])
            continue;
        uint8_t any = 0;
        for (uint32_t j = 0; j < n; j++)
            any |= dec->pmult[(size_t)j * k + q];
        if (any)
            dec->srcs[ns++] = dec->data + (size_t)q * piece;
    }
    if (ns) {
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *mrow = dec->pmult + (size_t)j * k;
            size_t c = 0;
            for (uint32_t q = 0; q < k && c < ns; q++)
                if (dec->srcs[c] == dec->data + (size_t)q * piece)
                    dec->scratch[(size_t)j * ns + c++] = mrow[q];
            dst[j] = dec->data + (size_t)dec->ppivot[j] * piece;
        }
        kern->dot(dst, n, dec->srcs, ns, dec->scratch, piece, 1);
    }
    for (uint32_t j = 0; j < n; j++) {
        uint8_t inv = dec->pinv[j];
        uint8_t *d = dec->data + (size_t)dec->ppivot[j] * piece;
        if (inv != 1)
            kern->mul(d, d, inv, piece);
        const uint8_t *mrow = dec->pmult + (size_t)j * k;
        size_t m = 0;
        for (uint32_t i = 0; i < j; i++) {
            uint8_t c = mrow[dec->ppivot[i]];
            if (c) {
                dec->mult[m] = weft_gf_mul_table[inv][c];
                dec->srcs[m++] = dec->data + (size_t)dec->ppivot[i] * piece;
            }
        }
        if (m)
            kern->dot(&d, 1, dec->srcs, m, dec->mult, piece, 1);
    }
    for (uint32_t j = 0; j < n; j++)
        dec->pending[dec->ppivot[j]] = 0;
    dec->npending = 0;
}

/* Rank k reached: solve the unit upper-triangular system in place, from
 * the last rows up, BLOCK rows at a time. For each block, one fused
 * multi-row pass removes the contributions of all rows already solved below
 * it (columns where the block is all zero are skipped, so systematic rows
 * cost nothing); then the few dependencies inside the block are resolved
 * bottom-up. */
static void
back_substitute(weft_decoder *dec, const weft_gf_kernels *kern)
{
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size;
    uint8_t *dst[BLOCK];
    for (uint32_t q1 = k; q1 > 0;) {
        uint32_t q0 = q1 > BLOCK ? q1 - BLOCK : 0;
        uint32_t nb = q1 - q0;
        /* Columns [q1, k) that some row of the block needs. */
        size_t n = 0;
        for (uint32_t j = q1; j < k; j++) {
            uint8_t any = 0;
            for (uint32_t q = q0; q < q1; q++)
                any |= dec->coef[(size_t)q * k + j];
            if (any)
                dec->srcs[n++] = dec->data + (size_t)j * piece;
        }
        if (n) {
            for (uint32_t r = 0; r < nb; r++) {
                const uint8_t *row = dec->coef + (size_t)(q0 + r) * k;
                size_t c = 0;
                for (uint32_t j = q1; j < k; j++) {
                    if (dec->srcs[c] == dec->data + (size_t)j * piece) {
                        dec->scratch[r * n + c] = row[j];
                        if (++c == n)
                            break;
                    }
                }
                dst[r] = dec->data + (size_t)(q0 + r) * piece;
            }
            kern->dot(dst, nb, dec->srcs, n, dec->scratch, piece, 1);
        }
        for (uint32_t q = q1; q-- > q0;) {
            uint8_t *row = dec->coef + (size_t)q * k;
            size_t m = 0;
            for (uint32_t j = q + 1; j < q1; j++) {
                if (row[j]) {
                    dec->mult[m] = row[j];
                    dec->srcs[m++] = dec->data + (size_t)j * piece;
                }
            }
            if (m) {
                uint8_t *d = dec->data + (size_t)q * piece;
                kern->dot(&d, 1, dec->srcs, m, dec->mult, piece, 1);
            }
            memset(row + q + 1, 0, k - q - 1);
        }
        q1 = q0;
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
    uint8_t *mrow = dec->pmult + (size_t)dec->npending * k;
    memcpy(vec, coefs, k);
    memset(mrow, 0, k);
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
        mrow[q] = c;
    }
    if (pivot == k)
        return WEFT_DEC_REDUNDANT;

    uint8_t inv = weft_gf_inv_table[vec[pivot]];
    uint8_t *crow = dec->coef + (size_t)pivot * k;
    memset(crow, 0, pivot);
    kern->mul(crow + pivot, vec + pivot, inv, k - pivot);
    memcpy(dec->data + (size_t)pivot * piece, payload, piece);

    dec->ppivot[dec->npending] = pivot;
    dec->pinv[dec->npending] = inv;
    dec->npending++;
    dec->pending[pivot] = 1;
    dec->has[pivot] = 1;
    dec->rank++;
    if (dec->npending == BLOCK || dec->rank == k)
        flush(dec, kern);
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
    flush(dec, kern);
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
