/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Environment readers (weft/svc_env.h). Values are parsed whole: "12abc",
 * " 12", "1e3" for an integer, "nan" or "0x10" for a ratio (decimal only)
 * are all refused, with the offending text quoted (shortened, control
 * characters escaped) in the error line.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft/common.h"
#include "weft/svc_env.h"

static const char *(*g_lookup)(const char *, void *);
static void *g_lookup_user;

void
weft_env_set_source(const char *(*lookup)(const char *name, void *user), void *user)
{
    g_lookup = lookup;
    g_lookup_user = user;
}

const char *
weft_env_get(const char *name)
{
    return g_lookup ? g_lookup(name, g_lookup_user) : getenv(name);
}

/* The value as it may appear in an error line. */
static void
quote(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; v[i] && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (i >= 64) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = 0;
}

static int
fail(char *err, const char *name, const char *v, const char *expected)
{
    char q[96];
    quote(v, q, sizeof q);
    snprintf(err, WEFT_ENV_ERR, "%s=\"%s\": expected %s", name, q, expected);
    return WEFT_EINVAL;
}

static const char *
value(const char *name)
{
    const char *v = weft_env_get(name);
    return v && *v ? v : NULL;
}

static int
parse_ll(const char *v, long long *out)
{
    if (!isdigit((unsigned char)v[0]) && !(v[0] == '-' && isdigit((unsigned char)v[1])))
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

int
weft_env_int(const char *name, long long def, long long lo, long long hi, long long *out,
             char err[WEFT_ENV_ERR])
{
    const char *v = value(name);
    if (!v) {
        *out = def;
        return 0;
    }
    long long x;
    if (parse_ll(v, &x) < 0 || x < lo || x > hi) {
        char exp[96];
        snprintf(exp, sizeof exp, "an integer in %lld..%lld", lo, hi);
        return fail(err, name, v, exp);
    }
    *out = x;
    return 0;
}

/* A plain decimal number: [+-]digits[.digits][(e|E)[+-]digits], with at
 * least one digit before the exponent. strtod alone also takes hex
 * ("0x10"), "inf", "nan" and leading blanks. */
static int
is_decimal(const char *v)
{
    size_t i = 0, digits = 0;
    if (v[i] == '+' || v[i] == '-')
        i++;
    for (; isdigit((unsigned char)v[i]); i++)
        digits++;
    if (v[i] == '.')
        for (i++; isdigit((unsigned char)v[i]); i++)
            digits++;
    if (!digits)
        return 0;
    if (v[i] == 'e' || v[i] == 'E') {
        i++;
        if (v[i] == '+' || v[i] == '-')
            i++;
        if (!isdigit((unsigned char)v[i]))
            return 0;
        while (isdigit((unsigned char)v[i]))
            i++;
    }
    return v[i] == 0;
}

int
weft_env_real(const char *name, double def, double lo, int lo_open, double hi, double *out,
              char err[WEFT_ENV_ERR])
{
    const char *v = value(name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    int bad = !is_decimal(v) || errno || *end || end == v || !isfinite(x) ||
              (lo_open ? !(x > lo) : !(x >= lo)) || x > hi;
    if (bad) {
        char exp[96];
        if (isinf(hi))
            snprintf(exp, sizeof exp, "a number %s %g", lo_open ? ">" : ">=", lo);
        else
            snprintf(exp, sizeof exp, "a number in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
        return fail(err, name, v, exp);
    }
    *out = x;
    return 0;
}

int
weft_env_choice(const char *name, const char *def, const char *const *choices, int *out,
                char err[WEFT_ENV_ERR])
{
    const char *v = value(name);
    if (!v)
        v = def;
    char exp[160] = "one of ";
    for (int i = 0; choices[i]; i++) {
        if (!strcasecmp(v, choices[i])) {
            *out = i;
            return 0;
        }
        size_t o = strlen(exp);
        snprintf(exp + o, sizeof exp - o, "%s%s", i ? "|" : "", choices[i]);
    }
    return fail(err, name, v, exp);
}

int
weft_env_port(const char *name, int def, int *out, char err[WEFT_ENV_ERR])
{
    const char *v = value(name);
    if (!v) {
        *out = def;
        return 0;
    }
    const char *p = v[0] == ':' ? v + 1 : v;
    long long x;
    if (parse_ll(p, &x) < 0 || x < 1 || x > 65535)
        return fail(err, name, v, "a TCP port in 1..65535 (\"8080\" or \":8080\")");
    *out = (int)x;
    return 0;
}

int
weft_env_str(const char *name, const char *def, size_t maxlen, const char **out,
             char err[WEFT_ENV_ERR])
{
    const char *v = value(name);
    if (!v) {
        *out = def;
        return 0;
    }
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return fail(err, name, v, "text without control characters");
    if (n > maxlen) {
        char exp[64];
        snprintf(exp, sizeof exp, "at most %zu characters", maxlen);
        return fail(err, name, v, exp);
    }
    *out = v;
    return 0;
}

int
weft_env_bool(const char *name, int def, int *out, char err[WEFT_ENV_ERR])
{
    static const char *const t[] = {"true", "1", "yes", "on", NULL};
    static const char *const f[] = {"false", "0", "no", "off", NULL};
    const char *v = value(name);
    if (!v) {
        *out = def;
        return 0;
    }
    for (int i = 0; t[i]; i++)
        if (!strcasecmp(v, t[i])) {
            *out = 1;
            return 0;
        }
    for (int i = 0; f[i]; i++)
        if (!strcasecmp(v, f[i])) {
            *out = 0;
            return 0;
        }
    return fail(err, name, v, "true or false");
}
