/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking HTTP/1.1 client (weft/svc_httpc.h), born as the plaintext TCP
 * and HTTP/1.1 pieces of weft-proxy-client.
 *
 * The proxy's REST API needs one JSON request and one JSON answer at a
 * time, so this is the smallest client that does that safely: a fresh
 * connection per request ("Connection: close"), an overall deadline
 * (WEFT_HTTPC_TIMEOUT_MS), Content-Length or read-to-close bodies (chunked answers
 * are refused with a clear message), and strict limits on what the server
 * may send (head WEFT_HTTPC_MAX_HEAD, body WEFT_HTTPC_MAX_BODY, well-formed status line
 * and headers, one consistent Content-Length). The WebSocket client reuses
 * the connection, send and head-reading parts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weft/clock.h"
#include "weft/svc_httpc.h"

/* Up to max bytes of p as one printable line (controls escaped) in out. */
static void
printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        if (p[i] >= 0x20 && p[i] != 0x7f)
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    if (len > max && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

int
weft_httpc_split_hostport(const char *in, char *host, size_t hcap, char *port, size_t pcap,
                          char *err, size_t cap)
{
    const char *s = in;
    if (strncasecmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncasecmp(s, "ws://", 5) == 0)
        s += 5;
    else if (strstr(s, "://")) {
        snprintf(err, cap, "%s: only plain http:// (or ws://) addresses are supported", in);
        return -1;
    }
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '/')
        n--;
    const char *h = s, *colon;
    size_t hl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || rb + 1 >= s + n || rb[1] != ':')
            goto bad;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            goto bad;
        hl = (size_t)(colon - s);
    }
    size_t pl = (size_t)(s + n - colon - 1);
    if (hl == 0 || hl >= hcap || pl == 0 || pl > 5 || pl >= pcap)
        goto bad;
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            goto bad;
        v = v * 10 + (colon[1 + i] - '0');
    }
    if (v < 1 || v > 65535)
        goto bad;
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= 0x20 || h[i] == '/' || h[i] == 0x7f)
            goto bad;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    return 0;
bad:
    snprintf(err, cap, "\"%s\": expected HOST:PORT (port 1..65535)", in);
    return -1;
}

/* Poll fd for ev until deadline_ms (< 0: forever), in WEFT_HTTPC_POLL_MS slices
 * so that *stop is noticed. 1 ready, -EINTR, -ETIMEDOUT, -1. */
static int
wait_fd(int fd, short ev, int64_t deadline_ms, const volatile sig_atomic_t *stop, char *err,
        size_t cap)
{
    for (;;) {
        if (stop && *stop)
            return -EINTR;
        int64_t left = WEFT_HTTPC_POLL_MS;
        if (deadline_ms >= 0) {
            left = deadline_ms - weft_mono_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            if (left > WEFT_HTTPC_POLL_MS)
                left = WEFT_HTTPC_POLL_MS;
        }
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno != EINTR) {
            snprintf(err, cap, "poll: %s", strerror(errno));
            return -1;
        }
        if (r > 0)
            return 1; /* errors and hang-ups show up in the next read or write */
    }
}

int
weft_httpc_wait_readable(int fd, int64_t deadline_ms, const volatile sig_atomic_t *stop, char *err,
                         size_t cap)
{
    return wait_fd(fd, POLLIN, deadline_ms, stop, err, cap);
}

int
weft_httpc_connect(const char *host, const char *port, int64_t deadline_ms,
                   const volatile sig_atomic_t *stop, char *err, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, cap, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, last = ECONNREFUSED, rc = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last = errno;
            close(fd);
            fd = -1;
            continue;
        }
        rc = wait_fd(fd, POLLOUT, deadline_ms, stop, err, cap);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            break;
        last = rc == 1 ? (soerr ? soerr : errno) : last;
        close(fd);
        fd = -1;
        if (rc == -EINTR || rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (rc == -EINTR)
        return -EINTR;
    if (rc == -ETIMEDOUT) {
        snprintf(err, cap, "cannot connect to %s:%s: timed out", host, port);
        return -ETIMEDOUT;
    }
    snprintf(err, cap, "cannot connect to %s:%s: %s", host, port, strerror(last));
    return -1;
}

int
weft_httpc_send_all(int fd, const void *p, size_t len, int64_t deadline_ms,
                    const volatile sig_atomic_t *stop, char *err, size_t cap)
{
    const uint8_t *b = p;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline_ms, stop, err, cap);
            if (rc < 0) {
                if (rc == -ETIMEDOUT)
                    snprintf(err, cap, "sending: timed out");
                return rc;
            }
            continue;
        }
        snprintf(err, cap, "sending: %s", n < 0 ? strerror(errno) : "connection closed");
        return -1;
    }
    return 0;
}

/* Read what is there (waiting until deadline). >0 bytes, 0 at EOF, or a
 * negative code as wait_fd / -1 with err. */
