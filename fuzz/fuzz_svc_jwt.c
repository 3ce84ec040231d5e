/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_svc_jwt: the strict wrapper around cjose that weft-proxy's auth
 * stands on: JWKS documents (weft_jwks_parse), bearer headers
 * (weft_jwt_bearer) and RS256 tokens (weft_jwt_verify).
 *
 * The target makes one RSA-2048 key at start (OpenSSL), kid "k1", and a
 * JWKS of it. Input: byte 0 is the mode.
 *  0  the rest is a JWKS document;
 *  1  the rest is spliced into {"keys":[<rest>, <our key>]};
 *  2  the rest is an Authorization header value and then a token;
 *  3  the rest is a protected header and a payload (split at the first
 *     NUL), signed here with our key, so the claims checks are reached.
 *
 * Oracles: parse and verify answer only their documented codes, with one
 * printable line in err; a parsed set holds 1..64 keys and a token signed
 * by our key verifies against any set that kept it; no token the fuzzer
 * writes itself ever verifies (it cannot sign); a token we signed
 * verifies only when the header says exactly alg RS256 (kid absent or
 * "k1") and the payload, parsed here, has a live exp, nbf and iat not in
 * the future, the audience in aud, our issuer in iss and a usable sub,
 * which comes back in the claims with the limits; a bearer token found
 * lies inside the header and holds no blank.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <math.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "weft/common.h"
#include "weft/encoding.h"
#include "weft/svc_jwt.h"

#define NOW 1700000000LL
#define AUD "api.weft.test"
#define ISS "https://weft.test/"

static EVP_PKEY *g_key;
static char *g_jwk;      /* our public key as a JWK */
static weft_jwks *g_set; /* {"keys":[our key]} */

static char *
b64url(const void *p, size_t n)
{
    size_t cap = n / 3 * 4 + 8;
    char *s = malloc(cap);
    FZ_CHECK(s != NULL);
    FZ_CHECK(weft_base64url_encode(p, n, s, cap) >= 0);
    return s;
}

static char *
bn_b64(const char *param)
{
    BIGNUM *bn = NULL;
    FZ_CHECK(EVP_PKEY_get_bn_param(g_key, param, &bn) == 1);
    int n = BN_num_bytes(bn);
    uint8_t *b = malloc((size_t)n);
    FZ_CHECK(b != NULL);
    BN_bn2bin(bn, b);
    char *s = b64url(b, (size_t)n);
    free(b);
    BN_free(bn);
    return s;
}

static void
setup(void)
{
    if (g_key)
        return;
    g_key = EVP_RSA_gen(2048);
    FZ_CHECK(g_key != NULL);
    char *n = bn_b64(OSSL_PKEY_PARAM_RSA_N), *e = bn_b64(OSSL_PKEY_PARAM_RSA_E);
    size_t cap = strlen(n) + strlen(e) + 128;
    g_jwk = malloc(cap);
    FZ_CHECK(g_jwk != NULL);
    snprintf(g_jwk, cap,
             "{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}", n, e);
    free(n);
    free(e);
    char *doc = malloc(cap + 16), err[WEFT_JWT_ERR];
    FZ_CHECK(doc != NULL);
    snprintf(doc, cap + 16, "{\"keys\":[%s]}", g_jwk);
    g_set = weft_jwks_parse(doc, strlen(doc), err, sizeof err);
    FZ_CHECK(g_set != NULL && weft_jwks_count(g_set) == 1);
    free(doc);
}

/* header.payload.signature with our key over the exact bytes given. */
static char *
sign(const char *hdr, size_t hl, const char *pl, size_t pn)
{
    char *h = b64url(hdr, hl), *p = b64url(pl, pn);
    size_t sl = strlen(h) + 1 + strlen(p);
    char *t = malloc(sl + 400);
    FZ_CHECK(t != NULL);
    snprintf(t, sl + 400, "%s.%s", h, p);
    free(h);
    free(p);
    uint8_t sig[256];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    FZ_CHECK(md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_key) == 1 &&
             EVP_DigestSign(md, sig, &siglen, (const uint8_t *)t, sl) == 1);
    EVP_MD_CTX_free(md);
    char *s = b64url(sig, siglen);
    snprintf(t + sl, 400, ".%s", s);
    free(s);
    return t;
}

static void
check_line(const char *err, size_t cap)
{
    size_t n = strnlen(err, cap);
    FZ_CHECK(n > 0 && n < cap);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
}

