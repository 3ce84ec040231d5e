#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lengths, topic sizes, NUL bytes and UTF-8 at weft-proxy (REST, gRPC) and
# at the node's sidecar, and the log budget of a 100,000-topic subscribe
# (tests/node/js/input_checks_test.js has the checks).
# usage: input_checks.sh WEFT_NODE WEFT_PROXY PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"
read -r p1 s1 a1 rest grpc < <(free_ports 5)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node did not start"
max=4096
env CLUSTER_ID=checks-proxy P2P_NODES="127.0.0.1:$s1" PROXY_PORT="$rest" PROXY_GRPC_PORT="$grpc" \
    WEFT_LISTEN_IP=127.0.0.1 WEFT_MAX_MESSAGE_SIZE=$max "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS -m 2 "http://127.0.0.1:$rest/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
node "$here/js/input_checks_test.js" --proto "$PROTO" --sidecar "127.0.0.1:$s1" --rest "$rest" \
    --grpc "$grpc" --nodelog "$WEFT_TEST_TMP/n1.log" --max "$max" || die "input checks failed"
echo "input_checks: ok"
