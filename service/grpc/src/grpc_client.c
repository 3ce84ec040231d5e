/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking gRPC client calls over the gRPC C core (weft/svc_grpc_client.h).
 *
 * Each call owns a pluck completion queue and at most one operation per
 * tag: TAG_STATUS (initial metadata out and in, final status; completes when
 * the call is over), TAG_SEND (the message or half-close in flight) and
 * TAG_RECV (the armed receive). Plucking distinct tags from two threads is
 * allowed by gRPC, which is what lets one thread receive while another
 * sends. A receive that times out stays armed and is plucked again by the
 * next call, so a timeout never loses a message.
 *
 * Invariant: every started batch is plucked exactly once before the call is
 * released (weft_grpc_stream_free cancels first so pending ones finish).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "weft/svc_grpc_client.h"

enum { TAG_STATUS = 1, TAG_SEND = 2, TAG_RECV = 3, TAG_WATCH = 4 };
#define TAG(t) ((void *)(intptr_t)(t))

/* The debug string of a failed call. gRPC's slot for it is a const char *,
 * yet the string is a copy it made for us to release with gpr_free (which
 * takes a void *): gRPC fills in view, we free owned, the same pointer. */
typedef union owned_error {
    const char *view;
    char *owned;
} owned_error;

struct weft_grpc_channel {
    grpc_channel *ch;
};

struct weft_grpc_stream {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata *md; /* our copies of the request metadata */
    size_t n_md;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code code;
    grpc_slice details;
    owned_error error;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
    int status_pending; /* TAG_STATUS started, not plucked */
    int send_pending;
    int recv_pending;
    int send_closed; /* half-close queued */
    int send_failed; /* a send completed unsuccessfully: the call is over */
    int ended;       /* recv reported the end; st is final */
    weft_grpc_status st;
};

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *
weft_grpc_status_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof status_names / sizeof status_names[0])
        return "UNKNOWN_CODE";
    return status_names[code];
}

static gpr_timespec
deadline_after(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static grpc_event
pluck(grpc_completion_queue *cq, int tag, gpr_timespec deadline)
{
    return grpc_completion_queue_pluck(cq, TAG(tag), deadline, NULL);
}

/* Only after every batch on cq has been plucked. */
static void
cq_destroy(grpc_completion_queue *cq)
{
    if (cq == NULL)
        return;
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static void
status_fill(weft_grpc_status *st, grpc_status_code code, grpc_slice details,
            const char *error_string)
{
    st->code = (int)code;
    const char *p = (const char *)GRPC_SLICE_START_PTR(details);
    size_t n = GRPC_SLICE_LENGTH(details);
    /* gRPC's debug string only when the peer gave no reason. */
    if (n == 0 && code != GRPC_STATUS_OK && error_string != NULL) {
        p = error_string;
        n = strlen(error_string);
    }
    if (n >= sizeof st->details)
        n = sizeof st->details - 1;
    if (n > 0)
        memcpy(st->details, p, n);
    st->details[n] = '\0';
}

static void
status_local(weft_grpc_status *st, grpc_status_code code, const char *why)
{
    st->code = (int)code;
    snprintf(st->details, sizeof st->details, "%s", why);
}

/* Copy a received byte buffer into malloc'd memory. */
static int
take_buffer(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return WEFT_EPROTO; /* undecompressable */
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    size_t n = GRPC_SLICE_LENGTH(all);
    uint8_t *p = NULL;
    if (n > 0) {
        p = malloc(n);
        if (p == NULL) {
            grpc_slice_unref(all);
            return -ENOMEM;
        }
        memcpy(p, GRPC_SLICE_START_PTR(all), n);
    }
    grpc_slice_unref(all);
    *out = p;
    *len = n;
    return 0;
}

static grpc_metadata *
md_copy(const weft_grpc_md *md, size_t n)
{
    if (n == 0)
        return NULL;
    grpc_metadata *m = calloc(n, sizeof *m);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        m[i].key = grpc_slice_from_copied_string(md[i].key);
        m[i].value = grpc_slice_from_copied_string(md[i].value);
    }
    return m;
}

static void
md_free(grpc_metadata *m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++) {
        grpc_slice_unref(m[i].key);
        grpc_slice_unref(m[i].value);
    }
    free(m);
}

