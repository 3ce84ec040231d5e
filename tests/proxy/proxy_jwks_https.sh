#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-proxy with ENABLE_AUTH, AUTH0_DOMAIN and AUTH0_AUDIENCE as the guides
# set them, over one node: the key set over https from a test server with a
# throwaway CA (tests/node/js/proxy_jwks_https_test.js has the checks).
# usage: proxy_jwks_https.sh WEFT_NODE WEFT_PROXY PROTO_DIR
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PROTO=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"
command -v openssl >/dev/null || die "openssl missing: run ci/install-deps.sh"
read -r p1 s1 a1 rest grpc < <(free_ports 5)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node did not start"
node "$here/js/proxy_jwks_https_test.js" --proxy "$WEFT_PROXY" --proto "$PROTO" --node "127.0.0.1:$s1" \
    --rest "$rest" --grpc "$grpc" --dir "$WEFT_TEST_TMP" || die "https key set checks failed"
echo "proxy_jwks_https: ok"
