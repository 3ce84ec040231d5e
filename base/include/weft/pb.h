/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/pb.h: unsigned varints and a minimal, strict protobuf reader/writer
 * for the libp2p messages (keys, Noise payload, identify, gossipsub RPCs).
 *
 * Reader rules: varints longer than 10 bytes or overflowing 64 bits, length
 * prefixes past the end, field number 0 and group wire types (3, 4) are
 * errors; unknown fields are skipped by the caller with weft_pb_skip (done
 * implicitly by weft_pb_next). Nothing is copied: byte fields point into
 * the input.
 */
#ifndef WEFT_PB_H
#define WEFT_PB_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_UVARINT_MAX 10

/* Decode a uvarint from p[0..len). Returns bytes used (1..10), 0 if more
 * bytes are needed, WEFT_EPROTO if malformed (too long, overflow, or a
 * non-minimal encoding when minimal is set). */
WEFT_API int weft_uvarint_get(const uint8_t *p, size_t len, uint64_t *v, int minimal);
/* Encode v into out (>= 10 bytes). Returns bytes written. */
WEFT_API size_t weft_uvarint_put(uint8_t *out, uint64_t v);
WEFT_API size_t weft_uvarint_len(uint64_t v);

enum { WEFT_PB_VARINT = 0, WEFT_PB_I64 = 1, WEFT_PB_LEN = 2, WEFT_PB_I32 = 5 };

typedef struct weft_pb_field {
    uint32_t num;
    int wire;
    uint64_t u;          /* VARINT, I64, I32 */
    const uint8_t *data; /* LEN */
    size_t len;          /* LEN */
} weft_pb_field;

typedef struct weft_pb_reader {
    const uint8_t *p, *end;
} weft_pb_reader;

static inline void
weft_pb_reader_init(weft_pb_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
}

/* Next field. Returns 1 with *f filled, 0 at a clean end, WEFT_EPROTO. */
WEFT_NODISCARD WEFT_API int weft_pb_next(weft_pb_reader *r, weft_pb_field *f);

/* The first of the given length-delimited fields (string fields: proto3
 * strings are C strings once decoded by protobuf-c, which would cut them at
 * a NUL) whose bytes hold a NUL, at the top level of the message b[0..n).
 * Returns its field number, 0 when none does, WEFT_EPROTO when b is not a
 * message. */
WEFT_NODISCARD WEFT_API int weft_pb_find_nul(const uint8_t *b, size_t n, const uint32_t *fields,
                                             size_t nfields);

/* Writers append to b; they return 0 or the weft_buf error. */
WEFT_NODISCARD WEFT_API int weft_pb_put_varint(weft_buf *b, uint32_t num, uint64_t v);
WEFT_NODISCARD WEFT_API int weft_pb_put_bytes(weft_buf *b, uint32_t num, const void *p, size_t n);
WEFT_NODISCARD WEFT_API int weft_pb_put_str(weft_buf *b, uint32_t num, const char *s);
/* A length-prefixed frame: uvarint(n) || p. */
WEFT_NODISCARD WEFT_API int weft_put_lp(weft_buf *b, const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
