/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RS256 JWT verification against a JWKS (weft/svc_jwt.h).
 *
 * cjose does the RSA work: each kept key is a public cjose JWK, and a token
 * is checked with cjose_jws_import + cjose_jws_verify. Everything around it
 * is done here, strictly, before cjose sees the token: the compact form is
 * split and its alphabet checked, the header is decoded and its alg must be
 * RS256 (cjose would otherwise verify whatever alg the token names). After
 * the import the alg cjose parsed is checked again, so a header that two
 * JSON parsers could read differently (a repeated "alg") cannot slip
 * through; repeated members are refused outright anyway.
 *
 * The claims are read (cJSON) only from the payload cjose returns after the
 * signature checked out.
 *
 * A JWKS is immutable after loading; verification only reads it, and
 * cjose_jws_verify only reads the key (OpenSSL's RSA public operation is
 * thread-safe), so verifies run concurrently without locks.
 *
 * The http:// loader is one GET through the shared HTTP client
 * (weft/svc_httpc.h) with a 5 s deadline and the body capped at
 * WEFT_JWKS_MAX_BYTES.
 */
#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/encoding.h"
#include "weft/svc_httpc.h"
#include "weft/svc_jwt.h"

#define MAX_KEYS 64
#define NOTES_MAX 4096
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 16384
#define HTTP_TIMEOUT_MS 5000
#define HTTP_HEAD_MAX 65536
#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

struct key {
    cjose_jwk_t *jwk;
    char *kid; /* NULL when the JWK has none */
};

struct weft_jwks {
    struct key *keys;
    size_t n;
    char *notes;
    size_t notes_len;
};

/* ---- small helpers ---------------------------------------------------- */

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Untrusted text as it may appear in an error line: at most 48 bytes,
 * quotes, backslashes, control and non-ASCII bytes escaped. */
static void
quote(const char *s, size_t n, char *out, size_t cap)
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

/* Whether c may appear in a base64url part of a compact token. */
static int
is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Strict base64url without padding (RFC 7515 section 2, the base layer's
 * decoder) into a fresh buffer; NULL on bad input or ENOMEM (*nomem tells
 * which). */
static unsigned char *
b64url_dup(const char *in, size_t len, size_t *n, int *nomem)
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

/* How many members of obj are called name (cJSON keeps repeats). */
static int
members(const cJSON *obj, const char *name)
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
    if (!cJSON_IsString(v) || members(obj, name) > 1) {
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
        quote(kid, strlen(kid), q, sizeof q);
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
        quote(kty, strlen(kty), q, sizeof q);
        note(k, "%s: kty %s, want RSA", label, q);
        return 0;
    }
    if (use && strcmp(use, "sig") != 0) {
        quote(use, strlen(use), q, sizeof q);
        note(k, "%s: use %s, want sig", label, q);
        return 0;
    }
    if (alg && strcmp(alg, "RS256") != 0) {
        quote(alg, strlen(alg), q, sizeof q);
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
    unsigned char *nb = b64url_dup(n64, strlen(n64), &nlen, &nomem);
    if (!nb) {
        if (nomem)
            return -ENOMEM;
        note(k, "%s: n is not base64url", label);
        return 0;
    }
    size_t bits = bit_length(nb, nlen);
    free(nb);
    unsigned char *eb = b64url_dup(e64, strlen(e64), &elen, &nomem);
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
        return (void)fail(err, cap, 0, "JWKS: no document"), NULL;
    if (len > WEFT_JWKS_MAX_BYTES)
        return (void)fail(err, cap, 0, "JWKS: %zu bytes, max %d", len, WEFT_JWKS_MAX_BYTES), NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        fail(err, cap, 0, "JWKS: invalid JSON near byte %zu", at);
        return NULL;
    }
    weft_jwks *k = calloc(1, sizeof *k);
    if (!k || !(k->notes = calloc(1, NOTES_MAX)) || !(k->keys = calloc(MAX_KEYS, sizeof *k->keys)))
        goto nomem;

    const cJSON *keys =
        cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "keys") : NULL;
    if (keys) {
        if (!cJSON_IsArray(keys) || members(root, "keys") > 1) {
            fail(err, cap, 0, "JWKS: \"keys\" is not an array");
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
        fail(err, cap, 0, "JWKS: no \"keys\" array");
        goto fail;
    }
    if (!k->n) {
        /* the first reason is usually the whole story */
        size_t l = strcspn(k->notes, "\n");
        fail(err, cap, 0, "JWKS: no usable RS256 key%s%.*s", l ? " (" : "", (int)l, k->notes);
        if (l && err && cap > 1 && strlen(err) + 1 < cap)
            strcat(err, ")");
        goto fail;
    }
    cJSON_Delete(root);
    return k;
nomem:
    fail(err, cap, 0, "JWKS: out of memory");
fail:
    cJSON_Delete(root);
    weft_jwks_free(k);
    return NULL;
}

