/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client_multi.c: the load-test modes of weft-client, as the guides'
 * multi-stream publish and subscribe clients.
 *
 * multi-publish: from every node of -ipfile (lines -start-index up to
 * -end-index), publish -count random messages of -datasize bytes (hex
 * text), pausing -sleep (or an exponential pause with mean -sleep under
 * -poisson) after each, and log "sender\tsize\tsha256" per acknowledged
 * publish. multi-subscribe: subscribe on every node and log
 * "receiver\tsender\tsize\tsha256" per delivery, plus the trace events with
 * -output-trace. Matching the two logs by hash measures delivery.
 *
 * One thread per node, each with its own channel and stream; output lines
 * are written whole under a lock. A node that fails is reported on stderr
 * and the others go on; the exit status is then 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"
#include "go_text.h"
#include "weft/clock.h"
#include "weft/encoding.h"
#include "weft/utf8.h"

#define MAX_NODES 4096

typedef struct sink {
    FILE *f;
    const char *path; /* for messages */
    int owned;        /* fclose at the end */
    int failed;
    pthread_mutex_t mu;
} sink;

typedef struct job {
    const client_opts *o;
    const char *addr;
    sink *data;
    sink *trace; /* NULL: traces are not recorded */
    pthread_t th;
    int started;
    int failed;
    unsigned long long done; /* messages published or received */
    unsigned long long traces;
} job;

typedef struct addr_list {
    char **v;
    size_t n;
} addr_list;

