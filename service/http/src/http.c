/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1 server shared by weft-node and weft-proxy, on h2o 2.2.5's own
 * event loop (libh2o-evloop). One pthread owns everything h2o: the loop, the
 * context, the listener and every connection. Other threads talk to it only
 * through an h2o_multithread queue (the stop request).
 *
 * A single catch-all path handler turns an h2o request into a weft_http_req,
 * calls the application handler synchronously and sends its response with
 * h2o_send_inline (which copies the body into the request pool).
 *
 * Oversized bodies are refused by h2o itself (max_request_entity_size) before
 * it buffers them; h2o answers that with a text/plain 413 through the host's
 * fallback path, so a filter on that path rewrites it into our JSON error.
 *
 * Stopping: the caller posts a message; the loop thread closes the listener,
 * shuts down every accepted socket (tracked through on_close) so h2o sees
 * EOF and frees each connection, turns the loop until none is left, disposes
 * the context and the loop, and exits; the caller joins it. h2o keeps
 * per-thread free lists (socket buffers, pool chunks) that would leak when the
 * thread ends, so the thread empties them last (drain_thread_caches).
 *
 * WebSocket: requests on the configured ws_path go to ws.c (ws_priv.h), which
 * upgrades them and then owns the socket; it stays tracked here (on_close
 * keeps counting it). Stop closes the WebSocket connections first.
 *
 * Invariants: only the loop thread touches h2o objects once it is running;
 * s->nconns counts accepted sockets not yet closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "weft/common.h"
#include "weft/fdspare.h"
#include "weft/svc_http.h"
#include "ws_priv.h"

#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define STOP_GRACE_MS 2000 /* time allowed for connections to close */
#define ACCEPT_BATCH 64
#define TOO_LARGE_JSON "{\"error\":\"request body too large\"}"

struct conn_track {
    h2o_linklist_t link;
    h2o_socket_t *sock;
    weft_http_server *server;
    struct sockaddr_storage peer; /* address only (port zeroed), for the per-IP cap */
};

struct path_handler {
    h2o_handler_t super;
    weft_http_server *server;
};

/* Deferred answers travel from any thread to the loop through the answer
 * receiver. The hub outlives the server while tickets hold it: an answer
 * after weft_http_stop began finds alive == 0 and is dropped. */
struct answer_hub {
    pthread_mutex_t mu;
    int alive;     /* the receiver takes messages (mu) */
    int loop_gone; /* the loop thread ended and tore down cleanly (mu) */
    int refs;      /* the server and every ticket (mu) */
    h2o_multithread_receiver_t receiver;
};

struct weft_http_ticket {
    h2o_multithread_message_t super; /* first: the queue's link */
    struct answer_hub *hub;
    h2o_req_t *req; /* NULL once h2o disposed the request (loop thread) */
    int refs;       /* the request's pool and the answer (loop thread) */
    weft_http_resp resp;
};

/* What on_req lends the handler through resp->internal. */
struct defer_ctx {
    weft_http_server *s;
    h2o_req_t *req;
    weft_http_ticket *t;
};

struct weft_http_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_message_t stop_msg;
    h2o_linklist_t conns; /* of conn_track */
    size_t nconns, max_conns, max_conns_per_ip;
    unsigned long long refused_limit, refused_fds; /* loop thread; read racily for stats */
    weft_fd_spare spare; /* given up on EMFILE to take and close the pending connection */
    int stopping;        /* loop thread only */
    pthread_t thread;
    uint16_t port;
    size_t max_body;
    weft_http_handler_fn fn;
    void *user;
    struct ws_hub *ws; /* NULL without WebSocket */
    struct answer_hub *answers;
};

static const char *
reason_phrase(int status)
{
    static const char *const classes[] = {"Informational", "Success", "Redirection", "Client Error",
                                          "Server Error"};

    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return classes[(status < 100 ? 100 : status > 599 ? 599 : status) / 100 - 1];
    }
}

/* ---- requests ---------------------------------------------------------------- */

static void
header_value(h2o_req_t *req, const h2o_token_t *token, const char **val, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0) {
        *val = NULL;
        *len = 0;
        return;
    }
    *val = req->headers.entries[i].value.base;
    *len = req->headers.entries[i].value.len;
}

static void
remote_ip(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t n;

    out[0] = '\0';
    memset(&ss, 0, sizeof(ss));
    if (req->conn->callbacks->get_peername == NULL)
        return;
    n = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (n == 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        /* a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d */
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    }
}

