#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP floods against a real weft-proxy over one weft-node, in CI's short
# form (tests/proxy/flood_http.py has the attacks and the bounds): 2,000 idle
# connections, 200 slowloris clients cut by h2o's 10 s header timeout, 1 MB
# headers, 100 MB bodies with and without Content-Length, chunked abuse,
# 100k '[', 20k topics for one client; a live client is answered throughout.
# FLOOD_ARGS overrides the sizes (the issue's full form: --idle 5000 --slow 500
# --topics 100000 --seconds 5).
# usage: flood_http.sh WEFT_NODE WEFT_PROXY
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
read -r -a P < <(free_ports 5)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node did not start"
env CLUSTER_ID=proxy-f PROXY_PORT=":${P[3]}" PROXY_GRPC_PORT=":${P[4]}" P2P_NODES="127.0.0.1:${P[1]}" \
    WEFT_LISTEN_IP=127.0.0.1 "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
pid=$!
WEFT_TEST_PIDS+=("$pid")
wait_api "127.0.0.1:${P[3]}" 10 || die "proxy did not start"
# shellcheck disable=SC2086
timeout 240 python3 "$(dirname "$0")/flood_http.py" "127.0.0.1:${P[3]}" "$pid" \
    ${FLOOD_ARGS:---idle 2000 --slow 200 --topics 20000 --seconds 3 --slow-seconds 12} \
    ${WEFT_TEST_SANITIZED:+--rss-bound-mib 1500} ||
    die "flood checks failed"
kill -0 "$pid" || die "the proxy died"
echo "flood_http: ok"
