/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_svc_httpc: the response parser of weft's HTTP client
 * (service/httpc/src/httpc.c: the head, Content-Length, Transfer-Encoding,
 * chunked bodies), used by the JWKS loader and weft-proxy-client, through
 * httpc_read_answer, the second half of weft_httpc_request, on one end of
 * a socket pair whose other end holds the fuzzed answer and then closes.
 *
 * Input: byte 0: bit 0 the request was HEAD, bit 1 chunked decoding
 * allowed; byte 1 the body limit (byte * 16 bytes, 0: the default), byte
 * 2 the head limit (byte * 16 + 16 bytes); the rest is the answer.
 *
 * Oracles, from RFC 9112 as the header documents it, computed here:
 * results are 0 or a documented code, with one printable line in err; on
 * success the final head (interim 1xx heads before it skipped) is a
 * status line "HTTP/1.x DDD" with a status of 200..599 or 1xx-free, with
 * no bare CR, LF or NUL; the body is NUL-terminated, within the limit,
 * and exactly: nothing for 204, 304 and HEAD; the chunks decoded here for
 * a chunked answer; the Content-Length bytes after the head when that
 * header is present (and a different count is an error); else every
 * byte after the head.
 */
#include "fuzz_util.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc_priv.h"
#include "weft/clock.h"
#include "weft/common.h"
#include "weft/svc_httpc.h"

/* The final head: [*hs, *he) without its CRLFCRLF; *body after it. */
static int
final_head(const uint8_t *p, size_t n, size_t *hs, size_t *he, int *status)
{
    size_t at = 0;
    for (;;) {
        const uint8_t *e = memmem(p + at, n - at, "\r\n\r\n", 4);
        if (!e || (size_t)(e - (p + at)) < 12)
            return -1;
        const uint8_t *h = p + at;
        if (memcmp(h, "HTTP/1.", 7) != 0 || !isdigit(h[9]) || !isdigit(h[10]) || !isdigit(h[11]))
            return -1;
        *status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
        *hs = at;
        *he = (size_t)(e - p);
        if (*status >= 200 || *status == 101)
            return 0;
        at = *he + 4;
    }
}

/* A header's value in p[hs, he) (first occurrence, blanks trimmed). */
static const uint8_t *
header(const uint8_t *p, size_t hs, size_t he, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    const uint8_t *line = memmem(p + hs, he - hs, "\r\n", 2);
    while (line) {
        line += 2;
        const uint8_t *end = memmem(line, (size_t)(p + he - line), "\r\n", 2);
        if (!end)
            end = p + he;
        if ((size_t)(end - line) > nl && strncasecmp((const char *)line, name, nl) == 0 &&
            line[nl] == ':') {
            const uint8_t *v = line + nl + 1, *e = end;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *vl = (size_t)(e - v);
            return v;
        }
        line = end < p + he ? end : NULL;
    }
    return NULL;
}

