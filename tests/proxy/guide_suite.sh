#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dev-setup guide's test_suite.sh, its checks restated in our own words,
# replayed against a devnet on free loopback ports (2 weft-node, 1 weft-proxy)
# with the suite's own request shapes and the substrings it matches: a valid
# subscribe, an empty topic, a valid publish, a topic nobody subscribed to,
# node health / node-state / version, a body that is not JSON, five rapid
# publishes, a WebSocket connect, an empty client_id, an empty message, and a
# publish without topic or without message. Then every accepted publish
# (the rapid ones, a repeat of the same text, the same text on a second topic)
# must reach a WebSocket subscriber.
# usage: guide_suite.sh WEFT_NODE WEFT_PROXY
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 8)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "${P[3]}" "${P[4]}" "${P[5]}" "/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
wait_peers "127.0.0.1:${P[5]}" 1 20 || die "node 2 did not connect"
PROXY=http://127.0.0.1:${P[6]} NODE=http://127.0.0.1:${P[2]}
start_proxy guide-suite "${P[6]}" "${P[7]}" "127.0.0.1:${P[1]},127.0.0.1:${P[4]}"
wait_proxy_nodes "127.0.0.1:${P[6]}" 2 15 || die "the proxy did not connect to the 2 nodes"

CLIENT="suite-client-$$" TOPIC="example-topic-$$" OTHER="second-topic-$$"
post() { curl -sS -m 5 -X POST "$PROXY$1" -H 'Content-Type: application/json' -d "$2"; }
sub() { post /api/v1/subscribe "{\"client_id\": \"$1\", \"topic\": \"$2\", \"threshold\": $3}"; }
pub() { post /api/v1/publish "{\"client_id\": \"$1\", \"topic\": \"$2\", \"message\": \"$3\"}"; }
expect() { # expect NAME BODY SUBSTRING: the suite's own test (a plain substring)
    case "$2" in *"$3"*) echo "ok   $1" ;; *) die "$1: wanted '$3' in: $2" ;; esac
}

# a WebSocket subscriber on both topics, recording every delivery
node -e '
const WebSocket = require(process.argv[1] + "/node_modules/ws");
const ws = new WebSocket(process.argv[2]);
const fs = require("fs");
ws.on("open", () => { fs.writeFileSync(process.argv[3] + ".open", "Connected\n"); });
ws.on("message", (d) => fs.appendFileSync(process.argv[3], d.toString() + "\n"));
setTimeout(() => process.exit(0), 60000);
' "$here/js" "ws://127.0.0.1:${P[6]}/api/v1/ws?client_id=$CLIENT" "$WEFT_TEST_TMP/ws.out" &
WEFT_TEST_PIDS+=("$!")

expect "subscribe (valid)" "$(sub "$CLIENT" "$TOPIC" 0.7)" '"status":"subscribed"'
expect "subscribe a second topic" "$(sub "$CLIENT" "$OTHER" 0.7)" '"status":"subscribed"'
expect "subscribe (empty topic)" "$(sub "$CLIENT" "" 0.7)" 'topic is missing'
end=$((SECONDS + 10))
until [ -s "$WEFT_TEST_TMP/ws.out.open" ]; do
    [ $SECONDS -lt $end ] || die "WebSocket connection: no open within 10 s"
    sleep 0.1
done
echo "ok   WebSocket connection"
sleep 1 # the subscriptions reach the nodes
expect "publish (valid)" "$(pub "$CLIENT" "$TOPIC" "Hello, world!")" '"status":"published"'
expect "publish (topic nobody subscribed)" "$(pub "$CLIENT" "non-existent-topic-$$" Test)" 'topic not assigned'
expect "node health" "$(curl -sS -m 5 "$NODE/api/v1/health")" '"status":"ok"'
expect "node state" "$(curl -sS -m 5 "$NODE/api/v1/node-state")" '"pub_key"'
expect "node version" "$(curl -sS -m 5 "$NODE/api/v1/version")" '"commit_hash"'
expect "subscribe (invalid JSON)" "$(post /api/v1/subscribe 'invalid json')" 'invalid JSON'
for i in 1 2 3 4 5; do
    expect "rapid publish $i/5" "$(pub "$CLIENT" "$TOPIC" "Rapid test $i")" '"status":"published"'
done
# a repeat of the same text and the same text on another topic: new publishes, never lost
expect "the same text again" "$(pub "$CLIENT" "$TOPIC" "Hello, world!")" '"status":"published"'
expect "the same text on a second topic" "$(pub "$CLIENT" "$OTHER" "Hello, world!")" '"status":"published"'
expect "subscribe (empty client_id)" "$(sub "" "$TOPIC" 0.7)" 'client_id is missing'
expect "publish (empty message)" "$(pub "$CLIENT" "$TOPIC" "")" 'message is missing'
expect "publish (no topic)" "$(post /api/v1/publish "{\"client_id\": \"$CLIENT\", \"message\": \"Hello\"}")" 'topic is missing'
expect "publish (no message)" "$(post /api/v1/publish "{\"client_id\": \"$CLIENT\", \"topic\": \"$TOPIC\"}")" 'message is missing'

# 8 accepted publishes: 7 on TOPIC ("Hello, world!" twice, 5 rapid) and 1 on
# OTHER; every one must arrive, each with its own id
end=$((SECONDS + 20))
while :; do
    n=$(python3 - "$WEFT_TEST_TMP/ws.out" "$TOPIC" "$OTHER" <<'PY'
import base64, json, sys
want = {(sys.argv[2], "Hello, world!"): 2, (sys.argv[3], "Hello, world!"): 1}
for i in range(1, 6):
    want[(sys.argv[2], "Rapid test %d" % i)] = 1
got, ids = {}, set()
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for l in lines:
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if "message" not in m or "topic" not in m:
        continue
    k = (m["topic"], base64.b64decode(m["message"]).decode(errors="replace"))
    got[k] = got.get(k, 0) + 1
    ids.add(m.get("message_id"))
missing = {k: v - got.get(k, 0) for k, v in want.items() if got.get(k, 0) < v}
print("ok" if not missing and len(ids) >= sum(want.values()) else "missing %s ids=%d" % (missing, len(ids)))
PY
)
    [ "$n" = ok ] && break
    [ $SECONDS -lt $end ] || die "deliveries: $n"
    sleep 0.3
done
echo "ok   all 8 accepted publishes (a repeat and a second topic included) delivered, 8 distinct ids"
echo "PASS: guide test suite"
