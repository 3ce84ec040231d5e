/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxy_rest: the REST handler of weft-proxy (proxy/src/rest.c,
 * through px_rest_handle) with the JSON request bodies of publish,
 * subscribe and session, the topics query, and every other route, on a
 * proxy without a server: the real engine (proxy/src/engine.c) and
 * metrics, and recorders standing in for the node pool (pool.c) and the
 * gRPC sink (front_grpc.c), defined here so their objects are never
 * linked.
 *
 * Input: byte 0 picks the method (GET, POST, PUT, or the next bytes up to
 * a space), byte 1 the route (the proxy's, or a fuzzed path up to the
 * next space), byte 2 WEFT_MAX_MESSAGE_SIZE (byte * 64 + 1), byte 3 what
 * the pool does (bits 0..2: the publish's outcome, fuzz_proxy_fake.h;
 * bits 3..4: whether the nodes list a topic no client subscribed here;
 * bit 5: the server cannot defer the answer (out of memory); bits 6..7:
 * the length of the node's message id); then the query up to the first
 * NUL, then the body.
 *
 * A publish is answered as the server does it: the handler defers the
 * answer (weft_http_defer, --wrap'd here: a ticket per request), the
 * pool's completion runs after the handler returned (fz_pool_complete,
 * as the pool thread), and the answer arrives by weft_http_answer,
 * exactly once.
 *
 * Oracles, from spec/optimum-compat.md and the body parsed here with
 * cJSON: the status is one the API documents and every error body is
 * {"error": "..."}; a 200 publish handed the pool exactly one message,
 * whose topic is the body's "topic" (1..256 bytes without control
 * bytes), from a client_id of 1..128 such bytes, and whose bytes are the
 * body's "message", or, without one, exactly message_length generated
 * bytes, never more than WEFT_MAX_MESSAGE_SIZE (a larger request is 413);
 * a 200 "published" carries the id the node answered and is counted in
 * weft_proxy_published_total; a queued publish the node did not take is
 * 502 (refused) or 504 (no answer), one not queued 503 (with Retry-After
 * when the queues are full), a topic no node lists 404, and a deferral
 * that failed 500, none of these counted as published; any other answer
 * handed the pool nothing; a body with a NUL in a JSON string (escaped
 * \u0000 or a raw NUL byte: cJSON would cut the string there) is 400
 * naming NUL and the member; a 200 subscribe left the topic among the
 * client's topics with a threshold in [0.1, 1]; every 200 body is a JSON
 * object.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <math.h>

#include <cjson/cJSON.h>

#include "proxy.h"
#include "weft/common.h"
#include "weft/svc_http.h"
#include "weft/svc_ws.h"

#include "fuzz_proxy_fake.h"

/* ---- the gRPC sink (front_grpc.c is not linked) ----------------------------------------- */

int
px_grpc_sink_send(void *call, char *client, char *topic, char *msgid, uint8_t *payload, size_t len)
{
    (void)call, (void)client, (void)topic, (void)msgid, (void)payload, (void)len;
    return 0;
}

/* ---- deferred answers (service/http/src/http.c, --wrap'd) -------------------------------- */

/* One request per input: its resp, its ticket and the answer it got. */
static struct {
    weft_http_resp *resp; /* the handler's, while it runs */
    int fail;             /* weft_http_defer answers NULL (out of memory) */
    int taken, answered;
    weft_http_resp answer;
} g_tk;

weft_http_ticket *__wrap_weft_http_defer(weft_http_resp *resp);
int __wrap_weft_http_deferred(const weft_http_resp *resp);
void __wrap_weft_http_answer(weft_http_ticket *t, weft_http_resp *resp);

weft_http_ticket *
__wrap_weft_http_defer(weft_http_resp *resp)
{
    /* only inside the handler, on its own resp; once per request */
    FZ_CHECK(g_tk.resp != NULL && resp == g_tk.resp);
    if (g_tk.fail || g_tk.taken)
        return NULL;
    g_tk.taken = 1;
    return (weft_http_ticket *)&g_tk;
}

int
__wrap_weft_http_deferred(const weft_http_resp *resp)
{
    return resp == g_tk.resp && g_tk.taken;
}

void
__wrap_weft_http_answer(weft_http_ticket *t, weft_http_resp *resp)
{
    FZ_CHECK(t == (weft_http_ticket *)&g_tk && g_tk.taken && !g_tk.answered);
    g_tk.answered = 1;
    g_tk.answer = *resp;
    g_tk.answer.internal = NULL;
    resp->body = NULL; /* taken */
}

