/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/ps_rpc.h: the wire messages of the topic mesh, without I/O.
 *
 *  - GossipSub RPC (/meshsub/1.0.0, 1.1.0, 1.2.0): subscriptions, published
 *    messages and the control message (IHAVE, IWANT, GRAFT, PRUNE with peer
 *    exchange and backoff, IDONTWANT). Unknown fields are skipped.
 *  - RLNC RPC (/weft/rlnc/1.0.0), weft's own protobuf:
 *      RlncRPC { repeated Shard shard = 1; repeated bytes complete = 2;
 *                repeated IHave ihave = 3; repeated Want want = 4;
 *                repeated Have have = 5; }
 *      Shard   { string topic = 1; bytes msg_id = 2; bytes from = 3;
 *                uint64 seqno = 4; bytes signature = 5; bytes data = 6; }
 *      IHave   { string topic = 1; repeated bytes ids = 2; }
 *      Want    { bytes id = 1; uint32 rank = 2; }
 *      Have    { bytes id = 1; uint32 rank = 2; uint32 got = 3; }
 *    Want asks for more shards (the asker holds rank); Have tells a mesh
 *    peer our rank and how many of its shards we received, so that it can
 *    stop sending what we no longer need.
 *    `data` is one coded shard in the codec's wire format (weft/codec.h).
 *  - Trace events (TraceEvent of the optimum trace, a superset of the
 *    libp2p pubsub trace), encoded from a weft_ps_trace.
 *
 * Both parsers check the whole RPC first (protobuf well-formed, every field
 * of the wire type it must have, lengths in bounds) and only then call the
 * visitor, so a malformed RPC has no effect at all. Byte fields point into
 * the input; nothing is copied.
 */
#ifndef WEFT_PS_RPC_H
#define WEFT_PS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MESHSUB_10 "/meshsub/1.0.0"
#define WEFT_MESHSUB_11 "/meshsub/1.1.0"
#define WEFT_MESHSUB_12 "/meshsub/1.2.0"
#define WEFT_RLNC_PROTO "/weft/rlnc/1.0.0"

/* A byte string lent from an input buffer (or to a writer). */
typedef struct weft_bytes {
    const uint8_t *p;
    size_t len;
} weft_bytes;

/* GossipSub Message. `has` tells which optional fields were present. */
enum {
    WEFT_RPC_HAS_FROM = 1u << 0,
    WEFT_RPC_HAS_DATA = 1u << 1,
    WEFT_RPC_HAS_SEQNO = 1u << 2,
    WEFT_RPC_HAS_TOPIC = 1u << 3,
    WEFT_RPC_HAS_SIGNATURE = 1u << 4,
    WEFT_RPC_HAS_KEY = 1u << 5,
};
typedef struct weft_rpc_msg {
    weft_bytes from;      /* 1: publisher peer id bytes */
    weft_bytes data;      /* 2 */
    weft_bytes seqno;     /* 3: 8 bytes big-endian when signed */
    weft_bytes topic;     /* 4 */
    weft_bytes signature; /* 5 */
    weft_bytes key;       /* 6: protobuf public key */
    unsigned has;
} weft_rpc_msg;

/* RLNC Shard. */
typedef struct weft_rpc_shard {
    weft_bytes topic;     /* 1 */
    weft_bytes msg_id;    /* 2: weft_rlnc_msg_id (32 bytes) */
    weft_bytes from;      /* 3: publisher peer id bytes */
    uint64_t seqno;       /* 4 */
    weft_bytes signature; /* 5: Ed25519 over weft_rlnc_sig_input() */
    weft_bytes data;      /* 6: coded shard, codec wire format */
} weft_rpc_shard;

/* Visitor: every callback may be NULL (the item is skipped). A non-zero
 * return stops the walk and is returned by the parser. */
