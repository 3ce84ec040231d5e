/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_decoder: one weft_decoder of a small generation (k 1..32, piece_size
 * 1..4096: beyond the decoder's in-place solve step, 1 KiB at k = 32, so
 * copied payloads are split and solved in several steps) fed a sequence of
 * operations read from the input: well-formed shards, shards with a
 * corrupted header or length, raw byte strings, weft_dec_push_parts,
 * weft_dec_recode (the recoded shard is pushed back), and weft_dec_reset.
 * Pushes go through the copying calls or the borrowed ones
 * (weft_dec_push_borrowed, weft_dec_push_parts_borrowed), mixed freely.
 *
 * Every answer is checked against a shadow decoder kept here in reduced row
 * echelon form with the oracle field of fuzz_util.h: a push returns a value
 * of the documented set; a shard the spec rejects (by our own parse, or a
 * different generation, or a zero vector) gets an error and changes nothing;
 * a valid shard is INNOVATIVE exactly when the shadow's rank grows, so the
 * rank never decreases, never passes k, and grows by one exactly on
 * INNOVATIVE; weft_dec_message is NULL below rank k and, at rank k, equals
 * the shadow's solution of the system; a recoded shard is a valid shard of
 * the generation whose coefficients and payload both lie in the span held
 * (so pushing it back is REDUNDANT); buffers passed in are never written.
 * A borrowed buffer is kept, unchanged, exactly as long as the contract
 * says (innovative and not completing: until completion or reset), and
 * every other one is scribbled over and freed as soon as the push returns,
 * as are the kept ones at completion and reset; under ASan a read of one
 * after that is a use after free, without it the message or a recode
 * comes out wrong.
 *
 * Input layout (integers little-endian, missing bytes read as zero):
 *   0 u8 k-1 (mod 32) | 1 u16 piece_size-1 (mod 4096) |
 *   3 u32 message_len (mod k*piece_size+1) | 7 u8 kernel set | 8 u32 recode seed |
 *   12.. records, each starting with an op byte; op & 7 is:
 *     0-3  push a shard of the generation: k coefficient bytes, piece_size
 *          payload bytes; if op & 8, two bytes (kind, value) first corrupt it
 *          (see corrupt());
 *     4    push raw bytes: u16 length (mod shard size + 32), then the bytes;
 *     5    recode into a buffer one byte short, then into a full one, and
 *          push the result back;
 *     6    reset;
 *     7    weft_dec_push_parts: k coefficient bytes, piece_size payload bytes.
 *   For ops 0-4 and 7, op & 16 makes the push a borrowed one.
 */
#include "fuzz_util.h"

#define MAX_K 32
#define MAX_PIECE 4096

typedef struct shadow {
    uint32_t rank;
    uint8_t pivot[MAX_K];       /* pivot column of row r */
    uint8_t coef[MAX_K][MAX_K]; /* row r: unit at pivot[r], zero at other pivots */
    uint8_t payload[MAX_K][MAX_PIECE];
} shadow;

/* A buffer lent to the decoder, with the bytes it must keep. */
typedef struct lent {
    uint8_t *buf;
    uint8_t *want;
    size_t len;
} lent;

typedef struct state {
    weft_gen gen;
    size_t shard_size;
    weft_decoder *dec;
    weft_rng rng;
    shadow sh;
    lent lent[MAX_K]; /* at most k - 1: innovative pushes before completion */
    uint32_t nlent;
} state;

/* The decoder may no longer reference buf: check it was not written, then
 * scribble over it and free it, so a later read shows. */
static void
give_up(uint8_t *buf, const uint8_t *want, size_t len)
{
    FZ_CHECK(memcmp(buf, want, len) == 0);
    memset(buf, 0xA5, len);
    free(buf);
}

/* Completion or reset: every lent buffer is free to go. */
static void
release_lent(state *st)
{
    for (uint32_t i = 0; i < st->nlent; i++) {
        give_up(st->lent[i].buf, st->lent[i].want, st->lent[i].len);
        free(st->lent[i].want);
    }
    st->nlent = 0;
}

/* After a push of buf (len bytes, a copy of want): keep it if the decoder
 * may still read it, else let it go now. */
static void
after_push(state *st, uint8_t *buf, const uint8_t *want, size_t len, int borrow, int rc)
{
    if (borrow && rc == WEFT_DEC_INNOVATIVE && !weft_dec_complete(st->dec)) {
        FZ_CHECK(st->nlent < st->gen.k - 1);
        st->lent[st->nlent++] = (lent){buf, fz_dup(want, len), len};
    } else {
        give_up(buf, want, len);
    }
    if (weft_dec_complete(st->dec))
        release_lent(st);
}

