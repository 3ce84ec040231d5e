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

/* ---- bounded label vectors ---------------------------------------------------------
 *
 * A counter family whose label values come from clients (client ids,
 * topics) and so could grow without end. At most max_series label sets
 * get a series of their own; while the family is full, a new label set is
 * counted in the one series whose every label is "other". A series not
 * added to for idle_ms is folded into "other" (its count moves there, so
 * the sum over the family never goes down) and its slot is free again. A
 * label set equal to the "other" one is counted there. The vector belongs
 * to the registry (freed by weft_metrics_free) and is rendered after the
 * registry's own families. Thread-safe: one mutex per vector. */
typedef struct weft_metrics_vec weft_metrics_vec;
#define WEFT_METRICS_OTHER "other"
#define WEFT_METRICS_VEC_MAX_LABELS 4
/* label_names: nlabels (1..WEFT_METRICS_VEC_MAX_LABELS) valid label names.
 * max_series >= 1; idle_ms > 0. NULL on bad arguments or ENOMEM. */
weft_metrics_vec *weft_metrics_counter_vec(weft_metrics *m, const char *name, const char *help,
                                           const char *const *label_names, size_t nlabels,
                                           size_t max_series, int64_t idle_ms);
/* Add n to the series of values[0..nlabels) (raw values; escaped here,
 * each cut to 256 bytes). now_ms: monotonic ms (weft_mono_ms()). */
void weft_metrics_vec_add(weft_metrics_vec *v, const char *const *values, uint64_t n,
                          int64_t now_ms);
/* Fold the series idle at now_ms into "other" (adds do this too, at most
 * once a second; so does a scrape). Returns the series left, without
 * "other". */
size_t weft_metrics_vec_expire(weft_metrics_vec *v, int64_t now_ms);
/* Sum over every series including "other" (tests, and a check that folding
 * lost nothing). */
uint64_t weft_metrics_vec_total(weft_metrics_vec *v);

/* ---- process metrics ----------------------------------------------------------------
 *
 * The standard process_* families, read from /proc/self at scrape time:
 * process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds. 0 or a negative errno. */
int weft_metrics_add_process(weft_metrics *m);

/* The whole exposition, malloc'd and NUL-terminated; *len its length. */
char *weft_metrics_render(weft_metrics *m, size_t *len);

/* Escape a label value (backslash, quote, newline) into out; returns out. */
char *weft_metrics_escape(const char *value, char *out, size_t cap);

#define WEFT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#ifdef __cplusplus
}
#endif
#endif
