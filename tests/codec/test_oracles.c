/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cross-checks against two independent GF(2^8) libraries that use the same
 * field (polynomial 0x11D): ISA-L and gf-complete. Scalar multiply, inverse
 * and division must agree on every input. ISA-L must decode weft's shards
 * (invert the k x k coefficient matrix with gf_invert_matrix, apply it to
 * the payloads with ec_encode_data) and, given weft's coefficients, must
 * produce weft's payloads. gf-complete's region multiply must match
 * weft_gf_mul_region and weft_gf_muladd_region. Region work goes through
 * the implementation WEFT_GF_IMPL selects.
 */
#include <gf_complete.h>
#include <isa-l/erasure_code.h>

#include "testutil.h"

#define SEEDF " [seed=%" PRIu64 "]"

static void
oracle_setup(void)
{
    require_env_impl();
    oracle_from_slow();
}

/* ---- ISA-L ------------------------------------------------------------------- */

Test(isal, gf_mul_agrees_on_all_pairs, .init = oracle_setup)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            uint8_t w = weft_gf_mul((uint8_t)a, (uint8_t)b);
            uint8_t i = gf_mul((unsigned char)a, (unsigned char)b);
            cr_assert_eq(w, i, "0x%02x * 0x%02x: weft 0x%02x, ISA-L 0x%02x", a, b, w, i);
        }
}

Test(isal, gf_inv_agrees, .init = oracle_setup)
{
    for (unsigned a = 1; a < 256; a++) {
        uint8_t w = weft_gf_inv((uint8_t)a);
        uint8_t i = gf_inv((unsigned char)a);
        cr_assert_eq(w, i, "inverse of 0x%02x: weft 0x%02x, ISA-L 0x%02x", a, w, i);
    }
}

/*
 * Take the first k innovative shards (as weft's decoder judges them), build
 * their coefficient matrix, let ISA-L invert it and apply the inverse to the
 * payloads: the result must be the original pieces.
 */
static void
isal_decode_case(uint32_t k, size_t len, unsigned flags, trng *r, uint64_t seed)
{
    uint8_t *msg = malloc(len + 1);
    trng_fill(r, msg, len);
    int err = 0;
    weft_encoder *e = weft_enc_new(msg, len, k, 0, flags, trng_next(r), &err);
    cr_assert(e, "weft_enc_new: %s" SEEDF, weft_strerror(err), seed);
    const weft_gen *g = weft_enc_gen(e);
    size_t ss = weft_shard_size(g);
    uint32_t piece = g->piece_size;
    weft_decoder *d = weft_dec_new(g, &err);
    cr_assert(d, "weft_dec_new: %s" SEEDF, weft_strerror(err), seed);

    uint8_t *shards = malloc((size_t)k * ss);
    uint32_t have = 0;
    for (int guard = 0; have < k; guard++) {
        cr_assert(guard < (int)k + 50, "k %u: only %u innovative shards" SEEDF, k, have, seed);
        uint8_t *s = shards + (size_t)have * ss;
        cr_assert_eq(weft_enc_next(e, s, ss), (int)ss, "next" SEEDF, seed);
        int rc = weft_dec_push(d, s, ss);
        cr_assert(rc == 0 || rc == 1, "push: %d" SEEDF, rc, seed);
        have += rc == WEFT_DEC_INNOVATIVE;
    }

    unsigned char *m = malloc((size_t)k * k), *inv = malloc((size_t)k * k);
    for (uint32_t i = 0; i < k; i++)
        memcpy(m + (size_t)i * k, shards + (size_t)i * ss + WEFT_SHARD_HDR, k);
    int rc = gf_invert_matrix(m, inv, (int)k);
    cr_assert_eq(rc, 0, "k %u: ISA-L finds singular the vectors weft called independent" SEEDF, k,
                 seed);

    unsigned char *tbl = malloc((size_t)32 * k * k);
    unsigned char **in = malloc(k * sizeof(*in)), **out = malloc(k * sizeof(*out));
    for (uint32_t i = 0; i < k; i++) {
        in[i] = shards + (size_t)i * ss + WEFT_SHARD_HDR + k;
        out[i] = malloc(piece);
    }
    ec_init_tables((int)k, (int)k, inv, tbl);
    ec_encode_data((int)piece, (int)k, (int)k, tbl, in, out);

    uint8_t *want = malloc(piece);
    for (uint32_t i = 0; i < k; i++) {
        piece_of(msg, len, piece, i, want);
        long bad = first_diff(out[i], want, piece);
        cr_assert(bad < 0,
                  "k %u, len %zu, flags %u: ISA-L's decode of piece %u differs at byte %ld" SEEDF,
                  k, len, flags, i, bad, seed);
        free(out[i]);
    }
    /* And weft's own decode of the same shards agrees. */
    size_t dlen = 0;
    const uint8_t *dm = weft_dec_message(d, &dlen);
    cr_assert(dm && dlen == len && memcmp(dm, msg, len) == 0, "k %u: weft decode differs" SEEDF, k,
              seed);

    free(want);
    free(in);
    free(out);
    free(tbl);
    free(m);
    free(inv);
    free(shards);
    weft_dec_free(d);
    weft_enc_free(e);
    free(msg);
}

