/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server and the loop bridge as the sidecar and proxy fuzz
 * targets see them, without sockets or threads. The targets link with
 * -Wl,--wrap for each symbol below (fuzz/CMakeLists.txt), so the node's
 * and proxy's own calls reach these fakes: weft_grpc_start records the
 * handlers the program registers (so the target calls the real
 * on_open/on_message/on_close), calls are plain structs here, sends are
 * recorded, and bridge posts run at once on the calling thread.
 *
 * Also a protobuf reader of our own (varints and length-delimited
 * fields, the last occurrence of a field wins, as protobuf says), the
 * oracle for what protobuf-c decoded. Include from one file per program.
 */
#ifndef WEFT_FUZZ_GRPC_FAKE_H
#define WEFT_FUZZ_GRPC_FAKE_H

#include "fuzz_util.h"

#include "weft/svc_bridge.h"
#include "weft/svc_grpc.h"

struct weft_grpc_call {
    int method, finished, status, refs;
    void *user;
    size_t sends;
    uint8_t *last; /* the last message sent */
    size_t last_len;
    char details[256];
};

static weft_grpc_config g_grpc_cfg;
static int g_grpc_token;

weft_grpc_server *__wrap_weft_grpc_start(const weft_grpc_config *cfg, int *err);
void __wrap_weft_grpc_stop(weft_grpc_server *s);
int __wrap_weft_grpc_call_send(weft_grpc_call *c, const uint8_t *p, size_t n);
size_t __wrap_weft_grpc_call_queued(weft_grpc_call *c);
void __wrap_weft_grpc_call_finish(weft_grpc_call *c, int status, const char *details);
void __wrap_weft_grpc_call_ref(weft_grpc_call *c);
void __wrap_weft_grpc_call_unref(weft_grpc_call *c);
void __wrap_weft_grpc_call_set_user(weft_grpc_call *c, void *user);
void *__wrap_weft_grpc_call_user(const weft_grpc_call *c);
int __wrap_weft_grpc_call_method(const weft_grpc_call *c);
int __wrap_weft_grpc_call_metadata(const weft_grpc_call *c, const char *key, char *out, size_t cap);
const char *__wrap_weft_grpc_call_peer(const weft_grpc_call *c);
int __wrap_weft_bridge_post(weft_bridge *b, weft_bridge_fn fn, void *arg);
int __wrap_weft_bridge_call(weft_bridge *b, weft_bridge_fn fn, void *arg);

weft_grpc_server *
__wrap_weft_grpc_start(const weft_grpc_config *cfg, int *err)
{
    (void)err;
    g_grpc_cfg = *cfg;
    return (weft_grpc_server *)&g_grpc_token;
}

void
__wrap_weft_grpc_stop(weft_grpc_server *s)
{
    (void)s;
}

int
__wrap_weft_grpc_call_send(weft_grpc_call *c, const uint8_t *p, size_t n)
{
    FZ_CHECK(c != NULL);
    if (c->finished) /* as the server: a finished call takes no more */
        return WEFT_ECLOSED;
    c->sends++;
    free(c->last);
    c->last = fz_dup(p, n);
    c->last_len = n;
    return 0;
}

/* Sends complete at once here: nothing waits behind the one in flight. */
size_t
__wrap_weft_grpc_call_queued(weft_grpc_call *c)
{
    FZ_CHECK(c != NULL);
    return 0;
}

void
__wrap_weft_grpc_call_finish(weft_grpc_call *c, int status, const char *details)
{
    FZ_CHECK(c != NULL);
    if (c->finished)
        return;
    c->finished = 1;
    c->status = status;
    snprintf(c->details, sizeof c->details, "%s", details ? details : "");
}

void
__wrap_weft_grpc_call_ref(weft_grpc_call *c)
{
    c->refs++;
}

void
__wrap_weft_grpc_call_unref(weft_grpc_call *c)
{
    FZ_CHECK(c->refs > 0);
    c->refs--;
}

void
__wrap_weft_grpc_call_set_user(weft_grpc_call *c, void *user)
{
    c->user = user;
}

void *
__wrap_weft_grpc_call_user(const weft_grpc_call *c)
{
    return c->user;
}

int
__wrap_weft_grpc_call_method(const weft_grpc_call *c)
{
    return c->method;
}

int
__wrap_weft_grpc_call_metadata(const weft_grpc_call *c, const char *key, char *out, size_t cap)
{
    (void)c, (void)key;
    if (cap)
        out[0] = 0;
    return -1;
}

const char *
__wrap_weft_grpc_call_peer(const weft_grpc_call *c)
{
    (void)c;
    return "ipv4:127.0.0.1:1";
}

/* Posts run at once; fz_bridge_refuse makes the next ones fail (a full
 * queue) so the overload answers are reached too. */
static int fz_bridge_refuse;

int
__wrap_weft_bridge_post(weft_bridge *b, weft_bridge_fn fn, void *arg)
{
    (void)b;
    if (fz_bridge_refuse)
        return WEFT_ELIMIT;
    fn(arg);
    return 0;
}

int
__wrap_weft_bridge_call(weft_bridge *b, weft_bridge_fn fn, void *arg)
{
    (void)b;
    fn(arg);
    return 0;
}

/* ---- a protobuf reader of our own ------------------------------------------------------- */

typedef struct fz_pb_field {
    int present, nul; /* nul: some occurrence held a NUL byte */
    uint64_t varint;
    const uint8_t *p;
    size_t len;
} fz_pb_field;

static int
fz_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1) /* more than 64 bits: protobuf's varints are at most 64 */
            return -1;
        if (shift < 64)
            *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Fields 1..nf (the last occurrence of each); 0, or -1 when the bytes are
 * not a well-formed message. */
static int
fz_pb_read(const uint8_t *p, size_t n, fz_pb_field *f, size_t nf)
{
    const uint8_t *end = p + n;
    memset(f, 0, nf * sizeof *f);
    while (p < end) {
        uint64_t key, v;
        if (fz_pb_varint(&p, end, &key) < 0)
            return -1;
        uint64_t num = key >> 3;
        int wt = (int)(key & 7);
        if (num == 0 || num > 0x1fffffff) /* protobuf's field numbers are 1..2^29-1 */
            return -1;
        fz_pb_field one = {1, 0, 0, NULL, 0};
        if (wt == 0) {
            if (fz_pb_varint(&p, end, &one.varint) < 0)
                return -1;
        } else if (wt == 2) {
            if (fz_pb_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            one.p = p;
            one.len = (size_t)v;
            p += v;
        } else if (wt == 1 || wt == 5) {
            size_t w = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return -1;
            one.p = p;
            one.len = w;
            p += w;
        } else {
            return -1;
        }
        if (num >= 1 && num <= nf) {
            one.nul = f[num - 1].nul || (wt == 2 && one.len && memchr(one.p, 0, one.len) != NULL);
            f[num - 1] = one;
        }
    }
    return 0;
}

/* 1 when some occurrence of a string field held a byte a C string cannot
 * carry (NUL). */
static int
fz_pb_has_nul(const fz_pb_field *f)
{
    return f->nul;
}

#endif /* WEFT_FUZZ_GRPC_FAKE_H */
