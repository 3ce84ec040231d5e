/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking HTTP/1.1 client (weft/svc_httpc.h), born as the plaintext TCP
 * and HTTP/1.1 pieces of weft-proxy-client.
 *
 * It is the smallest client that fetches one answer safely: a fresh
 * connection per request ("Connection: close"), an overall deadline,
 * Content-Length or read-to-close bodies (chunked ones only on request),
 * and strict limits on what the server may send (head and body size, a
 * well-formed status line and headers, one consistent Content-Length).
 *
 * Sockets are non-blocking throughout; every wait is a poll() bounded by
 * the caller's deadline and cut into WEFT_HTTPC_POLL_MS slices when there
 * is a stop flag to watch. Errors are written with httpc_say(), which
 * tolerates a NULL err.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc_priv.h"
#include "weft/clock.h"
#include "weft/resolve.h"
#include "weft/svc_httpc.h"

#define HTTPC_RESOLVE_MAX_MS 30000 /* a name lookup without a deadline */

#define CHUNK_LINE_MAX 1024 /* a chunk-size line or a trailer line */

int
httpc_say(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void
httpc_printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
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

/* Whether s has no byte that could end a header line or start another
 * (controls, DEL). */
static int
header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int
is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- waiting, connecting, sending ---------------------------------------------- */

/* Poll fd for ev until deadline_ms (< 0: none), in WEFT_HTTPC_POLL_MS slices
 * when there is a stop flag to watch. 0 ready, -EINTR, -ETIMEDOUT, -errno. */
static int
wait_fd(int fd, short ev, int64_t deadline_ms, const volatile sig_atomic_t *stop, char *err,
        size_t cap)
{
    for (;;) {
        if (stop && *stop)
            return httpc_say(err, cap, -EINTR, "interrupted");
        int64_t left = -1;
        if (deadline_ms >= 0) {
            left = deadline_ms - weft_mono_ms();
            if (left <= 0)
                return -ETIMEDOUT; /* the caller says what timed out */
        }
        if (stop && (left < 0 || left > WEFT_HTTPC_POLL_MS))
            left = WEFT_HTTPC_POLL_MS;
        if (left > INT_MAX)
            left = INT_MAX;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno != EINTR)
            return httpc_say(err, cap, -errno, "poll: %s", strerror(errno));
        if (r > 0)
            return 0; /* errors and hang-ups show up in the next read or write */
    }
}

int
weft_httpc_wait_readable(int fd, int64_t deadline_ms, const volatile sig_atomic_t *stop, char *err,
                         size_t cap)
{
    int rc = wait_fd(fd, POLLIN, deadline_ms, stop, err, cap);
    return rc == -ETIMEDOUT ? httpc_say(err, cap, rc, "timed out waiting for data") : rc;
}

int
weft_httpc_connect(const char *host, const char *port, int64_t deadline_ms,
                   const volatile sig_atomic_t *stop, char *err, size_t cap)
{
    if (!host || !port)
        return httpc_say(err, cap, WEFT_EINVAL, "no host or port to connect to");
    int v6 = strchr(host, ':') != NULL;
    char *pe = NULL;
    unsigned long pn = strtoul(port, &pe, 10);
    if (!*port || *pe || pn > 65535)
        return httpc_say(err, cap, WEFT_EINVAL, "port \"%.16s\": expected 0..65535", port);
    /* The name lookup shares the deadline with the rest (getaddrinfo alone
     * could hold the caller far past it); no deadline still means a bound. */
    int64_t left = deadline_ms >= 0 ? deadline_ms - weft_mono_ms() : HTTPC_RESOLVE_MAX_MS;
    if (left <= 0)
        return httpc_say(err, cap, -ETIMEDOUT, "timed out before resolving %s", host);
    weft_addr addrs[WEFT_RESOLVE_MAX];
    int na = weft_resolve_list(host, (unsigned)pn, AF_UNSPEC,
                               (int)(left < HTTPC_RESOLVE_MAX_MS ? left : HTTPC_RESOLVE_MAX_MS),
                               addrs, WEFT_RESOLVE_MAX, err, cap);
    if (na < 0)
        return na;
    int fd = -1, rc = -ECONNREFUSED;
    for (int i = 0; i < na && fd < 0; i++) {
        const weft_addr *a = &addrs[i];
        fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0)
            break;
        rc = -errno;
        if (errno == EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, deadline_ms, stop, err, cap);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            if (rc == 0 && soerr == 0)
                break;
            if (rc == 0)
                rc = -soerr;
        }
        close(fd);
        fd = -1;
        if (rc == -EINTR || rc == -ETIMEDOUT)
            break; /* the deadline is shared: no time left for other addresses */
    }
    if (fd >= 0)
        return fd;
    if (rc == -EINTR)
        return rc;
    return httpc_say(err, cap, rc, "cannot connect to %s%s%s:%s: %s", v6 ? "[" : "", host,
                     v6 ? "]" : "", port, rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
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
            if (rc == -ETIMEDOUT)
                return httpc_say(err, cap, rc, "sending: timed out");
            if (rc < 0)
                return rc;
            continue;
        }
        if (n == 0)
            return httpc_say(err, cap, WEFT_ECLOSED, "sending: connection closed");
        return httpc_say(err, cap, -errno, "sending: %s", strerror(errno));
    }
    return 0;
}

