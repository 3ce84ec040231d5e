/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-p2p: the libp2p transport from the command line.
 *
 *   weft-p2p keygen --out DIR            write DIR/p2p.key, print the peer id
 *   weft-p2p id DIR                      print the peer id of DIR/p2p.key
 *   weft-p2p listen --listen MA [--key DIR] [--timeout S]
 *                                        serve identify and ping; print our multiaddr
 *   weft-p2p ping MA [--count N] [--key DIR]
 *   weft-p2p identify MA [--key DIR]     print the remote's identify as JSON
 *   weft-p2p pubsub --mode M --topic T ... a topic mesh node (mesh/cli/weft_p2p_pubsub.c)
 *   weft-p2p dht find-peer|get|put|provide|find-providers|serve ...
 *                                        the Kademlia DHT (weft_p2p_dht.c)
 *
 * Exit status: 0 success, 1 the remote failed (unreachable, refused, bad
 * identity, timeout), 2 bad usage or input. WEFT_TRANSPORT=epoll selects the
 * epoll loop instead of io_uring.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "weft/commit.h"
#include "weft/host.h"
#include "weft/log.h"
#include "weft_p2p_dht.h"    /* the dht command */
#include "weft_p2p_pubsub.h" /* the pubsub command */

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.0.0"
#endif

#define SEC 1000000000LL

static weft_loop *g_loop;

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("weft-p2p: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see weft-p2p --help)\n", stderr);
    exit(2);
}

static const char help[] =
    "usage: weft-p2p COMMAND [OPTIONS]\n"
    "libp2p over TCP (Noise XX, yamux, identify, ping).\n\n"
    "  keygen --out DIR                  write DIR/p2p.key (mode 0600), print the peer id\n"
    "  id DIR                            print the peer id of DIR/p2p.key\n"
    "  listen --listen MA [--key DIR] [--timeout S]\n"
    "                                    serve identify and ping until SIGINT/SIGTERM\n"
    "                                    (or S seconds); print the full multiaddr with /p2p/\n"
    "  ping MA [--count N] [--key DIR] [--timeout S]\n"
    "                                    ping MA (which may include /p2p/ID) N times (1)\n"
    "  identify MA [--key DIR] [--timeout S]\n"
    "                                    print the remote's identify as one JSON object\n"
    "  pubsub --mode gossipsub|rlnc|optimum --topic T [--listen MA] [--peer MA]...\n"
    "         [--publish N [--size BYTES] [--interval MS]] [--expect N] [--timeout S] ...\n"
    "                                    a topic mesh node printing JSON lines\n"
    "                                    (weft-p2p pubsub --help for every option)\n"
    "  dht find-peer ID | get KEY | put KEY VALUE | provide KEY | find-providers KEY | serve\n"
    "      [--peer MA]... [--listen MA] [--mode client|server] [--key DIR] [--timeout S]\n"
    "                                    the Kademlia DHT (/ipfs/kad/1.0.0), JSON lines\n"
    "                                    (weft-p2p dht --help for keys and values)\n\n"
    "Without --key a fresh identity is used. MA: /ip4/127.0.0.1/tcp/4001[/p2p/12D3KooW...].\n"
    "Environment: WEFT_TRANSPORT=epoll|uring, WEFT_LOG_LEVEL=debug|info|warn|error.\n"
    "Exit: 0 success, 1 remote failure, 2 usage or input error.\n";

static void
on_signal(int sig)
{
    (void)sig;
    if (g_loop)
        weft_loop_stop(g_loop);
}

static void
key_path(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/p2p.key", dir);
}

static void
load_identity(const char *dir, weft_identity *id)
{
    if (!dir) {
        if (weft_identity_generate(id) < 0)
            usage_error("cannot generate a key");
        return;
    }
    char path[4096], detail[256] = "";
    key_path(dir, path, sizeof path);
    int rc = weft_keyfile_load(path, id, detail, sizeof detail);
    if (rc < 0)
        usage_error("%s: %s%s%s", path, weft_strerror(rc), detail[0] ? ": " : "", detail);
}

