/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pc_modes.c: what weft-proxy-client does once its flags are parsed.
 *
 *   publish    POST /api/v1/publish {client_id, topic, message} (or the gRPC
 *              ProxyStream.Publish call with -grpc), -count times with
 *              -sleep between, printing one "Published ..." line each.
 *   subscribe  POST /api/v1/subscribe {client_id, topic, threshold}, then
 *              deliveries from the WebSocket (GET /api/v1/ws?client_id=ID,
 *              one JSON text frame each, payload base64 in "message") or
 *              from gRPC ProxyStream.ClientStream (first message {client_id,
 *              topic, type "subscribe"}; ProxyMessage with raw bytes back),
 *              printing one "Recv message: ..." line each.
 *
 * Output lines follow the guides' clients so their scripts can grep them;
 * diagnostics go to stderr prefixed "weft-proxy-client: ".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "go_text.h"
#include "pclient.h"
#include "proxy_stream.pb-c.h"
#include "weft/clock.h"
#include "weft/encoding.h"
#include "weft/svc_grpc_client.h"

#define M_STREAM "/proto.ProxyStream/ClientStream"
#define M_PUBLISH "/proto.ProxyStream/Publish"

/* Sleep ns unless stopped first. 0, or -EINTR. */
static int
nap(int64_t ns)
{
    int64_t end = weft_mono_ns() + ns;
    while (!pc_stop) {
        int64_t left = end - weft_mono_ns();
        if (left <= 0)
            return 0;
        if (left > PC_POLL_MS * 1000000LL)
            left = PC_POLL_MS * 1000000LL;
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        nanosleep(&ts, NULL);
    }
    return -EINTR;
}

/* Report a REST answer that is not 2xx: the server's JSON error as is. */
void
pc_print_http_error(const char *what, const char *addr, const weft_httpc_resp *r)
{
    char body[1100];
    pc_printable((const uint8_t *)r->body, r->body_len, 1000, body, sizeof body);
    fprintf(stderr, "weft-proxy-client: %s on %s: HTTP %d: %s\n", what, addr, r->status,
            body[0] ? body : "(empty body)");
}

/* Parse a 2xx JSON object answer; NULL (after a message) when it is not. */
static cJSON *
answer_json(const char *what, const char *addr, const weft_httpc_resp *r)
{
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(o)) {
        char body[300];
        pc_printable((const uint8_t *)r->body, r->body_len, 200, body, sizeof body);
        fprintf(stderr, "weft-proxy-client: %s on %s: the answer is not a JSON object: %s\n", what,
                addr, body);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static const char *
json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
print_published(const pc_opts *o, const char *status, const char *id, int64_t took)
{
    char dur[48];
    go_format_duration(took, dur, sizeof dur);
    fputs("Published ", stdout);
    go_quote(stdout, (const uint8_t *)o->msg, strlen(o->msg));
    fputs(" to ", stdout);
    go_quote(stdout, (const uint8_t *)o->topic, strlen(o->topic));
    printf(" (status %s, message_id %s, took %s)\n", status, id, dur);
    fflush(stdout);
}

/* POST a JSON object to the proxy's REST API (-rest), with the token if
 * there is one. As weft_httpc_request. */
int
pc_rest_post(const pc_opts *o, const char *path, const char *json, weft_httpc_resp *r, char *err,
             size_t cap)
{
    char host[256], port[8];
    memset(r, 0, sizeof *r);
    int rc = weft_httpc_split_hostport(o->proxy, host, sizeof host, port, sizeof port, err, cap);
    if (rc < 0)
        return rc;
    weft_httpc_req q = {
        .method = "POST",
        .host = host,
        .port = port,
        .path = path,
        .bearer = o->token,
        .body = json,
        .body_len = strlen(json),
        .accept = "application/json",
        .user_agent = PC_USER_AGENT,
        .timeout_ms = PC_TIMEOUT_MS,
        .stop = &pc_stop,
    };
    return weft_httpc_request(&q, r, err, cap);
}

/* ---- publish ----------------------------------------------------------------- */

static int
publish_rest(const pc_opts *o)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "client_id", o->client_id);
    cJSON_AddStringToObject(req, "topic", o->topic);
    cJSON_AddStringToObject(req, "message", o->msg);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) {
        fprintf(stderr, "weft-proxy-client: out of memory\n");
        return 1;
    }
    int status = 0;
    for (long long i = 0; i < o->count && !pc_stop; i++) {
        if (i > 0 && nap(o->sleep_ns) < 0)
            break;
        char err[PC_ERRLEN];
        weft_httpc_resp r;
        int64_t t0 = weft_mono_ns();
        int rc = pc_rest_post(o, "/api/v1/publish", body, &r, err, sizeof err);
        int64_t took = weft_mono_ns() - t0;
        if (rc == -EINTR)
            break;
        if (rc < 0) {
            fprintf(stderr, "weft-proxy-client: publish to %s failed: %s\n", o->proxy, err);
            status = 1;
            break;
        }
        if (r.status < 200 || r.status > 299) {
            pc_print_http_error("publish", o->proxy, &r);
            weft_httpc_resp_free(&r);
            status = 1;
            break;
        }
        cJSON *a = answer_json("publish", o->proxy, &r);
        weft_httpc_resp_free(&r);
        if (!a) {
            status = 1;
            break;
        }
        const char *st = json_str(a, "status"), *id = json_str(a, "message_id");
        print_published(o, st ? st : "?", id ? id : "?", took);
        cJSON_Delete(a);
    }
    free(body);
    return status;
}

