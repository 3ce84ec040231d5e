/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_roundtrip: encode -> lose some shards -> recode through one relay
 * decoder -> decode, and the message must come back byte for byte (abort
 * otherwise).
 *
 * On the way it checks: weft_enc_new accepts exactly the (k, piece_size)
 * pairs that fit the message and reports the generation it chose (the auto
 * piece size follows the documented rule); weft_enc_batch, and
 * weft_enc_batch_iov whose views joined give the shard (systematic views
 * pointing at the piece, into the message when it is borrowed and whole),
 * emit the very same shards as weft_enc_next on a twin encoder with the same
 * seed (when the input asks for batches at all); every shard
 * parses as one of the generation; systematic shards are the pieces
 * themselves; the first shards' payloads are the sum c[i] * piece_i computed
 * with the oracle field of fuzz_util.h; pushes answer INNOVATIVE or REDUNDANT
 * only; the decoder never outranks its relay unless it was also fed
 * directly; weft_enc_with, ENOSPC paths and weft_dec_reset behave; the
 * caller's message is never written (also under WEFT_ENC_BORROW).
 *
 * The encoder side and the relay/decoder side may run on different GF kernel
 * sets, so shards cross implementations. Work is bounded: at most 2048
 * message bytes, k <= 64, k * piece_size <= 2048 + k or so (piece rules
 * below), and a fixed budget of shards, so one input takes a few
 * milliseconds even with the portable kernels under ASan.
 *
 * Input layout (integers little-endian, missing bytes read as zero):
 *   0 u8  k-1 (mod 64)
 *   1 u8  piece_size rule in bits 0-1, value v = bits 2-7: 0 auto (piece_size
 *         0), 1 the smallest that fits, 2 the smallest + v, 3 exactly v (too
 *         small must fail with WEFT_EMSGLEN; 0 means auto); rules 2 and 3
 *         lower piece_size to keep k * piece_size <= 2048 where the message
 *         fits in that
 *   2 u8  bit 0 WEFT_ENC_SYSTEMATIC, bit 1 WEFT_ENC_BORROW, bit 2 every third
 *         surviving shard also goes straight to the decoder, bit 3 batches
 *         use weft_enc_batch_iov instead of weft_enc_batch
 *   3 u8  kernel set: low nibble for encoding, high nibble for relay/decoder
 *   4 u32 seed
 *   8 u64 drop mask: encoder shard j < 64 is lost when bit j is set
 *  16 u64 relay mask: once encoder shard j reached the relay, the relay sends
 *         a recoded shard to the decoder when bit j % 64 is set (until the
 *         decoder is complete)
 *  24 u8  bits 0-2 batch size - 1; bit 3 + (round % 5): round uses
 *         weft_enc_batch rather than weft_enc_next
 *  25..   the message (first 2048 bytes)
 */
#include "fuzz_util.h"

#define MAX_K 64
#define MAX_MSG 2048
#define MAX_CODED 2048 /* bound on k * piece_size when the message allows */
#define MAX_BATCH 8
#define ORACLE_SHARDS 3 /* coded shards checked against the oracle */

typedef struct run {
    const uint8_t *msg; /* the caller's message */
    size_t len;
    weft_gen gen;
    size_t size;     /* shard bytes */
    uint8_t *padded; /* k * piece_size: the pieces, zero-padded */
    unsigned flags;  /* input byte 2 */
    uint8_t kernels; /* input byte 3 */
    weft_decoder *relay, *dec;
    weft_rng rng;
    int direct_used;
    uint8_t *buf; /* one shard */
} run;

/* A shard from the encoder: well-formed, of our generation; systematic
 * shards are unit vectors over their piece; some are checked in full. */
static void
check_encoded(const run *r, size_t j, const uint8_t *shard)
{
    weft_shard_view v;
    FZ_CHECK(weft_shard_parse(shard, r->size, &v) == 0);
    FZ_CHECK(fz_gen_eq(&v.gen, &r->gen));
    FZ_CHECK(!fz_all_zero(v.coefs, r->gen.k));

    uint32_t k = r->gen.k, piece = r->gen.piece_size;
    if ((r->flags & 1) && j < k) {
        for (uint32_t i = 0; i < k; i++)
            FZ_CHECK(v.coefs[i] == (i == j));
        FZ_CHECK(memcmp(v.payload, r->padded + j * piece, piece) == 0);
        return;
    }
    size_t first_coded = (r->flags & 1) ? k : 0;
    if (j >= first_coded + ORACLE_SHARDS)
        return;
    uint8_t *want = calloc(piece, 1);
    FZ_CHECK(want != NULL);
    for (uint32_t i = 0; i < k; i++)
        fz_gf_muladd(want, r->padded + (size_t)i * piece, v.coefs[i], piece);
    FZ_CHECK(memcmp(want, v.payload, piece) == 0);
    free(want);
}

