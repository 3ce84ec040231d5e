/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node: the OptimumP2P-compatible daemon.
 *
 *   weft-node                       run (configuration from the environment)
 *   weft-node generate-key [--output-peer-id]
 *                                   create IDENTITY_DIR/p2p.key if absent
 *   weft-node peer-id               print the peer id of IDENTITY_DIR/p2p.key
 *   weft-node check-config          validate the environment, print it as JSON
 *   ... --config FILE.yaml          a role file beneath the environment
 *                                   (config_yaml.h), for the run and check-config
 *
 * Start-up validates the whole environment first (one line and exit 2 on a
 * bad value), loads or creates the identity, then starts the P2P loop (this
 * thread), the gRPC sidecar and the HTTP API (their own threads). SIGTERM
 * or SIGINT drains: the sidecar stops taking requests, what it accepted is
 * published, the mesh gets a moment to send it, and the node exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config_yaml.h"
#include "node.h"
#include "weft/commit.h"
#include "weft/node_daemon.h"
#include "weft/log.h"

static node g_node;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weft-node [--help | --version]\n"
            "       weft-node [--config FILE.yaml]\n"
            "       weft-node generate-key [--output-peer-id]\n"
            "       weft-node peer-id\n"
            "       weft-node check-config [--config FILE.yaml]\n\n"
            "An OptimumP2P-compatible node: RLNC coded mesh (optimum) or GossipSub over\n"
            "libp2p (Noise, yamux), a gRPC sidecar for clients (proto.CommandStream) and an\n"
            "HTTP API with Prometheus metrics. Configuration comes from the environment;\n"
            "a bad value is reported in one line (variable, value, expected range) and the\n"
            "node exits with status 2. SIGTERM or SIGINT drains and exits 0.\n\n"
            "Subcommands:\n"
            "  generate-key      create IDENTITY_DIR/p2p.key (kept if it exists) and print\n"
            "                    its path and peer id; --output-peer-id prints the id only\n"
            "  peer-id           print the peer id of IDENTITY_DIR/p2p.key\n"
            "  check-config      validate the environment, print the configuration as JSON\n\n"
            "HTTP API: /api/v1/health, /api/v1/node-state, /api/v1/version, /api/v1/config,\n"
            "/api/v1/p2p-snapshot, /api/v1/topics[?topic=T[&nodeinfo=true]], /debug/peers,\n"
            "/metrics.\n\n%s\n%s",
            node_config_help, node_yaml_keys_help);
}

