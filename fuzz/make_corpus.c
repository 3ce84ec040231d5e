/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of the fuzz targets into DIR/<target>/ (the
 * committed ones live in fuzz/corpus/). Deterministic: the same files on
 * every run. It uses only fuzz_util.h (its own GF(2^8) and header writer),
 * never the library, so the seeds do not inherit a codec bug.
 *
 *   shard_parse  real coded and systematic shards of several generations,
 *                truncated and over-long ones, and each kind of bad header;
 *   decoder      inputs in fuzz_decoder.c's layout: full decodes, recodes,
 *                resets, every corruption kind, raw and push_parts records,
 *                copied and borrowed;
 *   roundtrip    inputs in fuzz_roundtrip.c's layout over k, piece rules,
 *                flags, loss and relay patterns, message sizes 0..2100,
 *                batches as shards and as views.
 *
 * Usage: weft-fuzz-corpus DIR
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fuzz_util.h"

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static const char *outdir;
static uint64_t prng = 0x5EEDC0DE;

static uint64_t
next64(void)
{
    /* splitmix64 */
    uint64_t z = (prng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static void
random_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next64();
}

static void
put(buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        FZ_CHECK(b->p != NULL);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void
put8(buf *b, uint32_t v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void
put16(buf *b, uint32_t v)
{
    uint8_t x[2];
    fz_put16(x, v);
    put(b, x, 2);
}

static void
put32(buf *b, uint32_t v)
{
    uint8_t x[4];
    fz_put32(x, v);
    put(b, x, 4);
}

static void
put64(buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

static void
save(const char *target, const char *name, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void
save_buf(const char *target, const char *name, buf *b)
{
    save(target, name, b->p, b->len);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* A message cut into zero-padded pieces. */
typedef struct message {
    uint32_t k, piece, len;
    uint8_t *padded; /* k * piece */
} message;

static message
make_message(uint32_t k, uint32_t piece, uint32_t len)
{
    message m = {k, piece, len, calloc((size_t)k * piece, 1)};
    FZ_CHECK(m.padded != NULL);
    random_bytes(m.padded, len);
    return m;
}

/* Coefficients and payload of one coded shard: random non-zero vector, or
 * the unit vector of piece unit when unit < k. */
static void
code(const message *m, uint32_t unit, uint8_t *coefs, uint8_t *payload)
{
    if (unit < m->k) {
        memset(coefs, 0, m->k);
        coefs[unit] = 1;
    } else {
        do
            random_bytes(coefs, m->k);
        while (fz_all_zero(coefs, m->k));
    }
    memset(payload, 0, m->piece);
    for (uint32_t i = 0; i < m->k; i++)
        fz_gf_muladd(payload, m->padded + (size_t)i * m->piece, coefs[i], m->piece);
}

/* A whole serialized shard appended to b. */
static void
put_shard(buf *b, const message *m, uint32_t unit)
{
    uint8_t hdr[WEFT_SHARD_HDR];
    uint8_t *coefs = malloc(m->k), *payload = malloc(m->piece);
    FZ_CHECK(coefs != NULL && payload != NULL);
    code(m, unit, coefs, payload);
    fz_header(hdr, m->k, m->piece, m->len);
    put(b, hdr, sizeof hdr);
    put(b, coefs, m->k);
    put(b, payload, m->piece);
    free(coefs);
    free(payload);
}

/* ---- shard_parse ---------------------------------------------------------- */

static void
shard_parse_seeds(void)
{
    static const uint32_t gens[][3] = {
        {1, 1, 0},       {1, 1, 1},     {2, 5, 7},       {4, 16, 50},   {16, 64, 1000},
        {32, 100, 3200}, {100, 3, 250}, {1024, 1, 1024}, {3, 300, 899},
    };
    char name[64];
    buf b = {0};

    for (size_t g = 0; g < sizeof gens / sizeof gens[0]; g++) {
        message m = make_message(gens[g][0], gens[g][1], gens[g][2]);
        put_shard(&b, &m, UINT32_MAX);
        snprintf(name, sizeof name, "valid-k%u-p%u-l%u", m.k, m.piece, m.len);
        save_buf("shard_parse", name, &b);
        free(m.padded);
    }

    message m = make_message(4, 16, 50);
    put_shard(&b, &m, 2);
    save_buf("shard_parse", "systematic-k4-p16", &b);

    put_shard(&b, &m, UINT32_MAX);
    uint8_t good[WEFT_SHARD_HDR + 4 + 16];
    FZ_CHECK(b.len == sizeof good);
    memcpy(good, b.p, sizeof good);
    save_buf("shard_parse", "valid-k4-p16-l50-b", &b);

    save("shard_parse", "trunc-minus1", good, sizeof good - 1);
    save("shard_parse", "trunc-no-payload", good, WEFT_SHARD_HDR + 4);
    save("shard_parse", "trunc-header-only", good, WEFT_SHARD_HDR);
    save("shard_parse", "trunc-11", good, WEFT_SHARD_HDR - 1);
    save("shard_parse", "trunc-1", good, 1);
    put(&b, good, sizeof good);
    put8(&b, 0);
    save_buf("shard_parse", "long-plus1", &b);

    /* Each bad header in a buffer whose length matches what it claims. */
    static const struct {
        const char *name;
        uint8_t version, field;
        uint32_t k, piece, len;
        size_t body; /* bytes after the header */
    } bad[] = {
        {"bad-version-0", 0, 1, 4, 16, 50, 20},
        {"bad-version-2", 2, 1, 4, 16, 50, 20},
        {"bad-field-0", 1, 0, 4, 16, 50, 20},
        {"bad-field-2", 1, 2, 4, 16, 50, 20},
        {"bad-k-0", 1, 1, 0, 16, 0, 16},
        {"bad-k-1025", 1, 1, 1025, 1, 0, 1026},
        {"bad-k-65535", 1, 1, 65535, 1, 0, 8},
        {"bad-piece-0", 1, 1, 4, 0, 0, 4},
        {"bad-msglen", 1, 1, 4, 16, 65, 20},
        {"bad-msglen-max", 1, 1, 4, 16, UINT32_MAX, 20},
        {"bad-piece-max", 1, 1, 4, UINT32_MAX, 50, 20},
        /* 12 + k + piece wraps to 32 in 32-bit arithmetic, the real length */
        {"bad-wrapping-sum", 1, 1, 1024, UINT32_MAX - 1003u, 0, 20},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t hdr[WEFT_SHARD_HDR];
        fz_header(hdr, bad[i].k, bad[i].piece, bad[i].len);
        hdr[0] = bad[i].version;
        hdr[1] = bad[i].field;
        put(&b, hdr, sizeof hdr);
        uint8_t *body = calloc(bad[i].body, 1);
        FZ_CHECK(body != NULL);
        random_bytes(body, bad[i].body);
        put(&b, body, bad[i].body);
        free(body);
        save_buf("shard_parse", bad[i].name, &b);
    }
    free(m.padded);
}

/* ---- decoder -------------------------------------------------------------- */

static void
dec_begin(buf *b, const message *m, uint8_t kernels, uint32_t seed)
{
    put8(b, m->k - 1);
    put16(b, m->piece - 1);
    put32(b, m->len);
    put8(b, kernels);
    put32(b, seed);
}

/* op 0 (or 8 with a corruption): coefficients and payload of a coded shard;
 * flags (16: borrowed) are or'ed into the op. */
static void
dec_shard_op(buf *b, const message *m, uint32_t unit, int corrupt, uint8_t kind, uint8_t val,
             uint8_t flags)
{
    uint8_t *coefs = malloc(m->k), *payload = malloc(m->piece);
    FZ_CHECK(coefs != NULL && payload != NULL);
    code(m, unit, coefs, payload);
    put8(b, (corrupt ? 8 : (uint32_t)(next64() % 4)) | flags);
    if (corrupt) {
        put8(b, kind);
        put8(b, val);
    }
    put(b, coefs, m->k);
    put(b, payload, m->piece);
    free(coefs);
    free(payload);
}

static void
dec_shard(buf *b, const message *m, uint32_t unit, int corrupt, uint8_t kind, uint8_t val)
{
    dec_shard_op(b, m, unit, corrupt, kind, val, 0);
}

static void
dec_parts_op(buf *b, const message *m, uint32_t unit, int zero, uint8_t flags)
{
    uint8_t *coefs = malloc(m->k), *payload = malloc(m->piece);
    FZ_CHECK(coefs != NULL && payload != NULL);
    code(m, unit, coefs, payload);
    if (zero)
        memset(coefs, 0, m->k);
    put8(b, 7 | flags);
    put(b, coefs, m->k);
    put(b, payload, m->piece);
    free(coefs);
    free(payload);
}

static void
dec_parts(buf *b, const message *m, uint32_t unit, int zero)
{
    dec_parts_op(b, m, unit, zero, 0);
}

static void
dec_raw_op(buf *b, const uint8_t *p, size_t len, uint8_t flags)
{
    put8(b, 4 | flags);
    put16(b, (uint32_t)len);
    put(b, p, len);
}

static void
dec_raw(buf *b, const uint8_t *p, size_t len)
{
    dec_raw_op(b, p, len, 0);
}

static void
decoder_seeds(void)
{
    buf b = {0};
    message m;

    /* k=4: a full decode, recode, a redundant shard, reset, systematic. */
    m = make_message(4, 16, 60);
    dec_begin(&b, &m, 0, 1);
    for (int i = 0; i < 4; i++)
        dec_shard(&b, &m, UINT32_MAX, 0, 0, 0);
    put8(&b, 5);
    dec_shard(&b, &m, UINT32_MAX, 0, 0, 0);
    put8(&b, 6);
    dec_shard(&b, &m, 0, 0, 0, 0);
    dec_shard(&b, &m, 3, 0, 0, 0);
    put8(&b, 5);
    save_buf("decoder", "k4-decode-reset", &b);
    free(m.padded);

    /* The smallest generation. */
    m = make_message(1, 1, 1);
    dec_begin(&b, &m, 1, 2);
    put8(&b, 5);
    dec_shard(&b, &m, UINT32_MAX, 0, 0, 0);
    put8(&b, 5);
    save_buf("decoder", "k1-p1", &b);
    free(m.padded);

    /* The largest generation, decoded in full with a recode halfway. */
    m = make_message(32, 256, 8000);
    dec_begin(&b, &m, 2, 3);
    for (int i = 0; i < 34; i++) {
        dec_shard(&b, &m, UINT32_MAX, 0, 0, 0);
        if (i == 15)
            put8(&b, 5);
    }
    put8(&b, 5);
    put8(&b, 5);
    save_buf("decoder", "k32-p256-full", &b);
    free(m.padded);

    /* Every corruption kind, raw shards, push_parts, then completion. */
    m = make_message(8, 37, 250);
    dec_begin(&b, &m, 3, 4);
    static const uint8_t corruptions[][2] = {
        {0, 2}, {1, 0}, {2, 0}, {2, 0x85}, {3, 0}, {3, 9}, {4, 3}, {5, 2}, {5, 15}, {6, 0}, {7, 5},
    };
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++)
        dec_shard(&b, &m, UINT32_MAX, 1, corruptions[i][0], corruptions[i][1]);
    buf whole = {0};
    put_shard(&whole, &m, UINT32_MAX);
    dec_raw(&b, whole.p, whole.len);
    dec_raw(&b, whole.p, whole.len - 1);
    dec_raw(&b, whole.p, 7);
    free(whole.p);
    dec_parts(&b, &m, UINT32_MAX, 0);
    dec_parts(&b, &m, UINT32_MAX, 1);
    put8(&b, 5);
    for (int i = 0; i < 7; i++)
        dec_shard(&b, &m, UINT32_MAX, 0, 0, 0);
    put8(&b, 5);
    save_buf("decoder", "k8-p37-corrupt-raw-parts", &b);
    free(m.padded);

    /* Systematic order with duplicates, a reset midway, recode below rank k. */
    m = make_message(16, 10, 155);
    dec_begin(&b, &m, 4, 5);
    for (uint32_t i = 0; i < 8; i++)
        dec_shard(&b, &m, i, 0, 0, 0);
    dec_shard(&b, &m, 3, 0, 0, 0);
    put8(&b, 5);
    put8(&b, 6);
    for (uint32_t i = 0; i < 16; i++)
        dec_shard(&b, &m, 15 - i, 0, 0, 0);
    put8(&b, 5);
    save_buf("decoder", "k16-systematic-dup-reset", &b);
    free(m.padded);

    /* Recode and reset on an empty decoder. */
    m = make_message(3, 5, 0);
    dec_begin(&b, &m, 5, 6);
    put8(&b, 5);
    put8(&b, 6);
    put8(&b, 5);
    save_buf("decoder", "k3-empty-ops", &b);
    free(m.padded);
}

/* Borrowed pushes (op | 16), mixed with copied ones. Written after every
 * other seed so that the earlier files stay as they were. */
static void
decoder_borrowed_seeds(void)
{
    buf b = {0};
    message m;

    /* k = 32 with pieces over two solve steps (1 KiB at k = 32): borrowed
     * and copied shards, recodes below rank k, a reset with lent buffers,
     * then a full decode in that mix with borrowed push_parts. */
    m = make_message(32, 2200, 70000);
    dec_begin(&b, &m, 0, 7);
    for (int i = 0; i < 12; i++)
        dec_shard_op(&b, &m, UINT32_MAX, 0, 0, 0, i % 2 ? 16 : 0);
    put8(&b, 5);
    put8(&b, 6);
    for (int i = 0; i < 34; i++) {
        if (i % 5 == 4)
            dec_parts_op(&b, &m, UINT32_MAX, 0, 16);
        else
            dec_shard_op(&b, &m, UINT32_MAX, 0, 0, 0, i % 3 ? 16 : 0);
        if (i == 20)
            put8(&b, 5);
    }
    put8(&b, 5);
    save_buf("decoder", "k32-p2200-borrowed-mixed", &b);
    free(m.padded);

    /* Every kind of push borrowed: corrupt, raw, zero vector, duplicates,
     * then completion by a borrowed shard and pushes after it. */
    m = make_message(6, 41, 240);
    dec_begin(&b, &m, 2, 8);
    static const uint8_t corruptions[][2] = {{0, 2}, {3, 9}, {5, 2}, {6, 0}, {7, 5}};
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++)
        dec_shard_op(&b, &m, UINT32_MAX, 1, corruptions[i][0], corruptions[i][1], 16);
    buf whole = {0};
    put_shard(&whole, &m, 2);
    dec_raw_op(&b, whole.p, whole.len, 16);
    dec_raw_op(&b, whole.p, whole.len, 16);
    dec_raw_op(&b, whole.p, whole.len - 1, 16);
    free(whole.p);
    dec_parts_op(&b, &m, UINT32_MAX, 1, 16);
    put8(&b, 5);
    for (int i = 0; i < 8; i++)
        dec_shard_op(&b, &m, UINT32_MAX, 0, 0, 0, 16);
    put8(&b, 5);
    save_buf("decoder", "k6-p41-borrowed-every-kind", &b);
    free(m.padded);
}

/* ---- roundtrip ------------------------------------------------------------ */

static void
roundtrip_seed(const char *name, uint32_t k, uint8_t prule, uint8_t flags, uint8_t kernels,
               uint64_t drop, uint64_t relay, uint8_t batching, size_t len, int text)
{
    buf b = {0};
    put8(&b, k - 1);
    put8(&b, prule);
    put8(&b, flags);
    put8(&b, kernels);
    put32(&b, (uint32_t)next64());
    put64(&b, drop);
    put64(&b, relay);
    put8(&b, batching);
    uint8_t *msg = malloc(len ? len : 1);
    FZ_CHECK(msg != NULL);
    if (text) {
        static const char lorem[] = "weft codes pieces of a message; any k shards bring it back. ";
        for (size_t i = 0; i < len; i++)
            msg[i] = (uint8_t)lorem[i % (sizeof lorem - 1)];
    } else {
        random_bytes(msg, len);
    }
    put(&b, msg, len);
    free(msg);
    save_buf("roundtrip", name, &b);
}

static void
roundtrip_seeds(void)
{
    /* piece rule byte: bits 0-1 rule, bits 2-7 value */
    roundtrip_seed("k1-empty", 1, 0, 0, 0, 0, 0, 0, 0, 0);
    roundtrip_seed("k1-one-byte", 1, 0, 0, 0x10, 0, ~0ull, 0, 1, 1);
    roundtrip_seed("k4-min-systematic", 4, 1, 1, 0x21, 0x3, 0x5, 0x09, 100, 1);
    roundtrip_seed("k16-extra5-borrow-batch", 16, 2 | 5 << 2, 2, 0x12, 0x5555, ~0ull, 0xFF, 1000,
                   0);
    roundtrip_seed("k64-auto-all-flags-lossy", 64, 0, 7, 0x30, ~0ull, 0xF0F0F0F0F0F0F0F0ull, 0x2B,
                   2000, 0);
    roundtrip_seed("k10-too-small-piece", 10, 3 | 3 << 2, 0, 0, 0, 0, 0, 100, 1);
    roundtrip_seed("k33-exact-63", 33, 3 | 63 << 2, 1, 0x03, 0x0F0F, 0x3, 0x54, 2000, 0);
    roundtrip_seed("k7-auto-2048", 7, 0, 4, 0x41, 0x1, 0x8000000000000001ull, 0xA3, 2048, 0);
    roundtrip_seed("k5-min-over-2048", 5, 1, 0, 0x52, 0x10, 0x11, 0x08, 2100, 0);
    roundtrip_seed("k64-exact-63-clamped", 64, 3 | 63 << 2, 2, 0x05, 0xAAAAull, 0x1, 0xF9, 500, 1);
    roundtrip_seed("k64-min-short", 64, 1, 1, 0x14, 0xFFull << 8, ~0ull, 0x7F, 63, 1);
    roundtrip_seed("k2-auto-pow2", 2, 0, 2, 0x25, 0x2, 0x0, 0x1C, 128, 0);
}

/* Batches as views (flags bit 3); after the other seeds, as above. */
static void
roundtrip_view_seeds(void)
{
    roundtrip_seed("k16-views-systematic-borrow", 16, 0, 1 | 2 | 8, 0x12, 0x5, 0x3, 0xFF, 1000, 0);
    roundtrip_seed("k9-views-systematic-copy", 9, 0, 1 | 8, 0x21, 0x0, 0x1, 0xFA, 1001, 1);
    roundtrip_seed("k64-views-all-flags-lossy", 64, 0, 15, 0x30, ~0ull, 0xF0F0F0F0F0F0F0F0ull, 0xFF,
                   2000, 0);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    shard_parse_seeds();
    decoder_seeds();
    roundtrip_seeds();
    decoder_borrowed_seeds();
    roundtrip_view_seeds();
    return 0;
}
