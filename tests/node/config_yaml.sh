#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-node --config FILE.yaml end to end: for each bad file, a real start
# and check-config both exit 2 with the same single line; the issue's
# example file starts a node whose /api/v1/config reports the role, with the
# environment winning over the file (the P2P port the test picked).
# usage: config_yaml.sh WEFT_NODE
set -uo pipefail
WEFT_NODE=$1
. "$(dirname "$0")/lib.sh"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
t=$WEFT_TEST_TMP

bad() { # NAME CONTENT EXPECTED-SUBSTRING
    printf '%b' "$2" >"$t/$1.yaml"
    local e1 e2 r1 r2
    e1=$(env -i PATH="$PATH" IDENTITY_DIR="$t/id" timeout 10 "$WEFT_NODE" check-config --config "$t/$1.yaml" 2>&1 >/dev/null); r1=$?
    e2=$(env -i PATH="$PATH" IDENTITY_DIR="$t/id" WEFT_LISTEN_IP=127.0.0.1 timeout 10 "$WEFT_NODE" --config "$t/$1.yaml" 2>&1 >/dev/null); r2=$?
    [ $r1 -eq 2 ] || fail "$1: check-config exit $r1, expected 2 ($e1)"
    [ $r2 -eq 2 ] || fail "$1: start exit $r2, expected 2 ($e2)"
    [ "$e1" = "$e2" ] || fail "$1: check-config said '$e1', start said '$e2'"
    [ "$(printf '%s\n' "$e1" | wc -l)" -eq 1 ] || fail "$1: not one line: $e1"
    case "$e1" in *"$3"*) ;; *) fail "$1: '$e1' lacks '$3'" ;; esac
}
bad unknown 'node: {role: worker, colour: red}\n' 'node.colour: unknown key'
bad type 'node: {listen_port: "4001"}\n' 'node.listen_port="4001": expected an integer'
bad range 'network: {connection_timeout: 9999}\n' 'network.connection_timeout="9999": expected an integer in 1..300'
bad list 'node: {capabilities: [compute, "GPU!"]}\n' 'node.capabilities[1]="GPU!"'
bad syntax 'node: {role: worker\n' 'not YAML'
bad clash 'node: {listen_port: 9090}\n' 'API_PORT=9090 and node.listen_port'
e=$("$WEFT_NODE" --config 2>&1); r=$?
[ $r -eq 2 ] && case "$e" in *"expected a file name"*) true ;; *) false ;; esac || fail "--config without a file: $r $e"
e=$("$WEFT_NODE" check-config --config "$t/none.yaml" 2>&1); r=$?
[ $r -eq 2 ] && case "$e" in *"No such file"*) true ;; *) false ;; esac || fail "missing file: $r $e"

read -r p2p sc api <<<"$(free_ports 3)"
cat >"$t/worker.yaml" <<Y
node: {role: worker, listen_port: 4001, capabilities: [compute, storage], max_connections: 100, heartbeat_interval: 30}
network: {protocol_version: p2p-network, mesh_network: true, enable_mdns: true, enable_relay: true, connection_timeout: 30}
Y
mkdir -p "$t/w"
env -i PATH="$PATH" IDENTITY_DIR="$t/w" WEFT_LISTEN_IP=127.0.0.1 OPTIMUM_PORT="$p2p" \
    SIDECAR_PORT="$sc" API_PORT="$api" "$WEFT_NODE" --config "$t/worker.yaml" >"$t/w.log" 2>&1 &
WEFT_TEST_PIDS+=($!)
wait_api "127.0.0.1:$api" 20 || die "node with --config did not come up"
cfg=$(curl -fsS -m 5 "http://127.0.0.1:$api/api/v1/config")
python3 - "$cfg" "$p2p" <<'PY' || fail "api config: $cfg"
import json, sys
c = json.loads(sys.argv[1])
want = {"WEFT_ROLE": "worker", "OPTIMUM_PORT": int(sys.argv[2]), "WEFT_CAPABILITIES": ["compute", "storage"],
        "WEFT_MAX_CONNECTIONS": 100, "WEFT_KAD": "client", "WEFT_MDNS": True, "WEFT_RELAY": True,
        "WEFT_CONNECTION_TIMEOUT": 30, "NODE_MODE": "optimum"}
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
sys.exit(1 if bad and print(bad) is None else 0)
PY
grep -q 'relay client requested' "$t/w.log" || fail "no log line that the relay is not active"
grep -q 'mDNS requested' "$t/w.log" || fail "no log line that mDNS is not active"
cp "$t/w.log" "$t/worker.log"
[ $fails -eq 0 ] || { dump_logs; exit 1; }
echo "config_yaml: ok"