static int
key_path(char *out, size_t cap, const char *dir)
{
    int n = snprintf(out, cap, "%s/p2p.key", dir);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int
mkdir_p(const char *dir)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Load IDENTITY_DIR/p2p.key, or create it when absent (create != 0).
 * Returns 0, 1 when it was created, or -1 with a message printed. */
static int
load_identity(const char *dir, int create, weft_identity *id, char *path, size_t cap)
{
    if (key_path(path, cap, dir) < 0) {
        fprintf(stderr, "weft-node: IDENTITY_DIR=\"%s\": path too long\n", dir);
        return -1;
    }
    char detail[256] = "";
    int rc = weft_keyfile_load(path, id, detail, sizeof detail);
    if (rc == 0)
        return 0;
    if (rc != -ENOENT || !create) {
        /* The detail, when there is one, already says what the code says. */
        fprintf(stderr, "weft-node: identity %s: %s\n", path,
                detail[0] ? detail : weft_strerror(rc));
        return -1;
    }
    if ((rc = mkdir_p(dir)) < 0) {
        fprintf(stderr, "weft-node: IDENTITY_DIR=\"%s\": cannot create: %s\n", dir, strerror(-rc));
        return -1;
    }
    if ((rc = weft_identity_generate(id)) < 0 || (rc = weft_keyfile_save(path, id)) < 0) {
        fprintf(stderr, "weft-node: identity %s: cannot write: %s\n", path, weft_strerror(rc));
        return -1;
    }
    return 1;
}

static int
peer_id_text(const weft_identity *id, char *out, size_t cap)
{
    weft_peer_id pid;
    weft_peer_id_from_pubkey(id->pk, &pid);
    return weft_peer_id_to_text(&pid, out, cap);
}

static int
cmd_keys(int argc, char **argv)
{
    int gen = !strcmp(argv[1], "generate-key"), only_id = 0;
    for (int i = 2; i < argc; i++) {
        if (gen && (!strcmp(argv[i], "--output-peer-id") || !strcmp(argv[i], "-output-peer-id")))
            only_id = 1;
        else {
            fprintf(stderr, "weft-node %s: unknown argument '%s' (see weft-node --help)\n", argv[1],
                    argv[i]);
            return 2;
        }
    }
    char err[WEFT_ENV_ERR];
    const char *dir;
    if (weft_env_str("IDENTITY_DIR", "/identity", 1024, &dir, err) < 0) {
        fprintf(stderr, "weft-node: %s\n", err);
        return 2;
    }
    weft_identity id;
    char path[1100], text[WEFT_PEER_ID_TEXT];
    int rc = load_identity(dir, gen, &id, path, sizeof path);
    if (rc < 0)
        return 1;
    if (peer_id_text(&id, text, sizeof text) < 0) {
        fprintf(stderr, "weft-node: cannot encode the peer id\n");
        return 1;
    }
    weft_identity_wipe(&id);
    if (only_id || !gen)
        printf("%s\n", text);
    else
        printf("%s key %s\npeer id: %s\n", rc == 1 ? "generated" : "existing", path, text);
    if (gen && rc == 0)
        fprintf(stderr, "weft-node: %s exists; kept it\n", path);
    return 0;
}

/* The loop a signal may stop: set once it exists, cleared before it is
 * freed. SIGTERM and SIGINT are blocked in every other thread (they are
 * created with them blocked), so the handler runs on the main thread only
 * and never sees a loop being freed under it. */
static weft_loop *volatile g_sig_loop;

static void
on_signal(int sig)
{
    (void)sig;
    g_node.stopping = 1;
    weft_loop *l = g_sig_loop;
    if (l)
        weft_loop_stop(l); /* a flag and an eventfd write: async-signal-safe */
}

static void
signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Block (1) or unblock (0) SIGTERM and SIGINT in this thread; threads
 * started meanwhile inherit the mask. */
static void
signals_block(int on)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* Let accepted publishes and queued RPCs leave before the sockets close. */
static void
drain(node *n)
{
    int64_t end = weft_loop_now(n->loop) + 2000000000LL;
    weft_loop_stats a, b;
    weft_loop_get_stats(n->loop, &a);
    while (weft_loop_now(n->loop) < end) {
        weft_loop_run_once(n->loop, 100000000LL);
        weft_loop_get_stats(n->loop, &b);
        if (b.bytes_out == a.bytes_out && !weft_bridge_depth(n->bridge))
            break;
        a = b;
    }
}

/* Open WEFT_GEOIP_DB (when set) and look our country up. A database that
 * was asked for but cannot be read is a configuration error, as any other
 * bad setting: 0, or -1 with the line printed. */
static int
resolve_country(node *n, int starting)
{
    snprintf(n->country, sizeof n->country, "unknown");
    n->country_iso[0] = 0;
    if (!n->cfg.geoip_db) {
        if (starting) /* check-config prints JSON alone */
            weft_log(WEFT_LOG_INFO, "node",
                     "msg=\"no GeoIP database (WEFT_GEOIP_DB); country unknown\"");
        return 0;
    }
    char msg[256] = "";
    int err = 0;
    n->geo = weft_geo_open(n->cfg.geoip_db, &err, msg, sizeof msg);
    if (!n->geo) {
        fprintf(stderr,
                "weft-node: WEFT_GEOIP_DB=\"%s\": %s: expected a MaxMind GeoLite2 database\n",
                n->cfg.geoip_db, msg[0] ? msg : weft_strerror(err));
        return -1;
    }
    const char *ip = n->cfg.public_ip ? n->cfg.public_ip : n->cfg.listen_ip;
    weft_geo_lookup(n->geo, ip, n->country, sizeof n->country, n->country_iso,
                    sizeof n->country_iso);
    return 0;
}

/* Whether start-up could create IDENTITY_DIR/p2p.key: the directory, or
 * its nearest existing ancestor, must be a directory we may write. 0, or
 * -1 with the line printed. */
static int
creatable(const char *dir)
{
    char d[1100];
    snprintf(d, sizeof d, "%s", dir);
    for (;;) {
        struct stat st;
        if (stat(d, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "weft-node: IDENTITY_DIR=\"%s\": %s is not a directory\n", dir, d);
                return -1;
            }
            if (access(d, W_OK | X_OK) < 0) {
                fprintf(stderr, "weft-node: IDENTITY_DIR=\"%s\": cannot create p2p.key: %s: %s\n",
                        dir, d, strerror(errno));
                return -1;
            }
            return 0;
        }
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) {
            snprintf(d, sizeof d, "%s", slash == d ? "/" : ".");
            continue;
        }
        *slash = 0;
    }
}

