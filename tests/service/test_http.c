/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The h2o-based HTTP server over real loopback sockets, driven by a plain
 * socket client: GET with a query, POST with a JSON body, keep-alive,
 * oversized bodies (Content-Length and chunked) answered 413 in JSON without
 * calling the handler, status and content type from the handler, stop with
 * an idle connection open, restart on the same port, bind failures, and the
 * query-string and reply helpers; deferred answers from another thread
 * (in order on a keep-alive connection, and dropped harmlessly when the
 * client left or the server stopped first).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "weft/clock.h"
#include "weft/common.h"
#include "weft/svc_http.h"

/* ---- what the handler saw ----------------------------------------------------- */

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char method[16], path[256], query[256], auth[256], ctype[128], ip[64];
    int has_auth, has_ctype;
    char body[4096];
    size_t body_len;
} seen;
static atomic_int calls;

static void
copy_span(char *dst, size_t cap, const char *s, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Deferred: /later?ms=N is answered from a thread N ms after the handler
 * returned, with the body "later N". */
struct later {
    weft_http_ticket *t;
    int ms;
};
static atomic_int answered;

static void *
later_main(void *arg)
{
    struct later *l = arg;
    usleep((useconds_t)l->ms * 1000);
    weft_http_resp r = {0};
    char body[32];
    snprintf(body, sizeof body, "later %d", l->ms);
    weft_http_reply(&r, 202, "text/plain", body);
    weft_http_answer(l->t, &r);
    cr_assert_null(r.body, "the answer did not take the body");
    atomic_fetch_add(&answered, 1);
    free(l);
    return NULL;
}

static void
handler(void *user, const weft_http_req *req, weft_http_resp *resp)
{
    (void)user;
    atomic_fetch_add(&calls, 1);
    pthread_mutex_lock(&seen_mu);
    copy_span(seen.method, sizeof(seen.method), req->method, req->method_len);
    copy_span(seen.path, sizeof(seen.path), req->path, req->path_len);
    copy_span(seen.query, sizeof(seen.query), req->query, req->query_len);
    seen.has_auth = req->authorization != NULL;
    if (seen.has_auth)
        copy_span(seen.auth, sizeof(seen.auth), req->authorization, req->authorization_len);
    seen.has_ctype = req->content_type != NULL;
    if (seen.has_ctype)
        copy_span(seen.ctype, sizeof(seen.ctype), req->content_type, req->content_type_len);
    seen.body_len = req->body_len;
    copy_span(seen.body, sizeof(seen.body), (const char *)req->body, req->body_len);
    snprintf(seen.ip, sizeof(seen.ip), "%s", req->remote_ip);
    pthread_mutex_unlock(&seen_mu);

    if (req->path_len == 5 && memcmp(req->path, "/echo", 5) == 0) {
        resp->status = 200;
        resp->body = malloc(req->body_len + 1);
        memcpy(resp->body, req->body, req->body_len);
        resp->body_len = req->body_len;
    } else if (req->path_len == 6 && memcmp(req->path, "/query", 6) == 0) {
        char v[64], out[128];
        int n = weft_http_query_get(req->query, req->query_len, "name", v, sizeof(v));
        snprintf(out, sizeof(out), "{\"name\":\"%s\",\"n\":%d}", n >= 0 ? v : "", n);
        weft_http_reply(resp, 200, NULL, out);
    } else if (req->path_len == 8 && memcmp(req->path, "/created", 8) == 0) {
        weft_http_reply(resp, 201, "text/plain; charset=utf-8", "made");
    } else if (req->path_len == 4 && memcmp(req->path, "/big", 4) == 0) {
        resp->body_len = (size_t)8 << 20;
        resp->body = malloc(resp->body_len);
        memset(resp->body, 'x', resp->body_len);
        resp->content_type = "application/octet-stream";
    } else if (req->path_len == 6 && memcmp(req->path, "/later", 6) == 0) {
        char v[16];
        struct later *l = malloc(sizeof *l);
        cr_assert_not_null(l);
        l->ms =
            weft_http_query_get(req->query, req->query_len, "ms", v, sizeof v) > 0 ? atoi(v) : 0;
        l->t = weft_http_defer(resp);
        cr_assert_not_null(l->t);
        cr_assert_null(weft_http_defer(resp), "a request deferred twice");
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, later_main, l), 0);
        pthread_detach(th);
    } else if (req->path_len == 6 && memcmp(req->path, "/empty", 6) == 0) {
        resp->status = 204;
    } else {
        weft_http_reply_error(resp, 404, "no \"route\"\nhere");
    }
}

