/* SPDX-License-Identifier: Apache-2.0 */
/* The node pool's breaker (proxy/src/pool.c): three failed health checks
 * in a row open it for PX_BREAKER_MS, it goes half-open after that, one
 * more failure opens it again, a good check closes it. */
#include <criterion/criterion.h>

#include "proxy.h"

Test(proxy_breaker, closed_until_the_third_failure_in_a_row)
{
    px_breaker b = {0};
    cr_assert(px_breaker_usable(&b, 0));
    cr_assert_eq(px_breaker_health(&b, 0, 100), 0);
    cr_assert_eq(px_breaker_health(&b, 0, 200), 0);
    cr_assert(px_breaker_usable(&b, 250), "two failures keep it closed");
    cr_assert_eq(px_breaker_health(&b, 0, 300), 1, "the third opens it");
    cr_assert_not(px_breaker_usable(&b, 301));
    cr_assert_not(px_breaker_usable(&b, 300 + PX_BREAKER_MS - 1));
    cr_assert_eq(px_breaker_health(&b, 0, 400), 0, "already open: not opened again");
    cr_assert_eq(b.until, 300 + PX_BREAKER_MS, "a failure while open does not extend it");
}

Test(proxy_breaker, a_good_check_resets_the_count)
{
    px_breaker b = {0};
    cr_assert_eq(px_breaker_health(&b, 0, 1), 0);
    cr_assert_eq(px_breaker_health(&b, 0, 2), 0);
    cr_assert_eq(px_breaker_health(&b, 1, 3), 0);
    cr_assert_eq(px_breaker_health(&b, 0, 4), 0);
    cr_assert_eq(px_breaker_health(&b, 0, 5), 0);
    cr_assert(px_breaker_usable(&b, 6), "failures are counted in a row only");
    cr_assert_eq(px_breaker_health(&b, 0, 7), 1);
}

Test(proxy_breaker, half_open_after_the_wait_and_one_failure_reopens)
{
    px_breaker b = {0};
    for (int i = 0; i < PX_BREAKER_FAILS; i++)
        px_breaker_health(&b, 0, 1000);
    cr_assert_not(px_breaker_usable(&b, 1000));
    cr_assert(px_breaker_usable(&b, 1000 + PX_BREAKER_MS), "tried again after the wait");
    cr_assert_eq(px_breaker_health(&b, 0, 1000 + PX_BREAKER_MS + 5), 1,
                 "one failure while half-open opens it again");
    cr_assert_not(px_breaker_usable(&b, 1000 + PX_BREAKER_MS + 6));
    cr_assert_eq(px_breaker_health(&b, 1, 1000 + PX_BREAKER_MS + 7), 0);
    cr_assert(px_breaker_usable(&b, 1000 + PX_BREAKER_MS + 8), "a good check closes it at once");
}