/* What of the role is not built yet: the settings are kept (and shown by
 * /api/v1/config) so that one file serves today and later. */
static void
log_role(const node_config *c)
{
    weft_log(WEFT_LOG_INFO, "node",
             "msg=\"role\" role=%s kad=%s max_connections=%d connection_timeout=%ds "
             "capabilities=%zu protocol_version=%s",
             node_role_name(c->role),
             c->kad == NODE_KAD_SERVER   ? "server"
             : c->kad == NODE_KAD_CLIENT ? "client"
                                         : "off",
             c->max_connections, c->connection_timeout, c->ncaps, c->protocol_version);
    if (c->relay)
        weft_log(WEFT_LOG_WARN, "node",
                 "msg=\"relay %s requested (WEFT_RELAY, network.enable_relay) but circuit relay "
                 "is not built yet: setting stored, not active\"",
                 c->role == NODE_ROLE_RELAY ? "hop" : "client");
    if (c->mdns)
        weft_log(WEFT_LOG_WARN, "node",
                 "msg=\"mDNS requested (WEFT_MDNS, network.enable_mdns) but mDNS is not built "
                 "yet: setting stored, not active\"");
}

/* What start-up checks before it binds a port, and what check-config runs:
 * the environment, then the files it names (p2p.key when present, the
 * GeoIP database). create: make IDENTITY_DIR/p2p.key when absent (start);
 * check-config only reports that it would. Returns 0, 1 when the identity
 * was created (or would be), 2 on a configuration error, 1-class errors as
 * -1; each failure prints its one line. */
static int
preflight(node *n, int create)
{
    char err[WEFT_ENV_ERR];
    if (node_config_load(&n->cfg, err) < 0) {
        fprintf(stderr, "weft-node: %s\n", err);
        return 2;
    }
    weft_log_set_level(n->cfg.log_level);
    char path[1100];
    int created = 0;
    if (create) {
        created = load_identity(n->cfg.identity_dir, 1, &n->identity, path, sizeof path);
    } else if (key_path(path, sizeof path, n->cfg.identity_dir) == 0 && access(path, F_OK) < 0 &&
               errno == ENOENT) {
        created = 1; /* start would create it: can it? */
        if (creatable(n->cfg.identity_dir) < 0)
            return -1;
    } else {
        created = load_identity(n->cfg.identity_dir, 0, &n->identity, path, sizeof path);
    }
    if (created < 0)
        return -1;
    if (created && create) {
        char id[WEFT_PEER_ID_TEXT] = "?";
        WEFT_IGNORE(peer_id_text(&n->identity, id, sizeof id));
        weft_log(WEFT_LOG_INFO, "node", "msg=\"generated identity\" path=%s peer=%s", path, id);
    }
    if (resolve_country(n, create) < 0)
        return 2;
    if (create) /* after every check: a refused start prints its one line alone */
        log_role(&n->cfg);
    return 0;
}

static int
cmd_check_config(void)
{
    node *n = &g_node;
    int rc = preflight(n, 0);
    weft_identity_wipe(&n->identity);
    weft_geo_close(n->geo);
    n->geo = NULL;
    if (rc)
        return rc < 0 ? 1 : rc;
    char *js = node_config_json(&n->cfg);
    printf("%s\n", js ? js : "{}");
    free(js);
    return 0;
}

/* Undo whatever start-up got to, in reverse; safe on a partial start. */
static void
teardown(node *n)
{
    n->stopping = 1;
    node_api_stop(n);
    node_sidecar_stop(n); /* closes every client stream; their records come back as closures */
    if (n->loop && n->bridge && n->host)
        drain(n);
    g_sig_loop = NULL;
    node_p2p_stop(n);
    node_stats_free(n);
    weft_geo_close(n->geo);
    n->geo = NULL;
    weft_identity_wipe(&n->identity);
}

