/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_codec.c: `weft-bench codec`, the throughput of RLNC encode, decode
 * and recode, through every weft GF kernel set this CPU runs and through
 * ISA-L in the same process, on the same message and the same shards. This
 * file measures: the scalar oracle, the per-shape inputs, the weft backends
 * and measure_one(). The ISA-L backend is in bench_codec_isal.c; options,
 * the --grid sweep, output and --plot are in bench_codec_grid.c; what they
 * share is in bench_codec.h.
 *
 * A measurement is a shape (op, k, n, message bytes) and a backend. Per
 * shape the message and, for decode and recode, k linearly independent coded
 * shards are made once, with the automatic kernel set; each backend then
 * builds what its users build before the hot path (encoder, decoder, ISA-L
 * tables for a fixed matrix), runs one op untimed and checks its output
 * against a scalar GF(2^8) oracle kept in this file, and only then is timed
 * (bench_measure: median of runs, each at least --min-ms long). A weft
 * backend runs an op through one variant of the API at a time: the copying
 * calls, the borrowed push (decode) or the shard views (encode), each its
 * own measurement. The definitions of the ops and variants are in
 * bench_codec_usage() (bench_codec_grid.c) and bench/README.md; keep the
 * three in step.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_codec.h"

const char *const variant_names[VAR_COUNT] = {"copy", "borrowed", "iov", "in_place"};

/* ---- the scalar oracle ---------------------------------------------------- */

/* GF(2^8) mod 0x11D by shift-and-add, independent of the library's tables. */
static uint8_t oracle_mul_tab[256][256];

void
oracle_init(void)
{
    static int done;
    unsigned a, b;

    if (done)
        return;
    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            unsigned x = a, y = b, p = 0;

            while (y) {
                if (y & 1)
                    p ^= x;
                x = (x << 1) ^ ((x & 0x80) ? 0x11D : 0);
                y >>= 1;
            }
            oracle_mul_tab[a][b] = (uint8_t)p;
        }
    }
    done = 1;
}

/* Abort unless payload == sum_i coefs[i] * piece_i of the shape's message. */
void
check_combination(const shape_data *d, const uint8_t *coefs, const uint8_t *payload,
                  const char *what)
{
    uint32_t k = d->gen.k, piece = d->gen.piece_size, i;
    uint8_t *acc = bench_xalloc(piece);
    size_t x;

    for (i = 0; i < k; i++) {
        const uint8_t *row = oracle_mul_tab[coefs[i]];
        const uint8_t *src = d->msg + (size_t)i * piece;

        if (coefs[i] == 0)
            continue;
        for (x = 0; x < piece; x++)
            acc[x] ^= row[src[x]];
    }
    for (x = 0; x < piece; x++)
        if (acc[x] != payload[x])
            fail("%s: payload byte %zu is 0x%02x, expected 0x%02x", what, x, payload[x], acc[x]);
    free(acc);
}

/* Parse a serialized weft shard of the shape's generation, check it. */
static void
check_weft_shard(const shape_data *d, const uint8_t *buf, const char *what)
{
    weft_shard_view v;
    int rc = weft_shard_parse(buf, d->shard_size, &v);

    if (rc != 0)
        fail("%s: weft_shard_parse: %s", what, weft_strerror(rc));
    if (v.gen.k != d->gen.k || v.gen.piece_size != d->gen.piece_size ||
        v.gen.message_len != d->gen.message_len)
        fail("%s: header says k=%" PRIu32 " piece=%" PRIu32 " len=%" PRIu32, what, v.gen.k,
             v.gen.piece_size, v.gen.message_len);
    check_combination(d, v.coefs, v.payload, what);
}

/* ---- per-shape inputs ------------------------------------------------------ */

