/* SPDX-License-Identifier: Apache-2.0 */
/* Unsigned varints and a strict protobuf field reader/writer (weft/pb.h). */
#include <string.h>

#include "weft/pb.h"

int
weft_uvarint_get(const uint8_t *p, size_t len, uint64_t *v, int minimal)
{
    uint64_t x = 0;
    for (size_t i = 0; i < WEFT_UVARINT_MAX; i++) {
        if (i == len)
            return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return WEFT_EPROTO; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (minimal && i > 0 && b == 0)
                return WEFT_EPROTO; /* trailing zero group: not minimal */
            *v = x;
            return (int)i + 1;
        }
    }
    return WEFT_EPROTO;
}

size_t
weft_uvarint_put(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

size_t
weft_uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int
weft_pb_next(weft_pb_reader *r, weft_pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    int n = weft_uvarint_get(r->p, (size_t)(r->end - r->p), &key, 0);
    if (n <= 0)
        return WEFT_EPROTO;
    r->p += n;
    uint64_t num = key >> 3;
    if (num == 0 || num > 0x1fffffff)
        return WEFT_EPROTO;
    f->num = (uint32_t)num;
    f->wire = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->u = 0;
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case WEFT_PB_VARINT:
        n = weft_uvarint_get(r->p, left, &f->u, 0);
        if (n <= 0)
            return WEFT_EPROTO;
        r->p += n;
        return 1;
    case WEFT_PB_I64:
        if (left < 8)
            return WEFT_EPROTO;
        for (int i = 7; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 8;
        return 1;
    case WEFT_PB_I32:
        if (left < 4)
            return WEFT_EPROTO;
        for (int i = 3; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 4;
        return 1;
    case WEFT_PB_LEN: {
        uint64_t len;
        n = weft_uvarint_get(r->p, left, &len, 0);
        if (n <= 0 || len > left - (size_t)n)
            return WEFT_EPROTO;
        r->p += n;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: return WEFT_EPROTO; /* groups (3, 4) and reserved types */
    }
}

int
weft_pb_put_varint(weft_buf *b, uint32_t num, uint64_t v)
{
    uint8_t tmp[2 * WEFT_UVARINT_MAX];
    size_t n = weft_uvarint_put(tmp, ((uint64_t)num << 3) | WEFT_PB_VARINT);
    n += weft_uvarint_put(tmp + n, v);
    return weft_buf_append(b, tmp, n);
}

int
weft_pb_put_bytes(weft_buf *b, uint32_t num, const void *p, size_t len)
{
    uint8_t tmp[2 * WEFT_UVARINT_MAX];
    size_t n = weft_uvarint_put(tmp, ((uint64_t)num << 3) | WEFT_PB_LEN);
    n += weft_uvarint_put(tmp + n, len);
    int rc = weft_buf_reserve(b, n + len);
    if (rc < 0)
        return rc;
    memcpy(b->base + b->len, tmp, n);
    if (len)
        memcpy(b->base + b->len + n, p, len);
    b->len += n + len;
    return 0;
}

int
weft_pb_put_str(weft_buf *b, uint32_t num, const char *s)
{
    return weft_pb_put_bytes(b, num, s, strlen(s));
}

int
weft_put_lp(weft_buf *b, const void *p, size_t len)
{
    uint8_t tmp[WEFT_UVARINT_MAX];
    size_t n = weft_uvarint_put(tmp, len);
    int rc = weft_buf_reserve(b, n + len);
    if (rc < 0)
        return rc;
    memcpy(b->base + b->len, tmp, n);
    if (len)
        memcpy(b->base + b->len + n, p, len);
    b->len += n + len;
    return 0;
}

int
weft_pb_find_nul(const uint8_t *b, size_t n, const uint32_t *fields, size_t nfields)
{
    weft_pb_reader r;
    weft_pb_reader_init(&r, b, n);
    weft_pb_field f;
    int rc;
    while ((rc = weft_pb_next(&r, &f)) == 1) {
        if (f.wire != WEFT_PB_LEN || !memchr(f.data, 0, f.len))
            continue;
        for (size_t i = 0; i < nfields; i++)
            if (fields[i] == f.num)
                return (int)f.num;
    }
    return rc < 0 ? rc : 0;
}
