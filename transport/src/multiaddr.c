/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multiaddrs (weft/multiaddr.h): text <-> binary for ip4, ip6, tcp, udp,
 * dns, dns4, dns6 and p2p, and the TCP sockaddr a multiaddr names.
 *
 * Every multiaddr goes through one walker, next_component(), which checks
 * each (uvarint code, value) pair against the end of the buffer before
 * reading it, and render() built on it; both the text parser and the binary
 * reader finish by walking their result. Invariants of a weft_multiaddr
 * this file accepts or produces: 1 <= len <= WEFT_MA_MAX, every component
 * is supported and well-formed (minimal varints, dns names non-empty and
 * free of '/' and NUL, p2p values valid peer ids), and its canonical text
 * fits WEFT_MA_TEXT_MAX with the NUL. So weft_ma_to_text never fails on a
 * WEFT_MA_TEXT_MAX buffer, and parsing that text gives the same bytes.
 *
 * Text parsing is positional: a protocol name, then (for every supported
 * protocol) exactly one value component, so a dns name may be any text
 * without '/'. Empty components (including a trailing '/') are refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "weft/resolve.h"
#include "weft/multiaddr.h"
#include "weft/pb.h"

enum value_kind { V_IP4, V_IP6, V_PORT, V_DNS, V_P2P };

typedef struct proto {
    uint32_t code;
    const char *name;
    enum value_kind kind;
} proto;

static const proto protos[] = {
    {4, "ip4", V_IP4},  {6, "tcp", V_PORT},  {273, "udp", V_PORT}, {41, "ip6", V_IP6},
    {53, "dns", V_DNS}, {54, "dns4", V_DNS}, {55, "dns6", V_DNS},  {421, "p2p", V_P2P},
};

enum {
    CODE_IP4 = 4,
    CODE_TCP = 6,
    CODE_IP6 = 41,
    CODE_DNS = 53,
    CODE_DNS4 = 54,
    CODE_DNS6 = 55,
    CODE_P2P = 421
};

typedef struct component {
    const proto *pr;
    const uint8_t *val; /* the value, without its length prefix */
    size_t vlen;
} component;

static const proto *
proto_by_code(uint64_t code)
{
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (protos[i].code == code)
            return &protos[i];
    return NULL;
}

static const proto *
proto_by_name(const char *s, size_t len)
{
    if (len == 4 && memcmp(s, "ipfs", 4) == 0)
        return proto_by_code(CODE_P2P);
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (strlen(protos[i].name) == len && memcmp(protos[i].name, s, len) == 0)
            return &protos[i];
    return NULL;
}

/*
 * The component at p[*off..len). Returns 1 and advances *off, 0 at the end,
 * WEFT_ENOTSUP for an unknown code, WEFT_EPROTO for anything malformed.
 */
static int
next_component(const uint8_t *p, size_t len, size_t *off, component *c)
{
    uint64_t code, vlen;
    size_t at = *off;
    if (at >= len)
        return 0;
    int n = weft_uvarint_get(p + at, len - at, &code, 1);
    if (n <= 0)
        return WEFT_EPROTO;
    at += (size_t)n;
    c->pr = proto_by_code(code);
    if (c->pr == NULL)
        return WEFT_ENOTSUP;
    switch (c->pr->kind) {
    case V_IP4: vlen = 4; break;
    case V_IP6: vlen = 16; break;
    case V_PORT: vlen = 2; break;
    default:
        n = weft_uvarint_get(p + at, len - at, &vlen, 1);
        if (n <= 0)
            return WEFT_EPROTO;
        at += (size_t)n;
        break;
    }
    if (vlen > len - at)
        return WEFT_EPROTO;
    c->val = p + at;
    c->vlen = (size_t)vlen;
    at += (size_t)vlen;

    if (c->pr->kind == V_DNS) {
        /* '/' and NUL could not survive the text form. */
        if (c->vlen == 0 || memchr(c->val, '/', c->vlen) || memchr(c->val, '\0', c->vlen))
            return WEFT_EPROTO;
    } else if (c->pr->kind == V_P2P) {
        weft_peer_id id;
        if (weft_peer_id_from_bytes(c->val, c->vlen, &id) < 0)
            return WEFT_EPROTO;
    }
    *off = at;
    return 1;
}

/* Append "/name/value" of c to out at *pos; WEFT_ENOSPC if it does not fit
 * with a NUL after it. */
