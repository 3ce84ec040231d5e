/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus registry: the exact exposition text of a small registry
 * (labelled counters, a gauge, a histogram observed on its bucket edges),
 * non-finite and shortest-form gauge values, collectors appended after the
 * families, concurrent lock-free updates summing exactly, lookup of an
 * existing metric, type clashes, bad names and bounds, label escaping.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"
#include "weft/svc_metrics.h"

static char *
render(weft_metrics *m)
{
    size_t len = 12345;
    char *s = weft_metrics_render(m, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s));
    return s;
}

Test(metrics, exposition_text_is_exact)
{
    weft_metrics *m = weft_metrics_new();
    static const double bounds[] = {0.25, 0.5, 1};

    weft_metric *a =
        weft_metrics_counter(m, "weft_msgs_total", "Messages \"seen\"\\ by\ntopic", "topic=\"a\"");
    weft_metric *b = weft_metrics_counter(m, "weft_msgs_total", "ignored", "topic=\"b\"");
    weft_metric *g = weft_metrics_gauge(m, "weft_peers", "Connected peers", NULL);
    weft_metric *h =
        weft_metrics_histogram(m, "weft_latency_seconds", "Latency", "op=\"pub\"", bounds, 3);
    cr_assert(a && b && g && h);
    weft_metric_add(a, 2);
    weft_metric_inc(a);
    weft_metric_inc(b);
    weft_metric_set(g, 2.5);
    weft_metric_gauge_add(g, 0.25);
    weft_metric_observe(h, 0.25); /* le is inclusive */
    weft_metric_observe(h, 0.5);
    weft_metric_observe(h, 0.75);
    weft_metric_observe(h, 1);
    weft_metric_observe(h, 2);

    char *s = render(m);
    cr_assert_str_eq(s, "# HELP weft_msgs_total Messages \"seen\"\\\\ by\\ntopic\n"
                        "# TYPE weft_msgs_total counter\n"
                        "weft_msgs_total{topic=\"a\"} 3\n"
                        "weft_msgs_total{topic=\"b\"} 1\n"
                        "# HELP weft_peers Connected peers\n"
                        "# TYPE weft_peers gauge\n"
                        "weft_peers 2.75\n"
                        "# HELP weft_latency_seconds Latency\n"
                        "# TYPE weft_latency_seconds histogram\n"
                        "weft_latency_seconds_bucket{op=\"pub\",le=\"0.25\"} 1\n"
                        "weft_latency_seconds_bucket{op=\"pub\",le=\"0.5\"} 2\n"
                        "weft_latency_seconds_bucket{op=\"pub\",le=\"1\"} 4\n"
                        "weft_latency_seconds_bucket{op=\"pub\",le=\"+Inf\"} 5\n"
                        "weft_latency_seconds_sum{op=\"pub\"} 4.5\n"
                        "weft_latency_seconds_count{op=\"pub\"} 5\n");
    cr_assert_eq(weft_metric_value(a), 3.0);
    cr_assert_eq(weft_metric_value(g), 2.75);
    cr_assert_eq(weft_metric_value(h), 5.0);
    free(s);
    weft_metrics_free(m);
}

Test(metrics, unlabelled_histogram_and_empty_registry)
{
    weft_metrics *m = weft_metrics_new();
    char *s = render(m);
    cr_assert_str_eq(s, "");
    free(s);

    static const double bounds[] = {1e-3, 10};
    weft_metric *h = weft_metrics_histogram(m, "h", "", NULL, bounds, 2);
    weft_metric_observe(h, 1e-4);
    weft_metric_observe(h, NAN); /* counts, in +Inf only */
    s = render(m);
    cr_assert_str_eq(s, "# HELP h \n"
                        "# TYPE h histogram\n"
                        "h_bucket{le=\"0.001\"} 1\n"
                        "h_bucket{le=\"10\"} 1\n"
                        "h_bucket{le=\"+Inf\"} 2\n"
                        "h_sum NaN\n"
                        "h_count 2\n");
    free(s);
    weft_metrics_free(m);
}

