/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's REST API on PROXY_PORT (spec/optimum-compat.md, "Proxy:
 * REST"): subscribe, publish, topics, session, health, version,
 * node-countries, metrics. Error bodies carry the strings the public test
 * suite looks for ("invalid JSON", "missing client ID", "missing topic",
 * "either message or message_length must be provided").
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "auth.h"
#include "proxy.h"
#include "weft/encoding.h"
#include "weft/log.h"
#include "weft/rng.h"
#include "weft/svc_sysinfo.h"
#include "weft/svc_ws.h"

#ifndef WEFT_COMMIT
#define WEFT_COMMIT "unknown"
#endif

/* Parse the body as a JSON object; NULL after answering 400. */
static cJSON *
body_json(const weft_http_req *r, weft_http_resp *resp)
{
    cJSON *o = r->body_len ? cJSON_ParseWithLength((const char *)r->body, r->body_len) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        weft_http_reply_error(resp, 400, "invalid JSON: expected an object in the request body");
        return NULL;
    }
    return o;
}

/* client_id from the body, or the token's subject when auth is on. */
static const char *
client_of(proxy *p, const weft_http_req *r, cJSON *o, char *sub, size_t cap, weft_http_resp *resp,
          size_t msg_bytes, int publishing)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "client_id");
    const char *id = cJSON_IsString(c) ? c->valuestring : NULL;
    if (p->cfg.enable_auth) {
        int status = px_auth_check(p, r->authorization, r->authorization_len, sub, cap, msg_bytes,
                                   publishing, resp);
        if (status)
            return NULL;
        if (id && *id && strcmp(id, sub)) {
            weft_http_reply_error(resp, 403, "client_id does not match the token's subject");
            return NULL;
        }
        return sub;
    }
    if (!id || !*id) {
        weft_http_reply_error(resp, 400, "missing client ID");
        return NULL;
    }
    if (!weft_text_ok(id, PX_ID_MAX)) {
        weft_http_reply_error(resp, 400,
                              "client_id: expected 1..128 characters without control "
                              "characters");
        return NULL;
    }
    return id;
}

static const char *
topic_of(cJSON *o, weft_http_resp *resp)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "topic");
    if (!cJSON_IsString(t) || !t->valuestring[0]) {
        weft_http_reply_error(resp, 400, "missing topic");
        return NULL;
    }
    if (!weft_text_ok(t->valuestring, PX_TOPIC_MAX)) {
        weft_http_reply_error(resp, 400,
                              "topic: expected 1..256 characters without control "
                              "characters");
        return NULL;
    }
    return t->valuestring;
}

