/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_svc_ws: the service HTTP server (service/http/src/http.c, the h2o
 * glue) and its WebSocket endpoint (ws.c, ws_frame.c) in-process: one
 * server on 127.0.0.1 with an ephemeral port for the whole run, a fresh
 * loopback connection per input. This is the one target with a socket:
 * the WebSocket rules that need a connection's state (continuations,
 * limits, the close handshake) only run on a live h2o socket.
 *
 * Input: byte 0 is the mode.
 *  0 mod 4: an HTTP request: the rest, sent as is, then the write side
 *        closed. The handler checks what the glue hands it.
 *  2 mod 4: no socket: the frame codec of ws_frame.c on the rest (client
 *        header parse against a model, server frames and close frames
 *        parsed back, handshake keys).
 *  odd:  a WebSocket session: a valid upgrade, then client frames built
 *        from the rest, each: a flags byte (bit 7 FIN, bits 4..6 RSV,
 *        bits 0..3 opcode), a mode byte (bit 7 send unmasked; bits 0..1
 *        the length form: 7-bit, 16-bit, 64-bit, or a 64-bit length with
 *        the top bit set; bit 2 split the frame over two writes), a length
 *        byte (payload bytes, up to 255, or a multiple of 16 when bit 3
 *        of the mode byte is set, to pass the message limit), 4 masking
 *        key bytes and the payload (input bytes, zeros when they run out).
 *        A close frame 1000 follows unless the session already failed.
 *
 * Oracles: the HTTP handler only ever sees a method, a path without '?'
 * and a query that are exactly the bytes of the request line, a body
 * within max_body, and Authorization / Content-Type values that appear in
 * the request; the server answers or closes within a second. The
 * WebSocket session is replayed by a model of RFC 6455 written here (and
 * weft/svc_ws.h's limits): the 101 carries the right
 * Sec-WebSocket-Accept; the messages on_message got are exactly the
 * model's, in order, text ones valid UTF-8 (checked by our own decoder);
 * on_close runs once with the model's code (1002 for a protocol error,
 * 1007 for bad UTF-8, 1009 for an oversize message, else the client's
 * close code); each ping before that is answered by a pong with the same
 * payload; the server's frames are unmasked, FIN, and its close frame
 * carries the same code.
 */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "weft/encoding.h"
#include "weft/svc_http.h"
#include "weft/svc_ws.h"
#include "ws_priv.h"

#define MAX_BODY 2048
#define MAX_MESSAGE 4096
#define MAX_MSGS 64

/* ---- what the server thread saw ------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opened, closed, close_code;
    size_t nmsg;
    struct {
        int text;
        size_t len;
        uint8_t *p;
    } msg[MAX_MSGS];
    /* the HTTP request the handler saw last */
    const uint8_t *raw; /* the request sent (the handler compares against it) */
    size_t raw_len;
    int handled;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static weft_http_server *g_srv;
static uint16_t g_port;

static int
contains(const uint8_t *hay, size_t n, const char *p, size_t len)
{
    return len == 0 || (n >= len && memmem(hay, n, p, len) != NULL);
}

static void
on_http(void *user, const weft_http_req *r, weft_http_resp *resp)
{
    (void)user;
    pthread_mutex_lock(&g.mu);
    const uint8_t *raw = g.raw;
    size_t rn = g.raw_len;
    g.handled++;
    pthread_mutex_unlock(&g.mu);
    FZ_CHECK(raw != NULL);
    FZ_CHECK(r->method != NULL && r->method_len > 0 && contains(raw, rn, r->method, r->method_len));
    FZ_CHECK(r->path != NULL && memchr(r->path, '?', r->path_len) == NULL);
    /* the path and the query come from the request target (h2o may have
     * normalised neither: they are the bytes sent) */
    FZ_CHECK(contains(raw, rn, r->path, r->path_len));
    FZ_CHECK(r->query != NULL && contains(raw, rn, r->query, r->query_len));
    if (r->query_len)
        FZ_CHECK(r->query == r->path + r->path_len + 1 && r->path[r->path_len] == '?');
    FZ_CHECK(r->body != NULL && r->body_len <= MAX_BODY);
    if (r->authorization)
        FZ_CHECK(contains(raw, rn, r->authorization, r->authorization_len));
    if (r->content_type)
        FZ_CHECK(contains(raw, rn, r->content_type, r->content_type_len));
    FZ_CHECK(strcmp(r->remote_ip, "127.0.0.1") == 0);
    weft_http_reply(resp, 200, "text/plain", "ok");
}

