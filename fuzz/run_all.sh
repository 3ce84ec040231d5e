#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run every libFuzzer target of weft (fuzz/fuzz_*.c) for SECONDS each, JOBS at a time.
#
#   fuzz/run_all.sh SECONDS [JOBS]      (make fuzz FUZZ_SECONDS=30 JOBS=2)
#
# The Clang build is made once up front (fuzz/run.sh's build-fuzz/), then each target runs through
# fuzz/run.sh with its output in a log of its own, printed whole when it ends so that the outputs
# of parallel targets never interleave. At the end one line per target: ok or FAILED, its exit
# status, the last libFuzzer status line (execs, cov, ft, exec/s). Exit 1 when any target failed.
set -uo pipefail

secs=${1:?usage: $0 SECONDS [JOBS]}
jobs=${2:-$(nproc)}
case $secs$jobs in *[!0-9]*) echo "usage: $0 SECONDS [JOBS]" >&2; exit 2 ;; esac
[ "$jobs" -ge 1 ] || jobs=1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${WEFT_FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=()
for f in "$here"/fuzz_*.c; do
    t=$(basename "$f" .c)
    t=${t#fuzz_}
    if [ -d "$here/findings/$t" ]; then
        echo "fuzz: $t has an open finding (fuzz/findings/$t): random run skipped, replay stays in ctest"
        continue
    fi
    targets+=("$t")
done

if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang \
        -DWEFT_BUILD_FUZZ=ON -DWEFT_SANITIZE=ON -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_TESTS=OFF || exit 1
fi
# Build what this configuration has (the service targets need a service build).
want=()
for t in "${targets[@]}"; do
    if grep -q "^build fuzz/fuzz_$t:" "$build/build.ninja" 2>/dev/null ||
        ninja -C "$build" -t targets all 2>/dev/null | grep -q "^fuzz/fuzz_$t:"; then
        want+=("$t")
    else
        echo "fuzz: $t is not built in this configuration, skipped"
    fi
done
cmake --build "$build" -j "$jobs" --target $(printf 'fuzz_%s ' "${want[@]}") || exit 1

logs=$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz-all.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; wait' INT TERM
running=0
for t in "${want[@]}"; do
    while [ "$running" -ge "$jobs" ]; do
        wait -n
        running=$((running - 1))
    done
    (
        WEFT_FUZZ_BUILD_DIR=$build bash "$here/run.sh" "$t" "$secs" >"$logs/$t.log" 2>&1
        echo $? >"$logs/$t.rc"
        { echo "==== fuzz_$t"; cat "$logs/$t.log"; } | cat
    ) &
    running=$((running + 1))
done
wait

failed=0
echo "==== summary (${secs}s per target, $jobs at a time; logs in $logs)"
for t in "${want[@]}"; do
    rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 99)
    last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -n 1)
    if [ "$rc" = 0 ]; then
        printf '  ok      %-14s %s\n' "$t" "$last"
    else
        printf '  FAILED  %-14s exit %s %s\n' "$t" "$rc" "$last"
        failed=1
    fi
done
exit $failed