void
data_init(shape_data *d, const shape *sh, uint64_t seed)
{
    weft_rng rng;
    int rc;

    memset(d, 0, sizeof(*d));
    d->gen.k = sh->k;
    d->gen.piece_size = weft_piece_size_for(sh->msg, sh->k);
    d->gen.message_len = sh->msg;
    rc = weft_gen_check(&d->gen);
    if (rc != 0)
        fail("weft_gen_check(k=%" PRIu32 ", msg=%" PRIu32 "): %s", sh->k, sh->msg,
             weft_strerror(rc));
    d->shard_size = weft_shard_size(&d->gen);
    d->stride = (d->shard_size + 63) & ~(size_t)63;
    d->padded = (size_t)d->gen.k * d->gen.piece_size;
    d->msg = bench_xalloc(d->padded);
    weft_rng_seed(&rng, seed);
    weft_rng_bytes(&rng, d->msg, sh->msg);

    if (sh->op == OP_DECODE || sh->op == OP_RECODE) {
        /* k random shards, kept only when innovative, so any decoder gets
         * full rank from exactly these k. */
        weft_encoder *enc;
        weft_decoder *dec;
        uint32_t got = 0, tries = 0;
        int err = 0;

        enc = weft_enc_new(d->msg, sh->msg, sh->k, d->gen.piece_size, WEFT_ENC_BORROW,
                           seed ^ 0x6b6579736861726bULL, &err);
        if (enc == NULL)
            fail("weft_enc_new: %s", weft_strerror(err));
        dec = weft_dec_new(&d->gen, &err);
        if (dec == NULL)
            fail("weft_dec_new: %s", weft_strerror(err));
        d->held_mem = bench_xalloc((size_t)sh->k * d->stride);
        while (got < sh->k) {
            uint8_t *slot = held_shard(d, got);

            if (++tries > 4 * sh->k + 64)
                fail("no rank %" PRIu32 " after %" PRIu32 " random shards (rank %" PRIu32
                     "): encoder or decoder broken",
                     sh->k, tries - 1, weft_dec_rank(dec));
            rc = weft_enc_next(enc, slot, d->shard_size);
            if (rc != (int)d->shard_size)
                fail("weft_enc_next returned %d (%s), expected %zu", rc,
                     rc < 0 ? weft_strerror(rc) : "short", d->shard_size);
            rc = weft_dec_push(dec, slot, d->shard_size);
            if (rc == WEFT_DEC_INNOVATIVE)
                got++;
            else if (rc != WEFT_DEC_REDUNDANT)
                fail("weft_dec_push of a fresh shard: %s", weft_strerror(rc));
        }
        weft_dec_free(dec);
        weft_enc_free(enc);
    }
}

void
data_free(shape_data *d)
{
    free(d->msg);
    free(d->held_mem);
    memset(d, 0, sizeof(*d));
}

/* n output buffers of size bytes each, 64-byte aligned. */
void
ctx_alloc_out(codec_ctx *c, uint32_t n, size_t size)
{
    size_t stride = (size + 63) & ~(size_t)63;
    uint32_t j;

    c->out = bench_xalloc(n * sizeof(*c->out));
    c->out_mem = bench_xalloc((size_t)n * stride);
    for (j = 0; j < n; j++)
        c->out[j] = c->out_mem + (size_t)j * stride;
}

static void
ctx_free(codec_ctx *c)
{
    weft_enc_free(c->enc);
    weft_dec_free(c->dec);
    free(c->iov);
    free(c->out);
    free(c->out_mem);
    free(c->mat);
    free(c->work);
    free(c->inv);
    free(c->tbls);
    free(c->src);
    free(c->coef_src);
    free(c->coef_out);
    free(c->coef_mem);
    memset(c, 0, sizeof(*c));
}

/* ---- weft ------------------------------------------------------------------- */

static void
weft_encoder_make(codec_ctx *c)
{
    int err = 0;

    c->enc = weft_enc_new(c->d->msg, c->sh->msg, c->sh->k, c->d->gen.piece_size, c->enc_flags,
                          c->enc_seed, &err);
    if (c->enc == NULL)
        fail("weft_enc_new: %s", weft_strerror(err));
}

/* Systematic: the unit-vector prefix comes once per encoder, so each op
 * gets a fresh one (untimed; with WEFT_ENC_BORROW this copies nothing). */
static void
weft_encode_prep(void *arg)
{
    codec_ctx *c = arg;

    weft_enc_free(c->enc);
    weft_encoder_make(c);
}

static void
weft_encode_op(void *arg)
{
    codec_ctx *c = arg;
    int rc = weft_enc_batch(c->enc, c->out, c->sh->n, c->d->shard_size);

    if (rc != (int)c->sh->n)
        fail("weft_enc_batch returned %d (%s)", rc, rc < 0 ? weft_strerror(rc) : "short");
}

/* The shards as views: systematic payloads point into the message. */
static void
weft_encode_iov_op(void *arg)
{
    codec_ctx *c = arg;
    int rc = weft_enc_batch_iov(c->enc, c->iov, c->sh->n, c->out, c->d->shard_size);

    if (rc != (int)c->sh->n)
        fail("weft_enc_batch_iov returned %d (%s)", rc, rc < 0 ? weft_strerror(rc) : "short");
}

/* Copying (weft_dec_push) or borrowed (weft_dec_push_borrowed) pushes of
 * the held shards, which outlive the decoder as the borrowed contract asks. */
