/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/siphash.h: SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash
 * for hash tables whose keys come from the network or from clients: with a
 * random secret key nobody outside can aim entries at one bucket.
 */
#ifndef WEFT_SIPHASH_H
#define WEFT_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_SIPHASH_KEYBYTES 16

/* SipHash-2-4 of p[0..len) under a 16-byte key; the 64-bit result as the
 * reference implementation returns it (little-endian bytes read as a
 * number). */
WEFT_API uint64_t weft_siphash24(const uint8_t key[WEFT_SIPHASH_KEYBYTES], const void *p,
                                 size_t len);

#ifdef __cplusplus
}
#endif
#endif
