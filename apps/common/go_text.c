/* SPDX-License-Identifier: Apache-2.0 */
/*
 * go_text.c: the text formats the client tools share with the Go clients of
 * the OptimumP2P guides, so that scripts parsing their output keep working:
 * Go durations (flag values in, "took 1.234ms" out), Go's %q quoting, RFC
 * 3339 timestamps with nanoseconds. All pure; none allocates.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "go_text.h"

/* ---- Go durations ------------------------------------------------------------ */

static uint64_t
unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60ull * 1000000000},
        {"h", 3600ull * 1000000000},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
            return units[i].ns;
    return 0;
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int
go_parse_duration(const char *s, int64_t *out)
{
    const uint64_t limit = (uint64_t)1 << 63; /* |INT64_MIN| */
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    uint64_t total = 0;
    while (*p != '\0') {
        uint64_t whole = 0;
        int digits = 0;
        while (is_digit(*p)) {
            if (whole > limit / 10)
                return -1;
            whole = whole * 10 + (uint64_t)(*p++ - '0');
            if (whole > limit)
                return -1;
            digits++;
        }
        uint64_t frac = 0, scale = 1;
        if (*p == '.') {
            p++;
            while (is_digit(*p)) {
                /* Digits past 1e-18 cannot change a nanosecond count. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                digits++;
            }
        }
        if (digits == 0)
            return -1;
        const char *u = p;
        while (*p != '\0' && *p != '.' && !is_digit(*p))
            p++;
        uint64_t unit = unit_ns(u, (size_t)(p - u));
        if (unit == 0)
            return -1; /* missing or unknown unit */
        if (whole > limit / unit)
            return -1;
        uint64_t v = whole * unit;
        if (frac > 0)
            v += (uint64_t)((double)frac * ((double)unit / (double)scale));
        if (v > limit || total > limit - v)
            return -1;
        total += v;
    }
    if (!neg && total > limit - 1)
        return -1;
    *out = neg ? (int64_t)(0 - total) : (int64_t)total;
    return 0;
}

/* "frac" as `digits` decimals without trailing zeros, preceded by '.';
 * empty when frac is 0. */
static void
frac_text(uint64_t frac, int digits, char *out)
{
    if (frac == 0) {
        out[0] = '\0';
        return;
    }
    char tmp[16];
    snprintf(tmp, sizeof tmp, ".%0*llu", digits, (unsigned long long)frac);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '0')
        tmp[--n] = '\0';
    memcpy(out, tmp, n + 1);
}

void
go_format_duration(int64_t d, char *out, size_t cap)
{
    uint64_t u = d < 0 ? 0 - (uint64_t)d : (uint64_t)d;
    const char *sign = d < 0 ? "-" : "";
    char frac[16];
    if (u == 0) {
        snprintf(out, cap, "0s");
    } else if (u < 1000) {
        snprintf(out, cap, "%s%lluns", sign, (unsigned long long)u);
    } else if (u < 1000000000) {
        int micro = u < 1000000;
        uint64_t div = micro ? 1000 : 1000000;
        frac_text(u % div, micro ? 3 : 6, frac);
        snprintf(out, cap, "%s%llu%s%s", sign, (unsigned long long)(u / div), frac,
                 micro ? "\xc2\xb5s" : "ms");
    } else {
        uint64_t secs = u / 1000000000;
        frac_text(u % 1000000000, 9, frac);
        unsigned long long h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
        if (h > 0)
            snprintf(out, cap, "%s%lluh%llum%llu%ss", sign, h, m, s, frac);
        else if (secs >= 60)
            snprintf(out, cap, "%s%llum%llu%ss", sign, m, s, frac);
        else
            snprintf(out, cap, "%s%llu%ss", sign, s, frac);
    }
}

/* ---- Go %q ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1-4) and its code point, or 0. */
static size_t
utf8_next(const uint8_t *p, size_t len, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

void
go_quote(FILE *f, const uint8_t *p, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            fprintf(f, "\\x%02x", p[i]); /* invalid UTF-8 byte */
            i++;
            continue;
        }
        switch (cp) {
        case '\a': fputs("\\a", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\v': fputs("\\v", f); break;
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        default:
            if (cp < 0x20 || cp == 0x7f)
                fprintf(f, "\\x%02x", (unsigned)cp);
            else if (cp >= 0x80 && cp < 0xa0) /* C1 controls */
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, n, f);
        }
        i += n;
    }
    fputc('"', f);
}

/* ---- times, hex, hashes ------------------------------------------------------ */

void
rfc3339nano_utc(int64_t ns, char *out, size_t cap)
{
    int64_t secs = ns / 1000000000, rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, cap, "%lld", (long long)ns);
        return;
    }
    char frac[16];
    frac_text((uint64_t)rem, 9, frac);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
