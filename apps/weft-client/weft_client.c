/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-client: the command-line client of a weft node's gRPC sidecar, the
 * equivalent of the OptimumP2P guides' p2p-client (spec/optimum-compat.md,
 * "p2p client"). It takes the same Go-style flags and prints the same lines,
 * so the guides' scripts run unchanged against weft nodes.
 *
 * This file parses the command line and runs the single-node modes:
 * publish (send -msg -count times, each acknowledged by the node) and
 * subscribe (print deliveries and trace events until -count messages or
 * Ctrl-C). The load-test modes live in client_multi.c.
 *
 * Exit status: 0 done (also after SIGINT/SIGTERM), 1 connection, stream or
 * file failure, 2 usage error.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"
#include "go_text.h"
#include "weft/commit.h"
#include "weft/clock.h"
#include "weft/encoding.h"
#include "weft/utf8.h"

volatile sig_atomic_t client_stop;

/* ---- flags ------------------------------------------------------------------- */

enum flag_kind { F_STRING, F_INT, F_DURATION, F_BOOL };

#define M_SINGLE (MODE_PUBLISH | MODE_SUBSCRIBE)
#define M_MULTI (MODE_MULTI_PUBLISH | MODE_MULTI_SUBSCRIBE)
#define M_ALL (M_SINGLE | M_MULTI)

typedef struct flag_def {
    const char *name;
    enum flag_kind kind;
    int modes; /* where the flag means something */
    const char *arg;
    const char *help;
} flag_def;

static const flag_def flag_defs[] = {
    {"addr", F_STRING, M_SINGLE, "host:port",
     "sidecar address of the node (default \"" CLIENT_DEFAULT_ADDR "\")"},
    {"mode", F_STRING, M_ALL, "mode",
     "publish | subscribe | multi-publish | multi-subscribe (default \"subscribe\",\n"
     "        as the guides' p2p-client)"},
    {"topic", F_STRING, M_ALL, "topic", "topic to publish to or subscribe to (required)"},
    {"msg", F_STRING, MODE_PUBLISH, "text", "message to publish (required for publish)"},
    {"count", F_INT, M_ALL, "n",
     "publish: messages to send (default 1); multi-publish: messages per node\n"
     "        (default 1); subscribe, multi-subscribe: stop after n messages (per\n"
     "        node), default: run until interrupted"},
    {"sleep", F_DURATION, MODE_PUBLISH | MODE_MULTI_PUBLISH, "duration",
     "pause between publishes, e.g. 100ms, 1.5s, 2m (default 50ms)"},
    {"ipfile", F_STRING, M_MULTI, "path",
     "file of sidecar addresses, one host:port per line, '#' comments"},
    {"start-index", F_INT, M_MULTI, "n", "first address of -ipfile to use, 0-based (default 0)"},
    {"end-index", F_INT, M_MULTI, "n", "use addresses before this index (default: all)"},
    {"datasize", F_INT, MODE_MULTI_PUBLISH, "bytes",
     "size of each random message, hex text (default 100)"},
    {"poisson", F_BOOL, MODE_MULTI_PUBLISH, NULL,
     "exponential (Poisson process) pauses with mean -sleep"},
    {"output", F_STRING, MODE_MULTI_PUBLISH, "path",
     "TSV of published messages: sender, size, sha256 (default stdout)"},
    {"output-data", F_STRING, MODE_MULTI_SUBSCRIBE, "path",
     "TSV of deliveries: receiver, sender, size, sha256 (default stdout)"},
    {"output-trace", F_STRING, MODE_MULTI_SUBSCRIBE, "path",
     "TSV of trace events: receiver, kind, type, time, size, JSON\n"
     "        (default: not recorded)"},
};
#define N_FLAGS (sizeof flag_defs / sizeof flag_defs[0])

