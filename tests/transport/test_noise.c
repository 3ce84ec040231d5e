/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Noise XX and the libp2p `/noise` channel (weft/noise.h, noise_internal.h).
 *
 * The core is checked against every Noise_XX_25519_ChaChaPoly_SHA256 vector
 * in $WEFT_INTEROP_DIR/noise-vectors (cacophony, snow): each handshake
 * message byte for byte, the handshake hash where given, then the transport
 * messages after Split in both directions; HKDF against RFC 5869 case 3.
 * The libp2p payload encoder reproduces vectors.json's "noise_payload"
 * (made by js-libp2p) byte for byte. The engines then run against each other
 * in memory (whole buffers, one byte at a time, random chunks), and against
 * a hand-driven core peer that forges payloads: bad or missing signature,
 * non-Ed25519 identity key, wrong peer, tampered bytes in every handshake
 * message, truncated and oversized frames, garbage, nonce exhaustion and API
 * misuse. Invariant under test throughout: every failure is an error code,
 * never a crash, and it is sticky.
 *
 * Random inputs come from a seeded generator (WEFT_TEST_SEED overrides);
 * failing assertions print the seed.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "noise_internal.h"
#include "weft/noise.h"
#include "weft/pb.h"

#define SEEDF " [seed=%" PRIu64 "]"

/* ---- seeded test data ------------------------------------------------------------------- */

typedef struct trng {
    uint64_t x;
} trng;