static void
do_subscribe(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    cJSON *o = body_json(r, resp);
    if (!o)
        return;
    char sub[PX_ID_MAX + 1];
    const char *client = client_of(p, r, o, sub, sizeof sub, resp, 0, 0);
    const char *topic = client ? topic_of(o, resp) : NULL;
    if (!topic) {
        cJSON_Delete(o);
        return;
    }
    double t = p->cfg.threshold;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(o, "threshold");
    if (th && !cJSON_IsNull(th)) {
        if (!cJSON_IsNumber(th) || !(th->valuedouble >= 0.1 - 1e-9 && th->valuedouble <= 1.0)) {
            weft_http_reply_error(resp, 400, "threshold: expected a number in [0.1, 1.0]");
            cJSON_Delete(o);
            return;
        }
        t = th->valuedouble;
    }
    int rc = px_engine_subscribe(p->engine, client, topic, t, 0);
    if (rc < 0) {
        weft_http_reply_error(resp, 429, "too many subscriptions for this client or proxy");
        cJSON_Delete(o);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", "subscribed");
    cJSON_AddStringToObject(out, "client", client);
    cJSON_AddStringToObject(out, "topic", topic);
    cJSON_AddNumberToObject(out, "threshold", t);
    cJSON_Delete(o);
    weft_http_reply_json(resp, 200, out);
}

/* A client re-sending the same timestamped message gets the same id, and
 * REST answers it "deduplicated". */
void
px_message_id(const char *client, const char *topic, const char *ts, const uint8_t *m, size_t n,
              char out[65])
{
    uint8_t d[32] = {0};
    EVP_MD_CTX *st = EVP_MD_CTX_new();
    if (st == NULL || EVP_DigestInit_ex(st, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(st, client, strlen(client) + 1) != 1 ||
        EVP_DigestUpdate(st, topic, strlen(topic) + 1) != 1 ||
        EVP_DigestUpdate(st, ts, strlen(ts) + 1) != 1 || EVP_DigestUpdate(st, m, n) != 1 ||
        EVP_DigestFinal_ex(st, d, NULL) != 1)
        weft_panic("SHA-256 of a message id failed");
    EVP_MD_CTX_free(st);
    weft_hex_encode(d, sizeof d, out);
}

#define DEDUP_SLOTS 8192
static pthread_mutex_t dedup_mu = PTHREAD_MUTEX_INITIALIZER;
static char dedup_ids[DEDUP_SLOTS][65];

/* 1 when id was published recently (a small direct-mapped memory). */
static int
seen_recently(const char *id)
{
    unsigned slot =
        (unsigned)strtoul((char[9]){id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], 0},
                          NULL, 16) %
        DEDUP_SLOTS;
    pthread_mutex_lock(&dedup_mu);
    int dup = !strcmp(dedup_ids[slot], id);
    if (!dup)
        memcpy(dedup_ids[slot], id, 65);
    pthread_mutex_unlock(&dedup_mu);
    return dup;
}

static void
do_publish(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    cJSON *o = body_json(r, resp);
    if (!o)
        return;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    const cJSON *mlen = cJSON_GetObjectItemCaseSensitive(o, "message_length");
    size_t n = cJSON_IsString(msg) ? strlen(msg->valuestring) : 0;
    if (!cJSON_IsString(msg) && cJSON_IsNumber(mlen))
        n = mlen->valuedouble > 0 && mlen->valuedouble < 1e12 ? (size_t)mlen->valuedouble : 0;
    char sub[PX_ID_MAX + 1];
    const char *client = client_of(p, r, o, sub, sizeof sub, resp, n, 1);
    const char *topic = client ? topic_of(o, resp) : NULL;
    if (!topic)
        goto done;
    uint8_t *data = NULL;
    if (cJSON_IsString(msg)) {
        data = (uint8_t *)msg->valuestring;
    } else if (cJSON_IsNumber(mlen) && mlen->valuedouble >= 1 &&
               mlen->valuedouble == floor(mlen->valuedouble)) {
        if (n > (size_t)p->cfg.max_message)
            goto too_big;
        data = malloc(n); /* a generated message of that length (load tests) */
        if (!data) {
            weft_http_reply_error(resp, 500, "out of memory");
            goto done;
        }
        weft_rng g;
        weft_rng_seed(&g, weft_seed_from_os());
        weft_rng_bytes(&g, data, n);
    } else {
        weft_metric_inc(p->m.publish_errors);
        weft_http_reply_error(resp, 400, "either message or message_length must be provided");
        goto done;
    }
    if (n > (size_t)p->cfg.max_message) {
    too_big:
        weft_metric_inc(p->m.publish_errors);
        char why[160];
        snprintf(why, sizeof why, "message too large: %zu bytes, at most %lld", n,
                 p->cfg.max_message);
        weft_http_reply_error(resp, 413, why);
        if (data && data != (uint8_t *)(cJSON_IsString(msg) ? msg->valuestring : NULL))
            free(data);
        goto done;
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "timestamp");
    char tsbuf[64];
    if (cJSON_IsNumber(ts))
        snprintf(tsbuf, sizeof tsbuf, "%.0f", ts->valuedouble);
    else if (cJSON_IsString(ts))
        snprintf(tsbuf, sizeof tsbuf, "%.60s", ts->valuestring);
    else
        snprintf(tsbuf, sizeof tsbuf, "now:%lld:%u", (long long)weft_mono_ms(),
                 (unsigned)weft_seed_from_os());
    char id[65];
    px_message_id(client, topic, tsbuf, data, n, id);
    cJSON *out = cJSON_CreateObject();
    if (seen_recently(id)) {
        weft_metric_inc(p->m.dedup_publish);
        cJSON_AddStringToObject(out, "status", "deduplicated");
    } else {
        int rc = px_pool_publish(p->pool, topic, data, n);
        if (rc < 0) {
            weft_metric_inc(p->m.publish_errors);
            cJSON_Delete(out);
            if (rc == WEFT_ELIMIT) {
                weft_http_reply_error(resp, 503,
                                      "overloaded: every node's publish queue is full; "
                                      "retry");
                resp->retry_after = 1;
            } else {
                weft_http_reply_error(
                    resp, 503, rc == -ENOMEM ? "out of memory" : "no node available to publish to");
            }
            if (!cJSON_IsString(msg))
                free(data);
            goto done;
        }
        weft_metric_inc(p->m.published);
        weft_metric_observe(p->m.publish_size, (double)n);
        char lbl[PX_ID_MAX * 2 + 32], esc[PX_ID_MAX * 2 + 1];
        snprintf(lbl, sizeof lbl, "client_id=\"%s\"", weft_metrics_escape(client, esc, sizeof esc));
        weft_metric *pc = weft_metrics_counter(p->metrics, "published_messages_by_client_total",
                                               "Messages published, by client", lbl);
        if (pc)
            weft_metric_inc(pc);
        cJSON_AddStringToObject(out, "status", "published");
    }
    if (!cJSON_IsString(msg))
        free(data);
    cJSON_AddStringToObject(out, "topic", topic);
    cJSON_AddStringToObject(out, "message_id", id);
    weft_http_reply_json(resp, 200, out);
done:
    cJSON_Delete(o);
}

static void
do_topics(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    char client[PX_ID_MAX + 1];
    if (weft_http_query_get(r->query, r->query_len, "client_id", client, sizeof client) <= 0) {
        weft_http_reply_error(resp, 400, "missing client ID");
        return;
    }
    static char topics[64][PX_TOPIC_MAX + 1];
    size_t n = px_engine_topics(p->engine, client, topics, 64);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "client_id", client);
    cJSON *arr = cJSON_AddArrayToObject(o, "topics");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(topics[i]));
    cJSON_AddNumberToObject(o, "count", (double)n);
    weft_http_reply_json(resp, 200, o);
}