static void
usage(FILE *f)
{
    fprintf(
        f,
        "Usage: weft-client [-mode MODE] -topic TOPIC [flags]\n"
        "\n"
        "Client of a weft node's gRPC sidecar (the OptimumP2P p2p-client).\n"
        "\n"
        "  weft-client -mode publish -topic T -msg TEXT [-addr host:port] [-count n] [-sleep d]\n"
        "  weft-client -mode subscribe -topic T [-addr host:port] [-count n]\n"
        "  weft-client -mode multi-publish -topic T -ipfile F [-start-index i] [-end-index j]\n"
        "              [-count n] [-datasize b] [-sleep d] [-poisson] [-output F]\n"
        "  weft-client -mode multi-subscribe -topic T -ipfile F [-start-index i] [-end-index j]\n"
        "              [-count n] [-output-data F] [-output-trace F]\n"
        "\n"
        "Lines as the guides' p2p-client prints them: \"Connecting to node at: ADDR\xe2\x80\xa6\"\n"
        "and \"Trying to subscribe to topic T\xe2\x80\xa6\" on stderr, \"Subscribed to topic "
        "\\\"T\\\",\n"
        "waiting for messages\xe2\x80\xa6\", \"Recv message: ...\" and \"[TRACE] ...\" on stdout.\n"
        "\n"
        "Flags take one or two dashes, and their value as the next argument or\n"
        "after '=':\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        const flag_def *d = &flag_defs[i];
        char head[40];
        snprintf(head, sizeof head, "-%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
        fprintf(f, "  %s\n        %s\n", head, d->help);
    }
    fprintf(f, "  -h, -help\n        print this help\n"
               "  -version\n        print the version and the commit it was built from\n"
               "\n"
               "Exit status: 0 done or interrupted, 1 connection, stream or file failure,\n"
               "2 usage error.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr and the usage-error exit status. */
static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'weft-client -h' for usage.\n", stderr);
    return 2;
}

static int
parse_int(const char *s, long long *out)
{
    /* Base prefixes as Go's strconv.ParseInt(s, 0, 64). */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || s[0] == ' ' || s[0] == '\t')
        return -1;
    *out = v;
    return 0;
}

static int
parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* Store a flag's value into o. Returns 0 or the exit status. */
static int
set_flag(client_opts *o, const flag_def *d, char *v, const char **mode)
{
    long long n = 0;
    int64_t ns = 0;
    int b = 0;
    if (d->kind == F_INT && parse_int(v, &n) < 0)
        return usage_error("invalid value \"%s\" for flag -%s: not an integer", v, d->name);
    if (d->kind == F_DURATION && go_parse_duration(v, &ns) < 0)
        return usage_error("invalid value \"%s\" for flag -%s: not a duration (e.g. 100ms, "
                           "1.5s, 2m)",
                           v, d->name);
    if (d->kind == F_BOOL && parse_bool(v, &b) < 0)
        return usage_error("invalid value \"%s\" for flag -%s: not a boolean", v, d->name);
    const char *nm = d->name;
    if (strcmp(nm, "addr") == 0)
        o->addr = v;
    else if (strcmp(nm, "mode") == 0)
        *mode = v;
    else if (strcmp(nm, "topic") == 0)
        o->topic = v;
    else if (strcmp(nm, "msg") == 0)
        o->msg = v;
    else if (strcmp(nm, "count") == 0)
        o->count = n, o->count_set = 1;
    else if (strcmp(nm, "sleep") == 0)
        o->sleep_ns = ns;
    else if (strcmp(nm, "ipfile") == 0)
        o->ipfile = v;
    else if (strcmp(nm, "start-index") == 0)
        o->start_index = n;
    else if (strcmp(nm, "end-index") == 0)
        o->end_index = n;
    else if (strcmp(nm, "datasize") == 0)
        o->datasize = n;
    else if (strcmp(nm, "poisson") == 0)
        o->poisson = b;
    else if (strcmp(nm, "output") == 0)
        o->output = v;
    else if (strcmp(nm, "output-data") == 0)
        o->output_data = v;
    else if (strcmp(nm, "output-trace") == 0)
        o->output_trace = v;
    return 0;
}

static int
mode_from_name(const char *s)
{
    if (strcmp(s, "publish") == 0)
        return MODE_PUBLISH;
    if (strcmp(s, "subscribe") == 0)
        return MODE_SUBSCRIBE;
    if (strcmp(s, "multi-publish") == 0)
        return MODE_MULTI_PUBLISH;
    if (strcmp(s, "multi-subscribe") == 0)
        return MODE_MULTI_SUBSCRIBE;
    return 0;
}

/* Go flag package rules: flags until the first non-flag or "--"; "-x" and
 * "--x" alike; "-x=v" or "-x v"; booleans only as "-x" or "-x=v".
 * Returns -1 to continue, or an exit status. */
static int
parse_args(int argc, char **argv, client_opts *o)
{
    const char *mode = NULL;
    int given[N_FLAGS] = {0};
    memset(o, 0, sizeof *o);
    o->addr = CLIENT_DEFAULT_ADDR;
    o->count = 1;
    o->sleep_ns = 50 * 1000000LL;
    o->end_index = -1;
    o->datasize = 100;
    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        char *name = a + 1 + (a[1] == '-');
        if (name[0] == '\0' || name[0] == '-' || name[0] == '=')
            return usage_error("bad flag syntax: %s", a);
        char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if ((nlen == 1 && name[0] == 'h') || (nlen == 4 && strncmp(name, "help", 4) == 0)) {
            usage(stdout);
            return 0;
        }
        if (nlen == 7 && strncmp(name, "version", 7) == 0) {
            printf("weft-client %s (commit %s, %s)\n", WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE);
            return 0;
        }
        const flag_def *d = NULL;
        size_t k;
        for (k = 0; k < N_FLAGS; k++)
            if (strlen(flag_defs[k].name) == nlen && strncmp(flag_defs[k].name, name, nlen) == 0) {
                d = &flag_defs[k];
                break;
            }
        if (d == NULL)
            return usage_error("flag provided but not defined: -%.*s", (int)nlen, name);
        char *v; /* into argv, or a literal: never written */
        if (eq != NULL)
            v = eq + 1;
        else if (d->kind == F_BOOL)
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return usage_error("flag needs an argument: -%s", d->name);
        int rc = set_flag(o, d, v, &mode);
        if (rc != 0)
            return rc;
        given[k] = 1;
    }
    if (i < argc)
        return usage_error("unexpected argument \"%s\" (flags come first; quote values "
                           "with spaces)",
                           argv[i]);
    if (mode == NULL)
        mode = "subscribe"; /* the guides' p2p-client default */
    o->mode = mode_from_name(mode);
    if (o->mode == 0)
        return usage_error("invalid -mode \"%s\": want publish, subscribe, multi-publish or "
                           "multi-subscribe",
                           mode);
    for (size_t k = 0; k < N_FLAGS; k++)
        if (given[k] && (flag_defs[k].modes & o->mode) == 0)
            return usage_error("flag -%s does not apply to -mode %s", flag_defs[k].name, mode);
    if (o->topic == NULL || o->topic[0] == '\0')
        return usage_error("missing -topic");
    if (!weft_utf8_valid((const uint8_t *)o->topic, strlen(o->topic)))
        return usage_error("-topic is not valid UTF-8");
    if (o->mode == MODE_PUBLISH && o->msg == NULL)
        return usage_error("-mode publish needs -msg");
    if (o->addr[0] == '\0')
        return usage_error("-addr is empty");
    if ((o->mode & (MODE_PUBLISH | MODE_MULTI_PUBLISH)) && o->count < 1)
        return usage_error("-count must be at least 1 to publish");
    if (o->count < 0)
        return usage_error("-count must not be negative");
    if (o->count > INT_MAX)
        return usage_error("-count is too large");
    if (o->sleep_ns < 0)
        return usage_error("-sleep must not be negative");
    if (o->mode & M_MULTI) {
        if (o->ipfile == NULL || o->ipfile[0] == '\0')
            return usage_error("-mode %s needs -ipfile", mode);
        if (o->start_index < 0)
            return usage_error("-start-index must not be negative");
        if (o->end_index < -1)
            return usage_error("-end-index must not be negative");
        if (o->end_index >= 0 && o->end_index <= o->start_index)
            return usage_error("-end-index must be greater than -start-index");
    }
    if (o->datasize < 1 || o->datasize > (1LL << 28))
        return usage_error("-datasize must be between 1 and 268435456 bytes");
    if (o->poisson && o->sleep_ns == 0)
        return usage_error("-poisson needs a -sleep above 0 (the mean pause)");
    return -1;
}

