#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-p2p pubsub (GossipSub mode) against real js-libp2p gossipsub peers
# (../shared/interop/js-libp2p), both using the spec message id
# (from || seqno), over the io_uring and the epoll loop:
#  (a) js dials weft and publishes 100; weft (--expect 100) receives all 100,
#      from the js peer, with spec message ids;
#  (b) weft dials a js listener (--expect 100) and publishes 100; js exits 0
#      with the 100 messages weft published (same ids, same SHA-256);
#  (c) chain js1 -> weft -> js2: both js peers dial only weft; js1 publishes
#      100 and js2 (--expect 100) gets them all through weft.
# Every process has its own timeout; all children are killed on exit.
# Usage: pubsub_js.sh path/to/weft-p2p path/to/js-libp2p-dir
set -u
P=${1:?weft-p2p}
JS=${2:?js-libp2p dir}
if [ ! -d "$JS/node_modules" ]; then
    echo "js-libp2p peer not installed: run ci/install-deps.sh (npm ci in $JS)" >&2
    exit 1
fi
N=100
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
check() { # name status [log files to show on failure...]
    local name=$1 st=$2
    shift 2
    if [ "$st" -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok: $name"
    else
        fail=$((fail + 1))
        echo "FAIL: $name" >&2
        for f in "$@"; do
            echo "---- $(basename "$f") (last 15 lines)" >&2
            tail -n 15 "$f" | cut -c1-400 >&2
        done
    fi
}
wait_event() { # file event seconds: wait for a JSON line with that event
    local _
    for _ in $(seq 1 $(($3 * 10))); do
        grep -q "\"event\":\"$2\"" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
first_field() { # file event field
    grep -m1 "\"event\":\"$2\"" "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$3"
}
start_weft() { # out-prefix args...: start weft-p2p pubsub in the background
    local o=$1
    shift
    timeout 120 "$P" pubsub --mode gossipsub --topic interop --msgid spec "$@" >"$o.out" 2>"$o.err" &
    pids+=($!)
}
start_js() { # out-prefix args...
    local o=$1
    shift
    (cd "$JS" && exec timeout 120 node peer.mjs "$@" --topic interop --msgid spec) >"$o.out" 2>"$o.err" &
    pids+=($!)
}

# Message checks, in Python: weft lines carry hex ids, js lines base64 ones.
cat >"$T/verify.py" <<'PY'
import base64, hashlib, json, sys

def events(path, kind):
    out = []
    for line in open(path, errors="replace"):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("event") == kind:
            out.append(d)
    return out

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def b58(s):
    n = 0
    for ch in s:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(s) - len(s.lstrip("1"))) + raw

def b64(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))

def fail(msg):
    print("verify:", msg, file=sys.stderr)
    sys.exit(1)

what, n = sys.argv[1], int(sys.argv[2])
if what == "weft-received":  # weft.out js-peer-id
    msgs = events(sys.argv[3], "message")
    src = sys.argv[4]
    ids = {m["id"] for m in msgs}
    if len(msgs) != n or len(ids) != n:
        fail(f"weft got {len(msgs)} messages, {len(ids)} distinct ids; want {n}")
    prefix = b58(src).hex()
    for m in msgs:
        if m["from"] != src:
            fail(f"message from {m['from']}, want {src}")
        if not m["id"].startswith(prefix) or len(m["id"]) != len(prefix) + 16:
            fail(f"id {m['id']} is not the spec id from || seqno")
elif what == "js-received":  # js.out weft.out weft-peer-id
    got = events(sys.argv[3], "message")
    pub = events(sys.argv[4], "published")
    src = sys.argv[5]
    if len(pub) != n:
        fail(f"weft published {len(pub)}, want {n}")
    sent = {bytes.fromhex(p["id"]): p["sha256"] for p in pub}
    if len(got) != n:
        fail(f"js got {len(got)} messages, want {n}")
    seen = set()
    for m in got:
        mid = b64(m["msgId"])
        if mid not in sent:
            fail(f"js message id {m['msgId']} was not published by weft (id function mismatch?)")
        if hashlib.sha256(bytes.fromhex(m["dataHex"])).hexdigest() != sent[mid]:
            fail(f"data of {m['msgId']} differs from what weft published")
        if m["from"] != src:
            fail(f"js message from {m['from']}, want {src}")
        seen.add(mid)
    if len(seen) != n:
        fail(f"js got {len(seen)} distinct messages, want {n}")
