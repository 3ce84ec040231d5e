#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The local devnet (README: `make devnet`): the guides' topology on
# loopback with the guides' host ports (ci/devnet.env): four nodes and two
# proxies over them; then publish/subscribe round trips: weft-client
# subscribes on node 1 and publishes through node 2, and weft-proxy-client
# subscribes on proxy 1 (WebSocket) and publishes through proxy 2 (REST).
#
#   ci/devnet.sh up [--detach]   start (restarting a running devnet), round trip;
#                                then wait for Ctrl-C (stops it) unless --detach
#   ci/devnet.sh down            stop every node of the devnet
#   ci/devnet.sh status          which nodes run, their peers
# NODE_MODE=gossipsub selects plain GossipSub. BUILD (default build) is the
# CMake build directory holding bin/weft-node, bin/weft-client, ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
set -a
# shellcheck source=devnet.env
. ci/devnet.env
set +a
BUILD=${BUILD:-build}
NODE_BIN=$root/$BUILD/bin/weft-node
CLIENT_BIN=$root/$BUILD/bin/weft-client
PROXY_BIN=$root/$BUILD/bin/weft-proxy
PCLIENT_BIN=$root/$BUILD/bin/weft-proxy-client
dir=$root/$DEVNET_DIR
read -r -a SIDECARS <<<"$DEVNET_SIDECAR_PORTS"
read -r -a P2PS <<<"$DEVNET_P2P_PORTS"
read -r -a APIS <<<"$DEVNET_API_PORTS"
read -r -a PRESTS <<<"$DEVNET_PROXY_REST_PORTS"
read -r -a PGRPCS <<<"$DEVNET_PROXY_GRPC_PORTS"

say() { printf 'devnet: %s\n' "$*"; }
die() { printf 'devnet: error: %s\n' "$*" >&2; exit 1; }

node_name() { echo "${DEVNET_CLUSTER_PREFIX}$1"; }
proxy_name() { echo "${DEVNET_PROXY_PREFIX}$1"; }
# Every process of the devnet by its pid file name: proxies first (they stop
# before the nodes they talk to).
all_names() {
    local i
    for ((i = 1; i <= DEVNET_PROXIES; i++)); do proxy_name "$i"; done
    for ((i = 1; i <= DEVNET_NODES; i++)); do node_name "$i"; done
}

down() {
    local name pid any=0
    for name in $(all_names); do
        local pf="$dir/$name.pid"
        [ -f "$pf" ] || continue
        pid=$(cat "$pf")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            any=1
        fi
    done
    # Wait for the drain (each process exits within ~2 s of SIGTERM).
    for name in $(all_names); do
        local pf="$dir/$name.pid"
        [ -f "$pf" ] || continue
        pid=$(cat "$pf")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pf"
    done
    [ $any = 1 ] && say "stopped" || say "no devnet was running"
}

api() { curl -fsS -m 3 "http://$DEVNET_HOST:${APIS[$(($1 - 1))]}$2"; }

peers_of() {
    api "$1" /api/v1/node-state 2>/dev/null |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))' 2>/dev/null || echo 0
}

