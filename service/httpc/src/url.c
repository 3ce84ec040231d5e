/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Addresses for the HTTP client (weft/svc_httpc.h): proxy-style
 * "host:port" strings and http:// URLs, both checked strictly since they
 * come from configuration and command lines.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "weft/svc_httpc.h"
#include "httpc_priv.h"

/* ---- addresses --------------------------------------------------------------- */

long
httpc_port_number(const char *s, size_t n)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

int
httpc_host_ok(const char *h, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= 0x20 || h[i] == '/' || h[i] == 0x7f)
            return 0;
    return 1;
}

int
weft_httpc_split_hostport(const char *in, char *host, size_t hcap, char *port, size_t pcap,
                          char *err, size_t cap)
{
    if (!in || !host || !port)
        return httpc_say(err, cap, WEFT_EINVAL, "no address given");
    const char *s = in;
    if (strncasecmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncasecmp(s, "ws://", 5) == 0)
        s += 5;
    else if (strstr(s, "://"))
        return httpc_say(err, cap, WEFT_EINVAL,
                         "%s: only plain http:// (or ws://) addresses are supported", in);
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '/')
        n--;
    const char *h = s, *colon = NULL;
    size_t hl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || rb + 1 >= s + n || rb[1] != ':')
            goto bad;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            goto bad;
        hl = (size_t)(colon - s);
    }
    size_t pl = (size_t)(s + n - colon - 1);
    if (hl >= hcap || pl >= pcap || httpc_port_number(colon + 1, pl) < 0 || !httpc_host_ok(h, hl))
        goto bad;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    return 0;
bad:
    return httpc_say(err, cap, WEFT_EINVAL, "\"%s\": expected HOST:PORT (port 1..65535)", in);
}

int
weft_httpc_parse_url(const char *url, weft_httpc_url *u, char *err, size_t cap)
{
    char q[232];
    if (!url || !u)
        return httpc_say(err, cap, WEFT_EINVAL, "no URL given");
    httpc_printable((const uint8_t *)url, strlen(url), 200, q, sizeof q);
    if (strncasecmp(url, "https://", 8) == 0)
        return httpc_say(err, cap, WEFT_ENOTSUP,
                         "URL \"%s\": https is not supported (no TLS client)", q);
    if (strncasecmp(url, "http://", 7) != 0)
        return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": must start with http://", q);
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": contains a blank or control byte",
                             q);
    const char *a = url + 7;
    size_t alen = strcspn(a, "/?#");
    if (memchr(a, '@', alen))
        return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": user information is not supported", q);
    const char *hs = a, *he, *ps = NULL;
    if (alen && *a == '[') {
        he = memchr(a, ']', alen);
        if (!he)
            return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": unterminated [IPv6 address]", q);
        hs = a + 1;
        if (he + 1 < a + alen) {
            if (he[1] != ':')
                return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": bad authority", q);
            ps = he + 2;
        }
    } else {
        he = memchr(a, ':', alen);
        if (he)
            ps = he + 1;
        else
            he = a + alen;
    }
    size_t hl = (size_t)(he - hs);
    if (!httpc_host_ok(hs, hl) || hl >= sizeof u->host)
        return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": bad host", q);
    if (ps) {
        size_t pl = (size_t)(a + alen - ps);
        if (httpc_port_number(ps, pl) < 0)
            return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": bad port (want 1..65535)", q);
        memcpy(u->port, ps, pl);
        u->port[pl] = 0;
    } else {
        memcpy(u->port, "80", 3);
    }
    memcpy(u->host, hs, hl);
    u->host[hl] = 0;
    const char *p = a + alen;
    size_t pl = strcspn(p, "#");
    if (pl + 2 > sizeof u->path)
        return httpc_say(err, cap, WEFT_EINVAL, "URL \"%s\": path longer than %zu bytes", q,
                         sizeof u->path - 2);
    size_t o = 0;
    if (*p != '/')
        u->path[o++] = '/';
    memcpy(u->path + o, p, pl);
    u->path[o + pl] = 0;
    return 0;
}
