/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-p2p dht: one Kademlia node (weft/kad.h) from the command line.
 *
 * It listens (when --listen is given), dials every --peer, waits for their
 * identify (DHT servers enter the routing table), then runs the
 * subcommand and prints one JSON object per line on stdout:
 *   {"event":"listening","addr":...}        when listening
 *   {"event":"bootstrap","table":N}         once the bootstrap peers answered
 *   {"event":"find-peer"|"get"|"put"|"provide"|"find-providers", ...}
 *                                            the result, then exit
 *   {"event":"stats",...}                   serve: every --stats seconds
 * Exit: 0 done (found), 1 not found, timeout or no peers, 2 usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/clock.h"
#include "weft/encoding.h"
#include "weft/json.h"
#include "weft/kad.h"
#include "weft/log.h"
#include "weft/utf8.h"
#include "weft_p2p_dht.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_PEERS 32

static const char help[] =
    "usage: weft-p2p dht SUBCOMMAND [ARGS] [OPTIONS]\n"
    "The Kademlia DHT (/ipfs/kad/1.0.0), printing JSON lines on stdout.\n\n"
    "  find-peer ID            the addresses of peer ID\n"
    "  get KEY                 the best valid record of KEY\n"
    "  put KEY VALUE           store a record on the 20 closest peers\n"
    "  provide KEY             announce us as a provider of KEY\n"
    "  find-providers KEY      the providers of KEY\n"
    "  serve                   a DHT node until SIGINT/SIGTERM or --timeout\n\n"
    "Keys: /pk/<peer id> (VALUE 'self' = our public key, else hex), /weft/<peer id>/<name>\n"
    "(our own peer id, or 'self'; VALUE is the data, signed with our key, seq = --seq or\n"
    "the time in ms). Other keys are raw text (and refused by validating peers).\n\n"
    "  --peer MA         bootstrap peer (repeatable)\n"
    "  --listen MA       listen address (serve: default /ip4/127.0.0.1/tcp/0)\n"
    "  --key DIR         identity DIR/p2p.key (default: a fresh one)\n"
    "  --mode M          client or server (default: server for serve, client otherwise)\n"
    "  --timeout S       give up after S seconds (default 30; serve: 0 = run until signalled)\n"
    "  --seq N           the seq of a /weft/ record\n"
    "  --stats S         serve: print a stats line every S seconds (default 0 = never)\n";

static volatile sig_atomic_t g_stop;
static weft_loop *g_loop;
static weft_kad_host *g_kh;

static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_loop)
        weft_loop_stop(g_loop);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage(const char *fmt, ...)
{
    va_list ap;
    fputs("weft-p2p dht: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see weft-p2p dht --help)\n", stderr);
    exit(2);
}

static void
jstr(const char *s, size_t n)
{
    char *out = malloc(n * 6 + 1);
    if (!out)
        exit(1);
    size_t l = weft_json_escape(s, n, out);
    printf("\"%.*s\"", (int)l, out);
    free(out);
}

static void
jtext(const char *s)
{
    jstr(s, strlen(s));
}

static void
print_peer(const weft_kad_peer *p)
{
    char text[WEFT_MA_TEXT_MAX];
    weft_peer_id_to_text(&p->id, text, sizeof text);
    printf("{\"peer\":");
    jtext(text);
    printf(",\"addrs\":[");
    for (size_t i = 0; i < p->naddrs; i++) {
        weft_ma_to_text(&p->addrs[i], text, sizeof text);
        printf(i ? "," : "");
        jtext(text);
    }
    printf("]}");
}

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h, (void)user;
    if (g_kh)
        weft_kad_host_on_peer(g_kh, p, up);
}

static int g_identified;

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)h, (void)user;
    g_identified++;
    if (g_kh)
        weft_kad_host_on_identify(g_kh, p, id);
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p;
    int *pending = user;
    (*pending)--;
    if (status < 0)
        weft_log(WEFT_LOG_WARN, "dht", "msg=\"bootstrap dial failed\" err=\"%s\"",
                 weft_strerror(status));
}