static int run(int argc, char **argv);

/* Take "--config FILE" (or --config=FILE, -config FILE) out of argv.
 * 0 with *path set or NULL, or 2 after printing the error. */
static int
take_config(int *argc, char **argv, const char **path)
{
    *path = NULL;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--config") || !strcmp(a, "-config")) {
            if (i + 1 >= *argc || !argv[i + 1][0]) {
                fprintf(stderr, "weft-node: %s: expected a file name after it\n", a);
                return 2;
            }
            v = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            v = a + 9;
            if (!*v) {
                fprintf(stderr, "weft-node: --config=: expected a file name\n");
                return 2;
            }
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (*path) {
            fprintf(stderr, "weft-node: --config \"%s\": given twice: expected one file\n", v);
            return 2;
        }
        *path = v;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

static node_yaml *g_yaml;

int
weft_node_main(int argc, char **argv)
{
    const char *config_path;
    if (take_config(&argc, argv, &config_path))
        return 2;
    if (config_path) {
        char err[WEFT_ENV_ERR];
        g_yaml = node_yaml_load(config_path, err);
        if (!g_yaml) {
            fprintf(stderr, "weft-node: %s\n", err);
            return 2;
        }
        node_yaml_install(g_yaml);
    }
    int rc = run(argc, argv);
    node_yaml_free(g_yaml);
    g_yaml = NULL;
    return rc;
}

static int
run(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
            printf("weft-node %s (commit %s, %s)\n", WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE);
            return 0;
        }
        if (!strcmp(argv[1], "generate-key") || !strcmp(argv[1], "peer-id"))
            return cmd_keys(argc, argv);
        if (!strcmp(argv[1], "check-config") && argc == 2)
            return cmd_check_config();
        fprintf(stderr, "weft-node: unknown argument '%s' (see weft-node --help)\n", argv[1]);
        return 2;
    }
    node *n = &g_node;
    /* First, so that a SIGTERM at any moment of start-up asks for a clean
     * stop (exit 0) instead of killing the process half-started. */
    signals_install();
    int rc = preflight(n, 1);
    if (rc) {
        teardown(n);
        return rc < 0 ? 1 : rc;
    }
    if (peer_id_text(&n->identity, n->peer_id, sizeof n->peer_id) < 0) {
        fprintf(stderr, "weft-node: cannot encode the peer id\n");
        teardown(n);
        return 1;
    }
    if (n->stopping)
        goto stopped;
    rc = node_stats_init(n);
    if (rc < 0) {
        fprintf(stderr, "weft-node: metrics: %s\n", weft_strerror(rc));
        teardown(n);
        return 1;
    }
    if (node_p2p_start(n) < 0) {
        teardown(n);
        return 1;
    }
    g_sig_loop = n->loop;
    if (n->stopping)
        goto stopped;
    n->mono_to_unix = weft_unix_ns() - weft_loop_now(n->loop);
    /* gRPC and h2o start their threads here: with the signals blocked they
     * inherit the mask, and the handler stays on this thread. */
    signals_block(1);
    rc = node_sidecar_start(n) < 0 || node_api_start(n) < 0;
    signals_block(0);
    if (rc) {
        teardown(n);
        return 1;
    }
    weft_log(WEFT_LOG_INFO, "node",
             "msg=\"weft-node started\" cluster=\"%s\" mode=%s peer=%s p2p=%s sidecar=%s:%d "
             "api=%s:%d transport=%s bootstrap=%zu",
             n->cfg.cluster_id, node_mode_name(n->cfg.mode), n->peer_id,
             n->naddrs ? n->addrs[0] : "?", n->cfg.listen_ip, n->cfg.sidecar_port, n->cfg.listen_ip,
             n->cfg.api_port, weft_loop_kind_name(n->loop), n->ndialers);
    weft_loop_run(n->loop); /* returns at once if a stop came first */
stopped:
    weft_log(WEFT_LOG_INFO, "node", "msg=\"shutting down\"");
    teardown(n);
    weft_log(WEFT_LOG_INFO, "node", "msg=\"stopped\"");
    return 0;
}
