#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# weft without its heavy dependencies: two fresh build trees.
#   core     -DWEFT_BUILD_NETWORK=OFF -DWEFT_BUILD_BENCH=OFF: only base and
#            codec are built, and the whole ctest suite of that tree passes;
#   network  -DWEFT_BUILD_SERVICE=OFF: base, codec, transport, mesh and
#            weft-p2p are built, and their tests pass (all but the interop
#            tests with the js peer and the 8-process loopback run, which
#            `make test` covers; MINIMAL_ALL=1 runs those too).
# Each is configured with pkg-config able to see only the modules that
# configuration may use (none for core; libsodium, liburing and libcjson for network),
# so a lookup of anything else fails the configure, and the CMake cache must
# name none of h2o, gRPC, cjose, libmaxminddb (nor libsodium, liburing, cJSON for
# core). Then the libraries and programs built are compared with the lists.
#
# Usage: tests/install/minimal_build.sh [OUT_DIR]   (default: build-minimal)
# Environment: JOBS (default 2), MINIMAL_ALL=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-minimal}
jobs=${JOBS:-2}
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
mkdir -p "$out"
out=$(cd "$out" && pwd)

failed=0
passed=0
ok() {
    passed=$((passed + 1))
    echo "minimal: ok   $*"
}
bad() {
    failed=$((failed + 1))
    echo "minimal: FAIL $*"
}

# A pkg-config search path holding only the named modules of this machine.
pc_only() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    local m f
    for m in "$@"; do
        f=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
        if [ -f "$f" ]; then
            ln -s "$f" "$dir/$m.pc"
        else
            echo "minimal: pkg-config module $m not found (ci/install-deps.sh installs it)" >&2
            exit 1
        fi
    done
}

# cache_free BUILD WORD...: the CMake cache names none of the words (as a
# variable name or a value; comments are skipped).
cache_free() {
    local build=$1
    shift
    local words
    words=$(
        IFS='|'
        echo "$*"
    )
    local hits
    hits=$(grep -v -E '^[[:space:]]*(//|#)' "$build/CMakeCache.txt" |
        grep -i -E "(^|[^a-z])($words)([^a-z]|\$)" || true)
    if [ -z "$hits" ]; then
        ok "$(basename "$build"): the CMake cache looks up none of: $*"
    else
        bad "$(basename "$build"): the CMake cache names a dependency it must not look up:"
        echo "$hits" | sed 's/^/     | /'
    fi
}

# built_is BUILD WHAT EXPECTED...: the sorted names found equal the list.
built_is() {
    local build=$1 what=$2
    shift 2
    local want have
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    if [ "$what" = libraries ]; then
        have=$(find "$build" -name 'libweft_*.a' -printf '%f\n' |
            sed 's/^libweft_//; s/\.a$//' | sort -u | tr '\n' ' ')
    else
        have=$(find "$build/bin" -maxdepth 1 -type f -perm -u+x -printf '%f\n' 2>/dev/null |
            sort | tr '\n' ' ')
    fi
    if [ "$have" = "$want" ]; then
        ok "$(basename "$build"): $what built: $have"
    else
        bad "$(basename "$build"): $what built: '$have', expected '$want'"
    fi
}

# configure_build NAME PC_MODULES -- CMAKE_ARGS...
configure_build() {
    local name=$1
    shift
    local mods=()
    while [ "$1" != "--" ]; do
        mods+=("$1")
        shift
    done
    shift
    local build=$out/$name pcdir=$out/$name-pkgconfig
    pc_only "$pcdir" "${mods[@]}"
    rm -rf "$build"
    echo "minimal: configure $name: $* (pkg-config sees: ${mods[*]:-nothing})"
    if ! PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH='' cmake -S "$root" -B "$build" "${gen[@]}" \
        -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=ON "$@" >"$out/$name-configure.log" 2>&1; then
        sed 's/^/     | /' "$out/$name-configure.log" | tail -30
        bad "$name: configure"
        return 1
    fi
    ok "$name: configures with pkg-config seeing only: ${mods[*]:-nothing}"
    echo "minimal: build $name (-j$jobs)"
    if ! PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH='' cmake --build "$build" -j "$jobs" \
        >"$out/$name-build.log" 2>&1; then
        grep -E 'error|FAILED' "$out/$name-build.log" | head -30 | sed 's/^/     | /'
        bad "$name: build"
        return 1
    fi
    ok "$name: builds"
}

# run_tests NAME CTEST_ARGS...
run_tests() {
    local name=$1
    shift
    echo "minimal: ctest $name $*"
    if (cd "$out/$name" && ctest --output-on-failure -j "$jobs" "$@"); then
        ok "$name: ctest $*"
    else
        bad "$name: ctest $*"
    fi
}

service_deps=(h2o grpc cjose maxminddb libmaxminddb)
network_deps=(sodium libsodium uring liburing libcjson)

# ---- core: base and codec ----------------------------------------------------
if configure_build core -- -DWEFT_BUILD_NETWORK=OFF -DWEFT_BUILD_BENCH=OFF; then
    cache_free "$out/core" "${service_deps[@]}" "${network_deps[@]}"
    built_is "$out/core" libraries base codec
    built_is "$out/core" programs weft-codec
    run_tests core
fi

# ---- network: base, codec, transport, mesh, weft-p2p --------------------------
if configure_build network libsodium liburing libcjson -- -DWEFT_BUILD_SERVICE=OFF; then
    cache_free "$out/network" "${service_deps[@]}"
    built_is "$out/network" libraries base codec transport mesh mesh_sim testrig
    built_is "$out/network" programs weft-codec weft-p2p
    if [ "${MINIMAL_ALL:-0}" = 1 ]; then
        run_tests network
    else
        run_tests network -LE interop -E '^mesh_loopback_pubsub$'
    fi
fi

echo "minimal: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
