/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The coding layer above the kernels, through the public API only: the
 * version-1 shard format (parse, header writing, every malformed case and
 * its WEFT_E* code, no read past the end), piece sizing, the encoder
 * (random, systematic, borrowed message, batch, caller-chosen vectors,
 * seeding), the RNG (reference xoshiro256**, never an all-zero vector), the
 * progressive decoder (round trips for every k in 1..64 and large ones,
 * random subsets, redundancy detection that leaves the state alone, invalid
 * shards, reset) and recoding, including decoding from recoded shards only
 * after two hops that recode while still partial.
 *
 * Every payload is checked against an independent model: a shift-and-add
 * multiply applied to the zero-padded pieces. ctest runs this file once per
 * WEFT_GF_IMPL; tests skip when the CPU lacks the named implementation.
 */
#include <errno.h>

#include "testutil.h"

#define SEEDF " [seed=%" PRIu64 "]"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_ASAN 1
#endif
#endif
#ifdef WEFT_TEST_ASAN
/* Let huge allocations fail with NULL as they do without ASan, so that
 * decoder_too_big can check the error path. ASAN_OPTIONS still overrides. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static void
codec_setup(void)
{
    require_env_impl();
    oracle_from_slow();
}

/* ---- helpers ------------------------------------------------------------------- */

static uint8_t *
random_msg(trng *r, size_t len)
{
    uint8_t *m = malloc(len + 1);
    cr_assert(m, "out of memory for a %zu-byte message", len);
    trng_fill(r, m, len);
    return m;
}

static weft_encoder *
new_enc(const void *msg, size_t len, uint32_t k, uint32_t piece, unsigned flags, uint64_t es,
        uint64_t seed)
{
    int err = 1;
    weft_encoder *e = weft_enc_new(msg, len, k, piece, flags, es, &err);
    cr_assert(e, "weft_enc_new(len %zu, k %u, piece %u, flags %u) failed: %d %s" SEEDF, len, k,
              piece, flags, err, weft_strerror(err), seed);
    return e;
}

static weft_decoder *
new_dec(const weft_gen *g, uint64_t seed)
{
    int err = 1;
    weft_decoder *d = weft_dec_new(g, &err);
    cr_assert(d, "weft_dec_new(k %u, piece %u, len %u) failed: %d %s" SEEDF, g->k, g->piece_size,
              g->message_len, err, weft_strerror(err), seed);
    return d;
}

static int
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/*
 * Parse a shard and check it against the message: header equal to gen,
 * coefficient vector not all zero, payload equal to the combination of the
 * zero-padded pieces its vector names.
 */
static void
check_shard(const uint8_t *shard, size_t size, const weft_gen *g, const uint8_t *msg,
            const char *what, uint64_t seed)
{
    weft_shard_view v;
    int rc = weft_shard_parse(shard, size, &v);
    cr_assert_eq(rc, 0, "%s: emitted shard does not parse: %s" SEEDF, what, weft_strerror(rc),
                 seed);
    cr_assert(v.gen.k == g->k && v.gen.piece_size == g->piece_size &&
                  v.gen.message_len == g->message_len,
              "%s: shard header (k %u, piece %u, len %u) differs from the generation" SEEDF, what,
              v.gen.k, v.gen.piece_size, v.gen.message_len, seed);
    cr_assert(v.coefs == shard + WEFT_SHARD_HDR && v.payload == shard + WEFT_SHARD_HDR + g->k,
              "%s: view pointers do not point into the shard" SEEDF, what, seed);
    cr_assert(!all_zero(v.coefs, g->k), "%s: all-zero coefficient vector" SEEDF, what, seed);
    uint8_t *want = malloc(g->piece_size), *tmp = malloc(g->piece_size);
    expected_payload(msg, g->message_len, g->k, g->piece_size, v.coefs, want, tmp);
    long bad = first_diff(v.payload, want, g->piece_size);
    cr_assert(bad < 0,
              "%s: payload byte %ld is 0x%02x, the coefficients say 0x%02x (k %u, piece %u)" SEEDF,
              what, bad, bad < 0 ? 0 : v.payload[bad], bad < 0 ? 0 : want[bad], g->k, g->piece_size,
              seed);
    free(want);
    free(tmp);
}

static void
check_message(weft_decoder *d, const uint8_t *msg, size_t len, const char *what, uint64_t seed)
{
    size_t got_len = (size_t)-1;
    cr_assert(weft_dec_complete(d), "%s: decoder not complete (rank %u of %u)" SEEDF, what,
              weft_dec_rank(d), weft_dec_gen(d)->k, seed);
    const uint8_t *out = weft_dec_message(d, &got_len);
    cr_assert(out, "%s: weft_dec_message() is NULL at full rank" SEEDF, what, seed);
    cr_assert_eq(got_len, len, "%s: decoded length %zu, want %zu" SEEDF, what, got_len, len, seed);
    long bad = first_diff(out, msg, len);
    cr_assert(bad < 0, "%s: decoded byte %ld is 0x%02x, want 0x%02x (len %zu)" SEEDF, what, bad,
              bad < 0 ? 0 : out[bad], bad < 0 ? 0 : msg[bad], len, seed);
}

/*
 * Encode msg and push shards as they come until the decoder is complete.
 * Checks the rank after every push and that the message stays hidden until
 * rank k. Returns the number of shards pushed.
 */
static size_t
roundtrip(const uint8_t *msg, size_t len, uint32_t k, uint32_t piece, unsigned flags, uint64_t es,
          int check_payloads, uint64_t seed)
{
    char what[96];
    snprintf(what, sizeof(what), "round trip len %zu k %u piece %u flags %u", len, k, piece, flags);
    weft_encoder *e = new_enc(msg, len, k, piece, flags, es, seed);
    const weft_gen *g = weft_enc_gen(e);
    uint32_t want_piece = piece ? piece : weft_piece_size_for(len, k);
    cr_assert(g->k == k && g->message_len == len && g->piece_size == want_piece,
              "%s: encoder generation (k %u, piece %u, len %u), want piece %u" SEEDF, what, g->k,
              g->piece_size, g->message_len, want_piece, seed);
    size_t ss = weft_shard_size(g);
    cr_assert_eq(ss, (size_t)WEFT_SHARD_HDR + k + g->piece_size, "%s: shard size %zu" SEEDF, what,
                 ss, seed);
    uint8_t *buf = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    uint32_t innovative = 0;
    size_t pushed = 0;
    while (!weft_dec_complete(d)) {
        cr_assert(pushed < (size_t)k + 40, "%s: %zu shards pushed, rank still %u" SEEDF, what,
                  pushed, weft_dec_rank(d), seed);
        cr_assert_null(weft_dec_message(d, NULL), "%s: message available at rank %u" SEEDF, what,
                       weft_dec_rank(d), seed);
        int n = weft_enc_next(e, buf, ss);
        cr_assert_eq(n, (int)ss, "%s: weft_enc_next returned %d" SEEDF, what, n, seed);
        if (check_payloads)
            check_shard(buf, ss, g, msg, what, seed);
        int rc = weft_dec_push(d, buf, ss);
        cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT,
                  "%s: push %zu returned %d (%s)" SEEDF, what, pushed, rc, weft_strerror(rc), seed);
        /* The decoder only borrows the buffer. */
        memset(buf, 0xA5, ss);
        innovative += rc == WEFT_DEC_INNOVATIVE;
        pushed++;
        cr_assert_eq(weft_dec_rank(d), innovative, "%s: rank %u after %u innovative" SEEDF, what,
                     weft_dec_rank(d), innovative, seed);
    }
    cr_assert_eq(innovative, k, "%s: complete after %u innovative shards" SEEDF, what, innovative,
                 seed);
    check_message(d, msg, len, what, seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(buf);
    return pushed;
}

/* A valid shard of gen with the given coefficients and a random payload. */
static uint8_t *
forge_shard(const weft_gen *g, const uint8_t *coefs, trng *r)
{
    size_t ss = (size_t)WEFT_SHARD_HDR + g->k + g->piece_size;
    uint8_t *s = malloc(ss);
    int rc = weft_shard_write_header(s, ss, g);
    cr_assert_eq(rc, WEFT_SHARD_HDR, "write_header = %d", rc);
    memcpy(s + WEFT_SHARD_HDR, coefs, g->k);
    trng_fill(r, s + WEFT_SHARD_HDR + g->k, g->piece_size);
    return s;
}

/* ---- shard format ------------------------------------------------------------------- */

/* 3 pieces of 7 bytes, coefficients {1, 2, 0x8e}; payload computed offline
 * with an independent GF(2^8) implementation. */
static const char kat_msg[] = "weft: network coding!";
static const uint8_t kat_shard[] = {
    0x01, 0x01, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, /* header */
    0x01, 0x02, 0x8e,                                                       /* coefs */
    0x02, 0x34, 0xba, 0x10, 0xe9, 0x4b, 0xb0,                               /* payload */
};

