/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An outside program against an installed weft-codec: encode a message
 * into coded shards, lose some of them, decode the rest and compare.
 * Built by tests/install/install_check.sh through pkg-config (shared and
 * static) and through find_package(weft). Exit status 0 only when the
 * decoded message is byte for byte the original.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/codec.h>

enum { MSG_LEN = 50000, K = 10, N = 16 };

int
main(void)
{
    int rc = weft_init();
    if (rc != 0) {
        fprintf(stderr, "roundtrip: weft_init: %s\n", weft_strerror(rc));
        return 1;
    }
    uint8_t *msg = malloc(MSG_LEN);
    if (!msg)
        return 1;
    weft_rng rng;
    weft_rng_seed(&rng, 20261121);
    weft_rng_bytes(&rng, msg, MSG_LEN);

    int err = 0;
    weft_encoder *enc = weft_enc_new(msg, MSG_LEN, K, 0, 0, 7, &err);
    if (!enc) {
        fprintf(stderr, "roundtrip: weft_enc_new: %s\n", weft_strerror(err));
        return 1;
    }
    size_t shard_len = weft_shard_size(weft_enc_gen(enc));
    uint8_t *shards = malloc((size_t)N * shard_len);
    if (!shards)
        return 1;
    for (int i = 0; i < N; i++) {
        rc = weft_enc_next(enc, shards + (size_t)i * shard_len, shard_len);
        if (rc != (int)shard_len) {
            fprintf(stderr, "roundtrip: weft_enc_next: %s\n", weft_strerror(rc));
            return 1;
        }
    }

    weft_decoder *dec = weft_dec_new(weft_enc_gen(enc), &err);
    if (!dec) {
        fprintf(stderr, "roundtrip: weft_dec_new: %s\n", weft_strerror(err));
        return 1;
    }
    /* Lose every fourth shard (0, 4, 8, 12): 12 of the 16 arrive, k = 10 needed. */
    int pushed = 0;
    for (int i = 0; i < N; i++) {
        if (i % 4 == 0)
            continue;
        rc = weft_dec_push(dec, shards + (size_t)i * shard_len, shard_len);
        if (rc < 0) {
            fprintf(stderr, "roundtrip: weft_dec_push: %s\n", weft_strerror(rc));
            return 1;
        }
        pushed++;
    }
    size_t out_len = 0;
    const uint8_t *out = weft_dec_message(dec, &out_len);
    if (!weft_dec_complete(dec) || !out) {
        fprintf(stderr, "roundtrip: rank %u of %d after %d shards\n", weft_dec_rank(dec), K,
                pushed);
        return 1;
    }
    if (out_len != MSG_LEN || memcmp(out, msg, MSG_LEN) != 0) {
        fprintf(stderr, "roundtrip: decoded message differs from the original\n");
        return 1;
    }
    printf("roundtrip: %d bytes, k=%d, %d of %d shards, kernel %s: ok\n", MSG_LEN, K, pushed, N,
           weft_gf_impl_name());
    weft_dec_free(dec);
    weft_enc_free(enc);
    free(shards);
    free(msg);
    return 0;
}