static int
ws_open(void *user, weft_ws_conn *c, const weft_http_req *req, weft_http_resp *reject)
{
    (void)user, (void)c, (void)req, (void)reject;
    pthread_mutex_lock(&g.mu);
    g.opened++;
    pthread_mutex_unlock(&g.mu);
    return 0;
}

static void
ws_message(void *user, weft_ws_conn *c, int is_text, const uint8_t *data, size_t len)
{
    (void)user, (void)c;
    pthread_mutex_lock(&g.mu);
    FZ_CHECK(g.nmsg < MAX_MSGS);
    g.msg[g.nmsg].text = is_text;
    g.msg[g.nmsg].len = len;
    g.msg[g.nmsg].p = fz_dup(data, len);
    g.nmsg++;
    pthread_mutex_unlock(&g.mu);
}

static void
ws_close(void *user, weft_ws_conn *c, int code)
{
    (void)user, (void)c;
    pthread_mutex_lock(&g.mu);
    g.closed++;
    g.close_code = code;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static const weft_ws_handlers handlers = {ws_open, ws_message, ws_close};

static void
setup(void)
{
    if (g_srv)
        return;
    weft_http_config cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .max_body = MAX_BODY,
        .handler = on_http,
        .ws_path = "/ws",
        .ws = &handlers,
        .ws_max_message = MAX_MESSAGE,
    };
    int err = 0;
    g_srv = weft_http_start(&cfg, &err);
    FZ_CHECK(g_srv != NULL);
    g_port = weft_http_port(g_srv);
    /* never stopped: the process ends with it (its thread's OpenSSL state would
     * otherwise show as a leak at exit) */
}

/* ---- the client side -------------------------------------------------------------------- */

static int
dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FZ_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* an interrupted connect (libFuzzer's timeout alarm) goes on in the background */
    while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EISCONN)
        FZ_CHECK(errno == EINTR || errno == EALREADY || errno == EINPROGRESS);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server closed: what it read is what counts */
        p += w;
        n -= (size_t)w;
    }
}

/* Read until EOF or deadline; the bytes, *n of them. 0 at EOF, -1 at the deadline. */
static int
read_to_eof(int fd, uint8_t **out, size_t *n, int ms)
{
    size_t cap = 4096, len = 0;
    uint8_t *b = malloc(cap);
    FZ_CHECK(b != NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = -1;
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        if (len == cap) {
            cap *= 2;
            uint8_t *more = realloc(b, cap);
            FZ_CHECK(more != NULL);
            b = more;
        }
        ssize_t r = recv(fd, b + len, cap - len, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            rc = 0;
            break;
        }
        if (r < 0)
            continue;
        len += (size_t)r;
    }
    *out = b;
    *n = len;
    return rc;
}

static void
run_http(const uint8_t *req, size_t n)
{
    pthread_mutex_lock(&g.mu);
    g.raw = req;
    g.raw_len = n;
    pthread_mutex_unlock(&g.mu);
    int fd = dial();
    send_all(fd, req, n);
    shutdown(fd, SHUT_WR);
    uint8_t *resp;
    size_t rn;
    int eof = read_to_eof(fd, &resp, &rn, 2000);
    close(fd);
    FZ_CHECK(eof == 0); /* answered or closed, never left hanging */
    if (rn)
        FZ_CHECK(rn >= 12 && memcmp(resp, "HTTP/1.", 7) == 0);
    free(resp);
    pthread_mutex_lock(&g.mu);
    g.raw = NULL;
    pthread_mutex_unlock(&g.mu);
}

