#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Static analysis stage: cppcheck over every C source the build compiles,
# read from the build's compile_commands.json (so each file gets its real
# include paths and defines). Generated code (protoc-c, in the build tree)
# is skipped. Every finding fails the stage: fix it, or suppress it with the
# reason, in ci/cppcheck-suppressions.txt or inline ("cppcheck-suppress id").
#
# Usage: ci/static-analysis.sh [BUILD_DIR]     (default: $BUILD or build)
#   JOBS   cppcheck processes (default 2)
# The build directory is configured if it has no compile_commands.json yet,
# and the protoc-c headers are generated, since our sources include them.
# cppcheck keeps its per-file results in BUILD_DIR/cppcheck, so a second run
# only re-analyses what changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${BUILD:-build}}
jobs=${JOBS:-2}
cd "$root"

command -v cppcheck >/dev/null 2>&1 ||
    { echo "static-analysis: cppcheck not found (ci/install-deps.sh installs it)" >&2; exit 2; }

if [ ! -f "$build/compile_commands.json" ]; then
    gen=()
    command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
    cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=ON \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
build=$(cd "$build" && pwd)
if [ -d "$build/proto" ]; then
    cmake --build "$build" --target weft_proto -j "$jobs" >/dev/null
fi

mkdir -p "$build/cppcheck"
echo "static-analysis: cppcheck $(cppcheck --version | sed 's/^Cppcheck //') over" \
    "$build/compile_commands.json, -j $jobs" >&2
start=$(date +%s)
rc=0
cppcheck --project="$build/compile_commands.json" \
    -i"$build/" \
    --enable=warning,performance,portability \
    --library=posix --library=gnu \
    --library=ci/cppcheck-criterion.cfg --library=ci/cppcheck-protobuf-c.cfg \
    --inline-suppr --suppressions-list=ci/cppcheck-suppressions.txt \
    --cppcheck-build-dir="$build/cppcheck" -j "$jobs" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    --error-exitcode=1 --quiet || rc=$?
echo "static-analysis: $([ $rc -eq 0 ] && echo clean || echo "findings above (exit $rc)")" \
    "in $(($(date +%s) - start))s" >&2
exit $rc