static weft_loop *
new_loop(void)
{
    int err;
    weft_loop *l = weft_loop_new(NULL, &err);
    if (!l)
        usage_error("event loop: %s", weft_strerror(err));
    return l;
}

static weft_host *
new_host(weft_loop *l, const weft_identity *id)
{
    weft_host_config cfg;
    weft_host_config_default(&cfg);
    cfg.identity = *id;
    int err;
    weft_host *h = weft_host_new(l, &cfg, &err);
    if (!h)
        usage_error("host: %s", weft_strerror(err));
    return h;
}

static void
parse_ma(const char *text, weft_multiaddr *ma)
{
    int rc = weft_ma_parse(text, ma);
    if (rc < 0)
        usage_error("multiaddr '%s': %s", text, weft_strerror(rc));
}

/* Run the loop until *done or the deadline; 1 if done. */
static int
run_until(weft_loop *l, const int *done, int64_t timeout_ns)
{
    int64_t end = weft_loop_now(l) + timeout_ns;
    while (!*done) {
        int64_t left = end - weft_loop_now(l);
        if (left <= 0)
            return 0;
        int rc = weft_loop_run_once(l, left);
        if (rc < 0 && rc != -EINTR)
            return 0;
    }
    return 1;
}

/* ---- keygen / id ---------------------------------------------------------------- */

static void
print_peer_id(const weft_identity *id)
{
    weft_peer_id pid;
    weft_peer_id_from_pubkey(id->pk, &pid);
    char text[WEFT_PEER_ID_TEXT];
    weft_peer_id_to_text(&pid, text, sizeof text);
    printf("%s\n", text);
}

static int
cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o')
            dir = optarg;
        else if (c == 'h') {
            puts("usage: weft-p2p keygen --out DIR\nWrite DIR/p2p.key and print the peer id.");
            return 0;
        } else
            return 2;
    }
    if (!dir)
        usage_error("keygen: --out DIR is required");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        usage_error("%s: %s", dir, strerror(errno));
    weft_identity id;
    if (weft_identity_generate(&id) < 0)
        usage_error("cannot generate a key");
    char path[4096];
    key_path(dir, path, sizeof path);
    int rc = weft_keyfile_save(path, &id);
    if (rc < 0)
        usage_error("%s: %s", path, weft_strerror(rc));
    print_peer_id(&id);
    weft_identity_wipe(&id);
    return 0;
}

static int
cmd_id(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        puts("usage: weft-p2p id DIR\nPrint the peer id of DIR/p2p.key.");
        return argc == 2 ? 0 : 2;
    }
    weft_identity id;
    load_identity(argv[1], &id);
    print_peer_id(&id);
    weft_identity_wipe(&id);
    return 0;
}

/* ---- listen ---------------------------------------------------------------------- */

static void
listen_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h, (void)user;
    char id[WEFT_PEER_ID_TEXT], addr[WEFT_MA_TEXT_MAX];
    weft_peer_id_to_text(weft_peer_get_id(p), id, sizeof id);
    weft_ma_to_text(weft_peer_addr(p), addr, sizeof addr);
    printf("{\"event\":\"%s\",\"peer\":\"%s\",\"addr\":\"%s\"}\n",
           up ? "connected" : "disconnected", id, addr);
    fflush(stdout);
}

