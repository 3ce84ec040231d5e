#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-p2p against a real js-libp2p peer (../shared/interop/js-libp2p),
# both directions, over the io_uring and the epoll loop:
#  - weft dials js: ping x3 and identify (js lists /meshsub/1.1.0, its agent);
#  - js dials weft: Noise + yamux negotiated, js identifies us and pings us;
#  - weft dials js with a wrong /p2p/ id: refused with an authentication error.
# Usage: transport_js.sh path/to/weft-p2p path/to/js-libp2p-dir
set -u
P=${1:?weft-p2p}
JS=${2:?js-libp2p dir}
if [ ! -d "$JS/node_modules" ]; then
    echo "js-libp2p peer not installed: run ci/install-deps.sh (npm ci in $JS)" >&2
    exit 1
fi
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
pass=0
fail=0
check() { # name condition-exit-status
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi
}
wait_line() { # file pattern
    for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

for transport in uring epoll; do
    export WEFT_TRANSPORT=$transport
    # ---- weft dials js
    (cd "$JS" && exec timeout 60 node peer.mjs listen --port 0 --topic interop) >"$T/js.out" 2>"$T/js.err" &
    pids+=($!)
    wait_line "$T/js.out" listening
    check "$transport: js listener started" $?
    ma=$(grep -m1 listening "$T/js.out" | json_field multiaddr)
    jsid=$(grep -m1 listening "$T/js.out" | json_field peerId)
    out=$("$P" ping "$ma" --count 3 --timeout 10)
    rc=$?
    [ $rc -eq 0 ] && [ "$(echo "$out" | grep -c "rtt=")" -eq 3 ]
    check "$transport: weft pings js three times ($out)" $?
    id=$("$P" identify "$ma" --timeout 10)
    echo "$id" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["peer"] == sys.argv[1], d["peer"]
assert "/meshsub/1.1.0" in d["protocols"], d["protocols"]
assert "/ipfs/ping/1.0.0" in d["protocols"]
assert d["agentVersion"].startswith("js-libp2p/"), d["agentVersion"]
assert d["listenAddrs"], "no listen addresses"
' "$jsid"
    check "$transport: weft identifies js" $?
    # A wrong /p2p/ id: the Noise handshake must fail authentication.
    wrong=$("$P" keygen --out "$T/other")
    bad="${ma%/p2p/*}/p2p/$wrong"
    err=$("$P" ping "$bad" --timeout 10 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && echo "$err" | grep -q "authentication failed"
    check "$transport: wrong peer id refused (rc=$rc: $err)" $?
    kill "${pids[-1]}" 2>/dev/null

    # ---- js dials weft
    "$P" listen --listen /ip4/127.0.0.1/tcp/0 --timeout 60 >"$T/weft.out" 2>"$T/weft.err" &
    pids+=($!)
    wait_line "$T/weft.out" /p2p/
    check "$transport: weft listener started" $?
    wma=$(head -1 "$T/weft.out")
    wid=${wma##*/p2p/}
    (cd "$JS" && timeout 60 node peer.mjs dial "$wma" --ping --publish 0 --timeout 10 --linger 0) \
        >"$T/jsd.out" 2>"$T/jsd.err"
    python3 - "$T/jsd.out" "$wid" <<'PY'
import json, sys
ev = {}
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    ev.setdefault(d["event"], d)
d = ev.get("dialed")
assert d and d["remotePeer"] == sys.argv[2], ev
assert d["encryption"] == "/noise" and d["multiplexer"] == "/yamux/1.0.0", d
i = ev.get("peer:identify")
assert i and "/ipfs/ping/1.0.0" in i["protocols"] and i["agentVersion"].startswith("weft/"), i
p = ev.get("ping")
assert p and p["rttMs"] >= 0, ev
PY
    check "$transport: js dials, identifies and pings weft" $?
    grep -q '"event":"connected"' "$T/weft.out"
    check "$transport: weft saw the js peer connect" $?
    kill "${pids[-1]}" 2>/dev/null
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
