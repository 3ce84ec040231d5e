/* SPDX-License-Identifier: Apache-2.0 */
/* client_util.c: weft-client's small helpers: interruptible sleep, SHA-256
 * digests as hex, a logarithm for Poisson gaps. */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <sodium.h>

#include "client.h"
#include "weft/clock.h"
#include "weft/encoding.h"

int
sleep_ns_interruptible(int64_t ns)
{
    /* Short slices: the signal may be taken by any of gRPC's threads. */
    int64_t end = weft_mono_ns() + ns;
    for (;;) {
        if (client_stop)
            return -EINTR;
        int64_t left = end - weft_mono_ns();
        if (left <= 0)
            return 0;
        if (left > (int64_t)CLIENT_POLL_MS * 1000000)
            left = (int64_t)CLIENT_POLL_MS * 1000000;
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        nanosleep(&ts, NULL);
    }
}

void
sha256_hex(const uint8_t *p, size_t len, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, len);
    weft_hex_encode(h, sizeof h, out);
}

double
ln_pos(double x)
{
    /* x = m * 2^e with m in [1, 2); ln m = 2 atanh(z), z = (m-1)/(m+1) <= 1/3. */
    int e = 0;
    while (x >= 2.0) {
        x /= 2.0;
        e++;
    }
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * 0.69314718055994530942;
}
