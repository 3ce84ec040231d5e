/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multiaddrs through the public API: the js-libp2p vectors (ip4/tcp/p2p,
 * the ip6 and dns4 examples) byte-exact in both directions, every
 * supported protocol's text and binary forms (hand-encoded here), the
 * ipfs alias, strict rejection of malformed text and binary (every prefix
 * of a valid multiaddr, non-minimal varints, bad values, unknown codes,
 * over-long results), and the sockaddr conversions for ip4 and ip6 with
 * and without /p2p.
 *
 * Vectors are read at run time from tests/vectors/vectors.json.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "vectors.h"
#include "weft/multiaddr.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* text must parse to exactly hex, and hex must print as canon (text when
 * canon is NULL). */
static void
check_pair(const char *text, const char *hex, const char *canon)
{
    uint8_t want[WEFT_MA_MAX];
    size_t n = unhex(hex, want, sizeof want);
    weft_multiaddr ma, mb;
    char out[WEFT_MA_TEXT_MAX];

    int rc = weft_ma_parse(text, &ma);
    cr_assert_eq(rc, 0, "parse %s: %d %s", text, rc, weft_strerror(rc));
    cr_assert_eq(ma.len, n, "parse %s: %u bytes, want %zu", text, ma.len, n);
    cr_assert_arr_eq(ma.bytes, want, n, "parse %s: bytes differ", text);

    uint8_t *exact = malloc(n);
    memcpy(exact, want, n);
    rc = weft_ma_from_bytes(exact, n, &mb);
    free(exact);
    cr_assert_eq(rc, 0, "from_bytes %s: %d", hex, rc);
    cr_assert_eq(mb.len, n);
    rc = weft_ma_to_text(&mb, out, sizeof out);
    const char *expect = canon ? canon : text;
    cr_assert_eq(rc, (int)strlen(expect), "to_text %s: %d", hex, rc);
    cr_assert_str_eq(out, expect);
    /* Exactly enough room, then one byte short. */
    cr_assert_eq(weft_ma_to_text(&mb, out, strlen(expect) + 1), rc);
    cr_assert_eq(weft_ma_to_text(&mb, out, strlen(expect)), WEFT_ENOSPC);
}

static void
expect_parse_error(const char *text, int want)
{
    weft_multiaddr ma;
    memset(&ma, 0x77, sizeof ma);
    weft_multiaddr before = ma;
    int rc = weft_ma_parse(text, &ma);
    cr_expect_eq(rc, want, "parse \"%.80s\": got %d (%s), want %d", text, rc, weft_strerror(rc),
                 want);
    cr_expect_arr_eq(&ma, &before, sizeof ma, "parse \"%.80s\" wrote its output", text);
}

static int
from_hex(const char *hex, weft_multiaddr *ma)
{
    uint8_t buf[WEFT_MA_MAX + 8];
    size_t n = unhex(hex, buf, sizeof buf);
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    int rc = weft_ma_from_bytes(exact, n, ma);
    free(exact);
    return rc;
}

/* ---- vectors ------------------------------------------------------------------------ */

Test(multiaddr, vector_ip4_tcp_p2p)
{
    char *text = vec_str("multiaddr", "text", NULL);
    char *hex = vec_str("multiaddr", "bytes", NULL);
    check_pair(text, hex, NULL);
    free(text);
    free(hex);
}

Test(multiaddr, vector_ip6)
{
    char *text = vec_str("multiaddr", "ip6_example", "text");
    char *hex = vec_str("multiaddr", "ip6_example", "bytes");
    check_pair(text, hex, NULL);
    free(text);
    free(hex);
}

Test(multiaddr, vector_dns4)
{
    char *text = vec_str("multiaddr", "dns4_example", "text");
    char *hex = vec_str("multiaddr", "dns4_example", "bytes");
    check_pair(text, hex, NULL);
    free(text);
    free(hex);
}

