/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_strerror: one table of texts for the WEFT_E* codes of every layer;
 * anything else negative is taken as -errno. And weft_panic.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/common.h"

struct err_text {
    int code;
    const char *text;
};

/* Grouped by layer as in weft/common.h. */
static const struct err_text texts[] = {
    {WEFT_EINVAL, "invalid argument"},
    {WEFT_ENOSPC, "output buffer too small"},
    {WEFT_ETOOBIG, "size exceeds a bound"},
    {WEFT_EPROTO, "malformed protocol data"},
    {WEFT_ECHECKSUM, "checksum mismatch"},
    {WEFT_ELIMIT, "a configured limit was reached"},
    {WEFT_EAGAIN, "resource temporarily unavailable (would block)"},
    {WEFT_ERESOLVE, "host name resolution failed"},

    {WEFT_ETRUNC, "shard length does not match its header (truncated or trailing bytes)"},
    {WEFT_EVERSION, "unknown shard format version (expected 1)"},
    {WEFT_EFIELD, "unknown field id (expected 1: GF(2^8), 0x11D)"},
    {WEFT_EK, "k out of range (expected 1..1024)"},
    {WEFT_EPIECE, "piece_size must be at least 1"},
    {WEFT_EMSGLEN, "message_len exceeds k * piece_size"},
    {WEFT_EGENERATION, "shard belongs to another generation (k, piece_size or message_len differ)"},
    {WEFT_EZEROVEC, "all-zero coefficient vector"},
    {WEFT_EINCOMPLETE, "message not decoded yet (rank below k)"},
    {WEFT_EEMPTY, "nothing held to recode from"},
    {WEFT_ENOIMPL, "kernel implementation not available on this CPU or unknown"},

    {WEFT_EAUTH, "authentication failed (signature, key or peer id mismatch)"},
    {WEFT_ECLOSED, "connection or stream closed"},
    {WEFT_ENOTSUP, "protocol not supported by the peer"},
};

const char *
weft_strerror(int err)
{
    if (err >= 0)
        return "success";
    if (err <= WEFT_EINVAL) {
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
            if (texts[i].code == err)
                return texts[i].text;
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
