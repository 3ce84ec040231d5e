/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multistream-select 1.0 engine (weft/mss.h): message framing byte-exact
 * against the js-libp2p vectors (tests/vectors/vectors.json), both roles
 * wired back to back with every chunking from single bytes up, `na`
 * fallback, `ls`, application data left unconsumed after the final message,
 * and every malformed input the engine must refuse (long ids, missing
 * newline, empty or over-long length prefixes, wrong header, unexpected
 * replies, too many proposals).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/mss.h"
#include "weft/pb.h"

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    cr_assert_leq(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void
assert_buf(const weft_buf *b, const uint8_t *want, size_t n, const char *what)
{
    cr_assert_eq(b->len, n, "%s: %zu bytes, want %zu", what, b->len, n);
    cr_assert(memcmp(b->base, want, n) == 0, "%s: bytes differ", what);
}

/* Every entry of vectors.json "multistream" (id -> hex frame) must be what
 * weft_mss_put_msg writes for the id. */
Test(mss, js_vectors_byte_exact)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vectors.json", WEFT_TEST_VECTORS);
    char *json = slurp(path);
    cr_assert_not_null(json, "cannot read %s", path);

    const char *p = strstr(json, "\"multistream\"");
    cr_assert_not_null(p);
    p = strchr(p, '{');
    cr_assert_not_null(p);
    const char *end = strchr(p, '}');
    cr_assert_not_null(end);
    int count = 0;
    while ((p = strchr(p + 1, '"')) != NULL && p < end) {
        const char *k0 = p + 1, *k1 = strchr(k0, '"');
        const char *v0 = strchr(k1 + 1, '"') + 1, *v1 = strchr(v0, '"');
        char key[256], hex[512];
        cr_assert_lt((size_t)(k1 - k0), sizeof key);
        cr_assert_lt((size_t)(v1 - v0), sizeof hex);
        memcpy(key, k0, (size_t)(k1 - k0));
        key[k1 - k0] = '\0';
        memcpy(hex, v0, (size_t)(v1 - v0));
        hex[v1 - v0] = '\0';
        uint8_t want[256];
        size_t n = unhex(hex, want, sizeof want);

        weft_buf b;
        weft_buf_init(&b, NULL, 0, 0);
        cr_assert_eq(weft_mss_put_msg(&b, key, strlen(key)), 0);
        assert_buf(&b, want, n, key);
        weft_buf_free(&b);
        count++;
        p = v1;
    }
    cr_assert_geq(count, 9, "only %d multistream vectors found", count);
    free(json);
}

/* Known frames, also fixed here so the suite stands without the file. */
static const uint8_t HDR_MSG[] = "\x13/multistream/1.0.0\n";
static const uint8_t NOISE_MSG[] = "\x07/noise\n";
static const uint8_t YAMUX_MSG[] = "\x0d/yamux/1.0.0\n";
static const uint8_t NA_MSG[] = "\x03na\n";
#define LEN(a) (sizeof(a) - 1)

static void
concat(weft_buf *b, const void *p, size_t n)
{
    cr_assert_eq(weft_buf_append(b, p, n), 0);
}

Test(mss, initiator_start_writes_header_and_first_choice)
{
    const char *protos[] = {"/noise"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_initiator(&m, protos, 1), 0);
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    uint8_t want[64];
    memcpy(want, HDR_MSG, LEN(HDR_MSG));
    memcpy(want + LEN(HDR_MSG), NOISE_MSG, LEN(NOISE_MSG));
    assert_buf(&out, want, LEN(HDR_MSG) + LEN(NOISE_MSG), "start");
    cr_assert_eq(weft_mss_start(&m, &out), WEFT_EINVAL, "second start");
    weft_buf_free(&out);
}