/* The vector's p2p component through the other peer-id forms. */
Test(multiaddr, vector_p2p_forms)
{
    char *text = vec_str("multiaddr", "text", NULL);
    char *hex = vec_str("multiaddr", "bytes", NULL);
    char *b58 = vec_str("identity", "peer_id_base58btc", NULL);
    char *cid = vec_str("identity", "peer_id_cidv1_base32", NULL);
    char alt[WEFT_MA_TEXT_MAX];

    snprintf(alt, sizeof alt, "/ip4/127.0.0.1/tcp/4001/ipfs/%s", b58);
    check_pair(alt, hex, text);
    snprintf(alt, sizeof alt, "/ip4/127.0.0.1/tcp/4001/p2p/%s", cid);
    check_pair(alt, hex, text);

    /* append_p2p builds the same bytes. */
    weft_multiaddr ma;
    weft_peer_id p;
    cr_assert_eq(weft_ma_parse("/ip4/127.0.0.1/tcp/4001", &ma), 0);
    cr_assert_eq(weft_peer_id_parse(b58, &p), 0);
    cr_assert_eq(weft_ma_append_p2p(&ma, &p), 0);
    uint8_t want[WEFT_MA_MAX];
    size_t n = unhex(hex, want, sizeof want);
    cr_assert_eq(ma.len, n);
    cr_assert_arr_eq(ma.bytes, want, n);
    free(text);
    free(hex);
    free(b58);
    free(cid);
}

/* ---- every protocol ----------------------------------------------------------------- */

Test(multiaddr, every_protocol)
{
    static const struct {
        const char *text, *hex, *canon;
    } cases[] = {
        {"/ip4/0.0.0.0", "0400000000", NULL},
        {"/ip4/255.255.255.255", "04ffffffff", NULL},
        {"/ip4/10.0.0.1/tcp/0", "040a000001060000", NULL},
        {"/ip4/192.168.1.20/tcp/65535", "04c0a8011406ffff", NULL},
        {"/tcp/80", "060050", NULL},
        {"/tcp/00080", "060050", "/tcp/80"},
        {"/udp/53", "91020035", NULL},
        {"/ip4/1.2.3.4/udp/4001", "040102030491020fa1", NULL},
        {"/ip6/::", "29 00*16", NULL},
        {"/ip6/2001:db8::1/tcp/443", "2920010db8 00*11 01 0601bb", NULL},
        {"/ip6/2001:DB8:0:0:0:0:0:1", "2920010db8 00*11 01", "/ip6/2001:db8::1"},
        {"/ip6/fe80::1:2:3:4", "29fe800000000000000001000200030004", NULL},
        {"/ip6/::ffff:1.2.3.4", "29 00*10 ffff01020304", NULL},
        {"/dns/example.com/tcp/443", "350b6578616d706c652e636f6d 0601bb", NULL},
        {"/dns4/a", "360161", NULL},
        {"/dns6/localhost/udp/1", "37096c6f63616c686f7374 91020001", NULL},
        {"/dns/ip4", "3503697034", NULL}, /* positional: a name, not a protocol */
        {"/ip4/127.0.0.1/tcp/1/ip6/::1/udp/2/dns/x", "047f000001060001 29 00*15 01 91020002 350178",
         NULL},
        {"/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN", "a503221220 00*32", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strncmp(cases[i].text, "/p2p/Qm", 7) == 0) {
            /* Fill in the digest of that Qm id, decoded independently. */
            weft_peer_id p;
            cr_assert_eq(weft_peer_id_parse(cases[i].text + 5, &p), 0);
            char hex[2 * WEFT_MA_MAX + 1];
            int o = snprintf(hex, sizeof hex, "a503%02x", p.len);
            for (unsigned j = 0; j < p.len; j++)
                o += snprintf(hex + o, sizeof hex - (size_t)o, "%02x", p.bytes[j]);
            cr_assert_eq(strncmp(hex, cases[i].hex, 10), 0);
            check_pair(cases[i].text, hex, NULL);
            continue;
        }
        check_pair(cases[i].text, cases[i].hex, cases[i].canon);
    }
}

/* ---- text errors -------------------------------------------------------------------- */