/* ---- the proxy ---------------------------------------------------------------------------- */

static proxy g_p;
static int g_pool_token;

static void
proxy_up(long long max_message)
{
    memset(&g_p, 0, sizeof g_p);
    g_p.cfg.threshold = 0.1;
    g_p.cfg.fallback_ms = 2000;
    g_p.cfg.max_message = max_message;
    g_p.cfg.client_queue = 1 << 20;
    g_p.cfg.max_clients = 65536;
    g_p.cfg.client_idle_ms = 600000;
    g_p.cfg.nnodes = 3;
    g_p.cfg.listen_ip = "127.0.0.1";
    g_p.cfg.cluster_id = "fuzz";
    g_p.pool = (px_pool *)&g_pool_token;
    fz_proxy_metrics(&g_p);
    g_p.engine = px_engine_new(&g_p);
    FZ_CHECK(g_p.engine != NULL);
}

static void
proxy_down(void)
{
    px_engine_free(g_p.engine);
    weft_metrics_free(g_p.metrics);
}

/* ---- oracles -------------------------------------------------------------------------------- */

static int
text_ok(const cJSON *s, size_t max)
{
    return cJSON_IsString(s) && weft_text_ok(s->valuestring, max);
}

static int
hexval(uint8_t c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A model of what a C-string JSON decoder loses: the first string of the
 * text (valid JSON or not) holding a NUL, as \u0000 or as a raw byte. 1
 * when there is one; *top is set to the index of its key's first byte
 * when it is the value of a member of the outermost object (else -1),
 * *klen to the key's length. */
static int
nul_string(const uint8_t *b, size_t n, long *top, size_t *klen)
{
    int depth = 0;
    long key = -1;
    size_t kl = 0;
    int after_colon = 0;
    *top = -1;
    *klen = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if (c == '{' || c == '[') {
            depth++;
            after_colon = 0;
        } else if (c == '}' || c == ']') {
            depth--;
            after_colon = 0;
        } else if (c == ',') {
            after_colon = 0;
        } else if (c == ':') {
            after_colon = 1;
        } else if (c == '"') {
            size_t s = i + 1;
            int nul = 0;
            for (i = s; i < n && b[i] != '"'; i++) {
                if (b[i] == 0)
                    nul = 1;
                if (b[i] == '\\' && i + 1 < n) {
                    if (b[i + 1] == 'u' && i + 5 < n) {
                        int v = 0, ok = 1;
                        for (size_t k = 2; k < 6; k++) {
                            int h = hexval(b[i + k]);
                            ok &= h >= 0;
                            v = v * 16 + (h < 0 ? 0 : h);
                        }
                        nul |= ok && v == 0;
                    }
                    i++;
                }
            }
            if (nul) {
                if (after_colon && depth == 1 && key >= 0) {
                    *top = key;
                    *klen = kl;
                }
                return 1;
            }
            if (!after_colon) { /* possibly a key */
                key = (long)s;
                kl = (i < n ? i : n) - s;
            }
        }
    }
    return 0;
}

static uint64_t
counter(const weft_metric *m)
{
    return (uint64_t)weft_metric_value(m);
}

