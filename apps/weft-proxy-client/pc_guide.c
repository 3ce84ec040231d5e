/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pc_guide.c: weft-proxy-client without -mode behaves as the guides'
 * proxy_client, so their script/proxy_client.sh runs with the binary
 * renamed: subscribe the client over REST (POST /api/v1/subscribe with
 * -threshold, default 0.1), open ProxyStream.ClientStream on -proxy with a
 * first message carrying only the client id, print every delivery, and
 * (unless -subscribeOnly) publish -count generated messages over REST with
 * -delay between them, then listen 3 s more and exit.
 *
 * Lines follow the guide's client, on stderr with Go's log prefix
 * ("2006/01/02 15:04:05 "): "[INFO] Client ID: ... | Topic: ... |
 * Threshold: 0.10", "[RECEIVED] Topic: ... | Message: ...", "[PUBLISH]
 * Message: ...", "[ERROR] ...", "[CLOSED] ...", "[INTERRUPTED] ...".
 * Deliveries are received on a thread of their own while the main thread
 * publishes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pclient.h"
#include "proxy_stream.pb-c.h"
#include "weft/clock.h"
#include "weft/svc_grpc_client.h"

#define M_STREAM "/proto.ProxyStream/ClientStream"
#define LINGER_NS (3 * 1000000000LL) /* listen after the last publish, as the guide */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void glog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line as Go's log package writes it: local date and time, then text. */
static void
glog(const char *fmt, ...)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S ", &tm);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_mu);
    fputs(stamp, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
    va_end(ap);
}

/* Sleep ns unless stopped first. 0, or -EINTR. */
static int
nap(int64_t ns)
{
    int64_t end = weft_mono_ns() + ns;
    while (!pc_stop) {
        int64_t left = end - weft_mono_ns();
        if (left <= 0)
            return 0;
        if (left > PC_POLL_MS * 1000000LL)
            left = PC_POLL_MS * 1000000LL;
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        nanosleep(&ts, NULL);
    }
    return -EINTR;
}

/* A REST call's failure as one line of text. */
static void
rest_failure(const weft_httpc_resp *r, char *out, size_t cap)
{
    char body[400];
    pc_printable((const uint8_t *)r->body, r->body_len, 300, body, sizeof body);
    snprintf(out, cap, "HTTP %d: %.400s", r->status, body[0] ? body : "(empty body)");
}

static int
guide_subscribe(const pc_opts *o)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "client_id", o->client_id);
    cJSON_AddStringToObject(req, "topic", o->topic);
    cJSON_AddNumberToObject(req, "threshold", o->threshold);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    char err[PC_ERRLEN];
    weft_httpc_resp r;
    int rc = body ? pc_rest_post(o, "/api/v1/subscribe", body, &r, err, sizeof err) : -ENOMEM;
    free(body);
    if (rc == -EINTR)
        return rc;
    if (rc < 0) {
        glog("subscribe error: %s: %s", o->proxy, rc == -ENOMEM ? "out of memory" : err);
        return -1;
    }
    if (r.status < 200 || r.status > 299) {
        rest_failure(&r, err, sizeof err);
        glog("subscribe error: %s: %s", o->proxy, err);
        weft_httpc_resp_free(&r);
        return -1;
    }
    weft_httpc_resp_free(&r);
    return 0;
}

struct receiver {
    const pc_opts *o;
    weft_grpc_stream *s;
    atomic_int done; /* the main thread is finished: stop receiving */
};

static void *
receive_main(void *arg)
{
    struct receiver *rv = arg;
    while (!pc_stop && !atomic_load(&rv->done)) {
        uint8_t *m = NULL;
        size_t len = 0;
        int rc = weft_grpc_stream_recv(rv->s, &m, &len, PC_POLL_MS);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc == 0) {
            const weft_grpc_status *st = weft_grpc_stream_status(rv->s);
            if (st->code == 0) /* OK */
                glog("[CLOSED] gRPC stream closed by server");
            else
                glog("[ERROR] stream receive: %s%s%s", weft_grpc_status_name(st->code),
                     st->details[0] ? ": " : "", st->details);
            break;
        }
        if (rc < 0) {
            if (!atomic_load(&rv->done) && !pc_stop)
                glog("[ERROR] stream receive: %s", weft_strerror(rc));
            break;
        }
        Proto__ProxyMessage *pm = proto__proxy_message__unpack(NULL, len, m);
        free(m);
        if (!pm) {
            glog("[ERROR] stream receive: an undecodable ProxyMessage of %zu bytes", len);
            continue;
        }
        char text[4200];
        pc_printable(pm->message.data, pm->message.len, 4096, text, sizeof text);
        glog("[RECEIVED] Topic: %s | Message: %s", pm->topic ? pm->topic : "", text);
        proto__proxy_message__free_unpacked(pm, NULL);
    }
    return NULL;
}

