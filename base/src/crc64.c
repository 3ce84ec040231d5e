/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-64/GO-ISO (weft/crc64.h): table-driven, reflected, table built once. */
#include <pthread.h>

#include "weft/crc64.h"

/* x^64 + x^4 + x^3 + x + 1, bit-reversed as Go's crc64.ISO. */
#define CRC64_ISO_REFLECTED 0xD800000000000000ull

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_table_build(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64_ISO_REFLECTED : c >> 1;
        crc_table[i] = c;
    }
}

uint64_t
weft_crc64_iso(const uint8_t *p, size_t len)
{
    pthread_once(&crc_once, crc_table_build);
    uint64_t crc = ~(uint64_t)0;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(uint8_t)crc ^ p[i]] ^ (crc >> 8);
    return ~crc;
}
