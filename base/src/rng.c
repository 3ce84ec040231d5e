/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Coefficient generator: xoshiro256** (Blackman and Vigna), state seeded
 * from one 64-bit seed through splitmix64 so that any seed, 0 included,
 * gives a good state. Reproducible across platforms: bytes are taken from
 * each 64-bit output least-significant first.
 */
#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include "weft/rng.h"

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void
weft_rng_seed(weft_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t
weft_rng_next(weft_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void
weft_rng_bytes(weft_rng *rng, uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t v = weft_rng_next(rng);
        for (int b = 0; b < 8 && i < len; b++, i++) {
            buf[i] = (uint8_t)v;
            v >>= 8;
        }
    }
}

void
weft_rng_coefs(weft_rng *rng, uint8_t *coefs, size_t k)
{
    if (k == 0)
        return;
    for (;;) {
        weft_rng_bytes(rng, coefs, k);
        for (size_t i = 0; i < k; i++)
            if (coefs[i])
                return;
        /* All zero (probability 256^-k): draw again. */
    }
}

uint64_t
weft_seed_from_os(void)
{
    uint64_t v;
    ssize_t n;
    do {
        n = getrandom(&v, sizeof v, 0);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof v)
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    return splitmix64(&mix);
}

int
weft_random_bytes(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
