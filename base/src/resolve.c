/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded name resolution (weft/resolve.h). The lookup and its waiter
 * share one record with a reference each; whoever lets go last frees it,
 * so a waiter that gave up never leaves the lookup writing into freed
 * memory, and a lookup that finishes late costs nothing but its thread.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/resolve.h"

struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, gai;
    int family;
    char host[256], port[8];
    weft_addr addrs[WEFT_RESOLVE_MAX];
    size_t n;
};

static void
lookup_unref(struct lookup *l)
{
    pthread_mutex_lock(&l->mu);
    int last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (last) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        free(l);
    }
}

static void *
lookup_main(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {.ai_family = l->family, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(l->host, l->port, &hints, &res);
    pthread_mutex_lock(&l->mu);
    l->gai = g;
    for (struct addrinfo *a = g == 0 ? res : NULL; a && l->n < WEFT_RESOLVE_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof l->addrs[0].sa)
            continue;
        memcpy(&l->addrs[l->n].sa, a->ai_addr, a->ai_addrlen);
        l->addrs[l->n++].len = a->ai_addrlen;
    }
    if (g == 0 && !l->n)
        l->gai = EAI_NONAME;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (res)
        freeaddrinfo(res);
    lookup_unref(l);
    return NULL;
}

static int
say(char *err, size_t cap, int rc, const char *host, const char *why)
{
    if (err && cap)
        snprintf(err, cap, "cannot resolve %.200s: %s", host, why);
    return rc;
}

int
weft_resolve(const char *host, unsigned port, int family, int timeout_ms,
             struct sockaddr_storage *sa, socklen_t *salen, char *err, size_t cap)
{
    if (!sa || !salen)
        return WEFT_EINVAL;
    weft_addr a;
    int rc = weft_resolve_list(host, port, family, timeout_ms, &a, 1, err, cap);
    if (rc < 0)
        return rc;
    *sa = a.sa;
    *salen = a.len;
    return 0;
}

int
weft_resolve_list(const char *host, unsigned port, int family, int timeout_ms, weft_addr *out,
                  size_t max, char *err, size_t cap)
{
    if (!host || !*host || strlen(host) >= 256 || port > 65535 || timeout_ms <= 0 || !out || !max ||
        (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC))
        return WEFT_EINVAL;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->refs = 2;
    l->family = family;
    snprintf(l->host, sizeof l->host, "%s", host);
    snprintf(l->port, sizeof l->port, "%u", port);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    /* The lookup thread takes no signals: a process's handlers stay on the
     * threads that expect them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int prc = pthread_create(&th, &at, lookup_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    if (prc != 0) {
        l->refs = 1;
        lookup_unref(l);
        return say(err, cap, -prc, host, "cannot start the lookup");
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->mu);
    while (!l->done)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
            break;
    int done = l->done, gai = l->gai;
    size_t n = 0;
    if (done && gai == 0)
        for (; n < l->n && n < max; n++)
            out[n] = l->addrs[n];
    pthread_mutex_unlock(&l->mu);
    lookup_unref(l);
    if (!done) {
        char why[64];
        snprintf(why, sizeof why, "no answer within %d ms", timeout_ms);
        return say(err, cap, WEFT_ERESOLVE, host, why);
    }
    if (gai != 0)
        return say(err, cap, WEFT_ERESOLVE, host, gai_strerror(gai));
    return (int)n;
}
