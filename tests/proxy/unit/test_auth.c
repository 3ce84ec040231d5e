/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's auth decisions (proxy/src/auth.c), no network: a JWKS file
 * made from an RSA key generated at run time, tokens signed with cjose, and
 * px_auth_check's answers -- 0 with the subject, 401 for a missing or bad
 * token, 413 over the token's max_message_size, 429 with Retry-After over a
 * rate -- and the counters it keeps.
 */
#include <cjose/cjose.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "proxy.h"
#include "weft/common.h"

#define AUD "https://api.weft.test"

static cjose_jwk_t *g_key, *g_other;
static char g_jwks[64];
static proxy g_p;

static cjose_jwk_t *
rsa_key(const char *kid)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err ce;
    cjose_jwk_t *k = cjose_jwk_create_RSA_random(2048, e, sizeof e, &ce);
    cr_assert_not_null(k, "RSA key: %s", ce.message);
    cr_assert(cjose_jwk_set_kid(k, kid, strlen(kid), &ce));
    return k;
}

static void
setup(void)
{
    g_key = rsa_key("k1");
    g_other = rsa_key("k1"); /* same kid, not in the JWKS */
    cjose_err ce;
    char *pub = cjose_jwk_to_json(g_key, false, &ce);
    cr_assert_not_null(pub);
    snprintf(g_jwks, sizeof g_jwks, "/tmp/weft-proxy-jwks-XXXXXX");
    int fd = mkstemp(g_jwks);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"keys\":[%s]}", pub);
    fclose(f);
    free(pub);
    memset(&g_p, 0, sizeof g_p);
    g_p.cfg.enable_auth = 1;
    g_p.cfg.jwks = g_jwks;
    g_p.cfg.auth0_audience = AUD;
    g_p.metrics = weft_metrics_new();
    g_p.m.auth_failures = weft_metrics_counter(g_p.metrics, "auth_failures_total", "h", NULL);
    g_p.m.rate_limited = weft_metrics_counter(g_p.metrics, "rate_limited_total", "h", NULL);
    cr_assert(g_p.m.auth_failures && g_p.m.rate_limited);
}

static void
teardown(void)
{
    px_auth_stop(&g_p);
    weft_metrics_free(g_p.metrics);
    cjose_jwk_release(g_key);
    cjose_jwk_release(g_other);
    unlink(g_jwks);
}

TestSuite(proxy_auth, .init = setup, .fini = teardown);

static char *
sign(const cjose_jwk_t *k, const char *payload)
{
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, "RS256", &ce));
    cr_assert(cjose_header_set(h, CJOSE_HDR_KID, "k1", &ce));
    cjose_jws_t *jws = cjose_jws_sign(k, h, (const uint8_t *)payload, strlen(payload), &ce);
    cr_assert_not_null(jws, "sign: %s", ce.message);
    const char *ser;
    cr_assert(cjose_jws_export(jws, &ser, &ce));
    char *out = strdup(ser);
    cjose_jws_release(jws);
    cjose_header_release(h);
    return out;
}

/* "Bearer <token>" for sub with extra claims (",\"x\":1" style). */
static char *
bearer(const cjose_jwk_t *k, const char *sub, const char *aud, long long exp_in, const char *extra)
{
    char payload[1024];
    long long now = (long long)time(NULL);
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld%s}",
             sub, aud, now - 10, now + exp_in, extra);
    char *tok = sign(k, payload);
    char *h;
    cr_assert(asprintf(&h, "Bearer %s", tok) > 0);
    free(tok);
    return h;
}

static int
check(const char *authz, size_t bytes, int publishing, weft_http_resp *r, char *sub)
{
    memset(r, 0, sizeof *r);
    sub[0] = 0;
    return px_auth_check(&g_p, authz, authz ? strlen(authz) : 0, sub, PX_ID_MAX + 1, bytes,
                         publishing, r);
}

static void
expect_body(weft_http_resp *r, const char *part)
{
    cr_assert_not_null(r->body, "no error body");
    char *b = strndup(r->body, r->body_len);
    cr_expect_not_null(strstr(b, part), "\"%s\" not in %s", part, b);
    free(b);
    free(r->body);
    r->body = NULL;
}

Test(proxy_auth, off_lets_everything_through)
{
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(NULL, 10, 1, &r, sub), 0, "no auth state: no check");
    cr_expect_null(r.body);
}

Test(proxy_auth, start_fails_on_bad_settings)
{
    g_p.cfg.jwks = "/nonexistent/jwks.json";
    cr_expect_lt(px_auth_start(&g_p), 0);
    cr_expect_null(g_p.auth);
    g_p.cfg.jwks = g_jwks;
    g_p.cfg.auth0_domain = "https:///"; /* no host left */
    cr_expect_lt(px_auth_start(&g_p), 0);
    cr_expect_null(g_p.auth);
    g_p.cfg.auth0_domain = NULL;
    cr_expect_eq(px_auth_start(&g_p), 0);
    cr_expect_not_null(g_p.auth);
}

Test(proxy_auth, a_valid_token_gives_its_subject)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    char *h = bearer(g_key, "client-7", AUD, 3600, "");
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(h, 10, 0, &r, sub), 0);
    cr_expect_str_eq(sub, "client-7");
    cr_expect_eq(check(h, 10, 1, &r, sub), 0, "no limits in the token: publishing is fine");
    cr_expect_eq(weft_metric_value(g_p.m.auth_failures), 0);
    free(h);
}

