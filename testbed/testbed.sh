#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The multi-host testbed (testbed/README.md): N real weft-node processes, each
# in its own network namespace, joined through one router namespace:
#
#   node ns wtb-<tag>-nI    eth0 10.77.I.2/24 --veth-- vI 10.77.I.1  router ns wtb-<tag>-r
#                           ctl0 10.78.I.2/24 --veth-- cI 10.78.I.1  control ns wtb-<tag>-c
#
# Upload is shaped by tbf on the node's eth0, download by tbf on the router's
# vI (--bw each way). The router's policy routing sends every packet that
# comes in from a vI into a TUN, where weft-netem holds it for the pair's
# one-way delay (a seeded matrix in [--delay-min, --delay-max] ms, plus
# jitter), drops a --loss fraction, and writes it back; the kernel routes it
# on to the destination's vI. The control namespace (no forwarding, so hosts
# never reach each other through it) runs the load driver (drive.js) against
# every sidecar and reads the HTTP APIs: control traffic never crosses the
# shaped links nor their counters.
#
# For each mode (optimum; gossipsub as v1.2 with IDONTWANT and as v1.1) the
# nodes start afresh on the same namespaces, seed and publishers, and each
# size is driven in turn; one JSON line per (mode, size) goes to --out.
# Everything is made under names with the run's tag and torn down by a trap,
# even on failure; --clean removes what a killed run left (every wtb-*).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

NODES=16 MODES="optimum,gossipsub-1.2,gossipsub-1.1" SIZES="1024,262144,1048576,4194304"
BW=50 DMIN=20 DMAX=100 JITTER=5 LOSS=0.01 SEED=1 PUBS=4 MTU=1500
COUNT="" GAP=300 MSG_TIMEOUT=30 BUDGET=1200 OUT="" LOGS="" BUILD=${BUILD:-build}
CI=0 LABEL="" IDLE_RESTART=1

usage() {
    cat <<EOF
usage: testbed/testbed.sh [options]        (root; needs ip netns, veth, tc tbf, /dev/net/tun)
  --nodes N          weft-node processes, one namespace each, 2..32 [$NODES]
  --modes LIST       optimum,gossipsub-1.2,gossipsub-1.1 (any subset) [$MODES]
  --sizes LIST       message sizes in bytes [$SIZES]
  --count N          messages per size [by size: 1 KiB 40, 256 KiB 20, 1 MiB 20, 4 MiB 8]
  --publishers P     publishing nodes, chosen from the seed, used in turn [$PUBS]
  --bw MBIT          per-host bandwidth each way (tbf) [$BW]
  --delay-min MS     one-way delay range of the pair matrix [$DMIN]
  --delay-max MS     [$DMAX]
  --jitter MS        uniform jitter +-MS per packet (no reordering within a pair) [$JITTER]
  --loss FRACTION    packets dropped by the delayer [$LOSS]
  --seed S           delay matrix, loss, publishers [$SEED]
  --mtu BYTES        MTU of every link [$MTU]
  --slow-start-after-idle 0|1
                     the hosts' net.ipv4.tcp_slow_start_after_idle: 1 (the kernel's default)
                     restarts a connection idle for an RTO from the initial window [$IDLE_RESTART]
  --gap MS           quiet time between messages [$GAP]
  --msg-timeout S    a message not everywhere after S seconds counts as missed [$MSG_TIMEOUT]
  --budget S         the whole run is killed after S seconds [$BUDGET]
  --out FILE         append one JSON line per (mode, size) [stdout only]
  --logs DIR         keep node logs, /metrics and counters there [a temporary dir, removed]
  --build DIR        build tree with bin/weft-node and bin/weft-netem [$BUILD]
  --ci               the short CI version: 4 nodes, 1 MiB x 5, optimum and gossipsub-1.2,
                     fails unless every node gets every message (no speed asserted)
  --clean            remove every namespace a killed run left (wtb-*) and exit
  --help             this text
Exit status: 0 done (with --ci: delivery 1.0 in every mode), 1 failure, 77 not root or no netns.
EOF
}

clean_all() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^wtb-' || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    sleep 0.5
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^wtb-' || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

