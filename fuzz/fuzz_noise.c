/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_noise: the libp2p Noise engines (weft/noise.h) on hostile bytes. The
 * first input byte picks a mode (modulo 7), the next ones parameters:
 *
 *   0  raw responder: the rest is handshake input, delivered in pieces of
 *      byte 1 bytes (0 = at once) through a pending buffer, as a caller does;
 *   1  raw initiator, after weft_noise_hs_start, likewise;
 *   2  raw transport: the rest goes to weft_noise_open on a session from a
 *      fixed in-memory handshake (core, fixed keys), in pieces of byte 1;
 *   3  seal/open round trip: 1..4 plaintexts (under 16 KiB, or across a
 *      frame boundary; bytes from the input) sealed, then one mutation (none,
 *      bit flip, truncation, 16-bit overwrite) of the wire, then opened in
 *      pieces;
 *   4  live responder: a core initiator completes messages 1 and 2 with it
 *      and sends message 3 whose payload comes from the input;
 *   5  live initiator: a core responder answers message 1 with a message 2
 *      whose payload comes from the input;
 *   6  weft_noise_payload_verify on a payload from the input.
 *
 * Payloads (modes 4-6): byte 1 bit 0 prepends a genuine identity_key and
 * identity_sig for the core's static key (bit 1: signed over the wrong key),
 * so the fuzzer reaches the extension parser and field overriding without
 * forging Ed25519; the rest of the input is appended as raw protobuf.
 *
 * Checks (assertions stay on in release): no crash or out-of-bounds read
 * (inputs sit in exact-size heap copies); returns are 0/1 or an expected
 * error; *consumed never passes the input and leaves only a partial frame;
 * errors are sticky; raw bytes never complete a handshake or open a frame
 * (both would need a forged tag); whatever open returns is always a prefix
 * of what was sealed; a completed handshake names the peer its payload
 * names and its session works both ways.
 *
 * libsodium's random source is replaced by a deterministic one reset for
 * every input, so an input replays the same keys and the same path.
 */
#include <sodium.h>

#include "fuzz_util.h"
#include "noise_internal.h"
#include "weft/noise.h"
#include "weft/pb.h"

/* ---- deterministic randombytes ------------------------------------------------------------ */

static uint64_t rnd_counter;

static void
rnd_buf(void *buf, size_t n)
{
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    uint64_t c = rnd_counter++;
    for (int i = 0; i < 8; i++)
        seed[i] = (uint8_t)(c >> (8 * i));
    randombytes_buf_deterministic(buf, n, seed);
}

static uint32_t
rnd_random(void)
{
    uint32_t v;
    rnd_buf(&v, sizeof v);
    return v;
}

static const char *
rnd_name(void)
{
    return "weft-fuzz-deterministic";
}

static randombytes_implementation rnd_impl = {
    .implementation_name = rnd_name,
    .random = rnd_random,
    .buf = rnd_buf,
};

/* ---- fixtures ----------------------------------------------------------------------------- */

static weft_identity id_us, id_them;
static weft_noise_session fixed_si, fixed_sr;
static const uint8_t core_static[32] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

static void
setup_once(void)
{
    static int ready;
    if (ready)
        return;
    /* Must precede sodium_init, which the library calls on first use. */
    FZ_CHECK(randombytes_set_implementation(&rnd_impl) == 0);
    FZ_CHECK(sodium_init() >= 0);
    uint8_t seed[32];
    memset(seed, 1, sizeof seed);
    weft_identity_from_seed(&id_us, seed);
    memset(seed, 2, sizeof seed);
    weft_identity_from_seed(&id_them, seed);

    /* A fixed session: the XX core with fixed static and ephemeral keys, empty payloads. */
    weft_noise_xx a, b;
    uint8_t k[4][32], msg[128], pl[128];
    for (int i = 0; i < 4; i++)
        memset(k[i], 0x30 + i, 32);
    FZ_CHECK(weft_noise_xx_init(&a, 1, NULL, 0, k[0], k[1]) == 0);
    FZ_CHECK(weft_noise_xx_init(&b, 0, NULL, 0, k[2], k[3]) == 0);
    for (int m = 0; m < 3; m++) {
        weft_noise_xx *w = m == 1 ? &b : &a, *r = m == 1 ? &a : &b;
        int n = weft_noise_xx_write(w, NULL, 0, msg, sizeof msg);
        FZ_CHECK(n > 0);
        FZ_CHECK(weft_noise_xx_read(r, msg, (size_t)n, pl, sizeof pl) == 0);
    }
    FZ_CHECK(weft_noise_xx_split(&a, &fixed_si, NULL) == 0);
    FZ_CHECK(weft_noise_xx_split(&b, &fixed_sr, NULL) == 0);
    weft_noise_xx_wipe(&a);
    weft_noise_xx_wipe(&b);
    ready = 1;
}