typedef struct weft_rpc_visitor {
    /* GossipSub */
    int (*sub)(void *u, int subscribe, weft_bytes topic);
    int (*msg)(void *u, const weft_rpc_msg *m);
    int (*ihave)(void *u, weft_bytes topic, weft_bytes id); /* once per id (also RLNC IHave) */
    int (*iwant)(void *u, weft_bytes id);                   /* once per id */
    int (*graft)(void *u, weft_bytes topic);
    /* peers: PeerInfo.peerID of each entry (entries without one are left
     * out); has_backoff tells whether field 3 was present. */
    int (*prune)(void *u, weft_bytes topic, const weft_bytes *peers, size_t npeers, int has_backoff,
                 uint64_t backoff_s);
    int (*idontwant)(void *u, weft_bytes id); /* once per id */
    /* RLNC */
    int (*shard)(void *u, const weft_rpc_shard *s);
    int (*complete)(void *u, weft_bytes id);
    int (*want)(void *u, weft_bytes id, uint32_t rank);
    int (*have)(void *u, weft_bytes id, uint32_t rank, uint32_t got);
} weft_rpc_visitor;

/* At most this many PeerInfo entries of one PRUNE are passed to the visitor;
 * further entries are still validated, then ignored. */
#define WEFT_RPC_MAX_PX 16

/* Parse one RPC (the bytes after the uvarint length prefix). Returns 0,
 * WEFT_EPROTO for a malformed RPC (nothing visited), or a visitor's
 * non-zero return. */
WEFT_NODISCARD WEFT_API int weft_rpc_parse_gossip(const uint8_t *p, size_t len,
                                                  const weft_rpc_visitor *v, void *u);
WEFT_NODISCARD WEFT_API int weft_rpc_parse_rlnc(const uint8_t *p, size_t len,
                                                const weft_rpc_visitor *v, void *u);

/* ---- writing ------------------------------------------------------------- */

/* Builds one RPC. Items may be added in any order; the control part (or, for
 * RLNC, nothing special) is assembled by weft_rpc_finish. Every add returns
 * 0 or the weft_buf error (WEFT_ETOOBIG past max, -ENOMEM); after an error
 * the writer must be reset. */
typedef struct weft_rpc_writer {
    weft_buf out; /* RPC fields 1-2 (gossip) or every field (RLNC) */
    weft_buf ctl; /* ControlMessage fields (gossip) */
    size_t items; /* entries added since the last reset */
} weft_rpc_writer;

/* max bounds the finished RPC (0 = no bound beyond memory). */
WEFT_API void weft_rpc_writer_init(weft_rpc_writer *w, size_t max);
WEFT_API void weft_rpc_writer_reset(weft_rpc_writer *w);
WEFT_API void weft_rpc_writer_free(weft_rpc_writer *w);

/* GossipSub */
WEFT_NODISCARD WEFT_API int weft_rpc_put_sub(weft_rpc_writer *w, int subscribe, weft_bytes topic);
/* Fields whose `has` bit is clear are left out. */
WEFT_NODISCARD WEFT_API int weft_rpc_put_msg(weft_rpc_writer *w, const weft_rpc_msg *m);
WEFT_NODISCARD WEFT_API int weft_rpc_put_ihave(weft_rpc_writer *w, weft_bytes topic,
                                               const weft_bytes *ids, size_t n);
WEFT_NODISCARD WEFT_API int weft_rpc_put_iwant(weft_rpc_writer *w, const weft_bytes *ids, size_t n);
WEFT_NODISCARD WEFT_API int weft_rpc_put_graft(weft_rpc_writer *w, weft_bytes topic);
/* backoff_s < 0: field left out. */
WEFT_NODISCARD WEFT_API int weft_rpc_put_prune(weft_rpc_writer *w, weft_bytes topic,
                                               const weft_bytes *peers, size_t npeers,
                                               int64_t backoff_s);
WEFT_NODISCARD WEFT_API int weft_rpc_put_idontwant(weft_rpc_writer *w, const weft_bytes *ids,
                                                   size_t n);
/* RLNC */
WEFT_NODISCARD WEFT_API int weft_rpc_put_shard(weft_rpc_writer *w, const weft_rpc_shard *s);
/* The same, but the s->data.len bytes of the data field (s->data.p is not
 * read) are left for the caller to write at *data before finishing: a
 * shard can be encoded straight into the RPC. */
