#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-proxy with ENABLE_AUTH=true over one node: tokens, claims limits
# (tests/node/js/proxy_auth_test.js makes its own RSA keys and JWKS).
# usage: proxy_auth.sh WEFT_NODE WEFT_PROXY PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"
read -r p1 s1 a1 rest grpc < <(free_ports 5)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node did not start"
node "$here/js/proxy_auth_test.js" --proxy "$WEFT_PROXY" --proto "$PROTO" --node "127.0.0.1:$s1" \
    --rest "$rest" --grpc "$grpc" --dir "$WEFT_TEST_TMP" || die "auth checks failed"
echo "proxy_auth: ok"
