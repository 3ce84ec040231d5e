/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the HTTP client: the helpers httpc.c (requests) and url.c
 * (addresses) share.
 */
#ifndef WEFT_HTTPC_PRIV_H
#define WEFT_HTTPC_PRIV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/svc_httpc.h"

#define HTTPC_HIDDEN __attribute__((visibility("hidden")))

/* Write one line into err (when err is non-NULL and cap > 0) and return
 * rc, so that a failure is reported and returned in one statement. */
HTTPC_HIDDEN int httpc_say(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Up to max bytes of p as one printable line in out: controls, non-ASCII,
 * quotes and backslashes escaped as \xHH, "..." when cut. */
HTTPC_HIDDEN void httpc_printable(const uint8_t *p, size_t len, size_t max, char *out, size_t cap);

/* Decimal port text of n bytes as a number 1..65535, or -1. */
HTTPC_HIDDEN long httpc_port_number(const char *s, size_t n);

/* Whether h[0, n) can be a host: not empty, no blanks, controls or '/'. */
HTTPC_HIDDEN int httpc_host_ok(const char *h, size_t n);

/* Read the answer to a request already sent on fd: the head (max_head, 0
 * for the default), then the body its framing gives (none for 204, 304
 * and HEAD; chunked only with WEFT_HTTPC_CHUNKED in flags; at most
 * max_body bytes), all before deadline. 0 with *r filled (a 101 is
 * WEFT_EPROTO), or a negative code with *r empty, as weft_httpc_request,
 * whose second half this is (fuzz/fuzz_svc_httpc.c feeds it a socket pair). */
HTTPC_HIDDEN int httpc_read_answer(int fd, const char *method, unsigned flags, size_t max_head,
                                   size_t max_body, int64_t deadline,
                                   const volatile sig_atomic_t *stop, weft_httpc_resp *r, char *err,
                                   size_t cap);

#endif
