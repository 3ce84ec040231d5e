/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws_client.c: a small RFC 6455 WebSocket client for the proxy's delivery
 * socket (GET /api/v1/ws?client_id=ID), which pushes one text frame per
 * delivered message.
 *
 * The client only receives data: it opens the socket (random
 * Sec-WebSocket-Key, the server's Sec-WebSocket-Accept checked with SHA-1
 * and base64 from OpenSSL), reads frames with 7, 16 and 64-bit lengths,
 * joins fragmented messages, answers pings with pongs and closes politely.
 * Its own frames (pong, close) are masked with a fresh random key each, as
 * RFC 6455 requires of clients.
 *
 * The server is not trusted: masked server frames, reserved bits, unknown
 * opcodes, non-minimal or oversized lengths, fragmented or long control
 * frames, stray continuations, invalid UTF-8 in text and bad close codes
 * all end the connection with a close frame (1002, 1007 or 1009) and a
 * clear error. Messages are capped at PC_MAX_WS_MESSAGE bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pclient.h"
#include "weft/clock.h"
#include "weft/utf8.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_BUF (64u << 10)

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct pc_ws {
    int fd;
    int broken;     /* unusable: no more frames may be read or sent */
    int close_sent; /* our close frame is out */
    int close_seen; /* the server's close frame arrived */
    uint8_t *buf;   /* bytes received and not yet consumed: buf[off..have) */
    size_t off, have;
};