static void
check_publish(const cJSON *body, const weft_http_resp *resp, long long max_message,
              uint64_t published_before)
{
    int status = resp->status;
    uint64_t published = counter(g_p.m.published) - published_before;
    if (rec.publishes) { /* the pool took it, or refused at once */
        FZ_CHECK(rec.publishes == 1);
        int expect = rec.outcome == FZ_POOL_FULL || rec.outcome == FZ_POOL_NO_NODE ||
                             rec.outcome == FZ_POOL_NOMEM
                         ? 503
                     : rec.outcome == FZ_POOL_TIMEOUT ? 504
                     : rec.outcome == FZ_POOL_REFUSED ? 502
                                                      : 200;
        FZ_CHECK(status == expect);
        if (rec.outcome == FZ_POOL_FULL)
            FZ_CHECK(resp->retry_after == 1);
        if (status == 503)
            FZ_CHECK(rec.completed == 0);
        else
            FZ_CHECK(rec.completed == 1);
    } else {
        FZ_CHECK(rec.completed == 0);
        /* not published: refused here, answered from the dedup table, or no deferral */
        FZ_CHECK(status != 502 && status != 503 && status != 504);
    }
    if (status == 404)
        FZ_CHECK(rec.assigned == 0 && rec.publishes == 0);
    if (status != 200) {
        FZ_CHECK(published == 0);
        return;
    }
    cJSON *out = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(out, "status");
    FZ_CHECK(cJSON_IsString(st));
    int dedup = strcmp(st->valuestring, "deduplicated") == 0;
    FZ_CHECK(dedup || strcmp(st->valuestring, "published") == 0);
    FZ_CHECK(rec.publishes == (dedup ? 0u : 1u));
    FZ_CHECK(published == (dedup ? 0u : 1u));
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(out, "message_id");
    FZ_CHECK(cJSON_IsString(id) && fz_is_hex_id(id->valuestring));
    if (!dedup) /* the id the node answered */
        FZ_CHECK(strcmp(id->valuestring, rec.id) == 0);
    const cJSON *ot = cJSON_GetObjectItemCaseSensitive(out, "topic");

    FZ_CHECK(cJSON_IsObject(body));
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(body, "topic");
    FZ_CHECK(text_ok(topic, PX_TOPIC_MAX));
    FZ_CHECK(cJSON_IsString(ot) && strcmp(ot->valuestring, topic->valuestring) == 0);
    cJSON_Delete(out);
    FZ_CHECK(text_ok(cJSON_GetObjectItemCaseSensitive(body, "client_id"), PX_ID_MAX));
    if (dedup)
        return;
    FZ_CHECK(strcmp(rec.topic, topic->valuestring) == 0);
    FZ_CHECK(rec.len <= (size_t)max_message);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(body, "message");
    if (!msg)
        msg = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (cJSON_IsString(msg)) {
        FZ_CHECK(rec.len == strlen(msg->valuestring) && rec.len >= 1);
        FZ_CHECK(memcmp(rec.data, msg->valuestring, rec.len) == 0);
    } else {
        const cJSON *ml = cJSON_GetObjectItemCaseSensitive(body, "message_length");
        FZ_CHECK(cJSON_IsNumber(ml));
        FZ_CHECK(ml->valuedouble >= 1 && ml->valuedouble == floor(ml->valuedouble));
        FZ_CHECK((double)rec.len == ml->valuedouble);
    }
}

static void
check_subscribe(const cJSON *body, int status, const weft_http_resp *resp)
{
    if (status != 200)
        return;
    FZ_CHECK(cJSON_IsObject(body));
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(body, "topic");
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(body, "client_id");
    FZ_CHECK(text_ok(topic, PX_TOPIC_MAX) && text_ok(client, PX_ID_MAX));
    FZ_CHECK(!px_topic_reserved(topic->valuestring));
    FZ_CHECK(fz_pool_carries(topic->valuestring)); /* the nodes carry it */
    static char topics[64][PX_TOPIC_MAX + 1];
    size_t n = px_engine_topics(g_p.engine, client->valuestring, topics, 64);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(topics[i], topic->valuestring) == 0;
    FZ_CHECK(found);
    cJSON *out = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(out, "threshold");
    FZ_CHECK(cJSON_IsNumber(th) && th->valuedouble >= 0.1 - 1e-9 && th->valuedouble <= 1.0);
    cJSON_Delete(out);
}

/* A JSON body with a NUL in a string: 400, the error says NUL and, for a
 * string member of the outermost object, starts with the member's name. */
static void
check_nul(const uint8_t *body, size_t len, const weft_http_resp *resp)
{
    long key;
    size_t klen;
    if (!nul_string(body, len, &key, &klen))
        return;
    FZ_CHECK(resp->status == 400);
    cJSON *o = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    FZ_CHECK(cJSON_IsString(e) && strstr(e->valuestring, "NUL") != NULL);
    /* a plain key of the parsed object: the error names it */
    int plain = key >= 0 && klen >= 1 && klen < 32;
    for (size_t i = 0; plain && i < klen; i++)
        plain = (body[key + (long)i] >= 'a' && body[key + (long)i] <= 'z') ||
                body[key + (long)i] == '_';
    cJSON *parsed = cJSON_ParseWithLength((const char *)body, len);
    if (plain && cJSON_IsObject(parsed))
        FZ_CHECK(strncmp(e->valuestring, (const char *)body + key, klen) == 0 &&
                 e->valuestring[klen] == ':');
    cJSON_Delete(parsed);
    cJSON_Delete(o);
}

/* ---- input ----------------------------------------------------------------------------------- */

static const char *const routes[] = {
    "/api/v1/publish", "/api/v1/subscribe", "/api/v1/session",        "/api/v1/topics",
    "/api/v1/health",  "/api/v1/version",   "/api/v1/node-countries", "/metrics",
    "/publish",        "/health",
};
#define NROUTES (sizeof routes / sizeof *routes)

