#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The guides' full topology on free loopback ports: 4 weft-node, 2
# weft-proxy over all four sidecars; tests/node/js/proxy_test.js checks the
# spec's statuses and error strings, a ws client and a gRPC ProxyStream
# client on proxy 1 receiving what REST on proxy 2 publishes, threshold 1.0,
# bad WebSocket frames, and (killing node 4) failover and the counted
# fallback delivery.
# usage: proxy_e2e.sh WEFT_NODE WEFT_PROXY PROTO_DIR [optimum|gossipsub]
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3 MODE=${4:-optimum}
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 16)
start_star 4 "$MODE" 3
nodes=$sidecars
FALLBACK_MS=1500
for k in 1 2; do
    rest=${P[$((10 + 2 * k))]} grpc=${P[$((11 + 2 * k))]}
    env CLUSTER_ID="proxy-$k" PROXY_PORT=":$rest" PROXY_GRPC_PORT=":$grpc" P2P_NODES="$nodes" \
        WEFT_LISTEN_IP=127.0.0.1 WEFT_FALLBACK_MS=$FALLBACK_MS "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy-$k.log" 2>&1 &
    WEFT_TEST_PIDS+=("$!")
done
for k in 1 2; do
    rest=${P[$((10 + 2 * k))]}
    end=$((SECONDS + 15))
    until curl -fsS -m 2 "http://127.0.0.1:$rest/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":4'; do
        [ $SECONDS -lt $end ] || die "proxy $k did not connect to the 4 nodes"
        sleep 0.2
    done
done
node "$here/js/proxy_test.js" --proto "$PROTO" --p1 "127.0.0.1:${P[12]}" --p2 "127.0.0.1:${P[14]}" \
    --g1 "127.0.0.1:${P[13]}" --kill-pid "$(cat "$WEFT_TEST_TMP/n4.pid")" --fallback-ms $FALLBACK_MS ||
    die "proxy checks failed"
echo "proxy_e2e ($MODE): ok"
