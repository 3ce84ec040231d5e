/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RLNC coded mesh (spec rlnc-mesh.md section 3): shards instead of whole
 * messages on /weft/rlnc/1.0.0, over the GossipSub topic meshes of
 * ps_core.c.
 *
 * Every message is a generation keyed by its id, unique per publish:
 * weft_rlnc_msg_id over publisher, seqno, topic and SHA-256 of the message
 * (docs/spec/message-ids.md). The publisher signs id, topic, generation
 * shape and seqno. A relay verifies that signature once per id (the first
 * shard), refuses later shards whose header differs, feeds each shard
 * to the generation's decoder (which is also its recoder), and once its
 * rank reaches ceil(threshold * k) forwards recoded shards as the policy
 * (rl_policy) decides: never to the sender, never more than k per peer per
 * message. At rank k it decodes, recomputes the id from the header's
 * publisher, seqno and topic and the decoded message, and only if it
 * matches delivers
 * and tells its mesh peers "complete" so they stop sending. A generation
 * that stalls below rank k asks peers that have the message (they said
 * complete or announced it by IHAVE) with a want; they answer with fresh
 * recoded shards. Partial generations are bounded in number (in total and
 * per peer that started them), in decoder memory and in age.
 */
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"

#define MS 1000000LL

enum { GEN_PARTIAL = 0, GEN_DONE, GEN_BAD };

struct rl_gen {
    uint8_t id[32];
    ps_topic *t;
    weft_peer_id origin;
    uint64_t seqno;
    uint8_t sig[64];
    weft_gen gen;
    uint32_t need;     /* ceil(threshold * k) */
    weft_decoder *dec; /* relays; NULL once released */
    weft_encoder *enc; /* our own messages */
    int state;
    int own;
    weft_ps_peer *starter; /* whose shard created it, while partial; NULL once gone */
    int64_t created, progress, done_at, last_want;
    size_t mem;
    rl_peer *rp;
    size_t nrp, rpcap;
    uint64_t *coef_hashes; /* of shards held, to tell duplicates from unhelpful */
    uint32_t nhash;
};

/* ---- policies ------------------------------------------------------------ */

static int
eligible(const rl_gen *g, const rl_peer *r, const weft_ps_peer *from)
{
    return r->p != from && !r->complete && r->sent < g->gen.k &&
           ps_in_list(g->t->mesh, g->t->nmesh, r->p);
}

/* spec and flood: every eligible mesh peer (spec only from the threshold on,
 * which ps_rlnc_on_shard enforces through strict_threshold). */
static size_t
pol_all(weft_ps *ps, const rl_policy *pol, rl_gen *g, const weft_ps_peer *from, rl_peer **out,
        size_t max)
{
    (void)ps;
    (void)pol;
    size_t n = 0;
    for (size_t i = 0; i < g->nrp && n < max; i++)
        if (eligible(g, &g->rp[i], from))
            out[n++] = &g->rp[i];
    return n;
}

/* Fewest shards exchanged first: a peer that sent us many already has much. */
static int
cmp_need(const void *a, const void *b)
{
    const rl_peer *x = *(rl_peer *const *)a, *y = *(rl_peer *const *)b;
    unsigned kx = (unsigned)x->sent + x->recv, ky = (unsigned)y->sent + y->recv;
    return kx < ky ? -1 : kx > ky ? 1 : 0;
}

static void
shuffle_rp(weft_ps *ps, rl_peer **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = weft_rng_next(&ps->rng) % i;
        rl_peer *x = v[i - 1];
        v[i - 1] = v[j];
        v[j] = x;
    }
}

/* budget-M: each innovative shard goes to at most M (pol->fanout) peers,
 * those that have exchanged the fewest shards of this message with us. The
 * mean number of shards a node receives is then about M * k: M bounds the
 * bytes sent per byte delivered. */
static size_t
pol_budget(weft_ps *ps, const rl_policy *pol, rl_gen *g, const weft_ps_peer *from, rl_peer **out,
           size_t max)
{
    rl_peer *cand[256];
    size_t n = 0;
    for (size_t i = 0; i < g->nrp && n < 256; i++)
        if (eligible(g, &g->rp[i], from))
            cand[n++] = &g->rp[i];
    shuffle_rp(ps, cand, n); /* then a stable order by need: ties break at random */
    qsort(cand, n, sizeof *cand, cmp_need);
    size_t m = pol->fanout && pol->fanout < max ? pol->fanout : max;
    if (n > m)
        n = m;
    memcpy(out, cand, n * sizeof *out);
    return n;
}

/* What r still needs, as far as we know: k minus its last reported rank
 * minus our shards in flight to it (sent, less those it had counted). */