static int
hs_error_ok(int rc)
{
    return rc == WEFT_EPROTO || rc == WEFT_EAUTH || rc == WEFT_ENOTSUP;
}

/* After hs_input returned 0 with *used, what is left must be an incomplete frame. */
static void
check_partial(const uint8_t *p, size_t len)
{
    FZ_CHECK(len < 2 || ((size_t)p[0] << 8 | p[1]) > len - 2);
}

/* Feed in[0..len) to hs in pieces of chunk bytes (0: at once). Returns the last result. */
static int
feed_hs(weft_noise_hs *hs, const uint8_t *in, size_t len, size_t chunk, weft_buf *out)
{
    weft_buf pend;
    int rc = 0;
    weft_buf_init(&pend, NULL, 0, 0);
    for (size_t off = 0; off < len && rc == 0;) {
        size_t n = chunk && len - off > chunk ? chunk : len - off;
        FZ_CHECK(weft_buf_append(&pend, in + off, n) == 0);
        off += n;
        uint8_t *copy = fz_dup(pend.base, pend.len);
        size_t used = SIZE_MAX;
        rc = weft_noise_hs_input(hs, copy, pend.len, &used, out);
        free(copy);
        FZ_CHECK(used <= pend.len);
        if (rc < 0) {
            FZ_CHECK(hs_error_ok(rc));
            size_t again;
            FZ_CHECK(weft_noise_hs_input(hs, in, len, &again, out) == rc); /* sticky */
            break;
        }
        FZ_CHECK(rc == 0 || rc == 1);
        weft_buf_consume(&pend, used);
        if (rc == 0)
            check_partial(pend.base, pend.len);
    }
    weft_buf_free(&pend);
    return rc;
}

/* ---- modes -------------------------------------------------------------------------------- */

static void
raw_handshake(int initiator, fz_reader *r)
{
    size_t chunk = fz_u8(r);
    weft_noise_hs *hs;
    weft_buf out;
    int err;
    weft_buf_init(&out, NULL, 0, 0);
    hs = weft_noise_hs_new(initiator, &id_us, NULL, &err);
    FZ_CHECK(hs != NULL && err == 0);
    if (initiator)
        FZ_CHECK(weft_noise_hs_start(hs, &out) == 0);
    int rc = feed_hs(hs, r->p, r->n, chunk, &out);
    FZ_CHECK(rc != 1); /* message 3 / message 2 would need a forged tag */
    weft_noise_hs_free(hs);
    weft_buf_free(&out);
}

/* Open in[0..len) in pieces; returns the result and leaves the plaintext in plain. Each call
 * sees an exact-size copy of the pending bytes; at most 256 calls keep that linear. */
static int
feed_open(weft_noise_session *s, const uint8_t *in, size_t len, size_t chunk, weft_buf *plain)
{
    weft_buf pend;
    int rc = 0;
    weft_buf_init(&pend, NULL, 0, 0);
    if (chunk && chunk < len / 256 + 1)
        chunk = len / 256 + 1;
    for (size_t off = 0; off < len && rc == 0;) {
        size_t n = chunk && len - off > chunk ? chunk : len - off;
        FZ_CHECK(weft_buf_append(&pend, in + off, n) == 0);
        off += n;
        uint8_t *copy = fz_dup(pend.base, pend.len);
        size_t used = SIZE_MAX, before = plain->len;
        rc = weft_noise_open(s, copy, pend.len, &used, plain);
        free(copy);
        FZ_CHECK(used <= pend.len);
        /* Each consumed frame yields its length less the tag. */
        size_t frames = 0;
        for (size_t p = 0; p < used; frames++)
            p += 2 + ((size_t)pend.base[p] << 8 | pend.base[p + 1]);
        FZ_CHECK(plain->len - before == used - 18 * frames);
        if (rc < 0) {
            FZ_CHECK(rc == WEFT_EAUTH || rc == WEFT_EPROTO);
            break;
        }
        FZ_CHECK(rc == 0);
        weft_buf_consume(&pend, used);
        check_partial(pend.base, pend.len);
        if (pend.len >= 2)
            FZ_CHECK(((size_t)pend.base[0] << 8 | pend.base[1]) >= 16);
    }
    weft_buf_free(&pend);
    return rc;
}

static void
raw_open(fz_reader *r)
{
    size_t chunk = fz_u8(r);
    weft_noise_session s = fixed_sr;
    weft_buf plain;
    weft_buf_init(&plain, NULL, 0, 0);
    (void)feed_open(&s, r->p, r->n, chunk, &plain);
    FZ_CHECK(plain.len == 0); /* nothing authentic in raw bytes */
    weft_buf_free(&plain);
}