/* Read what is there, waiting until the deadline. > 0 bytes, 0 at the end
 * of the stream, or a negative code. */
static ssize_t
read_some(int fd, void *p, size_t n, int64_t deadline_ms, const volatile sig_atomic_t *stop,
          char *err, size_t cap)
{
    for (;;) {
        ssize_t got = recv(fd, p, n, 0);
        if (got >= 0)
            return got;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return httpc_say(err, cap, -errno, "receiving: %s", strerror(errno));
        int rc = wait_fd(fd, POLLIN, deadline_ms, stop, err, cap);
        if (rc == -ETIMEDOUT)
            return httpc_say(err, cap, rc, "timed out waiting for the answer");
        if (rc < 0)
            return rc;
    }
}

/* ---- the response head ------------------------------------------------------- */

/* Transfer-Encoding value [v, v + n): a list of codings. Notes whether the
 * last one is chunked and whether any other coding is named (chunked
 * anywhere but last counts as another: the framing would be unknown). */
static void
transfer_codings(const char *v, size_t n, weft_httpc_head *h)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i++;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (s == e)
            continue; /* empty list elements are allowed */
        if (h->chunked)
            h->other_coding = 1; /* something after chunked */
        h->chunked = e - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
        if (!h->chunked)
            h->other_coding = 1;
    }
}

/* Check a head (status line and header lines, CRLF separated, without the
 * final empty line) and fill h. 0 or WEFT_EPROTO. */
static int
parse_head(char *t, size_t len, weft_httpc_head *h, char *err, size_t cap)
{
    h->content_length = -1;
    h->chunked = h->other_coding = 0;
    if (len < 12 || strncmp(t, "HTTP/1.", 7) != 0 || (t[7] != '0' && t[7] != '1') || t[8] != ' ' ||
        t[9] < '1' || t[9] > '5' || !isdigit((unsigned char)t[10]) ||
        !isdigit((unsigned char)t[11]) || (len > 12 && t[12] != ' ' && t[12] != '\r')) {
        char seen[128];
        httpc_printable((const uint8_t *)t, len, 60, seen, sizeof seen);
        return httpc_say(err, cap, WEFT_EPROTO, "not an HTTP/1.x answer: \"%s\"", seen);
    }
    h->status = (t[9] - '0') * 100 + (t[10] - '0') * 10 + (t[11] - '0');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == 0 || (c == '\r' && (i + 1 >= len || t[i + 1] != '\n')) ||
            (c == '\n' && (i == 0 || t[i - 1] != '\r')))
            return httpc_say(err, cap, WEFT_EPROTO,
                             "malformed HTTP answer head (bare CR, LF or NUL)");
    }
    char *line = strstr(t, "\r\n");
    while (line && line[2]) {
        line += 2;
        char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        char *colon = memchr(line, ':', ll);
        if (!colon || colon == line)
            return httpc_say(err, cap, WEFT_EPROTO, "malformed header line in the HTTP answer");
        for (char *c = line; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return httpc_say(err, cap, WEFT_EPROTO, "malformed header name in the HTTP answer");
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
            transfer_codings(v, vl, h);
        }
        line = end;
    }
    return 0;
bad_cl:
    return httpc_say(err, cap, WEFT_EPROTO,
                     "invalid or conflicting Content-Length in the HTTP answer");
}

