/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_ratelimit.h: per-client publish limits for weft-proxy.
 *
 * The limits come from a client's JWT claims (weft/svc_jwt.h) and are
 * passed on every call, so a client whose next token carries other limits
 * is judged by the new ones from that call on. Four limits, each 0 for
 * "unlimited":
 *
 *  - max_message_size: bytes of one message. Stateless.
 *  - max_publish_per_sec: a token bucket holding at most that many
 *    publishes (the burst), refilled continuously at that rate. A client
 *    seen for the first time starts with a full bucket.
 *  - max_publish_per_hour: a sliding window of the last 60 minutes, counted
 *    in whole-minute buckets: a publish counts until the end of the 60th
 *    minute after the minute it was made in.
 *  - daily_quota: bytes published per UTC day; the count resets at
 *    00:00 UTC (now_ms is Unix time, so a day is floor(now_ms / 86400000)).
 *
 * Time is a parameter (Unix milliseconds, normally CLOCK_REALTIME), so
 * tests run on a fake clock. A clock that steps backwards is treated as
 * standing still: nothing is refunded.
 *
 * Memory is bounded: at most max_clients clients are tracked. A new client
 * beyond that evicts the least recently seen one, which forgets that
 * client's counters (it starts afresh when it comes back), so size
 * max_clients well above the number of clients active within a day.
 * Calls whose limits are all 0, or only max_message_size, track nothing.
 *
 * Threads: every function but _new and _free may be called from any
 * thread concurrently (the table is split into shards, each behind its own
 * mutex; a call holds one shard's mutex for a few hundred nanoseconds and
 * never blocks on anything else). Calls for one client are serialised, so
 * concurrent publishes are counted exactly.
 */
#ifndef WEFT_SVC_RATELIMIT_H
#define WEFT_SVC_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One client's limits; 0 = unlimited, negative values are refused with
 * WEFT_EINVAL. Values above 10^12 behave as 10^12. */
typedef struct weft_limits {
    int64_t max_publish_per_hour; /* publishes in any 60-minute window */
    int64_t max_publish_per_sec;  /* sustained rate and burst */
    int64_t max_message_size;     /* bytes per message */
    int64_t daily_quota;          /* bytes per UTC day */
} weft_limits;

/* Longest client id accepted (bytes, without the NUL). */
#define WEFT_RATELIMIT_ID_MAX 1024

typedef struct weft_ratelimit weft_ratelimit;

/* max_clients: clients tracked at once (0 = 100000). NULL on ENOMEM. */
WEFT_API weft_ratelimit *weft_ratelimit_new(size_t max_clients);
/* NULL does nothing. No other call may be running. */
WEFT_API void weft_ratelimit_free(weft_ratelimit *r);

/*
 * Judge one publish of msg_bytes by client under lim at now_ms.
 *
 * Allowed: returns 0, charges the publish (one publish against the per-sec
 * and per-hour limits, msg_bytes against the daily quota), sets
 * *retry_after_ms to 0 and *which to NULL.
 *
 * Refused: returns WEFT_ELIMIT and charges nothing. *which names the limit
 * (a static string): "max_message_size", "max_publish_per_sec",
 * "max_publish_per_hour" or "daily_quota"; when several refuse, the one
 * that lifts last. *retry_after_ms is the time until that limit would
 * allow this same publish (> 0), or -1 if it never will (msg_bytes over
 * max_message_size, or over the whole daily quota).
 *
 * WEFT_EINVAL: NULL or empty client, client longer than
 * WEFT_RATELIMIT_ID_MAX, a negative limit. -ENOMEM: a new client could not
 * be allocated. retry_after_ms and which may be NULL.
 */
WEFT_NODISCARD WEFT_API int weft_ratelimit_check(weft_ratelimit *r, const char *client,
                                                 const weft_limits *lim, size_t msg_bytes,
                                                 int64_t now_ms, int64_t *retry_after_ms,
                                                 const char **which);

/* Clients currently tracked (for metrics and tests). */
WEFT_API size_t weft_ratelimit_count(weft_ratelimit *r);

/* Forget one client's counters (e.g. an operator reset). 1 if it was
 * tracked, 0 if not. */
WEFT_API int weft_ratelimit_forget(weft_ratelimit *r, const char *client);

#ifdef __cplusplus
}
#endif
#endif