/* Reduce (c, p) against the shadow rows in place; returns whether c is now
 * non-zero (the vector is outside the span). */
static int
shadow_reduce(const state *st, uint8_t *c, uint8_t *p)
{
    const shadow *sh = &st->sh;
    for (uint32_t r = 0; r < sh->rank; r++) {
        uint8_t f = c[sh->pivot[r]];
        if (f) {
            fz_gf_muladd(c, sh->coef[r], f, st->gen.k);
            fz_gf_muladd(p, sh->payload[r], f, st->gen.piece_size);
        }
    }
    return !fz_all_zero(c, st->gen.k);
}

/* Add (coefs, payload) to the shadow if it is innovative; returns whether
 * it was. */
static int
shadow_add(state *st, const uint8_t *coefs, const uint8_t *payload)
{
    shadow *sh = &st->sh;
    uint32_t k = st->gen.k, piece = st->gen.piece_size;
    uint8_t c[MAX_K], p[MAX_PIECE];
    memcpy(c, coefs, k);
    memcpy(p, payload, piece);
    if (!shadow_reduce(st, c, p))
        return 0;

    uint32_t col = 0;
    while (c[col] == 0)
        col++;
    uint8_t inv = fz_gf_inv(c[col]);
    for (uint32_t i = 0; i < k; i++)
        c[i] = fz_gf_mul(c[i], inv);
    for (uint32_t i = 0; i < piece; i++)
        p[i] = fz_gf_mul(p[i], inv);
    for (uint32_t r = 0; r < sh->rank; r++) {
        uint8_t f = sh->coef[r][col];
        if (f) {
            fz_gf_muladd(sh->coef[r], c, f, k);
            fz_gf_muladd(sh->payload[r], p, f, piece);
        }
    }
    FZ_CHECK(sh->rank < k);
    sh->pivot[sh->rank] = (uint8_t)col;
    memcpy(sh->coef[sh->rank], c, k);
    memcpy(sh->payload[sh->rank], p, piece);
    sh->rank++;
    return 1;
}

/* Rank, completion and the decoded message agree with the shadow. */
static void
check_state(state *st)
{
    uint32_t rank = weft_dec_rank(st->dec);
    FZ_CHECK(rank == st->sh.rank);
    FZ_CHECK(rank <= st->gen.k);
    FZ_CHECK(!!weft_dec_complete(st->dec) == (rank == st->gen.k));

    size_t len = (size_t)-1;
    const uint8_t *msg = weft_dec_message(st->dec, &len);
    if (rank < st->gen.k) {
        FZ_CHECK(msg == NULL);
        return;
    }
    FZ_CHECK(msg != NULL);
    FZ_CHECK(len == st->gen.message_len);
    /* At full rank shadow row r is the unit vector at pivot[r], so its
     * payload is piece number pivot[r]. */
    for (uint32_t r = 0; r < st->sh.rank; r++) {
        size_t off = (size_t)st->sh.pivot[r] * st->gen.piece_size;
        if (off >= len)
            continue;
        size_t n = len - off < st->gen.piece_size ? len - off : st->gen.piece_size;
        FZ_CHECK(memcmp(msg + off, st->sh.payload[r], n) == 0);
    }
}

static int
push_result_known(int rc)
{
    switch (rc) {
    case WEFT_DEC_INNOVATIVE:
    case WEFT_DEC_REDUNDANT:
    case WEFT_ETRUNC:
    case WEFT_EVERSION:
    case WEFT_EFIELD:
    case WEFT_EK:
    case WEFT_EPIECE:
    case WEFT_EMSGLEN:
    case WEFT_EGENERATION:
    case WEFT_EZEROVEC: return 1;
    default: return 0;
    }
}

/* What a push of a valid shard of our generation must return, updating the
 * shadow. */
static void
expect_valid(state *st, const uint8_t *coefs, const uint8_t *payload, uint32_t rank_before, int rc)
{
    if (fz_all_zero(coefs, st->gen.k)) {
        FZ_CHECK(rc == WEFT_EZEROVEC);
        return;
    }
    int innovative = shadow_add(st, coefs, payload);
    FZ_CHECK(rc == (innovative ? WEFT_DEC_INNOVATIVE : WEFT_DEC_REDUNDANT));
    if (innovative)
        FZ_CHECK(rank_before < st->gen.k);
}

/* Push buf[0..len) through weft_dec_push (or weft_dec_push_borrowed) from
 * an exact-size copy and check the answer; returns it. */
