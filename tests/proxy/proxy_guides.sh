#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The guides' paths, flags, lines and tooling against real processes on free
# loopback ports: 2 weft-node (node 1 at LOG_LEVEL=debug) and 1 weft-proxy
# (LOG_LEVEL=debug). tests/node/js/guides_test.js checks the REST aliases,
# WebSocket frames, error bodies and gRPC service names; then this script
# checks the commit hash of /api/v1/version and --version, the node-state
# addresses, the debug request lines, and script/proxy_client.sh driving
# weft-proxy-client with the guide's usage.
# usage: proxy_guides.sh WEFT_NODE WEFT_PROXY WEFT_PROXY_CLIENT PROTO_DIR SOURCE_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PC=$3 PROTO=$4 SRC=$5
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 8)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" "" LOG_LEVEL=debug
wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "${P[3]}" "${P[4]}" "${P[5]}" "/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
wait_peers "127.0.0.1:${P[5]}" 1 20 || die "node 2 did not connect"
REST=127.0.0.1:${P[6]} GRPC=127.0.0.1:${P[7]}
env CLUSTER_ID=proxy-guides PROXY_PORT=":${P[6]}" PROXY_GRPC_PORT=":${P[7]}" \
    P2P_NODES="127.0.0.1:${P[1]},127.0.0.1:${P[4]}" WEFT_LISTEN_IP=127.0.0.1 LOG_LEVEL=debug \
    "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 15))
until curl -fsS -m 2 "http://$REST/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":2'; do
    [ $SECONDS -lt $end ] || die "the proxy did not connect to the 2 nodes"
    sleep 0.2
done

node "$here/js/guides_test.js" --proto "$PROTO" --rest "$REST" --grpc "$GRPC" \
    --sidecar1 "127.0.0.1:${P[1]}" --sidecar2 "127.0.0.1:${P[4]}" || die "guides checks failed"

# ---- the commit baked in at build time ----------------------------------------------
want=$(git -C "$SRC" rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
for api in "127.0.0.1:${P[2]}" "$REST"; do
    got=$(curl -fsS -m 3 "http://$api/api/v1/version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_hash"])')
    [ "$got" = "$want" ] || die "$api/api/v1/version commit_hash=$got, HEAD is $want (rebuild after a commit)"
done
for bin in "$WEFT_NODE --version" "$WEFT_PROXY --version" "$PC -version"; do
    $bin | grep -q "(commit $want, " || die "$bin: $($bin) does not name commit $want"
done
echo "ok   /api/v1/version and --version name commit $want"

# ---- node-state addresses as the guides show them -----------------------------------
curl -fsS -m 3 "http://127.0.0.1:${P[2]}/api/v1/node-state" | python3 -c '
import json, re, sys
s = json.load(sys.stdin)
assert s["addresses"], s
for a in s["addresses"]:
    assert re.fullmatch(r"/ip4/[0-9.]+/tcp/[0-9]+", a), a
print("ok   node-state addresses", s["addresses"])' || die "node-state addresses"

# ---- debug lines: method, path, status, topic, sizes, duration ------------------------
need() { grep -qE "$2" "$WEFT_TEST_TMP/$1.log" || die "$1.log has no line matching: $2"; }
need n1 'mod=api msg="request" method=GET path="/api/v1/version" query="" status=200 req_bytes=0 resp_bytes=[1-9][0-9]* duration_us=[0-9]+'
need n1 'mod=sidecar msg="request" client=[0-9]+ command=SubscribeToTopic topic="p2pstream-[0-9a-f]+" bytes=0'
need n1 'mod=sidecar msg="unary" method=/proto.P2PStream/Health .* duration_us=[0-9]+'
need proxy 'mod=rest msg="request" method=POST path="/publish" query="" status=200 req_bytes=[1-9][0-9]* resp_bytes=[1-9][0-9]* duration_us=[0-9]+ remote=127.0.0.1 topic="guides-[0-9a-f]+"'
need proxy 'mod=rest msg="request" method=POST path="/api/v1/publish" .*status=404'
need proxy 'mod=ws msg="subscribe" client="ws-[0-9a-f]{16}" topic="guides-[0-9a-f]+" bytes=[0-9]+'
need proxy 'mod=grpc msg="call opened" method=/proto.GatewayStream/Stream'
need proxy 'mod=grpc msg="request" method=/proto.GatewayStream/ClientStream peer=.* topic="gateway-[0-9a-f]+" bytes=[0-9]+ duration_us=[0-9]+'
echo "ok   debug request lines on node and proxy"