static int
md_valid(const weft_grpc_md *md, size_t n)
{
    if (n > 0 && md == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (md[i].key == NULL || md[i].key[0] == '\0' || md[i].value == NULL)
            return 0;
    return 1;
}

/* ---- channels ---------------------------------------------------------------- */

weft_grpc_channel *
weft_grpc_channel_new(const char *target, int *err)
{
    int rc = 0;
    weft_grpc_channel *c = NULL;
    if (target == NULL || target[0] == '\0') {
        rc = WEFT_EINVAL;
        goto out;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    grpc_init();
    /* Retries stay off: we configure no retry policy, and in gRPC 1.51 a
     * call that sent more than the retry buffer (256 KiB) never completes
     * its pending operations once cancelled. */
    grpc_arg args[3] = {
        {.type = GRPC_ARG_INTEGER,
         .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = -1},
        {.type = GRPC_ARG_INTEGER,
         .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
         .value.integer = -1},
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
    };
    grpc_channel_args cargs = {.num_args = 3, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    /* Never NULL: a bad target gives a "lame" channel whose calls fail. */
    c->ch = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
out:
    if (rc < 0 && c != NULL) {
        free(c);
        c = NULL;
    }
    if (err != NULL)
        *err = rc;
    return c;
}

void
weft_grpc_channel_free(weft_grpc_channel *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->ch);
    free(ch);
    grpc_shutdown();
}

int
weft_grpc_channel_wait_ready(weft_grpc_channel *ch, int64_t timeout_ms)
{
    if (ch == NULL)
        return WEFT_EINVAL;
    gpr_timespec deadline = deadline_after(timeout_ms);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    int rc;
    for (;;) {
        grpc_connectivity_state state = grpc_channel_check_connectivity_state(ch->ch, 1);
        if (state == GRPC_CHANNEL_READY) {
            rc = 0;
            break;
        }
        if (state == GRPC_CHANNEL_SHUTDOWN) {
            rc = WEFT_ECLOSED;
            break;
        }
        if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        /* Completes with success 0 at the deadline, else on any change. */
        grpc_channel_watch_connectivity_state(ch->ch, state, deadline, cq, TAG(TAG_WATCH));
        grpc_event ev = pluck(cq, TAG_WATCH, gpr_inf_future(GPR_CLOCK_MONOTONIC));
        if (!ev.success) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    cq_destroy(cq);
    return rc;
}

/* ---- unary calls ------------------------------------------------------------- */

int
weft_grpc_unary(weft_grpc_channel *ch, const char *method, const weft_grpc_md *md, size_t n_md,
                const void *req, size_t req_len, int64_t timeout_ms, uint8_t **resp,
                size_t *resp_len, weft_grpc_status *st)
{
    if (ch == NULL || method == NULL || method[0] != '/' || resp == NULL || resp_len == NULL ||
        st == NULL || (req == NULL && req_len > 0) || !md_valid(md, n_md))
        return WEFT_EINVAL;
    *resp = NULL;
    *resp_len = 0;
    int rc = 0;
    grpc_metadata *mdc = md_copy(md, n_md);
    if (n_md > 0 && mdc == NULL)
        return -ENOMEM;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice msl = grpc_slice_from_copied_string(method);
    gpr_timespec deadline =
        timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC) : deadline_after(timeout_ms);
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, msl, NULL,
                                               deadline, NULL);
    grpc_slice_unref(msl);

    grpc_slice body = grpc_slice_from_copied_buffer(req_len > 0 ? req : "", req_len);
    grpc_byte_buffer *send_buf = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_byte_buffer *recv_buf = NULL;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    owned_error error = {.owned = NULL};

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = mdc;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error.view;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, TAG(TAG_STATUS), NULL);
    if (e != GRPC_CALL_OK) {
        status_local(st, GRPC_STATUS_INTERNAL, grpc_call_error_to_string(e));
        rc = WEFT_ECLOSED;
    } else {
        /* The call's deadline bounds this wait. */
        (void)pluck(cq, TAG_STATUS, gpr_inf_future(GPR_CLOCK_MONOTONIC));
        status_fill(st, code, details, error.view);
        if (code != GRPC_STATUS_OK)
            rc = WEFT_ECLOSED;
        else if (recv_buf == NULL)
            rc = WEFT_EPROTO;
        else
            rc = take_buffer(recv_buf, resp, resp_len);
    }
    grpc_call_unref(call);
    cq_destroy(cq);
    grpc_byte_buffer_destroy(send_buf);
    if (recv_buf != NULL)
        grpc_byte_buffer_destroy(recv_buf);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_slice_unref(details);
    gpr_free(error.owned);
    md_free(mdc, n_md);
    return rc;
}

