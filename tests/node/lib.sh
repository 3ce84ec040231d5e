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

# start_proxy NAME REST GRPC NODES [VAR=VALUE...]: a weft-proxy ($WEFT_PROXY)
# on 127.0.0.1 over the sidecars NODES (comma-separated host:port), with
# CLUSTER_ID NAME and the extra environment given. Logs to
# $WEFT_TEST_TMP/NAME.log; the pid goes to WEFT_TEST_PIDS and NAME.pid.
start_proxy() {
    local name=$1 rest=$2 grpc=$3 nodes=$4
    shift 4
    env CLUSTER_ID="$name" PROXY_PORT=":$rest" PROXY_GRPC_PORT=":$grpc" P2P_NODES="$nodes" \
        WEFT_LISTEN_IP=127.0.0.1 "$@" "$WEFT_PROXY" >>"$WEFT_TEST_TMP/$name.log" 2>&1 &
    local pid=$!
    WEFT_TEST_PIDS+=("$pid")
    echo "$pid" >"$WEFT_TEST_TMP/$name.pid"
}

# wait_proxy_nodes HOST:PORT N SECONDS: until the proxy's health reports N
# connected nodes.
wait_proxy_nodes() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        case $(curl -fsS -m 2 "http://$1/api/v1/health" 2>/dev/null || true) in
        *"\"nodes_connected\":$2"[,}]*) return 0 ;;
        esac
        sleep 0.2
    done
    return 1
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

# start_star N MODE MIN_PEERS: N nodes on the ports P[3i..3i+2] (p2p, sidecar,
# API) of the caller's array P, nodes 2..N bootstrapped from node 1, each
# waited for until it lists MIN_PEERS peers. Sets id1 (node 1's peer id),
# boot (its multiaddr), sidecars and apis (comma-separated host:port).
start_star() {
    local n=$1 mode=$2 min=$3 i
    start_node n1 "$mode" "${P[0]}" "${P[1]}" "${P[2]}" ""
    wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
    id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
    boot="/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
    for ((i = 1; i < n; i++)); do
        start_node "n$((i + 1))" "$mode" "${P[$((3 * i))]}" "${P[$((3 * i + 1))]}" "${P[$((3 * i + 2))]}" "$boot"
    done
    for ((i = 1; i < n; i++)); do
        wait_peers "127.0.0.1:${P[$((3 * i + 2))]}" "$min" 20 || die "node $((i + 1)) did not mesh"
    done
    sidecars="" apis=""
    for ((i = 0; i < n; i++)); do
        sidecars+="${sidecars:+,}127.0.0.1:${P[$((3 * i + 1))]}"
        apis+="${apis:+,}127.0.0.1:${P[$((3 * i + 2))]}"
    done
}