/* Health is polled hard (load balancers, wrk): sample the system at most
 * once a second. Only the HTTP thread calls this. */
static void
sysinfo_cached(weft_sysinfo *out)
{
    static weft_sysinfo last;
    static int64_t at = -1000000;
    int64_t now = weft_mono_ms();
    if (now - at >= 1000) {
        weft_sysinfo_sample(NULL, &last);
        at = now;
    }
    *out = last;
}

static void
do_health(proxy *p, weft_http_resp *resp)
{
    weft_sysinfo si;
    sysinfo_cached(&si);
    char cpu[32], mem[32], disk[32];
    snprintf(cpu, sizeof cpu, "%.2f", si.cpu_percent);
    snprintf(mem, sizeof mem, "%.2f", si.mem_percent);
    snprintf(disk, sizeof disk, "%.2f", si.disk_percent);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", atomic_load(&p->stopping) ? "stopping" : "ok");
    cJSON_AddStringToObject(o, "cpu_used", cpu);
    cJSON_AddStringToObject(o, "memory_used", mem);
    cJSON_AddStringToObject(o, "disk_used", disk);
    cJSON_AddStringToObject(o, "country", "unknown");
    cJSON_AddStringToObject(o, "country_iso", "");
    cJSON_AddNumberToObject(o, "nodes_connected", (double)px_pool_connected(p->pool));
    weft_http_reply_json(resp, 200, o);
}

static void
do_countries(proxy *p, weft_http_resp *resp)
{
    px_node_info info[PX_MAX_NODES];
    size_t n = px_pool_info(p->pool, info, PX_MAX_NODES);
    cJSON *o = cJSON_CreateObject();
    cJSON *names = cJSON_CreateObject(), *isos = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddStringToObject(names, info[i].addr,
                                info[i].country[0] ? info[i].country : "unknown");
        cJSON_AddStringToObject(isos, info[i].addr, info[i].country_iso);
    }
    cJSON_AddNumberToObject(o, "count", (double)n);
    cJSON_AddItemToObject(o, "countries", names);
    cJSON_AddItemToObject(o, "country_isos", isos);
    weft_http_reply_json(resp, 200, o);
}

