#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-proxy's environment: every bad value exits 2 with one line naming
# the variable and the value; valid values pass check-config.
# usage: config_reject.sh WEFT_PROXY
set -uo pipefail
BIN=$1
fails=0 checks=0
base=(CLUSTER_ID=p P2P_NODES=127.0.0.1:33212)
reject() {
    local shown=$1
    shift
    checks=$((checks + 1))
    local err rc
    err=$(env -i PATH="$PATH" "$@" "$BIN" check-config 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 2 ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ "$err" != *"$shown"* ]] ||
        [[ "$err" != *expected* ]]; then
        echo "FAIL: $* -> exit $rc: $err"; fails=$((fails + 1))
    fi
}
accept() {
    checks=$((checks + 1))
    local out
    out=$(env -i PATH="$PATH" "$@" "$BIN" check-config 2>&1) || { echo "FAIL: refused $*: $out"; fails=$((fails + 1)); }
}
reject CLUSTER_ID P2P_NODES=127.0.0.1:1
reject P2P_NODES CLUSTER_ID=p
reject '"x"' CLUSTER_ID=p P2P_NODES=x
reject '"127.0.0.1:99999"' CLUSTER_ID=p P2P_NODES=127.0.0.1:99999
reject 'entry 2' CLUSTER_ID=p P2P_NODES=127.0.0.1:1,nope
for v in 0 70000 :abc -1 "8080 "; do
    reject PROXY_PORT "${base[@]}" "PROXY_PORT=$v"
    reject PROXY_GRPC_PORT "${base[@]}" "PROXY_GRPC_PORT=$v"
done
reject GATEWAY_PORT "${base[@]}" GATEWAY_PORT=0
for v in 0 0.05 1.5 -1 x nan; do reject SUBSCRIBER_THRESHOLD "${base[@]}" "SUBSCRIBER_THRESHOLD=$v"; done
reject ENABLE_AUTH "${base[@]}" ENABLE_AUTH=maybe
reject WEFT_JWKS "${base[@]}" ENABLE_AUTH=true
reject LOG_LEVEL "${base[@]}" LOG_LEVEL=loud
reject WEFT_FALLBACK_MS "${base[@]}" WEFT_FALLBACK_MS=5
reject WEFT_MAX_MESSAGE_SIZE "${base[@]}" WEFT_MAX_MESSAGE_SIZE=0
accept "${base[@]}"
accept "${base[@]}" PROXY_PORT=:8081 PROXY_GRPC_PORT=50052 SUBSCRIBER_THRESHOLD=1
accept "${base[@]}" GATEWAY_PORT=:9000
accept CLUSTER_ID=p "P2P_NODES=p2pnode-1:33212, p2pnode-2:33212 ,p2pnode-3:33212"
rc=0; "$BIN" --bogus >/dev/null 2>&1 || rc=$?
checks=$((checks + 1)); [ $rc -eq 2 ] || { echo "FAIL: --bogus exit $rc"; fails=$((fails + 1)); }
echo "proxy config_reject: $((checks - fails)) of $checks checks passed"
[ $fails -eq 0 ]