Test(proxy_auth, missing_or_malformed_header)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    static const char *const bad[] = {NULL, "", "Basic dXNlcjpwYXNz", "Bearer"};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(check(bad[i], 0, 0, &r, sub), 401, "header %zu", i);
        cr_expect_eq(r.status, 401);
        expect_body(&r, "missing bearer token");
    }
    cr_expect_eq(weft_metric_value(g_p.m.auth_failures), 4);
}

Test(proxy_auth, bad_tokens_are_401)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    char *h[4] = {
        bearer(g_other, "c", AUD, 3600, ""),                /* a key the JWKS does not hold */
        bearer(g_key, "c", "https://other.test", 3600, ""), /* audience */
        bearer(g_key, "c", AUD, -3600, ""),                 /* expired */
        strdup("Bearer not.a.jwt"),
    };
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(check(h[i], 0, 0, &r, sub), 401, "token %d accepted", i);
        cr_expect_str_eq(sub, "", "a refused token set the subject");
        expect_body(&r, "invalid token: ");
        free(h[i]);
    }
    cr_expect_eq(weft_metric_value(g_p.m.auth_failures), 4);
}

Test(proxy_auth, issuer_is_checked_with_auth0_domain)
{
    g_p.cfg.auth0_domain = "tenant.example.com";
    cr_assert_eq(px_auth_start(&g_p), 0);
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    char *none = bearer(g_key, "c", AUD, 3600, "");
    cr_expect_eq(check(none, 0, 0, &r, sub), 401, "a token without iss was accepted");
    free(r.body);
    char *wrong = bearer(g_key, "c", AUD, 3600, ",\"iss\":\"https://evil.example.com/\"");
    cr_expect_eq(check(wrong, 0, 0, &r, sub), 401);
    free(r.body);
    char *right = bearer(g_key, "c", AUD, 3600, ",\"iss\":\"https://tenant.example.com/\"");
    cr_expect_eq(check(right, 0, 0, &r, sub), 0);
    cr_expect_str_eq(sub, "c");
    /* the domain may be written as a URL */
    px_auth_stop(&g_p);
    g_p.cfg.auth0_domain = "https://tenant.example.com/";
    cr_assert_eq(px_auth_start(&g_p), 0);
    cr_expect_eq(check(right, 0, 0, &r, sub), 0);
    free(none);
    free(wrong);
    free(right);
}

Test(proxy_auth, subject_longer_than_a_client_id)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    char id[PX_ID_MAX + 2];
    memset(id, 's', PX_ID_MAX + 1);
    id[PX_ID_MAX + 1] = 0;
    char *h = bearer(g_key, id, AUD, 3600, "");
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(h, 0, 0, &r, sub), 401);
    expect_body(&r, "subject longer than 128 bytes");
    free(h);
    id[PX_ID_MAX] = 0; /* exactly 128 */
    h = bearer(g_key, id, AUD, 3600, "");
    cr_expect_eq(check(h, 0, 0, &r, sub), 0);
    cr_expect_str_eq(sub, id);
    free(h);
}

Test(proxy_auth, message_size_limit_is_413)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    char *h = bearer(g_key, "c", AUD, 3600, ",\"max_message_size\":100");
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(h, 100, 1, &r, sub), 0);
    cr_expect_eq(check(h, 101, 1, &r, sub), 413);
    expect_body(&r, "message of 101 bytes exceeds the token's max_message_size 100");
    cr_expect_eq(weft_metric_value(g_p.m.rate_limited), 1);
    cr_expect_eq(check(h, 101, 0, &r, sub), 0, "a subscribe carries no message to limit");
    free(h);
}

Test(proxy_auth, publish_rate_is_429_with_retry_after)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    char *h = bearer(g_key, "rated", AUD, 3600, ",\"max_publish_per_sec\":2");
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(h, 1, 1, &r, sub), 0);
    cr_expect_eq(check(h, 1, 1, &r, sub), 0);
    /* not publishing: not charged */
    for (int i = 0; i < 5; i++)
        cr_expect_eq(check(h, 1, 0, &r, sub), 0);
    cr_expect_eq(check(h, 1, 1, &r, sub), 429, "a third publish within the second");
    cr_expect_eq(r.status, 429);
    cr_expect(r.retry_after >= 1 && r.retry_after <= 2, "Retry-After %d", r.retry_after);
    expect_body(&r, "rate limit exceeded: max_publish_per_sec; retry after ");
    cr_expect_eq(weft_metric_value(g_p.m.rate_limited), 1);
    cr_expect_eq(weft_metric_value(g_p.m.auth_failures), 0);
    /* the limit is per client */
    char *other = bearer(g_key, "another", AUD, 3600, ",\"max_publish_per_sec\":2");
    cr_expect_eq(check(other, 1, 1, &r, sub), 0);
    free(other);
    free(h);
}

Test(proxy_auth, daily_quota_in_bytes)
{
    cr_assert_eq(px_auth_start(&g_p), 0);
    char *h = bearer(g_key, "q", AUD, 3600, ",\"daily_quota\":1000");
    weft_http_resp r;
    char sub[PX_ID_MAX + 1];
    cr_expect_eq(check(h, 600, 1, &r, sub), 0);
    cr_expect_eq(check(h, 600, 1, &r, sub), 429, "1200 bytes within a 1000-byte day");
    cr_expect_gt(r.retry_after, 0);
    expect_body(&r, "daily_quota");
    free(h);
}