static uint64_t
trng_next(trng *r)
{
    uint64_t z = (r->x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void
trng_fill(trng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)trng_next(r);
}

static uint64_t
test_seed(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    if (s != NULL && *s)
        return strtoull(s, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

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
    const char *dir = getenv("WEFT_INTEROP_DIR");
    cr_assert(dir != NULL && *dir, "WEFT_INTEROP_DIR is not set (ctest sets it)");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert(buf != NULL);
    for (size_t n; (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (cap - len - 1 == 0) {
            buf = realloc(buf, cap *= 2);
            cr_assert(buf != NULL);
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
            s = realloc(s, cap *= 2);
            cr_assert(s != NULL);
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

/* Payload builders for forged messages. */
static size_t
payload_with(uint8_t *out, const uint8_t *key_pb, size_t key_len, const uint8_t *sig,
             size_t sig_len, const uint8_t *extra, size_t extra_len)
{
    weft_buf b;
    weft_buf_init(&b, out, 1024, 1024);
    if (key_pb != NULL)
        cr_assert_eq(weft_pb_put_bytes(&b, 1, key_pb, key_len), 0);
    if (sig != NULL)
        cr_assert_eq(weft_pb_put_bytes(&b, 2, sig, sig_len), 0);
    if (extra_len)
        cr_assert_eq(weft_buf_append(&b, extra, extra_len), 0);
    cr_assert_eq(b.base, out);
    return b.len;
}

Test(noise, payload_verify_cases)
{
    weft_identity id;
    uint8_t seed[32] = {7}, spub[32], key_pb[36], msg[56], sig[64], p[1024];
    weft_noise_remote rem;
    weft_identity_from_seed(&id, seed);
    randombytes_buf(spub, sizeof spub);
    weft_pubkey_pb_encode(id.pk, key_pb);
    memcpy(msg, WEFT_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, spub, 32);
    weft_sign(&id, msg, sizeof msg, sig);

    /* Unknown fields (3, 99, a varint, a fixed64) and a certhash extension are ignored; a
     * second muxer alongside yamux is fine. */
    /* clang-format off */
    static const uint8_t extra[] = {
        0x1a, 0x02, 0xaa, 0xbb,                         /* 3: bytes */
        0x98, 0x06, 0x05,                               /* 99: varint */
        0x29, 1, 2, 3, 4, 5, 6, 7, 8,                   /* 5: fixed64 */
        0x22, 0x1a,                                     /* 4: { */
        0x0a, 0x02, 0x01, 0x02,                         /*   1: certhash */
        0x12, 0x06, '/', 'm', 'p', 'l', 'e', 'x',       /*   2: "/mplex" */
        0x12, 0x0c, '/', 'y', 'a', 'm', 'u', 'x',
        '/', '1', '.', '0', '.', '0',                   /*   2: "/yamux/1.0.0" } */
    };
    /* clang-format on */
    size_t n = payload_with(p, key_pb, 36, sig, 64, extra, sizeof extra);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), 0);
    cr_assert_eq(rem.muxers, WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX);
    /* Only another muxer: listed, but no yamux. */
    static const uint8_t ext_mplex[] = {0x22, 0x08, 0x12, 0x06, '/', 'm', 'p', 'l', 'e', 'x'};
    n = payload_with(p, key_pb, 36, sig, 64, ext_mplex, sizeof ext_mplex);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), 0);
    cr_assert_eq(rem.muxers, WEFT_NOISE_REMOTE_LISTED_MUXERS);

    /* Missing key -> EPROTO; missing or short signature -> EAUTH; flipped bit -> EAUTH. */
    n = payload_with(p, NULL, 0, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    n = payload_with(p, key_pb, 36, NULL, 0, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH);
    n = payload_with(p, key_pb, 36, sig, 63, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH);
    for (int bit = 0; bit < 512; bit += 37) {
        uint8_t bad[64];
        memcpy(bad, sig, 64);
        bad[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        n = payload_with(p, key_pb, 36, bad, 64, NULL, 0);
        cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EAUTH, "bit %d", bit);
    }
    /* Non-Ed25519 identity keys -> ENOTSUP: RSA (0), secp256k1 (2), ECDSA (3). */
    static const uint8_t types[] = {0, 2, 3};
    for (size_t t = 0; t < sizeof types; t++) {
        uint8_t other[2 + 2 + 33] = {0x08, types[t], 0x12, 33, 0x02};
        n = payload_with(p, other, sizeof other, sig, 64, NULL, 0);
        cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_ENOTSUP, "type %u",
                     types[t]);
    }
    /* Malformed: identity_key as a varint, a truncated field, a bad extension. */
    static const uint8_t as_varint[] = {0x08, 0x01};
    cr_assert_eq(weft_noise_payload_verify(as_varint, 2, spub, &rem), WEFT_EPROTO);
    n = payload_with(p, key_pb, 36, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n - 1, spub, &rem), WEFT_EPROTO);
    static const uint8_t bad_ext[] = {0x22, 0x02, 0x10, 0x01}; /* stream_muxers as varint */
    n = payload_with(p, key_pb, 36, sig, 64, bad_ext, sizeof bad_ext);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    static const uint8_t trunc_ext[] = {0x22, 0x02, 0x12, 0x05};
    n = payload_with(p, key_pb, 36, sig, 64, trunc_ext, sizeof trunc_ext);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    /* A wrong-length Ed25519 key is malformed. */
    uint8_t short_key[35];
    memcpy(short_key, key_pb, 35);
    short_key[3] = 31;
    n = payload_with(p, short_key, 35, sig, 64, NULL, 0);
    cr_assert_eq(weft_noise_payload_verify(p, n, spub, &rem), WEFT_EPROTO);
    cr_assert_eq(weft_noise_payload_verify(p, 0, spub, &rem), WEFT_EPROTO);
}

/* ---- in-memory handshakes ----------------------------------------------------------------- */

typedef struct side {
    weft_noise_hs *hs;
    weft_buf pending; /* received, not yet consumed */
    int done;
    int err;
} side;

/* Move the bytes of wire into s, chunk bytes at a time (0 = all at once), feeding the
 * handshake after each piece; replies go to back. Bytes after completion stay pending. */
static void
deliver(side *s, weft_buf *wire, size_t chunk, weft_buf *back)
{
    size_t off = 0;
    while (off < wire->len && s->err == 0) {
        size_t n = wire->len - off;
        if (chunk && n > chunk)
            n = chunk;
        cr_assert_eq(weft_buf_append(&s->pending, wire->base + off, n), 0);
        off += n;
        if (s->done)
            continue;
        size_t used = 12345;
        int rc = weft_noise_hs_input(s->hs, s->pending.base, s->pending.len, &used, back);
        cr_assert_leq(used, s->pending.len);
        if (rc < 0) {
            s->err = rc;
            break;
        }
        weft_buf_consume(&s->pending, used);
        if (rc == 1)
            s->done = 1;
    }
    weft_buf_consume(wire, off);
}

typedef struct duo {
    side i, r;
    weft_buf to_r, to_i; /* wires */
} duo;

static void
duo_init(duo *d, weft_noise_hs *i, weft_noise_hs *r)
{
    memset(d, 0, sizeof *d);
    d->i.hs = i;
    d->r.hs = r;
    weft_buf_init(&d->i.pending, NULL, 0, 0);
    weft_buf_init(&d->r.pending, NULL, 0, 0);
    weft_buf_init(&d->to_r, NULL, 0, 0);
    weft_buf_init(&d->to_i, NULL, 0, 0);
}

static void
duo_free(duo *d)
{
    weft_noise_hs_free(d->i.hs);
    weft_noise_hs_free(d->r.hs);
    weft_buf_free(&d->i.pending);
    weft_buf_free(&d->r.pending);
    weft_buf_free(&d->to_r);
    weft_buf_free(&d->to_i);
}

/* Run until both are done, one fails, or nothing moves. */
static void
duo_run(duo *d, size_t chunk)
{
    cr_assert_eq(weft_noise_hs_start(d->i.hs, &d->to_r), 0);
    for (int round = 0; round < 8; round++) {
        if (d->to_r.len == 0 && d->to_i.len == 0)
            break;
        deliver(&d->r, &d->to_r, chunk, &d->to_i);
        deliver(&d->i, &d->to_i, chunk, &d->to_r);
        if (d->i.err || d->r.err)
            break;
    }
}

static weft_noise_hs *
new_hs(int initiator, const weft_identity *id, const weft_peer_id *expect)
{
    int err = 1;
    weft_noise_hs *hs = weft_noise_hs_new(initiator, id, expect, &err);
    cr_assert(hs != NULL && err == 0, "weft_noise_hs_new: %d %s", err, weft_strerror(err));
    return hs;
}

static void
ident(weft_identity *id, uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    weft_identity_from_seed(id, seed);
}

static void
seal_open_check(weft_noise_session *tx, weft_noise_session *rx, const uint8_t *msg, size_t len,
                trng *rng, uint64_t seed)
{
    weft_buf wire, plain;
    weft_buf_init(&wire, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    cr_assert_eq(weft_noise_seal(tx, msg, len, &wire), 0);
    size_t frames = (len + WEFT_NOISE_PLAIN_MAX - 1) / WEFT_NOISE_PLAIN_MAX;
    cr_assert_eq(wire.len, len + frames * 18, "sealed %zu bytes into %zu" SEEDF, len, wire.len,
                 seed);
    /* Deliver in random pieces, keeping unconsumed bytes as a real reader does. */
    weft_buf pend;
    weft_buf_init(&pend, NULL, 0, 0);
    size_t off = 0;
    while (off < wire.len) {
        size_t n = 1 + trng_next(rng) % 70000;
        if (n > wire.len - off)
            n = wire.len - off;
        cr_assert_eq(weft_buf_append(&pend, wire.base + off, n), 0);
        off += n;
        size_t used;
        cr_assert_eq(weft_noise_open(rx, pend.base, pend.len, &used, &plain), 0, SEEDF, seed);
        weft_buf_consume(&pend, used);
    }
    cr_assert_eq(pend.len, 0, SEEDF, seed);
    cr_assert_eq(plain.len, len, SEEDF, seed);
    cr_assert(len == 0 || memcmp(plain.base, msg, len) == 0, SEEDF, seed);
    weft_buf_free(&wire);
    weft_buf_free(&plain);
    weft_buf_free(&pend);
}

static void
full_handshake(size_t chunk)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a, b;
    ident(&a, 1);
    ident(&b, 2);
    weft_peer_id pa, pb;
    weft_peer_id_from_pubkey(a.pk, &pa);
    weft_peer_id_from_pubkey(b.pk, &pb);

    duo d;
    duo_init(&d, new_hs(1, &a, &pb), new_hs(0, &b, NULL));
    cr_assert(weft_noise_hs_is_initiator(d.i.hs) && !weft_noise_hs_is_initiator(d.r.hs));
    duo_run(&d, chunk);
    cr_assert(d.i.done && d.r.done, "chunk %zu: i done %d err %d, r done %d err %d", chunk,
              d.i.done, d.i.err, d.r.done, d.r.err);
    cr_assert_eq(d.i.pending.len + d.r.pending.len, 0);

    weft_noise_session si, sr;
    weft_peer_id ri, rr;
    uint8_t pk[32];
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &si, &ri), 0);
    cr_assert_eq(weft_noise_hs_split(d.r.hs, &sr, &rr), 0);
    cr_assert(weft_peer_id_equal(&ri, &pb) && weft_peer_id_equal(&rr, &pa));
    cr_assert_eq(weft_noise_hs_remote(d.i.hs, NULL, pk), 0);
    cr_assert(memcmp(pk, b.pk, 32) == 0);
    cr_assert_eq(weft_noise_hs_remote(d.r.hs, &rr, pk), 0);
    cr_assert(memcmp(pk, a.pk, 32) == 0 && weft_peer_id_equal(&rr, &pa));
    cr_assert_eq(weft_noise_hs_remote_muxers(d.i.hs), 0u);
    /* Matching keys, opposite directions. */
    cr_assert(memcmp(si.tx.k, sr.rx.k, 32) == 0 && memcmp(si.rx.k, sr.tx.k, 32) == 0);
    cr_assert(memcmp(si.tx.k, si.rx.k, 32) != 0);

    static const uint8_t hello[] = "hello, responder";
    seal_open_check(&si, &sr, hello, sizeof hello, &rng, seed);
    seal_open_check(&sr, &si, hello, 5, &rng, seed);
    seal_open_check(&sr, &si, NULL, 0, &rng, seed);
    for (int k = 0; k < 20; k++) {
        uint8_t buf[300];
        size_t n = 1 + trng_next(&rng) % sizeof buf;
        trng_fill(&rng, buf, n);
        seal_open_check(k % 2 ? &si : &sr, k % 2 ? &sr : &si, buf, n, &rng, seed);
    }
    weft_noise_session_wipe(&si);
    weft_noise_session_wipe(&sr);
    cr_assert_eq(si.tx.has_key, 0);
    duo_free(&d);
}

