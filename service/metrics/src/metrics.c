/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Prometheus metrics registry and its text exposition (format 0.0.4).
 *
 * Creation takes the registry mutex; updates never do. Counters are atomic
 * uint64; gauges and histogram sums are doubles kept as the bit pattern in an
 * atomic uint64 and added with a compare-and-swap loop. Histogram buckets
 * are stored per bucket (not cumulative) so an observation touches one
 * bucket; the renderer accumulates them, and reports _count as the total it
 * read, so a scrape racing with observations is still self-consistent.
 *
 * Invariants: families and metrics are only ever appended, in creation
 * order, and live until weft_metrics_free; every metric of a family has the
 * family's type. Collectors are appended likewise and are called without
 * the mutex held (so they may create metrics).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_priv.h"
#include "weft/common.h"
#include "weft/svc_metrics.h"

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

struct family;

/* One histogram bucket. The atomic sits inside a plain struct so the array
 * is an ordinary pointer that free() takes as it is. */
struct bucket {
    _Atomic uint64_t n;
};

struct weft_metric {
    struct family *fam;
    struct weft_metric *next; /* next of the family, creation order */
    char *labels;             /* "" when none */
    _Atomic uint64_t value;   /* counter count, or gauge / histogram sum as double bits */
    size_t nb;                /* histogram: bounds */
    double *bounds;
    struct bucket *buckets; /* nb + 1, the last one +Inf; not cumulative */
};

struct family {
    struct family *next;
    char *name;
    char *help;
    enum kind kind;
    weft_metric *head, *tail;
};

struct collector {
    struct collector *next;
    weft_metrics_collect_fn fn;
    void *user;
    void (*drop)(void *user); /* owned collectors: frees user with the registry */
};

struct weft_metrics {
    pthread_mutex_t mu;
    struct family *fams, *fams_tail;
    struct collector *cols, *cols_tail;
};

struct weft_metrics_out {
    char *buf;
    size_t len, cap;
    int failed;
};

/* ---- doubles in atomics ----------------------------------------------------- */

