/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the HTTP client: the helpers httpc.c (requests) and url.c
 * (addresses) share.
 */
#ifndef WEFT_HTTPC_PRIV_H
#define WEFT_HTTPC_PRIV_H

#include <stddef.h>
#include <stdint.h>

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

#endif