Test(noise, handshake_whole_buffers)
{
    full_handshake(0);
}

Test(noise, handshake_byte_at_a_time)
{
    full_handshake(1);
}

Test(noise, handshake_odd_chunks)
{
    full_handshake(7);
    full_handshake(33);
}

Test(noise, large_messages_span_frames)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a, b;
    ident(&a, 3);
    ident(&b, 4);
    duo d;
    duo_init(&d, new_hs(1, &a, NULL), new_hs(0, &b, NULL));
    duo_run(&d, 0);
    cr_assert(d.i.done && d.r.done);
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &si, NULL), 0);
    cr_assert_eq(weft_noise_hs_split(d.r.hs, &sr, NULL), 0);

    size_t big = 1u << 20;
    uint8_t *m = malloc(big);
    cr_assert(m != NULL);
    trng_fill(&rng, m, big);
    seal_open_check(&si, &sr, m, big, &rng, seed);
    seal_open_check(&sr, &si, m, big, &rng, seed);
    /* Frame boundaries: 65519 fits one frame of length 65535; one more byte needs two. */
    static const size_t edge[] = {WEFT_NOISE_PLAIN_MAX - 1, WEFT_NOISE_PLAIN_MAX,
                                  WEFT_NOISE_PLAIN_MAX + 1, 2 * WEFT_NOISE_PLAIN_MAX};
    for (size_t e = 0; e < 4; e++) {
        weft_buf w;
        weft_buf_init(&w, NULL, 0, 0);
        cr_assert_eq(weft_noise_seal(&si, m, edge[e], &w), 0);
        size_t first = (size_t)w.base[0] << 8 | w.base[1];
        cr_assert_eq(first, edge[e] >= WEFT_NOISE_PLAIN_MAX ? 65535u : edge[e] + 16);
        weft_buf plain;
        weft_buf_init(&plain, NULL, 0, 0);
        size_t used;
        cr_assert_eq(weft_noise_open(&sr, w.base, w.len, &used, &plain), 0);
        cr_assert_eq(used, w.len);
        cr_assert_eq(plain.len, edge[e]);
        cr_assert(memcmp(plain.base, m, edge[e]) == 0);
        weft_buf_free(&w);
        weft_buf_free(&plain);
    }
    free(m);
    duo_free(&d);
}