static ssize_t
read_some(int fd, void *p, size_t cap_bytes, int64_t deadline_ms, const volatile sig_atomic_t *stop,
          char *err, size_t cap)
{
    for (;;) {
        ssize_t n = recv(fd, p, cap_bytes, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, cap, "receiving: %s", strerror(errno));
            return -1;
        }
        int rc = wait_fd(fd, POLLIN, deadline_ms, stop, err, cap);
        if (rc < 0) {
            if (rc == -ETIMEDOUT)
                snprintf(err, cap, "no answer within %d s", WEFT_HTTPC_TIMEOUT_MS / 1000);
            return rc;
        }
    }
}

static int
is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Check a head (status line and header lines, CRLF separated, without the
 * final empty line) and fill h. 0 or -1 with err. */
static int
parse_head(char *t, size_t len, weft_httpc_head *h, char *err, size_t cap)
{
    h->content_length = -1;
    h->chunked = 0;
    if (len < 12 || strncmp(t, "HTTP/1.", 7) != 0 || (t[7] != '0' && t[7] != '1') || t[8] != ' ' ||
        t[9] < '1' || t[9] > '5' || t[10] < '0' || t[10] > '9' || t[11] < '0' || t[11] > '9' ||
        (len > 12 && t[12] != ' ' && t[12] != '\r')) {
        printable((const uint8_t *)t, len, 60, err, cap);
        char seen[128];
        snprintf(seen, sizeof seen, "%s", err);
        snprintf(err, cap, "not an HTTP/1.x answer: \"%s\"", seen);
        return -1;
    }
    h->status = (t[9] - '0') * 100 + (t[10] - '0') * 10 + (t[11] - '0');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == 0 || (c == '\r' && (i + 1 >= len || t[i + 1] != '\n')) ||
            (c == '\n' && (i == 0 || t[i - 1] != '\r'))) {
            snprintf(err, cap, "malformed HTTP answer head (bare CR, LF or NUL)");
            return -1;
        }
    }
    char *line = strstr(t, "\r\n");
    while (line && line[2]) {
        line += 2;
        char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        char *colon = memchr(line, ':', ll);
        if (!colon || colon == line) {
            snprintf(err, cap, "malformed header line in the HTTP answer");
            return -1;
        }
        for (char *c = line; c < colon; c++)
            if (!is_tchar((unsigned char)*c)) {
                snprintf(err, cap, "malformed header name in the HTTP answer");
                return -1;
            }
        char *v = colon + 1, *ve = line + ll;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            long long cl = 0;
            if (vl == 0 || vl > 15)
                goto bad_cl;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    goto bad_cl;
                cl = cl * 10 + (v[i] - '0');
            }
            if (h->content_length >= 0 && h->content_length != cl)
                goto bad_cl;
            h->content_length = cl;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            if (vl >= 7 && strncasecmp(ve - 7, "chunked", 7) == 0)
                h->chunked = 1;
        }
        line = end;
    }
    return 0;
bad_cl:
    snprintf(err, cap, "invalid or conflicting Content-Length in the HTTP answer");
    return -1;
}

int
weft_httpc_read_head(int fd, int64_t deadline_ms, const volatile sig_atomic_t *stop,
                     weft_httpc_head *h, uint8_t **extra, size_t *extra_len, char *err, size_t cap)
{
    memset(h, 0, sizeof *h);
    *extra = NULL;
    *extra_len = 0;
    char *buf = malloc(WEFT_HTTPC_MAX_HEAD + 1);
    if (!buf) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        if (have >= 4) {
            buf[have] = 0;
            end = memmem(buf, have, "\r\n\r\n", 4);
        }
        if (end) {
            size_t hl = (size_t)(end - buf);
            size_t rest = have - hl - 4;
            buf[hl] = 0;
            if (parse_head(buf, hl, h, err, cap) < 0)
                break;
            if (h->status >= 100 && h->status < 200 && h->status != 101) {
                memmove(buf, end + 4, rest); /* interim answer (100 Continue): skip */
                have = rest;
                continue;
            }
            if (rest) {
                *extra = malloc(rest);
                if (!*extra) {
                    snprintf(err, cap, "out of memory");
                    break;
                }
                memcpy(*extra, end + 4, rest);
                *extra_len = rest;
            }
            h->raw = buf;
            h->raw_len = hl;
            return 0;
        }
        if (have >= WEFT_HTTPC_MAX_HEAD) {
            snprintf(err, cap, "HTTP answer head larger than %u bytes", WEFT_HTTPC_MAX_HEAD);
            break;
        }
        ssize_t n =
            read_some(fd, buf + have, WEFT_HTTPC_MAX_HEAD - have, deadline_ms, stop, err, cap);
        if (n < 0) {
            free(buf);
            return (int)n;
        }
        if (n == 0) {
            snprintf(err, cap, "%s",
                     have ? "connection closed in the middle of the HTTP answer"
                          : "connection closed without an answer");
            break;
        }
        have += (size_t)n;
    }
    free(buf);
    return -1;
}

void
weft_httpc_head_free(weft_httpc_head *h)
{
    free(h->raw);
    h->raw = NULL;
}

