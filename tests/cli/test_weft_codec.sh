#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft-codec end to end: round trips of a 5 MiB random file for k in
# {1, 4, 16, 64, 255} from random subsets of shards and from shards recoded
# twice; too few shards exits 1 saying need/have; every malformed shard of
# the issue exits 2 with a one-line error naming the file and the problem.
# Usage: [WEFT_EMULATOR=...] test_weft_codec.sh PATH/TO/weft-codec
set -u
BIN=${1:?usage: $0 weft-codec}
# WEFT_EMULATOR (e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu") runs a
# cross-compiled binary.
codec() { ${WEFT_EMULATOR:-} "$BIN" "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

SEED=${WEFT_TEST_SEED:-$RANDOM}
echo "seed $SEED"
MSG_BYTES=$((5 * 1024 * 1024))
[ -n "${WEFT_TEST_QUICK:-}" ] && MSG_BYTES=$((512 * 1024 + 7))
# Deterministic pseudo-random bytes from the seed.
rand_file() { openssl enc -aes-128-ctr -nosalt -pass pass:"$2" -pbkdf2 -in /dev/zero 2>/dev/null | head -c "$1"; }
rand_file "$MSG_BYTES" "$SEED" >"$T/msg"
[ "$(stat -c %s "$T/msg")" -eq "$MSG_BYTES" ] || { echo "cannot make test data" >&2; exit 2; }

# Keep a random subset of N files in DIR (shuf seeded from SEED).
keep_random() {
    local dir=$1 n=$2
    ls "$dir" | shuf --random-source=<(rand_file 4096 "$SEED$dir") | tail -n +$((n + 1)) |
        while read -r f; do rm -f "$dir/$f"; done
}

for k in 1 4 16 64 255; do
    # A random subset of k + 2 of the 1.5k shards (or all when fewer): exactly
    # k random vectors are singular with probability ~1/255, k + 2 with ~1/255^3.
    rm -rf "$T/a" "$T/r1" "$T/r2"
    if ! codec encode -k "$k" --seed "$SEED" -i "$T/msg" -o "$T/a" >/dev/null; then
        bad "encode k=$k"; continue
    fi
    n_files=$(ls "$T/a" | wc -l)
    [ "$n_files" -eq $(( (3 * k + 1) / 2 )) ] && ok || bad "k=$k wrote $n_files shards"
    keep=$((k + 2 < n_files ? k + 2 : n_files))
    keep_random "$T/a" "$keep"
    if codec decode -i "$T/a" -o "$T/out" >/dev/null && cmp -s "$T/out" "$T/msg"; then ok; else
        bad "k=$k decode from a random subset of $keep shards"; fi
    # Two recoding hops, decode from the second hop's shards only.
    codec recode -i "$T/a" -n $((k + 2)) --seed 1 -o "$T/r1" >/dev/null || bad "recode 1 k=$k"
    codec recode -i "$T/r1" -n $((k + 2)) --seed 2 -o "$T/r2" >/dev/null || bad "recode 2 k=$k"
    if codec decode -i "$T/r2" -o "$T/out2" >/dev/null && cmp -s "$T/out2" "$T/msg"; then ok; else
        bad "k=$k decode from twice-recoded shards"; fi
    # Recoded shards are fresh: no recoded file equals an input file.
    if [ "$k" -gt 1 ] && [ -z "$(cd "$T" && sha256sum a/* r1/* | awk '{print $1}' | sort | uniq -d)" ]; then
        ok; elif [ "$k" -gt 1 ]; then bad "k=$k recode copied a shard"; fi
done

# Systematic: the first k shards carry the pieces verbatim.
rm -rf "$T/s"
printf 'abcdefghijklmnop' >"$T/small"
codec encode -k 4 --systematic --seed 3 -i "$T/small" -o "$T/s" >/dev/null
if [ "$(tail -c 4 "$T/s/shard-0001.bin")" = "efgh" ] && codec inspect "$T/s/shard-0002.bin" | grep -q 'systematic (piece 2)'; then
    ok; else bad "systematic shard layout"; fi

# Empty and one-byte messages.
for size in 0 1; do
    rm -rf "$T/e"; head -c "$size" "$T/msg" >"$T/tiny"
    if codec encode -k 3 -i "$T/tiny" -o "$T/e" >/dev/null && codec decode -i "$T/e" -o "$T/tiny.out" >/dev/null &&
        cmp -s "$T/tiny" "$T/tiny.out"; then ok; else bad "round trip of a $size-byte message"; fi
done

# Too few independent shards: exit 1, says need and have.
rm -rf "$T/f"
codec encode -k 8 -i "$T/small" -o "$T/f" >/dev/null
keep_random "$T/f" 5
out=$(codec decode -i "$T/f" -o "$T/x" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q 'need 8, have 5'; then ok; else bad "short decode: rc=$rc '$out'"; fi

# Malformed shards: exit 2, one line naming the file and the reason.
expect_bad() { # name pattern command...
    local name=$1 pat=$2; shift 2
    local out rc
    out=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -qi -- "$pat"; then
        ok; else bad "$name: rc=$rc output='$out' (wanted exit 2 and /$pat/)"; fi
}
rm -rf "$T/g"; codec encode -k 4 -i "$T/small" -o "$T/g" >/dev/null
good="$T/g/shard-0000.bin"
mk() { rm -rf "$T/m"; mkdir -p "$T/m"; cp "$good" "$T/m/shard-0000.bin"; }
patch() { printf "$2" | dd of="$T/m/shard-0000.bin" bs=1 seek="$1" conv=notrunc status=none; }
mk; head -c -1 "$good" >"$T/m/shard-0000.bin"
expect_bad truncated "shard-0000.bin.*length" codec decode -i "$T/m" -o "$T/x"
mk; head -c 7 "$good" >"$T/m/shard-0000.bin"
expect_bad "shorter than a header" "shard-0000.bin.*length" codec decode -i "$T/m" -o "$T/x"
mk; patch 0 '\x02'
expect_bad version "version" codec decode -i "$T/m" -o "$T/x"
mk; patch 1 '\x07'
expect_bad field "field" codec decode -i "$T/m" -o "$T/x"
mk; patch 2 '\x00\x00'
expect_bad "k = 0" "k out of range" codec decode -i "$T/m" -o "$T/x"
mk; patch 2 '\x01\x04'
expect_bad "k = 1025" "k out of range" codec decode -i "$T/m" -o "$T/x"
mk; patch 8 '\xff\x00\x00\x00'
expect_bad "message_len > k*piece" "message_len" codec decode -i "$T/m" -o "$T/x"
mk; patch 4 '\x00\x00\x00\x00'
expect_bad "piece 0" "piece_size" codec decode -i "$T/m" -o "$T/x"
mk; codec encode -k 5 -i "$T/small" -o "$T/h" >/dev/null; cp "$T/h/shard-0001.bin" "$T/m/shard-0001.bin"
expect_bad "mixed generations" "different generations" codec decode -i "$T/m" -o "$T/x"
head -c 9 "$good" >"$T/short.bin"
expect_bad "inspect truncated" "short.bin.*length" codec inspect "$T/short.bin"
expect_bad "k = 0 option" "-k.*expected 1..1024" codec encode -k 0 -i "$T/small" -o "$T/y"
expect_bad "k = 1025 option" "-k.*expected 1..1024" codec encode -k 1025 -i "$T/small" -o "$T/y"
expect_bad "piece too small" "piece" codec encode -k 2 --piece 3 -i "$T/small" -o "$T/y"
expect_bad "missing input" "cannot open" codec encode -k 2 -i "$T/nope" -o "$T/y"
mkdir -p "$T/empty"; expect_bad "empty dir" "no shard files" codec decode -i "$T/empty" -o "$T/x"

# --help everywhere, --version names the kernels.
for c in encode recode decode inspect; do
    codec "$c" --help | grep -q "usage: weft-codec $c" && ok || bad "$c --help"
done
codec --help | grep -q 'usage: weft-codec COMMAND' && ok || bad "--help"
codec --version | grep -q '^kernels: ' && ok || bad "--version"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