/* ---- the model ------------------------------------------------------------------------- */

/* Well-formed UTF-8 (RFC 3629), decoded here. */
static int
utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (k == 9 || k > n - i - 1)
            return 0;
        uint32_t cp = k == 0 ? c : k == 1 ? c & 0x1f : k == 2 ? c & 0x0f : c & 0x07;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

typedef struct model {
    int failed, code; /* the session is over, with code */
    int frag_op;      /* opcode of the fragmented message, 0 if none */
    uint8_t *buf;     /* its bytes */
    size_t len;
    size_t nmsg;
    struct {
        int text;
        size_t len;
        uint8_t *p;
    } msg[MAX_MSGS];
    size_t npong;
    struct {
        size_t len;
        uint8_t p[125];
    } pong[MAX_MSGS];
} model;

static void
model_fail(model *m, int code)
{
    if (!m->failed) {
        m->failed = 1;
        m->code = code;
    }
}

static void
model_deliver(model *m, int op, const uint8_t *p, size_t n)
{
    if (op == 1 && !utf8_ok(p, n)) {
        model_fail(m, 1007);
        return;
    }
    FZ_CHECK(m->nmsg < MAX_MSGS);
    m->msg[m->nmsg].text = op == 1;
    m->msg[m->nmsg].len = n;
    m->msg[m->nmsg].p = fz_dup(p, n);
    m->nmsg++;
}

/* One client frame as the server must take it. lenform 3: a 64-bit length
 * with its top bit set. */
static void
model_frame(model *m, int fin, int rsv, int op, int masked, int lenform, const uint8_t *p, size_t n)
{
    if (m->failed)
        return;
    int control = op >= 8;
    if (rsv || !masked || (op > 2 && op < 8) || op > 10 || lenform == 3) {
        model_fail(m, 1002);
        return;
    }
    /* a control frame's length fits the 7-bit form, and RFC 6455 5.2 wants
     * the shortest form: an extended one is refused (data frames are let
     * through with one, as the server does) */
    if (control && (!fin || n > 125 || lenform != 0)) {
        model_fail(m, 1002);
        return;
    }
    if (!control) {
        if ((op == 0) != (m->frag_op != 0)) {
            model_fail(m, 1002);
            return;
        }
        if (n > MAX_MESSAGE - m->len) {
            model_fail(m, 1009);
            return;
        }
        if (fin && op != 0) {
            model_deliver(m, op, p, n);
            return;
        }
        if (op != 0)
            m->frag_op = op;
        uint8_t *more = realloc(m->buf, m->len + n + 1);
        FZ_CHECK(more != NULL);
        m->buf = more;
        memcpy(m->buf + m->len, p, n);
        m->len += n;
        if (fin) {
            model_deliver(m, m->frag_op, m->buf, m->len);
            m->frag_op = 0;
            m->len = 0;
        }
        return;
    }
    if (op == 9) {
        FZ_CHECK(m->npong < MAX_MSGS);
        m->pong[m->npong].len = n;
        memcpy(m->pong[m->npong].p, p, n);
        m->npong++;
    } else if (op == 8) {
        if (n == 1) {
            model_fail(m, 1002);
        } else if (n >= 2) {
            int code = p[0] << 8 | p[1];
            int ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                     (code >= 3000 && code <= 4999);
            if (!ok)
                model_fail(m, 1002);
            else if (!utf8_ok(p + 2, n - 2))
                model_fail(m, 1007);
            else
                model_fail(m, code);
        } else {
            model_fail(m, 1005);
        }
    }
}

/* ---- the session ------------------------------------------------------------------------- */

