#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two weft-node processes on loopback (node 2 bootstraps to node 1), in the
# given mode; a real gRPC client (@grpc/grpc-js, js/sidecar_test.js)
# subscribes on node 1 and publishes on node 2 and checks the sidecar and
# the HTTP API.
# usage: sidecar_grpc.sh WEFT_NODE PROTO_DIR optimum|gossipsub
set -euo pipefail
WEFT_NODE=$1 PROTO=$2 MODE=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"

read -r p1 s1 a1 p2 s2 a2 < <(free_ports 6)
start_node n1 "$MODE" "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node 1 API did not come up"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 "$MODE" "$p2" "$s2" "$a2" "/ip4/127.0.0.1/tcp/$p1/p2p/$id1"
wait_api "127.0.0.1:$a2" 10 || die "node 2 API did not come up"
wait_peers "127.0.0.1:$a2" 1 15 || die "node 2 did not connect to node 1"

node "$here/js/sidecar_test.js" --proto "$PROTO" --mode "$MODE" \
    --sub "127.0.0.1:$s1" --pub "127.0.0.1:$s2" --sub-api "127.0.0.1:$a1" --pub-api "127.0.0.1:$a2" ||
    die "sidecar checks failed"

# SIGTERM drains and exits 0.
kill -TERM "$(cat "$WEFT_TEST_TMP/n2.pid")"
rc=0; wait "$(cat "$WEFT_TEST_TMP/n2.pid")" || rc=$?
[ $rc -eq 0 ] || die "node 2 exited $rc on SIGTERM (expected 0)"
grep -q 'msg="stopped"' "$WEFT_TEST_TMP/n2.log" || die "node 2 did not log its shutdown"
echo "sidecar_grpc ($MODE): ok"
