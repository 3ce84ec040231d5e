/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebSocket (RFC 6455) frame codec: server frame encoding, client frame
 * header decoding and unmasking, UTF-8 and close-code validation, and the
 * handshake's key check and accept value. No I/O and no state, so it can be
 * tested and fuzzed on its own; ws.c applies the rules that need the
 * connection's state (continuations, message size).
 */
#include <string.h>

#include <openssl/evp.h>

#include "weft/encoding.h"
#include "ws_priv.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws_frame *
ws_frame_new(int op, const void *data, size_t len)
{
    size_t hl = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    struct ws_frame *f;

    if (len > SIZE_MAX / 2)
        return NULL;
    f = malloc(sizeof(*f) + hl + len);
    if (f == NULL)
        return NULL;
    f->refs = 1;
    f->len = hl + len;
    f->counted = op == WS_OP_TEXT || op == WS_OP_BINARY ? len + WS_FRAME_CHARGE : 0;
    f->bytes[0] = (uint8_t)(0x80 | op); /* FIN, no RSV, never masked */
    if (hl == 2) {
        f->bytes[1] = (uint8_t)len;
    } else if (hl == 4) {
        f->bytes[1] = 126;
        f->bytes[2] = (uint8_t)(len >> 8);
        f->bytes[3] = (uint8_t)len;
    } else {
        f->bytes[1] = 127;
        for (int i = 0; i < 8; i++)
            f->bytes[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (len != 0)
        memcpy(f->bytes + hl, data, len);
    return f;
}

struct ws_frame *
ws_frame_close(int code, const char *reason)
{
    uint8_t p[2 + WS_MAX_REASON];
    size_t n = reason != NULL ? strlen(reason) : 0;

    if (code == 0)
        return ws_frame_new(WS_OP_CLOSE, NULL, 0);
    if (n > WS_MAX_REASON) {
        n = WS_MAX_REASON;
        while (n != 0 && ((uint8_t)reason[n] & 0xc0) == 0x80)
            n--; /* do not split a character */
    }
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (n != 0)
        memcpy(p + 2, reason, n);
    return ws_frame_new(WS_OP_CLOSE, p, 2 + n);
}

void
ws_frame_unref(struct ws_frame *f)
{
    if (--f->refs == 0)
        free(f);
}

int
ws_parse_header(const uint8_t *p, size_t avail, struct ws_hdr *h)
{
    size_t hl = 2;

    if (avail < 2)
        return 0;
    h->fin = (p[0] & 0x80) != 0;
    h->op = p[0] & 0x0f;
    h->len = p[1] & 0x7f;
    if ((p[0] & 0x70) != 0 || (p[1] & 0x80) == 0) /* RSV without extensions; unmasked */
        return -WEFT_WS_PROTOCOL_ERROR;
    switch (h->op) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY: break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!h->fin || h->len > 125)
            return -WEFT_WS_PROTOCOL_ERROR;
        break;
    default: return -WEFT_WS_PROTOCOL_ERROR;
    }
    if (h->len == 126) {
        if (avail < 4)
            return 0;
        h->len = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
    } else if (h->len == 127) {
        if (avail < 10)
            return 0;
        if ((p[2] & 0x80) != 0)
            return -WEFT_WS_PROTOCOL_ERROR;
        h->len = 0;
        for (int i = 0; i < 8; i++)
            h->len = h->len << 8 | p[2 + i];
        hl = 10;
    }
    if (avail < hl + 4)
        return 0;
    h->key = p + hl;
    return (int)(hl + 4);
}

void
ws_unmask(uint8_t *p, size_t n, const uint8_t key[4])
{
    uint8_t k[4];
    memcpy(k, key, 4);
    for (size_t i = 0; i < n; i++)
        p[i] ^= k[i & 3];
}

int
ws_close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int
ws_key_valid(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return 0;
    }
    return 1;
}

/* base64(SHA-1(key || GUID)) */
int
ws_make_accept(const char *key, char out[29])
{
    char buf[24 + sizeof(WS_GUID)];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(buf, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    return weft_base64_encode(md, 20, out, 29) == 28 ? 0 : -1;
}
