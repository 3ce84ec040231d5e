/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kademlia engine without I/O: the wire message round trip and its
 * refusals, k-bucket splits and eviction, record validation of the /pk/
 * and /weft/ namespaces, and lookups over an in-memory network of engines
 * (every request goes through a queue to the target engine's
 * weft_kad_handle_request and back): they find what they look for, end when
 * there is nobody to ask, when peers fail and when peers never answer; bad
 * requests are dropped and counted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "weft/kad.h"
#include "weft/pb.h"
#include "weft/rng.h"

#define S 1000000000LL

static void
make_id(uint64_t seed, weft_identity *id, weft_peer_id *pid)
{
    weft_rng rng;
    uint8_t s[32];
    weft_rng_seed(&rng, seed);
    weft_rng_bytes(&rng, s, sizeof s);
    weft_identity_from_seed(id, s);
    weft_peer_id_from_pubkey(id->pk, pid);
}

static weft_kad_peer
peer_of(uint64_t seed)
{
    weft_identity id;
    weft_kad_peer p;
    memset(&p, 0, sizeof p);
    make_id(seed, &id, &p.id);
    cr_assert_eq(weft_ma_parse("/ip4/10.0.0.1/tcp/4001", &p.addrs[0]), 0);
    p.naddrs = 1;
    return p;
}

/* ---- messages ------------------------------------------------------------------------ */

Test(kad, message_round_trip)
{
    weft_kad_msg *m = calloc(1, sizeof *m), *d = calloc(1, sizeof *d);
    m->type = WEFT_KAD_GET_VALUE;
    m->key = (const uint8_t *)"/pk/abc";
    m->key_len = 7;
    m->has_record = 1;
    m->rec_key = m->key;
    m->rec_key_len = 7;
    m->rec_value = (const uint8_t *)"value";
    m->rec_value_len = 5;
    for (int i = 0; i < 3; i++)
        m->closer[i] = peer_of(100 + (uint64_t)i);
    m->ncloser = 3;
    m->providers[0] = peer_of(7);
    m->nproviders = 1;
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_kad_msg_encode(m, &b), 0);
    const char *why;
    cr_assert_eq(weft_kad_msg_decode(b.base, b.len, d, &why), 0);
    cr_assert_eq(d->type, WEFT_KAD_GET_VALUE);
    cr_assert_eq(d->key_len, 7);
    cr_assert(d->has_record && d->rec_value_len == 5 && !memcmp(d->rec_value, "value", 5));
    cr_assert_eq(d->ncloser, 3);
    cr_assert_eq(d->nproviders, 1);
    for (int i = 0; i < 3; i++) {
        cr_assert(weft_peer_id_equal(&d->closer[i].id, &m->closer[i].id));
        cr_assert_eq(d->closer[i].naddrs, 1);
        cr_assert_eq(d->closer[i].addrs[0].len, m->closer[i].addrs[0].len);
    }
    /* every truncation fails cleanly or decodes a prefix; none crash */
    for (size_t cut = 0; cut < b.len; cut++) {
        int rc = weft_kad_msg_decode(b.base, cut, d, &why);
        cr_assert(rc == 0 || rc == WEFT_EPROTO, "cut %zu: %d", cut, rc);
    }
    weft_buf_free(&b);
    free(m);
    free(d);
}

Test(kad, message_refusals_name_the_field)
{
    weft_kad_msg *d = calloc(1, sizeof *d);
    const char *why = NULL;
    /* type as a length-delimited field */
    const uint8_t bad_type[] = {0x0a, 0x01, 0x00};
    cr_assert_eq(weft_kad_msg_decode(bad_type, sizeof bad_type, d, &why), WEFT_EPROTO);
    cr_assert(why && strstr(why, "Message.type"), "%s", why);
    /* type out of range */
    const uint8_t big_type[] = {0x08, 0x09};
    cr_assert_eq(weft_kad_msg_decode(big_type, sizeof big_type, d, &why), WEFT_EPROTO);
    /* a closer peer without an id */
    const uint8_t no_id[] = {0x42, 0x02, 0x18, 0x01};
    cr_assert_eq(weft_kad_msg_decode(no_id, sizeof no_id, d, &why), WEFT_EPROTO);
    cr_assert(why && strstr(why, "Peer.id"), "%s", why);
    /* over the size bound */
    uint8_t *huge = calloc(1, WEFT_KAD_MAX_MSG + 1);
    cr_assert_eq(weft_kad_msg_decode(huge, WEFT_KAD_MAX_MSG + 1, d, &why), WEFT_ETOOBIG);
    free(huge);
    /* a peer id that is not a multihash is skipped and counted */
    const uint8_t junk_id[] = {0x42, 0x03, 0x0a, 0x01, 0xff};
    cr_assert_eq(weft_kad_msg_decode(junk_id, sizeof junk_id, d, &why), 0);
    cr_assert_eq(d->ncloser, 0);
    cr_assert_eq(d->dropped, 1);
    free(d);
}