static void
send_response(h2o_req_t *req, weft_http_resp *resp)
{
    const char *ct = resp->content_type != NULL ? resp->content_type : "application/json";
    size_t len = resp->body != NULL ? resp->body_len : 0;
    int status = resp->status;

    if (status == 0)
        status = 200;
    else if (status < 100 || status > 999)
        status = 500;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_iovec_t v = h2o_strdup(&req->pool, ct, strlen(ct));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, v.base, v.len);
    if (resp->retry_after > 0) {
        char ra[24];
        int n = snprintf(ra, sizeof ra, "%d", resp->retry_after);
        h2o_iovec_t rv = h2o_strdup(&req->pool, ra, (size_t)n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, rv.base, rv.len);
    }
    h2o_send_inline(req, len != 0 ? resp->body : "", len);
    free(resp->body);
    resp->body = NULL;
}

/* ---- deferred answers ------------------------------------------------------------ */

static void
hub_unref(struct answer_hub *h)
{
    pthread_mutex_lock(&h->mu);
    int last = --h->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last) {
        pthread_mutex_destroy(&h->mu);
        free(h);
    }
}

static void
ticket_unref(weft_http_ticket *t)
{
    if (--t->refs != 0)
        return;
    free(t->resp.body);
    hub_unref(t->hub);
    free(t);
}

/* The request's pool is cleared (answered, or the client went away). */
static void
on_ticket_req_gone(void *p)
{
    weft_http_ticket *t = *(weft_http_ticket **)p;
    t->req = NULL;
    ticket_unref(t);
}

static void
on_answer_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        weft_http_ticket *t = (weft_http_ticket *)m;
        if (t->req != NULL)
            send_response(t->req, &t->resp); /* may clear the pool: on_ticket_req_gone */
        ticket_unref(t);
    }
}

weft_http_ticket *
weft_http_defer(weft_http_resp *resp)
{
    struct defer_ctx *c = resp->internal;
    if (c == NULL || c->t != NULL)
        return NULL;
    weft_http_ticket *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    weft_http_ticket **slot =
        h2o_mem_alloc_shared(&c->req->pool, sizeof(*slot), on_ticket_req_gone);
    *slot = t;
    t->hub = c->s->answers;
    pthread_mutex_lock(&t->hub->mu);
    t->hub->refs++;
    pthread_mutex_unlock(&t->hub->mu);
    t->req = c->req;
    t->refs = 2;
    c->t = t;
    return t;
}

int
weft_http_deferred(const weft_http_resp *resp)
{
    const struct defer_ctx *c = resp->internal;
    return c != NULL && c->t != NULL;
}

void
weft_http_answer(weft_http_ticket *t, weft_http_resp *resp)
{
    struct answer_hub *h = t->hub;
    t->resp = *resp;
    t->resp.internal = NULL;
    resp->body = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->alive) {
        h2o_multithread_send_message(&h->receiver, &t->super);
        pthread_mutex_unlock(&h->mu);
        return;
    }
    int gone = h->loop_gone;
    pthread_mutex_unlock(&h->mu);
    /* The server is stopping. Once its loop is gone every request was
     * disposed and the ticket is ours alone; while it is stopping the
     * ticket is left (a few bytes, at shutdown only). */
    free(t->resp.body);
    t->resp.body = NULL;
    if (gone)
        ticket_unref(t);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    weft_http_server *s = ((struct path_handler *)self)->server;
    weft_http_resp resp = {.status = 200, .content_type = NULL, .body = NULL, .body_len = 0};
    weft_http_req r;

    memset(&r, 0, sizeof(r));
    /* a chunked body can slip one chunk past h2o's own check */
    if (req->entity.base != NULL && req->entity.len > s->max_body) {
        req->http1_is_persistent = 0;
        weft_http_reply(&resp, 413, NULL, TOO_LARGE_JSON);
        send_response(req, &resp);
        return 0;
    }
    /* h2o's parser lets an empty method through (" / HTTP/1.1"); it is no token */
    if (req->method.len == 0) {
        req->http1_is_persistent = 0;
        weft_http_reply_error(&resp, 400, "malformed request line: no method");
        send_response(req, &resp);
        return 0;
    }
    r.method = req->method.base;
    r.method_len = req->method.len;
    r.path = req->path.base;
    r.path_len = req->path.len;
    r.query = "";
    if (req->query_at != SIZE_MAX && req->query_at < req->path.len) {
        r.path_len = req->query_at;
        r.query = req->path.base + req->query_at + 1;
        r.query_len = req->path.len - req->query_at - 1;
    }
    if (req->entity.base != NULL) {
        r.body = (const uint8_t *)req->entity.base;
        r.body_len = req->entity.len;
    } else {
        r.body = (const uint8_t *)"";
    }
    header_value(req, H2O_TOKEN_AUTHORIZATION, &r.authorization, &r.authorization_len);
    header_value(req, H2O_TOKEN_CONTENT_TYPE, &r.content_type, &r.content_type_len);
    remote_ip(req, r.remote_ip, sizeof(r.remote_ip));

    if (s->ws != NULL && ws_hub_owns(s->ws, &r)) {
        if (ws_hub_on_request(s->ws, req, &r, &resp) == 0)
            return 0; /* upgraded */
        send_response(req, &resp);
        return 0;
    }
    struct defer_ctx dc = {s, req, NULL};
    resp.internal = &dc;
    s->fn(s->user, &r, &resp);
    if (dc.t != NULL) {
        free(resp.body); /* deferred: the answer comes by weft_http_answer */
        return 0;
    }
    send_response(req, &resp);
    return 0;
}

