/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_codec.h: private to `weft-bench codec`, shared by bench_codec.c (the
 * oracle, per-shape inputs, the weft backends, one measurement),
 * bench_codec_isal.c (the ISA-L backend) and bench_codec_grid.c (options,
 * the --grid sweep, output, --plot). It holds the options, a shape and its
 * inputs, one result, what one (shape, backend) measurement owns, the fatal
 * error exit, and the functions that cross between those files.
 */
#ifndef WEFT_BENCH_CODEC_H
#define WEFT_BENCH_CODEC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "weft/codec.h"

enum codec_op { OP_ENCODE, OP_DECODE, OP_RECODE, OP_COUNT };

/* How weft runs an op: through the copying calls (every op), the borrowed
 * push (decode) or the shard views (encode). ISA-L rows are VAR_IN_PLACE:
 * ISA-L reads its inputs where they are. */
enum codec_variant { VAR_COPY, VAR_BORROWED, VAR_IOV, VAR_IN_PLACE, VAR_COUNT };

typedef struct codec_opts {
    unsigned ops;      /* bit per enum codec_op */
    unsigned variants; /* bit per enum codec_variant; 0: each op's default set */
    uint32_t k;        /* 0: unset (grid: all of grid_k) */
    uint32_t n;        /* 0: the op's default */
    uint64_t msg;      /* 0: unset (grid: all of grid_msg) */
    const char *backend_arg;
    int systematic;
    int json;
    int cold;
    int cpu_time; /* --cpu-time: thread CPU clock */
    int grid;
    const char *plot;
    unsigned runs;
    double min_ms;
    uint64_t seed;
} codec_opts;

typedef struct shape {
    enum codec_op op;
    uint32_t k;
    uint32_t n; /* shards produced per op (decode: k consumed) */
    uint32_t msg;
    int systematic; /* encode only */
} shape;

/* Inputs shared by all backends for one shape. */
typedef struct shape_data {
    weft_gen gen;
    size_t shard_size;
    size_t stride;     /* shard_size rounded up to 64 */
    size_t padded;     /* k * piece_size */
    uint8_t *msg;      /* padded bytes: the message, zero padding, i.e. the k pieces */
    uint8_t *held_mem; /* decode/recode: k innovative random shards, serialized */
} shape_data;

typedef struct codec_result {
    shape sh;
    enum codec_variant variant;
    uint32_t piece;
    char backend[24];
    bench_stats st;
    double gbps, min_gbps, max_gbps, read_gbps;
} codec_result;

/* Everything one (shape, backend) measurement owns. Weft backends use the
 * first group, ISA-L the second. */
typedef struct codec_ctx {
    const shape *sh;
    const shape_data *d;
    enum codec_variant variant;
    uint8_t **out; /* n output buffers (weft: serialized shards) */
    uint8_t *out_mem;
    /* weft */
    weft_shard_iov *iov; /* encode, VAR_IOV: the n shards as views */
    weft_encoder *enc;
    weft_decoder *dec;
    weft_rng rng;
    uint64_t enc_seed;
    unsigned enc_flags;
    const uint8_t *decoded;
    size_t decoded_len;
    /* ISA-L */
    void (*ec)(int len, int k, int rows, unsigned char *tbls, unsigned char **src,
               unsigned char **out); /* ec_encode_data or one ISA's form of it */
    int rows;                        /* rows of the coding matrix given to ec_encode_data */
    uint8_t *mat;                    /* rows x k (decode: the k x k shard coefficient matrix) */
    uint8_t *work;                   /* decode: copy of mat, destroyed by gf_invert_matrix */
    uint8_t *inv;                    /* decode: inverse */
    uint8_t *tbls;                   /* 32 * k * rows */
    uint8_t **src;                   /* k source pointers */
    uint8_t **coef_src;              /* recode: k coefficient vectors of the held shards */
    uint8_t **coef_out;              /* recode: n output coefficient vectors */
    uint8_t *coef_mem;
} codec_ctx;

/* ---- shared by the three files ------------------------------------------------- */

/* Print "weft-bench codec: FAILED: ..." on stderr and abort. */
_Noreturn static inline void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "weft-bench codec: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

/* Held shard i of a decode/recode shape, serialized. */
static inline uint8_t *
held_shard(const shape_data *d, uint32_t i)
{
    return d->held_mem + (size_t)i * d->stride;
}

/* bench_codec.c */

/* JSON and table names of enum codec_variant. */
extern const char *const variant_names[VAR_COUNT];
/* Fill the scalar oracle's product table (once). */
void oracle_init(void);
/* Abort unless payload == sum_i coefs[i] * piece_i of the shape's message. */
void check_combination(const shape_data *d, const uint8_t *coefs, const uint8_t *payload,
                       const char *what);
/* The message of sh and, for decode and recode, k innovative shards. */
void data_init(shape_data *d, const shape *sh, uint64_t seed);
void data_free(shape_data *d);
/* n output buffers of size bytes each, 64-byte aligned. */
void ctx_alloc_out(codec_ctx *c, uint32_t n, size_t size);
/* Measure sh on one backend into *res, a weft backend through variant var
 * (ISA-L ignores it and reports VAR_IN_PLACE). Returns 0, or 1 if the
 * backend has nothing to do for this shape (ISA-L systematic with n <= k). */
int measure_one(const shape *sh, const shape_data *d, const char *backend, enum codec_variant var,
                const codec_opts *o, codec_result *res);

#ifdef WEFT_BENCH_HAVE_ISAL
/* bench_codec_isal.c */

/* Build the ISA-L matrix, tables and buffers for c->sh; point bc at the op.
 * backend is "isal" (ISA-L's own dispatch) or "isal-sse", "isal-avx2",
 * "isal-avx512" (that ISA's ec_encode_data, called directly). */
void isal_setup(codec_ctx *c, bench_case *bc, const char *backend, uint64_t seed);
/* Whether backend names an ISA-L backend; *ok says whether this CPU runs it. */
int isal_backend(const char *backend, int *ok);
/* Abort unless the last op's output is right. */
void isal_verify(codec_ctx *c);
#endif

#endif