Test(noise, transport_bytes_after_message_3_are_left)
{
    weft_identity a, b;
    ident(&a, 5);
    ident(&b, 6);
    weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
    weft_buf w1, w2, w3, plain;
    weft_buf_init(&w1, NULL, 0, 0);
    weft_buf_init(&w2, NULL, 0, 0);
    weft_buf_init(&w3, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;
    cr_assert_eq(weft_noise_hs_start(i, &w1), 0);
    cr_assert_eq(w1.len, 2 + 32);
    cr_assert_eq(weft_noise_hs_input(r, w1.base, w1.len, &used, &w2), 0);
    cr_assert_eq(used, w1.len);
    cr_assert_eq(weft_noise_hs_input(i, w2.base, w2.len, &used, &w3), 1);
    cr_assert_eq(used, w2.len);
    size_t msg3 = w3.len;
    /* The initiator may send data right behind message 3. */
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(i, &si, NULL), 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"early", 5, &w3), 0);
    cr_assert_eq(weft_noise_hs_input(r, w3.base, w3.len, &used, &w1), 1);
    cr_assert_eq(used, msg3);
    /* Complete: later calls say so and consume nothing. */
    cr_assert_eq(weft_noise_hs_input(r, w3.base + msg3, w3.len - msg3, &used, &w1), 1);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), 0);
    cr_assert_eq(weft_noise_open(&sr, w3.base + msg3, w3.len - msg3, &used, &plain), 0);
    cr_assert_eq(plain.len, 5);
    cr_assert(memcmp(plain.base, "early", 5) == 0);
    /* After split the handshake refuses input and a second split. */
    cr_assert_eq(weft_noise_hs_input(r, w3.base, w3.len, &used, &w1), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), WEFT_EINVAL);
    weft_noise_hs_free(i);
    weft_noise_hs_free(r);
    weft_buf_free(&w1);
    weft_buf_free(&w2);
    weft_buf_free(&w3);
    weft_buf_free(&plain);
}

