/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_httpc.h: a small blocking HTTP/1.1 client over plain TCP, taken
 * out of weft-proxy-client so that every blocking HTTP user of weft shares
 * one: one request per connection, deadlines on every wait, strict limits
 * on what the server may send, a one-line reason for every failure.
 */
#ifndef WEFT_SVC_HTTPC_H
#define WEFT_SVC_HTTPC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_HTTPC_TIMEOUT_MS 10000     /* connect, request and answer */
#define WEFT_HTTPC_POLL_MS 200          /* how often blocked waits look at *stop */
#define WEFT_HTTPC_MAX_HEAD (16u << 10) /* response head (status line and headers) */
#define WEFT_HTTPC_MAX_BODY (16u << 20) /* response body */

/* "host:port", "[v6]:port", optionally prefixed with "http://" (or
 * "ws://"); a trailing "/" is tolerated. Returns 0 or -1 with err filled.
 * host gets the name without brackets. */
WEFT_API int weft_httpc_split_hostport(const char *in, char *host, size_t hcap, char *port,
                                       size_t pcap, char *err, size_t cap);

/* Connect to host:port before deadline_ms (a weft_mono_ms() value). Returns
 * the socket (O_NONBLOCK), -EINTR, -ETIMEDOUT or -1; err filled. */
WEFT_API int weft_httpc_connect(const char *host, const char *port, int64_t deadline_ms,
                                const volatile sig_atomic_t *stop, char *err, size_t cap);

/* Write all of p before deadline_ms (< 0: none). 0, -EINTR, -ETIMEDOUT or
 * -1 (err filled). */
WEFT_API int weft_httpc_send_all(int fd, const void *p, size_t len, int64_t deadline_ms,
                                 const volatile sig_atomic_t *stop, char *err, size_t cap);

/* Wait for fd to be readable before deadline_ms (< 0: forever), in slices
 * watching *stop. 1 readable, -EINTR, -ETIMEDOUT, -1. */
WEFT_API int weft_httpc_wait_readable(int fd, int64_t deadline_ms,
                                      const volatile sig_atomic_t *stop, char *err, size_t cap);

/* A parsed response head. */
typedef struct weft_httpc_head {
    int status;               /* 100..599 */
    long long content_length; /* -1 when absent */
    int chunked;
    char *raw; /* the head text, NUL-terminated (malloc'd) */
    size_t raw_len;
} weft_httpc_head;

/* Read a response head from fd into *h; bytes read past it go to *extra /
 * *extra_len (malloc'd, may be NULL). Returns 0, -EINTR, -ETIMEDOUT or -1. */
WEFT_API int weft_httpc_read_head(int fd, int64_t deadline_ms, const volatile sig_atomic_t *stop,
                                  weft_httpc_head *h, uint8_t **extra, size_t *extra_len, char *err,
                                  size_t cap);
WEFT_API void weft_httpc_head_free(weft_httpc_head *h);
/* Value of header name (case-insensitive) in the head, copied into out
 * without surrounding blanks. Returns its length, or -1 when absent,
 * -2 when repeated, -3 when longer than cap - 1. */
WEFT_API int weft_httpc_header(const weft_httpc_head *h, const char *name, char *out, size_t cap);

/* A complete answer. */
typedef struct weft_httpc_resp {
    int status;
    char *body; /* NUL-terminated (malloc'd) */
    size_t body_len;
} weft_httpc_resp;

/* One request on a fresh connection ("Connection: close"). Waits at most
 * WEFT_HTTPC_TIMEOUT_MS in all. Returns 0 with *r filled (any status),
 * -EINTR, -ETIMEDOUT or -1; err filled. */
WEFT_API int weft_httpc_request(const char *hostport, const char *method, const char *path,
                                const char *token, const char *json, const char *user_agent,
                                const volatile sig_atomic_t *stop, weft_httpc_resp *r, char *err,
                                size_t cap);
WEFT_API void weft_httpc_resp_free(weft_httpc_resp *r);

#ifdef __cplusplus
}
#endif
#endif