static int
render_component(const component *c, char *out, size_t cap, size_t *pos)
{
    char val[WEFT_PEER_ID_TEXT];
    const char *v = val;
    size_t vl;
    switch (c->pr->kind) {
    case V_IP4:
        vl = (size_t)snprintf(val, sizeof val, "%u.%u.%u.%u", c->val[0], c->val[1], c->val[2],
                              c->val[3]);
        break;
    case V_IP6:
        if (inet_ntop(AF_INET6, c->val, val, sizeof val) == NULL)
            return WEFT_EPROTO; /* cannot happen with a 128-byte buffer */
        vl = strlen(val);
        break;
    case V_PORT:
        vl = (size_t)snprintf(val, sizeof val, "%u", (unsigned)c->val[0] << 8 | c->val[1]);
        break;
    case V_DNS:
        v = (const char *)c->val;
        vl = c->vlen;
        break;
    default: {
        weft_peer_id id;
        if (weft_peer_id_from_bytes(c->val, c->vlen, &id) < 0)
            return WEFT_EPROTO;
        int n = weft_peer_id_to_text(&id, val, sizeof val);
        if (n < 0)
            return WEFT_EPROTO;
        vl = (size_t)n;
        break;
    }
    }
    size_t nl = strlen(c->pr->name);
    size_t need = 1 + nl + 1 + vl;
    if (cap - *pos <= need)
        return WEFT_ENOSPC;
    char *o = out + *pos;
    *o++ = '/';
    memcpy(o, c->pr->name, nl);
    o += nl;
    *o++ = '/';
    memcpy(o, v, vl);
    o += vl;
    *o = '\0';
    *pos += need;
    return 0;
}

/*
 * Walk p[0..len) as a multiaddr and render its canonical text into
 * text[WEFT_MA_TEXT_MAX]. Returns the text length, WEFT_ENOTSUP or
 * WEFT_EPROTO (also for an empty, over-long or too-wordy multiaddr).
 */
static int
walk(const uint8_t *p, size_t len, char text[WEFT_MA_TEXT_MAX])
{
    component c;
    size_t off = 0, pos = 0;
    int rc;
    if (len == 0 || len > WEFT_MA_MAX)
        return WEFT_EPROTO;
    text[0] = '\0';
    while ((rc = next_component(p, len, &off, &c)) == 1) {
        int r = render_component(&c, text, WEFT_MA_TEXT_MAX, &pos);
        if (r < 0)
            return WEFT_EPROTO;
    }
    return rc < 0 ? rc : (int)pos;
}

int
weft_ma_from_bytes(const uint8_t *p, size_t len, weft_multiaddr *out)
{
    char text[WEFT_MA_TEXT_MAX];
    if (p == NULL || out == NULL)
        return WEFT_EINVAL;
    int rc = walk(p, len, text);
    if (rc < 0)
        return rc;
    memcpy(out->bytes, p, len);
    out->len = (uint16_t)len;
    return 0;
}

int
weft_ma_to_text(const weft_multiaddr *ma, char *out, size_t cap)
{
    char text[WEFT_MA_TEXT_MAX];
    if (ma == NULL || out == NULL || ma->len > WEFT_MA_MAX)
        return WEFT_EINVAL;
    int n = walk(ma->bytes, ma->len, text);
    if (n < 0)
        return n;
    if ((size_t)n >= cap)
        return WEFT_ENOSPC;
    memcpy(out, text, (size_t)n + 1);
    return n;
}

/* ---- text -> binary ---------------------------------------------------------------- */

/* Dotted quad, four decimal octets without leading zeros. */
static int
parse_ip4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return WEFT_EPROTO;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0'))
            return WEFT_EPROTO;
        out[part] = (uint8_t)v;
    }
    return i == len ? 0 : WEFT_EPROTO;
}

/* Decimal 0..65535, one to five digits, no sign. */
static int
parse_port(const char *s, size_t len, uint8_t out[2])
{
    unsigned v = 0;
    if (len == 0 || len > 5)
        return WEFT_EPROTO;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WEFT_EPROTO;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return WEFT_EPROTO;
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)v;
    return 0;
}

static int
put(uint8_t *buf, size_t *n, const void *p, size_t len)
{
    if (len > WEFT_MA_MAX - *n)
        return WEFT_EPROTO; /* longer than WEFT_MA_MAX */
    memcpy(buf + *n, p, len);
    *n += len;
    return 0;
}

static int
put_uvarint(uint8_t *buf, size_t *n, uint64_t v)
{
    uint8_t tmp[WEFT_UVARINT_MAX];
    return put(buf, n, tmp, weft_uvarint_put(tmp, v));
}