static void
do_session(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    cJSON *o = body_json(r, resp);
    if (!o)
        return;
    char sub[PX_ID_MAX + 1];
    const char *client = client_of(p, r, o, sub, sizeof sub, resp, 0, 0);
    if (!client) {
        cJSON_Delete(o);
        return;
    }
    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(o, "expose_amount");
    size_t want = cJSON_IsNumber(amt) && amt->valuedouble >= 1 ? (size_t)amt->valuedouble : 1;
    px_node_info info[PX_MAX_NODES];
    size_t n = px_pool_info(p->pool, info, PX_MAX_NODES);
    uint8_t sid[16];
    if (weft_random_bytes(sid, sizeof sid) < 0) {
        cJSON_Delete(o);
        weft_http_reply_error(resp, 500, "no randomness for a session id");
        return;
    }
    char sidhex[33];
    weft_hex_encode(sid, sizeof sid, sidhex);
    int64_t now = (int64_t)time(NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "session_id", sidhex);
    cJSON *arr = cJSON_AddArrayToObject(out, "nodes");
    size_t k = 0;
    for (size_t i = 0; i < n && k < want; i++) {
        if (!info[i].healthy)
            continue;
        cJSON *nd = cJSON_CreateObject();
        const char *id = strstr(info[i].p2p, "/p2p/");
        cJSON_AddStringToObject(nd, "id", id ? id + 5 : info[i].addr);
        cJSON_AddStringToObject(nd, "address", info[i].addr);
        cJSON_AddStringToObject(nd, "transport", "grpc");
        cJSON_AddStringToObject(nd, "region",
                                info[i].country_iso[0] ? info[i].country_iso : "unknown");
        cJSON_AddStringToObject(nd, "ticket", sidhex);
        cJSON_AddNumberToObject(nd, "score", 1.0);
        cJSON_AddItemToArray(arr, nd);
        k++;
    }
    cJSON_AddNumberToObject(out, "expires_at", (double)(now + 3600));
    cJSON_AddNumberToObject(out, "refresh_after", (double)(now + 3000));
    cJSON_AddStringToObject(out, "error", k ? "" : "no healthy node");
    cJSON_Delete(o);
    weft_http_reply_json(resp, k ? 200 : 503, out);
}

static void
handle(void *user, const weft_http_req *r, weft_http_resp *resp)
{
    proxy *p = user;
    int64_t t0 = weft_mono_ms();
    if (weft_http_path_is(r, "/api/v1/health") && weft_http_method_is(r, "GET"))
        do_health(p, resp);
    else if (weft_http_path_is(r, "/api/v1/version") && weft_http_method_is(r, "GET")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", WEFT_VERSION);
        cJSON_AddStringToObject(o, "commit_hash", WEFT_COMMIT);
        weft_http_reply_json(resp, 200, o);
    } else if (weft_http_path_is(r, "/api/v1/publish") && weft_http_method_is(r, "POST"))
        do_publish(p, r, resp);
    else if (weft_http_path_is(r, "/api/v1/subscribe") && weft_http_method_is(r, "POST"))
        do_subscribe(p, r, resp);
    else if (weft_http_path_is(r, "/api/v1/topics") && weft_http_method_is(r, "GET"))
        do_topics(p, r, resp);
    else if (weft_http_path_is(r, "/api/v1/node-countries") && weft_http_method_is(r, "GET"))
        do_countries(p, resp);
    else if (weft_http_path_is(r, "/api/v1/session") && weft_http_method_is(r, "POST"))
        do_session(p, r, resp);
    else if (weft_http_path_is(r, "/metrics") && weft_http_method_is(r, "GET")) {
        size_t len = 0;
        char *s = weft_metrics_render(p->metrics, &len);
        resp->status = s ? 200 : 500;
        resp->content_type = WEFT_METRICS_CONTENT_TYPE;
        resp->body = s;
        resp->body_len = len;
    } else if (weft_http_path_is(r, "/api/v1/publish") ||
               weft_http_path_is(r, "/api/v1/subscribe") || weft_http_path_is(r, "/api/v1/session"))
        weft_http_reply_error(resp, 405, "method not allowed: expected POST");
    else
        weft_http_reply_error(resp, 404, "no such endpoint");
    weft_metric_observe(p->m.http_latency, (double)(weft_mono_ms() - t0) / 1000.0);
}

int
px_rest_start(proxy *p)
{
    weft_http_config hc = {
        .host = p->cfg.listen_ip,
        .port = (uint16_t)p->cfg.http_port,
        .max_body = (size_t)p->cfg.max_message * 2 + 65536, /* JSON escaping headroom */
        .handler = handle,
        .user = p,
        .ws_path = "/api/v1/ws",
        .ws = &px_ws_handlers,
        .ws_user = p,
        .ws_max_queued = (size_t)p->cfg.client_queue,
    };
    int err = 0;
    p->http = weft_http_start(&hc, &err);
    if (!p->http) {
        fprintf(stderr, "weft-proxy: REST on %s:%d (PROXY_PORT): cannot listen (%s)\n",
                p->cfg.listen_ip, p->cfg.http_port, weft_strerror(err));
        return err ? err : WEFT_EINVAL;
    }
    return 0;
}

void
px_rest_stop(proxy *p)
{
    weft_http_stop(p->http);
    p->http = NULL;
}