/* h2o's own 413 (entity over max_request_entity_size) is text/plain; swap in
 * our JSON body. Only error responses h2o generates pass the fallback path. */
static void
send_413_json(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
              h2o_send_state_t state)
{
    h2o_iovec_t b = h2o_iovec_init(H2O_STRLIT(TOO_LARGE_JSON));
    h2o_ostream_send_next(self, req, bufcnt != 0 ? &b : NULL, bufcnt != 0 ? 1 : 0, state);
}

static void
on_setup_ostream_fallback(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (req->res.status == 413) {
        ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (i >= 0)
            req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                           H2O_STRLIT("application/json"));
        req->res.content_length = sizeof(TOO_LARGE_JSON) - 1;
        h2o_ostream_t *o = h2o_add_ostream(req, sizeof(*o), slot);
        o->do_send = send_413_json;
        slot = &o->next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- connections --------------------------------------------------------------- */

static void
on_conn_close(void *data)
{
    struct conn_track *t = data;
    h2o_linklist_unlink(&t->link);
    t->server->nconns--;
    free(t);
}

/* The peer's address with the port zeroed, so that equal hosts compare equal. */
static void
peer_host(h2o_socket_t *sock, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    socklen_t n = h2o_socket_getpeername(sock, (struct sockaddr *)ss);
    (void)n;
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = 0;
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = 0;
}

static size_t
conns_from(const weft_http_server *s, const struct sockaddr_storage *ss)
{
    size_t k = 0;
    for (h2o_linklist_t *l = s->conns.next; l != &s->conns; l = l->next) {
        const struct conn_track *t = H2O_STRUCT_FROM_MEMBER(struct conn_track, link, l);
        k += memcmp(&t->peer, ss, sizeof *ss) == 0;
    }
    return k;
}

/* Out of descriptors: the listener stays readable and h2o would call back
 * at once, forever: shed the pending connection with the spare (weft/fdspare.h). */
static void
shed_one(weft_http_server *s)
{
    if (weft_fd_spare_shed(&s->spare, h2o_socket_get_fd(s->listener)))
        s->refused_fds++;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    weft_http_server *s = listener->data;

    if (err != NULL || s->stopping)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (weft_fd_exhausted(errno))
                shed_one(s);
            return;
        }
        struct sockaddr_storage peer;
        peer_host(sock, &peer);
        if (s->nconns >= s->max_conns || conns_from(s, &peer) >= s->max_conns_per_ip) {
            s->refused_limit++;
            h2o_socket_close(sock);
            continue;
        }
        struct conn_track *t = malloc(sizeof(*t));
        if (t == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        memset(&t->link, 0, sizeof(t->link));
        t->sock = sock;
        t->server = s;
        t->peer = peer;
        h2o_linklist_insert(&s->conns, &t->link);
        s->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = t;
        h2o_accept(&s->accept_ctx, sock);
    }
}

static void
on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    weft_http_server *s = H2O_STRUCT_FROM_MEMBER(weft_http_server, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    s->stopping = 1;
}

/* ---- the loop thread --------------------------------------------------------------- */

/*
 * h2o 2.2.5 keeps freed socket buffers and pool chunks on per-thread lists
 * (up to 16 each). They are unreachable once the thread ends, so take them
 * back here. The pool-chunk list is static inside libh2o: pulling 17 chunks'
 * worth through a private pool empties it, and the chunks (whose first word
 * is the next pointer) are then freed directly instead of recycled.
 */