while [ $# -gt 0 ]; do
    case $1 in
    --nodes) NODES=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --publishers) PUBS=$2; shift 2 ;;
    --bw) BW=$2; shift 2 ;;
    --delay-min) DMIN=$2; shift 2 ;;
    --delay-max) DMAX=$2; shift 2 ;;
    --jitter) JITTER=$2; shift 2 ;;
    --loss) LOSS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --mtu) MTU=$2; shift 2 ;;
    --gap) GAP=$2; shift 2 ;;
    --slow-start-after-idle) IDLE_RESTART=$2; shift 2 ;;
    --msg-timeout) MSG_TIMEOUT=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --logs) LOGS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --ci) CI=1; shift ;;
    --clean) clean_all; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "testbed: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ $CI = 1 ]; then
    NODES=4 MODES=optimum,gossipsub-1.2 SIZES=1048576 COUNT=${COUNT:-5} PUBS=2 BUDGET=110
    MSG_TIMEOUT=15 GAP=200
fi
int_in() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
    { echo "testbed: $1 '$2': expected an integer in [$3, $4]" >&2; exit 2; }; }
int_in --nodes "$NODES" 2 32
int_in --publishers "$PUBS" 1 "$NODES"
int_in --bw "$BW" 1 10000
int_in --mtu "$MTU" 576 65000
int_in --budget "$BUDGET" 10 7200
int_in --seed "$SEED" 0 4294967295
int_in --slow-start-after-idle "$IDLE_RESTART" 0 1
for m in ${MODES//,/ }; do
    case $m in optimum | gossipsub-1.2 | gossipsub-1.1) ;;
    *) echo "testbed: --modes: '$m' is not optimum, gossipsub-1.2 or gossipsub-1.1" >&2; exit 2 ;; esac
done
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
NODE_BIN=$BUILD/bin/weft-node NETEM=$BUILD/bin/weft-netem
JS=$root/tests/node/js

