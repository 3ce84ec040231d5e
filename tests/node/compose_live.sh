#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Grafana dashboard against real processes: a weft-node and a weft-proxy
# on loopback, one publish through the proxy, then compose_check.py with
# their /metrics (--live-node/--live-proxy): every metric a dashboard query
# names must be exported, and its self-test shows a misspelt one is caught.
# usage: compose_live.sh WEFT_NODE WEFT_PROXY ROOT
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 ROOT=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

read -r -a P < <(free_ports 5)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node did not start"
env CLUSTER_ID=proxy-1 PROXY_PORT=":${P[3]}" PROXY_GRPC_PORT=":${P[4]}" P2P_NODES="127.0.0.1:${P[1]}" \
    WEFT_LISTEN_IP=127.0.0.1 "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 15))
until curl -fsS -m 2 "http://127.0.0.1:${P[3]}/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":1'; do
    [ $SECONDS -lt $end ] || die "proxy did not connect to the node"
    sleep 0.2
done
# a subscription first: a publish to a topic nobody holds is "topic not assigned"
curl -fsS -m 5 -H 'content-type: application/json' -d '{"client_id":"dash-sub","topic":"dash"}' \
    "http://127.0.0.1:${P[3]}/api/v1/subscribe" >/dev/null || die "subscribe failed"
curl -fsS -m 5 -H 'content-type: application/json' -d '{"client_id":"dash","topic":"dash","message":"hi"}' \
    "http://127.0.0.1:${P[3]}/api/v1/publish" >/dev/null || die "publish failed"
python3 "$here/compose_check.py" --root "$ROOT" --live-node "http://127.0.0.1:${P[2]}/metrics" \
    --live-proxy "http://127.0.0.1:${P[3]}/metrics" || die "the dashboard names metrics nobody exports"
python3 "$here/compose_check.py" --root "$ROOT" --self-test --live-node "http://127.0.0.1:${P[2]}/metrics" \
    --live-proxy "http://127.0.0.1:${P[3]}/metrics" | tail -n 1 || die "live self-test failed"
echo "compose_live: ok"
