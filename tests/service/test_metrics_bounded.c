/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded label vectors and the process_* families (weft/svc_metrics.h):
 * a vector never holds more than its cap of series however many label
 * sets arrive, overflow and idle series are counted under "other" so the
 * family's sum equals every add, an expired slot is reused, a caller's
 * "other" lands in the one "other" series, values are escaped and cut, and
 * the exposition of 40,000 distinct clients stays small. The process
 * families report this very process (its open descriptors move when it
 * opens one).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft/clock.h"
#include "weft/svc_metrics.h"

static char *
render(weft_metrics *m, size_t *len)
{
    char *s = weft_metrics_render(m, len);
    cr_assert_not_null(s);
    return s;
}

/* Lines of the exposition that start with prefix. */
static size_t
count_lines(const char *s, const char *prefix)
{
    size_t n = 0, k = strlen(prefix);
    for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, prefix, k))
            n++;
    return n;
}

/* The value of the first sample line starting with prefix. */
static double
sample(const char *s, const char *prefix)
{
    const char *l = strstr(s, prefix);
    cr_assert_not_null(l, "no sample %s in:\n%s", prefix, s);
    const char *sp = strchr(l, ' ');
    cr_assert_not_null(sp);
    return strtod(sp + 1, NULL);
}

static const char *const two[] = {"client_id", "topic"};

Test(metrics_vec, forty_thousand_clients_stay_bounded)
{
    weft_metrics *m = weft_metrics_new();
    weft_metrics_vec *v = weft_metrics_counter_vec(m, "pub_total", "h", two, 2, 100, 60000);
    cr_assert_not_null(v);
    char id[64];
    for (int i = 0; i < 40000; i++) {
        snprintf(id, sizeof id, "client-%06d-with-a-longish-name", i);
        const char *vals[] = {id, "topic-a"};
        weft_metrics_vec_add(v, vals, 1 + (uint64_t)(i % 3), weft_mono_ms());
    }
    size_t len = 0;
    char *s = render(m, &len);
    cr_expect_eq(count_lines(s, "pub_total{"), 101, "100 series plus other");
    cr_expect_lt(len, 16384, "/metrics grew to %zu bytes for 40k clients", len);
    uint64_t want = 0;
    for (int i = 0; i < 40000; i++)
        want += 1 + (uint64_t)(i % 3);
    cr_expect_eq(weft_metrics_vec_total(v), want, "adds were lost");
    /* the first 100 clients have their own series; the rest is other */
    cr_expect(strstr(
        s, "pub_total{client_id=\"client-000000-with-a-longish-name\",topic=\"topic-a\"} 1\n"));
    cr_expect(!strstr(s, "client-000100-"));
    double other = sample(s, "pub_total{client_id=\"other\",topic=\"other\"}");
    uint64_t first = 0;
    for (int i = 0; i < 100; i++)
        first += 1 + (uint64_t)(i % 3);
    cr_expect_eq((uint64_t)other, want - first);
    free(s);
    weft_metrics_free(m);
}

Test(metrics_vec, idle_series_fold_into_other_and_free_their_slot)
{
    weft_metrics *m = weft_metrics_new();
    weft_metrics_vec *v = weft_metrics_counter_vec(m, "x_total", "h", two, 2, 2, 5000);
    cr_assert_not_null(v);
    const char *a[] = {"a", "t"}, *b[] = {"b", "t"}, *c[] = {"c", "t"};
    weft_metrics_vec_add(v, a, 5, 1000);
    weft_metrics_vec_add(v, b, 7, 3000);
    weft_metrics_vec_add(v, c, 1, 3500); /* full: other */
    cr_expect_eq(weft_metrics_vec_expire(v, 6000), 1, "a (idle 5 s) should have gone");
    cr_expect_eq(weft_metrics_vec_total(v), 13);
    weft_metrics_vec_add(v, c, 2, 6000); /* the freed slot */
    weft_metrics_vec_add(v, b, 1, 7000);
    cr_expect_eq(weft_metrics_vec_expire(v, 7500), 2);
    cr_expect_eq(weft_metrics_vec_expire(v, 11000), 1, "c idle since 6000");
    cr_expect_eq(weft_metrics_vec_expire(v, 12000), 0, "b idle since 7000");
    cr_expect_eq(weft_metrics_vec_total(v), 16, "folding lost counts");
    weft_metrics_free(m);
}

