/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded label vectors (weft/svc_metrics.h): a counter family keyed by
 * label values that clients choose, so its size is capped.
 *
 * Each series is a node in a hash table (SipHash with a per-vector random
 * key: label values are attacker-chosen) and in a list ordered by last use,
 * least recent first. Expiry walks that list from the front and stops at
 * the first series still in use, so a sweep costs what it removes. The
 * "other" series is not in the table; it holds what overflowed and what
 * expired, so the family's sum only ever grows (rate() over the sum stays
 * right across folds).
 *
 * Invariants: nseries <= max_series; every series' key is unique; the use
 * list holds exactly the series of the table, in non-decreasing last_ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_priv.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/rng.h"
#include "weft/siphash.h"
#include "weft/svc_metrics.h"

#define VALUE_MAX 256 /* raw bytes kept of one label value */
#define SWEEP_EVERY_MS 1000

struct series {
    struct series *hnext;         /* hash chain */
    struct series *older, *newer; /* use list */
    uint64_t hash;
    uint64_t count;
    int64_t last_ms;
    char labels[]; /* rendered: a="x",b="y" (the key) */
};

struct weft_metrics_vec {
    pthread_mutex_t mu;
    char *name, *help;
    char *names[WEFT_METRICS_VEC_MAX_LABELS];
    size_t nlabels;
    size_t max_series, nseries;
    int64_t idle_ms, swept_ms;
    uint8_t key[WEFT_SIPHASH_KEYBYTES];
    struct series **slots;
    size_t nslots; /* power of two, >= max_series */
    struct series *oldest, *newest;
    char *other_labels;
    uint64_t other;
};

