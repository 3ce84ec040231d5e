/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the libp2p Noise tests (test_noise.c,
 * test_noise_forged.c): a seeded generator for test data (WEFT_TEST_SEED
 * overrides the seed; SEEDF puts it into assertion messages), a handshake
 * constructor that fails the test on error, and fixed identities from a tag.
 */
#ifndef WEFT_TESTS_TRANSPORT_NOISE_TESTUTIL_H
#define WEFT_TESTS_TRANSPORT_NOISE_TESTUTIL_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "noise_internal.h"
#include "weft/noise.h"

#define SEEDF " [seed=%" PRIu64 "]"

/* ---- seeded test data ------------------------------------------------------------------- */

typedef struct trng {
    uint64_t x;
} trng;

static inline uint64_t
trng_next(trng *r)
{
    uint64_t z = (r->x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void
trng_fill(trng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)trng_next(r);
}

static inline uint64_t
test_seed(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    if (s != NULL && *s)
        return strtoull(s, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

/* ---- handshakes and identities ------------------------------------------------------------ */

static inline weft_noise_hs *
new_hs(int initiator, const weft_identity *id, const weft_peer_id *expect)
{
    int err = 1;
    weft_noise_hs *hs = weft_noise_hs_new(initiator, id, expect, &err);
    cr_assert(hs != NULL && err == 0, "weft_noise_hs_new: %d %s", err, weft_strerror(err));
    return hs;
}

static inline void
ident(weft_identity *id, uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    weft_identity_from_seed(id, seed);
}

#endif
