/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rpc: the wire codecs of the mesh (weft/ps_rpc.h) on arbitrary bytes.
 *
 * Parsers. The input is parsed as a GossipSub RPC and as an RLNC RPC. The
 * result is 0 or WEFT_EPROTO, the same with and without a visitor, and on
 * WEFT_EPROTO nothing was visited. A reference written here (its own
 * protobuf reader and the two schemas as tables) must agree on validity and
 * on the number of items of each kind, PRUNE peers included. Every byte field a visitor sees lies
 * inside the input and is never NULL. Each visited item is written again
 * with the writer (one entry per item: an IHAVE of n ids becomes n IHAVEs);
 * the writer's RPC must parse, visit the same multiset of items (counted
 * and hashed per kind; the writer puts the control part last, so order
 * across kinds may change), and re-encode to exactly the same bytes (the
 * writer's output is a fixed point). A writer capped one byte below that
 * size must refuse with WEFT_ETOOBIG. A visitor that stops after the n-th
 * item (n from the first input byte) sees exactly n items and its code is
 * returned.
 *
 * Frames. The input is also fed to a weft_lp_reader in chunks whose sizes
 * come from a generator seeded by the first byte (which also picks max).
 * The frames must be exactly those a reference splitter written here finds
 * in the whole input, in order, and the reader must end with the same
 * verdict: 0 (clean or waiting for more), WEFT_ETOOBIG or WEFT_EPROTO.
 * Every frame lies in the chunk being fed or in the reader's buffer, which
 * never holds more than max + 10 bytes.
 *
 * PRUNE backoffs above INT64_MAX cannot be written (the writer takes an
 * int64_t, negative = left out), so the digests treat them as absent.
 */
#include "fuzz_util.h"
#include "weft/pb.h"
#include "weft/ps_rpc.h"

/* ---- tallies ------------------------------------------------------------------- */

enum {
    K_SUB,
    K_MSG,
    K_IHAVE,
    K_IWANT,
    K_GRAFT,
    K_PRUNE,
    K_IDONTWANT,
    K_SHARD,
    K_COMPLETE,
    K_WANT,
    K_HAVE,
    K_PX /* PRUNE peers passed on, in total */,
    K_N
};

typedef struct tally {
    size_t count[K_N];
    uint64_t sum[K_N]; /* sum of item hashes: order-independent */
} tally;

typedef struct ctx {
    int rlnc;
    weft_rpc_writer *w; /* re-encode here, or NULL */
    int write_err;      /* first writer error (when errors are expected) */
    int expect_ok;      /* writer errors are fatal */
    const uint8_t *in;
    size_t in_len;
    tally t;
    size_t visits, stop_after;
} ctx;

#define STOP_RC 12345

static uint64_t
h_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint8_t)(v >> (8 * i));
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t
h_bytes(uint64_t h, weft_bytes b)
{
    h = h_u64(h, b.len);
    for (size_t i = 0; i < b.len; i++) {
        h ^= b.p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void
check_lent(const ctx *c, weft_bytes b)
{
    FZ_CHECK(b.p != NULL);
    if (b.len > 0)
        FZ_CHECK(b.p >= c->in && b.len <= c->in_len &&
                 b.p - c->in <= (ptrdiff_t)(c->in_len - b.len));
}

static void
wrote(ctx *c, int rc)
{
    if (c->expect_ok)
        FZ_CHECK(rc == 0);
    else if (rc != 0 && c->write_err == 0)
        c->write_err = rc;
    if (!c->expect_ok && rc != 0)
        FZ_CHECK(rc == WEFT_ETOOBIG);
}

/* Record one item; returns the visitor's code. */
static int
seen(ctx *c, int kind, uint64_t h)
{
    c->t.count[kind]++;
    c->t.sum[kind] += h_u64(h, (uint64_t)kind);
    c->visits++;
    return c->stop_after != 0 && c->visits == c->stop_after ? STOP_RC : 0;
}

static int
v_sub(void *u, int subscribe, weft_bytes topic)
{
    ctx *c = u;
    FZ_CHECK(!c->rlnc && (subscribe == 0 || subscribe == 1));
    check_lent(c, topic);
    if (c->w)
        wrote(c, weft_rpc_put_sub(c->w, subscribe, topic));
    return seen(c, K_SUB, h_bytes(h_u64(14695981039346656037ull, (uint64_t)subscribe), topic));
}

static int
v_msg(void *u, const weft_rpc_msg *m)
{
    ctx *c = u;
    const weft_bytes *f[6] = {&m->from, &m->data, &m->seqno, &m->topic, &m->signature, &m->key};
    uint64_t h = h_u64(14695981039346656037ull, m->has);
    FZ_CHECK(!c->rlnc && (m->has & ~0x3fu) == 0);
    for (int i = 0; i < 6; i++) {
        check_lent(c, *f[i]);
        if (!(m->has & (1u << i)))
            FZ_CHECK(f[i]->len == 0);
        h = h_bytes(h, *f[i]);
    }
    if (c->w)
        wrote(c, weft_rpc_put_msg(c->w, m));
    return seen(c, K_MSG, h);
}

static int
v_ihave(void *u, weft_bytes topic, weft_bytes id)
{
    ctx *c = u;
    check_lent(c, topic);
    check_lent(c, id);
    if (c->w)
        wrote(c, c->rlnc ? weft_rpc_put_rlnc_ihave(c->w, topic, &id, 1)
                         : weft_rpc_put_ihave(c->w, topic, &id, 1));
    return seen(c, K_IHAVE, h_bytes(h_bytes(14695981039346656037ull, topic), id));
}

static int
v_iwant(void *u, weft_bytes id)
{
    ctx *c = u;
    FZ_CHECK(!c->rlnc);
    check_lent(c, id);
    if (c->w)
        wrote(c, weft_rpc_put_iwant(c->w, &id, 1));
    return seen(c, K_IWANT, h_bytes(14695981039346656037ull, id));
}

static int
v_graft(void *u, weft_bytes topic)
{
    ctx *c = u;
    FZ_CHECK(!c->rlnc);
    check_lent(c, topic);
    if (c->w)
        wrote(c, weft_rpc_put_graft(c->w, topic));
    return seen(c, K_GRAFT, h_bytes(14695981039346656037ull, topic));
}

static int
v_prune(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers, int has_backoff,
        uint64_t backoff_s)
{
    ctx *c = u;
    FZ_CHECK(!c->rlnc && npeers <= WEFT_RPC_MAX_PX && (npeers == 0 || peers != NULL));
    FZ_CHECK(has_backoff == 0 || has_backoff == 1);
    if (!has_backoff)
        FZ_CHECK(backoff_s == 0);
    check_lent(c, topic);
    uint64_t h = h_bytes(14695981039346656037ull, topic);
    for (size_t i = 0; i < npeers; i++) {
        check_lent(c, peers[i]);
        FZ_CHECK(peers[i].len > 0); /* entries without a peer id are left out */
        h = h_bytes(h, peers[i]);
    }
    c->t.count[K_PX] += npeers;
    int writable = has_backoff && backoff_s <= INT64_MAX;
    h = h_u64(h_u64(h, (uint64_t)writable), writable ? backoff_s : 0);
    if (c->w)
        wrote(c,
              weft_rpc_put_prune(c->w, topic, peers, npeers, writable ? (int64_t)backoff_s : -1));
    return seen(c, K_PRUNE, h);
}

static int
v_idontwant(void *u, weft_bytes id)
{
    ctx *c = u;
    FZ_CHECK(!c->rlnc);
    check_lent(c, id);
    if (c->w)
        wrote(c, weft_rpc_put_idontwant(c->w, &id, 1));
    return seen(c, K_IDONTWANT, h_bytes(14695981039346656037ull, id));
}

static int
v_shard(void *u, const weft_rpc_shard *s)
{
    ctx *c = u;
    const weft_bytes *f[5] = {&s->topic, &s->msg_id, &s->from, &s->signature, &s->data};
    uint64_t h = h_u64(14695981039346656037ull, s->seqno);
    FZ_CHECK(c->rlnc);
    for (int i = 0; i < 5; i++) {
        check_lent(c, *f[i]);
        h = h_bytes(h, *f[i]);
    }
    if (c->w)
        wrote(c, weft_rpc_put_shard(c->w, s));
    return seen(c, K_SHARD, h);
}

static int
v_complete(void *u, weft_bytes id)
{
    ctx *c = u;
    FZ_CHECK(c->rlnc);
    check_lent(c, id);
    if (c->w)
        wrote(c, weft_rpc_put_complete(c->w, id));
    return seen(c, K_COMPLETE, h_bytes(14695981039346656037ull, id));
}

static int
v_want(void *u, weft_bytes id, uint32_t rank)
{
    ctx *c = u;
    FZ_CHECK(c->rlnc);
    check_lent(c, id);
    if (c->w)
        wrote(c, weft_rpc_put_want(c->w, id, rank));
    return seen(c, K_WANT, h_u64(h_bytes(14695981039346656037ull, id), rank));
}

static int
v_have(void *u, weft_bytes id, uint32_t rank, uint32_t got)
{
    ctx *c = u;
    FZ_CHECK(c->rlnc);
    check_lent(c, id);
    if (c->w)
        wrote(c, weft_rpc_put_have(c->w, id, rank, got));
    return seen(c, K_HAVE, h_u64(h_u64(h_bytes(14695981039346656037ull, id), rank), got));
}

static const weft_rpc_visitor visitor = {
    .sub = v_sub,
    .msg = v_msg,
    .ihave = v_ihave,
    .iwant = v_iwant,
    .graft = v_graft,
    .prune = v_prune,
    .idontwant = v_idontwant,
    .shard = v_shard,
    .complete = v_complete,
    .want = v_want,
    .have = v_have,
};

/* ---- reference ---------------------------------------------------------------- */

/* A protobuf reader and the two RPC schemas written here from the wire
 * format and ps_rpc.h, sharing nothing with the library: they say whether an
 * input is valid and how many items of each kind it holds. */

/* Reference uvarint: 1 with *v and *used; 0 when the input ends inside it;
 * -1 when malformed (more than 10 bytes or over 64 bits). */
static int
ref_varint(const uint8_t *p, size_t n, uint64_t *v, size_t *used)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == n)
            return 0;
        if (i == 9 && p[i] > 1)
            return -1;
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            *used = i + 1;
            return 1;
        }
    }
    return -1;
}