static weft_http_server *
start(uint16_t port, size_t max_body)
{
    weft_http_config cfg = {
        .host = "127.0.0.1", .port = port, .max_body = max_body, .handler = handler, .user = NULL};
    int err = 1;
    weft_http_server *s = weft_http_start(&cfg, &err);
    cr_assert_not_null(s, "start failed: %d", err);
    cr_assert_eq(err, 0);
    cr_assert_neq(weft_http_port(s), 0);
    return s;
}

/* ---- a minimal HTTP/1.1 client ---------------------------------------------------- */

struct client {
    int fd;
    char buf[1 << 16];
    size_t have;
};

struct resp {
    int status;
    char reason[64];
    char ctype[128];
    long clen; /* -1 when absent */
    int conn_close;
    char body[1 << 15];
    size_t body_len;
};

static void
client_open(struct client *c, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 5};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s",
                 strerror(errno));
    c->have = 0;
}

static void
client_send(struct client *c, const void *p, size_t n)
{
    const char *b = p;
    while (n != 0) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

/* Read more bytes into c->buf; 0 on EOF or error. */
static int
client_fill(struct client *c)
{
    if (c->have == sizeof(c->buf))
        return 0;
    ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
    if (r <= 0)
        return 0;
    c->have += (size_t)r;
    return 1;
}

static int
header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1;
    while (v < line + n && *v == ' ')
        v++;
    *val = v;
    *vlen = (size_t)(line + n - v);
    return 1;
}

/* One response: status line, headers, a Content-Length body. Leaves any
 * further bytes in c->buf. 0 on success, -1 on EOF before a full response. */
static int
client_read(struct client *c, struct resp *r)
{
    char *end;
    memset(r, 0, sizeof(*r));
    r->clen = -1;
    while ((end = memmem(c->buf, c->have, "\r\n\r\n", 4)) == NULL)
        if (!client_fill(c))
            return -1;
    size_t hlen = (size_t)(end - c->buf) + 4;
    char *line = c->buf, *eol = memmem(line, hlen, "\r\n", 2);
    cr_assert(sscanf(line, "HTTP/1.1 %d %63[^\r]", &r->status, r->reason) >= 1, "bad status line");
    for (line = eol + 2; line < end; line = eol + 2) {
        const char *v;
        size_t vl;
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t n = (size_t)(eol - line);
        if (header_is(line, n, "content-type", &v, &vl))
            copy_span(r->ctype, sizeof(r->ctype), v, vl);
        else if (header_is(line, n, "content-length", &v, &vl))
            r->clen = strtol(v, NULL, 10);
        else if (header_is(line, n, "connection", &v, &vl))
            r->conn_close = vl == 5 && strncasecmp(v, "close", 5) == 0;
    }
    cr_assert_geq(r->clen, 0, "no Content-Length");
    cr_assert_leq((size_t)r->clen, sizeof(r->body));
    while (c->have < hlen + (size_t)r->clen)
        if (!client_fill(c))
            return -1;
    memcpy(r->body, c->buf + hlen, (size_t)r->clen);
    r->body_len = (size_t)r->clen;
    r->body[r->body_len] = '\0';
    memmove(c->buf, c->buf + hlen + r->body_len, c->have - hlen - r->body_len);
    c->have -= hlen + r->body_len;
    return 0;
}

static int
client_eof(struct client *c)
{
    return c->have == 0 && !client_fill(c);
}

