/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled log lines (weft/log.h). The level is read from the environment
 * once; a hook, if set, receives every line instead of stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/log.h"

static int level = -1;
static weft_log_hook hook;
static void *hook_user;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

int
weft_log_parse_level(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(s, names[i]))
            return i;
    if (!strcasecmp(s, "warning"))
        return WEFT_LOG_WARN;
    return -1;
}

static void
init_level(void)
{
    if (level >= 0)
        return;
    const char *e = getenv("WEFT_LOG_LEVEL");
    if (!e)
        e = getenv("LOG_LEVEL");
    int l = weft_log_parse_level(e);
    level = l >= 0 ? l : WEFT_LOG_INFO;
}

void
weft_log_set_level(int l)
{
    pthread_once(&once, init_level);
    level = l;
}

int
weft_log_level(void)
{
    pthread_once(&once, init_level);
    return level;
}

void
weft_log_set_hook(weft_log_hook h, void *user)
{
    hook = h;
    hook_user = user;
}

void
weft_log(int lvl, const char *module, const char *fmt, ...)
{
    if (lvl < weft_log_level() || lvl >= WEFT_LOG_OFF)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(line, sizeof line, "ts=%lld level=%s mod=%s ",
                     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, names[lvl], module);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    if ((size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (hook)
        hook(lvl, module, line, hook_user);
    else
        fprintf(stderr, "%s\n", line);
}

int
weft_log_allow(weft_log_limit *l, uint32_t per_sec, uint64_t *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (suppressed)
        *suppressed = 0;
    if (now - l->window_ms >= 1000 || now < l->window_ms) {
        l->window_ms = now;
        l->used = 0;
        if (suppressed)
            *suppressed = l->suppressed;
        l->suppressed = 0;
    }
    if (l->used >= per_sec) {
        l->suppressed++;
        return 0;
    }
    l->used++;
    return 1;
}
