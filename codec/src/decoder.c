/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progressive decoder and recoder.
 *
 * Each innovative shard takes the next free slot (arrival order: slot i
 * holds the i-th innovative shard); its raw coefficients go to raw[i] and
 * its payload is either copied in (weft_dec_push) or borrowed from the
 * caller (weft_dec_push_borrowed), so every slot is read through two
 * pointers: lo[i] for payload bytes [0, head) and hi[i] for bytes
 * [head, piece), head = piece - shift. A borrowed slot's pointers are just
 * the caller's payload and payload + head. Elimination is kept on
 * coefficients only, in row echelon form indexed by pivot column: row q of
 * ech has zeros before q and a 1 at q, and rep[q] says which combination of
 * slots that row is. A push therefore costs O(rank * k) byte operations and
 * at most one payload copy; a redundant shard costs no payload work at all
 * and is never referenced, and nothing done for one push is redone for the
 * next.
 *
 * At rank k, back substitution on (ech, rep) turns rep into the inverse of
 * the raw coefficient matrix (row q: the combination of slots that is piece
 * q), and fused multi-row passes apply it to all payloads, writing piece q
 * to data + q * piece. Output byte x depends only on input byte x of every
 * slot, and the whole fused pass reads every payload byte once per cache
 * block for all k outputs (eliminating payloads shard by shard would read
 * every held payload once per shard).
 *
 * The layout of a copied slot makes that pass safe in place without a
 * scratch buffer or a copy back: slot i keeps its first head bytes at
 * data + i * piece + shift, shifted forward by shift bytes within its own
 * piece-sized span, and its last shift bytes at tails + i * shift. A pass
 * over input bytes [off, off + n) with n <= shift writes output bytes
 * [off, off + n), i.e. data bytes that held input bytes below off, all
 * consumed by earlier passes, or the free gap at the start of a span; the
 * tails are never written. So the solve runs the head in steps of at most
 * shift bytes, in increasing order, then the tails in one step. With no
 * copied slot (every slot borrowed, or the last one read in place during the
 * push that completes the decoder) nothing in data is read, and one call
 * covers the whole piece. Afterwards data is the padded message, contiguous,
 * and no borrowed buffer is referenced again.
 *
 * Recoding combines the slots with random weights, through lo and hi: the
 * same shard whether or not the generation has been decoded, and whether a
 * slot is copied or borrowed.
 *
 * Invariants: rank = innovative shards held = set has[] flags; lo[i], hi[i]
 * are valid for i < rank; ncopied = slots below rank whose payload lives in
 * data and tails; complete implies rank = k, data holds the pieces in order,
 * lo/hi point into data and raw is the identity.
 * Large copies: heads are copied with non-temporal stores when the data would
 * not stay cached until the solve anyway (see weft_dec_new).
 * Memory: the message, 3 k^2 coefficient bytes, k x shift tail bytes (32 KiB,
 * or 64 k above k = 512) and O(k), all allocated by weft_dec_new.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

#define TAIL_BYTES ((size_t)32 << 10)
#define SHIFT_MAX ((size_t)8 << 10)

struct weft_decoder {
    weft_gen gen;
    uint32_t rank;
    int complete;
    uint32_t ncopied;     /* slots whose payload was copied into data and tails */
    int stream_copy;      /* copy heads in with non-temporal stores (see weft_dec_new) */
    size_t shift;         /* a copied slot's head sits this far into its span */
    size_t head;          /* piece_size - shift: payload bytes read through lo */
    uint8_t *data;        /* k x piece_size: copied slot heads; the message at the end */
    uint8_t *tails;       /* k x shift: copied slot i's last shift bytes */
    const uint8_t **lo;   /* k: slot i's payload bytes [0, head) */
    const uint8_t **hi;   /* k: slot i's payload bytes [head, piece_size) */
    uint8_t *raw;         /* k x k: slot i's coefficients as received */
    uint8_t *ech;         /* k x k: echelon row with pivot q */
    uint8_t *rep;         /* k x k: row q as a combination of slots */
    uint8_t *has;         /* k flags: pivot q present */
    uint8_t *vec;         /* k: working coefficient vector */
    uint8_t *wrep;        /* k: working representation */
    uint8_t *mult;        /* k: weights for recoding */
    const uint8_t **srcs; /* k source pointers */
    uint8_t **dsts;       /* k destination pointers */
};

