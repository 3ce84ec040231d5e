#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-proxy over the 4-node devnet topology (free loopback ports), one JSON
# line per figure (medians of RUNS runs where a figure is repeated):
#   health:   wrk on GET /api/v1/health (2 threads, 64 connections, 10 s)
#   publish:  wrk POSTing distinct 1 KiB messages to /api/v1/publish on
#             proxy 1 for 10 s: accepted/s (wrk), published into the mesh/s
#             (the nodes' counters over the same 10 s) and delivered/s at
#             node 1 (until its delivered counter stops growing)
#   fanout:   10,000 WebSocket clients on proxy 1 (each subscribed by REST),
#             one message published through proxy 2: publish to last arrival
#   failover: wrk publishing for 20 s while node 4 is killed at 8 s: non-2xx
#             answers, and whether the subscriber kept receiving
# usage: bench/proxy_devnet.sh [BUILD_DIR] [--runs R] [--out FILE.jsonl] [--fanout N]
#        SECTIONS="health publish fanout failover" (the default: all) picks figures
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
[ $# -gt 0 ] && shift
RUNS=3 OUT="" FANOUT=10000
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --fanout) FANOUT=$2; shift 2 ;;
    *) echo "usage: bench/proxy_devnet.sh [BUILD_DIR] [--runs R] [--out FILE.jsonl] [--fanout N]" >&2; exit 2 ;;
    esac
done
export WEFT_NODE=$root/$BUILD/bin/weft-node
PROXY=$root/$BUILD/bin/weft-proxy
JS=$root/tests/node/js
export NODE_PATH=$JS/node_modules
command -v wrk >/dev/null || { echo "proxy_devnet: wrk is missing (ci/install-deps.sh)" >&2; exit 1; }
. "$root/tests/node/lib.sh"
set -a
. "$root/ci/devnet.env"
set +a
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
emit() { echo "$1"; [ -n "$OUT" ] && echo "$1" >>"$OUT"; return 0; }
progress() { echo "proxy_devnet: $*" >&2; }
[ -n "$OUT" ] && : >"$OUT"

read -r -a P < <(free_ports 16)
start_star 4 optimum 3
nodes=$sidecars
for k in 1 2; do
    env CLUSTER_ID="proxy-$k" PROXY_PORT=":${P[$((10 + 2 * k))]}" PROXY_GRPC_PORT=":${P[$((11 + 2 * k))]}" \
        P2P_NODES="$nodes" WEFT_LISTEN_IP=127.0.0.1 LOG_LEVEL=warn "$root/$BUILD/bin/weft-proxy" \
        >>"$WEFT_TEST_TMP/proxy-$k.log" 2>&1 &
    WEFT_TEST_PIDS+=("$!")
done
R1=127.0.0.1:${P[12]} R2=127.0.0.1:${P[14]}
for r in $R1 $R2; do
    end=$((SECONDS + 15))
    until curl -fsS -m 2 "http://$r/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":4'; do
        [ $SECONDS -lt $end ] || die "proxy $r did not connect"
        sleep 0.2
    done
done

rps() { awk '/^Requests\/sec:/ {print $2}'; }
median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.stdin.read().split()]; print(statistics.median(v) if v else "null")'; }

SECTIONS=${SECTIONS:-health publish fanout failover}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

# ---- health ----------------------------------------------------------------------
if want health; then
vals=""
for ((r = 1; r <= RUNS; r++)); do
    progress "health: wrk run $r/$RUNS"
    v=$(wrk -t2 -c64 -d10s "http://$R1/api/v1/health" | rps)
    vals="$vals $v"
done
fi
want health && emit "{\"bench\":\"proxy_devnet\",\"figure\":\"health\",\"tool\":\"wrk -t2 -c64 -d10s\",\"runs\":$RUNS,\"req_per_s\":$(echo $vals | median),\"per_run\":[$(echo $vals | tr ' ' ',')]}"

# ---- publish 1 KiB end to end ------------------------------------------------------
topic="bench-$(date +%s)"
msg=$(head -c 768 /dev/urandom | base64 -w0 | head -c 1024)
# Every request a distinct message (a counter and the wrk thread in front),
# so deliveries can be told apart; a repeat would be a new message as well
# (docs/spec/message-ids.md).
cat >"$WEFT_TEST_TMP/publish.lua" <<LUA
local n = 0
local prefix = ""
tid = 0
local body = "$msg"
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
-- a prefix per wrk run and thread: runs never repeat a message
function init(args) prefix = string.format("%d-%d-%d-", os.time(), tid, math.random(1000000)) end
function request()
  n = n + 1
  local m = prefix .. string.format("%09d-", n) .. body:sub(1, 1024 - 40)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"client_id":"bench","topic":"$topic","message":"' .. m .. '"}')