/* The bytes up to the next stop (or the end), consumed with the stop. */
static size_t
take(fz_reader *r, uint8_t stop, const uint8_t **p)
{
    const uint8_t *e = memchr(r->p, stop, r->n);
    size_t n = e ? (size_t)(e - r->p) : r->n;
    *p = r->p;
    r->p += n + (e != NULL);
    r->n -= n + (e != NULL);
    return n;
}

static int
is(const weft_http_req *r, const char *path)
{
    return r->path_len == strlen(path) && memcmp(r->path, path, r->path_len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT"};
    static const int outcomes[8] = {FZ_POOL_FULL,    FZ_POOL_NO_NODE, FZ_POOL_OK, FZ_POOL_NOMEM,
                                    FZ_POOL_TIMEOUT, FZ_POOL_REFUSED, FZ_POOL_OK, FZ_POOL_OK};
    static const int assigned[4] = {1, 0, -1, 1};
    static const size_t id_lens[4] = {64, 1, 128, 40};
    fz_reader r = {data, size};
    uint8_t m = fz_u8(&r), route = fz_u8(&r);
    long long max_message = (long long)fz_u8(&r) * 64 + 1;
    uint8_t answer = fz_u8(&r);
    const uint8_t *p;
    weft_http_req req;
    memset(&req, 0, sizeof req);
    if (m % 4 < 3) {
        req.method = methods[m % 4];
        req.method_len = strlen(req.method);
    } else {
        req.method_len = take(&r, ' ', &p);
        req.method = (const char *)p;
    }
    if (route % 16 < NROUTES) {
        req.path = routes[route % 16];
        req.path_len = strlen(req.path);
    } else {
        req.path_len = take(&r, ' ', &p);
        req.path = (const char *)p;
    }
    req.query_len = take(&r, 0, &p);
    req.query = (const char *)p;
    /* the body exactly as long as the rest, so reads past it are seen */
    uint8_t *body = fz_dup(r.p, r.n);
    req.body = body;
    req.body_len = r.n;
    snprintf(req.remote_ip, sizeof req.remote_ip, "127.0.0.1");

    proxy_up(max_message);
    fz_pool_reset(outcomes[answer & 7], assigned[answer >> 3 & 3], id_lens[answer >> 6]);
    memset(&g_tk, 0, sizeof g_tk);
    g_tk.fail = answer >> 5 & 1;
    uint64_t published_before = counter(g_p.m.published);
    weft_http_resp hresp = {.status = 200};
    g_tk.resp = &hresp;
    px_rest_handle(&g_p, &req, &hresp);
    g_tk.resp = NULL;
    /* the server: a deferred request is answered by its ticket alone */
    weft_http_resp resp;
    if (g_tk.taken) {
        free(hresp.body);
        fz_pool_complete(&g_p); /* the pool thread, after the handler */
        FZ_CHECK(g_tk.answered);
        resp = g_tk.answer;
    } else {
        FZ_CHECK(!g_tk.answered && !rec.pending);
        resp = hresp;
    }
    FZ_CHECK(!rec.pending);

    int status = resp.status;
    static const int known[] = {200, 400, 403, 404, 405, 413, 429, 500, 502, 503, 504};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok |= status == known[i];
    FZ_CHECK(ok);
    FZ_CHECK(resp.body != NULL || resp.body_len == 0);
    if (resp.content_type == NULL) { /* JSON */
        cJSON *o = cJSON_ParseWithLength(resp.body, resp.body_len);
        FZ_CHECK(cJSON_IsObject(o));
        if (status >= 400 && status != 503)
            FZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "error")));
        cJSON_Delete(o);
    }
    cJSON *parsed = req.body_len ? cJSON_ParseWithLength((const char *)body, req.body_len) : NULL;
    int post = req.method_len == 4 && memcmp(req.method, "POST", 4) == 0;
    int is_pub = post && (is(&req, "/api/v1/publish") || is(&req, "/publish"));
    int is_sub = post && is(&req, "/api/v1/subscribe");
    int is_session = post && is(&req, "/api/v1/session");
    if (is_pub || is_sub || is_session)
        check_nul(body, req.body_len, &resp);
    if (is_pub)
        check_publish(parsed, &resp, max_message, published_before);
    else
        FZ_CHECK(rec.publishes == 0 && !g_tk.taken);
    if (is_sub)
        check_subscribe(parsed, status, &resp);
    cJSON_Delete(parsed);

    free(resp.body);
    free(body);
    proxy_down();
    return 0;
}
