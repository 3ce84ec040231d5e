/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pclient.h: the parts of weft-proxy-client (the guides' proxy client) shared
 * between its files: the stop flag, a tiny RFC 6455 WebSocket client for the
 * proxy's delivery socket (ws_client.c) and the text helpers. REST requests
 * go through the shared HTTP client, weft/svc_httpc.h.
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

#include "weft/svc_httpc.h"

#define PC_TIMEOUT_MS 10000           /* connect, request and answer */
#define PC_POLL_MS 200                /* how often blocked waits look at pc_stop */
#define PC_MAX_WS_MESSAGE (64u << 20) /* one WebSocket message, all fragments */
#define PC_ERRLEN 512

/* Set by SIGINT / SIGTERM; every wait polls it and gives up with -EINTR. */
extern volatile sig_atomic_t pc_stop;

/* ---- options and modes (proxy_client.c, pc_modes.c) ---- */

#define PC_DEFAULT_REST "localhost:8081"  /* the guides' -rest http://localhost:8081 */
#define PC_DEFAULT_GRPC "localhost:50051" /* the guides' -proxy */

/* PC_GUIDE: no -mode, the guides' proxy_client: subscribe over REST, receive
 * over the gRPC stream, publish -count random messages (none with
 * -subscribeOnly). */
enum { PC_PUBLISH = 1, PC_SUBSCRIBE = 2, PC_GUIDE = 4 };

typedef struct pc_opts {
    int mode; /* PC_PUBLISH, PC_SUBSCRIBE or PC_GUIDE */
    char *topic;
    char *msg;
    char *client_id;    /* never NULL after parsing */
    const char *proxy;  /* REST address (host:port, from -rest) */
    const char *grpc;   /* -mode: ProxyStream address, NULL: use REST / WebSocket;
                           guide mode: the stream's address (-proxy) */
    int subscribe_only; /* guide mode: -subscribeOnly */
    const char *token;  /* Bearer JWT or NULL */
    long long count;    /* publish: messages; subscribe: stop after (0: never) */
    int64_t sleep_ns;   /* between publishes */
    double threshold;
    int threshold_set;
} pc_opts;

/* Each returns the exit status: 0 done or interrupted, 1 failure. */
int pc_publish_main(const pc_opts *o);
int pc_subscribe_main(const pc_opts *o);
int pc_guide_main(const pc_opts *o); /* pc_guide.c */

/* Shared by the modes (pc_modes.c): POST json to the REST API (o->proxy),
 * as weft_httpc_request; wait for a gRPC channel (0, -EINTR or -1 after a
 * message); print a REST error answer. */
int pc_rest_post(const pc_opts *o, const char *path, const char *json, weft_httpc_resp *r,
                 char *err, size_t cap);
struct weft_grpc_channel;
int pc_grpc_ready(struct weft_grpc_channel *ch, const char *addr);
void pc_print_http_error(const char *what, const char *addr, const weft_httpc_resp *r);

/* HTTP/1.1 and the TCP pieces the WebSocket client shares come from
 * weft/svc_httpc.h; every wait passes &pc_stop. */
#define PC_USER_AGENT "weft-proxy-client/" WEFT_VERSION

/* ---- WebSocket (ws_client.c) ---- */

typedef struct pc_ws pc_ws;

/* Open ws://hostport/path (path includes the query) with an optional
 * Bearer token. Checks 101, Upgrade, Connection and Sec-WebSocket-Accept.
 * A refusal fills err with the server's status and body. Returns the
 * socket object, or NULL with *rc (-EINTR, -ETIMEDOUT or another negative
 * code) and err. */
pc_ws *pc_ws_connect(const char *hostport, const char *path, const char *token, int *rc, char *err,
                     size_t cap);

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

/* ---- text helpers (proxy_client.c) ---- */

/* Percent-encode s for a query value into out; returns 0 or -1 (no room). */
int pc_url_encode(const char *s, char *out, size_t cap);
/* Up to max bytes of p as one printable line (controls escaped) in out. */
void pc_printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap);

#endif