static int
est_need(const rl_gen *g, const rl_peer *r)
{
    int inflight = (int)r->sent - (int)r->got;
    return (int)g->gen.k - (int)r->hint - (inflight > 0 ? inflight : 0);
}

static int
cmp_est_need(const void *a, const void *b, void *u)
{
    const rl_gen *g = u;
    int x = est_need(g, *(rl_peer *const *)a), y = est_need(g, *(rl_peer *const *)b);
    return x > y ? -1 : x < y ? 1 : 0;
}

/* need-M: each innovative shard to at most M (pol->fanout; 0 = all) mesh
 * peers that, by their Have reports and our shards in flight, still need
 * shards; the neediest first. */
static size_t
pol_need(weft_ps *ps, const rl_policy *pol, rl_gen *g, const weft_ps_peer *from, rl_peer **out,
         size_t max)
{
    rl_peer *cand[256];
    size_t n = 0;
    for (size_t i = 0; i < g->nrp && n < 256; i++)
        if (eligible(g, &g->rp[i], from) && est_need(g, &g->rp[i]) > 0)
            cand[n++] = &g->rp[i];
    shuffle_rp(ps, cand, n);
    qsort_r(cand, n, sizeof *cand, cmp_est_need, g);
    size_t m = pol->fanout && pol->fanout < max ? pol->fanout : max;
    if (n > m)
        n = m;
    memcpy(out, cand, n * sizeof *out);
    return n;
}

static const rl_policy policies[] = {
    {"need", "each innovative shard to every mesh peer that still needs shards", 0, 1, 0, pol_need},
    {"need3", "each innovative shard to the 3 mesh peers that need shards most", 0, 1, 3, pol_need},
    {"need4", "each innovative shard to the 4 mesh peers that need shards most", 0, 1, 4, pol_need},
    {"budget2", "each innovative shard to the 2 mesh peers that exchanged the fewest", 0, 0, 2,
     pol_budget},
    {"budget3", "each innovative shard to the 3 mesh peers that exchanged the fewest", 0, 0, 3,
     pol_budget},
    {"budget4", "each innovative shard to the 4 mesh peers that exchanged the fewest", 0, 0, 4,
     pol_budget},
    {"budget5", "each innovative shard to the 5 mesh peers that exchanged the fewest", 0, 0, 5,
     pol_budget},
    {"flood", "each innovative shard to every mesh peer but the sender", 0, 0, 0, pol_all},
    {"spec",
     "from the threshold on, each innovative shard recoded to every mesh peer but the "
     "sender; nothing below it",
     1, 0, 0, pol_all},
};
#define DEFAULT_POLICY_NAME "budget4"
#define DEFAULT_POLICY (ps_rlnc_policy(DEFAULT_POLICY_NAME))

const char *
weft_ps_rlnc_policy_default(void)
{
    return DEFAULT_POLICY_NAME;
}

/* Tell mesh peers our rank after an innovative shard. */
static void
send_have(weft_ps *ps, rl_gen *g, uint32_t rank)
{
    weft_bytes id = ps_b(g->id, 32);
    for (size_t i = 0; i < g->nrp; i++) {
        rl_peer *r = &g->rp[i];
        if (r->complete || !(r->p->protos & WEFT_PS_PROTO_RLNC) ||
            !ps_in_list(g->t->mesh, g->t->nmesh, r->p))
            continue;
        WEFT_IGNORE(weft_rpc_put_have(ps_ctl(ps, r->p, WEFT_PS_PROTO_RLNC), id, rank, r->recv));
    }
}

const rl_policy *
ps_rlnc_policy(const char *name)
{
    for (size_t i = 0; i < sizeof policies / sizeof *policies; i++)
        if (!strcmp(policies[i].name, name))
            return &policies[i];
    return NULL;
}

size_t
weft_ps_rlnc_policies(const char **out, size_t max)
{
    size_t n = sizeof policies / sizeof *policies;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = policies[i].name;
    return n;
}

/* ---- generations ------------------------------------------------------- */

int
ps_rlnc_init(weft_ps *ps)
{
    if (sodium_init() < 0)
        return WEFT_EINVAL;
    ps->policy = ps->cfg.rlnc_policy ? ps_rlnc_policy(ps->cfg.rlnc_policy) : DEFAULT_POLICY;
    ps_map_init(&ps->gens, PS_SEEN_MAX, weft_rng_next(&ps->rng));
    ps_map_init(&ps->seen, 4096, weft_rng_next(&ps->rng)); /* ids wanted after IHAVE */
    return 0;
}

