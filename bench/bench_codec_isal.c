/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_codec_isal.c: the ISA-L backend of `weft-bench codec` ("isal"):
 * encode with ec_encode_data and tables made once for a fixed random
 * matrix (systematic: only the n - k parity rows); decode by inverting the
 * k x k shard coefficient matrix, all timed; recode with one random row per
 * shard over the held payloads and coefficient vectors. Outputs are checked
 * against the scalar oracle in bench_codec.c. Empty without ISA-L.
 *
 * "isal" goes through ISA-L's own dispatch (on an AVX-512 CPU its avx512
 * kernels); "isal-sse", "isal-avx2" and "isal-avx512" call that ISA's
 * ec_encode_data_* directly (libisal exports them), so weft's ssse3, avx2
 * and avx512 sets can be compared with ISA-L's kernels of the same width on
 * any x86 CPU that has the ISA.
 */
#include <string.h>

#include "bench_codec.h"

#ifdef WEFT_BENCH_HAVE_ISAL
#include <isa-l/erasure_code.h>

/* Exported by libisal (2.30) but not declared in erasure_code.h. */
void ec_encode_data_avx512(int len, int k, int rows, unsigned char *gftbls, unsigned char **data,
                           unsigned char **coding);

static const struct {
    const char *name;
    const char *weft_set; /* a weft kernel set needing the same CPU features */
    void (*ec)(int, int, int, unsigned char *, unsigned char **, unsigned char **);
} isal_backends[] = {
    {"isal", NULL, ec_encode_data},
    {"isal-sse", "ssse3", ec_encode_data_sse},
    {"isal-avx2", "avx2", ec_encode_data_avx2},
    {"isal-avx512", "avx512", ec_encode_data_avx512},
};

int
isal_backend(const char *backend, int *ok)
{
    for (size_t i = 0; i < sizeof(isal_backends) / sizeof(isal_backends[0]); i++) {
        if (strcmp(backend, isal_backends[i].name) == 0) {
            if (ok)
                *ok =
                    !isal_backends[i].weft_set || weft_gf_impl_available(isal_backends[i].weft_set);
            return 1;
        }
    }
    return 0;
}

static void
isal_encode_op(void *arg)
{
    codec_ctx *c = arg;

    c->ec((int)c->d->gen.piece_size, (int)c->sh->k, c->rows, c->tbls, c->src, c->out);
}

static void
isal_decode_op(void *arg)
{
    codec_ctx *c = arg;
    int k = (int)c->sh->k;

    memcpy(c->work, c->mat, (size_t)k * (size_t)k);
    if (gf_invert_matrix(c->work, c->inv, k) != 0)
        fail("isal decode: gf_invert_matrix says the shard matrix is singular");
    ec_init_tables(k, k, c->inv, c->tbls);
    c->ec((int)c->d->gen.piece_size, k, k, c->tbls, c->src, c->out);
}

/* A recoded shard from k held ones: one random row r, then payload = r * payloads and
 * coefficients = r * coefficient vectors, with the same tables. */
static void
isal_recode_op(void *arg)
{
    codec_ctx *c = arg;
    int k = (int)c->sh->k;
    uint32_t j;

    for (j = 0; j < c->sh->n; j++) {
        weft_rng_coefs(&c->rng, c->mat, (size_t)k);
        ec_init_tables(k, 1, c->mat, c->tbls);
        c->ec((int)c->d->gen.piece_size, k, 1, c->tbls, c->src, &c->out[j]);
        c->ec(k, k, 1, c->tbls, c->coef_src, &c->coef_out[j]);
    }
}