static void
addr_list_free(addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* "host:port", "[v6]:port"; port 1-65535. */
static int
addr_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return 0;
    if (s[0] == '[' && colon[-1] != ']')
        return 0;
    long port = 0;
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return 0;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

/* Addresses of path, one per line; '#' starts a comment. Returns 0 or -1
 * with err filled. */
static int
read_ipfile(const char *path, addr_list *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, cap, "cannot open -ipfile %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    while ((got = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)got) != NULL) {
            snprintf(err, cap, "%s:%d: binary data", path, lineno);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n > 0 &&
               (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r'))
            p[--n] = '\0';
        if (n == 0)
            continue;
        if (strpbrk(p, " \t") != NULL || !addr_valid(p)) {
            snprintf(err, cap, "%s:%d: bad address \"%.100s\" (want host:port)", path, lineno, p);
            rc = -1;
            break;
        }
        if (out->n == MAX_NODES) {
            snprintf(err, cap, "%s: more than %d addresses", path, MAX_NODES);
            rc = -1;
            break;
        }
        char **v = realloc(out->v, (out->n + 1) * sizeof *v);
        char *copy = strdup(p);
        if (v != NULL)
            out->v = v;
        if (v == NULL || copy == NULL) {
            free(copy);
            snprintf(err, cap, "out of memory");
            rc = -1;
            break;
        }
        out->v[out->n++] = copy;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, cap, "cannot read -ipfile %s", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc < 0)
        addr_list_free(out);
    return rc;
}

/* ---- output ------------------------------------------------------------------ */

static int
sink_open(sink *s, const char *path, char *err, size_t cap)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    if (path == NULL || strcmp(path, "-") == 0) {
        s->f = stdout;
        s->path = "stdout";
        return 0;
    }
    s->f = fopen(path, "w");
    if (s->f == NULL) {
        snprintf(err, cap, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    s->path = path;
    s->owned = 1;
    return 0;
}

static void
sink_write(sink *s, const char *line)
{
    pthread_mutex_lock(&s->mu);
    /* One line at a time reaches the file: tools (and tests) read it while
     * the load runs. */
    if (!s->failed && (fputs(line, s->f) == EOF || fflush(s->f) == EOF))
        s->failed = 1;
    pthread_mutex_unlock(&s->mu);
}

/* Flush and close; returns -1 (after saying so) if anything was lost. */
static int
sink_close(sink *s)
{
    if (s->f == NULL)
        return 0;
    int bad = s->failed || fflush(s->f) == EOF || ferror(s->f);
    if (s->owned && fclose(s->f) == EOF)
        bad = 1;
    s->f = NULL;
    pthread_mutex_destroy(&s->mu);
    if (bad)
        fprintf(stderr, "weft-client: writing %s failed; output is incomplete\n", s->path);
    return bad ? -1 : 0;
}

/* ---- workers ----------------------------------------------------------------- */

/* Exponential pause with the given mean (a Poisson process of publishes). */
static int64_t
exp_pause(int64_t mean_ns)
{
    uint64_t r = ((uint64_t)randombytes_random() << 32) | randombytes_random();
    double u = (double)((r >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    return (int64_t)(-ln_pos(u) * (double)mean_ns);
}

static void *
publish_worker(void *arg)
{
    job *j = arg;
    const client_opts *o = j->o;
    char err[CLIENT_ERRLEN];
    weft_grpc_channel *ch;
    weft_grpc_stream *st;
    int rc = session_open(j->addr, &ch, &st, err, sizeof err);
    if (rc < 0) {
        if (rc != -EINTR) {
            fprintf(stderr, "weft-client: %s\n", err);
            j->failed = 1;
        }
        return NULL;
    }
    size_t size = (size_t)o->datasize, nraw = (size + 1) / 2;
    uint8_t *raw = malloc(nraw);
    char *text = malloc(2 * nraw + 1);
    if (raw == NULL || text == NULL) {
        fprintf(stderr, "weft-client: %s: out of memory\n", j->addr);
        j->failed = 1;
        goto out;
    }
    for (long long i = 0; i < o->count && !client_stop; i++) {
        randombytes_buf(raw, nraw);
        weft_hex_encode(raw, nraw, text);
        text[size] = '\0';
        int64_t took;
        rc = session_publish(st, o->topic, (uint8_t *)text, size, &took, err, sizeof err);
        if (rc == -EINTR)
            break;
        if (rc < 0) {
            fprintf(stderr, "weft-client: %s: publish failed: %s\n", j->addr, err);
            j->failed = 1;
            break;
        }
        char hash[65], line[CLIENT_ERRLEN];
        sha256_hex((const uint8_t *)text, size, hash);
        snprintf(line, sizeof line, "%s\t%zu\t%s\n", j->addr, size, hash);
        sink_write(j->data, line);
        j->done++;
        if (i + 1 < o->count &&
            sleep_ns_interruptible(o->poisson ? exp_pause(o->sleep_ns) : o->sleep_ns) < 0)
            break;
    }
    if (!j->failed && !client_stop)
        WEFT_IGNORE(weft_grpc_stream_close_send(st, 1000));
out:
    free(raw);
    free(text);
    session_close(ch, st);
    return NULL;
}

static int
has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void
record_delivery(job *j, const Proto__Response *r)
{
    char err[CLIENT_ERRLEN];
    delivery d;
    if (delivery_parse(r->data.data, r->data.len, &d, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s: skipped a bad message: %s\n", j->addr, err);
        return;
    }
    if (has_control(d.source_node_id)) {
        fprintf(stderr,
                "weft-client: %s: skipped a message: control characters in "
                "source_node_id\n",
                j->addr);
    } else {
        char hash[65];
        sha256_hex(d.payload, d.len, hash);
        char *line = NULL;
        if (asprintf(&line, "%s\t%s\t%zu\t%s\n", j->addr, d.source_node_id, d.len, hash) >= 0) {
            sink_write(j->data, line);
            free(line);
        }
        j->done++;
    }
    delivery_free(&d);
}

static void
record_trace(job *j, const Proto__Response *r)
{
    j->traces++;
    if (j->trace == NULL)
        return;
    char err[CLIENT_ERRLEN];
    trace_text t;
    if (trace_decode(r->command, r->data.data, r->data.len, &t, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s: skipped a trace event: %s\n", j->addr, err);
        return;
    }
    char *line = NULL;
    if (asprintf(&line, "%s\t%s\t%s\t%s\t%zu\t%s\n", j->addr, t.label, t.type, t.ts, t.size,
                 t.json) >= 0) {
        sink_write(j->trace, line);
        free(line);
    }
    trace_text_free(&t);
}

static void *
subscribe_worker(void *arg)
{
    job *j = arg;
    const client_opts *o = j->o;
    char err[CLIENT_ERRLEN];
    weft_grpc_channel *ch;
    weft_grpc_stream *st;
    int rc = session_open(j->addr, &ch, &st, err, sizeof err);
    if (rc < 0) {
        if (rc != -EINTR) {
            fprintf(stderr, "weft-client: %s\n", err);
            j->failed = 1;
        }
        return NULL;
    }
    rc = session_send(st, CMD_SUBSCRIBE, o->topic, NULL, 0, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "weft-client: %s: subscribe failed: %s\n", j->addr, err);
        j->failed = 1;
        goto out;
    }
    flockfile(stderr);
    fprintf(stderr, "%s: subscribed to topic ", j->addr);
    go_quote(stderr, (const uint8_t *)o->topic, strlen(o->topic));
    fputc('\n', stderr);
    funlockfile(stderr);
    long long limit = o->count_set ? o->count : 0;
    while (limit == 0 || j->done < (unsigned long long)limit) {
        Proto__Response *r;
        rc = session_recv(st, &r, -1, err, sizeof err);
        if (rc == -EINTR)
            break;
        if (rc == WEFT_EPROTO) {
            fprintf(stderr, "weft-client: %s: skipped a response: %s\n", j->addr, err);
            continue;
        }
        if (rc <= 0) {
            fprintf(stderr, "weft-client: %s: %s\n", j->addr, err);
            j->failed = 1;
            break;
        }
        if (r->command == PROTO__RESPONSE_TYPE__Message)
            record_delivery(j, r);
        else if (r->command == PROTO__RESPONSE_TYPE__MessageTraceMumP2P ||
                 r->command == PROTO__RESPONSE_TYPE__MessageTraceGossipSub)
            record_trace(j, r);
        else
            fprintf(stderr, "weft-client: %s: skipped a response of unknown type %d\n", j->addr,
                    (int)r->command);
        proto__response__free_unpacked(r, NULL);
    }
out:
    session_close(ch, st);
    return NULL;
}

/* ---- driver ------------------------------------------------------------------ */

/* Runs fn on a thread per selected node. Returns the exit status; *jobs_out
 * and *n_out describe the finished jobs (caller frees *jobs_out). */
static int
run_jobs(const client_opts *o, void *(*fn)(void *), sink *data, sink *trace, job **jobs_out,
         size_t *n_out)
{
    char err[CLIENT_ERRLEN];
    addr_list l;
    *jobs_out = NULL;
    *n_out = 0;
    if (read_ipfile(o->ipfile, &l, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        return 1;
    }
    size_t end = o->end_index < 0 ? l.n : (size_t)o->end_index;
    if (l.n == 0 || (size_t)o->start_index >= l.n || end > l.n) {
        fprintf(stderr,
                "weft-client: -start-index %lld / -end-index %lld select nothing or go past the "
                "%zu addresses in %s\n",
                o->start_index, o->end_index, l.n, o->ipfile);
        addr_list_free(&l);
        return 2;
    }
    size_t n = end - (size_t)o->start_index;
    job *jobs = calloc(n, sizeof *jobs);
    if (jobs == NULL) {
        fprintf(stderr, "weft-client: out of memory\n");
        addr_list_free(&l);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i] =
            (job){.o = o, .addr = l.v[o->start_index + (long long)i], .data = data, .trace = trace};
        int e = pthread_create(&jobs[i].th, NULL, fn, &jobs[i]);
        if (e != 0) {
            fprintf(stderr, "weft-client: cannot start a thread for %s: %s\n", jobs[i].addr,
                    strerror(e));
            client_stop = 1; /* wind the started ones down */
            status = 1;
            break;
        }
        jobs[i].started = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].started)
            continue;
        pthread_join(jobs[i].th, NULL);
        if (jobs[i].failed)
            status = 1;
    }
    /* Addresses are referenced by jobs only until here. */
    for (size_t i = 0; i < n; i++)
        jobs[i].addr = NULL;
    addr_list_free(&l);
    *jobs_out = jobs;
    *n_out = n;
    return status;
}

int
client_multi_publish_main(const client_opts *o)
{
    char err[CLIENT_ERRLEN];
    sink out;
    if (sink_open(&out, o->output, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        return 1;
    }
    int64_t t0 = weft_mono_ns();
    job *jobs;
    size_t n;
    int status = run_jobs(o, publish_worker, &out, NULL, &jobs, &n);
    if (sink_close(&out) < 0)
        status = 1;
    if (jobs != NULL) {
        unsigned long long sent = 0;
        size_t failed = 0;
        for (size_t i = 0; i < n; i++) {
            sent += jobs[i].done;
            failed += jobs[i].failed || !jobs[i].started;
        }
        char dur[48];
        go_format_duration(weft_mono_ns() - t0, dur, sizeof dur);
        fprintf(stderr,
                "multi-publish: published %llu of %llu messages via %zu nodes (%zu failed) "
                "in %s%s\n",
                sent, (unsigned long long)o->count * n, n, failed, dur,
                client_stop ? " (interrupted)" : "");
        free(jobs);
    }
    return status;
}

int
client_multi_subscribe_main(const client_opts *o)
{
    char err[CLIENT_ERRLEN];
    sink data, trace;
    if (sink_open(&data, o->output_data, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        return 1;
    }
    if (o->output_trace != NULL && sink_open(&trace, o->output_trace, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        WEFT_IGNORE(sink_close(&data));
        return 1;
    }
    job *jobs;
    size_t n;
    int status = run_jobs(o, subscribe_worker, &data, o->output_trace ? &trace : NULL, &jobs, &n);
    if (sink_close(&data) < 0)
        status = 1;
    if (o->output_trace != NULL && sink_close(&trace) < 0)
        status = 1;
    if (jobs != NULL) {
        unsigned long long got = 0, traces = 0;
        size_t failed = 0;
        for (size_t i = 0; i < n; i++) {
            got += jobs[i].done;
            traces += jobs[i].traces;
            failed += jobs[i].failed || !jobs[i].started;
        }
        fprintf(stderr,
                "multi-subscribe: received %llu messages and %llu trace events from %zu nodes "
                "(%zu failed)%s\n",
                got, traces, n, failed, client_stop ? " (interrupted)" : "");
        free(jobs);
    }
    return status;
}
