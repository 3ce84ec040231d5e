/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Malformed HTTP/1.1 requests against the service HTTP server (h2o and
 * weft's glue) over real loopback sockets, one fresh connection each: bad
 * request lines, bad header syntax, bad Content-Length values, bad chunked
 * framing, oversized request lines and header blocks, control bytes. Each
 * must be refused (a 4xx/5xx answer, or the connection closed without a
 * 2xx) within 2 s, the handler must never see one, and the server must
 * serve a well-formed request after every one of them. Issue 20, "Held
 * well: malformed HTTP", kept as a test.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft/clock.h"
#include "weft/svc_http.h"

static atomic_int calls;

static void
handler(void *user, const weft_http_req *req, weft_http_resp *resp)
{
    (void)user;
    (void)req;
    atomic_fetch_add(&calls, 1);
    weft_http_reply(resp, 200, NULL, "{\"ok\":true}");
}

static int
connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Send len bytes (the server may close before all of them went), then read
 * until the status line is complete, EOF or ms pass. Returns the status,
 * 0 for a close without an answer, -1 for nothing within ms. */
static int
exchange(uint16_t port, const char *req, size_t len, int ms)
{
    int fd = connect_to(port);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char buf[256];
    size_t have = 0;
    int status = -1;
    int64_t end = weft_mono_ms() + ms;
    for (;;) {
        int64_t left = end - weft_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) {
            status = 0;
            break;
        }
        have += (size_t)r;
        buf[have] = '\0';
        int code;
        if (have >= 12 && sscanf(buf, "HTTP/1.%*1[01] %3d", &code) == 1) {
            status = code;
            break;
        }
        if (have == sizeof buf - 1) {
            status = 0; /* not an HTTP answer */
            break;
        }
    }
    close(fd);
    return status;
}

static char *
repeated(const char *head, char c, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);
    cr_assert_not_null(s);
    memcpy(s, head, hl);
    memset(s + hl, c, n);
    memcpy(s + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return s;
}

/* Many header lines: "X-N: v\r\n" n times. */
static char *
many_headers(size_t n, size_t *len)
{
    size_t cap = 64 + n * 16, off = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    off += (size_t)snprintf(s, cap, "GET /h HTTP/1.1\r\nHost: t\r\n");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "X-%zu: v\r\n", i);
    off += (size_t)snprintf(s + off, cap - off, "\r\n");
    *len = off;
    return s;
}

#define REQ(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

Test(http_malformed, refused_and_the_server_keeps_serving)
{
    static const struct {
        const char *what;
        struct {
            const char *bytes;
            size_t len;
        } req;
    } cases[] = {
        {"not HTTP at all", REQ("GARBAGE GARBAGE GARBAGE\r\n\r\n")},
        {"method only", REQ("GET\r\n\r\n")},
        {"no version", REQ("GET /x\r\nHost: t\r\n\r\n")},
        {"empty method", REQ(" /x HTTP/1.1\r\nHost: t\r\n\r\n")},
        {"unknown version", REQ("GET /x HTTP/9.9\r\nHost: t\r\n\r\n")},
        {"version garbage", REQ("GET /x HTTQ/1.1\r\nHost: t\r\n\r\n")},
        {"control byte in the target", REQ("GET /a\x01z HTTP/1.1\r\nHost: t\r\n\r\n")},
        {"NUL in the request line", REQ("GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n")},
        {"header without a colon", REQ("GET /x HTTP/1.1\r\nHost t\r\n\r\n")},
        {"space in a header name", REQ("GET /x HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n")},
        {"empty header name", REQ("GET /x HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n")},
        {"NUL in a header value", REQ("GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n")},
        {"Content-Length not a number",
         REQ("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\nabc")},
        {"Content-Length negative",
         REQ("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\nabc")},
        {"Content-Length past 2^64",
         REQ("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\nx")},
        {"Content-Length past max_body",
         REQ("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\nx")},
        {"chunk size not hex", REQ("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                                   "chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n")},
        {"chunk size past 2^64",
         REQ("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "ffffffffffffffffffff\r\nx\r\n")},
        {"chunk without its CRLF", REQ("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                                       "chunked\r\n\r\n2\r\nhiXX0\r\n\r\n")},
    };
    weft_http_config cfg = {.host = "127.0.0.1", .handler = handler, .max_body = (size_t)1 << 20};
    int err = 1;
    weft_http_server *s = weft_http_start(&cfg, &err);
    cr_assert_not_null(s, "start: %d", err);
    uint16_t port = weft_http_port(s);
    static const char good[] = "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int refused = 0;

    /* the generated ones: a long request line, a big header, many headers */
    size_t llen, hlen, mlen;
    char *longline = repeated("GET /", 'a', (size_t)1 << 20, " HTTP/1.1\r\nHost: t\r\n\r\n", &llen);
    char *bighdr =
        repeated("GET /x HTTP/1.1\r\nHost: t\r\nX-Big: ", 'b', (size_t)1 << 20, "\r\n\r\n", &hlen);
    char *many = many_headers(20000, &mlen);
    /* a chunk past max_body is refused once its bytes come (a size alone
     * does not end the request: h2o waits for the data, bounded by its I/O
     * timeout) */
    size_t clen;
    char *chunk = repeated("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "100001\r\n",
                           'c', ((size_t)1 << 20) + 1, "\r\n0\r\n\r\n", &clen);
    const struct {
        const char *what, *bytes;
        size_t len;
    } big[] = {{"1 MiB request line", longline, llen},
               {"1 MiB header", bighdr, hlen},
               {"20,000 header lines", many, mlen},
               {"a chunk past max_body", chunk, clen}};

    size_t n = sizeof cases / sizeof cases[0], nbig = sizeof big / sizeof big[0];
    for (size_t i = 0; i < n + nbig; i++) {
        const char *what = i < n ? cases[i].what : big[i - n].what;
        const char *bytes = i < n ? cases[i].req.bytes : big[i - n].bytes;
        size_t len = i < n ? cases[i].req.len : big[i - n].len;
        int before = atomic_load(&calls);
        int st = exchange(port, bytes, len, 2000);
        cr_expect(st == 0 || (st >= 400 && st <= 599), "%s: answered %d, want 4xx/5xx or a close",
                  what, st);
        cr_expect_eq(atomic_load(&calls), before, "%s: the handler saw it", what);
        refused += st == 0 || (st >= 400 && st <= 599);
        cr_expect_eq(exchange(port, good, sizeof good - 1, 2000), 200,
                     "%s: the server no longer serves", what);
        atomic_store(&calls, 0);
    }
    printf("http_malformed: %d of %zu malformed requests refused, each followed by a served "
           "request\n",
           refused, n + nbig);
    free(longline);
    free(bighdr);
    free(many);
    free(chunk);
    weft_http_stop(s);
}
