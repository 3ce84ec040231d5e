/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_jwks.h: JSON Web Key Sets for weft-proxy's bearer tokens
 * (weft/svc_jwt.h verifies against them; cjose underneath).
 *
 * OptimumP2P proxies take the JWKS from https://AUTH0_DOMAIN/.well-known/
 * jwks.json. A key set comes from a file, a plain http://host:port/path URL
 * (weft/svc_httpc.h) or an https:// URL (libcurl, certificate verified).
 *
 * Key set: only RSA signing keys are kept: kty "RSA" with n and e, "use"
 * "sig" or absent, "alg" "RS256" or absent, a modulus of 2048 to 16384
 * bits; "kid" is optional. Other keys are skipped, and why is recorded
 * (weft_jwks_notes). Private members (d, p, q, ...) are ignored. A set
 * without a usable key is an error. A loaded set is immutable: any number
 * of threads may verify against it at once; free it after they are done.
 *
 * Errors: the loaders fill err (when err is non-NULL and cap > 0) with one
 * line naming what failed; text from the document is quoted and escaped.
 */
#ifndef WEFT_SVC_JWKS_H
#define WEFT_SVC_JWKS_H

#include <stddef.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_JWKS_MAX_BYTES (1 << 20) /* JWKS document, file or HTTP body */

typedef struct weft_jwks weft_jwks;

/* Parse a JWKS document ({"keys": [...]}, or a single JWK object) of len
 * bytes. The set, or NULL with err filled (no usable key, bad JSON,
 * ENOMEM). The caller owns the set. */
WEFT_API weft_jwks *weft_jwks_parse(const char *json, size_t len, char *err, size_t cap);
/* Read and parse a JWKS file (at most WEFT_JWKS_MAX_BYTES). */
WEFT_API weft_jwks *weft_jwks_load_file(const char *path, char *err, size_t cap);
/* GET an http://host[:port]/path URL (port 80 by default; IPv4, IPv6 in
 * brackets, or a name) with weft/svc_httpc.h and parse the body. Blocks
 * the caller for at most about 5 s after name resolution (connect, send
 * and receive share one deadline); name resolution itself is
 * getaddrinfo's. Only a 200 answer is accepted, redirects are not
 * followed, the body is capped at WEFT_JWKS_MAX_BYTES, chunked transfer
 * coding is decoded. https:// is refused here (weft_jwks_load takes it). */
WEFT_API weft_jwks *weft_jwks_load_url(const char *url, char *err, size_t cap);
/* By the form of src: a file path (weft_jwks_load_file), http://
 * (weft_jwks_load_url), or https://, fetched with libcurl: the server's
 * certificate chain and host name are verified against the system CA store
 * or against ca_file (a PEM bundle; NULL or "" for the system store);
 * connect timeout 3 s, 10 s for the whole exchange, no redirects, only a
 * 200 answer, the body capped at WEFT_JWKS_MAX_BYTES as it arrives. Blocks
 * the calling thread (for https never longer than the total timeout); safe
 * from any thread. */
WEFT_API weft_jwks *weft_jwks_load(const char *src, const char *ca_file, char *err, size_t cap);
/* NULL does nothing. */
WEFT_API void weft_jwks_free(weft_jwks *k);

/* Keys kept. */
WEFT_API size_t weft_jwks_count(const weft_jwks *k);
/* Keys skipped and why, one line each ("key 2 (kid \"x\"): kty EC, want
 * RSA"), or "" when none was. Owned by the set. */
WEFT_API const char *weft_jwks_notes(const weft_jwks *k);

#ifdef __cplusplus
}
#endif
#endif
