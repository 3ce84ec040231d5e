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
#include "test_seed.h"
#include "weft/noise.h"

#define SEEDF " [seed=%" PRIu64 "]"

/* ---- seeded test data ------------------------------------------------------------------- */

typedef struct trng {
    uint64_t x;
} trng;

static inline uint64_t
trng_next(trng *r)
{
    return test_splitmix(&r->x);
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
    return test_seed_of_run();
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
