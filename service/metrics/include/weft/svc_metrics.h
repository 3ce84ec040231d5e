/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_metrics.h: counters, gauges and histograms rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A metric is created once (any thread, usually at start-up) and updated
 * lock-free from any thread afterwards (relaxed atomics). Families group
 * metrics of one name that differ by labels; HELP and TYPE are written once
 * per family. Gauges whose value is computed at scrape time use a collector
 * callback instead.
 */
#ifndef WEFT_SVC_METRICS_H
#define WEFT_SVC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_metrics weft_metrics;
typedef struct weft_metric weft_metric;

weft_metrics *weft_metrics_new(void);
void weft_metrics_free(weft_metrics *m);

/* labels: NULL or a label list in exposition syntax without braces, e.g.
 * "reason=\"bad_signature\",topic=\"a\"" (the caller escapes values with
 * weft_metrics_escape). The same name+labels twice returns the same metric.
 * NULL on ENOMEM, or when name is reused with another type. */
weft_metric *weft_metrics_counter(weft_metrics *m, const char *name, const char *help,
                                  const char *labels);
weft_metric *weft_metrics_gauge(weft_metrics *m, const char *name, const char *help,
                                const char *labels);
/* bounds: nb ascending upper bounds (the +Inf bucket is implicit). */
weft_metric *weft_metrics_histogram(weft_metrics *m, const char *name, const char *help,
                                    const char *labels, const double *bounds, size_t nb);

void weft_metric_inc(weft_metric *c);                 /* counter += 1 */
void weft_metric_add(weft_metric *c, uint64_t v);     /* counter += v */
void weft_metric_set(weft_metric *g, double v);       /* gauge = v */
void weft_metric_gauge_add(weft_metric *g, double d); /* gauge += d */
void weft_metric_observe(weft_metric *h, double v);   /* histogram */
double weft_metric_value(const weft_metric *m);       /* counter/gauge value; histogram count */

/* A collector appends whole families (HELP, TYPE, samples) to out at
 * scrape time with weft_metrics_printf. */
typedef struct weft_metrics_out weft_metrics_out;
typedef void (*weft_metrics_collect_fn)(void *user, weft_metrics_out *out);
int weft_metrics_add_collector(weft_metrics *m, weft_metrics_collect_fn fn, void *user);
void weft_metrics_printf(weft_metrics_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The whole exposition, malloc'd and NUL-terminated; *len its length. */
char *weft_metrics_render(weft_metrics *m, size_t *len);

/* Escape a label value (backslash, quote, newline) into out; returns out. */
char *weft_metrics_escape(const char *value, char *out, size_t cap);

#define WEFT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#ifdef __cplusplus
}
#endif
#endif
