#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of a deployed weft (deploy.sh): every pod ready, every node's
# health ok and its role as configured, every non-bootstrap node connected
# to at least one peer, and a message published on one worker delivered on
# another (weft-client inside the pods).
set -euo pipefail
usage() {
    cat <<U
usage: deploy/scripts/test.sh [--namespace NS] [--timeout SECONDS]
  Runs against the current kubectl context; exits non-zero on the first failure.
U
}
ns=weft timeout=120
while [ $# -gt 0 ]; do
    case $1 in
    --namespace) ns=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
fail() { echo "FAIL: $*" >&2; exit 1; }
kubectl -n "$ns" wait --for=condition=Ready pod -l app.kubernetes.io/name=weft-node --timeout="${timeout}s"
api() { kubectl -n "$ns" exec "$1" -- sh -c "wget -qO- http://127.0.0.1:9090$2 2>/dev/null || curl -fsS http://127.0.0.1:9090$2"; }
for pod in $(kubectl -n "$ns" get pods -l app.kubernetes.io/name=weft-node -o name); do
    p=${pod#pod/}
    role=$(kubectl -n "$ns" get pod "$p" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/component}')
    api "$p" /api/v1/health | grep -q '"status":"ok"' || fail "$p: health not ok"
    api "$p" /api/v1/config | grep -q "\"WEFT_ROLE\":\"$role\"" || fail "$p: role is not $role"
    if [ "$role" != bootstrap ]; then
        n=$(api "$p" /api/v1/node-state | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))')
        [ "$n" -ge 1 ] || fail "$p: no peers"
    fi
    echo "ok $p ($role)"
done
msg="k8s-smoke-$$"
kubectl -n "$ns" exec weft-worker-1 -- timeout 30 weft-client -mode subscribe -topic smoke -count 1 >/tmp/weft-smoke.$$ 2>&1 &
sub=$!
sleep 3
kubectl -n "$ns" exec weft-worker-0 -- weft-client -mode publish -topic smoke -msg "$msg"
wait $sub || true
grep -q "$msg" /tmp/weft-smoke.$$ || fail "message published on weft-worker-0 not received on weft-worker-1"
rm -f /tmp/weft-smoke.$$
echo "test.sh: all ok"
