# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the weft-node shell tests: free loopback ports, nodes
# started with their own identity directories and logs, readiness waits,
# and cleanup of everything a test started.

WEFT_TEST_PIDS=()
WEFT_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-node-test.XXXXXX")

cleanup() {
    local pid
    for pid in "${WEFT_TEST_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${WEFT_TEST_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${WEFT_KEEP_TMP:-0}" = 1 ]; then echo "logs kept in $WEFT_TEST_TMP" >&2; else rm -rf "$WEFT_TEST_TMP"; fi
}
trap cleanup EXIT

die() { echo "FAIL: $*" >&2; dump_logs; exit 1; }

dump_logs() {
    local f
    for f in "$WEFT_TEST_TMP"/*.log; do
        [ -f "$f" ] || continue
        echo "---- $f (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
}

# N distinct free TCP ports on 127.0.0.1 (bound once to learn them).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# start_node NAME MODE P2P SIDECAR API [BOOTSTRAP] -- environment VAR=VALUE...
# Logs to $WEFT_TEST_TMP/NAME.log; the pid goes to WEFT_TEST_PIDS and to
# $WEFT_TEST_TMP/NAME.pid.
start_node() {
    local name=$1 mode=$2 p2p=$3 sidecar=$4 api=$5 boot=${6:-}
    shift 6 || shift $#
    mkdir -p "$WEFT_TEST_TMP/$name"
    env NODE_MODE="$mode" CLUSTER_ID="$name" WEFT_LISTEN_IP=127.0.0.1 \
        IDENTITY_DIR="$WEFT_TEST_TMP/$name" OPTIMUM_PORT="$p2p" GOSSIPSUB_PORT="$p2p" \
        SIDECAR_PORT="$sidecar" API_PORT="$api" BOOTSTRAP_PEERS="$boot" "$@" \
        "$WEFT_NODE" >>"$WEFT_TEST_TMP/$name.log" 2>&1 &
    local pid=$!
    WEFT_TEST_PIDS+=("$pid")
    echo "$pid" >"$WEFT_TEST_TMP/$name.pid"
}

# wait_api HOST:PORT SECONDS: until /api/v1/health answers.
wait_api() {
    local end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ]; do
        curl -fsS -m 2 "http://$1/api/v1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# wait_peers HOST:PORT N SECONDS: until node-state lists at least N peers.
wait_peers() {
    local end=$((SECONDS + $3)) n
    while [ $SECONDS -lt $end ]; do
        n=$(curl -fsS -m 2 "http://$1/api/v1/node-state" 2>/dev/null |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))' 2>/dev/null || echo 0)
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