Test(isal, decodes_weft_shards, .init = oracle_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 2, 3, 5, 16, 32, 64, 100};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        size_t len = ks[i] * (200 + trng_below(&r, 800)) + trng_below(&r, 7);
        isal_decode_case(ks[i], len, 0, &r, seed);
        isal_decode_case(ks[i], len + 1, WEFT_ENC_SYSTEMATIC, &r, seed);
    }
    isal_decode_case(8, test_quick() ? 100003 : (1u << 20) + 5, 0, &r, seed);
}

Test(isal, encodes_like_weft, .init = oracle_setup)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    static const uint32_t ks[] = {1, 3, 10, 32, 64, 200};
    for (size_t ci = 0; ci < sizeof(ks) / sizeof(ks[0]); ci++) {
        uint32_t k = ks[ci], rows = 1 + (uint32_t)trng_below(&r, 12);
        size_t len = k * (1 + trng_below(&r, 2000)) + trng_below(&r, 3);
        uint8_t *msg = malloc(len + 1);
        trng_fill(&r, msg, len);
        int err = 0;
        weft_encoder *e = weft_enc_new(msg, len, k, 0, 0, trng_next(&r), &err);
        cr_assert(e, "weft_enc_new: %s" SEEDF, weft_strerror(err), seed);
        const weft_gen *g = weft_enc_gen(e);
        uint32_t piece = g->piece_size;
        size_t ss = weft_shard_size(g);

        unsigned char *coefs = malloc((size_t)rows * k), *tbl = malloc((size_t)32 * k * rows);
        for (size_t j = 0; j < (size_t)rows * k; j++)
            coefs[j] = trng_coef(&r);
        for (uint32_t row = 0; row < rows; row++)
            coefs[(size_t)row * k + trng_below(&r, k)] |= 1; /* never all zero */
        unsigned char **in = malloc(k * sizeof(*in)), **out = malloc(rows * sizeof(*out));
        for (uint32_t i = 0; i < k; i++) {
            in[i] = malloc(piece);
            piece_of(msg, len, piece, i, in[i]);
        }
        for (uint32_t row = 0; row < rows; row++)
            out[row] = malloc(piece);
        ec_init_tables((int)k, (int)rows, coefs, tbl);
        ec_encode_data((int)piece, (int)k, (int)rows, tbl, in, out);

        uint8_t *s = malloc(ss);
        for (uint32_t row = 0; row < rows; row++) {
            int n = weft_enc_with(e, coefs + (size_t)row * k, s, ss);
            cr_assert_eq(n, (int)ss, "weft_enc_with: %d" SEEDF, n, seed);
            long bad = first_diff(s + WEFT_SHARD_HDR + k, out[row], piece);
            cr_assert(bad < 0,
                      "k %u, piece %u, row %u: weft payload differs from ISA-L at byte %ld" SEEDF,
                      k, piece, row, bad, seed);
            free(out[row]);
        }
        for (uint32_t i = 0; i < k; i++)
            free(in[i]);
        free(in);
        free(out);
        free(s);
        free(coefs);
        free(tbl);
        weft_enc_free(e);
        free(msg);
    }
}

