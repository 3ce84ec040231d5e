/* SPDX-License-Identifier: Apache-2.0 */
/* weft_random_bytes (getrandom): fills exactly the bytes asked for, any
 * length from 0 up, never the same bytes twice, and bytes that look
 * uniform. And weft_seed_from_os, which draws from the same source. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/rng.h"

Test(random, zero_length_succeeds_and_writes_nothing)
{
    uint8_t b[4] = {0xa5, 0xa5, 0xa5, 0xa5};
    cr_assert_eq(weft_random_bytes(b, 0), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(b[i], 0xa5);
}

Test(random, fills_exactly_len_bytes)
{
    static const size_t lens[] = {1, 2, 7, 8, 31, 32, 33, 255, 256, 257, 4096, 65537};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = lens[i];
        uint8_t *b = malloc(len + 16);
        cr_assert_not_null(b);
        memset(b, 0, len + 16);
        /* one draw of len bytes all zero has probability 256^-len; for the
         * short ones allow a few tries before calling it broken */
        int nonzero = 0;
        for (int t = 0; t < 8 && !nonzero; t++) {
            cr_assert_eq(weft_random_bytes(b, len), 0, "len %zu", len);
            for (size_t j = 0; j < len && !nonzero; j++)
                nonzero = b[j] != 0;
        }
        cr_assert(nonzero, "len %zu: only zeros", len);
        for (size_t j = len; j < len + 16; j++)
            cr_assert_eq(b[j], 0, "len %zu: byte %zu past the end written", len, j);
        free(b);
    }
}

Test(random, two_draws_differ)
{
    uint8_t a[32], b[32];
    cr_assert_eq(weft_random_bytes(a, sizeof a), 0);
    cr_assert_eq(weft_random_bytes(b, sizeof b), 0);
    cr_assert_neq(memcmp(a, b, sizeof a), 0, "two 32-byte draws are equal");
}

Test(random, byte_values_look_uniform)
{
    /* 1 MiB: each value is expected 4096 times, standard deviation 64; a
     * count outside 4096 +- 640 (10 sigma) means a broken source. */
    enum { N = 1 << 20 };
    uint8_t *b = malloc(N);
    cr_assert_not_null(b);
    cr_assert_eq(weft_random_bytes(b, N), 0);
    unsigned count[256] = {0};
    for (size_t i = 0; i < N; i++)
        count[b[i]]++;
    for (int v = 0; v < 256; v++)
        cr_assert(count[v] > 4096 - 640 && count[v] < 4096 + 640, "value %02x seen %u times", v,
                  count[v]);
    /* and no long runs of one value, as a stuck source would give */
    size_t run = 1, longest = 1;
    for (size_t i = 1; i < N; i++) {
        run = b[i] == b[i - 1] ? run + 1 : 1;
        if (run > longest)
            longest = run;
    }
    cr_assert_lt(longest, 8, "a run of %zu equal bytes", longest);
    free(b);
}

Test(random, os_seeds_differ)
{
    uint64_t a = weft_seed_from_os(), b = weft_seed_from_os();
    cr_assert_neq(a, b);
}