static void
weft_decode_op(void *arg)
{
    codec_ctx *c = arg;
    int borrowed = c->variant == VAR_BORROWED;
    uint32_t i;
    int rc;

    weft_dec_reset(c->dec);
    for (i = 0; i < c->sh->k; i++) {
        if (borrowed)
            rc = weft_dec_push_borrowed(c->dec, held_shard(c->d, i), c->d->shard_size);
        else
            rc = weft_dec_push(c->dec, held_shard(c->d, i), c->d->shard_size);
        if (rc != WEFT_DEC_INNOVATIVE)
            fail("%s of held shard %" PRIu32 " returned %d (%s), expected innovative",
                 borrowed ? "weft_dec_push_borrowed" : "weft_dec_push", i, rc,
                 rc < 0 ? weft_strerror(rc) : "redundant");
    }
    c->decoded = weft_dec_message(c->dec, &c->decoded_len);
    if (c->decoded == NULL)
        fail("weft_dec_message is NULL at rank %" PRIu32 " of %" PRIu32, weft_dec_rank(c->dec),
             c->sh->k);
}

static void
weft_recode_op(void *arg)
{
    codec_ctx *c = arg;
    uint32_t j;
    int rc;

    for (j = 0; j < c->sh->n; j++) {
        rc = weft_dec_recode(c->dec, &c->rng, c->out[j], c->d->shard_size);
        if (rc != (int)c->d->shard_size)
            fail("weft_dec_recode returned %d (%s)", rc, rc < 0 ? weft_strerror(rc) : "short");
    }
}

static void
weft_setup(codec_ctx *c, bench_case *bc, uint64_t seed)
{
    const shape *sh = c->sh;
    int err = 0, rc;
    uint32_t i;

    bc->ctx = c;
    bc->prep = NULL;
    switch (sh->op) {
    case OP_ENCODE:
        c->enc_flags = WEFT_ENC_BORROW | (sh->systematic ? WEFT_ENC_SYSTEMATIC : 0);
        c->enc_seed = seed;
        weft_encoder_make(c);
        ctx_alloc_out(c, sh->n, c->d->shard_size);
        bc->op = weft_encode_op;
        if (c->variant == VAR_IOV) {
            c->iov = bench_xalloc(sh->n * sizeof(*c->iov));
            bc->op = weft_encode_iov_op;
        }
        if (sh->systematic)
            bc->prep = weft_encode_prep;
        break;
    case OP_DECODE:
        c->dec = weft_dec_new(&c->d->gen, &err);
        if (c->dec == NULL)
            fail("weft_dec_new: %s", weft_strerror(err));
        bc->op = weft_decode_op;
        break;
    case OP_RECODE:
        c->dec = weft_dec_new(&c->d->gen, &err);
        if (c->dec == NULL)
            fail("weft_dec_new: %s", weft_strerror(err));
        for (i = 0; i < sh->k; i++) {
            rc = weft_dec_push(c->dec, held_shard(c->d, i), c->d->shard_size);
            if (rc != WEFT_DEC_INNOVATIVE)
                fail("recoder: push of held shard %" PRIu32 " returned %d", i, rc);
        }
        weft_rng_seed(&c->rng, seed);
        ctx_alloc_out(c, sh->n, c->d->shard_size);
        bc->op = weft_recode_op;
        break;
    default: fail("bad op");
    }
}

/* Shard j of a VAR_IOV encode, head and payload joined into a new buffer,
 * after checking the head is bufs[j]'s and a coded payload follows it there. */
static uint8_t *
join_iov(const codec_ctx *c, uint32_t j, const char *what)
{
    const weft_shard_iov *v = &c->iov[j];
    size_t head = WEFT_SHARD_HDR + (size_t)c->sh->k;
    uint8_t *buf;

    if (v->head != c->out[j] || v->head_len != head || v->payload_len != c->d->gen.piece_size)
        fail("%s: view is head %p+%zu, payload +%zu; expected head %p+%zu", what,
             (const void *)v->head, v->head_len, v->payload_len, (const void *)c->out[j], head);
    if (c->sh->systematic && j < c->sh->k) {
        /* Zero copy: a whole piece is read from the (borrowed) message. */
        size_t piece = c->d->gen.piece_size;

        if ((j + 1) * piece <= c->sh->msg && v->payload != c->d->msg + j * piece)
            fail("%s: systematic payload does not point at piece %" PRIu32 " of the message", what,
                 j);
    } else if (v->payload != c->out[j] + head) {
        fail("%s: coded payload not in its shard buffer", what);
    }
    buf = bench_xalloc(c->d->shard_size);
    memcpy(buf, v->head, v->head_len);
    memcpy(buf + head, v->payload, v->payload_len);
    return buf;
}

