/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-node: the OptimumP2P-compatible daemon.
 *
 *   weft-node                       run (configuration from the environment)
 *   weft-node generate-key [--output-peer-id]
 *                                   create IDENTITY_DIR/p2p.key if absent
 *   weft-node peer-id               print the peer id of IDENTITY_DIR/p2p.key
 *   weft-node check-config          validate the environment, print it as JSON
 *
 * Start-up validates the whole environment first (one line and exit 2 on a
 * bad value), loads or creates the identity, then starts the P2P loop (this
 * thread), the gRPC sidecar and the HTTP API (their own threads). SIGTERM
 * or SIGINT drains: the sidecar stops taking requests, what it accepted is
 * published, the mesh gets a moment to send it, and the node exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "weft/node_daemon.h"
#include "weft/log.h"

static node g_node;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weft-node [--help | --version]\n"
            "       weft-node generate-key [--output-peer-id]\n"
            "       weft-node peer-id\n"
            "       weft-node check-config\n\n"
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
            "/metrics.\n\n%s",
            node_config_help);
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
        fprintf(stderr, "weft-node: identity %s: %s%s%s\n", path, weft_strerror(rc),
                detail[0] ? ": " : "", detail);
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

static void
on_signal(int sig)
{
    (void)sig;
    g_node.stopping = 1;
    if (g_node.loop)
        weft_loop_stop(g_node.loop); /* an eventfd write: async-signal-safe */
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

static void
resolve_country(node *n)
{
    snprintf(n->country, sizeof n->country, "unknown");
    n->country_iso[0] = 0;
    if (!n->cfg.geoip_db)
        return;
    char msg[256] = "";
    int err = 0;
    n->geo = weft_geo_open(n->cfg.geoip_db, &err, msg, sizeof msg);
    if (!n->geo) {
        weft_log(WEFT_LOG_WARN, "node",
                 "msg=\"GeoIP database unusable; country unknown\" "
                 "path=\"%s\" detail=\"%s\"",
                 n->cfg.geoip_db, msg);
        return;
    }
    const char *ip = n->cfg.public_ip ? n->cfg.public_ip : n->cfg.listen_ip;
    weft_geo_lookup(n->geo, ip, n->country, sizeof n->country, n->country_iso,
                    sizeof n->country_iso);
}

int
weft_node_main(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
            printf("weft-node %s\n", WEFT_VERSION);
            return 0;
        }
        if (!strcmp(argv[1], "generate-key") || !strcmp(argv[1], "peer-id"))
            return cmd_keys(argc, argv);
        if (!strcmp(argv[1], "check-config") && argc == 2) {
            char err[WEFT_ENV_ERR];
            if (node_config_load(&g_node.cfg, err) < 0) {
                fprintf(stderr, "weft-node: %s\n", err);
                return 2;
            }
            char *js = node_config_json(&g_node.cfg);
            printf("%s\n", js ? js : "{}");
            free(js);
            return 0;
        }
        fprintf(stderr, "weft-node: unknown argument '%s' (see weft-node --help)\n", argv[1]);
        return 2;
    }
    node *n = &g_node;
    char err[WEFT_ENV_ERR];
    if (node_config_load(&n->cfg, err) < 0) {
        fprintf(stderr, "weft-node: %s\n", err);
        return 2;
    }
    weft_log_set_level(n->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    char path[1100];
    int created = load_identity(n->cfg.identity_dir, 1, &n->identity, path, sizeof path);
    if (created < 0)
        return 1;
    if (peer_id_text(&n->identity, n->peer_id, sizeof n->peer_id) < 0)
        return 1;
    if (created)
        weft_log(WEFT_LOG_INFO, "node", "msg=\"generated identity\" path=%s peer=%s", path,
                 n->peer_id);
    resolve_country(n);
    int rc = node_stats_init(n);
    if (rc < 0) {
        fprintf(stderr, "weft-node: metrics: %s\n", weft_strerror(rc));
        return 1;
    }
    if (node_p2p_start(n) < 0)
        return 1;
    n->mono_to_unix = weft_unix_ns() - weft_loop_now(n->loop);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (node_sidecar_start(n) < 0 || node_api_start(n) < 0) {
        node_sidecar_stop(n);
        node_p2p_stop(n);
        return 1;
    }
    weft_log(WEFT_LOG_INFO, "node",
             "msg=\"weft-node started\" cluster=\"%s\" mode=%s peer=%s p2p=%s sidecar=%s:%d "
             "api=%s:%d transport=%s bootstrap=%zu",
             n->cfg.cluster_id, node_mode_name(n->cfg.mode), n->peer_id,
             n->naddrs ? n->addrs[0] : "?", n->cfg.listen_ip, n->cfg.sidecar_port, n->cfg.listen_ip,
             n->cfg.api_port, weft_loop_kind_name(n->loop), n->ndialers);
    if (!n->stopping)
        weft_loop_run(n->loop);
    n->stopping = 1;
    weft_log(WEFT_LOG_INFO, "node", "msg=\"shutting down\"");
    node_api_stop(n);
    node_sidecar_stop(n); /* closes every client stream; their records come back as closures */
    drain(n);
    node_p2p_stop(n);
    node_stats_free(n);
    weft_geo_close(n->geo);
    weft_identity_wipe(&n->identity);
    weft_log(WEFT_LOG_INFO, "node", "msg=\"stopped\"");
    return 0;
}