/* ---- the table ------------------------------------------------------------------------- */

static int
no_send(void *u, uint64_t req, const weft_kad_peer *to, const uint8_t *m, size_t l, int w)
{
    (void)u, (void)req, (void)to, (void)m, (void)l, (void)w;
    return WEFT_ECLOSED;
}

static weft_kad *
engine(uint64_t seed, size_t k)
{
    weft_identity id;
    weft_kad_config cfg;
    weft_kad_config_default(&cfg);
    make_id(seed, &id, &cfg.self);
    cfg.k = k;
    cfg.send = no_send;
    cfg.seed = seed;
    return weft_kad_new(&cfg);
}

/* The mode the host glue advertises (and answers in) is the configured one. */
Test(kad, server_mode_is_the_configured_one)
{
    weft_identity id;
    weft_kad_config cfg;
    weft_kad_config_default(&cfg);
    cr_assert_eq(cfg.server, 1, "servers by default");
    make_id(7, &id, &cfg.self);
    cfg.send = no_send;
    weft_kad *srv = weft_kad_new(&cfg);
    cfg.server = 0;
    weft_kad *cli = weft_kad_new(&cfg);
    cr_assert(srv && cli);
    cr_assert_eq(weft_kad_is_server(srv), 1);
    cr_assert_eq(weft_kad_is_server(cli), 0);
    weft_kad_free(srv);
    weft_kad_free(cli);
}

Test(kad, buckets_split_and_stay_bounded)
{
    weft_kad *kad = engine(1, 4);
    weft_kad_stats st;
    size_t added = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        weft_kad_peer p = peer_of(1000 + i);
        added += (size_t)weft_kad_add_peer(kad, &p, 1, 1);
    }
    weft_kad_get_stats(kad, &st);
    cr_assert_gt(st.splits, 3, "splits %llu", (unsigned long long)st.splits);
    cr_assert_eq(st.buckets, st.splits + 1);
    cr_assert_eq(st.table_size, added);
    cr_assert_leq(st.table_size, 4 * st.buckets);
    cr_assert_gt(st.table_full, 0);
    /* every bucket but the last two (near us, sparse) is full: the table
     * holds about k per prefix length */
    cr_assert_geq(st.table_size, 4 * (st.buckets - 2));
    /* no peer sharing buckets - 1 bits or more with us was ever refused:
     * the last bucket splits instead */
    weft_identity me;
    weft_peer_id self;
    make_id(1, &me, &self);
    uint8_t skid[32];
    weft_kad_id(self.bytes, self.len, skid);
    size_t deep = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        weft_kad_peer p = peer_of(1000 + i);
        uint8_t kid[32];
        weft_kad_id(p.id.bytes, p.id.len, kid);
        if (weft_kad_cpl(skid, kid) >= st.buckets - 1) {
            deep++;
            cr_assert_not_null(weft_kad_lookup_peer(kad, &p.id));
        }
    }
    cr_assert_gt(deep, 0);
    /* closest() is sorted by distance */
    weft_kad_peer best[4];
    cr_assert_eq(weft_kad_closest(kad, skid, best, 4), 4);
    for (int i = 0; i < 3; i++) {
        uint8_t a[32], b[32];
        weft_kad_id(best[i].id.bytes, best[i].id.len, a);
        weft_kad_id(best[i + 1].id.bytes, best[i + 1].id.len, b);
        cr_assert_lt(weft_kad_cmp_dist(skid, a, b), 0);
    }
    weft_kad_free(kad);
}

