#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Abuse of one node's gRPC sidecar (tests/node/js/grpc_abuse.js): garbage,
# undecodable protobuf, a 64 MB message, 1,000 streams, 100k topics at once.
# usage: grpc_abuse.sh WEFT_NODE PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 PROTO=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"
read -r -a P < <(free_ports 3)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node did not start"
node "$here/js/grpc_abuse.js" --proto "$PROTO" --sidecar "127.0.0.1:${P[1]}" \
    --pid "$(cat "$WEFT_TEST_TMP/n1.pid")" --log "$WEFT_TEST_TMP/n1.log" || die "abuse checks failed"
kill -0 "$(cat "$WEFT_TEST_TMP/n1.pid")" || die "the node died"
echo "grpc_abuse: ok"
