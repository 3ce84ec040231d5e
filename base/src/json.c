/* SPDX-License-Identifier: Apache-2.0 */
/* JSON string escaping (weft/json.h). */
#include <string.h>

#include "weft/json.h"

size_t
weft_json_escape(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *sh = c == '\n'   ? "n"
                         : c == '\r' ? "r"
                         : c == '\t' ? "t"
                         : c == '\b' ? "b"
                         : c == '\f' ? "f"
                                     : NULL;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (sh) {
            out[o++] = '\\';
            out[o++] = *sh;
        } else if (c < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    return o;
}
