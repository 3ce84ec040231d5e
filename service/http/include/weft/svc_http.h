/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_http.h: a small HTTP/1.1 server on h2o's event loop, run on its
 * own thread, shared by weft-node (API) and weft-proxy (REST).
 *
 * Every request is handed to one handler function on the server thread; it
 * fills a response (status, content type, malloc'd body) and returns. The
 * handler must not block for long: it holds up every other request. A
 * handler that waits for another thread (the proxy's publish, answered by a
 * node) defers instead: weft_http_defer, then weft_http_answer later.
 * Request bodies are capped (max_body); a larger one is answered 413 without
 * calling the handler.
 *
 * WebSocket upgrades on one path go to the handlers of weft/svc_ws.h instead
 * (ws_path, ws). weft_http_start raises the process's RLIMIT_NOFILE soft
 * limit to its hard limit, since every WebSocket client holds a descriptor.
 */
#ifndef WEFT_SVC_HTTP_H
#define WEFT_SVC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_server weft_http_server;
struct weft_ws_handlers; /* weft/svc_ws.h */

typedef struct weft_http_req {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len; /* without the query */
    const char *query;
    size_t query_len; /* after '?', empty when none */
    const uint8_t *body;
    size_t body_len;
    const char *authorization;
    size_t authorization_len; /* header value; NULL if absent */
    const char *content_type;
    size_t content_type_len; /* NULL if absent */
    char remote_ip[64];      /* text form of the client's address */
} weft_http_req;

typedef struct weft_http_resp {
    int status;               /* default 200 */
    const char *content_type; /* static string; default "application/json" */
    char *body;               /* malloc'd (the server frees it) or NULL */
    size_t body_len;
    int retry_after; /* > 0: a Retry-After header with these seconds */
    void *internal;  /* the server's (deferral); handlers leave it alone */
} weft_http_resp;

typedef void (*weft_http_handler_fn)(void *user, const weft_http_req *req, weft_http_resp *resp);

typedef struct weft_http_config {
    const char *host; /* bind address, default "0.0.0.0" */
    uint16_t port;    /* 0 = ephemeral (see weft_http_port) */
    size_t max_body;  /* default 16 MiB */
    weft_http_handler_fn handler;
    void *user;
    /* WebSocket (weft/svc_ws.h); off unless both ws_path and ws are set */
    const char *ws_path;               /* e.g. "/api/v1/ws" (exact match, query ignored) */
    const char *ws_path_alias;         /* NULL, or a second path for it (e.g. "/ws") */
    const struct weft_ws_handlers *ws; /* copied at start */
    void *ws_user;                     /* first argument of the ws handlers */
    size_t ws_max_queued;              /* per-connection send backlog cap, default 8 MiB */
    size_t ws_max_message;             /* largest client message, default 64 KiB */
    /* Connections (HTTP and WebSocket) kept at once, in total and per
     * client IP; past either a new one is closed on accept. 0 = defaults. */
    size_t max_conns, max_conns_per_ip;
} weft_http_config;

#define WEFT_HTTP_DEFAULT_MAX_CONNS 16384
#define WEFT_HTTP_DEFAULT_MAX_CONNS_PER_IP 4096

/* Bind, listen and start the server thread. NULL with *err (negative errno
 * or WEFT_EINVAL) when the port cannot be bound. */
weft_http_server *weft_http_start(const weft_http_config *cfg, int *err);
/* The bound port. */
uint16_t weft_http_port(const weft_http_server *s);
/* Stop accepting, close every WebSocket connection (1001; on_close runs on
 * the server thread before this returns), finish the thread, free. Safe
 * with NULL. */
void weft_http_stop(weft_http_server *s);

/* Connections open now, and those closed on accept for a cap or for want
 * of a descriptor (EMFILE). Any thread; the values may lag by one. */
void weft_http_conn_stats(const weft_http_server *s, size_t *open,
                          unsigned long long *refused_limit, unsigned long long *refused_fds);
/* Deferred answers. Inside the handler (server thread), weft_http_defer
 * takes over the request: the handler returns without filling resp, and
 * the request is answered by one weft_http_answer on the ticket, from any
 * thread, later. The weft_http_req (and its body) is not valid after the
 * handler returns: copy what the answer needs. NULL when out of memory:
 * then fill resp as usual. Each ticket must be answered exactly once; an
 * answer for a client that went away, or after weft_http_stop began, is
 * discarded (its body freed). */
typedef struct weft_http_ticket weft_http_ticket;
weft_http_ticket *weft_http_defer(weft_http_resp *resp);
/* Inside the handler: whether it deferred resp (then the answer, not the
 * handler's return, is the request's end: log it there). */
int weft_http_deferred(const weft_http_resp *resp);
/* Answer a deferred request with resp (status, content type, body: the body
 * is taken, resp->body is NULL on return); frees the ticket. Any thread. */
void weft_http_answer(weft_http_ticket *t, weft_http_resp *resp);

/* Value of key in a query string (URL-decoded, '+' as space) into out
 * (NUL-terminated). Returns its length, or -1 when absent, longer than
 * cap - 1 or holding a NUL byte ("%00": callers use the value as a C
 * string, so it would alias a shorter one). */
int weft_http_query_get(const char *query, size_t query_len, const char *key, char *out,
                        size_t cap);
/* 1 when the query string has a pair named key (decoded as above), with or
 * without a value; else 0. Tells "absent" from "present but unusable"
 * when weft_http_query_get answers -1. */
int weft_http_query_has(const char *query, size_t query_len, const char *key);

/* Set resp to status with a malloc'd copy of body (NUL-terminated string). */
void weft_http_reply(weft_http_resp *resp, int status, const char *content_type, const char *body);
/* Set resp to {"error": msg} (JSON-escaped) with status. */
void weft_http_reply_error(weft_http_resp *resp, int status, const char *msg);
/* Set resp to o serialised (o is freed; NULL or no memory gives 500). */
struct cJSON;
void weft_http_reply_json(weft_http_resp *resp, int status, struct cJSON *o);
int weft_http_path_is(const weft_http_req *r, const char *path);
int weft_http_method_is(const weft_http_req *r, const char *method);
/* At LOG_LEVEL=debug, one line for an answered request: method, path and
 * query (escaped, cut at 256 bytes), status, request and response bytes,
 * duration since start_ns (weft_mono_ns) and the client's address; extra
 * (NULL or key=value text, e.g. a topic) is appended. Cheap when debug is off. */
void weft_http_log_request(const char *module, const weft_http_req *r, const weft_http_resp *resp,
                           int64_t start_ns, const char *extra);

/* s[0..n) as the body of a JSON string into out (at least 6n + 1 bytes:
 * quotes and backslashes escaped, control bytes as \n, \t... or \u00XX; bytes >= 0x80
 * pass through), NUL-terminated; returns its length. */
size_t weft_json_escape(const char *s, size_t n, char *out);
/* 1 when s is 1..max bytes of well-formed UTF-8 without control
 * characters (topics, ids). */
int weft_text_ok(const char *s, size_t max);

#ifdef __cplusplus
}
#endif
#endif