static void
gen_release(weft_ps *ps, rl_gen *g)
{
    if (g->dec) {
        weft_dec_free(g->dec);
        g->dec = NULL;
    }
    if (g->enc) {
        weft_enc_free(g->enc);
        g->enc = NULL;
    }
    ps->rl_mem -= g->mem;
    g->mem = 0;
    free(g->coef_hashes);
    g->coef_hashes = NULL;
    free(g->rp);
    g->rp = NULL;
    g->nrp = g->rpcap = 0;
}

/* A generation stops counting as partial (decoded, polluted or freed). */
static void
gen_end_partial(weft_ps *ps, rl_gen *g)
{
    if (g->state != GEN_PARTIAL)
        return;
    ps->rl_partial--;
    if (g->starter)
        g->starter->partial--;
    g->starter = NULL;
}

static void
gen_free(weft_ps *ps, rl_gen *g)
{
    gen_end_partial(ps, g);
    gen_release(ps, g);
    free(g);
}

static int
drop_gen(ps_map_ent *e, void *u)
{
    gen_free(u, e->val);
    return 1;
}

void
ps_rlnc_free(weft_ps *ps)
{
    ps_map_filter(&ps->gens, drop_gen, ps);
    ps_map_free(&ps->gens);
    ps_map_free(&ps->seen);
}

static rl_peer *
rp_find(rl_gen *g, const weft_ps_peer *p)
{
    for (size_t i = 0; i < g->nrp; i++)
        if (g->rp[i].p == p)
            return &g->rp[i];
    return NULL;
}

static rl_peer *
rp_get(rl_gen *g, weft_ps_peer *p)
{
    rl_peer *r = rp_find(g, p);
    if (r)
        return r;
    if (g->state != GEN_PARTIAL && g->state != GEN_DONE)
        return NULL;
    if (g->nrp == g->rpcap) {
        size_t nc = g->rpcap ? g->rpcap * 2 : 8;
        if (nc > 4096)
            return NULL;
        rl_peer *nv = realloc(g->rp, nc * sizeof *nv);
        if (!nv)
            return NULL;
        g->rp = nv;
        g->rpcap = nc;
    }
    r = &g->rp[g->nrp++];
    memset(r, 0, sizeof *r);
    r->p = p;
    return r;
}

/* Mesh peers of the topic get a record, so policies see all of them. */
static void
rp_mesh(rl_gen *g)
{
    for (size_t i = 0; i < g->t->nmesh; i++)
        (void)rp_get(g, g->t->mesh[i]);
}

void
ps_rlnc_peer_gone(weft_ps *ps, weft_ps_peer *p)
{
    for (size_t i = 0; i < ps->gens.cap; i++) {
        ps_map_ent *e = &ps->gens.ents[i];
        if (!e->hash)
            continue;
        rl_gen *g = e->val;
        if (g->starter == p)
            g->starter = NULL;
        for (size_t j = 0; j < g->nrp; j++)
            if (g->rp[j].p == p) {
                g->rp[j] = g->rp[--g->nrp];
                break;
            }
    }
}

/* Emit one fresh coded shard of g to peer r, encoded straight into the RPC,
 * or pass on `as_is` (a shard received, in wire format) when not NULL. */
static int
send_shard(weft_ps *ps, rl_gen *g, rl_peer *r, const weft_bytes *as_is)
{
    if (!as_is && !g->enc && !g->dec)
        return WEFT_EEMPTY;
    size_t sz = as_is ? as_is->len : weft_shard_size(&g->gen);
    weft_rpc_shard s = {
        .topic = ps_b(g->t->name, g->t->nlen),
        .msg_id = ps_b(g->id, 32),
        .from = ps_b(g->origin.bytes, g->origin.len),
        .seqno = g->seqno,
        .signature = ps_b(g->sig, 64),
        .data = as_is ? *as_is : ps_b(NULL, sz),
    };
    const uint8_t *f;
    size_t fl;
    uint8_t *data;
    weft_rpc_writer_reset(&ps->w);
    if (as_is) {
        if (weft_rpc_put_shard(&ps->w, &s))
            return WEFT_ETOOBIG;
    } else {
        if (weft_rpc_put_shard_reserve(&ps->w, &s, &data))
            return WEFT_ETOOBIG;
        int n =
            g->enc ? weft_enc_next(g->enc, data, sz) : weft_dec_recode(g->dec, &ps->rng, data, sz);
        if (n < 0)
            return n;
    }
    if (weft_rpc_finish(&ps->w, &f, &fl))
        return WEFT_ETOOBIG;
    int r2 = ps_send(ps, r->p, WEFT_PS_PROTO_RLNC, f, fl);
    if (r2 == 0) {
        r->sent++;
        ps->st.shards_sent++;
    }
    return r2;
}

static uint64_t
coef_hash(const uint8_t *c, size_t k)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < k; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

