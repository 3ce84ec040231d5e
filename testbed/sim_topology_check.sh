#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-bench mesh --topology and --host-mbps (the simulator on the testbed's
# topology): a given graph is used as given (its edge count, every node
# reached), the JSON carries one time-to-all per publish, a shared host link
# makes a star's hub slower than links of their own, and malformed files are
# refused with the line and what was expected.
# usage: testbed/sim_topology_check.sh BUILD_DIR
set -euo pipefail
BENCH=$1/bench/weft-bench
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "sim_topology_check: FAIL: $*" >&2; exit 1; }

# a star: host 1 in the middle, 5 leaves, 30 ms each way
{ echo "nodes 6"; for i in 2 3 4 5 6; do echo "edge 1 $i 30   # leaf $i"; done; echo "edge 2 1 30"; } >"$T/star"
run() { timeout 120 "$BENCH" mesh --topology "$T/star" --mode gossipsub --msg 256K --publishes 3 \
    --link-mbps 50 --loss 0 --gap 500 --warmup 3 --json "$@" 2>/dev/null; }
own=$(run --host-mbps 0)
shared=$(run --host-mbps 50)
python3 - "$own" "$shared" <<'PY' || exit 1
import json, sys
own, shared = (json.loads(x) for x in sys.argv[1:])
for d in (own, shared):
    assert d["edges"] == 5, "edges %s: the duplicate edge must be kept once" % d["edges"]
    assert d["delivery_ratio"] == 1.0, d["delivery_ratio"]
    assert len(d["tta_ms"]) == 3, d["tta_ms"]
    assert d["topology"].endswith("star")
assert shared["host_mbps"] == 50 and own["host_mbps"] == 0
# the hub (or a leaf publisher through it) forwards to 4-5 peers: shared, it takes longer
assert shared["p50_ms"] > 1.5 * own["p50_ms"], (own["p50_ms"], shared["p50_ms"])
print("sim_topology_check: star p50 %.1f ms with links of their own, %.1f ms sharing the host's"
      % (own["p50_ms"], shared["p50_ms"]))
PY

bad() {
    printf '%b' "$1" >"$T/bad"
    set +e
    err=$("$BENCH" mesh --topology "$T/bad" --publishes 1 2>&1 >/dev/null)
    rc=$?
    set -e
    [ $rc = 2 ] || fail "'$1' accepted (rc $rc)"
    case $err in *"$2"*) ;; *) fail "'$1': error '$err' lacks '$2'" ;; esac
}
bad 'nodes 3\nedge 1 4 10\n' 'line 2: "edge 1 4 10"'
bad 'edge 1 2 10\n' "an edge before the 'nodes' line"
bad 'nodes 3\nedge 1 2 -5\n' 'latency in [0, 100000] ms'
bad 'nodes 3\nedge 2 2 5\n' 'two different hosts'
bad 'nodes 3\nwire 1 2\n' "'wire' is not 'nodes' or 'edge'"
bad 'nodes 1\n' "'nodes' wants one count in [2, 100000]"
bad 'nodes 3\n' 'no edges'
echo "sim_topology_check: ok"
