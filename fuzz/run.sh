#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run one libFuzzer target of weft for SECONDS under ASan+UBSan.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# TARGET names fuzz/fuzz_TARGET.c (shard_parse, decoder, ...). The Clang build lives in build-fuzz/ at the top
# of the tree (configured on first use; WEFT_FUZZ_BUILD_DIR overrides). The seeds of
# fuzz/corpus/TARGET are copied into a fresh work directory under $TMPDIR, which also receives
# the grown corpus, crash artefacts and the log; it is left in place and its path printed.
# Nothing is written back to fuzz/corpus. One fuzzing process on one core
# (-jobs=1 -workers=1). Exit status: libFuzzer's (0 when nothing was found).
set -euo pipefail

usage() {
    echo "usage: $0 TARGET SECONDS [libFuzzer flags...]  (TARGET: fuzz/fuzz_TARGET.c)" >&2
    exit 2
}

[ $# -ge 2 ] || usage
target=$1
secs=$2
shift 2
[ -f "$(dirname "$0")/fuzz_${target}.c" ] || usage
case $secs in
'' | *[!0-9]*) usage ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEFT_FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang \
        -DWEFT_BUILD_FUZZ=ON -DWEFT_SANITIZE=ON -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_TESTS=OFF
fi
cmake --build "$build" --target "fuzz_$target"

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz-$target.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp -- "$root/fuzz/corpus/$target/"* "$work/corpus/"

echo "fuzz_$target: ${secs}s, work dir $work"
cd "$work"
set +e
"$build/fuzz/fuzz_$target" -max_total_time="$secs" -jobs=1 -workers=1 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" \
    >"$work/run.log" 2>&1
rc=$?
set -e

# The last status line (execs, cov, ft, corpus, exec/s) and the final stats.
grep -E '^#[0-9]+' "$work/run.log" | tail -n 1 || true
grep -E '^(stat::|Done )' "$work/run.log" || true
if [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "artefacts:"
    ls -l "$work/artifacts"
    grep -E -A 40 '^==[0-9]+==ERROR|fuzz check failed|runtime error' "$work/run.log" | head -n 60
fi
echo "log: $work/run.log (exit $rc)"
exit $rc
