/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version-1 shard format through the public API (parse, header writing,
 * every malformed case and its WEFT_E* code, no read past the end), piece
 * sizing, the RNG (reference xoshiro256**, never an all-zero vector) and
 * weft_strerror.
 *
 * ctest runs this file once per WEFT_GF_IMPL; tests skip when the CPU lacks
 * the named implementation.
 */
#include "test_codec_util.h"

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
        {0, 1, 1},
        {0, 1024, 1},
        {1, 1, 1},
        {1, 1024, 1},
        {1025, 1024, 2},
        {10, 1, 10},
        {64 * 9, 9, 64},
        {500 * 4, 4, 500},
        {1000 * 3, 3, 1000},
        {3000 * 7, 7, 3008},
        {1000000, 10, 100032},
        {1000001, 10, 100032},
        {100000, 1, 100032},
        {65, 1, 65},
        {12801, 1, 12864},
        /* a multiple of 4 KiB gets one more cache line (L1 set aliasing) */
        {1048576, 16, 65600},
        {4096 * 4, 4, 4160},
        {8192 * 64, 64, 8256},
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