end
LUA
curl -fsS -X POST "http://$R2/api/v1/subscribe" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"counter\",\"topic\":\"$topic\"}" >/dev/null
node -e '
const WebSocket=require("ws"); let n=0; const ws=new WebSocket(process.argv[1]);
ws.on("message",()=>{n++;}); ws.on("open",()=>console.error("counter open"));
process.on("SIGTERM",()=>{console.log(n);process.exit(0);});' "ws://$R2/api/v1/ws?client_id=counter" \
    >"$WEFT_TEST_TMP/counter.out" 2>/dev/null &
counter=$!
sleep 1
# warm the topic's mesh with a few publishes
for i in 1 2 3 4 5; do curl -fsS -X POST "http://$R1/api/v1/publish" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"bench\",\"topic\":\"$topic\",\"message\":\"warm $i\"}" >/dev/null; sleep 0.3; done
sleep 2
# Into the mesh: the nodes' published counters; end to end: node 1's
# deliveries (messages published on the other three nodes that reached it),
# counted until they stop growing.
node_sum() { local t=0 i v; for i in 0 1 2 3; do
    v=$(curl -fsS "http://127.0.0.1:${P[$((3 * i + 2))]}/metrics" | awk -v m="$1" '$1 == m {print $2}')
    t=$((t + ${v:-0})); done; echo $t; }
node1() { curl -fsS "http://127.0.0.1:${P[2]}/metrics" | awk '$1 == "weft_node_messages_delivered_total" {print $2}'; }
if want publish; then
acc="" mesh="" del=""
for ((r = 1; r <= RUNS; r++)); do
    progress "publish: wrk run $r/$RUNS"
    p0=$(node_sum weft_node_messages_published_total) d0=$(node1)
    t0=$(date +%s.%N)
    v=$(wrk -t2 -c32 -d10s -s "$WEFT_TEST_TMP/publish.lua" "http://$R1/api/v1/publish" | rps)
    t1=$(date +%s.%N)
    last=$(node1) tl=$(date +%s.%N) still=0
    while [ $still -lt 4 ]; do
        sleep 0.5
        cur=$(node1)
        if [ "$cur" = "$last" ]; then still=$((still + 1)); else last=$cur tl=$(date +%s.%N) still=0; fi
    done
    p1=$(node_sum weft_node_messages_published_total)
    m=$(python3 -c "print(round(($p1-$p0)/($t1-$t0),1))")
    d=$(python3 -c "print(round(($last-$d0)/($tl-$t0),1))")
    acc="$acc $v" mesh="$mesh $m" del="$del $d"
done
emit "{\"bench\":\"proxy_devnet\",\"figure\":\"publish\",\"size\":1024,\"tool\":\"wrk -t2 -c32 -d10s POST /api/v1/publish\",\"runs\":$RUNS,\"accepted_per_s\":$(echo $acc | median),\"into_mesh_per_s\":$(echo $mesh | median),\"delivered_node1_per_s\":$(echo $del | median),\"per_run_accepted\":[$(echo $acc | tr ' ' ',')],\"per_run_into_mesh\":[$(echo $mesh | tr ' ' ',')],\"per_run_delivered_node1\":[$(echo $del | tr ' ' ',')]}"
fi
kill -TERM $counter 2>/dev/null; wait $counter 2>/dev/null || true

if want fanout; then
# ---- fan-out to FANOUT WebSocket clients -----------------------------------------------
ftopic="fan-$(date +%s)"
progress "fanout: subscribing $FANOUT clients"
node -e '
const [base, topic, n] = [process.argv[1], process.argv[2], +process.argv[3]];
let i = 0, fails = 0;
async function lane() { while (i < n) { const k = i++;
  const r = await fetch(base + "/api/v1/subscribe", {method:"POST", headers:{"content-type":"application/json"},
    body: JSON.stringify({client_id: "fan" + k, topic})}); if (r.status !== 200) fails++; await r.text(); } }