Test(multiaddr, parse_rejects)
{
    static const char *eproto[] = {
        "",
        "/",
        "//",
        "ip4/1.2.3.4",
        "/ip4",
        "/ip4/",
        "/ip4/1.2.3.4/",
        "//ip4/1.2.3.4",
        "/ip4//1.2.3.4",
        "/ip4/1.2.3.4//tcp/1",
        "/ip4/256.0.0.1",
        "/ip4/1.2.3",
        "/ip4/1.2.3.4.5",
        "/ip4/01.2.3.4",
        "/ip4/1.2.3.-4",
        "/ip4/1.2.3.4 ",
        "/ip4/1..3.4",
        "/ip4/1000.2.3.4",
        "/ip4/::1",
        "/tcp/65536",
        "/tcp/99999",
        "/tcp/123456",
        "/tcp/-1",
        "/tcp/+1",
        "/tcp/0x10",
        "/tcp/1a",
        "/tcp",
        "/udp/",
        "/ip6/1.2.3.4",
        "/ip6/:::",
        "/ip6/::1%eth0",
        "/ip6/12345::",
        "/ip6/0000:0000:0000:0000:0000:0000:0000:0000:0000",
        "/dns",
        "/dns4/",
        "/p2p",
        "/p2p/",
        "/p2p/notapeerid",
        "/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJ",
        "/ipfs/1",
    };
    for (size_t i = 0; i < sizeof eproto / sizeof eproto[0]; i++)
        expect_parse_error(eproto[i], WEFT_EPROTO);

    static const char *enotsup[] = {
        "/quic-v1",     "/ip4/1.2.3.4/udp/1/quic-v1",   "/unix/tmp",
        "/p2p-circuit", "/dnsaddr/bootstrap.libp2p.io", "/ws",
        "/IP4/1.2.3.4", "/ip4/1.2.3.4/tcp/1/x",
    };
    for (size_t i = 0; i < sizeof enotsup / sizeof enotsup[0]; i++)
        expect_parse_error(enotsup[i], WEFT_ENOTSUP);

    weft_multiaddr ma;
    cr_expect_eq(weft_ma_parse(NULL, &ma), WEFT_EINVAL);
    cr_expect_eq(weft_ma_parse("/tcp/1", NULL), WEFT_EINVAL);
}

Test(multiaddr, parse_length_limits)
{
    char text[4096];
    weft_multiaddr ma;
    char out[WEFT_MA_TEXT_MAX];

    /* A dns name filling WEFT_MA_MAX exactly: code, 2-byte length, 253. */
    size_t name = WEFT_MA_MAX - 3;
    size_t dns = strlen("/dns/");
    memcpy(text, "/dns/", dns);
    memset(text + dns, 'a', name);
    text[dns + name] = '\0';
    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    cr_assert_eq(ma.len, WEFT_MA_MAX);
    cr_assert_eq(weft_ma_to_text(&ma, out, sizeof out), (int)strlen(text));
    /* One byte more. */
    text[dns + name] = 'a';
    text[dns + name + 1] = '\0';
    expect_parse_error(text, WEFT_EPROTO);

    /* Fifty /ip4/255.255.255.255: 250 bytes fit, but the text would need
     * 1000 characters, beyond WEFT_MA_TEXT_MAX. */
    int o = 0;
    for (int i = 0; i < 50; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, "/ip4/255.255.255.255");
    expect_parse_error(text, WEFT_EPROTO);
    /* 25 of them (500 characters) still fit with the NUL. */
    text[25 * 20] = '\0';
    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    cr_assert_eq(weft_ma_to_text(&ma, out, sizeof out), 500);
    cr_assert_str_eq(out, text);
    /* And the binary form of the long one is refused the same way. */
    uint8_t bin[250];
    for (int i = 0; i < 50; i++) {
        bin[5 * i] = 4;
        memset(bin + 5 * i + 1, 0xff, 4);
    }
    cr_assert_eq(weft_ma_from_bytes(bin, sizeof bin, &ma), WEFT_EPROTO);

    /* Too many components in binary. */
    uint8_t big[WEFT_MA_MAX + 3];
    for (size_t i = 0; i + 3 <= sizeof big; i += 3) {
        big[i] = 6;
        big[i + 1] = 0;
        big[i + 2] = 1;
    }
    cr_assert_eq(weft_ma_from_bytes(big, WEFT_MA_MAX + 3, &ma), WEFT_EPROTO);
}

/* ---- binary errors ------------------------------------------------------------------ */

