/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/buf.h: a growable byte buffer with an optional inline start and a
 * hard cap, for protocol output (frames, protobufs). Every growth checks the
 * cap, so a peer can never make a buffer grow without bound.
 *
 * Ownership: the buffer owns its heap storage (freed by weft_buf_free); the
 * inline storage, if any, belongs to the caller and must outlive the buffer.
 */
#ifndef WEFT_BUF_H
#define WEFT_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_buf {
    uint8_t *base;
    size_t len;
    size_t cap;
    size_t max;  /* growth limit in bytes; 0 = SIZE_MAX / 2 */
    int on_heap; /* base was allocated by the buffer */
} weft_buf;

/* Start empty; smallbuf (may be NULL) of smallcap bytes is used first. */
WEFT_API void weft_buf_init(weft_buf *b, void *smallbuf, size_t smallcap, size_t max);
WEFT_API void weft_buf_free(weft_buf *b);
/* Make room for n more bytes. Returns 0, WEFT_ETOOBIG past max, -ENOMEM. */
WEFT_NODISCARD WEFT_API int weft_buf_reserve(weft_buf *b, size_t n);
WEFT_NODISCARD WEFT_API int weft_buf_append(weft_buf *b, const void *p, size_t n);
/* Drop the first n bytes (n <= len). */
WEFT_API void weft_buf_consume(weft_buf *b, size_t n);
static inline void
weft_buf_reset(weft_buf *b)
{
    b->len = 0;
}

#ifdef __cplusplus
}
#endif
#endif
