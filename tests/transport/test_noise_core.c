/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Noise XX core (noise_internal.h) and the libp2p payload against
 * published vectors.
 *
 * The core is checked against every Noise_XX_25519_ChaChaPoly_SHA256 vector
 * in tests/vectors/noise-vectors (cacophony, snow): each handshake
 * message byte for byte, the handshake hash where given, then the transport
 * messages after Split in both directions; HKDF against RFC 5869 case 3;
 * the nonce layout and its limit; low-order keys and misuse of the core.
 * The libp2p payload encoder reproduces vectors.json's "noise_payload"
 * (made by js-libp2p) byte for byte. The vectors are read with the small
 * hex and JSON readers below.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "noise_internal.h"
#include "weft/noise.h"

/* ---- hex and files ---------------------------------------------------------------------- */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode hex into a fresh heap buffer (never NULL); *len gets the byte count. */
static uint8_t *
unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    cr_assert(n % 2 == 0, "odd hex length: %s", s);
    uint8_t *out = malloc(n / 2 + 1);
    cr_assert(out != NULL);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        cr_assert(hi >= 0 && lo >= 0, "bad hex: %s", s);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

static void
unhex_fixed(const char *s, uint8_t *out, size_t want)
{
    size_t n;
    uint8_t *p = unhex(s, &n);
    cr_assert_eq(n, want, "hex %s: %zu bytes, want %zu", s, n, want);
    memcpy(out, p, n);
    free(p);
}

