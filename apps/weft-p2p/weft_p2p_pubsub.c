/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-p2p pubsub: one topic mesh node (weft/ps_host.h) from the command
 * line, for interop and loopback tests.
 *
 * It listens, dials every --peer (retrying with backoff), subscribes to the
 * topic and prints one JSON object per line on stdout: first
 * {"event":"listening",...}, then "ready" when publishing may start,
 * "published" per message sent, "message" per message received (once per
 * id), and "done" before it exits. Publishing waits until a peer has
 * subscribed to the topic and, so that the mesh exists, until a mesh peer
 * is grafted or two heartbeats went by. Messages are random bytes whose
 * first 8 bytes are a big-endian counter, so no two are alike.
 *
 * Exit: 0 once --expect messages arrived and our publishing finished (after
 * --linger ms, so forwarding completes); 1 on timeout; 2 on usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "weft/json.h"
#include "weft/log.h"
#include "weft/ps_host.h"
#include "weft/utf8.h"
#include "weft_p2p_pubsub.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_PEERS 64
#define DIAL_ATTEMPTS 6
#define DIAL_BACKOFF_NS (250 * MS)
#define POLL_NS (50 * MS)
#define MAX_SIZE ((size_t)16 << 20)
#define TOPIC_MAX 256

static const char help[] =
    "usage: weft-p2p pubsub --mode gossipsub|rlnc|optimum --topic T [OPTIONS]\n"
    "A topic mesh node: listen, dial peers, subscribe to T, publish and print messages\n"
    "as JSON lines on stdout (listening, ready, published, message, done).\n\n"
    "  --mode M          gossipsub (whole messages) or rlnc (coded shards; optimum = rlnc)\n"
    "  --topic T         the topic to subscribe and publish to\n"
    "  --listen MA       listen address (default /ip4/127.0.0.1/tcp/0)\n"
    "  --peer MA         dial MA (repeatable; retried with backoff)\n"
    "  --publish N       publish N messages once a peer subscribed to T (and the mesh\n"
    "                    formed: a mesh peer, or two heartbeats)\n"
    "  --size BYTES      message size, 8..16777216 (default 1024): a big-endian counter,\n"
    "                    then random bytes\n"
    "  --interval MS     between publishes (default 100; 0 = one per loop turn)\n"
    "  --delay MS        publish no earlier than MS after start (default 0)\n"
    "  --start-file PATH publish only once PATH exists (a test starts every publisher\n"
    "                    when the whole network is meshed; see the \"meshed\" event)\n"
    "  --expect N        exit 0 once N messages arrived (and publishing finished)\n"
    "  --timeout S       exit 1 after S seconds if not done (default 60; 0 = never)\n"
    "  --linger MS       keep forwarding this long before exiting (default 1000)\n"
    "  --key DIR         identity from DIR/p2p.key (default: a fresh one)\n"
    "  --msgid spec|js|sha256   GossipSub message id function (default spec)\n"
    "  --k K --mult M --threshold T   RLNC: pieces, shards sent per piece, forwarding\n"
    "                    threshold as a fraction of k (defaults below)\n"
    "  --D N             mesh degree (D_lo and D_hi follow)\n"
    "  --queue-cap BYTES outbound bytes queued per peer and protocol before RPCs are\n"
    "                    dropped (default 33554432)\n\n"
    "Without --publish and --expect the node relays until SIGINT/SIGTERM or the timeout\n"
    "and exits 0. A signal exits 0 when nothing was left to wait for, else 1.\n"
    "Environment: WEFT_TRANSPORT=epoll|uring, WEFT_LOG_LEVEL=debug|info|warn|error.\n"
    "Exit: 0 done, 1 timeout or failure, 2 usage error.\n";

static void
print_help(void)
{
    weft_ps_config d;
    weft_ps_config_default(&d, WEFT_PS_RLNC);
    fputs(help, stdout);
    printf("Router defaults: D %u, heartbeat %lld ms, RLNC k %u, mult %g, threshold %g.\n", d.D,
           (long long)(d.heartbeat_ns / MS), d.rlnc_k, d.rlnc_mult, d.rlnc_threshold);
}