/* Encode the value text s[0..len) of protocol pr into buf at *n. */
static int
put_value(const proto *pr, const char *s, size_t len, uint8_t *buf, size_t *n)
{
    uint8_t v[16];
    char tmp[WEFT_PEER_ID_TEXT];
    int rc;
    switch (pr->kind) {
    case V_IP4:
        if (parse_ip4(s, len, v) < 0)
            return WEFT_EPROTO;
        return put(buf, n, v, 4);
    case V_PORT:
        if (parse_port(s, len, v) < 0)
            return WEFT_EPROTO;
        return put(buf, n, v, 2);
    case V_IP6:
        /* inet_pton wants a C string; no IPv6 literal is 64 bytes long. */
        if (len >= 64)
            return WEFT_EPROTO;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        if (inet_pton(AF_INET6, tmp, v) != 1)
            return WEFT_EPROTO;
        return put(buf, n, v, 16);
    case V_DNS:
        if (put_uvarint(buf, n, len) < 0)
            return WEFT_EPROTO;
        return put(buf, n, s, len);
    default: {
        weft_peer_id id;
        if (len >= sizeof tmp)
            return WEFT_EPROTO;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        if (weft_peer_id_parse(tmp, &id) < 0)
            return WEFT_EPROTO;
        rc = put_uvarint(buf, n, id.len);
        return rc < 0 ? rc : put(buf, n, id.bytes, id.len);
    }
    }
}

int
weft_ma_parse(const char *text, weft_multiaddr *out)
{
    uint8_t buf[WEFT_MA_MAX];
    char canon[WEFT_MA_TEXT_MAX];
    size_t n = 0;
    if (text == NULL || out == NULL)
        return WEFT_EINVAL;
    const char *s = text;
    if (*s != '/')
        return WEFT_EPROTO;
    while (*s != '\0') {
        const char *name = ++s; /* s was at a '/' */
        size_t nlen = strcspn(name, "/");
        if (nlen == 0)
            return WEFT_EPROTO;
        const proto *pr = proto_by_name(name, nlen);
        if (pr == NULL)
            return WEFT_ENOTSUP;
        s = name + nlen;
        if (*s != '/')
            return WEFT_EPROTO; /* every supported protocol takes a value */
        const char *val = ++s;
        size_t vlen = strcspn(val, "/");
        if (vlen == 0)
            return WEFT_EPROTO;
        int rc = put_uvarint(buf, &n, pr->code);
        if (rc == 0)
            rc = put_value(pr, val, vlen, buf, &n);
        if (rc < 0)
            return rc;
        s = val + vlen;
    }
    int rc = walk(buf, n, canon);
    if (rc < 0)
        return rc;
    memcpy(out->bytes, buf, n);
    out->len = (uint16_t)n;
    return 0;
}

/* ---- sockaddr -------------------------------------------------------------------- */

/* A dialable TCP address: validate @ma, then split it into host, tcp and an
 * optional p2p component (c[0..n)); the host's protocol is checked by the
 * caller. More than three components name no TCP endpoint; a p2p third
 * component fills *peer / *has_peer (either may be NULL). */
static int
tcp_components(const weft_multiaddr *ma, component c[3], int *n, weft_peer_id *peer, int *has_peer)
{
    char text[WEFT_MA_TEXT_MAX];
    size_t off = 0;
    *n = 0;
    if (ma == NULL || ma->len > WEFT_MA_MAX)
        return WEFT_EINVAL;
    int rc = walk(ma->bytes, ma->len, text);
    if (rc < 0)
        return rc;
    for (;;) {
        component next;
        rc = next_component(ma->bytes, ma->len, &off, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (*n == 3)
            return WEFT_ENOTSUP;
        c[(*n)++] = next;
    }
    if (*n < 2 || c[1].pr->code != CODE_TCP || (*n == 3 && c[2].pr->code != CODE_P2P))
        return WEFT_ENOTSUP;
    if (*n == 3 && peer != NULL && weft_peer_id_from_bytes(c[2].val, c[2].vlen, peer) < 0)
        return WEFT_EPROTO; /* cannot happen: walk() validated it */
    if (has_peer != NULL)
        *has_peer = *n == 3;
    return 0;
}

int
weft_ma_to_sockaddr(const weft_multiaddr *ma, struct sockaddr_storage *sa, socklen_t *salen,
                    weft_peer_id *peer, int *has_peer)
{
    component c[3];
    int n;
    if (sa == NULL || salen == NULL)
        return WEFT_EINVAL;
    /* Exactly ip4|ip6, tcp, then optionally p2p; dns* (resolve first),
     * udp, a bare /p2p and anything longer name no TCP endpoint. */
    weft_peer_id id;
    int hp = 0;
    int rc = tcp_components(ma, c, &n, peer ? &id : NULL, &hp);
    if (rc < 0)
        return rc;
    if (c[0].pr->code != CODE_IP4 && c[0].pr->code != CODE_IP6)
        return WEFT_ENOTSUP;
    uint16_t port = (uint16_t)(c[1].val[0] << 8 | c[1].val[1]);
    memset(sa, 0, sizeof *sa);
    if (c[0].pr->code == CODE_IP4) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        memcpy(&in->sin_addr, c[0].val, 4);
        *salen = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        memcpy(&in6->sin6_addr, c[0].val, 16);
        *salen = sizeof *in6;
    }
    if (peer != NULL && hp)
        *peer = id;
    if (has_peer != NULL)
        *has_peer = hp;
    return 0;
}