/* ---- streams ----------------------------------------------------------------- */

weft_grpc_stream *
weft_grpc_stream_start(weft_grpc_channel *ch, const char *method, const weft_grpc_md *md,
                       size_t n_md, int64_t timeout_ms, unsigned flags, int *err)
{
    int rc = 0;
    weft_grpc_stream *s = NULL;
    if (ch == NULL || method == NULL || method[0] != '/' || !md_valid(md, n_md) ||
        (flags & ~(unsigned)WEFT_GRPC_WAIT_FOR_READY) != 0) {
        rc = WEFT_EINVAL;
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->n_md = n_md;
    s->md = md_copy(md, n_md);
    if (n_md > 0 && s->md == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice msl = grpc_slice_from_copied_string(method);
    gpr_timespec deadline =
        timeout_ms <= 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC) : deadline_after(timeout_ms);
    s->call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, msl, NULL,
                                       deadline, NULL);
    grpc_slice_unref(msl);

    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = (flags & WEFT_GRPC_WAIT_FOR_READY) ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    ops[0].data.send_initial_metadata.count = s->n_md;
    ops[0].data.send_initial_metadata.metadata = s->md;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[2].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[2].data.recv_status_on_client.status = &s->code;
    ops[2].data.recv_status_on_client.status_details = &s->details;
    ops[2].data.recv_status_on_client.error_string = &s->error.view;
    if (grpc_call_start_batch(s->call, ops, 3, TAG(TAG_STATUS), NULL) != GRPC_CALL_OK) {
        rc = WEFT_EPROTO; /* cannot happen on a fresh call */
        goto out;
    }
    s->status_pending = 1;
out:
    if (rc < 0) {
        weft_grpc_stream_free(s);
        s = NULL;
    }
    if (err != NULL)
        *err = rc;
    return s;
}

/* Wait for the in-flight send or half-close to be taken by the transport. */
static int
send_wait(weft_grpc_stream *s, int64_t timeout_ms)
{
    if (!s->send_pending)
        return 0;
    grpc_event ev = pluck(s->cq, TAG_SEND, deadline_after(timeout_ms));
    if (ev.type == GRPC_QUEUE_TIMEOUT)
        return -ETIMEDOUT;
    s->send_pending = 0;
    if (s->send_buf != NULL) {
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
    }
    if (!ev.success)
        s->send_failed = 1;
    return 0;
}

static int
send_op(weft_grpc_stream *s, grpc_op *op)
{
    if (grpc_call_start_batch(s->call, op, 1, TAG(TAG_SEND), NULL) != GRPC_CALL_OK) {
        s->send_failed = 1;
        return WEFT_ECLOSED;
    }
    s->send_pending = 1;
    return 0;
}

int
weft_grpc_stream_send(weft_grpc_stream *s, const void *p, size_t len, int64_t timeout_ms)
{
    if (s == NULL || (p == NULL && len > 0))
        return WEFT_EINVAL;
    int rc = send_wait(s, timeout_ms);
    if (rc < 0)
        return rc;
    if (s->send_closed || s->send_failed)
        return WEFT_ECLOSED;
    grpc_slice body = grpc_slice_from_copied_buffer(len > 0 ? p : "", len);
    s->send_buf = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->send_buf;
    rc = send_op(s, &op);
    if (rc < 0) {
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
    }
    return rc;
}