/* A short generated message, "<word> @ HH:MM:SS (n)" as the guide's (which
 * stops at the time) plus its number: two in one second stay distinct. */
static void
make_message(char *out, size_t cap, unsigned i)
{
    static const char *const words[] = {"hello",  "ping",   "news", "tick",
                                        "signal", "update", "note", "event"};
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    unsigned pick = (unsigned)(weft_mono_ns() / 1000) + i;
    snprintf(out, cap, "%s @ %s (%u)", words[pick % (sizeof words / sizeof words[0])], hms, i + 1);
}

static void
guide_publish(const pc_opts *o, const char *msg)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "client_id", o->client_id);
    cJSON_AddStringToObject(req, "topic", o->topic);
    cJSON_AddStringToObject(req, "message", msg);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    char err[PC_ERRLEN];
    weft_httpc_resp r;
    int rc = body ? pc_rest_post(o, "/api/v1/publish", body, &r, err, sizeof err) : -ENOMEM;
    free(body);
    if (rc == -EINTR)
        return;
    if (rc < 0) {
        glog("[ERROR] publish failed: %s", rc == -ENOMEM ? "out of memory" : err);
        return;
    }
    if (r.status < 200 || r.status > 299) {
        rest_failure(&r, err, sizeof err);
        glog("[ERROR] publish failed: %s", err);
    }
    weft_httpc_resp_free(&r);
}

int
pc_guide_main(const pc_opts *o)
{
    glog("[INFO] Client ID: %s | Topic: %s | Threshold: %.2f", o->client_id, o->topic,
         o->threshold);
    int rc = guide_subscribe(o);
    if (rc == -EINTR)
        return 0;
    if (rc < 0)
        return 1;
    int e = 0, status = 1;
    weft_grpc_channel *ch = weft_grpc_channel_new(o->grpc, &e);
    if (!ch) {
        glog("gRPC connection failed: %s: %s", o->grpc, weft_strerror(e));
        return 1;
    }
    char authz[16400];
    weft_grpc_md md = {"authorization", authz};
    if (o->token)
        snprintf(authz, sizeof authz, "Bearer %s", o->token);
    struct receiver rv = {.o = o};
    pthread_t th;
    int started = 0;
    rc = pc_grpc_ready(ch, o->grpc);
    if (rc < 0) {
        status = rc == -EINTR ? 0 : 1;
        goto out;
    }
    rv.s = weft_grpc_stream_start(ch, M_STREAM, &md, o->token ? 1 : 0, 0, WEFT_GRPC_WAIT_FOR_READY,
                                  &e);
    if (!rv.s) {
        glog("stream open failed: %s: %s", o->grpc, weft_strerror(e));
        goto out;
    }
    Proto__ProxyMessage first;
    proto__proxy_message__init(&first);
    first.client_id = o->client_id; /* only the id, as the guide's client sends it */
    uint8_t buf[512];
    size_t n = proto__proxy_message__get_packed_size(&first);
    if (n > sizeof buf) {
        glog("client ID send failed: the client id is too long");
        goto out;
    }
    proto__proxy_message__pack(&first, buf);
    if ((rc = weft_grpc_stream_send(rv.s, buf, n, PC_TIMEOUT_MS)) < 0) {
        glog("client ID send failed: %s", weft_strerror(rc));
        goto out;
    }
    if (pthread_create(&th, NULL, receive_main, &rv) != 0) {
        glog("[ERROR] cannot start the receiver thread");
        goto out;
    }
    started = 1;
    status = 0;
    if (o->subscribe_only) {
        while (!pc_stop && nap(1000000000LL) == 0) {
        }
    } else {
        for (long long i = 0; i < o->count && !pc_stop; i++) {
            char msg[64];
            make_message(msg, sizeof msg, (unsigned)i);
            glog("[PUBLISH] Message: %s", msg);
            guide_publish(o, msg);
            if (nap(o->sleep_ns) < 0)
                break;
        }
        WEFT_IGNORE(nap(LINGER_NS));
    }
    if (pc_stop)
        glog("[INTERRUPTED] shutting down...");
out:
    atomic_store(&rv.done, 1);
    if (started)
        pthread_join(th, NULL);
    if (rv.s) {
        weft_grpc_stream_cancel(rv.s);
        weft_grpc_stream_free(rv.s);
    }
    weft_grpc_channel_free(ch);
    return status;
}