typedef struct ref_field {
    uint32_t num;
    int wire;
    uint64_t u;
    size_t off, len;
} ref_field;

/* 1 with *f, 0 at the end, -1 malformed. */
static int
ref_next(const uint8_t *buf, size_t end, size_t *pos, ref_field *f)
{
    size_t at = *pos, used;
    uint64_t key, v;
    if (at >= end)
        return 0;
    if (ref_varint(buf + at, end - at, &key, &used) != 1)
        return -1;
    at += used;
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->u = 0;
    f->off = f->len = 0;
    switch (f->wire) {
    case 0:
        if (ref_varint(buf + at, end - at, &f->u, &used) != 1)
            return -1;
        at += used;
        break;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if (end - at < w)
            return -1;
        at += w;
        break;
    }
    case 2:
        if (ref_varint(buf + at, end - at, &v, &used) != 1 || v > end - at - used)
            return -1;
        f->off = at + used;
        f->len = (size_t)v;
        at += used + (size_t)v;
        break;
    default: return -1;
    }
    *pos = at;
    return 1;
}

enum {
    T_GOSSIP,
    T_SUBOPTS,
    T_MESSAGE,
    T_CONTROL,
    T_IHAVE,
    T_IWANT,
    T_GRAFT,
    T_PRUNE,
    T_PEERINFO,
    T_IDONTWANT,
    T_RLNC,
    T_SHARD,
    T_RIHAVE,
    T_WANT,
    T_HAVE,
    F_BYTES,
    F_VARINT,
    F_U32,
    F_UNKNOWN
};

