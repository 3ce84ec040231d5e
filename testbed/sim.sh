#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The simulator on the testbed's topology: for every line of a testbed run,
# weft-bench mesh on the same graph (the connections the nodes made) and
# one-way delays (weft-netem's matrix), link loss and jitter, message size and
# number of publishes, in two bandwidth models:
#   per-connection  every connection gets the host's --bw of its own (the
#                   simulator's model before --host-mbps; no sharing)
#   per-host        the same, and besides every node's uplink and downlink
#                   carry --bw in all (--host-mbps: the testbed's tbf model)
# One JSON line per (mode, size, model): the simulator's figures, its
# tta_ms, and p99_ratio_sim_over_testbed.
# usage: testbed/sim.sh RESULTS.jsonl LOGDIR [BUILD] > SIM.jsonl
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: testbed/sim.sh RESULTS.jsonl LOGDIR [BUILD] > SIM.jsonl" >&2; exit 2; }
RES=$1 LOGDIR=$2 BUILD=${3:-$root/build}
BENCH=$BUILD/bench/weft-bench
[ -x "$BENCH" ] || { echo "sim: no $BENCH (build with WEFT_BUILD_BENCH=ON)" >&2; exit 1; }
while IFS= read -r line; do
    [ -n "$line" ] || continue
    read -r mode size count bw loss jitter timeout p99 < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
l = d["link"]
print(d["mode"], d["size"], d["count"], l["bw_mbit"], l["loss"] * 100, l["jitter_ms"],
      d["timeout_ms"] / 1000, d["tta_ms_p99"])' "$line")
    topo=$LOGDIR/$mode.topology
    [ -f "$topo" ] || { echo "sim: no $topo" >&2; exit 1; }
    case $mode in
    # the node's coded-mesh settings (the guides' defaults), not the router's own
    optimum) m=(--mode rlnc --k 4 --mult 1.5 --threshold 0.75) ;;
    gossipsub-1.2) m=(--mode gossipsub --idontwant 1) ;;
    *) m=(--mode gossipsub --idontwant 0) ;;
    esac
    for model in per-connection per-host; do
        host=0
        [ $model = per-host ] && host=$bw
        echo "sim: $mode $size B, $model" >&2
        out=$(nice "$BENCH" mesh --topology "$topo" "${m[@]}" --msg "$size" --publishes "$count" \
            --link-mbps "$bw" --host-mbps "$host" --loss "$loss" --jitter-ms "$jitter" --timeout "$timeout" \
            --gap 1000 --json 2>/dev/null)
        python3 -c '
import json, sys
s = json.loads(sys.argv[1])
s.update(testbed_mode=sys.argv[2], bandwidth_model=sys.argv[3], msg=int(sys.argv[4]))
tb = float(sys.argv[5]) if sys.argv[5] != "None" else None
s["testbed_p99_ms"] = tb
s["p99_ratio_sim_over_testbed"] = round(s["p99_ms"] / tb, 3) if tb else None
print(json.dumps(s))' "$out" "$mode" "$model" "$size" "$p99"
    done
done <"$RES"
