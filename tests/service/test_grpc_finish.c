/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the gRPC server does with a stream the handler has finished: the
 * messages the client still sends are read and dropped, never handed to
 * on_message. The proxy's ClientStream finishes a stream it refuses (an
 * undecodable message, a bad client id) and must not then publish what
 * follows on it; the fuzz target found it did.
 *
 * The server answers the first message with a large message (held by
 * flow control while the client does not read) and then finishes, so the
 * status waits behind that send while the client's next messages arrive.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/svc_grpc.h"
#include "weft/svc_grpc_client.h"

static const char *const methods[] = {"/weft.test.Stream/Stream"};
static atomic_int g_seen;
static uint8_t *g_big;
enum { BIG = 4 << 20 };

static void
on_message(void *user, weft_grpc_call *c, const uint8_t *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
    if (atomic_fetch_add(&g_seen, 1) == 0) {
        cr_assert_eq(weft_grpc_call_send(c, g_big, BIG), 0);
        weft_grpc_call_finish(c, WEFT_GRPC_INVALID_ARGUMENT, "refused");
    }
}

Test(grpc_finish, messages_after_finish_are_dropped)
{
    g_big = calloc(1, BIG);
    cr_assert_not_null(g_big);
    weft_grpc_config cfg = {
        .addr = "127.0.0.1:0", .methods = methods, .nmethods = 1, .h = {.on_message = on_message}};
    int err = 0;
    weft_grpc_server *s = weft_grpc_start(&cfg, &err);
    cr_assert_not_null(s, "start: %d", err);
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", weft_grpc_port(s));
    weft_grpc_channel *ch = weft_grpc_channel_new(target, &err);
    cr_assert_not_null(ch);
    weft_grpc_stream *st =
        weft_grpc_stream_start(ch, methods[0], NULL, 0, 10000, WEFT_GRPC_WAIT_FOR_READY, &err);
    cr_assert_not_null(st, "stream: %d", err);
    cr_assert_eq(weft_grpc_stream_send(st, "first", 5, 5000), 0);
    /* the server's big answer is now stuck behind the unread window */
    int sent = 0;
    for (int i = 0; i < 5; i++)
        sent += weft_grpc_stream_send(st, "after", 5, 5000) == 0;
    cr_assert_gt(sent, 0, "no message after the first was taken");
    usleep(300000); /* time for them to reach the server */
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc;
    size_t got = 0;
    while ((rc = weft_grpc_stream_recv(st, &msg, &len, 5000)) == 1) {
        got += len;
        free(msg);
    }
    cr_assert_eq(rc, 0, "the stream did not end: %d", rc);
    cr_assert_eq(got, (size_t)BIG, "the answer sent before the finish arrives whole");
    cr_assert_eq(weft_grpc_stream_status(st)->code, WEFT_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(atomic_load(&g_seen), 1,
                 "%d messages reached the handler; %d were sent after "
                 "it finished the call",
                 atomic_load(&g_seen), sent);
    weft_grpc_stream_free(st);
    weft_grpc_channel_free(ch);
    weft_grpc_stop(s);
    free(g_big);
}