skip() { echo "testbed: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "needs ip and tc (iproute2)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v node >/dev/null || skip "needs node.js for the load driver"
[ -d "$JS/node_modules/@grpc/grpc-js" ] || skip "no $JS/node_modules (npm ci in tests/node/js)"
[ -x "$NODE_BIN" ] && [ -x "$NETEM" ] || { echo "testbed: build first ($NODE_BIN, $NETEM)" >&2; exit 1; }

TAG=${WTB_TAG:-$(printf '%04x' $(($$ % 65536)))}
P=wtb-$TAG
ip netns add "$P-probe" 2>/dev/null || skip "cannot create a network namespace"
ip netns del "$P-probe"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/weft-testbed.XXXXXX")
[ -n "$LOGS" ] && mkdir -p "$LOGS"
LOGDIR=${LOGS:-$RUN/logs}
mkdir -p "$LOGDIR"
T0=$SECONDS
progress() { printf 'testbed [%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
NODE_PIDS=() NETEM_PID=""
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    for pid in "${NODE_PIDS[@]}" $NETEM_PID; do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.3
    for pid in "${NODE_PIDS[@]}" $NETEM_PID; do kill -KILL "$pid" 2>/dev/null; done
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-"); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns"
    done
    rm -rf "$RUN"
    [ $rc -ne 0 ] && [ -n "$LOGS" ] && echo "testbed: failed (rc $rc); logs in $LOGS" >&2
    exit $rc
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# the whole run is bounded: a watchdog ends it (and the trap tears down)
# (its sleep dies with it, so no pipe of the caller stays open after the run)
(
    trap 'kill $sl 2>/dev/null; exit 0' TERM
    sleep "$BUDGET" </dev/null >/dev/null 2>&1 &
    sl=$!
    wait $sl
    echo "testbed: budget of $BUDGET s exceeded" >&2
    kill -TERM $$
) </dev/null >/dev/null &
WATCHDOG=$!
NODE_PIDS+=("$WATCHDOG")

R=$P-r C=$P-c
inr() { ip netns exec "$R" "$@"; }
inc() { ip netns exec "$C" "$@"; }
inn() { local i=$1; shift; ip netns exec "$P-n$i" "$@"; }

# ---- topology ------------------------------------------------------------------------
progress "topology: $NODES hosts, $BW Mbit/s each way, ${DMIN}-${DMAX} ms one-way (seed $SEED), jitter $JITTER ms, loss $LOSS, MTU $MTU"
ip netns add "$R"
ip netns add "$C"
inr sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
inc sysctl -qw net.ipv4.ip_forward=0
inr ip link set lo up
inc ip link set lo up
inr ip tuntap add dev tun0 mode tun
inr ip link set tun0 mtu "$MTU" up
inr sysctl -qw net.ipv4.conf.tun0.rp_filter=0
inr ip route add default dev tun0 table 100
# tbf: a bucket of at least one MTU (or 10 ms at the rate), a queue of 100 ms
burst=$((BW * 1000000 / 8 / 100))
[ $burst -lt $((MTU * 4)) ] && burst=$((MTU * 4))
for i in $(seq 1 "$NODES"); do
    ns=$P-n$i
    ip netns add "$ns"
    inn "$i" ip link set lo up
    inn "$i" sysctl -qw "net.ipv4.tcp_slow_start_after_idle=$IDLE_RESTART"
    inr ip link add "v$i" mtu "$MTU" type veth peer name eth0 netns "$ns"
    inc ip link add "c$i" type veth peer name ctl0 netns "$ns"
    inr ip addr add "10.77.$i.1/24" dev "v$i"
    inr ip link set "v$i" up
    inr sysctl -qw "net.ipv4.conf.v$i.rp_filter=0"
    inr ip rule add iif "v$i" lookup 100 pref 100
    inc ip addr add "10.78.$i.1/24" dev "c$i"
    inc ip link set "c$i" up
    inn "$i" ip link set eth0 mtu "$MTU"
    inn "$i" ip addr add "10.77.$i.2/24" dev eth0
    inn "$i" ip link set eth0 up
    inn "$i" ip addr add "10.78.$i.2/24" dev ctl0
    inn "$i" ip link set ctl0 up
    inn "$i" ip route add default via "10.77.$i.1"
    inn "$i" tc qdisc add dev eth0 root tbf rate "${BW}mbit" burst "$burst" latency 100ms
    inr tc qdisc add dev "v$i" root tbf rate "${BW}mbit" burst "$burst" latency 100ms
done
"$NETEM" --print-matrix --hosts "$NODES" --seed "$SEED" --delay-min "$DMIN" --delay-max "$DMAX" \
    >"$LOGDIR/matrix.json"
ip netns exec "$R" "$NETEM" --tun tun0 --hosts "$NODES" --seed "$SEED" --delay-min "$DMIN" --delay-max "$DMAX" \
    --jitter "$JITTER" --loss "$LOSS" --stats "$LOGDIR/netem.stats" >"$LOGDIR/netem.out" 2>"$LOGDIR/netem.log" &
NETEM_PID=$!
sleep 0.3
kill -0 "$NETEM_PID" 2>/dev/null || { cat "$LOGDIR/netem.log" >&2; echo "testbed: weft-netem did not start" >&2; exit 1; }
# the path works end to end and is delayed: host 1 -> host 2
inn 2 python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.2.2", 9))
s.settimeout(5)
try:
    for _ in range(5):
        d, a = s.recvfrom(64); s.sendto(d, a)
except OSError: pass' &
ECHO=$!
sleep 0.3
rtt=$(inn 1 python3 -c '
import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); best = None
for _ in range(5):
    t = time.monotonic(); s.sendto(b"x", ("10.77.2.2", 9))
    try: s.recvfrom(64)
    except OSError: continue
    r = (time.monotonic() - t) * 1000; best = r if best is None or r < best else best
print("%.1f" % best if best is not None else "")')
wait $ECHO 2>/dev/null || true
[ -n "$rtt" ] || { echo "testbed: host 1 cannot reach host 2 through the router" >&2; exit 1; }
want=$(python3 -c "import json;m=json.load(open('$LOGDIR/matrix.json'))['one_way_ms'];print(round(2*m[0][1],1))")
progress "path 1->2: UDP round trip $rtt ms (best of 5; the matrix says $want ms, plus jitter)"
python3 -c "import sys; r, w, j = map(float, sys.argv[1:]); sys.exit(0 if w - 2 * j - 1 <= r <= w + 2 * j + 50 else 1)" \
    "$rtt" "$want" "$JITTER" || { echo "testbed: the delayer is not applying the matrix (rtt $rtt ms, want $want ms)" >&2; exit 1; }

# publishers: chosen from the seed, the same in every mode
PUB_LIST=$(python3 -c "import random;r=random.Random($SEED);print(','.join(str(x) for x in sorted(r.sample(range(1,$NODES+1),$PUBS))))")
COMMIT=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT-dirty"
MATRIX_SHA=$(sha256sum "$LOGDIR/matrix.json" | cut -c1-16)

# counters: per host eth0 bytes (both directions) and the node's CPU ticks
SNAP=$RUN/snap.sh
cat >"$SNAP" <<EOF
#!/usr/bin/env bash
# \$1 = before|after: one line per host: index tx_bytes rx_bytes tx_packets cpu_ticks
for i in \$(seq 1 $NODES); do
    s=/sys/class/net/eth0/statistics
    read -r tx rx txp < <(ip netns exec $P-n\$i sh -c "echo \\\$(cat \$s/tx_bytes) \\\$(cat \$s/rx_bytes) \\\$(cat \$s/tx_packets)")
    pid=\$(cat $RUN/n\$i.pid)
    cpu=\$(awk '{print \$14+\$15}' /proc/\$pid/stat)
    echo "\$i \$tx \$rx \$txp \$cpu"
    # the node's counters (shards, RPCs, loop lag), over the control link
    curl -fsS -m 3 "http://10.78.\$i.2:9090/metrics" >$RUN/metrics.\$1.\$i 2>/dev/null || :
done >$RUN/snap.\$1
EOF
chmod +x "$SNAP"

count_for() {
    [ -n "$COUNT" ] && { echo "$COUNT"; return; }
    case $1 in
    1024) echo 40 ;; 262144) echo 20 ;; 1048576) echo 20 ;; *) echo 8 ;;
    esac
}

