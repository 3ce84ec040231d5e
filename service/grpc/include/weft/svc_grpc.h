/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_grpc.h: a gRPC server on the gRPC C core, for services written
 * without generated stubs: methods are matched by path, messages are bytes
 * (the caller encodes them with protobuf-c).
 *
 * Threads: one completion-queue thread owned by the server runs every
 * callback. weft_grpc_call_send and weft_grpc_call_finish may be called from
 * any thread (a per-call mutex orders them; one send is in flight at a time
 * and the rest wait in a bounded per-call queue). A call is reference
 * counted: the server holds one reference until on_close; take another
 * (weft_grpc_call_ref) to keep using it from another thread, and drop it
 * with weft_grpc_call_unref.
 *
 * Unary and streaming methods look the same here: every request message is
 * an on_message; a unary handler answers with one send and a finish.
 */
#ifndef WEFT_SVC_GRPC_H
#define WEFT_SVC_GRPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_grpc_server weft_grpc_server;
typedef struct weft_grpc_call weft_grpc_call;

typedef struct weft_grpc_handlers {
    /* A call arrived for method index (into weft_grpc_config.methods). */
    void (*on_open)(void *user, weft_grpc_call *c, int method);
    /* One request message; lent until return. */
    void (*on_message)(void *user, weft_grpc_call *c, const uint8_t *p, size_t n);
    /* The client finished sending (half-close). */
    void (*on_half_close)(void *user, weft_grpc_call *c);
    /* The call is over (finished, cancelled or the client went away): last
     * callback; sends after it fail with WEFT_ECLOSED. */
    void (*on_close)(void *user, weft_grpc_call *c, int cancelled);
} weft_grpc_handlers;

typedef struct weft_grpc_config {
    const char *addr;           /* "0.0.0.0:33212"; port 0 = ephemeral */
    const char *const *methods; /* full paths, "/package.Service/Method" */
    size_t nmethods;
    long max_recv_message;   /* bytes; <= 0 = unlimited */
    size_t max_queued_bytes; /* per call, waiting sends; default 64 MiB */
    size_t max_total_queued; /* over all calls; default WEFT_GRPC_DEFAULT_TOTAL_QUEUED */
    /* Connections kept at once, in total and per client IP: past either a
     * new connection is closed on accept. 0 = WEFT_GRPC_DEFAULT_MAX_CONNS,
     * WEFT_GRPC_DEFAULT_MAX_CONNS_PER_IP. */
    size_t max_conns, max_conns_per_ip;
    /* A connection without a call for this long is closed (GOAWAY).
     * 0 = WEFT_GRPC_DEFAULT_IDLE_MS; < 0 = never. */
    int idle_ms;
    weft_grpc_handlers h;
    void *user;
} weft_grpc_config;

#define WEFT_GRPC_DEFAULT_TOTAL_QUEUED ((size_t)256 << 20)
#define WEFT_GRPC_DEFAULT_MAX_CONNS 4096
#define WEFT_GRPC_DEFAULT_MAX_CONNS_PER_IP 512
#define WEFT_GRPC_DEFAULT_IDLE_MS (5 * 60 * 1000)

/* Connection counters of a server (for /metrics). */
typedef struct weft_grpc_stats {
    size_t connections;                            /* open now (as of the last sweep, 250 ms) */
    unsigned long long accepted;                   /* kept and handed to gRPC, ever */
    unsigned long long refused_limit, refused_fds; /* closed on accept: a cap; EMFILE */
} weft_grpc_stats;
void weft_grpc_server_stats(const weft_grpc_server *s, weft_grpc_stats *st);

/* Bind and start the completion-queue thread. NULL with *err when the
 * address cannot be bound (WEFT_EINVAL) or on ENOMEM. */
weft_grpc_server *weft_grpc_start(const weft_grpc_config *cfg, int *err);
/* The TCP port bound (the chosen one when the address asked for port 0). */
int weft_grpc_port(const weft_grpc_server *s);
/* Cancel every call (on_close runs), stop the thread, free. */
void weft_grpc_stop(weft_grpc_server *s);

/* Queue one response message (copied). 0; WEFT_ELIMIT when the call's queue
 * holds max_queued_bytes already, or all calls together max_total_queued (the
 * message is not queued); WEFT_ECLOSED after finish or close. */
int weft_grpc_call_send(weft_grpc_call *c, const uint8_t *p, size_t n);
/* Bytes queued on the call, waiting behind the one in flight. */
size_t weft_grpc_call_queued(weft_grpc_call *c);
/* End the call with a status (0 = OK) once the queued messages are sent. */
void weft_grpc_call_finish(weft_grpc_call *c, int status, const char *details);
void weft_grpc_call_ref(weft_grpc_call *c);
void weft_grpc_call_unref(weft_grpc_call *c);
/* The embedding's pointer (set in on_open, read anywhere). */
void weft_grpc_call_set_user(weft_grpc_call *c, void *user);
void *weft_grpc_call_user(const weft_grpc_call *c);
int weft_grpc_call_method(const weft_grpc_call *c);
/* Value of a request metadata key (lower case), copied into out. Returns
 * its length or -1 when absent or too long. */
int weft_grpc_call_metadata(const weft_grpc_call *c, const char *key, char *out, size_t cap);
/* The client's address ("ipv4:127.0.0.1:5555" as gRPC reports it). */
const char *weft_grpc_call_peer(const weft_grpc_call *c);

/* gRPC status codes used by the services. */
enum {
    WEFT_GRPC_OK = 0,
    WEFT_GRPC_CANCELLED = 1,
    WEFT_GRPC_INVALID_ARGUMENT = 3,
    WEFT_GRPC_NOT_FOUND = 5,
    WEFT_GRPC_RESOURCE_EXHAUSTED = 8,
    WEFT_GRPC_UNIMPLEMENTED = 12,
    WEFT_GRPC_INTERNAL = 13,
    WEFT_GRPC_UNAVAILABLE = 14,
    WEFT_GRPC_UNAUTHENTICATED = 16,
};

#ifdef __cplusplus
}
#endif
#endif
