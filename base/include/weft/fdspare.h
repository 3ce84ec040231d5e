/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/fdspare.h: one descriptor held back for the moment a process runs
 * out of them. A listener whose accept fails with EMFILE stays readable:
 * a level-triggered loop wakes for it at once, forever, and the client
 * waits in the backlog. With a spare, the listener gives the spare up,
 * accepts the pending connection, closes it (the client hears a close)
 * and takes the spare back. Every listener (P2P, HTTP, gRPC) sheds so.
 */
#ifndef WEFT_FDSPARE_H
#define WEFT_FDSPARE_H

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_fd_spare {
    int fd; /* -1 while none is held */
} weft_fd_spare;

/* Take the spare (a descriptor on /dev/null). 0, or -errno when none could
 * be opened (the shed then still accepts once descriptors free up). */
WEFT_API int weft_fd_spare_init(weft_fd_spare *s);

/* After accept failed with EMFILE or ENFILE on listen_fd: use the spare to
 * take one pending connection and close it. 1 when one was shed, 0 when
 * none was pending or even that failed. The spare is taken back either way
 * (when the process has a descriptor left for it). */
WEFT_API int weft_fd_spare_shed(weft_fd_spare *s, int listen_fd);

/* Whether errno value e means "out of descriptors" (EMFILE, ENFILE). */
WEFT_API int weft_fd_exhausted(int e);

WEFT_API void weft_fd_spare_free(weft_fd_spare *s);

#ifdef __cplusplus
}
#endif
#endif