static int
push_checked(state *st, const uint8_t *buf, size_t len, int borrow)
{
    weft_shard_view v;
    int parsed = weft_shard_parse(buf, len, &v);
    uint8_t *copy = fz_dup(buf, len);
    uint32_t before = weft_dec_rank(st->dec);

    int rc =
        borrow ? weft_dec_push_borrowed(st->dec, copy, len) : weft_dec_push(st->dec, copy, len);
    FZ_CHECK(push_result_known(rc));
    FZ_CHECK(memcmp(copy, buf, len) == 0);
    if (parsed != 0) {
        FZ_CHECK(rc < 0);
    } else if (!fz_gen_eq(&v.gen, &st->gen)) {
        FZ_CHECK(rc == WEFT_EGENERATION);
    } else {
        expect_valid(st, v.coefs, v.payload, before, rc);
    }
    uint32_t after = weft_dec_rank(st->dec);
    FZ_CHECK(after == before + (rc == WEFT_DEC_INNOVATIVE));
    if (rc < 0)
        FZ_CHECK(weft_strerror(rc) != NULL);
    after_push(st, copy, buf, len, borrow, rc);
    check_state(st);
    return rc;
}

static void
push_parts_checked(state *st, const uint8_t *coefs, const uint8_t *payload, int borrow)
{
    uint8_t *c = fz_dup(coefs, st->gen.k);
    uint8_t *p = fz_dup(payload, st->gen.piece_size);
    uint32_t before = weft_dec_rank(st->dec);

    int rc =
        borrow ? weft_dec_push_parts_borrowed(st->dec, c, p) : weft_dec_push_parts(st->dec, c, p);
    FZ_CHECK(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT || rc == WEFT_EZEROVEC);
    FZ_CHECK(memcmp(c, coefs, st->gen.k) == 0);
    FZ_CHECK(memcmp(p, payload, st->gen.piece_size) == 0);
    expect_valid(st, coefs, payload, before, rc);
    FZ_CHECK(weft_dec_rank(st->dec) == before + (rc == WEFT_DEC_INNOVATIVE));
    /* Coefficients are always copied; the payload only when not borrowed. */
    give_up(c, coefs, st->gen.k);
    after_push(st, p, payload, st->gen.piece_size, borrow, rc);
    check_state(st);
}

/* Damage a well-formed shard in buf (capacity cap, length *len) as told by
 * kind and val. Whatever the result, push_checked() works out what the
 * decoder must answer, so an edit that happens to change nothing is fine. */
static void
corrupt(state *st, uint8_t *buf, size_t cap, size_t *len, uint8_t kind, uint8_t val)
{
    switch (kind % 8) {
    case 0: /* version */ buf[0] = val; break;
    case 1: /* field id */ buf[1] = val; break;
    case 2: /* k: small values with the k == 0 edge, or around WEFT_MAX_K */
        fz_put16(buf + 2, val & 0x80 ? (uint32_t)WEFT_MAX_K - 64 + (val & 0x7F) : val & 0x3F);
        break;
    case 3: /* piece_size: near the real one, or zero */
        fz_put32(buf + 4, val == 0 ? 0 : st->gen.piece_size + (uint32_t)(val & 0x0F) - 8);
        break;
    case 4: /* message_len: flip one bit */
        fz_put32(buf + 8, st->gen.message_len ^ (1u << (val % 32)));
        break;
    case 5: /* length: up to 8 bytes short (shard_size >= 14) or 7 bytes long */
        *len = st->shard_size + (val % 16) - 8;
        FZ_CHECK(*len <= cap);
        break;
    case 6: /* all-zero coefficient vector under a valid header */
        memset(buf + WEFT_SHARD_HDR, 0, st->gen.k);
        break;
    default: { /* a consistent shard of another generation: same length, k moved */
        uint32_t k2 = 1 + val % MAX_K;
        if (k2 == st->gen.k)
            k2 = k2 % MAX_K + 1;
        int64_t piece2 = (int64_t)st->gen.piece_size + st->gen.k - k2;
        if (piece2 < 1) { /* k2 took all the room: make the shard longer */
            piece2 = 1;
            *len = WEFT_SHARD_HDR + k2 + 1;
        }
        fz_header(buf, k2, (uint32_t)piece2, 0);
        break;
    }
    }
}

static void
op_push_shard(state *st, fz_reader *in, uint8_t op)
{
    size_t cap = st->shard_size + MAX_K + 8; /* room for corrupt() to lengthen it */
    uint8_t *buf = calloc(cap, 1);
    FZ_CHECK(buf != NULL);
    uint8_t kind = 0, val = 0;
    if (op & 8) {
        kind = fz_u8(in);
        val = fz_u8(in);
    }
    FZ_CHECK(weft_shard_write_header(buf, cap, &st->gen) == WEFT_SHARD_HDR);
    uint8_t want[WEFT_SHARD_HDR];
    fz_header(want, st->gen.k, st->gen.piece_size, st->gen.message_len);
    FZ_CHECK(memcmp(buf, want, WEFT_SHARD_HDR) == 0);
    fz_bytes(in, buf + WEFT_SHARD_HDR, st->gen.k + st->gen.piece_size);
    size_t len = st->shard_size;
    if (op & 8)
        corrupt(st, buf, cap, &len, kind, val);
    (void)push_checked(st, buf, len, !!(op & 16));
    free(buf);
}