int
weft_ma_resolve(const weft_multiaddr *ma, int timeout_ms, struct sockaddr_storage *sa,
                socklen_t *salen, weft_peer_id *peer, int *has_peer, char *err, size_t cap)
{
    component c[3];
    int n;
    if (err && cap)
        err[0] = 0;
    if (ma == NULL || ma->len > WEFT_MA_MAX)
        return WEFT_EINVAL;
    uint64_t first = ma->len ? ma->bytes[0] : 0; /* dns codes are one-byte varints */
    int dns = first == CODE_DNS || first == CODE_DNS4 || first == CODE_DNS6;
    if (!dns) {
        if (!sa) { /* the form alone */
            struct sockaddr_storage tmp;
            socklen_t tl;
            return weft_ma_to_sockaddr(ma, &tmp, &tl, peer, has_peer);
        }
        return weft_ma_to_sockaddr(ma, sa, salen, peer, has_peer);
    }
    int rc = tcp_components(ma, c, &n, peer, has_peer);
    if (rc < 0)
        return rc;
    if (!sa)
        return 0;
    if (!salen || timeout_ms <= 0)
        return WEFT_EINVAL;
    char host[256];
    if (c[0].vlen >= sizeof host)
        return WEFT_EPROTO;
    memcpy(host, c[0].val, c[0].vlen);
    host[c[0].vlen] = 0;
    unsigned port = (unsigned)(c[1].val[0] << 8 | c[1].val[1]);
    int family = first == CODE_DNS4 ? AF_INET : first == CODE_DNS6 ? AF_INET6 : AF_UNSPEC;
    return weft_resolve(host, port, family, timeout_ms, sa, salen, err, cap);
}

int
weft_ma_from_sockaddr(const struct sockaddr *sa, socklen_t salen, weft_multiaddr *out)
{
    uint8_t *b;
    const uint8_t *port;
    if (sa == NULL || out == NULL || salen < (socklen_t)sizeof(sa_family_t))
        return WEFT_EINVAL;
    b = out->bytes;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (salen < (socklen_t)sizeof *in)
            return WEFT_EINVAL;
        b[0] = CODE_IP4;
        memcpy(b + 1, &in->sin_addr, 4);
        port = (const uint8_t *)&in->sin_port; /* already big-endian */
        b += 5;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (salen < (socklen_t)sizeof *in6)
            return WEFT_EINVAL;
        const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
        port = (const uint8_t *)&in6->sin6_port;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            /* A v4 peer on a dual-stack socket: name it as ip4, as
             * go-multiaddr does. */
            b[0] = CODE_IP4;
            memcpy(b + 1, a + 12, 4);
            b += 5;
        } else {
            b[0] = CODE_IP6;
            memcpy(b + 1, a, 16);
            b += 17;
        }
    } else {
        return WEFT_ENOTSUP;
    }
    b[0] = CODE_TCP;
    b[1] = port[0];
    b[2] = port[1];
    b += 3;
    out->len = (uint16_t)(b - out->bytes);
    return 0;
}

int
weft_ma_append_p2p(weft_multiaddr *ma, const weft_peer_id *peer)
{
    uint8_t buf[WEFT_MA_MAX];
    char text[WEFT_MA_TEXT_MAX];
    weft_peer_id id;
    size_t n;
    if (ma == NULL || peer == NULL || ma->len > WEFT_MA_MAX || peer->len > WEFT_PEER_ID_MAX)
        return WEFT_EINVAL;
    if (weft_peer_id_from_bytes(peer->bytes, peer->len, &id) < 0)
        return WEFT_EINVAL;
    int rc = walk(ma->bytes, ma->len, text);
    if (rc < 0)
        return rc;
    n = ma->len;
    memcpy(buf, ma->bytes, n);
    if (put_uvarint(buf, &n, CODE_P2P) < 0 || put_uvarint(buf, &n, id.len) < 0 ||
        put(buf, &n, id.bytes, id.len) < 0)
        return WEFT_ENOSPC;
    if (walk(buf, n, text) < 0)
        return WEFT_ENOSPC; /* the text form would outgrow WEFT_MA_TEXT_MAX */
    memcpy(ma->bytes, buf, n);
    ma->len = (uint16_t)n;
    return 0;
}