Test(kad, eviction_prefers_disconnected_peers)
{
    weft_kad *kad = engine(2, 3);
    weft_identity me;
    weft_peer_id self;
    make_id(2, &me, &self);
    uint8_t skid[32];
    weft_kad_id(self.bytes, self.len, skid);
    /* peers of bucket 0 (first bit differs): 3 fill it, more are refused */
    weft_kad_peer far[8];
    size_t nf = 0;
    for (uint64_t i = 0; nf < 8; i++) {
        weft_kad_peer p = peer_of(5000 + i);
        uint8_t kid[32];
        weft_kad_id(p.id.bytes, p.id.len, kid);
        if (weft_kad_cpl(skid, kid) == 0)
            far[nf++] = p;
    }
    /* one near peer so that bucket 0 is not the last (splittable) one */
    for (uint64_t i = 0;; i++) {
        weft_kad_peer p = peer_of(9000 + i);
        uint8_t kid[32];
        weft_kad_id(p.id.bytes, p.id.len, kid);
        if (weft_kad_cpl(skid, kid) > 0) {
            for (int j = 0; j < 3; j++)
                cr_assert_eq(weft_kad_add_peer(kad, &far[j], 1, 10), 1);
            cr_assert_eq(weft_kad_add_peer(kad, &p, 1, 10), 1);
            break;
        }
    }
    weft_kad_stats st;
    weft_kad_get_stats(kad, &st);
    cr_assert_eq(st.buckets, 2);
    cr_assert_eq(weft_kad_add_peer(kad, &far[3], 1, 11), 0);
    weft_kad_get_stats(kad, &st);
    cr_assert_eq(st.table_full, 1);
    cr_assert_null(weft_kad_lookup_peer(kad, &far[3].id));
    /* far[1] goes down: the next newcomer takes its place */
    weft_kad_peer_down(kad, &far[1].id, 20);
    cr_assert_eq(weft_kad_add_peer(kad, &far[4], 1, 21), 1);
    weft_kad_get_stats(kad, &st);
    cr_assert_eq(st.evictions, 1);
    cr_assert_null(weft_kad_lookup_peer(kad, &far[1].id));
    cr_assert_not_null(weft_kad_lookup_peer(kad, &far[0].id));
    cr_assert_not_null(weft_kad_lookup_peer(kad, &far[4].id));
    /* refreshing a known peer is not a newcomer */
    cr_assert_eq(weft_kad_add_peer(kad, &far[0], 1, 22), 1);
    weft_kad_free(kad);
}

/* ---- records ------------------------------------------------------------------------------ */

Test(kad, pk_records)
{
    weft_identity id, other;
    weft_peer_id pid, opid;
    make_id(11, &id, &pid);
    make_id(12, &other, &opid);
    uint8_t key[80], pub[36], opub[36];
    memcpy(key, "/pk/", 4);
    memcpy(key + 4, pid.bytes, pid.len);
    size_t klen = 4 + pid.len;
    weft_pubkey_pb_encode(id.pk, pub);
    weft_pubkey_pb_encode(other.pk, opub);
    const char *why;
    cr_assert_eq(weft_kad_validate(key, klen, pub, sizeof pub, &why), 0);
    cr_assert_eq(weft_kad_validate(key, klen, opub, sizeof opub, &why), WEFT_EAUTH);
    cr_assert(strstr(why, "hash"), "%s", why);
    cr_assert_eq(weft_kad_validate(key, klen, pub, 10, &why), WEFT_EINVAL);
    cr_assert_eq(weft_kad_validate((const uint8_t *)"/pk/xx", 6, pub, sizeof pub, &why),
                 WEFT_EINVAL);
    cr_assert_eq(weft_kad_validate((const uint8_t *)"/ipns/x", 7, pub, sizeof pub, &why),
                 WEFT_EINVAL);
    cr_assert(strstr(why, "namespace"), "%s", why);
    /* the text form of a /pk/ key */
    char text[200] = "/pk/";
    weft_peer_id_to_text(&pid, text + 4, sizeof text - 4);
    uint8_t parsed[100];
    cr_assert_eq(weft_kad_key_parse(text, parsed, sizeof parsed), (int)klen);
    cr_assert(!memcmp(parsed, key, klen));
}