void
isal_setup(codec_ctx *c, bench_case *bc, const char *backend, uint64_t seed)
{
    const shape *sh = c->sh;
    const shape_data *d = c->d;
    size_t k = sh->k, piece = d->gen.piece_size, i, j;

    c->ec = ec_encode_data;
    for (i = 0; i < sizeof(isal_backends) / sizeof(isal_backends[0]); i++)
        if (strcmp(backend, isal_backends[i].name) == 0)
            c->ec = isal_backends[i].ec;

    oracle_init();
    bc->ctx = c;
    bc->prep = NULL;
    c->src = bench_xalloc(k * sizeof(*c->src));
    weft_rng_seed(&c->rng, seed);
    switch (sh->op) {
    case OP_ENCODE:
        /* Systematic: the data shards are the message pieces themselves, as
         * ISA-L users keep them; only the n - k parity rows are computed. */
        c->rows = (int)(sh->systematic ? sh->n - sh->k : sh->n);
        c->mat = bench_xalloc((size_t)c->rows * k);
        for (i = 0; i < (size_t)c->rows; i++)
            weft_rng_coefs(&c->rng, c->mat + i * k, k);
        c->tbls = bench_xalloc(32 * k * (size_t)c->rows);
        ec_init_tables((int)k, c->rows, c->mat, c->tbls);
        for (i = 0; i < k; i++)
            c->src[i] = d->msg + i * piece;
        ctx_alloc_out(c, (uint32_t)c->rows, piece);
        bc->op = isal_encode_op;
        break;
    case OP_DECODE:
        c->rows = (int)k;
        c->mat = bench_xalloc(k * k);
        c->work = bench_xalloc(k * k);
        c->inv = bench_xalloc(k * k);
        c->tbls = bench_xalloc(32 * k * k);
        for (i = 0; i < k; i++) {
            uint8_t *s = held_shard(d, (uint32_t)i);

            memcpy(c->mat + i * k, s + WEFT_SHARD_HDR, k);
            c->src[i] = s + WEFT_SHARD_HDR + k;
        }
        /* Outputs land contiguously: the decoded pieces are the message. */
        c->out = bench_xalloc(k * sizeof(*c->out));
        c->out_mem = bench_xalloc(k * piece);
        for (i = 0; i < k; i++)
            c->out[i] = c->out_mem + i * piece;
        bc->op = isal_decode_op;
        break;
    case OP_RECODE:
        c->rows = 1;
        c->mat = bench_xalloc(k);
        c->tbls = bench_xalloc(32 * k);
        c->coef_src = bench_xalloc(k * sizeof(*c->coef_src));
        for (i = 0; i < k; i++) {
            uint8_t *s = held_shard(d, (uint32_t)i);

            c->coef_src[i] = s + WEFT_SHARD_HDR;
            c->src[i] = s + WEFT_SHARD_HDR + k;
        }
        ctx_alloc_out(c, sh->n, piece);
        c->coef_out = bench_xalloc(sh->n * sizeof(*c->coef_out));
        c->coef_mem = bench_xalloc((size_t)sh->n * ((k + 63) & ~(size_t)63));
        for (j = 0; j < sh->n; j++)
            c->coef_out[j] = c->coef_mem + j * ((k + 63) & ~(size_t)63);
        bc->op = isal_recode_op;
        break;
    default: fail("bad op");
    }
}

void
isal_verify(codec_ctx *c)
{
    const shape *sh = c->sh;
    size_t k = sh->k;
    char what[64];
    int r;

    switch (sh->op) {
    case OP_ENCODE:
        for (r = 0; r < c->rows; r += (c->rows > 1 ? c->rows - 1 : 1)) {
            snprintf(what, sizeof(what), "isal encode row %d", r);
            check_combination(c->d, c->mat + (size_t)r * k, c->out[r], what);
        }
        break;
    case OP_DECODE:
        if (memcmp(c->out_mem, c->d->msg, sh->msg) != 0)
            fail("isal decode: decoded message differs from the original");
        break;
    case OP_RECODE:
        check_combination(c->d, c->coef_out[sh->n - 1], c->out[sh->n - 1], "isal recoded shard");
        break;
    default: break;
    }
}

#endif /* WEFT_BENCH_HAVE_ISAL */