Test(noise, expected_peer_id)
{
    weft_identity a, b, c;
    ident(&a, 7);
    ident(&b, 8);
    ident(&c, 9);
    weft_peer_id pa, pb, pc;
    weft_peer_id_from_pubkey(a.pk, &pa);
    weft_peer_id_from_pubkey(b.pk, &pb);
    weft_peer_id_from_pubkey(c.pk, &pc);

    /* Initiator dials /p2p/<c> but reaches b: fails on message 2, sends no message 3. */
    duo d;
    duo_init(&d, new_hs(1, &a, &pc), new_hs(0, &b, NULL));
    duo_run(&d, 0);
    cr_assert_eq(d.i.err, WEFT_EAUTH);
    cr_assert(!d.r.done && d.to_r.len == 0);
    /* The error is sticky. */
    size_t used;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    uint8_t junk[4] = {0, 2, 0, 0};
    cr_assert_eq(weft_noise_hs_input(d.i.hs, junk, 4, &used, &out), WEFT_EAUTH);
    cr_assert_eq(weft_noise_hs_split(d.i.hs, &(weft_noise_session){0}, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_remote(d.i.hs, NULL, NULL), WEFT_EINVAL);
    duo_free(&d);

    /* A responder that expects c fails on message 3 from a. */
    duo_init(&d, new_hs(1, &a, NULL), new_hs(0, &b, &pc));
    duo_run(&d, 0);
    cr_assert(d.i.done);
    cr_assert_eq(d.r.err, WEFT_EAUTH);
    duo_free(&d);

    /* Both expectations right. */
    duo_init(&d, new_hs(1, &a, &pb), new_hs(0, &b, &pa));
    duo_run(&d, 3);
    cr_assert(d.i.done && d.r.done);
    duo_free(&d);
    weft_buf_free(&out);
}

Test(noise, config_static_key_and_muxer_offer)
{
    weft_identity a, b;
    ident(&a, 10);
    ident(&b, 11);
    uint8_t sk[32], spub[32], got[32];
    randombytes_buf(sk, sizeof sk);
    crypto_scalarmult_base(spub, sk);
    weft_noise_config ci = {
        .initiator = 1, .identity = &a, .static_key = sk, .flags = WEFT_NOISE_OFFER_YAMUX};
    weft_noise_config cr = {.initiator = 0, .identity = &b};
    int err;
    duo d;
    duo_init(&d, weft_noise_hs_new_config(&ci, &err), weft_noise_hs_new_config(&cr, &err));
    cr_assert(d.i.hs && d.r.hs);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.r.hs), 0u);
    duo_run(&d, 0);
    cr_assert(d.i.done && d.r.done);
    cr_assert_eq(weft_noise_hs_remote_static(d.r.hs, got), 0);
    cr_assert(memcmp(got, spub, 32) == 0);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.r.hs),
                 WEFT_NOISE_REMOTE_LISTED_MUXERS | WEFT_NOISE_REMOTE_YAMUX);
    cr_assert_eq(weft_noise_hs_remote_muxers(d.i.hs), 0u);
    duo_free(&d);

    /* Bad configurations. */
    weft_noise_config bad = {.initiator = 1, .identity = NULL};
    cr_assert_null(weft_noise_hs_new_config(&bad, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    bad.identity = &a;
    bad.flags = 0x80;
    cr_assert_null(weft_noise_hs_new_config(&bad, &err));
    cr_assert_eq(err, WEFT_EINVAL);
    cr_assert_null(weft_noise_hs_new_config(NULL, NULL));
}

Test(noise, api_misuse)
{
    weft_identity a;
    ident(&a, 12);
    weft_noise_hs *r = new_hs(0, &a, NULL), *i = new_hs(1, &a, NULL);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    size_t used = 99;
    uint8_t frame[34] = {0, 32};
    cr_assert_eq(weft_noise_hs_start(r, &out), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_input(i, frame, sizeof frame, &used, &out), WEFT_EINVAL);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_hs_split(i, &(weft_noise_session){0}, NULL), WEFT_EINVAL);
    cr_assert_eq(weft_noise_hs_start(i, &out), 0);
    cr_assert_eq(weft_noise_hs_start(i, &out), WEFT_EINVAL);
    /* A full output buffer kills the handshake with the buffer's error. */
    uint8_t small[8];
    weft_buf tiny;
    weft_buf_init(&tiny, small, sizeof small, sizeof small);
    weft_noise_hs *i2 = new_hs(1, &a, NULL);
    cr_assert_eq(weft_noise_hs_start(i2, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(tiny.len, 0);
    cr_assert_eq(weft_noise_hs_input(i2, frame, sizeof frame, &used, &out), WEFT_ETOOBIG);
    weft_noise_hs_free(i2);
    weft_noise_hs_free(NULL);

    /* Sessions without keys. */
    weft_noise_session none = {0};
    cr_assert_eq(weft_noise_seal(&none, frame, 3, &out), WEFT_EINVAL);
    cr_assert_eq(weft_noise_open(&none, frame, sizeof frame, &used, &out), WEFT_EINVAL);
    weft_noise_hs_free(r);
    weft_noise_hs_free(i);
    weft_buf_free(&out);
}

/* ---- a hand-driven core peer for forged messages ------------------------------------------ */

/* Frame a core message into out. */
static void
core_write(weft_noise_xx *xx, const uint8_t *payload, size_t plen, weft_buf *out)
{
    size_t n = weft_noise_xx_write_len(xx, plen);
    cr_assert_eq(weft_buf_reserve(out, n + 2), 0);
    int rc = weft_noise_xx_write(xx, payload, plen, out->base + out->len + 2, n);
    cr_assert_eq(rc, (int)n, "core write: %d", rc);
    out->base[out->len] = (uint8_t)(n >> 8);
    out->base[out->len + 1] = (uint8_t)n;
    out->len += n + 2;
}

static void
core_read(weft_noise_xx *xx, weft_buf *in)
{
    cr_assert_geq(in->len, 2);
    size_t n = (size_t)in->base[0] << 8 | in->base[1];
    cr_assert_eq(in->len, n + 2);
    uint8_t *pl = malloc(n + 1);
    int rc = weft_noise_xx_read(xx, in->base + 2, n, pl, n);
    cr_assert_geq(rc, 0, "core read: %d", rc);
    free(pl);
    weft_buf_reset(in);
}

typedef size_t (*payload_fn)(uint8_t *out, const uint8_t static_pub[32], const void *arg);

/* Set by a test: the core peer announces the all-zero (low-order) static key. */
static int zero_static;

/* The libp2p responder hs meets a core initiator that sends payload_fn's payload in
 * message 3. Returns hs_input's result for message 3. */
static int
forged_initiator(weft_noise_hs *resp, payload_fn make, const void *arg)
{
    weft_noise_xx xx;
    uint8_t s[32], pl[1024];
    randombytes_buf(s, sizeof s);
    cr_assert_eq(weft_noise_xx_init(&xx, 1, NULL, 0, s, NULL), 0);
    if (zero_static)
        memset(xx.s_pub, 0, sizeof xx.s_pub);
    weft_buf to_r, to_i;
    weft_buf_init(&to_r, NULL, 0, 0);
    weft_buf_init(&to_i, NULL, 0, 0);
    size_t used;
    core_write(&xx, NULL, 0, &to_r);
    cr_assert_eq(weft_noise_hs_input(resp, to_r.base, to_r.len, &used, &to_i), 0);
    weft_buf_reset(&to_r);
    core_read(&xx, &to_i);
    size_t n = make(pl, xx.s_pub, arg);
    core_write(&xx, pl, n, &to_r);
    int rc = weft_noise_hs_input(resp, to_r.base, to_r.len, &used, &to_i);
    cr_assert_eq(to_i.len, 0);
    weft_noise_xx_wipe(&xx);
    weft_buf_free(&to_r);
    weft_buf_free(&to_i);
    return rc;
}

/* The libp2p initiator hs meets a core responder whose message 2 carries the payload.
 * Returns hs_input's result for message 2; *sent_msg3 tells whether a reply went out. */
static int
forged_responder(weft_noise_hs *init, payload_fn make, const void *arg, int *sent_msg3)
{
    weft_noise_xx xx;
    uint8_t s[32], pl[1024];
    randombytes_buf(s, sizeof s);
    cr_assert_eq(weft_noise_xx_init(&xx, 0, NULL, 0, s, NULL), 0);
    if (zero_static)
        memset(xx.s_pub, 0, sizeof xx.s_pub);
    weft_buf to_r, to_i;
    weft_buf_init(&to_r, NULL, 0, 0);
    weft_buf_init(&to_i, NULL, 0, 0);
    size_t used;
    cr_assert_eq(weft_noise_hs_start(init, &to_r), 0);
    core_read(&xx, &to_r);
    size_t n = make(pl, xx.s_pub, arg);
    core_write(&xx, pl, n, &to_i);
    int rc = weft_noise_hs_input(init, to_i.base, to_i.len, &used, &to_r);
    *sent_msg3 = to_r.len != 0;
    weft_noise_xx_wipe(&xx);
    weft_buf_free(&to_r);
    weft_buf_free(&to_i);
    return rc;
}

typedef struct forge {
    const weft_identity *id;
    int mode;
} forge;

enum { F_GOOD, F_SIG_BIT, F_SIG_OTHER_KEY, F_NO_SIG, F_NO_KEY, F_SECP256K1, F_RSA, F_GARBAGE };

static size_t
make_forged(uint8_t *out, const uint8_t static_pub[32], const void *arg)
{
    const forge *f = arg;
    uint8_t key_pb[36], msg[56], sig[64];
    weft_pubkey_pb_encode(f->id->pk, key_pb);
    memcpy(msg, WEFT_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, static_pub, 32);
    if (f->mode == F_SIG_OTHER_KEY)
        msg[30] ^= 1;
    weft_sign(f->id, msg, sizeof msg, sig);
    if (f->mode == F_SIG_BIT)
        sig[17] ^= 0x10;
    uint8_t other[37] = {0x08, f->mode == F_RSA ? 0 : 2, 0x12, 33, 0x03};
    switch (f->mode) {
    case F_NO_SIG: return payload_with(out, key_pb, 36, NULL, 0, NULL, 0);
    case F_NO_KEY: return payload_with(out, NULL, 0, sig, 64, NULL, 0);
    case F_SECP256K1:
    case F_RSA: return payload_with(out, other, sizeof other, sig, 64, NULL, 0);
    case F_GARBAGE: memset(out, 0xff, 40); return 40;
    default: return payload_with(out, key_pb, 36, sig, 64, NULL, 0);
    }
}

Test(noise, forged_payloads_are_rejected)
{
    weft_identity us, them;
    ident(&us, 13);
    ident(&them, 14);
    static const struct {
        int mode;
        int want;
    } cases[] = {
        {F_GOOD, 0},
        {F_SIG_BIT, WEFT_EAUTH},
        {F_SIG_OTHER_KEY, WEFT_EAUTH},
        {F_NO_SIG, WEFT_EAUTH},
        {F_NO_KEY, WEFT_EPROTO},
        {F_SECP256K1, WEFT_ENOTSUP},
        {F_RSA, WEFT_ENOTSUP},
        {F_GARBAGE, WEFT_EPROTO},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        forge f = {&them, cases[c].mode};
        int want_rc = cases[c].want == 0 ? 1 : cases[c].want;

        weft_noise_hs *r = new_hs(0, &us, NULL);
        int rc = forged_initiator(r, make_forged, &f);
        cr_assert_eq(rc, want_rc, "message 3, case %d: %d %s", cases[c].mode, rc,
                     weft_strerror(rc));
        if (rc == 1) {
            uint8_t pk[32];
            cr_assert_eq(weft_noise_hs_remote(r, NULL, pk), 0);
            cr_assert(memcmp(pk, them.pk, 32) == 0);
        }
        weft_noise_hs_free(r);

        weft_noise_hs *i = new_hs(1, &us, NULL);
        int sent3 = -1;
        rc = forged_responder(i, make_forged, &f, &sent3);
        cr_assert_eq(rc, want_rc, "message 2, case %d: %d %s", cases[c].mode, rc,
                     weft_strerror(rc));
        /* Message 3 (our identity) goes out only to an authenticated responder. */
        cr_assert_eq(sent3, rc == 1);
        weft_noise_hs_free(i);
    }
}

Test(noise, low_order_static_key_fails)
{
    /* A peer whose s is the zero point, with a valid signature over it: es (initiator) and
     * se (responder) give an all-zero shared secret, which must end the handshake. */
    weft_identity us, them;
    ident(&us, 21);
    ident(&them, 22);
    forge f = {&them, F_GOOD};
    zero_static = 1;
    weft_noise_hs *r = new_hs(0, &us, NULL);
    cr_assert_eq(forged_initiator(r, make_forged, &f), WEFT_EAUTH);
    weft_noise_hs_free(r);
    weft_noise_hs *i = new_hs(1, &us, NULL);
    int sent3 = -1;
    cr_assert_eq(forged_responder(i, make_forged, &f, &sent3), WEFT_EAUTH);
    cr_assert_eq(sent3, 0);
    weft_noise_hs_free(i);
    zero_static = 0;
}

Test(noise, tampered_handshake_bytes_fail)
{
    weft_identity a, b;
    ident(&a, 15);
    ident(&b, 16);
    /* For each of the three messages and each byte of its body, flip one bit in flight:
     * the handshake must fail on one side and never complete on both. */
    for (int which = 0; which < 3; which++) {
        size_t tested = 0;
        for (size_t pos = 0;; pos++) {
            weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
            weft_buf m1, m2, m3, sink;
            weft_buf_init(&m1, NULL, 0, 0);
            weft_buf_init(&m2, NULL, 0, 0);
            weft_buf_init(&m3, NULL, 0, 0);
            weft_buf_init(&sink, NULL, 0, 0);
            size_t used;
            int ri = 0, rr = 0, stop = 0;
            cr_assert_eq(weft_noise_hs_start(i, &m1), 0);
            weft_buf *msgs[3] = {&m1, &m2, &m3};
            for (int step = 0; step < 3 && !stop; step++) {
                weft_buf *m = msgs[step];
                if (step == which) {
                    if (pos + 2 >= m->len) {
                        stop = 2; /* every byte done */
                        break;
                    }
                    m->base[2 + pos] ^= (uint8_t)(1 << (pos % 8));
                }
                if (step == 0)
                    rr = weft_noise_hs_input(r, m1.base, m1.len, &used, &m2);
                else if (step == 1)
                    ri = weft_noise_hs_input(i, m2.base, m2.len, &used, &m3);
                else
                    rr = weft_noise_hs_input(r, m3.base, m3.len, &used, &sink);
                if (ri < 0 || rr < 0)
                    stop = 1;
            }
            if (stop != 2) {
                cr_assert(ri < 0 || rr < 0, "message %d byte %zu: no failure (ri %d rr %d)",
                          which + 1, pos, ri, rr);
                cr_assert(ri != 1 || rr != 1);
                int e = ri < 0 ? ri : rr;
                cr_assert(e == WEFT_EAUTH || e == WEFT_EPROTO || e == WEFT_ENOTSUP,
                          "message %d byte %zu: %d", which + 1, pos, e);
                tested++;
            }
            weft_noise_hs_free(i);
            weft_noise_hs_free(r);
            weft_buf_free(&m1);
            weft_buf_free(&m2);
            weft_buf_free(&m3);
            weft_buf_free(&sink);
            if (stop == 2)
                break;
        }
        cr_assert_geq(tested, 32, "message %d: only %zu bytes tampered", which + 1, tested);
    }
}

Test(noise, truncated_frames_need_more)
{
    weft_identity a, b;
    ident(&a, 17);
    ident(&b, 18);
    weft_noise_hs *i = new_hs(1, &a, NULL), *r = new_hs(0, &b, NULL);
    weft_buf m1, m2, m3;
    weft_buf_init(&m1, NULL, 0, 0);
    weft_buf_init(&m2, NULL, 0, 0);
    weft_buf_init(&m3, NULL, 0, 0);
    size_t used = 99;
    cr_assert_eq(weft_noise_hs_start(i, &m1), 0);
    for (size_t n = 0; n < m1.len; n++) {
        cr_assert_eq(weft_noise_hs_input(r, m1.base, n, &used, &m2), 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(m2.len, 0);
    }
    cr_assert_eq(weft_noise_hs_input(r, m1.base, m1.len, &used, &m2), 0);
    cr_assert_eq(used, m1.len);
    for (size_t n = 0; n < m2.len; n++) {
        cr_assert_eq(weft_noise_hs_input(i, m2.base, n, &used, &m3), 0);
        cr_assert_eq(used, 0);
    }
    cr_assert_eq(weft_noise_hs_input(i, m2.base, m2.len, &used, &m3), 1);
    for (size_t n = 0; n < m3.len; n++)
        cr_assert_eq(weft_noise_hs_input(r, m3.base, n, &used, &m1), 0);
    cr_assert_eq(weft_noise_hs_input(r, m3.base, m3.len, &used, &m1), 1);

    /* Transport: every proper prefix of a frame opens nothing and consumes nothing. */
    weft_noise_session si, sr;
    cr_assert_eq(weft_noise_hs_split(i, &si, NULL), 0);
    cr_assert_eq(weft_noise_hs_split(r, &sr, NULL), 0);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"0123456789", 10, &w), 0);
    cr_assert_eq(weft_noise_seal(&si, (const uint8_t *)"abc", 3, &w), 0);
    for (size_t n = 0; n < 28; n++) {
        cr_assert_eq(weft_noise_open(&sr, w.base, n, &used, &plain), 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(plain.len, 0);
    }
    /* One whole frame and part of the next: only the first is consumed. */
    cr_assert_eq(weft_noise_open(&sr, w.base, w.len - 1, &used, &plain), 0);
    cr_assert_eq(used, 28);
    cr_assert_eq(plain.len, 10);
    cr_assert_eq(weft_noise_open(&sr, w.base + used, w.len - used, &used, &plain), 0);
    cr_assert_eq(plain.len, 13);
    cr_assert(memcmp(plain.base, "0123456789abc", 13) == 0);
    weft_noise_hs_free(i);
    weft_noise_hs_free(r);
    weft_buf_free(&m1);
    weft_buf_free(&m2);
    weft_buf_free(&m3);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

/* A session pair from the core with fixed keys (no libp2p payloads needed). */
static void
core_sessions(weft_noise_session *si, weft_noise_session *sr)
{
    weft_noise_xx a, b;
    uint8_t k[4][32], buf[256], pl[256];
    for (int j = 0; j < 4; j++)
        memset(k[j], 0x21 + j, 32);
    cr_assert_eq(weft_noise_xx_init(&a, 1, NULL, 0, k[0], k[1]), 0);
    cr_assert_eq(weft_noise_xx_init(&b, 0, NULL, 0, k[2], k[3]), 0);
    for (int m = 0; m < 3; m++) {
        weft_noise_xx *w = m == 1 ? &b : &a, *r = m == 1 ? &a : &b;
        int n = weft_noise_xx_write(w, NULL, 0, buf, sizeof buf);
        cr_assert_gt(n, 0);
        cr_assert_eq(weft_noise_xx_read(r, buf, (size_t)n, pl, sizeof pl), 0);
    }
    cr_assert_eq(weft_noise_xx_split(&a, si, NULL), 0);
    cr_assert_eq(weft_noise_xx_split(&b, sr, NULL), 0);
}

Test(noise, transport_bad_frames)
{
    weft_noise_session si, sr;
    core_sessions(&si, &sr);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;

    /* Frames shorter than a tag are malformed, even before their body arrives. */
    static const uint8_t short_frames[][2] = {{0, 0}, {0, 1}, {0, 15}};
    for (int s = 0; s < 3; s++) {
        weft_noise_session rx = sr;
        cr_assert_eq(weft_noise_open(&rx, short_frames[s], 2, &used, &plain), WEFT_EPROTO);
    }
    /* An empty plaintext frame (tag only) is fine. */
    uint8_t tag_only[18] = {0, 16};
    weft_noise_session tx = si;
    cr_assert_eq(weft_noise_cipher_encrypt(&tx.tx, NULL, 0, NULL, 0, tag_only + 2), 0);
    weft_noise_session rx = sr;
    cr_assert_eq(weft_noise_open(&rx, tag_only, 18, &used, &plain), 0);
    cr_assert_eq(used, 18);
    cr_assert_eq(plain.len, 0);
    cr_assert_eq(rx.rx.n, 1);

    /* A full-size frame of garbage fails authentication; partial stays pending. */
    uint8_t *big = calloc(1, WEFT_NOISE_FRAME_MAX);
    big[0] = 0xff;
    big[1] = 0xff;
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, big, WEFT_NOISE_FRAME_MAX - 1, &used, &plain), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_noise_open(&rx, big, WEFT_NOISE_FRAME_MAX, &used, &plain), WEFT_EAUTH);
    cr_assert_eq(used, 0);
    cr_assert_eq(rx.rx.n, 0);
    free(big);

    /* Good, then tampered: the first is delivered, the error reports the second. */
    tx = si;
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"one", 3, &w), 0);
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"two", 3, &w), 0);
    for (size_t pos = 0; pos < 21; pos++) {
        rx = sr;
        weft_buf_reset(&plain);
        w.base[21 + pos] ^= 0x04;
        int rc = weft_noise_open(&rx, w.base, w.len, &used, &plain);
        cr_assert(rc == WEFT_EAUTH || (pos < 2 && (rc == 0 || rc == WEFT_EPROTO)), "byte %zu: %d",
                  pos, rc);
        if (pos >= 2) {
            cr_assert_eq(used, 21);
            cr_assert_eq(plain.len, 3);
            cr_assert(memcmp(plain.base, "one", 3) == 0);
        }
        w.base[21 + pos] ^= 0x04;
    }
    /* Reordered frames fail: nonces are implicit. */
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, w.base + 21, 21, &used, &plain), WEFT_EAUTH);

    /* Output capped: open reports the buffer's error, seal is all-or-nothing. */
    uint8_t small[2];
    weft_buf tiny;
    weft_buf_init(&tiny, small, sizeof small, sizeof small);
    rx = sr;
    cr_assert_eq(weft_noise_open(&rx, w.base, w.len, &used, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(used, 0);
    tx = si;
    cr_assert_eq(weft_noise_seal(&tx, (const uint8_t *)"x", 1, &tiny), WEFT_ETOOBIG);
    cr_assert_eq(tx.tx.n, 0);
    cr_assert_eq(tiny.len, 0);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

Test(noise, transport_nonce_exhaustion)
{
    weft_noise_session si, sr;
    core_sessions(&si, &sr);
    weft_buf w, plain;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    size_t used;
    si.tx.n = sr.rx.n = UINT64_MAX - 2;
    /* Two frames left: a 2-frame message fits, a 3-frame one is refused whole. */
    uint8_t *m = calloc(1, 3 * WEFT_NOISE_PLAIN_MAX);
    cr_assert_eq(weft_noise_seal(&si, m, 2 * WEFT_NOISE_PLAIN_MAX + 1, &w), WEFT_ELIMIT);
    cr_assert_eq(w.len, 0);
    cr_assert_eq(si.tx.n, UINT64_MAX - 2);
    cr_assert_eq(weft_noise_seal(&si, m, 2 * WEFT_NOISE_PLAIN_MAX, &w), 0);
    cr_assert_eq(si.tx.n, UINT64_MAX);
    cr_assert_eq(weft_noise_seal(&si, m, 1, &w), WEFT_ELIMIT);
    cr_assert_eq(weft_noise_open(&sr, w.base, w.len, &used, &plain), 0);
    cr_assert_eq(plain.len, 2 * WEFT_NOISE_PLAIN_MAX);
    cr_assert_eq(sr.rx.n, UINT64_MAX);
    /* The receiver refuses to go further, whatever arrives. */
    uint8_t frame[18] = {0, 16};
    cr_assert_eq(weft_noise_open(&sr, frame, sizeof frame, &used, &plain), WEFT_ELIMIT);
    free(m);
    weft_buf_free(&w);
    weft_buf_free(&plain);
}

Test(noise, handshake_bad_frames)
{
    weft_identity a;
    ident(&a, 19);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    size_t used;

    /* Message 1 shorter than an ephemeral key, or empty. */
    uint8_t short1[2 + 31] = {0, 31};
    weft_noise_hs *r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, short1, sizeof short1, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);
    uint8_t empty[2] = {0, 0};
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, empty, 2, &used, &out), WEFT_EPROTO);
    cr_assert_eq(weft_noise_hs_input(r, empty, 2, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);

    /* A low-order ephemeral (all zeros): ee is zero, so the responder gives up. */
    uint8_t zero_e[2 + 32] = {0, 32};
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, zero_e, sizeof zero_e, &used, &out), WEFT_EAUTH);
    cr_assert_eq(out.len, 0);
    weft_noise_hs_free(r);

    /* A clear payload in message 1 is tolerated (and ignored). */
    uint8_t with_payload[2 + 40] = {0, 40};
    randombytes_buf(with_payload + 2, 40);
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    cr_assert_eq(used, sizeof with_payload);
    cr_assert_gt(out.len, 0);
    weft_noise_hs_free(r);

    /* The largest frame, full of garbage, as message 2 and as message 3. */
    uint8_t *big = malloc(WEFT_NOISE_FRAME_MAX);
    randombytes_buf(big, WEFT_NOISE_FRAME_MAX);
    big[0] = big[1] = 0xff;
    weft_noise_hs *i = new_hs(1, &a, NULL);
    cr_assert_eq(weft_noise_hs_start(i, &out), 0);
    cr_assert_eq(weft_noise_hs_input(i, big, WEFT_NOISE_FRAME_MAX - 1, &used, &out), 0);
    cr_assert_eq(weft_noise_hs_input(i, big, WEFT_NOISE_FRAME_MAX, &used, &out), WEFT_EAUTH);
    weft_noise_hs_free(i);
    r = new_hs(0, &a, NULL);
    weft_buf_reset(&out);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    cr_assert_eq(weft_noise_hs_input(r, big, WEFT_NOISE_FRAME_MAX, &used, &out), WEFT_EAUTH);
    weft_noise_hs_free(r);
    /* Message 3 too short to hold s and a tag. */
    r = new_hs(0, &a, NULL);
    cr_assert_eq(weft_noise_hs_input(r, with_payload, sizeof with_payload, &used, &out), 0);
    uint8_t short3[2 + 63] = {0, 63};
    cr_assert_eq(weft_noise_hs_input(r, short3, sizeof short3, &used, &out), WEFT_EPROTO);
    weft_noise_hs_free(r);
    free(big);
    weft_buf_free(&out);
}