Test(shard, write_header_layout, .init = codec_setup)
{
    weft_gen g = {.k = 0x0102, .piece_size = 0x03040506, .message_len = 0x0708090A};
    static const uint8_t want[12] = {1,    1,    0x02, 0x01, 0x06, 0x05,
                                     0x04, 0x03, 0x0A, 0x09, 0x08, 0x07};
    uint8_t buf[16];
    memset(buf, 0xEE, sizeof(buf));
    int rc = weft_shard_write_header(buf, sizeof(buf), &g);
    cr_assert_eq(rc, 12, "weft_shard_write_header = %d, want 12", rc);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(buf[i], want[i], "header byte %d = 0x%02x, want 0x%02x", i, buf[i], want[i]);
    for (int i = 12; i < 16; i++)
        cr_assert_eq(buf[i], 0xEE, "byte %d past the header was written", i);

    memset(buf, 0xEE, sizeof(buf));
    rc = weft_shard_write_header(buf, 11, &g);
    cr_assert_eq(rc, WEFT_ENOSPC, "cap 11: %d, want WEFT_ENOSPC", rc);
    cr_assert_eq(buf[11], 0xEE, "cap 11: wrote past the capacity");

    static const struct {
        weft_gen g;
        int err;
    } bad[] = {
        {{0, 10, 0}, WEFT_EK},
        {{1025, 10, 0}, WEFT_EK},
        {{4, 0, 0}, WEFT_EPIECE},
        {{4, 10, 41}, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = weft_shard_write_header(buf, sizeof(buf), &bad[i].g);
        cr_assert_eq(rc, bad[i].err, "header for (k %u, piece %u, len %u) = %d, want %d",
                     bad[i].g.k, bad[i].g.piece_size, bad[i].g.message_len, rc, bad[i].err);
    }
}

Test(shard, size_and_gen_check, .init = codec_setup)
{
    weft_gen g = {.k = 1024, .piece_size = 4096, .message_len = 1024u * 4096u};
    cr_assert_eq(weft_shard_size(&g), (size_t)12 + 1024 + 4096, "shard size %zu",
                 weft_shard_size(&g));
    g = (weft_gen){1, 1, 0};
    cr_assert_eq(weft_shard_size(&g), (size_t)14, "shard size %zu", weft_shard_size(&g));

    static const struct {
        weft_gen g;
        int err;
    } cases[] = {
        {{1, 1, 0}, 0},
        {{1, 1, 1}, 0},
        {{1, 1, 2}, WEFT_EMSGLEN},
        {{1024, 1, 1024}, 0},
        {{1024, 1, 1025}, WEFT_EMSGLEN},
        {{0, 1, 0}, WEFT_EK},
        {{1025, 1, 0}, WEFT_EK},
        {{UINT32_MAX, 1, 0}, WEFT_EK},
        {{7, 0, 0}, WEFT_EPIECE},
        /* k * piece_size beyond 32 bits must not wrap. */
        {{2, 0x80000000u, 0xFFFFFFFFu}, 0},
        {{3, 0x80000000u, 0xFFFFFFFFu}, 0},
        {{1024, 0x00400001u, 0xFFFFFFFFu}, 0},
        {{1, 0xFFFFFFFFu, 0xFFFFFFFFu}, 0},
        {{1, 0xFFFFFFFEu, 0xFFFFFFFFu}, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = weft_gen_check(&cases[i].g);
        cr_assert_eq(rc, cases[i].err, "weft_gen_check(k %u, piece %u, len %u) = %d, want %d",
                     cases[i].g.k, cases[i].g.piece_size, cases[i].g.message_len, rc, cases[i].err);
    }
}

Test(shard, parse_known_answer, .init = codec_setup)
{
    weft_shard_view v;
    int rc = weft_shard_parse(kat_shard, sizeof(kat_shard), &v);
    cr_assert_eq(rc, 0, "parse of the known shard: %d %s", rc, weft_strerror(rc));
    cr_assert(v.gen.k == 3 && v.gen.piece_size == 7 && v.gen.message_len == 21,
              "parsed k %u piece %u len %u", v.gen.k, v.gen.piece_size, v.gen.message_len);
    cr_assert_eq(v.coefs, kat_shard + 12, "coefs do not point at offset 12");
    cr_assert_eq(v.payload, kat_shard + 15, "payload does not point at offset 12 + k");
}

Test(shard, encoder_matches_known_answer, .init = codec_setup)
{
    int err = 0;
    weft_encoder *e = weft_enc_new(kat_msg, 21, 3, 0, 0, 1, &err);
    cr_assert(e, "weft_enc_new: %s", weft_strerror(err));
    uint8_t out[sizeof(kat_shard) + 4];
    memset(out, 0xEE, sizeof(out));
    static const uint8_t coefs[3] = {0x01, 0x02, 0x8e};
    int n = weft_enc_with(e, coefs, out, sizeof(out));
    cr_assert_eq(n, (int)sizeof(kat_shard), "weft_enc_with returned %d", n);
    for (size_t i = 0; i < sizeof(kat_shard); i++)
        cr_assert_eq(out[i], kat_shard[i], "shard byte %zu = 0x%02x, want 0x%02x", i, out[i],
                     kat_shard[i]);
    for (size_t i = sizeof(kat_shard); i < sizeof(out); i++)
        cr_assert_eq(out[i], 0xEE, "byte %zu past the shard was written", i);
    weft_enc_free(e);
}

/* A valid shard of (k 5, piece 9, len 40) into which each case writes one
 * fault; only that field is wrong, so the expected code is unambiguous. */
#define PK 5
#define PP 9
#define PLEN (12 + PK + PP)

static void
valid_shard(uint8_t *s)
{
    s[0] = 1;
    s[1] = 1;
    put_le16(s + 2, PK);
    put_le32(s + 4, PP);
    put_le32(s + 8, 40);
    for (int i = 0; i < PK + PP; i++)
        s[12 + i] = (uint8_t)(i * 29 + 3);
}

/* Parse buf[0..len) placed flush against an unmapped page. */
static int
parse_at_edge(const uint8_t *buf, size_t len, weft_shard_view *out)
{
    edgebuf eb;
    edgebuf_init(&eb, len);
    memcpy(eb.p, buf, len);
    int rc = weft_shard_parse(eb.p, len, out);
    if (rc == 0) {
        /* Keep the view valid for the caller: point it back into buf. */
        out->coefs = buf + (out->coefs - eb.p);
        out->payload = buf + (out->payload - eb.p);
    }
    edgebuf_free(&eb);
    return rc;
}

static void
expect_parse_error(const uint8_t *buf, size_t len, int want, const char *what)
{
    weft_shard_view v, before;
    memset(&v, 0x5C, sizeof(v));
    memcpy(&before, &v, sizeof(v));
    int rc = parse_at_edge(buf, len, &v);
    cr_assert_eq(rc, want, "%s (len %zu): parse returned %d (%s), want %d (%s)", what, len, rc,
                 weft_strerror(rc), want, weft_strerror(want));
    cr_assert(memcmp(&v, &before, sizeof(v)) == 0, "%s: *out modified on error", what);
}

Test(shard, parse_rejects_malformed, .init = codec_setup)
{
    uint8_t s[PLEN + 2048];
    weft_shard_view v;
    valid_shard(s);
    cr_assert_eq(parse_at_edge(s, PLEN, &v), 0, "the base shard must parse");
    cr_assert(v.gen.k == PK && v.gen.piece_size == PP && v.gen.message_len == 40,
              "base shard fields");

    /* Below the header size, whatever the bytes say. */
    for (size_t len = 0; len < 12; len++)
        expect_parse_error(s, len, WEFT_ETRUNC, "shorter than the header");
    /* Header fine, body one byte short or long, or absent. */
    expect_parse_error(s, 12, WEFT_ETRUNC, "header only");
    expect_parse_error(s, PLEN - 1, WEFT_ETRUNC, "one byte short");
    expect_parse_error(s, 12 + PK, WEFT_ETRUNC, "payload missing");
    valid_shard(s);
    s[PLEN] = 0;
    expect_parse_error(s, PLEN + 1, WEFT_ETRUNC, "one byte long");

    valid_shard(s);
    s[0] = 2;
    expect_parse_error(s, PLEN, WEFT_EVERSION, "version 2");
    s[0] = 0;
    expect_parse_error(s, PLEN, WEFT_EVERSION, "version 0");
    s[0] = 0xFF;
    expect_parse_error(s, PLEN, WEFT_EVERSION, "version 255");

    valid_shard(s);
    s[1] = 0;
    expect_parse_error(s, PLEN, WEFT_EFIELD, "field 0");
    s[1] = 2;
    expect_parse_error(s, PLEN, WEFT_EFIELD, "field 2");

    /* k = 0 with a length that is consistent for k = 0. */
    valid_shard(s);
    put_le16(s + 2, 0);
    put_le32(s + 8, 0);
    expect_parse_error(s, 12 + PP, WEFT_EK, "k = 0");

    /* k = 1025 with a consistent length. */
    uint8_t *big = calloc(1, 12 + 1025 + PP);
    valid_shard(big);
    put_le16(big + 2, 1025);
    big[12] = 1;
    expect_parse_error(big, 12 + 1025 + PP, WEFT_EK, "k = 1025");
    free(big);
    big = calloc(1, 12 + 0xFFFF + PP);
    valid_shard(big);
    put_le16(big + 2, 0xFFFF);
    big[12] = 1;
    expect_parse_error(big, 12 + 0xFFFF + PP, WEFT_EK, "k = 65535");
    free(big);

    /* piece_size = 0 with a consistent length and message_len 0. */
    valid_shard(s);
    put_le32(s + 4, 0);
    put_le32(s + 8, 0);
    expect_parse_error(s, 12 + PK, WEFT_EPIECE, "piece_size = 0");

    /* message_len = k * piece_size + 1. */
    valid_shard(s);
    put_le32(s + 8, PK * PP + 1);
    expect_parse_error(s, PLEN, WEFT_EMSGLEN, "message_len = k*piece + 1");
    put_le32(s + 8, 0xFFFFFFFFu);
    expect_parse_error(s, PLEN, WEFT_EMSGLEN, "message_len = 2^32 - 1");
    put_le32(s + 8, PK * PP);
    cr_assert_eq(parse_at_edge(s, PLEN, &v), 0, "message_len = k*piece exactly must parse");
    put_le32(s + 8, 0);
    cr_assert_eq(parse_at_edge(s, PLEN, &v), 0, "message_len = 0 must parse");

    /* Sizes near the top of the ranges: 12 + k + piece_size must not wrap.
     * For len 12..16 these piece sizes make the 32-bit sum equal len. */
    valid_shard(s);
    put_le32(s + 8, 0);
    put_le32(s + 4, 0xFFFFFFFFu);
    expect_parse_error(s, PLEN, WEFT_ETRUNC, "piece_size 2^32-1 in a short buffer");
    for (uint32_t len = 12; len <= 16; len++) {
        put_le32(s + 4, 0xFFFFFFFFu - (16 - len));
        expect_parse_error(s, len, WEFT_ETRUNC, "piece_size that wraps 12 + k + piece to len");
    }
}

Test(shard, parse_never_reads_past_the_end, .init = codec_setup)
{
    /* Every prefix of a valid shard, each flush against an unmapped page. */
    uint8_t s[PLEN];
    valid_shard(s);
    weft_shard_view v;
    for (size_t len = 0; len < PLEN; len++) {
        int rc = parse_at_edge(s, len, &v);
        cr_assert_eq(rc, WEFT_ETRUNC, "prefix of %zu bytes: %d", len, rc);
    }
    cr_assert_eq(parse_at_edge(s, PLEN, &v), 0, "full shard must parse");
    cr_assert_eq(v.coefs[0], s[12], "coefs content");
    cr_assert_eq(v.payload[PP - 1], s[PLEN - 1], "payload content");
}

Test(shard, piece_size_for, .init = codec_setup)
{
    static const struct {
        size_t len;
        uint32_t k, want;
    } kat[] = {
        {0, 1, 1},           {0, 1024, 1},          {1, 1, 1},
        {1, 1024, 1},        {1025, 1024, 2},       {10, 1, 10},
        {64 * 9, 9, 64},     {500 * 4, 4, 500},     {1000 * 3, 3, 1000},
        {3000 * 7, 7, 3008}, {1000000, 10, 100032}, {1000001, 10, 100032},
        {100000, 1, 100032}, {65, 1, 65},           {12801, 1, 12864},
        /* a multiple of 4 KiB gets one more cache line (L1 set aliasing) */
        {1048576, 16, 65600}, {4096 * 4, 4, 4160},  {8192 * 64, 64, 8256},
    };
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint32_t got = weft_piece_size_for(kat[i].len, kat[i].k);
        cr_assert_eq(got, kat[i].want, "weft_piece_size_for(%zu, %u) = %u, want %u", kat[i].len,
                     kat[i].k, got, kat[i].want);
    }

    uint64_t seed = test_seed();
    trng r = {seed};
    for (int i = 0; i < 20000; i++) {
        uint32_t k = 1 + (uint32_t)trng_below(&r, 1024);
        size_t len = (size_t)(trng_next(&r) >> (34 + trng_below(&r, 30)));
        uint32_t p = weft_piece_size_for(len, k);
        uint64_t ceil = len ? (len + k - 1) / k : 1;
        uint64_t base = (ceil + 63) / 64 * 64; /* the cost rule looks at this */
        uint64_t up = base % 4096 == 0 ? base + 64 : base;
        cr_assert((uint64_t)p * k >= len && p >= ceil,
                  "piece %u for len %zu, k %u does not hold the message" SEEDF, p, len, k, seed);
        cr_assert(p == ceil || p == up,
                  "piece %u for len %zu, k %u: neither ceil %" PRIu64 " nor %" PRIu64 SEEDF, p, len,
                  k, ceil, up, seed);
        /* Clearly cheap (< 0.5%) rounding happens; clearly dear (> 2%) does not. */
        cr_assert(p == ceil || p % 4096 != 0,
                  "len %zu, k %u: rounded to %u, a multiple of 4096" SEEDF, len, k, p, seed);
        if ((base - ceil) * 200 < ceil)
            cr_assert_eq(p, up, "len %zu, k %u: %u, want rounded %" PRIu64 SEEDF, len, k, p, up,
                         seed);
        if ((base - ceil) * 50 > ceil)
            cr_assert_eq(p, ceil, "len %zu, k %u: %u, want %" PRIu64 SEEDF, len, k, p, ceil, seed);
    }
}

/* ---- RNG ------------------------------------------------------------------------------ */

static uint64_t
rotl64(uint64_t x, int n)
{
    return (x << n) | (x >> (64 - n));
}

Test(rng, reference_xoshiro256starstar, .init = codec_setup)
{
    uint64_t seed = test_seed();
    uint64_t seeds[3] = {0, 0x0123456789ABCDEFull, seed};
    for (int j = 0; j < 3; j++) {
        trng sm = {seeds[j]};
        uint64_t s[4];
        for (int i = 0; i < 4; i++)
            s[i] = trng_next(&sm); /* splitmix64, the reference seeding */
        weft_rng rng;
        weft_rng_seed(&rng, seeds[j]);
        for (int i = 0; i < 1000; i++) {
            uint64_t want = rotl64(s[1] * 5, 7) * 9;
            uint64_t t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = rotl64(s[3], 45);
            uint64_t got = weft_rng_next(&rng);
            cr_assert_eq(got, want,
                         "seed 0x%" PRIx64 ", draw %d: 0x%016" PRIx64 ", xoshiro256** gives "
                         "0x%016" PRIx64,
                         seeds[j], i, got, want);
        }
    }
}

Test(rng, seeding_reproduces_and_separates, .init = codec_setup)
{
    uint64_t seed = test_seed();
    weft_rng a, b, c;
    weft_rng_seed(&a, seed);
    weft_rng_seed(&b, seed);
    weft_rng_seed(&c, seed + 1);
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t x = weft_rng_next(&a), y = weft_rng_next(&b), z = weft_rng_next(&c);
        cr_assert_eq(x, y, "same seed, draw %d differs" SEEDF, i, seed);
        differ += x != z;
    }
    cr_assert_gt(differ, 60, "seeds %" PRIu64 " and +1 share %d of 64 draws", seed, 64 - differ);
    uint64_t o1 = weft_seed_from_os(), o2 = weft_seed_from_os();
    cr_assert_neq(o1, o2, "two OS seeds are equal (0x%" PRIx64 ")", o1);
}