Test(multiaddr, from_bytes_rejects)
{
    static const struct {
        const char *hex;
        int want;
    } cases[] = {
        {"", WEFT_EPROTO},
        {"04", WEFT_EPROTO},
        {"047f0000", WEFT_EPROTO},
        {"0601", WEFT_EPROTO},
        {"9102", WEFT_EPROTO},
        {"91", WEFT_EPROTO},
        {"29 00*15", WEFT_EPROTO},
        {"8400 7f000001", WEFT_EPROTO}, /* ip4 as a non-minimal varint */
        {"35", WEFT_EPROTO},
        {"3500", WEFT_EPROTO},      /* empty name */
        {"350261", WEFT_EPROTO},    /* length past the end */
        {"3502612f", WEFT_EPROTO},  /* '/' in a name */
        {"35026100", WEFT_EPROTO},  /* NUL in a name */
        {"358100 61", WEFT_EPROTO}, /* non-minimal length */
        {"a503", WEFT_EPROTO},
        {"a50300", WEFT_EPROTO},           /* empty peer id */
        {"a503021114", WEFT_EPROTO},       /* sha1 multihash */
        {"a5030412020000", WEFT_EPROTO},   /* short sha2-256 */
        {"ff*10 01", WEFT_EPROTO},         /* code overflows */
        {"01", WEFT_ENOTSUP},              /* code 1: not a protocol here */
        {"0400000000 cc03", WEFT_ENOTSUP}, /* quic-v1 (460) */
        {"bd03", WEFT_ENOTSUP},            /* onion3 (445) */
        {"06000100", WEFT_ENOTSUP},        /* trailing code 0 */
    };
    weft_multiaddr ma;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = from_hex(cases[i].hex, &ma);
        cr_expect_eq(rc, cases[i].want, "from_bytes %s: got %d, want %d", cases[i].hex, rc,
                     cases[i].want);
    }
    cr_expect_eq(weft_ma_from_bytes(NULL, 0, &ma), WEFT_EINVAL);
}

/* Each prefix of the vector is valid exactly at a component boundary. */
Test(multiaddr, from_bytes_every_prefix)
{
    char *hex = vec_str("multiaddr", "bytes", NULL);
    uint8_t full[WEFT_MA_MAX];
    size_t n = unhex(hex, full, sizeof full);
    for (size_t len = 0; len <= n; len++) {
        weft_multiaddr ma;
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, full, len);
        int rc = weft_ma_from_bytes(p, len, &ma);
        int boundary = len == 5 || len == 8 || len == n;
        cr_expect_eq(rc, boundary ? 0 : WEFT_EPROTO, "prefix %zu: %d", len, rc);
        free(p);
    }
    free(hex);
}

Test(multiaddr, to_text_of_corrupt_struct)
{
    weft_multiaddr ma;
    char out[WEFT_MA_TEXT_MAX];
    memset(&ma, 0, sizeof ma);
    ma.len = WEFT_MA_MAX + 1;
    cr_expect_eq(weft_ma_to_text(&ma, out, sizeof out), WEFT_EINVAL);
    ma.len = 2;
    ma.bytes[0] = 0x04;
    cr_expect_eq(weft_ma_to_text(&ma, out, sizeof out), WEFT_EPROTO);
    ma.len = 0;
    cr_expect_eq(weft_ma_to_text(&ma, out, sizeof out), WEFT_EPROTO);
}

/* ---- sockaddr ----------------------------------------------------------------------- */