static volatile sig_atomic_t g_stop;
static weft_loop *g_loop;

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("weft-p2p pubsub: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see weft-p2p pubsub --help)\n", stderr);
    exit(2);
}

static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_loop)
        weft_loop_stop(g_loop);
}

/* A whole decimal number in [lo, hi]. */
static long long
parse_int(const char *opt, const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        usage_error("%s '%s': expected an integer in %lld..%lld", opt, s, lo, hi);
    return v;
}

static double
parse_real(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        usage_error("%s '%s': expected a number in %g..%g", opt, s, lo, hi);
    return v;
}

/* ---- JSON output ------------------------------------------------------------------ */

/* A JSON string: UTF-8 text as it is (escaped where JSON needs it); a
 * topic that is not valid UTF-8 has its bytes >= 0x80 written as \u00XX, so
 * the line stays valid JSON either way. */
static void
json_str(FILE *f, const uint8_t *p, size_t n)
{
    fputc('"', f);
    if (weft_utf8_valid(p, n)) {
        char small[256];
        char *out = n <= (sizeof small - 1) / 6 ? small : malloc(6 * n + 1);
        if (out != NULL) {
            fwrite(out, 1, weft_json_escape((const char *)p, n, out), f);
            if (out != small)
                free(out);
            fputc('"', f);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned ch = p[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc((int)ch, f);
    }
    fputc('"', f);
}

static void
hex(FILE *f, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        fputc(digits[p[i] >> 4], f);
        fputc(digits[p[i] & 15], f);
    }
    fputc('"', f);
}

static void
peer_text(const weft_peer_id *id, char *out, size_t cap)
{
    if (weft_peer_id_to_text(id, out, cap) < 0)
        snprintf(out, cap, "?");
}

/* ---- the node --------------------------------------------------------------------------- */

struct app;

struct dialer {
    struct app *a;
    const char *text;
    weft_multiaddr ma;
    int attempts;
    int connected;
    weft_timer retry;
};

struct app {
    weft_loop *loop;
    weft_host *host;
    weft_ps_host *psh;
    weft_ps *ps;
    const char *topic;
    int mode;
    long long publish, expect;
    size_t size;
    int64_t interval_ns, delay_ns, linger_ns, heartbeat_ns;
    int64_t t_start, t_subscribed;
    long long published, received;
    int ready, meshed, lingering, finished, failed;
    const char *start_file;
    uint8_t *msg;
    weft_timer pub_timer, linger_timer;
    struct dialer dialers[MAX_PEERS];
    size_t ndialers;
};

static int
goals_met(const struct app *a)
{
    return a->published >= a->publish && a->received >= a->expect;
}

static void
linger_done(weft_timer *t, void *user)
{
    (void)t;
    struct app *a = user;
    a->finished = 1;
    weft_loop_stop(a->loop);
}

/* Nothing left to wait for: linger so our forwarding completes, then stop. */
static void
check_done(struct app *a)
{
    if (a->lingering || (!a->publish && !a->expect) || !goals_met(a))
        return;
    a->lingering = 1;
    if (a->linger_ns <= 0 ||
        weft_timer_arm(a->loop, &a->linger_timer, weft_loop_now(a->loop) + a->linger_ns) < 0)
        linger_done(&a->linger_timer, a);
}

static void
deliver(void *user, const weft_ps_msg *m)
{
    struct app *a = user;
    if (m->topic.len != strlen(a->topic) || memcmp(m->topic.p, a->topic, m->topic.len))
        return;
    a->received++;
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, m->data.p ? m->data.p : (const uint8_t *)"", m->data.len);
    char from[WEFT_PEER_ID_TEXT];
    printf("{\"event\":\"message\",\"topic\":");
    json_str(stdout, m->topic.p, m->topic.len);
    if (m->from) {
        peer_text(m->from, from, sizeof from);
        printf(",\"from\":\"%s\"", from);
    } else {
        printf(",\"from\":null");
    }
    printf(",\"id\":");
    hex(stdout, m->id.p, m->id.len);
    printf(",\"size\":%zu,\"sha256\":", m->data.len);
    hex(stdout, digest, sizeof digest);
    printf("}\n");
    fflush(stdout);
    check_done(a);
}