api() { inc curl -fsS -m 3 "http://10.78.$1.2:9090$2"; }

start_nodes() {
    local mode=$1 nm gsv i boot id1
    nm=optimum gsv=1.2
    case $mode in gossipsub-1.2) nm=gossipsub ;; gossipsub-1.1) nm=gossipsub gsv=1.1 ;; esac
    NODE_PIDS=("$WATCHDOG")
    for i in $(seq 1 "$NODES"); do
        mkdir -p "$RUN/id$i"
        [ -f "$RUN/id$i/p2p.key" ] || IDENTITY_DIR=$RUN/id$i "$NODE_BIN" generate-key >/dev/null
    done
    id1=$(IDENTITY_DIR=$RUN/id1 "$NODE_BIN" peer-id)
    local port=7070
    [ "$nm" = gossipsub ] && port=6060
    boot=/ip4/10.77.1.2/tcp/$port/p2p/$id1
    for i in $(seq 1 "$NODES"); do
        local b=$boot
        [ "$i" = 1 ] && b=""
        # not through inn: $! must be weft-node itself (its CPU is read from /proc)
        ip netns exec "$P-n$i" env NODE_MODE="$nm" WEFT_GOSSIPSUB_VERSION="$gsv" CLUSTER_ID="tb-n$i" \
            IDENTITY_DIR="$RUN/id$i" WEFT_PUBLIC_IP="10.77.$i.2" BOOTSTRAP_PEERS="$b" \
            OPTIMUM_MAX_MSG_SIZE=8388608 GOSSIPSUB_MAX_MSG_SIZE=8388608 LOG_LEVEL=info \
            "$NODE_BIN" >"$LOGDIR/$mode-n$i.log" 2>&1 &
        echo $! >"$RUN/n$i.pid"
        NODE_PIDS+=("$!")
    done
    # every node up and connected to enough peers for a mesh (D_lo, or all the others)
    local want=$((NODES - 1)) end=$((SECONDS + 40)) ok
    [ $want -gt 4 ] && want=4
    while :; do
        ok=0
        for i in $(seq 1 "$NODES"); do
            n=$(api "$i" /api/v1/node-state 2>/dev/null |
                python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))' 2>/dev/null || echo 0)
            [ "${n:-0}" -ge $want ] && ok=$((ok + 1))
        done
        [ $ok = "$NODES" ] && break
        [ $SECONDS -lt $end ] || { echo "testbed: $mode: only $ok of $NODES nodes have $want peers after 40 s" >&2; exit 1; }
        sleep 1
    done
    progress "$mode: $NODES nodes up, each with >= $want peers"
}

