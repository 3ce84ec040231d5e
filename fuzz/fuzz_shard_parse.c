/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_shard_parse: weft_shard_parse on arbitrary bytes, judged against the
 * wire format of spec section 2 decoded here by hand. A success must agree
 * with that reading field by field (k in 1..1024, piece_size >= 1,
 * message_len <= k * piece_size, len == 12 + k + piece_size, coefs at offset
 * 12 and payload at 12 + k, both inside the buffer), and the header written
 * back by weft_shard_write_header must be the input's first 12 bytes. A
 * failure must be an error code that applies to the input (ETRUNC alone
 * below 12 bytes) and must leave *out untouched. The parse is repeated on an
 * exact-size copy one byte short, which must not read past its end.
 *
 * The same bytes, read as three u32 (k, piece_size, message_len), also drive
 * weft_gen_check, weft_shard_size and weft_shard_write_header; a header the
 * library writes must parse back to the same generation.
 */
#include "fuzz_util.h"

/* Whether err is among the errors that apply to buf[0..len), per the spec. */
static int
parse_error_applies(const uint8_t *buf, size_t len, int err)
{
    if (len < WEFT_SHARD_HDR)
        return err == WEFT_ETRUNC;
    uint32_t k = fz_le16(buf + 2), piece = fz_le32(buf + 4), msg = fz_le32(buf + 8);
    switch (err) {
    case WEFT_ETRUNC: return (uint64_t)len != (uint64_t)WEFT_SHARD_HDR + k + piece;
    case WEFT_EVERSION: return buf[0] != WEFT_SHARD_VERSION;
    case WEFT_EFIELD: return buf[1] != WEFT_FIELD_GF256;
    case WEFT_EK: return k == 0 || k > WEFT_MAX_K;
    case WEFT_EPIECE: return piece == 0;
    case WEFT_EMSGLEN: return (uint64_t)msg > (uint64_t)k * piece;
    default: return 0;
    }
}

static int
spec_accepts(const uint8_t *buf, size_t len)
{
    static const int errs[] = {WEFT_ETRUNC, WEFT_EVERSION, WEFT_EFIELD,
                               WEFT_EK,     WEFT_EPIECE,   WEFT_EMSGLEN};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (parse_error_applies(buf, len, errs[i]))
            return 0;
    return 1;
}

/* Parse buf[0..len) and check the answer against the spec. Returns the
 * parse result; *out receives the view on success. */
static int
parse_and_check(const uint8_t *buf, size_t len, weft_shard_view *out)
{
    weft_shard_view v, untouched;
    memset(&v, 0xA5, sizeof v);
    untouched = v;

    int rc = weft_shard_parse(buf, len, &v);
    if (rc != 0) {
        FZ_CHECK(rc < 0);
        FZ_CHECK(parse_error_applies(buf, len, rc));
        FZ_CHECK(!spec_accepts(buf, len));
        FZ_CHECK(memcmp(&v, &untouched, sizeof v) == 0);
        FZ_CHECK(weft_strerror(rc) != NULL);
        return rc;
    }

    FZ_CHECK(spec_accepts(buf, len));
    FZ_CHECK(v.gen.k >= 1 && v.gen.k <= WEFT_MAX_K);
    FZ_CHECK(v.gen.piece_size >= 1);
    FZ_CHECK((uint64_t)v.gen.message_len <= (uint64_t)v.gen.k * v.gen.piece_size);
    FZ_CHECK((uint64_t)len == (uint64_t)WEFT_SHARD_HDR + v.gen.k + v.gen.piece_size);
    FZ_CHECK(v.gen.k == fz_le16(buf + 2));
    FZ_CHECK(v.gen.piece_size == fz_le32(buf + 4));
    FZ_CHECK(v.gen.message_len == fz_le32(buf + 8));
    FZ_CHECK(v.coefs == buf + WEFT_SHARD_HDR);
    FZ_CHECK(v.payload == buf + WEFT_SHARD_HDR + v.gen.k);
    FZ_CHECK(v.payload + v.gen.piece_size == buf + len);
    FZ_CHECK(weft_gen_check(&v.gen) == 0);
    FZ_CHECK(weft_shard_size(&v.gen) == len);
    *out = v;
    return 0;
}