static int
cmd_listen(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, 0, 'l'},
                                         {"key", required_argument, 0, 'k'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *listen = NULL, *keydir = NULL;
    long timeout = 0;
    int c;
    while ((c = getopt_long(argc, argv, "l:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'k': keydir = optarg; break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2;
        }
    }
    if (!listen)
        usage_error("listen: --listen MA is required");
    if (timeout < 0)
        usage_error("--timeout %ld: expected seconds >= 0", timeout);
    weft_identity id;
    load_identity(keydir, &id);
    weft_multiaddr ma, bound;
    parse_ma(listen, &ma);
    weft_loop *l = g_loop = new_loop();
    weft_host_config cfg;
    weft_host_config_default(&cfg);
    cfg.identity = id;
    cfg.on_peer = listen_peer;
    int err;
    weft_host *h = weft_host_new(l, &cfg, &err);
    if (!h)
        usage_error("host: %s", weft_strerror(err));
    int rc = weft_host_listen(h, &ma, &bound);
    if (rc < 0) {
        fprintf(stderr, "weft-p2p: listen on %s: %s\n", listen, weft_strerror(rc));
        return 1;
    }
    char text[WEFT_MA_TEXT_MAX];
    weft_ma_to_text(&bound, text, sizeof text);
    printf("%s\n", text);
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (timeout) {
        int never = 0;
        run_until(l, &never, timeout * SEC);
    } else {
        weft_loop_run(l);
    }
    weft_host_free(h);
    weft_loop_free(l);
    weft_identity_wipe(&id);
    return 0;
}

/* ---- dialing commands ----------------------------------------------------------------- */

struct dial_state {
    weft_peer *peer;
    int status, done;
};

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h;
    struct dial_state *d = user;
    d->peer = p;
    d->status = status;
    d->done = 1;
}

/* Common set-up of ping and identify: returns the connected peer or exits. */
static weft_peer *
connect_to(const char *ma_text, const char *keydir, long timeout, weft_loop **lp, weft_host **hp)
{
    weft_identity id;
    load_identity(keydir, &id);
    weft_multiaddr ma;
    parse_ma(ma_text, &ma);
    weft_loop *l = g_loop = new_loop();
    weft_host *h = new_host(l, &id);
    weft_identity_wipe(&id);
    static struct dial_state d;
    int rc = weft_host_dial(h, &ma, dialed, &d);
    if (rc == WEFT_ERESOLVE) { /* the remote's name, not our input: exit 1 */
        fprintf(stderr, "weft-p2p: %s: %s\n", ma_text, weft_strerror(rc));
        exit(1);
    }
    if (rc < 0)
        usage_error("dial %s: %s", ma_text, weft_strerror(rc));
    if (!run_until(l, &d.done, timeout * SEC) || d.status < 0) {
        fprintf(stderr, "weft-p2p: %s: %s\n", ma_text,
                d.done ? weft_strerror(d.status) : "timed out");
        exit(1);
    }
    *lp = l;
    *hp = h;
    return d.peer;
}

struct ping_state {
    int64_t rtt;
    int done;
};

static void
pinged(weft_peer *p, int64_t rtt, void *user)
{
    (void)p;
    struct ping_state *ps = user;
    ps->rtt = rtt;
    ps->done = 1;
}

static int
cmd_ping(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, 0, 'c'},
                                         {"key", required_argument, 0, 'k'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *keydir = NULL;
    long count = 1, timeout = 10;
    int c;
    while ((c = getopt_long(argc, argv, "c:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': count = strtol(optarg, NULL, 10); break;
        case 'k': keydir = optarg; break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1)
        usage_error("ping: one multiaddr expected");
    if (count < 1 || count > 1000000)
        usage_error("--count %ld: expected 1..1000000", count);
    if (timeout < 1 || timeout > 3600)
        usage_error("--timeout %ld: expected 1..3600 seconds", timeout);
    weft_loop *l;
    weft_host *h;
    weft_peer *p = connect_to(argv[optind], keydir, timeout, &l, &h);
    char id[WEFT_PEER_ID_TEXT];
    weft_peer_id_to_text(weft_peer_get_id(p), id, sizeof id);
    int failures = 0;
    for (long i = 0; i < count; i++) {
        struct ping_state ps = {0};
        int rc = weft_peer_ping(p, pinged, &ps);
        if (rc < 0 || !run_until(l, &ps.done, timeout * SEC) || ps.rtt < 0) {
            fprintf(stderr, "weft-p2p: ping %s: %s\n", id,
                    rc < 0    ? weft_strerror(rc)
                    : ps.done ? weft_strerror((int)ps.rtt)
                              : "timed out");
            failures++;
            break;
        }
        printf("ping %s: seq=%ld rtt=%.3f ms\n", id, i + 1, (double)ps.rtt / 1e6);
        fflush(stdout);
    }
    weft_host_free(h);
    weft_loop_free(l);
    return failures ? 1 : 0;
}

static void
json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

struct id_state {
    int done;
};

static void
got_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)h, (void)p;
    (void)user;
    char text[WEFT_MA_TEXT_MAX];
    printf("{\"peer\":");
    char pid[WEFT_PEER_ID_TEXT];
    weft_peer_id_to_text(weft_peer_get_id(p), pid, sizeof pid);
    json_string(pid);
    printf(",\"protocolVersion\":");
    json_string(id->protocol_version);
    printf(",\"agentVersion\":");
    json_string(id->agent_version);
    printf(",\"protocols\":[");
    for (size_t i = 0; i < id->nprotocols; i++) {
        if (i)
            putchar(',');
        json_string(id->protocols[i]);
    }
    printf("],\"listenAddrs\":[");
    for (size_t i = 0; i < id->nlisten; i++) {
        if (i)
            putchar(',');
        weft_ma_to_text(&id->listen[i], text, sizeof text);
        json_string(text);
    }
    printf("]");
    if (id->has_observed) {
        weft_ma_to_text(&id->observed, text, sizeof text);
        printf(",\"observedAddr\":");
        json_string(text);
    }
    printf("}\n");
    fflush(stdout);
    struct id_state *st = weft_peer_user(p);
    if (st)
        st->done = 1;
}

