/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_httpc.h: the one blocking HTTP/1.1 client of weft, over plain
 * TCP. svc_auth fetches a JWKS with it (weft_httpc_get), weft-proxy-client
 * sends its REST requests with it (weft_httpc_request) and builds its
 * WebSocket handshake from the parts (connect, send, read a response head,
 * keep the socket).
 *
 * Scope: one request per connection, sent with "Connection: close"; no
 * keep-alive, no redirects (a 3xx is an answer like any other), no proxy,
 * no TLS: http:// only, an https:// URL is refused with WEFT_ENOTSUP.
 *
 * Deadlines: every call that can block takes a deadline, an absolute time
 * on the weft_mono_ms() clock (negative: none), and fails with -ETIMEDOUT
 * once it has passed. weft_httpc_request puts connect, send and receive
 * under one deadline, timeout_ms after the call. Name resolution is
 * getaddrinfo's and is not bounded by it.
 *
 * Stop flag: a call given stop != NULL looks at *stop at least every
 * WEFT_HTTPC_POLL_MS milliseconds and fails with -EINTR once it is
 * non-zero (a flag set by a signal handler, say). NULL: never stopped.
 *
 * Limits on what the server sends: a response head (status line and
 * headers) of at most max_head bytes, a body of at most max_body bytes;
 * either over is WEFT_ETOOBIG. The status line must be "HTTP/1.0" or
 * "HTTP/1.1", a space and three digits; header lines must be "name:
 * value" with a token for the name; bare CR, bare LF and NUL are refused,
 * as are two different Content-Length values (all WEFT_EPROTO). Interim
 * 1xx answers other than 101 are skipped.
 *
 * Bodies: exactly Content-Length bytes when the header is present, else
 * everything until the server closes; none for 204, 304 and HEAD. Chunked
 * transfer coding is refused (WEFT_ENOTSUP, "HTTP 200 answer uses chunked
 * transfer coding, which this client does not support") unless the
 * request sets WEFT_HTTPC_CHUNKED, which decodes it (chunk extensions and
 * trailers are read and dropped). Any other transfer coding is refused.
 *
 * Errors: 0 (or a length or socket, where said) on success, else negative:
 * -EINTR (stopped), -ETIMEDOUT, -errno of a failed socket call (e.g.
 * -ECONNREFUSED), WEFT_ERESOLVE (the name does not resolve before the
 * deadline: name resolution shares it, 30 s without one), WEFT_ECLOSED
 * (the server closed too early), WEFT_EPROTO (a malformed answer),
 * WEFT_ETOOBIG (over a limit), WEFT_ENOTSUP (https, a transfer coding),
 * WEFT_EINVAL (a bad URL, address or argument), -ENOMEM. Every failure
 * also writes one line naming what was wrong into err (when err != NULL
 * and cap > 0), e.g. "cannot connect to 127.0.0.1:9: Connection refused",
 * "HTTP answer head larger than 16384 bytes", "connection closed after 10
 * of 99 body bytes". Bytes from the server in that line are escaped. Nothing
 * here prints or logs.
 *
 * Threads: no shared state; calls on different sockets may run at once.
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

#define WEFT_HTTPC_TIMEOUT_MS 10000     /* default deadline of a request */
#define WEFT_HTTPC_POLL_MS 200          /* how often blocked waits look at *stop */
#define WEFT_HTTPC_MAX_HEAD (16u << 10) /* default limit on a response head */
#define WEFT_HTTPC_MAX_BODY (16u << 20) /* default limit on a response body */
#define WEFT_HTTPC_ERR 256              /* a comfortable err capacity */

/* ---- addresses ---- */

/* A proxy-style address: "host:port" or "[v6]:port", the port required
 * (1..65535), optionally after "http://" or "ws://", a trailing "/"
 * tolerated. host gets the name without brackets. 0, or WEFT_EINVAL. */
WEFT_API int weft_httpc_split_hostport(const char *in, char *host, size_t hcap, char *port,
                                       size_t pcap, char *err, size_t cap);

/* An http:// URL split for a request. */
typedef struct weft_httpc_url {
    char host[256];  /* a name, an IPv4 address or an IPv6 one without brackets */
    char port[6];    /* 1..65535 in decimal, "80" when the URL gives none */
    char path[2048]; /* the request target: starts with '/', query kept, fragment dropped */
} weft_httpc_url;

/* Split http://host[:port][/path][?query][#fragment] (the scheme in any
 * case; blanks, control bytes and user information refused). 0,
 * WEFT_ENOTSUP for https://, or WEFT_EINVAL. */
WEFT_API int weft_httpc_parse_url(const char *url, weft_httpc_url *u, char *err, size_t cap);

/* ---- the parts: connection, sending, the response head ---- */

/* Connect to host:port (every address getaddrinfo gives, in turn) before
 * deadline_ms. The socket (non-blocking, close-on-exec), or a negative
 * code. */
WEFT_API int weft_httpc_connect(const char *host, const char *port, int64_t deadline_ms,
                                const volatile sig_atomic_t *stop, char *err, size_t cap);

/* Write all len bytes of p to fd before deadline_ms. 0, or a negative
 * code. */
WEFT_API int weft_httpc_send_all(int fd, const void *p, size_t len, int64_t deadline_ms,
                                 const volatile sig_atomic_t *stop, char *err, size_t cap);

/* Wait until fd is readable (or has an error or hang-up to report) before
 * deadline_ms. 0, or -EINTR, -ETIMEDOUT, -errno of poll. */
WEFT_API int weft_httpc_wait_readable(int fd, int64_t deadline_ms,
                                      const volatile sig_atomic_t *stop, char *err, size_t cap);

/* A checked response head. */
typedef struct weft_httpc_head {
    int status;               /* 100..599 */
    long long content_length; /* -1 when absent */
    int chunked;              /* the last transfer coding is chunked */
    int other_coding;         /* Transfer-Encoding names something else too */
    char *raw;                /* the head without its final CRLF CRLF, NUL-terminated */
    size_t raw_len;
} weft_httpc_head;

/* Read and check a response head from fd (at most max_head bytes; 0 means
 * WEFT_HTTPC_MAX_HEAD), skipping interim 1xx heads other than 101. Bytes
 * read past the head (the start of the body, or of a WebSocket stream) go
 * to *extra / *extra_len (malloc'd; NULL and 0 when none). 0, or a
 * negative code with *h and *extra empty. Free *h with
 * weft_httpc_head_free. */
WEFT_API int weft_httpc_read_head(int fd, int64_t deadline_ms, size_t max_head,
                                  const volatile sig_atomic_t *stop, weft_httpc_head *h,
                                  uint8_t **extra, size_t *extra_len, char *err, size_t cap);
/* Idempotent; a zeroed head is fine. */
WEFT_API void weft_httpc_head_free(weft_httpc_head *h);

/* The value of header name (case-insensitive) in h, blanks around it
 * dropped, into out (NUL-terminated). Its length, or -ENOENT (absent),
 * WEFT_EPROTO (present more than once), WEFT_ENOSPC (longer than cap - 1). */
WEFT_API int weft_httpc_header(const weft_httpc_head *h, const char *name, char *out, size_t cap);

/* ---- whole requests ---- */

enum {
    WEFT_HTTPC_CHUNKED = 1, /* decode a chunked body instead of refusing it */
};

/* One request. Zero what you do not set. */
typedef struct weft_httpc_req {
    const char *method; /* a token; NULL: "GET" */
    const char *host;   /* where to connect and what the Host header names */
    const char *port;   /* decimal; "80" is left out of the Host header */
    const char *path;   /* request target in origin form ("/..."); NULL: "/" */
    const char *bearer; /* sent as "Authorization: Bearer <bearer>", or NULL */
    const void *body;   /* body_len bytes sent with Content-Length, or NULL */
    size_t body_len;
    const char *content_type; /* of the body; NULL: "application/json" */
    const char *accept;       /* Accept header, or NULL for none */
    const char *user_agent;   /* NULL: "weft" */
    int timeout_ms;           /* the whole exchange; <= 0: WEFT_HTTPC_TIMEOUT_MS */
    size_t max_head;          /* 0: WEFT_HTTPC_MAX_HEAD */
    size_t max_body;          /* 0: WEFT_HTTPC_MAX_BODY */
    unsigned flags;           /* WEFT_HTTPC_CHUNKED */
    const volatile sig_atomic_t *stop;
} weft_httpc_req;

/* A complete answer. */
typedef struct weft_httpc_resp {
    int status;
    char *body; /* body_len bytes and a NUL (malloc'd) */
    size_t body_len;
} weft_httpc_resp;

/* Send q on a fresh connection and read the whole answer. 0 with *r
 * filled whatever the status (a 101 is WEFT_EPROTO), or a negative code
 * with *r empty. Header values of q with control bytes are WEFT_EINVAL
 * (they could split the request). Free *r with weft_httpc_resp_free. */
WEFT_NODISCARD WEFT_API int weft_httpc_request(const weft_httpc_req *q, weft_httpc_resp *r,
                                               char *err, size_t cap);

/* GET url (see weft_httpc_parse_url) with the other settings of opts
 * (NULL: all defaults; its method, host, port and path are ignored). As
 * weft_httpc_request otherwise. */
WEFT_NODISCARD WEFT_API int weft_httpc_get(const char *url, const weft_httpc_req *opts,
                                           weft_httpc_resp *r, char *err, size_t cap);

/* Idempotent; a zeroed answer is fine. */
WEFT_API void weft_httpc_resp_free(weft_httpc_resp *r);

#ifdef __cplusplus
}
#endif
#endif