/* weft_gen_check, weft_shard_size and weft_shard_write_header on any
 * generation; a valid one is written, parsed back and compared. */
static void
check_writer(const weft_gen *g)
{
    int bad_k = g->k == 0 || g->k > WEFT_MAX_K;
    int bad_piece = g->piece_size == 0;
    int bad_len = (uint64_t)g->message_len > (uint64_t)g->k * g->piece_size;
    int valid = !bad_k && !bad_piece && !bad_len;

    int rc = weft_gen_check(g);
    if (valid) {
        FZ_CHECK(rc == 0);
    } else {
        FZ_CHECK((rc == WEFT_EK && bad_k) || (rc == WEFT_EPIECE && bad_piece) ||
                 (rc == WEFT_EMSGLEN && bad_len));
    }

    uint8_t hdr[WEFT_SHARD_HDR + 4], want[WEFT_SHARD_HDR];
    memset(hdr, 0x5A, sizeof hdr);
    int wr = weft_shard_write_header(hdr, WEFT_SHARD_HDR, g);
    FZ_CHECK(hdr[WEFT_SHARD_HDR] == 0x5A); /* nothing past cap */
    if (!valid) {
        FZ_CHECK(wr == rc);
        return;
    }
    FZ_CHECK(wr == WEFT_SHARD_HDR);
    fz_header(want, g->k, g->piece_size, g->message_len);
    FZ_CHECK(memcmp(hdr, want, WEFT_SHARD_HDR) == 0);
    FZ_CHECK(weft_shard_size(g) == (size_t)WEFT_SHARD_HDR + g->k + g->piece_size);

    uint8_t small[WEFT_SHARD_HDR];
    memset(small, 0x5A, sizeof small);
    FZ_CHECK(weft_shard_write_header(small, WEFT_SHARD_HDR - 1, g) == WEFT_ENOSPC);
    FZ_CHECK(small[WEFT_SHARD_HDR - 1] == 0x5A);

    /* Keep the allocation modest; large piece sizes are covered above. */
    if (g->piece_size > (1u << 16))
        return;
    size_t len = weft_shard_size(g);
    uint8_t *shard = calloc(len, 1);
    FZ_CHECK(shard != NULL);
    memcpy(shard, hdr, WEFT_SHARD_HDR);
    weft_shard_view v;
    FZ_CHECK(parse_and_check(shard, len, &v) == 0);
    FZ_CHECK(fz_gen_eq(&v.gen, g));
    free(shard);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_shard_view v;
    int rc = parse_and_check(data, size, &v);
    if (rc == 0) {
        uint8_t hdr[WEFT_SHARD_HDR];
        FZ_CHECK(weft_shard_write_header(hdr, sizeof hdr, &v.gen) == WEFT_SHARD_HDR);
        FZ_CHECK(memcmp(hdr, data, WEFT_SHARD_HDR) == 0);
    }

    /* One byte short, from an exact-size heap copy: never valid when the
     * whole input was, and never read past its end. */
    if (size > 0) {
        uint8_t *copy = fz_dup(data, size - 1);
        weft_shard_view w;
        int rc2 = parse_and_check(copy, size - 1, &w);
        if (rc == 0)
            FZ_CHECK(rc2 == WEFT_ETRUNC);
        free(copy);
    }

    fz_reader r = {data, size};
    weft_gen g;
    g.k = fz_u32(&r);
    g.piece_size = fz_u32(&r);
    g.message_len = fz_u32(&r);
    check_writer(&g);
    /* The same with k folded into range, so the valid path is common. */
    g.k = 1 + g.k % WEFT_MAX_K;
    check_writer(&g);
    return 0;
}
