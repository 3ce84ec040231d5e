/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/proxy_daemon.h: the whole of weft-proxy behind one call, so that its
 * program is a thin main and its logic is a library that tests link.
 */
#ifndef WEFT_PROXY_DAEMON_H
#define WEFT_PROXY_DAEMON_H

/* Run weft-proxy with these arguments (configuration from the environment);
 * returns the process exit status. */
int weft_proxy_main(int argc, char **argv);

#endif
