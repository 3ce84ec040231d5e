/* SPDX-License-Identifier: Apache-2.0 */
/* The clocks of weft/clock.h: monotonic time never goes back and measures
 * a sleep; the ms readings agree with the ns ones; Unix time is the
 * system's (time(NULL)) in both units. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <time.h>

#include "weft/clock.h"

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

Test(clock, monotonic_never_goes_back)
{
    int64_t prev = weft_mono_ns(), prev_ms = weft_mono_ms();
    for (int i = 0; i < 200000; i++) {
        int64_t now = weft_mono_ns();
        cr_assert_geq(now, prev, "read %d: %lld after %lld", i, (long long)now, (long long)prev);
        prev = now;
        if (i % 64 == 0) {
            int64_t ms = weft_mono_ms();
            cr_assert_geq(ms, prev_ms);
            prev_ms = ms;
        }
    }
}

Test(clock, monotonic_measures_a_sleep)
{
    int64_t t0 = weft_mono_ns(), m0 = weft_mono_ms();
    sleep_ms(30);
    int64_t t1 = weft_mono_ns(), m1 = weft_mono_ms();
    cr_assert_geq(t1 - t0, 30 * 1000000LL, "slept 30 ms, measured %lld ns", (long long)(t1 - t0));
    cr_assert_lt(t1 - t0, 10 * 1000000000LL, "30 ms measured as %lld ns", (long long)(t1 - t0));
    cr_assert_geq(m1 - m0, 29, "ms clock: %lld", (long long)(m1 - m0));
}

Test(clock, ms_and_ns_agree)
{
    int64_t ns0 = weft_mono_ns();
    int64_t ms = weft_mono_ms();
    int64_t ns1 = weft_mono_ns();
    cr_assert(ms >= ns0 / 1000000 && ms <= ns1 / 1000000, "mono: %lld ms outside %lld..%lld ns",
              (long long)ms, (long long)ns0, (long long)ns1);
    ns0 = weft_unix_ns();
    ms = weft_unix_ms();
    ns1 = weft_unix_ns();
    /* the wall clock may be stepped between reads; allow a second */
    cr_assert(ms >= ns0 / 1000000 - 1000 && ms <= ns1 / 1000000 + 1000,
              "unix: %lld ms outside %lld..%lld ns", (long long)ms, (long long)ns0, (long long)ns1);
}

Test(clock, unix_time_is_the_systems)
{
    time_t before = time(NULL);
    int64_t ms = weft_unix_ms(), ns = weft_unix_ns();
    time_t after = time(NULL);
    cr_assert(ms / 1000 >= (int64_t)before - 1 && ms / 1000 <= (int64_t)after + 1,
              "weft_unix_ms %lld, time() %lld..%lld", (long long)ms, (long long)before,
              (long long)after);
    cr_assert(ns / 1000000000 >= (int64_t)before - 1 && ns / 1000000000 <= (int64_t)after + 1,
              "weft_unix_ns %lld, time() %lld..%lld", (long long)ns, (long long)before,
              (long long)after);
    /* after 2020-01-01 and before 2100: seconds, not ms or ns, were read */
    cr_assert_gt(ms, 1577836800000LL);
    cr_assert_lt(ms, 4102444800000LL);
}