int
weft_httpc_read_head(int fd, int64_t deadline_ms, size_t max_head,
                     const volatile sig_atomic_t *stop, weft_httpc_head *h, uint8_t **extra,
                     size_t *extra_len, char *err, size_t cap)
{
    if (!h || !extra || !extra_len)
        return httpc_say(err, cap, WEFT_EINVAL, "no place for the answer head");
    memset(h, 0, sizeof *h);
    *extra = NULL;
    *extra_len = 0;
    if (max_head == 0)
        max_head = WEFT_HTTPC_MAX_HEAD;
    char *buf = malloc(max_head + 1);
    if (!buf)
        return httpc_say(err, cap, -ENOMEM, "out of memory");
    size_t have = 0;
    int rc;
    for (;;) {
        char *end = have >= 4 ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hl = (size_t)(end - buf);
            size_t rest = have - hl - 4;
            buf[hl] = 0;
            if ((rc = parse_head(buf, hl, h, err, cap)) < 0)
                break;
            if (h->status >= 100 && h->status < 200 && h->status != 101) {
                memmove(buf, end + 4, rest); /* an interim answer (100 Continue): skip it */
                have = rest;
                continue;
            }
            if (rest) {
                if (!(*extra = malloc(rest))) {
                    rc = httpc_say(err, cap, -ENOMEM, "out of memory");
                    break;
                }
                memcpy(*extra, end + 4, rest);
                *extra_len = rest;
            }
            h->raw = buf;
            h->raw_len = hl;
            return 0;
        }
        if (have >= max_head) {
            rc = httpc_say(err, cap, WEFT_ETOOBIG, "HTTP answer head larger than %zu bytes",
                           max_head);
            break;
        }
        ssize_t n = read_some(fd, buf + have, max_head - have, deadline_ms, stop, err, cap);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n == 0) {
            rc = httpc_say(err, cap, WEFT_ECLOSED, "%s",
                           have ? "connection closed in the middle of the HTTP answer"
                                : "connection closed without an answer");
            break;
        }
        have += (size_t)n;
    }
    free(buf);
    memset(h, 0, sizeof *h);
    return rc;
}

void
weft_httpc_head_free(weft_httpc_head *h)
{
    if (!h)
        return;
    free(h->raw);
    h->raw = NULL;
    h->raw_len = 0;
}

int
weft_httpc_header(const weft_httpc_head *h, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    int found = -ENOENT;
    const char *line = h->raw ? strstr(h->raw, "\r\n") : NULL;
    while (line && line[2]) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            if (found != -ENOENT)
                return WEFT_EPROTO;
            const char *v = line + nl + 1, *ve = line + ll;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t vl = (size_t)(ve - v);
            if (vl + 1 > cap)
                return WEFT_ENOSPC;
            memcpy(out, v, vl);
            out[vl] = 0;
            found = (int)vl;
        }
        line = end;
    }
    return found;
}

/* ---- bodies ---------------------------------------------------------------------- */

/* A growing body buffer: len bytes in p, room for cap and a NUL. */
struct body {
    char *p;
    size_t len, cap;
};

/* Make room for at least one more byte, growing by doubling up to limit.
 * 0, WEFT_ETOOBIG (already limit bytes) or -ENOMEM. */