Test(kad, weft_records)
{
    weft_identity id, other;
    weft_peer_id pid, opid;
    make_id(21, &id, &pid);
    make_id(22, &other, &opid);
    char key[200] = "/weft/", okey[200] = "/weft/";
    weft_peer_id_to_text(&pid, key + 6, sizeof key - 6);
    strcat(key, "/topic-map");
    weft_peer_id_to_text(&opid, okey + 6, sizeof okey - 6);
    strcat(okey, "/topic-map");
    const uint8_t *k = (const uint8_t *)key;
    size_t kl = strlen(key);
    weft_buf v1, v2;
    weft_buf_init(&v1, NULL, 0, 0);
    weft_buf_init(&v2, NULL, 0, 0);
    cr_assert_eq(weft_kad_weft_record(&id, k, kl, 1, (const uint8_t *)"one", 3, &v1), 0);
    cr_assert_eq(weft_kad_weft_record(&id, k, kl, 2, (const uint8_t *)"two", 3, &v2), 0);
    const char *why;
    cr_assert_eq(weft_kad_validate(k, kl, v1.base, v1.len, &why), 0);
    cr_assert_eq(weft_kad_validate(k, kl, v2.base, v2.len, &why), 0);
    cr_assert_eq(weft_kad_select(k, kl, v1.base, v1.len, v2.base, v2.len), 1);
    cr_assert_eq(weft_kad_select(k, kl, v2.base, v2.len, v1.base, v1.len), 0);
    const uint8_t *data;
    size_t dl;
    uint64_t seq;
    cr_assert_eq(weft_kad_weft_record_data(v2.base, v2.len, &data, &dl, &seq), 0);
    cr_assert(dl == 3 && !memcmp(data, "two", 3) && seq == 2);
    /* tampered data */
    v1.base[v1.len - 70] ^= 1;
    cr_assert_lt(weft_kad_validate(k, kl, v1.base, v1.len, &why), 0);
    /* a record of id under another peer's key */
    cr_assert_eq(weft_kad_validate((const uint8_t *)okey, strlen(okey), v2.base, v2.len, &why),
                 WEFT_EAUTH);
    /* nobody signs for another's key */
    weft_buf v3;
    weft_buf_init(&v3, NULL, 0, 0);
    cr_assert_eq(weft_kad_weft_record(&id, (const uint8_t *)okey, strlen(okey), 1,
                                      (const uint8_t *)"x", 1, &v3),
                 WEFT_EAUTH);
    /* names */
    cr_assert_eq(weft_kad_validate((const uint8_t *)"/weft/abc", 9, v2.base, v2.len, &why),
                 WEFT_EINVAL);
    char bad[200];
    strcpy(bad, key);
    strcat(bad, " x");
    cr_assert_eq(weft_kad_validate((const uint8_t *)bad, strlen(bad), v2.base, v2.len, &why),
                 WEFT_EINVAL);
    cr_assert(strstr(why, "name"), "%s", why);
    weft_buf_free(&v1);
    weft_buf_free(&v2);
    weft_buf_free(&v3);
}

/* ---- lookups over an in-memory network ---------------------------------------------------- */

#define NET_MAX 200

typedef struct qmsg {
    int from, to;
    uint64_t req;
    int want, is_reply;
    uint8_t *msg;
    size_t len;
} qmsg;

typedef struct net {
    weft_kad *kad[NET_MAX];
    weft_peer_id ids[NET_MAX];
    weft_identity keys[NET_MAX];
    int dead[NET_MAX]; /* never answer */
    size_t n;
    qmsg *q;
    size_t qhead, qlen, qcap;
    int64_t now;
} net;

typedef struct nctx {
    net *nt;
    int self;
} nctx;

static nctx ctxs[NET_MAX];

static void
push(net *nt, qmsg m)
{
    if (nt->qlen == nt->qcap) {
        nt->qcap = nt->qcap ? nt->qcap * 2 : 256;
        nt->q = realloc(nt->q, nt->qcap * sizeof *nt->q);
    }
    nt->q[nt->qlen++] = m;
}

static int
net_send(void *user, uint64_t req, const weft_kad_peer *to, const uint8_t *msg, size_t len,
         int want)
{
    nctx *c = user;
    for (size_t i = 0; i < c->nt->n; i++)
        if (weft_peer_id_equal(&c->nt->ids[i], &to->id)) {
            qmsg m = {.from = c->self,
                      .to = (int)i,
                      .req = req,
                      .want = want,
                      .msg = malloc(len ? len : 1),
                      .len = len};
            memcpy(m.msg, msg, len);
            push(c->nt, m);
            return 0;
        }
    return WEFT_ECLOSED;
}