Test(rng, bytes_fill_exactly, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    for (size_t len = 0; len <= 80; len++) {
        gbuf g;
        gbuf_init(&g, len, trng_below(&r, 64), &r);
        memset(g.p, 0, len);
        gbuf_snap(&g);
        weft_rng_bytes(&rng, g.p, len);
        long dmg = gbuf_guard_damage(&g);
        cr_assert(dmg < 0, "weft_rng_bytes(len %zu) wrote at offset %ld" SEEDF, len, dmg, seed);
        if (len >= 16)
            cr_assert(!all_zero(g.p, len), "weft_rng_bytes(len %zu) left zeros" SEEDF, len, seed);
        gbuf_free(&g);
    }
}

Test(rng, coefs_never_all_zero, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    /* k = 1: a zero would turn up about every 256 draws if not excluded. */
    unsigned seen[256] = {0};
    uint8_t c[3];
    for (int i = 0; i < 300000; i++) {
        c[0] = 0xEE;
        c[1] = 0xEE;
        weft_rng_coefs(&rng, c, 1);
        cr_assert_neq(c[0], 0, "k = 1: zero coefficient at draw %d" SEEDF, i, seed);
        cr_assert_eq(c[1], 0xEE, "k = 1: wrote a second byte" SEEDF, seed);
        seen[c[0]]++;
    }
    for (int v = 1; v < 256; v++)
        cr_assert_gt(seen[v], 600, "k = 1: value 0x%02x drawn %u times in 300000" SEEDF, v, seen[v],
                     seed);
    for (int i = 0; i < 300000; i++) {
        weft_rng_coefs(&rng, c, 2);
        cr_assert(c[0] || c[1], "k = 2: all-zero vector at draw %d" SEEDF, i, seed);
    }
    for (uint32_t k = 3; k <= 1024; k = k * 2 + 1) {
        for (int i = 0; i < 200; i++) {
            gbuf g;
            gbuf_init(&g, k, trng_below(&r, 64), &r);
            weft_rng_coefs(&rng, g.p, k);
            cr_assert(!all_zero(g.p, k), "k = %u: all-zero vector" SEEDF, k, seed);
            cr_assert(gbuf_guard_damage(&g) < 0, "k = %u: wrote outside the vector" SEEDF, k, seed);
            gbuf_free(&g);
        }
    }
}