static int
body_room(struct body *b, size_t limit)
{
    if (b->len < b->cap)
        return 0;
    if (b->cap >= limit)
        return WEFT_ETOOBIG;
    size_t nc = b->cap < 2048 ? 4096 : b->cap * 2;
    if (nc > limit)
        nc = limit;
    char *np = realloc(b->p, nc + 1);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

/* Where a chunked decoder is: the decoded bytes are b->p[0, out), the
 * framing not yet looked at is b->p[in, b->len). */
struct chunked {
    enum { C_SIZE, C_DATA, C_DATA_END, C_TRAILER, C_DONE } state;
    size_t left; /* data bytes of the current chunk still to come */
    size_t in, out;
};

/* Decode as far as the buffer goes, moving chunk data down in place. 1 when
 * the last chunk and the trailers are complete, 0 for more, or
 * WEFT_EPROTO / WEFT_ETOOBIG. */
static int
chunked_step(struct chunked *c, struct body *b, size_t max_body, char *err, size_t cap)
{
    while (c->state != C_DONE) {
        if (c->state == C_DATA) {
            size_t n = b->len - c->in < c->left ? b->len - c->in : c->left;
            memmove(b->p + c->out, b->p + c->in, n);
            c->out += n;
            c->in += n;
            c->left -= n;
            if (c->left)
                return 0;
            c->state = C_DATA_END;
            continue;
        }
        char *eol = memmem(b->p + c->in, b->len - c->in, "\r\n", 2);
        if (!eol) {
            if (b->len - c->in > CHUNK_LINE_MAX)
                return httpc_say(err, cap, WEFT_EPROTO, "chunked body: a line over %d bytes",
                                 CHUNK_LINE_MAX);
            return 0;
        }
        const char *line = b->p + c->in;
        size_t ll = (size_t)(eol - line);
        c->in += ll + 2;
        if (c->state == C_DATA_END) {
            if (ll)
                return httpc_say(err, cap, WEFT_EPROTO,
                                 "chunked body: chunk data longer than its size");
            c->state = C_SIZE;
        } else if (c->state == C_TRAILER) {
            if (!ll)
                c->state = C_DONE; /* trailer fields before the empty line are dropped */
        } else {
            size_t sz = 0, i = 0;
            for (; i < ll && isxdigit((unsigned char)line[i]); i++) {
                if (i == 15)
                    return httpc_say(err, cap, WEFT_EPROTO, "chunked body: chunk size too long");
                int d = tolower((unsigned char)line[i]);
                sz = sz * 16 + (size_t)(d <= '9' ? d - '0' : d - 'a' + 10);
            }
            if (i == 0 || (i < ll && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
                return httpc_say(err, cap, WEFT_EPROTO, "chunked body: bad chunk size line");
            if (sz > max_body - c->out)
                return httpc_say(err, cap, WEFT_ETOOBIG,
                                 "HTTP answer body is over the %zu byte limit", max_body);
            c->left = sz;
            c->state = sz ? C_DATA : C_TRAILER;
        }
    }
    return 1;
}

/* Read a body framed by want (Content-Length, or -1: until the server
 * closes) or, with chunked, by its chunks, starting with the extra bytes
 * that came with the head. 0 with b filled, or a negative code. */
static int
read_body(int fd, int64_t deadline, const volatile sig_atomic_t *stop, long long want, int chunked,
          size_t max_body, const uint8_t *extra, size_t extra_len, struct body *b, char *err,
          size_t cap)
{
    /* The buffer may hold one byte over max_body when reading to the close
     * (to see the close come), and chunk framing beside the data: at most
     * one line of it is kept, since data moves down as soon as it arrives. */
    size_t limit = max_body + (chunked ? CHUNK_LINE_MAX + 2 : want < 0 ? 1 : 0);
    struct chunked c = {0};
    if (want > (long long)max_body)
        return httpc_say(err, cap, WEFT_ETOOBIG,
                         "HTTP answer body of %lld bytes is over the %zu byte limit", want,
                         max_body);
    if (want >= 0 && !chunked && extra_len > (size_t)want)
        return httpc_say(err, cap, WEFT_EPROTO,
                         "HTTP answer has more bytes than its Content-Length");
    if (chunked && extra_len > limit)
        limit = extra_len; /* many small chunks in the first read */
    if (extra_len > limit)
        return httpc_say(err, cap, WEFT_ETOOBIG, "HTTP answer body is over the %zu byte limit",
                         max_body);
    if (want >= 0 && !chunked)
        b->cap = (size_t)want;
    else
        b->cap = extra_len > 4096 ? extra_len : limit < 4096 ? limit : 4096;
    if (!(b->p = malloc(b->cap + 1)))
        return httpc_say(err, cap, -ENOMEM, "out of memory");
    if (extra_len)
        memcpy(b->p, extra, extra_len);
    b->len = extra_len;
    for (;;) {
        if (chunked) {
            int rc = chunked_step(&c, b, max_body, err, cap);
            if (rc < 0)
                return rc;
            /* keep only the decoded data and the framing not yet parsed */
            memmove(b->p + c.out, b->p + c.in, b->len - c.in);
            b->len = c.out + (b->len - c.in);
            c.in = c.out;
            if (rc == 1) {
                b->len = c.out; /* anything after the last chunk is ignored */
                break;
            }
        } else if (want >= 0 && b->len == (size_t)want) {
            /* bytes past the Content-Length that have already arrived are
             * refused whether they came with the head or after it, so the
             * answer does not depend on how the reads fell */
            char extra_byte;
            ssize_t more = fd >= 0 ? recv(fd, &extra_byte, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
            if (more > 0)
                return httpc_say(err, cap, WEFT_EPROTO,
                                 "HTTP answer has more bytes than its Content-Length");
            break;
        }
        int rc = body_room(b, limit);
        if (rc == -ENOMEM)
            return httpc_say(err, cap, rc, "out of memory");
        if (rc < 0)
            return httpc_say(err, cap, rc, "HTTP answer body is over the %zu byte limit", max_body);
        ssize_t got = read_some(fd, b->p + b->len, b->cap - b->len, deadline, stop, err, cap);
        if (got < 0)
            return (int)got;
        if (got == 0) {
            if (chunked)
                return httpc_say(err, cap, WEFT_ECLOSED,
                                 "connection closed in the middle of a chunked "
                                 "body");
            if (want < 0)
                break; /* the body ends with the connection */
            return httpc_say(err, cap, WEFT_ECLOSED,
                             "connection closed after %zu of %lld body bytes", b->len, want);
        }
        b->len += (size_t)got;
        if (!chunked && b->len > max_body)
            return httpc_say(err, cap, WEFT_ETOOBIG, "HTTP answer body is over the %zu byte limit",
                             max_body);
    }
    b->p[b->len] = 0;
    return 0;
}

/* ---- whole requests ---------------------------------------------------------------- */

/* Check what goes into the request line and headers. 0 or WEFT_EINVAL. */
static int
check_request(const weft_httpc_req *q, const char *method, const char *path, char *err, size_t cap)
{
    if (!q->host || !q->port || !httpc_host_ok(q->host, strlen(q->host)) ||
        httpc_port_number(q->port, strlen(q->port)) < 0)
        return httpc_say(err, cap, WEFT_EINVAL, "request without a valid host and port");
    if (!*method)
        return httpc_say(err, cap, WEFT_EINVAL, "empty request method");
    for (const char *c = method; *c; c++)
        if (!is_tchar((unsigned char)*c))
            return httpc_say(err, cap, WEFT_EINVAL, "the request method is not a token");
    if (path[0] != '/')
        return httpc_say(err, cap, WEFT_EINVAL, "the request path must start with '/'");
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return httpc_say(err, cap, WEFT_EINVAL,
                             "the request path contains a blank or control byte");
    if (q->bearer && !header_safe(q->bearer))
        return httpc_say(err, cap, WEFT_EINVAL, "the token contains control characters");
    if ((q->accept && !header_safe(q->accept)) || (q->user_agent && !header_safe(q->user_agent)) ||
        (q->content_type && !header_safe(q->content_type)))
        return httpc_say(err, cap, WEFT_EINVAL, "a request header contains control characters");
    if (!q->body && q->body_len)
        return httpc_say(err, cap, WEFT_EINVAL, "a body length without a body");
    return 0;
}

/* The request head in a fresh string, or NULL (ENOMEM). */
static char *
request_head(const weft_httpc_req *q, const char *method, const char *path)
{
    int v6 = strchr(q->host, ':') != NULL, dflt = strcmp(q->port, "80") == 0;
    char *out = NULL, cl[32] = "";
    if (q->body)
        snprintf(cl, sizeof cl, "%zu", q->body_len);
    int n =
        asprintf(&out,
                 "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: %s\r\n%s%s%s"
                 "Connection: close\r\n%s%s%s%s%s%s%s%s\r\n",
                 method, path, v6 ? "[" : "", q->host, v6 ? "]" : "", dflt ? "" : ":",
                 dflt ? "" : q->port, q->user_agent ? q->user_agent : "weft",
                 q->accept ? "Accept: " : "", q->accept ? q->accept : "", q->accept ? "\r\n" : "",
                 q->bearer ? "Authorization: Bearer " : "", q->bearer ? q->bearer : "",
                 q->bearer ? "\r\n" : "", q->body ? "Content-Type: " : "",
                 q->body ? (q->content_type ? q->content_type : "application/json") : "",
                 q->body ? "\r\nContent-Length: " : "", cl, q->body ? "\r\n" : "");
    return n < 0 ? NULL : out;
}

int
httpc_read_answer(int fd, const char *method, unsigned flags, size_t max_head, size_t max_body,
                  int64_t deadline, const volatile sig_atomic_t *stop, weft_httpc_resp *r,
                  char *err, size_t cap)
{
    uint8_t *extra = NULL;
    size_t extra_len = 0;
    weft_httpc_head h = {0};
    struct body b = {0};
    int rc;

    memset(r, 0, sizeof *r);
    rc = weft_httpc_read_head(fd, deadline, max_head, stop, &h, &extra, &extra_len, err, cap);
    if (rc < 0)
        goto out;
    if (h.status == 101) {
        rc = httpc_say(err, cap, WEFT_EPROTO, "unexpected 101 Switching Protocols answer");
        goto out;
    }
    int no_body = h.status == 204 || h.status == 304 || strcasecmp(method, "HEAD") == 0;
    if (!no_body && h.other_coding) {
        rc = httpc_say(err, cap, WEFT_ENOTSUP,
                       "HTTP %d answer uses a transfer coding other than chunked", h.status);
        goto out;
    }
    if (!no_body && h.chunked && !(flags & WEFT_HTTPC_CHUNKED)) {
        rc = httpc_say(
            err, cap, WEFT_ENOTSUP,
            "HTTP %d answer uses chunked transfer coding, which this client does not support",
            h.status);
        goto out;
    }
    int chunked = !no_body && h.chunked; /* chunked framing overrides Content-Length */
    /* an answer without a body reads nothing more (fd -1: what follows
     * its head is not looked at) */
    rc =
        read_body(no_body ? -1 : fd, deadline, stop,
                  no_body   ? 0
                  : chunked ? -1
                            : h.content_length,
                  chunked, max_body, no_body ? NULL : extra, no_body ? 0 : extra_len, &b, err, cap);
    if (rc < 0)
        goto out;
    r->status = h.status;
    r->body = b.p;
    r->body_len = b.len;
    b.p = NULL;
out:
    free(b.p);
    weft_httpc_head_free(&h);
    free(extra);
    return rc;
}

int
weft_httpc_request(const weft_httpc_req *q, weft_httpc_resp *r, char *err, size_t cap)
{
    if (!q || !r)
        return httpc_say(err, cap, WEFT_EINVAL, "no request or no place for the answer");
    memset(r, 0, sizeof *r);
    const char *method = q->method ? q->method : "GET", *path = q->path ? q->path : "/";
    int rc = check_request(q, method, path, err, cap);
    if (rc < 0)
        return rc;
    size_t max_body = q->max_body ? q->max_body : WEFT_HTTPC_MAX_BODY;
    int64_t deadline = weft_mono_ms() + (q->timeout_ms > 0 ? q->timeout_ms : WEFT_HTTPC_TIMEOUT_MS);
    char *head = request_head(q, method, path);
    if (!head)
        return httpc_say(err, cap, -ENOMEM, "out of memory");
    int fd = weft_httpc_connect(q->host, q->port, deadline, q->stop, err, cap);
    if (fd < 0) {
        free(head);
        return fd;
    }
    rc = weft_httpc_send_all(fd, head, strlen(head), deadline, q->stop, err, cap);
    if (rc == 0 && q->body_len)
        rc = weft_httpc_send_all(fd, q->body, q->body_len, deadline, q->stop, err, cap);
    if (rc < 0)
        goto out;
    rc = httpc_read_answer(fd, method, q->flags, q->max_head, max_body, deadline, q->stop, r, err,
                           cap);
out:
    free(head);
    close(fd);
    return rc;
}

int
weft_httpc_get(const char *url, const weft_httpc_req *opts, weft_httpc_resp *r, char *err,
               size_t cap)
{
    if (r)
        memset(r, 0, sizeof *r);
    weft_httpc_url *u = malloc(sizeof *u);
    if (!u)
        return httpc_say(err, cap, -ENOMEM, "out of memory");
    int rc = weft_httpc_parse_url(url, u, err, cap);
    if (rc == 0) {
        weft_httpc_req q = {0};
        if (opts)
            q = *opts;
        q.method = "GET";
        q.host = u->host;
        q.port = u->port;
        q.path = u->path;
        rc = weft_httpc_request(&q, r, err, cap);
    }
    free(u);
    return rc;
}

void
weft_httpc_resp_free(weft_httpc_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
