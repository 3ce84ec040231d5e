/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_jwt.h: bearer-token authentication for weft-proxy: RS256 JWTs
 * checked against a JSON Web Key Set (weft/svc_jwks.h, included here;
 * cjose underneath).
 *
 * Tokens: the JWS compact form, at most WEFT_JWT_MAX_TOKEN bytes. The
 * header's alg must be exactly "RS256" (never "none", HS256, ...); its kid
 * picks the keys to try (a kid absent from the set fails), no kid tries
 * every key. Then the claims: exp required, nbf and iat checked when
 * present (each with WEFT_JWT_LEEWAY_S seconds of clock skew allowed), aud
 * (a string or an array of strings) must contain the expected audience,
 * iss must equal the expected issuer, sub (the client id) is required.
 *
 * Errors: functions fill err (when err is non-NULL and cap > 0) with one
 * short line naming what failed, e.g. "token expired at 1700000000 (now
 * 1700003600)", "audience mismatch: want api.example", "bad signature",
 * "unsupported alg HS256", "malformed token: 2 parts, want 3", "unknown
 * key id \"k9\"". Text copied from a token is quoted, shortened and
 * escaped, so the line is safe to log or return in a 401 body.
 */
#ifndef WEFT_SVC_JWT_H
#define WEFT_SVC_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"
#include "weft/svc_jwks.h"
#include "weft/svc_ratelimit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_JWT_MAX_TOKEN 16384 /* bytes of a compact token */
#define WEFT_JWT_SUB_MAX 255     /* bytes of a client id (sub) */
#define WEFT_JWT_LEEWAY_S 60     /* clock skew allowed on exp, nbf, iat */
#define WEFT_JWT_ERR 256         /* a comfortable err capacity */

/* What a verified token says. */
typedef struct weft_jwt_claims {
    char sub[WEFT_JWT_SUB_MAX + 1]; /* client id, NUL-terminated, no control chars */
    int64_t exp;                    /* Unix seconds */
    int64_t iat;                    /* Unix seconds, 0 if absent */
    /* max_publish_per_hour, max_publish_per_sec, max_message_size,
     * daily_quota (bytes): 0 = absent = unlimited. Each claim is looked up
     * by its plain name, else as a namespaced claim whose name ends in
     * "/<name>" (Auth0 custom claims, e.g. "https://example.com/
     * max_message_size"). Values must be JSON numbers holding integers in
     * 0..2^53. */
    weft_limits limits;
} weft_jwt_claims;

/*
 * Verify token (len bytes, need not be NUL-terminated) at now_unix
 * (seconds). audience: required in aud when non-NULL and non-empty.
 * issuer: iss must equal it when non-NULL and non-empty (see
 * weft_jwt_auth0_issuer). On success returns 0 and fills *out.
 * Failures: WEFT_ETOOBIG (token over WEFT_JWT_MAX_TOKEN), WEFT_EPROTO
 * (malformed: not three base64url parts, header or payload not a JSON
 * object, a claim of the wrong type or range, a negative limit),
 * WEFT_EAUTH (unsupported alg, unknown kid, bad signature, expired, not
 * yet valid, issued in the future, audience or issuer mismatch, missing or
 * bad sub), WEFT_EINVAL (NULL k, token or out), -ENOMEM. *out is
 * unspecified on failure. Thread-safe.
 */
WEFT_NODISCARD WEFT_API int weft_jwt_verify(const weft_jwks *k, const char *token, size_t len,
                                            const char *audience, const char *issuer,
                                            int64_t now_unix, weft_jwt_claims *out, char *err,
                                            size_t cap);

/* The issuer Auth0 puts in its tokens for domain: "https://<domain>/".
 * domain may already carry "https://" and a trailing slash. 0, or
 * WEFT_ENOSPC (buf set to "") / WEFT_EINVAL (empty domain). */
WEFT_NODISCARD WEFT_API int weft_jwt_auth0_issuer(const char *domain, char *buf, size_t cap);

/* Find the token in an Authorization header value of len bytes:
 * "Bearer <token>", the scheme case-insensitive, surrounding blanks
 * ignored. *tok points into authz_header. 0, or WEFT_EAUTH (no header,
 * another scheme, no token, a blank inside the token). */
WEFT_NODISCARD WEFT_API int weft_jwt_bearer(const char *authz_header, size_t len, const char **tok,
                                            size_t *toklen);

#ifdef __cplusplus
}
#endif
#endif
