/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/log.h: leveled, structured log lines on stderr, or through a hook.
 * Format: "ts=<unix ms> level=<lvl> mod=<module> msg=\"...\" key=value ...".
 * The level comes from weft_log_set_level() or the WEFT_LOG_LEVEL / LOG_LEVEL
 * environment (debug|info|warn|error, default info).
 */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { WEFT_LOG_DEBUG = 0, WEFT_LOG_INFO, WEFT_LOG_WARN, WEFT_LOG_ERROR, WEFT_LOG_OFF };

typedef void (*weft_log_hook)(int level, const char *module, const char *line, void *user);

WEFT_API void weft_log_set_level(int level);
WEFT_API int weft_log_level(void);
/* Parse "debug" | "info" | "warn" | "error" | "off"; -1 if unknown. */
WEFT_API int weft_log_parse_level(const char *s);
WEFT_API void weft_log_set_hook(weft_log_hook hook, void *user);
/* fmt continues the line after msg=...: pass key=value pairs in it. */
WEFT_API void weft_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define WEFT_LOG_ENABLED(lvl) ((lvl) >= weft_log_level())

/* A budget of lines for one call site whose input an untrusted peer
 * controls (one line per topic of a 100k-topic request): at most per_sec
 * lines in each one-second window, the rest counted. Zero-initialise it
 * (static storage will do); one thread per limiter. */
typedef struct weft_log_limit {
    int64_t window_ms;
    uint32_t used;
    uint64_t suppressed;
} weft_log_limit;

/* 1 when a line may be written now, else 0 (counted as suppressed). When a
 * new window opens after lines were suppressed, *suppressed (may be NULL)
 * gets how many, for the caller to say so in its line; else 0. */
WEFT_API int weft_log_allow(weft_log_limit *l, uint32_t per_sec, uint64_t *suppressed);

#ifdef __cplusplus
}
#endif
#endif
