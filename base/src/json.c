/* SPDX-License-Identifier: Apache-2.0 */
/* JSON string escaping (weft/json.h). */
#include <stdio.h>
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

static int
is_hex0(const char *p)
{
    return p[0] == '0' && p[1] == '0' && p[2] == '0' && p[3] == '0';
}

int
weft_json_find_nul(const char *json, size_t len, char *key, size_t cap)
{
    /* The last string seen (its raw text, cut to cap) and the key of the
     * member now open: a string followed by ':' is a key. */
    char last[128] = "", cur[128] = "";
    size_t i = 0;
    while (i < len) {
        if (json[i] != '"') {
            if (json[i] == ':')
                memcpy(cur, last, sizeof cur);
            i++;
            continue;
        }
        size_t o = 0;
        int nul = 0;
        for (i++; i < len && json[i] != '"'; i++) {
            char c = json[i];
            if (c == 0) /* a raw NUL byte: cJSON takes it and cuts the string there */
                nul = 1;
            if (c == '\\' && i + 1 < len) {
                if (json[i + 1] == 'u' && i + 5 < len && is_hex0(json + i + 2))
                    nul = 1;
                c = json[++i];
            }
            if (o + 1 < sizeof last)
                last[o++] = c;
        }
        last[o] = 0;
        i++; /* the closing quote */
        if (nul) {
            size_t j = i;
            while (j < len &&
                   (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r'))
                j++;
            const char *which = j < len && json[j] == ':' ? last : cur;
            if (key && cap)
                snprintf(key, cap, "%s", which);
            return 1;
        }
    }
    return 0;
}
