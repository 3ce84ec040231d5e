/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /api/v1/ws?client_id=ID (also ws://HOST/ws, as guides 000/001 write
 * it): a WebSocket per subscriber; one text frame per delivery (the message
 * JSON). With auth on the Authorization header must carry a valid token and
 * its subject is the client id; with auth off a client that names no id is
 * given one, announced in a first frame {"type":"connected","client_id":..}.
 *
 * On an open connection the client may send text frames
 *   {"type":"subscribe","topic":T[,"threshold":x]}  and
 *   {"type":"unsubscribe","topic":T}
 * each answered with one JSON frame: {"type":"subscribed"|"unsubscribed",
 * "status":...,"client_id","topic"[,"threshold"]} or {"type":"error",
 * "status":"error","error":"<field, value and what was expected>"}. Topics
 * subscribed this way (and not before over REST) belong to the connection:
 * they end with it. Bad frames are answered, counted
 * (weft_proxy_ws_bad_frames_total) and leave the connection open.
 *
 * A client that reads too slowly is closed with 1008 and the drop counted
 * (weft_proxy_dropped_total{reason="slow_consumer"}); others are unaffected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "proxy.h"
#include "weft/encoding.h"
#include "weft/json.h"
#include "weft/log.h"
#include "weft/rng.h"
#include "weft/svc_ws.h"

#define WS_MAX_TOPICS 64 /* frame subscriptions per connection (the engine's per-client cap) */

/* Per connection: the client id and the topics its frames subscribed. */
struct ws_client {
    char id[PX_ID_MAX + 1];
    char *topics[WS_MAX_TOPICS];
    size_t ntopics;
};

static int
ws_open(void *user, weft_ws_conn *c, const weft_http_req *req, weft_http_resp *reject)
{
    proxy *p = user;
    char id[PX_ID_MAX + 1];
    int generated = 0;
    if (p->cfg.enable_auth) {
        if (px_auth_check(p, req->authorization, req->authorization_len, id, sizeof id, 0, 0,
                          reject))
            return -1;
    } else {
        int n = weft_http_query_get(req->query, req->query_len, "client_id", id, sizeof id);
        if (n < 0 && req->query_len && strstr(req->query, "client_id=")) {
            weft_http_reply_error(reject, 400, "client_id: expected 1..128 characters");
            return -1;
        }
        if (n <= 0) {
            uint8_t r[8];
            if (weft_random_bytes(r, sizeof r) < 0) {
                weft_http_reply_error(reject, 503, "no randomness for a client id");
                return -1;
            }
            memcpy(id, "ws-", 3);
            weft_hex_encode(r, sizeof r, id + 3);
            n = (int)strlen(id);
            generated = 1;
        }
        for (int i = 0; i < n; i++)
            if ((unsigned char)id[i] < 0x20) {
                weft_http_reply_error(reject, 400, "client_id: control characters");
                return -1;
            }
    }
    struct ws_client *wc = calloc(1, sizeof *wc);
    if (!wc) {
        weft_http_reply_error(reject, 503, "out of memory");
        return -1;
    }
    snprintf(wc->id, sizeof wc->id, "%s", id);
    weft_ws_ref(c); /* the engine's reference, dropped at close */
    weft_ws_set_user(c, wc);
    if (px_engine_attach(p->engine, id, PX_SINK_WS, c) < 0) {
        weft_ws_set_user(c, NULL);
        weft_ws_unref(c);
        free(wc);
        weft_http_reply_error(reject, 429, "too many connections for this client");
        return -1;
    }
    weft_metric_gauge_add(p->m.ws_clients, 1);
    if (generated) {
        char hello[PX_ID_MAX + 64];
        int len =
            snprintf(hello, sizeof hello, "{\"type\":\"connected\",\"client_id\":\"%s\"}", id);
        WEFT_IGNORE(weft_ws_send_text(c, hello, (size_t)len));
    }
    weft_log(WEFT_LOG_DEBUG, "ws", "msg=\"connected\" client=\"%s\" generated_id=%d remote=%s", id,
             generated, req->remote_ip);
    return 0;
}

static void
answer(weft_ws_conn *c, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        WEFT_IGNORE(weft_ws_send_text(c, s, strlen(s)));
    cJSON_free(s);
}

static void
answer_error(proxy *p, weft_ws_conn *c, const char *why)
{
    weft_metric *m =
        weft_metrics_counter(p->metrics, "weft_proxy_ws_bad_frames_total",
                             "WebSocket client frames refused (answered, kept open)", NULL);
    if (m)
        weft_metric_inc(m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddStringToObject(o, "status", "error");
    cJSON_AddStringToObject(o, "error", why);
    answer(c, o);
}

static int
has_topic(const struct ws_client *wc, const char *topic)
{
    for (size_t i = 0; i < wc->ntopics; i++)
        if (!strcmp(wc->topics[i], topic))
            return (int)i;
    return -1;
}

/* Whether the engine has client subscribed to topic already. */
static int
client_has(proxy *p, const char *client, const char *topic)
{
    static char topics[WS_MAX_TOPICS][PX_TOPIC_MAX + 1]; /* the HTTP thread's only */
    size_t n = px_engine_topics(p->engine, client, topics, WS_MAX_TOPICS);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(topics[i], topic))
            return 1;
    return 0;
}