Test(mss, responder_eager_header_is_not_repeated)
{
    const char *protos[] = {"/noise"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&m, protos, 1), 0);
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    assert_buf(&out, HDR_MSG, LEN(HDR_MSG), "eager header");
    weft_buf_reset(&out);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    cr_assert_eq(used, LEN(HDR_MSG));
    cr_assert_eq(out.len, 0, "header sent twice");
    cr_assert_eq(weft_mss_input(&m, NOISE_MSG, LEN(NOISE_MSG), &used, &out), 1);
    assert_buf(&out, NOISE_MSG, LEN(NOISE_MSG), "echo");
    cr_assert_eq(weft_mss_selected(&m), 0);
    cr_assert_str_eq(weft_mss_selected_name(&m), "/noise");
    weft_buf_free(&out);
}

/* Lazy initiator (js): header + proposal + application data in one write.
 * The responder answers header + echo and leaves the data alone. */
Test(mss, responder_leaves_application_data)
{
    const char *protos[] = {"/ipfs/id/1.0.0", "/yamux/1.0.0"};
    weft_mss m;
    weft_buf in, out;
    weft_buf_init(&in, NULL, 0, 0);
    weft_buf_init(&out, NULL, 0, 0);
    concat(&in, HDR_MSG, LEN(HDR_MSG));
    concat(&in, YAMUX_MSG, LEN(YAMUX_MSG));
    concat(&in, "\x00\x01\x00\x01", 4);
    cr_assert_eq(weft_mss_init_responder(&m, protos, 2), 0);
    size_t used = 99;
    cr_assert_eq(weft_mss_input(&m, in.base, in.len, &used, &out), 1);
    cr_assert_eq(used, in.len - 4);
    uint8_t want[64];
    memcpy(want, HDR_MSG, LEN(HDR_MSG));
    memcpy(want + LEN(HDR_MSG), YAMUX_MSG, LEN(YAMUX_MSG));
    assert_buf(&out, want, LEN(HDR_MSG) + LEN(YAMUX_MSG), "reply");
    cr_assert_eq(weft_mss_selected(&m), 1);
    /* Done is sticky and consumes nothing. */
    cr_assert_eq(weft_mss_input(&m, in.base + used, 4, &used, &out), 1);
    cr_assert_eq(used, 0);
    weft_buf_free(&in);
    weft_buf_free(&out);
}

Test(mss, initiator_leaves_application_data_and_falls_back_on_na)
{
    const char *protos[] = {"/meshsub/1.2.0", "/meshsub/1.1.0"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_initiator(&m, protos, 2), 0);
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    weft_buf_reset(&out);
    size_t used;
    uint8_t in[128];
    size_t n = 0;
    memcpy(in + n, HDR_MSG, LEN(HDR_MSG));
    n += LEN(HDR_MSG);
    memcpy(in + n, NA_MSG, LEN(NA_MSG));
    n += LEN(NA_MSG);
    cr_assert_eq(weft_mss_input(&m, in, n, &used, &out), 0);
    cr_assert_eq(used, n);
    uint8_t want[64];
    size_t wn = unhex("0f2f6d6573687375622f312e312e300a", want, sizeof want);
    assert_buf(&out, want, wn, "second proposal");
    memcpy(in, want, wn);
    memcpy(in + wn, "DATA", 4);
    cr_assert_eq(weft_mss_input(&m, in, wn + 4, &used, &out), 1);
    cr_assert_eq(used, wn);
    cr_assert_eq(weft_mss_selected(&m), 1);
    cr_assert_str_eq(weft_mss_selected_name(&m), "/meshsub/1.1.0");
    weft_buf_free(&out);
}

