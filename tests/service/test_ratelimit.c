/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client limits on a fake clock (now_ms is a parameter; nothing
 * sleeps): the per-second bucket's burst, refill and retry hints, the
 * hourly window sliding minute by minute, the daily quota resetting at
 * 00:00 UTC, message size, refusals charging nothing, the binding limit
 * when several refuse, bounded memory with least-recently-seen eviction,
 * and exact counting under four concurrent threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft/common.h"
#include "weft/svc_ratelimit.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
/* 2024-03-10T00:00:00Z */
#define DAY0_MS 1710028800000LL

static int64_t wait_ms;
static const char *which;

static int
check(weft_ratelimit *r, const char *client, const weft_limits *l, size_t bytes, int64_t now)
{
    wait_ms = -42;
    which = "unset";
    return weft_ratelimit_check(r, client, l, bytes, now, &wait_ms, &which);
}

static void
expect_ok(weft_ratelimit *r, const char *client, const weft_limits *l, size_t bytes, int64_t now)
{
    int rc = check(r, client, l, bytes, now);
    cr_assert_eq(rc, 0, "%s at %lld: rc %d (%s, retry %lld)", client, (long long)now, rc,
                 which ? which : "-", (long long)wait_ms);
    cr_assert_eq(wait_ms, 0);
    cr_assert_null(which);
}

static void
expect_deny(weft_ratelimit *r, const char *client, const weft_limits *l, size_t bytes, int64_t now,
            const char *want, int64_t want_wait)
{
    int rc = check(r, client, l, bytes, now);
    cr_assert_eq(rc, WEFT_ELIMIT, "%s at %lld: rc %d, want WEFT_ELIMIT", client, (long long)now,
                 rc);
    cr_assert_str_eq(which, want);
    cr_assert_eq(wait_ms, want_wait, "%s: retry %lld, want %lld", want, (long long)wait_ms,
                 (long long)want_wait);
}

Test(ratelimit, per_sec_burst_then_deny)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    cr_assert_not_null(r);
    weft_limits l = {.max_publish_per_sec = 5};
    int64_t t = DAY0_MS + 123;
    for (int i = 0; i < 5; i++)
        expect_ok(r, "alice", &l, 10, t);
    /* one publish refills in 1000/5 ms */
    expect_deny(r, "alice", &l, 10, t, "max_publish_per_sec", 200);
    expect_deny(r, "alice", &l, 10, t + 150, "max_publish_per_sec", 50);
    expect_deny(r, "alice", &l, 10, t + 199, "max_publish_per_sec", 1);
    expect_ok(r, "alice", &l, 10, t + 200);
    expect_deny(r, "alice", &l, 10, t + 200, "max_publish_per_sec", 200);
    /* sustained rate: one every 200 ms goes through */
    for (int i = 2; i < 20; i++)
        expect_ok(r, "alice", &l, 10, t + 200 * i);
    /* other clients have their own bucket */
    for (int i = 0; i < 5; i++)
        expect_ok(r, "bob", &l, 10, t);
    weft_ratelimit_free(r);
}

Test(ratelimit, per_sec_refills_to_burst_only)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_sec = 3};
    int64_t t = 1000;
    for (int i = 0; i < 3; i++)
        expect_ok(r, "c", &l, 1, t);
    /* a long pause refills the bucket to the burst, not beyond */
    t += 60 * MIN_MS;
    for (int i = 0; i < 3; i++)
        expect_ok(r, "c", &l, 1, t);
    expect_deny(r, "c", &l, 1, t, "max_publish_per_sec", 334); /* ceil(1000/3) */
    /* a limit of 1 per second waits a whole second */
    weft_limits one = {.max_publish_per_sec = 1};
    expect_ok(r, "d", &one, 1, t);
    expect_deny(r, "d", &one, 1, t, "max_publish_per_sec", 1000);
    expect_deny(r, "d", &one, 1, t + 999, "max_publish_per_sec", 1);
    expect_ok(r, "d", &one, 1, t + 1000);
    weft_ratelimit_free(r);
}