Test(multiaddr, to_sockaddr_ip4_with_peer)
{
    char *text = vec_str("multiaddr", "text", NULL);
    char *b58 = vec_str("identity", "peer_id_base58btc", NULL);
    weft_multiaddr ma;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    weft_peer_id peer, want;
    int has = -1;

    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    cr_assert_eq(weft_ma_to_sockaddr(&ma, &ss, &sl, &peer, &has), 0);
    cr_assert_eq(sl, sizeof(struct sockaddr_in));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    cr_assert_eq(in->sin_family, AF_INET);
    cr_assert_eq(ntohs(in->sin_port), 4001);
    cr_assert_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_eq(has, 1);
    cr_assert_eq(weft_peer_id_parse(b58, &want), 0);
    cr_assert(weft_peer_id_equal(&peer, &want));
    /* peer and has_peer are optional. */
    cr_assert_eq(weft_ma_to_sockaddr(&ma, &ss, &sl, NULL, NULL), 0);

    /* And back: the address part only. */
    weft_multiaddr back, plain;
    cr_assert_eq(weft_ma_from_sockaddr((const struct sockaddr *)&ss, sl, &back), 0);
    cr_assert_eq(weft_ma_parse("/ip4/127.0.0.1/tcp/4001", &plain), 0);
    cr_assert_eq(back.len, plain.len);
    cr_assert_arr_eq(back.bytes, plain.bytes, plain.len);
    free(text);
    free(b58);
}

Test(multiaddr, to_sockaddr_ip6)
{
    char *text = vec_str("multiaddr", "ip6_example", "text");
    char *b58 = vec_str("identity", "peer_id_base58btc", NULL);
    weft_multiaddr ma, back;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    weft_peer_id peer;
    int has = -1;

    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    cr_assert_eq(weft_ma_to_sockaddr(&ma, &ss, &sl, &peer, &has), 0);
    cr_assert_eq(has, 0);
    cr_assert_eq(sl, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(in6->sin6_family, AF_INET6);
    cr_assert_eq(ntohs(in6->sin6_port), 4001);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    cr_assert_eq(weft_ma_from_sockaddr((const struct sockaddr *)&ss, sl, &back), 0);
    cr_assert_eq(back.len, ma.len);
    cr_assert_arr_eq(back.bytes, ma.bytes, ma.len);

    /* With /p2p. */
    char with[WEFT_MA_TEXT_MAX];
    weft_peer_id want;
    snprintf(with, sizeof with, "%s/p2p/%s", text, b58);
    cr_assert_eq(weft_ma_parse(with, &ma), 0);
    cr_assert_eq(weft_ma_to_sockaddr(&ma, &ss, &sl, &peer, &has), 0);
    cr_assert_eq(has, 1);
    cr_assert_eq(weft_peer_id_parse(b58, &want), 0);
    cr_assert(weft_peer_id_equal(&peer, &want));
    cr_assert_eq(ntohs(in6->sin6_port), 4001);
    free(text);
    free(b58);
}

Test(multiaddr, to_sockaddr_unsupported)
{
    static const char *texts[] = {
        "/dns4/localhost/tcp/4001",
        "/ip4/1.2.3.4",
        "/ip4/1.2.3.4/udp/4001",
        "/tcp/4001",
        "/ip4/1.2.3.4/tcp/1/tcp/2",
        "/ip4/1.2.3.4/tcp/1/ip4/1.2.3.4",
        "/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
        "/ip4/1.2.3.4/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
        "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp/tcp/2",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        weft_multiaddr ma;
        struct sockaddr_storage ss;
        socklen_t sl;
        cr_assert_eq(weft_ma_parse(texts[i], &ma), 0, "%s", texts[i]);
        cr_expect_eq(weft_ma_to_sockaddr(&ma, &ss, &sl, NULL, NULL), WEFT_ENOTSUP, "%s", texts[i]);
    }
}

Test(multiaddr, from_sockaddr_cases)
{
    weft_multiaddr ma;
    char out[WEFT_MA_TEXT_MAX];

    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(65535)};
    in.sin_addr.s_addr = htonl(0xc0a80001);
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&in, sizeof in, &ma), 0);
    cr_assert_eq(weft_ma_to_text(&ma, out, sizeof out), 26);
    cr_assert_str_eq(out, "/ip4/192.168.0.1/tcp/65535");
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&in, sizeof in - 1, &ma), WEFT_EINVAL);

    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
    cr_assert_eq(inet_pton(AF_INET6, "2001:db8::7", &in6.sin6_addr), 1);
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &ma), 0);
    cr_assert_gt(weft_ma_to_text(&ma, out, sizeof out), 0);
    cr_assert_str_eq(out, "/ip6/2001:db8::7/tcp/1");
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&in6, sizeof in6 - 1, &ma), WEFT_EINVAL);

    /* A v4 peer on a dual-stack socket is named as ip4. */
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr), 1);
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &ma), 0);
    cr_assert_gt(weft_ma_to_text(&ma, out, sizeof out), 0);
    cr_assert_str_eq(out, "/ip4/10.1.2.3/tcp/1");

    struct sockaddr_un un = {.sun_family = AF_UNIX};
    cr_assert_eq(weft_ma_from_sockaddr((struct sockaddr *)&un, sizeof un, &ma), WEFT_ENOTSUP);
    cr_assert_eq(weft_ma_from_sockaddr(NULL, 0, &ma), WEFT_EINVAL);
}

