/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fds.h: run a process short of descriptors. Lowers RLIMIT_NOFILE's
 * soft limit to headroom above the highest descriptor now in use, so that
 * a test can make a server meet EMFILE with a few connections. Header only;
 * no Criterion.
 */
#ifndef WEFT_TESTS_SUPPORT_TEST_FDS_H
#define WEFT_TESTS_SUPPORT_TEST_FDS_H

#include <sys/resource.h>
#include <unistd.h>

/* 0 with *old the limit to restore (setrlimit(RLIMIT_NOFILE, old)), or -1. */
static inline int
test_nofile_lower(int headroom, struct rlimit *old)
{
    if (getrlimit(RLIMIT_NOFILE, old) != 0)
        return -1;
    int probe = dup(0); /* about the highest descriptor in use */
    if (probe < 0)
        return -1;
    close(probe);
    struct rlimit low = *old;
    low.rlim_cur = (rlim_t)probe + (rlim_t)headroom;
    return setrlimit(RLIMIT_NOFILE, &low);
}

#endif