static void
op_push_raw(state *st, fz_reader *in, uint8_t op)
{
    size_t len = fz_u16(in) % (st->shard_size + 32);
    uint8_t *buf = malloc(len ? len : 1);
    FZ_CHECK(buf != NULL);
    fz_bytes(in, buf, len);
    (void)push_checked(st, buf, len, !!(op & 16));
    free(buf);
}

static void
op_recode(state *st)
{
    uint32_t rank = weft_dec_rank(st->dec);
    size_t size = st->shard_size;

    uint8_t *small = malloc(size - 1);
    FZ_CHECK(small != NULL);
    int rc = weft_dec_recode(st->dec, &st->rng, small, size - 1);
    if (rank == 0)
        FZ_CHECK(rc == WEFT_EEMPTY || rc == WEFT_ENOSPC);
    else
        FZ_CHECK(rc == WEFT_ENOSPC);
    free(small);

    uint8_t *out = malloc(size);
    FZ_CHECK(out != NULL);
    rc = weft_dec_recode(st->dec, &st->rng, out, size);
    FZ_CHECK(weft_dec_rank(st->dec) == rank);
    if (rank == 0) {
        FZ_CHECK(rc == WEFT_EEMPTY);
        free(out);
        return;
    }
    FZ_CHECK(rc >= 0 && (size_t)rc == size);

    weft_shard_view v;
    FZ_CHECK(weft_shard_parse(out, size, &v) == 0);
    FZ_CHECK(fz_gen_eq(&v.gen, &st->gen));
    FZ_CHECK(!fz_all_zero(v.coefs, st->gen.k));
    uint8_t c[MAX_K], p[MAX_PIECE];
    memcpy(c, v.coefs, st->gen.k);
    memcpy(p, v.payload, st->gen.piece_size);
    FZ_CHECK(!shadow_reduce(st, c, p));           /* coefficients in the span */
    FZ_CHECK(fz_all_zero(p, st->gen.piece_size)); /* payload consistent with them */

    FZ_CHECK(push_checked(st, out, size, 0) == WEFT_DEC_REDUNDANT);
    free(out);
}

static void
op_reset(state *st)
{
    weft_dec_reset(st->dec);
    release_lent(st);
    st->sh.rank = 0;
    FZ_CHECK(fz_gen_eq(weft_dec_gen(st->dec), &st->gen));
    FZ_CHECK(weft_dec_complete(st->dec) == 0);
    check_state(st);
}

static void
op_push_parts(state *st, fz_reader *in, uint8_t op)
{
    uint8_t c[MAX_K], p[MAX_PIECE];
    fz_bytes(in, c, st->gen.k);
    fz_bytes(in, p, st->gen.piece_size);
    push_parts_checked(st, c, p, !!(op & 16));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state st; /* big (the shadow); static keeps it off the stack */
    fz_reader in = {data, size};

    memset(&st, 0, sizeof st);
    st.gen.k = 1 + fz_u8(&in) % MAX_K;
    st.gen.piece_size = 1 + fz_u16(&in) % MAX_PIECE;
    st.gen.message_len = fz_u32(&in) % (st.gen.k * st.gen.piece_size + 1);
    fz_pick_kernels(fz_u8(&in));
    weft_rng_seed(&st.rng, fz_u32(&in));
    st.shard_size = weft_shard_size(&st.gen);
    FZ_CHECK(st.shard_size == (size_t)WEFT_SHARD_HDR + st.gen.k + st.gen.piece_size);

    int err = 1;
    st.dec = weft_dec_new(&st.gen, &err);
    FZ_CHECK(st.dec != NULL);
    FZ_CHECK(fz_gen_eq(weft_dec_gen(st.dec), &st.gen));
    check_state(&st);

    while (in.n > 0) {
        uint8_t op = fz_u8(&in);
        switch (op & 7) {
        case 0:
        case 1:
        case 2:
        case 3: op_push_shard(&st, &in, op); break;
        case 4: op_push_raw(&st, &in, op); break;
        case 5: op_recode(&st); break;
        case 6: op_reset(&st); break;
        default: op_push_parts(&st, &in, op); break;
        }
    }

    weft_dec_free(st.dec);
    weft_dec_free(NULL);
    release_lent(&st);
    return 0;
}
