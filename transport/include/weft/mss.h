/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/mss.h: multistream-select 1.0, the protocol negotiation run on a fresh
 * connection (to pick `/noise`), inside Noise (to pick `/yamux/1.0.0`) and on
 * every yamux stream (to pick the application protocol). Sans-I/O: the
 * engine takes the bytes the peer sent and appends the bytes to send to a
 * caller's weft_buf; it never reads, writes or sleeps.
 *
 * Wire format: each message is uvarint(n) || text || '\n', where n counts the
 * newline. Both sides first exchange the header `/multistream/1.0.0`. The
 * initiator proposes one protocol id at a time; the responder echoes an id
 * to accept it or answers `na`, and answers `ls` with the list of ids it
 * speaks. Ids are 1..WEFT_MSS_MAX_ID bytes; a longer message, an empty one
 * or one without the trailing newline is WEFT_EPROTO.
 *
 * Invariants: the state is one fixed-size struct (no allocation; about
 * 1.1 KiB), input may arrive in pieces of any size down to single bytes, and
 * input() never consumes a byte past the message that completes the
 * negotiation, so application data that followed it in the same read stays
 * with the caller. Errors are sticky: once input() returned < 0 it returns
 * the same value again.
 *
 * Threading: a weft_mss belongs to one thread; distinct ones are independent.
 */
#ifndef WEFT_MSS_H
#define WEFT_MSS_H

#include <stddef.h>
#include <stdint.h>

#include "weft/buf.h"
#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MSS_HEADER "/multistream/1.0.0"
/* Longest protocol id accepted or sent, in bytes, without the newline. */
#define WEFT_MSS_MAX_ID 1024
/* A responder answers at most this many proposals (and `ls` requests) per
 * negotiation, then fails with WEFT_ELIMIT. */
#define WEFT_MSS_MAX_ATTEMPTS 64

/*
 * Responder decision hook: called with a proposed id (NUL-terminated at
 * id[len]; it may contain other NUL bytes, so use len). Return >= 0 to accept
 * (the value is what weft_mss_selected() reports), < 0 to answer `na`. The id
 * buffer is lent for the call only. Runs inside weft_mss_input().
 */
typedef int (*weft_mss_select_fn)(void *arg, const char *id, size_t len);

/* Engine state. Treat as opaque; it is public only so callers can embed it
 * (no allocation). */
typedef struct weft_mss {
    const char *const *protos;
    size_t nprotos;
    weft_mss_select_fn select;
    void *select_arg;
    uint8_t role; /* 0 initiator, 1 responder */
    uint8_t state;
    uint8_t hdr_sent; /* our header is in the output already */
    uint8_t pfx_len;  /* bytes of the length prefix seen so far */
    uint8_t pfx[3];
    int err;           /* sticky error, 0 if none */
    int selected;      /* result index, -1 until done */
    size_t proposal;   /* initiator: index of the id in flight */
    unsigned attempts; /* responder: proposals answered */
    uint16_t want;     /* length of the current message, 0 = prefix pending */
    uint16_t have;     /* bytes of it received */
    char msg[WEFT_MSS_MAX_ID + 2];
} weft_mss;

/*
 * Prepare an initiator that proposes protos[0], then protos[1], ... in order.
 * The array and strings are borrowed and must outlive the negotiation. Each
 * id must be 1..WEFT_MSS_MAX_ID bytes, contain no '\n', and not be `na`,
 * `ls` or the header. Returns 0 or WEFT_EINVAL (n == 0 or a bad id).
 */
WEFT_NODISCARD WEFT_API int weft_mss_init_initiator(weft_mss *m, const char *const *protos,
                                                    size_t n) WEFT_NONNULL(1);

/*
 * Prepare a responder that accepts any id of protos[0..n) (exact byte match)
 * and lists them on `ls`. protos may be NULL when n == 0 (then only a
 * weft_mss_set_select() hook can accept). Borrowed as above. Returns 0 or
 * WEFT_EINVAL.
 */
WEFT_NODISCARD WEFT_API int weft_mss_init_responder(weft_mss *m, const char *const *protos,
                                                    size_t n) WEFT_NONNULL(1);

/* Responder: let fn decide instead of the list (the list is still what `ls`
 * answers). Call after init, before input. */
WEFT_API void weft_mss_set_select(weft_mss *m, weft_mss_select_fn fn, void *arg) WEFT_NONNULL(1);

/*
 * Append our opening bytes to out: the initiator writes the header and its
 * first proposal (a caller that wants to be "lazy", as js is with one
 * choice, may append application data right after them); the responder
 * writes its header early (optional: without start() it answers the peer's
 * header when it arrives). Call at most once, before input for an
 * initiator. Returns 0, WEFT_EINVAL (initiator started twice), or the
 * weft_buf error (WEFT_ETOOBIG, -ENOMEM), which is then sticky.
 */
WEFT_NODISCARD WEFT_API int weft_mss_start(weft_mss *m, weft_buf *out) WEFT_NONNULL(1, 2);

/*
 * Feed bytes from the peer; any reply is appended to out. *consumed is set
 * to the bytes used from in (all of them unless negotiation completed inside
 * this input: then the bytes after the final message are left for the
 * caller). Returns 0 when more input is needed, 1 when negotiation is done
 * (also on every later call, consuming nothing), or < 0: WEFT_EPROTO
 * (malformed message or an unexpected reply), WEFT_ENOTSUP (every proposal
 * refused, or the peer speaks another multistream version), WEFT_ELIMIT
 * (too many proposals), WEFT_EINVAL (initiator not started), or the weft_buf
 * error. Errors are sticky.
 */
WEFT_NODISCARD WEFT_API int weft_mss_input(weft_mss *m, const uint8_t *in, size_t len,
                                           size_t *consumed, weft_buf *out) WEFT_NONNULL(1, 4, 5);

/* After input() returned 1: the index into protos (or the select hook's
 * value) of the agreed protocol; -1 before. */
WEFT_API int weft_mss_selected(const weft_mss *m) WEFT_NONNULL(1);

/* After input() returned 1: the agreed id, NUL-terminated, stored in *m (valid
 * while m is neither re-initialised nor gone); NULL before. */
WEFT_API const char *weft_mss_selected_name(const weft_mss *m) WEFT_NONNULL(1);

/* Append one message (uvarint length, text, '\n') for text[0..len) to out.
 * Returns 0, WEFT_EINVAL if len > WEFT_MSS_MAX_ID (ls answers excepted, the
 * engine writes those itself) or the weft_buf error. */
WEFT_NODISCARD WEFT_API int weft_mss_put_msg(weft_buf *out, const char *text, size_t len)
    WEFT_NONNULL(1);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_MSS_H */
