/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/codec.h: random linear network coding over GF(2^8).
 *
 * The field is GF(2^8) with polynomial 0x11D (x^8+x^4+x^3+x^2+1), as in
 * ISA-L and gf-complete. A message of message_len bytes is zero-padded to
 * k * piece_size and cut into k pieces; a coded shard carries a coefficient
 * vector c[0..k) and the payload sum c[i] * piece_i. Any k shards with
 * linearly independent vectors give the message back.
 *
 * Three roles:
 *  - weft_encoder: message -> coded shards (random or systematic);
 *  - weft_decoder: progressive elimination; each pushed shard is reported as
 *    innovative, non-innovative or invalid, and at rank k the message is
 *    there. A decoder is also a recoder: it emits fresh random combinations
 *    of what it holds, before it can decode;
 *  - weft_recoder: a decoder used only for recoding (same object, kept as a
 *    separate name for readers of relay code).
 *
 * Wire format of one shard (version 1, integers little-endian):
 *   0 u8 version=1 | 1 u8 field=1 | 2 u16 k | 4 u32 piece_size |
 *   8 u32 message_len | 12 k bytes coefficients | 12+k piece_size bytes payload
 *
 * Memory: encoders and decoders allocate everything at _new; no call
 * allocates per shard. Kernels accept unaligned pointers and any length.
 * Objects are not thread-safe; distinct objects may be used from distinct
 * threads. weft_init() may be called from any thread, any number of times.
 */
#ifndef WEFT_CODEC_H
#define WEFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_SHARD_VERSION 1
#define WEFT_FIELD_GF256 1
#define WEFT_SHARD_HDR 12 /* bytes before the coefficient vector */
#define WEFT_MAX_K 1024

/* ---- library set-up and kernel dispatch ------------------------------ */

/* Probe the CPU once and pick the fastest GF kernel set, honouring the
 * WEFT_GF_IMPL environment variable (ref|ssse3|avx2|avx512|gfni|gfni256|neon).
 * Idempotent and thread-safe (pthread_once); every other call runs it
 * implicitly. Returns 0, or WEFT_ENOIMPL if WEFT_GF_IMPL names a set this
 * CPU lacks or an unknown name (the automatic choice is then kept). */
WEFT_API int weft_init(void);

/* Force a kernel set by name. Returns 0, WEFT_ENOIMPL if the CPU lacks it,
 * WEFT_EINVAL for an unknown name. Not for use while other threads code. */
WEFT_NODISCARD WEFT_API int weft_gf_force(const char *name);

/* Name of the kernel set in use ("ref", "avx2", "gfni", ...). Static string. */
WEFT_API const char *weft_gf_impl_name(void);

/* Whether the named set is compiled in and supported by this CPU (1/0). */
WEFT_API int weft_gf_impl_available(const char *name);

/* All kernel-set names compiled into this build, NULL-terminated. */
WEFT_API const char *const *weft_gf_impl_list(void);

/* Comma-separated CPU features the dispatcher saw ("ssse3,avx2,..."). */
WEFT_API const char *weft_cpu_features(void);

/* ---- field arithmetic --------------------------------------------------- */

WEFT_API uint8_t weft_gf_mul(uint8_t a, uint8_t b);
/* Multiplicative inverse; weft_gf_inv(0) returns 0. */
WEFT_API uint8_t weft_gf_inv(uint8_t a);
/* a / b; b must not be 0 (returns 0 then). */
WEFT_API uint8_t weft_gf_div(uint8_t a, uint8_t b);

/* Region kernels through the dispatched set. dst and src may be the same
 * pointer; partial overlap is undefined. len may be 0.
 *   mul:    dst[x] = c * src[x]
 *   muladd: dst[x] ^= c * src[x]                                          */
WEFT_API void weft_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);
WEFT_API void weft_gf_muladd_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);

/* Fused multi-row kernel: for r < nrows,
 *   dst[r][x] = (accumulate ? dst[r][x] : 0) ^ sum_{i<nsrc} coef[r*nsrc+i] * src[i][x]
 * reading each source once per cache block for all rows. No dst may overlap
 * any src or another dst. nsrc == 0 zeroes (or keeps) the rows. */
WEFT_API void weft_gf_dot(uint8_t *const *dst, size_t nrows, const uint8_t *const *src, size_t nsrc,
                          const uint8_t *coef, size_t len, int accumulate);

/* ---- the generation and the shard format -------------------------------- */

/* What every shard of one message shares. */
typedef struct weft_gen {
    uint32_t k;           /* source pieces, 1..WEFT_MAX_K */
    uint32_t piece_size;  /* bytes per piece, >= 1 */
    uint32_t message_len; /* <= k * piece_size */
} weft_gen;

/* Check a generation's fields. Returns 0, WEFT_EK, WEFT_EPIECE or WEFT_EMSGLEN. */
WEFT_NODISCARD WEFT_API int weft_gen_check(const weft_gen *gen);