static size_t
put_frame(uint8_t *out, int b0, int masked, int lenform, const uint8_t key[4], const uint8_t *p,
          size_t n)
{
    size_t o = 0;
    out[o++] = (uint8_t)b0;
    uint8_t mb = masked ? 0x80 : 0;
    if (lenform == 0 && n < 126) {
        out[o++] = (uint8_t)(mb | n);
    } else if (lenform <= 1 && n <= 0xffff) {
        out[o++] = mb | 126;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    } else {
        out[o++] = mb | 127;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        if (lenform == 3)
            out[o - 8] |= 0x80;
    }
    if (masked) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[o + i] = masked ? p[i] ^ key[i & 3] : p[i];
    return o + n;
}

/* The server's frames: every one FIN, unmasked; pongs and the close code. */
static void
check_server_frames(const uint8_t *p, size_t n, const model *m)
{
    size_t pongs = 0;
    int close_code = -1;
    for (size_t i = 0; i + 2 <= n;) {
        uint8_t b0 = p[i], b1 = p[i + 1];
        FZ_CHECK((b0 & 0x80) && !(b0 & 0x70) && !(b1 & 0x80));
        size_t len = b1 & 0x7f, h = 2;
        if (len == 126) {
            FZ_CHECK(i + 4 <= n);
            len = (size_t)p[i + 2] << 8 | p[i + 3];
            h = 4;
        } else if (len == 127) {
            FZ_CHECK(i + 10 <= n);
            len = 0;
            for (int k = 0; k < 8; k++)
                len = len << 8 | p[i + 2 + (size_t)k];
            h = 10;
        }
        FZ_CHECK(len <= n - i - h);
        const uint8_t *pl = p + i + h;
        int op = b0 & 0x0f;
        if (op == 10) {
            /* Pings waiting together are answered by one pong for the most
             * recent (RFC 6455 5.5.3 allows it): pongs are a subsequence of
             * the pings, in order. */
            FZ_CHECK(close_code < 0);
            while (pongs < m->npong &&
                   !(len == m->pong[pongs].len && memcmp(pl, m->pong[pongs].p, len) == 0))
                pongs++;
            FZ_CHECK(pongs < m->npong);
            pongs++;
        } else if (op == 8) {
            FZ_CHECK(close_code < 0);
            close_code = len >= 2 ? pl[0] << 8 | pl[1] : 1005;
        } else {
            FZ_CHECK(0); /* the server sends no data here */
        }
        i += h + len;
    }
    /* pings after a failure are not answered */
    if (close_code >= 0) {
        int want = m->code == 1005 ? 1005 : m->code;
        FZ_CHECK(close_code == want);
    }
}