elif what == "relayed":  # js2.out js1-peer-id weft-peer-id
    got = events(sys.argv[3], "message")
    ids = {m["msgId"] for m in got}
    if len(got) != n or len(ids) != n:
        fail(f"js2 got {len(got)} messages, {len(ids)} distinct; want {n}")
    for m in got:
        if m["from"] != sys.argv[4]:
            fail(f"js2 message from {m['from']}, want js1 {sys.argv[4]}")
        if m["propagationSource"] != sys.argv[5]:
            fail(f"js2 message came through {m['propagationSource']}, want weft {sys.argv[5]}")
PY

for transport in uring epoll; do
    export WEFT_TRANSPORT=$transport
    S="$T/$transport"

    # ---- (a) js dials weft and publishes; weft receives
    start_weft "$S-a-weft" --expect $N --timeout 60 --linger 500
    wpid=${pids[-1]}
    wait_event "$S-a-weft.out" listening 10
    check "$transport (a): weft started" $? "$S-a-weft.err"
    wma=$(first_field "$S-a-weft.out" listening multiaddr)
    start_js "$S-a-js" dial "$wma" --publish $N --interval 5 --timeout 60 --linger 500
    jpid=${pids[-1]}
    wait "$wpid"
    wrc=$?
    wait "$jpid"
    jrc=$?
    jsid=$(first_field "$S-a-js.out" listening peerId 2>/dev/null)
    [ $wrc -eq 0 ] && [ $jrc -eq 0 ] && python3 "$T/verify.py" weft-received $N "$S-a-weft.out" "$jsid"
    ok=$?
    check "$transport (a): js publishes $N, weft receives all (weft rc=$wrc, js rc=$jrc, weft got $(grep -c '"event":"message"' "$S-a-weft.out"))" \
        $ok "$S-a-weft.out" "$S-a-weft.err" "$S-a-js.out" "$S-a-js.err"

    # ---- (b) weft dials a js listener and publishes; js receives
    start_js "$S-b-js" listen --expect $N --timeout 60 --linger 200
    jpid=${pids[-1]}
    wait_event "$S-b-js.out" listening 20
    check "$transport (b): js listener started" $? "$S-b-js.err"
    jma=$(first_field "$S-b-js.out" listening multiaddr)
    start_weft "$S-b-weft" --peer "$jma" --publish $N --interval 5 --timeout 60 --linger 1000
    wpid=${pids[-1]}
    wait "$jpid"
    jrc=$?
    wait "$wpid"
    wrc=$?
    wid=$(first_field "$S-b-weft.out" listening peerId 2>/dev/null)
    [ $wrc -eq 0 ] && [ $jrc -eq 0 ] && python3 "$T/verify.py" js-received $N "$S-b-js.out" "$S-b-weft.out" "$wid"
    ok=$?
    check "$transport (b): weft publishes $N, js receives all (js rc=$jrc, weft rc=$wrc, js got $(grep -c '"event":"message"' "$S-b-js.out"))" \
        $ok "$S-b-js.out" "$S-b-js.err" "$S-b-weft.out" "$S-b-weft.err"

    # ---- (c) js1 -> weft -> js2
    start_weft "$S-c-weft" --expect $N --timeout 90 --linger 3000
    wpid=${pids[-1]}
    wait_event "$S-c-weft.out" listening 10
    check "$transport (c): weft relay started" $? "$S-c-weft.err"
    wma=$(first_field "$S-c-weft.out" listening multiaddr)
    wid=$(first_field "$S-c-weft.out" listening peerId)
    start_js "$S-c-js2" dial "$wma" --publish 0 --expect $N --timeout 90 --linger 200
    j2pid=${pids[-1]}
    # js2 must be in weft's mesh before js1 publishes: wait for its GRAFT.
    wait_event "$S-c-js2.out" graft 20
    check "$transport (c): js2 grafted to weft" $? "$S-c-js2.out" "$S-c-js2.err" "$S-c-weft.err"
    start_js "$S-c-js1" dial "$wma" --publish $N --interval 5 --timeout 90 --linger 500
    j1pid=${pids[-1]}
    wait "$j1pid"
    j1rc=$?
    wait "$j2pid"
    j2rc=$?
    wait "$wpid"
    wrc=$?
    j1id=$(first_field "$S-c-js1.out" listening peerId 2>/dev/null)
    [ $j1rc -eq 0 ] && [ $j2rc -eq 0 ] && [ $wrc -eq 0 ] &&
        python3 "$T/verify.py" relayed $N "$S-c-js2.out" "$j1id" "$wid"
    ok=$?
    check "$transport (c): js1 -> weft -> js2, $N messages (js1 rc=$j1rc, js2 rc=$j2rc, weft rc=$wrc, js2 got $(grep -c '"event":"message"' "$S-c-js2.out"))" \
        $ok "$S-c-js1.out" "$S-c-js1.err" "$S-c-weft.out" "$S-c-weft.err" "$S-c-js2.out" "$S-c-js2.err"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
