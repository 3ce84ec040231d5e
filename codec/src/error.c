/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_strerror: one table of texts for the WEFT_E* codes; anything else
 * negative is taken as -errno.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"

static const char *const texts[] = {
    [-(WEFT_EINVAL) - 4097] = "invalid argument",
    [-(WEFT_ETRUNC) - 4097] = "shard length does not match its header (truncated or trailing bytes)",
    [-(WEFT_EVERSION) - 4097] = "unknown shard format version (expected 1)",
    [-(WEFT_EFIELD) - 4097] = "unknown field id (expected 1: GF(2^8), 0x11D)",
    [-(WEFT_EK) - 4097] = "k out of range (expected 1..1024)",
    [-(WEFT_EPIECE) - 4097] = "piece_size must be at least 1",
    [-(WEFT_EMSGLEN) - 4097] = "message_len exceeds k * piece_size",
    [-(WEFT_EGENERATION) - 4097] = "shard belongs to another generation (k, piece_size or message_len differ)",
    [-(WEFT_EZEROVEC) - 4097] = "all-zero coefficient vector",
    [-(WEFT_ENOSPC) - 4097] = "output buffer too small",
    [-(WEFT_EINCOMPLETE) - 4097] = "message not decoded yet (rank below k)",
    [-(WEFT_EEMPTY) - 4097] = "nothing held to recode from",
    [-(WEFT_ENOIMPL) - 4097] = "kernel implementation not available on this CPU or unknown",
    [-(WEFT_ETOOBIG) - 4097] = "size exceeds a bound",
    [-(WEFT_EPROTO) - 4097] = "malformed protocol data",
    [-(WEFT_EAUTH) - 4097] = "authentication failed (signature, key or peer id mismatch)",
    [-(WEFT_ECLOSED) - 4097] = "connection or stream closed",
    [-(WEFT_ENOTSUP) - 4097] = "protocol not supported by the peer",
    [-(WEFT_ECHECKSUM) - 4097] = "checksum mismatch",
    [-(WEFT_ELIMIT) - 4097] = "a configured limit was reached",
    [-(WEFT_EAGAIN) - 4097] = "resource temporarily unavailable (would block)",
};

const char *
weft_strerror(int err)
{
    if (err >= 0)
        return "success";
    if (err <= WEFT_EINVAL) {
        unsigned idx = (unsigned)(-err - 4097);
        if (idx < sizeof(texts) / sizeof(texts[0]) && texts[idx])
            return texts[idx];
        return "unknown weft error";
    }
    /* strerror is not guaranteed thread-safe; strerrordesc_np is (glibc 2.32+). */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *s = strerrordesc_np(-err);
    return s ? s : "unknown system error";
#else
    return strerror(-err);
#endif
}

void
weft_panic_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "weft: panic at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
