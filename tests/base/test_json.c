/* SPDX-License-Identifier: Apache-2.0 */
/* weft_json_escape: the body of a JSON string (RFC 8259, section 7): quote
 * and backslash escaped, the two-character forms for \b \f \n \r \t, \u00XX
 * for the other control bytes, everything else (DEL, '/', UTF-8) as it is;
 * the returned length is the output's, and 6n + 1 bytes always suffice. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft/json.h"

static void
expect(const char *in, size_t n, const char *want)
{
    char out[256];
    memset(out, '#', sizeof out);
    size_t len = weft_json_escape(in, n, out);
    cr_assert_str_eq(out, want, "escaping %zu bytes", n);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(out[len + 1], '#', "wrote past the terminator");
}

Test(json, plain_text_is_copied)
{
    expect("", 0, "");
    expect("hello, world", 12, "hello, world");
    expect("a/b", 3, "a/b"); /* '/' may stay as it is */
}

Test(json, quote_and_backslash)
{
    expect("\"", 1, "\\\"");
    expect("\\", 1, "\\\\");
    expect("say \"hi\\\"", 9, "say \\\"hi\\\\\\\"");
}

Test(json, short_escapes)
{
    expect("\b\f\n\r\t", 5, "\\b\\f\\n\\r\\t");
    expect("line1\nline2", 11, "line1\\nline2");
}

Test(json, other_control_bytes_as_u00xx)
{
    expect("\x01", 1, "\\u0001");
    expect("\x0b", 1, "\\u000b");
    expect("\x1f", 1, "\\u001f");
    expect("a\0b", 3, "a\\u0000b"); /* an embedded NUL is data */
}

Test(json, del_and_utf8_pass_through)
{
    expect("\x7f", 1, "\x7f");
    expect("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80", 15,
           "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80");
    expect("\xff\x80", 2, "\xff\x80"); /* not validated: bytes >= 0x80 are copied */
}

Test(json, every_byte_value)
{
    for (int c = 0; c < 256; c++) {
        char in = (char)c, out[8], want[8];
        size_t len = weft_json_escape(&in, 1, out);
        if (c == '"' || c == '\\')
            snprintf(want, sizeof want, "\\%c", c);
        else if (c == '\b')
            strcpy(want, "\\b");
        else if (c == '\f')
            strcpy(want, "\\f");
        else if (c == '\n')
            strcpy(want, "\\n");
        else if (c == '\r')
            strcpy(want, "\\r");
        else if (c == '\t')
            strcpy(want, "\\t");
        else if (c < 0x20)
            snprintf(want, sizeof want, "\\u%04x", (unsigned)c);
        else
            want[0] = (char)c, want[1] = '\0';
        cr_assert_eq(len, strlen(want), "byte 0x%02x: length %zu", c, len);
        cr_assert_eq(memcmp(out, want, len + 1), 0, "byte 0x%02x escaped wrongly", c);
    }
}

Test(json, worst_case_fits_six_per_byte)
{
    enum { N = 40 };
    char in[N], out[6 * N + 8];
    memset(in, 0x01, sizeof in);
    memset(out, '#', sizeof out);
    size_t len = weft_json_escape(in, N, out);
    cr_assert_eq(len, 6 * N);
    cr_assert_eq(out[6 * N], '\0');
    cr_assert_eq(out[6 * N + 1], '#');
}