Test(ratelimit, per_hour_window_slides)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_hour = 10};
    int64_t t0 = DAY0_MS + 5 * HOUR_MS; /* a minute boundary */
    for (int i = 0; i < 5; i++)
        expect_ok(r, "h", &l, 1, t0 + 10 * 1000);
    for (int i = 0; i < 5; i++)
        expect_ok(r, "h", &l, 1, t0 + 30 * MIN_MS);
    /* the first five leave the window when minute 0 is 60 minutes old */
    expect_deny(r, "h", &l, 1, t0 + 45 * MIN_MS, "max_publish_per_hour", 15 * MIN_MS);
    expect_deny(r, "h", &l, 1, t0 + 60 * MIN_MS - 1, "max_publish_per_hour", 1);
    for (int i = 0; i < 5; i++)
        expect_ok(r, "h", &l, 1, t0 + 60 * MIN_MS);
    /* now minute 30 holds the oldest five */
    expect_deny(r, "h", &l, 1, t0 + 61 * MIN_MS, "max_publish_per_hour", 29 * MIN_MS);
    expect_ok(r, "h", &l, 1, t0 + 90 * MIN_MS);
    /* a gap longer than the window clears it */
    for (int i = 0; i < 10; i++)
        expect_ok(r, "h", &l, 1, t0 + 10 * HOUR_MS);
    expect_deny(r, "h", &l, 1, t0 + 10 * HOUR_MS, "max_publish_per_hour", HOUR_MS);
    weft_ratelimit_free(r);
}

Test(ratelimit, per_hour_retry_waits_for_enough_minutes)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_hour = 4};
    int64_t t0 = 100 * HOUR_MS;
    expect_ok(r, "x", &l, 1, t0);
    expect_ok(r, "x", &l, 1, t0 + 10 * MIN_MS);
    expect_ok(r, "x", &l, 1, t0 + 20 * MIN_MS);
    expect_ok(r, "x", &l, 1, t0 + 20 * MIN_MS);
    expect_deny(r, "x", &l, 1, t0 + 25 * MIN_MS, "max_publish_per_hour", 35 * MIN_MS);
    /* the limit dropped to 2 (a new token): three of four must expire */
    weft_limits two = {.max_publish_per_hour = 2};
    expect_deny(r, "x", &two, 1, t0 + 25 * MIN_MS, "max_publish_per_hour", 55 * MIN_MS);
    weft_ratelimit_free(r);
}

Test(ratelimit, daily_quota_resets_at_utc_midnight)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.daily_quota = 1000};
    int64_t late = DAY0_MS + 24 * HOUR_MS - MIN_MS; /* 23:59:00 */
    expect_ok(r, "q", &l, 600, DAY0_MS + 8 * HOUR_MS);
    expect_ok(r, "q", &l, 400, late);
    expect_deny(r, "q", &l, 1, late, "daily_quota", MIN_MS);
    expect_deny(r, "q", &l, 1, late + MIN_MS - 1, "daily_quota", 1);
    /* 00:00:00.000 UTC the next day */
    expect_ok(r, "q", &l, 1000, late + MIN_MS);
    expect_deny(r, "q", &l, 1, late + MIN_MS, "daily_quota", 24 * HOUR_MS);
    /* a message larger than the whole quota never fits */
    expect_deny(r, "fresh", &l, 1001, late, "daily_quota", -1);
    weft_ratelimit_free(r);
}

Test(ratelimit, max_message_size)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_message_size = 100};
    expect_ok(r, "m", &l, 100, 5);
    expect_deny(r, "m", &l, 101, 5, "max_message_size", -1);
    expect_deny(r, "m", &l, SIZE_MAX, 5, "max_message_size", -1);
    expect_ok(r, "m", &l, 0, 5);
    /* size alone needs no state */
    cr_assert_eq(weft_ratelimit_count(r), 0);
    weft_ratelimit_free(r);
}