weft_jwks *
weft_jwks_load_file(const char *path, char *err, size_t cap)
{
    char e[WEFT_JWT_ERR], eb[128];
    if (!path || !*path)
        return (void)fail(err, cap, 0, "JWKS file: no path given"), NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, cap, 0, "JWKS file %s: %s", path, strerror_r(errno, eb, sizeof eb));
        return NULL;
    }
    size_t cap_buf = 16384, len = 0;
    char *buf = malloc(cap_buf);
    weft_jwks *k = NULL;
    if (!buf) {
        fail(err, cap, 0, "JWKS file %s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len == cap_buf) {
            if (cap_buf > WEFT_JWKS_MAX_BYTES) {
                fail(err, cap, 0, "JWKS file %s: larger than %d bytes", path, WEFT_JWKS_MAX_BYTES);
                goto out;
            }
            char *nb = realloc(buf, cap_buf * 2);
            if (!nb) {
                fail(err, cap, 0, "JWKS file %s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap_buf *= 2;
        }
        ssize_t r = read(fd, buf + len, cap_buf - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fail(err, cap, 0, "JWKS file %s: %s", path, strerror_r(errno, eb, sizeof eb));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > WEFT_JWKS_MAX_BYTES) {
        fail(err, cap, 0, "JWKS file %s: larger than %d bytes", path, WEFT_JWKS_MAX_BYTES);
        goto out;
    }
    k = weft_jwks_parse(buf, len, e, sizeof e);
    if (!k)
        fail(err, cap, 0, "%s: %s", path, e);
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
        return (void)fail(err, cap, 0, "JWKS URL: none given"), NULL;
    if (strlen(url) > 2048)
        return (void)fail(err, cap, 0, "JWKS URL: longer than 2048 bytes"), NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        return (void)fail(err, cap, 0,
                          "https JWKS URLs are not supported yet; use a file or http://"),
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
        return (void)fail(err, cap, 0, "JWKS: %s", e), NULL;
    if (rc < 0)
        return (void)fail(err, cap, 0, "JWKS %s: %s", url, e), NULL;
    weft_jwks *k = NULL;
    if (r.status != 200)
        fail(err, cap, 0, "JWKS %s: HTTP status %d, want 200", url, r.status);
    else if (!(k = weft_jwks_parse(r.body, r.body_len, e, sizeof e)))
        fail(err, cap, 0, "%s: %s", url, e);
    weft_httpc_resp_free(&r);
    return k;
}

/* ---- tokens ----------------------------------------------------------- */

static const char *const limit_names[4] = {
    "max_publish_per_hour",
    "max_publish_per_sec",
    "max_message_size",
    "daily_quota",
};

/* A NumericDate claim (RFC 7519 section 2), whole seconds. 0 with
 * *present 0 when absent; WEFT_EPROTO when not a sane number. */
static int
date_claim(const cJSON *pl, const char *name, int64_t *v, int *present, char *err, size_t cap)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(pl, name);
    *present = 0;
    if (!c)
        return 0;
    if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble) || fabs(c->valuedouble) > 1e13)
        return fail(err, cap, WEFT_EPROTO, "malformed token: %s is not a NumericDate", name);
    *v = (int64_t)floor(c->valuedouble);
    *present = 1;
    return 0;
}

/* One limit claim: by its plain name, else the first member named
 * "<anything>/<name>". 0 when absent. */
