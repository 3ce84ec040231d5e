#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two weft-proxy processes behind one address (guide 000): 2 nodes, 2
# proxies over both sidecars sharing subscriptions (signed with
# WEFT_SHARE_KEY), and tests/node/js/proxy_share_test.js with its own
# round-robin TCP balancer in front of the proxies' REST and gRPC ports;
# then a third proxy started after a client subscribed on the first two
# learns the subscription when the client's WebSocket lands on it.
# usage: proxy_share.sh WEFT_NODE WEFT_PROXY PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 12)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "${P[3]}" "${P[4]}" "${P[5]}" "/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
wait_peers "127.0.0.1:${P[5]}" 1 20 || die "node 2 did not mesh"
nodes="127.0.0.1:${P[1]},127.0.0.1:${P[4]}"
key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
for k in 1 2; do
    start_proxy "proxy-$k" "${P[$((4 + 2 * k))]}" "${P[$((5 + 2 * k))]}" "$nodes" \
        WEFT_SHARE_KEY="$key" LOG_LEVEL=debug
done
for k in 1 2; do
    wait_proxy_nodes "127.0.0.1:${P[$((4 + 2 * k))]}" 2 15 || die "proxy $k did not connect to the 2 nodes"
done
sleep 0.5 # the control topic reaches both node streams
node "$here/js/proxy_share_test.js" --proto "$PROTO" --rest "127.0.0.1:${P[6]},127.0.0.1:${P[8]}" \
    --grpc "127.0.0.1:${P[7]},127.0.0.1:${P[9]}" --sidecar "127.0.0.1:${P[1]}" --count 40 ||
    die "shared subscription checks failed"
grep -q 'msg="sharing subscriptions"' "$WEFT_TEST_TMP/proxy-1.log" || die "proxy 1 did not log its sharing"

# a proxy that starts after the subscription
late_client="late-$RANDOM$RANDOM" late_topic="late-topic-$RANDOM"
curl -fsS -m 5 -H 'content-type: application/json' \
    -d "{\"client_id\":\"$late_client\",\"topic\":\"$late_topic\"}" \
    "http://127.0.0.1:${P[6]}/api/v1/subscribe" | grep -q subscribed || die "subscribe on proxy 1 failed"
start_proxy proxy-3 "${P[10]}" "${P[11]}" "$nodes" WEFT_SHARE_KEY="$key" LOG_LEVEL=debug
wait_proxy_nodes "127.0.0.1:${P[10]}" 2 15 || die "proxy 3 did not connect to the 2 nodes"
sleep 0.5
node "$here/js/proxy_share_test.js" --proto "$PROTO" --rest "127.0.0.1:${P[6]},127.0.0.1:${P[8]}" \
    --late "127.0.0.1:${P[10]}" --late-client "$late_client" --late-topic "$late_topic" --count 40 ||
    die "the late proxy checks failed"
echo "proxy_share: ok"
