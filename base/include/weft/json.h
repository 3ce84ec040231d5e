/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/json.h: writing JSON strings by hand where a document builder would
 * cost an allocation per field (hot paths, streamed output).
 */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* s[0..n) as the body of a JSON string into out (at least 6n + 1 bytes:
 * quotes and backslashes escaped, control bytes as \n, \t... or \u00XX;
 * bytes >= 0x80 pass through, so UTF-8 text stays UTF-8), NUL-terminated;
 * returns its length. */
WEFT_API size_t weft_json_escape(const char *s, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
