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
 * A JWKS (jwks.c) is immutable after loading; verification only reads
 * it, and cjose_jws_verify only reads the key (OpenSSL's RSA public
 * operation is thread-safe), so verifies run concurrently without locks.
 *
 * Also here: the Auth0 issuer string and the Bearer header parser.
 */
#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft/common.h"
#include "weft/svc_jwt.h"
#include "auth_priv.h"

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

/* Whether c may appear in a base64url part of a compact token. */
static int
is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
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
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: %s is not a NumericDate", name);
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
        return auth_fail(err, cap, WEFT_EPROTO, "claim %s: expected a non-negative integer", name);
    double d = c->valuedouble;
    if (d < 0)
        return auth_fail(err, cap, WEFT_EPROTO, "claim %s: negative value %.0f refused", name, d);
    if (d != floor(d))
        return auth_fail(err, cap, WEFT_EPROTO, "claim %s: %g is not an integer", name, d);
    if (d > MAX_SAFE_INT)
        return auth_fail(err, cap, WEFT_EPROTO, "claim %s: %.0f is out of range", name, d);
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
        if (auth_members(pl, single[i]) > 1)
            return auth_fail(err, cap, WEFT_EPROTO, "malformed token: repeated claim \"%s\"",
                             single[i]);
    for (size_t i = 0; i < 4; i++)
        if (auth_members(pl, limit_names[i]) > 1)
            return auth_fail(err, cap, WEFT_EPROTO, "malformed token: repeated claim \"%s\"",
                             limit_names[i]);

    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat, rc;
    if ((rc = date_claim(pl, "exp", &exp, &has_exp, err, cap)) < 0 ||
        (rc = date_claim(pl, "nbf", &nbf, &has_nbf, err, cap)) < 0 ||
        (rc = date_claim(pl, "iat", &iat, &has_iat, err, cap)) < 0)
        return rc;
    if (!has_exp)
        return auth_fail(err, cap, WEFT_EAUTH, "token has no exp claim");
    if (now - WEFT_JWT_LEEWAY_S >= exp)
        return auth_fail(err, cap, WEFT_EAUTH, "token expired at %lld (now %lld)", (long long)exp,
                         (long long)now);
    if (has_nbf && now + WEFT_JWT_LEEWAY_S < nbf)
        return auth_fail(err, cap, WEFT_EAUTH, "token not valid before %lld (now %lld)",
                         (long long)nbf, (long long)now);
    if (has_iat && now + WEFT_JWT_LEEWAY_S < iat)
        return auth_fail(err, cap, WEFT_EAUTH, "token issued in the future at %lld (now %lld)",
                         (long long)iat, (long long)now);

    if (audience && *audience && !aud_has(cJSON_GetObjectItemCaseSensitive(pl, "aud"), audience)) {
        auth_quote(audience, strlen(audience), q, sizeof q);
        return auth_fail(err, cap, WEFT_EAUTH, "audience mismatch: want %s", q);
    }
    if (issuer && *issuer) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(pl, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, issuer) != 0) {
            auth_quote(issuer, strlen(issuer), q, sizeof q);
            return auth_fail(err, cap, WEFT_EAUTH, "issuer mismatch: want %s", q);
        }
    }

    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(pl, "sub");
    if (!sub)
        return auth_fail(err, cap, WEFT_EAUTH, "token has no sub claim");
    if (!cJSON_IsString(sub) || !sub->valuestring[0])
        return auth_fail(err, cap, WEFT_EAUTH, "sub is not a non-empty string");
    size_t sl = strlen(sub->valuestring);
    if (sl > WEFT_JWT_SUB_MAX)
        return auth_fail(err, cap, WEFT_EAUTH, "sub of %zu bytes, max %d", sl, WEFT_JWT_SUB_MAX);
    for (size_t i = 0; i < sl; i++) {
        unsigned char ch = (unsigned char)sub->valuestring[i];
        if (ch < 0x20 || ch == 0x7f)
            return auth_fail(err, cap, WEFT_EAUTH, "sub contains a control character");
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
    unsigned char *raw = auth_b64url_dup(h, hl, &n, &nomem);
    if (!raw)
        return nomem ? auth_fail(err, cap, -ENOMEM, "out of memory")
                     : auth_fail(err, cap, WEFT_EPROTO, "malformed token: header is not base64url");
    *hdr = cJSON_ParseWithLengthOpts((const char *)raw, n, NULL, 0);
    free(raw);
    if (!cJSON_IsObject(*hdr))
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: header is not a JSON object");
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (auth_members(*hdr, single[i]) > 1)
            return auth_fail(err, cap, WEFT_EPROTO,
                             "malformed token: repeated header member \"%s\"", single[i]);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(*hdr, "alg");
    if (!alg)
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: header has no alg");
    if (!cJSON_IsString(alg))
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: alg is not a string");
    if (strcmp(alg->valuestring, "RS256") != 0) {
        auth_quote(alg->valuestring, strlen(alg->valuestring), q, sizeof q);
        return auth_fail(err, cap, WEFT_EAUTH, "unsupported alg %s", q);
    }
    if (cJSON_GetObjectItemCaseSensitive(*hdr, "crit"))
        return auth_fail(err, cap, WEFT_EAUTH, "unsupported critical header parameters");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(*hdr, "kid");
    if (k && !cJSON_IsString(k))
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: kid is not a string");
    *kid = k ? k->valuestring : NULL;
    return 0;
}