static void
send_complete(weft_ps *ps, rl_gen *g)
{
    rp_mesh(g);
    weft_bytes id = ps_b(g->id, 32);
    for (size_t i = 0; i < g->nrp; i++) {
        rl_peer *r = &g->rp[i];
        if (r->complete || !(r->p->protos & WEFT_PS_PROTO_RLNC))
            continue;
        if (!weft_rpc_put_complete(ps_ctl(ps, r->p, WEFT_PS_PROTO_RLNC), id))
            ps->st.completes_sent++;
    }
}

static void
decoded(weft_ps *ps, rl_gen *g, weft_ps_peer *from)
{
    size_t len;
    const uint8_t *msg = weft_dec_message(g->dec, &len);
    uint8_t h[32], want[32];
    weft_bytes id = ps_b(g->id, 32), topic = ps_b(g->t->name, g->t->nlen);
    crypto_hash_sha256(h, msg ? msg : (const uint8_t *)"", len);
    int bad = !msg ||
              weft_rlnc_msg_id(ps_b(g->origin.bytes, g->origin.len), g->seqno, topic, h, want) ||
              sodium_memcmp(want, g->id, 32);
    gen_end_partial(ps, g);
    if (bad) {
        /* A polluted generation: some shard was not what its header said,
         * or the id was not made from this publisher, seqno, topic and
         * message (a spliced or forged header). */
        g->state = GEN_BAD;
        g->done_at = ps_now(ps);
        ps->st.gens_polluted++;
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, id, topic,
                 "message id mismatch: not SHA-256 of its publisher, seqno, topic and message",
                 ps_b(NULL, 0));
        gen_release(ps, g);
        return;
    }
    g->state = GEN_DONE;
    g->done_at = ps_now(ps);
    ps->st.gens_decoded++;
    ps->st.delivered++;
    send_complete(ps, g);
    weft_ps_msg m = {topic, ps_b(msg, len), id, &g->origin, from ? &from->id : NULL, g->seqno};
    ps_trace(ps, WEFT_TRACE_DELIVER_MESSAGE, from, id, topic, NULL, ps_b(NULL, 0));
    ps->cfg.io.deliver(ps->cfg.io.user, &m);
}

/* A first shard of an unknown id: check, verify, bound, then start. */
static rl_gen *
gen_start(weft_ps *ps, weft_ps_peer *from, ps_topic *t, const weft_rpc_shard *s,
          const weft_shard_view *v, const char **why)
{
    const weft_ps_config *c = &ps->cfg;
    weft_peer_id origin;
    uint8_t pk[32];
    if (v->gen.message_len > c->max_msg_size) {
        *why = "message too large";
        ps->st.drop_too_big++;
        return NULL;
    }
    /* piece_size may round up, but not without bound */
    if ((uint64_t)v->gen.k * v->gen.piece_size >
        (uint64_t)v->gen.message_len + (uint64_t)v->gen.k * 128 + 4096) {
        *why = "piece size out of proportion";
        ps->st.shards_invalid++;
        return NULL;
    }
    if (weft_peer_id_from_bytes(s->from.p, s->from.len, &origin) ||
        weft_peer_id_pubkey(&origin, pk) || s->signature.len != 64) {
        *why = "bad publisher id or signature";
        ps->st.drop_bad_signature++;
        return NULL;
    }
    weft_buf_reset(&ps->scratch);
    if (weft_rlnc_sig_input(s->msg_id, s->topic, v->gen.k, v->gen.piece_size, v->gen.message_len,
                            s->seqno, &ps->scratch) ||
        weft_verify(pk, ps->scratch.base, ps->scratch.len, s->signature.p)) {
        *why = "invalid signature";
        ps->st.drop_bad_signature++;
        return NULL;
    }
    size_t mem =
        (size_t)v->gen.k * v->gen.k + (size_t)v->gen.k * v->gen.piece_size + (size_t)v->gen.k * 16;
    if (ps->rl_partial >= c->rlnc_max_partial || ps->rl_mem + mem > c->rlnc_max_mem ||
        from->partial >= c->rlnc_max_partial_per_peer) {
        *why = "partial generation limit";
        ps->st.shards_over_limit++;
        return NULL;
    }
    rl_gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    int err = 0;
    g->dec = weft_dec_new(&v->gen, &err);
    g->coef_hashes = malloc(v->gen.k * sizeof *g->coef_hashes);
    int fresh;
    ps_map_ent *e =
        g->dec && g->coef_hashes ? ps_map_put(&ps->gens, s->msg_id.p, 32, &fresh) : NULL;
    if (!e) {
        weft_dec_free(g->dec);
        free(g->coef_hashes);
        free(g);
        *why = "out of memory";
        ps->st.shards_over_limit++;
        return NULL;
    }
    e->val = g;
    memcpy(g->id, s->msg_id.p, 32);
    g->t = t;
    g->origin = origin;
    g->seqno = s->seqno;
    memcpy(g->sig, s->signature.p, 64);
    g->gen = v->gen;
    g->need = (uint32_t)ceil(c->rlnc_threshold * v->gen.k - 1e-9);
    if (g->need < 1)
        g->need = 1;
    g->starter = from;
    from->partial++;
    g->created = g->progress = ps_now(ps);
    g->mem = mem;
    ps->rl_mem += mem;
    ps->rl_partial++;
    ps->st.gens_started++;
    ps_map_ent *w = ps_map_get(&ps->seen, g->id, 32);
    if (w)
        ps_map_del(&ps->seen, w);
    return g;
}

