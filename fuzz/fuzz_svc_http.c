/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_svc_http: the request helpers of the service HTTP server
 * (service/http/src/http_util.c) that read what clients send: query
 * strings (weft_http_query_get), the check on client names
 * (weft_text_ok), the path and method tests, and the JSON error bodies
 * (weft_http_reply_error) that echo client text.
 *
 * Input: byte 0 is the output capacity of the query lookup (1..256), then
 * the key up to the first NUL byte, then the query string (the rest,
 * which is also the message of the error body and the name checked).
 *
 * Oracles, written here from the form-encoding rules: the value found is
 * that of the first pair whose decoded key equals the key ('+' is a
 * space, "%XX" a byte, anything else itself), decoded the same way; -1
 * when no pair matches or the value does not fit; the value holds no NUL
 * byte (callers use it as a C string, so "%00" must not cut a client id
 * or a topic short); the output is always NUL-terminated within cap. A
 * value percent-encoded here and put into a query between fuzzed pairs
 * comes back exactly. The error body parses as {"error": message} with
 * the message intact. weft_text_ok agrees with its contract.
 */
#include "fuzz_form.h"

#include <cjson/cJSON.h>

#include "weft/svc_http.h"

static void
check_get(const char *q, size_t qn, const char *key, size_t cap)
{
    char *out = malloc(cap), *want = malloc(qn + 1);
    FZ_CHECK(out != NULL && want != NULL);
    memset(out, 'x', cap);
    int got = weft_http_query_get(q, qn, key, out, cap);
    long exp = model_get(q, qn, key, want);
    FZ_CHECK(memchr(out, 0, cap) != NULL); /* always terminated */
    if (exp >= 0 && (size_t)exp < cap && memchr(want, 0, (size_t)exp) == NULL) {
        FZ_CHECK(got == exp);
        FZ_CHECK(memcmp(out, want, (size_t)exp) == 0 && out[exp] == 0);
    } else {
        FZ_CHECK(got == -1);
        FZ_CHECK(out[0] == 0);
    }
    if (got >= 0)
        FZ_CHECK(strlen(out) == (size_t)got); /* no NUL inside */
    free(out);
    free(want);
}

static void
check_roundtrip(const char *q, size_t qn, const char *value, size_t vn)
{
    static const char hex[] = "0123456789ABCDEF";
    /* key "rt" (percent-encoded as "%72t" half of the time) after the fuzzed
     * pairs, which cannot match it once their own "rt" pairs are renamed */
    size_t cap = qn + 3 * vn + 16, o = 0;
    char *qq = malloc(cap);
    FZ_CHECK(qq != NULL);
    for (size_t i = 0; i < qn; i++)
        qq[o++] = q[i] == '&' ? ';' : q[i] == '%' || q[i] == '+' || q[i] == '=' ? '.' : q[i];
    if (o)
        qq[o++] = '&';
    if (vn & 1) {
        memcpy(qq + o, "%72t=", 5);
        o += 5;
    } else {
        memcpy(qq + o, "rt=", 3);
        o += 3;
    }
    for (size_t i = 0; i < vn; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == ' ') {
            qq[o++] = '+';
        } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '_') {
            qq[o++] = (char)c;
        } else {
            qq[o++] = '%';
            qq[o++] = hex[c >> 4];
            qq[o++] = hex[c & 15];
        }
    }
    char out[512];
    int got = weft_http_query_get(qq, o, "rt", out, sizeof out);
    /* the renamed prefix holds no '&' and no '=' and so is a single pair
     * named after all of it; it could only be called "rt" itself */
    if (qn == 2 && memcmp(q, "rt", 2) == 0) {
        free(qq);
        return;
    }
    if (vn < sizeof out && memchr(value, 0, vn) == NULL) {
        FZ_CHECK(got == (int)vn);
        FZ_CHECK(memcmp(out, value, vn) == 0);
    } else {
        FZ_CHECK(got == -1);
    }
    free(qq);
}

static void
check_error_body(const char *msg)
{
    weft_http_resp resp = {0};
    weft_http_reply_error(&resp, 400, msg);
    FZ_CHECK(resp.status == 400 && resp.body != NULL);
    FZ_CHECK(strlen(resp.body) == resp.body_len);
    cJSON *o = cJSON_ParseWithLength(resp.body, resp.body_len);
    FZ_CHECK(cJSON_IsObject(o));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    FZ_CHECK(cJSON_IsString(e) && strcmp(e->valuestring, msg) == 0);
    FZ_CHECK(cJSON_GetArraySize(o) == 1);
    cJSON_Delete(o);
    free(resp.body);
}

static void
check_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    int ok = n >= 1 && n <= max;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            ok = 0;
    /* and UTF-8: the text is echoed in JSON, logs and metric labels */
    ok = ok && fz_utf8_ok((const uint8_t *)s, n);
    FZ_CHECK(weft_text_ok(s, max) == ok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    size_t cap = (size_t)fz_u8(&r) + 1;
    const uint8_t *nul = memchr(r.p, 0, r.n);
    size_t kn = nul ? (size_t)(nul - r.p) : 0;
    char *key = malloc(kn + 1);
    FZ_CHECK(key != NULL);
    memcpy(key, r.p, kn);
    key[kn] = 0;
    if (nul) {
        r.p += kn + 1;
        r.n -= kn + 1;
    }
    /* the query exactly as long as the input, so reads past it are seen */
    char *q = (char *)fz_dup(r.p, r.n);
    size_t qn = r.n;

    check_get(q, qn, key, cap);
    check_get(q, qn, "client_id", cap);
    check_get(q, qn, "topic", 257);
    check_roundtrip(key, kn, q, qn);

    char *msg = malloc(qn + 1);
    FZ_CHECK(msg != NULL);
    memcpy(msg, q, qn);
    msg[qn] = 0; /* up to the first NUL */
    check_error_body(msg);
    check_text_ok(msg, cap);
    check_text_ok(msg, 128);

    weft_http_req req = {.method = q, .method_len = qn, .path = q, .path_len = qn};
    FZ_CHECK(weft_http_path_is(&req, msg) == (strlen(msg) == qn));
    FZ_CHECK(weft_http_method_is(&req, "GET") == (qn == 3 && memcmp(q, "GET", 3) == 0));

    free(msg);
    free(q);
    free(key);
    return 0;
}