static int
limit_claim(const cJSON *pl, const char *name, int64_t *out, char *err, size_t cap)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(pl, name);
    size_t nl = strlen(name);
    for (const cJSON *m = pl->child; !c && m; m = m->next) {
        size_t ml = m->string ? strlen(m->string) : 0;
        if (ml > nl + 1 && m->string[ml - nl - 1] == '/' && strcmp(m->string + ml - nl, name) == 0)
            c = m;
    }
    *out = 0;
    if (!c)
        return 0;
    if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
        return fail(err, cap, WEFT_EPROTO, "claim %s: expected a non-negative integer", name);
    double d = c->valuedouble;
    if (d < 0)
        return fail(err, cap, WEFT_EPROTO, "claim %s: negative value %.0f refused", name, d);
    if (d != floor(d))
        return fail(err, cap, WEFT_EPROTO, "claim %s: %g is not an integer", name, d);
    if (d > MAX_SAFE_INT)
        return fail(err, cap, WEFT_EPROTO, "claim %s: %.0f is out of range", name, d);
    *out = (int64_t)d;
    return 0;
}

static int
aud_has(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (cJSON_IsArray(aud))
        for (const cJSON *a = aud->child; a; a = a->next)
            if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0)
                return 1;
    return 0;
}

/* Everything after the signature: the payload's claims into *out. */
static int
check_claims(const cJSON *pl, const char *audience, const char *issuer, int64_t now,
             weft_jwt_claims *out, char *err, size_t cap)
{
    static const char *const single[] = {"exp", "nbf", "iat", "iss", "aud", "sub"};
    char q[256];
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (members(pl, single[i]) > 1)
            return fail(err, cap, WEFT_EPROTO, "malformed token: repeated claim \"%s\"", single[i]);
    for (size_t i = 0; i < 4; i++)
        if (members(pl, limit_names[i]) > 1)
            return fail(err, cap, WEFT_EPROTO, "malformed token: repeated claim \"%s\"",
                        limit_names[i]);

    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat, rc;
    if ((rc = date_claim(pl, "exp", &exp, &has_exp, err, cap)) < 0 ||
        (rc = date_claim(pl, "nbf", &nbf, &has_nbf, err, cap)) < 0 ||
        (rc = date_claim(pl, "iat", &iat, &has_iat, err, cap)) < 0)
        return rc;
    if (!has_exp)
        return fail(err, cap, WEFT_EAUTH, "token has no exp claim");
    if (now - WEFT_JWT_LEEWAY_S >= exp)
        return fail(err, cap, WEFT_EAUTH, "token expired at %lld (now %lld)", (long long)exp,
                    (long long)now);
    if (has_nbf && now + WEFT_JWT_LEEWAY_S < nbf)
        return fail(err, cap, WEFT_EAUTH, "token not valid before %lld (now %lld)", (long long)nbf,
                    (long long)now);
    if (has_iat && now + WEFT_JWT_LEEWAY_S < iat)
        return fail(err, cap, WEFT_EAUTH, "token issued in the future at %lld (now %lld)",
                    (long long)iat, (long long)now);

    if (audience && *audience && !aud_has(cJSON_GetObjectItemCaseSensitive(pl, "aud"), audience)) {
        quote(audience, strlen(audience), q, sizeof q);
        return fail(err, cap, WEFT_EAUTH, "audience mismatch: want %s", q);
    }
    if (issuer && *issuer) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(pl, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, issuer) != 0) {
            quote(issuer, strlen(issuer), q, sizeof q);
            return fail(err, cap, WEFT_EAUTH, "issuer mismatch: want %s", q);
        }
    }

    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(pl, "sub");
    if (!sub)
        return fail(err, cap, WEFT_EAUTH, "token has no sub claim");
    if (!cJSON_IsString(sub) || !sub->valuestring[0])
        return fail(err, cap, WEFT_EAUTH, "sub is not a non-empty string");
    size_t sl = strlen(sub->valuestring);
    if (sl > WEFT_JWT_SUB_MAX)
        return fail(err, cap, WEFT_EAUTH, "sub of %zu bytes, max %d", sl, WEFT_JWT_SUB_MAX);
    for (size_t i = 0; i < sl; i++) {
        unsigned char ch = (unsigned char)sub->valuestring[i];
        if (ch < 0x20 || ch == 0x7f)
            return fail(err, cap, WEFT_EAUTH, "sub contains a control character");
    }

    int64_t lim[4];
    for (size_t i = 0; i < 4; i++)
        if ((rc = limit_claim(pl, limit_names[i], &lim[i], err, cap)) < 0)
            return rc;

    memcpy(out->sub, sub->valuestring, sl + 1);
    out->exp = exp;
    out->iat = has_iat ? iat : 0;
    out->limits.max_publish_per_hour = lim[0];
    out->limits.max_publish_per_sec = lim[1];
    out->limits.max_message_size = lim[2];
    out->limits.daily_quota = lim[3];
    return 0;
}

