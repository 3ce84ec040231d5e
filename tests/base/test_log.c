/* SPDX-License-Identifier: Apache-2.0 */
/* Log lines through a hook (weft_log_set_hook): what an embedding program
 * uses to route weft's lines into its own logger. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "weft/log.h"

struct seen {
    int calls;
    int level;
    char module[32];
    char line[1024];
};

static void
record(int level, const char *module, const char *line, void *user)
{
    struct seen *s = user;
    s->calls++;
    s->level = level;
    snprintf(s->module, sizeof s->module, "%s", module);
    snprintf(s->line, sizeof s->line, "%s", line);
}

Test(log, hook_gets_the_formatted_line)
{
    struct seen s = {0};
    weft_log_set_level(WEFT_LOG_INFO);
    weft_log_set_hook(record, &s);
    weft_log(WEFT_LOG_WARN, "test", "msg=\"hello\" n=%d", 42);
    weft_log_set_hook(NULL, NULL);

    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.level, WEFT_LOG_WARN);
    cr_assert_str_eq(s.module, "test");
    cr_assert_eq(strncmp(s.line, "ts=", 3), 0, "line: %s", s.line);
    cr_assert_not_null(strstr(s.line, " level=warn mod=test msg=\"hello\" n=42"), "line: %s",
                       s.line);
}

Test(log, hook_sees_only_enabled_levels)
{
    struct seen s = {0};
    weft_log_set_level(WEFT_LOG_WARN);
    weft_log_set_hook(record, &s);
    weft_log(WEFT_LOG_INFO, "test", "msg=\"below the level\"");
    weft_log(WEFT_LOG_ERROR, "test", "msg=\"above\"");
    weft_log_set_level(WEFT_LOG_OFF);
    weft_log(WEFT_LOG_ERROR, "test", "msg=\"all off\"");
    weft_log_set_hook(NULL, NULL);

    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.level, WEFT_LOG_ERROR);
    cr_assert_not_null(strstr(s.line, "msg=\"above\""), "line: %s", s.line);
}

Test(log, cleared_hook_is_not_called)
{
    struct seen s = {0};
    weft_log_set_level(WEFT_LOG_DEBUG);
    weft_log_set_hook(record, &s);
    weft_log_set_hook(NULL, NULL);
    weft_log(WEFT_LOG_DEBUG, "test", "msg=\"to stderr\"");
    cr_assert_eq(s.calls, 0);
}