static void
round_trip(fz_reader *r)
{
    weft_noise_session tx = fixed_si, rx = fixed_sr;
    weft_buf wire, plain, orig;
    weft_buf_init(&wire, NULL, 0, 0);
    weft_buf_init(&plain, NULL, 0, 0);
    weft_buf_init(&orig, NULL, 0, 0);

    unsigned count = fz_u8(r) % 4 + 1;
    for (unsigned m = 0; m < count; m++) {
        /* Up to 16 KiB, or just past a frame boundary when the flag asks for it. */
        size_t len = (size_t)fz_u16(r) % 16384;
        if (fz_u8(r) & 1)
            len += WEFT_NOISE_PLAIN_MAX - 8192;
        size_t start = orig.len;
        if (len == 0)
            continue; /* sealing nothing writes nothing */
        FZ_CHECK(weft_buf_reserve(&orig, len) == 0);
        /* Bytes from the input, repeated when it runs short. */
        for (size_t i = 0; i < len; i++)
            orig.base[start + i] = r->n ? r->p[i % r->n] : (uint8_t)i;
        orig.len += len;
        FZ_CHECK(weft_noise_seal(&tx, orig.base + start, len, &wire) == 0);
    }
    unsigned op = fz_u8(r) % 4;
    uint32_t pos = fz_u32(r), val = fz_u16(r);
    size_t chunk = (size_t)fz_u16(r) % 70000 + 1;
    size_t wlen = wire.len;
    if (wlen > 0) {
        switch (op) {
        case 1: wire.base[pos % wlen] ^= (uint8_t)(1u << (val % 8)); break;
        case 2: wlen = pos % wlen; break;
        case 3:
            if (wlen >= 2) {
                wire.base[pos % (wlen - 1)] = (uint8_t)(val >> 8);
                wire.base[pos % (wlen - 1) + 1] = (uint8_t)val;
            }
            break;
        default: break;
        }
    }
    uint8_t *exact = fz_dup(wire.base, wlen);
    int rc = feed_open(&rx, exact, wlen, chunk, &plain);
    free(exact);
    /* Authenticity: only ever a prefix of what was sealed. */
    FZ_CHECK(plain.len <= orig.len);
    FZ_CHECK(plain.len == 0 || memcmp(plain.base, orig.base, plain.len) == 0);
    if (op == 0) {
        FZ_CHECK(rc == 0 && plain.len == orig.len);
    } else if (op == 2) {
        FZ_CHECK(rc == 0);
    }
    weft_buf_free(&wire);
    weft_buf_free(&plain);
    weft_buf_free(&orig);
}

/* A NoiseHandshakePayload from the input, for the core peer whose static key is spub. */
static size_t
build_payload(fz_reader *r, const uint8_t spub[32], uint8_t *out, size_t cap)
{
    unsigned flags = fz_u8(r);
    size_t n = 0;
    if (flags & 1) {
        uint8_t key[32];
        memcpy(key, spub, 32);
        if (flags & 2)
            key[0] ^= 1;
        int rc = weft_noise_payload_encode(&id_them, key, 0, out, cap);
        FZ_CHECK(rc > 0);
        n = (size_t)rc;
    }
    size_t extra = r->n < cap - n ? r->n : cap - n;
    if (extra)
        memcpy(out + n, r->p, extra);
    return n + extra;
}

/* Frame a core message into out. */
static void
core_write(weft_noise_xx *xx, const uint8_t *pl, size_t plen, weft_buf *out)
{
    size_t n = weft_noise_xx_write_len(xx, plen);
    FZ_CHECK(weft_buf_reserve(out, n + 2) == 0);
    FZ_CHECK(weft_noise_xx_write(xx, pl, plen, out->base + out->len + 2, n) == (int)n);
    out->base[out->len] = (uint8_t)(n >> 8);
    out->base[out->len + 1] = (uint8_t)n;
    out->len += n + 2;
}

static void
core_read(weft_noise_xx *xx, weft_buf *in)
{
    FZ_CHECK(in->len >= 2);
    size_t n = (size_t)in->base[0] << 8 | in->base[1];
    FZ_CHECK(in->len == n + 2);
    uint8_t *pl = malloc(n + 1);
    FZ_CHECK(pl != NULL);
    FZ_CHECK(weft_noise_xx_read(xx, in->base + 2, n, pl, n) >= 0);
    free(pl);
    weft_buf_reset(in);
}

