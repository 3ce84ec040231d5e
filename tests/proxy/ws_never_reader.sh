#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A WebSocket subscriber that never reads while 50,000 messages are
# published through a real weft-proxy over one weft-node
# (tests/proxy/ws_never_reader.py has the checks): it is closed with 1008
# and counted, another subscriber gets every message, the proxy's RSS stays
# bounded. WS_ARGS overrides the sizes (e.g. --publishes 10000).
# usage: ws_never_reader.sh WEFT_NODE WEFT_PROXY
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
# Under ASan freed memory sits in its quarantine (256 MB by default), which
# reads as growth here: a small quarantine, and more slack for the shadow.
bound=()
if [ "${WEFT_TEST_SANITIZED:-0}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
    bound=(--rss-bound-mib 128)
fi
read -r -a P < <(free_ports 5)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node did not start"
# a 4 MiB backlog per subscriber (the default is 16 MiB): the cut comes early
start_proxy proxy-w "${P[3]}" "${P[4]}" "127.0.0.1:${P[1]}" WEFT_CLIENT_QUEUE_BYTES=4194304
pid=$(cat "$WEFT_TEST_TMP/proxy-w.pid")
wait_proxy_nodes "127.0.0.1:${P[3]}" 1 15 || die "the proxy did not connect to the node"
# shellcheck disable=SC2086
timeout 200 python3 "$(dirname "$0")/ws_never_reader.py" "127.0.0.1:${P[3]}" "$pid" \
    ${WS_ARGS:-} "${bound[@]}" || die "checks failed"
kill -0 "$pid" || die "the proxy died"
echo "ws_never_reader: ok"