/* ---- tests ------------------------------------------------------------------------- */

Test(http, get_with_query_and_authorization)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char req[] = "GET /query?name=a%20b+c&x=1 HTTP/1.1\r\nHost: t\r\n"
                       "Authorization: Bearer t0k.en\r\n\r\n";

    client_open(&c, weft_http_port(s));
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.reason, "OK");
    cr_assert_str_eq(r.ctype, "application/json");
    cr_assert_str_eq(r.body, "{\"name\":\"a b c\",\"n\":5}");
    cr_assert_eq((size_t)r.clen, strlen("{\"name\":\"a b c\",\"n\":5}"));

    pthread_mutex_lock(&seen_mu);
    cr_assert_str_eq(seen.method, "GET");
    cr_assert_str_eq(seen.path, "/query");
    cr_assert_str_eq(seen.query, "name=a%20b+c&x=1");
    cr_assert(seen.has_auth);
    cr_assert_str_eq(seen.auth, "Bearer t0k.en");
    cr_assert_not(seen.has_ctype);
    cr_assert_eq(seen.body_len, 0);
    cr_assert_str_eq(seen.ip, "127.0.0.1");
    pthread_mutex_unlock(&seen_mu);
    close(c.fd);
    weft_http_stop(s);
}

Test(http, path_without_query_has_empty_query)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char req[] = "GET /nothing/here HTTP/1.1\r\nHost: t\r\n\r\n";

    client_open(&c, weft_http_port(s));
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.reason, "Not Found");
    cr_assert_str_eq(r.ctype, "application/json");
    cr_assert_str_eq(r.body, "{\"error\":\"no \\\"route\\\"\\nhere\"}");
    pthread_mutex_lock(&seen_mu);
    cr_assert_str_eq(seen.path, "/nothing/here");
    cr_assert_str_eq(seen.query, "");
    cr_assert_not(seen.has_auth);
    pthread_mutex_unlock(&seen_mu);
    close(c.fd);
    weft_http_stop(s);
}

Test(http, post_json_body_is_delivered)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char body[] = "{\"topic\":\"a\",\"data\":[1,2,3],\"s\":\"\\u00e9\"}";
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);

    client_open(&c, weft_http_port(s));
    client_send(&c, req, (size_t)n);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, strlen(body));
    cr_assert_str_eq(r.body, body);
    pthread_mutex_lock(&seen_mu);
    cr_assert_str_eq(seen.method, "POST");
    cr_assert_str_eq(seen.path, "/echo");
    cr_assert(seen.has_ctype);
    cr_assert_str_eq(seen.ctype, "application/json");
    cr_assert_eq(seen.body_len, strlen(body));
    cr_assert_str_eq(seen.body, body);
    pthread_mutex_unlock(&seen_mu);
    close(c.fd);
    weft_http_stop(s);
}

Test(http, keep_alive_serves_two_requests_on_one_connection)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char get[] = "GET /query?name=one HTTP/1.1\r\nHost: t\r\n\r\n";
    const char post[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz";

    atomic_store(&calls, 0);
    client_open(&c, weft_http_port(s));
    client_send(&c, get, sizeof(get) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not(r.conn_close);
    cr_assert_str_eq(r.body, "{\"name\":\"one\",\"n\":3}");

    client_send(&c, post, sizeof(post) - 1);
    cr_assert_eq(client_read(&c, &r), 0, "second request on the same connection failed");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "xyz");
    cr_assert_eq(atomic_load(&calls), 2);

    /* pipelined: both requests in one write, answered in order */
    char two[256];
    int n = snprintf(two, sizeof(two), "%s%s", post, get);
    client_send(&c, two, (size_t)n);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_str_eq(r.body, "xyz");
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_str_eq(r.body, "{\"name\":\"one\",\"n\":3}");
    close(c.fd);
    weft_http_stop(s);
}