static void
pump(net *nt, size_t max)
{
    for (size_t steps = 0; nt->qhead < nt->qlen && steps < max; steps++) {
        qmsg m = nt->q[nt->qhead++];
        if (m.is_reply) {
            weft_kad_on_response(nt->kad[m.to], m.req, nt->now, m.msg, m.len);
        } else if (!nt->dead[m.to]) {
            weft_buf resp;
            weft_buf_init(&resp, NULL, 0, 0);
            int rc = weft_kad_handle_request(nt->kad[m.to], &nt->ids[m.from], nt->now, m.msg, m.len,
                                             &resp);
            qmsg r = {.from = m.to, .to = m.from, .req = m.req, .is_reply = 1};
            if (!m.want) { /* delivered: an empty answer, as the host binding does */
                r.msg = malloc(1);
                push(nt, r);
            } else {
                if (rc == 1) {
                    r.msg = malloc(resp.len ? resp.len : 1);
                    memcpy(r.msg, resp.base, resp.len);
                    r.len = resp.len;
                }
                push(nt, r); /* NULL msg: a failure */
            }
            weft_buf_free(&resp);
        }
        free(m.msg);
    }
}

static net *
net_new(size_t n, int link_ring)
{
    net *nt = calloc(1, sizeof *nt);
    nt->n = n;
    nt->now = 1000 * S;
    for (size_t i = 0; i < n; i++) {
        weft_kad_config cfg;
        weft_kad_config_default(&cfg);
        make_id(777 + i, &nt->keys[i], &nt->ids[i]);
        cfg.self = nt->ids[i];
        cfg.send = net_send;
        ctxs[i] = (nctx){nt, (int)i};
        cfg.user = &ctxs[i];
        cfg.seed = i + 1;
        cfg.refresh_interval_ns = -1;
        nt->kad[i] = weft_kad_new(&cfg);
    }
    /* each node knows the next one (a ring): the table is filled by lookups */
    for (size_t i = 0; link_ring && i < n; i++) {
        weft_kad_peer p;
        memset(&p, 0, sizeof p);
        p.id = nt->ids[(i + 1) % n];
        cr_assert_eq(weft_kad_add_peer(nt->kad[i], &p, 1, nt->now), 1);
    }
    return nt;
}

static void
net_free(net *nt)
{
    for (size_t i = 0; i < nt->n; i++)
        weft_kad_free(nt->kad[i]);
    for (size_t i = nt->qhead; i < nt->qlen; i++)
        free(nt->q[i].msg);
    free(nt->q);
    free(nt);
}

typedef struct got {
    int done, status, found;
    unsigned hops, queries;
    size_t nclosest, stored, nproviders;
    uint8_t value[WEFT_KAD_MAX_VALUE];
    size_t vlen;
} got;

static void
on_done(weft_kad *kad, const weft_kad_result *r, void *user)
{
    (void)kad;
    got *g = user;
    g->done++;
    g->status = r->status;
    g->found = r->found;
    g->hops = r->hops;
    g->queries = r->queries;
    g->nclosest = r->nclosest;
    g->stored = r->stored;
    g->nproviders = r->nproviders;
    if (r->value && r->value_len <= sizeof g->value) {
        memcpy(g->value, r->value, r->value_len);
        g->vlen = r->value_len;
    }
}

static void
settle(net *nt)
{
    /* every node looks itself up (twice): the ring becomes a Kademlia table */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < nt->n; i++) {
            cr_assert_eq(weft_kad_refresh(nt->kad[i], nt->now), 0);
            pump(nt, 1000000);
        }
}