Test(metrics, gauge_values_use_prometheus_spellings)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {1.0 / 3, "0.3333333333333333"},
        {-2, "-2"},
        {1e21, "1e+21"},
        {123456789012, "123456789012"},
        {5e-324, "5e-324"},
        {1e-5, "1e-05"},
        {0.0001, "0.0001"},
        {1e20, "100000000000000000000"},
        {0.30000000000000004, "0.30000000000000004"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        weft_metrics *m = weft_metrics_new();
        weft_metric_set(weft_metrics_gauge(m, "g", "x", NULL), cases[i].v);
        char *s = render(m), want[128];
        snprintf(want, sizeof(want), "# HELP g x\n# TYPE g gauge\ng %s\n", cases[i].text);
        cr_assert_str_eq(s, want);
        free(s);
        weft_metrics_free(m);
    }

    weft_metrics *m = weft_metrics_new();
    weft_metric_set(weft_metrics_gauge(m, "g", "x", "k=\"nan\""), NAN);
    weft_metric_set(weft_metrics_gauge(m, "g", "x", "k=\"pinf\""), INFINITY);
    weft_metric_set(weft_metrics_gauge(m, "g", "x", "k=\"ninf\""), -INFINITY);
    char *s = render(m);
    cr_assert_str_eq(s, "# HELP g x\n# TYPE g gauge\n"
                        "g{k=\"nan\"} NaN\n"
                        "g{k=\"pinf\"} +Inf\n"
                        "g{k=\"ninf\"} -Inf\n");
    free(s);
    weft_metrics_free(m);
}

static void
collect_up(void *user, weft_metrics_out *out)
{
    int *n = user;
    (*n)++;
    weft_metrics_printf(out, "# HELP x_up Up\n# TYPE x_up gauge\nx_up %d\n", 1);
}

static void
collect_long(void *user, weft_metrics_out *out)
{
    char label[600];
    memset(label, 'v', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    weft_metrics_printf(out, "x_long{l=\"%s\"} %d\n", label, (int)(intptr_t)user);
}

Test(metrics, collectors_append_after_families)
{
    weft_metrics *m = weft_metrics_new();
    int called = 0;

    cr_assert_eq(weft_metrics_add_collector(m, collect_up, &called), 0);
    cr_assert_eq(weft_metrics_add_collector(m, collect_long, (void *)(intptr_t)7), 0);
    weft_metric_inc(weft_metrics_counter(m, "c_total", "C", NULL));
    char *s = render(m);
    const char *head = "# HELP c_total C\n# TYPE c_total counter\nc_total 1\n"
                       "# HELP x_up Up\n# TYPE x_up gauge\nx_up 1\nx_long{l=\"";
    cr_assert_eq(strncmp(s, head, strlen(head)), 0, "got:\n%s", s);
    const char *tail = s + strlen(head);
    cr_assert_eq(strspn(tail, "v"), 599);
    cr_assert_str_eq(tail + 599, "\"} 7\n");
    cr_assert_eq(called, 1);
    free(s);
    weft_metrics_free(m);
}

Test(metrics, same_name_and_labels_is_same_metric)
{
    weft_metrics *m = weft_metrics_new();
    weft_metric *a = weft_metrics_counter(m, "req_total", "Requests", "code=\"200\"");
    cr_assert_not_null(a);
    cr_assert_eq(weft_metrics_counter(m, "req_total", "Requests", "code=\"200\""), a);
    weft_metric *b = weft_metrics_counter(m, "req_total", "Requests", "code=\"500\"");
    cr_assert_neq(b, a);
    /* NULL and empty labels name the same series */
    weft_metric *c = weft_metrics_gauge(m, "up", "Up", NULL);
    cr_assert_eq(weft_metrics_gauge(m, "up", "Up", ""), c);

    /* a name is one type */
    cr_assert_null(weft_metrics_gauge(m, "req_total", "Requests", "code=\"200\""));
    cr_assert_null(weft_metrics_gauge(m, "req_total", "Requests", "code=\"404\""));
    static const double bounds[] = {1, 2};
    cr_assert_null(weft_metrics_histogram(m, "up", "Up", NULL, bounds, 2));
    cr_assert_null(weft_metrics_counter(m, "up", "Up", NULL));

    /* bad names and bounds */
    cr_assert_null(weft_metrics_counter(m, "", "x", NULL));
    cr_assert_null(weft_metrics_counter(m, "9lives", "x", NULL));
    cr_assert_null(weft_metrics_counter(m, "has space", "x", NULL));
    static const double unsorted[] = {2, 1};
    cr_assert_null(weft_metrics_histogram(m, "h", "x", NULL, unsorted, 2));
    static const double with_inf[] = {1, INFINITY};
    cr_assert_null(weft_metrics_histogram(m, "h", "x", NULL, with_inf, 2));
    cr_assert_eq(weft_metrics_add_collector(m, NULL, NULL), WEFT_EINVAL);
    cr_assert_not_null(weft_metrics_counter(m, "ns:sub_total", "x", NULL));

    /* the failed attempts left nothing behind */
    char *s = render(m);
    cr_assert_null(strstr(s, "# TYPE h "));
    cr_assert_not_null(strstr(s, "# TYPE up gauge\nup 0\n"));
    free(s);
    weft_metrics_free(m);
}

struct worker {
    weft_metric *c, *g, *h;
};

#define PER_THREAD 100000

static void *
work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        weft_metric_inc(w->c);
        weft_metric_gauge_add(w->g, 1.0);
        weft_metric_observe(w->h, (i & 1) ? 0.5 : 2.0);
    }
    return NULL;
}