typedef struct result {
    int done, status, found;
    weft_kad_result *r;
    uint8_t *value;
} result;

static void
on_done(weft_kad *kad, const weft_kad_result *r, void *user)
{
    (void)kad;
    result *res = user;
    res->done = 1;
    res->status = r->status;
    res->found = r->found;
    *res->r = *r;
    if (r->value) {
        res->value = malloc(r->value_len ? r->value_len : 1);
        if (res->value)
            memcpy(res->value, r->value, r->value_len);
        res->r->value = res->value;
    }
}

static int
run_until(const int *flag, int64_t deadline)
{
    while (!*flag && !g_stop) {
        int64_t left = deadline - weft_loop_now(g_loop);
        if (left <= 0)
            return 0;
        int rc = weft_loop_run_once(g_loop, left < 100 * MS ? left : 100 * MS);
        if (rc < 0 && rc != -EINTR)
            return 0;
    }
    return *flag;
}

static void
print_common(const char *event, const char *key, const weft_kad_result *r)
{
    printf("{\"event\":\"%s\"", event);
    if (key) {
        printf(",\"key\":");
        jtext(key);
    }
    printf(",\"ok\":%s,\"status\":", r->status == 0 ? "true" : "false");
    jtext(r->status == 0 ? "ok" : weft_strerror(r->status));
    printf(",\"hops\":%u,\"queries\":%u,\"ms\":%.1f", r->hops, r->queries,
           (double)r->elapsed_ns / 1e6);
}

/* Replace "/weft/self/" by our peer id. */
static void
expand_key(const char *in, const weft_peer_id *self, char *out, size_t cap)
{
    if (!strncmp(in, "/weft/self/", 11)) {
        char id[WEFT_PEER_ID_TEXT];
        weft_peer_id_to_text(self, id, sizeof id);
        snprintf(out, cap, "/weft/%s/%s", id, in + 11);
    } else if (!strcmp(in, "/pk/self")) {
        char id[WEFT_PEER_ID_TEXT];
        weft_peer_id_to_text(self, id, sizeof id);
        snprintf(out, cap, "/pk/%s", id);
    } else {
        snprintf(out, cap, "%s", in);
    }
}

