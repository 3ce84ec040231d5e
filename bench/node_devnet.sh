#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-node on the 4-node devnet topology (free loopback ports, the devnet's
# node settings), per mode (optimum, gossipsub), one JSON line per figure:
#   publish throughput through the sidecars: msgs/s at 1 KiB, MB/s at 1 MiB
#     (round-robin over the 4 sidecars, a window of unacknowledged publishes,
#     subscribers on all 4 nodes receiving everything);
#   end-to-end latency p50/p99 (publish call to delivery at each subscriber)
#     at a fixed, unsaturated rate: 1 KiB at 200 msg/s, 1 MiB at 10 msg/s;
#   idle RSS per node and idle CPU (meshed, one topic subscribed, 10 s).
# Each load figure is the median of RUNS runs (default 3).
# usage: bench/node_devnet.sh [BUILD_DIR] [--runs R] [--out FILE.jsonl]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
[ $# -gt 0 ] && shift
RUNS=3 OUT=""
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: bench/node_devnet.sh [BUILD_DIR] [--runs R] [--out FILE.jsonl]" >&2; exit 2 ;;
    esac
done
export WEFT_NODE=$root/$BUILD/bin/weft-node
[ -x "$WEFT_NODE" ] || { echo "node_devnet: build first ($WEFT_NODE)" >&2; exit 1; }
PROTO=$root/proto
LOAD=$root/tests/node/js/load.js
export NODE_PATH=$root/tests/node/js/node_modules
. "$root/tests/node/lib.sh"
set -a
. "$root/ci/devnet.env"
set +a
emit() {
    echo "$1"
    [ -n "$OUT" ] && echo "$1" >>"$OUT"
    return 0
}
progress() { echo "node_devnet: $*" >&2; }

# median FIELD of the JSON lines on stdin
median() { python3 -c '
import json, statistics, sys
f = sys.argv[1]
v = [json.loads(l)[f] for l in sys.stdin if l.strip()]
print(statistics.median(v) if v else "null")' "$1"; }

run_mode() {
    local mode=$1 i
    export NODE_MODE=$mode
    read -r -a P < <(free_ports 12)
    start_node "b1-$mode" "$mode" "${P[0]}" "${P[1]}" "${P[2]}" ""
    wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
    local id1 boot
    id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/b1-$mode" "$WEFT_NODE" peer-id)
    boot="/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
    for i in 1 2 3; do
        start_node "b$((i + 1))-$mode" "$mode" "${P[$((3 * i))]}" "${P[$((3 * i + 1))]}" "${P[$((3 * i + 2))]}" "$boot"
    done
    for i in 1 2 3; do wait_peers "127.0.0.1:${P[$((3 * i + 2))]}" 1 20 || die "node $((i + 1)) did not join"; done
    local nodes="127.0.0.1:${P[1]},127.0.0.1:${P[4]},127.0.0.1:${P[7]},127.0.0.1:${P[10]}"
    local pids=()
    for i in 1 2 3 4; do pids+=("$(cat "$WEFT_TEST_TMP/b$i-$mode.pid")"); done

    # Idle: one subscriber per node keeps a topic joined, nothing published.
    progress "$mode: idle RSS and CPU (10 s)"
    node -e '
const grpc=require("@grpc/grpc-js"),l=require("@grpc/proto-loader");
const p=grpc.loadPackageDefinition(l.loadSync(process.argv[1]+"/p2p_stream.proto",{keepCase:true})).proto;
for (const a of process.argv[2].split(",")) { const c=new p.CommandStream(a,grpc.credentials.createInsecure()).ListenCommands();
  c.on("error",()=>{}); c.write({command:2,topic:"idle"}); }
setTimeout(()=>process.exit(0),14000);' "$PROTO" "$nodes" &
    local idler=$! tick cpu0=() cpu1=()
    sleep 3
    tick=$(getconf CLK_TCK)
    for pid in "${pids[@]}"; do cpu0+=("$(awk '{print $14+$15}' "/proc/$pid/stat")"); done
    sleep 10
    for pid in "${pids[@]}"; do cpu1+=("$(awk '{print $14+$15}' "/proc/$pid/stat")"); done
    for i in 0 1 2 3; do
        local rss cpu
        rss=$(awk '/^VmRSS/{print $2*1024}' "/proc/${pids[$i]}/status")
        cpu=$(python3 -c "print(round(100.0*(${cpu1[$i]}-${cpu0[$i]})/$tick/10.0, 2))")
        emit "{\"bench\":\"node_devnet\",\"figure\":\"idle\",\"mode\":\"$mode\",\"node\":$((i + 1)),\"rss_bytes\":$rss,\"rss_mb\":$(python3 -c "print(round($rss/1048576,1))"),\"cpu_percent\":$cpu,\"seconds\":10}"
    done
    wait $idler 2>/dev/null || true

    local r tmp=$WEFT_TEST_TMP/$mode.runs
    for shape in "throughput 1024 5000 --window 32" "throughput 1048576 100 --window 2" \
                 "latency 1024 2000 --rate 200" "latency 1048576 60 --rate 10"; do
        set -- $shape
        local fig=$1 size=$2 count=$3
        shift 3
        : >"$tmp"
        for ((r = 1; r <= RUNS; r++)); do
            progress "$mode: $fig, $count x $size B, run $r/$RUNS"
            node "$LOAD" --proto "$PROTO" --nodes "$nodes" --count "$count" --size "$size" "$@" \
                --timeout 120 --json --label "$mode-$fig-$size" >>"$tmp" || die "load run failed: $(tail -1 "$tmp")"
        done
        local line
        line=$(python3 - "$tmp" "$mode" "$fig" "$size" "$count" "$RUNS" <<'PY'
import json, statistics, sys
path, mode, fig, size, count, runs = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
med = lambda k: statistics.median(r[k] for r in rows)
out = {"bench": "node_devnet", "figure": fig, "mode": mode, "size": int(size), "count": int(count),
       "runs": int(runs), "nodes": 4, "publishers": 4, "subscribers": 4,
       "window": rows[0]["window"], "rate": rows[0]["rate"],
       "publish_msgs_per_s": med("publish_msgs_per_s"), "publish_mb_per_s": med("publish_mb_per_s"),
       "latency_ms_p50": med("latency_ms_p50"), "latency_ms_p99": med("latency_ms_p99"),
       "missing": sum(sum(r["missing"]) for r in rows),
       "per_run_msgs_per_s": [r["publish_msgs_per_s"] for r in rows],
       "per_run_p99_ms": [r["latency_ms_p99"] for r in rows]}
print(json.dumps(out))
PY
)
        emit "$line"
    done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

[ -n "$OUT" ] && : >"$OUT"
for mode in optimum gossipsub; do run_mode "$mode"; done