# ---- script/proxy_client.sh with the guide's usage ------------------------------------------
PS="$SRC/script/proxy_client.sh"
rc=0; PROXY_CLIENT=$PC bash "$PS" >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || die "proxy_client.sh without arguments: exit $rc, expected 1"
rc=0; PROXY_CLIENT=$PC bash "$PS" publish demo 0.5 >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || die "proxy_client.sh publish without a count: exit $rc, expected 1"
T=guide-script-$RANDOM
PROXY_CLIENT=$PC bash "$PS" subscribe "$T" 0.5 -proxy "$GRPC" -rest "http://$REST" \
    >"$WEFT_TEST_TMP/ps-sub.log" 2>&1 &
subpid=$!
WEFT_TEST_PIDS+=("$subpid")
end=$((SECONDS + 10))
until grep -q "\[INFO\] Client ID: weft-proxy-client-[0-9a-f]* | Topic: $T | Threshold: 0.50" "$WEFT_TEST_TMP/ps-sub.log"; do
    [ $SECONDS -lt $end ] || die "subscriber: no [INFO] line: $(cat "$WEFT_TEST_TMP/ps-sub.log")"
    sleep 0.1
done
sleep 1 # the subscription reaches the nodes
PROXY_CLIENT=$PC timeout 60 bash "$PS" publish "$T" 0.5 3 -proxy "$GRPC" -rest "http://$REST" -delay 300ms \
    >"$WEFT_TEST_TMP/ps-pub.log" 2>&1 || die "publisher failed: $(cat "$WEFT_TEST_TMP/ps-pub.log")"
[ "$(grep -c '^[0-9/]* [0-9:]* \[PUBLISH\] Message: [a-z]* @ [0-9:]* ([1-3])$' "$WEFT_TEST_TMP/ps-pub.log")" = 3 ] ||
    die "publisher: expected 3 [PUBLISH] lines: $(cat "$WEFT_TEST_TMP/ps-pub.log")"
grep -q 'ERROR' "$WEFT_TEST_TMP/ps-pub.log" && die "publisher reported errors: $(cat "$WEFT_TEST_TMP/ps-pub.log")"
end=$((SECONDS + 10))
while :; do
    missing=0
    while read -r msg; do
        grep -qF "[RECEIVED] Topic: $T | Message: $msg" "$WEFT_TEST_TMP/ps-sub.log" || missing=$((missing + 1))
    done < <(sed -n 's/^.*\[PUBLISH\] Message: //p' "$WEFT_TEST_TMP/ps-pub.log")
    [ $missing = 0 ] && break
    [ $SECONDS -lt $end ] || die "subscriber missed $missing of 3: $(cat "$WEFT_TEST_TMP/ps-sub.log")"
    sleep 0.2
done
# the publishing client subscribed too (the guide's flow) and saw its own messages
[ "$(grep -c "\[RECEIVED\] Topic: $T | Message: " "$WEFT_TEST_TMP/ps-pub.log")" -ge 3 ] ||
    die "publisher did not receive its own messages: $(cat "$WEFT_TEST_TMP/ps-pub.log")"
kill -INT "$subpid"
wait "$subpid" || die "subscriber exited $? on Ctrl-C"
grep -q '\[INTERRUPTED\] shutting down' "$WEFT_TEST_TMP/ps-sub.log" || die "subscriber: no [INTERRUPTED] line"
echo "ok   script/proxy_client.sh subscribe and publish"
# ---- weft-proxy-client with the guide's defaults: no -mode, -topic demo, -count 5 --------
timeout 60 "$PC" -proxy "$GRPC" -rest "http://$REST" -delay 100ms >"$WEFT_TEST_TMP/pc-def.log" 2>&1 ||
    die "weft-proxy-client with no flags but the addresses failed: $(cat "$WEFT_TEST_TMP/pc-def.log")"
grep -q '\[INFO\] Client ID: weft-proxy-client-[0-9a-f]* | Topic: demo | Threshold: ' "$WEFT_TEST_TMP/pc-def.log" ||
    die "default topic is not demo: $(cat "$WEFT_TEST_TMP/pc-def.log")"
[ "$(grep -c '\[PUBLISH\] Message: ' "$WEFT_TEST_TMP/pc-def.log")" = 5 ] ||
    die "default -count is not 5: $(cat "$WEFT_TEST_TMP/pc-def.log")"
echo "ok   weft-proxy-client defaults: topic demo, 5 messages, no -mode"
echo "proxy_guides: ok"
