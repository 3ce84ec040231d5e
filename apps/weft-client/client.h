/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.h: the parts of weft-client (the OptimumP2P guides' p2p-client)
 * shared between its files: parsed options, the stop flag, sidecar session
 * helpers (client_session.c), text formats that must match the Go client
 * byte for byte (client_text.c: durations, %q quoting, RFC 3339 times) and
 * the decoding of what the node sends (deliveries, trace events).
 *
 * Everything here is for one process: helpers print nothing themselves
 * unless they say so; errors come back as negative codes plus a one-line
 * explanation in a caller's buffer.
 */
#ifndef WEFT_CLIENT_H
#define WEFT_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/svc_grpc_client.h"

#include "p2p_stream.pb-c.h"

#define CLIENT_DEFAULT_ADDR "localhost:33212"
#define CLIENT_CONNECT_MS 10000 /* connecting to a sidecar */
#define CLIENT_REPLY_MS 10000   /* a publish acknowledgement */
#define CLIENT_POLL_MS 200      /* how often blocked waits look at client_stop */
#define CLIENT_ERRLEN 512

#define METHOD_LISTEN "/proto.CommandStream/ListenCommands"

/* Request.command values of the sidecar. */
enum { CMD_PUBLISH = 1, CMD_SUBSCRIBE = 2 };

enum client_mode {
    MODE_PUBLISH = 1 << 0,
    MODE_SUBSCRIBE = 1 << 1,
    MODE_MULTI_PUBLISH = 1 << 2,
    MODE_MULTI_SUBSCRIBE = 1 << 3,
};

typedef struct client_opts {
    int mode; /* enum client_mode */
    const char *addr;
    char *topic; /* from argv: protobuf-c takes it as a char * */
    const char *msg;
    long long count;
    int count_set; /* -count given on the command line */
    int64_t sleep_ns;
    const char *ipfile;
    long long start_index;
    long long end_index; /* -1: to the end of the file */
    long long datasize;
    int poisson;
    const char *output;
    const char *output_data;
    const char *output_trace;
} client_opts;

/* Set by SIGINT / SIGTERM; every wait below polls it. */
extern volatile sig_atomic_t client_stop;

/* ---- single-node and multi-node modes (exit status) ---- */
int client_publish_main(const client_opts *o);
int client_subscribe_main(const client_opts *o);
int client_multi_publish_main(const client_opts *o);
int client_multi_subscribe_main(const client_opts *o);

/* ---- sessions (client_session.c) ---- */

/* Connect to addr (waiting up to CLIENT_CONNECT_MS) and open a
 * ListenCommands stream. Returns 0; -ETIMEDOUT (not connected in time);
 * -EINTR (client_stop); other negative codes. err gets a reason. */
int session_open(const char *addr, weft_grpc_channel **ch, weft_grpc_stream **st, char *err,
                 size_t cap);
void session_close(weft_grpc_channel *ch, weft_grpc_stream *st);

/* Pack and send one Request. Returns 0 or a negative code (err filled).
 * topic and data are not const: protobuf-c's message fields are plain
 * pointers (the packer only reads them). */
int session_send(weft_grpc_stream *st, int command, char *topic, uint8_t *data, size_t len,
                 char *err, size_t cap);

/* Next Response, waiting at most timeout_ms (< 0: until the stream ends)
 * while watching client_stop. Returns 1 with *resp (free it with
 * proto__response__free_unpacked); 0 at the end of the stream (err
 * describes the status); -EINTR; -ETIMEDOUT; WEFT_EPROTO for a message that
 * is not a Response (skipped, err filled); -ENOMEM. */
int session_recv(weft_grpc_stream *st, Proto__Response **resp, int64_t timeout_ms, char *err,
                 size_t cap);

/* Publish data on topic and wait for the node's acknowledgement (a
 * non-trace Response whose JSON holds message_id), skipping trace events.
 * *took_ns: from the send to the acknowledgement. Returns 0, -EINTR, or
 * another negative code with err filled. */
int session_publish(weft_grpc_stream *st, char *topic, uint8_t *data, size_t len, int64_t *took_ns,
                    char *err, size_t cap);

/* ---- what the node sends (client_session.c) ---- */

/* A delivered message (Response.command = Message). */
typedef struct delivery {
    char *source_node_id;
    char *upstream_peer_id; /* NULL when absent */
    char *topic;
    char *message_id;
    uint8_t *payload; /* decoded "message" */
    size_t len;
} delivery;

/* Parse the delivery JSON (keys matched case-insensitively). All of
 * source_node_id, topic, message_id and message must be present as
 * strings; message must be base64 (padding optional). Returns 0 or
 * WEFT_EPROTO / -ENOMEM with err filled. */
int delivery_parse(const uint8_t *json, size_t len, delivery *d, char *err, size_t cap);
void delivery_free(delivery *d);

/* A decoded trace event, ready to print. */
typedef struct trace_text {
    const char *label; /* "OptimumP2P" or "GossipSub" */
    char type[32];     /* "DELIVER_MESSAGE", or the number when unknown */
    char ts[48];       /* RFC 3339 with nanoseconds, UTC */
    size_t size;       /* serialized bytes */
    char *json;        /* one line, malloc'd: Go encoding/json of the event */
    size_t json_len;
    char *detail; /* "  NEW_SHARD id=... coeff=..." for shard events, else NULL */
} trace_text;

/* Decode the TraceEvent of a Response with command 2 (optimum numbering) or
 * 3 (libp2p pubsub trace numbering). Returns 0 or WEFT_EPROTO / -ENOMEM
 * with err filled. */
int trace_decode(Proto__ResponseType command, const uint8_t *data, size_t len, trace_text *t,
                 char *err, size_t cap);
void trace_text_free(trace_text *t);

/* ---- helpers (client_util.c; Go text formats in go_text.h) ---- */

/* Sleep ns (or until client_stop). Returns 0, or -EINTR when stopped. */
int sleep_ns_interruptible(int64_t ns);

/* SHA-256 of p as 64 hex digits plus NUL. */
void sha256_hex(const uint8_t *p, size_t len, char out[65]);
/* Natural logarithm for x > 0 (no libm needed). */
double ln_pos(double x);

#endif