Test(metrics, concurrent_updates_sum_exactly)
{
    weft_metrics *m = weft_metrics_new();
    static const double bounds[] = {1};
    struct worker w = {
        weft_metrics_counter(m, "c_total", "c", NULL),
        weft_metrics_gauge(m, "g", "g", NULL),
        weft_metrics_histogram(m, "h", "h", NULL, bounds, 1),
    };
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, work, &w);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);

    cr_assert_eq(weft_metric_value(w.c), 4.0 * PER_THREAD);
    cr_assert_eq(weft_metric_value(w.g), 4.0 * PER_THREAD);
    cr_assert_eq(weft_metric_value(w.h), 4.0 * PER_THREAD);
    char *s = render(m);
    cr_assert_not_null(strstr(s, "\nc_total 400000\n"));
    cr_assert_not_null(strstr(s, "\ng 400000\n"));
    cr_assert_not_null(strstr(s, "\nh_bucket{le=\"1\"} 200000\n"));
    cr_assert_not_null(strstr(s, "\nh_bucket{le=\"+Inf\"} 400000\n"));
    cr_assert_not_null(strstr(s, "\nh_sum 500000\n"));
    free(s);
    weft_metrics_free(m);
}

Test(metrics, escape_label_values)
{
    char out[64];

    cr_assert_str_eq(weft_metrics_escape("plain", out, sizeof(out)), "plain");
    cr_assert_str_eq(weft_metrics_escape("a\\b\"c\nd", out, sizeof(out)), "a\\\\b\\\"c\\nd");
    cr_assert_str_eq(weft_metrics_escape("", out, sizeof(out)), "");
    /* truncation never splits an escape */
    cr_assert_str_eq(weft_metrics_escape("ab\"", out, 4), "ab");
    cr_assert_str_eq(weft_metrics_escape("ab\"", out, 5), "ab\\\"");
    cr_assert_eq(weft_metrics_escape("x", out, sizeof(out)), out);
}

Test(metrics, wrong_kind_updates_are_ignored)
{
    weft_metrics *m = weft_metrics_new();
    weft_metric *c = weft_metrics_counter(m, "c_total", "c", NULL);
    weft_metric *g = weft_metrics_gauge(m, "g", "g", NULL);
    weft_metric_set(c, 5);
    weft_metric_inc(g);
    weft_metric_observe(c, 1);
    weft_metric_inc(NULL);
    cr_assert_eq(weft_metric_value(c), 0.0);
    cr_assert_eq(weft_metric_value(g), 0.0);
    weft_metrics_free(m);
    weft_metrics_free(NULL);
}
