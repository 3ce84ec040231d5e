/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON Web Key Sets (weft/svc_jwks.h): parsing, with every key checked
 * before it is kept, and loading from a file or an http:// URL.
 *
 * A key is kept only if it is an RSA signing key fit for RS256 (kty, use,
 * alg, a 2048..16384-bit modulus, an odd exponent); everything else is
 * skipped with a note saying why. cjose gets only the public members (kty,
 * n, e), so a private key in the set never becomes a signing key here.
 *
 * The http:// loader is one GET through the shared HTTP client
 * (weft/svc_httpc.h) with a 5 s deadline and the body capped at
 * WEFT_JWKS_MAX_BYTES.
 *
 * Also here, for jwt.c as well: the error and quoting helpers of
 * auth_priv.h.
 */
#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/encoding.h"
#include "weft/svc_httpc.h"
#include "weft/svc_jwks.h"
#include "auth_priv.h"

#define NOTES_MAX 4096
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 16384
#define HTTP_TIMEOUT_MS 5000
#define HTTP_HEAD_MAX 65536

/* ---- helpers jwt.c shares (auth_priv.h) ----------------------------------- */

int
auth_fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void
auth_quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 48) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = 0;
}

unsigned char *
auth_b64url_dup(const char *in, size_t len, size_t *n, int *nomem)
{
    *nomem = 0;
    size_t room = len / 4 * 3 + 2;
    unsigned char *out = malloc(room + 1);
    if (!out) {
        *nomem = 1;
        return NULL;
    }
    int got = weft_base64url_decode(in, len, out, room);
    if (got < 0) {
        free(out);
        return NULL;
    }
    out[got] = 0;
    *n = (size_t)got;
    return out;
}

int
auth_members(const cJSON *obj, const char *name)
{
    int n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, name) == 0)
            n++;
    return n;
}

/* ---- key sets --------------------------------------------------------- */