/* ---- encoder ----------------------------------------------------------------------------- */

Test(encoder, new_rejects_bad_arguments, .init = codec_setup)
{
    uint8_t msg[64] = {1};
    static const struct {
        size_t len;
        uint32_t k, piece;
        int err;
    } bad[] = {
        {10, 0, 0, WEFT_EK},      {10, 1025, 0, WEFT_EK},   {10, UINT32_MAX, 0, WEFT_EK},
        {10, 3, 3, WEFT_EMSGLEN}, {64, 8, 7, WEFT_EMSGLEN}, {64, 1, 63, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = 0;
        weft_encoder *e = weft_enc_new(msg, bad[i].len, bad[i].k, bad[i].piece, 0, 1, &err);
        cr_assert_null(e, "weft_enc_new(len %zu, k %u, piece %u) succeeded", bad[i].len, bad[i].k,
                       bad[i].piece);
        cr_assert_eq(err, bad[i].err, "weft_enc_new(len %zu, k %u, piece %u): err %d, want %d",
                     bad[i].len, bad[i].k, bad[i].piece, err, bad[i].err);
        /* err may be NULL. */
        cr_assert_null(weft_enc_new(msg, bad[i].len, bad[i].k, bad[i].piece, 0, 1, NULL),
                       "weft_enc_new with err NULL succeeded on case %zu", i);
    }
    /* A length beyond 32 bits is refused before the message is touched. */
    int err = 0;
    weft_encoder *e = weft_enc_new(msg, (size_t)UINT32_MAX + 1, 1024, 0, WEFT_ENC_BORROW, 1, &err);
    cr_assert_null(e, "a 4 GiB message was accepted");
    cr_assert_eq(err, WEFT_ETOOBIG, "4 GiB message: err %d, want WEFT_ETOOBIG", err);
    weft_enc_free(NULL);
    weft_dec_free(NULL);
}

Test(encoder, generation_and_explicit_piece_size, .init = codec_setup)
{
    uint8_t msg[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    weft_encoder *e = new_enc(msg, 10, 3, 4, 0, 1, 0);
    const weft_gen *g = weft_enc_gen(e);
    cr_assert(g->k == 3 && g->piece_size == 4 && g->message_len == 10,
              "gen (k %u, piece %u, len %u), want (3, 4, 10)", g->k, g->piece_size, g->message_len);
    weft_enc_free(e);
    e = new_enc(msg, 10, 4, 0, 0, 1, 0);
    g = weft_enc_gen(e);
    cr_assert(g->k == 4 && g->piece_size == 3 && g->message_len == 10,
              "default piece size: gen (k %u, piece %u, len %u), want (4, 3, 10)", g->k,
              g->piece_size, g->message_len);
    weft_enc_free(e);
    /* An empty message with no buffer at all. */
    e = new_enc(NULL, 0, 5, 0, 0, 1, 0);
    g = weft_enc_gen(e);
    cr_assert(g->k == 5 && g->piece_size == 1 && g->message_len == 0,
              "empty message: gen (k %u, piece %u, len %u), want (5, 1, 0)", g->k, g->piece_size,
              g->message_len);
    weft_enc_free(e);
}

Test(encoder, shards_carry_their_combination, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 3, 7, 16, 33, 64, 200};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        size_t len = ks[i] * (1 + trng_below(&r, 300)) + trng_below(&r, 5);
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, ks[i], 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        gbuf out;
        gbuf_init(&out, ss, trng_below(&r, 64), &r);
        for (int j = 0; j < 20; j++) {
            int n = weft_enc_next(e, out.p, ss);
            cr_assert_eq(n, (int)ss, "k %u: weft_enc_next = %d" SEEDF, ks[i], n, seed);
            cr_assert(gbuf_guard_damage(&out) < 0, "k %u: shard written out of bounds" SEEDF, ks[i],
                      seed);
            char what[48];
            snprintf(what, sizeof(what), "k %u shard %d", ks[i], j);
            check_shard(out.p, ss, g, msg, what, seed);
        }
        memset(out.p, 0x77, ss);
        gbuf_snap(&out);
        int n = weft_enc_next(e, out.p, ss - 1);
        cr_assert_eq(n, WEFT_ENOSPC, "k %u: cap one short gave %d" SEEDF, ks[i], n, seed);
        cr_assert(gbuf_guard_damage(&out) < 0, "ENOSPC wrote past the capacity" SEEDF, seed);
        weft_enc_free(e);
        gbuf_free(&out);
        free(msg);
    }
}

Test(encoder, k1_coefficients_never_zero, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 100);
    weft_encoder *e = new_enc(msg, 100, 1, 0, 0, seed, seed);
    uint8_t shard[12 + 1 + 100];
    unsigned distinct = 0;
    uint8_t seen[256] = {0};
    for (int j = 0; j < 4000; j++) {
        int n = weft_enc_next(e, shard, sizeof(shard));
        cr_assert_eq(n, (int)sizeof(shard), "weft_enc_next = %d" SEEDF, n, seed);
        cr_assert_neq(shard[12], 0, "k = 1: zero coefficient in shard %d" SEEDF, j, seed);
        distinct += !seen[shard[12]];
        seen[shard[12]] = 1;
        for (int x = 0; x < 100; x++)
            cr_assert_eq(shard[13 + x], oracle_tab[shard[12]][msg[x]],
                         "k = 1: payload byte %d wrong" SEEDF, x, seed);
    }
    cr_assert_gt(distinct, 200, "k = 1: only %u distinct coefficients in 4000 shards" SEEDF,
                 distinct, seed);
    weft_enc_free(e);
    free(msg);
}

Test(encoder, systematic_first_k_are_the_pieces, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 5, 64, 255};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i];
        size_t len = k * 37 + 11; /* partial last piece */
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, WEFT_ENC_SYSTEMATIC, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *s = malloc(ss), *piece = malloc(g->piece_size);
        for (uint32_t j = 0; j < k + 5; j++) {
            int n = weft_enc_next(e, s, ss);
            cr_assert_eq(n, (int)ss, "weft_enc_next = %d" SEEDF, n, seed);
            if (j < k) {
                for (uint32_t c = 0; c < k; c++)
                    cr_assert_eq(s[12 + c], c == j,
                                 "k %u systematic shard %u: coefficient %u is 0x%02x" SEEDF, k, j,
                                 c, s[12 + c], seed);
                piece_of(msg, len, g->piece_size, j, piece);
                cr_assert(memcmp(s + 12 + k, piece, g->piece_size) == 0,
                          "k %u systematic shard %u: payload is not piece %u" SEEDF, k, j, j, seed);
            } else {
                char what[48];
                snprintf(what, sizeof(what), "k %u coded shard %u", k, j);
                check_shard(s, ss, g, msg, what, seed);
            }
        }
        weft_enc_free(e);
        free(s);
        free(piece);
        free(msg);
    }
}

/* Shards of two encoders must agree byte for byte. */
static void
same_stream(weft_encoder *a, weft_encoder *b, size_t count, const char *what, uint64_t seed)
{
    size_t ss = weft_shard_size(weft_enc_gen(a));
    uint8_t *x = malloc(ss), *y = malloc(ss);
    for (size_t j = 0; j < count; j++) {
        cr_assert_eq(weft_enc_next(a, x, ss), (int)ss, "%s: next failed" SEEDF, what, seed);
        cr_assert_eq(weft_enc_next(b, y, ss), (int)ss, "%s: next failed" SEEDF, what, seed);
        long d = first_diff(x, y, ss);
        cr_assert(d < 0, "%s: shard %zu differs at byte %ld" SEEDF, what, j, d, seed);
    }
    free(x);
    free(y);
}

Test(encoder, borrow_matches_copy, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
    } cases[] = {{1000, 3}, {4096, 4}, {1, 7}, {65537, 16}, {333, 64}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (unsigned sys = 0; sys <= WEFT_ENC_SYSTEMATIC; sys += WEFT_ENC_SYSTEMATIC) {
            /* The borrowed message ends at an unmapped page: reading a
             * whole last piece instead of copying it would fault. */
            edgebuf eb;
            edgebuf_init(&eb, cases[i].len);
            trng_fill(&r, eb.p, cases[i].len);
            uint64_t es = trng_next(&r);
            weft_encoder *b =
                new_enc(eb.p, cases[i].len, cases[i].k, 0, WEFT_ENC_BORROW | sys, es, seed);
            weft_encoder *c = new_enc(eb.p, cases[i].len, cases[i].k, 0, sys, es, seed);
            char what[64];
            snprintf(what, sizeof(what), "borrow vs copy len %zu k %u flags %u", cases[i].len,
                     cases[i].k, sys);
            same_stream(b, c, 2 * cases[i].k + 3, what, seed);
            weft_enc_free(c);
            /* And the borrowed encoder alone still decodes. */
            const weft_gen *g = weft_enc_gen(b);
            size_t ss = weft_shard_size(g);
            uint8_t *s = malloc(ss);
            for (int j = 0; j < 3; j++) {
                cr_assert_eq(weft_enc_next(b, s, ss), (int)ss, "next" SEEDF, seed);
                check_shard(s, ss, g, eb.p, what, seed);
            }
            free(s);
            weft_enc_free(b);
            edgebuf_free(&eb);
        }
    }
}