static int
cmd_identify(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *keydir = NULL;
    long timeout = 10;
    int c;
    while ((c = getopt_long(argc, argv, "k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keydir = optarg; break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1)
        usage_error("identify: one multiaddr expected");
    if (timeout < 1 || timeout > 3600)
        usage_error("--timeout %ld: expected 1..3600 seconds", timeout);
    weft_identity id;
    load_identity(keydir, &id);
    weft_multiaddr ma;
    parse_ma(argv[optind], &ma);
    weft_loop *l = g_loop = new_loop();
    weft_host_config cfg;
    weft_host_config_default(&cfg);
    cfg.identity = id;
    cfg.on_identify = got_identify;
    int err;
    weft_host *h = weft_host_new(l, &cfg, &err);
    if (!h)
        usage_error("host: %s", weft_strerror(err));
    struct dial_state d = {0};
    struct id_state st = {0};
    int rc = weft_host_dial(h, &ma, dialed, &d);
    if (rc == WEFT_ERESOLVE) {
        fprintf(stderr, "weft-p2p: %s: %s\n", argv[optind], weft_strerror(rc));
        return 1;
    }
    if (rc < 0)
        usage_error("dial %s: %s", argv[optind], weft_strerror(rc));
    if (!run_until(l, &d.done, timeout * SEC) || d.status < 0) {
        fprintf(stderr, "weft-p2p: %s: %s\n", argv[optind],
                d.done ? weft_strerror(d.status) : "timed out");
        return 1;
    }
    weft_peer_set_user(d.peer, &st);
    if (weft_peer_identify(d.peer)) /* arrived during the dial */
        got_identify(h, d.peer, weft_peer_identify(d.peer), NULL);
    if (!run_until(l, &st.done, timeout * SEC)) {
        fprintf(stderr, "weft-p2p: %s: no identify within %ld s\n", argv[optind], timeout);
        return 1;
    }
    weft_host_free(h);
    weft_loop_free(l);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(help, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("weft-p2p %s (commit %s, %s)\n", WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE);
        return 0;
    }
    argv++;
    argc--;
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc, argv);
    if (!strcmp(cmd, "id"))
        return cmd_id(argc, argv);
    if (!strcmp(cmd, "listen"))
        return cmd_listen(argc, argv);
    if (!strcmp(cmd, "ping"))
        return cmd_ping(argc, argv);
    if (!strcmp(cmd, "identify"))
        return cmd_identify(argc, argv);
    if (!strcmp(cmd, "pubsub"))
        return weft_p2p_pubsub(argc, argv);
    if (!strcmp(cmd, "dht"))
        return weft_p2p_dht(argc, argv);
    usage_error("unknown command '%s'", cmd);
}
