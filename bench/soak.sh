#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The soak (issue 20; a bench, not CI): the devnet topology (4 weft-node, 2
# weft-proxy over all four sidecars) on free loopback ports under a mixed load
# (bench/soak_load.js: REST publishes of 64 B..256 KiB, WebSocket subscribers
# that churn, gRPC ClientStreams, sidecar subscribers) for SOAK_MINUTES; RSS and
# open descriptors of every process sampled every SOAK_SAMPLE_S seconds. Writes
# JSON lines (one per process and sample, plus the load's per-minute counters)
# and an SVG plot; growth after the warm-up is reported per process.
# usage: bench/soak.sh [BUILD_DIR] [--minutes M] [--out FILE.jsonl] [--plot FILE.svg]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=build MINUTES=${SOAK_MINUTES:-30} SAMPLE=${SOAK_SAMPLE_S:-60}
OUT=$root/bench/results/soak.jsonl PLOT=$root/bench/results/soak.svg
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --plot) PLOT=$2; shift 2 ;;
    -h | --help) sed -n 2,10p "$0"; exit 0 ;;
    -*) echo "soak: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1; shift ;;
    esac
done
WEFT_NODE=$root/$BUILD/bin/weft-node WEFT_PROXY=$root/$BUILD/bin/weft-proxy
[ -x "$WEFT_NODE" ] && [ -x "$WEFT_PROXY" ] || { echo "soak: build first (make build)" >&2; exit 2; }
here=$root/tests/node
. "$here/lib.sh"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$("$root/$BUILD/bin/weft-codec" --version 2>/dev/null | sed -n 's/^kernels: //p' || true)

read -r -a P < <(free_ports 16)
start_star 4 optimum 3
for k in 1 2; do
    start_proxy "proxy-$k" "${P[$((10 + 2 * k))]}" "${P[$((11 + 2 * k))]}" "$sidecars"
done
for k in 1 2; do wait_api "127.0.0.1:${P[$((10 + 2 * k))]}" 15 || die "proxy $k did not start"; done
sleep 2

NODE_PATH=$here/js/node_modules node "$root/bench/soak_load.js" \
    --proxies "127.0.0.1:${P[12]},127.0.0.1:${P[14]}" --grpc "127.0.0.1:${P[13]},127.0.0.1:${P[15]}" \
    --sidecars "$sidecars" --proto "$root/proto" --minutes "$MINUTES" >"$WEFT_TEST_TMP/load.jsonl" &
load=$!
WEFT_TEST_PIDS+=("$load")

mkdir -p "$(dirname "$OUT")"
: >"$OUT.tmp"
t0=$SECONDS
IFS=, read -r -a APIS <<<"$apis"
# the /metrics of each process: node APIs, then the proxies' REST ports
metrics_of() {
    case $1 in
    n*) echo "${APIS[$((${1#n} - 1))]}" ;;
    proxy-*) echo "127.0.0.1:${P[$((10 + 2 * ${1#proxy-}))]}" ;;
    esac
}
# one gauge from a scrape ("null" when absent)
gauge() { awk -v n="$1" '$1 == n {print $2; f = 1} END {if (!f) print "null"}' "$2"; }
sample() {
    local name pid rss fds m
    for name in n1 n2 n3 n4 proxy-1 proxy-2; do
        pid=$(cat "$WEFT_TEST_TMP/$name.pid")
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -1)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        m=$WEFT_TEST_TMP/scrape
        curl -s -m 5 -o "$m" "http://$(metrics_of "$name")/metrics" || : >"$m"
        printf '{"bench":"soak","commit":"%s","kernels":"%s","t_s":%d,"process":"%s","rss_kib":%s,"fds":%d,"heap_inuse":%s,"heap_free":%s,"clients":%s,"series":%s}\n' \
            "$commit" "$cpu" $((SECONDS - t0)) "$name" "$rss" "$fds" \
            "$(gauge weft_process_heap_inuse_bytes "$m")" "$(gauge weft_process_heap_free_bytes "$m")" \
            "$(gauge weft_proxy_clients "$m")" "$(grep -c -v '^#' "$m" || true)" >>"$OUT.tmp"
    done
}
echo "soak: $MINUTES min, sampling every $SAMPLE s (commit $commit)" >&2
sample
while kill -0 "$load" 2>/dev/null; do
    sleep "$SAMPLE"
    sample
    echo "soak: $(((SECONDS - t0) / 60)) of $MINUTES min; $(tail -n 1 "$WEFT_TEST_TMP/load.jsonl" 2>/dev/null)" >&2
done
wait "$load" || die "the load failed"
sed "s/^{/{\"bench\":\"soak_load\",\"commit\":\"$commit\",/" "$WEFT_TEST_TMP/load.jsonl" >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"

# growth after the warm-up (the first fifth): last sample against the
# warm-up's, per process
python3 - "$OUT" <<'PY' | tee -a "$OUT"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"process"' in l]
end = max(r["t_s"] for r in rows)
for p in sorted({r["process"] for r in rows}):
    s = [r for r in rows if r["process"] == p]
    warm = [r for r in s if r["t_s"] >= end / 5] or s
    print(json.dumps({"bench": "soak_summary", "commit": s[0]["commit"], "process": p, "rss_kib_after_warmup": warm[0]["rss_kib"],
                      "rss_kib_end": s[-1]["rss_kib"], "fds_after_warmup": warm[0]["fds"],
                      "fds_end": s[-1]["fds"], "heap_inuse_after_warmup": warm[0].get("heap_inuse"),
                      "heap_inuse_end": s[-1].get("heap_inuse"), "heap_free_end": s[-1].get("heap_free"),
                      "minutes": round(end / 60, 1)}))
PY
dat=$WEFT_TEST_TMP/plot
mkdir -p "$dat"
python3 - "$OUT" "$dat" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("bench") == "soak":
        with open(f"{sys.argv[2]}/{r['process']}.dat", "a") as f:
            f.write(f"{r['t_s'] / 60:.2f} {r['rss_kib'] / 1024:.1f}\n")
PY
gnuplot <<GP
set terminal svg size 900,420 dynamic
set output "$PLOT"
set title "weft soak ($commit, $MINUTES min): RSS of each process"
set xlabel "minutes"
set ylabel "RSS (MiB)"
set yrange [0:*]
set key outside right
plot for [p in "n1 n2 n3 n4 proxy-1 proxy-2"] "$dat/".p.".dat" using 1:2 with linespoints title p
GP
echo "soak: results in $OUT, plot in $PLOT" >&2
