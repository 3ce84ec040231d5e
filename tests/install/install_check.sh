#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What a user of an installed weft gets. Installs a build tree into a fresh
# temporary prefix (removed at the end, even on failure) and checks, for
# each installed library (base, codec and, when built, transport and mesh):
#   - the headers are under include/weft/, every public header of the tree
#     is there, nothing else lies in include/, and each header compiles on
#     its own (-std=c11, warnings as errors);
#   - weft-<lib>.pc: --modversion is the project version, its paths point
#     into the prefix it was installed to (not the configured one), it
#     requires the weft libraries below it;
#   - libweft_<lib>.so has SONAME libweft_<lib>.so.<major>, and
#     `nm -D --defined-only` lists only weft_* symbols, each in the version
#     node WEFT_<major>, and the node itself;
#   - an outside program links and runs three ways: pkg-config (shared, run
#     with LD_LIBRARY_PATH), pkg-config --static (weft archives linked in, no libweft
#     needed at run time) and a CMake project with find_package(weft) that
#     links weft::<lib> and weft::<lib>_static;
#   - no installed file names the source or build tree.
# Usage: install_check.sh --build DIR --version X.Y.Z --libdir DIR
#            [--cc CC] [--generator GEN] [--network ON|OFF]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="" version="" libdir="lib" cc="cc" generator="" network="ON"
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --version) version=$2; shift 2 ;;
    --libdir) libdir=$2; shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    --generator) generator=$2; shift 2 ;;
    --network) network=$2; shift 2 ;;
    *) echo "install_check: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$build" ] || [ -z "$version" ]; then
    echo "usage: $0 --build DIR --version X.Y.Z [--libdir DIR] [--cc CC] [--generator GEN]" >&2
    exit 2
fi
for tool in pkg-config readelf nm cmake; do
    command -v "$tool" >/dev/null || { echo "install_check: $tool not found" >&2; exit 1; }
done
major=${version%%.*}

libs=(base codec)
if [ "$network" = "ON" ]; then
    libs+=(transport mesh)
fi
# The weft libraries each one must require in its .pc (the layer table).
declare -A requires=([base]="" [codec]="weft-base" [transport]="weft-base"
    [mesh]="weft-base weft-codec weft-transport")
# The outside program that exercises each library.
declare -A program=([codec]=roundtrip [transport]=transport_link [mesh]=mesh_link)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
lib=$prefix/$libdir
passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok   $*"
}
bad() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
# run LOG CMD...: run a command with its output in LOG; show LOG on failure.
run() {
    local log=$1
    shift
    if "$@" >"$log" 2>&1; then
        return 0
    fi
    sed 's/^/     | /' "$log" | tail -40
    return 1
}

if ! run "$tmp/install.log" cmake --install "$build" --prefix "$prefix"; then
    bad "cmake --install $build --prefix $prefix"
    echo "0 passed, 1 failed"
    exit 1
fi
ok "cmake --install into a fresh prefix"

# ---- headers ------------------------------------------------------------
others=$(find "$prefix/include" -mindepth 1 -maxdepth 1 ! -name weft)
if [ -z "$others" ]; then
    ok "include/ holds only weft/"
else
    bad "include/ holds more than weft/: $others"
fi
for l in "${libs[@]}"; do
    for h in "$root/$l/include/weft/"*.h; do
        name=$(basename "$h")
        if [ ! -f "$prefix/include/weft/$name" ]; then
            bad "$l: include/weft/$name not installed"
            continue
        fi
        if run "$tmp/hdr.log" "$cc" -std=c11 -Wall -Wextra -Werror -fsyntax-only \
            -I"$prefix/include" -x c - <<<"#include <weft/$name>"; then
            ok "$l: include/weft/$name installed and self-contained"
        else
            bad "$l: include/weft/$name does not compile on its own"
        fi
    done
done

# ---- leaks of the build machine into installed files ----------------------
if grep -rlF -e "$root" -e "$build" "$lib/pkgconfig" "$lib/cmake" >"$tmp/leak" 2>/dev/null; then
    bad "installed files name the source or build tree: $(tr '\n' ' ' <"$tmp/leak")"
else
    ok "no .pc or CMake package file names the source or build tree"
fi

# ---- pkg-config files ------------------------------------------------------
export PKG_CONFIG_PATH=$lib/pkgconfig
for l in "${libs[@]}"; do
    pc=weft-$l
    if [ ! -f "$lib/pkgconfig/$pc.pc" ]; then
        bad "$pc.pc not installed in $libdir/pkgconfig"
        continue
    fi
    v=$(pkg-config --modversion "$pc" 2>&1)
    if [ "$v" = "$version" ]; then
        ok "$pc: --modversion $v"
    else
        bad "$pc: --modversion '$v', expected $version"
    fi
    inc=$(pkg-config --variable=includedir "$pc")
    ldir=$(pkg-config --variable=libdir "$pc")
    if [ "$(realpath -m "$inc")" = "$(realpath "$prefix/include")" ] &&
        [ "$(realpath -m "$ldir")" = "$(realpath "$lib")" ]; then
        ok "$pc: includedir and libdir are the install prefix's"
    else
        bad "$pc: includedir $inc, libdir $ldir: not under $prefix"
    fi
    have=" $(pkg-config --print-requires "$pc" | awk '{print $1}' | tr '\n' ' ') "
    for r in ${requires[$l]}; do
        if [[ "$have" == *" $r "* ]]; then
            ok "$pc: Requires $r"
        else
            bad "$pc: Requires lacks $r (has:$have)"
        fi
    done
done