Test(multiaddr, append_p2p_limits)
{
    weft_multiaddr ma, before;
    weft_peer_id p;
    cr_assert_eq(weft_peer_id_parse("12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp", &p), 0);

    /* A dns name leaving too little room: refused, ma unchanged. */
    char text[400];
    int o = snprintf(text, sizeof text, "/dns/");
    memset(text + o, 'a', 220);
    text[o + 220] = '\0';
    cr_assert_eq(weft_ma_parse(text, &ma), 0);
    before = ma;
    cr_assert_eq(weft_ma_append_p2p(&ma, &p), WEFT_ENOSPC);
    cr_assert_arr_eq(&ma, &before, sizeof ma);

    /* An invalid peer id. */
    weft_peer_id bad = p;
    bad.len = 5;
    cr_assert_eq(weft_ma_parse("/ip4/1.2.3.4/tcp/5", &ma), 0);
    cr_assert_eq(weft_ma_append_p2p(&ma, &bad), WEFT_EINVAL);
    cr_assert_eq(weft_ma_append_p2p(&ma, &p), 0);
    char out[WEFT_MA_TEXT_MAX];
    cr_assert_gt(weft_ma_to_text(&ma, out, sizeof out), 0);
    cr_assert_str_eq(out,
                     "/ip4/1.2.3.4/tcp/5/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
}

/* weft_ma_resolve: ip forms as weft_ma_to_sockaddr; /dns4 resolved to IPv4
 * only (localhost), the form alone checked with sa NULL; a name that does
 * not resolve is WEFT_ERESOLVE with a reason; no TCP endpoint stays
 * WEFT_ENOTSUP. */
Test(multiaddr, resolve_names)
{
    weft_multiaddr ma;
    struct sockaddr_storage sa;
    socklen_t sl = 0;
    int has = -1;
    char err[256];
    cr_assert_eq(weft_ma_parse("/dns4/localhost/tcp/4001", &ma), 0);
    cr_assert_eq(weft_ma_resolve(&ma, 2000, &sa, &sl, NULL, &has, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sa.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
    cr_assert_eq(ntohs(in->sin_port), 4001);
    cr_assert_eq(ntohl(in->sin_addr.s_addr) >> 24, 127);
    cr_assert_eq(has, 0);
    cr_assert_eq(weft_ma_parse("/ip4/10.1.2.3/tcp/7", &ma), 0);
    cr_assert_eq(weft_ma_resolve(&ma, 2000, &sa, &sl, NULL, &has, err, sizeof err), 0);
    cr_assert_eq(ntohl(((const struct sockaddr_in *)&sa)->sin_addr.s_addr), 0x0A010203);
    /* form only: nothing resolved, even a name that would not */
    cr_assert_eq(weft_ma_parse("/dns6/no-such-host.invalid/tcp/9", &ma), 0);
    cr_assert_eq(weft_ma_resolve(&ma, 0, NULL, NULL, NULL, &has, NULL, 0), 0);
    cr_assert_eq(weft_ma_resolve(&ma, 2000, &sa, &sl, NULL, &has, err, sizeof err), WEFT_ERESOLVE);
    cr_assert(strstr(err, "no-such-host.invalid"), "%s", err);
    cr_assert_eq(weft_ma_parse("/dns4/example.com/udp/9", &ma), 0);
    cr_assert_eq(weft_ma_resolve(&ma, 0, NULL, NULL, NULL, &has, NULL, 0), WEFT_ENOTSUP);
    cr_assert_eq(weft_ma_to_sockaddr(&ma, &sa, &sl, NULL, &has), WEFT_ENOTSUP);
}