/* Default piece size for a message: ceil(len / k), rounded up to a multiple
 * of 64 when that costs under 1%, plus 64 when the result would be a
 * multiple of 4096 (pieces that far apart alias in the L1 cache). 1 for an
 * empty message. k must be >= 1. */
WEFT_API uint32_t weft_piece_size_for(size_t message_len, uint32_t k);

/* Bytes of one serialized shard: 12 + k + piece_size. */
WEFT_API size_t weft_shard_size(const weft_gen *gen);

/* A parsed shard. coefs and payload point into the parsed buffer (borrowed:
 * valid only as long as that buffer). */
typedef struct weft_shard_view {
    weft_gen gen;
    const uint8_t *coefs;   /* gen.k bytes */
    const uint8_t *payload; /* gen.piece_size bytes */
} weft_shard_view;

/* Parse and bounds-check one serialized shard of exactly len bytes.
 * Returns 0 and fills *out, or WEFT_ETRUNC (len too short for the header, or
 * len != 12 + k + piece_size), WEFT_EVERSION, WEFT_EFIELD, WEFT_EK,
 * WEFT_EPIECE, WEFT_EMSGLEN. On error *out is untouched. Never reads past
 * buf + len. */
WEFT_NODISCARD WEFT_API int weft_shard_parse(const uint8_t *buf, size_t len, weft_shard_view *out);

/* Write the 12-byte header for gen into buf (cap >= 12). Returns 12, or
 * WEFT_ENOSPC / the weft_gen_check error. */
WEFT_NODISCARD WEFT_API int weft_shard_write_header(uint8_t *buf, size_t cap, const weft_gen *gen);

/* ---- encoder ------------------------------------------------------------ */

typedef struct weft_encoder weft_encoder;

enum {
    /* The first k shards emitted are the pieces themselves (unit vectors),
     * then random combinations follow. */
    WEFT_ENC_SYSTEMATIC = 1u << 0,
    /* Borrow the message instead of copying it: msg must stay valid and
     * unchanged until weft_enc_free. Only a partial last piece is copied. */
    WEFT_ENC_BORROW = 1u << 1,
};

/* New encoder for msg[0..len). piece_size 0 picks weft_piece_size_for(len, k).
 * len must fit in 32 bits. msg may be NULL when len is 0. The message is
 * copied unless WEFT_ENC_BORROW. seed seeds the coefficient generator.
 * Returns NULL with *err set (WEFT_EK, WEFT_EMSGLEN, WEFT_ETOOBIG, -ENOMEM)
 * if err is not NULL. */
WEFT_API weft_encoder *weft_enc_new(const void *msg, size_t len, uint32_t k, uint32_t piece_size,
                                    unsigned flags, uint64_t seed, int *err);
WEFT_API void weft_enc_free(weft_encoder *enc);
WEFT_API const weft_gen *weft_enc_gen(const weft_encoder *enc);

/* Emit the next shard into out (cap >= weft_shard_size). Returns the bytes
 * written, or WEFT_ENOSPC. */
WEFT_NODISCARD WEFT_API int weft_enc_next(weft_encoder *enc, uint8_t *out, size_t cap);

/* Emit n shards in one fused pass over the message: out[j] receives shard j
 * (each cap >= weft_shard_size). Same shards, in the same order, as n calls
 * of weft_enc_next. Returns n or WEFT_ENOSPC / WEFT_EINVAL. */
WEFT_NODISCARD WEFT_API int weft_enc_batch(weft_encoder *enc, uint8_t *const *out, size_t n,
                                           size_t cap);

/* One shard as two byte ranges: head (the 12-byte header and the k
 * coefficients) followed by payload (piece_size bytes) is the serialized
 * shard, ready for writev or a scatter-gather send. */
typedef struct weft_shard_iov {
    const uint8_t *head;
    size_t head_len; /* 12 + k */
    const uint8_t *payload;
    size_t payload_len; /* piece_size */
} weft_shard_iov;

/* weft_enc_batch without copying systematic pieces: emit the next n shards,
 * the same shards in the same order (the same coefficient draws) as
 * weft_enc_batch, and describe shard j in out[j]. bufs[j] (cap bytes)
 * receives shard j's header and coefficients, out[j].head == bufs[j]; for a
 * coded shard the payload follows in bufs[j], so bufs[j] holds the whole
 * shard. For a systematic shard (unit vector; the first k shards of a
 * WEFT_ENC_SYSTEMATIC encoder) out[j].payload points at the piece inside the
 * encoder instead: into the caller's message under WEFT_ENC_BORROW (a
 * partial or absent last piece, zero-padded, is the encoder's own), else into
 * the encoder's copy; it stays valid and unchanged until weft_enc_free.
 * Either way head then payload is byte for byte what weft_enc_batch writes.
 * cap >= weft_shard_size is always enough; when every shard of the batch is
 * systematic, cap >= 12 + k is. Mixes freely with the other emitting calls.
 * Returns n, or WEFT_EINVAL / WEFT_ENOSPC before emitting anything. */
WEFT_NODISCARD WEFT_API int weft_enc_batch_iov(weft_encoder *enc, weft_shard_iov *out, size_t n,
                                               uint8_t *const *bufs, size_t cap);