Test(metrics_vec, other_values_and_escaping)
{
    weft_metrics *m = weft_metrics_new();
    static const char *const one[] = {"client_id"};
    weft_metrics_vec *v = weft_metrics_counter_vec(m, "e_total", "h", one, 1, 10, 60000);
    cr_assert_not_null(v);
    const char *o[] = {"other"}, *q[] = {"a\"b\\c\nd"};
    int64_t now = weft_mono_ms(); /* a scrape expires by the real clock */
    weft_metrics_vec_add(v, o, 3, now);
    weft_metrics_vec_add(v, q, 1, now);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const char *bg[] = {big};
    weft_metrics_vec_add(v, bg, 1, now);
    size_t len;
    char *s = render(m, &len);
    cr_expect_eq(count_lines(s, "e_total{client_id=\"other\"}"), 1, "one other series:\n%s", s);
    cr_expect_eq(sample(s, "e_total{client_id=\"other\"}"), 3);
    cr_expect(strstr(s, "e_total{client_id=\"a\\\"b\\\\c\\nd\"} 1\n"), "%s", s);
    /* the long value is cut to 256 bytes */
    const char *l = strstr(s, "e_total{client_id=\"xxx");
    cr_assert_not_null(l);
    cr_expect_eq(strchr(l + 19, '"') - (l + 19), 256);
    free(s);
    /* bad arguments */
    static const char *const bad[] = {"1abc"};
    cr_expect_null(weft_metrics_counter_vec(m, "b_total", "h", bad, 1, 10, 1000));
    cr_expect_null(weft_metrics_counter_vec(m, "b_total", "h", one, 1, 0, 1000));
    cr_expect_null(weft_metrics_counter_vec(m, "b_total", "h", one, 1, 10, 0));
    cr_expect_null(weft_metrics_counter_vec(m, "b_total", "h", one, 0, 10, 1000));
    weft_metrics_free(m);
}

Test(metrics_process, families_describe_this_process)
{
    weft_metrics *m = weft_metrics_new();
    cr_assert_eq(weft_metrics_add_process(m), 0);
    size_t len;
    char *s = render(m, &len);
    static const char *const fams[] = {"process_cpu_seconds_total ",
                                       "process_resident_memory_bytes ",
                                       "process_virtual_memory_bytes ",
                                       "process_start_time_seconds ",
                                       "process_open_fds ",
                                       "process_max_fds "};
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        char type[96];
        snprintf(type, sizeof type, "# TYPE %.*s", (int)strlen(fams[i]) - 1, fams[i]);
        cr_expect(strstr(s, type), "no %s in:\n%s", type, s);
    }
    cr_expect_gt(sample(s, "\nprocess_resident_memory_bytes "), 100000);
    cr_expect_geq(sample(s, "\nprocess_virtual_memory_bytes "),
                  sample(s, "\nprocess_resident_memory_bytes "));
    double start = sample(s, "\nprocess_start_time_seconds ");
    double now = (double)time(NULL);
    cr_expect(start > now - 3600 && start <= now + 2, "start %f, now %f", start, now);
    double fds = sample(s, "\nprocess_open_fds ");
    free(s);
    int extra[3];
    for (int i = 0; i < 3; i++)
        extra[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s = render(m, &len);
    cr_expect_eq(sample(s, "\nprocess_open_fds "), fds + 3);
    free(s);
    for (int i = 0; i < 3; i++)
        close(extra[i]);
    weft_metrics_free(m);
}

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_SEEN_BY_MALLINFO 0 /* ASan's allocator is not glibc's */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_SEEN_BY_MALLINFO 0
#endif
#endif
#ifndef HEAP_SEEN_BY_MALLINFO
#define HEAP_SEEN_BY_MALLINFO 1
#endif

/* The heap gauges follow what the program holds: 8 MiB allocated shows,
 * freed it goes (the soak tells a leak from retained free memory by them). */
Test(metrics_process, heap_gauges_follow_allocations)
{
    if (!HEAP_SEEN_BY_MALLINFO)
        cr_skip_test("mallinfo2 does not see the sanitizer's allocator");
    weft_metrics *m = weft_metrics_new();
    cr_assert_eq(weft_metrics_add_process(m), 0);
    size_t len;
    char *s = render(m, &len);
    double before = sample(s, "\nweft_process_heap_inuse_bytes ");
    cr_expect(strstr(s, "# TYPE weft_process_heap_free_bytes gauge"), "%s", s);
    free(s);
    enum { N = 64, SZ = 128 << 10 }; /* below the mmap threshold: arena memory */
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SZ);
        cr_assert_not_null(blocks[i]);
        memset(blocks[i], i, SZ);
    }
    s = render(m, &len);
    double held = sample(s, "\nweft_process_heap_inuse_bytes ");
    free(s);
    cr_expect_geq(held - before, (double)N * SZ, "in use %.0f -> %.0f", before, held);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    s = render(m, &len);
    double after = sample(s, "\nweft_process_heap_inuse_bytes ");
    free(s);
    cr_expect_leq(after, held - (double)N * SZ + 65536, "in use %.0f after freeing (%.0f held)",
                  after, held);
    weft_metrics_free(m);
}
