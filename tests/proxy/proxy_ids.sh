#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Message ids end to end (docs/spec/message-ids.md) on a devnet of real
# processes on free loopback ports: 4 weft-node in MODE, 1 weft-proxy over
# the four sidecars; tests/node/js/ids_test.js publishes repeats,
# cross-topic and distinct messages through REST and gRPC and checks that
# each reaches every subscriber once, under the id its publisher got, and
# that every node's p2p-snapshot lists it.
# usage: proxy_ids.sh WEFT_NODE WEFT_PROXY PROTO_DIR optimum|gossipsub
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3 MODE=${4:-optimum}
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 14)
start_star 4 "$MODE" 1
rest=${P[12]} grpc=${P[13]}
env CLUSTER_ID="proxy-ids" PROXY_PORT=":$rest" PROXY_GRPC_PORT=":$grpc" P2P_NODES="$sidecars" \
    WEFT_LISTEN_IP=127.0.0.1 WEFT_FALLBACK_MS=10000 "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 15))
until curl -fsS -m 2 "http://127.0.0.1:$rest/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":4'; do
    [ $SECONDS -lt $end ] || die "the proxy did not connect to the 4 nodes"
    sleep 0.2
done
timeout 170 node "$here/js/ids_test.js" --proto "$PROTO" --rest "127.0.0.1:$rest" --grpc "127.0.0.1:$grpc" \
    --sidecars "$sidecars" --apis "$apis" --n 20 || die "message id checks failed ($MODE)"
echo "proxy_ids ($MODE): ok"