/* Decode a chunked body; its length, or -1 when it is not complete. */
static long
dechunk(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    for (;;) {
        size_t sz = 0, d = 0;
        while (i < n && isxdigit(p[i])) {
            int c = tolower(p[i++]);
            sz = sz * 16 + (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
            if (++d > 15)
                return -1;
        }
        const uint8_t *eol = memmem(p + i, n - i, "\r\n", 2);
        if (d == 0 || !eol)
            return -1;
        i = (size_t)(eol - p) + 2;
        if (sz == 0) {
            for (;;) { /* trailers up to the empty line */
                eol = memmem(p + i, n - i, "\r\n", 2);
                if (!eol)
                    return -1;
                if (eol == p + i)
                    return (long)o;
                i = (size_t)(eol - p) + 2;
            }
        }
        if (n - i < sz + 2)
            return -1;
        memcpy(out + o, p + i, sz);
        o += sz;
        i += sz;
        if (p[i] != '\r' || p[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

static void
check_ok(const uint8_t *p, size_t n, int head_req, int allow_chunked, size_t max_body,
         const weft_httpc_resp *r)
{
    size_t hs, he;
    int status;
    FZ_CHECK(final_head(p, n, &hs, &he, &status) == 0);
    FZ_CHECK(r->status == status && status >= 200 && status <= 599);
    for (size_t i = hs; i < he; i++) {
        FZ_CHECK(p[i] != 0);
        if (p[i] == '\r')
            FZ_CHECK(i + 1 < he && p[i + 1] == '\n');
        if (p[i] == '\n')
            FZ_CHECK(i > hs && p[i - 1] == '\r');
    }
    FZ_CHECK(r->body != NULL && r->body[r->body_len] == 0 && r->body_len <= max_body);
    const uint8_t *rest = p + he + 4;
    size_t rn = n - he - 4, vl;
    if (status == 204 || status == 304 || head_req) {
        FZ_CHECK(r->body_len == 0);
        return;
    }
    /* the codings of every Transfer-Encoding line, in order: an accepted
     * answer names exactly one, chunked (empty elements do not count) */
    size_t ncoding = 0, chunked_at = 0;
    for (size_t at = hs; at < he;) {
        size_t skip;
        const uint8_t *te = header(p, at, he, "transfer-encoding", &vl);
        if (!te)
            break;
        for (size_t i = 0; i < vl;) {
            size_t s0 = i;
            while (i < vl && te[i] != ',')
                i++;
            size_t e0 = i++;
            while (s0 < e0 && (te[s0] == ' ' || te[s0] == '\t'))
                s0++;
            while (e0 > s0 && (te[e0 - 1] == ' ' || te[e0 - 1] == '\t'))
                e0--;
            if (e0 > s0) {
                ncoding++;
                chunked_at += e0 - s0 == 7 && strncasecmp((const char *)te + s0, "chunked", 7) == 0;
            }
        }
        skip = (size_t)(te - p);
        at = skip + vl;
    }
    if (ncoding) {
        FZ_CHECK(allow_chunked && ncoding == 1 && chunked_at == 1);
        uint8_t *dec = malloc(rn + 1);
        FZ_CHECK(dec != NULL);
        long dl = dechunk(rest, rn, dec);
        FZ_CHECK(dl >= 0 && (size_t)dl == r->body_len && memcmp(dec, r->body, r->body_len) == 0);
        free(dec);
        return;
    }
    const uint8_t *cl = header(p, hs, he, "content-length", &vl);
    if (cl) {
        long long want = 0;
        for (size_t i = 0; i < vl; i++) {
            FZ_CHECK(isdigit(cl[i]));
            want = want * 10 + (cl[i] - '0');
        }
        FZ_CHECK((long long)rn == want);
    }
    FZ_CHECK(r->body_len == rn && memcmp(r->body, rest, rn) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    uint8_t flags = fz_u8(&r);
    size_t max_body = (size_t)fz_u8(&r) * 16, max_head = (size_t)fz_u8(&r) * 16 + 16;
    if (r.n > 150000)
        return 0; /* more than the socket pair buffers */
    int sv[2];
    FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int sz = 1 << 20;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    for (size_t off = 0; off < r.n;) {
        ssize_t w = write(sv[0], r.p + off, r.n - off);
        FZ_CHECK(w > 0);
        off += (size_t)w;
    }
    close(sv[0]);
    weft_httpc_resp resp;
    char err[WEFT_HTTPC_ERR];
    int head_req = flags & 1, chunked = (flags & 2) != 0;
    int rc = httpc_read_answer(sv[1], head_req ? "HEAD" : "GET", chunked ? WEFT_HTTPC_CHUNKED : 0,
                               max_head, max_body ? max_body : WEFT_HTTPC_MAX_BODY,
                               weft_mono_ms() + 5000, NULL, &resp, err, sizeof err);
    close(sv[1]);
    if (rc == 0) {
        check_ok(r.p, r.n, head_req, chunked, max_body ? max_body : WEFT_HTTPC_MAX_BODY, &resp);
    } else {
        FZ_CHECK(rc == WEFT_EPROTO || rc == WEFT_ETOOBIG || rc == WEFT_ENOTSUP ||
                 rc == WEFT_ECLOSED || rc == -ENOMEM);
        FZ_CHECK(resp.body == NULL && resp.body_len == 0);
        size_t el = strnlen(err, sizeof err);
        FZ_CHECK(el > 0 && el < sizeof err);
        for (size_t i = 0; i < el; i++)
            FZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
    }
    weft_httpc_resp_free(&resp);
    return 0;
}