static int
verify(const weft_jwks *set, const char *tok, size_t len, weft_jwt_claims *cl)
{
    char err[WEFT_JWT_ERR];
    memset(err, 'z', sizeof err);
    int rc = weft_jwt_verify(set, tok, len, AUD, ISS, NOW, cl, err, sizeof err);
    if (rc != 0) {
        FZ_CHECK(rc == WEFT_ETOOBIG || rc == WEFT_EPROTO || rc == WEFT_EAUTH || rc == -ENOMEM);
        check_line(err, sizeof err);
    }
    return rc;
}

static const char *GOOD_CLAIMS =
    "{\"sub\":\"c\",\"aud\":\"" AUD "\",\"iss\":\"" ISS "\",\"exp\":1700003600}";

static void
check_set(const char *doc, size_t len, int ours_inside)
{
    char err[WEFT_JWT_ERR];
    memset(err, 'z', sizeof err);
    weft_jwks *k = weft_jwks_parse(doc, len, err, sizeof err);
    if (!k) {
        check_line(err, sizeof err);
        FZ_CHECK(!ours_inside); /* our key alone makes a set usable */
        return;
    }
    size_t n = weft_jwks_count(k);
    FZ_CHECK(n >= 1 && n <= 64);
    const char *notes = weft_jwks_notes(k);
    FZ_CHECK(notes != NULL && strlen(notes) < 4096);
    for (const char *c = notes; *c; c++)
        FZ_CHECK((unsigned char)*c >= 0x20 || *c == '\n');
    if (ours_inside && strstr(notes, "more than") == NULL) {
        static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"k1\"}";
        char *tok = sign(hdr, sizeof hdr - 1, GOOD_CLAIMS, strlen(GOOD_CLAIMS));
        weft_jwt_claims cl;
        FZ_CHECK(verify(k, tok, strlen(tok), &cl) == 0);
        FZ_CHECK(strcmp(cl.sub, "c") == 0);
        free(tok);
    }
    weft_jwks_free(k);
}

static const cJSON *
member(const cJSON *o, const char *name, int *count)
{
    const cJSON *found = NULL;
    *count = 0;
    for (const cJSON *m = o->child; m; m = m->next)
        if (m->string && strcmp(m->string, name) == 0) {
            found = m;
            (*count)++;
        }
    return found;
}

/* What a verified token must have said. */
static void
check_accepted(const char *hdr, size_t hl, const char *pl, size_t pn, const weft_jwt_claims *cl)
{
    cJSON *h = cJSON_ParseWithLength(hdr, hl), *p = cJSON_ParseWithLength(pl, pn);
    FZ_CHECK(cJSON_IsObject(h) && cJSON_IsObject(p));
    int c;
    const cJSON *alg = member(h, "alg", &c);
    FZ_CHECK(c == 1 && cJSON_IsString(alg) && strcmp(alg->valuestring, "RS256") == 0);
    const cJSON *kid = member(h, "kid", &c);
    FZ_CHECK(c == 0 || (c == 1 && cJSON_IsString(kid) && strcmp(kid->valuestring, "k1") == 0));
    const cJSON *exp = member(p, "exp", &c);
    FZ_CHECK(c == 1 && cJSON_IsNumber(exp) && isfinite(exp->valuedouble));
    FZ_CHECK(exp->valuedouble > NOW - WEFT_JWT_LEEWAY_S);
    FZ_CHECK(cl->exp == (int64_t)floor(exp->valuedouble));
    const cJSON *nbf = member(p, "nbf", &c);
    FZ_CHECK(c == 0 ||
             (c == 1 && cJSON_IsNumber(nbf) && nbf->valuedouble < NOW + WEFT_JWT_LEEWAY_S + 1));
    const cJSON *iat = member(p, "iat", &c);
    FZ_CHECK(c == 0 ||
             (c == 1 && cJSON_IsNumber(iat) && iat->valuedouble < NOW + WEFT_JWT_LEEWAY_S + 1));
    const cJSON *aud = member(p, "aud", &c);
    int aud_ok = c == 1 && cJSON_IsString(aud) && strcmp(aud->valuestring, AUD) == 0;
    if (c == 1 && cJSON_IsArray(aud))
        for (const cJSON *a = aud->child; a; a = a->next)
            aud_ok |= cJSON_IsString(a) && strcmp(a->valuestring, AUD) == 0;
    FZ_CHECK(aud_ok);
    const cJSON *iss = member(p, "iss", &c);
    FZ_CHECK(c == 1 && cJSON_IsString(iss) && strcmp(iss->valuestring, ISS) == 0);
    const cJSON *sub = member(p, "sub", &c);
    FZ_CHECK(c == 1 && cJSON_IsString(sub) && strcmp(sub->valuestring, cl->sub) == 0);
    size_t sl = strlen(cl->sub);
    FZ_CHECK(sl >= 1 && sl <= WEFT_JWT_SUB_MAX);
    for (size_t i = 0; i < sl; i++)
        FZ_CHECK((unsigned char)cl->sub[i] >= 0x20 && cl->sub[i] != 0x7f);
    const cJSON *mms = member(p, "max_message_size", &c);
    if (c == 1)
        FZ_CHECK(cJSON_IsNumber(mms) && mms->valuedouble >= 0 &&
                 (double)cl->limits.max_message_size == mms->valuedouble);
    FZ_CHECK(cl->limits.max_message_size >= 0 && cl->limits.max_publish_per_sec >= 0 &&
             cl->limits.max_publish_per_hour >= 0 && cl->limits.daily_quota >= 0);
    cJSON_Delete(h);
    cJSON_Delete(p);
}

