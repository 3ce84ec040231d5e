/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RS256 verification against a JWKS. The test makes its own RSA keys at run
 * time, writes the JWKS to a temporary file and signs tokens with cjose;
 * the hostile ones (alg none, HS256 with a real HMAC, a foreign key under
 * the trusted kid, broken encodings, oversized tokens, bad claims) are
 * built by hand. The http:// loader is served by a small server thread on
 * 127.0.0.1 (Content-Length, chunked, read-to-close, 404, and one that
 * never answers, for the 5 s deadline).
 */
#include <arpa/inet.h>
#include <cjose/cjose.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/svc_jwt.h"

#define NOW 1700000000LL
#define AUD "https://api.weft.test"

static cjose_jwk_t *g_key; /* kid "k1", in the JWKS */
static char *g_jwks_json;  /* {"keys":[k1]} */
static char g_path[64];
static weft_jwks *g_jwks;
static char g_err[WEFT_JWT_ERR];
static weft_jwt_claims g_cl;

static cjose_jwk_t *
rsa_key(const char *kid, size_t bits)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err ce;
    cjose_jwk_t *k = cjose_jwk_create_RSA_random(bits, e, sizeof e, &ce);
    cr_assert_not_null(k, "RSA key: %s", ce.message);
    if (kid)
        cr_assert(cjose_jwk_set_kid(k, kid, strlen(kid), &ce));
    return k;
}

static char *
public_json(const cjose_jwk_t *k)
{
    cjose_err ce;
    char *j = cjose_jwk_to_json(k, false, &ce);
    cr_assert_not_null(j);
    return j;
}

static char *
b64(const void *p, size_t n)
{
    char *out = NULL;
    size_t ol;
    cjose_err ce;
    cr_assert(cjose_base64url_encode(p, n, &out, &ol, &ce));
    return out;
}

static char *
sign(const cjose_jwk_t *k, const char *alg, const char *kid, const char *payload)
{
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, alg, &ce));
    if (kid)
        cr_assert(cjose_header_set(h, CJOSE_HDR_KID, kid, &ce));
    cr_assert(cjose_header_set(h, "typ", "JWT", &ce));
    cjose_jws_t *jws = cjose_jws_sign(k, h, (const uint8_t *)payload, strlen(payload), &ce);
    cr_assert_not_null(jws, "sign: %s", ce.message);
    const char *ser;
    cr_assert(cjose_jws_export(jws, &ser, &ce));
    char *out = strdup(ser);
    cjose_jws_release(jws);
    cjose_header_release(h);
    return out;
}

/* header.payload.signature from raw parts, no signing. */
static char *
craft(const char *header, const char *payload, const void *sig, size_t siglen)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    char *s = siglen ? b64(sig, siglen) : strdup("");
    char *out;
    cr_assert(asprintf(&out, "%s.%s.%s", h, p, s) > 0);
    free(h);
    free(p);
    free(s);
    return out;
}

/* Standard claims plus extra members (",\"x\":1" style, or ""). */
static char *
claims(const char *extra)
{
    char *out;
    cr_assert(asprintf(&out,
                       "{\"sub\":\"client-7\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld%s}",
                       NOW - 10, NOW + 3600, extra) > 0);
    return out;
}

static int
verify(const weft_jwks *k, const char *tok)
{
    memset(&g_cl, 0x55, sizeof g_cl);
    g_err[0] = 0;
    return weft_jwt_verify(k, tok, strlen(tok), AUD, NULL, NOW, &g_cl, g_err, sizeof g_err);
}