static int
valid_label_name(const char *s)
{
    if (s == NULL || *s == '\0' || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* name="value",... into out (cap bytes); each value cut to VALUE_MAX raw
 * bytes, then escaped. Returns the length. */
static size_t
render_labels(const weft_metrics_vec *v, const char *const *values, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->nlabels; i++) {
        char raw[VALUE_MAX + 1], esc[VALUE_MAX * 2 + 1];
        snprintf(raw, sizeof raw, "%s", values[i] != NULL ? values[i] : "");
        weft_metrics_escape(raw, esc, sizeof esc);
        int n = snprintf(out + o, cap - o, "%s%s=\"%s\"", i ? "," : "", v->names[i], esc);
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
    return o;
}

static void
vec_free(void *user)
{
    weft_metrics_vec *v = user;
    if (v == NULL)
        return;
    for (struct series *s = v->oldest, *n; s != NULL; s = n) {
        n = s->newer;
        free(s);
    }
    for (size_t i = 0; i < v->nlabels; i++)
        free(v->names[i]);
    free(v->slots);
    free(v->name);
    free(v->help);
    free(v->other_labels);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

static void vec_collect(void *user, weft_metrics_out *out);

weft_metrics_vec *
weft_metrics_counter_vec(weft_metrics *m, const char *name, const char *help,
                         const char *const *label_names, size_t nlabels, size_t max_series,
                         int64_t idle_ms)
{
    if (m == NULL || name == NULL || *name == '\0' || label_names == NULL || nlabels == 0 ||
        nlabels > WEFT_METRICS_VEC_MAX_LABELS || max_series == 0 || max_series > (1u << 24) ||
        idle_ms <= 0)
        return NULL;
    for (size_t i = 0; i < nlabels; i++)
        if (!valid_label_name(label_names[i]))
            return NULL;
    weft_metrics_vec *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    pthread_mutex_init(&v->mu, NULL);
    v->nlabels = nlabels;
    v->max_series = max_series;
    v->idle_ms = idle_ms;
    v->nslots = 16;
    while (v->nslots < max_series)
        v->nslots *= 2;
    v->slots = calloc(v->nslots, sizeof *v->slots);
    v->name = strdup(name);
    v->help = strdup(help != NULL ? help : "");
    int ok = v->slots != NULL && v->name != NULL && v->help != NULL;
    for (size_t i = 0; ok && i < nlabels; i++)
        ok = (v->names[i] = strdup(label_names[i])) != NULL;
    const char *others[WEFT_METRICS_VEC_MAX_LABELS];
    for (size_t i = 0; i < nlabels; i++)
        others[i] = WEFT_METRICS_OTHER;
    char buf[WEFT_METRICS_VEC_MAX_LABELS * 96];
    if (ok) {
        render_labels(v, others, buf, sizeof buf);
        ok = (v->other_labels = strdup(buf)) != NULL;
    }
    if (ok && weft_random_bytes(v->key, sizeof v->key) < 0)
        ok = 0;
    if (!ok || weft_metrics_add_owned(m, vec_collect, v, vec_free) < 0) {
        vec_free(v);
        return NULL;
    }
    return v;
}

static void
unlink_use(weft_metrics_vec *v, struct series *s)
{
    if (s->older != NULL)
        s->older->newer = s->newer;
    else
        v->oldest = s->newer;
    if (s->newer != NULL)
        s->newer->older = s->older;
    else
        v->newest = s->older;
    s->older = s->newer = NULL;
}

static void
push_newest(weft_metrics_vec *v, struct series *s)
{
    s->older = v->newest;
    s->newer = NULL;
    if (v->newest != NULL)
        v->newest->newer = s;
    else
        v->oldest = s;
    v->newest = s;
}

static void
unlink_hash(weft_metrics_vec *v, struct series *s)
{
    struct series **pp = &v->slots[s->hash & (v->nslots - 1)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp != NULL)
        *pp = s->hnext;
}

/* Under v->mu. */
static void
sweep(weft_metrics_vec *v, int64_t now_ms)
{
    while (v->oldest != NULL && now_ms - v->oldest->last_ms >= v->idle_ms) {
        struct series *s = v->oldest;
        unlink_use(v, s);
        unlink_hash(v, s);
        v->other += s->count;
        v->nseries--;
        free(s);
    }
    v->swept_ms = now_ms;
}

void
weft_metrics_vec_add(weft_metrics_vec *v, const char *const *values, uint64_t n, int64_t now_ms)
{
    char buf[WEFT_METRICS_VEC_MAX_LABELS * (VALUE_MAX * 2 + 72)];
    if (v == NULL || values == NULL)
        return;
    size_t len = render_labels(v, values, buf, sizeof buf);
    uint64_t h = weft_siphash24(v->key, buf, len);

    pthread_mutex_lock(&v->mu);
    if (now_ms - v->swept_ms >= SWEEP_EVERY_MS)
        sweep(v, now_ms);
    if (strcmp(buf, v->other_labels) == 0) {
        v->other += n;
        goto out;
    }
    struct series **slot = &v->slots[h & (v->nslots - 1)], *s;
    for (s = *slot; s != NULL; s = s->hnext)
        if (s->hash == h && strcmp(s->labels, buf) == 0)
            break;
    if (s == NULL) {
        if (v->nseries >= v->max_series || (s = malloc(sizeof *s + len + 1)) == NULL) {
            v->other += n; /* full (or no memory): counted, not lost */
            goto out;
        }
        memcpy(s->labels, buf, len + 1);
        s->hash = h;
        s->count = 0;
        s->last_ms = now_ms;
        s->hnext = *slot;
        *slot = s;
        v->nseries++;
    } else {
        unlink_use(v, s);
    }
    s->count += n;
    s->last_ms = now_ms > s->last_ms ? now_ms : s->last_ms;
    push_newest(v, s);
out:
    pthread_mutex_unlock(&v->mu);
}

size_t
weft_metrics_vec_expire(weft_metrics_vec *v, int64_t now_ms)
{
    if (v == NULL)
        return 0;
    pthread_mutex_lock(&v->mu);
    sweep(v, now_ms);
    size_t n = v->nseries;
    pthread_mutex_unlock(&v->mu);
    return n;
}

uint64_t
weft_metrics_vec_total(weft_metrics_vec *v)
{
    if (v == NULL)
        return 0;
    pthread_mutex_lock(&v->mu);
    uint64_t t = v->other;
    for (struct series *s = v->oldest; s != NULL; s = s->newer)
        t += s->count;
    pthread_mutex_unlock(&v->mu);
    return t;
}

/* The family: least recently used first, then "other" (always present,
 * so a dashboard's query has a series from the first scrape on). */
static void
vec_collect(void *user, weft_metrics_out *out)
{
    weft_metrics_vec *v = user;
    pthread_mutex_lock(&v->mu);
    sweep(v, weft_mono_ms());
    weft_metrics_printf(out, "# HELP %s %s\n# TYPE %s counter\n", v->name, v->help, v->name);
    for (struct series *s = v->oldest; s != NULL; s = s->newer)
        weft_metrics_printf(out, "%s{%s} %" PRIu64 "\n", v->name, s->labels, s->count);
    weft_metrics_printf(out, "%s{%s} %" PRIu64 "\n", v->name, v->other_labels, v->other);
    pthread_mutex_unlock(&v->mu);
}