static void
drain_thread_caches(void)
{
    h2o_mem_recycle_t *r = &h2o_socket_buffer_prototype.allocator;
    while (r->cnt != 0)
        free(h2o_mem_alloc_recycle(r, 0));

#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (int i = 0; i < 17 * 4; i++)
        h2o_mem_alloc_pool(&pool, 1008); /* four to a 4 KiB chunk, under the direct limit */
    void *c = pool.chunks;
    while (c != NULL) {
        void *next = *(void **)c;
        free(c);
        c = next;
    }
    pool.chunks = NULL;
    h2o_mem_clear_pool(&pool);
#endif
}

/*
 * h2o_evloop_destroy in 2.2.5 frees the loop but leaves its epoll
 * descriptor open. The descriptor is the int right after h2o_evloop_t in the
 * epoll backend's loop struct; close it only when /proc confirms it is one.
 */
static void
close_epoll_fd(h2o_evloop_t *loop)
{
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
    int fd;
    char path[64], link[64];
    memcpy(&fd, (char *)loop + sizeof(h2o_evloop_t), sizeof(fd));
    if (fd < 0)
        return;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return;
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[eventpoll]") == 0)
        close(fd);
#else
    (void)loop;
#endif
}

static void
block_async_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    /* faults must still kill; everything else (SIGPIPE from writev above
     * all, SIGINT, SIGTERM) belongs to the application's threads */
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGABRT);
    sigdelset(&set, SIGTRAP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void
shut_down_loop(weft_http_server *s)
{
    h2o_linklist_t *node;

    h2o_socket_read_stop(s->listener);
    h2o_socket_close(s->listener);
    s->listener = NULL;
    if (s->ws != NULL)
        ws_hub_shutdown(s->ws);

    /* h2o 2.2.5 has no way to close idle HTTP/1 connections from outside;
     * make each socket hit EOF so h2o's own error path frees it */
    for (node = s->conns.next; node != &s->conns; node = node->next) {
        struct conn_track *t = H2O_STRUCT_FROM_MEMBER(struct conn_track, link, node);
        shutdown(h2o_socket_get_fd(t->sock), SHUT_RDWR);
    }
    uint64_t deadline = h2o_now(s->loop) + STOP_GRACE_MS;
    while (s->nconns != 0 && h2o_now(s->loop) < deadline)
        h2o_evloop_run(s->loop, 10);
    /* one more turn runs the zero timeouts and frees closed sockets */
    h2o_evloop_run(s->loop, 0);

    if (s->nconns != 0) {
        /* disposing now would trip h2o's assertions on live timers: leak */
        fprintf(stderr, "weft: http: %zu connection(s) did not close; leaking the loop\n",
                s->nconns);
        return;
    }
    h2o_multithread_queue_t *queue = s->ctx.queue;
    h2o_multithread_unregister_receiver(queue, &s->stop_receiver);
    /* alive went 0 before the stop message was sent, so every answer sent
     * was dispatched with it or earlier */
    h2o_multithread_unregister_receiver(queue, &s->answers->receiver);
    h2o_context_dispose(&s->ctx);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
    /* 2.2's h2o_multithread_destroy_queue closes the queue's pipe but, in
     * the evloop build, never frees the queue itself */
    free(queue);
#else
    (void)queue;
#endif
    close_epoll_fd(s->loop);
    h2o_evloop_destroy(s->loop);
    s->loop = NULL;
}

static void *
loop_main(void *arg)
{
    weft_http_server *s = arg;

    block_async_signals();
    while (!s->stopping)
        h2o_evloop_run(s->loop, INT32_MAX);
    shut_down_loop(s);
    drain_thread_caches();
    return NULL;
}

/* ---- public ------------------------------------------------------------------------ */

static int
bind_listener(const char *host, uint16_t port, uint16_t *bound)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[8];
    int fd = -1, err = -EADDRNOTAVAIL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    int g = getaddrinfo(host, portstr, &hints, &res);
    if (g != 0)
        return g == EAI_MEMORY ? -ENOMEM : (g == EAI_SYSTEM ? -errno : WEFT_EINVAL);

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            err = -errno;
            close(fd);
            fd = -1;
            continue;
        }
        break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err;

    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    if (ss.ss_family == AF_INET)
        *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* Every WebSocket client holds a descriptor: take all the hard limit allows. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0 || rl.rlim_max != RLIM_INFINITY)
        return;
    rl.rlim_cur = 1 << 20; /* an unlimited hard limit still stops at fs.nr_open */
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

