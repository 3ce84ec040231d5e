#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real weft-node and a weft-proxy attached to it on loopback; once the
# proxy counts the node as connected, dashboards.py checks every query of
# deploy/grafana/{node,proxy}.json against their live /metrics.
# usage: dashboards.sh WEFT_NODE WEFT_PROXY ROOT
set -uo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 ROOT=$3
. "$ROOT/tests/node/lib.sh"
read -r p2p sc api pp pg <<<"$(free_ports 5)"
start_node n1 optimum "$p2p" "$sc" "$api" ""
wait_api "127.0.0.1:$api" 20 || die "weft-node did not come up"
env CLUSTER_ID=dash WEFT_LISTEN_IP=127.0.0.1 PROXY_PORT="$pp" PROXY_GRPC_PORT="$pg" \
    P2P_NODES="127.0.0.1:$sc" "$WEFT_PROXY" >"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=($!)
ok=0
for _ in $(seq 1 100); do
    if curl -fsS -m 2 "http://127.0.0.1:$pp/metrics" 2>/dev/null | grep -Eq '^total_p2pnodes_connections(\{[^}]*\})? [1-9]'; then ok=1; break; fi
    sleep 0.2
done
[ $ok = 1 ] || die "weft-proxy did not connect to the node"
python3 "$ROOT/tests/deploy/dashboards.py" "$ROOT" "http://127.0.0.1:$api/metrics" \
    "http://127.0.0.1:$pp/metrics" --self-test || { dump_logs; exit 1; }
