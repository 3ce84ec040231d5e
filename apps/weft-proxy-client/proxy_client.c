/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy-client: the command-line client of weft-proxy, the equivalent
 * of the OptimumP2P guides' proxy client (spec/optimum-compat.md, "Proxy:
 * REST" and "Proxy: gRPC"). Subscribing goes through REST
 * (POST /api/v1/subscribe) and receives deliveries over the WebSocket
 * (GET /api/v1/ws) or a gRPC ProxyStream.ClientStream; publishing goes
 * through REST (POST /api/v1/publish) or gRPC ProxyStream.Publish.
 *
 * This file parses the Go-style command line (-flag value, -flag=value,
 * --flag) and holds the text helpers whose output must look like the Go
 * client's (durations, %q quoting). The modes live in pc_modes.c, the HTTP
 * and WebSocket clients in http_client.c and ws_client.c.
 *
 * Exit status: 0 done (also after SIGINT/SIGTERM), 1 connection, server or
 * protocol failure, 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "go_text.h"
#include "pclient.h"
#include "weft/commit.h"
#include "weft/encoding.h"
#include "weft/utf8.h"

volatile sig_atomic_t pc_stop;

/* ---- text helpers ------------------------------------------------------------ */

int
pc_url_encode(const char *s, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    if (o >= cap)
        return -1;
    out[o] = 0;
    return 0;
}