/* ---- signals ----------------------------------------------------------------- */

/* The first signal asks every wait to wind down; a second one kills the
 * process at once, in case something does not return. */
static void
on_signal(int sig)
{
    if (client_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    client_stop = 1;
}

static void
install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed output pipe is a write error */
}

/* ---- publish ----------------------------------------------------------------- */

int
client_publish_main(const client_opts *o)
{
    char err[CLIENT_ERRLEN];
    weft_grpc_channel *ch;
    weft_grpc_stream *st;
    fprintf(stderr, "Connecting to node at: %s\xe2\x80\xa6\n", o->addr); /* U+2026, as the guides */
    int rc = session_open(o->addr, &ch, &st, err, sizeof err);
    if (rc == -EINTR)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        return 1;
    }
    int status = 0;
    size_t msg_len = strlen(o->msg);
    size_t cap = msg_len + 64;
    char *data = malloc(cap);
    if (data == NULL) {
        fprintf(stderr, "weft-client: out of memory\n");
        session_close(ch, st);
        return 1;
    }
    for (long long i = 0; i < o->count && !client_stop; i++) {
        int n = snprintf(data, cap, "[%lld %zu] %s", (long long)weft_unix_ns(), msg_len, o->msg);
        int64_t took;
        rc = session_publish(st, o->topic, (uint8_t *)data, (size_t)n, &took, err, sizeof err);
        if (rc == -EINTR)
            break;
        if (rc < 0) {
            fprintf(stderr, "weft-client: publish to %s failed: %s\n", o->addr, err);
            status = 1;
            break;
        }
        char dur[48];
        go_format_duration(took, dur, sizeof dur);
        fputs("Published ", stdout);
        go_quote(stdout, (const uint8_t *)data, (size_t)n);
        fputs(" to ", stdout);
        go_quote(stdout, (const uint8_t *)o->topic, strlen(o->topic));
        printf(" (took %s)\n", dur);
        fflush(stdout);
        if (i + 1 < o->count && sleep_ns_interruptible(o->sleep_ns) < 0)
            break;
    }
    free(data);
    if (status == 0 && !client_stop)
        WEFT_IGNORE(weft_grpc_stream_close_send(st, 1000));
    session_close(ch, st);
    if (ferror(stdout)) {
        fprintf(stderr, "weft-client: cannot write to stdout\n");
        return 1;
    }
    return status;
}

