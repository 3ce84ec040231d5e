/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft_pb_find_nul (weft/pb.h): which string field of a protobuf message
 * hold a NUL byte, the check the node sidecar and the proxy's gRPC front
 * make before trusting protobuf-c's NUL-terminated strings.
 */
#include <criterion/criterion.h>

#include "weft/common.h"
#include "weft/pb.h"

/* field 1 varint 1, field 3 "a\0b", field 2 "ok" */
static const uint8_t msg[] = {0x08, 0x01, 0x1a, 0x03, 'a', 0x00, 'b', 0x12, 0x02, 'o', 'k'};

Test(pb_nul, finds_the_field_it_is_asked_about)
{
    static const uint32_t f3[] = {3}, f2[] = {2}, f23[] = {2, 3}, f1[] = {1};
    cr_assert_eq(weft_pb_find_nul(msg, sizeof msg, f3, 1), 3);
    cr_assert_eq(weft_pb_find_nul(msg, sizeof msg, f2, 1), 0);
    cr_assert_eq(weft_pb_find_nul(msg, sizeof msg, f23, 2), 3);
    cr_assert_eq(weft_pb_find_nul(msg, sizeof msg, f1, 1), 0); /* a varint holds no string */
    cr_assert_eq(weft_pb_find_nul(msg, 0, f23, 2), 0);
}

Test(pb_nul, any_occurrence_counts)
{
    /* field 3 twice: the first has the NUL, the second (the one protobuf keeps) not */
    static const uint8_t twice[] = {0x1a, 0x01, 0x00, 0x1a, 0x01, 'x'};
    static const uint32_t f3[] = {3};
    cr_assert_eq(weft_pb_find_nul(twice, sizeof twice, f3, 1), 3);
}

Test(pb_nul, malformed_is_an_error)
{
    static const uint8_t cut[] = {0x1a, 0x05, 'a', 'b'}; /* length past the end */
    static const uint32_t f3[] = {3};
    cr_assert_eq(weft_pb_find_nul(cut, sizeof cut, f3, 1), WEFT_EPROTO);
    static const uint8_t big_tag[] = {0x81, 0x87, 0x87, 0x87, 0x78, 0x00}; /* field > 2^29 */
    cr_assert_lt(weft_pb_find_nul(big_tag, sizeof big_tag, f3, 1), 0);
}
