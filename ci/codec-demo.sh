#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The codec demo (the README's main job until weft-node lands): a 5 MiB file
# is encoded into 24 coded shards (k = 16), a lossy hop drops a third of
# them, a relay recodes what survived without decoding, a second lossy hop
# drops more, and the receiver decodes from recoded shards alone. Prints
# each step and checks the SHA-256 at the end.
# Usage: ci/codec-demo.sh [path/to/weft-codec]
set -euo pipefail
BIN=${1:-build/bin/weft-codec}
[ -x "$BIN" ] || { echo "codec-demo: $BIN not built (run: make build)" >&2; exit 2; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

say() { printf '\n== %s\n' "$*"; }
"$BIN" --version | sed 's/^/   /'

say "a 5 MiB random message"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$W/message.bin"
sha256sum "$W/message.bin" | awk '{print "   sha256 " $1}'

say "publisher: encode into 24 coded shards, k = 16"
"$BIN" encode -k 16 -n 24 -i "$W/message.bin" -o "$W/published" | sed 's/^/   /'

say "lossy hop: 8 of 24 shards lost"
ls "$W/published" | shuf -n 8 | while read -r f; do rm "$W/published/$f"; echo "   lost $f"; done

say "relay: recode the 16 survivors into 20 fresh shards, without decoding"
"$BIN" recode -i "$W/published" -n 20 -o "$W/relayed" | sed 's/^/   /'
"$BIN" inspect "$W/relayed/shard-0000.bin" | sed -n '4,7p' | sed 's/^/   /'

say "second lossy hop: 4 of 20 recoded shards lost"
ls "$W/relayed" | shuf -n 4 | while read -r f; do rm "$W/relayed/$f"; echo "   lost $f"; done

say "receiver: decode from the 16 recoded shards that arrived"
"$BIN" decode -i "$W/relayed" -o "$W/received.bin" | sed 's/^/   /'

say "verify"
a=$(sha256sum <"$W/message.bin" | cut -d' ' -f1)
b=$(sha256sum <"$W/received.bin" | cut -d' ' -f1)
if [ "$a" = "$b" ]; then
    echo "   OK: the received file is identical (sha256 $b)"
else
    echo "   MISMATCH: sent $a, received $b" >&2
    exit 1
fi