static char *
slurp(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", WEFT_TEST_VECTORS, rel);
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert(buf != NULL);
    for (size_t n; (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (cap - len - 1 == 0) {
            char *grown = realloc(buf, cap *= 2);
            cr_assert(grown != NULL);
            buf = grown;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* ---- a small JSON reader (objects, arrays, strings; other scalars are kept as text) ------ */

enum { J_SCALAR, J_STR, J_ARR, J_OBJ };

typedef struct jnode {
    int type;
    char *key;  /* member name inside an object */
    char *text; /* J_STR value, or the J_SCALAR token */
    struct jnode *child, *next;
} jnode;

typedef struct jparser {
    const char *p;
} jparser;

static void
jskip(jparser *j)
{
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')
        j->p++;
}

static char *
jstring(jparser *j)
{
    cr_assert_eq(*j->p, '"', "JSON: string expected at '%.20s'", j->p);
    j->p++;
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    cr_assert(s != NULL);
    while (*j->p != '"') {
        cr_assert(*j->p != '\0', "JSON: unterminated string");
        char c = *j->p++;
        if (c == '\\') {
            c = *j->p++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                /* Not needed by the vector files: keep a placeholder. */
                for (int i = 0; i < 4; i++)
                    cr_assert(isxdigit((unsigned char)*j->p++), "JSON: bad \\u escape");
                c = '?';
                break;
            default: break; /* \" \\ \/ */
            }
        }
        if (len + 2 > cap) {
            char *grown = realloc(s, cap *= 2);
            cr_assert(grown != NULL);
            s = grown;
        }
        s[len++] = c;
    }
    j->p++;
    s[len] = '\0';
    return s;
}

static jnode *
jvalue(jparser *j)
{
    jnode *n = calloc(1, sizeof *n);
    cr_assert(n != NULL);
    jskip(j);
    if (*j->p == '{' || *j->p == '[') {
        int obj = *j->p == '{';
        char close = obj ? '}' : ']';
        n->type = obj ? J_OBJ : J_ARR;
        j->p++;
        jskip(j);
        jnode **tail = &n->child;
        if (*j->p == close) {
            j->p++;
            return n;
        }
        for (;;) {
            char *key = NULL;
            jskip(j);
            if (obj) {
                key = jstring(j);
                jskip(j);
                cr_assert_eq(*j->p, ':', "JSON: ':' expected");
                j->p++;
            }
            jnode *c = jvalue(j);
            c->key = key;
            *tail = c;
            tail = &c->next;
            jskip(j);
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            cr_assert_eq(*j->p, close, "JSON: '%c' expected at '%.20s'", close, j->p);
            j->p++;
            return n;
        }
    }
    if (*j->p == '"') {
        n->type = J_STR;
        n->text = jstring(j);
        return n;
    }
    const char *start = j->p;
    while (*j->p && !strchr(",]} \n\r\t", *j->p))
        j->p++;
    cr_assert(j->p > start, "JSON: value expected at '%.20s'", start);
    n->type = J_SCALAR;
    n->text = strndup(start, (size_t)(j->p - start));
    return n;
}

static jnode *
jparse(const char *text)
{
    jparser j = {text};
    jnode *root = jvalue(&j);
    jskip(&j);
    cr_assert_eq(*j.p, '\0', "JSON: trailing bytes");
    return root;
}

static void
jfree(jnode *n)
{
    while (n != NULL) {
        jnode *next = n->next;
        jfree(n->child);
        free(n->key);
        free(n->text);
        free(n);
        n = next;
    }
}

static jnode *
jget(const jnode *obj, const char *key)
{
    if (obj == NULL || obj->type != J_OBJ)
        return NULL;
    for (jnode *c = obj->child; c != NULL; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

static const char *
jstr(const jnode *obj, const char *key)
{
    const jnode *n = jget(obj, key);
    cr_assert(n != NULL && n->type == J_STR, "JSON: string member \"%s\" missing", key);
    return n->text;
}

/* ---- the Noise core against the published vectors --------------------------------------- */

/* One vector: both sides from the given keys, every message checked. Returns the count of
 * transport messages checked. */
static int
run_vector(const jnode *v, const char *origin)
{
    uint8_t is[32], ie[32], rs[32], re[32];
    size_t iplen, rplen;
    uint8_t *ipro = unhex(jstr(v, "init_prologue"), &iplen);
    uint8_t *rpro = unhex(jstr(v, "resp_prologue"), &rplen);
    unhex_fixed(jstr(v, "init_static"), is, 32);
    unhex_fixed(jstr(v, "init_ephemeral"), ie, 32);
    unhex_fixed(jstr(v, "resp_static"), rs, 32);
    unhex_fixed(jstr(v, "resp_ephemeral"), re, 32);

    weft_noise_xx a, b;
    cr_assert_eq(weft_noise_xx_init(&a, 1, ipro, iplen, is, ie), 0);
    cr_assert_eq(weft_noise_xx_init(&b, 0, rpro, rplen, rs, re), 0);

    const jnode *msgs = jget(v, "messages");
    cr_assert(msgs != NULL && msgs->type == J_ARR, "%s: no messages", origin);
    weft_noise_session sa, sb;
    int i = 0, transport = 0;
    for (const jnode *m = msgs->child; m != NULL; m = m->next, i++) {
        size_t plen, clen;
        uint8_t *pt = unhex(jstr(m, "payload"), &plen);
        uint8_t *ct = unhex(jstr(m, "ciphertext"), &clen);
        uint8_t *out = malloc(clen + plen + 64), *back = malloc(clen + 1);
        cr_assert(out != NULL && back != NULL);
        /* Handshake messages 0..2 alternate from the initiator; so do transport ones. */
        int from_init = i % 2 == 0;
        if (i < 3) {
            weft_noise_xx *w = from_init ? &a : &b, *r = from_init ? &b : &a;
            cr_assert_eq(weft_noise_xx_write_len(w, plen), clen, "%s: message %d length", origin,
                         i);
            int n = weft_noise_xx_write(w, pt, plen, out, clen + plen + 64);
            cr_assert_eq(n, (int)clen, "%s: message %d: write returned %d", origin, i, n);
            cr_assert(memcmp(out, ct, clen) == 0, "%s: handshake message %d differs", origin, i);
            n = weft_noise_xx_read(r, ct, clen, back, clen);
            cr_assert_eq(n, (int)plen, "%s: message %d: read returned %d", origin, i, n);
            cr_assert(plen == 0 || memcmp(back, pt, plen) == 0, "%s: message %d payload", origin,
                      i);
            if (i == 2) {
                uint8_t ha[32], hb[32];
                cr_assert_eq(weft_noise_xx_split(&a, &sa, ha), 0);
                cr_assert_eq(weft_noise_xx_split(&b, &sb, hb), 0);
                cr_assert(memcmp(ha, hb, 32) == 0, "%s: handshake hashes differ", origin);
                const jnode *hh = jget(v, "handshake_hash");
                if (hh != NULL) {
                    uint8_t want[32];
                    unhex_fixed(hh->text, want, 32);
                    cr_assert(memcmp(ha, want, 32) == 0, "%s: handshake hash", origin);
                }
            }
        } else {
            weft_noise_cipher *tx = from_init ? &sa.tx : &sb.tx;
            weft_noise_cipher *rx = from_init ? &sb.rx : &sa.rx;
            cr_assert_eq(clen, plen + 16);
            cr_assert_eq(weft_noise_cipher_encrypt(tx, NULL, 0, pt, plen, out), 0);
            cr_assert(memcmp(out, ct, clen) == 0, "%s: transport message %d (%s) differs", origin,
                      i, from_init ? "initiator -> responder" : "responder -> initiator");
            cr_assert_eq(weft_noise_cipher_decrypt(rx, NULL, 0, ct, clen, back), 0,
                         "%s: transport message %d does not open", origin, i);
            cr_assert(plen == 0 || memcmp(back, pt, plen) == 0);
            transport++;
        }
        free(pt);
        free(ct);
        free(out);
        free(back);
    }
    cr_assert_geq(i, 3, "%s: fewer than 3 messages", origin);
    weft_noise_xx_wipe(&a);
    weft_noise_xx_wipe(&b);
    free(ipro);
    free(rpro);
    return transport;
}

Test(noise, core_matches_published_vectors)
{
    char *text = slurp("noise-vectors/Noise_XX_25519_ChaChaPoly_SHA256.json");
    jnode *root = jparse(text);
    const jnode *sources = jget(root, "sources");
    cr_assert(sources != NULL && sources->type == J_ARR);
    int vectors = 0, transport = 0;
    for (const jnode *src = sources->child; src != NULL; src = src->next) {
        const jnode *list = jget(src, "vectors");
        cr_assert(list != NULL && list->type == J_ARR);
        for (const jnode *v = list->child; v != NULL; v = v->next) {
            if (strcmp(jstr(v, "protocol_name"), WEFT_NOISE_PROTOCOL_NAME) != 0)
                continue;
            const jnode *psks = jget(v, "init_psks");
            cr_assert(psks == NULL || psks->child == NULL, "a PSK vector under plain XX");
            transport += run_vector(v, jstr(src, "repo"));
            vectors++;
        }
    }
    cr_assert_geq(vectors, 2, "only %d XX vectors found", vectors);
    cr_log_info("noise vectors: %d handshakes, %d transport messages, all byte-exact", vectors,
                transport);
    jfree(root);
    free(text);
}

Test(noise, hkdf_is_rfc5869)
{
    /* RFC 5869 test case 3: SHA-256, empty salt (an HMAC key of zeros), empty info. */
    static const char okm_hex[] = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                  "9d201395faa4b61a96c8";
    uint8_t ck[32] = {0}, ikm[22], o1[32], o2[32], o3[32], okm[42];
    memset(ikm, 0x0b, sizeof ikm);
    unhex_fixed(okm_hex, okm, sizeof okm);
    weft_noise_hkdf(ck, ikm, sizeof ikm, o1, o2, o3);
    cr_assert(memcmp(o1, okm, 32) == 0);
    cr_assert(memcmp(o2, okm + 32, 10) == 0);

    /* The third output is HMAC(prk, o2 || 0x03), computed here without the library. */
    uint8_t prk[32], in[33], want3[32];
    crypto_auth_hmacsha256(prk, ikm, sizeof ikm, ck);
    memcpy(in, o2, 32);
    in[32] = 3;
    crypto_auth_hmacsha256(want3, in, sizeof in, prk);
    cr_assert(memcmp(o3, want3, 32) == 0);

    /* out1 may alias the chaining key, as MixKey uses it. */
    uint8_t ck2[32] = {0}, p2[32];
    weft_noise_hkdf(ck2, ikm, sizeof ikm, ck2, p2, NULL);
    cr_assert(memcmp(ck2, o1, 32) == 0 && memcmp(p2, o2, 32) == 0);
}

Test(noise, nonce_layout_and_limits)
{
    uint8_t key[32], pt[5], ct[21], back[5], nonce[12] = {0}, want[21];
    memcpy(pt, "hello", 5);
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    weft_noise_cipher c, d;
    weft_noise_cipher_init(&c, key);
    weft_noise_cipher_init(&d, key);
    c.n = d.n = 0x0102030405060708ull;
    cr_assert_eq(weft_noise_cipher_encrypt(&c, NULL, 0, pt, 5, ct), 0);
    /* 4 zero bytes, then n little-endian */
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(0x08 - i);
    crypto_aead_chacha20poly1305_ietf_encrypt(want, NULL, pt, 5, NULL, 0, NULL, nonce, key);
    cr_assert(memcmp(ct, want, sizeof ct) == 0);

    /* A bad tag leaves n alone; so does a frame shorter than a tag. */
    ct[0] ^= 1;
    cr_assert_eq(weft_noise_cipher_decrypt(&d, NULL, 0, ct, sizeof ct, back), WEFT_EAUTH);
    cr_assert_eq(weft_noise_cipher_decrypt(&d, NULL, 0, ct, 15, back), WEFT_EPROTO);
    cr_assert_eq(d.n, 0x0102030405060708ull);
    ct[0] ^= 1;
    cr_assert_eq(weft_noise_cipher_decrypt(&d, NULL, 0, ct, sizeof ct, back), 0);
    cr_assert(memcmp(back, pt, 5) == 0);

    /* 2^64-2 is the last nonce used; 2^64-1 is refused. */
    c.n = d.n = UINT64_MAX - 1;
    cr_assert_eq(weft_noise_cipher_encrypt(&c, NULL, 0, pt, 5, ct), 0);
    cr_assert_eq(weft_noise_cipher_decrypt(&d, NULL, 0, ct, sizeof ct, back), 0);
    cr_assert_eq(weft_noise_cipher_encrypt(&c, NULL, 0, pt, 5, ct), WEFT_ELIMIT);
    cr_assert_eq(weft_noise_cipher_decrypt(&d, NULL, 0, ct, sizeof ct, back), WEFT_ELIMIT);
}

Test(noise, core_rejects_low_order_and_misuse)
{
    uint8_t s[32], msg[64] = {0}, out[256], pl[256];
    randombytes_buf(s, sizeof s);
    weft_noise_xx r;
    cr_assert_eq(weft_noise_xx_init(&r, 0, NULL, 0, s, NULL), 0);
    /* Responder cannot write first, nor read a message that is too short. */
    cr_assert_eq(weft_noise_xx_write(&r, NULL, 0, out, sizeof out), WEFT_EINVAL);
    cr_assert_eq(weft_noise_xx_read(&r, msg, 32, pl, 0), 0);
    /* e = the all-zero point: ee would be zero, so writing message 2 fails. */
    cr_assert_eq(weft_noise_xx_write(&r, NULL, 0, out, 10), WEFT_ENOSPC);
    cr_assert_eq(weft_noise_xx_write(&r, NULL, 0, out, sizeof out), WEFT_EAUTH);
    cr_assert_eq(r.step, WEFT_NOISE_XX_FAILED);
    cr_assert_eq(weft_noise_xx_read(&r, msg, 64, pl, sizeof pl), WEFT_EINVAL);
    weft_noise_session sess;
    cr_assert_eq(weft_noise_xx_split(&r, &sess, NULL), WEFT_EINVAL);

    weft_noise_xx i;
    cr_assert_eq(weft_noise_xx_init(&i, 1, NULL, 0, s, NULL), 0);
    cr_assert_eq(weft_noise_xx_read(&i, msg, 64, pl, sizeof pl), WEFT_EINVAL);
    cr_assert_eq(weft_noise_xx_write(&i, NULL, WEFT_NOISE_MSG_MAX, out, sizeof out), WEFT_ETOOBIG);
}

/* ---- libp2p payload ----------------------------------------------------------------------- */

Test(noise, payload_matches_js_vector)
{
    char *text = slurp("vectors.json");
    jnode *root = jparse(text);
    const jnode *ident = jget(root, "identity"), *np = jget(root, "noise_payload");
    cr_assert(ident != NULL && np != NULL);

    uint8_t seed[32], spub[32], sig[64];
    unhex_fixed(jstr(ident, "ed25519_seed"), seed, 32);
    unhex_fixed(jstr(np, "noise_static_public_key"), spub, 32);
    unhex_fixed(jstr(np, "identity_sig"), sig, 64);
    cr_assert_str_eq(jstr(np, "protocol_name"), WEFT_NOISE_PROTOCOL_NAME);
    cr_assert_str_eq(jstr(np, "prologue"), "");
    weft_identity id;
    weft_identity_from_seed(&id, seed);

    /* The signed bytes are the prefix and the static key, and js's signature verifies. */
    size_t slen;
    uint8_t *signed_bytes = unhex(jstr(np, "signed_bytes"), &slen);
    cr_assert_eq(slen, strlen(WEFT_NOISE_SIG_PREFIX) + 32);
    cr_assert(memcmp(signed_bytes, WEFT_NOISE_SIG_PREFIX, strlen(WEFT_NOISE_SIG_PREFIX)) == 0);
    cr_assert(memcmp(signed_bytes + slen - 32, spub, 32) == 0);
    cr_assert_eq(weft_verify(id.pk, signed_bytes, slen, sig), 0);

    static const struct {
        const char *member;
        unsigned flags;
    } forms[] = {{"NoiseHandshakePayload", 0},
                 {"NoiseHandshakePayload_with_muxer_extension", WEFT_NOISE_OFFER_YAMUX}};
    for (size_t f = 0; f < 2; f++) {
        size_t want_len;
        uint8_t *want = unhex(jstr(np, forms[f].member), &want_len);
        uint8_t got[WEFT_NOISE_PAYLOAD_MAX];
        int n = weft_noise_payload_encode(&id, spub, forms[f].flags, got, sizeof got);
        cr_assert_eq(n, (int)want_len, "%s: %d bytes, want %zu", forms[f].member, n, want_len);
        cr_assert(memcmp(got, want, want_len) == 0, "%s differs", forms[f].member);
        /* Too small a buffer is refused, never overrun. */
        cr_assert_eq(weft_noise_payload_encode(&id, spub, forms[f].flags, got, want_len - 1),
                     WEFT_ENOSPC);
        cr_assert_eq(weft_noise_payload_encode(&id, spub, forms[f].flags, got, 0), WEFT_ENOSPC);

        weft_noise_remote rem;
        cr_assert_eq(weft_noise_payload_verify(want, want_len, spub, &rem), 0);
        cr_assert(memcmp(rem.identity_pk, id.pk, 32) == 0);
        size_t pid_len;
        uint8_t *pid = unhex(jstr(ident, "peer_id_bytes"), &pid_len);
        cr_assert_eq(rem.peer.len, pid_len);
        cr_assert(memcmp(rem.peer.bytes, pid, pid_len) == 0);
        cr_assert_eq(rem.muxers, forms[f].flags
                                     ? WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX
                                     : 0u);
        /* Bound to the static key: any other key fails. */
        uint8_t other[32];
        memcpy(other, spub, 32);
        other[31] ^= 0x40;
        cr_assert_eq(weft_noise_payload_verify(want, want_len, other, &rem), WEFT_EAUTH);
        free(pid);
        free(want);
    }
    free(signed_bytes);
    jfree(root);
    free(text);
}