/* Connect ch within PC_TIMEOUT_MS, watching pc_stop. 0, -EINTR or -1. */
int
pc_grpc_ready(weft_grpc_channel *ch, const char *addr)
{
    int64_t end = weft_mono_ms() + PC_TIMEOUT_MS;
    while (!pc_stop) {
        if (weft_grpc_channel_wait_ready(ch, PC_POLL_MS) == 0)
            return 0;
        if (weft_mono_ms() >= end) {
            fprintf(stderr, "weft-proxy-client: cannot connect to gRPC %s within %d s\n", addr,
                    PC_TIMEOUT_MS / 1000);
            return -1;
        }
    }
    return -EINTR;
}

static int
publish_grpc(const pc_opts *o, weft_grpc_channel *ch, const weft_grpc_md *md, size_t nmd)
{
    Proto__PublishRequest pr;
    proto__publish_request__init(&pr);
    pr.client_id = o->client_id;
    pr.topic = o->topic;
    pr.message.data = (uint8_t *)o->msg;
    pr.message.len = strlen(o->msg);
    size_t n = proto__publish_request__get_packed_size(&pr);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fprintf(stderr, "weft-proxy-client: out of memory\n");
        return 1;
    }
    proto__publish_request__pack(&pr, buf);
    int status = 0;
    for (long long i = 0; i < o->count && !pc_stop; i++) {
        if (i > 0 && nap(o->sleep_ns) < 0)
            break;
        uint8_t *resp = NULL;
        size_t rlen = 0;
        weft_grpc_status st = {0};
        int64_t t0 = weft_mono_ns();
        int rc = weft_grpc_unary(ch, M_PUBLISH, md, nmd, buf, n, PC_TIMEOUT_MS, &resp, &rlen, &st);
        int64_t took = weft_mono_ns() - t0;
        if (rc < 0) {
            if (rc == WEFT_ECLOSED)
                fprintf(stderr, "weft-proxy-client: publish on gRPC %s failed: %s: %s\n", o->grpc,
                        weft_grpc_status_name(st.code), st.details);
            else
                fprintf(stderr, "weft-proxy-client: publish on gRPC %s failed: %s\n", o->grpc,
                        weft_strerror(rc));
            status = 1;
            break;
        }
        Proto__PublishResponse *r = proto__publish_response__unpack(NULL, rlen, resp);
        free(resp);
        if (!r) {
            fprintf(stderr, "weft-proxy-client: gRPC %s: undecodable PublishResponse\n", o->grpc);
            status = 1;
            break;
        }
        print_published(o, r->status && r->status[0] ? r->status : "?",
                        r->message_id && r->message_id[0] ? r->message_id : "?", took);
        proto__publish_response__free_unpacked(r, NULL);
    }
    free(buf);
    return status;
}

int
pc_publish_main(const pc_opts *o)
{
    if (!o->grpc)
        return publish_rest(o);
    int e = 0;
    weft_grpc_channel *ch = weft_grpc_channel_new(o->grpc, &e);
    if (!ch) {
        fprintf(stderr, "weft-proxy-client: gRPC channel to %s: %s\n", o->grpc, weft_strerror(e));
        return 1;
    }
    char authz[16400];
    weft_grpc_md md = {"authorization", authz};
    if (o->token)
        snprintf(authz, sizeof authz, "Bearer %s", o->token);
    int rc = pc_grpc_ready(ch, o->grpc);
    int status = rc == -EINTR ? 0 : rc < 0 ? 1 : publish_grpc(o, ch, &md, o->token ? 1 : 0);
    weft_grpc_channel_free(ch);
    return status;
}