/* Encode with caller-chosen coefficients (k bytes) into out; for tests,
 * benchmarks and protocols that derive vectors themselves. Returns bytes
 * written or WEFT_ENOSPC / WEFT_EZEROVEC. */
WEFT_NODISCARD WEFT_API int weft_enc_with(weft_encoder *enc, const uint8_t *coefs, uint8_t *out,
                                          size_t cap);

/* ---- decoder (and recoder) ---------------------------------------------- */

typedef struct weft_decoder weft_decoder;
typedef struct weft_decoder weft_recoder;

enum {
    WEFT_DEC_REDUNDANT = 0,  /* valid shard, linearly dependent on held ones */
    WEFT_DEC_INNOVATIVE = 1, /* rank grew by one */
};

/* New decoder for one generation; allocates k*piece_size bytes for the
 * message, 3*k*k coefficient bytes, at most 32 KiB of staging (64*k bytes
 * above k = 512) and O(k), all now. Returns NULL with *err set
 * (weft_gen_check errors, WEFT_ETOOBIG if k * piece_size does not fit in
 * memory bounds, -ENOMEM). */
WEFT_API weft_decoder *weft_dec_new(const weft_gen *gen, int *err);
WEFT_API void weft_dec_free(weft_decoder *dec);
WEFT_API const weft_gen *weft_dec_gen(const weft_decoder *dec);

/* Absorb one serialized shard. buf is only borrowed: coefficients and payload
 * are copied in, so the caller may reuse it on return. Returns
 * WEFT_DEC_INNOVATIVE, WEFT_DEC_REDUNDANT, or a parse error, WEFT_EGENERATION
 * (header differs from the decoder's generation) or WEFT_EZEROVEC. A
 * redundant or invalid shard costs no payload work and leaves the decoder
 * unchanged. */
WEFT_NODISCARD WEFT_API int weft_dec_push(weft_decoder *dec, const uint8_t *buf, size_t len);

/* The same for an already parsed shard (coefs: k bytes, payload: piece_size). */
WEFT_NODISCARD WEFT_API int weft_dec_push_parts(weft_decoder *dec, const uint8_t *coefs,
                                                const uint8_t *payload);

/* Absorb one serialized shard without copying its payload: the decoder keeps
 * a pointer into buf instead (the coefficients are still copied). Same
 * checks and returns as weft_dec_push. When the call returns
 * WEFT_DEC_INNOVATIVE without completing the decoder, buf is lent to it: the
 * caller must keep buf valid and unchanged until the push that completes the
 * decoder has returned, or until weft_dec_reset or weft_dec_free, whichever
 * comes first; weft_dec_recode reads it in the meantime. In every other case
 * (a redundant or invalid shard, an error, or the push that completes the
 * decoder) buf is not referenced once the call returns and may be reused at
 * once. The completed message lives in the decoder's own memory, like after
 * weft_dec_push. Borrowed and copied pushes mix freely on one decoder; with
 * every payload borrowed, decoding copies no payload and writes the message
 * straight from the shard buffers. */
WEFT_NODISCARD WEFT_API int weft_dec_push_borrowed(weft_decoder *dec, const uint8_t *buf,
                                                   size_t len);

/* The same for an already parsed shard: coefs (k bytes) is copied, payload
 * (piece_size bytes) is lent on the terms of weft_dec_push_borrowed. */
WEFT_NODISCARD WEFT_API int weft_dec_push_parts_borrowed(weft_decoder *dec, const uint8_t *coefs,
                                                         const uint8_t *payload);

WEFT_API uint32_t weft_dec_rank(const weft_decoder *dec);
WEFT_API int weft_dec_complete(const weft_decoder *dec);

/* The decoded message, message_len bytes, owned by the decoder and valid
 * until weft_dec_free or weft_dec_reset. NULL before rank k. *len (if not
 * NULL) receives message_len. */
WEFT_API const uint8_t *weft_dec_message(weft_decoder *dec, size_t *len);

/* Emit a fresh random combination of everything held (rank >= 1) into out
 * (cap >= weft_shard_size), coefficients from rng. Works before decoding
 * completes: this is recoding (reading any borrowed payloads held). Returns bytes written,
 * WEFT_EEMPTY or WEFT_ENOSPC. */
WEFT_NODISCARD WEFT_API int weft_dec_recode(weft_decoder *dec, weft_rng *rng, uint8_t *out,
                                            size_t cap);

/* Forget everything held, keep the generation and the memory. Buffers lent
 * by weft_dec_push_borrowed are not referenced any more. */
WEFT_API void weft_dec_reset(weft_decoder *dec);

/* Recoder spelling of the decoder calls. */
#define weft_rec_new weft_dec_new
#define weft_rec_free weft_dec_free
#define weft_rec_push weft_dec_push
#define weft_rec_push_borrowed weft_dec_push_borrowed
#define weft_rec_rank weft_dec_rank
#define weft_rec_recode weft_dec_recode

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CODEC_H */
