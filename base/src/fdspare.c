/* SPDX-License-Identifier: Apache-2.0 */
/* weft/fdspare.h: a descriptor kept back to shed connections on EMFILE. */
#include "weft/fdspare.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int
weft_fd_spare_init(weft_fd_spare *s)
{
    s->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return s->fd >= 0 ? 0 : -errno;
}

int
weft_fd_exhausted(int e)
{
    return e == EMFILE || e == ENFILE;
}

int
weft_fd_spare_shed(weft_fd_spare *s, int listen_fd)
{
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    int shed = 0;
    /* A listener may be a blocking socket (io_uring's are): accept only
     * what is pending, never wait. */
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = poll(&p, 1, 0) == 1 && (p.revents & POLLIN)
                 ? accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC)
                 : -1;
    if (fd >= 0) {
        close(fd);
        shed = 1;
    }
    s->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return shed;
}

void
weft_fd_spare_free(weft_fd_spare *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