static void
run_ws(fz_reader *r)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char req[256];
    int rl = snprintf(req, sizeof req,
                      "GET /ws?client_id=f HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n",
                      key);
    pthread_mutex_lock(&g.mu);
    g.opened = g.closed = 0;
    g.nmsg = 0;
    pthread_mutex_unlock(&g.mu);

    int fd = dial();
    send_all(fd, (const uint8_t *)req, (size_t)rl);
    /* the 101 head, exactly */
    char head[1024];
    size_t hl = 0;
    while (hl < sizeof head - 1 && !(hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)) {
        ssize_t got = recv(fd, head + hl, 1, 0);
        if (got < 0 && errno == EINTR)
            continue; /* libFuzzer's timeout alarm */
        FZ_CHECK(got == 1);
        hl++;
    }
    head[hl] = 0;
    FZ_CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    char cat[64], acc[32];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdl = 0;
    snprintf(cat, sizeof cat, "%s%s", key, guid);
    FZ_CHECK(EVP_Digest(cat, strlen(cat), md, &mdl, EVP_sha1(), NULL) == 1 && mdl == 20);
    FZ_CHECK(weft_base64_encode(md, 20, acc, sizeof acc) == 28);
    FZ_CHECK(strstr(head, acc) != NULL);

    model m;
    memset(&m, 0, sizeof m);
    static uint8_t frame[16 + 255 * 16];
    static uint8_t payload[255 * 16];
    for (int nf = 0; r->n >= 3 && nf < 48 && !m.failed; nf++) {
        uint8_t b0 = fz_u8(r), mode = fz_u8(r), lb = fz_u8(r);
        uint8_t mk[4];
        fz_bytes(r, mk, 4);
        size_t n = mode & 8 ? (size_t)lb * 16 : lb;
        if ((b0 & 0x0f) >= 8 && n > 255)
            n = lb; /* keep control payloads small enough to mean something */
        fz_bytes(r, payload, n < 255 ? n : 255);
        if (n > 255)
            memset(payload + 255, 'a', n - 255);
        int masked = !(mode & 0x80), lenform = mode & 3;
        size_t fl = put_frame(frame, b0, masked, lenform, mk, payload, n);
        model_frame(&m, b0 >> 7, (b0 >> 4) & 7, b0 & 0x0f, masked, lenform, payload, n);
        if (mode & 4 && fl > 1) {
            send_all(fd, frame, fl / 2);
            send_all(fd, frame + fl / 2, fl - fl / 2);
        } else {
            send_all(fd, frame, fl);
        }
    }
    if (!m.failed) {
        static const uint8_t k0[4] = {1, 2, 3, 4}, bye[2] = {0x03, 0xe8};
        size_t fl = put_frame(frame, 0x88, 1, 0, k0, bye, 2);
        model_frame(&m, 1, 0, 8, 1, 0, bye, 2);
        send_all(fd, frame, fl);
    }
    uint8_t *in;
    size_t inl;
    FZ_CHECK(read_to_eof(fd, &in, &inl, 3000) == 0);
    close(fd);

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&g.mu);
    while (!g.closed && pthread_cond_timedwait(&g.cv, &g.mu, &until) == 0)
        ;
    FZ_CHECK(g.opened == 1 && g.closed == 1);
    FZ_CHECK(g.close_code == m.code);
    FZ_CHECK(g.nmsg == m.nmsg);
    for (size_t i = 0; i < m.nmsg; i++) {
        FZ_CHECK(g.msg[i].text == m.msg[i].text && g.msg[i].len == m.msg[i].len);
        FZ_CHECK(m.msg[i].len == 0 || memcmp(g.msg[i].p, m.msg[i].p, m.msg[i].len) == 0);
        free(g.msg[i].p);
        free(m.msg[i].p);
    }
    g.nmsg = 0;
    pthread_mutex_unlock(&g.mu);
    check_server_frames(in, inl, &m);
    free(in);
    free(m.buf);
}

/* ---- the frame codec alone (ws_frame.c) --------------------------------------------------- */