static void
weft_verify(codec_ctx *c, const char *backend)
{
    const shape *sh = c->sh;
    char what[96];
    uint32_t idx[4], j, x;

    switch (sh->op) {
    case OP_ENCODE:
        /* First, last, and both sides of the systematic boundary. */
        idx[0] = 0;
        idx[1] = sh->k - 1;
        idx[2] = sh->k;
        idx[3] = sh->n - 1;
        for (j = 0; j < 4; j++) {
            const uint8_t *shard;
            uint8_t *joined = NULL;

            if (idx[j] >= sh->n)
                continue;
            snprintf(what, sizeof(what), "%s %s encode shard %" PRIu32, backend,
                     variant_names[c->variant], idx[j]);
            shard = c->out[idx[j]];
            if (c->variant == VAR_IOV)
                shard = joined = join_iov(c, idx[j], what);
            check_weft_shard(c->d, shard, what);
            if (sh->systematic && idx[j] < sh->k) {
                const uint8_t *coefs = shard + WEFT_SHARD_HDR;

                for (x = 0; x < sh->k; x++)
                    if (coefs[x] != (x == idx[j]))
                        fail("%s: systematic shard without a unit vector", what);
            }
            free(joined);
        }
        break;
    case OP_DECODE:
        if (c->decoded_len != sh->msg || memcmp(c->decoded, c->d->msg, sh->msg) != 0)
            fail("%s %s decode: decoded message differs from the original", backend,
                 variant_names[c->variant]);
        break;
    case OP_RECODE:
        if (weft_dec_rank(c->dec) != sh->k)
            fail("%s recode: recoder rank fell to %" PRIu32, backend, weft_dec_rank(c->dec));
        snprintf(what, sizeof(what), "%s recoded shard", backend);
        check_weft_shard(c->d, c->out[sh->n - 1], what);
        break;
    default: break;
    }
}

/* ---- one measurement ------------------------------------------------------------ */

/* Measure sh on one backend into *res. Returns 0, or 1 if the backend has
 * nothing to do for this shape (ISA-L systematic with n <= k). */
int
measure_one(const shape *sh, const shape_data *d, const char *backend, enum codec_variant var,
            const codec_opts *o, codec_result *res)
{
    codec_ctx c;
    bench_case bc;
    bench_measure_opts mo;
#ifdef WEFT_BENCH_HAVE_ISAL
    int is_isal = isal_backend(backend, NULL);
#else
    int is_isal = strncmp(backend, "isal", 4) == 0;
#endif
    uint64_t seed = o->seed ^ ((uint64_t)sh->op << 56) ^ 0x636f646563ULL;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&bc, 0, sizeof(bc));
    c.sh = sh;
    c.d = d;
    c.variant = is_isal ? VAR_IN_PLACE : var;
    oracle_init();
    if (is_isal) {
#ifdef WEFT_BENCH_HAVE_ISAL
        if (sh->op == OP_ENCODE && sh->systematic && sh->n <= sh->k) {
            fprintf(stderr, "weft-bench codec: isal: systematic n <= k has no parity to "
                            "compute; skipped\n");
            return 1;
        }
        if (d->gen.piece_size > INT32_MAX) {
            fprintf(stderr, "weft-bench codec: isal: pieces over 2 GiB; skipped\n");
            return 1;
        }
        isal_setup(&c, &bc, backend, seed);
#else
        fail("built without ISA-L");
#endif
    } else {
        rc = weft_gf_force(backend);
        if (rc != 0)
            fail("weft_gf_force(%s): %s", backend, weft_strerror(rc));
        if (strcmp(weft_gf_impl_name(), backend) != 0)
            fail("weft_gf_force(%s) left %s in use", backend, weft_gf_impl_name());
        weft_setup(&c, &bc, seed);
    }

    /* One untimed op whose output is checked before any timing. */
    if (bc.prep != NULL)
        bc.prep(bc.ctx);
    bc.op(bc.ctx);
    if (is_isal) {
#ifdef WEFT_BENCH_HAVE_ISAL
        isal_verify(&c);
#endif
    } else {
        weft_verify(&c, backend);
    }

    mo.runs = o->runs;
    mo.min_run_ms = o->min_ms;
    mo.cold = o->cold;
    mo.cold_max_iters = 16;
    mo.cpu_time = o->cpu_time;
    bench_measure(&bc, &mo, &res->st);

    /* The last timed op's output must still be right. */
    if (is_isal) {
#ifdef WEFT_BENCH_HAVE_ISAL
        isal_verify(&c);
#endif
    } else {
        weft_verify(&c, backend);
    }
    ctx_free(&c);

    res->sh = *sh;
    res->variant = is_isal ? VAR_IN_PLACE : var;
    res->piece = d->gen.piece_size;
    snprintf(res->backend, sizeof(res->backend), "%s", backend);
    /* bytes per ns == GB/s */
    res->gbps = (double)sh->msg / res->st.median_ns;
    res->min_gbps = (double)sh->msg / res->st.max_ns;
    res->max_gbps = (double)sh->msg / res->st.min_ns;
    res->read_gbps = (double)sh->k * d->gen.piece_size * sh->n / res->st.median_ns;
    return 0;
}
