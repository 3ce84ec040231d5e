/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/utf8.h: strict UTF-8 validation.
 */
#ifndef WEFT_UTF8_H
#define WEFT_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF), as RFC 3629 defines it and RFC 6455 requires of
 * text frames and close reasons; else 0. */
WEFT_API int weft_utf8_valid(const uint8_t *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