weft_http_server *
weft_http_start(const weft_http_config *cfg, int *err)
{
    weft_http_server *s = NULL;
    int fd, rc;

    if (cfg == NULL || cfg->handler == NULL ||
        (cfg->ws != NULL && cfg->ws_path != NULL &&
         (cfg->ws_path[0] != '/' ||
          (cfg->ws_path_alias != NULL && cfg->ws_path_alias[0] != '/')))) {
        rc = WEFT_EINVAL;
        goto fail;
    }
    raise_fd_limit();
    s = calloc(1, sizeof(*s));
    if (s != NULL && (s->answers = calloc(1, sizeof(*s->answers))) == NULL) {
        free(s);
        s = NULL;
    }
    if (s == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    pthread_mutex_init(&s->answers->mu, NULL);
    s->answers->alive = 1;
    s->answers->refs = 1;
    s->fn = cfg->handler;
    s->user = cfg->user;
    s->max_body = cfg->max_body != 0 ? cfg->max_body : DEFAULT_MAX_BODY;
    s->max_conns = cfg->max_conns != 0 ? cfg->max_conns : WEFT_HTTP_DEFAULT_MAX_CONNS;
    s->max_conns_per_ip =
        cfg->max_conns_per_ip != 0 ? cfg->max_conns_per_ip : WEFT_HTTP_DEFAULT_MAX_CONNS_PER_IP;
    (void)weft_fd_spare_init(&s->spare);
    h2o_linklist_init_anchor(&s->conns);

    fd = bind_listener(cfg->host != NULL ? cfg->host : "0.0.0.0", cfg->port, &s->port);
    if (fd < 0) {
        rc = fd;
        weft_fd_spare_free(&s->spare);
        hub_unref(s->answers);
        free(s);
        s = NULL;
        goto fail;
    }

    h2o_config_init(&s->config);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("weft"));
    s->config.max_request_entity_size = s->max_body;
    /* no h2c: HTTP/2 would need its own shutdown and keeps more per-thread caches */
    s->config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct path_handler *h = (struct path_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->server = s;
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream_fallback;

    s->loop = h2o_evloop_create();
    h2o_context_init(&s->ctx, s->loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    h2o_multithread_register_receiver(s->ctx.queue, &s->stop_receiver, on_stop_message);
    h2o_multithread_register_receiver(s->ctx.queue, &s->answers->receiver, on_answer_messages);
    s->listener = h2o_evloop_socket_create(s->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    s->listener->data = s;
    h2o_socket_read_start(s->listener, on_accept);
    if (cfg->ws != NULL && cfg->ws_path != NULL) {
        s->ws = ws_hub_new(cfg, &s->ctx);
        if (s->ws == NULL) {
            rc = -ENOMEM;
            goto fail_loop;
        }
    }

    rc = -pthread_create(&s->thread, NULL, loop_main, s);
    if (rc != 0) {
    fail_loop:
        /* nothing ran on the loop yet: tear it down here */
        s->stopping = 1;
        shut_down_loop(s);
        ws_hub_free(s->ws);
        h2o_config_dispose(&s->config);
        weft_fd_spare_free(&s->spare);
        hub_unref(s->answers);
        free(s);
        s = NULL;
        goto fail;
    }
    pthread_setname_np(s->thread, "weft-http");
    if (err != NULL)
        *err = 0;
    return s;

fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

uint16_t
weft_http_port(const weft_http_server *s)
{
    return s != NULL ? s->port : 0;
}

void
weft_http_stop(weft_http_server *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->answers->mu);
    s->answers->alive = 0; /* later answers are dropped */
    pthread_mutex_unlock(&s->answers->mu);
    memset(&s->stop_msg, 0, sizeof(s->stop_msg));
    h2o_multithread_send_message(&s->stop_receiver, &s->stop_msg);
    pthread_join(s->thread, NULL);
    if (s->loop != NULL)
        return; /* connections outlived the grace period: leak rather than crash */
    pthread_mutex_lock(&s->answers->mu);
    s->answers->loop_gone = 1;
    pthread_mutex_unlock(&s->answers->mu);
    ws_hub_free(s->ws);
    h2o_config_dispose(&s->config);
    weft_fd_spare_free(&s->spare);
    hub_unref(s->answers);
    free(s);
}

void
weft_http_conn_stats(const weft_http_server *s, size_t *open, unsigned long long *refused_limit,
                     unsigned long long *refused_fds)
{
    /* written by the loop thread: a scrape may read a value one behind */
    *open = s != NULL ? s->nconns : 0;
    *refused_limit = s != NULL ? s->refused_limit : 0;
    *refused_fds = s != NULL ? s->refused_fds : 0;
}