/* What field num of a message of type t holds. */
static int
ref_schema(int t, uint32_t num)
{
    static const signed char map[][7] = {
        /* field:       1          2          3          4         5           6 */
        [T_GOSSIP] = {-1, T_SUBOPTS, T_MESSAGE, T_CONTROL, -1, -1, -1},
        [T_SUBOPTS] = {-1, F_VARINT, F_BYTES, -1, -1, -1, -1},
        [T_MESSAGE] = {-1, F_BYTES, F_BYTES, F_BYTES, F_BYTES, F_BYTES, F_BYTES},
        [T_CONTROL] = {-1, T_IHAVE, T_IWANT, T_GRAFT, T_PRUNE, T_IDONTWANT, -1},
        [T_IHAVE] = {-1, F_BYTES, F_BYTES, -1, -1, -1, -1},
        [T_IWANT] = {-1, F_BYTES, -1, -1, -1, -1, -1},
        [T_GRAFT] = {-1, F_BYTES, -1, -1, -1, -1, -1},
        [T_PRUNE] = {-1, F_BYTES, T_PEERINFO, F_VARINT, -1, -1, -1},
        [T_PEERINFO] = {-1, F_BYTES, F_BYTES, -1, -1, -1, -1},
        [T_IDONTWANT] = {-1, F_BYTES, -1, -1, -1, -1, -1},
        [T_RLNC] = {-1, T_SHARD, F_BYTES, T_RIHAVE, T_WANT, T_HAVE, -1},
        [T_SHARD] = {-1, F_BYTES, F_BYTES, F_BYTES, F_VARINT, F_BYTES, F_BYTES},
        [T_RIHAVE] = {-1, F_BYTES, F_BYTES, -1, -1, -1, -1},
        [T_WANT] = {-1, F_BYTES, F_U32, -1, -1, -1, -1},
        [T_HAVE] = {-1, F_BYTES, F_U32, F_U32, -1, -1, -1},
    };
    if (num > 6 || map[t][num] < 0)
        return F_UNKNOWN;
    return map[t][num];
}

