#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Kademlia DHT (/ipfs/kad/1.0.0) between weft and js-libp2p
# (@libp2p/kad-dht in tests/interop/js-kad), in one DHT of mixed nodes:
#   W1 <- W2, J1 -> W1, J2 -> W2, W3 -> J2 (each arrow: the only bootstrap peer)
# and one-shot weft clients that bootstrap from a single node:
#  - js finds a weft node's peer id (J1 looks up W3), weft finds a js node's
#    (a client bootstrapped from W1 looks up J2);
#  - a /pk/ record put by js (J1) is got by weft (a client of W3), and one
#    put by weft (a client of W3) is got by js (J2); values compared byte for byte.
# Usage: kad_js.sh path/to/weft-p2p path/to/tests/interop/js-kad
set -u
P=${1:?weft-p2p}
JS=${2:?js-kad dir}
if [ ! -d "$JS/node_modules/@libp2p/kad-dht" ]; then
    echo "js-kad peer not installed: run ci/install-deps.sh (npm ci in $JS)" >&2
    exit 1
fi
T=$(mktemp -d)
pids=()
cleanup() {
    exec 7>&- 8>&- 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap '' PIPE
pass=0
fail=0
check() { # name status
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok: $1"; else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi
}
wait_line() { # file pattern [tenths]
    for _ in $(seq 1 "${3:-150}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get(sys.argv[1], ""))' "$1"; }
addr_of() { grep -m1 '"listening"' "$1" | field addr; }

serve() { # name [--peer MA]
    local name=$1
    shift
    "$P" dht serve --timeout 120 "$@" >"$T/$name.out" 2>"$T/$name.err" &
    pids+=($!)
    wait_line "$T/$name.out" listening || { echo "FAIL: $name did not start" >&2; cat "$T/$name.err" >&2; exit 1; }
}
js() { # name fd [--peer MA]
    local name=$1 fd=$2
    shift 2
    mkfifo "$T/$name.in"
    node "$JS/kad_peer.mjs" --timeout 120 "$@" <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" &
    pids+=($!)
    eval "exec $fd>\"$T/$name.in\""
    wait_line "$T/$name.out" listening || { echo "FAIL: $name did not start" >&2; cat "$T/$name.err" >&2; exit 1; }
}
ask() { # name fd json event -> the answer line
    local before
    before=$(wc -l <"$T/$1.out")
    echo "$3" >&"$2"
    for _ in $(seq 1 400); do
        if [ "$(wc -l <"$T/$1.out")" -gt "$before" ]; then
            tail -n +"$((before + 1))" "$T/$1.out" | grep -m1 "\"event\":\"$4\"\|\"event\":\"error\"" && return 0
        fi
        sleep 0.1
    done
    return 1
}

serve w1
W1=$(addr_of "$T/w1.out")
serve w2 --peer "$W1"
W2=$(addr_of "$T/w2.out")
js j1 7 --peer "$W1"
J1=$(addr_of "$T/j1.out")
J1ID=${J1##*/}
js j2 8 --peer "$W2"
J2=$(addr_of "$T/j2.out")
J2ID=${J2##*/}
serve w3 --peer "$J2"
W3=$(addr_of "$T/w3.out")
W3ID=${W3##*/}
W3PORT=$(echo "$W3" | sed 's|.*/tcp/\([0-9]*\)/.*|\1|')
J2PORT=$(echo "$J2" | sed 's|.*/tcp/\([0-9]*\)/.*|\1|')
# the bootstrap self lookups (js runs its own on start and on new peers)
sleep 4

# ---- js finds a weft peer id
out=$(ask j1 7 "{\"op\":\"find-peer\",\"id\":\"$W3ID\"}" find-peer)
echo "js J1 find-peer W3: $out"
echo "$out" | grep -q '"found":true' && echo "$out" | grep -q "/tcp/$W3PORT"
check "js finds the weft node W3 (bootstrapped through js) by its peer id" $?

# ---- weft finds a js peer id
out=$("$P" dht find-peer "$J2ID" --peer "$W1" --timeout 30)
echo "weft client of W1 find-peer J2: $out"
echo "$out" | grep '"event":"find-peer"' | grep -q '"found":true' && echo "$out" | grep -q "/tcp/$J2PORT"
check "weft finds the js node J2 by its peer id" $?

# ---- js puts, weft gets
out=$(ask j1 7 '{"op":"put-pk"}' put-pk)
echo "js J1 put-pk: $out"
want=$(echo "$out" | field value_hex)
echo "$out" | grep -q '"ok":true'
check "js puts /pk/J1 into the DHT" $?
got=$("$P" dht get "/pk/$J1ID" --peer "$W3" --timeout 30)
echo "weft client of W3 get /pk/J1: $got"
[ -n "$want" ] && [ "$(echo "$got" | grep '"event":"get"' | field value_hex)" = "$want" ]
check "weft gets the record js put, byte for byte" $?

# ---- weft puts, js gets
"$P" keygen --out "$T/k" >/dev/null
KID=$("$P" id "$T/k")
out=$("$P" dht put /pk/self self --key "$T/k" --peer "$W3" --timeout 30)
echo "weft client of W3 put /pk/self: $out"
echo "$out" | grep '"event":"put"' | grep -q '"ok":true'
check "weft puts /pk/<its id> into the DHT" $?
wantw=$("$P" dht get "/pk/$KID" --peer "$W1" --timeout 30 | grep '"event":"get"' | field value_hex)
out=$(ask j2 8 "{\"op\":\"get\",\"key\":\"/pk/$KID\"}" get)
echo "js J2 get /pk/<weft client>: $out"
echo "$out" | grep -q '"found":true' && [ -n "$wantw" ] && [ "$(echo "$out" | field value_hex)" = "$wantw" ] &&
    case "$wantw" in 08011220*) true ;; *) false ;; esac
check "js gets the record weft put (an Ed25519 PublicKey protobuf)" $?

echo "kad interop: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
