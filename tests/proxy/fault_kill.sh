#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 under load (tests/node/js/fault_test.js): 3 weft-node, 2 weft-proxy
# over all three sidecars, 200 publishes a second through proxy 2. A node is
# killed and restarted: every publish answered 200 reaches the subscriber on
# proxy 1 and the node rejoins. Then proxy 1 is killed: its subscriber moves
# to proxy 2 and misses nothing published after it moved.
# usage: fault_kill.sh WEFT_NODE WEFT_PROXY [optimum|gossipsub] [SECONDS]
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 MODE=${3:-optimum} SECS=${4:-8}
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"
# the restarted node is not in WEFT_TEST_PIDS: stop it too
trap 'kill -TERM "$(cat "$WEFT_TEST_TMP/n3.pid" 2>/dev/null)" 2>/dev/null || true; cleanup' EXIT

read -r -a P < <(free_ports 13)
start_star 3 "$MODE" 2
# how fault_test.js starts node 3 again: same identity, ports and bootstrap
cat >"$WEFT_TEST_TMP/restart_n3.sh" <<SH
env NODE_MODE=$MODE CLUSTER_ID=n3 WEFT_LISTEN_IP=127.0.0.1 IDENTITY_DIR=$WEFT_TEST_TMP/n3 \
    OPTIMUM_PORT=${P[6]} GOSSIPSUB_PORT=${P[6]} SIDECAR_PORT=${P[7]} API_PORT=${P[8]} \
    BOOTSTRAP_PEERS=$boot $WEFT_NODE >>$WEFT_TEST_TMP/n3.log 2>&1 &
echo \$! >$WEFT_TEST_TMP/n3.pid
SH
nodes=$sidecars
for k in 1 2; do
    env CLUSTER_ID="proxy-$k" PROXY_PORT=":${P[$((7 + 2 * k))]}" PROXY_GRPC_PORT=":${P[$((8 + 2 * k))]}" \
        P2P_NODES="$nodes" WEFT_LISTEN_IP=127.0.0.1 "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy-$k.log" 2>&1 &
    WEFT_TEST_PIDS+=("$!")
    echo "$!" >"$WEFT_TEST_TMP/proxy-$k.pid"
done
for k in 1 2; do
    end=$((SECONDS + 15))
    until curl -fsS -m 2 "http://127.0.0.1:${P[$((7 + 2 * k))]}/api/v1/health" 2>/dev/null |
        grep -q '"nodes_connected":3'; do
        [ $SECONDS -lt $end ] || die "proxy $k did not connect to the 3 nodes"
        sleep 0.2
    done
done
node "$here/js/fault_test.js" --p1 "127.0.0.1:${P[9]}" --p2 "127.0.0.1:${P[11]}" \
    --node-pid "$(cat "$WEFT_TEST_TMP/n3.pid")" --restart "$WEFT_TEST_TMP/restart_n3.sh" \
    --node-api "127.0.0.1:${P[8]}" --proxy1-pid "$(cat "$WEFT_TEST_TMP/proxy-1.pid")" --nodes 3 \
    --seconds "$SECS" --rate 200 || die "fault checks failed"
echo "fault_kill ($MODE): ok"