Test(ratelimit, denied_requests_charge_nothing)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_sec = 2, .max_publish_per_hour = 3, .daily_quota = 100};
    int64_t t = DAY0_MS + HOUR_MS;
    expect_ok(r, "n", &l, 10, t);
    expect_ok(r, "n", &l, 10, t);
    /* refused by the bucket: must not count against the hour or the day */
    for (int i = 0; i < 50; i++)
        expect_deny(r, "n", &l, 10, t, "max_publish_per_sec", 500);
    /* refused by size: nothing charged either */
    weft_limits sized = l;
    sized.max_message_size = 50;
    expect_deny(r, "n", &sized, 51, t + 1000, "max_message_size", -1);
    /* refused by the day (20 + 81 > 100); one publish left in the hour */
    expect_deny(r, "n", &l, 81, t + 1000, "daily_quota", 23 * HOUR_MS - 1000);
    expect_ok(r, "n", &l, 80, t + 1000);
    /* the hour is now used up; day exactly at quota */
    expect_deny(r, "n", &l, 0, t + 5000, "max_publish_per_hour", HOUR_MS - 5000 + 0);
    weft_ratelimit_free(r);
}

Test(ratelimit, binding_limit_is_the_one_that_lifts_last)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_sec = 1, .max_publish_per_hour = 1};
    int64_t t = 7 * HOUR_MS;
    expect_ok(r, "b", &l, 1, t);
    /* both refuse: the bucket in 1 s, the hour in 60 min */
    expect_deny(r, "b", &l, 1, t, "max_publish_per_hour", HOUR_MS);
    /* size beats everything: it never lifts */
    weft_limits s = l;
    s.max_message_size = 1;
    expect_deny(r, "b", &s, 2, t, "max_message_size", -1);
    weft_ratelimit_free(r);
}

Test(ratelimit, unlimited_tracks_nothing)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits none = {0};
    for (int i = 0; i < 1000; i++)
        expect_ok(r, "u", &none, (size_t)i * 1000, i);
    cr_assert_eq(weft_ratelimit_count(r), 0);
    weft_ratelimit_free(r);
}

Test(ratelimit, bad_arguments)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_sec = 1};
    weft_limits neg = {.daily_quota = -1};
    char longid[WEFT_RATELIMIT_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    cr_assert_eq(check(r, "x", &neg, 1, 0), WEFT_EINVAL);
    cr_assert_eq(check(r, "", &l, 1, 0), WEFT_EINVAL);
    cr_assert_eq(check(r, NULL, &l, 1, 0), WEFT_EINVAL);
    cr_assert_eq(check(r, "x", NULL, 1, 0), WEFT_EINVAL);
    cr_assert_eq(check(NULL, "x", &l, 1, 0), WEFT_EINVAL);
    cr_assert_eq(check(r, longid, &l, 1, 0), WEFT_EINVAL);
    longid[WEFT_RATELIMIT_ID_MAX] = 0;
    cr_assert_eq(check(r, longid, &l, 1, 0), 0);
    /* NULL out-parameters are allowed */
    cr_assert_eq(weft_ratelimit_check(r, "y", &l, 1, 0, NULL, NULL), 0);
    cr_assert_eq(weft_ratelimit_check(r, "y", &l, 1, 0, NULL, NULL), WEFT_ELIMIT);
    weft_ratelimit_free(r);
    weft_ratelimit_free(NULL);
}

Test(ratelimit, clock_going_backwards_refunds_nothing)
{
    weft_ratelimit *r = weft_ratelimit_new(16);
    weft_limits l = {.max_publish_per_sec = 2, .max_publish_per_hour = 3, .daily_quota = 10};
    int64_t t = DAY0_MS + 10 * HOUR_MS;
    expect_ok(r, "z", &l, 5, t);
    expect_ok(r, "z", &l, 5, t);
    /* a step back by an hour and a day gives no tokens and no new day */
    cr_assert_eq(check(r, "z", &l, 1, t - HOUR_MS), WEFT_ELIMIT);
    cr_assert_eq(check(r, "z", &l, 1, t - 25 * HOUR_MS), WEFT_ELIMIT);
    cr_assert(wait_ms > 0);
    weft_ratelimit_free(r);
}

