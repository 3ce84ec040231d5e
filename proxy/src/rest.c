/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's REST API on PROXY_PORT (spec/optimum-compat.md, "Proxy:
 * REST"): subscribe, publish, topics, session, health, version,
 * node-countries, metrics. Error bodies carry the strings the public test
 * suite looks for, in both its older and its newer wording ("invalid JSON",
 * "missing client ID" / "client_id is missing", "missing topic" / "topic is
 * missing", "message is missing", "either message or message_length must be
 * provided").
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
#include "weft/commit.h"
#include "weft/json.h"
#include "weft/encoding.h"
#include "weft/log.h"
#include "weft/rng.h"
#include "weft/svc_sysinfo.h"
#include "weft/svc_ws.h"

/* Parse the body as a JSON object; NULL after answering 400. */
static cJSON *
body_json(const weft_http_req *r, weft_http_resp *resp)
{
    /* cJSON keeps strings as C strings: "\u0000" (or a raw NUL byte, which
     * it accepts) would cut a topic or an id short (aliasing another one)
     * or empty a message. Refuse it, naming the member. */
    char key[64];
    if (r->body_len && weft_json_find_nul((const char *)r->body, r->body_len, key, sizeof key)) {
        char why[160];
        snprintf(why, sizeof why, "%s: expected no NUL byte (\\u0000) in a JSON string",
                 key[0] ? key : "body");
        weft_http_reply_error(resp, 400, why);
        return NULL;
    }
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
        weft_http_reply_error(
            resp, 400, "missing client ID: client_id is missing (expected a non-empty string)");
        return NULL;
    }
    if (!weft_text_ok(id, PX_ID_MAX)) {
        weft_http_reply_error(resp, 400,
                              "client_id: expected 1..128 bytes of UTF-8 without control "
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
        weft_http_reply_error(resp, 400,
                              "missing topic: topic is missing (expected a non-empty string)");
        return NULL;
    }
    if (!weft_text_ok(t->valuestring, PX_TOPIC_MAX)) {
        weft_http_reply_error(resp, 400,
                              "topic: expected 1..255 bytes of UTF-8 without control "
                              "characters");
        return NULL;
    }
    if (px_topic_reserved(t->valuestring)) {
        weft_http_reply_error(resp, 400,
                              "topic: names starting with \"" PX_RESERVED_PREFIX
                              "\" are reserved for the proxies");
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
        weft_http_reply_error(resp, 429,
                              "too many subscriptions: a client holds at most 64 topics and "
                              "the proxy carries at most 1024 topics");
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

/* A REST publish waiting for its node's reply (publish.c). */
struct pub_answer {
    proxy *p;
    weft_http_ticket *ticket;
    size_t size, req_bytes;
    int64_t t0ns; /* for the debug line, written when answered */
    char path[32], remote[64];
    char *topic, *client; /* stored after the struct */
};

/* The debug line of a deferred publish, with the answer's status. */
static void
log_answer(const struct pub_answer *pa, const weft_http_resp *resp)
{
    if (!WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
        return;
    weft_http_req r = {.method = "POST",
                       .method_len = 4,
                       .path = pa->path,
                       .path_len = strlen(pa->path),
                       .query = "",
                       .body_len = pa->req_bytes};
    snprintf(r.remote_ip, sizeof r.remote_ip, "%s", pa->remote);
    char extra[PX_TOPIC_MAX * 6 + 16];
    memcpy(extra, "topic=\"", 7);
    size_t k = weft_json_escape(pa->topic, strlen(pa->topic), extra + 7);
    memcpy(extra + 7 + k, "\"", 2);
    weft_http_log_request("rest", &r, resp, pa->t0ns, extra);
}

/* px_publish's answer, from any thread: the deferred HTTP reply. */
static void
answer_publish(void *user, int status, const char *text)
{
    struct pub_answer *pa = user;
    proxy *p = pa->p;
    weft_http_resp resp = {.status = 200};
    if (status < 0) {
        if (status != WEFT_EPROTO) /* the pool counted a refusal */
            px_stats_publish_error(p, status == -ETIMEDOUT    ? PX_PERR_LOST
                                      : status == WEFT_ELIMIT ? PX_PERR_OVERLOADED
                                                              : PX_PERR_NO_NODE);
        weft_http_reply_error(&resp,
                              status == WEFT_EPROTO  ? 502
                              : status == -ETIMEDOUT ? 504
                                                     : 503,
                              text);
        if (status == WEFT_ELIMIT)
            resp.retry_after = 1;
    } else {
        if (status == PX_PUB_SENT)
            px_stats_published(p, pa->client, pa->topic, pa->size);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "status",
                                status == PX_PUB_DEDUP ? "deduplicated" : "published");
        cJSON_AddStringToObject(out, "topic", pa->topic);
        cJSON_AddStringToObject(out, "message_id", text);
        weft_http_reply_json(&resp, 200, out);
    }
    log_answer(pa, &resp);
    weft_http_answer(pa->ticket, &resp);
    free(pa);
}

static void
do_publish(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    cJSON *o = body_json(r, resp);
    if (!o)
        return;
    /* the guides' clients send the payload as "message" or as "data" */
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    if (!msg)
        msg = cJSON_GetObjectItemCaseSensitive(o, "data");
    const cJSON *mlen = cJSON_GetObjectItemCaseSensitive(o, "message_length");
    size_t n = cJSON_IsString(msg) ? strlen(msg->valuestring) : 0;
    /* A length past the limit is refused as too large whatever its size
     * (2e12 once came out as an empty message): clamp it to max + 1. */
    double want = cJSON_IsNumber(mlen) ? mlen->valuedouble : 0;
    if (!cJSON_IsString(msg) && cJSON_IsNumber(mlen))
        n = want > (double)p->cfg.max_message ? (size_t)p->cfg.max_message + 1
            : want > 0                        ? (size_t)want
                                              : 0;
    char sub[PX_ID_MAX + 1];
    const char *client = client_of(p, r, o, sub, sizeof sub, resp, n, 1);
    const char *topic = client ? topic_of(o, resp) : NULL;
    if (!topic)
        goto done;
    uint8_t *data = NULL;
    if (cJSON_IsString(msg) && !msg->valuestring[0]) {
        px_stats_publish_error(p, PX_PERR_INVALID);
        weft_http_reply_error(resp, 400,
                              "message is missing: \"message\" (or \"data\") is empty; expected "
                              "1 or more bytes");
        goto done;
    }
    if (cJSON_IsString(msg)) {
        data = (uint8_t *)msg->valuestring;
    } else if (cJSON_IsNumber(mlen) && want >= 1 && want == floor(want)) {
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
        px_stats_publish_error(p, PX_PERR_INVALID);
        weft_http_reply_error(resp, 400,
                              "message is missing: either message or message_length must be "
                              "provided");
        goto done;
    }
    if (n > (size_t)p->cfg.max_message) {
    too_big:
        px_stats_publish_error(p, PX_PERR_TOO_LARGE);
        char why[160];
        if (!cJSON_IsString(msg))
            snprintf(why, sizeof why, "message_length %.0f: too large, at most %lld bytes", want,
                     p->cfg.max_message);
        else
            snprintf(why, sizeof why, "message too large: %zu bytes, at most %lld", n,
                     p->cfg.max_message);
        weft_http_reply_error(resp, 413, why);
        if (data && data != (uint8_t *)(cJSON_IsString(msg) ? msg->valuestring : NULL))
            free(data);
        goto done;
    }
    if (px_pool_topic_assigned(p->pool, topic) == 0) {
        px_stats_publish_error(p, PX_PERR_INVALID);
        char why[PX_TOPIC_MAX + 192];
        snprintf(why, sizeof why,
                 "topic not assigned: no subscription to \"%s\" through this proxy or on its "
                 "nodes; subscribe first",
                 topic);
        weft_http_reply_error(resp, 404, why);
        if (!cJSON_IsString(msg))
            free(data);
        goto done;
    }
    /* The id is the node's (the mesh id subscribers get): the answer is
     * deferred until a node replied; a retry with the same timestamp is
     * answered with the first publish's id. */
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "timestamp");
    char tsbuf[64];
    if (cJSON_IsNumber(ts))
        snprintf(tsbuf, sizeof tsbuf, "%.0f", ts->valuedouble);
    else if (cJSON_IsString(ts))
        snprintf(tsbuf, sizeof tsbuf, "%.60s", ts->valuestring);
    int has_ts = cJSON_IsNumber(ts) || cJSON_IsString(ts);
    size_t tl = strlen(topic), cl = strlen(client);
    struct pub_answer *pa = malloc(sizeof *pa + tl + cl + 2);
    weft_http_ticket *tk = pa ? weft_http_defer(resp) : NULL;
    if (!tk) {
        free(pa);
        px_stats_publish_error(p, PX_PERR_OVERLOADED);
        weft_http_reply_error(resp, 500, "out of memory");
    } else {
        pa->p = p;
        pa->ticket = tk;
        pa->size = n;
        pa->req_bytes = r->body_len;
        pa->t0ns = weft_mono_ns();
        snprintf(pa->path, sizeof pa->path, "%.*s", (int)(r->path_len < 31 ? r->path_len : 31),
                 r->path);
        snprintf(pa->remote, sizeof pa->remote, "%s", r->remote_ip);
        pa->topic = (char *)(pa + 1);
        pa->client = pa->topic + tl + 1;
        memcpy(pa->topic, topic, tl + 1);
        memcpy(pa->client, client, cl + 1);
        px_publish(p, client, topic, has_ts ? tsbuf : NULL, data, n, answer_publish, pa);
    }
    if (!cJSON_IsString(msg))
        free(data);
done:
    cJSON_Delete(o);
}

static void
do_topics(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    char client[PX_ID_MAX + 1];
    if (weft_http_query_get(r->query, r->query_len, "client_id", client, sizeof client) <= 0) {
        weft_http_reply_error(
            resp, 400, "missing client ID: client_id is missing (expected a non-empty string)");
        return;
    }
    /* A client's subscriptions are its own: with auth, only its token. */
    char sub[PX_ID_MAX + 1];
    if (p->cfg.enable_auth) {
        if (px_auth_check(p, r->authorization, r->authorization_len, sub, sizeof sub, 0, 0, resp))
            return;
        if (strcmp(sub, client)) {
            weft_http_reply_error(resp, 403, "client_id does not match the token's subject");
            return;
        }
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
    cJSON_AddStringToObject(o, "country", p->country);
    cJSON_AddStringToObject(o, "country_iso", p->country_iso);
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
    int64_t t0 = weft_mono_ms(), t0ns = weft_mono_ns();
    /* the guides' short paths (000/001) are aliases of the /api/v1 ones */
    int is_health = weft_http_path_is(r, "/api/v1/health") || weft_http_path_is(r, "/health");
    int is_publish = weft_http_path_is(r, "/api/v1/publish") || weft_http_path_is(r, "/publish");
    if (is_health && weft_http_method_is(r, "GET"))
        do_health(p, resp);
    else if (weft_http_path_is(r, "/api/v1/version") && weft_http_method_is(r, "GET")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", WEFT_VERSION);
        cJSON_AddStringToObject(o, "commit_hash", WEFT_COMMIT);
        weft_http_reply_json(resp, 200, o);
    } else if (is_publish && weft_http_method_is(r, "POST"))
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
    } else if (is_publish || weft_http_path_is(r, "/api/v1/subscribe") ||
               weft_http_path_is(r, "/api/v1/session"))
        weft_http_reply_error(resp, 405, "method not allowed: expected POST");
    else if (is_health)
        weft_http_reply_error(resp, 405, "method not allowed: expected GET");
    else
        weft_http_reply_error(resp, 404, "no such endpoint");
    weft_metric_observe(p->m.http_latency, (double)(weft_mono_ms() - t0) / 1000.0);
    if (WEFT_LOG_ENABLED(WEFT_LOG_DEBUG) && !weft_http_deferred(resp)) {
        /* the topic of a JSON body, for the debug line (a second parse,
         * made only at debug) */
        char extra[PX_TOPIC_MAX * 6 + 16] = "";
        cJSON *o = r->body_len ? cJSON_ParseWithLength((const char *)r->body, r->body_len) : NULL;
        const cJSON *t = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "topic") : NULL;
        if (cJSON_IsString(t)) {
            size_t n = strlen(t->valuestring);
            memcpy(extra, "topic=\"", 7);
            size_t k =
                weft_json_escape(t->valuestring, n > PX_TOPIC_MAX ? PX_TOPIC_MAX : n, extra + 7);
            memcpy(extra + 7 + k, "\"", 2);
        }
        cJSON_Delete(o);
        weft_http_log_request("rest", r, resp, t0ns, extra[0] ? extra : NULL);
    }
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
        .ws_path_alias = "/ws", /* ws://HOST/ws in the guides */
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

/* The handler without a server: fuzz/fuzz_proxy_rest.c calls it. */
void
px_rest_handle(proxy *p, const weft_http_req *r, weft_http_resp *resp)
{
    handle(p, r, resp);
}