# ---- shared libraries: SONAME and the export list --------------------------
for l in "${libs[@]}"; do
    so=$lib/libweft_$l.so
    if [ ! -e "$so" ] || [ ! -e "$so.$major" ] || [ ! -f "$lib/libweft_$l.a" ]; then
        bad "libweft_$l: .so, .so.$major or .a missing in $libdir"
        continue
    fi
    soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [ "$soname" = "libweft_$l.so.$major" ]; then
        ok "libweft_$l.so: SONAME $soname"
    else
        bad "libweft_$l.so: SONAME '$soname', expected libweft_$l.so.$major"
    fi
    nm -D --defined-only "$so" | awk '{print $NF}' >"$tmp/syms"
    stray=$(grep -v -E "^(weft_[A-Za-z0-9_]*@@WEFT_$major|WEFT_$major)\$" "$tmp/syms" | head -5)
    count=$(grep -c '^weft_' "$tmp/syms")
    if [ -z "$stray" ] && [ "$count" -gt 0 ] && grep -qx "WEFT_$major" "$tmp/syms"; then
        ok "libweft_$l.so: exports only weft_* ($count symbols, node WEFT_$major)"
    else
        bad "libweft_$l.so: unexpected dynamic symbols: ${stray:-none exported}"
    fi
done

# ---- an outside program, three ways ---------------------------------------
cflags=(-std=c11 -Wall -Wextra -Werror)
for l in "${libs[@]}"; do
    prog=${program[$l]:-}
    [ -n "$prog" ] || continue
    pc=weft-$l
    src=$here/$prog.c
    # (a) pkg-config, shared
    exe=$tmp/${prog}_pc_shared
    # shellcheck disable=SC2046
    if run "$tmp/cc.log" "$cc" "${cflags[@]}" -o "$exe" "$src" $(pkg-config --cflags --libs "$pc"); then
        needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
        where=$(LD_LIBRARY_PATH=$lib ldd "$exe" | awk -v so="libweft_$l.so.$major" '$1 == so {print $3}')
        if [[ " $needed " != *" libweft_$l.so.$major "* ]]; then
            bad "$pc shared: $prog does not need libweft_$l.so.$major (needs $needed)"
        elif [ "$(realpath -m "$where")" != "$(realpath "$lib/libweft_$l.so.$major")" ]; then
            bad "$pc shared: libweft_$l.so.$major resolves to '$where', not the prefix's"
        elif run "$tmp/run.log" env LD_LIBRARY_PATH="$lib" "$exe"; then
            ok "$pc shared (pkg-config --cflags --libs): $prog links and runs"
        else
            bad "$pc shared: $prog failed"
        fi
    else
        bad "$pc shared: $prog does not build with pkg-config --cflags --libs"
    fi
    # (b) pkg-config --static: the weft archives linked in, every library
    # they need taken from the .pc files (Requires.private, Libs.private).
    # System libraries stay shared: Debian ships no libcjson.a.
    exe=$tmp/${prog}_pc_static
    # shellcheck disable=SC2046
    if run "$tmp/cc.log" "$cc" "${cflags[@]}" -o "$exe" "$src" \
        $(pkg-config --static --cflags --libs "$pc" |
            sed -E 's/(^| )(-lweft_[a-z_]+)/\1-Wl,-Bstatic \2 -Wl,-Bdynamic/g'); then
        if readelf -d "$exe" 2>/dev/null | grep -q 'NEEDED.*libweft'; then
            bad "$pc static: $prog still needs a libweft shared library"
        elif run "$tmp/run.log" env -u LD_LIBRARY_PATH "$exe"; then
            ok "$pc static (pkg-config --static, weft archives): $prog links and runs"
        else
            bad "$pc static: $prog failed"
        fi
    else
        bad "$pc static: $prog does not link with pkg-config --static --cflags --libs"
    fi
done

# (c) find_package(weft) from a CMake project outside the tree
gen=()
[ -n "$generator" ] && gen=(-G "$generator")
cbuild=$tmp/consumer
if run "$tmp/consumer-cfg.log" env -u PKG_CONFIG_PATH cmake -S "$here/consumer" -B "$cbuild" \
    "${gen[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DWEFT_SOURCES="$here" -DWEFT_EXPECT_PREFIX="$prefix" \
    -DWEFT_EXPECT_VERSION="$version" -DWEFT_EXPECT_NETWORK="$network"; then
    ok "find_package(weft $version EXACT COMPONENTS ...) from $prefix"
    if run "$tmp/consumer-build.log" cmake --build "$cbuild"; then
        ok "CMake consumer builds (weft::<lib> and weft::<lib>_static)"
        for l in "${libs[@]}"; do
            prog=${program[$l]:-}
            [ -n "$prog" ] || continue
            for kind in shared static; do
                exe=$cbuild/${prog}_$kind
                needs=no
                readelf -d "$exe" | grep -q "NEEDED.*libweft_$l.so.$major" && needs=yes
                if [ "$kind" = shared ] && [ $needs = no ]; then
                    bad "weft::$l: $prog does not need libweft_$l.so.$major"
                elif [ "$kind" = static ] && readelf -d "$exe" | grep -q 'NEEDED.*libweft'; then
                    bad "weft::${l}_static: $prog still needs a libweft shared library"
                elif run "$tmp/run.log" env -u LD_LIBRARY_PATH "$exe"; then
                    # the shared one runs from its build RPATH into the prefix
                    t=weft::$l
                    [ "$kind" = static ] && t=weft::${l}_static
                    ok "$t (find_package): $prog links and runs"
                else
                    bad "weft::$l ($kind, find_package): $prog failed"
                fi
            done
        done
    else
        bad "CMake consumer does not build"
    fi
else
    bad "find_package(weft) from $prefix"
fi

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
