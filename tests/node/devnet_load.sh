#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The devnet topology (4 nodes, node 1 the bootstrap peer, ci/devnet.env's
# node settings) on free loopback ports, in the given mode:
#   1. 1000 messages of 1 KiB and 50 of 1 MiB published round-robin through
#      all four sidecars reach a subscriber on every node (content checked).
#   2. kill -9 of node 1, the bootstrap peer, while messages are published
#      through nodes 2, 3, 4: subscribers on those nodes lose nothing (peer
#      sharing made the network a mesh); node 1 restarts with the same
#      identity and ports, the others redial it, and a second round reaches
#      all four.
# usage: devnet_load.sh WEFT_NODE PROTO_DIR optimum|gossipsub
set -euo pipefail
WEFT_NODE=$1 PROTO=$2 MODE=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/@grpc/grpc-js" ] || die "npm packages missing: run ci/install-deps.sh"
# The shared node settings of the devnet (mesh degree, k, mult, threshold).
set -a
# shellcheck source=../../ci/devnet.env
. "$root/ci/devnet.env"
set +a
export NODE_MODE=$MODE

read -r -a P < <(free_ports 12)
p2p() { echo "${P[$((3 * ($1 - 1)))]}"; }
sc() { echo "${P[$((3 * ($1 - 1) + 1))]}"; }
api() { echo "${P[$((3 * ($1 - 1) + 2))]}"; }

start_node n1 "$MODE" "$(p2p 1)" "$(sc 1)" "$(api 1)" ""
wait_api "127.0.0.1:$(api 1)" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
boot="/ip4/127.0.0.1/tcp/$(p2p 1)/p2p/$id1"
for i in 2 3 4; do start_node "n$i" "$MODE" "$(p2p "$i")" "$(sc "$i")" "$(api "$i")" "$boot"; done
for i in 2 3 4; do wait_peers "127.0.0.1:$(api "$i")" 1 20 || die "node $i did not join"; done
wait_peers "127.0.0.1:$(api 1)" 3 20 || die "node 1 does not see 3 peers"
nodes="127.0.0.1:$(sc 1),127.0.0.1:$(sc 2),127.0.0.1:$(sc 3),127.0.0.1:$(sc 4)"
load() { node "$here/js/load.js" --proto "$PROTO" --nodes "$nodes" "$@"; }
# Under the sanitizers (WEFT_TEST_QUICK=1) every round is smaller: the
# same paths run, at the speed an instrumented build allows.
N1K=1000 N1M=50 NKILL=300 NHEAL=200
if [ "${WEFT_TEST_QUICK:-0}" = 1 ]; then N1K=200 N1M=10 NHEAL=50; fi

echo "== $MODE: $N1K x 1 KiB round-robin over 4 nodes, subscribers on all 4"
load --count $N1K --size 1024 --window 8 --timeout 60 --label "$MODE-1k" || die "1 KiB round lost messages"
echo "== $MODE: $N1M x 1 MiB round-robin over 4 nodes, subscribers on all 4"
load --count $N1M --size 1048576 --window 2 --timeout 90 --label "$MODE-1m" || die "1 MiB round lost messages"

echo "== $MODE: kill -9 node 1 (the bootstrap peer) during publishing through nodes 2, 3, 4"
# Peer sharing made the network a mesh, so the others stay connected.
for i in 2 3 4; do wait_peers "127.0.0.1:$(api "$i")" 3 20 || die "node $i has not met every peer"; done
node "$here/js/load.js" --proto "$PROTO" --nodes "$nodes" --pub-nodes 2,3,4 --sub-nodes 2,3,4 \
    --count $NKILL --size 4096 --rate 50 --timeout 60 --label "$MODE-kill" >"$WEFT_TEST_TMP/kill.out" 2>&1 &
lp=$!
sleep 3
kill -KILL "$(cat "$WEFT_TEST_TMP/n1.pid")"
echo "node 1 killed"
sleep 2
start_node n1 "$MODE" "$(p2p 1)" "$(sc 1)" "$(api 1)" ""
echo "node 1 restarted (same identity and ports; the others redial it)"
rc=0; wait $lp || rc=$?
cat "$WEFT_TEST_TMP/kill.out"
[ $rc -eq 0 ] || die "messages published to live nodes were lost while node 1 was down"
wait_api "127.0.0.1:$(api 1)" 10 || die "node 1 did not restart"
wait_peers "127.0.0.1:$(api 1)" 3 30 || die "node 1 was not redialled by the others"
echo "== $MODE: after the restart, $NHEAL x 1 KiB reach all four nodes again"
load --count $NHEAL --size 1024 --window 8 --timeout 60 --label "$MODE-healed" || die "the mesh did not heal"
echo "devnet_load ($MODE): ok"