int
ps_rlnc_on_shard(weft_ps *ps, weft_ps_peer *from, const weft_rpc_shard *s)
{
    weft_bytes none = ps_b(NULL, 0);
    ps_topic *t = ps_topic_find(ps, s->topic.p, s->topic.len);
    if (!t || !t->subscribed) {
        ps->st.drop_unknown_topic++;
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, s->msg_id, s->topic, "unsubscribed topic",
                 none);
        return 0;
    }
    weft_bytes topic = ps_b(t->name, t->nlen);
    weft_shard_view v;
    if (s->msg_id.len != 32 || weft_shard_parse(s->data.p, s->data.len, &v)) {
        ps->st.shards_invalid++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, s->msg_id, topic, "malformed shard", none);
        return 0;
    }
    weft_bytes coeffs = ps_b(v.coefs, v.gen.k);
    ps_map_ent *e = ps_map_get(&ps->gens, s->msg_id.p, 32);
    rl_gen *g = e ? e->val : NULL;
    if (!g) {
        const char *why = NULL;
        g = gen_start(ps, from, t, s, &v, &why);
        if (!g) {
            if (why && strcmp(why, "partial generation limit") && strcmp(why, "out of memory"))
                ps_score_invalid(ps, from, t);
            ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, s->msg_id, topic, why ? why : "rejected",
                     none);
            return 0;
        }
    } else if (g->t != t || memcmp(&g->gen, &v.gen, sizeof v.gen) || s->from.len != g->origin.len ||
               memcmp(s->from.p, g->origin.bytes, g->origin.len) || s->seqno != g->seqno) {
        ps->st.shards_invalid++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, s->msg_id, topic,
                 "shard does not match its generation", none);
        return 0;
    }
    weft_bytes id = ps_b(g->id, 32);
    if (g->state != GEN_PARTIAL) {
        rl_peer *r = g->state == GEN_DONE ? rp_get(g, from) : NULL;
        if (r && r->recv < UINT16_MAX)
            r->recv++;
        if (g->state == GEN_DONE) {
            ps->st.shards_unnecessary++;
            ps_trace(ps, WEFT_TRACE_UNNECESSARY_SHARD, from, id, topic, NULL, coeffs);
            /* It may not have heard: say it again, once. */
            if (r && !r->complete && r->recv == 1 && (from->protos & WEFT_PS_PROTO_RLNC) &&
                !weft_rpc_put_complete(ps_ctl(ps, from, WEFT_PS_PROTO_RLNC), id))
                ps->st.completes_sent++;
        }
        return 0;
    }
    rl_peer *r = rp_get(g, from);
    if (!r) {
        ps->st.shards_over_limit++;
        return 0;
    }
    /* Work per peer and generation is bounded: 2k shards are processed (an
     * honest relay's pass-through copies may duplicate what another path
     * brought, and a repair answers with a fresh set), the rest dropped.
     * A relay may also overshoot while our Complete is in flight: up to k
     * more are dropped without penalty, past that the peer is charged. */
    if (r->recv >= 2 * g->gen.k) {
        ps->st.shards_beyond_k++;
        if (r->over < UINT16_MAX)
            r->over++;
        if (r->over > g->gen.k)
            ps_penalise(ps, from, 0.5);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, id, topic, "more than k shards from peer",
                 none);
        return 0;
    }
    r->recv++;
    int res = weft_dec_push_parts(g->dec, v.coefs, v.payload);
    if (res < 0) {
        ps->st.shards_invalid++;
        ps_score_invalid(ps, from, t);
        ps_trace(ps, WEFT_TRACE_REJECT_MESSAGE, from, id, topic, "invalid shard", none);
        return 0;
    }
    uint64_t h = coef_hash(v.coefs, v.gen.k);
    if (res == WEFT_DEC_REDUNDANT) {
        int dup = 0;
        for (uint32_t i = 0; i < g->nhash; i++)
            dup |= g->coef_hashes[i] == h;
        if (dup) {
            ps->st.shards_duplicate++;
            ps_trace(ps, WEFT_TRACE_DUPLICATE_SHARD, from, id, topic, NULL, coeffs);
        } else {
            ps->st.shards_unhelpful++;
            ps_trace(ps, WEFT_TRACE_UNHELPFUL_SHARD, from, id, topic, NULL, coeffs);
        }
        return 0;
    }
    g->coef_hashes[g->nhash++] = h;
    g->progress = ps_now(ps);
    ps->st.shards_new++;
    ps_score_delivery(ps, from, t, g->nhash == 1);
    ps_trace(ps, WEFT_TRACE_NEW_SHARD, from, id, topic, NULL, coeffs);
    uint32_t rank = weft_dec_rank(g->dec);
    int below = rank < g->need;
    if (!below || !ps->policy->strict_threshold) {
        rl_peer *out[256];
        rp_mesh(g);
        r = NULL; /* rp may have moved */
        /* A message of one or two pieces gains nothing from coding: every
         * mesh peer gets it, as GossipSub would do. */
        const rl_policy *pol = g->gen.k <= 2 ? ps_rlnc_policy("flood") : ps->policy;
        size_t n = pol->on_innovative(ps, pol, g, from, out, 256);
        for (size_t i = 0; i < n; i++)
            (void)send_shard(ps, g, out[i], below ? &s->data : NULL);
    }
    if (rank == g->gen.k)
        decoded(ps, g, from);
    else if (ps->policy->reads_have)
        send_have(ps, g, rank);
    return 0;
}

