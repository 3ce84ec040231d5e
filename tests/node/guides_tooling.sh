#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The guides' tooling, run as they write it: script/generate-identity.sh
# (its lines, the peer id of the key it made, an existing key kept in CI),
# make generate-identity, and make subscribe / make publish driving
# weft-client against two real weft-node processes.
# usage: guides_tooling.sh WEFT_NODE WEFT_CLIENT SOURCE_DIR
set -euo pipefail
WEFT_NODE=$1 CLIENT=$2 SRC=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
BUILD_DIR=$(cd "$(dirname "$CLIENT")/.." && pwd)

# ---- script/generate-identity.sh --------------------------------------------------
dir=$WEFT_TEST_TMP/identity
out=$WEFT_TEST_TMP/genid.out
IDENTITY_DIR=$dir WEFT_NODE=$WEFT_NODE CI= GITHUB_ACTIONS= bash "$SRC/script/generate-identity.sh" </dev/null >"$out" ||
    die "generate-identity.sh failed: $(cat "$out")"
id=$(IDENTITY_DIR=$dir "$WEFT_NODE" peer-id)
expected=$(printf '%s\n' "[INFO] Generating P2P Bootstrap Identity..." "[INFO] Creating identity directory..." \
    "[INFO] Generating P2P keypair..." "[SUCCESS] Generated P2P identity successfully!" \
    "[SUCCESS] Identity saved to: $dir/p2p.key" "[SUCCESS] Peer ID: $id" "" "[INFO] To use in docker-compose:" \
    "export BOOTSTRAP_PEER_ID=$id" "" "[SUCCESS] Done! Your OptimumP2P peer ID: $id")
[ "$(cat "$out")" = "$expected" ] || die "generate-identity.sh lines differ: $(diff <(echo "$expected") "$out")"
sum=$(sha256sum "$dir/p2p.key")
IDENTITY_DIR=$dir WEFT_NODE=$WEFT_NODE CI=true bash "$SRC/script/generate-identity.sh" </dev/null >"$out" ||
    die "generate-identity.sh (existing key) failed: $(cat "$out")"
expected=$(printf '%s\n' "[INFO] Generating P2P Bootstrap Identity..." \
    "[WARNING] P2P identity already exists at $dir/p2p.key" "[INFO] CI environment detected - using existing identity" \
    "[SUCCESS] BOOTSTRAP_PEER_ID=$id" "export BOOTSTRAP_PEER_ID=$id")
[ "$(cat "$out")" = "$expected" ] || die "generate-identity.sh (CI) lines differ: $(diff <(echo "$expected") "$out")"
[ "$(sha256sum "$dir/p2p.key")" = "$sum" ] || die "the existing key was replaced"
echo "ok   script/generate-identity.sh"

# ---- make generate-identity -----------------------------------------------------------
mk() { make -s --no-print-directory -C "$SRC" BUILD="$BUILD_DIR" IDENTITY_DIR="$WEFT_TEST_TMP/mkid" "$@"; }
[ "$(mk generate-identity | head -1)" = "Generating new P2P identity..." ] || die "make generate-identity: first run"
[ -s "$WEFT_TEST_TMP/mkid/p2p.key" ] || die "make generate-identity made no key"
[ "$(mk generate-identity)" = "P2P identity already exists at $WEFT_TEST_TMP/mkid/p2p.key" ] ||
    die "make generate-identity: second run"
echo "ok   make generate-identity"

# ---- make subscribe / make publish ---------------------------------------------------------
read -r p1 s1 a1 p2 s2 a2 < <(free_ports 6)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "$p2" "$s2" "$a2" "/ip4/127.0.0.1/tcp/$p1/p2p/$id1"
wait_peers "127.0.0.1:$a2" 1 15 || die "node 2 did not connect"
rc=0; mk subscribe >/dev/null 2>"$WEFT_TEST_TMP/usage.err" || rc=$?
[ $rc != 0 ] && grep -q "Usage: make subscribe <addr> <topic>" "$WEFT_TEST_TMP/usage.err" || die "make subscribe without arguments"
sub=$WEFT_TEST_TMP/make-sub.out
# make itself in the background (its recipe execs weft-client, make's child)
make -s --no-print-directory -C "$SRC" BUILD="$BUILD_DIR" IDENTITY_DIR="$WEFT_TEST_TMP/mkid" \
    subscribe "127.0.0.1:$s1" mktopic >"$sub" 2>&1 &
mpid=$!
WEFT_TEST_PIDS+=("$mpid")
for _ in $(seq 1 100); do grep -q "Subscribed to topic" "$sub" && break; sleep 0.1; done
grep -q '^Subscribed to topic "mktopic", waiting for messages' "$sub" || die "make subscribe: $(cat "$sub")"
got=0
for i in $(seq 1 20); do
    mk publish "127.0.0.1:$s2" mktopic random 2 1 >"$WEFT_TEST_TMP/make-pub.out" 2>&1 ||
        die "make publish failed: $(cat "$WEFT_TEST_TMP/make-pub.out")"
    [ "$(grep -c '^Published "\[[0-9]* 6\] random" to "mktopic" (took ' "$WEFT_TEST_TMP/make-pub.out")" = 2 ] ||
        die "make publish lines: $(cat "$WEFT_TEST_TMP/make-pub.out")"
    if grep -q '^Recv message: \[[0-9]*\] \[[0-9]* [0-9]*\] \[[0-9]* 6\] random$' "$sub"; then got=1; break; fi
done
[ $got = 1 ] || die "make subscribe received nothing: $(cat "$sub")"
pkill -TERM -P "$mpid" || true # weft-client, the child of that make
wait "$mpid" || true
echo "ok   make subscribe / make publish"
echo "guides_tooling: ok"