static void
expect_fail(const char *tok, int rc, const char *msg)
{
    int got = verify(g_jwks, tok);
    cr_assert_eq(got, rc, "rc %d (%s), want %d", got, g_err, rc);
    cr_assert(strstr(g_err, msg), "error \"%s\" lacks \"%s\"", g_err, msg);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void
setup(void)
{
    g_key = rsa_key("k1", 2048);
    char *pub = public_json(g_key);
    cr_assert(asprintf(&g_jwks_json, "{\"keys\":[%s]}", pub) > 0);
    free(pub);
    snprintf(g_path, sizeof g_path, "/tmp/weft-jwks-XXXXXX");
    int fd = mkstemp(g_path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(g_path, g_jwks_json);
    g_jwks = weft_jwks_load_file(g_path, g_err, sizeof g_err);
    cr_assert_not_null(g_jwks, "load: %s", g_err);
}

static void
teardown(void)
{
    weft_jwks_free(g_jwks);
    unlink(g_path);
    free(g_jwks_json);
    cjose_jwk_release(g_key);
}

TestSuite(jwt, .init = setup, .fini = teardown);

Test(jwt, good_token_gives_claims)
{
    cr_assert_eq(weft_jwks_count(g_jwks), 1);
    cr_assert_str_eq(weft_jwks_notes(g_jwks), "");
    char *c = claims("");
    char *tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(g_jwks, tok), 0, "%s", g_err);
    cr_assert_str_eq(g_cl.sub, "client-7");
    cr_assert_eq(g_cl.exp, NOW + 3600);
    cr_assert_eq(g_cl.iat, NOW - 10);
    cr_assert_eq(g_cl.limits.max_publish_per_hour, 0);
    cr_assert_eq(g_cl.limits.max_publish_per_sec, 0);
    cr_assert_eq(g_cl.limits.max_message_size, 0);
    cr_assert_eq(g_cl.limits.daily_quota, 0);
    /* no audience configured: aud not checked; and a token not NUL-terminated */
    char *copy = malloc(strlen(tok));
    memcpy(copy, tok, strlen(tok));
    cr_assert_eq(weft_jwt_verify(g_jwks, copy, strlen(tok), NULL, "", NOW, &g_cl, NULL, 0), 0);
    free(copy);
    free(tok);
    free(c);
}

Test(jwt, limits_claims)
{
    char *c =
        claims(",\"max_publish_per_hour\":3600,\"max_publish_per_sec\":5,"
               "\"https://weft.test/max_message_size\":1048576,\"daily_quota\":9007199254740992");
    char *tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(g_jwks, tok), 0, "%s", g_err);
    cr_assert_eq(g_cl.limits.max_publish_per_hour, 3600);
    cr_assert_eq(g_cl.limits.max_publish_per_sec, 5);
    cr_assert_eq(g_cl.limits.max_message_size, 1048576);
    cr_assert_eq(g_cl.limits.daily_quota, 9007199254740992LL);
    free(tok);
    free(c);

    static const struct {
        const char *extra, *msg;
    } bad[] = {
        {",\"max_publish_per_sec\":-1", "max_publish_per_sec: negative"},
        {",\"daily_quota\":1.5", "daily_quota: 1.5 is not an integer"},
        {",\"max_message_size\":\"100\"", "max_message_size: expected a non-negative integer"},
        {",\"max_publish_per_hour\":1e300", "max_publish_per_hour:"},
        {",\"max_publish_per_hour\":1,\"max_publish_per_hour\":2", "repeated claim"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = claims(bad[i].extra);
        tok = sign(g_key, "RS256", "k1", c);
        expect_fail(tok, WEFT_EPROTO, bad[i].msg);
        free(tok);
        free(c);
    }
}

Test(jwt, time_claims)
{
    char *c, *tok;
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"aud\":\"" AUD "\",\"exp\":%lld}", NOW - 3600) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "token expired at 1699996400");
    free(tok);
    free(c);
    /* within the leeway still passes */
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"aud\":\"" AUD "\",\"exp\":%lld}", NOW - 5) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(g_jwks, tok), 0, "%s", g_err);
    free(tok);
    free(c);
    c = claims(",\"nbf\":1700007200");
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "not valid before 1700007200");
    free(tok);
    free(c);
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"exp\":%lld,\"iat\":%lld}", NOW + 9000, NOW + 3000) >
              0);
    tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(
        weft_jwt_verify(g_jwks, tok, strlen(tok), NULL, NULL, NOW, &g_cl, g_err, sizeof g_err),
        WEFT_EAUTH);
    cr_assert(strstr(g_err, "issued in the future"), "%s", g_err);
    free(tok);
    free(c);
    c = strdup("{\"sub\":\"s\",\"aud\":\"" AUD "\"}");
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "no exp");
    free(tok);
    free(c);
    c = strdup("{\"sub\":\"s\",\"aud\":\"" AUD "\",\"exp\":\"tomorrow\"}");
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EPROTO, "exp is not a NumericDate");
    free(tok);
    free(c);
}