Test(http, handler_status_and_content_type)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char req[] = "PUT /created HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    const char del[] = "DELETE /empty HTTP/1.1\r\nHost: t\r\n\r\n";

    client_open(&c, weft_http_port(s));
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.reason, "Created");
    cr_assert_str_eq(r.ctype, "text/plain; charset=utf-8");
    cr_assert_str_eq(r.body, "made");
    cr_assert_eq(r.clen, 4);
    pthread_mutex_lock(&seen_mu);
    cr_assert_str_eq(seen.method, "PUT");
    pthread_mutex_unlock(&seen_mu);
    /* 204 carries no body; h2o still tells us the length */
    client_send(&c, del, sizeof(del) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 204);
    cr_assert_eq(r.body_len, 0);
    close(c.fd);
    weft_http_stop(s);
}

static void
expect_413(struct client *c)
{
    struct resp r;
    cr_assert_eq(client_read(c, &r), 0, "no response to an oversized body");
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(r.ctype, "application/json");
    cr_assert_str_eq(r.body, "{\"error\":\"request body too large\"}");
    cr_assert_eq((size_t)r.clen, strlen(r.body));
    /* the rest of the body is not read: the connection ends */
    cr_assert(client_eof(c));
}

Test(http, oversized_body_is_413_without_calling_handler)
{
    weft_http_server *s = start(0, 1024);
    struct client c;
    struct resp r;
    char req[4096], body[2048];
    int n;

    memset(body, 'a', sizeof(body));
    atomic_store(&calls, 0);

    /* exactly max_body is accepted */
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n");
    memcpy(req + n, body, 1024);
    client_open(&c, weft_http_port(s));
    client_send(&c, req, (size_t)n + 1024);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 1024);
    close(c.fd);
    cr_assert_eq(atomic_load(&calls), 1);

    /* one byte more is refused from Content-Length alone */
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n");
    memcpy(req + n, body, 1025);
    client_open(&c, weft_http_port(s));
    client_send(&c, req, (size_t)n + 1025);
    expect_413(&c);
    close(c.fd);

    /* chunked: refused once the received chunks pass the limit */
    client_open(&c, weft_http_port(s));
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    client_send(&c, req, (size_t)n);
    for (int i = 0; i < 3; i++) {
        n = snprintf(req, sizeof(req), "200\r\n");
        memcpy(req + n, body, 0x200);
        memcpy(req + n + 0x200, "\r\n", 2);
        client_send(&c, req, (size_t)n + 0x200 + 2);
    }
    expect_413(&c);
    close(c.fd);
    cr_assert_eq(atomic_load(&calls), 1, "the handler saw an oversized body");
    weft_http_stop(s);
}

Test(http, stop_closes_idle_connections_and_restart_reuses_port)
{
    weft_http_server *s = start(0, 0);
    uint16_t port = weft_http_port(s);
    struct client c, c2;
    struct resp r;
    const char req[] = "GET /query?name=z HTTP/1.1\r\nHost: t\r\n\r\n";

    client_open(&c, port);
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    client_open(&c2, port); /* connected, never sends */

    int64_t t0 = weft_mono_ms();
    weft_http_stop(s);
    cr_assert_lt(weft_mono_ms() - t0, 1500, "stop took %lld ms", (long long)(weft_mono_ms() - t0));
    cr_assert(client_eof(&c), "idle keep-alive connection left open");
    cr_assert(client_eof(&c2));
    close(c.fd);
    close(c2.fd);

    /* same port again (SO_REUSEADDR), and it serves */
    s = start(port, 0);
    cr_assert_eq(weft_http_port(s), port);
    client_open(&c, port);
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"name\":\"z\",\"n\":1}");
    close(c.fd);
    weft_http_stop(s);
    weft_http_stop(NULL);
}

static int
count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

