/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A REST publish from request to answer (README, "Proxy": message ids).
 *
 * The id a publisher is given is the one the node answered, the mesh id
 * that subscribers receive and that /api/v1/p2p-snapshot lists: the answer
 * is given from the pool's completion (rest.c defers the HTTP reply). Every
 * publish is a new message except a true retry: the same client, topic,
 * timestamp and content as one acknowledged within PX_DEDUP_WINDOW_MS, or
 * still in flight. A retry is not sent again and is answered with the
 * first publish's id (one in flight: once that one is answered, with its
 * outcome); a publish without timestamp is always new. Retries are
 * remembered in a direct-mapped table (DEDUP_SLOTS): an entry pushed out by
 * another key makes a later retry of it a new message, never a lost one.
 * Only a publish the node acknowledged is remembered; one that failed can
 * be retried and is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proxy.h"
#include "weft/log.h"

#define DEDUP_SLOTS 16384

enum { SLOT_FREE = 0, SLOT_PENDING, SLOT_DONE };

/* A retry that came while its first copy was in flight. */
struct follower {
    struct follower *next;
    px_publish_cb cb;
    void *user;
};

struct slot {
    uint8_t key[32];
    int state;
    uint64_t gen; /* claims of this slot, so a completion knows it is still its own */
    int64_t at;   /* monotonic ms of the first publish */
    char id[PX_MSGID_MAX];
    struct follower *followers; /* while pending */
};

static pthread_mutex_t dedup_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot dedup[DEDUP_SLOTS];

/* SHA-256 over the NUL-terminated client, topic and timestamp, then the
 * content: what makes two requests the same publish. */
static void
retry_key(const char *client, const char *topic, const char *ts, const uint8_t *m, size_t n,
          uint8_t out[32])
{
    EVP_MD_CTX *st = EVP_MD_CTX_new();
    if (st == NULL || EVP_DigestInit_ex(st, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(st, client, strlen(client) + 1) != 1 ||
        EVP_DigestUpdate(st, topic, strlen(topic) + 1) != 1 ||
        EVP_DigestUpdate(st, ts, strlen(ts) + 1) != 1 || EVP_DigestUpdate(st, m, n) != 1 ||
        EVP_DigestFinal_ex(st, out, NULL) != 1)
        weft_panic("SHA-256 of a publish key failed");
    EVP_MD_CTX_free(st);
}

/* ---- the publish ------------------------------------------------------------------- */

/* One publish in flight: whom to answer, and the dedup slot it claimed. */
struct inflight {
    proxy *p;
    px_publish_cb cb;
    void *user;
    struct slot *s; /* NULL: not remembered */
    uint64_t gen;
};

static const char *
why_not_queued(int rc)
{
    return rc == WEFT_ELIMIT ? "overloaded: every node's publish queue is full; retry"
           : rc == -ENOMEM   ? "out of memory"
                             : "no node available to publish to";
}

/* The pool's completion (or the refusal to queue): answer the publish and
 * any retry that waited for it. */
static void
finish(void *user, int rc, const char *text)
{
    struct inflight *f = user;
    char buf[PX_MSGID_MAX + 160];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    struct follower *fl = NULL;
    if (f->s) {
        pthread_mutex_lock(&dedup_mu);
        if (f->s->gen == f->gen && f->s->state == SLOT_PENDING) {
            fl = f->s->followers;
            f->s->followers = NULL;
            if (rc == 0) {
                f->s->state = SLOT_DONE;
                snprintf(f->s->id, sizeof f->s->id, "%.128s", buf);
            } else {
                f->s->state = SLOT_FREE; /* not acknowledged: a retry is sent */
            }
        }
        pthread_mutex_unlock(&dedup_mu);
    }
    f->cb(f->user, rc < 0 ? rc : PX_PUB_SENT, buf);
    while (fl) {
        struct follower *n = fl->next;
        if (rc == 0)
            weft_metric_inc(f->p->m.dedup_publish);
        fl->cb(fl->user, rc < 0 ? rc : PX_PUB_DEDUP, buf);
        free(fl);
        fl = n;
    }
    free(f);
}

void
px_publish(proxy *p, const char *client, const char *topic, const char *ts, const uint8_t *data,
           size_t n, px_publish_cb cb, void *user)
{
    struct inflight *f = calloc(1, sizeof *f);
    if (!f) {
        cb(user, -ENOMEM, "out of memory");
        return;
    }
    f->p = p;
    f->cb = cb;
    f->user = user;
    if (ts) {
        uint8_t key[32];
        retry_key(client, topic, ts, data, n, key);
        struct slot *s = &dedup[((unsigned)key[0] << 8 | key[1]) % DEDUP_SLOTS];
        int64_t now = weft_mono_ms();
        pthread_mutex_lock(&dedup_mu);
        int live = s->state != SLOT_FREE && now - s->at <= PX_DEDUP_WINDOW_MS;
        int same = live && !memcmp(s->key, key, 32);
        if (same && s->state == SLOT_DONE) {
            char id[PX_MSGID_MAX];
            memcpy(id, s->id, sizeof id);
            pthread_mutex_unlock(&dedup_mu);
            free(f);
            weft_metric_inc(p->m.dedup_publish);
            cb(user, PX_PUB_DEDUP, id);
            return;
        }
        struct follower *fl = same ? calloc(1, sizeof *fl) : NULL;
        if (fl) { /* its first copy is in flight: answered with it */
            fl->cb = cb;
            fl->user = user;
            fl->next = s->followers;
            s->followers = fl;
            pthread_mutex_unlock(&dedup_mu);
            free(f);
            return;
        }
        /* A slot another publish still waits on is left to it: this one
         * goes out unremembered (its retry would be a new message). */
        if (!(live && s->state == SLOT_PENDING)) {
            memcpy(s->key, key, 32);
            s->state = SLOT_PENDING;
            s->at = now;
            s->followers = NULL;
            f->s = s;
            f->gen = ++s->gen;
        }
        pthread_mutex_unlock(&dedup_mu);
    }
    int rc = px_pool_publish(p->pool, topic, data, n, finish, f);
    if (rc < 0)
        finish(f, rc, why_not_queued(rc));
}
