/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/encoding.h: text encodings of binary data: base58btc (peer ids),
 * base32 lowercase without padding (multibase 'b', CIDv1), base64 standard
 * alphabet with padding (p2p.key, JSON payloads), base64url without padding
 * (JWT) and lowercase hex.
 */
#ifndef WEFT_ENCODING_H
#define WEFT_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Each returns the
 * output length, or WEFT_ENOSPC / WEFT_EPROTO (WEFT_EINVAL for NULL
 * pointers). Encoders NUL-terminate, so cap must exceed the text length.
 * Decoders accept only canonical text: they reject characters outside
 * their alphabet, impossible lengths, non-zero unused bits and, for
 * base64, missing or misplaced '=' padding; base32 is lowercase without
 * padding; base64url (RFC 4648 section 5: '-' and '_' for '+' and '/')
 * has no padding, so '=' is refused like any other foreign character.
 * So decode then encode reproduces the text exactly. */
WEFT_API int weft_base58_encode(const uint8_t *p, size_t len, char *out, size_t cap);
WEFT_API int weft_base58_decode(const char *s, size_t slen, uint8_t *out, size_t cap);
WEFT_API int weft_base32_encode(const uint8_t *p, size_t len, char *out, size_t cap);
WEFT_API int weft_base32_decode(const char *s, size_t slen, uint8_t *out, size_t cap);
WEFT_API int weft_base64_encode(const uint8_t *p, size_t len, char *out, size_t cap);
WEFT_API int weft_base64_decode(const char *s, size_t slen, uint8_t *out, size_t cap);
WEFT_API int weft_base64url_encode(const uint8_t *p, size_t len, char *out, size_t cap);
WEFT_API int weft_base64url_decode(const char *s, size_t slen, uint8_t *out, size_t cap);

/* The value 0..15 of one hex digit (either case), or -1. */
WEFT_API int weft_hex_digit(int c);
/* Lowercase hex of p[0..len) into out (at least 2 * len + 1 bytes),
 * NUL-terminated. */
WEFT_API void weft_hex_encode(const uint8_t *p, size_t len, char *out);

#ifdef __cplusplus
}
#endif
#endif