void
pc_printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        if (p[i] >= 0x20 && p[i] != 0x7f)
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    if (len > max && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

/* ---- flags ------------------------------------------------------------------- */

enum kind { K_STR, K_INT, K_DUR, K_FLOAT, K_BOOL };

/* Indexes into flags[] below, in the same order. */
enum {
    F_MODE,
    F_TOPIC,
    F_MSG,
    F_COUNT,
    F_SLEEP,
    F_DELAY,
    F_THRESHOLD,
    F_SUBSCRIBE_ONLY,
    F_CLIENT_ID,
    F_REST,
    F_PROXY,
    F_GRPC,
    F_WS,
    F_TOKEN,
    F_VERSION
};

#define M_ALL (PC_PUBLISH | PC_SUBSCRIBE | PC_GUIDE)

static const struct flag {
    const char *name;
    enum kind kind;
    int modes;
    const char *arg, *help;
} flags[] = {
    {"mode", K_STR, M_ALL, "mode",
     "subscribe | publish; without it, the guides' proxy_client: subscribe over\n"
     "        REST, receive over the gRPC stream (-proxy), publish -count messages"},
    {"topic", K_STR, M_ALL, "topic", "topic to subscribe or publish to (default \"demo\")"},
    {"msg", K_STR, PC_PUBLISH, "text", "message to publish (required for -mode publish)"},
    {"count", K_INT, M_ALL, "n",
     "messages to publish (default 5; -mode publish: 1); -mode subscribe: exit\n"
     "        after n messages (default: run until interrupted)"},
    {"sleep", K_DUR, PC_PUBLISH, "duration", "-mode publish: pause between publishes (100ms)"},
    {"delay", K_DUR, PC_PUBLISH | PC_GUIDE, "duration",
     "pause between publishes (default 2s; -mode publish: as -sleep)"},
    {"threshold", K_FLOAT, PC_SUBSCRIBE | PC_GUIDE, "t",
     "share of the proxy's nodes that must deliver a message before it is\n"
     "        passed on, 0.1..1 (default 0.1; -mode subscribe: the proxy's\n"
     "        SUBSCRIBER_THRESHOLD)"},
    {"subscribeOnly", K_BOOL, PC_GUIDE, NULL, "only subscribe and receive, publish nothing"},
    {"client-id", K_STR, M_ALL, "id",
     "client id (default: the token's subject, else a random one)"},
    {"rest", K_STR, M_ALL, "url",
     "proxy REST base URL, http://host:port or host:port (default\n"
     "        \"http://" PC_DEFAULT_REST "\")"},
    {"proxy", K_STR, M_ALL, "host:port",
     "proxy gRPC address (default \"" PC_DEFAULT_GRPC "\"); with -mode it also\n"
     "        selects gRPC, as -grpc"},
    {"grpc", K_STR, PC_PUBLISH | PC_SUBSCRIBE, "host:port",
     "-mode: use gRPC at this address: subscribe receives over\n"
     "        ProxyStream.ClientStream, publish uses ProxyStream.Publish"},
    {"ws", K_BOOL, PC_SUBSCRIBE, NULL, "receive over the WebSocket (the -mode subscribe default)"},
    {"token", K_STR, M_ALL, "jwt", "Bearer token (default: $WEFT_TOKEN)"},
    {"version", K_BOOL, M_ALL, NULL, "print the version and the commit it was built from"},
};
#define N_FLAGS (sizeof flags / sizeof flags[0])
_Static_assert(N_FLAGS == F_VERSION + 1, "flags[] and the F_* indexes disagree");

static void
usage(FILE *f)
{
    fprintf(
        f,
        "Usage: weft-proxy-client [-mode MODE] [-topic TOPIC] [flags]\n\n"
        "Client of a weft proxy (the OptimumP2P guides' proxy_client).\n\n"
        "  weft-proxy-client [-subscribeOnly] [-topic T] [-threshold t] [-count n] [-delay d]\n"
        "                    [-proxy host:port] [-rest http://host:port]\n"
        "  weft-proxy-client -mode subscribe -topic T [-threshold t] [-rest host:port]\n"
        "                    [-grpc host:port | -ws] [-count n] [-client-id id] [-token jwt]\n"
        "  weft-proxy-client -mode publish -topic T -msg TEXT [-count n] [-sleep d]\n"
        "                    [-rest host:port | -grpc host:port] [-client-id id] [-token jwt]\n\n"
        "Flags take one or two dashes, and their value as the next argument or after '=':\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        char head[48];
        snprintf(head, sizeof head, "-%s%s%s", flags[i].name, flags[i].arg ? " " : "",
                 flags[i].arg ? flags[i].arg : "");
        fprintf(f, "  %s\n        %s\n", head, flags[i].help);
    }
    fprintf(f,
            "  -h, -help\n        print this help\n\n"
            "Exit status: 0 done or interrupted, 1 connection or server failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft-proxy-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'weft-proxy-client -h' for usage.\n", stderr);
    return 2;
}

/* The "sub" claim of a JWT (not verified: the proxy does that), or NULL. */
static char *
token_subject(const char *tok)
{
    const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || b - a - 1 <= 0 || b - a - 1 > 16384)
        return NULL;
    size_t n = (size_t)(b - a - 1), pn = (n + 3) / 4 * 4;
    char *s = malloc(pn + 1);
    uint8_t *raw = malloc(pn);
    char *sub = NULL;
    if (!s || !raw)
        goto out;
    for (size_t i = 0; i < pn; i++)
        s[i] = i >= n ? '=' : a[1 + i] == '-' ? '+' : a[1 + i] == '_' ? '/' : a[1 + i];
    int rl = weft_base64_decode(s, pn, raw, pn);
    cJSON *o = rl > 0 ? cJSON_ParseWithLength((const char *)raw, (size_t)rl) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "sub");
    if (cJSON_IsString(v) && v->valuestring[0])
        sub = strdup(v->valuestring);
    cJSON_Delete(o);
out:
    free(s);
    free(raw);
    return sub;
}

static char id_buf[64], rest_buf[300];
static char default_topic[] = "demo";

/* -rest takes the guides' URL form (http://host:port, a trailing '/' allowed)
 * or plain host:port; the REST client speaks plaintext HTTP only. */
static int
rest_address(const char *v, const char **out)
{
    const char *p = v;
    if (!strncasecmp(p, "https://", 8))
        return usage_error("-rest %s: https is not supported (plaintext http:// only)", v);
    if (!strncasecmp(p, "http://", 7))
        p += 7;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    if (!n || n >= sizeof rest_buf || memchr(p, '/', n))
        return usage_error("-rest %s: expected http://host:port (no path)", v);
    memcpy(rest_buf, p, n);
    rest_buf[n] = 0;
    *out = rest_buf;
    return -1;
}

/* Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, pc_opts *o)
{
    const char *mode = NULL, *grpc_addr = NULL, *proxy_addr = NULL;
    int given[N_FLAGS] = {0}, ws = 0, version = 0;
    int64_t sleep_ns = 100 * 1000000LL, delay_ns = 2000 * 1000000LL;
    memset(o, 0, sizeof *o);
    o->proxy = PC_DEFAULT_REST;
    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (a[0] != '-' || a[1] == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        char *name = a + 1 + (a[1] == '-');
        if (!name[0] || name[0] == '-' || name[0] == '=')
            return usage_error("bad flag syntax: %s", a);
        char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if ((nl == 1 && name[0] == 'h') || (nl == 4 && !strncmp(name, "help", 4))) {
            usage(stdout);
            return 0;
        }
        size_t k;
        for (k = 0; k < N_FLAGS; k++)
            if (strlen(flags[k].name) == nl && !strncmp(flags[k].name, name, nl))
                break;
        if (k == N_FLAGS)
            return usage_error("flag provided but not defined: -%.*s", (int)nl, name);
        const struct flag *d = &flags[k];
        char *v = eq ? eq + 1 : d->kind == K_BOOL ? "true" : i + 1 < argc ? argv[++i] : NULL;
        if (!v)
            return usage_error("flag needs an argument: -%s", d->name);
        char *end;
        errno = 0;
        if (d->kind == K_INT) {
            o->count = strtoll(v, &end, 10);
            if (!*v || *end || errno)
                return usage_error("invalid value \"%s\" for flag -%s: not an integer", v, d->name);
        } else if (d->kind == K_FLOAT) {
            o->threshold = strtod(v, &end);
            o->threshold_set = 1;
            if (!*v || *end || errno)
                return usage_error("invalid value \"%s\" for flag -%s: not a number", v, d->name);
        } else if (d->kind == K_DUR) {
            if (go_parse_duration(v, k == F_DELAY ? &delay_ns : &sleep_ns) < 0)
                return usage_error("invalid value \"%s\" for flag -%s: not a duration (e.g. "
                                   "100ms, 1.5s)",
                                   v, d->name);
        } else if (d->kind == K_BOOL) {
            int b;
            if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "t"))
                b = 1;
            else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "f"))
                b = 0;
            else
                return usage_error("invalid value \"%s\" for flag -%s: not a boolean", v, d->name);
            if (k == F_WS)
                ws = b;
            else if (k == F_SUBSCRIBE_ONLY)
                o->subscribe_only = b;
            else
                version = b;
        } else if (k == F_MODE) {
            mode = v;
        } else if (k == F_TOPIC) {
            o->topic = v;
        } else if (k == F_MSG) {
            o->msg = v;
        } else if (k == F_CLIENT_ID) {
            o->client_id = v;
        } else if (k == F_REST) {
            int rc = rest_address(v, &o->proxy);
            if (rc >= 0)
                return rc;
        } else if (k == F_PROXY) {
            proxy_addr = v;
        } else if (k == F_GRPC) {
            grpc_addr = v;
        } else if (k == F_TOKEN) {
            o->token = v;
        }
        given[k] = 1;
    }
    if (version) {
        printf("weft-proxy-client %s (commit %s, %s)\n", WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE);
        return 0;
    }
    if (i < argc)
        return usage_error("unexpected argument \"%s\" (flags come first; quote values with "
                           "spaces)",
                           argv[i]);
    if (!mode)
        o->mode = PC_GUIDE;
    else if (!strcmp(mode, "subscribe"))
        o->mode = PC_SUBSCRIBE;
    else if (!strcmp(mode, "publish"))
        o->mode = PC_PUBLISH;
    else
        return usage_error("invalid -mode \"%s\": want subscribe or publish", mode);
    for (size_t k = 0; k < N_FLAGS; k++)
        if (given[k] && !(flags[k].modes & o->mode))
            return usage_error("flag -%s does not apply %s%s", flags[k].name,
                               mode ? "to -mode " : "without -mode", mode ? mode : "");
    if (!o->topic && o->mode == PC_GUIDE)
        o->topic = default_topic;
    if (!o->topic || !o->topic[0])
        return usage_error("missing -topic");
    if (o->mode == PC_PUBLISH && !o->msg)
        return usage_error("-mode publish needs -msg");
    if (!given[F_COUNT])
        o->count = o->mode == PC_GUIDE ? 5 : o->mode == PC_PUBLISH ? 1 : 0;
    if (o->mode == PC_PUBLISH && o->count < 1)
        return usage_error("-count must be at least 1 to publish");
    if (o->count < 0 || o->count > 1000000000)
        return usage_error("-count must be between 0 and 1000000000");
    o->sleep_ns = o->mode == PC_GUIDE || given[F_DELAY] ? delay_ns : sleep_ns;
    if (o->sleep_ns < 0)
        return usage_error("-%s must not be negative", given[F_DELAY] ? "delay" : "sleep");
    if (o->mode == PC_GUIDE && !o->threshold_set) {
        o->threshold = 0.1; /* the guides' default, sent as they send it */
        o->threshold_set = 1;
    }
    if (o->threshold_set && !(o->threshold >= 0.1 && o->threshold <= 1.0))
        return usage_error("-threshold must be between 0.1 and 1");
    if (grpc_addr && proxy_addr && strcmp(grpc_addr, proxy_addr))
        return usage_error("-proxy and -grpc name different gRPC addresses");
    o->grpc = grpc_addr ? grpc_addr : proxy_addr;
    if (o->mode == PC_GUIDE && !o->grpc)
        o->grpc = PC_DEFAULT_GRPC;
    if (ws && o->grpc)
        return usage_error("-ws and -grpc exclude each other: deliveries come over one of them");
    char h[256], pt[8], e[160];
    if (weft_httpc_split_hostport(o->proxy, h, sizeof h, pt, sizeof pt, e, sizeof e) < 0)
        return usage_error("-rest %s", e);
    if (o->grpc && weft_httpc_split_hostport(o->grpc, h, sizeof h, pt, sizeof pt, e, sizeof e) < 0)
        return usage_error("-%s %s", grpc_addr ? "grpc" : "proxy", e);
    if (o->mode == PC_PUBLISH && o->grpc && given[F_REST])
        return usage_error("-mode publish takes -rest (REST) or -grpc, not both");
    if (!given[F_TOKEN]) {
        const char *env = getenv("WEFT_TOKEN");
        o->token = env && env[0] ? env : NULL;
    }
    if (o->token && !o->token[0])
        o->token = NULL;
    if (o->client_id && !o->client_id[0])
        return usage_error("-client-id is empty");
    if (!o->client_id && o->token) {
        char *sub = token_subject(o->token);
        if (sub && strlen(sub) < sizeof id_buf) {
            memcpy(id_buf, sub, strlen(sub) + 1);
            o->client_id = id_buf;
        }
        free(sub);
    }
    if (!o->client_id) {
        uint8_t r[6] = {0};
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return usage_error("no random bytes for a client id: pass -client-id");
        snprintf(id_buf, sizeof id_buf, "weft-proxy-client-%02x%02x%02x%02x%02x%02x", r[0], r[1],
                 r[2], r[3], r[4], r[5]);
        o->client_id = id_buf;
    }
    return -1;
}

/* ---- signals and main -------------------------------------------------------- */

/* The first signal winds everything down; a second one kills at once. */
static void
on_signal(int sig)
{
    if (pc_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    pc_stop = 1;
}

int
main(int argc, char **argv)
{
    pc_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: blocked waits notice at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    rc = o.mode == PC_PUBLISH     ? pc_publish_main(&o)
         : o.mode == PC_SUBSCRIBE ? pc_subscribe_main(&o)
                                  : pc_guide_main(&o);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "weft-proxy-client: cannot write to stdout\n");
        return 1;
    }
    return rc;
}
