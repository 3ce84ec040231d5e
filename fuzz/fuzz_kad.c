/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kad: the Kademlia message parser and the engine behind it, on
 * arbitrary bytes (weft/kad.h).
 *
 *  - weft_kad_msg_decode returns 0, WEFT_EPROTO or WEFT_ETOOBIG (always for
 *    more than WEFT_KAD_MAX_MSG bytes), keeps at most WEFT_KAD_MAX_PEERS peers
 *    of each list and WEFT_KAD_MAX_ADDRS addresses per peer, and its key and
 *    record pointers lie inside the input. A decoded message re-encodes to
 *    bytes that decode to the same message with nothing dropped.
 *  - A record that decodes is validated: the answer is 0 or one of the
 *    documented refusals, never anything else.
 *  - The same bytes as a request to a server engine (rate limit off, a
 *    small store) are answered (a response that decodes), not answered
 *    (ADD_PROVIDER) or refused with a documented error; the store never
 *    exceeds its bound.
 *  - The same bytes as the answer to a lookup's request: the lookup still
 *    ends exactly once (at the latest at its deadline).
 */
#include "fuzz_util.h"
#include "weft/kad.h"

static weft_kad *srv, *cli;
static uint64_t last_req;
static int done_count;

static int
cap_send(void *user, uint64_t req, const weft_kad_peer *to, const uint8_t *msg, size_t len,
         int want)
{
    (void)user, (void)to, (void)msg, (void)len, (void)want;
    last_req = req;
    return 0;
}

static void
on_done(weft_kad *kad, const weft_kad_result *r, void *user)
{
    (void)kad, (void)user;
    FZ_CHECK(r->nclosest <= WEFT_KAD_K && r->nproviders <= WEFT_KAD_K);
    done_count++;
}

static void
make_peer(uint8_t tag, weft_peer_id *out)
{
    weft_identity id;
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    weft_identity_from_seed(&id, seed);
    weft_peer_id_from_pubkey(id.pk, out);
}

static void
setup(void)
{
    if (srv)
        return;
    weft_kad_config c;
    weft_kad_config_default(&c);
    make_peer(1, &c.self);
    c.send = cap_send;
    c.peer_rate = 0;
    c.max_records = 64;
    c.max_providers = 64;
    c.refresh_interval_ns = -1;
    c.seed = 1;
    srv = weft_kad_new(&c);
    make_peer(2, &c.self);
    c.server = 0;
    cli = weft_kad_new(&c);
    FZ_CHECK(srv && cli);
    weft_kad_peer p;
    memset(&p, 0, sizeof p);
    make_peer(3, &p.id);
    FZ_CHECK(weft_kad_add_peer(cli, &p, 1, 1) == 1);
    FZ_CHECK(weft_kad_add_peer(srv, &p, 1, 1) == 1);
}