int
weft_p2p_dht(int argc, char **argv)
{
    static const struct option opts[] = {{"peer", required_argument, 0, 'p'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"key", required_argument, 0, 'k'},
                                         {"mode", required_argument, 0, 'm'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"seq", required_argument, 0, 's'},
                                         {"stats", required_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *peers[MAX_PEERS], *listen = NULL, *keydir = NULL, *mode = NULL;
    size_t npeers = 0;
    long timeout = -1, stats_s = 0;
    unsigned long long seq = 0;
    int has_seq = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:l:k:m:t:s:S:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'p':
            if (npeers >= MAX_PEERS)
                usage("--peer: at most %d", MAX_PEERS);
            peers[npeers++] = optarg;
            break;
        case 'l': listen = optarg; break;
        case 'k': keydir = optarg; break;
        case 'm': mode = optarg; break;
        case 't':
            timeout = strtol(optarg, &end, 10);
            if (*end || timeout < 0 || timeout > 86400)
                usage("--timeout '%s': expected 0..86400 seconds", optarg);
            break;
        case 's':
            seq = strtoull(optarg, &end, 10);
            if (*end || !*optarg)
                usage("--seq '%s': expected an unsigned integer", optarg);
            has_seq = 1;
            break;
        case 'S':
            stats_s = strtol(optarg, &end, 10);
            if (*end || stats_s < 0 || stats_s > 3600)
                usage("--stats '%s': expected 0..3600 seconds", optarg);
            break;
        case 'h': fputs(help, stdout); return 0;
        default: usage("bad option");
        }
    }
    if (optind >= argc)
        usage("a subcommand is required");
    const char *sub = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    int want_args = !strcmp(sub, "serve") ? 0
                    : !strcmp(sub, "put") ? 2
                    : !strcmp(sub, "find-peer") || !strcmp(sub, "get") || !strcmp(sub, "provide") ||
                            !strcmp(sub, "find-providers")
                        ? 1
                        : -1;
    if (want_args < 0)
        usage("unknown subcommand '%s'", sub);
    if (nargs != want_args)
        usage("%s: %d argument%s expected, %d given", sub, want_args, want_args == 1 ? "" : "s",
              nargs);
    int serve = !strcmp(sub, "serve");
    int server = serve;
    if (mode) {
        if (strcmp(mode, "client") && strcmp(mode, "server"))
            usage("--mode '%s': expected client or server", mode);
        server = !strcmp(mode, "server");
    }
    if (timeout < 0)
        timeout = serve ? 0 : 30;
    if (!serve && !npeers)
        usage("%s: at least one --peer is required", sub);

    weft_identity id;
    if (keydir) {
        char path[4096], detail[256] = "";
        snprintf(path, sizeof path, "%s/p2p.key", keydir);
        int rc = weft_keyfile_load(path, &id, detail, sizeof detail);
        if (rc < 0)
            usage("%s: %s%s%s", path, weft_strerror(rc), detail[0] ? ": " : "", detail);
    } else if (weft_identity_generate(&id) < 0) {
        usage("cannot generate a key");
    }
    int err = 0;
    g_loop = weft_loop_new(NULL, &err);
    if (!g_loop)
        usage("event loop: %s", weft_strerror(err));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    weft_host_config hc;
    weft_host_config_default(&hc);
    hc.identity = id;
    hc.on_peer = on_peer;
    hc.on_identify = on_identify;
    weft_host *h = weft_host_new(g_loop, &hc, &err);
    if (!h)
        usage("host: %s", weft_strerror(err));
    const weft_peer_id *self = weft_host_peer_id(h);
    weft_kad_config kc;
    weft_kad_config_default(&kc);
    kc.server = server;
    g_kh = weft_kad_host_new(h, &kc, 0, 0, &err);
    if (!g_kh)
        usage("kad: %s", weft_strerror(err));
    weft_kad *kad = weft_kad_host_engine(g_kh);
    if (listen || serve) {
        weft_multiaddr ma, bound;
        int rc = weft_ma_parse(listen ? listen : "/ip4/127.0.0.1/tcp/0", &ma);
        if (rc < 0)
            usage("--listen '%s': %s", listen, weft_strerror(rc));
        rc = weft_host_listen(h, &ma, &bound);
        if (rc < 0) {
            fprintf(stderr, "weft-p2p dht: listen %s: %s\n", listen, weft_strerror(rc));
            return 1;
        }
        char text[WEFT_MA_TEXT_MAX];
        weft_ma_to_text(&bound, text, sizeof text);
        printf("{\"event\":\"listening\",\"addr\":");
        jtext(text);
        printf(",\"mode\":\"%s\"}\n", server ? "server" : "client");
        fflush(stdout);
    }
    int64_t start = weft_loop_now(g_loop);
    int64_t deadline = timeout ? start + timeout * SEC : INT64_MAX;
    int pending = 0;
    for (size_t i = 0; i < npeers; i++) {
        weft_multiaddr ma;
        int rc = weft_ma_parse(peers[i], &ma);
        if (rc < 0)
            usage("--peer '%s': %s", peers[i], weft_strerror(rc));
        if ((rc = weft_host_dial(h, &ma, dialed, &pending)) < 0)
            usage("--peer '%s': %s", peers[i], weft_strerror(rc));
        pending++;
    }
    /* bootstrap: every dial answered and each connected peer identified */
    int boot = 0;
    while (!g_stop && weft_loop_now(g_loop) < deadline) {
        weft_kad_stats st;
        weft_kad_get_stats(kad, &st);
        if (pending == 0 && (st.table_size >= npeers || g_identified >= (int)npeers ||
                             weft_loop_now(g_loop) - start > 5 * SEC)) {
            boot = 1;
            break;
        }
        WEFT_IGNORE(weft_loop_run_once(g_loop, 50 * MS));
    }
    weft_kad_stats st;
    weft_kad_get_stats(kad, &st);
    printf("{\"event\":\"bootstrap\",\"table\":%llu}\n", (unsigned long long)st.table_size);
    fflush(stdout);
    int exit_code = 0;
    char keytext[1024];
    uint8_t key[WEFT_KAD_MAX_KEY + 8];
    int klen = 0;
    if (want_args >= 1 && strcmp(sub, "find-peer")) {
        expand_key(args[0], self, keytext, sizeof keytext);
        klen = weft_kad_key_parse(keytext, key, sizeof key);
        if (klen < 0)
            usage("KEY '%s': %s (expected /pk/<peer id>, /weft/<peer id>/<name> or text of "
                  "1..256 bytes)",
                  keytext, weft_strerror(klen));
    }
    weft_kad_result *r = calloc(1, sizeof *r);
    result res = {.r = r};
    int64_t now = weft_loop_now(g_loop);
    int rc = 0;
    if (serve) {
        int64_t next_stats = stats_s ? now + stats_s * SEC : INT64_MAX;
        while (!g_stop && weft_loop_now(g_loop) < deadline) {
            WEFT_IGNORE(weft_loop_run_once(g_loop, 100 * MS));
            if (weft_loop_now(g_loop) >= next_stats) {
                next_stats += stats_s * SEC;
                weft_kad_get_stats(kad, &st);
                printf("{\"event\":\"stats\",\"table\":%llu,\"records\":%llu,\"providers\":%llu,"
                       "\"requests_in\":%llu,\"lookups\":%llu,\"dropped_malformed\":%llu}\n",
                       (unsigned long long)st.table_size, (unsigned long long)st.records,
                       (unsigned long long)st.providers, (unsigned long long)st.requests_in,
                       (unsigned long long)st.lookups_started,
                       (unsigned long long)st.dropped_malformed);
                fflush(stdout);
            }
        }
    } else if (!boot) {
        fprintf(stderr, "weft-p2p dht: bootstrap timed out\n");
        exit_code = 1;
    } else if (!strcmp(sub, "find-peer")) {
        weft_peer_id target;
        if (weft_peer_id_parse(args[0], &target) < 0)
            usage("ID '%s': not a peer id", args[0]);
        rc = weft_kad_find_peer(kad, &target, now, on_done, &res);
    } else if (!strcmp(sub, "get")) {
        rc = weft_kad_get_value(kad, key, (size_t)klen, now, on_done, &res);
    } else if (!strcmp(sub, "put")) {
        weft_buf v;
        weft_buf_init(&v, NULL, 0, WEFT_KAD_MAX_VALUE);
        const char *val = args[1];
        if (!strncmp(keytext, "/weft/", 6)) {
            uint64_t s = has_seq ? seq : (uint64_t)weft_unix_ms();
            rc = weft_kad_weft_record(&id, key, (size_t)klen, s, (const uint8_t *)val, strlen(val),
                                      &v);
            if (rc < 0)
                usage("put %s: %s (a /weft/ key must name our own peer id)", keytext,
                      weft_strerror(rc));
        } else if (!strncmp(keytext, "/pk/", 4) && !strcmp(val, "self")) {
            uint8_t pub[36];
            weft_pubkey_pb_encode(id.pk, pub);
            rc = weft_buf_append(&v, pub, sizeof pub);
        } else {
            size_t hl = strlen(val);
            if (hl % 2 || hl / 2 > WEFT_KAD_MAX_VALUE)
                usage("VALUE: expected hex of up to %d bytes", WEFT_KAD_MAX_VALUE);
            rc = weft_buf_reserve(&v, hl / 2);
            for (size_t i = 0; rc == 0 && i < hl / 2; i++) {
                int a = weft_hex_digit(val[2 * i]), b = weft_hex_digit(val[2 * i + 1]);
                if (a < 0 || b < 0)
                    usage("VALUE: not hex at offset %zu", 2 * i);
                v.base[v.len++] = (uint8_t)(a * 16 + b);
            }
        }
        const char *why = NULL;
        if (rc == 0 && weft_kad_validate(key, (size_t)klen, v.base, v.len, &why) < 0)
            usage("put %s: the record does not validate: %s", keytext, why ? why : "");
        if (rc == 0)
            rc = weft_kad_put_value(kad, key, (size_t)klen, v.base, v.len, now, on_done, &res);
        weft_buf_free(&v);
    } else if (!strcmp(sub, "provide")) {
        rc = weft_kad_provide(kad, key, (size_t)klen, now, on_done, &res);
    } else {
        rc = weft_kad_find_providers(kad, key, (size_t)klen, now, on_done, &res);
    }
    if (!serve && boot) {
        if (rc < 0) {
            fprintf(stderr, "weft-p2p dht: %s: %s\n", sub, weft_strerror(rc));
            exit_code = 1;
        } else if (!run_until(&res.done, deadline)) {
            fprintf(stderr, "weft-p2p dht: %s: timed out\n", sub);
            exit_code = 1;
        } else {
            if (!strcmp(sub, "find-peer")) {
                print_common(sub, NULL, r);
                printf(",\"id\":");
                jtext(args[0]);
                printf(",\"found\":%s", r->found ? "true" : "false");
                if (r->found) {
                    printf(",\"result\":");
                    print_peer(&r->peer);
                }
                exit_code = r->found ? 0 : 1;
            } else if (!strcmp(sub, "get")) {
                print_common(sub, keytext, r);
                printf(",\"found\":%s", r->found ? "true" : "false");
                if (r->found) {
                    char *hex = malloc(r->value_len * 2 + 1);
                    if (hex) {
                        weft_hex_encode(r->value, r->value_len, hex);
                        printf(",\"value_hex\":\"%s\"", hex);
                        free(hex);
                    }
                    const uint8_t *data;
                    size_t dl;
                    uint64_t s;
                    if (!strncmp(keytext, "/weft/", 6) &&
                        weft_kad_weft_record_data(r->value, r->value_len, &data, &dl, &s) == 0) {
                        printf(",\"seq\":%llu", (unsigned long long)s);
                        if (weft_utf8_valid(data, dl)) {
                            printf(",\"value\":");
                            jstr((const char *)data, dl);
                        }
                    }
                }
                exit_code = r->found ? 0 : 1;
            } else if (!strcmp(sub, "put") || !strcmp(sub, "provide")) {
                print_common(sub, keytext, r);
                printf(",\"stored\":%zu", r->stored);
                exit_code = r->status == 0 && r->stored ? 0 : 1;
            } else {
                print_common(sub, keytext, r);
                printf(",\"found\":%s,\"providers\":[", r->nproviders ? "true" : "false");
                for (size_t i = 0; i < r->nproviders; i++) {
                    printf(i ? "," : "");
                    print_peer(&r->providers[i]);
                }
                printf("]");
                exit_code = r->nproviders ? 0 : 1;
            }
            printf("}\n");
            fflush(stdout);
        }
    }
    weft_kad_host_stop(g_kh);
    weft_host_free(h);
    weft_kad_host_free(g_kh);
    g_kh = NULL;
    weft_loop_free(g_loop);
    g_loop = NULL;
    free(res.value);
    free(r);
    weft_identity_wipe(&id);
    return exit_code;
}
