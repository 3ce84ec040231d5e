#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-client against two real weft-node processes: the guides' publish and
# subscribe output lines, -count and -sleep, trace printing, the load modes
# (multi-publish / multi-subscribe) with their TSV files cross-checked by
# sha256, and usage errors.
# usage: client_cli.sh WEFT_NODE WEFT_CLIENT
set -euo pipefail
WEFT_NODE=$1 CLIENT=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

read -r p1 s1 a1 p2 s2 a2 < <(free_ports 6)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "$p2" "$s2" "$a2" "/ip4/127.0.0.1/tcp/$p1/p2p/$id1"
wait_peers "127.0.0.1:$a2" 1 15 || die "node 2 did not connect"

# ---- single subscribe / publish, the guides' lines ------------------------------
# -mode defaults to subscribe (the guides' p2p-client); progress lines go to
# stderr, with the guides' U+2026 ellipsis.
sub=$WEFT_TEST_TMP/sub.out suberr=$WEFT_TEST_TMP/sub.err
"$CLIENT" -addr "127.0.0.1:$s1" -topic t1 -count 5 >"$sub" 2>"$suberr" &
sp=$!
for _ in $(seq 1 50); do grep -q Subscribed "$sub" && break; sleep 0.1; done
ell=$(printf '\342\200\246')
[ "$(head -1 "$sub")" = "Subscribed to topic \"t1\", waiting for messages$ell" ] || die "subscribe line: $(head -1 "$sub")"
[ "$(sed -n 1p "$suberr")" = "Connecting to node at: 127.0.0.1:$s1$ell" ] || die "connecting line: $(cat "$suberr")"
[ "$(sed -n 2p "$suberr")" = "Trying to subscribe to topic t1$ell" ] || die "trying line: $(cat "$suberr")"
# Publish until the subscription has spread, then 5 counted messages.
for i in $(seq 1 20); do
    "$CLIENT" -mode publish -addr "127.0.0.1:$s2" -topic t1 -msg "warm$i" >/dev/null
    grep -q "Recv message" "$sub" && break
    sleep 0.2
done
pub=$WEFT_TEST_TMP/pub.out
"$CLIENT" --mode=publish -addr "127.0.0.1:$s2" -topic t1 -msg "hello weft" -count 5 -sleep 100ms >"$pub" 2>&1 ||
    die "publish failed: $(cat "$pub")"
[ "$(grep -c '^Published "\[[0-9]\{19\} 10\] hello weft" to "t1" (took [0-9.]*[µm]*s)$' "$pub")" -eq 5 ] ||
    die "publish lines: $(cat "$pub")"
wait "$sp" || die "subscriber exited $?: $(cat "$sub")"
# The subscriber stops after -count 5 messages: some may be warm-ups; each
# line is "Recv message: [n] [<ns> <size>] <payload>".
[ "$(grep -c '^Recv message: \[[1-5]\] \[[0-9]\{19\} [0-9]*\] \[[0-9]\{19\} [0-9]*\] \(warm[0-9]*\|hello weft\)$' "$sub")" -eq 5 ] ||
    die "recv lines: $(cat "$sub")"

# ---- traces are printed ------------------------------------------------------------
tr=$WEFT_TEST_TMP/trace.out
"$CLIENT" -mode subscribe -addr "127.0.0.1:$s1" -topic t2 -count 1 >"$tr" 2>&1 &
tp=$!
for i in $(seq 1 30); do
    "$CLIENT" -mode publish -addr "127.0.0.1:$s2" -topic t2 -msg "x$i" >/dev/null
    grep -q "Recv message" "$tr" && break
    sleep 0.2
done
wait "$tp" || true
grep -q '^\[TRACE\] OptimumP2P type=[A-Z_]* ts=20[0-9-]*T[0-9:.]*Z size=[0-9]*B$' "$tr" || die "no trace line: $(head -5 "$tr")"
# The guides' JSON line of each event: Go encoding/json, its length in the
# prefix, the type and timestamp as numbers, peer ids in base64; the
# subscriber sees the JOIN of its own topic, the SEND_RPC of the
# subscription announcement to node 2, and NEW_SHARD detail lines.
python3 - "$tr" <<'PY' || die "trace JSON: $(grep TRACE "$tr" | head -20)"
import base64, json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
events, shard_lines = [], 0
for i, l in enumerate(lines):
    m = re.match(r"^\[TRACE\] OptimumP2P JSON \((\d+)B\): (.*)$", l)
    if m:
        assert int(m.group(1)) == len(m.group(2).encode()), l
        ev = json.loads(m.group(2))
        assert isinstance(ev["type"], int) and isinstance(ev["timestamp"], int), l
        assert len(base64.b64decode(ev["peerID"], validate=True)) >= 32, l
        events.append(ev)
    if re.match(r"^  NEW_SHARD id=[0-9a-f]+ coeff=[0-9a-f]+$", l):
        shard_lines += 1
        assert lines[i - 1].startswith("[TRACE] OptimumP2P type=NEW_SHARD "), lines[i - 1]
