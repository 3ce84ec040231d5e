/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ENABLE_AUTH=true: every REST request, WebSocket upgrade and gRPC call
 * carries "Authorization: Bearer <JWT>". The token is verified against the
 * JWKS (WEFT_JWKS: a file or an http:// URL) with AUTH0_AUDIENCE and the
 * issuer of AUTH0_DOMAIN when they are set; its subject is the client id
 * and its claims carry the client's limits, enforced per client. Bad
 * tokens get 401; a limit gets 429 with the limit named and a Retry-After;
 * a message over the token's max_message_size gets 413.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "weft/log.h"
#include "weft/svc_jwt.h"
#include "weft/svc_ratelimit.h"

struct px_auth {
    weft_jwks *jwks;
    weft_ratelimit *rl;
    char issuer[320];
};

int
px_auth_start(proxy *p)
{
    struct px_auth *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    char err[WEFT_JWT_ERR];
    const char *src = p->cfg.jwks;
    a->jwks = !strncmp(src, "http://", 7) ? weft_jwks_load_url(src, err, sizeof err)
                                          : weft_jwks_load_file(src, err, sizeof err);
    if (!a->jwks) {
        fprintf(stderr, "weft-proxy: WEFT_JWKS=\"%s\": %s\n", src, err);
        free(a);
        return -1;
    }
    if (p->cfg.auth0_domain &&
        weft_jwt_auth0_issuer(p->cfg.auth0_domain, a->issuer, sizeof a->issuer) < 0) {
        fprintf(stderr, "weft-proxy: AUTH0_DOMAIN=\"%s\": expected a host name\n",
                p->cfg.auth0_domain);
        weft_jwks_free(a->jwks);
        free(a);
        return -1;
    }
    a->rl = weft_ratelimit_new(100000);
    if (!a->rl) {
        weft_jwks_free(a->jwks);
        free(a);
        return -1;
    }
    weft_log(WEFT_LOG_INFO, "proxy", "msg=\"auth on\" keys=%zu audience=\"%s\" issuer=\"%s\"",
             weft_jwks_count(a->jwks), p->cfg.auth0_audience ? p->cfg.auth0_audience : "",
             a->issuer);
    p->auth = a;
    return 0;
}

void
px_auth_stop(proxy *p)
{
    struct px_auth *a = p->auth;
    if (!a)
        return;
    weft_jwks_free(a->jwks);
    weft_ratelimit_free(a->rl);
    free(a);
    p->auth = NULL;
}

int
px_auth_check(proxy *p, const char *authz, size_t authz_len, char *sub, size_t cap,
              size_t msg_bytes, int publishing, weft_http_resp *resp)
{
    struct px_auth *a = p->auth;
    const char *tok;
    size_t toklen;
    char err[WEFT_JWT_ERR], msg[WEFT_JWT_ERR + 64];
    if (!a)
        return 0;
    if (!authz || weft_jwt_bearer(authz, authz_len, &tok, &toklen) < 0) {
        weft_metric_inc(p->m.auth_failures);
        weft_http_reply_error(resp, 401,
                              "missing bearer token: expected Authorization: Bearer "
                              "<JWT>");
        return 401;
    }
    weft_jwt_claims cl;
    if (weft_jwt_verify(a->jwks, tok, toklen, p->cfg.auth0_audience,
                        a->issuer[0] ? a->issuer : NULL, (int64_t)time(NULL), &cl, err,
                        sizeof err) < 0) {
        weft_metric_inc(p->m.auth_failures);
        snprintf(msg, sizeof msg, "invalid token: %s", err);
        weft_http_reply_error(resp, 401, msg);
        return 401;
    }
    if (strlen(cl.sub) >= cap || strlen(cl.sub) > PX_ID_MAX) {
        weft_metric_inc(p->m.auth_failures);
        weft_http_reply_error(resp, 401, "invalid token: subject longer than 128 bytes");
        return 401;
    }
    snprintf(sub, cap, "%s", cl.sub);
    if (!publishing)
        return 0;
    int64_t retry = 0;
    const char *which = NULL;
    int64_t now_ms = weft_unix_ms();
    if (weft_ratelimit_check(a->rl, cl.sub, &cl.limits, msg_bytes, now_ms, &retry, &which) < 0) {
        weft_metric_inc(p->m.rate_limited);
        if (which && !strcmp(which, "max_message_size")) {
            snprintf(msg, sizeof msg,
                     "message of %zu bytes exceeds the token's max_message_size %lld", msg_bytes,
                     (long long)cl.limits.max_message_size);
            weft_http_reply_error(resp, 413, msg);
            return 413;
        }
        int64_t secs = retry > 0 ? (retry + 999) / 1000 : 1;
        snprintf(msg, sizeof msg, "rate limit exceeded: %s; retry after %lld s",
                 which ? which : "limit", (long long)secs);
        weft_http_reply_error(resp, 429, msg);
        resp->retry_after = (int)(secs > 86400 ? 86400 : secs);
        return 429;
    }
    return 0;
}