static void note(weft_jwks *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(weft_jwks *k, const char *fmt, ...)
{
    if (!k->notes || k->notes_len + 2 >= NOTES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(k->notes + k->notes_len, NOTES_MAX - k->notes_len - 1, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    k->notes_len += (size_t)w;
    if (k->notes_len > NOTES_MAX - 2)
        k->notes_len = NOTES_MAX - 2;
    k->notes[k->notes_len++] = '\n';
    k->notes[k->notes_len] = 0;
}

void
weft_jwks_free(weft_jwks *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        cjose_jwk_release(k->keys[i].jwk);
        free(k->keys[i].kid);
    }
    free(k->keys);
    free(k->notes);
    free(k);
}

size_t
weft_jwks_count(const weft_jwks *k)
{
    return k ? k->n : 0;
}

const char *
weft_jwks_notes(const weft_jwks *k)
{
    return k && k->notes ? k->notes : "";
}

/* Bits of a big-endian unsigned integer. */
static size_t
bit_length(const unsigned char *p, size_t n)
{
    while (n && !*p) {
        p++;
        n--;
    }
    if (!n)
        return 0;
    size_t bits = 8 * (n - 1);
    for (unsigned v = p[0]; v; v >>= 1)
        bits++;
    return bits;
}

/* A string member, or NULL if absent; *bad set if present but not a
 * string or repeated. */
static const char *
str_member(const cJSON *obj, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return NULL;
    if (!cJSON_IsString(v) || auth_members(obj, name) > 1) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

/* Check one JWK and, if it is a usable RS256 key, add it. Returns -ENOMEM
 * or 0 (kept or skipped with a note). */
static int
add_key(weft_jwks *k, const cJSON *j, size_t idx)
{
    char label[320], q[256];
    if (!cJSON_IsObject(j)) {
        note(k, "key %zu: not a JSON object", idx);
        return 0;
    }
    int bad = 0;
    const char *kid = str_member(j, "kid", &bad);
    if (bad) {
        note(k, "key %zu: kid is not a string", idx);
        return 0;
    }
    if (kid) {
        auth_quote(kid, strlen(kid), q, sizeof q);
        snprintf(label, sizeof label, "key %zu (kid \"%s\")", idx, q);
    } else {
        snprintf(label, sizeof label, "key %zu", idx);
    }
    const char *kty = str_member(j, "kty", &bad);
    const char *use = str_member(j, "use", &bad);
    const char *alg = str_member(j, "alg", &bad);
    const char *n64 = str_member(j, "n", &bad);
    const char *e64 = str_member(j, "e", &bad);
    if (bad) {
        note(k, "%s: kty, use, alg, n or e is not a string or is repeated", label);
        return 0;
    }
    if (!kty) {
        note(k, "%s: no kty", label);
        return 0;
    }
    if (strcmp(kty, "RSA") != 0) {
        auth_quote(kty, strlen(kty), q, sizeof q);
        note(k, "%s: kty %s, want RSA", label, q);
        return 0;
    }
    if (use && strcmp(use, "sig") != 0) {
        auth_quote(use, strlen(use), q, sizeof q);
        note(k, "%s: use %s, want sig", label, q);
        return 0;
    }
    if (alg && strcmp(alg, "RS256") != 0) {
        auth_quote(alg, strlen(alg), q, sizeof q);
        note(k, "%s: alg %s, want RS256", label, q);
        return 0;
    }
    if (!n64 || !e64) {
        note(k, "%s: RSA key without n or e", label);
        return 0;
    }
    if (k->n >= MAX_KEYS) {
        note(k, "%s: more than %d keys, ignored", label, MAX_KEYS);
        return 0;
    }

    int nomem;
    size_t nlen, elen;
    unsigned char *nb = auth_b64url_dup(n64, strlen(n64), &nlen, &nomem);
    if (!nb) {
        if (nomem)
            return -ENOMEM;
        note(k, "%s: n is not base64url", label);
        return 0;
    }
    size_t bits = bit_length(nb, nlen);
    free(nb);
    unsigned char *eb = auth_b64url_dup(e64, strlen(e64), &elen, &nomem);
    if (!eb) {
        if (nomem)
            return -ENOMEM;
        note(k, "%s: e is not base64url", label);
        return 0;
    }
    size_t ebits = bit_length(eb, elen);
    int e_odd = elen && (eb[elen - 1] & 1);
    free(eb);
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
        note(k, "%s: modulus of %zu bits, want %d..%d", label, bits, MIN_RSA_BITS, MAX_RSA_BITS);
        return 0;
    }
    if (ebits < 2 || ebits > 64 || !e_odd) {
        note(k, "%s: bad public exponent", label);
        return 0;
    }

    /* hand cjose only the public members, so a private key in the set
     * never becomes a signing key here */
    int rc = -ENOMEM;
    char *pub = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "kty", "RSA") || !cJSON_AddStringToObject(o, "n", n64) ||
        !cJSON_AddStringToObject(o, "e", e64))
        goto out;
    pub = cJSON_PrintUnformatted(o);
    if (!pub)
        goto out;
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_jwk_import(pub, strlen(pub), &cerr);
    if (!jwk) {
        if (cerr.code == CJOSE_ERR_NO_MEMORY)
            goto out;
        note(k, "%s: not a valid RSA key (%s)", label, cerr.message ? cerr.message : "cjose");
        rc = 0;
        goto out;
    }
    char *kidcopy = NULL;
    if (kid && !(kidcopy = strdup(kid))) {
        cjose_jwk_release(jwk);
        goto out;
    }
    k->keys[k->n].jwk = jwk;
    k->keys[k->n].kid = kidcopy;
    k->n++;
    rc = 0;
out:
    free(pub);
    cJSON_Delete(o);
    return rc;
}

weft_jwks *
weft_jwks_parse(const char *json, size_t len, char *err, size_t cap)
{
    if (!json)
        return (void)auth_fail(err, cap, 0, "JWKS: no document"), NULL;
    if (len > WEFT_JWKS_MAX_BYTES)
        return (void)auth_fail(err, cap, 0, "JWKS: %zu bytes, max %d", len, WEFT_JWKS_MAX_BYTES),
               NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        auth_fail(err, cap, 0, "JWKS: invalid JSON near byte %zu", at);
        return NULL;
    }
    weft_jwks *k = calloc(1, sizeof *k);
    if (!k || !(k->notes = calloc(1, NOTES_MAX)) || !(k->keys = calloc(MAX_KEYS, sizeof *k->keys)))
        goto nomem;

    const cJSON *keys =
        cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "keys") : NULL;
    if (keys) {
        if (!cJSON_IsArray(keys) || auth_members(root, "keys") > 1) {
            auth_fail(err, cap, 0, "JWKS: \"keys\" is not an array");
            goto fail;
        }
        size_t i = 0;
        for (const cJSON *j = keys->child; j; j = j->next, i++)
            if (add_key(k, j, i) < 0)
                goto nomem;
    } else if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "kty")) {
        if (add_key(k, root, 0) < 0)
            goto nomem;
    } else {
        auth_fail(err, cap, 0, "JWKS: no \"keys\" array");
        goto fail;
    }
    if (!k->n) {
        /* the first reason is usually the whole story */
        size_t l = strcspn(k->notes, "\n");
        auth_fail(err, cap, 0, "JWKS: no usable RS256 key%s%.*s", l ? " (" : "", (int)l, k->notes);
        if (l && err && cap > 1 && strlen(err) + 1 < cap)
            strcat(err, ")");
        goto fail;
    }
    cJSON_Delete(root);
    return k;