Test(encoder, copy_outlives_callers_buffer, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 10007;
    uint8_t *msg = random_msg(&r, len);
    uint8_t *keep = malloc(len);
    memcpy(keep, msg, len);
    weft_encoder *e = new_enc(msg, len, 9, 0, 0, seed, seed);
    memset(msg, 0xCC, len);
    free(msg);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *s = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    for (int j = 0; j < 60 && !weft_dec_complete(d); j++) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        check_shard(s, ss, g, keep, "copied message", seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc >= 0, "push: %s" SEEDF, weft_strerror(rc), seed);
    }
    check_message(d, keep, len, "copied message", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(s);
    free(keep);
}

Test(encoder, batch_equals_repeated_next, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        size_t len;
        uint32_t k;
        unsigned flags;
    } cases[] = {
        {1, 1, 0},
        {100, 3, 0},
        {5000, 16, WEFT_ENC_SYSTEMATIC},
        {100003, 32, 0},
        {77777, 64, WEFT_ENC_SYSTEMATIC | WEFT_ENC_BORROW},
        {4099, 255, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t k = cases[i].k;
        uint8_t *msg = random_msg(&r, cases[i].len);
        uint64_t es = trng_next(&r);
        weft_encoder *a = new_enc(msg, cases[i].len, k, 0, cases[i].flags, es, seed);
        weft_encoder *b = new_enc(msg, cases[i].len, k, 0, cases[i].flags, es, seed);
        size_t ss = weft_shard_size(weft_enc_gen(a));
        /* Alternate single shards and batches of several sizes, crossing
         * the systematic boundary at k. */
        size_t runs[] = {1, 0, 2, 1, k, 3, 1, k + 1, 1};
        size_t maxn = k + 1 > 3 ? k + 1 : 3;
        uint8_t **outs = malloc(maxn * sizeof(*outs));
        gbuf *bufs = malloc(maxn * sizeof(*bufs));
        uint8_t *one = malloc(ss);
        size_t produced = 0;
        for (size_t ri = 0; ri < sizeof(runs) / sizeof(runs[0]); ri++) {
            size_t n = runs[ri];
            for (size_t j = 0; j < n; j++) {
                gbuf_init(&bufs[j], ss, trng_below(&r, 64), &r);
                outs[j] = bufs[j].p;
            }
            int rc = weft_enc_batch(a, outs, n, ss);
            if (n == 0) {
                cr_assert(rc == 0 || rc == WEFT_EINVAL, "batch of 0 returned %d" SEEDF, rc, seed);
            } else {
                cr_assert_eq(rc, (int)n, "k %u: batch of %zu returned %d (%s)" SEEDF, k, n, rc,
                             weft_strerror(rc), seed);
            }
            for (size_t j = 0; j < n; j++) {
                cr_assert_eq(weft_enc_next(b, one, ss), (int)ss, "next" SEEDF, seed);
                long d = first_diff(outs[j], one, ss);
                cr_assert(d < 0,
                          "k %u flags %u: batch shard %zu (stream position %zu) differs from "
                          "weft_enc_next at byte %ld" SEEDF,
                          k, cases[i].flags, j, produced + j, d, seed);
                cr_assert(gbuf_guard_damage(&bufs[j]) < 0,
                          "k %u: batch wrote outside output %zu" SEEDF, k, j, seed);
                gbuf_free(&bufs[j]);
            }
            produced += n;
        }
        /* Too small a capacity. */
        uint8_t *small[1] = {one};
        int rc = weft_enc_batch(a, small, 1, ss - 1);
        cr_assert_eq(rc, WEFT_ENOSPC, "k %u: batch with cap one short returned %d" SEEDF, k, rc,
                     seed);
        weft_enc_free(a);
        weft_enc_free(b);
        free(outs);
        free(bufs);
        free(one);
        free(msg);
    }
}

Test(encoder, enc_with_uses_given_vector, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 4, 31, 100};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i];
        size_t len = k * 53 + 1;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e =
            new_enc(msg, len, k, 0, i % 2 ? WEFT_ENC_SYSTEMATIC : 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *coefs = malloc(k), *s = malloc(ss);
        for (int j = 0; j < 10; j++) {
            for (uint32_t c = 0; c < k; c++)
                coefs[c] = trng_coef(&r);
            if (j == 0) {
                memset(coefs, 0, k); /* a unit vector */
                coefs[k - 1] = 1;
            }
            if (all_zero(coefs, k))
                coefs[0] = 0x42;
            int n = weft_enc_with(e, coefs, s, ss);
            cr_assert_eq(n, (int)ss, "k %u: weft_enc_with = %d" SEEDF, k, n, seed);
            cr_assert(memcmp(s + 12, coefs, k) == 0, "k %u: shard does not carry the vector" SEEDF,
                      k, seed);
            check_shard(s, ss, g, msg, "weft_enc_with", seed);
        }
        memset(coefs, 0, k);
        int n = weft_enc_with(e, coefs, s, ss);
        cr_assert_eq(n, WEFT_EZEROVEC, "k %u: zero vector gave %d" SEEDF, k, n, seed);
        coefs[0] = 1;
        n = weft_enc_with(e, coefs, s, ss - 1);
        cr_assert_eq(n, WEFT_ENOSPC, "k %u: cap one short gave %d" SEEDF, k, n, seed);
        weft_enc_free(e);
        free(coefs);
        free(s);
        free(msg);
    }
}

Test(encoder, seeds_reproduce_and_differ, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 3000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *a = new_enc(msg, len, 16, 0, 0, seed, seed);
    weft_encoder *b = new_enc(msg, len, 16, 0, 0, seed, seed);
    weft_encoder *c = new_enc(msg, len, 16, 0, 0, seed ^ 0x5555, seed);
    same_stream(a, b, 50, "same seed", seed);
    size_t ss = weft_shard_size(weft_enc_gen(a));
    uint8_t *x = malloc(ss), *y = malloc(ss);
    int equal = 0;
    for (int j = 0; j < 8; j++) {
        cr_assert_eq(weft_enc_next(a, x, ss), (int)ss, "next" SEEDF, seed);
        cr_assert_eq(weft_enc_next(c, y, ss), (int)ss, "next" SEEDF, seed);
        equal += memcmp(x + 12, y + 12, 16) == 0;
    }
    cr_assert_eq(equal, 0, "different seeds gave %d identical vectors of 8" SEEDF, equal, seed);
    weft_enc_free(a);
    weft_enc_free(b);
    weft_enc_free(c);
    free(x);
    free(y);
    free(msg);
}

/* ---- round trips ------------------------------------------------------------------------ */

Test(roundtrip, every_k_from_1_to_64, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (uint32_t k = 1; k <= 64; k++) {
        size_t sizes[] = {0, 1, k > 1 ? k - 1 : 2, 2 * (size_t)k + 3, 1000 * (size_t)k + 17, 12345};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            uint8_t *msg = random_msg(&r, sizes[i]);
            unsigned flags = (k + i) % 3 == 0 ? WEFT_ENC_SYSTEMATIC : 0;
            size_t used = roundtrip(msg, sizes[i], k, 0, flags, trng_next(&r), i == 3, seed);
            if (flags & WEFT_ENC_SYSTEMATIC)
                cr_assert_eq(used, (size_t)k, "systematic k %u used %zu shards" SEEDF, k, used,
                             seed);
            free(msg);
        }
    }
}