/* The step of the in-place solve: small enough that k tails stay within
 * TAIL_BYTES, large enough (a few KiB) that each step amortizes the
 * kernel's per-call table set-up, a multiple of 64 so copied heads keep the
 * alignment of data, and never more than a piece. */
static size_t
shift_for(uint32_t k, uint32_t piece)
{
    size_t c = TAIL_BYTES / k;
    c = c > SHIFT_MAX ? SHIFT_MAX : c;
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
    dec->shift = shift_for(gen->k, gen->piece_size);
    dec->head = gen->piece_size - dec->shift;
    /* The copied heads are read again only by the solve, after k pushes. When
     * the decoder's data and as much of the caller's shards exceed half of the
     * last level cache, they are evicted before that: copy them with
     * non-temporal stores (no read for ownership, no eviction of the
     * caller's data). */
    dec->stream_copy = total > weft_gf_caches.l3 / 4;
    dec->data = weft_alloc64((size_t)total);
    dec->tails = weft_alloc64((size_t)k * dec->shift);
    dec->lo = malloc(sizeof(*dec->lo) * (size_t)k);
    dec->hi = malloc(sizeof(*dec->hi) * (size_t)k);
    dec->raw = weft_alloc64((size_t)(k * k));
    dec->ech = weft_alloc64((size_t)(k * k));
    dec->rep = weft_alloc64((size_t)(k * k));
    dec->has = calloc((size_t)k, 1);
    dec->vec = malloc((size_t)k);
    dec->wrep = malloc((size_t)k);
    dec->mult = malloc((size_t)k);
    dec->srcs = malloc(sizeof(*dec->srcs) * (size_t)k);
    dec->dsts = malloc(sizeof(*dec->dsts) * (size_t)k);
    if (!dec->data || !dec->tails || !dec->lo || !dec->hi || !dec->raw || !dec->ech || !dec->rep ||
        !dec->has || !dec->vec || !dec->wrep || !dec->mult || !dec->srcs || !dec->dsts) {
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
    free(dec->tails);
    free(dec->lo);
    free(dec->hi);
    free(dec->raw);
    free(dec->ech);
    free(dec->rep);
    free(dec->has);
    free(dec->vec);
    free(dec->wrep);
    free(dec->mult);
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
    dec->ncopied = 0;
    memset(dec->has, 0, dec->gen.k);
}

/* Rank k: make ech the identity by back substitution, carrying rep along,
 * so that rep[q] is piece q as a combination of slots; then write the
 * pieces over data (see the top of the file for why this is safe in place). */
static void
solve(weft_decoder *dec, const weft_gf_kernels *kern)
{
    const uint32_t k = dec->gen.k;
    const size_t piece = dec->gen.piece_size, shift = dec->shift, head = dec->head;
    for (uint32_t q = k; q-- > 0;) {
        const uint8_t *row = dec->ech + (size_t)q * k;
        uint8_t *rq = dec->rep + (size_t)q * k;
        for (uint32_t j = q + 1; j < k; j++)
            if (row[j])
                kern->muladd(rq, dec->rep + (size_t)j * k, row[j], k);
    }
    for (uint32_t q = 0; q < k; q++)
        dec->dsts[q] = dec->data + (size_t)q * piece;
    if (dec->ncopied == 0) {
        /* Every payload is outside data: one pass, blocked by the kernel. */
        kern->dot(dec->dsts, k, dec->lo, k, dec->rep, piece, 0);
    } else {
        /* Equal steps of at most shift bytes (multiples of 64 but the last),
         * rather than full ones and a sliver. */
        size_t steps = (head + shift - 1) / shift;
        size_t step = steps ? ((head + steps - 1) / steps + 63) & ~(size_t)63 : 0;
        step = step < shift ? step : shift;
        for (size_t off = 0; off < head; off += step) {
            size_t n = head - off < step ? head - off : step;
            for (uint32_t i = 0; i < k; i++)
                dec->srcs[i] = dec->lo[i] + off;
            kern->dot(dec->dsts, k, dec->srcs, k, dec->rep, n, 0);
            for (uint32_t q = 0; q < k; q++)
                dec->dsts[q] += n;
        }
        kern->dot(dec->dsts, k, dec->hi, k, dec->rep, shift, 0);
    }
    /* Slots now hold the pieces: their coefficients are unit vectors, and
     * no borrowed buffer is referenced any more. */
    for (uint32_t i = 0; i < k; i++) {
        dec->lo[i] = dec->data + (size_t)i * piece;
        dec->hi[i] = dec->lo[i] + head;
    }
    dec->ncopied = k;
    memset(dec->raw, 0, (size_t)k * k);
    for (uint32_t i = 0; i < k; i++)
        dec->raw[(size_t)i * k + i] = 1;
    dec->complete = 1;
}

static int
push(weft_decoder *dec, const uint8_t *coefs, const uint8_t *payload, int borrow)
{
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
    if (borrow || slot + 1 == k) {
        /* Borrowed, or the shard that completes the decoder: the solve below
         * reads it before this call returns, so it needs no copy either. */
        dec->lo[slot] = payload;
        dec->hi[slot] = payload + dec->head;
    } else {
        uint8_t *h = dec->data + (size_t)slot * dec->gen.piece_size + dec->shift;
        uint8_t *t = dec->tails + (size_t)slot * dec->shift;
        if (dec->stream_copy)
            weft_gf_copy_stream(h, payload, dec->head);
        else
            memcpy(h, payload, dec->head);
        memcpy(t, payload + dec->head, dec->shift);
        dec->lo[slot] = h;
        dec->hi[slot] = t;
        dec->ncopied++;
    }
    dec->has[pivot] = 1;
    dec->rank++;
    if (dec->rank == k)
        solve(dec, kern);
    return WEFT_DEC_INNOVATIVE;
}

int
weft_dec_push_parts(weft_decoder *dec, const uint8_t *coefs, const uint8_t *payload)
{
    if (!dec || !coefs || !payload)
        return WEFT_EINVAL;
    return push(dec, coefs, payload, 0);
}

int
weft_dec_push_parts_borrowed(weft_decoder *dec, const uint8_t *coefs, const uint8_t *payload)
{
    if (!dec || !coefs || !payload)
        return WEFT_EINVAL;
    return push(dec, coefs, payload, 1);
}

static int
push_serialized(weft_decoder *dec, const uint8_t *buf, size_t len, int borrow)
{
    if (!dec)
        return WEFT_EINVAL;
    weft_shard_view v;
    int rc = weft_shard_parse(buf, len, &v);
    if (rc < 0)
        return rc;
    if (!weft_gen_equal(&v.gen, &dec->gen))
        return WEFT_EGENERATION;
    return push(dec, v.coefs, v.payload, borrow);
}

int
weft_dec_push(weft_decoder *dec, const uint8_t *buf, size_t len)
{
    return push_serialized(dec, buf, len, 0);
}

int
weft_dec_push_borrowed(weft_decoder *dec, const uint8_t *buf, size_t len)
{
    return push_serialized(dec, buf, len, 1);
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
    dst = oc + k;
    kern->dot(&dst, 1, dec->lo, n, dec->mult, dec->head, 0);
    dst = oc + k + dec->head;
    kern->dot(&dst, 1, dec->hi, n, dec->mult, dec->shift, 0);
    return (int)sz;
}
