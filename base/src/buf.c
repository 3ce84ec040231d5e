/* SPDX-License-Identifier: Apache-2.0 */
/* Growable, capped byte buffer (weft/buf.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "weft/buf.h"

void
weft_buf_init(weft_buf *b, void *smallbuf, size_t smallcap, size_t max)
{
    b->base = smallbuf;
    b->len = 0;
    b->cap = smallbuf ? smallcap : 0;
    b->max = max ? max : SIZE_MAX / 2;
    b->on_heap = 0;
}

void
weft_buf_free(weft_buf *b)
{
    if (b->on_heap)
        free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
    b->on_heap = 0;
}

int
weft_buf_reserve(weft_buf *b, size_t n)
{
    if (n <= b->cap - b->len)
        return 0;
    if (n > b->max || b->len > b->max - n)
        return WEFT_ETOOBIG;
    size_t need = b->len + n;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    if (cap > b->max)
        cap = b->max; /* the first block too: need <= max was checked above */
    uint8_t *p;
    if (b->on_heap) {
        p = realloc(b->base, cap);
    } else {
        p = malloc(cap);
        if (p && b->len)
            memcpy(p, b->base, b->len);
    }
    if (!p)
        return -ENOMEM;
    b->base = p;
    b->cap = cap;
    b->on_heap = 1;
    return 0;
}

int
weft_buf_append(weft_buf *b, const void *p, size_t n)
{
    int rc = weft_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

void
weft_buf_consume(weft_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}