Test(roundtrip, large_k, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    int quick = test_quick();
    static const struct {
        uint32_t k;
        size_t len;
        unsigned flags;
    } cases[] = {
        {255, 0, 0},
        {255, 1, 0},
        {255, 255 * 1000 + 1, 0},
        {255, 255 * 64, WEFT_ENC_SYSTEMATIC},
        {1024, 1024 * 256 + 3, 0},
        {1024, 1023, WEFT_ENC_SYSTEMATIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len;
        if (quick && len > 4096)
            len = 4096 + 5;
        uint8_t *msg = random_msg(&r, len);
        roundtrip(msg, len, cases[i].k, 0, cases[i].flags, trng_next(&r), 0, seed);
        free(msg);
    }
}

Test(roundtrip, several_mib, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    int quick = test_quick();
    static const struct {
        uint32_t k;
        size_t len;
    } cases[] = {
        {1, (3u << 20) + 1}, {4, (8u << 20) + 1}, {32, (3u << 20) + 7}, {100, (2u << 20) + 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = quick ? cases[i].len / 8 : cases[i].len;
        uint8_t *msg = random_msg(&r, len);
        roundtrip(msg, len, cases[i].k, 0, 0, trng_next(&r), 0, seed);
        free(msg);
    }
}

Test(roundtrip, explicit_padding, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 1000);
    roundtrip(msg, 10, 4, 100, 0, 1, 1, seed);
    roundtrip(msg, 10, 4, 100, WEFT_ENC_SYSTEMATIC, 2, 1, seed);
    roundtrip(msg, 1000, 3, 1000, 0, 3, 1, seed);
    roundtrip(msg, 0, 2, 17, 0, 4, 1, seed);
    roundtrip(msg, 999, 1, 999, 0, 5, 1, seed);
    free(msg);
}

static void
shuffle(size_t *idx, size_t n, trng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = trng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

Test(roundtrip, random_subsets, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 8, 20, 64, 150};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        for (unsigned flags = 0; flags <= WEFT_ENC_SYSTEMATIC; flags += WEFT_ENC_SYSTEMATIC) {
            uint32_t k = ks[i];
            size_t len = k * 100 + trng_below(&r, 100);
            uint8_t *msg = random_msg(&r, len);
            weft_encoder *e = new_enc(msg, len, k, 0, flags, trng_next(&r), seed);
            const weft_gen *g = weft_enc_gen(e);
            size_t ss = weft_shard_size(g), total = 2 * (size_t)k + 8;
            uint8_t *all = malloc(total * ss);
            size_t *idx = malloc(total * sizeof(*idx));
            for (size_t j = 0; j < total; j++) {
                cr_assert_eq(weft_enc_next(e, all + j * ss, ss), (int)ss, "next" SEEDF, seed);
                idx[j] = j;
            }
            shuffle(idx, total, &r);
            /* A random subset of k + 4 shards, pushed in random order. */
            weft_decoder *d = new_dec(g, seed);
            for (size_t j = 0; j < (size_t)k + 4 && !weft_dec_complete(d); j++) {
                int rc = weft_dec_push(d, all + idx[j] * ss, ss);
                cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
            }
            char what[64];
            snprintf(what, sizeof(what), "random subset k %u flags %u", k, flags);
            check_message(d, msg, len, what, seed);
            weft_dec_free(d);
            weft_enc_free(e);
            free(all);
            free(idx);
            free(msg);
        }
    }
}

Test(roundtrip, push_parts_equals_push, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 20000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 24, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *s = malloc(ss);
    weft_decoder *a = new_dec(g, seed), *b = new_dec(g, seed);
    while (!weft_dec_complete(a)) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int ra = weft_dec_push(a, s, ss);
        int rb = weft_dec_push_parts(b, s + 12, s + 12 + g->k);
        cr_assert_eq(ra, rb, "push gave %d, push_parts %d" SEEDF, ra, rb, seed);
        cr_assert_eq(weft_dec_rank(a), weft_dec_rank(b), "ranks differ" SEEDF, seed);
    }
    check_message(b, msg, len, "push_parts", seed);
    weft_dec_free(a);
    weft_dec_free(b);
    weft_enc_free(e);
    free(s);
    free(msg);
}

Test(roundtrip, shards_at_page_edge, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 3001;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 10, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    edgebuf eb;
    edgebuf_init(&eb, ss);
    weft_decoder *d = new_dec(g, seed);
    for (int j = 0; j < 50 && !weft_dec_complete(d); j++) {
        cr_assert_eq(weft_enc_next(e, eb.p, ss), (int)ss, "next at page edge" SEEDF, seed);
        int rc = weft_dec_push(d, eb.p, ss);
        cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
    }
    check_message(d, msg, len, "page-edge shards", seed);
    edgebuf_free(&eb);
    weft_dec_free(d);
    weft_enc_free(e);
    free(msg);
}

/* ---- decoder ------------------------------------------------------------------------------ */

Test(decoder, new_rejects_bad_generation, .init = codec_setup)
{
    static const struct {
        weft_gen g;
        int err;
    } bad[] = {
        {{0, 10, 0}, WEFT_EK},
        {{1025, 10, 0}, WEFT_EK},
        {{4, 0, 0}, WEFT_EPIECE},
        {{4, 10, 41}, WEFT_EMSGLEN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = 0;
        weft_decoder *d = weft_dec_new(&bad[i].g, &err);
        cr_assert_null(d, "weft_dec_new(k %u, piece %u, len %u) succeeded", bad[i].g.k,
                       bad[i].g.piece_size, bad[i].g.message_len);
        cr_assert_eq(err, bad[i].err, "weft_dec_new(k %u, piece %u, len %u): %d, want %d",
                     bad[i].g.k, bad[i].g.piece_size, bad[i].g.message_len, err, bad[i].err);
        cr_assert_null(weft_dec_new(&bad[i].g, NULL), "err NULL case %zu succeeded", i);
    }
    weft_gen g = {7, 13, 90};
    weft_decoder *d = new_dec(&g, 0);
    const weft_gen *dg = weft_dec_gen(d);
    cr_assert(dg->k == 7 && dg->piece_size == 13 && dg->message_len == 90,
              "weft_dec_gen (k %u, piece %u, len %u)", dg->k, dg->piece_size, dg->message_len);
    cr_assert_eq(weft_dec_rank(d), 0, "fresh rank %u", weft_dec_rank(d));
    cr_assert_eq(weft_dec_complete(d), 0, "fresh decoder complete");
    size_t l = 12345;
    cr_assert_null(weft_dec_message(d, &l), "fresh decoder has a message");
    weft_dec_free(d);
}

Test(decoder, too_big_generation_fails_cleanly, .init = codec_setup)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = -1;
        fclose(f);
    }
    if (mode == 1)
        cr_skip_test("vm.overcommit_memory = 1: a 4 TiB allocation could succeed");
    weft_gen g = {1024, 0xFFFFFFFFu, 0};
    int err = 0;
    weft_decoder *d = weft_dec_new(&g, &err);
    cr_assert_null(d, "a decoder needing 4 TiB was created");
    cr_assert(err == WEFT_ETOOBIG || err == -ENOMEM, "err %d (%s), want ETOOBIG or -ENOMEM", err,
              weft_strerror(err));
}

/*
 * Fill a decoder with innovative shards until it holds `want` of them;
 * copies of those shards go to held (want * ss bytes).
 */
static void
hold_innovative(weft_decoder *d, weft_encoder *e, uint32_t want, uint8_t *held, uint64_t seed)
{
    size_t ss = weft_shard_size(weft_dec_gen(d));
    uint32_t have = weft_dec_rank(d);
    for (int guard = 0; have < want; guard++) {
        cr_assert(guard < 100, "could not reach rank %u" SEEDF, want, seed);
        uint8_t *s = held + (size_t)have * ss;
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
        have += rc == WEFT_DEC_INNOVATIVE;
    }
}

static void
finish_and_check(weft_decoder *d, weft_encoder *e, const uint8_t *msg, size_t len, const char *what,
                 uint64_t seed)
{
    size_t ss = weft_shard_size(weft_dec_gen(d));
    uint8_t *s = malloc(ss);
    for (int guard = 0; !weft_dec_complete(d); guard++) {
        cr_assert(guard < 1200, "%s: never completed" SEEDF, what, seed);
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc == 0 || rc == 1, "%s: push %d" SEEDF, what, rc, seed);
    }
    free(s);
    check_message(d, msg, len, what, seed);
}

Test(decoder, non_innovative_shards_change_nothing, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint32_t k = 8;
    size_t len = k * 50 + 3;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, k, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint32_t piece = g->piece_size;
    uint8_t *held = malloc(k * ss), *s = malloc(ss), *t = malloc(ss);
    weft_decoder *d = new_dec(g, seed);
    hold_innovative(d, e, 5, held, seed);

    /* The same shard again. */
    for (int i = 0; i < 5; i++) {
        int rc = weft_dec_push(d, held + i * ss, ss);
        cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "duplicate of held shard %d: %d" SEEDF, i, rc, seed);
        cr_assert_eq(weft_dec_rank(d), 5, "rank moved to %u" SEEDF, weft_dec_rank(d), seed);
    }
    /* A scaled copy. */
    uint8_t a = (uint8_t)(2 + trng_below(&r, 254));
    memcpy(s, held + 2 * ss, 12);
    memset(s + 12, 0, k + piece);
    oracle_muladd(s + 12, held + 2 * ss + 12, a, k + piece);
    int rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "0x%02x times a held shard: %d" SEEDF, a, rc, seed);
    /* a * s1 + b * s3 + s5, vector and payload combined alike. */
    uint8_t b = (uint8_t)(1 + trng_below(&r, 255));
    memcpy(s, held, 12);
    memset(s + 12, 0, k + piece);
    oracle_muladd(s + 12, held + 0 * ss + 12, a, k + piece);
    oracle_muladd(s + 12, held + 2 * ss + 12, b, k + piece);
    oracle_muladd(s + 12, held + 4 * ss + 12, 1, k + piece);
    rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "combination of held shards: %d" SEEDF, rc, seed);
    rc = weft_dec_push_parts(d, s + 12, s + 12 + k);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "combination via push_parts: %d" SEEDF, rc, seed);
    /* The same vector through the encoder. */
    int n = weft_enc_with(e, s + 12, t, ss);
    cr_assert_eq(n, (int)ss, "enc_with" SEEDF, seed);
    cr_assert(memcmp(s, t, ss) == 0, "enc_with payload differs from the combination" SEEDF, seed);
    /* A dependent vector with a garbage payload must be dropped unread. */
    trng_fill(&r, s + 12 + k, piece);
    rc = weft_dec_push(d, s, ss);
    cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "dependent vector, corrupt payload: %d" SEEDF, rc, seed);
    cr_assert_eq(weft_dec_rank(d), 5, "rank moved to %u" SEEDF, weft_dec_rank(d), seed);
    cr_assert_null(weft_dec_message(d, NULL), "message at rank 5 of 8" SEEDF, seed);

    finish_and_check(d, e, msg, len, "after redundant shards", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(held);
    free(s);
    free(t);
    free(msg);
}