static void
run_codec(const uint8_t *p, size_t n)
{
    /* the header of a client frame, against RFC 6455 5.2 */
    struct ws_hdr h;
    int hl = ws_parse_header(p, n, &h);
    int want;
    if (n < 2) {
        want = 0;
    } else {
        int op = p[0] & 15, len7 = p[1] & 127, ctl = op >= 8;
        size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        if ((p[0] & 0x70) || !(p[1] & 0x80) || (op > 2 && op < 8) || op > 10 ||
            (ctl && (!(p[0] & 0x80) || len7 > 125)))
            want = -WEFT_WS_PROTOCOL_ERROR;
        else if (n < 2 + ext)
            want = 0;
        else if (ext == 8 && (p[2] & 0x80))
            want = -WEFT_WS_PROTOCOL_ERROR;
        else
            want = n < 2 + ext + 4 ? 0 : (int)(2 + ext + 4);
    }
    FZ_CHECK(hl == want);
    if (hl > 0) {
        uint64_t len = p[1] & 127;
        if (len == 126)
            len = (uint64_t)p[2] << 8 | p[3];
        else if (len == 127)
            for (int i = 0, j = 2; i < 8; i++, j++)
                len = (i ? len : 0) << 8 | p[j];
        FZ_CHECK(h.len == len && h.fin == !!(p[0] & 0x80) && h.op == (p[0] & 15));
        FZ_CHECK(h.key == p + hl - 4);
        /* unmasking twice gives the bytes back */
        size_t pn = n - (size_t)hl;
        uint8_t *copy = fz_dup(p + hl, pn);
        ws_unmask(copy, pn, h.key);
        ws_unmask(copy, pn, h.key);
        FZ_CHECK(memcmp(copy, p + hl, pn) == 0);
        free(copy);
    }

    /* a server frame carries the bytes in the shortest length form */
    int op = n ? (p[0] & 1 ? WS_OP_BINARY : WS_OP_TEXT) : WS_OP_TEXT;
    struct ws_frame *f = ws_frame_new(op, p, n);
    FZ_CHECK(f != NULL && f->refs == 1);
    size_t fh = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
    FZ_CHECK(f->len == fh + n && f->bytes[0] == (0x80 | op) && !(f->bytes[1] & 0x80));
    FZ_CHECK(f->counted == n + WS_FRAME_CHARGE);
    FZ_CHECK(n == 0 || memcmp(f->bytes + fh, p, n) == 0);
    ws_frame_unref(f);

    /* a close frame: the code, and the reason cut to whole characters */
    char *reason = malloc(n + 1);
    FZ_CHECK(reason != NULL);
    memcpy(reason, p, n);
    reason[n] = 0;
    int code = n >= 2 ? 1000 + (p[0] << 8 | p[1]) % 4000 : 1000;
    f = ws_frame_close(code, reason);
    FZ_CHECK(f != NULL && f->bytes[0] == 0x88);
    size_t cl = f->bytes[1];
    FZ_CHECK(cl >= 2 && cl <= 125 && f->len == 2 + cl);
    FZ_CHECK((f->bytes[2] << 8 | f->bytes[3]) == code);
    size_t rl = cl - 2, full = strlen(reason);
    FZ_CHECK(rl <= WS_MAX_REASON && rl <= full && memcmp(f->bytes + 4, reason, rl) == 0);
    if (utf8_ok((const uint8_t *)reason, full))
        FZ_CHECK(utf8_ok(f->bytes + 4, rl) && (rl == full || full > WS_MAX_REASON));
    ws_frame_unref(f);
    free(reason);

    /* the handshake key: base64 of 16 bytes, and its accept value */
    int kv = n == 24 && p[22] == '=' && p[23] == '=';
    for (size_t i = 0; kv && i < 22; i++)
        kv = (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
             (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '/';
    FZ_CHECK(ws_key_valid((const char *)p, n) == kv);
    if (kv) {
        char acc[29], cat[64], mine[32];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdl = 0;
        FZ_CHECK(ws_make_accept((const char *)p, acc) == 0 && strlen(acc) == 28);
        memcpy(cat, p, 24);
        memcpy(cat + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
        FZ_CHECK(EVP_Digest(cat, 60, md, &mdl, EVP_sha1(), NULL) == 1 && mdl == 20);
        FZ_CHECK(weft_base64_encode(md, 20, mine, sizeof mine) == 28 && strcmp(acc, mine) == 0);
    }
    FZ_CHECK(ws_close_code_valid(code) ==
             ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
              (code >= 3000 && code <= 4999)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fz_reader r = {data, size};
    uint8_t mode = fz_u8(&r);
    if ((mode & 3) == 2) {
        uint8_t *p = fz_dup(r.p, r.n);
        run_codec(p, r.n);
        free(p);
        return 0;
    }
    if (mode & 1) {
        run_ws(&r);
    } else {
        uint8_t *req = fz_dup(r.p, r.n);
        run_http(req, r.n);
        free(req);
    }
    return 0;
}