Test(jwt, audience_and_issuer)
{
    char *c, *tok;
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"aud\":\"other\",\"exp\":%lld}", NOW + 60) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "audience mismatch: want " AUD);
    free(tok);
    free(c);
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"aud\":[\"a\",\"" AUD "\"],\"exp\":%lld}", NOW + 60) >
              0);
    tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(g_jwks, tok), 0, "%s", g_err);
    free(tok);
    free(c);
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"aud\":[\"a\",\"b\"],\"exp\":%lld}", NOW + 60) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "audience mismatch");
    free(tok);
    free(c);
    cr_assert(asprintf(&c, "{\"sub\":\"s\",\"exp\":%lld}", NOW + 60) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "audience mismatch");
    free(tok);
    free(c);

    char iss[128];
    cr_assert_eq(weft_jwt_auth0_issuer("tenant.eu.auth0.com", iss, sizeof iss), 0);
    cr_assert_str_eq(iss, "https://tenant.eu.auth0.com/");
    cr_assert_eq(weft_jwt_auth0_issuer("https://tenant.eu.auth0.com//", iss, sizeof iss), 0);
    cr_assert_str_eq(iss, "https://tenant.eu.auth0.com/");
    cr_assert_eq(weft_jwt_auth0_issuer("", iss, sizeof iss), WEFT_EINVAL);
    char small[10];
    cr_assert_eq(weft_jwt_auth0_issuer("tenant.eu.auth0.com", small, sizeof small), WEFT_ENOSPC);
    cr_assert_str_eq(small, "");
    cr_assert_eq(weft_jwt_auth0_issuer("tenant.eu.auth0.com", iss, sizeof iss), 0);
    c = claims(",\"iss\":\"https://tenant.eu.auth0.com/\"");
    tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(
        weft_jwt_verify(g_jwks, tok, strlen(tok), AUD, iss, NOW, &g_cl, g_err, sizeof g_err), 0,
        "%s", g_err);
    cr_assert_eq(weft_jwt_verify(g_jwks, tok, strlen(tok), AUD, "https://evil/", NOW, &g_cl, g_err,
                                 sizeof g_err),
                 WEFT_EAUTH);
    cr_assert(strstr(g_err, "issuer mismatch: want https://evil/"), "%s", g_err);
    free(tok);
    free(c);
}