Test(http, many_start_stop_cycles_leave_no_descriptors)
{
    int fds = count_fds();
    for (int i = 0; i < 20; i++) {
        weft_http_server *s = start(0, 0);
        struct client c;
        struct resp r;
        const char req[] = "GET /query?name=q HTTP/1.1\r\nHost: t\r\n\r\n";
        client_open(&c, weft_http_port(s));
        client_send(&c, req, sizeof(req) - 1);
        cr_assert_eq(client_read(&c, &r), 0);
        cr_assert_eq(r.status, 200);
        weft_http_stop(s);
        close(c.fd);
    }
    /* listener, epoll, wake-up pipe and connections all closed */
    cr_assert_eq(count_fds(), fds);
}

Test(http, client_vanishing_mid_response_is_harmless)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    const char big[] = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
    const char req[] = "GET /query?name=ok HTTP/1.1\r\nHost: t\r\n\r\n";

    /* the server's writes then fail with EPIPE/ECONNRESET; SIGPIPE must not
     * reach this process (the server thread blocks it) */
    for (int i = 0; i < 3; i++) {
        client_open(&c, weft_http_port(s));
        client_send(&c, big, sizeof(big) - 1);
        cr_assert(client_fill(&c));
        cr_assert_eq(strncmp(c.buf, "HTTP/1.1 200 OK\r\n", 17), 0);
        close(c.fd);
    }
    usleep(100 * 1000);
    client_open(&c, weft_http_port(s));
    client_send(&c, req, sizeof(req) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_str_eq(r.body, "{\"name\":\"ok\",\"n\":2}");
    close(c.fd);
    weft_http_stop(s);
}