nomem:
    auth_fail(err, cap, 0, "JWKS: out of memory");
fail:
    cJSON_Delete(root);
    weft_jwks_free(k);
    return NULL;
}

weft_jwks *
weft_jwks_load_file(const char *path, char *err, size_t cap)
{
    char e[AUTH_ERR], eb[128];
    if (!path || !*path)
        return (void)auth_fail(err, cap, 0, "JWKS file: no path given"), NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        auth_fail(err, cap, 0, "JWKS file %s: %s", path, strerror_r(errno, eb, sizeof eb));
        return NULL;
    }
    size_t cap_buf = 16384, len = 0;
    char *buf = malloc(cap_buf);
    weft_jwks *k = NULL;
    if (!buf) {
        auth_fail(err, cap, 0, "JWKS file %s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len == cap_buf) {
            if (cap_buf > WEFT_JWKS_MAX_BYTES) {
                auth_fail(err, cap, 0, "JWKS file %s: larger than %d bytes", path,
                          WEFT_JWKS_MAX_BYTES);
                goto out;
            }
            char *nb = realloc(buf, cap_buf * 2);
            if (!nb) {
                auth_fail(err, cap, 0, "JWKS file %s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap_buf *= 2;
        }
        ssize_t r = read(fd, buf + len, cap_buf - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            auth_fail(err, cap, 0, "JWKS file %s: %s", path, strerror_r(errno, eb, sizeof eb));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > WEFT_JWKS_MAX_BYTES) {
        auth_fail(err, cap, 0, "JWKS file %s: larger than %d bytes", path, WEFT_JWKS_MAX_BYTES);
        goto out;
    }
    k = weft_jwks_parse(buf, len, e, sizeof e);
    if (!k)
        auth_fail(err, cap, 0, "%s: %s", path, e);
out:
    free(buf);
    close(fd);
    return k;
}

/* ---- http:// loading -------------------------------------------------- */

weft_jwks *
weft_jwks_load_url(const char *url, char *err, size_t cap)
{
    char e[WEFT_HTTPC_ERR];
    if (!url)
        return (void)auth_fail(err, cap, 0, "JWKS URL: none given"), NULL;
    if (strlen(url) > 2048)
        return (void)auth_fail(err, cap, 0, "JWKS URL: longer than 2048 bytes"), NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        return (void)auth_fail(err, cap, 0,
                               "https JWKS URLs are fetched by weft_jwks_load, not here"),
               NULL;
    /* Chunked answers have always been accepted here, so ask for them. */
    weft_httpc_req opts = {
        .accept = "application/json",
        .user_agent = "weft-proxy",
        .timeout_ms = HTTP_TIMEOUT_MS,
        .max_head = HTTP_HEAD_MAX,
        .max_body = WEFT_JWKS_MAX_BYTES,
        .flags = WEFT_HTTPC_CHUNKED,
    };
    weft_httpc_resp r;
    int rc = weft_httpc_get(url, &opts, &r, e, sizeof e);
    if (rc == WEFT_EINVAL)
        return (void)auth_fail(err, cap, 0, "JWKS: %s", e), NULL;
    if (rc < 0)
        return (void)auth_fail(err, cap, 0, "JWKS %s: %s", url, e), NULL;
    weft_jwks *k = NULL;
    if (r.status != 200)
        auth_fail(err, cap, 0, "JWKS %s: HTTP status %d, want 200", url, r.status);
    else if (!(k = weft_jwks_parse(r.body, r.body_len, e, sizeof e)))
        auth_fail(err, cap, 0, "%s: %s", url, e);
    weft_httpc_resp_free(&r);
    return k;
}
