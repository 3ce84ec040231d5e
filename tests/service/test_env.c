/* SPDX-License-Identifier: Apache-2.0 */
/* The environment readers (weft/svc_env.h), fed from a table through
 * weft_env_set_source rather than the process environment: values are
 * parsed whole, and a refused one leaves *out alone with one error line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"
#include "weft/svc_env.h"

struct var {
    const char *name, *value;
};

static const struct var *table;

static const char *
from_table(const char *name, void *user)
{
    (void)user;
    for (const struct var *v = table; v && v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v->value;
    return NULL;
}

static void
use(const struct var *vars)
{
    table = vars;
    weft_env_set_source(from_table, NULL);
}

static void
restore(void)
{
    weft_env_set_source(NULL, NULL);
    table = NULL;
}

TestSuite(env, .fini = restore);

Test(env, source_replaces_getenv_and_null_restores_it)
{
    cr_assert_eq(setenv("WEFT_TEST_ENV_X", "from-environ", 1), 0);
    static const struct var vars[] = {{"WEFT_TEST_ENV_X", "from-table"}, {NULL, NULL}};
    use(vars);
    cr_assert_str_eq(weft_env_get("WEFT_TEST_ENV_X"), "from-table");
    cr_assert_null(weft_env_get("HOME"), "a name not in the table is unset");
    weft_env_set_source(NULL, NULL);
    cr_assert_str_eq(weft_env_get("WEFT_TEST_ENV_X"), "from-environ");
    unsetenv("WEFT_TEST_ENV_X");
}

Test(env, integers_are_parsed_whole)
{
    static const struct var vars[] = {{"GOOD", "42"},  {"NEG", "-3"},  {"TRAIL", "12abc"},
                                      {"LEAD", " 12"}, {"EXP", "1e3"}, {"HIGH", "101"},
                                      {"EMPTY", ""},   {NULL, NULL}};
    use(vars);
    char err[WEFT_ENV_ERR];
    long long x = 0;
    cr_assert_eq(weft_env_int("GOOD", 7, 0, 100, &x, err), 0);
    cr_assert_eq(x, 42);
    cr_assert_eq(weft_env_int("NEG", 7, -10, 100, &x, err), 0);
    cr_assert_eq(x, -3);
    cr_assert_eq(weft_env_int("UNSET", 7, 0, 100, &x, err), 0);
    cr_assert_eq(x, 7);
    cr_assert_eq(weft_env_int("EMPTY", 8, 0, 100, &x, err), 0, "empty is the default");
    cr_assert_eq(x, 8);
    const char *bad[] = {"TRAIL", "LEAD", "EXP", "HIGH"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x = -99;
        cr_assert_eq(weft_env_int(bad[i], 7, 0, 100, &x, err), WEFT_EINVAL, "%s", bad[i]);
        cr_assert_eq(x, -99, "%s: *out touched", bad[i]);
        cr_assert_not_null(strstr(err, bad[i]), "%s: %s", bad[i], err);
    }
    cr_assert_eq(weft_env_int("HIGH", 7, 0, 100, &x, err), WEFT_EINVAL);
    cr_assert_str_eq(err, "HIGH=\"101\": expected an integer in 0..100");
}

Test(env, reals_ports_choices_bools_strings)
{
    static const struct var vars[] = {
        {"RATIO", "0.5"}, {"NAN", "nan"},     {"ZERO", "0"},         {"PORT", ":8080"},
        {"PORT2", "443"}, {"PORT0", "0"},     {"MODE", "GossipSub"}, {"BADMODE", "mesh"},
        {"ON", "yes"},    {"OFF", "0"},       {"MAYBE", "maybe"},    {"NAME", "node-1"},
        {"CTRL", "a\tb"}, {"LONG", "abcdef"}, {NULL, NULL}};
    use(vars);
    char err[WEFT_ENV_ERR];
    double d = 0;
    cr_assert_eq(weft_env_real("RATIO", 1, 0, 1, 1, &d, err), 0);
    cr_assert_eq(d, 0.5);
    cr_assert_eq(weft_env_real("NAN", 1, 0, 0, INFINITY, &d, err), WEFT_EINVAL);
    cr_assert_eq(weft_env_real("ZERO", 1, 0, 1, 1, &d, err), WEFT_EINVAL, "(0, 1] excludes 0");
    cr_assert_eq(weft_env_real("ZERO", 1, 0, 0, 1, &d, err), 0, "[0, 1] includes it");

    int p = 0;
    cr_assert_eq(weft_env_port("PORT", 1, &p, err), 0);
    cr_assert_eq(p, 8080);
    cr_assert_eq(weft_env_port("PORT2", 1, &p, err), 0);
    cr_assert_eq(p, 443);
    cr_assert_eq(weft_env_port("PORT0", 1, &p, err), WEFT_EINVAL);

    static const char *const modes[] = {"optimum", "gossipsub", NULL};
    int m = -1;
    cr_assert_eq(weft_env_choice("MODE", "optimum", modes, &m, err), 0);
    cr_assert_eq(m, 1, "case-insensitive");
    cr_assert_eq(weft_env_choice("UNSET", "optimum", modes, &m, err), 0);
    cr_assert_eq(m, 0);
    cr_assert_eq(weft_env_choice("BADMODE", "optimum", modes, &m, err), WEFT_EINVAL);
    cr_assert_str_eq(err, "BADMODE=\"mesh\": expected one of optimum|gossipsub");

    int b = -1;
    cr_assert_eq(weft_env_bool("ON", 0, &b, err), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(weft_env_bool("OFF", 1, &b, err), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(weft_env_bool("MAYBE", 1, &b, err), WEFT_EINVAL);

    const char *s = NULL;
    cr_assert_eq(weft_env_str("NAME", "x", 16, &s, err), 0);
    cr_assert_str_eq(s, "node-1");
    cr_assert_eq(weft_env_str("CTRL", "x", 16, &s, err), WEFT_EINVAL);
    cr_assert_str_eq(err, "CTRL=\"a\\x09b\": expected text without control characters");
    cr_assert_eq(weft_env_str("LONG", "x", 5, &s, err), WEFT_EINVAL);
}