/* The item kind a field of a message of type t is visited as, or -1. */
static int
ref_kind(int t, uint32_t num)
{
    switch (t) {
    case T_GOSSIP: return num == 1 ? K_SUB : num == 2 ? K_MSG : -1;
    case T_CONTROL: return num == 3 ? K_GRAFT : num == 4 ? K_PRUNE : -1;
    case T_IHAVE: return num == 2 ? K_IHAVE : -1;
    case T_IWANT: return num == 1 ? K_IWANT : -1;
    case T_IDONTWANT: return num == 1 ? K_IDONTWANT : -1;
    case T_RLNC:
        return num == 1   ? K_SHARD
               : num == 2 ? K_COMPLETE
               : num == 4 ? K_WANT
               : num == 5 ? K_HAVE
                          : -1;
    case T_RIHAVE: return num == 2 ? K_IHAVE : -1;
    default: return -1;
    }
}

/* Check buf[off, off + len) as a message of type t, counting items into
 * counts. Returns -1 when malformed; else, for a PeerInfo, whether its last
 * peerID is non-empty (0 for other types). */
static int
ref_walk(const uint8_t *buf, size_t off, size_t len, int t, size_t *counts)
{
    size_t pos = off, px = 0;
    int k, has_peer = 0;
    ref_field f;
    while ((k = ref_next(buf, off + len, &pos, &f)) == 1) {
        int what = ref_schema(t, f.num);
        if (what == F_UNKNOWN)
            continue;
        if (what == F_VARINT || what == F_U32) {
            if (f.wire != 0 || (what == F_U32 && f.u > UINT32_MAX))
                return -1;
        } else {
            if (f.wire != 2)
                return -1;
            if (what != F_BYTES) {
                int sub = ref_walk(buf, f.off, f.len, what, counts);
                if (sub < 0)
                    return -1;
                if (what == T_PEERINFO)
                    px += (size_t)sub;
            }
        }
        if (t == T_PEERINFO && f.num == 1)
            has_peer = f.len > 0;
        int kind = ref_kind(t, f.num);
        if (kind >= 0)
            counts[kind]++;
    }
    if (k < 0)
        return -1;
    if (t == T_PRUNE)
        counts[K_PX] += px < WEFT_RPC_MAX_PX ? px : WEFT_RPC_MAX_PX;
    return t == T_PEERINFO ? has_peer : 0;
}