static void
publish_one(struct app *a)
{
    uint64_t n = (uint64_t)a->published + 1;
    /* A fresh seed per message, expanded with ChaCha20: randombytes_buf
     * would make thousands of getrandom calls for a large message. */
    uint8_t seed[randombytes_SEEDBYTES];
    randombytes_buf(seed, sizeof seed);
    randombytes_buf_deterministic(a->msg + 8, a->size - 8, seed);
    for (int i = 0; i < 8; i++)
        a->msg[i] = (uint8_t)(n >> (56 - 8 * i));
    uint8_t id[64];
    size_t id_len = 0;
    int rc = weft_ps_publish(a->ps, a->topic, a->msg, a->size, id, &id_len);
    if (rc < 0) {
        fprintf(stderr, "weft-p2p pubsub: publish #%llu: %s\n", (unsigned long long)n,
                weft_strerror(rc));
        a->failed = 1;
        weft_loop_stop(a->loop);
        return;
    }
    a->published++;
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, a->msg, a->size);
    printf("{\"event\":\"published\",\"n\":%lld,\"id\":", a->published);
    hex(stdout, id, id_len < sizeof id ? id_len : sizeof id);
    printf(",\"size\":%zu,\"sha256\":", a->size);
    hex(stdout, digest, sizeof digest);
    printf("}\n");
    fflush(stdout);
}

/* Poll until publishing may start, then publish one message per turn. */
static void
pub_tick(weft_timer *t, void *user)
{
    struct app *a = user;
    int64_t now = weft_loop_now(a->loop);
    if (!a->ready) {
        weft_ps_peer *peers[256];
        size_t n = weft_ps_topic_peers(a->ps, a->topic, peers, 256);
        size_t m = n ? weft_ps_mesh_peers(a->ps, a->topic, peers, 256) : 0;
        if (n && !a->t_subscribed)
            a->t_subscribed = now;
        int meshed = m > 0 || (n && now - a->t_subscribed >= 2 * a->heartbeat_ns);
        if (meshed && !a->meshed) {
            a->meshed = 1;
            printf("{\"event\":\"meshed\",\"peers\":%zu,\"mesh\":%zu}\n", n, m);
            fflush(stdout);
        }
        if (meshed && !a->publish)
            return; /* a node that only listens polls until meshed */
        if (!meshed || now - a->t_start < a->delay_ns ||
            (a->start_file && access(a->start_file, F_OK) != 0)) {
            WEFT_IGNORE(weft_timer_arm(a->loop, t, now + POLL_NS));
            return;
        }
        a->ready = 1;
        printf("{\"event\":\"ready\",\"peers\":%zu,\"mesh\":%zu}\n", n, m);
        fflush(stdout);
    }
    publish_one(a);
    if (a->failed)
        return;
    if (a->published < a->publish)
        WEFT_IGNORE(weft_timer_arm(a->loop, t, now + a->interval_ns));
    else
        check_done(a);
}

/* ---- dialing ------------------------------------------------------------------------- */

static void dial_start(struct dialer *d);

static void
dial_retry(weft_timer *t, void *user)
{
    (void)t;
    dial_start(user);
}

static void
dial_failed(struct dialer *d, int err)
{
    struct app *a = d->a;
    if (d->attempts >= DIAL_ATTEMPTS) {
        fprintf(stderr, "weft-p2p pubsub: dial %s: %s (giving up after %d attempts)\n", d->text,
                weft_strerror(err), d->attempts);
        return;
    }
    int64_t wait = DIAL_BACKOFF_NS << (d->attempts - 1);
    if (weft_timer_arm(a->loop, &d->retry, weft_loop_now(a->loop) + wait) < 0)
        fprintf(stderr, "weft-p2p pubsub: dial %s: cannot schedule a retry\n", d->text);
}

static void
dialed(weft_host *h, weft_peer *p, int status, void *user)
{
    (void)h, (void)p;
    struct dialer *d = user;
    if (status < 0) {
        dial_failed(d, status);
        return;
    }
    d->connected = 1;
}

