/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An outside program against an installed weft-mesh: a coded-mesh router
 * with no peers is created, subscribes, publishes (nobody to send to) and
 * is freed. Exit status 0 when all of it works.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft/pubsub.h>

static int64_t fake_now;

static int
io_send(void *user, weft_ps_peer *peer, void *peer_user, unsigned proto, const uint8_t *frame,
        size_t len)
{
    (void)user, (void)peer, (void)peer_user, (void)proto, (void)frame, (void)len;
    return 0;
}

static void
io_deliver(void *user, const weft_ps_msg *m)
{
    (void)user, (void)m;
}

static int64_t
io_now(void *user)
{
    (void)user;
    return fake_now;
}

int
main(void)
{
    weft_ps_config cfg;
    weft_ps_config_default(&cfg, WEFT_PS_RLNC);
    uint8_t seed[32];
    memset(seed, 0x5a, sizeof seed);
    weft_identity_from_seed(&cfg.identity, seed);
    cfg.io.send = io_send;
    cfg.io.deliver = io_deliver;
    cfg.io.now = io_now;
    cfg.seed = 99;

    int err = 0;
    weft_ps *ps = weft_ps_new(&cfg, &err);
    if (!ps) {
        fprintf(stderr, "mesh_link: weft_ps_new: %s\n", weft_strerror(err));
        return 1;
    }
    int rc = weft_ps_subscribe(ps, "install-check");
    if (rc < 0 || !weft_ps_subscribed(ps, "install-check")) {
        fprintf(stderr, "mesh_link: subscribe: %s\n", weft_strerror(rc));
        return 1;
    }
    static const char data[] = "hello from outside the tree";
    rc = weft_ps_publish(ps, "install-check", data, sizeof data - 1, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "mesh_link: publish: %s\n", weft_strerror(rc));
        return 1;
    }
    fake_now += 2000000000;
    weft_ps_tick(ps);
    printf("mesh_link: router with policy %s: ok\n", weft_ps_rlnc_policy_default());
    weft_ps_free(ps);
    return 0;
}
