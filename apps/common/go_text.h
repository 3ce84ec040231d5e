/* SPDX-License-Identifier: Apache-2.0 */
/*
 * go_text.h: Go's text formats, byte for byte, for the client tools whose
 * output scripts written for the guides' Go clients parse.
 */
#ifndef WEFT_GO_TEXT_H
#define WEFT_GO_TEXT_H

#include <stdint.h>
#include <stdio.h>

/* Go's time.ParseDuration. Returns 0, or -1 for a malformed or
 * out-of-range value. */
int go_parse_duration(const char *s, int64_t *ns);
/* Go's time.Duration.String ("1.234567ms", "1m30s", "0s"); cap >= 40. */
void go_format_duration(int64_t ns, char *out, size_t cap);
/* Go's %q of a byte string (strconv.Quote) written to f: valid UTF-8
 * passes through, control and C1 characters and stray bytes are escaped. */
void go_quote(FILE *f, const uint8_t *p, size_t len);
/* time.Unix(0, ns).UTC().Format(time.RFC3339Nano); cap >= 48. */
void rfc3339nano_utc(int64_t ns, char *out, size_t cap);

#endif
