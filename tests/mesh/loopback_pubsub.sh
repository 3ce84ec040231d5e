#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Eight weft-p2p pubsub processes on 127.0.0.1 in a connected random-ish
# topology (node i dials 2 or 3 earlier nodes), for each mode (rlnc,
# gossipsub) and message size (1 KiB, 1 MiB): 200 messages are published in
# total by four publishers, every node expects all the messages it did not
# publish, and all eight must exit 0 having received exactly those messages
# (ids and SHA-256 as published).
# Usage: loopback_pubsub.sh path/to/weft-p2p
# Environment: SEED (topology, default 1), MODES ("rlnc gossipsub"),
# SIZES ("1024 1048576"), INTERVAL_LARGE (ms between 1 MiB publishes, 400; 1000 with
# WEFT_TEST_QUICK, the sanitizer run),
# KEEP_LOGS (set: keep every node's output), WEFT_TRANSPORT as for weft-p2p.
set -u
P=${1:?weft-p2p}
SEED=${SEED:-1}
MODES=${MODES:-"rlnc gossipsub"}
SIZES=${SIZES:-"1024 1048576"}
NODES=8
TOTAL=200
PUBLISHERS=(0 2 5 7) # 50 messages each
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0

wait_listening() { # file seconds
    local _
    for _ in $(seq 1 $(($2 * 10))); do
        grep -q '"event":"listening"' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
multiaddr_of() {
    grep -m1 '"event":"listening"' "$1" |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["multiaddr"])'
}

# Topology: node i dials 2 or 3 distinct earlier nodes (all earlier ones for i <= 2).
RANDOM=$SEED
declare -a DIALS
for ((i = 1; i < NODES; i++)); do
    want=$((2 + RANDOM % 2))
    [ $want -gt $i ] && want=$i
    picks=" "
    while [ $(($(echo $picks | wc -w))) -lt $want ]; do
        j=$((RANDOM % i))
        case "$picks" in *" $j "*) ;; *) picks="$picks$j " ;; esac
    done
    DIALS[$i]=$picks
done
echo "topology (seed $SEED):"
for ((i = 1; i < NODES; i++)); do echo "  node $i dials${DIALS[$i]}"; done

per_pub=$((TOTAL / ${#PUBLISHERS[@]}))
publishes() { # node -> messages it publishes
    local p
    for p in "${PUBLISHERS[@]}"; do [ "$p" -eq "$1" ] && { echo $per_pub; return; }; done
    echo 0
}

scenario() { # mode size
    local mode=$1 size=$2 dir="$T/$1-$2" i rc
    mkdir -p "$dir"
    # Paced so that eight processes on two cores keep up: a burst would only
    # measure the outbound queue cap (frames past it are dropped, and a node
    # whose neighbours are all mesh peers gets no gossip to repair from).
    local interval timeout qcap=33554432
    if [ "$size" -ge 65536 ]; then
        interval=${INTERVAL_LARGE:-400}
        timeout=90
        if [ -n "${WEFT_TEST_QUICK:-}" ]; then
            # sanitizer builds run several times slower: the same 200
            # messages at a rate they keep up with (queues past the cap drop)
            interval=${INTERVAL_LARGE:-1000}
            timeout=150
        fi
        qcap=134217728
    else
        interval=20
        timeout=45
    fi
    local start=$SECONDS
    local -a npids=()
    for ((i = 0; i < NODES; i++)); do
        local n
        n=$(publishes $i)
        local -a args=(pubsub --mode "$mode" --topic loopback --size "$size" --expect $((TOTAL - n))
            --timeout "$timeout" --linger 3000 --queue-cap "$qcap")
        if [ "$n" -gt 0 ]; then
            # Publish once every node is meshed (the script creates the start
            # file then): a node that joined late would miss messages for good.
            args+=(--publish "$n" --interval "$interval" --start-file "$dir/start")
        fi
        local j
        for j in ${DIALS[$i]:-}; do
            args+=(--peer "$(multiaddr_of "$dir/node$j.out")")
        done
        timeout $((timeout + 30)) "$P" "${args[@]}" >"$dir/node$i.out" 2>"$dir/node$i.err" &
        pids+=($!)
        npids+=($!)
        if ! wait_listening "$dir/node$i.out" 10; then
            echo "FAIL: $mode/$size: node $i did not start" >&2
            cat "$dir/node$i.err" >&2
            fail=$((fail + 1))
            kill "${npids[@]}" 2>/dev/null
            wait "${npids[@]}" 2>/dev/null
            return
        fi
    done
    local up=$((SECONDS - start))
    [ $up -gt 2 ] && echo "warning: $mode/$size: starting $NODES nodes took ${up}s" >&2
    # Every node reports "meshed" once it has a mesh peer; then publishing starts.
    local waited=0
    while [ $waited -lt 300 ]; do
        local all=1
        for ((i = 0; i < NODES; i++)); do
            grep -q '"event":"meshed"' "$dir/node$i.out" 2>/dev/null || all=0
        done
        [ $all -eq 1 ] && break
        sleep 0.1
        waited=$((waited + 1))
    done
    [ $waited -ge 300 ] && echo "warning: $mode/$size: not every node meshed within 30 s" >&2
    touch "$dir/start"
    local bad=0
    local -a codes=()
    for ((i = 0; i < NODES; i++)); do
        wait "${npids[$i]}"
        rc=$?
        codes+=("$rc")
        [ $rc -eq 0 ] || bad=1
    done
    python3 - "$dir" "$NODES" "$size" <<'PY'
import json, os, sys
d, nodes, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pub, got = {}, {}
for i in range(nodes):
    pub[i], got[i] = {}, {}
    for line in open(os.path.join(d, f"node{i}.out"), errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "published":
            pub[i][e["id"]] = e["sha256"]
        elif e.get("event") == "message":
            if e["id"] in got[i]:
                print(f"node {i}: message {e['id'][:16]}... delivered twice", file=sys.stderr)
                sys.exit(1)
            got[i][e["id"]] = (e["sha256"], e["size"])
allpub = {}
for i in range(nodes):
    allpub.update(pub[i])
ok = True
for i in range(nodes):
    want = {k: v for k, v in allpub.items() if k not in pub[i]}
    missing = [k for k in want if k not in got[i]]
    extra = [k for k in got[i] if k not in want]
    wrong = [k for k in want if k in got[i] and (got[i][k][0] != want[k] or got[i][k][1] != size)]
    if missing or extra or wrong:
        ok = False
        print(f"node {i}: {len(got[i])} received of {len(want)} expected; missing {len(missing)}, "
              f"unexpected {len(extra)}, corrupt {len(wrong)}", file=sys.stderr)
print(f"published {len(allpub)} distinct messages; "
      + ", ".join(f"node{i} got {len(got[i])}" for i in range(nodes)))
sys.exit(0 if ok and len(allpub) == 200 else 1)
PY
    local vrc=$?
    if [ $bad -eq 0 ] && [ $vrc -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok: $mode/$size in $((SECONDS - start))s (exit codes ${codes[*]})"
    else
        fail=$((fail + 1))
        echo "FAIL: $mode/$size: exit codes ${codes[*]} (verify rc=$vrc)" >&2
        for ((i = 0; i < NODES; i++)); do
            echo "---- node $i: $(grep -c '"event":"message"' "$dir/node$i.out") received," \
                "$(grep -c '"event":"published"' "$dir/node$i.out") published" >&2
            tail -n 4 "$dir/node$i.err" | cut -c1-600 >&2
        done
    fi
}

for mode in $MODES; do
    for size in $SIZES; do
        scenario "$mode" "$size"
    done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