/* A completed handshake: the peer is the one its payload names, the session works. */
static void
check_complete(weft_noise_hs *hs, weft_noise_xx *core, const uint8_t *pl, size_t plen)
{
    weft_noise_remote want;
    weft_noise_session s, cs;
    weft_peer_id peer;
    FZ_CHECK(weft_noise_payload_verify(pl, plen, core->s_pub, &want) == 0);
    FZ_CHECK(weft_noise_hs_split(hs, &s, &peer) == 0);
    FZ_CHECK(weft_peer_id_equal(&peer, &want.peer));
    FZ_CHECK(weft_noise_hs_remote_muxers(hs) == want.muxers);
    FZ_CHECK(weft_noise_xx_split(core, &cs, NULL) == 0);

    weft_buf w, p;
    size_t used;
    weft_buf_init(&w, NULL, 0, 0);
    weft_buf_init(&p, NULL, 0, 0);
    FZ_CHECK(weft_noise_seal(&s, pl, plen, &w) == 0);
    FZ_CHECK(weft_noise_open(&cs, w.base, w.len, &used, &p) == 0);
    FZ_CHECK(used == w.len && p.len == plen && (plen == 0 || memcmp(p.base, pl, plen) == 0));
    weft_buf_reset(&w);
    weft_buf_reset(&p);
    FZ_CHECK(weft_noise_seal(&cs, (const uint8_t *)"pong", 4, &w) == 0);
    FZ_CHECK(weft_noise_open(&s, w.base, w.len, &used, &p) == 0);
    FZ_CHECK(p.len == 4 && memcmp(p.base, "pong", 4) == 0);
    weft_buf_free(&w);
    weft_buf_free(&p);
    weft_noise_session_wipe(&s);
    weft_noise_session_wipe(&cs);
}

static void
live(int hs_initiator, fz_reader *r)
{
    weft_noise_xx core;
    weft_noise_hs *hs;
    weft_buf to_hs, from_hs;
    uint8_t pl[2048];
    size_t used;
    int err, rc;

    weft_buf_init(&to_hs, NULL, 0, 0);
    weft_buf_init(&from_hs, NULL, 0, 0);
    hs = weft_noise_hs_new(hs_initiator, &id_us, NULL, &err);
    FZ_CHECK(hs != NULL);
    FZ_CHECK(weft_noise_xx_init(&core, !hs_initiator, NULL, 0, core_static, NULL) == 0);
    size_t plen = build_payload(r, core.s_pub, pl, sizeof pl);
    if (hs_initiator) {
        FZ_CHECK(weft_noise_hs_start(hs, &from_hs) == 0);
        core_read(&core, &from_hs);
        core_write(&core, pl, plen, &to_hs);
    } else {
        core_write(&core, NULL, 0, &to_hs);
        FZ_CHECK(weft_noise_hs_input(hs, to_hs.base, to_hs.len, &used, &from_hs) == 0);
        weft_buf_reset(&to_hs);
        core_read(&core, &from_hs);
        core_write(&core, pl, plen, &to_hs);
    }
    uint8_t *exact = fz_dup(to_hs.base, to_hs.len);
    rc = weft_noise_hs_input(hs, exact, to_hs.len, &used, &from_hs);
    free(exact);
    if (rc == 1) {
        FZ_CHECK(used == to_hs.len);
        if (hs_initiator)
            core_read(&core, &from_hs); /* message 3 */
        check_complete(hs, &core, pl, plen);
    } else {
        FZ_CHECK(hs_error_ok(rc));
        FZ_CHECK(from_hs.len == 0); /* no message 3 to an unauthenticated responder */
        weft_noise_remote ignored;
        FZ_CHECK(weft_noise_payload_verify(pl, plen, core.s_pub, &ignored) == rc);
    }
    weft_noise_xx_wipe(&core);
    weft_noise_hs_free(hs);
    weft_buf_free(&to_hs);
    weft_buf_free(&from_hs);
}

static void
payload_only(fz_reader *r)
{
    uint8_t spub[32], pl[2048];
    weft_noise_remote rem;
    crypto_scalarmult_base(spub, core_static);
    size_t plen = build_payload(r, spub, pl, sizeof pl);
    uint8_t *exact = fz_dup(pl, plen);
    int rc = weft_noise_payload_verify(exact, plen, spub, &rem);
    free(exact);
    FZ_CHECK(rc == 0 || hs_error_ok(rc));
    if (rc == 0) {
        weft_peer_id p;
        weft_peer_id_from_pubkey(rem.identity_pk, &p);
        FZ_CHECK(weft_peer_id_equal(&p, &rem.peer));
        FZ_CHECK(!(rem.muxers & WEFT_NOISE_REMOTE_YAMUX) ||
                 (rem.muxers & WEFT_NOISE_REMOTE_LISTED_MUXERS));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    rnd_counter = 0;
    fz_reader r = {data, size};
    switch (fz_u8(&r) % 7) {
    case 0: raw_handshake(0, &r); break;
    case 1: raw_handshake(1, &r); break;
    case 2: raw_open(&r); break;
    case 3: round_trip(&r); break;
    case 4: live(0, &r); break;
    case 5: live(1, &r); break;
    default: payload_only(&r); break;
    }
    return 0;
}