static uint64_t
dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double
bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void
atomic_add_double(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ---- registry ------------------------------------------------------------------ */

weft_metrics *
weft_metrics_new(void)
{
    weft_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void
metric_free(weft_metric *x)
{
    free(x->labels);
    free(x->bounds);
    free(x->buckets);
    free(x);
}

void
weft_metrics_free(weft_metrics *m)
{
    if (m == NULL)
        return;
    for (struct family *f = m->fams, *fn; f != NULL; f = fn) {
        fn = f->next;
        for (weft_metric *x = f->head, *xn; x != NULL; x = xn) {
            xn = x->next;
            metric_free(x);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    for (struct collector *c = m->cols, *cn; c != NULL; c = cn) {
        cn = c->next;
        if (c->drop != NULL)
            c->drop(c->user);
        free(c);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int
valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static struct family *
find_family(weft_metrics *m, const char *name)
{
    for (struct family *f = m->fams; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Under m->mu. The family is created on first use; NULL on a type clash,
 * a bad name or ENOMEM. */
static weft_metric *
get_metric(weft_metrics *m, enum kind kind, const char *name, const char *help, const char *labels,
           const double *bounds, size_t nb)
{
    struct family *f = find_family(m, name);
    weft_metric *x;
    int new_fam = 0;

    if (labels == NULL)
        labels = "";
    if (f != NULL) {
        if (f->kind != kind)
            return NULL;
        for (x = f->head; x != NULL; x = x->next)
            if (strcmp(x->labels, labels) == 0)
                return x;
    } else {
        f = calloc(1, sizeof(*f));
        if (f == NULL)
            return NULL;
        f->name = strdup(name);
        f->help = strdup(help != NULL ? help : "");
        f->kind = kind;
        if (f->name == NULL || f->help == NULL)
            goto fail_fam;
        new_fam = 1;
    }

    x = calloc(1, sizeof(*x));
    if (x == NULL)
        goto fail_fam;
    x->fam = f;
    x->labels = strdup(labels);
    if (x->labels == NULL)
        goto fail_metric;
    if (kind == KIND_HISTOGRAM) {
        x->nb = nb;
        x->bounds = malloc((nb != 0 ? nb : 1) * sizeof(double));
        x->buckets = calloc(nb + 1, sizeof(*x->buckets));
        if (x->bounds == NULL || x->buckets == NULL)
            goto fail_metric;
        if (nb != 0)
            memcpy(x->bounds, bounds, nb * sizeof(double));
    }
    atomic_init(&x->value, kind == KIND_COUNTER ? 0 : dbits(0.0));

    if (f->tail != NULL)
        f->tail->next = x;
    else
        f->head = x;
    f->tail = x;
    if (new_fam) {
        if (m->fams_tail != NULL)
            m->fams_tail->next = f;
        else
            m->fams = f;
        m->fams_tail = f;
    }
    return x;

fail_metric:
    metric_free(x);
fail_fam:
    if (new_fam) {
        free(f->name);
        free(f->help);
        free(f);
    }
    return NULL;
}

static weft_metric *
create(weft_metrics *m, enum kind kind, const char *name, const char *help, const char *labels,
       const double *bounds, size_t nb)
{
    if (m == NULL || !valid_name(name))
        return NULL;
    if (kind == KIND_HISTOGRAM) {
        if (nb != 0 && bounds == NULL)
            return NULL;
        for (size_t i = 0; i < nb; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i])))
                return NULL;
    }
    pthread_mutex_lock(&m->mu);
    weft_metric *x = get_metric(m, kind, name, help, labels, bounds, nb);
    pthread_mutex_unlock(&m->mu);
    return x;
}

weft_metric *
weft_metrics_counter(weft_metrics *m, const char *name, const char *help, const char *labels)
{
    return create(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

weft_metric *
weft_metrics_gauge(weft_metrics *m, const char *name, const char *help, const char *labels)
{
    return create(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

weft_metric *
weft_metrics_histogram(weft_metrics *m, const char *name, const char *help, const char *labels,
                       const double *bounds, size_t nb)
{
    return create(m, KIND_HISTOGRAM, name, help, labels, bounds, nb);
}

int
weft_metrics_add_collector(weft_metrics *m, weft_metrics_collect_fn fn, void *user)
{
    return weft_metrics_add_owned(m, fn, user, NULL);
}

int
weft_metrics_add_owned(weft_metrics *m, weft_metrics_collect_fn fn, void *user,
                       void (*drop)(void *user))
{
    struct collector *c;

    if (m == NULL || fn == NULL)
        return WEFT_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->fn = fn;
    c->user = user;
    c->drop = drop;
    pthread_mutex_lock(&m->mu);
    if (m->cols_tail != NULL)
        m->cols_tail->next = c;
    else
        m->cols = c;
    m->cols_tail = c;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* ---- updates (lock-free) ----------------------------------------------------------- */

void
weft_metric_inc(weft_metric *c)
{
    if (c != NULL && c->fam->kind == KIND_COUNTER)
        atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

void
weft_metric_add(weft_metric *c, uint64_t v)
{
    if (c != NULL && c->fam->kind == KIND_COUNTER)
        atomic_fetch_add_explicit(&c->value, v, memory_order_relaxed);
}

void
weft_metric_set(weft_metric *g, double v)
{
    if (g != NULL && g->fam->kind == KIND_GAUGE)
        atomic_store_explicit(&g->value, dbits(v), memory_order_relaxed);
}

void
weft_metric_gauge_add(weft_metric *g, double d)
{
    if (g != NULL && g->fam->kind == KIND_GAUGE)
        atomic_add_double(&g->value, d);
}

void
weft_metric_observe(weft_metric *h, double v)
{
    size_t i = 0;

    if (h == NULL || h->fam->kind != KIND_HISTOGRAM)
        return;
    /* le is inclusive; NaN lands in +Inf */
    while (i < h->nb && !(v <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&h->buckets[i].n, 1, memory_order_relaxed);
    atomic_add_double(&h->value, v);
}

static uint64_t
histogram_count(const weft_metric *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->nb; i++)
        n += atomic_load_explicit(&h->buckets[i].n, memory_order_relaxed);
    return n;
}

double
weft_metric_value(const weft_metric *x)
{
    if (x == NULL)
        return 0.0;
    uint64_t v = atomic_load_explicit(&x->value, memory_order_relaxed);
    switch (x->fam->kind) {
    case KIND_COUNTER: return (double)v;
    case KIND_GAUGE: return bitsd(v);
    case KIND_HISTOGRAM: return (double)histogram_count(x);
    }
    return 0.0;
}

/* ---- rendering ---------------------------------------------------------------------- */

static void
out_reserve(weft_metrics_out *o, size_t extra)
{
    if (o->failed || o->len + extra + 1 <= o->cap)
        return;
    size_t cap = o->cap != 0 ? o->cap : 4096;
    while (cap < o->len + extra + 1)
        cap *= 2;
    char *b = realloc(o->buf, cap);
    if (b == NULL) {
        o->failed = 1;
        return;
    }
    o->buf = b;
    o->cap = cap;
}

static void
out_put(weft_metrics_out *o, const char *s, size_t n)
{
    out_reserve(o, n);
    if (o->failed)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
out_str(weft_metrics_out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

void
weft_metrics_printf(weft_metrics_out *o, const char *fmt, ...)
{
    va_list ap, ap2;
    char small[256];

    if (o == NULL || o->failed)
        return;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        o->failed = 1;
    } else if ((size_t)n < sizeof(small)) {
        out_put(o, small, (size_t)n);
    } else {
        out_reserve(o, (size_t)n);
        if (!o->failed) {
            vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap2);
            o->len += (size_t)n;
        }
    }
    va_end(ap2);
    va_end(ap);
}

/* Shortest text that reads back as the same double; Prometheus spellings
 * for the non-finite ones. */
static void
format_double(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(buf, cap, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* %g switches to an exponent once it is >= the precision; keep whole
     * numbers below 1e21 in plain digits (10, not 1e+01) */
    const char *e = strchr(buf, 'e');
    int exp10 = e != NULL ? atoi(e + 1) : 0;
    if (exp10 >= prec && exp10 < 21)
        prec = exp10 + 1;
    snprintf(buf, cap, "%.*g", prec, v);
}

/* HELP text: backslash and newline escaped (quotes stay). */
static void
out_help(weft_metrics_out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            out_put(o, "\\\\", 2);
        else if (*s == '\n')
            out_put(o, "\\n", 2);
        else
            out_put(o, s, 1);
    }
}

/* name{labels[,extra]} with the braces left out when both are empty */
static void
out_series(weft_metrics_out *o, const char *name, const char *suffix, const char *labels,
           const char *extra)
{
    out_str(o, name);
    out_str(o, suffix);
    if (*labels == '\0' && extra == NULL)
        return;
    out_put(o, "{", 1);
    out_str(o, labels);
    if (extra != NULL) {
        if (*labels != '\0')
            out_put(o, ",", 1);
        out_str(o, extra);
    }
    out_put(o, "}", 1);
}

static void
render_histogram(weft_metrics_out *o, const struct family *f, const weft_metric *x)
{
    char num[64], le[96];
    uint64_t cum = 0;

    for (size_t i = 0; i <= x->nb; i++) {
        cum += atomic_load_explicit(&x->buckets[i].n, memory_order_relaxed);
        if (i < x->nb) {
            format_double(x->bounds[i], num, sizeof(num));
            snprintf(le, sizeof(le), "le=\"%s\"", num);
        } else {
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        }
        out_series(o, f->name, "_bucket", x->labels, le);
        weft_metrics_printf(o, " %" PRIu64 "\n", cum);
    }
    format_double(bitsd(atomic_load_explicit(&x->value, memory_order_relaxed)), num, sizeof(num));
    out_series(o, f->name, "_sum", x->labels, NULL);
    weft_metrics_printf(o, " %s\n", num);
    out_series(o, f->name, "_count", x->labels, NULL);
    weft_metrics_printf(o, " %" PRIu64 "\n", cum);
}

char *
weft_metrics_render(weft_metrics *m, size_t *len)
{
    weft_metrics_out o = {NULL, 0, 0, 0};
    struct collector *cols;
    size_t ncols = 0;
    char num[64];

    if (len != NULL)
        *len = 0;
    if (m == NULL)
        return NULL;
    out_reserve(&o, 0);
    if (o.buf != NULL)
        o.buf[0] = '\0';

    pthread_mutex_lock(&m->mu);
    for (const struct family *f = m->fams; f != NULL; f = f->next) {
        out_str(&o, "# HELP ");
        out_str(&o, f->name);
        out_put(&o, " ", 1);
        out_help(&o, f->help);
        weft_metrics_printf(&o, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
        for (const weft_metric *x = f->head; x != NULL; x = x->next) {
            uint64_t v = atomic_load_explicit(&x->value, memory_order_relaxed);
            switch (f->kind) {
            case KIND_COUNTER:
                out_series(&o, f->name, "", x->labels, NULL);
                weft_metrics_printf(&o, " %" PRIu64 "\n", v);
                break;
            case KIND_GAUGE:
                format_double(bitsd(v), num, sizeof(num));
                out_series(&o, f->name, "", x->labels, NULL);
                weft_metrics_printf(&o, " %s\n", num);
                break;
            case KIND_HISTOGRAM: render_histogram(&o, f, x); break;
            }
        }
    }
    cols = m->cols;
    for (struct collector *c = cols; c != NULL; c = c->next)
        ncols++;
    pthread_mutex_unlock(&m->mu);

    /* Unlocked, so a collector may create metrics. The list only grows and
     * the first ncols links were written before the unlock. */
    for (struct collector *c = cols; ncols != 0; ncols--) {
        c->fn(c->user, &o);
        if (ncols > 1)
            c = c->next;
    }

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    if (len != NULL)
        *len = o.len;
    return o.buf;
}

char *
weft_metrics_escape(const char *value, char *out, size_t cap)
{
    size_t o = 0;

    if (out == NULL || cap == 0)
        return out;
    for (const char *s = value != NULL ? value : ""; *s != '\0'; s++) {
        const char *rep = NULL;
        char one[2] = {*s, '\0'};
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '"')
            rep = "\\\"";
        else if (*s == '\n')
            rep = "\\n";
        else
            rep = one;
        size_t n = strlen(rep);
        if (o + n >= cap)
            break; /* truncate, never inside an escape */
        memcpy(out + o, rep, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}
