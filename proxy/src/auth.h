/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-proxy authentication and per-client limits (ENABLE_AUTH=true):
 * RS256 JWTs checked against the configured JWKS (subject = client id,
 * audience, expiry, not-before, issuer) and the limits their claims carry.
 */
#ifndef WEFT_PROXY_AUTH_H
#define WEFT_PROXY_AUTH_H

#include <stddef.h>

#include "proxy.h"

/* Load the JWKS and create the limiter. 0, or negative with a message
 * printed. */
int px_auth_start(proxy *p);
void px_auth_stop(proxy *p);
/* Check an Authorization header value. 0 with the subject in sub, or the
 * HTTP status (401, 413, 429) with resp filled (JSON error, Retry-After in
 * the message). msg_bytes and publishing charge the limits. */
int px_auth_check(proxy *p, const char *authz, size_t authz_len, char *sub, size_t cap,
                  size_t msg_bytes, int publishing, weft_http_resp *resp);

#endif