joins = [e for e in events if e["type"] == 9]
assert any(e.get("join", {}).get("topic") == "t2" for e in joins), "no JOIN of t2"
sends = [e for e in events if e["type"] == 7]
assert sends and all(len(base64.b64decode(e["sendRPC"]["sendTo"])) >= 32 and e["sendRPC"]["length"] > 0
                     for e in sends), "no SEND_RPC"
shards = [e for e in events if e["type"] == 16]
assert len(shards) == shard_lines, (len(shards), shard_lines)
for e in shards:
    assert base64.b64decode(e["newShard"]["messageID"]) and base64.b64decode(e["newShard"]["coefficients"])
print("traces: %d events, %d JOIN, %d SEND_RPC, %d NEW_SHARD" % (len(events), len(joins), len(sends), len(shards)))
PY

# ---- load modes ---------------------------------------------------------------------
ips=$WEFT_TEST_TMP/ips.txt
printf '# the two nodes\n127.0.0.1:%s\n127.0.0.1:%s\n' "$s1" "$s2" >"$ips"
data=$WEFT_TEST_TMP/recv.tsv
"$CLIENT" -mode multi-subscribe -ipfile "$ips" -topic t3 -output-data "$data" >"$WEFT_TEST_TMP/msub.out" 2>&1 &
mp=$!
sleep 1
for i in $(seq 1 30); do   # warm up until both nodes see each other's messages
    "$CLIENT" -mode publish -addr "127.0.0.1:$s1" -topic t3 -msg "w$i" >/dev/null
    "$CLIENT" -mode publish -addr "127.0.0.1:$s2" -topic t3 -msg "w$i" >/dev/null
    [ -f "$data" ] && [ "$(cut -f1 "$data" | sort -u | wc -l)" -ge 2 ] && break
    sleep 0.3
done
sent=$WEFT_TEST_TMP/sent.tsv
"$CLIENT" -mode multi-publish -ipfile "$ips" -topic t3 -count 20 -datasize 300 -sleep 10ms -output "$sent" \
    >"$WEFT_TEST_TMP/mpub.out" 2>&1 || die "multi-publish failed: $(cat "$WEFT_TEST_TMP/mpub.out")"
[ "$(wc -l <"$sent")" -eq 40 ] || die "multi-publish wrote $(wc -l <"$sent") lines, expected 40"
awk -F'\t' 'NF != 3 || $2 != 300 || length($3) != 64 { bad = 1 } END { exit bad }' "$sent" ||
    die "multi-publish TSV: $(head -3 "$sent")"
# every published digest reaches both receivers
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
    missing=0
    while IFS=$'\t' read -r _ _ h; do
        [ "$(grep -c "$h" "$data")" -ge 2 ] || missing=$((missing + 1))
    done <"$sent"
    [ $missing -eq 0 ] && break
    sleep 0.5
done
kill -INT "$mp"; wait "$mp" || true
missing=0   # again, with everything the subscriber wrote before it exited
while IFS=$'\t' read -r _ _ h; do
    [ "$(grep -c "$h" "$data")" -ge 2 ] || missing=$((missing + 1))
done <"$sent"
[ $missing -eq 0 ] || die "$missing of 40 published messages did not reach both subscribers"
awk -F'\t' 'NF != 4 { bad = 1 } END { exit bad }' "$data" || die "multi-subscribe TSV: $(head -3 "$data")"

# ---- usage errors ---------------------------------------------------------------------
rc=0; "$CLIENT" -mode publish -addr "127.0.0.1:$s2" -msg x >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || die "missing -topic: exit $rc, expected 2"
"$CLIENT" -version | grep -q '^weft-client [0-9.]* (commit [0-9a-f]\{7\}\|unknown' || die "-version: $("$CLIENT" -version)"
rc=0; "$CLIENT" -mode dance -topic t >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || die "bad -mode: exit $rc, expected 2"
rc=0; "$CLIENT" -mode publish -topic t -msg x -sleep 5parsecs >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || die "bad -sleep: exit $rc, expected 2"
read -r dead < <(free_ports 1)
rc=0; timeout 30 "$CLIENT" -mode publish -addr "127.0.0.1:$dead" -topic t -msg x >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || die "unreachable node: exit $rc, expected 1"
echo "client_cli: ok"