static int
parse(int rlnc, const uint8_t *p, size_t len, const weft_rpc_visitor *v, ctx *c)
{
    if (c != NULL) {
        c->rlnc = rlnc;
        c->in = p;
        c->in_len = len;
    }
    return rlnc ? weft_rpc_parse_rlnc(p, len, v, c) : weft_rpc_parse_gossip(p, len, v, c);
}

static void
check_parser(int rlnc, const uint8_t *buf, size_t size, uint8_t sel)
{
    ctx c, again, stop, capped;
    weft_rpc_writer w, w2, w3;
    const uint8_t *out, *out2, *out3;
    size_t len, len2, len3;

    memset(&c, 0, sizeof c);
    weft_rpc_writer_init(&w, 0);
    c.w = &w;
    c.expect_ok = 1;
    int rc = parse(rlnc, buf, size, &visitor, &c);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO);
    FZ_CHECK(parse(rlnc, buf, size, NULL, NULL) == rc);

    /* The reference agrees on validity and on what is in the RPC. */
    size_t counts[K_N] = {0};
    int valid = ref_walk(buf, 0, size, rlnc ? T_RLNC : T_GOSSIP, counts) >= 0;
    FZ_CHECK(valid == (rc == 0));
    if (rc != 0) {
        FZ_CHECK(c.visits == 0);
        weft_rpc_writer_free(&w);
        return;
    }
    FZ_CHECK(memcmp(counts, c.t.count, sizeof counts) == 0);
    FZ_CHECK(w.items == c.visits);
    FZ_CHECK(weft_rpc_finish(&w, &out, &len) == 0);
    FZ_CHECK(out != NULL);
    uint8_t *copy = fz_dup(out, len); /* exact size, for ASan */

    /* The writer's RPC: the same items, and it re-encodes to itself. */
    memset(&again, 0, sizeof again);
    weft_rpc_writer_init(&w2, 0);
    again.w = &w2;
    again.expect_ok = 1;
    FZ_CHECK(parse(rlnc, copy, len, &visitor, &again) == 0);
    FZ_CHECK(memcmp(&again.t, &c.t, sizeof c.t) == 0);
    FZ_CHECK(weft_rpc_finish(&w2, &out2, &len2) == 0);
    FZ_CHECK(len2 == len && (len == 0 || memcmp(out2, copy, len) == 0));
    /* The other parser on the writer's RPC: no crash, a valid answer. */
    rc = parse(!rlnc, copy, len, NULL, NULL);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO);

    /* One byte short of the size: WEFT_ETOOBIG, in an add or at finish. */
    if (len > 0) {
        memset(&capped, 0, sizeof capped);
        weft_rpc_writer_init(&w3, len - 1);
        capped.w = &w3;
        FZ_CHECK(parse(rlnc, buf, size, &visitor, &capped) == 0);
        if (capped.write_err == 0) {
            int frc = weft_rpc_finish(&w3, &out3, &len3);
            FZ_CHECK(frc == WEFT_ETOOBIG);
        } else {
            FZ_CHECK(capped.write_err == WEFT_ETOOBIG);
        }
        weft_rpc_writer_free(&w3);
    }

    /* A visitor that stops after the n-th item. */
    if (c.visits > 0) {
        memset(&stop, 0, sizeof stop);
        stop.stop_after = 1 + sel % c.visits;
        FZ_CHECK(parse(rlnc, buf, size, &visitor, &stop) == STOP_RC);
        FZ_CHECK(stop.visits == stop.stop_after);
    }

    free(copy);
    weft_rpc_writer_free(&w2);
    weft_rpc_writer_free(&w);
}

