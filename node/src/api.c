/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's HTTP API (API_PORT) on the h2o thread. Answers that need the
 * router's state are built on the loop thread (weft_bridge_call) and only
 * serialised here; health, version and config need no other thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "node.h"
#include "weft/commit.h"
#include "weft/log.h"

struct query {
    node *n;
    int what;
    char topic[TOPIC_TEXT];
    int has_topic, nodeinfo;
    char *body;
};

enum { Q_STATE, Q_SNAPSHOT, Q_TOPICS, Q_PEERS, Q_DHT };

static cJSON *
topic_json(node *n, const char *topic, int nodeinfo)
{
    weft_ps_peer *peers[1024], *mesh[1024];
    size_t np = weft_ps_topic_peers(n->ps, topic, peers, 1024);
    size_t nm = weft_ps_mesh_peers(n->ps, topic, mesh, 1024);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddBoolToObject(o, "subscribed", weft_ps_subscribed(n->ps, topic));
    cJSON_AddNumberToObject(o, "peer_count", (double)np);
    cJSON_AddNumberToObject(o, "mesh_peer_count", (double)nm);
    if (nodeinfo) {
        cJSON *arr = cJSON_AddArrayToObject(o, "peers");
        for (size_t i = 0; i < np && i < 1024; i++) {
            const weft_peer_id *id = weft_ps_peer_id(peers[i]);
            char text[WEFT_PEER_ID_TEXT];
            if (weft_peer_id_to_text(id, text, sizeof text) < 0)
                continue;
            const node_peer_stat *st = node_stats_find(n, id);
            int in_mesh = 0;
            for (size_t j = 0; j < nm; j++)
                in_mesh |= mesh[j] == peers[i];
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "peer_id", text);
            cJSON_AddStringToObject(p, "address", st ? st->addr : "");
            cJSON_AddStringToObject(p, "connection",
                                    st && st->connected ? "connected" : "disconnected");
            cJSON_AddBoolToObject(p, "mesh", in_mesh);
            cJSON_AddItemToArray(arr, p);
        }
    }
    return o;
}

static void
run_query(void *arg)
{
    struct query *q = arg;
    node *n = q->n;
    if (!n->ps)
        return;
    cJSON *o = NULL;
    switch (q->what) {
    case Q_STATE: {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pub_key", n->peer_id);
        cJSON_AddStringToObject(o, "country", n->country);
        cJSON_AddStringToObject(o, "country_iso", n->country_iso);
        /* The guides show listen addresses as libp2p hosts list theirs,
         * /ip4/IP/tcp/PORT, without the /p2p/ suffix (pub_key is the id). */
        cJSON *addrs = cJSON_AddArrayToObject(o, "addresses");
        for (size_t i = 0; i < n->naddrs; i++) {
            const char *p2p = strstr(n->addrs[i], "/p2p/");
            int len = p2p ? (int)(p2p - n->addrs[i]) : (int)strlen(n->addrs[i]);
            char a[sizeof n->addrs[0]];
            snprintf(a, sizeof a, "%.*s", len, n->addrs[i]);
            cJSON_AddItemToArray(addrs, cJSON_CreateString(a));
        }
        cJSON *peers = cJSON_AddArrayToObject(o, "peers");
        size_t np;
        const node_peer_stat *ps = node_stats_peers(n, &np);
        for (size_t i = 0; i < np; i++) {
            char text[WEFT_PEER_ID_TEXT];
            if (ps[i].connected && weft_peer_id_to_text(&ps[i].id, text, sizeof text) >= 0)
                cJSON_AddItemToArray(peers, cJSON_CreateString(text));
        }
        const char *names[256];
        size_t nt = weft_ps_topics(n->ps, names, 256);
        cJSON *topics = cJSON_AddArrayToObject(o, "topics");
        for (size_t i = 0; i < nt; i++)
            cJSON_AddItemToArray(topics, cJSON_CreateString(names[i]));
        break;
    }
    case Q_SNAPSHOT: q->body = node_stats_snapshot_json(n); return;
    case Q_PEERS: q->body = node_stats_peers_json(n); return;
    case Q_DHT: q->body = node_dht_json(n); return;
    case Q_TOPICS: {
        o = cJSON_CreateObject();
        if (q->has_topic) {
            cJSON_AddItemToObject(o, "topics", cJSON_CreateArray());
            cJSON_AddItemToArray(cJSON_GetObjectItem(o, "topics"),
                                 topic_json(n, q->topic, q->nodeinfo));
        } else {
            const char *names[256];
            size_t nt = weft_ps_topics(n->ps, names, 256);
            cJSON *arr = cJSON_AddArrayToObject(o, "topics");
            for (size_t i = 0; i < nt; i++)
                cJSON_AddItemToArray(arr, topic_json(n, names[i], q->nodeinfo));
        }
        cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(cJSON_GetObjectItem(o, "topics")));
        break;
    }
    }
    q->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

