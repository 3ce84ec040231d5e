/* SPDX-License-Identifier: Apache-2.0 */
/* The checks front-ends run on untrusted strings before C-string decoders
 * see them: weft_json_find_nul (a "\u0000" in a JSON string, with the member
 * it is in), weft_pb_find_nul (a NUL in a protobuf string field), and
 * weft_log_allow (a budget of log lines per call site). */
#include <criterion/criterion.h>
#include <string.h>

#include "weft/buf.h"
#include "weft/json.h"
#include "weft/log.h"
#include "weft/pb.h"

static int
nul(const char *json, char *key)
{
    return weft_json_find_nul(json, strlen(json), key, 64);
}

Test(input_checks, json_nul_names_the_member)
{
    char key[64];
    cr_assert_eq(nul("{\"topic\":\"a\\u0000b\",\"message\":\"x\"}", key), 1);
    cr_assert_str_eq(key, "topic");
    cr_assert_eq(nul("{\"topic\":\"t\",\"client_id\" : \"\\u0000\"}", key), 1);
    cr_assert_str_eq(key, "client_id");
    cr_assert_eq(nul("{\"a\\u0000\":1}", key), 1, "a NUL in a key");
    cr_assert_eq(strncmp(key, "a", 1), 0);
    cr_assert_eq(nul("{\"list\":[\"x\",\"y\\u0000\"]}", key), 1);
    cr_assert_str_eq(key, "list");
    cr_assert_eq(nul("\"\\u0000\"", key), 1);
    cr_assert_str_eq(key, "");
    /* a raw NUL byte in a string (cJSON accepts it and cuts the string) */
    static const char raw[] = "{\"client_id\":\"c1\",\"topic\":\"ali\0as\"}";
    cr_assert_eq(weft_json_find_nul(raw, sizeof raw - 1, key, 64), 1);
    cr_assert_str_eq(key, "topic");
    static const char outside[] = "{\"topic\":\"t\"}\0";
    cr_assert_eq(weft_json_find_nul(outside, sizeof outside - 1, key, 64), 0,
                 "a NUL outside any string cuts nothing");
}

Test(input_checks, json_without_nul)
{
    char key[64] = "unchanged";
    /* an escaped backslash followed by the text u0000 is no NUL */
    cr_assert_eq(nul("{\"topic\":\"a\\\\u0000\"}", key), 0);
    cr_assert_eq(nul("{\"topic\":\"\\u0001\\u00000\"}", key), 1, "\\u0000 then a digit is a NUL");
    cr_assert_eq(nul("{\"t\":\"\\u1000\",\"n\":0000}", key), 0);
    cr_assert_eq(nul("{\"t\":\"\\\"\\u000\"}", key), 0, "\\u000 and a quote");
    cr_assert_eq(nul("{\"t\":\"\\u00", key), 0, "cut off");
    cr_assert_eq(weft_json_find_nul("", 0, NULL, 0), 0);
    /* a long key is cut, not overflowed */
    char big[600] = "{\"";
    memset(big + 2, 'k', 500);
    strcpy(big + 502, "\":\"\\u0000\"}");
    cr_assert_eq(nul(big, key), 1);
    cr_assert_eq(strlen(key), 63);
}

Test(input_checks, pb_nul_in_string_fields)
{
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_pb_put_varint(&b, 1, 2), 0);
    cr_assert_eq(weft_pb_put_bytes(&b, 2, "da\0ta", 5), 0); /* bytes: a NUL is fine */
    cr_assert_eq(weft_pb_put_str(&b, 3, "topic"), 0);
    static const uint32_t strings[] = {3, 4};
    cr_assert_eq(weft_pb_find_nul(b.base, b.len, strings, 2), 0);
    cr_assert_eq(weft_pb_put_bytes(&b, 4, "tok\0en", 6), 0);
    cr_assert_eq(weft_pb_find_nul(b.base, b.len, strings, 2), 4);
    cr_assert_eq(weft_pb_find_nul(b.base, b.len - 2, strings, 2), WEFT_EPROTO, "cut short");
    weft_buf_free(&b);
}

Test(input_checks, log_budget)
{
    weft_log_limit l = {0};
    uint64_t sup = 99;
    int allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += weft_log_allow(&l, 20, &sup);
    cr_assert_eq(allowed, 20, "%d lines allowed in one window", allowed);
    cr_assert_eq(l.suppressed, 980);
    l.window_ms -= 1001; /* the next window */
    cr_assert_eq(weft_log_allow(&l, 20, &sup), 1);
    cr_assert_eq(sup, 980, "the new window reports what was suppressed");
    cr_assert_eq(weft_log_allow(&l, 20, &sup), 1);
    cr_assert_eq(sup, 0);
}

/* weft_resolve: a numeric address and localhost resolve; a name that does
 * not is WEFT_ERESOLVE and returns within its time bound (plus slack). */
#include <netinet/in.h>
#include <time.h>

#include "weft/resolve.h"

Test(input_checks, resolve_bounded)
{
    struct sockaddr_storage sa;
    socklen_t sl;
    char err[256] = "";
    cr_assert_eq(weft_resolve("127.0.0.2", 80, AF_INET, 1000, &sa, &sl, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&sa)->sin_port), 80);
    cr_assert_eq(weft_resolve("localhost", 1, AF_INET, 2000, &sa, &sl, err, sizeof err), 0, "%s",
                 err);
    weft_addr list[WEFT_RESOLVE_MAX];
    cr_assert_geq(weft_resolve_list("localhost", 1, AF_UNSPEC, 2000, list, 8, err, sizeof err), 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = weft_resolve("no-such-host.invalid", 1, AF_UNSPEC, 1500, &sa, &sl, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_eq(rc, WEFT_ERESOLVE, "%d %s", rc, err);
    cr_assert_lt(secs, 2.5, "resolution took %.2f s for a bound of 1.5 s", secs);
    cr_assert_eq(weft_resolve("", 1, AF_INET, 100, &sa, &sl, NULL, 0), WEFT_EINVAL);
    cr_assert_eq(weft_resolve("x", 1, AF_INET, 0, &sa, &sl, NULL, 0), WEFT_EINVAL);
}
