/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An outside program against an installed weft-transport: an identity from
 * a fixed seed signs and verifies, its peer id prints as text, and an event
 * loop is created and freed. Exit status 0 when all of it works.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft/identity.h>
#include <weft/loop.h>

int
main(void)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    weft_identity id;
    weft_identity_from_seed(&id, seed);

    static const char text[] = "installed weft-transport";
    uint8_t sig[64];
    weft_sign(&id, (const uint8_t *)text, sizeof text - 1, sig);
    if (weft_verify(id.pk, (const uint8_t *)text, sizeof text - 1, sig) != 0) {
        fprintf(stderr, "transport_link: signature does not verify\n");
        return 1;
    }
    sig[0] ^= 1;
    if (weft_verify(id.pk, (const uint8_t *)text, sizeof text - 1, sig) == 0) {
        fprintf(stderr, "transport_link: a corrupted signature verifies\n");
        return 1;
    }

    weft_peer_id pid;
    weft_peer_id_from_pubkey(id.pk, &pid);
    char pid_text[128];
    int n = weft_peer_id_to_text(&pid, pid_text, sizeof pid_text);
    if (n <= 0 || strncmp(pid_text, "12D3KooW", 8) != 0) {
        fprintf(stderr, "transport_link: unexpected peer id text (%d)\n", n);
        return 1;
    }

    /* epoll works wherever the tests run; io_uring may be refused. */
    weft_loop_config cfg = {.kind = WEFT_LOOP_EPOLL};
    int err = 0;
    weft_loop *loop = weft_loop_new(&cfg, &err);
    if (!loop) {
        fprintf(stderr, "transport_link: weft_loop_new: %s\n", weft_strerror(err));
        return 1;
    }
    printf("transport_link: peer %s, loop %s: ok\n", pid_text, weft_loop_kind_name(loop));
    weft_loop_free(loop);
    weft_identity_wipe(&id);
    return 0;
}