static void
dial_start(struct dialer *d)
{
    d->attempts++;
    int rc = weft_host_dial(d->a->host, &d->ma, dialed, d);
    if (rc < 0)
        dial_failed(d, rc);
}

/* ---- host callbacks -------------------------------------------------------------------- */

static void
on_peer(weft_host *h, weft_peer *p, int up, void *user)
{
    (void)h;
    struct app *a = user;
    if (a->psh)
        weft_ps_host_on_peer(a->psh, p, up);
    if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG)) {
        char id[WEFT_PEER_ID_TEXT];
        peer_text(weft_peer_get_id(p), id, sizeof id);
        weft_log(WEFT_LOG_DEBUG, "pubsub-cli", "msg=\"peer %s\" peer=%s", up ? "up" : "down", id);
    }
}

static void
on_identify(weft_host *h, weft_peer *p, const weft_identify *id, void *user)
{
    (void)h;
    struct app *a = user;
    if (a->psh)
        weft_ps_host_on_identify(a->psh, p, id);
}

/* ---- the command ------------------------------------------------------------------------- */

static void
print_stats(const struct app *a, int code)
{
    weft_ps_stats s;
    weft_ps_get_stats(a->ps, &s);
    printf("{\"event\":\"done\",\"code\":%d,\"received\":%lld,\"published\":%lld}\n", code,
           a->received, a->published);
    fflush(stdout);
    /* Every counter, for diagnosing a test failure from its log. */
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"rpc_in", s.rpc_in},
        {"rpc_out", s.rpc_out},
        {"bytes_in", s.rpc_bytes_in},
        {"bytes_out", s.rpc_bytes_out},
        {"malformed", s.rpc_malformed},
        {"rpc_too_big", s.rpc_too_big},
        {"send_failed", s.rpc_send_failed},
        {"published", s.published},
        {"delivered", s.delivered},
        {"msgs_in", s.msgs_in},
        {"duplicates", s.msgs_duplicate},
        {"drop_bad_sig", s.drop_bad_signature},
        {"drop_unknown_topic", s.drop_unknown_topic},
        {"drop_too_big", s.drop_too_big},
        {"drop_graylisted", s.drop_graylisted},
        {"drop_self_origin", s.drop_self_origin},
        {"drop_bad_id", s.drop_bad_id},
        {"ihave_in", s.ihave_in},
        {"iwant_in", s.iwant_in},
        {"iwant_served", s.iwant_served},
        {"iwant_ignored", s.iwant_ignored},
        {"idontwant_in", s.idontwant_in},
        {"idontwant_out", s.idontwant_out},
        {"graft_in", s.graft_in},
        {"prune_in", s.prune_in},
        {"graft_backoff_violations", s.graft_backoff_violations},
        {"graft_out", s.graft_out},
        {"prune_out", s.prune_out},
        {"shards_sent", s.shards_sent},
        {"shards_new", s.shards_new},
        {"shards_unhelpful", s.shards_unhelpful},
        {"shards_duplicate", s.shards_duplicate},
        {"shards_unnecessary", s.shards_unnecessary},
        {"shards_invalid", s.shards_invalid},
        {"shards_beyond_k", s.shards_beyond_k},
        {"shards_unknown", s.shards_unknown},
        {"shards_over_limit", s.shards_over_limit},
        {"gens_started", s.gens_started},
        {"gens_decoded", s.gens_decoded},
        {"gens_polluted", s.gens_polluted},
        {"gens_expired", s.gens_expired},
        {"gens_evicted", s.gens_evicted},
        {"wants_sent", s.wants_sent},
        {"wants_in", s.wants_in},
        {"completes_sent", s.completes_sent},
        {"completes_in", s.completes_in},
        {"peers_added", s.peers_added},
        {"peers_removed", s.peers_removed},
    };
    fputs("weft-p2p pubsub: stats", stderr);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        fprintf(stderr, " %s=%llu", f[i].name, (unsigned long long)f[i].v);
    fprintf(stderr, " memory=%zu\n", weft_ps_memory(a->ps));
}