Promise.all(Array.from({length: 32}, lane)).then(() => { if (fails) { console.error("subscribe failures", fails); process.exit(1); } });
' "http://$R1" "$ftopic" "$FANOUT"
fan=""
for ((r = 1; r <= RUNS; r++)); do
    progress "fanout: run $r/$RUNS ($FANOUT clients)"
    node "$JS/ws_fanout.js" --url "ws://$R1/api/v1/ws" --n "$FANOUT" --timeout 120 --prefix fan \
        >"$WEFT_TEST_TMP/fan.out" 2>"$WEFT_TEST_TMP/fan.err" &
    fp=$!
    end=$((SECONDS + 90))
    until grep -q ready "$WEFT_TEST_TMP/fan.err" 2>/dev/null; do
        [ $SECONDS -lt $end ] || die "fan-out clients did not connect: $(tail -2 "$WEFT_TEST_TMP/fan.err")"
        sleep 0.2
    done
    sleep 1
    tp=$(python3 -c 'import time; print(round(time.time()*1000,3))')
    curl -fsS -X POST "http://$R2/api/v1/publish" -H 'Content-Type: application/json' \
        -d "{\"client_id\":\"bench\",\"topic\":\"$ftopic\",\"message\":\"fan-out $r\"}" >/dev/null
    wait $fp || die "fan-out run $r: not every client got the message: $(cat "$WEFT_TEST_TMP/fan.out")"
    line=$(cat "$WEFT_TEST_TMP/fan.out")
    ms=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(round(d['last_at_ms']-$tp,1))" "$line")
    spread=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['first_to_last_ms'])" "$line")
    fan="$fan $ms"
    emit "{\"bench\":\"proxy_devnet\",\"figure\":\"fanout_run\",\"run\":$r,\"clients\":$FANOUT,\"publish_to_last_ms\":$ms,\"first_to_last_ms\":$spread}"
    # the previous run's connections must be gone before the next opens
    # FANOUT more (descriptors)
    end=$((SECONDS + 30))
    until curl -fsS "http://$R1/metrics" | grep '^active_ws_clients 0$' >/dev/null; do
        [ $SECONDS -lt $end ] || break
        sleep 0.5
    done
    sleep 2
done
emit "{\"bench\":\"proxy_devnet\",\"figure\":\"fanout\",\"clients\":$FANOUT,\"runs\":$RUNS,\"publish_to_last_ms\":$(echo $fan | median),\"per_run\":[$(echo $fan | tr ' ' ',')]}"
fi

if want failover; then
# ---- failover: kill node 4 under publish load ---------------------------------------------
progress "failover: wrk for 20 s, node 4 killed at 8 s"
before=$(curl -fsS "http://$R2/metrics" | awk '/^weft_proxy_client_deliveries_total/ {print $2}')
curl -fsS -X POST "http://$R2/api/v1/subscribe" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"counter2\",\"topic\":\"$topic\"}" >/dev/null
node -e '
const WebSocket=require("ws"); const t=[]; const ws=new WebSocket(process.argv[1]);
ws.on("message",()=>{t.push(Date.now());});
process.on("SIGTERM",()=>{ let gap=0; for (let i=1;i<t.length;i++) gap=Math.max(gap,t[i]-t[i-1]);
  console.log(JSON.stringify({received:t.length,max_gap_ms:gap})); process.exit(0);});' \
    "ws://$R2/api/v1/ws?client_id=counter2" >"$WEFT_TEST_TMP/counter2.out" 2>/dev/null &
counter=$!
sleep 1
(sleep 8; kill -KILL "$(cat "$WEFT_TEST_TMP/n4.pid")") &
wrk -t2 -c32 -d20s -s "$WEFT_TEST_TMP/publish.lua" "http://$R1/api/v1/publish" >"$WEFT_TEST_TMP/failover.wrk"
sleep 3
kill -TERM $counter; wait $counter 2>/dev/null || true
total=$(awk '/requests in/ {print $1}' "$WEFT_TEST_TMP/failover.wrk")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$WEFT_TEST_TMP/failover.wrk"); non2xx=${non2xx:-0}
errs=$(curl -fsS "http://$R1/metrics" | awk '/^publish_error_total/ {print $2}')
emit "{\"bench\":\"proxy_devnet\",\"figure\":\"failover\",\"requests\":$total,\"non_2xx\":$non2xx,\"publish_errors_total\":$errs,\"subscriber\":$(cat "$WEFT_TEST_TMP/counter2.out")}"
fi