static int
peer_eq(const weft_kad_peer *a, const weft_kad_peer *b)
{
    if (!weft_peer_id_equal(&a->id, &b->id) || a->naddrs != b->naddrs ||
        a->connection != b->connection)
        return 0;
    for (size_t i = 0; i < a->naddrs; i++)
        if (a->addrs[i].len != b->addrs[i].len ||
            memcmp(a->addrs[i].bytes, b->addrs[i].bytes, a->addrs[i].len))
            return 0;
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static weft_kad_msg m, again;
    static int64_t now = 1000000000;
    setup();
    uint8_t *buf = fz_dup(data, size);
    const char *why = NULL;
    int rc = weft_kad_msg_decode(buf, size, &m, &why);
    FZ_CHECK(rc == 0 || rc == WEFT_EPROTO || rc == WEFT_ETOOBIG);
    if (size > WEFT_KAD_MAX_MSG)
        FZ_CHECK(rc == WEFT_ETOOBIG);
    if (rc < 0)
        FZ_CHECK(why != NULL);
    if (rc == 0) {
        FZ_CHECK(m.ncloser <= WEFT_KAD_MAX_PEERS && m.nproviders <= WEFT_KAD_MAX_PEERS);
        FZ_CHECK(m.type >= 0 && m.type <= WEFT_KAD_PING);
        if (m.key_len)
            FZ_CHECK(m.key >= buf && m.key + m.key_len <= buf + size);
        if (m.has_record && m.rec_value_len)
            FZ_CHECK(m.rec_value >= buf && m.rec_value + m.rec_value_len <= buf + size);
        for (size_t i = 0; i < m.ncloser; i++)
            FZ_CHECK(m.closer[i].naddrs <= WEFT_KAD_MAX_ADDRS && m.closer[i].id.len > 0);
        if (m.has_record) {
            int v = weft_kad_validate(m.rec_key, m.rec_key_len, m.rec_value, m.rec_value_len, &why);
            FZ_CHECK(v == 0 || v == WEFT_EINVAL || v == WEFT_EAUTH || v == WEFT_ETOOBIG);
            if (v < 0)
                FZ_CHECK(why != NULL);
        }
        weft_buf b;
        weft_buf_init(&b, NULL, 0, 0);
        FZ_CHECK(weft_kad_msg_encode(&m, &b) == 0);
        FZ_CHECK(weft_kad_msg_decode(b.base, b.len, &again, &why) == 0 || b.len > WEFT_KAD_MAX_MSG);
        if (b.len <= WEFT_KAD_MAX_MSG) {
            FZ_CHECK(again.type == m.type && again.key_len == m.key_len);
            FZ_CHECK(!m.key_len || !memcmp(again.key, m.key, m.key_len));
            FZ_CHECK(again.has_record == m.has_record);
            if (m.has_record)
                FZ_CHECK(
                    again.rec_value_len == m.rec_value_len &&
                    (!m.rec_value_len || !memcmp(again.rec_value, m.rec_value, m.rec_value_len)));
            FZ_CHECK(again.ncloser == m.ncloser && again.nproviders == m.nproviders);
            FZ_CHECK(again.dropped == 0);
            for (size_t i = 0; i < m.ncloser; i++)
                FZ_CHECK(peer_eq(&again.closer[i], &m.closer[i]));
            for (size_t i = 0; i < m.nproviders; i++)
                FZ_CHECK(peer_eq(&again.providers[i], &m.providers[i]));
        }
        weft_buf_free(&b);
    }

    /* as a request */
    weft_peer_id from;
    make_peer(3, &from);
    weft_buf resp;
    weft_buf_init(&resp, NULL, 0, WEFT_KAD_MAX_MSG);
    now += 1000;
    int r = weft_kad_handle_request(srv, &from, now, buf, size, &resp);
    FZ_CHECK(r == 1 || r == 0 || r == WEFT_EPROTO || r == WEFT_ETOOBIG || r == WEFT_EINVAL ||
             r == WEFT_ELIMIT);
    if (r == 1)
        FZ_CHECK(weft_kad_msg_decode(resp.base, resp.len, &again, &why) == 0);
    weft_buf_free(&resp);
    weft_kad_stats st;
    weft_kad_get_stats(srv, &st);
    FZ_CHECK(st.records <= 64 && st.providers <= 64);

    /* as an answer */
    done_count = 0;
    last_req = 0;
    FZ_CHECK(weft_kad_find_closest(cli, (const uint8_t *)"fuzz-target", 11, now, on_done, NULL) ==
             0);
    if (last_req)
        weft_kad_on_response(cli, last_req, now, buf, size);
    for (int i = 0; i < 200 && !done_count; i++) {
        now += 1000000000;
        weft_kad_tick(cli, now);
    }
    FZ_CHECK(done_count == 1);
    /* keep the client's table to the one peer it started with */
    weft_kad_peer keep[4];
    uint8_t t[32] = {0};
    size_t n = weft_kad_closest(cli, t, keep, 4);
    weft_peer_id p3;
    make_peer(3, &p3);
    for (size_t i = 0; i < n; i++)
        if (!weft_peer_id_equal(&keep[i].id, &p3))
            weft_kad_remove_peer(cli, &keep[i].id);
    if (!weft_kad_lookup_peer(cli, &p3)) {
        weft_kad_peer p;
        memset(&p, 0, sizeof p);
        p.id = p3;
        FZ_CHECK(weft_kad_add_peer(cli, &p, 1, now) == 1);
    }
    free(buf);
    return 0;
}
