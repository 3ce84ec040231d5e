/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ENABLE_AUTH=true: every REST request, WebSocket upgrade and gRPC call
 * carries "Authorization: Bearer <JWT>". The token is verified against the
 * key set with AUTH0_AUDIENCE and the issuer of AUTH0_DOMAIN when they are
 * set. The key set is https://AUTH0_DOMAIN/.well-known/jwks.json, or
 * WEFT_JWKS (a file, http:// or https://) when given; a thread refetches it
 * every WEFT_JWKS_REFRESH_S and when a token names an unknown kid (at most
 * once per WEFT_JWKS_MIN_INTERVAL_MS), and a failed refetch keeps the last
 * good set (logged once, counted). Its subject is the client id
 * and its claims carry the client's limits, enforced per client. Bad
 * tokens get 401; a limit gets 429 with the limit named and a Retry-After;
 * a message over the token's max_message_size gets 413.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "weft/clock.h"
#include "weft/log.h"
#include "weft/svc_jwt.h"
#include "weft/svc_ratelimit.h"

/* A key set shared by the requests verifying against it: the last
 * reference frees it, so a refresh never pulls a set from under a check. */
struct keyset {
    weft_jwks *k;
    int refs; /* under px_auth.mu */
};

struct px_auth {
    proxy *p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct keyset *cur;  /* [mu] the last good set */
    int want, stop;      /* [mu] a refresh asked for (unknown kid); shutting down */
    int64_t last_try_ms; /* [mu] start of the last fetch */
    int failing;         /* refresher thread only: the last fetch failed (logged once) */
    pthread_t th;
    int th_started;
    char src[4200]; /* WEFT_JWKS, or https://AUTH0_DOMAIN/.well-known/jwks.json */
    weft_ratelimit *rl;
    char issuer[320];
};

static void
keyset_unref(struct px_auth *a, struct keyset *ks)
{
    if (!ks)
        return;
    pthread_mutex_lock(&a->mu);
    int last = --ks->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last) {
        weft_jwks_free(ks->k);
        free(ks);
    }
}

static struct keyset *
keyset_get(struct px_auth *a)
{
    pthread_mutex_lock(&a->mu);
    struct keyset *ks = a->cur;
    if (ks)
        ks->refs++;
    pthread_mutex_unlock(&a->mu);
    return ks;
}

static void
keyset_install(struct px_auth *a, weft_jwks *k)
{
    struct keyset *ks = calloc(1, sizeof *ks);
    if (!ks) {
        weft_jwks_free(k);
        return;
    }
    ks->k = k;
    ks->refs = 1;
    pthread_mutex_lock(&a->mu);
    struct keyset *old = a->cur;
    a->cur = ks;
    pthread_mutex_unlock(&a->mu);
    keyset_unref(a, old);
}

/* One fetch from the source; installs the set when it is good. A failure
 * keeps the last good set: it is logged once per run of failures and
 * counted every time. */
static int
refresh(struct px_auth *a)
{
    char err[WEFT_JWT_ERR];
    weft_jwks *k = weft_jwks_load(a->src, a->p->cfg.tls_ca_file, err, sizeof err);
    if (!k) {
        weft_metric_inc(a->p->m.jwks_refresh_failed);
        if (!a->failing)
            weft_log(WEFT_LOG_WARN, "proxy",
                     "msg=\"key set refresh failed; keeping the last good set\" src=\"%s\" "
                     "err=\"%s\"",
                     a->src, err);
        a->failing = 1;
        return -1;
    }
    weft_metric_inc(a->p->m.jwks_refresh_ok);
    if (a->failing)
        weft_log(WEFT_LOG_INFO, "proxy", "msg=\"key set refresh works again\" keys=%zu",
                 weft_jwks_count(k));
    a->failing = 0;
    weft_log(WEFT_LOG_DEBUG, "proxy", "msg=\"key set refreshed\" keys=%zu", weft_jwks_count(k));
    keyset_install(a, k);
    return 0;
}