static int
push_valid(weft_decoder *d, const uint8_t *shard, size_t size)
{
    uint32_t before = weft_dec_rank(d);
    int rc = weft_dec_push(d, shard, size);
    FZ_CHECK(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT);
    uint32_t after = weft_dec_rank(d);
    FZ_CHECK(after == before + (rc == WEFT_DEC_INNOVATIVE));
    FZ_CHECK(after <= weft_dec_gen(d)->k);
    FZ_CHECK(!!weft_dec_complete(d) == (after == weft_dec_gen(d)->k));
    return rc;
}

/* The relay sends one recoded shard to the decoder. */
static void
relay_one(run *r)
{
    uint32_t rank = weft_dec_rank(r->relay);
    int rc = weft_dec_recode(r->relay, &r->rng, r->buf, r->size);
    if (rank == 0) {
        FZ_CHECK(rc == WEFT_EEMPTY);
        return;
    }
    FZ_CHECK(rc >= 0 && (size_t)rc == r->size);
    weft_shard_view v;
    FZ_CHECK(weft_shard_parse(r->buf, r->size, &v) == 0);
    FZ_CHECK(fz_gen_eq(&v.gen, &r->gen));
    (void)push_valid(r->dec, r->buf, r->size);
    if (!r->direct_used)
        FZ_CHECK(weft_dec_rank(r->dec) <= weft_dec_rank(r->relay));
}

static void
check_message(const run *r, weft_decoder *d)
{
    size_t len = (size_t)-1;
    const uint8_t *out = weft_dec_message(d, &len);
    FZ_CHECK(out != NULL);
    FZ_CHECK(len == r->len);
    if (len && memcmp(out, r->msg, len) != 0) {
        size_t i = 0;
        while (out[i] == r->msg[i])
            i++;
        fprintf(stderr, "roundtrip: k=%u piece=%u len=%zu: first difference at byte %zu\n",
                r->gen.k, r->gen.piece_size, len, i);
        fz_fail(__FILE__, __LINE__, "decoded message differs from the input");
    }
}

/* n shards as views (weft_enc_batch_iov) into slots; each is checked for
 * where it points and joined in its slot, for the checks weft_enc_batch's
 * shards get. first is the stream position of the first. */
static void
batch_views(run *r, weft_encoder *enc, uint8_t *const *slots, size_t n, size_t first)
{
    weft_shard_iov v[MAX_BATCH];
    uint32_t k = r->gen.k, piece = r->gen.piece_size;
    size_t head = (size_t)WEFT_SHARD_HDR + k;

    FZ_CHECK(weft_enc_batch_iov(enc, v, n, slots, r->size) == (int)n);
    for (size_t i = 0; i < n; i++) {
        size_t j = first + i;
        FZ_CHECK(v[i].head == slots[i] && v[i].head_len == head && v[i].payload_len == piece);
        if ((r->flags & 1) && j < k) {
            /* A borrowed whole piece is read in place; the rest are the
             * encoder's own, never in the slot. */
            if ((r->flags & 2) && (j + 1) * piece <= r->len)
                FZ_CHECK(v[i].payload == r->msg + j * piece);
            FZ_CHECK(v[i].payload + piece <= slots[i] || v[i].payload >= slots[i] + r->size);
            memcpy(slots[i] + head, v[i].payload, piece);
        } else {
            FZ_CHECK(v[i].payload == slots[i] + head);
        }
    }
}

/* The documented rule for piece_size 0. */
static void
check_auto_piece(uint32_t p, size_t len, uint32_t k)
{
    uint64_t min = len ? (len + k - 1) / k : 1;
    FZ_CHECK(weft_piece_size_for(len, k) == p);
    FZ_CHECK(p >= min);
    FZ_CHECK(p == min || (p % 64 == 0 && p - min < 64));
}

/* Calls made after all shards were compared with the twin encoder, since
 * they might move the encoder's state. */
