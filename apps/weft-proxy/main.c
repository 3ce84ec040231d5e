/* SPDX-License-Identifier: Apache-2.0 */
/* weft-proxy: the program is weft_proxy_main (proxy/src/daemon.c). */
#include "weft/proxy_daemon.h"

int
main(int argc, char **argv)
{
    return weft_proxy_main(argc, argv);
}