int
weft_jwt_verify(const weft_jwks *k, const char *token, size_t len, const char *audience,
                const char *issuer, int64_t now_unix, weft_jwt_claims *out, char *err, size_t cap)
{
    if (!k || !token || !out)
        return auth_fail(err, cap, WEFT_EINVAL, "no key set, token or output");
    if (len > WEFT_JWT_MAX_TOKEN)
        return auth_fail(err, cap, WEFT_ETOOBIG, "token too long: %zu bytes, max %d", len,
                         WEFT_JWT_MAX_TOKEN);
    if (!len)
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: empty");

    /* header.payload.signature, each base64url */
    size_t dot[2] = {0, 0}, ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots < 2)
                dot[ndots] = i;
            ndots++;
        } else if (!is_b64url((unsigned char)token[i])) {
            return auth_fail(err, cap, WEFT_EPROTO, "malformed token: byte %zu is not base64url",
                             i);
        }
    }
    if (ndots != 2)
        return auth_fail(err, cap, WEFT_EPROTO, "malformed token: %zu parts, want 3", ndots + 1);
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
        auth_fail(err, cap, rc, "malformed token: payload is not base64url");
        goto out;
    }
    if (!sl || sl % 4 == 1) {
        auth_fail(err, cap, rc, "malformed token: %s signature", sl ? "bad" : "empty");
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
            auth_fail(err, cap, rc, "malformed token: %s",
                      cerr.message ? cerr.message : "not a JWS");
            goto out;
        }
        /* the alg cjose will use must be the one checked above */
        const char *calg = cjose_header_get(cjose_jws_get_protected(jws), "alg", &cerr);
        if (!calg || strcmp(calg, "RS256") != 0) {
            rc = auth_fail(err, cap, WEFT_EAUTH, "unsupported alg");
            goto out;
        }
        tried++;
        ok = cjose_jws_verify(jws, k->keys[i].jwk, &cerr);
    }
    if (!tried) {
        auth_quote(kid ? kid : "", kid ? strlen(kid) : 0, q, sizeof q);
        rc = auth_fail(err, cap, WEFT_EAUTH, "unknown key id \"%s\"", q);
        goto out;
    }
    if (!ok) {
        rc = auth_fail(err, cap, WEFT_EAUTH, "bad signature");
        goto out;
    }

    uint8_t *plain = NULL;
    size_t plen = 0;
    if (!cjose_jws_get_plaintext(jws, &plain, &plen, &cerr)) {
        rc = auth_fail(err, cap, WEFT_EPROTO, "malformed token: no payload");
        goto out;
    }
    payload = cJSON_ParseWithLengthOpts((const char *)plain, plen, NULL, 0);
    if (!cJSON_IsObject(payload)) {
        rc = auth_fail(err, cap, WEFT_EPROTO, "malformed token: payload is not a JSON object");
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