/* ---- subscribe --------------------------------------------------------------- */

static int received;

static void
print_recv(const uint8_t *p, size_t len)
{
    printf("Recv message: [%d] [%lld %zu] ", ++received, (long long)weft_unix_ns(), len);
    fwrite(p, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* POST /api/v1/subscribe. 0 (thr: the threshold in force, as text), 1 on
 * failure (reported), or -EINTR. */
static int
subscribe_rest(const pc_opts *o, char *thr, size_t cap)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "client_id", o->client_id);
    cJSON_AddStringToObject(req, "topic", o->topic);
    if (o->threshold_set)
        cJSON_AddNumberToObject(req, "threshold", o->threshold);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    char err[PC_ERRLEN];
    weft_httpc_resp r;
    int rc = body ? pc_rest_post(o, "/api/v1/subscribe", body, &r, err, sizeof err)
                  : (snprintf(err, sizeof err, "out of memory"), -ENOMEM);
    free(body);
    if (rc == -EINTR)
        return -EINTR;
    if (rc < 0) {
        fprintf(stderr, "weft-proxy-client: subscribe on %s failed: %s\n", o->proxy, err);
        return 1;
    }
    if (r.status < 200 || r.status > 299) {
        pc_print_http_error("subscribe", o->proxy, &r);
        weft_httpc_resp_free(&r);
        return 1;
    }
    cJSON *a = answer_json("subscribe", o->proxy, &r);
    weft_httpc_resp_free(&r);
    if (!a)
        return 1;
    const char *st = json_str(a, "status");
    if (!st || strcmp(st, "subscribed")) {
        fprintf(stderr, "weft-proxy-client: subscribe on %s: unexpected status \"%s\"\n", o->proxy,
                st ? st : "(none)");
        cJSON_Delete(a);
        return 1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "threshold");
    if (cJSON_IsNumber(t))
        snprintf(thr, cap, "%g", t->valuedouble);
    else if (o->threshold_set)
        snprintf(thr, cap, "%g", o->threshold);
    else
        snprintf(thr, cap, "default");
    cJSON_Delete(a);
    return 0;
}

static void
print_subscribed(const pc_opts *o, const char *thr, const char *via)
{
    fputs("Subscribed to topic ", stdout);
    go_quote(stdout, (const uint8_t *)o->topic, strlen(o->topic));
    printf(" (threshold %s) via %s, waiting for messages...\n", thr, via);
    fflush(stdout);
}

/* One WebSocket delivery: the message JSON with the payload in base64. */
static void
ws_delivery(const uint8_t *m, size_t len)
{
    cJSON *o = cJSON_ParseWithLength((const char *)m, len);
    const char *b64 = cJSON_IsObject(o) ? json_str(o, "message") : NULL;
    if (!b64) {
        char show[200];
        pc_printable(m, len, 120, show, sizeof show);
        fprintf(stderr,
                "weft-proxy-client: skipped a delivery without a \"message\" string: "
                "%s\n",
                show);
        cJSON_Delete(o);
        return;
    }
    size_t bl = strlen(b64), cap = bl / 4 * 3 + 3;
    uint8_t *raw = malloc(cap);
    int n = raw ? weft_base64_decode(b64, bl, raw, cap) : -1;
    if (n < 0)
        fprintf(stderr, "weft-proxy-client: skipped a delivery whose \"message\" is not "
                        "base64\n");
    else
        print_recv(raw, (size_t)n);
    free(raw);
    cJSON_Delete(o);
}

static int
subscribe_ws(const pc_opts *o, const char *thr)
{
    char enc[3 * 1024 + 1], path[3 * 1024 + 64], err[PC_ERRLEN];
    if (pc_url_encode(o->client_id, enc, sizeof enc) < 0) {
        fprintf(stderr, "weft-proxy-client: the client id is too long\n");
        return 1;
    }
    snprintf(path, sizeof path, "/api/v1/ws?client_id=%s", enc);
    int rc;
    pc_ws *w = pc_ws_connect(o->proxy, path, o->token, &rc, err, sizeof err);
    if (!w) {
        if (rc == -EINTR)
            return 0;
        fprintf(stderr, "weft-proxy-client: WebSocket to %s: %s\n", o->proxy, err);
        return 1;
    }
    print_subscribed(o, thr, "websocket");
    int status = 0;
    while (o->count == 0 || received < o->count) {
        uint8_t *m;
        size_t len;
        int kind;
        rc = pc_ws_recv(w, &m, &len, &kind, -1, err, sizeof err);
        if (rc == -EINTR)
            break;
        if (rc <= 0) {
            fprintf(stderr, "weft-proxy-client: WebSocket to %s: %s\n", o->proxy, err);
            status = 1;
            break;
        }
        if (kind == PC_WS_TEXT)
            ws_delivery(m, len);
        else
            fprintf(stderr,
                    "weft-proxy-client: skipped a binary WebSocket message of %zu "
                    "bytes\n",
                    len);
        free(m);
    }
    pc_ws_close(w, 1000);
    return status;
}

