/* SPDX-License-Identifier: Apache-2.0 */
/* The loopback set-up of the transport tests and benchmark (loopback.h). */
#include "loopback.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct sockaddr_in
lb_addr(uint16_t port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

weft_loop *
lb_loop_new(int kind, size_t send_queue_max, int *err)
{
    weft_loop_config lc;

    memset(&lc, 0, sizeof(lc));
    lc.kind = kind;
    lc.send_queue_max = send_queue_max;
    *err = 0;
    return weft_loop_new(&lc, err);
}

int
lb_listen(weft_loop *loop, weft_accept_fn on_accept, void *user, weft_listener **ls,
          struct sockaddr_storage *addr, socklen_t *alen)
{
    struct sockaddr_in sa = lb_addr(0);
    int rc = weft_listen(loop, (struct sockaddr *)&sa, sizeof(sa), on_accept, user, ls);

    if (rc < 0)
        return rc;
    *alen = sizeof(*addr);
    return weft_listener_addr(*ls, addr, alen);
}

void
lb_host_config(weft_host_config *cfg, uint8_t seed_byte)
{
    uint8_t seed[32] = {seed_byte};

    weft_host_config_default(cfg);
    weft_identity_from_seed(&cfg->identity, seed);
}

int
lb_host_listen(weft_host *h, uint16_t port, weft_multiaddr *bound)
{
    char text[48];
    weft_multiaddr any;
    int rc;

    snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", (unsigned)port);
    rc = weft_ma_parse(text, &any);
    if (rc < 0)
        return rc;
    return weft_host_listen(h, &any, bound);
}