static void
check_bearer(const char *hv, size_t n)
{
    const char *tok = NULL;
    size_t tl = 0;
    int rc = weft_jwt_bearer(hv, n, &tok, &tl);
    if (rc != 0) {
        FZ_CHECK(rc == WEFT_EAUTH);
        return;
    }
    FZ_CHECK(tok >= hv && tl >= 1 && tok + tl <= hv + n);
    for (size_t i = 0; i < tl; i++)
        FZ_CHECK(tok[i] != ' ' && tok[i] != '\t');
    /* "Bearer" in some case, then blanks, before the token */
    FZ_CHECK(tok - hv >= 7);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fz_reader r = {data, size};
    uint8_t mode = fz_u8(&r);
    char *rest = (char *)fz_dup(r.p, r.n);
    weft_jwt_claims cl;
    switch (mode & 3) {
    case 0: check_set(rest, r.n, 0); break;
    case 1: {
        size_t cap = r.n + strlen(g_jwk) + 32;
        char *doc = malloc(cap);
        FZ_CHECK(doc != NULL);
        memcpy(doc, "{\"keys\":[", 9);
        memcpy(doc + 9, rest, r.n);
        size_t o = 9 + r.n;
        o += (size_t)snprintf(doc + o, cap - o, "%s%s]}", r.n ? "," : "", g_jwk);
        /* ours is inside only when the splice kept the array intact */
        cJSON *j = cJSON_ParseWithLength(doc, o);
        int ours = 0, entries = 0;
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "keys");
        if (cJSON_IsArray(keys) && cJSON_GetArraySize(j) == 1) {
            entries = cJSON_GetArraySize(keys);
            const cJSON *last = cJSON_GetArrayItem(keys, entries - 1);
            const cJSON *kid = cJSON_GetObjectItemCaseSensitive(last, "kid");
            ours = cJSON_IsString(kid) && strcmp(kid->valuestring, "k1") == 0 &&
                   cJSON_IsString(cJSON_GetObjectItemCaseSensitive(last, "n"));
        }
        cJSON_Delete(j);
        check_set(doc, o, ours && entries <= 64);
        free(doc);
        break;
    }
    case 2: {
        const char *nl = memchr(rest, '\n', r.n);
        size_t hn = nl ? (size_t)(nl - rest) : r.n;
        check_bearer(rest, hn);
        const char *tok = nl ? nl + 1 : rest + r.n;
        /* the fuzzer cannot sign: nothing it writes verifies */
        FZ_CHECK(verify(g_set, tok, r.n - (size_t)(tok - rest), &cl) != 0);
        break;
    }
    default: {
        const char *nul = memchr(rest, 0, r.n);
        size_t hl = nul ? (size_t)(nul - rest) : r.n;
        const char *pl = nul ? nul + 1 : rest + r.n;
        size_t pn = r.n - (size_t)(pl - rest);
        char *tok = sign(rest, hl, pl, pn);
        if (verify(g_set, tok, strlen(tok), &cl) == 0)
            check_accepted(rest, hl, pl, pn, &cl);
        free(tok);
        break;
    }
    }
    free(rest);
    return 0;
}