/* Decode and check the protected header: alg RS256, no crit; the kid (a
 * pointer into *hdr) or NULL. The caller deletes *hdr. */
static int
check_header(const char *h, size_t hl, cJSON **hdr, const char **kid, char *err, size_t cap)
{
    static const char *const single[] = {"alg", "kid", "crit", "typ"};
    char q[256];
    int nomem;
    size_t n;
    unsigned char *raw = b64url_dup(h, hl, &n, &nomem);
    if (!raw)
        return nomem ? fail(err, cap, -ENOMEM, "out of memory")
                     : fail(err, cap, WEFT_EPROTO, "malformed token: header is not base64url");
    *hdr = cJSON_ParseWithLengthOpts((const char *)raw, n, NULL, 0);
    free(raw);
    if (!cJSON_IsObject(*hdr))
        return fail(err, cap, WEFT_EPROTO, "malformed token: header is not a JSON object");
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (members(*hdr, single[i]) > 1)
            return fail(err, cap, WEFT_EPROTO, "malformed token: repeated header member \"%s\"",
                        single[i]);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(*hdr, "alg");
    if (!alg)
        return fail(err, cap, WEFT_EPROTO, "malformed token: header has no alg");
    if (!cJSON_IsString(alg))
        return fail(err, cap, WEFT_EPROTO, "malformed token: alg is not a string");
    if (strcmp(alg->valuestring, "RS256") != 0) {
        quote(alg->valuestring, strlen(alg->valuestring), q, sizeof q);
        return fail(err, cap, WEFT_EAUTH, "unsupported alg %s", q);
    }
    if (cJSON_GetObjectItemCaseSensitive(*hdr, "crit"))
        return fail(err, cap, WEFT_EAUTH, "unsupported critical header parameters");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(*hdr, "kid");
    if (k && !cJSON_IsString(k))
        return fail(err, cap, WEFT_EPROTO, "malformed token: kid is not a string");
    *kid = k ? k->valuestring : NULL;
    return 0;
}