void
ps_rlnc_on_have(weft_ps *ps, weft_ps_peer *from, weft_bytes id, uint32_t rank, uint32_t got)
{
    ps_map_ent *e = id.len == 32 ? ps_map_get(&ps->gens, id.p, 32) : NULL;
    if (!e)
        return;
    rl_gen *g = e->val;
    rl_peer *r = rp_get(g, from);
    if (!r || rank > g->gen.k)
        return;
    /* Reports can cross: keep the newest view (ranks only grow). */
    if (rank >= r->hint)
        r->hint = (uint16_t)rank;
    if (got <= r->sent && got >= r->got)
        r->got = (uint16_t)got;
    if (rank == g->gen.k)
        r->complete = 1;
}

void
ps_rlnc_on_complete(weft_ps *ps, weft_ps_peer *from, weft_bytes id)
{
    ps_map_ent *e = id.len == 32 ? ps_map_get(&ps->gens, id.p, 32) : NULL;
    if (!e)
        return;
    rl_peer *r = rp_get(e->val, from);
    if (r)
        r->complete = 1;
}

void
ps_rlnc_on_ihave(weft_ps *ps, weft_ps_peer *from, weft_bytes topic, weft_bytes id)
{
    if (id.len != 32)
        return;
    ps_topic *t = ps_topic_find(ps, topic.p, topic.len);
    if (!t || !t->subscribed)
        return;
    ps_map_ent *e = ps_map_get(&ps->gens, id.p, 32);
    if (e) {
        rl_peer *r = rp_get(e->val, from);
        if (r)
            r->announced = 1;
        return;
    }
    /* Never heard of it: ask the announcer for a full set of shards, once
     * per id (the want is remembered in ps->seen until shards arrive). */
    if (from->iwant_asked >= ps->cfg.max_ihave_len) {
        ps->st.iwant_ignored++;
        return;
    }
    int fresh;
    ps_map_ent *w = ps_map_put(&ps->seen, id.p, 32, &fresh);
    if (!w || !fresh)
        return;
    w->t = ps_now(ps);
    from->iwant_asked++;
    if (!weft_rpc_put_want(ps_ctl(ps, from, WEFT_PS_PROTO_RLNC), id, 0))
        ps->st.wants_sent++;
}

void
ps_rlnc_on_want(weft_ps *ps, weft_ps_peer *from, weft_bytes id, uint32_t rank)
{
    ps_map_ent *e = id.len == 32 ? ps_map_get(&ps->gens, id.p, 32) : NULL;
    if (!e) {
        ps->st.iwant_ignored++;
        return;
    }
    rl_gen *g = e->val;
    rl_peer *r = rp_get(g, from);
    if (!r || (!g->dec && !g->enc) || rank >= g->gen.k) {
        ps->st.iwant_ignored++;
        return;
    }
    uint32_t held = g->enc ? g->gen.k : weft_dec_rank(g->dec);
    /* The asker holds `rank`; fresh combinations of ours help it as far as
     * we hold more (shards lost on the way do not count against it). What
     * one peer can make us send per message stays bounded all the same. */
    uint32_t n = held > rank ? held - rank : 0;
    if (r->sent >= 4 * g->gen.k)
        n = 0;
    if (!n) {
        ps->st.iwant_ignored++;
        return;
    }
    r->complete = 0;
    for (uint32_t i = 0; i < n; i++)
        if (send_shard(ps, g, r, NULL))
            break;
    ps->st.iwant_served++;
}