Test(mss, all_refused_is_enotsup_and_sticky)
{
    const char *protos[] = {"/a", "/b"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_initiator(&m, protos, 2), 0);
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    cr_assert_eq(weft_mss_input(&m, NA_MSG, LEN(NA_MSG), &used, &out), 0);
    cr_assert_eq(weft_mss_input(&m, NA_MSG, LEN(NA_MSG), &used, &out), WEFT_ENOTSUP);
    cr_assert_eq(weft_mss_input(&m, NA_MSG, LEN(NA_MSG), &used, &out), WEFT_ENOTSUP);
    cr_assert_eq(used, 0);
    cr_assert_eq(weft_mss_selected(&m), -1);
    cr_assert_null(weft_mss_selected_name(&m));
    weft_buf_free(&out);
}

/* Drive an initiator and a responder against each other, handing bytes over
 * in chunks of 1..maxchunk (seeded). Returns the initiator's result. */
static int
negotiate(const char *const *iprotos, size_t ni, const char *const *rprotos, size_t nr,
          uint64_t seed, size_t maxchunk, int *rsel, int *isel)
{
    weft_mss a, b;
    weft_buf a2b, b2a;
    weft_buf_init(&a2b, NULL, 0, 0);
    weft_buf_init(&b2a, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_initiator(&a, iprotos, ni), 0);
    cr_assert_eq(weft_mss_init_responder(&b, rprotos, nr), 0);
    cr_assert_eq(weft_mss_start(&a, &a2b), 0);
    if (seed & 1)
        cr_assert_eq(weft_mss_start(&b, &b2a), 0);
    /* With one choice, be lazy as js is: data right after the proposal. */
    size_t tail = ni == 1 ? 8 : 0;
    cr_assert_eq(weft_buf_append(&a2b, "app-data", tail), 0);
    int ra = 0, rb = 0;
    uint64_t x = seed;
    for (int round = 0; round < 100000 && ra == 0; round++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t chunk = 1 + (size_t)((x >> 33) % maxchunk);
        if (rb == 0 && a2b.len > tail) {
            size_t n = chunk < a2b.len ? chunk : a2b.len, used;
            rb = weft_mss_input(&b, a2b.base, n, &used, &b2a);
            cr_assert_geq(rb, 0, "responder error %d (seed %" PRIu64 ")", rb, seed);
            weft_buf_consume(&a2b, used);
            if (rb == 1)
                cr_assert_eq(a2b.len, tail, "responder ate application data (seed %" PRIu64 ")",
                             seed);
        }
        if (b2a.len > 0) {
            size_t n = chunk < b2a.len ? chunk : b2a.len, used;
            ra = weft_mss_input(&a, b2a.base, n, &used, &a2b);
            weft_buf_consume(&b2a, used);
            if (ra < 0)
                break;
        }
    }
    *rsel = weft_mss_selected(&b);
    *isel = weft_mss_selected(&a);
    if (ra == 1)
        cr_assert_eq(b2a.len, 0, "reply bytes left over (seed %" PRIu64 ")", seed);
    weft_buf_free(&a2b);
    weft_buf_free(&b2a);
    return ra;
}

Test(mss, back_to_back_every_chunking)
{
    const char *ip[] = {"/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"};
    const char *rp[] = {"/ipfs/id/1.0.0", "/meshsub/1.0.0", "/meshsub/1.1.0"};
    const char *none[] = {"/x"};
    const char *env = getenv("WEFT_TEST_SEED");
    uint64_t seed0 = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    for (size_t maxchunk = 1; maxchunk <= 64; maxchunk++) {
        uint64_t seed = seed0 + maxchunk;
        int rs, is;
        cr_assert_eq(negotiate(ip, 3, rp, 3, seed, maxchunk, &rs, &is), 1,
                     "seed %" PRIu64 " maxchunk %zu", seed, maxchunk);
        cr_assert_eq(is, 1);
        cr_assert_eq(rs, 2);
        cr_assert_eq(negotiate(ip, 3, none, 1, seed, maxchunk, &rs, &is), WEFT_ENOTSUP,
                     "seed %" PRIu64, seed);
        cr_assert_eq(negotiate(ip + 1, 1, rp, 3, seed, maxchunk, &rs, &is), 1, "seed %" PRIu64,
                     seed);
        cr_assert_eq(is, 0);
        cr_assert_eq(rs, 2);
    }
}

