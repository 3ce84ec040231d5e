/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to svc_auth: the key set as jwks.c builds it and jwt.c reads it,
 * and the small helpers both use for their error lines.
 */
#ifndef WEFT_SVC_AUTH_PRIV_H
#define WEFT_SVC_AUTH_PRIV_H

#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <stddef.h>

#include "weft/svc_jwks.h"

#define AUTH_HIDDEN __attribute__((visibility("hidden")))

#define MAX_KEYS 64  /* keys kept from one set */
#define AUTH_ERR 256 /* room for an inner error line */

struct key {
    cjose_jwk_t *jwk;
    char *kid; /* NULL when the JWK has none */
};

struct weft_jwks {
    struct key *keys;
    size_t n;
    char *notes;
    size_t notes_len;
};

/* Write one line into err (when err is non-NULL and cap > 0) and return
 * rc. */
AUTH_HIDDEN int auth_fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Untrusted text as it may appear in an error line: at most 48 bytes,
 * quotes, backslashes, control and non-ASCII bytes escaped. */
AUTH_HIDDEN void auth_quote(const char *s, size_t n, char *out, size_t cap);

/* Strict base64url without padding (RFC 7515 section 2, the base layer's
 * decoder) into a fresh NUL-terminated buffer; NULL on bad input or ENOMEM
 * (*nomem tells which). */
AUTH_HIDDEN unsigned char *auth_b64url_dup(const char *in, size_t len, size_t *n, int *nomem);

/* How many members of obj are called name (cJSON keeps repeats). */
AUTH_HIDDEN int auth_members(const cJSON *obj, const char *name);

#endif