int
ps_rlnc_publish(weft_ps *ps, ps_topic *t, const uint8_t *data, size_t len, uint8_t *id,
                size_t *id_len)
{
    const weft_ps_config *c = &ps->cfg;
    uint8_t h[32];
    uint64_t seqno = ++ps->seqno; /* never reused, whatever happens next */
    crypto_hash_sha256(h, data ? data : (const uint8_t *)"", len);
    int idr =
        weft_rlnc_msg_id(ps_b(ps->self.bytes, ps->self.len), seqno, ps_b(t->name, t->nlen), h, id);
    if (idr)
        return idr;
    *id_len = 32;
    if (ps_map_get(&ps->gens, id, 32))
        weft_panic("RLNC message id collision"); /* a fresh seqno makes a fresh id */
    rl_gen *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    int err = 0;
    uint32_t k = c->rlnc_k;
    if (c->rlnc_min_piece) {
        size_t want = (len + c->rlnc_min_piece - 1) / c->rlnc_min_piece;
        if (want < k)
            k = want ? (uint32_t)want : 1;
    }
    g->enc = weft_enc_new(data, len, k, 0, WEFT_ENC_SYSTEMATIC, weft_rng_next(&ps->rng), &err);
    int fresh;
    ps_map_ent *e = g->enc ? ps_map_put(&ps->gens, id, 32, &fresh) : NULL;
    if (!e) {
        weft_enc_free(g->enc);
        free(g);
        return err ? err : -ENOMEM;
    }
    e->val = g;
    memcpy(g->id, id, 32);
    g->t = t;
    g->origin = ps->self;
    g->seqno = seqno;
    g->gen = *weft_enc_gen(g->enc);
    g->need = 1;
    g->own = 1;
    g->state = GEN_DONE;
    g->created = g->done_at = ps_now(ps);
    g->mem = len;
    ps->rl_mem += len;
    weft_buf_reset(&ps->scratch);
    int r = weft_rlnc_sig_input(ps_b(id, 32), ps_b(t->name, t->nlen), g->gen.k, g->gen.piece_size,
                                g->gen.message_len, g->seqno, &ps->scratch);
    if (r)
        return r;
    weft_sign(&c->identity, ps->scratch.base, ps->scratch.len, g->sig);
    ps->st.published++;
    ps_trace(ps, WEFT_TRACE_PUBLISH_MESSAGE, NULL, ps_b(id, 32), ps_b(t->name, t->nlen), NULL,
             ps_b(NULL, 0));

    /* n distinct shards round-robin over the mesh (or fanout, or every
     * subscriber when neither exists yet): no peer gets two copies of one
     * shard and every peer gets at least one. */
    weft_ps_peer **to = t->subscribed ? t->mesh : t->fanout;
    size_t np = t->subscribed ? t->nmesh : t->nfanout;
    if (!np) {
        to = t->peers;
        np = t->npeers;
    }
    /* Records first (rp_get may move the array), then pointers. */
    for (size_t i = 0; i < np; i++)
        if ((to[i]->protos & WEFT_PS_PROTO_RLNC) &&
            ps_score(ps, to[i]) >= c->score.publish_threshold)
            (void)rp_get(g, to[i]);
    rl_peer *tgt[1024];
    size_t nt = 0;
    for (size_t i = 0; i < g->nrp && nt < 1024; i++)
        tgt[nt++] = &g->rp[i];
    if (!nt)
        return 0;
    size_t n = (size_t)ceil((double)g->gen.k * c->rlnc_mult - 1e-9);
    if (n < nt)
        n = nt;
    if (n > nt * g->gen.k)
        n = nt * g->gen.k;
    /* Shuffle so repeated publishes do not always favour the same peer. */
    for (size_t i = nt; i > 1; i--) {
        size_t j = weft_rng_next(&ps->rng) % i;
        rl_peer *x = tgt[i - 1];
        tgt[i - 1] = tgt[j];
        tgt[j] = x;
    }
    for (size_t j = 0; j < n; j++)
        (void)send_shard(ps, g, tgt[j % nt], NULL);
    return 0;
}

/* ---- timers -------------------------------------------------------------- */

