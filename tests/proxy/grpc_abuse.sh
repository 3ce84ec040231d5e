#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Abuse of weft-proxy's gRPC port (tests/node/js/proxy_grpc_abuse.js):
# garbage, undecodable protobuf, a 64 MB message, 1,000 streams; the proxy
# stays up, answers, and its RSS stays bounded.
# usage: grpc_abuse.sh WEFT_NODE WEFT_PROXY PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"
read -r p1 s1 a1 rest grpc < <(free_ports 5)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node did not start"
start_proxy proxy "$rest" "$grpc" "127.0.0.1:$s1"
wait_proxy_nodes "127.0.0.1:$rest" 1 15 || die "proxy did not reach its node"
node "$here/js/proxy_grpc_abuse.js" --proto "$PROTO" --grpc "127.0.0.1:$grpc" \
    --pid "$(cat "$WEFT_TEST_TMP/proxy.pid")" || die "abuse checks failed"
kill -0 "$(cat "$WEFT_TEST_TMP/proxy.pid")" || die "the proxy died"
echo "proxy grpc_abuse: ok"