Test(decoder, invalid_shards_change_nothing, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    weft_gen g = {8, 64, 500};
    uint8_t *msg = random_msg(&r, 500);
    weft_encoder *e = new_enc(msg, 500, 8, 64, 0, seed, seed);
    size_t ss = weft_shard_size(&g);
    uint8_t *held = malloc(8 * ss);
    weft_decoder *d = new_dec(&g, seed);
    hold_innovative(d, e, 3, held, seed);

    /* Other generations: each field differs alone. */
    static const weft_gen other[] = {
        {8, 64, 499}, {8, 64, 512}, {8, 65, 500}, {9, 64, 500}, {7, 64, 400}, {1, 500, 500},
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        uint8_t coefs[16];
        for (int c = 0; c < 16; c++)
            coefs[c] = (uint8_t)(c + 1);
        uint8_t *f = forge_shard(&other[i], coefs, &r);
        int rc = weft_dec_push(d, f, weft_shard_size(&other[i]));
        cr_assert_eq(rc, WEFT_EGENERATION,
                     "shard of (k %u, piece %u, len %u): %d, want "
                     "WEFT_EGENERATION" SEEDF,
                     other[i].k, other[i].piece_size, other[i].message_len, rc, seed);
        free(f);
    }
    /* All-zero vector, with random and with zero payload. */
    uint8_t zero[8] = {0};
    uint8_t *f = forge_shard(&g, zero, &r);
    int rc = weft_dec_push(d, f, ss);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector: %d" SEEDF, rc, seed);
    memset(f + 12 + 8, 0, 64);
    rc = weft_dec_push(d, f, ss);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector, zero payload: %d" SEEDF, rc, seed);
    rc = weft_dec_push_parts(d, zero, f + 20);
    cr_assert_eq(rc, WEFT_EZEROVEC, "zero vector via push_parts: %d" SEEDF, rc, seed);
    free(f);
    /* Malformed copies of a fresh, innovative shard. */
    uint8_t *s = malloc(ss + 1);
    cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
    static const struct {
        int off;
        uint8_t val;
        int dlen, err;
    } mal[] = {
        {0, 2, 0, WEFT_EVERSION},
        {1, 7, 0, WEFT_EFIELD},
        {0, 1, -1, WEFT_ETRUNC},
        {0, 1, 1, WEFT_ETRUNC},
    };
    for (size_t i = 0; i < sizeof(mal) / sizeof(mal[0]); i++) {
        uint8_t keep = s[mal[i].off];
        s[mal[i].off] = mal[i].val;
        rc = weft_dec_push(d, s, (size_t)((int)ss + mal[i].dlen));
        cr_assert_eq(rc, mal[i].err, "malformed case %zu: %d (%s), want %d" SEEDF, i, rc,
                     weft_strerror(rc), mal[i].err, seed);
        s[mal[i].off] = keep;
    }
    rc = weft_dec_push(d, s, 5);
    cr_assert_eq(rc, WEFT_ETRUNC, "5-byte shard: %d" SEEDF, rc, seed);
    cr_assert_eq(weft_dec_rank(d), 3, "invalid shards moved the rank to %u" SEEDF, weft_dec_rank(d),
                 seed);
    /* The untouched original is still innovative, and decoding succeeds. */
    rc = weft_dec_push(d, s, ss);
    cr_assert(rc == WEFT_DEC_INNOVATIVE || rc == WEFT_DEC_REDUNDANT, "valid shard: %d" SEEDF, rc,
              seed);
    finish_and_check(d, e, msg, 500, "after invalid shards", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(held);
    free(s);
    free(msg);
}

Test(decoder, pushes_after_completion_are_redundant, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 777;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 6, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    weft_decoder *d = new_dec(g, seed);
    finish_and_check(d, e, msg, len, "first completion", seed);
    uint8_t *s = malloc(ss);
    for (int j = 0; j < 20; j++) {
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        if (j % 2)
            trng_fill(&r, s + 12 + g->k, g->piece_size); /* corrupt payload */
        int rc = weft_dec_push(d, s, ss);
        cr_assert_eq(rc, WEFT_DEC_REDUNDANT, "push %d after completion: %d" SEEDF, j, rc, seed);
        cr_assert_eq(weft_dec_rank(d), 6, "rank %u" SEEDF, weft_dec_rank(d), seed);
    }
    check_message(d, msg, len, "after extra pushes", seed);
    weft_dec_free(d);
    weft_enc_free(e);
    free(s);
    free(msg);
}

Test(decoder, reset_forgets_and_reuses, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 4321;
    uint8_t *m1 = random_msg(&r, len), *m2 = random_msg(&r, len);
    weft_encoder *e1 = new_enc(m1, len, 12, 0, 0, seed, seed);
    weft_encoder *e2 = new_enc(m2, len, 12, 0, WEFT_ENC_SYSTEMATIC, seed + 1, seed);
    const weft_gen *g = weft_enc_gen(e1);
    weft_decoder *d = new_dec(g, seed);
    finish_and_check(d, e1, m1, len, "before reset", seed);
    weft_dec_reset(d);
    cr_assert_eq(weft_dec_rank(d), 0, "rank %u after reset" SEEDF, weft_dec_rank(d), seed);
    cr_assert_eq(weft_dec_complete(d), 0, "complete after reset" SEEDF, seed);
    cr_assert_null(weft_dec_message(d, NULL), "message after reset" SEEDF, seed);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    uint8_t *s = malloc(weft_shard_size(g));
    int rc = weft_dec_recode(d, &rng, s, weft_shard_size(g));
    cr_assert_eq(rc, WEFT_EEMPTY, "recode after reset: %d" SEEDF, rc, seed);
    /* Half of the first message, reset again, then all of the second. */
    uint8_t *held = malloc(12 * weft_shard_size(g));
    hold_innovative(d, e1, 6, held, seed);
    weft_dec_reset(d);
    finish_and_check(d, e2, m2, len, "after second reset", seed);
    weft_dec_free(d);
    weft_enc_free(e1);
    weft_enc_free(e2);
    free(s);
    free(held);
    free(m1);
    free(m2);
}

/* ---- recoding ------------------------------------------------------------------------------ */

Test(recode, needs_something_and_room, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    uint8_t *msg = random_msg(&r, 100);
    weft_encoder *e = new_enc(msg, 100, 4, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    weft_recoder *rc_ = weft_rec_new(g, NULL);
    cr_assert(rc_, "weft_rec_new failed");
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    gbuf out;
    gbuf_init(&out, ss, 5, &r);
    int rc = weft_rec_recode(rc_, &rng, out.p, ss);
    cr_assert_eq(rc, WEFT_EEMPTY, "recode from nothing: %d" SEEDF, rc, seed);
    uint8_t *s = malloc(ss);
    cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
    rc = weft_rec_push(rc_, s, ss);
    cr_assert_eq(rc, WEFT_DEC_INNOVATIVE, "first push: %d" SEEDF, rc, seed);
    gbuf_snap(&out);
    rc = weft_rec_recode(rc_, &rng, out.p, ss - 1);
    cr_assert_eq(rc, WEFT_ENOSPC, "recode with cap one short: %d" SEEDF, rc, seed);
    cr_assert(gbuf_guard_damage(&out) < 0, "ENOSPC wrote past the region" SEEDF, seed);
    rc = weft_rec_recode(rc_, &rng, out.p, ss);
    cr_assert_eq(rc, (int)ss, "recode at rank 1: %d" SEEDF, rc, seed);
    cr_assert(gbuf_guard_damage(&out) < 0, "recode wrote outside the shard" SEEDF, seed);
    check_shard(out.p, ss, g, msg, "recode at rank 1", seed);
    /* At rank 1 the output is a nonzero multiple of the one held vector. */
    uint8_t f = 0;
    for (uint32_t c = 0; c < g->k && !f; c++)
        if (s[12 + c])
            f = weft_gf_div(out.p[12 + c], s[12 + c]);
    cr_assert_neq(f, 0, "recoded vector not a multiple" SEEDF, seed);
    for (uint32_t c = 0; c < g->k; c++)
        cr_assert_eq(out.p[12 + c], oracle_tab[f][s[12 + c]],
                     "rank-1 recode left the span at coefficient %u" SEEDF, c, seed);
    weft_rec_free(rc_);
    weft_enc_free(e);
    gbuf_free(&out);
    free(s);
    free(msg);
}

Test(recode, partial_recodes_stay_in_the_span, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {2, 10, 40};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        uint32_t k = ks[i], rank = k / 2;
        size_t len = k * 64 + 9;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *held = malloc(k * ss), *s = malloc(ss);
        weft_decoder *src = new_dec(g, seed), *twin = new_dec(g, seed), *fresh = new_dec(g, seed);
        hold_innovative(src, e, rank, held, seed);
        for (uint32_t j = 0; j < rank; j++) {
            int rc = weft_dec_push(twin, held + (size_t)j * ss, ss);
            cr_assert_eq(rc, WEFT_DEC_INNOVATIVE, "twin push %u: %d" SEEDF, j, rc, seed);
        }
        weft_rng rng;
        weft_rng_seed(&rng, trng_next(&r));
        for (uint32_t j = 0; j < 2 * rank + 4; j++) {
            int n = weft_dec_recode(src, &rng, s, ss);
            cr_assert_eq(n, (int)ss, "k %u: recode at rank %u: %d" SEEDF, k, rank, n, seed);
            check_shard(s, ss, g, msg, "partial recode", seed);
            int rc = weft_dec_push(twin, s, ss);
            cr_assert_eq(rc, WEFT_DEC_REDUNDANT,
                         "k %u: shard recoded at rank %u is outside the held span (%d)" SEEDF, k,
                         rank, rc, seed);
            rc = weft_dec_push(fresh, s, ss);
            cr_assert(rc == 0 || rc == 1, "fresh push: %d" SEEDF, rc, seed);
            cr_assert(weft_dec_rank(fresh) <= rank, "k %u: recoded shards span rank %u > %u" SEEDF,
                      k, weft_dec_rank(fresh), rank, seed);
        }
        /* 2r + 4 random members of an r-dimensional space span it. */
        cr_assert_eq(weft_dec_rank(fresh), rank, "k %u: recoded shards reach rank %u of %u" SEEDF,
                     k, weft_dec_rank(fresh), rank, seed);
        cr_assert_eq(weft_dec_rank(src), rank, "recoding changed the rank" SEEDF, seed);
        /* Recoding is a pure read: the source still completes correctly. */
        finish_and_check(src, e, msg, len, "source after recoding", seed);
        weft_dec_free(src);
        weft_dec_free(twin);
        weft_dec_free(fresh);
        weft_enc_free(e);
        free(held);
        free(s);
        free(msg);
    }
}

/*
 * encoder -> A -> B -> C. A gets a few encoder shards per round and recodes
 * for B at once, B recodes for C at once, so both relays recode while
 * partial. C sees recoded shards only, B only A's.
 */
Test(recode, two_hops_from_partial_relays, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const struct {
        uint32_t k;
        size_t len;
    } cases[] = {{1, 300}, {16, 16 * 100 + 5}, {64, 64 * 500 + 1}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        uint32_t k = cases[ci].k;
        size_t len = cases[ci].len;
        uint8_t *msg = random_msg(&r, len);
        weft_encoder *e = new_enc(msg, len, k, 0, 0, trng_next(&r), seed);
        const weft_gen *g = weft_enc_gen(e);
        size_t ss = weft_shard_size(g);
        uint8_t *s = malloc(ss);
        weft_recoder *a = weft_rec_new(g, NULL), *b = weft_rec_new(g, NULL);
        weft_decoder *c = new_dec(g, seed);
        cr_assert(a && b, "weft_rec_new failed");
        weft_rng ra, rb;
        weft_rng_seed(&ra, trng_next(&r));
        weft_rng_seed(&rb, trng_next(&r));
        unsigned partial_a = 0, partial_b = 0, rounds = 0;
        uint32_t per_round = k > 4 ? k / 4 : 1;
        while (!weft_dec_complete(c)) {
            cr_assert(rounds++ < 4 * k + 40, "k %u: C stuck at rank %u (B %u, A %u)" SEEDF, k,
                      weft_dec_rank(c), weft_rec_rank(b), weft_rec_rank(a), seed);
            for (uint32_t j = 0; j < per_round && weft_rec_rank(a) < k; j++) {
                cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
                int rc = weft_rec_push(a, s, ss);
                cr_assert(rc == 0 || rc == 1, "A push: %d" SEEDF, rc, seed);
            }
            for (uint32_t j = 0; j < per_round; j++) {
                partial_a += weft_rec_rank(a) < k;
                cr_assert_eq(weft_rec_recode(a, &ra, s, ss), (int)ss, "A recode" SEEDF, seed);
                check_shard(s, ss, g, msg, "A's recoded shard", seed);
                int rc = weft_rec_push(b, s, ss);
                cr_assert(rc == 0 || rc == 1, "B push: %d" SEEDF, rc, seed);
            }
            for (uint32_t j = 0; j < per_round; j++) {
                partial_b += weft_rec_rank(b) < k;
                cr_assert_eq(weft_rec_recode(b, &rb, s, ss), (int)ss, "B recode" SEEDF, seed);
                check_shard(s, ss, g, msg, "B's recoded shard", seed);
                int rc = weft_dec_push(c, s, ss);
                cr_assert(rc == 0 || rc == 1, "C push: %d" SEEDF, rc, seed);
            }
            cr_assert(weft_dec_rank(c) <= weft_rec_rank(b) && weft_rec_rank(b) <= weft_rec_rank(a),
                      "k %u: ranks C %u, B %u, A %u break the span order" SEEDF, k,
                      weft_dec_rank(c), weft_rec_rank(b), weft_rec_rank(a), seed);
        }
        if (k > 1) {
            cr_assert_gt(partial_a, 0, "A never recoded while partial" SEEDF, seed);
            cr_assert_gt(partial_b, 0, "B never recoded while partial" SEEDF, seed);
        }
        check_message(c, msg, len, "C after two hops", seed);
        check_message(b, msg, len, "B after one hop", seed);
        weft_rec_free(a);
        weft_rec_free(b);
        weft_dec_free(c);
        weft_enc_free(e);
        free(s);
        free(msg);
    }
}

Test(recode, recoding_is_reproducible, .init = codec_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    size_t len = 2000;
    uint8_t *msg = random_msg(&r, len);
    weft_encoder *e = new_enc(msg, len, 10, 0, 0, seed, seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint8_t *held = malloc(10 * ss), *x = malloc(ss), *y = malloc(ss);
    weft_decoder *a = new_dec(g, seed), *b = new_dec(g, seed);
    hold_innovative(a, e, 6, held, seed);
    for (int j = 0; j < 6; j++)
        cr_assert_eq(weft_dec_push(b, held + j * ss, ss), WEFT_DEC_INNOVATIVE, "push" SEEDF, seed);
    weft_rng r1, r2;
    weft_rng_seed(&r1, seed);
    weft_rng_seed(&r2, seed);
    for (int j = 0; j < 10; j++) {
        cr_assert_eq(weft_dec_recode(a, &r1, x, ss), (int)ss, "recode" SEEDF, seed);
        cr_assert_eq(weft_dec_recode(b, &r2, y, ss), (int)ss, "recode" SEEDF, seed);
        cr_assert(memcmp(x, y, ss) == 0, "same state and RNG seed, recode %d differs" SEEDF, j,
                  seed);
    }
    weft_dec_free(a);
    weft_dec_free(b);
    weft_enc_free(e);
    free(held);
    free(x);
    free(y);
    free(msg);
}

/* ---- errors -----------------------------------------------------------------------------------
 */

Test(errors, strerror_names_every_code)
{
    static const int codes[] = {
        WEFT_EINVAL,      WEFT_ETRUNC,  WEFT_EVERSION,    WEFT_EFIELD,   WEFT_EK,
        WEFT_EPIECE,      WEFT_EMSGLEN, WEFT_EGENERATION, WEFT_EZEROVEC, WEFT_ENOSPC,
        WEFT_EINCOMPLETE, WEFT_EEMPTY,  WEFT_ENOIMPL,     WEFT_ETOOBIG,  -ENOMEM,
        -EINVAL,          -EIO,
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = weft_strerror(codes[i]);
        cr_assert(s && *s, "weft_strerror(%d) is empty", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(s, weft_strerror(codes[j]), "codes %d and %d share the text \"%s\"",
                              codes[i], codes[j], s);
    }
    cr_assert(strcasestr(weft_strerror(-ENOMEM), "memory"),
              "weft_strerror(-ENOMEM) = \"%s\" does not mention memory", weft_strerror(-ENOMEM));
    const char *u = weft_strerror(-4500);
    cr_assert(u && *u, "unknown code gives an empty string");
    u = weft_strerror(12345);
    cr_assert(u != NULL, "positive value gives NULL");
}
