/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop_testutil.h: the loops of the transport's loop tests, one per backend
 * (io_uring skipped where the kernel refuses it), with a 1 MiB send queue.
 * Criterion; header only.
 */
#ifndef WEFT_TESTS_LOOP_TESTUTIL_H
#define WEFT_TESTS_LOOP_TESTUTIL_H

#include <criterion/criterion.h>

#include "loopback.h"
#include "weft/loop.h"

static int kinds[] = {WEFT_LOOP_URING, WEFT_LOOP_EPOLL};

static inline weft_loop *
new_loop(int kind)
{
    int err;
    weft_loop *l = lb_loop_new(kind, 1 << 20, &err);
    if (!l && kind == WEFT_LOOP_URING)
        cr_skip_test("io_uring unavailable here: %s", weft_strerror(err));
    cr_assert(l, "loop: %s", weft_strerror(err));
    return l;
}

#endif