Test(http, start_errors)
{
    weft_http_server *s = start(0, 0);
    weft_http_config cfg = {.host = "127.0.0.1", .port = weft_http_port(s), .handler = handler};
    int err = 0;

    cr_assert_null(weft_http_start(&cfg, &err));
    cr_assert_eq(err, -EADDRINUSE, "got %d", err);
    cfg.port = 0;
    cfg.handler = NULL;
    cr_assert_null(weft_http_start(&cfg, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    cfg.handler = handler;
    cfg.host = "not an address";
    cr_assert_null(weft_http_start(&cfg, &err));
    cr_assert_lt(err, 0);
    weft_http_stop(s);
}

struct hammer {
    uint16_t port;
    int ok;
};

static void *
hammer_main(void *arg)
{
    struct hammer *h = arg;
    struct client *c = malloc(sizeof(*c));
    struct resp *r = malloc(sizeof(*r));
    const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    client_open(c, h->port);
    for (int i = 0; i < 200; i++) {
        client_send(c, req, sizeof(req) - 1);
        if (client_read(c, r) != 0 || r->status != 200 || strcmp(r->body, "hello") != 0)
            break;
        h->ok++;
    }
    close(c->fd);
    free(c);
    free(r);
    return NULL;
}

Test(http, concurrent_keep_alive_clients)
{
    weft_http_server *s = start(0, 0);
    pthread_t t[4];
    struct hammer h[4];

    atomic_store(&calls, 0);
    for (int i = 0; i < 4; i++) {
        h[i].port = weft_http_port(s);
        h[i].ok = 0;
        pthread_create(&t[i], NULL, hammer_main, &h[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(h[i].ok, 200, "client %d got %d answers", i, h[i].ok);
    }
    cr_assert_eq(atomic_load(&calls), 800);
    weft_http_stop(s);
}

/* ---- helpers --------------------------------------------------------------------------- */

static int
qget(const char *q, const char *key, char *out, size_t cap)
{
    return weft_http_query_get(q, strlen(q), key, out, cap);
}

/* A raw connection from source address src; the caller closes it. */
static int
raw_from(uint16_t port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    return fd;
}

/* Whether the server closed fd within ms. */
static int
closed_soon(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b[64];
    return poll(&p, 1, ms) == 1 && recv(fd, b, sizeof b, MSG_DONTWAIT) <= 0;
}

Test(http, connection_caps_per_address_and_in_total)
{
    weft_http_config cfg = {
        .host = "127.0.0.1", .handler = handler, .max_conns = 10, .max_conns_per_ip = 4};
    int err = 1;
    weft_http_server *s = weft_http_start(&cfg, &err);
    cr_assert_not_null(s);
    uint16_t port = weft_http_port(s);
    int fds[14], closed = 0;
    for (int i = 0; i < 6; i++)
        fds[i] = raw_from(port, "127.0.0.1");
    for (int i = 0; i < 6; i++)
        closed += closed_soon(fds[i], 300);
    cr_expect_eq(closed, 2, "127.0.0.1: %d of 6 closed, want 2 (4 per address)", closed);
    closed = 0;
    for (int i = 6; i < 14; i++)
        fds[i] = raw_from(port, i < 10 ? "127.0.0.2" : "127.0.0.3");
    for (int i = 6; i < 14; i++)
        closed += closed_soon(fds[i], 300);
    cr_expect_eq(closed, 2, "%d of 8 closed, want 2 (10 in all)", closed);
    size_t open = 0;
    unsigned long long lim = 0, nofd = 0;
    weft_http_conn_stats(s, &open, &lim, &nofd);
    cr_expect_eq(open, 10);
    cr_expect_eq(lim, 4);
    /* a kept connection that goes makes room: a request is served */
    close(fds[0]);
    usleep(100000);
    struct client c;
    struct resp r;
    client_open(&c, port);
    const char *req = "GET /query?name=ok HTTP/1.1\r\nHost: a\r\n\r\n";
    client_send(&c, req, strlen(req));
    cr_assert_eq(client_read(&c, &r), 0);
    cr_expect_eq(r.status, 200);
    close(c.fd);
    for (int i = 1; i < 14; i++)
        close(fds[i]);
    weft_http_stop(s);
}

Test(http_query, decoding)
{
    const char *q = "a=1&b=hello%20world&c=x+y&flag&e=&pct=%41%2b%zz%4&my%20key=v&a=2";
    char out[64];

    cr_assert_eq(qget(q, "a", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "1"); /* the first one wins */
    cr_assert_eq(qget(q, "b", out, sizeof(out)), 11);
    cr_assert_str_eq(out, "hello world");
    cr_assert_eq(qget(q, "c", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "x y");
    cr_assert_eq(qget(q, "flag", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(qget(q, "e", out, sizeof(out)), 0);
    cr_assert_eq(qget(q, "pct", out, sizeof(out)), 7);
    cr_assert_str_eq(out, "A+%zz%4"); /* bad escapes stay literal */
    cr_assert_eq(qget(q, "my key", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "v");
    cr_assert_eq(qget(q, "missing", out, sizeof(out)), -1);
    cr_assert_eq(qget(q, "fla", out, sizeof(out)), -1); /* no prefix match */
    cr_assert_eq(qget("", "a", out, sizeof(out)), -1);
    cr_assert_eq(qget("&&a=3&", "a", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "3");
}

Test(http_query, length_limits_and_unterminated_input)
{
    char out[64];

    /* "hello world" needs 12 bytes with the NUL */
    cr_assert_eq(qget("b=hello%20world", "b", out, 12), 11);
    cr_assert_str_eq(out, "hello world");
    cr_assert_eq(qget("b=hello%20world", "b", out, 11), -1);
    cr_assert_eq(qget("b=x", "b", out, 0), -1);
    /* query_len bounds the scan: the bytes after it are not part of the query */
    const char q[] = "k=abc&z=1";
    cr_assert_eq(weft_http_query_get(q, 4, "k", out, sizeof(out)), 2);
    cr_assert_str_eq(out, "ab");
    cr_assert_eq(weft_http_query_get(q, 5, "z", out, sizeof(out)), -1);
    cr_assert_eq(weft_http_query_get("k=%4", 3, "k", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "%");
}

Test(http_query, nul_values_refused_and_presence)
{
    char out[64];

    /* "%00" would cut a client id short: the value is refused, not aliased */
    cr_assert_eq(qget("client_id=ab%00cd", "client_id", out, sizeof(out)), -1);
    cr_assert_str_eq(out, "");
    cr_assert(weft_http_query_has("client_id=ab%00cd", 17, "client_id"));
    cr_assert(weft_http_query_has("a=1&flag", 8, "flag"));
    cr_assert(weft_http_query_has("a=1&t%6fpic=", 12, "topic"));
    cr_assert(!weft_http_query_has("mytopic=x", 9, "topic"));
    cr_assert(!weft_http_query_has("topic=x", 4, "topic")); /* query_len bounds it */
    cr_assert(!weft_http_query_has("", 0, "topic"));
}

Test(http_reply, reply_and_error)
{
    weft_http_resp r = {0};

    weft_http_reply(&r, 202, "text/plain", "queued");
    cr_assert_eq(r.status, 202);
    cr_assert_str_eq(r.content_type, "text/plain");
    cr_assert_eq(r.body_len, 6);
    cr_assert_str_eq(r.body, "queued");

    /* replacing frees the previous body (ASan would notice a leak) */
    weft_http_reply_error(&r, 400, "bad \"x\"\\ \n\t\x01 é");
    cr_assert_eq(r.status, 400);
    cr_assert_null(r.content_type);
    cr_assert_str_eq(r.body, "{\"error\":\"bad \\\"x\\\"\\\\ \\n\\t\\u0001 é\"}");
    cr_assert_eq(r.body_len, strlen(r.body));
    free(r.body);
}

Test(http, deferred_answers_come_from_another_thread_in_order)
{
    weft_http_server *s = start(0, 0);
    struct client c, d;
    struct resp r;
    const char slow[] = "GET /later?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n";
    const char fast[] = "GET /query?name=x HTTP/1.1\r\nHost: t\r\n\r\n";
    atomic_store(&answered, 0);
    client_open(&c, weft_http_port(s));
    client_open(&d, weft_http_port(s));
    int64_t t0 = weft_mono_ms();
    client_send(&c, slow, sizeof(slow) - 1);
    /* another client is served while the first waits */
    client_send(&d, fast, sizeof(fast) - 1);
    cr_assert_eq(client_read(&d, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_lt(weft_mono_ms() - t0, 250, "a deferred request held up another client");
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 202);
    cr_assert_str_eq(r.body, "later 300");
    cr_assert_geq(weft_mono_ms() - t0, 290);
    /* pipelined behind a deferred one: answered after it, in order */
    char two[256];
    int n = snprintf(two, sizeof(two), "GET /later?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n%s", fast);
    client_send(&c, two, (size_t)n);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_str_eq(r.body, "later 100");
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_str_eq(r.body, "{\"name\":\"x\",\"n\":1}");
    close(c.fd);
    close(d.fd);
    weft_http_stop(s);
}

Test(http, deferred_answer_after_client_left_or_server_stopped)
{
    weft_http_server *s = start(0, 0);
    struct client c;
    struct resp r;
    atomic_store(&answered, 0);
    /* the client leaves before the answer */
    const char q1[] = "GET /later?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n";
    client_open(&c, weft_http_port(s));
    client_send(&c, q1, sizeof(q1) - 1);
    usleep(50000);
    close(c.fd);
    for (int i = 0; i < 100 && atomic_load(&answered) < 1; i++)
        usleep(10000);
    cr_assert_eq(atomic_load(&answered), 1);
    /* the server still serves */
    const char q2[] = "GET /query?name=y HTTP/1.1\r\nHost: t\r\n\r\n";
    client_open(&c, weft_http_port(s));
    client_send(&c, q2, sizeof(q2) - 1);
    cr_assert_eq(client_read(&c, &r), 0);
    cr_assert_eq(r.status, 200);
    /* the server stops before the answer */
    const char q3[] = "GET /later?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n";
    client_send(&c, q3, sizeof(q3) - 1);
    usleep(50000);
    weft_http_stop(s);
    for (int i = 0; i < 100 && atomic_load(&answered) < 2; i++)
        usleep(10000);
    cr_assert_eq(atomic_load(&answered), 2, "the late answer did not return");
    close(c.fd);
}