Test(jwt, bad_signature)
{
    /* another key claiming the trusted kid */
    cjose_jwk_t *evil = rsa_key("k1", 2048);
    char *c = claims("");
    char *tok = sign(evil, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "bad signature");
    free(tok);
    /* a good token with one payload character changed */
    tok = sign(g_key, "RS256", "k1", c);
    char *dot = strchr(tok, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    expect_fail(tok, WEFT_EAUTH, "bad signature");
    /* and with the signature cut short */
    tok[strlen(tok) - 4] = 0;
    expect_fail(tok, WEFT_EAUTH, "bad signature");
    free(tok);
    free(c);
    cjose_jwk_release(evil);
}

Test(jwt, refused_algorithms)
{
    char *c = claims("");
    /* alg none, with and without a signature part */
    char *tok = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, NULL, 0);
    expect_fail(tok, WEFT_EAUTH, "unsupported alg none");
    free(tok);
    tok = craft("{\"alg\":\"none\"}", c, "x", 1);
    expect_fail(tok, WEFT_EAUTH, "unsupported alg none");
    free(tok);
    /* HS256 with a real HMAC: the key-confusion attack, keyed with the
     * public modulus an attacker can read from the JWKS */
    cjose_err ce;
    cjose_jwk_t *oct = cjose_jwk_create_oct_random(256, &ce);
    cr_assert_not_null(oct);
    tok = sign(oct, "HS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "unsupported alg HS256");
    free(tok);
    cjose_jwk_release(oct);
    /* other RSA algorithms, even signed by the trusted key */
    tok = sign(g_key, "RS512", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "unsupported alg RS512");
    free(tok);
    tok = sign(g_key, "PS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "unsupported alg PS256");
    free(tok);
    /* the alg named twice, RS256 first */
    tok = craft("{\"alg\":\"RS256\",\"alg\":\"HS256\",\"kid\":\"k1\"}", c, "sig", 3);
    expect_fail(tok, WEFT_EPROTO, "repeated header member \"alg\"");
    free(tok);
    tok = craft("{\"kid\":\"k1\"}", c, "sig", 3);
    expect_fail(tok, WEFT_EPROTO, "no alg");
    free(tok);
    tok = craft("{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", c, "sig", 3);
    expect_fail(tok, WEFT_EAUTH, "critical");
    free(tok);
    free(c);
}

Test(jwt, malformed_tokens)
{
    char *c = claims("");
    char *good = sign(g_key, "RS256", "k1", c);
    char *t;

    t = strdup(good);
    *strrchr(t, '.') = 0; /* two parts */
    expect_fail(t, WEFT_EPROTO, "malformed token: 2 parts, want 3");
    free(t);
    cr_assert(asprintf(&t, "%s.AAAA", good) > 0);
    expect_fail(t, WEFT_EPROTO, "4 parts");
    free(t);
    t = strdup(good);
    t[3] = '*';
    expect_fail(t, WEFT_EPROTO, "byte 3 is not base64url");
    free(t);
    t = strdup(good);
    t[3] = '=';
    expect_fail(t, WEFT_EPROTO, "not base64url");
    free(t);
    /* a header of 4k+1 characters cannot be base64url */
    cr_assert(asprintf(&t, "eyJhb.%s", strchr(good, '.') + 1) > 0);
    expect_fail(t, WEFT_EPROTO, "header is not base64url");
    free(t);
    expect_fail("", WEFT_EPROTO, "empty");
    expect_fail("..", WEFT_EPROTO, "header is not a JSON object");
    t = craft("[\"RS256\"]", c, "s", 1);
    expect_fail(t, WEFT_EPROTO, "header is not a JSON object");
    free(t);
    t = craft("{\"alg\":\"RS256\",\"kid\":7}", c, "s", 1);
    expect_fail(t, WEFT_EPROTO, "kid is not a string");
    free(t);
    /* correctly signed, but the payload is not JSON */
    t = sign(g_key, "RS256", "k1", "hello, world");
    expect_fail(t, WEFT_EPROTO, "payload is not a JSON object");
    free(t);
    t = sign(g_key, "RS256", "k1", "[1,2]");
    expect_fail(t, WEFT_EPROTO, "payload is not a JSON object");
    free(t);
    /* empty signature on an RS256 header */
    t = strdup(good);
    strrchr(t, '.')[1] = 0;
    expect_fail(t, WEFT_EPROTO, "empty signature");
    free(t);

    /* huge: one byte over the cap, and a validly signed 15 KiB token */
    size_t n = WEFT_JWT_MAX_TOKEN + 1;
    t = malloc(n + 1);
    memset(t, 'A', n);
    t[n] = 0;
    t[10] = '.';
    t[20] = '.';
    expect_fail(t, WEFT_ETOOBIG, "token too long: 16385 bytes");
    free(t);
    char *pad = malloc(11000);
    memset(pad, 'p', 10999);
    pad[10999] = 0;
    char *extra;
    cr_assert(asprintf(&extra, ",\"pad\":\"%s\"", pad) > 0);
    char *bigc = claims(extra);
    t = sign(g_key, "RS256", "k1", bigc);
    cr_assert_lt(strlen(t), (size_t)WEFT_JWT_MAX_TOKEN);
    cr_assert_gt(strlen(t), (size_t)14000);
    cr_assert_eq(verify(g_jwks, t), 0, "%s", g_err);
    free(t);
    free(bigc);
    free(extra);
    free(pad);

    cr_assert_eq(weft_jwt_verify(NULL, good, strlen(good), NULL, NULL, NOW, &g_cl, NULL, 0),
                 WEFT_EINVAL);
    cr_assert_eq(weft_jwt_verify(g_jwks, good, strlen(good), NULL, NULL, NOW, NULL, NULL, 0),
                 WEFT_EINVAL);
    free(good);
    free(c);
}

Test(jwt, key_ids)
{
    char *c = claims("");
    char *tok = sign(g_key, "RS256", "k2", c);
    expect_fail(tok, WEFT_EAUTH, "unknown key id \"k2\"");
    free(tok);
    tok = sign(g_key, "RS256", "k\"\n", c);
    expect_fail(tok, WEFT_EAUTH, "unknown key id \"k\\x22\\x0a\"");
    free(tok);

    /* no kid in the token: every key is tried */
    cjose_jwk_t *k2 = rsa_key("k2", 2048);
    char *p1 = public_json(g_key), *p2 = public_json(k2), *set;
    cr_assert(asprintf(&set, "{\"keys\":[%s,%s]}", p1, p2) > 0);
    weft_jwks *two = weft_jwks_parse(set, strlen(set), g_err, sizeof g_err);
    cr_assert_not_null(two, "%s", g_err);
    cr_assert_eq(weft_jwks_count(two), 2);
    tok = sign(k2, "RS256", NULL, c);
    cr_assert_eq(verify(two, tok), 0, "%s", g_err);
    cr_assert_str_eq(g_cl.sub, "client-7");
    expect_fail(tok, WEFT_EAUTH, "bad signature"); /* g_jwks lacks k2 */
    free(tok);
    tok = sign(k2, "RS256", "k2", c);
    cr_assert_eq(verify(two, tok), 0, "%s", g_err);
    free(tok);
    /* a kid the key set does not know, even though the signature is good */
    tok = sign(k2, "RS256", "k3", c);
    cr_assert_eq(verify(two, tok), WEFT_EAUTH);
    cr_assert(strstr(g_err, "unknown key id"), "%s", g_err);
    free(tok);
    weft_jwks_free(two);
    free(set);
    free(p1);
    free(p2);
    cjose_jwk_release(k2);
    free(c);
}

Test(jwt, subject_checks)
{
    char *c, *tok;
    cr_assert(asprintf(&c, "{\"aud\":\"" AUD "\",\"exp\":%lld}", NOW + 60) > 0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "no sub");
    free(tok);
    free(c);
    static const char *const bad[] = {"\"\"", "42", "\"a\\u0001b\"", "\"tab\\there\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(asprintf(&c, "{\"sub\":%s,\"aud\":\"" AUD "\",\"exp\":%lld}", bad[i], NOW + 60) >
                  0);
        tok = sign(g_key, "RS256", "k1", c);
        expect_fail(tok, WEFT_EAUTH, "sub");
        free(tok);
        free(c);
    }
    char longsub[WEFT_JWT_SUB_MAX + 2];
    memset(longsub, 's', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = 0;
    cr_assert(asprintf(&c, "{\"sub\":\"%s\",\"aud\":\"" AUD "\",\"exp\":%lld}", longsub, NOW + 60) >
              0);
    tok = sign(g_key, "RS256", "k1", c);
    expect_fail(tok, WEFT_EAUTH, "sub of 256 bytes, max 255");
    free(tok);
    free(c);
    longsub[WEFT_JWT_SUB_MAX] = 0;
    cr_assert(asprintf(&c, "{\"sub\":\"%s\",\"aud\":\"" AUD "\",\"exp\":%lld}", longsub, NOW + 60) >
              0);
    tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(g_jwks, tok), 0, "%s", g_err);
    cr_assert_str_eq(g_cl.sub, longsub);
    free(tok);
    free(c);
}

Test(jwt, jwks_skips_unusable_keys)
{
    cjose_err ce;
    cjose_jwk_t *ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
    cjose_jwk_t *small = rsa_key("small", 1024);
    cr_assert_not_null(ec);
    cr_assert(cjose_jwk_set_kid(ec, "ec1", 3, &ce));
    char *pec = public_json(ec), *psmall = public_json(small), *pgood = public_json(g_key);
    /* the good key last, with "use" and "alg" spelled out, plus a private
     * member that must be ignored */
    char *goodx = strdup(pgood);
    goodx[strlen(goodx) - 1] = 0;
    char *set;
    cr_assert(asprintf(&set,
                       "{\"keys\":[%s,%s,{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
                       "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                       "{\"kty\":\"RSA\",\"alg\":\"RS384\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                       "{\"kty\":\"RSA\",\"kid\":\"nokeys\"},\"junk\","
                       "%s,\"use\":\"sig\",\"alg\":\"RS256\",\"d\":\"AQAB\"}]}",
                       pec, psmall, goodx) > 0);
    weft_jwks *k = weft_jwks_parse(set, strlen(set), g_err, sizeof g_err);
    cr_assert_not_null(k, "%s", g_err);
    cr_assert_eq(weft_jwks_count(k), 1);
    const char *notes = weft_jwks_notes(k);
    cr_assert(strstr(notes, "key 0 (kid \"ec1\"): kty EC, want RSA"), "%s", notes);
    cr_assert(strstr(notes, "key 1 (kid \"small\"): modulus of 1024 bits"), "%s", notes);
    cr_assert(strstr(notes, "key 2: kty oct, want RSA"), "%s", notes);
    cr_assert(strstr(notes, "key 3: use enc, want sig"), "%s", notes);
    cr_assert(strstr(notes, "key 4: alg RS384, want RS256"), "%s", notes);
    cr_assert(strstr(notes, "key 5 (kid \"nokeys\"): RSA key without n or e"), "%s", notes);
    cr_assert(strstr(notes, "key 6: not a JSON object"), "%s", notes);
    char *c = claims("");
    char *tok = sign(g_key, "RS256", "k1", c);
    cr_assert_eq(verify(k, tok), 0, "%s", g_err);
    free(tok);
    free(c);
    weft_jwks_free(k);

    /* nothing usable at all */
    free(set);
    cr_assert(asprintf(&set, "{\"keys\":[%s]}", pec) > 0);
    cr_assert_null(weft_jwks_parse(set, strlen(set), g_err, sizeof g_err));
    cr_assert(strstr(g_err, "no usable RS256 key (key 0 (kid \"ec1\"): kty EC, want RSA)"), "%s",
              g_err);
    /* a bare JWK is a set of one */
    k = weft_jwks_parse(pgood, strlen(pgood), g_err, sizeof g_err);
    cr_assert_not_null(k, "%s", g_err);
    cr_assert_eq(weft_jwks_count(k), 1);
    weft_jwks_free(k);
    cr_assert_null(weft_jwks_parse("{\"keys\":[", 9, g_err, sizeof g_err));
    cr_assert(strstr(g_err, "invalid JSON"), "%s", g_err);
    cr_assert_null(weft_jwks_parse("{\"keys\":{}}", 11, g_err, sizeof g_err));
    cr_assert(strstr(g_err, "not an array"), "%s", g_err);
    cr_assert_null(weft_jwks_parse("[]", 2, g_err, sizeof g_err));
    cr_assert(strstr(g_err, "no \"keys\" array"), "%s", g_err);
    free(set);
    free(goodx);
    free(pec);
    free(psmall);
    free(pgood);
    cjose_jwk_release(ec);
    cjose_jwk_release(small);
    weft_jwks_free(NULL);
}

Test(jwt, jwks_file_errors)
{
    cr_assert_null(weft_jwks_load_file("/nonexistent/weft/jwks.json", g_err, sizeof g_err));
    cr_assert(strstr(g_err, "/nonexistent/weft/jwks.json"), "%s", g_err);
    cr_assert(strstr(g_err, "No such file or directory"), "%s", g_err);
    write_file(g_path, "not json");
    cr_assert_null(weft_jwks_load_file(g_path, g_err, sizeof g_err));
    cr_assert(strstr(g_err, g_path) && strstr(g_err, "invalid JSON"), "%s", g_err);
    /* over the size cap */
    FILE *f = fopen(g_path, "w");
    for (int i = 0; i < (WEFT_JWKS_MAX_BYTES / 1000) + 2; i++)
        fprintf(f, "%1000s", " ");
    fclose(f);
    cr_assert_null(weft_jwks_load_file(g_path, g_err, sizeof g_err));
    cr_assert(strstr(g_err, "larger than"), "%s", g_err);
}

Test(jwt, bearer_header)
{
    const char *tok;
    size_t n;
    const char *h = "Bearer abc.def.ghi";
    cr_assert_eq(weft_jwt_bearer(h, strlen(h), &tok, &n), 0);
    cr_assert_eq(n, 11);
    cr_assert_eq(strncmp(tok, "abc.def.ghi", n), 0);
    h = "  bEaReR \t x.y.z  ";
    cr_assert_eq(weft_jwt_bearer(h, strlen(h), &tok, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(strncmp(tok, "x.y.z", n), 0);
    /* length bounds the header: the rest of the string is not read */
    h = "Bearer tok.en.xEXTRA";
    cr_assert_eq(weft_jwt_bearer(h, 14, &tok, &n), 0);
    cr_assert_eq(n, 7);
    static const char *const bad[] = {"",           "Bearer",         "Bearer ",
                                      "Bearer   ",  "Basic dXNlcjpw", "Bearerabc",
                                      "Bearer a b", "Token abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(weft_jwt_bearer(bad[i], strlen(bad[i]), &tok, &n), WEFT_EAUTH, "\"%s\"",
                     bad[i]);
    cr_assert_eq(weft_jwt_bearer(NULL, 0, &tok, &n), WEFT_EAUTH);
}

/* ---- verification from several threads ---- */

struct vjob {
    const char *tok;
    int ok;
};

static void *
verify_many(void *arg)
{
    struct vjob *j = arg;
    for (int i = 0; i < 100; i++) {
        weft_jwt_claims cl;
        char e[WEFT_JWT_ERR];
        if (weft_jwt_verify(g_jwks, j->tok, strlen(j->tok), AUD, NULL, NOW, &cl, e, sizeof e) ==
                0 &&
            strcmp(cl.sub, "client-7") == 0)
            j->ok++;
    }
    return NULL;
}

Test(jwt, concurrent_verifies)
{
    char *c = claims(",\"max_publish_per_sec\":2");
    char *tok = sign(g_key, "RS256", "k1", c);
    struct vjob jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct vjob){.tok = tok};
        cr_assert_eq(pthread_create(&th[i], NULL, verify_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(jobs[i].ok, 100);
    }
    free(tok);
    free(c);
}

/* ---- the http:// loader against a server thread ---- */

struct srv {
    int lfd, port;
    const char *mode; /* "length", "chunked", "close", "404", "silent" */
    const char *body;
    char req[4096];
};

static void
send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void
drain(int fd)
{
    char b[512];
    while (recv(fd, b, sizeof b, 0) > 0) {
    }
}

static void *
serve(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    while (n + 1 < sizeof s->req && !strstr(s->req, "\r\n\r\n")) {
        ssize_t r = recv(fd, s->req + n, sizeof s->req - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        s->req[n] = 0;
    }
    char head[256];
    size_t bl = s->body ? strlen(s->body) : 0;
    if (!strcmp(s->mode, "length")) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: %zu\r\n\r\n",
                 bl);
        send_all(fd, head, strlen(head));
        send_all(fd, s->body, bl);
        drain(fd); /* keep the connection open: the client must stop by itself */
    } else if (!strcmp(s->mode, "chunked")) {
        const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        send_all(fd, h, strlen(h));
        for (size_t off = 0; off < bl; off += 100) {
            size_t len = bl - off < 100 ? bl - off : 100;
            snprintf(head, sizeof head, "%zx;ext=1\r\n", len);
            send_all(fd, head, strlen(head));
            send_all(fd, s->body + off, len);
            send_all(fd, "\r\n", 2);
        }
        send_all(fd, "0\r\nX-Trailer: y\r\n\r\n", 20);
        drain(fd);
    } else if (!strcmp(s->mode, "close")) {
        const char *h = "HTTP/1.0 200 OK\r\n\r\n";
        send_all(fd, h, strlen(h));
        send_all(fd, s->body, bl);
    } else if (!strcmp(s->mode, "404")) {
        const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
        send_all(fd, h, strlen(h));
        drain(fd);
    } else {
        drain(fd); /* "silent": answer nothing until the client gives up */
    }
    close(fd);
    return NULL;
}

static void
serve_start(struct srv *s, pthread_t *th)
{
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s->lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(s->lfd, 4), 0);
    socklen_t al = sizeof a;
    cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(th, NULL, serve, s), 0);
}

static weft_jwks *
fetch(const char *mode, const char *body, const char *path, struct srv *s)
{
    pthread_t th;
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->body = body;
    serve_start(s, &th);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    weft_jwks *k = weft_jwks_load_url(url, g_err, sizeof g_err);
    pthread_join(th, NULL);
    close(s->lfd);
    return k;
}

Test(jwt, jwks_over_http)
{
    struct srv s;
    static const char *const modes[] = {"length", "chunked", "close"};
    for (size_t i = 0; i < 3; i++) {
        weft_jwks *k = fetch(modes[i], g_jwks_json, "/.well-known/jwks.json", &s);
        cr_assert_not_null(k, "%s: %s", modes[i], g_err);
        cr_assert_eq(weft_jwks_count(k), 1);
        cr_assert(strncmp(s.req, "GET /.well-known/jwks.json HTTP/1.1\r\n", 37) == 0, "%s", s.req);
        char host[64];
        snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
        cr_assert(strstr(s.req, host), "%s", s.req);
        char *c = claims("");
        char *tok = sign(g_key, "RS256", "k1", c);
        cr_assert_eq(verify(k, tok), 0, "%s", g_err);
        free(tok);
        free(c);
        weft_jwks_free(k);
    }
    cr_assert_null(fetch("404", NULL, "/missing", &s));
    cr_assert(strstr(g_err, "HTTP status 404"), "%s", g_err);
    cr_assert_null(fetch("length", "{\"keys\":[]}", "", &s));
    cr_assert(strstr(g_err, "no usable RS256 key"), "%s", g_err);
    cr_assert(strncmp(s.req, "GET / HTTP/1.1", 14) == 0, "%s", s.req);
}

Test(jwt, jwks_url_refusals)
{
    cr_assert_null(
        weft_jwks_load_url("https://tenant.auth0.com/.well-known/jwks.json", g_err, sizeof g_err));
    cr_assert(strstr(g_err, "weft_jwks_load, not here"), "%s", g_err);
    static const char *const bad[] = {"ftp://x/",        "http://",     "http://h:0/",
                                      "http://h:99999/", "http://u@h/", "http://h/a b",
                                      "http://[::1/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g_err[0] = 0;
        cr_assert_null(weft_jwks_load_url(bad[i], g_err, sizeof g_err), "%s", bad[i]);
        cr_assert(g_err[0], "%s: no error text", bad[i]);
    }
    /* nothing listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    cr_assert_null(weft_jwks_load_url(url, g_err, sizeof g_err));
    cr_assert(strstr(g_err, "cannot connect"), "%s", g_err);
}

Test(jwt, jwks_url_times_out)
{
    struct srv s;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_null(fetch("silent", NULL, "/", &s));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(strstr(g_err, "timed out"), "%s", g_err);
    cr_assert(el > 4.5 && el < 8, "took %.2f s", el);
}
