/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_multiaddr: the multiaddr parsers on arbitrary input, read twice.
 *
 * As binary: weft_ma_from_bytes either refuses with WEFT_EPROTO or
 * WEFT_ENOTSUP, or copies the input unchanged; then its text must fit
 * WEFT_MA_TEXT_MAX, print identically into a buffer of exactly its size
 * (and refuse one byte less), and parse back to the same bytes. A multiaddr
 * naming a TCP endpoint converts to a sockaddr and back to the same leading
 * components (an IPv4-mapped ip6 comes back as ip4; otherwise appending
 * the peer id gives the input back), and appending another peer id either
 * fits or fails with WEFT_ENOSPC leaving it unchanged.
 *
 * As text (a NUL-terminated copy): weft_ma_parse either refuses with those
 * codes, or the canonical text of the result parses to the same bytes and
 * prints the same text again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz_util.h"
#include "weft/multiaddr.h"

static int
known_error(int rc)
{
    return rc == WEFT_EPROTO || rc == WEFT_ENOTSUP;
}

/* Canonical text of ma, checked against exact-size buffers; returns its
 * length, text in out[WEFT_MA_TEXT_MAX]. */
static int
text_of(const weft_multiaddr *ma, char *out)
{
    int n = weft_ma_to_text(ma, out, WEFT_MA_TEXT_MAX);
    FZ_CHECK(n > 0 && n < WEFT_MA_TEXT_MAX);
    FZ_CHECK(strlen(out) == (size_t)n);
    FZ_CHECK(out[0] == '/');
    char *exact = (char *)fz_dup(out, (size_t)n + 1);
    FZ_CHECK(weft_ma_to_text(ma, exact, (size_t)n + 1) == n);
    FZ_CHECK(memcmp(exact, out, (size_t)n + 1) == 0);
    FZ_CHECK(weft_ma_to_text(ma, exact, (size_t)n) == WEFT_ENOSPC);
    free(exact);
    return n;
}

static void
check_sockaddr(const weft_multiaddr *ma)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    weft_peer_id peer;
    int has = -1;
    int rc = weft_ma_to_sockaddr(ma, &ss, &sl, &peer, &has);
    FZ_CHECK(rc == 0 || rc == WEFT_ENOTSUP);
    if (rc != 0)
        return;
    FZ_CHECK(has == 0 || has == 1);

    weft_multiaddr back;
    FZ_CHECK(weft_ma_from_sockaddr((const struct sockaddr *)&ss, sl, &back) == 0);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    int mapped = ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    if (mapped) {
        FZ_CHECK(back.len == 8 && back.bytes[0] == 4);
        FZ_CHECK(memcmp(back.bytes + 1, ma->bytes + 13, 4) == 0);
        FZ_CHECK(memcmp(back.bytes + 5, ma->bytes + 17, 3) == 0);
        return;
    }
    FZ_CHECK(back.len <= ma->len);
    FZ_CHECK(memcmp(back.bytes, ma->bytes, back.len) == 0);
    if (!has) {
        FZ_CHECK(back.len == ma->len);
        return;
    }
    /* Rebuild the whole multiaddr from its parts. */
    weft_multiaddr whole = back;
    FZ_CHECK(weft_ma_append_p2p(&whole, &peer) == 0);
    FZ_CHECK(whole.len == ma->len);
    FZ_CHECK(memcmp(whole.bytes, ma->bytes, ma->len) == 0);
}

static void
check_append(const weft_multiaddr *ma)
{
    /* Append a fixed valid peer id: fits, or fails leaving ma alone. */
    static const uint8_t sha_id[34] = {0x12, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                       11,   12,   13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                       23,   24,   25, 26, 27, 28, 29, 30, 31, 32};
    weft_peer_id p;
    FZ_CHECK(weft_peer_id_from_bytes(sha_id, sizeof sha_id, &p) == 0);
    weft_multiaddr m = *ma;
    int rc = weft_ma_append_p2p(&m, &p);
    if (rc == 0) {
        FZ_CHECK(m.len == ma->len + 3 + 34);
        FZ_CHECK(memcmp(m.bytes, ma->bytes, ma->len) == 0);
        char text[WEFT_MA_TEXT_MAX];
        (void)text_of(&m, text);
    } else {
        FZ_CHECK(rc == WEFT_ENOSPC);
        FZ_CHECK(m.len == ma->len && memcmp(m.bytes, ma->bytes, ma->len) == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_multiaddr ma, mb;
    char text[WEFT_MA_TEXT_MAX], again[WEFT_MA_TEXT_MAX];

    /* ---- binary ---- */
    memset(&ma, 0xA5, sizeof ma);
    int rc = weft_ma_from_bytes(data, size, &ma);
    FZ_CHECK(rc == 0 || known_error(rc));
    if (rc == 0) {
        FZ_CHECK(size >= 1 && size <= WEFT_MA_MAX && ma.len == size);
        FZ_CHECK(memcmp(ma.bytes, data, size) == 0);
        (void)text_of(&ma, text);
        memset(&mb, 0, sizeof mb);
        rc = weft_ma_parse(text, &mb);
        if (rc != 0)
            fprintf(stderr, "text \"%s\" does not parse back: %d\n", text, rc);
        FZ_CHECK(rc == 0);
        FZ_CHECK(mb.len == ma.len && memcmp(mb.bytes, ma.bytes, ma.len) == 0);
        check_sockaddr(&ma);
        check_append(&ma);
    }

    /* ---- text ---- */
    char *s = (char *)malloc(size + 1);
    FZ_CHECK(s != NULL);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    rc = weft_ma_parse(s, &ma);
    FZ_CHECK(rc == 0 || known_error(rc));
    if (rc == 0) {
        FZ_CHECK(ma.len >= 1 && ma.len <= WEFT_MA_MAX);
        FZ_CHECK(weft_ma_from_bytes(ma.bytes, ma.len, &mb) == 0);
        int n = text_of(&ma, text);
        FZ_CHECK(weft_ma_parse(text, &mb) == 0);
        FZ_CHECK(mb.len == ma.len && memcmp(mb.bytes, ma.bytes, ma.len) == 0);
        FZ_CHECK(text_of(&mb, again) == n && strcmp(again, text) == 0);
    }
    free(s);
    return 0;
}