static void
check_encoder_extras(run *r, weft_encoder *enc, uint64_t seed)
{
    uint32_t k = r->gen.k, piece = r->gen.piece_size;
    uint8_t coefs[MAX_K];
    weft_shard_view v;

    memset(coefs, 0, sizeof coefs);
    FZ_CHECK(weft_enc_with(enc, coefs, r->buf, r->size) == WEFT_EZEROVEC);

    uint32_t j = (uint32_t)(seed % k);
    coefs[j] = 1;
    FZ_CHECK(weft_enc_with(enc, coefs, r->buf, r->size - 1) == WEFT_ENOSPC);
    FZ_CHECK(weft_enc_with(enc, coefs, r->buf, r->size) == (int)r->size);
    FZ_CHECK(weft_shard_parse(r->buf, r->size, &v) == 0);
    FZ_CHECK(fz_gen_eq(&v.gen, &r->gen));
    FZ_CHECK(memcmp(v.coefs, coefs, k) == 0);
    FZ_CHECK(memcmp(v.payload, r->padded + (size_t)j * piece, piece) == 0);

    for (uint32_t i = 0; i < k; i++)
        coefs[i] = (uint8_t)(seed >> (8 * (i % 8))) ^ (uint8_t)(i * 29);
    coefs[0] |= 1;
    FZ_CHECK(weft_enc_with(enc, coefs, r->buf, r->size) == (int)r->size);
    FZ_CHECK(weft_shard_parse(r->buf, r->size, &v) == 0);
    FZ_CHECK(memcmp(v.coefs, coefs, k) == 0);
    uint8_t *want = calloc(piece, 1);
    FZ_CHECK(want != NULL);
    for (uint32_t i = 0; i < k; i++)
        fz_gf_muladd(want, r->padded + (size_t)i * piece, coefs[i], piece);
    FZ_CHECK(memcmp(want, v.payload, piece) == 0);
    free(want);

    FZ_CHECK(weft_enc_next(enc, r->buf, r->size - 1) == WEFT_ENOSPC);
    uint8_t *one[1] = {r->buf};
    FZ_CHECK(weft_enc_batch(enc, one, 1, r->size - 1) == WEFT_ENOSPC);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader in = {data, size};
    run r;
    memset(&r, 0, sizeof r);

    uint32_t k = 1 + fz_u8(&in) % MAX_K;
    uint8_t prule = fz_u8(&in);
    r.flags = fz_u8(&in);
    r.kernels = fz_u8(&in);
    uint64_t seed = fz_u32(&in);
    uint64_t drop = fz_u64(&in);
    uint64_t relay_mask = fz_u64(&in);
    uint8_t batching = fz_u8(&in);

    r.len = in.n < MAX_MSG ? in.n : MAX_MSG;
    uint8_t *msg = fz_dup(in.p, r.len);
    r.msg = msg;

    uint32_t min_piece = r.len ? (uint32_t)((r.len + k - 1) / k) : 1;
    uint32_t piece = 0;
    int must_fail = 0;
    switch (prule & 3) {
    case 0: piece = 0; break;
    case 1: piece = min_piece; break;
    case 2:
        piece = min_piece + (prule >> 2);
        if ((uint64_t)piece * k > MAX_CODED)
            piece = min_piece > MAX_CODED / k ? min_piece : MAX_CODED / k;
        break;
    default:
        piece = prule >> 2;
        must_fail = piece != 0 && (uint64_t)piece * k < r.len;
        if ((uint64_t)piece * k > MAX_CODED)
            piece = min_piece > MAX_CODED / k ? min_piece : MAX_CODED / k;
        break;
    }
    unsigned eflags =
        ((r.flags & 1) ? WEFT_ENC_SYSTEMATIC : 0u) | ((r.flags & 2) ? WEFT_ENC_BORROW : 0u);

    fz_pick_kernels(r.kernels & 15);
    int err = 1;
    weft_encoder *enc = weft_enc_new(r.len ? msg : NULL, r.len, k, piece, eflags, seed, &err);
    if (must_fail) {
        FZ_CHECK(enc == NULL && err == WEFT_EMSGLEN);
        free(msg);
        return 0;
    }
    FZ_CHECK(enc != NULL);
    /* The twin replays every shard through weft_enc_next; without batches
     * there would be nothing to compare it with. */
    weft_encoder *twin = NULL;
    if (batching >> 3) {
        twin = weft_enc_new(r.len ? msg : NULL, r.len, k, piece, eflags, seed, NULL);
        FZ_CHECK(twin != NULL);
    }

    r.gen = *weft_enc_gen(enc);
    FZ_CHECK(r.gen.k == k);
    FZ_CHECK(r.gen.message_len == r.len);
    if (piece == 0)
        check_auto_piece(r.gen.piece_size, r.len, k);
    else
        FZ_CHECK(r.gen.piece_size == piece);
    FZ_CHECK(weft_gen_check(&r.gen) == 0);
    FZ_CHECK(twin == NULL || fz_gen_eq(weft_enc_gen(twin), &r.gen));
    r.size = weft_shard_size(&r.gen);

    r.padded = calloc((size_t)k * r.gen.piece_size, 1);
    FZ_CHECK(r.padded != NULL);
    if (r.len)
        memcpy(r.padded, msg, r.len);
    r.buf = malloc(r.size);
    FZ_CHECK(r.buf != NULL);
    uint8_t *slots[MAX_BATCH];
    for (size_t i = 0; i < MAX_BATCH; i++) {
        slots[i] = malloc(r.size); /* exact size: ASan catches overruns */
        FZ_CHECK(slots[i] != NULL);
    }

    r.relay = weft_dec_new(&r.gen, &err);
    r.dec = weft_dec_new(&r.gen, &err);
    FZ_CHECK(r.relay != NULL && r.dec != NULL);
    weft_rng_seed(&r.rng, seed ^ 0x9E3779B97F4A7C15u);

    /* Encode until the relay holds everything: 64 losses at most, then
     * random shards miss full rank with probability about 256^-16. */
    size_t budget = 64 + 2 * (size_t)k + 16, emitted = 0;
    size_t batch = 1 + (batching & 7u);
    for (unsigned round = 0; !weft_dec_complete(r.relay) && emitted < budget; round++) {
        size_t n = batch < budget - emitted ? batch : budget - emitted;
        int use_batch = (batching >> (3 + round % 5)) & 1;

        fz_pick_kernels(r.kernels & 15);
        if (use_batch && (r.flags & 8)) {
            batch_views(&r, enc, slots, n, emitted);
        } else if (use_batch) {
            FZ_CHECK(weft_enc_batch(enc, slots, n, r.size) == (int)n);
        } else {
            for (size_t i = 0; i < n; i++)
                FZ_CHECK(weft_enc_next(enc, slots[i], r.size) == (int)r.size);
        }
        for (size_t i = 0; i < n; i++) {
            if (twin) {
                FZ_CHECK(weft_enc_next(twin, r.buf, r.size) == (int)r.size);
                FZ_CHECK(memcmp(r.buf, slots[i], r.size) == 0);
            }
            check_encoded(&r, emitted + i, slots[i]);
        }

        fz_pick_kernels(r.kernels >> 4);
        for (size_t i = 0; i < n; i++) {
            size_t j = emitted + i;
            if (j < 64 && ((drop >> j) & 1))
                continue;
            (void)push_valid(r.relay, slots[i], r.size);
            if ((r.flags & 4) && j % 3 == 0) {
                r.direct_used = 1;
                (void)push_valid(r.dec, slots[i], r.size);
            }
            /* Once the decoder is complete, recoding for it is wasted work. */
            if (((relay_mask >> (j % 64)) & 1) && !weft_dec_complete(r.dec))
                relay_one(&r);
        }
        emitted += n;
    }
    FZ_CHECK(weft_dec_complete(r.relay));
    check_message(&r, r.relay);

    /* The relay is complete, so each recoded shard is innovative for the
     * decoder with probability 255/256. */
    for (uint32_t i = 0; !weft_dec_complete(r.dec) && i < k + 32; i++)
        relay_one(&r);
    FZ_CHECK(weft_dec_complete(r.dec));
    check_message(&r, r.dec);

    /* A recode from the finished decoder means nothing new to the relay. */
    FZ_CHECK(weft_dec_recode(r.dec, &r.rng, r.buf, r.size) == (int)r.size);
    FZ_CHECK(push_valid(r.relay, r.buf, r.size) == WEFT_DEC_REDUNDANT);
    /* After a reset, any valid shard is innovative again. */
    weft_dec_reset(r.dec);
    FZ_CHECK(weft_dec_rank(r.dec) == 0 && !weft_dec_complete(r.dec));
    FZ_CHECK(weft_dec_message(r.dec, NULL) == NULL);
    FZ_CHECK(weft_dec_recode(r.dec, &r.rng, r.buf, r.size) == WEFT_EEMPTY);
    FZ_CHECK(push_valid(r.dec, slots[0], r.size) == WEFT_DEC_INNOVATIVE);

    fz_pick_kernels(r.kernels & 15);
    check_encoder_extras(&r, enc, seed);

    weft_enc_free(twin);
    weft_enc_free(enc);
    weft_enc_free(NULL);
    weft_dec_free(r.dec);
    weft_dec_free(r.relay);
    /* Neither encoder wrote through the caller's pointer. */
    FZ_CHECK(r.len == 0 || memcmp(msg, in.p, r.len) == 0);
    for (size_t i = 0; i < MAX_BATCH; i++)
        free(slots[i]);
    free(r.buf);
    free(r.padded);
    free(msg);
    return 0;
}