Test(mss, ls_lists_protocols)
{
    const char *protos[] = {"/a", "/bc"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&m, protos, 2), 0);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    weft_buf_reset(&out);
    cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03ls\n", 4, &used, &out), 0);
    /* outer length 9 = (1+2+1) + (1+3+1) + newline */
    static const uint8_t want[] = "\x0a\x03/a\n\x04/bc\n\n";
    assert_buf(&out, want, LEN(want), "ls answer");
    weft_buf_free(&out);

    weft_mss e;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&e, NULL, 0), 0);
    cr_assert_eq(weft_mss_input(&e, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    weft_buf_reset(&out);
    cr_assert_eq(weft_mss_input(&e, (const uint8_t *)"\x03ls\n", 4, &used, &out), 0);
    assert_buf(&out, NA_MSG, LEN(NA_MSG), "ls with nothing to list");
    weft_buf_free(&out);
}

static int
accept_long(void *arg, const char *id, size_t len)
{
    (void)arg;
    cr_assert_eq(id[len], '\0');
    return len == WEFT_MSS_MAX_ID ? 7 : -1;
}

/* Feed header + one proposal of id_len bytes (framed honestly) to a
 * responder; returns its result. */
static int
propose_len(size_t id_len)
{
    weft_mss m;
    weft_buf in, out;
    weft_buf_init(&in, NULL, 0, 0);
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&m, NULL, 0), 0);
    weft_mss_set_select(&m, accept_long, NULL);
    concat(&in, HDR_MSG, LEN(HDR_MSG));
    uint8_t pfx[10];
    size_t pl = weft_uvarint_put(pfx, id_len + 1);
    concat(&in, pfx, pl);
    for (size_t i = 0; i < id_len; i++)
        concat(&in, "x", 1);
    concat(&in, "\n", 1);
    size_t used;
    int rc = weft_mss_input(&m, in.base, in.len, &used, &out);
    if (rc == 1)
        cr_assert_eq(weft_mss_selected(&m), 7);
    weft_buf_free(&in);
    weft_buf_free(&out);
    return rc;
}

Test(mss, id_length_limit)
{
    cr_assert_eq(propose_len(WEFT_MSS_MAX_ID), 1);
    cr_assert_eq(propose_len(WEFT_MSS_MAX_ID + 1), WEFT_EPROTO);
    cr_assert_eq(propose_len(100000), WEFT_EPROTO);
}

static int
responder_after_header(const uint8_t *msg, size_t n, size_t *used)
{
    const char *protos[] = {"/a"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&m, protos, 1), 0);
    size_t u;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &u, &out), 0);
    int rc = weft_mss_input(&m, msg, n, used, &out);
    /* errors are sticky */
    if (rc < 0)
        cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03/a\n", 4, &u, &out), rc);
    weft_buf_free(&out);
    return rc;
}

Test(mss, malformed_messages)
{
    size_t used;
    /* no trailing newline */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x02/a", 3, &used), WEFT_EPROTO);
    /* zero length */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x00", 1, &used), WEFT_EPROTO);
    /* non-minimal varint for 4 */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x84\x00/a\n", 5, &used), WEFT_EPROTO);
    /* three continuation bytes: at least 2^21 */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x80\x80\x80", 3, &used), WEFT_EPROTO);
    /* 1026 = 0x82 0x08 */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x82\x08", 2, &used), WEFT_EPROTO);
    cr_assert_eq(used, 2, "error reported as soon as the prefix is known");
    /* the empty id and keywords are answered na, not accepted */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x01\n", 2, &used), 0);
    cr_assert_eq(responder_after_header(NA_MSG, 4, &used), 0);
    cr_assert_eq(responder_after_header(HDR_MSG, LEN(HDR_MSG), &used), 0);
    /* a valid proposal is accepted, byte by byte */
    cr_assert_eq(responder_after_header((const uint8_t *)"\x03/a\n", 4, &used), 1);
}