/* Ask for more shards of a stalled generation. */
static void
repair(weft_ps *ps, rl_gen *g, int64_t now)
{
    uint32_t rank = weft_dec_rank(g->dec);
    rl_peer *best = NULL;
    /* Prefer peers that have the message and were not asked yet; then any
     * peer that sent us shards. */
    for (int pass = 0; pass < 2 && !best; pass++)
        for (size_t i = 0; i < g->nrp; i++) {
            rl_peer *r = &g->rp[i];
            if (r->asked > 8 || !(r->p->protos & WEFT_PS_PROTO_RLNC))
                continue;
            int ok = pass == 0 ? (r->complete || r->announced) : r->recv > 0;
            if (ok && (!best || r->asked < best->asked))
                best = r;
        }
    if (!best)
        return;
    best->asked++;
    g->last_want = now;
    if (!weft_rpc_put_want(ps_ctl(ps, best->p, WEFT_PS_PROTO_RLNC), ps_b(g->id, 32), rank))
        ps->st.wants_sent++;
}

typedef struct tick_ctx {
    weft_ps *ps;
    int64_t now;
    int heartbeat;
} tick_ctx;

static int
tick_gen(ps_map_ent *e, void *u)
{
    tick_ctx *x = u;
    weft_ps *ps = x->ps;
    const weft_ps_config *c = &ps->cfg;
    rl_gen *g = e->val;
    if (g->state == GEN_PARTIAL) {
        if (x->now - g->created > c->rlnc_gen_ttl_ns) {
            ps->st.gens_expired++;
            gen_free(ps, g);
            return 1;
        }
        if (x->now - g->progress >= c->rlnc_repair_ns && x->now - g->last_want >= c->rlnc_repair_ns)
            repair(ps, g, x->now);
        return 0;
    }
    if (!x->heartbeat)
        return 0;
    /* A polluted generation is forgotten at the next heartbeat, so that an
     * honest copy of the message can still be decoded. */
    if (g->state == GEN_BAD) {
        gen_free(ps, g);
        return 1;
    }
    /* Finished generations keep their data for gossip and wants while the
     * message cache would, and their id (as seen) for seen_ttl. */
    int64_t hold = (int64_t)c->mcache_len * c->heartbeat_ns;
    if ((g->dec || g->enc) && x->now - g->done_at > hold)
        gen_release(ps, g);
    if (x->now - g->done_at > c->seen_ttl_ns) {
        gen_free(ps, g);
        return 1;
    }
    return 0;
}

void
ps_rlnc_tick(weft_ps *ps)
{
    tick_ctx x = {ps, ps_now(ps), 0};
    if (ps->rl_partial)
        ps_map_filter(&ps->gens, tick_gen, &x);
}

static int
want_expire(ps_map_ent *e, void *u)
{
    return e->t < *(const int64_t *)u;
}

void
ps_rlnc_heartbeat(weft_ps *ps)
{
    const weft_ps_config *c = &ps->cfg;
    tick_ctx x = {ps, ps_now(ps), 1};
    ps_map_filter(&ps->gens, tick_gen, &x);
    int64_t cut = x.now - c->rlnc_gen_ttl_ns;
    ps_map_filter(&ps->seen, want_expire, &cut);
    /* Gossip: announce recently completed ids to non-mesh subscribers. */
    int64_t window = (int64_t)c->mcache_gossip * c->heartbeat_ns;
    for (size_t ti = 0; ti < ps->ntopics; ti++) {
        ps_topic *t = ps->topics[ti];
        if (!t->subscribed)
            continue;
        weft_bytes ids[512];
        size_t n = 0;
        for (size_t i = 0; i < ps->gens.cap && n < 512; i++) {
            ps_map_ent *e = &ps->gens.ents[i];
            if (!e->hash)
                continue;
            rl_gen *g = e->val;
            if (g->t == t && g->state == GEN_DONE && (g->dec || g->enc) &&
                x.now - g->done_at <= window)
                ids[n++] = ps_b(g->id, 32);
        }
        if (!n)
            continue;
        weft_ps_peer *cand[1024];
        size_t nc = 0;
        for (size_t i = 0; i < t->npeers && nc < 1024; i++) {
            weft_ps_peer *p = t->peers[i];
            if (!ps_in_list(t->mesh, t->nmesh, p) && (p->protos & WEFT_PS_PROTO_RLNC) &&
                ps_score(ps, p) >= c->score.gossip_threshold)
                cand[nc++] = p;
        }
        ps_shuffle(ps, cand, nc);
        size_t want = (size_t)(c->gossip_factor * (double)nc);
        if (want < c->D_lazy)
            want = c->D_lazy;
        for (size_t i = 0; i < nc && i < want; i++)
            WEFT_IGNORE(weft_rpc_put_rlnc_ihave(ps_ctl(ps, cand[i], WEFT_PS_PROTO_RLNC),
                                                ps_b(t->name, t->nlen), ids, n));
    }
}
