/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/clock.h: the clocks every layer reads. Monotonic time for deadlines,
 * timeouts and rates; Unix time for timestamps that leave the process
 * (traces, logs, JWT expiry). Both read clock_gettime and never fail.
 */
#ifndef WEFT_CLOCK_H
#define WEFT_CLOCK_H

#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

WEFT_API int64_t weft_mono_ns(void);
WEFT_API int64_t weft_mono_ms(void);
WEFT_API int64_t weft_unix_ns(void);
WEFT_API int64_t weft_unix_ms(void);

#ifdef __cplusplus
}
#endif
#endif