Test(ratelimit, eviction_forgets_least_recently_seen)
{
    weft_ratelimit *r = weft_ratelimit_new(3);
    weft_limits l = {.max_publish_per_sec = 1};
    int64_t t = 50000;
    expect_ok(r, "a", &l, 1, t);
    expect_ok(r, "b", &l, 1, t);
    expect_ok(r, "c", &l, 1, t);
    /* a refused publish still counts as being seen */
    expect_deny(r, "a", &l, 1, t, "max_publish_per_sec", 1000);
    cr_assert_eq(weft_ratelimit_count(r), 3);
    /* d evicts b, the least recently seen */
    expect_ok(r, "d", &l, 1, t);
    cr_assert_eq(weft_ratelimit_count(r), 3);
    expect_deny(r, "a", &l, 1, t, "max_publish_per_sec", 1000);
    expect_deny(r, "c", &l, 1, t, "max_publish_per_sec", 1000);
    expect_deny(r, "d", &l, 1, t, "max_publish_per_sec", 1000);
    /* b comes back with a fresh bucket (evicting a, now the oldest) */
    expect_ok(r, "b", &l, 1, t);
    cr_assert_eq(weft_ratelimit_count(r), 3);
    cr_assert_eq(weft_ratelimit_forget(r, "b"), 1);
    cr_assert_eq(weft_ratelimit_forget(r, "b"), 0);
    cr_assert_eq(weft_ratelimit_count(r), 2);
    expect_ok(r, "b", &l, 1, t);
    weft_ratelimit_free(r);
}

Test(ratelimit, many_clients_stay_bounded)
{
    /* large enough to take the sharded path */
    const size_t max = 5000;
    weft_ratelimit *r = weft_ratelimit_new(max);
    weft_limits l = {
        .max_publish_per_hour = 100, .max_publish_per_sec = 10, .daily_quota = 1 << 20};
    char id[32];
    for (int i = 0; i < 40000; i++) {
        snprintf(id, sizeof id, "client-%d", i);
        expect_ok(r, id, &l, 100, DAY0_MS + i);
        cr_assert_leq(weft_ratelimit_count(r), max);
    }
    /* every shard has long been full */
    cr_assert_eq(weft_ratelimit_count(r), max);
    /* the most recent client is still tracked: its bucket is 1 short */
    for (int i = 0; i < 9; i++)
        expect_ok(r, "client-39999", &l, 1, DAY0_MS + 39999);
    expect_deny(r, "client-39999", &l, 1, DAY0_MS + 39999, "max_publish_per_sec", 100);
    weft_ratelimit_free(r);
}

struct worker {
    weft_ratelimit *r;
    int id;
    int ok_shared, ok_own, bytes_ok;
};

static void *
hammer(void *arg)
{
    struct worker *w = arg;
    weft_limits hour = {.max_publish_per_hour = 1000};
    weft_limits quota = {.daily_quota = 12345};
    weft_limits sec = {.max_publish_per_sec = 50};
    char own[16];
    snprintf(own, sizeof own, "own-%d", w->id);
    for (int i = 0; i < 2000; i++) {
        int64_t now = DAY0_MS + 1000; /* one instant: no refill, no sliding */
        if (weft_ratelimit_check(w->r, "shared", &hour, 1, now, NULL, NULL) == 0)
            w->ok_shared++;
        if (weft_ratelimit_check(w->r, "quota", &quota, 7, now, NULL, NULL) == 0)
            w->bytes_ok += 7;
        if (weft_ratelimit_check(w->r, own, &sec, 1, now, NULL, NULL) == 0)
            w->ok_own++;
    }
    return NULL;
}

Test(ratelimit, four_threads_count_exactly)
{
    weft_ratelimit *r = weft_ratelimit_new(64);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.r = r, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    int shared = 0, bytes = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        shared += w[i].ok_shared;
        bytes += w[i].bytes_ok;
        cr_assert_eq(w[i].ok_own, 50, "thread %d own client: %d allowed", i, w[i].ok_own);
    }
    cr_assert_eq(shared, 1000);
    cr_assert_eq(bytes, 12345 / 7 * 7);
    cr_assert_eq(weft_ratelimit_count(r), 6);
    weft_ratelimit_free(r);
}