status() {
    local i
    for ((i = 1; i <= DEVNET_NODES; i++)); do
        local pf="$dir/$(node_name "$i").pid" state="stopped"
        [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null && state="running, $(peers_of "$i") peers"
        printf '  %-10s sidecar %s  p2p %s  api %s  %s\n' "$(node_name "$i")" "${SIDECARS[$((i - 1))]}" \
            "${P2PS[$((i - 1))]}" "${APIS[$((i - 1))]}" "$state"
    done
    for ((i = 1; i <= DEVNET_PROXIES; i++)); do
        local pf="$dir/$(proxy_name "$i").pid" state="stopped" n
        if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then
            n=$(curl -fsS -m 2 "http://$DEVNET_HOST:${PRESTS[$((i - 1))]}/api/v1/health" 2>/dev/null |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes_connected"])' 2>/dev/null || echo 0)
            state="running, $n nodes"
        fi
        printf '  %-10s rest %s  grpc %s  %s\n' "$(proxy_name "$i")" "${PRESTS[$((i - 1))]}" \
            "${PGRPCS[$((i - 1))]}" "$state"
    done
}

start_proxy() {
    local k=$1 name nodes="" i
    name=$(proxy_name "$k")
    for ((i = 1; i <= DEVNET_NODES; i++)); do
        nodes="${nodes:+$nodes,}$DEVNET_HOST:${SIDECARS[$((i - 1))]}"
    done
    : >"$dir/$name.log"
    env CLUSTER_ID="$name" PROXY_PORT=":${PRESTS[$((k - 1))]}" PROXY_GRPC_PORT=":${PGRPCS[$((k - 1))]}" \
        P2P_NODES="$nodes" WEFT_LISTEN_IP="$DEVNET_HOST" LOG_LEVEL="$LOG_LEVEL" \
        setsid "$PROXY_BIN" >>"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

start_node() {
    local i=$1 boot=$2 name
    name=$(node_name "$i")
    mkdir -p "$dir/$name"
    : >"$dir/$name.log"
    env CLUSTER_ID="$name" IDENTITY_DIR="$dir/$name" WEFT_LISTEN_IP="$DEVNET_HOST" \
        SIDECAR_PORT="${SIDECARS[$((i - 1))]}" API_PORT="${APIS[$((i - 1))]}" \
        OPTIMUM_PORT="${P2PS[$((i - 1))]}" GOSSIPSUB_PORT="${P2PS[$((i - 1))]}" \
        BOOTSTRAP_PEERS="$boot" setsid "$NODE_BIN" >>"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

up() {
    local detach=0
    [ "${1:-}" = "--detach" ] && detach=1
    local bin
    for bin in "$NODE_BIN" "$CLIENT_BIN" "$PROXY_BIN" "$PCLIENT_BIN"; do
        [ -x "$bin" ] || die "build first (make build): $bin"
    done
    down >/dev/null
    mkdir -p "$dir"
    local i b=$DEVNET_BOOTSTRAP boot_id
    # The bootstrap node keeps its identity across runs, like the guides'
    # generated key mounted into p2pnode-1.
    boot_id=$(IDENTITY_DIR="$dir/$(node_name "$b")" "$NODE_BIN" generate-key --output-peer-id 2>/dev/null) ||
        die "cannot create the bootstrap identity in $dir/$(node_name "$b")"
    local boot="/ip4/$DEVNET_HOST/tcp/${P2PS[$((b - 1))]}/p2p/$boot_id"
    say "mode $NODE_MODE; bootstrap $(node_name "$b") $boot_id"
    for ((i = 1; i <= DEVNET_NODES; i++)); do
        if [ "$i" = "$b" ]; then start_node "$i" ""; else start_node "$i" "$boot"; fi
    done
    # Wait for every node's API and for the mesh: each node connected to the
    # bootstrap node or through it.
    local end=$((SECONDS + 30)) ready=0
    while [ $SECONDS -lt $end ]; do
        ready=0
        for ((i = 1; i <= DEVNET_NODES; i++)); do
            [ "$(peers_of "$i")" -ge 1 ] && ready=$((ready + 1))
            kill -0 "$(cat "$dir/$(node_name "$i").pid")" 2>/dev/null ||
                { tail -5 "$dir/$(node_name "$i").log" >&2; die "$(node_name "$i") exited"; }
        done
        [ $ready -eq "$DEVNET_NODES" ] && break
        sleep 0.2
    done
    [ $ready -eq "$DEVNET_NODES" ] || { status; die "the mesh did not form within 30 s (logs in $dir)"; }
    say "all $DEVNET_NODES nodes up and connected"
    for ((i = 1; i <= DEVNET_PROXIES; i++)); do start_proxy "$i"; done
    end=$((SECONDS + 20))
    for ((i = 1; i <= DEVNET_PROXIES; i++)); do
        until curl -fsS -m 2 "http://$DEVNET_HOST:${PRESTS[$((i - 1))]}/api/v1/health" 2>/dev/null |
            grep -q "\"nodes_connected\":$DEVNET_NODES"; do
            [ $SECONDS -lt $end ] || { tail -5 "$dir/$(proxy_name "$i").log" >&2; die "$(proxy_name "$i") did not reach every node"; }
            sleep 0.2
        done
    done
    say "both proxies up, each connected to all $DEVNET_NODES nodes"
    status

    # Round trip 1: weft-client subscribes on node 1, publishes through node 2.
    local topic="devnet-$(date +%s)" sub_log="$dir/roundtrip-subscribe.log"
    local s1="$DEVNET_HOST:${SIDECARS[0]}" s2="$DEVNET_HOST:${SIDECARS[1]}"
    "$CLIENT_BIN" -mode subscribe -addr "$s1" -topic "$topic" -count 1 >"$sub_log" 2>&1 &
    local sub_pid=$!
    for _ in $(seq 1 50); do grep -q "Subscribed" "$sub_log" 2>/dev/null && break; sleep 0.1; done
    say "subscriber on $(node_name 1) ($s1): $(head -1 "$sub_log")"
    # The subscription reaches node 2 with the next heartbeat; publish until
    # it arrives (the first publishes may find no subscriber yet).
    local got=0
    for attempt in $(seq 1 20); do
        "$CLIENT_BIN" -mode publish -addr "$s2" -topic "$topic" -msg "hello from $(node_name 2) #$attempt" |
            sed "s/^/devnet: $(node_name 2) ($s2): /"
        for _ in $(seq 1 10); do
            grep -q "Recv message" "$sub_log" && { got=1; break; }
            sleep 0.1
        done
        [ $got = 1 ] && break
    done
    wait "$sub_pid" 2>/dev/null || true
    if [ $got = 1 ]; then
        say "$(node_name 1) received: $(grep -m1 'Recv message' "$sub_log")"
    else
        cat "$sub_log" >&2
        die "no message arrived on $(node_name 1) (logs in $dir)"
    fi

    # Round trip 2: weft-proxy-client subscribes on proxy 1 (WebSocket),
    # publishes through proxy 2 (REST).
    local ptopic="devnet-proxy-$(date +%s)" psub_log="$dir/roundtrip-proxy-subscribe.log"
    local r1="$DEVNET_HOST:${PRESTS[0]}" r2="$DEVNET_HOST:${PRESTS[1]}"
    "$PCLIENT_BIN" -mode subscribe -rest "$r1" -topic "$ptopic" -client-id devnet-subscriber -count 1 \
        >"$psub_log" 2>&1 &
    sub_pid=$!
    for _ in $(seq 1 50); do grep -q "Subscribed" "$psub_log" 2>/dev/null && break; sleep 0.1; done
    say "subscriber on $(proxy_name 1) ($r1): $(head -1 "$psub_log")"
    got=0
    for attempt in $(seq 1 20); do
        "$PCLIENT_BIN" -mode publish -rest "$r2" -topic "$ptopic" -client-id devnet-publisher \
            -msg "hello through $(proxy_name 2) #$attempt" | sed "s/^/devnet: $(proxy_name 2) ($r2): /"
        for _ in $(seq 1 10); do
            grep -q "Recv message" "$psub_log" && { got=1; break; }
            sleep 0.1
        done
        [ $got = 1 ] && break
    done
    wait "$sub_pid" 2>/dev/null || true
    if [ $got = 1 ]; then
        say "$(proxy_name 1) received: $(grep -m1 'Recv message' "$psub_log")"
        say "round trips ok"
    else
        cat "$psub_log" >&2
        die "no message arrived through $(proxy_name 1) (logs in $dir)"
    fi
    say "metrics: curl http://$DEVNET_HOST:${APIS[0]}/metrics (node 1), http://$r1/metrics (proxy 1); logs: $dir/*.log"
    if [ $detach = 1 ]; then
        say "devnet is up; stop it with: make devnet-down"
        return 0
    fi
    say "devnet is up; Ctrl-C here (or make devnet-down elsewhere) stops it"
    trap 'echo; down; exit 0' INT TERM
    while :; do
        sleep 1
        local alive=0 name
        for name in $(all_names); do
            [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null && alive=1
        done
        [ $alive = 1 ] || { say "every node has stopped"; return 0; }
    done
}

case "${1:-up}" in
up) shift || true; up "$@" ;;
down) down ;;
status) status ;;
*) echo "usage: ci/devnet.sh up [--detach] | down | status" >&2; exit 2 ;;
esac