/* ---- gf-complete --------------------------------------------------------------- */

static gf_t gfc;

static void
gfc_setup(void)
{
    oracle_setup();
    cr_assert(gf_init_easy(&gfc, 8), "gf_init_easy(w = 8) failed");
}

static void
gfc_teardown(void)
{
    gf_free(&gfc, 0);
}

Test(gfcomplete, scalar_ops_agree_on_all_pairs, .init = gfc_setup, .fini = gfc_teardown)
{
    for (unsigned a = 0; a < 256; a++) {
        if (a) {
            uint8_t w = weft_gf_inv((uint8_t)a);
            uint32_t c = gfc.inverse.w32(&gfc, a);
            cr_assert_eq(w, c, "inverse of 0x%02x: weft 0x%02x, gf-complete 0x%02x", a, w, c);
        }
        for (unsigned b = 0; b < 256; b++) {
            uint8_t w = weft_gf_mul((uint8_t)a, (uint8_t)b);
            uint32_t c = gfc.multiply.w32(&gfc, a, b);
            cr_assert_eq(w, c, "0x%02x * 0x%02x: weft 0x%02x, gf-complete 0x%02x", a, b, w, c);
            if (b) {
                w = weft_gf_div((uint8_t)a, (uint8_t)b);
                c = gfc.divide.w32(&gfc, a, b);
                cr_assert_eq(w, c, "0x%02x / 0x%02x: weft 0x%02x, gf-complete 0x%02x", a, b, w, c);
            }
        }
    }
}

Test(gfcomplete, region_multiply_agrees, .init = gfc_setup, .fini = gfc_teardown)
{
    uint64_t seed = test_seed();
    trng r = {seed};
    for (int i = 0; i < 300; i++) {
        size_t len = i < 64 ? (size_t)i + 1 : 1 + trng_below(&r, 6000);
        /* gf-complete wants src and dst equally placed modulo 16; weft's
         * buffers are placed independently. */
        size_t off = trng_below(&r, 64);
        int add = i % 2;
        /* Never 1: gf-complete's own multiply-by-one path (gf_multby_one)
         * faults on short unaligned regions. 0 and 1 are checked against
         * the test's oracle in test_kernels.c. */
        uint8_t c = i % 7 == 0 ? 0 : (uint8_t)(2 + trng_below(&r, 254));
        gbuf src, ref, got;
        gbuf_init(&src, len, off, &r);
        gbuf_init(&ref, len, off + 16 * trng_below(&r, 3), &r);
        gbuf_init(&got, len, trng_below(&r, 64), &r);
        memcpy(got.p, ref.p, len);
        gbuf_snap(&got);
        gfc.multiply_region.w32(&gfc, src.p, ref.p, c, (int)len, add);
        if (add)
            weft_gf_muladd_region(got.p, src.p, c, len);
        else
            weft_gf_mul_region(got.p, src.p, c, len);
        long bad = first_diff(got.p, ref.p, len);
        cr_assert(bad < 0,
                  "%s %s, len %zu, c 0x%02x: byte %ld weft 0x%02x, gf-complete 0x%02x" SEEDF,
                  weft_gf_impl_name(), add ? "muladd" : "mul", len, c, bad,
                  bad < 0 ? 0 : got.p[bad], bad < 0 ? 0 : ref.p[bad], seed);
        cr_assert(gbuf_guard_damage(&got) < 0, "weft wrote outside the region" SEEDF, seed);
        gbuf_free(&src);
        gbuf_free(&ref);
        gbuf_free(&got);
    }
}
