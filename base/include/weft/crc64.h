/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/crc64.h: CRC-64/GO-ISO, the checksum that guards p2p.key files:
 * polynomial x^64 + x^4 + x^3 + x + 1 reflected, init and final xor all
 * ones, as Go's crc64.Checksum(data, crc64.MakeTable(crc64.ISO)). Thread-safe.
 */
#ifndef WEFT_CRC64_H
#define WEFT_CRC64_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

WEFT_API uint64_t weft_crc64_iso(const uint8_t *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif
