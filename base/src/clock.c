/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic and Unix clocks (weft/clock.h). */
#include <time.h>

#include "weft/clock.h"

static int64_t
read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
weft_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}

int64_t
weft_mono_ms(void)
{
    return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t
weft_unix_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}

int64_t
weft_unix_ms(void)
{
    return read_ns(CLOCK_REALTIME) / 1000000;
}