Test(kad, lookups_find_peers_values_and_providers)
{
    net *nt = net_new(NET_MAX, 1);
    settle(nt);
    unsigned maxhops = 0;
    for (size_t t = 0; t < 40; t++) {
        size_t from = (t * 37) % nt->n, target = (t * 91 + 5) % nt->n;
        if (from == target)
            continue;
        got *g = calloc(1, sizeof *g);
        cr_assert_eq(weft_kad_find_peer(nt->kad[from], &nt->ids[target], nt->now, on_done, g), 0);
        pump(nt, 1000000);
        cr_assert_eq(g->done, 1);
        cr_assert(g->found, "node %zu did not find node %zu", from, target);
        cr_assert_leq(g->hops, 6, "%zu -> %zu: %u hops", from, target, g->hops);
        maxhops = g->hops > maxhops ? g->hops : maxhops;
        free(g);
    }
    cr_log_info("200 engines: FIND_NODE hops at most %u", maxhops);

    /* /pk/ put by one node, got by another */
    uint8_t key[80], pub[36];
    memcpy(key, "/pk/", 4);
    memcpy(key + 4, nt->ids[3].bytes, nt->ids[3].len);
    size_t klen = 4 + nt->ids[3].len;
    weft_pubkey_pb_encode(nt->keys[3].pk, pub);
    got *g = calloc(1, sizeof *g);
    cr_assert_eq(weft_kad_put_value(nt->kad[3], key, klen, pub, sizeof pub, nt->now, on_done, g),
                 0);
    pump(nt, 1000000);
    cr_assert_eq(g->done, 1);
    cr_assert_eq(g->status, 0);
    cr_assert_geq(g->stored, 10, "stored on %zu", g->stored);
    memset(g, 0, sizeof *g);
    cr_assert_eq(weft_kad_get_value(nt->kad[150], key, klen, nt->now, on_done, g), 0);
    pump(nt, 1000000);
    cr_assert(g->done == 1 && g->found);
    cr_assert(g->vlen == sizeof pub && !memcmp(g->value, pub, sizeof pub));

    /* /weft/: the higher seq wins */
    char wkey[200] = "/weft/";
    weft_peer_id_to_text(&nt->ids[9], wkey + 6, sizeof wkey - 6);
    strcat(wkey, "/cfg");
    weft_buf v1, v2;
    weft_buf_init(&v1, NULL, 0, 0);
    weft_buf_init(&v2, NULL, 0, 0);
    cr_assert_eq(weft_kad_weft_record(&nt->keys[9], (const uint8_t *)wkey, strlen(wkey), 1,
                                      (const uint8_t *)"old", 3, &v1),
                 0);
    cr_assert_eq(weft_kad_weft_record(&nt->keys[9], (const uint8_t *)wkey, strlen(wkey), 2,
                                      (const uint8_t *)"new", 3, &v2),
                 0);
    memset(g, 0, sizeof *g);
    cr_assert_eq(weft_kad_put_value(nt->kad[9], (const uint8_t *)wkey, strlen(wkey), v2.base,
                                    v2.len, nt->now, on_done, g),
                 0);
    pump(nt, 1000000);
    memset(g, 0, sizeof *g);
    cr_assert_eq(weft_kad_put_value(nt->kad[9], (const uint8_t *)wkey, strlen(wkey), v1.base,
                                    v1.len, nt->now, on_done, g),
                 0);
    pump(nt, 1000000);
    memset(g, 0, sizeof *g);
    cr_assert_eq(
        weft_kad_get_value(nt->kad[77], (const uint8_t *)wkey, strlen(wkey), nt->now, on_done, g),
        0);
    pump(nt, 1000000);
    cr_assert(g->found);
    const uint8_t *data;
    size_t dl;
    uint64_t seq;
    cr_assert_eq(weft_kad_weft_record_data(g->value, g->vlen, &data, &dl, &seq), 0);
    cr_assert_eq(seq, 2);
    weft_buf_free(&v1);
    weft_buf_free(&v2);

    /* providers */
    memset(g, 0, sizeof *g);
    cr_assert_eq(
        weft_kad_provide(nt->kad[20], (const uint8_t *)"content-1", 9, nt->now, on_done, g), 0);
    pump(nt, 1000000);
    cr_assert(g->done && g->stored >= 10);
    memset(g, 0, sizeof *g);
    cr_assert_eq(
        weft_kad_find_providers(nt->kad[120], (const uint8_t *)"content-1", 9, nt->now, on_done, g),
        0);
    pump(nt, 1000000);
    cr_assert(g->done && g->found && g->nproviders == 1);

    /* a key nobody has: the lookup ends, not found */
    memset(g, 0, sizeof *g);
    cr_assert_eq(weft_kad_get_value(nt->kad[5], key, klen - 1, nt->now, on_done, g), 0);
    pump(nt, 1000000);
    cr_assert(g->done == 1 && !g->found);
    cr_assert_leq(g->queries, 128);
    free(g);
    net_free(nt);
}

