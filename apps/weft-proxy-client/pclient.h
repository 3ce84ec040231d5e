/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pclient.h: the parts of weft-proxy-client (the guides' proxy client) shared
 * between its files: the stop flag, a tiny HTTP/1.1 client for the proxy's
 * REST API (http_client.c), a tiny RFC 6455 WebSocket client for its
 * delivery socket (ws_client.c) and the text helpers both need.
 *
 * The clients are deliberately small: one request per TCP connection,
 * plaintext only, everything blocking with deadlines. Nothing the server
 * sends is trusted: sizes are bounded, syntax is checked, and every failure
 * comes back as a negative code plus a one-line reason in the caller's
 * buffer. Nothing here prints.
 */
#ifndef WEFT_PCLIENT_H
#define WEFT_PCLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PC_TIMEOUT_MS 10000          /* connect, request and answer */
#define PC_POLL_MS 200               /* how often blocked waits look at pc_stop */
#define PC_MAX_HEADER (16u << 10)    /* response head (status line and headers) */
#define PC_MAX_BODY (16u << 20)      /* HTTP response body */
#define PC_MAX_WS_MESSAGE (64u << 20) /* one WebSocket message, all fragments */
#define PC_ERRLEN 512

/* Set by SIGINT / SIGTERM; every wait polls it and gives up with -EINTR. */
extern volatile sig_atomic_t pc_stop;

/* ---- options and modes (proxy_client.c, pc_modes.c) ---- */

#define PC_DEFAULT_PROXY "127.0.0.1:8081"

enum { PC_PUBLISH = 1, PC_SUBSCRIBE = 2 };

typedef struct pc_opts {
    int mode;              /* PC_PUBLISH or PC_SUBSCRIBE */
    char *topic;
    char *msg;
    char *client_id;       /* never NULL after parsing */
    const char *proxy;     /* REST address */
    const char *grpc;      /* ProxyStream address, NULL: use REST / WebSocket */
    const char *token;     /* Bearer JWT or NULL */
    long long count;       /* publish: messages; subscribe: stop after (0: never) */
    int64_t sleep_ns;      /* between publishes */
    double threshold;
    int threshold_set;
} pc_opts;

/* Each returns the exit status: 0 done or interrupted, 1 failure. */
int pc_publish_main(const pc_opts *o);
int pc_subscribe_main(const pc_opts *o);


/* ---- TCP and HTTP/1.1 (http_client.c) ---- */

/* "host:port", "[v6]:port", optionally prefixed with "http://" (and for
 * WebSocket "ws://"); a trailing "/" is tolerated. Returns 0 or -1 with
 * err filled. host gets the name without brackets. */
int pc_split_hostport(const char *in, char *host, size_t hcap, char *port, size_t pcap,
                      char *err, size_t cap);

/* Connect to host:port before deadline_ms (a weft_mono_ms() value). Returns
 * the socket (blocking mode off: O_NONBLOCK), -EINTR, -ETIMEDOUT or -1;
 * err filled. */
int pc_tcp_connect(const char *host, const char *port, int64_t deadline_ms, char *err,
                   size_t cap);

/* Write all of p before deadline_ms (< 0: none). 0, -EINTR, -ETIMEDOUT or
 * -1 (err filled). */
int pc_send_all(int fd, const void *p, size_t len, int64_t deadline_ms, char *err, size_t cap);

/* Wait for fd to be readable before deadline_ms (< 0: forever), in slices
 * watching pc_stop. 1 readable, -EINTR, -ETIMEDOUT, -1. */
int pc_wait_readable(int fd, int64_t deadline_ms, char *err, size_t cap);

/* A parsed response head. */
typedef struct pc_http_head {
    int status;              /* 100..599 */
    long long content_length; /* -1 when absent */
    int chunked;
    char *raw;               /* the head text, NUL-terminated (malloc'd) */
    size_t raw_len;
} pc_http_head;

/* Read a response head from fd into *h; bytes read past it (the start of
 * the body or of the WebSocket stream) go to *extra / *extra_len
 * (malloc'd, may be NULL). Returns 0, -EINTR, -ETIMEDOUT or -1. */
int pc_http_read_head(int fd, int64_t deadline_ms, pc_http_head *h, uint8_t **extra,
                      size_t *extra_len, char *err, size_t cap);
void pc_http_head_free(pc_http_head *h);
/* Value of header name (case-insensitive) in the head, copied into out
 * without surrounding blanks. Returns its length, or -1 when absent,
 * -2 when repeated, -3 when longer than cap - 1. */
int pc_http_header(const pc_http_head *h, const char *name, char *out, size_t cap);

/* A complete answer. */
typedef struct pc_http_resp {
    int status;
    char *body; /* NUL-terminated (malloc'd) */
    size_t body_len;
} pc_http_resp;

/* One request on a fresh connection ("Connection: close"): method, path,
 * an optional Bearer token, an optional JSON body. Waits at most
 * PC_TIMEOUT_MS in all. Returns 0 with *r filled (any status; free with
 * pc_http_resp_free), -EINTR, -ETIMEDOUT or -1; err filled. */
int pc_http_request(const char *hostport, const char *method, const char *path,
                    const char *token, const char *json, pc_http_resp *r, char *err, size_t cap);
void pc_http_resp_free(pc_http_resp *r);

/* ---- WebSocket (ws_client.c) ---- */

typedef struct pc_ws pc_ws;

/* Open ws://hostport/path (path includes the query) with an optional
 * Bearer token. Checks 101, Upgrade, Connection and Sec-WebSocket-Accept.
 * A refusal fills err with the server's status and body. Returns the
 * socket object, or NULL with *rc (-EINTR, -ETIMEDOUT, -1) and err. */
pc_ws *pc_ws_connect(const char *hostport, const char *path, const char *token, int *rc,
                     char *err, size_t cap);

enum { PC_WS_TEXT = 1, PC_WS_BINARY = 2 };

/* Next data message (fragments joined; pings answered, pongs skipped).
 * timeout_ms < 0 waits forever. Returns 1 with *msg malloc'd (NUL
 * appended, not counted) and *kind PC_WS_TEXT or PC_WS_BINARY; 0 when the
 * server closed (err: its code and reason; the close was answered); -EINTR;
 * -ETIMEDOUT; -1 for a broken connection or a protocol violation (a close
 * frame with 1002, 1007 or 1009 was sent where possible). */
int pc_ws_recv(pc_ws *w, uint8_t **msg, size_t *len, int *kind, int64_t timeout_ms, char *err,
               size_t cap);

/* Send a close frame with code (if the connection is still usable), wait
 * up to a second for the server's close, and free everything. NULL does
 * nothing. */
void pc_ws_close(pc_ws *w, unsigned code);

/* ---- clocks (http_client.c) and text helpers (proxy_client.c) ---- */

/* Percent-encode s for a query value into out; returns 0 or -1 (no room). */
int pc_url_encode(const char *s, char *out, size_t cap);
/* Up to max bytes of p as one printable line (controls escaped) in out. */
void pc_printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap);

#endif
