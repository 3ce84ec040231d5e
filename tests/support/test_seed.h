/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_seed.h: the seeded test data of every test suite. splitmix64, kept
 * apart from the library's generator on purpose (a test of weft_rng must
 * not draw its data from weft_rng), and the seed of a run: WEFT_TEST_SEED
 * when it is set and not empty (to replay a failure), else one from the
 * clock and the process id. Header only; no Criterion.
 */
#ifndef WEFT_TESTS_SUPPORT_TEST_SEED_H
#define WEFT_TESTS_SUPPORT_TEST_SEED_H

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "weft/clock.h"

/* The next splitmix64 output of the state *x. */
static inline uint64_t
test_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t
test_seed_of_run(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    uint64_t x;

    if (s != NULL && *s)
        return strtoull(s, NULL, 0);
    x = (uint64_t)weft_unix_ns() ^ ((uint64_t)getpid() << 17);
    return test_splitmix(&x);
}

#endif