int
weft_grpc_stream_close_send(weft_grpc_stream *s, int64_t timeout_ms)
{
    if (s == NULL)
        return WEFT_EINVAL;
    int rc = send_wait(s, timeout_ms);
    if (rc < 0)
        return rc;
    if (s->send_closed || s->send_failed)
        return WEFT_ECLOSED;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    s->send_closed = 1;
    return send_op(s, &op);
}

/* The call is over (or must be): collect its status. */
static void
finish(weft_grpc_stream *s)
{
    if (s->status_pending) {
        (void)pluck(s->cq, TAG_STATUS, gpr_inf_future(GPR_CLOCK_MONOTONIC));
        s->status_pending = 0;
        status_fill(&s->st, s->code, s->details, s->error.view);
    }
    s->ended = 1;
}

int
weft_grpc_stream_recv(weft_grpc_stream *s, uint8_t **msg, size_t *len, int64_t timeout_ms)
{
    if (s == NULL || msg == NULL || len == NULL)
        return WEFT_EINVAL;
    *msg = NULL;
    *len = 0;
    if (s->ended)
        return 0;
    if (!s->recv_pending) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &s->recv_buf;
        grpc_call_error e = grpc_call_start_batch(s->call, &op, 1, TAG(TAG_RECV), NULL);
        if (e != GRPC_CALL_OK) {
            grpc_call_cancel(s->call, NULL);
            finish(s);
            status_local(&s->st, GRPC_STATUS_INTERNAL, grpc_call_error_to_string(e));
            return 0;
        }
        s->recv_pending = 1;
    }
    grpc_event ev = pluck(s->cq, TAG_RECV, deadline_after(timeout_ms));
    if (ev.type == GRPC_QUEUE_TIMEOUT)
        return -ETIMEDOUT;
    s->recv_pending = 0;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (ev.success && bb != NULL) {
        int rc = take_buffer(bb, msg, len);
        grpc_byte_buffer_destroy(bb);
        if (rc == WEFT_EPROTO) {
            grpc_call_cancel(s->call, NULL);
            finish(s);
            status_local(&s->st, GRPC_STATUS_INTERNAL, "cannot decompress a message");
            return 0;
        }
        return rc < 0 ? rc : 1;
    }
    if (bb != NULL)
        grpc_byte_buffer_destroy(bb);
    /* No message: the server finished, or the call failed or was
     * cancelled; the status batch completes right after. */
    finish(s);
    return 0;
}

const weft_grpc_status *
weft_grpc_stream_status(const weft_grpc_stream *s)
{
    return &s->st;
}

void
weft_grpc_stream_cancel(weft_grpc_stream *s)
{
    if (s != NULL && s->call != NULL)
        grpc_call_cancel(s->call, NULL);
}

void
weft_grpc_stream_free(weft_grpc_stream *s)
{
    if (s == NULL)
        return;
    if (s->call != NULL) {
        if (s->status_pending)
            grpc_call_cancel(s->call, NULL);
        gpr_timespec forever = gpr_inf_future(GPR_CLOCK_MONOTONIC);
        if (s->send_pending)
            (void)pluck(s->cq, TAG_SEND, forever);
        if (s->recv_pending)
            (void)pluck(s->cq, TAG_RECV, forever);
        if (s->status_pending)
            (void)pluck(s->cq, TAG_STATUS, forever);
        grpc_call_unref(s->call);
    }
    cq_destroy(s->cq);
    if (s->send_buf != NULL)
        grpc_byte_buffer_destroy(s->send_buf);
    if (s->recv_buf != NULL)
        grpc_byte_buffer_destroy(s->recv_buf);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    gpr_free(s->error.owned);
    md_free(s->md, s->n_md);
    free(s);
}
