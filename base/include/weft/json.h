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

/* Look through a JSON text (json[0..len), not necessarily valid) for a
 * string holding a NUL, escaped as \u0000 or as a raw NUL byte (which
 * cJSON accepts): C-string parsers such as cJSON cut the string there, so
 * "a\u0000b" would silently become "a". Returns 1
 * when there is one, with the member it belongs to (the key itself when
 * the NUL is in a key; "" outside any object) in key (cap bytes, cut to
 * fit), else 0. Linear, no allocation. */
WEFT_API int weft_json_find_nul(const char *json, size_t len, char *key, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