Test(kad, lookups_end_without_peers_with_failures_and_on_timeout)
{
    /* nobody to ask */
    net *nt = net_new(4, 0);
    got g = {0};
    cr_assert_eq(weft_kad_find_peer(nt->kad[0], &nt->ids[1], nt->now, on_done, &g), 0);
    cr_assert_eq(g.done, 1);
    cr_assert_eq(g.status, WEFT_ECLOSED);
    /* the only peer cannot be sent to (send fails at once) */
    weft_kad_peer ghost = peer_of(424242);
    cr_assert_eq(weft_kad_add_peer(nt->kad[0], &ghost, 1, nt->now), 1);
    memset(&g, 0, sizeof g);
    cr_assert_eq(weft_kad_find_peer(nt->kad[0], &nt->ids[2], nt->now, on_done, &g), 0);
    cr_assert_eq(g.done, 1);
    cr_assert_eq(g.status, WEFT_ECLOSED);
    net_free(nt);

    /* peers that never answer: the request timeout ends the lookup */
    nt = net_new(5, 1);
    for (size_t i = 1; i < 5; i++)
        nt->dead[i] = 1;
    memset(&g, 0, sizeof g);
    cr_assert_eq(weft_kad_find_peer(nt->kad[0], &nt->ids[3], nt->now, on_done, &g), 0);
    pump(nt, 1000);
    cr_assert_eq(g.done, 0);
    for (int s = 0; s < 30 && !g.done; s++) {
        nt->now += S;
        weft_kad_tick(nt->kad[0], nt->now);
    }
    cr_assert_eq(g.done, 1);
    cr_assert_eq(g.found, 0);
    weft_kad_stats st;
    weft_kad_get_stats(nt->kad[0], &st);
    cr_assert_geq(st.requests_timeout, 1);
    net_free(nt);
}

Test(kad, bad_requests_dropped_and_counted)
{
    weft_kad *kad = engine(31, 20);
    weft_identity rid;
    weft_peer_id from;
    make_id(32, &rid, &from);
    weft_buf resp;
    weft_buf_init(&resp, NULL, 0, 0);
    const uint8_t junk[] = {0x08, 0x04, 0x12, 0x7f, 0x01};
    cr_assert_eq(weft_kad_handle_request(kad, &from, 1, junk, sizeof junk, &resp), WEFT_EPROTO);
    const uint8_t nokey[] = {0x08, 0x04};
    cr_assert_eq(weft_kad_handle_request(kad, &from, 1, nokey, sizeof nokey, &resp), WEFT_EPROTO);
    /* PUT_VALUE of a record that does not validate */
    weft_kad_msg *m = calloc(1, sizeof *m);
    m->type = WEFT_KAD_PUT_VALUE;
    m->key = (const uint8_t *)"/other/x";
    m->key_len = 8;
    m->has_record = 1;
    m->rec_key = m->key;
    m->rec_key_len = 8;
    m->rec_value = (const uint8_t *)"v";
    m->rec_value_len = 1;
    weft_buf b;
    weft_buf_init(&b, NULL, 0, 0);
    cr_assert_eq(weft_kad_msg_encode(m, &b), 0);
    cr_assert_eq(weft_kad_handle_request(kad, &from, 1, b.base, b.len, &resp), WEFT_EINVAL);
    /* a good FIND_NODE is answered */
    weft_buf_reset(&b);
    m->type = WEFT_KAD_FIND_NODE;
    m->has_record = 0;
    cr_assert_eq(weft_kad_msg_encode(m, &b), 0);
    cr_assert_eq(weft_kad_handle_request(kad, &from, 1, b.base, b.len, &resp), 1);
    /* a flood: past the burst, requests are refused until tokens return */
    int refused = 0;
    for (int i = 0; i < 300; i++) {
        weft_buf_reset(&resp);
        refused += weft_kad_handle_request(kad, &from, 2, b.base, b.len, &resp) == WEFT_ELIMIT;
    }
    cr_assert_geq(refused, 190);
    weft_buf_reset(&resp);
    cr_assert_eq(weft_kad_handle_request(kad, &from, 2 + 10 * S, b.base, b.len, &resp), 1);
    weft_kad_stats st;
    weft_kad_get_stats(kad, &st);
    cr_assert_eq(st.dropped_malformed, 2);
    cr_assert_eq(st.dropped_invalid_record, 1);
    cr_assert_eq(st.dropped_rate, (uint64_t)refused);
    cr_assert_eq(st.records, 0);
    /* the store is bounded */
    weft_buf_free(&b);
    weft_buf_free(&resp);
    free(m);
    weft_kad_free(kad);
}
