/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/resolve.h: host name resolution with a deadline. getaddrinfo has
 * none (a dead resolver holds the caller for as long as resolv.conf's
 * timeouts and attempts add up to), so the lookup runs on a short-lived
 * thread of its own and the caller waits at most timeout_ms for it; a
 * lookup that outlives its caller finishes in the background and frees
 * itself.
 */
#ifndef WEFT_RESOLVE_H
#define WEFT_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_RESOLVE_MAX 8 /* addresses weft_resolve_list keeps of one answer */

typedef struct weft_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} weft_addr;

/* The addresses of host, in getaddrinfo's order, up to max (and
 * WEFT_RESOLVE_MAX): their count (>= 1), or the errors of weft_resolve. */
WEFT_NODISCARD WEFT_API int weft_resolve_list(const char *host, unsigned port, int family,
                                              int timeout_ms, weft_addr *out, size_t max, char *err,
                                              size_t cap);

/* The first address of host (a name or a numeric address) with port,
 * family AF_INET, AF_INET6 or AF_UNSPEC, for a TCP connection. Blocks the
 * caller for at most timeout_ms (> 0). Returns 0 with *sa / *salen set, or
 * WEFT_ERESOLVE with why (no such name, no address of that family, timed
 * out) in err (cap bytes; may be NULL), -ENOMEM or WEFT_EINVAL. */
WEFT_NODISCARD WEFT_API int weft_resolve(const char *host, unsigned port, int family,
                                         int timeout_ms, struct sockaddr_storage *sa,
                                         socklen_t *salen, char *err, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
