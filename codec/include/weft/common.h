/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/common.h: what every weft module shares: symbol visibility, attribute
 * macros and the error-code convention.
 *
 * Convention: a call that can fail returns int, 0 (or a count) on success and
 * a negative value on failure: -errno for system failures, or one of the
 * WEFT_E* codes below, all under -4096 so they never collide with errno.
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

enum {
    WEFT_EINVAL = -4097,      /* bad argument to an API call */
    WEFT_ETRUNC = -4098,      /* shard shorter or longer than its header says */
    WEFT_EVERSION = -4099,    /* unknown shard format version */
    WEFT_EFIELD = -4100,      /* unknown field id */
    WEFT_EK = -4101,          /* k outside 1..WEFT_MAX_K */
    WEFT_EPIECE = -4102,      /* piece_size is zero */
    WEFT_EMSGLEN = -4103,     /* message_len > k * piece_size */
    WEFT_EGENERATION = -4104, /* shard belongs to another generation (k, piece, len) */
    WEFT_EZEROVEC = -4105,    /* all-zero coefficient vector */
    WEFT_ENOSPC = -4106,      /* caller's output buffer too small */
    WEFT_EINCOMPLETE = -4107, /* message not decoded yet (rank < k) */
    WEFT_EEMPTY = -4108,      /* nothing held to recode from */
    WEFT_ENOIMPL = -4109,     /* requested implementation not available on this CPU */
    WEFT_ETOOBIG = -4110,     /* size over a configured or representable bound */
    /* transport and above */
    WEFT_EPROTO = -4111,      /* malformed wire data */
    WEFT_EAUTH = -4112,       /* signature, key or peer id check failed */
    WEFT_ECLOSED = -4113,     /* connection or stream closed */
    WEFT_ENOTSUP = -4114,     /* protocol not supported by the peer */
    WEFT_ECHECKSUM = -4115,   /* checksum mismatch */
    WEFT_ELIMIT = -4116,      /* a configured limit was reached */
    WEFT_EAGAIN = -4117,      /* would block: retry when woken */
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