/* Refetch every WEFT_JWKS_REFRESH_S, or sooner when a token named a key id
 * the set lacks, never more often than WEFT_JWKS_MIN_INTERVAL_MS. */
static void *
refresher(void *arg)
{
    struct px_auth *a = arg;
    const int64_t period = a->p->cfg.jwks_refresh_s * 1000, gap = a->p->cfg.jwks_retry_ms;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        int64_t now = weft_unix_ms();
        int64_t due = a->last_try_ms + (a->want ? gap : period);
        if (now >= due) {
            a->want = 0;
            a->last_try_ms = now;
            pthread_mutex_unlock(&a->mu);
            refresh(a);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = due - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void
auth_free(struct px_auth *a)
{
    if (!a)
        return;
    if (a->th_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL);
    }
    struct keyset *ks = a->cur;
    a->cur = NULL;
    keyset_unref(a, ks);
    weft_ratelimit_free(a->rl);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int
px_auth_start(proxy *p)
{
    struct px_auth *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "weft-proxy: out of memory at start-up\n");
        return -1;
    }
    a->p = p;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (p->cfg.auth0_domain &&
        weft_jwt_auth0_issuer(p->cfg.auth0_domain, a->issuer, sizeof a->issuer) < 0) {
        fprintf(stderr, "weft-proxy: AUTH0_DOMAIN=\"%s\": expected a host name\n",
                p->cfg.auth0_domain);
        auth_free(a);
        return -1;
    }
    /* The guides' configuration: the issuer's own key set. */
    if (p->cfg.jwks)
        snprintf(a->src, sizeof a->src, "%s", p->cfg.jwks);
    else
        snprintf(a->src, sizeof a->src, "%s.well-known/jwks.json", a->issuer);
    const char *var = p->cfg.jwks ? "WEFT_JWKS" : "AUTH0_DOMAIN";
    char err[WEFT_JWT_ERR];
    weft_jwks *k = weft_jwks_load(a->src, p->cfg.tls_ca_file, err, sizeof err);
    if (!k) {
        fprintf(stderr, "weft-proxy: %s=\"%s\": key set %s: %s\n", var,
                p->cfg.jwks ? p->cfg.jwks : p->cfg.auth0_domain, a->src, err);
        auth_free(a);
        return -1;
    }
    weft_metric_inc(p->m.jwks_refresh_ok);
    a->last_try_ms = weft_unix_ms();
    keyset_install(a, k);
    a->rl = weft_ratelimit_new(100000);
    if (!a->rl || pthread_create(&a->th, NULL, refresher, a) != 0) {
        fprintf(stderr, "weft-proxy: out of memory at start-up\n");
        auth_free(a);
        return -1;
    }
    a->th_started = 1;
    weft_log(WEFT_LOG_INFO, "proxy",
             "msg=\"auth on\" keys=%zu src=\"%s\" audience=\"%s\" issuer=\"%s\" refresh_s=%lld",
             weft_jwks_count(a->cur->k), a->src, p->cfg.auth0_audience ? p->cfg.auth0_audience : "",
             a->issuer, p->cfg.jwks_refresh_s);
    p->auth = a;
    return 0;
}

void
px_auth_stop(proxy *p)
{
    auth_free(p->auth);
    p->auth = NULL;
}

/* A token named a key id the set lacks: the issuer may have rotated its
 * keys, so ask the refresher for a fetch (rate-limited there). */
static void
want_refresh(struct px_auth *a)
{
    pthread_mutex_lock(&a->mu);
    if (!a->want) {
        a->want = 1;
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
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
    struct keyset *ks = keyset_get(a);
    int vrc = ks ? weft_jwt_verify(ks->k, tok, toklen, p->cfg.auth0_audience,
                                   a->issuer[0] ? a->issuer : NULL, (int64_t)time(NULL), &cl, err,
                                   sizeof err)
                 : WEFT_EAUTH;
    keyset_unref(a, ks);
    if (!ks)
        snprintf(err, sizeof err, "no key set");
    if (vrc < 0) {
        if (!strncmp(err, "unknown key id", 14))
            want_refresh(a);
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