int
weft_p2p_pubsub(int argc, char **argv)
{
    enum {
        O_MODE = 256,
        O_LISTEN,
        O_PEER,
        O_TOPIC,
        O_PUBLISH,
        O_SIZE,
        O_INTERVAL,
        O_DELAY,
        O_START_FILE,
        O_EXPECT,
        O_TIMEOUT,
        O_KEY,
        O_MSGID,
        O_K,
        O_MULT,
        O_THRESHOLD,
        O_D,
        O_LINGER,
        O_QCAP,
        O_HELP
    };
    static const struct option opts[] = {
        {"mode", required_argument, 0, O_MODE},
        {"listen", required_argument, 0, O_LISTEN},
        {"peer", required_argument, 0, O_PEER},
        {"topic", required_argument, 0, O_TOPIC},
        {"publish", required_argument, 0, O_PUBLISH},
        {"size", required_argument, 0, O_SIZE},
        {"interval", required_argument, 0, O_INTERVAL},
        {"delay", required_argument, 0, O_DELAY},
        {"start-file", required_argument, 0, O_START_FILE},
        {"expect", required_argument, 0, O_EXPECT},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"key", required_argument, 0, O_KEY},
        {"msgid", required_argument, 0, O_MSGID},
        {"k", required_argument, 0, O_K},
        {"mult", required_argument, 0, O_MULT},
        {"threshold", required_argument, 0, O_THRESHOLD},
        {"D", required_argument, 0, O_D},
        {"linger", required_argument, 0, O_LINGER},
        {"queue-cap", required_argument, 0, O_QCAP},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    static struct app app; /* dialers hold pointers into it until exit */
    struct app *a = &app;
    memset(a, 0, sizeof *a);
    weft_timer_init(&a->pub_timer, pub_tick, a);
    weft_timer_init(&a->linger_timer, linger_done, a);
    const char *mode = NULL, *listen = "/ip4/127.0.0.1/tcp/0", *keydir = NULL;
    const char *peers[MAX_PEERS];
    size_t npeers = 0;
    int msgid = WEFT_PS_MSGID_SPEC;
    long long timeout = 60, k = 0, D = 0;
    double mult = 0, threshold = 0;
    long long qcap = 0;
    a->size = 1024;
    a->interval_ns = 100 * MS;
    a->linger_ns = 1000 * MS;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_MODE: mode = optarg; break;
        case O_LISTEN: listen = optarg; break;
        case O_PEER:
            if (npeers == MAX_PEERS)
                usage_error("at most %d --peer options", MAX_PEERS);
            peers[npeers++] = optarg;
            break;
        case O_TOPIC: a->topic = optarg; break;
        case O_PUBLISH: a->publish = parse_int("--publish", optarg, 0, 1000000000); break;
        case O_SIZE: a->size = (size_t)parse_int("--size", optarg, 8, (long long)MAX_SIZE); break;
        case O_INTERVAL: a->interval_ns = parse_int("--interval", optarg, 0, 3600000) * MS; break;
        case O_DELAY: a->delay_ns = parse_int("--delay", optarg, 0, 3600000) * MS; break;
        case O_START_FILE: a->start_file = optarg; break;
        case O_EXPECT: a->expect = parse_int("--expect", optarg, 0, 1000000000); break;
        case O_TIMEOUT: timeout = parse_int("--timeout", optarg, 0, 86400); break;
        case O_KEY: keydir = optarg; break;
        case O_MSGID:
            if (!strcmp(optarg, "spec"))
                msgid = WEFT_PS_MSGID_SPEC;
            else if (!strcmp(optarg, "js"))
                msgid = WEFT_PS_MSGID_JS;
            else if (!strcmp(optarg, "sha256"))
                msgid = WEFT_PS_MSGID_SHA256;
            else
                usage_error("--msgid '%s': expected spec, js or sha256", optarg);
            break;
        case O_K: k = parse_int("--k", optarg, 1, 1024); break;
        case O_MULT: mult = parse_real("--mult", optarg, 1.0, 64.0); break;
        case O_THRESHOLD: threshold = parse_real("--threshold", optarg, 0.01, 1.0); break;
        case O_D: D = parse_int("--D", optarg, 1, 100); break;
        case O_LINGER: a->linger_ns = parse_int("--linger", optarg, 0, 3600000) * MS; break;
        case O_QCAP: qcap = parse_int("--queue-cap", optarg, 65536, 1LL << 40); break;
        case O_HELP: print_help(); return 0;
        default:
            usage_error("unknown or incomplete option '%s'",
                        optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        }
    }
    if (optind != argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (!mode)
        usage_error("--mode gossipsub|rlnc|optimum is required");
    if (!strcmp(mode, "gossipsub"))
        a->mode = WEFT_PS_GOSSIPSUB;
    else if (!strcmp(mode, "rlnc") || !strcmp(mode, "optimum"))
        a->mode = WEFT_PS_RLNC;
    else
        usage_error("--mode '%s': expected gossipsub, rlnc or optimum", mode);
    if (!a->topic || !*a->topic)
        usage_error("--topic T is required");
    if (strlen(a->topic) > TOPIC_MAX)
        usage_error("--topic: at most %d bytes", TOPIC_MAX);

    weft_multiaddr lma;
    int rc = weft_ma_parse(listen, &lma);
    if (rc < 0)
        usage_error("--listen '%s': %s", listen, weft_strerror(rc));
    a->ndialers = npeers;
    for (size_t i = 0; i < npeers; i++) {
        struct dialer *d = &a->dialers[i];
        d->a = a;
        d->text = peers[i];
        rc = weft_ma_parse(peers[i], &d->ma);
        if (rc < 0)
            usage_error("--peer '%s': %s", peers[i], weft_strerror(rc));
        weft_timer_init(&d->retry, dial_retry, d);
    }

    weft_identity id;
    if (keydir) {
        char path[4096], detail[256] = "";
        snprintf(path, sizeof path, "%s/p2p.key", keydir);
        rc = weft_keyfile_load(path, &id, detail, sizeof detail);
        if (rc < 0 && detail[0] && strstr(detail, path)) /* the detail names the file */
            usage_error("%s", detail);
        if (rc < 0)
            usage_error("%s: %s", path, detail[0] ? detail : weft_strerror(rc));
    } else if (weft_identity_generate(&id) < 0) {
        fprintf(stderr, "weft-p2p pubsub: cannot generate a key\n");
        return 1;
    }

    weft_ps_config pcfg;
    weft_ps_config_default(&pcfg, a->mode);
    pcfg.identity = id;
    pcfg.msgid = msgid;
    pcfg.io.deliver = deliver;
    pcfg.io.user = a;
    if (a->size > pcfg.max_msg_size)
        pcfg.max_msg_size = a->size;
    if (k)
        pcfg.rlnc_k = (unsigned)k;
    if (mult > 0)
        pcfg.rlnc_mult = mult;
    if (threshold > 0)
        pcfg.rlnc_threshold = threshold;
    if (D) {
        pcfg.D = (unsigned)D;
        pcfg.D_lo = D > 2 ? (unsigned)(D * 2 / 3) : 1;
        pcfg.D_hi = (unsigned)(D * 2);
        if (pcfg.D_lazy > pcfg.D)
            pcfg.D_lazy = pcfg.D;
        if (pcfg.D_score > pcfg.D)
            pcfg.D_score = pcfg.D;
        if (pcfg.D_out >= pcfg.D_lo)
            pcfg.D_out = pcfg.D_lo > 1 ? pcfg.D_lo - 1 : 0;
    }
    a->heartbeat_ns = pcfg.heartbeat_ns;

    int err;
    a->loop = g_loop = weft_loop_new(NULL, &err);
    if (!a->loop) {
        fprintf(stderr, "weft-p2p pubsub: event loop: %s\n", weft_strerror(err));
        weft_identity_wipe(&id);
        return 1;
    }
    weft_host_config hcfg;
    weft_host_config_default(&hcfg);
    hcfg.identity = id;
    hcfg.on_peer = on_peer;
    hcfg.on_identify = on_identify;
    hcfg.user = a;
    a->host = weft_host_new(a->loop, &hcfg, &err);
    weft_identity_wipe(&hcfg.identity);
    if (!a->host) {
        fprintf(stderr, "weft-p2p pubsub: host: %s\n", weft_strerror(err));
        weft_identity_wipe(&id);
        weft_loop_free(a->loop);
        return 1;
    }
    a->psh = weft_ps_host_new(a->host, &pcfg, &err);
    weft_identity_wipe(&pcfg.identity);
    weft_identity_wipe(&id);
    if (!a->psh) {
        fprintf(stderr, "weft-p2p pubsub: router: %s\n", weft_strerror(err));
        weft_host_free(a->host);
        weft_loop_free(a->loop);
        return err == WEFT_EINVAL ? 2 : 1;
    }
    a->ps = weft_ps_host_router(a->psh);
    if (qcap)
        weft_ps_host_set_queue_cap(a->psh, (size_t)qcap);
    int code = 1;
    rc = weft_ps_subscribe(a->ps, a->topic);
    if (rc < 0) {
        fprintf(stderr, "weft-p2p pubsub: subscribe '%s': %s\n", a->topic, weft_strerror(rc));
        goto out;
    }
    weft_multiaddr bound;
    rc = weft_host_listen(a->host, &lma, &bound);
    if (rc < 0) {
        fprintf(stderr, "weft-p2p pubsub: listen on %s: %s\n", listen, weft_strerror(rc));
        goto out;
    }
    char text[WEFT_MA_TEXT_MAX], self[WEFT_PEER_ID_TEXT];
    weft_ma_to_text(&bound, text, sizeof text);
    peer_text(weft_host_peer_id(a->host), self, sizeof self);
    printf("{\"event\":\"listening\",\"multiaddr\":\"%s\",\"peerId\":\"%s\",\"topic\":", text,
           self);
    json_str(stdout, (const uint8_t *)a->topic, strlen(a->topic));
    printf(",\"mode\":\"%s\"}\n", a->mode == WEFT_PS_RLNC ? "rlnc" : "gossipsub");
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (a->publish) {
        a->msg = malloc(a->size);
        if (!a->msg) {
            fprintf(stderr, "weft-p2p pubsub: no memory for a %zu-byte message\n", a->size);
            goto out;
        }
    }
    a->t_start = weft_loop_now(a->loop);
    for (size_t i = 0; i < a->ndialers; i++)
        dial_start(&a->dialers[i]);
    if (weft_timer_arm(a->loop, &a->pub_timer, a->t_start) < 0) {
        fprintf(stderr, "weft-p2p pubsub: no memory for a timer\n");
        goto out;
    }
    check_done(a);

    int64_t deadline = timeout ? a->t_start + timeout * SEC : INT64_MAX;
    int timed_out = 0;
    while (!g_stop && !a->finished && !a->failed) {
        int64_t now = weft_loop_now(a->loop);
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        int64_t wait = deadline - now < 100 * MS ? deadline - now : 100 * MS;
        rc = weft_loop_run_once(a->loop, wait);
        if (rc < 0 && rc != -EINTR) {
            fprintf(stderr, "weft-p2p pubsub: event loop: %s\n", weft_strerror(rc));
            a->failed = 1;
        }
    }
    int relay = !a->publish && !a->expect;
    if (a->finished || (relay && !a->failed))
        code = 0;
    else if (g_stop && !a->failed && goals_met(a))
        code = 0;
    if (timed_out && !relay)
        fprintf(stderr,
                "weft-p2p pubsub: timed out after %lld s: received %lld of %lld, published "
                "%lld of %lld\n",
                timeout, a->received, a->expect, a->published, a->publish);
    print_stats(a, code);
out:
    for (size_t i = 0; i < a->ndialers; i++)
        weft_timer_disarm(a->loop, &a->dialers[i].retry);
    weft_timer_disarm(a->loop, &a->pub_timer);
    weft_timer_disarm(a->loop, &a->linger_timer);
    weft_ps_host_free(a->psh);
    a->psh = NULL;
    a->ps = NULL;
    weft_host_free(a->host);
    weft_loop_free(a->loop);
    g_loop = NULL;
    free(a->msg);
    return code;
}