int
weft_jwt_verify(const weft_jwks *k, const char *token, size_t len, const char *audience,
                const char *issuer, int64_t now_unix, weft_jwt_claims *out, char *err, size_t cap)
{
    if (!k || !token || !out)
        return fail(err, cap, WEFT_EINVAL, "no key set, token or output");
    if (len > WEFT_JWT_MAX_TOKEN)
        return fail(err, cap, WEFT_ETOOBIG, "token too long: %zu bytes, max %d", len,
                    WEFT_JWT_MAX_TOKEN);
    if (!len)
        return fail(err, cap, WEFT_EPROTO, "malformed token: empty");

    /* header.payload.signature, each base64url */
    size_t dot[2] = {0, 0}, ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots < 2)
                dot[ndots] = i;
            ndots++;
        } else if (!is_b64url((unsigned char)token[i])) {
            return fail(err, cap, WEFT_EPROTO, "malformed token: byte %zu is not base64url", i);
        }
    }
    if (ndots != 2)
        return fail(err, cap, WEFT_EPROTO, "malformed token: %zu parts, want 3", ndots + 1);
    size_t hl = dot[0], pl = dot[1] - dot[0] - 1, sl = len - dot[1] - 1;

    char q[256];
    cJSON *hdr = NULL, *payload = NULL;
    cjose_jws_t *jws = NULL;
    const char *kid = NULL;
    int rc = check_header(token, hl, &hdr, &kid, err, cap);
    if (rc < 0)
        goto out;
    rc = WEFT_EPROTO;
    if (!pl || pl % 4 == 1) {
        fail(err, cap, rc, "malformed token: payload is not base64url");
        goto out;
    }
    if (!sl || sl % 4 == 1) {
        fail(err, cap, rc, "malformed token: %s signature", sl ? "bad" : "empty");
        goto out;
    }

    size_t tried = 0;
    int ok = 0;
    cjose_err cerr;
    for (size_t i = 0; i < k->n && !ok; i++) {
        if (kid && (!k->keys[i].kid || strcmp(k->keys[i].kid, kid) != 0))
            continue;
        /* a fresh import per attempt: cjose keeps digest state in the JWS */
        cjose_jws_release(jws);
        jws = cjose_jws_import(token, len, &cerr);
        if (!jws) {
            rc = cerr.code == CJOSE_ERR_NO_MEMORY ? -ENOMEM : WEFT_EPROTO;
            fail(err, cap, rc, "malformed token: %s", cerr.message ? cerr.message : "not a JWS");
            goto out;
        }
        /* the alg cjose will use must be the one checked above */
        const char *calg = cjose_header_get(cjose_jws_get_protected(jws), "alg", &cerr);
        if (!calg || strcmp(calg, "RS256") != 0) {
            rc = fail(err, cap, WEFT_EAUTH, "unsupported alg");
            goto out;
        }
        tried++;
        ok = cjose_jws_verify(jws, k->keys[i].jwk, &cerr);
    }
    if (!tried) {
        quote(kid ? kid : "", kid ? strlen(kid) : 0, q, sizeof q);
        rc = fail(err, cap, WEFT_EAUTH, "unknown key id \"%s\"", q);
        goto out;
    }
    if (!ok) {
        rc = fail(err, cap, WEFT_EAUTH, "bad signature");
        goto out;
    }

    uint8_t *plain = NULL;
    size_t plen = 0;
    if (!cjose_jws_get_plaintext(jws, &plain, &plen, &cerr)) {
        rc = fail(err, cap, WEFT_EPROTO, "malformed token: no payload");
        goto out;
    }
    payload = cJSON_ParseWithLengthOpts((const char *)plain, plen, NULL, 0);
    if (!cJSON_IsObject(payload)) {
        rc = fail(err, cap, WEFT_EPROTO, "malformed token: payload is not a JSON object");
        goto out;
    }
    memset(out, 0, sizeof *out);
    rc = check_claims(payload, audience, issuer, now_unix, out, err, cap);
out:
    cJSON_Delete(payload);
    cJSON_Delete(hdr);
    cjose_jws_release(jws);
    return rc;
}

int
weft_jwt_auth0_issuer(const char *domain, char *buf, size_t cap)
{
    if (!domain || !buf)
        return WEFT_EINVAL;
    if (strncasecmp(domain, "https://", 8) == 0)
        domain += 8;
    size_t n = strlen(domain);
    while (n && domain[n - 1] == '/')
        n--;
    if (!n)
        return WEFT_EINVAL;
    int w = snprintf(buf, cap, "https://%.*s/", (int)n, domain);
    if (w < 0 || (size_t)w >= cap) {
        if (cap)
            buf[0] = 0;
        return WEFT_ENOSPC;
    }
    return 0;
}

int
weft_jwt_bearer(const char *h, size_t len, const char **tok, size_t *toklen)
{
    if (!tok || !toklen)
        return WEFT_EINVAL;
    if (!h)
        return WEFT_EAUTH;
    size_t i = 0;
    while (i < len && (h[i] == ' ' || h[i] == '\t'))
        i++;
    if (len - i < 7 || strncasecmp(h + i, "Bearer", 6) != 0 ||
        (h[i + 6] != ' ' && h[i + 6] != '\t'))
        return WEFT_EAUTH;
    i += 7;
    while (i < len && (h[i] == ' ' || h[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i && (h[end - 1] == ' ' || h[end - 1] == '\t'))
        end--;
    if (end == i)
        return WEFT_EAUTH;
    for (size_t j = i; j < end; j++) {
        unsigned char ch = (unsigned char)h[j];
        if (ch <= 0x20 || ch == 0x7f)
            return WEFT_EAUTH;
    }
    *tok = h + i;
    *toklen = end - i;
    return 0;
}
