#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load a deployed weft: scale the workers, publish COUNT messages of SIZE
# bytes from each publishing worker at once while one worker subscribes,
# optionally delete a worker pod midway, and report delivered/sent.
set -euo pipefail
usage() {
    cat <<U
usage: deploy/scripts/stress-test.sh [--namespace NS] [--workers N] [--publishers P]
                                     [--count C] [--size BYTES] [--kill-one]
  defaults: namespace weft, 8 workers, 4 publishers, 200 messages, 1024 bytes
U
}
ns=weft workers=8 pubs=4 count=200 size=1024 kill=0
while [ $# -gt 0 ]; do
    case $1 in
    --namespace) ns=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --publishers) pubs=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --kill-one) kill=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "stress-test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[ "$pubs" -lt "$workers" ] || { echo "stress-test.sh: --publishers must be below --workers" >&2; exit 2; }
kubectl -n "$ns" scale statefulset/weft-worker --replicas="$workers"
kubectl -n "$ns" rollout status statefulset/weft-worker --timeout=300s
out=$(mktemp)
trap 'rm -f "$out"' EXIT
sub=weft-worker-$((workers - 1))
kubectl -n "$ns" exec "$sub" -- timeout 120 weft-client -mode subscribe -topic stress \
    -count $((pubs * count)) >"$out" 2>&1 &
subpid=$!
sleep 3
start=$(date +%s)
pids=()
for i in $(seq 0 $((pubs - 1))); do
    payload=$(head -c "$size" /dev/zero | tr '\0' x)
    kubectl -n "$ns" exec "weft-worker-$i" -- weft-client -mode publish -topic stress \
        -msg "$payload" -count "$count" -sleep 10ms >/dev/null &
    pids+=($!)
done
if [ $kill = 1 ]; then
    sleep 2
    kubectl -n "$ns" delete pod "weft-worker-$pubs" --wait=false
fi
for p in "${pids[@]}"; do wait "$p"; done
wait $subpid || true
got=$(grep -c '^Recv message' "$out" || true)
echo "sent $((pubs * count)) delivered $got in $(($(date +%s) - start)) s"
[ "$got" -ge $((pubs * count)) ] || exit 1