WEFT_NODISCARD WEFT_API int weft_rpc_put_shard_reserve(weft_rpc_writer *w, const weft_rpc_shard *s,
                                                       uint8_t **data);
WEFT_NODISCARD WEFT_API int weft_rpc_put_complete(weft_rpc_writer *w, weft_bytes id);
WEFT_NODISCARD WEFT_API int weft_rpc_put_rlnc_ihave(weft_rpc_writer *w, weft_bytes topic,
                                                    const weft_bytes *ids, size_t n);
WEFT_NODISCARD WEFT_API int weft_rpc_put_want(weft_rpc_writer *w, weft_bytes id, uint32_t rank);
WEFT_NODISCARD WEFT_API int weft_rpc_put_have(weft_rpc_writer *w, weft_bytes id, uint32_t rank,
                                              uint32_t got);

/* Assemble the RPC; *out and *len stay valid until the next reset/free.
 * Returns 0 or the weft_buf error. An empty writer yields len 0. */
WEFT_NODISCARD WEFT_API int weft_rpc_finish(weft_rpc_writer *w, const uint8_t **out, size_t *len);

/* The bytes a GossipSub publisher signs: "libp2p-pubsub:" || the Message
 * without signature and key (fields 1-4 in tag order). Appended to out. */
WEFT_NODISCARD WEFT_API int weft_rpc_sig_input(const weft_rpc_msg *m, weft_buf *out);

/* The bytes an RLNC publisher signs: "weft-rlnc:" || msg_id(32) ||
 * uvarint(topic length) || topic || k (u16 LE) || piece_size (u32 LE) ||
 * message_len (u32 LE) || seqno (u64 LE). Appended to out. The publisher
 * is bound by its key (the signer is the shard's `from`), so a relay can
 * change neither id, topic, seqno nor generation shape of a first shard. */
WEFT_NODISCARD WEFT_API int weft_rlnc_sig_input(weft_bytes msg_id, weft_bytes topic, uint32_t k,
                                                uint32_t piece_size, uint32_t message_len,
                                                uint64_t seqno, weft_buf *out);

/* The RLNC message id (docs/spec/message-ids.md): SHA-256 over
 * "weft-rlnc-id:" || uvarint(|from|) || from || seqno (u64 BE) ||
 * uvarint(|topic|) || topic || SHA-256(message), where from is the
 * publisher's peer id bytes and msg_sha256 the SHA-256 of the message.
 * Unique per publish (a publisher never reuses a seqno) and bound to its
 * topic; a receiver recomputes it after decoding. Returns 0, or WEFT_EINVAL
 * for an empty from or a topic over 65535 bytes. */
WEFT_NODISCARD WEFT_API int weft_rlnc_msg_id(weft_bytes from, uint64_t seqno, weft_bytes topic,
                                             const uint8_t msg_sha256[32], uint8_t out[32]);

/* ---- length-prefixed framing of a stream --------------------------------- */

/* Reassembles uvarint-length-prefixed frames from a byte stream. A frame
 * longer than max is an error (the stream is to be reset). */
typedef struct weft_lp_reader {
    weft_buf acc; /* partial frame */
    size_t max;
    size_t want; /* length of the frame being collected, SIZE_MAX while reading the prefix */
} weft_lp_reader;

WEFT_API void weft_lp_reader_init(weft_lp_reader *r, size_t max);
WEFT_API void weft_lp_reader_free(weft_lp_reader *r);
/* Feed bytes; on_frame runs for each complete frame (lent for the call; it
 * may point into data when a frame arrives whole). Returns 0, WEFT_ETOOBIG
 * for an over-long frame, WEFT_EPROTO for a bad prefix, -ENOMEM, or the
 * first non-zero on_frame return. */
WEFT_NODISCARD WEFT_API int weft_lp_feed(weft_lp_reader *r, const uint8_t *data, size_t len,
                                         int (*on_frame)(void *u, const uint8_t *f, size_t n),
                                         void *u);

#ifdef __cplusplus
}
#endif
#endif