static int
random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Send one masked control frame (payload at most 125 bytes). */
static int
send_control(pc_ws *w, int op, const uint8_t *p, size_t len, char *err, size_t cap)
{
    uint8_t f[2 + 4 + 125];
    if (w->broken || w->close_sent || len > 125)
        return -1;
    f[0] = (uint8_t)(0x80 | op);
    f[1] = (uint8_t)(0x80 | len);
    if (random_bytes(f + 2, 4) < 0) {
        snprintf(err, cap, "no random bytes for the frame mask");
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        f[6 + i] = p[i] ^ f[2 + (i & 3)];
    int rc = weft_httpc_send_all(w->fd, f, 6 + len, weft_mono_ms() + 2000, &pc_stop, err, cap);
    if (rc < 0)
        w->broken = 1;
    else if (op == OP_CLOSE)
        w->close_sent = 1;
    return rc;
}

static int
send_close(pc_ws *w, unsigned code, const char *reason)
{
    char e[64];
    uint8_t p[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof p - 2)
        rl = sizeof p - 2;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    return send_control(w, OP_CLOSE, p, 2 + rl, e, sizeof e);
}

/* A protocol violation by the server: close with code, report, give up. */
static int
fail(pc_ws *w, unsigned code, const char *why, char *err, size_t cap)
{
    snprintf(err, cap, "WebSocket protocol error from the server: %s", why);
    send_close(w, code, why);
    w->broken = 1;
    return -1;
}

/* Read exactly n bytes into dst (NULL: discard), before deadline_ms. */
static int
read_exact(pc_ws *w, uint8_t *dst, size_t n, int64_t deadline_ms, char *err, size_t cap)
{
    while (n > 0) {
        if (w->off < w->have) {
            size_t k = w->have - w->off < n ? w->have - w->off : n;
            if (dst) {
                memcpy(dst, w->buf + w->off, k);
                dst += k;
            }
            w->off += k;
            n -= k;
            continue;
        }
        w->off = w->have = 0;
        ssize_t r = recv(w->fd, w->buf, WS_BUF, 0);
        if (r > 0) {
            w->have = (size_t)r;
            continue;
        }
        if (r == 0) {
            snprintf(err, cap, "the server closed the connection without a close frame");
            w->broken = 1;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, cap, "receiving: %s", strerror(errno));
            w->broken = 1;
            return -1;
        }
        int rc = weft_httpc_wait_readable(w->fd, deadline_ms, &pc_stop, err, cap);
        if (rc == -ETIMEDOUT)
            snprintf(err, cap, "timed out in the middle of a WebSocket frame");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
close_code_ok(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

/* A control frame's payload has been read: act on it. 0 to go on, or the
 * return value of pc_ws_recv. */
static int
on_control(pc_ws *w, int op, const uint8_t *p, size_t len, char *err, size_t cap)
{
    if (op == OP_PING)
        return send_control(w, OP_PONG, p, len, err, cap) < 0 && w->broken ? -1 : 0;
    if (op == OP_PONG)
        return 0;
    /* OP_CLOSE */
    unsigned code = 1005; /* "no status received" */
    if (len == 1)
        return fail(w, 1002, "close frame with a 1-byte payload", err, cap);
    if (len >= 2) {
        code = (unsigned)p[0] << 8 | p[1];
        if (!close_code_ok(code))
            return fail(w, 1002, "close frame with an invalid status code", err, cap);
        if (!weft_utf8_valid(p + 2, len - 2))
            return fail(w, 1007, "close reason is not valid UTF-8", err, cap);
    }
    w->close_seen = 1;
    char reason[200];
    pc_printable(len > 2 ? p + 2 : (const uint8_t *)"", len > 2 ? len - 2 : 0, 123, reason,
                 sizeof reason);
    snprintf(err, cap, "the server closed the WebSocket (code %u%s%s)", code, reason[0] ? ": " : "",
             reason);
    if (!w->close_sent)
        send_close(w, code == 1005 ? 1000 : code, NULL);
    w->broken = 1; /* nothing more will be read */
    return 0;
}

int
pc_ws_recv(pc_ws *w, uint8_t **msg, size_t *len, int *kind, int64_t timeout_ms, char *err,
           size_t cap)
{
    *msg = NULL;
    *len = 0;
    if (w->broken) {
        snprintf(err, cap, "the WebSocket is closed");
        return -1;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : weft_mono_ms() + timeout_ms;
    if (w->off == w->have) {
        int wr = weft_httpc_wait_readable(w->fd, deadline, &pc_stop, err,
                                          cap); /* clean timeout: nothing read */
        if (wr < 0) {
            if (wr == -ETIMEDOUT)
                snprintf(err, cap, "no WebSocket message in time");
            return wr;
        }
    }
    uint8_t *m = NULL;
    size_t total = 0;
    int mop = -1; /* opcode of the message being assembled */
    int rc;
    for (;;) {
        uint8_t h[8];
        rc = read_exact(w, h, 2, deadline, err, cap);
        if (rc < 0)
            goto broken;
        int fin = h[0] & 0x80, op = h[0] & 0x0f;
        uint64_t n = h[1] & 0x7f;
        if (h[0] & 0x70) {
            rc = fail(w, 1002, "reserved bits set (no extension was negotiated)", err, cap);
            goto broken;
        }
        if (h[1] & 0x80) {
            rc = fail(w, 1002, "masked frame (servers must not mask)", err, cap);
            goto broken;
        }
        if (n == 126) {
            if ((rc = read_exact(w, h, 2, deadline, err, cap)) < 0)
                goto broken;
            n = (uint64_t)h[0] << 8 | h[1];
            if (n < 126) {
                rc = fail(w, 1002, "16-bit length used for a short frame", err, cap);
                goto broken;
            }
        } else if (n == 127) {
            if ((rc = read_exact(w, h, 8, deadline, err, cap)) < 0)
                goto broken;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | h[i];
            if (n >> 63) {
                rc = fail(w, 1002, "64-bit length with the top bit set", err, cap);
                goto broken;
            }
            if (n <= 0xffff) {
                rc = fail(w, 1002, "64-bit length used for a short frame", err, cap);
                goto broken;
            }
        }
        if (op & 8) {
            uint8_t p[125];
            if (op != OP_CLOSE && op != OP_PING && op != OP_PONG) {
                rc = fail(w, 1002, "unknown control opcode", err, cap);
                goto broken;
            }
            if (!fin || n > 125) {
                rc = fail(w, 1002, "fragmented or over-long control frame", err, cap);
                goto broken;
            }
            if ((rc = read_exact(w, p, (size_t)n, deadline, err, cap)) < 0)
                goto broken;
            rc = on_control(w, op, p, (size_t)n, err, cap);
            if (rc < 0 || op == OP_CLOSE) {
                free(m);
                return rc;
            }
            continue;
        }
        if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY) {
            rc = fail(w, 1002, "unknown data opcode", err, cap);
            goto broken;
        }
        if (op == OP_CONT && mop < 0) {
            rc = fail(w, 1002, "continuation frame outside a fragmented message", err, cap);
            goto broken;
        }
        if (op != OP_CONT && mop >= 0) {
            rc = fail(w, 1002, "new message inside a fragmented one", err, cap);
            goto broken;
        }
        if (op != OP_CONT)
            mop = op;
        if (n > PC_MAX_WS_MESSAGE - total) {
            rc = fail(w, 1009, "message over the size limit", err, cap);
            goto broken;
        }
        uint8_t *nm = realloc(m, total + (size_t)n + 1);
        if (!nm) {
            snprintf(err, cap, "out of memory");
            rc = -1;
            w->broken = 1;
            goto broken;
        }
        m = nm;
        if ((rc = read_exact(w, m + total, (size_t)n, deadline, err, cap)) < 0)
            goto broken;
        total += (size_t)n;
        if (!fin)
            continue;
        if (mop == OP_TEXT && !weft_utf8_valid(m, total)) {
            rc = fail(w, 1007, "text message is not valid UTF-8", err, cap);
            goto broken;
        }
        m[total] = 0;
        *msg = m;
        *len = total;
        *kind = mop == OP_TEXT ? PC_WS_TEXT : PC_WS_BINARY;
        return 1;
    }
broken:
    /* Part of a frame may have been consumed: the stream cannot resync. */
    w->broken = 1;
    free(m);
    return rc;
}

/* Read the rest of a refusal's body (at most a few KiB) for the error. */
static void
refusal_body(pc_ws *w, const weft_httpc_head *h, int64_t deadline, char *out, size_t cap)
{
    char e[64];
    size_t want = h->content_length > 0 ? (size_t)h->content_length : 0;
    if (want > 2048)
        want = 2048;
    uint8_t b[2048];
    size_t got = 0;
    while (got < want && read_exact(w, b + got, 1, deadline, e, sizeof e) == 0)
        got++;
    pc_printable(b, got, 300, out, cap);
}

pc_ws *
pc_ws_connect(const char *hostport, const char *path, const char *token, int *rc, char *err,
              size_t cap)
{
    char host[256], port[8];
    *rc = -1;
    if (weft_httpc_split_hostport(hostport, host, sizeof host, port, sizeof port, err, cap) < 0)
        return NULL;
    if (token)
        for (const char *c = token; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                snprintf(err, cap, "the token contains control characters");
                return NULL;
            }
    pc_ws *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(WS_BUF))) {
        free(w);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    int64_t deadline = weft_mono_ms() + PC_TIMEOUT_MS;
    w->fd = weft_httpc_connect(host, port, deadline, &pc_stop, err, cap);
    if (w->fd < 0) {
        *rc = w->fd;
        free(w->buf);
        free(w);
        return NULL;
    }
    uint8_t nonce[16];
    char key[32], expect[64], got[128];
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    weft_httpc_head h = {0};
    uint8_t *extra = NULL;
    size_t extra_len = 0;
    char *q = NULL;
    if (random_bytes(nonce, sizeof nonce) < 0) {
        snprintf(err, cap, "no random bytes for Sec-WebSocket-Key");
        goto fail;
    }
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
    char ka[sizeof key + sizeof WS_GUID];
    snprintf(ka, sizeof ka, "%s%s", key, WS_GUID);
    if (!EVP_Digest(ka, strlen(ka), digest, &dlen, EVP_sha1(), NULL) || dlen != 20) {
        snprintf(err, cap, "SHA-1 unavailable");
        goto fail;
    }
    EVP_EncodeBlock((unsigned char *)expect, digest, 20);
    size_t qcap = strlen(path) + strlen(hostport) + (token ? strlen(token) : 0) + 300;
    q = malloc(qcap);
    if (!q) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    int n = snprintf(q, qcap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "User-Agent: weft-proxy-client/%s\r\n",
                     path, hostport, key, WEFT_VERSION);
    if (token)
        n += snprintf(q + n, qcap - (size_t)n, "Authorization: Bearer %s\r\n", token);
    n += snprintf(q + n, qcap - (size_t)n, "\r\n");
    if ((*rc = weft_httpc_send_all(w->fd, q, (size_t)n, deadline, &pc_stop, err, cap)) < 0)
        goto fail;
    if ((*rc = weft_httpc_read_head(w->fd, deadline, 0, &pc_stop, &h, &extra, &extra_len, err,
                                    cap)) < 0)
        goto fail;
    *rc = -1;
    if (extra_len > WS_BUF) {
        snprintf(err, cap, "too many bytes after the WebSocket handshake");
        goto fail;
    }
    if (extra_len)
        memcpy(w->buf, extra, extra_len);
    w->have = extra_len;
    if (h.status != 101) {
        char body[400];
        refusal_body(w, &h, deadline, body, sizeof body);
        snprintf(err, cap, "WebSocket refused: HTTP %d%s%s", h.status, body[0] ? ": " : "", body);
        goto fail;
    }
    if (weft_httpc_header(&h, "Upgrade", got, sizeof got) < 0 || strcasecmp(got, "websocket")) {
        snprintf(err, cap, "WebSocket handshake: missing or wrong Upgrade header");
        goto fail;
    }
    int conn_ok = 0;
    if (weft_httpc_header(&h, "Connection", got, sizeof got) > 0)
        for (char *save = NULL, *t = strtok_r(got, ", \t", &save); t;
             t = strtok_r(NULL, ", \t", &save))
            conn_ok |= strcasecmp(t, "upgrade") == 0;
    if (!conn_ok) {
        snprintf(err, cap, "WebSocket handshake: Connection header lacks \"Upgrade\"");
        goto fail;
    }
    if (weft_httpc_header(&h, "Sec-WebSocket-Accept", got, sizeof got) < 0 || strcmp(got, expect)) {
        snprintf(err, cap, "WebSocket handshake: missing or wrong Sec-WebSocket-Accept");
        goto fail;
    }
    if (weft_httpc_header(&h, "Sec-WebSocket-Extensions", got, sizeof got) != -ENOENT ||
        weft_httpc_header(&h, "Sec-WebSocket-Protocol", got, sizeof got) != -ENOENT) {
        snprintf(err, cap,
                 "WebSocket handshake: server chose an extension or subprotocol "
                 "that was not offered");
        goto fail;
    }
    weft_httpc_head_free(&h);
    free(extra);
    free(q);
    *rc = 0;
    return w;
fail:
    weft_httpc_head_free(&h);
    free(extra);
    free(q);
    close(w->fd);
    free(w->buf);
    free(w);
    return NULL;
}

void
pc_ws_close(pc_ws *w, unsigned code)
{
    if (!w)
        return;
    if (!w->broken && !w->close_sent && send_close(w, code, NULL) == 0) {
        /* Wait briefly for the server's close, dropping anything before it. */
        int64_t deadline = weft_mono_ms() + 1000;
        char e[PC_ERRLEN];
        while (!w->broken && weft_mono_ms() < deadline) {
            uint8_t *m;
            size_t len;
            int kind;
            sig_atomic_t was = pc_stop;
            pc_stop = 0; /* this last wait is bounded: let it run after Ctrl-C */
            int rc = pc_ws_recv(w, &m, &len, &kind, deadline - weft_mono_ms(), e, sizeof e);
            pc_stop = was || pc_stop;
            free(m);
            if (rc <= 0)
                break;
        }
    }
    shutdown(w->fd, SHUT_RDWR);
    close(w->fd);
    free(w->buf);
    free(w);
}