static void
ws_message(void *user, weft_ws_conn *c, int is_text, const uint8_t *data, size_t len)
{
    proxy *p = user;
    struct ws_client *wc = weft_ws_user(c);
    if (!wc)
        return;
    if (!is_text) {
        answer_error(p, c, "frame: expected a text frame with a JSON object");
        return;
    }
    /* as REST bodies: a NUL in a string would cut the topic short */
    char key[64];
    if (weft_json_find_nul((const char *)data, len, key, sizeof key)) {
        char nul[160];
        snprintf(nul, sizeof nul, "%s: expected no NUL byte (\\u0000) in a JSON string",
                 key[0] ? key : "message");
        answer_error(p, c, nul);
        return;
    }
    cJSON *o = cJSON_ParseWithLength((const char *)data, len);
    const cJSON *type = o ? cJSON_GetObjectItemCaseSensitive(o, "type") : NULL;
    const cJSON *topic = o ? cJSON_GetObjectItemCaseSensitive(o, "topic") : NULL;
    const cJSON *th = o ? cJSON_GetObjectItemCaseSensitive(o, "threshold") : NULL;
    char why[PX_TOPIC_MAX + 160];
    int sub = cJSON_IsString(type) && !strcmp(type->valuestring, "subscribe");
    int unsub = cJSON_IsString(type) && !strcmp(type->valuestring, "unsubscribe");
    double t = p->cfg.threshold;
    if (!cJSON_IsObject(o)) {
        answer_error(p, c,
                     "invalid JSON: expected an object {\"type\":\"subscribe\",\"topic\":...}");
        goto out;
    }
    if (!sub && !unsub) {
        snprintf(why, sizeof why, "type: \"%.40s\" is not \"subscribe\" or \"unsubscribe\"",
                 cJSON_IsString(type) ? type->valuestring : "(missing)");
        answer_error(p, c, why);
        goto out;
    }
    if (!cJSON_IsString(topic) || !topic->valuestring[0]) {
        answer_error(p, c, "missing topic: \"topic\" must be a non-empty string");
        goto out;
    }
    if (!weft_text_ok(topic->valuestring, PX_TOPIC_MAX)) {
        answer_error(p, c, "topic: expected 1..256 characters without control characters");
        goto out;
    }
    if (sub && th && !cJSON_IsNull(th)) {
        if (!cJSON_IsNumber(th) || !(th->valuedouble >= 0.1 - 1e-9 && th->valuedouble <= 1.0)) {
            answer_error(p, c, "threshold: expected a number in [0.1, 1.0]");
            goto out;
        }
        t = th->valuedouble;
    }
    const char *tp = topic->valuestring;
    int at = has_topic(wc, tp);
    cJSON *r = cJSON_CreateObject();
    if (sub) {
        char *dup = at < 0 && wc->ntopics < WS_MAX_TOPICS ? strdup(tp) : NULL;
        if (at < 0 && !dup) {
            cJSON_Delete(r);
            answer_error(p, c, "too many subscriptions on this connection (at most 64)");
            goto out;
        }
        int had_before = at < 0 && client_has(p, wc->id, tp);
        if (px_engine_subscribe(p->engine, wc->id, tp, t, 0) < 0) {
            free(dup);
            cJSON_Delete(r);
            answer_error(p, c, "too many subscriptions for this client or proxy");
            goto out;
        }
        /* A topic the client had already (a REST subscription) is not this
         * connection's to end at close. */
        if (dup && !had_before)
            wc->topics[wc->ntopics++] = dup;
        else
            free(dup);
        cJSON_AddStringToObject(r, "type", "subscribed");
        cJSON_AddStringToObject(r, "status", "subscribed");
    } else {
        int had = px_engine_unsubscribe(p->engine, wc->id, tp) == 0;
        if (at >= 0) {
            free(wc->topics[at]);
            wc->topics[at] = wc->topics[--wc->ntopics];
        }
        cJSON_AddStringToObject(r, "type", "unsubscribed");
        cJSON_AddStringToObject(r, "status", had ? "unsubscribed" : "not subscribed");
    }
    cJSON_AddStringToObject(r, "client_id", wc->id);
    cJSON_AddStringToObject(r, "topic", tp);
    if (sub)
        cJSON_AddNumberToObject(r, "threshold", t);
    weft_log(WEFT_LOG_DEBUG, "ws", "msg=\"%s\" client=\"%s\" topic=\"%s\" bytes=%zu",
             sub ? "subscribe" : "unsubscribe", wc->id, tp, len);
    answer(c, r);
out:
    cJSON_Delete(o);
}

static void
ws_close(void *user, weft_ws_conn *c, int code)
{
    proxy *p = user;
    struct ws_client *wc = weft_ws_user(c);
    if (!wc)
        return;
    if (code == WEFT_WS_POLICY)
        weft_metric_inc(p->m.dropped_slow);
    px_engine_detach(p->engine, wc->id, PX_SINK_WS, c);
    for (size_t i = 0; i < wc->ntopics; i++) {
        WEFT_IGNORE(px_engine_unsubscribe(p->engine, wc->id, wc->topics[i]));
        free(wc->topics[i]);
    }
    weft_metric_gauge_add(p->m.ws_clients, -1);
    weft_log(WEFT_LOG_DEBUG, "ws", "msg=\"closed\" client=\"%s\" code=%d", wc->id, code);
    weft_ws_set_user(c, NULL);
    free(wc);
    weft_ws_unref(c);
}

const weft_ws_handlers px_ws_handlers = {
    .on_open = ws_open, .on_message = ws_message, .on_close = ws_close};