/* ---- subscribe --------------------------------------------------------------- */

static void
print_message(int n, const delivery *d)
{
    printf("Recv message: [%d] [%lld %zu] ", n, (long long)weft_unix_ns(), d->len);
    fwrite(d->payload, 1, d->len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void
print_trace(const Proto__Response *r)
{
    trace_text t;
    char err[CLIENT_ERRLEN];
    if (trace_decode(r->command, r->data.data, r->data.len, &t, err, sizeof err) < 0) {
        fprintf(stderr, "weft-client: skipped a trace event: %s\n", err);
        return;
    }
    /* the guides' three lines: summary, shard detail, JSON with its length */
    printf("[TRACE] %s type=%s ts=%s size=%zuB\n", t.label, t.type, t.ts, t.size);
    if (t.detail != NULL)
        printf("%s\n", t.detail);
    printf("[TRACE] %s JSON (%zuB): %s\n", t.label, t.json_len, t.json);
    fflush(stdout);
    trace_text_free(&t);
}

int
client_subscribe_main(const client_opts *o)
{
    char err[CLIENT_ERRLEN];
    weft_grpc_channel *ch;
    weft_grpc_stream *st;
    fprintf(stderr, "Connecting to node at: %s\xe2\x80\xa6\n", o->addr); /* U+2026, as the guides */
    int rc = session_open(o->addr, &ch, &st, err, sizeof err);
    if (rc == -EINTR)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "weft-client: %s\n", err);
        return 1;
    }
    fputs("Trying to subscribe to topic ", stderr);
    fwrite(o->topic, 1, strlen(o->topic), stderr);
    fputs("\xe2\x80\xa6\n", stderr);
    rc = session_send(st, CMD_SUBSCRIBE, o->topic, NULL, 0, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "weft-client: subscribe on %s failed: %s\n", o->addr, err);
        session_close(ch, st);
        return 1;
    }
    fputs("Subscribed to topic ", stdout);
    go_quote(stdout, (const uint8_t *)o->topic, strlen(o->topic));
    fputs(", waiting for messages\xe2\x80\xa6\n", stdout);
    fflush(stdout);

    long long limit = o->count_set ? o->count : 0;
    int received = 0, status = 0;
    while (limit == 0 || received < limit) {
        Proto__Response *r;
        rc = session_recv(st, &r, -1, err, sizeof err);
        if (rc == -EINTR)
            break;
        if (rc == WEFT_EPROTO) {
            fprintf(stderr, "weft-client: skipped a response: %s\n", err);
            continue;
        }
        if (rc <= 0) {
            fprintf(stderr, "weft-client: %s: %s\n", o->addr, err);
            status = 1;
            break;
        }
        if (r->command == PROTO__RESPONSE_TYPE__Message) {
            delivery d;
            if (delivery_parse(r->data.data, r->data.len, &d, err, sizeof err) < 0) {
                fprintf(stderr, "weft-client: skipped a bad message: %s\n", err);
            } else {
                print_message(++received, &d);
                delivery_free(&d);
            }
        } else if (r->command == PROTO__RESPONSE_TYPE__MessageTraceMumP2P ||
                   r->command == PROTO__RESPONSE_TYPE__MessageTraceGossipSub) {
            print_trace(r);
        } else {
            fprintf(stderr, "weft-client: skipped a response of unknown type %d\n",
                    (int)r->command);
        }
        proto__response__free_unpacked(r, NULL);
    }
    session_close(ch, st);
    if (ferror(stdout)) {
        fprintf(stderr, "weft-client: cannot write to stdout\n");
        return 1;
    }
    return status;
}

/* ---- main -------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
    client_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (sodium_init() < 0) {
        fprintf(stderr, "weft-client: libsodium failed to initialise\n");
        return 1;
    }
    install_signals();
    switch (o.mode) {
    case MODE_PUBLISH: return client_publish_main(&o);
    case MODE_SUBSCRIBE: return client_subscribe_main(&o);
    case MODE_MULTI_PUBLISH: return client_multi_publish_main(&o);
    default: return client_multi_subscribe_main(&o);
    }
}