static void
health(node *n, weft_http_resp *resp)
{
    weft_sysinfo si;
    weft_sysinfo_sample(NULL, &si);
    char cpu[32], mem[32], disk[32];
    snprintf(cpu, sizeof cpu, "%.2f", si.cpu_percent);
    snprintf(mem, sizeof mem, "%.2f", si.mem_percent);
    snprintf(disk, sizeof disk, "%.2f", si.disk_percent);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", n->stopping ? "stopping" : "ok");
    cJSON_AddStringToObject(o, "mode", node_mode_name(n->cfg.mode));
    cJSON_AddStringToObject(o, "cpu_used", cpu);
    cJSON_AddStringToObject(o, "memory_used", mem);
    cJSON_AddStringToObject(o, "disk_used", disk);
    cJSON_AddStringToObject(o, "country", n->country);
    cJSON_AddStringToObject(o, "country_iso", n->country_iso);
    weft_http_reply_json(resp, 200, o);
    if (n->stopping)
        resp->status = 503;
}

int
node_api_topics_query(const char *query, size_t len, char topic[TOPIC_TEXT], int *has_topic,
                      int *nodeinfo, weft_http_resp *resp)
{
    char v[16];
    int tl = weft_http_query_get(query, len, "topic", topic, TOPIC_TEXT);
    *has_topic = *nodeinfo = 0;
    if (tl == 0) {
        weft_http_reply_error(resp, 400, "topic: expected a non-empty topic name");
        return -1;
    }
    if (tl < 0 && weft_http_query_has(query, len, "topic")) {
        weft_http_reply_error(resp, 400, "topic: expected at most 256 bytes and no NUL byte");
        return -1;
    }
    for (int i = 0; i < tl; i++)
        if ((unsigned char)topic[i] < 0x20 || topic[i] == 0x7f) {
            weft_http_reply_error(resp, 400, "topic: expected no control characters");
            return -1;
        }
    *has_topic = tl > 0;
    int vl = weft_http_query_get(query, len, "nodeinfo", v, sizeof v);
    if ((vl < 0 && weft_http_query_has(query, len, "nodeinfo")) ||
        (vl >= 0 && strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))) {
        weft_http_reply_error(resp, 400, "nodeinfo: expected true or false");
        return -1;
    }
    *nodeinfo = vl > 0 && (!strcmp(v, "true") || !strcmp(v, "1"));
    return 0;
}

static void
route(node *n, const weft_http_req *r, weft_http_resp *resp)
{
    if (!(r->method_len == 3 && !memcmp(r->method, "GET", 3))) {
        weft_http_reply_error(resp, 405, "method not allowed: the node API is read-only (GET)");
        return;
    }
    struct query q = {.n = n, .what = -1};
    if (weft_http_path_is(r, "/api/v1/health")) {
        health(n, resp);
        return;
    } else if (weft_http_path_is(r, "/api/v1/version")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", WEFT_VERSION);
        cJSON_AddStringToObject(o, "commit_hash", WEFT_COMMIT);
        weft_http_reply_json(resp, 200, o);
        return;
    } else if (weft_http_path_is(r, "/api/v1/config")) {
        char *s = node_config_json(&n->cfg);
        resp->status = s ? 200 : 500;
        resp->body = s;
        resp->body_len = s ? strlen(s) : 0;
        return;
    } else if (weft_http_path_is(r, "/metrics")) {
        size_t len = 0;
        char *s = weft_metrics_render(n->metrics, &len);
        resp->status = s ? 200 : 500;
        resp->content_type = WEFT_METRICS_CONTENT_TYPE;
        resp->body = s;
        resp->body_len = len;
        return;
    } else if (weft_http_path_is(r, "/api/v1/node-state")) {
        q.what = Q_STATE;
    } else if (weft_http_path_is(r, "/api/v1/p2p-snapshot")) {
        q.what = Q_SNAPSHOT;
    } else if (weft_http_path_is(r, "/api/v1/dht")) {
        q.what = Q_DHT;
    } else if (weft_http_path_is(r, "/debug/peers")) {
        q.what = Q_PEERS;
    } else if (weft_http_path_is(r, "/api/v1/topics")) {
        q.what = Q_TOPICS;
        if (node_api_topics_query(r->query, r->query_len, q.topic, &q.has_topic, &q.nodeinfo,
                                  resp) < 0)
            return;
    } else {
        weft_http_reply_error(resp, 404, "no such endpoint");
        return;
    }
    if (weft_bridge_call(n->bridge, run_query, &q) < 0 || !q.body) {
        free(q.body);
        weft_http_reply_error(resp, 503, "node is shutting down");
        return;
    }
    resp->status = 200;
    resp->body = q.body;
    resp->body_len = strlen(q.body);
}

static void
handle(void *user, const weft_http_req *r, weft_http_resp *resp)
{
    int64_t t0 = weft_mono_ns();
    route(user, r, resp);
    weft_http_log_request("api", r, resp, t0, NULL);
}

int
node_api_start(node *n)
{
    weft_http_config hc = {
        .host = n->cfg.listen_ip,
        .port = (uint16_t)n->cfg.api_port,
        .max_body = 65536,
        .handler = handle,
        .user = n,
    };
    int err = 0;
    n->http = weft_http_start(&hc, &err);
    if (!n->http) {
        fprintf(stderr, "weft-node: HTTP API on %s:%d (API_PORT): cannot listen (%s)\n",
                n->cfg.listen_ip, n->cfg.api_port, weft_strerror(err));
        return err ? err : WEFT_EINVAL;
    }
    return 0;
}

void
node_api_stop(node *n)
{
    weft_http_stop(n->http);
    n->http = NULL;
}