stop_nodes() {
    local pid
    for pid in "${NODE_PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]:1}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    NODE_PIDS=("$WATCHDOG")
}

NODES_CSV=$(seq -f "10.78.%g.2:33212" 1 "$NODES" | paste -sd,)
FAILED=0
for mode in ${MODES//,/ }; do
    start_nodes "$mode"
    # the connection graph, for the simulator (weft-bench mesh --graph)
    for i in $(seq 1 "$NODES"); do api "$i" /api/v1/node-state >"$LOGDIR/$mode-n$i.state.json" || true; done
    python3 "$root/testbed/topology.py" "$LOGDIR/matrix.json" \
        $(seq -f "$LOGDIR/$mode-n%g.state.json" 1 "$NODES") >"$LOGDIR/$mode.topology" ||
        echo "testbed: $mode: no topology file for the simulator" >&2
    for size in ${SIZES//,/ }; do
        cnt=$(count_for "$size")
        progress "$mode: $cnt x $size B from nodes $PUB_LIST to all $NODES"
        set +e
        res=$(inc env NODE_PATH="$JS/node_modules" node "$root/testbed/drive.js" --proto "$root/proto" \
            --nodes "$NODES_CSV" --pubs "$PUB_LIST" --count "$cnt" --size "$size" --gap "$GAP" \
            --timeout $((MSG_TIMEOUT * 1000)) --snapshot "$SNAP" --label "$mode-$size" 2>>"$LOGDIR/drive.log")
        drc=$?
        set -e
        tail -3 "$LOGDIR/drive.log" | sed 's/^/  /' >&2
        [ -n "$res" ] || { echo "testbed: $mode $size: the driver printed nothing (rc $drc)" >&2; exit 1; }
        for i in $(seq 1 "$NODES"); do api "$i" /metrics >"$LOGDIR/$mode-$size-n$i.metrics" 2>/dev/null || true; done
        line=$(python3 "$root/testbed/summarize.py" --result "$res" --before "$RUN/snap.before" \
            --after "$RUN/snap.after" --metrics "$RUN/metrics" --matrix "$LOGDIR/matrix.json" --mode "$mode" \
            --netem "$LOGDIR/netem.stats" --commit "$COMMIT" --matrix-sha "$MATRIX_SHA" \
            --link "{\"bw_mbit\":$BW,\"delay_ms\":[$DMIN,$DMAX],\"jitter_ms\":$JITTER,\"loss\":$LOSS,\"mtu\":$MTU,\"tbf_burst\":$burst,\"tbf_latency_ms\":100,\"tcp_slow_start_after_idle\":$IDLE_RESTART}" \
            --topology "{\"kind\":\"router-star\",\"hosts\":$NODES,\"seed\":$SEED,\"publishers\":[$PUB_LIST],\"mesh_target\":6,\"mesh_min\":4,\"mesh_max\":12}" \
            --label "$LABEL")
        echo "$line"
        [ -n "$OUT" ] && echo "$line" >>"$OUT"
        progress "$(python3 -c 'import json,sys;d=json.loads(sys.argv[1]);print("%s %d B: delivery %.4f, time-to-all p50/p90/p99 %s/%s/%s ms, wire %.2f B per delivered B, %.3f CPU s per MiB" % (d["mode"],d["size"],d["delivery_ratio"],d["tta_ms_p50"],d["tta_ms_p90"],d["tta_ms_p99"],d["wire_bytes_per_delivered_byte"] or 0,d["cpu_s_per_delivered_mib"] or 0))' "$line")"
        [ $drc = 0 ] || FAILED=1
    done
    stop_nodes
done
kill -TERM "$WATCHDOG" 2>/dev/null || true
progress "netem: $(cat "$LOGDIR/netem.stats" 2>/dev/null), CPU $(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f s", ($14+$15)/t}' /proc/$NETEM_PID/stat 2>/dev/null)"
if [ $FAILED = 1 ]; then
    echo "testbed: some node missed some message (delivery below 1.0)" >&2
    exit 1
fi
progress "done"
