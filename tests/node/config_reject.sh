#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every configuration variable of weft-node with bad values: the node exits
# 2 with one line on stderr naming the variable and the value; and the
# boundary values that are valid are accepted (check-config exits 0 and
# reports them). A real start with a bad value is tried too, and a corrupt
# p2p.key is refused with "checksum mismatch" rather than replaced.
# usage: config_reject.sh WEFT_NODE
set -uo pipefail
WEFT_NODE=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# reject VAR VALUE [SHOWN]: exit 2, one stderr line naming VAR and VALUE
# (or SHOWN: the offending part, or the value with control bytes escaped).
reject() {
    local var=$1 val=$2 shown=${3:-${2:0:40}}
    checks=$((checks + 1))
    local err rc
    err=$(env -i PATH="$PATH" IDENTITY_DIR="$tmp/id" "$var=$val" "$WEFT_NODE" check-config 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne 2 ]; then fail "$var='$val': exit $rc, expected 2"; return; fi
    if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then fail "$var='$val': expected one line, got: $err"; return; fi
    case "$err" in *"$var"*) ;; *) fail "$var='$val': line does not name the variable: $err"; return ;; esac
    case "$err" in *"$shown"*) ;; *) fail "$var='$val': line does not show the value: $err"; return ;; esac
    case "$err" in *expected*) ;; *) fail "$var='$val': line does not say what was expected: $err" ;; esac
}

# accept VAR VALUE JSONKEY JSONVALUE: check-config exits 0 and reports it.
accept() {
    local var=$1 val=$2 key=$3 want=$4
    checks=$((checks + 1))
    local out
    out=$(env -i PATH="$PATH" IDENTITY_DIR="$tmp/id" "$var=$val" "$WEFT_NODE" check-config 2>&1) ||
        { fail "$var='$val' refused: $out"; return; }
    local got
    got=$(printf '%s' "$out" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['$key']))")
    [ "$got" = "$want" ] || fail "$var='$val': $key is $got, expected $want"
}

for v in 0 65536 -1 abc 80x " 80" 1e3 99999999999999999999; do
    for var in SIDECAR_PORT API_PORT OPTIMUM_PORT GOSSIPSUB_PORT; do reject "$var" "$v"; done
done
reject NODE_MODE rlnc
reject NODE_MODE "optimum "
reject LOG_LEVEL verbose
reject LOG_LEVEL trace
for v in 0 -5 67108865 1.5 big; do
    reject OPTIMUM_MAX_MSG_SIZE "$v"
    reject GOSSIPSUB_MAX_MSG_SIZE "$v"
done
for v in 0 65 -1 x 6.5; do reject OPTIMUM_MESH_TARGET "$v"; done
for v in -1 65 x; do reject OPTIMUM_MESH_MIN "$v"; done
for v in 1 257 x; do reject OPTIMUM_MESH_MAX "$v"; done
reject OPTIMUM_MESH_MIN 6                     # not below the target (6)
reject OPTIMUM_MESH_MAX 6                     # not above the target
reject OPTIMUM_MESH_TARGET 12                 # not below the max (12)
for v in 0 -1 256 four 2.5; do reject OPTIMUM_SHARD_FACTOR "$v"; done
for v in 0.99 0 -1 65 nan inf x; do reject OPTIMUM_SHARD_MULT "$v"; done
for v in 0 -0.1 1.01 nan inf x; do reject OPTIMUM_THRESHOLD "$v"; done
reject BOOTSTRAP_PEERS "/ip4/127.0.0.1/tcp/7070"                       # no peer id
reject BOOTSTRAP_PEERS "/ip4/300.0.0.1/tcp/7070/p2p/12D3KooWMFTzYTVaKpvG9ysub9CRP2vFwFetdgGv7uwGH7V79Cb6"
reject BOOTSTRAP_PEERS "/ip4/127.0.0.1/tcp/7070/p2p/notapeerid"
reject BOOTSTRAP_PEERS "/ip4/127.0.0.1/tcp/7070/p2p/12D3KooWMFTzYTVaKpvG9ysub9CRP2vFwFetdgGv7uwGH7V79Cb6,garbage" 'entry 2 "garbage"'
reject WEFT_LISTEN_IP "localhost"
reject WEFT_LISTEN_IP "1.2.3"
reject WEFT_TRACE_RPC maybe
reject WEFT_CLIENT_QUEUE_BYTES 1000
reject WEFT_KAD dht-server
reject CLUSTER_ID "$(printf 'a\tb')" 'a\x09b'

accept SIDECAR_PORT 1 SIDECAR_PORT 1
accept API_PORT 65535 API_PORT 65535
accept OPTIMUM_THRESHOLD 1 OPTIMUM_THRESHOLD 1
accept OPTIMUM_THRESHOLD 0.01 OPTIMUM_THRESHOLD 0.01
accept OPTIMUM_SHARD_MULT 1 OPTIMUM_SHARD_MULT 1
accept OPTIMUM_SHARD_FACTOR 255 OPTIMUM_SHARD_FACTOR 255
accept NODE_MODE GossipSub NODE_MODE '"gossipsub"'
accept OPTIMUM_MAX_MSG_SIZE 67108864 OPTIMUM_MAX_MSG_SIZE 67108864
accept BOOTSTRAP_PEERS " /ip4/127.0.0.1/tcp/7070/p2p/12D3KooWMFTzYTVaKpvG9ysub9CRP2vFwFetdgGv7uwGH7V79Cb6 , " \
    BOOTSTRAP_PEERS '["/ip4/127.0.0.1/tcp/7070/p2p/12D3KooWMFTzYTVaKpvG9ysub9CRP2vFwFetdgGv7uwGH7V79Cb6"]'
accept OPTIMUM_PORT "" OPTIMUM_PORT 7070       # empty = default
accept WEFT_KAD client WEFT_KAD '"client"'
accept WEFT_KAD off WEFT_KAD '"off"'
accept WEFT_KAD "" WEFT_KAD '"server"'   # the default

# A real start with a bad value exits before binding anything.
checks=$((checks + 1))
out=$(env -i PATH="$PATH" IDENTITY_DIR="$tmp/id" API_PORT=0 timeout 10 "$WEFT_NODE" 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *API_PORT*'"0"'* ]] || fail "start with API_PORT=0: exit $rc: $out"

# A corrupt identity is refused, not replaced.
checks=$((checks + 1))
IDENTITY_DIR="$tmp/k" "$WEFT_NODE" generate-key >/dev/null || fail "generate-key failed"
cp "$tmp/k/p2p.key" "$tmp/k/orig"
printf 'X' | dd of="$tmp/k/p2p.key" bs=1 seek=20 conv=notrunc 2>/dev/null
out=$(env -i PATH="$PATH" IDENTITY_DIR="$tmp/k" timeout 10 "$WEFT_NODE" 2>&1); rc=$?
[ $rc -ne 0 ] && [[ "$out" == *"checksum"* ]] || fail "corrupt p2p.key: exit $rc: $out"
cmp -s "$tmp/k/p2p.key" "$tmp/k/orig" && fail "corrupt p2p.key was overwritten"

# Unknown arguments are usage errors.
checks=$((checks + 1))
"$WEFT_NODE" --bogus >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "--bogus: exit $rc, expected 2"

echo "config_reject: $((checks - fails)) of $checks checks passed"
[ $fails -eq 0 ]
