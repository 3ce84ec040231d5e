/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the handlers of weft/svc_http.h, kept apart from the server
 * (http.c): query strings, JSON replies and error bodies, path and method
 * tests, JSON string escaping and the check applied to names clients send
 * (topics, client ids).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "weft/clock.h"
#include "weft/utf8.h"
#include "weft/encoding.h"
#include "weft/json.h"
#include "weft/log.h"
#include "weft/svc_http.h"

/* Decode one byte of a form-encoded span at *i; advances *i. */
static int
decode_at(const char *p, size_t n, size_t *i)
{
    char c = p[*i];
    if (c == '+') {
        (*i)++;
        return ' ';
    }
    if (c == '%' && *i + 2 < n) {
        int hi = weft_hex_digit((unsigned char)p[*i + 1]);
        int lo = weft_hex_digit((unsigned char)p[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            *i += 3;
            return hi << 4 | lo;
        }
    }
    (*i)++;
    return (unsigned char)c;
}

static int
key_matches(const char *p, size_t n, const char *key)
{
    size_t i = 0, k = 0;
    while (i < n) {
        int c = decode_at(p, n, &i);
        if (key[k] == '\0' || (unsigned char)key[k] != c)
            return 0;
        k++;
    }
    return key[k] == '\0';
}

int
weft_http_query_get(const char *query, size_t query_len, const char *key, char *out, size_t cap)
{
    size_t pos = 0;

    if (query == NULL || key == NULL || out == NULL || cap == 0)
        return -1;
    while (pos <= query_len) {
        const char *amp = memchr(query + pos, '&', query_len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : query_len;
        const char *pair = query + pos;
        size_t plen = end - pos;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;

        if (plen != 0 && key_matches(pair, klen, key)) {
            const char *v = eq != NULL ? eq + 1 : pair + plen;
            size_t vlen = eq != NULL ? plen - klen - 1 : 0, i = 0, o = 0;
            while (i < vlen) {
                int c = decode_at(v, vlen, &i);
                if (o + 1 >= cap || c == 0) { /* "%00" would cut the C string short */
                    out[0] = '\0';
                    return -1;
                }
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return (int)o;
        }
        if (amp == NULL)
            break;
        pos = end + 1;
    }
    out[0] = '\0';
    return -1;
}

int
weft_http_query_has(const char *query, size_t query_len, const char *key)
{
    size_t pos = 0;

    if (query == NULL || key == NULL)
        return 0;
    while (pos < query_len) {
        const char *amp = memchr(query + pos, '&', query_len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : query_len;
        const char *eq = memchr(query + pos, '=', end - pos);
        size_t klen = eq != NULL ? (size_t)(eq - (query + pos)) : end - pos;
        if (end > pos && key_matches(query + pos, klen, key))
            return 1;
        pos = end + 1;
    }
    return 0;
}

void
weft_http_reply(weft_http_resp *resp, int status, const char *content_type, const char *body)
{
    size_t n = body != NULL ? strlen(body) : 0;

    free(resp->body);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = malloc(n + 1);
    if (resp->body == NULL) {
        resp->status = 500;
        resp->body_len = 0;
        return;
    }
    if (n != 0)
        memcpy(resp->body, body, n);
    resp->body[n] = '\0';
    resp->body_len = n;
}

void
weft_http_reply_error(weft_http_resp *resp, int status, const char *msg)
{
    const char *m = msg != NULL ? msg : "";
    size_t n = strlen(m);
    char *buf = malloc(sizeof("{\"error\":\"\"}") + 6 * n); /* worst case: every byte \u00XX */
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = status;
    resp->content_type = NULL;
    if (buf == NULL) {
        resp->status = 500;
        return;
    }
    memcpy(buf, "{\"error\":\"", 10);
    size_t o = 10 + weft_json_escape(m, n, buf + 10);
    memcpy(buf + o, "\"}", 3);
    resp->body = buf;
    resp->body_len = o + 2;
}

void
weft_http_reply_json(weft_http_resp *resp, int status, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    free(resp->body);
    resp->content_type = NULL;
    resp->status = s ? status : 500;
    resp->body = s;
    resp->body_len = s ? strlen(s) : 0;
}

int
weft_http_path_is(const weft_http_req *r, const char *path)
{
    size_t n = strlen(path);
    return r->path_len == n && !memcmp(r->path, path, n);
}

void
weft_http_log_request(const char *module, const weft_http_req *r, const weft_http_resp *resp,
                      int64_t start_ns, const char *extra)
{
    if (!WEFT_LOG_ENABLED(WEFT_LOG_DEBUG))
        return;
    char path[256 * 6 + 1], query[256 * 6 + 1], method[16 * 6 + 1];
    weft_json_escape(r->method, r->method_len > 16 ? 16 : r->method_len, method);
    weft_json_escape(r->path, r->path_len > 256 ? 256 : r->path_len, path);
    weft_json_escape(r->query, r->query_len > 256 ? 256 : r->query_len, query);
    weft_log(WEFT_LOG_DEBUG, module,
             "msg=\"request\" method=%s path=\"%s\" query=\"%s\" status=%d req_bytes=%zu "
             "resp_bytes=%zu duration_us=%lld remote=%s%s%s",
             method, path, query, resp->status ? resp->status : 200, r->body_len, resp->body_len,
             (long long)((weft_mono_ns() - start_ns) / 1000), r->remote_ip, extra ? " " : "",
             extra ? extra : "");
}

int
weft_http_method_is(const weft_http_req *r, const char *method)
{
    size_t n = strlen(method);
    return r->method_len == n && !memcmp(r->method, method, n);
}

int
weft_text_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    /* Echoed in JSON, logs and metric labels: raw bytes that are not
     * UTF-8 would come out as mojibake or break a consumer's decoder. */
    return weft_utf8_valid((const uint8_t *)s, n);
}
