/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_bridge.h: hand work to an event loop's thread from other threads
 * (gRPC's completion-queue thread, the HTTP thread).
 *
 * A bridge is a bounded multi-producer queue of closures drained on the
 * loop thread whenever weft_loop_wake fires. weft_bridge_post never blocks:
 * a full queue answers WEFT_ELIMIT and the caller reports the overload.
 * weft_bridge_call posts and waits for the closure to have run, for the
 * occasional query (an API request reading router state).
 */
#ifndef WEFT_SVC_BRIDGE_H
#define WEFT_SVC_BRIDGE_H

#include <stddef.h>

#include "weft/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_bridge weft_bridge;
typedef void (*weft_bridge_fn)(void *arg);

/* Installs the loop's wake handler (one bridge per loop). cap: queued
 * closures before posts are refused (0 = 65536). */
weft_bridge *weft_bridge_new(weft_loop *loop, size_t cap, int *err);
/* After the loop stopped for good, on the loop's thread: refuses further
 * posts, runs the closures still queued (so their owners free what they
 * carry), and frees. */
void weft_bridge_free(weft_bridge *b);

/* Run fn(arg) on the loop thread. 0, WEFT_ELIMIT (queue full) or
 * WEFT_ECLOSED (bridge closed). */
int weft_bridge_post(weft_bridge *b, weft_bridge_fn fn, void *arg);
/* As weft_bridge_post, and wait until fn has run. Must not be called on the
 * loop thread. */
int weft_bridge_call(weft_bridge *b, weft_bridge_fn fn, void *arg);
/* Closures queued now (for metrics). */
size_t weft_bridge_depth(weft_bridge *b);

#ifdef __cplusplus
}
#endif
#endif