static int
subscribe_grpc(const pc_opts *o, const char *thr)
{
    int e = 0, status = 1;
    weft_grpc_channel *ch = weft_grpc_channel_new(o->grpc, &e);
    weft_grpc_stream *s = NULL;
    if (!ch) {
        fprintf(stderr, "weft-proxy-client: gRPC channel to %s: %s\n", o->grpc, weft_strerror(e));
        return 1;
    }
    char authz[16400];
    weft_grpc_md md = {"authorization", authz};
    if (o->token)
        snprintf(authz, sizeof authz, "Bearer %s", o->token);
    int rc = pc_grpc_ready(ch, o->grpc);
    if (rc < 0) {
        status = rc == -EINTR ? 0 : 1;
        goto out;
    }
    s = weft_grpc_stream_start(ch, M_STREAM, &md, o->token ? 1 : 0, 0, WEFT_GRPC_WAIT_FOR_READY,
                               &e);
    if (!s) {
        fprintf(stderr, "weft-proxy-client: gRPC %s: cannot start ClientStream: %s\n", o->grpc,
                weft_strerror(e));
        goto out;
    }
    Proto__ProxyMessage first;
    proto__proxy_message__init(&first);
    first.client_id = o->client_id;
    first.topic = o->topic;
    first.type = (char *)"subscribe";
    uint8_t buf[2048];
    size_t n = proto__proxy_message__get_packed_size(&first);
    if (n > sizeof buf) {
        fprintf(stderr, "weft-proxy-client: client id and topic are too long\n");
        goto out;
    }
    proto__proxy_message__pack(&first, buf);
    if ((rc = weft_grpc_stream_send(s, buf, n, PC_TIMEOUT_MS)) < 0) {
        fprintf(stderr, "weft-proxy-client: gRPC %s: cannot send the subscription: %s\n", o->grpc,
                weft_strerror(rc));
        goto out;
    }
    print_subscribed(o, thr, "grpc");
    status = 0;
    while (!pc_stop && (o->count == 0 || received < o->count)) {
        uint8_t *m = NULL;
        size_t len = 0;
        rc = weft_grpc_stream_recv(s, &m, &len, PC_POLL_MS);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc <= 0) {
            const weft_grpc_status *st = weft_grpc_stream_status(s);
            if (rc == 0)
                fprintf(stderr, "weft-proxy-client: gRPC %s ended the stream: %s%s%s\n", o->grpc,
                        weft_grpc_status_name(st->code), st->details[0] ? ": " : "", st->details);
            else
                fprintf(stderr, "weft-proxy-client: gRPC %s: %s\n", o->grpc, weft_strerror(rc));
            status = 1;
            break;
        }
        Proto__ProxyMessage *pm = proto__proxy_message__unpack(NULL, len, m);
        free(m);
        if (!pm) {
            fprintf(stderr,
                    "weft-proxy-client: skipped an undecodable ProxyMessage of %zu "
                    "bytes\n",
                    len);
            continue;
        }
        if (pm->type && pm->type[0] && strcmp(pm->type, "message"))
            fprintf(stderr, "weft-proxy-client: skipped a ProxyMessage of type \"%.64s\"\n",
                    pm->type);
        else
            print_recv(pm->message.data, pm->message.len);
        proto__proxy_message__free_unpacked(pm, NULL);
    }
    if (status == 0)
        WEFT_IGNORE(weft_grpc_stream_close_send(s, 1000));
out:
    if (s) {
        weft_grpc_stream_cancel(s);
        weft_grpc_stream_free(s);
    }
    weft_grpc_channel_free(ch);
    return status;
}

int
pc_subscribe_main(const pc_opts *o)
{
    char thr[32];
    int rc = subscribe_rest(o, thr, sizeof thr);
    if (rc == -EINTR)
        return 0;
    if (rc)
        return rc;
    return o->grpc ? subscribe_grpc(o, thr) : subscribe_ws(o, thr);
}
