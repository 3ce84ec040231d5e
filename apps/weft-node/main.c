/* SPDX-License-Identifier: Apache-2.0 */
/* weft-node: the program is weft_node_main (node/src/daemon.c). */
#include "weft/node_daemon.h"

int
main(int argc, char **argv)
{
    return weft_node_main(argc, argv);
}