Test(mss, wrong_header)
{
    weft_mss m;
    weft_buf out;
    size_t used;
    const char *protos[] = {"/a"};
    weft_buf_init(&out, NULL, 0, 0);

    cr_assert_eq(weft_mss_init_responder(&m, protos, 1), 0);
    cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03/a\n", 4, &used, &out), WEFT_EPROTO);
    cr_assert_eq(out.len, 0);

    cr_assert_eq(weft_mss_init_responder(&m, protos, 1), 0);
    static const uint8_t v2[] = "\x13/multistream/2.0.0\n";
    cr_assert_eq(weft_mss_input(&m, v2, LEN(v2), &used, &out), WEFT_ENOTSUP);

    cr_assert_eq(weft_mss_init_initiator(&m, protos, 1), 0);
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), WEFT_EINVAL,
                 "input before start");
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    cr_assert_eq(weft_mss_input(&m, NA_MSG, LEN(NA_MSG), &used, &out), WEFT_EPROTO);
    weft_buf_free(&out);
}

Test(mss, initiator_rejects_unexpected_reply)
{
    const char *protos[] = {"/a", "/b"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_initiator(&m, protos, 2), 0);
    cr_assert_eq(weft_mss_start(&m, &out), 0);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    /* echo of the second id while the first is in flight */
    cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03/b\n", 4, &used, &out), WEFT_EPROTO);
    weft_buf_free(&out);
}

Test(mss, too_many_proposals)
{
    const char *protos[] = {"/a"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 0);
    cr_assert_eq(weft_mss_init_responder(&m, protos, 1), 0);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), 0);
    for (int i = 0; i < WEFT_MSS_MAX_ATTEMPTS; i++)
        cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03/z\n", 4, &used, &out), 0);
    cr_assert_eq(weft_mss_input(&m, (const uint8_t *)"\x03/a\n", 4, &used, &out), WEFT_ELIMIT);
    weft_buf_free(&out);
}

Test(mss, init_validates_ids)
{
    weft_mss m;
    char big[WEFT_MSS_MAX_ID + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *bad[][1] = {{""}, {"na"}, {"ls"}, {WEFT_MSS_HEADER}, {"/a\nb"}, {big}, {NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(weft_mss_init_initiator(&m, bad[i], 1), WEFT_EINVAL, "case %zu", i);
        cr_assert_eq(weft_mss_init_responder(&m, bad[i], 1), WEFT_EINVAL, "case %zu", i);
    }
    const char *ok[] = {"/a"};
    cr_assert_eq(weft_mss_init_initiator(&m, ok, 0), WEFT_EINVAL);
    cr_assert_eq(weft_mss_init_responder(&m, NULL, 0), 0);
    big[WEFT_MSS_MAX_ID] = '\0';
    const char *edge[] = {big};
    cr_assert_eq(weft_mss_init_initiator(&m, edge, 1), 0);
    cr_assert_eq(weft_mss_put_msg(&(weft_buf){0}, big, WEFT_MSS_MAX_ID + 1), WEFT_EINVAL);
}

/* The output buffer's cap is honoured and the failure sticks. */
Test(mss, output_cap)
{
    const char *protos[] = {"/a"};
    weft_mss m;
    weft_buf out;
    weft_buf_init(&out, NULL, 0, 8);
    cr_assert_eq(weft_mss_init_initiator(&m, protos, 1), 0);
    cr_assert_eq(weft_mss_start(&m, &out), WEFT_ETOOBIG);
    size_t used;
    cr_assert_eq(weft_mss_input(&m, HDR_MSG, LEN(HDR_MSG), &used, &out), WEFT_ETOOBIG);
    weft_buf_free(&out);
}
