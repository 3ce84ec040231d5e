/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_strerror and the error table of weft/common.h: every WEFT_E* code has
 * a text of its own, each code lies in the range of its layer (base
 * -4097..-4128, codec -4129..-4160, transport -4161..-4192), the codes
 * nobody defined read as unknown, and -errno reads as the system's text.
 * The table below is checked against the header itself, so a code added
 * there without a line here (and a text in base/src/error.c) fails.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"

enum { BASE, CODEC, TRANSPORT };

static const struct {
    int code;
    const char *name;
    int layer;
} codes[] = {
    {WEFT_EINVAL, "WEFT_EINVAL", BASE},
    {WEFT_ENOSPC, "WEFT_ENOSPC", BASE},
    {WEFT_ETOOBIG, "WEFT_ETOOBIG", BASE},
    {WEFT_EPROTO, "WEFT_EPROTO", BASE},
    {WEFT_ECHECKSUM, "WEFT_ECHECKSUM", BASE},
    {WEFT_ELIMIT, "WEFT_ELIMIT", BASE},
    {WEFT_EAGAIN, "WEFT_EAGAIN", BASE},
    {WEFT_ERESOLVE, "WEFT_ERESOLVE", BASE},
    {WEFT_ETRUNC, "WEFT_ETRUNC", CODEC},
    {WEFT_EVERSION, "WEFT_EVERSION", CODEC},
    {WEFT_EFIELD, "WEFT_EFIELD", CODEC},
    {WEFT_EK, "WEFT_EK", CODEC},
    {WEFT_EPIECE, "WEFT_EPIECE", CODEC},
    {WEFT_EMSGLEN, "WEFT_EMSGLEN", CODEC},
    {WEFT_EGENERATION, "WEFT_EGENERATION", CODEC},
    {WEFT_EZEROVEC, "WEFT_EZEROVEC", CODEC},
    {WEFT_EINCOMPLETE, "WEFT_EINCOMPLETE", CODEC},
    {WEFT_EEMPTY, "WEFT_EEMPTY", CODEC},
    {WEFT_ENOIMPL, "WEFT_ENOIMPL", CODEC},
    {WEFT_EAUTH, "WEFT_EAUTH", TRANSPORT},
    {WEFT_ECLOSED, "WEFT_ECLOSED", TRANSPORT},
    {WEFT_ENOTSUP, "WEFT_ENOTSUP", TRANSPORT},
};
#define NCODES (sizeof codes / sizeof codes[0])

static const struct {
    const char *name;
    int first, last; /* first > last: codes count down */
} ranges[] = {
    [BASE] = {"base", -4097, -4128},
    [CODEC] = {"codec", -4129, -4160},
    [TRANSPORT] = {"transport", -4161, -4192},
};

static const char unknown[] = "unknown weft error";

static int
known(int code)
{
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i].code == code)
            return 1;
    return 0;
}

Test(strerror, every_code_has_its_own_text)
{
    for (size_t i = 0; i < NCODES; i++) {
        const char *t = weft_strerror(codes[i].code);
        cr_assert_not_null(t, "%s", codes[i].name);
        cr_assert(strlen(t) > 3, "%s: text '%s' says nothing", codes[i].name, t);
        cr_assert_str_neq(t, unknown, "%s has no text", codes[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(t, weft_strerror(codes[j].code), "%s and %s share their text",
                              codes[i].name, codes[j].name);
    }
}

Test(strerror, each_code_in_its_layers_range)
{
    for (size_t i = 0; i < NCODES; i++) {
        int c = codes[i].code;
        int l = codes[i].layer;
        cr_assert(c <= ranges[l].first && c >= ranges[l].last, "%s = %d is outside %s's %d..%d",
                  codes[i].name, c, ranges[l].name, ranges[l].first, ranges[l].last);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(c, codes[j].code, "%s and %s share %d", codes[i].name, codes[j].name, c);
    }
    /* the ranges follow one another, 32 codes each, all below errno's */
    for (size_t l = 0; l < sizeof ranges / sizeof ranges[0]; l++) {
        cr_assert_eq(ranges[l].first - ranges[l].last, 31);
        cr_assert_eq(ranges[l].first, -4097 - 32 * (int)l);
    }
    cr_assert_lt(WEFT_ERANGE_END, ranges[TRANSPORT].last, "the table ends below transport");
    cr_assert_eq(WEFT_EINVAL, -4097, "the first code is just below -4096");
}

Test(strerror, undefined_codes_are_unknown)
{
    for (int c = -4097; c >= WEFT_ERANGE_END - 64; c--) {
        if (known(c))
            continue;
        cr_assert_str_eq(weft_strerror(c), unknown, "%d", c);
    }
    cr_assert_str_eq(weft_strerror(-1000000), unknown);
}

Test(strerror, success_and_errno)
{
    cr_assert_str_eq(weft_strerror(0), "success");
    cr_assert_str_eq(weft_strerror(5), "success", "counts are successes");
    static const int errs[] = {EINVAL, ENOMEM, EAGAIN, ECONNRESET, ENOENT, EPIPE, ETIMEDOUT};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *t = weft_strerror(-errs[i]);
        cr_assert_str_eq(t, strerror(errs[i]), "-%d", errs[i]);
        cr_assert_str_neq(t, unknown);
    }
    /* past every errno value but above the weft range */
    const char *t = weft_strerror(-4096);
    cr_assert_not_null(t);
    cr_assert_str_neq(t, unknown);
}

/* The header's enum, read from the source: each WEFT_E<name> = -<n> there
 * must be a line of the table above with the same value. */
Test(strerror, table_matches_the_header)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/../../base/include/weft/common.h", WEFT_TEST_VECTORS);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char line[512];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        int value;
        if (sscanf(line, " %63[A-Z_] = %d ,", name, &value) != 2)
            continue;
        if (strncmp(name, "WEFT_E", 6) != 0 || strcmp(name, "WEFT_ERANGE_END") == 0)
            continue;
        int found = 0;
        for (size_t i = 0; i < NCODES; i++) {
            if (strcmp(codes[i].name, name) == 0) {
                cr_assert_eq(codes[i].code, value, "%s", name);
                found = 1;
            }
        }
        cr_assert(found, "%s (%d) in weft/common.h is not in this test's table", name, value);
        seen++;
    }
    fclose(f);
    cr_assert_eq((size_t)seen, NCODES, "weft/common.h defines %d codes, the table has %zu", seen,
                 NCODES);
}