Test(noise, garbage_never_crashes)
{
    uint64_t seed = test_seed();
    trng rng = {seed};
    weft_identity a;
    ident(&a, 20);
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    uint8_t buf[600];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = trng_next(&rng) % sizeof buf;
        trng_fill(&rng, buf, n);
        /* Keep frame lengths plausible half of the time so that bodies get parsed. */
        if (n >= 2 && iter % 2)
            buf[0] = 0, buf[1] = (uint8_t)(n - 2 > 255 ? 255 : n - 2);
        int initiator = iter % 3 == 0;
        weft_noise_hs *hs = new_hs(initiator, &a, NULL);
        if (initiator)
            cr_assert_eq(weft_noise_hs_start(hs, &out), 0);
        size_t used = 0;
        int rc = weft_noise_hs_input(hs, buf, n, &used, &out);
        cr_assert(rc == 0 || rc == WEFT_EAUTH || rc == WEFT_EPROTO, "rc %d" SEEDF, rc, seed);
        cr_assert_leq(used, n, SEEDF, seed);
        /* Never complete from garbage. */
        if (rc == 0 && used < n) {
            rc = weft_noise_hs_input(hs, buf + used, n - used, &used, &out);
            cr_assert(rc <= 0, "completed on garbage" SEEDF, seed);
        }
        weft_noise_hs_free(hs);
        weft_buf_reset(&out);
    }
    weft_buf_free(&out);
}