/* ---- frames -------------------------------------------------------------------- */

typedef struct lp_ctx {
    const uint8_t *buf;
    const size_t *off, *len; /* the expected frames */
    size_t nexp, got;
    const uint8_t *chunk;
    size_t chunk_len;
    const weft_lp_reader *r;
} lp_ctx;

static int
on_frame(void *u, const uint8_t *f, size_t n)
{
    lp_ctx *c = u;
    FZ_CHECK(c->got < c->nexp);
    FZ_CHECK(n == c->len[c->got]);
    FZ_CHECK(f != NULL);
    int in_chunk = f >= c->chunk && n <= c->chunk_len && (size_t)(f - c->chunk) <= c->chunk_len - n;
    int in_acc = c->r->acc.base != NULL && f == c->r->acc.base && n <= c->r->acc.len;
    FZ_CHECK(in_chunk || in_acc);
    FZ_CHECK(n == 0 || memcmp(f, c->buf + c->off[c->got], n) == 0);
    c->got++;
    return 0;
}

static void
check_frames(const uint8_t *buf, size_t size, uint8_t sel)
{
    size_t max = (sel & 0x80) ? (size_t)1 << 20 : (size_t)(sel & 0x3f);
    size_t *off = malloc((size + 1) * sizeof *off), *len = malloc((size + 1) * sizeof *len);
    FZ_CHECK(off != NULL && len != NULL);

    /* The frames of the whole input and the verdict. */
    size_t nexp = 0, pos = 0;
    int verdict = 0;
    while (pos < size) {
        uint64_t v;
        size_t used;
        int k = ref_varint(buf + pos, size - pos, &v, &used);
        if (k < 0) {
            verdict = WEFT_EPROTO;
            break;
        }
        if (k == 0)
            break;
        if (v > max) {
            verdict = WEFT_ETOOBIG;
            break;
        }
        if (v > size - pos - used)
            break; /* waits for more */
        off[nexp] = pos + used;
        len[nexp] = (size_t)v;
        nexp++;
        pos += used + (size_t)v;
    }

    weft_lp_reader r;
    weft_lp_reader_init(&r, max);
    lp_ctx c = {buf, off, len, nexp, 0, NULL, 0, &r};
    uint64_t x = 0x9E3779B97F4A7C15ull ^ sel;
    size_t span = sel % 3 == 0 ? 1 : sel % 3 == 1 ? 16 : 700;
    int rc = 0;
    for (pos = 0; pos < size && rc == 0;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 1 + (size_t)(x % span);
        if (n > size - pos)
            n = size - pos;
        uint8_t *chunk = fz_dup(buf + pos, n); /* exact size, for ASan */
        c.chunk = chunk;
        c.chunk_len = n;
        rc = weft_lp_feed(&r, chunk, n, on_frame, &c);
        FZ_CHECK(r.acc.len <= max + WEFT_UVARINT_MAX);
        FZ_CHECK(r.acc.cap <= max + WEFT_UVARINT_MAX);
        free(chunk);
        pos += n;
    }
    FZ_CHECK(rc == verdict);
    FZ_CHECK(c.got == nexp);
    weft_lp_reader_free(&r);
    free(off);
    free(len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fz_dup(data, size);
    if (size == 0)
        buf[0] = 0; /* never read; keeps GCC's -Wmaybe-uninitialized quiet */
    uint8_t sel = size > 0 ? data[0] : 0;
    check_parser(0, buf, size, sel);
    check_parser(1, buf, size, sel);
    check_frames(buf, size, sel);
    free(buf);
    return 0;
}