int
weft_httpc_header(const weft_httpc_head *h, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    int found = -1;
    const char *line = h->raw ? strstr(h->raw, "\r\n") : NULL;
    while (line && line[2]) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            if (found != -1)
                return -2;
            const char *v = line + nl + 1, *ve = line + ll;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t vl = (size_t)(ve - v);
            if (vl + 1 > cap)
                return -3;
            memcpy(out, v, vl);
            out[vl] = 0;
            found = (int)vl;
        }
        line = end;
    }
    return found;
}

/* Refuse header values that could split the request. */
static int
header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int
weft_httpc_request(const char *hostport, const char *method, const char *path, const char *token,
                   const char *json, const char *user_agent, const volatile sig_atomic_t *stop,
                   weft_httpc_resp *r, char *err, size_t cap)
{
    memset(r, 0, sizeof *r);
    char host[256], port[8];
    if (weft_httpc_split_hostport(hostport, host, sizeof host, port, sizeof port, err, cap) < 0)
        return -1;
    if (token && !header_safe(token)) {
        snprintf(err, cap, "the token contains control characters");
        return -1;
    }
    int64_t deadline = weft_mono_ms() + WEFT_HTTPC_TIMEOUT_MS;
    int fd = weft_httpc_connect(host, port, deadline, stop, err, cap);
    if (fd < 0)
        return fd;
    size_t blen = json ? strlen(json) : 0;
    size_t qcap = strlen(method) + strlen(path) + strlen(hostport) + (token ? strlen(token) : 0) +
                  strlen(user_agent) + blen + 256;
    char *q = malloc(qcap);
    uint8_t *extra = NULL;
    size_t extra_len = 0, have = 0;
    weft_httpc_head h = {0};
    int rc = -1;
    if (!q) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    int n = snprintf(q, qcap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                     "Accept: application/json\r\nConnection: close\r\n",
                     method, path, hostport, user_agent);
    if (token)
        n += snprintf(q + n, qcap - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (json)
        n += snprintf(q + n, qcap - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(q + n, qcap - (size_t)n, "\r\n");
    if (json)
        memcpy(q + n, json, blen);
    rc = weft_httpc_send_all(fd, q, (size_t)n + blen, deadline, stop, err, cap);
    if (rc < 0)
        goto out;
    rc = weft_httpc_read_head(fd, deadline, stop, &h, &extra, &extra_len, err, cap);
    if (rc < 0)
        goto out;
    rc = -1;
    if (h.status == 101) {
        snprintf(err, cap, "unexpected 101 Switching Protocols answer");
        goto out;
    }
    if (h.chunked) {
        snprintf(err, cap,
                 "HTTP %d answer uses chunked transfer coding, which this client "
                 "does not support",
                 h.status);
        goto out;
    }
    int no_body = h.status == 204 || h.status == 304;
    long long want = no_body ? 0 : h.content_length;
    if (want > (long long)WEFT_HTTPC_MAX_BODY) {
        snprintf(err, cap, "HTTP answer body of %lld bytes is over the %u byte limit", want,
                 WEFT_HTTPC_MAX_BODY);
        goto out;
    }
    size_t bcap = want >= 0 ? (size_t)want : 4096;
    r->body = malloc(bcap + 1);
    if (!r->body) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    if (want >= 0 && extra_len > (size_t)want) {
        snprintf(err, cap, "HTTP answer has more bytes than its Content-Length");
        goto out;
    }
    if (extra_len > bcap) {
        char *nb = realloc(r->body, extra_len + 1);
        if (!nb) {
            snprintf(err, cap, "out of memory");
            goto out;
        }
        r->body = nb;
        bcap = extra_len;
    }
    if (extra_len)
        memcpy(r->body, extra, extra_len);
    have = extra_len;
    for (;;) {
        if (want >= 0 && have == (size_t)want)
            break;
        if (have == bcap) {
            if (bcap >= WEFT_HTTPC_MAX_BODY) {
                snprintf(err, cap, "HTTP answer body is over the %u byte limit",
                         WEFT_HTTPC_MAX_BODY);
                goto out;
            }
            bcap = bcap * 2 > WEFT_HTTPC_MAX_BODY ? WEFT_HTTPC_MAX_BODY : bcap * 2;
            char *nb = realloc(r->body, bcap + 1);
            if (!nb) {
                snprintf(err, cap, "out of memory");
                goto out;
            }
            r->body = nb;
        }
        ssize_t got = read_some(fd, r->body + have, bcap - have, deadline, stop, err, cap);
        if (got < 0) {
            rc = (int)got;
            goto out;
        }
        if (got == 0) {
            if (want < 0)
                break; /* the body ends with the connection */
            snprintf(err, cap, "connection closed after %zu of %lld body bytes", have, want);
            goto out;
        }
        have += (size_t)got;
    }
    r->body[have] = 0;
    r->body_len = have;
    r->status = h.status;
    rc = 0;
out:
    if (rc < 0)
        weft_httpc_resp_free(r);
    weft_httpc_head_free(&h);
    free(extra);
    free(q);
    close(fd);
    return rc;
}

void
weft_httpc_resp_free(weft_httpc_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
