/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/rng.h: random numbers: a fast reproducible generator for coefficients,
 * simulations and tests, and OS randomness for seeds and nonces.
 */
#ifndef WEFT_RNG_H
#define WEFT_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** seeded through splitmix64: fast, reproducible from a seed.
 * Not cryptographic. The struct is public so callers can embed it. */
typedef struct weft_rng {
    uint64_t s[4];
} weft_rng;

WEFT_API void weft_rng_seed(weft_rng *rng, uint64_t seed);
WEFT_API uint64_t weft_rng_next(weft_rng *rng);
/* Fill buf with random bytes. */
WEFT_API void weft_rng_bytes(weft_rng *rng, uint8_t *buf, size_t len);
/* Fill a coefficient vector with random field elements, never all zero. */
WEFT_API void weft_rng_coefs(weft_rng *rng, uint8_t *coefs, size_t k);
/* A seed from the OS (getrandom), for callers that want no reproducibility. */
WEFT_API uint64_t weft_seed_from_os(void);

/* Fill buf with len bytes from the OS (getrandom), for keys and nonces.
 * Returns 0 or -errno. */
WEFT_NODISCARD WEFT_API int weft_random_bytes(void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
