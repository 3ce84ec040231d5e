/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/common.h: what every weft module shares: symbol visibility, attribute
 * macros and the error-code convention.
 *
 * Convention: a call that can fail returns int, 0 (or a count) on success and
 * a negative value on failure: -errno for system failures, or one of the
 * WEFT_E* codes below, all under -4096 so they never collide with errno.
 * This header is the base layer's: every library of weft includes it.
 * weft_strerror() names both kinds.
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#define WEFT_NODISCARD __attribute__((warn_unused_result))
#define WEFT_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define WEFT_API
#define WEFT_NODISCARD
#define WEFT_NONNULL(...)
#endif

/* Discard a result on purpose (GCC ignores a (void) cast on
 * warn_unused_result). Use only where failure needs no handling. */
#define WEFT_IGNORE(expr)                                                                          \
    do {                                                                                           \
        if (expr) {                                                                                \
        }                                                                                          \
    } while (0)

/*
 * One table of error codes, a range of 32 per layer so that a code names
 * the layer that raised it. A layer may return codes of the layers below
 * it, never above. weft_strerror() knows them all.
 */
enum {
    /* base: -4097 .. -4128, any layer may return these */
    WEFT_EINVAL = -4097,    /* bad argument to an API call */
    WEFT_ENOSPC = -4098,    /* caller's output buffer too small */
    WEFT_ETOOBIG = -4099,   /* size over a configured or representable bound */
    WEFT_EPROTO = -4100,    /* malformed data (wire, text encoding, file) */
    WEFT_ECHECKSUM = -4101, /* checksum mismatch */
    WEFT_ELIMIT = -4102,    /* a configured limit was reached */
    WEFT_EAGAIN = -4103,    /* would block: retry when woken */
    WEFT_ERESOLVE = -4104,  /* a host name did not resolve (no such name, no answer in time) */

    /* codec: -4129 .. -4160 */
    WEFT_ETRUNC = -4129,      /* shard shorter or longer than its header says */
    WEFT_EVERSION = -4130,    /* unknown shard format version */
    WEFT_EFIELD = -4131,      /* unknown field id */
    WEFT_EK = -4132,          /* k outside 1..WEFT_MAX_K */
    WEFT_EPIECE = -4133,      /* piece_size is zero */
    WEFT_EMSGLEN = -4134,     /* message_len > k * piece_size */
    WEFT_EGENERATION = -4135, /* shard belongs to another generation (k, piece, len) */
    WEFT_EZEROVEC = -4136,    /* all-zero coefficient vector */
    WEFT_EINCOMPLETE = -4137, /* message not decoded yet (rank < k) */
    WEFT_EEMPTY = -4138,      /* nothing held to recode from */
    WEFT_ENOIMPL = -4139,     /* requested implementation not available on this CPU */

    /* transport: -4161 .. -4192 */
    WEFT_EAUTH = -4161,   /* signature, key or peer id check failed */
    WEFT_ECLOSED = -4162, /* connection or stream closed */
    WEFT_ENOTSUP = -4163, /* protocol not supported by the peer */

    /* mesh: -4193 .. -4224; service, node and proxy: -4225 .. -4256 */
    WEFT_ERANGE_END = -4256,
};

/* An impossible internal state: print "weft: panic: <message>" with the
 * caller's location to stderr and abort. Never for bad input. */
WEFT_API void weft_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define weft_panic(...) weft_panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* Human-readable text for a negative return value (WEFT_E* or -errno).
 * Never returns NULL; the string is static. Thread-safe. */
WEFT_API const char *weft_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_COMMON_H */
